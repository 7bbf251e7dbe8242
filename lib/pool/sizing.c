/* The self-sizing pool's model: demand, target, shrink pace (sizing.h). */
#include <math.h>

#include "pool/sizing.h"

/* Create times are averaged over about this many creates. */
#define CREATE_WEIGHT 0.1
/* Below this many rooms asked for per second (one every ~17 minutes) the pool is idle. */
#define RATE_IDLE 0.001

void pex__sizing_init(struct pex__sizing *s)
{
	s->rate = s->fast = 0;
	s->tau_fast = PEX__SIZING_TAU_FAST_S;
	s->rate_at_ms = -1;
	s->asked_at_ms = -1;
	s->create_s = 0;
	s->above_since_ms = -1;
	s->shrunk_at_ms = -1;
}

void pex__sizing_fast_over(struct pex__sizing *s, unsigned ready_after_s)
{
	double t = (double)ready_after_s + 1;
	s->tau_fast = t < PEX__SIZING_TAU_FAST_MIN_S ? PEX__SIZING_TAU_FAST_MIN_S :
		t > PEX__SIZING_TAU_FAST_S ? PEX__SIZING_TAU_FAST_S : t;
}

/* An exponentially decaying count: each room asked for adds 1/tau, the sum
 * decays with time constant tau, so a steady rate r reads r. */
static double decayed(const struct pex__sizing *s, double v, double tau, long long now_ms)
{
	double dt;
	if (s->rate_at_ms < 0)
		return 0;
	dt = (double)(now_ms - s->rate_at_ms) / 1000.0;
	if (dt <= 0)
		return v;
	return v * exp(-dt / tau);
}

void pex__sizing_demand(struct pex__sizing *s, long long now_ms, unsigned n)
{
	s->fast = decayed(s, s->fast, s->tau_fast, now_ms) + (double)n / s->tau_fast;
	s->rate = decayed(s, s->rate, PEX__SIZING_TAU_S, now_ms) + (double)n / PEX__SIZING_TAU_S;
	if (now_ms > s->rate_at_ms)
		s->rate_at_ms = now_ms;
	if (n && now_ms > s->asked_at_ms)
		s->asked_at_ms = now_ms;
}

long long pex__sizing_idle_ms(const struct pex__sizing *s, long long now_ms)
{
	return s->asked_at_ms < 0 ? -1 : now_ms - s->asked_at_ms;
}

double pex__sizing_rate_now(const struct pex__sizing *s, long long now_ms)
{
	double f = decayed(s, s->fast, s->tau_fast, now_ms);
	return f < RATE_IDLE ? 0 : f;
}

double pex__sizing_rate(const struct pex__sizing *s, long long now_ms)
{
	double r = decayed(s, s->rate, PEX__SIZING_TAU_S, now_ms);
	double f = pex__sizing_rate_now(s, now_ms);
	if (f > r)
		r = f;
	return r < RATE_IDLE ? 0 : r;
}

void pex__sizing_create_took(struct pex__sizing *s, double seconds)
{
	if (seconds < 0)
		seconds = 0;
	s->create_s = s->create_s > 0 ? s->create_s + CREATE_WEIGHT * (seconds - s->create_s) : seconds;
}

double pex__sizing_lead_s(const struct pex__sizing *s, unsigned ready_after_s)
{
	double c = s->create_s > 0 ? s->create_s : PEX__SIZING_CREATE_S_DEFAULT;
	/* a queued room waits ready_after_s + 1 (see not_ready_for() in pool.c) */
	return c + (ready_after_s ? (double)ready_after_s + 1 : 0);
}

unsigned pex__sizing_target(double rate, double lead_s, unsigned floor, unsigned max)
{
	double want = ceil(rate * lead_s * PEX__SIZING_HEADROOM);
	if (max < floor)
		max = floor;
	if (!(want > (double)floor))          /* NaN too */
		return floor;
	if (want >= (double)max)
		return max;
	return (unsigned)want;
}

long long pex__sizing_empty_in_s(long long ready, double rate)
{
	if (ready <= 0)
		return 0;
	if (!(rate >= RATE_IDLE))
		return -1;
	return (long long)floor((double)ready / rate);
}

unsigned pex__sizing_shrink(struct pex__sizing *s, long long now_ms, long long have,
	unsigned target, int quiet, unsigned cooldown_s)
{
	long long n;

	if (have <= (long long)target) {
		s->above_since_ms = -1;
		return 0;
	}
	if (s->above_since_ms < 0 || !quiet) {
		/* the cool-down starts (again) when someone is busy */
		s->above_since_ms = now_ms;
		return 0;
	}
	if (now_ms - s->above_since_ms < (long long)cooldown_s * 1000LL)
		return 0;
	if (s->shrunk_at_ms < 0)
		n = 1;
	else
		n = (now_ms - s->shrunk_at_ms) / PEX__SIZING_SHRINK_EVERY_MS;
	if (n <= 0)
		return 0;
	if (n > PEX__SIZING_SHRINK_BATCH)
		n = PEX__SIZING_SHRINK_BATCH;
	if (n > have - (long long)target)
		n = have - (long long)target;
	s->shrunk_at_ms = now_ms;
	return (unsigned)n;
}
