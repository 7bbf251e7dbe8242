/**
 * @file pexipsdk/common.h
 * @brief Export macros and shared declarations for libpexipsdk.
 */
#ifndef PEXIPSDK_COMMON_H
#define PEXIPSDK_COMMON_H

#include <stddef.h>

#ifdef __cplusplus
# define PEX_BEGIN_DECL extern "C" {
# define PEX_END_DECL }
#else
# define PEX_BEGIN_DECL
# define PEX_END_DECL
#endif

#if defined(__GNUC__) || defined(__clang__)
# define PEX_EXTERN __attribute__((visibility("default")))
# define PEX_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
# define PEX_EXTERN
# define PEX_PRINTF(a, b)
#endif

PEX_BEGIN_DECL

/**
 * Initialise the library's global state (libcurl, OpenSSL). Reference
 * counted: call pex_global_shutdown() once per successful call. Call it
 * before any other thread uses the library.
 * @return 0 or a negative pex_error_code.
 */
PEX_EXTERN int pex_global_init(void);

/** Drop one reference taken by pex_global_init(). */
PEX_EXTERN void pex_global_shutdown(void);

/** Run-time library version, e.g. "0.1.0" (static storage). */
PEX_EXTERN const char *pex_version(void);

/** Compiled-in features, e.g. "+sqlite +azure" (static storage). */
PEX_EXTERN const char *pex_features(void);

PEX_END_DECL

#endif
