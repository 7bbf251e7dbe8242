/* "sustain": #11, the hand-out rate the room server sustains once its pool
 * has run dry, when replenishment sets the pace.
 *
 * Every hand-out costs two Pexip requests: the PATCH of its tag
 * (foreground) and the POST of its replacement (background). With
 * max_concurrency requests in flight at latency L, no server can hand out
 * more than max_concurrency / (2 x L) rooms per second for long: that is
 * the floor, and the figure is wrk's rate of POST /room/create against a
 * server whose pool is small (pool.depth 20, prefilled) for long enough
 * that the pool's stock is a rounding error. Goal: at least 0.8x.
 *
 * The second figure is the hand-out p50 under that load: POST /room/create
 * offered at 0.8x the floor's rate, spread evenly over the same number of
 * keep-alive connections (each request is timed from when it was due, so
 * a server that falls behind is charged for the wait), against the p50 of
 * one PATCH (wrk, one connection, straight to the emulator at the same
 * latency). Goal: at most 1.5x. (wrk's own p50 at saturation is in the
 * notes: a closed loop of N clients at rate R waits N / R on average, so
 * it measures the client count more than the server.)
 *
 * Each is taken at 5 and 20 ms of injected latency, with 4 and 16 client
 * connections. The emulator's Pexip request count and in-flight high-water
 * mark during each run go to the notes.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

#define SUSTAIN_UUI "62656e63682d7375737461696e2d3031"
#define SUSTAIN_TAG "https://svc.example.com/tag/bench-sustain-01"
#define SUSTAIN_DEPTH 20
#define SUSTAIN_CONCURRENCY 5         /* max_concurrency in bench_server_start's configuration */
#define SUSTAIN_REQUESTS_PER_HANDOUT 2

/* ---- a paced load: requests offered at a fixed rate ---- */

typedef struct paced_arg {
	const char *url;
	double start, interval;  /* this connection's first due time, its spacing (s) */
	size_t n;                /* requests to send */
	double *ms;              /* n latencies, from the due time */
	size_t bad;              /* answers other than 200 */
} paced_arg;

static void sleep_until(double t)
{
	double d = t - bench_now();
	struct timespec ts;
	if (d <= 0)
		return;
	ts.tv_sec = (time_t)d;
	ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

static void *paced_main(void *x)
{
	paced_arg *a = x;
	CURL *h = curl_easy_init();
	struct curl_slist *hdr = curl_slist_append(NULL, "X-API-Key: " BENCH_API_KEY);
	size_t i;
	for (i = 0; i < a->n; i++) {
		double due = a->start + (double)i * a->interval;
		sleep_until(due);
		if (bench_http(h, "POST", a->url, hdr, NULL) != 200)
			a->bad++;
		a->ms[i] = (bench_now() - due) * 1000;
	}
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	return NULL;
}

/* Offer @p rate POST /room/create per second to @p url for @p secs over
 * @p conns connections; the p50 latency in ms, *bad = answers not 200. */
static double paced_p50(const char *url, int conns, double rate, double secs, size_t *bad)
{
	paced_arg a[16];
	pthread_t th[16];
	size_t per = (size_t)(rate * secs / conns), total = 0, i;
	double t0 = bench_now() + 0.05, *all, p50;
	int k;

	if (conns > 16)
		bench_die("paced load: at most 16 connections");
	*bad = 0;
	for (k = 0; k < conns; k++) {
		a[k].url = url;
		a[k].interval = conns / rate;
		a[k].start = t0 + k / rate;      /* the connections take turns */
		a[k].n = per;
		a[k].bad = 0;
		if (!(a[k].ms = calloc(per ? per : 1, sizeof(double))))
			bench_die("out of memory");
		if (pthread_create(&th[k], NULL, paced_main, &a[k]) != 0)
			bench_die("pthread_create");
	}
	if (!(all = calloc(per * (size_t)conns + 1, sizeof(double))))
		bench_die("out of memory");
	for (k = 0; k < conns; k++) {
		pthread_join(th[k], NULL);
		for (i = 0; i < per; i++)
			all[total++] = a[k].ms[i];
		*bad += a[k].bad;
		free(a[k].ms);
	}
	p50 = bench_pct(all, total, 50);
	free(all);
	return p50;
}

static void sustain_at(const bench_opts *o, emu_t *e, int latency_ms)
{
	static const int conns[] = { 4, 16 };
	const double secs = o->quick ? 3 : 10;
	const double floor_rate = SUSTAIN_CONCURRENCY /
		(SUSTAIN_REQUESTS_PER_HANDOUT * (double)latency_ms / 1000);
	char prefix[32], name[32], url[160], first_s[32], count_s[32], what[128], fig[96], flo[96];
	double patch50 = 0, rate, p50, wrk50, junk;
	long long first, bad;
	size_t paced_bad;
	bench_server srv;
	size_t k;

	snprintf(prefix, sizeof(prefix), "s%d_", latency_ms);
	snprintf(name, sizeof(name), "server-sustain-%d", latency_ms);
	if (!o->server_bin || !o->wrk_bin) {
		snprintf(what, sizeof(what), "sustained hand-outs/s (%d ms)", latency_ms);
		bench_row_missing("11", what, ">= 0.8x", !o->server_bin ? "room server not built" : "no wrk");
		return;
	}
	bench_emu_latency(e, 0);
	first = bench_populate(e, prefix, 0, SUSTAIN_DEPTH);
	if (bench_server_start(&srv, o, e, name, SUSTAIN_DEPTH, prefix, first, SUSTAIN_DEPTH) < 0) {
		snprintf(what, sizeof(what), "sustained hand-outs/s (%d ms)", latency_ms);
		bench_row_missing("11", what, ">= 0.8x", "room server did not start");
		return;
	}
	bench_emu_latency(e, latency_ms);

	/* the floor of the p50: one PATCH at a time, straight to the emulator */
	{
		const char *fargs[] = { first_s, count_s, SUSTAIN_TAG, NULL };
		snprintf(first_s, sizeof(first_s), "%lld", first);
		snprintf(count_s, sizeof(count_s), "%d", SUSTAIN_DEPTH);
		snprintf(url, sizeof(url), "%s/", e->url);
		if (bench_wrk(o, "patch.lua", url, fargs, 1, secs / 2, &junk, &bad, &patch50) < 0)
			bench_die("wrk failed (PATCH p50)");
	}

	for (k = 0; k < sizeof(conns) / sizeof(conns[0]); k++) {
		const char *sargs[] = { BENCH_API_KEY, SUSTAIN_UUI, NULL };
		long long requests, patches, max_in_flight;

		bench_settle(&srv, SUSTAIN_DEPTH, 60);
		bench_emu_reset_stats(e);
		bench_log("sustain: wrk -c%d %.0f s against the server (latency %d ms)", conns[k], secs,
			latency_ms);
		snprintf(url, sizeof(url), "%s/", srv.base);
		if (bench_wrk(o, "create.lua", url, sargs, conns[k], secs, &rate, &bad, &wrk50) < 0) {
			snprintf(what, sizeof(what), "sustained hand-outs/s, wrk -c%d (%d ms)", conns[k], latency_ms);
			bench_row_missing("11", what, ">= 0.8x", "wrk failed");
			continue;
		}
		requests = bench_emu_stat(e, "requests");
		patches = bench_emu_stat(e, "by_method.PATCH");
		max_in_flight = bench_emu_stat(e, "max_in_flight");
		/* the p50 at the goal's rate, from a full pool again */
		bench_settle(&srv, SUSTAIN_DEPTH, 60);
		snprintf(url, sizeof(url), "%s/room/create?uuiData=%s", srv.base, SUSTAIN_UUI);
		p50 = paced_p50(url, conns[k], 0.8 * floor_rate, secs, &paced_bad);

		snprintf(what, sizeof(what), "sustained hand-outs/s, wrk -c%d (%d ms)", conns[k], latency_ms);
		snprintf(fig, sizeof(fig), "%.0f rooms/s", rate);
		snprintf(flo, sizeof(flo), "%.0f rooms/s (%d / (%d x %d ms))", floor_rate, SUSTAIN_CONCURRENCY,
			SUSTAIN_REQUESTS_PER_HANDOUT, latency_ms);
		bench_row("11", what, fig, flo, rate / floor_rate, ">= 0.8x", rate >= 0.8 * floor_rate);
		snprintf(what, sizeof(what), "hand-out p50 at 0.8x that rate, %d connections (%d ms)", conns[k],
			latency_ms);
		snprintf(fig, sizeof(fig), "p50 %.3f ms", p50);
		snprintf(flo, sizeof(flo), "one PATCH p50 %.3f ms", patch50);
		bench_row("11", what, fig, flo, p50 / patch50, "<= 1.5x", p50 <= 1.5 * patch50);
		bench_note("#11 (%d ms, -c%d): %lld Pexip requests for %lld PATCHes (%.2f per hand-out), "
			"emulator max_in_flight %lld, wrk's p50 at saturation %.3f ms; answers not 2xx or "
			"socket errors: %lld (wrk), %zu (paced, %.0f/s)", latency_ms, conns[k], requests, patches,
			patches ? (double)requests / (double)patches : 0.0, max_in_flight, wrk50, bad, paced_bad,
			0.8 * floor_rate);
	}
	bench_server_stop(&srv);
	bench_emu_latency(e, 0);
}

int bench_sustain(const bench_opts *o)
{
	emu_t e;
	bench_emu_start(&e, NULL);
	sustain_at(o, &e, 5);
	sustain_at(o, &e, 20);
	emu_stop(&e);
	return 0;
}
