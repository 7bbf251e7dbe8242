/* Self-test of the Pexip emulator over real HTTP (libcurl), through the C
 * harness. Every test starts its own emulator. */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "emu_harness.h"

#define CONF "/api/admin/configuration/v1/conference/"
#define ALIAS "/api/admin/configuration/v1/conference_alias/"
#define SCONF "/api/admin/status/v1/conference/"
#define SPART "/api/admin/status/v1/participant/"

static bool under_valgrind;

/* ------------------------------------------------------------------ */
/* HTTP helper                                                        */
/* ------------------------------------------------------------------ */

typedef struct hres {
	long status; /* 0 on a transport error */
	CURLcode cc;
	char *body;
	size_t len;
	char location[256], retry_after[32], www_auth[128];
	double secs;
} hres;

static size_t body_cb(char *d, size_t sz, size_t n, void *ud)
{
	hres *r = ud;
	size_t k = sz * n;
	r->body = realloc(r->body, r->len + k + 1);
	ck_assert_ptr_nonnull(r->body);
	memcpy(r->body + r->len, d, k);
	r->len += k;
	r->body[r->len] = 0;
	return k;
}

static void grab(const char *line, size_t n, const char *name, char *dst, size_t dn)
{
	size_t l = strlen(name);
	if (n > l + 1 && !strncasecmp(line, name, l) && line[l] == ':') {
		size_t i = l + 1, j = 0;
		while (i < n && line[i] == ' ')
			i++;
		while (i < n && line[i] != '\r' && line[i] != '\n' && j + 1 < dn)
			dst[j++] = line[i++];
		dst[j] = 0;
	}
}

static size_t header_cb(char *d, size_t sz, size_t n, void *ud)
{
	hres *r = ud;
	size_t k = sz * n;
	grab(d, k, "Location", r->location, sizeof(r->location));
	grab(d, k, "Retry-After", r->retry_after, sizeof(r->retry_after));
	grab(d, k, "WWW-Authenticate", r->www_auth, sizeof(r->www_auth));
	return k;
}

enum auth { AUTH_NONE, AUTH_BASIC, AUTH_HEADER };

/* auth_hdr: for AUTH_HEADER, a full "Authorization: ..." line. */
static CURL *make_req(hres *r, const emu_t *e, const char *method, const char *path, enum auth auth,
		      const char *auth_hdr, const char *ctype, const char *body, size_t blen,
		      struct curl_slist **hdrs)
{
	CURL *h = curl_easy_init();
	char url[2048];
	ck_assert_ptr_nonnull(h);
	memset(r, 0, sizeof(*r));
	snprintf(url, sizeof(url), "%s%s", e->url, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	*hdrs = curl_slist_append(NULL, "Expect:");
	if (auth == AUTH_BASIC) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(h, CURLOPT_USERPWD, "admin:admin");
	} else if (auth == AUTH_HEADER) {
		*hdrs = curl_slist_append(*hdrs, auth_hdr);
	}
	if (body) {
		char ct[128];
		snprintf(ct, sizeof(ct), "Content-Type: %s", ctype ? ctype : "application/json");
		*hdrs = curl_slist_append(*hdrs, ct);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)blen);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs);
	if (strcmp(method, "GET") != 0 || body)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	return h;
}

static long http_full(hres *r, const emu_t *e, const char *method, const char *path, enum auth auth,
		      const char *auth_hdr, const char *ctype, const char *body, size_t blen)
{
	struct curl_slist *hdrs = NULL;
	CURL *h = make_req(r, e, method, path, auth, auth_hdr, ctype, body, blen, &hdrs);
	double t0;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	t0 = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	r->cc = curl_easy_perform(h);
	if (r->cc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	r->secs = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 - t0;
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	return r->status;
}

/* Basic-authenticated JSON request. */
static long api(hres *r, const emu_t *e, const char *method, const char *path, const char *json)
{
	return http_full(r, e, method, path, AUTH_BASIC, NULL, NULL, json, json ? strlen(json) : 0);
}

static void hfree(hres *r)
{
	free(r->body);
	r->body = NULL;
}

/* GET, expect 200, parse. */
static json_object *get_json(const emu_t *e, const char *path)
{
	hres r;
	json_object *o;
	ck_assert_int_eq(api(&r, e, "GET", path, NULL), 200);
	o = json_tokener_parse(r.body);
	ck_assert_msg(o != NULL, "bad JSON from %s: %s", path, r.body);
	hfree(&r);
	return o;
}

static json_object *jget(json_object *o, const char *k)
{
	json_object *v = NULL;
	ck_assert_msg(json_object_object_get_ex(o, k, &v), "no key '%s' in %s", k, json_object_to_json_string(o));
	return v;
}

static const char *jstr(json_object *o, const char *k)
{
	return json_object_get_string(jget(o, k));
}

static long long jint(json_object *o, const char *k)
{
	return json_object_get_int64(jget(o, k));
}

static long long total_count(const emu_t *e, const char *path)
{
	json_object *o = get_json(e, path);
	long long n = jint(jget(o, "meta"), "total_count");
	json_object_put(o);
	return n;
}

/* The first message of body[res][field]. */
static void assert_field_error(const char *body, const char *res, const char *field, const char *msg)
{
	json_object *o = json_tokener_parse(body), *f;
	ck_assert_msg(o != NULL, "not JSON: %s", body);
	f = jget(jget(o, res), field);
	ck_assert(json_object_is_type(f, json_type_array));
	ck_assert_msg(json_object_array_length(f) >= 1, "%s", body);
	if (msg)
		ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(f, 0)), msg);
	json_object_put(o);
}

static void assert_error_key(const char *body, const char *needle)
{
	json_object *o = json_tokener_parse(body);
	ck_assert_msg(o != NULL, "not JSON: %s", body);
	ck_assert_msg(strstr(jstr(o, "error"), needle) != NULL, "'%s' not in %s", needle, body);
	json_object_put(o);
}

static long long create(const emu_t *e, const char *json)
{
	hres r;
	long long id;
	ck_assert_msg(api(&r, e, "POST", CONF, json) == 201, "POST %s -> %ld %s", json, r.status,
		      r.body ? r.body : "");
	ck_assert_uint_eq(r.len, 0);
	ck_assert_msg(sscanf(r.location, CONF "%lld/", &id) == 1, "Location '%s'", r.location);
	hfree(&r);
	return id;
}

static void start(emu_t *e, const char *const *args)
{
	ck_assert_int_eq(emu_start(e, args), 0);
	ck_assert_int_gt(e->port, 0);
}

static void stop_clean(emu_t *e)
{
	emu_stop(e);
	ck_assert_int_eq(e->exit_status, 0);
}

/* ------------------------------------------------------------------ */
/* CRUD                                                               */
/* ------------------------------------------------------------------ */

START_TEST(test_crud)
{
	emu_t e;
	hres r;
	json_object *o, *al;
	long long id, id2, aid;
	char path[256], body[512];

	start(&e, NULL);
	id = create(&e, "{\"name\":\"room_a\",\"service_type\":\"conference\",\"pin\":\"1234\",\"guest_pin\":\"5678#\","
			"\"allow_guests\":true,\"tag\":\"t1\",\"description\":\"d\",\"participant_limit\":10,"
			"\"aliases\":[{\"alias\":\"meet.a\"},{\"alias\":\"a@example.com\",\"description\":\"x\"}],"
			"\"unknown_key\":1}");
	ck_assert_int_eq(id, 1);

	snprintf(path, sizeof(path), CONF "%lld/", id);
	o = get_json(&e, path);
	ck_assert_int_eq(jint(o, "id"), 1);
	ck_assert_str_eq(jstr(o, "name"), "room_a");
	ck_assert_str_eq(jstr(o, "resource_uri"), CONF "1/");
	ck_assert_str_eq(jstr(o, "pin"), "1234");
	ck_assert_str_eq(jstr(o, "guest_pin"), "5678#");
	ck_assert_int_eq(json_object_get_boolean(jget(o, "allow_guests")), 1);
	ck_assert_int_eq(jint(o, "participant_limit"), 10);
	ck_assert_str_eq(jstr(o, "service_type"), "conference");
	ck_assert_uint_eq(strlen(jstr(o, "creation_time")), 26); /* YYYY-MM-DDTHH:MM:SS.ffffff */
	ck_assert_int_eq(jstr(o, "creation_time")[10], 'T');
	ck_assert(json_object_is_type(jget(o, "max_callrate_in"), json_type_null));
	al = jget(o, "aliases");
	ck_assert_uint_eq(json_object_array_length(al), 2);
	ck_assert_str_eq(jstr(json_object_array_get_idx(al, 0), "alias"), "meet.a");
	ck_assert_str_eq(jstr(json_object_array_get_idx(al, 0), "conference"), CONF "1/");
	ck_assert_str_eq(jstr(json_object_array_get_idx(al, 1), "description"), "x");
	json_object_put(o);

	/* without the trailing slash too */
	snprintf(path, sizeof(path), CONF "%lld", id);
	ck_assert_int_eq(api(&r, &e, "GET", path, NULL), 200);
	hfree(&r);

	/* PATCH: partial, 202, empty; aliases replace the set */
	snprintf(path, sizeof(path), CONF "%lld/", id);
	ck_assert_int_eq(api(&r, &e, "PATCH", path, "{\"tag\":\"https://x/y?z=1\",\"participant_limit\":null,"
						    "\"aliases\":[{\"alias\":\"meet.a\"},{\"alias\":\"new.a\"}]}"), 202);
	ck_assert_uint_eq(r.len, 0);
	hfree(&r);
	o = get_json(&e, path);
	ck_assert_str_eq(jstr(o, "tag"), "https://x/y?z=1");
	ck_assert_str_eq(jstr(o, "pin"), "1234"); /* untouched */
	ck_assert(json_object_is_type(jget(o, "participant_limit"), json_type_null));
	al = jget(o, "aliases");
	ck_assert_uint_eq(json_object_array_length(al), 2);
	ck_assert_int_eq(jint(json_object_array_get_idx(al, 0), "id"), 1); /* kept, same id */
	ck_assert_str_eq(jstr(json_object_array_get_idx(al, 1), "alias"), "new.a");
	json_object_put(o);
	ck_assert_int_eq(emu_stat(&e, "aliases"), 2);

	/* aliases given as URIs */
	id2 = create(&e, "{\"name\":\"room_b\",\"aliases\":[\"" ALIAS "3/\"]}");
	ck_assert_int_eq(id2, 2);
	o = get_json(&e, CONF "2/");
	ck_assert_str_eq(jstr(json_object_array_get_idx(jget(o, "aliases"), 0), "alias"), "new.a");
	json_object_put(o);
	o = get_json(&e, CONF "1/");
	ck_assert_uint_eq(json_object_array_length(jget(o, "aliases")), 1);
	json_object_put(o);

	/* PUT: full replacement, 204 */
	ck_assert_int_eq(api(&r, &e, "PUT", CONF "2/", "{\"name\":\"room_b2\",\"service_type\":\"lecture\"}"), 204);
	hfree(&r);
	o = get_json(&e, CONF "2/");
	ck_assert_str_eq(jstr(o, "name"), "room_b2");
	ck_assert_str_eq(jstr(o, "service_type"), "lecture");
	ck_assert_uint_eq(json_object_array_length(jget(o, "aliases")), 0);
	json_object_put(o);
	ck_assert_int_eq(api(&r, &e, "PUT", CONF "2/", "{\"service_type\":\"lecture\"}"), 400);
	assert_field_error(r.body, "conference", "name", "This field is required.");
	hfree(&r);

	/* conference_alias resource */
	snprintf(body, sizeof(body), "{\"alias\":\"extra.a\",\"conference\":\"" CONF "%lld/\"}", id);
	ck_assert_int_eq(api(&r, &e, "POST", ALIAS, body), 201);
	ck_assert_int_eq(sscanf(r.location, ALIAS "%lld/", &aid), 1);
	ck_assert_int_eq(aid, 4);
	hfree(&r);
	o = get_json(&e, ALIAS "4/");
	ck_assert_str_eq(jstr(o, "alias"), "extra.a");
	ck_assert_str_eq(jstr(o, "conference"), CONF "1/");
	ck_assert_str_eq(jstr(o, "resource_uri"), ALIAS "4/");
	json_object_put(o);
	ck_assert_int_eq(total_count(&e, ALIAS "?conference=" CONF "1/"), 2);
	ck_assert_int_eq(total_count(&e, ALIAS "?conference=1"), 2);
	ck_assert_int_eq(total_count(&e, ALIAS "?alias=extra.a"), 1);
	ck_assert_int_eq(api(&r, &e, "PATCH", ALIAS "4/", "{\"description\":\"dd\"}"), 202);
	hfree(&r);
	o = get_json(&e, ALIAS "4/");
	ck_assert_str_eq(jstr(o, "description"), "dd");
	json_object_put(o);
	ck_assert_int_eq(api(&r, &e, "POST", ALIAS, "{\"alias\":\"extra.a\",\"conference\":\"" CONF "1/\"}"), 400);
	assert_field_error(r.body, "conference_alias", "alias", "Alias with this Alias already exists.");
	hfree(&r);
	ck_assert_int_eq(api(&r, &e, "POST", ALIAS, "{\"alias\":\"zz\",\"conference\":\"" CONF "99/\"}"), 400);
	assert_field_error(r.body, "conference_alias", "conference", NULL);
	hfree(&r);
	ck_assert_int_eq(api(&r, &e, "DELETE", ALIAS "4/", NULL), 204);
	hfree(&r);
	ck_assert_int_eq(api(&r, &e, "GET", ALIAS "4/", NULL), 404);
	hfree(&r);

	/* DELETE cascades to aliases; then 404 with an empty body */
	ck_assert_int_eq(emu_stat(&e, "aliases"), 1);
	ck_assert_int_eq(api(&r, &e, "DELETE", CONF "1/", NULL), 204);
	ck_assert_uint_eq(r.len, 0);
	hfree(&r);
	ck_assert_int_eq(emu_stat(&e, "aliases"), 0);
	ck_assert_int_eq(api(&r, &e, "GET", CONF "1/", NULL), 404);
	ck_assert_uint_eq(r.len, 0);
	hfree(&r);
	ck_assert_int_eq(api(&r, &e, "DELETE", CONF "1/", NULL), 404);
	hfree(&r);
	ck_assert_int_eq(api(&r, &e, "PATCH", CONF "1/", "{}"), 404);
	hfree(&r);
	/* the alias name is free again, ids keep increasing */
	id = create(&e, "{\"name\":\"room_a\",\"aliases\":[{\"alias\":\"meet.a\"}]}");
	ck_assert_int_eq(id, 3);
	ck_assert_int_eq(emu_stat(&e, "conferences"), 2);
	stop_clean(&e);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Validation                                                         */
/* ------------------------------------------------------------------ */

static void expect_400(const emu_t *e, const char *method, const char *path, const char *json, const char *res,
		       const char *field, const char *msg)
{
	hres r;
	ck_assert_msg(api(&r, e, method, path, json) == 400, "%s %s -> %ld", method, json, r.status);
	assert_field_error(r.body, res, field, msg);
	hfree(&r);
}

START_TEST(test_validation)
{
	emu_t e;
	hres r;
	char big[400];
	json_object *o;

	start(&e, NULL);
	create(&e, "{\"name\":\"v1\",\"aliases\":[{\"alias\":\"v1.alias\"}]}");
	expect_400(&e, "POST", CONF, "{\"name\":\"v1\"}", "conference", "name",
		   "Virtual Meeting Room with this Name already exists.");
	expect_400(&e, "POST", CONF, "{\"pin\":\"1234\"}", "conference", "name", "This field is required.");
	expect_400(&e, "POST", CONF, "{\"name\":null}", "conference", "name", "This field is required.");
	expect_400(&e, "POST", CONF, "{\"name\":\"\"}", "conference", "name", NULL);
	memset(big, 'x', 251);
	big[251] = 0;
	{
		char body[600];
		snprintf(body, sizeof(body), "{\"name\":\"%s\"}", big);
		expect_400(&e, "POST", CONF, body, "conference", "name",
			   "Ensure this value has at most 250 characters (it has 251).");
		snprintf(body, sizeof(body), "{\"name\":\"ok\",\"tag\":\"%s\"}", big);
		expect_400(&e, "POST", CONF, body, "conference", "tag", NULL);
		snprintf(body, sizeof(body), "{\"name\":\"ok\",\"description\":\"%s\"}", big);
		expect_400(&e, "POST", CONF, body, "conference", "description", NULL);
		big[250] = 0; /* exactly 250 is fine */
		snprintf(body, sizeof(body), "{\"name\":\"%s\"}", big);
		create(&e, body);
	}
	expect_400(&e, "POST", CONF, "{\"name\":\"p\",\"pin\":\"123\"}", "conference", "pin", NULL);
	expect_400(&e, "POST", CONF, "{\"name\":\"p\",\"pin\":\"12ab\"}", "conference", "pin", NULL);
	expect_400(&e, "POST", CONF, "{\"name\":\"p\",\"pin\":\"123456789012345678901\"}", "conference", "pin", NULL);
	expect_400(&e, "POST", CONF, "{\"name\":\"p\",\"guest_pin\":\"12#3\"}", "conference", "guest_pin", NULL);
	expect_400(&e, "POST", CONF, "{\"name\":\"p\",\"pin\":1234}", "conference", "pin", NULL);
	expect_400(&e, "POST", CONF, "{\"name\":\"p\",\"service_type\":\"party\"}", "conference", "service_type", NULL);
	expect_400(&e, "POST", CONF, "{\"name\":\"p\",\"participant_limit\":-1}", "conference", "participant_limit", NULL);
	expect_400(&e, "POST", CONF, "{\"name\":\"p\",\"participant_limit\":1000001}", "conference",
		   "participant_limit", NULL);
	expect_400(&e, "POST", CONF, "{\"name\":\"p\",\"participant_limit\":\"5\"}", "conference",
		   "participant_limit", NULL);
	expect_400(&e, "POST", CONF, "{\"name\":\"p\",\"allow_guests\":\"yes\"}", "conference", "allow_guests", NULL);
	expect_400(&e, "POST", CONF, "{\"name\":\"p\",\"aliases\":[{\"alias\":\"v1.alias\"}]}", "conference_alias",
		   "alias", "Alias with this Alias already exists.");
	expect_400(&e, "POST", CONF, "{\"name\":\"p\",\"aliases\":[{\"alias\":\"q\"},{\"alias\":\"q\"}]}",
		   "conference_alias", "alias", "Alias with this Alias already exists.");
	expect_400(&e, "POST", CONF, "{\"name\":\"p\",\"aliases\":[{}]}", "conference_alias", "alias",
		   "This field is required.");
	expect_400(&e, "POST", CONF, "{\"name\":\"p\",\"aliases\":[\"/nope/\"]}", "conference", "aliases", NULL);
	expect_400(&e, "POST", CONF, "{\"name\":\"p\",\"aliases\":\"x\"}", "conference", "aliases", NULL);
	/* several errors at once, both resources */
	ck_assert_int_eq(api(&r, &e, "POST", CONF, "{\"name\":\"v1\",\"pin\":\"1\",\"aliases\":[{\"alias\":\"v1.alias\"}]}"),
			 400);
	assert_field_error(r.body, "conference", "name", NULL);
	assert_field_error(r.body, "conference", "pin", NULL);
	assert_field_error(r.body, "conference_alias", "alias", NULL);
	hfree(&r);
	/* valid edge values */
	create(&e, "{\"name\":\"ok1\",\"pin\":\"\",\"guest_pin\":\"12345678901234567890#\",\"participant_limit\":0}");
	create(&e, "{\"name\":\"ok2\",\"participant_limit\":1000000,\"service_type\":\"media_playback\"}");

	/* PATCH validates and changes nothing on error */
	expect_400(&e, "PATCH", CONF "1/", "{\"tag\":\"new\",\"pin\":\"x\"}", "conference", "pin", NULL);
	expect_400(&e, "PATCH", CONF "1/", "{\"name\":\"ok1\"}", "conference", "name",
		   "Virtual Meeting Room with this Name already exists.");
	o = get_json(&e, CONF "1/");
	ck_assert_str_eq(jstr(o, "tag"), "");
	ck_assert_str_eq(jstr(o, "name"), "v1");
	json_object_put(o);
	/* renaming to itself is fine */
	ck_assert_int_eq(api(&r, &e, "PATCH", CONF "1/", "{\"name\":\"v1\"}"), 202);
	hfree(&r);

	/* malformed bodies: {"error": ...} */
	ck_assert_int_eq(api(&r, &e, "POST", CONF, "{\"name\":"), 400);
	assert_error_key(r.body, "JSON");
	hfree(&r);
	ck_assert_int_eq(api(&r, &e, "POST", CONF, "[1,2]"), 400);
	assert_error_key(r.body, "object");
	hfree(&r);
	ck_assert_int_eq(api(&r, &e, "POST", CONF, "{\"name\":\"a\"} trailing"), 400);
	hfree(&r);
	ck_assert_int_eq(http_full(&r, &e, "POST", CONF, AUTH_BASIC, NULL, NULL, "", 0), 400);
	hfree(&r);
	ck_assert_int_eq(api(&r, &e, "PATCH", CONF "1/", "nope"), 400);
	assert_error_key(r.body, "JSON");
	hfree(&r);
	{
		/* deep nesting is refused, not a crash */
		size_t n = 100000, i;
		char *deep = malloc(n * 2 + 1);
		for (i = 0; i < n; i++) {
			deep[i] = '[';
			deep[n + i] = ']';
		}
		deep[2 * n] = 0;
		ck_assert_int_eq(api(&r, &e, "POST", CONF, deep), 400);
		hfree(&r);
		free(deep);
	}
	ck_assert_int_eq(http_full(&r, &e, "POST", CONF, AUTH_BASIC, NULL, NULL, "{\"name\":\"a\\u0000b\"}", 18), 400);
	hfree(&r);
	ck_assert_int_eq(http_full(&r, &e, "POST", CONF, AUTH_BASIC, NULL, NULL, "{\"name\":\"a\0b\"}", 14), 400);
	hfree(&r);
	ck_assert_int_eq(emu_stat(&e, "conferences"), 4);
	stop_clean(&e);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Pagination and filters                                             */
/* ------------------------------------------------------------------ */

START_TEST(test_pagination)
{
	emu_t e;
	json_object *o, *meta, *objs;
	char body[128], path[512];
	int i, pages = 0, seen[45] = { 0 }, n = 0;

	start(&e, NULL);
	for (i = 0; i < 45; i++) {
		snprintf(body, sizeof(body), "{\"name\":\"page_%02d\",\"tag\":\"%s\"}", i, i % 3 ? "odd" : "three");
		create(&e, body);
	}
	create(&e, "{\"name\":\"zz_other\"}");

	/* default page 20; follow meta.next (relative, filters kept) */
	snprintf(path, sizeof(path), CONF "?name__startswith=page_");
	for (;;) {
		size_t k;
		o = get_json(&e, path);
		meta = jget(o, "meta");
		objs = jget(o, "objects");
		ck_assert_int_eq(jint(meta, "total_count"), 45);
		ck_assert_int_eq(jint(meta, "limit"), 20);
		ck_assert_int_eq(jint(meta, "offset"), pages * 20);
		if (pages == 0)
			ck_assert(json_object_is_type(jget(meta, "previous"), json_type_null));
		else
			ck_assert_ptr_nonnull(strstr(jstr(meta, "previous"), "name__startswith=page_"));
		ck_assert_uint_eq(json_object_array_length(objs), pages < 2 ? 20 : 5);
		for (k = 0; k < json_object_array_length(objs); k++) {
			int idx = atoi(jstr(json_object_array_get_idx(objs, k), "name") + 5);
			ck_assert(idx >= 0 && idx < 45);
			ck_assert_int_eq(idx, n); /* id order */
			seen[idx]++;
			n++;
		}
		pages++;
		if (json_object_is_type(jget(meta, "next"), json_type_null)) {
			json_object_put(o);
			break;
		}
		ck_assert_int_eq(strncmp(jstr(meta, "next"), CONF "?", strlen(CONF) + 1), 0);
		ck_assert_ptr_nonnull(strstr(jstr(meta, "next"), "name__startswith=page_"));
		snprintf(path, sizeof(path), "%s", jstr(meta, "next"));
		json_object_put(o);
		ck_assert_int_lt(pages, 10);
	}
	ck_assert_int_eq(pages, 3);
	ck_assert_int_eq(n, 45);
	for (i = 0; i < 45; i++)
		ck_assert_int_eq(seen[i], 1);

	/* explicit limit/offset, limit=0 = max, over-large limits clamp */
	o = get_json(&e, CONF "?limit=7&offset=42");
	ck_assert_uint_eq(json_object_array_length(jget(o, "objects")), 4);
	ck_assert(json_object_is_type(jget(jget(o, "meta"), "next"), json_type_null));
	ck_assert_str_eq(jstr(jget(o, "meta"), "previous"), CONF "?limit=7&offset=35");
	json_object_put(o);
	o = get_json(&e, CONF "?limit=0");
	ck_assert_uint_eq(json_object_array_length(jget(o, "objects")), 46);
	ck_assert_int_eq(jint(jget(o, "meta"), "limit"), 1000);
	json_object_put(o);
	o = get_json(&e, CONF "?limit=5000&offset=100");
	ck_assert_int_eq(jint(jget(o, "meta"), "limit"), 1000);
	ck_assert_uint_eq(json_object_array_length(jget(o, "objects")), 0);
	json_object_put(o);
	{
		hres r;
		ck_assert_int_eq(api(&r, &e, "GET", CONF "?limit=abc", NULL), 400);
		assert_error_key(r.body, "limit");
		hfree(&r);
		ck_assert_int_eq(api(&r, &e, "GET", CONF "?offset=-1", NULL), 400);
		hfree(&r);
	}
	/* ordering */
	o = get_json(&e, CONF "?order_by=-name&limit=1");
	ck_assert_str_eq(jstr(json_object_array_get_idx(jget(o, "objects"), 0), "name"), "zz_other");
	json_object_put(o);
	stop_clean(&e);

	/* --page-size and --max-limit */
	start(&e, (const char *[]){ "--page-size", "3", "--max-limit", "4", NULL });
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/populate", "{\"count\": 10, \"prefix\": \"p_\"}", NULL), 200);
	o = get_json(&e, CONF);
	ck_assert_int_eq(jint(jget(o, "meta"), "limit"), 3);
	ck_assert_str_eq(jstr(jget(o, "meta"), "next"), CONF "?limit=3&offset=3");
	json_object_put(o);
	o = get_json(&e, CONF "?limit=0");
	ck_assert_uint_eq(json_object_array_length(jget(o, "objects")), 4);
	json_object_put(o);
	stop_clean(&e);
}
END_TEST

START_TEST(test_filters)
{
	emu_t e;
	hres r;
	json_object *o;

	start(&e, NULL);
	create(&e, "{\"name\":\"Alpha_one\",\"tag\":\"red\"}");
	create(&e, "{\"name\":\"alpha_two\",\"tag\":\"blue\",\"service_type\":\"lecture\"}");
	create(&e, "{\"name\":\"beta one\",\"tag\":\"red\"}");
	create(&e, "{\"name\":\"gamma\"}");

	ck_assert_int_eq(total_count(&e, CONF "?name=gamma"), 1);
	ck_assert_int_eq(total_count(&e, CONF "?name=gam"), 0);
	ck_assert_int_eq(total_count(&e, CONF "?name=beta%20one"), 1);
	ck_assert_int_eq(total_count(&e, CONF "?name=beta+one"), 1);
	ck_assert_int_eq(total_count(&e, CONF "?name__startswith=alpha"), 1);
	ck_assert_int_eq(total_count(&e, CONF "?name__istartswith=alpha"), 2);
	ck_assert_int_eq(total_count(&e, CONF "?name__contains=one"), 2);
	ck_assert_int_eq(total_count(&e, CONF "?name__contains=ALPHA"), 0);
	ck_assert_int_eq(total_count(&e, CONF "?name__icontains=ALPHA"), 2);
	ck_assert_int_eq(total_count(&e, CONF "?name__in=gamma,Alpha_one,nope"), 2);
	ck_assert_int_eq(total_count(&e, CONF "?tag=red"), 2);
	ck_assert_int_eq(total_count(&e, CONF "?tag=red&name__startswith=beta"), 1);
	ck_assert_int_eq(total_count(&e, CONF "?service_type=lecture"), 1);
	ck_assert_int_eq(total_count(&e, CONF "?service_type=conference&tag=red"), 2);
	ck_assert_int_eq(total_count(&e, CONF "?name=gamma&tag=red"), 0);
	/* unknown query keys are ignored */
	ck_assert_int_eq(total_count(&e, CONF "?format=json&foo=bar"), 4);
	/* __in keeps id order */
	o = get_json(&e, CONF "?name__in=gamma,Alpha_one");
	ck_assert_str_eq(jstr(json_object_array_get_idx(jget(o, "objects"), 0), "name"), "Alpha_one");
	json_object_put(o);
	/* an unknown filter on a known field */
	ck_assert_int_eq(api(&r, &e, "GET", CONF "?description=x", NULL), 400);
	{
		json_object *er = json_tokener_parse(r.body);
		ck_assert_str_eq(jstr(er, "error"), "The 'description' field does not allow filtering.");
		json_object_put(er);
	}
	hfree(&r);
	ck_assert_int_eq(api(&r, &e, "GET", CONF "?name__regex=x", NULL), 400);
	assert_error_key(r.body, "not an allowed filter");
	hfree(&r);
	/* time filters */
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/conference/set",
				 "{\"name\":\"gamma\",\"creation_time\":\"2020-01-01T00:00:00\"}", NULL), 200);
	ck_assert_int_eq(total_count(&e, CONF "?creation_time__lt=2021-01-01T00:00:00"), 1);
	o = get_json(&e, CONF "4/");
	ck_assert_str_eq(jstr(o, "creation_time"), "2020-01-01T00:00:00.000000");
	json_object_put(o);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/conference/set", "{\"name\":\"nope\",\"creation_time\":\"2020-01-01T00:00:00\"}",
				 NULL), 404);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/conference/set", "{\"name\":\"gamma\",\"creation_time\":\"yesterday\"}",
				 NULL), 400);
	stop_clean(&e);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Auth                                                               */
/* ------------------------------------------------------------------ */

START_TEST(test_basic_auth)
{
	emu_t e;
	hres r;

	start(&e, (const char *[]){ "--user", "bob", "--password", "s3cret:x", NULL });
	ck_assert_int_eq(http_full(&r, &e, "GET", CONF, AUTH_NONE, NULL, NULL, NULL, 0), 401);
	ck_assert_str_eq(r.www_auth, "Basic realm=\"pexip\"");
	assert_error_key(r.body, "credentials");
	hfree(&r);
	ck_assert_int_eq(api(&r, &e, "GET", CONF, NULL), 401); /* admin:admin is wrong here */
	hfree(&r);
	/* "bob:s3cret:x" */
	ck_assert_int_eq(http_full(&r, &e, "GET", CONF, AUTH_HEADER, "Authorization: Basic Ym9iOnMzY3JldDp4", NULL,
				   NULL, 0), 200);
	hfree(&r);
	ck_assert_int_eq(http_full(&r, &e, "GET", CONF, AUTH_HEADER, "Authorization: Basic Ym9iOnMzY3JldDp", NULL,
				   NULL, 0), 401);
	hfree(&r);
	ck_assert_int_eq(http_full(&r, &e, "GET", CONF, AUTH_HEADER, "Authorization: Basic !!!!", NULL, NULL, 0), 401);
	hfree(&r);
	ck_assert_int_eq(http_full(&r, &e, "GET", CONF, AUTH_HEADER, "Authorization: Bearer nope", NULL, NULL, 0), 401);
	hfree(&r);
	ck_assert_int_eq(emu_stat(&e, "auth_failures"), 5);
	ck_assert_int_eq(emu_stat(&e, "by_status.401"), 5);
	/* the control API needs no auth */
	ck_assert_int_eq(emu_ctl(&e, "GET", "/_emu/health", NULL, NULL), 200);
	stop_clean(&e);

	start(&e, (const char *[]){ "--disable-basic", NULL });
	ck_assert_int_eq(api(&r, &e, "GET", CONF, NULL), 401);
	hfree(&r);
	stop_clean(&e);
}
END_TEST

/* ---- ES256 assertions made here with OpenSSL ---- */

static char *b64url(const unsigned char *d, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1), *p;
	int len = EVP_EncodeBlock((unsigned char *)out, d, (int)n);
	out[len] = 0;
	for (p = out; *p; p++) {
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
		else if (*p == '=') {
			*p = 0;
			break;
		}
	}
	return out;
}

/* Signs header.payload; alg_sig: "es256" (proper), "none" (empty
 * signature), "der" (DER signature instead of raw R||S). */
static char *make_jws(EVP_PKEY *k, const char *header, const char *payload, const char *mode)
{
	char *h = b64url((const unsigned char *)header, strlen(header));
	char *p = b64url((const unsigned char *)payload, strlen(payload));
	size_t ilen = strlen(h) + 1 + strlen(p);
	char *input = malloc(ilen + 1), *sig64 = NULL, *out;
	unsigned char der[128], raw[64];
	size_t dlen = sizeof(der);
	EVP_MD_CTX *ctx;
	snprintf(input, ilen + 1, "%s.%s", h, p);
	if (strcmp(mode, "none") == 0) {
		sig64 = strdup("");
	} else {
		ctx = EVP_MD_CTX_new();
		ck_assert_int_eq(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k), 1);
		ck_assert_int_eq(EVP_DigestSign(ctx, der, &dlen, (unsigned char *)input, ilen), 1);
		EVP_MD_CTX_free(ctx);
		if (strcmp(mode, "der") == 0) {
			sig64 = b64url(der, dlen);
		} else {
			const unsigned char *q = der;
			ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &q, (long)dlen);
			ck_assert_ptr_nonnull(s);
			ck_assert_int_eq(BN_bn2binpad(ECDSA_SIG_get0_r(s), raw, 32), 32);
			ck_assert_int_eq(BN_bn2binpad(ECDSA_SIG_get0_s(s), raw + 32, 32), 32);
			ECDSA_SIG_free(s);
			sig64 = b64url(raw, 64);
		}
	}
	out = malloc(ilen + strlen(sig64) + 2);
	sprintf(out, "%s.%s", input, sig64);
	free(h);
	free(p);
	free(input);
	free(sig64);
	return out;
}

static char *claims(const char *iss, const char *sub, const char *aud_json, long long iat, long long exp,
		    const char *jti)
{
	char *s = NULL;
	ck_assert_int_gt(asprintf(&s, "{\"iss\":\"%s\",\"sub\":\"%s\",\"aud\":%s,\"iat\":%lld,\"exp\":%lld%s%s%s}", iss,
				  sub, aud_json, iat, exp, jti ? ",\"jti\":\"" : "", jti ? jti : "", jti ? "\"" : ""),
			 0);
	return s;
}

/* POSTs the assertion; returns the status; *tok gets the access token. */
static long token_req(const emu_t *e, const char *jws, const char *grant, char **tok, char **err_desc)
{
	hres r;
	char *esc, *body;
	CURL *h = curl_easy_init();
	esc = curl_easy_escape(h, jws, 0);
	ck_assert_int_gt(asprintf(&body,
				  "grant_type=%s&client_assertion_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Aclient-assertion-type%%3Ajwt-bearer"
				  "&client_assertion=%s&scope=is_admin+use_api",
				  grant, esc), 0);
	curl_free(esc);
	curl_easy_cleanup(h);
	http_full(&r, e, "POST", "/oauth/token/", AUTH_NONE, NULL, "application/x-www-form-urlencoded", body,
		  strlen(body));
	free(body);
	if (tok)
		*tok = NULL;
	if (err_desc)
		*err_desc = NULL;
	if (r.body) {
		json_object *o = json_tokener_parse(r.body), *v;
		ck_assert_msg(o != NULL, "token body not JSON: %s", r.body);
		if (r.status == 200) {
			ck_assert_str_eq(jstr(o, "token_type"), "Bearer");
			ck_assert(json_object_is_type(jget(o, "expires_in"), json_type_int));
			if (tok)
				*tok = strdup(jstr(o, "access_token"));
		} else {
			ck_assert_ptr_nonnull(jstr(o, "error"));
			if (err_desc && json_object_object_get_ex(o, "error_description", &v))
				*err_desc = strdup(json_object_get_string(v));
			if (err_desc && !*err_desc)
				*err_desc = strdup(jstr(o, "error"));
		}
		json_object_put(o);
	}
	hfree(&r);
	return r.status;
}

static void write_pub(EVP_PKEY *k, const char *path)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(PEM_write_PUBKEY(f, k), 1);
	fclose(f);
}

static void expect_rejected(const emu_t *e, const char *jws, const char *needle)
{
	char *desc = NULL;
	long st = token_req(e, jws, "client_credentials", NULL, &desc);
	ck_assert_msg(st == 401 || st == 400, "status %ld for expected rejection '%s'", st, needle);
	ck_assert_msg(desc && strstr(desc, needle), "'%s' not in '%s'", needle, desc ? desc : "(null)");
	free(desc);
}

START_TEST(test_oauth)
{
	emu_t e;
	EVP_PKEY *k = EVP_EC_gen("P-256"), *other = EVP_EC_gen("P-256");
	char dir[] = "/tmp/emu-selftest-XXXXXX", pub[128], arg[160], aud[128], *c, *jws, *tok = NULL, *tok2 = NULL;
	char bearer[200], *desc = NULL;
	long long now = (long long)time(NULL);
	const char *hdr = "{\"alg\":\"ES256\",\"typ\":\"JWT\"}";
	hres r;

	ck_assert_ptr_nonnull(k);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(pub, sizeof(pub), "%s/pub.pem", dir);
	write_pub(k, pub);
	snprintf(arg, sizeof(arg), "cid1=%s", pub);
	start(&e, (const char *[]){ "--oauth-client", arg, "--disable-basic", "--token-ttl", "2", NULL });
	snprintf(aud, sizeof(aud), "\"%s/oauth/token/\"", e.url);

	/* happy path */
	c = claims("cid1", "cid1", aud, now, now + 3600, "jti-1");
	jws = make_jws(k, hdr, c, "es256");
	ck_assert_int_eq(token_req(&e, jws, "client_credentials", &tok, NULL), 200);
	ck_assert_uint_ge(strlen(tok), 32);
	snprintf(bearer, sizeof(bearer), "Authorization: Bearer %s", tok);
	ck_assert_int_eq(http_full(&r, &e, "GET", CONF, AUTH_HEADER, bearer, NULL, NULL, 0), 200);
	hfree(&r);
	ck_assert_int_eq(api(&r, &e, "GET", CONF, NULL), 401); /* Basic disabled */
	hfree(&r);
	ck_assert_int_eq(emu_stat(&e, "tokens_issued"), 1);
	/* the same jti again */
	expect_rejected(&e, jws, "jti");
	free(jws);
	free(c);

	/* aud as an array containing it */
	{
		char arr[200];
		snprintf(arr, sizeof(arr), "[\"other\",%s]", aud);
		c = claims("cid1", "cid1", arr, now, now + 60, "jti-arr");
		jws = make_jws(k, hdr, c, "es256");
		ck_assert_int_eq(token_req(&e, jws, "client_credentials", &tok2, NULL), 200);
		ck_assert_str_ne(tok, tok2);
		free(jws);
		free(c);
	}

	/* rejections */
	c = claims("cid1", "cid1", aud, now, now + 60, "jti-none");
	jws = make_jws(k, "{\"alg\":\"none\"}", c, "none");
	expect_rejected(&e, jws, "alg");
	free(jws);
	jws = make_jws(k, "{\"alg\":\"HS256\"}", c, "es256");
	expect_rejected(&e, jws, "alg");
	free(jws);
	jws = make_jws(other, hdr, c, "es256"); /* wrong key */
	expect_rejected(&e, jws, "signature");
	free(jws);
	jws = make_jws(k, hdr, c, "der"); /* DER instead of R||S */
	expect_rejected(&e, jws, "signature");
	free(jws);
	free(c);
	c = claims("cid1", "cid1", "\"https://elsewhere/oauth/token/\"", now, now + 60, "jti-aud");
	jws = make_jws(k, hdr, c, "es256");
	expect_rejected(&e, jws, "aud");
	free(jws);
	free(c);
	c = claims("cid1", "cid1", aud, now - 7200, now - 3600, "jti-exp");
	jws = make_jws(k, hdr, c, "es256");
	expect_rejected(&e, jws, "expired");
	free(jws);
	free(c);
	c = claims("cid1", "cid1", aud, now + 600, now + 3600, "jti-iat");
	jws = make_jws(k, hdr, c, "es256");
	expect_rejected(&e, jws, "iat");
	free(jws);
	free(c);
	c = claims("cid1", "cid1", aud, now, now + 60, NULL);
	jws = make_jws(k, hdr, c, "es256");
	expect_rejected(&e, jws, "jti");
	free(jws);
	free(c);
	c = claims("cid2", "cid2", aud, now, now + 60, "jti-unk");
	jws = make_jws(k, hdr, c, "es256");
	expect_rejected(&e, jws, "unknown client");
	free(jws);
	free(c);
	c = claims("cid1", "someone", aud, now, now + 60, "jti-sub");
	jws = make_jws(k, hdr, c, "es256");
	expect_rejected(&e, jws, "sub");
	ck_assert_int_eq(token_req(&e, jws, "password", NULL, &desc), 400);
	free(desc);
	free(jws);
	free(c);
	expect_rejected(&e, "garbage", "JWS");
	expect_rejected(&e, "a.b.c.d", "JWS");
	expect_rejected(&e, "eyJhbGciOiJFUzI1NiJ9.e30.", "iss");
	ck_assert_int_eq(emu_stat(&e, "tokens_issued"), 2);
	ck_assert_int_ge(emu_stat(&e, "token_requests"), 16);
	ck_assert_int_ge(emu_stat(&e, "auth_failures"), 12);

	/* revocation */
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/revoke_tokens", NULL, NULL), 200);
	ck_assert_int_eq(http_full(&r, &e, "GET", CONF, AUTH_HEADER, bearer, NULL, NULL, 0), 401);
	hfree(&r);

	/* expiry after --token-ttl (2 s) */
	free(tok);
	c = claims("cid1", "cid1", aud, now, now + 3600, "jti-ttl");
	jws = make_jws(k, hdr, c, "es256");
	ck_assert_int_eq(token_req(&e, jws, "client_credentials", &tok, NULL), 200);
	snprintf(bearer, sizeof(bearer), "Authorization: Bearer %s", tok);
	ck_assert_int_eq(http_full(&r, &e, "GET", CONF, AUTH_HEADER, bearer, NULL, NULL, 0), 200);
	hfree(&r);
	usleep(2300 * 1000);
	ck_assert_int_eq(http_full(&r, &e, "GET", CONF, AUTH_HEADER, bearer, NULL, NULL, 0), 401);
	hfree(&r);
	/* the jti stays spent while its assertion could be valid */
	expect_rejected(&e, jws, "jti");
	free(jws);
	free(c);

	stop_clean(&e);
	free(tok);
	free(tok2);
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
	unlink(pub);
	rmdir(dir);
}
END_TEST

START_TEST(test_bad_command_line)
{
	emu_t e;
	ck_assert_int_eq(emu_start(&e, (const char *[]){ "--oauth-client", "x=/nonexistent.pem", NULL }), -1);
	ck_assert_int_eq(e.exit_status, 2);
	ck_assert_int_eq(emu_start(&e, (const char *[]){ "--port", "99999", NULL }), -1);
	ck_assert_int_eq(emu_start(&e, (const char *[]){ "--tls-cert", "/x", NULL }), -1);
	ck_assert_int_eq(emu_start(&e, (const char *[]){ "--bogus", NULL }), -1);
	ck_assert_int_eq(e.pid, 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Modes                                                              */
/* ------------------------------------------------------------------ */

/* POST /_emu/mode; returns the status. */
static long set_mode(const emu_t *e, const char *json)
{
	return emu_ctl((emu_t *)e, "POST", "/_emu/mode", json, NULL);
}

START_TEST(test_modes)
{
	emu_t e;
	hres r;
	json_object *o, *m;
	long long id;

	start(&e, (const char *[]){ "--mode", "{\"loose_name\": true}", NULL });
	/* the start-up mode; a bad POST changes nothing */
	m = get_json(&e, "/_emu/mode");
	ck_assert(json_object_get_boolean(jget(m, "loose_name")));
	ck_assert(!json_object_get_boolean(jget(m, "null_fields")));
	ck_assert(json_object_is_type(jget(m, "require_scope"), json_type_null));
	json_object_put(m);
	ck_assert_int_eq(set_mode(&e, "{\"null_fields\": true, \"bogus\": 1}"), 400);
	ck_assert_int_eq(set_mode(&e, "{\"refuse_filters\": \"tag\"}"), 400);
	ck_assert_int_eq(set_mode(&e, "{\"max_assertion_lifetime_s\": -1}"), 400);
	m = get_json(&e, "/_emu/mode");
	ck_assert(!json_object_get_boolean(jget(m, "null_fields")));
	json_object_put(m);

	/* loose_name: name= matches as icontains, on both APIs */
	create(&e, "{\"name\": \"room1\"}");
	create(&e, "{\"name\": \"room10\"}");
	create(&e, "{\"name\": \"ROOM1x\"}");
	create(&e, "{\"name\": \"other\"}");
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/conference/start", "{\"name\": \"room10\"}", NULL), 200);
	ck_assert_int_eq(total_count(&e, CONF "?name=room1"), 3);
	ck_assert_int_eq(total_count(&e, SCONF "?name=room1"), 1);
	ck_assert_int_eq(total_count(&e, CONF "?name__exact=room1"), 1);
	ck_assert_int_eq(set_mode(&e, "{\"loose_name\": false}"), 200);
	ck_assert_int_eq(total_count(&e, CONF "?name=room1"), 1);
	ck_assert_int_eq(total_count(&e, SCONF "?name=room1"), 0);

	/* refuse_filters: everywhere, or on one API */
	ck_assert_int_eq(set_mode(&e, "{\"refuse_filters\": [\"tag\", \"status/name__startswith\"]}"), 200);
	ck_assert_int_eq(api(&r, &e, "GET", CONF "?tag=x", NULL), 400);
	assert_error_key(r.body, "The 'tag' field does not allow filtering.");
	hfree(&r);
	ck_assert_int_eq(api(&r, &e, "GET", SCONF "?name__startswith=room", NULL), 400);
	assert_error_key(r.body, "The 'name' field does not allow filtering.");
	hfree(&r);
	ck_assert_int_eq(total_count(&e, CONF "?name__startswith=room"), 2);
	ck_assert_int_eq(total_count(&e, CONF "?tag__startswith=x"), 0);   /* another key */

	/* absolute_location, patch_body, null_fields */
	ck_assert_int_eq(set_mode(&e, "{\"absolute_location\": true, \"patch_body\": true, "
		"\"null_fields\": true}"), 200);
	ck_assert_int_eq(api(&r, &e, "POST", CONF, "{\"name\": \"shapes\"}"), 201);
	ck_assert_msg(sscanf(r.location, "https://pexip.example.com" CONF "%lld/", &id) == 1, "%s", r.location);
	hfree(&r);
	ck_assert_int_eq(api(&r, &e, "PATCH", CONF "5/", "{\"description\": \"d\"}"), 202);
	o = json_tokener_parse(r.body);
	ck_assert_ptr_nonnull(o);
	ck_assert_str_eq(jstr(o, "name"), "shapes");
	ck_assert_str_eq(jstr(o, "description"), "d");
	json_object_put(o);
	hfree(&r);
	o = get_json(&e, CONF "5/");
	ck_assert(json_object_is_type(jget(o, "tag"), json_type_null));
	ck_assert(json_object_is_type(jget(o, "pin"), json_type_null));
	ck_assert(json_object_is_type(jget(o, "participant_limit"), json_type_null));
	ck_assert_str_eq(jstr(o, "description"), "d");
	ck_assert_int_eq(json_object_array_length(jget(o, "aliases")), 0);
	json_object_put(o);
	ck_assert_int_eq(api(&r, &e, "PUT", CONF "5/", "{\"name\": \"shapes\"}"), 204);
	hfree(&r);

	/* reset goes back to the start-up mode */
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/reset", NULL, NULL), 200);
	m = get_json(&e, "/_emu/mode");
	ck_assert(json_object_get_boolean(jget(m, "loose_name")));
	ck_assert(!json_object_get_boolean(jget(m, "patch_body")));
	ck_assert_int_eq(json_object_array_length(jget(m, "refuse_filters")), 0);
	json_object_put(m);
	stop_clean(&e);
	ck_assert_int_eq(emu_start(&e, (const char *[]){ "--mode", "{\"loose\": 1}", NULL }), -1);
	ck_assert_int_eq(e.exit_status, 2);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Faults                                                             */
/* ------------------------------------------------------------------ */

/* A GET of the conference list on its own thread (the hold fault). */
typedef struct held_req {
	const emu_t *e;
	long status;
	hres r;
} held_req;

static void *held_get(void *arg)
{
	held_req *h = arg;
	h->status = api(&h->r, h->e, "GET", CONF, NULL);
	return NULL;
}

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

START_TEST(test_faults)
{
	emu_t e;
	hres r;
	int i, n503 = 0, n200 = 0;
	char *body = NULL;
	json_object *o;

	start(&e, (const char *[]){ "--seed", "42", NULL });
	/* settings round-trip, validation */
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"rate_503\": 0.3}", NULL), 200);
	ck_assert_int_eq(emu_ctl(&e, "GET", "/_emu/faults", NULL, &body), 200);
	o = json_tokener_parse(body);
	ck_assert(json_object_get_double(jget(o, "rate_503")) == 0.3);
	ck_assert_int_eq(jint(o, "permanent_status"), 0);
	json_object_put(o);
	free(body);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"rate_5033\": 0.3}", NULL), 400);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"rate_500\": 1.5}", NULL), 400);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"rate_500\": 0.8}", NULL), 400); /* sum > 1 */
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"permanent_status\": 42}", NULL), 400);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "nope", NULL), 400);

	/* rate roughly applied */
	for (i = 0; i < 300; i++) {
		long st = api(&r, &e, "GET", CONF, NULL);
		if (st == 503) {
			n503++;
			assert_error_key(r.body, "injected failure 503");
		} else if (st == 200) {
			n200++;
		}
		hfree(&r);
	}
	ck_assert_int_eq(n503 + n200, 300);
	ck_assert_msg(n503 > 60 && n503 < 120, "503s: %d of 300 at rate 0.3", n503);
	ck_assert_int_eq(emu_stat(&e, "faults_injected"), n503);
	ck_assert_int_eq(emu_stat(&e, "by_status.503"), n503);

	/* faults are decided before processing: a 503 never creates */
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"rate_503\": 1}", NULL), 200);
	ck_assert_int_eq(api(&r, &e, "POST", CONF, "{\"name\":\"never\"}"), 503);
	hfree(&r);
	ck_assert_int_eq(emu_stat(&e, "conferences"), 0);

	/* 429 with Retry-After */
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"rate_503\": 0, \"rate_429\": 1, \"retry_after_s\": 7}", NULL), 200);
	ck_assert_int_eq(api(&r, &e, "GET", CONF, NULL), 429);
	ck_assert_str_eq(r.retry_after, "7");
	hfree(&r);

	/* the next N requests fail (429 with Retry-After by default), then service resumes */
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"rate_429\": 0, \"fail_next\": 2, \"retry_after_s\": 1}", NULL), 200);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(api(&r, &e, "GET", CONF, NULL), 429);
		ck_assert_str_eq(r.retry_after, "1");
		hfree(&r);
	}
	ck_assert_int_eq(api(&r, &e, "GET", CONF, NULL), 200);
	hfree(&r);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"fail_next\": 1, \"fail_next_status\": 503}", NULL), 200);
	ck_assert_int_eq(api(&r, &e, "GET", CONF, NULL), 503);
	hfree(&r);
	ck_assert_int_eq(api(&r, &e, "GET", CONF, NULL), 200);
	hfree(&r);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"fail_next\": -1}", NULL), 400);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"fail_next_status\": 200}", NULL), 400);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"fail_next\": 0.5}", NULL), 400);

	/* drop: no response at all */
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"rate_drop\": 1}", NULL), 200);
	ck_assert_int_eq(api(&r, &e, "POST", CONF, "{\"name\":\"dropped\"}"), 0);
	ck_assert_int_eq(r.cc, CURLE_GOT_NOTHING);
	hfree(&r);
	ck_assert_int_eq(emu_stat(&e, "conferences"), 0);

	/* drop after processing: the change happened, the client saw nothing */
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"rate_drop\": 0, \"rate_drop_after\": 1}", NULL), 200);
	ck_assert_int_eq(api(&r, &e, "POST", CONF, "{\"name\":\"ambiguous\"}"), 0);
	ck_assert_int_eq(r.cc, CURLE_GOT_NOTHING);
	hfree(&r);
	ck_assert_int_eq(emu_stat(&e, "conferences"), 1);
	ck_assert_int_eq(emu_stat(&e, "dropped"), 2);

	/* permanent status; the control API is never faulted */
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"rate_drop_after\": 0, \"permanent_status\": 500}", NULL), 200);
	ck_assert_int_eq(api(&r, &e, "GET", CONF "1/", NULL), 500);
	{
		json_object *er = json_tokener_parse(r.body);
		ck_assert_str_eq(jstr(er, "error"), "injected failure 500");
		json_object_put(er);
	}
	hfree(&r);
	ck_assert_int_eq(emu_stat(&e, "conferences"), 1);
	/* the token endpoint is spared unless apply_to_token */
	ck_assert_int_eq(token_req(&e, "x.y.z", "client_credentials", NULL, NULL), 401);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"apply_to_token\": true}", NULL), 200);
	ck_assert_int_eq(token_req(&e, "x.y.z", "client_credentials", NULL, NULL), 500);

	/* latency */
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"permanent_status\": 0, \"latency_ms\": 150, "
						   "\"latency_jitter_ms\": 50}", NULL), 200);
	ck_assert_int_eq(api(&r, &e, "GET", CONF, NULL), 200);
	ck_assert_msg(r.secs >= 0.15 && r.secs < 2.0, "took %.3f s", r.secs);
	hfree(&r);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"latency_ms\": 0, \"latency_jitter_ms\": 0, "
						   "\"spike_rate\": 1, \"spike_ms\": 120}", NULL), 200);
	ck_assert_int_eq(api(&r, &e, "GET", CONF, NULL), 200);
	ck_assert(r.secs >= 0.12);
	hfree(&r);
	ck_assert_int_eq(emu_stat(&e, "latency_spikes"), 1);

	/* rate limit per minute */
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/reset", NULL, NULL), 200);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"rate_limit_per_minute\": 5}", NULL), 200);
	for (i = 0; i < 5; i++) {
		ck_assert_int_eq(api(&r, &e, "GET", CONF, NULL), 200);
		hfree(&r);
	}
	ck_assert_int_eq(api(&r, &e, "GET", CONF, NULL), 429);
	ck_assert_int_ge(atoi(r.retry_after), 1);
	ck_assert_int_le(atoi(r.retry_after), 60);
	hfree(&r);
	ck_assert_int_eq(emu_stat(&e, "rate_limited"), 1);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"rate_limit_per_minute\": 0}", NULL), 200);
	ck_assert_int_eq(api(&r, &e, "GET", CONF, NULL), 200);
	hfree(&r);

	/* hold: a request waits, counted in flight, until the hold is released */
	{
		held_req h = { &e, 0, { 0 } };
		pthread_t th;
		long long until = mono_ms() + 30000;
		ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"hold\": 1}", NULL), 400);
		ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"hold\": true}", NULL), 200);
		ck_assert_int_eq(pthread_create(&th, NULL, held_get, &h), 0);
		while (emu_stat(&e, "in_flight") < 1 && mono_ms() < until)
			usleep(10 * 1000);
		ck_assert_int_eq(emu_stat(&e, "in_flight"), 1);
		ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"hold\": false}", NULL), 200);
		ck_assert_int_eq(pthread_join(th, NULL), 0);
		ck_assert_int_eq(h.status, 200);
		hfree(&h.r);
		ck_assert_int_eq(emu_stat(&e, "in_flight"), 0);
	}
	stop_clean(&e);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Concurrency and connections                                        */
/* ------------------------------------------------------------------ */

/* n parallel requests over n connections with the multi interface. */
static void parallel_gets(const emu_t *e, int n, const char *path)
{
	CURLM *m = curl_multi_init();
	CURL **hs = calloc((size_t)n, sizeof(*hs));
	hres *rs = calloc((size_t)n, sizeof(*rs));
	struct curl_slist **hd = calloc((size_t)n, sizeof(*hd));
	int i, running = 0, ok = 0;
	CURLMsg *msg;
	curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, 0L);
	curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
	for (i = 0; i < n; i++) {
		hs[i] = make_req(&rs[i], e, "GET", path, AUTH_BASIC, NULL, NULL, NULL, 0, &hd[i]);
		curl_multi_add_handle(m, hs[i]);
	}
	do {
		curl_multi_perform(m, &running);
		if (running)
			curl_multi_poll(m, NULL, 0, 100, NULL);
	} while (running);
	while ((msg = curl_multi_info_read(m, &i))) {
		long st = 0;
		if (msg->msg == CURLMSG_DONE && msg->data.result == CURLE_OK) {
			curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &st);
			ok += st == 200;
		}
	}
	for (i = 0; i < n; i++) {
		curl_multi_remove_handle(m, hs[i]);
		curl_easy_cleanup(hs[i]);
		curl_slist_free_all(hd[i]);
		hfree(&rs[i]);
	}
	curl_multi_cleanup(m);
	free(hs);
	free(rs);
	free(hd);
	ck_assert_int_eq(ok, n);
}

START_TEST(test_concurrency)
{
	emu_t e;
	hres r;
	CURL *h;
	struct curl_slist *hd = NULL;
	int i;
	const char *lat = under_valgrind ? "{\"latency_ms\": 2000}" : "{\"latency_ms\": 400}";

	start(&e, NULL);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/populate", "{\"count\": 3}", NULL), 200);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", lat, NULL), 200);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/reset_stats", NULL, NULL), 200);
	parallel_gets(&e, 16, CONF "?limit=1");
	ck_assert_int_eq(emu_stat(&e, "max_in_flight"), 16);
	ck_assert_int_eq(emu_stat(&e, "in_flight"), 0);
	ck_assert_int_eq(emu_stat(&e, "connections_opened"), 16);
	ck_assert_int_eq(emu_stat(&e, "requests"), 16);

	/* 200 concurrent connections */
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/reset_stats", NULL, NULL), 200);
	parallel_gets(&e, 200, CONF "1/");
	ck_assert_int_eq(emu_stat(&e, "max_in_flight"), 200);
	ck_assert_int_eq(emu_stat(&e, "by_status.200"), 200);

	/* keep-alive: one handle, one connection */
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"latency_ms\": 0}", NULL), 200);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/reset_stats", NULL, NULL), 200);
	h = make_req(&r, &e, "GET", CONF "1/", AUTH_BASIC, NULL, NULL, NULL, 0, &hd);
	for (i = 0; i < 10; i++) {
		long st = 0;
		ck_assert_int_eq(curl_easy_perform(h), CURLE_OK);
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
		ck_assert_int_eq(st, 200);
	}
	curl_easy_cleanup(h);
	curl_slist_free_all(hd);
	hfree(&r);
	ck_assert_int_eq(emu_stat(&e, "connections_opened"), 1);
	ck_assert_int_eq(emu_stat(&e, "requests"), 10);
	ck_assert_int_eq(emu_stat(&e, "max_in_flight"), 1);
	stop_clean(&e);
}
END_TEST

/* hold_prefix and hold_method: a held request waits until the setting
 * changes; the other one and the control API are not held */
typedef struct hold_req {
	const emu_t *e;
	const char *method, *path, *body;
	long status;
} hold_req;

static void *held_main(void *arg)
{
	hold_req *g = arg;
	hres r;
	g->status = api(&r, g->e, g->method, g->path, g->body);
	hfree(&r);
	return NULL;
}

/* @p bad is a setting refused, @p on holds @p g's request (answered
 * @p want once @p off releases it), @p other_path (a GET) is not held. */
static void check_hold(hold_req *g, const char *bad, const char *on, const char *off,
	const char *other_path, long want)
{
	emu_t e;
	hres r;
	pthread_t th;

	start(&e, NULL);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", bad, NULL), 400);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", on, NULL), 200);
	g->e = &e;
	g->status = -1;
	ck_assert_int_eq(pthread_create(&th, NULL, held_main, g), 0);
	while (emu_stat(&e, "held") != 1)
		usleep(10 * 1000);
	ck_assert_int_eq(emu_stat(&e, "in_flight"), 1);
	ck_assert_int_eq(api(&r, &e, "GET", other_path, NULL), 200);
	hfree(&r);
	ck_assert_int_eq(g->status, -1);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", off, NULL), 200);
	pthread_join(th, NULL);
	ck_assert_int_eq(g->status, want);
	ck_assert_int_eq(emu_stat(&e, "held"), 0);
	ck_assert_int_eq(emu_stat(&e, "held_total"), 1);
	stop_clean(&e);
}

START_TEST(test_hold)
{
	hold_req g = { NULL, "GET", CONF "?name=hold-me", NULL, -1 };
	check_hold(&g, "{\"hold_prefix\": 5}", "{\"hold_prefix\": \"hold-\"}", "{\"hold_prefix\": \"\"}",
		CONF "?name=other", 200);
}
END_TEST

/* hold_method: every request of that method waits, whatever its target */
START_TEST(test_hold_method)
{
	hold_req g = { NULL, "POST", CONF, "{\"name\": \"held-post\", \"service_type\": \"conference\"}", -1 };
	check_hold(&g, "{\"hold_method\": true}", "{\"hold_method\": \"POST\"}", "{\"hold_method\": \"\"}",
		CONF "?name=held-post", 201);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Status API and control hooks                                       */
/* ------------------------------------------------------------------ */

START_TEST(test_status)
{
	emu_t e;
	hres r;
	json_object *o, *objs;
	char *body = NULL, path[256];
	const char *uuid;

	start(&e, NULL);
	create(&e, "{\"name\":\"live_a\",\"tag\":\"tagA\",\"service_type\":\"lecture\"}");
	ck_assert_int_eq(total_count(&e, SCONF), 0);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/conference/start", "{\"name\":\"live_a\",\"participants\":3}", &body),
			 200);
	free(body);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/conference/start", "{\"name\":\"ghost\"}", NULL), 200);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/conference/start", "{}", NULL), 400);
	ck_assert_int_eq(emu_stat(&e, "live"), 2);
	ck_assert_int_eq(emu_stat(&e, "participants"), 4);

	o = get_json(&e, SCONF "?name=live_a");
	objs = jget(o, "objects");
	ck_assert_int_eq(jint(jget(o, "meta"), "total_count"), 1);
	ck_assert_str_eq(jstr(json_object_array_get_idx(objs, 0), "name"), "live_a");
	ck_assert_str_eq(jstr(json_object_array_get_idx(objs, 0), "tag"), "tagA");
	ck_assert_str_eq(jstr(json_object_array_get_idx(objs, 0), "service_type"), "lecture");
	ck_assert_int_eq(json_object_get_boolean(jget(json_object_array_get_idx(objs, 0), "is_started")), 1);
	uuid = jstr(json_object_array_get_idx(objs, 0), "id");
	ck_assert_uint_eq(strlen(uuid), 36);
	snprintf(path, sizeof(path), SCONF "%s/", uuid);
	ck_assert_str_eq(jstr(json_object_array_get_idx(objs, 0), "resource_uri"), path);
	json_object_put(get_json(&e, path));
	json_object_put(o);
	ck_assert_int_eq(total_count(&e, SCONF "?name__startswith=live"), 1);
	ck_assert_int_eq(total_count(&e, SCONF "?service_type=conference"), 1);
	ck_assert_int_eq(total_count(&e, SCONF "?tag=tagA"), 1);
	ck_assert_int_eq(total_count(&e, SCONF), 2);
	ck_assert_int_eq(total_count(&e, SPART "?conference=live_a"), 3);
	ck_assert_int_eq(total_count(&e, SPART "?conference=ghost"), 1);
	o = get_json(&e, SPART "?conference=live_a&role=chair");
	ck_assert_int_eq(jint(jget(o, "meta"), "total_count"), 1);
	snprintf(path, sizeof(path), SPART "%s/", jstr(json_object_array_get_idx(jget(o, "objects"), 0), "id"));
	json_object_put(o);
	json_object_put(get_json(&e, path));
	ck_assert_int_eq(api(&r, &e, "GET", SCONF "00000000-0000-0000-0000-000000000000/", NULL), 404);
	hfree(&r);
	ck_assert_int_eq(api(&r, &e, "DELETE", SCONF, NULL), 405);
	hfree(&r);
	ck_assert_int_eq(api(&r, &e, "POST", SCONF, "{}"), 405);
	hfree(&r);

	/* restarting changes the participant count */
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/conference/start", "{\"name\":\"live_a\",\"participants\":1}", NULL),
			 200);
	ck_assert_int_eq(total_count(&e, SPART "?conference=live_a"), 1);

	/* stop */
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/conference/stop", "{\"name\":\"live_a\"}", NULL), 200);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/conference/stop", "{\"name\":\"live_a\"}", NULL), 404);
	ck_assert_int_eq(total_count(&e, SCONF "?name=live_a"), 0);
	ck_assert_int_eq(total_count(&e, SPART "?conference=live_a"), 0);
	ck_assert_int_eq(emu_stat(&e, "live"), 1);

	/* command API */
	o = get_json(&e, SCONF "?name=ghost");
	snprintf(path, sizeof(path), "{\"conference_id\":\"%s\"}",
		 jstr(json_object_array_get_idx(jget(o, "objects"), 0), "id"));
	json_object_put(o);
	ck_assert_int_eq(api(&r, &e, "POST", "/api/admin/command/v1/conference/lock/", path), 202);
	hfree(&r);
	ck_assert_int_eq(total_count(&e, SCONF "?is_locked=True"), 1);
	ck_assert_int_eq(api(&r, &e, "POST", "/api/admin/command/v1/conference/disconnect/", path), 202);
	hfree(&r);
	ck_assert_int_eq(api(&r, &e, "POST", "/api/admin/command/v1/conference/disconnect/", path), 404);
	hfree(&r);
	ck_assert_int_eq(emu_stat(&e, "live"), 0);
	stop_clean(&e);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Event driver against a receiver in this process                    */
/* ------------------------------------------------------------------ */

typedef struct receiver {
	pthread_mutex_t lock;
	char *bodies[32];
	char auth[32][128];
	int n;
} receiver;

typedef struct upload {
	char *p;
	size_t n;
} upload;

static enum MHD_Result rx_handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *data, size_t *size, void **con_cls)
{
	receiver *rx = cls;
	upload *u = *con_cls;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	const char *a;
	(void)version;
	(void)method;
	if (!u) {
		u = calloc(1, sizeof(*u));
		*con_cls = u;
		return MHD_YES;
	}
	if (*size) {
		u->p = realloc(u->p, u->n + *size + 1);
		memcpy(u->p + u->n, data, *size);
		u->n += *size;
		u->p[u->n] = 0;
		*size = 0;
		return MHD_YES;
	}
	a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	pthread_mutex_lock(&rx->lock);
	if (rx->n < 32) {
		rx->bodies[rx->n] = u->p ? strdup(u->p) : strdup("");
		snprintf(rx->auth[rx->n], sizeof(rx->auth[0]), "%s", a ? a : "");
		rx->n++;
	}
	pthread_mutex_unlock(&rx->lock);
	resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	ret = MHD_queue_response(c, strstr(url, "fail") ? 503 : 200, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void rx_done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
	upload *u = *con_cls;
	(void)cls;
	(void)c;
	(void)t;
	if (u) {
		free(u->p);
		free(u);
	}
	*con_cls = NULL;
}

static json_object *rx_doc(receiver *rx, int i)
{
	json_object *o;
	pthread_mutex_lock(&rx->lock);
	ck_assert_int_lt(i, rx->n);
	o = json_tokener_parse(rx->bodies[i]);
	pthread_mutex_unlock(&rx->lock);
	ck_assert_ptr_nonnull(o);
	return o;
}

START_TEST(test_events)
{
	emu_t e;
	receiver rx;
	struct MHD_Daemon *d;
	const union MHD_DaemonInfo *di;
	char req[512], *body = NULL;
	json_object *o, *data, *arr;
	int port, i;

	memset(&rx, 0, sizeof(rx));
	pthread_mutex_init(&rx.lock, NULL);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL,
			     rx_handler, &rx, MHD_OPTION_NOTIFY_COMPLETED, rx_done, NULL, MHD_OPTION_END);
	ck_assert_ptr_nonnull(d);
	di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	port = di->port;

	start(&e, NULL);
	create(&e, "{\"name\":\"ev_a\",\"tag\":\"T\"}");
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/conference/start", "{\"name\":\"ev_a\"}", NULL), 200);

	/* one POST per name, Basic auth, seq 1, 2 */
	snprintf(req, sizeof(req), "{\"url\":\"http://127.0.0.1:%d/sink\",\"username\":\"u\",\"password\":\"p\","
				   "\"names\":[\"ev_a\",\"ev_b\"]}", port);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/events", req, &body), 200);
	o = json_tokener_parse(body);
	ck_assert_int_eq(jint(o, "sent"), 2);
	ck_assert_int_eq(json_object_get_int(json_object_array_get_idx(jget(o, "statuses"), 0)), 200);
	ck_assert_int_eq(json_object_get_int(json_object_array_get_idx(jget(o, "statuses"), 1)), 200);
	json_object_put(o);
	free(body);
	ck_assert_int_eq(rx.n, 2);
	ck_assert_str_eq(rx.auth[0], "Basic dTpw");
	for (i = 0; i < 2; i++) {
		o = rx_doc(&rx, i);
		ck_assert_str_eq(jstr(o, "event"), "conference_ended");
		ck_assert_int_eq(jint(o, "seq"), i + 1);
		ck_assert_int_eq(jint(o, "version"), 2);
		ck_assert(json_object_is_type(jget(o, "time"), json_type_double));
		ck_assert_str_eq(jstr(o, "node"), "127.0.0.1");
		data = jget(o, "data");
		ck_assert_str_eq(jstr(data, "name"), i ? "ev_b" : "ev_a");
		ck_assert(json_object_is_type(jget(data, "end_time"), json_type_double));
		ck_assert(json_object_is_type(jget(data, "start_time"), json_type_double));
		jget(data, "is_locked");
		jget(data, "guests_muted");
		jget(data, "is_started");
		jget(data, "service_type");
		if (i == 0)
			ck_assert_str_eq(jstr(data, "tag"), "T");
		json_object_put(o);
	}

	/* bulk, no auth; seq continues per (node, url) */
	snprintf(req, sizeof(req), "{\"url\":\"http://127.0.0.1:%d/sink\",\"names\":[\"x\",\"y\",\"z\"],\"bulk\":true,"
				   "\"event\":\"conference_started\"}", port);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/events", req, NULL), 200);
	ck_assert_int_eq(rx.n, 3);
	ck_assert_str_eq(rx.auth[2], "");
	o = rx_doc(&rx, 2);
	ck_assert_str_eq(jstr(o, "event"), "eventsink_bulk");
	arr = jget(o, "data");
	ck_assert_uint_eq(json_object_array_length(arr), 3);
	for (i = 0; i < 3; i++) {
		json_object *in = json_object_array_get_idx(arr, i);
		ck_assert_str_eq(jstr(in, "event"), "conference_started");
		ck_assert_int_eq(jint(in, "seq"), 3 + i);
		ck_assert(!json_object_object_get_ex(jget(in, "data"), "end_time", NULL));
	}
	json_object_put(o);

	/* lifecycle and participant events; a failing sink's status */
	snprintf(req, sizeof(req), "{\"url\":\"http://127.0.0.1:%d/fail\",\"event\":\"eventsink_started\"}", port);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/events", req, &body), 200);
	o = json_tokener_parse(body);
	ck_assert_int_eq(json_object_get_int(json_object_array_get_idx(jget(o, "statuses"), 0)), 503);
	json_object_put(o);
	free(body);
	o = rx_doc(&rx, 3);
	ck_assert_int_eq(jint(o, "seq"), 1); /* another url, another counter */
	ck_assert_int_eq(json_object_object_length(jget(o, "data")), 0);
	json_object_put(o);
	snprintf(req, sizeof(req), "{\"url\":\"http://127.0.0.1:%d/sink\",\"event\":\"participant_disconnected\","
				   "\"names\":[\"ev_a\"],\"version\":1}", port);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/events", req, NULL), 200);
	o = rx_doc(&rx, 4);
	ck_assert_int_eq(jint(o, "version"), 1);
	ck_assert_str_eq(jstr(jget(o, "data"), "conference"), "ev_a");
	jget(jget(o, "data"), "disconnect_reason");
	json_object_put(o);

	/* unreachable sink: status 0; bad requests */
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/events",
				 "{\"url\":\"http://127.0.0.1:1/x\",\"names\":[\"a\"],\"timeout_ms\":2000}", &body), 200);
	ck_assert_ptr_nonnull(strstr(body, "\"statuses\":[0]"));
	free(body);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/events", "{\"names\":[\"a\"]}", NULL), 400);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/events", "{\"url\":\"ftp://x\"}", NULL), 400);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/events", "{\"url\":\"http://x\",\"names\":[1]}", NULL), 400);
	stop_clean(&e);

	MHD_stop_daemon(d);
	for (i = 0; i < rx.n; i++)
		free(rx.bodies[i]);
	pthread_mutex_destroy(&rx.lock);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Robustness, reset, scale                                           */
/* ------------------------------------------------------------------ */

START_TEST(test_robustness)
{
	emu_t e;
	hres r;
	size_t big = 2 * 1024 * 1024;
	char *huge = malloc(big + 1);
	static const char *const odd[] = {
		"/api/admin/", "/api/admin", "/api/admin/configuration/v1/", "/api/admin/configuration/v1/conference/abc/",
		"/api/admin/configuration/v1/conference/1/extra/", "/api/admin/configuration/v1/conference//",
		"/api/admin/configuration/v1/conference/99999999999999999999999/",
		"/api/admin/configuration/v1/conference/-1/", "/api/admin/configuration/v2/conference/",
		"/api/admin/configuration/v1/nothing/", "/api/admin/status/v1/conference/a/b/",
		"/api/admin/../../etc/passwd", "/", "/favicon.ico", "/_emu/nothing",
	};
	size_t i;
	char longpath[6000];

	start(&e, NULL);
	memset(huge, ' ', big);
	huge[0] = '{';
	huge[big - 1] = '}';
	huge[big] = 0;
	ck_assert_int_eq(api(&r, &e, "POST", CONF, huge), 413);
	hfree(&r);
	{
		/* chunked, no Content-Length */
		struct curl_slist *hd = NULL;
		CURL *h = make_req(&r, &e, "POST", CONF, AUTH_BASIC, NULL, NULL, huge, big, &hd);
		hd = curl_slist_append(hd, "Transfer-Encoding: chunked");
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, -1L);
		ck_assert_int_eq(curl_easy_perform(h), CURLE_OK);
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
		ck_assert_int_eq(r.status, 413);
		curl_easy_cleanup(h);
		curl_slist_free_all(hd);
		hfree(&r);
	}
	free(huge);
	for (i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		long st = api(&r, &e, "GET", odd[i], NULL);
		ck_assert_msg(st == 404, "%s -> %ld", odd[i], st);
		hfree(&r);
	}
	memset(longpath, 'a', sizeof(longpath) - 1);
	memcpy(longpath, CONF, strlen(CONF));
	longpath[sizeof(longpath) - 1] = 0;
	api(&r, &e, "GET", longpath, NULL);
	ck_assert(r.status == 404 || r.status == 414);
	hfree(&r);
	ck_assert_int_eq(api(&r, &e, "GET", CONF "?name=%ff%fe&limit=%%%", NULL), 400); /* bad limit */
	hfree(&r);
	ck_assert_int_eq(api(&r, &e, "GET", CONF "?name=%ff%fe", NULL), 200);
	hfree(&r);
	ck_assert_int_eq(api(&r, &e, "DELETE", CONF, NULL), 405);
	hfree(&r);
	ck_assert_int_eq(api(&r, &e, "PUT", CONF, "{}"), 405);
	hfree(&r);
	ck_assert_int_eq(api(&r, &e, "OPTIONS", CONF "1/", NULL), 405);
	hfree(&r);
	ck_assert_int_eq(http_full(&r, &e, "GET", "/oauth/token/", AUTH_NONE, NULL, NULL, NULL, 0), 405);
	hfree(&r);
	ck_assert_int_eq(emu_ctl(&e, "DELETE", "/_emu/stats", NULL, NULL), 405);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/populate", "{\"count\": -1}", NULL), 400);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/populate", "{\"count\": 1, \"start\": 9223372036854775807}", NULL),
			 400);
	ck_assert_int_eq(api(&r, &e, "GET", CONF "?offset=9223372036854775807", NULL), 400);
	hfree(&r);
	ck_assert_int_eq(api(&r, &e, "GET", CONF "?offset=1000000000000&limit=1000", NULL), 200);
	hfree(&r);
	/* still fine */
	ck_assert_int_eq(emu_ctl(&e, "GET", "/_emu/health", NULL, NULL), 200);
	create(&e, "{\"name\":\"still_alive\"}");
	stop_clean(&e);
}
END_TEST

START_TEST(test_reset)
{
	emu_t e;
	hres r;
	start(&e, NULL);
	create(&e, "{\"name\":\"r1\",\"aliases\":[{\"alias\":\"r1.a\"}]}");
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/conference/start", "{\"name\":\"r1\"}", NULL), 200);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/faults", "{\"latency_ms\": 5}", NULL), 200);
	ck_assert_int_gt(emu_stat(&e, "requests"), 0);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/reset_stats", NULL, NULL), 200);
	ck_assert_int_eq(emu_stat(&e, "requests"), 0);
	ck_assert_int_eq(emu_stat(&e, "conferences"), 1);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/reset", NULL, NULL), 200);
	ck_assert_int_eq(emu_stat(&e, "conferences"), 0);
	ck_assert_int_eq(emu_stat(&e, "aliases"), 0);
	ck_assert_int_eq(emu_stat(&e, "live"), 0);
	ck_assert_int_eq(emu_stat(&e, "requests"), 0);
	/* ids start again at 1 */
	ck_assert_int_eq(create(&e, "{\"name\":\"r1\",\"aliases\":[{\"alias\":\"r1.a\"}]}"), 1);
	ck_assert_int_eq(api(&r, &e, "GET", CONF "1/", NULL), 200);
	ck_assert(r.secs < 1.0); /* faults were reset too */
	hfree(&r);
	stop_clean(&e);
}
END_TEST

START_TEST(test_scale)
{
	emu_t e;
	hres r;
	json_object *o;
	char *body = NULL;
	start(&e, NULL);
	ck_assert_int_eq(emu_ctl(&e, "POST", "/_emu/populate",
				 "{\"count\": 100000, \"prefix\": \"vmr_\", \"alias_domain\": \"example.com\"}", &body), 200);
	ck_assert_ptr_nonnull(strstr(body, "\"created\":100000"));
	free(body);
	ck_assert_int_eq(emu_stat(&e, "conferences"), 100000);
	ck_assert_int_eq(emu_stat(&e, "aliases"), 100000);
	/* exact name lookup is a map hit */
	ck_assert_int_eq(api(&r, &e, "GET", CONF "?name=vmr_099999", NULL), 200);
	ck_assert(r.secs < 0.5);
	o = json_tokener_parse(r.body);
	ck_assert_int_eq(jint(jget(o, "meta"), "total_count"), 1);
	ck_assert_str_eq(jstr(json_object_array_get_idx(jget(o, "objects"), 0), "name"), "vmr_099999");
	ck_assert_int_eq(jint(json_object_array_get_idx(jget(o, "objects"), 0), "id"), 100000);
	json_object_put(o);
	hfree(&r);
	ck_assert_int_eq(total_count(&e, CONF "?name__startswith=vmr_09999"), 10);
	ck_assert_int_eq(total_count(&e, ALIAS "?alias=vmr_000007@example.com"), 1);
	ck_assert_int_eq(api(&r, &e, "GET", CONF "100000/", NULL), 200);
	hfree(&r);
	ck_assert_int_eq(api(&r, &e, "DELETE", CONF "50000/", NULL), 204);
	hfree(&r);
	ck_assert_int_eq(total_count(&e, CONF), 99999);
	stop_clean(&e);
}
END_TEST

START_TEST(test_tls)
{
	emu_t e;
	hres r;
	char dir[] = "/tmp/emu-tls-XXXXXX", cert[128], key[128], cmd[512];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout '%s' -out '%s' "
		 "-days 2 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1", key, cert);
	if (system(cmd) != 0) {
		rmdir(dir);
		return; /* no openssl CLI: nothing to test */
	}
	start(&e, (const char *[]){ "--tls-cert", cert, "--tls-key", key, NULL });
	ck_assert_int_eq(strncmp(e.url, "https://", 8), 0);
	{
		struct curl_slist *hd = NULL;
		CURL *h = make_req(&r, &e, "GET", CONF, AUTH_BASIC, NULL, NULL, NULL, 0, &hd);
		curl_easy_setopt(h, CURLOPT_CAINFO, cert);
		ck_assert_int_eq(curl_easy_perform(h), CURLE_OK);
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
		ck_assert_int_eq(r.status, 200);
		curl_easy_cleanup(h);
		curl_slist_free_all(hd);
		hfree(&r);
	}
	/* the default audience uses https */
	ck_assert_int_eq(emu_ctl(&e, "GET", "/_emu/health", NULL, NULL), 200);
	stop_clean(&e);
	unlink(cert);
	unlink(key);
	rmdir(dir);
}
END_TEST

static Suite *emu_suite(void)
{
	Suite *s = suite_create("emulator");
	TCase *tc = tcase_create("emulator");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_crud);
	tcase_add_test(tc, test_validation);
	tcase_add_test(tc, test_pagination);
	tcase_add_test(tc, test_filters);
	tcase_add_test(tc, test_basic_auth);
	tcase_add_test(tc, test_oauth);
	tcase_add_test(tc, test_bad_command_line);
	tcase_add_test(tc, test_modes);
	tcase_add_test(tc, test_faults);
	tcase_add_test(tc, test_concurrency);
	tcase_add_test(tc, test_hold);
	tcase_add_test(tc, test_hold_method);
	tcase_add_test(tc, test_status);
	tcase_add_test(tc, test_events);
	tcase_add_test(tc, test_robustness);
	tcase_add_test(tc, test_reset);
	tcase_add_test(tc, test_scale);
	tcase_add_test(tc, test_tls);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;
	signal(SIGPIPE, SIG_IGN);
	under_valgrind = getenv("PEX_UNDER_VALGRIND") != NULL || getenv("PEX_EMULATOR_WRAPPER") != NULL;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	sr = srunner_create(emu_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	curl_global_cleanup();
	return failed ? 1 : 0;
}
