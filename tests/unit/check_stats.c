/* Unit tests of the process-wide metrics (lib/core/stats.c): histogram
 * buckets and their text, label escaping, the recording calls, the whole
 * exposition checked by prom_lint, and prom_lint itself refusing broken
 * expositions. No sockets. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "core/stats.h"
#include "pexipsdk/metrics.h"
#include "pexipsdk/queue.h"
#include "pexipsdk/sys/queue_backend.h"
#include "prom_lint.h"

static char why[512];

/* prom_lint must accept @p text; else the text goes to stderr */
static void lint_ok(const char *text)
{
	if (prom_lint(text, why, sizeof(why)) != 0)
		fprintf(stderr, "%s", text);
	ck_assert_msg(why[0] == '\0', "%s", why);
}

/* ---- histograms ---- */

START_TEST(test_histogram_buckets)
{
	static pex__histogram h;
	pex_buf b = PEX_BUF_INIT;

	pex__histogram_observe(&h, 500000);          /* on a bound: that bucket (le 0.0005) */
	pex__histogram_observe(&h, 500001);          /* just above: the next (le 0.001) */
	pex__histogram_observe(&h, 2000000000);      /* 2 s: le 2.5 */
	pex__histogram_observe(&h, 60000000000LL);   /* a minute: +Inf only */
	pex__histogram_observe(&h, -5);              /* a clock step back counts as 0 */
	ck_assert_int_eq(pex__buf_puts(&b, "# HELP pexipsdk_x_seconds x.\n# TYPE pexipsdk_x_seconds histogram\n"), 0);
	ck_assert_int_eq(pex__histogram_write(&b, "pexipsdk_x_seconds", "", &h), 0);
	lint_ok(b.ptr);
	ck_assert(prom_sample(b.ptr, "pexipsdk_x_seconds_bucket{le=\"0.0005\"}") == 2);
	ck_assert(prom_sample(b.ptr, "pexipsdk_x_seconds_bucket{le=\"0.001\"}") == 3);
	ck_assert(prom_sample(b.ptr, "pexipsdk_x_seconds_bucket{le=\"1\"}") == 3);
	ck_assert(prom_sample(b.ptr, "pexipsdk_x_seconds_bucket{le=\"2.5\"}") == 4);
	ck_assert(prom_sample(b.ptr, "pexipsdk_x_seconds_bucket{le=\"30\"}") == 4);
	ck_assert(prom_sample(b.ptr, "pexipsdk_x_seconds_bucket{le=\"+Inf\"}") == 5);
	ck_assert(prom_sample(b.ptr, "pexipsdk_x_seconds_count") == 5);
	ck_assert_ptr_nonnull(strstr(b.ptr, "\npexipsdk_x_seconds_sum 62.001000001\n"));

	/* with labels: le comes last, _sum and _count carry them */
	pex__buf_clear(&b);
	ck_assert_int_eq(pex__histogram_write(&b, "pexipsdk_x_seconds", "op=\"put\"", &h), 0);
	ck_assert_ptr_nonnull(strstr(b.ptr, "pexipsdk_x_seconds_bucket{op=\"put\",le=\"+Inf\"} 5\n"
		"pexipsdk_x_seconds_sum{op=\"put\"} 62.001000001\npexipsdk_x_seconds_count{op=\"put\"} 5\n"));
	pex_buf_dispose(&b);
}
END_TEST

START_TEST(test_label_escape)
{
	pex_buf b = PEX_BUF_INIT;

	ck_assert_int_eq(pex__stats_label_escape(&b, "a\\b\"c\nd"), 0);
	ck_assert_str_eq(b.ptr, "a\\\\b\\\"c\\nd");
	pex_buf_dispose(&b);
}
END_TEST

/* ---- the process's metrics ---- */

START_TEST(test_process_metrics)
{
	pex_buf b = PEX_BUF_INIT;
	int64_t t0 = pex__stats_clock();

	pex__stats_reset();
	ck_assert_int_eq(pex_metrics_process_write(NULL), PEX_EINVAL);
	/* nothing recorded: every family, only the unlabelled series */
	ck_assert_int_eq(pex_metrics_process_write(&b), 0);
	lint_ok(b.ptr);
	ck_assert(prom_sample(b.ptr, "pexipsdk_pexip_retries_total") == 0);
	ck_assert(prom_sample(b.ptr, "pexipsdk_pexip_rate_limited_total") == 0);
	ck_assert_ptr_nonnull(strstr(b.ptr, "# TYPE pexipsdk_pexip_request_duration_seconds histogram\n"));
	ck_assert_ptr_null(strstr(b.ptr, "pexipsdk_pexip_requests_total{"));
	ck_assert_ptr_nonnull(strstr(b.ptr, "pexipsdk_build_info{version=\""));

	pex__stats_pexip_request("GET", 0, 200, 0, t0);
	pex__stats_pexip_request("GET", 0, 204, 0, t0);
	pex__stats_pexip_request("POST", 0, 429, 0, t0);
	pex__stats_pexip_request("MKCOL", 0, 0, PEX_ENET, t0);     /* unknown method, no answer */
	pex__stats_pexip_request("POST", 1, 200, 0, t0);
	pex__stats_pexip_request("POST", 1, 401, 0, t0);
	pex__stats_pexip_request("PATCH", 0, 999, 0, t0);          /* not a status: error */
	pex__stats_pexip_retry();
	pex__stats_queue_op("put", 0, t0);
	pex__stats_queue_op("receive", PEX_EBACKEND, t0);
	pex__stats_queue_op("frobnicate", 0, t0);
	pex__stats_queue_op("receive", 1, t0);     /* a backend's positive return is an error too */
	pex__stats_pop(0, t0);
	pex__stats_pop(PEX_EEMPTY, t0);
	pex__stats_pop(PEX_EINVAL, t0);
	pex__stats_pop(PEX_ENET, t0);
	pex__stats_event_payload(0);
	pex__stats_event_payload(PEX_EPARSE);
	pex__stats_event_payload(PEX_EBACKEND);

	pex__buf_clear(&b);
	ck_assert_int_eq(pex_metrics_process_write(&b), 0);
	lint_ok(b.ptr);
	ck_assert(prom_sample(b.ptr, "pexipsdk_pexip_requests_total{method=\"GET\",status_class=\"2xx\"}") == 2);
	ck_assert(prom_sample(b.ptr, "pexipsdk_pexip_requests_total{method=\"POST\",status_class=\"4xx\"}") == 2);
	ck_assert(prom_sample(b.ptr, "pexipsdk_pexip_requests_total{method=\"POST\",status_class=\"2xx\"}") == 1);
	ck_assert(prom_sample(b.ptr, "pexipsdk_pexip_requests_total{method=\"other\",status_class=\"error\"}") == 1);
	ck_assert(prom_sample(b.ptr, "pexipsdk_pexip_requests_total{method=\"PATCH\",status_class=\"error\"}") == 1);
	ck_assert(prom_sample(b.ptr, "pexipsdk_pexip_request_duration_seconds_count{method=\"GET\",status_class=\"2xx\"}") == 2);
	ck_assert(prom_sum(b.ptr, "pexipsdk_pexip_requests_total{") == 7);
	ck_assert(prom_sum(b.ptr, "pexipsdk_pexip_request_duration_seconds_count{") == 7);
	ck_assert(prom_sample(b.ptr, "pexipsdk_pexip_rate_limited_total") == 1);
	ck_assert(prom_sample(b.ptr, "pexipsdk_pexip_retries_total") == 1);
	ck_assert(prom_sample(b.ptr, "pexipsdk_pexip_token_fetches_total{outcome=\"ok\"}") == 1);
	ck_assert(prom_sample(b.ptr, "pexipsdk_pexip_token_fetches_total{outcome=\"error\"}") == 1);
	ck_assert(prom_sample(b.ptr, "pexipsdk_queue_operation_duration_seconds_count{operation=\"put\",outcome=\"ok\"}") == 1);
	ck_assert(prom_sample(b.ptr, "pexipsdk_queue_operation_duration_seconds_count{operation=\"receive\",outcome=\"error\"}") == 2);
	ck_assert(prom_sample(b.ptr, "pexipsdk_queue_operation_duration_seconds_count{operation=\"other\",outcome=\"ok\"}") == 1);
	ck_assert(prom_sample(b.ptr, "pexipsdk_pop_duration_seconds_count{outcome=\"ok\"}") == 1);
	ck_assert(prom_sample(b.ptr, "pexipsdk_pop_duration_seconds_count{outcome=\"empty\"}") == 1);
	ck_assert(prom_sample(b.ptr, "pexipsdk_pop_duration_seconds_count{outcome=\"invalid\"}") == 1);
	ck_assert(prom_sample(b.ptr, "pexipsdk_pop_duration_seconds_count{outcome=\"error\"}") == 1);
	ck_assert(prom_sample(b.ptr, "pexipsdk_event_sink_payloads_total{outcome=\"ok\"}") == 1);
	ck_assert(prom_sample(b.ptr, "pexipsdk_event_sink_payloads_total{outcome=\"invalid\"}") == 1);
	ck_assert(prom_sample(b.ptr, "pexipsdk_event_sink_payloads_total{outcome=\"error\"}") == 1);
	{
		char info[256];
		snprintf(info, sizeof(info), "pexipsdk_build_info{version=\"%s\",features=\"%s\"}",
			pex_version(), pex_features());
		ck_assert_msg(prom_sample(b.ptr, info) == 1, "no %s", info);
	}
	pex_buf_dispose(&b);
	pex__stats_reset();
}
END_TEST

/* The pool's families and the process's, written one after the other as
 * the room server does, make one valid exposition. */
START_TEST(test_whole_exposition)
{
	pex_metrics m = PEX_METRICS_INIT;
	pex_buf b = PEX_BUF_INIT;

	m.pool_depth = 3;
	m.pops = 7;
	pex__stats_pop(0, pex__stats_clock());
	ck_assert_int_eq(pex_metrics_format_write(&b, &m, PEX_METRICS_PROMETHEUS), 0);
	ck_assert_int_eq(pex_metrics_process_write(&b), 0);
	lint_ok(b.ptr);
	ck_assert(prom_sample(b.ptr, "pexipsdk_pool_depth") == 3);
	ck_assert(prom_sample(b.ptr, "pexipsdk_pops_total") == 7);
	ck_assert(prom_sample(b.ptr, "pexipsdk_pop_duration_seconds_count{outcome=\"ok\"}") >= 1);
	pex_buf_dispose(&b);
}
END_TEST

/* The queue dispatch times every operation, by name and outcome (a real
 * in-memory queue). */
START_TEST(test_queue_operations_timed)
{
	pex_queue_backend *be = NULL;
	pex_queue *q = NULL;
	pex_message *msg = NULL;
	pex_buf b = PEX_BUF_INIT;
	size_t n;

	ck_assert_int_eq(pex_queue_backend_memory_new(&be), 0);
	ck_assert_int_eq(pex_queue_open_backend(&q, be, "stats-q"), 0);
	pex__stats_reset();
	ck_assert_int_eq(pex_queue_put(q, "x", 1, 0), 0);
	ck_assert_int_eq(pex_queue_put(q, "y", 1, 0), 0);
	ck_assert_int_eq(pex_queue_receive(&msg, q, 30), 0);
	ck_assert_int_eq(pex_queue_delete(q, msg), 0);
	pex_message_free(msg);
	ck_assert_int_eq(pex_queue_count(&n, q), 0);
	ck_assert_int_eq(pex_queue_put(q, "", 0, 0), PEX_EINVAL);   /* refused before the backend */
	ck_assert_int_eq(pex_metrics_process_write(&b), 0);
	lint_ok(b.ptr);
	ck_assert(prom_sample(b.ptr, "pexipsdk_queue_operation_duration_seconds_count{operation=\"put\",outcome=\"ok\"}") == 2);
	ck_assert(prom_sample(b.ptr, "pexipsdk_queue_operation_duration_seconds_count{operation=\"receive\",outcome=\"ok\"}") == 1);
	ck_assert(prom_sample(b.ptr, "pexipsdk_queue_operation_duration_seconds_count{operation=\"delete\",outcome=\"ok\"}") == 1);
	ck_assert(prom_sample(b.ptr, "pexipsdk_queue_operation_duration_seconds_count{operation=\"count\",outcome=\"ok\"}") == 1);
	ck_assert(prom_sum(b.ptr, "pexipsdk_queue_operation_duration_seconds_count{") == 5);
	pex_buf_dispose(&b);
	pex_queue_free(q);
}
END_TEST

/* ---- recording while another thread writes ---- */

static atomic_int g_stop;

static void *recorder(void *arg)
{
	(void)arg;
	while (!atomic_load(&g_stop)) {
		pex__stats_pexip_request("DELETE", 0, 204, 0, pex__stats_clock());
		pex__stats_queue_op("delete", 0, pex__stats_clock() - 3000000);
	}
	return NULL;
}

/* Every exposition taken while other threads record is valid: the +Inf
 * bucket always equals _count. */
START_TEST(test_concurrent_writes)
{
	pthread_t th[2];
	pex_buf b = PEX_BUF_INIT;
	int i, rounds = getenv("PEX_UNDER_VALGRIND") ? 20 : 300;

	atomic_store(&g_stop, 0);
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, recorder, NULL), 0);
	for (i = 0; i < rounds; i++) {
		pex__buf_clear(&b);
		ck_assert_int_eq(pex_metrics_process_write(&b), 0);
		ck_assert_msg(prom_lint(b.ptr, why, sizeof(why)) == 0, "%s", why);
	}
	atomic_store(&g_stop, 1);
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	pex_buf_dispose(&b);
}
END_TEST

/* ---- the checker refuses what a scraper or the conventions would ---- */

START_TEST(test_lint_refuses)
{
	static const struct { const char *text, *what; } bad[] = {
		{ "pexipsdk_a_total 1\n", "sample before" },
		{ "# TYPE pexipsdk_a_total counter\npexipsdk_a_total 1\n", "without a HELP" },
		{ "# HELP pexipsdk_a_total a.\npexipsdk_a_total 1\n", "sample before" },
		{ "# HELP pexipsdk_a a.\n# TYPE pexipsdk_a counter\npexipsdk_a 1\n", "_total" },
		{ "# HELP pexipsdk_a_total a.\n# TYPE pexipsdk_a_total gauge\npexipsdk_a_total 1\n", "_total" },
		{ "# HELP pexipsdk_a_ms a.\n# TYPE pexipsdk_a_ms histogram\n", "_seconds" },
		{ "# HELP pexipsdk_op_duration a.\n# TYPE pexipsdk_op_duration gauge\npexipsdk_op_duration 1\n", "_seconds" },
		{ "# HELP a_total a.\n# TYPE a_total counter\na_total 1\n", "prefix" },
		{ "# HELP pexipsdk_a_total a.\n# TYPE pexipsdk_a_total counter\npexipsdk_a_total 1\n"
		  "# HELP pexipsdk_a_total a.\n# TYPE pexipsdk_a_total counter\n", "twice" },
		{ "# HELP pexipsdk_a_total a.\n# TYPE pexipsdk_a_total counter\npexipsdk_a_total{x=\"1\"} 1\n"
		  "pexipsdk_a_total{x=\"1\"} 2\n", "twice" },
		{ "# HELP pexipsdk_a_total a.\n# TYPE pexipsdk_a_total counter\npexipsdk_a_total{x=\"a\\tb\"} 1\n", "escape" },
		{ "# HELP pexipsdk_a_total a.\n# TYPE pexipsdk_a_total counter\npexipsdk_a_total{x=\"a\"b\"} 1\n", "label" },
		{ "# HELP pexipsdk_a_total a.\n# TYPE pexipsdk_a_total counter\npexipsdk_b_total 1\n", "not of family" },
		{ "# HELP pexipsdk_a_total a.\n# TYPE pexipsdk_a_total counter\npexipsdk_a_total -1\n", "is -1" },
		{ "# HELP pexipsdk_a_total a.\n# TYPE pexipsdk_a_total counter\npexipsdk_a_total 1 1700000000\n", "bad value" },
		{ "# HELP pexipsdk_h_seconds h.\n# TYPE pexipsdk_h_seconds histogram\n"
		  "pexipsdk_h_seconds_bucket{le=\"1\"} 2\npexipsdk_h_seconds_bucket{le=\"+Inf\"} 1\n", "cumulative" },
		{ "# HELP pexipsdk_h_seconds h.\n# TYPE pexipsdk_h_seconds histogram\n"
		  "pexipsdk_h_seconds_bucket{le=\"2\"} 1\npexipsdk_h_seconds_bucket{le=\"1\"} 1\n", "increasing" },
		{ "# HELP pexipsdk_h_seconds h.\n# TYPE pexipsdk_h_seconds histogram\n"
		  "pexipsdk_h_seconds_bucket{le=\"+Inf\"} 2\npexipsdk_h_seconds_sum 1\npexipsdk_h_seconds_count 3\n", "differs" },
		{ "# HELP pexipsdk_h_seconds h.\n# TYPE pexipsdk_h_seconds histogram\n"
		  "pexipsdk_h_seconds_bucket{le=\"1\"} 2\npexipsdk_h_seconds_sum 1\npexipsdk_h_seconds_count 2\n", "differs" },
		{ "# HELP pexipsdk_h_seconds h.\n# TYPE pexipsdk_h_seconds histogram\n"
		  "pexipsdk_h_seconds_bucket{le=\"+Inf\"} 2\npexipsdk_h_seconds_count 2\n", "lacks" },
		{ "# HELP pexipsdk_a_total a.\n# TYPE pexipsdk_a_total counter\npexipsdk_a_total 1", "newline" },
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(prom_lint(bad[i].text, why, sizeof(why)) < 0, "accepted #%zu", i);
		ck_assert_msg(strstr(why, bad[i].what), "#%zu: '%s' does not say '%s'", i, why, bad[i].what);
	}
	ck_assert_msg(prom_lint("# HELP pexipsdk_h_seconds h.\n# TYPE pexipsdk_h_seconds histogram\n"
		"pexipsdk_h_seconds_bucket{a=\"x\\\\\\\"\\n\",le=\"1\"} 1\npexipsdk_h_seconds_bucket{a=\"x\\\\\\\"\\n\",le=\"+Inf\"} 2\n"
		"pexipsdk_h_seconds_sum{a=\"x\\\\\\\"\\n\"} 0.5\npexipsdk_h_seconds_count{a=\"x\\\\\\\"\\n\"} 2\n",
		why, sizeof(why)) == 0, "%s", why);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("stats");
	TCase *tc = tcase_create("stats");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_histogram_buckets);
	tcase_add_test(tc, test_label_escape);
	tcase_add_test(tc, test_process_metrics);
	tcase_add_test(tc, test_whole_exposition);
	tcase_add_test(tc, test_queue_operations_timed);
	tcase_add_test(tc, test_concurrent_writes);
	tcase_add_test(tc, test_lint_refuses);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
