/*
 * UUI (RFC 7433, encoding=hex) to service tag URL (pex_uui(3)).
 *
 * Pure: no I/O, no allocation beyond the output buffer. The decoded octets
 * are never copied out as a whole: every check reads them straight from the
 * hex digits (uui_octet()), and only the final write decodes them, a small
 * chunk at a time, into @p out.
 *
 * Order of the checks (the first failure is reported):
 *
 *   1. structure  trim ASCII whitespace around the whole input; the data
 *                 runs to the first ';', then RFC 7433 parameters
 *   2. data       not empty
 *   3. params     well-formed; purpose/content/encoding at most once;
 *                 encoding must be hex
 *   4. hex        digits only, even count, at most max_octets octets
 *   5. text       valid UTF-8, no C0, DEL or C1 control characters
 *   6. result     an absolute URL (https, allowed host), or the template
 *   7. length     the result fits PEX_TAG_MAX_LEN
 *
 * Offsets in messages are 0-based byte offsets into the caller's string
 * (leading whitespace included); octet numbers are 0-based indexes into the
 * decoded bytes, and octet i sits at input offset data_offset + 2 * i.
 *
 * pex_tag_from_url() runs a tag URL given as text through the same checks
 * 5 to 7 (as an absolute URL; the template is never used). The input is
 * then "raw": octet i is the byte at offset i, and messages say "tag URL"
 * and "offset i" (see pos()), in the terms of what the caller gave.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "uui/uui_internal.h"

/*
 * Describe one input byte for a message: 'g' when printable ASCII,
 * otherwise "byte 0x01", so that messages never carry raw control bytes.
 */
const char *describe_byte(char buf[16], unsigned char c)
{
	if (c >= 0x20 && c < 0x7f)
		snprintf(buf, 16, "'%c'", (char)c);
	else
		snprintf(buf, 16, "byte 0x%02x", c);
	return buf;
}

/*
 * Copy [s, s + len) for quoting in a message, replacing anything that is not
 * printable ASCII with '?' and eliding the middle of long pieces.
 */
const char *quote_input(char buf[UUI_QUOTE_MAX + 1], const char *s, size_t len)
{
	size_t i, n = len > UUI_QUOTE_MAX ? UUI_QUOTE_MAX : len;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		buf[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (len > UUI_QUOTE_MAX)
		memcpy(buf + UUI_QUOTE_MAX - 3, "...", 3);
	buf[n] = '\0';
	return buf;
}

int uui_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pex__error_vset(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, fmt, ap);
	va_end(ap);
	return PEX_EINVAL;
}

/* ---- decoded octets, read from the hex digits ---- */

/* Octet @p i of the decoded data. The digits have been checked already. */
static unsigned char uui_octet(const uui_input *in, size_t i)
{
	const char *p;
	if (in->raw)
		return (unsigned char)in->s[in->data_off + i];
	p = in->s + in->data_off + 2 * i;
	return (unsigned char)((hex_value((unsigned char)p[0]) << 4) | hex_value((unsigned char)p[1]));
}

/* The input offset of octet @p i (for messages). */
static size_t uui_offset(const uui_input *in, size_t i)
{
	return in->data_off + (in->raw ? i : 2 * i);
}

/* What messages call the input: "UUI", or "tag URL" for raw input. */
static const char *who(const uui_input *in)
{
	return in->raw ? "tag URL" : "UUI";
}

/* What messages call a URL found in the input. */
static const char *url_subject(const uui_input *in)
{
	return in->raw ? "tag URL" : "UUI: URL";
}

/* How pos() words the place of an octet. */
enum { POS_AT, POS_LIST, POS_IN };

/*
 * Where octet @p i is, in the caller's terms:
 *   POS_AT    "octet 4 (input offset 8)"   raw: "offset 4"
 *   POS_LIST  "octet 4, input offset 8"    raw: "offset 4"
 *   POS_IN    "input offset 8"             raw: "offset 4"
 */
static const char *pos(char buf[64], const uui_input *in, size_t i, int form)
{
	if (in->raw)
		snprintf(buf, 64, "offset %zu", uui_offset(in, i));
	else if (form == POS_AT)
		snprintf(buf, 64, "octet %zu (input offset %zu)", i, uui_offset(in, i));
	else if (form == POS_LIST)
		snprintf(buf, 64, "octet %zu, input offset %zu", i, uui_offset(in, i));
	else
		snprintf(buf, 64, "input offset %zu", uui_offset(in, i));
	return buf;
}

/* Decode octets [from, from + n) into @p dst. */
static void uui_decode(unsigned char *dst, const uui_input *in, size_t from, size_t n)
{
	size_t i;
	for (i = 0; i < n; i++)
		dst[i] = uui_octet(in, from + i);
}

/* Copy decoded octets (known to be printable ASCII) into a message buffer. */
static const char *quote_octets(char buf[UUI_QUOTE_MAX + 1], const uui_input *in,
	size_t from, size_t n)
{
	unsigned char tmp[UUI_QUOTE_MAX];
	size_t k = n > UUI_QUOTE_MAX ? UUI_QUOTE_MAX : n;
	uui_decode(tmp, in, from, k);
	/* quote_input() reads at most UUI_QUOTE_MAX bytes and elides the rest */
	return quote_input(buf, (const char *)tmp, n);
}

/* ---- 4: hex digits ---- */

static int check_hex(uui_input *in, size_t max_octets)
{
	char cb[16];
	size_t i;

	for (i = 0; i < in->data_len; i++) {
		unsigned char c = (unsigned char)in->s[in->data_off + i];
		if (hex_value(c) < 0)
			return uui_fail("UUI: not a hex digit at offset %zu (%s)",
				in->data_off + i, describe_byte(cb, c));
	}
	if (in->data_len % 2)
		return uui_fail("UUI: odd number of hex digits (%zu): the digit at offset %zu has no pair",
			in->data_len, in->data_off + in->data_len - 1);
	in->noctets = in->data_len / 2;
	if (in->noctets > max_octets)
		return uui_fail("UUI: decodes to %zu octets; at most %zu allowed (offset %zu is past the limit)",
			in->noctets, max_octets, in->data_off + 2 * max_octets);
	return 0;
}

/* ---- 5: UTF-8 and control characters ---- */

static int utf8_fail(const uui_input *in, size_t i, const char *why)
{
	char pb[64];
	return uui_fail("%s: invalid UTF-8 at %s: %s", who(in), pos(pb, in, i, POS_AT), why);
}

/*
 * Well-formed UTF-8 per Unicode Table 3-7: no overlongs, no surrogates,
 * nothing above U+10FFFF, no truncated sequences. Then no C0 (TAB, CR and
 * LF included), DEL or C1 character.
 */
static int check_text(const uui_input *in)
{
	size_t i = 0, n = in->noctets;
	char pb[64];

	while (i < n) {
		unsigned char b0 = uui_octet(in, i), lo, hi;
		size_t len, k;
		uint32_t cp;

		if (b0 < 0x80) {
			if (b0 < 0x20 || b0 == 0x7f)
				return uui_fail("%s: %sbyte 0x%02x at %s is a control character", who(in),
					in->raw ? "" : "decoded ", b0, pos(pb, in, i, POS_AT));
			i++;
			continue;
		}
		if (b0 < 0xc0)
			return utf8_fail(in, i, "unexpected continuation byte");
		if (b0 < 0xc2)
			return utf8_fail(in, i, "overlong encoding");
		if (b0 >= 0xf8)
			return utf8_fail(in, i, "byte never used in UTF-8");
		if (b0 >= 0xf5)
			return utf8_fail(in, i, "code point above U+10FFFF");
		/* The lead byte gives the length and the top bits of the code
		 * point; after E0 and F0 the second byte's range is narrower below
		 * (else overlong), after ED and F4 above (else a surrogate, or past
		 * U+10FFFF). */
		len = b0 < 0xe0 ? 2 : b0 < 0xf0 ? 3 : 4;
		cp = b0 & (0x7fu >> len);
		lo = b0 == 0xe0 ? 0xa0 : b0 == 0xf0 ? 0x90 : 0x80;
		hi = b0 == 0xed ? 0x9f : b0 == 0xf4 ? 0x8f : 0xbf;

		for (k = 1; k < len; k++) {
			unsigned char b;
			if (i + k >= n)
				return utf8_fail(in, i, "truncated sequence");
			b = uui_octet(in, i + k);
			if (b < 0x80 || b > 0xbf)
				return utf8_fail(in, i, "truncated sequence");
			if (k == 1 && b < lo)
				return utf8_fail(in, i, "overlong encoding");
			if (k == 1 && b > hi)
				return utf8_fail(in, i, b0 == 0xed ? "surrogate code point" :
					"code point above U+10FFFF");
			cp = (cp << 6) | (b & 0x3f);
		}
		if (cp >= 0x80 && cp <= 0x9f)
			return uui_fail("%s: %scharacter U+%04X at %s is a control character (C1)", who(in),
				in->raw ? "" : "decoded ", (unsigned)cp, pos(pb, in, i, POS_AT));
		i += len;
	}
	return 0;
}

/* ---- 6a: the decoded text is an absolute URL ---- */

/*
 * "Looks like an absolute URL": an RFC 3986 scheme followed by "://", i.e.
 * ^[A-Za-z][A-Za-z0-9+.-]*:// . Returns the scheme's length, or 0.
 */
static size_t url_scheme_len(const uui_input *in)
{
	size_t i;
	if (in->noctets == 0 || !is_alpha(uui_octet(in, 0)))
		return 0;
	for (i = 1; i < in->noctets; i++) {
		unsigned char c = uui_octet(in, i);
		if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '.' && c != '-')
			break;
	}
	if (i + 3 > in->noctets || uui_octet(in, i) != ':' ||
	    uui_octet(in, i + 1) != '/' || uui_octet(in, i + 2) != '/')
		return 0;
	return i;
}

/* Every character is one RFC 3986 allows in a URL; '%' starts an escape. */
static int check_url_chars(const uui_input *in)
{
	char cb[16], pb[64];
	size_t i;

	for (i = 0; i < in->noctets; i++) {
		unsigned char c = uui_octet(in, i);
		if (c == '%') {
			if (i + 2 >= in->noctets || hex_value(uui_octet(in, i + 1)) < 0 ||
			    hex_value(uui_octet(in, i + 2)) < 0)
				return uui_fail("%s has a malformed percent-escape at %s",
					url_subject(in), pos(pb, in, i, POS_AT));
			i += 2;
		} else if (c >= 0x80) {
			return uui_fail("%s has a non-ASCII character at %s; percent-encode it",
				url_subject(in), pos(pb, in, i, POS_AT));
		} else if (!is_url_char(c)) {
			return uui_fail("%s character %s at %s is not allowed (RFC 3986)",
				url_subject(in), describe_byte(cb, c), pos(pb, in, i, POS_AT));
		}
	}
	return 0;
}

/* Parse a port ("" allowed for none) into @p out; -1 if not 1..65535. */
static int parse_port(unsigned long *out, const unsigned char *p, size_t len)
{
	unsigned long v = 0;
	size_t i;
	if (len == 0 || len > 5)
		return -1;
	for (i = 0; i < len; i++) {
		if (!is_digit(p[i]))
			return -1;
		v = v * 10 + (unsigned long)(p[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -1;
	*out = v;
	return 0;
}

/*
 * Split the authority (octets [from, to)) into host and port. The host is
 * an IPv6 reference "[...]" or runs to the first ':'; what follows ':' is
 * the port. Userinfo ('@') is refused outright.
 */
static int parse_authority(uui_authority *a, const uui_input *in, size_t from, size_t to)
{
	unsigned char digits[8];
	char qb[UUI_QUOTE_MAX + 1], pb[64];
	size_t i, colon = to;

	for (i = from; i < to; i++)
		if (uui_octet(in, i) == '@')
			return uui_fail("%s userinfo is not allowed ('@' at %s)",
				url_subject(in), pos(pb, in, i, POS_LIST));

	memset(a, 0, sizeof(*a));
	a->host_off = from;
	if (from < to && uui_octet(in, from) == '[') {
		for (i = from; i < to && uui_octet(in, i) != ']'; i++)
			;
		if (i == to)
			return uui_fail("%s has an unterminated IPv6 literal at %s",
				url_subject(in), pos(pb, in, from, POS_AT));
		i++;
		if (i < to && uui_octet(in, i) != ':')
			return uui_fail("%s has junk after the IPv6 literal at %s",
				url_subject(in), pos(pb, in, i, POS_AT));
		colon = i;
	} else {
		for (i = from; i < to && uui_octet(in, i) != ':'; i++)
			;
		colon = i;
	}
	a->host_len = colon - from;
	if (a->host_len == 0)
		return uui_fail("%s has no host (%s)", url_subject(in), pos(pb, in, from, POS_IN));
	if (colon < to) {
		a->port_off = colon + 1;
		a->port_len = to - a->port_off;
		if (a->port_len <= 5)
			uui_decode(digits, in, a->port_off, a->port_len);
		if (a->port_len > 5 || parse_port(&a->port, digits, a->port_len) < 0)
			return uui_fail("%s port '%s' at %s is not a number in 1..65535",
				url_subject(in), quote_octets(qb, in, a->port_off, a->port_len),
				pos(pb, in, a->port_off, POS_AT));
	}
	return 0;
}

/* Case-insensitive comparison of decoded octets with a plain string. */
static int octets_equal_nocase(const uui_input *in, size_t from, size_t len,
	const char *s, size_t slen)
{
	size_t i;
	if (len != slen)
		return 0;
	for (i = 0; i < len; i++)
		if (ascii_lower(uui_octet(in, from + i)) != ascii_lower((unsigned char)s[i]))
			return 0;
	return 1;
}

/*
 * Does an allowed_hosts entry ("host", "host:port", "[v6]" or "[v6]:port")
 * admit this authority? 1: yes; 0: no; 2: same host, different port.
 */
static int host_entry_matches(const char *entry, const uui_input *in, const uui_authority *a)
{
	size_t elen = strlen(entry), hlen;
	const char *colon;
	unsigned long eport;

	if (entry[0] == '[') {
		const char *close = strchr(entry, ']');
		if (!close)
			return 0;
		colon = close[1] == ':' ? close + 1 : NULL;
		if (close[1] != '\0' && !colon)
			return 0;
	} else {
		colon = strchr(entry, ':');
	}
	hlen = colon ? (size_t)(colon - entry) : elen;
	if (!octets_equal_nocase(in, a->host_off, a->host_len, entry, hlen))
		return 0;
	if (!colon)
		return a->port_len == 0 ? 1 : 2;
	if (parse_port(&eport, (const unsigned char *)colon + 1, strlen(colon + 1)) < 0)
		return 0;                       /* a bad entry admits nothing */
	return (a->port_len != 0 && a->port == eport) ? 1 : 2;
}

/*
 * The decoded text looks like an absolute URL (scheme_len > 0): it is the
 * tag if it is https to an allowed host, and an error otherwise; never the
 * template.
 */
static int check_url(const uui_input *in, size_t scheme_len, const pex_tag_rules *rules)
{
	char qb[UUI_QUOTE_MAX + 1], pb[64];
	uui_authority a;
	size_t from = scheme_len + 3, to, i;
	int err, port_mismatch = 0;

	if (!octets_equal_nocase(in, 0, scheme_len, "https", 5))
		return uui_fail("%s scheme '%s' is not allowed, only https (%s)", url_subject(in),
			quote_octets(qb, in, 0, scheme_len), pos(pb, in, 0, POS_IN));
	if ((err = check_url_chars(in)) < 0)
		return err;

	for (to = from; to < in->noctets; to++) {
		unsigned char c = uui_octet(in, to);
		if (c == '/' || c == '?' || c == '#')
			break;
	}
	if ((err = parse_authority(&a, in, from, to)) < 0)
		return err;

	for (i = 0; i < rules->allowed_host_count; i++) {
		int m;
		if (!rules->allowed_hosts || !rules->allowed_hosts[i])
			continue;
		m = host_entry_matches(rules->allowed_hosts[i], in, &a);
		if (m == 1)
			return 0;
		if (m == 2)
			port_mismatch = 1;
	}
	if (port_mismatch)
		return uui_fail("%s host '%s' is not in tag.allowed_hosts with that port; ports must match exactly (%s)",
			url_subject(in), quote_octets(qb, in, from, to - from), pos(pb, in, from, POS_IN));
	return uui_fail("%s host '%s' is not in tag.allowed_hosts (%s)", url_subject(in),
		quote_octets(qb, in, a.host_off, a.host_len), pos(pb, in, a.host_off, POS_IN));
}

/* ---- 6b: the template ---- */

/* a + b, saturating at SIZE_MAX. */
static size_t add_sat(size_t a, size_t b)
{
	return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

/* a * b, saturating at SIZE_MAX. */
static size_t mul_sat(size_t a, size_t b)
{
	return (b != 0 && a > SIZE_MAX / b) ? SIZE_MAX : a * b;
}

/* Length of one octet once percent-encoded (pex__url_encode's unreserved set). */
static size_t encoded_octet_len(unsigned char c)
{
	return (is_alpha(c) || is_digit(c) || c == '-' || c == '_' || c == '.' || c == '~') ? 1 : 3;
}

/* Length of the percent-encoded text. */
static size_t encoded_len(const uui_input *in)
{
	size_t i, n = 0;
	for (i = 0; i < in->noctets; i++)
		n += encoded_octet_len(uui_octet(in, i));
	return n;
}

/* Length of the expanded template, or 0 if it has no "{uui}". */
static size_t template_len(const char *tmpl, size_t enc_len)
{
	const char *p = tmpl, *hit;
	size_t n = 0, count = 0;
	while ((hit = strstr(p, "{uui}")) != NULL) {
		n = add_sat(n, (size_t)(hit - p));
		n = add_sat(n, enc_len);
		count++;
		p = hit + 5;
	}
	return count ? add_sat(n, strlen(p)) : 0;
}

/* ---- 7 and the write ---- */

/*
 * The tag is the URL in the input itself (an absolute URL): over the limit,
 * octet PEX_TAG_MAX_LEN is the first that does not fit.
 */
static int check_url_length(const uui_input *in)
{
	char pb[64];
	if (in->noctets <= PEX_TAG_MAX_LEN)
		return 0;
	if (in->raw)
		return uui_fail("tag URL is %zu characters; Pexip allows at most %d (offset %zu is the first that does not fit)",
			in->noctets, PEX_TAG_MAX_LEN, uui_offset(in, PEX_TAG_MAX_LEN));
	return uui_fail("tag: the URL is %zu characters; Pexip allows at most %d (%s, is the first that does not fit)",
		in->noctets, PEX_TAG_MAX_LEN, pos(pb, in, PEX_TAG_MAX_LEN, POS_LIST));
}

/*
 * The template expands to @p len characters. Over the limit, name the
 * first decoded octet that does not fit: with F fixed characters and C
 * copies of "{uui}", the first k octets take F + C * (their encoded
 * length); or say that the template alone is too long.
 */
static int check_template_length(const uui_input *in, const char *tmpl, size_t len)
{
	const char *p = tmpl;
	size_t fixed = template_len(tmpl, 0), count = 0, enc = 0, i;
	char pb[64];

	if (len <= PEX_TAG_MAX_LEN)
		return 0;
	while ((p = strstr(p, "{uui}")) != NULL) {
		count++;
		p += 5;
	}
	if (fixed > PEX_TAG_MAX_LEN)
		return uui_fail("tag: the URL is %zu characters; Pexip allows at most %d (tag.url_template "
			"without the UUI is already %zu)", len, PEX_TAG_MAX_LEN, fixed);
	for (i = 0; i < in->noctets; i++) {
		enc += encoded_octet_len(uui_octet(in, i));
		if (add_sat(fixed, mul_sat(count, enc)) > PEX_TAG_MAX_LEN)
			break;
	}
	return uui_fail("tag: the URL is %zu characters; Pexip allows at most %d (%s, is the first that does not fit)",
		len, PEX_TAG_MAX_LEN, pos(pb, in, i, POS_LIST));
}

/* Append the decoded octets, percent-encoded or as they are. */
static int put_octets(pex_buf *out, const uui_input *in, int encode)
{
	unsigned char chunk[UUI_CHUNK];
	size_t i, n;
	int err;

	for (i = 0; i < in->noctets; i += n) {
		n = in->noctets - i < UUI_CHUNK ? in->noctets - i : UUI_CHUNK;
		uui_decode(chunk, in, i, n);
		err = encode ? pex__url_encode(out, (const char *)chunk, n) :
			pex__buf_put(out, chunk, n);
		if (err < 0)
			return err;
	}
	return 0;
}

static int put_template(pex_buf *out, const char *tmpl, const uui_input *in)
{
	const char *p = tmpl, *hit;
	int err;
	while ((hit = strstr(p, "{uui}")) != NULL) {
		if ((err = pex__buf_put(out, p, (size_t)(hit - p))) < 0 ||
		    (err = put_octets(out, in, 1)) < 0)
			return err;
		p = hit + 5;
	}
	return pex__buf_puts(out, p);
}

/* ---- public ---- */

int pex_tag_rules_init(pex_tag_rules *rules, unsigned int version)
{
	static const pex_tag_rules init = PEX_TAG_RULES_INIT;
	return PEX__STRUCT_INIT(rules, init, version, PEX_TAG_RULES_VERSION, "pex_tag_rules");
}

static int check_rules(const pex_tag_rules *rules, const char *what)
{
	if (!rules)
		return uui_fail("%s: no tag rules given", what);
	return pex__version_check(rules->version, PEX_TAG_RULES_VERSION, "pex_tag_rules");
}

const char *pex__tag_template_rule(const char *tmpl)
{
	return strstr(tmpl, "{uui}") ? NULL : "must contain \"{uui}\"";
}

static int uui_to_tag(pex_buf *out, const char *uui, const pex_tag_rules *rules)
{
	size_t max_octets, scheme_len, len;
	uui_input in;
	int err;

	max_octets = rules->max_octets ? rules->max_octets : PEX_UUI_DEFAULT_MAX_OCTETS;

	memset(&in, 0, sizeof(in));
	if ((err = parse_input(&in, uui)) < 0 ||
	    (err = check_hex(&in, max_octets)) < 0 ||
	    (err = check_text(&in)) < 0)
		return err;

	if ((scheme_len = url_scheme_len(&in)) > 0) {
		if ((err = check_url(&in, scheme_len, rules)) < 0 ||
		    (err = check_url_length(&in)) < 0)
			return err;
		return put_octets(out, &in, 0);
	}

	if (!rules->url_template)
		return uui_fail("UUI: the decoded text (input offset %zu) is not an absolute URL and "
			"tag.url_template is not set", in.data_off);
	if (pex__tag_template_rule(rules->url_template))
		return uui_fail("tag.url_template does not contain \"{uui}\"");
	len = template_len(rules->url_template, encoded_len(&in));
	if ((err = check_template_length(&in, rules->url_template, len)) < 0)
		return err;
	return put_template(out, rules->url_template, &in);
}

/*
 * The frame of both public functions: @p out checked and cleared, the rules
 * and the input @p s checked (@p what names the input in messages), then
 * @p convert; on failure nothing half-written survives in @p out.
 */
static int tag_into(pex_buf *out, const char *fn, const char *what, const char *s,
	const pex_tag_rules *rules, int (*convert)(pex_buf *, const char *, const pex_tag_rules *))
{
	int err;

	if (!out)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "%s: out is NULL", fn);
	pex__buf_clear(out);
	if ((err = check_rules(rules, what)) < 0)
		return err;
	if (!s)
		return uui_fail("%s: empty (NULL)", what);
	if ((err = convert(out, s, rules)) < 0)
		pex__buf_clear(out);
	return err;
}

int pex_uui_to_tag(pex_buf *out, const char *uui, const pex_tag_rules *rules)
{
	return tag_into(out, "pex_uui_to_tag", "UUI", uui, rules, uui_to_tag);
}

/*
 * A tag URL given as text: the checks of an absolute URL in a UUI, on the
 * caller's bytes. The template and max_octets do not apply.
 */
static int url_to_tag(pex_buf *out, const char *url, const pex_tag_rules *rules)
{
	size_t scheme_len, i;
	uui_input in;
	int err;

	memset(&in, 0, sizeof(in));
	in.s = url;
	in.raw = 1;
	in.data_len = in.noctets = strlen(url);
	if (in.noctets == 0)
		return uui_fail("tag URL: empty (nothing at offset 0)");
	if ((err = check_url_length(&in)) < 0 ||
	    (err = check_text(&in)) < 0)
		return err;
	if ((scheme_len = url_scheme_len(&in)) == 0) {
		/* where "scheme://" broke off */
		if (!is_alpha((unsigned char)url[0]))
			return uui_fail("tag URL is not an absolute https URL (no scheme at offset 0)");
		for (i = 1; is_alpha((unsigned char)url[i]) || is_digit((unsigned char)url[i]) ||
			    url[i] == '+' || url[i] == '.' || url[i] == '-'; i++)
			;
		if (url[i] == ':')
			i += url[i + 1] == '/' ? 2 : 1;
		return uui_fail("tag URL is not an absolute https URL (\"scheme://\" breaks off at offset %zu)", i);
	}
	if ((err = check_url(&in, scheme_len, rules)) < 0)
		return err;
	return pex__buf_put(out, url, in.noctets);
}

int pex_tag_from_url(pex_buf *out, const pex_tag_rules *rules, const char *url)
{
	return tag_into(out, "pex_tag_from_url", "tag URL", url, rules, url_to_tag);
}
