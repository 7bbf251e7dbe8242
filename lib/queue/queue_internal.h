/*
 * Internal declarations shared by the queue module's sources (front end,
 * URI dispatch, config glue, in-box backends). Never installed.
 */
#ifndef PEX_QUEUE_INTERNAL_H
#define PEX_QUEUE_INTERNAL_H

#include <stdint.h>

#include "internal.h"
#include "pexipsdk/queue.h"
#include "pexipsdk/sys/queue_backend.h"

/* Limits the front end enforces before any backend is called. */
#define PEX__QUEUE_NAME_MIN        3
#define PEX__QUEUE_NAME_MAX        63
#define PEX__QUEUE_BATCH_MAX       32
#define PEX__QUEUE_VISIBILITY_MAX  604800u   /* 7 days, as Azure */
#define PEX__QUEUE_DELAY_MAX       604800u

/* The payload limit of the in-box memory and sqlite backends (as Azure's
 * 64 KiB message text). */
#define PEX__QUEUE_LOCAL_MAX_MESSAGE (64u * 1024u)

/* Wall-clock time in milliseconds since the Unix epoch. Lease deadlines are
 * compared across processes (SQLite), so they cannot use the monotonic
 * clock. */
int64_t pex__queue_wall_ms(void);

/* A fresh random lease receipt: 32 lowercase hex digits, NUL-terminated
 * into @p out (at least PEX__QUEUE_RECEIPT_SIZE bytes). */
#define PEX__QUEUE_RECEIPT_SIZE 33
int pex__queue_new_receipt(char *out);

/*
 * Like pex_queue_open_backend(), but the backend is consumed either way: on
 * failure it is freed. Used by the URI and configuration openers, which
 * create the backend themselves.
 */
int pex__queue_open_owned(pex_queue **out, pex_queue_backend *backend, const char *name);

/* ---- the registry of named backends (registry.c) ---- */

/* Is [s, s+len) "memory", "sqlite", "azure" or "postgres"? */
int pex__queue_builtin_name(const char *s, size_t len);
/* Does [s, s+len) follow the scheme rule [a-z][a-z0-9+-]{0,15}? */
int pex__queue_scheme_valid(const char *s, size_t len);
/* Copy the registration of [scheme, scheme+len); 1 if found, else 0. */
int pex__queue_registry_find(const char *scheme, size_t len, pex_queue_backend_factory *factory,
	void **payload);
/* The registered schemes, each followed by @p suffix and separated by
 * @p sep, into out[size] ("" when none; cut at a whole name). */
void pex__queue_registry_names(char *out, size_t size, const char *sep, const char *suffix);
/*
 * If [scheme, scheme+len) is registered (*found = 1), run its factory with
 * @p location and open queue @p name on the result (as
 * pex__queue_open_owned()); else *found = 0 and nothing happens (0).
 */
int pex__queue_open_registered(pex_queue **out, const char *scheme, size_t len,
	const char *location, const char *name, int *found);

/* The backend a queue runs on (borrowed; tests read max_message_size). */
pex_queue_backend *pex__queue_backend(const pex_queue *q);

#endif
