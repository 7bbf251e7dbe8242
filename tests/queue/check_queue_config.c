/*
 * pex_queue_open_config(): the backend the configuration names. A program
 * of its own because it is the only queue code that needs the config module.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pex_config.h"
#include "pexipsdk/config.h"
#include "pexipsdk/sys/queue_backend.h"
#include "queue/queue_internal.h"
#include "testbackend.h"

/* Parse the queue part of a configuration (plus the one required key). */
static pex_config *parse(const char *queue_yaml)
{
	pex_config *cfg = NULL;
	char yaml[1024];
	int err;

	snprintf(yaml, sizeof(yaml), "pexip:\n  url: https://pexip.example.com\n%s", queue_yaml);
	err = pex_config_parse(&cfg, yaml, strlen(yaml), "test.yaml");

	ck_assert_msg(err == 0, "config: %s", pex_error_last()->message);
	return cfg;
}

START_TEST(test_memory)
{
	pex_config *cfg = parse("queue:\n  backend: memory\n");
	pex_queue *q = NULL;

	ck_assert_int_eq(pex_queue_open_config(&q, cfg, "Bad"), PEX_EINVAL);
	ck_assert_int_eq(pex_queue_open_config(&q, cfg, "pool"), 0);
	ck_assert_str_eq(pex__queue_backend(q)->name, "memory");
	ck_assert_int_eq(pex_queue_put(q, "x", 1, 0), 0);
	pex_queue_free(q);
	pex_config_free(cfg);
}
END_TEST

START_TEST(test_sqlite)
{
	char path[256], yaml[512];
	pex_config *cfg;
	pex_queue *q = NULL;
	int err;

	snprintf(path, sizeof(path), "%s/pex-qcfg-%ld.db",
		getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid());
	snprintf(yaml, sizeof(yaml), "queue:\n  backend: sqlite\n  sqlite: {path: \"%s\"}\n", path);
	cfg = parse(yaml);
	err = pex_queue_open_config(&q, cfg, "pool");
	if (PEX_HAVE_SQLITE) {
		ck_assert_msg(err == 0, "%s", pex_error_last()->message);
		ck_assert_str_eq(pex__queue_backend(q)->name, "sqlite");
	} else {
		ck_assert_int_eq(err, PEX_ENOTSUPPORTED);
	}
	pex_queue_free(q);
	pex_config_free(cfg);
	unlink(path);
	strcat(path, "-wal");
	unlink(path);
	path[strlen(path) - 4] = '\0';
	strcat(path, "-shm");
	unlink(path);
}
END_TEST

START_TEST(test_azure_unset)
{
	pex_config *cfg;
	pex_queue *q = NULL;
	int err;

	unsetenv("AZURE_STORAGE_CONNECTION_STRING");
	cfg = parse("queue:\n  backend: azure\n");
	err = pex_queue_open_config(&q, cfg, "pool");
	/* no connection string anywhere: a configuration error naming the key */
	ck_assert_msg(err == PEX_ECONFIG || err == PEX_ENOTSUPPORTED, "%s: %s",
		pex_error_name(err), pex_error_last()->message);
	if (err == PEX_ECONFIG)
		ck_assert_ptr_nonnull(strstr(pex_error_last()->message,
			"queue.azure.connection_string"));
	ck_assert_ptr_null(q);
	pex_config_free(cfg);
}
END_TEST

/* queue.postgres.*: a missing, malformed or unreachable connection string
 * and a bad schema are clear errors naming the key, and the password in
 * the string never shows. (The backend itself: tests/postgres.) */
START_TEST(test_postgres_config)
{
	static const struct { const char *yaml; int err; const char *names; } cases[] = {
		{ "queue:\n  backend: postgres\n", PEX_ECONFIG, "queue.postgres.conninfo" },
		{ "queue:\n  backend: postgres\n  postgres: {conninfo: \"nonsense s3cr3t\"}\n",
		  PEX_EINVAL, "queue.postgres.conninfo" },
		{ "queue:\n  backend: postgres\n  postgres: {conninfo: \"host=/nonexistent "
		  "password=s3cr3t\", schema: Bad-Schema}\n", PEX_EINVAL, "queue.postgres.schema" },
		{ "queue:\n  backend: postgres\n  postgres: {conninfo: \"host=/nonexistent "
		  "password=s3cr3t connect_timeout=2\"}\n", PEX_ENET, "cannot connect" },
	};
	pex_config *cfg;
	pex_queue *q = NULL;
	size_t i;
	int err;

	unsetenv("PEXIPSDK_PG");
	for (i = 0; i < PEX__ARRAY_SIZE(cases); i++) {
		cfg = parse(cases[i].yaml);
		err = pex_queue_open_config(&q, cfg, "pool");
		ck_assert_ptr_null(q);
		if (err == PEX_ENOTSUPPORTED && i > 0) {
			/* built without libpq: it says so, naming the remedy */
			ck_assert_ptr_nonnull(strstr(pex_error_last()->message, "libpq"));
		} else {
			ck_assert_msg(err == cases[i].err, "case %zu: %s: %s", i, pex_error_name(err),
				pex_error_last()->message);
			ck_assert_msg(strstr(pex_error_last()->message, cases[i].names) != NULL,
				"case %zu: '%s' does not name %s", i, pex_error_last()->message,
				cases[i].names);
		}
		ck_assert_msg(strstr(pex_error_last()->message, "s3cr3t") == NULL,
			"case %zu: the password leaked: %s", i, pex_error_last()->message);
		pex_config_free(cfg);
	}
}
END_TEST

START_TEST(test_registered)
{
	tb_state st;
	pex_config *cfg;
	pex_queue *q = NULL;
	size_t n = 9;

	memset(&st, 0, sizeof(st));
	/* not registered (yet): an error naming the key, the name and what exists */
	cfg = parse("queue:\n  backend: cfgq\n  location: \"file-ish:/x\"\n");
	ck_assert_int_eq(pex_queue_open_config(&q, cfg, "pool"), PEX_ECONFIG);
	ck_assert_ptr_nonnull(strstr(pex_error_last()->message,
		"queue.backend: unknown backend 'cfgq' (expected memory, sqlite, azure, postgres; none is registered)"));
	ck_assert_ptr_null(q);

	ck_assert_int_eq(pex_queue_backend_register("cfgq", tb_factory, &st), 0);
	ck_assert_int_eq(pex_queue_backend_register("other-q", tb_factory, &st), 0);
	ck_assert_int_eq(pex_queue_open_config(&q, cfg, "pool"), 0);
	ck_assert_int_eq(st.calls, 1);
	ck_assert_str_eq(st.location, "file-ish:/x");
	ck_assert_str_eq(pex__queue_backend(q)->name, "test");
	ck_assert_int_eq(pex_queue_put(q, "x", 1, 0), 0);
	ck_assert_int_eq(pex_queue_count(&n, q), 0);
	ck_assert_uint_eq(n, 1);
	pex_queue_free(q);
	pex_config_free(cfg);

	/* queue.location is a secret-capable key: references resolve */
	setenv("PEX_TEST_QUEUE_LOCATION", "from the environment", 1);
	cfg = parse("queue:\n  backend: cfgq\n  location: env:PEX_TEST_QUEUE_LOCATION\n");
	ck_assert_int_eq(pex_queue_open_config(&q, cfg, "pool"), 0);
	ck_assert_str_eq(st.location, "from the environment");
	pex_queue_free(q);
	pex_config_free(cfg);
	unsetenv("PEX_TEST_QUEUE_LOCATION");

	/* unset: the factory gets "" */
	cfg = parse("queue:\n  backend: cfgq\n");
	ck_assert_int_eq(pex_queue_open_config(&q, cfg, "pool"), 0);
	ck_assert_str_eq(st.location, "");
	pex_queue_free(q);
	pex_config_free(cfg);

	/* a name that parses but is not registered lists those that are */
	cfg = parse("queue:\n  backend: cfgx\n  location: s3cr3t\n");
	ck_assert_int_eq(pex_queue_open_config(&q, cfg, "pool"), PEX_ECONFIG);
	ck_assert_ptr_nonnull(strstr(pex_error_last()->message,
		"unknown backend 'cfgx' (expected memory, sqlite, azure, postgres or a registered one: "));
	ck_assert_ptr_nonnull(strstr(pex_error_last()->message, "cfgq"));
	ck_assert_ptr_nonnull(strstr(pex_error_last()->message, "other-q"));
	ck_assert_ptr_null(strstr(pex_error_last()->message, "s3cr3t"));
	pex_config_free(cfg);

	/* the factory's failure is reported as it said */
	st.fail = PEX_ENOTFOUND;
	cfg = parse("queue:\n  backend: cfgq\n");
	ck_assert_int_eq(pex_queue_open_config(&q, cfg, "pool"), PEX_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(pex_error_last()->message, "refusing as told"));
	ck_assert_ptr_null(q);
	pex_config_free(cfg);

	ck_assert_int_eq(pex_queue_backend_unregister("cfgq"), 0);
	ck_assert_int_eq(pex_queue_backend_unregister("other-q"), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("queue-config");
	TCase *tc = tcase_create("open_config");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_memory);
	tcase_add_test(tc, test_sqlite);
	tcase_add_test(tc, test_azure_unset);
	tcase_add_test(tc, test_postgres_config);
	tcase_add_test(tc, test_registered);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
