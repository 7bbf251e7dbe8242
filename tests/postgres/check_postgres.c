/*
 * PostgreSQL backend specifics, against the private server of pg.sh
 * ($PEX_PG_CONNINFO, $PEX_PG_DIR, $PEX_PG_SH):
 *
 *   lost commits   a proxy between the backend and the server drops the
 *                  connection after the server committed a put, an update
 *                  or a delete but before the reply: the put is stored once,
 *                  the update keeps its new receipt, the delete reports
 *                  PEX_ELEASELOST and the message is gone;
 *   restart        the server is stopped and started again while a producer
 *                  and a consumer run: every acknowledged put is received
 *                  exactly once, nothing is lost;
 *   kill -9        a consumer holding a lease is killed; the message comes
 *                  back after the visibility timeout, once;
 *   schema         several processes create the schema at once; a newer
 *                  schema version is refused;
 *   timeout        a statement blocked by a lock runs into
 *                  statement_timeout: PEX_ETIMEOUT;
 *   put keys       older than an hour are pruned.
 *
 * Waits are for states (a pipe, a count, a message), never for a time.
 */
#include <check.h>
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pexipsdk/sys/queue_backend.h"
#include "queue/queue_internal.h"
#include "../queue/qtest.h"

static const char *g_conninfo;
static const char *g_dir;
static unsigned g_retry_ms;     /* retry_ms of the backends open_on() makes; 0 = default */

static pex_queue *open_on(const char *conninfo, const char *schema, const char *prefix)
{
	pex_queue_postgres_options o = PEX_QUEUE_POSTGRES_OPTIONS_INIT;
	pex_queue_backend *b = NULL;
	pex_queue *q = NULL;
	char name[64];

	o.conninfo = conninfo;
	o.schema = schema;
	o.retry_ms = g_retry_ms;
	qtest_name(name, sizeof(name), prefix);
	ck_ok(pex_queue_backend_postgres_new(&b, &o));
	ck_ok(pex_queue_open_backend(&q, b, name));
	return q;
}

/* A direct libpq connection for the test's own SQL. */
static PGconn *admin(void)
{
	PGconn *c = PQconnectdb(g_conninfo);

	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
	return c;
}

static void admin_exec(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);

	ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
		"%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
}

/* ---- a proxy that loses the reply to a committed statement ----
 *
 * Listens on a Unix socket in its own directory and forwards each client
 * connection to the server. Armed with a command tag ("INSERT 0 1"), it
 * watches the server's messages: after a CommandComplete with that tag, the
 * next ReadyForQuery (sent after the commit of the extended protocol's
 * Sync) is swallowed and both sides are closed, once. */

typedef struct proxy {
	char dir[256];
	int lfd;
	pthread_t thread;
	atomic_int stop;
	char tag[32];
	atomic_int armed;
	atomic_int fired;
} proxy;

static int unix_connect(const char *path)
{
	struct sockaddr_un a;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Forward one connection; parse the server's side into whole messages. */
static void proxy_pipe(proxy *px, int cfd, int sfd)
{
	unsigned char buf[65536], *sbuf = NULL;
	size_t slen = 0, scap = 0;
	int seen_tag = 0;

	for (;;) {
		struct pollfd p[2] = { { cfd, POLLIN, 0 }, { sfd, POLLIN, 0 } };
		ssize_t n;

		if (poll(p, 2, 200) < 0 || atomic_load(&px->stop))
			break;
		if (p[0].revents) {
			if ((n = read(cfd, buf, sizeof(buf))) <= 0 || write_all(sfd, buf, (size_t)n) < 0)
				break;
		}
		if (p[1].revents) {
			size_t off = 0;
			if ((n = read(sfd, buf, sizeof(buf))) <= 0)
				break;
			if (slen + (size_t)n > scap) {
				scap = (slen + (size_t)n) * 2;
				sbuf = realloc(sbuf, scap);
				ck_assert_ptr_nonnull(sbuf);
			}
			memcpy(sbuf + slen, buf, (size_t)n);
			slen += (size_t)n;
			/* forward whole messages: type byte, int32 length */
			while (slen - off >= 5) {
				unsigned char type = sbuf[off];
				size_t len = ((size_t)sbuf[off + 1] << 24) | ((size_t)sbuf[off + 2] << 16) |
					((size_t)sbuf[off + 3] << 8) | sbuf[off + 4];
				if (slen - off < 1 + len)
					break;
				if (atomic_load(&px->armed) && type == 'C' &&
				    strncmp((const char *)sbuf + off + 5, px->tag, strlen(px->tag)) == 0)
					seen_tag = 1;
				if (seen_tag && type == 'Z') {
					/* committed; the client never hears of it */
					atomic_store(&px->armed, 0);
					atomic_store(&px->fired, 1);
					free(sbuf);
					return;
				}
				if (write_all(cfd, sbuf + off, 1 + len) < 0)
					goto out;
				off += 1 + len;
			}
			memmove(sbuf, sbuf + off, slen - off);
			slen -= off;
		}
	}
out:
	free(sbuf);
}

static void *proxy_main(void *arg)
{
	proxy *px = arg;
	char server[300];

	snprintf(server, sizeof(server), "%s/.s.PGSQL.5432", g_dir);
	while (!atomic_load(&px->stop)) {
		struct pollfd p = { px->lfd, POLLIN, 0 };
		int cfd, sfd;
		if (poll(&p, 1, 200) <= 0)
			continue;
		if ((cfd = accept(px->lfd, NULL, NULL)) < 0)
			continue;
		/* one connection at a time: the backend's pool reuses one */
		if ((sfd = unix_connect(server)) >= 0) {
			proxy_pipe(px, cfd, sfd);
			close(sfd);
		}
		close(cfd);
	}
	return NULL;
}

static void proxy_start(proxy *px)
{
	struct sockaddr_un a;

	memset(px, 0, sizeof(*px));
	snprintf(px->dir, sizeof(px->dir), "%s/proxy", g_dir);
	ck_assert(mkdir(px->dir, 0700) == 0 || errno == EEXIST);
	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	snprintf(a.sun_path, sizeof(a.sun_path), "%s/.s.PGSQL.5432", px->dir);
	unlink(a.sun_path);
	px->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(px->lfd, 0);
	ck_assert_int_eq(bind(px->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(px->lfd, 8), 0);
	ck_assert_int_eq(pthread_create(&px->thread, NULL, proxy_main, px), 0);
}

static void proxy_stop(proxy *px)
{
	atomic_store(&px->stop, 1);
	pthread_join(px->thread, NULL);
	close(px->lfd);
}

static void proxy_arm(proxy *px, const char *tag)
{
	snprintf(px->tag, sizeof(px->tag), "%s", tag);
	atomic_store(&px->fired, 0);
	atomic_store(&px->armed, 1);
}

static size_t count_of(pex_queue *q)
{
	size_t n = 0;

	ck_ok(pex_queue_count(&n, q));
	return n;
}

START_TEST(test_lost_commits)
{
	proxy px;
	char conninfo[512];
	pex_queue *q;
	pex_message *m = NULL, *again = NULL;
	char *old;

	proxy_start(&px);
	snprintf(conninfo, sizeof(conninfo), "host=%s dbname=postgres user=postgres", px.dir);
	q = open_on(conninfo, NULL, "lost");

	/* put: committed, reply lost, retried with the same put key: once */
	proxy_arm(&px, "INSERT 0 1");
	ck_ok(pex_queue_put(q, "once", 4, 0));
	ck_assert_int_eq(atomic_load(&px.fired), 1);
	ck_assert_uint_eq(count_of(q), 1);

	/* update (extend): committed, reply lost; the retry finds its own receipt */
	ck_ok(pex_queue_receive(&m, q, 60));
	ck_assert_uint_eq(m->dequeue_count, 1);
	old = strdup(m->receipt);
	proxy_arm(&px, "UPDATE 1");
	ck_ok(pex_queue_extend(q, m, 120));
	ck_assert_int_eq(atomic_load(&px.fired), 1);
	ck_assert_str_ne(m->receipt, old);
	free(old);
	ck_assert_int_eq(pex_queue_receive(&again, q, 60), PEX_EEMPTY);

	/* delete: committed, reply lost: the retry cannot tell, and says the
	 * lease is lost; the message is gone either way */
	proxy_arm(&px, "DELETE 1");
	ck_assert_int_eq(pex_queue_delete(q, m), PEX_ELEASELOST);
	ck_assert_int_eq(atomic_load(&px.fired), 1);
	ck_assert_ptr_nonnull(strstr(pex_error_last()->message, "connection was lost"));
	ck_assert_uint_eq(count_of(q), 0);
	pex_message_free(m);

	pex_queue_free(q);
	proxy_stop(&px);
}
END_TEST

/* ---- the server restarted mid-run ---- */

#define RESTART_MSGS 300

typedef struct run_state {
	pex_queue *q;
	atomic_int acked;               /* puts acknowledged so far */
	unsigned char ack[RESTART_MSGS];
	atomic_uint deleted[RESTART_MSGS];      /* deletes that succeeded */
	atomic_uint maybe[RESTART_MSGS];        /* deletes that may have (lease lost) */
	atomic_int producing;
} run_state;

static void *producer(void *arg)
{
	run_state *st = arg;
	char buf[32];
	int i;

	for (i = 0; i < RESTART_MSGS; i++) {
		int len = snprintf(buf, sizeof(buf), "m-%d", i);
		if (pex_queue_put(st->q, buf, (size_t)len, 0) == 0) {
			st->ack[i] = 1;
			atomic_fetch_add(&st->acked, 1);
		} else {
			fprintf(stderr, "put %d not acknowledged: %s\n", i, pex_error_last()->message);
		}
	}
	atomic_store(&st->producing, 0);
	return NULL;
}

static void take(run_state *st, pex_message *m)
{
	int i = atoi((const char *)m->data + 2);

	ck_assert_int_ge(i, 0);
	ck_assert_int_lt(i, RESTART_MSGS);
	/* a delete whose reply was lost in the restart may have deleted it
	 * (PEX_ELEASELOST); any other failure leaves it for a later receive */
	int err = pex_queue_delete(st->q, m);
	if (err == 0)
		atomic_fetch_add(&st->deleted[i], 1);
	else if (err == PEX_ELEASELOST)
		atomic_fetch_add(&st->maybe[i], 1);
}

static void *consumer(void *arg)
{
	run_state *st = arg;

	while (atomic_load(&st->producing) || count_of(st->q) > 0) {
		pex_message *m = NULL;
		int err = pex_queue_receive(&m, st->q, 5);
		if (err == 0)
			take(st, m);
		pex_message_free(m);
	}
	return NULL;
}

static void pg_ctl(const char *what)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "sh \"%s\" %s", getenv("PEX_PG_SH"), what);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_restart)
{
	run_state *st = calloc(1, sizeof(*st));
	pthread_t prod, cons;
	int i, acked = 0;

	/* a generous retry budget: the restart, not the machine's speed, is tested */
	g_retry_ms = 600000;
	st->q = open_on(g_conninfo, NULL, "restart");
	g_retry_ms = 0;
	atomic_store(&st->producing, 1);
	ck_assert_int_eq(pthread_create(&prod, NULL, producer, st), 0);
	ck_assert_int_eq(pthread_create(&cons, NULL, consumer, st), 0);
	/* stop the server once a third is in, start it again */
	while (atomic_load(&st->acked) < RESTART_MSGS / 3)
		sched_yield();
	pg_ctl("stop");
	pg_ctl("start");
	pthread_join(prod, NULL);
	pthread_join(cons, NULL);

	for (i = 0; i < RESTART_MSGS; i++) {
		unsigned got = atomic_load(&st->deleted[i]), maybe = atomic_load(&st->maybe[i]);
		ck_assert_msg(got <= 1, "message %d consumed %u times", i, got);
		if (st->ack[i]) {
			ck_assert_msg(got == 1 || maybe > 0, "acknowledged put %d never consumed", i);
			acked++;
		}
	}
	fprintf(stderr, "restart: %d of %d puts acknowledged, each consumed once\n", acked,
		RESTART_MSGS);
	ck_assert_int_eq(acked, RESTART_MSGS);    /* the retries bridged the restart */
	ck_assert_uint_eq(count_of(st->q), 0);
	pex_queue_free(st->q);
	free(st);
}
END_TEST

/* ---- a consumer killed with kill -9 ---- */

START_TEST(test_kill9_consumer)
{
	pex_queue *q = open_on(g_conninfo, NULL, "kill");
	char name[64], id[32] = "";
	pex_message *m = NULL;
	int fds[2], status;
	ssize_t n;
	pid_t pid;

	snprintf(name, sizeof(name), "%s", pex_queue_name(q));
	ck_ok(pex_queue_put(q, "held", 4, 0));
	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		pex_queue *cq = NULL;
		pex_message *cm = NULL;
		close(fds[0]);
		if (pex_queue_open(&cq, getenv("PEX_QUEUE_URI"), name) != 0 ||
		    pex_queue_receive(&cm, cq, 2) != 0)
			_exit(3);
		if (write(fds[1], cm->id, strlen(cm->id)) < 0)
			_exit(4);
		for (;;)
			pause();
	}
	close(fds[1]);
	n = read(fds[0], id, sizeof(id) - 1);   /* the child holds the lease */
	ck_assert_int_gt(n, 0);
	close(fds[0]);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status));

	/* hidden while the dead consumer's lease lasts, then back, once */
	while (pex_queue_receive(&m, q, 60) == PEX_EEMPTY)
		pex__sleep_ms(100);
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(m->id, id);
	ck_assert_uint_eq(m->dequeue_count, 2);
	ck_ok(pex_queue_delete(q, m));
	pex_message_free(m);
	ck_assert_uint_eq(count_of(q), 0);
	pex_queue_free(q);
}
END_TEST

/* ---- the schema ---- */

START_TEST(test_schema_concurrent_and_versioned)
{
	char schema[40];
	pid_t pids[6];
	PGconn *c;
	PGresult *r;
	pex_queue_postgres_options o = PEX_QUEUE_POSTGRES_OPTIONS_INIT;
	pex_queue_backend *b = NULL;
	size_t i;
	int status;

	snprintf(schema, sizeof(schema), "s_%08llx",
		(unsigned long long)(pex__random_u64() & 0xffffffffu));
	for (i = 0; i < PEX__ARRAY_SIZE(pids); i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0) {
			pex_queue_postgres_options co = PEX_QUEUE_POSTGRES_OPTIONS_INIT;
			pex_queue_backend *cb = NULL;
			co.conninfo = g_conninfo;
			co.schema = schema;
			if (pex_queue_backend_postgres_new(&cb, &co) != 0) {
				fprintf(stderr, "child: %s\n", pex_error_last()->message);
				_exit(1);
			}
			cb->free(cb);
			_exit(0);
		}
	}
	for (i = 0; i < PEX__ARRAY_SIZE(pids); i++) {
		ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			"a process creating the schema at the same time failed");
	}
	c = admin();
	{
		char sql[128];
		snprintf(sql, sizeof(sql), "SELECT count(*), max(version) FROM %s.schema_version", schema);
		r = PQexec(c, sql);
		ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
		ck_assert_str_eq(PQgetvalue(r, 0, 0), "1");
		ck_assert_str_eq(PQgetvalue(r, 0, 1), "1");
		PQclear(r);
		/* a later library's schema is refused, not used */
		snprintf(sql, sizeof(sql), "UPDATE %s.schema_version SET version = 99", schema);
		admin_exec(c, sql);
	}
	o.conninfo = g_conninfo;
	o.schema = schema;
	ck_assert_int_eq(pex_queue_backend_postgres_new(&b, &o), PEX_EBACKEND);
	ck_assert_ptr_null(b);
	ck_assert_ptr_nonnull(strstr(pex_error_last()->message, "version 99, newer"));
	PQfinish(c);
}
END_TEST

/* Put keys older than an hour are pruned (here: when a backend opens); a
 * recent one stays (a put may still be retried with it). */
START_TEST(test_put_keys_pruned)
{
	pex_queue *q;
	PGconn *c = admin();
	PGresult *r;

	q = open_on(g_conninfo, NULL, "prune");
	pex_queue_free(q);
	admin_exec(c, "INSERT INTO pexipsdk.queue_put VALUES "
		"('old-key', now() - interval '2 hours'), ('new-key', now() - interval '50 minutes')");
	q = open_on(g_conninfo, NULL, "prune");
	r = PQexec(c, "SELECT string_agg(put_key, ',') FROM pexipsdk.queue_put "
		"WHERE put_key IN ('old-key', 'new-key')");
	ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
	ck_assert_str_eq(PQgetvalue(r, 0, 0), "new-key");
	PQclear(r);
	PQfinish(c);
	pex_queue_free(q);
}
END_TEST

/* ---- statement timeout ---- */

START_TEST(test_statement_timeout)
{
	pex_queue_postgres_options o = PEX_QUEUE_POSTGRES_OPTIONS_INIT;
	pex_queue_backend *b = NULL;
	pex_queue *q = NULL;
	PGconn *c;

	o.conninfo = g_conninfo;
	o.statement_timeout_ms = 300;
	ck_ok(pex_queue_backend_postgres_new(&b, &o));
	ck_ok(pex_queue_open_backend(&q, b, "timeout-queue"));
	c = admin();
	admin_exec(c, "BEGIN");
	admin_exec(c, "LOCK TABLE pexipsdk.queue_message IN ACCESS EXCLUSIVE MODE");
	ck_assert_int_eq(pex_queue_put(q, "x", 1, 0), PEX_ETIMEOUT);
	ck_assert_ptr_nonnull(strstr(pex_error_last()->message, "statement_timeout"));
	admin_exec(c, "ROLLBACK");
	PQfinish(c);
	ck_ok(pex_queue_put(q, "x", 1, 0));
	ck_ok(pex_queue_clear(q));
	pex_queue_free(q);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("postgres");
	TCase *tc = tcase_create("backend");
	SRunner *sr;
	int failed;

	g_conninfo = getenv("PEX_PG_CONNINFO");
	g_dir = getenv("PEX_PG_DIR");
	if (!g_conninfo || !g_dir || !getenv("PEX_PG_SH"))
		return qtest_skip("check-postgres", "run it under tests/postgres/pg.sh run");
	if (pex_global_init() < 0)
		return 1;
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_lost_commits);
	tcase_add_test(tc, test_restart);
	tcase_add_test(tc, test_kill9_consumer);
	tcase_add_test(tc, test_schema_concurrent_and_versioned);
	tcase_add_test(tc, test_statement_timeout);
	tcase_add_test(tc, test_put_keys_pruned);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	pex_global_shutdown();
	return failed ? 1 : 0;
}
