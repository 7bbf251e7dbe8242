/* The room pool: construction, pop (the critical path), replenish, fill,
 * drain, metrics. Events and GC live in events.c and gc.c. */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "core/stats.h"
#include "pool/pool_internal.h"
#include "pexip/client_internal.h"

/* ---- options ---- */

int pex_pool_options_init(pex_pool_options *opts, unsigned int version)
{
	static const pex_pool_options init = PEX_POOL_OPTIONS_INIT;
	if (!opts || version == 0 || version > PEX_POOL_OPTIONS_VERSION)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"unsupported pex_pool_options version %u", version);
	*opts = init;
	return 0;
}

static int dup_opt(char **dst, const char *src)
{
	if (!src) {
		*dst = NULL;
		return 0;
	}
	*dst = pex__strdup(src);
	return *dst ? 0 : PEX_ENOMEM;
}

static void pool_free_strings(pex_pool *p)
{
	size_t i;
	free(p->name_prefix);
	free(p->service_type);
	free(p->alias_domain);
	free(p->description);
	free(p->url_template);
	for (i = 0; i < p->nallowed; i++)
		free(p->allowed_hosts[i]);
	free(p->allowed_hosts);
	for (i = 0; i < p->nprotected; i++)
		free(p->protected_prefixes[i]);
	for (i = 0; i < p->nowned; i++)
		free(p->owned_prefixes[i]);
}

static void release_held(pex_pool *p, size_t keep, long long older_than);

void pex_pool_free(pex_pool *p)
{
	if (!p)
		return;
	if (p->held_lock_ok) {
		release_held(p, 0, 0);       /* held rooms go back to the queue */
		pthread_mutex_destroy(&p->held_lock);
	}
	if (p->owns) {
		pex_queue_free(p->pool_q);
		pex_queue_free(p->del_q);
		pex_client_free(p->client);
	}
	pool_free_strings(p);
	free(p);
}

/* Room names are the prefix and 13 characters; Pexip allows 250 and no
 * control characters (room.c check_name); 200 leaves room to spare. */
const char *pex__pool_name_prefix_rule(const char *s)
{
	char why[96];
	size_t i, n = s ? strlen(s) : 0;

	/* room names are the prefix and 13 more characters */
	if (n < 1 || !pex__text_chars_ok(s, n, PEX__POOL_PREFIX_MAX_CHARS, why, sizeof(why)))
		return "must be 1 to 200 characters of valid UTF-8";
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return "must not contain control characters";
	return NULL;
}

int pex_pool_new(pex_pool **out, pex_client *client, pex_queue *pool_queue,
	pex_queue *deletion_queue, const pex_pool_options *o)
{
	static const pex_pool_options defaults = PEX_POOL_OPTIONS_INIT;
	const char *why;
	pex_pool_options v;
	pex_pool *p;
	size_t i;
	int err;
	char text_why[96];

	if (!out || !client || !pool_queue || !deletion_queue)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pex_pool_new needs a client and two queues");
	*out = NULL;
	if (!o)
		o = &defaults;
	if (o->version == 0 || o->version > PEX_POOL_OPTIONS_VERSION)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"unsupported pex_pool_options version %u", o->version);
	/* a version 1 caller's struct ends before owned_prefixes: the rest keeps its defaults */
	v = defaults;
	memcpy(&v, o, o->version >= 2 ? sizeof(v) : offsetof(pex_pool_options, owned_prefixes));
	o = &v;
	for (i = 0; i < PEX_POOL_MAX_OWNED && o->owned_prefixes[i]; i++)
		if (!o->owned_prefixes[i][0])
			return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
				"gc.owned_prefixes[%zu] is empty (it would make every room on Pexip the pool's)", i);
	if (i == PEX_POOL_MAX_OWNED)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"gc.owned_prefixes: at most %d prefixes", PEX_POOL_MAX_OWNED - 1);
	if ((why = pex__pool_name_prefix_rule(o->name_prefix)) != NULL)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pool.name_prefix %s", why);
	if (o->description &&
	    !pex__text_chars_ok(o->description, strlen(o->description), PEX__TEXT_MAX_CHARS,
			text_why, sizeof(text_why)))
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pool.room.description %s", text_why);
	if (o->pin_digits < 4 || o->pin_digits > 20 || o->guest_pin_digits < 4 || o->guest_pin_digits > 20)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pool.room.pin_digits and guest_pin_digits must be from 4 to 20");
	if (o->lease_s < 5 || o->lease_s > 3600)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pool lease_s must be from 5 to 3600 seconds");
	if (o->ready_after_s > 3600)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pool.ready_after_s must be from 0 to 3600 seconds");
	if (strcmp(pex_queue_name(pool_queue), pex_queue_name(deletion_queue)) == 0)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pool.queue and gc.queue must be different queues (both are '%s')",
			pex_queue_name(pool_queue));

	p = pex__calloc(1, sizeof(*p));
	if (!p)
		return PEX_ENOMEM;
	p->client = client;
	p->pool_q = pool_queue;
	p->del_q = deletion_queue;
	p->o = *o;
	p->log = pex__client_logger(client);
	if (pthread_mutex_init(&p->held_lock, NULL) != 0) {
		free(p);
		return pex_error_set(PEX_ERROR, PEX_ERROR_CLASS_OS, "pex_pool_new: cannot create a mutex");
	}
	p->held_lock_ok = 1;
	if ((err = dup_opt(&p->name_prefix, o->name_prefix)) < 0 ||
	    (err = dup_opt(&p->service_type, o->service_type ? o->service_type : "conference")) < 0 ||
	    (err = dup_opt(&p->alias_domain, o->alias_domain)) < 0 ||
	    (err = dup_opt(&p->description, o->description)) < 0 ||
	    (err = dup_opt(&p->url_template, o->tag.url_template)) < 0)
		goto fail;
	if (o->tag.allowed_host_count) {
		p->allowed_hosts = pex__calloc(o->tag.allowed_host_count, sizeof(char *));
		if (!p->allowed_hosts) {
			err = PEX_ENOMEM;
			goto fail;
		}
		for (i = 0; i < o->tag.allowed_host_count; i++, p->nallowed++)
			if ((err = dup_opt(&p->allowed_hosts[i], o->tag.allowed_hosts[i])) < 0)
				goto fail;
	}
	for (i = 0; i < PEX_POOL_MAX_PROTECTED && o->protected_prefixes[i]; i++, p->nprotected++)
		if ((err = dup_opt(&p->protected_prefixes[i], o->protected_prefixes[i])) < 0)
			goto fail;
	for (i = 0; i < PEX_POOL_MAX_OWNED && o->owned_prefixes[i]; i++, p->nowned++)
		if ((err = dup_opt(&p->owned_prefixes[i], o->owned_prefixes[i])) < 0)
			goto fail;
	/* point the copied options at the pool's own strings */
	p->o.name_prefix = p->name_prefix;
	p->o.service_type = p->service_type;
	p->o.alias_domain = p->alias_domain;
	p->o.description = p->description;
	p->o.tag.url_template = p->url_template;
	p->o.tag.allowed_hosts = (const char *const *)p->allowed_hosts;
	p->o.tag.allowed_host_count = p->nallowed;
	for (i = 0; i < PEX_POOL_MAX_PROTECTED; i++)
		p->o.protected_prefixes[i] = i < p->nprotected ? p->protected_prefixes[i] : NULL;
	for (i = 0; i < PEX_POOL_MAX_OWNED; i++)
		p->o.owned_prefixes[i] = i < p->nowned ? p->owned_prefixes[i] : NULL;
	*out = p;
	return 0;
fail:
	pex_pool_free(p);
	return err;
}

pex_client *pex_pool_client(pex_pool *p)
{
	return p ? p->client : NULL;
}

/* Copy the list @p key (when set) into @p dst, NULL-terminated; at most @p max - 1 entries. */
static int prefix_list(const char **dst, size_t max, const pex_config *cfg, const char *key)
{
	const char *const *list = NULL;
	size_t n = 0, i;

	if (pex_config_get_list(&list, &n, cfg, key) != 0)
		return 0;
	if (n > max - 1)
		return pex_error_set(PEX_ECONFIG, PEX_ERROR_CLASS_CONFIG, "%s: at most %zu prefixes", key, max - 1);
	for (i = 0; i < n; i++)
		dst[i] = list[i];
	dst[n] = NULL;
	return 0;
}

int pex_pool_new_from_config(pex_pool **out, const pex_config *cfg,
	pex_log_cb log_cb, void *log_payload)
{
	pex_pool_options o = PEX_POOL_OPTIONS_INIT;
	pex_client *client = NULL;
	pex_queue *pq = NULL, *dq = NULL;
	const char *pool_name = "room-creation-queue", *gc_name = "room-deletion-queue";
	const char *const *list = NULL;
	size_t n = 0;
	long long v;
	int b, err;

	if (!out || !cfg)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pex_pool_new_from_config: no output or config");
	*out = NULL;

#define GET_STR(key, dst) do { const char *s_; \
		if ((err = pex_config_get_string(&s_, cfg, key)) == 0) (dst) = s_; \
		else if (err != PEX_ENOTFOUND) return err; } while (0)
#define GET_INT(key, dst, type) do { \
		if ((err = pex_config_get_int(&v, cfg, key)) == 0) (dst) = (type)v; \
		else if (err != PEX_ENOTFOUND) return err; } while (0)
	GET_STR("pool.queue", pool_name);
	GET_STR("gc.queue", gc_name);
	GET_INT("pool.depth", o.depth, unsigned);
	GET_STR("pool.name_prefix", o.name_prefix);
	GET_STR("pool.room.service_type", o.service_type);
	if ((err = pex_config_get_bool(&b, cfg, "pool.room.allow_guests")) == 0)
		o.allow_guests = b;
	GET_INT("pool.room.pin_digits", o.pin_digits, unsigned);
	GET_INT("pool.room.guest_pin_digits", o.guest_pin_digits, unsigned);
	GET_STR("pool.room.alias_domain", o.alias_domain);
	GET_INT("pool.room.participant_limit", o.participant_limit, long long);
	GET_STR("pool.room.description", o.description);
	GET_STR("tag.url_template", o.tag.url_template);
	if (pex_config_get_list(&list, &n, cfg, "tag.allowed_hosts") == 0) {
		o.tag.allowed_hosts = list;
		o.tag.allowed_host_count = n;
	}
	GET_INT("gc.delay_s", o.gc_delay_s, unsigned);
	GET_INT("gc.orphan_max_age_s", o.orphan_max_age_s, unsigned);
	GET_INT("pool.lease_s", o.lease_s, unsigned);
	GET_INT("pool.ready_after_s", o.ready_after_s, unsigned);
	if ((err = prefix_list(o.protected_prefixes, PEX_POOL_MAX_PROTECTED, cfg, "gc.protected_prefixes")) < 0 ||
	    (err = prefix_list(o.owned_prefixes, PEX_POOL_MAX_OWNED, cfg, "gc.owned_prefixes")) < 0)
		return err;
#undef GET_STR
#undef GET_INT

	if ((err = pex_client_new_from_config(&client, cfg, log_cb, log_payload)) < 0)
		return err;
	if ((err = pex_queue_open_config(&pq, cfg, pool_name)) < 0 ||
	    (err = pex_queue_open_sibling(&dq, pq, gc_name)) < 0 ||
	    (err = pex_pool_new(out, client, pq, dq, &o)) < 0) {
		pex_queue_free(dq);
		pex_queue_free(pq);
		pex_client_free(client);
		return err;
	}
	(*out)->owns = 1;
	return 0;
}

/* ---- helpers ---- */

/* 1 if @p name starts with one of the @p n non-empty @p prefixes. */
static int starts_with_any(const char *name, char *const *prefixes, size_t n)
{
	size_t i;
	for (i = 0; i < n; i++)
		if (prefixes[i][0] && strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
			return 1;
	return 0;
}

int pex__pool_is_protected(const pex_pool *p, const char *name)
{
	return starts_with_any(name, p->protected_prefixes, p->nprotected);
}

int pex__pool_owns(const pex_pool *p, const char *name, const char *service_type)
{
	char *const pool_prefix[1] = { p->name_prefix };
	if (!starts_with_any(name, pool_prefix, 1) &&
	    !starts_with_any(name, p->owned_prefixes, p->nowned))
		return 0;
	return !service_type || strcmp(service_type, p->service_type) == 0;
}

long long pex__pexip_time(const char *s)
{
	struct tm tm;
	const char *end;
	long long t;
	if (!s || !*s)
		return -1;
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end)
		return -1;
	t = (long long)timegm(&tm);
	if (*end == '.')
		for (end++; *end >= '0' && *end <= '9'; end++)
			;
	if ((*end == '+' || *end == '-') && strlen(end) >= 6) {
		int hh = (end[1] - '0') * 10 + (end[2] - '0');
		int mm = (end[4] - '0') * 10 + (end[5] - '0');
		long long off = (long long)hh * 3600 + mm * 60;
		t += *end == '+' ? -off : off;
	} else if (*end != '\0' && *end != 'Z') {
		return -1;
	}
	return t;
}

typedef struct par_ctx {
	pex_pool *p;
	size_t n;
	int (*fn)(pex_pool *p, size_t i, void *arg);
	void *arg;
	atomic_size_t next;
	atomic_int first_err;
	pex__error_copy first; /* its details, written by the one worker that set first_err */
	int background;        /* the caller's request class, for the new threads */
} par_ctx;

static void *par_worker(void *x)
{
	par_ctx *c = x;
	size_t i;
	pex__http_background(c->background);
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
	size_t nt = 2 * (size_t)pex__client_max_concurrency(p->client), started = 0, i;
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
	c.background = pex__http_background(0);
	pex__http_background(c.background);
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

/* ---- pop ---- */

void pex_pool_room_free(pex_pool_room *r)
{
	if (!r)
		return;
	free(r->name);
	free(r->alias);
	free(r->guest_pin);
	free(r->tag);
	free(r);
}

/* The tag for a pop: from a UUI, or a given URL checked by the same rules
 * as an absolute URL in a UUI (pex_tag_from_url). */
static int pop_tag(pex_buf *tag, pex_pool *p, const char *uui, const char *tag_url)
{
	if (uui && tag_url)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "give a UUI or a tag URL, not both");
	if (uui)
		return pex_uui_to_tag(tag, uui, &p->o.tag);
	if (tag_url)
		return pex_tag_from_url(tag, &p->o.tag, tag_url);
	pex__buf_clear(tag);
	return pex__buf_puts(tag, "");
}

/* Age beyond which a pool room is recycled instead of handed out, or -1
 * (never) when orphan_max_age_s is too short to keep the margin (tests). */
static long long stale_age_s(const pex_pool *p)
{
	long long max = p->o.orphan_max_age_s;
	return max >= 2 * PEX__POOL_STALE_MARGIN_S ? max - PEX__POOL_STALE_MARGIN_S : -1;
}

static char *dup_or_empty(const char *s)
{
	return pex__strdup(s ? s : "");
}

/* A handed-out room record; NULL when out of memory. */
static pex_pool_room *room_out(long long id, const char *name, const char *alias,
	const char *guest_pin, const char *tag)
{
	pex_pool_room *r = pex__calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->id = id;
	r->name = pex__strdup(name);
	r->alias = dup_or_empty(alias);
	r->guest_pin = dup_or_empty(guest_pin);
	r->tag = dup_or_empty(tag);
	if (!r->name || !r->alias || !r->guest_pin || !r->tag) {
		pex_pool_room_free(r);
		return NULL;
	}
	return r;
}

static int is_stale(const pex_pool *p, const struct pex__room_ref *ref)
{
	return ref->created > 0 && stale_age_s(p) >= 0 && pex__unix_time() - ref->created > stale_age_s(p);
}

/* ---- held rooms (pex_pool_prefetch) ---- */

/* Put @p ref back on the pool queue as a new message, invisible for @p delay_s. */
static int put_back(pex_pool *p, const struct pex__room_ref *ref, unsigned delay_s)
{
	pex_buf msg = PEX_BUF_INIT;
	int err = pex__poolmsg_encode(&msg, ref);
	if (err == 0)
		err = pex_queue_put(p->pool_q, msg.ptr, msg.size, delay_s);
	pex_buf_dispose(&msg);
	return err;
}

/* Take the held room that was taken first, if any. 1 = taken into *h. */
static int take_held(pex_pool *p, struct pex__held_room *h)
{
	int got = 0;
	pthread_mutex_lock(&p->held_lock);
	if (p->nheld > 0) {
		*h = p->held[0];
		memmove(&p->held[0], &p->held[1], (p->nheld - 1) * sizeof(p->held[0]));
		p->nheld--;
		got = 1;
	}
	pthread_mutex_unlock(&p->held_lock);
	return got;
}

/* Put held rooms back on the queue: all beyond the first @p keep, and any
 * held since before @p older_than (Unix seconds; 0 = none by age). A room
 * that cannot be put back is logged and left to the orphan sweep. */
static void release_held(pex_pool *p, size_t keep, long long older_than)
{
	struct pex__held_room out[PEX_POOL_PREFETCH_MAX];
	size_t nout = 0, i, kept = 0;

	pthread_mutex_lock(&p->held_lock);
	for (i = 0; i < p->nheld; i++) {
		if (kept < keep && p->held[i].held_at >= older_than)
			p->held[kept++] = p->held[i];
		else
			out[nout++] = p->held[i];
	}
	p->nheld = kept;
	pthread_mutex_unlock(&p->held_lock);
	for (i = 0; i < nout; i++) {
		if (put_back(p, &out[i].ref, 0) < 0)
			pex__log(p->log, PEX_LOG_WARN, "held pool room %s could not be put back on the "
				"queue (%s); the orphan sweep will remove it", out[i].ref.name,
				pex_error_last()->message);
		pex__room_ref_dispose(&out[i].ref);
	}
}

size_t pex_pool_held(pex_pool *p)
{
	size_t n;
	if (!p)
		return 0;
	pthread_mutex_lock(&p->held_lock);
	n = p->nheld;
	pthread_mutex_unlock(&p->held_lock);
	return n;
}

int pex__pool_held_names(pex_pool *p, json_object *set)
{
	size_t i;
	int err = 0;
	pthread_mutex_lock(&p->held_lock);
	for (i = 0; i < p->nheld && err == 0; i++)
		if (json_object_object_add(set, p->held[i].ref.name, NULL) != 0)
			err = pex__error_nomem();
	pthread_mutex_unlock(&p->held_lock);
	return err;
}

/* Lease the next usable pool message into *msg and decode it into *ref:
 * unreadable messages are dropped and stale rooms recycled on the way. 0 =
 * both filled (the caller owns them), PEX_EEMPTY = none left, < 0 = error. */
static int lease_next(pex_pool *p, pex_message **msg, struct pex__room_ref *ref)
{
	for (;;) {
		int err;

		memset(ref, 0, sizeof(*ref));
		*msg = NULL;
		if ((err = pex_queue_receive(msg, p->pool_q, p->o.lease_s)) < 0)
			return err;
		if (pex__poolmsg_decode(ref, (*msg)->data, (*msg)->len) < 0) {
			pex__log(p->log, PEX_LOG_WARN, "dropping an unreadable pool message %s: %s",
				(*msg)->id, pex_error_last()->message);
			pex_queue_delete(p->pool_q, *msg);
			pex_message_free(*msg);
			continue;
		}
		if (is_stale(p, ref)) {
			/* Too old to hand out (see PEX__POOL_STALE_MARGIN_S): recycle it. */
			pex__log(p->log, PEX_LOG_INFO, "recycling stale pool room %s", ref->name);
			if (pex_pool_schedule_delete(p, ref->name, 0) == 0)
				pex_queue_delete(p->pool_q, *msg);
			pex__room_ref_dispose(ref);
			pex_message_free(*msg);
			continue;
		}
		return 0;
	}
}

/* Seconds until a room created at @p created (Unix seconds; <= 0 unknown)
 * may be handed out: 0 when it is ready (or its age is unknown: a message
 * without "created" whose room needs no lookup, from before readiness).
 * "created" is truncated to the second and taken after Pexip's 201, Pexip's
 * creation_time has microseconds: one more second covers both. */
static long long not_ready_for(const pex_pool *p, long long created)
{
	long long left;
	if (p->o.ready_after_s == 0 || created <= 0)
		return 0;
	left = created + (long long)p->o.ready_after_s + 1 - (long long)pex__unix_time();
	return left > 0 ? left : 0;
}

/*
 * The pool's maturing rooms, asked of Pexip: pool-prefixed rooms younger
 * than ready_after_s (to the second; a room is handed out up to a second
 * later, see not_ready_for()). Rooms filled by another
 * process are invisible on the queue until they are ready, so only Pexip
 * knows. *count (may be NULL) gets how many, *next_in (may be NULL) the
 * seconds until the oldest is ready (at least 1). 0, or -1 when Pexip
 * cannot say (the thread's error is then Pexip's: callers that report
 * something else set their own afterwards).
 */
static int maturing(pex_pool *p, long long *count, long long *next_in)
{
	pex_buf path = PEX_BUF_INIT, body = PEX_BUF_INIT;
	json_object *doc = NULL, *objs, *ct, *meta, *tc;
	time_t since = (time_t)(pex__unix_time() - p->o.ready_after_s);   /* whole seconds: +-1 s */
	char when[32];
	struct tm tm;
	long long created;
	int status = 0, ok = 0;

	if (count)
		*count = 0;
	if (next_in)
		*next_in = -1;
	if (p->o.ready_after_s == 0)
		return 0;
	gmtime_r(&since, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	if (pex__buf_puts(&path, PEX__API_CONF "?name__startswith=") == 0 &&
	    pex__url_encode(&path, p->name_prefix, strlen(p->name_prefix)) == 0 &&
	    pex__buf_printf(&path, "&creation_time__gte=%s&order_by=creation_time&limit=1", when) == 0 &&
	    pex_client_request(p->client, "GET", path.ptr, NULL, &body, &status) == 0 && status == 200 &&
	    (doc = json_tokener_parse(body.ptr ? body.ptr : "")) != NULL &&
	    json_object_object_get_ex(doc, "objects", &objs) && json_object_is_type(objs, json_type_array)) {
		ok = 1;
		if (count && json_object_object_get_ex(doc, "meta", &meta) &&
		    json_object_object_get_ex(meta, "total_count", &tc))
			*count = json_object_get_int64(tc);
		if (next_in && json_object_array_length(objs) > 0 &&
		    json_object_object_get_ex(json_object_array_get_idx(objs, 0), "creation_time", &ct) &&
		    (created = pex__pexip_time(json_object_get_string(ct))) > 0) {
			*next_in = not_ready_for(p, created);
			if (*next_in < 1)
				*next_in = 1;
		}
	} else if (status != 0 && status != 200) {
		pex_error_set(PEX_EHTTP, PEX_ERROR_CLASS_HTTP, "listing maturing pool rooms: HTTP %d", status);
	}
	json_object_put(doc);
	pex_buf_dispose(&path);
	pex_buf_dispose(&body);
	return ok ? 0 : -1;
}

int pex_pool_maturing(pex_pool *p, long long *count, long long *next_s)
{
	if (!p)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pex_pool_maturing: no pool");
	if (maturing(p, count, next_s) < 0)
		return pex_error_last()->code < 0 ? pex_error_last()->code : PEX_ERROR;
	return 0;
}

/*
 * Take one room off the pool queue: lease a message, decode it (dropping
 * unreadable messages and recycling stale rooms), resolve a bare name,
 * delete the message. Once the message is deleted the room is the caller's
 * alone: no other pop, here or in another process, can receive it, however
 * long the caller then takes (docs/DECISIONS.md #10). A crash after this
 * leaves the room to the orphan sweep. Both the plain pop and the held-room
 * path take their rooms here.
 * 1 = taken into *ref (the caller disposes it), 0 = the queue is empty,
 * < 0 = error (nothing taken).
 */
static int take_one(pex_pool *p, struct pex__room_ref *ref)
{
	for (;;) {
		pex_message *msg = NULL;
		pex_room *room = NULL;
		long long created, wait;
		int err;

		err = lease_next(p, &msg, ref);
		if (err == PEX_EEMPTY)
			return 0;
		if (err < 0)
			return err;
		created = ref->created;
		if (ref->id <= 0 || !ref->guest_pin) {
			/* a bare name (old queues): ask Pexip once, now */
			err = pex_room_get_by_name(&room, p->client, ref->name);
			if (err == PEX_ENOTFOUND) {
				pex__log(p->log, PEX_LOG_WARN, "pool room %s is gone from Pexip; dropped", ref->name);
				pex_queue_delete(p->pool_q, msg);
				pex__room_ref_dispose(ref);
				pex_message_free(msg);
				continue;
			}
			if (err == 0) {
				char *alias = pex__strdup(pex_room_alias_count(room) ? pex_room_alias(room, 0) : "");
				char *gpin = pex__strdup(pex_room_guest_pin(room) ? pex_room_guest_pin(room) : "");
				ref->id = pex_room_id(room);
				if (created <= 0)
					created = pex__pexip_time(pex_room_creation_time(room));
				free(ref->alias);
				free(ref->guest_pin);
				ref->alias = alias;
				ref->guest_pin = gpin;
				if (!alias || !gpin)
					err = pex__error_nomem();
			}
			pex_room_free(room);
			if (err < 0) {
				pex_queue_release(p->pool_q, msg, 0);
				pex__room_ref_dispose(ref);
				pex_message_free(msg);
				return err;
			}
		}
		if ((wait = not_ready_for(p, created)) > 0) {
			/* Pexip's nodes may not know it yet: back until it is ready */
			pex__log(p->log, PEX_LOG_DEBUG, "pool room %s is ready in %lld s; not taken yet",
				ref->name, wait);
			pex_queue_release(p->pool_q, msg, (unsigned)wait);
			pex__room_ref_dispose(ref);
			pex_message_free(msg);
			continue;
		}
		/* Off the queue for good: only the holder of a live lease can
		 * delete the message, so exactly one taker gets the room. */
		err = pex_queue_delete(p->pool_q, msg);
		pex_message_free(msg);
		if (err == PEX_ELEASELOST) {
			pex__log(p->log, PEX_LOG_WARN, "lease on pool room %s ran out; not taking it", ref->name);
			pex__room_ref_dispose(ref);
			continue;
		}
		if (err < 0) {
			pex__room_ref_dispose(ref);
			return err;
		}
		return 1;
	}
}

/* Take one room off the queue into the held set. 1 = one more held,
 * 0 = the queue is empty, < 0 = error. */
static int hold_one(pex_pool *p)
{
	struct pex__held_room h;
	int err;

	memset(&h, 0, sizeof(h));
	if ((err = take_one(p, &h.ref)) <= 0)
		return err;
	h.held_at = pex__unix_time();
	pthread_mutex_lock(&p->held_lock);
	if (p->nheld < PEX_POOL_PREFETCH_MAX) {
		p->held[p->nheld++] = h;
		h.ref.name = NULL;
	}
	pthread_mutex_unlock(&p->held_lock);
	if (h.ref.name) {          /* cannot happen: one prefetcher at a time */
		put_back(p, &h.ref, 0);
		pex__room_ref_dispose(&h.ref);
	}
	return 1;
}

static int prefetch_impl(pex_pool *p, unsigned n)
{
	int err = 0;
	size_t have;

	pthread_mutex_lock(&p->held_lock);
	if (p->prefetching) {
		have = p->nheld;
		pthread_mutex_unlock(&p->held_lock);
		return (int)have;
	}
	p->prefetching = 1;
	pthread_mutex_unlock(&p->held_lock);

	/* beyond n, or held too long: back to the queue */
	release_held(p, n, pex__unix_time() - PEX__POOL_HOLD_MAX_S);
	while (pex_pool_held(p) < n) {
		if ((err = hold_one(p)) <= 0)
			break;
	}
	pthread_mutex_lock(&p->held_lock);
	p->prefetching = 0;
	have = p->nheld;
	pthread_mutex_unlock(&p->held_lock);
	return err < 0 ? err : (int)have;
}

int pex_pool_prefetch(pex_pool *p, unsigned n)
{
	int was, err;
	if (!p)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pex_pool_prefetch: no pool");
	if (n > PEX_POOL_PREFETCH_MAX)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pex_pool_prefetch: at most %d rooms can be held (asked for %u)", PEX_POOL_PREFETCH_MAX, n);
	was = pex__http_background(1);
	err = prefetch_impl(p, n);
	pex__http_background(was);
	return err;
}

/*
 * Tag @p ref, a room taken off the queue (take_one() or a held room, so
 * ours alone), and hand it out into *out. Disposes @p ref in every case.
 * 1 = handed out; 0 = Pexip no longer has it (dropped, logged); < 0 = the
 * PATCH failed: the room goes back on the queue as a new message, visible
 * at once when Pexip answered and refused every send, else only after
 * PEX__POOL_UNSURE_TAG_DELAY_S, so that a PATCH of ours that may still land
 * cannot overwrite the tag of the room's next taker (docs/DECISIONS.md #10).
 */
static int tag_and_hand_out(pex_pool_room **out, pex_pool *p, struct pex__room_ref *ref,
	const char *tag)
{
	pex_room_patch patch = PEX_ROOM_PATCH_INIT;
	int err, unsure = 0;

	patch.tag = tag;
	err = pex__room_update(p->client, ref->id, &patch, &unsure);
	if (err == PEX_ENOTFOUND) {
		pex__log(p->log, PEX_LOG_WARN, "pool room %s is gone from Pexip; dropped", ref->name);
		pex__room_ref_dispose(ref);
		return 0;
	}
	if (err < 0) {
		char saved[1024];
		int code = err;
		pex_error_class klass = pex_error_last()->klass;
		unsigned delay = unsure ? PEX__POOL_UNSURE_TAG_DELAY_S : 0;
		snprintf(saved, sizeof(saved), "%s", pex_error_last()->message);
		if (put_back(p, ref, delay) < 0)
			pex__log(p->log, PEX_LOG_WARN, "pool room %s could not be put back on the queue "
				"(%s); the orphan sweep will remove it", ref->name, pex_error_last()->message);
		else if (delay)
			pex__log(p->log, PEX_LOG_WARN, "pool room %s goes back to the pool in %u s (its tag "
				"PATCH may still reach Pexip)", ref->name, delay);
		pex_error_set(code, klass, "tagging pool room %s: %s", ref->name, saved);
		pex__room_ref_dispose(ref);
		return code;
	}
	*out = room_out(ref->id, ref->name, ref->alias, ref->guest_pin, tag);
	if (!*out) {
		/* tagged but not handed out: back to the pool rather than lost */
		put_back(p, ref, 0);
		pex__room_ref_dispose(ref);
		return pex__error_nomem();
	}
	pex__room_ref_dispose(ref);
	return 1;
}

/* Hand out a held room: the PATCH only. 1 = handed out into *out, 0 = no
 * held room (left), < 0 = error (the room went back to the queue). */
static int pop_held(pex_pool_room **out, pex_pool *p, const char *tag)
{
	struct pex__held_room h;

	while (take_held(p, &h)) {
		int err;

		if (is_stale(p, &h.ref)) {
			pex__log(p->log, PEX_LOG_INFO, "recycling stale pool room %s", h.ref.name);
			if (pex_pool_schedule_delete(p, h.ref.name, 0) < 0)
				put_back(p, &h.ref, 0);
			pex__room_ref_dispose(&h.ref);
			continue;
		}
		if ((err = tag_and_hand_out(out, p, &h.ref, tag)) != 0)
			return err;
	}
	return 0;
}

int pex_pool_pop(pex_pool_room **out, pex_pool *p, const char *uui_hex, const char *tag_url)
{
	pex_buf tag = PEX_BUF_INIT;
	int64_t t0 = pex__stats_clock();
	int err;

	if (!out || !p)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pex_pool_pop: no output or pool");
	*out = NULL;
	/* Validate input before touching anything. */
	if ((err = pop_tag(&tag, p, uui_hex, tag_url)) < 0)
		goto out;

	/* A room taken off the queue ahead of time comes first. */
	if ((err = pop_held(out, p, tag.ptr)) != 0) {
		if (err > 0) {
			pex__log(p->log, PEX_LOG_DEBUG, "handed out held room %s", (*out)->name);
			atomic_fetch_add(&p->pops, 1);
			err = 0;
		}
		goto out;
	}

	/* Take a room off the queue (ours alone from then on), then tag it. */
	for (;;) {
		struct pex__room_ref ref;

		memset(&ref, 0, sizeof(ref));
		if ((err = take_one(p, &ref)) < 0)
			break;
		if (err == 0) {
			long long in = -1;
			maturing(p, NULL, &in);
			if (in > 0)
				err = pex_error_set(PEX_EEMPTY, PEX_ERROR_CLASS_QUEUE, "the pool is empty (queue "
					"'%s'): no room is ready yet; the next will be ready in %lld s (new rooms "
					"wait pool.ready_after_s = %u s for Pexip's replication)",
					pex_queue_name(p->pool_q), in, p->o.ready_after_s);
			else
				err = pex_error_set(PEX_EEMPTY, PEX_ERROR_CLASS_QUEUE, "the pool is empty (queue '%s')",
					pex_queue_name(p->pool_q));
			break;
		}
		if ((err = tag_and_hand_out(out, p, &ref, tag.ptr)) == 0)
			continue;      /* gone from Pexip: the next one */
		if (err > 0) {
			pex__log(p->log, PEX_LOG_DEBUG, "handed out room %s", (*out)->name);
			atomic_fetch_add(&p->pops, 1);
			err = 0;
		}
		break;
	}
out:
	if (err < 0 && err != PEX_EINVAL)
		atomic_fetch_add(&p->pop_failures, 1);
	pex__stats_pop(err, t0);
	pex_buf_dispose(&tag);
	return err;
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
} repl_ctx;

static int replenish_one(pex_pool *p, size_t i, void *arg)
{
	repl_ctx *c = arg;
	pex_room_spec s = PEX_ROOM_SPEC_INIT;
	struct pex__room_ref ref;
	pex_buf msg = PEX_BUF_INIT;
	unsigned char rnd[8];
	/* a truncated alias is over 250 characters: pex_room_create refuses it */
	char name[PEX__TEXT_MAX_BYTES + 1], alias[2 * PEX__TEXT_MAX_BYTES + 2], pin[24], gpin[24];
	static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
	long long id = 0;
	size_t k;
	int err;
	(void)i;

	if (atomic_load(&c->aborted))
		return 0;
	/* name = prefix + 13 base32 chars (64 random bits) */
	if ((err = pex__random_bytes(rnd, sizeof(rnd))) < 0)
		goto done;
	{
		uint64_t v = 0;
		size_t off = (size_t)snprintf(name, sizeof(name), "%s", p->name_prefix);
		for (k = 0; k < 8; k++)
			v = (v << 8) | rnd[k];
		for (k = 0; k < 13 && off + 1 < sizeof(name); k++, v >>= 5)
			name[off++] = b32[v & 31];
		name[off] = '\0';
	}
	if ((err = random_digits(pin, p->o.pin_digits)) < 0 ||
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
	if ((err = pex_room_create(&id, p->client, &s)) < 0)
		goto done;

	memset(&ref, 0, sizeof(ref));
	ref.name = name;
	ref.id = id;
	ref.alias = alias;
	ref.guest_pin = gpin;
	ref.created = (long long)pex__unix_time();
	err = pex__poolmsg_encode(&msg, &ref);
	if (err == 0)
		err = pex_queue_put(p->pool_q, msg.ptr, msg.size,
			p->o.ready_after_s ? p->o.ready_after_s + 1 : 0);   /* see not_ready_for() */
	if (err < 0) {
		/* Created but not queued: delete it now rather than leave an orphan. */
		char saved[1024];
		int code = err;
		snprintf(saved, sizeof(saved), "%s", pex_error_last()->message);
		if (pex_room_delete(p->client, id, NULL) < 0)
			pex__log(p->log, PEX_LOG_WARN, "room %s was created but could not be queued or "
				"deleted; the orphan sweep will remove it", name);
		pex_error_set(code, PEX_ERROR_CLASS_QUEUE, "queueing new room %s: %s", name, saved);
		err = code;
		goto done;
	}
	atomic_fetch_add(&c->created, 1);
	atomic_fetch_add(&p->replenished, 1);
done:
	pex_buf_dispose(&msg);
	if (err < 0) {
		atomic_fetch_add(&p->replenish_failures, 1);
		pex__log(p->log, PEX_LOG_WARN, "replenish: %s", pex_error_last()->message);
	}
	if (c->progress) {
		size_t d = atomic_fetch_add(&c->done, 1) + 1;
		pex__error_copy cause;
		/* what the caller's callback does must not bury the cause */
		if (err < 0)
			pex__error_save(&cause);
		pthread_mutex_lock(&c->progress_lock);
		if (c->progress(d, c->n, c->payload) != 0)
			atomic_store(&c->aborted, 1);
		pthread_mutex_unlock(&c->progress_lock);
		if (err < 0)
			pex__error_restore(&cause);
	}
	return err;
}

static int replenish_impl(pex_pool *p, size_t n, size_t *created,
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

/* Background work: its requests yield connections to hand-outs. */
int pex_pool_replenish(pex_pool *p, size_t n, size_t *created,
	pex_pool_progress_cb progress, void *payload)
{
	int was = pex__http_background(1);
	int err = replenish_impl(p, n, created, progress, payload);
	pex__http_background(was);
	return err;
}

int pex_pool_fill(pex_pool *p, unsigned depth, size_t *created,
	pex_pool_progress_cb progress, void *payload)
{
	size_t have = 0;
	int err;
	if (created)
		*created = 0;
	if (!p)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pex_pool_fill: no pool");
	if (depth == 0)
		depth = p->o.depth;
	if ((err = pex_queue_count(&have, p->pool_q)) < 0)
		return err;
	have += pex_pool_held(p);        /* rooms taken ahead of pops are still the pool's */
	if (have >= depth)
		return 0;
	return pex_pool_replenish(p, depth - have, created, progress, payload);
}

/* ---- drain ---- */

static int drain_impl(pex_pool *p, int delete_rooms, size_t *drained,
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
	release_held(p, 0, 0);      /* held rooms are drained with the rest */
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
					e = ref.id > 0 ? pex_room_delete(p->client, ref.id, NULL)
						: pex_room_delete_by_name(p->client, ref.name, NULL);
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

int pex_pool_drain(pex_pool *p, int delete_rooms, size_t *drained,
	pex_pool_progress_cb progress, void *payload)
{
	int was = pex__http_background(1);
	int err = drain_impl(p, delete_rooms, drained, progress, payload);
	pex__http_background(was);
	return err;
}

/* ---- metrics ---- */

/* The queue counts and this process's counters: no Pexip request. */
static int local_metrics(pex_pool *p, pex_pool_metrics *m)
{
	size_t n = 0;
	int err;

	if (!p || !m)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pex_pool_get_metrics: no pool or output");
	memset(m, 0, sizeof(*m));
	m->pops = atomic_load(&p->pops);
	m->pop_failures = atomic_load(&p->pop_failures);
	m->replenished = atomic_load(&p->replenished);
	m->replenish_failures = atomic_load(&p->replenish_failures);
	m->deleted = atomic_load(&p->deleted);
	m->delete_failures = atomic_load(&p->delete_failures);
	m->events = atomic_load(&p->events);
	m->events_unknown = atomic_load(&p->events_unknown);
	m->events_foreign = atomic_load(&p->events_foreign);
	if ((err = pex_queue_count(&n, p->pool_q)) < 0)
		return err;
	m->pool_depth = (long long)(n + pex_pool_held(p));
	/* creation_time filters are not documented for every Pexip release: a
	 * refusal makes the count unknown (-1), not the metrics fail */
	if (pex_pool_maturing(p, &m->pool_maturing, NULL) < 0) {
		pex__log(p->log, PEX_LOG_DEBUG, "metrics: maturing pool rooms unknown: %s",
			pex_error_last()->message);
		m->pool_maturing = -1;
	}
	if ((err = pex_queue_count(&n, p->del_q)) < 0)
		return err;
	m->deletion_backlog = (long long)n;
	return 0;
}

static int metrics_impl(pex_pool *p, pex_pool_metrics *m)
{
	pex_room_filter f = PEX_ROOM_FILTER_INIT;
	pex_room_iter *it = NULL;
	pex_room *r = NULL;
	int err;

	if ((err = local_metrics(p, m)) < 0)
		return err;
	if ((err = pex_room_live_count(&m->live_conferences, p->client, p->name_prefix)) < 0)
		return err;
	/* one small page is enough to read meta.total_count */
	f.name_prefix = p->name_prefix;
	f.page_size = 1;
	if ((err = pex_room_iter_new(&it, p->client, &f)) < 0)
		return err;
	err = pex_room_iter_next(&r, it);
	pex_room_free(r);
	if (err == 0 || err == PEX_ITEROVER) {
		m->pexip_pool_rooms = pex_room_iter_total(it) >= 0 ? pex_room_iter_total(it) : 0;
		err = 0;
	}
	pex_room_iter_free(it);
	return err;
}

int pex_pool_get_metrics(pex_pool *p, pex_pool_metrics *m)
{
	int was = pex__http_background(1);
	int err = metrics_impl(p, m);
	pex__http_background(was);
	return err;
}

int pex_pool_get_local_metrics(pex_pool *p, pex_pool_metrics *m)
{
	return local_metrics(p, m);
}

static int metrics_format_impl(pex_buf *out, const pex_pool_metrics *m, pex_metrics_format format)
{
	struct { const char *name, *help, *type; long long gauge; unsigned long long counter; } rows[] = {
		{ "pexipsdk_pool_depth", "Rooms in the pool queue, ready or maturing (approximate).", "gauge", m->pool_depth, 0 },
		{ "pexipsdk_pool_maturing", "Pool rooms younger than pool.ready_after_s, not handed out yet (Pexip replicates them).", "gauge", m->pool_maturing, 0 },
		{ "pexipsdk_deletion_backlog", "Rooms waiting in the deletion queue (approximate).", "gauge", m->deletion_backlog, 0 },
		{ "pexipsdk_live_conferences", "Live conferences with the pool prefix.", "gauge", m->live_conferences, 0 },
		{ "pexipsdk_pexip_pool_rooms", "Rooms with the pool prefix configured on Pexip.", "gauge", m->pexip_pool_rooms, 0 },
		{ "pexipsdk_pops_total", "Rooms handed out by this process.", "counter", 0, m->pops },
		{ "pexipsdk_pop_failures_total", "Failed pops in this process.", "counter", 0, m->pop_failures },
		{ "pexipsdk_replenished_total", "Rooms created for the pool by this process.", "counter", 0, m->replenished },
		{ "pexipsdk_replenish_failures_total", "Failed room creations in this process.", "counter", 0, m->replenish_failures },
		{ "pexipsdk_deleted_total", "Rooms deleted by this process.", "counter", 0, m->deleted },
		{ "pexipsdk_delete_failures_total", "Failed deletions in this process.", "counter", 0, m->delete_failures },
		{ "pexipsdk_events_total", "Event-sink events handled by this process.", "counter", 0, m->events },
		{ "pexipsdk_events_unknown_total", "Unknown event-sink events seen by this process.", "counter", 0, m->events_unknown },
		{ "pexipsdk_events_foreign_total", "conference_ended events for services the pool does not own (never scheduled).", "counter", 0, m->events_foreign },
	};
	size_t i;
	int err = 0;
	pex__buf_clear(out);
	if (format == PEX_METRICS_JSON)
		err = pex__buf_putc(out, '{');
	for (i = 0; i < PEX__ARRAY_SIZE(rows) && err == 0; i++) {
		int gauge = rows[i].type[0] == 'g';
		if (format == PEX_METRICS_JSON) {
			/* "pexipsdk_pool_depth" -> "pool_depth"; counters drop "_total" */
			const char *key = rows[i].name + strlen("pexipsdk_");
			size_t kl = strlen(key) - (gauge ? 0 : strlen("_total"));
			err = gauge ? pex__buf_printf(out, "%s\"%.*s\": %lld", i ? ", " : "", (int)kl, key, rows[i].gauge)
				: pex__buf_printf(out, "%s\"%.*s\": %llu", i ? ", " : "", (int)kl, key, rows[i].counter);
		} else {
			err = gauge ? pex__buf_printf(out, "# HELP %s %s\n# TYPE %s gauge\n%s %lld\n",
					rows[i].name, rows[i].help, rows[i].name, rows[i].name, rows[i].gauge)
				: pex__buf_printf(out, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n",
					rows[i].name, rows[i].help, rows[i].name, rows[i].name, rows[i].counter);
		}
	}
	if (err == 0 && format == PEX_METRICS_JSON)
		err = pex__buf_puts(out, "}\n");
	return err;
}

int pex_metrics_format_write(pex_buf *out, const pex_pool_metrics *m, pex_metrics_format format)
{
	/* checked before the table above reads *m */
	if (!out || !m)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pex_metrics_format_write: no output or metrics");
	return metrics_format_impl(out, m, format);
}
