/**
 * @file pexipsdk/sys/errors.h
 * @brief Error reporting for backend implementers (sys API: stable within
 *        a minor release only).
 */
#ifndef PEXIPSDK_SYS_ERRORS_H
#define PEXIPSDK_SYS_ERRORS_H

#include "../errors.h"

PEX_BEGIN_DECL

/**
 * Set the calling thread's error details and return @p code, so a backend
 * can write `return pex_error_set(PEX_EBACKEND, PEX_ERROR_CLASS_QUEUE, ...)`.
 * Never put secrets in the message.
 */
PEX_EXTERN int pex_error_set(int code, pex_error_class klass, const char *fmt, ...)
	PEX_PRINTF(3, 4);

PEX_END_DECL

#endif
