/* pexbench: the benchmarks behind BENCHMARKS.md (run them with bench/run).
 *
 * Every figure is a ratio against a floor measured in the same run on the
 * same machine. Results go to stdout as tab-separated lines that bench/run
 * turns into the table:
 *   ROW  <#> <what> <figure> <floor> <ratio> <goal> <pass>
 *   NOTE <text>
 * Progress goes to stderr.
 *
 *   main.c     command line: the subcommands below
 *   util.c     timing, percentiles, output lines, emulator and queue helpers,
 *              the room-server process
 *   latency.c  "create": #1 and #2 (interleaved with their floor), #3 (wrk),
 *              pool depth 10 vs 10,000
 *   server.c   "rss": #6, room-server RSS after 1,000 and 100,000 requests
 *   pexip.c    "pexip": #4 fill, #5 GC sweep, #7 token requests,
 *              #8 connections, GC growth
 *   queue.c    "queue": #9, lease + delete per second on one queue URI
 *   servers.c  "servers": #10, room-server creates per second, one server and
 *              two servers on one database (SQLite, or PostgreSQL with --postgres)
 *   sizing.c   "sizing": #11 the sustained hand-out rate against the Pexip
 *              budget, #12 a demand profile, fixed depth against self-sizing
 */
#ifndef PEX_BENCH_H
#define PEX_BENCH_H

#include <stddef.h>
#include <sys/types.h>

#include <curl/curl.h>
#include <pexipsdk/pexipsdk.h>

#include "emu_harness.h"

/* ---- run-wide settings (main.c) ---- */

typedef struct bench_opts {
	const char *dir;         /* scratch directory (SQLite files, configs, logs) */
	const char *server_bin;  /* room-server executable, or NULL */
	const char *wrk_bin;     /* wrk executable, or NULL */
	const char *lua_dir;     /* where create.lua and patch.lua are */
	int quick;               /* fewer iterations (a smoke run) */
	const char *pg_conninfo; /* --postgres: room servers on the PostgreSQL queue backend
	                            at $PEX_PG_CONNINFO (tests/postgres/pg.sh), else SQLite */
	const char *db_name;     /* database (SQLite file) name the room servers share;
	                            NULL: each server's own name */
	const char *pool_extra;  /* more lines of the servers' pool: section (indented),
	                            or NULL; ready_after_s there replaces the default 0 */
} bench_opts;

/* ---- time and statistics (util.c) ---- */

/* Monotonic seconds. */
double bench_now(void);

/* Sort @p v (n values) in place and return the p-th percentile (0..100),
 * nearest rank. 0 when n is 0. */
double bench_pct(double *v, size_t n, double p);

/* ---- output (util.c) ---- */

/* One table row. @p pass: 1 yes, 0 no, -1 not applicable. A ratio below 0
 * is printed as "-". */
void bench_row(const char *num, const char *what, const char *figure, const char *floor,
	double ratio, const char *goal, int pass);
/* A row that could not be measured, with the reason. */
void bench_row_missing(const char *num, const char *what, const char *goal, const char *why);
/* 1 when the room server was built (--server); else the row is reported
 * as not measured and 0. */
int bench_have_server(const bench_opts *o, const char *num, const char *what, const char *goal);
/* A free-form note (growth figures, request counts, caveats). */
void bench_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Progress on stderr. */
void bench_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print a fatal error on stderr and exit 1. */
void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* ---- the emulator (util.c) ---- */

/* Start the emulator (extra args may be NULL) or die. */
void bench_emu_start(emu_t *e, const char *const *extra_args);
/* Set the injected latency in ms (0 = none) or die. */
void bench_emu_latency(emu_t *e, int ms);
/* Zero the emulator's counters or die. */
void bench_emu_reset_stats(emu_t *e);
/* A counter from /_emu/stats or die. */
long long bench_emu_stat(emu_t *e, const char *key);
/* Create rooms <prefix><6 digits> numbered start..start+count-1 and return
 * the id of the first; ids of one call are consecutive (checked). Dies on
 * failure. */
long long bench_populate(emu_t *e, const char *prefix, long long start, long long count);

/* ---- library helpers (util.c) ---- */

/* A Basic-auth client for the emulator, or die. */
pex_client *bench_client(const emu_t *e, unsigned max_concurrency);
/* Remove a SQLite file and its -wal and -shm companions. */
void bench_rm_db(const char *path);
/* Open queue @p name on SQLite file @p path (removed first if @p fresh), or die. */
pex_queue *bench_sqlite_queue(const char *path, const char *name, int fresh);
/* Run @p n put + receive + delete cycles on an empty queue (not timed):
 * a fresh SQLite file's write-ahead log grows until its first checkpoint,
 * and a commit that grows the file costs more than one that does not, so
 * timed runs start after that. */
void bench_warm_queue(pex_queue *q, size_t n);
#define BENCH_WARM_QUEUE 1200
/* Put a pool message (base64 of the JSON room record, as the library writes
 * it) for room @p name / @p id, or die. */
void bench_put_pool_msg(pex_queue *q, const char *name, long long id);
/* A pool over @p client and two queues on SQLite file @p path (fresh). */
pex_pool *bench_pool(pex_client *client, const char *path, pex_queue **pool_q, pex_queue **del_q);

/* ---- libcurl helpers (util.c) ---- */

/* One request on a keep-alive easy handle; the body is discarded. Returns
 * the HTTP status, or -1 on a transport error. @p headers may be NULL. */
long bench_http(CURL *h, const char *method, const char *url, struct curl_slist *headers,
	const char *body);

/* ---- the room server (util.c) ---- */

typedef struct bench_server {
	pid_t pid;
	char base[64];     /* http://127.0.0.1:PORT */
	char db[512];      /* its SQLite file */
} bench_server;

#define BENCH_API_KEY "bench-api-key-0123456789"
#define BENCH_TAG_TEMPLATE "https://svc.example.com/tag/{uui}"

/* Write a configuration for emulator @p e and pool depth @p depth, prefill
 * the server's pool queue with rooms <prefix>000000.. (populated on @p e by
 * the caller, first id @p first_id, @p count of them) and start the server.
 * The queue is emptied first when @p count > 0 (count 0: a further server
 * on the same queue, o->db_name). 0, or -1 with a message on stderr. */
int bench_server_start(bench_server *s, const bench_opts *o, const emu_t *e, const char *name,
	unsigned depth, const char *prefix, long long first_id, long long count);
/* SIGTERM and wait. */
void bench_server_stop(bench_server *s);
/* The server at @p base's pool depth as GET /public/health reports it (its
 * queue plus the rooms it holds ready, --prefetch), on keep-alive handle
 * @p h; -1 on failure. */
long bench_server_depth(CURL *h, const char *base);
/* Send @p n POST /room/create (UUI fixed) on BENCH_LOAD_THREADS keep-alive
 * connections, thread i to urls[i % nurls]; returns how many were not 200
 * (server.c). */
#define BENCH_LOAD_THREADS 4
long bench_load(const char *const *urls, int nurls, long n);
/* Wait (at most @p max_s seconds) until the server's pool is back at @p depth
 * (/public/health: the queue and the room the server holds ready), server.c. */
void bench_settle(const bench_server *s, size_t depth, double max_s);
/* VmRSS of @p pid in KiB, or -1. */
long bench_rss_kib(pid_t pid);

/* ---- subcommands ---- */

int bench_create(const bench_opts *o);   /* latency.c */
int bench_create_once(const bench_opts *o);   /* latency.c: one run, for profiling */
int bench_rss(const bench_opts *o);      /* server.c */
int bench_pexip(const bench_opts *o);    /* pexip.c */
int bench_queue(const bench_opts *o, const char *uri, const char *label);   /* queue.c */
int bench_servers(const bench_opts *o);  /* servers.c */
int bench_sizing(const bench_opts *o);   /* sizing.c */
int bench_sizing_profile(const bench_opts *o);   /* sizing.c: #12 alone */

#endif
