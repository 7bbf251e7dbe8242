/*
 * GC sweeps (docs/ARCHITECTURE.md, One deletion; docs/DECISIONS.md #12,
 * #13, #14): idempotent, so a sweep killed half-way can be rerun.
 *
 * DELETION-QUEUE SWEEP. Repeat: lease up to PEX__GC_BATCH due messages
 * (receives of 32) for PEX__GC_LEASE_S, look the batch's rooms up on Pexip
 * in two requests made side by side (which are live: status API; their
 * ids: configuration API; both with name__in), then handle the messages
 * on the pool's worker threads, until a receive returns nothing, opts->max
 * rooms were handled, the caller's progress callback says stop, or a whole
 * batch failed. Per message:
 *   - younger than opts->min_age_s (inserted_at; 0 = unknown counts as old
 *     enough): released until it is old enough; not counted;
 *   - undecodable (neither a pool message nor an acceptable bare name):
 *     logged (warn) and deleted; not counted in the report (no field for
 *     it; it is no room) and not against opts->max;
 *   - protected prefix: message deleted, skipped_protected;
 *   - a room the pool does not own (pex__pool_owns(): neither
 *     pool.name_prefix nor gc.owned_prefixes; someone else wrote it):
 *     message deleted with one log line (warn), skipped_foreign; the room
 *     is never touched (docs/DECISIONS.md #47);
 *   - live on Pexip (status API): released for gc_delay_s (at least
 *     PEX__GC_MIN_POSTPONE_S, so a live room is not seen again within the
 *     same sweep when gc_delay_s is 0), postponed_live;
 *   - else deleted by name (deleted, or already_gone when Pexip no longer
 *     has it), then the message is deleted;
 *   - any failure: failed, the message is released for
 *     PEX__GC_RETRY_DELAY_S so a later sweep retries it; the sweep goes on
 *     and returns the first error.
 * Rooms are deleted before their messages, so a sweep killed at any point
 * leaves at worst a message whose room is already gone: its lease runs
 * out, a rerun takes it again and reports already_gone. A lost lease when
 * deleting the message (PEX_ELEASELOST: the batch took longer than the
 * lease and another sweeper has the message) is therefore harmless too.
 *
 * A sweep stops early when every message of a batch failed: trying
 * thousands more rooms would only hammer a broken server; the next run
 * picks them up. It stops at once, asking Pexip nothing more, when a
 * request fails to connect, times out or is refused our credentials
 * (PEX_ENET, PEX_ETIMEOUT, PEX_EAUTH, PEX_ETLS: the request's own retries
 * are spent by then): the first such failure is logged once and returned,
 * rooms not yet handled go back to the queue uncounted, and a failed batch
 * lookup is not followed by one request per room. A sweep against an
 * unreachable Pexip therefore costs the two lookups of one batch, side by
 * side: one request's retry budget.
 *
 * BATCHED LOOKUPS. Per room, the naive sweep makes three requests (is it
 * live, what is its id, DELETE). The batch lookups bring that to one
 * DELETE per room plus two requests per batch. They are an optimisation
 * only: a room whose name cannot be batched (a comma in it), a room the
 * id lookup did not find (it is confirmed one by one before being called
 * already gone, so a server whose name__in matched differently cannot make
 * GC skip a room), and every room of a batch whose lookups failed take the
 * per-room path. A server that refuses name__in (400) or answers as if it
 * ignored the filter turns the batching off for the rest of the sweep.
 *
 * The live check and the delete are separate requests: a participant who
 * joins between them loses the room. Pexip has no conditional delete; the
 * gc_delay_s grace period makes this unlikely (batching widens the gap
 * from one request to at most one batch, well under a second).
 *
 * DRY RUN. The queue API has no cursor, so a dry run peeks at the first
 * 32 due messages (at most) and reports what would happen to them, using
 * read-only requests (is it live, does it exist); it deletes, releases and
 * leases nothing.
 *
 * ORPHAN SWEEP (opts->orphans), after the queue sweep: gc_orphans.c.
 * opts->max is one budget for both sweeps.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "pexip/client_internal.h"
#include "pool/pool_internal.h"
#include "pool/events_gc.h"
#include "pool/gc_internal.h"

int pex_gc_options_init(pex_gc_options *opts, unsigned int version)
{
	static const pex_gc_options init = PEX_GC_OPTIONS_INIT;
	return PEX__STRUCT_INIT(opts, init, version, PEX_GC_OPTIONS_VERSION, "pex_gc_options");
}

int pex_gc_report_init(pex_gc_report *report, unsigned int version)
{
	return pex__struct_init(report, NULL, sizeof(*report), version, PEX_GC_REPORT_VERSION, "pex_gc_report");
}

/* ---- scheduling a deletion ---- */

int pex_gc_schedule_delete(pex_pool *pool, const char *name, unsigned delay_s)
{
	char why[96], safe[80];
	size_t len;
	int err;

	if (!pool || !name)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pex_gc_schedule_delete: no pool or room name");
	len = strlen(name);
	pex__pool_safe_text(safe, sizeof(safe), name, len);
	if (!pex__pool_delname_ok(name, len, why, sizeof(why)))
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"cannot schedule the deletion of room '%s': the name %s", safe, why);
	/* The message is the bare name (what the old app wrote, too). */
	if ((err = pex_queue_put(pool->del_q, name, len, delay_s)) < 0) {
		pex__error_prefix("scheduling the deletion of room '%s'", safe);
		return err;
	}
	pex__log(pool->log, PEX_LOG_DEBUG, "room %s scheduled for deletion in %u s", safe, delay_s);
	return 0;
}

/* A batch of deletion messages and what the batch lookups found. */
typedef struct gc_batch {
	pex_message *msgs[PEX__GC_BATCH];
	char *names[PEX__GC_BATCH];    /* decoded; NULL: unreadable, protected or too young */
	long long ids[PEX__GC_BATCH];  /* -1 unknown (ask per room), 0 not found, else the id */
	int live[PEX__GC_BATCH];       /* -1 unknown (ask per room), 0, 1 */
	size_t n;                      /* messages received */
	size_t want;                   /* messages asked for */
	int err;                       /* the receive failed (remembered) */
} gc_batch;


/* Remember the current thread's error (with @p what before it) if it is the first. */
void pex__gc_remember(gc_ctx *c, int err, const char *what)
{
	const pex_error *e = pex_error_last();
	int warn = atomic_fetch_add(&c->warned, 1) < PEX__GC_WARN_MAX;

	pex__log(c->p->log, warn ? PEX_LOG_WARN : PEX_LOG_DEBUG, "gc: %s: %s", what, e->message);
	pthread_mutex_lock(&c->lock);
	if (c->first_err == 0) {
		char msg[sizeof(c->first.message)];
		c->first_err = err;
		pex__error_save(&c->first);     /* code, class, HTTP status, cause */
		c->first.code = err;
		snprintf(msg, sizeof(msg), "%s: %s", what, c->first.message);
		pex__shorten_lists(c->first.message, sizeof(c->first.message), msg);
	}
	pthread_mutex_unlock(&c->lock);
}

/* Failures that the next request would only repeat: Pexip cannot be
 * reached, does not answer in time, or refuses our credentials. */
static int is_outage(int err)
{
	return err == PEX_ENET || err == PEX_ETIMEOUT || err == PEX_EAUTH || err == PEX_ETLS;
}

/*
 * If @p err is an outage, stop asking Pexip: the first one is remembered
 * and reported (one warning), later ones are silent. 1 if it was one.
 */
static int outage(gc_ctx *c, int err, const char *what)
{
	if (!is_outage(err))
		return 0;
	if (atomic_exchange(&c->outage, 1) == 0) {
		pex__gc_remember(c, err, what);
		pex__log(c->p->log, PEX_LOG_WARN, "gc: stopping the sweep: Pexip is unreachable or "
			"refuses the credentials; the rest waits for the next sweep");
	}
	return 1;
}

/* One more room counted: report progress; a non-zero answer stops the sweep. */
void pex__gc_tick(gc_ctx *c)
{
	size_t done = atomic_fetch_add(&c->done, 1) + 1;

	if (!c->progress)
		return;
	pthread_mutex_lock(&c->lock);
	if (!atomic_load(&c->aborted) &&
	    c->progress(done, c->total > done ? c->total : done, c->payload) != 0)
		atomic_store(&c->aborted, 1);
	pthread_mutex_unlock(&c->lock);
}

/* Release @p msg (not in a dry run); a failure only costs time (the lease runs out). */
static void release(gc_ctx *c, pex_message *msg, unsigned delay_s)
{
	if (c->dry)
		return;
	if (pex_queue_release(c->p->del_q, msg, delay_s) < 0)
		pex__log(c->p->log, PEX_LOG_DEBUG, "gc: releasing message %s: %s (its lease will run out)",
			msg->id, pex_error_last()->message);
}

/* Acknowledge @p msg after its room was handled (not in a dry run). */
static void ack(gc_ctx *c, pex_message *msg, const char *safe_name)
{
	int err;
	char what[160];

	if (c->dry)
		return;
	err = pex_queue_delete(c->p->del_q, msg);
	if (err == PEX_ELEASELOST) {
		/* another sweeper holds it now; it will find the room gone */
		pex__log(c->p->log, PEX_LOG_DEBUG, "gc: lease on the message for %s ran out", safe_name);
	} else if (err < 0) {
		snprintf(what, sizeof(what), "removing the deletion message for room %s", safe_name);
		pex__gc_remember(c, err, what);
	}
}

/* A room failed: count it, remember the error, retry it later. */
void pex__gc_failed(gc_ctx *c, pex_message *msg, int err, const char *what)
{
	atomic_fetch_add(&c->failed, 1);
	atomic_fetch_add(&c->batch_failed, 1);
	if (!c->dry)
		atomic_fetch_add(&c->p->delete_failures, 1);
	if (!outage(c, err, what))
		pex__gc_remember(c, err, what);
	if (msg)
		release(c, msg, PEX__GC_RETRY_DELAY_S);
	pex__gc_tick(c);
}

/*
 * The room name in a deletion message: what pex__poolmsg_decode() reads
 * (a bare name, a pool JSON record, either in base64), else the raw bytes
 * if they are an acceptable name (Pexip names may contain spaces, which the
 * pool codec refuses). 0, or PEX_EPARSE with the reason set.
 */
static int message_name(char **out, const pex_message *msg)
{
	struct pex__room_ref ref;
	char why[96];

	*out = NULL;
	memset(&ref, 0, sizeof(ref));
	if (pex__poolmsg_decode(&ref, msg->data, msg->len) == 0) {
		*out = ref.name;
		ref.name = NULL;
		pex__room_ref_dispose(&ref);
		return 0;
	}
	if (!pex__pool_delname_ok((const char *)msg->data, msg->len, why, sizeof(why)))
		return pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_QUEUE, "the room name %s", why);
	if (!(*out = pex__strndup((const char *)msg->data, msg->len)))
		return PEX_ENOMEM;
	return 0;
}

/* Delete the room @p name of message @p i of the current batch (@p safe:
 * its name for logs), or in a dry run find out whether it would be
 * (read-only). 0 with *deleted set (0: already gone), or the error with
 * @p what saying what failed. */
static int delete_room(gc_ctx *c, size_t i, const char *name, const char *safe, int *deleted,
	char *what, size_t what_size)
{
	pex_pool *p = c->p;
	int err;

	if (c->cur->ids[i] > 0) {
		/* the batch lookup found it: one DELETE (a 404 is already gone) */
		if (c->dry) {
			*deleted = 1;
			return 0;
		}
		if ((err = pex_room_delete(deleted, p->bg, c->cur->ids[i])) < 0)
			snprintf(what, what_size, "deleting room %s", safe);
		return err;
	}
	if (c->dry) {
		/* would it be deleted, or is it gone already? */
		pex_room *room = NULL;
		err = pex_room_get_by_name(&room, p->bg, name);
		pex_room_free(room);
		*deleted = err == 0;
		if (err == PEX_ENOTFOUND)
			return 0;
		if (err < 0)
			snprintf(what, what_size, "looking up room %s", safe);
		return err;
	}
	if ((err = pex_room_delete_by_name(deleted, p->bg, name)) < 0)
		snprintf(what, what_size, "deleting room %s", safe);
	return err;
}

/* Handle message @p i of the current batch (a pex__pool_parallel worker). */
static int sweep_one(pex_pool *p, size_t i, void *arg)
{
	gc_ctx *c = arg;
	gc_batch *b = c->cur;
	pex_message *msg = b->msgs[i];
	char *name = NULL, safe[96], what[160];
	int live = 0, deleted = 0, err;

	if (atomic_load(&c->aborted) || atomic_load(&c->outage)) {
		release(c, msg, 0);      /* not handled: give it back now */
		return 0;
	}
	if (c->o->min_age_s && msg->inserted_at > 0 && c->now - msg->inserted_at < c->o->min_age_s) {
		long long wait = c->o->min_age_s - (c->now - msg->inserted_at);
		release(c, msg, wait < 1 ? 1 : (unsigned)wait);
		return 0;
	}
	if (b->names[i]) {
		name = b->names[i];        /* decoded by prepare_batch() */
		b->names[i] = NULL;
	} else if ((err = message_name(&name, msg)) < 0) {
		pex__log(p->log, PEX_LOG_WARN, "gc: %s unreadable deletion message %s: %s",
			c->dry ? "would drop" : "dropping", msg->id, pex_error_last()->message);
		if (!c->dry && pex_queue_delete(p->del_q, msg) < 0)
			pex__log(p->log, PEX_LOG_DEBUG, "gc: removing message %s: %s", msg->id,
				pex_error_last()->message);
		return 0;
	}
	pex__pool_safe_text(safe, sizeof(safe), name, strlen(name));

	if (pex__pool_is_protected(p, name)) {
		pex__log(p->log, PEX_LOG_DEBUG, "gc: room %s is protected; not deleted", safe);
		atomic_fetch_add(&c->skipped_protected, 1);
		ack(c, msg, safe);
		pex__gc_tick(c);
		goto out;
	}
	if (!pex__pool_owns(p, name, NULL)) {
		/* written by someone else: never delete a room the pool does not own */
		pex__log(p->log, PEX_LOG_WARN, "gc: room %s is not the pool's (neither pool.name_prefix "
			"nor gc.owned_prefixes); %s its deletion message, the room stays", safe,
			c->dry ? "would drop" : "dropping");
		atomic_fetch_add(&c->skipped_foreign, 1);
		ack(c, msg, safe);
		pex__gc_tick(c);
		goto out;
	}
	if (b->live[i] >= 0)
		live = b->live[i];
	else if ((err = pex_room_is_live(&live, p->bg, name)) < 0) {
		snprintf(what, sizeof(what), "checking whether room %s is live", safe);
		pex__gc_failed(c, msg, err, what);
		goto out;
	}
	if (live) {
		unsigned delay = p->o.gc_delay_s > PEX__GC_MIN_POSTPONE_S ? p->o.gc_delay_s
			: PEX__GC_MIN_POSTPONE_S;
		pex__log(p->log, PEX_LOG_DEBUG, "gc: room %s is live again; postponed by %u s", safe, delay);
		release(c, msg, delay);
		atomic_fetch_add(&c->postponed_live, 1);
		pex__gc_tick(c);
		goto out;
	}
	if ((err = delete_room(c, i, name, safe, &deleted, what, sizeof(what))) < 0) {
		pex__gc_failed(c, msg, err, what);
		goto out;
	}
	if (deleted) {
		atomic_fetch_add(&c->deleted, 1);
		if (!c->dry)
			atomic_fetch_add(&p->deleted, 1);
	} else {
		atomic_fetch_add(&c->already_gone, 1);
	}
	pex__log(p->log, PEX_LOG_DEBUG, "gc: room %s %s%s", safe,
		deleted ? "deleted" : "already gone", c->dry ? " (dry run)" : "");
	ack(c, msg, safe);
	pex__gc_tick(c);
out:
	free(name);
	return 0;
}

/* Batch lookup task @p i: 0 = ids (configuration API), 1 = live (status API). */
typedef struct lookup_arg {
	gc_ctx *c;
	gc_batch *b;
} lookup_arg;

static int lookup_task(pex_pool *p, size_t i, void *arg)
{
	lookup_arg *la = arg;
	int err = pex__room_batch_lookup(p->bg, (const char *const *)la->b->names, la->b->n,
		i == 0 ? la->b->ids : NULL, i == 0 ? NULL : la->b->live);

	if (err == PEX_ENOTSUPPORTED) {
		if (atomic_exchange(&la->c->batch_refused, 1) == 0)
			pex__log(p->log, PEX_LOG_INFO, "gc: %s; checking rooms one by one",
				pex_error_last()->message);
	} else if (err < 0 && outage(la->c, err, "looking up a batch of rooms")) {
		/* no room of the batch asks Pexip one by one */
	} else if (err < 0) {
		pex__log(p->log, PEX_LOG_DEBUG, "gc: batch lookup failed (%s); checking this batch's rooms "
			"one by one", pex_error_last()->message);
	}
	return 0;
}

/*
 * Decode the names of batch @p b, then look the rooms that need Pexip up
 * in two requests. Rooms the lookups do not settle are left at -1 (the
 * per-room path); so is everything when batching is off.
 */
static void prepare_batch(gc_ctx *c, gc_batch *b)
{
	lookup_arg la = { c, b };
	size_t i, asked = 0;

	for (i = 0; i < b->n; i++) {
		b->ids[i] = -1;
		b->live[i] = -1;
		b->names[i] = NULL;
		if (message_name(&b->names[i], b->msgs[i]) < 0) {
			pex_error_clear();     /* sweep_one() reports it */
			continue;
		}
		/* protected and foreign rooms and messages still too young need no lookup */
		if (pex__pool_is_protected(c->p, b->names[i]) || !pex__pool_owns(c->p, b->names[i], NULL) ||
		    (c->o->min_age_s && b->msgs[i]->inserted_at > 0 &&
		     c->now - b->msgs[i]->inserted_at < c->o->min_age_s)) {
			free(b->names[i]);
			b->names[i] = NULL;
			continue;
		}
		asked++;
	}
	/* one room: the per-room path costs the same */
	if (!c->batching || asked < 2 || atomic_load(&c->aborted) || atomic_load(&c->outage))
		return;
	pex__pool_parallel(c->p, 2, lookup_task, &la);
	if (atomic_load(&c->batch_refused))
		c->batching = 0;
}

/* Receive up to b->want messages into @p b (receives of 32; one peek in a
 * dry run) and prepare them. */
static void fetch_batch(gc_ctx *c, gc_batch *b)
{
	pex_message **msgs = NULL;
	size_t got, i;

	b->n = 0;
	b->err = 0;
	while (b->n < b->want) {
		size_t ask = b->want - b->n < PEX__GC_RECEIVE ? b->want - b->n : PEX__GC_RECEIVE;
		if (c->dry)
			b->err = pex_queue_peek(&msgs, &got, c->p->del_q, ask);
		else
			b->err = pex_queue_receive_batch(&msgs, &got, c->p->del_q, ask, PEX__GC_LEASE_S);
		if (b->err < 0) {
			pex__gc_remember(c, b->err, "reading the deletion queue");
			break;
		}
		for (i = 0; i < got; i++)
			b->msgs[b->n + i] = msgs[i];
		free(msgs);                /* the array only: the messages are in b->msgs */
		msgs = NULL;
		b->n += got;
		if (got < ask || c->dry)
			break;
	}
	prepare_batch(c, b);
}

/* Free what a batch holds; @p give_back releases its messages first (they
 * were received but not handled). */
static void batch_clear(gc_ctx *c, gc_batch *b, int give_back)
{
	size_t i;

	for (i = 0; i < b->n; i++) {
		if (give_back)
			release(c, b->msgs[i], 0);
		free(b->names[i]);         /* those sweep_one() did not take */
		pex_message_free(b->msgs[i]);
	}
	b->n = 0;
}

/* How many messages the next batch may take, with @p pending rooms of
 * batches already fetched still to be counted (opts->max). */
static size_t batch_budget(gc_ctx *c, size_t pending)
{
	size_t want = c->dry ? PEX__GC_RECEIVE : PEX__GC_BATCH, done;

	if (c->o->max) {
		done = atomic_load(&c->done) + pending;
		if (done >= c->o->max)
			return 0;
		if (c->o->max - done < want)
			want = c->o->max - done;
	}
	return want;
}

typedef struct prefetch {
	gc_ctx *c;
	gc_batch *b;
} prefetch;

static void *prefetch_main(void *arg)
{
	prefetch *pf = arg;
	fetch_batch(pf->c, pf->b);
	return NULL;
}

/*
 * The deletion-queue sweep. While the workers handle one batch, a thread
 * fetches and looks up the next (when the current batch was full, so more
 * may be due), so that the Pexip slots never wait for the receive and the
 * lookups, and only briefly for the slowest room of a batch.
 */
static void sweep_queue(gc_ctx *c)
{
	gc_batch *cur = pex__calloc(1, sizeof(*cur)), *next = pex__calloc(1, sizeof(*next)), *t;
	prefetch pf;
	pthread_t th;
	int prefetching, stop;
	size_t n;

	if (!cur || !next) {
		pex__gc_remember(c, pex__error_nomem(), "starting the sweep");
		goto out;
	}
	if ((cur->want = batch_budget(c, 0)) == 0)
		goto out;
	fetch_batch(c, cur);
	while (cur->n > 0) {
		n = cur->n;
		prefetching = 0;
		if (!c->dry && !cur->err && n == cur->want && !atomic_load(&c->outage) &&
		    (next->want = batch_budget(c, n)) > 0) {
			pf.c = c;
			pf.b = next;
			prefetching = pthread_create(&th, NULL, prefetch_main, &pf) == 0;
		}
		c->cur = cur;
		atomic_store(&c->batch_failed, 0);
		pex__pool_parallel(c->p, n, sweep_one, c);
		c->cur = NULL;
		stop = cur->err < 0 || atomic_load(&c->aborted) || atomic_load(&c->outage) || c->dry;
		if (c->dry) {
			/* a peek always shows the same messages: one look is all we get */
			size_t total = 0;
			if (pex_queue_count(&total, c->p->del_q) == 0 && total > n)
				pex__log(c->p->log, PEX_LOG_INFO, "gc (dry run): looked at the first %zu due "
					"message(s) only; the deletion queue holds about %zu", n, total);
		} else if (atomic_load(&c->batch_failed) == n && !atomic_load(&c->outage)) {
			pex__log(c->p->log, PEX_LOG_WARN, "gc: every room of a batch of %zu failed; stopping "
				"(the rest waits for the next sweep)", n);
			stop = 1;
		}
		if (prefetching)
			pthread_join(th, NULL);
		batch_clear(c, cur, 0);
		if (stop) {
			batch_clear(c, next, 1);
			break;
		}
		if (!prefetching) {
			/* a short batch: nothing more was due */
			if (cur->err < 0 || n < cur->want || (next->want = batch_budget(c, 0)) == 0)
				break;
			fetch_batch(c, next);
		}
		t = cur;
		cur = next;
		next = t;
	}
out:
	if (cur)
		batch_clear(c, cur, 1);
	free(cur);
	free(next);
}


/* Background work: its requests go through the pool's background view
 * (pool->bg) and yield connections to hand-outs. */
int pex_gc_sweep(pex_gc_report *report, pex_pool *pool, const pex_gc_options *opts,
	pex_pool_progress_cb progress, void *payload)
{
	static const pex_gc_options defaults = PEX_GC_OPTIONS_INIT;
	pex_gc_report r;
	gc_ctx *c;
	size_t queued = 0;
	int err = 0;

	if (report && (err = pex_gc_report_init(report, report->version)) < 0)
		return err;
	if (!pool)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pex_gc_sweep: no pool");
	if (!opts)
		opts = &defaults;
	if ((err = pex__version_check(opts->version, PEX_GC_OPTIONS_VERSION, "pex_gc_options")) < 0)
		return err;
	if (!(c = pex__calloc(1, sizeof(*c))))
		return PEX_ENOMEM;
	c->p = pool;
	c->o = opts;
	c->dry = opts->dry_run != 0;
	c->batching = 1;
	c->now = (long long)pex__unix_time();
	c->progress = progress;
	c->payload = payload;
	pthread_mutex_init(&c->lock, NULL);
	/* the backlog (due or not) is the first estimate of the total */
	if (pex_queue_count(&queued, pool->del_q) == 0)
		c->total = opts->max && queued > opts->max ? opts->max : queued;

	sweep_queue(c);
	if (opts->orphans && !atomic_load(&c->aborted) && !atomic_load(&c->outage))
		pex__gc_sweep_orphans(c);

	memset(&r, 0, sizeof(r));
	r.deleted = atomic_load(&c->deleted);
	r.postponed_live = atomic_load(&c->postponed_live);
	r.skipped_protected = atomic_load(&c->skipped_protected);
	r.already_gone = atomic_load(&c->already_gone);
	r.failed = atomic_load(&c->failed);
	r.orphans_found = atomic_load(&c->orphans_found);
	r.orphans_deleted = atomic_load(&c->orphans_deleted);
	r.skipped_foreign = atomic_load(&c->skipped_foreign);
	if (report) {
		r.version = report->version;     /* version 1 is the whole struct */
		*report = r;
	}
	pex__log(pool->log, PEX_LOG_INFO, "gc%s: %zu deleted, %zu already gone, %zu postponed (live), "
		"%zu protected, %zu not the pool's, %zu failed%s", c->dry ? " (dry run, would have)" : "",
		r.deleted, r.already_gone, r.postponed_live, r.skipped_protected, r.skipped_foreign, r.failed,
		opts->orphans ? "" : "; no orphan sweep");
	if (opts->orphans)
		pex__log(pool->log, PEX_LOG_INFO, "gc%s: %zu orphan(s) found, %zu deleted",
			c->dry ? " (dry run)" : "", r.orphans_found, r.orphans_deleted);

	if (atomic_load(&c->aborted))
		err = pex_error_set(PEX_EUSER, PEX_ERROR_CLASS_CALLBACK, "gc sweep stopped by the caller");
	else if (c->first_err)
		err = pex__error_restore(&c->first);
	pthread_mutex_destroy(&c->lock);
	free(c);
	return err;
}
