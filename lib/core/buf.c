/* pex_buf and the allocation helpers. Every allocation of the library goes
 * through pex__malloc() and its siblings, so running out of memory always
 * sets PEX_ENOMEM with a message, and every string the library returns
 * comes in a pex_buf the caller owns (pex_buf(3)). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "internal.h"

void *pex__malloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		pex__error_nomem();
	return p;
}

void *pex__calloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		pex__error_nomem();
	return p;
}

void *pex__realloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		pex__error_nomem();
	return q;
}

char *pex__strdup(const char *s)
{
	if (!s)
		return NULL;
	return pex__strndup(s, strlen(s));
}

char *pex__strndup(const char *s, size_t n)
{
	char *p;
	if (!s)
		return NULL;
	p = pex__malloc(n + 1);
	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void pex_buf_dispose(pex_buf *b)
{
	if (!b)
		return;
	free(b->ptr);
	b->ptr = NULL;
	b->size = 0;
	b->asize = 0;
}

int pex__buf_grow(pex_buf *b, size_t need)
{
	size_t want, n;
	char *p;
	if (need > SIZE_MAX / 2 - b->size)
		return pex__error_nomem();
	want = b->size + need + 1;
	if (want <= b->asize)
		return 0;
	n = b->asize ? b->asize : 64;
	while (n < want)
		n *= 2;
	p = pex__realloc(b->ptr, n);
	if (!p)
		return PEX_ENOMEM;
	b->ptr = p;
	b->asize = n;
	return 0;
}

int pex__buf_put(pex_buf *b, const void *data, size_t len)
{
	int err = pex__buf_grow(b, len);
	if (err < 0)
		return err;
	if (len)
		memcpy(b->ptr + b->size, data, len);
	b->size += len;
	b->ptr[b->size] = '\0';
	return 0;
}

int pex__buf_puts(pex_buf *b, const char *s)
{
	return pex__buf_put(b, s, strlen(s));
}

int pex__buf_putc(pex_buf *b, char c)
{
	return pex__buf_put(b, &c, 1);
}

int pex__buf_vprintf(pex_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n, err;
	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "bad format string");
	if ((err = pex__buf_grow(b, (size_t)n)) < 0)
		return err;
	vsnprintf(b->ptr + b->size, (size_t)n + 1, fmt, ap);
	b->size += (size_t)n;
	return 0;
}

int pex__buf_printf(pex_buf *b, const char *fmt, ...)
{
	va_list ap;
	int err;
	va_start(ap, fmt);
	err = pex__buf_vprintf(b, fmt, ap);
	va_end(ap);
	return err;
}

void pex__buf_clear(pex_buf *b)
{
	b->size = 0;
	if (b->ptr)
		b->ptr[0] = '\0';
}

char *pex__buf_detach(pex_buf *b)
{
	char *p = b->ptr;
	if (!p)
		p = pex__strdup("");
	b->ptr = NULL;
	b->size = 0;
	b->asize = 0;
	return p;
}

int pex__json_to_buf(pex_buf *out, struct json_object *obj, int err)
{
	const char *text;

	if (err >= 0 && !obj)
		err = pex__error_nomem();
	if (err >= 0) {
		text = json_object_to_json_string_ext(obj,
			JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
		if (!text)
			err = pex__error_nomem();
		else {
			pex__buf_clear(out);
			err = pex__buf_puts(out, text);
		}
	}
	json_object_put(obj);
	return err;
}

int pex__json_add(struct json_object *obj, const char *key, struct json_object *v, int null_ok)
{
	if (!obj || (!v && !null_ok) || json_object_object_add(obj, key, v) != 0) {
		json_object_put(v);
		return pex__error_nomem();
	}
	return 0;
}
