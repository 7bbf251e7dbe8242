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

int main(void)
{
	Suite *s = suite_create("queue-config");
	TCase *tc = tcase_create("open_config");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_memory);
	tcase_add_test(tc, test_sqlite);
	tcase_add_test(tc, test_azure_unset);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
