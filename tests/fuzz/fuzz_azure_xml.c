/*
 * libFuzzer target for the Azure Storage Queue XML parsers (lib/azure/xml.c,
 * expat) and the MessageText decoder. Every input goes through:
 *
 *   pex__azure_parse_messages()  on success every message has a non-empty
 *                                id and a text of exactly text_len bytes;
 *                                on failure PEX_EPARSE, a non-empty message
 *                                and an empty list;
 *   pex__azure_parse_error()     code and message are NUL-terminated within
 *                                their buffers and single-line, without
 *                                control characters, also when truncated;
 *   an escape round trip         input that is printable ASCII (plus tab)
 *                                escaped with pex__azure_xml_escape() into a
 *                                QueueMessagesList, with a BOM, parses back
 *                                to exactly the input;
 *   pex__azure_decode_text()     base64 is taken only when canonical
 *                                (re-encoding the bytes gives the text
 *                                back) and the bytes are valid UTF-8;
 *   pex__azure_message_body()    accepts exactly the valid UTF-8 inputs (up
 *                                to 49152 bytes), and what it writes reads
 *                                back as the input (put/receive round trip).
 *
 * Any broken invariant aborts. Linked with replay.c for a plain-main build.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "azure/azure_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_azure_xml: invariant broken at %s:%d: %s\n", \
			__FILE__, __LINE__, #cond); \
		abort(); \
	} \
} while (0)

static void check_line(const char *s, size_t size)
{
	size_t n = strnlen(s, size);
	size_t i;
	CHECK(n < size);
	for (i = 0; i < n; i++)
		CHECK((unsigned char)s[i] >= 0x20 && s[i] != 0x7f);
}

static int is_utf8(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, n;
	unsigned long c;

	while (i < len) {
		if ((n = pex__utf8_decode(u + i, len - i, &c)) == 0)
			return 0;
		i += n;
	}
	return 1;
}

static void run_messages(const char *body, size_t len)
{
	pex__azure_msglist l;
	size_t i;
	int err;

	memset(&l, 0x5a, sizeof(l));
	err = pex__azure_parse_messages(&l, body, len);
	if (err < 0) {
		CHECK(err == PEX_EPARSE || err == PEX_ENOMEM);
		CHECK(l.items == NULL && l.count == 0);
		CHECK(pex_error_last()->message[0] != '\0');
		return;
	}
	for (i = 0; i < l.count; i++) {
		const pex__azure_msg *m = &l.items[i];
		CHECK(m->id != NULL && m->id[0] != '\0');
		CHECK(m->text != NULL);
		CHECK(memchr(m->text, '\0', m->text_len) == NULL && m->text[m->text_len] == '\0');
	}
	pex__azure_msglist_dispose(&l);
	CHECK(l.items == NULL && l.count == 0);
}

static void run_error(const char *body, size_t len)
{
	/* a small and a normal pair of buffers: truncation must stay in bounds */
	char code[8], message[16], code2[64], message2[256];
	int err;

	err = pex__azure_parse_error(code, sizeof(code), message, sizeof(message), body, len);
	check_line(code, sizeof(code));
	check_line(message, sizeof(message));
	if (err < 0) {
		CHECK(err == PEX_EPARSE || err == PEX_ENOMEM);
		CHECK(pex_error_last()->message[0] != '\0');
	}
	CHECK(pex__azure_parse_error(code2, sizeof(code2), message2, sizeof(message2), body, len) == err);
	check_line(code2, sizeof(code2));
	check_line(message2, sizeof(message2));
	if (err == 0) {
		CHECK(strncmp(code, code2, strlen(code)) == 0);
		CHECK(strncmp(message, message2, strlen(message)) == 0);
	}
}

static void run_roundtrip(const char *text, size_t len)
{
	pex__azure_msglist l;
	pex_buf xml = PEX_BUF_INIT;
	size_t i;

	for (i = 0; i < len; i++)
		if (!((text[i] >= 0x20 && text[i] < 0x7f) || text[i] == '\t'))
			return;
	CHECK(pex__buf_puts(&xml, "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"utf-8\"?>"
		"<QueueMessagesList><QueueMessage><MessageId>id-1</MessageId>"
		"<DequeueCount>1</DequeueCount><MessageText>") == 0);
	CHECK(pex__azure_xml_escape(&xml, text, len) == 0);
	CHECK(pex__buf_puts(&xml, "</MessageText></QueueMessage></QueueMessagesList>") == 0);
	CHECK(pex__azure_parse_messages(&l, xml.ptr, xml.size) == 0);
	CHECK(l.count == 1);
	CHECK(strcmp(l.items[0].id, "id-1") == 0);
	CHECK(l.items[0].dequeue_count == 1);
	CHECK(l.items[0].text_len == len);
	CHECK(memcmp(l.items[0].text, text, len) == 0);
	pex__azure_msglist_dispose(&l);
	pex_buf_dispose(&xml);
}

static void run_decode_text(const char *text, size_t len)
{
	pex_buf out = PEX_BUF_INIT, again = PEX_BUF_INIT;
	int was_base64 = -1;

	if (pex__azure_decode_text(&out, text, len, &was_base64) < 0) {
		pex_buf_dispose(&out);
		return;
	}
	CHECK(was_base64 == 0 || was_base64 == 1);
	if (was_base64) {
		CHECK(pex__base64_encode(&again, out.ptr ? out.ptr : "", out.size) == 0);
		CHECK(again.size == len && (len == 0 || memcmp(again.ptr, text, len) == 0));
		CHECK(is_utf8(out.ptr, out.size));
	} else {
		CHECK(out.size == len && (len == 0 || memcmp(out.ptr, text, len) == 0));
		/* canonical base64 is left alone only when it decodes to non-UTF-8 */
		pex__buf_clear(&again);
		if (len && pex__base64_decode(&again, text, len) == 0) {
			pex_buf enc = PEX_BUF_INIT;
			CHECK(pex__base64_encode(&enc, again.ptr ? again.ptr : "", again.size) == 0);
			if (enc.size == len && memcmp(enc.ptr, text, len) == 0)
				CHECK(!is_utf8(again.ptr, again.size));
			pex_buf_dispose(&enc);
		}
	}
	pex_buf_dispose(&again);
	pex_buf_dispose(&out);
}

/* What put writes, receive reads back: body -> MessageText -> bytes. */
static void run_message_body(const char *data, size_t len)
{
	static const char head[] = "<QueueMessage><MessageText>";
	static const char tail[] = "</MessageText></QueueMessage>";
	pex_buf body = PEX_BUF_INIT, back = PEX_BUF_INIT;
	int err, was_base64 = -1;
	const char *text;
	size_t text_len;

	err = pex__azure_message_body(&body, data, len);
	if (err < 0) {
		CHECK(err == PEX_EINVAL || err == PEX_ENOMEM);
		CHECK(err == PEX_ENOMEM || len > 49152 || !is_utf8(data, len));
		pex_buf_dispose(&body);
		return;
	}
	CHECK(len <= 49152 && is_utf8(data, len));
	CHECK(body.size >= sizeof(head) - 1 + sizeof(tail) - 1);
	CHECK(memcmp(body.ptr, head, sizeof(head) - 1) == 0);
	text = body.ptr + sizeof(head) - 1;
	text_len = body.size - (sizeof(head) - 1) - (sizeof(tail) - 1);
	CHECK(memcmp(text + text_len, tail, sizeof(tail) - 1) == 0);
	CHECK(pex__azure_decode_text(&back, text, text_len, &was_base64) == 0);
	CHECK(back.size == len && (len == 0 || memcmp(back.ptr, data, len) == 0));
	CHECK(was_base64 == (len > 0));
	pex_buf_dispose(&back);
	pex_buf_dispose(&body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;

	if (size > 128 * 1024)
		return 0;
	run_messages(body, size);
	run_error(body, size);
	run_roundtrip(body, size);
	run_decode_text(body, size);
	run_message_body(body, size);
	pex_error_clear();
	return 0;
}
