/*
 * The pool's maintenance timer (docs/DECISIONS.md #60): one thread per
 * pool, started by pex_pool_new() and stopped and joined by
 * pex_pool_free(), that runs every periodic piece of pool work in turn,
 * once per tick (PEX__POOL_TICK_MS), as background work: tick functions
 * send through the pool's background view (p->bg).
 * Callers need not call anything "often enough" for the pool's rules to
 * hold.
 *
 * Periodic pool work is one entry of ticks[] below: a function that looks
 * at the pool, does what is due (usually nothing), and returns 0 or a
 * negative error (logged; the next tick tries again). A tick function must
 * not block for long without reason: pex_pool_free() waits for the tick in
 * progress.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "pool/pool_internal.h"
#include "pexip/client_internal.h"

static const struct {
	const char *what;                /* for the log line when it fails */
	int (*fn)(pex_pool *p);
} ticks[] = {
	/* held rooms past the hold limit go back, fresh ones are held instead */
	{ "rotating held rooms", pex__pool_rotate_held },
};

static void run_ticks(pex_pool *p)
{
	size_t i;

	for (i = 0; i < PEX__ARRAY_SIZE(ticks); i++)
		if (ticks[i].fn(p) < 0)
			pex__log(p->log, PEX_LOG_WARN, "pool maintenance: %s: %s", ticks[i].what,
				pex_error_last()->message);
}

/* The end of the current tick period, on the monotonic clock. */
static struct timespec tick_deadline(unsigned ms)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += (time_t)(ms / 1000);
	t.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

static void *maintenance_main(void *arg)
{
	pex_pool *p = arg;

	pthread_mutex_lock(&p->tick_lock);
	while (!p->tick_stop) {
		struct timespec until = tick_deadline(p->tick_ms);
		int rc = 0;

		while (!p->tick_stop && !p->tick_wake && rc != ETIMEDOUT)
			rc = pthread_cond_timedwait(&p->tick_cond, &p->tick_lock, &until);
		if (p->tick_stop)
			break;
		p->tick_wake = 0;
		pthread_mutex_unlock(&p->tick_lock);
		run_ticks(p);
		pthread_mutex_lock(&p->tick_lock);
		p->ticks_done++;
	}
	pthread_mutex_unlock(&p->tick_lock);
	return NULL;
}

int pex__pool_maintenance_start(pex_pool *p)
{
	pthread_condattr_t ca;
	sigset_t all, was;
	int ok;

	p->tick_ms = PEX__POOL_TICK_MS;
	if (pthread_condattr_init(&ca) != 0)
		return pex_error_set(PEX_ERROR, PEX_ERROR_CLASS_OS, "pex_pool_new: cannot create a condition");
	ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
		pthread_cond_init(&p->tick_cond, &ca) == 0;
	pthread_condattr_destroy(&ca);
	if (!ok)
		return pex_error_set(PEX_ERROR, PEX_ERROR_CLASS_OS, "pex_pool_new: cannot create a condition");
	if (pthread_mutex_init(&p->tick_lock, NULL) != 0) {
		pthread_cond_destroy(&p->tick_cond);
		return pex_error_set(PEX_ERROR, PEX_ERROR_CLASS_OS, "pex_pool_new: cannot create a mutex");
	}
	/* A library thread takes no signal: a program that blocks SIGTERM to
	 * sigwait() for it after creating the pool must still get it. The new
	 * thread inherits this mask. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &was);
	ok = pthread_create(&p->tick_thread, NULL, maintenance_main, p) == 0;
	pthread_sigmask(SIG_SETMASK, &was, NULL);
	if (!ok) {
		pthread_mutex_destroy(&p->tick_lock);
		pthread_cond_destroy(&p->tick_cond);
		return pex_error_set(PEX_ERROR, PEX_ERROR_CLASS_OS,
			"pex_pool_new: cannot start the pool's maintenance thread");
	}
	p->tick_started = 1;
	return 0;
}

void pex__pool_maintenance_stop(pex_pool *p)
{
	if (!p->tick_started)
		return;
	pthread_mutex_lock(&p->tick_lock);
	p->tick_stop = 1;
	pthread_cond_signal(&p->tick_cond);
	pthread_mutex_unlock(&p->tick_lock);
	pthread_join(p->tick_thread, NULL);
	pthread_mutex_destroy(&p->tick_lock);
	pthread_cond_destroy(&p->tick_cond);
	p->tick_started = 0;
}

void pex__pool_maintenance_set(pex_pool *p, unsigned tick_ms, long long hold_max_s)
{
	atomic_store(&p->hold_max_s, hold_max_s);
	pthread_mutex_lock(&p->tick_lock);
	p->tick_ms = tick_ms;
	p->tick_wake = 1;
	pthread_cond_signal(&p->tick_cond);
	pthread_mutex_unlock(&p->tick_lock);
}

unsigned long long pex__pool_maintenance_ticks(pex_pool *p)
{
	unsigned long long n;

	pthread_mutex_lock(&p->tick_lock);
	n = p->ticks_done;
	pthread_mutex_unlock(&p->tick_lock);
	return n;
}
