/* "servers": #10, room-server POST /room/create per second with one server,
 * and with two servers sharing one pool queue (one database), as two hosts
 * in front of one Pexip run. No floor: a figure to compare the queue
 * backends (SQLite file, or PostgreSQL with --postgres) and releases.
 *
 * Each run: the pool queue is prefilled with as many rooms as the run will
 * hand out (so the creates measure hand-out, not the fill), the servers are
 * started, then BENCH_LOAD_THREADS threads (split over the servers) send
 * the creates on keep-alive connections. */
#include <stdio.h>
#include <string.h>

#include "bench.h"

#define SERVERS_UUI "62656e63682d736572766572732d3031"

/* Creates per second over @p nsrv servers sharing one queue; *bad = not 200. */
static double run(const bench_opts *o0, emu_t *e, int nsrv, long n, const char *prefix,
	long *bad)
{
	bench_opts o = *o0;
	bench_server s[2];
	char urls[2][200], name[32];
	const char *u[2];
	long long first, rooms;
	double t0, secs;
	int i;

	o.db_name = "servers";
	/* a tenth more than the run hands out: each server holds one room
	 * ready, out of the others' reach */
	rooms = n + n / 10;
	first = bench_populate(e, prefix, 0, rooms);
	for (i = 0; i < nsrv; i++) {
		snprintf(name, sizeof(name), "servers-%d-%d", nsrv, i);
		/* the first server prefills the shared queue; the second joins it */
		if (bench_server_start(&s[i], &o, e, name, (unsigned)rooms, prefix, first,
				i == 0 ? rooms : 0) < 0)
			bench_die("room server %d of %d did not start", i + 1, nsrv);
		snprintf(urls[i], sizeof(urls[i]), "%s/room/create?uuiData=%s", s[i].base, SERVERS_UUI);
		u[i] = urls[i];
	}
	/* each sees the shared queue and its own held room */
	for (i = 0; i < nsrv; i++)
		bench_settle(&s[i], (size_t)(rooms - nsrv + 1), 30);
	bench_log("servers: %ld creates on %d server(s), %s queue", n, nsrv,
		o.pg_conninfo ? "postgres" : "sqlite");
	t0 = bench_now();
	*bad = bench_load(u, nsrv, n);
	secs = bench_now() - t0;
	for (i = 0; i < nsrv; i++)
		bench_server_stop(&s[i]);
	return (double)n / secs;
}

int bench_servers(const bench_opts *o)
{
	const long n = o->quick ? 300 : 3000;
	const char *label = o->pg_conninfo ? "postgres" : "sqlite";
	char what[96], fig[64];
	double one, two;
	long bad1, bad2;
	emu_t e;

	if (!bench_have_server(o, "10", "room-server creates/s, one and two servers", "reported"))
		return 0;
	bench_emu_start(&e, NULL);
	one = run(o, &e, 1, n, "sa_", &bad1);
	two = run(o, &e, 2, n, "sb_", &bad2);
	emu_stop(&e);

	snprintf(what, sizeof(what), "room-server creates/s, one server, %s", label);
	snprintf(fig, sizeof(fig), "%.0f creates/s", one);
	bench_row("10", what, fig, "-", -1, "reported", -1);
	snprintf(what, sizeof(what), "room-server creates/s, two servers on one %s queue", label);
	snprintf(fig, sizeof(fig), "%.0f creates/s (%.2fx one)", two, two / one);
	bench_row("10", what, fig, "-", -1, "reported", -1);
	bench_note("#10 (%s): %ld creates per run on %d threads; %ld and %ld not 200", label, n,
		BENCH_LOAD_THREADS, bad1, bad2);
	return 0;
}
