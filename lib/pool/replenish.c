/* Making rooms and clearing them out: replenish, fill, drain, and the
 * worker threads they (and GC) run on. */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "pool/pool_internal.h"
#include "pexip/client_internal.h"

/* ---- worker threads ---- */

typedef struct par_ctx {
	pex_pool *p;
	size_t n;
	int (*fn)(pex_pool *p, size_t i, void *arg);
	void *arg;
	atomic_size_t next;
	atomic_int first_err;
	pex__error_copy first; /* its details, written by the one worker that set first_err */
} par_ctx;

static void *par_worker(void *x)
{
	par_ctx *c = x;
	size_t i;
	while ((i = atomic_fetch_add(&c->next, 1)) < c->n) {
		int err = c->fn(c->p, i, c->arg);
		int zero = 0;
		if (err < 0 && atomic_compare_exchange_strong(&c->first_err, &zero, err)) {
			pex__error_save(&c->first);
			c->first.code = err;
		}
	}
	return NULL;
}

int pex__pool_parallel(pex_pool *p, size_t n, int (*fn)(pex_pool *p, size_t i, void *arg), void *arg)
{
	pthread_t th[128];
	/* Twice the client's cap: while one worker does local work (an fsync'd
	 * queue commit), another can use its Pexip slot. The client's handle
	 * pool still bounds requests in flight to max_concurrency. */
	size_t nt = 2 * (size_t)pex__client_max_concurrency(p->fg), started = 0, i;
	par_ctx c;
	if (n == 0)
		return 0;
	if (nt > n)
		nt = n;
	if (nt > 128)
		nt = 128;
	if (nt < 1)
		nt = 1;
	c.p = p;
	c.n = n;
	c.fn = fn;
	c.arg = arg;
	atomic_init(&c.next, 0);
	atomic_init(&c.first_err, 0);
	/* the calling thread is one of the workers */
	for (i = 1; i < nt; i++) {
		if (pthread_create(&th[started], NULL, par_worker, &c) != 0)
			break;
		started++;
	}
	par_worker(&c);
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	/* the failing worker may have been another thread: its error, not
	 * whatever this one last saw, is the caller's (joined: no race) */
	if (atomic_load(&c.first_err) < 0)
		return pex__error_restore(&c.first);
	return 0;
}

/* ---- replenish ---- */

/* n random decimal digits, uniformly (rejection sampling: no modulo bias). */
static int random_digits(char *out, unsigned n)
{
	unsigned char buf[64];
	unsigned got = 0;
	while (got < n) {
		size_t i;
		int err = pex__random_bytes(buf, sizeof(buf));
		if (err < 0)
			return err;
		for (i = 0; i < sizeof(buf) && got < n; i++)
			if (buf[i] < 250)
				out[got++] = (char)('0' + buf[i] % 10);
	}
	out[n] = '\0';
	return 0;
}

typedef struct repl_ctx {
	size_t n;
	atomic_size_t created, done;
	pex_pool_progress_cb progress;
	void *payload;
	pthread_mutex_t progress_lock;
	atomic_int aborted;
	int demand;                  /* replacements of hand-outs (named so, see below) */
} repl_ctx;

/* A new room's name: pool.name_prefix + 13 base32 characters (64 random
 * bits). A replacement of a hand-out (@p demand) starts them with
 * PEX__POOL_DEMAND_MARK and any other room never does, so every process
 * can count the deployment's hand-outs on Pexip (docs/DECISIONS.md #64). */
static int new_room_name(char *name, size_t size, const pex_pool *p, int demand)
{
	static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
	unsigned char rnd[8];
	uint64_t v = 0;
	size_t k, off;
	int err;

	if ((err = pex__random_bytes(rnd, sizeof(rnd))) < 0)
		return err;
	off = (size_t)snprintf(name, size, "%s", p->name_prefix);
	for (k = 0; k < 8; k++)
		v = (v << 8) | rnd[k];
	for (k = 0; k < 13 && off + 1 < size; k++, v >>= 5)
		name[off++] = b32[v & 31];
	name[off] = '\0';
	k = strlen(p->name_prefix);
	if (demand)
		name[k] = PEX__POOL_DEMAND_MARK[0];
	else if (name[k] == PEX__POOL_DEMAND_MARK[0])
		name[k] = 'q';
	return 0;
}

/* Put the room just created on the pool queue, invisible until it is ready.
 * If that fails, delete the room now rather than leave an orphan. */
static int queue_new_room(pex_pool *p, const struct pex__room_ref *ref)
{
	pex_buf msg = PEX_BUF_INIT;
	char saved[1024];
	int err;

	err = pex__poolmsg_encode(&msg, ref);
	if (err == 0)
		err = pex_queue_put(p->pool_q, msg.ptr, msg.size,
			pex__lifecycle_maturing_delay_s(p->o.ready_after_s));
	pex_buf_dispose(&msg);
	if (err >= 0)
		return 0;
	snprintf(saved, sizeof(saved), "%s", pex_error_last()->message);
	if (pex_room_delete(NULL, p->bg, ref->id) < 0)
		pex__log(p->log, PEX_LOG_WARN, "room %s was created but could not be queued or "
			"deleted; the orphan sweep will remove it", ref->name);
	return pex_error_set(err, PEX_ERROR_CLASS_QUEUE, "queueing new room %s: %s", ref->name, saved);
}

/* Count one room done for the caller's progress callback; what the callback
 * does must not bury the cause of a failure (@p err < 0). */
static void replenish_progress(repl_ctx *c, int err)
{
	size_t d;
	pex__error_copy cause;

	if (!c->progress)
		return;
	d = atomic_fetch_add(&c->done, 1) + 1;
	if (err < 0)
		pex__error_save(&cause);
	pthread_mutex_lock(&c->progress_lock);
	if (c->progress(d, c->n, c->payload) != 0)
		atomic_store(&c->aborted, 1);
	pthread_mutex_unlock(&c->progress_lock);
	if (err < 0)
		pex__error_restore(&cause);
}

static int replenish_one(pex_pool *p, size_t i, void *arg)
{
	repl_ctx *c = arg;
	pex_room_spec s = PEX_ROOM_SPEC_INIT;
	struct pex__room_ref ref;
	/* a truncated alias is over 250 characters: pex_room_create refuses it */
	char name[PEX__TEXT_MAX_BYTES + 1], alias[2 * PEX__TEXT_MAX_BYTES + 2], pin[24], gpin[24];
	long long id = 0;
	int64_t t0;
	double took;
	int err;
	(void)i;

	if (atomic_load(&c->aborted))
		return 0;
	if ((err = new_room_name(name, sizeof(name), p, c->demand)) < 0 ||
	    (err = random_digits(pin, p->o.pin_digits)) < 0 ||
	    (err = random_digits(gpin, p->o.guest_pin_digits)) < 0)
		goto done;
	if (strcmp(pin, gpin) == 0)
		gpin[0] = gpin[0] == '9' ? '0' : (char)(gpin[0] + 1);   /* host and guest PINs must differ */
	if (p->alias_domain)
		snprintf(alias, sizeof(alias), "%s@%s", name, p->alias_domain);
	else
		snprintf(alias, sizeof(alias), "%s", name);

	s.name = name;
	s.service_type = p->service_type;
	s.description = p->description;
	s.pin = pin;
	s.guest_pin = gpin;
	s.allow_guests = p->o.allow_guests;
	s.participant_limit = p->o.participant_limit;
	s.aliases[0] = alias;
	pex__pool_create_begin(p);
	t0 = pex__now_ms();
	if ((err = pex_room_create(&id, p->bg, &s)) < 0) {
		pex__pool_create_end(p, -1, 0);
		goto done;
	}
	took = (double)(pex__now_ms() - t0) / 1000.0;

	memset(&ref, 0, sizeof(ref));
	ref.name = name;
	ref.id = id;
	ref.alias = alias;
	ref.guest_pin = gpin;
	ref.created = (long long)pex__unix_time();
	err = queue_new_room(p, &ref);
	pex__pool_create_end(p, took, err == 0);
	if (err == 0) {
		atomic_fetch_add(&c->created, 1);
		atomic_fetch_add(&p->replenished, 1);
	}
done:
	if (err < 0) {
		atomic_fetch_add(&p->replenish_failures, 1);
		pex__log(p->log, PEX_LOG_WARN, "replenish: %s", pex_error_last()->message);
	}
	replenish_progress(c, err);
	return err;
}

/* Create @p n rooms for the pool (@p demand: replacements of hand-outs).
 * Background work: the creates go through p->bg and yield connections to
 * hand-outs. */
static int make_rooms(pex_pool *p, size_t n, int demand, size_t *created,
	pex_pool_progress_cb progress, void *payload)
{
	repl_ctx c;
	int err;
	if (created)
		*created = 0;
	if (!p)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pex_pool_replenish: no pool");
	if (n > 100000)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"refusing to create %zu rooms at once (at most 100000)", n);
	memset(&c, 0, sizeof(c));
	c.n = n;
	c.progress = progress;
	c.payload = payload;
	c.demand = demand;
	atomic_init(&c.created, 0);
	atomic_init(&c.done, 0);
	atomic_init(&c.aborted, 0);
	pthread_mutex_init(&c.progress_lock, NULL);
	err = pex__pool_parallel(p, n, replenish_one, &c);
	pthread_mutex_destroy(&c.progress_lock);
	if (created)
		*created = atomic_load(&c.created);
	if (err == 0 && atomic_load(&c.aborted))
		err = pex_error_set(PEX_EUSER, PEX_ERROR_CLASS_CALLBACK, "replenish stopped by the caller");
	return err;
}

int pex__pool_grow(pex_pool *p, size_t n, size_t *created)
{
	return make_rooms(p, n, 0, created, NULL, NULL);
}

/* The replacements of hand-outs: the demand every process counts. */
int pex_pool_replenish(size_t *created, pex_pool *p, size_t n,
	pex_pool_progress_cb progress, void *payload)
{
	return make_rooms(p, n, 1, created, progress, payload);
}

int pex_pool_fill(size_t *created, pex_pool *p, unsigned depth,
	pex_pool_progress_cb progress, void *payload)
{
	size_t have = 0;
	int err;
	if (created)
		*created = 0;
	if (!p)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pex_pool_fill: no pool");
	if (depth == 0)
		depth = pex__pool_target(p);   /* pool.depth, or more with pool.max_depth */
	/* the queue and the rooms taken ahead of pops */
	if ((err = pex__pool_depth(&have, p)) < 0)
		return err;
	have += atomic_load(&p->creating);   /* and this process's creates in flight */
	if (have >= depth)
		return 0;
	return make_rooms(p, depth - have, 0, created, progress, payload);
}

/* ---- drain ---- */

int pex_pool_drain(size_t *drained, pex_pool *p, int delete_rooms,
	pex_pool_progress_cb progress, void *payload)
{
	size_t total = 0, count = 0, i, n;
	pex_message **msgs = NULL;
	pex__error_copy first_error;
	int err = 0, first = 0;

	if (drained)
		*drained = 0;
	if (!p)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pex_pool_drain: no pool");
	pex__pool_release_held(p, 0, 0);      /* held rooms are drained with the rest */
	pex_queue_count(&total, p->pool_q);
	for (;;) {
		if ((err = pex_queue_receive_batch(&msgs, &n, p->pool_q, 32, 120)) < 0)
			break;
		if (n == 0)
			break;
		for (i = 0; i < n; i++) {
			int e = 0;
			if (delete_rooms) {
				struct pex__room_ref ref;
				memset(&ref, 0, sizeof(ref));
				if (pex__poolmsg_decode(&ref, msgs[i]->data, msgs[i]->len) == 0) {
					e = ref.id > 0 ? pex_room_delete(NULL, p->bg, ref.id)
						: pex_room_delete_by_name(NULL, p->bg, ref.name);
					pex__room_ref_dispose(&ref);
				}
			}
			if (e == 0)
				e = pex_queue_delete(p->pool_q, msgs[i]);
			if (e < 0) {
				if (!first) {
					first = e;
					/* the release and the rest of the batch must
					 * not bury the cause */
					pex__error_save(&first_error);
					first_error.code = e;
				}
				pex_queue_release(p->pool_q, msgs[i], 0);
			} else {
				count++;
			}
			if (progress && progress(count, total > count ? total : count, payload) != 0) {
				pex_message_array_free(msgs, n);
				msgs = NULL;
				err = pex_error_set(PEX_EUSER, PEX_ERROR_CLASS_CALLBACK, "drain stopped by the caller");
				goto out;
			}
		}
		pex_message_array_free(msgs, n);
		msgs = NULL;
		if (first)
			break;    /* do not spin on a failing backend or Pexip */
	}
out:
	if (drained)
		*drained = count;
	if (err < 0)
		return err;
	return first ? pex__error_restore(&first_error) : 0;
}
