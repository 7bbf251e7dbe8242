/**
 * @file pexipsdk/pool.h
 * @brief The room pool: hand out ready rooms, replenish, events, GC, metrics.
 *
 * A pex_pool ties a pex_client to two queues: the pool queue (ready rooms,
 * pool.queue) and the deletion queue (rooms due for deletion, gc.queue).
 * It is safe to use from several threads and several processes at once:
 * a room is handed out only after its queue message was leased and then
 * deleted, so no room is ever handed to two callers.
 */
#ifndef PEXIPSDK_POOL_H
#define PEXIPSDK_POOL_H

#include "common.h"
#include "buf.h"
#include "config.h"
#include "client.h"
#include "queue.h"
#include "uui.h"

PEX_BEGIN_DECL

typedef struct pex_pool pex_pool;

#define PEX_POOL_OPTIONS_VERSION 2
#define PEX_POOL_MAX_PROTECTED 16
#define PEX_POOL_MAX_OWNED 16

/** Pool settings (the pool:, tag: and gc: sections of the configuration). */
typedef struct pex_pool_options {
	unsigned int version;
	unsigned depth;                 /**< target pool depth (pool.depth), default 20 */
	const char *name_prefix;        /**< pool.name_prefix, default "vmr_" */
	const char *service_type;       /**< pool.room.service_type, default "conference" */
	int allow_guests;               /**< pool.room.allow_guests, default 1 */
	unsigned pin_digits;            /**< host PIN length, default 6 */
	unsigned guest_pin_digits;      /**< guest PIN length, default 6 */
	const char *alias_domain;       /**< alias = name@alias_domain; NULL: alias = name */
	long long participant_limit;    /**< -1: not set */
	const char *description;        /**< NULL: not set */
	pex_tag_rules tag;              /**< tag.url_template, tag.allowed_hosts */
	unsigned gc_delay_s;            /**< gc.delay_s, default 600 */
	const char *protected_prefixes[PEX_POOL_MAX_PROTECTED]; /**< NULL-terminated; default test_, vkiosk_ */
	unsigned orphan_max_age_s;      /**< gc.orphan_max_age_s, default 86400 */
	unsigned lease_s;               /**< how long a pop may hold a pool message, default 60 */
	/* version 2 */
	/** gc.owned_prefixes: NULL-terminated, default none. Rooms whose names start with
	 * one of these (made by an older system) are the pool's too, besides name_prefix:
	 * events and GC delete only the pool's rooms. Each must be non-empty. */
	const char *owned_prefixes[PEX_POOL_MAX_OWNED];
	/** pool.ready_after_s, default 60, at most 3600; 0 = off. Pexip replicates a new
	 * conference to its Conferencing Nodes about a minute after the create: no room is
	 * handed out before it is this old (docs/DECISIONS.md #49). */
	unsigned ready_after_s;
} pex_pool_options;

#define PEX_POOL_OPTIONS_INIT { PEX_POOL_OPTIONS_VERSION, 20, "vmr_", "conference", 1, 6, 6, \
	NULL, -1, NULL, PEX_TAG_RULES_INIT, 600, { "test_", "vkiosk_", NULL }, 86400, 60, { NULL }, 60 }
PEX_EXTERN int pex_pool_options_init(pex_pool_options *opts, unsigned int version);

/**
 * Create a pool over @p client, @p pool_queue and @p deletion_queue. The
 * pool borrows all three (they must outlive it). Strings in @p opts are
 * copied.
 */
PEX_EXTERN int pex_pool_new(pex_pool **out, pex_client *client, pex_queue *pool_queue,
	pex_queue *deletion_queue, const pex_pool_options *opts);

/**
 * Create a pool, its client and both queues from a configuration. The pool
 * owns what it created. @p log_cb may be NULL.
 */
PEX_EXTERN int pex_pool_new_from_config(pex_pool **out, const pex_config *cfg,
	pex_log_cb log_cb, void *log_payload);

/** Free a pool (and what it owns). NULL-safe. */
PEX_EXTERN void pex_pool_free(pex_pool *pool);

/** The pool's client (borrowed; lives as long as the pool). */
PEX_EXTERN pex_client *pex_pool_client(pex_pool *pool);

/** A room handed out by the pool. Library-allocated; members only appended. */
typedef struct pex_pool_room {
	char *name;
	long long id;
	char *alias;       /**< "" when the room has none */
	char *guest_pin;
	char *tag;         /**< the tag set on Pexip */
} pex_pool_room;

/** Free a handed-out room record. NULL-safe. */
PEX_EXTERN void pex_pool_room_free(pex_pool_room *room);

/**
 * Take a room from the pool and tag it. @p uui_hex is decoded with the pool's
 * tag rules (pex_uui_to_tag) *before* anything is taken, so bad input changes
 * nothing; alternatively give @p tag_url (checked by pex_tag_from_url():
 * an https URL to an allowed host, at most 250 characters; errors name the
 * offset in @p tag_url) and no UUI; both NULL leaves the tag empty.
 *
 * Steps: take a room off the pool queue (lease a message, resolve the room:
 * id from the message, else a lookup by name; delete the message, so the
 * room is this caller's alone however long the rest takes), PATCH its tag,
 * return the room (a room held by pex_pool_prefetch() is taken first: only
 * the PATCH). A room Pexip no longer has is dropped (logged) and the next
 * one tried; a PATCH that fails puts the room back on the queue as a new
 * message, at once when Pexip refused it, else (a timeout, a 502/504: the
 * PATCH may still land) invisible for 300 s.
 * Does not replenish: call pex_pool_replenish() afterwards (in the
 * background) to keep the depth.
 * A room younger than ready_after_s (its message's "created", or Pexip's
 * creation_time for a bare name; a message without either counts as ready)
 * is never handed out: its message is released for the time left. When no
 * room is ready the error says when the next one will be (asked of Pexip).
 * @return 0, PEX_EINVAL (bad UUI/tag; nothing taken), PEX_EEMPTY (no room
 *         ready), or a queue/Pexip error.
 */
PEX_EXTERN int pex_pool_pop(pex_pool_room **out, pex_pool *pool, const char *uui_hex,
	const char *tag_url);

/** The most rooms pex_pool_prefetch() holds. */
#define PEX_POOL_PREFETCH_MAX 16

/**
 * Hold up to @p n rooms ready for pex_pool_pop(), taken off the pool queue
 * ahead of time (lease, resolve, delete the message). A pop then hands out
 * a held room with one Pexip request (the tag PATCH) and no queue
 * operation, so its latency no longer includes the queue's durable commits.
 * Meant for a long-running server, called from a background thread after
 * each hand-out and at least once a minute: rooms held longer than five
 * minutes go back to the queue (and fresh ones are taken), so that a held
 * room never looks like an orphan to another process's orphan sweep.
 *
 * Held rooms are in no queue: pex_pool_free() and pex_pool_drain() put them
 * back, and so does calling this with @p n = 0; a process that dies while
 * holding them leaves them to the orphan sweep (a crash may leave an
 * orphan, never a room handed out twice). A held room whose tag PATCH
 * fails transiently goes back to the queue; one Pexip no longer has is
 * dropped. pex_pool_get_metrics() and pex_pool_fill() count held rooms as
 * part of the pool. One call runs at a time; a concurrent call returns at once.
 * @param n  rooms to hold, at most PEX_POOL_PREFETCH_MAX
 * @return the number of rooms held (fewer than @p n when the queue ran
 *         dry), or a negative error (PEX_EINVAL for n too large; queue or
 *         Pexip errors, with the rooms taken so far still held).
 */
PEX_EXTERN int pex_pool_prefetch(pex_pool *pool, unsigned n);

/** How many rooms the pool holds now (see pex_pool_prefetch()). */
PEX_EXTERN size_t pex_pool_held(pex_pool *pool);

/**
 * The pool's maturing rooms: pool-prefixed rooms on Pexip younger than
 * ready_after_s, which are on the queue (invisible) but not handed out yet.
 * One Pexip request (none when ready_after_s is 0: both outputs 0/-1).
 * @param count    (may be NULL) how many
 * @param next_s   (may be NULL) seconds until the next is ready, -1 if none
 * @return 0, or a Pexip error.
 */
PEX_EXTERN int pex_pool_maturing(pex_pool *pool, long long *count, long long *next_s);

/** Progress callback for long operations: done of total; non-zero aborts (PEX_EUSER). */
typedef int (*pex_pool_progress_cb)(size_t done, size_t total, void *payload);

/**
 * Create @p n new rooms (unique names pool.name_prefix + random, PINs from
 * OpenSSL's RNG, the pool.room template), up to max_concurrency creates in
 * flight, and put each on the pool queue, invisible for ready_after_s (the
 * time Pexip takes to replicate a new room to its Conferencing Nodes). @p created (may be NULL) receives
 * how many were added. @return 0 if all were created, else the first error
 * (rooms created before it stay in the pool).
 */
PEX_EXTERN int pex_pool_replenish(pex_pool *pool, size_t n, size_t *created,
	pex_pool_progress_cb progress, void *payload);

/** Replenish up to @p depth (0 = pool depth) counting the queue's messages. */
PEX_EXTERN int pex_pool_fill(pex_pool *pool, unsigned depth, size_t *created,
	pex_pool_progress_cb progress, void *payload);

/**
 * Empty the pool queue. With @p delete_rooms the rooms are deleted on Pexip
 * too (else they become orphans for the orphan sweep). @p drained may be NULL.
 */
PEX_EXTERN int pex_pool_drain(pex_pool *pool, int delete_rooms, size_t *drained,
	pex_pool_progress_cb progress, void *payload);

/* ---- deletion: events and GC ---- */

/** The most deletions one event-sink payload schedules; the rest count as capped. */
#define PEX_EVENT_SCHEDULE_MAX 1000

/** What handling one event-sink payload did. events == scheduled + protected_skipped +
 * foreign + ignored + unknown + skipped + capped. */
typedef struct pex_event_report {
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
 * @return 0; PEX_EPARSE when the body is not strict JSON (RFC 8259: also
 *         NaN, Infinity and lone surrogate escapes) or empty; PEX_EINVAL
 *         for a body over 4 MiB or bad arguments; a queue error when an
 *         enqueue failed (the names before it stay enqueued).
 */
PEX_EXTERN int pex_pool_handle_event(pex_pool *pool, const char *body, size_t len,
	pex_event_report *report);

/** Put @p name on the deletion queue, due in @p delay_s seconds. */
PEX_EXTERN int pex_pool_schedule_delete(pex_pool *pool, const char *name, unsigned delay_s);

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
	size_t deleted;
	size_t postponed_live;
	size_t skipped_protected;
	size_t already_gone;
	size_t failed;
	size_t orphans_deleted;
	size_t orphans_found;
	size_t skipped_foreign;    /**< deletion messages naming a room the pool does not own: dropped */
} pex_gc_report;

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
 * orphan_max_age_s. @return 0 if nothing failed, else the first error (the
 * report counts everything).
 */
PEX_EXTERN int pex_gc_sweep(pex_pool *pool, const pex_gc_options *opts, pex_gc_report *report,
	pex_pool_progress_cb progress, void *payload);

/* ---- metrics ---- */

typedef struct pex_pool_metrics {
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
} pex_pool_metrics;

/** Gather metrics (queue counts, Pexip counts, this process's counters). */
PEX_EXTERN int pex_pool_get_metrics(pex_pool *pool, pex_pool_metrics *out);

/**
 * The metrics that need no Pexip request: the queue counts and this
 * process's counters; live_conferences and pexip_pool_rooms are 0. For a
 * scrape endpoint that must answer while Pexip is down (take the Pexip
 * gauges from a pex_pool_get_metrics() made on a timer).
 */
PEX_EXTERN int pex_pool_get_local_metrics(pex_pool *pool, pex_pool_metrics *out);

typedef enum pex_metrics_format {
	PEX_METRICS_PROMETHEUS = 0,
	PEX_METRICS_JSON = 1
} pex_metrics_format;

/** Format metrics as Prometheus text exposition or a JSON object. */
PEX_EXTERN int pex_metrics_format_write(pex_buf *out, const pex_pool_metrics *m,
	pex_metrics_format format);

PEX_END_DECL

#endif
