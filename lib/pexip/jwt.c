/* ES256 JWT client assertions (RFC 7515/7518/7523) with OpenSSL. */
#include <string.h>

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <json-c/json.h>

#include "pexip/client_internal.h"

int pex__ec_key_from_pem(EVP_PKEY **out, const char *pem)
{
	BIO *bio;
	EVP_PKEY *key;
	char group[64];
	size_t glen = 0;

	*out = NULL;
	if (!pem || !*pem)
		return pex_error_set(PEX_ECONFIG, PEX_ERROR_CLASS_CONFIG,
			"OAuth2 private key is empty");
	bio = BIO_new_mem_buf(pem, -1);
	if (!bio)
		return pex__error_nomem();
	key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	ERR_clear_error();
	if (!key)
		return pex_error_set(PEX_ECONFIG, PEX_ERROR_CLASS_CONFIG,
			"OAuth2 private key is not a readable PEM private key");
	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
	    EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof(group), &glen) != 1 ||
	    strcmp(group, "prime256v1") != 0) {
		EVP_PKEY_free(key);
		ERR_clear_error();
		return pex_error_set(PEX_ECONFIG, PEX_ERROR_CLASS_CONFIG,
			"OAuth2 private key must be an EC P-256 (prime256v1) key for ES256");
	}
	*out = key;
	return 0;
}

int pex__jwt_es256_sign(pex_buf *out, EVP_PKEY *key, const char *claims_json)
{
	static const char header[] = "{\"alg\":\"ES256\",\"typ\":\"JWT\"}";
	EVP_MD_CTX *md = NULL;
	unsigned char der[80], raw[64];
	const unsigned char *dp = der;
	size_t derlen = sizeof(der), signing_len;
	ECDSA_SIG *sig = NULL;
	const BIGNUM *r, *s;
	int err;

	if ((err = pex__base64url_encode(out, header, sizeof(header) - 1)) < 0 ||
	    (err = pex__buf_putc(out, '.')) < 0 ||
	    (err = pex__base64url_encode(out, claims_json, strlen(claims_json))) < 0)
		return err;
	signing_len = out->size;

	md = EVP_MD_CTX_new();
	if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, der, &derlen, (const unsigned char *)out->ptr, signing_len) != 1)
		goto fail;
	sig = d2i_ECDSA_SIG(NULL, &dp, (long)derlen);
	if (!sig)
		goto fail;
	ECDSA_SIG_get0(sig, &r, &s);
	/* RFC 7518 §3.4: R and S as fixed 32-byte big-endian integers. */
	if (BN_bn2binpad(r, raw, 32) != 32 || BN_bn2binpad(s, raw + 32, 32) != 32)
		goto fail;
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(md);
	if ((err = pex__buf_putc(out, '.')) < 0)
		return err;
	return pex__base64url_encode(out, raw, sizeof(raw));
fail:
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return pex_error_set(PEX_ERROR, PEX_ERROR_CLASS_AUTH, "ES256 signing failed");
}

int pex__jwt_client_assertion(pex_buf *out, EVP_PKEY *key, const char *client_id,
	const char *audience, int64_t now, int64_t lifetime_s)
{
	unsigned char rnd[18];
	char jti[37];
	static const char hex[] = "0123456789abcdef";
	json_object *claims;
	size_t i;
	int err;

	if ((err = pex__random_bytes(rnd, sizeof(rnd))) < 0)
		return err;
	for (i = 0; i < sizeof(rnd); i++) {
		jti[2 * i] = hex[rnd[i] >> 4];
		jti[2 * i + 1] = hex[rnd[i] & 15];
	}
	jti[36] = '\0';

	claims = json_object_new_object();
	if (!claims)
		return pex__error_nomem();
	json_object_object_add(claims, "iss", json_object_new_string(client_id));
	json_object_object_add(claims, "sub", json_object_new_string(client_id));
	json_object_object_add(claims, "aud", json_object_new_string(audience));
	json_object_object_add(claims, "iat", json_object_new_int64(now));
	json_object_object_add(claims, "exp", json_object_new_int64(now + lifetime_s));
	json_object_object_add(claims, "jti", json_object_new_string(jti));
	err = pex__jwt_es256_sign(out,
		key, json_object_to_json_string_ext(claims, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(claims);
	return err;
}
