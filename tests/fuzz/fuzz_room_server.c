/*
 * libFuzzer target for the room server's request handling that does not
 * need libmicrohttpd or Pexip (examples/room-server/auth.c, routes.c and
 * parse.c, compiled in with stubs for the MHD and response functions they
 * call). The first input byte picks a mode (byte % 11); the rest is its
 * input:
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
 *   2  "METHOD\nPATH\nX-API-KEY\nAUTHORIZATION\nPEER" (an empty line: no
 *      such header; PEER an IPv4 or IPv6 address, else none) through
 *      rs_route_classify() and rs_route_auth(): a route that needs
 *      credentials is let through only with the exact API key, a bearer
 *      token that passes mode 0's checks, or, for the event sink, Basic
 *      credentials that decode to the configured user:password; the timer
 *      routes always from a loopback peer, from others as a /room/ route;
 *      a refusal is always a 401;
 *   3  the body collection (rs_body_append()): a limit, then chunks; the
 *      body is exactly the bytes sent under the limit, NUL-terminated, the
 *      rest is counted as dropped, and past RS_DRAIN_MAX the connection
 *      closes;
 *   4  a PATCH /room/{name} body: rs_parse_object() and rs_parse_patch()
 *      against a model (only "tag" and "description", strings, at least
 *      one; the pointers are the object's);
 *   5  "COUNT\nBODY" ("-": no count= argument) through
 *      rs_parse_bulk_create() with fixed tag rules: on success 1..100
 *      rooms, count= honoured, the list as long as count and every UUI
 *      accepted by pex_uui_to_tag(); on failure a reason and nothing kept;
 *   6  "PREFIX\nCONFIRM\nUUI\nTAG\nNAME\nCONTENT-LENGTH" ("-": absent):
 *      the bulk delete and create query checks, room names and
 *      Content-Length against models;
 *   7  fields separated by 0x1f: the hand-written JSON (a string, an error
 *      body, a handed-out room, the access log line) must be byte for byte
 *      what json-c writes for the same object, and parse back;
 *   8  a peer address (IPv4, IPv6 or another family) through
 *      rs_peer_is_loopback() against a model;
 *   9  a JWKS file through rs_jwt_load(): loaded or refused, never half;
 *      an RSA signing key that breaks the rules (modulus 2048..16384 bits
 *      counted in bits, exponent odd and 65537..2^256-1, checked here with
 *      BIGNUM directly) makes the whole file refused.
 *  10  "HEADERS\x1fQUERY\x1fTEXT": the checks made before any route.
 *      HEADERS ("Key: value" lines) through rs_framing_header() and
 *      rs_framing_check() against a model of the smuggling rules; QUERY
 *      ("k=v&k" pairs) through rs_query_arg() against a model (clean text,
 *      each key once, at most RS_QUERY_MAX); TEXT through pex_log_escape()
 *      (no control character and well-formed UTF-8 out, escaping twice
 *      changes nothing, truncation keeps a prefix), rs_clean_text() and
 *      rs_target_has_nul().
 *
 * Not covered (needs a live libmicrohttpd connection): query strings and
 * headers are split and unescaped by libmicrohttpd itself, and the route
 * handlers call the pool.
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

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

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
static const char *const g_hosts[] = { "svc.example.com" };
static pex_tag_rules g_rules;

/* ---- stubs for what routes.c and auth.c call outside themselves ---- */

void MHD_suspend_connection(struct MHD_Connection *c)
{
	(void)c;
}

void MHD_resume_connection(struct MHD_Connection *c)
{
	(void)c;
}

typedef struct fake_conn {
	const char *api_key;
	const char *authz;
	unsigned sent;          /* last status "sent" */
	struct sockaddr_storage peer;   /* the client's address */
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

void rs_log_context(const char *request_id)
{
	(void)request_id;
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

void rs_jobs_throttle(rs_server *s)
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

int rs_metrics_text(rs_server *s, char **out, size_t *len)
{
	(void)s;
	*len = 0;
	return (*out = calloc(1, 1)) ? 0 : PEX_ENOMEM;
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
	CHECK(pex_config_set(cfg, "server.api_keys", g_api_keys[0]) == 0);
	CHECK(pex_config_set(cfg, "events.username", FUZZ_SINK_USER) == 0);
	CHECK(pex_config_set(cfg, "events.password", FUZZ_SINK_PASS) == 0);
	CHECK(rs_auth_init() == 0);
	CHECK(pthread_mutex_init(&g_server.auth_lock, NULL) == 0);
	CHECK((g_server.auth = rs_auth_new(cfg)) != NULL && g_server.auth->jwt != NULL);
	g_jwt = g_server.auth->jwt;
	pex_config_free(cfg);
	unlink(path);

	CHECK(pex_tag_rules_init(&g_rules, PEX_TAG_RULES_VERSION) == 0);
	g_rules.url_template = "https://svc.example.com/s?uui={uui}";
	g_rules.allowed_hosts = g_hosts;
	g_rules.allowed_host_count = 1;
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

/* A JSON string that is exactly @p want: a "\u0000" inside does not end it. */
static int model_str(json_object *v, const char *want)
{
	return v && json_object_is_type(v, json_type_string) &&
		(size_t)json_object_get_string_len(v) == strlen(want) &&
		memcmp(json_object_get_string(v), want, strlen(want)) == 0;
}

static int model_aud(json_object *claims)
{
	json_object *aud;
	size_t i, n;
	if (!json_object_object_get_ex(claims, "aud", &aud) || !aud)
		return 0;
	if (json_object_is_type(aud, json_type_string))
		return model_str(aud, FUZZ_AUD);
	if (!json_object_is_type(aud, json_type_array))
		return 0;
	n = json_object_array_length(aud);
	for (i = 0; i < n; i++)
		if (model_str(json_object_array_get_idx(aud, i), FUZZ_AUD))
			return 1;
	return 0;
}

/* Would a token with this header and these claims, validly signed with the
 * fixed EC key, be accepted at (exp_now, nbf_now)? 1 yes, 0 no. */
static int model_accepts(const char *hdr_text, size_t hl, const char *claims_text, size_t cl,
	long long exp_now, long long nbf_now)
{
	json_object *hdr = NULL, *claims = NULL, *alg = NULL, *kid = NULL, *iss = NULL;
	long long exp = 0, nbf = 0;
	int ok = 0, t;

	if (strlen(hdr_text) != hl || strlen(claims_text) != cl)
		return 0;
	if (!(hdr = json_tokener_parse(hdr_text)) || !json_object_is_type(hdr, json_type_object) ||
	    !(claims = json_tokener_parse(claims_text)) || !json_object_is_type(claims, json_type_object))
		goto out;
	json_object_object_get_ex(hdr, "alg", &alg);
	if (!json_object_object_get_ex(hdr, "kid", &kid) || !json_object_is_type(kid, json_type_string))
		kid = NULL;
	if (!model_str(alg, "ES256") || json_object_object_get_ex(hdr, "crit", NULL) ||
	    (kid && !model_str(kid, "ec-1")))
		goto out;
	json_object_object_get_ex(claims, "iss", &iss);
	if (!model_str(iss, FUZZ_ISS) || !model_aud(claims))
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

/* ---- peers (mode 2's fifth field, mode 8) ---- */

/* The model: 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104, nothing else. */
static int model_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const unsigned char *b = (const unsigned char *)&((const struct sockaddr_in *)(const void *)ss)->sin_addr;
		return b[0] == 127;
	}
	if (ss->ss_family == AF_INET6) {
		const unsigned char *b = ((const struct sockaddr_in6 *)(const void *)ss)->sin6_addr.s6_addr;
		size_t i;
		for (i = 0; i < 10; i++)
			if (b[i])
				return 0;
		if (b[10] == 0 && b[11] == 0) {
			for (i = 12; i < 15; i++)
				if (b[i])
					return 0;
			return b[15] == 1;
		}
		return b[10] == 0xff && b[11] == 0xff && b[12] == 127;
	}
	return 0;
}

/* "a.b.c.d" or an IPv6 text into @p ss; anything else leaves AF_UNSPEC. */
static void parse_peer(struct sockaddr_storage *ss, const char *text)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)(void *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)(void *)ss;
	memset(ss, 0, sizeof(*ss));
	if (!text)
		return;
	if (inet_pton(AF_INET, text, &a4->sin_addr) == 1)
		a4->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, text, &a6->sin6_addr) == 1)
		a6->sin6_family = AF_INET6;
}

/* ---- mode 10: the checks before any route ---- */

/* Well-formed UTF-8 without control characters (the test's own model). */
static int model_clean(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		unsigned long cp;
		size_t n, i;
		if (*p < 0x20 || *p == 0x7f)
			return 0;
		if (*p < 0x80) {
			p++;
			continue;
		}
		if ((*p & 0xe0) == 0xc0) {
			n = 2;
			cp = *p & 0x1f;
		} else if ((*p & 0xf0) == 0xe0) {
			n = 3;
			cp = *p & 0x0f;
		} else if ((*p & 0xf8) == 0xf0) {
			n = 4;
			cp = *p & 0x07;
		} else {
			return 0;
		}
		for (i = 1; i < n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		p += n;
	}
	return 1;
}

static void run_framing(char *headers)
{
	rs_framing f;
	char why[160], *line, *save = NULL;
	const char *cl = NULL, *te = NULL;
	int ncl = 0, nte = 0, differ = 0, refused, model;

	memset(&f, 0, sizeof(f));
	for (line = strtok_r(headers, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *colon = strchr(line, ':');
		const char *v;
		if (!colon)
			continue;
		*colon = '\0';
		v = colon + 1;
		while (*v == ' ')
			v++;
		rs_framing_header(&f, line, v);
		if (strcasecmp(line, "Content-Length") == 0) {
			if (ncl++ == 0)
				cl = v;
			else if (strcmp(cl, v) != 0)
				differ = 1;
		} else if (strcasecmp(line, "Transfer-Encoding") == 0) {
			if (nte++ == 0)
				te = v;
		}
	}
	refused = rs_framing_check(&f, why, sizeof(why)) < 0;
	model = differ || (nte && ncl) || nte > 1 || (nte == 1 && strcasecmp(te, "chunked") != 0);
	CHECK(refused == model);
	if (refused)
		CHECK(why[0] != '\0' && model_clean(why));
}

static void run_query_args(char *query)
{
	rs_query q;
	char why[160], *pair, *save = NULL;
	const char *keys[RS_QUERY_MAX + 1];
	size_t n = 0, i;
	int failed = 0;

	memset(&q, 0, sizeof(q));
	for (pair = strtok_r(query, "&", &save); pair && !failed; pair = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(pair, '=');
		const char *v = NULL;
		int dup = 0, model_ok, ok;
		if (eq) {
			*eq = '\0';
			v = eq + 1;
		}
		for (i = 0; i < n; i++)
			dup |= strcmp(keys[i], pair) == 0;
		model_ok = model_clean(pair) && (!v || model_clean(v)) && !dup && n < RS_QUERY_MAX;
		ok = rs_query_arg(&q, pair, v, why, sizeof(why)) == 0;
		CHECK(ok == model_ok);
		if (!ok) {
			/* the reason goes into a JSON answer: clean, whatever the key */
			CHECK(why[0] != '\0' && model_clean(why));
			failed = 1;
		} else {
			keys[n++] = pair;
		}
	}
}

static void run_escape(const char *text)
{
	size_t need = pex_log_escape(NULL, 0, text), need2, cut;
	char *out = malloc(need + 1), *again, small[17];

	CHECK(out != NULL);
	CHECK(pex_log_escape(out, need + 1, text) == need);
	CHECK(strlen(out) == need);
	CHECK(model_clean(out));
	CHECK(rs_clean_text(text) == (strcmp(out, text) == 0));
	CHECK(rs_clean_text(text) == model_clean(text));
	/* escaping twice changes nothing */
	need2 = pex_log_escape(NULL, 0, out);
	CHECK(need2 == need);
	CHECK((again = malloc(need2 + 1)) != NULL);
	pex_log_escape(again, need2 + 1, out);
	CHECK(strcmp(again, out) == 0);
	free(again);
	/* a short buffer gets a clean prefix, NUL-terminated */
	for (cut = 1; cut <= sizeof(small); cut++) {
		CHECK(pex_log_escape(small, cut, text) == need);
		CHECK(strlen(small) < cut && strncmp(small, out, strlen(small)) == 0);
		CHECK(model_clean(small));
	}
	CHECK(rs_target_has_nul(text) == (strstr(text, "%00") != NULL));
	free(out);
}

static void run_checks(char *in)
{
	char *query = strchr(in, 0x1f), *text = NULL;
	if (query) {
		*query++ = '\0';
		if ((text = strchr(query, 0x1f)))
			*text++ = '\0';
	}
	run_framing(in);
	if (query)
		run_query_args(query);
	run_escape(text ? text : in);
}

static void run_peer(const uint8_t *d, size_t n)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	if (n < 1)
		return;
	switch (d[0] % 3) {
	case 0:
		ss.ss_family = AF_INET;
		memcpy(&((struct sockaddr_in *)(void *)&ss)->sin_addr, d + 1, n - 1 < 4 ? n - 1 : 4);
		break;
	case 1:
		ss.ss_family = AF_INET6;
		memcpy(((struct sockaddr_in6 *)(void *)&ss)->sin6_addr.s6_addr, d + 1, n - 1 < 16 ? n - 1 : 16);
		break;
	default:
		ss.ss_family = (sa_family_t)(n > 1 ? d[1] : 0);   /* AF_UNIX, garbage... */
		if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)
			ss.ss_family = AF_UNSPEC;
		break;
	}
	CHECK(rs_peer_is_loopback((struct sockaddr *)&ss) == model_loopback(&ss));
	CHECK(rs_peer_is_loopback(NULL) == 0);
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
	parse_peer(&fc.peer, next_field(&in));
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
	if (info.timer)
		CHECK(strcmp(path, "/gc_timer") == 0 || strcmp(path, "/metrics_timer") == 0);
	/* a timer route from a loopback peer (the Functions host) needs nothing */
	if (info.timer && model_loopback(&fc.peer))
		CHECK(rc == 0);
	if (rc != 0) {
		CHECK(rc == -1 && fc.sent == 401 && ret == MHD_YES);
		return;
	}
	CHECK(fc.sent == 0);
	if (info.event_sink) {
		CHECK(basic_is_ours(fc.authz));
	} else if (info.needs_auth || (info.timer && !model_loopback(&fc.peer))) {
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

/* ---- mode 3: the request body, in chunks ---- */

/* Bytes: limit selector, drain selector, then records [len % 32][len bytes].
 * The body must be exactly the bytes sent while under the limit, and the
 * rest counted as dropped until RS_DRAIN_MAX, where the connection closes. */
static void run_body(const uint8_t *d, size_t n)
{
	rs_request r;
	char *expect;
	size_t kept = 0, dropped, total = 0;
	int too_large = 0, rc;

	if (n < 2)
		return;
	memset(&r, 0, sizeof(r));
	r.limit = d[0] & 0x80 ? RS_BODY_MAX : (size_t)(d[0] % 64);
	r.dropped = dropped = d[1] & 1 ? RS_DRAIN_MAX - 40 : 0;
	d += 2;
	n -= 2;
	CHECK((expect = malloc(n + 1)) != NULL);
	while (n) {
		size_t len = d[0] % 32;
		d++;
		n--;
		if (len > n)
			len = n;
		rc = rs_body_append(&r, (const char *)d, len);
		total += len;
		if (!too_large && len <= r.limit - kept) {
			memcpy(expect + kept, d, len);
			kept += len;
			CHECK(rc == 0);
		} else {
			too_large = 1;
			if (len > RS_DRAIN_MAX - dropped) {
				CHECK(rc == -1);
				break;
			}
			dropped += len;
			CHECK(rc == 0);
		}
		CHECK(r.too_large == too_large && r.body_len == kept && r.dropped == dropped);
		if (r.body) {
			CHECK(r.body_cap > r.body_len && r.body[r.body_len] == '\0');
			CHECK(memcmp(r.body, expect, kept) == 0);
		} else {
			CHECK(kept == 0);
		}
		d += len;
		n -= len;
	}
	CHECK(r.body_len <= r.limit && r.body_len <= total);
	free(r.body);
	free(expect);
}

/* ---- mode 4: a PATCH /room/{name} body ---- */

static void run_patch(const char *in, size_t len)
{
	char why[512];
	json_object *o, *v;
	const char *tag = NULL, *desc = NULL;
	int rc, want = 1, keys = 0;

	why[0] = '\0';
	o = rs_parse_object(in, len, why, sizeof(why));
	if (!o) {
		CHECK(why[0] != '\0');
		/* whatever json-c makes of it, it is not exactly one object */
		if (len && strlen(in) == len) {
			json_object *j = json_tokener_parse(in);
			CHECK(!j || !json_object_is_type(j, json_type_object) || strstr(why, "not valid JSON"));
			json_object_put(j);
		}
		return;
	}
	CHECK(json_object_is_type(o, json_type_object) && strlen(in) == len);
	json_object_object_foreach(o, k, val) {
		keys++;
		if ((strcmp(k, "tag") != 0 && strcmp(k, "description") != 0) ||
		    !json_object_is_type(val, json_type_string))
			want = 0;
	}
	if (!json_object_object_get_ex(o, "tag", NULL) && !json_object_object_get_ex(o, "description", NULL))
		want = 0;
	why[0] = '\0';
	rc = rs_parse_patch(o, &tag, &desc, why, sizeof(why));
	CHECK((rc == 0) == want);
	if (rc == 0) {
		CHECK(tag || desc);
		CHECK(!tag || (json_object_object_get_ex(o, "tag", &v) && tag == json_object_get_string(v)));
		CHECK(!desc || (json_object_object_get_ex(o, "description", &v) && desc == json_object_get_string(v)));
		CHECK(keys == !!tag + !!desc);
	} else {
		CHECK(rc == -1 && why[0] != '\0');
	}
	json_object_put(o);
}

/* ---- mode 5: POST /room/bulk/create?count=ARG with a body ---- */

static void run_bulk_create(char *in, size_t len)
{
	char *nl = memchr(in, '\n', len), why[512];
	const char *count_arg = in, *body;
	size_t blen, i;
	rs_bulk_create b;
	int rc;

	if (!nl)
		return;
	*nl = '\0';
	body = nl + 1;
	blen = len - (size_t)(nl + 1 - in);
	if (strcmp(count_arg, "-") == 0)
		count_arg = NULL;                  /* no count= in the query */
	why[0] = '\0';
	rc = rs_parse_bulk_create(&b, count_arg, body, blen, &g_rules, why, sizeof(why));
	if (rc != 0) {
		CHECK(rc == -1 && why[0] != '\0' && !b.body && !b.uuis);
		/* a canonical count and no body cannot fail */
		if (count_arg && !blen && count_arg[0] >= '1' && count_arg[0] <= '9' &&
		    strspn(count_arg, "0123456789") == strlen(count_arg) && strlen(count_arg) <= 3)
			CHECK(atoi(count_arg) > RS_BULK_MAX);
		return;
	}
	CHECK(b.count >= 1 && b.count <= RS_BULK_MAX);
	CHECK(count_arg || blen);
	if (count_arg)
		CHECK(strtol(count_arg, NULL, 10) == b.count);
	if (!blen) {
		CHECK(!b.body && !b.uuis && rs_bulk_create_uui(&b, 0) == NULL);
		return;
	}
	CHECK(b.body && json_object_object_length(b.body) == 1);
	CHECK(json_object_object_get_ex(b.body, "uuiData", NULL) && b.uuis);
	CHECK(json_object_is_type(b.uuis, json_type_array) && json_object_array_length(b.uuis) == (size_t)b.count);
	for (i = 0; i < (size_t)b.count; i++) {
		pex_buf t = PEX_BUF_INIT;
		const char *u = rs_bulk_create_uui(&b, i);
		CHECK(u && json_object_is_type(json_object_array_get_idx(b.uuis, i), json_type_string));
		CHECK(pex_uui_to_tag(&t, u, &g_rules) == 0);
		pex_buf_dispose(&t);
	}
	json_object_put(b.body);
}

/* ---- mode 6: query values, names, Content-Length ---- */

static const char *field_or_null(const char *f)
{
	return f && strcmp(f, "-") != 0 ? f : NULL;
}

static void run_query(char *in)
{
	const char *prefix = field_or_null(next_field(&in)), *confirm = field_or_null(next_field(&in));
	const char *uui = field_or_null(next_field(&in)), *tag = field_or_null(next_field(&in));
	const char *name = next_field(&in), *cl = next_field(&in);
	const char *code = NULL;
	char why[256];
	unsigned long long n = 0, model = 0;
	int rc, ok;
	size_t i;

	why[0] = '\0';
	rc = rs_parse_bulk_delete(prefix, confirm, &code, why, sizeof(why));
	if (prefix && *prefix && confirm && strcmp(confirm, "yes") == 0) {
		CHECK(rc == 0);
	} else {
		CHECK(rc == -1 && why[0] && code);
		CHECK(strcmp(code, prefix && *prefix ? "confirmation_required" : "bad_request") == 0);
	}
	why[0] = '\0';
	rc = rs_parse_create(uui, tag, why, sizeof(why));
	CHECK((rc == 0) == !(uui && tag) && (rc == 0 || why[0]));
	if (name)
		CHECK(rs_valid_room_name(name) == (pex_room_name_check(name) == 0));
	if (cl) {
		ok = *cl != '\0';
		for (i = 0; cl[i] && ok; i++) {
			unsigned d = (unsigned)(cl[i] - '0');
			if (cl[i] < '0' || cl[i] > '9' || model > (~0ULL - d) / 10)
				ok = 0;
			else
				model = model * 10 + d;
		}
		rc = rs_content_length(cl, &n);
		CHECK((rc == 0) == ok);
		if (ok)
			CHECK(n == model);
	}
}

/* ---- mode 7: hand-written JSON == json-c's ---- */

static const char *jc_text(json_object *o)
{
	return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

static void same_text(rs_text *t, json_object *o)
{
	CHECK(!t->oom);
	CHECK(strlen(t->ptr) == t->len);
	CHECK(strcmp(t->ptr, jc_text(o)) == 0);
	/* and it parses back */
	{
		json_object *back = json_tokener_parse(t->ptr);
		CHECK(back != NULL);
		json_object_put(back);
	}
	json_object_put(o);
	rs_text_dispose(t);
}

/* Fields separated by 0x1f (so they may hold newlines and quotes). */
static const char *next_unit(char **p)
{
	char *s = *p, *sep;
	if (!s)
		return "";
	if ((sep = strchr(s, '\x1f'))) {
		*sep = '\0';
		*p = sep + 1;
	} else {
		*p = NULL;
	}
	return s;
}

static void run_text(char *in)
{
	const char *a = next_unit(&in), *b = next_unit(&in), *c = next_unit(&in), *d = next_unit(&in);
	const char *e = next_unit(&in);
	pex_pool_room room;
	json_object *o, *err;
	rs_text t;
	size_t bytes = strlen(e) * 977;
	int status = (int)strlen(d) * 37 - 100, aborted = (int)(strlen(c) & 1);

	rs_text_init(&t);
	rs_text_json_str(&t, a);
	same_text(&t, json_object_new_string(a));

	rs_text_init(&t);
	rs_json_error(&t, a, b);
	o = json_object_new_object();
	err = json_object_new_object();
	json_object_object_add(err, "code", json_object_new_string(a));
	json_object_object_add(err, "message", json_object_new_string(b));
	json_object_object_add(o, "error", err);
	same_text(&t, o);

	room.name = (char *)a;
	room.id = (long long)strlen(b) * 1000003LL - 5;
	room.alias = (char *)b;
	room.guest_pin = (char *)c;
	room.tag = (char *)d;
	/* the library's builder (room-server's create answer), as json-c wrote it */
	{
		pex_buf jb = PEX_BUF_INIT;
		CHECK(pex_pool_room_to_json(&jb, &room) == 0);
		rs_text_init(&t);
		rs_text_put(&t, jb.ptr, jb.size);
		pex_buf_dispose(&jb);
	}
	o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(room.name));
	json_object_object_add(o, "id", json_object_new_int64(room.id));
	json_object_object_add(o, "alias", json_object_new_string(room.alias));
	json_object_object_add(o, "guest_pin", json_object_new_string(room.guest_pin));
	json_object_object_add(o, "tag", json_object_new_string(room.tag));
	same_text(&t, o);

	/* a log line (an access line's fields): what json-c makes of the
	 * same object, string fields as strings and the others as integers */
	{
		pex_log_field f[] = { { "method", a, 0 }, { "path", b, 0 }, { "status", NULL, status },
			{ "duration_ms", NULL, (long long)strlen(e) * 7 - 3 }, { "bytes", NULL, (long long)bytes },
			{ "aborted", NULL, 1 } };
		size_t nf = sizeof(f) / sizeof(f[0]) - !aborted, i;
		rs_text_init(&t);
		rs_log_line_json(&t, c, d, e, a, f, nf);
		o = json_object_new_object();
		json_object_object_add(o, "ts", json_object_new_string(c));
		json_object_object_add(o, "level", json_object_new_string(d));
		json_object_object_add(o, "component", json_object_new_string(e));
		json_object_object_add(o, "msg", json_object_new_string(a));
		for (i = 0; i < nf; i++)
			json_object_object_add(o, f[i].key, f[i].str ? json_object_new_string(f[i].str) :
				json_object_new_int64(f[i].num));
		same_text(&t, o);
	}

	/* printf into a text that has to grow past its inline buffer */
	rs_text_init(&t);
	rs_text_puts(&t, d);
	rs_text_printf(&t, "%s|%s|%d", a, e, status);
	CHECK(!t.oom && t.len == strlen(d) + strlen(a) + strlen(e) + 2 + (size_t)snprintf(NULL, 0, "%d", status));
	CHECK(strlen(t.ptr) == t.len && strncmp(t.ptr, d, strlen(d)) == 0);
	rs_text_dispose(&t);
}

/* ---- mode 9: a JWKS file through rs_jwt_load() ---- */

/* The RSA key rules (SECURITY.md), with none of auth.c's code: -1 when @p k
 * is an RSA signing key whose n and e decode and break them, else 0. */
static int model_rsa_weak(json_object *k)
{
	const char *kty = jstr(k, "kty"), *use = jstr(k, "use"), *alg = jstr(k, "alg");
	const char *ns = jstr(k, "n"), *es = jstr(k, "e");
	unsigned char *n = NULL, *e = NULL;
	size_t nl = 0, el = 0;
	BIGNUM *bn = NULL, *be = NULL;
	int weak = 0;

	if (!kty || strcmp(kty, "RSA") != 0 || (use && strcmp(use, "sig") != 0) ||
	    (alg && strcmp(alg, "RS256") != 0) || !ns || !es)
		return 0;
	if ((n = b64_decode(ns, strlen(ns), &nl, 1)) && (e = b64_decode(es, strlen(es), &el, 1)) &&
	    nl && el && nl <= 16384 && el <= 16384) {
		CHECK((bn = BN_bin2bn(n, (int)nl, NULL)) && (be = BN_bin2bn(e, (int)el, NULL)));
		weak = BN_num_bits(bn) < 2048 || BN_num_bits(bn) > 16384 || !BN_is_odd(be) ||
			BN_num_bits(be) > 256 || (BN_num_bits(be) <= 32 && BN_get_word(be) < 65537);
	}
	BN_free(bn);
	BN_free(be);
	free(n);
	free(e);
	return weak ? -1 : 0;
}

static void run_jwks(const char *in, size_t len)
{
	char path[] = "/tmp/fuzz-room-server-jwks-XXXXXX";
	json_object *doc = json_tokener_parse(in), *keys;
	pex_config *cfg = NULL;
	rs_jwt *jwt = (rs_jwt *)&jwt;
	size_t i, n;
	int fd, rc, weak = 0;

	if (doc && json_object_object_get_ex(doc, "keys", &keys) &&
	    json_object_is_type(keys, json_type_array) &&
	    (n = json_object_array_length(keys)) <= 32)
		for (i = 0; i < n; i++)
			weak |= model_rsa_weak(json_object_array_get_idx(keys, i));
	json_object_put(doc);
	CHECK((fd = mkstemp(path)) >= 0);
	CHECK(write(fd, in, len) == (ssize_t)len && close(fd) == 0);
	CHECK(pex_config_new_defaults(&cfg) == 0);
	CHECK(pex_config_set(cfg, "server.jwt.issuer", FUZZ_ISS) == 0);
	CHECK(pex_config_set(cfg, "server.jwt.audience", FUZZ_AUD) == 0);
	CHECK(pex_config_set(cfg, "server.jwt.jwks_file", path) == 0);
	rc = rs_jwt_load(&jwt, cfg);
	unlink(path);
	pex_config_free(cfg);
	CHECK(rc == 0 || rc == -1);
	CHECK(rc == 0 ? jwt != NULL : jwt == NULL);
	/* a weak RSA signing key is never half-used: the whole JWKS is refused */
	if (weak)
		CHECK(rc == -1);
	rs_jwt_free(jwt);
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
	switch (data[0] % 11) {
	case 0:
		run_token(in);
		break;
	case 1:
		run_signed((const char *)data + 1, size - 1);
		break;
	case 2:
		run_route(in);
		break;
	case 3:
		run_body(data + 1, size - 1);
		break;
	case 4:
		run_patch(in, size - 1);
		break;
	case 5:
		run_bulk_create(in, size - 1);
		break;
	case 6:
		run_query(in);
		break;
	case 7:
		run_text(in);
		break;
	case 8:
		run_peer(data + 1, size - 1);
		break;
	case 9:
		run_jwks(in, size - 1);
		break;
	default:
		run_checks(in);
		break;
	}
	free(in);
	return 0;
}
