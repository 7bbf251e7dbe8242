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

/* ---- what every built-in backend's constructor does (queue.c) ---- */

/* The operations every backend has, for functions named P_put, P_receive... */
#define PEX__QUEUE_OPS(p) .put = p##_put, .receive = p##_receive, .remove = p##_remove, \
	.update = p##_update, .peek = p##_peek, .count = p##_count, .clear = p##_clear, \
	.free = p##_free
/* Free msgs[0..n) and set them to NULL: a backend's read that failed
 * part-way leaves nothing behind (pex_queue_backend.receive). */
void pex__queue_messages_undo(pex_message **msgs, size_t n);
/* Define P_receive and P_peek for a backend that reads both with one
 * function: @p call is an expression of the parameters b, queue, max,
 * visibility_s (0 for a peek), msgs, count and lease (1 for a receive). */
#define PEX__QUEUE_RECEIVE_PEEK(p, call) \
static int p##_read_(pex_queue_backend *b, const char *queue, size_t max, \
	unsigned visibility_s, int lease, pex_message **msgs, size_t *count) \
{ \
	return call; \
} \
static int p##_receive(pex_queue_backend *b, const char *queue, size_t max, \
	unsigned visibility_s, pex_message **msgs, size_t *count) \
{ \
	return p##_read_(b, queue, max, visibility_s, 1, msgs, count); \
} \
static int p##_peek(pex_queue_backend *b, const char *queue, size_t max, \
	pex_message **msgs, size_t *count) \
{ \
	return p##_read_(b, queue, max, 0, 0, msgs, count); \
}
/* The start of pex_queue_backend_NAME_new() (@p fn): *out = NULL, and
 * @p opts (NULL for a backend without options) present, its version (the
 * first member) one of 1..@p known, and the string member at @p location
 * (what a queue URI gives after "NAME:") set and not empty, else
 * PEX_EINVAL saying @p missing. 0 or PEX_EINVAL. */
int pex__queue_new_check(pex_queue_backend **out, const char *fn, const void *opts,
	unsigned int known, const char *type, size_t location, const char *missing);
/* The constructor of a backend not compiled in: *out = NULL (when @p out),
 * PEX_ENOTSUPPORTED saying @p why. */
int pex__queue_not_built(pex_queue_backend **out, pex_error_class error_class, const char *why);

/* The queue-name rule (Azure Storage's, kept by every backend): NULL when
 * @p name keeps it, else what it breaks ("must be 3 to 63 characters
 * long"), with the offending character's offset in *at where there is one.
 * pex_queue_name_validate() and the configuration schema both apply it. */
const char *pex__queue_name_rule(const char *name, size_t *at);

/* ---- the table of backends by scheme (registry.c) ---- */

struct pex_config;

/* What a built-in backend adds to its table entry. */
struct pex__queue_builtin {
	const char *location;   /* in a URI, what follows "scheme:" ("PATH"); NULL: nothing */
	const char *needs;      /* that location in words ("a database path") */
	/* make the backend from the queue.* settings (open_config.c) */
	int (*from_config)(pex_queue_backend **out, const struct pex_config *cfg);
};
int pex__queue_memory_from_config(pex_queue_backend **out, const struct pex_config *cfg);
int pex__queue_sqlite_from_config(pex_queue_backend **out, const struct pex_config *cfg);
int pex__queue_azure_from_config(pex_queue_backend **out, const struct pex_config *cfg);
int pex__queue_postgres_from_config(pex_queue_backend **out, const struct pex_config *cfg);

/* The built-in schemes into out[size]: with @p uri "memory:, sqlite:PATH,
 * azure:CONNECTION-STRING or postgres:CONNINFO", else "memory, sqlite,
 * azure, postgres". */
void pex__queue_builtin_names(char *out, size_t size, int uri);
/* Does [s, s+len) follow the scheme rule [a-z][a-z0-9+-]{0,15}? */
int pex__queue_scheme_valid(const char *s, size_t len);
/* Copy the table entry of [scheme, scheme+len), built in (*builtin set) or
 * registered (*builtin = NULL); 1 if found, else 0. */
int pex__queue_registry_find(const char *scheme, size_t len, pex_queue_backend_factory *factory,
	void **payload, const struct pex__queue_builtin **builtin);
/* The registered (not built-in) schemes, each followed by @p suffix and
 * separated by @p sep, into out[size] ("" when none; cut at a whole name). */
void pex__queue_registry_names(char *out, size_t size, const char *sep, const char *suffix);
/* Run @p factory (of [scheme, scheme+len)) with @p location and open queue
 * @p name on the result (as pex__queue_open_owned()). */
int pex__queue_open_factory(pex_queue **out, const char *scheme, size_t len,
	pex_queue_backend_factory factory, void *payload, const char *location, const char *name);

/* The backend a queue runs on (borrowed; tests read max_message_size). */
pex_queue_backend *pex__queue_backend(const pex_queue *q);

#endif
