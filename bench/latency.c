/* "create": the room-creation critical path against its floor.
 *
 * #1  POST /room/create through the room server (libcurl, keep-alive)
 * #2  pex_pool_pop in process
 * floor  exactly the minimal work with the same building blocks: lease one
 *        message from a SQLite queue (public queue API, same file settings),
 *        one PATCH of the room's tag with a libcurl easy handle kept alive
 *        to the emulator, delete the message.
 * The three run interleaved in one process (the order rotates every
 * iteration) so that machine noise lands on all of them alike. Each is timed
 * per operation with CLOCK_MONOTONIC; warm-up iterations are dropped.
 * The floor and the in-process pool put the message they took back after
 * the clock stops, so their depth stays constant; the server replaces what
 * it hands out itself (background replenish), as it does in production.
 *
 * #3  /room/create throughput with wrk (4 connections) against the
 *     emulator's own PATCH throughput with wrk (4 connections), alternated.
 *
 * Growth: the same at pool depth 10 and 10,000.
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

/* UUI text "bench-session-0001" in hex; its tag URL needs no escaping. */
#define UUI_HEX "62656e63682d73657373696f6e2d30303031"
#define UUI_TAG "https://svc.example.com/tag/bench-session-0001"

/* ---- the floor ---- */

typedef struct floor_ctx {
	pex_queue *q;                 /* its own SQLite file; messages hold the room id */
	CURL *h;                      /* one keep-alive handle to the emulator */
	struct curl_slist *hdr;
	char base[128];               /* <emulator>/api/admin/configuration/v1/conference/ */
	char body[256];               /* {"tag": "<the tag URL>"} */
} floor_ctx;

static void floor_init(floor_ctx *f, const bench_opts *o, const emu_t *e, const char *name,
	long long first_id, long long count)
{
	char path[600], msg[32];
	long long i;
	memset(f, 0, sizeof(*f));
	snprintf(path, sizeof(path), "%s/%s.db", o->dir, name);
	f->q = bench_sqlite_queue(path, "floor-queue", 1);
	bench_warm_queue(f->q, BENCH_WARM_QUEUE);
	for (i = 0; i < count; i++) {
		int n = snprintf(msg, sizeof(msg), "%lld", first_id + i);
		if (pex_queue_put(f->q, msg, (size_t)n, 0) < 0)
			bench_die("floor put: %s", pex_error_last()->message);
	}
	if (!(f->h = curl_easy_init()))
		bench_die("curl_easy_init");
	f->hdr = curl_slist_append(f->hdr, "Authorization: Basic YWRtaW46YWRtaW4=");
	f->hdr = curl_slist_append(f->hdr, "Content-Type: application/json");
	snprintf(f->base, sizeof(f->base), "%s/api/admin/configuration/v1/conference/", e->url);
	snprintf(f->body, sizeof(f->body), "{\"tag\": \"%s\"}", UUI_TAG);
}

static void floor_free(floor_ctx *f)
{
	pex_queue_free(f->q);
	curl_easy_cleanup(f->h);
	curl_slist_free_all(f->hdr);
}

/* One floor operation; returns its duration in ms. */
static double floor_op(floor_ctx *f)
{
	pex_message *m = NULL;
	char url[200];
	double t0, t1;
	long status;

	t0 = bench_now();
	if (pex_queue_receive(&m, f->q, 60) < 0)
		bench_die("floor receive: %s", pex_error_last()->message);
	snprintf(url, sizeof(url), "%s%lld/", f->base, strtoll((const char *)m->data, NULL, 10));
	if ((status = bench_http(f->h, "PATCH", url, f->hdr, f->body)) != 202)
		bench_die("floor PATCH answered %ld", status);
	if (pex_queue_delete(f->q, m) < 0)
		bench_die("floor delete: %s", pex_error_last()->message);
	t1 = bench_now();
	/* not timed: keep the depth */
	if (pex_queue_put(f->q, m->data, m->len, 0) < 0)
		bench_die("floor put: %s", pex_error_last()->message);
	pex_message_free(m);
	return (t1 - t0) * 1e3;
}

/* ---- the subjects ---- */

static double pop_op(pex_pool *p, pex_queue *pq)
{
	pex_pool_room *r = NULL;
	double t0, t1;
	int err;
	t0 = bench_now();
	err = pex_pool_pop(&r, p, UUI_HEX, NULL);
	t1 = bench_now();
	if (err < 0)
		bench_die("pex_pool_pop: %s", pex_error_last()->message);
	if (strcmp(r->tag, UUI_TAG) != 0)
		bench_die("pex_pool_pop set tag '%s'", r->tag);
	bench_put_pool_msg(pq, r->name, r->id);   /* not timed: keep the depth */
	pex_pool_room_free(r);
	return (t1 - t0) * 1e3;
}

typedef struct server_ctx {
	CURL *h;
	struct curl_slist *hdr;
	char url[160];
	const char *base;         /* the server's, for bench_server_depth() */
	CURL *hh;                 /* its own keep-alive handle for GET /public/health */
	size_t depth;
	long bad;                 /* answers other than 200 */
	long slow_refill;         /* replenish not done within 1 s */
	double process_ms;        /* the last answer's X-Process-Time, in ms */
} server_ctx;

/* Header callback: pick up X-Process-Time (seconds, set by the server when
 * it builds the answer), to split a request's time into the server's own
 * processing and the rest (transport, wake-ups, sending). */
static size_t on_header(char *buf, size_t size, size_t n, void *x)
{
	server_ctx *s = x;
	static const char key[] = "x-process-time:";
	size_t len = size * n;
	if (len > sizeof(key) && strncasecmp(buf, key, sizeof(key) - 1) == 0)
		s->process_ms = strtod(buf + sizeof(key) - 1, NULL) * 1e3;
	return len;
}

/* One request; returns its duration in ms. Then, not timed, wait until the
 * server's background work has put the pool back at its depth (the next
 * room taken off the queue, the replacement created), so that this
 * request's background work never lands on the next timed operation (of
 * any of the three). Loaded behaviour is #3's business. */
static double server_op(server_ctx *s)
{
	double t0, t1, until;
	long n = 0, status;
	t0 = bench_now();
	status = bench_http(s->h, "POST", s->url, s->hdr, NULL);
	t1 = bench_now();
	if (status != 200)
		s->bad++;
	until = t1 + 1;
	while ((n = bench_server_depth(s->hh, s->base)) < (long)s->depth && bench_now() < until)
		usleep(200);
	if (n < (long)s->depth)
		s->slow_refill++;
	return (t1 - t0) * 1e3;
}

/* ---- one interleaved latency run ---- */

typedef struct lat_result {
	double floor50, floor99, pop50, pop99, srv50, srv99;
	double proc50, proc99;      /* the server's X-Process-Time */
	int have_server;
	long server_bad, slow_refill;
} lat_result;

/* What one pool depth needs: the floor, the in-process pool, the server. */
typedef struct lat_set {
	unsigned depth;
	floor_ctx f;
	pex_client *client;
	pex_queue *pq, *dq;
	pex_pool *pool;
	bench_server srv;
	server_ctx sc;
	int have_server;
	double *t[4];               /* floor, pool, server, server's X-Process-Time: ms */
} lat_set;

static void set_up(lat_set *st, const bench_opts *o, emu_t *e, unsigned depth, int latency_ms,
	int with_server, size_t iters)
{
	char name[64], prefix[32], path[600];
	long long first;
	size_t i;

	memset(st, 0, sizeof(*st));
	st->depth = depth;
	/* rooms for the floor and the in-process pool (both cycle over them) */
	snprintf(prefix, sizeof(prefix), "l%u_%d_", depth, latency_ms);
	first = bench_populate(e, prefix, 0, depth);
	snprintf(name, sizeof(name), "floor-%u-%dms", depth, latency_ms);
	floor_init(&st->f, o, e, name, first, depth);
	st->client = bench_client(e, 5);
	snprintf(path, sizeof(path), "%s/pool-%u-%dms.db", o->dir, depth, latency_ms);
	st->pool = bench_pool(st->client, path, &st->pq, &st->dq);
	bench_warm_queue(st->pq, BENCH_WARM_QUEUE);
	for (i = 0; i < depth; i++) {
		char rn[64];
		snprintf(rn, sizeof(rn), "%s%06zu", prefix, i);
		bench_put_pool_msg(st->pq, rn, first + (long long)i);
	}
	if (with_server) {
		snprintf(prefix, sizeof(prefix), "s%u_%d_", depth, latency_ms);
		first = bench_populate(e, prefix, 0, depth);
		snprintf(name, sizeof(name), "server-%u-%dms", depth, latency_ms);
		if (bench_server_start(&st->srv, o, e, name, depth, prefix, first, depth) == 0) {
			st->have_server = 1;
			st->sc.h = curl_easy_init();
			st->sc.hdr = curl_slist_append(NULL, "X-API-Key: " BENCH_API_KEY);
			snprintf(st->sc.url, sizeof(st->sc.url), "%s/room/create?uuiData=%s",
				st->srv.base, UUI_HEX);
			st->sc.hh = curl_easy_init();
			st->sc.base = st->srv.base;
			st->sc.depth = depth;
			curl_easy_setopt(st->sc.h, CURLOPT_HEADERFUNCTION, on_header);
			curl_easy_setopt(st->sc.h, CURLOPT_HEADERDATA, &st->sc);
		}
	}
	for (i = 0; i < 4; i++)
		if (!(st->t[i] = calloc(iters, sizeof(double))))
			bench_die("out of memory");
}

static void set_down(lat_set *st, lat_result *res, size_t n)
{
	size_t i;
	memset(res, 0, sizeof(*res));
	res->floor50 = bench_pct(st->t[0], n, 50);
	res->floor99 = bench_pct(st->t[0], n, 99);
	res->pop50 = bench_pct(st->t[1], n, 50);
	res->pop99 = bench_pct(st->t[1], n, 99);
	if (st->have_server) {
		res->have_server = 1;
		res->srv50 = bench_pct(st->t[2], n, 50);
		res->srv99 = bench_pct(st->t[2], n, 99);
		res->proc50 = bench_pct(st->t[3], n, 50);
		res->proc99 = bench_pct(st->t[3], n, 99);
		res->server_bad = st->sc.bad;
		res->slow_refill = st->sc.slow_refill;
		bench_server_stop(&st->srv);
		curl_easy_cleanup(st->sc.hh);
		curl_easy_cleanup(st->sc.h);
		curl_slist_free_all(st->sc.hdr);
	}
	for (i = 0; i < 4; i++)
		free(st->t[i]);
	pex_pool_free(st->pool);
	pex_queue_free(st->pq);
	pex_queue_free(st->dq);
	pex_client_free(st->client);
	floor_free(&st->f);
}

/* Measure the floor, the pool and the server at each of @p ndepths depths
 * (at most 2), all interleaved in one loop; one result per depth. */
static void latency_run(lat_result *res, const bench_opts *o, emu_t *e, const unsigned *depths,
	size_t ndepths, int latency_ms, int with_server)
{
	size_t iters, warm, i, k, d, nk, nsub, done = 0;
	lat_set sets[2];

	iters = latency_ms ? 1000 : 2000;
	warm = latency_ms ? 50 : 300;
	if (o->quick) {
		iters = 200;
		warm = 20;
	}
	bench_emu_latency(e, 0);
	for (d = 0; d < ndepths; d++)
		set_up(&sets[d], o, e, depths[d], latency_ms, with_server, iters);
	nk = sets[0].have_server ? 3 : 2;
	for (d = 1; d < ndepths; d++)
		if (!sets[d].have_server)
			nk = 2;
	nsub = nk * ndepths;
	bench_emu_latency(e, latency_ms);
	bench_log("create latency: depth %u%s, latency %d ms, %zu iterations of %zu operations",
		depths[0], ndepths > 1 ? " and more" : "", latency_ms, iters, nsub);

	for (i = 0; i < warm + iters; i++) {
		/* rotate who goes first, so that none always follows the same one */
		for (k = 0; k < nsub; k++) {
			size_t who = (i + k) % nsub, kind = who % nk;
			lat_set *st = &sets[who / nk];
			double ms;
			if (kind == 0)
				ms = floor_op(&st->f);
			else if (kind == 1)
				ms = pop_op(st->pool, st->pq);
			else
				ms = server_op(&st->sc);
			if (i >= warm) {
				st->t[kind][done] = ms;
				if (kind == 2)
					st->t[3][done] = st->sc.process_ms;
			}
		}
		if (i >= warm)
			done++;
	}
	bench_emu_latency(e, 0);
	for (d = 0; d < ndepths; d++)
		set_down(&sets[d], &res[d], done);
}

static void fmt_ms(char *buf, size_t n, double p50, double p99)
{
	snprintf(buf, n, "p50 %.3f ms, p99 %.3f ms", p50, p99);
}

static void latency_rows(const lat_result *r, int latency_ms, const char *why_no_server)
{
	char what[128], fig[96], flo[96];
	fmt_ms(flo, sizeof(flo), r->floor50, r->floor99);
	if (r->have_server) {
		fmt_ms(fig, sizeof(fig), r->srv50, r->srv99);
		snprintf(what, sizeof(what), "POST /room/create via room server, p50 (%d ms)", latency_ms);
		bench_row("1", what, fig, flo, r->srv50 / r->floor50, "<= 1.15x",
			r->srv50 <= 1.15 * r->floor50);
		snprintf(what, sizeof(what), "POST /room/create via room server, p99 (%d ms)", latency_ms);
		bench_row("1", what, fig, flo, r->srv99 / r->floor99, "<= 1.5x",
			r->srv99 <= 1.5 * r->floor99);
		bench_note("#1 (%d ms): the server's own X-Process-Time p50 %.3f ms, p99 %.3f ms "
			"(the rest of the client-side time is transport, wake-ups and sending)",
			latency_ms, r->proc50, r->proc99);
		if (r->server_bad || r->slow_refill)
			bench_note("#1 (%d ms): %ld answers were not 200; %ld replenishes took over 1 s",
				latency_ms, r->server_bad, r->slow_refill);
	} else {
		snprintf(what, sizeof(what), "POST /room/create via room server (%d ms)", latency_ms);
		bench_row_missing("1", what, "p50 <= 1.15x, p99 <= 1.5x", why_no_server);
	}
	fmt_ms(fig, sizeof(fig), r->pop50, r->pop99);
	snprintf(what, sizeof(what), "pex_pool_pop in process, p50 (%d ms)", latency_ms);
	bench_row("2", what, fig, flo, r->pop50 / r->floor50, "<= 1.05x", r->pop50 <= 1.05 * r->floor50);
	snprintf(what, sizeof(what), "pex_pool_pop in process, p99 (%d ms)", latency_ms);
	bench_row("2", what, fig, flo, r->pop99 / r->floor99, "(reported)", -1);
}

/* ---- #3: wrk ---- */

/* Run wrk; fill *rate with successful requests per second. 0 or -1. */
static int run_wrk(const bench_opts *o, const char *script, const char *url, const char *const *args,
	double seconds, double *rate, long long *bad)
{
	char lua[600], dur[32], buf[8192];
	const char *argv[32];
	int out[2], st, i = 0;
	size_t got = 0;
	pid_t pid;
	char *line;
	long long reqs, us, status_err, sock_err;

	snprintf(lua, sizeof(lua), "%s/%s", o->lua_dir, script);
	snprintf(dur, sizeof(dur), "%.0fs", seconds);
	argv[i++] = o->wrk_bin;
	argv[i++] = "-t2";
	argv[i++] = "-c4";
	argv[i++] = "-d";
	argv[i++] = dur;
	argv[i++] = "-s";
	argv[i++] = lua;
	argv[i++] = url;
	argv[i++] = "--";
	for (; *args && i < 31; args++)
		argv[i++] = *args;
	argv[i] = NULL;
	if (pipe(out) != 0)
		return -1;
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(out[1], STDOUT_FILENO);
		close(out[0]);
		close(out[1]);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	for (;;) {
		ssize_t n = read(out[0], buf + got, sizeof(buf) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == sizeof(buf) - 1)
			break;
	}
	buf[got] = '\0';
	close(out[0]);
	waitpid(pid, &st, 0);
	if (!(line = strstr(buf, "WRKRESULT ")) ||
	    sscanf(line, "WRKRESULT %lld %lld %lld %lld", &reqs, &us, &status_err, &sock_err) != 4 ||
	    us <= 0) {
		bench_log("wrk gave no result:\n%s", buf);
		return -1;
	}
	*rate = (double)(reqs - status_err) / ((double)us / 1e6);
	*bad = status_err + sock_err;
	return 0;
}

/* Alternate subject and floor @p rounds times; report #3. */
static void throughput(const bench_opts *o, emu_t *e, int latency_ms)
{
	char prefix[32], name[32], url[128], first_s[32], count_s[32], what[96], fig[64], flo[64];
	/* enough rooms for the server not to run dry during the runs, and for
	 * its back-pressure (a create waits while half the depth awaits
	 * replacement) not to start: this measures hand-outs from a deep pool */
	const long long count = latency_ms ? 10000 : 20000;
	double subj = 0, flr = 0, rate, secs = o->quick ? 2 : 5;
	long long first, bad_s = 0, bad_f = 0, bad;
	int r, rounds = 2;
	bench_server srv;

	snprintf(what, sizeof(what), "/room/create throughput, wrk -c4 (%d ms)", latency_ms);
	if (!o->server_bin || !o->wrk_bin) {
		bench_row_missing("3", what, ">= 0.8x", !o->server_bin ? "room server not built" : "no wrk");
		return;
	}
	bench_emu_latency(e, 0);
	snprintf(prefix, sizeof(prefix), "w%d_", latency_ms);
	first = bench_populate(e, prefix, 0, count);
	snprintf(name, sizeof(name), "server-wrk-%d", latency_ms);
	if (bench_server_start(&srv, o, e, name, (unsigned)count, prefix, first, count) < 0) {
		bench_row_missing("3", what, ">= 0.8x", "room server did not start");
		return;
	}
	bench_emu_latency(e, latency_ms);
	bench_log("throughput: wrk %d x %.0f s against the server and the emulator (latency %d ms)",
		rounds, secs, latency_ms);
	snprintf(first_s, sizeof(first_s), "%lld", first);
	snprintf(count_s, sizeof(count_s), "%lld", count);
	for (r = 0; r < rounds; r++) {
		const char *sargs[] = { BENCH_API_KEY, UUI_HEX, NULL };
		const char *fargs[] = { first_s, count_s, UUI_TAG, NULL };
		snprintf(url, sizeof(url), "%s/", srv.base);
		if (run_wrk(o, "create.lua", url, sargs, secs, &rate, &bad) < 0)
			break;
		subj += rate / rounds;
		bad_s += bad;
		snprintf(url, sizeof(url), "%s/", e->url);
		if (run_wrk(o, "patch.lua", url, fargs, secs, &rate, &bad) < 0)
			break;
		flr += rate / rounds;
		bad_f += bad;
	}
	bench_server_stop(&srv);
	bench_emu_latency(e, 0);
	if (r < rounds) {
		bench_row_missing("3", what, ">= 0.8x", "wrk failed");
		return;
	}
	snprintf(fig, sizeof(fig), "%.0f rooms/s", subj);
	snprintf(flo, sizeof(flo), "%.0f PATCH/s", flr);
	bench_row("3", what, fig, flo, subj / flr, ">= 0.8x", subj >= 0.8 * flr);
	if (bad_s || bad_f)
		bench_note("#3 (%d ms): answers not 2xx or socket errors: server %lld, emulator %lld "
			"(not counted in the rates)", latency_ms, bad_s, bad_f);
}

int bench_create(const bench_opts *o)
{
	const char *no_server = o->server_bin ? "room server did not start" : "room server not built";
	const unsigned deep = o->quick ? 1000 : 10000, depths[2] = { 10, deep };
	lat_result r0[2], r5;
	emu_t e;

	bench_emu_start(&e, NULL);
	/* no injected latency: depth 10 (#1, #2) and, interleaved with it, depth 10,000 (growth) */
	latency_run(r0, o, &e, depths, 2, 0, o->server_bin != NULL);
	latency_rows(&r0[0], 0, no_server);
	latency_run(&r5, o, &e, depths, 1, 5, o->server_bin != NULL);
	latency_rows(&r5, 5, no_server);

	bench_note("growth, pool depth 10 -> %u (0 ms, interleaved): pex_pool_pop p50 %.3f -> %.3f ms "
		"(%.2fx), p99 %.3f -> %.3f ms; floor p50 %.3f -> %.3f ms (%.2fx)", deep,
		r0[0].pop50, r0[1].pop50, r0[1].pop50 / r0[0].pop50, r0[0].pop99, r0[1].pop99,
		r0[0].floor50, r0[1].floor50, r0[1].floor50 / r0[0].floor50);
	if (r0[0].have_server && r0[1].have_server)
		bench_note("growth, pool depth 10 -> %u (0 ms, interleaved): room server p50 %.3f -> %.3f ms "
			"(%.2fx), p99 %.3f -> %.3f ms", deep, r0[0].srv50, r0[1].srv50,
			r0[1].srv50 / r0[0].srv50, r0[0].srv99, r0[1].srv99);

	throughput(o, &e, 0);
	throughput(o, &e, 5);
	emu_stop(&e);
	return 0;
}

/* One #1/#2 run (depth 10, no injected latency): for profiling with
 * $PEXBENCH_SERVER_WRAPPER. */
int bench_create_once(const bench_opts *o)
{
	const unsigned depth = 10;
	lat_result r;
	emu_t e;
	bench_emu_start(&e, NULL);
	latency_run(&r, o, &e, &depth, 1, 0, o->server_bin != NULL);
	latency_rows(&r, 0, "room server not built");
	emu_stop(&e);
	return 0;
}
