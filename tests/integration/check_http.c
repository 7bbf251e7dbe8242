/* lib/http's one call (pex__http_call) and token cache against the Pexip
 * emulator: the policy's deadline, the prepare hook, a judge's AGAIN,
 * idempotency; the cache's single key, refresh and invalidation. */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "http/http_internal.h"
#include "emu_harness.h"

#define CONF_PATH "/api/admin/configuration/v1/conference/?limit=1"

static const char *const auth_headers[] = {
	"Accept: application/json", "Authorization: Basic YWRtaW46YWRtaW4=", NULL   /* admin:admin */
};

typedef struct fx {
	emu_t e;
	pex__http *h;
	char url[256];
} fx;

static void fx_open(fx *f)
{
	pex__http_config hc;

	memset(f, 0, sizeof(*f));
	ck_assert_int_eq(emu_start(&f->e, NULL), 0);
	snprintf(f->url, sizeof(f->url), "%s" CONF_PATH, f->e.url);
	memset(&hc, 0, sizeof(hc));
	hc.tls_verify = 1;
	hc.timeout_ms = 10000;
	hc.max_concurrency = 2;
	ck_assert_int_eq(pex__http_new(&f->h, &hc), 0);
}

static void faults(fx *f, const char *json);

/* Every /api/admin request answers 503 until the faults change. */
static void fx_open_503(fx *f)
{
	fx_open(f);
	faults(f, "{\"permanent_status\": 503}");
}

static void fx_close(fx *f)
{
	pex__http_free(f->h);
	emu_stop(&f->e);
}

static void faults(fx *f, const char *json)
{
	ck_assert_int_eq(emu_ctl(&f->e, "POST", "/_emu/faults", json, NULL), 200);
	ck_assert_int_eq(emu_ctl(&f->e, "POST", "/_emu/reset_stats", NULL, NULL), 200);
}

static pex__http_policy retrying(unsigned retries, int64_t base_ms)
{
	pex__http_policy pol;
	memset(&pol, 0, sizeof(pol));
	pol.idempotent = 1;
	pol.retries = retries;
	pol.base_ms = base_ms;
	pol.cap_ms = base_ms;
	return pol;
}

static int call(fx *f, const pex__http_policy *pol, pex__http_response *resp)
{
	pex__http_req req = { "GET", f->url, auth_headers, NULL, 0, 0, 0, NULL };
	memset(resp, 0, sizeof(*resp));
	return pex__http_call(f->h, &req, pol, resp);
}

/* Send under @p pol; the call succeeds with @p status after @p retries
 * retries and @p requests requests seen by the emulator. */
static void expect_call(fx *f, const pex__http_policy *pol, long status, unsigned retries,
	long long requests)
{
	pex__http_response resp;
	ck_assert_int_eq(call(f, pol, &resp), 0);
	ck_assert_int_eq(resp.status, status);
	ck_assert_uint_eq(resp.retries, retries);
	ck_assert_int_eq(emu_stat(&f->e, "requests"), requests);
	pex__http_response_dispose(&resp);
}

/* A retry that would sleep past the deadline is not made. */
START_TEST(test_call_deadline)
{
	pex__http_policy pol;
	fx f;

	fx_open_503(&f);
	pol = retrying(2, 1);
	expect_call(&f, &pol, 503, 2, 3);

	/* the first backoff is at least 30 s: far past a deadline 1 s away */
	faults(&f, "{\"permanent_status\": 503}");
	pol = retrying(5, 60000);
	pol.deadline_ms = pex__now_ms() + 1000;
	expect_call(&f, &pol, 503, 0, 1);
	fx_close(&f);
}
END_TEST

typedef struct hooks {
	unsigned prepared, judged, agains, fail_at;
	pex__http_policy *pol;
} hooks;

static int count_prepare(void *arg, unsigned attempt, pex__http_req *req)
{
	hooks *k = arg;
	(void)req;
	k->prepared++;
	if (k->fail_at && attempt + 1 >= k->fail_at)
		return pex_error_set(PEX_EAUTH, PEX_ERROR_CLASS_AUTH, "no token this time");
	return 0;
}

static pex__http_verdict again_first(void *arg, unsigned attempt, int err, pex__http_response *resp)
{
	hooks *k = arg;
	(void)attempt;
	k->judged++;
	if (k->agains > 0) {
		k->agains--;
		return PEX__HTTP_AGAIN;
	}
	return pex__http_judge(k->pol, err, resp);
}

/* prepare runs before every attempt and can end the call; AGAIN sends at
 * once without spending a retry. */
START_TEST(test_call_hooks)
{
	pex__http_response resp;
	pex__http_policy pol;
	hooks k;
	fx f;

	fx_open_503(&f);
	memset(&k, 0, sizeof(k));
	pol = retrying(2, 1);
	pol.prepare = count_prepare;
	pol.arg = &k;
	ck_assert_int_eq(call(&f, &pol, &resp), 0);
	ck_assert_uint_eq(k.prepared, 3);
	pex__http_response_dispose(&resp);

	/* a prepare failure on the second attempt ends the call with it */
	faults(&f, "{\"permanent_status\": 503}");
	memset(&k, 0, sizeof(k));
	k.fail_at = 2;
	ck_assert_int_eq(call(&f, &pol, &resp), PEX_EAUTH);
	ck_assert_uint_eq(k.prepared, 2);
	ck_assert_int_eq(emu_stat(&f.e, "requests"), 1);
	pex__http_response_dispose(&resp);

	/* two AGAINs, then the common verdict on a 200: three sends, no retry */
	faults(&f, "{\"permanent_status\": 0}");
	memset(&k, 0, sizeof(k));
	k.agains = 2;
	k.pol = &pol;
	pol = retrying(0, 1);
	pol.judge = again_first;
	pol.arg = &k;
	ck_assert_int_eq(call(&f, &pol, &resp), 0);
	ck_assert_int_eq(resp.status, 200);
	ck_assert_uint_eq(resp.retries, 0);
	ck_assert_uint_eq(k.judged, 3);
	ck_assert_int_eq(emu_stat(&f.e, "requests"), 3);
	pex__http_response_dispose(&resp);
	fx_close(&f);
}
END_TEST

/* Not idempotent: only 429 is retried among the statuses. */
START_TEST(test_call_not_idempotent)
{
	pex__http_policy pol;
	fx f;

	fx_open_503(&f);
	pol = retrying(3, 1);
	pol.idempotent = 0;
	expect_call(&f, &pol, 503, 0, 1);

	faults(&f, "{\"permanent_status\": 0, \"fail_next\": 2, \"fail_next_status\": 429, "
		"\"retry_after_s\": 0}");
	expect_call(&f, &pol, 200, 2, 3);
	fx_close(&f);
}
END_TEST

/* ---- token cache (no server) ---- */

typedef struct fetcher {
	int fetches;
	int64_t life_ms;
} fetcher;

static int fetch_count(void *arg, char **value, int64_t *refresh_at)
{
	fetcher *t = arg;
	char buf[32];
	snprintf(buf, sizeof(buf), "token-%d", ++t->fetches);
	*value = strdup(buf);
	*refresh_at = pex__now_ms() + t->life_ms;
	return *value ? 0 : PEX_ENOMEM;
}

static void get(pex__token_cache *tc, const char *key, fetcher *t, const char *want,
	unsigned *gen, int want_fresh)
{
	char *v = NULL;
	int fresh = -1;
	ck_assert_int_eq(pex__token_get(tc, key, fetch_count, t, &v, gen, &fresh), 0);
	ck_assert_str_eq(v, want);
	ck_assert_int_eq(fresh, want_fresh);
	free(v);
}

START_TEST(test_token_cache)
{
	pex__token_cache tc;
	fetcher t = { 0, 3600000 };
	unsigned g1 = 0, g2 = 0;

	pex__token_cache_init(&tc);
	get(&tc, "a", &t, "token-1", &g1, 1);
	get(&tc, "a", &t, "token-1", &g2, 0);      /* cached */
	ck_assert_uint_eq(g1, g2);
	get(&tc, "b", &t, "token-2", &g2, 1);      /* another key: fetched anew */
	ck_assert_int_eq(pex__token_invalidate(&tc, g1), 1);   /* replaced already */
	get(&tc, "b", &t, "token-2", NULL, 0);
	ck_assert_int_eq(pex__token_invalidate(&tc, g2), 0);   /* refused: refetch */
	get(&tc, "b", &t, "token-3", NULL, 1);
	t.life_ms = -1;                            /* due at once: never served from the cache */
	pex__token_cache_drop(&tc);
	get(&tc, NULL, &t, "token-4", NULL, 1);
	get(&tc, NULL, &t, "token-5", NULL, 1);
	ck_assert_int_eq(t.fetches, 5);
	pex__token_cache_dispose(&tc);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("http");
	TCase *c = tcase_create("call");
	TCase *t = tcase_create("token");

	tcase_add_test(c, test_call_deadline);
	tcase_add_test(c, test_call_hooks);
	tcase_add_test(c, test_call_not_idempotent);
	tcase_set_timeout(c, 60);
	suite_add_tcase(s, c);
	tcase_add_test(t, test_token_cache);
	suite_add_tcase(s, t);
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
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
