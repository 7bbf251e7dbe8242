/* Internal HTTP layer (hidden): retry schedule, transport, the one call, token cache. */
#ifndef PEX_HTTP_INTERNAL_H
#define PEX_HTTP_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "internal.h"

/* ---- retry schedule (pure) ----
 * Delay before retry number @attempt (0 = first retry): exponential from
 * base_ms, capped at cap_ms, with "equal jitter" (a uniform draw in the
 * upper half of the step). A server's Retry-After (ms, or < 0 if none)
 * replaces the computed delay when it is longer, still capped at cap_ms. */
int64_t pex__backoff_ms(unsigned attempt, int64_t base_ms, int64_t cap_ms,
	int64_t retry_after_ms, uint64_t random);

/* Parse a Retry-After value (delta-seconds or an HTTP date); ms or -1. */
int64_t pex__parse_retry_after(const char *value, int64_t now_unix);

/* Classify a libcurl failure (a CURLcode): PEX_ENET, PEX_ETIMEOUT or
 * PEX_ETLS; *not_sent (may be NULL) is set when the request surely never
 * reached the server (DNS, connect, certificate). Pure. */
int pex__curl_classify(int curl_code, int *not_sent);

/* Is this HTTP status worth retrying (429, 502, 503, 504)? */
int pex__http_status_retryable(long status);

/* Reason phrase for a status ("Not Found"). */
const char *pex__http_reason(long status);

/* ---- transport: a pool of keep-alive curl handles ----
 * At most max_concurrency requests are in flight; callers beyond that wait
 * for a free handle. DNS and TLS sessions are shared between handles. */
typedef struct pex__http pex__http;

/* The class a request goes out at. Background requests (bulk work:
 * replenish, GC) yield handles to foreground ones (transport.c, acquire();
 * docs/DECISIONS.md #15). The class travels with the request, never with
 * the thread. */
typedef enum pex__http_class {
	PEX__HTTP_FOREGROUND = 0,
	PEX__HTTP_BACKGROUND = 1
} pex__http_class;

typedef struct pex__http_config {
	int tls_verify;
	const char *ca_file;
	long timeout_ms;
	unsigned max_concurrency;
	const char *user_agent;
	/* the settings named in transport error hints; NULL for the pex_client
	 * ones (pexip.tls.ca_file, pexip.timeout_ms); ca_key "" gives no CA hint */
	const char *ca_key;
	const char *timeout_key;
	size_t max_body;          /* replies longer than this fail; 0 = 64 MiB */
} pex__http_config;

/* Reply headers a caller can ask for besides the ones below. */
#define PEX__HTTP_WANT_MAX 4

typedef struct pex__http_response {
	long status;              /* 0 when the transport failed */
	pex_buf body;
	char location[1024];
	char retry_after[128];
	char cache_control[256];
	/* set by the caller: up to PEX__HTTP_WANT_MAX more header names
	 * (NULL-terminated); their values land in wanted[] ("" if absent) */
	const char *const *want;
	char wanted[PEX__HTTP_WANT_MAX][512];
	int secret;               /* set by the caller: the body holds a secret; it grows
	                           * without leaving copies and is wiped when reset or
	                           * disposed */
	int not_sent;             /* transport failed before the request could be processed */
	int too_big;              /* the reply was longer than the transport's max_body */
	int curl_code;
	char curl_error[256];     /* libcurl's own words on a transport failure, or "" */
	size_t max_body;          /* set by pex__http_send from the config */
	int sends;                /* times the request went out in this attempt (libcurl
	                           * replays once on a dead reused connection) */
	int replayed;             /* set by pex__http_call: an earlier send of this
	                           * logical request may have been processed */
	unsigned retries;         /* set by pex__http_call: retries made (not counting
	                           * PEX__HTTP_AGAIN) */
} pex__http_response;

/* One request. */
typedef struct pex__http_req {
	const char *method;
	const char *url;          /* never shown whole: errors strip credentials and query */
	const char *const *headers;   /* "Name: value", NULL-terminated, or NULL */
	const char *body;         /* NULL: none */
	size_t body_len;
	int https_only;           /* refuse plain http (a bearer token goes along) */
	int no_proxy;             /* never through a proxy (link-local identity endpoints) */
	const char *extra_ca_file;    /* PEM bundle trusted besides the transport's CAs */
} pex__http_req;

/* What pex__http_call does after an attempt. */
typedef enum pex__http_verdict {
	PEX__HTTP_STOP,           /* done: the reply (or error) is final */
	PEX__HTTP_RETRY,          /* another attempt after a backoff, if retries are left */
	PEX__HTTP_AGAIN           /* another attempt now, not counted (a refreshed token) */
} pex__http_verdict;

/*
 * The caller's rules for one logical request. Zero values: foreground, not
 * idempotent, no retries.
 */
enum { PEX__HTTP_STATS_PEXIP = 1, PEX__HTTP_STATS_PEXIP_TOKEN = 2 };

typedef struct pex__http_policy {
	pex__http_class cls;
	int idempotent;           /* a transport failure after sending may be retried */
	unsigned retries;         /* attempts after the first */
	int64_t base_ms, cap_ms;  /* backoff (pex__backoff_ms) */
	int retry_after;          /* a server's Retry-After may lengthen the wait */
	int64_t deadline_ms;      /* pex__now_ms() after which no retry starts; 0: none */
	/* Is this status worth another attempt? NULL: pex__http_status_retryable */
	int (*retry_status)(void *arg, const pex__http_response *resp);
	/* The verdict on an attempt (@p err: its transport error or 0). NULL:
	 * pex__http_judge. A judge may call pex__http_judge for the common part. */
	pex__http_verdict (*judge)(void *arg, unsigned attempt, int err, pex__http_response *resp);
	/* Before each attempt: (re)build @p req (a fresh token, a new signature);
	 * < 0 ends the call with that error. NULL: @p req is sent as it is. */
	int (*prepare)(void *arg, unsigned attempt, pex__http_req *req);
	/* Before each backoff (logging, counting). NULL: nothing. */
	void (*on_retry)(void *arg, unsigned attempt, int err, const pex__http_response *resp);
	void *arg;
	/* Record each attempt and retry in the process's Pexip metrics (core/stats.h):
	 * PEX__HTTP_STATS_PEXIP, PEX__HTTP_STATS_PEXIP_TOKEN; 0: not a Pexip request. */
	int stats;
} pex__http_policy;

int pex__http_new(pex__http **out, const pex__http_config *cfg);
void pex__http_free(pex__http *h);

/*
 * One logical request under @p pol: prepare, send, judge, back off, again,
 * until the judge stops it, the retries are spent or the deadline is near.
 * Returns 0 with resp->status set to whatever the server finally answered
 * (any status), or the last transport error (PEX_ENET, PEX_ETIMEOUT,
 * PEX_ETLS: resp->not_sent says whether the server surely did not process
 * it; resp->too_big whether the reply was over max_body) or the prepare
 * hook's error. resp->replayed and resp->retries tell what happened.
 */
int pex__http_call(pex__http *h, pex__http_req *req, const pex__http_policy *pol,
	pex__http_response *resp);

/*
 * The common verdict: STOP on a 2xx, on a local error, on PEX_ETLS, on a
 * reply over max_body, on a transport failure after sending unless
 * idempotent, and on a status the policy does not retry (retry_status; or
 * without one, 429/502/503/504 when idempotent, else 429 only); else RETRY.
 */
pex__http_verdict pex__http_judge(const pex__http_policy *pol, int err,
	const pex__http_response *resp);

/* One attempt (no retries): what pex__http_call sends each time. */
int pex__http_send(pex__http *h, pex__http_class cls, const pex__http_req *req,
	pex__http_response *resp);
void pex__http_response_reset(pex__http_response *resp);
void pex__http_response_dispose(pex__http_response *resp);
/* Requests of class @p cls waiting for a handle now (for tests). */
size_t pex__http_waiting(pex__http *h, pex__http_class cls);
/* libcurl's text for a curl code (resp->curl_code). */
const char *pex__curl_strerror(int curl_code);

/* ---- token cache (token.c) ----
 * One token (a secret string: a header line or a bare token) with the key
 * it was fetched for, fetched once for all threads when missing, for
 * another key, or due for refresh. Serves the Pexip OAuth2 token and the
 * managed identity token of Key Vault. */
typedef struct pex__token_cache {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int fetching;             /* one fetch at a time; the others wait for it */
	char *value;              /* secret, wiped when dropped */
	char *key;                /* what it was fetched for, or NULL */
	int64_t refresh_at;       /* pex__now_ms() from which it is fetched anew */
	unsigned gen;             /* counts fetches */
} pex__token_cache;

#define PEX__TOKEN_CACHE_INIT { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, NULL, NULL, 0, 0 }

/* Fetch a token (no lock held): *value a new string (secret), *refresh_at
 * the pex__now_ms() from which it should not be handed out any more. */
typedef int (*pex__token_fetch_fn)(void *arg, char **value, int64_t *refresh_at);

void pex__token_cache_init(pex__token_cache *tc);
/* Wipe and free the token; the cache stays usable. */
void pex__token_cache_drop(pex__token_cache *tc);
/* Wipe and free everything (the cache is no longer used). */
void pex__token_cache_dispose(pex__token_cache *tc);
/* The current token for @p key (NULL: the only kind) as a copy the caller
 * wipes and frees; fetched with @p fetch when needed. *gen (may be NULL)
 * identifies it for pex__token_invalidate; *fresh (may be NULL) says
 * whether this call fetched it. */
int pex__token_get(pex__token_cache *tc, const char *key, pex__token_fetch_fn fetch, void *arg,
	char **out, unsigned *gen, int *fresh);
/* The server refused token @p gen: fetch anew next time, unless it was
 * replaced already. 1 when it had been (the refusal says nothing about
 * the current token), else 0. */
int pex__token_invalidate(pex__token_cache *tc, unsigned gen);

#endif
