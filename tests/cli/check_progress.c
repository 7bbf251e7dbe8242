/* pexctl's progress line: count, rate, time left, bounded. */
#include <check.h>
#include <string.h>

#include "progress.h"

START_TEST(test_start)
{
	char b[256];
	pexctl_progress_format(b, sizeof(b), "gc", 0, 10, 0);
	ck_assert_str_eq(b, "gc [                              ] 0/10");
}
END_TEST

START_TEST(test_rate_and_time_left)
{
	char b[256];
	/* 3 of 10 in 1.5 s: 2/s, 7 left: 3.5 s, rounded */
	pexctl_progress_format(b, sizeof(b), "fill", 3, 10, 1.5);
	ck_assert_str_eq(b, "fill [#########                     ] 3/10  2.0/s  0:04 left");
	/* 1 of 4000 in 2 s: 7998 s left, 2:13:18; 1 of 1001: 2000 s, 33:20 */
	pexctl_progress_format(b, sizeof(b), "x", 1, 4000, 2);
	ck_assert_ptr_nonnull(strstr(b, "] 1/4000  0.5/s  2:13:18 left"));
	pexctl_progress_format(b, sizeof(b), "x", 1, 1001, 2);
	ck_assert_ptr_nonnull(strstr(b, "  33:20 left"));
}
END_TEST

START_TEST(test_end_has_no_time_left)
{
	char b[256];
	pexctl_progress_format(b, sizeof(b), "drain", 4, 4, 2);
	ck_assert_str_eq(b, "drain [##############################] 4/4  2.0/s");
	/* more done than announced never overflows the bar */
	pexctl_progress_format(b, sizeof(b), "drain", 9, 4, 2);
	ck_assert_str_eq(b, "drain [##############################] 4/4  2.0/s");
}
END_TEST

START_TEST(test_bounded)
{
	char b[16];
	memset(b, 'z', sizeof(b));
	pexctl_progress_format(b, sizeof(b), "a long label", 5, 10, 1);
	ck_assert_uint_eq(strlen(b), sizeof(b) - 1);
	ck_assert_str_eq(b, "a long label [#");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("progress");
	TCase *tc = tcase_create("format");
	SRunner *sr;
	int failed;
	tcase_add_test(tc, test_start);
	tcase_add_test(tc, test_rate_and_time_left);
	tcase_add_test(tc, test_end_has_no_time_left);
	tcase_add_test(tc, test_bounded);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
