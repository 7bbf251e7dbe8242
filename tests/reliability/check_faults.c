/* Reliability under injected faults (docs/RELIABILITY.md: at most once, nothing
 * lost, bounded load, clear errors), through the public API only.
 *
 * The emulator answers 10% of Pexip requests with 503, 5% with 429
 * (Retry-After: 0) and drops 5% of connections without an answer (20% in
 * all), and adds a 50 ms latency spike to 5% of requests. Over it, with
 * retries max 8 / base 5 ms / cap 100 ms and a SQLite queue:
 *
 *   1. fill the pool (depth 20), then 4 threads pop + replenish 1 each,
 *      1,000 times in all: >= 99.9% of the pops succeed, no room is handed
 *      out twice, and every failure has a non-empty message (logged);
 *   2. handed-out rooms are made live, then an orphan sweep with
 *      orphan_max_age_s 0 leaves exactly the handed-out + pooled rooms
 *      (whatever leaked is swept, nothing else is);
 *   3. the 1,000 handed-out rooms end and are scheduled for deletion; a GC
 *      sweep under the same faults deletes them all (>= 99.9% in the first
 *      sweep; a rerun finishes the rest: sweeps are idempotent).
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <pexipsdk/pexipsdk.h>
#include "emu_harness.h"

#define THREADS 4
#define CREATES 1000
/* under valgrind (a memory check, ~30x slower): fewer creates, same faults */
#define CREATES_VALGRIND 200
static size_t g_creates = CREATES;
#define DEPTH 20

#define FAULTS "{\"rate_503\": 0.10, \"rate_429\": 0.05, \"retry_after_s\": 0, " \
	"\"rate_drop\": 0.05, \"spike_rate\": 0.05, \"spike_ms\": 50}"
#define NO_FAULTS "{\"rate_503\": 0, \"rate_429\": 0, \"rate_drop\": 0, \"spike_rate\": 0}"

typedef struct shared {
	pex_pool *pool;
	pthread_mutex_t lock;
	char *names[CREATES];
	size_t handed;
	size_t pop_failures, replenish_failures, empty_messages;
	size_t next;                /* next create number to run */
} shared;

/* Log a failure; count it as unclear when its message is empty. */
static void log_failure(shared *s, const char *what, size_t n, int err)
{
	const char *msg = pex_error_last()->message;

	fprintf(stderr, "faults: %s %zu failed: %s (%s)\n", what, n,
		msg && *msg ? msg : "<EMPTY MESSAGE>", pex_error_name(err));
	if (!msg || !*msg)
		s->empty_messages++;
}

static void *worker(void *arg)
{
	shared *s = arg;

	for (;;) {
		pex_pool_room *r = NULL;
		char hex[64];
		size_t n, created = 0;
		int err;

		pthread_mutex_lock(&s->lock);
		n = s->next < g_creates ? s->next++ : g_creates;
		pthread_mutex_unlock(&s->lock);
		if (n == g_creates)
			break;
		{       /* the UUI "create-NNNN", hex */
			char text[32];
			size_t j;
			snprintf(text, sizeof(text), "create-%04zu", n);
			for (j = 0; text[j]; j++)
				snprintf(hex + 2 * j, 3, "%02x", (unsigned char)text[j]);
		}
		err = pex_pool_pop(&r, s->pool, hex, NULL);
		pthread_mutex_lock(&s->lock);
		if (err < 0) {
			s->pop_failures++;
			log_failure(s, "pop", n, err);
		} else {
			s->names[s->handed++] = strdup(r->name);
		}
		pthread_mutex_unlock(&s->lock);
		pex_pool_room_free(r);

		err = pex_pool_replenish(&created, s->pool, 1, NULL, NULL);
		if (err < 0) {
			pthread_mutex_lock(&s->lock);
			s->replenish_failures++;
			log_failure(s, "replenish", n, err);
			pthread_mutex_unlock(&s->lock);
		}
	}
	return NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t qcount(pex_queue *q)
{
	size_t n = 0;
	ck_assert_msg(pex_queue_count(&n, q) == 0, "%s", pex_error_last()->message);
	return n;
}

START_TEST(test_faults)
{
	static const char *hosts[] = { "svc.example.com" };
	pex_client_options co = PEX_CLIENT_OPTIONS_INIT;
	pex_pool_options po = PEX_POOL_OPTIONS_INIT;
	pex_gc_options go = PEX_GC_OPTIONS_INIT;
	pex_gc_report rep = PEX_GC_REPORT_INIT, rep2 = PEX_GC_REPORT_INIT;
	pex_queue *pq = NULL, *dq = NULL;
	pex_client *c = NULL;
	pex_pool *sweeper = NULL;
	pthread_t th[THREADS];
	shared s;
	emu_t e;
	char dir[] = "/tmp/pex-faults-XXXXXX", uri[128], body[256];
	size_t i, created = 0, depth, fill_tries = 0;
	long long confs, faults;
	int err;

	memset(&s, 0, sizeof(s));
	pthread_mutex_init(&s.lock, NULL);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(emu_start(&e, (const char *const[]){ "--seed", "11", "--max-limit", "5000", NULL }), 0);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", FAULTS, NULL), 200);

	co.url = e.url;
	co.username = "admin";
	co.password = "admin";
	co.retries_max = 8;
	co.retry_base_ms = 5;
	co.retry_cap_ms = 100;
	ck_assert_msg(pex_client_new(&c, &co) == 0, "%s", pex_error_last()->message);
	snprintf(uri, sizeof(uri), "sqlite:%s/pool.db", dir);
	ck_assert_msg(pex_queue_open(&pq, uri, "room-creation-queue") == 0, "%s", pex_error_last()->message);
	ck_assert_int_eq(pex_queue_open_sibling(&dq, pq, "room-deletion-queue"), 0);

	po.depth = DEPTH;
	po.lease_s = 5;
	po.gc_delay_s = 0;
	po.ready_after_s = 0;      /* about faults, not about replication */
	po.tag.url_template = "https://svc.example.com/s/{uui}";
	po.tag.allowed_hosts = hosts;
	po.tag.allowed_host_count = 1;
	ck_assert_int_eq(pex_pool_new(&s.pool, c, pq, dq, &po), 0);

	/* set-up: the fill runs under the faults too; a failed fill is retried */
	while ((err = pex_pool_fill(&created, s.pool, 0, NULL, NULL)) < 0 && ++fill_tries < 5)
		fprintf(stderr, "faults: fill failed (retrying): %s\n", pex_error_last()->message);
	ck_assert_msg(err == 0, "fill: %s", pex_error_last()->message);
	ck_assert_uint_eq(qcount(pq), DEPTH);

	/* 1. 1,000 hand-outs + replenishments from 4 threads */
	for (i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, worker, &s), 0);
	for (i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	faults = emu_stat(&e, "faults_injected");
	fprintf(stderr, "faults: %zu/%d hand-outs succeeded, %zu pop failures, %zu replenish failures; "
		"emulator: %lld requests, %lld faults injected, %lld latency spikes\n",
		s.handed, (int)g_creates, s.pop_failures, s.replenish_failures, emu_stat(&e, "requests"),
		faults, emu_stat(&e, "latency_spikes"));
	/* the faults were really there: about 20% of all requests (the exact
	 * count varies with scheduling, so check the proportion with slack) */
	{
		long long reqs = emu_stat(&e, "requests");
		ck_assert_int_gt(reqs, 2 * (long long)g_creates);
		ck_assert_int_ge(faults * 100, reqs * 14);
		ck_assert_int_le(faults * 100, reqs * 26);
	}
	ck_assert_uint_ge(s.handed * 1000, g_creates * 999);  /* >= 99.9% */
	ck_assert_uint_eq(s.empty_messages, 0);
	ck_assert_uint_eq(s.handed + s.pop_failures, g_creates);
	qsort(s.names, s.handed, sizeof(char *), cmp_str);
	for (i = 1; i < s.handed; i++)
		ck_assert_msg(strcmp(s.names[i - 1], s.names[i]) != 0, "room %s handed out twice", s.names[i]);

	/* 2. orphan sweep: handed-out rooms are in use (live); leases run out */
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", NO_FAULTS, NULL), 200);
	for (i = 0; i < s.handed; i++) {
		snprintf(body, sizeof(body), "{\"name\": \"%s\"}", s.names[i]);
		ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/conference/start", body, NULL), 200);
	}
	sleep(6);       /* pool.lease_s 5: leases of failed pops are over */
	depth = qcount(pq);
	confs = emu_stat(&e, "conferences");
	fprintf(stderr, "faults: before the orphan sweep: %lld rooms on Pexip, %zu handed out, %zu pooled\n",
		confs, s.handed, depth);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", FAULTS, NULL), 200);
	po.orphan_max_age_s = 0;
	ck_assert_int_eq(pex_pool_new(&sweeper, c, pq, dq, &po), 0);
	go.orphans = 1;
	for (i = 0; i < 3; i++) {
		pex_gc_report_init(&rep, PEX_GC_REPORT_VERSION);
		if ((err = pex_gc_sweep(&rep, sweeper, &go, NULL, NULL)) == 0)
			break;
		fprintf(stderr, "faults: orphan sweep %zu: %s (rerunning)\n", i + 1, pex_error_last()->message);
	}
	ck_assert_msg(err == 0, "orphan sweep: %s", pex_error_last()->message);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", NO_FAULTS, NULL), 200);
	confs = emu_stat(&e, "conferences");
	fprintf(stderr, "faults: orphan sweep removed %zu (found %zu); %lld rooms left\n",
		rep.orphans_deleted, rep.orphans_found, confs);
	ck_assert_uint_eq(qcount(pq), depth);
	ck_assert_int_eq(confs, (long long)(s.handed + depth));
	for (i = 0; i < s.handed; i++) {
		char path[256];
		char *resp = NULL;
		snprintf(path, sizeof(path), "/api/admin/configuration/v1/conference/?name=%s", s.names[i]);
		ck_assert_int_eq(emu_api(&e, "GET", path, NULL, &resp), 200);
		ck_assert_msg(strstr(resp, "\"total_count\": 1") || strstr(resp, "\"total_count\":1"),
			"handed-out room %s is gone: %s", s.names[i], resp);
		free(resp);
	}

	/* 3. a 1,000-room GC under the faults */
	for (i = 0; i < s.handed; i++) {
		snprintf(body, sizeof(body), "{\"name\": \"%s\"}", s.names[i]);
		ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/conference/stop", body, NULL), 200);
		ck_assert_msg(pex_gc_schedule_delete(s.pool, s.names[i], 0) == 0, "%s", pex_error_last()->message);
	}
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", FAULTS, NULL), 200);
	go.orphans = 0;
	pex_gc_report_init(&rep, PEX_GC_REPORT_VERSION);
	err = pex_gc_sweep(&rep, s.pool, &go, NULL, NULL);
	if (err < 0) {
		const char *msg = pex_error_last()->message;
		fprintf(stderr, "faults: gc: %s\n", msg);
		ck_assert_msg(msg && *msg, "gc failed with an empty message");
	}
	fprintf(stderr, "faults: gc: deleted %zu, already gone %zu, failed %zu\n",
		rep.deleted, rep.already_gone, rep.failed);
	ck_assert_uint_ge((rep.deleted + rep.already_gone) * 1000, s.handed * 999);
	/* a rerun finishes whatever failed (a failed delete stays queued) */
	pex_gc_report_init(&rep2, PEX_GC_REPORT_VERSION);
	for (i = 0; i < 3 && qcount(dq) > 0; i++) {
		sleep(6);   /* messages of failed deletes come back after their lease */
		pex_gc_report_init(&rep2, PEX_GC_REPORT_VERSION);
		pex_gc_sweep(&rep2, s.pool, &go, NULL, NULL);
		fprintf(stderr, "faults: gc rerun: deleted %zu, already gone %zu, failed %zu\n",
			rep2.deleted, rep2.already_gone, rep2.failed);
	}
	ck_assert_uint_eq(qcount(dq), 0);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", NO_FAULTS, NULL), 200);
	ck_assert_int_eq(emu_stat(&e, "conferences"), (long long)depth);   /* only the pool is left */
	ck_assert_uint_eq(qcount(pq), depth);

	pex_pool_free(sweeper);
	pex_pool_free(s.pool);
	pex_queue_free(dq);
	pex_queue_free(pq);
	pex_client_free(c);
	emu_stop(&e);
	ck_assert_int_eq(e.exit_status, 0);
	for (i = 0; i < s.handed; i++)
		free(s.names[i]);
	pthread_mutex_destroy(&s.lock);
	snprintf(uri, sizeof(uri), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(uri), 0);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("faults");
	TCase *tc = tcase_create("faults");
	SRunner *sr;
	int failed;

	/* under valgrind the point is the memory check of the retry, fault and
	 * settle paths: the same faults on fewer creates */
	if (getenv("PEX_UNDER_VALGRIND") && strcmp(getenv("PEX_UNDER_VALGRIND"), "1") == 0)
		g_creates = CREATES_VALGRIND;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	pex_global_init();
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test_faults);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	pex_global_shutdown();
	curl_global_cleanup();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
