/* Logging through the caller's callback; the library never prints. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

const char *pex_log_level_name(pex_log_level level)
{
	switch (level) {
	case PEX_LOG_ERROR: return "error";
	case PEX_LOG_WARN: return "warn";
	case PEX_LOG_INFO: return "info";
	case PEX_LOG_DEBUG: return "debug";
	default: break;
	}
	return "?";
}

int pex_log_level_parse(pex_log_level *out, const char *name)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	size_t i;
	if (!out || !name)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "no log level given");
	for (i = 0; i < PEX__ARRAY_SIZE(names); i++) {
		if (strcmp(name, names[i]) == 0) {
			*out = (pex_log_level)i;
			return 0;
		}
	}
	if (strcmp(name, "warning") == 0) {
		*out = PEX_LOG_WARN;
		return 0;
	}
	return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
		"unknown log level '%s' (expected error, warn, info or debug)", name);
}

/* The one rule for text in a message: the next piece of [p, end) as it is
 * written out. A control character (C0, DEL), a byte that does not start
 * valid UTF-8 is "\xHH" in @p esc, a byte in @p quote is a backslash and
 * itself (1 byte read either way); anything else is its whole UTF-8
 * sequence. Sets *src and *take (bytes written); returns the bytes read. */
static size_t escape_next(const unsigned char *p, const unsigned char *end, const char *quote,
	char esc[4], const char **src, size_t *take)
{
	static const char hex[] = "0123456789abcdef";
	unsigned long cp;
	size_t n = pex__utf8_decode(p, (size_t)(end - p), &cp);

	*src = (const char *)p;
	*take = n;
	if (*p && strchr(quote, *p)) {
		esc[0] = '\\';
		esc[1] = (char)*p;
		*src = esc;
		*take = 2;
		return 1;
	}
	if (n == 0 || *p < 0x20 || *p == 0x7f) {
		esc[0] = '\\';
		esc[1] = 'x';
		esc[2] = hex[*p >> 4];
		esc[3] = hex[*p & 15];
		*src = esc;
		*take = 4;
		n = 1;
	}
	return n;
}

void pex__text_escape(char *out, size_t size, const char *s, size_t len, const char *quote,
	size_t max)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	size_t o = 0;

	if (size == 0)
		return;
	while (p < end) {
		char esc[4];
		const char *src;
		size_t take, n = escape_next(p, end, quote, esc, &src, &take);
		/* whole escapes and sequences only, with room for "..." */
		if ((size_t)((const char *)p - s) >= max || o + take + 4 > size) {
			if (o + 4 <= size) {
				memcpy(out + o, "...", 3);
				o += 3;
			}
			break;
		}
		memcpy(out + o, src, take);
		o += take;
		p += n;
	}
	out[o] = '\0';
}

size_t pex_log_escape(char *out, size_t size, const char *in)
{
	const unsigned char *p = (const unsigned char *)(in ? in : "");
	const unsigned char *end = p + strlen((const char *)p);
	size_t len = 0, written = 0;
	int full = !out || size == 0;

	while (p < end) {
		char esc[4];
		const char *src;
		size_t take, n = escape_next(p, end, "", esc, &src, &take);
		/* whole sequences and whole escapes only */
		if (!full && take < size - written) {
			memcpy(out + written, src, take);
			written += take;
		} else {
			full = 1;
		}
		len += take;
		p += n;
	}
	if (out && size)
		out[written] = '\0';
	return len;
}

/* A list longer than this is cut to its first item and a count. */
#define LIST_KEEP_MAX 80

void pex__shorten_lists(char *out, size_t size, const char *in)
{
	const char *p = in;
	size_t o = 0;

	if (!size)
		return;
	while (*p && o + 1 < size) {
		const char *end, *comma;
		size_t items = 1;
		int n;

		out[o++] = *p;
		if (*p++ != '=')
			continue;
		for (end = p; *end && *end != '&' && *end != ' ' && *end != ')' && *end != '"'; end++)
			items += *end == ',';
		if (items < 3 || (size_t)(end - p) <= LIST_KEEP_MAX)
			continue;
		comma = memchr(p, ',', (size_t)(end - p));
		n = snprintf(out + o, size - o, "%.*s,...(%zu items)", (int)(comma - p), p, items);
		o = n < 0 || (size_t)n >= size - o ? size - 1 : o + (size_t)n;
		p = end;
	}
	out[o] = '\0';
}

/* Most fields a line carries (the rest are left out). */
#define FIELDS_MAX 8

/* Append " key=value" to @p out (length *len of @p size): a value holding a
 * space, '"' or '=' (or empty) in double quotes with '"' and '\' escaped. */
static void append_field(char *out, size_t size, size_t *len, const pex_log_field *f)
{
	char num[24];
	const char *v = f->str;
	size_t n = *len;
	int quote;
	if (!v) {
		snprintf(num, sizeof(num), "%lld", f->num);
		v = num;
	}
	quote = !*v || strpbrk(v, " \"=") != NULL;
	n += (size_t)snprintf(out + n, size - n, " %s=%s", f->key, quote ? "\"" : v);
	for (; quote && *v && n + 3 < size; v++) {
		if (*v == '"' || *v == '\\')
			out[n++] = '\\';
		out[n++] = *v;
	}
	if (quote && n + 2 < size)
		out[n++] = '"';
	*len = n < size ? n : size - 1;
	out[*len] = '\0';
}

static void vlog(const pex__logger *lg, pex_log_level level, const pex_log_field *fields,
	size_t count, const char *fmt, va_list ap)
{
	/* formatted whole (a URL of 96 names is ~3 KB), then shortened */
	char full[8192], shortened[1024], msg[2048];
	char values[FIELDS_MAX][512];
	pex_log_field clean[FIELDS_MAX];
	pex_log_record_cb record_cb = lg ? atomic_load_explicit(&lg->record_cb, memory_order_acquire) : NULL;
	size_t i, len;

	if (!lg || (!lg->cb && !record_cb) || level > lg->level)
		return;
	vsnprintf(full, sizeof(full), fmt, ap);
	pex__shorten_lists(shortened, sizeof(shortened), full);
	/* a name or an answer of Pexip in a message cannot start a line of
	 * its own or drive a terminal (docs/DECISIONS.md) */
	pex_log_escape(msg, 1024, shortened);
	if (count > FIELDS_MAX)
		count = FIELDS_MAX;
	for (i = 0; i < count; i++) {
		clean[i] = fields[i];
		if (fields[i].str) {
			pex__shorten_lists(shortened, sizeof(shortened), fields[i].str);
			pex_log_escape(values[i], sizeof(values[i]), shortened);
			clean[i].str = values[i];
		}
	}
	if (record_cb) {
		record_cb(level, msg, clean, count, atomic_load_explicit(&lg->record_payload, memory_order_relaxed));
		return;
	}
	len = strlen(msg);
	for (i = 0; i < count; i++)
		append_field(msg, sizeof(msg), &len, &clean[i]);
	lg->cb(level, msg, lg->payload);
}

void pex__log(const pex__logger *lg, pex_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(lg, level, NULL, 0, fmt, ap);
	va_end(ap);
}

void pex__log_fields(const pex__logger *lg, pex_log_level level, const pex_log_field *fields,
	size_t count, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(lg, level, fields, count, fmt, ap);
	va_end(ap);
}
