/* Internal declarations shared by the Pexip Management API emulator's
 * translation units (main.c, server.c, store.c, oauth.c, events.c, util.c).
 * Nothing here is part of libpexipsdk. */
#ifndef PEX_EMU_H
#define PEX_EMU_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>
#include <openssl/evp.h>

/* ------------------------------------------------------------------ */
/* util.c                                                             */
/* ------------------------------------------------------------------ */

/* A chained hash map with byte-string keys (copied) and void* values. */
typedef struct emu_map emu_map;

emu_map *map_new(void);
/* Frees the map; calls free_val (if not NULL) on every value. */
void map_free(emu_map *m, void (*free_val)(void *));
void *map_get(const emu_map *m, const void *key, size_t klen);
/* Inserts or replaces; returns the previous value or NULL. */
void *map_put(emu_map *m, const void *key, size_t klen, void *val);
/* Removes; returns the removed value or NULL. */
void *map_del(emu_map *m, const void *key, size_t klen);
size_t map_count(const emu_map *m);
/* Removes every entry for which drop() returns true, passing the value to
 * free_val (if not NULL). */
void map_remove_if(emu_map *m, bool (*drop)(void *val, void *ctx), void *ctx,
		   void (*free_val)(void *));

/* String-keyed conveniences. */
#define map_sget(m, s) map_get((m), (s), strlen(s))
#define map_sput(m, s, v) map_put((m), (s), strlen(s), (v))
#define map_sdel(m, s) map_del((m), (s), strlen(s))
/* Integer-keyed conveniences (the key is the 8 bytes of an int64_t). */
void *map_iget(const emu_map *m, int64_t k);
void *map_iput(emu_map *m, int64_t k, void *v);
void *map_idel(emu_map *m, int64_t k);

/* Wall clock in microseconds since the epoch, and monotonic seconds. */
int64_t now_us(void);
double mono_s(void);
/* "YYYY-MM-DDTHH:MM:SS.ffffff" (naive, UTC); buf needs 32 bytes. */
void fmt_iso(int64_t us, char *buf, size_t n);
/* Parses the three Pexip forms (fraction and offset optional, 'Z' allowed),
 * returning microseconds since the epoch (UTC). 0 on success, -1 if bad. */
int parse_iso(const char *s, int64_t *us);

/* Thread-safe seeded PRNG (xoshiro256**), uniform in [0, 1). */
void rng_seed(uint64_t seed);
double rng_uniform(void);

/* A random v4 UUID from OpenSSL's RNG; out needs 37 bytes. */
void uuid4(char *out);
/* n random bytes as 2n lowercase hex characters; out needs 2n+1 bytes. */
void random_hex(char *out, size_t nbytes);

/* strdup that aborts on OOM (the emulator is a test tool). */
char *xstrdup(const char *s);
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t sz);
void *xrealloc(void *p, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Serializes plainly (no pretty printing, no "\/" escapes); caller frees. */
char *json_dump(json_object *o);
/* Parses a complete JSON document (depth-limited); NULL with *err set to a
 * static description on failure. */
json_object *json_parse(const char *buf, size_t len, const char **err);

/* Growable string buffer. */
typedef struct sbuf {
	char *p;
	size_t len, cap;
} sbuf;
void sb_add(sbuf *b, const char *s, size_t n);
void sb_puts(sbuf *b, const char *s);
void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s percent-encoded as a query component (RFC 3986 unreserved kept). */
void sb_urlenc(sbuf *b, const char *s);

/* In-place decode of an application/x-www-form-urlencoded component. */
void form_decode(char *s);

/* base64url without padding -> bytes (malloc'd, NUL-terminated for text
 * use). Returns NULL on bad input. */
unsigned char *b64url_decode(const char *s, size_t len, size_t *out_len);

/* ------------------------------------------------------------------ */
/* Global state (main.c)                                              */
/* ------------------------------------------------------------------ */

typedef struct oauth_client {
	char *client_id;
	EVP_PKEY *key;
} oauth_client;

typedef struct emu_config {
	char *listen;
	unsigned port;
	char *user, *password;
	bool disable_basic;
	long token_ttl;
	char *audience;
	char *tls_cert, *tls_key;
	uint64_t seed;
	char *port_file;
	long page_size, max_limit;
	long replication_delay_s;   /* a conference is joinable this long after its creation_time */
	oauth_client *clients;
	size_t n_clients;
} emu_config;

/* Fault injection settings, copied per request under faults_lock. */
typedef struct emu_faults {
	double latency_ms, latency_jitter_ms;
	double spike_rate, spike_ms;
	double rate_429, retry_after_s;
	double rate_500, rate_502, rate_503, rate_504;
	double rate_drop, rate_drop_after;
	int permanent_status;
	bool apply_to_token;
	long rate_limit_per_minute;
	bool refuse_in_filter;  /* answer `__in` filters with 400, as a server that does not allow them */
	bool refuse_time_filter; /* answer `creation_time` filters with 400 (a release that does not allow them) */
	long fail_next;         /* answer the next N requests with fail_next_status */
	int fail_next_status;   /* 0 = 429 */
	char hold_prefix[64];   /* GETs whose ?name= starts with it wait until it changes ("" = off) */
	char hold_method[8];    /* requests of this method wait until it changes ("" = off) */
	bool hold;              /* requests wait (after the latency) until it is false again */
} emu_faults;

/* Counters; all atomic so that handler threads never block on them. */
#define EMU_METHODS 8
#define EMU_STATUSES 600
typedef struct emu_stats {
	atomic_llong requests;
	atomic_llong by_method[EMU_METHODS];
	atomic_llong by_status[EMU_STATUSES];
	atomic_llong in_flight, max_in_flight;
	atomic_llong token_requests, tokens_issued, auth_failures;
	atomic_llong connections_opened, connections_accepted;
	atomic_llong faults_injected, rate_limited, dropped, latency_spikes;
	atomic_llong events_sent;
	atomic_llong held, held_total;  /* requests waiting on hold_prefix or hold_method now / ever */
} emu_stats;

extern emu_config g_cfg;
extern emu_stats g_stats;
extern atomic_bool g_stopping;
/* a copy of emu_faults.refuse_in_filter for the store (read per list request) */
extern atomic_bool g_refuse_in;
/* and of emu_faults.refuse_time_filter */
extern atomic_bool g_refuse_time;

/* Sleeps up to ms milliseconds; returns early when the emulator stops. */
void emu_sleep_ms(double ms);

extern const char *const emu_method_names[EMU_METHODS];
int method_index(const char *m);

/* ------------------------------------------------------------------ */
/* store.c: configuration + status data                               */
/* ------------------------------------------------------------------ */

/* One query argument of the request (pointers owned by MHD). */
typedef struct qarg {
	const char *k, *v;
} qarg;

/* A handler's answer: status, body (malloc'd or NULL), extra headers. */
#define RESP_MAX_HDRS 4
typedef struct resp {
	int status;
	char *body;
	size_t len;
	const char *ctype;
	char *hdr_name[RESP_MAX_HDRS];
	char *hdr_val[RESP_MAX_HDRS];
	int n_hdrs;
} resp;

void resp_json(resp *r, int status, json_object *o);     /* consumes o */
void resp_error(resp *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void resp_empty(resp *r, int status);
void resp_header(resp *r, const char *name, const char *val);
void resp_clear(resp *r);

void store_init(void);
void store_free(void);
/* Drops every conference, alias and live entry; ids restart at 1. */
void store_reset(void);

/* Routes one /api/admin/{configuration,status}/... request. `rest` is the
 * path after "/api/admin/". */
void store_handle(resp *r, const char *method, const char *rest, const qarg *q, size_t nq,
		  const char *body, size_t len);

/* Control hooks (/_emu/...). */
void store_ctl_start(resp *r, json_object *in);
void store_ctl_stop(resp *r, json_object *in);
void store_ctl_set(resp *r, json_object *in);
void store_ctl_joinable(resp *r, json_object *in);
void store_ctl_replication(resp *r, json_object *in);
extern atomic_long g_replication_delay_s;
void store_ctl_populate(resp *r, json_object *in);
void store_counts(long long *conferences, long long *aliases, long long *live,
		  long long *participants);

/* For the event driver: fills `data` with the conference fields of `name`
 * (configuration and, when live, status). */
void store_conference_event_data(const char *name, json_object *data, bool ended);

/* ------------------------------------------------------------------ */
/* oauth.c                                                            */
/* ------------------------------------------------------------------ */

void oauth_init(void);
void oauth_free(void);
/* Loads "ID=PUBKEY.pem"; returns 0 or -1 with a message on stderr. */
int oauth_add_client(const char *spec);
/* Handles POST /oauth/token/ with a form body. */
void oauth_token_endpoint(resp *r, const char *body, size_t len);
/* true if the bearer token is known and unexpired. */
bool oauth_check_bearer(const char *token);
void oauth_revoke_all(void);
/* Forgets tokens and used jti values. */
void oauth_reset(void);

/* ------------------------------------------------------------------ */
/* events.c                                                           */
/* ------------------------------------------------------------------ */

void events_init(void);
void events_free(void);
void events_reset(void);
/* Handles POST /_emu/events. */
void events_send(resp *r, json_object *in);

/* ------------------------------------------------------------------ */
/* server.c                                                           */
/* ------------------------------------------------------------------ */

struct MHD_Daemon;
/* Creates the listening socket (so the port is known before anything is
 * served); returns the fd or -1 (message on stderr). */
int server_bind(unsigned *bound_port, bool *ipv6);
/* Starts the HTTP daemon on that socket (which it then owns); NULL on
 * failure (message on stderr). */
struct MHD_Daemon *server_start(int listen_fd, bool ipv6);
void server_stop(struct MHD_Daemon *d);
void faults_reset(void);
void stats_reset(void);
void server_free(void);


/* ------------------------------------------------------------------ */
/* mode.c: behaviour modes (--mode JSON, /_emu/mode)                   */
/* ------------------------------------------------------------------ */

#define EMU_MODE_MAX_REFUSED 8
typedef struct emu_mode {
	bool loose_name;            /* `name=` (no operator) matches as icontains */
	char refuse_filters[EMU_MODE_MAX_REFUSED][64]; /* query keys answered 400 */
	size_t n_refuse;
	char require_scope[256];    /* token requests must carry this scope ("" = not) */
	long max_assertion_lifetime_s; /* refuse assertions with exp - iat above it (0 = off) */
	bool absolute_location;     /* 201 Location: absolute URL */
	bool patch_body;            /* PATCH answers 202 with the object as JSON */
	bool lowercase_token_type;  /* token_type "bearer" */
	bool null_fields;           /* optional conference fields null, aliases [] */
} emu_mode;

/* Parses the start-up mode (NULL or "" = defaults); -1 with a message on stderr. */
int mode_init(const char *json);
/* Copies the current mode. */
void mode_get(emu_mode *out);
/* true if query key @p key (e.g. "tag", "name__startswith") is refused. */
bool mode_refuses(const emu_mode *m, const char *key);
/* Back to the start-up mode (/_emu/reset). */
void mode_reset(void);
/* GET (in == NULL) or POST /_emu/mode: answers the (new) mode. */
void mode_ctl(resp *r, json_object *in);

/* ---- jwks.c: an issuer's JWKS endpoint (room server jwks_url tests) ---- */
int jwks_is_path(const char *url);
void jwks_serve(resp *r, const char *method);
/* POST /_emu/jwks: {"keys": [...], "max_age": N} */
void jwks_ctl(resp *r, json_object *in);
long long jwks_requests(void);
void jwks_reset(void);

#endif
