/*
 * Typed values: converting input (YAML nodes or override strings, both as
 * pex__config_raw) by the schema, the error message format, defaults.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_internal.h"

/* ---- messages ---- */

int pex__config_error(int code, const pex__config_loc *loc, const char *fmt, ...)
{
	char msg[768], where[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	if (loc->line)
		snprintf(where, sizeof(where), "%s:%zu", loc->origin, loc->line);
	else
		snprintf(where, sizeof(where), "%s", loc->origin);
	if (loc->key)
		return pex_error_set(code, PEX_ERROR_CLASS_CONFIG, "%s: %s: %s", where, loc->key, msg);
	return pex_error_set(code, PEX_ERROR_CLASS_CONFIG, "%s: %s", where, msg);
}

/*
 * Describe what was found, for "expected X, got Y". Scalars are quoted
 * (shortened, control characters escaped) unless @p secret: a secret's
 * text is never shown.
 */
static void describe_got(char *out, size_t size, const pex__config_raw *raw, int secret)
{
	size_t o;

	switch (raw->kind) {
	case PEX__CFG_RAW_NULL:
		snprintf(out, size, "null");
		return;
	case PEX__CFG_RAW_LIST:
		snprintf(out, size, "a list");
		return;
	case PEX__CFG_RAW_MAP:
		snprintf(out, size, "a mapping");
		return;
	case PEX__CFG_RAW_SCALAR:
		break;
	}
	if (secret) {
		snprintf(out, size, raw->len ? "a string" : "an empty string");
		return;
	}
	/* quoted, at most 80 bytes of it */
	out[0] = '"';
	pex__text_escape(out + 1, size - 2, raw->text, raw->len, "\"\\", 80);
	o = strlen(out);
	out[o++] = '"';
	out[o] = '\0';
}

/* "expected <schema description>, got <what>". */
static int type_error(const pex__config_loc *loc, const pex__config_key *k,
	const pex__config_raw *raw, const char *expect)
{
	pex_buf exp = PEX_BUF_INIT;
	char got[128];
	int err;

	describe_got(got, sizeof(got), raw, pex__config_type_is_secret(k->type));
	if (!expect) {
		if (pex__config_describe(&exp, k) < 0)
			return PEX_ENOMEM;
		expect = exp.ptr;
	}
	err = pex__config_error(PEX_ECONFIG, loc, "expected %s, got %s", expect, got);
	pex_buf_dispose(&exp);
	return err;
}

/* ---- scalar parsers ---- */

/* Decimal integer: optional '-', digits, no leading zeros (YAML 1.1 octal). */
static int parse_int(long long *out, const char *s, size_t len)
{
	size_t i = 0;
	long long v = 0;
	int neg = 0;

	if (len && s[0] == '-') {
		neg = 1;
		i = 1;
	}
	if (i == len)
		return -1;
	if (s[i] == '0' && len - i > 1)
		return -1;
	for (; i < len; i++) {
		int d;
		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = s[i] - '0';
		if (v > (LLONG_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = neg ? -v : v;
	return 0;
}

static int word_eq(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && strncasecmp(s, word, len) == 0;
}

static int parse_bool(int *out, const char *s, size_t len)
{
	static const char *const yes[] = { "true", "yes", "on" };
	static const char *const no[] = { "false", "no", "off" };
	size_t i;

	for (i = 0; i < PEX__ARRAY_SIZE(yes); i++) {
		if (word_eq(s, len, yes[i])) {
			*out = 1;
			return 0;
		}
		if (word_eq(s, len, no[i])) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

/* ---- conversion ---- */

int pex__config_path(char **out, const char *base_dir, const char *path)
{
	pex_buf b = PEX_BUF_INIT;
	int err;

	if (path[0] == '/' || !base_dir || strcmp(path, ":memory:") == 0)
		return (*out = pex__strdup(path)) ? 0 : PEX_ENOMEM;
	if ((err = pex__buf_printf(&b, "%s%s%s", base_dir,
			base_dir[0] && base_dir[strlen(base_dir) - 1] == '/' ? "" : "/", path)) < 0) {
		pex_buf_dispose(&b);
		return err;
	}
	*out = b.ptr;   /* the buffer's string is ours now */
	return 0;
}

/*
 * Convert one string scalar (a whole STRING/SECRET/ENUM value or one list
 * item) into a new string in @p *out.
 */
static int convert_string(char **out, const pex__config_key *k, pex__config_type type,
	const pex__config_raw *raw, const pex__config_loc *loc)
{
	const char *why;
	char *s;
	size_t i;
	int err;

	if (raw->kind != PEX__CFG_RAW_SCALAR)
		return type_error(loc, k, raw, type == PEX__CFG_ENUM ? NULL : "a string");
	if (memchr(raw->text, '\0', raw->len))
		return pex__config_error(PEX_ECONFIG, loc, "must not contain a NUL character");
	if (raw->len == 0)
		return type_error(loc, k, raw, type == PEX__CFG_ENUM ? NULL : "a non-empty string");

	if (type == PEX__CFG_ENUM) {
		for (i = 0; k->choices[i]; i++)
			if (strlen(k->choices[i]) == raw->len &&
			    memcmp(k->choices[i], raw->text, raw->len) == 0)
				break;
		if (!k->choices[i])
			return type_error(loc, k, raw, NULL);
	}

	if (!(s = pex__strndup(raw->text, raw->len)))
		return PEX_ENOMEM;

	/* a secret keeps its reference: resolved when the key is read */
	if (type == PEX__CFG_SECRET) {
		if ((err = pex__config_check_secret_ref(s, loc)) < 0) {
			pex__config_secret_free(s);
			return err;
		}
		*out = s;
		return 0;
	}

	if (k->check && (why = k->check(s)) != NULL) {
		char got[128];
		describe_got(got, sizeof(got), raw, 0);
		free(s);
		return pex__config_error(PEX_ECONFIG, loc, "%s, got %s", why, got);
	}
	*out = s;
	return 0;
}

static int convert_list(pex__config_value *out, const pex__config_key *k,
	const pex__config_raw *raw, const pex__config_loc *loc)
{
	pex__config_type item_type = k->type == PEX__CFG_SECRET_LIST ?
		PEX__CFG_SECRET : PEX__CFG_STRING;
	char **list, keybuf[160];
	size_t i, *lines = NULL;
	int err = 0;

	/* null (an empty "key:") is the empty list */
	if (raw->kind == PEX__CFG_RAW_NULL) {
		if (!(out->list = pex__calloc(1, sizeof(char *))))
			return PEX_ENOMEM;
		out->count = 0;
		return 0;
	}
	if (raw->kind != PEX__CFG_RAW_LIST)
		return type_error(loc, k, raw, NULL);

	if (!(list = pex__calloc(raw->nitems + 1, sizeof(char *))))
		return PEX_ENOMEM;
	/* lazy secret items keep their lines for the messages of resolution */
	if (item_type == PEX__CFG_SECRET && raw->nitems &&
	    !(lines = pex__calloc(raw->nitems, sizeof(*lines)))) {
		free(list);
		return PEX_ENOMEM;
	}
	for (i = 0; i < raw->nitems; i++) {
		pex__config_loc item_loc = *loc;
		snprintf(keybuf, sizeof(keybuf), "%s[%zu]", k->key, i);
		item_loc.key = keybuf;
		if (raw->items[i].line)
			item_loc.line = raw->items[i].line;
		if (lines)
			lines[i] = item_loc.line;
		if ((err = convert_string(&list[i], k, item_type, &raw->items[i], &item_loc)) < 0)
			break;
	}
	if (err < 0) {
		pex__config_value tmp = { PEX__CFG_VAL_SET, NULL, 0, 0, list, i, lines, 0, NULL, NULL };
		pex__config_value_clear(&tmp, k->type);
		return err;
	}
	out->list = list;
	out->count = raw->nitems;
	out->lines = lines;
	return 0;
}

/* What a secret value is made of, for pex_config_show(): NULL when not a
 * secret or an empty list. */
static const char *secret_ref_kind(const pex__config_key *k, const pex__config_value *v)
{
	const char *kind = NULL;
	size_t i;

	if (k->type == PEX__CFG_SECRET)
		return v->s ? pex__config_secret_kind(v->s) : NULL;
	if (k->type != PEX__CFG_SECRET_LIST)
		return NULL;
	for (i = 0; i < v->count; i++) {
		const char *item = pex__config_secret_kind(v->list[i]);
		if (kind && strcmp(kind, item) != 0)
			return "mixed";
		kind = item;
	}
	return kind;
}

int pex__config_convert(pex__config_value *out, int idx, const pex__config_raw *raw,
	const char *origin, const char *base_dir)
{
	const pex__config_key *k = &pex__config_schema(NULL)[idx];
	pex__config_loc loc = { origin, raw->line, k->key };
	pex__config_value v = { PEX__CFG_VAL_NULL, NULL, 0, 0, NULL, 0, NULL, raw->line, NULL, NULL };
	int err = 0;

	if (raw->kind == PEX__CFG_RAW_NULL && k->type != PEX__CFG_LIST &&
	    k->type != PEX__CFG_SECRET_LIST) {
		if (!(k->flags & PEX__CFG_NULLABLE) || (k->flags & PEX__CFG_REQUIRED))
			return type_error(&loc, k, raw, NULL);
		*out = v;   /* an explicit null */
		return 0;
	}

	switch (k->type) {
	case PEX__CFG_STRING:
	case PEX__CFG_SECRET:
	case PEX__CFG_ENUM:
		err = convert_string(&v.s, k, k->type, raw, &loc);
		break;
	case PEX__CFG_INT:
		if (raw->kind != PEX__CFG_RAW_SCALAR || parse_int(&v.i, raw->text, raw->len) < 0 ||
		    v.i < k->min || v.i > k->max)
			err = type_error(&loc, k, raw, NULL);
		break;
	case PEX__CFG_BOOL:
		if (raw->kind != PEX__CFG_RAW_SCALAR || parse_bool(&v.b, raw->text, raw->len) < 0)
			err = type_error(&loc, k, raw, NULL);
		break;
	case PEX__CFG_LIST:
	case PEX__CFG_SECRET_LIST:
		err = convert_list(&v, k, raw, &loc);
		break;
	}
	if (err == 0 && (k->flags & PEX__CFG_PATH)) {
		char *path = NULL;
		if ((err = pex__config_path(&path, base_dir, v.s)) == 0) {
			free(v.s);
			v.s = path;
		} else {
			free(v.s);
		}
	}
	if (err < 0)
		return err;
	v.ref = secret_ref_kind(k, &v);
	v.state = pex__config_type_is_secret(k->type) ? PEX__CFG_VAL_LAZY : PEX__CFG_VAL_SET;
	*out = v;
	return 0;
}

int pex__config_value_resolve(pex__config_value *v, const pex__config_key *k,
	const char *origin, const char *base_dir)
{
	pex__config_loc loc = { origin, v->line, k->key };
	char **list, keybuf[160];
	size_t i;
	int err = 0;

	if (v->state != PEX__CFG_VAL_LAZY)
		return 0;
	if (k->type == PEX__CFG_SECRET) {
		char *resolved = NULL;
		if ((err = pex__config_resolve_secret(&resolved, v->s, base_dir, &loc)) < 0)
			return err;
		pex__config_secret_free(v->s);   /* a reference, or a literal secret */
		v->s = resolved;
		v->state = PEX__CFG_VAL_SET;
		return 0;
	}
	if (!(list = pex__calloc(v->count + 1, sizeof(char *))))
		return PEX_ENOMEM;
	for (i = 0; i < v->count; i++) {
		pex__config_loc item_loc = loc;
		snprintf(keybuf, sizeof(keybuf), "%s[%zu]", k->key, i);
		item_loc.key = keybuf;
		if (v->lines && v->lines[i])
			item_loc.line = v->lines[i];
		if ((err = pex__config_resolve_secret(&list[i], v->list[i], base_dir, &item_loc)) < 0)
			break;
	}
	if (err < 0) {
		while (i > 0)
			pex__config_secret_free(list[--i]);
		free(list);
		return err;
	}
	for (i = 0; i < v->count; i++)
		pex__config_secret_free(v->list[i]);
	free(v->list);
	free(v->lines);
	v->list = list;
	v->lines = NULL;
	v->state = PEX__CFG_VAL_SET;
	return 0;
}

void pex__config_value_clear(pex__config_value *v, pex__config_type type)
{
	size_t i;
	int secret = pex__config_type_is_secret(type);

	if (!v)
		return;
	/* lazy secrets hold references, or literal secrets: wiped as well */
	if (secret)
		pex__config_secret_free(v->s);
	else
		free(v->s);
	free(v->lines);
	free(v->source);
	if (v->list) {
		for (i = 0; i < v->count; i++) {
			if (secret)
				pex__config_secret_free(v->list[i]);
			else
				free(v->list[i]);
		}
		free(v->list);
	}
	memset(v, 0, sizeof(*v));
}

int pex__config_defaults(pex__config_value *values, const char *base_dir)
{
	size_t n, i, j;
	const pex__config_key *schema = pex__config_schema(&n);

	for (i = 0; i < n; i++) {
		const pex__config_key *k = &schema[i];
		pex__config_value *v = &values[i];

		memset(v, 0, sizeof(*v));
		switch (k->type) {
		case PEX__CFG_LIST:
		case PEX__CFG_SECRET_LIST:
			for (j = 0; k->def_list && k->def_list[j]; j++)
				;
			if (!(v->list = pex__calloc(j + 1, sizeof(char *))))
				return PEX_ENOMEM;
			for (v->count = 0; v->count < j; v->count++)
				if (!(v->list[v->count] = pex__strdup(k->def_list[v->count])))
					return PEX_ENOMEM;
			v->state = PEX__CFG_VAL_SET;
			break;
		case PEX__CFG_INT:
			if (k->def) {
				v->i = strtoll(k->def, NULL, 10);
				v->state = PEX__CFG_VAL_SET;
			}
			break;
		case PEX__CFG_BOOL:
			if (k->def) {
				v->b = strcmp(k->def, "true") == 0;
				v->state = PEX__CFG_VAL_SET;
			}
			break;
		case PEX__CFG_SECRET:
			/* resolved on first read (pex_config_get_string) */
			if (k->def) {
				if (!(v->s = pex__strdup(k->def)))
					return PEX_ENOMEM;
				v->ref = pex__config_secret_kind(v->s);
				v->state = PEX__CFG_VAL_LAZY;
			}
			break;
		case PEX__CFG_STRING:
		case PEX__CFG_ENUM:
			if (k->def) {
				if ((k->flags & PEX__CFG_PATH) ?
				    pex__config_path(&v->s, base_dir, k->def) < 0 :
				    !(v->s = pex__strdup(k->def)))
					return PEX_ENOMEM;
				v->state = PEX__CFG_VAL_SET;
			}
			break;
		}
	}
	return 0;
}
