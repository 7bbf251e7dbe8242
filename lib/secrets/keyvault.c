/*
 * Azure Key Vault "Get Secret" through a Managed Identity, for keyvault:
 * references in the configuration (pexipsdk.yaml(5), SECRETS).
 *
 * Token. When IDENTITY_ENDPOINT and IDENTITY_HEADER are both set (App
 * Service, Functions) the token comes from
 *     GET $IDENTITY_ENDPOINT?resource=R&api-version=2019-08-01[&client_id=C]
 *     X-IDENTITY-HEADER: $IDENTITY_HEADER
 * else from the Instance Metadata Service (VMs, AKS nodes):
 *     GET http://169.254.169.254/metadata/identity/oauth2/token
 *         ?api-version=2018-02-01&resource=R[&client_id=C]
 *     Metadata: true
 * R is https://vault.azure.net (or the sovereign cloud's vault audience,
 * from the vault's DNS suffix) and C is $AZURE_CLIENT_ID, for a
 * user-assigned identity. Azure Arc (IDENTITY_ENDPOINT with IMDS_ENDPOINT,
 * no IDENTITY_HEADER) and the legacy MSI_ENDPOINT/MSI_SECRET form are not
 * implemented. Both identity endpoints are plain http on a local address,
 * so they are always reached without a proxy.
 *
 * Secret. GET https://VAULT/secrets/NAME[/VERSION]?api-version=7.4 with
 * "Authorization: Bearer TOKEN"; the secret is the reply's "value". Only
 * https, TLS verification always on, no redirects (they would carry the
 * token elsewhere).
 *
 * Testing hooks (also in pexipsdk.yaml(5)):
 *   PEXIPSDK_IMDS_ENDPOINT     replaces the IMDS token URL (the part before '?')
 *   PEXIPSDK_KEYVAULT_CA_FILE  a PEM bundle trusted *in addition to* the
 *                              system CAs for the vault connection
 *
 * HTTP. Both requests go through the library's transport (lib/http): one
 * keep-alive connection, made on first use and closed by
 * pex__keyvault_cache_clear(); pex__http_call retries 429, 5xx (and for
 * IMDS 404 and 410) and network failures, three attempts in all,
 * honouring Retry-After.
 *
 * Cache. One per process, behind one mutex: the token until 5 minutes
 * before it expires (keyed by its request URL, i.e. endpoint, resource and
 * client id), and each secret (keyed by its canonical URL) for
 * PEX__KV_SECRET_TTL_S seconds, so a configuration with several keyvault:
 * references costs one token request and one GET per distinct secret, and
 * a reload after the TTL picks up rotated secrets. The mutex is held across
 * the network calls: concurrent resolutions are serialised, which makes the
 * token fetch single-flight. Everything cached is wiped (OPENSSL_cleanse) when
 * dropped, by pex__keyvault_cache_clear() and when the library is unloaded.
 *
 * Hygiene. The token, IDENTITY_HEADER and secret values never appear in a
 * message; a service error text that happens to quote one is withheld.
 * Reply bodies, request headers and cached values are wiped before they
 * are freed. (Copies inside libcurl's and json-c's own buffers are beyond
 * our reach; this is best effort, like any user-space wiping.)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "http/http_internal.h"
#include "pexipsdk/version.h"
#include "secrets/keyvault.h"

/* ---- constants ---- */

#define KV_API_VERSION          "7.4"
#define KV_APPSERVICE_VERSION   "2019-08-01"
#define KV_IMDS_VERSION         "2018-02-01"
#define KV_IMDS_URL             "http://169.254.169.254/metadata/identity/oauth2/token"

#define KV_TIMEOUT_MS           10000L      /* connecting: 5 s at most (lib/http) */
#define KV_ATTEMPTS             3           /* one try and two retries */
#define KV_BACKOFF_BASE_MS      250
#define KV_BACKOFF_CAP_MS       2000
#define KV_BODY_MAX             (256 * 1024) /* a secret is at most 25 kB */
#define KV_TOKEN_MAX            (16 * 1024)
#define KV_TOKEN_MARGIN_S       300         /* refresh 5 minutes before expiry */
#define KV_TEXT_MAX             300         /* service text quoted in messages */

/* ---- the process-wide cache ---- */

typedef struct kv_entry {
	struct kv_entry *next;
	char *url;              /* canonical secret URL */
	char *value;            /* wiped on free */
	int64_t fetched_ms;     /* pex__now_ms() */
} kv_entry;

static struct {
	pthread_mutex_t lock;
	pex__token_cache tok;   /* keyed by its request URL; wiped when dropped */
	kv_entry *secrets;
	int64_t ttl_s;
	pex__http *http;        /* made on first use, freed by pex__keyvault_cache_clear() */
} g_kv = { PTHREAD_MUTEX_INITIALIZER, PEX__TOKEN_CACHE_INIT, NULL, PEX__KV_SECRET_TTL_S, NULL };

static void wipe_free(char *s)
{
	if (!s)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}

static void entry_free(kv_entry *e)
{
	free(e->url);
	wipe_free(e->value);
	free(e);
}

static void clear_locked(void)
{
	kv_entry *e, *next;

	pex__token_cache_drop(&g_kv.tok);
	for (e = g_kv.secrets; e; e = next) {
		next = e->next;
		entry_free(e);
	}
	g_kv.secrets = NULL;
}

void pex__keyvault_cache_clear(void)
{
	pthread_mutex_lock(&g_kv.lock);
	clear_locked();
	pex__http_free(g_kv.http);
	g_kv.http = NULL;
	pthread_mutex_unlock(&g_kv.lock);
}

void pex__keyvault_set_secret_ttl(int64_t seconds)
{
	pthread_mutex_lock(&g_kv.lock);
	g_kv.ttl_s = seconds < 0 ? 0 : seconds;
	pthread_mutex_unlock(&g_kv.lock);
}

/*
 * At exit or dlclose. If another thread is in the middle of a fetch, leave
 * the cache alone rather than wait for the network: the process is going.
 * The transport stays: OpenSSL and libcurl may be cleaned up already (their
 * exit handlers run before this), and closing a TLS connection then is not
 * safe.
 */
__attribute__((destructor)) static void kv_fini(void)
{
	if (pthread_mutex_trylock(&g_kv.lock) != 0)
		return;
	clear_locked();
	pthread_mutex_unlock(&g_kv.lock);
}

/* ---- messages ---- */

/* Copy @p src into @p dst, control characters as spaces, shortened. */
static void clean_text(char *dst, size_t dstsz, const char *src)
{
	size_t i, o = 0;

	for (i = 0; src[i] && o + 1 < dstsz && o < KV_TEXT_MAX; i++)
		dst[o++] = (unsigned char)src[i] < 0x20 || src[i] == 0x7f ? ' ' : src[i];
	if (src[i] && o >= 3 && o + 1 < dstsz) {
		dst[o - 3] = dst[o - 2] = dst[o - 1] = '.';
	}
	dst[o] = '\0';
}

/*
 * The service's own explanation from an error body, as "CODE: MESSAGE":
 * Key Vault's {"error":{"code","message"}}, IMDS's {"error","error_description"}
 * and App Service's {"message"}. Empty when there is none. A text that
 * quotes one of @p creds (NULL-terminated) is withheld.
 */
static void service_text(char *dst, size_t dstsz, const pex_buf *body,
	const char *const *creds)
{
	json_object *root, *err, *v;
	const char *code = NULL, *msg = NULL;
	char raw[1024];
	size_t i;

	dst[0] = '\0';
	if (!body->ptr || !(root = json_tokener_parse(body->ptr)))
		return;
	if (json_object_object_get_ex(root, "error", &err)) {
		if (json_object_is_type(err, json_type_object)) {
			if (json_object_object_get_ex(err, "code", &v) &&
			    json_object_is_type(v, json_type_string))
				code = json_object_get_string(v);
			if (json_object_object_get_ex(err, "message", &v) &&
			    json_object_is_type(v, json_type_string))
				msg = json_object_get_string(v);
		} else if (json_object_is_type(err, json_type_string)) {
			code = json_object_get_string(err);
		}
	}
	if (!msg && json_object_object_get_ex(root, "error_description", &v) &&
	    json_object_is_type(v, json_type_string))
		msg = json_object_get_string(v);
	if (!msg && json_object_object_get_ex(root, "message", &v) &&
	    json_object_is_type(v, json_type_string))
		msg = json_object_get_string(v);
	snprintf(raw, sizeof(raw), "%s%s%s", code ? code : "", code && msg ? ": " : "",
		msg ? msg : "");
	json_object_put(root);

	for (i = 0; creds && creds[i]; i++) {
		if (*creds[i] && strstr(raw, creds[i])) {
			snprintf(dst, dstsz, "(the reply quoted a credential; not shown)");
			OPENSSL_cleanse(raw, sizeof(raw));
			return;
		}
	}
	clean_text(dst, dstsz, raw);
	OPENSSL_cleanse(raw, sizeof(raw));
}

/* ---- HTTP: one GET with retries ---- */

typedef struct kv_request {
	const char *url;            /* with the query */
	const char *shown;          /* for messages: no query */
	const char *what;           /* "managed identity (IMDS)", "Key Vault" */
	const char *const *headers;
	const char *ca_file;        /* vault: extra CA bundle, or NULL */
	int vault;                  /* https only, proxies allowed */
	int imds;                   /* also retry 404 and 410 (IMDS warming up) */
} kv_request;

/* 429 and 5xx; for IMDS also 404 and 410 (the identity is warming up). */
static int status_retryable(void *arg, const pex__http_response *resp)
{
	const kv_request *rq = arg;
	long status = resp->status;
	if (status == 429 || (status >= 500 && status <= 599))
		return 1;
	return rq->imds && (status == 404 || status == 410);
}

static int transport_error(const kv_request *rq, const pex__http_response *resp, int code)
{
	const char *hint = "", *detail = resp->curl_error;

	if (code != PEX_ENET && code != PEX_ETIMEOUT && code != PEX_ETLS)
		return code;            /* a local failure, details set */
	if (resp->too_big)
		return pex__error_set_http(PEX_EHTTP, 0, resp->curl_code,
			"%s: the reply from %s is larger than %d bytes", rq->what, rq->shown,
			KV_BODY_MAX);
	if (code == PEX_ETLS && rq->vault)
		hint = " (to trust a private CA, set PEXIPSDK_KEYVAULT_CA_FILE)";
	return pex__error_set_http(code, 0, resp->curl_code, "%s: %s %s: %s%s%s%s", rq->what,
		code == PEX_ETLS ? "TLS verification failed for" : "cannot reach", rq->shown,
		pex__curl_strerror(resp->curl_code), *detail ? ": " : "", detail, hint);
}

/*
 * GET @p rq->url through the library's transport (made on first use; called
 * with g_kv.lock held), retrying 429, 5xx (and for IMDS 404/410) and network
 * failures with jittered backoff that honours Retry-After. Returns 0 with
 * @p resp holding the final status and body (any status; the body is
 * treated as a secret), or a transport error with details set.
 */
static int http_get(const kv_request *rq, pex__http_response *resp)
{
	pex__http_req req = { "GET", rq->url, rq->headers, NULL, 0, rq->vault, !rq->vault, rq->ca_file };
	pex__http_policy pol;
	int err;

	if (!g_kv.http) {
		pex__http_config hc;
		memset(&hc, 0, sizeof(hc));
		hc.tls_verify = 1;
		hc.timeout_ms = KV_TIMEOUT_MS;
		hc.max_concurrency = 1;     /* callers are serialised by g_kv.lock */
		hc.user_agent = "libpexipsdk/" PEX_VERSION " keyvault";
		hc.ca_key = "";
		hc.timeout_key = "the Key Vault timeout (ms)";
		hc.max_body = KV_BODY_MAX;
		if ((err = pex__http_new(&g_kv.http, &hc)) < 0)
			return err;
	}
	memset(&pol, 0, sizeof(pol));
	pol.idempotent = 1;
	pol.retries = KV_ATTEMPTS - 1;
	pol.base_ms = KV_BACKOFF_BASE_MS;
	pol.cap_ms = KV_BACKOFF_CAP_MS;
	pol.retry_after = 1;
	pol.retry_status = status_retryable;
	pol.arg = (void *)rq;
	resp->secret = 1;
	if ((err = pex__http_call(g_kv.http, &req, &pol, resp)) < 0)
		return transport_error(rq, resp, err);
	return 0;
}

/* ---- JSON helpers ---- */

/* A non-negative integer given as a JSON number or a string of digits. */
static int json_int(int64_t *out, json_object *o)
{
	const char *s;
	size_t i;

	if (json_object_is_type(o, json_type_int)) {
		*out = json_object_get_int64(o);
		return *out >= 0 ? 0 : -1;
	}
	if (json_object_is_type(o, json_type_double)) {
		double d = json_object_get_double(o);

		if (d < 0 || d > 9.0e15)
			return -1;
		*out = (int64_t)d;
		return 0;
	}
	if (!json_object_is_type(o, json_type_string))
		return -1;
	s = json_object_get_string(o);
	for (i = 0; s[i]; i++)
		if (s[i] < '0' || s[i] > '9' || i >= 15)
			return -1;
	if (i == 0)
		return -1;
	*out = strtoll(s, NULL, 10);
	return 0;
}

/* Overwrite a json-c string in place before the object is freed. */
static void json_wipe_string(json_object *o)
{
	if (o && json_object_is_type(o, json_type_string))
		OPENSSL_cleanse((char *)json_object_get_string(o), (size_t)json_object_get_string_len(o));
}

/* ---- Managed Identity token ---- */

typedef struct kv_identity {
	const char *kind;           /* "App Service", "IMDS" */
	pex_buf url;                /* the token request URL (also the cache key) */
	char shown[512];            /* url without the query */
	pex_buf line;               /* the identity header line (may be a secret) */
	const char *headers[3];     /* line, Accept, NULL */
	const char *cred;           /* IDENTITY_HEADER (never shown), or NULL */
	int imds;
} kv_identity;

static void identity_dispose(kv_identity *id)
{
	pex_buf_dispose(&id->url);
	if (id->line.ptr)
		OPENSSL_cleanse(id->line.ptr, id->line.size);
	pex_buf_dispose(&id->line);
	id->headers[0] = NULL;
}

static int url_ok(const char *u)
{
	return strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0;
}

/* Choose the identity flavour from the environment and build its request. */
static int identity_setup(kv_identity *id, const char *resource)
{
	const char *endpoint = getenv("IDENTITY_ENDPOINT");
	const char *header = getenv("IDENTITY_HEADER");
	const char *client_id = getenv("AZURE_CLIENT_ID");
	const char *base;
	int err = 0;

	memset(id, 0, sizeof(*id));
	if (client_id && !*client_id)
		client_id = NULL;

	if (endpoint && *endpoint && header && *header) {
		id->kind = "App Service";
		if (!url_ok(endpoint))
			return pex_error_set(PEX_ECONFIG, PEX_ERROR_CLASS_CONFIG,
				"managed identity (App Service): IDENTITY_ENDPOINT is not an http(s) URL");
		if (strpbrk(header, "\r\n"))
			return pex_error_set(PEX_ECONFIG, PEX_ERROR_CLASS_CONFIG,
				"managed identity (App Service): IDENTITY_HEADER contains a line break");
		base = endpoint;
		err = pex__buf_printf(&id->url, "%s%cresource=", base, strchr(base, '?') ? '&' : '?');
		if (!err)
			err = pex__url_encode(&id->url, resource, strlen(resource));
		if (!err)
			err = pex__buf_puts(&id->url, "&api-version=" KV_APPSERVICE_VERSION);
		if (!err)
			err = pex__buf_printf(&id->line, "X-IDENTITY-HEADER: %s", header);
		id->cred = header;
	} else if (endpoint && *endpoint && getenv("IMDS_ENDPOINT")) {
		return pex_error_set(PEX_ENOTSUPPORTED, PEX_ERROR_CLASS_AUTH,
			"managed identity: Azure Arc (IDENTITY_ENDPOINT with IMDS_ENDPOINT) "
			"is not supported");
	} else {
		id->kind = "IMDS";
		id->imds = 1;
		base = getenv("PEXIPSDK_IMDS_ENDPOINT");
		if (!base || !*base)
			base = KV_IMDS_URL;
		else if (!url_ok(base))
			return pex_error_set(PEX_ECONFIG, PEX_ERROR_CLASS_CONFIG,
				"managed identity (IMDS): PEXIPSDK_IMDS_ENDPOINT is not an http(s) URL");
		err = pex__buf_printf(&id->url, "%s%capi-version=" KV_IMDS_VERSION "&resource=",
			base, strchr(base, '?') ? '&' : '?');
		if (!err)
			err = pex__url_encode(&id->url, resource, strlen(resource));
		if (!err)
			err = pex__buf_puts(&id->line, "Metadata: true");
	}
	if (!err && client_id) {
		err = pex__buf_puts(&id->url, "&client_id=");
		if (!err)
			err = pex__url_encode(&id->url, client_id, strlen(client_id));
	}
	id->headers[0] = id->line.ptr;
	id->headers[1] = "Accept: application/json";
	id->headers[2] = NULL;
	if (err < 0) {
		identity_dispose(id);
		return err;
	}
	snprintf(id->shown, sizeof(id->shown), "%.*s", (int)strcspn(base, "?#"), base);
	return 0;
}

/* Check that a token can go into a header as it is. */
static int token_chars_ok(const char *t, size_t len)
{
	size_t i;

	if (len == 0 || len > KV_TOKEN_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
			return 0;
	return 1;
}

static int token_malformed(const kv_identity *id, const char *why)
{
	return pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_JSON,
		"managed identity (%s): malformed token reply from %s: %s", id->kind, id->shown, why);
}

/* Parse a 200 token reply: access_token, expires_on or now + expires_in. */
static int parse_token(char **token, int64_t *expires, const kv_identity *id,
	const pex_buf *body)
{
	json_object *root, *v, *at = NULL;
	int64_t n;
	int err = 0;

	*token = NULL;
	root = body->ptr ? json_tokener_parse(body->ptr) : NULL;
	if (!root || !json_object_is_type(root, json_type_object)) {
		json_object_put(root);      /* NULL-safe */
		return token_malformed(id, "not a JSON object");
	}
	if (!json_object_object_get_ex(root, "access_token", &at) ||
	    !json_object_is_type(at, json_type_string)) {
		err = token_malformed(id, "no access_token string");
		goto done;
	}
	if (!token_chars_ok(json_object_get_string(at), (size_t)json_object_get_string_len(at))) {
		err = token_malformed(id, "the access_token is empty, too long or has invalid characters");
		goto done;
	}
	if (json_object_object_get_ex(root, "token_type", &v) &&
	    (!json_object_is_type(v, json_type_string) ||
	     strcasecmp(json_object_get_string(v), "Bearer") != 0)) {
		err = token_malformed(id, "token_type is not Bearer");
		goto done;
	}
	/* expires_on: epoch seconds (string or number); the 2017 App Service
	 * form's date string is not accepted, expires_in is the fallback. */
	if (json_object_object_get_ex(root, "expires_on", &v) && json_int(&n, v) == 0) {
		*expires = n;
	} else if (json_object_object_get_ex(root, "expires_in", &v) && json_int(&n, v) == 0) {
		*expires = pex__unix_time() + n;
	} else {
		err = token_malformed(id, "no usable expires_on or expires_in");
		goto done;
	}
	if (!(*token = pex__strdup(json_object_get_string(at))))
		err = PEX_ENOMEM;

done:
	json_wipe_string(at);
	json_object_put(root);
	return err;
}

/* HTTP error from the identity endpoint. */
static int token_http_error(const kv_identity *id, const pex__http_response *resp)
{
	const char *creds[] = { id->cred, NULL };
	char text[KV_TEXT_MAX + 8];
	long st = resp->status;
	int code = (st == 400 || st == 401 || st == 403 || st == 404) ? PEX_EAUTH : PEX_EHTTP;

	service_text(text, sizeof(text), &resp->body, creds);
	return pex__error_set_http(code, (int)st, 0,
		"managed identity (%s): token request to %s failed: HTTP %ld %s%s%s", id->kind,
		id->shown, st, pex__http_reason(st), *text ? ": " : "", text);
}

/* The token cache's fetch for identity @p arg: reused until 5 minutes
 * before it expires. */
static int token_fetch(void *arg, char **token, int64_t *refresh_at)
{
	const kv_identity *id = arg;
	kv_request rq;
	pex__http_response resp;
	char what[64];
	int64_t expires = 0;
	int err;

	snprintf(what, sizeof(what), "managed identity (%s)", id->kind);
	memset(&rq, 0, sizeof(rq));
	memset(&resp, 0, sizeof(resp));
	rq.url = id->url.ptr;
	rq.shown = id->shown;
	rq.what = what;
	rq.headers = id->headers;
	rq.imds = id->imds;
	if ((err = http_get(&rq, &resp)) < 0)
		goto done;
	if (resp.status != 200) {
		err = token_http_error(id, &resp);
		goto done;
	}
	if ((err = parse_token(token, &expires, id, &resp.body)) < 0)
		goto done;
	*refresh_at = pex__now_ms() + (expires - KV_TOKEN_MARGIN_S - pex__unix_time()) * 1000;
done:
	pex__http_response_dispose(&resp);
	return err;
}

/*
 * A token for @p resource (a copy to wipe and free), from the cache or
 * fetched (@p fresh says which). Keyed by its request URL, i.e. endpoint,
 * resource and client id. Called with g_kv.lock held.
 */
static int get_token_locked(char **out, unsigned *gen, int *fresh, const char *resource)
{
	kv_identity id;
	int err;

	if ((err = identity_setup(&id, resource)) < 0)
		return err;
	err = pex__token_get(&g_kv.tok, id.url.ptr, token_fetch, &id, out, gen, fresh);
	identity_dispose(&id);
	return err;
}

/* ---- Get Secret ---- */

static int vault_http_error(const pex__keyvault_ref *ref, const pex__http_response *resp,
	const char *token)
{
	const char *creds[] = { token, NULL };
	char text[KV_TEXT_MAX + 8], what[PEX__KV_NAME_MAX + 64];
	long st = resp->status;

	if (*ref->version)
		snprintf(what, sizeof(what), "%s (version %s)", ref->name, ref->version);
	else
		snprintf(what, sizeof(what), "%s", ref->name);
	if (st == 404)
		return pex__error_set_http(PEX_ENOTFOUND, 404, 0,
			"secret %s not found in vault %s", what, ref->vault);
	service_text(text, sizeof(text), &resp->body, creds);
	if (st == 401 || st == 403)
		return pex__error_set_http(PEX_EAUTH, (int)st, 0,
			"access to secret %s in vault %s denied: HTTP %ld %s%s%s", what, ref->vault,
			st, pex__http_reason(st), *text ? ": " : "", text);
	return pex__error_set_http(PEX_EHTTP, (int)st, 0,
		"getting secret %s from vault %s failed: HTTP %ld %s%s%s", what, ref->vault,
		st, pex__http_reason(st), *text ? ": " : "", text);
}

/* Parse a 200 Get Secret reply into a new string. */
static int parse_secret(char **out, const pex__keyvault_ref *ref, const pex_buf *body)
{
	json_object *root = NULL, *v = NULL;
	const char *why = NULL;
	int err = 0;

	if (!body->ptr || !(root = json_tokener_parse(body->ptr)) ||
	    !json_object_is_type(root, json_type_object))
		why = "not a JSON object";
	else if (!json_object_object_get_ex(root, "value", &v) ||
		 !json_object_is_type(v, json_type_string))
		why = "no value string";
	else if (strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
		why = "the value contains a NUL character";
	else if (!(*out = pex__strdup(json_object_get_string(v))))
		err = PEX_ENOMEM;
	if (why)
		err = pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_JSON,
			"malformed reply for secret %s from vault %s: %s", ref->name, ref->vault, why);
	json_wipe_string(v);
	if (root)
		json_object_put(root);
	return err;
}

/* One Get Secret call with @p token. */
static int fetch_secret(char **out, long *status, const pex__keyvault_ref *ref,
	const char *token)
{
	const char *hl[3] = { NULL, "Accept: application/json", NULL };
	pex_buf url = PEX_BUF_INIT, auth = PEX_BUF_INIT;
	const char *ca = getenv("PEXIPSDK_KEYVAULT_CA_FILE");
	kv_request rq;
	pex__http_response resp;
	char shown[sizeof(ref->url) + 16];
	int err;

	*status = 0;
	memset(&rq, 0, sizeof(rq));
	memset(&resp, 0, sizeof(resp));
	snprintf(shown, sizeof(shown), "%s", ref->url);
	if ((err = pex__buf_printf(&url, "%s?api-version=" KV_API_VERSION, ref->url)) < 0 ||
	    (err = pex__buf_printf(&auth, "Authorization: Bearer %s", token)) < 0)
		goto done;
	hl[0] = auth.ptr;
	rq.url = url.ptr;
	rq.shown = shown;
	rq.what = "Key Vault";
	rq.headers = hl;
	rq.vault = 1;
	rq.ca_file = ca && *ca ? ca : NULL;
	if ((err = http_get(&rq, &resp)) < 0)
		goto done;
	*status = resp.status;
	if (resp.status != 200)
		err = vault_http_error(ref, &resp, token);
	else
		err = parse_secret(out, ref, &resp.body);

done:
	pex__http_response_dispose(&resp);
	if (auth.ptr)
		OPENSSL_cleanse(auth.ptr, auth.size);
	pex_buf_dispose(&auth);
	pex_buf_dispose(&url);
	return err;
}

/* A fresh cached value for @p url, or NULL (expired entries are dropped). */
static kv_entry *cache_find_locked(const char *url)
{
	kv_entry **pp = &g_kv.secrets, *e;
	int64_t now = pex__now_ms();

	while ((e = *pp)) {
		if (now - e->fetched_ms >= g_kv.ttl_s * 1000) {
			*pp = e->next;
			entry_free(e);
			continue;
		}
		if (strcmp(e->url, url) == 0)
			return e;
		pp = &e->next;
	}
	return NULL;
}

static void cache_put_locked(const char *url, const char *value)
{
	kv_entry *e;

	if (g_kv.ttl_s <= 0 || !(e = calloc(1, sizeof(*e))))
		return;
	e->url = strdup(url);
	e->value = strdup(value);
	if (!e->url || !e->value) {
		entry_free(e);
		return;     /* not caching is fine */
	}
	e->fetched_ms = pex__now_ms();
	e->next = g_kv.secrets;
	g_kv.secrets = e;
}

int pex__keyvault_get_secret(char **out, const pex__keyvault_ref *ref)
{
	char *token = NULL;
	kv_entry *e;
	char *value = NULL;
	long status = 0;
	unsigned gen = 0;
	int err, fresh = 0;

	*out = NULL;
	pthread_mutex_lock(&g_kv.lock);
	if ((e = cache_find_locked(ref->url))) {
		err = (*out = pex__strdup(e->value)) ? 0 : PEX_ENOMEM;
		goto done;
	}
	if ((err = get_token_locked(&token, &gen, &fresh, ref->resource)) < 0)
		goto done;
	err = fetch_secret(&value, &status, ref, token);
	/* A cached token the vault rejects (revoked, clock skew): drop it and
	 * try once more with a new one. */
	if (err < 0 && status == 401 && !fresh) {
		pex__token_invalidate(&g_kv.tok, gen);
		wipe_free(token);
		token = NULL;
		if ((err = get_token_locked(&token, &gen, &fresh, ref->resource)) < 0)
			goto done;
		err = fetch_secret(&value, &status, ref, token);
	}
	if (err < 0)
		goto done;
	cache_put_locked(ref->url, value);
	*out = value;
done:
	pthread_mutex_unlock(&g_kv.lock);
	wipe_free(token);
	return err;
}
