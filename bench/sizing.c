/* "sizing" (issue 18):
 *
 * #11 The sustained hand-out rate of one room server whose pool must be
 *     replenished as it goes (a pool of 40 and thousands of creates): every
 *     hand-out costs two Pexip requests (the tag PATCH and the replacement's
 *     create), so max_concurrency (5) / (2 x latency) is what Pexip allows.
 *     Goal: at least 0.8 of that, at 5 and 20 ms, on 4 and 16 keep-alive
 *     connections (closed loop: each connection sends its next create when
 *     the last is answered). The hand-out p50 is taken at an offered rate
 *     instead: creates sent on schedule at 0.8x that allowance over the
 *     same number of connections, each timed from when it was due (a server
 *     that falls behind is charged for the wait); goal within 1.5x of one
 *     PATCH at that latency (measured alone in the same run). The closed
 *     loop's own p50 goes to a note: N closed-loop clients at rate R wait
 *     N / R on average whatever the server does.
 * #12 A demand profile against the emulator (5 ms per request) with
 *     pool.ready_after_s 2: quiet (2 creates/s), a ramp to a burst (40/s),
 *     the burst, quiet again; fixed depth (pool.depth 10) and self-sizing
 *     (depth 10, max_depth 150, cooldown_s 5) in the same run, for two
 *     shapes: a burst of 10 s (three lead times) and one of 60 s (twenty).
 *     Reported: failed creates, p99 hand-out latency, Pexip creates and
 *     requests per hand-out over the whole profile and the return to the
 *     floor, and how long the pool takes to be back at its floor after the
 *     profile; notes per phase, and the fewest creates per hand-out any pool
 *     that serves the burst can make (docs/DECISIONS.md #72). */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define SIZING_UUI "62656e63682d73697a696e672d3031"
#define SIZING_MAXC 5         /* pexip.max_concurrency of the bench servers (util.c) */
#define SIZING_THREADS_MAX 96

/* One create: when it was sent (s from the start), how long it took, the status. */
typedef struct shot {
	double at, ms;
	long status;
} shot;

typedef struct drive {
	const char *url;
	atomic_long next;
	long n;
	const double *when;   /* send times, s from t0 (NULL: as fast as possible) */
	int from_due;         /* time each create from its send time in when[], not from
	                         when it went out (a server behind is charged the wait) */
	double t0;
	shot *out;
} drive;

static void *driver(void *x)
{
	drive *d = x;
	CURL *h = curl_easy_init();
	struct curl_slist *hdr = curl_slist_append(NULL, "X-API-Key: " BENCH_API_KEY);
	for (;;) {
		long i = atomic_fetch_add(&d->next, 1);
		double t, wait;
		if (i >= d->n)
			break;
		if (d->when && (wait = d->t0 + d->when[i] - bench_now()) > 0)
			usleep((useconds_t)(wait * 1e6));
		t = bench_now();
		d->out[i].status = bench_http(h, "POST", d->url, hdr, NULL);
		if (d->when && d->from_due)
			t = d->t0 + d->when[i];
		d->out[i].ms = (bench_now() - t) * 1000;
		d->out[i].at = t - d->t0;
	}
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	return NULL;
}

/* Send d->n creates on @p threads connections; the seconds it took. */
static double drive_run(drive *d, int threads)
{
	pthread_t th[SIZING_THREADS_MAX];
	int i;
	atomic_init(&d->next, 0);
	d->t0 = bench_now();
	for (i = 0; i < threads; i++)
		if (pthread_create(&th[i], NULL, driver, d) != 0)
			bench_die("pthread_create");
	for (i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	return bench_now() - d->t0;
}

/* p-th percentile of the latencies of the 200s; *bad = the others. */
static double shots_pct(const shot *s, long n, double p, long *bad)
{
	double *v = calloc((size_t)n + 1, sizeof(*v)), r;
	long i, k = 0;
	*bad = 0;
	for (i = 0; i < n; i++) {
		if (s[i].status == 200)
			v[k++] = s[i].ms;
		else
			(*bad)++;
	}
	r = bench_pct(v, (size_t)k, p);
	free(v);
	return r;
}

/* p50 of @p n tag PATCHes of room @p id straight to the emulator, ms. */
static double patch_p50(emu_t *e, long long id, int n)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hdr = curl_slist_append(NULL, "Authorization: Basic YWRtaW46YWRtaW4=");
	double *v = calloc((size_t)n, sizeof(*v)), r;
	char url[300];
	int i;
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	snprintf(url, sizeof(url), "%s/api/admin/configuration/v1/conference/%lld/", e->url, id);
	for (i = 0; i < n; i++) {
		double t = bench_now();
		if (bench_http(h, "PATCH", url, hdr, "{\"tag\": \"bench\"}") / 100 != 2)
			bench_die("PATCH %s failed", url);
		v[i] = (bench_now() - t) * 1000;
	}
	r = bench_pct(v, (size_t)n, 50);
	free(v);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	return r;
}

/* ---- #11 ---- */

static void sustained(const bench_opts *o0, emu_t *e, int latency_ms, int conns)
{
	const unsigned depth = 40;
	bench_opts o = *o0;
	long n = o0->quick ? 300 : latency_ms <= 5 ? 4000 : 1200, bad, paced_bad;
	char prefix[32], name[48], url[200], what[128], fig[96], flo[96];
	double secs, rate, allowed, p50, loop_p50, one_patch, *at, offered;
	long long first, paced_n, k;
	bench_server s;
	drive d;

	snprintf(prefix, sizeof(prefix), "s11_%d_%d_", latency_ms, conns);
	snprintf(name, sizeof(name), "sizing-rate-%d-%d", latency_ms, conns);
	o.db_name = NULL;
	o.pool_extra = NULL;
	first = bench_populate(e, prefix, 0, depth);
	if (bench_server_start(&s, &o, e, name, depth, prefix, first, depth) < 0)
		bench_die("room server did not start");
	bench_settle(&s, depth, 30);
	bench_emu_latency(e, latency_ms);
	one_patch = patch_p50(e, first, 40);
	snprintf(url, sizeof(url), "%s/room/create?uuiData=%s", s.base, SIZING_UUI);
	memset(&d, 0, sizeof(d));
	d.url = url;
	d.n = n;
	d.out = calloc((size_t)n, sizeof(*d.out));
	bench_log("sizing #11: %ld creates at %d ms on %d connections", n, latency_ms, conns);
	secs = drive_run(&d, conns);
	loop_p50 = shots_pct(d.out, n, 50, &bad);
	rate = (double)(n - bad) / secs;
	allowed = SIZING_MAXC / (2.0 * latency_ms / 1000.0);
	free(d.out);

	/* the p50 at an offered rate of 0.8x the allowance, from a full pool
	 * again, on the same number of connections (the #12 driver with the
	 * creates timed from when they were due) */
	offered = 0.8 * allowed;
	paced_n = (long long)(offered * (o0->quick ? 3 : 10));
	if (!(at = calloc((size_t)paced_n, sizeof(*at))))
		bench_die("out of memory");
	for (k = 0; k < paced_n; k++)
		at[k] = 0.05 + (double)k / offered;
	bench_settle(&s, depth, 60);
	memset(&d, 0, sizeof(d));
	d.url = url;
	d.n = paced_n;
	d.when = at;
	d.from_due = 1;
	d.out = calloc((size_t)paced_n, sizeof(*d.out));
	bench_log("sizing #11: %lld creates offered at %.0f/s (%d ms) on %d connections", paced_n, offered,
		latency_ms, conns);
	drive_run(&d, conns);
	p50 = shots_pct(d.out, paced_n, 50, &paced_bad);
	bench_emu_latency(e, 0);
	bench_server_stop(&s);
	snprintf(what, sizeof(what), "sustained hand-outs/s, %d ms per Pexip request, %d connections",
		latency_ms, conns);
	snprintf(fig, sizeof(fig), "%.0f/s (%ld of %ld not 200)", rate, bad, n);
	snprintf(flo, sizeof(flo), "%.0f/s = %d / (2 x %d ms)", allowed, SIZING_MAXC, latency_ms);
	bench_row("11", what, fig, flo, rate / allowed, ">= 0.8x", rate >= 0.8 * allowed);
	snprintf(what, sizeof(what), "hand-out p50 offered 0.8x that (%.0f/s), %d ms, %d connections", offered,
		latency_ms, conns);
	snprintf(fig, sizeof(fig), "%.1f ms (%ld of %lld not 200)", p50, paced_bad, paced_n);
	snprintf(flo, sizeof(flo), "%.1f ms (one PATCH)", one_patch);
	bench_row("11", what, fig, flo, p50 / one_patch, "<= 1.5x", p50 <= 1.5 * one_patch);
	bench_note("#11 (%d ms, %d connections): the closed loop's own hand-out p50 %.1f ms (%.2fx one PATCH;"
		" N clients at rate R wait N / R)", latency_ms, conns, loop_p50, loop_p50 / one_patch);
	free(d.out);
	free(at);
}

/* ---- #12 ---- */

/* A demand profile: quiet (creates/s) for q1 s, a ramp to the burst
 * rate over ramp s, the burst for hold s, quiet again for q2 s. */
typedef struct profile_def {
	const char *label;         /* for the row */
	const char *tag;           /* in room names and files: one per profile */
	double quiet, burst, q1, ramp, hold, q2;
} profile_def;

/* The burst of 10 s is three lead times long (ready_after_s 2 + 1 s + a
 * create); the long one twenty, as a morning peak of an hour is to a real
 * Pexip's minute. */
static const profile_def short_profile = { "10 s burst", "s", 2, 40, 5, 10, 10, 5 };
static const profile_def long_profile = { "60 s burst", "l", 2, 40, 10, 20, 60, 10 };

/* The profile's send times: quiet, ramp, burst, quiet; *n of them. */
static double *profile(const profile_def *pd, long *n)
{
	const double q1 = pd->q1, ramp = pd->ramp, hold = pd->hold, q2 = pd->q2;
	size_t cap = (size_t)(pd->burst * (ramp + hold) + pd->quiet * (q1 + q2)) + 16;
	double *at = calloc(cap, sizeof(*at)), t = 0;
	long k = 0;
	while (t < q1 && (size_t)k < cap) {
		at[k++] = t;
		t += 1 / pd->quiet;
	}
	while (t < q1 + ramp && (size_t)k < cap) {
		double r = pd->quiet + (pd->burst - pd->quiet) * (t - q1) / ramp;
		at[k++] = t;
		t += 1 / r;
	}
	while (t < q1 + ramp + hold && (size_t)k < cap) {
		at[k++] = t;
		t += 1 / pd->burst;
	}
	while (t < q1 + ramp + hold + q2 && (size_t)k < cap) {
		at[k++] = t;
		t += 1 / pd->quiet;
	}
	*n = k;
	return at;
}

/* A note: per phase of the profile, the creates sent, failed (and with
 * what), and the p50/p99 of all answers, failed or not. */
static void shots_by_phase(const char *label, const profile_def *pd, const shot *s, long n)
{
	const double ends[] = { pd->q1, pd->q1 + pd->ramp, pd->q1 + pd->ramp + pd->hold, 1e9 };
	const char *names[] = { "quiet", "ramp", "burst", "quiet again" };
	double *v = calloc((size_t)n + 1, sizeof(*v));
	long i, k, ph;

	for (ph = 0; ph < 4; ph++) {
		long sent = 0, failed = 0, s503 = 0;
		k = 0;
		for (i = 0; i < n; i++) {
			double start = ph ? ends[ph - 1] : -1;
			if (s[i].at < start || s[i].at >= ends[ph])
				continue;
			sent++;
			v[k++] = s[i].ms;
			if (s[i].status != 200)
				failed++;
			if (s[i].status == 503)
				s503++;
		}
		bench_note("#12 %s, %s, %s: %ld sent, %ld failed (%ld of them 503), answer p50 %.0f ms p99 %.0f ms",
			pd->label, label, names[ph], sent, failed, s503, bench_pct(v, (size_t)k, 50),
			bench_pct(v, (size_t)k, 99));
	}
	free(v);
}

/* Pool rooms left on Pexip: rooms named @p prefix less those handed out. */
static long long pool_rooms(emu_t *e, const char *prefix, long handed)
{
	char path[300], *body = NULL, *p;
	long long total = -1;
	snprintf(path, sizeof(path), "/api/admin/configuration/v1/conference/?name__startswith=%s&limit=1", prefix);
	if (emu_api(e, "GET", path, NULL, &body) == 200 && body && (p = strstr(body, "\"total_count\"")))
		total = strtoll(strchr(p, ':') + 1, NULL, 10);
	free(body);
	return total < 0 ? -1 : total - handed;
}

static void demand_profile(const bench_opts *o0, emu_t *e, const profile_def *pd0, int sizing)
{
	const unsigned floor = 10;
	/* what a create takes to be ready: ready_after_s 2 + the whole second
	 * of Pexip's creation times + a create */
	const double lead_s = 3;
	bench_opts o = *o0;
	profile_def pdq = *pd0, *pd = &pdq;
	char prefix[32], name[48], url[200], what[160], fig[160], extra[160];
	double *at, secs, p99, back_s = -1, t_end;
	long n, bad, ok;
	long long first, creates, requests, left = -1;
	bench_server s;
	drive d;

	if (o0->quick)
		pdq.hold /= 2;
	snprintf(prefix, sizeof(prefix), "s12%s_%s_", pd->tag, sizing ? "auto" : "fixed");
	snprintf(name, sizeof(name), "sizing-profile-%s-%s", pd->tag, sizing ? "auto" : "fixed");
	o.db_name = NULL;
	/* the replacements carry the prefix too, so that Pexip's count of it
	 * is this run's rooms */
	snprintf(extra, sizeof(extra), "  name_prefix: %s\n  ready_after_s: 2%s", prefix,
		sizing ? "\n  max_depth: 150\n  cooldown_s: 5" : "");
	o.pool_extra = extra;
	first = bench_populate(e, prefix, 0, floor);
	if (bench_server_start(&s, &o, e, name, floor, prefix, first, floor) < 0)
		bench_die("room server did not start");
	bench_settle(&s, floor, 30);
	bench_emu_latency(e, 5);
	bench_emu_reset_stats(e);
	at = profile(pd, &n);
	snprintf(url, sizeof(url), "%s/room/create?uuiData=%s", s.base, SIZING_UUI);
	memset(&d, 0, sizeof(d));
	d.url = url;
	d.n = n;
	d.when = at;
	d.out = calloc((size_t)n, sizeof(*d.out));
	bench_log("sizing #12: %ld creates over the profile, %s", n, sizing ? "self-sizing" : "fixed depth");
	secs = drive_run(&d, 64);
	p99 = shots_pct(d.out, n, 99, &bad);
	ok = n - bad;
	/* back at the floor: the rooms on Pexip less the ones handed out (the
	 * queue and the held room) */
	t_end = bench_now();
	while (bench_now() - t_end < 180) {
		left = pool_rooms(e, prefix, ok);
		if (left >= 0 && left <= floor + 1) {
			back_s = bench_now() - t_end;
			break;
		}
		usleep(200000);
	}
	creates = bench_emu_stat(e, "by_method.POST");
	requests = bench_emu_stat(e, "requests");
	bench_emu_latency(e, 0);
	bench_server_stop(&s);
	snprintf(what, sizeof(what), "demand profile, %s (%.0f s, %ld creates), %s", pd->label, secs, n,
		sizing ? "self-sizing (depth 10, max_depth 150)" : "fixed pool.depth 10");
	snprintf(fig, sizeof(fig), "%ld failed, p99 %.0f ms, %.2f creates and %.2f requests per hand-out, "
		"floor again after %s", bad, p99, ok ? (double)creates / ok : 0, ok ? (double)requests / ok : 0,
		back_s < 0 ? "> 180 s" : "");
	if (back_s >= 0)
		snprintf(fig + strlen(fig), sizeof(fig) - strlen(fig), "%.0f s", back_s);
	bench_row("12", what, fig, "-", -1, "creates <= 1.1/hand-out", ok && (double)creates / ok <= 1.1);
	bench_note("#12 %s, %s: %lld pool rooms left at the end (floor %u + 1 held)", pd->label,
		sizing ? "self-sizing" : "fixed", left, floor);
	/* a pool that serves the whole burst has a lead time of it on its
	 * way when the burst stops: rooms nobody asks for */
	if (sizing && ok)
		bench_note("#12 %s: serving the burst leaves at least %.0f rooms (%.0f/s x %.0f s) that nobody "
			"asks for, less the floor: %.2f creates per hand-out at the least for the %ld served",
			pd->label, pd->burst * lead_s, pd->burst, lead_s,
			1 + (pd->burst * lead_s - floor) / (double)ok, ok);
	shots_by_phase(sizing ? "self-sizing" : "fixed", pd, d.out, n);
	free(d.out);
	free(at);
}

/* #12 alone (pexbench sizing-profile). */
/* #12: both profiles, fixed depth then self-sizing, one emulator. */
static void run_profiles(const bench_opts *o, emu_t *e)
{
	demand_profile(o, e, &short_profile, 0);
	demand_profile(o, e, &short_profile, 1);
	demand_profile(o, e, &long_profile, 0);
	demand_profile(o, e, &long_profile, 1);
}

int bench_sizing_profile(const bench_opts *o)
{
	emu_t e;

	if (!o->server_bin) {
		bench_row_missing("12", "demand profile", "creates <= 1.1/hand-out", "room server not built");
		return 0;
	}
	bench_emu_start(&e, NULL);
	run_profiles(o, &e);
	emu_stop(&e);
	return 0;
}

int bench_sizing(const bench_opts *o)
{
	static const int lat[] = { 5, 20 }, conns[] = { 4, 16 };
	size_t i, j;
	emu_t e;

	if (!o->server_bin) {
		bench_row_missing("11", "sustained hand-outs/s", ">= 0.8x", "room server not built");
		bench_row_missing("12", "demand profile", "creates <= 1.1/hand-out", "room server not built");
		return 0;
	}
	bench_emu_start(&e, NULL);
	for (i = 0; i < 2; i++)
		for (j = 0; j < 2; j++)
			sustained(o, &e, lat[i], conns[j]);
	run_profiles(o, &e);
	emu_stop(&e);
	return 0;
}
