/* Private to the GC sweeps: gc.c (the deletion-queue sweep) and
 * gc_orphans.c (the orphan sweep) share one sweep's state. */
#ifndef PEX_POOL_GC_INTERNAL_H
#define PEX_POOL_GC_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "pool/pool_internal.h"

/* Lease on a batch of deletion messages: long enough for a batch at 3
 * requests per room on one thread, retries included. */
#define PEX__GC_LEASE_S 300
/* Messages per receive (the queue API maximum). */
#define PEX__GC_RECEIVE 32
/* Messages per batch: the batch lookups cost two requests per batch, and
 * the workers wait for the slowest room of a batch, so bigger is better up
 * to what one lookup URL can carry (96 pool names is about 3 KB). */
#define PEX__GC_BATCH 96
/* A failed room is retried by a sweep after this delay. */
#define PEX__GC_RETRY_DELAY_S 60
/* Shortest postponement of a live room. */
#define PEX__GC_MIN_POSTPONE_S 60
/* Lease used to read the pool queue when it is too deep to peek. */
#define PEX__GC_POOL_SCAN_LEASE_S 30
/* Per-room warnings logged per sweep; the rest go to debug. */
#define PEX__GC_WARN_MAX 10
/* Conference list page size for the orphan sweep. */
#define PEX__GC_PAGE_SIZE 200

struct gc_batch;

/* State of one sweep, shared by the worker threads. */
typedef struct gc_ctx {
	pex_pool *p;
	const pex_gc_options *o;
	int dry;
	long long now;                 /* Unix seconds at the start */

	/* queue sweep: the batch being handled */
	struct gc_batch *cur;
	int batching;                  /* 0 once the server refused name__in */
	/* orphan sweep: the candidates */
	char **names;
	size_t n;
	atomic_size_t batch_failed;

	/* report */
	atomic_size_t deleted, postponed_live, skipped_protected, already_gone, failed, skipped_foreign;
	atomic_size_t orphans_found, orphans_deleted;

	/* progress and the max budget */
	atomic_size_t done;            /* rooms counted so far */
	atomic_size_t claimed;         /* orphan sweep: budget slots taken */
	size_t total;                  /* estimate for the progress callback */
	pex_pool_progress_cb progress;
	void *payload;
	atomic_int aborted;
	atomic_int outage;             /* Pexip unreachable or refusing us: ask it nothing more */
	atomic_int warned;
	atomic_int batch_refused;

	/* the first error, saved from whichever thread hit it */
	pthread_mutex_t lock;
	int first_err;
	pex__error_copy first;
} gc_ctx;

/* Remember the current thread's error (with @p what before it) if it is the first. */
void pex__gc_remember(gc_ctx *c, int err, const char *what);
/* A room failed: count it, remember the error, retry @p msg (may be NULL) later. */
void pex__gc_failed(gc_ctx *c, pex_message *msg, int err, const char *what);
/* One more room counted: report progress; a non-zero answer stops the sweep. */
void pex__gc_tick(gc_ctx *c);
/* The orphan sweep (gc_orphans.c), after the queue sweep. */
void pex__gc_sweep_orphans(gc_ctx *c);

#endif
