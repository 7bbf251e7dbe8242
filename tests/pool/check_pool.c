/* pex_pool_pop's failure paths and the pool's metrics with known values
 * (lib/pool/pool.c, handout.c, replenish.c, metrics.c), against the Pexip
 * emulator (tests/emulator), each test with its own emulator, over memory
 * queues:
 *   - a pool room deleted on Pexip out of band is dropped with a log line
 *     and the next room is handed out (by id: the PATCH 404s; by name: the
 *     lookup finds nothing);
 *   - a PATCH that fails (503 beyond the retries, a permanent 500) fails the
 *     pop with a clear error and gives the message back at once: the same
 *     room can be received again immediately, and is handed out later;
 *   - a queue holding bare room names (the old app's format, raw or base64)
 *     is resolved by name at pop and the room comes with its alias and
 *     guest PIN;
 *   - rooms held ahead of pops (pex_pool_prefetch): off the queue but
 *     counted as the pool's, handed out with the PATCH alone, dropped when
 *     gone, put back when the PATCH fails, the pool is freed or drained,
 *     never taken for orphans by the same process;
 *   - pex_metrics_get() and pex_metrics_format_write() report a known
 *     state exactly, in JSON and in Prometheus text.
 *   - the local pool depth counts a room a prefetch is moving between the
 *     queue and the held set (stopped there by a queue backend's gate).
 * Links the internal library to decode pool messages. */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "pool/pool_internal.h"
#include "../queue/testbackend.h"
#include "emu_harness.h"

/* ---- log capture ---- */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_text[16384];

static void log_cb(pex_log_level level, const char *message, void *payload)
{
	size_t n;
	(void)payload;
	if (getenv("PEX_TEST_VERBOSE"))
		fprintf(stderr, "[%s] %s\n", pex_log_level_name(level), message);
	if (level > PEX_LOG_INFO)
		return;
	pthread_mutex_lock(&log_lock);
	n = strlen(log_text);
	snprintf(log_text + n, sizeof(log_text) - n, "[%s] %s\n", pex_log_level_name(level), message);
	pthread_mutex_unlock(&log_lock);
}

static int logged(const char *needle)
{
	int found;
	pthread_mutex_lock(&log_lock);
	found = strstr(log_text, needle) != NULL;
	pthread_mutex_unlock(&log_lock);
	return found;
}

/* ---- fixture ---- */

typedef struct fx {
	emu_t e;
	pex_client *c;
	pex_queue *dq, *pq;
	pex_pool *pool;
} fx;

static const char *const hosts[] = { "svc.example.com" };

/* pool.wait_ms of the pools fx_open_ex2() makes: 0 (a pop on an empty pool
 * answers at once) except in the tests of the wait */
static unsigned g_wait_ms;
/* pool.depth (0: the default) and pool.max_depth of those pools */
static unsigned g_depth, g_max_depth;
/* the backend of their queues (NULL: a memory backend; the queue takes it) */
static pex_queue_backend *g_backend;

/* @p lease_s: the pool's lease (0 = default); @p retry_cap_ms: the
 * client's backoff cap, which also caps how long a Retry-After is honoured;
 * @p ready_after_s: pool.ready_after_s; @p emu_args: the emulator's extra
 * command-line arguments (NULL: none). */
static void fx_open_ex2(fx *f, const char *prefix, unsigned lease_s, long retry_cap_ms,
	unsigned ready_after_s, const char *const *emu_args)
{
	pex_client_options co = PEX_CLIENT_OPTIONS_INIT;
	pex_pool_options po = PEX_POOL_OPTIONS_INIT;

	memset(f, 0, sizeof(*f));
	log_text[0] = '\0';
	ck_assert_int_eq(emu_start(&f->e, emu_args), 0);
	co.url = f->e.url;
	co.username = "admin";
	co.password = "admin";
	co.retries_max = 2;
	co.retry_base_ms = 5;
	co.retry_cap_ms = retry_cap_ms;
	co.log_cb = log_cb;
	co.log_level = getenv("PEX_TEST_VERBOSE") ? PEX_LOG_DEBUG : PEX_LOG_INFO;
	ck_assert_msg(pex_client_new(&f->c, &co) == 0, "%s", pex_error_last()->message);
	if (g_backend)
		ck_assert_int_eq(pex_queue_open_backend(&f->pq, g_backend, "room-creation-queue"), 0);
	else
		ck_assert_int_eq(pex_queue_open(&f->pq, "memory:", "room-creation-queue"), 0);
	g_backend = NULL;
	ck_assert_int_eq(pex_queue_open_sibling(&f->dq, f->pq, "room-deletion-queue"), 0);
	po.name_prefix = prefix;
	po.gc_delay_s = 0;
	po.ready_after_s = ready_after_s;
	po.wait_ms = g_wait_ms;
	if (g_depth)
		po.depth = g_depth;
	po.max_depth = g_max_depth;
	po.tag.url_template = "https://svc.example.com/s/{uui}";
	po.tag.allowed_hosts = hosts;
	po.tag.allowed_host_count = 1;
	if (lease_s)
		po.lease_s = lease_s;
	ck_assert_msg(pex_pool_new(&f->pool, f->c, f->pq, f->dq, &po) == 0, "%s",
		pex_error_last()->message);
}

/* Rooms are handed out at once (ready_after_s 0) except in the readiness tests. */
static void fx_open_ex(fx *f, const char *prefix, unsigned lease_s, long retry_cap_ms)
{
	fx_open_ex2(f, prefix, lease_s, retry_cap_ms, 0, NULL);
}

static void fx_open(fx *f, const char *prefix)
{
	fx_open_ex(f, prefix, 0, 20);
}

static void fx_close(fx *f)
{
	pex_pool_free(f->pool);
	pex_queue_free(f->pq);
	pex_queue_free(f->dq);
	pex_client_free(f->c);
	emu_stop(&f->e);
	ck_assert_int_eq(f->e.exit_status, 0);
}

static size_t qcount(pex_queue *q)
{
	size_t n = 99999;
	ck_assert_int_eq(pex_queue_count(&n, q), 0);
	return n;
}

/* The room name of the first visible pool message (in receive order),
 * copied into @p name. */
static void first_in_pool(fx *f, char *name, size_t size)
{
	pex_message **m = NULL;
	struct pex__room_ref ref;
	size_t n = 0;
	memset(&ref, 0, sizeof(ref));
	ck_assert_int_eq(pex_queue_peek(&m, &n, f->pq, 1), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(pex__poolmsg_decode(&ref, m[0]->data, m[0]->len), 0);
	snprintf(name, size, "%s", ref.name);
	pex__room_ref_dispose(&ref);
	pex_message_array_free(m, n);
}

/* Add one room to the pool (created on Pexip, queued) and return its name. */
static void add_pool_room(fx *f, char *name, size_t size)
{
	size_t created = 0, before = qcount(f->pq);
	ck_assert_msg(pex_pool_replenish(&created, f->pool, 1, NULL, NULL) == 0, "%s",
		pex_error_last()->message);
	ck_assert_uint_eq(created, 1);
	ck_assert_uint_eq(qcount(f->pq), before + 1);
	if (name) {
		/* the newest message is the last one: peek them all */
		pex_message **m = NULL;
		struct pex__room_ref ref;
		size_t n = 0;
		memset(&ref, 0, sizeof(ref));
		ck_assert_int_eq(pex_queue_peek(&m, &n, f->pq, 32), 0);
		ck_assert_uint_eq(n, before + 1);
		ck_assert_int_eq(pex__poolmsg_decode(&ref, m[n - 1]->data, m[n - 1]->len), 0);
		snprintf(name, size, "%s", ref.name);
		pex__room_ref_dispose(&ref);
		pex_message_array_free(m, n);
	}
}

static int room_exists(fx *f, const char *name)
{
	pex_room *r = NULL;
	int err = pex_room_get_by_name(&r, f->c, name);
	pex_room_free(r);
	ck_assert_msg(err == 0 || err == PEX_ENOTFOUND, "get %s: %s", name, pex_error_last()->message);
	return err == 0;
}

/* The tag of room @p name on Pexip (static storage). */
static const char *room_tag(fx *f, const char *name)
{
	static char tag[512];
	pex_room *r = NULL;
	ck_assert_msg(pex_room_get_by_name(&r, f->c, name) == 0, "get %s: %s", name, pex_error_last()->message);
	snprintf(tag, sizeof(tag), "%s", pex_room_tag(r));
	pex_room_free(r);
	return tag;
}

static void delete_out_of_band(fx *f, const char *name)
{
	int deleted = 0;
	ck_assert_int_eq(pex_room_delete_by_name(&deleted, f->c, name), 0);
	ck_assert_int_eq(deleted, 1);
}

static void faults(fx *f, const char *json)
{
	ck_assert_int_eq(emu_ctl(&f->e, "POST", "/_emu/faults", json, NULL), 200);
}

/* "hi" as a UUI, and the tag it yields */
#define UUI_HI "6869"
#define TAG_HI "https://svc.example.com/s/hi"

/* ---- (a) a room gone from Pexip is dropped, the next one handed out ---- */

START_TEST(test_pop_room_gone)
{
	fx f;
	pex_pool_room *r = NULL;
	char gone[128], next[128], line[256];

	fx_open(&f, "vmr_");
	add_pool_room(&f, gone, sizeof(gone));
	add_pool_room(&f, next, sizeof(next));
	first_in_pool(&f, line, sizeof(line));
	ck_assert_str_eq(line, gone);               /* FIFO: the gone one is tried first */
	delete_out_of_band(&f, gone);

	ck_assert_msg(pex_pool_pop(&r, f.pool, UUI_HI, NULL) == 0, "%s", pex_error_last()->message);
	ck_assert_str_eq(r->name, next);            /* the next room, in the same pop */
	ck_assert_str_eq(r->tag, TAG_HI);
	ck_assert_str_eq(room_tag(&f, next), TAG_HI);
	pex_pool_room_free(r);
	snprintf(line, sizeof(line), "[warn] pool room %s is gone from Pexip; dropped", gone);
	ck_assert_msg(logged(line), "no log line '%s' in:\n%s", line, log_text);
	ck_assert_uint_eq(qcount(f.pq), 0);         /* the gone room's message was removed */
	ck_assert_uint_eq(atomic_load(&f.pool->pops), 1);
	ck_assert_uint_eq(atomic_load(&f.pool->pop_failures), 0);

	/* only gone rooms left: dropped too, then the pool is empty */
	add_pool_room(&f, gone, sizeof(gone));
	delete_out_of_band(&f, gone);
	ck_assert_int_eq(pex_pool_pop(&r, f.pool, UUI_HI, NULL), PEX_EEMPTY);
	ck_assert_ptr_null(r);
	snprintf(line, sizeof(line), "pool room %s is gone from Pexip; dropped", gone);
	ck_assert(logged(line));
	ck_assert_uint_eq(qcount(f.pq), 0);
	fx_close(&f);
}
END_TEST

/* the same for a bare-name message: the lookup by name finds nothing */
START_TEST(test_pop_bare_name_gone)
{
	fx f;
	pex_pool_room *r = NULL;
	char next[128];

	fx_open(&f, "vmr_");
	ck_assert_int_eq(pex_queue_put(f.pq, "old_room_gone", strlen("old_room_gone"), 0), 0);
	add_pool_room(&f, next, sizeof(next));
	ck_assert_msg(pex_pool_pop(&r, f.pool, NULL, NULL) == 0, "%s", pex_error_last()->message);
	ck_assert_str_eq(r->name, next);
	pex_pool_room_free(r);
	ck_assert_msg(logged("[warn] pool room old_room_gone is gone from Pexip; dropped"), "%s", log_text);
	ck_assert_uint_eq(qcount(f.pq), 0);
	fx_close(&f);
}
END_TEST

/* ---- (b) a failed PATCH gives the room back at once ---- */

/* Pop under @p fault_json: fails with @p code and a message naming the
 * room and @p why; the message is visible again at once (same room); the
 * room's tag is untouched. Then, the fault cleared, the same room is
 * handed out. */
static void pop_fails_and_returns(const char *fault_json, int code, const char *why)
{
	fx f;
	pex_pool_room *r = NULL;
	pex_message *msg = NULL;
	struct pex__room_ref ref;
	char name[128], want[256];

	fx_open(&f, "vmr_");
	add_pool_room(&f, name, sizeof(name));
	faults(&f, fault_json);
	ck_assert_int_eq(pex_pool_pop(&r, f.pool, UUI_HI, NULL), code);
	ck_assert_ptr_null(r);
	snprintf(want, sizeof(want), "tagging pool room %s: ", name);
	ck_assert_msg(strstr(pex_error_last()->message, want) == pex_error_last()->message,
		"message '%s' does not start with '%s'", pex_error_last()->message, want);
	ck_assert_msg(strstr(pex_error_last()->message, why) != NULL,
		"message '%s' lacks '%s'", pex_error_last()->message, why);
	ck_assert_uint_eq(atomic_load(&f.pool->pop_failures), 1);
	ck_assert_uint_eq(atomic_load(&f.pool->pops), 0);

	/* Pexip answered every send and refused: back at once as a new
	 * message (the old one was deleted before the PATCH) */
	memset(&ref, 0, sizeof(ref));
	ck_assert_msg(pex_queue_receive(&msg, f.pq, 30) == 0, "the message is not visible: %s",
		pex_error_last()->message);
	ck_assert_int_eq(pex__poolmsg_decode(&ref, msg->data, msg->len), 0);
	ck_assert_str_eq(ref.name, name);
	ck_assert_uint_eq(msg->dequeue_count, 1);
	pex__room_ref_dispose(&ref);
	ck_assert_int_eq(pex_queue_release(f.pq, msg, 0), 0);
	pex_message_free(msg);

	faults(&f, "{\"permanent_status\": 0, \"rate_503\": 0}");
	ck_assert_str_eq(room_tag(&f, name), "");     /* the failed PATCH changed nothing */
	ck_assert_msg(pex_pool_pop(&r, f.pool, UUI_HI, NULL) == 0, "%s", pex_error_last()->message);
	ck_assert_str_eq(r->name, name);
	ck_assert_str_eq(r->tag, TAG_HI);
	pex_pool_room_free(r);
	ck_assert_str_eq(room_tag(&f, name), TAG_HI);
	ck_assert_uint_eq(qcount(f.pq), 0);
	fx_close(&f);
}

START_TEST(test_pop_patch_503_beyond_retries)
{
	pop_fails_and_returns("{\"rate_503\": 1}", PEX_EHTTP, "503");
}
END_TEST

START_TEST(test_pop_patch_permanent_500)
{
	pop_fails_and_returns("{\"permanent_status\": 500}", PEX_EHTTP, "injected failure 500");
}
END_TEST

/* ---- (b') errors of worker threads reach the caller's thread ---- */

static pthread_t caller;

/* A progress callback that buries the error of the caller's thread under an
 * unrelated one each time it runs there, as any library call made from a
 * callback could: the call's result must still name the workers' cause. */
static int bury_error(size_t done, size_t total, void *payload)
{
	(void)done;
	(void)total;
	(void)payload;
	if (pthread_equal(pthread_self(), caller))
		pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "stale unrelated error");
	return 0;
}

static void assert_cause(const char *what, int err)
{
	const pex_error *e = pex_error_last();
	ck_assert_msg(err == PEX_EHTTP, "%s: got %s (%s)", what, pex_error_name(err), e->message);
	ck_assert_msg(e->code == PEX_EHTTP && strstr(e->message, "injected failure 500") &&
		e->http_status == 500, "%s: pex_error_last() is %s, HTTP %d, '%s'", what,
		pex_error_name(e->code), e->http_status, e->message);
}

/*
 * pex_pool_replenish, pex_pool_fill (worker threads), pex_pool_drain and
 * pex_gc_sweep (worker threads): with Pexip failing every request, each
 * returns PEX_EHTTP and pex_error_last() on the calling thread names the
 * cause with its HTTP status, not "no error" or a stale message.
 */
START_TEST(test_worker_errors_reach_the_caller)
{
	fx f;
	pex_gc_options go = PEX_GC_OPTIONS_INIT;
	pex_gc_report rep = PEX_GC_REPORT_INIT;
	size_t n = 0, i;

	fx_open(&f, "vmr_");
	caller = pthread_self();
	for (i = 0; i < 3; i++)
		add_pool_room(&f, NULL, 0);
	for (i = 0; i < 6; i++) {
		char name[32];
		snprintf(name, sizeof(name), "vmr_gone_%zu", i);
		ck_assert_int_eq(pex_gc_schedule_delete(f.pool, name, 0), 0);
	}
	faults(&f, "{\"permanent_status\": 500}");

	pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "stale unrelated error");
	assert_cause("replenish", pex_pool_replenish(&n, f.pool, 8, bury_error, NULL));
	ck_assert_uint_eq(n, 0);
	pex_error_clear();
	assert_cause("fill", pex_pool_fill(&n, f.pool, 12, bury_error, NULL));
	pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "stale unrelated error");
	assert_cause("gc", pex_gc_sweep(&rep, f.pool, &go, bury_error, NULL));
	ck_assert_uint_eq(rep.failed, 6);
	pex_error_clear();
	assert_cause("drain", pex_pool_drain(&n, f.pool, 1, bury_error, NULL));

	faults(&f, "{\"permanent_status\": 0}");
	fx_close(&f);
}
END_TEST

/* A PATCH that may still reach Pexip (a 504 from a proxy: the request may
 * have been passed on) puts the room back invisible for
 * PEX__POOL_UNSURE_TAG_DELAY_S, so that it cannot land on the next taker's
 * room; the pop fails naming the room. */
START_TEST(test_pop_patch_unsure_delayed)
{
	fx f;
	pex_pool_room *r = NULL;
	pex_message *msg = NULL;
	char name[128], want[256];

	fx_open(&f, "vmr_");
	add_pool_room(&f, name, sizeof(name));
	faults(&f, "{\"rate_504\": 1}");
	ck_assert_int_eq(pex_pool_pop(&r, f.pool, UUI_HI, NULL), PEX_EHTTP);
	ck_assert_ptr_null(r);
	snprintf(want, sizeof(want), "tagging pool room %s: ", name);
	ck_assert_msg(strstr(pex_error_last()->message, want) == pex_error_last()->message,
		"message '%s' does not start with '%s'", pex_error_last()->message, want);
	snprintf(want, sizeof(want), "[warn] pool room %s goes back to the pool in %d s", name,
		PEX__POOL_UNSURE_TAG_DELAY_S);
	ck_assert_msg(logged(want), "no log line '%s' in:\n%s", want, log_text);
	/* on the queue, but nobody can take it yet */
	ck_assert_int_eq(pex_queue_receive(&msg, f.pq, 30), PEX_EEMPTY);
	faults(&f, "{\"rate_504\": 0}");
	ck_assert_int_eq(pex_pool_pop(&r, f.pool, UUI_HI, NULL), PEX_EEMPTY);
	fx_close(&f);
}
END_TEST

/* ---- (b2) a slow tag PATCH never lands on another caller's room ---- */

/* Issue 13.1: caller A's tag PATCH is answered 429 with a Retry-After
 * longer than the pool's lease. With the old order (lease, PATCH, delete)
 * the message became visible again, caller B took the room, tagged it and
 * was handed it, and then A's retried PATCH overwrote B's tag. Now a room
 * is off the queue before its PATCH, so however slow the PATCH, every
 * handed-out room carries exactly its caller's tag on Pexip. */
#define RACE_ROOMS 3
#define RACE_CALLERS 6
#define RACE_LEASE_S 5

typedef struct race_caller {
	fx *f;
	int idx;
	atomic_int *handed;
	pex_pool_room *room;
	int err;
	char msg[512];
} race_caller;

static void race_tag(char *out, size_t size, int idx)
{
	snprintf(out, size, "https://svc.example.com/s/caller-%d", idx);
}

static void *race_main(void *arg)
{
	race_caller *c = arg;
	char url[128];

	race_tag(url, sizeof(url), c->idx);
	for (;;) {
		pex_pool_room *r = NULL;
		int err = pex_pool_pop(&r, c->f->pool, NULL, url);
		if (err == 0) {
			c->room = r;
			atomic_fetch_add(c->handed, 1);
			return NULL;
		}
		if (err != PEX_EEMPTY) {
			c->err = err;
			snprintf(c->msg, sizeof(c->msg), "%s", pex_error_last()->message);
			return NULL;
		}
		/* every room handed out: nothing left to wait for */
		if (atomic_load(c->handed) >= RACE_ROOMS)
			return NULL;
		pex__sleep_ms(10);     /* pacing the retries, not synchronisation */
	}
}

START_TEST(test_pop_slow_patch_keeps_tags)
{
	fx f;
	race_caller callers[RACE_CALLERS];
	pthread_t th[RACE_CALLERS];
	atomic_int handed;
	char want[128], fault[160];
	int i, got = 0;

	/* the client honours a Retry-After of up to 10 s */
	fx_open_ex(&f, "vmr_", RACE_LEASE_S, 10000);
	for (i = 0; i < RACE_ROOMS; i++)
		add_pool_room(&f, NULL, 0);
	/* the first PATCH of each room: 429, Retry-After longer than the lease */
	snprintf(fault, sizeof(fault), "{\"fail_next\": %d, \"fail_next_status\": 429, "
		"\"retry_after_s\": %d}", RACE_ROOMS, RACE_LEASE_S + 1);
	faults(&f, fault);
	atomic_init(&handed, 0);
	for (i = 0; i < RACE_CALLERS; i++) {
		memset(&callers[i], 0, sizeof(callers[i]));
		callers[i].f = &f;
		callers[i].idx = i;
		callers[i].handed = &handed;
		ck_assert_int_eq(pthread_create(&th[i], NULL, race_main, &callers[i]), 0);
	}
	for (i = 0; i < RACE_CALLERS; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < RACE_CALLERS; i++) {
		ck_assert_msg(callers[i].err == 0, "caller %d: %s", i, callers[i].msg);
		if (!callers[i].room)
			continue;
		got++;
		race_tag(want, sizeof(want), i);
		ck_assert_str_eq(callers[i].room->tag, want);
		ck_assert_msg(strcmp(room_tag(&f, callers[i].room->name), want) == 0,
			"room %s was handed to caller %d but carries tag '%s' on Pexip",
			callers[i].room->name, i, room_tag(&f, callers[i].room->name));
	}
	ck_assert_int_eq(got, RACE_ROOMS);
	for (i = 0; i < RACE_CALLERS; i++)
		pex_pool_room_free(callers[i].room);
	fx_close(&f);
}
END_TEST

/* ---- (b3) readiness: no room before Pexip has replicated it ---- */

/* pex_pool_prefetch() as a count: the rooms held, or the error. */
static int prefetch_n(pex_pool *p, unsigned n)
{
	size_t held = 0;
	int err = pex_pool_prefetch(&held, p, n);
	return err < 0 ? err : (int)held;
}

/* pex_pool_held() as a count. */
static size_t held_n(pex_pool *p)
{
	size_t n = 99999;
	ck_assert_int_eq(pex_pool_held(&n, p), 0);
	return n;
}

/* Could a caller join @p name now, by the emulator's replication model? */
static int joinable(fx *f, const char *name)
{
	char body[300], *resp = NULL;
	json_object *doc, *v;
	int yes;
	snprintf(body, sizeof(body), "{\"name\": \"%s\"}", name);
	ck_assert_int_eq(emu_ctl(&f->e, "POST", "/_emu/conference/joinable", body, &resp), 200);
	doc = json_tokener_parse(resp);
	ck_assert_msg(doc && json_object_object_get_ex(doc, "joinable", &v), "%s", resp);
	yes = json_object_get_boolean(v);
	json_object_put(doc);
	free(resp);
	return yes;
}

#define READY_S 2

/* Issue 12.2: a new conference reaches the Conferencing Nodes only after
 * replication (the emulator: --replication-delay). With ready_after_s no
 * hand-out, plain or through prefetch, ever returns a room a caller could
 * not join yet: not rooms this pool filled (invisible on the queue until
 * then), not rooms an older version queued with no delay (the pop checks
 * "created" and releases them for the time left), not bare names (their
 * age comes from Pexip's creation_time). While none is ready the pop fails
 * with PEX_EEMPTY saying when the next one will be. Then the callers poll
 * until every room was handed out, checking each hand-out at once. */
START_TEST(test_pop_waits_for_replication)
{
	static const char *const emu_args[] = { "--replication-delay", "2", NULL };
	fx f;
	pex_pool *old = NULL;
	pex_pool_options po = PEX_POOL_OPTIONS_INIT;
	pex_pool_room *r = NULL;
	size_t created = 0, handed = 0, held_rounds = 0;
	long long until;

	fx_open_ex2(&f, "vmr_", 0, 20, READY_S, emu_args);
	/* rooms of this pool: on the queue, counted, invisible */
	ck_assert_int_eq(pex_pool_replenish(&created, f.pool, 2, NULL, NULL), 0);
	ck_assert_uint_eq(qcount(f.pq), 2);
	ck_assert_int_eq(pex_pool_pop(&r, f.pool, UUI_HI, NULL), PEX_EEMPTY);
	ck_assert_msg(strstr(pex_error_last()->message, "no room is ready yet; the next will be ready in "),
		"%s", pex_error_last()->message);
	/* Retry-After: when the next room matures */
	ck_assert_msg(pex_pool_retry_after() >= 1 && pex_pool_retry_after() <= READY_S + 2,
		"retry after %lld s", pex_pool_retry_after());
	ck_assert_int_eq(prefetch_n(f.pool, 1), 0);
	{
		long long count = -1, next = -1;
		pex_metrics m = PEX_METRICS_INIT;
		ck_assert_msg(pex_pool_maturing(&count, &next, f.pool) == 0, "%s", pex_error_last()->message);
		ck_assert_int_eq(count, 2);
		/* ready_after_s + 1 s margin, and both clocks read to the second */
		ck_assert_msg(next >= 1 && next <= READY_S + 2, "next ready in %lld s", next);
		ck_assert_msg(pex_metrics_get(&m, f.pool) == 0, "%s", pex_error_last()->message);
		ck_assert_int_eq(m.pool_depth, 2);
		ck_assert_int_eq(m.pool_maturing, 2);
		/* a Pexip that refuses creation_time filters: unknown, nothing fails */
		faults(&f, "{\"refuse_time_filter\": true}");
		/* the pops forget what Pexip said a moment ago (PEX__POOL_COMING_CACHE_MS) */
		f.pool->coming_at_ms = -1;
		ck_assert_int_eq(pex_pool_maturing(&count, &next, f.pool), PEX_EHTTP);
		ck_assert_msg(pex_metrics_get(&m, f.pool) == 0, "%s", pex_error_last()->message);
		ck_assert_int_eq(m.pool_maturing, -1);
		ck_assert_int_eq(pex_pool_pop(&r, f.pool, UUI_HI, NULL), PEX_EEMPTY);
		/* nothing known to be maturing: a new room's time (ready_after_s + 1 s + a create) */
		ck_assert_int_eq(pex_pool_retry_after(), READY_S + 2);
		ck_assert_msg(strcmp(pex_error_last()->message, "the pool is empty (queue 'room-creation-queue'); "
			"try again in 4 s") == 0, "%s", pex_error_last()->message);
		faults(&f, "{\"refuse_time_filter\": false}");
	}
	/* a room an older version queued without a delay: visible, not ready */
	po.name_prefix = "vmr_";
	po.ready_after_s = 0;
	ck_assert_int_eq(pex_pool_new(&old, f.c, f.pq, f.dq, &po), 0);
	ck_assert_int_eq(pex_pool_replenish(&created, old, 1, NULL, NULL), 0);
	pex_pool_free(old);
	/* and a bare name (the old app's format) of a room made just now */
	ck_assert_int_eq(emu_api(&f.e, "POST", "/api/admin/configuration/v1/conference/",
		"{\"name\": \"vmr_bare_new\", \"guest_pin\": \"1234\", \"pin\": \"5678\"}", NULL), 201);
	ck_assert_int_eq(pex_queue_put(f.pq, "vmr_bare_new", strlen("vmr_bare_new"), 0), 0);
	ck_assert_int_eq(pex_pool_pop(&r, f.pool, UUI_HI, NULL), PEX_EEMPTY);
	ck_assert_int_eq(prefetch_n(f.pool, 1), 0);
	ck_assert_uint_eq(qcount(f.pq), 4);
	ck_assert(!joinable(&f, "vmr_bare_new"));

	/* now wait for the state "all four handed out", checking each hand-out */
	until = pex__now_ms() + 60000;
	while (handed < 4 && pex__now_ms() < until) {
		int err;
		if (handed % 2 == 1 && prefetch_n(f.pool, 1) == 1)
			held_rounds++;
		err = pex_pool_pop(&r, f.pool, UUI_HI, NULL);
		if (err == 0) {
			ck_assert_msg(joinable(&f, r->name), "room %s was handed out before a caller could "
				"join it", r->name);
			pex_pool_room_free(r);
			handed++;
			continue;
		}
		ck_assert_msg(err == PEX_EEMPTY, "%s", pex_error_last()->message);
		pex__sleep_ms(50);     /* pacing the polls, not synchronisation */
	}
	ck_assert_uint_eq(handed, 4);
	ck_assert_uint_ge(held_rounds, 1);     /* the prefetch path handed out rooms too */
	ck_assert_uint_eq(qcount(f.pq), 0);
	fx_close(&f);
}
END_TEST

/* ---- pool.wait_ms: a pop waits for a room on its way ---- */

typedef struct pop_thread {
	pex_pool *pool;
	int err;
	long long retry_after;
	char name[128];
	atomic_int done;
} pop_thread;

static void *pop_main(void *arg)
{
	pop_thread *t = arg;
	pex_pool_room *r = NULL;
	t->err = pex_pool_pop(&r, t->pool, UUI_HI, NULL);
	t->retry_after = pex_pool_retry_after();
	if (t->err == 0)
		snprintf(t->name, sizeof(t->name), "%s", r->name);
	pex_pool_room_free(r);
	atomic_store(&t->done, 1);
	return NULL;
}

/* How many pops of @p pool wait for a room on its way now. */
static unsigned waiting_n(pex_pool *pool)
{
	unsigned n;
	pthread_mutex_lock(&pool->size_lock);
	n = pool->waiting;
	pthread_mutex_unlock(&pool->size_lock);
	return n;
}

static void *replenish_main(void *arg)
{
	size_t created = 0;
	pex_pool_replenish(&created, arg, 1, NULL, NULL);
	return (void *)created;
}

/* Issue 18.3: a pop that finds the pool empty while a replacement of this
 * process is being created waits for it (up to pool.wait_ms) and hands it
 * out, instead of failing with PEX_EEMPTY. The create is held in the
 * emulator until the pop is seen waiting (its log line). Nothing coming:
 * the pop fails at once, and says when to retry. */
START_TEST(test_pop_waits_for_room_on_its_way)
{
	fx f;
	pthread_t rt, pt;
	pop_thread p;
	pex_pool_room *r = NULL;
	long long until;
	void *created = NULL;

	g_wait_ms = 60000;              /* longer than any run: the state ends the wait */
	fx_open(&f, "wt_");
	g_wait_ms = 0;
	/* nothing coming: at once, with a retry time */
	ck_assert_int_eq(pex_pool_pop(&r, f.pool, UUI_HI, NULL), PEX_EEMPTY);
	ck_assert_int_ge(pex_pool_retry_after(), 1);
	ck_assert_uint_eq(waiting_n(f.pool), 0);

	faults(&f, "{\"hold\": true}");
	ck_assert_int_eq(pthread_create(&rt, NULL, replenish_main, f.pool), 0);
	until = pex__now_ms() + 60000;
	while (emu_stat(&f.e, "in_flight") < 1 && pex__now_ms() < until)
		pex__sleep_ms(5);
	ck_assert_int_eq(emu_stat(&f.e, "in_flight"), 1);     /* the create's POST, held */

	memset(&p, 0, sizeof(p));
	p.pool = f.pool;
	ck_assert_int_eq(pthread_create(&pt, NULL, pop_main, &p), 0);
	while (waiting_n(f.pool) == 0 && !atomic_load(&p.done) && pex__now_ms() < until)
		pex__sleep_ms(5);
	ck_assert_msg(!atomic_load(&p.done), "the pop did not wait: %d %s", p.err, pex_error_last()->message);
	faults(&f, "{\"hold\": false}");
	ck_assert_int_eq(pthread_join(rt, &created), 0);
	ck_assert_int_eq(pthread_join(pt, NULL), 0);
	ck_assert_int_eq((long)(size_t)created, 1);
	ck_assert_msg(p.err == 0, "pop: %d", p.err);
	ck_assert(strncmp(p.name, "wt_", 3) == 0);
	ck_assert_int_eq(p.retry_after, 0);                  /* handed out: no retry time */
	ck_assert_uint_eq(qcount(f.pq), 0);
	fx_close(&f);
}
END_TEST

/* Pretend @p n pops of @p pool wait for a room (what a pop blocked in
 * pex__pool_wait_room() counts): a waiting pop of its own would need the
 * room to mature before it returned. */
static void set_waiting(pex_pool *pool, unsigned n)
{
	pthread_mutex_lock(&pool->size_lock);
	pool->waiting = n;
	pthread_mutex_unlock(&pool->size_lock);
}

/* Issue 18.3: pops wait only for rooms no other waiting pop will take
 * first. One room is maturing (ready_after_s 50, ready in 51 s, within
 * pool.wait_ms 60 s) and one pop already waits for it: another pop is
 * answered at once (PEX_EEMPTY, with when to retry) instead of holding its
 * caller (a server thread) for 51 s and then finding nothing or taking the
 * first one's room. It counts as demand: a pool that runs dry must not
 * read its shortfall as less demand. pex_pool_set_max_waiting() caps the
 * waiting pops below the rooms on their way. Broken, each pop here would
 * wait 51 s and take a room. */
START_TEST(test_pops_wait_only_for_rooms_coming)
{
	fx f;
	pex_pool_room *r = NULL;
	size_t created = 0;
	double asked;

	g_wait_ms = 60000;
	fx_open_ex2(&f, "wc_", 0, 20, 50, NULL);
	g_wait_ms = 0;
	ck_assert_int_eq(pex_pool_replenish(&created, f.pool, 1, NULL, NULL), 0);
	set_waiting(f.pool, 1);
	/* the one room coming is the waiting pop's: this one does not wait */
	ck_assert_int_eq(pex_pool_pop(&r, f.pool, UUI_HI, NULL), PEX_EEMPTY);
	ck_assert_int_ge(pex_pool_retry_after(), 1);
	ck_assert_int_le(pex_pool_retry_after(), 52);
	/* it is demand, unmet (the fast average at its time: one room / tau) */
	pthread_mutex_lock(&f.pool->size_lock);
	ck_assert(f.pool->sz.tau_fast == PEX__SIZING_TAU_FAST_S);    /* ready_after_s 50: the longest */
	asked = pex__sizing_rate_now(&f.pool->sz, f.pool->sz.rate_at_ms);
	pthread_mutex_unlock(&f.pool->size_lock);
	ck_assert_msg(fabs(asked - 1.0 / PEX__SIZING_TAU_FAST_S) < 1e-9, "demand %f", asked);
	/* a second room on its way, but at most one pop may wait (a server
	 * keeping threads free): this one does not wait either */
	ck_assert_int_eq(pex_pool_replenish(&created, f.pool, 1, NULL, NULL), 0);
	ck_assert_int_eq(pex_pool_set_max_waiting(NULL, 1), PEX_EINVAL);
	ck_assert_int_eq(pex_pool_set_max_waiting(f.pool, 1), 0);
	ck_assert_int_eq(pex_pool_pop(&r, f.pool, UUI_HI, NULL), PEX_EEMPTY);
	set_waiting(f.pool, 0);
	ck_assert_uint_eq(qcount(f.pq), 2);          /* both rooms still on their way */
	fx_close(&f);
}
END_TEST

/* ---- the self-sizing pool: growing to the target, shrinking ---- */

/* @p n rooms on Pexip named @p prefix + "r" + a number: to Pexip they look
 * like replacements of hand-outs made by other processes just now. Dated
 * an hour ahead, so that they stay within the pool's shortest demand
 * window (PEX__POOL_DEMAND_NOW_S) however slow the machine is. */
static void other_replacements(fx *f, const char *prefix, int n)
{
	char body[256], when[32];
	time_t ahead = time(NULL) + 3600;
	struct tm tm;
	int i;

	gmtime_r(&ahead, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	for (i = 0; i < n; i++) {
		snprintf(body, sizeof(body), "{\"name\": \"%sr%04d\", \"pin\": \"1234\", \"guest_pin\": "
			"\"5678\"}", prefix, i);
		ck_assert_int_eq(emu_api(&f->e, "POST", "/api/admin/configuration/v1/conference/", body, NULL), 201);
		snprintf(body, sizeof(body), "{\"name\": \"%sr%04d\", \"creation_time\": \"%s\"}", prefix, i, when);
		ck_assert_int_eq(emu_ctl(&f->e, "POST", "/_emu/conference/set", body, NULL), 200);
	}
}

/* Issue 18.1: the target follows the deployment's demand, which every
 * process reads on Pexip (replacement rooms of the last 10 s), and each
 * process tops the shared queue up to it: a second process on the same
 * queue with the same view creates nothing more (the pool does not grow
 * twice). Growth rooms do not count as demand (no feedback), a
 * replacement does. Without pool.max_depth the pool keeps pool.depth. */
START_TEST(test_resize_grows_to_shared_target)
{
	fx f;
	pex_pool *twin = NULL;
	pex_pool_options po = PEX_POOL_OPTIONS_INIT;
	pex_metrics m = PEX_METRICS_INIT;
	size_t created = 0, removed = 0, n;
	long long want;

	g_depth = 2;
	g_max_depth = 50;
	fx_open_ex2(&f, "gr_", 0, 20, 10, NULL);
	g_depth = g_max_depth = 0;
	/* no demand yet: the floor */
	ck_assert_msg(pex_pool_resize(&created, &removed, f.pool) == 0, "%s", pex_error_last()->message);
	ck_assert_uint_eq(created, 2);
	ck_assert_uint_eq(qcount(f.pq), 2);
	/* 5 replacements in the last 10 s elsewhere: 0.5 hand-outs/s */
	other_replacements(&f, "gr_", 5);
	ck_assert_msg(pex_pool_resize(&created, &removed, f.pool) == 0, "%s", pex_error_last()->message);
	ck_assert_int_eq(pex_metrics_get_local(&m, f.pool), 0);
	ck_assert(m.demand_rate >= 0.5 - 1e-9 && m.demand_rate < 0.6);
	/* 0.5/s x (a create + 10 s + 1 s) x 1.5 = 9 rooms, and a little
	 * more when the creates took long */
	want = m.target_depth;
	ck_assert_int_ge(want, 9);
	ck_assert_int_le(want, 12);
	ck_assert_uint_eq(created, (size_t)want - 2);
	ck_assert_uint_eq(qcount(f.pq), (size_t)want);
	ck_assert_uint_eq(removed, 0);
	/* growth is not demand: the count on Pexip is still 5 */
	ck_assert_msg(pex_pool_resize(&created, &removed, f.pool) == 0, "%s", pex_error_last()->message);
	ck_assert_uint_eq(created, 0);
	ck_assert_uint_eq(qcount(f.pq), (size_t)want);
	/* a second process on the same queue agrees and adds nothing */
	po.name_prefix = "gr_";
	po.depth = 2;
	po.max_depth = 50;
	po.ready_after_s = 10;
	ck_assert_int_eq(pex_pool_new(&twin, f.c, f.pq, f.dq, &po), 0);
	ck_assert_msg(pex_pool_resize(&created, &removed, twin) == 0, "%s", pex_error_last()->message);
	ck_assert_uint_eq(created, 0);
	ck_assert_uint_eq(removed, 0);
	ck_assert_uint_eq(qcount(f.pq), (size_t)want);
	ck_assert_int_eq(pex_metrics_get_local(&m, twin), 0);
	ck_assert_int_ge(m.target_depth, want - 1);
	pex_pool_free(twin);
	/* a replacement carries the mark; growth rooms never do */
	ck_assert_int_eq(pex_pool_replenish(&n, f.pool, 1, NULL, NULL), 0);
	ck_assert_int_eq(pex__pool_grow(f.pool, 1, &n), 0);
	{
		long long marked = -1;
		ck_assert_int_eq(pex__pool_created_since(f.pool, f.pool->fg, "r", pex__unix_time() - 60, &marked, NULL, NULL), 0);
		ck_assert_int_eq(marked, 6);
	}
	fx_close(&f);
}
END_TEST

/* Issue 18.2: rooms above the target are removed only after the pool has
 * been above it for the cool-down with no replacement made anywhere, one
 * at a time (at most one per 200 ms), the first on the queue, never a room a
 * process holds, never below pool.depth. The cool-down and the pace are the
 * model's (check_sizing.c); here they are wound forward through the
 * model's state instead of waited for. */
START_TEST(test_resize_shrinks_slowly)
{
	fx f;
	size_t created = 0, removed = 0, i;
	pex_metrics m = PEX_METRICS_INIT;
	char first[128];
	long long cool = PEX__SIZING_COOLDOWN_S * 1000LL;

	g_depth = 3;
	fx_open(&f, "sh_");
	g_depth = 0;
	ck_assert_int_eq(pex__pool_grow(f.pool, 8, &created), 0);
	ck_assert_int_eq(prefetch_n(f.pool, 1), 1);     /* one held: never removed */
	ck_assert_uint_eq(qcount(f.pq), 7);
	/* above the target (3): the cool-down starts */
	ck_assert_int_eq(pex_pool_resize(&created, &removed, f.pool), 0);
	ck_assert_uint_eq(removed, 0);
	/* someone made a replacement: not quiet, the cool-down starts again */
	other_replacements(&f, "sh_", 1);
	f.pool->sz.above_since_ms -= cool;
	ck_assert_int_eq(pex_pool_resize(&created, &removed, f.pool), 0);
	ck_assert_uint_eq(removed, 0);
	ck_assert_int_eq(pex_room_delete_by_name(NULL, f.c, "sh_r0000"), 0);
	/* quiet, but the cool-down restarted */
	ck_assert_int_eq(pex_pool_resize(&created, &removed, f.pool), 0);
	ck_assert_uint_eq(removed, 0);
	f.pool->sz.above_since_ms -= cool;
	/* now one room, the first on the queue, gone from Pexip too */
	first_in_pool(&f, first, sizeof(first));
	ck_assert_int_eq(pex_pool_resize(&created, &removed, f.pool), 0);
	ck_assert_uint_eq(removed, 1);
	ck_assert_uint_eq(qcount(f.pq), 6);
	ck_assert(!room_exists(&f, first));
	ck_assert(logged("shrinking: removed pool room"));
	/* at most one per PEX__SIZING_SHRINK_EVERY_MS */
	ck_assert_int_eq(pex_pool_resize(&created, &removed, f.pool), 0);
	ck_assert_uint_eq(removed, 0);
	/* down to the target counting the held room, never below */
	for (i = 0; i < 10; i++) {
		f.pool->sz.shrunk_at_ms -= PEX__SIZING_SHRINK_EVERY_MS;
		ck_assert_int_eq(pex_pool_resize(&created, &removed, f.pool), 0);
		ck_assert_uint_eq(created, 0);
	}
	ck_assert_uint_eq(qcount(f.pq), 2);
	ck_assert_uint_eq(held_n(f.pool), 1);
	ck_assert_int_eq(pex_metrics_get_local(&m, f.pool), 0);
	ck_assert_uint_eq(m.shrunk, 5);
	ck_assert_int_eq(m.pool_depth, 3);
	fx_close(&f);
}
END_TEST

/* ---- (c) bare room names (the old app's queues) ---- */

static long long make_room(fx *f, const char *name, const char *alias, const char *guest_pin)
{
	pex_room *r = NULL;
	char body[512];
	long long id;
	snprintf(body, sizeof(body), "{\"name\": \"%s\", \"service_type\": \"conference\", \"pin\": \"1234\", "
		"\"guest_pin\": \"%s\", \"allow_guests\": true, \"aliases\": [{\"alias\": \"%s\"}]}",
		name, guest_pin, alias);
	ck_assert_int_eq(emu_api(&f->e, "POST", "/api/admin/configuration/v1/conference/", body, NULL), 201);
	ck_assert_int_eq(pex_room_get_by_name(&r, f->c, name), 0);
	id = pex_room_id(r);
	pex_room_free(r);
	return id;
}

START_TEST(test_pop_bare_names)
{
	fx f;
	pex_pool_room *r = NULL;
	long long id1, id2;

	fx_open(&f, "vmr_");
	/* a decoy first, so the ids are not 1 and 2 by accident */
	make_room(&f, "decoy", "decoy@example.com", "1111");
	id1 = make_room(&f, "legacy_one", "legacy_one@video.example.com", "4321");
	id2 = make_room(&f, "legacy_two", "meet.two@video.example.com", "98765");
	/* what the old app wrote: the bare name, raw or base64 ("legacy_two") */
	ck_assert_int_eq(pex_queue_put(f.pq, "legacy_one", strlen("legacy_one"), 0), 0);
	ck_assert_int_eq(pex_queue_put(f.pq, "bGVnYWN5X3R3bw==", strlen("bGVnYWN5X3R3bw=="), 0), 0);

	ck_assert_msg(pex_pool_pop(&r, f.pool, UUI_HI, NULL) == 0, "%s", pex_error_last()->message);
	ck_assert_str_eq(r->name, "legacy_one");
	ck_assert_int_eq(r->id, id1);
	ck_assert_str_eq(r->alias, "legacy_one@video.example.com");
	ck_assert_str_eq(r->guest_pin, "4321");
	ck_assert_str_eq(r->tag, TAG_HI);
	pex_pool_room_free(r);
	ck_assert_str_eq(room_tag(&f, "legacy_one"), TAG_HI);

	ck_assert_msg(pex_pool_pop(&r, f.pool, NULL, "https://svc.example.com/t/2") == 0, "%s",
		pex_error_last()->message);
	ck_assert_str_eq(r->name, "legacy_two");
	ck_assert_int_eq(r->id, id2);
	ck_assert_str_eq(r->alias, "meet.two@video.example.com");
	ck_assert_str_eq(r->guest_pin, "98765");
	ck_assert_str_eq(r->tag, "https://svc.example.com/t/2");
	pex_pool_room_free(r);
	ck_assert_str_eq(room_tag(&f, "legacy_two"), "https://svc.example.com/t/2");
	ck_assert_str_eq(room_tag(&f, "decoy"), "");
	ck_assert_uint_eq(qcount(f.pq), 0);
	ck_assert_uint_eq(atomic_load(&f.pool->pops), 2);
	fx_close(&f);
}
END_TEST

/* ---- metrics with known values ---- */

/* Every metric, in the order pex_metrics_format_write writes them. */
typedef struct want_metrics {
	long long pool_depth, pool_maturing, deletion_backlog, live_conferences, pexip_pool_rooms;
	unsigned long long pops, pop_failures, replenished, replenish_failures;
	unsigned long long deleted, delete_failures, events, events_unknown, events_foreign;
	long long target_depth, empty_in_s;
	unsigned long long shrunk;
	double demand_rate;
} want_metrics;

static void check_formats(const pex_metrics *m, const want_metrics *w)
{
	const struct { const char *key; long long v; } rows[] = {
		{ "pool_depth", w->pool_depth },
		{ "pool_maturing", w->pool_maturing },
		{ "pool_target_depth", w->target_depth },
		{ "pool_empty_in_seconds", w->empty_in_s },
		{ "deletion_backlog", w->deletion_backlog },
		{ "live_conferences", w->live_conferences },
		{ "pexip_pool_rooms", w->pexip_pool_rooms },
		{ "pops", (long long)w->pops },
		{ "pop_failures", (long long)w->pop_failures },
		{ "replenished", (long long)w->replenished },
		{ "replenish_failures", (long long)w->replenish_failures },
		{ "deleted", (long long)w->deleted },
		{ "delete_failures", (long long)w->delete_failures },
		{ "events", (long long)w->events },
		{ "events_unknown", (long long)w->events_unknown },
		{ "events_foreign", (long long)w->events_foreign },
		{ "pool_shrunk", (long long)w->shrunk },
	};
	pex_buf out = PEX_BUF_INIT;
	char demand[128];
	json_object *doc, *v;
	size_t i;

	/* JSON: exactly these keys, these values */
	ck_assert_int_eq(pex_metrics_format_write(&out, m, PEX_METRICS_JSON), 0);
	doc = json_tokener_parse(out.ptr);
	ck_assert_msg(doc && json_object_is_type(doc, json_type_object), "not a JSON object: %s", out.ptr);
	ck_assert_int_eq(json_object_object_length(doc), (int)PEX__ARRAY_SIZE(rows) + 1);
	/* the one fractional gauge, to the thousandth */
	ck_assert(json_object_object_get_ex(doc, "pool_demand_rate", &v));
	ck_assert_msg(json_object_get_double(v) >= w->demand_rate - 0.0005 &&
		json_object_get_double(v) <= w->demand_rate + 0.0005, "demand %f", json_object_get_double(v));
	for (i = 0; i < PEX__ARRAY_SIZE(rows); i++) {
		ck_assert_msg(json_object_object_get_ex(doc, rows[i].key, &v), "JSON lacks %s: %s", rows[i].key, out.ptr);
		ck_assert_msg(json_object_is_type(v, json_type_int), "%s is not an integer", rows[i].key);
		ck_assert_msg(json_object_get_int64(v) == rows[i].v, "JSON %s = %lld, want %lld",
			rows[i].key, (long long)json_object_get_int64(v), rows[i].v);
	}
	json_object_put(doc);

	/* Prometheus: HELP, TYPE and the sample of each */
	ck_assert_int_eq(pex_metrics_format_write(&out, m, PEX_METRICS_PROMETHEUS), 0);
	for (i = 0; i < PEX__ARRAY_SIZE(rows); i++) {
		char name[96], line[160];
		int counter = i >= 7;     /* seven gauges first */
		snprintf(name, sizeof(name), "pexipsdk_%s%s", rows[i].key, counter ? "_total" : "");
		snprintf(line, sizeof(line), "\n%s %lld\n", name, rows[i].v);
		ck_assert_msg(strstr(out.ptr, line) != NULL, "Prometheus lacks '%s %lld':\n%s", name, rows[i].v, out.ptr);
		snprintf(line, sizeof(line), "# TYPE %s %s\n", name, counter ? "counter" : "gauge");
		ck_assert_msg(strstr(out.ptr, line) != NULL, "Prometheus lacks '%s'", line);
		snprintf(line, sizeof(line), "# HELP %s ", name);
		ck_assert_msg(strstr(out.ptr, line) != NULL, "Prometheus lacks '%s'", line);
	}
	snprintf(demand, sizeof(demand), "\n# TYPE pexipsdk_pool_demand_rate gauge\npexipsdk_pool_demand_rate %.3f\n",
		w->demand_rate);
	ck_assert_msg(strstr(out.ptr, demand) != NULL, "Prometheus lacks '%s'", demand);
	pex_buf_dispose(&out);
}

START_TEST(test_metrics_known_values)
{
	fx f;
	pex_pool_room *r = NULL;
	pex_metrics m = PEX_METRICS_INIT;
	pex_event_report er = PEX_EVENT_REPORT_INIT;
	pex_gc_report gr = PEX_GC_REPORT_INIT;
	pex_gc_options go = PEX_GC_OPTIONS_INIT;
	want_metrics w;
	char popped[2][128], body[1024];
	size_t created = 0;
	int i;

	fx_open(&f, "mx_");
	/* the longest fast average (ready_after_s 0 makes it 1 s): the demand
	 * read at the end must not have decayed to nothing on a slow machine */
	f.pool->sz.tau_fast = PEX__SIZING_TAU_FAST_S;
	/* 5 rooms made for the pool, 2 handed out */
	ck_assert_int_eq(pex_pool_replenish(&created, f.pool, 5, NULL, NULL), 0);
	ck_assert_uint_eq(created, 5);
	for (i = 0; i < 2; i++) {
		ck_assert_msg(pex_pool_pop(&r, f.pool, UUI_HI, NULL) == 0, "%s", pex_error_last()->message);
		snprintf(popped[i], sizeof(popped[i]), "%s", r->name);
		pex_pool_room_free(r);
	}
	/* rooms without the prefix never count */
	make_room(&f, "other_room", "other@example.com", "2222");
	make_room(&f, "xmx_room", "xmx@example.com", "2223");

	/* both handed-out rooms end (plus a participant event, an unknown one
	 * and a room that is not the pool's) */
	snprintf(body, sizeof(body), "{\"event\": \"eventsink_bulk\", \"data\": ["
		"{\"event\": \"conference_ended\", \"data\": {\"name\": \"%s\"}},"
		"{\"event\": \"participant_disconnected\", \"data\": {\"conference\": \"%s\"}},"
		"{\"event\": \"conference_ended\", \"data\": {\"name\": \"%s\"}},"
		"{\"event\": \"conference_ended\", \"data\": {\"name\": \"other_room\"}},"
		"{\"event\": \"something_new\", \"data\": {}}]}", popped[0], popped[0], popped[1]);
	ck_assert_int_eq(pex_event_handle(&er, f.pool, body, strlen(body)), 0);
	ck_assert_uint_eq(er.scheduled, 2);
	ck_assert_uint_eq(er.foreign, 1);
	ck_assert_uint_eq(qcount(f.dq), 2);
	pex_gc_report_init(&gr, PEX_GC_REPORT_VERSION);
	ck_assert_msg(pex_gc_sweep(&gr, f.pool, &go, NULL, NULL) == 0, "%s", pex_error_last()->message);
	ck_assert_uint_eq(gr.deleted, 2);
	ck_assert(!room_exists(&f, popped[0]));

	/* failures: a pop, a replenish and a deletion under a permanent 500 */
	ck_assert_int_eq(pex_gc_schedule_delete(f.pool, "mx_doomed", 0), 0);
	faults(&f, "{\"permanent_status\": 500}");
	ck_assert_int_eq(pex_pool_pop(&r, f.pool, UUI_HI, NULL), PEX_EHTTP);
	ck_assert_int_lt(pex_pool_replenish(&created, f.pool, 1, NULL, NULL), 0);
	ck_assert_uint_eq(created, 0);
	pex_gc_report_init(&gr, PEX_GC_REPORT_VERSION);
	ck_assert_int_lt(pex_gc_sweep(&gr, f.pool, &go, NULL, NULL), 0);
	ck_assert_uint_eq(gr.failed, 1);
	/* pex_metrics_get itself fails while Pexip does */
	ck_assert_int_eq(pex_metrics_get(&m, f.pool), PEX_EHTTP);
	faults(&f, "{\"permanent_status\": 0}");

	/* live: two pool-prefixed conferences and one other */
	ck_assert_int_eq(emu_ctl(&f.e, "POST", "/_emu/conference/start", "{\"name\": \"mx_live_a\"}", NULL), 200);
	ck_assert_int_eq(emu_ctl(&f.e, "POST", "/_emu/conference/start",
		"{\"name\": \"mx_live_b\", \"participants\": 3}", NULL), 200);
	ck_assert_int_eq(emu_ctl(&f.e, "POST", "/_emu/conference/start", "{\"name\": \"other_live\"}", NULL), 200);

	memset(&m, 0xff, sizeof(m));
	m.version = PEX_METRICS_VERSION;
	ck_assert_msg(pex_metrics_get(&m, f.pool) == 0, "%s", pex_error_last()->message);
	memset(&w, 0, sizeof(w));
	w.pool_depth = 3;             /* 5 made, 2 handed out; the failed pop gave its room back */
	w.deletion_backlog = 1;       /* mx_doomed, waiting for a retry */
	w.live_conferences = 2;       /* mx_live_a, mx_live_b */
	w.pexip_pool_rooms = 3;       /* the 3 pool rooms left (the handed-out ones were deleted) */
	w.pops = 2;
	w.pop_failures = 1;
	w.replenished = 5;
	w.replenish_failures = 1;
	w.deleted = 2;
	w.delete_failures = 1;
	w.events = 5;
	w.events_unknown = 1;
	w.events_foreign = 1;        /* other_room */
	w.target_depth = 20;         /* pool.depth: max_depth is off */
	/* 3 rooms asked for (2 hand-outs and the failed pop: demand the pool
	 * did not meet is demand too): at most 3/tau per second (the fast
	 * average's tau), decaying since; 3 ready rooms last 3 / rate s (5 s
	 * at tau = 5 s, a little more as the rate decays) */
	ck_assert(m.demand_rate > 0 && m.demand_rate <= 3.0 / f.pool->sz.tau_fast);
	ck_assert_int_ge(m.empty_in_s, (long long)(3 * f.pool->sz.tau_fast / 3));
	w.demand_rate = m.demand_rate;
	w.empty_in_s = m.empty_in_s;
	ck_assert_int_eq(m.target_depth, w.target_depth);
	ck_assert_uint_eq(m.shrunk, 0);
	ck_assert_int_eq(m.pool_depth, w.pool_depth);
	ck_assert_int_eq(m.deletion_backlog, w.deletion_backlog);
	ck_assert_int_eq(m.live_conferences, w.live_conferences);
	ck_assert_int_eq(m.pexip_pool_rooms, w.pexip_pool_rooms);
	ck_assert_uint_eq(m.pops, w.pops);
	ck_assert_uint_eq(m.pop_failures, w.pop_failures);
	ck_assert_uint_eq(m.replenished, w.replenished);
	ck_assert_uint_eq(m.replenish_failures, w.replenish_failures);
	ck_assert_uint_eq(m.deleted, w.deleted);
	ck_assert_uint_eq(m.delete_failures, w.delete_failures);
	ck_assert_uint_eq(m.events, w.events);
	ck_assert_uint_eq(m.events_unknown, w.events_unknown);
	ck_assert_uint_eq(m.events_foreign, w.events_foreign);
	check_formats(&m, &w);
	ck_assert(room_exists(&f, "other_room"));
	fx_close(&f);
}
END_TEST

/* the formats on their own: large values, and every row distinct */
START_TEST(test_metrics_format_values)
{
	pex_metrics m = PEX_METRICS_INIT;
	want_metrics w = { 11, 24, 12, 13, 9007199254740993LL, 15, 16, 17, 18, 19, 20,
		18446744073709551615ULL / 2, 22, 23, 25, 26, 27, 1.25 };
	pex_buf out = PEX_BUF_INIT;
	pex_metrics_init(&m, PEX_METRICS_VERSION);
	m.pool_depth = w.pool_depth;
	m.pool_maturing = w.pool_maturing;
	m.deletion_backlog = w.deletion_backlog;
	m.live_conferences = w.live_conferences;
	m.pexip_pool_rooms = w.pexip_pool_rooms;
	m.pops = w.pops;
	m.pop_failures = w.pop_failures;
	m.replenished = w.replenished;
	m.replenish_failures = w.replenish_failures;
	m.deleted = w.deleted;
	m.delete_failures = w.delete_failures;
	m.events = w.events;
	m.events_unknown = w.events_unknown;
	m.events_foreign = w.events_foreign;
	m.target_depth = w.target_depth;
	m.empty_in_s = w.empty_in_s;
	m.shrunk = w.shrunk;
	m.demand_rate = w.demand_rate;
	check_formats(&m, &w);
	ck_assert_int_eq(pex_metrics_format_write(NULL, &m, PEX_METRICS_JSON), PEX_EINVAL);
	ck_assert_int_eq(pex_metrics_format_write(&out, NULL, PEX_METRICS_JSON), PEX_EINVAL);
	pex_buf_dispose(&out);
}
END_TEST

/* ---- rooms held ahead of pops (pex_pool_prefetch) ---- */

/* The names of the pool messages now visible, in order (at most 32). */
static size_t pool_names(fx *f, char names[][128], size_t max)
{
	pex_message **m = NULL;
	size_t n = 0, i;
	ck_assert_int_eq(pex_queue_peek(&m, &n, f->pq, 32), 0);
	for (i = 0; i < n && i < max; i++) {
		struct pex__room_ref ref;
		memset(&ref, 0, sizeof(ref));
		ck_assert_int_eq(pex__poolmsg_decode(&ref, m[i]->data, m[i]->len), 0);
		snprintf(names[i], 128, "%s", ref.name);
		pex__room_ref_dispose(&ref);
	}
	pex_message_array_free(m, n);
	return n < max ? n : max;
}

static int in_names(char names[][128], size_t n, const char *name)
{
	size_t i;
	for (i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return 1;
	return 0;
}

/* Held rooms leave the queue, count as the pool's, and a pop hands one out
 * with the PATCH alone: one Pexip request, no queue operation. */
START_TEST(test_prefetch_pop)
{
	fx f;
	pex_pool_room *r = NULL;
	pex_metrics m = PEX_METRICS_INIT;
	char all[4][128], left[4][128];
	long long before;
	size_t i, created = 0;

	fx_open(&f, "vmr_");
	for (i = 0; i < 4; i++)
		add_pool_room(&f, all[i], sizeof(all[i]));
	ck_assert_int_eq(prefetch_n(f.pool, PEX_POOL_PREFETCH_MAX + 1), PEX_EINVAL);
	ck_assert_int_eq(prefetch_n(f.pool, 2), 2);
	ck_assert_uint_eq(held_n(f.pool), 2);
	ck_assert_uint_eq(qcount(f.pq), 2);                /* off the queue... */
	ck_assert_uint_eq(pool_names(&f, left, 4), 2);
	ck_assert_str_eq(left[0], all[2]);                 /* the first two were taken */
	ck_assert_str_eq(left[1], all[3]);
	pex_metrics_init(&m, PEX_METRICS_VERSION);
	ck_assert_int_eq(pex_metrics_get(&m, f.pool), 0);
	ck_assert_int_eq(m.pool_depth, 4);                 /* ...but still the pool's */
	ck_assert_int_eq(pex_pool_fill(&created, f.pool, 4, NULL, NULL), 0);
	ck_assert_uint_eq(created, 0);
	ck_assert_int_eq(prefetch_n(f.pool, 2), 2);  /* already held: nothing taken */
	ck_assert_uint_eq(qcount(f.pq), 2);

	before = emu_stat(&f.e, "requests");
	ck_assert_msg(pex_pool_pop(&r, f.pool, UUI_HI, NULL) == 0, "%s", pex_error_last()->message);
	/* one Pexip request: the PATCH (the emulator does not count its stats) */
	ck_assert_int_eq(emu_stat(&f.e, "requests") - before, 1);
	ck_assert_str_eq(r->name, all[0]);
	ck_assert_str_eq(r->tag, TAG_HI);
	ck_assert_ptr_nonnull(r->guest_pin);
	ck_assert_int_gt((int)strlen(r->guest_pin), 0);
	ck_assert_int_gt((int)strlen(r->alias), 0);
	ck_assert_int_gt((int)r->id, 0);
	ck_assert_str_eq(room_tag(&f, all[0]), TAG_HI);
	pex_pool_room_free(r);
	ck_assert_uint_eq(held_n(f.pool), 1);
	ck_assert_uint_eq(qcount(f.pq), 2);
	ck_assert_uint_eq(atomic_load(&f.pool->pops), 1);

	/* the next held one, then the queue's, in order; nobody gets one twice */
	ck_assert_int_eq(pex_pool_pop(&r, f.pool, UUI_HI, NULL), 0);
	ck_assert_str_eq(r->name, all[1]);
	pex_pool_room_free(r);
	ck_assert_int_eq(pex_pool_pop(&r, f.pool, UUI_HI, NULL), 0);
	ck_assert_str_eq(r->name, all[2]);
	pex_pool_room_free(r);
	ck_assert_uint_eq(qcount(f.pq), 1);

	/* n = 0 puts held rooms back */
	ck_assert_int_eq(prefetch_n(f.pool, 1), 1);
	ck_assert_uint_eq(qcount(f.pq), 0);
	ck_assert_int_eq(prefetch_n(f.pool, 0), 0);
	ck_assert_uint_eq(held_n(f.pool), 0);
	ck_assert_uint_eq(pool_names(&f, left, 4), 1);
	ck_assert_str_eq(left[0], all[3]);
	/* an empty queue: nothing held, no error */
	ck_assert_int_eq(pex_pool_pop(&r, f.pool, UUI_HI, NULL), 0);
	pex_pool_room_free(r);
	ck_assert_int_eq(prefetch_n(f.pool, 3), 0);
	ck_assert_int_eq(pex_pool_pop(&r, f.pool, UUI_HI, NULL), PEX_EEMPTY);
	fx_close(&f);
}
END_TEST

/* A held room Pexip no longer has is dropped and the next one handed out;
 * a held room whose PATCH fails goes back to the queue. */
START_TEST(test_prefetch_gone_and_failed)
{
	fx f;
	pex_pool_room *r = NULL;
	char a[128], b[128], c[128], left[4][128], want[256];

	fx_open(&f, "vmr_");
	add_pool_room(&f, a, sizeof(a));
	add_pool_room(&f, b, sizeof(b));
	add_pool_room(&f, c, sizeof(c));
	ck_assert_int_eq(prefetch_n(f.pool, 2), 2);
	delete_out_of_band(&f, a);
	ck_assert_msg(pex_pool_pop(&r, f.pool, UUI_HI, NULL) == 0, "%s", pex_error_last()->message);
	ck_assert_str_eq(r->name, b);
	pex_pool_room_free(r);
	snprintf(want, sizeof(want), "[warn] pool room %s is gone from Pexip; dropped", a);
	ck_assert_msg(logged(want), "no log line '%s' in:\n%s", want, log_text);

	/* held c, a PATCH that fails: the pop fails naming the room, c is back */
	ck_assert_int_eq(prefetch_n(f.pool, 1), 1);
	ck_assert_uint_eq(qcount(f.pq), 0);
	faults(&f, "{\"permanent_status\": 500}");
	ck_assert_int_eq(pex_pool_pop(&r, f.pool, UUI_HI, NULL), PEX_EHTTP);
	ck_assert_ptr_null(r);
	snprintf(want, sizeof(want), "tagging pool room %s: ", c);
	ck_assert_msg(strstr(pex_error_last()->message, want) == pex_error_last()->message,
		"message '%s' does not start with '%s'", pex_error_last()->message, want);
	ck_assert_uint_eq(held_n(f.pool), 0);
	ck_assert_uint_eq(pool_names(&f, left, 4), 1);
	ck_assert_str_eq(left[0], c);
	faults(&f, "{\"permanent_status\": 0}");
	ck_assert_str_eq(room_tag(&f, c), "");
	ck_assert_int_eq(pex_pool_pop(&r, f.pool, UUI_HI, NULL), 0);
	ck_assert_str_eq(r->name, c);
	pex_pool_room_free(r);
	fx_close(&f);
}
END_TEST

/* Held rooms go back to the queue when the pool is freed or drained, and
 * this process's orphan sweep never takes them for orphans. */
START_TEST(test_prefetch_free_drain_orphans)
{
	fx f;
	pex_pool *p2 = NULL;
	pex_pool_options po = PEX_POOL_OPTIONS_INIT;
	pex_gc_options go = PEX_GC_OPTIONS_INIT;
	pex_gc_report rep = PEX_GC_REPORT_INIT;
	char names[3][128], left[4][128];
	size_t i, drained = 0;

	fx_open(&f, "vmr_");
	for (i = 0; i < 3; i++)
		add_pool_room(&f, names[i], sizeof(names[i]));

	/* free: back on the queue */
	po.name_prefix = "vmr_";
	po.ready_after_s = 0;
	ck_assert_int_eq(pex_pool_new(&p2, f.c, f.pq, f.dq, &po), 0);
	ck_assert_int_eq(prefetch_n(p2, 2), 2);
	ck_assert_uint_eq(qcount(f.pq), 1);
	pex_pool_free(p2);
	ck_assert_uint_eq(pool_names(&f, left, 4), 3);
	for (i = 0; i < 3; i++)
		ck_assert(in_names(left, 3, names[i]));

	/* orphan sweep of the same process, every room old enough: held rooms
	 * and queued rooms alike are the pool's */
	po.orphan_max_age_s = 0;
	ck_assert_int_eq(pex_pool_new(&p2, f.c, f.pq, f.dq, &po), 0);
	ck_assert_int_eq(prefetch_n(p2, 2), 2);
	go.orphans = 1;
	pex_gc_report_init(&rep, PEX_GC_REPORT_VERSION);
	pex__sleep_ms(1100);
	ck_assert_msg(pex_gc_sweep(&rep, p2, &go, NULL, NULL) == 0, "%s", pex_error_last()->message);
	ck_assert_uint_eq(rep.orphans_found, 0);
	for (i = 0; i < 3; i++)
		ck_assert(room_exists(&f, names[i]));

	/* drain with delete: the held rooms too */
	ck_assert_int_eq(pex_pool_drain(&drained, p2, 1, NULL, NULL), 0);
	ck_assert_uint_eq(drained, 3);
	ck_assert_uint_eq(held_n(p2), 0);
	for (i = 0; i < 3; i++)
		ck_assert(!room_exists(&f, names[i]));
	pex_pool_free(p2);
	fx_close(&f);
}
END_TEST

/* The names of the rooms @p p holds, in order (at most 4). */
static size_t held_names(pex_pool *p, char names[][128])
{
	size_t i, n;
	pthread_mutex_lock(&p->held_lock);
	n = p->nheld < 4 ? p->nheld : 4;
	for (i = 0; i < n; i++)
		snprintf(names[i], 128, "%s", p->held[i].ref.name);
	pthread_mutex_unlock(&p->held_lock);
	return n;
}

/* The pool's maintenance timer rotates held rooms with no caller activity:
 * rooms held past the hold limit go back to the queue and fresh ones are
 * held instead (as many as were held), without a pex_pool_prefetch() call.
 * The held rooms are made old by hand rather than waiting for the limit. */
START_TEST(test_timer_rotates_held)
{
	fx f;
	char names[3][128], held[4][128], left[4][128];
	unsigned long long t0;
	size_t i, nh, nq;

	fx_open(&f, "vmr_");
	for (i = 0; i < 3; i++)
		add_pool_room(&f, names[i], sizeof(names[i]));
	ck_assert_int_eq(prefetch_n(f.pool, 2), 2);
	ck_assert_uint_eq(held_names(f.pool, held), 2);
	ck_assert_str_eq(held[0], names[0]);
	ck_assert_str_eq(held[1], names[1]);

	/* both held rooms past the hold limit; ticks every 10 ms */
	pthread_mutex_lock(&f.pool->held_lock);
	for (i = 0; i < f.pool->nheld; i++)
		f.pool->held[i].held_at -= PEX__POOL_HOLD_MAX_S + 1;
	pthread_mutex_unlock(&f.pool->held_lock);
	t0 = pex__pool_maintenance_ticks(f.pool);
	pex__pool_maintenance_set(f.pool, 10, PEX__POOL_HOLD_MAX_S);
	/* a tick that began before the change ends by t0 + 1; t0 + 2 saw it */
	while (pex__pool_maintenance_ticks(f.pool) < t0 + 2)
		pex__sleep_ms(5);

	/* as many held as before, the third room among them; one went back */
	nh = held_names(f.pool, held);
	nq = pool_names(&f, left, 4);
	ck_assert_uint_eq(nh, 2);
	ck_assert_uint_eq(nq, 1);
	ck_assert_msg(in_names(held, nh, names[2]), "%s is not held: %s, %s", names[2], held[0], held[1]);
	ck_assert(in_names(left, nq, names[0]) || in_names(left, nq, names[1]));
	for (i = 0; i < 3; i++) {
		ck_assert(in_names(held, nh, names[i]) != in_names(left, nq, names[i]));
		ck_assert(room_exists(&f, names[i]));
	}
	ck_assert_uint_eq(atomic_load(&f.pool->pops), 0);
	fx_close(&f);
}
END_TEST

/* pex_pool_new refuses an orphan age that would let an orphan sweep take
 * rooms a live pool holds, naming both keys, and accepts 0 (no limit). */
START_TEST(test_pool_new_orphan_age_rule)
{
	fx f;
	pex_pool *p2 = NULL;
	pex_pool_options po = PEX_POOL_OPTIONS_INIT;

	fx_open(&f, "vmr_");
	po.orphan_max_age_s = 3960;
	ck_assert_int_eq(pex_pool_new(&p2, f.c, f.pq, f.dq, &po), PEX_EINVAL);
	ck_assert_ptr_null(p2);
	ck_assert_msg(strstr(pex_error_last()->message, "gc.orphan_max_age_s (3960) must be 0 or more than "
		"pool.ready_after_s (60) + 3900 s = 3960 s") == pex_error_last()->message, "%s",
		pex_error_last()->message);
	po.orphan_max_age_s = 3961;
	ck_assert_int_eq(pex_pool_new(&p2, f.c, f.pq, f.dq, &po), 0);
	pex_pool_free(p2);
	po.orphan_max_age_s = 0;
	ck_assert_int_eq(pex_pool_new(&p2, f.c, f.pq, f.dq, &po), 0);
	pex_pool_free(p2);
	fx_close(&f);
}
END_TEST

/* ---- a room on its way between the queue and the held set ---- */

/* The test backend (tests/queue/testbackend.h) with a gate: armed for
 * "remove" (after the message is gone) or "put" (before it is stored) on
 * the pool queue, the next such call stops there, once, until the test
 * opens the gate. The pool's thread is then between the queue and the held
 * set, for as long as the test looks. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	const char *armed;
	int stopped, open;
} gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0 };

static void gate_pass(const char *op, const char *queue)
{
	pthread_mutex_lock(&gate.lock);
	if (gate.armed && strcmp(gate.armed, op) == 0 && strcmp(queue, "room-creation-queue") == 0) {
		gate.armed = NULL;
		gate.stopped = 1;
		pthread_cond_broadcast(&gate.cond);
		while (!gate.open)
			pthread_cond_wait(&gate.cond, &gate.lock);
		gate.stopped = gate.open = 0;
	}
	pthread_mutex_unlock(&gate.lock);
}

static int gate_put(pex_queue_backend *b, const char *q, const void *d, size_t n, unsigned delay)
{
	gate_pass("put", q);
	return tb_put(b, q, d, n, delay);
}

static int gate_remove(pex_queue_backend *b, const char *q, const pex_message *m)
{
	int err = tb_remove(b, q, m);
	gate_pass("remove", q);
	return err;
}

static pex_queue_backend *gate_backend(void)
{
	pex_queue_backend *b = NULL;
	ck_assert_int_eq(tb_factory(&b, "", NULL), 0);
	ck_assert(b->caps & PEX_QUEUE_CAP_THREADSAFE);   /* a stopped call holds no queue lock */
	b->put = gate_put;
	b->remove = gate_remove;
	return b;
}

/* Arm the gate for @p op, start @p fn on a thread, and wait until that
 * thread stops at the gate (a state: the backend says so). */
static void gate_stop_in(pthread_t *th, const char *op, void *(*fn)(void *), void *arg)
{
	pthread_mutex_lock(&gate.lock);
	gate.armed = op;
	pthread_mutex_unlock(&gate.lock);
	ck_assert_int_eq(pthread_create(th, NULL, fn, arg), 0);
	pthread_mutex_lock(&gate.lock);
	while (!gate.stopped)
		pthread_cond_wait(&gate.cond, &gate.lock);
	pthread_mutex_unlock(&gate.lock);
}

static void gate_open(pthread_t th)
{
	pthread_mutex_lock(&gate.lock);
	gate.open = 1;
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.lock);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
}

typedef struct prefetch_req {
	pex_pool *pool;
	unsigned n;
	int err;
} prefetch_req;

static void *prefetch_main(void *x)
{
	prefetch_req *r = x;
	r->err = pex_pool_prefetch(NULL, r->pool, r->n);
	return NULL;
}

static long long local_depth(pex_pool *p)
{
	pex_metrics m = PEX_METRICS_INIT;
	ck_assert_msg(pex_metrics_get_local(&m, p) == 0, "%s", pex_error_last()->message);
	return m.pool_depth;
}

/* A prefetch to @p n held rooms (of the pool's 2), stopped by the gate at
 * @p op: pex_metrics_get_local's pool_depth counts 2 there, while a room
 * is in neither the queue nor the held set, and 2 once it is done. */
static void depth_across_move(fx *f, const char *op, unsigned n)
{
	prefetch_req r = { f->pool, n, -1 };
	size_t held = 99;
	pthread_t th;

	gate_stop_in(&th, op, prefetch_main, &r);
	ck_assert_int_eq(local_depth(f->pool), 2);
	gate_open(th);
	ck_assert_int_eq(r.err, 0);
	ck_assert_int_eq(pex_pool_held(&held, f->pool), 0);
	ck_assert_uint_eq(held, n);
	ck_assert_uint_eq(qcount(f->pq), 2 - n);
	ck_assert_int_eq(local_depth(f->pool), 2);
}

/* The local pool depth never misses a room a prefetch moves off the queue
 * into the held set, or back. */
START_TEST(test_metrics_depth_while_holding)
{
	size_t n = 0;
	fx f;

	g_backend = gate_backend();
	fx_open(&f, "mh_");
	ck_assert_msg(pex_pool_replenish(&n, f.pool, 2, NULL, NULL) == 0, "%s", pex_error_last()->message);
	ck_assert_int_eq(local_depth(f.pool), 2);
	/* off the queue (its message deleted), not held yet */
	depth_across_move(&f, "remove", 1);
	/* out of the held set, not on the queue yet */
	depth_across_move(&f, "put", 0);
	fx_close(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pool");
	TCase *pop = tcase_create("pop"), *met = tcase_create("metrics");
	SRunner *sr;
	int failed;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	pex_global_init();
	tcase_set_timeout(pop, 120);
	tcase_set_timeout(met, 120);
	tcase_add_test(pop, test_pop_room_gone);
	tcase_add_test(pop, test_pop_bare_name_gone);
	tcase_add_test(pop, test_pop_patch_503_beyond_retries);
	tcase_add_test(pop, test_pop_patch_permanent_500);
	tcase_add_test(pop, test_worker_errors_reach_the_caller);
	tcase_add_test(pop, test_pop_patch_unsure_delayed);
	tcase_add_test(pop, test_pop_slow_patch_keeps_tags);
	tcase_add_test(pop, test_pop_waits_for_replication);
	tcase_add_test(pop, test_pop_bare_names);
	tcase_add_test(pop, test_prefetch_pop);
	tcase_add_test(pop, test_pop_waits_for_room_on_its_way);
	tcase_add_test(pop, test_pops_wait_only_for_rooms_coming);
	tcase_add_test(pop, test_resize_grows_to_shared_target);
	tcase_add_test(pop, test_resize_shrinks_slowly);
	tcase_add_test(pop, test_prefetch_gone_and_failed);
	tcase_add_test(pop, test_prefetch_free_drain_orphans);
	tcase_add_test(pop, test_timer_rotates_held);
	tcase_add_test(pop, test_pool_new_orphan_age_rule);
	tcase_add_test(met, test_metrics_known_values);
	tcase_add_test(met, test_metrics_format_values);
	tcase_add_test(met, test_metrics_depth_while_holding);
	suite_add_tcase(s, pop);
	suite_add_tcase(s, met);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	pex_global_shutdown();
	curl_global_cleanup();
	return failed ? 1 : 0;
}
