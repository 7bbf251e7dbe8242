/*
 * queue-drainer: one competing consumer for the concurrency proof.
 *
 *   queue-drainer URI QUEUE ack|die VISIBILITY_S OUTFILE [BATCHES]
 *
 * URI "-" reads it from $PEX_QUEUE_URI (keeps connection strings off the
 * command line). Every message received is written to OUTFILE as
 * "<data>\t<dequeue_count>\n" before anything else is done with it.
 *
 *   ack  receive batches of 32 and delete each message, until the queue
 *        shows nothing visible twice in a row; exit 0.
 *   die  receive BATCHES (default 2) batches and _exit(0) without deleting,
 *        closing or freeing anything, as a crashed worker would.
 *
 * Exit status: 0 done, 2 usage, 3 queue failure (message on stderr).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pexipsdk/queue.h"
#include "internal.h"

static int fail(const char *what, int err)
{
	fprintf(stderr, "queue-drainer[%ld]: %s: %s (%s)\n", (long)getpid(), what,
		pex_error_last()->message, pex_error_name(err));
	return 3;
}

static int record(FILE *out, pex_message **msgs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		fprintf(out, "%.*s\t%u\n", (int)msgs[i]->len, (const char *)msgs[i]->data,
			msgs[i]->dequeue_count);
	/* on disk before the lease is acted on (or the process dies) */
	return fflush(out) == 0 && fsync(fileno(out)) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	const char *uri, *name, *mode, *path;
	unsigned vis;
	long batches = 2;
	pex_queue *q = NULL;
	FILE *out;
	int err, die, empty = 0, rc = 0;

	if (argc < 6 || argc > 7) {
		fprintf(stderr, "usage: queue-drainer URI|- QUEUE ack|die VISIBILITY_S OUTFILE [BATCHES]\n");
		return 2;
	}
	uri = strcmp(argv[1], "-") == 0 ? getenv("PEX_QUEUE_URI") : argv[1];
	name = argv[2];
	mode = argv[3];
	vis = (unsigned)strtoul(argv[4], NULL, 10);
	path = argv[5];
	if (argc == 7)
		batches = strtol(argv[6], NULL, 10);
	die = strcmp(mode, "die") == 0;
	if (!uri || (!die && strcmp(mode, "ack") != 0) || vis == 0 || batches < 1) {
		fprintf(stderr, "queue-drainer: bad arguments\n");
		return 2;
	}
	if (!(out = fopen(path, "w"))) {
		perror(path);
		return 2;
	}
	if ((err = pex_global_init()) < 0 || (err = pex_queue_open(&q, uri, name)) < 0) {
		fclose(out);
		return fail("open", err);
	}

	for (;;) {
		pex_message **msgs = NULL;
		size_t n = 0, i;

		if ((err = pex_queue_receive_batch(&msgs, &n, q, 32, vis)) < 0) {
			rc = fail("receive", err);
			break;
		}
		if (n > 0 && record(out, msgs, n) < 0) {
			perror(path);
			rc = 3;
		}
		if (die) {
			if (--batches == 0)
				_exit(rc);
			pex_message_array_free(msgs, n);
			if (n == 0)
				pex__sleep_ms(10);
			continue;
		}
		for (i = 0; i < n && rc == 0; i++) {
			err = pex_queue_delete(q, msgs[i]);
			/* Azure: a delete retried after its first attempt was
			 * processed (timeout under load) reports the lease lost
			 * (lib/azure/azure.c, Retries). Not a failure here: a
			 * lease really lost shows as a message delivered twice or
			 * left on the queue, which the test checks. */
			if (err == PEX_ELEASELOST)
				fprintf(stderr, "queue-drainer: delete: lease lost (counted by the test)\n");
			else if (err < 0)
				rc = fail("delete", err);
		}
		pex_message_array_free(msgs, n);
		if (rc)
			break;
		if (n == 0) {
			if (++empty >= 2)
				break;
			pex__sleep_ms(20);
		} else {
			empty = 0;
		}
	}
	pex_queue_free(q);
	pex_global_shutdown();
	if (fclose(out) != 0)
		rc = 3;
	return rc;
}
