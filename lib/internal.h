/*
 * Internal declarations shared by the library's sources. Never installed.
 * Non-static internal functions are named pex__<module>_<fn> and are hidden.
 */
#ifndef PEX_INTERNAL_H
#define PEX_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "pexipsdk/common.h"
#include "pexipsdk/errors.h"
#include "pexipsdk/sys/errors.h"
#include "pexipsdk/buf.h"
#include "pexipsdk/log.h"

#define PEX__UNUSED(x) ((void)(x))
#define PEX__ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- allocation: failures set PEX_ENOMEM details ---- */
void *pex__malloc(size_t n);
void *pex__calloc(size_t n, size_t size);
void *pex__realloc(void *p, size_t n);
char *pex__strdup(const char *s);           /* NULL in, NULL out (no error) */
char *pex__strndup(const char *s, size_t n);

/* ---- errors ---- */
int pex__error_vset(int code, pex_error_class klass, const char *fmt, va_list ap);
/* Record HTTP details (status) alongside an already formatted message. */
int pex__error_set_http(int code, int http_status, int cause, const char *fmt, ...)
	PEX_PRINTF(4, 5);
/* Set the raw cause (CURLcode, SQLite rc) on the current error. */
void pex__error_set_cause(int cause);
/* Set the HTTP status on the current error (keeps its class). */
void pex__error_set_status(int http_status);
/* Append one field error to the current thread's error (after a set). */
void pex__error_add_field(const char *resource, const char *field, const char *message);
/* Prefix the current error message: "<prefix>: <old message>". */
void pex__error_prefix(const char *fmt, ...) PEX_PRINTF(1, 2);
/* Shorthand for PEX_ENOMEM. */
int pex__error_nomem(void);
/* The one rule for the version of a caller-allocated versioned struct
 * (options, reports, backends; an *_init(ptr, version) or a struct handed
 * in): 1..@p current. 0, or PEX_EINVAL "unsupported TYPE version N (this
 * library knows 1..CURRENT)". */
int pex__version_check(const char *type, unsigned int version, unsigned int current);
/* The checks of an *_init(ptr, version) function @p fn: @p p (its
 * parameter @p param) is not NULL, else PEX_EINVAL "FN: PARAM is NULL", and
 * the version passes pex__version_check(). */
int pex__init_check(const void *p, const char *fn, const char *param, const char *type,
	unsigned int version, unsigned int current);
/*
 * A copy of one thread's error, to hand it to another: a worker thread
 * saves its failure, the thread that called the public function restores
 * it after joining, so pex_error_last() there names the real cause
 * (code, class, message, HTTP status, raw cause; not field errors).
 */
typedef struct pex__error_copy {
	int code;
	pex_error_class klass;
	int http_status;
	int cause;
	char message[1024];
} pex__error_copy;
/* Copy the calling thread's error into @p out. */
void pex__error_save(pex__error_copy *out);
/* Make @p e the calling thread's error; returns its code. */
int pex__error_restore(const pex__error_copy *e);

/* ---- buffers ---- */
int pex__buf_grow(pex_buf *b, size_t need);         /* room for need more bytes + NUL */
int pex__buf_put(pex_buf *b, const void *data, size_t len);
int pex__buf_puts(pex_buf *b, const char *s);
int pex__buf_putc(pex_buf *b, char c);
int pex__buf_printf(pex_buf *b, const char *fmt, ...) PEX_PRINTF(2, 3);
int pex__buf_vprintf(pex_buf *b, const char *fmt, va_list ap);
void pex__buf_clear(pex_buf *b);                    /* size = 0, keeps memory */
char *pex__buf_detach(pex_buf *b);                  /* caller frees; b reset */

/* ---- logging ---- */
typedef struct pex__logger {
	pex_log_cb cb;
	void *payload;
	pex_log_level level;
} pex__logger;
void pex__log(const pex__logger *lg, pex_log_level level, const char *fmt, ...)
	PEX_PRINTF(3, 4);
/*
 * Copy @p in to @p out (NUL-terminated, truncated to @p size) with every
 * long comma-separated list after a '=' (a name__in= filter of a hundred
 * room names) cut to its first item and a count: "name__in=vmr_a,...(96
 * items)". pex__log() applies it to every line; use it for messages that
 * may quote such a URL (a transport error).
 */
void pex__shorten_lists(char *out, size_t size, const char *in);

/* ---- encoding (OpenSSL) ---- */
int pex__base64_encode(pex_buf *out, const void *data, size_t len);
/* Standard base64 with padding; strict. PEX_EPARSE on bad input. */
int pex__base64_decode(pex_buf *out, const char *in, size_t len);
int pex__base64url_encode(pex_buf *out, const void *data, size_t len);  /* no padding */
int pex__base64url_decode(pex_buf *out, const char *in, size_t len);
/* Length of the UTF-8 sequence at s[0..len) (1-4) with its code point in
 * *cp; 0 if malformed (overlong, surrogate, beyond U+10FFFF, truncated). */
size_t pex__utf8_decode(const unsigned char *s, size_t len, unsigned long *cp);
/* Pexip's limit on a conference name, tag, description or alias: 250
 * Unicode characters (code points), up to 4 bytes each in UTF-8. */
#define PEX__TEXT_MAX_CHARS 250
#define PEX__TEXT_MAX_BYTES (4 * PEX__TEXT_MAX_CHARS)
/* pool.name_prefix, in characters: pool room names add 13 to it. */
#define PEX__POOL_PREFIX_MAX_CHARS 200
/* The one length rule for Pexip texts: is @p s (@p len bytes) valid UTF-8
 * of at most @p max characters? 1, or 0 with the reason in @p why: "is not
 * valid UTF-8 (byte 0xff at offset 3)" or "is 251 characters long (at most
 * 250)". */
int pex__text_chars_ok(const char *s, size_t len, size_t max, char *why, size_t why_size);
/* An OAuth2 scope (RFC 6749 §3.3): scope tokens of printable ASCII but
 * '"' and '\\', separated by single spaces. NULL when fine, else the rule. */
const char *pex__oauth_scope_check(const char *s);
/* Append percent-encoded s (RFC 3986 unreserved kept). */
int pex__url_encode(pex_buf *out, const char *s, size_t len);

/* ---- time and randomness ---- */
int64_t pex__now_ms(void);          /* monotonic milliseconds */
int64_t pex__unix_time(void);       /* wall clock seconds */
void pex__sleep_ms(int64_t ms);
int pex__random_bytes(void *buf, size_t n);   /* OpenSSL RAND_bytes */
uint64_t pex__random_u64(void);

/* ---- global ---- */
int pex__global_ensure(void);   /* lazily init libcurl once (thread-safe) */

#endif
