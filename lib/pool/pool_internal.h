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
#include "pool/sizing.h"

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
	/* The caller's client (pex_pool_client) and its background view. No
	 * field is simply "the client": each request names its class. fg: the
	 * hand-outs (pop) and what the caller waits on (pex_pool_maturing);
	 * bg: bulk work (replenish, fill, prefetch, drain, metrics, GC, the
	 * maintenance tick, resizing), docs/DECISIONS.md #15 and #66. */
	pex_client *fg;
	pex_client *bg;
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
	int held_lock_ok;              /* held_lock and depth_lock exist */
	struct pex__held_room held[PEX_POOL_PREFETCH_MAX];
	size_t nheld;
	int prefetching;               /* one prefetcher at a time */
	/* under held_lock: rooms on their way between the pool queue and
	 * held[], still the pool's (pex__pool_depth) */
	size_t moving;
	/* a depth reading (pex__pool_depth) against a room's return to the
	 * queue; taken before held_lock, never by a pop */
	pthread_mutex_t depth_lock;
	atomic_llong hold_max_s;       /* the hold limit: PEX__POOL_HOLD_MAX_S (tests shorten it) */

	/* the maintenance timer (maintenance.c) */
	pthread_t tick_thread;
	pthread_mutex_t tick_lock;
	pthread_cond_t tick_cond;
	int tick_started;              /* tick_thread runs; tick_lock and tick_cond exist */
	int tick_stop, tick_wake;      /* under tick_lock */
	unsigned tick_ms;              /* under tick_lock: PEX__POOL_TICK_MS (tests shorten it) */
	unsigned long long ticks_done; /* under tick_lock: ticks run so far */

	/* the self-sizing pool (sizer.c): the model's state under size_lock;
	 * room_queued (CLOCK_MONOTONIC) is signalled when a create of this
	 * process queued its room */
	pthread_mutex_t size_lock;
	pthread_cond_t room_queued;
	int size_lock_ok;
	struct pex__sizing sz;
	atomic_uint creating;          /* room creates in flight in this process */
	double global_now, global_minute; /* the deployment's hand-outs/s as last counted on Pexip,
	                                     over PEX__POOL_DEMAND_NOW_S and PEX__POOL_DEMAND_WINDOW_S */
	unsigned waiting;              /* pops waiting for a room on its way */
	atomic_uint max_waiting;       /* pex_pool_set_max_waiting() (0: no limit) */
	/* the pool's maturing rooms as last asked of Pexip (pex__pool_coming) */
	long long coming_at_ms, coming_count, coming_ready_ms;
	atomic_ullong shrunk;          /* rooms removed by shrinking */

	atomic_ullong pops, pop_failures, replenished, replenish_failures;
	atomic_ullong deleted, delete_failures, events, events_unknown, events_foreign;
};

/* Put held rooms back on the queue: all beyond the first @p keep, and any
 * held since before @p older_than (Unix seconds; 0 = none by age). A room
 * that cannot be put back is logged and left to the orphan sweep. */
void pex__pool_release_held(pex_pool *p, size_t keep, long long older_than);
/* How many rooms the pool holds now (pex_pool_held() without the checks). */
size_t pex__pool_nheld(pex_pool *p);
/* The pool's rooms as this process sees them: the queue's count, the held
 * rooms and those moving between the two. A room is never missed; one
 * moving may be counted twice. 0 or the queue's error (*out then counts
 * the held rooms only). */
int pex__pool_depth(size_t *out, pex_pool *p);
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
/* The pool's maturing rooms, asked of Pexip through @p c (handout.c). */
int pex__pool_maturing(pex_pool *p, pex_client *c, long long *count, long long *next_in);
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
/*
 * Pool rooms on Pexip whose names start with pool.name_prefix + @p marker
 * ("" for all) created at or after @p since (Unix seconds): *count (may be
 * NULL) how many, *oldest or else *newest (either may be NULL; not both
 * set) the oldest or newest one's creation time (-1: none). One Pexip
 * request; 0, or -1 when Pexip could not say (the thread's error says why;
 * a refused creation_time filter is one).
 */
int pex__pool_created_since(pex_pool *p, pex_client *c, const char *marker, long long since,
	long long *count, long long *oldest, long long *newest);

/* ---- the self-sizing pool (sizer.c, docs/DECISIONS.md #64) ---- */

/* Remove one room above @p target: 1 removed, 0 none (none visible, or
 * the pool is no longer above it), < 0 error. */
int pex__pool_remove_one(pex_pool *p, unsigned target);
/* Create @p n rooms for the pool that replace no hand-out (fill, growth),
 * as background work. */
int pex__pool_grow(pex_pool *p, size_t n, size_t *created);

/* The first character after pool.name_prefix of a room made to replace a
 * hand-out (pex_pool_replenish()); rooms made for any other reason (fill,
 * growth) never have it there. */
#define PEX__POOL_DEMAND_MARK "r"
/* The windows over which every process counts the deployment's
 * replacements on Pexip: its demand is that count / the window. The pool
 * grows to the demand of the short one and keeps rooms while the long one
 * needs them (docs/DECISIONS.md #64). */
#define PEX__POOL_DEMAND_NOW_S 10
#define PEX__POOL_DEMAND_WINDOW_S 60
/* A pop that finds the pool empty reuses what Pexip said of the maturing
 * rooms for this long rather than ask again (many pops find it empty at
 * once in a burst). */
#define PEX__POOL_COMING_CACHE_MS 500

int pex__pool_sizer_init(pex_pool *p);
void pex__pool_sizer_dispose(pex_pool *p);
/* @p n rooms were asked for (the demand: pops, served or not). */
void pex__pool_demanded(pex_pool *p, unsigned n);
/* A room create starts; it ended after @p took_s seconds (< 0: failed
 * before Pexip answered) and its room was queued (@p queued) or not. */
void pex__pool_create_begin(pex_pool *p);
void pex__pool_create_end(pex_pool *p, double took_s, int queued);
/* The depth the pool grows to now: pool.depth, or more with pool.max_depth. */
unsigned pex__pool_target(pex_pool *p);
/* The pool's maturing rooms (pex__pool_maturing() through the hand-out
 * client), asked of Pexip at most once per PEX__POOL_COMING_CACHE_MS:
 * *count how many (-1: unknown), *next_in_s the seconds until the oldest
 * is ready (-1: none). */
void pex__pool_coming(pex_pool *p, long long *count, long long *next_in_s);
/* A pop found no ready room: wait for one on its way (a create of this
 * process whose room is visible at once, a maturing room ready in
 * @p next_in_s seconds; @p coming of them, -1 unknown) until @p deadline_ms
 * (pex__now_ms()), unless as many pops already wait as rooms are coming.
 * 1 = look again, 0 = nothing is coming in time for this pop. */
int pex__pool_wait_room(pex_pool *p, long long deadline_ms, long long next_in_s, long long coming);
/* Seconds after which a pop may find a room, from what the pool knows
 * (@p next_in_s as above, -1 unknown); at least 1. */
long long pex__pool_retry_in(pex_pool *p, long long next_in_s);
/* Count the deployment's replacements on Pexip (one request) and keep the
 * demand they make: of the last PEX__POOL_DEMAND_NOW_S, or with @p minute
 * of the last PEX__POOL_DEMAND_WINDOW_S, and then *newest (may be NULL)
 * the newest one's creation time (-1: none). 0, or -1 when Pexip could
 * not say (the demand kept is unchanged). */
int pex__pool_sense_demand(pex_pool *p, int minute, long long *newest);
/* Fill the sizing fields of @p m (pool_depth and pool_maturing already in). */
void pex__pool_sizing_metrics(pex_pool *p, pex_metrics *m);
/* Remember @p s for pex_pool_retry_after() on this thread (0: none). */
void pex__pool_set_retry_after(long long s);

/* Unix seconds of a Pexip datetime ("2025-06-19T09:52:33.123456", naive = UTC); -1 if unparsable. */
long long pex__pexip_time(const char *s);

#endif
