/*
 * libFuzzer target for pex_event_handle(): event-sink POST bodies
 * (single envelopes, eventsink_bulk v1/v2, top-level arrays of envelopes,
 * any other JSON value), handled by a pool over two
 * "memory:" queues and a client pointing at http://127.0.0.1:9 (handling
 * an event does no Pexip I/O). Invariants:
 *
 *   failure  PEX_EPARSE only (a body that is not strict JSON: valid JSON is
 *            always answered), a non-empty printable message, and the
 *            deletion queue unchanged;
 *   success  scheduled + protected_skipped + foreign + ignored + unknown +
 *            skipped + capped == events, scheduled <= PEX_EVENT_SCHEDULE_MAX,
 *            and the deletion queue grew by exactly `scheduled` messages,
 *            none of them for a protected prefix, each a name the pool owns
 *            (pool.name_prefix "vmr_") that pex_gc_schedule_delete()
 *            accepts.
 *
 * Any broken invariant aborts. Linked with replay.c for a plain-main build.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pexipsdk/pexipsdk.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_events: invariant broken at %s:%d: %s\n", \
			__FILE__, __LINE__, #cond); \
		abort(); \
	} \
} while (0)

static pex_client *g_client;
static pex_queue *g_pool_q, *g_del_q;
static pex_pool *g_pool;

static void fuzz_teardown(void)
{
	pex_pool_free(g_pool);
	pex_queue_free(g_del_q);
	pex_queue_free(g_pool_q);
	pex_client_free(g_client);
}

static void fuzz_setup(void)
{
	pex_client_options co = PEX_CLIENT_OPTIONS_INIT;
	pex_pool_options po = PEX_POOL_OPTIONS_INIT;

	if (g_pool)
		return;
	co.url = "http://127.0.0.1:9";
	co.username = "fuzz";
	co.password = "fuzz";
	co.retries_max = 0;
	CHECK(pex_client_new(&g_client, &co) == 0);
	CHECK(pex_queue_open(&g_pool_q, "memory:", "fuzz-pool") == 0);
	CHECK(pex_queue_open(&g_del_q, "memory:", "fuzz-deletion") == 0);
	po.gc_delay_s = 0;
	po.ready_after_s = 0;
	CHECK(pex_pool_new(&g_pool, g_client, g_pool_q, g_del_q, &po) == 0);
	atexit(fuzz_teardown);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup();
	return 0;
}

static int printable_line(const char *s)
{
	/* messages may carry UTF-8 (room names), never C0 controls or DEL */
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

/* Characters in @p len bytes of UTF-8 (the 250 limit counts characters,
 * not bytes: pex_room_name_check(3)). */
static size_t utf8_chars(const char *s, size_t len)
{
	size_t i, n = 0;
	for (i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			n++;
	return n;
}

static void check_enqueued(size_t expected)
{
	pex_message **msgs = NULL;
	size_t n = 0, i;

	CHECK(pex_queue_peek(&msgs, &n, g_del_q, expected + 1) == 0);
	CHECK(n == expected);
	for (i = 0; i < n; i++) {
		const char *name = (const char *)msgs[i]->data;
		size_t len = msgs[i]->len;
		CHECK(len > 0 && name != NULL && utf8_chars(name, len) <= 250);
		CHECK(memchr(name, '\0', len) == NULL);
		CHECK(strncmp(name, "test_", 5) != 0 && strncmp(name, "vkiosk_", 7) != 0);
		CHECK(len >= 4 && strncmp(name, "vmr_", 4) == 0);
	}
	pex_message_array_free(msgs, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pex_event_report rep = PEX_EVENT_REPORT_INIT;
	size_t before = 0, after = 0;
	int err;

	fuzz_setup();
	if (size > 256 * 1024)
		return 0;
	CHECK(pex_queue_count(&before, g_del_q) == 0);
	CHECK(before == 0);
	memset(&rep, 0xa5, sizeof(rep));
	rep.version = PEX_EVENT_REPORT_VERSION;
	err = pex_event_handle(&rep, g_pool, (const char *)data, size);
	CHECK(pex_queue_count(&after, g_del_q) == 0);

	if (err < 0) {
		const pex_error *e = pex_error_last();
		CHECK(err == PEX_EPARSE);
		CHECK(e->code == err);
		CHECK(e->message != NULL && e->message[0] != '\0');
		CHECK(printable_line(e->message));
		CHECK(after == before);
		CHECK(rep.scheduled == 0);
	} else {
		CHECK(err == 0);
		CHECK(rep.scheduled + rep.protected_skipped + rep.foreign + rep.ignored + rep.unknown +
			rep.skipped + rep.capped == rep.events);
		CHECK(rep.scheduled <= PEX_EVENT_SCHEDULE_MAX);
		CHECK(after - before == rep.scheduled);
		check_enqueued(rep.scheduled);
	}
	if (after)
		CHECK(pex_queue_clear(g_del_q) == 0);
	return 0;
}
