/*
 * libFuzzer target for the room server's request checks that do not need
 * libmicrohttpd (examples/room-server/auth.c and routes.c, compiled in with
 * stubs for the MHD and response functions they call). The first input
 * byte picks a mode; the rest is its input:
 *
 *   0  rs_jwt_verify() on the bytes as a compact JWS, against a fixed JWKS
 *      (one P-256 key whose private half is below, one RSA key whose private
 *      half nobody has, one "oct" key that must be ignored), at a fixed
 *      time. The fuzzer has no private key, so a token may only be accepted
 *      if it is ES256, verifies independently with the fixed EC key (this
 *      file's own base64url and DER code), and its claims pass the policy
 *      model below;
 *   1  "HEADER\nCLAIMS": the JSON texts are signed here with the fixed EC
 *      key, so the claim checks after the signature are reached; the
 *      verdict must equal the policy model's (alg ES256, kid absent or
 *      ours, no crit, iss, aud, exp + 60 s leeway, nbf - 60 s);
 *   2  "METHOD\nPATH\nX-API-KEY\nAUTHORIZATION" (an empty line: no such
 *      header) through rs_route_classify() and rs_route_auth(): a route
 *      that needs credentials is let through only with the exact API key,
 *      a bearer token that passes mode 0's checks, or, for the event sink,
 *      Basic credentials that decode to the configured user:password; a
 *      refusal is always a 401.
 *
 * Not covered (needs a live libmicrohttpd connection): query strings and
 * headers are parsed by libmicrohttpd itself (MHD_get_connection_values),
 * request bodies are collected in http.c's static on_request()/
 * body_append(), and the route handlers call the pool.
 *
 * Any broken invariant aborts. Linked with replay.c for a plain-main build.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_room_server: invariant broken at %s:%d: %s\n", \
			__FILE__, __LINE__, #cond); \
		abort(); \
	} \
} while (0)

#define FUZZ_NOW 1700000000LL
#define FUZZ_ISS "https://issuer.example.com/"
#define FUZZ_AUD "room-server"
#define FUZZ_API_KEY "fuzz-api-key-0123456789abcdef"
#define FUZZ_SINK_USER "sink"
#define FUZZ_SINK_PASS "sink-pass"

/* A throw-away P-256 test key (not a secret: it signs nothing real). */
static const char fuzz_ec_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgiR1j31eWBHXT7xnR\n"
	"pSCcjG43GQluqdk57Bbk5i4hOAmhRANCAASl2VIJW5CjmY9ATEIevjrrcWZi/bWd\n"
	"wMZPAMphcfCgm790g9rO1mNrNh4FuZ9vdgZ7qZnkqeYW+xAD14pWK9X/\n"
	"-----END PRIVATE KEY-----\n";

/* The modulus of an RSA-2048 key whose private half was discarded. */
static const char fuzz_rsa_n[] =
	"tRxduwT0-GZT0iUulraPbQjWm1jHbmmgCDtesZzX6gu8fIwiYhA8MMMVkxZmEDc1YmaJHLrPtjQMArbkc9exAP7z"
	"sI8-e8cGtsb2hJYVO7NfX12mBDhhU5Vu5gfkG0_KC9kw4fobOpCNQZi2PcC_vAjB6i_wjdjAR3Shxw80YedtQjL_"
	"XyqnVkwR4Pl4haVSW31wAN6aVXr5EuPkR7fcgSPpYc38YS_hNBPd9Hk6OjZVqxxgoGPwr2M-yQGflDY9dFss5aOi"
	"4D7oKfnEBPqAff96ps1qS4V_o4UHUczMjoTf5MH1n3xoSjnO3iLSPGSBG_SsC2c8OiRmfQVcGrWSiQ";

static EVP_PKEY *g_ec;
static rs_jwt *g_jwt;
static rs_server g_server;
static const char *g_api_keys[] = { FUZZ_API_KEY };

/* ---- stubs for what routes.c and auth.c call outside themselves ---- */

typedef struct fake_conn {
	const char *api_key;
	const char *authz;
	unsigned sent;          /* last status "sent" */
	struct sockaddr_storage peer;   /* the client's address (none: AF_UNSPEC) */
	union MHD_ConnectionInfo info;
} fake_conn;

const char *MHD_lookup_connection_value(struct MHD_Connection *c, enum MHD_ValueKind kind,
	const char *key)
{
	fake_conn *fc = (fake_conn *)(void *)c;
	if (kind != MHD_HEADER_KIND)
		return NULL;
	if (strcasecmp(key, "X-API-Key") == 0)
		return fc->api_key;
	if (strcasecmp(key, MHD_HTTP_HEADER_AUTHORIZATION) == 0)
		return fc->authz;
	return NULL;
}

const union MHD_ConnectionInfo *MHD_get_connection_info(struct MHD_Connection *c,
	enum MHD_ConnectionInfoType kind, ...)
{
	fake_conn *fc = (fake_conn *)(void *)c;
	if (kind != MHD_CONNECTION_INFO_CLIENT_ADDRESS)
		return NULL;
	fc->info.client_addr = (struct sockaddr *)&fc->peer;
	return &fc->info;
}

void rs_log(pex_log_level level, const char *fmt, ...)
{
	(void)level;
	(void)fmt;
}

long long rs_now_ms(void)
{
	return FUZZ_NOW * 1000;
}

enum MHD_Result rs_send(struct MHD_Connection *c, rs_request *r, unsigned status,
	const char *ctype, const char *body, size_t len, const char *allow)
{
	(void)r;
	(void)ctype;
	(void)body;
	(void)len;
	(void)allow;
	((fake_conn *)(void *)c)->sent = status;
	return MHD_YES;
}

enum MHD_Result rs_send_json(struct MHD_Connection *c, rs_request *r, unsigned status, json_object *o)
{
	json_object_put(o);
	return rs_send(c, r, status, NULL, NULL, 0, NULL);
}

enum MHD_Result rs_send_error(struct MHD_Connection *c, rs_request *r, unsigned status,
	const char *code, const char *fmt, ...)
{
	(void)code;
	(void)fmt;
	return rs_send(c, r, status, NULL, NULL, 0, NULL);
}

enum MHD_Result rs_send_pex_error(struct MHD_Connection *c, rs_request *r, int err)
{
	(void)err;
	return rs_send(c, r, 500, NULL, NULL, 0, NULL);
}

void rs_jobs_replenish(rs_server *s, size_t n)
{
	(void)s;
	(void)n;
}

void rs_jobs_fill(rs_server *s)
{
	(void)s;
}

int rs_run_gc(rs_server *s, json_object *logs)
{
	(void)s;
	(void)logs;
	return 0;
}

int rs_run_metrics(rs_server *s, json_object *logs)
{
	(void)s;
	(void)logs;
	return 0;
}

/* ---- base64url, our own ---- */

static int b64_val(int c, int url)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == (url ? '-' : '+')) return 62;
	if (c == (url ? '_' : '/')) return 63;
	return -1;
}

/* Unpadded (url) or padded (std) base64 into a new NUL-terminated buffer. */
static unsigned char *b64_decode(const char *in, size_t len, size_t *outlen, int url)
{
	unsigned char *out;
	unsigned long acc = 0;
	size_t i, n = 0;
	int bits = 0;

	if (!url) {
		if (len % 4)
			return NULL;
		if (len && in[len - 1] == '=')
			len--;
		if (len && in[len - 1] == '=')
			len--;
	}
	if (len % 4 == 1 || !(out = malloc(len + 1)))
		return NULL;
	for (i = 0; i < len; i++) {
		int v = b64_val((unsigned char)in[i], url);
		if (v < 0) {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (unsigned long)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
			acc &= (1ul << bits) - 1;
		}
	}
	out[n] = '\0';
	*outlen = n;
	return out;
}

static char *b64url_encode(const unsigned char *in, size_t len)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char *out = malloc(len / 3 * 4 + 5), *p = out;
	size_t i;

	CHECK(out != NULL);
	for (i = 0; i + 2 < len; i += 3) {
		*p++ = a[in[i] >> 2];
		*p++ = a[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
		*p++ = a[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)];
		*p++ = a[in[i + 2] & 63];
	}
	if (len - i == 1) {
		*p++ = a[in[i] >> 2];
		*p++ = a[(in[i] & 3) << 4];
	} else if (len - i == 2) {
		*p++ = a[in[i] >> 2];
		*p++ = a[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
		*p++ = a[(in[i + 1] & 15) << 2];
	}
	*p = '\0';
	return out;
}

/* ---- set-up ---- */

static void fuzz_setup(void)
{
	static int done;
	unsigned char pub[65];
	size_t publen = 0;
	char path[] = "/tmp/fuzz-room-server-jwks-XXXXXX";
	char *x, *y;
	pex_config *cfg = NULL;
	BIO *bio;
	FILE *f;
	int fd;

	if (done)
		return;
	done = 1;
	CHECK((bio = BIO_new_mem_buf(fuzz_ec_pem, -1)) != NULL);
	CHECK((g_ec = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) != NULL);
	BIO_free(bio);
	CHECK(EVP_PKEY_get_octet_string_param(g_ec, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub),
		&publen) == 1 && publen == 65 && pub[0] == 4);
	x = b64url_encode(pub + 1, 32);
	y = b64url_encode(pub + 33, 32);

	CHECK((fd = mkstemp(path)) >= 0);
	CHECK((f = fdopen(fd, "w")) != NULL);
	fprintf(f, "{\"keys\":["
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"ec-1\",\"use\":\"sig\",\"alg\":\"ES256\","
		"\"x\":\"%s\",\"y\":\"%s\"},"
		"{\"kty\":\"RSA\",\"kid\":\"rsa-1\",\"alg\":\"RS256\",\"n\":\"%s\",\"e\":\"AQAB\"},"
		"{\"kty\":\"oct\",\"kid\":\"hmac-1\",\"alg\":\"HS256\",\"k\":\"c2VjcmV0\"}]}\n",
		x, y, fuzz_rsa_n);
	CHECK(fclose(f) == 0);
	free(x);
	free(y);

	CHECK(pex_config_new_defaults(&cfg) == 0);
	CHECK(pex_config_set(cfg, "server.jwt.issuer", FUZZ_ISS) == 0);
	CHECK(pex_config_set(cfg, "server.jwt.audience", FUZZ_AUD) == 0);
	CHECK(pex_config_set(cfg, "server.jwt.jwks_file", path) == 0);
	CHECK(rs_jwt_load(&g_jwt, cfg) == 0 && g_jwt != NULL);
	pex_config_free(cfg);
	unlink(path);

	g_server.api_keys = g_api_keys;
	g_server.api_key_count = 1;
	g_server.jwt = g_jwt;
	g_server.events_user = FUZZ_SINK_USER;
	g_server.events_pass = FUZZ_SINK_PASS;
	CHECK(rs_auth_init() == 0);
	CHECK(rs_auth_prepare(&g_server) == 0);
}

/* ---- the policy model ---- */

static const char *jstr(json_object *o, const char *key)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* A time claim: 0 absent (or null), 1 *out set, -1 not a number or not
 * within +-1e15 s (NaN, infinities, 2^64: malformed, never converted). */
static int model_time(json_object *claims, const char *key, long long *out)
{
	json_object *v;
	double d;
	if (!json_object_object_get_ex(claims, key, &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
		return -1;
	d = json_object_get_double(v);
	if (!(d > -1e15 && d < 1e15))
		return -1;
	*out = (long long)d;
	return 1;
}

static int model_aud(json_object *claims)
{
	json_object *aud;
	size_t i, n;
	if (!json_object_object_get_ex(claims, "aud", &aud) || !aud)
		return 0;
	if (json_object_is_type(aud, json_type_string))
		return strcmp(json_object_get_string(aud), FUZZ_AUD) == 0;
	if (!json_object_is_type(aud, json_type_array))
		return 0;
	n = json_object_array_length(aud);
	for (i = 0; i < n; i++) {
		json_object *a = json_object_array_get_idx(aud, i);
		if (json_object_is_type(a, json_type_string) && strcmp(json_object_get_string(a), FUZZ_AUD) == 0)
			return 1;
	}
	return 0;
}

/* Would a token with this header and these claims, validly signed with the
 * fixed EC key, be accepted at (exp_now, nbf_now)? 1 yes, 0 no. */
static int model_accepts(const char *hdr_text, size_t hl, const char *claims_text, size_t cl,
	long long exp_now, long long nbf_now)
{
	json_object *hdr = NULL, *claims = NULL;
	const char *alg, *kid, *iss;
	long long exp = 0, nbf = 0;
	int ok = 0, t;

	if (strlen(hdr_text) != hl || strlen(claims_text) != cl)
		return 0;
	if (!(hdr = json_tokener_parse(hdr_text)) || !json_object_is_type(hdr, json_type_object) ||
	    !(claims = json_tokener_parse(claims_text)) || !json_object_is_type(claims, json_type_object))
		goto out;
	alg = jstr(hdr, "alg");
	kid = jstr(hdr, "kid");
	if (!alg || strcmp(alg, "ES256") != 0 || json_object_object_get_ex(hdr, "crit", NULL) ||
	    (kid && strcmp(kid, "ec-1") != 0))
		goto out;
	iss = jstr(claims, "iss");
	if (!iss || strcmp(iss, FUZZ_ISS) != 0 || !model_aud(claims))
		goto out;
	if (model_time(claims, "exp", &exp) != 1 || exp_now >= exp + 60)
		goto out;
	t = model_time(claims, "nbf", &nbf);
	if (t == -1 || (t == 1 && nbf_now + 60 < nbf))
		goto out;
	ok = 1;
out:
	json_object_put(hdr);
	json_object_put(claims);
	return ok;
}

/* Does @p token carry a valid ES256 signature by the fixed key, and do its
 * claims pass the model? Checked with none of auth.c's code. */
static int independently_valid(const char *token, long long exp_now, long long nbf_now)
{
	const char *d1 = strchr(token, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	unsigned char *h = NULL, *c = NULL, *s = NULL, *der = NULL;
	size_t hl, cl, sl;
	ECDSA_SIG *es = NULL;
	EVP_MD_CTX *md = NULL;
	int ok = 0, n;

	if (!d1 || !d2 || strchr(d2 + 1, '.'))
		return 0;
	if (!(h = b64_decode(token, (size_t)(d1 - token), &hl, 1)) ||
	    !(c = b64_decode(d1 + 1, (size_t)(d2 - d1 - 1), &cl, 1)) ||
	    !(s = b64_decode(d2 + 1, strlen(d2 + 1), &sl, 1)) || sl != 64)
		goto out;
	CHECK((es = ECDSA_SIG_new()) != NULL);
	CHECK(ECDSA_SIG_set0(es, BN_bin2bn(s, 32, NULL), BN_bin2bn(s + 32, 32, NULL)) == 1);
	CHECK((n = i2d_ECDSA_SIG(es, &der)) > 0);
	CHECK((md = EVP_MD_CTX_new()) != NULL);
	if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, g_ec) != 1 ||
	    EVP_DigestVerify(md, der, (size_t)n, (const unsigned char *)token, (size_t)(d2 - token)) != 1)
		goto out;
	ok = model_accepts((char *)h, hl, (char *)c, cl, exp_now, nbf_now) == 1;
out:
	EVP_MD_CTX_free(md);
	ECDSA_SIG_free(es);
	OPENSSL_free(der);
	free(h);
	free(c);
	free(s);
	return ok;
}

/* ---- mode 0: any token ---- */

static void run_token(const char *token)
{
	char why[128];
	int rc;

	why[0] = '\0';
	rc = rs_jwt_verify(g_jwt, token, FUZZ_NOW, why, sizeof(why));
	if (rc == 0) {
		CHECK(independently_valid(token, FUZZ_NOW, FUZZ_NOW));
	} else {
		CHECK(rc == -1);
		CHECK(why[0] != '\0');
		/* the reason never quotes the token */
		CHECK(strlen(token) < 8 || strstr(why, token) == NULL);
	}
}

/* ---- mode 1: sign what the fuzzer wrote ---- */

static char *sign_token(const char *hdr, size_t hl, const char *claims, size_t cl)
{
	char *h = b64url_encode((const unsigned char *)hdr, hl);
	char *c = b64url_encode((const unsigned char *)claims, cl);
	unsigned char der[80], raw[64];
	const unsigned char *p = der;
	size_t dl = sizeof(der), tl;
	EVP_MD_CTX *md;
	ECDSA_SIG *es;
	const BIGNUM *r, *s;
	char *input, *sig, *tok;

	tl = strlen(h) + strlen(c) + 2;
	CHECK((input = malloc(tl)) != NULL);
	snprintf(input, tl, "%s.%s", h, c);
	CHECK((md = EVP_MD_CTX_new()) != NULL);
	CHECK(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, g_ec) == 1);
	CHECK(EVP_DigestSign(md, der, &dl, (const unsigned char *)input, strlen(input)) == 1);
	EVP_MD_CTX_free(md);
	CHECK((es = d2i_ECDSA_SIG(NULL, &p, (long)dl)) != NULL);
	ECDSA_SIG_get0(es, &r, &s);
	CHECK(BN_bn2binpad(r, raw, 32) == 32 && BN_bn2binpad(s, raw + 32, 32) == 32);
	ECDSA_SIG_free(es);
	sig = b64url_encode(raw, sizeof(raw));
	tl = strlen(input) + strlen(sig) + 2;
	CHECK((tok = malloc(tl)) != NULL);
	snprintf(tok, tl, "%s.%s", input, sig);
	free(input);
	free(sig);
	free(h);
	free(c);
	return tok;
}

static void run_signed(const char *in, size_t len)
{
	const char *nl = memchr(in, '\n', len);
	size_t hl = nl ? (size_t)(nl - in) : len;
	const char *claims = nl ? nl + 1 : "";
	size_t cl = nl ? len - hl - 1 : 0;
	char *hdr_z, *claims_z, *tok, why[128];
	int rc, want;

	CHECK((hdr_z = malloc(hl + 1)) != NULL && (claims_z = malloc(cl + 1)) != NULL);
	memcpy(hdr_z, in, hl);
	hdr_z[hl] = '\0';
	memcpy(claims_z, claims, cl);
	claims_z[cl] = '\0';
	want = model_accepts(hdr_z, hl, claims_z, cl, FUZZ_NOW, FUZZ_NOW);
	tok = sign_token(in, hl, claims, cl);
	rc = rs_jwt_verify(g_jwt, tok, FUZZ_NOW, why, sizeof(why));
	if (strlen(tok) > 16384)
		CHECK(rc == -1);
	else
		CHECK((rc == 0) == (want == 1));
	if (rc == 0)
		CHECK(independently_valid(tok, FUZZ_NOW, FUZZ_NOW));
	free(tok);
	free(hdr_z);
	free(claims_z);
}

/* ---- mode 2: classification and authentication ---- */

static int basic_is_ours(const char *h)
{
	unsigned char *dec;
	size_t n;
	int ok;
	if (!h || strncasecmp(h, "Basic ", 6) != 0)
		return 0;
	h += 6;
	while (*h == ' ')
		h++;
	if (!(dec = b64_decode(h, strlen(h), &n, 0)))
		return 0;
	ok = n == strlen(FUZZ_SINK_USER ":" FUZZ_SINK_PASS) &&
		memcmp(dec, FUZZ_SINK_USER ":" FUZZ_SINK_PASS, n) == 0;
	free(dec);
	return ok;
}

static const char *next_field(char **p)
{
	char *s = *p, *nl;
	if (!s)
		return NULL;
	if ((nl = strchr(s, '\n'))) {
		*nl = '\0';
		*p = nl + 1;
	} else {
		*p = NULL;
	}
	return s;
}

static void run_route(char *in)
{
	static const char *const routes[] = {
		"/room/create", "/room/bulk/create", "/room/bulk", "/public/event_sink",
		"/public/health", "/metrics", "/gc_timer", "/metrics_timer",
	};
	const char *method, *path;
	rs_route_info info;
	rs_request req;
	fake_conn fc;
	enum MHD_Result ret = MHD_NO;
	long long before, after;
	size_t i;
	int rc, listed = 0;

	method = next_field(&in);
	path = next_field(&in);
	memset(&fc, 0, sizeof(fc));
	fc.api_key = next_field(&in);
	fc.authz = next_field(&in);
	if (!method || !path)
		return;
	if (fc.api_key && !*fc.api_key)
		fc.api_key = NULL;
	if (fc.authz && !*fc.authz)
		fc.authz = NULL;

	rs_route_classify(&info, method, path);
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		listed |= strcmp(path, routes[i]) == 0;
	if (info.known && !listed)
		CHECK((strncmp(path, "/room/", 6) == 0 || strncmp(path, "/public/room/", 13) == 0) &&
		      !strchr(path + (path[1] == 'r' ? 6 : 13), '/') && path[path[1] == 'r' ? 6 : 13]);
	if (info.needs_auth)
		CHECK(strncmp(path, "/room", 5) == 0);
	if (info.event_sink)
		CHECK(strcmp(path, "/public/event_sink") == 0);
	if (info.method_ok)
		CHECK(info.known && info.allow && strstr(info.allow, method) != NULL);

	memset(&req, 0, sizeof(req));
	req.method = method;
	req.path = (char *)path;
	before = (long long)time(NULL);
	rc = rs_route_auth(&g_server, (struct MHD_Connection *)(void *)&fc, &req, &info, &ret);
	after = (long long)time(NULL);
	if (rc != 0) {
		CHECK(rc == -1 && fc.sent == 401 && ret == MHD_YES);
		return;
	}
	CHECK(fc.sent == 0);
	if (info.event_sink) {
		CHECK(basic_is_ours(fc.authz));
	} else if (info.needs_auth) {
		if (fc.api_key) {
			CHECK(strcmp(fc.api_key, FUZZ_API_KEY) == 0);
		} else {
			const char *tok = fc.authz;
			CHECK(tok && strncasecmp(tok, "Bearer ", 7) == 0);
			tok += 7;
			while (*tok == ' ')
				tok++;
			CHECK(independently_valid(tok, after, before));
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in;

	fuzz_setup();
	if (size < 1 || size > 32 * 1024)
		return 0;
	CHECK((in = malloc(size)) != NULL);
	memcpy(in, data + 1, size - 1);
	in[size - 1] = '\0';
	switch (data[0] % 3) {
	case 0:
		run_token(in);
		break;
	case 1:
		run_signed((const char *)data + 1, size - 1);
		break;
	default:
		run_route(in);
		break;
	}
	free(in);
	return 0;
}
