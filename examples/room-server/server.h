/* room-server: an example HTTP API over libpexipsdk (design.md §8).
 *
 * It links only the public library, like any user's program. The pieces:
 *   main.c    command line, configuration, logging, start-up and shutdown
 *   http.c    libmicrohttpd glue: request state, bodies and their limits,
 *             responses (JSON errors, X-Process-Time), the access log
 *   routes.c  the routes and what they do with the pool
 *   auth.c    API keys, Basic credentials, bearer JWTs checked against a JWKS
 *   jobs.c    the replenish workers and the GC/metrics timers
 */
#ifndef ROOM_SERVER_H
#define ROOM_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include <json-c/json.h>
#include <microhttpd.h>
#include <pexipsdk/pexipsdk.h>

#define RS_BODY_MAX (1024u * 1024u)             /* /room/ routes and everything else */
#define RS_EVENT_BODY_MAX (4u * 1024u * 1024u)  /* /public/event_sink */
/* An over-limit body that the client sends anyway (no "Expect: 100-continue")
 * is read and dropped up to this many bytes before the 413 goes out, so the
 * close that follows cannot reset the connection under the client's feet and
 * lose the answer. Beyond it the connection is simply closed. */
#define RS_DRAIN_MAX (16u * 1024u * 1024u)
#define RS_BULK_MAX 100                         /* rooms per bulk create */

/* ---- logging (main.c) ---- */

/* One log line on stderr: text ("room-server: info: ...") or a JSON object,
 * by log.format. Messages never hold secrets. */
void rs_log(pex_log_level level, const char *fmt, ...) PEX_PRINTF(2, 3);
/* The library's log callback (payload unused). */
void rs_log_cb(pex_log_level level, const char *message, void *payload);
/* Write one JSON line (the access log) on stderr; takes @p o. */
void rs_log_json(json_object *o);

/* ---- auth (auth.c) ---- */

typedef struct rs_jwt rs_jwt;

/* Load server.jwt.* (all three keys or none). *out is NULL when JWT auth is
 * not configured. Returns 0, or -1 with a message logged. */
int rs_jwt_load(rs_jwt **out, const pex_config *cfg);
void rs_jwt_free(rs_jwt *jwt);

/* Check a compact JWS. 0 if good; -1 with a short reason in @p why
 * (never the token itself). @p now is Unix seconds. */
int rs_jwt_verify(const rs_jwt *jwt, const char *token, long long now, char *why, size_t whylen);

/* Compare two secrets in time that depends on neither's content nor length. */
int rs_secret_equal(const char *a, const char *b);

/* ---- the server ---- */

typedef struct rs_server {
	pex_config *cfg;
	pex_pool *pool;
	pex_queue *pool_queue;          /* own handle on pool.queue, for health */
	struct MHD_Daemon *daemon;
	pex_tag_rules tag_rules;        /* for validating bulk UUIs up front */
	const char *const *protected_prefixes;
	size_t protected_count;

	/* auth */
	const char *const *api_keys;
	size_t api_key_count;
	rs_jwt *jwt;
	const char *events_user, *events_pass;

	/* requests in flight (first callback to completion) */
	atomic_int in_flight;
	atomic_int stopping;            /* shutdown began: refuse new requests */

	/* health: Pexip reachability, checked at most every 10 s */
	pthread_mutex_t health_lock;
	long long pexip_checked_at;
	int pexip_ok;

	/* jobs.c */
	pthread_mutex_t jobs_lock;
	pthread_cond_t jobs_cond;
	size_t replenish_pending;       /* queued "replenish 1" jobs */
	int fill_pending;               /* a queued top-up to pool.depth */
	int jobs_stopping;
	long long jobs_deadline;        /* monotonic ms: drop queued jobs after it */
	pthread_t *workers;
	size_t worker_count;
	pthread_t timer_thread;
	int timer_started;
	pthread_cond_t timer_cond;
	unsigned gc_interval_s, metrics_interval_s;
} rs_server;

/* ---- jobs.c ---- */
int rs_jobs_start(rs_server *s, size_t workers);
void rs_jobs_replenish(rs_server *s, size_t n);   /* queue n "replenish 1" jobs */
void rs_jobs_fill(rs_server *s);                   /* queue one top-up to pool.depth */
/* Stop: finish queued jobs for at most @p drain_ms, stop the timers, join. */
void rs_jobs_stop(rs_server *s, long drain_ms);
/* One GC sweep / one metrics line; fill @p logs (may be NULL) with a summary. 0 or error. */
int rs_run_gc(rs_server *s, json_object *logs);
int rs_run_metrics(rs_server *s, json_object *logs);

/* ---- http.c ---- */

/* Per-request state, created on the first callback. */
typedef struct rs_request {
	const char *method;             /* MHD's, valid for the request */
	char *path;                     /* url without the query */
	char *log_path;                 /* path + query keys only (no values) */
	struct timespec start;
	size_t limit;                   /* body limit for this route */
	char *body;
	size_t body_len, body_cap;
	int too_large;
	size_t dropped;                 /* over-limit body bytes read and dropped */
	int status;                     /* what was answered, for the access log */
	size_t bytes;
	int answered;
	size_t replenish;               /* rooms handed out: replacements to queue once answered */
	int closing;                    /* answer with Connection: close */
} rs_request;

long long rs_now_ms(void);          /* monotonic milliseconds */

/* Queue a response. @p ctype NULL means JSON. Takes nothing; copies @p body. */
enum MHD_Result rs_send(struct MHD_Connection *c, rs_request *r, unsigned status,
	const char *ctype, const char *body, size_t len, const char *allow);
/* Send a JSON document (takes @p o). */
enum MHD_Result rs_send_json(struct MHD_Connection *c, rs_request *r, unsigned status, json_object *o);
/* Send {"error":{"code","message"}}. */
enum MHD_Result rs_send_error(struct MHD_Connection *c, rs_request *r, unsigned status,
	const char *code, const char *fmt, ...) PEX_PRINTF(5, 6);
/* Map a library error (and pex_error_last()) to an HTTP error response. */
enum MHD_Result rs_send_pex_error(struct MHD_Connection *c, rs_request *r, int err);

int rs_http_start(rs_server *s, const char *host, unsigned port, unsigned threads, unsigned *bound_port);
void rs_http_stop(rs_server *s, long drain_ms);

/* ---- routes.c ---- */

/* What a route needs before its body arrives. */
typedef struct rs_route_info {
	int known;          /* the path is a route */
	int method_ok;      /* and the method is allowed */
	const char *allow;  /* Allow header for 405 */
	int needs_auth;     /* /room/ routes: API key or JWT */
	int event_sink;     /* Basic auth when configured; 4 MiB body */
} rs_route_info;

void rs_route_classify(rs_route_info *info, const char *method, const char *path);
/* Authenticate a request for a route (headers only). 0 = go on; otherwise
 * a response was queued (the return value for MHD is in *ret). */
int rs_route_auth(rs_server *s, struct MHD_Connection *c, rs_request *r,
	const rs_route_info *info, enum MHD_Result *ret);
/* Handle a request whose body (if any) is complete. */
enum MHD_Result rs_route_dispatch(rs_server *s, struct MHD_Connection *c, rs_request *r);

#endif
