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

static _Thread_local long long tl_retry_after;

/* How often a waiting pop looks at the queue for rooms other processes
 * queued (their creates signal nothing here). */
#define PEX__POOL_POLL_MS 50

int pex__pool_sizer_init(pex_pool *p)
{
	pthread_condattr_t ca;
	int ok;

	pex__sizing_init(&p->sz);
	p->global_rate = 0;
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

void pex__pool_handed_out(pex_pool *p, unsigned n)
{
	pthread_mutex_lock(&p->size_lock);
	pex__sizing_handout(&p->sz, (long long)pex__now_ms(), n);
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
	if (queued)
		pthread_cond_broadcast(&p->room_queued);
	pthread_mutex_unlock(&p->size_lock);
}

/* The demand with size_lock held: this process's own hand-outs, or the
 * deployment's as last counted on Pexip when that is more. */
static double rate_locked(pex_pool *p, long long now_ms)
{
	double own = pex__sizing_rate(&p->sz, now_ms);
	return p->global_rate > own ? p->global_rate : own;
}

/* The target with size_lock held. */
static unsigned target_locked(pex_pool *p, long long now_ms)
{
	return pex__sizing_target(rate_locked(p, now_ms),
		pex__sizing_lead_s(&p->sz, p->o.ready_after_s), p->o.depth, p->o.max_depth);
}

unsigned pex__pool_target(pex_pool *p)
{
	unsigned t;
	if (p->o.max_depth <= p->o.depth)
		return p->o.depth;             /* fixed depth: nothing to measure */
	pthread_mutex_lock(&p->size_lock);
	t = target_locked(p, (long long)pex__now_ms());
	pthread_mutex_unlock(&p->size_lock);
	return t;
}

int pex__pool_wait_room(pex_pool *p, long long deadline_ms, long long next_in_s)
{
	long long now = (long long)pex__now_ms(), until = -1, poll = -1;
	struct timespec ts;

	if (now >= deadline_ms)
		return 0;
	pthread_mutex_lock(&p->size_lock);
	/* a create of ours queues its room visible at once only without
	 * ready_after_s; else its room is a maturing one (next_in_s) */
	if (p->o.ready_after_s == 0 && atomic_load(&p->creating) > 0)
		until = deadline_ms;
	/* under load, other processes on the queue are replacing rooms too,
	 * which nothing here signals: look again every PEX__POOL_POLL_MS */
	else if (p->o.ready_after_s == 0 && rate_locked(p, now) > 0)
		until = poll = now + PEX__POOL_POLL_MS < deadline_ms ? now + PEX__POOL_POLL_MS : deadline_ms;
	if (next_in_s > 0 && now + next_in_s * 1000 <= deadline_ms &&
	    (until < 0 || now + next_in_s * 1000 < until))
		until = now + next_in_s * 1000;
	if (until < 0) {
		pthread_mutex_unlock(&p->size_lock);
		return 0;
	}
	if (poll < 0)
		pex__log(p->log, PEX_LOG_INFO, "the pool is empty: waiting up to %lld ms for a room on its way",
			until - now);
	/* woken early by a room of ours, or at the time: look again either way */
	ts.tv_sec = (time_t)(until / 1000);
	ts.tv_nsec = (long)(until % 1000) * 1000000L;
	pthread_cond_timedwait(&p->room_queued, &p->size_lock, &ts);
	pthread_mutex_unlock(&p->size_lock);
	return 1;
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
	m->demand_rate = rate_locked(p, now);
	m->target_depth = (long long)(p->o.max_depth <= p->o.depth ? p->o.depth : target_locked(p, now));
	pthread_mutex_unlock(&p->size_lock);
	ready = m->pool_maturing >= 0 ? m->pool_depth - m->pool_maturing : -1;
	m->empty_in_s = ready < 0 ? -1 : pex__sizing_empty_in_s(ready, m->demand_rate);
	m->shrunk = atomic_load(&p->shrunk);
}

int pex__pool_sense_demand(pex_pool *p, long long *newest)
{
	long long recent = 0;
	if (pex__pool_created_since(p, p->bg, PEX__POOL_DEMAND_MARK, pex__unix_time() - PEX__POOL_DEMAND_WINDOW_S,
			&recent, NULL, newest) < 0)
		return -1;
	pthread_mutex_lock(&p->size_lock);
	p->global_rate = (double)recent / PEX__POOL_DEMAND_WINDOW_S;
	pthread_mutex_unlock(&p->size_lock);
	return 0;
}

/*
 * One step of the self-sizing pool. Each process decides alone from what
 * they all share (docs/DECISIONS.md #64): the pool queue's count, and the
 * replacement rooms every process made in the last
 * PEX__POOL_DEMAND_WINDOW_S, counted on Pexip by their names.
 */
static int resize_step(pex_pool *p, size_t *created, size_t *removed)
{
	long long now = (long long)pex__now_ms(), have, newest = -1, idle;
	int growing = p->o.max_depth > p->o.depth, quiet, err;
	unsigned target, cut;
	size_t n = 0;

	if ((err = pex_queue_count(&n, p->pool_q)) < 0)
		return err;
	have = (long long)(n + pex__pool_nheld(p) + atomic_load(&p->creating));
	target = pex__pool_target(p);
	if (growing || have > (long long)target) {
		/* the deployment's demand: needed to grow, and to know it is quiet */
		if (pex__pool_sense_demand(p, &newest) == 0)
			target = pex__pool_target(p);
		else
			pex__log(p->log, PEX_LOG_DEBUG, "sizing: the deployment's demand is unknown (%s); "
				"this process's own counts", pex_error_last()->message);
	}
	if (growing && have < (long long)target) {
		pthread_mutex_lock(&p->size_lock);
		pex__sizing_shrink(&p->sz, now, have, target, 0, p->o.cooldown_s);     /* below: none running */
		pthread_mutex_unlock(&p->size_lock);
		return pex__pool_grow(p, (size_t)(target - have), created);
	}
	pthread_mutex_lock(&p->size_lock);
	/* quiet: no hand-out here, and no replacement made anywhere (when
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
