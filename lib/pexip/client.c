/* pex_client: auth (Basic, OAuth2 with ES256 assertions), token cache,
 * retries with backoff, and the bounded transport. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "core/stats.h"
#include "pexip/client_internal.h"
#include "pexipsdk/config.h"
#include "pexipsdk/version.h"

#define ASSERTION_LIFETIME_S 300

/* What the foreground client and its background view share. */
typedef struct client_shared {
	pex__http *http;
	char *base;
	char *host_path;          /* base without scheme, for logs */
	pex_auth_method auth;
	char *basic_header;       /* secret */
	EVP_PKEY *key;            /* secret */
	char *client_id;
	char *token_url;
	char *audience;
	char *scope;              /* OAuth2 scope, or NULL */
	unsigned retries_max;
	unsigned max_concurrency;
	long retry_base_ms, retry_cap_ms;
	pex__logger log;

	pex__token_cache tok;     /* "Authorization: Bearer ..." (secret) */

	atomic_ullong n_requests, n_retries, n_token_fetches, n_failures;
} client_shared;

/* A handle: the client the caller made (foreground) or its background view
 * (pex__client_background), which shares everything but the class its
 * requests go out at. */
struct pex_client {
	client_shared *s;
	pex__http_class cls;
	pex_client *bg;           /* the foreground client's background view; NULL in the view */
};

int pex_client_options_init(pex_client_options *opts, unsigned int version)
{
	static const pex_client_options init = PEX_CLIENT_OPTIONS_INIT;
	return PEX__STRUCT_INIT(opts, init, version, PEX_CLIENT_OPTIONS_VERSION, "pex_client_options");
}

static void free_secret(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

void pex_client_free(pex_client *c)
{
	client_shared *s;
	if (!c || !c->bg)
		return;      /* a background view goes with its client */
	s = c->s;
	pex__http_free(s->http);
	free(s->base);
	free(s->host_path);
	free_secret(s->basic_header);
	EVP_PKEY_free(s->key);
	free(s->client_id);
	free(s->token_url);
	free(s->audience);
	free(s->scope);
	pex__token_cache_dispose(&s->tok);
	free(s);
	free(c->bg);
	free(c);
}

pex_client *pex__client_background(pex_client *c)
{
	return c && c->bg ? c->bg : c;
}

static int check_url(const char *url, const char *what)
{
	const char *host;
	if (!url || !*url)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "%s is not set", what);
	if (strncasecmp(url, "https://", 8) == 0)
		host = url + 8;
	else if (strncasecmp(url, "http://", 7) == 0)
		host = url + 7;
	else
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"%s must start with https:// or http:// (got '%.80s')", what, url);
	if (!*host || *host == '/' || strchr(url, ' ') || strchr(url, '?') || strchr(url, '#'))
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"%s is not a valid base URL (got '%.80s')", what, url);
	if (strchr(host, '@') && strchr(host, '@') < host + strcspn(host, "/"))
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"%s must not carry credentials; use pexip.auth", what);
	return 0;
}

/* Is the host of "host[:port][/...]" a loopback address? */
static int is_loopback(const char *host)
{
	return strncmp(host, "127.", 4) == 0 || strncasecmp(host, "localhost", 9) == 0 ||
		strncmp(host, "[::1]", 5) == 0;
}

static int make_basic_header(char **out, const char *user, const char *pass)
{
	pex_buf raw = PEX_BUF_INIT, hdr = PEX_BUF_INIT;
	int err;
	if ((err = pex__buf_printf(&raw, "%s:%s", user, pass)) < 0 ||
	    (err = pex__buf_puts(&hdr, "Authorization: Basic ")) < 0 ||
	    (err = pex__base64_encode(&hdr, raw.ptr, raw.size)) < 0) {
		if (raw.ptr)
			OPENSSL_cleanse(raw.ptr, raw.size);
		pex_buf_dispose(&raw);
		pex_buf_dispose(&hdr);
		return err;
	}
	OPENSSL_cleanse(raw.ptr, raw.size);
	pex_buf_dispose(&raw);
	*out = pex__buf_detach(&hdr);
	return *out ? 0 : PEX_ENOMEM;
}

/* The options' rules; nothing is allocated. */
static int check_options(const pex_client_options *o)
{
	int err;
	if ((err = pex__version_check(o->version, PEX_CLIENT_OPTIONS_VERSION, "pex_client_options")) < 0)
		return err;
	if ((err = check_url(o->url, "pexip.url")) < 0)
		return err;
	if (o->timeout_ms < 1 || o->timeout_ms > 600000)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pexip.timeout_ms must be from 1 to 600000 (got %ld)", o->timeout_ms);
	if (o->max_concurrency < 1 || o->max_concurrency > 64)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pexip.max_concurrency must be from 1 to 64 (got %u)", o->max_concurrency);
	if (o->retries_max > 20 || o->retry_base_ms < 1 || o->retry_cap_ms < o->retry_base_ms)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pexip.retries: need max <= 20 and 1 <= base_ms <= cap_ms");
	if (o->auth == PEX_AUTH_BASIC) {
		if (!o->username || !*o->username || !o->password)
			return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
				"basic auth needs pexip.auth.username and pexip.auth.password");
		if (strchr(o->username, ':'))
			return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
				"pexip.auth.username must not contain ':'");
	} else if (o->auth == PEX_AUTH_OAUTH2) {
		if (!o->client_id || !*o->client_id || !o->private_key_pem)
			return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
				"oauth2 auth needs pexip.auth.client_id and pexip.auth.private_key");
		if (o->token_url && (err = check_url(o->token_url, "pexip.auth.token_url")) < 0)
			return err;
	} else {
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"unknown auth method %d", (int)o->auth);
	}
	return 0;
}

/* The credentials: a Basic header, or the OAuth2 key and token endpoint. */
static int setup_auth(client_shared *s, const pex_client_options *o)
{
	pex_buf tu = PEX_BUF_INIT;
	const char *why;
	int err;

	if (s->auth == PEX_AUTH_BASIC) {
		if ((err = make_basic_header(&s->basic_header, o->username, o->password)) < 0)
			return err;
		if (strncasecmp(s->base, "http://", 7) == 0 && !is_loopback(s->base + 7))
			pex__log(&s->log, PEX_LOG_WARN,
				"pexip.url uses plain http: credentials travel unencrypted");
		return 0;
	}
	if ((err = pex__ec_key_from_pem(&s->key, o->private_key_pem)) < 0) {
		pex__error_prefix("pexip.auth.private_key");
		return err;
	}
	s->client_id = pex__strdup(o->client_id);
	if (o->token_url)
		s->token_url = pex__strdup(o->token_url);
	else if (pex__buf_printf(&tu, "%s/oauth/token/", s->base) == 0)
		s->token_url = pex__buf_detach(&tu);
	pex_buf_dispose(&tu);
	s->audience = pex__strdup(o->audience ? o->audience : s->token_url);
	if (!s->client_id || !s->token_url || !s->audience)
		return pex__error_nomem();
	if (!o->scope)
		return 0;
	if ((why = pex__oauth_scope_check(o->scope)) != NULL)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pexip.auth.scope %s", why);
	return (s->scope = pex__strdup(o->scope)) ? 0 : pex__error_nomem();
}

int pex_client_new(pex_client **out, const pex_client_options *o)
{
	pex_client *c;
	client_shared *s;
	pex__http_config hc;
	char ua[64];
	size_t n;
	int err;

	if (!out || !o)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "no client options given");
	*out = NULL;
	if ((err = check_options(o)) < 0)
		return err;

	c = pex__calloc(1, sizeof(*c));
	s = pex__calloc(1, sizeof(*s));
	if (c)
		c->bg = pex__calloc(1, sizeof(*c->bg));
	if (!c || !s || !c->bg) {
		if (c)
			free(c->bg);
		free(c);
		free(s);
		return PEX_ENOMEM;
	}
	c->s = s;
	c->cls = PEX__HTTP_FOREGROUND;
	c->bg->s = s;
	c->bg->cls = PEX__HTTP_BACKGROUND;
	pex__token_cache_init(&s->tok);
	s->auth = o->auth;
	s->retries_max = o->retries_max;
	s->max_concurrency = o->max_concurrency;
	s->retry_base_ms = o->retry_base_ms;
	s->retry_cap_ms = o->retry_cap_ms;
	s->log.cb = o->log_cb;
	s->log.payload = o->log_payload;
	s->log.level = o->log_level;

	n = strlen(o->url);
	while (n > 0 && o->url[n - 1] == '/')
		n--;
	if (!(s->base = pex__strndup(o->url, n)) ||
	    !(s->host_path = pex__strdup(strstr(s->base, "://") + 3))) {
		err = pex__error_nomem();
		goto fail;
	}
	if ((err = setup_auth(s, o)) < 0)
		goto fail;

	snprintf(ua, sizeof(ua), "libpexipsdk/%s", PEX_VERSION);
	memset(&hc, 0, sizeof(hc));
	hc.tls_verify = o->tls_verify ? 1 : 0;
	hc.ca_file = o->ca_file;
	hc.timeout_ms = o->timeout_ms;
	hc.max_concurrency = o->max_concurrency;
	hc.user_agent = o->user_agent ? o->user_agent : ua;
	if ((err = pex__http_new(&s->http, &hc)) < 0)
		goto fail;
	if (!o->tls_verify)
		pex__log(&s->log, PEX_LOG_WARN,
			"TLS certificate verification is OFF (pexip.tls.verify: false)");
	*out = c;
	return 0;
fail:
	pex_client_free(c);
	return err;
}

int pex_client_new_from_config(pex_client **out, const pex_config *cfg,
	pex_log_cb log_cb, void *log_payload)
{
	pex_client_options o = PEX_CLIENT_OPTIONS_INIT;
	const char *method = "basic", *level = "info", *s;
	long long v;
	int b, err;
	pex_log_level lvl = PEX_LOG_INFO;

#define CFG_STR(key, dst) do { \
		err = pex_config_get_string(&s, cfg, key); \
		if (err == 0) (dst) = s; \
		else if (err != PEX_ENOTFOUND) return err; \
	} while (0)
#define CFG_INT(key, dst, type) do { \
		if ((err = pex_config_get_int(&v, cfg, key)) == 0) (dst) = (type)v; \
		else if (err != PEX_ENOTFOUND) return err; \
	} while (0)

	if (!out || !cfg)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "no configuration given");
	*out = NULL;
	CFG_STR("pexip.url", o.url);
	if (!o.url)
		return pex_error_set(PEX_ECONFIG, PEX_ERROR_CLASS_CONFIG,
			"%s: missing required key 'pexip.url'", pex_config_origin(cfg));
	CFG_STR("pexip.auth.method", method);
	o.auth = strcmp(method, "oauth2") == 0 ? PEX_AUTH_OAUTH2 : PEX_AUTH_BASIC;
	if (o.auth == PEX_AUTH_BASIC) {
		CFG_STR("pexip.auth.username", o.username);
		CFG_STR("pexip.auth.password", o.password);
	} else {
		CFG_STR("pexip.auth.client_id", o.client_id);
		CFG_STR("pexip.auth.private_key", o.private_key_pem);
		CFG_STR("pexip.auth.token_url", o.token_url);
		CFG_STR("pexip.auth.audience", o.audience);
		CFG_STR("pexip.auth.scope", o.scope);
	}
	if ((err = pex_config_get_bool(&b, cfg, "pexip.tls.verify")) == 0)
		o.tls_verify = b;
	else if (err != PEX_ENOTFOUND)
		return err;
	CFG_STR("pexip.tls.ca_file", o.ca_file);
	CFG_INT("pexip.timeout_ms", o.timeout_ms, long);
	CFG_INT("pexip.max_concurrency", o.max_concurrency, unsigned);
	CFG_INT("pexip.retries.max", o.retries_max, unsigned);
	CFG_INT("pexip.retries.base_ms", o.retry_base_ms, long);
	CFG_INT("pexip.retries.cap_ms", o.retry_cap_ms, long);
	CFG_STR("log.level", level);
	if (pex_log_level_parse(&lvl, level) == 0)
		o.log_level = lvl;
	o.log_cb = log_cb;
	o.log_payload = log_payload;
#undef CFG_STR
#undef CFG_INT
	err = pex_client_new(out, &o);
	if (err < 0 && err != PEX_ENOMEM) {
		char msg[1024];
		snprintf(msg, sizeof(msg), "%s", pex_error_last()->message);
		if (err == PEX_EINVAL)
			err = PEX_ECONFIG;
		pex_error_set(err, PEX_ERROR_CLASS_CONFIG, "%s: %s", pex_config_origin(cfg), msg);
	}
	return err;
}

int pex_client_set_log_record(pex_client *c, pex_log_record_cb cb, void *payload)
{
	if (!c)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "no client given");
	/* the payload first: a thread that sees the new callback sees it too */
	atomic_store_explicit(&c->s->log.record_payload, payload, memory_order_relaxed);
	atomic_store_explicit(&c->s->log.record_cb, cb, memory_order_release);
	return 0;
}

const pex__logger *pex__client_logger(const pex_client *c) { return &c->s->log; }
const char *pex__client_base(const pex_client *c) { return c->s->base; }
pex__http *pex__client_transport(const pex_client *c) { return c->s->http; }
unsigned pex__client_retries_max(const pex_client *c) { return c->s->retries_max; }
unsigned pex__client_max_concurrency(const pex_client *c) { return c->s->max_concurrency; }

int pex_client_stats_init(pex_client_stats *stats, unsigned int version)
{
	static const pex_client_stats init = PEX_CLIENT_STATS_INIT;
	return PEX__STRUCT_INIT(stats, init, version, PEX_CLIENT_STATS_VERSION, "pex_client_stats");
}

int pex_client_get_stats(pex_client_stats *out, const pex_client *c)
{
	pex_client *m = (pex_client *)c;
	int err;

	if (!out || !c)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pex_client_get_stats: out and client are required");
	/* the members of the caller's version, no more */
	if ((err = pex__version_check(out->version, PEX_CLIENT_STATS_VERSION, "pex_client_stats")) < 0)
		return err;
	out->requests = atomic_load(&m->s->n_requests);
	out->retries = atomic_load(&m->s->n_retries);
	out->token_fetches = atomic_load(&m->s->n_token_fetches);
	out->failures = atomic_load(&m->s->n_failures);
	return 0;
}

void pex__client_backoff(pex_client *c, unsigned attempt, const pex__http_response *resp)
{
	int64_t ra = resp ? pex__parse_retry_after(resp->retry_after, pex__unix_time()) : -1;
	int64_t ms = pex__backoff_ms(attempt, c->s->retry_base_ms, c->s->retry_cap_ms, ra, pex__random_u64());
	atomic_fetch_add(&c->s->n_retries, 1);
	pex__stats_pexip_retry();
	pex__sleep_ms(ms);
}

/* ---- OAuth2 token ---- */

static int is_2xx(long s) { return s >= 200 && s < 300; }

typedef struct token_ctx {
	pex_client *c;
	pex_buf assertion, form;
} token_ctx;

static const char *const token_headers[] = {
	"Content-Type: application/x-www-form-urlencoded", "Accept: application/json", NULL
};

/* A fresh assertion (new jti and iat) for each attempt. */
static int token_prepare(void *arg, unsigned attempt, pex__http_req *req)
{
	token_ctx *x = arg;
	client_shared *s = x->c->s;
	int err;

	PEX__UNUSED(attempt);
	if (x->assertion.ptr)
		OPENSSL_cleanse(x->assertion.ptr, x->assertion.size);
	if (x->form.ptr)
		OPENSSL_cleanse(x->form.ptr, x->form.size);
	pex__buf_clear(&x->assertion);
	pex__buf_clear(&x->form);
	if ((err = pex__jwt_client_assertion(&x->assertion, s->key, s->client_id, s->audience,
			pex__unix_time(), ASSERTION_LIFETIME_S)) < 0 ||
	    (err = pex__buf_puts(&x->form, "grant_type=client_credentials"
			"&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
			"&client_assertion=")) < 0 ||
	    (err = pex__url_encode(&x->form, x->assertion.ptr, x->assertion.size)) < 0 ||
	    (s->scope && ((err = pex__buf_puts(&x->form, "&scope=")) < 0 ||
			  (err = pex__url_encode(&x->form, s->scope, strlen(s->scope))) < 0)))
		return err;
	req->body = x->form.ptr;
	req->body_len = x->form.size;
	atomic_fetch_add(&s->n_token_fetches, 1);
	atomic_fetch_add(&s->n_requests, 1);
	return 0;
}

/* The token endpoint: every 5xx and 429/502/503/504 are worth another try. */
static int token_retry_status(void *arg, const pex__http_response *resp)
{
	PEX__UNUSED(arg);
	return pex__http_status_retryable(resp->status) || resp->status >= 500;
}

static void token_on_retry(void *arg, unsigned attempt, int err, const pex__http_response *resp)
{
	token_ctx *x = arg;
	PEX__UNUSED(attempt);
	atomic_fetch_add(&x->c->s->n_retries, 1);
	pex__log(&x->c->s->log, PEX_LOG_DEBUG, "token request failed (%s), retrying",
		err < 0 ? pex_error_last()->message : pex__http_reason(resp->status));
}

/* Fetch a token (no lock held). On success *hdr_out is "Authorization: Bearer X"
 * and *lifetime_ms its lifetime. Every request waits for the token: it is
 * fetched at foreground class even when bulk work (the background view)
 * needs it. */
static int fetch_token(pex_client *c, char **hdr_out, int64_t *lifetime_ms)
{
	token_ctx x = { c, PEX_BUF_INIT, PEX_BUF_INIT };
	pex_buf hdr = PEX_BUF_INIT;
	pex__http_response resp;
	pex__http_req req = { "POST", c->s->token_url, token_headers, NULL, 0, 0, 0, NULL };
	pex__http_policy pol;
	json_object *root = NULL, *v;
	int err;

	memset(&resp, 0, sizeof(resp));
	resp.secret = 1;
	memset(&pol, 0, sizeof(pol));
	pol.cls = PEX__HTTP_FOREGROUND;
	pol.idempotent = 1;
	pol.retries = c->s->retries_max;
	pol.base_ms = c->s->retry_base_ms;
	pol.cap_ms = c->s->retry_cap_ms;
	pol.retry_after = 1;
	pol.retry_status = token_retry_status;
	pol.prepare = token_prepare;
	pol.on_retry = token_on_retry;
	pol.stats = PEX__HTTP_STATS_PEXIP_TOKEN;
	pol.arg = &x;
	err = pex__http_call(c->s->http, &req, &pol, &resp);
	if (err == 0 && !is_2xx(resp.status)) {
		err = pex__pexip_error(resp.status, resp.body.ptr, resp.body.size,
			"OAuth2 token request refused");
		if (resp.status == 400 || resp.status == 401 || resp.status == 403)
			err = pex_error_set(PEX_EAUTH, PEX_ERROR_CLASS_AUTH, "%s",
				pex_error_last()->message);
	}
	if (err < 0)
		goto out;

	root = json_tokener_parse(resp.body.ptr ? resp.body.ptr : "");
	if (!root || !json_object_object_get_ex(root, "access_token", &v) ||
	    !json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0) {
		err = pex_error_set(PEX_EAUTH, PEX_ERROR_CLASS_AUTH,
			"OAuth2 token endpoint answered without an access_token");
		goto out;
	}
	if ((err = pex__buf_printf(&hdr, "Authorization: Bearer %s", json_object_get_string(v))) < 0)
		goto out;
	*lifetime_ms = 3600 * 1000;
	if (json_object_object_get_ex(root, "expires_in", &v) && json_object_get_int64(v) > 0)
		*lifetime_ms = json_object_get_int64(v) * 1000;
	if (json_object_object_get_ex(root, "token_type", &v) &&
	    strcasecmp(json_object_get_string(v), "Bearer") != 0) {
		err = pex_error_set(PEX_EAUTH, PEX_ERROR_CLASS_AUTH,
			"OAuth2 token endpoint returned an unsupported token_type");
		goto out;
	}
	*hdr_out = pex__buf_detach(&hdr);
	err = *hdr_out ? 0 : PEX_ENOMEM;
	pex__log(&c->s->log, PEX_LOG_DEBUG, "fetched an OAuth2 token valid for %lld s",
		(long long)(*lifetime_ms / 1000));
out:
	json_object_put(root);
	if (x.assertion.ptr)
		OPENSSL_cleanse(x.assertion.ptr, x.assertion.size);
	if (x.form.ptr)
		OPENSSL_cleanse(x.form.ptr, x.form.size);
	if (hdr.ptr)
		OPENSSL_cleanse(hdr.ptr, hdr.size);
	pex_buf_dispose(&x.assertion);
	pex_buf_dispose(&x.form);
	pex_buf_dispose(&hdr);
	pex__http_response_dispose(&resp);
	return err;
}

/* The token cache's fetch: refresh a quarter of the lifetime early, at
 * most 5 minutes. */
static int token_fetch(void *arg, char **hdr, int64_t *refresh_at)
{
	int64_t life = 0, margin, start = pex__now_ms();
	int err = fetch_token(arg, hdr, &life);
	margin = life / 4;
	if (margin > 300000)
		margin = 300000;
	*refresh_at = start + life - margin;
	return err;
}

/* ---- requests ---- */

/* 401s to an already replaced token retried per call, beyond the one refresh. */
#define PEX__STALE_401_MAX 2

typedef struct call_ctx {
	pex_client *c;
	const char *method, *path, *body;
	const char *headers[4];
	char *auth;               /* the OAuth2 header of this attempt (secret) */
	unsigned gen, stale_401;
	int refreshed;
	int64_t t0;
	pex__http_policy pol;
} call_ctx;

/* Before each attempt: the current token and the headers. */
static int call_prepare(void *arg, unsigned attempt, pex__http_req *req)
{
	call_ctx *x = arg;
	client_shared *s = x->c->s;
	size_t n = 0;
	int err;

	PEX__UNUSED(attempt);
	if (s->auth == PEX_AUTH_OAUTH2) {
		free_secret(x->auth);
		x->auth = NULL;
		if ((err = pex__token_get(&s->tok, NULL, token_fetch, x->c, &x->auth, &x->gen,
				NULL)) < 0)
			return err;
	}
	x->headers[n++] = "Accept: application/json";
	if (x->body)
		x->headers[n++] = "Content-Type: application/json";
	x->headers[n++] = s->auth == PEX_AUTH_OAUTH2 ? x->auth : s->basic_header;
	x->headers[n] = NULL;
	req->headers = x->headers;
	x->t0 = pex__now_ms();
	atomic_fetch_add(&s->n_requests, 1);
	return 0;
}

/* Log the attempt; a 401 under OAuth2 gets the current or a new token. */
static pex__http_verdict call_judge(void *arg, unsigned attempt, int err, pex__http_response *resp)
{
	call_ctx *x = arg;
	client_shared *s = x->c->s;

	{
		pex_log_field f[] = { { "method", x->method, 0 }, { "path", x->path, 0 },
			{ "attempt", NULL, (long long)attempt + 1 },
			{ "duration_ms", NULL, (long long)(pex__now_ms() - x->t0) },
			{ err == 0 ? "status" : "error", err == 0 ? NULL : pex_error_last()->message,
			  err == 0 ? resp->status : 0 } };
		pex__log_fields(&s->log, PEX_LOG_DEBUG, f, PEX__ARRAY_SIZE(f), "pexip request%s",
			err == 0 ? "" : " failed");
	}
	if (err == 0 && resp->status == 401 && s->auth == PEX_AUTH_OAUTH2) {
		/* A token taken before this request waited for a connection
		 * may have been replaced meanwhile (another request's 401, or
		 * expiry): retry with the current one without spending this
		 * call's refresh (at most PEX__STALE_401_MAX times). Else the
		 * token itself was revoked or expired early: refresh once. */
		if (pex__token_invalidate(&s->tok, x->gen) && x->stale_401 < PEX__STALE_401_MAX) {
			x->stale_401++;
			pex__log(&s->log, PEX_LOG_DEBUG, "token refused (401) had been replaced "
				"already; retrying with the current one");
			return PEX__HTTP_AGAIN;
		}
		if (!x->refreshed) {
			x->refreshed = 1;
			pex__log(&s->log, PEX_LOG_INFO, "token refused (401), fetching a new one");
			return PEX__HTTP_AGAIN;
		}
	}
	return pex__http_judge(&x->pol, err, resp);
}

static void call_on_retry(void *arg, unsigned attempt, int err, const pex__http_response *resp)
{
	call_ctx *x = arg;
	pex_log_field f[] = { { "method", x->method, 0 }, { "path", x->path, 0 },
		{ "attempt", NULL, (long long)attempt + 1 },
		{ "error", err < 0 ? pex_strerror(err) : pex__http_reason(resp->status), 0 } };

	atomic_fetch_add(&x->c->s->n_retries, 1);
	pex__log_fields(&x->c->s->log, PEX_LOG_INFO, f, PEX__ARRAY_SIZE(f),
		"pexip request failed, retry %u of %u", attempt + 1, x->c->s->retries_max);
}

int pex__client_call(pex_client *c, const char *method, const char *path,
	const char *body, int idempotent, pex__http_response *resp)
{
	call_ctx x;
	pex__http_req req = { method, NULL, NULL, body, body ? strlen(body) : 0, 0, 0, NULL };
	pex_buf url = PEX_BUF_INIT;
	int err;

	if ((err = pex__buf_printf(&url, "%s%s", c->s->base, path)) < 0)
		return err;
	req.url = url.ptr;
	memset(&x, 0, sizeof(x));
	x.c = c;
	x.method = method;
	x.path = path;
	x.body = body;
	x.pol.cls = c->cls;
	x.pol.idempotent = idempotent;
	x.pol.retries = c->s->retries_max;
	x.pol.base_ms = c->s->retry_base_ms;
	x.pol.cap_ms = c->s->retry_cap_ms;
	x.pol.retry_after = 1;
	x.pol.prepare = call_prepare;
	x.pol.judge = call_judge;
	x.pol.on_retry = call_on_retry;
	x.pol.stats = PEX__HTTP_STATS_PEXIP;
	x.pol.arg = &x;
	err = pex__http_call(c->s->http, &req, &x.pol, resp);
	free_secret(x.auth);
	pex_buf_dispose(&url);
	if ((err == PEX_ENET || err == PEX_ETIMEOUT) && resp->retries > 0) {
		char msg[900];
		snprintf(msg, sizeof(msg), "%s", pex_error_last()->message);
		pex__error_set_http(err, 0, pex_error_last()->cause, "%s (gave up after %u attempts)",
			msg, resp->retries + 1);
	}
	if (err < 0)
		atomic_fetch_add(&c->s->n_failures, 1);
	return err;
}

int pex__client_fail(pex_client *c, const pex__http_response *resp, const char *what)
{
	atomic_fetch_add(&c->s->n_failures, 1);
	return pex__pexip_error(resp->status, resp->body.ptr, resp->body.size, what);
}

int pex_client_check(pex_client *c)
{
	pex__http_response resp;
	int err;
	if (!c)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "no client");
	memset(&resp, 0, sizeof(resp));
	err = pex__client_call(c, "GET", PEX__API_CONF "?limit=1", NULL, 1, &resp);
	if (err == 0 && !is_2xx(resp.status))
		err = pex__client_fail(c, &resp, "checking the Pexip Management API");
	pex__http_response_dispose(&resp);
	return err;
}

int pex_client_request(pex_buf *out, int *status, pex_client *c, const char *method,
	const char *path, const char *json_body)
{
	pex__http_response resp;
	int err, idem;
	if (!c || !method || !path || path[0] != '/' || !out || !status)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pex_client_request needs a client, a method, a path starting with '/', out and status");
	memset(&resp, 0, sizeof(resp));
	idem = strcmp(method, "POST") != 0;
	err = pex__client_call(c, method, path, json_body, idem, &resp);
	if (err == 0) {
		pex__buf_clear(out);
		err = pex__buf_put(out, resp.body.ptr ? resp.body.ptr : "", resp.body.size);
		*status = (int)resp.status;
	}
	pex__http_response_dispose(&resp);
	return err;
}
