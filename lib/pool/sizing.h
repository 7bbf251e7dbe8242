/*
 * The self-sizing pool's model (docs/DECISIONS.md #64), pure: no I/O, no
 * clock of its own, no locks (the pool holds its lock around every call).
 * Times are milliseconds of one monotonic clock chosen by the caller.
 */
#ifndef PEX_POOL_SIZING_H
#define PEX_POOL_SIZING_H

#include <stddef.h>

/* Time constants of the demand averages: a rate seen for this long counts
 * about 63 %. The pool grows on the fast one alone (a burst is seen within
 * seconds, and growth stops within seconds of its end) and keeps rooms
 * from shrinking while the larger of the two still needs them (a lull
 * between bursts does not shrink the pool). */
#define PEX__SIZING_TAU_S 30.0
#define PEX__SIZING_TAU_FAST_S 5.0
/* The fast one averages over no more than a room's lead time (at least
 * PEX__SIZING_TAU_FAST_MIN_S): averaging longer would delay growth more
 * than the maturing itself does (pex__sizing_fast_over()). */
#define PEX__SIZING_TAU_FAST_MIN_S 1.0
/* The target holds this many times the rooms one lead time consumes. */
#define PEX__SIZING_HEADROOM 1.5
/* The default cool-down (pool.cooldown_s): rooms above the target stay
 * this long before shrinking starts, and a replacement made by any process
 * within it postpones it. */
#define PEX__SIZING_COOLDOWN_S 60
/* Shrinking removes at most one room this often (in batches of at most
 * PEX__SIZING_SHRINK_BATCH when asked less often). */
#define PEX__SIZING_SHRINK_EVERY_MS 200LL
#define PEX__SIZING_SHRINK_BATCH 10
/* Before the first create is timed, a create is assumed to take this long. */
#define PEX__SIZING_CREATE_S_DEFAULT 0.5

struct pex__sizing {
	double rate, fast;           /* rooms asked for per second (slow, fast), as of rate_at_ms */
	double tau_fast;             /* the fast one's time constant, s (PEX__SIZING_TAU_FAST_S) */
	long long rate_at_ms;        /* when rate was last brought forward (-1: never) */
	long long asked_at_ms;       /* the last room asked for (-1: none) */
	double create_s;             /* smoothed seconds per room create (0: none timed) */
	long long above_since_ms;    /* since when the pool is above its target (-1: it is not) */
	long long shrunk_at_ms;      /* last room removed by shrinking (-1: none) */
};

void pex__sizing_init(struct pex__sizing *s);
/* Rooms are ready @p ready_after_s (pool.ready_after_s) + 1 s after their
 * create: the fast average's time constant becomes that, from
 * PEX__SIZING_TAU_FAST_MIN_S to PEX__SIZING_TAU_FAST_S. Before any demand. */
void pex__sizing_fast_over(struct pex__sizing *s, unsigned ready_after_s);
/* @p n rooms were asked for at @p now_ms (pops, whether they found a room
 * or not: a pool that runs dry must not read its shortfall as less demand). */
void pex__sizing_demand(struct pex__sizing *s, long long now_ms, unsigned n);
/* Milliseconds since the last room was asked for at @p now_ms (-1: none yet). */
long long pex__sizing_idle_ms(const struct pex__sizing *s, long long now_ms);
/* Smoothed rooms asked for per second at @p now_ms (decayed since the
 * last): the larger of the slow and the fast average (what keeps rooms). */
double pex__sizing_rate(const struct pex__sizing *s, long long now_ms);
/* The fast average alone (what the pool grows to). */
double pex__sizing_rate_now(const struct pex__sizing *s, long long now_ms);
/* One room create took @p seconds (the POST, Pexip's time). */
void pex__sizing_create_took(struct pex__sizing *s, double seconds);
/* Seconds from the decision to create a room until it can be handed out. */
double pex__sizing_lead_s(const struct pex__sizing *s, unsigned ready_after_s);
/*
 * The target depth: ceil(rate x lead_s x PEX__SIZING_HEADROOM), at least
 * @p floor and at most @p max (a max below the floor means the floor: off).
 */
unsigned pex__sizing_target(double rate, double lead_s, unsigned floor, unsigned max);
/* Seconds until @p ready rooms are gone at @p rate hand-outs/s: -1 when
 * the rate is (about) 0, 0 when none is ready. */
long long pex__sizing_empty_in_s(long long ready, double rate);
/*
 * How many rooms to remove now: @p have rooms (the pool's own
 * count), @p target as above, @p quiet = no replacement was made by any
 * process within the cool-down (the caller asked).
 * Removes nothing before the pool has been above the target for
 * @p cooldown_s, nothing below the target (so never below the
 * floor), and at most one room per PEX__SIZING_SHRINK_EVERY_MS since the
 * last answer above 0 (the first: 1; at most PEX__SIZING_SHRINK_BATCH),
 * whether the removals worked or not.
 */
unsigned pex__sizing_shrink(struct pex__sizing *s, long long now_ms, long long have,
	unsigned target, int quiet, unsigned cooldown_s);

#endif
