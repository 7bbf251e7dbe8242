/* OAuth2 client credentials with a private_key_jwt assertion (RFC 7523):
 * POST /oauth/token/ verifies an ES256 JWS against the registered public
 * key of its issuer and issues an opaque bearer token.
 *
 * Checks, in order (the first failure is reported in error_description):
 * grant_type, client_assertion_type, JWS shape, header alg == ES256,
 * iss registered, signature (raw R||S -> DER ECDSA_SIG -> EVP verify),
 * sub == iss, aud, exp > now - skew, iat <= now + skew, jti unused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/pem.h>

#include "emu.h"

#define SKEW_S 30.0

typedef struct token {
	double expires; /* wall-clock seconds */
} token;

static pthread_mutex_t oauth_lock = PTHREAD_MUTEX_INITIALIZER;
static emu_map *tokens; /* access token -> token */
static emu_map *jtis;   /* jti -> double* (forget after) */

static double wall_s(void)
{
	return (double)now_us() / 1e6;
}

void oauth_init(void)
{
	tokens = map_new();
	jtis = map_new();
}

void oauth_free(void)
{
	size_t i;
	map_free(tokens, free);
	map_free(jtis, free);
	tokens = jtis = NULL;
	for (i = 0; i < g_cfg.n_clients; i++) {
		free(g_cfg.clients[i].client_id);
		EVP_PKEY_free(g_cfg.clients[i].key);
	}
	free(g_cfg.clients);
	g_cfg.clients = NULL;
	g_cfg.n_clients = 0;
}

int oauth_add_client(const char *spec)
{
	const char *eq = strchr(spec, '=');
	char *id, *path;
	FILE *f;
	EVP_PKEY *k;
	char group[64];
	size_t glen = 0;
	if (!eq || eq == spec || !eq[1]) {
		fprintf(stderr, "pexip-emulator: --oauth-client wants ID=PUBKEY.pem, got '%s'\n", spec);
		return -1;
	}
	id = strndup(spec, (size_t)(eq - spec));
	path = xstrdup(eq + 1);
	f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "pexip-emulator: cannot open public key '%s'\n", path);
		free(id);
		free(path);
		return -1;
	}
	k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	if (!k) {
		/* a private key file is fine too: its public half is used */
		rewind(f);
		k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	}
	fclose(f);
	if (!k || !EVP_PKEY_is_a(k, "EC") ||
	    !EVP_PKEY_get_group_name(k, group, sizeof(group), &glen) ||
	    (strcmp(group, "prime256v1") != 0 && strcmp(group, "P-256") != 0)) {
		fprintf(stderr, "pexip-emulator: '%s' is not an EC P-256 key in PEM form\n", path);
		EVP_PKEY_free(k);
		free(id);
		free(path);
		return -1;
	}
	free(path);
	g_cfg.clients = xrealloc(g_cfg.clients, (g_cfg.n_clients + 1) * sizeof(*g_cfg.clients));
	g_cfg.clients[g_cfg.n_clients].client_id = id;
	g_cfg.clients[g_cfg.n_clients].key = k;
	g_cfg.n_clients++;
	return 0;
}

static EVP_PKEY *client_key(const char *id)
{
	size_t i;
	for (i = 0; i < g_cfg.n_clients; i++)
		if (!strcmp(g_cfg.clients[i].client_id, id))
			return g_cfg.clients[i].key;
	return NULL;
}

static void oauth_error(resp *r, int status, const char *err, const char *desc)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "error", json_object_new_string(err));
	json_object_object_add(o, "error_description", json_object_new_string(desc));
	resp_json(r, status, o);
	resp_header(r, "Cache-Control", "no-store");
	if (!strcmp(err, "invalid_client"))
		atomic_fetch_add(&g_stats.auth_failures, 1);
}

/* Verifies a raw R||S ES256 signature over `input`. */
static bool es256_verify(EVP_PKEY *key, const char *input, size_t ilen, const unsigned char *sig64)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *br = BN_bin2bn(sig64, 32, NULL), *bs = BN_bin2bn(sig64 + 32, 32, NULL);
	unsigned char *der = NULL;
	int dlen;
	bool ok = false;
	EVP_MD_CTX *ctx = NULL;
	if (!sig || !br || !bs) {
		BN_free(br);
		BN_free(bs);
		ECDSA_SIG_free(sig);
		return false;
	}
	ECDSA_SIG_set0(sig, br, bs); /* sig owns br, bs now */
	dlen = i2d_ECDSA_SIG(sig, &der);
	if (dlen > 0 && (ctx = EVP_MD_CTX_new()) &&
	    EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
	    EVP_DigestVerify(ctx, der, (size_t)dlen, (const unsigned char *)input, ilen) == 1)
		ok = true;
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	ECDSA_SIG_free(sig);
	return ok;
}

static json_object *decode_part(const char *s, size_t len)
{
	size_t n;
	const char *err;
	unsigned char *raw = b64url_decode(s, len, &n);
	json_object *o;
	if (!raw)
		return NULL;
	o = json_parse((const char *)raw, n, &err);
	free(raw);
	if (o && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static bool num_claim(json_object *p, const char *k, double *out)
{
	json_object *v;
	if (!json_object_object_get_ex(p, k, &v) ||
	    (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double)))
		return false;
	*out = json_object_get_double(v);
	return isfinite(*out);
}

static bool aud_matches(json_object *aud)
{
	size_t i;
	if (json_object_is_type(aud, json_type_string))
		return !strcmp(json_object_get_string(aud), g_cfg.audience);
	if (json_object_is_type(aud, json_type_array)) {
		for (i = 0; i < json_object_array_length(aud); i++) {
			json_object *a = json_object_array_get_idx(aud, i);
			if (json_object_is_type(a, json_type_string) &&
			    !strcmp(json_object_get_string(a), g_cfg.audience))
				return true;
		}
	}
	return false;
}

static bool jti_expired(void *val, void *ctx)
{
	return *(double *)val < *(double *)ctx;
}

static bool token_expired(void *val, void *ctx)
{
	return ((token *)val)->expires <= *(double *)ctx;
}

/* Verifies the assertion; returns NULL if fine, else the description.
 * desc_buf holds formatted descriptions. */
static const char *check_assertion(const char *jws, double *exp_out, char **jti_out, char *desc_buf, size_t dn)
{
	const char *d1 = strchr(jws, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	json_object *hdr = NULL, *pl = NULL, *v;
	const char *iss, *sub, *jti, *ret = NULL;
	unsigned char *sig = NULL;
	size_t siglen = 0;
	EVP_PKEY *key;
	double exp, iat, now = wall_s();

	if (!d1 || !d2 || strchr(d2 + 1, '.'))
		return "client_assertion is not a compact JWS (three dot-separated parts)";
	if (!(hdr = decode_part(jws, (size_t)(d1 - jws))))
		return "JWS header is not base64url-encoded JSON";
	if (!json_object_object_get_ex(hdr, "alg", &v) || !json_object_is_type(v, json_type_string)) {
		ret = "JWS header has no alg";
		goto out;
	}
	if (strcmp(json_object_get_string(v), "ES256") != 0) {
		snprintf(desc_buf, dn, "unsupported alg '%.32s' (only ES256)", json_object_get_string(v));
		ret = desc_buf;
		goto out;
	}
	if (!(pl = decode_part(d1 + 1, (size_t)(d2 - d1 - 1)))) {
		ret = "JWS payload is not base64url-encoded JSON";
		goto out;
	}
	if (!json_object_object_get_ex(pl, "iss", &v) || !json_object_is_type(v, json_type_string)) {
		ret = "invalid_claim: iss missing";
		goto out;
	}
	iss = json_object_get_string(v);
	if (!(key = client_key(iss))) {
		snprintf(desc_buf, dn, "unknown client '%.64s'", iss);
		ret = desc_buf;
		goto out;
	}
	sig = b64url_decode(d2 + 1, strlen(d2 + 1), &siglen);
	if (!sig || siglen != 64) {
		ret = "invalid signature: not a 64-byte ES256 signature";
		goto out;
	}
	if (!es256_verify(key, jws, (size_t)(d2 - jws), sig)) {
		ret = "invalid signature: verification failed";
		goto out;
	}
	if (!json_object_object_get_ex(pl, "sub", &v) || !json_object_is_type(v, json_type_string) ||
	    strcmp((sub = json_object_get_string(v)), iss) != 0) {
		ret = "invalid_claim: sub must equal iss";
		goto out;
	}
	if (!json_object_object_get_ex(pl, "aud", &v) || !aud_matches(v)) {
		snprintf(desc_buf, dn, "invalid_claim: aud must be '%.200s'", g_cfg.audience);
		ret = desc_buf;
		goto out;
	}
	if (!num_claim(pl, "exp", &exp)) {
		ret = "invalid_claim: exp missing";
		goto out;
	}
	if (exp <= now - SKEW_S) {
		ret = "invalid_claim: assertion expired (exp)";
		goto out;
	}
	if (!num_claim(pl, "iat", &iat)) {
		ret = "invalid_claim: iat missing";
		goto out;
	}
	if (iat > now + SKEW_S) {
		ret = "invalid_claim: iat is in the future";
		goto out;
	}
	{
		/* mode max_assertion_lifetime_s, as managers that cap it */
		emu_mode m;
		mode_get(&m);
		if (m.max_assertion_lifetime_s > 0 && exp - iat > (double)m.max_assertion_lifetime_s) {
			snprintf(desc_buf, dn, "invalid_claim: assertion lifetime (exp - iat) %.0f s is over %ld s",
				 exp - iat, m.max_assertion_lifetime_s);
			ret = desc_buf;
			goto out;
		}
	}
	if (!json_object_object_get_ex(pl, "jti", &v) || !json_object_is_type(v, json_type_string) ||
	    !*(jti = json_object_get_string(v)) || strlen(jti) > 256) {
		ret = "invalid_claim: jti missing";
		goto out;
	}
	*exp_out = exp;
	*jti_out = xstrdup(jti);
out:
	free(sig);
	json_object_put(hdr);
	json_object_put(pl);
	return ret;
}

/* true if the space-separated scope @p have holds every word of @p need. */
static bool scope_covers(const char *have, const char *need)
{
	const char *w = need;
	size_t n;

	while (*w) {
		const char *h = have ? have : "";
		bool found = false;
		w += strspn(w, " ");
		n = strcspn(w, " ");
		if (!n)
			break;
		while (*h && !found) {
			size_t hn;
			h += strspn(h, " ");
			hn = strcspn(h, " ");
			found = hn == n && !strncmp(h, w, n);
			h += hn;
		}
		if (!found)
			return false;
		w += n;
	}
	return true;
}

void oauth_token_endpoint(resp *r, const char *body, size_t len)
{
	char *form = xmalloc(len + 1), *save = NULL, *kv;
	const char *grant = NULL, *atype = NULL, *assertion = NULL, *scope = NULL, *desc;
	emu_mode m;
	char desc_buf[320], tok[65], *jti = NULL;
	double exp = 0, now, forget;
	json_object *o;
	token *t;

	atomic_fetch_add(&g_stats.token_requests, 1);
	memcpy(form, body, len);
	form[len] = 0;
	for (kv = strtok_r(form, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(kv, '=');
		if (!eq)
			continue;
		*eq = 0;
		form_decode(kv);
		form_decode(eq + 1);
		if (!strcmp(kv, "grant_type"))
			grant = eq + 1;
		else if (!strcmp(kv, "client_assertion_type"))
			atype = eq + 1;
		else if (!strcmp(kv, "client_assertion"))
			assertion = eq + 1;
		else if (!strcmp(kv, "scope"))
			scope = eq + 1;
	}
	mode_get(&m);
	if (!grant || !*grant) {
		oauth_error(r, 400, "invalid_request", "grant_type is required");
		goto out;
	}
	if (strcmp(grant, "client_credentials") != 0) {
		oauth_error(r, 400, "unsupported_grant_type", "only grant_type=client_credentials is supported");
		goto out;
	}
	if (!atype || strcmp(atype, "urn:ietf:params:oauth:client-assertion-type:jwt-bearer") != 0) {
		oauth_error(r, 401, "invalid_client",
			    "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
		goto out;
	}
	if (!assertion || !*assertion) {
		oauth_error(r, 401, "invalid_client", "client_assertion is required");
		goto out;
	}
	if ((desc = check_assertion(assertion, &exp, &jti, desc_buf, sizeof(desc_buf)))) {
		oauth_error(r, 401, "invalid_client", desc);
		goto out;
	}
	if (m.require_scope[0] && !scope_covers(scope, m.require_scope)) {
		/* mode require_scope (RFC 6749 §5.2) */
		snprintf(desc_buf, sizeof(desc_buf), "the scope must include '%s'", m.require_scope);
		oauth_error(r, 400, "invalid_scope", desc_buf);
		goto out;
	}
	now = wall_s();
	pthread_mutex_lock(&oauth_lock);
	/* forget what can no longer matter */
	map_remove_if(jtis, jti_expired, &now, free);
	map_remove_if(tokens, token_expired, &now, free);
	if (map_sget(jtis, jti)) {
		pthread_mutex_unlock(&oauth_lock);
		oauth_error(r, 401, "invalid_client", "invalid_claim: jti has already been used");
		goto out;
	}
	/* remember the jti while the assertion or its token could be valid */
	forget = exp + SKEW_S;
	if (forget < now + (double)g_cfg.token_ttl)
		forget = now + (double)g_cfg.token_ttl;
	{
		double *f = xmalloc(sizeof(*f));
		*f = forget;
		map_sput(jtis, jti, f);
	}
	random_hex(tok, 32);
	t = xmalloc(sizeof(*t));
	t->expires = now + (double)g_cfg.token_ttl;
	map_sput(tokens, tok, t);
	pthread_mutex_unlock(&oauth_lock);
	atomic_fetch_add(&g_stats.tokens_issued, 1);

	o = json_object_new_object();
	json_object_object_add(o, "access_token", json_object_new_string(tok));
	json_object_object_add(o, "expires_in", json_object_new_int64(g_cfg.token_ttl));
	json_object_object_add(o, "token_type",
		json_object_new_string(m.lowercase_token_type ? "bearer" : "Bearer"));
	resp_json(r, 200, o);
	resp_header(r, "Cache-Control", "no-store");
out:
	free(jti);
	free(form);
}

bool oauth_check_bearer(const char *tokstr)
{
	token *t;
	bool ok = false;
	double now = wall_s();
	pthread_mutex_lock(&oauth_lock);
	t = map_sget(tokens, tokstr);
	if (t) {
		if (t->expires > now)
			ok = true;
		else
			free(map_sdel(tokens, tokstr));
	}
	pthread_mutex_unlock(&oauth_lock);
	return ok;
}

void oauth_revoke_all(void)
{
	pthread_mutex_lock(&oauth_lock);
	map_free(tokens, free);
	tokens = map_new();
	pthread_mutex_unlock(&oauth_lock);
}

void oauth_reset(void)
{
	pthread_mutex_lock(&oauth_lock);
	map_free(tokens, free);
	map_free(jtis, free);
	tokens = map_new();
	jtis = map_new();
	pthread_mutex_unlock(&oauth_lock);
}
