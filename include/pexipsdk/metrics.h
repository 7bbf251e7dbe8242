/**
 * @file pexipsdk/metrics.h
 * @brief The pool's metrics, and their Prometheus text and JSON formats.
 */
#ifndef PEXIPSDK_METRICS_H
#define PEXIPSDK_METRICS_H

#include "common.h"
#include "buf.h"
#include "pool.h"

PEX_BEGIN_DECL

/** The pool's metrics. Caller-allocated: initialise with pex_metrics_init(). */
typedef struct pex_metrics {
	unsigned int version;          /**< PEX_METRICS_VERSION (pex_metrics_init()) */
	long long pool_depth;          /**< approximate messages in the pool queue (every backend
	                                    counts invisible ones: maturing rooms included) */
	long long deletion_backlog;    /**< approximate messages in the deletion queue */
	long long live_conferences;    /**< live pool-prefixed conferences (status API) */
	long long pexip_pool_rooms;    /**< pool-prefixed rooms configured on Pexip */
	unsigned long long pops, pop_failures;
	unsigned long long replenished, replenish_failures;
	unsigned long long deleted, delete_failures;
	unsigned long long events, events_unknown;
	unsigned long long events_foreign;  /**< conference_ended for services the pool does not own */
	long long pool_maturing;       /**< pool rooms younger than ready_after_s (asked of Pexip;
	                                    0 when ready_after_s is 0, -1 when Pexip could not say),
	                                    in pool_depth but not ready: ready = pool_depth -
	                                    pool_maturing */
	/* the self-sizing pool (pool.max_depth; docs/DECISIONS.md #64), appended
	 * without a version bump: nothing has shipped with version 1 */
	double demand_rate;            /**< rooms asked for per second now, smoothed: this
	                                    process's pops (served or not), or the deployment's
	                                    hand-outs of the last 10 s as counted on Pexip when
	                                    that is more */
	long long target_depth;        /**< the depth the pool grows to now (pool.depth ..
	                                    pool.max_depth) */
	long long empty_in_s;          /**< seconds until the ready rooms are gone at demand_rate
	                                    (-1: no demand, or ready unknown) */
	unsigned long long shrunk;     /**< rooms above the target removed by this process */
} pex_metrics;

#define PEX_METRICS_VERSION 1
#define PEX_METRICS_INIT { PEX_METRICS_VERSION, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }
/** Zero @p m and set its version. @return 0, or PEX_EINVAL (NULL, or a
 * version this library does not know). */
PEX_EXTERN int pex_metrics_init(pex_metrics *m, unsigned int version);

/** Gather metrics (queue counts, Pexip counts, this process's counters)
 * into @p out (initialised by pex_metrics_init()). @return 0, PEX_EINVAL
 * (no output or pool, or an unknown version), or a queue or Pexip error. */
PEX_EXTERN int pex_metrics_get(pex_metrics *out, pex_pool *pool);

/**
 * The metrics that need no Pexip request: the queue counts and this
 * process's counters; live_conferences and pexip_pool_rooms are 0. For a
 * scrape endpoint that must answer while Pexip is down (take the Pexip
 * gauges from a pex_metrics_get() made on a timer).
 */
PEX_EXTERN int pex_metrics_get_local(pex_metrics *out, pex_pool *pool);

typedef enum pex_metrics_format {
	PEX_METRICS_PROMETHEUS = 0,
	PEX_METRICS_JSON = 1
} pex_metrics_format;

/** Format metrics as Prometheus text exposition or a JSON object. */
PEX_EXTERN int pex_metrics_format_write(pex_buf *out, const pex_metrics *m,
	pex_metrics_format format);

/**
 * Append this process's metrics to @p out as Prometheus text (the buffer is
 * not cleared first: call it after pex_metrics_format_write() to serve one
 * exposition): pexipsdk_build_info, Pexip request counts and durations by
 * method and status class, retries, 429 answers, token requests, queue
 * operation durations, hand-out durations and event-sink payloads. The
 * values are per process (every pool and client in it, since start) and
 * recorded lock-free; see pexip-room-server(8) for the list.
 * @return 0, PEX_EINVAL (no buffer) or PEX_ENOMEM.
 */
PEX_EXTERN int pex_metrics_process_write(pex_buf *out);

PEX_END_DECL

#endif
