/*
 * Pexip's rules for the texts it stores, each in one place: what a room
 * name may hold and how Pexip writes a time (docs/DECISIONS.md #63).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

size_t pex__utf8_invalid_at(const void *data, size_t len)
{
	const unsigned char *u = data;
	size_t i = 0, n;
	unsigned long c;

	while (i < len) {
		if ((n = pex__utf8_decode(u + i, len - i, &c)) == 0)
			return i;
		i += n;
	}
	return len;
}

static int is_unicode_space(unsigned long c)
{
	return c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200b) ||
		c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f ||
		c == 0x3000 || c == 0xfeff;
}

int pex__room_name_ok(const char *s, size_t len, int no_space, char *why, size_t why_size)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, n;
	unsigned long c;

	if (!s || len == 0) {
		snprintf(why, why_size, "is empty");
		return 0;
	}
	if (!pex__text_chars_ok(s, len, PEX__TEXT_MAX_CHARS, why, why_size))
		return 0;
	/* valid UTF-8 now: every sequence decodes */
	for (; i < len; i += n) {
		n = pex__utf8_decode(u + i, len - i, &c);
		if (no_space && (c == ' ' || (c >= '\t' && c <= '\r') || is_unicode_space(c))) {
			snprintf(why, why_size, "contains whitespace (U+%04lX) at offset %zu", c, i);
			return 0;
		}
		if (c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f)) {
			snprintf(why, why_size, "has a control character (U+%04lX) at offset %zu", c, i);
			return 0;
		}
	}
	return 1;
}

long long pex__pexip_time(const char *s)
{
	struct tm tm;
	const char *end;
	long long t;

	if (!s || !*s)
		return -1;
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end)
		return -1;
	t = (long long)timegm(&tm);
	if (*end == '.')
		for (end++; *end >= '0' && *end <= '9'; end++)
			;
	if ((*end == '+' || *end == '-') && strlen(end) == 6 && end[3] == ':' &&
	    end[1] >= '0' && end[1] <= '9' && end[2] >= '0' && end[2] <= '9' &&
	    end[4] >= '0' && end[4] <= '9' && end[5] >= '0' && end[5] <= '9') {
		int hh = (end[1] - '0') * 10 + (end[2] - '0');
		int mm = (end[4] - '0') * 10 + (end[5] - '0');
		long long off = (long long)hh * 3600 + mm * 60;
		t += *end == '+' ? -off : off;
	} else if (*end != '\0' && strcmp(end, "Z") != 0) {
		return -1;
	}
	return t;
}
