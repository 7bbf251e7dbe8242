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
 *   pex__azure_decode_text()     base64 is taken only when canonical:
 *                                re-encoding the bytes gives the text back.
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
	} else {
		CHECK(out.size == len && (len == 0 || memcmp(out.ptr, text, len) == 0));
	}
	pex_buf_dispose(&again);
	pex_buf_dispose(&out);
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
	pex_error_clear();
	return 0;
}
