/*
 * Unit tests for pex_uui_to_tag() (pex_uui(3)): every rule and its
 * boundaries, then pex_tag_from_url() (a tag URL given as text: every rule,
 * with the offset in the caller's string), then a golden table of inputs
 * and their exact results or messages. Pure function: no sockets, no files.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "pexipsdk/uui.h"

#define TMPL "https://tags.example.com/t/{uui}"
#define TMPL_PREFIX "https://tags.example.com/t/"

static const char *const test_hosts[] = {
	"media.example.com",
	"Video.Example.org",
	"ports.example:8443",
	"[2001:db8::1]",
	"[2001:db8::2]:8443",
};

static pex_tag_rules test_rules(void)
{
	pex_tag_rules r = PEX_TAG_RULES_INIT;
	r.url_template = TMPL;
	r.allowed_hosts = test_hosts;
	r.allowed_host_count = PEX__ARRAY_SIZE(test_hosts);
	return r;
}

/* Hex-encode @p text (lowercase) into @p dst, then append @p suffix. */
static char *hexify_into(char *dst, size_t dstlen, const char *text, const char *suffix)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, n = strlen(text);
	ck_assert_uint_lt(2 * n + strlen(suffix), dstlen);
	for (i = 0; i < n; i++) {
		dst[2 * i] = hex[(unsigned char)text[i] >> 4];
		dst[2 * i + 1] = hex[(unsigned char)text[i] & 15];
	}
	strcpy(dst + 2 * n, suffix);
	return dst;
}

/* A string of @p n copies of @p c (static storage, one at a time). */
static const char *repeat(char c, size_t n)
{
	static char buf[4096];
	ck_assert_uint_lt(n, sizeof(buf));
	memset(buf, c, n);
	buf[n] = '\0';
	return buf;
}

static pex_buf g_out = PEX_BUF_INIT;

static const char *nn(const char *s)
{
	return s ? s : "(null)";
}

static void teardown(void)
{
	pex_buf_dispose(&g_out);
}

/* Expect success with exactly @p want in the output. */
#define OK_WITH(rules, input, want) do { \
	int _e = pex_uui_to_tag(&g_out, (input), (rules)); \
	ck_assert_msg(_e == 0, "input '%s': expected success, got %d: %s", \
		(input), _e, pex_error_last()->message); \
	ck_assert_str_eq(g_out.ptr, (want)); \
	ck_assert_uint_eq(g_out.size, strlen(want)); \
} while (0)

/* Expect PEX_EINVAL, @p out left empty, and @p want inside the message. */
#define FAILS_WITH(rules, input, want) do { \
	int _e = pex_uui_to_tag(&g_out, (input), (rules)); \
	ck_assert_msg(_e == PEX_EINVAL, "input '%s': expected PEX_EINVAL, got %d (%s)", \
		nn(input), _e, g_out.ptr ? g_out.ptr : ""); \
	ck_assert_uint_eq(g_out.size, 0); \
	ck_assert(g_out.ptr == NULL || g_out.ptr[0] == '\0'); \
	ck_assert_int_eq(pex_error_last()->code, PEX_EINVAL); \
	ck_assert_int_eq(pex_error_last()->klass, PEX_ERROR_CLASS_INVALID); \
	ck_assert_msg(strstr(pex_error_last()->message, (want)) != NULL, \
		"input '%s': message '%s' lacks '%s'", \
		nn(input), pex_error_last()->message, (want)); \
} while (0)

/* ---- the rules struct ---- */

START_TEST(test_rules_init)
{
	pex_tag_rules r;
	memset(&r, 0xab, sizeof(r));
	ck_assert_int_eq(pex_tag_rules_init(&r, PEX_TAG_RULES_VERSION), 0);
	ck_assert_uint_eq(r.version, PEX_TAG_RULES_VERSION);
	ck_assert_ptr_null(r.url_template);
	ck_assert_ptr_null(r.allowed_hosts);
	ck_assert_uint_eq(r.allowed_host_count, 0);
	ck_assert_uint_eq(r.max_octets, 0);
	ck_assert_int_eq(pex_tag_rules_init(&r, 0), PEX_EINVAL);
	ck_assert_str_eq(pex_error_last()->message,
		"unsupported pex_tag_rules version 0 (this library knows 1..1)");
	ck_assert_int_eq(pex_tag_rules_init(&r, PEX_TAG_RULES_VERSION + 1), PEX_EINVAL);
	ck_assert_ptr_nonnull(strstr(pex_error_last()->message, "version 2"));
	ck_assert_int_eq(pex_tag_rules_init(NULL, PEX_TAG_RULES_VERSION), PEX_EINVAL);
	ck_assert_str_eq(pex_error_last()->message, "pex_tag_rules_init: the pex_tag_rules is NULL");
}
END_TEST

START_TEST(test_bad_arguments)
{
	pex_tag_rules r = test_rules();
	ck_assert_int_eq(pex_uui_to_tag(NULL, "41", &r), PEX_EINVAL);
	ck_assert_ptr_nonnull(strstr(pex_error_last()->message, "out is NULL"));
	FAILS_WITH(NULL, "41", "no tag rules");
	FAILS_WITH(&r, NULL, "UUI: empty");
	r.version = 0;
	FAILS_WITH(&r, "41", "unsupported pex_tag_rules version 0");
	r.version = PEX_TAG_RULES_VERSION + 1;
	FAILS_WITH(&r, "41", "unsupported pex_tag_rules version 2");
}
END_TEST

/* ---- structure and whitespace ---- */

START_TEST(test_empty)
{
	pex_tag_rules r = test_rules();
	FAILS_WITH(&r, "", "UUI: empty");
	ck_assert_str_eq(pex_error_last()->message, "UUI: empty (no hex digits at offset 0)");
	FAILS_WITH(&r, " \t\r\n ", "UUI: empty");
	ck_assert_str_eq(pex_error_last()->message, "UUI: empty (no hex digits at offset 5)");
	FAILS_WITH(&r, ";encoding=hex", "UUI: empty (no hex digits before the parameters at offset 0)");
	FAILS_WITH(&r, "  ;encoding=hex", "at offset 2");
}
END_TEST

START_TEST(test_trim)
{
	pex_tag_rules r = test_rules();
	OK_WITH(&r, "  414243\t\r\n", TMPL_PREFIX "ABC");
	OK_WITH(&r, "\n414243;encoding=hex ", TMPL_PREFIX "ABC");
	/* whitespace inside the data is not trimmed */
	FAILS_WITH(&r, "41 42", "UUI: not a hex digit at offset 2 (' ')");
	FAILS_WITH(&r, "41\t42", "UUI: not a hex digit at offset 2 (byte 0x09)");
	/* offsets count the leading whitespace */
	FAILS_WITH(&r, "   4g", "UUI: not a hex digit at offset 4 ('g')");
	/* SWS before and around parameters belongs to the separators */
	OK_WITH(&r, "414243 ; encoding = hex ;purpose=x", TMPL_PREFIX "ABC");
}
END_TEST

/* ---- hex ---- */

START_TEST(test_hex_case)
{
	pex_tag_rules r = test_rules();
	OK_WITH(&r, "4a4b4C4D", TMPL_PREFIX "JKLM");
	OK_WITH(&r, "4A4B4C4D", TMPL_PREFIX "JKLM");
	OK_WITH(&r, "6162636465666768696a6b6c6d6e6f70", TMPL_PREFIX "abcdefghijklmnop");
	OK_WITH(&r, "6162636465666768696A6B6C6D6E6F70", TMPL_PREFIX "abcdefghijklmnop");
	OK_WITH(&r, "30313233343536373839", TMPL_PREFIX "0123456789");
}
END_TEST

START_TEST(test_bad_hex_each_position)
{
	/* every position of a 20-digit input, with several kinds of bad byte */
	static const char bad[] = { 'g', 'G', 'x', 'z', '-', '+', '.', '"', 'h' };
	pex_tag_rules r = test_rules();
	const char *base = "41424344454647484950";
	size_t pos, b;
	for (pos = 0; pos < strlen(base); pos++) {
		for (b = 0; b < sizeof(bad); b++) {
			char in[32], want[64];
			strcpy(in, base);
			in[pos] = bad[b];
			snprintf(want, sizeof(want), "UUI: not a hex digit at offset %zu ('%c')", pos, bad[b]);
			FAILS_WITH(&r, in, want);
			ck_assert_str_eq(pex_error_last()->message, want);
		}
	}
}
END_TEST

START_TEST(test_bad_hex_bytes)
{
	pex_tag_rules r = test_rules();
	FAILS_WITH(&r, "41\x01" "42", "offset 2 (byte 0x01)");
	FAILS_WITH(&r, "41\xff" "42", "offset 2 (byte 0xff)");
	FAILS_WITH(&r, "41\xc3\xa9", "offset 2 (byte 0xc3)");
	FAILS_WITH(&r, "0x4142", "offset 1 ('x')");
	FAILS_WITH(&r, "41,42", "offset 2 (',')");  /* one uui-value only */
	FAILS_WITH(&r, "\"4142\"", "offset 0 ('\"')");
	/* the first bad digit wins over an odd length */
	FAILS_WITH(&r, "41g", "not a hex digit at offset 2");
}
END_TEST

START_TEST(test_odd_length)
{
	pex_tag_rules r = test_rules();
	/* the message names the digit left without a pair, by its input offset */
	FAILS_WITH(&r, "4", "UUI: odd number of hex digits (1): the digit at offset 0 has no pair");
	FAILS_WITH(&r, "414", "UUI: odd number of hex digits (3): the digit at offset 2 has no pair");
	FAILS_WITH(&r, "4142434445464", "UUI: odd number of hex digits (13)");
	ck_assert_str_eq(pex_error_last()->message,
		"UUI: odd number of hex digits (13): the digit at offset 12 has no pair");
	FAILS_WITH(&r, "414;encoding=hex", "odd number of hex digits (3): the digit at offset 2 has no pair");
	/* leading whitespace counts; SWS before the parameters does not */
	FAILS_WITH(&r, "  414", "odd number of hex digits (3): the digit at offset 4 has no pair");
	FAILS_WITH(&r, "\t41424 ;encoding=hex", "odd number of hex digits (5): the digit at offset 5 has no pair");
}
END_TEST

START_TEST(test_size_default)
{
	pex_tag_rules r = test_rules();
	char in[1024];
	char want[512];

	/* 127 and 128 octets pass; 129 fails */
	hexify_into(in, sizeof(in), repeat('a', 127), "");
	strcpy(want, TMPL_PREFIX);
	strcat(want, repeat('a', 127));
	OK_WITH(&r, in, want);
	hexify_into(in, sizeof(in), repeat('a', 128), "");
	strcpy(want, TMPL_PREFIX);
	strcat(want, repeat('a', 128));
	OK_WITH(&r, in, want);
	ck_assert_uint_eq(g_out.size, strlen(TMPL_PREFIX) + 128);
	hexify_into(in, sizeof(in), repeat('a', 129), "");
	FAILS_WITH(&r, in, "UUI: decodes to 129 octets; at most 128 allowed");
	hexify_into(in, sizeof(in), repeat('a', 130), "");
	FAILS_WITH(&r, in, "UUI: decodes to 130 octets; at most 128 allowed (offset 256 is past the limit)");
	/* 256 hex digits is the limit, 258 is not, whatever the parameters */
	hexify_into(in, sizeof(in), repeat('a', 129), ";encoding=hex");
	FAILS_WITH(&r, in, "decodes to 129 octets");
	/* the size check comes before the content checks */
	strcpy(in, repeat('0', 258));
	FAILS_WITH(&r, in, "decodes to 129 octets");
	strcpy(in, repeat('0', 256));
	FAILS_WITH(&r, in, "control character");
}
END_TEST

START_TEST(test_size_custom)
{
	pex_tag_rules r = test_rules();
	char in[2048];

	r.max_octets = 10;
	OK_WITH(&r, hexify_into(in, sizeof(in), "0123456789", ""), TMPL_PREFIX "0123456789");
	FAILS_WITH(&r, hexify_into(in, sizeof(in), "0123456789A", ""),
		"UUI: decodes to 11 octets; at most 10 allowed (offset 20 is past the limit)");
	r.max_octets = 1;
	OK_WITH(&r, "7a", TMPL_PREFIX "z");
	FAILS_WITH(&r, "7a7a", "decodes to 2 octets; at most 1 allowed");
	/* a larger limit: 200 octets decode, but the result must still fit */
	r.max_octets = 300;
	r.url_template = "https://t.example/{uui}";
	OK_WITH(&r, hexify_into(in, sizeof(in), repeat('b', 232), ""),
		"https://t.example/" "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
		"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
		"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
	ck_assert_uint_eq(g_out.size, 250);
	FAILS_WITH(&r, hexify_into(in, sizeof(in), repeat('b', 233), ""),
		"tag: the URL is 251 characters; Pexip allows at most 250");
	FAILS_WITH(&r, hexify_into(in, sizeof(in), repeat('b', 300), ""),
		"tag: the URL is 318 characters");
	FAILS_WITH(&r, hexify_into(in, sizeof(in), repeat('b', 301), ""),
		"decodes to 301 octets; at most 300 allowed");
}
END_TEST

/* ---- UTF-8 ---- */

START_TEST(test_utf8_valid)
{
	pex_tag_rules r = test_rules();
	OK_WITH(&r, "c3a9", TMPL_PREFIX "%C3%A9");                 /* é, U+00E9 */
	OK_WITH(&r, "C2A0", TMPL_PREFIX "%C2%A0");                 /* U+00A0: first after C1 */
	OK_WITH(&r, "dfbf", TMPL_PREFIX "%DF%BF");                 /* U+07FF */
	OK_WITH(&r, "e0a080", TMPL_PREFIX "%E0%A0%80");            /* U+0800 */
	OK_WITH(&r, "e282ac", TMPL_PREFIX "%E2%82%AC");            /* € */
	OK_WITH(&r, "ed9fbf", TMPL_PREFIX "%ED%9F%BF");            /* U+D7FF */
	OK_WITH(&r, "ee8080", TMPL_PREFIX "%EE%80%80");            /* U+E000 */
	OK_WITH(&r, "efbfbd", TMPL_PREFIX "%EF%BF%BD");            /* U+FFFD */
	OK_WITH(&r, "f0908080", TMPL_PREFIX "%F0%90%80%80");       /* U+10000 */
	OK_WITH(&r, "f09f9880", TMPL_PREFIX "%F0%9F%98%80");       /* 😀 */
	OK_WITH(&r, "f48fbfbf", TMPL_PREFIX "%F4%8F%BF%BF");       /* U+10FFFF */
	OK_WITH(&r, "41c3a942", TMPL_PREFIX "A%C3%A9B");
}
END_TEST

START_TEST(test_utf8_invalid)
{
	pex_tag_rules r = test_rules();
	/* lone and stray continuation bytes */
	FAILS_WITH(&r, "80", "UUI: invalid UTF-8 at octet 0 (input offset 0): unexpected continuation byte");
	FAILS_WITH(&r, "4142bf", "UUI: invalid UTF-8 at octet 2 (input offset 4): unexpected continuation byte");
	FAILS_WITH(&r, "c3a9a9", "at octet 2 (input offset 4): unexpected continuation byte");
	/* overlongs */
	FAILS_WITH(&r, "c080", "at octet 0 (input offset 0): overlong encoding");
	FAILS_WITH(&r, "c1bf", "overlong encoding");
	FAILS_WITH(&r, "e08080", "overlong encoding");
	FAILS_WITH(&r, "e09fbf", "overlong encoding");
	FAILS_WITH(&r, "f0808080", "overlong encoding");
	FAILS_WITH(&r, "f08fbfbf", "overlong encoding");
	FAILS_WITH(&r, "41414141c0af", "UUI: invalid UTF-8 at octet 4 (input offset 8): overlong encoding");
	/* surrogates */
	FAILS_WITH(&r, "eda080", "surrogate code point");
	FAILS_WITH(&r, "edbfbf", "surrogate code point");
	FAILS_WITH(&r, "41eda0bd", "UUI: invalid UTF-8 at octet 1 (input offset 2): surrogate code point");
	/* beyond U+10FFFF */
	FAILS_WITH(&r, "f4908080", "code point above U+10FFFF");
	FAILS_WITH(&r, "f5808080", "code point above U+10FFFF");
	FAILS_WITH(&r, "f7bfbfbf", "code point above U+10FFFF");
	FAILS_WITH(&r, "f8888080", "byte never used in UTF-8");
	FAILS_WITH(&r, "fe", "byte never used in UTF-8");
	FAILS_WITH(&r, "ff", "byte never used in UTF-8");
	/* truncated: at the end, or interrupted by another character */
	FAILS_WITH(&r, "c3", "at octet 0 (input offset 0): truncated sequence");
	FAILS_WITH(&r, "4141e282", "UUI: invalid UTF-8 at octet 2 (input offset 4): truncated sequence");
	FAILS_WITH(&r, "f09f98", "truncated sequence");
	FAILS_WITH(&r, "c341", "truncated sequence");
	FAILS_WITH(&r, "e28241", "truncated sequence");
	FAILS_WITH(&r, "f09fc3a9", "truncated sequence");
	/* the first problem is reported */
	FAILS_WITH(&r, "41c3410a", "at octet 1 (input offset 2): truncated sequence");
}
END_TEST

/* ---- control characters ---- */

START_TEST(test_controls_c0_del)
{
	pex_tag_rules r = test_rules();
	unsigned c;
	for (c = 0; c < 0x20; c++) {
		char in[16], want[96];
		snprintf(in, sizeof(in), "4142%02x43", c);
		snprintf(want, sizeof(want),
			"UUI: decoded byte 0x%02x at octet 2 (input offset 4) is a control character", c);
		FAILS_WITH(&r, in, want);
		ck_assert_str_eq(pex_error_last()->message, want);
	}
	FAILS_WITH(&r, "7f", "UUI: decoded byte 0x7f at octet 0 (input offset 0) is a control character");
	FAILS_WITH(&r, "414243440a", "decoded byte 0x0a at octet 4 (input offset 8)");
	FAILS_WITH(&r, "09", "decoded byte 0x09");     /* TAB */
	FAILS_WITH(&r, "0d0a", "decoded byte 0x0d");   /* CR LF */
	FAILS_WITH(&r, "00", "decoded byte 0x00");     /* NUL */
	/* the printable neighbours are fine */
	OK_WITH(&r, "20", TMPL_PREFIX "%20");
	OK_WITH(&r, "7e", TMPL_PREFIX "~");
}
END_TEST

START_TEST(test_controls_c1)
{
	pex_tag_rules r = test_rules();
	unsigned c;
	for (c = 0x80; c <= 0x9f; c++) {
		char in[16], want[112];
		snprintf(in, sizeof(in), "41c2%02x", c);
		snprintf(want, sizeof(want),
			"UUI: decoded character U+%04X at octet 1 (input offset 2) is a control character (C1)", c);
		FAILS_WITH(&r, in, want);
		ck_assert_str_eq(pex_error_last()->message, want);
	}
	OK_WITH(&r, "c2a0", TMPL_PREFIX "%C2%A0");
	OK_WITH(&r, "c2bf", TMPL_PREFIX "%C2%BF");
}
END_TEST

/* ---- RFC 7433 parameters ---- */

START_TEST(test_params_valid)
{
	pex_tag_rules r = test_rules();
	OK_WITH(&r, "414243;encoding=hex", TMPL_PREFIX "ABC");
	OK_WITH(&r, "414243;encoding=HEX", TMPL_PREFIX "ABC");
	OK_WITH(&r, "414243;ENCODING=Hex", TMPL_PREFIX "ABC");
	OK_WITH(&r, "414243;encoding=hex;purpose=isdn-uui;content=isdn-uui", TMPL_PREFIX "ABC");
	OK_WITH(&r, "414243;Purpose=isdn-uui;CONTENT=isdn-uui;Encoding=hex", TMPL_PREFIX "ABC");
	OK_WITH(&r, "414243;purpose=other-pkg", TMPL_PREFIX "ABC");
	/* generic params: with or without a value, token, host or quoted */
	OK_WITH(&r, "414243;foo", TMPL_PREFIX "ABC");
	OK_WITH(&r, "414243;foo=bar;baz", TMPL_PREFIX "ABC");
	OK_WITH(&r, "414243;x-host=[2001:db8::1]:5060", TMPL_PREFIX "ABC");
	OK_WITH(&r, "414243;note=\"a;b=c \\\" d\";encoding=hex", TMPL_PREFIX "ABC");
	OK_WITH(&r, "414243 ;\tencoding\t=\thex\t; foo = bar", TMPL_PREFIX "ABC");
}
END_TEST

START_TEST(test_params_invalid)
{
	pex_tag_rules r = test_rules();
	FAILS_WITH(&r, "4142;encoding=base64", "UUI: unsupported encoding 'base64' at offset 14 (only hex)");
	FAILS_WITH(&r, "56a390f3d2b7310023a2;encoding=base64", "unsupported encoding 'base64' at offset 30");
	FAILS_WITH(&r, "4142;encoding=\"hex\"", "unsupported encoding '\"hex\"' at offset 14");
	FAILS_WITH(&r, "4142;encoding=hexx", "unsupported encoding 'hexx'");
	FAILS_WITH(&r, "4142;encoding", "UUI: parameter 'encoding' at offset 5 needs a value");
	FAILS_WITH(&r, "4142;purpose", "parameter 'purpose' at offset 5 needs a value");
	FAILS_WITH(&r, "4142;encoding=", "UUI: parameter 'encoding' at offset 5 has an empty value");
	FAILS_WITH(&r, "4142;foo=", "parameter 'foo' at offset 5 has an empty value");
	FAILS_WITH(&r, "4142;", "UUI: empty parameter at offset 4");
	FAILS_WITH(&r, "4142;;encoding=hex", "UUI: empty parameter at offset 4");
	FAILS_WITH(&r, "4142;encoding=hex;", "UUI: empty parameter at offset 17");
	FAILS_WITH(&r, "4142; ;x", "empty parameter at offset 4");
	FAILS_WITH(&r, "4142;=hex", "UUI: malformed parameter at offset 5 ('=' where a name should be)");
	FAILS_WITH(&r, "4142;\x01", "malformed parameter at offset 5 (byte 0x01 where a name should be)");
	FAILS_WITH(&r, "4142;foo=bar baz", "UUI: malformed parameter at offset 5 (unexpected 'b' at offset 13)");
	FAILS_WITH(&r, "4142;fo o", "malformed parameter at offset 5 (unexpected 'o' at offset 8)");
	FAILS_WITH(&r, "4142;foo=\"abc", "UUI: unterminated quoted string in parameter 'foo' at offset 9");
	FAILS_WITH(&r, "4142;foo=\"abc\\\"", "unterminated quoted string");
	FAILS_WITH(&r, "4142;purpose=a;purpose=b", "UUI: duplicate parameter 'purpose' at offset 15");
	FAILS_WITH(&r, "4142;encoding=hex;Encoding=hex", "duplicate parameter 'Encoding' at offset 18");
	FAILS_WITH(&r, "4142;purpose=\"x\"", "parameter 'purpose' at offset 5 needs a token, not a quoted string");
	FAILS_WITH(&r, "4142;content=a:b", "malformed parameter at offset 5 (':' at offset 14 is not a token character)");
	/* parameters are checked before the data */
	FAILS_WITH(&r, "SGVsbG8=;encoding=base64", "unsupported encoding 'base64'");
}
END_TEST

/* ---- the template ---- */

START_TEST(test_percent_encoding)
{
	pex_tag_rules r = test_rules();
	char in[512];
	OK_WITH(&r, hexify_into(in, sizeof(in), "a b/c?d=e&f#g%h", ""),
		TMPL_PREFIX "a%20b%2Fc%3Fd%3De%26f%23g%25h");
	OK_WITH(&r, hexify_into(in, sizeof(in), "{uui}", ""), TMPL_PREFIX "%7Buui%7D");
	OK_WITH(&r, hexify_into(in, sizeof(in), "-._~", ""), TMPL_PREFIX "-._~");
	OK_WITH(&r, hexify_into(in, sizeof(in), "!*'();:@+$,[]\"<>\\^`|", ""),
		TMPL_PREFIX "%21%2A%27%28%29%3B%3A%40%2B%24%2C%5B%5D%22%3C%3E%5C%5E%60%7C");
}
END_TEST

START_TEST(test_template_forms)
{
	pex_tag_rules r = test_rules();
	r.url_template = "https://t.example/{uui}?again={uui}&x={uui}";
	OK_WITH(&r, "41", "https://t.example/A?again=A&x=A");
	r.url_template = "{uui}";
	OK_WITH(&r, "4120", "A%20");
	r.url_template = "https://t.example/{uui}{uui}";
	OK_WITH(&r, "41", "https://t.example/AA");
	r.url_template = "https://t.example/{UUI}";
	FAILS_WITH(&r, "41", "tag.url_template does not contain \"{uui}\"");
	r.url_template = "https://t.example/";
	FAILS_WITH(&r, "41", "tag.url_template does not contain \"{uui}\"");
	r.url_template = "";
	FAILS_WITH(&r, "41", "does not contain");
	r.url_template = NULL;
	FAILS_WITH(&r, "41", "UUI: the decoded text (input offset 0) is not an absolute URL and tag.url_template is not set");
	FAILS_WITH(&r, "  41", "UUI: the decoded text (input offset 2) is not an absolute URL");
	/* NULL template: absolute URLs still work */
	OK_WITH(&r, hexify_into((char[256]){ 0 }, 256, "https://media.example.com/x", ""),
		"https://media.example.com/x");
}
END_TEST

START_TEST(test_template_too_long)
{
	pex_tag_rules r = test_rules();
	char tmpl[512], in[512], want[512];

	/* 245 fixed characters + {uui}: 5 characters fit, 6 do not */
	snprintf(tmpl, sizeof(tmpl), "https://t.example/%s{uui}", repeat('p', 227));
	r.url_template = tmpl;
	snprintf(want, sizeof(want), "https://t.example/%sABCDE", repeat('p', 227));
	OK_WITH(&r, "4142434445", want);
	ck_assert_uint_eq(g_out.size, 250);
	FAILS_WITH(&r, "414243444546", "tag: the URL is 251 characters; Pexip allows at most 250");
	/* the message names the first octet that does not fit, and where it is */
	ck_assert_str_eq(pex_error_last()->message, "tag: the URL is 251 characters; Pexip allows at most 250 "
		"(octet 5, input offset 10, is the first that does not fit)");
	FAILS_WITH(&r, "  414243444546474849", "tag: the URL is 254 characters; Pexip allows at most 250 "
		"(octet 5, input offset 12, is the first that does not fit)");
	/* percent-encoding counts: one space is three characters */
	FAILS_WITH(&r, "41424320", "tag: the URL is 251 characters; Pexip allows at most 250 "
		"(octet 3, input offset 6, is the first that does not fit)");
	FAILS_WITH(&r, "4142434420", "tag: the URL is 252 characters");
	FAILS_WITH(&r, "4142434420", "(octet 4, input offset 8, is the first");
	snprintf(want, sizeof(want), "https://t.example/%sAB%%20", repeat('p', 227));
	OK_WITH(&r, "414220", want);
	ck_assert_uint_eq(g_out.size, 250);

	/* several {uui} multiply: 20 fixed + 3 x 76 = 248, 3 x 78 = 254 */
	r.url_template = "https://t.example/{uui}/{uui}/{uui}";
	hexify_into(in, sizeof(in), repeat('q', 76), "");
	ck_assert_int_eq(pex_uui_to_tag(&g_out, in, &r), 0);
	ck_assert_uint_eq(g_out.size, 20 + 3 * 76);
	hexify_into(in, sizeof(in), repeat('q', 78), "");
	FAILS_WITH(&r, in, "tag: the URL is 254 characters");
	/* 76 copies fit (248), the 77th octet makes 251 */
	FAILS_WITH(&r, in, "(octet 76, input offset 152, is the first that does not fit)");
	hexify_into(in, sizeof(in), repeat('q', 77), "");
	FAILS_WITH(&r, in, "tag: the URL is 251 characters; Pexip allows at most 250 (octet 76, input offset 152,");

	/* a template over the limit on its own */
	snprintf(tmpl, sizeof(tmpl), "https://t.example/%s{uui}", repeat('p', 300));
	r.url_template = tmpl;
	FAILS_WITH(&r, "41", "tag: the URL is 319 characters");
	ck_assert_str_eq(pex_error_last()->message, "tag: the URL is 319 characters; Pexip allows at most 250 "
		"(tag.url_template without the UUI is already 318)");
}
END_TEST

/* ---- absolute URLs ---- */

/* Run @p url (text) through with the test rules; expect it back. */
#define URL_OK(rules, url) do { \
	char _in[1024]; \
	OK_WITH((rules), hexify_into(_in, sizeof(_in), (url), ""), (url)); \
} while (0)

#define URL_FAILS(rules, url, want) do { \
	char _in[1024]; \
	FAILS_WITH((rules), hexify_into(_in, sizeof(_in), (url), ""), (want)); \
} while (0)

START_TEST(test_url_allowed)
{
	pex_tag_rules r = test_rules();
	URL_OK(&r, "https://media.example.com/room/42?x=1#frag");
	URL_OK(&r, "https://media.example.com");
	URL_OK(&r, "https://media.example.com/");
	URL_OK(&r, "https://media.example.com?q");
	URL_OK(&r, "https://media.example.com#f");
	URL_OK(&r, "HTTPS://MEDIA.EXAMPLE.COM/X");            /* scheme and host, any case */
	URL_OK(&r, "HtTpS://Media.Example.Com/x");
	URL_OK(&r, "https://video.example.org/v");           /* entry "Video.Example.org" */
	URL_OK(&r, "https://VIDEO.EXAMPLE.ORG/v");
	URL_OK(&r, "https://media.example.com/a%20b%2Fc");
	URL_OK(&r, "https://media.example.com/!$&'()*+,;=:@-._~[]?/");
	URL_OK(&r, "https://[2001:db8::1]/v6");
	URL_OK(&r, "https://[2001:DB8::1]/v6");
	URL_OK(&r, "https://[2001:db8::2]:8443/v6");
	/* the URL is not percent-encoded again */
	ck_assert_str_eq(g_out.ptr, "https://[2001:db8::2]:8443/v6");
}
END_TEST

START_TEST(test_url_rejected)
{
	pex_tag_rules r = test_rules();
	URL_FAILS(&r, "https://evil.example/x", "UUI: URL host 'evil.example' is not in tag.allowed_hosts (input offset 16)");
	URL_FAILS(&r, "https://media.example.com.evil.example/", "host 'media.example.com.evil.example' is not in");
	URL_FAILS(&r, "https://example.com/", "host 'example.com' is not in");
	URL_FAILS(&r, "https://media.example.co/", "host 'media.example.co' is not in");
	URL_FAILS(&r, "https://media.example.com./", "host 'media.example.com.' is not in");
	URL_FAILS(&r, "https://med%69a.example.com/", "host 'med%69a.example.com' is not in");
	/* schemes: http and anything else that looks like a URL */
	URL_FAILS(&r, "http://media.example.com/", "UUI: URL scheme 'http' is not allowed, only https (input offset 0)");
	URL_FAILS(&r, "HTTP://media.example.com/", "URL scheme 'HTTP' is not allowed");
	URL_FAILS(&r, "ftp://media.example.com/", "URL scheme 'ftp' is not allowed");
	URL_FAILS(&r, "javascript://media.example.com/%0Aalert(1)", "URL scheme 'javascript' is not allowed");
	URL_FAILS(&r, "a+b.c-d://x", "URL scheme 'a+b.c-d' is not allowed");
	URL_FAILS(&r, "httpss://media.example.com/", "URL scheme 'httpss'");
	/* userinfo */
	URL_FAILS(&r, "https://user@media.example.com/", "UUI: URL userinfo is not allowed ('@' at octet 12, input offset 24)");
	URL_FAILS(&r, "https://user:pw@media.example.com/", "URL userinfo is not allowed");
	URL_FAILS(&r, "https://media.example.com@evil.example/", "URL userinfo is not allowed");
	URL_FAILS(&r, "https://@media.example.com/", "URL userinfo is not allowed");
	/* an '@' after the authority is only a path character */
	URL_OK(&r, "https://media.example.com/@user");
	/* no host, bad literal */
	URL_FAILS(&r, "https:///path", "UUI: URL has no host (input offset 16)");
	URL_FAILS(&r, "https://", "URL has no host");
	URL_FAILS(&r, "https://:8443/", "URL has no host");
	URL_FAILS(&r, "https://[2001:db8::1/", "unterminated IPv6 literal at octet 8");
	URL_FAILS(&r, "https://[2001:db8::1]x/", "junk after the IPv6 literal at octet 21");
	URL_FAILS(&r, "https://[2001:db8::3]/", "host '[2001:db8::3]' is not in");
	/* characters a URL may not hold */
	URL_FAILS(&r, "https://media.example.com/a b", "UUI: URL character ' ' at octet 27 (input offset 54) is not allowed (RFC 3986)");
	URL_FAILS(&r, "https://media.example.com\\@evil.example/", "URL character '\\' at octet 25");
	URL_FAILS(&r, "https://media.example.com/<x>", "URL character '<'");
	URL_FAILS(&r, "https://media.example.com/\"", "URL character '\"'");
	URL_FAILS(&r, "https://media.example.com/{uui}", "URL character '{'");
	URL_FAILS(&r, "https://media.example.com/\xc3\xa9", "UUI: URL has a non-ASCII character at octet 26 (input offset 52); percent-encode it");
	URL_FAILS(&r, "https://media.example.com/%zz", "UUI: URL has a malformed percent-escape at octet 26 (input offset 52)");
	URL_FAILS(&r, "https://media.example.com/%4", "malformed percent-escape");
	URL_FAILS(&r, "https://media.example.com/%", "malformed percent-escape");
	/* no allowed hosts: every URL is refused */
	r.allowed_hosts = NULL;
	r.allowed_host_count = 0;
	URL_FAILS(&r, "https://media.example.com/", "host 'media.example.com' is not in tag.allowed_hosts");
}
END_TEST

START_TEST(test_url_ports)
{
	pex_tag_rules r = test_rules();
	/* entry "ports.example:8443" admits exactly that port */
	URL_OK(&r, "https://ports.example:8443/x");
	URL_OK(&r, "https://PORTS.example:8443");
	URL_OK(&r, "https://ports.example:08443/x");          /* compared as numbers */
	URL_FAILS(&r, "https://ports.example:8444/x",
		"UUI: URL host 'ports.example:8444' is not in tag.allowed_hosts with that port; ports must match exactly (input offset 16)");
	URL_FAILS(&r, "https://ports.example/x", "host 'ports.example' is not in tag.allowed_hosts with that port");
	/* entry "media.example.com" admits no explicit port, not even 443 */
	URL_FAILS(&r, "https://media.example.com:443/", "host 'media.example.com:443' is not in tag.allowed_hosts with that port");
	URL_FAILS(&r, "https://[2001:db8::1]:443/", "with that port");
	URL_FAILS(&r, "https://[2001:db8::2]/", "with that port");
	/* malformed ports */
	URL_FAILS(&r, "https://media.example.com:/", "UUI: URL port '' at octet 26 (input offset 52) is not a number in 1..65535");
	URL_FAILS(&r, "https://ports.example:99999/", "port '99999'");
	URL_FAILS(&r, "https://ports.example:0/", "port '0'");
	URL_FAILS(&r, "https://ports.example:123456/", "port '123456'");
	URL_FAILS(&r, "https://ports.example:84a3/", "port '84a3'");
	URL_FAILS(&r, "https://ports.example:8443:1/", "port '8443:1'");
	URL_FAILS(&r, "https://2001:db8::1/", "port 'db8::1'");
}
END_TEST

START_TEST(test_url_host_entries)
{
	/* odd entries: NULL skipped, malformed ones admit nothing */
	static const char *const hosts[] = { NULL, "bad.example:http", "[v6", "[::1]x", "", "ok.example" };
	pex_tag_rules r = test_rules();
	r.allowed_hosts = hosts;
	r.allowed_host_count = PEX__ARRAY_SIZE(hosts);
	URL_OK(&r, "https://ok.example/");
	URL_FAILS(&r, "https://bad.example/", "host 'bad.example' is not in tag.allowed_hosts (input");
	URL_FAILS(&r, "https://bad.example:80/", "host 'bad.example' is not in tag.allowed_hosts (input");
	URL_FAILS(&r, "https://[::1]/", "host '[::1]' is not in");
	/* allowed_hosts NULL but a count: nothing is read */
	r.allowed_hosts = NULL;
	r.allowed_host_count = 3;
	URL_FAILS(&r, "https://ok.example/", "host 'ok.example' is not in");
}
END_TEST

START_TEST(test_url_detection)
{
	pex_tag_rules r = test_rules();
	char in[512];
	/* not "scheme://": the template, percent-encoded */
	OK_WITH(&r, hexify_into(in, sizeof(in), "https:/media.example.com", ""),
		TMPL_PREFIX "https%3A%2Fmedia.example.com");
	OK_WITH(&r, hexify_into(in, sizeof(in), "https:media.example.com", ""),
		TMPL_PREFIX "https%3Amedia.example.com");
	OK_WITH(&r, hexify_into(in, sizeof(in), "mailto:a@b.example", ""),
		TMPL_PREFIX "mailto%3Aa%40b.example");
	OK_WITH(&r, hexify_into(in, sizeof(in), "1https://evil.example", ""),
		TMPL_PREFIX "1https%3A%2F%2Fevil.example");
	OK_WITH(&r, hexify_into(in, sizeof(in), " https://evil.example", ""),
		TMPL_PREFIX "%20https%3A%2F%2Fevil.example");
	OK_WITH(&r, hexify_into(in, sizeof(in), "-a://x", ""), TMPL_PREFIX "-a%3A%2F%2Fx");
	OK_WITH(&r, hexify_into(in, sizeof(in), "https", ""), TMPL_PREFIX "https");
	OK_WITH(&r, hexify_into(in, sizeof(in), "https:", ""), TMPL_PREFIX "https%3A");
	OK_WITH(&r, hexify_into(in, sizeof(in), "https:/", ""), TMPL_PREFIX "https%3A%2F");
	OK_WITH(&r, hexify_into(in, sizeof(in), "h", ""), TMPL_PREFIX "h");
	OK_WITH(&r, hexify_into(in, sizeof(in), "a_b://x", ""), TMPL_PREFIX "a_b%3A%2F%2Fx");
	/* "scheme://": never the template */
	URL_FAILS(&r, "x://", "URL scheme 'x' is not allowed");
	URL_FAILS(&r, "evil://media.example.com", "URL scheme 'evil'");
}
END_TEST

START_TEST(test_url_length)
{
	pex_tag_rules r = test_rules();
	char url[512], in[1024];
	/* "https://media.example.com/" is 26 characters */
	r.max_octets = 300;
	snprintf(url, sizeof(url), "https://media.example.com/%s", repeat('x', 224));
	ck_assert_uint_eq(strlen(url), 250);
	OK_WITH(&r, hexify_into(in, sizeof(in), url, ""), url);
	ck_assert_uint_eq(g_out.size, 250);
	snprintf(url, sizeof(url), "https://media.example.com/%s", repeat('x', 225));
	FAILS_WITH(&r, hexify_into(in, sizeof(in), url, ""),
		"tag: the URL is 251 characters; Pexip allows at most 250");
	ck_assert_str_eq(pex_error_last()->message, "tag: the URL is 251 characters; Pexip allows at most 250 "
		"(octet 250, input offset 500, is the first that does not fit)");
	snprintf(url, sizeof(url), "https://media.example.com/%s", repeat('x', 236));
	FAILS_WITH(&r, hexify_into(in, sizeof(in), url, ""), "tag: the URL is 262 characters");
	/* the default limit of 128 octets stops long URLs first */
	r.max_octets = 0;
	FAILS_WITH(&r, hexify_into(in, sizeof(in), url, ""), "decodes to 262 octets; at most 128 allowed");
	/* host checks come before the length */
	r.max_octets = 1000;
	snprintf(url, sizeof(url), "https://evil.example/%s", repeat('x', 300));
	FAILS_WITH(&r, hexify_into(in, sizeof(in), url, ""), "host 'evil.example' is not in");
}
END_TEST

/* ---- the output buffer ---- */

START_TEST(test_buffer_reuse)
{
	pex_tag_rules r = test_rules();
	pex_buf b = PEX_BUF_INIT;
	char in[512];
	int i;

	ck_assert_int_eq(pex__buf_puts(&b, "previous contents that are long enough to matter"), 0);
	ck_assert_int_eq(pex_uui_to_tag(&b, "41", &r), 0);
	ck_assert_str_eq(b.ptr, TMPL_PREFIX "A");
	ck_assert_uint_eq(b.size, strlen(TMPL_PREFIX) + 1);

	/* an error empties it */
	ck_assert_int_eq(pex_uui_to_tag(&b, "4g", &r), PEX_EINVAL);
	ck_assert_uint_eq(b.size, 0);
	ck_assert_str_eq(b.ptr, "");

	/* errors raised late (after the URL was recognised) also empty it */
	ck_assert_int_eq(pex__buf_puts(&b, "junk"), 0);
	ck_assert_int_eq(pex_uui_to_tag(&b, hexify_into(in, sizeof(in), "https://evil.example/", ""), &r),
		PEX_EINVAL);
	ck_assert_uint_eq(b.size, 0);
	ck_assert_str_eq(b.ptr, "");
	ck_assert_int_eq(pex__buf_puts(&b, "junk"), 0);
	r.url_template = "https://t.example/{uui}";
	r.max_octets = 300;
	ck_assert_int_eq(pex_uui_to_tag(&b, hexify_into(in, sizeof(in), repeat('z', 240), ""), &r),
		PEX_EINVAL);
	ck_assert_uint_eq(b.size, 0);
	ck_assert_str_eq(b.ptr, "");

	/* many calls on one buffer: sizes go up and down */
	for (i = 1; i <= 100; i++) {
		char want[256];
		hexify_into(in, sizeof(in), repeat('k', (size_t)i), "");
		snprintf(want, sizeof(want), "https://t.example/%s", repeat('k', (size_t)i));
		ck_assert_int_eq(pex_uui_to_tag(&b, in, &r), 0);
		ck_assert_str_eq(b.ptr, want);
		ck_assert_int_eq(pex_uui_to_tag(&b, "7a", &r), 0);
		ck_assert_str_eq(b.ptr, "https://t.example/z");
	}
	pex_buf_dispose(&b);

	/* a fresh buffer left untouched by an error stays usable */
	ck_assert_int_eq(pex_uui_to_tag(&b, "", &r), PEX_EINVAL);
	ck_assert_uint_eq(b.size, 0);
	pex_buf_dispose(&b);
}
END_TEST

/* ---- pex_tag_from_url: a tag URL given as text ---- */

/* Expect @p url back unchanged. */
#define TAG_OK(rules, url) do { \
	int _e = pex_tag_from_url(&g_out, (rules), (url)); \
	ck_assert_msg(_e == 0, "url '%s': expected success, got %d: %s", \
		(url), _e, pex_error_last()->message); \
	ck_assert_str_eq(g_out.ptr, (url)); \
	ck_assert_uint_eq(g_out.size, strlen(url)); \
} while (0)

/* Expect PEX_EINVAL, @p out emptied, and exactly @p want as the message. */
#define TAG_FAILS(rules, url, want) do { \
	int _e; \
	ck_assert_int_eq(pex__buf_puts(&g_out, "stale"), 0); \
	_e = pex_tag_from_url(&g_out, (rules), (url)); \
	ck_assert_msg(_e == PEX_EINVAL, "url '%s': expected PEX_EINVAL, got %d (%s)", \
		nn(url), _e, g_out.ptr ? g_out.ptr : ""); \
	ck_assert_uint_eq(g_out.size, 0); \
	ck_assert_str_eq(g_out.ptr, ""); \
	ck_assert_int_eq(pex_error_last()->code, PEX_EINVAL); \
	ck_assert_int_eq(pex_error_last()->klass, PEX_ERROR_CLASS_INVALID); \
	ck_assert_str_eq(pex_error_last()->message, (want)); \
} while (0)

START_TEST(test_tag_url_allowed)
{
	pex_tag_rules r = test_rules();
	char url[300];
	TAG_OK(&r, "https://media.example.com/room/42?x=1#frag");
	TAG_OK(&r, "https://media.example.com");
	TAG_OK(&r, "HTTPS://MEDIA.EXAMPLE.COM/X");              /* returned as given */
	TAG_OK(&r, "https://VIDEO.example.ORG/v");
	TAG_OK(&r, "https://media.example.com/a%20b%2Fc");
	TAG_OK(&r, "https://media.example.com/!$&'()*+,;=:@-._~[]?/");
	TAG_OK(&r, "https://media.example.com/@user");
	TAG_OK(&r, "https://ports.example:8443/x");
	TAG_OK(&r, "https://[2001:db8::1]/v6");
	TAG_OK(&r, "https://[2001:db8::2]:8443/v6");
	/* 250 characters fit; max_octets and the template do not apply */
	snprintf(url, sizeof(url), "https://media.example.com/%s", repeat('x', 224));
	r.max_octets = 1;
	r.url_template = NULL;
	TAG_OK(&r, url);
	ck_assert_uint_eq(g_out.size, 250);
}
END_TEST

START_TEST(test_tag_url_arguments)
{
	pex_tag_rules r = test_rules();
	ck_assert_int_eq(pex_tag_from_url(NULL, &r, "https://media.example.com/"), PEX_EINVAL);
	ck_assert_str_eq(pex_error_last()->message, "pex_tag_from_url: out is NULL");
	TAG_FAILS(NULL, "https://media.example.com/", "tag URL: no tag rules given");
	r.version = 0;
	TAG_FAILS(&r, "https://media.example.com/", "unsupported pex_tag_rules version 0 (this library knows 1..1)");
	r = test_rules();
	TAG_FAILS(&r, NULL, "tag URL: empty (NULL)");
	TAG_FAILS(&r, "", "tag URL: empty (nothing at offset 0)");
}
END_TEST

START_TEST(test_tag_url_length)
{
	pex_tag_rules r = test_rules();
	char url[600];
	snprintf(url, sizeof(url), "https://media.example.com/%s", repeat('x', 225));
	TAG_FAILS(&r, url, "tag URL is 251 characters; Pexip allows at most 250 (offset 250 is the first that does not fit)");
	/* the length is checked first, whatever else is wrong */
	snprintf(url, sizeof(url), "http://evil.example/%s", repeat('\n', 300));
	TAG_FAILS(&r, url, "tag URL is 320 characters; Pexip allows at most 250 (offset 250 is the first that does not fit)");
}
END_TEST

START_TEST(test_tag_url_text)
{
	pex_tag_rules r = test_rules();
	/* printable: control characters and broken UTF-8 are refused by offset */
	TAG_FAILS(&r, "https://media.example.com/a\tb", "tag URL: byte 0x09 at offset 27 is a control character");
	TAG_FAILS(&r, "https://media.example.com/\n", "tag URL: byte 0x0a at offset 26 is a control character");
	TAG_FAILS(&r, "\x01https://media.example.com/", "tag URL: byte 0x01 at offset 0 is a control character");
	TAG_FAILS(&r, "https://media.example.com/\x7f", "tag URL: byte 0x7f at offset 26 is a control character");
	TAG_FAILS(&r, "https://media.example.com/\xc2\x85", "tag URL: character U+0085 at offset 26 is a control character (C1)");
	TAG_FAILS(&r, "https://media.example.com/\xff", "tag URL: invalid UTF-8 at offset 26: byte never used in UTF-8");
	TAG_FAILS(&r, "https://media.example.com/\xc3", "tag URL: invalid UTF-8 at offset 26: truncated sequence");
	TAG_FAILS(&r, "https://media.example.com/\xc0\xaf", "tag URL: invalid UTF-8 at offset 26: overlong encoding");
	/* valid UTF-8 but not ASCII: a URL must percent-encode it */
	TAG_FAILS(&r, "https://media.example.com/caf\xc3\xa9",
		"tag URL has a non-ASCII character at offset 29; percent-encode it");
}
END_TEST

START_TEST(test_tag_url_shape)
{
	pex_tag_rules r = test_rules();
	/* an absolute URL: "scheme://" */
	TAG_FAILS(&r, "media.example.com/x", "tag URL is not an absolute https URL (\"scheme://\" breaks off at offset 17)");
	TAG_FAILS(&r, "/relative", "tag URL is not an absolute https URL (no scheme at offset 0)");
	TAG_FAILS(&r, " https://media.example.com/", "tag URL is not an absolute https URL (no scheme at offset 0)");
	TAG_FAILS(&r, "https:media.example.com", "tag URL is not an absolute https URL (\"scheme://\" breaks off at offset 6)");
	TAG_FAILS(&r, "https:/media.example.com", "tag URL is not an absolute https URL (\"scheme://\" breaks off at offset 7)");
	TAG_FAILS(&r, "https", "tag URL is not an absolute https URL (\"scheme://\" breaks off at offset 5)");
	TAG_FAILS(&r, "hello world", "tag URL is not an absolute https URL (\"scheme://\" breaks off at offset 5)");
	/* https only */
	TAG_FAILS(&r, "http://media.example.com/", "tag URL scheme 'http' is not allowed, only https (offset 0)");
	TAG_FAILS(&r, "javascript://media.example.com/%0Aalert(1)",
		"tag URL scheme 'javascript' is not allowed, only https (offset 0)");
	/* RFC 3986 characters */
	TAG_FAILS(&r, "https://media.example.com/a b", "tag URL character ' ' at offset 27 is not allowed (RFC 3986)");
	TAG_FAILS(&r, "https://media.example.com/{uui}", "tag URL character '{' at offset 26 is not allowed (RFC 3986)");
	TAG_FAILS(&r, "https://media.example.com\\@evil.example/", "tag URL character '\\' at offset 25 is not allowed (RFC 3986)");
	TAG_FAILS(&r, "https://media.example.com/%zz", "tag URL has a malformed percent-escape at offset 26");
	TAG_FAILS(&r, "https://media.example.com/%4", "tag URL has a malformed percent-escape at offset 26");
	/* authority */
	TAG_FAILS(&r, "https://user@media.example.com/", "tag URL userinfo is not allowed ('@' at offset 12)");
	TAG_FAILS(&r, "https://media.example.com@evil.example/", "tag URL userinfo is not allowed ('@' at offset 25)");
	TAG_FAILS(&r, "https:///path", "tag URL has no host (offset 8)");
	TAG_FAILS(&r, "https://[2001:db8::1/", "tag URL has an unterminated IPv6 literal at offset 8");
	TAG_FAILS(&r, "https://[2001:db8::1]x/", "tag URL has junk after the IPv6 literal at offset 21");
	TAG_FAILS(&r, "https://media.example.com:x/", "tag URL port 'x' at offset 26 is not a number in 1..65535");
}
END_TEST

START_TEST(test_tag_url_hosts)
{
	pex_tag_rules r = test_rules();
	TAG_FAILS(&r, "https://evil.example/x", "tag URL host 'evil.example' is not in tag.allowed_hosts (offset 8)");
	TAG_FAILS(&r, "https://media.example.com.evil.example/",
		"tag URL host 'media.example.com.evil.example' is not in tag.allowed_hosts (offset 8)");
	TAG_FAILS(&r, "https://media.example.com:443/",
		"tag URL host 'media.example.com:443' is not in tag.allowed_hosts with that port; ports must match exactly (offset 8)");
	TAG_FAILS(&r, "https://ports.example:8444/", "tag URL host 'ports.example:8444' is not in tag.allowed_hosts "
		"with that port; ports must match exactly (offset 8)");
	/* no allowed hosts: every URL is refused */
	r.allowed_hosts = NULL;
	r.allowed_host_count = 0;
	TAG_FAILS(&r, "https://media.example.com/", "tag URL host 'media.example.com' is not in tag.allowed_hosts (offset 8)");
}
END_TEST

/* ---- the golden table ---- */

typedef struct golden {
	const char *text;       /* hex-encoded into the input when not NULL */
	const char *raw;        /* appended verbatim (or the whole input) */
	const char *tmpl;       /* NULL: TMPL; "-": no template */
	size_t max_octets;
	int code;
	const char *want;       /* the result, or the exact error message */
} golden;

static const golden golden_cases[] = {
	/* template */
	{ "hello", "", NULL, 0, 0, TMPL_PREFIX "hello" },
	{ NULL, "48454C4C4F", NULL, 0, 0, TMPL_PREFIX "HELLO" },
	{ NULL, "68656c6c6f;encoding=hex", NULL, 0, 0, TMPL_PREFIX "hello" },
	{ NULL, "68656C6C6F;encoding=HEX;purpose=isdn-uui;content=isdn-uui", NULL, 0, 0, TMPL_PREFIX "hello" },
	{ NULL, "  68656c6c6f  ", NULL, 0, 0, TMPL_PREFIX "hello" },
	{ "caller 42 / queue #7", "", NULL, 0, 0, TMPL_PREFIX "caller%2042%20%2F%20queue%20%237" },
	{ "a=b&c=d", "", NULL, 0, 0, TMPL_PREFIX "a%3Db%26c%3Dd" },
	{ "Zürich", "", NULL, 0, 0, TMPL_PREFIX "Z%C3%BCrich" },
	{ "日本", "", NULL, 0, 0, TMPL_PREFIX "%E6%97%A5%E6%9C%AC" },
	{ "x", "", "https://a.example/{uui}/b/{uui}", 0, 0, "https://a.example/x/b/x" },
	{ "id-1", "", "https://a.example/?id={uui}&v=1", 0, 0, "https://a.example/?id=id-1&v=1" },
	{ "mailto:x@y", "", NULL, 0, 0, TMPL_PREFIX "mailto%3Ax%40y" },
	{ "www.example.com/x", "", NULL, 0, 0, TMPL_PREFIX "www.example.com%2Fx" },
	{ "12345678", "", NULL, 8, 0, TMPL_PREFIX "12345678" },
	/* absolute URLs */
	{ "https://media.example.com/r/1", "", NULL, 0, 0, "https://media.example.com/r/1" },
	{ "https://media.example.com/r/1", ";encoding=hex", "-", 0, 0, "https://media.example.com/r/1" },
	{ "HTTPS://Video.EXAMPLE.org", "", NULL, 0, 0, "HTTPS://Video.EXAMPLE.org" },
	{ "https://ports.example:8443/a?b=c", "", NULL, 0, 0, "https://ports.example:8443/a?b=c" },
	{ "https://[2001:db8::1]/", "", NULL, 0, 0, "https://[2001:db8::1]/" },
	{ "https://evil.example/", "", NULL, 0, PEX_EINVAL,
	  "UUI: URL host 'evil.example' is not in tag.allowed_hosts (input offset 16)" },
	{ "http://media.example.com/", "", NULL, 0, PEX_EINVAL,
	  "UUI: URL scheme 'http' is not allowed, only https (input offset 0)" },
	{ "https://a@media.example.com/", "", NULL, 0, PEX_EINVAL,
	  "UUI: URL userinfo is not allowed ('@' at octet 9, input offset 18)" },
	{ "https://media.example.com:8443/", "", NULL, 0, PEX_EINVAL,
	  "UUI: URL host 'media.example.com:8443' is not in tag.allowed_hosts with that port; ports must match exactly (input offset 16)" },
	{ "https://media.example.com:x/", "", NULL, 0, PEX_EINVAL,
	  "UUI: URL port 'x' at octet 26 (input offset 52) is not a number in 1..65535" },
	{ "https:///", "", NULL, 0, PEX_EINVAL, "UUI: URL has no host (input offset 16)" },
	{ "https://media.example.com/a|b", "", NULL, 0, PEX_EINVAL,
	  "UUI: URL character '|' at octet 27 (input offset 54) is not allowed (RFC 3986)" },
	{ "hello", "", "-", 0, PEX_EINVAL,
	  "UUI: the decoded text (input offset 0) is not an absolute URL and tag.url_template is not set" },
	{ "hello", "", "https://a.example/", 0, PEX_EINVAL, "tag.url_template does not contain \"{uui}\"" },
	/* structure, hex */
	{ NULL, "", NULL, 0, PEX_EINVAL, "UUI: empty (no hex digits at offset 0)" },
	{ NULL, "   ", NULL, 0, PEX_EINVAL, "UUI: empty (no hex digits at offset 3)" },
	{ NULL, ";encoding=hex", NULL, 0, PEX_EINVAL,
	  "UUI: empty (no hex digits before the parameters at offset 0)" },
	{ NULL, "4142434g", NULL, 0, PEX_EINVAL, "UUI: not a hex digit at offset 7 ('g')" },
	{ NULL, "  4142434g", NULL, 0, PEX_EINVAL, "UUI: not a hex digit at offset 9 ('g')" },
	{ NULL, "41 42", NULL, 0, PEX_EINVAL, "UUI: not a hex digit at offset 2 (' ')" },
	{ NULL, "4142434445464", NULL, 0, PEX_EINVAL,
	  "UUI: odd number of hex digits (13): the digit at offset 12 has no pair" },
	{ "123456789", "", NULL, 8, PEX_EINVAL,
	  "UUI: decodes to 9 octets; at most 8 allowed (offset 16 is past the limit)" },
	/* params */
	{ NULL, "56a390f3d2b7310023a2;encoding=base64", NULL, 0, PEX_EINVAL,
	  "UUI: unsupported encoding 'base64' at offset 30 (only hex)" },
	{ NULL, "4142;purpose", NULL, 0, PEX_EINVAL, "UUI: parameter 'purpose' at offset 5 needs a value" },
	{ NULL, "4142;;", NULL, 0, PEX_EINVAL, "UUI: empty parameter at offset 4" },
	{ NULL, "4142;=x", NULL, 0, PEX_EINVAL, "UUI: malformed parameter at offset 5 ('=' where a name should be)" },
	{ NULL, "4142;content=a;CONTENT=b", NULL, 0, PEX_EINVAL, "UUI: duplicate parameter 'CONTENT' at offset 15" },
	/* text */
	{ NULL, "41424344 0a", NULL, 0, PEX_EINVAL, "UUI: not a hex digit at offset 8 (' ')" },
	{ NULL, "414243440a", NULL, 0, PEX_EINVAL,
	  "UUI: decoded byte 0x0a at octet 4 (input offset 8) is a control character" },
	{ NULL, "4142434409", NULL, 0, PEX_EINVAL,
	  "UUI: decoded byte 0x09 at octet 4 (input offset 8) is a control character" },
	{ NULL, "41c285", NULL, 0, PEX_EINVAL,
	  "UUI: decoded character U+0085 at octet 1 (input offset 2) is a control character (C1)" },
	{ NULL, "4142434441c3", NULL, 0, PEX_EINVAL,
	  "UUI: invalid UTF-8 at octet 5 (input offset 10): truncated sequence" },
	{ NULL, "0031323334;encoding=hex;purpose=isdn-uui;content=isdn-uui", NULL, 0, PEX_EINVAL,
	  "UUI: decoded byte 0x00 at octet 0 (input offset 0) is a control character" },
	{ NULL, "56a390f3d2b7310023a2;encoding=hex", NULL, 0, PEX_EINVAL,
	  "UUI: invalid UTF-8 at octet 1 (input offset 2): unexpected continuation byte" },
	{ NULL, "c0ae", NULL, 0, PEX_EINVAL, "UUI: invalid UTF-8 at octet 0 (input offset 0): overlong encoding" },
	{ NULL, "eda080", NULL, 0, PEX_EINVAL, "UUI: invalid UTF-8 at octet 0 (input offset 0): surrogate code point" },
	{ NULL, "f4908080", NULL, 0, PEX_EINVAL,
	  "UUI: invalid UTF-8 at octet 0 (input offset 0): code point above U+10FFFF" },
	/* length: 250 fits, 251 does not (by the octet limit or by the tag limit) */
	{ "https://media.example.com/0123456789012345678901234567890123456789012345678901234567890123"
	  "456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123"
	  "4567890123456789012345678901234567890123456789012345678901234567890123", "", NULL, 250, 0,
	  "https://media.example.com/0123456789012345678901234567890123456789012345678901234567890123"
	  "456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123"
	  "4567890123456789012345678901234567890123456789012345678901234567890123" },
	{ "https://media.example.com/0123456789012345678901234567890123456789012345678901234567890123"
	  "456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123"
	  "45678901234567890123456789012345678901234567890123456789012345678901234", "", NULL, 250, PEX_EINVAL,
	  "UUI: decodes to 251 octets; at most 250 allowed (offset 500 is past the limit)" },
	{ "https://media.example.com/0123456789012345678901234567890123456789012345678901234567890123"
	  "456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123"
	  "45678901234567890123456789012345678901234567890123456789012345678901234", "", NULL, 251, PEX_EINVAL,
	  "tag: the URL is 251 characters; Pexip allows at most 250 (octet 250, input offset 500, is the first that does not fit)" },
};

START_TEST(test_golden)
{
	const golden *g = &golden_cases[_i];
	pex_tag_rules r = test_rules();
	char in[1024];
	int err;

	if (g->text)
		hexify_into(in, sizeof(in), g->text, g->raw);
	else
		snprintf(in, sizeof(in), "%s", g->raw);
	if (g->tmpl)
		r.url_template = strcmp(g->tmpl, "-") == 0 ? NULL : g->tmpl;
	r.max_octets = g->max_octets;

	ck_assert_int_eq(pex__buf_puts(&g_out, "stale"), 0);
	err = pex_uui_to_tag(&g_out, in, &r);
	ck_assert_msg(err == g->code, "case %d ('%s'): got %d (%s), want %d", _i, in, err,
		err ? pex_error_last()->message : g_out.ptr, g->code);
	if (err == 0) {
		ck_assert_str_eq(g_out.ptr, g->want);
		ck_assert_uint_le(g_out.size, PEX_TAG_MAX_LEN);
	} else {
		ck_assert_str_eq(pex_error_last()->message, g->want);
		ck_assert_uint_eq(g_out.size, 0);
		ck_assert_str_eq(g_out.ptr, "");
	}
}
END_TEST


/* One reader of the tag rules from the configuration (pexctl, room-server
 * and the pool all call it). */
START_TEST(test_tag_rules_from_config)
{
	static const char yaml[] = "pexip:\n  url: https://pexip.example.com\n  auth:\n"
		"    username: u\n    password: p\ntag:\n  url_template: \"https://svc.example.com/s?u={uui}\"\n"
		"  allowed_hosts: [media.example.com, b.example.com]\n";
	pex_config *cfg = NULL;
	pex_tag_rules r;
	pex_buf out = PEX_BUF_INIT;

	ck_assert_msg(pex_config_parse(&cfg, yaml, strlen(yaml), "t.yaml") == 0, "%s", pex_error_last()->message);
	memset(&r, 0xff, sizeof(r));
	ck_assert_int_eq(pex_tag_rules_from_config(&r, cfg), 0);
	ck_assert_uint_eq(r.version, PEX_TAG_RULES_VERSION);
	ck_assert_str_eq(r.url_template, "https://svc.example.com/s?u={uui}");
	ck_assert_uint_eq(r.allowed_host_count, 2);
	ck_assert_str_eq(r.allowed_hosts[1], "b.example.com");
	ck_assert_uint_eq(r.max_octets, 0);
	ck_assert_int_eq(pex_uui_to_tag(&out, "41", &r), 0);
	ck_assert_str_eq(out.ptr, "https://svc.example.com/s?u=A");
	pex_buf_dispose(&out);
	pex_config_free(cfg);

	/* the defaults: no template, no hosts */
	ck_assert_int_eq(pex_config_new_defaults(&cfg), 0);
	ck_assert_int_eq(pex_tag_rules_from_config(&r, cfg), 0);
	ck_assert_ptr_null(r.url_template);
	ck_assert_uint_eq(r.allowed_host_count, 0);
	pex_config_free(cfg);
	ck_assert_int_eq(pex_tag_rules_from_config(&r, NULL), PEX_EINVAL);
}
END_TEST

static Suite *uui_suite(void)
{
	Suite *s = suite_create("uui");
	TCase *tc = tcase_create("rules");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_rules_init);
	tcase_add_test(tc, test_bad_arguments);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_trim);
	tcase_add_test(tc, test_hex_case);
	tcase_add_test(tc, test_bad_hex_each_position);
	tcase_add_test(tc, test_bad_hex_bytes);
	tcase_add_test(tc, test_odd_length);
	tcase_add_test(tc, test_size_default);
	tcase_add_test(tc, test_size_custom);
	tcase_add_test(tc, test_utf8_valid);
	tcase_add_test(tc, test_utf8_invalid);
	tcase_add_test(tc, test_controls_c0_del);
	tcase_add_test(tc, test_controls_c1);
	tcase_add_test(tc, test_params_valid);
	tcase_add_test(tc, test_params_invalid);
	tcase_add_test(tc, test_percent_encoding);
	tcase_add_test(tc, test_template_forms);
	tcase_add_test(tc, test_template_too_long);
	tcase_add_test(tc, test_url_allowed);
	tcase_add_test(tc, test_url_rejected);
	tcase_add_test(tc, test_url_ports);
	tcase_add_test(tc, test_url_host_entries);
	tcase_add_test(tc, test_url_detection);
	tcase_add_test(tc, test_url_length);
	tcase_add_test(tc, test_buffer_reuse);
	suite_add_tcase(s, tc);

	tc = tcase_create("tag_url");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_tag_url_allowed);
	tcase_add_test(tc, test_tag_url_arguments);
	tcase_add_test(tc, test_tag_url_length);
	tcase_add_test(tc, test_tag_url_text);
	tcase_add_test(tc, test_tag_url_shape);
	tcase_add_test(tc, test_tag_url_hosts);
	tcase_add_test(tc, test_tag_rules_from_config);
	suite_add_tcase(s, tc);

	tc = tcase_create("golden");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_loop_test(tc, test_golden, 0, (int)PEX__ARRAY_SIZE(golden_cases));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(uui_suite());
	int failed;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
