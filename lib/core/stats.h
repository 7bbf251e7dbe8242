/*
 * Process-wide metrics: lock-free counters and fixed-bucket duration
 * histograms (atomics in static storage: bounded memory, no allocation
 * when recording), written as Prometheus text by pex_metrics_process_write.
 * Label values come from fixed tables (docs/DECISIONS.md #68). Callers
 * record with one call where a request or operation ends.
 */
#ifndef PEX_CORE_STATS_H
#define PEX_CORE_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#include "pexipsdk/buf.h"

/* ---- the machinery (used by stats.c; unit-tested on its own) ---- */

/* Upper bounds of the duration buckets, in seconds and nanoseconds; the
 * +Inf bucket comes after them. */
#define PEX__STATS_BUCKETS 15

typedef struct pex__histogram {
	atomic_ullong bucket[PEX__STATS_BUCKETS + 1];  /* not cumulative; last is +Inf */
	atomic_ullong sum_ns;
} pex__histogram;

/* Monotonic clock in nanoseconds (the start of a timed operation). */
int64_t pex__stats_clock(void);
/* Count one observation of @p ns nanoseconds (negative counts as 0). */
void pex__histogram_observe(pex__histogram *h, int64_t ns);
/*
 * Append the samples of one histogram series: cumulative name_bucket{...,le}
 * lines ending with +Inf, name_sum and name_count; +Inf always equals
 * _count, even while other threads record. @p labels is the text inside
 * the braces, already escaped ("" for none).
 */
int pex__histogram_write(pex_buf *out, const char *name, const char *labels,
	const pex__histogram *h);
/* Append @p value as a Prometheus label value: \\, \" and \n escaped. */
int pex__stats_label_escape(pex_buf *out, const char *value);

/* ---- recording (one call where the operation ends) ---- */

/*
 * One HTTP request to Pexip ended: @p err < 0 for a transport failure,
 * else @p status. @p token: it was an OAuth2 token request. Counts the
 * request, its duration since @p t0 (pex__stats_clock), a 429 and a token
 * fetch by outcome.
 */
void pex__stats_pexip_request(const char *method, int token, long status, int err, int64_t t0);
/* A Pexip request is about to be retried (after a backoff). */
void pex__stats_pexip_retry(void);
/* A queue operation ("put", "receive", ...) ended with @p err (a backend's
 * own return: anything but 0 is an error). */
void pex__stats_queue_op(const char *op, int err, int64_t t0);
/* pex_pool_pop ended with @p err (PEX_EEMPTY: the pool was empty). */
void pex__stats_pop(int err, int64_t t0);
/* pex_pool_handle_event ended with @p err (PEX_EPARSE/PEX_EINVAL: refused payload). */
void pex__stats_event_payload(int err);

/* Zero everything (tests). */
void pex__stats_reset(void);

#endif
