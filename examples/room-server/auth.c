/* Secrets compared in constant time, and bearer JWTs (RS256, ES256)
 * checked against keys from a JWKS file with OpenSSL 3. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

struct rs_jwt {
	char *issuer;
	char *audience;
	jwk keys[JWKS_MAX_KEYS];
	size_t nkeys;
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

void rs_jwt_free(rs_jwt *jwt)
{
	size_t i;
	if (!jwt)
		return;
	for (i = 0; i < jwt->nkeys; i++) {
		free(jwt->keys[i].kid);
		EVP_PKEY_free(jwt->keys[i].pkey);
	}
	free(jwt->issuer);
	free(jwt->audience);
	free(jwt);
}

int rs_jwt_load(rs_jwt **out, const pex_config *cfg)
{
	const char *iss = NULL, *aud = NULL, *file = NULL;
	json_object *doc = NULL, *keys;
	rs_jwt *jwt = NULL;
	size_t i, n;
	int have;

	*out = NULL;
	have = (pex_config_get_string(&iss, cfg, "server.jwt.issuer") == 0) +
		(pex_config_get_string(&aud, cfg, "server.jwt.audience") == 0) +
		(pex_config_get_string(&file, cfg, "server.jwt.jwks_file") == 0);
	if (have == 0)
		return 0;
	if (have != 3) {
		rs_log(PEX_LOG_ERROR, "server.jwt: issuer, audience and jwks_file go together");
		return -1;
	}
	if (!(doc = json_object_from_file(file))) {
		rs_log(PEX_LOG_ERROR, "server.jwt.jwks_file: cannot read JWKS from %s", file);
		return -1;
	}
	if (!json_object_object_get_ex(doc, "keys", &keys) || !json_object_is_type(keys, json_type_array)) {
		rs_log(PEX_LOG_ERROR, "server.jwt.jwks_file: %s has no \"keys\" array", file);
		json_object_put(doc);
		return -1;
	}
	if (!(jwt = calloc(1, sizeof(*jwt))) || !(jwt->issuer = strdup(iss)) || !(jwt->audience = strdup(aud)))
		goto fail;
	n = json_object_array_length(keys);
	for (i = 0; i < n && jwt->nkeys < JWKS_MAX_KEYS; i++) {
		json_object *k = json_object_array_get_idx(keys, i);
		const char *kty = jstr(k, "kty"), *kid = jstr(k, "kid"), *use = jstr(k, "use"), *alg = jstr(k, "alg");
		jwk *slot = &jwt->keys[jwt->nkeys];
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
		/* a signing key we would use but cannot trust stops the load: a
		 * weak key beside good ones is a JWKS to fix, not to half-use */
		if (!slot->pkey) {
			rs_log(PEX_LOG_ERROR, "server.jwt.jwks_file: %s: key %zu%s%.64s%s: %s; "
				"remove it from the JWKS", file, i, kid ? " (kid \"" : "", kid ? kid : "",
				kid ? "\")" : "", why);
			goto fail;
		}
		if (kid && !(slot->kid = strdup(kid))) {
			EVP_PKEY_free(slot->pkey);
			goto fail;
		}
		jwt->nkeys++;
	}
	if (jwt->nkeys == 0) {
		rs_log(PEX_LOG_ERROR, "server.jwt.jwks_file: %s holds no usable RS256 or ES256 key", file);
		goto fail;
	}
	json_object_put(doc);
	rs_log(PEX_LOG_INFO, "JWT: %zu key(s) from %s", jwt->nkeys, file);
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

int rs_jwt_verify(const rs_jwt *jwt, const char *token, long long now, char *why, size_t whylen)
{
	const char *dot1, *dot2;
	unsigned char *hdr_raw = NULL, *claims_raw = NULL, *sig = NULL;
	size_t hl = 0, cl = 0, sl = 0, i, tried = 0, len;
	json_object *hdr = NULL, *claims = NULL, *issv = NULL, *kid = NULL, *alg = NULL;
	key_type want;
	long long exp = 0, nbf = 0;
	int rc = -1, got;

	if (!jwt)
		FAIL("bearer tokens are not accepted (server.jwt is not configured)");
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
	for (i = 0; i < jwt->nkeys && !got; i++) {
		const jwk *k = &jwt->keys[i];
		if (kid && (!k->kid || !json_str_is(kid, k->kid)))
			continue;
		if (k->type != want)
			continue;
		tried++;
		got = verify_sig(k, token, (size_t)(dot2 - token), sig, sl);
	}
	if (!got)
		FAIL(tried ? "token signature does not verify" : "no key for this token (kid/alg)");

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
