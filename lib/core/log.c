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

/* A list longer than this is cut to its first item and a count. */
#define LIST_KEEP_MAX 80

void pex__shorten_lists(char *out, size_t size, const char *in)
{
	const char *p = in;
	size_t o = 0;

	if (!size)
		return;
	while (*p && o + 1 < size) {
		const char *end, *comma;
		size_t items = 1;
		int n;

		out[o++] = *p;
		if (*p++ != '=')
			continue;
		for (end = p; *end && *end != '&' && *end != ' ' && *end != ')' && *end != '"'; end++)
			items += *end == ',';
		if (items < 3 || (size_t)(end - p) <= LIST_KEEP_MAX)
			continue;
		comma = memchr(p, ',', (size_t)(end - p));
		n = snprintf(out + o, size - o, "%.*s,...(%zu items)", (int)(comma - p), p, items);
		o = n < 0 || (size_t)n >= size - o ? size - 1 : o + (size_t)n;
		p = end;
	}
	out[o] = '\0';
}

void pex__log(const pex__logger *lg, pex_log_level level, const char *fmt, ...)
{
	/* formatted whole (a URL of 96 names is ~3 KB), then shortened */
	char full[8192], msg[1024];
	va_list ap;
	if (!lg || !lg->cb || level > lg->level)
		return;
	va_start(ap, fmt);
	vsnprintf(full, sizeof(full), fmt, ap);
	va_end(ap);
	pex__shorten_lists(msg, sizeof(msg), full);
	lg->cb(level, msg, lg->payload);
}
