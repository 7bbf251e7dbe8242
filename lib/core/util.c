/* Small helpers the modules share, so that each is written once: base64,
 * base64url and hex, UTF-8 decoding and Pexip's character limit, URL
 * encoding, OAuth2 scope syntax, reading a descriptor whole; and the clocks
 * and the random source (OpenSSL) every module takes its time and
 * randomness from. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "internal.h"

int pex__base64_encode(pex_buf *out, const void *data, size_t len)
{
	size_t need = 4 * ((len + 2) / 3);
	int err, n;
	if (len > (size_t)1 << 30)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "data too large to encode");
	if ((err = pex__buf_grow(out, need)) < 0)
		return err;
	n = EVP_EncodeBlock((unsigned char *)out->ptr + out->size, data, (int)len);
	out->size += (size_t)n;
	out->ptr[out->size] = '\0';
	return 0;
}

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

/* Standard base64 with padding; strict. */
static int b64_decode(pex_buf *out, const char *in, size_t len)
{
	unsigned acc = 0;
	int bits = 0, err;
	size_t i, pad = 0, start = out->size;
	if ((err = pex__buf_grow(out, len / 4 * 3 + 3)) < 0)
		return err;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		int v;
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad)
			goto bad;
		v = b64val(c);
		if (v < 0)
			goto bad;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out->ptr[out->size++] = (char)((acc >> bits) & 0xff);
		}
	}
	if (pad > 2 || (len % 4) != 0 || bits >= 6)
		goto bad;
	out->ptr[out->size] = '\0';
	return 0;
bad:
	out->size = start;
	if (out->ptr)
		out->ptr[start] = '\0';
	return pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_INVALID,
		"invalid base64 at offset %zu", i < len ? i : len);
}

int pex__base64_decode(pex_buf *out, const char *in, size_t len)
{
	return b64_decode(out, in, len);
}

int pex__base64url_encode(pex_buf *out, const void *data, size_t len)
{
	size_t start = out->size, i;
	int err = pex__base64_encode(out, data, len);
	if (err < 0)
		return err;
	for (i = start; i < out->size; i++) {
		if (out->ptr[i] == '+') out->ptr[i] = '-';
		else if (out->ptr[i] == '/') out->ptr[i] = '_';
	}
	while (out->size > start && out->ptr[out->size - 1] == '=')
		out->size--;
	out->ptr[out->size] = '\0';
	return 0;
}

size_t pex__utf8_decode(const unsigned char *s, size_t len, unsigned long *cp)
{
	unsigned long c;
	size_t n, i;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		c = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		c = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		c = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n > len)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates, beyond U+10FFFF */
	if ((n == 3 && c < 0x800) || (n == 4 && c < 0x10000) || c > 0x10ffff ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

int pex__text_chars_ok(const char *s, size_t len, size_t max, char *why, size_t why_size)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, n, chars = 0;
	unsigned long c;

	while (i < len) {
		if ((n = pex__utf8_decode(u + i, len - i, &c)) == 0) {
			snprintf(why, why_size, "is not valid UTF-8 (byte 0x%02x at offset %zu)", u[i], i);
			return 0;
		}
		i += n;
		chars++;
	}
	if (chars > max) {
		snprintf(why, why_size, "is %zu characters long (at most %zu)", chars, max);
		return 0;
	}
	return 1;
}

const char *pex__oauth_scope_check(const char *s)
{
	size_t i;

	if (!*s || s[0] == ' ')
		return "must be scope tokens separated by single spaces";
	for (i = 0; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == ' ' && (s[i + 1] == ' ' || s[i + 1] == '\0'))
			return "must be scope tokens separated by single spaces";
		if (c != ' ' && (c < 0x21 || c > 0x7e || c == '"' || c == '\\'))
			return "must be printable ASCII without '\"' or '\\' (RFC 6749 section 3.3)";
	}
	return NULL;
}

int pex__url_encode(pex_buf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;
	int err;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
			err = pex__buf_putc(out, (char)c);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };
			err = pex__buf_put(out, e, 3);
		}
		if (err < 0)
			return err;
	}
	return 0;
}

int64_t pex__now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t pex__unix_time(void)
{
	return (int64_t)time(NULL);
}

void pex__sleep_ms(int64_t ms)
{
	struct timespec ts;
	if (ms <= 0)
		return;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int pex__random_bytes(void *buf, size_t n)
{
	if (n > (size_t)INT32_MAX || RAND_bytes(buf, (int)n) != 1)
		return pex_error_set(PEX_ERROR, PEX_ERROR_CLASS_OS, "random number generator failed");
	return 0;
}

uint64_t pex__random_u64(void)
{
	uint64_t v = 0;
	if (pex__random_bytes(&v, sizeof(v)) < 0)
		v = (uint64_t)pex__now_ms() * 6364136223846793005ULL + 1442695040888963407ULL;
	return v;
}

ssize_t pex__read_full(int fd, void *buf, size_t cap)
{
	size_t len = 0;

	while (len < cap) {
		ssize_t n = read(fd, (char *)buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	return (ssize_t)len;
}

void pex__hex_encode(char *out, const void *data, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = data;
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[u[i] >> 4];
		out[2 * i + 1] = hex[u[i] & 15];
	}
	out[2 * n] = '\0';
}
