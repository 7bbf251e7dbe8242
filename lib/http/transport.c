/* HTTP transport on libcurl: a pool of easy handles (one per allowed
 * in-flight request, made on first use, so connections are reused and never
 * exceed the cap), a share handle for DNS and TLS sessions, timeouts and TLS
 * verification. The only place the library makes curl handles. */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "http/http_internal.h"

#define MAX_BODY (64u * 1024u * 1024u)
/* fg_last_s before any foreground request: long ago */
#define FG_NEVER (LLONG_MIN / 2)

struct pex__http {
	pthread_mutex_t lock;
	pthread_cond_t cond;      /* foreground waiters */
	pthread_cond_t bg_cond;   /* background waiters */
	CURL **handles;           /* free slots: handles[0..nfree), NULL until first used */
	size_t nfree, nhandles;   /* nhandles: max_concurrency */
	size_t fg_active, fg_waiting, bg_waiting;
	/* monotonic second a foreground request last started or ended;
	 * FG_NEVER before the first */
	long long fg_last_s;
	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
	int tls_verify;
	char *ca_file;
	long timeout_ms;
	char *user_agent;
	const char *ca_key, *timeout_key;     /* static strings */
	size_t max_body;
};

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *p)
{
	pex__http *http = p;
	PEX__UNUSED(h);
	PEX__UNUSED(access);
	pthread_mutex_lock(&http->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *p)
{
	pex__http *http = p;
	PEX__UNUSED(h);
	pthread_mutex_unlock(&http->share_locks[data]);
}

int pex__http_new(pex__http **out, const pex__http_config *cfg)
{
	pex__http *h;
	size_t i;
	int err;

	*out = NULL;
	if ((err = pex__global_ensure()) < 0)
		return err;
	if (cfg->max_concurrency < 1 || cfg->max_concurrency > 64)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"max_concurrency must be from 1 to 64 (got %u)", cfg->max_concurrency);
	h = pex__calloc(1, sizeof(*h));
	if (!h)
		return PEX_ENOMEM;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	pthread_cond_init(&h->bg_cond, NULL);
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&h->share_locks[i], NULL);
	h->tls_verify = cfg->tls_verify;
	h->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 10000;
	h->ca_file = pex__strdup(cfg->ca_file);
	h->user_agent = pex__strdup(cfg->user_agent ? cfg->user_agent : "libpexipsdk");
	h->ca_key = cfg->ca_key ? cfg->ca_key : "pexip.tls.ca_file";
	h->timeout_key = cfg->timeout_key ? cfg->timeout_key : "pexip.timeout_ms";
	h->max_body = cfg->max_body && cfg->max_body < MAX_BODY ? cfg->max_body : MAX_BODY;
	h->handles = pex__calloc(cfg->max_concurrency, sizeof(CURL *));
	h->share = curl_share_init();
	if (!h->user_agent || !h->handles || !h->share || (cfg->ca_file && !h->ca_file))
		goto nomem;
	curl_share_setopt(h->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(h->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(h->share, CURLSHOPT_USERDATA, h);
	curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	h->nhandles = cfg->max_concurrency;
	h->nfree = h->nhandles;
	h->fg_last_s = FG_NEVER;
	*out = h;
	return 0;
nomem:
	pex__http_free(h);
	return pex__error_nomem();
}

void pex__http_free(pex__http *h)
{
	size_t i;
	if (!h)
		return;
	for (i = 0; h->handles && i < h->nhandles; i++)
		if (h->handles[i])
			curl_easy_cleanup(h->handles[i]);
	if (h->share)
		curl_share_cleanup(h->share);
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&h->share_locks[i]);
	pthread_cond_destroy(&h->cond);
	pthread_cond_destroy(&h->bg_cond);
	pthread_mutex_destroy(&h->lock);
	free(h->handles);
	free(h->ca_file);
	free(h->user_agent);
	free(h);
}

/* Seconds on the monotonic clock. */
static long long mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec;
}

/* Was a foreground request in flight during the current or the previous
 * second? (Lock held.) */
static int fg_recent(const pex__http *h, long long now)
{
	return h->fg_active > 0 || now - h->fg_last_s <= 1;
}

/*
 * May a background request start? Not while a foreground one waits, and
 * never on the last free handle while foreground requests are in flight
 * or were a moment ago (DECISIONS #15): a hand-out that arrives always
 * finds a handle, while bulk work uses every other one the hand-outs leave.
 * Background work alone (two quiet seconds) uses every handle.
 */
static int bg_may_start(pex__http *h)
{
	if (h->nfree == 0 || h->fg_waiting > 0)
		return 0;
	if (h->nhandles <= 1)
		return 1;
	return h->nfree > 1 || !fg_recent(h, mono_s());
}

/*
 * Take a handle (a slot of max_concurrency). Foreground requests wait only
 * for a free handle. Background requests (bulk work: replenish, GC) yield
 * to them (bg_may_start), so an interactive hand-out does not queue behind
 * bulk work.
 */
static CURL *acquire(pex__http *h, int bg)
{
	CURL *c;
	pthread_mutex_lock(&h->lock);
	if (bg) {
		h->bg_waiting++;
		while (!bg_may_start(h))
			pthread_cond_wait(&h->bg_cond, &h->lock);
		h->bg_waiting--;
	} else {
		h->fg_waiting++;
		while (h->nfree == 0)
			pthread_cond_wait(&h->cond, &h->lock);
		h->fg_waiting--;
		h->fg_active++;
		h->fg_last_s = mono_s();
	}
	c = h->handles[--h->nfree];
	pthread_mutex_unlock(&h->lock);
	return c ? c : curl_easy_init();     /* NULL: release() gives the slot back */
}

size_t pex__http_waiting(pex__http *h, pex__http_class cls)
{
	size_t n;
	pthread_mutex_lock(&h->lock);
	n = cls == PEX__HTTP_BACKGROUND ? h->bg_waiting : h->fg_waiting;
	pthread_mutex_unlock(&h->lock);
	return n;
}

static void release(pex__http *h, CURL *c, int bg)
{
	pthread_mutex_lock(&h->lock);
	h->handles[h->nfree++] = c;
	if (!bg) {
		h->fg_active--;
		h->fg_last_s = mono_s();
	}
	if (h->fg_waiting > 0)
		pthread_cond_signal(&h->cond);
	else
		pthread_cond_broadcast(&h->bg_cond);  /* few waiters; each rechecks */
	pthread_mutex_unlock(&h->lock);
}

/* Append to a body that holds a secret: grow by allocate-copy-wipe-free,
 * never realloc, so no copy is left in freed memory. */
static int secret_put(pex_buf *b, const char *data, size_t n)
{
	if (b->size + n + 1 > b->asize) {
		size_t cap = b->asize ? b->asize : 2048;
		char *p;
		while (cap < b->size + n + 1)
			cap *= 2;
		if (!(p = malloc(cap)))
			return -1;
		if (b->ptr) {
			memcpy(p, b->ptr, b->size);
			OPENSSL_cleanse(b->ptr, b->asize);
			free(b->ptr);
		}
		b->ptr = p;
		b->asize = cap;
	}
	memcpy(b->ptr + b->size, data, n);
	b->size += n;
	b->ptr[b->size] = '\0';
	return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *p)
{
	pex__http_response *r = p;
	size_t n = size * nmemb;
	if (r->body.size + n > r->max_body) {
		r->too_big = 1;
		return 0;    /* aborts the transfer: CURLE_WRITE_ERROR */
	}
	if ((r->secret ? secret_put(&r->body, data, n) : pex__buf_put(&r->body, data, n)) < 0)
		return 0;
	return n;
}

/* Copy a header's value (trimmed) if its name matches. */
static void take_header(const char *line, size_t len, const char *name, char *dst, size_t dstsz)
{
	size_t nl = strlen(name), vl;
	const char *v;
	if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return;
	v = line + nl + 1;
	vl = len - nl - 1;
	while (vl && (*v == ' ' || *v == '\t')) {
		v++;
		vl--;
	}
	while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
		vl--;
	if (vl >= dstsz)
		vl = dstsz - 1;
	memcpy(dst, v, vl);
	dst[vl] = '\0';
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *p)
{
	pex__http_response *r = p;
	size_t n = size * nmemb, i;
	/* A new status line (after a 100 Continue or redirect) resets what we saw. */
	if (n > 5 && strncmp(data, "HTTP/", 5) == 0) {
		r->location[0] = '\0';
		r->retry_after[0] = '\0';
		r->cache_control[0] = '\0';
		memset(r->wanted, 0, sizeof(r->wanted));
	}
	for (i = 0; r->want && r->want[i] && i < PEX__HTTP_WANT_MAX; i++)
		take_header(data, n, r->want[i], r->wanted[i], sizeof(r->wanted[i]));
	take_header(data, n, "Location", r->location, sizeof(r->location));
	take_header(data, n, "Retry-After", r->retry_after, sizeof(r->retry_after));
	take_header(data, n, "Cache-Control", r->cache_control, sizeof(r->cache_control));
	return n;
}

/* Count request heads sent: more than one means libcurl replayed the
 * request on a fresh connection after a reused one died. */
static int on_debug(CURL *h, curl_infotype type, char *data, size_t size, void *p)
{
	pex__http_response *r = p;
	(void)h;
	(void)size;
	if (type == CURLINFO_HEADER_OUT && size >= 4 && memcmp(data, "HTTP", 4) != 0)
		r->sends++;
	return 0;
}

void pex__http_response_reset(pex__http_response *r)
{
	r->status = 0;
	if (r->secret && r->body.ptr)
		OPENSSL_cleanse(r->body.ptr, r->body.asize);
	pex__buf_clear(&r->body);
	memset(r->wanted, 0, sizeof(r->wanted));
	r->too_big = 0;
	r->location[0] = '\0';
	r->retry_after[0] = '\0';
	r->cache_control[0] = '\0';
	r->not_sent = 0;
	r->curl_code = 0;
	r->curl_error[0] = '\0';
	r->sends = 0;
}

void pex__http_response_dispose(pex__http_response *r)
{
	if (r->secret && r->body.ptr)
		OPENSSL_cleanse(r->body.ptr, r->body.asize);
	pex_buf_dispose(&r->body);
}

const char *pex__curl_strerror(int curl_code)
{
	return curl_easy_strerror((CURLcode)curl_code);
}

int pex__curl_classify(int curl_code, int *not_sent)
{
	int ns = 0, code = PEX_ENET;
	switch ((CURLcode)curl_code) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SSL_CONNECT_ERROR:
		ns = 1;
		break;
	case CURLE_OPERATION_TIMEDOUT:
		code = PEX_ETIMEOUT;
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		ns = 1;
		code = PEX_ETLS;
		break;
	default:
		break;
	}
	if (not_sent)
		*not_sent = ns;
	return code;
}

/* Strip credentials and the query from a URL for error messages. */
static void safe_url(char *dst, size_t dstsz, const char *url)
{
	const char *at, *scheme = strstr(url, "://"), *host = scheme ? scheme + 3 : url;
	size_t n;
	at = strchr(host, '@');
	if (at && at < host + strcspn(host, "/"))
		host = at + 1;
	n = strcspn(host, "?#");
	snprintf(dst, dstsz, "%.*s%.*s", scheme ? (int)(scheme + 3 - url) : 0, url, (int)n, host);
}

/* "METHOD URL: what went wrong: libcurl's words"; never a credential (the
 * URL has none: check_url refuses them, safe_url strips a query). */
static int transport_error(const pex__http *h, CURLcode rc, const char *method, const char *url,
	pex__http_response *resp, const char *detail)
{
	char where[512], what[96];
	int code;
	safe_url(where, sizeof(where), url);
	resp->curl_code = (int)rc;
	code = pex__curl_classify((int)rc, &resp->not_sent);
	if (code == PEX_ETLS)
		snprintf(what, sizeof(what), "TLS verification failed");
	else if (code == PEX_ETIMEOUT)
		snprintf(what, sizeof(what), "timed out (%s is %ld)", h->timeout_key, h->timeout_ms);
	else if (resp->not_sent)
		snprintf(what, sizeof(what), "cannot reach the server");
	else
		snprintf(what, sizeof(what), "the connection failed");
	pex__error_set_http(code, 0, (int)rc, "%s %s: %s: %s%s%s%s%s%s", method, where, what,
		curl_easy_strerror(rc), detail && *detail ? ": " : "", detail ? detail : "",
		code == PEX_ETLS && *h->ca_key ? " (to trust a private CA, set " : "",
		code == PEX_ETLS ? h->ca_key : "", code == PEX_ETLS && *h->ca_key ? ")" : "");
	return code;
}

/* Free a header list, wiping each line first (they may hold credentials). */
static void slist_free_wipe(struct curl_slist *l)
{
	struct curl_slist *i;
	for (i = l; i; i = i->next)
		if (i->data)
			OPENSSL_cleanse(i->data, strlen(i->data));
	curl_slist_free_all(l);
}

static int is_write(const char *method)
{
	return strcmp(method, "POST") == 0 || strcmp(method, "PATCH") == 0 || strcmp(method, "PUT") == 0;
}

/* Trust req->extra_ca_file on top of the default CAs (OpenSSL backend). */
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

/* Has the caller set this header (any value)? */
static int has_header(const char *const *headers, const char *name)
{
	size_t i, n = strlen(name);
	for (i = 0; headers && headers[i]; i++)
		if (strncasecmp(headers[i], name, n) == 0 && headers[i][n] == ':')
			return 1;
	return 0;
}

/* The request's header list: the caller's, no Expect: 100-continue, and
 * for a bodiless POST/PUT/PATCH no Content-Type of libcurl's choosing.
 * Lines are wiped when freed (they may carry credentials). */
static int header_list(struct curl_slist **out, const pex__http_req *req, int bodiless_write)
{
	struct curl_slist *hl = NULL, *tmp;
	size_t i;
	for (i = 0; req->headers && req->headers[i]; i++) {
		if (!(tmp = curl_slist_append(hl, req->headers[i])))
			goto nomem;
		hl = tmp;
	}
	if (!(tmp = curl_slist_append(hl, "Expect:")))
		goto nomem;
	hl = tmp;
	if (bodiless_write && !has_header(req->headers, "Content-Type")) {
		if (!(tmp = curl_slist_append(hl, "Content-Type:")))
			goto nomem;
		hl = tmp;
	}
	*out = hl;
	return 0;
nomem:
	slist_free_wipe(hl);
	return pex__error_nomem();
}

/* The options of one attempt on handle @p c. */
static void set_options(pex__http *h, CURL *c, const pex__http_req *req, struct curl_slist *hl,
	char *errbuf, pex__http_response *resp)
{
	curl_easy_setopt(c, CURLOPT_URL, req->url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_SHARE, h->share);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_USERAGENT, h->user_agent);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, h->timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->timeout_ms < 5000 ? h->timeout_ms : 5000L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, req->https_only ? "https" : "http,https");
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, h->tls_verify ? 1L : 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, h->tls_verify ? 2L : 0L);
	if (req->no_proxy)
		curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	if (h->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, h->ca_file);
	if (req->extra_ca_file) {
		/* Add to the default CAs where libcurl uses OpenSSL; else the
		 * file becomes the CA bundle. */
		if (curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, add_ca_file) == CURLE_OK)
			curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, (void *)req->extra_ca_file);
		else
			curl_easy_setopt(c, CURLOPT_CAINFO, req->extra_ca_file);
	}
	if (strcmp(req->method, "GET") == 0) {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
		return;
	}
	/* Only for requests whose replay matters (the debug callback costs a little). */
	curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, on_debug);
	curl_easy_setopt(c, CURLOPT_DEBUGDATA, resp);
	curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
	if (req->body || is_write(req->method)) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(req->body ? req->body_len : 0));
	}
}

int pex__http_send(pex__http *h, pex__http_class cls, const pex__http_req *req,
	pex__http_response *resp)
{
	struct curl_slist *hl = NULL;
	char errbuf[CURL_ERROR_SIZE];
	CURLcode rc;
	CURL *c;
	int bg = cls == PEX__HTTP_BACKGROUND, err;

	pex__http_response_reset(resp);
	resp->max_body = h->max_body;
	if ((err = header_list(&hl, req, !req->body && is_write(req->method))) < 0)
		return err;
	if (!(c = acquire(h, bg))) {
		release(h, NULL, bg);
		slist_free_wipe(hl);
		return pex__error_nomem();
	}
	curl_easy_reset(c);    /* keeps the connection cache: keep-alive survives */
	errbuf[0] = '\0';
	set_options(h, c, req, hl, errbuf, resp);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
	release(h, c, bg);
	slist_free_wipe(hl);
	if (rc != CURLE_OK) {
		snprintf(resp->curl_error, sizeof(resp->curl_error), "%s", errbuf);
		return transport_error(h, rc, req->method, req->url, resp, errbuf);
	}
	return 0;
}
