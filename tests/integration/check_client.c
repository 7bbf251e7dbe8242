/* Integration tests: the Pexip client over real HTTP against the emulator
 * (tests/emulator). Every test starts its own emulator on an ephemeral
 * loopback port and stops it by PID. */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <pexipsdk/pexipsdk.h>
#include "emu_harness.h"

static char tmpdir[256];

static void make_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pexit-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void rm_tmpdir(void)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
}

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static pex_client *basic_client(const emu_t *e, unsigned conc, unsigned retries)
{
	pex_client_options o = PEX_CLIENT_OPTIONS_INIT;
	pex_client *c = NULL;
	o.url = e->url;
	o.username = "admin";
	o.password = "admin";
	o.max_concurrency = conc;
	o.retries_max = retries;
	o.retry_base_ms = 5;
	o.retry_cap_ms = 100;
	ck_assert_msg(pex_client_new(&c, &o) == 0, "%s", pex_error_last()->message);
	return c;
}

static long long create_room(pex_client *c, const char *name, const char *alias)
{
	pex_room_spec s = PEX_ROOM_SPEC_INIT;
	long long id = 0;
	s.name = name;
	s.pin = "123456";
	s.guest_pin = "654321";
	s.allow_guests = 1;
	s.aliases[0] = alias;
	ck_assert_msg(pex_room_create(&id, c, &s) == 0, "create %s: %s", name, pex_error_last()->message);
	ck_assert_int_gt(id, 0);
	return id;
}

START_TEST(test_crud)
{
	emu_t e;
	pex_client *c;
	pex_room *r = NULL;
	pex_room_patch p = PEX_ROOM_PATCH_INIT;
	long long id;
	int deleted = -1;

	ck_assert_int_eq(emu_start(&e, NULL), 0);
	c = basic_client(&e, 5, 3);
	id = create_room(c, "vmr_crud", "meet.crud@example.com");

	ck_assert_int_eq(pex_room_get(&r, c, id), 0);
	ck_assert_str_eq(pex_room_name(r), "vmr_crud");
	ck_assert_str_eq(pex_room_guest_pin(r), "654321");
	ck_assert_uint_eq(pex_room_alias_count(r), 1);
	ck_assert_str_eq(pex_room_alias(r, 0), "meet.crud@example.com");
	ck_assert_int_eq(pex_room_allow_guests(r), 1);
	/* the one room JSON builder (pexctl get --json, room-server GET /room) */
	{
		pex_buf b = PEX_BUF_INIT;
		char want[512];
		ck_assert_int_eq(pex_room_to_json(&b, r), 0);
		snprintf(want, sizeof(want), "{\"name\":\"vmr_crud\",\"id\":%lld,"
			"\"alias\":\"meet.crud@example.com\",\"aliases\":[\"meet.crud@example.com\"],"
			"\"guest_pin\":\"654321\",\"pin\":\"123456\",\"tag\":\"\","
			"\"service_type\":\"conference\",\"description\":\"\",\"allow_guests\":true,"
			"\"participant_limit\":null,\"creation_time\":\"%s\"}", id,
			pex_room_creation_time(r));
		ck_assert_str_eq(b.ptr, want);
		ck_assert_uint_eq(b.size, strlen(want));
		ck_assert_int_eq(pex_room_to_json(&b, NULL), PEX_EINVAL);
		pex_buf_dispose(&b);
	}
	pex_room_free(r);

	p.tag = "https://svc.example.com/x?y=1&z=%20";
	ck_assert_int_eq(pex_room_update(c, id, &p), 0);
	ck_assert_int_eq(pex_room_get_by_name(&r, c, "vmr_crud"), 0);
	ck_assert_str_eq(pex_room_tag(r), "https://svc.example.com/x?y=1&z=%20");
	pex_room_free(r);

	/* duplicate name: a clear error with the field */
	{
		pex_room_spec s = PEX_ROOM_SPEC_INIT;
		long long id2 = 0;
		s.name = "vmr_crud";
		ck_assert_int_eq(pex_room_create(&id2, c, &s), PEX_EEXISTS);
		ck_assert_ptr_nonnull(strstr(pex_error_last()->message, "already exists"));
		ck_assert_uint_ge(pex_error_last()->field_error_count, 1);
		ck_assert_str_eq(pex_error_last()->field_errors[0].field, "name");
	}
	/* bad pin: field error from the server */
	{
		pex_room_spec s = PEX_ROOM_SPEC_INIT;
		long long id2 = 0;
		s.name = "vmr_badpin";
		s.pin = "12ab";
		ck_assert_int_eq(pex_room_create(&id2, c, &s), PEX_EINVAL);
		ck_assert_str_eq(pex_error_last()->field_errors[0].field, "pin");
	}

	ck_assert_int_eq(pex_room_delete_by_name(&deleted, c, "vmr_crud"), 0);
	ck_assert_int_eq(deleted, 1);
	ck_assert_int_eq(pex_room_delete_by_name(&deleted, c, "vmr_crud"), 0);
	ck_assert_int_eq(deleted, 0);
	ck_assert_int_eq(pex_room_delete(&deleted, c, id), 0);
	ck_assert_int_eq(deleted, 0);
	ck_assert_int_eq(pex_room_get(&r, c, id), PEX_ENOTFOUND);
	ck_assert_int_eq(pex_room_get_by_name(&r, c, "vmr_crud"), PEX_ENOTFOUND);
	ck_assert_ptr_null(r);

	/* aliases */
	id = create_room(c, "vmr_alias", NULL);
	{
		long long aid = 0;
		ck_assert_int_eq(pex_alias_create(&aid, c, id, "meet.alias2@example.com"), 0);
		ck_assert_int_eq(pex_room_get(&r, c, id), 0);
		ck_assert_uint_eq(pex_room_alias_count(r), 1);
		pex_room_free(r);
		ck_assert_int_eq(pex_alias_create(&aid, c, id, "meet.alias2@example.com"), PEX_EEXISTS);
	}
	pex_client_free(c);
	emu_stop(&e);
}
END_TEST

START_TEST(test_pagination_45)
{
	emu_t e;
	pex_client *c;
	pex_room_filter f = PEX_ROOM_FILTER_INIT;
	pex_room_iter *it = NULL;
	pex_room *r;
	char name[64];
	int i, n = 0, err, seen[45] = { 0 };
	long long total = 0;

	ck_assert_int_eq(emu_start(&e, NULL), 0);
	c = basic_client(&e, 5, 3);
	for (i = 0; i < 45; i++) {
		snprintf(name, sizeof(name), "page_%02d", i);
		create_room(c, name, NULL);
	}
	create_room(c, "other_room", NULL);
	f.name_prefix = "page_";
	f.page_size = 10;
	ck_assert_int_eq(pex_room_iter_new(&it, c, &f), 0);
	ck_assert_int_eq(pex_room_iter_total(&total, it), 0);
	ck_assert_int_eq(total, -1);
	ck_assert_int_eq(pex_room_iter_total(NULL, it), PEX_EINVAL);
	while ((err = pex_room_iter_next(&r, it)) == 0) {
		int k = atoi(pex_room_name(r) + 5);
		ck_assert_int_eq(strncmp(pex_room_name(r), "page_", 5), 0);
		ck_assert(k >= 0 && k < 45);
		seen[k]++;
		n++;
		pex_room_free(r);
	}
	ck_assert_int_eq(err, PEX_ITEROVER);
	ck_assert_int_eq(n, 45);
	for (i = 0; i < 45; i++)
		ck_assert_int_eq(seen[i], 1);
	ck_assert_int_eq(pex_room_iter_total(&total, it), 0);
	ck_assert_int_eq(total, 45);
	pex_room_iter_free(it);
	/* five pages of ten were fetched */
	ck_assert_int_ge(emu_stat(&e, "requests"), 46 + 5);

	/* without a filter every room is listed */
	ck_assert_int_eq(pex_room_iter_new(&it, c, NULL), 0);
	n = 0;
	while (pex_room_iter_next(&r, it) == 0) {
		n++;
		pex_room_free(r);
	}
	ck_assert_int_eq(n, 46);
	pex_room_iter_free(it);
	pex_client_free(c);
	emu_stop(&e);
}
END_TEST

/* ---- OAuth2 ---- */

static void write_keys(const char *priv_path, const char *pub_path, char **pem_out)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	FILE *f;
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long n;
	ck_assert_ptr_nonnull(k);
	f = fopen(pub_path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(PEM_write_PUBKEY(f, k), 1);
	fclose(f);
	ck_assert_int_eq(PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL), 1);
	n = BIO_get_mem_data(bio, &data);
	*pem_out = strndup(data, (size_t)n);
	if (priv_path) {
		f = fopen(priv_path, "w");
		ck_assert_ptr_nonnull(f);
		fputs(*pem_out, f);
		fclose(f);
	}
	BIO_free(bio);
	EVP_PKEY_free(k);
}

static pex_client *oauth_client(const emu_t *e, const char *client_id, const char *pem)
{
	pex_client_options o = PEX_CLIENT_OPTIONS_INIT;
	pex_client *c = NULL;
	o.url = e->url;
	o.auth = PEX_AUTH_OAUTH2;
	o.client_id = client_id;
	o.private_key_pem = pem;
	o.retry_base_ms = 5;
	o.retry_cap_ms = 50;
	ck_assert_msg(pex_client_new(&c, &o) == 0, "%s", pex_error_last()->message);
	return c;
}

START_TEST(test_oauth_token_lifecycle)
{
	emu_t e;
	pex_client *c;
	pex_client_stats st;
	char pub[300], arg[400], *pem = NULL;
	long long id;
	int i, live;
	pex_room *r = NULL;

	make_tmpdir();
	snprintf(pub, sizeof(pub), "%s/pub.pem", tmpdir);
	write_keys(NULL, pub, &pem);
	snprintf(arg, sizeof(arg), "cid1=%s", pub);
	{
		const char *args[] = { "--oauth-client", arg, "--token-ttl", "4", "--disable-basic", NULL };
		ck_assert_int_eq(emu_start(&e, args), 0);
	}
	c = oauth_client(&e, "cid1", pem);
	/* many calls, one token */
	id = create_room(c, "vmr_oauth", NULL);
	for (i = 0; i < 10; i++) {
		ck_assert_int_eq(pex_room_get(&r, c, id), 0);
		pex_room_free(r);
	}
	ck_assert_int_eq(emu_stat(&e, "tokens_issued"), 1);
	/* a versioned report: initialised by the caller, filled for its version */
	ck_assert_int_eq(pex_client_stats_init(&st, PEX_CLIENT_STATS_VERSION), 0);
	ck_assert_int_eq(pex_client_get_stats(&st, c), 0);
	ck_assert_uint_eq(st.token_fetches, 1);
	{
		/* and the process's metrics count it (at least: without fork, the
		 * earlier tests' requests are there too) */
		pex_buf m = PEX_BUF_INIT;
		ck_assert_int_eq(pex_metrics_process_write(&m), 0);
		ck_assert_msg(strstr(m.ptr, "\npexipsdk_pexip_token_fetches_total{outcome=\"ok\"} "), "%.2000s", m.ptr);
		ck_assert_msg(strstr(m.ptr, "\npexipsdk_pexip_requests_total{method=\"GET\",status_class=\"2xx\"} "),
			"%.2000s", m.ptr);
		pex_buf_dispose(&m);
	}
	st.version = PEX_CLIENT_STATS_VERSION + 1;
	ck_assert_int_eq(pex_client_get_stats(&st, c), PEX_EINVAL);
	ck_assert_int_eq(pex_client_get_stats(NULL, c), PEX_EINVAL);
	ck_assert_int_eq(pex_client_stats_init(&st, 1), 0);

	/* refreshed before expiry: ttl 4 s, refresh a quarter early (3 s) */
	sleep(3);
	ck_assert_int_eq(pex_room_is_live(&live, c, "vmr_oauth"), 0);
	ck_assert_int_eq(live, 0);
	ck_assert_int_eq(emu_stat(&e, "tokens_issued"), 2);
	ck_assert_int_eq(emu_stat(&e, "auth_failures"), 0);

	/* a revoked token: exactly one refresh, and the call succeeds */
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/revoke_tokens", "{}", NULL), 200);
	ck_assert_int_eq(pex_room_get(&r, c, id), 0);
	pex_room_free(r);
	ck_assert_int_eq(emu_stat(&e, "tokens_issued"), 3);
	ck_assert_int_eq(pex_room_get(&r, c, id), 0);
	pex_room_free(r);
	ck_assert_int_eq(emu_stat(&e, "tokens_issued"), 3);
	pex_client_free(c);

	/* a client whose key the server does not know: PEX_EAUTH, no secret in the message */
	{
		char *other = NULL, pub2[300];
		snprintf(pub2, sizeof(pub2), "%s/pub2.pem", tmpdir);
		write_keys(NULL, pub2, &other);
		c = oauth_client(&e, "cid1", other);
		ck_assert_int_eq(pex_client_check(c), PEX_EAUTH);
		ck_assert_msg(strstr(pex_error_last()->message, "invalid_client") != NULL, "%s", pex_error_last()->message);
		ck_assert_ptr_null(strstr(pex_error_last()->message, "PRIVATE KEY"));
		pex_client_free(c);
		free(other);
	}
	emu_stop(&e);
	free(pem);
	rm_tmpdir();
}
END_TEST

typedef struct thread_arg {
	pex_client *c;
	int ok, failed;
	int n;
} thread_arg;

static void *token_thread(void *p)
{
	thread_arg *a = p;
	int i, live;
	for (i = 0; i < a->n; i++) {
		if (pex_room_is_live(&live, a->c, "nobody") == 0)
			a->ok++;
		else
			a->failed++;
	}
	return NULL;
}

START_TEST(test_oauth_single_flight)
{
	emu_t e;
	pex_client *c;
	char pub[300], arg[400], *pem = NULL;
	pthread_t th[8];
	thread_arg args[8];
	int i;

	make_tmpdir();
	snprintf(pub, sizeof(pub), "%s/pub.pem", tmpdir);
	write_keys(NULL, pub, &pem);
	snprintf(arg, sizeof(arg), "cid9=%s", pub);
	{
		const char *eargs[] = { "--oauth-client", arg, NULL };
		ck_assert_int_eq(emu_start(&e, eargs), 0);
	}
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"latency_ms\": 20, \"apply_to_token\": true}", NULL), 200);
	c = oauth_client(&e, "cid9", pem);
	for (i = 0; i < 8; i++) {
		args[i].c = c;
		args[i].ok = args[i].failed = 0;
		args[i].n = 5;
		ck_assert_int_eq(pthread_create(&th[i], NULL, token_thread, &args[i]), 0);
	}
	for (i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(args[i].failed, 0);
		ck_assert_int_eq(args[i].ok, 5);
	}
	ck_assert_int_eq(emu_stat(&e, "token_requests"), 1);
	pex_client_free(c);
	emu_stop(&e);
	free(pem);
	rm_tmpdir();
}
END_TEST

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

/* A client from a YAML config (the way pexctl and the server make theirs). */
/* A fresh tmpdir with an OAuth2 key pair (priv.pem, pub.pem) and the path
 * of a configuration file in it (cfgpath, if not NULL); 300-byte buffers. */
static void key_files(char *priv, char *pub, char *cfgpath, char **pem)
{
	make_tmpdir();
	snprintf(priv, 300, "%s/priv.pem", tmpdir);
	snprintf(pub, 300, "%s/pub.pem", tmpdir);
	if (cfgpath)
		snprintf(cfgpath, 300, "%s/cfg.yaml", tmpdir);
	write_keys(priv, pub, pem);
}

/* Stop the emulator (cleanly) and drop what key_files() made. */
static void stop_and_clean(emu_t *e, char *pem)
{
	emu_stop(e);
	ck_assert_int_eq(e->exit_status, 0);
	free(pem);
	rm_tmpdir();
}

static int client_from_yaml(pex_client **out, const char *path, const char *yaml)
{
	pex_config *cfg = NULL;
	int err;
	write_file(path, yaml);
	ck_assert_msg(pex_config_load(&cfg, path) == 0, "%s", pex_error_last()->message);
	err = pex_client_new_from_config(out, cfg, NULL, NULL);
	pex_config_free(cfg);
	return err;
}

START_TEST(test_oauth_audience_from_config)
{
	static const char aud[] = "https://mgmt-internal.example.com/oauth/token/";
	emu_t e;
	pex_client *c = NULL;
	char priv[300], pub[300], cfgpath[300], arg[400], yaml[2048], *pem = NULL;
	const char *msg;

	key_files(priv, pub, cfgpath, &pem);
	snprintf(arg, sizeof(arg), "audc=%s", pub);
	{
		const char *args[] = { "--oauth-client", arg, "--token-audience", aud, "--disable-basic", NULL };
		ck_assert_int_eq(emu_start(&e, args), 0);
	}

	/* pexip.auth.audience matches what the server expects: it works */
	snprintf(yaml, sizeof(yaml), "pexip:\n  url: %s\n  auth:\n    method: oauth2\n    client_id: audc\n"
		"    private_key: \"file:%s\"\n    audience: \"%s\"\n  retries: {max: 1, base_ms: 5, cap_ms: 20}\n",
		e.url, priv, aud);
	ck_assert_msg(client_from_yaml(&c, cfgpath, yaml) == 0, "%s", pex_error_last()->message);
	ck_assert_msg(pex_client_check(c) == 0, "%s", pex_error_last()->message);
	ck_assert_int_eq(emu_stat(&e, "tokens_issued"), 1);
	pex_client_free(c);

	/* no audience: the default (the token URL) is not what this server expects */
	snprintf(yaml, sizeof(yaml), "pexip:\n  url: %s\n  auth:\n    method: oauth2\n    client_id: audc\n"
		"    private_key: \"file:%s\"\n  retries: {max: 1, base_ms: 5, cap_ms: 20}\n", e.url, priv);
	ck_assert_int_eq(client_from_yaml(&c, cfgpath, yaml), 0);
	ck_assert_int_eq(pex_client_check(c), PEX_EAUTH);
	msg = pex_error_last()->message;
	ck_assert_msg(strstr(msg, "invalid_client") && strstr(msg, "aud"), "%s", msg);
	ck_assert_ptr_null(strstr(msg, "PRIVATE KEY"));
	pex_client_free(c);

	/* a different audience: refused the same way */
	snprintf(yaml, sizeof(yaml), "pexip:\n  url: %s\n  auth:\n    method: oauth2\n    client_id: audc\n"
		"    private_key: \"file:%s\"\n    audience: \"https://mgr.example.com/oauth/token/\"\n"
		"  retries: {max: 1, base_ms: 5, cap_ms: 20}\n", e.url, priv);
	ck_assert_int_eq(client_from_yaml(&c, cfgpath, yaml), 0);
	ck_assert_int_eq(pex_client_check(c), PEX_EAUTH);
	ck_assert_ptr_nonnull(strstr(pex_error_last()->message, "aud"));
	pex_client_free(c);
	ck_assert_int_eq(emu_stat(&e, "tokens_issued"), 1);
	ck_assert_int_ge(emu_stat(&e, "auth_failures"), 2);
	emu_stop(&e);
	free(pem);
	rm_tmpdir();
}
END_TEST

/* A manager that requires a scope ("is_admin use_api") and caps the
 * assertion lifetime: without pexip.auth.scope the token request fails,
 * saying so; with it (from the options or the configuration) it works, and
 * our assertions pass a 300 s lifetime cap. */
START_TEST(test_oauth_scope_and_lifetime)
{
	emu_t e;
	pex_client *c = NULL;
	pex_client_options o = PEX_CLIENT_OPTIONS_INIT;
	char priv[300], pub[300], cfgpath[300], arg[400], yaml[2048], *pem = NULL;
	const char *msg;

	key_files(priv, pub, cfgpath, &pem);
	snprintf(arg, sizeof(arg), "scc=%s", pub);
	{
		const char *args[] = { "--oauth-client", arg, "--disable-basic", "--mode",
			"{\"require_scope\": \"is_admin use_api\", \"max_assertion_lifetime_s\": 300}", NULL };
		ck_assert_int_eq(emu_start(&e, args), 0);
	}
	/* no scope: refused, and the error says why */
	c = oauth_client(&e, "scc", pem);
	ck_assert_int_eq(pex_client_check(c), PEX_EAUTH);
	msg = pex_error_last()->message;
	ck_assert_msg(strstr(msg, "invalid_scope") && strstr(msg, "is_admin use_api"), "%s", msg);
	ck_assert_ptr_null(strstr(msg, "PRIVATE KEY"));
	pex_client_free(c);
	ck_assert_int_eq(emu_stat(&e, "tokens_issued"), 0);

	/* with the scope (two tokens: form-encoded with the space) it works */
	o.url = e.url;
	o.auth = PEX_AUTH_OAUTH2;
	o.client_id = "scc";
	o.private_key_pem = pem;
	o.scope = "is_admin use_api";
	ck_assert_msg(pex_client_new(&c, &o) == 0, "%s", pex_error_last()->message);
	ck_assert_msg(pex_client_check(c) == 0, "%s", pex_error_last()->message);
	ck_assert_int_eq(emu_stat(&e, "tokens_issued"), 1);
	pex_client_free(c);
	/* a scope that is not a scope is refused up front */
	o.scope = "is_admin  use_api";
	ck_assert_int_eq(pex_client_new(&c, &o), PEX_EINVAL);
	ck_assert_str_eq(pex_error_last()->message,
		"pexip.auth.scope must be scope tokens separated by single spaces");

	/* from the configuration */
	snprintf(yaml, sizeof(yaml), "pexip:\n  url: %s\n  auth:\n    method: oauth2\n    client_id: scc\n"
		"    private_key: \"file:%s\"\n    scope: \"use_api is_admin\"\n"
		"  retries: {max: 1, base_ms: 5, cap_ms: 20}\n", e.url, priv);
	ck_assert_msg(client_from_yaml(&c, cfgpath, yaml) == 0, "%s", pex_error_last()->message);
	ck_assert_msg(pex_client_check(c) == 0, "%s", pex_error_last()->message);
	ck_assert_int_eq(emu_stat(&e, "tokens_issued"), 2);
	pex_client_free(c);

	/* the lifetime cap is enforced: one second under ours is refused */
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/mode", "{\"max_assertion_lifetime_s\": 299}", NULL), 200);
	ck_assert_int_eq(client_from_yaml(&c, cfgpath, yaml), 0);
	ck_assert_int_eq(pex_client_check(c), PEX_EAUTH);
	ck_assert_ptr_nonnull(strstr(pex_error_last()->message, "lifetime"));
	pex_client_free(c);
	stop_and_clean(&e, pem);
}
END_TEST

/* Names of every room an iterator lists, comma-separated, into @p out. */
static void list_names(char *out, size_t size, pex_client *c, const pex_room_filter *f,
	long long *total)
{
	pex_room_iter *it = NULL;
	pex_room *r = NULL;
	size_t off = 0;
	int err;

	out[0] = '\0';
	ck_assert_int_eq(pex_room_iter_new(&it, c, f), 0);
	while ((err = pex_room_iter_next(&r, it)) == 0) {
		off += (size_t)snprintf(out + off, size - off, "%s%s", off ? "," : "", pex_room_name(r));
		pex_room_free(r);
	}
	ck_assert_msg(err == PEX_ITEROVER, "%s", pex_error_last()->message);
	if (total)
		ck_assert_int_eq(pex_room_iter_total(total, it), 0);
	pex_room_iter_free(it);
}

/* A Pexip that refuses the tag, service_type and live-count name filters
 * with 400 "does not allow filtering": listings and live counts filter on
 * our side and get the same answers, over several pages. */
START_TEST(test_refused_filters)
{
	emu_t e;
	pex_client *c;
	pex_room_filter f = PEX_ROOM_FILTER_INIT;
	pex_room_spec s = PEX_ROOM_SPEC_INIT;
	char names[512], body[128];
	long long id, total = 0, live = -1;
	int i;

	ck_assert_int_eq(emu_start(&e, NULL), 0);
	c = basic_client(&e, 5, 1);
	for (i = 0; i < 7; i++) {
		snprintf(names, sizeof(names), "%s%d", i < 5 ? "rf_a" : "rf_b", i);
		s.name = names;
		s.tag = i % 2 ? "odd" : "even";
		s.service_type = i % 3 ? "conference" : "lecture";
		ck_assert_msg(pex_room_create(&id, c, &s) == 0, "%s", pex_error_last()->message);
	}
	for (i = 0; i < 3; i++) {
		snprintf(body, sizeof(body), "{\"name\": \"rf_a%d\"}", i);
		ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/conference/start", body, NULL), 200);
	}
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/conference/start", "{\"name\": \"rf_b5\"}", NULL), 200);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/mode",
		"{\"refuse_filters\": [\"tag\", \"service_type\", \"status/name__startswith\"]}", NULL), 200);
	ck_assert_int_eq(emu_api(&e, "GET", "/api/admin/configuration/v1/conference/?tag=odd", NULL, NULL), 400);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/reset_stats", NULL, NULL), 200);

	f.page_size = 2;             /* filtered here across pages */
	f.tag = "odd";
	list_names(names, sizeof(names), c, &f, &total);
	ck_assert_str_eq(names, "rf_a1,rf_a3,rf_b5");
	ck_assert_int_eq(total, -1);  /* Pexip's count is not ours */
	f.tag = NULL;
	f.service_type = "lecture";
	list_names(names, sizeof(names), c, &f, NULL);
	ck_assert_str_eq(names, "rf_a0,rf_a3,rf_b6");
	f.tag = "even";
	f.name_prefix = "rf_a";      /* still filtered by Pexip */
	list_names(names, sizeof(names), c, &f, NULL);
	ck_assert_str_eq(names, "rf_a0");
	ck_assert_int_eq(emu_stat(&e, "by_status.400"), 4);   /* one per refused filter: 1 + 1 + 2 */

	ck_assert_msg(pex_room_live_count(&live, c, "rf_a") == 0, "%s", pex_error_last()->message);
	ck_assert_int_eq(live, 3);
	ck_assert_int_eq(pex_room_live_count(&live, c, "rf_b"), 0);
	ck_assert_int_eq(live, 1);
	ck_assert_int_eq(pex_room_live_count(&live, c, ""), 0);
	ck_assert_int_eq(live, 4);
	/* filters Pexip allows are still Pexip's: no fallback, exact totals */
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/mode", "{\"refuse_filters\": []}", NULL), 200);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/reset_stats", NULL, NULL), 200);
	f.tag = "odd";
	f.service_type = NULL;
	f.name_prefix = NULL;
	list_names(names, sizeof(names), c, &f, &total);
	ck_assert_str_eq(names, "rf_a1,rf_a3,rf_b5");
	ck_assert_int_eq(total, 3);
	ck_assert_int_eq(pex_room_live_count(&live, c, "rf_a"), 0);
	ck_assert_int_eq(live, 3);
	ck_assert_int_le(emu_stat(&e, "by_status.400"), 0);      /* absent (-1) or 0 */
	pex_client_free(c);
	emu_stop(&e);
	ck_assert_int_eq(e.exit_status, 0);
}
END_TEST

/* Responses shaped as Pexip's documentation shows them: an absolute
 * Location on a 201, a PATCH answered 202 with the object, token_type
 * "bearer", a conference whose optional fields are all null. */
START_TEST(test_documented_shapes)
{
	emu_t e;
	pex_client *c, *oc;
	pex_room *r = NULL;
	pex_room_spec s = PEX_ROOM_SPEC_INIT;
	pex_room_patch p = PEX_ROOM_PATCH_INIT;
	char priv[300], pub[300], arg[400], *pem = NULL;
	long long id = 0, alias_id = 0;
	int live = -1;

	key_files(priv, pub, NULL, &pem);
	snprintf(arg, sizeof(arg), "docs=%s", pub);
	{
		const char *args[] = { "--oauth-client", arg, "--mode", "{\"absolute_location\": true, "
			"\"patch_body\": true, \"lowercase_token_type\": true, \"null_fields\": true}", NULL };
		ck_assert_int_eq(emu_start(&e, args), 0);
	}
	c = basic_client(&e, 5, 1);
	/* 201 with Location: https://pexip.example.com/api/admin/.../conference/1/ */
	s.name = "vmr_docs";
	ck_assert_msg(pex_room_create(&id, c, &s) == 0, "%s", pex_error_last()->message);
	ck_assert_int_eq(id, 1);
	ck_assert_msg(pex_alias_create(&alias_id, c, id, "docs@example.com") == 0, "%s", pex_error_last()->message);
	ck_assert_int_eq(alias_id, 1);
	ck_assert_int_eq(pex_alias_delete(c, alias_id), 0);
	/* every optional field null */
	ck_assert_msg(pex_room_get(&r, c, id) == 0, "%s", pex_error_last()->message);
	ck_assert_ptr_nonnull(strstr(pex_room_json(r), "\"tag\":null"));
	ck_assert_ptr_nonnull(strstr(pex_room_json(r), "\"description\":null"));
	ck_assert_ptr_nonnull(strstr(pex_room_json(r), "\"pin\":null"));
	ck_assert_str_eq(pex_room_name(r), "vmr_docs");
	ck_assert_str_eq(pex_room_tag(r), "");
	ck_assert_str_eq(pex_room_description(r), "");
	ck_assert_str_eq(pex_room_pin(r), "");
	ck_assert_str_eq(pex_room_guest_pin(r), "");
	ck_assert_int_eq(pex_room_participant_limit(r), -1);
	ck_assert_uint_eq(pex_room_alias_count(r), 0);
	pex_room_free(r);
	r = NULL;
	ck_assert_int_eq(pex_room_get_by_name(&r, c, "vmr_docs"), 0);
	pex_room_free(r);
	r = NULL;
	/* PATCH answered 202 with a JSON body */
	p.description = "documented";
	ck_assert_msg(pex_room_update(c, id, &p) == 0, "%s", pex_error_last()->message);
	ck_assert_int_eq(pex_room_get(&r, c, id), 0);
	ck_assert_str_eq(pex_room_description(r), "documented");
	pex_room_free(r);
	/* token_type "bearer" */
	oc = oauth_client(&e, "docs", pem);
	ck_assert_msg(pex_room_is_live(&live, oc, "vmr_docs") == 0, "%s", pex_error_last()->message);
	ck_assert_int_eq(live, 0);
	ck_assert_int_eq(emu_stat(&e, "tokens_issued"), 1);
	pex_client_free(oc);
	pex_client_free(c);
	stop_and_clean(&e, pem);
}
END_TEST

START_TEST(test_oauth_401_persists)
{
	emu_t e;
	pex_client *c;
	pex_client_stats st;
	pex_room *r = NULL;
	char pub[300], arg[400], *pem = NULL;
	long long issued, gets;

	make_tmpdir();
	snprintf(pub, sizeof(pub), "%s/pub.pem", tmpdir);
	write_keys(NULL, pub, &pem);
	snprintf(arg, sizeof(arg), "cid4=%s", pub);
	{
		const char *args[] = { "--oauth-client", arg, "--disable-basic", NULL };
		ck_assert_int_eq(emu_start(&e, args), 0);
	}
	c = oauth_client(&e, "cid4", pem);
	ck_assert_int_eq(pex_client_check(c), 0);
	ck_assert_int_eq(emu_stat(&e, "tokens_issued"), 1);

	/* every API request now answers 401 (the token endpoint still works) */
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"permanent_status\": 401}", NULL), 200);
	issued = emu_stat(&e, "tokens_issued");
	gets = emu_stat(&e, "by_method.GET");
	ck_assert_int_eq(pex_room_get_by_name(&r, c, "vmr_x"), PEX_EAUTH);
	ck_assert_int_eq(pex_error_last()->http_status, 401);
	ck_assert_ptr_null(r);
	/* exactly one refresh, the request tried with each token, then the error */
	ck_assert_int_eq(emu_stat(&e, "tokens_issued"), issued + 1);
	ck_assert_int_eq(emu_stat(&e, "by_method.GET"), gets + 2);
	ck_assert_int_eq(pex_client_stats_init(&st, PEX_CLIENT_STATS_VERSION), 0);
	ck_assert_int_eq(pex_client_get_stats(&st, c), 0);
	ck_assert_uint_eq(st.token_fetches, 2);
	pex_client_free(c);
	emu_stop(&e);
	free(pem);
	rm_tmpdir();
}
END_TEST

/* ---- faults ---- */

START_TEST(test_survives_30pct_503)
{
	emu_t e;
	pex_client *c;
	pex_room *r;
	char name[64];
	long long ids[20];
	int i, deleted;

	ck_assert_int_eq(emu_start(&e, (const char *[]){ "--seed", "7", NULL }), 0);
	c = basic_client(&e, 5, 8);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"rate_503\": 0.3}", NULL), 200);
	for (i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "flaky_%02d", i);
		ids[i] = create_room(c, name, NULL);
	}
	for (i = 0; i < 20; i++) {
		pex_room_patch p = PEX_ROOM_PATCH_INIT;
		p.tag = "t";
		ck_assert_int_eq(pex_room_update(c, ids[i], &p), 0);
		ck_assert_int_eq(pex_room_get(&r, c, ids[i]), 0);
		ck_assert_str_eq(pex_room_tag(r), "t");
		pex_room_free(r);
	}
	for (i = 0; i < 20; i++) {
		ck_assert_int_eq(pex_room_delete(&deleted, c, ids[i]), 0);
	}
	ck_assert_int_gt(emu_stat(&e, "faults_injected"), 5);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"rate_503\": 0}", NULL), 200);
	ck_assert_int_eq(emu_stat(&e, "conferences"), 0);
	pex_client_free(c);
	emu_stop(&e);
}
END_TEST

START_TEST(test_ambiguous_create_settled_by_name)
{
	emu_t e;
	pex_client *c;
	pex_room_iter *it = NULL;
	pex_room *r;
	char name[64];
	int i, n = 0;

	ck_assert_int_eq(emu_start(&e, (const char *[]){ "--seed", "11", NULL }), 0);
	c = basic_client(&e, 5, 10);
	/* Half of all requests are processed and then the connection drops. */
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"rate_drop_after\": 0.5}", NULL), 200);
	for (i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "amb_%02d", i);
		create_room(c, name, NULL);
	}
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"rate_drop_after\": 0}", NULL), 200);
	ck_assert_int_eq(pex_room_iter_new(&it, c, NULL), 0);
	while (pex_room_iter_next(&r, it) == 0) {
		n++;
		pex_room_free(r);
	}
	pex_room_iter_free(it);
	ck_assert_int_eq(n, 20);
	ck_assert_int_gt(emu_stat(&e, "faults_injected"), 3);
	pex_client_free(c);
	emu_stop(&e);
}
END_TEST

START_TEST(test_permanent_500)
{
	emu_t e;
	pex_client *c;
	pex_room *r = NULL;
	ck_assert_int_eq(emu_start(&e, NULL), 0);
	c = basic_client(&e, 5, 2);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"permanent_status\": 500}", NULL), 200);
	ck_assert_int_eq(pex_room_get_by_name(&r, c, "x"), PEX_EHTTP);
	ck_assert_int_eq(pex_error_last()->http_status, 500);
	ck_assert_ptr_nonnull(strstr(pex_error_last()->message, "injected failure 500"));
	pex_client_free(c);
	emu_stop(&e);
}
END_TEST

START_TEST(test_drops_retried)
{
	emu_t e;
	pex_client *c;
	pex_room *r = NULL;
	long long id;
	int i;
	ck_assert_int_eq(emu_start(&e, (const char *[]){ "--seed", "3", NULL }), 0);
	c = basic_client(&e, 5, 8);
	id = create_room(c, "vmr_drop", NULL);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"rate_drop\": 0.3, \"rate_429\": 0.1, \"retry_after_s\": 0}", NULL), 200);
	for (i = 0; i < 30; i++) {
		ck_assert_msg(pex_room_get(&r, c, id) == 0, "%s", pex_error_last()->message);
		pex_room_free(r);
	}
	pex_client_free(c);
	emu_stop(&e);
}
END_TEST

/* ---- Retry-After, timeouts ---- */

START_TEST(test_retry_after_honoured)
{
	emu_t e;
	pex_client_options o = PEX_CLIENT_OPTIONS_INIT;
	pex_client *c = NULL;
	pex_room_filter f = PEX_ROOM_FILTER_INIT;
	pex_room_iter *it = NULL;
	pex_room *r = NULL;
	long long t0, waited, id = 0;
	pex_room_spec s = PEX_ROOM_SPEC_INIT;

	ck_assert_int_eq(emu_start(&e, NULL), 0);
	o.url = e.url;
	o.username = "admin";
	o.password = "admin";
	o.retries_max = 3;
	o.retry_base_ms = 5;      /* the computed backoff alone would be a few ms */
	o.retry_cap_ms = 5000;    /* above the server's 1 s, so it is not cut */
	ck_assert_int_eq(pex_client_new(&c, &o), 0);

	/* a GET answered 429 + Retry-After: 1 is retried no earlier than 1 s later */
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"fail_next\": 1, \"retry_after_s\": 1}", NULL), 200);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/reset_stats", "{}", NULL), 200);
	t0 = mono_ms();
	ck_assert_msg(pex_client_check(c) == 0, "%s", pex_error_last()->message);
	waited = mono_ms() - t0;
	ck_assert_int_eq(emu_stat(&e, "by_status.429"), 1);
	ck_assert_int_eq(emu_stat(&e, "by_status.200"), 1);
	ck_assert_int_eq(emu_stat(&e, "requests"), 2);
	ck_assert_msg(waited >= 1000, "retried %lld ms after a 429 with Retry-After: 1", waited);

	/* a POST answered 429 was not processed: retried after the wait, created once */
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"fail_next\": 1, \"retry_after_s\": 1}", NULL), 200);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/reset_stats", "{}", NULL), 200);
	s.name = "vmr_429";
	t0 = mono_ms();
	ck_assert_msg(pex_room_create(&id, c, &s) == 0, "%s", pex_error_last()->message);
	waited = mono_ms() - t0;
	ck_assert_int_eq(emu_stat(&e, "by_method.POST"), 2);
	ck_assert_int_eq(emu_stat(&e, "by_status.429"), 1);
	ck_assert_int_eq(emu_stat(&e, "conferences"), 1);
	ck_assert_msg(waited >= 1000, "POST retried %lld ms after a 429 with Retry-After: 1", waited);
	f.name_prefix = "vmr_429";
	ck_assert_int_eq(pex_room_iter_new(&it, c, &f), 0);
	ck_assert_int_eq(pex_room_iter_next(&r, it), 0);
	ck_assert_int_eq(pex_room_id(r), id);
	pex_room_free(r);
	ck_assert_int_eq(pex_room_iter_next(&r, it), PEX_ITEROVER);
	pex_room_iter_free(it);
	pex_client_free(c);
	emu_stop(&e);
}
END_TEST

START_TEST(test_request_timeout)
{
	static const char pw[] = "T1meout-S3cret";
	emu_t e;
	pex_client_options o = PEX_CLIENT_OPTIONS_INIT;
	pex_client *c = NULL;
	pex_room *r = NULL;
	pex_room_spec s = PEX_ROOM_SPEC_INIT;
	long long id = 0;
	const char *msg;
	int err;

	ck_assert_int_eq(emu_start(&e, (const char *[]){ "--password", pw, NULL }), 0);
	o.url = e.url;
	o.username = "admin";
	o.password = pw;
	o.timeout_ms = 200;
	o.retries_max = 2;
	o.retry_base_ms = 5;
	o.retry_cap_ms = 20;
	ck_assert_int_eq(pex_client_new(&c, &o), 0);
	ck_assert_int_eq(pex_client_check(c), 0);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"latency_ms\": 1500}", NULL), 200);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/reset_stats", "{}", NULL), 200);

	/* a GET: PEX_ETIMEOUT after 1 + retries_max attempts, all seen by the server */
	err = pex_room_get_by_name(&r, c, "vmr_slow");
	msg = pex_error_last()->message;
	ck_assert_msg(err == PEX_ETIMEOUT, "%d: %s", err, msg);
	ck_assert_ptr_null(r);
	ck_assert_msg(strstr(msg, "GET ") && strstr(msg, e.url) &&
		strstr(msg, "/api/admin/configuration/v1/conference/") &&
		strstr(msg, "timed out") && strstr(msg, "pexip.timeout_ms") &&
		strstr(msg, "after 3 attempts"), "message: %s", msg);
	ck_assert_ptr_null(strstr(msg, pw));
	ck_assert_ptr_null(strstr(msg, "YWRtaW46VDFtZW91dC1TM2NyZXQ="));  /* base64 admin:pw */
	ck_assert_ptr_null(strstr(msg, "vmr_slow"));                       /* the query is not shown */
	ck_assert_int_eq(emu_stat(&e, "by_method.GET"), 3);

	/* a POST that timed out may have been processed: it is never sent again */
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/reset_stats", "{}", NULL), 200);
	s.name = "vmr_slow";
	err = pex_room_create(&id, c, &s);
	ck_assert_int_lt(err, 0);
	ck_assert_ptr_null(strstr(pex_error_last()->message, pw));
	ck_assert_int_eq(emu_stat(&e, "by_method.POST"), 1);
	pex_client_free(c);
	emu_stop(&e);
}
END_TEST

/* ---- concurrency cap ---- */

static void *list_thread(void *p)
{
	thread_arg *a = p;
	int i;
	for (i = 0; i < a->n; i++) {
		pex_room *r = NULL;
		if (pex_room_get_by_name(&r, a->c, "cap_room") == 0)
			a->ok++;
		else
			a->failed++;
		pex_room_free(r);
	}
	return NULL;
}

static void run_cap(unsigned cap)
{
	emu_t e;
	pex_client *c;
	pthread_t th[16];
	thread_arg args[16];
	int i;
	ck_assert_int_eq(emu_start(&e, NULL), 0);
	c = basic_client(&e, cap, 3);
	create_room(c, "cap_room", NULL);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"latency_ms\": 20}", NULL), 200);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/reset_stats", "{}", NULL), 200);
	for (i = 0; i < 16; i++) {
		args[i].c = c;
		args[i].ok = args[i].failed = 0;
		args[i].n = 6;
		ck_assert_int_eq(pthread_create(&th[i], NULL, list_thread, &args[i]), 0);
	}
	for (i = 0; i < 16; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(args[i].ok, 6);
	}
	/* never above the cap, and the cap was actually reached */
	ck_assert_int_le(emu_stat(&e, "max_in_flight"), cap);
	ck_assert_int_eq(emu_stat(&e, "max_in_flight"), cap);
	/* connections are reused: no more than one per slot */
	ck_assert_int_le(emu_stat(&e, "connections_opened"), cap);
	pex_client_free(c);
	emu_stop(&e);
}

START_TEST(test_concurrency_cap_5)
{
	run_cap(5);
}
END_TEST

START_TEST(test_concurrency_cap_2)
{
	run_cap(2);
}
END_TEST

/* ---- TLS ---- */

START_TEST(test_tls_verification)
{
	emu_t e;
	pex_client_options o = PEX_CLIENT_OPTIONS_INIT;
	pex_client *c = NULL;
	char cert[300], key[300], cmd[1024], url[128];

	make_tmpdir();
	snprintf(cert, sizeof(cert), "%s/cert.pem", tmpdir);
	snprintf(key, sizeof(key), "%s/key.pem", tmpdir);
	snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		"-keyout '%s' -out '%s' -days 2 -subj /CN=localhost "
		"-addext subjectAltName=IP:127.0.0.1,DNS:localhost >/dev/null 2>&1", key, cert);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(emu_start(&e, (const char *[]){ "--tls-cert", cert, "--tls-key", key, NULL }), 0);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d", e.port);
	o.url = url;
	o.username = "admin";
	o.password = "admin";
	o.retries_max = 1;
	o.retry_base_ms = 5;
	ck_assert_int_eq(pex_client_new(&c, &o), 0);
	ck_assert_int_eq(pex_client_check(c), PEX_ETLS);
	ck_assert_ptr_nonnull(strstr(pex_error_last()->message, "ca_file"));
	pex_client_free(c);
	o.ca_file = cert;
	ck_assert_int_eq(pex_client_new(&c, &o), 0);
	ck_assert_msg(pex_client_check(c) == 0, "%s", pex_error_last()->message);
	pex_client_free(c);
	emu_stop(&e);
	rm_tmpdir();
}
END_TEST

START_TEST(test_wrong_password)
{
	emu_t e;
	pex_client_options o = PEX_CLIENT_OPTIONS_INIT;
	pex_client *c = NULL;
	ck_assert_int_eq(emu_start(&e, NULL), 0);
	o.url = e.url;
	o.username = "admin";
	o.password = "s3cr3t-Wr0ng";
	ck_assert_int_eq(pex_client_new(&c, &o), 0);
	ck_assert_int_eq(pex_client_check(c), PEX_EAUTH);
	ck_assert_int_eq(pex_error_last()->http_status, 401);
	ck_assert_ptr_null(strstr(pex_error_last()->message, "s3cr3t"));
	pex_client_free(c);
	emu_stop(&e);
}
END_TEST

START_TEST(test_bad_options)
{
	pex_client_options o = PEX_CLIENT_OPTIONS_INIT;
	pex_client *c = NULL;
	o.url = "ftp://x";
	o.username = "a";
	o.password = "b";
	ck_assert_int_eq(pex_client_new(&c, &o), PEX_EINVAL);
	ck_assert_ptr_nonnull(strstr(pex_error_last()->message, "pexip.url"));
	o.url = "https://user:pw@host";
	ck_assert_int_eq(pex_client_new(&c, &o), PEX_EINVAL);
	ck_assert_ptr_null(strstr(pex_error_last()->message, "pw"));
	o.url = "https://host";
	o.max_concurrency = 0;
	ck_assert_int_eq(pex_client_new(&c, &o), PEX_EINVAL);
	o.max_concurrency = 5;
	o.auth = PEX_AUTH_OAUTH2;
	o.client_id = "x";
	o.private_key_pem = "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n";
	ck_assert_int_eq(pex_client_new(&c, &o), PEX_ECONFIG);
	ck_assert_ptr_null(strstr(pex_error_last()->message, "nope"));
	ck_assert_ptr_null(c);
}
END_TEST

static Suite *client_suite(void)
{
	Suite *s = suite_create("client");
	TCase *tc = tcase_create("emulator");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_crud);
	tcase_add_test(tc, test_pagination_45);
	tcase_add_test(tc, test_oauth_token_lifecycle);
	tcase_add_test(tc, test_oauth_single_flight);
	tcase_add_test(tc, test_oauth_audience_from_config);
	tcase_add_test(tc, test_oauth_401_persists);
	tcase_add_test(tc, test_oauth_scope_and_lifetime);
	tcase_add_test(tc, test_refused_filters);
	tcase_add_test(tc, test_documented_shapes);
	tcase_add_test(tc, test_survives_30pct_503);
	tcase_add_test(tc, test_ambiguous_create_settled_by_name);
	tcase_add_test(tc, test_permanent_500);
	tcase_add_test(tc, test_drops_retried);
	tcase_add_test(tc, test_retry_after_honoured);
	tcase_add_test(tc, test_request_timeout);
	tcase_add_test(tc, test_concurrency_cap_5);
	tcase_add_test(tc, test_concurrency_cap_2);
	tcase_add_test(tc, test_tls_verification);
	tcase_add_test(tc, test_wrong_password);
	tcase_add_test(tc, test_bad_options);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;
	signal(SIGPIPE, SIG_IGN);
	pex_global_init();
	sr = srunner_create(client_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	pex_global_shutdown();
	return failed ? 1 : 0;
}
