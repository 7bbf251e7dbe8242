/**
 * @file pexipsdk/pool.h
 * @brief The room pool: hand out ready rooms, hold them ahead, replenish.
 *
 * Deletion (events and GC) is in event.h and gc.h, metrics in metrics.h;
 * pexipsdk.h includes them all.
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
	unsigned orphan_max_age_s;      /**< gc.orphan_max_age_s, default 86400; 0 or more than
	                                     ready_after_s + 3900 (see pex_pool_new()) */
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
	/** pool.max_depth, default 0 (= depth: off), at most 100000. Above @c depth the
	 * pool grows with the measured demand up to this many rooms, and shrinks back to
	 * @c depth when the demand is gone (docs/DECISIONS.md #64). */
	unsigned max_depth;
	/** pool.wait_ms, default 2000, at most 60000. A pop that finds no ready room
	 * waits up to this long for one that is on its way (a replacement in flight in
	 * this process, a room about to mature) before it fails with PEX_EEMPTY. */
	unsigned wait_ms;
	/** pool.cooldown_s, default 60, at most 86400. Rooms above the target depth are
	 * removed (pex_pool_resize()) only once the pool has been above it this long and no
	 * process made a replacement for a hand-out within it. */
	unsigned cooldown_s;
} pex_pool_options;

#define PEX_POOL_OPTIONS_INIT { PEX_POOL_OPTIONS_VERSION, 20, "vmr_", "conference", 1, 6, 6, \
	NULL, -1, NULL, PEX_TAG_RULES_INIT, 600, { "test_", "vkiosk_", NULL }, 86400, 60, { NULL }, 60, 0, 2000, 60 }
PEX_EXTERN int pex_pool_options_init(pex_pool_options *opts, unsigned int version);

/**
 * Create a pool over @p client, @p pool_queue and @p deletion_queue. The
 * pool borrows all three (they must outlive it). Strings in @p opts are
 * copied. The pool runs one maintenance thread of its own (it rotates held
 * rooms, see pex_pool_prefetch()), stopped and joined by pex_pool_free().
 * @return 0, or PEX_EINVAL naming the option that is wrong; among them
 *         orphan_max_age_s must be 0 or more than ready_after_s + 3900 s
 *         (a pooled room is recycled 3600 s before that age and a held one
 *         put back within 300 s, so no orphan sweep takes either).
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
 * Write @p room into @p out (replacing what it held) as the JSON object
 * that `pexctl create --json` prints and room-server's create route
 * answers: {"name", "id", "alias", "guest_pin", "tag"}.
 * @return 0, PEX_EINVAL or PEX_ENOMEM.
 */
PEX_EXTERN int pex_pool_room_to_json(pex_buf *out, const pex_pool_room *room);

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
 * When no room is ready but one is on its way (a create of this process
 * while ready_after_s is 0, a maturing room ready within the time), the pop
 * waits for it up to wait_ms (pool.wait_ms) before it fails; the seconds
 * until a retry may succeed are then in pex_pool_retry_after().
 * @return 0, PEX_EINVAL (bad UUI/tag; nothing taken), PEX_EEMPTY (no room
 *         ready), or a queue/Pexip error.
 */
PEX_EXTERN int pex_pool_pop(pex_pool_room **out, pex_pool *pool, const char *uui_hex,
	const char *tag_url);

/**
 * At most @p n pops of @p pool wait for a room on its way (pool.wait_ms) at
 * once; a pop beyond them fails at once with PEX_EEMPTY as if nothing were
 * coming. 0 (the default): no limit but the rooms on their way (a pop never
 * waits for a room another waiting pop will take first). A server whose
 * request threads run pops sets it below their number, so that a burst on
 * an empty pool cannot hold every thread. @return 0 or PEX_EINVAL (no pool).
 */
PEX_EXTERN int pex_pool_set_max_waiting(pex_pool *pool, unsigned n);

/**
 * After a pex_pool_pop() of the calling thread failed with PEX_EEMPTY: the
 * seconds after which a retry may find a room (at least 1), from what the
 * pool knew (the next maturing room, else how long a new room takes to be
 * ready); 0 after any other outcome. For an HTTP Retry-After.
 */
PEX_EXTERN long long pex_pool_retry_after(void);

/** The most rooms pex_pool_prefetch() holds. */
#define PEX_POOL_PREFETCH_MAX 16

/**
 * Hold up to @p n rooms ready for pex_pool_pop(), taken off the pool queue
 * ahead of time (lease, resolve, delete the message). A pop then hands out
 * a held room with one Pexip request (the tag PATCH) and no queue
 * operation, so its latency no longer includes the queue's durable commits.
 * Meant for a long-running server, called from a background thread after
 * each hand-out. The pool's maintenance thread (see pex_pool_new()) puts
 * rooms held longer than five minutes back on the queue and holds fresh ones
 * instead, with no call from the caller, so that a held room never looks
 * like an orphan to another process's orphan sweep.
 *
 * Held rooms are in no queue: pex_pool_free() and pex_pool_drain() put them
 * back, and so does calling this with @p n = 0; a process that dies while
 * holding them leaves them to the orphan sweep (a crash may leave an
 * orphan, never a room handed out twice). A held room whose tag PATCH
 * fails transiently goes back to the queue; one Pexip no longer has is
 * dropped. pex_metrics_get() and pex_pool_fill() count held rooms as
 * part of the pool. One call runs at a time; a concurrent call returns at once.
 * @param held  (may be NULL) receives the number of rooms held (fewer than
 *              @p n when the queue ran dry), also on error
 * @param n     rooms to hold, at most PEX_POOL_PREFETCH_MAX
 * @return 0, or a negative error (PEX_EINVAL for n too large; queue or
 *         Pexip errors, with the rooms taken so far still held).
 */
PEX_EXTERN int pex_pool_prefetch(size_t *held, pex_pool *pool, unsigned n);

/** How many rooms the pool holds now (see pex_pool_prefetch()), into *@p out.
 * @return 0, or PEX_EINVAL (no output or pool). */
PEX_EXTERN int pex_pool_held(size_t *out, pex_pool *pool);

/**
 * The pool's maturing rooms: pool-prefixed rooms on Pexip younger than
 * ready_after_s, which are on the queue (invisible) but not handed out yet.
 * One Pexip request (none when ready_after_s is 0: both outputs 0/-1).
 * @param count    (may be NULL) how many
 * @param next_s   (may be NULL) seconds until the next is ready, -1 if none
 * @return 0, or a Pexip error.
 */
PEX_EXTERN int pex_pool_maturing(long long *count, long long *next_s, pex_pool *pool);

/** Progress callback for long operations: done of total; non-zero aborts (PEX_EUSER). */
typedef int (*pex_pool_progress_cb)(size_t done, size_t total, void *payload);

/**
 * Create @p n new rooms (unique names pool.name_prefix + random, PINs from
 * OpenSSL's RNG, the pool.room template), up to max_concurrency creates in
 * flight, and put each on the pool queue, invisible for ready_after_s (the
 * time Pexip takes to replicate a new room to its Conferencing Nodes).
 * @p created (may be NULL) receives how many were added. @return 0 if all
 * were created, else the first error (rooms created before it stay in the
 * pool).
 */
PEX_EXTERN int pex_pool_replenish(size_t *created, pex_pool *pool, size_t n,
	pex_pool_progress_cb progress, void *payload);

/**
 * One step of the self-sizing pool (docs/DECISIONS.md #64, #72); call it
 * every second or so from one thread (the room server does). Background
 * work. With pool.max_depth above pool.depth, it grows the pool to the
 * target depth: the demand of now (this process's pops per second, served
 * or not, averaged over a room's lead time and at most about 5 s, or the
 * whole deployment's, counted on Pexip from the replacement rooms every
 * process made in the last 10 s, whichever is more) times the time a new
 * room takes to be ready times 1.5, from pool.depth to pool.max_depth. It
 * keeps the rooms the demand of the last minute needs (60 s on Pexip, a
 * 30 s average here); once the pool has been above that for cooldown_s
 * (pool.cooldown_s) with no replacement made by any process within it, and
 * no pop here, it removes one room per
 * 200 ms since the last removal (at most 10 per call; the first: one), each
 * the first on the queue, deleted on Pexip (or scheduled for GC);
 * never a held room, never below the target (so never below pool.depth).
 * One Pexip request for the deployment's demand with pool.max_depth, one
 * more when the pool is above its target.
 * @param created (may be NULL) rooms created; @param removed (may be NULL)
 *        rooms removed.
 */
PEX_EXTERN int pex_pool_resize(size_t *created, size_t *removed, pex_pool *pool);

/** Replenish up to @p depth (0 = the target depth: pool.depth, more with
 * pool.max_depth) counting the queue's messages, the held rooms and this
 * process's creates in flight. @p created (may be NULL) receives how many
 * were added. */
PEX_EXTERN int pex_pool_fill(size_t *created, pex_pool *pool, unsigned depth,
	pex_pool_progress_cb progress, void *payload);

/**
 * Empty the pool queue. With @p delete_rooms the rooms are deleted on Pexip
 * too (else they become orphans for the orphan sweep). @p drained (may be
 * NULL) receives how many messages were removed.
 */
PEX_EXTERN int pex_pool_drain(size_t *drained, pex_pool *pool, int delete_rooms,
	pex_pool_progress_cb progress, void *payload);

PEX_END_DECL

#endif
