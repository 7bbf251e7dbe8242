/*
 * XML for the queue service (message lists, error bodies), parsed with
 * expat. Pure.
 *
 * Bodies are small and have no namespaces. Elements are matched by name,
 * not position; unknown elements are skipped. A leading UTF-8 BOM (sent by
 * Azure, not by Azurite) is stripped, and DOCTYPE or entity declarations
 * stop the parse: the service never sends them, and refusing them keeps
 * entity-expansion tricks out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>

#include "azure/azure_internal.h"

/* Skip an optional UTF-8 byte order mark. */
static void skip_bom(const char **body, size_t *len)
{
	if (*len >= 3 && memcmp(*body, "\xEF\xBB\xBF", 3) == 0) {
		*body += 3;
		*len -= 3;
	}
}

/* State shared by both parsers: the expat handle and an error flag. */
typedef struct parse_base {
	XML_Parser xp;
	int failed;                 /* a callback gave up (message in why) */
	const char *why;
} parse_base;

static void stop(parse_base *b, const char *why)
{
	if (!b->failed) {
		b->failed = 1;
		b->why = why;
	}
	XML_StopParser(b->xp, XML_FALSE);
}

static void XMLCALL refuse_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
	const XML_Char *pubid, int has_internal_subset)
{
	PEX__UNUSED(name);
	PEX__UNUSED(sysid);
	PEX__UNUSED(pubid);
	PEX__UNUSED(has_internal_subset);
	stop(ud, "DOCTYPE declarations are not accepted");
}

/* Run expat over the body with the given handlers; parse_base must be
 * the first member of the user data. */
static int run_parser(parse_base *b, void *ud, const char *body, size_t len, const char *what,
	XML_StartElementHandler start, XML_EndElementHandler end, XML_CharacterDataHandler text)
{
	enum XML_Status st;
	int err = 0;
	skip_bom(&body, &len);
	if (len > (size_t)INT32_MAX)
		return pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_XML, "%s: body too large", what);
	if (!(b->xp = XML_ParserCreate("UTF-8")))
		return pex__error_nomem();
	XML_SetUserData(b->xp, ud);
	XML_SetElementHandler(b->xp, start, end);
	XML_SetCharacterDataHandler(b->xp, text);
	XML_SetStartDoctypeDeclHandler(b->xp, refuse_doctype);
	st = XML_Parse(b->xp, body, (int)len, 1);
	if (b->failed)
		err = pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_XML, "%s: %s", what, b->why);
	else if (st != XML_STATUS_OK)
		err = pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_XML, "%s: %s at line %lu", what,
			XML_ErrorString(XML_GetErrorCode(b->xp)),
			(unsigned long)XML_GetCurrentLineNumber(b->xp));
	XML_ParserFree(b->xp);
	b->xp = NULL;
	return err;
}

/* ---- QueueMessagesList ---- */

enum msg_field {
	F_NONE,
	F_ID,
	F_INSERTED,
	F_EXPIRES,
	F_RECEIPT,
	F_NEXT_VISIBLE,
	F_DEQUEUE,
	F_TEXT
};

typedef struct msg_parser {
	parse_base base;            /* first: see run_parser */
	unsigned depth;
	enum msg_field field;       /* the depth-3 element being read */
	pex_buf text;
	pex__azure_msg cur;
	pex__azure_msglist *list;
	size_t alloc;
} msg_parser;

static void msg_clear(pex__azure_msg *m)
{
	free(m->id);
	free(m->pop_receipt);
	free(m->text);
	memset(m, 0, sizeof(*m));
}

static void XMLCALL msg_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	msg_parser *p = ud;
	PEX__UNUSED(attrs);
	p->depth++;
	if (p->depth == 1) {
		if (strcmp(name, "QueueMessagesList") != 0)
			stop(&p->base, "root element is not QueueMessagesList");
	} else if (p->depth == 2) {
		if (strcmp(name, "QueueMessage") == 0)
			msg_clear(&p->cur);
	} else if (p->depth == 3) {
		static const struct { const char *name; enum msg_field f; } fields[] = {
			{ "MessageId", F_ID },
			{ "InsertionTime", F_INSERTED },
			{ "ExpirationTime", F_EXPIRES },
			{ "PopReceipt", F_RECEIPT },
			{ "TimeNextVisible", F_NEXT_VISIBLE },
			{ "DequeueCount", F_DEQUEUE },
			{ "MessageText", F_TEXT },
		};
		size_t i;
		p->field = F_NONE;
		for (i = 0; i < PEX__ARRAY_SIZE(fields); i++)
			if (strcmp(name, fields[i].name) == 0)
				p->field = fields[i].f;
		pex__buf_clear(&p->text);
	}
}

static void XMLCALL msg_text(void *ud, const XML_Char *s, int len)
{
	msg_parser *p = ud;
	if (p->depth == 3 && p->field != F_NONE && pex__buf_put(&p->text, s, (size_t)len) < 0)
		stop(&p->base, "out of memory");
}

/* Take the collected text as a new string (never NULL on success). */
static char *take_text(msg_parser *p)
{
	if (!p->text.ptr)
		return pex__strdup("");
	return pex__buf_detach(&p->text);
}

static void end_field(msg_parser *p)
{
	char **slot = NULL;
	int64_t t;
	switch (p->field) {
	case F_ID:
		slot = &p->cur.id;
		break;
	case F_RECEIPT:
		slot = &p->cur.pop_receipt;
		break;
	case F_TEXT:
		free(p->cur.text);
		p->cur.text_len = p->text.size;
		if (!(p->cur.text = take_text(p)))
			stop(&p->base, "out of memory");
		return;
	case F_DEQUEUE: {
		char *end = NULL;
		unsigned long v = p->text.ptr ? strtoul(p->text.ptr, &end, 10) : 0;
		if (!p->text.ptr || end == p->text.ptr || *end != '\0')
			stop(&p->base, "DequeueCount is not a number");
		p->cur.dequeue_count = (unsigned)v;
		return;
	}
	case F_INSERTED:
	case F_NEXT_VISIBLE:
		/* informational; an odd date is not worth failing over */
		if (p->text.ptr && pex__azure_parse_rfc1123(&t, p->text.ptr) == 0) {
			if (p->field == F_INSERTED)
				p->cur.inserted_at = t;
			else
				p->cur.next_visible = t;
		}
		pex_error_clear();
		return;
	default:
		return;
	}
	free(*slot);
	if (!(*slot = take_text(p)))
		stop(&p->base, "out of memory");
}

static void XMLCALL msg_end(void *ud, const XML_Char *name)
{
	msg_parser *p = ud;
	if (p->depth == 3) {
		end_field(p);
		p->field = F_NONE;
	} else if (p->depth == 2 && strcmp(name, "QueueMessage") == 0) {
		pex__azure_msglist *l = p->list;
		if (!p->cur.id || !p->cur.id[0]) {
			stop(&p->base, "QueueMessage without MessageId");
		} else {
			if (!p->cur.text && !(p->cur.text = pex__strdup("")))
				stop(&p->base, "out of memory");
			if (l->count == p->alloc) {
				size_t n = p->alloc ? p->alloc * 2 : 4;
				pex__azure_msg *items = pex__realloc(l->items, n * sizeof(*items));
				if (!items) {
					stop(&p->base, "out of memory");
					p->depth--;
					return;
				}
				l->items = items;
				p->alloc = n;
			}
			l->items[l->count++] = p->cur;
			memset(&p->cur, 0, sizeof(p->cur));
		}
	}
	p->depth--;
}

int pex__azure_parse_messages(pex__azure_msglist *out, const char *body, size_t len)
{
	msg_parser p;
	int err;
	memset(out, 0, sizeof(*out));
	memset(&p, 0, sizeof(p));
	p.list = out;
	err = run_parser(&p.base, &p, body, len, "Azure QueueMessagesList", msg_start, msg_end,
		msg_text);
	msg_clear(&p.cur);
	pex_buf_dispose(&p.text);
	if (err < 0)
		pex__azure_msglist_dispose(out);
	return err;
}

void pex__azure_msglist_dispose(pex__azure_msglist *l)
{
	size_t i;
	if (!l)
		return;
	for (i = 0; i < l->count; i++)
		msg_clear(&l->items[i]);
	free(l->items);
	l->items = NULL;
	l->count = 0;
}

/* ---- Error ---- */

typedef struct err_parser {
	parse_base base;            /* first: see run_parser */
	unsigned depth;
	int field;                  /* 1 Code, 2 Message */
	pex_buf code, message;
} err_parser;

static void XMLCALL err_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	err_parser *p = ud;
	PEX__UNUSED(attrs);
	p->depth++;
	if (p->depth == 1 && strcmp(name, "Error") != 0)
		stop(&p->base, "root element is not Error");
	else if (p->depth == 2)
		p->field = strcmp(name, "Code") == 0 ? 1 : strcmp(name, "Message") == 0 ? 2 : 0;
}

static void XMLCALL err_end(void *ud, const XML_Char *name)
{
	err_parser *p = ud;
	PEX__UNUSED(name);
	if (p->depth == 2)
		p->field = 0;
	p->depth--;
}

static void XMLCALL err_text(void *ud, const XML_Char *s, int len)
{
	err_parser *p = ud;
	pex_buf *b = p->field == 1 ? &p->code : p->field == 2 ? &p->message : NULL;
	/* Message is "text\nRequestId:...\nTime:..."; 1 KiB is plenty */
	if (p->depth == 2 && b && b->size < 1024 && pex__buf_put(b, s, (size_t)len) < 0)
		stop(&p->base, "out of memory");
}

/* Copy the first line of @src into dst, control characters as '?'. */
static void copy_line(char *dst, size_t size, const pex_buf *src)
{
	size_t i, n = 0;
	const char *s = src->ptr ? src->ptr : "";
	if (size == 0)
		return;
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	for (i = 0; s[i] && s[i] != '\n' && s[i] != '\r' && n + 1 < size; i++)
		dst[n++] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	while (n > 0 && dst[n - 1] == ' ')
		n--;
	dst[n] = '\0';
}

int pex__azure_parse_error(char *code, size_t code_size, char *message, size_t message_size,
	const char *body, size_t len)
{
	err_parser p;
	int err;
	memset(&p, 0, sizeof(p));
	if (code_size)
		code[0] = '\0';
	if (message_size)
		message[0] = '\0';
	err = run_parser(&p.base, &p, body, len, "Azure Error body", err_start, err_end, err_text);
	if (err == 0) {
		copy_line(code, code_size, &p.code);
		copy_line(message, message_size, &p.message);
	}
	pex_buf_dispose(&p.code);
	pex_buf_dispose(&p.message);
	return err;
}

int pex__azure_xml_escape(pex_buf *out, const char *s, size_t len)
{
	size_t i;
	int err = 0;
	for (i = 0; i < len && err == 0; i++) {
		switch (s[i]) {
		case '&': err = pex__buf_puts(out, "&amp;"); break;
		case '<': err = pex__buf_puts(out, "&lt;"); break;
		case '>': err = pex__buf_puts(out, "&gt;"); break;
		case '"': err = pex__buf_puts(out, "&quot;"); break;
		case '\'': err = pex__buf_puts(out, "&apos;"); break;
		default: err = pex__buf_putc(out, s[i]); break;
		}
	}
	return err;
}
