/* "pexip": the load the library puts on Pexip, and how long bulk work takes.
 *
 * #4  fill 1,000 rooms, max_concurrency 5, 5 ms emulator latency;
 *     floor 1,000 x 5 ms / 5 = 1 s
 * #5  GC sweep of 10,000 due rooms, same settings; floor 10,000 x 5 ms / 5
 *     = 10 s, and also (requests made) x 5 ms / 5
 * #7  OAuth2 token requests during 10,000 API calls (8 threads); floor 1
 * #8  TCP connections opened to Pexip during the same calls; floor
 *     max_concurrency
 * growth: GC of 100 vs 10,000 due rooms.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "bench.h"

#define MAXC 5
#define LAT_MS 5

/* ---- #4 fill ---- */

static void fill(const bench_opts *o, emu_t *e)
{
	const unsigned n = o->quick ? 200 : 1000;
	char path[600], fig[64], flo[64], what[96];
	pex_client *c = bench_client(e, MAXC);
	pex_queue *pq, *dq;
	pex_pool *p;
	size_t created = 0;
	double t0, secs, floor_s = n * LAT_MS / 1e3 / MAXC;
	long long reqs;
	int err;

	snprintf(path, sizeof(path), "%s/fill.db", o->dir);
	p = bench_pool(c, path, &pq, &dq);
	bench_emu_latency(e, LAT_MS);
	bench_emu_reset_stats(e);
	bench_log("fill: %u rooms at %d ms", n, LAT_MS);
	t0 = bench_now();
	err = pex_pool_fill(&created, p, n, NULL, NULL);
	secs = bench_now() - t0;
	bench_emu_latency(e, 0);
	if (err < 0 || created != n)
		bench_die("pex_pool_fill: created %zu of %u: %s", created, n, pex_error_last()->message);
	reqs = bench_emu_stat(e, "requests");
	snprintf(what, sizeof(what), "fill %u rooms, max_concurrency %d, %d ms", n, MAXC, LAT_MS);
	snprintf(fig, sizeof(fig), "%.3f s", secs);
	snprintf(flo, sizeof(flo), "%.3f s", floor_s);
	bench_row("4", what, fig, flo, secs / floor_s, "<= 1.2x", secs <= 1.2 * floor_s);
	bench_note("#4: %lld Pexip requests (%.2f per room); max_in_flight %lld",
		reqs, (double)reqs / n, bench_emu_stat(e, "max_in_flight"));
	pex_pool_free(p);
	pex_queue_free(pq);
	pex_queue_free(dq);
	pex_client_free(c);
}

/* ---- #5 GC ---- */

typedef struct gc_result {
	double secs;
	long long requests;
	size_t deleted;
} gc_result;

static void gc_run(gc_result *r, const bench_opts *o, emu_t *e, size_t n, int latency_ms,
	const char *prefix)
{
	pex_gc_options go = PEX_GC_OPTIONS_INIT;
	pex_gc_report rep = PEX_GC_REPORT_INIT;
	char path[600], name[64];
	pex_client *c = bench_client(e, MAXC);
	pex_queue *pq, *dq;
	pex_pool *p;
	double t0;
	size_t i;
	int err;

	bench_emu_latency(e, 0);
	bench_populate(e, prefix, 0, (long long)n);
	snprintf(path, sizeof(path), "%s/gc.db", o->dir);
	p = bench_pool(c, path, &pq, &dq);
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s%06zu", prefix, i);
		if (pex_gc_schedule_delete(p, name, 0) < 0)
			bench_die("schedule delete: %s", pex_error_last()->message);
	}
	bench_emu_latency(e, latency_ms);
	bench_emu_reset_stats(e);
	bench_log("gc: %zu due rooms at %d ms", n, latency_ms);
	pex_gc_report_init(&rep, PEX_GC_REPORT_VERSION);
	t0 = bench_now();
	err = pex_gc_sweep(&rep, p, &go, NULL, NULL);
	r->secs = bench_now() - t0;
	bench_emu_latency(e, 0);
	if (err < 0 || rep.deleted != n)
		bench_die("pex_gc_sweep: deleted %zu of %zu (failed %zu): %s", rep.deleted, n, rep.failed,
			err < 0 ? pex_error_last()->message : "no error");
	r->requests = bench_emu_stat(e, "requests");
	r->deleted = rep.deleted;
	pex_pool_free(p);
	pex_queue_free(pq);
	pex_queue_free(dq);
	pex_client_free(c);
}

static void gc(const bench_opts *o, emu_t *e)
{
	const size_t big = o->quick ? 1000 : 10000, small = 100;
	char fig[64], flo[64], what[96];
	gc_result r, rs, z, zs;
	double floor_s = big * LAT_MS / 1e3 / MAXC, per_room, req_floor;

	gc_run(&r, o, e, big, LAT_MS, "vmr_g_");
	per_room = (double)r.requests / (double)big;
	req_floor = (double)r.requests * LAT_MS / 1e3 / MAXC;
	snprintf(what, sizeof(what), "GC sweep of %zu due rooms, max_concurrency %d, %d ms", big, MAXC, LAT_MS);
	snprintf(fig, sizeof(fig), "%.2f s", r.secs);
	snprintf(flo, sizeof(flo), "%.2f s", floor_s);
	bench_row("5", what, fig, flo, r.secs / floor_s, "<= 1.2x", r.secs <= 1.2 * floor_s);
	snprintf(what, sizeof(what), "  same, against requests x %d ms / %d", LAT_MS, MAXC);
	snprintf(flo, sizeof(flo), "%.2f s (%lld req)", req_floor, r.requests);
	bench_row("5", what, fig, flo, r.secs / req_floor, "(reported)", -1);
	bench_note("#5: the sweep made %lld Pexip requests for %zu rooms: %.2f per room "
		"(one DELETE per room, two name__in lookups per batch of 96)", r.requests, big, per_room);

	gc_run(&rs, o, e, small, LAT_MS, "vmr_h_");
	gc_run(&zs, o, e, small, 0, "vmr_i_");
	gc_run(&z, o, e, big, 0, "vmr_j_");
	bench_note("growth, GC %zu -> %zu due rooms (%d ms): %.3f -> %.2f s, per room %.3f -> %.3f ms "
		"(%.2fx)", small, big, LAT_MS, rs.secs, r.secs, rs.secs * 1e3 / small,
		r.secs * 1e3 / big, (r.secs / big) / (rs.secs / small));
	bench_note("growth, GC %zu -> %zu due rooms (0 ms): %.3f -> %.2f s, per room %.3f -> %.3f ms "
		"(%.2fx)", small, big, zs.secs, z.secs, zs.secs * 1e3 / small, z.secs * 1e3 / big,
		(z.secs / big) / (zs.secs / small));
}

/* ---- #7 and #8: tokens and connections ---- */

/* Write an EC P-256 key pair to dir/bench-key.pem and dir/bench-pub.pem. */
static void make_key(const bench_opts *o, char *priv, size_t privlen, char *pub, size_t publen)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	FILE *f;
	if (!k)
		bench_die("cannot generate an EC key");
	snprintf(priv, privlen, "%s/bench-key.pem", o->dir);
	snprintf(pub, publen, "%s/bench-pub.pem", o->dir);
	if (!(f = fopen(priv, "w")) || !PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL))
		bench_die("cannot write %s", priv);
	fclose(f);
	if (!(f = fopen(pub, "w")) || !PEM_write_PUBKEY(f, k))
		bench_die("cannot write %s", pub);
	fclose(f);
	EVP_PKEY_free(k);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;
	if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
		bench_die("cannot read %s", path);
	if (!(buf = calloc(1, (size_t)n + 1)) || fread(buf, 1, (size_t)n, f) != (size_t)n)
		bench_die("cannot read %s", path);
	fclose(f);
	return buf;
}

typedef struct calls_ctx {
	pex_client *c;
	long long first;
	long long nrooms;
	atomic_long left;
	atomic_long failed;
} calls_ctx;

static void *calls_worker(void *x)
{
	calls_ctx *c = x;
	long i;
	while ((i = atomic_fetch_sub(&c->left, 1)) > 0) {
		pex_room *r = NULL;
		if (pex_room_get(&r, c->c, c->first + i % c->nrooms) < 0)
			atomic_fetch_add(&c->failed, 1);
		pex_room_free(r);
	}
	return NULL;
}

static void tokens(const bench_opts *o, int latency_ms)
{
	const long calls = o->quick ? 2000 : 10000;
	const int threads = 8;
	char priv[600], pub[600], arg[700], what[96], fig[64], flo[64];
	pex_client_options co = PEX_CLIENT_OPTIONS_INIT;
	pex_client *c = NULL;
	pthread_t th[8];
	calls_ctx cc;
	long long tok, conns, inflight;
	double t0, secs;
	char *pem;
	emu_t e;
	int i;

	make_key(o, priv, sizeof(priv), pub, sizeof(pub));
	snprintf(arg, sizeof(arg), "bench=%s", pub);
	bench_emu_start(&e, (const char *[]){ "--oauth-client", arg, NULL });
	pem = slurp(priv);
	co.url = e.url;
	co.auth = PEX_AUTH_OAUTH2;
	co.client_id = "bench";
	co.private_key_pem = pem;
	co.max_concurrency = MAXC;
	if (pex_client_new(&c, &co) < 0)
		bench_die("pex_client_new (oauth2): %s", pex_error_last()->message);
	cc.c = c;
	cc.nrooms = 100;
	cc.first = bench_populate(&e, "t_", 0, cc.nrooms);
	atomic_init(&cc.left, calls);
	atomic_init(&cc.failed, 0);
	bench_emu_latency(&e, latency_ms);
	bench_emu_reset_stats(&e);
	bench_log("tokens and connections: %ld calls on %d threads at %d ms", calls, threads, latency_ms);
	t0 = bench_now();
	for (i = 0; i < threads; i++)
		if (pthread_create(&th[i], NULL, calls_worker, &cc) != 0)
			bench_die("pthread_create");
	for (i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	secs = bench_now() - t0;
	tok = bench_emu_stat(&e, "token_requests");
	conns = bench_emu_stat(&e, "connections_opened");
	inflight = bench_emu_stat(&e, "max_in_flight");
	pex_client_free(c);
	emu_stop(&e);
	free(pem);
	if (atomic_load(&cc.failed))
		bench_die("%ld of %ld calls failed", atomic_load(&cc.failed), calls);

	snprintf(what, sizeof(what), "OAuth token requests during %ld calls, 8 threads (%d ms)",
		calls, latency_ms);
	snprintf(fig, sizeof(fig), "%lld", tok);
	bench_row("7", what, fig, "1", (double)tok, "= 1", tok == 1);
	snprintf(what, sizeof(what), "TCP connections to Pexip during %ld calls (%d ms)", calls, latency_ms);
	snprintf(fig, sizeof(fig), "%lld", conns);
	snprintf(flo, sizeof(flo), "%d", MAXC);
	bench_row("8", what, fig, flo, (double)conns / MAXC, "<= 1x", conns <= MAXC);
	bench_note("#7/#8 (%d ms): %ld calls in %.2f s (%.0f/s); emulator max_in_flight %lld",
		latency_ms, calls, secs, (double)calls / secs, inflight);
}

int bench_pexip(const bench_opts *o)
{
	emu_t e;
	bench_emu_start(&e, NULL);
	fill(o, &e);
	gc(o, &e);
	emu_stop(&e);
	tokens(o, 0);
	tokens(o, LAT_MS);
	return 0;
}
