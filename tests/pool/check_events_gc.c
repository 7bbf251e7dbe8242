/* Event-sink handling and GC sweeps of the room pool (lib/pool/events.c,
 * gc.c, gc_orphans.c). Event tests need no server (the client is never used);
 * GC tests run against the Pexip emulator (tests/emulator), each with its
 * own emulator, over memory queues. Links the internal library to read the
 * pool's counters. */
#include <check.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "pool/pool_internal.h"
#include "http/http_internal.h"
#include "pexip/client_internal.h"
#include "emu_harness.h"

/* ---- fixture ---- */

static atomic_int info_logs;    /* log lines at info level or above */
static atomic_size_t longest_log; /* the longest line at any level */
static atomic_int warn_logs;    /* log lines at warn level or above */
static char last_warn[1024];    /* the last of them (single-threaded event tests) */

static void log_cb(pex_log_level level, const char *message, void *payload)
{
	size_t len = strlen(message), was = atomic_load(&longest_log);
	(void)payload;
	while (len > was && !atomic_compare_exchange_weak(&longest_log, &was, len))
		;
	if (level <= PEX_LOG_INFO)
		atomic_fetch_add(&info_logs, 1);
	if (level <= PEX_LOG_WARN) {
		atomic_fetch_add(&warn_logs, 1);
		snprintf(last_warn, sizeof(last_warn), "%s", message);
	}
	if (getenv("PEX_TEST_VERBOSE"))
		fprintf(stderr, "[%s] %s\n", pex_log_level_name(level), message);
}

typedef struct fx {
	emu_t e;
	int emu;
	pex_client *c;
	pex_queue *dq, *pq;
	pex_pool *pool;
} fx;

/* Rooms of an older system the pools of these tests adopt (gc.owned_prefixes):
 * the GC tests' names with spaces and commas ("Team Room", "Sales, weekly"). */
static const char *const owned_prefixes[] = { "Team ", "Sales, ", "legacy_", NULL };

/* A pool over fresh memory queues; with_emu starts an emulator for the
 * client, else the client points at a closed port (events need no I/O). */
static void fx_open(fx *f, int with_emu, unsigned gc_delay_s, const char *const *protected_prefixes)
{
	pex_client_options co = PEX_CLIENT_OPTIONS_INIT;
	pex_pool_options po = PEX_POOL_OPTIONS_INIT;
	size_t i;

	memset(f, 0, sizeof(*f));
	atomic_store(&info_logs, 0);
	if (with_emu) {
		ck_assert_int_eq(emu_start(&f->e, NULL), 0);
		f->emu = 1;
		co.url = f->e.url;
	} else {
		co.url = "http://127.0.0.1:9";
	}
	co.username = "admin";
	co.password = "admin";
	co.retries_max = 1;
	co.retry_base_ms = 5;
	co.retry_cap_ms = 50;
	co.log_cb = log_cb;
	co.log_level = getenv("PEX_TEST_VERBOSE") ? PEX_LOG_DEBUG : PEX_LOG_INFO;
	ck_assert_msg(pex_client_new(&f->c, &co) == 0, "%s", pex_error_last()->message);
	ck_assert_int_eq(pex_queue_open(&f->dq, "memory:", "room-deletion-queue"), 0);
	ck_assert_int_eq(pex_queue_open_sibling(&f->pq, f->dq, "room-creation-queue"), 0);
	po.gc_delay_s = gc_delay_s;
	po.ready_after_s = 0;      /* rooms are handed out at once (readiness: check_pool.c) */
	for (i = 0; owned_prefixes[i]; i++)
		po.owned_prefixes[i] = owned_prefixes[i];
	if (protected_prefixes) {
		for (i = 0; protected_prefixes[i]; i++)
			po.protected_prefixes[i] = protected_prefixes[i];
		po.protected_prefixes[i] = NULL;
	}
	ck_assert_msg(pex_pool_new(&f->pool, f->c, f->pq, f->dq, &po) == 0, "%s",
		pex_error_last()->message);
}

static void fx_close(fx *f)
{
	pex_pool_free(f->pool);
	pex_queue_free(f->pq);
	pex_queue_free(f->dq);
	pex_client_free(f->c);
	if (f->emu) {
		emu_stop(&f->e);
		ck_assert_int_eq(f->e.exit_status, 0);
	}
}

static size_t qcount(pex_queue *q)
{
	size_t n = 99999;
	ck_assert_int_eq(pex_queue_count(&n, q), 0);
	return n;
}

/* Visible messages (at most 32). */
static size_t qvisible(pex_queue *q)
{
	pex_message **m = NULL;
	size_t n = 0;
	ck_assert_int_eq(pex_queue_peek(&m, &n, q, 32), 0);
	pex_message_array_free(m, n);
	return n;
}

/* 1 if a visible message of @p q holds exactly @p data. */
static int qhas(pex_queue *q, const char *data)
{
	pex_message **m = NULL;
	size_t n = 0, i;
	int found = 0;
	ck_assert_int_eq(pex_queue_peek(&m, &n, q, 32), 0);
	for (i = 0; i < n; i++)
		if (m[i]->len == strlen(data) && memcmp(m[i]->data, data, m[i]->len) == 0)
			found = 1;
	pex_message_array_free(m, n);
	return found;
}

static int handle(fx *f, const char *body, pex_event_report *r)
{
	return pex_event_handle(r, f->pool, body, strlen(body));
}

static void create_room(fx *f, const char *name)
{
	pex_room_spec s = PEX_ROOM_SPEC_INIT;
	long long id = 0;
	s.name = name;
	ck_assert_msg(pex_room_create(&id, f->c, &s) == 0, "create %s: %s", name, pex_error_last()->message);
}

static int room_exists(fx *f, const char *name)
{
	pex_room *r = NULL;
	int err = pex_room_get_by_name(&r, f->c, name);
	pex_room_free(r);
	ck_assert_msg(err == 0 || err == PEX_ENOTFOUND, "get %s: %s", name, pex_error_last()->message);
	return err == 0;
}

static void emu_json(fx *f, const char *path, const char *fmt, const char *name)
{
	char body[512];
	snprintf(body, sizeof(body), fmt, name);
	ck_assert_int_eq(emu_ctl(&f->e, "POST", path, body, NULL), 200);
}

static void make_live(fx *f, const char *name)
{
	emu_json(f, "/_emu/conference/start", "{\"name\": \"%s\"}", name);
}

static void make_old(fx *f, const char *name)
{
	emu_json(f, "/_emu/conference/set", "{\"name\": \"%s\", \"creation_time\": \"2020-01-01T00:00:00\"}", name);
}

static void schedule(fx *f, const char *name)
{
	ck_assert_msg(pex_gc_schedule_delete(f->pool, name, 0) == 0, "%s", pex_error_last()->message);
}

static void ck_report(const pex_gc_report *r, size_t deleted, size_t postponed, size_t prot,
	size_t gone, size_t failed)
{
	ck_assert_uint_eq(r->deleted, deleted);
	ck_assert_uint_eq(r->postponed_live, postponed);
	ck_assert_uint_eq(r->skipped_protected, prot);
	ck_assert_uint_eq(r->already_gone, gone);
	ck_assert_uint_eq(r->failed, failed);
}

/* ---- events ---- */

#define ENDED_V(ver, node, name) "{\"node\": \"" node "\", \"seq\": 7, \"version\": " #ver \
	", \"time\": 1741679792.93, \"event\": \"conference_ended\", \"data\": {\"name\": \"" name \
	"\", \"service_type\": \"conference\", \"tag\": \"\", \"is_started\": true, \"is_locked\": false," \
	" \"guests_muted\": false, \"start_time\": 1741679000.5, \"end_time\": 1741679792.9}}"

START_TEST(test_event_single_v1)
{
	fx f;
	pex_event_report r = PEX_EVENT_REPORT_INIT;

	fx_open(&f, 0, 0, NULL);
	ck_assert_int_eq(handle(&f, ENDED_V(1, "10.0.0.1", "vmr_one"), &r), 0);
	ck_assert_uint_eq(r.events, 1);
	ck_assert_uint_eq(r.scheduled, 1);
	ck_assert_uint_eq(r.ignored + r.unknown + r.protected_skipped, 0);
	ck_assert_uint_eq(qcount(f.dq), 1);
	ck_assert(qhas(f.dq, "vmr_one"));          /* the bare name, due now (delay 0) */
	ck_assert_uint_eq(qcount(f.pq), 0);
	ck_assert_uint_eq(atomic_load(&f.pool->events), 1);
	/* report may be NULL */
	ck_assert_int_eq(handle(&f, ENDED_V(1, "10.0.0.1", "vmr_two"), NULL), 0);
	ck_assert_uint_eq(qcount(f.dq), 2);
	fx_close(&f);
}
END_TEST

START_TEST(test_event_single_v2_delay)
{
	fx f;
	pex_event_report r = PEX_EVENT_REPORT_INIT;

	fx_open(&f, 0, 600, NULL);
	ck_assert_int_eq(handle(&f, ENDED_V(2, "10.0.0.2", "vmr_v2"), &r), 0);
	ck_assert_uint_eq(r.scheduled, 1);
	ck_assert_uint_eq(qcount(f.dq), 1);
	ck_assert_uint_eq(qvisible(f.dq), 0);      /* due in gc_delay_s */
	/* a conference_started / participant event does nothing */
	ck_assert_int_eq(handle(&f, "{\"node\": \"n\", \"seq\": 1, \"version\": 2, \"time\": 1.5, "
		"\"event\": \"conference_started\", \"data\": {\"name\": \"vmr_v2\"}}", &r), 0);
	ck_assert_uint_eq(r.ignored, 1);
	ck_assert_int_eq(handle(&f, "{\"event\": \"participant_connected\", \"version\": 2, "
		"\"data\": {\"conference\": \"vmr_v2\", \"uuid\": \"u\"}}", &r), 0);
	ck_assert_uint_eq(r.ignored, 1);
	ck_assert_uint_eq(qcount(f.dq), 1);
	fx_close(&f);
}
END_TEST

START_TEST(test_event_bulk_mixed)
{
	fx f;
	pex_event_report r = PEX_EVENT_REPORT_INIT;
	const char *body =
		"{\"event\": \"eventsink_bulk\", \"node\": \"127.0.0.1\", \"seq\": 0, \"version\": 2, "
		"\"time\": 1741679796.95, \"data\": ["
		"{\"event\": \"participant_connected\", \"node\": \"10.44.34.14\", \"seq\": 2183, \"version\": 2, "
		"  \"time\": 1741679792.93, \"data\": {\"conference\": \"vmr_x\", \"has_media\": true}},"
		"{\"event\": \"conference_started\", \"node\": \"10.44.34.14\", \"seq\": 2184, \"version\": 2,"
		"  \"time\": 1.0, \"data\": {\"name\": \"vmr_x\"}},"
		ENDED_V(2, "10.44.34.14", "vmr_x") ","
		ENDED_V(2, "10.44.34.15", "vmr_x") ","          /* second node: deduped */
		ENDED_V(2, "10.44.34.14", "vmr_y") ","
		ENDED_V(2, "10.44.34.14", "test_z") ","         /* protected */
		"{\"event\": \"conference_teleported\", \"data\": {\"name\": \"vmr_q\"}},"
		"{\"event\": \"eventsink_updated\", \"data\": {}},"
		"{\"event\": \"participant_media_streams_destroyed\", \"data\": {\"conference\": \"vmr_x\"}}"
		"]}";

	fx_open(&f, 0, 0, NULL);
	ck_assert_msg(handle(&f, body, &r) == 0, "%s", pex_error_last()->message);
	ck_assert_uint_eq(r.events, 9);
	ck_assert_uint_eq(r.scheduled, 2);
	ck_assert_uint_eq(r.protected_skipped, 1);
	ck_assert_uint_eq(r.unknown, 1);
	ck_assert_uint_eq(r.ignored, 5);   /* participant x2, started, duplicate, lifecycle */
	ck_assert_uint_eq(r.events, r.scheduled + r.protected_skipped + r.ignored + r.unknown);
	ck_assert_uint_eq(qcount(f.dq), 2);
	ck_assert(qhas(f.dq, "vmr_x"));
	ck_assert(qhas(f.dq, "vmr_y"));
	ck_assert_uint_eq(atomic_load(&f.pool->events), 9);
	ck_assert_uint_eq(atomic_load(&f.pool->events_unknown), 1);
	/* the same payload again: not deduplicated across payloads (GC copes) */
	ck_assert_int_eq(handle(&f, body, &r), 0);
	ck_assert_uint_eq(qcount(f.dq), 4);
	/* an empty bulk is fine */
	ck_assert_int_eq(handle(&f, "{\"event\": \"eventsink_bulk\", \"data\": []}", &r), 0);
	ck_assert_uint_eq(r.events, 0);
	fx_close(&f);
}
END_TEST

START_TEST(test_event_bulk_large_dedupe)
{
	fx f;
	pex_event_report r = PEX_EVENT_REPORT_INIT;
	pex_buf b = PEX_BUF_INIT;
	int i;

	fx_open(&f, 0, 0, NULL);
	ck_assert_int_eq(pex__buf_puts(&b, "{\"event\": \"eventsink_bulk\", \"version\": 2, \"data\": ["), 0);
	for (i = 0; i < 2000; i++)
		ck_assert_int_eq(pex__buf_printf(&b, "%s{\"event\": \"conference_ended\", \"node\": \"10.0.0.%d\", "
			"\"data\": {\"name\": \"vmr_%04d\"}}", i ? "," : "", i % 2, i / 2), 0);
	ck_assert_int_eq(pex__buf_puts(&b, "]}"), 0);
	ck_assert_int_eq(pex_event_handle(&r, f.pool, b.ptr, b.size), 0);
	ck_assert_uint_eq(r.events, 2000);
	ck_assert_uint_eq(r.scheduled, 1000);
	ck_assert_uint_eq(r.ignored, 1000);
	ck_assert_uint_eq(qcount(f.dq), 1000);
	pex_buf_dispose(&b);
	fx_close(&f);
}
END_TEST

START_TEST(test_event_lifecycle)
{
	static const char *const bodies[] = {
		("{\"node\": \"10.44.99.2\", \"seq\": 1, \"version\": 2, \"time\": 1559897774.520606, "
		 "\"event\": \"eventsink_started\", \"data\": {}}"),
		"{\"event\": \"eventsink_updated\", \"version\": 2, \"data\": {}}",
		"{\"event\": \"eventsink_stopped\", \"version\": 1, \"data\": {}}",
		"{\"event\": \"eventsink_ended\", \"version\": 2, \"data\": {}}",
		"{\"event\": \"eventsink_ended\", \"version\": 2}",            /* no data: tolerated */
		"{\"event\": \"eventsink_ended\", \"data\": null}",
	};
	fx f;
	pex_event_report r = PEX_EVENT_REPORT_INIT;
	size_t i;

	fx_open(&f, 0, 0, NULL);
	for (i = 0; i < PEX__ARRAY_SIZE(bodies); i++) {
		ck_assert_msg(handle(&f, bodies[i], &r) == 0, "%s: %s", bodies[i], pex_error_last()->message);
		ck_assert_uint_eq(r.events, 1);
		ck_assert_uint_eq(r.ignored, 1);
	}
	ck_assert_uint_eq(qcount(f.dq), 0);
	fx_close(&f);
}
END_TEST

START_TEST(test_event_unknown)
{
	fx f;
	pex_event_report r = PEX_EVENT_REPORT_INIT;

	fx_open(&f, 0, 0, NULL);
	/* unknown events are never an error, whatever their data */
	ck_assert_int_eq(handle(&f, "{\"event\": \"future_event\", \"data\": [1, 2]}", &r), 0);
	ck_assert_uint_eq(r.events, 1);
	ck_assert_uint_eq(r.unknown, 1);
	ck_assert_int_eq(handle(&f, "{\"event\": \"\"}", &r), 0);
	ck_assert_uint_eq(r.unknown, 1);
	ck_assert_int_eq(handle(&f, "{\"event\": \"eventsink_bulk\", \"data\": [{\"event\": \"x\"}, "
		"{\"event\": \"y\\u0001\\n\", \"data\": 3}]}", &r), 0);
	ck_assert_uint_eq(r.unknown, 2);
	ck_assert_uint_eq(atomic_load(&f.pool->events), 4);
	ck_assert_uint_eq(atomic_load(&f.pool->events_unknown), 4);
	ck_assert_uint_eq(qcount(f.dq), 0);
	fx_close(&f);
}
END_TEST

START_TEST(test_event_protected)
{
	static const char *const prot[] = { "keep-", "vmr_vip_", NULL };
	fx f;
	pex_event_report r = PEX_EVENT_REPORT_INIT;

	fx_open(&f, 0, 0, NULL);   /* defaults: test_, vkiosk_ */
	ck_assert_int_eq(handle(&f, ENDED_V(2, "n", "test_room"), &r), 0);
	ck_assert_uint_eq(r.protected_skipped, 1);
	ck_assert_int_eq(handle(&f, ENDED_V(2, "n", "vkiosk_7"), &r), 0);
	ck_assert_uint_eq(r.protected_skipped, 1);
	ck_assert_uint_eq(r.scheduled, 0);
	ck_assert_uint_eq(qcount(f.dq), 0);
	fx_close(&f);

	fx_open(&f, 0, 0, prot);
	ck_assert_int_eq(handle(&f, ENDED_V(2, "n", "vmr_vip_1"), &r), 0);
	ck_assert_uint_eq(r.protected_skipped, 1);
	/* not protected here, and not the pool's either (no pool prefix) */
	ck_assert_int_eq(handle(&f, ENDED_V(2, "n", "test_room"), &r), 0);
	ck_assert_uint_eq(r.protected_skipped, 0);
	ck_assert_uint_eq(r.foreign, 1);
	ck_assert_uint_eq(qcount(f.dq), 0);
	fx_close(&f);
}
END_TEST

/* Issue 12.1: Pexip sends conference_ended for every service that ends.
 * Only rooms the pool owns are scheduled: pool.name_prefix or a
 * gc.owned_prefixes prefix, and data.service_type (when carried) equal to
 * pool.room.service_type; the rest count as foreign. Protected prefixes
 * win over everything. */
#define ENDED_ST(name, st) "{\"node\": \"10.47.2.21\", \"seq\": 3, \"version\": 1, \"event\": " \
	"\"conference_ended\", \"data\": {\"name\": \"" name "\", \"service_type\": " st "}}"

START_TEST(test_event_foreign)
{
	const char *bulk =
		"{\"event\": \"eventsink_bulk\", \"version\": 2, \"data\": ["
		ENDED_ST("meet.alice", "\"conference\"") ","          /* a permanent VMR */
		ENDED_ST("reception", "\"two_stage_dialing\"") ","    /* a Virtual Reception */
		ENDED_ST("vmr_testcall", "\"test_call\"") ","         /* pool prefix, other service */
		ENDED_ST("vmr_playback", "\"media_playback\"") ","
		ENDED_ST("vmr_gw", "\"gateway\"") ","
		ENDED_ST("vmr_odd", "5") ","                          /* not a string: not ours */
		ENDED_ST("vmr_mine", "\"conference\"") ","            /* ours */
		ENDED_ST("vmr_nulltype", "null") ","                  /* not carried: by name */
		"{\"event\": \"conference_ended\", \"data\": {\"name\": \"vmr_notype\"}},"
		ENDED_ST("legacy_42", "\"conference\"") ","           /* gc.owned_prefixes */
		ENDED_ST("Legacy_43", "\"conference\"") ","           /* prefixes are case-sensitive */
		ENDED_ST("test_call1", "\"test_call\"")               /* protected wins */
		"]}";
	fx f;
	pex_event_report r = PEX_EVENT_REPORT_INIT;
	pex_metrics m = PEX_METRICS_INIT;
	pex_buf out = PEX_BUF_INIT;

	fx_open(&f, 0, 0, NULL);
	ck_assert_msg(handle(&f, bulk, &r) == 0, "%s", pex_error_last()->message);
	ck_assert_uint_eq(r.events, 12);
	ck_assert_uint_eq(r.scheduled, 4);
	ck_assert_uint_eq(r.foreign, 7);
	ck_assert_uint_eq(r.protected_skipped, 1);
	ck_assert_uint_eq(r.events, r.scheduled + r.protected_skipped + r.foreign + r.ignored + r.unknown);
	ck_assert_uint_eq(qcount(f.dq), 4);
	ck_assert(qhas(f.dq, "vmr_mine"));
	ck_assert(qhas(f.dq, "vmr_nulltype"));
	ck_assert(qhas(f.dq, "vmr_notype"));
	ck_assert(qhas(f.dq, "legacy_42"));
	ck_assert_uint_eq(atomic_load(&f.pool->events_foreign), 7);
	/* a single foreign event: 2xx-worthy, counted, nothing enqueued */
	ck_assert_int_eq(handle(&f, ENDED_V(1, "10.47.2.21", "meet.bob"), &r), 0);
	ck_assert_uint_eq(r.foreign, 1);
	ck_assert_uint_eq(r.scheduled, 0);
	ck_assert_uint_eq(qcount(f.dq), 4);
	/* the metric */
	pex_metrics_init(&m, PEX_METRICS_VERSION);
	m.events_foreign = atomic_load(&f.pool->events_foreign);
	ck_assert_int_eq(pex_metrics_format_write(&out, &m, PEX_METRICS_PROMETHEUS), 0);
	ck_assert_ptr_nonnull(strstr(out.ptr, "\npexipsdk_events_foreign_total 8\n"));
	ck_assert_int_eq(pex_metrics_format_write(&out, &m, PEX_METRICS_JSON), 0);
	ck_assert_ptr_nonnull(strstr(out.ptr, "\"events_foreign\": 8"));
	pex_buf_dispose(&out);
	fx_close(&f);
}
END_TEST

/* An empty gc.owned_prefixes entry would make every room the pool's: refused. */
START_TEST(test_owned_prefix_empty)
{
	pex_client_options co = PEX_CLIENT_OPTIONS_INIT;
	pex_pool_options po = PEX_POOL_OPTIONS_INIT;
	pex_client *c = NULL;
	pex_queue *dq = NULL, *pq = NULL;
	pex_pool *pool = NULL;

	co.url = "http://127.0.0.1:9";
	co.username = "admin";
	co.password = "admin";
	ck_assert_int_eq(pex_client_new(&c, &co), 0);
	ck_assert_int_eq(pex_queue_open(&dq, "memory:", "room-deletion-queue"), 0);
	ck_assert_int_eq(pex_queue_open_sibling(&pq, dq, "room-creation-queue"), 0);
	po.owned_prefixes[0] = "old_";
	po.owned_prefixes[1] = "";
	ck_assert_int_eq(pex_pool_new(&pool, c, pq, dq, &po), PEX_EINVAL);
	ck_assert_ptr_nonnull(strstr(pex_error_last()->message, "gc.owned_prefixes[1] is empty"));
	ck_assert_ptr_null(pool);
	/* a version 1 caller (no owned_prefixes member) gets none */
	po.version = 1;
	ck_assert_int_eq(pex_pool_new(&pool, c, pq, dq, &po), 0);
	ck_assert_ptr_null(pool->o.owned_prefixes[0]);
	pex_pool_free(pool);
	pex_queue_free(pq);
	pex_queue_free(dq);
	pex_client_free(c);
}
END_TEST

/* Receivers tolerate partial data (docs/DECISIONS.md #16). Events we only count are
 * never a reason to refuse a payload, so a bulk that carries a partial
 * update still schedules the conference_ended events bundled with it. */
START_TEST(test_event_partial_data)
{
	static const char *const singles[] = {
		"{\"event\": \"conference_updated\", \"data\": {\"is_locked\": true}}",
		"{\"event\": \"conference_updated\"}",
		"{\"event\": \"conference_started\", \"data\": null}",
		"{\"event\": \"conference_started\", \"data\": {\"name\": 5}}",
		"{\"event\": \"conference_updated\", \"data\": {\"name\": \"\"}}",
		"{\"event\": \"participant_connected\", \"data\": []}",
		"{\"event\": \"participant_updated\"}",
		"{\"event\": \"participant_disconnected\", \"data\": {}}",
		"{\"event\": \"participant_media_stream_window\", \"data\": \"x\"}",
		"{\"event\": \"eventsink_started\", \"data\": 5}",
		"{\"event\": \"eventsink_updated\", \"data\": [1]}",
	};
	const char *bulk =
		"{\"event\": \"eventsink_bulk\", \"version\": 2, \"data\": ["
		ENDED_V(2, "10.0.0.1", "vmr_p1") ","
		"{\"event\": \"conference_updated\", \"node\": \"10.0.0.1\", \"data\": {\"is_locked\": true}},"
		"{\"event\": \"participant_updated\", \"node\": \"10.0.0.1\"},"
		"{\"event\": \"conference_started\", \"data\": {}},"
		"{\"event\": \"participant_connected\", \"data\": null},"
		ENDED_V(2, "10.0.0.1", "vmr_p2")
		"]}";
	fx f;
	pex_event_report r = PEX_EVENT_REPORT_INIT;
	size_t i;

	fx_open(&f, 0, 0, NULL);
	for (i = 0; i < PEX__ARRAY_SIZE(singles); i++) {
		ck_assert_msg(handle(&f, singles[i], &r) == 0, "%s: %s", singles[i], pex_error_last()->message);
		ck_assert_uint_eq(r.events, 1);
		ck_assert_uint_eq(r.ignored, 1);
	}
	ck_assert_uint_eq(qcount(f.dq), 0);
	ck_assert_msg(handle(&f, bulk, &r) == 0, "%s", pex_error_last()->message);
	ck_assert_uint_eq(r.events, 6);
	ck_assert_uint_eq(r.scheduled, 2);
	ck_assert_uint_eq(r.ignored, 4);
	ck_assert_uint_eq(r.unknown + r.protected_skipped, 0);
	ck_assert_uint_eq(qcount(f.dq), 2);
	ck_assert(qhas(f.dq, "vmr_p1"));
	ck_assert(qhas(f.dq, "vmr_p2"));
	fx_close(&f);
}
END_TEST

/* Not JSON: refused (PEX_EPARSE), nothing enqueued. */
static const struct {
	const char *body;
	const char *msg;
} not_json[] = {
	{ "{", "not valid JSON" },
	{ "   ", "not valid JSON" },
	{ "{'event': 'conference_ended'}", "not valid JSON at offset 1" },
	{ "{\"event\": \"conference_ended\", \"data\": {\"name\": \"vmr_a\"},}", "not valid JSON" },
	{ "{\"event\": \"conference_ended\", \"data\": {\"name\": \"vmr_a\"}} {}",
	  "data after the document at offset 57" },
	{ "{\"event\": \"conference_ended\", \"data\": {\"name\": \"vmr_\xff\"}}", "not valid JSON" },
	/* json-c's strict mode accepts these; RFC 8259 does not */
	{ "{\"event\": \"conference_ended\", \"time\": NaN, \"data\": {\"name\": \"vmr_a\"}}",
	  "not valid JSON at offset 38: NaN and Infinity are not JSON numbers" },
	{ "[{\"event\": \"x\", \"seq\": -Infinity}]", "NaN and Infinity are not JSON numbers" },
	{ "{\"event\": \"conference_ended\", \"data\": {\"name\": \"vmr_\\ud800\"}}",
	  "at offset 52: a lone high surrogate" },
	{ "{\"event\": \"conference_ended\", \"data\": {\"name\": \"vmr_\\ud800\\u0041\"}}",
	  "a lone high surrogate" },
	{ "{\"event\": \"x\", \"data\": {\"k\": \"\\udc00\"}}", "a lone low surrogate" },
};

/* Valid JSON with items that cannot be used: answered (0), the usable
 * items acted on, the others counted as skipped, one warning naming the
 * first. */
static const struct {
	const char *body;
	size_t events, skipped, scheduled;
	const char *msg;
} unusable[] = {
	{ "[]", 0, 0, 0, NULL },                        /* an empty top-level bulk */
	{ "5\n", 1, 1, 0, "event-sink payload: must be a JSON object, not int" },
	{ "\"vmr_a\"", 1, 1, 0, "must be a JSON object, not string" },
	{ "{\"data\": {}}", 1, 1, 0, "event-sink payload: \"event\" is missing" },
	{ "{\"event\": 5, \"data\": {}}", 1, 1, 0, "\"event\" must be a string, not int" },
	{ "{\"event\": \"conference_ended\"}", 1, 1, 0, "conference_ended: data is missing" },
	{ "{\"event\": \"conference_ended\", \"data\": null}", 1, 1, 0, "conference_ended: data is missing" },
	{ "{\"event\": \"conference_ended\", \"data\": \"vmr_a\"}", 1, 1, 0,
	  "conference_ended: data must be an object, not string" },
	{ "{\"event\": \"conference_ended\", \"data\": {}}", 1, 1, 0, "conference_ended: data.name is missing" },
	{ "{\"event\": \"conference_ended\", \"data\": {\"name\": null}}", 1, 1, 0, "data.name is missing" },
	{ "{\"event\": \"conference_ended\", \"data\": {\"name\": \"\"}}", 1, 1, 0, "data.name is empty" },
	{ "{\"event\": \"conference_ended\", \"data\": {\"name\": 5}}", 1, 1, 0,
	  "data.name must be a string, not int" },
	{ "{\"event\": \"conference_ended\", \"data\": {\"name\": \"vmr\\u0001x\"}}", 1, 1, 0,
	  "data.name has a control character (U+0001) at offset 3" },
	{ "{\"event\": \"conference_ended\", \"data\": {\"name\": \"vmr\\u0000x\"}}", 1, 1, 0,
	  "data.name has a control character (U+0000) at offset 3" },
	{ "{\"event\": \"eventsink_bulk\", \"data\": {}}", 1, 1, 0,
	  "eventsink_bulk: data must be an array, not object" },
	{ "{\"event\": \"eventsink_bulk\"}", 1, 1, 0, "eventsink_bulk: data is missing" },
	/* one bad item in a bulk: the others are scheduled all the same */
	{ "{\"event\": \"eventsink_bulk\", \"data\": [" ENDED_V(2, "a", "vmr_1") "," ENDED_V(2, "a", "vmr_2") ","
	  "{\"event\": \"conference_ended\", \"data\": {\"end_time\": 1.5}}]}", 3, 1, 2,
	  "event 3 of the bulk (data[2], conference_ended): data.name is missing" },
	{ "{\"event\": \"eventsink_bulk\", \"data\": [" ENDED_V(2, "a", "vmr_1") ", \"vmr_2\"]}", 2, 1, 1,
	  "event 2 of the bulk (data[1]): must be a JSON object, not string" },
	{ "{\"event\": \"eventsink_bulk\", \"data\": [" ENDED_V(2, "a", "vmr_1") ", {\"data\": {}}]}", 2, 1, 1,
	  "event 2 of the bulk (data[1]): \"event\" is missing" },
	{ "{\"event\": \"eventsink_bulk\", \"data\": [" ENDED_V(2, "a", "vmr_1") ", "
	  "{\"event\": \"eventsink_bulk\", \"data\": [" ENDED_V(2, "a", "vmr_3") "]}]}", 2, 1, 1,
	  "event 2 of the bulk (data[1], eventsink_bulk): an eventsink_bulk inside a bulk" },
	/* a name over 250 characters beside a good one */
	{ "[" ENDED_V(2, "a", "vmr_1") ", {\"event\": \"conference_ended\", \"data\": {\"name\": \"vmr_"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}}]", 2, 1, 1,
	  "event 2 of the bulk (data[1], conference_ended): data.name is 264 " },
	/* a top-level array of envelopes is a bulk */
	{ "[" ENDED_V(1, "10.47.2.21", "vmr_1") "," ENDED_V(1, "10.47.2.22", "vmr_2") ", 7]", 3, 1, 2,
	  "event 3 of the bulk (data[2]): must be a JSON object, not int" },
};

START_TEST(test_event_malformed)
{
	fx f;
	pex_event_report r = PEX_EVENT_REPORT_INIT;
	size_t i;

	fx_open(&f, 0, 0, NULL);
	for (i = 0; i < PEX__ARRAY_SIZE(not_json); i++) {
		int err;
		memset(&r, 0xff, sizeof(r));
		r.version = PEX_EVENT_REPORT_VERSION;
		err = handle(&f, not_json[i].body, &r);
		ck_assert_msg(err == PEX_EPARSE, "not_json %zu: got %s (%s)", i, pex_error_name(err),
			pex_error_last()->message);
		ck_assert_msg(strstr(pex_error_last()->message, not_json[i].msg) != NULL,
			"not_json %zu: message '%s' lacks '%s'", i, pex_error_last()->message, not_json[i].msg);
		ck_assert_uint_eq(r.events + r.scheduled + r.ignored + r.unknown + r.protected_skipped +
			r.foreign + r.skipped + r.capped, 0);
		ck_assert_uint_eq(qcount(f.dq), 0);
	}
	ck_assert_uint_eq(atomic_load(&f.pool->events), 0);
	for (i = 0; i < PEX__ARRAY_SIZE(unusable); i++) {
		int err;
		atomic_store(&warn_logs, 0);
		last_warn[0] = '\0';
		err = handle(&f, unusable[i].body, &r);
		ck_assert_msg(err == 0, "unusable %zu: got %s (%s)", i, pex_error_name(err),
			pex_error_last()->message);
		ck_assert_msg(r.events == unusable[i].events && r.skipped == unusable[i].skipped &&
			r.scheduled == unusable[i].scheduled, "unusable %zu: events %zu skipped %zu scheduled %zu",
			i, r.events, r.skipped, r.scheduled);
		ck_assert_uint_eq(r.events, r.scheduled + r.protected_skipped + r.foreign + r.ignored +
			r.unknown + r.skipped + r.capped);
		ck_assert_uint_eq(qcount(f.dq), unusable[i].scheduled);
		if (unusable[i].msg) {
			/* one warning for the payload, naming the first unusable item */
			ck_assert_int_eq(atomic_load(&warn_logs), 1);
			ck_assert_msg(strstr(last_warn, unusable[i].msg) != NULL, "unusable %zu: warning '%s' "
				"lacks '%s'", i, last_warn, unusable[i].msg);
		} else {
			ck_assert_int_eq(atomic_load(&warn_logs), 0);
		}
		ck_assert_int_eq(pex_queue_clear(f.dq), 0);
	}
	fx_close(&f);
}
END_TEST

/* One payload schedules at most PEX_EVENT_SCHEDULE_MAX deletions: the rest
 * are counted (capped), logged once, and not enqueued. */
START_TEST(test_event_cap)
{
	fx f;
	pex_event_report r = PEX_EVENT_REPORT_INIT;
	pex_buf b = PEX_BUF_INIT;
	int i, n = PEX_EVENT_SCHEDULE_MAX + 250;

	fx_open(&f, 0, 0, NULL);
	ck_assert_int_eq(pex__buf_puts(&b, "["), 0);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(pex__buf_printf(&b, "%s{\"event\": \"conference_ended\", "
			"\"data\": {\"name\": \"vmr_%05d\"}}", i ? "," : "", i), 0);
	/* repeats of a scheduled name and foreign names are not deletions */
	ck_assert_int_eq(pex__buf_puts(&b, ", {\"event\": \"conference_ended\", \"data\": {\"name\": "
		"\"vmr_00000\"}}, {\"event\": \"conference_ended\", \"data\": {\"name\": \"meet.alice\"}}]"), 0);
	atomic_store(&warn_logs, 0);
	ck_assert_int_eq(pex_event_handle(&r, f.pool, b.ptr, b.size), 0);
	ck_assert_uint_eq(r.events, (size_t)n + 2);
	ck_assert_uint_eq(r.scheduled, PEX_EVENT_SCHEDULE_MAX);
	ck_assert_uint_eq(r.capped, 250);
	ck_assert_uint_eq(r.ignored, 1);
	ck_assert_uint_eq(r.foreign, 1);
	ck_assert_uint_eq(qcount(f.dq), PEX_EVENT_SCHEDULE_MAX);
	ck_assert_int_eq(atomic_load(&warn_logs), 1);
	ck_assert_ptr_nonnull(strstr(last_warn, "more than 1000 deletions"));
	pex_buf_dispose(&b);
	fx_close(&f);
}
END_TEST

START_TEST(test_event_limits)
{
	fx f;
	pex_event_report r = PEX_EVENT_REPORT_INIT;
	static const char with_nul[] = "{\"event\": \"conference_ended\", \"data\": {\"name\": \"vmr_a\"}}\0x";
	size_t big = 4u * 1024 * 1024 + 1;
	char *body;

	fx_open(&f, 0, 0, NULL);
	ck_assert_int_eq(pex_event_handle(&r, f.pool, with_nul, sizeof(with_nul) - 1), PEX_EPARSE);
	ck_assert_ptr_nonnull(strstr(pex_error_last()->message, "NUL byte at offset 56"));
	ck_assert_int_eq(pex_event_handle(&r, f.pool, "", 0), PEX_EPARSE);
	ck_assert_int_eq(pex_event_handle(&r, f.pool, NULL, 0), PEX_EPARSE);
	ck_assert_int_eq(pex_event_handle(&r, f.pool, NULL, 5), PEX_EINVAL);
	ck_assert_int_eq(pex_event_handle(&r, NULL, "{}", 2), PEX_EINVAL);
	/* over 4 MiB: refused before parsing */
	body = malloc(big);
	ck_assert_ptr_nonnull(body);
	memset(body, ' ', big);
	memcpy(body, ENDED_V(2, "a", "vmr_big"), strlen(ENDED_V(2, "a", "vmr_big")));
	ck_assert_int_eq(pex_event_handle(&r, f.pool, body, big), PEX_EINVAL);
	ck_assert_ptr_nonnull(strstr(pex_error_last()->message, "4194305 bytes"));
	/* exactly 4 MiB is accepted (trailing whitespace is fine) */
	ck_assert_int_eq(pex_event_handle(&r, f.pool, body, big - 1), 0);
	ck_assert_uint_eq(r.scheduled, 1);
	free(body);
	/* too deep */
	{
		char deep[400];
		int i, o = 0;
		o += snprintf(deep + o, sizeof(deep) - (size_t)o, "{\"event\": \"x\", \"data\": ");
		for (i = 0; i < 70; i++)
			deep[o++] = '[';
		for (i = 0; i < 70; i++)
			deep[o++] = ']';
		deep[o++] = '}';
		deep[o] = '\0';
		ck_assert_int_eq(handle(&f, deep, &r), PEX_EPARSE);
	}
	ck_assert_uint_eq(qcount(f.dq), 1);
	fx_close(&f);
}
END_TEST

START_TEST(test_schedule_delete)
{
	fx f;
	char long_name[300];
	pex_message **m = NULL;
	size_t n = 0;

	fx_open(&f, 0, 0, NULL);
	memset(long_name, 'a', sizeof(long_name));
	long_name[251] = '\0';
	ck_assert_int_eq(pex_gc_schedule_delete(f.pool, "", 0), PEX_EINVAL);
	ck_assert_ptr_nonnull(strstr(pex_error_last()->message, "is empty"));
	ck_assert_int_eq(pex_gc_schedule_delete(f.pool, long_name, 0), PEX_EINVAL);
	ck_assert_ptr_nonnull(strstr(pex_error_last()->message, "251 characters long (at most 250)"));
	ck_assert_int_eq(pex_gc_schedule_delete(f.pool, "a\nb", 0), PEX_EINVAL);
	ck_assert_int_eq(pex_gc_schedule_delete(f.pool, "a\x7f", 0), PEX_EINVAL);
	ck_assert_int_eq(pex_gc_schedule_delete(f.pool, "bad\xc3", 0), PEX_EINVAL);
	ck_assert_int_eq(pex_gc_schedule_delete(f.pool, NULL, 0), PEX_EINVAL);
	ck_assert_uint_eq(qcount(f.dq), 0);
	long_name[250] = '\0';
	ck_assert_int_eq(pex_gc_schedule_delete(f.pool, long_name, 0), 0);
	ck_assert_int_eq(pex_gc_schedule_delete(f.pool, "Team Meeting \xc3\xa9t\xc3\xa9", 0), 0);
	ck_assert_int_eq(pex_gc_schedule_delete(f.pool, "vmr_later", 3600), 0);
	ck_assert_uint_eq(qcount(f.dq), 3);
	ck_assert_int_eq(pex_queue_peek(&m, &n, f.dq, 32), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(m[1]->len, strlen("Team Meeting \xc3\xa9t\xc3\xa9"));
	ck_assert_str_eq((char *)m[1]->data, "Team Meeting \xc3\xa9t\xc3\xa9");
	pex_message_array_free(m, n);
	ck_assert_int_eq(pex_gc_options_init(NULL, 1), PEX_EINVAL);
	fx_close(&f);
}
END_TEST

/* ---- events from the emulator's driver, through a real HTTP receiver ---- */

typedef struct sink {
	struct MHD_Daemon *d;
	int port;
	pthread_mutex_t lock;
	char *bodies[16];
	size_t n;
} sink;

typedef struct sink_req {
	pex_buf body;
} sink_req;

static enum MHD_Result sink_request(void *cls, struct MHD_Connection *conn, const char *url,
	const char *method, const char *version, const char *upload, size_t *upload_size, void **ctx)
{
	sink *s = cls;
	sink_req *rq = *ctx;
	struct MHD_Response *resp;
	enum MHD_Result ret;

	(void)url;
	(void)method;
	(void)version;
	if (!rq) {
		rq = calloc(1, sizeof(*rq));
		*ctx = rq;
		return rq ? MHD_YES : MHD_NO;
	}
	if (*upload_size) {
		pex__buf_put(&rq->body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	pthread_mutex_lock(&s->lock);
	if (s->n < PEX__ARRAY_SIZE(s->bodies))
		s->bodies[s->n++] = pex__buf_detach(&rq->body);
	pthread_mutex_unlock(&s->lock);
	resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	ret = MHD_queue_response(conn, 200, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void sink_done(void *cls, struct MHD_Connection *c, void **ctx, enum MHD_RequestTerminationCode t)
{
	sink_req *rq = *ctx;
	(void)cls;
	(void)c;
	(void)t;
	if (rq) {
		pex_buf_dispose(&rq->body);
		free(rq);
	}
	*ctx = NULL;
}

static void sink_start(sink *s)
{
	const union MHD_DaemonInfo *info;
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
		0, NULL, NULL, sink_request, s, MHD_OPTION_NOTIFY_COMPLETED, sink_done, NULL,
		MHD_OPTION_END);
	ck_assert_ptr_nonnull(s->d);
	info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	ck_assert_ptr_nonnull(info);
	s->port = info->port;
}

static void sink_stop(sink *s)
{
	size_t i;
	MHD_stop_daemon(s->d);
	for (i = 0; i < s->n; i++)
		free(s->bodies[i]);
	pthread_mutex_destroy(&s->lock);
}

/* Have the emulator's event driver POST to the sink (@p args: the members of
 * its request besides "url"), then handle every body received. */
static void drive_req(fx *f, sink *s, const char *args, pex_event_report *total)
{
	pex_buf req = PEX_BUF_INIT;
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->bodies[i]);
	s->n = 0;
	ck_assert_int_eq(pex__buf_printf(&req, "{\"url\": \"http://127.0.0.1:%d/event_sink\", %s}", s->port,
		args), 0);
	ck_assert_int_eq(emu_ctl(&f->e, "POST", "/_emu/events", req.ptr, NULL), 200);
	pex_buf_dispose(&req);
	memset(total, 0, sizeof(*total));
	ck_assert_uint_gt(s->n, 0);
	for (i = 0; i < s->n; i++) {
		pex_event_report r = PEX_EVENT_REPORT_INIT;
		ck_assert_msg(handle(f, s->bodies[i], &r) == 0, "%s: %s", s->bodies[i], pex_error_last()->message);
		total->events += r.events;
		total->scheduled += r.scheduled;
		total->protected_skipped += r.protected_skipped;
		total->ignored += r.ignored;
		total->unknown += r.unknown;
		total->foreign += r.foreign;
		total->skipped += r.skipped;
		total->capped += r.capped;
	}
}

static void drive(fx *f, sink *s, const char *event, const char *names, int bulk, int version,
	pex_event_report *total)
{
	char args[512];
	snprintf(args, sizeof(args), "\"event\": \"%s\", \"names\": [%s], \"bulk\": %s, \"version\": %d",
		event, names, bulk ? "true" : "false", version);
	drive_req(f, s, args, total);
}

START_TEST(test_event_from_emulator)
{
	fx f;
	sink s;
	pex_event_report r = PEX_EVENT_REPORT_INIT;

	fx_open(&f, 1, 0, NULL);
	sink_start(&s);
	create_room(&f, "vmr_e1");
	make_live(&f, "vmr_e1");
	drive(&f, &s, "eventsink_started", "", 0, 2, &r);
	ck_assert_uint_eq(r.ignored, 1);
	drive(&f, &s, "participant_connected", "\"vmr_e1\"", 1, 2, &r);
	ck_assert_uint_eq(r.ignored, 1);
	drive(&f, &s, "conference_ended", "\"vmr_e1\", \"vmr_e2\", \"test_e3\", \"vmr_e1\"", 1, 2, &r);
	ck_assert_uint_eq(s.n, 1);                  /* one eventsink_bulk POST */
	ck_assert_uint_eq(r.events, 4);
	ck_assert_uint_eq(r.scheduled, 2);
	ck_assert_uint_eq(r.protected_skipped, 1);
	ck_assert_uint_eq(r.ignored, 1);
	drive(&f, &s, "conference_ended", "\"vmr_e4\", \"vmr_e5\"", 0, 1, &r);
	ck_assert_uint_eq(s.n, 2);                  /* one POST per event (v1) */
	ck_assert_uint_eq(r.scheduled, 2);
	drive(&f, &s, "participant_disconnected", "\"vmr_e1\"", 0, 1, &r);
	ck_assert_uint_eq(r.ignored, 1);
	drive(&f, &s, "eventsink_ended", "", 1, 2, &r);
	ck_assert_uint_eq(r.ignored, 1);
	ck_assert_uint_eq(qcount(f.dq), 4);
	ck_assert(qhas(f.dq, "vmr_e2"));
	sink_stop(&s);
	fx_close(&f);
}
END_TEST

/* ---- GC ---- */

/* Issue 12.1/12.8: a "real deployment". Beside the pool live 20 permanent
 * VMRs, 5 Virtual Receptions (two_stage_dialing) and 3 test-call services,
 * whose own calls end again and again. 500 pool rooms are handed out and
 * end; the Conferencing Nodes' events (v2 bulks from 10.47.2.21, v1 singles,
 * eventsink_started with empty data, a v2 eventsink_ended, one room ended by
 * two nodes while still live on a third) go through the emulator's event
 * driver and a real HTTP sink into pex_event_handle(), and GC runs
 * after every round. At the end GC has deleted exactly the pool's ended
 * rooms: every foreign service and every room still in the pool exists. */
#define DEPLOY_ROUNDS 20
#define DEPLOY_PER_ROUND 25

static void add_name(pex_buf *b, const char *name)
{
	ck_assert_int_eq(pex__buf_printf(b, "%s\"%s\"", b->size ? ", " : "", name), 0);
}

START_TEST(test_real_deployment)
{
	static const char *const kinds[] = { "conference", "two_stage_dialing", "test_call" };
	char foreign[28][32], body[256], (*handed)[64], args[256], live_name[64] = "";
	pex_buf names = PEX_BUF_INIT, req = PEX_BUF_INIT;
	pex_event_report r = PEX_EVENT_REPORT_INIT;
	pex_gc_report g = PEX_GC_REPORT_INIT;
	size_t nforeign = 0, nhanded = 0, i, created = 0, foreign_events = 0;
	int round, k;
	fx f;
	sink s;

	fx_open(&f, 1, 0, NULL);
	sink_start(&s);
	handed = calloc(DEPLOY_ROUNDS * DEPLOY_PER_ROUND, sizeof(*handed));
	ck_assert_ptr_nonnull(handed);
	for (i = 0; i < 28; i++) {
		const char *kind = kinds[i < 20 ? 0 : i < 25 ? 1 : 2];
		if (i < 20)
			snprintf(foreign[i], sizeof(foreign[i]), "meet.user%02zu", i);
		else if (i < 25)
			snprintf(foreign[i], sizeof(foreign[i]), "reception%zu", i - 20);
		else
			snprintf(foreign[i], sizeof(foreign[i]), "testcall%zu", i - 25);
		snprintf(body, sizeof(body), "{\"name\": \"%s\", \"service_type\": \"%s\"}", foreign[i], kind);
		ck_assert_int_eq(emu_api(&f.e, "POST", "/api/admin/configuration/v1/conference/", body, NULL), 201);
		nforeign++;
	}
	drive_req(&f, &s, "\"event\": \"eventsink_started\", \"node\": \"10.47.2.21\", \"version\": 2", &r);
	ck_assert_uint_eq(r.ignored, 1);
	ck_assert_int_eq(pex_pool_replenish(&created, f.pool, DEPLOY_PER_ROUND, NULL, NULL), 0);

	for (round = 0; round < DEPLOY_ROUNDS; round++) {
		size_t first = nhanded;
		for (k = 0; k < DEPLOY_PER_ROUND; k++) {
			pex_pool_room *room = NULL;
			ck_assert_msg(pex_pool_pop(&room, f.pool, NULL, NULL) == 0, "%s", pex_error_last()->message);
			snprintf(handed[nhanded++], 64, "%s", room->name);
			pex_pool_room_free(room);
		}
		ck_assert_int_eq(pex_pool_replenish(&created, f.pool, DEPLOY_PER_ROUND, NULL, NULL), 0);
		/* the round's rooms end, and so do calls on every foreign service */
		pex__buf_clear(&names);
		for (i = first; i < nhanded; i++)
			add_name(&names, handed[i]);
		for (i = 0; i < nforeign; i++)
			add_name(&names, foreign[i]);
		pex__buf_clear(&req);
		ck_assert_int_eq(pex__buf_printf(&req, "\"event\": \"conference_ended\", \"bulk\": true, "
			"\"version\": 2, \"node\": \"10.47.2.21\", \"names\": [%s]", names.ptr), 0);
		drive_req(&f, &s, req.ptr, &r);
		ck_assert_uint_eq(r.scheduled, DEPLOY_PER_ROUND);
		ck_assert_uint_eq(r.foreign, nforeign);
		foreign_events += r.foreign;
		/* v1 singles from another node for a few foreign services */
		drive(&f, &s, "conference_ended", "\"meet.user01\", \"reception1\", \"testcall0\"", 0, 1, &r);
		ck_assert_uint_eq(r.foreign, 3);
		foreign_events += 3;
		if (round == 3) {
			/* ended by two nodes while still live on a third */
			snprintf(live_name, sizeof(live_name), "%s", handed[first]);
			make_live(&f, live_name);
		}
		ck_assert_msg(pex_gc_sweep(&g, f.pool, NULL, NULL, NULL) == 0, "%s", pex_error_last()->message);
		ck_assert_uint_eq(g.skipped_foreign, 0);
		if (round == 3) {
			ck_assert_uint_eq(g.deleted, DEPLOY_PER_ROUND - 1);
			ck_assert_uint_eq(g.postponed_live, 1);
			snprintf(args, sizeof(args), "\"event\": \"conference_ended\", \"version\": 2, "
				"\"nodes\": [\"10.47.2.21\", \"10.47.2.22\"], \"names\": [\"%s\"]", live_name);
			drive_req(&f, &s, args, &r);
			ck_assert_uint_eq(s.n, 2);          /* one POST per node */
			ck_assert_uint_eq(r.scheduled, 2);   /* one per payload: GC copes */
			ck_assert_msg(pex_gc_sweep(&g, f.pool, NULL, NULL, NULL) == 0, "%s", pex_error_last()->message);
			ck_assert_uint_eq(g.deleted, 0);
			ck_assert_uint_eq(g.postponed_live, 2);
			ck_assert(room_exists(&f, live_name));
			/* the third node's call ends: then it is deleted */
			emu_json(&f, "/_emu/conference/stop", "{\"name\": \"%s\"}", live_name);
			snprintf(args, sizeof(args), "\"event\": \"conference_ended\", \"version\": 2, "
				"\"node\": \"10.47.2.23\", \"names\": [\"%s\"]", live_name);
			drive_req(&f, &s, args, &r);
			ck_assert_uint_eq(r.scheduled, 1);
			ck_assert_msg(pex_gc_sweep(&g, f.pool, NULL, NULL, NULL) == 0, "%s", pex_error_last()->message);
			ck_assert_uint_eq(g.deleted, 1);
		} else {
			ck_assert_uint_eq(g.deleted, DEPLOY_PER_ROUND);
		}
	}
	drive_req(&f, &s, "\"event\": \"eventsink_ended\", \"node\": \"10.47.2.21\", \"version\": 2", &r);
	ck_assert_uint_eq(r.ignored, 1);

	ck_assert_uint_eq(nhanded, DEPLOY_ROUNDS * DEPLOY_PER_ROUND);
	for (i = 0; i < nhanded; i++)
		ck_assert_msg(!room_exists(&f, handed[i]), "ended pool room %s was not deleted", handed[i]);
	for (i = 0; i < nforeign; i++)
		ck_assert_msg(room_exists(&f, foreign[i]), "GC deleted the customer's %s", foreign[i]);
	ck_assert_uint_eq(qcount(f.pq), DEPLOY_PER_ROUND);       /* the pool, untouched */
	ck_assert_int_eq(emu_stat(&f.e, "conferences"), (long long)nforeign + DEPLOY_PER_ROUND);
	ck_assert_uint_eq(atomic_load(&f.pool->events_foreign), foreign_events);
	pex_buf_dispose(&names);
	pex_buf_dispose(&req);
	free(handed);
	sink_stop(&s);
	fx_close(&f);
}
END_TEST

START_TEST(test_gc_deletes)
{
	fx f;
	pex_gc_report r = PEX_GC_REPORT_INIT;
	pex_gc_options o = PEX_GC_OPTIONS_INIT;
	char name[32];
	int i;

	fx_open(&f, 1, 0, NULL);
	for (i = 0; i < 40; i++) {       /* more than one batch */
		snprintf(name, sizeof(name), "vmr_g%02d", i);
		create_room(&f, name);
		schedule(&f, name);
	}
	schedule(&f, "vmr_never_existed");
	ck_assert_int_eq(pex_queue_put(f.dq, "Team Room", 9, 0), 0);     /* spaces: read raw */
	create_room(&f, "Team Room");
	atomic_store(&info_logs, 0);
	ck_assert_msg(pex_gc_sweep(&r, f.pool, NULL, NULL, NULL) == 0, "%s", pex_error_last()->message);
	ck_report(&r, 41, 0, 0, 1, 0);
	ck_assert_uint_eq(r.orphans_found + r.orphans_deleted, 0);
	ck_assert_int_le(atomic_load(&info_logs), 2);      /* a summary, not a line per room */
	ck_assert_uint_eq(qcount(f.dq), 0);
	ck_assert(!room_exists(&f, "vmr_g00"));
	ck_assert(!room_exists(&f, "vmr_g39"));
	ck_assert(!room_exists(&f, "Team Room"));
	ck_assert_uint_eq(atomic_load(&f.pool->deleted), 41);
	ck_assert_uint_eq(atomic_load(&f.pool->delete_failures), 0);
	/* JSON pool records and base64 bare names are read too; garbage is dropped */
	{
		struct pex__room_ref ref = { (char *)"vmr_json", 0, NULL, NULL, 0 };
		pex_buf b = PEX_BUF_INIT;
		create_room(&f, "vmr_json");
		create_room(&f, "vmr_b64");
		ck_assert_int_eq(pex__poolmsg_encode(&b, &ref), 0);
		ck_assert_int_eq(pex_queue_put(f.dq, b.ptr, b.size, 0), 0);
		ck_assert_int_eq(pex_queue_put(f.dq, "dm1yX2I2NA==", 12, 0), 0);   /* base64("vmr_b64") */
		ck_assert_int_eq(pex_queue_put(f.dq, "\x01\x02", 2, 0), 0);
		pex_buf_dispose(&b);
	}
	ck_assert_int_eq(pex_gc_sweep(&r, f.pool, NULL, NULL, NULL), 0);
	ck_report(&r, 2, 0, 0, 0, 0);
	ck_assert(!room_exists(&f, "vmr_json"));
	ck_assert(!room_exists(&f, "vmr_b64"));
	ck_assert_uint_eq(qcount(f.dq), 0);
	/* an empty queue is a no-op */
	o.orphans = 0;
	ck_assert_int_eq(pex_gc_sweep(&r, f.pool, &o, NULL, NULL), 0);
	ck_report(&r, 0, 0, 0, 0, 0);
	fx_close(&f);
}
END_TEST

START_TEST(test_gc_live_and_protected)
{
	fx f;
	pex_gc_report r = PEX_GC_REPORT_INIT;

	fx_open(&f, 1, 600, NULL);
	create_room(&f, "vmr_live");
	make_live(&f, "vmr_live");
	create_room(&f, "test_keep");
	create_room(&f, "vkiosk_lobby");
	schedule(&f, "vmr_live");
	schedule(&f, "test_keep");
	schedule(&f, "vkiosk_lobby");
	ck_assert_int_eq(pex_gc_sweep(&r, f.pool, NULL, NULL, NULL), 0);
	ck_report(&r, 0, 1, 2, 0, 0);
	ck_assert(room_exists(&f, "vmr_live"));
	ck_assert(room_exists(&f, "test_keep"));
	ck_assert(room_exists(&f, "vkiosk_lobby"));
	ck_assert_uint_eq(qcount(f.dq), 1);         /* the live room's message stays ... */
	ck_assert_uint_eq(qvisible(f.dq), 0);       /* ... postponed by gc_delay_s */
	fx_close(&f);

	/* gc_delay_s 0: postponed by the minimum, not retried within the sweep */
	fx_open(&f, 1, 0, NULL);
	create_room(&f, "vmr_live");
	make_live(&f, "vmr_live");
	schedule(&f, "vmr_live");
	ck_assert_int_eq(pex_gc_sweep(&r, f.pool, NULL, NULL, NULL), 0);
	ck_report(&r, 0, 1, 0, 0, 0);
	ck_assert_uint_eq(qcount(f.dq), 1);
	ck_assert_uint_eq(qvisible(f.dq), 0);
	fx_close(&f);
}
END_TEST

START_TEST(test_gc_dry_run)
{
	fx f;
	pex_gc_report r = PEX_GC_REPORT_INIT;
	pex_gc_options o = PEX_GC_OPTIONS_INIT;

	fx_open(&f, 1, 600, NULL);
	create_room(&f, "vmr_d1");
	create_room(&f, "vmr_d2");
	create_room(&f, "vmr_dlive");
	make_live(&f, "vmr_dlive");
	create_room(&f, "test_d");
	schedule(&f, "vmr_d1");
	schedule(&f, "vmr_d2");
	schedule(&f, "vmr_dgone");
	schedule(&f, "vmr_dlive");
	schedule(&f, "test_d");
	o.dry_run = 1;
	ck_assert_int_eq(pex_gc_sweep(&r, f.pool, &o, NULL, NULL), 0);
	ck_report(&r, 2, 1, 1, 1, 0);
	/* nothing changed */
	ck_assert(room_exists(&f, "vmr_d1"));
	ck_assert(room_exists(&f, "vmr_d2"));
	ck_assert(room_exists(&f, "test_d"));
	ck_assert_uint_eq(qcount(f.dq), 5);
	ck_assert_uint_eq(qvisible(f.dq), 5);
	ck_assert_uint_eq(atomic_load(&f.pool->deleted), 0);
	/* the real thing */
	ck_assert_int_eq(pex_gc_sweep(&r, f.pool, NULL, NULL, NULL), 0);
	ck_report(&r, 2, 1, 1, 1, 0);
	ck_assert(!room_exists(&f, "vmr_d1"));
	ck_assert_uint_eq(qcount(f.dq), 1);
	fx_close(&f);
}
END_TEST

START_TEST(test_gc_max_and_min_age)
{
	fx f;
	pex_gc_report r = PEX_GC_REPORT_INIT;
	pex_gc_options o;
	char name[32];
	int i;

	ck_assert_int_eq(pex_gc_options_init(&o, PEX_GC_OPTIONS_VERSION), 0);
	ck_assert_int_eq(pex_gc_options_init(&o, 99), PEX_EINVAL);
	fx_open(&f, 1, 0, NULL);
	for (i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "vmr_m%d", i);
		create_room(&f, name);
		schedule(&f, name);
	}
	o.max = 2;
	ck_assert_int_eq(pex_gc_sweep(&r, f.pool, &o, NULL, NULL), 0);
	ck_report(&r, 2, 0, 0, 0, 0);
	ck_assert_uint_eq(qcount(f.dq), 3);
	ck_assert_uint_eq(qvisible(f.dq), 3);
	/* min_age: these messages are seconds old, so nothing is due; they are
	 * released until they are old enough and not counted */
	o.max = 0;
	o.min_age_s = 3600;
	ck_assert_int_eq(pex_gc_sweep(&r, f.pool, &o, NULL, NULL), 0);
	ck_report(&r, 0, 0, 0, 0, 0);
	ck_assert_uint_eq(qcount(f.dq), 3);
	ck_assert_uint_eq(qvisible(f.dq), 0);
	ck_assert(room_exists(&f, "vmr_m4"));
	fx_close(&f);

	/* min_age met */
	fx_open(&f, 1, 0, NULL);
	create_room(&f, "vmr_aged");
	schedule(&f, "vmr_aged");
	sleep(2);
	o.min_age_s = 1;
	ck_assert_int_eq(pex_gc_sweep(&r, f.pool, &o, NULL, NULL), 0);
	ck_report(&r, 1, 0, 0, 0, 0);
	fx_close(&f);
}
END_TEST

START_TEST(test_gc_rerun_after_kill)
{
	fx f;
	pex_gc_report r = PEX_GC_REPORT_INIT;
	pex_message **m = NULL;
	size_t n = 0;
	char name[32];
	int i, deleted = -1;

	fx_open(&f, 1, 0, NULL);
	for (i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "vmr_k%d", i);
		create_room(&f, name);
		schedule(&f, name);
	}
	/* a sweeper leased 4 messages, deleted one room, then died */
	ck_assert_int_eq(pex_queue_receive_batch(&m, &n, f.dq, 4, 1), 0);
	ck_assert_uint_eq(n, 4);
	ck_assert_int_eq(pex_room_delete_by_name(&deleted, f.c, "vmr_k0"), 0);
	ck_assert_int_eq(deleted, 1);
	pex_message_array_free(m, n);
	/* a sweep now sees only the 2 it can lease */
	ck_assert_int_eq(pex_gc_sweep(&r, f.pool, NULL, NULL, NULL), 0);
	ck_report(&r, 2, 0, 0, 0, 0);
	ck_assert_uint_eq(qcount(f.dq), 4);
	/* after the lease runs out, the rerun handles the rest, idempotently */
	usleep(1500 * 1000);
	ck_assert_int_eq(pex_gc_sweep(&r, f.pool, NULL, NULL, NULL), 0);
	ck_report(&r, 3, 0, 0, 1, 0);
	ck_assert_uint_eq(qcount(f.dq), 0);
	for (i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "vmr_k%d", i);
		ck_assert(!room_exists(&f, name));
	}
	fx_close(&f);
}
END_TEST

static int stop_after_two(size_t done, size_t total, void *payload)
{
	size_t *calls = payload;
	ck_assert_uint_ge(total, done);
	(*calls)++;
	return done >= 2;
}

START_TEST(test_gc_progress_abort_and_failures)
{
	fx f;
	pex_gc_report r = PEX_GC_REPORT_INIT;
	size_t calls = 0, left;
	char name[32];
	int i;

	fx_open(&f, 1, 0, NULL);
	/* more rooms than workers (2 x max_concurrency), so the abort shows */
	for (i = 0; i < 30; i++) {
		snprintf(name, sizeof(name), "vmr_p%d", i);
		create_room(&f, name);
		schedule(&f, name);
	}
	ck_assert_int_eq(pex_gc_sweep(&r, f.pool, NULL, stop_after_two, &calls), PEX_EUSER);
	ck_assert_uint_ge(calls, 2);
	ck_assert_uint_ge(r.deleted, 2);
	ck_assert_uint_lt(r.deleted, 30);
	/* the rest went back at once */
	ck_assert_uint_eq(qcount(f.dq), 30 - r.deleted);
	ck_assert_uint_eq(qvisible(f.dq), 30 - r.deleted);

	/* Pexip failing: every room fails, messages are kept (invisible for a
	 * while), the first error comes back, nothing is deleted */
	left = qcount(f.dq);
	ck_assert_int_eq(emu_ctl(&f.e, "POST", "/_emu/faults", "{\"permanent_status\": 500}", NULL), 200);
	ck_assert_int_eq(pex_gc_sweep(&r, f.pool, NULL, NULL, NULL), PEX_EHTTP);
	ck_assert_ptr_nonnull(strstr(pex_error_last()->message, "vmr_p"));
	ck_report(&r, 0, 0, 0, 0, left);
	ck_assert_uint_eq(atomic_load(&f.pool->delete_failures), left);
	ck_assert_uint_eq(qcount(f.dq), left);
	ck_assert_uint_eq(qvisible(f.dq), 0);      /* retried by a later sweep */
	ck_assert_int_eq(emu_ctl(&f.e, "POST", "/_emu/faults", "{\"permanent_status\": 0}", NULL), 200);
	ck_assert(room_exists(&f, "vmr_p29"));
	fx_close(&f);
}
END_TEST

START_TEST(test_gc_orphans)
{
	static const char *const prot[] = { "vmr_keep_", "test_", NULL };
	fx f;
	pex_gc_report r = PEX_GC_REPORT_INIT;
	pex_gc_options o = PEX_GC_OPTIONS_INIT;
	struct pex__room_ref ref;
	pex_buf b = PEX_BUF_INIT;

	fx_open(&f, 1, 0, prot);
	create_room(&f, "vmr_orphan");         /* old, unqueued, not live: deleted */
	make_old(&f, "vmr_orphan");
	create_room(&f, "vmr_queued");         /* old but in the pool (JSON record) */
	make_old(&f, "vmr_queued");
	create_room(&f, "vmr_queued_bare");    /* old but in the pool (bare name) */
	make_old(&f, "vmr_queued_bare");
	create_room(&f, "vmr_young");          /* too young */
	create_room(&f, "vmr_old_live");       /* live */
	make_old(&f, "vmr_old_live");
	make_live(&f, "vmr_old_live");
	create_room(&f, "vmr_keep_1");         /* protected */
	make_old(&f, "vmr_keep_1");
	create_room(&f, "other_old");          /* not a pool room */
	make_old(&f, "other_old");
	memset(&ref, 0, sizeof(ref));
	ref.name = (char *)"vmr_queued";
	ref.id = 2;
	ref.created = 1577836800;
	ck_assert_int_eq(pex__poolmsg_encode(&b, &ref), 0);
	ck_assert_int_eq(pex_queue_put(f.pq, b.ptr, b.size, 0), 0);
	ck_assert_int_eq(pex_queue_put(f.pq, "vmr_queued_bare", 15, 0), 0);
	pex_buf_dispose(&b);

	/* dry run: found, not deleted */
	o.orphans = 1;
	o.dry_run = 1;
	ck_assert_msg(pex_gc_sweep(&r, f.pool, &o, NULL, NULL) == 0, "%s", pex_error_last()->message);
	ck_assert_uint_eq(r.orphans_found, 1);
	ck_assert_uint_eq(r.orphans_deleted, 0);
	ck_assert(room_exists(&f, "vmr_orphan"));

	o.dry_run = 0;
	ck_assert_msg(pex_gc_sweep(&r, f.pool, &o, NULL, NULL) == 0, "%s", pex_error_last()->message);
	ck_assert_uint_eq(r.orphans_found, 1);
	ck_assert_uint_eq(r.orphans_deleted, 1);
	ck_report(&r, 0, 0, 0, 0, 0);
	ck_assert(!room_exists(&f, "vmr_orphan"));
	ck_assert(room_exists(&f, "vmr_queued"));
	ck_assert(room_exists(&f, "vmr_queued_bare"));
	ck_assert(room_exists(&f, "vmr_young"));
	ck_assert(room_exists(&f, "vmr_old_live"));
	ck_assert(room_exists(&f, "vmr_keep_1"));
	ck_assert(room_exists(&f, "other_old"));
	ck_assert_uint_eq(qcount(f.pq), 2);
	ck_assert_uint_eq(qvisible(f.pq), 2);
	/* idempotent */
	ck_assert_int_eq(pex_gc_sweep(&r, f.pool, &o, NULL, NULL), 0);
	ck_assert_uint_eq(r.orphans_found, 0);
	fx_close(&f);
}
END_TEST

START_TEST(test_gc_orphans_deep_pool_and_max)
{
	fx f;
	pex_gc_report r = PEX_GC_REPORT_INIT;
	pex_gc_options o = PEX_GC_OPTIONS_INIT;
	pex_message **m = NULL;
	size_t n = 0;
	char name[32];
	int i;

	fx_open(&f, 1, 0, NULL);
	/* 70 pool messages (deeper than a peek): the scan leases and releases
	 * them; beyond the first 32 it is best effort (see gc.c), so the aged
	 * pool room sits among the first 32, which are always seen */
	for (i = 0; i < 70; i++) {
		snprintf(name, sizeof(name), "vmr_pool%02d", i);
		ck_assert_int_eq(pex_queue_put(f.pq, name, strlen(name), 0), 0);
	}
	/* no old room: the pool queue is not even read (nothing leased) */
	o.orphans = 1;
	ck_assert_int_eq(pex_gc_sweep(&r, f.pool, &o, NULL, NULL), 0);
	ck_assert_uint_eq(r.orphans_found, 0);
	ck_assert_int_eq(pex_queue_peek(&m, &n, f.pq, 32), 0);
	ck_assert_uint_eq(n, 32);
	ck_assert_uint_eq(m[0]->dequeue_count, 0);
	pex_message_array_free(m, n);
	create_room(&f, "vmr_pool05");
	make_old(&f, "vmr_pool05");
	for (i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "vmr_lost%d", i);
		create_room(&f, name);
		make_old(&f, name);
	}
	create_room(&f, "vmr_gc1");
	schedule(&f, "vmr_gc1");
	o.orphans = 1;
	o.max = 2;                 /* one budget: 1 from the queue, 1 orphan */
	ck_assert_msg(pex_gc_sweep(&r, f.pool, &o, NULL, NULL) == 0, "%s", pex_error_last()->message);
	ck_assert_uint_eq(r.deleted, 1);
	ck_assert_uint_eq(r.orphans_deleted, 1);
	o.max = 0;
	ck_assert_msg(pex_gc_sweep(&r, f.pool, &o, NULL, NULL) == 0, "%s", pex_error_last()->message);
	ck_assert_uint_eq(r.orphans_found, 2);
	ck_assert_uint_eq(r.orphans_deleted, 2);
	ck_assert(room_exists(&f, "vmr_pool05"));
	/* the pool is intact and visible again */
	ck_assert_uint_eq(qcount(f.pq), 70);
	ck_assert_int_eq(pex_queue_receive_batch(&m, &n, f.pq, 32, 30), 0);
	ck_assert_uint_eq(n, 32);
	pex_message_array_free(m, n);
	fx_close(&f);
}
END_TEST


/* Batched lookups: one DELETE per room plus two GETs per batch; the rooms
 * a batch cannot settle (a comma in the name, not found) go one by one. */
/* A deletion message naming a room the pool does not own (written by
 * someone else) is dropped with one log line; the room stays. Rooms of
 * gc.owned_prefixes are deleted; protected prefixes still win. */
START_TEST(test_gc_foreign)
{
	static const char *const prot[] = { "legacy_keep", NULL };
	fx f;
	pex_gc_report r = PEX_GC_REPORT_INIT;
	pex_gc_options o = PEX_GC_OPTIONS_INIT;
	/* four foreign rooms, then two of the pool's and a protected one */
	const char *rooms[] = { "meet.alice", "reception", "VMR_upper", "Legacy_x", "vmr_mine", "legacy_7",
		"legacy_keep" };
	const char *const *foreign = rooms;
	size_t i;

	fx_open(&f, 1, 0, prot);
	for (i = 0; i < PEX__ARRAY_SIZE(rooms); i++) {
		create_room(&f, rooms[i]);
		schedule(&f, rooms[i]);
	}
	/* a dry run says what it would do and changes nothing */
	o.dry_run = 1;
	ck_assert_msg(pex_gc_sweep(&r, f.pool, &o, NULL, NULL) == 0, "%s", pex_error_last()->message);
	ck_assert_uint_eq(r.skipped_foreign, 4);
	ck_assert_uint_eq(qcount(f.dq), 7);
	atomic_store(&info_logs, 0);
	ck_assert_msg(pex_gc_sweep(&r, f.pool, NULL, NULL, NULL) == 0, "%s", pex_error_last()->message);
	ck_report(&r, 2, 0, 1, 0, 0);
	ck_assert_uint_eq(r.skipped_foreign, 4);
	/* one warning per foreign message, and the summary */
	ck_assert_int_eq(atomic_load(&info_logs), 4 + 1);
	ck_assert_uint_eq(qcount(f.dq), 0);
	for (i = 0; i < 4; i++)
		ck_assert_msg(room_exists(&f, foreign[i]), "GC deleted %s", foreign[i]);
	ck_assert(room_exists(&f, "legacy_keep"));
	ck_assert(!room_exists(&f, "vmr_mine"));
	ck_assert(!room_exists(&f, "legacy_7"));
	fx_close(&f);
}
END_TEST

START_TEST(test_gc_batched_lookups)
{
	fx f;
	pex_gc_report r = PEX_GC_REPORT_INIT;
	char name[32];
	int i;

	fx_open(&f, 1, 0, NULL);
	for (i = 0; i < 150; i++) {      /* two batches */
		snprintf(name, sizeof(name), "vmr_b%03d", i);
		create_room(&f, name);
		schedule(&f, name);
	}
	make_live(&f, "vmr_b005");
	make_live(&f, "vmr_b100");
	make_live(&f, "vmr_b149");
	create_room(&f, "Sales, weekly");
	ck_assert_int_eq(pex_queue_put(f.dq, "Sales, weekly", 13, 0), 0);
	schedule(&f, "vmr_never_existed");
	create_room(&f, "test_keep");
	schedule(&f, "test_keep");
	ck_assert_int_eq(emu_ctl(&f.e, "POST", "/_emu/reset_stats", NULL, NULL), 200);
	ck_assert_msg(pex_gc_sweep(&r, f.pool, NULL, NULL, NULL) == 0, "%s", pex_error_last()->message);
	ck_report(&r, 148, 3, 1, 1, 0);
	/* 148 DELETEs; GETs: 2 per batch (2 batches) + 2 for the comma room
	 * (live? id?) + 1 to confirm the room that was not found */
	ck_assert_int_eq(emu_stat(&f.e, "by_method.DELETE"), 148);
	ck_assert_int_eq(emu_stat(&f.e, "by_method.GET"), 2 * 2 + 2 + 1);
	ck_assert(!room_exists(&f, "vmr_b000"));
	ck_assert(room_exists(&f, "vmr_b149"));          /* live: kept */
	ck_assert(room_exists(&f, "vmr_b005"));
	ck_assert(!room_exists(&f, "Sales, weekly"));
	ck_assert(room_exists(&f, "test_keep"));
	ck_assert_uint_eq(qcount(f.dq), 3);              /* the live rooms, postponed */
	fx_close(&f);
}
END_TEST

/* A server that refuses name__in: the sweep falls back to one room at a
 * time, says so once, and gets the same result. */
START_TEST(test_gc_batch_refused)
{
	fx f;
	pex_gc_report r = PEX_GC_REPORT_INIT;
	char name[32];
	int i;

	fx_open(&f, 1, 0, NULL);
	ck_assert_int_eq(emu_ctl(&f.e, "POST", "/_emu/faults", "{\"refuse_in_filter\": true}", NULL), 200);
	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "vmr_r%02d", i);
		create_room(&f, name);
		schedule(&f, name);
	}
	make_live(&f, "vmr_r07");
	schedule(&f, "vmr_never_existed");
	ck_assert_int_eq(emu_ctl(&f.e, "POST", "/_emu/reset_stats", NULL, NULL), 200);
	atomic_store(&info_logs, 0);
	ck_assert_msg(pex_gc_sweep(&r, f.pool, NULL, NULL, NULL) == 0, "%s", pex_error_last()->message);
	ck_report(&r, 39, 1, 0, 1, 0);
	/* two refused lookups, then per room: live? (41) and id? (40, not the live one) */
	ck_assert_int_eq(emu_stat(&f.e, "by_status.400"), 2);
	ck_assert_int_eq(emu_stat(&f.e, "by_method.GET"), 2 + 41 + 40);
	ck_assert_int_eq(emu_stat(&f.e, "by_method.DELETE"), 39);
	ck_assert(room_exists(&f, "vmr_r07"));
	ck_assert(!room_exists(&f, "vmr_r00"));
	ck_assert(!room_exists(&f, "vmr_r39"));
	ck_assert_int_le(atomic_load(&info_logs), 4);    /* the fallback is said once */
	fx_close(&f);
}
END_TEST

/* A deployment whose ?name= matches loosely (case-insensitive substring):
 * an ended room whose name is contained in live ones is still deleted, the
 * one-by-one lookups compare names exactly, and read past the first page. */
START_TEST(test_gc_loose_name_filter)
{
	fx f;
	pex_gc_report r = PEX_GC_REPORT_INIT;
	pex_room *room = NULL;
	int live = -1, i;
	char name[32];

	fx_open(&f, 1, 0, NULL);
	ck_assert_int_eq(emu_ctl(&f.e, "POST", "/_emu/mode", "{\"loose_name\": true}", NULL), 200);
	create_room(&f, "vmr_room10");
	create_room(&f, "VMR_ROOM1x");
	create_room(&f, "vmr_room1");
	make_live(&f, "vmr_room10");
	make_live(&f, "VMR_ROOM1x");
	schedule(&f, "vmr_room1");
	ck_assert_msg(pex_gc_sweep(&r, f.pool, NULL, NULL, NULL) == 0, "%s", pex_error_last()->message);
	ck_report(&r, 1, 0, 0, 0, 0);
	ck_assert(!room_exists(&f, "vmr_room1"));
	ck_assert(room_exists(&f, "vmr_room10"));
	ck_assert(room_exists(&f, "VMR_ROOM1x"));
	ck_assert_uint_eq(qcount(f.dq), 0);
	/* a live room is still seen as live (and kept) */
	schedule(&f, "vmr_room10");
	ck_assert_int_eq(pex_gc_sweep(&r, f.pool, NULL, NULL, NULL), 0);
	ck_report(&r, 0, 1, 0, 0, 0);
	ck_assert(room_exists(&f, "vmr_room10"));

	/* 120 live and configured rooms contain "vmr_room2": the exact one comes
	 * after the first page (100) of both lookups */
	ck_assert_int_eq(emu_ctl(&f.e, "POST", "/_emu/populate",
		"{\"count\": 120, \"prefix\": \"xvmr_room2_\"}", NULL), 200);
	for (i = 0; i < 120; i++) {
		snprintf(name, sizeof(name), "xvmr_room2_%06d", i);
		make_live(&f, name);
	}
	ck_assert_int_eq(pex_room_is_live(&live, f.c, "vmr_room2"), 0);
	ck_assert_int_eq(live, 0);
	ck_assert_int_eq(pex_room_get_by_name(&room, f.c, "vmr_room2"), PEX_ENOTFOUND);
	create_room(&f, "vmr_room2");
	make_live(&f, "vmr_room2");
	ck_assert_int_eq(pex_room_is_live(&live, f.c, "vmr_room2"), 0);
	ck_assert_int_eq(live, 1);
	ck_assert_msg(pex_room_get_by_name(&room, f.c, "vmr_room2") == 0, "%s", pex_error_last()->message);
	ck_assert_str_eq(pex_room_name(room), "vmr_room2");
	pex_room_free(room);
	room = NULL;
	emu_json(&f, "/_emu/conference/stop", "{\"name\": \"%s\"}", "vmr_room2");
	schedule(&f, "vmr_room2");
	ck_assert_msg(pex_gc_sweep(&r, f.pool, NULL, NULL, NULL) == 0, "%s", pex_error_last()->message);
	ck_report(&r, 1, 0, 0, 0, 0);
	ck_assert(!room_exists(&f, "vmr_room2"));
	ck_assert(room_exists(&f, "xvmr_room2_000000"));

	/* an answer that looks unfiltered (over 5,000 matches) is no answer:
	 * the room (not live) fails its lookup and is retried later, neither
	 * called gone nor deleted */
	ck_assert_int_eq(emu_ctl(&f.e, "POST", "/_emu/populate",
		"{\"count\": 5001, \"prefix\": \"vmr_many_\"}", NULL), 200);
	ck_assert_int_eq(pex_room_get_by_name(&room, f.c, "vmr_many_"), PEX_ENOTSUPPORTED);
	ck_assert_ptr_nonnull(strstr(pex_error_last()->message, "seems to ignore it"));
	schedule(&f, "vmr_many_");
	ck_assert_int_eq(pex_gc_sweep(&r, f.pool, NULL, NULL, NULL), PEX_ENOTSUPPORTED);
	ck_report(&r, 0, 0, 0, 0, 1);
	ck_assert_uint_eq(qcount(f.dq), 2);          /* its message and room10's, both waiting */
	ck_assert(room_exists(&f, "vmr_many_000000"));
	fx_close(&f);
}
END_TEST

/* Pexip's 250-character limit counts characters: a 250-character name that
 * is not ASCII (500 bytes) is created, scheduled by an event, found and
 * deleted by GC; 251 characters and invalid UTF-8 are refused, saying why,
 * and change nothing. */
START_TEST(test_gc_non_ascii_250)
{
	fx f;
	pex_gc_report r = PEX_GC_REPORT_INIT;
	pex_event_report er = PEX_EVENT_REPORT_INIT;
	pex_room_spec s = PEX_ROOM_SPEC_INIT;
	char name[2 * 251 + 1], body[1400];
	long long id = 0;
	int live = -1, i;

	fx_open(&f, 1, 0, NULL);
	/* the pool's prefix (only its own rooms are scheduled) and 246 e acute */
	memcpy(name, "vmr_", 4);
	for (i = 0; i < 246; i++)
		memcpy(name + 4 + 2 * i, "\xc3\xa9", 2);
	name[496] = '\0';
	create_room(&f, name);
	ck_assert(room_exists(&f, name));
	ck_assert_int_eq(pex_room_is_live(&live, f.c, name), 0);
	ck_assert_int_eq(live, 0);
	snprintf(body, sizeof(body), ENDED_V(2, "10.0.0.1", "%s"), name);
	ck_assert_msg(handle(&f, body, &er) == 0, "%s", pex_error_last()->message);
	ck_assert_uint_eq(er.scheduled, 1);
	ck_assert(qhas(f.dq, name));
	ck_assert_msg(pex_gc_sweep(&r, f.pool, NULL, NULL, NULL) == 0, "%s", pex_error_last()->message);
	ck_report(&r, 1, 0, 0, 0, 0);
	ck_assert(!room_exists(&f, name));
	/* one character more: refused before anything is sent or enqueued */
	memcpy(name + 496, "\xc3\xa9", 3);
	s.name = name;
	ck_assert_int_eq(pex_room_create(&id, f.c, &s), PEX_EINVAL);
	ck_assert_str_eq(pex_error_last()->message, "room name is 251 characters long (at most 250)");
	snprintf(body, sizeof(body), ENDED_V(2, "10.0.0.1", "%s"), name);
	/* the sink skips (and counts) an unusable item rather than refusing the payload */
	ck_assert_int_eq(handle(&f, body, &er), 0);
	ck_assert_uint_eq(er.scheduled, 0);
	ck_assert_uint_eq(er.skipped, 1);
	ck_assert_msg(strstr(last_warn, "251 characters long (at most 250)"), "%s", last_warn);
	ck_assert_uint_eq(qcount(f.dq), 0);
	ck_assert_int_eq(pex_queue_put(f.dq, name, strlen(name), 0), 0);   /* GC drops it, unread */
	ck_assert_int_eq(pex_gc_sweep(&r, f.pool, NULL, NULL, NULL), 0);
	ck_report(&r, 0, 0, 0, 0, 0);
	ck_assert_uint_eq(qcount(f.dq), 0);
	/* invalid UTF-8 */
	s.name = "vmr_\xff";
	ck_assert_int_eq(pex_room_create(&id, f.c, &s), PEX_EINVAL);
	ck_assert_str_eq(pex_error_last()->message, "room name is not valid UTF-8 (byte 0xff at offset 4)");
	ck_assert_int_eq(pex_room_delete_by_name(NULL, f.c, "vmr_\xff"), PEX_EINVAL);
	/* tags and descriptions count characters too */
	s.name = "vmr_text";
	s.description = name;
	ck_assert_int_eq(pex_room_create(&id, f.c, &s), PEX_EINVAL);
	ck_assert_str_eq(pex_error_last()->message, "description is 251 characters long (at most 250)");
	name[496] = '\0';
	s.description = name;
	s.tag = name;
	ck_assert_msg(pex_room_create(&id, f.c, &s) == 0, "%s", pex_error_last()->message);
	ck_assert(room_exists(&f, "vmr_text"));
	ck_assert_int_eq(emu_stat(&f.e, "conferences"), 1);
	fx_close(&f);
}
END_TEST

/*
 * Pexip unreachable (every connection dropped): the sweep stops after the
 * first batch's two lookups have spent their retries, instead of asking for
 * every room one by one. Counted, not timed: the requests the emulator saw,
 * the log lines and their length.
 */
START_TEST(test_gc_stops_on_outage)
{
	fx f;
	pex_gc_options o = PEX_GC_OPTIONS_INIT;
	pex_gc_report r = PEX_GC_REPORT_INIT;
	char name[32];
	int i, err;

	fx_open(&f, 1, 0, NULL);
	f.pool->o.orphan_max_age_s = 0;
	for (i = 0; i < 200; i++) {      /* three batches */
		snprintf(name, sizeof(name), "vmr_outage_%03d", i);
		schedule(&f, name);
	}
	ck_assert_int_eq(emu_ctl(&f.e, "POST", "/_emu/faults", "{\"rate_drop\": 1}", NULL), 200);
	ck_assert_int_eq(emu_ctl(&f.e, "POST", "/_emu/reset_stats", NULL, NULL), 200);
	atomic_store(&info_logs, 0);
	atomic_store(&longest_log, 0);
	o.orphans = 1;
	err = pex_gc_sweep(&r, f.pool, &o, NULL, NULL);
	ck_assert_msg(err == PEX_ENET, "got %s: %s", pex_error_name(err), pex_error_last()->message);
	/* two lookups (status, configuration) of one batch, side by side, each
	 * with its retry (retries_max 1): nothing per room, no orphan listing */
	ck_assert_int_le(emu_stat(&f.e, "requests"), 2 * 2);
	ck_report(&r, 0, 0, 0, 0, 0);
	ck_assert_uint_eq(qvisible(f.dq), 32);          /* given back at once */
	ck_assert_uint_eq(qcount(f.dq), 200);
	/* a handful of lines: two retries, the cause, "stopping", the summary;
	 * none quotes the 96 names of a lookup URL */
	ck_assert_int_le(atomic_load(&info_logs), 6);
	ck_assert_msg(atomic_load(&longest_log) < 400, "a log line of %zu characters",
		atomic_load(&longest_log));
	ck_assert_msg(strstr(pex_error_last()->message, "looking up a batch of rooms: "),
		"%s", pex_error_last()->message);
	ck_assert_msg(strlen(pex_error_last()->message) < 400, "%s", pex_error_last()->message);
	fx_close(&f);
}
END_TEST

/* ---- background requests yield to foreground ones ---- */

typedef struct bgreq {
	pex_client *c;
	int background;
	int err;
} bgreq;

static void *bg_thread(void *x)
{
	bgreq *b = x;
	int live = 0;
	b->err = pex_room_is_live(&live, b->background ? pex__client_background(b->c) : b->c,
		"vmr_any");
	return NULL;
}

/* Requests started one per thread on one client, held by the emulator. */
typedef struct mix {
	pex_client *c;
	pthread_t th[8];
	bgreq b[8];
	size_t n;
} mix;

/* Start one request on its own thread (1 = background) and wait until it
 * has settled: in flight at the emulator or waiting for a connection. The
 * emulator holds every request (hold: true), so what has settled stays
 * where it is until mix_finish(). Returns the requests in flight. */
static long long mix_add(emu_t *e, mix *m, int background)
{
	long long in_flight = -1;
	int i;

	ck_assert_uint_lt(m->n, PEX__ARRAY_SIZE(m->th));
	m->b[m->n].c = m->c;
	m->b[m->n].background = background;
	m->b[m->n].err = -1;
	ck_assert_int_eq(pthread_create(&m->th[m->n], NULL, bg_thread, &m->b[m->n]), 0);
	m->n++;
	/* a state, not a time: every request started is counted somewhere */
	for (i = 0; i < 60000; i++) {
		pex__http *t = pex__client_transport(m->c);
		in_flight = emu_stat(e, "in_flight");
		if (in_flight + (long long)(pex__http_waiting(t, PEX__HTTP_FOREGROUND) +
				pex__http_waiting(t, PEX__HTTP_BACKGROUND)) == (long long)m->n)
			return in_flight;
		usleep(1000);
	}
	ck_abort_msg("%zu requests never settled (%lld in flight)", m->n, in_flight);
	return -1;
}

/* Release the hold and wait for every request of @p m; each succeeded. */
static void mix_finish(emu_t *e, mix *m)
{
	size_t i;
	ck_assert_int_eq(emu_ctl(e, "POST", "/_emu/faults", "{\"hold\": false}", NULL), 200);
	for (i = 0; i < m->n; i++) {
		pthread_join(m->th[i], NULL);
		ck_assert_int_eq(m->b[i].err, 0);
	}
	m->n = 0;
}

static long long mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec;
}

/*
 * Background work yields connections to hand-outs (DECISIONS #15). Every
 * request is held by the emulator, so what runs together is a state the
 * test waits for: each request is added once the ones before it are in
 * flight or waiting for a connection, and the count in flight is read
 * while nothing can finish.
 */
START_TEST(test_background_yields)
{
	emu_t e;
	pex_client_options co = PEX_CLIENT_OPTIONS_INIT;
	mix m;
	long long t0, t1, seen = -1;
	int i, round;

	memset(&m, 0, sizeof(m));
	ck_assert_int_eq(emu_start(&e, NULL), 0);
	co.url = e.url;
	co.username = "admin";
	co.password = "admin";
	co.max_concurrency = 2;

	/* a foreground request in flight: background work leaves it the last
	 * free connection, so nothing runs beside it */
	ck_assert_msg(pex_client_new(&m.c, &co) == 0, "%s", pex_error_last()->message);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"hold\": true}", NULL), 200);
	ck_assert_int_eq(mix_add(&e, &m, 0), 1);
	ck_assert_int_eq(mix_add(&e, &m, 1), 1);
	ck_assert_int_eq(mix_add(&e, &m, 1), 1);
	ck_assert_uint_eq(pex__http_waiting(pex__client_transport(m.c), PEX__HTTP_BACKGROUND), 2);
	mix_finish(&e, &m);
	pex_client_free(m.c);

	/* background work alone (a client that never sent a foreground
	 * request) uses every connection */
	ck_assert_msg(pex_client_new(&m.c, &co) == 0, "%s", pex_error_last()->message);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"hold\": true}", NULL), 200);
	ck_assert_int_eq(mix_add(&e, &m, 1), 1);
	ck_assert_int_eq(mix_add(&e, &m, 1), 2);
	ck_assert_int_eq(mix_add(&e, &m, 1), 2);
	mix_finish(&e, &m);
	/* and so does foreground work (the control for the first case) */
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"hold\": true}", NULL), 200);
	ck_assert_int_eq(mix_add(&e, &m, 0), 1);
	ck_assert_int_eq(mix_add(&e, &m, 0), 2);
	ck_assert_int_eq(mix_add(&e, &m, 0), 2);
	mix_finish(&e, &m);
	pex_client_free(m.c);

	/*
	 * Recent foreground work is remembered: 4 hand-outs at once a moment
	 * ago on 5 connections, nothing in flight now, and background work
	 * still leaves one connection free for the next hand-out: it gets the
	 * other four. "A moment" is the transport's: the current or the
	 * previous second of the monotonic clock. t0 is read before the
	 * hand-outs end and t1 once the background requests have settled, so
	 * with t1 - t0 <= 1 every background request was admitted within that
	 * memory; a round the machine made slower than that proves nothing
	 * and is run again (never judged on the clock).
	 */
	co.max_concurrency = 5;
	ck_assert_msg(pex_client_new(&m.c, &co) == 0, "%s", pex_error_last()->message);
	for (round = 0; round < 20; round++) {
		ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"hold\": true}", NULL), 200);
		for (i = 0; i < 4; i++)
			ck_assert_int_eq(mix_add(&e, &m, 0), i + 1);
		t0 = mono_s();
		mix_finish(&e, &m);
		ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"hold\": true}", NULL), 200);
		for (i = 0; i < 5; i++)
			seen = mix_add(&e, &m, 1);
		t1 = mono_s();
		mix_finish(&e, &m);
		if (t1 - t0 <= 1)
			break;
	}
	ck_assert_msg(round < 20, "no round fitted in the transport's memory of foreground work");
	ck_assert_int_eq(seen, 4);
	pex_client_free(m.c);
	emu_stop(&e);
}
END_TEST

/* A foreground request on its own thread (bgreq with background 0). */
static void *fg_main(void *x)
{
	bgreq *b = x;
	int live = 0;
	b->err = pex_room_is_live(&live, b->c, "vmr_any");
	return NULL;
}

typedef struct replreq {
	pex_pool *pool;
	size_t created;
	int err;
} replreq;

static void *replenish_main(void *x)
{
	replreq *r = x;
	r->err = pex_pool_replenish(&r->created, r->pool, 2, NULL, NULL);
	return NULL;
}

/* Poll (a state, not a time) until @p n requests of @p cls wait for a
 * connection or the emulator has more than @p in_flight requests; gives
 * up after about 30 s. */
static void wait_waiting_or_sent(emu_t *e, pex_client *c, pex__http_class cls, size_t n,
	long long in_flight)
{
	int i;
	for (i = 0; i < 30000; i++) {
		if (pex__http_waiting(pex__client_transport(c), cls) >= n ||
		    emu_stat(e, "in_flight") > in_flight)
			return;
		usleep(1000);
	}
}

/* Pool bulk work goes out at background class from whatever thread runs it
 * (the caller's fresh thread and pex__pool_parallel's workers): with a
 * hand-out in flight on a client of 2 connections, a replenish of 2 rooms
 * waits for it instead of taking the last connection. */
START_TEST(test_replenish_background_from_fresh_thread)
{
	emu_t e;
	pex_client *c = NULL;
	pex_client_options co = PEX_CLIENT_OPTIONS_INIT;
	pex_pool_options po = PEX_POOL_OPTIONS_INIT;
	pex_queue *pq = NULL, *dq = NULL;
	pex_pool *pool = NULL;
	pthread_t fg, rp;
	bgreq b;
	replreq r;

	ck_assert_int_eq(emu_start(&e, NULL), 0);
	co.url = e.url;
	co.username = "admin";
	co.password = "admin";
	co.max_concurrency = 2;
	ck_assert_msg(pex_client_new(&c, &co) == 0, "%s", pex_error_last()->message);
	ck_assert_int_eq(pex_queue_open(&dq, "memory:", "room-deletion-queue"), 0);
	ck_assert_int_eq(pex_queue_open_sibling(&pq, dq, "room-creation-queue"), 0);
	po.ready_after_s = 0;
	ck_assert_msg(pex_pool_new(&pool, c, pq, dq, &po) == 0, "%s", pex_error_last()->message);

	/* a hand-out's request, held in the emulator */
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"hold\": true}", NULL), 200);
	memset(&b, 0, sizeof(b));
	b.c = c;
	b.err = -1;
	ck_assert_int_eq(pthread_create(&fg, NULL, fg_main, &b), 0);
	while (emu_stat(&e, "in_flight") < 1)
		usleep(1000);

	/* the replenish, from a thread that never chose a class */
	memset(&r, 0, sizeof(r));
	r.pool = pool;
	r.err = -1;
	ck_assert_int_eq(pthread_create(&rp, NULL, replenish_main, &r), 0);
	wait_waiting_or_sent(&e, c, PEX__HTTP_BACKGROUND, 2, 1);
	ck_assert_int_eq(pex__http_waiting(pex__client_transport(c), PEX__HTTP_BACKGROUND), 2);
	ck_assert_int_eq(emu_stat(&e, "in_flight"), 1);

	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"hold\": false}", NULL), 200);
	pthread_join(fg, NULL);
	pthread_join(rp, NULL);
	ck_assert_int_eq(b.err, 0);
	ck_assert_msg(r.err == 0, "%s", pex_error_last()->message);
	ck_assert_uint_eq(r.created, 2);
	ck_assert_uint_eq(qcount(pq), 2);

	pex_pool_free(pool);
	pex_queue_free(pq);
	pex_queue_free(dq);
	pex_client_free(c);
	emu_stop(&e);
}
END_TEST

/* The reply half of the batch lookups, without a server. */
START_TEST(test_batch_parse)
{
	static const char *const names[] = { "vmr_a", "vmr_b", "Team Room", "vmr_a", "not asked" };
	const char *ok = "{\"meta\":{\"total_count\":2},\"objects\":[{\"id\":7,\"name\":\"vmr_a\"},"
		"{\"id\":9,\"name\":\"team room\"},{\"id\":9,\"name\":\"Team Room\"}]}";
	const char *live_ok = "{\"objects\":[{\"id\":\"u-1\",\"name\":\"vmr_b\"}]}";
	const char *unfiltered = "{\"meta\":{\"total_count\":9},\"objects\":[]}";
	long long ids[5];
	int live[5], i;

#define RESET() do { for (i = 0; i < 5; i++) { ids[i] = i == 4 ? -1 : 0; live[i] = i == 4 ? -1 : 0; } } while (0)
	RESET();
	/* three objects for four names asked; "team room" matches nothing (exact names only) */
	ck_assert_int_eq(pex__room_batch_parse(ok, strlen(ok), names, 5, ids, NULL, "t"), 0);
	ck_assert_int_eq(ids[0], 7);
	ck_assert_int_eq(ids[1], 0);
	ck_assert_int_eq(ids[2], 9);
	ck_assert_int_eq(ids[3], 7);
	ck_assert_int_eq(ids[4], -1);
	RESET();
	ck_assert_int_eq(pex__room_batch_parse(live_ok, strlen(live_ok), names, 5, NULL, live, "t"), 0);
	ck_assert_int_eq(live[0], 0);
	ck_assert_int_eq(live[1], 1);
	ck_assert_int_eq(live[2], 0);
	ck_assert_int_eq(live[4], -1);
	/* a server that ignored the filter: more rooms than asked, or a longer total */
	RESET();
	ck_assert_int_eq(pex__room_batch_parse(unfiltered, strlen(unfiltered), names, 5, ids, NULL, "t"),
		PEX_ENOTSUPPORTED);
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(ids[i], -1);
	RESET();
	live[1] = live[2] = live[3] = -1;          /* only one name asked, two rooms answered */
	ck_assert_int_eq(pex__room_batch_parse(ok, strlen(ok), names, 5, NULL, live, "t"), PEX_ENOTSUPPORTED);
	/* malformed replies */
	RESET();
	ck_assert_int_eq(pex__room_batch_parse("{\"objects\":{}}", 14, names, 5, ids, NULL, "t"), PEX_EPARSE);
	ck_assert_int_eq(ids[0], -1);
	RESET();
	ck_assert_int_eq(pex__room_batch_parse("null", 4, names, 5, ids, NULL, "t"), PEX_EPARSE);
	ck_assert_ptr_nonnull(strstr(pex_error_last()->message, "not a complete JSON object"));
	RESET();
	ck_assert_int_eq(pex__room_batch_parse("", 0, names, 5, ids, NULL, "t"), PEX_EPARSE);
#undef RESET
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("events-gc");
	TCase *ev = tcase_create("events"), *gc = tcase_create("gc");

	tcase_add_test(ev, test_event_single_v1);
	tcase_add_test(ev, test_event_single_v2_delay);
	tcase_add_test(ev, test_event_bulk_mixed);
	tcase_add_test(ev, test_event_bulk_large_dedupe);
	tcase_add_test(ev, test_event_lifecycle);
	tcase_add_test(ev, test_event_unknown);
	tcase_add_test(ev, test_event_protected);
	tcase_add_test(ev, test_event_foreign);
	tcase_add_test(ev, test_owned_prefix_empty);
	tcase_add_test(ev, test_event_partial_data);
	tcase_add_test(ev, test_event_malformed);
	tcase_add_test(ev, test_event_limits);
	tcase_add_test(ev, test_event_cap);
	tcase_add_test(ev, test_schedule_delete);
	tcase_set_timeout(ev, 60);
	suite_add_tcase(s, ev);

	tcase_add_test(gc, test_event_from_emulator);
	tcase_add_test(gc, test_gc_deletes);
	tcase_add_test(gc, test_gc_live_and_protected);
	tcase_add_test(gc, test_gc_dry_run);
	tcase_add_test(gc, test_gc_max_and_min_age);
	tcase_add_test(gc, test_gc_rerun_after_kill);
	tcase_add_test(gc, test_gc_progress_abort_and_failures);
	tcase_add_test(gc, test_gc_orphans);
	tcase_add_test(gc, test_gc_orphans_deep_pool_and_max);
	tcase_add_test(gc, test_gc_foreign);
	tcase_add_test(gc, test_real_deployment);
	tcase_add_test(gc, test_gc_batched_lookups);
	tcase_add_test(gc, test_gc_batch_refused);
	tcase_add_test(gc, test_gc_loose_name_filter);
	tcase_add_test(gc, test_gc_non_ascii_250);
	tcase_add_test(gc, test_gc_stops_on_outage);
	tcase_add_test(gc, test_batch_parse);
	tcase_add_test(gc, test_background_yields);
	tcase_add_test(gc, test_replenish_background_from_fresh_thread);
	tcase_set_timeout(gc, 120);
	suite_add_tcase(s, gc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	curl_global_cleanup();
	return failed ? 1 : 0;
}
