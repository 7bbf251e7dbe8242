/* The room pool: construction and configuration, and the helpers every
 * part of the pool shares (ownership, Pexip times). Hand-out lives in
 * handout.c, replenish/fill/drain in replenish.c, metrics in metrics.c,
 * events and GC in events.c, gc.c and gc_orphans.c. */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "pool/pool_internal.h"
#include "pexip/client_internal.h"

/* ---- options ---- */

int pex_pool_options_init(pex_pool_options *opts, unsigned int version)
{
	static const pex_pool_options init = PEX_POOL_OPTIONS_INIT;
	return PEX__STRUCT_INIT(opts, init, version, PEX_POOL_OPTIONS_VERSION, "pex_pool_options");
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

void pex_pool_free(pex_pool *p)
{
	if (!p)
		return;
	pex__pool_maintenance_stop(p);        /* no tick runs from here on */
	if (p->held_lock_ok) {
		pex__pool_release_held(p, 0, 0);       /* held rooms go back to the queue */
		pthread_mutex_destroy(&p->held_lock);
		pthread_mutex_destroy(&p->depth_lock);
	}
	pex__pool_sizer_dispose(p);
	if (p->owns) {
		pex_queue_free(p->pool_q);
		pex_queue_free(p->del_q);
		pex_client_free(p->fg);
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

/* The options' rules that need no I/O; 0 or PEX_EINVAL naming the key. */
static int check_options(const pex_pool_options *o, pex_queue *pool_queue, pex_queue *deletion_queue)
{
	const char *why;
	size_t i;
	char text_why[96], ages_why[400];

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
	if (o->max_depth > 100000 || (o->max_depth && o->max_depth < o->depth))
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pool.max_depth must be 0 (off) or from pool.depth (%u) to 100000 rooms, got %u",
			o->depth, o->max_depth);
	if (o->cooldown_s > 86400)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pool.cooldown_s must be from 0 to 86400 seconds");
	if (o->wait_ms > 60000)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pool.wait_ms must be from 0 to 60000 milliseconds");
	if (pex__lifecycle_ages_rule(o->orphan_max_age_s, o->ready_after_s, ages_why, sizeof(ages_why)))
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "%s", ages_why);
	if (strcmp(pex_queue_name(pool_queue), pex_queue_name(deletion_queue)) == 0)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pool.queue and gc.queue must be different queues (both are '%s')",
			pex_queue_name(pool_queue));
	return 0;
}

int pex_pool_new(pex_pool **out, pex_client *client, pex_queue *pool_queue,
	pex_queue *deletion_queue, const pex_pool_options *o)
{
	static const pex_pool_options defaults = PEX_POOL_OPTIONS_INIT;
	pex_pool_options v;
	pex_pool *p;
	size_t i;
	int err;

	if (!out || !client || !pool_queue || !deletion_queue)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pex_pool_new needs a client and two queues");
	*out = NULL;
	if (!o)
		o = &defaults;
	if ((err = pex__version_check(o->version, PEX_POOL_OPTIONS_VERSION, "pex_pool_options")) < 0)
		return err;
	/* a version 1 caller's struct ends before owned_prefixes: the rest keeps its defaults */
	v = defaults;
	memcpy(&v, o, o->version >= 2 ? sizeof(v) : offsetof(pex_pool_options, owned_prefixes));
	o = &v;
	if ((err = check_options(o, pool_queue, deletion_queue)) < 0)
		return err;

	p = pex__calloc(1, sizeof(*p));
	if (!p)
		return PEX_ENOMEM;
	p->fg = client;
	p->bg = pex__client_background(client);
	p->pool_q = pool_queue;
	p->del_q = deletion_queue;
	p->o = *o;
	p->log = pex__client_logger(client);
	atomic_init(&p->hold_max_s, PEX__POOL_HOLD_MAX_S);
	if ((err = pthread_mutex_init(&p->held_lock, NULL)) != 0 ||
	    pthread_mutex_init(&p->depth_lock, NULL) != 0) {
		if (err == 0)
			pthread_mutex_destroy(&p->held_lock);
		free(p);
		return pex_error_set(PEX_ERROR, PEX_ERROR_CLASS_OS, "pex_pool_new: cannot create a mutex");
	}
	p->held_lock_ok = 1;
	if ((err = pex__pool_sizer_init(p)) < 0)
		goto fail;
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
	if ((err = pex__pool_maintenance_start(p)) < 0)
		goto fail;
	*out = p;
	return 0;
fail:
	pex_pool_free(p);
	return err;
}

pex_client *pex_pool_client(pex_pool *p)
{
	return p ? p->fg : NULL;
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
	if ((err = pex_tag_rules_from_config(&o.tag, cfg)) < 0)
		return err;
	GET_INT("gc.delay_s", o.gc_delay_s, unsigned);
	GET_INT("gc.orphan_max_age_s", o.orphan_max_age_s, unsigned);
	GET_INT("pool.lease_s", o.lease_s, unsigned);
	GET_INT("pool.ready_after_s", o.ready_after_s, unsigned);
	GET_INT("pool.max_depth", o.max_depth, unsigned);
	GET_INT("pool.wait_ms", o.wait_ms, unsigned);
	GET_INT("pool.cooldown_s", o.cooldown_s, unsigned);
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

