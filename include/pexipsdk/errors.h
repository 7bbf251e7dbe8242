/**
 * @file pexipsdk/errors.h
 * @brief Error codes and thread-local error details.
 *
 * Every fallible function returns 0 (PEX_OK) or a negative pex_error_code.
 * Details of the last failure on the calling thread are available through
 * pex_error_last(). Branch on the return code only: the details may be stale
 * after a later success.
 */
#ifndef PEXIPSDK_ERRORS_H
#define PEXIPSDK_ERRORS_H

#include "common.h"

PEX_BEGIN_DECL

/* The one table: code, value, description. Values never change; retired
 * codes keep their slot. */
#define PEX_ERROR_TABLE(X) \
	X(PEX_OK,            0,   "success") \
	X(PEX_ERROR,        -1,   "generic failure") \
	X(PEX_ENOMEM,       -2,   "out of memory") \
	X(PEX_EINVAL,       -3,   "invalid argument or input") \
	X(PEX_ENOTFOUND,    -4,   "not found") \
	X(PEX_EEXISTS,      -5,   "already exists") \
	X(PEX_EAUTH,        -6,   "authentication failed") \
	X(PEX_EHTTP,        -7,   "remote server returned an error") \
	X(PEX_ENET,         -8,   "network error") \
	X(PEX_ETIMEOUT,     -9,   "timed out") \
	X(PEX_EPARSE,       -10,  "malformed data") \
	X(PEX_EEMPTY,       -11,  "queue or pool is empty") \
	X(PEX_ELEASELOST,   -12,  "queue lease lost (stale receipt)") \
	X(PEX_EBACKEND,     -13,  "queue backend failure") \
	X(PEX_ENOTSUPPORTED,-14,  "not supported") \
	X(PEX_ECONFIG,      -15,  "configuration error") \
	X(PEX_ETLS,         -16,  "TLS verification failed") \
	X(PEX_EIO,          -17,  "I/O error") \
	X(PEX_EUSER,        -18,  "aborted by a callback") \
	X(PEX_ITEROVER,     -19,  "end of iteration") \
	X(PEX_ESTALE,       -20,  "queue store was deleted or replaced")

typedef enum pex_error_code {
#define PEX__ERR_ENUM(name, value, text) name = value,
	PEX_ERROR_TABLE(PEX__ERR_ENUM)
#undef PEX__ERR_ENUM
	PEX__ERROR_LAST = -19
} pex_error_code;

/** Where an error came from. */
typedef enum pex_error_class {
	PEX_ERROR_CLASS_NONE = 0,
	PEX_ERROR_CLASS_INVALID,
	PEX_ERROR_CLASS_NOMEMORY,
	PEX_ERROR_CLASS_OS,
	PEX_ERROR_CLASS_NET,
	PEX_ERROR_CLASS_HTTP,
	PEX_ERROR_CLASS_AUTH,
	PEX_ERROR_CLASS_JSON,
	PEX_ERROR_CLASS_YAML,
	PEX_ERROR_CLASS_XML,
	PEX_ERROR_CLASS_CONFIG,
	PEX_ERROR_CLASS_QUEUE,
	PEX_ERROR_CLASS_SQLITE,
	PEX_ERROR_CLASS_AZURE,
	PEX_ERROR_CLASS_CALLBACK
} pex_error_class;

/** One Pexip field validation error: resource.field: message. */
typedef struct pex_field_error {
	const char *resource;   /**< e.g. "conference"; "" for the flat shape */
	const char *field;      /**< e.g. "name" */
	const char *message;    /**< e.g. "... already exists." */
} pex_field_error;

/**
 * Details of the last error on this thread. Owned by the library; never
 * NULL. Valid until the next library call on the same thread. Members are
 * only ever appended.
 */
typedef struct pex_error {
	int code;                        /**< the pex_error_code returned */
	pex_error_class klass;
	const char *message;             /**< human-readable, never NULL, no secrets */
	int http_status;                 /**< HTTP status, or 0 */
	int cause;                       /**< raw library code (CURLcode, SQLite rc...), or 0 */
	size_t field_error_count;
	const pex_field_error *field_errors;
} pex_error;

/** The calling thread's last error details. Never NULL. */
PEX_EXTERN const pex_error *pex_error_last(void);

/** Forget the calling thread's last error. */
PEX_EXTERN void pex_error_clear(void);

/** Static description of an error code ("not found"). */
PEX_EXTERN const char *pex_strerror(int code);

/** Static symbolic name of an error code ("PEX_ENOTFOUND"). */
PEX_EXTERN const char *pex_error_name(int code);

PEX_END_DECL

#endif
