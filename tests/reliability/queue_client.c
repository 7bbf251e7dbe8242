/* A queue client for queue_outage.sh, over the Azure backend (public API
 * plus pexipsdk/sys for the per-request timeout and retries):
 *
 *   queue-client CONNSTR QUEUE put N PREFIX   put PREFIX-0 .. PREFIX-(N-1)
 *   queue-client CONNSTR QUEUE pop N VIS      N pops (receive VIS s, then delete)
 *   queue-client CONNSTR QUEUE drain          receive + delete until empty
 *   queue-client CONNSTR QUEUE drain-all S    drain, and until the count is 0
 *                                             (leased messages come back) or
 *                                             S seconds passed, drain again
 *   queue-client CONNSTR QUEUE count
 *   queue-client CONNSTR QUEUE run SECONDS    alternate put / pop every 50 ms
 *   queue-client CONNSTR QUEUE putpeek SECONDS PREFIX
 *                                             alternate put PREFIX-<n> / peek
 *                                             every 50 ms: only puts change
 *                                             the queue
 *
 * One line on stdout per operation, flushed at once:
 *   <ms since start> <op> ok [<message>]
 *   <ms since start> <op> empty
 *   <ms since start> <op> err <PEX_CODE> <message>
 * so the script can check that every operation either succeeded or said
 * why not. The client never deletes a message it did not receive, and a
 * pop whose delete failed says so ("pop err"): the message then comes back
 * when its lease ends. Exit status: 0, or 2 on bad usage.
 *
 * With $QC_STOP_PID set, the client sends SIGSTOP to that process once the
 * queue is open (the brown-out: the server freezes between two requests).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pexipsdk/pexipsdk.h>
#include <pexipsdk/sys/queue_backend.h>

static struct timespec t0;

static long long ms_since_start(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0.tv_sec) * 1000LL + (t.tv_nsec - t0.tv_nsec) / 1000000;
}

static void report(const char *op, int err, const char *what)
{
	if (err == 0)
		printf("%lld %s ok%s%s\n", ms_since_start(), op, what ? " " : "", what ? what : "");
	else if (err == PEX_EEMPTY)
		printf("%lld %s empty\n", ms_since_start(), op);
	else
		printf("%lld %s err %s %s\n", ms_since_start(), op, pex_error_name(err),
			pex_error_last()->message);
	fflush(stdout);
}

static int do_put(pex_queue *q, const char *text)
{
	int err = pex_queue_put(q, text, strlen(text), 0);
	report("put", err, text);
	return err;
}

static int do_pop(pex_queue *q, unsigned vis)
{
	pex_message *m = NULL;
	char text[256];
	int err = pex_queue_receive(&m, q, vis);

	if (err < 0) {
		report("pop", err, NULL);
		return err;
	}
	snprintf(text, sizeof(text), "%.*s", (int)m->len, (const char *)m->data);
	/* acknowledged only once the delete succeeded */
	if ((err = pex_queue_delete(q, m)) < 0) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s (received %s, not deleted)", pex_error_last()->message, text);
		printf("%lld pop err %s %s\n", ms_since_start(), pex_error_name(err), msg);
		fflush(stdout);
	} else {
		report("pop", 0, text);
	}
	pex_message_free(m);
	return err;
}

static int do_peek(pex_queue *q)
{
	pex_message **msgs = NULL;
	size_t n = 0;
	int err = pex_queue_peek(&msgs, &n, q, 1);

	if (err == 0 && n == 0)
		err = PEX_EEMPTY;
	report("peek", err, NULL);
	pex_message_array_free(msgs, n);
	return err;
}

static int do_count(pex_queue *q, size_t *n)
{
	char text[32];
	int err = pex_queue_count(n, q);

	snprintf(text, sizeof(text), "%zu", *n);
	report("count", err, text);
	return err;
}

static int open_queue(pex_queue **q, const char *conn, const char *name)
{
	pex_queue_azure_options o = PEX_QUEUE_AZURE_OPTIONS_INIT;
	pex_queue_backend *b = NULL;
	int err;

	o.connection_string = conn;
	o.timeout_ms = 1500;     /* outages show quickly */
	o.retries = 1;
	if ((err = pex_queue_backend_azure_new(&b, &o)) < 0)
		return err;
	if ((err = pex_queue_open_backend(q, b, name)) < 0)
		b->free(b);
	return err;
}

int main(int argc, char **argv)
{
	pex_queue *q = NULL;
	const char *cmd;
	int err, rc = 0;

	if (argc < 4) {
		fprintf(stderr, "usage: queue-client CONNSTR QUEUE put N PREFIX|pop N VIS|drain|"
			"drain-all S|count|run S|putpeek S PREFIX\n");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cmd = argv[3];
	if (pex_global_init() < 0)
		return 1;
	if ((err = open_queue(&q, argv[1], argv[2])) < 0) {
		report("open", err, NULL);
		pex_global_shutdown();
		return 1;
	}
	if (getenv("QC_STOP_PID") && kill((pid_t)atol(getenv("QC_STOP_PID")), SIGSTOP) < 0) {
		perror("queue-client: SIGSTOP");
		rc = 1;
	} else if (strcmp(cmd, "put") == 0 && argc == 6) {
		long n = atol(argv[4]);
		for (long i = 0; i < n; i++) {
			char text[128];
			snprintf(text, sizeof(text), "%s-%ld", argv[5], i);
			if (do_put(q, text) < 0)
				rc = 1;
		}
	} else if (strcmp(cmd, "pop") == 0 && argc == 6) {
		long n = atol(argv[4]);
		for (long i = 0; i < n; i++)
			do_pop(q, (unsigned)atoi(argv[5]));
	} else if (strcmp(cmd, "drain") == 0) {
		while ((err = do_pop(q, 30)) == 0)
			;
		rc = err == PEX_EEMPTY ? 0 : 1;
	} else if (strcmp(cmd, "drain-all") == 0 && argc == 5) {
		long long end = ms_since_start() + atol(argv[4]) * 1000LL;
		struct timespec pause = { 0, 500 * 1000000L };
		size_t n = 1;
		for (;;) {
			while ((err = do_pop(q, 5)) == 0)
				;
			if (err != PEX_EEMPTY || (err = do_count(q, &n)) < 0 || n == 0 ||
			    ms_since_start() >= end)
				break;
			nanosleep(&pause, NULL);
		}
		rc = err < 0 || n != 0;
	} else if (strcmp(cmd, "count") == 0) {
		size_t n = 0;
		rc = do_count(q, &n) < 0;
	} else if (strcmp(cmd, "putpeek") == 0 && argc == 6) {
		long long end = atol(argv[4]) * 1000LL;
		struct timespec pause = { 0, 50 * 1000000L };
		long seq = 0;
		while (ms_since_start() < end) {
			char text[64];
			snprintf(text, sizeof(text), "%s-%ld", argv[5], seq++);
			do_put(q, text);
			nanosleep(&pause, NULL);
			do_peek(q);
			nanosleep(&pause, NULL);
		}
	} else if (strcmp(cmd, "run") == 0 && argc == 5) {
		long long end = atol(argv[4]) * 1000LL;
		struct timespec pause = { 0, 50 * 1000000L };
		long seq = 0;
		while (ms_since_start() < end) {
			char text[64];
			snprintf(text, sizeof(text), "run-%ld", seq++);
			do_put(q, text);
			nanosleep(&pause, NULL);
			do_pop(q, 30);
			nanosleep(&pause, NULL);
		}
	} else {
		fprintf(stderr, "queue-client: bad command '%s'\n", cmd);
		rc = 2;
	}
	pex_queue_free(q);
	pex_global_shutdown();
	return rc;
}
