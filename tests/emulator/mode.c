/* Behaviour modes: how closely the emulator imitates a particular Pexip
 * deployment (loose name filters, refused filters, OAuth2 scope and
 * assertion lifetime rules, response shapes). Set at start-up with
 * `--mode JSON` (or $PEX_EMULATOR_MODE) and changed with POST /_emu/mode;
 * POST /_emu/reset goes back to the start-up mode. Read per request. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "emu.h"

static pthread_mutex_t mode_lock = PTHREAD_MUTEX_INITIALIZER;
static emu_mode g_mode, g_start_mode;

void mode_get(emu_mode *out)
{
	pthread_mutex_lock(&mode_lock);
	*out = g_mode;
	pthread_mutex_unlock(&mode_lock);
}

bool mode_refuses(const emu_mode *m, const char *key)
{
	size_t i;
	for (i = 0; i < m->n_refuse; i++)
		if (!strcmp(m->refuse_filters[i], key))
			return true;
	return false;
}

static json_object *mode_json(const emu_mode *m)
{
	json_object *o = json_object_new_object(), *a = json_object_new_array();
	size_t i;
	json_object_object_add(o, "loose_name", json_object_new_boolean(m->loose_name));
	for (i = 0; i < m->n_refuse; i++)
		json_object_array_add(a, json_object_new_string(m->refuse_filters[i]));
	json_object_object_add(o, "refuse_filters", a);
	json_object_object_add(o, "require_scope",
		m->require_scope[0] ? json_object_new_string(m->require_scope) : NULL);
	json_object_object_add(o, "max_assertion_lifetime_s", json_object_new_int64(m->max_assertion_lifetime_s));
	json_object_object_add(o, "absolute_location", json_object_new_boolean(m->absolute_location));
	json_object_object_add(o, "patch_body", json_object_new_boolean(m->patch_body));
	json_object_object_add(o, "lowercase_token_type", json_object_new_boolean(m->lowercase_token_type));
	json_object_object_add(o, "null_fields", json_object_new_boolean(m->null_fields));
	return o;
}

/* Applies the keys of @p in to @p m; 0, or -1 with @p err set (m is then
 * partly changed: callers work on a copy). */
static int mode_parse(emu_mode *m, json_object *in, char *err, size_t errlen)
{
	static const struct {
		const char *k;
		size_t off;
	} flags[] = {
		{ "loose_name", offsetof(emu_mode, loose_name) },
		{ "absolute_location", offsetof(emu_mode, absolute_location) },
		{ "patch_body", offsetof(emu_mode, patch_body) },
		{ "lowercase_token_type", offsetof(emu_mode, lowercase_token_type) },
		{ "null_fields", offsetof(emu_mode, null_fields) },
	};
	size_t i;

	if (!json_object_is_type(in, json_type_object)) {
		snprintf(err, errlen, "the mode must be a JSON object");
		return -1;
	}
	json_object_object_foreach(in, key, v)
	{
		bool known = false;
		for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
			if (strcmp(key, flags[i].k) != 0)
				continue;
			known = true;
			if (!json_object_is_type(v, json_type_boolean)) {
				snprintf(err, errlen, "'%s' must be a boolean", key);
				return -1;
			}
			*(bool *)((char *)m + flags[i].off) = json_object_get_boolean(v);
		}
		if (known)
			continue;
		if (!strcmp(key, "refuse_filters")) {
			size_t n;
			if (!json_object_is_type(v, json_type_array) ||
			    (n = json_object_array_length(v)) > EMU_MODE_MAX_REFUSED) {
				snprintf(err, errlen, "'refuse_filters' must be an array of at most %d strings",
					 EMU_MODE_MAX_REFUSED);
				return -1;
			}
			for (i = 0; i < n; i++) {
				json_object *s = json_object_array_get_idx(v, i);
				if (!json_object_is_type(s, json_type_string) ||
				    json_object_get_string_len(s) == 0 ||
				    (size_t)json_object_get_string_len(s) >= sizeof(m->refuse_filters[0])) {
					snprintf(err, errlen, "'refuse_filters' wants query keys like \"tag\" "
						 "(1..%zu characters)", sizeof(m->refuse_filters[0]) - 1);
					return -1;
				}
				snprintf(m->refuse_filters[i], sizeof(m->refuse_filters[i]), "%s",
					 json_object_get_string(s));
			}
			m->n_refuse = n;
		} else if (!strcmp(key, "require_scope")) {
			if (json_object_is_type(v, json_type_null)) {
				m->require_scope[0] = 0;
			} else if (!json_object_is_type(v, json_type_string) ||
				   (size_t)json_object_get_string_len(v) >= sizeof(m->require_scope)) {
				snprintf(err, errlen, "'require_scope' must be null or a string of at most %zu bytes",
					 sizeof(m->require_scope) - 1);
				return -1;
			} else {
				snprintf(m->require_scope, sizeof(m->require_scope), "%s", json_object_get_string(v));
			}
		} else if (!strcmp(key, "max_assertion_lifetime_s")) {
			long long n;
			if (!json_object_is_type(v, json_type_int) || (n = json_object_get_int64(v)) < 0 ||
			    n > 86400) {
				snprintf(err, errlen, "'max_assertion_lifetime_s' must be an integer 0..86400");
				return -1;
			}
			m->max_assertion_lifetime_s = (long)n;
		} else {
			snprintf(err, errlen, "unknown mode setting '%.64s'", key);
			return -1;
		}
	}
	return 0;
}

int mode_init(const char *json)
{
	char err[160];
	const char *perr;
	json_object *in;
	emu_mode m;

	memset(&m, 0, sizeof(m));
	if (json && *json) {
		if (!(in = json_parse(json, strlen(json), &perr))) {
			fprintf(stderr, "pexip-emulator: --mode: malformed JSON: %s\n", perr);
			return -1;
		}
		if (mode_parse(&m, in, err, sizeof(err)) < 0) {
			fprintf(stderr, "pexip-emulator: --mode: %s\n", err);
			json_object_put(in);
			return -1;
		}
		json_object_put(in);
	}
	pthread_mutex_lock(&mode_lock);
	g_mode = g_start_mode = m;
	pthread_mutex_unlock(&mode_lock);
	return 0;
}

void mode_reset(void)
{
	pthread_mutex_lock(&mode_lock);
	g_mode = g_start_mode;
	pthread_mutex_unlock(&mode_lock);
}

void mode_ctl(resp *r, json_object *in)
{
	char err[160];
	emu_mode m;

	mode_get(&m);
	if (in && mode_parse(&m, in, err, sizeof(err)) < 0) {
		resp_error(r, 400, "%s", err);
		return;
	}
	if (in) {
		pthread_mutex_lock(&mode_lock);
		g_mode = m;
		pthread_mutex_unlock(&mode_lock);
	}
	resp_json(r, 200, mode_json(&m));
}
