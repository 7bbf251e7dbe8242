/* Logging through the caller's callback; the library never prints. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

const char *pex_log_level_name(pex_log_level level)
{
	switch (level) {
	case PEX_LOG_ERROR: return "error";
	case PEX_LOG_WARN: return "warn";
	case PEX_LOG_INFO: return "info";
	case PEX_LOG_DEBUG: return "debug";
	default: break;
	}
	return "?";
}

int pex_log_level_parse(pex_log_level *out, const char *name)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	size_t i;
	if (!out || !name)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "no log level given");
	for (i = 0; i < PEX__ARRAY_SIZE(names); i++) {
		if (strcmp(name, names[i]) == 0) {
			*out = (pex_log_level)i;
			return 0;
		}
	}
	if (strcmp(name, "warning") == 0) {
		*out = PEX_LOG_WARN;
		return 0;
	}
	return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
		"unknown log level '%s' (expected error, warn, info or debug)", name);
}

void pex__log(const pex__logger *lg, pex_log_level level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	if (!lg || !lg->cb || level > lg->level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	lg->cb(level, msg, lg->payload);
}
