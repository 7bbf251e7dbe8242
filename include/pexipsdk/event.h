/**
 * @file pexipsdk/event.h
 * @brief The Pexip event sink: conference_ended schedules a pool room's deletion.
 */
#ifndef PEXIPSDK_EVENT_H
#define PEXIPSDK_EVENT_H

#include "common.h"
#include "pool.h"

PEX_BEGIN_DECL

/** The most deletions one event-sink payload schedules; the rest count as capped. */
#define PEX_EVENT_SCHEDULE_MAX 1000

/** What handling one event-sink payload did. events == scheduled + protected_skipped +
 * foreign + ignored + unknown + skipped + capped. */
typedef struct pex_event_report {
	unsigned int version;       /**< PEX_EVENT_REPORT_VERSION (pex_event_report_init()) */
	size_t events;              /**< envelopes seen (bulk counts each inner one) */
	size_t scheduled;           /**< conference_ended rooms put on the deletion queue */
	size_t protected_skipped;   /**< conference_ended for a protected prefix */
	size_t ignored;             /**< known events we do not act on */
	size_t unknown;             /**< events of unknown type (counted, ignored) */
	size_t foreign;             /**< conference_ended for a service the pool does not own
	                                 (name without pool.name_prefix or a gc.owned_prefixes
	                                 prefix, or another service_type): never scheduled */
	size_t skipped;             /**< items that cannot be used (not an object, no string
	                                 "event", a conference_ended without a usable data.name, a
	                                 bulk inside a bulk...): skipped, logged once per payload */
	size_t capped;              /**< conference_ended beyond PEX_EVENT_SCHEDULE_MAX
	                                 deletions in this payload: not scheduled */
} pex_event_report;

#define PEX_EVENT_REPORT_VERSION 1
#define PEX_EVENT_REPORT_INIT { PEX_EVENT_REPORT_VERSION, 0, 0, 0, 0, 0, 0, 0, 0 }
/** Zero @p report and set its version. @return 0, or PEX_EINVAL (NULL, or a
 * version this library does not know). */
PEX_EXTERN int pex_event_report_init(pex_event_report *report, unsigned int version);

/**
 * Handle one event-sink POST body (single event, eventsink_bulk, or a
 * top-level JSON array of envelopes, version 1 or 2). conference_ended
 * puts the room's name on the deletion queue with a delay of gc_delay_s,
 * when the pool owns the room: its name starts with pool.name_prefix or a
 * gc.owned_prefixes prefix and, when the event carries data.service_type,
 * that equals pool.room.service_type (else it counts as foreign: Pexip
 * ends permanent VMRs, receptions and test calls too). Protected prefixes
 * win over everything.
 *
 * Pexip delivers a node's events in order and retries a refused payload,
 * so a payload that is valid JSON is never refused: items that cannot be
 * used (not an object, no string "event", a conference_ended without a
 * usable data.name, a bulk whose data is not an array or that sits inside
 * another bulk) are skipped, counted and logged once per payload; at most
 * PEX_EVENT_SCHEDULE_MAX deletions are scheduled per payload (the rest are
 * capped; the orphan sweep finds those rooms later). Every other event is
 * only counted and its data not checked (partial data is normal):
 * conference_started/updated, participant_* and the sink lifecycle events
 * count as ignored, other names as unknown.
 * @p report (may be NULL; else initialised by pex_event_report_init())
 * receives the counts, also on error.
 * @return 0; PEX_EPARSE when the body is not strict JSON (RFC 8259: also
 *         NaN, Infinity and lone surrogate escapes) or empty; PEX_EINVAL
 *         for a body over 4 MiB or bad arguments (a report of an unknown
 *         version); a queue error when an
 *         enqueue failed (the names before it stay enqueued).
 */
PEX_EXTERN int pex_event_handle(pex_event_report *report, pex_pool *pool, const char *body,
	size_t len);

PEX_END_DECL

#endif
