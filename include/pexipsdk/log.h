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
