/* Pure helpers of the room server: no I/O, no libmicrohttpd, no pool.
 * Text building (JSON answers, the access log line), request bodies and
 * their limits, and the parsing and checking of what the routes take from
 * bodies and query strings. tests/fuzz/fuzz_room_server.c fuzzes them. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "server.h"

/* ---- text ---- */

void rs_text_init(rs_text *t)
{
	t->ptr = t->inline_buf;
	t->len = 0;
	t->cap = sizeof(t->inline_buf);
	t->oom = 0;
	t->ptr[0] = '\0';
}

void rs_text_dispose(rs_text *t)
{
	if (t->ptr != t->inline_buf)
		free(t->ptr);
	rs_text_init(t);
}

/* Room for @p n more bytes and the NUL; 0 or -1 (then t->oom is set). */
static int text_reserve(rs_text *t, size_t n)
{
	size_t cap;
	char *p;
	if (t->oom)
		return -1;
	if (n < t->cap - t->len)
		return 0;
	if (n > ((size_t)-1) / 2 - t->len) {
		t->oom = 1;
		return -1;
	}
	cap = t->cap * 2;
	while (cap <= t->len + n)
		cap *= 2;
	if (t->ptr == t->inline_buf) {
		if ((p = malloc(cap)))
			memcpy(p, t->ptr, t->len + 1);
	} else {
		p = realloc(t->ptr, cap);
	}
	if (!p) {
		t->oom = 1;
		return -1;
	}
	t->ptr = p;
	t->cap = cap;
	return 0;
}

void rs_text_put(rs_text *t, const char *s, size_t n)
{
	if (text_reserve(t, n) < 0)
		return;
	memcpy(t->ptr + t->len, s, n);
	t->len += n;
	t->ptr[t->len] = '\0';
}

void rs_text_puts(rs_text *t, const char *s)
{
	rs_text_put(t, s, strlen(s));
}

void rs_text_printf(rs_text *t, const char *fmt, ...)
{
	va_list ap;
	int n;
	if (t->oom)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->ptr + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		t->oom = 1;
		return;
	}
	if ((size_t)n >= t->cap - t->len) {
		if (text_reserve(t, (size_t)n) < 0)
			return;
		va_start(ap, fmt);
		vsnprintf(t->ptr + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
	}
	t->len += (size_t)n;
}

/* The escaping json-c applies with JSON_C_TO_STRING_NOSLASHESCAPE, so the
 * lines and answers written here are byte for byte what json-c wrote
 * before (the fuzz target checks it): ", \ and the control characters
 * \b \t \n \f \r by name, other bytes below 0x20 as \u00xx, everything
 * else (0x7f and bytes >= 0x80 too) as is. */
void rs_text_json_str(rs_text *t, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p, *run;
	if (!s) {
		rs_text_put(t, "null", 4);
		return;
	}
	rs_text_put(t, "\"", 1);
	for (p = run = (const unsigned char *)s; *p; p++) {
		char esc[6];
		size_t n = 2;
		if (*p >= 0x20 && *p != '"' && *p != '\\')
			continue;
		rs_text_put(t, (const char *)run, (size_t)(p - run));
		esc[0] = '\\';
		switch (*p) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\t': esc[1] = 't'; break;
		case '\n': esc[1] = 'n'; break;
		case '\f': esc[1] = 'f'; break;
		case '\r': esc[1] = 'r'; break;
		default:
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[*p >> 4];
			esc[5] = hex[*p & 15];
			n = 6;
			break;
		}
		rs_text_put(t, esc, n);
		run = p + 1;
	}
	rs_text_put(t, (const char *)run, (size_t)(p - run));
	rs_text_put(t, "\"", 1);
}

void rs_json_error(rs_text *t, const char *code, const char *message)
{
	rs_text_puts(t, "{\"error\":{\"code\":");
	rs_text_json_str(t, code);
	rs_text_puts(t, ",\"message\":");
	rs_text_json_str(t, message);
	rs_text_puts(t, "}}");
}

void rs_log_line_json(rs_text *t, const char *ts, const char *level, const char *component,
	const char *msg, const pex_log_field *fields, size_t count)
{
	size_t i;
	rs_text_puts(t, "{\"ts\":");
	rs_text_json_str(t, ts);
	rs_text_puts(t, ",\"level\":");
	rs_text_json_str(t, level);
	rs_text_puts(t, ",\"component\":");
	rs_text_json_str(t, component);
	rs_text_puts(t, ",\"msg\":");
	rs_text_json_str(t, msg);
	for (i = 0; i < count; i++) {
		rs_text_puts(t, ",");
		rs_text_json_str(t, fields[i].key);
		rs_text_puts(t, ":");
		if (fields[i].str)
			rs_text_json_str(t, fields[i].str);
		else
			rs_text_printf(t, "%lld", fields[i].num);
	}
	rs_text_puts(t, "}");
}

/* " key=value", the value quoted when it is empty or holds a space, '"'
 * or '=' (then '"' and '\' in it get a backslash): as the library appends
 * fields for a pex_log_cb (pex_log(3)). */
static void text_field(rs_text *t, const char *key, const char *value)
{
	const char *p;
	rs_text_printf(t, " %s=", key);
	if (*value && !strpbrk(value, " \"=")) {
		rs_text_puts(t, value);
		return;
	}
	rs_text_puts(t, "\"");
	for (p = value; *p; p++) {
		if (*p == '"' || *p == '\\')
			rs_text_puts(t, "\\");
		rs_text_put(t, p, 1);
	}
	rs_text_puts(t, "\"");
}

void rs_log_line_text(rs_text *t, const char *ts, const char *level, const char *component,
	const char *msg, const pex_log_field *fields, size_t count)
{
	size_t i;
	rs_text_printf(t, "%s room-server: %s: %s", ts, level, msg);
	if (strcmp(component, "room-server") != 0)
		text_field(t, "component", component);
	for (i = 0; i < count; i++) {
		char num[24];
		if (!fields[i].str)
			snprintf(num, sizeof(num), "%lld", fields[i].num);
		text_field(t, fields[i].key, fields[i].str ? fields[i].str : num);
	}
}

/* ---- request bodies ---- */

int rs_body_append(rs_request *r, const char *data, size_t len)
{
	if (r->too_large || len > r->limit - r->body_len) {
		r->too_large = 1;
		if (len > RS_DRAIN_MAX - r->dropped)
			return -1;  /* not worth reading further: close */
		r->dropped += len;
		return 0;
	}
	if (r->body_len + len + 1 > r->body_cap) {
		size_t cap = r->body_cap ? r->body_cap : 4096;
		char *p;
		while (cap < r->body_len + len + 1)
			cap *= 2;
		if (!(p = realloc(r->body, cap)))
			return -1;
		r->body = p;
		r->body_cap = cap;
	}
	memcpy(r->body + r->body_len, data, len);
	r->body_len += len;
	r->body[r->body_len] = '\0';
	return 0;
}

int rs_content_length(const char *text, unsigned long long *out)
{
	char *end;
	unsigned long long n;
	/* digits only: strtoull would take a sign or leading blanks */
	if (!text || text[0] < '0' || text[0] > '9')
		return -1;
	errno = 0;
	n = strtoull(text, &end, 10);
	if (errno || end == text || *end)
		return -1;
	*out = n;
	return 0;
}

/* ---- what the routes parse ---- */

#define WHY(...) do { snprintf(why, whylen, __VA_ARGS__); } while (0)

json_object *rs_parse_object(const char *body, size_t len, char *why, size_t whylen)
{
	json_tokener *tok;
	json_object *o;
	if (!body || len == 0) {
		WHY("a JSON object body is required");
		return NULL;
	}
	if (strlen(body) != len) {
		WHY("body holds a NUL byte");
		return NULL;
	}
	if (len > (size_t)RS_EVENT_BODY_MAX) {
		WHY("body is larger than %u bytes", RS_EVENT_BODY_MAX);
		return NULL;
	}
	tok = json_tokener_new_ex(32);
	/* strings that are not UTF-8 would reach Pexip, answers and logs raw */
	if (tok)
		json_tokener_set_flags(tok, JSON_TOKENER_VALIDATE_UTF8);
	o = tok ? json_tokener_parse_ex(tok, body, (int)len) : NULL;
	if (!o || json_tokener_get_error(tok) != json_tokener_success || tok->char_offset != (int)len) {
		json_object_put(o);
		WHY("body is not valid JSON%s%s", tok ? ": " : "",
			tok ? json_tokener_error_desc(json_tokener_get_error(tok)) : "");
		json_tokener_free(tok);
		return NULL;
	}
	json_tokener_free(tok);
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		WHY("body must be a JSON object");
		return NULL;
	}
	return o;
}

int rs_parse_create(const char *uui, const char *tag_url, char *why, size_t whylen)
{
	if (uui && tag_url) {
		WHY("give uuiData or tagUrl, not both");
		return -1;
	}
	return 0;
}

int rs_parse_patch(json_object *body, const char **tag, const char **description, char *why, size_t whylen)
{
	*tag = *description = NULL;
	json_object_object_foreach(body, k, v) {
		if (strcmp(k, "tag") != 0 && strcmp(k, "description") != 0) {
			WHY("unknown key '%s' (tag and description may change)", k);
			return -1;
		}
		if (!json_object_is_type(v, json_type_string)) {
			WHY("'%s' must be a string", k);
			return -1;
		}
		if (strcmp(k, "tag") == 0)
			*tag = json_object_get_string(v);
		else
			*description = json_object_get_string(v);
	}
	if (!*tag && !*description) {
		WHY("nothing to change (give tag and/or description)");
		return -1;
	}
	return 0;
}

int rs_parse_bulk_create(rs_bulk_create *out, const char *count_arg, const char *body, size_t body_len,
	const pex_tag_rules *rules, char *why, size_t whylen)
{
	size_t i;

	memset(out, 0, sizeof(*out));
	out->count = -1;
	if (count_arg) {
		char *end;
		long count;
		errno = 0;
		count = strtol(count_arg, &end, 10);
		if (errno || end == count_arg || *end || count < 1 || count > RS_BULK_MAX) {
			WHY("count must be a whole number from 1 to %d", RS_BULK_MAX);
			return -1;
		}
		out->count = count;
	}
	if (body_len) {
		if (!(out->body = rs_parse_object(body, body_len, why, whylen)))
			return -1;
		json_object_object_foreach(out->body, k, v) {
			(void)v;
			if (strcmp(k, "uuiData") != 0) {
				WHY("unknown body key '%s'", k);
				goto fail;
			}
		}
		if (!json_object_object_get_ex(out->body, "uuiData", &out->uuis) ||
		    !json_object_is_type(out->uuis, json_type_array)) {
			WHY("uuiData must be an array of hex strings");
			goto fail;
		}
		if (out->count < 0)
			out->count = (long)json_object_array_length(out->uuis);
		if ((size_t)out->count != json_object_array_length(out->uuis) || out->count < 1 ||
		    out->count > RS_BULK_MAX) {
			WHY("uuiData must hold count entries (1 to %d)", RS_BULK_MAX);
			goto fail;
		}
		/* check every UUI first: bad input changes nothing */
		for (i = 0; i < (size_t)out->count; i++) {
			json_object *u = json_object_array_get_idx(out->uuis, i);
			pex_buf tmp = PEX_BUF_INIT;
			int err;
			if (!json_object_is_type(u, json_type_string)) {
				WHY("uuiData[%zu] is not a string", i);
				goto fail;
			}
			err = pex_uui_to_tag(&tmp, json_object_get_string(u), rules);
			pex_buf_dispose(&tmp);
			if (err < 0) {
				WHY("uuiData[%zu]: %s", i, pex_error_last()->message);
				goto fail;
			}
		}
	}
	if (out->count < 0) {
		WHY("give count=N or a uuiData list");
		goto fail;
	}
	return 0;
fail:
	json_object_put(out->body);
	memset(out, 0, sizeof(*out));
	return -1;
}

const char *rs_bulk_create_uui(const rs_bulk_create *b, size_t i)
{
	return b->uuis ? json_object_get_string(json_object_array_get_idx(b->uuis, i)) : NULL;
}

int rs_parse_bulk_delete(const char *prefix, const char *confirm, const char **code, char *why, size_t whylen)
{
	if (!prefix || !*prefix) {
		*code = "bad_request";
		WHY("prefix is required and may not be empty");
		return -1;
	}
	if (!confirm || strcmp(confirm, "yes") != 0) {
		*code = "confirmation_required";
		WHY("bulk delete needs confirm=yes");
		return -1;
	}
	return 0;
}

int rs_valid_room_name(const char *name)
{
	return pex_room_name_check(name) == 0;
}

/* ---- peers ---- */

int rs_peer_is_loopback(const struct sockaddr *sa)
{
	if (!sa)
		return 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)sa;
		return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)(const void *)sa;
		const unsigned char *b = a->sin6_addr.s6_addr;
		static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		if (IN6_IS_ADDR_LOOPBACK(&a->sin6_addr))
			return 1;
		/* ::ffff:127.x.y.z (a dual-stack socket's IPv4 loopback peer) */
		return memcmp(b, mapped, sizeof(mapped)) == 0 && b[12] == 127;
	}
	return 0;
}

void rs_peer_text(const struct sockaddr *sa, char *out, size_t size)
{
	const void *addr = NULL;
	if (sa && sa->sa_family == AF_INET)
		addr = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	else if (sa && sa->sa_family == AF_INET6)
		addr = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	if (!addr || !inet_ntop(sa->sa_family, addr, out, (socklen_t)size))
		snprintf(out, size, "unknown");
}

/* ---- request checks (headers and target) ---- */

int rs_request_id_ok(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > RS_REQUEST_ID_MAX)
		return 0;
	for (; *id; id++)
		if (!((*id >= 'a' && *id <= 'z') || (*id >= 'A' && *id <= 'Z') || (*id >= '0' && *id <= '9') ||
		      (*id && strchr("!#$%&'*+-.^_`|~", *id))))
			return 0;
	return 1;
}

int rs_clean_text(const char *s)
{
	return s && pex_log_escape(NULL, 0, s) == strlen(s);
}

int rs_target_has_nul(const char *raw)
{
	return raw && strstr(raw, "%00") != NULL;
}

void rs_framing_header(rs_framing *f, const char *key, const char *value)
{
	if (strcasecmp(key, "Content-Length") == 0) {
		if (f->content_lengths++ == 0)
			f->content_length = value;
		else if (strcmp(f->content_length, value ? value : "") != 0)
			f->lengths_differ = 1;
	} else if (strcasecmp(key, "Transfer-Encoding") == 0) {
		if (f->transfer_encodings++ == 0)
			f->transfer_encoding = value;
	}
}

int rs_framing_check(const rs_framing *f, char *why, size_t whylen)
{
	const char *te = f->transfer_encoding;
	if (f->lengths_differ)
		WHY("the request has two different Content-Length headers");
	else if (f->transfer_encodings && f->content_lengths)
		WHY("the request has both Content-Length and Transfer-Encoding");
	else if (f->transfer_encodings > 1)
		WHY("the request has more than one Transfer-Encoding header");
	else if (f->transfer_encodings && (!te || strcasecmp(te, "chunked") != 0))
		WHY("Transfer-Encoding must be chunked");
	else
		return 0;
	return -1;
}

int rs_query_arg(rs_query *q, const char *key, const char *value, char *why, size_t whylen)
{
	size_t i;
	if (!rs_clean_text(key) || (value && !rs_clean_text(value))) {
		WHY("a query parameter holds a control character or bytes that are not UTF-8");
		return -1;
	}
	for (i = 0; i < q->count; i++) {
		if (strcmp(q->keys[i], key) != 0)
			continue;
		/* a clean key is echoed only when short enough to be whole */
		if (strlen(key) <= 64)
			WHY("query parameter '%s' is given more than once", key);
		else
			WHY("a query parameter is given more than once");
		return -1;
	}
	if (q->count == RS_QUERY_MAX) {
		WHY("more than %d query parameters", RS_QUERY_MAX);
		return -1;
	}
	q->keys[q->count++] = key;
	return 0;
}
