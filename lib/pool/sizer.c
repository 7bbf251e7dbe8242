/*
 * The self-sizing pool at run time (docs/DECISIONS.md #64): the demand
 * recorded at each hand-out, the target depth, a pop waiting for a room on
 * its way, when to try again, and the status figures. The model itself
 * (formulae, no clock, no locks) is sizing.c.
 */
#include <math.h>
#include <time.h>

#include "pool/pool_internal.h"
#include "http/http_internal.h"
#include "pexip/client_internal.h"

static _Thread_local long long tl_retry_after;

/* How often a waiting pop looks at the queue for rooms other processes
 * queued (their creates signal nothing here). */
#define PEX__POOL_POLL_MS 50

int pex__pool_sizer_init(pex_pool *p)
{
	pthread_condattr_t ca;
	int ok;

	pex__sizing_init(&p->sz);
	pex__sizing_fast_over(&p->sz, p->o.ready_after_s);
	p->global_now = p->global_minute = 0;
	p->waiting = 0;
	atomic_init(&p->max_waiting, 0);
	p->coming_at_ms = -1;
	p->coming_count = p->coming_ready_ms = -1;
	atomic_init(&p->creating, 0);
	atomic_init(&p->shrunk, 0);
	if (pthread_mutex_init(&p->size_lock, NULL) != 0)
		return pex_error_set(PEX_ERROR, PEX_ERROR_CLASS_OS, "pex_pool_new: cannot create a mutex");
	ok = pthread_condattr_init(&ca) == 0;
	ok = ok && pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
		pthread_cond_init(&p->room_queued, &ca) == 0;
	pthread_condattr_destroy(&ca);
	if (!ok) {
		pthread_mutex_destroy(&p->size_lock);
		return pex_error_set(PEX_ERROR, PEX_ERROR_CLASS_OS, "pex_pool_new: cannot create a condition variable");
	}
	p->size_lock_ok = 1;
	return 0;
}

void pex__pool_sizer_dispose(pex_pool *p)
{
	if (!p->size_lock_ok)
		return;
	pthread_cond_destroy(&p->room_queued);
	pthread_mutex_destroy(&p->size_lock);
	p->size_lock_ok = 0;
}

void pex__pool_demanded(pex_pool *p, unsigned n)
{
	pthread_mutex_lock(&p->size_lock);
	pex__sizing_demand(&p->sz, (long long)pex__now_ms(), n);
	pthread_mutex_unlock(&p->size_lock);
}

void pex__pool_create_begin(pex_pool *p)
{
	atomic_fetch_add(&p->creating, 1);
}

void pex__pool_create_end(pex_pool *p, double took_s, int queued)
{
	pthread_mutex_lock(&p->size_lock);
	if (took_s >= 0)
		pex__sizing_create_took(&p->sz, took_s);
	atomic_fetch_sub(&p->creating, 1);
	if (queued) {
		if (p->coming_count >= 0)
			p->coming_count++;       /* one more maturing than Pexip last said */
		pthread_cond_broadcast(&p->room_queued);
	}
	pthread_mutex_unlock(&p->size_lock);
}

static double larger(double a, double b)
{
	return a > b ? a : b;
}

/* The demand with size_lock held: this process's own pops, or the
 * deployment's hand-outs as last counted on Pexip when that is more. Now
 * (@p keep 0): the fast average and the short count, what the pool grows
 * to. Kept (@p keep 1): the larger of every view, what keeps rooms from
 * shrinking (docs/DECISIONS.md #64). */
static double rate_locked(pex_pool *p, long long now_ms, int keep)
{
	if (!keep)
		return larger(pex__sizing_rate_now(&p->sz, now_ms), p->global_now);
	return larger(larger(pex__sizing_rate(&p->sz, now_ms), p->global_now), p->global_minute);
}

/* The target with size_lock held (@p keep as above). */
static unsigned target_locked(pex_pool *p, long long now_ms, int keep)
{
	if (p->o.max_depth <= p->o.depth)
		return p->o.depth;             /* fixed depth: nothing to measure */
	return pex__sizing_target(rate_locked(p, now_ms, keep),
		pex__sizing_lead_s(&p->sz, p->o.ready_after_s), p->o.depth, p->o.max_depth);
}

static unsigned target_of(pex_pool *p, int keep)
{
	unsigned t;
	pthread_mutex_lock(&p->size_lock);
	t = target_locked(p, (long long)pex__now_ms(), keep);
	pthread_mutex_unlock(&p->size_lock);
	return t;
}

unsigned pex__pool_target(pex_pool *p)
{
	return target_of(p, 0);
}

void pex__pool_coming(pex_pool *p, long long *count, long long *next_in_s)
{
	long long now = (long long)pex__now_ms(), n = -1, in = -1;
	int fresh;

	pthread_mutex_lock(&p->size_lock);
	fresh = p->coming_at_ms >= 0 && now - p->coming_at_ms < PEX__POOL_COMING_CACHE_MS;
	if (fresh) {
		n = p->coming_count;
		if (p->coming_ready_ms >= 0)
			in = p->coming_ready_ms > now ? (p->coming_ready_ms - now + 999) / 1000 : 1;
	}
	pthread_mutex_unlock(&p->size_lock);
	if (!fresh) {
		/* several pops may ask at once when it runs out: each answer is as good */
		if (pex__pool_maturing(p, p->fg, &n, &in) < 0)
			n = in = -1;
		pthread_mutex_lock(&p->size_lock);
		p->coming_at_ms = now;
		p->coming_count = n;
		p->coming_ready_ms = in > 0 ? now + in * 1000 : -1;
		pthread_mutex_unlock(&p->size_lock);
	}
	*count = n;
	*next_in_s = in;
}

int pex__pool_wait_room(pex_pool *p, long long deadline_ms, long long next_in_s, long long coming)
{
	long long now = (long long)pex__now_ms(), until = -1, poll = -1, on_way = 0;
	long long cap = (long long)atomic_load(&p->max_waiting);
	struct timespec ts;

	if (now >= deadline_ms)
		return 0;
	pthread_mutex_lock(&p->size_lock);
	/* a create of ours queues its room visible at once only without
	 * ready_after_s; else its room is a maturing one (next_in_s) */
	if (p->o.ready_after_s == 0 && atomic_load(&p->creating) > 0) {
		until = deadline_ms;
		on_way = atomic_load(&p->creating);
	}
	/* under load, other processes on the queue are replacing rooms too,
	 * which nothing here signals: look again every PEX__POOL_POLL_MS,
	 * as many pops at once as Pexip takes creates at once */
	if (p->o.ready_after_s == 0 && rate_locked(p, now, 0) > 0) {
		poll = now + PEX__POOL_POLL_MS < deadline_ms ? now + PEX__POOL_POLL_MS : deadline_ms;
		until = until < 0 || poll < until ? poll : until;
		on_way += pex__client_max_concurrency(p->fg);
	}
	if (next_in_s > 0 && now + next_in_s * 1000 <= deadline_ms &&
	    (until < 0 || now + next_in_s * 1000 < until)) {
		until = now + next_in_s * 1000;
		on_way += coming > 0 ? coming : 1;      /* unknown: the one known to be next */
	}
	/* a pop waits only for a room no other waiting pop will take first:
	 * the rest are answered at once (and hold no server thread meanwhile) */
	if (cap > 0 && on_way > cap)
		on_way = cap;
	if (until < 0 || (long long)p->waiting >= on_way) {
		pthread_mutex_unlock(&p->size_lock);
		return 0;
	}
	if (poll < 0 || until != poll)
		pex__log(p->log, PEX_LOG_DEBUG, "the pool is empty: waiting up to %lld ms for a room on its way",
			until - now);
	/* woken early by a room of ours, or at the time: look again either way */
	ts.tv_sec = (time_t)(until / 1000);
	ts.tv_nsec = (long)(until % 1000) * 1000000L;
	p->waiting++;
	pthread_cond_timedwait(&p->room_queued, &p->size_lock, &ts);
	p->waiting--;
	pthread_mutex_unlock(&p->size_lock);
	return 1;
}

int pex_pool_set_max_waiting(pex_pool *p, unsigned n)
{
	if (!p)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pex_pool_set_max_waiting: no pool");
	atomic_store(&p->max_waiting, n);
	return 0;
}

long long pex__pool_retry_in(pex_pool *p, long long next_in_s)
{
	double lead;
	if (next_in_s > 0)
		return next_in_s;
	/* nothing known to be maturing: a room made now (the pop's top-up) */
	pthread_mutex_lock(&p->size_lock);
	lead = pex__sizing_lead_s(&p->sz, p->o.ready_after_s);
	pthread_mutex_unlock(&p->size_lock);
	return lead < 1 ? 1 : (long long)ceil(lead);
}

void pex__pool_set_retry_after(long long s)
{
	tl_retry_after = s;
}

long long pex_pool_retry_after(void)
{
	return tl_retry_after;
}

void pex__pool_sizing_metrics(pex_pool *p, pex_metrics *m)
{
	long long now = (long long)pex__now_ms(), ready;

	pthread_mutex_lock(&p->size_lock);
	m->demand_rate = rate_locked(p, now, 0);
	m->target_depth = (long long)target_locked(p, now, 0);
	pthread_mutex_unlock(&p->size_lock);
	ready = m->pool_maturing >= 0 ? m->pool_depth - m->pool_maturing : -1;
	m->empty_in_s = ready < 0 ? -1 : pex__sizing_empty_in_s(ready, m->demand_rate);
	m->shrunk = atomic_load(&p->shrunk);
}

int pex__pool_sense_demand(pex_pool *p, int minute, long long *newest)
{
	long long recent = 0, window = minute ? PEX__POOL_DEMAND_WINDOW_S : PEX__POOL_DEMAND_NOW_S;
	if (pex__pool_created_since(p, p->bg, PEX__POOL_DEMAND_MARK, pex__unix_time() - window,
			&recent, NULL, minute ? newest : NULL) < 0)
		return -1;
	pthread_mutex_lock(&p->size_lock);
	if (minute)
		p->global_minute = (double)recent / (double)window;
	else
		p->global_now = (double)recent / (double)window;
	pthread_mutex_unlock(&p->size_lock);
	return 0;
}

static void sense_or_log(pex_pool *p, int minute, long long *newest)
{
	if (pex__pool_sense_demand(p, minute, newest) < 0)
		pex__log(p->log, PEX_LOG_DEBUG, "sizing: the deployment's demand is unknown (%s); "
			"this process's own counts", pex_error_last()->message);
}

/*
 * One step of the self-sizing pool. Each process decides alone from what
 * they all share (docs/DECISIONS.md #64): the pool queue's count, and the
 * replacement rooms every process made lately, counted on Pexip by their
 * names. It grows to the demand of now; it shrinks only what the demand
 * of the last minute does not need either, after the cool-down.
 */
static int resize_step(pex_pool *p, size_t *created, size_t *removed)
{
	long long now = (long long)pex__now_ms(), have, newest = -1, idle;
	int growing = p->o.max_depth > p->o.depth, quiet, err;
	unsigned target, cut;
	size_t n = 0;

	/* never low (a room a prefetch moves may count twice): growth errs
	 * on the side of fewer rooms; each removal counts again the other way */
	if ((err = pex__pool_depth(&n, p)) < 0)
		return err;
	have = (long long)(n + atomic_load(&p->creating));
	if (growing)
		sense_or_log(p, 0, NULL);
	target = pex__pool_target(p);
	pthread_mutex_lock(&p->size_lock);
	if (have <= (long long)target)
		pex__sizing_shrink(&p->sz, now, have, target, 0, p->o.cooldown_s);   /* none running */
	pthread_mutex_unlock(&p->size_lock);
	if (have < (long long)target)
		return growing ? pex__pool_grow(p, (size_t)(target - have), created) : 0;
	if (have == (long long)target)
		return 0;
	/* above what the pool grows to: does the last minute still need them,
	 * and is it quiet everywhere? */
	sense_or_log(p, 1, &newest);
	target = target_of(p, 1);
	pthread_mutex_lock(&p->size_lock);
	/* quiet: no pop here, and no replacement made anywhere (when
	 * Pexip can say), within the cool-down */
	idle = pex__sizing_idle_ms(&p->sz, now);
	quiet = (idle < 0 || idle >= (long long)p->o.cooldown_s * 1000) &&
		(newest < 0 || newest < pex__unix_time() - (long long)p->o.cooldown_s);
	cut = pex__sizing_shrink(&p->sz, now, have, target, quiet, p->o.cooldown_s);
	pthread_mutex_unlock(&p->size_lock);
	for (; cut > 0; cut--) {
		if ((err = pex__pool_remove_one(p, target)) < 0)
			return err;
		if (err == 0)
			break;              /* none visible, or at the target already */
		if (removed)
			(*removed)++;
	}
	return 0;
}

int pex_pool_resize(size_t *created, size_t *removed, pex_pool *p)
{
	if (created)
		*created = 0;
	if (removed)
		*removed = 0;
	if (!p)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pex_pool_resize: no pool");
	return resize_step(p, created, removed);
}
