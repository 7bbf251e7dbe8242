/* Secrets compared in constant time, and bearer JWTs (RS256, ES256)
 * checked with OpenSSL 3 against keys from a JWKS file or fetched from the
 * issuer's JWKS URL (server.jwt.jwks_url), refreshed as docs/DECISIONS.md
 * says. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "server.h"

#define JWT_MAX_LEN 16384       /* longer tokens are refused unread */
#define JWT_LEEWAY_S 60         /* clock skew allowed on exp and nbf */
#define JWKS_MAX_KEYS 32

/* ---- secrets: digests compared in constant time ---- */

/* SHA-256, fetched once: EVP_sha256() makes OpenSSL 3 look the algorithm
 * up in its provider store on every digest, which was a third of the
 * server's own work per request (BENCHMARKS.md F4). */
static EVP_MD *g_sha256;

int rs_auth_init(void)
{
	if (!g_sha256)
		g_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	return g_sha256 ? 0 : -1;
}

void rs_auth_shutdown(void)
{
	EVP_MD_free(g_sha256);
	g_sha256 = NULL;
}

int rs_secret_digest(unsigned char out[RS_DIGEST_LEN], const char *s)
{
	unsigned int len = 0;
	if (!s || !EVP_Digest(s, strlen(s), out, &len, g_sha256 ? g_sha256 : EVP_sha256(), NULL) ||
	    len != RS_DIGEST_LEN) {
		memset(out, 0, RS_DIGEST_LEN);
		return -1;
	}
	return 0;
}

static void auth_free(rs_auth *a)
{
	if (a->api_key_digests)
		OPENSSL_cleanse(a->api_key_digests, a->api_key_count * RS_DIGEST_LEN);
	free(a->api_key_digests);
	rs_jwt_free(a->jwt);
	OPENSSL_cleanse(a, sizeof(*a));
	free(a);
}

rs_auth *rs_auth_new(const pex_config *cfg)
{
	const char *const *keys = NULL;
	const char *user = NULL, *pass = "";
	size_t i;
	int ok = 1, err;
	rs_auth *a = calloc(1, sizeof(*a));

	if (!a)
		goto nomem;
	atomic_init(&a->refs, 1);
	/* unset is fine; a secret that cannot be resolved is not */
	if ((err = pex_config_get_list(&keys, &a->api_key_count, cfg, "server.api_keys")) < 0) {
		a->api_key_count = 0;
		if (err != PEX_ENOTFOUND)
			goto bad_key;
	}
	if (a->api_key_count) {
		if (!(a->api_key_digests = calloc(a->api_key_count, RS_DIGEST_LEN)))
			goto nomem;
		for (i = 0; i < a->api_key_count; i++)
			ok &= rs_secret_digest(a->api_key_digests[i], keys[i]) == 0;
	}
	if ((err = pex_config_get_string(&user, cfg, "events.username")) < 0 && err != PEX_ENOTFOUND)
		goto bad_key;
	if (err == 0) {
		a->events_user_set = 1;
		if ((err = pex_config_get_string(&pass, cfg, "events.password")) < 0 && err != PEX_ENOTFOUND)
			goto bad_key;
		if (err < 0 || !pass)
			pass = "";
		ok &= rs_secret_digest(a->events_user_digest, user) == 0;
		ok &= rs_secret_digest(a->events_pass_digest, pass) == 0;
		a->events_digests_ok = ok;
	}
	if (!ok) {
		rs_log(PEX_LOG_ERROR, "cannot digest the configured API keys and event sink credentials");
		auth_free(a);
		return NULL;
	}
	if (rs_jwt_load(&a->jwt, cfg) < 0) {
		auth_free(a);
		return NULL;
	}
	return a;
bad_key:
	rs_log(PEX_LOG_ERROR, "%s", pex_error_last()->message);
	auth_free(a);
	return NULL;
nomem:
	rs_log(PEX_LOG_ERROR, "out of memory digesting the configured credentials");
	if (a)
		auth_free(a);
	return NULL;
}

void rs_auth_release(rs_auth *a)
{
	if (a && atomic_fetch_sub(&a->refs, 1) == 1)
		auth_free(a);
}

rs_auth *rs_auth_acquire(rs_server *s)
{
	rs_auth *a;
	pthread_mutex_lock(&s->auth_lock);
	a = s->auth;
	atomic_fetch_add(&a->refs, 1);
	pthread_mutex_unlock(&s->auth_lock);
	return a;
}

void rs_auth_swap(rs_server *s, rs_auth *a)
{
	rs_auth *old;
	pthread_mutex_lock(&s->auth_lock);
	old = s->auth;
	s->auth = a;
	pthread_mutex_unlock(&s->auth_lock);
	rs_auth_release(old);
}

/* ---- base64url ---- */

/* Decode unpadded base64url (RFC 7515 §2). Returns a malloc'd buffer (NUL
 * terminated, for JSON) and its length in *outlen, or NULL. */
static unsigned char *b64url_decode(const char *in, size_t len, size_t *outlen)
{
	char *tmp;
	unsigned char *out;
	size_t i, pad = (4 - len % 4) % 4;
	int n;

	if (len % 4 == 1)
		return NULL;
	for (i = 0; i < len; i++) {
		char ch = in[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		      ch == '-' || ch == '_'))
			return NULL;
	}
	if (!(tmp = malloc(len + pad + 1)))
		return NULL;
	for (i = 0; i < len; i++)
		tmp[i] = in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
	for (i = 0; i < pad; i++)
		tmp[len + i] = '=';
	tmp[len + pad] = '\0';
	if (!(out = malloc((len + pad) / 4 * 3 + 1))) {
		free(tmp);
		return NULL;
	}
	n = EVP_DecodeBlock(out, (unsigned char *)tmp, (int)(len + pad));
	free(tmp);
	if (n < 0 || (size_t)n < pad) {
		free(out);
		return NULL;
	}
	*outlen = (size_t)n - pad;
	out[*outlen] = '\0';
	return out;
}

/* ---- JWKS ---- */

typedef enum { KEY_RSA, KEY_EC } key_type;

typedef struct jwk {
	key_type type;
	char *kid;          /* NULL when the JWK has none */
	EVP_PKEY *pkey;
} jwk;

/* One JWKS as loaded: never changed once made, shared by the requests
 * that use it (refs, under rs_jwt.lock) and freed by the last one. */
typedef struct jwks {
	unsigned refs;
	size_t nkeys;
	jwk keys[JWKS_MAX_KEYS];
} jwks;

struct rs_jwt {
	char *issuer;
	char *audience;
	char *url;                  /* server.jwt.jwks_url, or NULL for a file */
	char *ca_file;              /* server.jwt.ca_file, or NULL */
	pthread_mutex_t lock;
	pthread_cond_t cond;        /* on CLOCK_MONOTONIC: fetches done, kicks, stop */
	jwks *keys;                 /* the last good keys; NULL before the first */
	/* jwks_url: one refresh thread does every fetch, so a fetch in flight
	 * is shared by every request that waits for it */
	pthread_t thread;
	int thread_started, stop;
	int kick;                   /* a request met an unknown kid */
	int fetching;
	unsigned long fetches;      /* fetches finished, good or not */
	long long next_fetch;       /* monotonic s: the keys expire, or a retry */
	long long last_kid_fetch;   /* monotonic s of the last unknown-kid refresh */
	int kid_fetched;            /* last_kid_fetch is set */
};

static const char *jstr(json_object *o, const char *key)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* Decode a base64url member into bytes. */
static unsigned char *jbytes(json_object *o, const char *key, size_t *len)
{
	const char *s = jstr(o, key);
	return s ? b64url_decode(s, strlen(s), len) : NULL;
}

static EVP_PKEY *pkey_from_params(const char *type, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *pkey = NULL;
	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return pkey;
}

/* RSA public key rules (SECURITY.md): the modulus is counted in bits, not
 * in the bytes that encode it (leading zero bytes add none); the exponent
 * is odd and from 65537 to 2^256 - 1, as FIPS 186-5 requires. */
#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 16384
#define RSA_MIN_E 65537
#define RSA_MAX_E_BITS 256

static EVP_PKEY *rsa_key(json_object *k, char *why, size_t whylen)
{
	size_t nl = 0, el = 0;
	unsigned char *n = jbytes(k, "n", &nl), *e = jbytes(k, "e", &el);
	BIGNUM *bn = NULL, *be = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *pkey = NULL;
	int bits;

	if (!n || !e || nl == 0 || el == 0 || nl > RSA_MAX_BITS || el > RSA_MAX_BITS) {
		snprintf(why, whylen, "\"n\" or \"e\" is missing or not base64url");
		goto out;
	}
	if (!(bn = BN_bin2bn(n, (int)nl, NULL)) || !(be = BN_bin2bn(e, (int)el, NULL))) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	bits = BN_num_bits(bn);
	if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) {
		snprintf(why, whylen, "the RSA modulus has %d bits (%zu bytes); %d to %d are accepted",
			bits, nl, RSA_MIN_BITS, RSA_MAX_BITS);
		goto out;
	}
	if (!BN_is_odd(be) || BN_num_bits(be) > RSA_MAX_E_BITS ||
	    (BN_num_bits(be) <= 32 && BN_get_word(be) < RSA_MIN_E)) {
		char *dec = BN_bn2dec(be);
		snprintf(why, whylen, "the RSA exponent %.40s%s is not accepted (odd, from %d to 2^%d - 1)",
			dec ? dec : "?", dec && strlen(dec) > 40 ? "..." : "", RSA_MIN_E, RSA_MAX_E_BITS);
		OPENSSL_free(dec);
		goto out;
	}
	if (!(bld = OSSL_PARAM_BLD_new()) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) ||
	    !(pkey = pkey_from_params("RSA", bld)))
		snprintf(why, whylen, "OpenSSL refused the RSA key");
out:
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	free(n);
	free(e);
	return pkey;
}

static EVP_PKEY *ec_key(json_object *k, char *why, size_t whylen)
{
	size_t xl = 0, yl = 0;
	const char *crv = jstr(k, "crv");
	unsigned char *x = jbytes(k, "x", &xl), *y = jbytes(k, "y", &yl), pub[65];
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *pkey = NULL;

	if (!crv || strcmp(crv, "P-256") != 0 || !x || !y || xl != 32 || yl != 32) {
		snprintf(why, whylen, "not a P-256 key with 32-byte \"x\" and \"y\"");
		goto out;
	}
	pub[0] = 0x04;      /* uncompressed point */
	memcpy(pub + 1, x, 32);
	memcpy(pub + 33, y, 32);
	if (!(bld = OSSL_PARAM_BLD_new()) ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub)))
		goto out;
	/* fromdata checks that the point is on the curve */
	if (!(pkey = pkey_from_params("EC", bld)))
		snprintf(why, whylen, "OpenSSL refused the EC key (not a point on P-256?)");
out:
	OSSL_PARAM_BLD_free(bld);
	free(x);
	free(y);
	return pkey;
}

static void jwks_free(jwks *ks)
{
	size_t i;
	if (!ks)
		return;
	for (i = 0; i < ks->nkeys; i++) {
		free(ks->keys[i].kid);
		EVP_PKEY_free(ks->keys[i].pkey);
	}
	free(ks);
}

/*
 * The signing keys of a JWKS document, by the rules of SECURITY.md, for
 * jwks_file and jwks_url alike. @p where names the source in messages
 * ("server.jwt.jwks_file: /etc/jwks.json"). A signing key we would use but
 * cannot trust refuses the whole document. NULL with a message logged.
 */
static jwks *jwks_parse(json_object *doc, const char *where)
{
	json_object *keys;
	jwks *ks;
	size_t i, n;

	if (!json_object_is_type(doc, json_type_object) || !json_object_object_get_ex(doc, "keys", &keys) ||
	    !json_object_is_type(keys, json_type_array)) {
		rs_log(PEX_LOG_ERROR, "%s has no \"keys\" array", where);
		return NULL;
	}
	if (!(ks = calloc(1, sizeof(*ks))))
		return NULL;
	ks->refs = 1;
	n = json_object_array_length(keys);
	for (i = 0; i < n && ks->nkeys < JWKS_MAX_KEYS; i++) {
		json_object *k = json_object_array_get_idx(keys, i);
		const char *kty = jstr(k, "kty"), *kid = jstr(k, "kid"), *use = jstr(k, "use"), *alg = jstr(k, "alg");
		jwk *slot = &ks->keys[ks->nkeys];
		char why[160] = "";

		if (use && strcmp(use, "sig") != 0)
			continue;
		if (kty && strcmp(kty, "RSA") == 0 && (!alg || strcmp(alg, "RS256") == 0)) {
			slot->type = KEY_RSA;
			slot->pkey = rsa_key(k, why, sizeof(why));
		} else if (kty && strcmp(kty, "EC") == 0 && (!alg || strcmp(alg, "ES256") == 0)) {
			slot->type = KEY_EC;
			slot->pkey = ec_key(k, why, sizeof(why));
		} else {
			rs_log(PEX_LOG_WARN, "JWKS key %zu: not an RS256 or ES256 signing key; ignored", i);
			continue;
		}
		/* a weak key beside good ones is a JWKS to fix, not to half-use */
		if (!slot->pkey) {
			rs_log(PEX_LOG_ERROR, "%s: key %zu%s%.64s%s: %s; remove it from the JWKS", where, i,
				kid ? " (kid \"" : "", kid ? kid : "", kid ? "\")" : "", why);
			goto fail;
		}
		if (kid && !(slot->kid = strdup(kid))) {
			EVP_PKEY_free(slot->pkey);
			goto fail;
		}
		ks->nkeys++;
	}
	if (ks->nkeys == 0) {
		rs_log(PEX_LOG_ERROR, "%s holds no usable RS256 or ES256 key", where);
		goto fail;
	}
	return ks;
fail:
	jwks_free(ks);
	return NULL;
}

/* The current keys with a reference taken (NULL if none yet). */
static jwks *keys_get(rs_jwt *jwt)
{
	jwks *ks;
	pthread_mutex_lock(&jwt->lock);
	if ((ks = jwt->keys))
		ks->refs++;
	pthread_mutex_unlock(&jwt->lock);
	return ks;
}

static void keys_put(rs_jwt *jwt, jwks *ks)
{
	unsigned left;
	if (!ks)
		return;
	pthread_mutex_lock(&jwt->lock);
	left = --ks->refs;
	pthread_mutex_unlock(&jwt->lock);
	if (left == 0)
		jwks_free(ks);
}

/* ---- jwks_url: fetched keys ---- */

#define JWKS_FETCH_TIMEOUT_MS 5000  /* one fetch, TLS and all */
#define JWKS_WAIT_MS 3000           /* the longest a request waits for a fetch */
#define JWKS_MAX_AGE_MIN_S 60       /* Cache-Control max-age is kept within these */
#define JWKS_MAX_AGE_MAX_S 86400
#define JWKS_MAX_AGE_DEFAULT_S 3600 /* when the issuer gives none */
#define JWKS_RETRY_S 30             /* after a failed fetch */
#define JWKS_KID_REFRESH_S 60       /* unknown-kid refreshes: at most one a minute */

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait on jwt->cond until @p deadline_ms (monotonic); lock held. */
static void wait_until(rs_jwt *jwt, long long deadline_ms)
{
	struct timespec ts;
	ts.tv_sec = (time_t)(deadline_ms / 1000);
	ts.tv_nsec = (long)(deadline_ms % 1000) * 1000000;
	pthread_cond_timedwait(&jwt->cond, &jwt->lock, &ts);
}

/* One fetch of the JWKS; the new keys, or NULL with the reason logged
 * (the caller keeps the keys it has). *max_age_s is clamped. */
static jwks *jwks_fetch(const rs_jwt *jwt, long *max_age_s)
{
	pex_buf body = PEX_BUF_INIT;
	json_tokener *tok = NULL;
	json_object *doc = NULL;
	jwks *ks = NULL;
	char where[600];
	long age = -1;

	snprintf(where, sizeof(where), "server.jwt.jwks_url: %.*s", (int)strcspn(jwt->url, "?"), jwt->url);
	if (pex_https_get(&body, &age, jwt->url, "server.jwt.jwks_url", jwt->ca_file, JWKS_FETCH_TIMEOUT_MS) < 0) {
		const pex_error *e = pex_error_last();
		rs_log(PEX_LOG_ERROR, "JWKS fetch failed: %s%s", e->message,
			e->code == PEX_ETLS ? " (to trust a private CA, set server.jwt.ca_file)" : "");
		goto out;
	}
	if (!(tok = json_tokener_new()) ||
	    !(doc = json_tokener_parse_ex(tok, body.ptr ? body.ptr : "", (int)body.size)) ||
	    json_tokener_get_parse_end(tok) != body.size) {
		rs_log(PEX_LOG_ERROR, "%s: the reply is not one JSON document", where);
		goto out;
	}
	if ((ks = jwks_parse(doc, where)))
		rs_log(PEX_LOG_INFO, "JWT: %zu key(s) from %s", ks->nkeys, where);
out:
	if (age < 0)
		age = JWKS_MAX_AGE_DEFAULT_S;
	*max_age_s = age < JWKS_MAX_AGE_MIN_S ? JWKS_MAX_AGE_MIN_S : age > JWKS_MAX_AGE_MAX_S ?
		JWKS_MAX_AGE_MAX_S : age;
	json_object_put(doc);
	if (tok)
		json_tokener_free(tok);
	pex_buf_dispose(&body);
	return ks;
}

/* Fetch now, replace the keys when the fetch is good, wake the waiters. */
static void refresh(rs_jwt *jwt)
{
	long age;
	jwks *ks, *old = NULL;

	jwt->fetching = 1;
	pthread_mutex_unlock(&jwt->lock);
	ks = jwks_fetch(jwt, &age);
	pthread_mutex_lock(&jwt->lock);
	if (ks) {
		old = jwt->keys;
		jwt->keys = ks;
		jwt->next_fetch = mono_ms() + age * 1000;
	} else {
		jwt->next_fetch = mono_ms() + JWKS_RETRY_S * 1000;
	}
	jwt->fetching = 0;
	jwt->fetches++;
	pthread_cond_broadcast(&jwt->cond);
	if (old && --old->refs == 0) {
		pthread_mutex_unlock(&jwt->lock);
		jwks_free(old);
		pthread_mutex_lock(&jwt->lock);
	}
}

/* The refresh thread: fetches when the keys expire and when kicked. */
static void *refresh_main(void *arg)
{
	rs_jwt *jwt = arg;

	pthread_mutex_lock(&jwt->lock);
	while (!jwt->stop) {
		if (jwt->kick || mono_ms() >= jwt->next_fetch) {
			jwt->kick = 0;
			refresh(jwt);
			continue;
		}
		wait_until(jwt, jwt->next_fetch);
	}
	pthread_mutex_unlock(&jwt->lock);
	return NULL;
}

/*
 * A token names a kid we do not have: ask for a refresh (at most one per
 * JWKS_KID_REFRESH_S) or join the fetch in flight, and wait for it at most
 * JWKS_WAIT_MS. 1 when a fetch finished meanwhile (the keys may be new).
 */
static int refresh_for_kid(rs_jwt *jwt)
{
	long long now = mono_ms(), deadline = now + JWKS_WAIT_MS;
	unsigned long seen;
	int changed;

	pthread_mutex_lock(&jwt->lock);
	if (!jwt->fetching && !jwt->kick &&
	    (!jwt->kid_fetched || now - jwt->last_kid_fetch >= JWKS_KID_REFRESH_S * 1000LL)) {
		jwt->kick = 1;
		jwt->kid_fetched = 1;
		jwt->last_kid_fetch = now;
		pthread_cond_broadcast(&jwt->cond);
	}
	seen = jwt->fetches;
	while ((jwt->fetching || jwt->kick) && jwt->fetches == seen && !jwt->stop && mono_ms() < deadline)
		wait_until(jwt, deadline);
	changed = jwt->fetches != seen;
	pthread_mutex_unlock(&jwt->lock);
	return changed;
}

static rs_jwt *jwt_new(const char *iss, const char *aud)
{
	rs_jwt *jwt = calloc(1, sizeof(*jwt));
	pthread_condattr_t ca;

	if (!jwt)
		return NULL;
	pthread_mutex_init(&jwt->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&jwt->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (!(jwt->issuer = strdup(iss)) || !(jwt->audience = strdup(aud))) {
		rs_jwt_free(jwt);
		return NULL;
	}
	return jwt;
}

void rs_jwt_free(rs_jwt *jwt)
{
	if (!jwt)
		return;
	if (jwt->thread_started)
		rs_thread_stop(&jwt->lock, &jwt->cond, &jwt->stop, jwt->thread);
	jwks_free(jwt->keys);
	pthread_cond_destroy(&jwt->cond);
	pthread_mutex_destroy(&jwt->lock);
	free(jwt->issuer);
	free(jwt->audience);
	free(jwt->url);
	free(jwt->ca_file);
	free(jwt);
}

/* jwks_url: the first fetch now (a bad URL stops the start; an issuer
 * that cannot be reached does not: tokens wait for its keys), then the
 * refresh thread. */
static int jwt_start_url(rs_jwt *jwt, const char *url, const char *ca_file)
{
	sigset_t all, was;
	int rc;

	if (!(jwt->url = strdup(url)) || (ca_file && !(jwt->ca_file = strdup(ca_file))))
		return -1;
	/* the URL rules are pex_https_get's: PEX_EINVAL is the URL itself */
	pex_error_clear();
	pthread_mutex_lock(&jwt->lock);
	refresh(jwt);
	pthread_mutex_unlock(&jwt->lock);
	if (!jwt->keys && pex_error_last()->code == PEX_EINVAL)
		return -1;
	if (!jwt->keys)
		rs_log(PEX_LOG_WARN, "server.jwt: no keys yet; bearer tokens are refused until a fetch "
			"succeeds (retried every %d s)", JWKS_RETRY_S);
	/* the thread takes no signal: main() sigwait()s for SIGTERM and SIGINT,
	 * which it blocks only after this (a thread that has them unblocked
	 * would die of them) */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &was);
	rc = pthread_create(&jwt->thread, NULL, refresh_main, jwt);
	pthread_sigmask(SIG_SETMASK, &was, NULL);
	if (rc != 0) {
		rs_log(PEX_LOG_ERROR, "server.jwt: cannot start the JWKS refresh thread");
		return -1;
	}
	jwt->thread_started = 1;
	return 0;
}

int rs_jwt_load(rs_jwt **out, const pex_config *cfg)
{
	const char *iss = NULL, *aud = NULL, *file = NULL, *url = NULL, *ca = NULL;
	json_object *doc = NULL;
	rs_jwt *jwt = NULL;
	char where[600];
	int have, src;

	*out = NULL;
	have = (pex_config_get_string(&iss, cfg, "server.jwt.issuer") == 0) +
		(pex_config_get_string(&aud, cfg, "server.jwt.audience") == 0);
	src = (pex_config_get_string(&file, cfg, "server.jwt.jwks_file") == 0) +
		(pex_config_get_string(&url, cfg, "server.jwt.jwks_url") == 0);
	(void)pex_config_get_string(&ca, cfg, "server.jwt.ca_file");
	if (have == 0 && src == 0 && !ca)
		return 0;
	if (have != 2 || src != 1) {
		rs_log(PEX_LOG_ERROR, "server.jwt: issuer, audience and exactly one of jwks_file and "
			"jwks_url go together");
		return -1;
	}
	if (ca && !url) {
		rs_log(PEX_LOG_ERROR, "server.jwt.ca_file is for jwks_url (a jwks_file is not fetched)");
		return -1;
	}
	if (!(jwt = jwt_new(iss, aud)))
		return -1;
	if (url) {
		if (jwt_start_url(jwt, url, ca) < 0)
			goto fail;
		*out = jwt;
		return 0;
	}
	snprintf(where, sizeof(where), "server.jwt.jwks_file: %s", file);
	if (!(doc = json_object_from_file(file))) {
		rs_log(PEX_LOG_ERROR, "server.jwt.jwks_file: cannot read JWKS from %s", file);
		goto fail;
	}
	if (!(jwt->keys = jwks_parse(doc, where)))
		goto fail;
	json_object_put(doc);
	rs_log(PEX_LOG_INFO, "JWT: %zu key(s) from %s", jwt->keys->nkeys, file);
	*out = jwt;
	return 0;
fail:
	json_object_put(doc);
	rs_jwt_free(jwt);
	return -1;
}

/* ---- JWS verification ---- */

/* ES256 signatures are R||S (32 bytes each); OpenSSL wants DER. */
static unsigned char *es256_to_der(const unsigned char *sig, size_t len, size_t *derlen)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r, *s;
	unsigned char *der = NULL;
	int n;
	if (!es || len != 64)
		goto fail;
	r = BN_bin2bn(sig, 32, NULL);
	s = BN_bin2bn(sig + 32, 32, NULL);
	if (!r || !s || !ECDSA_SIG_set0(es, r, s)) {
		BN_free(r);
		BN_free(s);
		goto fail;
	}
	if ((n = i2d_ECDSA_SIG(es, &der)) <= 0)
		goto fail;
	ECDSA_SIG_free(es);
	*derlen = (size_t)n;
	return der;
fail:
	ECDSA_SIG_free(es);
	return NULL;
}

static int verify_sig(const jwk *k, const char *input, size_t inlen,
	const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *der = NULL;
	size_t derlen = 0;
	int ok = 0;

	if (!md)
		return 0;
	if (k->type == KEY_EC) {
		if (!(der = es256_to_der(sig, siglen, &derlen)))
			goto out;
		sig = der;
		siglen = derlen;
	}
	if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k->pkey) == 1 &&
	    EVP_DigestVerify(md, sig, siglen, (const unsigned char *)input, inlen) == 1)
		ok = 1;
out:
	OPENSSL_free(der);
	EVP_MD_CTX_free(md);
	return ok;
}

static int claim_time(json_object *claims, const char *key, long long *out)
{
	json_object *v;
	double d;
	if (!json_object_object_get_ex(claims, key, &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
		return -1;
	d = json_object_get_double(v);
	/* NaN, infinities and absurd times are malformed: converting them to
	 * long long would be undefined, and exp + leeway must not overflow */
	if (!(d > -1e15 && d < 1e15))
		return -1;
	*out = (long long)d;
	return 1;
}

/* A JSON string equal to @p want as a whole: lengths compared too, so a
 * "\u0000" inside the claim cannot cut it short. */
static int json_str_is(json_object *v, const char *want)
{
	size_t len = strlen(want);
	return v && json_object_is_type(v, json_type_string) &&
		(size_t)json_object_get_string_len(v) == len &&
		memcmp(json_object_get_string(v), want, len) == 0;
}

static int audience_ok(json_object *claims, const char *want)
{
	json_object *aud;
	size_t i, n;
	if (!json_object_object_get_ex(claims, "aud", &aud) || !aud)
		return 0;
	if (json_object_is_type(aud, json_type_string))
		return json_str_is(aud, want);
	if (!json_object_is_type(aud, json_type_array))
		return 0;
	n = json_object_array_length(aud);
	for (i = 0; i < n; i++)
		if (json_str_is(json_object_array_get_idx(aud, i), want))
			return 1;
	return 0;
}

#define FAIL(msg) do { snprintf(why, whylen, "%s", msg); goto out; } while (0)

/* Check @p token against the keys @p ks; *no_key is set when no key has
 * the token's kid and algorithm (a refresh may bring one). */
static int verify_with(const rs_jwt *jwt, const jwks *ks, const char *token, long long now,
	char *why, size_t whylen, int *no_key)
{
	const char *dot1, *dot2;
	unsigned char *hdr_raw = NULL, *claims_raw = NULL, *sig = NULL;
	size_t hl = 0, cl = 0, sl = 0, i, tried = 0, len;
	json_object *hdr = NULL, *claims = NULL, *issv = NULL, *kid = NULL, *alg = NULL;
	key_type want;
	long long exp = 0, nbf = 0;
	int rc = -1, got;

	*no_key = 0;
	len = strlen(token);
	if (len > JWT_MAX_LEN)
		FAIL("token too long");
	if (!(dot1 = strchr(token, '.')) || !(dot2 = strchr(dot1 + 1, '.')) || strchr(dot2 + 1, '.'))
		FAIL("token is not a compact JWS");
	if (!(hdr_raw = b64url_decode(token, (size_t)(dot1 - token), &hl)) ||
	    !(claims_raw = b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &cl)) ||
	    !(sig = b64url_decode(dot2 + 1, strlen(dot2 + 1), &sl)))
		FAIL("token is not valid base64url");
	if (strlen((char *)hdr_raw) != hl || strlen((char *)claims_raw) != cl ||
	    !(hdr = json_tokener_parse((char *)hdr_raw)) || !json_object_is_type(hdr, json_type_object) ||
	    !(claims = json_tokener_parse((char *)claims_raw)) || !json_object_is_type(claims, json_type_object))
		FAIL("token header or claims are not JSON objects");

	/* The algorithm comes from the header but is pinned to the key type:
	 * only RS256 (RSA keys) and ES256 (P-256 keys); none, HS* and the
	 * rest are refused before any key is touched. */
	if (!json_object_object_get_ex(hdr, "alg", &alg) || !json_object_is_type(alg, json_type_string))
		FAIL("token header has no alg");
	if (json_str_is(alg, "RS256"))
		want = KEY_RSA;
	else if (json_str_is(alg, "ES256"))
		want = KEY_EC;
	else
		FAIL("token algorithm is not accepted (RS256 or ES256 only)");
	if (json_object_object_get_ex(hdr, "crit", NULL))
		FAIL("token has critical header parameters we do not understand");
	if (!json_object_object_get_ex(hdr, "kid", &kid) || !json_object_is_type(kid, json_type_string))
		kid = NULL;

	got = 0;
	for (i = 0; ks && i < ks->nkeys && !got; i++) {
		const jwk *k = &ks->keys[i];
		if (kid && (!k->kid || !json_str_is(kid, k->kid)))
			continue;
		if (k->type != want)
			continue;
		tried++;
		got = verify_sig(k, token, (size_t)(dot2 - token), sig, sl);
	}
	if (!got && !tried)
		*no_key = 1;
	if (!got)
		FAIL(tried ? "token signature does not verify" :
			ks ? "no key for this token (kid/alg)" : "no JWKS keys yet (server.jwt.jwks_url)");

	if (!json_object_object_get_ex(claims, "iss", &issv) || !json_str_is(issv, jwt->issuer))
		FAIL("token issuer is not accepted");
	if (!audience_ok(claims, jwt->audience))
		FAIL("token audience is not accepted");
	if (claim_time(claims, "exp", &exp) != 1)
		FAIL("token has no valid exp");
	if (now >= exp + JWT_LEEWAY_S)
		FAIL("token has expired");
	switch (claim_time(claims, "nbf", &nbf)) {
	case -1:
		FAIL("token nbf is not a number");
	case 1:
		if (now + JWT_LEEWAY_S < nbf)
			FAIL("token is not valid yet");
		break;
	default:
		break;
	}
	rc = 0;
out:
	json_object_put(hdr);
	json_object_put(claims);
	free(hdr_raw);
	free(claims_raw);
	free(sig);
	return rc;
}

int rs_jwt_verify(const rs_jwt *jwt, const char *token, long long now, char *why, size_t whylen)
{
	/* the keys and the refresh state change; the configuration does not */
	rs_jwt *mut = (rs_jwt *)jwt;
	jwks *ks;
	int rc, no_key = 0;

	if (!jwt) {
		snprintf(why, whylen, "bearer tokens are not accepted (server.jwt is not configured)");
		return -1;
	}
	ks = keys_get(mut);
	rc = verify_with(jwt, ks, token, now, why, whylen, &no_key);
	if (rc < 0 && no_key && jwt->url && refresh_for_kid(mut)) {
		keys_put(mut, ks);
		ks = keys_get(mut);
		rc = verify_with(jwt, ks, token, now, why, whylen, &no_key);
	}
	keys_put(mut, ks);
	return rc;
}
