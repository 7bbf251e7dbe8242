/* Hand-out: taking one room off the pool queue (written once, in
 * take_one()), tagging it, the pop, and the rooms held ahead of pops
 * (pex_pool_prefetch). */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "core/stats.h"
#include "pool/pool_internal.h"
#include "pexip/client_internal.h"

/* ---- pop ---- */

void pex_pool_room_free(pex_pool_room *r)
{
	if (!r)
		return;
	free(r->name);
	free(r->alias);
	free(r->guest_pin);
	free(r->tag);
	free(r);
}

/* The tag for a pop: from a UUI, or a given URL checked by the same rules
 * as an absolute URL in a UUI (pex_tag_from_url). */
static int pop_tag(pex_buf *tag, pex_pool *p, const char *uui, const char *tag_url)
{
	if (uui && tag_url)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "give a UUI or a tag URL, not both");
	if (uui)
		return pex_uui_to_tag(tag, uui, &p->o.tag);
	if (tag_url)
		return pex_tag_from_url(tag, &p->o.tag, tag_url);
	pex__buf_clear(tag);
	return pex__buf_puts(tag, "");
}

static char *dup_or_empty(const char *s)
{
	return pex__strdup(s ? s : "");
}

/* A handed-out room record; NULL when out of memory. */
static pex_pool_room *room_out(long long id, const char *name, const char *alias,
	const char *guest_pin, const char *tag)
{
	pex_pool_room *r = pex__calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->id = id;
	r->name = pex__strdup(name);
	r->alias = dup_or_empty(alias);
	r->guest_pin = dup_or_empty(guest_pin);
	r->tag = dup_or_empty(tag);
	if (!r->name || !r->alias || !r->guest_pin || !r->tag) {
		pex_pool_room_free(r);
		return NULL;
	}
	return r;
}

static int is_stale(const pex_pool *p, const struct pex__room_ref *ref)
{
	return pex__lifecycle_is_stale(p->o.orphan_max_age_s, ref->created, (long long)pex__unix_time());
}

/* ---- held rooms (pex_pool_prefetch) ---- */

/* Put @p ref back on the pool queue as a new message, invisible for @p delay_s. */
static int put_back(pex_pool *p, const struct pex__room_ref *ref, unsigned delay_s)
{
	pex_buf msg = PEX_BUF_INIT;
	int err = pex__poolmsg_encode(&msg, ref);
	if (err == 0)
		err = pex_queue_put(p->pool_q, msg.ptr, msg.size, delay_s);
	pex_buf_dispose(&msg);
	return err;
}

/* Take the held room that was taken first, if any. 1 = taken into *h. */
static int take_held(pex_pool *p, struct pex__held_room *h)
{
	int got = 0;
	pthread_mutex_lock(&p->held_lock);
	if (p->nheld > 0) {
		*h = p->held[0];
		memmove(&p->held[0], &p->held[1], (p->nheld - 1) * sizeof(p->held[0]));
		p->nheld--;
		got = 1;
	}
	pthread_mutex_unlock(&p->held_lock);
	return got;
}

void pex__pool_release_held(pex_pool *p, size_t keep, long long older_than)
{
	struct pex__held_room out[PEX_POOL_PREFETCH_MAX];
	size_t nout = 0, i, kept = 0;

	pthread_mutex_lock(&p->held_lock);
	for (i = 0; i < p->nheld; i++) {
		if (kept < keep && p->held[i].held_at >= older_than)
			p->held[kept++] = p->held[i];
		else
			out[nout++] = p->held[i];
	}
	p->nheld = kept;
	p->moving += nout;              /* still the pool's until put back */
	pthread_mutex_unlock(&p->held_lock);
	for (i = 0; i < nout; i++) {
		if (put_back(p, &out[i].ref, 0) < 0)
			pex__log(p->log, PEX_LOG_WARN, "held pool room %s could not be put back on the "
				"queue (%s); the orphan sweep will remove it", out[i].ref.name,
				pex_error_last()->message);
		pex__room_ref_dispose(&out[i].ref);
		/* not between a depth reading's count of the queue and of held[]
		 * (pex__pool_depth) */
		pthread_mutex_lock(&p->depth_lock);
		pthread_mutex_lock(&p->held_lock);
		p->moving--;
		pthread_mutex_unlock(&p->held_lock);
		pthread_mutex_unlock(&p->depth_lock);
	}
}

size_t pex__pool_nheld(pex_pool *p)
{
	size_t n;
	pthread_mutex_lock(&p->held_lock);
	n = p->nheld;
	pthread_mutex_unlock(&p->held_lock);
	return n;
}

/*
 * The queue is counted first, then held[] and the rooms moving, with no
 * room finishing a move back to the queue in between (depth_lock), so a
 * room moving either way is counted at least once:
 *  - queue to held[] (hold_one): `moving` counts it from before its message
 *    is deleted until it is in held[] (one step under held_lock); a queue
 *    count that missed it was taken after the delete, so it is in `moving`
 *    or held[] when they are read.
 *  - held[] to queue (pex__pool_release_held): it leaves held[] into
 *    `moving` in one step and leaves `moving` only after its message was
 *    put, under depth_lock; a queue count that missed it was taken before
 *    the put, so it is still in `moving` when that is read.
 * A moving room whose message is on the queue is counted twice: the figure
 * may be high by the rooms moving, never low. Holding held_lock over the
 * queue count instead would make a hand-out of a held room (a pop) wait
 * for a queue request; depth_lock is taken by readers and by the end of a
 * move back only.
 */
int pex__pool_depth(size_t *out, pex_pool *p)
{
	size_t n = 0;
	int err;

	pthread_mutex_lock(&p->depth_lock);
	err = pex_queue_count(&n, p->pool_q);
	if (err < 0)
		n = 0;
	pthread_mutex_lock(&p->held_lock);
	n += p->nheld + p->moving;
	pthread_mutex_unlock(&p->held_lock);
	pthread_mutex_unlock(&p->depth_lock);
	*out = n;
	return err < 0 ? err : 0;
}

int pex_pool_held(size_t *out, pex_pool *p)
{
	if (!out || !p)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pex_pool_held: no output or pool");
	*out = pex__pool_nheld(p);
	return 0;
}

int pex__pool_held_names(pex_pool *p, json_object *set)
{
	size_t i;
	int err = 0;
	pthread_mutex_lock(&p->held_lock);
	for (i = 0; i < p->nheld && err == 0; i++)
		if (json_object_object_add(set, p->held[i].ref.name, NULL) != 0)
			err = pex__error_nomem();
	pthread_mutex_unlock(&p->held_lock);
	return err;
}

/* Lease the next usable pool message into *msg and decode it into *ref:
 * unreadable messages are dropped and stale rooms recycled on the way. 0 =
 * both filled (the caller owns them), PEX_EEMPTY = none left, < 0 = error. */
static int lease_next(pex_pool *p, pex_message **msg, struct pex__room_ref *ref)
{
	for (;;) {
		int err;

		memset(ref, 0, sizeof(*ref));
		*msg = NULL;
		if ((err = pex_queue_receive(msg, p->pool_q, p->o.lease_s)) < 0)
			return err;
		if (pex__poolmsg_decode(ref, (*msg)->data, (*msg)->len) < 0) {
			pex__log(p->log, PEX_LOG_WARN, "dropping an unreadable pool message %s: %s",
				(*msg)->id, pex_error_last()->message);
			pex_queue_delete(p->pool_q, *msg);
			pex_message_free(*msg);
			continue;
		}
		if (is_stale(p, ref)) {
			/* Too old to hand out (see PEX__POOL_STALE_MARGIN_S): recycle it. */
			pex__log(p->log, PEX_LOG_INFO, "recycling stale pool room %s", ref->name);
			if (pex_gc_schedule_delete(p, ref->name, 0) == 0)
				pex_queue_delete(p->pool_q, *msg);
			pex__room_ref_dispose(ref);
			pex_message_free(*msg);
			continue;
		}
		return 0;
	}
}

/* Seconds until a room created at @p created may be handed out (see
 * pex__lifecycle_not_ready_for()). */
static long long not_ready_for(const pex_pool *p, long long created)
{
	return pex__lifecycle_not_ready_for(p->o.ready_after_s, created, (long long)pex__unix_time());
}

/*
 * The pool's maturing rooms, asked of Pexip: pool-prefixed rooms younger
 * than ready_after_s (to the second; a room is handed out up to a second
 * later, see not_ready_for()). Rooms filled by another
 * process are invisible on the queue until they are ready, so only Pexip
 * knows. *count (may be NULL) gets how many, *next_in (may be NULL) the
 * seconds until the oldest is ready (at least 1). 0, or -1 when Pexip
 * cannot say (the thread's error is then Pexip's: callers that report
 * something else set their own afterwards).
 */
int pex__pool_created_since(pex_pool *p, pex_client *c, const char *marker, long long since,
	long long *count, long long *oldest, long long *newest)
{
	pex_buf path = PEX_BUF_INIT, body = PEX_BUF_INIT;
	json_object *doc = NULL, *objs, *ct, *meta, *tc;
	time_t when_t = (time_t)since;
	char when[32];
	struct tm tm;
	int status = 0, ok = 0;

	if (count)
		*count = 0;
	if (oldest)
		*oldest = -1;
	if (newest)
		*newest = -1;
	gmtime_r(&when_t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	if (pex__buf_puts(&path, PEX__API_CONF "?name__startswith=") == 0 &&
	    pex__url_encode(&path, p->name_prefix, strlen(p->name_prefix)) == 0 &&
	    pex__url_encode(&path, marker, strlen(marker)) == 0 &&
	    pex__buf_printf(&path, "&creation_time__gte=%s&order_by=%screation_time&limit=1", when,
			newest ? "-" : "") == 0 &&
	    pex_client_request(&body, &status, c, "GET", path.ptr, NULL) == 0 && status == 200 &&
	    (doc = json_tokener_parse(body.ptr ? body.ptr : "")) != NULL &&
	    json_object_object_get_ex(doc, "objects", &objs) && json_object_is_type(objs, json_type_array)) {
		ok = 1;
		if (count && json_object_object_get_ex(doc, "meta", &meta) &&
		    json_object_object_get_ex(meta, "total_count", &tc))
			*count = json_object_get_int64(tc);
		if ((oldest || newest) && json_object_array_length(objs) > 0 &&
		    json_object_object_get_ex(json_object_array_get_idx(objs, 0), "creation_time", &ct))
			*(newest ? newest : oldest) = pex__pexip_time(json_object_get_string(ct));
	} else if (status != 0 && status != 200) {
		pex_error_set(PEX_EHTTP, PEX_ERROR_CLASS_HTTP, "listing recent pool rooms: HTTP %d", status);
	}
	json_object_put(doc);
	pex_buf_dispose(&path);
	pex_buf_dispose(&body);
	return ok ? 0 : -1;
}

int pex__pool_maturing(pex_pool *p, pex_client *c, long long *count, long long *next_in)
{
	long long created = -1;

	if (count)
		*count = 0;
	if (next_in)
		*next_in = -1;
	if (p->o.ready_after_s == 0)
		return 0;
	/* whole seconds: +-1 s */
	if (pex__pool_created_since(p, c, "", pex__unix_time() - p->o.ready_after_s, count,
			next_in ? &created : NULL, NULL) < 0)
		return -1;
	if (next_in && created > 0) {
		*next_in = not_ready_for(p, created);
		if (*next_in < 1)
			*next_in = 1;
	}
	return 0;
}

int pex_pool_maturing(long long *count, long long *next_s, pex_pool *p)
{
	if (!p)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pex_pool_maturing: no pool");
	if (pex__pool_maturing(p, p->fg, count, next_s) < 0)
		return pex_error_last()->code < 0 ? pex_error_last()->code : PEX_ERROR;
	return 0;
}

/*
 * Take one room off the pool queue: lease a message, decode it (dropping
 * unreadable messages and recycling stale rooms), resolve a bare name,
 * delete the message. Once the message is deleted the room is the caller's
 * alone: no other pop, here or in another process, can receive it, however
 * long the caller then takes (docs/DECISIONS.md #10). A crash after this
 * leaves the room to the orphan sweep. Both the plain pop and the held-room
 * path take their rooms here.
 * 1 = taken into *ref (the caller disposes it), 0 = the queue is empty,
 * < 0 = error (nothing taken).
 */
static int take_one(pex_pool *p, pex_client *c, struct pex__room_ref *ref)
{
	for (;;) {
		pex_message *msg = NULL;
		pex_room *room = NULL;
		long long created, wait;
		int err;

		err = lease_next(p, &msg, ref);
		if (err == PEX_EEMPTY)
			return 0;
		if (err < 0)
			return err;
		created = ref->created;
		if (ref->id <= 0 || !ref->guest_pin) {
			/* a bare name (old queues): ask Pexip once, now */
			err = pex_room_get_by_name(&room, c, ref->name);
			if (err == PEX_ENOTFOUND) {
				pex__log(p->log, PEX_LOG_WARN, "pool room %s is gone from Pexip; dropped", ref->name);
				pex_queue_delete(p->pool_q, msg);
				pex__room_ref_dispose(ref);
				pex_message_free(msg);
				continue;
			}
			if (err == 0) {
				char *alias = pex__strdup(pex_room_alias_count(room) ? pex_room_alias(room, 0) : "");
				char *gpin = pex__strdup(pex_room_guest_pin(room) ? pex_room_guest_pin(room) : "");
				ref->id = pex_room_id(room);
				if (created <= 0)
					created = pex__pexip_time(pex_room_creation_time(room));
				free(ref->alias);
				free(ref->guest_pin);
				ref->alias = alias;
				ref->guest_pin = gpin;
				if (!alias || !gpin)
					err = pex__error_nomem();
			}
			pex_room_free(room);
			if (err < 0) {
				pex_queue_release(p->pool_q, msg, 0);
				pex__room_ref_dispose(ref);
				pex_message_free(msg);
				return err;
			}
		}
		if ((wait = not_ready_for(p, created)) > 0) {
			/* Pexip's nodes may not know it yet: back until it is ready */
			pex__log(p->log, PEX_LOG_DEBUG, "pool room %s is ready in %lld s; not taken yet",
				ref->name, wait);
			pex_queue_release(p->pool_q, msg, (unsigned)wait);
			pex__room_ref_dispose(ref);
			pex_message_free(msg);
			continue;
		}
		/* Off the queue for good: only the holder of a live lease can
		 * delete the message, so exactly one taker gets the room. */
		err = pex_queue_delete(p->pool_q, msg);
		pex_message_free(msg);
		if (err == PEX_ELEASELOST) {
			pex__log(p->log, PEX_LOG_WARN, "lease on pool room %s ran out; not taking it", ref->name);
			pex__room_ref_dispose(ref);
			continue;
		}
		if (err < 0) {
			pex__room_ref_dispose(ref);
			return err;
		}
		return 1;
	}
}

/* Shrinking (docs/DECISIONS.md #64): take the first room off the queue
 * (the oldest visible one; a held room is not on the queue, so never one
 * another process holds) and delete it on Pexip, or schedule its deletion
 * when that fails. Counted again once the room is off the queue: when
 * another process removed one meanwhile and the pool is now below
 * @p target, the room goes back. 1 = one room removed, 0 = none (none
 * visible, or put back), < 0 = error. */
int pex__pool_remove_one(pex_pool *p, unsigned target)
{
	struct pex__room_ref ref;
	size_t n = 0;
	int err;

	memset(&ref, 0, sizeof(ref));
	if ((err = take_one(p, p->bg, &ref)) <= 0)
		return err;
	/* counted so that a room moving to or from the held set is missed
	 * rather than counted twice (not pex__pool_depth): in doubt the room
	 * goes back, so shrinking never takes the pool below its target */
	if (pex_queue_count(&n, p->pool_q) < 0 ||
	    n + pex__pool_nheld(p) + atomic_load(&p->creating) < target) {
		err = put_back(p, &ref, 0);
		pex__room_ref_dispose(&ref);
		return err < 0 ? err : 0;
	}
	err = pex_room_delete(NULL, p->bg, ref.id);
	if (err < 0 && err != PEX_ENOTFOUND) {
		pex__log(p->log, PEX_LOG_WARN, "shrinking: deleting pool room %s: %s; scheduled for GC",
			ref.name, pex_error_last()->message);
		if ((err = pex_gc_schedule_delete(p, ref.name, 0)) < 0)
			put_back(p, &ref, 0);
	}
	if (err >= 0) {
		pex__log(p->log, PEX_LOG_INFO, "shrinking: removed pool room %s (above the target depth)", ref.name);
		atomic_fetch_add(&p->shrunk, 1);
	}
	pex__room_ref_dispose(&ref);
	return err < 0 ? err : 1;
}

/* Take one room off the queue into the held set. 1 = one more held,
 * 0 = the queue is empty, < 0 = error. */
static int hold_one(pex_pool *p)
{
	struct pex__held_room h;
	int err;

	memset(&h, 0, sizeof(h));
	/* counted as moving before take_one deletes its message (pex__pool_depth) */
	pthread_mutex_lock(&p->held_lock);
	p->moving++;
	pthread_mutex_unlock(&p->held_lock);
	err = take_one(p, p->bg, &h.ref);
	h.held_at = pex__unix_time();
	pthread_mutex_lock(&p->held_lock);
	p->moving--;
	if (err > 0 && p->nheld < PEX_POOL_PREFETCH_MAX) {
		p->held[p->nheld++] = h;
		h.ref.name = NULL;
	}
	pthread_mutex_unlock(&p->held_lock);
	if (err <= 0)
		return err;
	if (h.ref.name) {          /* cannot happen: one prefetcher at a time */
		put_back(p, &h.ref, 0);
		pex__room_ref_dispose(&h.ref);
	}
	return 1;
}

/* 1 if a held room was taken before @p cutoff (Unix seconds); held_lock held. */
static int held_past(const pex_pool *p, long long cutoff)
{
	size_t i;
	for (i = 0; i < p->nheld; i++)
		if (p->held[i].held_at < cutoff)
			return 1;
	return 0;
}

/*
 * Put back the held rooms beyond @p n and those past the hold limit, then
 * hold rooms until @p n are held. With @p n < 0 (the maintenance tick),
 * only when a room is past the hold limit, and as many as are held: the
 * rooms put back are replaced, no more. Returns the rooms held or an error.
 */
static int hold_rooms(pex_pool *p, long n)
{
	long long cutoff = pex__lifecycle_held_before(atomic_load(&p->hold_max_s), (long long)pex__unix_time());
	int err = 0;
	size_t have;

	pthread_mutex_lock(&p->held_lock);
	if (p->prefetching || (n < 0 && !held_past(p, cutoff))) {
		have = p->nheld;
		pthread_mutex_unlock(&p->held_lock);
		return (int)have;
	}
	if (n < 0)
		n = (long)p->nheld;
	p->prefetching = 1;
	pthread_mutex_unlock(&p->held_lock);

	/* beyond n, or held too long: back to the queue */
	pex__pool_release_held(p, (size_t)n, cutoff);
	while (pex__pool_nheld(p) < (size_t)n) {
		if ((err = hold_one(p)) <= 0)
			break;
	}
	pthread_mutex_lock(&p->held_lock);
	p->prefetching = 0;
	have = p->nheld;
	pthread_mutex_unlock(&p->held_lock);
	return err < 0 ? err : (int)have;
}

int pex__pool_rotate_held(pex_pool *p)
{
	int err = hold_rooms(p, -1);
	return err < 0 ? err : 0;
}

int pex_pool_prefetch(size_t *held, pex_pool *p, unsigned n)
{
	int err;
	if (held)
		*held = 0;
	if (!p)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pex_pool_prefetch: no pool");
	if (n > PEX_POOL_PREFETCH_MAX)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pex_pool_prefetch: at most %d rooms can be held (asked for %u)", PEX_POOL_PREFETCH_MAX, n);
	err = hold_rooms(p, (long)n);
	if (held)
		*held = pex__pool_nheld(p);
	return err < 0 ? err : 0;
}

/*
 * Tag @p ref, a room taken off the queue (take_one() or a held room, so
 * ours alone), and hand it out into *out. Disposes @p ref in every case.
 * 1 = handed out; 0 = Pexip no longer has it (dropped, logged); < 0 = the
 * PATCH failed: the room goes back on the queue as a new message, visible
 * at once when Pexip answered and refused every send, else only after
 * PEX__POOL_UNSURE_TAG_DELAY_S, so that a PATCH of ours that may still land
 * cannot overwrite the tag of the room's next taker (docs/DECISIONS.md #10).
 */
static int tag_and_hand_out(pex_pool_room **out, pex_pool *p, struct pex__room_ref *ref,
	const char *tag)
{
	pex_room_patch patch = PEX_ROOM_PATCH_INIT;
	int err, unsure = 0;

	patch.tag = tag;
	err = pex__room_update(p->fg, ref->id, &patch, &unsure);
	if (err == PEX_ENOTFOUND) {
		pex__log(p->log, PEX_LOG_WARN, "pool room %s is gone from Pexip; dropped", ref->name);
		pex__room_ref_dispose(ref);
		return 0;
	}
	if (err < 0) {
		char saved[1024];
		int code = err;
		pex_error_class klass = pex_error_last()->klass;
		unsigned delay = unsure ? PEX__POOL_UNSURE_TAG_DELAY_S : 0;
		snprintf(saved, sizeof(saved), "%s", pex_error_last()->message);
		if (put_back(p, ref, delay) < 0)
			pex__log(p->log, PEX_LOG_WARN, "pool room %s could not be put back on the queue "
				"(%s); the orphan sweep will remove it", ref->name, pex_error_last()->message);
		else if (delay)
			pex__log(p->log, PEX_LOG_WARN, "pool room %s goes back to the pool in %u s (its tag "
				"PATCH may still reach Pexip)", ref->name, delay);
		pex_error_set(code, klass, "tagging pool room %s: %s", ref->name, saved);
		pex__room_ref_dispose(ref);
		return code;
	}
	*out = room_out(ref->id, ref->name, ref->alias, ref->guest_pin, tag);
	if (!*out) {
		/* tagged but not handed out: back to the pool rather than lost */
		put_back(p, ref, 0);
		pex__room_ref_dispose(ref);
		return pex__error_nomem();
	}
	pex__room_ref_dispose(ref);
	return 1;
}

/* Hand out a held room: the PATCH only. 1 = handed out into *out, 0 = no
 * held room (left), < 0 = error (the room went back to the queue). */
static int pop_held(pex_pool_room **out, pex_pool *p, const char *tag)
{
	struct pex__held_room h;

	while (take_held(p, &h)) {
		int err;

		if (is_stale(p, &h.ref)) {
			pex__log(p->log, PEX_LOG_INFO, "recycling stale pool room %s", h.ref.name);
			if (pex_gc_schedule_delete(p, h.ref.name, 0) < 0)
				put_back(p, &h.ref, 0);
			pex__room_ref_dispose(&h.ref);
			continue;
		}
		if ((err = tag_and_hand_out(out, p, &h.ref, tag)) != 0)
			return err;
	}
	return 0;
}

int pex_pool_pop(pex_pool_room **out, pex_pool *p, const char *uui_hex, const char *tag_url)
{
	pex_buf tag = PEX_BUF_INIT;
	int64_t t0 = pex__stats_clock();
	long long deadline;
	int err;

	pex__pool_set_retry_after(0);
	if (!out || !p)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pex_pool_pop: no output or pool");
	*out = NULL;
	deadline = (long long)pex__now_ms() + p->o.wait_ms;
	/* Validate input before touching anything. */
	if ((err = pop_tag(&tag, p, uui_hex, tag_url)) < 0)
		goto out;

	/* the demand: every room asked for, whether the pool has one or not */
	pex__pool_demanded(p, 1);
	/* A room taken off the queue ahead of time comes first. */
	if ((err = pop_held(out, p, tag.ptr)) != 0) {
		if (err > 0) {
			pex__log(p->log, PEX_LOG_DEBUG, "handed out held room %s", (*out)->name);
			atomic_fetch_add(&p->pops, 1);
			err = 0;
		}
		goto out;
	}

	/* Take a room off the queue (ours alone from then on), then tag it. */
	for (;;) {
		struct pex__room_ref ref;

		memset(&ref, 0, sizeof(ref));
		if ((err = take_one(p, p->fg, &ref)) < 0)
			break;
		if (err == 0) {
			long long in = -1, coming = -1, retry;
			pex__pool_coming(p, &coming, &in);
			/* a room on its way within pool.wait_ms: wait for it */
			if (pex__pool_wait_room(p, deadline, in, coming))
				continue;
			retry = pex__pool_retry_in(p, in);
			pex__pool_set_retry_after(retry);
			if (in > 0)
				err = pex_error_set(PEX_EEMPTY, PEX_ERROR_CLASS_QUEUE, "the pool is empty (queue "
					"'%s'): no room is ready yet; the next will be ready in %lld s (new rooms "
					"wait pool.ready_after_s = %u s for Pexip's replication)",
					pex_queue_name(p->pool_q), in, p->o.ready_after_s);
			else
				err = pex_error_set(PEX_EEMPTY, PEX_ERROR_CLASS_QUEUE, "the pool is empty (queue '%s'); "
					"try again in %lld s", pex_queue_name(p->pool_q), retry);
			break;
		}
		if ((err = tag_and_hand_out(out, p, &ref, tag.ptr)) == 0)
			continue;      /* gone from Pexip: the next one */
		if (err > 0) {
			pex__log(p->log, PEX_LOG_DEBUG, "handed out room %s", (*out)->name);
			atomic_fetch_add(&p->pops, 1);
			err = 0;
		}
		break;
	}
out:
	if (err < 0 && err != PEX_EINVAL)
		atomic_fetch_add(&p->pop_failures, 1);
	pex__stats_pop(err, t0);
	pex_buf_dispose(&tag);
	return err;
}
