/**
 * @file pexipsdk/client.h
 * @brief A client for the Pexip Infinity Management REST API.
 *
 * One pex_client holds the connection pool, the OAuth2 token cache and the
 * retry policy. It is safe to share between threads: at most
 * max_concurrency requests are in flight per client, whatever the number of
 * threads using it; further callers wait for a free slot.
 *
 * Bulk work of the pool (pex_pool_replenish/fill/drain, pex_gc_sweep,
 * pex_metrics_get) makes background requests: while other requests
 * of the client are in flight or waiting, a background request waits for
 * them and never takes the last free slot, so a hand-out (pex_pool_pop) or
 * any direct call does not queue behind a fill or a sweep. Alone, bulk work
 * uses every slot.
 */
#ifndef PEXIPSDK_CLIENT_H
#define PEXIPSDK_CLIENT_H

#include "common.h"
#include "config.h"
#include "buf.h"
#include "log.h"

PEX_BEGIN_DECL

typedef struct pex_client pex_client;

typedef enum pex_auth_method {
	PEX_AUTH_BASIC = 0,   /**< Authorization: Basic on every request */
	PEX_AUTH_OAUTH2 = 1   /**< client credentials with an ES256 JWT assertion */
} pex_auth_method;

#define PEX_CLIENT_OPTIONS_VERSION 1

/**
 * Client options. Strings are copied by pex_client_new(); the caller may
 * free them afterwards.
 */
typedef struct pex_client_options {
	unsigned int version;
	const char *url;              /**< https://manager.example.com (required) */
	pex_auth_method auth;
	const char *username;         /**< Basic */
	const char *password;         /**< Basic (secret) */
	const char *client_id;        /**< OAuth2 */
	const char *private_key_pem;  /**< OAuth2: EC P-256 private key, PEM (secret) */
	const char *token_url;        /**< OAuth2: default <url>/oauth/token/ */
	const char *audience;         /**< OAuth2: JWT aud; default token_url */
	int tls_verify;               /**< 1 (default); 0 only when asked explicitly */
	const char *ca_file;          /**< extra CA bundle (PEM), or NULL */
	long timeout_ms;              /**< per request, default 10000 */
	unsigned max_concurrency;     /**< requests in flight, default 5 */
	unsigned retries_max;         /**< retries after the first try, default 3 */
	long retry_base_ms;           /**< first backoff, default 200 */
	long retry_cap_ms;            /**< backoff cap, default 30000 */
	pex_log_cb log_cb;            /**< NULL: no logging */
	void *log_payload;
	pex_log_level log_level;      /**< default PEX_LOG_INFO */
	const char *user_agent;       /**< default "libpexipsdk/<version>" */
	/** OAuth2: the token request's scope (space-separated scope tokens,
	 * e.g. "is_admin use_api"); NULL = none sent */
	const char *scope;
} pex_client_options;

#define PEX_CLIENT_OPTIONS_INIT { PEX_CLIENT_OPTIONS_VERSION, NULL, PEX_AUTH_BASIC, \
	NULL, NULL, NULL, NULL, NULL, NULL, 1, NULL, 10000, 5, 3, 200, 30000, \
	NULL, NULL, PEX_LOG_INFO, NULL, NULL }

/** Initialise @p opts to defaults. @return 0 or PEX_EINVAL (unknown version). */
PEX_EXTERN int pex_client_options_init(pex_client_options *opts, unsigned int version);

/**
 * Create a client. Does no I/O.
 * @return 0, PEX_EINVAL (bad option, named in the message), PEX_ECONFIG
 *         (e.g. an unreadable private key), PEX_ENOMEM.
 */
PEX_EXTERN int pex_client_new(pex_client **out, const pex_client_options *opts);

/**
 * Create a client from the pexip: section of a configuration. @p log_cb may
 * be NULL. @return as pex_client_new(), or PEX_ECONFIG naming the key.
 */
PEX_EXTERN int pex_client_new_from_config(pex_client **out, const pex_config *cfg,
	pex_log_cb log_cb, void *log_payload);

/**
 * Send this client's log lines as records (message and typed fields) to
 * @p cb instead of its pex_log_cb (pex_log(3)); NULL goes back to the
 * pex_log_cb. The level stays the client's. Set it once, right after
 * creating the client (for a pool: right after pex_pool_new*(), on
 * pex_pool_client()); a line another thread logs meanwhile (a pool's
 * maintenance thread) goes to one callback or the other, and lines logged
 * before it went to the pex_log_cb.
 * @return 0, or PEX_EINVAL when @p client is NULL.
 */
PEX_EXTERN int pex_client_set_log_record(pex_client *client, pex_log_record_cb cb, void *payload);

/** Free a client (no request may be in flight). NULL-safe. */
PEX_EXTERN void pex_client_free(pex_client *client);

/**
 * Check reachability and credentials now: one authenticated GET of the
 * conference list (limit=1), fetching an OAuth2 token first when the
 * client has none (with either method a GET is made).
 * @return 0, PEX_EAUTH, PEX_ENET, PEX_ETLS, PEX_ETIMEOUT or PEX_EHTTP.
 */
PEX_EXTERN int pex_client_check(pex_client *client);

#define PEX_CLIENT_STATS_VERSION 1

/** Counters of one client, for metrics and tests. Caller-allocated:
 * initialise it with pex_client_stats_init() (or PEX_CLIENT_STATS_INIT),
 * so that members added later are filled only for callers that know them. */
typedef struct pex_client_stats {
	unsigned int version;
	unsigned long long requests;      /**< HTTP requests sent (retries included) */
	unsigned long long retries;       /**< of which were retries */
	unsigned long long token_fetches; /**< OAuth2 token requests */
	unsigned long long failures;      /**< calls that returned an error */
} pex_client_stats;

#define PEX_CLIENT_STATS_INIT { PEX_CLIENT_STATS_VERSION, 0, 0, 0, 0 }
/** Zero @p stats and set its version. @return 0 or PEX_EINVAL (unknown version). */
PEX_EXTERN int pex_client_stats_init(pex_client_stats *stats, unsigned int version);

/** Copy the client's counters into @p out (the members of out->version).
 * @return 0, or PEX_EINVAL (NULL argument, unknown version). */
PEX_EXTERN int pex_client_get_stats(pex_client_stats *out, const pex_client *client);

/**
 * Low-level escape hatch: send one request with the client's auth, retries
 * and concurrency limit. @p path is relative to the host
 * ("/api/admin/configuration/v1/conference/?name=x"); @p body may be NULL.
 * POST is retried only when it surely was not processed. The response
 * body (possibly empty) goes into @p out, the status into @p status.
 * Any status is success here; only transport failures return errors.
 */
PEX_EXTERN int pex_client_request(pex_buf *out, int *status, pex_client *client,
	const char *method, const char *path, const char *json_body);

/**
 * GET a public document (a JWKS, for example) over HTTPS with the library's
 * transport. TLS verification is always on: the server's certificate must
 * chain to the system CAs or, when @p ca_file is not NULL or empty, to the
 * CAs in that PEM file (it replaces the system ones, as pexip.tls.ca_file
 * does). @p url must be https:// with no credentials and no fragment (a
 * query is allowed). No redirects are followed; the reply is at most 1 MiB;
 * the whole request takes at most @p timeout_ms (1 to 600000).
 * @p what names the document in error messages ("server.jwt.jwks_url").
 * On 0 the body is in @p out and *max_age_s (if not NULL) holds the reply's
 * Cache-Control max-age in seconds, 0 for no-store or no-cache, or -1 when
 * it has none.
 * @return 0, PEX_EINVAL (bad URL), PEX_ENET, PEX_ETLS, PEX_ETIMEOUT,
 *         PEX_EHTTP (a status other than 200, or a larger reply), PEX_ENOMEM.
 */
PEX_EXTERN int pex_https_get(pex_buf *out, long *max_age_s, const char *url, const char *what,
	const char *ca_file, long timeout_ms);

PEX_END_DECL

#endif
