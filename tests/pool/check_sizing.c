/* Unit tests of the self-sizing pool's model (lib/pool/sizing.c): the
 * demand average, the target formula, time until empty, the shrink pace.
 * Pure functions with the clock passed in: no sockets, no sleeps. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "pool/sizing.h"

START_TEST(test_rate_steady_and_decay)
{
	struct pex__sizing s;
	long long t = 1000000;
	int i;

	pex__sizing_init(&s);
	ck_assert(pex__sizing_rate(&s, t) == 0);
	ck_assert_int_eq(pex__sizing_idle_ms(&s, t), -1);
	/* 10 hand-outs/s for 10 time constants: reads 10 within 1 % */
	for (i = 0; i < (int)(10 * PEX__SIZING_TAU_S * 10); i++, t += 100)
		pex__sizing_demand(&s, t, 1);
	ck_assert_msg(fabs(pex__sizing_rate(&s, t) - 10.0) < 0.1, "rate %f", pex__sizing_rate(&s, t));
	/* quiet for one time constant: about 1/e of it */
	ck_assert(fabs(pex__sizing_rate(&s, t + (long long)(PEX__SIZING_TAU_S * 1000)) - 10.0 / M_E) < 0.1);
	/* quiet for long: idle (0), not a tiny tail */
	ck_assert(pex__sizing_rate(&s, t + (long long)(PEX__SIZING_TAU_S * 1000) * 20) == 0);
	/* a bulk of n counts as n hand-outs; the fast average sees it first */
	pex__sizing_init(&s);
	pex__sizing_demand(&s, t, 30);
	ck_assert(fabs(pex__sizing_rate(&s, t) - 30.0 / PEX__SIZING_TAU_FAST_S) < 1e-9);
	ck_assert_int_eq(pex__sizing_idle_ms(&s, t + 250), 250);
	/* a clock read out of order (another thread) does not raise the rate */
	pex__sizing_demand(&s, t - 500, 0);
	ck_assert(fabs(pex__sizing_rate(&s, t) - 30.0 / PEX__SIZING_TAU_FAST_S) < 1e-9);
	/* and long after, the slow one keeps it: 30/tau e^-1 against 30/tau_fast e^-6 */
	ck_assert(fabs(pex__sizing_rate(&s, t + (long long)(PEX__SIZING_TAU_S * 1000)) -
		30.0 / PEX__SIZING_TAU_S / M_E) < 1e-9);
}
END_TEST

/* The fast average spans no more than a room's lead time: ready_after_s
 * + 1 s, from 1 s to PEX__SIZING_TAU_FAST_S. */
START_TEST(test_fast_average_follows_lead)
{
	struct pex__sizing s;
	long long t = 1000000;

	pex__sizing_init(&s);
	ck_assert(s.tau_fast == PEX__SIZING_TAU_FAST_S);
	pex__sizing_fast_over(&s, 2);
	ck_assert(s.tau_fast == 3.0);
	pex__sizing_fast_over(&s, 0);
	ck_assert(s.tau_fast == PEX__SIZING_TAU_FAST_MIN_S);
	pex__sizing_fast_over(&s, 60);
	ck_assert(s.tau_fast == PEX__SIZING_TAU_FAST_S);
	/* 3 s: a room asked for counts 1/3 at once, 1/(3e) after 3 s */
	pex__sizing_fast_over(&s, 2);
	pex__sizing_demand(&s, t, 1);
	ck_assert(fabs(pex__sizing_rate_now(&s, t) - 1.0 / 3) < 1e-9);
	ck_assert(fabs(pex__sizing_rate_now(&s, t + 3000) - 1.0 / 3 / M_E) < 1e-9);
}
END_TEST

START_TEST(test_target_formula)
{
	struct pex__sizing s;

	pex__sizing_init(&s);
	/* no create timed yet: the default create time */
	ck_assert(fabs(pex__sizing_lead_s(&s, 60) - (PEX__SIZING_CREATE_S_DEFAULT + 61)) < 1e-9);
	pex__sizing_create_took(&s, 0.2);
	ck_assert(fabs(pex__sizing_lead_s(&s, 0) - 0.2) < 1e-9);
	pex__sizing_create_took(&s, 1.2);       /* smoothed: moves a tenth of the way */
	ck_assert(fabs(pex__sizing_lead_s(&s, 0) - 0.3) < 1e-9);

	/* rate x lead x headroom, rounded up */
	ck_assert_uint_eq(pex__sizing_target(2.0, 61.0, 10, 1000), (unsigned)ceil(2.0 * 61 * PEX__SIZING_HEADROOM));
	/* never below the floor */
	ck_assert_uint_eq(pex__sizing_target(0.0, 61.0, 10, 1000), 10);
	ck_assert_uint_eq(pex__sizing_target(0.05, 61.0, 10, 1000), 10);
	/* never above the maximum */
	ck_assert_uint_eq(pex__sizing_target(100.0, 61.0, 10, 200), 200);
	/* a maximum at or below the floor is off: the floor */
	ck_assert_uint_eq(pex__sizing_target(100.0, 61.0, 10, 0), 10);
	ck_assert_uint_eq(pex__sizing_target(100.0, 61.0, 10, 10), 10);
	ck_assert_uint_eq(pex__sizing_target(NAN, 61.0, 10, 200), 10);
}
END_TEST

START_TEST(test_empty_in)
{
	ck_assert_int_eq(pex__sizing_empty_in_s(0, 5.0), 0);
	ck_assert_int_eq(pex__sizing_empty_in_s(-3, 5.0), 0);
	ck_assert_int_eq(pex__sizing_empty_in_s(10, 0.0), -1);
	ck_assert_int_eq(pex__sizing_empty_in_s(10, 4.0), 2);
	ck_assert_int_eq(pex__sizing_empty_in_s(100, 0.5), 200);
}
END_TEST

START_TEST(test_shrink_pace)
{
	struct pex__sizing s;
	long long t = 5000000, cool = PEX__SIZING_COOLDOWN_S * 1000LL;
	unsigned removed = 0;
	long long have = 15, i;

	pex__sizing_init(&s);
	/* at or below the target: nothing */
	ck_assert_uint_eq(pex__sizing_shrink(&s, t, 10, 10, 1, PEX__SIZING_COOLDOWN_S), 0);
	/* above: the cool-down starts, nothing before it ends */
	ck_assert_uint_eq(pex__sizing_shrink(&s, t, have, 10, 1, PEX__SIZING_COOLDOWN_S), 0);
	ck_assert_uint_eq(pex__sizing_shrink(&s, t + cool - 1, have, 10, 1, PEX__SIZING_COOLDOWN_S), 0);
	/* someone created a room: the cool-down starts again */
	ck_assert_uint_eq(pex__sizing_shrink(&s, t + cool - 1, have, 10, 0, PEX__SIZING_COOLDOWN_S), 0);
	ck_assert_uint_eq(pex__sizing_shrink(&s, t + cool, have, 10, 1, PEX__SIZING_COOLDOWN_S), 0);
	t += 2 * cool;
	/* then one room per interval, never below the target */
	for (i = 0; i < 100; i++, t += PEX__SIZING_SHRINK_EVERY_MS / 2) {
		unsigned n = pex__sizing_shrink(&s, t, have, 10, 1, PEX__SIZING_COOLDOWN_S);
		ck_assert_uint_le(n, 1);
		removed += n;
		have -= n;
	}
	ck_assert_int_eq(have, 10);
	ck_assert_uint_eq(removed, 5);
	/* asked less often: the rooms of the time passed, in batches */
	have = 100;
	ck_assert_uint_eq(pex__sizing_shrink(&s, t, have, 10, 1, PEX__SIZING_COOLDOWN_S), 0);
	t += cool;
	ck_assert_uint_eq(pex__sizing_shrink(&s, t, have, 10, 1, PEX__SIZING_COOLDOWN_S), PEX__SIZING_SHRINK_BATCH);
	t += 3 * PEX__SIZING_SHRINK_EVERY_MS;
	ck_assert_uint_eq(pex__sizing_shrink(&s, t, have, 10, 1, PEX__SIZING_COOLDOWN_S), 3);
	t += 1000 * PEX__SIZING_SHRINK_EVERY_MS;
	ck_assert_uint_eq(pex__sizing_shrink(&s, t, have, 10, 1, PEX__SIZING_COOLDOWN_S), PEX__SIZING_SHRINK_BATCH);
	t += 1000 * PEX__SIZING_SHRINK_EVERY_MS;
	ck_assert_uint_eq(pex__sizing_shrink(&s, t, 12, 10, 1, PEX__SIZING_COOLDOWN_S), 2);
	ck_assert_uint_eq(pex__sizing_shrink(&s, t, 10, 10, 1, PEX__SIZING_COOLDOWN_S), 0);
	/* back at the target, a new excess waits a full cool-down again */
	ck_assert_uint_eq(pex__sizing_shrink(&s, t, 11, 10, 1, PEX__SIZING_COOLDOWN_S), 0);
	ck_assert_uint_eq(pex__sizing_shrink(&s, t + cool - 1, 11, 10, 1, PEX__SIZING_COOLDOWN_S), 0);
	ck_assert_uint_eq(pex__sizing_shrink(&s, t + cool, 11, 10, 1, PEX__SIZING_COOLDOWN_S), 1);
}
END_TEST

static Suite *sizing_suite(void)
{
	Suite *s = suite_create("sizing");
	TCase *tc = tcase_create("model");
	tcase_add_test(tc, test_rate_steady_and_decay);
	tcase_add_test(tc, test_fast_average_follows_lead);
	tcase_add_test(tc, test_target_formula);
	tcase_add_test(tc, test_empty_in);
	tcase_add_test(tc, test_shrink_pace);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sizing_suite());
	int failed;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
