/*
 * UUI checks 1 to 3 (see uui.c): trim the input, split the hex data from
 * the RFC 7433 parameters, and check the parameters.
 */
#include <strings.h>

#include "uui/uui_internal.h"

/* ---- 1-3: structure and RFC 7433 parameters ---- */

/* Index of the first ';' in [from, to), or @p to. */
static size_t find_semi(const char *s, size_t from, size_t to)
{
	while (from < to && s[from] != ';')
		from++;
	return from;
}

/*
 * Check the parameters in s[pos, end), where s[pos] is the ';' after the
 * data. Grammar (RFC 7433 §4.1 with RFC 3261 generic-param):
 *
 *   params = *( SEMI param ) ; param = token [ EQUAL ( token / host /
 *   quoted-string ) ]
 *
 * purpose, content and encoding (any case) need a token value and may appear
 * once each; encoding must be "hex" (any case). Other parameters are
 * tolerated and ignored.
 */
static int parse_params(const char *s, size_t pos, size_t end)
{
	int seen_purpose = 0, seen_content = 0, seen_encoding = 0;
	char cb[16], qb[UUI_QUOTE_MAX + 1];

	while (pos < end) {
		size_t semi = pos, name, name_len, value = 0, value_len = 0;
		int has_value = 0, quoted = 0, *seen = NULL;

		pos++;                                  /* the ';' */
		while (pos < end && is_sws((unsigned char)s[pos]))
			pos++;
		name = pos;
		while (pos < end && is_token((unsigned char)s[pos]))
			pos++;
		name_len = pos - name;
		if (name_len == 0) {
			if (pos == end || s[pos] == ';')
				return uui_fail("UUI: empty parameter at offset %zu", semi);
			return uui_fail("UUI: malformed parameter at offset %zu (%s where a name should be)",
				pos, describe_byte(cb, (unsigned char)s[pos]));
		}
		while (pos < end && is_sws((unsigned char)s[pos]))
			pos++;

		if (pos < end && s[pos] == '=') {
			has_value = 1;
			pos++;
			while (pos < end && is_sws((unsigned char)s[pos]))
				pos++;
			value = pos;
			if (pos < end && s[pos] == '"') {
				/* quoted-string: "..." with \-escapes */
				quoted = 1;
				pos++;
				while (pos < end && s[pos] != '"') {
					if (s[pos] == '\\' && pos + 1 < end)
						pos++;
					pos++;
				}
				if (pos >= end)
					return uui_fail("UUI: unterminated quoted string in parameter '%s' at offset %zu",
						quote_input(qb, s + name, name_len), value);
				pos++;
			} else {
				while (pos < end && is_gen_value((unsigned char)s[pos]))
					pos++;
			}
			value_len = pos - value;
			if (value_len == 0)
				return uui_fail("UUI: parameter '%s' at offset %zu has an empty value",
					quote_input(qb, s + name, name_len), name);
			while (pos < end && is_sws((unsigned char)s[pos]))
				pos++;
		}
		if (pos < end && s[pos] != ';')
			return uui_fail("UUI: malformed parameter at offset %zu (unexpected %s at offset %zu)",
				name, describe_byte(cb, (unsigned char)s[pos]), pos);

		if (name_len == 7 && strncasecmp(s + name, "purpose", 7) == 0)
			seen = &seen_purpose;
		else if (name_len == 7 && strncasecmp(s + name, "content", 7) == 0)
			seen = &seen_content;
		else if (name_len == 8 && strncasecmp(s + name, "encoding", 8) == 0)
			seen = &seen_encoding;
		if (!seen)
			continue;                       /* a generic-param: tolerated */

		if (*seen)
			return uui_fail("UUI: duplicate parameter '%s' at offset %zu",
				quote_input(qb, s + name, name_len), name);
		*seen = 1;
		if (!has_value)
			return uui_fail("UUI: parameter '%s' at offset %zu needs a value",
				quote_input(qb, s + name, name_len), name);
		/* purpose, content and encoding take a token, never a host or string */
		if (!quoted) {
			size_t i;
			for (i = value; i < value + value_len; i++)
				if (!is_token((unsigned char)s[i]))
					return uui_fail("UUI: malformed parameter at offset %zu (%s at offset %zu is not a token character)",
						name, describe_byte(cb, (unsigned char)s[i]), i);
		}
		if (seen == &seen_encoding &&
		    (quoted || value_len != 3 || strncasecmp(s + value, "hex", 3) != 0))
			return uui_fail("UUI: unsupported encoding '%s' at offset %zu (only hex)",
				quote_input(qb, s + value, value_len), value);
		if (quoted)
			return uui_fail("UUI: parameter '%s' at offset %zu needs a token, not a quoted string",
				quote_input(qb, s + name, name_len), name);
	}
	return 0;
}

/* Split and check the structure; fills @p in (data_off, data_len). */
int parse_input(uui_input *in, const char *s)
{
	size_t begin = 0, end, semi;
	int err;

	in->s = s;
	end = strlen(s);
	while (begin < end && is_ws((unsigned char)s[begin]))
		begin++;
	while (end > begin && is_ws((unsigned char)s[end - 1]))
		end--;
	if (begin == end)
		return uui_fail("UUI: empty (no hex digits at offset %zu)", begin);

	semi = find_semi(s, begin, end);
	in->data_off = begin;
	in->data_len = semi - begin;
	/* SWS before the first ';' belongs to the separator, not the data */
	if (semi < end)
		while (in->data_len > 0 && is_sws((unsigned char)s[begin + in->data_len - 1]))
			in->data_len--;
	if (in->data_len == 0)
		return uui_fail("UUI: empty (no hex digits before the parameters at offset %zu)", semi);

	if (semi < end && (err = parse_params(s, semi, end)) < 0)
		return err;
	return 0;
}
