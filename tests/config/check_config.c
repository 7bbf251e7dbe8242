/*
 * Unit tests of the configuration module (lib/config): schema and defaults,
 * every type and its errors (exact messages, with key and line), secret
 * references, the search order, overrides, the dump and the environment
 * layer (pex_config_apply_env, pex_config_load_env, pex_config_show).
 *
 * Tests run without fork under valgrind (CK_FORK=no), so each one restores
 * the environment variables and working directory it changes.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "config/config_internal.h"
#include "pexipsdk/queue.h"

#ifndef CONFIG_DATA_DIR
# error "CONFIG_DATA_DIR must point at tests/config/data"
#endif

#define ORIGIN "pexipsdk.yaml"
#define URL "pexip:\n  url: https://mgr.example.com\n"     /* lines 1-2 */

/* ---- helpers ---- */

static pex_config *sentinel(void)
{
	return (pex_config *)(uintptr_t)0x5e17;
}

static pex_config *parse_ok_at(const char *yaml, const char *file, int line)
{
	pex_config *cfg = NULL;
	int err = pex_config_parse(&cfg, yaml, strlen(yaml), ORIGIN);

	ck_assert_msg(err == 0, "%s:%d: parse failed (%s): %s\n--- yaml:\n%s", file, line,
		pex_error_name(err), pex_error_last()->message, yaml);
	ck_assert_ptr_nonnull(cfg);
	return cfg;
}
#define parse_ok(yaml) parse_ok_at((yaml), __FILE__, __LINE__)

/* Parse must fail with @p code and exactly @p msg, leaving out untouched. */
static void parse_err_at(const char *yaml, int code, const char *msg, const char *file, int line)
{
	pex_config *cfg = sentinel();
	int err = pex_config_parse(&cfg, yaml, strlen(yaml), ORIGIN);

	ck_assert_msg(err == code, "%s:%d: expected %s, got %s (%s)\n--- yaml:\n%s", file, line,
		pex_error_name(code), pex_error_name(err), pex_error_last()->message, yaml);
	ck_assert_msg(cfg == sentinel(), "%s:%d: out was touched on error", file, line);
	ck_assert_msg(strcmp(pex_error_last()->message, msg) == 0,
		"%s:%d: message\n  got:      %s\n  expected: %s", file, line,
		pex_error_last()->message, msg);
	ck_assert_int_eq(pex_error_last()->code, code);
}
#define parse_err(yaml, code, msg) parse_err_at((yaml), (code), (msg), __FILE__, __LINE__)

/*
 * @p yaml parses (secret references are resolved when read), and reading
 * @p key (a string or a list) fails with @p code and exactly @p msg; so does
 * pex_config_resolve_secrets().
 */
static void secret_err_at(const char *yaml, const char *key, int code, const char *msg,
	const char *file, int line)
{
	pex_config *cfg = parse_ok_at(yaml, file, line);
	const char *s = NULL;
	const char *const *list = NULL;
	size_t n = 0;
	int err, pass;

	for (pass = 0; pass < 2; pass++) {
		if (pass == 1)
			err = pex_config_resolve_secrets(cfg);
		else if (pex__config_schema(NULL)[pex__config_lookup(key)].type == PEX__CFG_SECRET_LIST)
			err = pex_config_get_list(&list, &n, cfg, key);
		else
			err = pex_config_get_string(&s, cfg, key);
		ck_assert_msg(err == code, "%s:%d: %s: expected %s, got %s (%s)", file, line, key,
			pex_error_name(code), pex_error_name(err), pex_error_last()->message);
		ck_assert_msg(strcmp(pex_error_last()->message, msg) == 0,
			"%s:%d: message\n  got:      %s\n  expected: %s", file, line,
			pex_error_last()->message, msg);
	}
	ck_assert_ptr_null(s);
	ck_assert_ptr_null(list);
	pex_config_free(cfg);
}
#define secret_err(yaml, key, code, msg) \
	secret_err_at((yaml), (key), (code), (msg), __FILE__, __LINE__)

static void assert_str_key(const pex_config *cfg, const char *key, const char *want)
{
	const char *s = NULL;
	int err = pex_config_get_string(&s, cfg, key);

	ck_assert_msg(err == 0, "%s: %s", key, pex_error_last()->message);
	ck_assert_msg(strcmp(s, want) == 0, "%s: got '%s', want '%s'", key, s, want);
}

static void assert_int_key(const pex_config *cfg, const char *key, long long want)
{
	long long v = -12345;
	int err = pex_config_get_int(&v, cfg, key);

	ck_assert_msg(err == 0, "%s: %s", key, pex_error_last()->message);
	ck_assert_msg(v == want, "%s: got %lld, want %lld", key, v, want);
}

static void assert_bool_key(const pex_config *cfg, const char *key, int want)
{
	int v = -1;
	int err = pex_config_get_bool(&v, cfg, key);

	ck_assert_msg(err == 0, "%s: %s", key, pex_error_last()->message);
	ck_assert_msg(v == want, "%s: got %d, want %d", key, v, want);
}

static void assert_null_key(const pex_config *cfg, const char *key)
{
	const char *s = "x";
	long long i;
	int err, idx = pex__config_lookup(key);

	ck_assert_int_ge(idx, 0);
	if (pex__config_schema(NULL)[idx].type == PEX__CFG_INT)
		err = pex_config_get_int(&i, cfg, key);
	else
		err = pex_config_get_string(&s, cfg, key);
	ck_assert_msg(err == PEX_ENOTFOUND, "%s: expected PEX_ENOTFOUND, got %s", key,
		pex_error_name(err));
}

/* Assert list @p key is exactly the NULL-terminated @p want. */
static void assert_list_key(const pex_config *cfg, const char *key, const char *const *want)
{
	const char *const *list = NULL;
	size_t n = 99, i;
	int err = pex_config_get_list(&list, &n, cfg, key);

	ck_assert_msg(err == 0, "%s: %s", key, pex_error_last()->message);
	for (i = 0; want[i]; i++) {
		ck_assert_msg(i < n, "%s: only %zu items", key, n);
		ck_assert_str_eq(list[i], want[i]);
	}
	ck_assert_uint_eq(n, i);
}

static char *make_tmpdir(void)
{
	const char *tmp = getenv("TMPDIR");
	char tmpl[PATH_MAX];
	char *dir;

	snprintf(tmpl, sizeof(tmpl), "%s/pexcfg-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	dir = mkdtemp(tmpl);

	ck_assert_ptr_nonnull(dir);
	return strdup(dir);
}

static void write_file(const char *dir, const char *name, const char *content)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	ck_assert_msg(f != NULL, "fopen %s: %s", path, strerror(errno));
	ck_assert_int_eq(fputs(content, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_tmpdir(char *dir)
{
	nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

/* ---- schema and defaults ---- */

START_TEST(test_schema_sanity)
{
	const pex__config_key *schema;
	size_t n, i, j;

	schema = pex__config_schema(&n);
	ck_assert_uint_eq(n, 59);   /* every key of pexipsdk.yaml(5): update with the schema */
	for (i = 0; i < n; i++) {
		/* unique */
		for (j = i + 1; j < n; j++)
			ck_assert_str_ne(schema[i].key, schema[j].key);
		ck_assert_int_eq(pex__config_lookup(schema[i].key), (int)i);
		ck_assert(!pex__config_is_section(schema[i].key));
		/* a section, once left, is never re-entered (the dump relies on it) */
		if (i > 0) {
			const char *dot = strrchr(schema[i].key, '.');
			size_t len = (size_t)(dot - schema[i].key);
			if (strncmp(schema[i - 1].key, schema[i].key, len + 1) != 0)
				for (j = 0; j + 1 < i; j++)
					ck_assert_msg(strncmp(schema[j].key, schema[i].key, len + 1) != 0 ||
						strncmp(schema[j + 1].key, schema[i].key, len + 1) == 0,
						"section of %s is not contiguous", schema[i].key);
		}
		if (schema[i].type == PEX__CFG_ENUM) {
			for (j = 0; schema[i].choices[j]; j++)
				if (strcmp(schema[i].choices[j], schema[i].def) == 0)
					break;
			ck_assert_msg(schema[i].choices[j] != NULL, "%s: default not a choice",
				schema[i].key);
		}
		if (schema[i].type == PEX__CFG_INT && schema[i].def) {
			long long d = strtoll(schema[i].def, NULL, 10);
			ck_assert(d >= schema[i].min && d <= schema[i].max);
		}
		if (schema[i].check && schema[i].def)
			ck_assert_ptr_null(schema[i].check(schema[i].def));
	}
	ck_assert(pex__config_is_section("pexip"));
	ck_assert(pex__config_is_section("pool.room"));
	ck_assert(pex__config_is_section("server.jwt"));
	ck_assert(!pex__config_is_section("pexip.url"));
	ck_assert(!pex__config_is_section("pexi"));
	ck_assert_int_eq(pex__config_lookup("nope"), -1);
}
END_TEST

START_TEST(test_defaults)
{
	static const char *const prefixes[] = { "test_", "vkiosk_", NULL };
	static const char *const none[] = { NULL };
	pex_config *cfg = NULL;

	ck_assert_int_eq(pex_config_new_defaults(&cfg), 0);
	ck_assert_str_eq(pex_config_origin(cfg), "<defaults>");
	assert_null_key(cfg, "pexip.url");
	ck_assert_str_eq(pex_error_last()->message, "<defaults>: pexip.url is not set");
	assert_str_key(cfg, "pexip.auth.method", "basic");
	assert_null_key(cfg, "pexip.auth.username");
	assert_null_key(cfg, "pexip.auth.password");
	assert_null_key(cfg, "pexip.auth.client_id");
	assert_null_key(cfg, "pexip.auth.private_key");
	assert_null_key(cfg, "pexip.auth.token_url");
	assert_null_key(cfg, "pexip.auth.audience");
	assert_null_key(cfg, "pexip.auth.scope");
	assert_bool_key(cfg, "pexip.tls.verify", 1);
	assert_null_key(cfg, "pexip.tls.ca_file");
	assert_int_key(cfg, "pexip.timeout_ms", 10000);
	assert_int_key(cfg, "pexip.max_concurrency", 5);
	assert_int_key(cfg, "pexip.retries.max", 3);
	assert_int_key(cfg, "pexip.retries.base_ms", 200);
	assert_int_key(cfg, "pexip.retries.cap_ms", 30000);
	assert_str_key(cfg, "queue.backend", "sqlite");
	assert_str_key(cfg, "queue.sqlite.path", "pexipsdk.db");
	assert_str_key(cfg, "pool.queue", "room-creation-queue");
	assert_int_key(cfg, "pool.depth", 20);
	assert_int_key(cfg, "pool.max_depth", 0);
	assert_int_key(cfg, "pool.wait_ms", 2000);
	assert_int_key(cfg, "pool.cooldown_s", 60);
	assert_str_key(cfg, "pool.name_prefix", "vmr_");
	assert_str_key(cfg, "pool.room.service_type", "conference");
	assert_bool_key(cfg, "pool.room.allow_guests", 1);
	assert_int_key(cfg, "pool.room.pin_digits", 6);
	assert_int_key(cfg, "pool.room.guest_pin_digits", 6);
	assert_null_key(cfg, "pool.room.alias_domain");
	assert_null_key(cfg, "pool.room.participant_limit");
	assert_null_key(cfg, "pool.room.description");
	assert_null_key(cfg, "tag.url_template");
	assert_list_key(cfg, "tag.allowed_hosts", none);
	assert_str_key(cfg, "gc.queue", "room-deletion-queue");
	assert_int_key(cfg, "gc.delay_s", 600);
	assert_list_key(cfg, "gc.protected_prefixes", prefixes);
	assert_list_key(cfg, "gc.owned_prefixes", none);
	assert_int_key(cfg, "gc.orphan_max_age_s", 86400);
	assert_null_key(cfg, "events.username");
	assert_null_key(cfg, "events.password");
	assert_str_key(cfg, "server.listen", "127.0.0.1:8080");
	assert_list_key(cfg, "server.api_keys", none);
	assert_null_key(cfg, "server.jwt.issuer");
	assert_null_key(cfg, "server.jwt.audience");
	assert_null_key(cfg, "server.jwt.jwks_file");
	assert_null_key(cfg, "server.jwt.jwks_url");
	assert_null_key(cfg, "server.jwt.ca_file");
	assert_str_key(cfg, "log.level", "info");
	assert_str_key(cfg, "log.format", "text");
	pex_config_free(cfg);
	pex_config_free(NULL);

	/* a file setting only the URL gets the same defaults */
	cfg = parse_ok(URL);
	assert_str_key(cfg, "pexip.url", "https://mgr.example.com");
	assert_int_key(cfg, "pexip.timeout_ms", 10000);
	assert_list_key(cfg, "gc.protected_prefixes", prefixes);
	ck_assert_str_eq(pex_config_origin(cfg), ORIGIN);
	pex_config_free(cfg);
}
END_TEST

START_TEST(test_full_file)
{
	static const char *const hosts[] = { "svc.example.com", "alt.example.com", NULL };
	static const char *const keys[] = { "api-key-from-env", "literal-key-2", NULL };
	static const char *const none[] = { NULL };
	pex_config *cfg = NULL;
	int err;

	setenv("PEXTEST_FULL_PASSWORD", "pw-from-env", 1);
	setenv("PEXTEST_FULL_API_KEY", "api-key-from-env", 1);
	err = pex_config_load(&cfg, CONFIG_DATA_DIR "/full.yaml");
	ck_assert_msg(err == 0, "%s", pex_error_last()->message);
	/* resolved when read, then kept */
	ck_assert_int_eq(pex_config_resolve_secrets(cfg), 0);
	unsetenv("PEXTEST_FULL_PASSWORD");
	unsetenv("PEXTEST_FULL_API_KEY");

	ck_assert_str_eq(pex_config_origin(cfg), CONFIG_DATA_DIR "/full.yaml");
	assert_str_key(cfg, "pexip.url", "https://mgr.example.com:8443/base");
	assert_str_key(cfg, "pexip.auth.method", "oauth2");
	assert_str_key(cfg, "pexip.auth.username", "admin");
	assert_str_key(cfg, "pexip.auth.password", "pw-from-env");
	assert_str_key(cfg, "pexip.auth.client_id", "ABC123");
	/* file: relative to the config's directory, one newline stripped */
	assert_str_key(cfg, "pexip.auth.private_key",
		"-----BEGIN PRIVATE KEY-----\nnot-a-real-key\n-----END PRIVATE KEY-----");
	assert_str_key(cfg, "pexip.auth.token_url", "https://mgr.example.com/oauth/token/");
	assert_str_key(cfg, "pexip.auth.audience", "https://mgr.example.com/aud");
	assert_bool_key(cfg, "pexip.tls.verify", 0);
	assert_str_key(cfg, "pexip.tls.ca_file", "/etc/ssl/extra.pem");
	assert_int_key(cfg, "pexip.timeout_ms", 2500);
	assert_int_key(cfg, "pexip.max_concurrency", 8);
	assert_int_key(cfg, "pexip.retries.max", 0);
	assert_int_key(cfg, "pexip.retries.base_ms", 50);
	assert_int_key(cfg, "pexip.retries.cap_ms", 1000);
	assert_str_key(cfg, "queue.backend", "azure");
	assert_str_key(cfg, "queue.sqlite.path", "/var/lib/pexipsdk/pool.db");
	assert_str_key(cfg, "queue.azure.connection_string", "UseDevelopmentStorage=true");
	assert_str_key(cfg, "pool.queue", "pool-a");
	assert_int_key(cfg, "pool.depth", 0);
	assert_str_key(cfg, "pool.name_prefix", "pool_");
	assert_str_key(cfg, "pool.room.service_type", "lecture");
	assert_bool_key(cfg, "pool.room.allow_guests", 0);
	assert_int_key(cfg, "pool.room.pin_digits", 8);
	assert_int_key(cfg, "pool.room.guest_pin_digits", 4);
	assert_str_key(cfg, "pool.room.alias_domain", "video.example.com");
	assert_int_key(cfg, "pool.room.participant_limit", 0);
	assert_str_key(cfg, "pool.room.description", "Pool room: do not edit");
	assert_str_key(cfg, "tag.url_template", "https://svc.example.com/s?u={uui}");
	assert_list_key(cfg, "tag.allowed_hosts", hosts);
	assert_str_key(cfg, "gc.queue", "gc-queue-2");
	assert_int_key(cfg, "gc.delay_s", 0);
	assert_list_key(cfg, "gc.protected_prefixes", none);
	assert_int_key(cfg, "gc.orphan_max_age_s", 7200);
	assert_str_key(cfg, "events.username", "pexip");
	assert_str_key(cfg, "events.password", "literal-events-pw");
	assert_str_key(cfg, "server.listen", "[::1]:9090");
	assert_list_key(cfg, "server.api_keys", keys);
	assert_str_key(cfg, "server.jwt.issuer", "https://login.example.com/");
	assert_str_key(cfg, "server.jwt.audience", "api://pexipsdk");
	assert_str_key(cfg, "server.jwt.jwks_file", CONFIG_DATA_DIR "/jwks.json");
	assert_str_key(cfg, "log.level", "debug");
	assert_str_key(cfg, "log.format", "json");
	pex_config_free(cfg);
}
END_TEST

START_TEST(test_example_file)
{
	static const char *const prefixes[] = { "test_", "vkiosk_", NULL };
	pex_config *cfg = NULL, *defaults = NULL;
	pex_buf a = PEX_BUF_INIT, b = PEX_BUF_INIT;
	int err;

	setenv("PEXIP_PASSWORD", "example-pw", 1);
	unsetenv("AZURE_STORAGE_CONNECTION_STRING");
	err = pex_config_load(&cfg, CONFIG_DATA_DIR "/example.yaml");
	ck_assert_msg(err == 0, "%s", pex_error_last()->message);
	assert_str_key(cfg, "pexip.auth.password", "example-pw");
	unsetenv("PEXIP_PASSWORD");
	assert_list_key(cfg, "gc.protected_prefixes", prefixes);

	/* the example documents the defaults: apart from what it sets on
	 * purpose, it dumps like a defaults-only config */
	ck_assert_int_eq(pex_config_new_defaults(&defaults), 0);
	ck_assert_int_eq(pex_config_set(defaults, "pexip.url", "https://mgr.example.com"), 0);
	ck_assert_int_eq(pex_config_set(defaults, "pexip.auth.username", "admin"), 0);
	ck_assert_int_eq(pex_config_set(defaults, "pexip.auth.password", "x"), 0);
	/* the default database is beside the file it was loaded from */
	ck_assert_int_eq(pex_config_set(defaults, "queue.sqlite.path",
		CONFIG_DATA_DIR "/pexipsdk.db"), 0);
	ck_assert_int_eq(pex_config_dump(&a, cfg), 0);
	ck_assert_int_eq(pex_config_dump(&b, defaults), 0);
	ck_assert_str_eq(a.ptr, b.ptr);
	pex_buf_dispose(&a);
	pex_buf_dispose(&b);
	pex_config_free(defaults);
	pex_config_free(cfg);
}
END_TEST

/* ---- types ---- */

START_TEST(test_int_values)
{
	static const struct { const char *text; long long want; } good[] = {
		{ "1", 1 }, { "600000", 600000 }, { "\"250\"", 250 }, { "'42'", 42 },
	};
	static const char *const bad[] = {
		"ten", "010", "0x10", "1e3", "1.5", "-1", "0", "600001", "+5", "1_000",
		"99999999999999999999999", "true", "\" 5\"",
	};
	char yaml[256], msg[512];
	pex_config *cfg;
	size_t i;

	for (i = 0; i < PEX__ARRAY_SIZE(good); i++) {
		snprintf(yaml, sizeof(yaml), URL "  timeout_ms: %s\n", good[i].text);
		cfg = parse_ok(yaml);
		assert_int_key(cfg, "pexip.timeout_ms", good[i].want);
		pex_config_free(cfg);
	}
	for (i = 0; i < PEX__ARRAY_SIZE(bad); i++) {
		const char *shown = bad[i];
		char quoted[64];
		snprintf(yaml, sizeof(yaml), URL "  timeout_ms: %s\n", bad[i]);
		if (bad[i][0] == '"') {
			/* the message shows the scalar's value, without YAML quotes */
			snprintf(quoted, sizeof(quoted), "%.*s", (int)strlen(bad[i]) - 2, bad[i] + 1);
			shown = quoted;
		}
		snprintf(msg, sizeof(msg),
			"pexipsdk.yaml:3: pexip.timeout_ms: expected an integer from 1 to 600000, got \"%s\"",
			shown);
		parse_err(yaml, PEX_ECONFIG, msg);
	}

	/* not nullable */
	parse_err(URL "  timeout_ms:\n", PEX_ECONFIG,
		"pexipsdk.yaml:3: pexip.timeout_ms: expected an integer from 1 to 600000, got null");
	parse_err(URL "gc: {orphan_max_age_s: -5}\n", PEX_ECONFIG,
		"pexipsdk.yaml:3: gc.orphan_max_age_s: expected an integer from 0 up, got \"-5\"");
	/* nullable int */
	cfg = parse_ok(URL "pool:\n  room:\n    participant_limit: ~\n");
	assert_null_key(cfg, "pool.room.participant_limit");
	pex_config_free(cfg);
	cfg = parse_ok(URL "pool:\n  room:\n    participant_limit: 1000000\n");
	assert_int_key(cfg, "pool.room.participant_limit", 1000000);
	pex_config_free(cfg);
	/* the self-sizing pool's keys */
	cfg = parse_ok(URL "pool:\n  max_depth: 500\n  wait_ms: 0\n");
	assert_int_key(cfg, "pool.max_depth", 500);
	assert_int_key(cfg, "pool.wait_ms", 0);
	pex_config_free(cfg);
	parse_err(URL "pool:\n  wait_ms: 60001\n", PEX_ECONFIG,
		"pexipsdk.yaml:4: pool.wait_ms: expected an integer from 0 to 60000, got \"60001\"");
	parse_err(URL "pool:\n  max_depth: -1\n", PEX_ECONFIG,
		"pexipsdk.yaml:4: pool.max_depth: expected an integer from 0 to 100000, got \"-1\"");
	parse_err(URL "pool:\n  room:\n    participant_limit: 1000001\n", PEX_ECONFIG,
		"pexipsdk.yaml:5: pool.room.participant_limit: expected an integer from 0 to 1000000, "
		"got \"1000001\"");
}
END_TEST

/* gc.orphan_max_age_s and pool.ready_after_s together: an orphan age
 * shorter than readiness, the stale margin and the hold limit is refused
 * with both keys named, at the line of the orphan age (or of the readiness
 * when only that is set); 0 (no age limit) and longer ages are fine. */
START_TEST(test_orphan_age_rule)
{
	pex_config *cfg;

	parse_err(URL "gc: {orphan_max_age_s: 3600}\n", PEX_ECONFIG,
		"pexipsdk.yaml:3: gc.orphan_max_age_s (3600) must be 0 or more than pool.ready_after_s (60) "
		"+ 3900 s = 3960 s (the pool's stale margin of 3600 s and hold limit of 300 s): otherwise "
		"an orphan sweep on another host could delete rooms a live process still holds or has "
		"just handed out");
	parse_err(URL "pool: {ready_after_s: 3600}\ngc: {orphan_max_age_s: 7500}\n", PEX_ECONFIG,
		"pexipsdk.yaml:4: gc.orphan_max_age_s (7500) must be 0 or more than pool.ready_after_s (3600) "
		"+ 3900 s = 7500 s (the pool's stale margin of 3600 s and hold limit of 300 s): otherwise "
		"an orphan sweep on another host could delete rooms a live process still holds or has "
		"just handed out");
	cfg = parse_ok(URL "pool: {ready_after_s: 3600}\ngc: {orphan_max_age_s: 7501}\n");
	assert_int_key(cfg, "gc.orphan_max_age_s", 7501);
	pex_config_free(cfg);
	cfg = parse_ok(URL "gc: {orphan_max_age_s: 3961}\n");
	pex_config_free(cfg);
	cfg = parse_ok(URL "gc: {orphan_max_age_s: 0}\n");
	assert_int_key(cfg, "gc.orphan_max_age_s", 0);
	pex_config_free(cfg);
	/* the default orphan age (86400) is far enough from any readiness */
	cfg = parse_ok(URL "pool: {ready_after_s: 3600}\n");
	pex_config_free(cfg);
}
END_TEST

START_TEST(test_bool_values)
{
	static const struct { const char *text; int want; } good[] = {
		{ "true", 1 }, { "TRUE", 1 }, { "True", 1 }, { "yes", 1 }, { "Yes", 1 },
		{ "on", 1 }, { "ON", 1 }, { "false", 0 }, { "False", 0 }, { "no", 0 },
		{ "NO", 0 }, { "off", 0 }, { "Off", 0 }, { "\"false\"", 0 },
	};
	static const char *const bad[] = { "maybe", "1", "0", "y", "n", "tru" };
	char yaml[256], msg[512];
	pex_config *cfg;
	size_t i;

	for (i = 0; i < PEX__ARRAY_SIZE(good); i++) {
		snprintf(yaml, sizeof(yaml), URL "  tls:\n    verify: %s\n", good[i].text);
		cfg = parse_ok(yaml);
		assert_bool_key(cfg, "pexip.tls.verify", good[i].want);
		pex_config_free(cfg);
	}
	for (i = 0; i < PEX__ARRAY_SIZE(bad); i++) {
		snprintf(yaml, sizeof(yaml), URL "  tls:\n    verify: %s\n", bad[i]);
		snprintf(msg, sizeof(msg), "pexipsdk.yaml:4: pexip.tls.verify: expected true or false "
			"(or yes/no, on/off), got \"%s\"", bad[i]);
		parse_err(yaml, PEX_ECONFIG, msg);
	}
	parse_err(URL "  tls: {verify: null}\n", PEX_ECONFIG,
		"pexipsdk.yaml:3: pexip.tls.verify: expected true or false (or yes/no, on/off), got null");
}
END_TEST

START_TEST(test_enum_and_string_values)
{
	pex_config *cfg;

	cfg = parse_ok(URL "  auth: {method: oauth2}\nqueue: {backend: memory}\nlog: {level: warn}\n");
	assert_str_key(cfg, "pexip.auth.method", "oauth2");
	assert_str_key(cfg, "queue.backend", "memory");
	assert_str_key(cfg, "log.level", "warn");
	pex_config_free(cfg);

	parse_err(URL "  auth:\n    method: oath2\n", PEX_ECONFIG,
		"pexipsdk.yaml:4: pexip.auth.method: expected one of basic, oauth2, got \"oath2\"");
	parse_err(URL "queue: {backend: SQLite}\n", PEX_ECONFIG,
		"pexipsdk.yaml:3: queue.backend: must be memory, sqlite, azure, postgres or the name of a "
		"registered backend (a lowercase letter, then up to 15 of a-z, 0-9, '+' and '-'), "
		"got \"SQLite\"");
	parse_err(URL "queue: {backend: [sqlite]}\n", PEX_ECONFIG,
		"pexipsdk.yaml:3: queue.backend: expected a string, got a list");
	/* a registered backend's name is checked when the queue is opened */
	cfg = parse_ok(URL "queue: {backend: my-q+1, location: \"db://h/x\"}\n");
	assert_str_key(cfg, "queue.backend", "my-q+1");
	pex_config_free(cfg);
	parse_err(URL "log: {format: [json]}\n", PEX_ECONFIG,
		"pexipsdk.yaml:3: log.format: expected one of text, json, got a list");

	/* strings: plain, quoted, block; null words; quoted null words are strings */
	cfg = parse_ok(URL "pool:\n  room:\n    description: |\n      two\n      lines\n"
		"    alias_domain: \"null\"\n");
	assert_str_key(cfg, "pool.room.description", "two\nlines\n");
	assert_str_key(cfg, "pool.room.alias_domain", "null");
	pex_config_free(cfg);
	cfg = parse_ok(URL "pool:\n  room: {description: NULL, alias_domain: ~}\n");
	assert_null_key(cfg, "pool.room.description");
	assert_null_key(cfg, "pool.room.alias_domain");
	pex_config_free(cfg);
	cfg = parse_ok(URL "pool: {name_prefix: 123}\n");   /* a number is a fine string */
	assert_str_key(cfg, "pool.name_prefix", "123");
	pex_config_free(cfg);

	parse_err(URL "pool: {name_prefix: ''}\n", PEX_ECONFIG,
		"pexipsdk.yaml:3: pool.name_prefix: expected a non-empty string, got \"\"");
	parse_err(URL "pool: {name_prefix: null}\n", PEX_ECONFIG,
		"pexipsdk.yaml:3: pool.name_prefix: expected a string, got null");
	/* the pool's own rule (pex_pool_new refused these after config check said ok) */
	{
		char yaml[512], msg[512], prefix[202];
		memset(prefix, 'a', 201);
		prefix[201] = '\0';
		snprintf(yaml, sizeof(yaml), URL "pool: {name_prefix: %s}\n", prefix);
		snprintf(msg, sizeof(msg), "pexipsdk.yaml:3: pool.name_prefix: must be 1 to 200 "
			"characters of valid UTF-8, got \"%.80s...\"", prefix);
		parse_err(yaml, PEX_ECONFIG, msg);
		prefix[200] = '\0';
		snprintf(yaml, sizeof(yaml), URL "pool: {name_prefix: %s}\n", prefix);
		cfg = parse_ok(yaml);
		pex_config_free(cfg);
	}
	parse_err(URL "pool: {name_prefix: \"vmr\\t\"}\n", PEX_ECONFIG,
		"pexipsdk.yaml:3: pool.name_prefix: must not contain control characters, got \"vmr\\x09\"");
	parse_err(URL "pool:\n  room:\n    description: \"a\\0b\"\n", PEX_ECONFIG,
		"pexipsdk.yaml:5: pool.room.description: must not contain a NUL character");
	parse_err(URL "server: {listen: localhost}\n", PEX_ECONFIG,
		"pexipsdk.yaml:3: server.listen: must be HOST:PORT, got \"localhost\"");
	parse_err(URL "server: {listen: \"localhost:99999\"}\n", PEX_ECONFIG,
		"pexipsdk.yaml:3: server.listen: must be HOST:PORT with a port from 1 to 65535, "
		"got \"localhost:99999\"");
	/* long values are shortened, control characters escaped */
	parse_err(URL "log: {level: \"0123456789012345678901234567890123456789"
		"0123456789012345678901234567890123456789TAIL\\t\"}\n",
		PEX_ECONFIG, "pexipsdk.yaml:3: log.level: expected one of error, warn, info, debug, "
		"got \"0123456789012345678901234567890123456789"
		"0123456789012345678901234567890123456789...\"");
	parse_err(URL "log: {level: \"a\\tb\"}\n", PEX_ECONFIG,
		"pexipsdk.yaml:3: log.level: expected one of error, warn, info, debug, got \"a\\x09b\"");
}
END_TEST

/* Texts Pexip stores count characters, not bytes (e acute is 2 bytes). */
static void text_yaml(char *yaml, size_t size, const char *key, const char *sub, size_t chars,
	const char *tail)
{
	size_t off = (size_t)snprintf(yaml, size, URL "pool:\n  %s%s: \"", key, sub), k;
	for (k = 0; k < chars; k++)
		off += (size_t)snprintf(yaml + off, size - off, "\xc3\xa9");
	snprintf(yaml + off, size - off, "%s\"\n", tail);
}

/* @p yaml is refused, with @p needle in the message. */
static void refused_with(const char *yaml, const char *needle)
{
	pex_config *cfg = NULL;
	ck_assert_int_eq(pex_config_parse(&cfg, yaml, strlen(yaml), ORIGIN), PEX_ECONFIG);
	ck_assert_msg(strstr(pex_error_last()->message, needle), "%s", pex_error_last()->message);
	ck_assert_ptr_null(cfg);
}

START_TEST(test_pexip_texts)
{
	char yaml[1200];
	pex_config *cfg = NULL;

	text_yaml(yaml, sizeof(yaml), "name_prefix", "", 200, "");
	cfg = parse_ok(yaml);
	pex_config_free(cfg);
	text_yaml(yaml, sizeof(yaml), "name_prefix", "", 201, "");
	refused_with(yaml, "pool.name_prefix: must be 1 to 200 characters of valid UTF-8");
	/* pexip.auth.scope: scope tokens (RFC 6749 section 3.3) */
	cfg = parse_ok(URL "  auth:\n    scope: \"is_admin use_api\"\n");
	assert_str_key(cfg, "pexip.auth.scope", "is_admin use_api");
	pex_config_free(cfg);
	parse_err(URL "  auth:\n    scope: \"is_admin  use_api\"\n", PEX_ECONFIG, "pexipsdk.yaml:4: "
		"pexip.auth.scope: must be scope tokens separated by single spaces, got \"is_admin  use_api\"");
	parse_err(URL "  auth:\n    scope: \"a\\\\b\"\n", PEX_ECONFIG, "pexipsdk.yaml:4: "
		"pexip.auth.scope: must be printable ASCII without '\"' or '\\' (RFC 6749 section 3.3), got \"a\\\\b\"");
	text_yaml(yaml, sizeof(yaml), "room:\n    description", "", 250, "");
	cfg = parse_ok(yaml);
	pex_config_free(cfg);
	text_yaml(yaml, sizeof(yaml), "room:\n    description", "", 251, "");
	refused_with(yaml, "pool.room.description: must be valid UTF-8 of at most 250 characters");
}
END_TEST

START_TEST(test_url_and_names)
{
	static const char *const good_names[] = { "abc", "room-creation-queue", "a1-b2",
		"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz01234567890" };
	static const struct { const char *name, *why; } bad_names[] = {
		{ "ab", "must be 3 to 63 characters long" },
		{ "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz012345678901",
		  "must be 3 to 63 characters long" },
		{ "Room-queue", "may contain only lowercase letters, digits and '-'" },
		{ "room_queue", "may contain only lowercase letters, digits and '-'" },
		{ "-room", "must start and end with a letter or digit" },
		{ "room-", "must start and end with a letter or digit" },
		{ "room--queue", "must not contain \"--\"" },
	};
	char yaml[256], msg[512];
	pex_config *cfg;
	size_t i;

	for (i = 0; i < PEX__ARRAY_SIZE(good_names); i++) {
		snprintf(yaml, sizeof(yaml), URL "pool:\n  queue: %s\ngc: {queue: %s}\n",
			good_names[i], good_names[i]);
		cfg = parse_ok(yaml);
		assert_str_key(cfg, "pool.queue", good_names[i]);
		assert_str_key(cfg, "gc.queue", good_names[i]);
		pex_config_free(cfg);
	}
	for (i = 0; i < PEX__ARRAY_SIZE(bad_names); i++) {
		snprintf(yaml, sizeof(yaml), URL "pool:\n  queue: %s\n", bad_names[i].name);
		snprintf(msg, sizeof(msg), "pexipsdk.yaml:4: pool.queue: %s, got \"%s\"",
			bad_names[i].why, bad_names[i].name);
		parse_err(yaml, PEX_ECONFIG, msg);
		snprintf(yaml, sizeof(yaml), URL "gc:\n  queue: %s\n", bad_names[i].name);
		snprintf(msg, sizeof(msg), "pexipsdk.yaml:4: gc.queue: %s, got \"%s\"",
			bad_names[i].why, bad_names[i].name);
		parse_err(yaml, PEX_ECONFIG, msg);
		/* one rule: the queue module refuses the same names, for the same reason */
		ck_assert_int_eq(pex_queue_name_validate(bad_names[i].name), PEX_EINVAL);
		ck_assert_msg(strstr(pex_error_last()->message, bad_names[i].why) != NULL,
			"'%s' lacks '%s'", pex_error_last()->message, bad_names[i].why);
	}
	for (i = 0; i < PEX__ARRAY_SIZE(good_names); i++)
		ck_assert_int_eq(pex_queue_name_validate(good_names[i]), 0);

	cfg = parse_ok("pexip: {url: HTTP://127.0.0.1:8080}\n");
	assert_str_key(cfg, "pexip.url", "HTTP://127.0.0.1:8080");
	pex_config_free(cfg);
	parse_err("pexip:\n  url: ftp://mgr.example.com\n", PEX_ECONFIG,
		"pexipsdk.yaml:2: pexip.url: must be an http:// or https:// URL, got \"ftp://mgr.example.com\"");
	parse_err("pexip:\n  url: mgr.example.com\n", PEX_ECONFIG,
		"pexipsdk.yaml:2: pexip.url: must be an http:// or https:// URL, got \"mgr.example.com\"");
	parse_err("pexip:\n  url: https:///path\n", PEX_ECONFIG,
		"pexipsdk.yaml:2: pexip.url: must be an http:// or https:// URL with a host, got \"https:///path\"");
	parse_err("pexip:\n  url: \"https://a b\"\n", PEX_ECONFIG,
		"pexipsdk.yaml:2: pexip.url: must be a URL without spaces or control characters, got \"https://a b\"");
	parse_err(URL "  auth: {token_url: /oauth/token/}\n", PEX_ECONFIG,
		"pexipsdk.yaml:3: pexip.auth.token_url: must be an http:// or https:// URL, got \"/oauth/token/\"");

	cfg = parse_ok(URL "tag: {url_template: \"https://svc/x?u={uui}\"}\n");
	assert_str_key(cfg, "tag.url_template", "https://svc/x?u={uui}");
	pex_config_free(cfg);
	parse_err(URL "tag:\n  url_template: https://svc/x?u={uuid}\n", PEX_ECONFIG,
		"pexipsdk.yaml:4: tag.url_template: must contain \"{uui}\", got \"https://svc/x?u={uuid}\"");
}
END_TEST

START_TEST(test_lists)
{
	static const char *const ab[] = { "a_", "b_", NULL };
	static const char *const one[] = { "svc.example.com", NULL };
	static const char *const none[] = { NULL };
	pex_config *cfg;

	cfg = parse_ok(URL "gc:\n  protected_prefixes:\n    - a_\n    - \"b_\"\n"
		"tag: {allowed_hosts: [svc.example.com]}\n");
	assert_list_key(cfg, "gc.protected_prefixes", ab);
	assert_list_key(cfg, "tag.allowed_hosts", one);
	pex_config_free(cfg);

	cfg = parse_ok(URL "gc: {protected_prefixes: []}\n");
	assert_list_key(cfg, "gc.protected_prefixes", none);
	pex_config_free(cfg);
	cfg = parse_ok(URL "gc: {owned_prefixes: [a_, \"b_\"]}\n");
	assert_list_key(cfg, "gc.owned_prefixes", ab);
	pex_config_free(cfg);
	/* an empty owned prefix would make every room the pool's */
	parse_err(URL "gc: {owned_prefixes: [a_, \"\"]}\n", PEX_ECONFIG,
		"pexipsdk.yaml:3: gc.owned_prefixes[1]: expected a non-empty string, got \"\"");
	cfg = parse_ok(URL "gc:\n  protected_prefixes:\n");   /* null: the empty list */
	assert_list_key(cfg, "gc.protected_prefixes", none);
	pex_config_free(cfg);

	parse_err(URL "gc:\n  protected_prefixes: test_\n", PEX_ECONFIG,
		"pexipsdk.yaml:4: gc.protected_prefixes: expected a list of strings, got \"test_\"");
	parse_err(URL "gc:\n  protected_prefixes: {a: b}\n", PEX_ECONFIG,
		"pexipsdk.yaml:4: gc.protected_prefixes: expected a list of strings, got a mapping");
	parse_err(URL "gc:\n  protected_prefixes:\n    - a_\n    - {x: 1}\n", PEX_ECONFIG,
		"pexipsdk.yaml:6: gc.protected_prefixes[1]: expected a string, got a mapping");
	parse_err(URL "gc:\n  protected_prefixes:\n    - a_\n    - [x]\n", PEX_ECONFIG,
		"pexipsdk.yaml:6: gc.protected_prefixes[1]: expected a string, got a list");
	parse_err(URL "gc:\n  protected_prefixes: [a_, ~]\n", PEX_ECONFIG,
		"pexipsdk.yaml:4: gc.protected_prefixes[1]: expected a string, got null");
	parse_err(URL "tag:\n  allowed_hosts:\n    - ''\n", PEX_ECONFIG,
		"pexipsdk.yaml:5: tag.allowed_hosts[0]: expected a non-empty string, got \"\"");
}
END_TEST

START_TEST(test_structure_errors)
{
	/* a mapping where a scalar is expected: the key's line */
	parse_err("pexip:\n  url:\n    host: mgr\n", PEX_ECONFIG,
		"pexipsdk.yaml:2: pexip.url: expected a string, got a mapping");
	parse_err(URL "  timeout_ms: [1]\n", PEX_ECONFIG,
		"pexipsdk.yaml:3: pexip.timeout_ms: expected an integer from 1 to 600000, got a list");
	/* a scalar or a list where a section is expected */
	parse_err(URL "pool: 5\n", PEX_ECONFIG,
		"pexipsdk.yaml:3: pool: expected a mapping (a section), got a scalar");
	parse_err(URL "pool:\n  room:\n    - a\n", PEX_ECONFIG,
		"pexipsdk.yaml:4: pool.room: expected a mapping (a section), got a list");
	/* an empty section is fine */
	pex_config_free(parse_ok(URL "events:\nserver: {}\n"));
	/* the top level */
	parse_err("- a\n- b\n", PEX_ECONFIG, "pexipsdk.yaml:1: expected a mapping of sections "
		"(pexip, queue, pool...) at the top level, got a list");
	parse_err("just text\n", PEX_ECONFIG, "pexipsdk.yaml:1: expected a mapping of sections "
		"(pexip, queue, pool...) at the top level, got a scalar");
	/* keys must be scalars */
	parse_err(URL "? [a, b]\n: c\n", PEX_ECONFIG,
		"pexipsdk.yaml:3: keys must be plain strings, got a list");
	/* one document only */
	parse_err(URL "---\nlog: {level: debug}\n", PEX_ECONFIG,
		"pexipsdk.yaml:4: more than one YAML document (only one is allowed)");
	/* anchors and aliases resolve like YAML says */
	{
		pex_config *cfg = parse_ok(URL "tag: {allowed_hosts: &h [a.example]}\n"
			"gc: {protected_prefixes: *h}\n");
		static const char *const a[] = { "a.example", NULL };
		assert_list_key(cfg, "gc.protected_prefixes", a);
		pex_config_free(cfg);
	}
}
END_TEST

START_TEST(test_unknown_keys)
{
	parse_err(URL "  tiemout_ms: 5\n", PEX_ECONFIG,
		"pexipsdk.yaml:3: unknown key 'pexip.tiemout_ms' (did you mean 'pexip.timeout_ms'?)");
	parse_err(URL "\n\n\n  timout_ms: 5\n", PEX_ECONFIG,
		"pexipsdk.yaml:6: unknown key 'pexip.timout_ms' (did you mean 'pexip.timeout_ms'?)");
	parse_err(URL "pexip_extra: 1\n", PEX_ECONFIG, "pexipsdk.yaml:3: unknown key 'pexip_extra'");
	parse_err(URL "poool:\n  depth: 3\n", PEX_ECONFIG,
		"pexipsdk.yaml:3: unknown key 'poool' (did you mean 'pool'?)");
	/* the right key under the wrong section */
	parse_err(URL "  depth: 3\n", PEX_ECONFIG,
		"pexipsdk.yaml:3: unknown key 'pexip.depth' (did you mean 'pool.depth'?)");
	parse_err(URL "pool:\n  rooms: {pin_digits: 5}\n", PEX_ECONFIG,
		"pexipsdk.yaml:4: unknown key 'pool.rooms' (did you mean 'pool.room'?)");
	parse_err(URL "server:\n  jwt:\n    isuer: x\n", PEX_ECONFIG,
		"pexipsdk.yaml:5: unknown key 'server.jwt.isuer' (did you mean 'server.jwt.issuer'?)");
	parse_err(URL "frobnicate: {x: 1}\n", PEX_ECONFIG, "pexipsdk.yaml:3: unknown key 'frobnicate'");
	parse_err(URL "pool:\n  room:\n    pin_digit: 5\n", PEX_ECONFIG,
		"pexipsdk.yaml:5: unknown key 'pool.room.pin_digit' (did you mean 'pool.room.pin_digits'?)");
	/* keys are case-sensitive */
	parse_err("Pexip:\n  url: https://x\n", PEX_ECONFIG,
		"pexipsdk.yaml:1: unknown key 'Pexip' (did you mean 'pexip'?)");
	/* dotted keys are not a shorthand */
	parse_err("pexip.url: https://x\n", PEX_ECONFIG,
		"pexipsdk.yaml:1: 'pexip.url': dotted keys are not supported, nest the key under its section");
	/* the first problem in file order wins */
	parse_err(URL "  bogus: 1\n  timeout_ms: ten\n", PEX_ECONFIG,
		"pexipsdk.yaml:3: unknown key 'pexip.bogus'");
}
END_TEST

START_TEST(test_duplicate_keys)
{
	parse_err(URL "  timeout_ms: 5\n  timeout_ms: 6\n", PEX_ECONFIG,
		"pexipsdk.yaml:4: duplicate key 'pexip.timeout_ms' (first at line 3)");
	parse_err(URL "log: {level: info, level: debug}\n", PEX_ECONFIG,
		"pexipsdk.yaml:3: duplicate key 'log.level' (first at line 3)");
	parse_err(URL "pool: {depth: 1}\nlog: {}\npool: {depth: 2}\n", PEX_ECONFIG,
		"pexipsdk.yaml:5: duplicate key 'pool' (first at line 3)");
	parse_err(URL "pexip:\n  url: https://other\n", PEX_ECONFIG,
		"pexipsdk.yaml:3: duplicate key 'pexip' (first at line 1)");
}
END_TEST

START_TEST(test_syntax_errors)
{
	parse_err("pexip: {url: https://x\n", PEX_ECONFIG,
		"pexipsdk.yaml:2:1: invalid YAML: did not find expected ',' or '}' "
		"(while parsing a flow mapping at line 1, column 8)");
	parse_err(URL "  timeout_ms: 5\n bad: indent\n", PEX_ECONFIG,
		"pexipsdk.yaml:4:2: invalid YAML: did not find expected key "
		"(while parsing a block mapping at line 1, column 1)");
	parse_err(URL "  timeout_ms: 5 bad: x\n", PEX_ECONFIG,
		"pexipsdk.yaml:3:20: invalid YAML: mapping values are not allowed in this context");
	parse_err(URL "\ttimeout_ms: 5\n", PEX_ECONFIG,
		"pexipsdk.yaml:3:1: invalid YAML: found a tab character that violates indentation "
		"(while scanning a plain scalar at line 2, column 8)");
	parse_err(URL "log: {level: *nope}\n", PEX_ECONFIG,
		"pexipsdk.yaml:3:14: invalid YAML: found undefined alias");
	parse_err("pexip: {url: \"https://x\xff\"}\n", PEX_ECONFIG,
		"pexipsdk.yaml:1:24: invalid YAML: invalid leading UTF-8 octet");
	parse_err(URL "  timeout_ms: 5\n  x: \"\x01\"\n", PEX_ECONFIG,
		"pexipsdk.yaml:4:7: invalid YAML: control characters are not allowed");
}
END_TEST

/* Nesting deeper than 32 levels is refused from the event stream, naming
 * the line, before libyaml loads the document (its cost is quadratic in
 * the depth: 100,000 levels took half a minute to load). */
static char *nested(const char *head, const char *open, const char *leaf, const char *close,
	size_t levels, const char *tail)
{
	size_t hl = strlen(head), ol = strlen(open), ll = strlen(leaf), cl = strlen(close), i;
	char *s = malloc(hl + levels * (ol + cl) + ll + strlen(tail) + 2), *p = s;

	ck_assert_ptr_nonnull(s);
	memcpy(p, head, hl);
	p += hl;
	for (i = 0; i < levels; i++, p += ol)
		memcpy(p, open, ol);
	memcpy(p, leaf, ll);
	p += ll;
	for (i = 0; i < levels; i++, p += cl)
		memcpy(p, close, cl);
	sprintf(p, "%s\n", tail);
	return s;
}

START_TEST(test_nesting_depth)
{
	pex_config *cfg = NULL;
	char *y;
	int err;

	y = nested(URL "tag: {allowed_hosts: ", "[", "x", "]", 100000, "}");
	parse_err(y, PEX_ECONFIG, "pexipsdk.yaml:3: mappings and lists nested deeper than 32 levels");
	free(y);
	y = nested("pexip: ", "{a: ", "1", "}", 100000, "");
	parse_err(y, PEX_ECONFIG, "pexipsdk.yaml:1: mappings and lists nested deeper than 32 levels");
	free(y);
	/* block style: the 33rd level starts on line 33 */
	{
		char block[4096];
		size_t o = (size_t)snprintf(block, sizeof(block), "pexip:\n");
		for (int i = 1; i < 40; i++)
			o += (size_t)snprintf(block + o, sizeof(block) - o, "%*sk%d:\n", 2 * i, "", i);
		parse_err(block, PEX_ECONFIG,
			"pexipsdk.yaml:33: mappings and lists nested deeper than 32 levels");
	}
	/* 32 levels are fine as far as depth goes (the list items are not) */
	y = nested(URL "tag: {allowed_hosts: ", "[", "x", "]", 30, "}");
	err = pex_config_parse(&cfg, y, strlen(y), ORIGIN);
	ck_assert_int_eq(err, PEX_ECONFIG);
	ck_assert_ptr_null(strstr(pex_error_last()->message, "nested deeper"));
	ck_assert_ptr_nonnull(strstr(pex_error_last()->message, "tag.allowed_hosts"));
	free(y);
	/* a syntax error before the limit is still reported as one */
	parse_err("pexip: [[[[\n", PEX_ECONFIG,
		"pexipsdk.yaml:2:1: invalid YAML: did not find expected node content "
		"(while parsing a flow node at line 2, column 1)");
}
END_TEST

START_TEST(test_empty_and_required)
{
	parse_err("", PEX_ECONFIG,
		"pexipsdk.yaml: missing required key 'pexip.url' (the configuration is empty)");
	parse_err("# only a comment\n\n", PEX_ECONFIG,
		"pexipsdk.yaml: missing required key 'pexip.url' (the configuration is empty)");
	parse_err("~\n", PEX_ECONFIG,
		"pexipsdk.yaml: missing required key 'pexip.url' (the configuration is empty)");
	parse_err("queue: {backend: memory}\n", PEX_ECONFIG,
		"pexipsdk.yaml: missing required key 'pexip.url' (there is no 'pexip' section)");
	/* the line of the section the key belongs in */
	parse_err("pexip:\n  timeout_ms: 5\n", PEX_ECONFIG,
		"pexipsdk.yaml:1: missing required key 'pexip.url' in section 'pexip'");
	parse_err("# settings\nqueue: {backend: memory}\n\npexip:\n  timeout_ms: 5\n", PEX_ECONFIG,
		"pexipsdk.yaml:4: missing required key 'pexip.url' in section 'pexip'");
	parse_err("log: {level: debug}\npexip: {timeout_ms: 5}\n", PEX_ECONFIG,
		"pexipsdk.yaml:2: missing required key 'pexip.url' in section 'pexip'");
	parse_err("log: {level: debug}\npexip:\n", PEX_ECONFIG,
		"pexipsdk.yaml:2: missing required key 'pexip.url' in section 'pexip'");
	parse_err("pexip: {}\n", PEX_ECONFIG,
		"pexipsdk.yaml:1: missing required key 'pexip.url' in section 'pexip'");
	parse_err("pexip: {url: null}\n", PEX_ECONFIG,
		"pexipsdk.yaml:1: pexip.url: expected a string, got null");
	{
		pex_config *cfg = sentinel();
		ck_assert_int_eq(pex_config_parse(&cfg, NULL, 0, "x.yaml"), PEX_ECONFIG);
		ck_assert_str_eq(pex_error_last()->message,
			"x.yaml: missing required key 'pexip.url' (the configuration is empty)");
		ck_assert_int_eq(pex_config_parse(&cfg, NULL, 5, "x.yaml"), PEX_EINVAL);
		ck_assert_int_eq(pex_config_parse(NULL, "", 0, "x.yaml"), PEX_EINVAL);
		ck_assert(cfg == sentinel());
	}
	/* no origin */
	{
		pex_config *cfg = NULL;
		ck_assert_int_eq(pex_config_parse(&cfg, "a: b", 4, NULL), PEX_ECONFIG);
		ck_assert_str_eq(pex_error_last()->message, "<memory>:1: unknown key 'a'");
		/* len is honoured: what follows is not parsed */
		ck_assert_int_eq(pex_config_parse(&cfg, URL "junk: [", strlen(URL), NULL), 0);
		ck_assert_str_eq(pex_config_origin(cfg), "<memory>");
		pex_config_free(cfg);
	}
}
END_TEST

/* ---- secrets ---- */

START_TEST(test_secret_env)
{
	pex_config *cfg;
	pex_buf dump = PEX_BUF_INIT;

	setenv("PEXTEST_PW", "hunter2-env-secret", 1);
	cfg = parse_ok(URL "  auth:\n    username: admin\n    password: env:PEXTEST_PW\n");
	assert_str_key(cfg, "pexip.auth.password", "hunter2-env-secret");
	ck_assert_int_eq(pex_config_dump(&dump, cfg), 0);
	ck_assert_ptr_null(strstr(dump.ptr, "hunter2"));
	ck_assert_ptr_nonnull(strstr(dump.ptr, "password: <redacted>"));
	ck_assert_ptr_nonnull(strstr(dump.ptr, "username: admin"));
	pex_buf_dispose(&dump);
	pex_config_free(cfg);

	/* set but empty is refused, naming the variable (an empty password
	 * is a forgotten export) */
	setenv("PEXTEST_PW", "", 1);
	secret_err(URL "events: {password: env:PEXTEST_PW}\n", "events.password", PEX_ECONFIG,
		"pexipsdk.yaml:3: events.password: environment variable PEXTEST_PW is set but empty");

	/* an unset variable is an error when the key is read, not before:
	 * a program that never reads it never needs it */
	unsetenv("PEXTEST_PW");
	secret_err(URL "  auth:\n\n    password: env:PEXTEST_PW\n", "pexip.auth.password",
		PEX_ECONFIG,
		"pexipsdk.yaml:5: pexip.auth.password: environment variable PEXTEST_PW is not set");
	cfg = parse_ok(URL "  auth: {username: admin, password: env:PEXTEST_PW}\n"
		"events: {password: env:PEXTEST_PW}\nserver: {api_keys: [env:PEXTEST_PW]}\n");
	assert_str_key(cfg, "pexip.auth.username", "admin");
	pex_config_free(cfg);
	parse_err(URL "events: {password: \"env:\"}\n", PEX_ECONFIG,
		"pexipsdk.yaml:3: events.password: env: reference without a variable name");
	parse_err(URL "events: {password: \"env:A B\"}\n", PEX_ECONFIG,
		"pexipsdk.yaml:3: events.password: env: reference with an invalid variable name");
	/* references are only for secrets: elsewhere they are plain text */
	cfg = parse_ok(URL "  auth: {username: env:PEXTEST_PW}\n");
	assert_str_key(cfg, "pexip.auth.username", "env:PEXTEST_PW");
	pex_config_free(cfg);
	/* a list of secrets */
	setenv("PEXTEST_KEY1", "k1-secret-value", 1);
	cfg = parse_ok(URL "server:\n  api_keys:\n    - env:PEXTEST_KEY1\n    - literal-k2\n");
	{
		static const char *const keys[] = { "k1-secret-value", "literal-k2", NULL };
		assert_list_key(cfg, "server.api_keys", keys);
	}
	ck_assert_int_eq(pex_config_dump(&dump, cfg), 0);
	ck_assert_ptr_null(strstr(dump.ptr, "k1-secret"));
	ck_assert_ptr_null(strstr(dump.ptr, "literal-k2"));
	ck_assert_ptr_nonnull(strstr(dump.ptr, "api_keys: [<redacted>, <redacted>]"));
	pex_buf_dispose(&dump);
	pex_config_free(cfg);
	unsetenv("PEXTEST_KEY1");
	secret_err(URL "server:\n  api_keys:\n    - literal\n    - env:PEXTEST_KEY1\n",
		"server.api_keys", PEX_ECONFIG,
		"pexipsdk.yaml:6: server.api_keys[1]: environment variable PEXTEST_KEY1 is not set");
}
END_TEST

/* A literal secret in a file readable by group or others draws a warning. */
static pex_config *load_mode(const char *dir, const char *yaml, mode_t mode)
{
	char path[PATH_MAX];
	pex_config *cfg = NULL;

	write_file(dir, "w.yaml", yaml);
	snprintf(path, sizeof(path), "%s/w.yaml", dir);
	ck_assert_int_eq(chmod(path, mode), 0);
	ck_assert_msg(pex_config_load(&cfg, path) == 0, "%s", pex_error_last()->message);
	return cfg;
}

START_TEST(test_literal_secret_warning)
{
	char *dir = make_tmpdir();
	char want[PATH_MAX + 256];
	pex_config *cfg;
	size_t i;

	setenv("PEXTEST_WPW", "warn-env-secret", 1);
	cfg = load_mode(dir, URL "  auth: {username: admin, password: lit-Secret-42}\n", 0644);
	ck_assert_uint_eq(pex_config_warning_count(cfg), 1);
	snprintf(want, sizeof(want), "%s/w.yaml: pexip.auth.password holds a literal secret and "
		"the file is readable by group and others (mode 0644); use env:/file: or chmod 600", dir);
	ck_assert_str_eq(pex_config_warning(cfg, 0), want);
	ck_assert_ptr_null(pex_config_warning(cfg, 1));
	ck_assert_ptr_null(strstr(pex_config_warning(cfg, 0), "lit-Secret-42"));
	pex_config_free(cfg);

	/* 0600: no warning; 0640 and 0604 say who can read */
	cfg = load_mode(dir, URL "  auth: {username: admin, password: lit-Secret-42}\n", 0600);
	ck_assert_uint_eq(pex_config_warning_count(cfg), 0);
	pex_config_free(cfg);
	cfg = load_mode(dir, URL "  auth: {username: admin, password: lit-Secret-42}\n", 0640);
	ck_assert_uint_eq(pex_config_warning_count(cfg), 1);
	ck_assert_ptr_nonnull(strstr(pex_config_warning(cfg, 0), "readable by group (mode 0640)"));
	pex_config_free(cfg);
	cfg = load_mode(dir, URL "  auth: {username: admin, password: lit-Secret-42}\n", 0604);
	ck_assert_ptr_nonnull(strstr(pex_config_warning(cfg, 0), "readable by others (mode 0604)"));
	pex_config_free(cfg);

	/* references are fine, whatever the mode; so are non-secret keys and nulls */
	write_file(dir, "pw.txt", "file-secret\n");
	cfg = load_mode(dir, URL "  auth: {username: admin, password: \"env:PEXTEST_WPW\"}\n"
		"events: {username: u, password: file:pw.txt}\n"
		"server: {api_keys: [\"env:PEXTEST_WPW\"]}\n", 0644);
	ck_assert_uint_eq(pex_config_warning_count(cfg), 0);
	pex_config_free(cfg);
	cfg = load_mode(dir, URL "  auth: {username: admin, password: ~}\n", 0644);
	ck_assert_uint_eq(pex_config_warning_count(cfg), 0);
	pex_config_free(cfg);

	/* every secret key holding a literal is named, lists included */
	cfg = load_mode(dir, URL "  auth: {method: oauth2, client_id: c, private_key: \"-----BEGIN\"}\n"
		"queue: {backend: azure, azure: {connection_string: \"AccountKey=abc\"}}\n"
		"events: {username: u, password: evpw}\n"
		"server:\n  api_keys:\n    - env:PEXTEST_WPW\n    - literal-key\n", 0644);
	ck_assert_uint_eq(pex_config_warning_count(cfg), 4);
	{
		static const char *const keys[] = { "pexip.auth.private_key",
			"queue.azure.connection_string", "events.password", "server.api_keys" };
		for (i = 0; i < 4; i++) {
			snprintf(want, sizeof(want), ": %s holds a literal secret", keys[i]);
			ck_assert_msg(strstr(pex_config_warning(cfg, i), want) != NULL, "%s", pex_config_warning(cfg, i));
		}
	}
	for (i = 0; i < 4; i++) {
		ck_assert_ptr_null(strstr(pex_config_warning(cfg, i), "abc"));
		ck_assert_ptr_null(strstr(pex_config_warning(cfg, i), "evpw"));
		ck_assert_ptr_null(strstr(pex_config_warning(cfg, i), "literal-key"));
	}
	pex_config_free(cfg);

	/* only files warn: parsing from memory has no mode */
	cfg = parse_ok(URL "  auth: {username: admin, password: lit-Secret-42}\n");
	ck_assert_uint_eq(pex_config_warning_count(cfg), 0);
	pex_config_free(cfg);
	ck_assert_uint_eq(pex_config_warning_count(NULL), 0);
	ck_assert_ptr_null(pex_config_warning(NULL, 0));
	unsetenv("PEXTEST_WPW");
	rm_tmpdir(dir);
}
END_TEST

/* queue.azure.*: TLS verification off only on an explicit false, with a
 * warning when the azure backend is chosen; timeout range; types. */
START_TEST(test_queue_azure_tls)
{
	char *dir = make_tmpdir();
	char want[PATH_MAX + 128];
	pex_config *cfg;
	long long v;
	int b;

	cfg = parse_ok(URL);
	ck_assert_int_eq(pex_config_get_bool(&b, cfg, "queue.azure.tls.verify"), 0);
	ck_assert_int_eq(b, 1);
	ck_assert_int_eq(pex_config_get_int(&v, cfg, "queue.azure.timeout_ms"), 0);
	ck_assert_int_eq(v, 10000);
	ck_assert_int_eq(pex_config_get_string(&(const char *){ NULL }, cfg,
		"queue.azure.tls.ca_file"), PEX_ENOTFOUND);
	pex_config_free(cfg);

	cfg = parse_ok(URL "queue:\n  azure:\n    tls: {verify: no, ca_file: /etc/ca.pem}\n"
		"    timeout_ms: 2500\n");
	ck_assert_int_eq(pex_config_get_bool(&b, cfg, "queue.azure.tls.verify"), 0);
	ck_assert_int_eq(b, 0);
	assert_str_key(cfg, "queue.azure.tls.ca_file", "/etc/ca.pem");
	ck_assert_int_eq(pex_config_get_int(&v, cfg, "queue.azure.timeout_ms"), 0);
	ck_assert_int_eq(v, 2500);
	pex_config_free(cfg);

	/* anything but a boolean is refused, naming the key */
	parse_err(URL "queue: {azure: {tls: {verify: 0}}}\n", PEX_ECONFIG,
		"pexipsdk.yaml:3: queue.azure.tls.verify: expected true or false (or yes/no, on/off), got \"0\"");
	parse_err(URL "queue: {azure: {tls: {verify: \"disabled\"}}}\n", PEX_ECONFIG,
		"pexipsdk.yaml:3: queue.azure.tls.verify: expected true or false (or yes/no, on/off), "
		"got \"disabled\"");
	parse_err(URL "queue: {azure: {tls: {verify: ~}}}\n", PEX_ECONFIG,
		"pexipsdk.yaml:3: queue.azure.tls.verify: expected true or false (or yes/no, on/off), got null");
	parse_err(URL "queue: {azure: {timeout_ms: 0}}\n", PEX_ECONFIG,
		"pexipsdk.yaml:3: queue.azure.timeout_ms: expected an integer from 1 to 600000, got \"0\"");
	parse_err(URL "queue: {azure: {timeout_ms: 600001}}\n", PEX_ECONFIG,
		"pexipsdk.yaml:3: queue.azure.timeout_ms: expected an integer from 1 to 600000, got \"600001\"");
	parse_err(URL "queue: {azure: {tls: {verfy: false}}}\n", PEX_ECONFIG,
		"pexipsdk.yaml:3: unknown key 'queue.azure.tls.verfy' (did you mean "
		"'queue.azure.tls.verify'?)");
	parse_err(URL "queue: {azure: {tls: {ca_file: [a]}}}\n", PEX_ECONFIG,
		"pexipsdk.yaml:3: queue.azure.tls.ca_file: expected a string, got a list");

	/* the warning: explicit false with the azure backend, from a file */
	cfg = load_mode(dir, URL "queue:\n  backend: azure\n  azure:\n"
		"    tls: {verify: false}\n", 0600);
	ck_assert_uint_eq(pex_config_warning_count(cfg), 1);
	snprintf(want, sizeof(want), "%s/w.yaml: TLS certificate verification of Azure Storage is "
		"OFF (queue.azure.tls.verify: false)", dir);
	ck_assert_str_eq(pex_config_warning(cfg, 0), want);
	pex_config_free(cfg);
	/* none when on (by default or explicitly), or when azure is not used */
	cfg = load_mode(dir, URL "queue: {backend: azure, azure: {tls: {verify: true}}}\n", 0600);
	ck_assert_uint_eq(pex_config_warning_count(cfg), 0);
	pex_config_free(cfg);
	cfg = load_mode(dir, URL "queue: {backend: azure}\n", 0600);
	ck_assert_uint_eq(pex_config_warning_count(cfg), 0);
	pex_config_free(cfg);
	cfg = load_mode(dir, URL "queue: {backend: sqlite, azure: {tls: {verify: false}}}\n", 0600);
	ck_assert_uint_eq(pex_config_warning_count(cfg), 0);
	pex_config_free(cfg);
	rm_tmpdir(dir);
}
END_TEST

START_TEST(test_secret_file)
{
	char *dir = make_tmpdir();
	char path[PATH_MAX], yaml[PATH_MAX + 128], msg[PATH_MAX + 256];
	pex_config *cfg = NULL;

	ck_assert_int_eq(mkdir(strcat(strcpy(path, dir), "/sub"), 0700), 0);
	write_file(dir, "sub/pw.txt", "file-secret-1\n\n");       /* one newline goes */
	write_file(dir, "sub/crlf.txt", "file-secret-2\r\n");
	write_file(dir, "sub/bare.txt", "file-secret-3");
	write_file(dir, "sub/empty.txt", "");

	/* absolute */
	snprintf(yaml, sizeof(yaml), URL "  auth: {password: \"file:%s/sub/pw.txt\"}\n"
		"events: {password: \"file:%s/sub/crlf.txt\"}\n"
		"server: {api_keys: [\"file:%s/sub/bare.txt\", \"file:%s/sub/empty.txt\"]}\n",
		dir, dir, dir, dir);
	cfg = parse_ok(yaml);
	assert_str_key(cfg, "pexip.auth.password", "file-secret-1\n");
	assert_str_key(cfg, "events.password", "file-secret-2");
	{
		static const char *const keys[] = { "file-secret-3", "", NULL };
		assert_list_key(cfg, "server.api_keys", keys);
	}
	pex_config_free(cfg);

	/* relative to the configuration file, loaded from its path */
	write_file(dir, "pexipsdk.yaml", URL "  auth: {password: file:sub/bare.txt}\n");
	snprintf(path, sizeof(path), "%s/pexipsdk.yaml", dir);
	ck_assert_int_eq(pex_config_load(&cfg, path), 0);
	assert_str_key(cfg, "pexip.auth.password", "file-secret-3");
	pex_config_free(cfg);

	/* ... and from an origin naming it */
	ck_assert_int_eq(pex_config_parse(&cfg, URL "  auth: {password: file:sub/bare.txt}\n",
		strlen(URL "  auth: {password: file:sub/bare.txt}\n"), path), 0);
	assert_str_key(cfg, "pexip.auth.password", "file-secret-3");
	pex_config_free(cfg);

	/* missing file: the path (as resolved) and errno text, nothing else */
	snprintf(msg, sizeof(msg), "%s:3: pexip.auth.password: cannot read secret file "
		"%s/sub/missing.txt: No such file or directory", path, dir);
	ck_assert_int_eq(pex_config_parse(&cfg, URL "  auth: {password: file:sub/missing.txt}\n",
		strlen(URL "  auth: {password: file:sub/missing.txt}\n"), path), 0);
	ck_assert_int_eq(pex_config_resolve_secrets(cfg), PEX_ECONFIG);
	ck_assert_str_eq(pex_error_last()->message, msg);
	pex_config_free(cfg);

	/* a directory is not a secret */
	snprintf(yaml, sizeof(yaml), URL "  auth: {password: \"file:%s/sub\"}\n", dir);
	snprintf(msg, sizeof(msg), "pexipsdk.yaml:3: pexip.auth.password: cannot read secret file "
		"%s/sub: Is a directory", dir);
	secret_err(yaml, "pexip.auth.password", PEX_ECONFIG, msg);
	/* nor a file with NUL bytes, and the message shows no content */
	{
		FILE *f;
		snprintf(path, sizeof(path), "%s/sub/nul.bin", dir);
		f = fopen(path, "w");
		ck_assert_ptr_nonnull(f);
		fwrite("topsecret\0x", 1, 11, f);
		fclose(f);
	}
	snprintf(yaml, sizeof(yaml), URL "  auth: {password: \"file:%s\"}\n", path);
	snprintf(msg, sizeof(msg), "pexipsdk.yaml:3: pexip.auth.password: secret file %s "
		"contains a NUL byte", path);
	secret_err(yaml, "pexip.auth.password", PEX_ECONFIG, msg);
	ck_assert_ptr_null(strstr(pex_error_last()->message, "topsecret"));
	parse_err(URL "  auth: {password: \"file:\"}\n", PEX_ECONFIG,
		"pexipsdk.yaml:3: pexip.auth.password: file: reference without a path");

	/* a FIFO without a writer is refused at once (it used to hang), and
	 * so is a device */
	snprintf(path, sizeof(path), "%s/sub/fifo", dir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	snprintf(yaml, sizeof(yaml), URL "  auth: {password: \"file:%s\"}\n", path);
	snprintf(msg, sizeof(msg), "pexipsdk.yaml:3: pexip.auth.password: secret file %s "
		"is not a regular file", path);
	secret_err(yaml, "pexip.auth.password", PEX_ECONFIG, msg);
	secret_err(URL "  auth: {password: \"file:/dev/zero\"}\n", "pexip.auth.password", PEX_ECONFIG,
		"pexipsdk.yaml:3: pexip.auth.password: secret file /dev/zero is not a regular file");

	rm_tmpdir(dir);
}
END_TEST

/* Save an environment variable and unset it; restore_env() puts it back. */
static char *save_env(const char *name)
{
	const char *v = getenv(name);
	char *saved = v ? strdup(v) : NULL;

	unsetenv(name);
	return saved;
}

static void restore_env(const char *name, char *saved)
{
	if (saved)
		setenv(name, saved, 1);
	else
		unsetenv(name);
	free(saved);
}

/*
 * Relative paths (queue.sqlite.path and its default, the CA and JWKS files,
 * file: secrets) resolve against the directory of the configuration file,
 * made absolute at load: whatever the current directory is when they are
 * used, cron's $HOME or the server's own.
 */
START_TEST(test_relative_paths)
{
	char *dir = make_tmpdir(), real[PATH_MAX], old_cwd[PATH_MAX], want[PATH_MAX + 64];
	pex_config *cfg = NULL;

	ck_assert_ptr_nonnull(getcwd(old_cwd, sizeof(old_cwd)));
	ck_assert_ptr_nonnull(realpath(dir, real));
	snprintf(want, sizeof(want), "%s/etc", real);
	ck_assert_int_eq(mkdir(want, 0700), 0);
	write_file(dir, "etc/pw.txt", "pw-in-etc\n");
	write_file(dir, "etc/a.yaml", URL "  auth: {password: file:pw.txt}\n"
		"  tls: {ca_file: ca/pexip.pem}\n"
		"queue: {azure: {tls: {ca_file: ../azure.pem}}}\n"
		"server: {jwt: {jwks_file: jwks.json}}\n");
	write_file(dir, "etc/b.yaml", URL "queue: {sqlite: {path: data/pool.db}}\n");
	write_file(dir, "etc/pexipsdk.yaml", URL);

	/* loaded by a relative name: paths are absolute, from the file's directory */
	ck_assert_int_eq(chdir(real), 0);
	ck_assert_msg(pex_config_load(&cfg, "etc/a.yaml") == 0, "%s", pex_error_last()->message);
	ck_assert_int_eq(chdir("/"), 0);   /* cron's $HOME, the server's directory... */
	snprintf(want, sizeof(want), "%s/etc/pexipsdk.db", real);
	assert_str_key(cfg, "queue.sqlite.path", want);   /* the default too */
	snprintf(want, sizeof(want), "%s/etc/ca/pexip.pem", real);
	assert_str_key(cfg, "pexip.tls.ca_file", want);
	snprintf(want, sizeof(want), "%s/etc/../azure.pem", real);
	assert_str_key(cfg, "queue.azure.tls.ca_file", want);
	snprintf(want, sizeof(want), "%s/etc/jwks.json", real);
	assert_str_key(cfg, "server.jwt.jwks_file", want);
	assert_str_key(cfg, "pexip.auth.password", "pw-in-etc");   /* read after the chdir */
	pex_config_free(cfg);

	snprintf(want, sizeof(want), "%s/etc/b.yaml", real);
	ck_assert_int_eq(pex_config_load(&cfg, want), 0);
	snprintf(want, sizeof(want), "%s/etc/data/pool.db", real);
	assert_str_key(cfg, "queue.sqlite.path", want);
	pex_config_free(cfg);

	/* ./pexipsdk.yaml found by the search: the current directory, absolute */
	snprintf(want, sizeof(want), "%s/etc", real);
	ck_assert_int_eq(chdir(want), 0);
	{
		char *saved = save_env("PEXIPSDK_CONFIG");
		ck_assert_int_eq(pex_config_load(&cfg, NULL), 0);
		restore_env("PEXIPSDK_CONFIG", saved);
	}
	snprintf(want, sizeof(want), "%s/etc/pexipsdk.db", real);
	assert_str_key(cfg, "queue.sqlite.path", want);
	pex_config_free(cfg);

	/* absolute paths and SQLite's :memory: stay as written */
	cfg = parse_ok(URL "  tls: {ca_file: /etc/ca.pem}\nqueue: {sqlite: {path: \":memory:\"}}\n");
	assert_str_key(cfg, "queue.sqlite.path", ":memory:");
	assert_str_key(cfg, "pexip.tls.ca_file", "/etc/ca.pem");
	pex_config_free(cfg);

	/* no file: the current directory (left relative) */
	ck_assert_int_eq(pex_config_new_defaults(&cfg), 0);
	assert_str_key(cfg, "queue.sqlite.path", "pexipsdk.db");
	pex_config_free(cfg);

	ck_assert_int_eq(chdir(old_cwd), 0);
	rm_tmpdir(dir);
}
END_TEST

/*
 * keyvault: references are checked for shape (PEX_ECONFIG), then fetched
 * through a Managed Identity; fetch errors keep their code and get the
 * location prefix. The fetch itself is tested in tests/secrets.
 */
START_TEST(test_secret_keyvault)
{
	static const char *const vars[] = { "IDENTITY_ENDPOINT", "IDENTITY_HEADER",
		"IMDS_ENDPOINT", "PEXIPSDK_IMDS_ENDPOINT" };
	static const char prefix[] = "pexipsdk.yaml:4: pexip.auth.password: managed identity "
		"(IMDS): cannot reach http://127.0.0.1:";
	char *saved[4], imds[96];
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	pex_config *cfg = sentinel();
	const char *yaml = URL "  auth:\n    password: keyvault:https://myvault.vault.azure.net/secrets/pexip-pw\n";
	size_t i;
	int fd, err;

	parse_err(URL "  auth:\n    password: keyvault:myvault/pexip-pw\n", PEX_ECONFIG,
		"pexipsdk.yaml:4: pexip.auth.password: malformed Key Vault reference: the vault "
		"URL must start with https://; expected keyvault:https://VAULT/secrets/NAME[/VERSION]");
	ck_assert_int_eq(pex_error_last()->klass, PEX_ERROR_CLASS_CONFIG);
	parse_err(URL "  auth:\n    password: keyvault:https://myvault.vault.azure.net/keys/x\n",
		PEX_ECONFIG, "pexipsdk.yaml:4: pexip.auth.password: malformed Key Vault reference: "
		"the path must be /secrets/NAME or /secrets/NAME/VERSION; expected "
		"keyvault:https://VAULT/secrets/NAME[/VERSION]");
	parse_err(URL "  auth:\n    password: keyvault:https://myvault.vault.azure.net/secrets/a_b\n",
		PEX_ECONFIG, "pexipsdk.yaml:4: pexip.auth.password: malformed Key Vault reference: "
		"the secret name must be 1 to 127 letters, digits or '-'; expected "
		"keyvault:https://VAULT/secrets/NAME[/VERSION]");

	/* A well-formed reference is fetched: point IMDS at a closed loopback port. */
	for (i = 0; i < PEX__ARRAY_SIZE(vars); i++)
		saved[i] = save_env(vars[i]);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	snprintf(imds, sizeof(imds), "http://127.0.0.1:%u/token", ntohs(sa.sin_port));
	setenv("PEXIPSDK_IMDS_ENDPOINT", imds, 1);

	cfg = parse_ok(yaml);   /* fetched when read */
	{
		const char *s = NULL;
		err = pex_config_get_string(&s, cfg, "pexip.auth.password");
		ck_assert_ptr_null(s);
	}
	pex_config_free(cfg);
	ck_assert_msg(err == PEX_ENET, "got %s: %s", pex_error_name(err), pex_error_last()->message);
	ck_assert_msg(strncmp(pex_error_last()->message, prefix, strlen(prefix)) == 0,
		"message: %s", pex_error_last()->message);

	for (i = 0; i < PEX__ARRAY_SIZE(vars); i++)
		restore_env(vars[i], saved[i]);
}
END_TEST

/* A literal secret must not leak through any message or the dump. */
START_TEST(test_secret_never_shown)
{
	static const char *const leaks[] = {
		/* a wrong type on a secret key */
		URL "  auth:\n    password: {Sup3rS3cret: 1}\n",
		/* an error after a literal secret was read */
		URL "  auth:\n    password: Sup3rS3cret\n  timeout_ms: bad\n",
		/* a secret list given a scalar */
		URL "server: {api_keys: Sup3rS3cret}\n",
		/* an empty secret */
		URL "events: {password: ''}\n",
	};
	pex_config *cfg;
	pex_buf dump = PEX_BUF_INIT;
	size_t i;

	for (i = 0; i < PEX__ARRAY_SIZE(leaks); i++) {
		pex_config *c = sentinel();
		ck_assert_int_eq(pex_config_parse(&c, leaks[i], strlen(leaks[i]), ORIGIN), PEX_ECONFIG);
		ck_assert_msg(strstr(pex_error_last()->message, "Sup3rS3cret") == NULL,
			"leaked: %s", pex_error_last()->message);
	}
	parse_err(URL "server: {api_keys: Sup3rS3cret}\n", PEX_ECONFIG,
		"pexipsdk.yaml:3: server.api_keys: expected a list of strings, got a string");
	parse_err(URL "events: {password: ''}\n", PEX_ECONFIG,
		"pexipsdk.yaml:3: events.password: expected a non-empty string, got an empty string");

	cfg = parse_ok(URL "  auth: {password: Sup3rS3cret, private_key: \"-----BEGIN Sup3rS3cret\"}\n"
		"events: {password: Sup3rS3cret}\n"
		"queue: {azure: {connection_string: \"AccountKey=Sup3rS3cret\"}}\n");
	ck_assert_int_eq(pex_config_dump(&dump, cfg), 0);
	ck_assert_ptr_null(strstr(dump.ptr, "Sup3rS3cret"));
	pex_buf_dispose(&dump);

	/* overrides: same rules */
	ck_assert_int_eq(pex_config_set(cfg, "server.api_keys", "Sup3rS3cret, "), PEX_ECONFIG);
	ck_assert_str_eq(pex_error_last()->message,
		"<override>: server.api_keys[1]: expected a non-empty string, got an empty string");
	ck_assert_int_eq(pex_config_set(cfg, "pexip.auth.password", "Sup3rS3cret2"), 0);
	ck_assert_int_eq(pex_config_dump(&dump, cfg), 0);
	ck_assert_ptr_null(strstr(dump.ptr, "Sup3rS3cret"));
	pex_buf_dispose(&dump);
	pex_config_free(cfg);

	ck_assert_int_eq(pex_config_key_is_secret("pexip.auth.password"), 1);
	ck_assert_int_eq(pex_config_key_is_secret("pexip.auth.private_key"), 1);
	ck_assert_int_eq(pex_config_key_is_secret("queue.azure.connection_string"), 1);
	ck_assert_int_eq(pex_config_key_is_secret("events.password"), 1);
	ck_assert_int_eq(pex_config_key_is_secret("server.api_keys"), 1);
	ck_assert_int_eq(pex_config_key_is_secret("pexip.auth.username"), 0);
	ck_assert_int_eq(pex_config_key_is_secret("pexip.url"), 0);
	ck_assert_int_eq(pex_config_key_is_secret("nope"), 0);
	ck_assert_int_eq(pex_config_key_is_secret(NULL), 0);
}
END_TEST

/* The azure connection string default is an env: reference read lazily. */
START_TEST(test_secret_lazy_default)
{
	pex_config *cfg;
	const char *s = NULL;
	pex_buf dump = PEX_BUF_INIT;

	unsetenv("AZURE_STORAGE_CONNECTION_STRING");
	cfg = parse_ok(URL);   /* the sqlite backend: no error */
	ck_assert_int_eq(pex_config_dump(&dump, cfg), 0);
	ck_assert_ptr_nonnull(strstr(dump.ptr, "connection_string: <redacted>"));
	pex_buf_dispose(&dump);
	ck_assert_int_eq(pex_config_get_string(&s, cfg, "queue.azure.connection_string"), PEX_ECONFIG);
	ck_assert_str_eq(pex_error_last()->message, "pexipsdk.yaml: queue.azure.connection_string: "
		"environment variable AZURE_STORAGE_CONNECTION_STRING is not set");
	ck_assert_ptr_null(s);

	/* resolved on the first successful read, then kept */
	setenv("AZURE_STORAGE_CONNECTION_STRING", "UseDevelopmentStorage=true", 1);
	assert_str_key(cfg, "queue.azure.connection_string", "UseDevelopmentStorage=true");
	unsetenv("AZURE_STORAGE_CONNECTION_STRING");
	assert_str_key(cfg, "queue.azure.connection_string", "UseDevelopmentStorage=true");
	pex_config_free(cfg);

	/* so is a reference written in the file, with its line */
	secret_err(URL "queue:\n  azure:\n    connection_string: env:AZURE_STORAGE_CONNECTION_STRING\n",
		"queue.azure.connection_string",
		PEX_ECONFIG, "pexipsdk.yaml:5: queue.azure.connection_string: environment variable "
		"AZURE_STORAGE_CONNECTION_STRING is not set");
}
END_TEST

/* ---- loading ---- */

START_TEST(test_load_search_order)
{
	char *dir = make_tmpdir(), *empty = make_tmpdir();
	char cwd[PATH_MAX], path[PATH_MAX], sys[PATH_MAX], msg[3 * PATH_MAX];
	const char *old_env = getenv("PEXIPSDK_CONFIG");
	char *saved_env = old_env ? strdup(old_env) : NULL;
	pex_config *cfg = NULL;

	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	write_file(dir, "env.yaml", URL "log: {level: debug}\n");
	write_file(dir, "pexipsdk.yaml", URL "log: {level: warn}\n");
	write_file(dir, "system.yaml", URL "log: {level: error}\n");
	snprintf(sys, sizeof(sys), "%s/system.yaml", dir);

	/* $PEXIPSDK_CONFIG first */
	snprintf(path, sizeof(path), "%s/env.yaml", dir);
	setenv("PEXIPSDK_CONFIG", path, 1);
	ck_assert_int_eq(chdir(dir), 0);
	ck_assert_int_eq(pex_config_load(&cfg, NULL), 0);
	ck_assert_str_eq(pex_config_origin(cfg), path);
	assert_str_key(cfg, "log.level", "debug");
	pex_config_free(cfg);

	/* ... and it is authoritative: a missing file is an error, no fallback */
	snprintf(path, sizeof(path), "%s/typo.yaml", dir);
	setenv("PEXIPSDK_CONFIG", path, 1);
	cfg = sentinel();
	ck_assert_int_eq(pex_config_load(&cfg, NULL), PEX_ENOTFOUND);
	snprintf(msg, sizeof(msg), "cannot read configuration %s (from $PEXIPSDK_CONFIG): "
		"No such file or directory", path);
	ck_assert_str_eq(pex_error_last()->message, msg);
	ck_assert(cfg == sentinel());

	/* an explicit path wins over everything */
	snprintf(path, sizeof(path), "%s/system.yaml", dir);
	ck_assert_int_eq(pex_config_load(&cfg, path), 0);
	assert_str_key(cfg, "log.level", "error");
	pex_config_free(cfg);

	/* then ./pexipsdk.yaml (empty $PEXIPSDK_CONFIG counts as unset) */
	setenv("PEXIPSDK_CONFIG", "", 1);
	pex__config_set_system_path(sys);
	ck_assert_int_eq(pex_config_load(&cfg, NULL), 0);
	ck_assert_str_eq(pex_config_origin(cfg), "pexipsdk.yaml");
	assert_str_key(cfg, "log.level", "warn");
	pex_config_free(cfg);

	/* then the system file */
	unsetenv("PEXIPSDK_CONFIG");
	ck_assert_int_eq(chdir(empty), 0);
	ck_assert_int_eq(pex_config_load(&cfg, NULL), 0);
	ck_assert_str_eq(pex_config_origin(cfg), sys);
	assert_str_key(cfg, "log.level", "error");
	pex_config_free(cfg);

	/* none: PEX_ENOTFOUND listing where it looked */
	snprintf(path, sizeof(path), "%s/none.yaml", empty);
	pex__config_set_system_path(path);
	cfg = sentinel();
	ck_assert_int_eq(pex_config_load(&cfg, NULL), PEX_ENOTFOUND);
	snprintf(msg, sizeof(msg), "no configuration file found (looked at $PEXIPSDK_CONFIG "
		"(not set), ./pexipsdk.yaml, %s); pass one with -c FILE", path);
	ck_assert_str_eq(pex_error_last()->message, msg);
	ck_assert(cfg == sentinel());

	/* ./pexipsdk.yaml that cannot be read is an error, not skipped */
	ck_assert_int_eq(mkdir("pexipsdk.yaml", 0700), 0);
	ck_assert_int_eq(pex_config_load(&cfg, NULL), PEX_EIO);
	ck_assert_str_eq(pex_error_last()->message,
		"cannot read configuration pexipsdk.yaml: Is a directory");
	ck_assert_int_eq(rmdir("pexipsdk.yaml"), 0);

	/* explicit paths: missing, unreadable */
	ck_assert_int_eq(pex_config_load(&cfg, path), PEX_ENOTFOUND);
	snprintf(msg, sizeof(msg), "cannot read configuration %s: No such file or directory", path);
	ck_assert_str_eq(pex_error_last()->message, msg);
	ck_assert_int_eq(pex_config_load(&cfg, empty), PEX_EIO);
	snprintf(msg, sizeof(msg), "cannot read configuration %s: Is a directory", empty);
	ck_assert_str_eq(pex_error_last()->message, msg);
	ck_assert(cfg == sentinel());
	/* errors in the file name the file */
	write_file(dir, "bad.yaml", URL "  timeout_ms: 0\n");
	snprintf(path, sizeof(path), "%s/bad.yaml", dir);
	ck_assert_int_eq(pex_config_load(&cfg, path), PEX_ECONFIG);
	snprintf(msg, sizeof(msg), "%s:3: pexip.timeout_ms: expected an integer from 1 to 600000, "
		"got \"0\"", path);
	ck_assert_str_eq(pex_error_last()->message, msg);
	ck_assert_int_eq(pex_config_load(NULL, path), PEX_EINVAL);

	pex__config_set_system_path(NULL);
	ck_assert_int_eq(chdir(cwd), 0);
	if (saved_env)
		setenv("PEXIPSDK_CONFIG", saved_env, 1);
	else
		unsetenv("PEXIPSDK_CONFIG");
	free(saved_env);
	rm_tmpdir(dir);
	rm_tmpdir(empty);
}
END_TEST

/* pex_config_load() reads only a file nobody else could have written
 * (pexipsdk.yaml(5), FILE PERMISSIONS), however it was found. */
static void load_refused(const char *path, const char *want)
{
	pex_config *cfg = sentinel();
	char msg[3 * PATH_MAX];

	ck_assert_int_eq(pex_config_load(&cfg, path), PEX_ECONFIG);
	snprintf(msg, sizeof(msg), "refusing configuration %s: %s", path, want);
	ck_assert_str_eq(pex_error_last()->message, msg);
	ck_assert(cfg == sentinel());
}

START_TEST(test_load_refuses_untrusted)
{
	char *dir = make_tmpdir(), path[PATH_MAX], sub[PATH_MAX], want[2 * PATH_MAX];
	pex_config *cfg = NULL;

	write_file(dir, "c.yaml", URL);
	snprintf(path, sizeof(path), "%s/c.yaml", dir);
	ck_assert_int_eq(chmod(path, 0664), 0);
	load_refused(path, "the file is writable by group (mode 0664); chmod go-w it");
	ck_assert_int_eq(chmod(path, 0602), 0);
	load_refused(path, "the file is writable by others (mode 0602); chmod go-w it");
	ck_assert_int_eq(chmod(path, 0644), 0);
	ck_assert_int_eq(pex_config_load(&cfg, path), 0);
	pex_config_free(cfg);

	/* the directory: not writable by others unless sticky */
	ck_assert_int_eq(chmod(dir, 0777), 0);
	snprintf(want, sizeof(want), "its directory %s is writable by group and others (mode 0777); "
		"chmod go-w it", dir);
	load_refused(path, want);
	ck_assert_int_eq(chmod(dir, 01777), 0);
	ck_assert_int_eq(pex_config_load(&cfg, path), 0);
	pex_config_free(cfg);
	ck_assert_int_eq(chmod(dir, 0700), 0);

	/* another user's file, or directory (only root can make one here) */
	if (geteuid() == 0) {
		ck_assert_int_eq(chown(path, 65534, (gid_t)-1), 0);
		snprintf(want, sizeof(want), "the file is owned by uid 65534, not by you (uid 0) or root");
		load_refused(path, want);
		ck_assert_int_eq(chown(path, 0, (gid_t)-1), 0);
		snprintf(sub, sizeof(sub), "%s/theirs", dir);
		ck_assert_int_eq(mkdir(sub, 0755), 0);
		write_file(sub, "c.yaml", URL);
		ck_assert_int_eq(chown(sub, 65534, (gid_t)-1), 0);
		snprintf(path, sizeof(path), "%s/c.yaml", sub);
		snprintf(want, sizeof(want), "its directory %s is owned by uid 65534, not by you (uid 0) "
			"or root", sub);
		load_refused(path, want);
	}
	rm_tmpdir(dir);
}
END_TEST

/* ---- overrides and getters ---- */

START_TEST(test_set)
{
	static const char *const ab[] = { "a_", "b_", NULL };
	static const char *const none[] = { NULL };
	pex_config *cfg = parse_ok(URL "pool: {depth: 3}\n");
	const char *before = NULL;

	ck_assert_int_eq(pex_config_set(cfg, "pool.depth", "7"), 0);
	assert_int_key(cfg, "pool.depth", 7);
	ck_assert_int_eq(pex_config_set(cfg, "pool.depth", "seven"), PEX_ECONFIG);
	ck_assert_str_eq(pex_error_last()->message,
		"<override>: pool.depth: expected an integer from 0 to 100000, got \"seven\"");
	assert_int_key(cfg, "pool.depth", 7);   /* unchanged */
	ck_assert_int_eq(pex_config_set(cfg, "pool.depth", "100001"), PEX_ECONFIG);
	ck_assert_int_eq(pex_config_set(cfg, "pool.depth", NULL), PEX_ECONFIG);
	ck_assert_str_eq(pex_error_last()->message,
		"<override>: pool.depth: expected an integer from 0 to 100000, got null");
	assert_int_key(cfg, "pool.depth", 7);

	ck_assert_int_eq(pex_config_set(cfg, "pool.depth.x", "1"), PEX_EINVAL);
	ck_assert_str_eq(pex_error_last()->message,
		"<override>: unknown key 'pool.depth.x' (did you mean 'pool.depth'?)");
	ck_assert_int_eq(pex_config_set(cfg, "pool", "1"), PEX_EINVAL);
	ck_assert_int_eq(pex_config_set(NULL, "pool.depth", "1"), PEX_EINVAL);
	ck_assert_int_eq(pex_config_set(cfg, NULL, "1"), PEX_EINVAL);

	/* each type */
	ck_assert_int_eq(pex_config_set(cfg, "pexip.tls.verify", "off"), 0);
	assert_bool_key(cfg, "pexip.tls.verify", 0);
	ck_assert_int_eq(pex_config_set(cfg, "log.level", "debug"), 0);
	assert_str_key(cfg, "log.level", "debug");
	ck_assert_int_eq(pex_config_set(cfg, "log.level", "loud"), PEX_ECONFIG);
	ck_assert_str_eq(pex_error_last()->message, "<override>: log.level: expected one of error, "
		"warn, info, debug, got \"loud\"");
	ck_assert_int_eq(pex_config_set(cfg, "pool.queue", "Bad_Name"), PEX_ECONFIG);
	ck_assert_str_eq(pex_error_last()->message, "<override>: pool.queue: may contain only "
		"lowercase letters, digits and '-', got \"Bad_Name\"");
	ck_assert_int_eq(pex_config_set(cfg, "gc.protected_prefixes", " a_ , b_"), 0);
	assert_list_key(cfg, "gc.protected_prefixes", ab);
	ck_assert_int_eq(pex_config_set(cfg, "gc.protected_prefixes", "[a_,b_]"), 0);
	assert_list_key(cfg, "gc.protected_prefixes", ab);
	ck_assert_int_eq(pex_config_set(cfg, "gc.protected_prefixes", "[]"), 0);
	assert_list_key(cfg, "gc.protected_prefixes", none);
	ck_assert_int_eq(pex_config_set(cfg, "gc.protected_prefixes", ""), 0);
	assert_list_key(cfg, "gc.protected_prefixes", none);
	ck_assert_int_eq(pex_config_set(cfg, "gc.protected_prefixes", "a_,,b_"), PEX_ECONFIG);
	ck_assert_str_eq(pex_error_last()->message, "<override>: gc.protected_prefixes[1]: "
		"expected a non-empty string, got \"\"");

	/* null for nullable keys */
	ck_assert_int_eq(pex_config_set(cfg, "pool.room.participant_limit", "50"), 0);
	assert_int_key(cfg, "pool.room.participant_limit", 50);
	ck_assert_int_eq(pex_config_set(cfg, "pool.room.participant_limit", "null"), 0);
	assert_null_key(cfg, "pool.room.participant_limit");
	ck_assert_int_eq(pex_config_set(cfg, "pexip.url", NULL), PEX_ECONFIG);
	ck_assert_str_eq(pex_error_last()->message,
		"<override>: pexip.url: expected a string, got null");

	/* borrowed pointers survive an override of their key */
	ck_assert_int_eq(pex_config_get_string(&before, cfg, "pexip.url"), 0);
	ck_assert_int_eq(pex_config_set(cfg, "pexip.url", "http://127.0.0.1:9999"), 0);
	ck_assert_str_eq(before, "https://mgr.example.com");
	assert_str_key(cfg, "pexip.url", "http://127.0.0.1:9999");

	/* secrets are resolved as in the file */
	setenv("PEXTEST_SET_PW", "set-secret", 1);
	ck_assert_int_eq(pex_config_set(cfg, "pexip.auth.password", "env:PEXTEST_SET_PW"), 0);
	assert_str_key(cfg, "pexip.auth.password", "set-secret");
	unsetenv("PEXTEST_SET_PW");
	ck_assert_int_eq(pex_config_set(cfg, "pexip.auth.password", "env:PEXTEST_SET_PW"), PEX_ECONFIG);
	ck_assert_str_eq(pex_error_last()->message, "<override>: pexip.auth.password: "
		"environment variable PEXTEST_SET_PW is not set");
	assert_str_key(cfg, "pexip.auth.password", "set-secret");
	ck_assert_int_eq(pex_config_set(cfg, "server.api_keys", "k1, k2"), 0);
	pex_config_free(cfg);

	/* on a defaults-only config, set makes it complete */
	ck_assert_int_eq(pex_config_new_defaults(&cfg), 0);
	ck_assert_int_eq(pex_config_set(cfg, "pexip.url", "https://x.example"), 0);
	assert_str_key(cfg, "pexip.url", "https://x.example");
	pex_config_free(cfg);
}
END_TEST

START_TEST(test_getters)
{
	pex_config *cfg = parse_ok(URL);
	const char *s = NULL;
	const char *const *list = NULL;
	size_t n = 0;
	long long i = 0;
	int b = 0;

	ck_assert_int_eq(pex_config_get_string(&s, cfg, "pool.depth"), PEX_EINVAL);
	ck_assert_str_eq(pex_error_last()->message,
		"configuration key 'pool.depth' is an integer, not a string");
	ck_assert_int_eq(pex_config_get_int(&i, cfg, "pexip.url"), PEX_EINVAL);
	ck_assert_str_eq(pex_error_last()->message,
		"configuration key 'pexip.url' is a string, not an integer");
	ck_assert_int_eq(pex_config_get_bool(&b, cfg, "pool.depth"), PEX_EINVAL);
	ck_assert_int_eq(pex_config_get_list(&list, &n, cfg, "pexip.url"), PEX_EINVAL);
	ck_assert_int_eq(pex_config_get_string(&s, cfg, "gc.protected_prefixes"), PEX_EINVAL);
	ck_assert_str_eq(pex_error_last()->message,
		"configuration key 'gc.protected_prefixes' is a list, not a string");

	ck_assert_int_eq(pex_config_get_string(&s, cfg, "pexip.tiemout_ms"), PEX_EINVAL);
	ck_assert_str_eq(pex_error_last()->message,
		"pexipsdk.yaml: unknown key 'pexip.tiemout_ms' (did you mean 'pexip.timeout_ms'?)");
	ck_assert_int_eq(pex_config_get_int(&i, cfg, "pexip"), PEX_EINVAL);
	ck_assert_int_eq(pex_config_get_int(&i, cfg, ""), PEX_EINVAL);

	ck_assert_int_eq(pex_config_get_string(&s, cfg, "events.username"), PEX_ENOTFOUND);
	ck_assert_str_eq(pex_error_last()->message, "pexipsdk.yaml: events.username is not set");
	ck_assert_ptr_null(s);   /* untouched */

	ck_assert_int_eq(pex_config_get_string(NULL, cfg, "pexip.url"), PEX_EINVAL);
	ck_assert_int_eq(pex_config_get_string(&s, NULL, "pexip.url"), PEX_EINVAL);
	ck_assert_int_eq(pex_config_get_string(&s, cfg, NULL), PEX_EINVAL);
	ck_assert_int_eq(pex_config_get_list(&list, NULL, cfg, "tag.allowed_hosts"), PEX_EINVAL);
	ck_assert_ptr_null(pex_config_origin(NULL));
	ck_assert_int_eq(pex_config_new_defaults(NULL), PEX_EINVAL);

	/* a list is NULL-terminated as well as counted */
	ck_assert_int_eq(pex_config_get_list(&list, &n, cfg, "gc.protected_prefixes"), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_ptr_null(list[2]);
	pex_config_free(cfg);
}
END_TEST

/* ---- dump ---- */

START_TEST(test_dump)
{
	static const char *const expected =
		"pexip:\n"
		"  url: https://mgr.example.com\n"
		"  auth:\n"
		"    method: basic\n"
		"    username: null\n"
		"    password: <redacted>\n"
		"    client_id: null\n"
		"    private_key: null\n"
		"    token_url: null\n"
		"    audience: null\n"
		"    scope: null\n"
		"  tls:\n"
		"    verify: true\n"
		"    ca_file: null\n"
		"  timeout_ms: 10000\n"
		"  max_concurrency: 5\n"
		"  retries:\n"
		"    max: 3\n"
		"    base_ms: 200\n"
		"    cap_ms: 30000\n"
		"queue:\n"
		"  backend: sqlite\n"
		"  location: null\n"
		"  sqlite:\n"
		"    path: pexipsdk.db\n"
		"  azure:\n"
		"    connection_string: <redacted>\n"
		"    tls:\n"
		"      verify: true\n"
		"      ca_file: null\n"
		"    timeout_ms: 10000\n"
		"  postgres:\n"
		"    conninfo: <redacted>\n"
		"    schema: pexipsdk\n"
		"    statement_timeout_ms: 10000\n"
		"pool:\n"
		"  queue: room-creation-queue\n"
		"  depth: 20\n"
		"  name_prefix: vmr_\n"
		"  lease_s: 60\n"
		"  ready_after_s: 60\n"
		"  max_depth: 0\n"
		"  wait_ms: 2000\n"
		"  cooldown_s: 60\n"
		"  room:\n"
		"    service_type: conference\n"
		"    allow_guests: true\n"
		"    pin_digits: 6\n"
		"    guest_pin_digits: 6\n"
		"    alias_domain: null\n"
		"    participant_limit: null\n"
		"    description: \"null\"\n"
		"tag:\n"
		"  url_template: null\n"
		"  allowed_hosts: []\n"
		"gc:\n"
		"  queue: room-deletion-queue\n"
		"  delay_s: 600\n"
		"  protected_prefixes: [test_, vkiosk_]\n"
		"  owned_prefixes: []\n"
		"  orphan_max_age_s: 86400\n"
		"events:\n"
		"  username: null\n"
		"  password: null\n"
		"server:\n"
		"  listen: 127.0.0.1:8080\n"
		"  api_keys: []\n"
		"  jwt:\n"
		"    issuer: null\n"
		"    audience: null\n"
		"    jwks_file: null\n"
		"    jwks_url: null\n"
		"    ca_file: null\n"
		"log:\n"
		"  level: info\n"
		"  format: text\n";
	pex_config *cfg = parse_ok(URL "  auth: {password: pw}\npool: {room: {description: \"null\"}}\n");
	pex_config *again = NULL;
	pex_buf out = PEX_BUF_INIT, out2 = PEX_BUF_INIT;
	size_t n, i;
	const pex__config_key *schema = pex__config_schema(&n);

	ck_assert_int_eq(pex__buf_puts(&out, "old content\n"), 0);
	ck_assert_int_eq(pex_config_dump(&out, cfg), 0);   /* replaces, not appends */
	ck_assert_str_eq(out.ptr, expected);
	ck_assert_uint_eq(out.size, strlen(expected));

	/* every key appears, by its last component */
	for (i = 0; i < n; i++) {
		char needle[64];
		snprintf(needle, sizeof(needle), " %s: ", strrchr(schema[i].key, '.') + 1);
		ck_assert_msg(strstr(out.ptr, needle) != NULL, "%s missing", schema[i].key);
	}

	/* the dump parses back to the same dump */
	ck_assert_int_eq(pex_config_parse(&again, out.ptr, out.size, "dump.yaml"), 0);
	assert_str_key(again, "pool.room.description", "null");
	ck_assert_int_eq(pex_config_dump(&out2, again), 0);
	ck_assert_str_eq(out.ptr, out2.ptr);

	ck_assert_int_eq(pex_config_dump(NULL, cfg), PEX_EINVAL);
	ck_assert_int_eq(pex_config_dump(&out, NULL), PEX_EINVAL);
	pex_buf_dispose(&out);
	pex_buf_dispose(&out2);
	pex_config_free(again);
	pex_config_free(cfg);
}
END_TEST

/* ---- the environment (PEXIPSDK_<SECTION>_<KEY>) ---- */

/* Every variable the env tests set, unset again (tests run without fork). */
static void env_clear(void)
{
	static const char *const vars[] = {
		"PEXIPSDK_POOL_DEPTH", "PEXIPSDK_GC_OWNED_PREFIXES", "PEXIPSDK_POOL_ROOM_SERVICE_TYPE",
		"PEXIPSDK_POOL_ROOM_ALIAS_DOMAIN", "PEXIPSDK_LOG_LEVEL", "PEXIPSDK_POOL_DEPHT",
		"PEXIPSDK_NOTHING_LIKE_IT", "PEXIPSDK_PG", "PEXIPSDK_PEXIP_URL",
		"PEXIPSDK_PEXIP_AUTH_PASSWORD", "PEXIPSDK_EVENTS_PASSWORD", "PEXIPSDK_QUEUE_SQLITE_PATH",
		"PEXIPSDK_SERVER_API_KEYS", "PEXTEST_ENV_PW", NULL
	};
	size_t i;

	for (i = 0; vars[i]; i++)
		unsetenv(vars[i]);
}

/* With the environment on top (pex_config_load_env), the orphan age rule
 * is checked on the values in effect: a file that breaks it alone loads
 * when the environment mends it, and the environment can break it too. */
START_TEST(test_orphan_age_rule_env)
{
	char *dir = make_tmpdir(), path[PATH_MAX];
	pex_config *cfg = NULL;

	env_clear();
	write_file(dir, "ages.yaml", URL "gc: {orphan_max_age_s: 3600}\n");
	snprintf(path, sizeof(path), "%s/ages.yaml", dir);
	setenv("PEXIPSDK_GC_ORPHAN_MAX_AGE_S", "86400", 1);
	ck_assert_msg(pex_config_load_env(&cfg, path) == 0, "%s", pex_error_last()->message);
	assert_int_key(cfg, "gc.orphan_max_age_s", 86400);
	pex_config_free(cfg);
	unsetenv("PEXIPSDK_GC_ORPHAN_MAX_AGE_S");
	cfg = sentinel();
	ck_assert_int_eq(pex_config_load_env(&cfg, path), PEX_ECONFIG);
	ck_assert(cfg == sentinel());
	ck_assert_msg(strstr(pex_error_last()->message, "ages.yaml:3: gc.orphan_max_age_s (3600) must be 0 "
		"or more than pool.ready_after_s (60) + 3900 s"), "%s", pex_error_last()->message);
	write_file(dir, "ages.yaml", URL);
	setenv("PEXIPSDK_POOL_READY_AFTER_S", "3600", 1);
	setenv("PEXIPSDK_GC_ORPHAN_MAX_AGE_S", "7000", 1);
	ck_assert_int_eq(pex_config_load_env(&cfg, path), PEX_ECONFIG);
	ck_assert_msg(strstr(pex_error_last()->message, "gc.orphan_max_age_s (7000) must be 0 or more than "
		"pool.ready_after_s (3600) + 3900 s = 7500 s"), "%s", pex_error_last()->message);
	unsetenv("PEXIPSDK_POOL_READY_AFTER_S");
	unsetenv("PEXIPSDK_GC_ORPHAN_MAX_AGE_S");
	rm_tmpdir(dir);
}
END_TEST

/* A clean environment, then NAME, VALUE pairs (NULL-terminated) set. */
static void env_set(const char *const *pairs)
{
	env_clear();
	for (; pairs[0] && pairs[1]; pairs += 2)
		setenv(pairs[0], pairs[1], 1);
}

START_TEST(test_env_names)
{
	size_t n, i, j;
	const pex__config_key *schema = pex__config_schema(&n);
	char a[96], b[96];

	pex__config_env_name(a, sizeof(a), "pool.room.service_type");
	ck_assert_str_eq(a, "PEXIPSDK_POOL_ROOM_SERVICE_TYPE");
	for (i = 0; i < n; i++) {
		pex__config_env_name(a, sizeof(a), schema[i].key);
		/* fits, maps back to its key, and is nobody else's */
		ck_assert_uint_lt(strlen(a), sizeof(a) - 1);
		ck_assert_msg(pex__config_env_lookup(a) == (int)i, "%s does not map back to %s", a,
			schema[i].key);
		ck_assert_msg(!pex__config_env_reserved(a), "%s is reserved", a);
		for (j = 0; j < i; j++) {
			pex__config_env_name(b, sizeof(b), schema[j].key);
			ck_assert_msg(strcmp(a, b) != 0, "%s and %s share %s", schema[i].key,
				schema[j].key, a);
		}
	}
	ck_assert_int_eq(pex__config_env_lookup("PEXIPSDK_CONFIG"), -1);
	ck_assert_int_eq(pex__config_env_lookup("PEXIPSDK_PG"), -1);
	ck_assert_int_eq(pex__config_env_lookup("pexipsdk_pool_depth"), -1);
	ck_assert_int_eq(pex__config_env_lookup("POOL_DEPTH"), -1);
	ck_assert(pex__config_env_reserved("PEXIPSDK_CONFIG"));
	ck_assert(pex__config_env_reserved("PEXIPSDK_KEYVAULT_CA_FILE"));
}
END_TEST

START_TEST(test_env_apply)
{
	static const char *const prefixes[] = { "a_", "b_", NULL };
	pex_config *cfg = NULL;
	const char *before = NULL;

	/* PEXIPSDK_PG: read by its default reference, not a key */
	env_set((const char *const[]){ "PEXIPSDK_POOL_DEPTH", "40", "PEXIPSDK_GC_OWNED_PREFIXES",
		"a_, b_", "PEXIPSDK_POOL_ROOM_SERVICE_TYPE", "lecture",
		"PEXIPSDK_POOL_ROOM_ALIAS_DOMAIN", "", "PEXIPSDK_PG", "host=db", NULL });
	cfg = parse_ok(URL "pool:\n  depth: 10\n  room:\n    alias_domain: example.com\n");
	ck_assert_int_eq(pex_config_get_string(&before, cfg, "pool.room.alias_domain"), 0);
	ck_assert_int_eq(pex_config_apply_env(cfg), 0);
	assert_int_key(cfg, "pool.depth", 40);
	assert_list_key(cfg, "gc.owned_prefixes", prefixes);
	assert_str_key(cfg, "pool.room.service_type", "lecture");
	assert_null_key(cfg, "pool.room.alias_domain");      /* empty: null, as a flag */
	ck_assert_str_eq(before, "example.com");             /* borrowed values live on */
	assert_str_key(cfg, "pexip.url", "https://mgr.example.com");
	ck_assert_uint_eq(pex_config_warning_count(cfg), 0);
	ck_assert_int_eq(pex_config_apply_env(NULL), PEX_EINVAL);
	pex_config_free(cfg);
	env_clear();
}
END_TEST

START_TEST(test_env_bad_value)
{
	pex_config *cfg = NULL;

	env_set((const char *const[]){ "PEXIPSDK_LOG_LEVEL", "debug", "PEXIPSDK_POOL_DEPTH", "many",
		NULL });
	cfg = parse_ok(URL);
	ck_assert_int_eq(pex_config_apply_env(cfg), PEX_ECONFIG);
	ck_assert_str_eq(pex_error_last()->message, "$PEXIPSDK_POOL_DEPTH: pool.depth: "
		"expected an integer from 0 to 100000, got \"many\"");
	/* nothing changed, whatever the order of the environment */
	assert_str_key(cfg, "log.level", "info");
	assert_int_key(cfg, "pool.depth", 20);

	/* a required key cannot be emptied; a secret's text is never quoted */
	unsetenv("PEXIPSDK_POOL_DEPTH");
	setenv("PEXIPSDK_PEXIP_URL", "", 1);
	ck_assert_int_eq(pex_config_apply_env(cfg), PEX_ECONFIG);
	ck_assert_str_eq(pex_error_last()->message,
		"$PEXIPSDK_PEXIP_URL: pexip.url: expected a string, got null");
	unsetenv("PEXIPSDK_PEXIP_URL");
	setenv("PEXIPSDK_PEXIP_AUTH_PASSWORD", "env:not a name hunter2", 1);
	ck_assert_int_eq(pex_config_apply_env(cfg), PEX_ECONFIG);
	ck_assert_str_eq(pex_error_last()->message, "$PEXIPSDK_PEXIP_AUTH_PASSWORD: "
		"pexip.auth.password: env: reference with an invalid variable name");
	assert_null_key(cfg, "pexip.auth.password");
	assert_str_key(cfg, "log.level", "info");
	pex_config_free(cfg);
	env_clear();
}
END_TEST

START_TEST(test_env_unknown)
{
	pex_config *cfg = NULL;

	env_set((const char *const[]){ "PEXIPSDK_POOL_DEPHT", "3", "PEXIPSDK_NOTHING_LIKE_IT", "x",
		"PEXIPSDK_PG", "host=db", NULL });
	ck_assert_int_eq(pex_config_new_defaults(&cfg), 0);
	ck_assert_int_eq(pex_config_apply_env(cfg), 0);
	ck_assert_uint_eq(pex_config_warning_count(cfg), 2);
	/* in either order */
	ck_assert_str_eq(strstr(pex_config_warning(cfg, 0), "DEPHT") ? pex_config_warning(cfg, 0) :
		pex_config_warning(cfg, 1), "$PEXIPSDK_POOL_DEPHT is not a configuration variable, "
		"ignored (did you mean PEXIPSDK_POOL_DEPTH?)");
	ck_assert_str_eq(strstr(pex_config_warning(cfg, 0), "NOTHING") ? pex_config_warning(cfg, 0) :
		pex_config_warning(cfg, 1), "$PEXIPSDK_NOTHING_LIKE_IT is not a configuration "
		"variable, ignored (pexipsdk.yaml(5), ENVIRONMENT)");
	assert_int_key(cfg, "pool.depth", 20);
	pex_config_free(cfg);
	env_clear();
}
END_TEST

START_TEST(test_env_load)
{
	char *dir = make_tmpdir(), *empty = make_tmpdir();
	char cwd[PATH_MAX], path[PATH_MAX], nosys[PATH_MAX];
	const char *old_env = getenv("PEXIPSDK_CONFIG");
	char *saved_env = old_env ? strdup(old_env) : NULL;
	pex_config *cfg = NULL;
	pex_buf out = PEX_BUF_INIT;

	env_clear();
	unsetenv("PEXIPSDK_CONFIG");
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	write_file(dir, "full.yaml", URL "pool:\n  depth: 10\n");
	write_file(dir, "nourl.yaml", "pool:\n  depth: 10\n");
	snprintf(nosys, sizeof(nosys), "%s/none.yaml", empty);
	pex__config_set_system_path(nosys);
	ck_assert_int_eq(chdir(empty), 0);

	/* environment over the file, a flag over the environment */
	snprintf(path, sizeof(path), "%s/full.yaml", dir);
	setenv("PEXIPSDK_POOL_DEPTH", "40", 1);
	ck_assert_int_eq(pex_config_load_env(&cfg, path), 0);
	assert_int_key(cfg, "pool.depth", 40);
	ck_assert_int_eq(pex_config_show(&out, cfg, 0), 0);
	ck_assert_ptr_nonnull(strstr(out.ptr, "\npool.depth = 40  # env:PEXIPSDK_POOL_DEPTH\n"));
	ck_assert_ptr_nonnull(strstr(out.ptr, "pexip.url = \"https://mgr.example.com\"  # file:"));
	ck_assert_ptr_nonnull(strstr(out.ptr, "full.yaml:2\n"));
	ck_assert_ptr_nonnull(strstr(out.ptr, "\nlog.level = \"info\"  # default\n"));
	ck_assert_int_eq(pex_config_set_from(cfg, "pool.depth", "7", "flag:--depth"), 0);
	assert_int_key(cfg, "pool.depth", 7);
	ck_assert_int_eq(pex_config_set(cfg, "log.level", "warn"), 0);
	ck_assert_int_eq(pex_config_show(&out, cfg, 0), 0);
	ck_assert_ptr_nonnull(strstr(out.ptr, "\npool.depth = 7  # flag:--depth\n"));
	ck_assert_ptr_nonnull(strstr(out.ptr, "\nlog.level = \"warn\"  # override\n"));
	pex_config_free(cfg);
	/* pex_config_load() itself stays the file alone */
	ck_assert_int_eq(pex_config_load(&cfg, path), 0);
	assert_int_key(cfg, "pool.depth", 10);
	pex_config_free(cfg);

	/* a bad variable: an error naming it, nothing returned */
	setenv("PEXIPSDK_POOL_DEPTH", "-1", 1);
	cfg = sentinel();
	ck_assert_int_eq(pex_config_load_env(&cfg, path), PEX_ECONFIG);
	ck_assert_str_eq(pex_error_last()->message, "$PEXIPSDK_POOL_DEPTH: pool.depth: "
		"expected an integer from 0 to 100000, got \"-1\"");
	ck_assert(cfg == sentinel());
	unsetenv("PEXIPSDK_POOL_DEPTH");

	/* a file without the required key: the environment may set it */
	snprintf(path, sizeof(path), "%s/nourl.yaml", dir);
	cfg = sentinel();
	ck_assert_int_eq(pex_config_load_env(&cfg, path), PEX_ECONFIG);
	ck_assert_str_eq(strstr(pex_error_last()->message, ": missing"), ": missing required key "
		"'pexip.url' (there is no 'pexip' section; or set $PEXIPSDK_PEXIP_URL)");
	ck_assert(cfg == sentinel());
	setenv("PEXIPSDK_PEXIP_URL", "https://env.example.com", 1);
	ck_assert_int_eq(pex_config_load_env(&cfg, path), 0);
	assert_str_key(cfg, "pexip.url", "https://env.example.com");
	assert_int_key(cfg, "pool.depth", 10);
	pex_config_free(cfg);
	/* pex_config_load() does not look at the environment */
	ck_assert_int_eq(pex_config_load(&cfg, path), PEX_ECONFIG);

	/* no file at all: the environment alone, when it names the required keys */
	ck_assert_int_eq(pex_config_load_env(&cfg, NULL), 0);
	ck_assert_str_eq(pex_config_origin(cfg), "<environment>");
	assert_str_key(cfg, "pexip.url", "https://env.example.com");
	pex_config_free(cfg);
	unsetenv("PEXIPSDK_PEXIP_URL");
	setenv("PEXIPSDK_POOL_DEPTH", "40", 1);
	cfg = sentinel();
	ck_assert_int_eq(pex_config_load_env(&cfg, NULL), PEX_ENOTFOUND);
	ck_assert_int_eq(pex_error_last()->klass, PEX_ERROR_CLASS_CONFIG);
	ck_assert_ptr_nonnull(strstr(pex_error_last()->message, "no configuration file found"));
	ck_assert_ptr_nonnull(strstr(pex_error_last()->message,
		"; or set pexip.url in the environment as $PEXIPSDK_PEXIP_URL (required without a file)"));
	ck_assert(cfg == sentinel());
	/* ... and without any variable, the search's own message */
	unsetenv("PEXIPSDK_POOL_DEPTH");
	ck_assert_int_eq(pex_config_load_env(&cfg, NULL), PEX_ENOTFOUND);
	ck_assert_ptr_null(strstr(pex_error_last()->message, "PEXIPSDK_PEXIP_URL"));
	ck_assert(cfg == sentinel());

	pex_buf_dispose(&out);
	pex__config_set_system_path(NULL);
	ck_assert_int_eq(chdir(cwd), 0);
	if (saved_env)
		setenv("PEXIPSDK_CONFIG", saved_env, 1);
	free(saved_env);
	rm_tmpdir(dir);
	rm_tmpdir(empty);
	env_clear();
}
END_TEST

START_TEST(test_env_secrets_and_paths)
{
	char *dir = make_tmpdir(), *work = make_tmpdir();
	char cwd[PATH_MAX], path[PATH_MAX];
	pex_config *cfg = NULL;
	pex_buf out = PEX_BUF_INIT;
	const char *v = NULL;

	env_clear();
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	write_file(dir, "c.yaml", URL "events:\n  password: file:pw\n");
	write_file(dir, "pw", "from-the-file-dir\n");
	write_file(work, "pw", "from-the-working-dir\n");
	ck_assert_int_eq(chmod(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/c.yaml", dir);
	ck_assert_int_eq(chmod(path, 0600), 0);
	ck_assert_int_eq(chdir(work), 0);

	setenv("PEXTEST_ENV_PW", "hunter2-from-env", 1);
	setenv("PEXIPSDK_PEXIP_AUTH_PASSWORD", "env:PEXTEST_ENV_PW", 1);
	setenv("PEXIPSDK_SERVER_API_KEYS", "literal-key-1, literal-key-2", 1);
	setenv("PEXIPSDK_QUEUE_SQLITE_PATH", "q.db", 1);
	ck_assert_int_eq(pex_config_load_env(&cfg, path), 0);

	/* shown redacted, with the kind of reference, before and after reading */
	ck_assert_int_eq(pex_config_show(&out, cfg, 0), 0);
	ck_assert_ptr_nonnull(strstr(out.ptr, "\npexip.auth.password = \"<redacted>\" "
		"(env: reference)  # env:PEXIPSDK_PEXIP_AUTH_PASSWORD\n"));
	ck_assert_ptr_nonnull(strstr(out.ptr, "\nserver.api_keys = [\"<redacted>\",\"<redacted>\"] "
		"(literal)  # env:PEXIPSDK_SERVER_API_KEYS\n"));
	ck_assert_ptr_nonnull(strstr(out.ptr, "\nevents.password = \"<redacted>\" "
		"(file: reference)  # file:"));
	ck_assert_int_eq(pex_config_resolve_secrets(cfg), 0);
	assert_str_key(cfg, "pexip.auth.password", "hunter2-from-env");
	/* the file's relative paths from its directory, the environment's from the working one */
	assert_str_key(cfg, "events.password", "from-the-file-dir");
	snprintf(path, sizeof(path), "%s/q.db", work);
	ck_assert_int_eq(pex_config_get_string(&v, cfg, "queue.sqlite.path"), 0);
	ck_assert_str_eq(strrchr(v, '/'), "/q.db");
	ck_assert_int_eq(pex_config_show(&out, cfg, PEX_CONFIG_SHOW_JSON), 0);
	ck_assert_ptr_null(strstr(out.ptr, "hunter2"));
	ck_assert_ptr_null(strstr(out.ptr, "literal-key"));
	ck_assert_ptr_null(strstr(out.ptr, "from-the"));
	ck_assert_ptr_nonnull(strstr(out.ptr, "\"key\":\"pexip.auth.password\""));
	ck_assert_ptr_nonnull(strstr(out.ptr, "\"reference\":\"env\""));
	ck_assert_ptr_nonnull(strstr(out.ptr, "\"variable\":\"PEXIPSDK_POOL_DEPTH\""));
	ck_assert_int_eq(pex_config_show(&out, cfg, 0), 0);
	ck_assert_ptr_null(strstr(out.ptr, "hunter2"));
	ck_assert_ptr_nonnull(strstr(out.ptr, "(env: reference)"));
	pex_config_free(cfg);

	/* a relative file: reference from the environment: the working directory */
	unsetenv("PEXIPSDK_PEXIP_AUTH_PASSWORD");
	setenv("PEXIPSDK_EVENTS_PASSWORD", "file:pw", 1);
	snprintf(path, sizeof(path), "%s/c.yaml", dir);
	ck_assert_int_eq(pex_config_load_env(&cfg, path), 0);
	assert_str_key(cfg, "events.password", "from-the-working-dir");
	pex_config_free(cfg);

	ck_assert_int_eq(pex_config_show(NULL, cfg, 0), PEX_EINVAL);
	pex_buf_dispose(&out);
	ck_assert_int_eq(chdir(cwd), 0);
	rm_tmpdir(dir);
	rm_tmpdir(work);
	env_clear();
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("schema");

	tcase_add_test(tc, test_schema_sanity);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_full_file);
	tcase_add_test(tc, test_example_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("types");
	tcase_add_test(tc, test_int_values);
	tcase_add_test(tc, test_orphan_age_rule);
	tcase_add_test(tc, test_orphan_age_rule_env);
	tcase_add_test(tc, test_bool_values);
	tcase_add_test(tc, test_enum_and_string_values);
	tcase_add_test(tc, test_url_and_names);
	tcase_add_test(tc, test_pexip_texts);
	tcase_add_test(tc, test_lists);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_test(tc, test_structure_errors);
	tcase_add_test(tc, test_unknown_keys);
	tcase_add_test(tc, test_duplicate_keys);
	tcase_add_test(tc, test_syntax_errors);
	tcase_add_test(tc, test_nesting_depth);
	tcase_add_test(tc, test_empty_and_required);
	suite_add_tcase(s, tc);

	tc = tcase_create("secrets");
	tcase_add_test(tc, test_secret_env);
	tcase_add_test(tc, test_secret_file);
	tcase_add_test(tc, test_relative_paths);
	tcase_add_test(tc, test_literal_secret_warning);
	tcase_add_test(tc, test_queue_azure_tls);
	tcase_add_test(tc, test_secret_keyvault);
	tcase_add_test(tc, test_secret_never_shown);
	tcase_add_test(tc, test_secret_lazy_default);
	suite_add_tcase(s, tc);

	tc = tcase_create("api");
	tcase_add_test(tc, test_load_search_order);
	tcase_add_test(tc, test_load_refuses_untrusted);
	tcase_add_test(tc, test_set);
	tcase_add_test(tc, test_getters);
	tcase_add_test(tc, test_dump);
	suite_add_tcase(s, tc);

	tc = tcase_create("environment");
	tcase_add_test(tc, test_env_names);
	tcase_add_test(tc, test_env_apply);
	tcase_add_test(tc, test_env_bad_value);
	tcase_add_test(tc, test_env_unknown);
	tcase_add_test(tc, test_env_load);
	tcase_add_test(tc, test_env_secrets_and_paths);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
