/* Internal HTTP, auth and Pexip-client pieces (hidden). */
#ifndef PEX_HTTP_INTERNAL_H
#define PEX_HTTP_INTERNAL_H

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

typedef struct pex__http_response {
	long status;              /* 0 when the transport failed */
	pex_buf body;
	char location[1024];
	char retry_after[128];
	char cache_control[256];
	int not_sent;             /* transport failed before the request could be processed */
	int curl_code;
	size_t max_body;          /* set by pex__http_perform from the config */
	int sends;                /* times the request went out in this attempt (libcurl
	                           * replays once on a dead reused connection) */
	int replayed;             /* set by the caller's retry loop: an earlier send of this
	                           * logical request may have been processed */
} pex__http_response;

int pex__http_new(pex__http **out, const pex__http_config *cfg);
void pex__http_free(pex__http *h);
/* One attempt. Transport failures return PEX_ENET, PEX_ETIMEOUT or PEX_ETLS
 * (resp->not_sent says whether the server surely did not process it); any
 * HTTP status is success here. @headers is NULL-terminated. */
int pex__http_perform(pex__http *h, pex__http_class cls, const char *method, const char *url,
	const char *const *headers, const char *body, size_t body_len,
	pex__http_response *resp);
void pex__http_response_reset(pex__http_response *resp);
void pex__http_response_dispose(pex__http_response *resp);
/* Requests of class @p cls waiting for a handle now (for tests). */
size_t pex__http_waiting(pex__http *h, pex__http_class cls);

#endif
