/* The age rules of a pool room's life. See lifecycle.h. */
#include <stdio.h>

#include "pool/lifecycle.h"

const char *pex__lifecycle_ages_rule(long long orphan_max_age_s, long long ready_after_s,
	char *why, size_t why_size)
{
	long long min = ready_after_s + PEX__POOL_STALE_MARGIN_S + PEX__POOL_HOLD_MAX_S;

	if (orphan_max_age_s == 0 || orphan_max_age_s > min)
		return NULL;
	snprintf(why, why_size, "gc.orphan_max_age_s (%lld) must be 0 or more than "
		"pool.ready_after_s (%lld) + %d s = %lld s (the pool's stale margin of %d s and hold "
		"limit of %d s): otherwise an orphan sweep on another host could delete rooms a live "
		"process still holds or has just handed out", orphan_max_age_s, ready_after_s,
		PEX__POOL_STALE_MARGIN_S + PEX__POOL_HOLD_MAX_S, min, PEX__POOL_STALE_MARGIN_S,
		PEX__POOL_HOLD_MAX_S);
	return why;
}

long long pex__lifecycle_stale_age_s(long long orphan_max_age_s)
{
	return orphan_max_age_s > PEX__POOL_STALE_MARGIN_S ? orphan_max_age_s - PEX__POOL_STALE_MARGIN_S : -1;
}

int pex__lifecycle_is_stale(long long orphan_max_age_s, long long created, long long now)
{
	long long stale = pex__lifecycle_stale_age_s(orphan_max_age_s);

	return created > 0 && stale >= 0 && now - created > stale;
}

long long pex__lifecycle_not_ready_for(long long ready_after_s, long long created, long long now)
{
	long long left;

	if (ready_after_s == 0 || created <= 0)
		return 0;
	left = created + ready_after_s + 1 - now;
	return left > 0 ? left : 0;
}

unsigned pex__lifecycle_maturing_delay_s(unsigned ready_after_s)
{
	return ready_after_s ? ready_after_s + 1 : 0;
}

int pex__lifecycle_orphan_age(long long orphan_max_age_s, long long created, long long now)
{
	return created >= 0 && created < now - orphan_max_age_s;
}

long long pex__lifecycle_held_before(long long hold_max_s, long long now)
{
	return now - hold_max_s;
}
