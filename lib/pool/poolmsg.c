/*
 * The pool message codec: UTF-8 JSON out, tolerant in. See poolmsg.h.
 *
 * What is written is plain JSON, which step 3 reads; steps 1 and 2 read what
 * base64 producers left: earlier versions of this codec (base64(JSON) in
 * sqlite rows; in Azure, once the backend has removed its own layer),
 * Functions output bindings whose text was not decoded by a backend, and the
 * old Python app's base64 names.
 *
 * Decoding order, first match wins:
 *   1. the text is base64 and decodes to a JSON object  -> JSON
 *   2. the text is base64 and decodes to a plausible name -> bare name
 *   3. the raw text is a JSON object ('{' or '[' first)   -> JSON
 *   4. the raw text is a plausible name                   -> bare name
 * A raw name made only of base64 characters whose decoding is also a
 * plausible name would be misread by step 2; random bytes rarely decode to
 * printable UTF-8, and generated pool names contain '_' or '-', which base64
 * never does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "pool/poolmsg.h"

void pex__room_ref_dispose(struct pex__room_ref *r)
{
	if (!r)
		return;
	free(r->name);
	free(r->alias);
	free(r->guest_pin);
	memset(r, 0, sizeof(*r));
}

/* ---- plausibility ---- */


int pex__room_name_plausible(const char *s, size_t len, char *why, size_t why_size)
{
	return pex__room_name_ok(s, len, 1, why, why_size);
}

/* ---- encoding ---- */

/* 1, or 0 with the offset of the first byte that is not valid UTF-8. */
static int utf8_valid(const char *s, size_t len, size_t *bad)
{
	return (*bad = pex__utf8_invalid_at(s, len)) == len;
}

static int add_string(json_object *obj, const char *key, const char *value)
{
	json_object *v = NULL;

	if (value && !(v = json_object_new_string(value)))
		return pex__error_nomem();
	if (json_object_object_add(obj, key, v) != 0) {
		json_object_put(v);
		return pex__error_nomem();
	}
	return 0;
}

static int add_int(json_object *obj, const char *key, long long value)
{
	json_object *v = json_object_new_int64(value);

	if (!v || json_object_object_add(obj, key, v) != 0) {
		json_object_put(v);
		return pex__error_nomem();
	}
	return 0;
}

int pex__poolmsg_encode(pex_buf *out, const struct pex__room_ref *r)
{
	json_object *obj;
	char why[128];
	size_t bad = 0;
	int err;

	if (!out || !r || !r->name)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pool message: a room name is required");
	if (!pex__room_name_plausible(r->name, strlen(r->name), why, sizeof(why)))
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pool message: the room name %s", why);
	if (r->id < 0 || r->created < 0)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pool message: negative %s for room '%s'", r->id < 0 ? "id" : "created time",
			r->name);
	/* json-c copies bytes as they are: keep the output UTF-8 */
	if (r->alias && !utf8_valid(r->alias, strlen(r->alias), &bad))
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pool message: the alias of room '%s' is not valid UTF-8 (offset %zu)",
			r->name, bad);
	if (r->guest_pin && !utf8_valid(r->guest_pin, strlen(r->guest_pin), &bad))
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pool message: the guest PIN of room '%s' is not valid UTF-8 (offset %zu)",
			r->name, bad);
	if (!(obj = json_object_new_object()))
		return pex__error_nomem();
	if ((err = add_string(obj, "name", r->name)) == 0 &&
	    (err = add_int(obj, "id", r->id)) == 0 &&
	    (err = add_string(obj, "alias", r->alias)) == 0 &&
	    (err = add_string(obj, "guest_pin", r->guest_pin)) == 0)
		err = add_int(obj, "created", r->created);
	return pex__json_to_buf(out, obj, err);
}

/* ---- decoding ---- */

static int is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void trim(const char **s, size_t *len)
{
	while (*len && is_space((unsigned char)**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len && is_space((unsigned char)(*s)[*len - 1]))
		(*len)--;
}

static int looks_base64(const char *s, size_t len)
{
	size_t i;

	if (len % 4 != 0)
		return 0;
	for (i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '='))
			return 0;
	}
	return 1;
}

static int parse_error(const char *where, const char *fmt, const char *detail)
	PEX_PRINTF(2, 0);
static int parse_error(const char *where, const char *fmt, const char *detail)
{
	char msg[256];

	snprintf(msg, sizeof(msg), fmt, detail);
	return pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_JSON, "pool message%s: %s", where, msg);
}

static const char *type_name(json_object *v)
{
	return v ? json_type_to_name(json_object_get_type(v)) : "null";
}

/* An optional integer field: null/missing = 0; integer, integral double or
 * digit string accepted; negative rejected. */
static int get_count(long long *out, json_object *obj, const char *key, const char *where,
	int allow_iso_time)
{
	json_object *v = NULL;
	char msg[160];

	*out = 0;
	if (!json_object_object_get_ex(obj, key, &v) || !v)
		return 0;
	switch (json_object_get_type(v)) {
	case json_type_int:
		*out = (long long)json_object_get_int64(v);
		break;
	case json_type_double: {
		double d = json_object_get_double(v);
		/* NaN, infinities and values past long long are not counts (and
		 * converting them would be undefined) */
		if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) ||
		    d != (double)(long long)d)
			goto bad;
		*out = (long long)d;
		break;
	}
	case json_type_string: {
		const char *s = json_object_get_string(v);
		char *end;
		if (*s >= '0' && *s <= '9') {
			long long n = strtoll(s, &end, 10);
			if (*end == '\0') {
				*out = n;
				break;
			}
		}
		/* Pexip's creation_time: "2024-01-02T03:04:05[.ffffff][Z|+HH:MM]" */
		if (allow_iso_time && (*out = pex__pexip_time(s)) >= 0)
			break;
		goto bad;
	}
	default:
		goto bad;
	}
	if (*out < 0) {
		snprintf(msg, sizeof(msg), "field \"%s\" must not be negative", key);
		return parse_error(where, "%s", msg);
	}
	return 0;
bad:
	snprintf(msg, sizeof(msg), "field \"%s\" must be %s, not %s", key,
		allow_iso_time ? "a Unix time or a Pexip (ISO 8601) time" : "an integer",
		type_name(v));
	return parse_error(where, "%s", msg);
}

/* An optional string field: null/missing = NULL. */
static int get_string(char **out, json_object *obj, const char *key, const char *where)
{
	json_object *v = NULL;
	char msg[160];
	size_t bad = 0;

	*out = NULL;
	if (!json_object_object_get_ex(obj, key, &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_string)) {
		snprintf(msg, sizeof(msg), "field \"%s\" must be a string, not %s", key,
			type_name(v));
		return parse_error(where, "%s", msg);
	}
	if (!utf8_valid(json_object_get_string(v), (size_t)json_object_get_string_len(v), &bad)) {
		snprintf(msg, sizeof(msg), "field \"%s\" is not valid UTF-8 (offset %zu)", key, bad);
		return parse_error(where, "%s", msg);
	}
	if (!(*out = pex__strdup(json_object_get_string(v))))
		return PEX_ENOMEM;
	return 0;
}

static int decode_json(struct pex__room_ref *out, const char *text, size_t len,
	const char *where)
{
	json_tokener *tok;
	json_object *obj, *name = NULL;
	enum json_tokener_error jerr;
	char why[160], msg[224];
	size_t end;
	int err = 0;

	if (!(tok = json_tokener_new()))
		return pex__error_nomem();
	obj = json_tokener_parse_ex(tok, text, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!obj || jerr != json_tokener_success) {
		json_object_put(obj);
		if (jerr == json_tokener_continue)
			return parse_error(where, "%s", "is not valid JSON: unexpected end of input");
		return parse_error(where, "is not valid JSON: %s", json_tokener_error_desc(jerr));
	}
	while (end < len && is_space((unsigned char)text[end]))
		end++;
	if (end < len) {
		err = parse_error(where, "%s", "is not valid JSON: trailing data after the object");
		goto done;
	}
	if (!json_object_is_type(obj, json_type_object)) {
		err = parse_error(where, "JSON must be an object, not %s", type_name(obj));
		goto done;
	}
	if (!json_object_object_get_ex(obj, "name", &name) || !name) {
		err = parse_error(where, "%s", "JSON has no \"name\"");
		goto done;
	}
	if (!json_object_is_type(name, json_type_string)) {
		err = parse_error(where, "field \"name\" must be a string, not %s", type_name(name));
		goto done;
	}
	if (!pex__room_name_plausible(json_object_get_string(name),
			(size_t)json_object_get_string_len(name), why, sizeof(why))) {
		snprintf(msg, sizeof(msg), "field \"name\" %s", why);
		err = parse_error(where, "%s", msg);
		goto done;
	}
	if (!(out->name = pex__strdup(json_object_get_string(name)))) {
		err = PEX_ENOMEM;
		goto done;
	}
	if ((err = get_count(&out->id, obj, "id", where, 0)) < 0 ||
	    (err = get_string(&out->alias, obj, "alias", where)) < 0 ||
	    (err = get_string(&out->guest_pin, obj, "guest_pin", where)) < 0 ||
	    (err = get_count(&out->created, obj, "created", where, 1)) < 0)
		goto done;
done:
	json_object_put(obj);
	if (err < 0)
		pex__room_ref_dispose(out);
	return err;
}

static int decode_name(struct pex__room_ref *out, const char *text, size_t len)
{
	if (!(out->name = pex__strndup(text, len)))
		return PEX_ENOMEM;
	return 0;
}

int pex__poolmsg_decode(struct pex__room_ref *out, const void *data, size_t len)
{
	const char *text = data;
	char why[160];
	int err;

	if (!out)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pex__poolmsg_decode: out is NULL");
	memset(out, 0, sizeof(*out));
	if (!data && len)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pex__poolmsg_decode: no data");
	if (len > PEX__POOLMSG_MAX_SIZE)
		return pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_INVALID,
			"pool message is %zu bytes; at most %d are accepted", len,
			PEX__POOLMSG_MAX_SIZE);
	trim(&text, &len);
	if (len == 0)
		return pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_INVALID,
			"pool message is empty");

	if (looks_base64(text, len)) {
		pex_buf dec = PEX_BUF_INIT;
		if (pex__base64_decode(&dec, text, len) == 0) {
			const char *d = dec.ptr;
			size_t dlen = dec.size;
			trim(&d, &dlen);
			if (dlen && d[0] == '{') {
				err = decode_json(out, d, dlen, " (base64)");
				pex_buf_dispose(&dec);
				return err;
			}
			if (dlen && memchr(d, '\0', dlen) == NULL &&
			    pex__room_name_plausible(d, dlen, why, sizeof(why))) {
				err = decode_name(out, d, dlen);
				pex_buf_dispose(&dec);
				return err;
			}
		}
		pex_buf_dispose(&dec);
		/* not ours after all: read the text as it is */
	}
	if (text[0] == '{' || text[0] == '[')
		return decode_json(out, text, len, "");
	if (memchr(text, '\0', len) != NULL)
		return pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_INVALID,
			"pool message is neither JSON nor a room name: it contains a NUL byte");
	if (!pex__room_name_plausible(text, len, why, sizeof(why)))
		return pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_INVALID,
			"pool message is neither JSON nor a plausible room name: it %s", why);
	return decode_name(out, text, len);
}
