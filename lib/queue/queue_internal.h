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

/* The backend a queue runs on (borrowed; tests read max_message_size). */
pex_queue_backend *pex__queue_backend(const pex_queue *q);

#endif
