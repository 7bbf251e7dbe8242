/* Unit tests: error table, buffers, encodings, backoff, Retry-After, JWT
 * ES256 signing (checked with OpenSSL's verifier), Pexip error bodies and
 * Location ids. No sockets. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "internal.h"
#include "pexipsdk/room.h"
#include "pexipsdk/uui.h"
#include "pexipsdk/sys/queue_backend.h"
#include "pexip/client_internal.h"

/* ---- errors ---- */

/* base64url without padding (a JWT's parts), decoded by the test: the
 * library only ever encodes it. */
static int b64url_decode(pex_buf *out, const char *in, size_t n)
{
	char text[1024];
	size_t i;

	ck_assert_uint_lt(n + 3, sizeof(text));
	for (i = 0; i < n; i++)
		text[i] = in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
	while (i % 4)
		text[i++] = '=';
	return pex__base64_decode(out, text, i);
}

START_TEST(test_error_table)
{
	ck_assert_str_eq(pex_error_name(PEX_ENOTFOUND), "PEX_ENOTFOUND");
	ck_assert_str_eq(pex_strerror(PEX_ENOTFOUND), "not found");
	ck_assert_str_eq(pex_strerror(PEX_OK), "success");
	ck_assert_str_eq(pex_strerror(-999), "unknown error");
	for (int c = 0; c >= PEX__ERROR_LAST; c--) {
		ck_assert_str_ne(pex_strerror(c), "unknown error");
		ck_assert_str_ne(pex_error_name(c), "PEX_E?");
	}
}
END_TEST

START_TEST(test_error_details)
{
	pex_error_clear();
	ck_assert_ptr_nonnull(pex_error_last());
	ck_assert_ptr_nonnull(pex_error_last()->message);
	ck_assert_int_eq(pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "bad %s at %d", "x", 3), PEX_EINVAL);
	ck_assert_str_eq(pex_error_last()->message, "bad x at 3");
	ck_assert_int_eq(pex_error_last()->code, PEX_EINVAL);
	pex__error_prefix("config");
	ck_assert_str_eq(pex_error_last()->message, "config: bad x at 3");
	/* re-setting an error from its own message keeps the text */
	pex_error_set(PEX_ECONFIG, PEX_ERROR_CLASS_CONFIG, "%s", pex_error_last()->message);
	ck_assert_str_eq(pex_error_last()->message, "config: bad x at 3");
	ck_assert_int_eq(pex_error_last()->code, PEX_ECONFIG);
}
END_TEST

/* ---- buffers and encodings ---- */

START_TEST(test_buf_and_base64)
{
	pex_buf b = PEX_BUF_INIT, d = PEX_BUF_INIT;
	ck_assert_int_eq(pex__buf_printf(&b, "%d-%s", 42, "x"), 0);
	ck_assert_str_eq(b.ptr, "42-x");
	ck_assert_uint_eq(b.size, 4);
	pex__buf_clear(&b);
	ck_assert_int_eq(pex__base64_encode(&b, "hello?>", 7), 0);
	ck_assert_str_eq(b.ptr, "aGVsbG8/Pg==");
	ck_assert_int_eq(pex__base64_decode(&d, b.ptr, b.size), 0);
	ck_assert_str_eq(d.ptr, "hello?>");
	pex__buf_clear(&b);
	ck_assert_int_eq(pex__base64url_encode(&b, "hello?>", 7), 0);
	ck_assert_str_eq(b.ptr, "aGVsbG8_Pg");
	pex__buf_clear(&d);
	ck_assert_int_eq(b64url_decode(&d, b.ptr, b.size), 0);
	ck_assert_str_eq(d.ptr, "hello?>");
	pex__buf_clear(&d);
	ck_assert_int_eq(pex__base64_decode(&d, "aGVsbG8", 7), PEX_EPARSE);
	ck_assert_int_eq(pex__base64_decode(&d, "aGV*bG8=", 8), PEX_EPARSE);
	ck_assert_ptr_nonnull(strstr(pex_error_last()->message, "offset 3"));
	pex__buf_clear(&b);
	ck_assert_int_eq(pex__url_encode(&b, "a b/c?d=é", strlen("a b/c?d=é")), 0);
	ck_assert_str_eq(b.ptr, "a%20b%2Fc%3Fd%3D%C3%A9");
	pex_buf_dispose(&b);
	pex_buf_dispose(&d);
	pex_buf_dispose(&b);   /* twice is fine */
}
END_TEST

/* ---- backoff ---- */

START_TEST(test_backoff_schedule)
{
	/* random 0 gives the lower bound (half the step), a huge one the step. */
	ck_assert_int_eq(pex__backoff_ms(0, 200, 30000, -1, 0), 100);
	ck_assert_int_eq(pex__backoff_ms(0, 200, 30000, -1, 100), 200);
	ck_assert_int_eq(pex__backoff_ms(1, 200, 30000, -1, 0), 200);
	ck_assert_int_eq(pex__backoff_ms(2, 200, 30000, -1, 0), 400);
	ck_assert_int_eq(pex__backoff_ms(3, 200, 30000, -1, 400), 1200);
	ck_assert_int_eq(pex__backoff_ms(3, 200, 30000, -1, 800), 1600);
	/* capped */
	ck_assert_int_eq(pex__backoff_ms(20, 200, 30000, -1, 0), 15000);
	ck_assert_int_eq(pex__backoff_ms(20, 200, 30000, -1, 15000), 30000);
	/* always within [step/2, step] whatever the random draw */
	for (unsigned a = 0; a < 12; a++)
		for (uint64_t r = 0; r < 5000; r += 97) {
			int64_t step = 200LL << a;
			int64_t d;
			if (step > 30000) step = 30000;
			d = pex__backoff_ms(a, 200, 30000, -1, r * 7919u);
			ck_assert_int_ge(d, step / 2);
			ck_assert_int_le(d, step);
		}
	/* Retry-After wins when longer, still capped */
	ck_assert_int_eq(pex__backoff_ms(0, 200, 30000, 2000, 0), 2000);
	ck_assert_int_eq(pex__backoff_ms(0, 200, 30000, 50, 0), 100);
	ck_assert_int_eq(pex__backoff_ms(0, 200, 30000, 120000, 0), 30000);
}
END_TEST

START_TEST(test_retry_after)
{
	ck_assert_int_eq(pex__parse_retry_after("3", 0), 3000);
	ck_assert_int_eq(pex__parse_retry_after(" 0 ", 0), 0);
	ck_assert_int_eq(pex__parse_retry_after("", 0), -1);
	ck_assert_int_eq(pex__parse_retry_after(NULL, 0), -1);
	ck_assert_int_eq(pex__parse_retry_after("3x", 0), -1);
	/* Sun, 06 Nov 1994 08:49:37 GMT = 784111777 */
	ck_assert_int_eq(pex__parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111770), 7000);
	ck_assert_int_eq(pex__parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111790), 0);
	ck_assert(pex__http_status_retryable(429));
	ck_assert(pex__http_status_retryable(503));
	ck_assert(!pex__http_status_retryable(500));
	ck_assert(!pex__http_status_retryable(404));
}
END_TEST

/* ---- JWT ---- */

static EVP_PKEY *gen_p256(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	ck_assert_ptr_nonnull(k);
	return k;
}

static char *to_pem(EVP_PKEY *k)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;
	ck_assert_int_eq(PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL), 1);
	n = BIO_get_mem_data(bio, &data);
	out = strndup(data, (size_t)n);
	BIO_free(bio);
	return out;
}

/* Verify a compact ES256 JWS with OpenSSL: convert R||S to DER first. */
static int verify_es256(const char *jwt, EVP_PKEY *pub)
{
	const char *dot2 = strrchr(jwt, '.');
	pex_buf sig = PEX_BUF_INIT;
	ECDSA_SIG *es;
	unsigned char *der = NULL;
	int derlen, ok;
	EVP_MD_CTX *md;
	ck_assert_ptr_nonnull(dot2);
	ck_assert_int_eq(b64url_decode(&sig, dot2 + 1, strlen(dot2 + 1)), 0);
	ck_assert_uint_eq(sig.size, 64);
	es = ECDSA_SIG_new();
	ECDSA_SIG_set0(es, BN_bin2bn((unsigned char *)sig.ptr, 32, NULL),
		BN_bin2bn((unsigned char *)sig.ptr + 32, 32, NULL));
	derlen = i2d_ECDSA_SIG(es, &der);
	md = EVP_MD_CTX_new();
	ck_assert_int_eq(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub), 1);
	ok = EVP_DigestVerify(md, der, (size_t)derlen, (const unsigned char *)jwt,
		(size_t)(dot2 - jwt)) == 1;
	EVP_MD_CTX_free(md);
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	pex_buf_dispose(&sig);
	return ok;
}

static json_object *decode_part(const char *jwt, int part)
{
	const char *p = jwt, *end;
	pex_buf b = PEX_BUF_INIT;
	json_object *o;
	for (int i = 0; i < part; i++)
		p = strchr(p, '.') + 1;
	end = strchr(p, '.');
	ck_assert_int_eq(b64url_decode(&b, p, end ? (size_t)(end - p) : strlen(p)), 0);
	o = json_tokener_parse(b.ptr);
	pex_buf_dispose(&b);
	ck_assert_ptr_nonnull(o);
	return o;
}

START_TEST(test_jwt_es256_verifies)
{
	EVP_PKEY *k = gen_p256(), *other = gen_p256(), *loaded = NULL;
	char *pem = to_pem(k);
	pex_buf jwt = PEX_BUF_INIT;
	json_object *hdr, *claims, *v;

	ck_assert_int_eq(pex__ec_key_from_pem(&loaded, pem), 0);
	ck_assert_int_eq(pex__jwt_client_assertion(&jwt, loaded, "client123",
		"https://mgr.example.com/oauth/token/", 1700000000, 300), 0);
	ck_assert(verify_es256(jwt.ptr, k));
	ck_assert(!verify_es256(jwt.ptr, other));

	hdr = decode_part(jwt.ptr, 0);
	ck_assert(json_object_object_get_ex(hdr, "alg", &v));
	ck_assert_str_eq(json_object_get_string(v), "ES256");
	ck_assert(json_object_object_get_ex(hdr, "typ", &v));
	ck_assert_str_eq(json_object_get_string(v), "JWT");
	claims = decode_part(jwt.ptr, 1);
	ck_assert(json_object_object_get_ex(claims, "iss", &v));
	ck_assert_str_eq(json_object_get_string(v), "client123");
	ck_assert(json_object_object_get_ex(claims, "sub", &v));
	ck_assert_str_eq(json_object_get_string(v), "client123");
	ck_assert(json_object_object_get_ex(claims, "aud", &v));
	ck_assert_str_eq(json_object_get_string(v), "https://mgr.example.com/oauth/token/");
	ck_assert(json_object_object_get_ex(claims, "iat", &v));
	ck_assert_int_eq(json_object_get_int64(v), 1700000000);
	ck_assert(json_object_object_get_ex(claims, "exp", &v));
	ck_assert_int_eq(json_object_get_int64(v), 1700000300);
	ck_assert(json_object_object_get_ex(claims, "jti", &v));
	ck_assert_int_eq(strlen(json_object_get_string(v)), 36);

	/* a tampered payload no longer verifies */
	{
		char *t = strdup(jwt.ptr);
		char *p = strchr(t, '.') + 3;
		*p = *p == 'A' ? 'B' : 'A';
		ck_assert(!verify_es256(t, k));
		free(t);
	}
	/* two assertions never share a jti */
	{
		pex_buf j2 = PEX_BUF_INIT;
		json_object *c2, *v2;
		ck_assert_int_eq(pex__jwt_client_assertion(&j2, loaded, "client123", "aud", 1, 300), 0);
		c2 = decode_part(j2.ptr, 1);
		ck_assert(json_object_object_get_ex(c2, "jti", &v2));
		ck_assert_str_ne(json_object_get_string(v2), json_object_get_string(v));
		json_object_put(c2);
		pex_buf_dispose(&j2);
	}
	json_object_put(hdr);
	json_object_put(claims);
	pex_buf_dispose(&jwt);
	EVP_PKEY_free(loaded);
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
	free(pem);
}
END_TEST

START_TEST(test_jwt_rejects_bad_keys)
{
	/* any RSA key will do (refused for not being P-256); 1024 bits is quick under valgrind */
	EVP_PKEY *k = NULL, *rsa = EVP_RSA_gen(1024), *p384 = EVP_EC_gen("P-384");
	char *pem_rsa = to_pem(rsa), *pem_384 = to_pem(p384);
	ck_assert_int_eq(pex__ec_key_from_pem(&k, "not a key"), PEX_ECONFIG);
	ck_assert_int_eq(pex__ec_key_from_pem(&k, ""), PEX_ECONFIG);
	ck_assert_int_eq(pex__ec_key_from_pem(&k, pem_rsa), PEX_ECONFIG);
	ck_assert_ptr_nonnull(strstr(pex_error_last()->message, "P-256"));
	ck_assert_ptr_null(strstr(pex_error_last()->message, "BEGIN"));
	ck_assert_int_eq(pex__ec_key_from_pem(&k, pem_384), PEX_ECONFIG);
	ck_assert_ptr_null(k);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(p384);
	free(pem_rsa);
	free(pem_384);
}
END_TEST

/* ---- Pexip error bodies ---- */

START_TEST(test_error_nested_field_shape)
{
	const char *body = "{\"conference\": {\"name\": [\"Virtual Meeting Room with this Name already exists.\"]}}";
	ck_assert_int_eq(pex__pexip_error(400, body, strlen(body), "creating conference"), PEX_EEXISTS);
	ck_assert_str_eq(pex_error_last()->message,
		"creating conference: HTTP 400 Bad Request: conference.name: Virtual Meeting Room with this Name already exists.");
	ck_assert_int_eq(pex_error_last()->http_status, 400);
	ck_assert_uint_eq(pex_error_last()->field_error_count, 1);
	ck_assert_str_eq(pex_error_last()->field_errors[0].resource, "conference");
	ck_assert_str_eq(pex_error_last()->field_errors[0].field, "name");
}
END_TEST

START_TEST(test_error_flat_and_other_shapes)
{
	const char *flat = "{\"pin\": [\"Ensure this value has at most 20 characters.\", \"Digits only.\"]}";
	const char *err = "{\"error\": \"The 'foo' field does not allow filtering.\"}";
	const char *oauth = "{\"error\": \"invalid_client\", \"error_description\": \"bad signature\"}";
	const char *msg = "{\"message\": \"boom\", \"details\": \"db down\"}";
	const char *html = "<html>\n<body>Bad\tGateway</body></html>";

	ck_assert_int_eq(pex__pexip_error(400, flat, strlen(flat), "updating"), PEX_EINVAL);
	ck_assert_str_eq(pex_error_last()->message,
		"updating: HTTP 400 Bad Request: pin: Ensure this value has at most 20 characters.; Digits only.");
	ck_assert_str_eq(pex_error_last()->field_errors[0].resource, "");
	ck_assert_int_eq(pex__pexip_error(400, err, strlen(err), "listing"), PEX_EHTTP);
	ck_assert_str_eq(pex_error_last()->message,
		"listing: HTTP 400 Bad Request: The 'foo' field does not allow filtering.");
	ck_assert_int_eq(pex__pexip_error(401, oauth, strlen(oauth), "token"), PEX_EAUTH);
	ck_assert_str_eq(pex_error_last()->message, "token: HTTP 401 Unauthorized: invalid_client: bad signature");
	ck_assert_int_eq(pex__pexip_error(500, msg, strlen(msg), "x"), PEX_EHTTP);
	ck_assert_str_eq(pex_error_last()->message, "x: HTTP 500 Internal Server Error: boom (db down)");
	ck_assert_int_eq(pex__pexip_error(502, html, strlen(html), "x"), PEX_EHTTP);
	ck_assert_str_eq(pex_error_last()->message, "x: HTTP 502 Bad Gateway: <html> <body>Bad Gateway</body></html>");
	ck_assert_int_eq(pex__pexip_error(404, "", 0, "getting"), PEX_ENOTFOUND);
	ck_assert_str_eq(pex_error_last()->message, "getting: HTTP 404 Not Found");
	ck_assert_int_eq(pex__pexip_error(403, NULL, 0, "x"), PEX_EAUTH);
}
END_TEST

START_TEST(test_location_ids)
{
	long long id = 0;
	ck_assert_int_eq(pex__parse_location_id(&id, "https://host/api/admin/configuration/v1/conference/123/"), 0);
	ck_assert_int_eq(id, 123);
	ck_assert_int_eq(pex__parse_location_id(&id, "/api/admin/configuration/v1/conference/45/"), 0);
	ck_assert_int_eq(id, 45);
	ck_assert_int_eq(pex__parse_location_id(&id, "api/admin/configuration/v1/conference/1234"), 0);
	ck_assert_int_eq(id, 1234);
	ck_assert_int_eq(pex__parse_location_id(&id, "/api/admin/configuration/v1/conference/77/?x=1"), 0);
	ck_assert_int_eq(id, 77);
	ck_assert_int_eq(pex__parse_location_id(&id, ""), PEX_EPARSE);
	ck_assert_int_eq(pex__parse_location_id(&id, NULL), PEX_EPARSE);
	ck_assert_int_eq(pex__parse_location_id(&id, "/api/admin/configuration/v1/conference/"), PEX_EPARSE);
	ck_assert_int_eq(pex__parse_location_id(&id, "/api/admin/conf/abc12/"), PEX_EPARSE);
	ck_assert_int_eq(pex__parse_location_id(&id, "/x/0/"), PEX_EPARSE);
}
END_TEST

/* Pexip's limits count characters (code points), not bytes. */
START_TEST(test_text_chars)
{
	char s[4 * 251 + 1], why[96];
	size_t i;

	for (i = 0; i < 250; i++)
		memcpy(s + 2 * i, "\xc3\xa9", 2);               /* e acute: 2 bytes */
	ck_assert_int_eq(pex__text_chars_ok(s, 500, 250, why, sizeof(why)), 1);
	memcpy(s + 500, "\xc3\xa9", 2);
	ck_assert_int_eq(pex__text_chars_ok(s, 502, 250, why, sizeof(why)), 0);
	ck_assert_str_eq(why, "is 251 characters long (at most 250)");
	for (i = 0; i < 250; i++)
		memcpy(s + 4 * i, "\xf0\x9f\x8e\xa5", 4);       /* U+1F3A5: 4 bytes */
	ck_assert_int_eq(pex__text_chars_ok(s, 1000, 250, why, sizeof(why)), 1);
	ck_assert_int_eq(pex__text_chars_ok(s, 1000, 249, why, sizeof(why)), 0);
	ck_assert_int_eq(pex__text_chars_ok("", 0, 250, why, sizeof(why)), 1);
	ck_assert_int_eq(pex__text_chars_ok("ab\xff", 3, 250, why, sizeof(why)), 0);
	ck_assert_str_eq(why, "is not valid UTF-8 (byte 0xff at offset 2)");
	ck_assert_int_eq(pex__text_chars_ok("a\xc3", 2, 250, why, sizeof(why)), 0);   /* truncated */
	ck_assert_str_eq(why, "is not valid UTF-8 (byte 0xc3 at offset 1)");
	ck_assert_int_eq(pex__text_chars_ok("\xed\xa0\x80", 3, 250, why, sizeof(why)), 0); /* surrogate */
	/* the public name check uses the same rule */
	memcpy(s, "\xc3\xa9", 2);
	for (i = 0; i < 250; i++)
		memcpy(s + 2 * i, "\xc3\xa9", 2);
	s[500] = '\0';
	ck_assert_int_eq(pex_room_name_check(s), 0);
	memcpy(s + 500, "x", 2);
	ck_assert_int_eq(pex_room_name_check(s), PEX_EINVAL);
	ck_assert_str_eq(pex_error_last()->message, "room name is 251 characters long (at most 250)");
	ck_assert_int_eq(pex_room_name_check("bad\xc0name"), PEX_EINVAL);
	ck_assert_str_eq(pex_error_last()->message, "room name is not valid UTF-8 (byte 0xc0 at offset 3)");
	ck_assert_int_eq(pex_room_name_check(""), PEX_EINVAL);
	/* one rule for names everywhere: C1 controls too (U+0085 NEL) */
	ck_assert_int_eq(pex_room_name_check("bad\xc2\x85name"), PEX_EINVAL);
	ck_assert_str_eq(pex_error_last()->message,
		"room name has a control character (U+0085) at offset 3");
	ck_assert_int_eq(pex_room_name_check("bad\x01"), PEX_EINVAL);
	ck_assert_str_eq(pex_error_last()->message,
		"room name has a control character (U+0001) at offset 3");
	ck_assert_int_eq(pex_room_name_check("a name with spaces"), 0);
	ck_assert_int_eq(pex__room_name_ok("vmr a", 5, 1, why, sizeof(why)), 0);
	ck_assert_str_eq(why, "contains whitespace (U+0020) at offset 3");
	ck_assert_int_eq(pex__room_name_ok("vmr\xc2\xa0", 5, 1, why, sizeof(why)), 0);
	ck_assert_str_eq(why, "contains whitespace (U+00A0) at offset 3");
	ck_assert_int_eq(pex__room_name_ok("", 0, 0, why, sizeof(why)), 0);
	ck_assert_str_eq(why, "is empty");
}
END_TEST

/* One rule for every versioned struct's init function and version check. */
START_TEST(test_versioned_structs)
{
	pex_room_spec spec;
	pex_room_filter filter;
	pex_client_options co;
	pex_queue_sqlite_options so;
	pex_tag_rules rules;

	memset(&spec, 0xff, sizeof(spec));
	ck_assert_int_eq(pex_room_spec_init(&spec, PEX_ROOM_SPEC_VERSION), 0);
	ck_assert_uint_eq(spec.version, PEX_ROOM_SPEC_VERSION);
	ck_assert_ptr_null(spec.name);
	ck_assert_int_eq(spec.participant_limit, -1);
	ck_assert_int_eq(pex_room_spec_init(&spec, 2), PEX_EINVAL);
	ck_assert_str_eq(pex_error_last()->message,
		"unsupported pex_room_spec version 2 (this library knows 1..1)");
	ck_assert_int_eq(pex_room_filter_init(NULL, 1), PEX_EINVAL);
	ck_assert_str_eq(pex_error_last()->message, "pex_room_filter_init: the pex_room_filter is NULL");
	ck_assert_int_eq(pex_room_filter_init(&filter, 0), PEX_EINVAL);
	ck_assert_str_eq(pex_error_last()->message,
		"unsupported pex_room_filter version 0 (this library knows 1..1)");
	ck_assert_int_eq(pex_client_options_init(&co, 1), 0);
	ck_assert_int_eq(pex_tag_rules_init(&rules, 1), 0);
	ck_assert_int_eq(pex_queue_sqlite_options_init(&so, 7), PEX_EINVAL);
	ck_assert_str_eq(pex_error_last()->message,
		"unsupported pex_queue_sqlite_options version 7 (this library knows 1..1)");
	/* a struct whose version this library does not know is refused where it is used */
	spec.version = 9;
	spec.name = "vmr_x";
	{
		long long id = 0;
		pex_client *c = NULL;
		co.url = "https://pexip.example.com";
		co.username = "u";
		co.password = "p";
		ck_assert_int_eq(pex_client_new(&c, &co), 0);
		ck_assert_int_eq(pex_room_create(&id, c, &spec), PEX_EINVAL);
		ck_assert_str_eq(pex_error_last()->message,
			"unsupported pex_room_spec version 9 (this library knows 1..1)");
		pex_client_free(c);
	}
}
END_TEST

/* One parser for the times Pexip writes (creation_time). */
START_TEST(test_pexip_time)
{
	static const struct { const char *text; long long t; } cases[] = {
		{ "2024-01-02T03:04:05", 1704164645 },
		{ "2024-01-02T03:04:05.123456", 1704164645 },
		{ "2024-01-02T03:04:05Z", 1704164645 },
		{ "2024-01-02T03:04:05.5+00:00", 1704164645 },
		{ "2024-01-02T04:34:05+01:30", 1704164645 },
		{ "2024-01-02T01:04:05-02:00", 1704164645 },
		{ "", -1 },
		{ NULL, -1 },
		{ "yesterday", -1 },
		{ "2024-01-02T03:04:05Zjunk", -1 },
		{ "2024-01-02T03:04:05+0a:00", -1 },
		{ "2024-01-02T03:04:05+01:00x", -1 },
	};
	size_t i;

	for (i = 0; i < PEX__ARRAY_SIZE(cases); i++)
		ck_assert_msg(pex__pexip_time(cases[i].text) == cases[i].t, "'%s': %lld, not %lld",
			cases[i].text ? cases[i].text : "(null)", pex__pexip_time(cases[i].text),
			cases[i].t);
}
END_TEST

/* ---- log escaping ---- */

/* The one rule for untrusted text in a message (config values and keys). */
START_TEST(test_text_escape)
{
	char out[32];

	pex__text_escape(out, sizeof(out), "a\tb\xff\"c\\", 7, "\"\\", 80);
	ck_assert_str_eq(out, "a\\x09b\\xff\\\"c\\\\");
	pex__text_escape(out, sizeof(out), "caf\xc3\xa9'", 6, "'", 6);
	ck_assert_str_eq(out, "caf\xc3\xa9\\'");
	/* at most max bytes read, then "..." */
	pex__text_escape(out, sizeof(out), "0123456789", 10, "", 4);
	ck_assert_str_eq(out, "0123...");
	/* no more than fits: whole escapes and sequences only */
	pex__text_escape(out, 10, "\x01\x02\x03", 3, "", 80);
	ck_assert_str_eq(out, "\\x01...");
	pex__text_escape(out, 1, "abc", 3, "", 80);
	ck_assert_str_eq(out, "");
}
END_TEST

static char g_logged[1100];

static void keep_log(pex_log_level level, const char *message, void *payload)
{
	(void)level;
	(void)payload;
	snprintf(g_logged, sizeof(g_logged), "%s", message);
}

START_TEST(test_log_escape)
{
	char out[64], tiny[6];
	pex__logger lg = { keep_log, NULL, PEX_LOG_DEBUG, NULL, NULL };

	/* control characters and bytes that are not UTF-8 become \xHH */
	ck_assert_uint_eq(pex_log_escape(out, sizeof(out), "a\nb\x1b[31m\xff\xc3\xa9"), 20);
	ck_assert_str_eq(out, "a\\x0ab\\x1b[31m\\xff\xc3\xa9");
	/* overlong, surrogate, truncated sequences; DEL */
	pex_log_escape(out, sizeof(out), "\xc0\xaf\xed\xa0\x80\xe2\x82\x7f");
	ck_assert_str_eq(out, "\\xc0\\xaf\\xed\\xa0\\x80\\xe2\\x82\\x7f");
	/* escaping twice changes nothing; the backslash stays as it is */
	ck_assert_uint_eq(pex_log_escape(out, sizeof(out), "x\\x0ay"), 6);
	ck_assert_str_eq(out, "x\\x0ay");
	/* whole escapes only, and the length the whole needs */
	ck_assert_uint_eq(pex_log_escape(tiny, sizeof(tiny), "ab\ncd"), 8);
	ck_assert_str_eq(tiny, "ab");
	ck_assert_uint_eq(pex_log_escape(NULL, 0, "\x01"), 4);
	ck_assert_uint_eq(pex_log_escape(out, sizeof(out), NULL), 0);
	ck_assert_str_eq(out, "");
	/* every message the library logs goes through it */
	pex__log(&lg, PEX_LOG_INFO, "room '%s'", "x\nroom-server: error: FORGED");
	ck_assert_str_eq(g_logged, "room 'x\\x0aroom-server: error: FORGED'");
}
END_TEST

/* ---- log records ---- */

static char g_rec_keys[256], g_rec_values[1100];

static void keep_record(pex_log_level level, const char *message, const pex_log_field *fields,
	size_t count, void *payload)
{
	size_t i;
	(void)level;
	(void)payload;
	snprintf(g_logged, sizeof(g_logged), "%s", message);
	g_rec_keys[0] = g_rec_values[0] = '\0';
	for (i = 0; i < count; i++) {
		char v[600];
		if (fields[i].str)
			snprintf(v, sizeof(v), "%s|", fields[i].str);
		else
			snprintf(v, sizeof(v), "#%lld|", fields[i].num);
		strncat(g_rec_keys, fields[i].key, sizeof(g_rec_keys) - strlen(g_rec_keys) - 2);
		strcat(g_rec_keys, ",");
		strncat(g_rec_values, v, sizeof(g_rec_values) - strlen(g_rec_values) - 1);
	}
}

/* Fields reach a record callback typed and escaped, and a string
 * callback as " key=value" after the message. */
START_TEST(test_log_fields)
{
	pex__logger lg = { keep_log, NULL, PEX_LOG_INFO, NULL, NULL };
	pex_log_field f[] = { { "method", "GET", 0 }, { "path", "/a b\n\"c", 0 }, { "status", NULL, 200 },
		{ "error", "", 0 } };

	pex__log_fields(&lg, PEX_LOG_INFO, f, 4, "pexip %s", "request");
	ck_assert_str_eq(g_logged, "pexip request method=GET path=\"/a b\\\\x0a\\\"c\" status=200 error=\"\"");
	lg.record_cb = keep_record;
	pex__log_fields(&lg, PEX_LOG_INFO, f, 4, "pexip %s", "request");
	ck_assert_str_eq(g_logged, "pexip request");
	ck_assert_str_eq(g_rec_keys, "method,path,status,error,");
	ck_assert_str_eq(g_rec_values, "GET|/a b\\x0a\"c|#200||");
	/* the level still applies; plain lines reach the record callback too */
	g_logged[0] = '\0';
	pex__log_fields(&lg, PEX_LOG_DEBUG, f, 4, "dropped");
	ck_assert_str_eq(g_logged, "");
	pex__log(&lg, PEX_LOG_WARN, "plain");
	ck_assert_str_eq(g_logged, "plain");
	ck_assert_str_eq(g_rec_keys, "");
}
END_TEST

static Suite *core_suite(void)
{
	Suite *s = suite_create("core");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_error_table);
	tcase_add_test(tc, test_log_fields);
	tcase_add_test(tc, test_error_details);
	tcase_add_test(tc, test_buf_and_base64);
	tcase_add_test(tc, test_backoff_schedule);
	tcase_add_test(tc, test_retry_after);
	tcase_add_test(tc, test_jwt_es256_verifies);
	tcase_add_test(tc, test_jwt_rejects_bad_keys);
	tcase_add_test(tc, test_error_nested_field_shape);
	tcase_add_test(tc, test_error_flat_and_other_shapes);
	tcase_add_test(tc, test_location_ids);
	tcase_add_test(tc, test_text_chars);
	tcase_add_test(tc, test_pexip_time);
	tcase_add_test(tc, test_text_escape);
	tcase_add_test(tc, test_versioned_structs);
	tcase_add_test(tc, test_log_escape);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(core_suite());
	int failed;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
