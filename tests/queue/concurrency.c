/*
 * The multi-process proof (docs/ARCHITECTURE.md, Guarantees: "at most
 * once", "nothing lost"):
 * several queue-drainer PROCESSES compete for one queue.
 *
 *   ack: 2,000 messages (500 under valgrind), 4 drainers receive in batches and delete; every
 *        message is delivered exactly once across all of them.
 *   die: 2,000 messages, 4 drainers each lease a few batches (5 s
 *        visibility) and _exit without deleting; no two of them got the
 *        same message; after the leases run out one receiver drains the
 *        queue and finds every message exactly once, the abandoned ones
 *        with a higher dequeue count.
 *
 * Backend from $PEX_QUEUE_URI (the drainers inherit it); the drainer binary
 * from $PEX_QUEUE_DRAINER, else "queue-drainer" next to this program.
 * Exits 77 for backends that cannot be shared between processes (memory)
 * or are not reachable.
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pexipsdk/sys/queue_backend.h"
#include "queue/queue_internal.h"
#include "qtest.h"

#define NMSG 2000            /* messages; under valgrind NMSG_VALGRIND (see main) */
#define NMSG_VALGRIND 500
#define NPROC 4
#define DIE_VIS 5   /* long enough that a drainer slowed by a loaded machine still holds its
                     * first batch while it leases its last (else sharing is legitimate) */
#define DIE_BATCHES "3"

static const char *g_uri;
static int g_nmsg = NMSG;
static char g_drainer[PATH_MAX];
static char g_tmp[PATH_MAX];

/* Messages are "<run>-<index>"; seen[index] counts deliveries. */
typedef struct tally {
	char run[24];
	unsigned seen[NMSG];
	unsigned max_dequeue[NMSG];
	size_t total;
} tally;

static void tally_add(tally *t, const char *data, size_t len, unsigned dq)
{
	size_t rl = strlen(t->run);
	char *end;
	long i;

	ck_assert_msg(len > rl + 1 && memcmp(data, t->run, rl) == 0 && data[rl] == '-',
		"foreign message '%.*s'", (int)len, data);
	i = strtol(data + rl + 1, &end, 10);
	ck_assert_msg(end == data + len && i >= 0 && i < g_nmsg, "bad message '%.*s'",
		(int)len, data);
	t->seen[i]++;
	if (dq > t->max_dequeue[i])
		t->max_dequeue[i] = dq;
	t->total++;
}

/* Add what one drainer wrote ("<data>\t<dequeue>\n" lines). */
static void tally_file(tally *t, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[256];
	size_t before = t->total;

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		char *tab = strchr(line, '\t');
		ck_assert_msg(tab != NULL, "%s: bad line '%s'", path, line);
		*tab = '\0';
		tally_add(t, line, strlen(line), (unsigned)strtoul(tab + 1, NULL, 10));
	}
	fclose(f);
	/* shows the work was really shared */
	fprintf(stderr, "  %s: %zu messages\n", strrchr(path, '/') + 1, t->total - before);
}

static pex_queue *fill(tally *t)
{
	pex_queue *q = NULL;
	char name[64], buf[64];
	size_t n = 0;
	int i;

	memset(t, 0, sizeof(*t));
	snprintf(t->run, sizeof(t->run), "%08llx",
		(unsigned long long)(pex__random_u64() & 0xffffffffu));
	qtest_name(name, sizeof(name), "conc");
	ck_ok(pex_queue_open(&q, g_uri, name));
	ck_ok(pex_queue_clear(q));
	for (i = 0; i < g_nmsg; i++) {
		int len = snprintf(buf, sizeof(buf), "%s-%d", t->run, i);
		ck_ok(pex_queue_put(q, buf, (size_t)len, 0));
	}
	ck_ok(pex_queue_count(&n, q));
	ck_assert_uint_eq(n, (size_t)g_nmsg);
	return q;
}

static void out_path(char *buf, size_t size, const char *mode, int i)
{
	snprintf(buf, size, "%s/%s-%d.txt", g_tmp, mode, i);
}

/* Start NPROC drainers on q at once; wait for all; check they exited 0. */
static void run_drainers(pex_queue *q, const char *mode, const char *vis, const char *batches)
{
	pid_t pids[NPROC];
	int i;

	for (i = 0; i < NPROC; i++) {
		char out[PATH_MAX];
		out_path(out, sizeof(out), mode, i);
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0) {
			char *argv[] = { g_drainer, "-", (char *)pex_queue_name(q), (char *)mode,
				(char *)vis, out, (char *)batches, NULL };
			execv(g_drainer, argv);
			_exit(127);
		}
	}
	for (i = 0; i < NPROC; i++) {
		int status = 0;
		ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			"drainer %d (%s) failed: status 0x%x", i, mode, status);
	}
}

START_TEST(test_ack_exactly_once)
{
	tally *t = calloc(1, sizeof(*t));
	pex_queue *q;
	size_t n = 99;
	int i;

	ck_assert_ptr_nonnull(t);
	q = fill(t);
	run_drainers(q, "ack", "60", NULL);
	for (i = 0; i < NPROC; i++) {
		char path[PATH_MAX];
		out_path(path, sizeof(path), "ack", i);
		tally_file(t, path);
		unlink(path);
	}
	for (i = 0; i < g_nmsg; i++)
		ck_assert_msg(t->seen[i] == 1, "message %d delivered %u times", i, t->seen[i]);
	ck_assert_uint_eq(t->total, (size_t)g_nmsg);
	ck_ok(pex_queue_count(&n, q));
	ck_assert_uint_eq(n, 0);
	pex_queue_free(q);
	free(t);
}
END_TEST

START_TEST(test_die_nothing_lost)
{
	tally *leased = calloc(1, sizeof(*leased)), *final = calloc(1, sizeof(*final));
	char vis[16];
	pex_queue *q;
	size_t n = 99;
	int i, empty = 0;

	ck_assert_ptr_nonnull(leased);
	ck_assert_ptr_nonnull(final);
	q = fill(final);
	memcpy(leased->run, final->run, sizeof(leased->run));
	snprintf(vis, sizeof(vis), "%d", DIE_VIS);
	run_drainers(q, "die", vis, DIE_BATCHES);

	/* at most once while the leases held: no two dead workers shared one */
	for (i = 0; i < NPROC; i++) {
		char path[PATH_MAX];
		out_path(path, sizeof(path), "die", i);
		tally_file(leased, path);
		unlink(path);
	}
	ck_assert_uint_gt(leased->total, 0);
	for (i = 0; i < g_nmsg; i++)
		ck_assert_msg(leased->seen[i] <= 1, "message %d leased %u times at once", i,
			leased->seen[i]);

	/* let the abandoned leases run out, then drain everything */
	pex__sleep_ms(DIE_VIS * 1000 + 1200);
	while (empty < 2) {
		pex_message **msgs = NULL;
		size_t got = 0, k;
		ck_ok(pex_queue_receive_batch(&msgs, &got, q, 32, 60));
		for (k = 0; k < got; k++) {
			int err;
			tally_add(final, (const char *)msgs[k]->data, msgs[k]->len,
				msgs[k]->dequeue_count);
			/* PEX_ELEASELOST: a retried delete whose first attempt was
			 * processed (Azure under load; see drainer.c). A lease
			 * really lost leaves the message to be drained twice or
			 * to stay queued: both fail below. */
			err = pex_queue_delete(q, msgs[k]);
			ck_assert_msg(err == 0 || err == PEX_ELEASELOST, "pex_queue_delete: %s",
				pex_error_last()->message);
		}
		pex_message_array_free(msgs, got);
		empty = got ? 0 : empty + 1;
	}
	for (i = 0; i < g_nmsg; i++) {
		ck_assert_msg(final->seen[i] == 1, "message %d drained %u times", i,
			final->seen[i]);
		if (leased->seen[i])
			ck_assert_msg(final->max_dequeue[i] >= 2,
				"message %d was abandoned but has dequeue count %u", i,
				final->max_dequeue[i]);
	}
	ck_assert_uint_eq(final->total, (size_t)g_nmsg);
	ck_ok(pex_queue_count(&n, q));
	ck_assert_uint_eq(n, 0);
	pex_queue_free(q);
	free(leased);
	free(final);
}
END_TEST

static int find_drainer(const char *argv0)
{
	const char *env = getenv("PEX_QUEUE_DRAINER");
	char self[PATH_MAX];
	ssize_t n;
	char *slash;

	if (env && *env) {
		snprintf(g_drainer, sizeof(g_drainer), "%s", env);
	} else {
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n <= 0)
			snprintf(self, sizeof(self), "%s", argv0);
		else
			self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL)
			slash[1] = '\0';
		else
			self[0] = '\0';
		snprintf(g_drainer, sizeof(g_drainer), "%squeue-drainer", self);
	}
	if (access(g_drainer, X_OK) != 0) {
		fprintf(stderr, "queue-concurrency: no drainer at %s (set PEX_QUEUE_DRAINER)\n",
			g_drainer);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	SRunner *sr;
	Suite *s;
	TCase *tc;
	pex_queue *q = NULL;
	unsigned caps;
	int failed, rc;

	(void)argc;
	g_uri = qtest_uri();
	/* the drainers read the URI from the environment */
	setenv("PEX_QUEUE_URI", g_uri, 1);
	if (find_drainer(argv[0]) < 0)
		return 1;
	if (pex_global_init() < 0)
		return 1;
	if ((rc = qtest_probe("queue-concurrency", g_uri)) != 0) {
		pex_global_shutdown();
		return rc;
	}
	if (pex_queue_open(&q, g_uri, "pex-test-probe") < 0) {
		fprintf(stderr, "queue-concurrency: %s\n", pex_error_last()->message);
		return 1;
	}
	caps = pex__queue_backend(q)->caps;
	pex_queue_free(q);
	pex_global_shutdown();
	if (!(caps & PEX_QUEUE_CAP_MULTIPROCESS)) {
		char why[128];
		snprintf(why, sizeof(why), "backend '%s' cannot be shared between processes",
			qtest_scheme(g_uri));
		return qtest_skip("queue-concurrency", why);
	}
	snprintf(g_tmp, sizeof(g_tmp), "%s/pex-qconc-XXXXXX",
		getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(g_tmp)) {
		perror(g_tmp);
		return 1;
	}
	/* valgrind checks memory, not scale: the plain and ASan runs take 2,000 */
	if (getenv("PEX_UNDER_VALGRIND"))
		g_nmsg = NMSG_VALGRIND;
	fprintf(stderr, "queue-concurrency: backend '%s', %d processes, %d messages\n",
		qtest_scheme(g_uri), NPROC, g_nmsg);

	if (pex_global_init() < 0)
		return 1;
	s = suite_create("queue-concurrency");
	tc = tcase_create("processes");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_ack_exactly_once);
	tcase_add_test(tc, test_die_nothing_lost);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	pex_global_shutdown();
	if (!failed) {
		/* on failure the drainers' files stay behind for a look */
		rmdir(g_tmp);
	} else {
		fprintf(stderr, "queue-concurrency: drainer output kept in %s\n", g_tmp);
	}
	return failed ? 1 : 0;
}
