/*
 * GC: the orphan sweep (see gc.c for the deletion-queue sweep).
 *
 * ORPHAN SWEEP (opts->orphans), after the queue sweep: a room is an
 * orphan when its name starts with pool.name_prefix (only that prefix is
 * listed; gc.owned_prefixes rooms are left to their deletion messages) and
 * the pool owns it (pex__pool_owns()), its creation_time is
 * older than orphan_max_age_s (an empty or unparsable creation_time makes
 * it no candidate), it is not on the pool queue, not protected and not
 * live. Rooms are listed first; the pool queue is read only when there is
 * a candidate (see collect_pool_names(): exact up to 32 visible messages,
 * best effort beyond, harmless when it misses one). Rooms
 * also waiting on the deletion queue may be deleted here (they are old and
 * not live, so GC would delete them anyway); their message later reports
 * already_gone. opts->max is one budget for both sweeps.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "pexip/client_internal.h"
#include "pool/pool_internal.h"
#include "pool/events_gc.h"
#include "pool/gc_internal.h"

/* Add the room name of pool message @p msg to @p set (unreadable ones are skipped). */
static int add_pool_name(json_object *set, const pex_message *msg)
{
	struct pex__room_ref ref;

	memset(&ref, 0, sizeof(ref));
	if (pex__poolmsg_decode(&ref, msg->data, msg->len) < 0)
		return 0;      /* pop drops it; the room, if any, is an orphan */
	if (json_object_object_add(set, ref.name, NULL) != 0) {
		pex__room_ref_dispose(&ref);
		return pex__error_nomem();
	}
	pex__room_ref_dispose(&ref);
	return 0;
}

/*
 * Collect the room names on the pool queue into @p set (best effort).
 *
 * Up to 32 visible messages: one peek sees them all. A deeper pool is read
 * by leasing batches of 32 for PEX__GC_POOL_SCAN_LEASE_S and releasing each
 * batch at once (delay 0). That briefly hides up to 32 pool rooms from
 * poppers (accepted for pools deeper than 32) and raises their dequeue
 * counts. A queue has no cursor, and no backend promises that a released
 * message goes behind the others (the memory and SQLite backends order by
 * visible time, so a release within the same millisecond or second may
 * come straight back; Azure's order is approximate), so the scan stops when
 * it has seen as many message ids as pex_queue_count() reported, after 3
 * batches in a row bring no new id, or after count/32 + 8 batches, and may
 * miss some messages.
 *
 * Missing one is harmless: only OLD rooms are candidates, and pop never
 * hands out a pool room older than orphan_max_age_s -
 * PEX__POOL_STALE_MARGIN_S (it recycles it), and drops a room Pexip no
 * longer has. The same rule protects rooms whose messages are leased by
 * in-flight pops (invisible here). Holding every lease until the scan ends
 * would make it exact but would empty the pool for poppers meanwhile.
 *
 * In a dry run nothing is leased: with more than 32 visible pool messages
 * only the first 32 are known, so old pool rooms beyond them may be
 * reported as orphans (logged).
 */
static int collect_pool_names(gc_ctx *c, json_object *set)
{
	pex_pool *p = c->p;
	pex_message **msgs = NULL;
	json_object *ids = NULL;
	size_t n = 0, i, count = 0, seen = 0, batches = 0, max_batches;
	int err, dry_batches = 0;

	/* rooms this process took off the queue ahead of pops are pool rooms */
	if ((err = pex__pool_held_names(p, set)) < 0)
		return err;
	if ((err = pex_queue_peek(&msgs, &n, p->pool_q, PEX__GC_RECEIVE)) < 0)
		return err;
	for (i = 0; i < n && err == 0; i++)
		err = add_pool_name(set, msgs[i]);
	pex_message_array_free(msgs, n);
	if (err < 0 || n < PEX__GC_RECEIVE)
		return err;
	if (c->dry) {
		pex__log(p->log, PEX_LOG_INFO, "gc (dry run): the pool queue is deeper than %d; old pool "
			"rooms beyond the first %d may be counted as orphans", PEX__GC_RECEIVE, PEX__GC_RECEIVE);
		return 0;
	}

	if ((err = pex_queue_count(&count, p->pool_q)) < 0)
		return err;
	max_batches = count / PEX__GC_RECEIVE + 8;
	if (!(ids = json_object_new_object()))
		return pex__error_nomem();
	while (seen < count && batches++ < max_batches && dry_batches < 3) {
		size_t fresh = 0;
		if ((err = pex_queue_receive_batch(&msgs, &n, p->pool_q, PEX__GC_RECEIVE,
				PEX__GC_POOL_SCAN_LEASE_S)) < 0)
			break;
		if (n == 0)
			break;
		for (i = 0; i < n; i++) {
			if (err == 0 && !json_object_object_get_ex(ids, msgs[i]->id, NULL)) {
				fresh++;
				if (json_object_object_add(ids, msgs[i]->id, NULL) != 0)
					err = pex__error_nomem();
				else
					err = add_pool_name(set, msgs[i]);
			}
			/* give it back at once, whatever happened */
			if (pex_queue_release(p->pool_q, msgs[i], 0) < 0)
				pex__log(p->log, PEX_LOG_DEBUG, "gc: releasing pool message %s: %s",
					msgs[i]->id, pex_error_last()->message);
		}
		pex_message_array_free(msgs, n);
		if (err < 0)
			break;
		seen += fresh;
		dry_batches = fresh ? 0 : dry_batches + 1;
	}
	json_object_put(ids);
	pex__log(p->log, PEX_LOG_DEBUG, "gc: read %zu pool message(s) of about %zu", seen, count);
	return err;
}

/* A Pexip call about orphan candidate @p safe failed: record it (what
 * was being done, in @p doing with one %s for the name) and go on. */
static int orphan_failed(gc_ctx *c, int err, const char *doing, const char *safe)
{
	char what[160];
	snprintf(what, sizeof(what), doing, safe);
	pex__gc_failed(c, NULL, err, what);
	return 0;
}

/* Check and delete orphan candidate @p i (a pex__pool_parallel worker). */
static int orphan_one(pex_pool *p, size_t i, void *arg)
{
	gc_ctx *c = arg;
	const char *name = c->names[i];
	char safe[96];
	int live = 0, deleted = 0, err;
	size_t slot;

	if (atomic_load(&c->aborted) || atomic_load(&c->outage))
		return 0;
	/* take a slot of the max budget; given back if the room turns out live */
	slot = atomic_fetch_add(&c->claimed, 1);
	if (c->o->max && slot >= c->o->max) {
		atomic_fetch_sub(&c->claimed, 1);
		return 0;
	}
	pex__pool_safe_text(safe, sizeof(safe), name, strlen(name));
	if ((err = pex_room_is_live(&live, p->bg, name)) < 0)
		return orphan_failed(c, err, "checking whether orphan candidate %s is live", safe);
	if (live) {
		atomic_fetch_sub(&c->claimed, 1);
		return 0;
	}
	atomic_fetch_add(&c->orphans_found, 1);
	if (c->dry) {
		pex__log(p->log, PEX_LOG_DEBUG, "gc: orphan %s would be deleted (dry run)", safe);
		pex__gc_tick(c);
		return 0;
	}
	if ((err = pex_room_delete_by_name(&deleted, p->bg, name)) < 0)
		return orphan_failed(c, err, "deleting orphan room %s", safe);
	if (deleted) {
		atomic_fetch_add(&c->orphans_deleted, 1);
		atomic_fetch_add(&p->deleted, 1);
	}
	pex__log(p->log, PEX_LOG_DEBUG, "gc: orphan %s %s", safe, deleted ? "deleted" : "already gone");
	pex__gc_tick(c);
	return 0;
}

/* The orphan sweep: list candidates (no deletes while paging), drop those
 * on the pool queue, then check and delete the rest. The pool queue is read
 * only when there is a candidate: a healthy pool has no old rooms, so the
 * usual sweep never leases pool messages. */
void pex__gc_sweep_orphans(gc_ctx *c)
{
	pex_pool *p = c->p;
	pex_room_filter f = PEX_ROOM_FILTER_INIT;
	pex_room_iter *it = NULL;
	pex_room *room = NULL;
	json_object *in_pool = NULL;
	char **names = NULL;
	size_t n = 0, cap = 0, i, kept;
	int err;

	if (c->o->max && atomic_load(&c->done) >= c->o->max)
		return;
	f.name_prefix = p->name_prefix;
	f.page_size = PEX__GC_PAGE_SIZE;
	if ((err = pex_room_iter_new(&it, p->bg, &f)) < 0) {
		pex__gc_remember(c, err, "orphan sweep: listing rooms");
		goto out;
	}
	while ((err = pex_room_iter_next(&room, it)) == 0) {
		const char *name = pex_room_name(room);
		long long created = pex__pexip_time(pex_room_creation_time(room));
		if (pex__pool_owns(p, name, NULL) &&
		    pex__lifecycle_orphan_age(p->o.orphan_max_age_s, created, c->now) &&
		    !pex__pool_is_protected(p, name)) {
			if (n == cap) {
				size_t ncap = cap ? 2 * cap : 64;
				char **v = pex__realloc(names, ncap * sizeof(*v));
				if (!v) {
					err = PEX_ENOMEM;
					pex_room_free(room);
					break;
				}
				names = v;
				cap = ncap;
			}
			if (!(names[n] = pex__strdup(name))) {
				err = PEX_ENOMEM;
				pex_room_free(room);
				break;
			}
			n++;
		}
		pex_room_free(room);
		room = NULL;
	}
	if (err != PEX_ITEROVER) {
		pex__gc_remember(c, err, "orphan sweep: listing rooms");
		goto out;
	}
	if (n == 0)
		goto out;

	if (!(in_pool = json_object_new_object())) {
		pex__gc_remember(c, pex__error_nomem(), "orphan sweep");
		goto out;
	}
	if ((err = collect_pool_names(c, in_pool)) < 0) {
		/* without the pool's names every old pool room would look orphaned */
		pex__gc_remember(c, err, "orphan sweep: reading the pool queue");
		goto out;
	}
	for (i = 0, kept = 0; i < n; i++) {
		if (json_object_object_get_ex(in_pool, names[i], NULL))
			free(names[i]);
		else
			names[kept++] = names[i];
	}
	n = kept;
	pex__log(p->log, PEX_LOG_DEBUG, "gc: %zu orphan candidate(s) older than %u s", n,
		p->o.orphan_max_age_s);
	c->names = names;
	c->n = n;
	c->total += n;
	atomic_store(&c->claimed, atomic_load(&c->done));
	pex__pool_parallel(p, n, orphan_one, c);
	c->names = NULL;
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	pex_room_iter_free(it);
	json_object_put(in_pool);
}
