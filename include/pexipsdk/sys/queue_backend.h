/**
 * @file pexipsdk/sys/queue_backend.h
 * @brief Writing a queue backend (sys API: stable within a minor release).
 *
 * A backend is a struct of function pointers that starts with a version.
 * Embed it as the first member of your own struct:
 *
 *     typedef struct { pex_queue_backend parent; sqlite3 *db; } my_backend;
 *
 * Fill it with pex_queue_backend_init() or PEX_QUEUE_BACKEND_INIT, set the
 * members, and hand it to pex_queue_open_backend(), or register a factory
 * (pex_queue_backend_register()) so that a URI or the configuration picks
 * it by name. Backends move bytes;
 * the front end validates queue names, sizes and arguments before calling
 * in, and serialises calls unless caps has PEX_QUEUE_CAP_THREADSAFE.
 * Report failures with pex_error_set() (pexipsdk/sys/errors.h).
 */
#ifndef PEXIPSDK_SYS_QUEUE_BACKEND_H
#define PEXIPSDK_SYS_QUEUE_BACKEND_H

#include "../queue.h"
#include "errors.h"

PEX_BEGIN_DECL

/* 2 appended check */
#define PEX_QUEUE_BACKEND_VERSION 2

/** The backend handles concurrent calls itself. */
#define PEX_QUEUE_CAP_THREADSAFE  (1u << 0)
/** Messages survive the process. */
#define PEX_QUEUE_CAP_PERSISTENT  (1u << 1)
/** Several processes may use the same store at once. */
#define PEX_QUEUE_CAP_MULTIPROCESS (1u << 2)
/** Payloads must be valid UTF-8 (NUL and control characters are fine);
 *  put refuses other bytes with PEX_EINVAL before storing anything. The
 *  azure backend declares it (see pex_queue_backend_azure_new()). */
#define PEX_QUEUE_CAP_UTF8_ONLY    (1u << 3)

struct pex_queue_backend {
	unsigned int version;       /**< PEX_QUEUE_BACKEND_VERSION */
	unsigned int caps;          /**< PEX_QUEUE_CAP_* */
	size_t max_message_size;    /**< largest payload in bytes; 0 = no limit */
	const char *name;           /**< "memory", "sqlite", "azure", ... (static) */

	/** Create queue if missing (optional; NULL = nothing to do). */
	int (*create)(pex_queue_backend *b, const char *queue);
	/** Append a message visible after delay_s. Required. */
	int (*put)(pex_queue_backend *b, const char *queue, const void *data, size_t len,
		unsigned delay_s);
	/** Lease up to max visible messages into msgs[0..max); set *count. Required.
	 *  Nothing visible is success with *count = 0. On failure the backend
	 *  frees whatever it stored in msgs and leaves *count = 0 (also for peek). */
	int (*receive)(pex_queue_backend *b, const char *queue, size_t max,
		unsigned visibility_s, pex_message **msgs, size_t *count);
	/** Delete by id + receipt; a stale receipt is PEX_ELEASELOST. Required. */
	int (*remove)(pex_queue_backend *b, const char *queue, const pex_message *msg);
	/** Make msg visible after visibility_s (0 = now) and give it a new
	 *  receipt via pex_message_set_receipt(). Stale: PEX_ELEASELOST. Required. */
	int (*update)(pex_queue_backend *b, const char *queue, pex_message *msg,
		unsigned visibility_s);
	/** Up to max visible messages without leasing (optional). */
	int (*peek)(pex_queue_backend *b, const char *queue, size_t max,
		pex_message **msgs, size_t *count);
	/** Approximate count of all messages (optional). */
	int (*count)(pex_queue_backend *b, const char *queue, size_t *out);
	/** Delete every message (optional). */
	int (*clear)(pex_queue_backend *b, const char *queue);
	/** Release everything, including the struct itself. Required. */
	void (*free)(pex_queue_backend *b);

	/* ---- version 2 ---- */
	/** A cheap health probe of the store under the backend (optional; NULL:
	 *  nothing to check). Return 0, or a PEX_E* code with pex_error_set(),
	 *  e.g. PEX_ESTALE when the store this backend has open is no longer
	 *  the one its location names (pex_queue_check()). No I/O beyond a
	 *  stat(): it is called on every health request. */
	int (*check)(pex_queue_backend *b);
};

#define PEX_QUEUE_BACKEND_INIT { PEX_QUEUE_BACKEND_VERSION, 0, 0, NULL, \
	NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL }

/** Zero @p b and set its version. @return 0 or PEX_EINVAL (unknown version). */
PEX_EXTERN int pex_queue_backend_init(pex_queue_backend *b, unsigned int version);

/** Allocate a message for a backend to return. Copies every argument;
 *  receipt may be NULL. */
PEX_EXTERN int pex_message_new(pex_message **out, const char *id, const char *receipt,
	const void *data, size_t len, unsigned dequeue_count);

/** Replace a message's receipt (copied; NULL clears it). */
PEX_EXTERN int pex_message_set_receipt(pex_message *msg, const char *receipt);

/* ---- Backends chosen by name ----
 *
 * Register a factory under a scheme, and the scheme picks your backend like
 * a built-in one: pex_queue_open(&q, "myq:LOCATION", name), or in the
 * configuration `queue: {backend: myq, location: LOCATION}` with
 * pex_queue_open_config(). */

/** Longest scheme, in characters. */
#define PEX_QUEUE_SCHEME_MAX 16
/** At most this many backends are registered at once. */
#define PEX_QUEUE_BACKENDS_MAX 16

/**
 * Make a backend for a registered scheme. @p location is what follows
 * "scheme:" in the URI, or the configuration's queue.location ("" when
 * unset; it may be a secret: never log it). @p payload is the pointer given
 * to pex_queue_backend_register(). On success set *out (the queue takes it
 * over, as pex_queue_open_backend() does) and return 0; on failure return a
 * PEX_E* code with pex_error_set() explaining it, and set nothing. May be
 * called from several threads at once, and may open queues itself.
 */
typedef int (*pex_queue_backend_factory)(pex_queue_backend **out, const char *location,
	void *payload);

/**
 * Register @p factory under @p scheme: a lowercase letter, then up to 15 of
 * a-z, 0-9, '+' and '-'. Thread-safe; call it before the queues are opened.
 * @return 0; PEX_EINVAL (bad scheme, NULL factory); PEX_EEXISTS (a built-in
 *         name -- memory, sqlite, azure, postgres -- or already registered); PEX_ERROR
 *         when PEX_QUEUE_BACKENDS_MAX are registered already.
 */
PEX_EXTERN int pex_queue_backend_register(const char *scheme,
	pex_queue_backend_factory factory, void *payload);

/**
 * Remove a registration, e.g. before unloading the code that holds the
 * factory. Queues already open are not affected; an open running the
 * factory at that moment still completes.
 * @return 0, or PEX_ENOTFOUND.
 */
PEX_EXTERN int pex_queue_backend_unregister(const char *scheme);

/* ---- In-box backends. Every constructor exists in every build; one whose
 * feature was not compiled in returns PEX_ENOTSUPPORTED. ---- */

/** An in-process store (tests, embedding). Queues live as long as the backend. */
PEX_EXTERN int pex_queue_backend_memory_new(pex_queue_backend **out);

#define PEX_QUEUE_SQLITE_OPTIONS_VERSION 1
typedef struct pex_queue_sqlite_options {
	unsigned int version;
	const char *path;          /**< database file; created if missing */
	unsigned busy_timeout_ms;  /**< 0 = default (5000) */
} pex_queue_sqlite_options;
#define PEX_QUEUE_SQLITE_OPTIONS_INIT { PEX_QUEUE_SQLITE_OPTIONS_VERSION, NULL, 0 }
PEX_EXTERN int pex_queue_sqlite_options_init(pex_queue_sqlite_options *opts, unsigned int version);

/** SQLite file backend (WAL; safe for several processes). */
PEX_EXTERN int pex_queue_backend_sqlite_new(pex_queue_backend **out,
	const pex_queue_sqlite_options *opts);

#define PEX_QUEUE_AZURE_OPTIONS_VERSION 1
typedef struct pex_queue_azure_options {
	unsigned int version;
	const char *connection_string;  /**< secret; never logged (queue.azure.connection_string) */
	const char *ca_file;            /**< extra CA bundle, or NULL; must be readable
	                                     (queue.azure.tls.ca_file) */
	int tls_verify;                 /**< 1 (default) or 0 (queue.azure.tls.verify) */
	long timeout_ms;                /**< per request; 0 = default (10000)
	                                     (queue.azure.timeout_ms) */
	unsigned retries;               /**< on 500/503 and connect errors; default 3 */
} pex_queue_azure_options;
#define PEX_QUEUE_AZURE_OPTIONS_INIT { PEX_QUEUE_AZURE_OPTIONS_VERSION, NULL, NULL, 1, 0, 3 }
PEX_EXTERN int pex_queue_azure_options_init(pex_queue_azure_options *opts, unsigned int version);

/**
 * Azure Storage Queue backend over REST (Shared Key or SAS).
 * Payloads are UTF-8 text (PEX_QUEUE_CAP_UTF8_ONLY), at most 49152 bytes:
 * put writes base64 of the bytes as MessageText (what an Azure Functions
 * queue trigger decodes once) and refuses bytes that are not valid UTF-8
 * with PEX_EINVAL, naming the offset, before sending anything. Receive and
 * peek return the base64-decoded bytes when MessageText is canonical base64
 * of valid UTF-8, else the text as stored (raw producers, e.g. the SDKs'
 * default policy).
 */
PEX_EXTERN int pex_queue_backend_azure_new(pex_queue_backend **out,
	const pex_queue_azure_options *opts);

#define PEX_QUEUE_POSTGRES_OPTIONS_VERSION 1
typedef struct pex_queue_postgres_options {
	unsigned int version;
	const char *conninfo;           /**< libpq connection string or URI; secret, never
	                                     logged (queue.postgres.conninfo). TLS through
	                                     libpq's own sslmode, sslrootcert, ... */
	const char *schema;             /**< schema holding the tables; NULL = "pexipsdk"
	                                     (queue.postgres.schema) */
	unsigned statement_timeout_ms;  /**< statement_timeout of every connection;
	                                     0 = default (10000)
	                                     (queue.postgres.statement_timeout_ms) */
	unsigned retry_ms;              /**< how long an operation retries on new
	                                     connections when the server cannot be
	                                     reached or a connection drops; 0 = default
	                                     (15000) */
} pex_queue_postgres_options;
#define PEX_QUEUE_POSTGRES_OPTIONS_INIT { PEX_QUEUE_POSTGRES_OPTIONS_VERSION, NULL, NULL, 0, 0 }
PEX_EXTERN int pex_queue_postgres_options_init(pex_queue_postgres_options *opts,
	unsigned int version);

/**
 * PostgreSQL backend (libpq; PostgreSQL 13 or later): a durable queue that
 * several processes on several hosts share. Connects at once, and creates
 * (or migrates) its tables in the schema on first use. Leases use the
 * database server's clock. Thread-safe (a small connection pool); a child
 * process after fork() opens its own rather than use the parent's. Returns
 * PEX_ENOTSUPPORTED when the library was built without libpq
 * (-Dpostgres=disabled, or libpq-dev missing). See libpexipsdk(3) for how a
 * lost connection is retried and settled.
 */
PEX_EXTERN int pex_queue_backend_postgres_new(pex_queue_backend **out,
	const pex_queue_postgres_options *opts);

PEX_END_DECL

#endif
