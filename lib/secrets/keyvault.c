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
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "http/http_internal.h"
#include "pexipsdk/version.h"
#include "secrets/keyvault.h"

/* ---- constants ---- */

#define KV_API_VERSION          "7.4"
#define KV_APPSERVICE_VERSION   "2019-08-01"
#define KV_IMDS_VERSION         "2018-02-01"
#define KV_IMDS_URL             "http://169.254.169.254/metadata/identity/oauth2/token"
#define KV_DEFAULT_RESOURCE     "https://vault.azure.net"

#define KV_CONNECT_TIMEOUT_MS   5000L
#define KV_TOTAL_TIMEOUT_MS     10000L
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
	char *token;            /* wiped on free */
	char *token_key;        /* the token request URL it came from */
	int64_t token_expires;  /* unix seconds */
	kv_entry *secrets;
	int64_t ttl_s;
} g_kv = { PTHREAD_MUTEX_INITIALIZER, NULL, NULL, 0, NULL, PEX__KV_SECRET_TTL_S };

static void wipe_free(char *s)
{
	if (!s)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}

static void drop_token_locked(void)
{
	wipe_free(g_kv.token);
	free(g_kv.token_key);
	g_kv.token = NULL;
	g_kv.token_key = NULL;
	g_kv.token_expires = 0;
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

	drop_token_locked();
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
 */
__attribute__((destructor)) static void kv_fini(void)
{
	if (pthread_mutex_trylock(&g_kv.lock) != 0)
		return;
	clear_locked();
	pthread_mutex_unlock(&g_kv.lock);
}

/* ---- a growable buffer that never leaves copies behind ---- */

typedef struct kv_buf {
	char *ptr;
	size_t size, cap;
	int too_big;
} kv_buf;

/* Append; grows by allocate-copy-wipe-free instead of realloc. */
static int kv_buf_put(kv_buf *b, const char *data, size_t n)
{
	if (n > KV_BODY_MAX - b->size) {
		b->too_big = 1;
		return -1;
	}
	if (b->size + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 2048;
		char *p;

		while (cap < b->size + n + 1)
			cap *= 2;
		if (!(p = malloc(cap)))
			return -1;
		if (b->ptr) {
			memcpy(p, b->ptr, b->size);
			OPENSSL_cleanse(b->ptr, b->cap);
			free(b->ptr);
		}
		b->ptr = p;
		b->cap = cap;
	}
	memcpy(b->ptr + b->size, data, n);
	b->size += n;
	b->ptr[b->size] = '\0';
	return 0;
}

static void kv_buf_wipe(kv_buf *b)
{
	if (b->ptr) {
		OPENSSL_cleanse(b->ptr, b->cap);
		free(b->ptr);
	}
	memset(b, 0, sizeof(*b));
}

/* Free a header list, wiping each line first (they hold credentials). */
static void slist_free_wipe(struct curl_slist *l)
{
	struct curl_slist *i;

	for (i = l; i; i = i->next)
		if (i->data)
			OPENSSL_cleanse(i->data, strlen(i->data));
	curl_slist_free_all(l);
}

/* ---- reference parsing (pure) ---- */

/* Token audiences of the sovereign clouds, by the vault's DNS suffix. */
static const struct {
	const char *suffix;
	const char *resource;
} kv_clouds[] = {
	{ ".vault.azure.cn", "https://vault.azure.cn" },
	{ ".vault.usgovcloudapi.net", "https://vault.usgovcloudapi.net" },
	{ ".vault.microsoftazure.de", "https://vault.microsoftazure.de" },
};

static int is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int is_hex(char c)
{
	return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9');
}

/* host: DNS labels (1..63 of [A-Za-z0-9-], no '-' at either end) or IPv4. */
static int host_ok(const char *h, size_t n)
{
	size_t i, label = 0;

	if (n == 0 || n > PEX__KV_HOST_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		char c = h[i];

		if (c == '.') {
			if (label == 0 || h[i - 1] == '-')
				return 0;
			label = 0;
		} else if (is_alnum(c) || c == '-') {
			if ((label == 0 && c == '-') || ++label > 63)
				return 0;
		} else {
			return 0;
		}
	}
	return label > 0 && h[n - 1] != '-';
}

const char *pex__keyvault_parse(pex__keyvault_ref *out, const char *url)
{
	const char *host, *p, *name, *ver = NULL;
	size_t hlen, nlen, vlen = 0, i;

	memset(out, 0, sizeof(*out));
	if (strncmp(url, "https://", 8) != 0)
		return "the vault URL must start with https://";
	host = url + 8;
	if (strpbrk(url, "?#@"))
		return "query strings, fragments and user names are not allowed";
	hlen = strcspn(host, ":/");
	if (!host_ok(host, hlen))
		return "the vault host name is missing or invalid";
	p = host + hlen;
	if (*p == ':') {
		unsigned long port = 0;

		for (i = 1; p[i] >= '0' && p[i] <= '9' && i <= 6; i++)
			port = port * 10 + (unsigned long)(p[i] - '0');
		if (i == 1 || i > 6 || port == 0 || port > 65535 || (p[i] != '/' && p[i] != '\0'))
			return "the vault port is invalid";
		p += i;
	}
	if (strncmp(p, "/secrets/", 9) != 0)
		return "the path must be /secrets/NAME or /secrets/NAME/VERSION";
	name = p + 9;
	nlen = strcspn(name, "/");
	if (name[nlen] == '/') {
		ver = name + nlen + 1;
		vlen = strlen(ver);
	}
	if (nlen == 0 && !ver && *name == '\0')
		return "the secret name is missing";
	if (nlen == 0 || nlen > PEX__KV_NAME_MAX)
		return "the secret name must be 1 to 127 letters, digits or '-'";
	for (i = 0; i < nlen; i++)
		if (!is_alnum(name[i]) && name[i] != '-')
			return "the secret name must be 1 to 127 letters, digits or '-'";
	if (ver) {
		if (vlen != PEX__KV_VERSION_LEN)
			return "the secret version must be 32 hexadecimal digits";
		for (i = 0; i < vlen; i++)
			if (!is_hex(ver[i]))
				return "the secret version must be 32 hexadecimal digits";
	}

	/* host[:port] in lower case (DNS is case-insensitive; one cache key) */
	for (i = 0; i < (size_t)(p - host); i++)
		out->vault[i] = (char)tolower((unsigned char)host[i]);
	out->vault[i] = '\0';
	memcpy(out->name, name, nlen);
	out->name[nlen] = '\0';
	if (ver)
		memcpy(out->version, ver, vlen + 1);
	snprintf(out->url, sizeof(out->url), "https://%s/secrets/%s%s%s", out->vault,
		out->name, ver ? "/" : "", out->version);

	out->resource = KV_DEFAULT_RESOURCE;
	for (i = 0; i < PEX__ARRAY_SIZE(kv_clouds); i++) {
		size_t sl = strlen(kv_clouds[i].suffix);

		if (hlen > sl && strncasecmp(host + hlen - sl, kv_clouds[i].suffix, sl) == 0)
			out->resource = kv_clouds[i].resource;
	}
	return NULL;
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
static void service_text(char *dst, size_t dstsz, const kv_buf *body,
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
	struct curl_slist *headers;
	const char *ca_file;        /* vault: extra CA bundle, or NULL */
	int vault;                  /* https only, proxies allowed */
	int imds;                   /* also retry 404 and 410 (IMDS warming up) */
} kv_request;

typedef struct kv_response {
	long status;
	kv_buf body;
	char retry_after[64];
} kv_response;

static size_t on_body(char *data, size_t size, size_t nmemb, void *p)
{
	kv_response *r = p;
	size_t n = size * nmemb;

	return kv_buf_put(&r->body, data, n) < 0 ? 0 : n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *p)
{
	kv_response *r = p;
	size_t n = size * nmemb, vl;
	const char *v;

	if (n > 5 && strncmp(data, "HTTP/", 5) == 0)
		r->retry_after[0] = '\0';
	if (n > 12 && strncasecmp(data, "Retry-After:", 12) == 0) {
		v = data + 12;
		vl = n - 12;
		while (vl && (*v == ' ' || *v == '\t')) {
			v++;
			vl--;
		}
		while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
			vl--;
		if (vl >= sizeof(r->retry_after))
			vl = sizeof(r->retry_after) - 1;
		memcpy(r->retry_after, v, vl);
		r->retry_after[vl] = '\0';
	}
	return n;
}

/* Trust PEXIPSDK_KEYVAULT_CA_FILE on top of the default CAs (OpenSSL backend). */
static CURLcode add_ca_file(CURL *c, void *ssl_ctx, void *p)
{
	X509_STORE *store = SSL_CTX_get_cert_store((SSL_CTX *)ssl_ctx);

	PEX__UNUSED(c);
	if (!store || X509_STORE_load_locations(store, (const char *)p, NULL) != 1) {
		ERR_clear_error();
		return CURLE_SSL_CACERT_BADFILE;
	}
	return CURLE_OK;
}

static int status_retryable(const kv_request *rq, long status)
{
	if (status == 429 || (status >= 500 && status <= 599))
		return 1;
	return rq->imds && (status == 404 || status == 410);
}

static int curl_retryable(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
		return 1;
	default:
		return 0;
	}
}

static int transport_error(const kv_request *rq, const kv_response *resp, CURLcode rc,
	const char *detail)
{
	int code = pex__curl_classify((int)rc, NULL);
	const char *hint = "";

	if (code == PEX_ETLS && rq->vault)
		hint = " (to trust a private CA, set PEXIPSDK_KEYVAULT_CA_FILE)";
	if (rc == CURLE_WRITE_ERROR && resp->body.too_big)
		return pex__error_set_http(PEX_EHTTP, 0, (int)rc,
			"%s: the reply from %s is larger than %d bytes", rq->what, rq->shown,
			KV_BODY_MAX);
	return pex__error_set_http(code, 0, (int)rc, "%s: %s %s: %s%s%s%s", rq->what,
		code == PEX_ETLS ? "TLS verification failed for" : "cannot reach", rq->shown,
		curl_easy_strerror(rc), detail && *detail ? ": " : "", detail ? detail : "", hint);
}

/*
 * GET @p rq->url, retrying 429, 5xx (and for IMDS 404/410) and connect
 * failures with jittered backoff that honours Retry-After. Returns 0 with
 * @p resp holding the final status and body (any status), or a transport
 * error with details set.
 */
static int http_get(const kv_request *rq, kv_response *resp)
{
	char errbuf[CURL_ERROR_SIZE];
	unsigned attempt;
	CURLcode rc = CURLE_OK;
	CURL *c;
	int err;

	if ((err = pex__global_ensure()) < 0)
		return err;
	if (!(c = curl_easy_init()))
		return pex__error_nomem();

	for (attempt = 0;; attempt++) {
		int64_t retry_after = -1;

		kv_buf_wipe(&resp->body);
		resp->status = 0;
		resp->retry_after[0] = '\0';
		errbuf[0] = '\0';

		curl_easy_reset(c);
		curl_easy_setopt(c, CURLOPT_URL, rq->url);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, rq->headers);
		curl_easy_setopt(c, CURLOPT_USERAGENT, "libpexipsdk/" PEX_VERSION " keyvault");
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, KV_CONNECT_TIMEOUT_MS);
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, KV_TOTAL_TIMEOUT_MS);
		curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
		curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
		curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
		curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, rq->vault ? "https" : "http,https");
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
		if (!rq->vault)
			curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
		if (rq->ca_file) {
			/* Add to the default CAs where libcurl uses OpenSSL; else
			 * the file becomes the CA bundle. */
			if (curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, add_ca_file) == CURLE_OK)
				curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, (void *)rq->ca_file);
			else
				curl_easy_setopt(c, CURLOPT_CAINFO, rq->ca_file);
		}

		rc = curl_easy_perform(c);
		if (rc == CURLE_OK) {
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
			if (!status_retryable(rq, resp->status) || attempt + 1 >= KV_ATTEMPTS)
				break;
			retry_after = pex__parse_retry_after(resp->retry_after, pex__unix_time());
		} else if (!curl_retryable(rc) || attempt + 1 >= KV_ATTEMPTS) {
			break;
		}
		pex__sleep_ms(pex__backoff_ms(attempt, KV_BACKOFF_BASE_MS, KV_BACKOFF_CAP_MS,
			retry_after, pex__random_u64()));
	}

	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK)
		return transport_error(rq, resp, rc, errbuf);
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
	struct curl_slist *headers;
	const char *cred;           /* IDENTITY_HEADER (never shown), or NULL */
	int imds;
} kv_identity;

static void identity_dispose(kv_identity *id)
{
	pex_buf_dispose(&id->url);
	slist_free_wipe(id->headers);
	id->headers = NULL;
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
	pex_buf line = PEX_BUF_INIT;
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
			err = pex__buf_printf(&line, "X-IDENTITY-HEADER: %s", header);
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
			err = pex__buf_puts(&line, "Metadata: true");
	}
	if (!err && client_id) {
		err = pex__buf_puts(&id->url, "&client_id=");
		if (!err)
			err = pex__url_encode(&id->url, client_id, strlen(client_id));
	}
	if (!err) {
		/* curl_slist_append() leaves the list alone when it fails */
		struct curl_slist *l = curl_slist_append(NULL, line.ptr);

		if (l && !curl_slist_append(l, "Accept: application/json")) {
			slist_free_wipe(l);
			l = NULL;
		}
		if (!(id->headers = l))
			err = pex__error_nomem();
	}
	if (line.ptr)
		OPENSSL_cleanse(line.ptr, line.size);
	pex_buf_dispose(&line);
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
	const kv_buf *body)
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
static int token_http_error(const kv_identity *id, const kv_response *resp)
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

/*
 * A token for @p resource: the cached one while it has more than 5 minutes
 * left, else a new one. Called with g_kv.lock held; the result is borrowed
 * from the cache (valid while the lock is held). @p fresh tells whether it
 * was just fetched.
 */
static int get_token_locked(const char **out, int *fresh, const char *resource)
{
	kv_identity id;
	kv_request rq;
	kv_response resp;
	char what[64];
	char *token = NULL;
	int64_t expires = 0;
	int err;

	if ((err = identity_setup(&id, resource)) < 0)
		return err;
	if (g_kv.token && g_kv.token_key && strcmp(g_kv.token_key, id.url.ptr) == 0 &&
	    pex__unix_time() < g_kv.token_expires - KV_TOKEN_MARGIN_S) {
		identity_dispose(&id);
		*out = g_kv.token;
		*fresh = 0;
		return 0;
	}

	snprintf(what, sizeof(what), "managed identity (%s)", id.kind);
	memset(&rq, 0, sizeof(rq));
	memset(&resp, 0, sizeof(resp));
	rq.url = id.url.ptr;
	rq.shown = id.shown;
	rq.what = what;
	rq.headers = id.headers;
	rq.imds = id.imds;

	if ((err = http_get(&rq, &resp)) < 0)
		goto done;
	if (resp.status != 200) {
		err = token_http_error(&id, &resp);
		goto done;
	}
	if ((err = parse_token(&token, &expires, &id, &resp.body)) < 0)
		goto done;

	drop_token_locked();
	g_kv.token = token;
	g_kv.token_expires = expires;
	if (!(g_kv.token_key = pex__buf_detach(&id.url)))
		g_kv.token_expires = 0;     /* never matches: refetched next time */
	*out = g_kv.token;
	*fresh = 1;
done:
	kv_buf_wipe(&resp.body);
	identity_dispose(&id);
	return err;
}

/* ---- Get Secret ---- */

static int vault_http_error(const pex__keyvault_ref *ref, const kv_response *resp,
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
static int parse_secret(char **out, const pex__keyvault_ref *ref, const kv_buf *body)
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
	struct curl_slist *hl = NULL;
	pex_buf url = PEX_BUF_INIT, auth = PEX_BUF_INIT;
	const char *ca = getenv("PEXIPSDK_KEYVAULT_CA_FILE");
	kv_request rq;
	kv_response resp;
	char shown[sizeof(ref->url) + 16];
	int err;

	*status = 0;
	memset(&rq, 0, sizeof(rq));
	memset(&resp, 0, sizeof(resp));
	snprintf(shown, sizeof(shown), "%s", ref->url);
	if ((err = pex__buf_printf(&url, "%s?api-version=" KV_API_VERSION, ref->url)) < 0 ||
	    (err = pex__buf_printf(&auth, "Authorization: Bearer %s", token)) < 0)
		goto done;
	/* curl_slist_append() leaves the list alone when it fails */
	if (!(hl = curl_slist_append(NULL, auth.ptr)) ||
	    !curl_slist_append(hl, "Accept: application/json")) {
		err = pex__error_nomem();
		goto done;
	}

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
	kv_buf_wipe(&resp.body);
	slist_free_wipe(hl);
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
	const char *token;
	kv_entry *e;
	char *value = NULL;
	long status = 0;
	int err, fresh = 0;

	*out = NULL;
	pthread_mutex_lock(&g_kv.lock);
	if ((e = cache_find_locked(ref->url))) {
		err = (*out = pex__strdup(e->value)) ? 0 : PEX_ENOMEM;
		goto done;
	}
	if ((err = get_token_locked(&token, &fresh, ref->resource)) < 0)
		goto done;
	err = fetch_secret(&value, &status, ref, token);
	/* A cached token the vault rejects (revoked, clock skew): drop it and
	 * try once more with a new one. */
	if (err < 0 && status == 401 && !fresh) {
		drop_token_locked();
		if ((err = get_token_locked(&token, &fresh, ref->resource)) < 0)
			goto done;
		err = fetch_secret(&value, &status, ref, token);
	}
	if (err < 0)
		goto done;
	cache_put_locked(ref->url, value);
	*out = value;
done:
	pthread_mutex_unlock(&g_kv.lock);
	return err;
}
