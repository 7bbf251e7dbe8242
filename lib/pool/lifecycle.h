/*
 * The life of a pool room, and every age rule that keeps it safe
 * (docs/DECISIONS.md #10, #49, #60). Internal.
 *
 * States (a room is in exactly one; only the arrows shown happen):
 *
 *   maturing    on the pool queue, invisible: younger than pool.ready_after_s
 *               (Pexip is still replicating it), written by replenish
 *        |      ready_after_s + 1 s later
 *        v
 *   pooled      on the pool queue, visible: may be handed out
 *        |      a pop or pex_pool_prefetch() leases its message (pool.lease_s)
 *        v
 *   leased      its message leased; back to pooled when the lease runs out
 *        |      the message is deleted: the room is this process's alone
 *        v
 *   held        off the queue, in this process only (pex_pool_prefetch):
 *        |      back to pooled after the hold limit (the maintenance tick)
 *        v
 *   handed out  tagged and given to one caller
 *        |      its conference ends: an event puts it on the deletion queue
 *        v
 *   ending      on the deletion queue for gc.delay_s (postponed while live)
 *        |      GC deletes it on Pexip
 *        v
 *   deleted
 *
 *   orphan      on no queue and held by no one it can see (a crash between
 *               steps, a room never used): the orphan sweep deletes it once
 *               it is older than gc.orphan_max_age_s and not live.
 *
 * A pooled room older than the stale age (orphan_max_age_s - the stale
 * margin) is recycled (put on the deletion queue) instead of being held or
 * handed out, so a handed-out room is young for at least the stale margin
 * and a held room (handed out or put back within the hold limit) never
 * reaches orphan_max_age_s: an orphan sweep on another host, which cannot
 * see this process's held rooms, never takes it. That holds only when
 * orphan_max_age_s leaves room for readiness, the hold limit and the
 * margin: pex__lifecycle_ages_rule() says so, and both the configuration
 * and pex_pool_new() refuse what breaks it.
 */
#ifndef PEX_POOL_LIFECYCLE_H
#define PEX_POOL_LIFECYCLE_H

#include <stddef.h>

/* A pooled room this close to orphan_max_age_s is recycled, not handed
 * out: a handed-out room has at least this long to become live before an
 * orphan sweep may take it. */
#define PEX__POOL_STALE_MARGIN_S 3600

/* A held room goes back to the queue after this long (the pool's default
 * hold limit; the maintenance tick enforces it). Shorter than the stale
 * margin, so a held room never grows old enough for an orphan sweep. */
#define PEX__POOL_HOLD_MAX_S 300

/* The maintenance tick's period (see maintenance.c): a held room goes
 * back at most this long after its hold limit. */
#define PEX__POOL_TICK_MS 10000

/* A room whose tag PATCH failed in a way that may still reach Pexip goes
 * back to the pool invisible for this long (docs/DECISIONS.md #10): longer
 * than any request of ours can stay in flight (timeouts and retries). */
#define PEX__POOL_UNSURE_TAG_DELAY_S 300

/*
 * The rule gc.orphan_max_age_s and pool.ready_after_s must keep together:
 * orphan_max_age_s is 0 (no age limit: a one-off sweep when no pool
 * process runs) or more than ready_after_s + the stale margin + the hold
 * limit. NULL when they keep it, else a sentence naming both keys and
 * their values, written into @p why.
 */
const char *pex__lifecycle_ages_rule(long long orphan_max_age_s, long long ready_after_s,
	char *why, size_t why_size);

/* The age beyond which a pooled room is stale (recycled, never held or
 * handed out), or -1 when none is (orphan_max_age_s 0). */
long long pex__lifecycle_stale_age_s(long long orphan_max_age_s);

/* Is a room created at @p created (Unix seconds; <= 0 unknown) stale at
 * @p now? A room of unknown age never is. */
int pex__lifecycle_is_stale(long long orphan_max_age_s, long long created, long long now);

/*
 * Seconds until a room created at @p created (Unix seconds; <= 0 unknown)
 * may be handed out at @p now: 0 when it is ready (or its age is unknown: a
 * message without "created" whose room needs no lookup, from before
 * readiness). "created" is truncated to the second and taken after Pexip's
 * 201, Pexip's creation_time has microseconds: one more second covers both.
 */
long long pex__lifecycle_not_ready_for(long long ready_after_s, long long created, long long now);

/* How long a new room's pool message stays invisible: until it is ready. */
unsigned pex__lifecycle_maturing_delay_s(unsigned ready_after_s);

/* Is a room created at @p created (Unix seconds; < 0 unknown) old enough
 * at @p now to be an orphan? A room of unknown age never is. */
int pex__lifecycle_orphan_age(long long orphan_max_age_s, long long created, long long now);

/* The hold limit @p hold_max_s as a cut-off at @p now: a room held since
 * before it (Unix seconds) goes back to the queue. */
long long pex__lifecycle_held_before(long long hold_max_s, long long now);

#endif
