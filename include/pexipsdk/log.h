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
 * holds a secret, and is valid only during the call. May be called from
 * any thread that uses the object it was registered on.
 */
typedef void (*pex_log_cb)(pex_log_level level, const char *message, void *payload);

/** "error", "warn", "info" or "debug". */
PEX_EXTERN const char *pex_log_level_name(pex_log_level level);

/** Parse a level name; returns 0 or PEX_EINVAL. */
PEX_EXTERN int pex_log_level_parse(pex_log_level *out, const char *name);

PEX_END_DECL

#endif
