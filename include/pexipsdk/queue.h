/**
 * @file pexipsdk/queue.h
 * @brief Message queues with leases (memory, SQLite, Azure Storage Queue,
 *        or a backend of your own, see pexipsdk/sys/queue_backend.h).
 *
 * A pex_queue is one named queue on one backend. Receiving takes a *lease*:
 * the message stays in the queue, invisible, for the visibility timeout;
 * delete it with its receipt to acknowledge it, or release it to make it
 * visible again. A lease that runs out makes the message visible again with
 * a higher dequeue count. Queue names are 3-63 characters of [a-z0-9-], with
 * no leading, trailing or doubled '-'.
 */
#ifndef PEXIPSDK_QUEUE_H
#define PEXIPSDK_QUEUE_H

#include "common.h"
#include "config.h"

PEX_BEGIN_DECL

typedef struct pex_queue pex_queue;
typedef struct pex_queue_backend pex_queue_backend;

/**
 * A received or peeked message. Allocated by the library and read-only to
 * callers; members are only ever appended. Free with pex_message_free().
 */
typedef struct pex_message {
	char *id;                 /**< backend's message id */
	char *receipt;            /**< lease receipt; NULL for a peeked message */
	unsigned char *data;      /**< the bytes put (NUL-terminated for convenience) */
	size_t len;               /**< length of data, excluding the NUL */
	unsigned dequeue_count;   /**< how many times it has been received */
	long long inserted_at;    /**< Unix seconds, or 0 if unknown */
	long long visible_at;     /**< Unix seconds the lease ends, or 0 */
} pex_message;

/** Free one message. NULL-safe. */
PEX_EXTERN void pex_message_free(pex_message *msg);

/** Free an array of messages and the array itself. NULL-safe. */
PEX_EXTERN void pex_message_array_free(pex_message **msgs, size_t count);

/**
 * Open queue @p name on a backend chosen by URI:
 *   "memory:"                 a fresh in-process store
 *   "sqlite:PATH"             a SQLite file (created if missing)
 *   "azure:CONNECTION-STRING" Azure Storage (also "UseDevelopmentStorage=true")
 *   "postgres:CONNINFO"       PostgreSQL (a libpq connection string or URI)
 *   "SCHEME:LOCATION"         a backend registered under SCHEME with
 *                             pex_queue_backend_register(); its factory gets
 *                             LOCATION (pexipsdk/sys/queue_backend.h)
 * The queue is created if missing. No error repeats anything after the
 * scheme (it may be a secret).
 * @return 0, PEX_EINVAL (bad URI or queue name; an unknown scheme's message
 *         lists the registered ones), PEX_ENOTSUPPORTED (backend not
 *         compiled in), or a backend (or factory) error.
 */
PEX_EXTERN int pex_queue_open(pex_queue **out, const char *uri, const char *name);

/**
 * Open queue @p name on the backend the configuration names: queue.backend
 * is memory, sqlite (queue.sqlite.path), azure
 * (queue.azure.connection_string, queue.azure.tls.*, queue.azure.timeout_ms),
 * postgres (queue.postgres.conninfo, queue.postgres.schema,
 * queue.postgres.statement_timeout_ms) or the scheme of a registered backend, whose factory gets queue.location
 * ("" when unset). @return 0, PEX_ECONFIG (a missing key, or a backend name
 *         that is not registered), or as pex_queue_open().
 */
PEX_EXTERN int pex_queue_open_config(pex_queue **out, const pex_config *cfg, const char *name);

/**
 * Open queue @p name on @p backend. On success the queue owns the backend
 * (it calls backend->free once, when the last queue sharing it is freed);
 * on failure the caller still owns it.
 */
PEX_EXTERN int pex_queue_open_backend(pex_queue **out, pex_queue_backend *backend,
	const char *name);

/** Open another queue, @p name, on the same backend as @p sibling (shared). */
PEX_EXTERN int pex_queue_open_sibling(pex_queue **out, pex_queue *sibling, const char *name);

/** Close the queue (the messages stay in the backend). NULL-safe. */
PEX_EXTERN void pex_queue_free(pex_queue *q);

/** The queue's name; borrowed, lives as long as @p q. */
PEX_EXTERN const char *pex_queue_name(const pex_queue *q);

/** Check a queue name; 0 or PEX_EINVAL with the rule broken. */
PEX_EXTERN int pex_queue_name_validate(const char *name);

/**
 * Put a message. It becomes visible after @p delay_s seconds (0 = now).
 * @return 0, PEX_EINVAL (empty or over the backend's size limit), or a
 *         backend error.
 */
PEX_EXTERN int pex_queue_put(pex_queue *q, const void *data, size_t len, unsigned delay_s);

/**
 * Lease one visible message for @p visibility_s seconds (>= 1).
 * @return 0, PEX_EEMPTY when nothing is visible, or a backend error.
 */
PEX_EXTERN int pex_queue_receive(pex_message **out, pex_queue *q, unsigned visibility_s);

/**
 * Lease up to @p max (1..32) visible messages. On success *out is an
 * array of *count messages (free with pex_message_array_free()); *count may be
 * 0 (then *out is NULL) when nothing is visible.
 */
PEX_EXTERN int pex_queue_receive_batch(pex_message ***out, size_t *count, pex_queue *q,
	size_t max, unsigned visibility_s);

/**
 * Acknowledge: delete a leased message for good.
 * @return 0, PEX_ELEASELOST if the receipt is stale (the lease ran out and
 *         another receiver may hold it), or a backend error.
 */
PEX_EXTERN int pex_queue_delete(pex_queue *q, const pex_message *msg);

/**
 * Release a lease: the message becomes visible again after @p delay_s
 * seconds. @p msg's receipt is replaced by the new one.
 * @return 0, PEX_ELEASELOST, or a backend error.
 */
PEX_EXTERN int pex_queue_release(pex_queue *q, pex_message *msg, unsigned delay_s);

/**
 * Extend a lease to @p visibility_s seconds from now. @p msg's receipt is
 * replaced by the new one. @return 0, PEX_ELEASELOST, or a backend error.
 */
PEX_EXTERN int pex_queue_extend(pex_queue *q, pex_message *msg, unsigned visibility_s);

/**
 * Look at up to @p max (1..32) visible messages without leasing them.
 * Output as pex_queue_receive_batch(); receipts are NULL.
 */
PEX_EXTERN int pex_queue_peek(pex_message ***out, size_t *count, pex_queue *q, size_t max);

/**
 * Approximate number of messages, visible or not (Azure counts invisible
 * and delayed messages too, and so do the other backends, for consistency).
 */
PEX_EXTERN int pex_queue_count(size_t *out, pex_queue *q);

/** Delete every message in the queue. */
PEX_EXTERN int pex_queue_clear(pex_queue *q);

/**
 * Health probe of the store under the queue, cheap enough for every health
 * request (the sqlite backend makes one stat()). The sqlite backend reports
 * PEX_ESTALE when its database file was deleted or replaced while open:
 * this process keeps using the old file while other processes (pexctl,
 * cron) open a new one, so the pool is split; restart the process.
 * Backends without a probe (memory, azure, and backends of version 1)
 * report 0.
 * @return 0, PEX_ESTALE, or another backend error (e.g. PEX_EIO).
 */
PEX_EXTERN int pex_queue_check(pex_queue *q);

PEX_END_DECL

#endif
