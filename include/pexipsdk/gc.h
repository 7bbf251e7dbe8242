/**
 * @file pexipsdk/gc.h
 * @brief Deleting pool rooms: the deletion queue and the GC sweeps.
 */
#ifndef PEXIPSDK_GC_H
#define PEXIPSDK_GC_H

#include "common.h"
#include "pool.h"

PEX_BEGIN_DECL

/** Put @p name on the deletion queue, due in @p delay_s seconds. */
PEX_EXTERN int pex_gc_schedule_delete(pex_pool *pool, const char *name, unsigned delay_s);

#define PEX_GC_OPTIONS_VERSION 1
typedef struct pex_gc_options {
	unsigned int version;
	int dry_run;            /**< report what would happen; change nothing */
	unsigned min_age_s;     /**< only messages at least this old (0 = all due) */
	int orphans;            /**< also run the orphan sweep */
	size_t max;             /**< at most this many rooms (0 = no limit) */
} pex_gc_options;
#define PEX_GC_OPTIONS_INIT { PEX_GC_OPTIONS_VERSION, 0, 0, 0, 0 }
PEX_EXTERN int pex_gc_options_init(pex_gc_options *opts, unsigned int version);

/** What a sweep did (the pexctl gc --json fields). */
typedef struct pex_gc_report {
	unsigned int version;      /**< PEX_GC_REPORT_VERSION (pex_gc_report_init()) */
	size_t deleted;
	size_t postponed_live;
	size_t skipped_protected;
	size_t already_gone;
	size_t failed;
	size_t orphans_deleted;
	size_t orphans_found;
	size_t skipped_foreign;    /**< deletion messages naming a room the pool does not own: dropped */
} pex_gc_report;

#define PEX_GC_REPORT_VERSION 1
#define PEX_GC_REPORT_INIT { PEX_GC_REPORT_VERSION, 0, 0, 0, 0, 0, 0, 0, 0 }
/** Zero @p report and set its version. @return 0, or PEX_EINVAL (NULL, or a
 * version this library does not know). */
PEX_EXTERN int pex_gc_report_init(pex_gc_report *report, unsigned int version);

/**
 * Sweep the deletion queue: take due messages; a room that is live again is
 * postponed by gc_delay_s; protected prefixes are never deleted (their
 * messages are dropped), nor are rooms the pool does not own (neither
 * pool.name_prefix nor a gc.owned_prefixes prefix: the message is dropped
 * with a log line, skipped_foreign); others are deleted by name (gone =
 * success). Up to
 * max_concurrency requests at once, as background work (see client.h); the
 * rooms of a batch of due messages are looked up in two requests (name__in),
 * then deleted one request each, with a per-room fallback for servers that
 * refuse the filter. Safe to kill and rerun. With opts->orphans, also
 * delete pool-prefixed rooms that are in no queue, not live and older than
 * orphan_max_age_s. @p report (may be NULL; else initialised by
 * pex_gc_report_init()) receives the counts. @p opts may be NULL (the
 * defaults). @return 0 if nothing failed, else the first error (the report
 * counts everything); PEX_EINVAL for options or a report of an unknown
 * version.
 */
PEX_EXTERN int pex_gc_sweep(pex_gc_report *report, pex_pool *pool, const pex_gc_options *opts,
	pex_pool_progress_cb progress, void *payload);

PEX_END_DECL

#endif
