/*
 * libFuzzer target for pex_uui_to_tag() and pex_tag_from_url(). Every
 * input, as it is and hex-encoded, runs through two fixed rule sets (the
 * configured template; no template and 250 octets, i.e. URLs only) and the
 * results must hold these invariants:
 *
 *   success  the result is at most PEX_TAG_MAX_LEN printable ASCII
 *            characters and either the template with a percent-encoded
 *            value, or an https URL (no userinfo) to an allowed host[:port];
 *   failure  PEX_EINVAL, the output empty, a non-empty printable message.
 *
 * The input as text also goes to pex_tag_from_url(), which must accept it
 * exactly when pex_uui_to_tag() accepts its hex encoding under the
 * URLs-only rules (same checks, offsets counted differently), return it
 * unchanged, and otherwise fail as above.
 *
 * Any broken invariant aborts, which libFuzzer reports as a crash. The same
 * file is linked with replay.c (a plain main) so that the corpus runs in
 * every build, gcc included.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "pexipsdk/uui.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_TMPL_PREFIX "https://tags.example.com/t/"
#define FUZZ_TMPL FUZZ_TMPL_PREFIX "{uui}"

static const char *const fuzz_hosts[] = {
	"media.example.com",
	"Video.Example.org",
	"ports.example:8443",
	"[2001:db8::1]",
};

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_uui: invariant broken at %s:%d: %s\n", \
			__FILE__, __LINE__, #cond); \
		abort(); \
	} \
} while (0)

static int all_printable(const char *s, size_t len)
{
	size_t i;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

static int is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		c == '-' || c == '_' || c == '.' || c == '~';
}

static int is_upper_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

/* The template's value part: unreserved characters and %XX only. */
static int is_encoded_value(const char *s, size_t len)
{
	size_t i;
	if (len == 0)
		return 0;
	for (i = 0; i < len; i++) {
		if (s[i] == '%') {
			if (i + 2 >= len)
				return 0;
			if (!is_upper_hex((unsigned char)s[i + 1]) || !is_upper_hex((unsigned char)s[i + 2]))
				return 0;
			i += 2;
		} else if (!is_unreserved((unsigned char)s[i])) {
			return 0;
		}
	}
	return 1;
}

/*
 * Split an authority ("host", "host:port", "[v6]", "[v6]:port") into the
 * host's length and the port (-1: none; -2: not a valid number).
 */
static void split_authority(const char *a, size_t len, size_t *host_len, long *port)
{
	size_t h = 0, i;
	long v = 0;
	if (len > 0 && a[0] == '[') {
		while (h < len && a[h] != ']')
			h++;
		if (h < len)
			h++;
	} else {
		while (h < len && a[h] != ':')
			h++;
	}
	*host_len = h;
	*port = -1;
	if (h == len)
		return;
	if (a[h] != ':' || h + 1 == len) {
		*port = -2;
		return;
	}
	for (i = h + 1; i < len; i++) {
		if (a[i] < '0' || a[i] > '9' || v > 65535) {
			*port = -2;
			return;
		}
		v = v * 10 + (a[i] - '0');
	}
	*port = v;
}

/* An https URL (no userinfo) whose host[:port] is an allowed entry. */
static int is_allowed_url(const char *s, size_t len)
{
	size_t i, from = 8, to, host_len;
	long port;
	if (len < 8 || strncasecmp(s, "https://", 8) != 0)
		return 0;
	for (to = from; to < len && s[to] != '/' && s[to] != '?' && s[to] != '#'; to++)
		if (s[to] == '@')
			return 0;
	split_authority(s + from, to - from, &host_len, &port);
	if (host_len == 0 || port == -2)
		return 0;
	for (i = 0; i < PEX__ARRAY_SIZE(fuzz_hosts); i++) {
		const char *e = fuzz_hosts[i];
		size_t e_host_len;
		long e_port;
		split_authority(e, strlen(e), &e_host_len, &e_port);
		if (e_host_len == host_len && strncasecmp(s + from, e, host_len) == 0 && e_port == port)
			return 1;
	}
	return 0;
}

static void run_one(const char *input, const pex_tag_rules *rules, pex_buf *out)
{
	int err;

	/* stale contents must never leak into the result */
	CHECK(pex__buf_puts(out, "stale") == 0);
	err = pex_uui_to_tag(out, input, rules);

	if (err == 0) {
		CHECK(out->ptr != NULL);
		CHECK(out->size > 0 && out->size <= PEX_TAG_MAX_LEN);
		CHECK(strlen(out->ptr) == out->size);
		CHECK(all_printable(out->ptr, out->size));
		if (rules->url_template &&
		    strncmp(out->ptr, FUZZ_TMPL_PREFIX, strlen(FUZZ_TMPL_PREFIX)) == 0 &&
		    is_encoded_value(out->ptr + strlen(FUZZ_TMPL_PREFIX),
			    out->size - strlen(FUZZ_TMPL_PREFIX)))
			return;
		CHECK(is_allowed_url(out->ptr, out->size));
	} else {
		const pex_error *e = pex_error_last();
		CHECK(err == PEX_EINVAL);
		CHECK(e->code == PEX_EINVAL);
		CHECK(out->size == 0);
		CHECK(out->ptr == NULL || out->ptr[0] == '\0');
		CHECK(e->message != NULL && e->message[0] != '\0');
		CHECK(all_printable(e->message, strlen(e->message)));
	}
}

/* Both fixed rule sets on one input string. */
static void run_rules(const char *input, pex_buf *out)
{
	pex_tag_rules rules = PEX_TAG_RULES_INIT;

	/* the configured template and hosts, default octet limit */
	rules.url_template = FUZZ_TMPL;
	rules.allowed_hosts = fuzz_hosts;
	rules.allowed_host_count = PEX__ARRAY_SIZE(fuzz_hosts);
	run_one(input, &rules, out);

	/* URLs only, up to 250 octets */
	rules.url_template = NULL;
	rules.max_octets = PEX_TAG_MAX_LEN;
	run_one(input, &rules, out);
}

/*
 * pex_tag_from_url() on @p text (no NUL inside), against pex_uui_to_tag() on
 * @p hex, its hex encoding, under the URLs-only rules.
 */
static void run_tag_url(const char *text, const char *hex, pex_buf *out)
{
	static pex_buf ref = PEX_BUF_INIT;   /* reused across inputs on purpose */
	pex_tag_rules rules = PEX_TAG_RULES_INIT;
	int err, ref_err;

	rules.allowed_hosts = fuzz_hosts;
	rules.allowed_host_count = PEX__ARRAY_SIZE(fuzz_hosts);
	rules.max_octets = PEX_TAG_MAX_LEN;
	ref_err = pex_uui_to_tag(&ref, hex, &rules);
	rules.url_template = FUZZ_TMPL;       /* never used for a tag URL */
	CHECK(pex__buf_puts(out, "stale") == 0);
	err = pex_tag_from_url(out, &rules, text);
	CHECK((err == 0) == (ref_err == 0));
	if (err == 0) {
		CHECK(out->size == strlen(text) && strcmp(out->ptr, text) == 0);
		CHECK(strcmp(out->ptr, ref.ptr) == 0);
		CHECK(out->size <= PEX_TAG_MAX_LEN);
		CHECK(all_printable(out->ptr, out->size));
		CHECK(is_allowed_url(out->ptr, out->size));
	} else {
		const pex_error *e = pex_error_last();
		CHECK(err == PEX_EINVAL);
		CHECK(out->size == 0);
		CHECK(out->ptr == NULL || out->ptr[0] == '\0');
		CHECK(e->message != NULL && e->message[0] != '\0');
		CHECK(all_printable(e->message, strlen(e->message)));
	}
}

/*
 * Each input is tried twice: as it is (exercising the parser: whitespace,
 * parameters, hex digits) and hex-encoded (so that the fuzzer's bytes reach
 * the decoded-text rules directly: UTF-8, controls, URLs, the template).
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	static pex_buf out = PEX_BUF_INIT;   /* reused across inputs on purpose */
	char *input, *text;
	size_t i;

	if (size > 4096)
		return 0;
	input = malloc(2 * size + 1);
	text = malloc(size + 1);
	if (!input || !text) {
		free(input);
		free(text);
		return 0;
	}

	memcpy(input, data, size);
	input[size] = '\0';
	memcpy(text, input, size + 1);
	run_rules(input, &out);

	for (i = 0; i < size; i++) {
		input[2 * i] = hex[data[i] >> 4];
		input[2 * i + 1] = hex[data[i] & 15];
	}
	input[2 * size] = '\0';
	run_rules(input, &out);
	if (!memchr(data, '\0', size))
		run_tag_url(text, input, &out);

	free(text);
	free(input);
	return 0;
}
