/**
 * @file pexipsdk/log.h
 * @brief Logging: the library never prints; it calls your callback.
 */
#ifndef PEXIPSDK_LOG_H
#define PEXIPSDK_LOG_H

#include "common.h"

PEX_BEGIN_DECL

typedef enum pex_log_level {
	PEX_LOG_ERROR = 0,
	PEX_LOG_WARN = 1,
	PEX_LOG_INFO = 2,
	PEX_LOG_DEBUG = 3
} pex_log_level;

/**
 * Log callback. @p message is formatted, has no trailing newline, never
 * holds a secret, is escaped with pex_log_escape() (no control character,
 * valid UTF-8), and is valid only during the call. May be called from
 * any thread that uses the object it was registered on.
 */
typedef void (*pex_log_cb)(pex_log_level level, const char *message, void *payload);

/**
 * One field of a log record: @p key (a fixed name, see pex_log(3)) and
 * either a string (@p str not NULL; escaped like a message) or an integer
 * (@p num, when @p str is NULL). A key always has the same kind.
 * The library hands these to the callback as an array, so this layout is
 * frozen for the life of the ABI (unlike the caller-allocated structs, it
 * has no version): a new kind of value would come with a new callback type.
 */
typedef struct pex_log_field {
	const char *key;
	const char *str;
	long long num;
} pex_log_field;

/**
 * Record callback: the message without the fields (a fixed text, such as
 * "pexip request") and @p count fields beside it. Everything is valid only
 * during the call. Registered with pex_client_set_log_record(); while one
 * is set, it gets every line of that client and the pex_log_cb gets none.
 * Without one, the pex_log_cb gets the fields appended to the message as
 * " key=value" (a string value holding a space, '"' or '=' in double
 * quotes, '"' and '\\' in it preceded by a backslash).
 */
typedef void (*pex_log_record_cb)(pex_log_level level, const char *message,
	const pex_log_field *fields, size_t count, void *payload);

/** "error", "warn", "info" or "debug". */
PEX_EXTERN const char *pex_log_level_name(pex_log_level level);

/** Parse a level name; returns 0 or PEX_EINVAL. */
PEX_EXTERN int pex_log_level_parse(pex_log_level *out, const char *name);

/**
 * Escape @p in for a log line: control characters (0x00-0x1f, 0x7f) and
 * bytes that are not part of well-formed UTF-8 become "\xHH"; everything
 * else, the backslash included, is copied as is, so escaping twice changes
 * nothing. Writes at most @p size bytes with the NUL (whole characters and
 * whole escapes only) and returns the length the whole escape needs, like
 * snprintf(); @p out may be NULL when @p size is 0. NULL @p in is "".
 */
PEX_EXTERN size_t pex_log_escape(char *out, size_t size, const char *in);

PEX_END_DECL

#endif
