/* room-server: an example HTTP API over libpexipsdk (pexip-room-server(8)).
 *
 * It links only the public library, like any user's program. The pieces:
 *   main.c    command line, configuration, logging, start-up and shutdown
 *   http.c    libmicrohttpd glue: request state, bodies and their limits,
 *             responses (JSON errors, X-Process-Time), the access log
 *   routes.c  the routes and what they do with the pool
 *   auth.c    API keys, Basic credentials, bearer JWTs checked against a JWKS
 *   jobs.c    the replenish workers and the GC/metrics timers
 *   parse.c   pure helpers (no I/O): JSON text, the access log line, body
 *             limits, what the routes parse from bodies and query strings
 *   probes.c  GET /healthz and /readyz, and the Pexip check they share with
 *             /public/health
 */
#ifndef ROOM_SERVER_H
#define ROOM_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <time.h>
#include <sys/socket.h>

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
/* Bytes of the longest room name: 250 characters (pex_room_name_check)
 * of at most 4 bytes each. */
#define RS_NAME_MAX 1000
/* The longest X-Request-Id kept (rs_request_id_ok). */
#define RS_REQUEST_ID_MAX 128

/* ---- logging (log.c) ---- */

/* One log line on stderr: text ("TS room-server: info: ...") or a JSON
 * object, by log.format (rs_log_line_json, rs_log_line_text). Messages
 * never hold secrets. */
void rs_log(pex_log_level level, const char *fmt, ...) PEX_PRINTF(2, 3);
/* The most fields one line carries (the rest are left out). */
#define RS_LOG_FIELDS_MAX 32
/* A line of @p component ("room-server", "pexipsdk", "access") with
 * fields, all escaped already; the thread's request id is added unless a
 * field is "request_id". Nothing below log.level. */
void rs_log_fields(pex_log_level level, const char *component, const char *msg,
	const pex_log_field *fields, size_t count);
/* The library's log callbacks (payload unused): record and string. */
void rs_log_record_cb(pex_log_level level, const char *message, const pex_log_field *fields,
	size_t count, void *payload);
void rs_log_cb(pex_log_level level, const char *message, void *payload);
/* Write @p line and a newline on stderr in one write, whole lines only. */
void rs_log_write(const char *line, size_t len);
/* 1 when a message at @p level would be logged (log.level). */
int rs_log_enabled(pex_log_level level);
/* log.level and log.format (json: 1) for the lines that follow. */
void rs_log_settings(pex_log_level level, int json);
/* The request id this thread's lines carry from now on; NULL: none. The
 * string must stay valid until the context is cleared. */
void rs_log_context(const char *request_id);

/* ---- auth (auth.c) ---- */

typedef struct rs_jwt rs_jwt;

/* Load server.jwt.* (issuer, audience and one of jwks_file and jwks_url, or
 * none). With jwks_url the keys are fetched now and kept fresh by a thread
 * of their own (rs_jwt_free() stops it). *out is NULL when JWT auth is
 * not configured. Returns 0, or -1 with a message logged. */
int rs_jwt_load(rs_jwt **out, const pex_config *cfg);
void rs_jwt_free(rs_jwt *jwt);

/* Check a compact JWS. 0 if good; -1 with a short reason in @p why
 * (never the token itself). @p now is Unix seconds. With jwks_url, a token
 * whose kid no key has may wait (3 s at most) for a shared refresh. */
int rs_jwt_verify(const rs_jwt *jwt, const char *token, long long now, char *why, size_t whylen);

/* Secrets (API keys, Basic credentials) are compared as SHA-256 digests
 * with CRYPTO_memcmp: the time depends neither on where they differ nor on
 * their lengths. The configured ones are digested once (rs_auth_new). */
#define RS_DIGEST_LEN 32
/* Fetch SHA-256 once for the process (call before any thread starts);
 * 0 or -1. rs_auth_shutdown() releases it. */
int rs_auth_init(void);
void rs_auth_shutdown(void);
/* SHA-256 of a NUL-terminated string; 0, or -1 (out zeroed). */
int rs_secret_digest(unsigned char out[RS_DIGEST_LEN], const char *s);

/* The authentication settings of one configuration (server.api_keys,
 * events.username/password, server.jwt), digested once. A SIGHUP reload
 * builds a new one and swaps it in; a request holds the one it began with
 * until its check is done, so the old one is freed by its last user. */
typedef struct rs_auth {
	atomic_int refs;
	size_t api_key_count;
	unsigned char (*api_key_digests)[RS_DIGEST_LEN];
	int events_user_set;            /* events.username set: the sink needs Basic */
	unsigned char events_user_digest[RS_DIGEST_LEN], events_pass_digest[RS_DIGEST_LEN];
	int events_digests_ok;
	rs_jwt *jwt;                    /* NULL: bearer tokens are refused */
} rs_auth;

/* ---- the server ---- */

typedef struct rs_server {
	pex_config *cfg;
	pex_pool *pool;
	pex_queue *pool_queue;          /* own handle on pool.queue, for health */
	struct MHD_Daemon *daemon;
	pex_tag_rules tag_rules;        /* for validating bulk UUIs up front */
	const char *const *protected_prefixes;
	size_t protected_count;

	/* auth: the snapshot in use (rs_auth_acquire, rs_auth_swap) */
	pthread_mutex_t auth_lock;
	rs_auth *auth;

	/* requests in flight (first callback to completion) */
	atomic_int in_flight;
	atomic_int stopping;            /* shutdown began: refuse new requests */

	/* health: Pexip reachability, checked at most every pexip_check_ms
	 * (rs_pexip_refresh); written under health_lock, read without it by
	 * /readyz */
	pthread_mutex_t health_lock;
	_Atomic long long pexip_checked_at;     /* rs_now_ms of the last check, 0 = none */
	atomic_int pexip_ok;                    /* the last check succeeded */
	_Atomic long long pexip_ok_at;          /* rs_now_ms of the last success, 0 = none */
	long long pexip_check_ms;               /* min(10 s, ready_window_s / 3) */
	unsigned ready_window_s;                /* --ready-window S */
	long long started_ms;                   /* rs_now_ms at start, for /healthz */
	/* probes.c: the thread that runs the Pexip check when /readyz asks */
	pthread_mutex_t probe_lock;
	pthread_cond_t probe_cond;
	pthread_t probe_thread;
	int probe_started, probe_kicked, probe_stop;
	_Atomic long long pool_kicked_at;       /* rs_now_ms of the last top-up /readyz queued */
	atomic_int ready_last;                  /* the last /readyz answer: -1 none, 0, 1 */
	atomic_int queue_store_bad;     /* pex_queue_check() failing: logged once */
	long long maturing;             /* pool rooms not ready yet, asked with the Pexip check */
	long long maturing_next_ms;     /* when the next of them is ready (rs_now_ms), 0 = none */

	/* jobs.c */
	pthread_mutex_t jobs_lock;
	pthread_cond_t jobs_cond;
	size_t replenish_pending;       /* queued "replenish 1" jobs */
	size_t replenish_running;       /* replacements a worker is making now */
	size_t backlog_max;             /* hand-outs wait while this many are owed (0: never) */
	size_t backlog_waiters;         /* requests waiting in rs_jobs_throttle() */
	size_t waiters_max;             /* at most this many wait there (RS_WAITING_SHARE) */
	pthread_cond_t backlog_cond;    /* a replacement was made (CLOCK_MONOTONIC) */
	int fill_pending;               /* a queued top-up to pool.depth */
	size_t jobs_running;            /* jobs a worker is doing now */
	int jobs_stopping;
	long long jobs_deadline;        /* monotonic ms: drop queued jobs after it */
	pthread_t *workers;
	size_t worker_count;
	pthread_t timer_thread;
	int timer_started;
	pthread_cond_t timer_cond;
	unsigned gc_interval_s, metrics_interval_s;
	/* What the metrics timer last learnt from Pexip; /metrics serves it and
	 * never asks Pexip itself (rs_run_metrics, rs_metrics_text). */
	pthread_mutex_t metrics_lock;
	long long cached_live, cached_pool_rooms;
	int pexip_up;                   /* the last refresh succeeded */
	long long pexip_last_success;   /* Unix seconds of the last success; 0 = never */
	int gc_orphans;                 /* --gc-orphans: every GC sweep runs the orphan sweep too */
	unsigned prefetch;              /* --prefetch N: rooms held ready (pex_pool_prefetch) */

	/* http.c: connections and their header deadline (slow clients) */
	unsigned per_ip_limit;          /* --per-ip-connections N (0: no limit) */
	unsigned header_timeout_s;      /* --header-timeout S (0: none) */
	pthread_mutex_t conns_lock;
	pthread_cond_t conns_cond;      /* CLOCK_MONOTONIC; wakes the watchdog to stop */
	struct rs_conn *conns;          /* every open connection */
	pthread_t watchdog;
	int watchdog_started, watchdog_stopping;

	/* routes.c: GET /public/room/{name} answers, cached (rs_public_init) */
	pthread_mutex_t public_lock;
	struct rs_public_entry *public_cache;   /* RS_PUBLIC_CACHE_SIZE entries */
	unsigned public_in_flight, public_max;  /* anonymous Pexip lookups now / at most */
	unsigned public_ttl_s;                  /* --public-ttl S: how long an answer is kept */
	unsigned public_threads;                /* lookup threads not yet finished */
} rs_server;

/* (auth.c) The settings of @p cfg with one reference, or NULL with the
 * reason logged (a bad JWKS file, no memory). */
rs_auth *rs_auth_new(const pex_config *cfg);
/* Drop a reference; the last one wipes the digests and frees. NULL-safe. */
void rs_auth_release(rs_auth *a);
/* A reference to the snapshot in use (s->auth_lock initialised). */
rs_auth *rs_auth_acquire(rs_server *s);
/* Put @p a (its reference passes to the server) in use and release the
 * previous one; requests holding it finish with it. */
void rs_auth_swap(rs_server *s, rs_auth *a);

/* ---- jobs.c ---- */
int rs_jobs_start(rs_server *s, size_t workers);
void rs_jobs_replenish(rs_server *s, size_t n);   /* queue n "replenish 1" jobs */
/* Keep --prefetch rooms held ready (pex_pool_prefetch); logs a failure. */
void rs_prefetch(rs_server *s);
/* How often the timer thread rotates held rooms. */
#define RS_HOLD_CHECK_MS 60000LL
/* A request waits in two places, one after the other: for the replenish
 * backlog (rs_jobs_throttle) and in a pop, for a room on its way
 * (pool.wait_ms). Each may hold at most 1/RS_WAITING_SHARE of the HTTP
 * threads at once (at least one), so that a burst on an empty pool cannot
 * keep every thread in one of them. */
#define RS_WAITING_SHARE 2
/* How often the timer thread runs the pool's sizing step (pex_pool_resize). */
#define RS_RESIZE_MS 1000LL
/* The longest a hand-out waits for the replenish backlog (rs_jobs_throttle). */
#define RS_THROTTLE_MAX_MS 1000LL
void rs_jobs_fill(rs_server *s);                   /* queue one top-up to pool.depth */
/* Back-pressure before a hand-out: wait (at most RS_THROTTLE_MAX_MS) while
 * backlog_max or more replacements are still queued or being made, unless
 * waiters_max requests wait already. */
void rs_jobs_throttle(rs_server *s);
/* Stop: finish queued jobs for at most @p drain_ms, stop the timers, join. */
void rs_jobs_stop(rs_server *s, long drain_ms);
/* One GC sweep / one metrics line; fill @p logs (may be NULL) with a summary. 0 or error.
 * rs_run_metrics() also refreshes the Pexip gauges /metrics serves. */
int rs_run_gc(rs_server *s, json_object *logs);
int rs_run_metrics(rs_server *s, json_object *logs);
/* The /metrics body (Prometheus text) with no Pexip request: the queue
 * counts and counters now, the Pexip gauges from the last refresh, and
 * pexipsdk_pexip_up / pexipsdk_pexip_last_success_timestamp_seconds. */
int rs_metrics_text(rs_server *s, char **out, size_t *len);   /* malloc'd */

/* ---- http.c ---- */

/* Per-request state, created on the first callback. */
typedef struct rs_request {
	const char *method;             /* MHD's, valid for the request */
	char *path;                     /* url without the query (in mem) */
	char *log_path;                 /* path + query keys only, no values, escaped (in mem) */
	char *log_method;               /* the method, escaped (in mem) */
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
	int quiet;                      /* a probe: no access log line below log.level debug */
	unsigned retry_after;           /* seconds for a Retry-After header (0: none) */
	/* GET /public/room/{name}: the lookup runs off the HTTP thread while
	 * the connection is suspended (routes.c) */
	int lookup;                     /* 0: not started, 1: in Pexip, 2: done */
	int lookup_err;                 /* 0, PEX_ENOTFOUND or another error */
	char *lookup_body;              /* the answer when found */
	char request_id[RS_REQUEST_ID_MAX + 1];  /* kept or made (rs_request_id_ok) */
	char remote[48];                /* the peer's address (rs_peer_text) */
	char mem[];                     /* path, log_path and log_method */
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

/* Defaults of --per-ip-connections and --header-timeout. A connection
 * whose request headers are not all in within header_timeout_s of accept
 * is closed, however slowly it trickles; on a kept-alive connection the
 * next request's headers get RS_IDLE_TIMEOUT_S from the end of the last. */
#define RS_PER_IP_DEFAULT 250u
#define RS_HEADER_TIMEOUT_DEFAULT 30u
#define RS_IDLE_TIMEOUT_S 60u
/* Headers are in (the first access callback) / the request is over. */
void rs_conn_headers_done(rs_server *s, struct MHD_Connection *c);
void rs_conn_request_done(rs_server *s, struct MHD_Connection *c);

int rs_http_start(rs_server *s, const char *host, unsigned port, unsigned threads, unsigned *bound_port);
void rs_http_stop(rs_server *s, long drain_ms);

/* ---- parse.c: pure helpers, no I/O (fuzzed) ---- */

/* A growing text buffer; short texts stay in inline_buf. Out of memory
 * sets oom and makes every later call a no-op. ptr is always
 * NUL-terminated. */
typedef struct rs_text {
	char *ptr;
	size_t len, cap;
	int oom;
	char inline_buf[512];
} rs_text;

void rs_text_init(rs_text *t);
void rs_text_dispose(rs_text *t);
void rs_text_put(rs_text *t, const char *s, size_t n);
void rs_text_puts(rs_text *t, const char *s);
void rs_text_printf(rs_text *t, const char *fmt, ...) PEX_PRINTF(2, 3);
/* @p s as a JSON string, escaped exactly as json-c does with
 * JSON_C_TO_STRING_NOSLASHESCAPE; NULL gives null. */
void rs_text_json_str(rs_text *t, const char *s);
/* {"error":{"code":...,"message":...}} */
void rs_json_error(rs_text *t, const char *code, const char *message);
/* One log line (no newline) of @p msg and @p count fields, all escaped
 * already (pex_log_escape): a JSON object {"ts","level","component","msg",
 * fields...} with string fields as JSON strings and the others as
 * integers, or the text "TS room-server: LEVEL: MSG key=value..." (with
 * component= unless it is "room-server"; a value holding a space, '"' or
 * '=' in double quotes). */
void rs_log_line_json(rs_text *t, const char *ts, const char *level, const char *component,
	const char *msg, const pex_log_field *fields, size_t count);
void rs_log_line_text(rs_text *t, const char *ts, const char *level, const char *component,
	const char *msg, const pex_log_field *fields, size_t count);

/* Append a body chunk to r->body (NUL-terminated), or note that r->limit
 * was passed: the rest is read and dropped (up to RS_DRAIN_MAX) so the 413
 * can still be answered. 0, or -1: close the connection. */
int rs_body_append(rs_request *r, const char *data, size_t len);
/* A Content-Length value: digits only, no overflow. 0 or -1. */
int rs_content_length(const char *text, unsigned long long *out);

/* The body as one JSON object, or NULL with the reason in @p why. */
json_object *rs_parse_object(const char *body, size_t len, char *why, size_t whylen);
/* POST /room/create: uuiData and tagUrl exclude each other. 0 or -1. */
int rs_parse_create(const char *uui, const char *tag_url, char *why, size_t whylen);
/* PATCH /room/{name}: only "tag" and "description", strings, at least one.
 * The pointers borrow from @p body. 0 or -1 with the reason. */
int rs_parse_patch(json_object *body, const char **tag, const char **description, char *why, size_t whylen);

/* POST /room/bulk/create?count=N with an optional {"uuiData": [hex, ...]}. */
typedef struct rs_bulk_create {
	long count;             /* rooms to hand out, 1..RS_BULK_MAX */
	json_object *body;      /* the parsed body (owned; json_object_put it), or NULL */
	json_object *uuis;      /* borrowed from body: count hex strings, or NULL */
} rs_bulk_create;
/* Check everything (every UUI against @p rules) before anything is taken.
 * 0, or -1 with the reason (the answer is a 400) and nothing to free. */
int rs_parse_bulk_create(rs_bulk_create *out, const char *count_arg, const char *body, size_t body_len,
	const pex_tag_rules *rules, char *why, size_t whylen);
/* The i-th UUI, or NULL when there is no list. */
const char *rs_bulk_create_uui(const rs_bulk_create *b, size_t i);
/* DELETE /room/bulk?prefix=P&confirm=yes: 0, or -1 with an error code
 * ("bad_request", "confirmation_required") and the reason. */
int rs_parse_bulk_delete(const char *prefix, const char *confirm, const char **code, char *why, size_t whylen);
/* Pexip's rules for a room name (pex_room_name_check(): 1 to 250
 * characters of valid UTF-8, no control character): 1, or 0 with the
 * reason in pex_error_last(). */
int rs_valid_room_name(const char *name);
/* 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104. NULL is not. */
int rs_peer_is_loopback(const struct sockaddr *sa);

/* The address of @p sa as text ("127.0.0.1", "::1"), or "unknown". */
void rs_peer_text(const struct sockaddr *sa, char *out, size_t size);

/* Request checks made on the headers, before any route runs. */
/* An incoming X-Request-Id is kept when it is 1 to RS_REQUEST_ID_MAX
 * token characters (letters, digits and !#$%&'*+-.^_`|~): 1, else 0. */
int rs_request_id_ok(const char *id);
/* 1 when @p s can go into a log line or a JSON answer as is: no control
 * character, well-formed UTF-8 (pex_log_escape would change nothing). */
int rs_clean_text(const char *s);
/* 1 when the undecoded request target holds "%00" (decoding would cut
 * the path or a query value short). */
int rs_target_has_nul(const char *raw);
/* The framing headers, fed one header at a time (rs_framing_header) and
 * then judged (rs_framing_check): two different Content-Length values,
 * Content-Length with Transfer-Encoding, more than one Transfer-Encoding
 * or one other than "chunked" are refused (request smuggling). */
typedef struct rs_framing {
	size_t content_lengths, transfer_encodings;
	const char *content_length, *transfer_encoding;    /* the first of each */
	int lengths_differ;
} rs_framing;
void rs_framing_header(rs_framing *f, const char *key, const char *value);
/* 0, or -1 with the reason. */
int rs_framing_check(const rs_framing *f, char *why, size_t whylen);
/* The query arguments, one at a time: clean text (rs_clean_text), each
 * key once, at most RS_QUERY_MAX. 0, or -1 with the reason. */
#define RS_QUERY_MAX 32
typedef struct rs_query {
	const char *keys[RS_QUERY_MAX];
	size_t count;
} rs_query;
int rs_query_arg(rs_query *q, const char *key, const char *value, char *why, size_t whylen);

/* ---- routes.c ---- */

/* What a route needs before its body arrives. */
typedef struct rs_route_info {
	int known;          /* the path is a route */
	int method_ok;      /* and the method is allowed */
	const char *allow;  /* Allow header for 405 */
	int needs_auth;     /* /room/ routes: API key or JWT */
	int event_sink;     /* Basic auth when configured; 4 MiB body */
	int timer;          /* /gc_timer, /metrics_timer: loopback peer, or credentials */
} rs_route_info;

/* GET /public/room/{name} asks Pexip for a name at most once per
 * public_ttl_s (--public-ttl, default RS_PUBLIC_TTL_DEFAULT; found or not found), for one caller at a time per name
 * and for at most public_max callers at once (a quarter of
 * pexip.max_concurrency, at least 1); any other anonymous lookup gets 503
 * with Retry-After, so anonymous traffic never takes the Pexip connections
 * hand-outs need. At most RS_PUBLIC_CACHE_SIZE names are remembered. */
#define RS_PUBLIC_TTL_DEFAULT 5u
#define RS_PUBLIC_CACHE_SIZE 256
/* 0 or -1; rs_public_dispose() frees what rs_public_init() made. */
int rs_public_init(rs_server *s, unsigned max_concurrency);
void rs_public_dispose(rs_server *s);
/* Wait for the lookup threads to finish (they resume their connections,
 * so the daemon must still run); the client's timeouts bound the wait. */
void rs_public_wait(rs_server *s);

void rs_route_classify(rs_route_info *info, const char *method, const char *path);
/* pex_queue_check() on the pool queue, for health and the timers: 0 or the
 * error. The first failure after a success is logged, not every one. */
int rs_queue_store_check(rs_server *s);
/* Authenticate a request for a route (headers only). 0 = go on; otherwise
 * a response was queued (the return value for MHD is in *ret). */
int rs_route_auth(rs_server *s, struct MHD_Connection *c, rs_request *r,
	const rs_route_info *info, enum MHD_Result *ret);
/* ---- probes.c ---- */

/* /readyz: the default of --ready-window and how often, at most, the
 * shared Pexip check runs (RS_PEXIP_CHECK_MS, or ready_window_s / 3 when
 * that is shorter). */
#define RS_READY_WINDOW_DEFAULT 60u
#define RS_PEXIP_CHECK_MS 10000LL
/* An empty pool with nothing coming: /readyz queues a top-up at most this often. */
#define RS_READY_FILL_MS 10000LL
/* (health_lock held) Ask Pexip (pex_client_check) when the last check is
 * pexip_check_ms old or there was none; 1 if it asked. */
int rs_pexip_refresh(rs_server *s);
/* The thread that runs the check for /readyz (once at start, then when
 * asked); 0 or -1. rs_probes_stop() waits for a check in Pexip. */
int rs_probes_start(rs_server *s);
void rs_probes_stop(rs_server *s);
/* Stop a thread that waits on @p cond under @p lock until *@p stop: set
 * it, wake every waiter, join @p thread. */
void rs_thread_stop(pthread_mutex_t *lock, pthread_cond_t *cond, int *stop, pthread_t thread);
/* When *@p started: rs_thread_stop(), destroy @p cond and @p lock, clear it. */
void rs_thread_end(pthread_mutex_t *lock, pthread_cond_t *cond, int *stop, pthread_t thread, int *started);
/* /healthz or /readyz: answered while shutting down too. */
int rs_route_is_probe(const char *path);
enum MHD_Result rs_route_healthz(rs_server *s, struct MHD_Connection *c, rs_request *r);
enum MHD_Result rs_route_readyz(rs_server *s, struct MHD_Connection *c, rs_request *r);

/* Handle a request whose body (if any) is complete. */
enum MHD_Result rs_route_dispatch(rs_server *s, struct MHD_Connection *c, rs_request *r);

#endif
