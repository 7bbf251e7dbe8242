/* An OpenID issuer's JWKS endpoint, for the room server's jwks_url:
 *
 *   GET  /discovery/v2.0/keys   the JWKS set by the control hook (404 before),
 *                               with Cache-Control: max-age=N when N >= 0
 *   POST /_emu/jwks             {"keys": [...], "max_age": N, "pad": N}: what it
 *                               serves from now on (rotation); max_age -1 sends
 *                               none; pad adds a member of N bytes (a big reply)
 *   "jwks_requests" in /_emu/stats counts the GETs.
 * Served over TLS like the rest when the emulator has --tls-cert. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu.h"

static pthread_mutex_t jwks_lock = PTHREAD_MUTEX_INITIALIZER;
static char *g_jwks;               /* the document served, or NULL */
static long long g_max_age = -1;
static atomic_llong g_requests;

int jwks_is_path(const char *url)
{
	return strcmp(url, "/discovery/v2.0/keys") == 0;
}

void jwks_serve(resp *r, const char *method)
{
	char cc[48];
	long long age;

	if (strcmp(method, "GET") != 0) {
		resp_error(r, 405, "the JWKS takes GET");
		resp_header(r, "Allow", "GET");
		return;
	}
	atomic_fetch_add(&g_requests, 1);
	pthread_mutex_lock(&jwks_lock);
	if (!g_jwks) {
		pthread_mutex_unlock(&jwks_lock);
		resp_error(r, 404, "no JWKS set (POST /_emu/jwks)");
		return;
	}
	free(r->body);
	r->body = xstrdup(g_jwks);
	r->len = strlen(r->body);
	age = g_max_age;
	pthread_mutex_unlock(&jwks_lock);
	r->status = 200;
	r->ctype = "application/json";
	if (age >= 0) {
		snprintf(cc, sizeof(cc), "max-age=%lld, private", age);
		resp_header(r, "Cache-Control", cc);
	}
}

void jwks_ctl(resp *r, json_object *in)
{
	json_object *keys, *age, *doc, *pad;
	long long max_age = -1;

	if (!json_object_object_get_ex(in, "keys", &keys) || !json_object_is_type(keys, json_type_array)) {
		resp_error(r, 400, "'keys' must be an array of JWKs");
		return;
	}
	if (json_object_object_get_ex(in, "max_age", &age)) {
		if (!json_object_is_type(age, json_type_int)) {
			resp_error(r, 400, "'max_age' must be an integer");
			return;
		}
		max_age = json_object_get_int64(age);
	}
	doc = json_object_new_object();
	json_object_object_add(doc, "keys", json_object_get(keys));
	if (json_object_object_get_ex(in, "pad", &pad)) {
		long long n = json_object_get_int64(pad);
		char *fill;
		if (!json_object_is_type(pad, json_type_int) || n < 0 || n > 8 * 1024 * 1024) {
			json_object_put(doc);
			resp_error(r, 400, "'pad' must be an integer from 0 to 8 MiB");
			return;
		}
		fill = xcalloc(1, (size_t)n + 1);
		memset(fill, 'x', (size_t)n);
		json_object_object_add(doc, "pad", json_object_new_string(fill));
		free(fill);
	}
	pthread_mutex_lock(&jwks_lock);
	free(g_jwks);
	g_jwks = json_dump(doc);
	g_max_age = max_age;
	pthread_mutex_unlock(&jwks_lock);
	json_object_put(doc);
	resp_json(r, 200, json_object_new_object());
}

long long jwks_requests(void)
{
	return atomic_load(&g_requests);
}

void jwks_reset(void)
{
	pthread_mutex_lock(&jwks_lock);
	free(g_jwks);
	g_jwks = NULL;
	g_max_age = -1;
	pthread_mutex_unlock(&jwks_lock);
	atomic_store(&g_requests, 0);
}
