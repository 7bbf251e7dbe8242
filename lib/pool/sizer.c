/*
 * The self-sizing pool at run time (docs/DECISIONS.md #59): the demand
 * recorded at each hand-out, the target depth, a pop waiting for a room on
 * its way, when to try again, and the status figures. The model itself
 * (formulae, no clock, no locks) is sizing.c.
 */
#include <math.h>
#include <time.h>

#include "pool/pool_internal.h"

static _Thread_local long long tl_retry_after;

int pex__pool_sizer_init(pex_pool *p)
{
	pthread_condattr_t ca;
	int ok;

	pex__sizing_init(&p->sz);
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

/* The target with size_lock held. */
static unsigned target_locked(pex_pool *p, long long now_ms)
{
	return pex__sizing_target(pex__sizing_rate(&p->sz, now_ms),
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
	long long now = (long long)pex__now_ms(), until = -1;
	struct timespec ts;

	if (now >= deadline_ms)
		return 0;
	pthread_mutex_lock(&p->size_lock);
	/* a create of ours queues its room visible at once only without
	 * ready_after_s; else its room is a maturing one (next_in_s) */
	if (p->o.ready_after_s == 0 && atomic_load(&p->creating) > 0)
		until = deadline_ms;
	if (next_in_s > 0 && now + next_in_s * 1000 <= deadline_ms &&
	    (until < 0 || now + next_in_s * 1000 < until))
		until = now + next_in_s * 1000;
	if (until < 0) {
		pthread_mutex_unlock(&p->size_lock);
		return 0;
	}
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

void pex__pool_sizing_metrics(pex_pool *p, pex_pool_metrics *m)
{
	long long now = (long long)pex__now_ms(), ready;

	pthread_mutex_lock(&p->size_lock);
	m->demand_rate = pex__sizing_rate(&p->sz, now);
	m->target_depth = (long long)(p->o.max_depth <= p->o.depth ? p->o.depth : target_locked(p, now));
	pthread_mutex_unlock(&p->size_lock);
	ready = m->pool_maturing >= 0 ? m->pool_depth - m->pool_maturing : -1;
	m->empty_in_s = ready < 0 ? -1 : pex__sizing_empty_in_s(ready, m->demand_rate);
	m->shrunk = atomic_load(&p->shrunk);
}
