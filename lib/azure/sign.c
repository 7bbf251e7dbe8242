/*
 * Request building and Shared Key signing. Pure: no I/O.
 *
 * The URL path and the canonicalized resource are built from the same
 * string, and the query string and the signed parameter lines from the same
 * (name, un-encoded value) list, so the two can never disagree.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "azure/azure_internal.h"

int pex__azure_resource_path(pex_buf *out, const pex__azure_conn *c, const char *queue,
	const char *suffix)
{
	return pex__buf_printf(out, "%s/%s%s", c->base_path ? c->base_path : "", queue,
		suffix ? suffix : "");
}

int pex__azure_append_query(pex_buf *out, const pex__azure_param *params, size_t n)
{
	size_t i;
	int err;
	for (i = 0; i < n; i++) {
		if ((err = pex__buf_putc(out, i == 0 ? '?' : '&')) < 0 ||
		    (err = pex__url_encode(out, params[i].name, strlen(params[i].name))) < 0 ||
		    (err = pex__buf_putc(out, '=')) < 0 ||
		    (err = pex__url_encode(out, params[i].value, strlen(params[i].value))) < 0)
			return err;
	}
	return 0;
}

int pex__azure_append_sas(pex_buf *url, const char *sas)
{
	if (!sas)
		return 0;
	if (*sas == '?')
		sas++;
	if (*sas == '\0')
		return 0;
	if (pex__buf_putc(url, memchr(url->ptr ? url->ptr : "", '?', url->size) ? '&' : '?') < 0)
		return PEX_ENOMEM;
	return pex__buf_puts(url, sas);
}

/* A (name, value) pair owned by the canonicaliser. */
typedef struct kv {
	char *name;
	char *value;
} kv;

static int kv_cmp(const void *a, const void *b)
{
	const kv *x = a, *y = b;
	int r = strcmp(x->name, y->name);
	return r ? r : strcmp(x->value, y->value);
}

static void kv_free(kv *v, size_t n)
{
	size_t i;
	for (i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].value);
	}
	free(v);
}

static char *lower_dup(const char *s)
{
	char *d = pex__strdup(s), *p;
	if (d)
		for (p = d; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	return d;
}

/* Trim the ends and fold inner runs of whitespace into one space. */
static char *fold_dup(const char *s)
{
	pex_buf b = PEX_BUF_INIT;
	int space = 0;
	while (*s == ' ' || *s == '\t')
		s++;
	if (pex__buf_grow(&b, strlen(s)) < 0)
		return NULL;
	for (; *s; s++) {
		if (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') {
			space = 1;
			continue;
		}
		if (space && b.size)
			pex__buf_putc(&b, ' ');
		space = 0;
		pex__buf_putc(&b, *s);
	}
	return b.ptr ? pex__buf_detach(&b) : pex__strdup("");
}

static int append_canonical_headers(pex_buf *out, const pex__azure_header *h, size_t n)
{
	kv *v = NULL;
	size_t i, m = 0;
	int err = 0;
	if (n && !(v = pex__calloc(n, sizeof(*v))))
		return PEX_ENOMEM;
	for (i = 0; i < n; i++) {
		if (strncasecmp(h[i].name, "x-ms-", 5) != 0)
			continue;
		if (!(v[m].name = lower_dup(h[i].name)) || !(v[m].value = fold_dup(h[i].value))) {
			m++;
			err = pex__error_nomem();
			goto done;
		}
		m++;
	}
	if (m > 1)
		qsort(v, m, sizeof(*v), kv_cmp);
	for (i = 0; i < m && err == 0; i++)
		err = pex__buf_printf(out, "%s:%s\n", v[i].name, v[i].value);
done:
	kv_free(v, m);
	return err;
}

static int append_canonical_resource(pex_buf *out, const char *account, const char *path,
	const pex__azure_param *p, size_t n)
{
	kv *v = NULL;
	size_t i, m = 0;
	int err;
	if ((err = pex__buf_printf(out, "/%s%s", account ? account : "", path)) < 0)
		return err;
	if (n && !(v = pex__calloc(n, sizeof(*v))))
		return PEX_ENOMEM;
	for (m = 0; m < n; m++) {
		if (!(v[m].name = lower_dup(p[m].name)) || !(v[m].value = pex__strdup(p[m].value))) {
			m++;
			err = pex__error_nomem();
			goto done;
		}
	}
	if (m > 1)
		qsort(v, m, sizeof(*v), kv_cmp);
	for (i = 0; i < m && err == 0; i++) {
		/* a repeated name is one line, its sorted values joined by ',' */
		if (i > 0 && strcmp(v[i].name, v[i - 1].name) == 0)
			err = pex__buf_printf(out, ",%s", v[i].value);
		else
			err = pex__buf_printf(out, "\n%s:%s", v[i].name, v[i].value);
	}
done:
	kv_free(v, m);
	return err;
}

int pex__azure_string_to_sign(pex_buf *out, const char *verb, size_t content_length,
	const char *content_type, const pex__azure_header *headers, size_t nheaders,
	const char *account, const char *path, const pex__azure_param *params, size_t nparams)
{
	char len[32] = "";
	int err;
	if (content_length > 0)
		snprintf(len, sizeof(len), "%zu", content_length);
	/* VERB, Content-Encoding, Content-Language, Content-Length, Content-MD5,
	 * Content-Type, Date, If-Modified-Since, If-Match, If-None-Match,
	 * If-Unmodified-Since, Range: we never send the empty ones. */
	if ((err = pex__buf_printf(out, "%s\n\n\n%s\n\n%s\n\n\n\n\n\n\n", verb, len,
			content_type ? content_type : "")) < 0 ||
	    (err = append_canonical_headers(out, headers, nheaders)) < 0 ||
	    (err = append_canonical_resource(out, account, path, params, nparams)) < 0)
		return err;
	return 0;
}

int pex__azure_hmac_sha256_b64(pex_buf *out, const unsigned char *key, size_t key_len,
	const char *sts, size_t sts_len)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	if (key_len > (size_t)INT32_MAX ||
	    !HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)sts, sts_len, mac, &mac_len))
		return pex_error_set(PEX_ERROR, PEX_ERROR_CLASS_AZURE, "HMAC-SHA256 failed");
	return pex__base64_encode(out, mac, mac_len);
}

/* Scrub and free a buffer that may hold a secret. */
static void scrub_dispose(pex_buf *b)
{
	if (b->ptr)
		memset(b->ptr, 0, b->size);
	pex_buf_dispose(b);
}

void pex__azure_request_dispose(pex__azure_request *r)
{
	if (!r)
		return;
	scrub_dispose(&r->url);
	scrub_dispose(&r->headers);
}

int pex__azure_request_build(pex__azure_request *out, const pex__azure_conn *c, const char *date,
	const char *verb, const char *queue, const char *suffix, const pex__azure_param *params,
	size_t nparams, const char *content_type, size_t content_length)
{
	/* the x-ms-* headers: sent and signed from this one list */
	const pex__azure_header xms[] = {
		{ "x-ms-date", date },
		{ "x-ms-version", PEX__AZURE_VERSION },
	};
	int has_length = strcmp(verb, "GET") != 0 && strcmp(verb, "HEAD") != 0;
	pex_buf path = PEX_BUF_INIT, sts = PEX_BUF_INIT, sig = PEX_BUF_INIT;
	size_t i;
	int err;

	memset(out, 0, sizeof(*out));
	if ((err = pex__azure_resource_path(&path, c, queue, suffix)) < 0 ||
	    (err = pex__buf_printf(&out->url, "%s%s", c->origin, path.ptr)) < 0 ||
	    (err = pex__azure_append_query(&out->url, params, nparams)) < 0)
		goto done;
	for (i = 0; i < PEX__ARRAY_SIZE(xms) && err == 0; i++)
		err = pex__buf_printf(&out->headers, "%s: %s\n", xms[i].name, xms[i].value);
	if (err == 0 && has_length)
		err = pex__buf_printf(&out->headers, "Content-Length: %zu\n", content_length);
	if (err == 0 && content_type)
		err = pex__buf_printf(&out->headers, "Content-Type: %s\n", content_type);
	/* no "Expect: 100-continue" */
	if (err == 0)
		err = pex__buf_puts(&out->headers, "Expect:\n");
	if (err < 0)
		goto done;

	if (c->key) {
		/* Shared Key: sign exactly the values sent above */
		if ((err = pex__azure_string_to_sign(&sts, verb, content_length, content_type, xms,
				PEX__ARRAY_SIZE(xms), c->account, path.ptr, params, nparams)) < 0 ||
		    (err = pex__azure_hmac_sha256_b64(&sig, c->key, c->key_len, sts.ptr,
				sts.size)) < 0 ||
		    (err = pex__buf_printf(&out->headers, "Authorization: SharedKey %s:%s\n",
				c->account, sig.ptr)) < 0)
			goto done;
	} else if ((err = pex__azure_append_sas(&out->url, c->sas)) < 0) {
		goto done;
	}
done:
	pex_buf_dispose(&path);
	scrub_dispose(&sts);
	scrub_dispose(&sig);
	if (err < 0)
		pex__azure_request_dispose(out);
	return err;
}
