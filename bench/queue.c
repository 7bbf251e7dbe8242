/* "queue": #9, lease + delete pairs per second on one queue (no floor: a
 * figure to compare backends and releases). The queue is filled first (not
 * timed), then drained one message at a time: receive (lease) + delete,
 * each pair timed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

int bench_queue(const bench_opts *o, const char *uri, const char *label)
{
	const size_t n = o->quick ? 200 : (strncmp(uri, "azure:", 6) == 0 ? 1000 : 3000);
	char what[96], fig[96], body[200];
	pex_queue *q = NULL;
	double *t, t0, total;
	size_t i;

	if (pex_queue_open(&q, uri, "bench-ops") < 0)
		bench_die("opening %s queue: %s", label, pex_error_last()->message);
	if (pex_queue_clear(q) < 0)
		bench_die("clearing the %s queue: %s", label, pex_error_last()->message);
	/* a pool-message-sized payload */
	memset(body, 'x', sizeof(body) - 1);
	body[sizeof(body) - 1] = '\0';
	for (i = 0; i < n; i++)
		if (pex_queue_put(q, body, strlen(body), 0) < 0)
			bench_die("%s put: %s", label, pex_error_last()->message);
	if (!(t = calloc(n, sizeof(double))))
		bench_die("out of memory");
	bench_log("queue: %zu lease + delete on %s", n, label);
	total = bench_now();
	for (i = 0; i < n; i++) {
		pex_message *m = NULL;
		t0 = bench_now();
		if (pex_queue_receive(&m, q, 60) < 0)
			bench_die("%s receive: %s", label, pex_error_last()->message);
		if (pex_queue_delete(q, m) < 0)
			bench_die("%s delete: %s", label, pex_error_last()->message);
		t[i] = (bench_now() - t0) * 1e3;
		pex_message_free(m);
	}
	total = bench_now() - total;
	snprintf(what, sizeof(what), "queue lease + delete, %s", label);
	snprintf(fig, sizeof(fig), "%.0f pairs/s (p50 %.3f ms, p99 %.3f ms)", (double)n / total,
		bench_pct(t, n, 50), bench_pct(t, n, 99));
	bench_row("9", what, fig, "-", -1, "reported", -1);
	free(t);
	pex_queue_free(q);
	return 0;
}
