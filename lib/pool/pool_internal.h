/* Internal view of pex_pool, shared by every file of lib/pool. */
#ifndef PEX_POOL_INTERNAL_H
#define PEX_POOL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "internal.h"
#include "pexipsdk/pool.h"
#include "pexipsdk/event.h"
#include "pexipsdk/gc.h"
#include "pexipsdk/metrics.h"
#include "pexipsdk/room.h"
#include "pool/lifecycle.h"
#include "pool/poolmsg.h"

#include <json-c/json.h>

/*
 * The rule for a pool name prefix (pex_pool_options.name_prefix,
 * pool.name_prefix): NULL when @p s is fine, else what it breaks. The pool
 * and the configuration schema both apply it, so config check refuses what
 * the pool would.
 */
const char *pex__pool_name_prefix_rule(const char *s);

/* A room taken off the pool queue ahead of a pop (pex_pool_prefetch). */
struct pex__held_room {
	struct pex__room_ref ref;      /* id and guest PIN always known */
	long long held_at;             /* Unix seconds it was taken */
};

struct pex_pool {
	pex_client *client;
	pex_queue *pool_q;
	pex_queue *del_q;
	int owns;                      /* created by pex_pool_new_from_config */

	/* options, with every string owned by the pool */
	pex_pool_options o;
	char *name_prefix, *service_type, *alias_domain, *description, *url_template;
	char **allowed_hosts;
	size_t nallowed;
	char *protected_prefixes[PEX_POOL_MAX_PROTECTED];
	size_t nprotected;
	char *owned_prefixes[PEX_POOL_MAX_OWNED];
	size_t nowned;

	const pex__logger *log;        /* the client's logger */

	/* rooms taken off the queue ahead of pops (pex_pool_prefetch) */
	pthread_mutex_t held_lock;
	int held_lock_ok;
	struct pex__held_room held[PEX_POOL_PREFETCH_MAX];
	size_t nheld;
	int prefetching;               /* one prefetcher at a time */
	atomic_llong hold_max_s;       /* the hold limit: PEX__POOL_HOLD_MAX_S (tests shorten it) */

	/* the maintenance timer (maintenance.c) */
	pthread_t tick_thread;
	pthread_mutex_t tick_lock;
	pthread_cond_t tick_cond;
	int tick_started;              /* tick_thread runs; tick_lock and tick_cond exist */
	int tick_stop, tick_wake;      /* under tick_lock */
	unsigned tick_ms;              /* under tick_lock: PEX__POOL_TICK_MS (tests shorten it) */
	unsigned long long ticks_done; /* under tick_lock: ticks run so far */

	atomic_ullong pops, pop_failures, replenished, replenish_failures;
	atomic_ullong deleted, delete_failures, events, events_unknown, events_foreign;
};

/* Put held rooms back on the queue: all beyond the first @p keep, and any
 * held since before @p older_than (Unix seconds; 0 = none by age). A room
 * that cannot be put back is logged and left to the orphan sweep. */
void pex__pool_release_held(pex_pool *p, size_t keep, long long older_than);
/* How many rooms the pool holds now (pex_pool_held() without the checks). */
size_t pex__pool_nheld(pex_pool *p);
/* Start the pool's maintenance thread (pex_pool_new) / stop and join it
 * (pex_pool_free; a no-op when it never started). */
int pex__pool_maintenance_start(pex_pool *p);
void pex__pool_maintenance_stop(pex_pool *p);
/* Tests: set the tick period and the hold limit, and run a tick now. */
void pex__pool_maintenance_set(pex_pool *p, unsigned tick_ms, long long hold_max_s);
/* Tests: how many ticks have run to the end. */
unsigned long long pex__pool_maintenance_ticks(pex_pool *p);
/* A maintenance tick: put back the held rooms past the hold limit and hold
 * fresh ones in their place (handout.c). 0 or a negative error. */
int pex__pool_rotate_held(pex_pool *p);
/* Add the names of the rooms this pool holds (pex_pool_prefetch) to the
 * json object @p set as keys. */
int pex__pool_held_names(pex_pool *p, json_object *set);
/* 1 if @name starts with a protected prefix. */
int pex__pool_is_protected(const pex_pool *p, const char *name);
/* Does the pool own room @p name (docs/DECISIONS.md #47)? 1 if the name
 * starts with pool.name_prefix or a gc.owned_prefixes prefix and, when
 * @p service_type is not NULL (an event's data.service_type), it equals
 * pool.room.service_type. The one rule for events, GC and the orphan
 * sweep; callers check protected prefixes first (they win). */
int pex__pool_owns(const pex_pool *p, const char *name, const char *service_type);
/* Run fn(i, arg) for i in [0, n) on up to 2 x max_concurrency threads (at least 1;
 * Pexip requests in flight stay bounded by the client).
 * Returns the first negative value any call returned, else 0. */
int pex__pool_parallel(pex_pool *p, size_t n, int (*fn)(pex_pool *p, size_t i, void *arg), void *arg);

#endif
