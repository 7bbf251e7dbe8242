/* "rss": #6, the room server's resident set after 100,000 requests against
 * the same after 1,000 (its floor: the server warmed up, every code path
 * taken, caches and thread stacks in place).
 *
 * The requests are POST /room/create (the critical path: pop, PATCH,
 * acknowledge, background replenish), sent by 4 threads over keep-alive
 * connections. VmRSS is read from /proc/PID/status after the background
 * replenish has caught up (the pool is back at its depth).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define UUI_HEX "62656e63682d73657373696f6e2d30303031"

typedef struct load_ctx {
	atomic_long left;         /* requests still to send */
	atomic_long bad;          /* answers other than 200 */
} load_ctx;

typedef struct load_worker_arg {
	load_ctx *c;
	const char *url;
} load_worker_arg;

static void *load_worker(void *x)
{
	load_worker_arg *a = x;
	load_ctx *c = a->c;
	CURL *h = curl_easy_init();
	struct curl_slist *hdr = curl_slist_append(NULL, "X-API-Key: " BENCH_API_KEY);
	while (atomic_fetch_sub(&c->left, 1) > 0)
		if (bench_http(h, "POST", a->url, hdr, NULL) != 200)
			atomic_fetch_add(&c->bad, 1);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	return NULL;
}

long bench_load(const char *const *urls, int nurls, long n)
{
	pthread_t th[BENCH_LOAD_THREADS];
	load_worker_arg a[BENCH_LOAD_THREADS];
	load_ctx c;
	int i;
	atomic_init(&c.left, n);
	atomic_init(&c.bad, 0);
	for (i = 0; i < BENCH_LOAD_THREADS; i++) {
		a[i].c = &c;
		a[i].url = urls[i % nurls];
		if (pthread_create(&th[i], NULL, load_worker, &a[i]) != 0)
			bench_die("pthread_create");
	}
	for (i = 0; i < BENCH_LOAD_THREADS; i++)
		pthread_join(th[i], NULL);
	return atomic_load(&c.bad);
}

static long load(const char *url, long n)
{
	return bench_load(&url, 1, n);
}

void bench_settle(const bench_server *s, size_t depth, double max_s)
{
	double until = bench_now() + max_s;
	CURL *h = curl_easy_init();
	while (bench_now() < until && bench_server_depth(h, s->base) < (long)depth)
		usleep(100000);
	curl_easy_cleanup(h);
	usleep(200000);
}

int bench_rss(const bench_opts *o)
{
	const unsigned depth = 1000;
	const long first_n = 1000;
	long total = o->quick ? 10000 : 100000, bad1, bad2;
	long rss1, rss2;
	long long first, conns;
	char url[160], fig[64], flo[64];
	double t0, secs;
	bench_server s;
	emu_t e;

	if (!bench_have_server(o, "6", "room-server RSS after 100,000 requests", "<= 1.1x and <= 16 MiB"))
		return 0;
	bench_emu_start(&e, NULL);
	first = bench_populate(&e, "r_", 0, depth);
	if (bench_server_start(&s, o, &e, "server-rss", depth, "r_", first, depth) < 0) {
		bench_row_missing("6", "room-server RSS after 100,000 requests", "<= 1.1x and <= 16 MiB",
			"room server did not start");
		emu_stop(&e);
		return 0;
	}
	bench_emu_reset_stats(&e);
	snprintf(url, sizeof(url), "%s/room/create?uuiData=%s", s.base, UUI_HEX);
	bench_log("rss: %ld requests, then %ld more", first_n, total - first_n);
	t0 = bench_now();
	bad1 = load(url, first_n);
	bench_settle(&s, depth, 30);
	rss1 = bench_rss_kib(s.pid);
	bad2 = load(url, total - first_n);
	secs = bench_now() - t0;
	bench_settle(&s, depth, 60);
	rss2 = bench_rss_kib(s.pid);
	conns = bench_emu_stat(&e, "connections_opened");
	bench_server_stop(&s);
	emu_stop(&e);

	snprintf(fig, sizeof(fig), "%.1f MiB", (double)rss2 / 1024);
	snprintf(flo, sizeof(flo), "%.1f MiB", (double)rss1 / 1024);
	bench_row("6", "room-server RSS after 100,000 requests", fig, flo, (double)rss2 / (double)rss1,
		"<= 1.1x and <= 16 MiB", rss2 <= 1.1 * (double)rss1 && rss2 <= 16 * 1024);
	bench_note("#6: %ld POST /room/create in %.1f s (%.0f/s incl. settling), %ld not 200; "
		"the server opened %lld TCP connections to Pexip (max_concurrency 5)",
		total, secs, (double)total / secs, bad1 + bad2, conns);
	return 0;
}
