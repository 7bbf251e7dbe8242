/*
 * Internal declarations shared by the library's sources. Never installed.
 * Non-static internal functions are named pex__<module>_<fn> and are hidden.
 */
#ifndef PEX_INTERNAL_H
#define PEX_INTERNAL_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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
struct json_object;
/* Unless @p err (of building @p obj) is negative, write @p obj as plain
 * JSON text (no escaped slashes) into @p out, which it replaces; release
 * @p obj either way. A NULL @p obj is PEX_ENOMEM (the allocation that made
 * it failed). 0 or the error. */
int pex__json_to_buf(pex_buf *out, struct json_object *obj, int err);
/* Add @p v under @p key of @p obj. A NULL @p v is JSON null when @p null_ok,
 * else a failed allocation (PEX_ENOMEM), as is a NULL @p obj. @p v is
 * released on failure. */
int pex__json_add(struct json_object *obj, const char *key, struct json_object *v, int null_ok);

/* ---- logging ---- */
typedef struct pex__logger {
	pex_log_cb cb;
	void *payload;
	pex_log_level level;
	/* set: gets the lines instead of cb; set while a pool's maintenance
	 * thread may log (pex_client_set_log_record), hence atomic */
	_Atomic(pex_log_record_cb) record_cb;
	void *_Atomic record_payload;
} pex__logger;
void pex__log(const pex__logger *lg, pex_log_level level, const char *fmt, ...)
	PEX_PRINTF(3, 4);
/* pex__log() with @p count fields (pex_log_field): string values are
 * shortened and escaped like the message. */
void pex__log_fields(const pex__logger *lg, pex_log_level level, const pex_log_field *fields,
	size_t count, const char *fmt, ...) PEX_PRINTF(5, 6);
/*
 * Copy @p in to @p out (NUL-terminated, truncated to @p size) with every
 * long comma-separated list after a '=' (a name__in= filter of a hundred
 * room names) cut to its first item and a count: "name__in=vmr_a,...(96
 * items)". pex__log() applies it to every line; use it for messages that
 * may quote such a URL (a transport error).
 */
void pex__shorten_lists(char *out, size_t size, const char *in);
/*
 * Untrusted text for a message (a value or key read from a file): [s,
 * s+len) into @p out as pex_log_escape() writes it (control characters and
 * bytes that are not UTF-8 as "\xHH"), every byte in @p quote as a
 * backslash and itself, at most @p max bytes of it and no more than fits, ending in
 * "..." when cut. Always NUL-terminated (when @p size > 0).
 */
void pex__text_escape(char *out, size_t size, const char *s, size_t len, const char *quote,
	size_t max);

/* ---- encoding (OpenSSL) ---- */
int pex__base64_encode(pex_buf *out, const void *data, size_t len);
/* Standard base64 with padding; strict. PEX_EPARSE on bad input. */
int pex__base64_decode(pex_buf *out, const char *in, size_t len);
int pex__base64url_encode(pex_buf *out, const void *data, size_t len);  /* no padding */
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
/* Offset of the first byte of @p data that does not start a valid UTF-8
 * sequence, or @p len when all of it is valid UTF-8. */
size_t pex__utf8_invalid_at(const void *data, size_t len);
/* The one rule for a room name (lib/core/pexip_text.c): 1 to 250
 * characters of valid UTF-8, no control character (C0, DEL, C1); with
 * @p no_space also no whitespace (a generated pool name never has any).
 * 1, or 0 with the reason in @p why: "is empty", "has a control character
 * (U+0001) at offset 3", "contains whitespace (U+0020) at offset 2". */
int pex__room_name_ok(const char *s, size_t len, int no_space, char *why, size_t why_size);
/* Unix seconds of a Pexip datetime ("2025-06-19T09:52:33.123456", naive =
 * UTC; "Z" or a "+HH:MM"/"-HH:MM" offset may follow); -1 if unparsable. */
long long pex__pexip_time(const char *s);
/* The tag.url_template rule (lib/uui): NULL when @p tmpl holds "{uui}",
 * else the rule. pex_uui_to_tag() and the configuration schema apply it. */
const char *pex__tag_template_rule(const char *tmpl);

/* ---- versioned structs (lib/core/versioned.c) ---- */
/* 0 when @p version is one this library knows (1..@p known), else
 * PEX_EINVAL: "unsupported pex_room_spec version 3 (this library knows 1..1)". */
int pex__version_check(unsigned int version, unsigned int known, const char *type);
/* The body of every pex_*_init(): check @p version, copy the first @p size
 * bytes of @p init (the size of that version's struct, which may be older
 * and smaller than ours; NULL: zeroes, for a report) into @p dst, and set
 * its version (the first member) to @p version. */
int pex__struct_init(void *dst, const void *init, size_t size, unsigned int version,
	unsigned int known, const char *type);
#define PEX__STRUCT_INIT(dst, init, version, known, type) \
	pex__struct_init((dst), &(init), sizeof(init), (version), (known), (type))
/* An OAuth2 scope (RFC 6749 §3.3): scope tokens of printable ASCII but
 * '"' and '\\', separated by single spaces. NULL when fine, else the rule. */
const char *pex__oauth_scope_check(const char *s);
/* Lowercase hex of data[0..n) into out[0..2n], NUL-terminated. */
void pex__hex_encode(char *out, const void *data, size_t n);
/* Append percent-encoded s (RFC 3986 unreserved kept). */
int pex__url_encode(pex_buf *out, const char *s, size_t len);

/* ---- files ---- */
/* Read @p fd into buf[0..cap) until end of file or @p cap bytes, retrying
 * on EINTR: the bytes read, or -1 with errno set. */
ssize_t pex__read_full(int fd, void *buf, size_t cap);

/* ---- time and randomness ---- */
int64_t pex__now_ms(void);          /* monotonic milliseconds */
int64_t pex__unix_time(void);       /* wall clock seconds */
void pex__sleep_ms(int64_t ms);
int pex__random_bytes(void *buf, size_t n);   /* OpenSSL RAND_bytes */
uint64_t pex__random_u64(void);

/* ---- global ---- */
int pex__global_ensure(void);   /* lazily init libcurl once (thread-safe) */

#endif
