/* The caller-allocated options, report and metrics structs of the pool
 * modules carry a version: their init functions accept 1..current and
 * refuse 0 and newer versions without touching the struct, the INIT macros
 * agree with them, and the calls that fill or read a struct refuse one
 * whose version they do not know. Links the public library only. */
#include <stdio.h>
#include <string.h>

#include <pexipsdk/pexipsdk.h>

static int failures;

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "%s:%d: failed: %s (%s)\n", __FILE__, __LINE__, #cond, pex_error_last()->message); \
	failures++; } } while (0)

/* init(s, version) for 0, current + 1 (refused, s untouched) and current;
 * with @p zeroed, init leaves every byte but the version 0 (a report). */
#define CHECK_INIT(type, init_fn, init_macro, current, zeroed) do { \
	type s_, zero_; \
	const type macro_ = init_macro; \
	memset(&s_, 0x5a, sizeof(s_)); \
	memcpy(&zero_, &s_, sizeof(s_)); \
	CHECK(init_fn(&s_, 0) == PEX_EINVAL); \
	CHECK(init_fn(&s_, (current) + 1) == PEX_EINVAL); \
	CHECK(memcmp(&s_, &zero_, sizeof(s_)) == 0); \
	CHECK(init_fn(NULL, current) == PEX_EINVAL); \
	CHECK(init_fn(&s_, current) == 0); \
	CHECK(s_.version == (current)); \
	CHECK(macro_.version == (current)); \
	if (zeroed) { \
		memset(&zero_, 0, sizeof(zero_)); \
		zero_.version = (current); \
		CHECK(memcmp(&s_, &zero_, sizeof(s_)) == 0); \
	} \
} while (0)

int main(void)
{
	pex_client_options co = PEX_CLIENT_OPTIONS_INIT;
	pex_client *c = NULL;
	pex_queue *pq = NULL, *dq = NULL;
	pex_pool *pool = NULL;
	pex_gc_report gr = PEX_GC_REPORT_INIT;
	pex_event_report er = PEX_EVENT_REPORT_INIT;
	pex_metrics m = PEX_METRICS_INIT;
	pex_gc_options go = PEX_GC_OPTIONS_INIT;
	pex_buf out = PEX_BUF_INIT;

	pex_global_init();
	CHECK_INIT(pex_pool_options, pex_pool_options_init, PEX_POOL_OPTIONS_INIT, PEX_POOL_OPTIONS_VERSION, 0);
	CHECK_INIT(pex_gc_options, pex_gc_options_init, PEX_GC_OPTIONS_INIT, PEX_GC_OPTIONS_VERSION, 0);
	CHECK_INIT(pex_gc_report, pex_gc_report_init, PEX_GC_REPORT_INIT, PEX_GC_REPORT_VERSION, 1);
	CHECK_INIT(pex_event_report, pex_event_report_init, PEX_EVENT_REPORT_INIT, PEX_EVENT_REPORT_VERSION, 1);
	CHECK_INIT(pex_metrics, pex_metrics_init, PEX_METRICS_INIT, PEX_METRICS_VERSION, 1);

	/* a pool over memory queues, a client that is never asked anything */
	co.url = "http://127.0.0.1:9";
	co.username = "u";
	co.password = "p";
	CHECK(pex_client_new(&c, &co) == 0);
	CHECK(pex_queue_open(&pq, "memory:", "abi-pool") == 0);
	CHECK(pex_queue_open_sibling(&dq, pq, "abi-deletions") == 0);
	CHECK(pex_pool_new(&pool, c, pq, dq, NULL) == 0);

	/* an unknown version is refused before anything is done */
	gr.version = PEX_GC_REPORT_VERSION + 1;
	CHECK(pex_gc_sweep(&gr, pool, &go, NULL, NULL) == PEX_EINVAL);
	CHECK(gr.version == PEX_GC_REPORT_VERSION + 1);
	go.version = 0;
	CHECK(pex_gc_sweep(NULL, pool, &go, NULL, NULL) == PEX_EINVAL);
	er.version = 0;
	CHECK(pex_event_handle(&er, pool, "[]", 2) == PEX_EINVAL);
	er.version = PEX_EVENT_REPORT_VERSION;
	er.events = 7;
	CHECK(pex_event_handle(&er, pool, "[]", 2) == 0);
	CHECK(er.version == PEX_EVENT_REPORT_VERSION && er.events == 0);
	m.version = PEX_METRICS_VERSION + 1;
	CHECK(pex_metrics_get_local(&m, pool) == PEX_EINVAL);
	CHECK(pex_metrics_format_write(&out, &m, PEX_METRICS_JSON) == PEX_EINVAL);
	m.version = PEX_METRICS_VERSION;
	CHECK(pex_metrics_format_write(&out, &m, PEX_METRICS_JSON) == 0);

	pex_buf_dispose(&out);
	pex_pool_free(pool);
	pex_queue_free(dq);
	pex_queue_free(pq);
	pex_client_free(c);
	pex_global_shutdown();
	if (failures == 0)
		printf("struct versions checked\n");
	return failures ? 1 : 0;
}
