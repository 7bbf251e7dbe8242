/* End to end, through the public API: fill 50; hand out 50 rooms with
 * distinct UUIs (each tagged with the right URL, the pool back at depth);
 * end all 50 through the emulator's event driver into a real HTTP event
 * sink; a GC with delay 0 deletes them; protected rooms survive; a room
 * made live again is postponed. The queue backend comes from PEX_QUEUE_URI
 * (sqlite:... here, azure:... under tests/azure's launcher). */
#include <check.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pexipsdk/pexipsdk.h>
#include "emu_harness.h"

#define N_ROOMS 50

static const char *queue_uri(void)
{
	const char *u = getenv("PEX_QUEUE_URI");
	return u && *u ? u : "memory:";
}

/* ---- a real event sink: libmicrohttpd handing bodies to the pool ---- */

typedef struct sink {
	struct MHD_Daemon *d;
	int port;
	pex_pool *pool;
	pthread_mutex_t lock;
	pex_event_report total;
	int errors;
} sink;

typedef struct req { char *buf; size_t len; } req;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
	const char *method, const char *version, const char *data, size_t *size, void **ctx)
{
	sink *s = cls;
	req *r = *ctx;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	(void)url; (void)version;
	if (!r) {
		r = calloc(1, sizeof(*r));
		*ctx = r;
		return MHD_YES;
	}
	if (*size) {
		r->buf = realloc(r->buf, r->len + *size + 1);
		memcpy(r->buf + r->len, data, *size);
		r->len += *size;
		r->buf[r->len] = '\0';
		*size = 0;
		return MHD_YES;
	}
	{
		pex_event_report rep = PEX_EVENT_REPORT_INIT;
		int err;
		pex_event_report_init(&rep, PEX_EVENT_REPORT_VERSION);
		err = strcmp(method, "POST") == 0 ? pex_event_handle(&rep, s->pool, r->buf ? r->buf : "", r->len) : -1;
		pthread_mutex_lock(&s->lock);
		if (err < 0)
			s->errors++;
		s->total.events += rep.events;
		s->total.scheduled += rep.scheduled;
		s->total.protected_skipped += rep.protected_skipped;
		s->total.unknown += rep.unknown;
		pthread_mutex_unlock(&s->lock);
		resp = MHD_create_response_from_buffer(2, (void *)"ok", MHD_RESPMEM_PERSISTENT);
		ret = MHD_queue_response(conn, err < 0 ? 400 : 200, resp);
		MHD_destroy_response(resp);
	}
	return ret;
}

static void on_done(void *cls, struct MHD_Connection *c, void **ctx, enum MHD_RequestTerminationCode t)
{
	req *r = *ctx;
	(void)cls; (void)c; (void)t;
	if (r) {
		free(r->buf);
		free(r);
	}
	*ctx = NULL;
}

static void sink_start(sink *s, pex_pool *pool)
{
	const union MHD_DaemonInfo *info;
	memset(s, 0, sizeof(*s));
	s->pool = pool;
	pthread_mutex_init(&s->lock, NULL);
	s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
		0, NULL, NULL, on_request, s, MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
	ck_assert_ptr_nonnull(s->d);
	info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info->port;
}

static void sink_stop(sink *s)
{
	MHD_stop_daemon(s->d);
	pthread_mutex_destroy(&s->lock);
}

/* ---- helpers ---- */

static pex_client *client_for(const emu_t *e)
{
	pex_client_options o = PEX_CLIENT_OPTIONS_INIT;
	pex_client *c = NULL;
	o.url = e->url;
	o.username = "admin";
	o.password = "admin";
	o.retry_base_ms = 5;
	o.retry_cap_ms = 100;
	ck_assert_msg(pex_client_new(&c, &o) == 0, "%s", pex_error_last()->message);
	return c;
}

static void hexify(char *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		*out++ = hex[(unsigned char)*s >> 4];
		*out++ = hex[(unsigned char)*s & 15];
	}
	*out = '\0';
}

static size_t qcount(pex_queue *q)
{
	size_t n = 0;
	ck_assert_int_eq(pex_queue_count(&n, q), 0);
	return n;
}

START_TEST(test_room_lifecycle)
{
	static const char *hosts[] = { "svc.example.com" };
	pex_pool_options o = PEX_POOL_OPTIONS_INIT;
	pex_queue *pq = NULL, *dq = NULL;
	pex_client *c;
	pex_pool *pool = NULL;
	pex_gc_report rep = PEX_GC_REPORT_INIT;
	pex_gc_options go = PEX_GC_OPTIONS_INIT;
	sink s;
	emu_t e;
	char qname[64], dname[64], names[N_ROOMS][64], body[16384], *p;
	size_t created = 0, i;
	unsigned tag = (unsigned)getpid();

	ck_assert_int_eq(emu_start(&e, NULL), 0);
	c = client_for(&e);
	snprintf(qname, sizeof(qname), "pool-e2e-%u", tag);
	snprintf(dname, sizeof(dname), "del-e2e-%u", tag);
	ck_assert_msg(pex_queue_open(&pq, queue_uri(), qname) == 0, "%s", pex_error_last()->message);
	ck_assert_int_eq(pex_queue_open_sibling(&dq, pq, dname), 0);
	pex_queue_clear(pq);
	pex_queue_clear(dq);

	o.depth = N_ROOMS;
	o.tag.url_template = "https://svc.example.com/session?uui={uui}";
	o.ready_after_s = 0;       /* fills and hands out at once: no replication here */
	o.tag.allowed_hosts = hosts;
	o.tag.allowed_host_count = 1;
	o.gc_delay_s = 0;
	ck_assert_int_eq(pex_pool_new(&pool, c, pq, dq, &o), 0);

	/* fill 50 */
	ck_assert_msg(pex_pool_fill(&created, pool, 0, NULL, NULL) == 0, "%s", pex_error_last()->message);
	ck_assert_uint_eq(created, N_ROOMS);
	ck_assert_uint_eq(qcount(pq), N_ROOMS);
	ck_assert_int_eq(emu_stat(&e, "conferences"), N_ROOMS);

	/* hand out 50 with distinct UUIs, replenishing after each */
	for (i = 0; i < N_ROOMS; i++) {
		pex_pool_room *r = NULL;
		pex_room *room = NULL;
		char text[64], hex[160], want[256];
		size_t j;
		snprintf(text, sizeof(text), "session %zu/%u", i, tag);
		hexify(hex, text);
		ck_assert_msg(pex_pool_pop(&r, pool, hex, NULL) == 0, "pop %zu: %s", i, pex_error_last()->message);
		snprintf(want, sizeof(want), "https://svc.example.com/session?uui=session%%20%zu%%2F%u", i, tag);
		ck_assert_str_eq(r->tag, want);
		ck_assert_int_eq(strncmp(r->name, "vmr_", 4), 0);
		ck_assert_int_gt(strlen(r->guest_pin), 3);
		ck_assert_int_gt(strlen(r->alias), 0);
		ck_assert_int_eq(pex_room_get(&room, c, r->id), 0);
		ck_assert_str_eq(pex_room_tag(room), want);
		ck_assert_str_eq(pex_room_name(room), r->name);
		pex_room_free(room);
		for (j = 0; j < i; j++)
			ck_assert_str_ne(names[j], r->name);     /* never handed out twice */
		snprintf(names[i], sizeof(names[i]), "%s", r->name);
		pex_pool_room_free(r);
		ck_assert_int_eq(pex_pool_replenish(&created, pool, 1, NULL, NULL), 0);
		ck_assert_uint_eq(created, 1);
	}
	ck_assert_uint_eq(qcount(pq), N_ROOMS);                  /* back at depth */
	ck_assert_int_eq(emu_stat(&e, "conferences"), 2 * N_ROOMS);

	/* bad input changes nothing */
	{
		pex_pool_room *r = NULL;
		ck_assert_int_eq(pex_pool_pop(&r, pool, "zz", NULL), PEX_EINVAL);
		ck_assert_uint_eq(qcount(pq), N_ROOMS);
	}

	/* protected rooms, and one room that goes live again */
	ck_assert_int_eq(emu_api(&e, "POST", "/api/admin/configuration/v1/conference/",
		"{\"name\":\"test_keep\",\"service_type\":\"conference\"}", NULL), 201);
	ck_assert_int_eq(emu_api(&e, "POST", "/api/admin/configuration/v1/conference/",
		"{\"name\":\"vkiosk_1\",\"service_type\":\"conference\"}", NULL), 201);

	/* end all 50 (+ the protected ones) through the event driver, in bulk */
	sink_start(&s, pool);
	p = body + snprintf(body, sizeof(body), "{\"url\":\"http://127.0.0.1:%d/public/event_sink\","
		"\"bulk\":true,\"names\":[\"test_keep\",\"vkiosk_1\"", s.port);
	for (i = 0; i < N_ROOMS; i++)
		p += snprintf(p, sizeof(body) - (size_t)(p - body), ",\"%s\"", names[i]);
	snprintf(p, sizeof(body) - (size_t)(p - body), "]}");
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/events", body, NULL), 200);
	/* and once more as single events for two of them (duplicates are harmless) */
	snprintf(body, sizeof(body), "{\"url\":\"http://127.0.0.1:%d/public/event_sink\",\"names\":[\"%s\",\"%s\"]}",
		s.port, names[0], names[1]);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/events", body, NULL), 200);
	sink_stop(&s);
	ck_assert_int_eq(s.errors, 0);
	ck_assert_uint_eq(s.total.scheduled, N_ROOMS + 2);
	ck_assert_uint_eq(s.total.protected_skipped, 2);

	/* room 7 is live again: it must be postponed, not deleted */
	snprintf(body, sizeof(body), "{\"name\":\"%s\"}", names[7]);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/conference/start", body, NULL), 200);

	pex_gc_report_init(&rep, PEX_GC_REPORT_VERSION);
	ck_assert_msg(pex_gc_sweep(&rep, pool, &go, NULL, NULL) == 0, "%s", pex_error_last()->message);
	ck_assert_uint_eq(rep.deleted, N_ROOMS - 1);
	ck_assert_uint_eq(rep.postponed_live, 1);
	ck_assert_uint_eq(rep.failed, 0);
	/* the two duplicate schedules find their rooms already gone */
	ck_assert_uint_eq(rep.already_gone, 2);
	ck_assert_int_eq(emu_stat(&e, "conferences"), N_ROOMS + 3);   /* pool + test_keep + vkiosk_1 + live one */
	{
		pex_room *r = NULL;
		ck_assert_int_eq(pex_room_get_by_name(&r, c, "test_keep"), 0);
		pex_room_free(r);
		ck_assert_int_eq(pex_room_get_by_name(&r, c, names[7]), 0);
		pex_room_free(r);
		ck_assert_int_eq(pex_room_get_by_name(&r, c, names[8]), PEX_ENOTFOUND);
	}
	/* the postponed message is still queued for later */
	ck_assert_uint_ge(qcount(dq), 1);

	pex_queue_clear(pq);
	pex_queue_clear(dq);
	pex_pool_free(pool);
	pex_queue_free(dq);
	pex_queue_free(pq);
	pex_client_free(c);
	emu_stop(&e);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("lifecycle");
	TCase *tc = tcase_create("e2e");
	SRunner *sr;
	int failed;
	signal(SIGPIPE, SIG_IGN);
	pex_global_init();
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_room_lifecycle);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	pex_global_shutdown();
	return failed ? 1 : 0;
}
