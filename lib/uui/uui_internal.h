/* Shared by uui.c and params.c (the RFC 7433 structure), nothing else. */
#ifndef PEX_UUI_INTERNAL_H
#define PEX_UUI_INTERNAL_H

#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "pexipsdk/uui.h"

/* Largest length we ever print of a piece of input in a message. */
#define UUI_QUOTE_MAX 64

/* Octets decoded per chunk when writing the result. */
#define UUI_CHUNK 64

/* The parsed shape of an input string. */
typedef struct uui_input {
	const char *s;          /* the caller's string */
	size_t data_off;        /* offset of the first hex digit */
	size_t data_len;        /* number of hex digits (data, SWS stripped) */
	size_t noctets;         /* data_len / 2, once checked */
	int raw;                /* a tag URL as text: octet i is s[data_off + i] */
} uui_input;

/* What an absolute URL's authority turned out to be. */
typedef struct uui_authority {
	size_t host_off;        /* octet index of the host */
	size_t host_len;
	size_t port_off;        /* octet index of the port digits */
	size_t port_len;        /* 0: no explicit port */
	unsigned long port;
} uui_authority;

/* ---- small helpers ---- */

static inline int is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* SWS in SIP (RFC 3261): optional SP / HTAB around ';' and '='. */
static inline int is_sws(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static inline int is_alpha(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static inline int is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static inline int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static inline unsigned char ascii_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

/* SIP token characters (RFC 3261 §25.1). */
static inline int is_token(unsigned char c)
{
	return is_alpha(c) || is_digit(c) || (c != '\0' && strchr("-.!%*_+`'~", c) != NULL);
}

/* A generic-param value may also be a host (IPv6 reference included). */
static inline int is_gen_value(unsigned char c)
{
	return is_token(c) || c == ':' || c == '[' || c == ']';
}

/* RFC 3986 unreserved, gen-delims and sub-delims ('%' is checked apart). */
static inline int is_url_char(unsigned char c)
{
	return is_alpha(c) || is_digit(c) ||
		(c != '\0' && strchr("-._~:/?#[]@!$&'()*+,;=", c) != NULL);
}

/* ---- messages (uui.c) ---- */

#define describe_byte pex__uui_describe_byte
#define quote_input pex__uui_quote_input
#define uui_fail pex__uui_fail
#define parse_input pex__uui_parse_input

/* One input byte for a message: 'g' when printable ASCII, else "byte 0x01". */
const char *describe_byte(char buf[16], unsigned char c);
/* [s, s + len) for quoting in a message: '?' for what is not printable
 * ASCII, the middle of long pieces elided. */
const char *quote_input(char buf[UUI_QUOTE_MAX + 1], const char *s, size_t len);
/* Set the PEX_EINVAL message; returns PEX_EINVAL. */
int uui_fail(const char *fmt, ...) PEX_PRINTF(1, 2);

/* ---- 1-3: structure and parameters (params.c) ---- */

/* Trim, split data from parameters, check the parameters; fills @p in. */
int parse_input(uui_input *in, const char *s);

#endif
