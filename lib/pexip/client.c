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

#include "pexip/client_internal.h"
#include "pexipsdk/config.h"
#include "pexipsdk/version.h"

#define ASSERTION_LIFETIME_S 300

struct pex_client {
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

	pthread_mutex_t tok_lock;
	pthread_cond_t tok_cond;
	int fetching;
	char *token_header;       /* "Authorization: Bearer ..." (secret) */
	int64_t token_refresh_at; /* monotonic ms */
	unsigned token_gen;

	atomic_ullong n_requests, n_retries, n_token_fetches, n_failures;
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
	if (!c)
		return;
	pex__http_free(c->http);
	free(c->base);
	free(c->host_path);
	free_secret(c->basic_header);
	free_secret(c->token_header);
	EVP_PKEY_free(c->key);
	free(c->client_id);
	free(c->token_url);
	free(c->audience);
	free(c->scope);
	pthread_cond_destroy(&c->tok_cond);
	pthread_mutex_destroy(&c->tok_lock);
	free(c);
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

int pex_client_new(pex_client **out, const pex_client_options *o)
{
	pex_client *c;
	pex__http_config hc;
	char ua[64];
	size_t n;
	int err;

	if (!out || !o)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "no client options given");
	*out = NULL;
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

	c = pex__calloc(1, sizeof(*c));
	if (!c)
		return PEX_ENOMEM;
	pthread_mutex_init(&c->tok_lock, NULL);
	pthread_cond_init(&c->tok_cond, NULL);
	c->auth = o->auth;
	c->retries_max = o->retries_max;
	c->max_concurrency = o->max_concurrency;
	c->retry_base_ms = o->retry_base_ms;
	c->retry_cap_ms = o->retry_cap_ms;
	c->log.cb = o->log_cb;
	c->log.payload = o->log_payload;
	c->log.level = o->log_level;

	n = strlen(o->url);
	while (n > 0 && o->url[n - 1] == '/')
		n--;
	c->base = pex__strndup(o->url, n);
	if (!c->base)
		goto nomem;
	c->host_path = pex__strdup(strstr(c->base, "://") + 3);
	if (!c->host_path)
		goto nomem;

	if (c->auth == PEX_AUTH_BASIC) {
		if ((err = make_basic_header(&c->basic_header, o->username, o->password)) < 0)
			goto fail;
		if (strncasecmp(c->base, "http://", 7) == 0 && !is_loopback(c->base + 7))
			pex__log(&c->log, PEX_LOG_WARN,
				"pexip.url uses plain http: credentials travel unencrypted");
	} else {
		pex_buf tu = PEX_BUF_INIT;
		if ((err = pex__ec_key_from_pem(&c->key, o->private_key_pem)) < 0) {
			pex__error_prefix("pexip.auth.private_key");
			goto fail;
		}
		c->client_id = pex__strdup(o->client_id);
		if (o->token_url)
			c->token_url = pex__strdup(o->token_url);
		else if (pex__buf_printf(&tu, "%s/oauth/token/", c->base) == 0)
			c->token_url = pex__buf_detach(&tu);
		pex_buf_dispose(&tu);
		c->audience = pex__strdup(o->audience ? o->audience : c->token_url);
		if (!c->client_id || !c->token_url || !c->audience)
			goto nomem;
		if (o->scope) {
			const char *why = pex__oauth_scope_check(o->scope);
			if (why) {
				err = pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pexip.auth.scope %s", why);
				goto fail;
			}
			if (!(c->scope = pex__strdup(o->scope)))
				goto nomem;
		}
	}

	snprintf(ua, sizeof(ua), "libpexipsdk/%s", PEX_VERSION);
	memset(&hc, 0, sizeof(hc));
	hc.tls_verify = o->tls_verify ? 1 : 0;
	hc.ca_file = o->ca_file;
	hc.timeout_ms = o->timeout_ms;
	hc.max_concurrency = o->max_concurrency;
	hc.user_agent = o->user_agent ? o->user_agent : ua;
	if ((err = pex__http_new(&c->http, &hc)) < 0)
		goto fail;
	if (!o->tls_verify)
		pex__log(&c->log, PEX_LOG_WARN,
			"TLS certificate verification is OFF (pexip.tls.verify: false)");
	*out = c;
	return 0;
nomem:
	err = pex__error_nomem();
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
	atomic_store_explicit(&c->log.record_payload, payload, memory_order_relaxed);
	atomic_store_explicit(&c->log.record_cb, cb, memory_order_release);
	return 0;
}

const pex__logger *pex__client_logger(const pex_client *c) { return &c->log; }
const char *pex__client_base(const pex_client *c) { return c->base; }
unsigned pex__client_retries_max(const pex_client *c) { return c->retries_max; }
unsigned pex__client_max_concurrency(const pex_client *c) { return c->max_concurrency; }

void pex__client_count_failure(pex_client *c)
{
	atomic_fetch_add(&c->n_failures, 1);
}

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
	out->requests = atomic_load(&m->n_requests);
	out->retries = atomic_load(&m->n_retries);
	out->token_fetches = atomic_load(&m->n_token_fetches);
	out->failures = atomic_load(&m->n_failures);
	return 0;
}

void pex__client_backoff(pex_client *c, unsigned attempt, const pex__http_response *resp)
{
	int64_t ra = resp ? pex__parse_retry_after(resp->retry_after, pex__unix_time()) : -1;
	int64_t ms = pex__backoff_ms(attempt, c->retry_base_ms, c->retry_cap_ms, ra, pex__random_u64());
	atomic_fetch_add(&c->n_retries, 1);
	pex__sleep_ms(ms);
}

/* ---- OAuth2 token ---- */

static int is_2xx(long s) { return s >= 200 && s < 300; }

/* Fetch a token (no lock held). On success *hdr_out is "Authorization: Bearer X"
 * and *lifetime_ms its lifetime. */
static int fetch_token(pex_client *c, char **hdr_out, int64_t *lifetime_ms)
{
	pex_buf assertion = PEX_BUF_INIT, form = PEX_BUF_INIT, hdr = PEX_BUF_INIT;
	pex__http_response resp;
	static const char *const headers[] = {
		"Content-Type: application/x-www-form-urlencoded", "Accept: application/json", NULL
	};
	json_object *root = NULL, *v;
	unsigned attempt = 0;
	int err;

	memset(&resp, 0, sizeof(resp));
	for (;;) {
		pex__buf_clear(&assertion);
		pex__buf_clear(&form);
		if ((err = pex__jwt_client_assertion(&assertion, c->key, c->client_id, c->audience,
				pex__unix_time(), ASSERTION_LIFETIME_S)) < 0 ||
		    (err = pex__buf_puts(&form, "grant_type=client_credentials"
				"&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
				"&client_assertion=")) < 0 ||
		    (err = pex__url_encode(&form, assertion.ptr, assertion.size)) < 0 ||
		    (c->scope && ((err = pex__buf_puts(&form, "&scope=")) < 0 ||
				  (err = pex__url_encode(&form, c->scope, strlen(c->scope))) < 0)))
			goto out;
		atomic_fetch_add(&c->n_token_fetches, 1);
		atomic_fetch_add(&c->n_requests, 1);
		{
			/* every request waits for the token: fetch it as foreground
			 * work even when bulk work (a background thread) needs it */
			int was_bg = pex__http_background(0);
			err = pex__http_perform(c->http, "POST", c->token_url, headers, form.ptr, form.size, &resp);
			pex__http_background(was_bg);
		}
		if (err == 0 && is_2xx(resp.status))
			break;
		if (attempt >= c->retries_max ||
		    (err == 0 && !pex__http_status_retryable(resp.status) && resp.status < 500) ||
		    (err < 0 && err == PEX_ETLS)) {
			if (err == 0) {
				err = pex__pexip_error(resp.status, resp.body.ptr, resp.body.size,
					"OAuth2 token request refused");
				if (resp.status == 400 || resp.status == 401 || resp.status == 403)
					err = pex_error_set(PEX_EAUTH, PEX_ERROR_CLASS_AUTH, "%s",
						pex_error_last()->message);
			}
			goto out;
		}
		pex__log(&c->log, PEX_LOG_DEBUG, "token request failed (%s), retrying",
			err < 0 ? pex_error_last()->message : pex__http_reason(resp.status));
		pex__client_backoff(c, attempt++, err == 0 ? &resp : NULL);
	}

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
	pex__log(&c->log, PEX_LOG_DEBUG, "fetched an OAuth2 token valid for %lld s",
		(long long)(*lifetime_ms / 1000));
out:
	json_object_put(root);
	if (assertion.ptr)
		OPENSSL_cleanse(assertion.ptr, assertion.size);
	if (form.ptr)
		OPENSSL_cleanse(form.ptr, form.size);
	if (resp.body.ptr)
		OPENSSL_cleanse(resp.body.ptr, resp.body.size);
	if (hdr.ptr)
		OPENSSL_cleanse(hdr.ptr, hdr.size);
	pex_buf_dispose(&assertion);
	pex_buf_dispose(&form);
	pex_buf_dispose(&hdr);
	pex__http_response_dispose(&resp);
	return err;
}

/* Current token header (a copy the caller frees), fetching it once for all
 * threads when missing or due for refresh. */
static int token_get(pex_client *c, char **hdr_out, unsigned *gen_out)
{
	int err = 0;
	pthread_mutex_lock(&c->tok_lock);
	for (;;) {
		if (c->token_header && pex__now_ms() < c->token_refresh_at) {
			*hdr_out = pex__strdup(c->token_header);
			*gen_out = c->token_gen;
			pthread_mutex_unlock(&c->tok_lock);
			return *hdr_out ? 0 : PEX_ENOMEM;
		}
		if (!c->fetching)
			break;
		pthread_cond_wait(&c->tok_cond, &c->tok_lock);
	}
	c->fetching = 1;
	pthread_mutex_unlock(&c->tok_lock);
	{
		char *hdr = NULL;
		int64_t life = 0, margin;
		int64_t start = pex__now_ms();
		err = fetch_token(c, &hdr, &life);
		pthread_mutex_lock(&c->tok_lock);
		c->fetching = 0;
		if (err == 0) {
			/* Refresh a quarter of the lifetime early, at most 5 minutes. */
			margin = life / 4;
			if (margin > 300000)
				margin = 300000;
			free_secret(c->token_header);
			c->token_header = hdr;
			c->token_refresh_at = start + life - margin;
			c->token_gen++;
			*hdr_out = pex__strdup(hdr);
			*gen_out = c->token_gen;
			if (!*hdr_out)
				err = PEX_ENOMEM;
		}
		pthread_cond_broadcast(&c->tok_cond);
		pthread_mutex_unlock(&c->tok_lock);
	}
	return err;
}

/* The server refused token generation @gen: drop it unless already replaced.
 * @return 1 when a newer token had replaced it already (the refusal says
 * nothing about the current token), else 0. */
static int token_invalidate(pex_client *c, unsigned gen)
{
	int stale;
	pthread_mutex_lock(&c->tok_lock);
	stale = c->token_gen != gen;
	if (!stale)
		c->token_refresh_at = 0;
	pthread_mutex_unlock(&c->tok_lock);
	return stale;
}

/* ---- requests ---- */

/* 401s to an already replaced token retried per call, beyond the one refresh. */
#define PEX__STALE_401_MAX 2

int pex__client_call(pex_client *c, const char *method, const char *path,
	const char *body, int idempotent, pex__http_response *resp)
{
	const char *headers[4];
	char *auth = NULL;
	pex_buf url = PEX_BUF_INIT;
	unsigned attempt = 0, gen = 0, stale_401 = 0;
	int refreshed = 0, err;
	int64_t t0;

	if ((err = pex__buf_printf(&url, "%s%s", c->base, path)) < 0)
		return err;
	resp->replayed = 0;
	for (;;) {
		if (c->auth == PEX_AUTH_OAUTH2) {
			free_secret(auth);
			auth = NULL;
			if ((err = token_get(c, &auth, &gen)) < 0)
				break;
		}
		headers[0] = "Accept: application/json";
		headers[1] = body ? "Content-Type: application/json" : NULL;
		headers[body ? 2 : 1] = c->auth == PEX_AUTH_OAUTH2 ? auth : c->basic_header;
		headers[body ? 3 : 2] = NULL;
		t0 = pex__now_ms();
		atomic_fetch_add(&c->n_requests, 1);
		{
			int replayed = resp->replayed;
			err = pex__http_perform(c->http, method, url.ptr, headers, body,
				body ? strlen(body) : 0, resp);
			/* Did some send of this request possibly reach the server before? */
			resp->replayed = replayed || resp->sends > 1;
		}
		{
			pex_log_field f[] = { { "method", method, 0 }, { "path", path, 0 },
				{ "attempt", NULL, (long long)attempt + 1 },
				{ "duration_ms", NULL, (long long)(pex__now_ms() - t0) },
				{ err == 0 ? "status" : "error", err == 0 ? NULL : pex_error_last()->message,
				  err == 0 ? resp->status : 0 } };
			pex__log_fields(&c->log, PEX_LOG_DEBUG, f, PEX__ARRAY_SIZE(f), "pexip request%s",
				err == 0 ? "" : " failed");
		}

		if (err == 0 && resp->status == 401 && c->auth == PEX_AUTH_OAUTH2) {
			/* A token taken before this request waited for a connection
			 * may have been replaced meanwhile (another request's 401, or
			 * expiry): retry with the current one without spending this
			 * call's refresh (at most PEX__STALE_401_MAX times). Else the
			 * token itself was revoked or expired early: refresh once. */
			if (token_invalidate(c, gen) && stale_401 < PEX__STALE_401_MAX) {
				stale_401++;
				pex__log(&c->log, PEX_LOG_DEBUG, "token refused (401) had been replaced "
					"already; retrying with the current one");
				continue;
			}
			if (!refreshed) {
				refreshed = 1;
				pex__log(&c->log, PEX_LOG_INFO, "token refused (401), fetching a new one");
				continue;
			}
		}
		if (attempt >= c->retries_max)
			break;
		if (err < 0) {
			if (err == PEX_ETLS || (!resp->not_sent && !idempotent))
				break;
		} else if (!pex__http_status_retryable(resp->status) ||
			   (!idempotent && resp->status != 429)) {
			break;
		}
		if (err < 0 && !resp->not_sent)
			resp->replayed = 1;
		else if (err == 0 && resp->status >= 500 && resp->status != 503 && resp->status != 429)
			resp->replayed = 1;   /* 502/504: a proxy may have passed it on */
		{
			pex_log_field f[] = { { "method", method, 0 }, { "path", path, 0 },
				{ "attempt", NULL, (long long)attempt + 1 },
				{ "error", err < 0 ? pex_strerror(err) : pex__http_reason(resp->status), 0 } };
			pex__log_fields(&c->log, PEX_LOG_INFO, f, PEX__ARRAY_SIZE(f),
				"pexip request failed, retry %u of %u", attempt + 1, c->retries_max);
		}
		pex__client_backoff(c, attempt++, err == 0 ? resp : NULL);
	}
	free_secret(auth);
	pex_buf_dispose(&url);
	if ((err == PEX_ENET || err == PEX_ETIMEOUT) && attempt > 0) {
		char msg[900];
		snprintf(msg, sizeof(msg), "%s", pex_error_last()->message);
		pex__error_set_http(err, 0, pex_error_last()->cause, "%s (gave up after %u attempts)",
			msg, attempt + 1);
	}
	if (err < 0)
		atomic_fetch_add(&c->n_failures, 1);
	return err;
}

int pex__client_fail(pex_client *c, const pex__http_response *resp, const char *what)
{
	atomic_fetch_add(&c->n_failures, 1);
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
