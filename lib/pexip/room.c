/* Conferences (virtual meeting rooms), aliases and live status. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "pexip/room_internal.h"

/* The room's texts, in the order of their keys in a conference object. */
enum room_text {
	T_NAME, T_SERVICE_TYPE, T_DESCRIPTION, T_TAG, T_PIN, T_GUEST_PIN, T_CREATION_TIME,
	T_JSON,         /* the object as sent (not a key) */
	T_COUNT
};
static const char *const text_keys[T_JSON] = {
	"name", "service_type", "description", "tag", "pin", "guest_pin", "creation_time",
};

struct pex_room {
	long long id;
	char *text[T_COUNT];
	int allow_guests;
	long long participant_limit;
	size_t nalias;
	char **aliases;
};

static const char empty[] = "";

/* A text of @p r (may be NULL): "" when absent, never NULL. */
#define S(r, t) ((r) && (r)->text[t] ? (r)->text[t] : empty)
long long pex_room_id(const pex_room *r) { return r ? r->id : 0; }
const char *pex_room_name(const pex_room *r) { return S(r, T_NAME); }
const char *pex_room_service_type(const pex_room *r) { return S(r, T_SERVICE_TYPE); }
const char *pex_room_description(const pex_room *r) { return S(r, T_DESCRIPTION); }
const char *pex_room_tag(const pex_room *r) { return S(r, T_TAG); }
const char *pex_room_pin(const pex_room *r) { return S(r, T_PIN); }
const char *pex_room_guest_pin(const pex_room *r) { return S(r, T_GUEST_PIN); }
int pex_room_allow_guests(const pex_room *r) { return r ? r->allow_guests : 0; }
long long pex_room_participant_limit(const pex_room *r) { return r ? r->participant_limit : -1; }
const char *pex_room_creation_time(const pex_room *r) { return S(r, T_CREATION_TIME); }
size_t pex_room_alias_count(const pex_room *r) { return r ? r->nalias : 0; }
const char *pex_room_json(const pex_room *r) { return S(r, T_JSON); }
const char *pex_room_alias(const pex_room *r, size_t i)
{
	return r && i < r->nalias && r->aliases[i] ? r->aliases[i] : empty;
}

void pex_room_free(pex_room *r)
{
	size_t i;

	for (i = 0; r && i < T_COUNT; i++)
		free(r->text[i]);
	for (i = 0; r && i < r->nalias; i++)
		free(r->aliases[i]);
	if (r)
		free(r->aliases);
	free(r);
}

static json_object *room_aliases(const pex_room *r)
{
	json_object *a = json_object_new_array();
	size_t i;

	for (i = 0; a && i < r->nalias; i++)
		if (json_object_array_add(a, json_object_new_string(pex_room_alias(r, i))) != 0 ||
		    !json_object_array_get_idx(a, i)) {
			json_object_put(a);
			a = NULL;
		}
	return a;
}

int pex_room_to_json(pex_buf *out, const pex_room *r)
{
	json_object *o;

	if (!out || !r)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pex_room_to_json: out and room are required");
	o = json_object_new_object();
	return pex__json_to_buf(out, o,
		pex__json_add(o, "name", json_object_new_string(S(r, T_NAME)), 0) < 0 ||
		pex__json_add(o, "id", json_object_new_int64(r->id), 0) < 0 ||
		pex__json_add(o, "alias", r->nalias ? json_object_new_string(pex_room_alias(r, 0)) : NULL,
			r->nalias == 0) < 0 ||
		pex__json_add(o, "aliases", room_aliases(r), 0) < 0 ||
		pex__json_add(o, "guest_pin", json_object_new_string(S(r, T_GUEST_PIN)), 0) < 0 ||
		pex__json_add(o, "pin", json_object_new_string(S(r, T_PIN)), 0) < 0 ||
		pex__json_add(o, "tag", json_object_new_string(S(r, T_TAG)), 0) < 0 ||
		pex__json_add(o, "service_type", json_object_new_string(S(r, T_SERVICE_TYPE)), 0) < 0 ||
		pex__json_add(o, "description", json_object_new_string(S(r, T_DESCRIPTION)), 0) < 0 ||
		pex__json_add(o, "allow_guests", json_object_new_boolean(r->allow_guests), 0) < 0 ||
		pex__json_add(o, "participant_limit", r->participant_limit >= 0 ?
			json_object_new_int64(r->participant_limit) : NULL, r->participant_limit < 0) < 0 ||
		pex__json_add(o, "creation_time", json_object_new_string(S(r, T_CREATION_TIME)), 0) < 0 ?
		PEX_ENOMEM : 0);
}
#undef S

static int dup_str(char **dst, json_object *obj, const char *key)
{
	json_object *v;
	if (!json_object_object_get_ex(obj, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_JSON,
			"Pexip conference field '%s' is not a string", key);
	*dst = pex__strdup(json_object_get_string(v));
	return *dst ? 0 : PEX_ENOMEM;
}

/* Build a room from one conference object. */
int pex__room_from_json(pex_room **out, json_object *obj)
{
	pex_room *r;
	json_object *v;
	size_t t;
	int err;

	*out = NULL;
	if (!json_object_is_type(obj, json_type_object))
		return pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_JSON,
			"Pexip returned a conference that is not a JSON object");
	if (!json_object_object_get_ex(obj, "id", &v) || !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) <= 0)
		return pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_JSON,
			"Pexip returned a conference without a valid integer 'id'");
	r = pex__calloc(1, sizeof(*r));
	if (!r)
		return PEX_ENOMEM;
	r->id = json_object_get_int64(v);
	r->participant_limit = -1;
	for (t = 0, err = 0; t < T_JSON && err == 0; t++)
		err = dup_str(&r->text[t], obj, text_keys[t]);
	if (err < 0)
		goto fail;
	if (!r->text[T_NAME]) {
		err = pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_JSON,
			"Pexip returned conference %lld without a 'name'", r->id);
		goto fail;
	}
	if (json_object_object_get_ex(obj, "allow_guests", &v))
		r->allow_guests = json_object_get_boolean(v) ? 1 : 0;
	if (json_object_object_get_ex(obj, "participant_limit", &v) &&
	    json_object_is_type(v, json_type_int))
		r->participant_limit = json_object_get_int64(v);
	if (json_object_object_get_ex(obj, "aliases", &v) && json_object_is_type(v, json_type_array)) {
		size_t i, n = json_object_array_length(v);
		r->aliases = pex__calloc(n ? n : 1, sizeof(char *));
		if (!r->aliases) {
			err = PEX_ENOMEM;
			goto fail;
		}
		for (i = 0; i < n; i++) {
			json_object *a = json_object_array_get_idx(v, i), *s;
			const char *text = NULL;
			if (json_object_is_type(a, json_type_object) &&
			    json_object_object_get_ex(a, "alias", &s) && json_object_is_type(s, json_type_string))
				text = json_object_get_string(s);
			else if (json_object_is_type(a, json_type_string))
				text = json_object_get_string(a);   /* URI form */
			if (!text)
				continue;
			r->aliases[r->nalias] = pex__strdup(text);
			if (!r->aliases[r->nalias]) {
				err = PEX_ENOMEM;
				goto fail;
			}
			r->nalias++;
		}
	}
	r->text[T_JSON] = pex__strdup(json_object_to_json_string_ext(obj,
		JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	if (!r->text[T_JSON]) {
		err = PEX_ENOMEM;
		goto fail;
	}
	*out = r;
	return 0;
fail:
	pex_room_free(r);
	return err;
}

/* Internal entry point for tests and fuzzing: one conference object as
 * Pexip sends it (GET .../conference/ID/), decoded like every reply. */
int pex__room_parse_json(pex_room **out, const char *json, size_t len)
{
	json_tokener *tok;
	json_object *root;
	enum json_tokener_error jerr;
	int err;

	if (!out)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pex__room_parse_json: no output");
	*out = NULL;
	if (!json || len == 0 || len > INT32_MAX)
		return pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_JSON,
			"Pexip conference: empty or oversized body");
	if (!(tok = json_tokener_new()))
		return pex__error_nomem();
	root = json_tokener_parse_ex(tok, json, (int)len);
	jerr = json_tokener_get_error(tok);
	json_tokener_free(tok);
	if (jerr != json_tokener_success) {
		json_object_put(root);
		return pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_JSON,
			"Pexip conference: malformed JSON: %s", json_tokener_error_desc(jerr));
	}
	err = pex__room_from_json(out, root);
	json_object_put(root);
	return err;
}

json_object *pex__room_parse_text(const char *text, size_t len, const char *what)
{
	json_tokener *tok;
	json_object *root;
	if (!text || len == 0) {
		pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_JSON, "%s: Pexip sent an empty body", what);
		return NULL;
	}
	tok = json_tokener_new();
	if (!tok) {
		pex__error_nomem();
		return NULL;
	}
	root = len > INT_MAX ? NULL : json_tokener_parse_ex(tok, text, (int)len);
	if (len > INT_MAX) {
		pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_JSON, "%s: Pexip's reply is too large", what);
	} else if (json_tokener_get_error(tok) == json_tokener_continue) {
		/* json-c also says this of a bare scalar, which no reply is */
		pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_JSON,
			"%s: Pexip's reply is not a complete JSON object", what);
		json_object_put(root);
		root = NULL;
	} else if (json_tokener_get_error(tok) != json_tokener_success) {
		pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_JSON, "%s: Pexip sent malformed JSON: %s",
			what, json_tokener_error_desc(json_tokener_get_error(tok)));
		json_object_put(root);
		root = NULL;
	} else if (!root) {
		pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_JSON, "%s: Pexip sent JSON null", what);
	}
	json_tokener_free(tok);
	return root;
}

json_object *pex__room_parse_body(const pex__http_response *resp, const char *what)
{
	return pex__room_parse_text(resp->body.ptr, resp->body.size, what);
}

int pex__room_ok_status(long s) { return s >= 200 && s < 300; }

/* A text field for Pexip (@p what: "room name", "tag"...): NULL (not
 * sent) or valid UTF-8 of at most 250 characters. */
static int check_text(const char *what, const char *s)
{
	char why[96];
	if (s && !pex__text_chars_ok(s, strlen(s), PEX__TEXT_MAX_CHARS, why, sizeof(why)))
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "%s %s", what, why);
	return 0;
}

int pex__room_check_name(const char *name)
{
	char why[96];
	if (!name || !*name)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "a room name is required");
	if (!pex__room_name_ok(name, strlen(name), 0, why, sizeof(why)))
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "room name %s", why);
	return 0;
}

int pex_room_name_check(const char *name)
{
	return pex__room_check_name(name);
}

int pex_room_get(pex_room **out, pex_client *c, long long id)
{
	pex__http_response resp;
	char path[128];
	json_object *root;
	int err;
	if (!out || !c || id <= 0)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pex_room_get needs a positive id");
	*out = NULL;
	memset(&resp, 0, sizeof(resp));
	snprintf(path, sizeof(path), PEX__API_CONF "%lld/", id);
	err = pex__client_call(c, "GET", path, NULL, 1, &resp);
	if (err == 0 && !pex__room_ok_status(resp.status))
		err = pex__client_fail(c, &resp, "getting conference");
	if (err == 0) {
		root = pex__room_parse_body(&resp, "getting conference");
		err = root ? pex__room_from_json(out, root) : pex_error_last()->code;
		json_object_put(root);
	}
	if (err == PEX_ENOTFOUND)
		pex_error_set(err, PEX_ERROR_CLASS_HTTP, "no conference with id %lld", id);
	pex__http_response_dispose(&resp);
	return err;
}

int pex_room_get_by_name(pex_room **out, pex_client *c, const char *name)
{
	json_object *o = NULL;
	int err;
	if (!out)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pex_room_get_by_name: no output");
	*out = NULL;
	if ((err = pex__room_find_by_name(&o, c, PEX__API_CONF, name, "looking up conference by name")) < 0)
		return err;
	if (o)
		err = pex__room_from_json(out, o);
	else
		err = pex_error_set(PEX_ENOTFOUND, PEX_ERROR_CLASS_HTTP, "no conference named '%s'", name);
	json_object_put(o);
	return err;
}

/* ---- create ---- */

int pex_room_spec_init(pex_room_spec *spec, unsigned int version)
{
	static const pex_room_spec init = PEX_ROOM_SPEC_INIT;
	return PEX__STRUCT_INIT(spec, init, version, PEX_ROOM_SPEC_VERSION, "pex_room_spec");
}

static void add_str(json_object *o, const char *key, const char *val)
{
	if (val)
		json_object_object_add(o, key, json_object_new_string(val));
}

static int parse_created_id(long long *id, const pex__http_response *resp, const char *what)
{
	int err = pex__parse_location_id(id, resp->location);
	if (err < 0)
		pex__error_prefix("%s", what);
	return err;
}

/* Everything pex_room_create() checks before anything is sent. */
static int check_spec(const pex_room_spec *spec)
{
	size_t i;
	int err;

	if ((err = pex__version_check(spec->version, PEX_ROOM_SPEC_VERSION, "pex_room_spec")) < 0 ||
	    (err = pex__room_check_name(spec->name)) < 0 ||
	    (err = check_text("description", spec->description)) < 0 ||
	    (err = check_text("tag", spec->tag)) < 0)
		return err;
	for (i = 0; i < PEX_ROOM_MAX_ALIASES && spec->aliases[i]; i++)
		if ((err = check_text("alias", spec->aliases[i])) < 0)
			return err;
	return 0;
}

/* The POST body for @p spec, with its aliases nested; NULL when out of memory. */
static json_object *spec_body(const pex_room_spec *spec)
{
	json_object *body = json_object_new_object();
	size_t i;

	if (!body)
		return NULL;
	add_str(body, "name", spec->name);
	add_str(body, "service_type", spec->service_type ? spec->service_type : "conference");
	add_str(body, "description", spec->description);
	add_str(body, "pin", spec->pin);
	add_str(body, "guest_pin", spec->guest_pin);
	json_object_object_add(body, "allow_guests", json_object_new_boolean(spec->allow_guests ? 1 : 0));
	add_str(body, "tag", spec->tag);
	if (spec->participant_limit >= 0)
		json_object_object_add(body, "participant_limit", json_object_new_int64(spec->participant_limit));
	if (spec->aliases[0]) {
		json_object *arr = json_object_new_array();
		for (i = 0; i < PEX_ROOM_MAX_ALIASES && spec->aliases[i]; i++) {
			json_object *a = json_object_new_object();
			json_object_object_add(a, "alias", json_object_new_string(spec->aliases[i]));
			json_object_array_add(arr, a);
		}
		json_object_object_add(body, "aliases", arr);
	}
	return body;
}

int pex_room_create(long long *id_out, pex_client *c, const pex_room_spec *spec)
{
	json_object *body;
	pex__http_response resp;
	const char *text;
	unsigned attempt = 0;
	int err, sent_before = 0;

	if (!id_out || !c || !spec)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pex_room_create: missing argument");
	if ((err = check_spec(spec)) < 0)
		return err;
	if (!(body = spec_body(spec)))
		return pex__error_nomem();
	text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

	memset(&resp, 0, sizeof(resp));
	for (;;) {
		pex_room *existing = NULL;
		int ambiguous;
		/* Not idempotent: the call layer retries only what surely was not processed. */
		err = pex__client_call(c, "POST", PEX__API_CONF, text, 0, &resp);
		if (err == 0 && resp.status == 201) {
			err = parse_created_id(id_out, &resp, "creating conference");
			break;
		}
		if (err == 0 && pex__room_ok_status(resp.status)) {
			/* Some proxies answer 200/202; fall back to a lookup by name. */
			ambiguous = 1;
		} else if (err == 0) {
			/* "Already exists" after a replayed send is most likely our own
			 * first send having succeeded: settle it by name too. */
			ambiguous = resp.status >= 500 ||
				(resp.status == 400 && (resp.replayed || sent_before) && resp.body.ptr &&
				 strstr(resp.body.ptr, "already exists"));
			if (!ambiguous) {
				err = pex__client_fail(c, &resp, "creating conference");
				break;
			}
		} else {
			ambiguous = err != PEX_ETLS && err != PEX_ENOMEM;
			if (!ambiguous)
				break;
		}
		/* Did the server create it anyway? Settle by name, never blindly. */
		sent_before = 1;
		{
			pex__error_copy saved;   /* with its HTTP status */
			int lookup;
			if (err == 0)
				err = pex__client_fail(c, &resp, "creating conference");
			pex__error_save(&saved);
			saved.code = err;
			lookup = pex_room_get_by_name(&existing, c, spec->name);
			if (lookup == 0) {
				*id_out = pex_room_id(existing);
				pex_room_free(existing);
				pex__log(pex__client_logger(c), PEX_LOG_INFO,
					"conference '%s' was created despite an unclear reply", spec->name);
				err = 0;
				break;
			}
			if (lookup != PEX_ENOTFOUND || attempt >= pex__client_retries_max(c)) {
				/* Report the create's own failure: it says most. */
				err = pex__error_restore(&saved);
				break;
			}
		}
		pex__log(pex__client_logger(c), PEX_LOG_INFO,
			"conference '%s' was not created; retrying (%u of %u)", spec->name,
			attempt + 1, pex__client_retries_max(c));
		pex__client_backoff(c, attempt++, &resp);
	}
	pex__http_response_dispose(&resp);
	json_object_put(body);
	return err;
}

/* ---- update / delete ---- */

int pex_room_patch_init(pex_room_patch *patch, unsigned int version)
{
	static const pex_room_patch init = PEX_ROOM_PATCH_INIT;
	return PEX__STRUCT_INIT(patch, init, version, PEX_ROOM_PATCH_VERSION, "pex_room_patch");
}

int pex_room_update(pex_client *c, long long id, const pex_room_patch *p)
{
	return pex__room_update(c, id, p, NULL);
}

int pex__room_update(pex_client *c, long long id, const pex_room_patch *p, int *unsure)
{
	json_object *body;
	pex__http_response resp;
	char path[128];
	int err;

	if (!c || !p || id <= 0)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pex_room_update needs a client, an id and a patch");
	if ((err = pex__version_check(p->version, PEX_ROOM_PATCH_VERSION, "pex_room_patch")) < 0)
		return err;
	if ((err = check_text("tag", p->tag)) < 0 || (err = check_text("description", p->description)) < 0)
		return err;
	body = json_object_new_object();
	if (!body)
		return pex__error_nomem();
	add_str(body, "tag", p->tag);
	add_str(body, "description", p->description);
	add_str(body, "pin", p->pin);
	add_str(body, "guest_pin", p->guest_pin);
	if (p->allow_guests != PEX_ROOM_UNCHANGED)
		json_object_object_add(body, "allow_guests", json_object_new_boolean(p->allow_guests ? 1 : 0));
	if (p->participant_limit == -1)
		json_object_object_add(body, "participant_limit", NULL);
	else if (p->participant_limit >= 0)
		json_object_object_add(body, "participant_limit", json_object_new_int64(p->participant_limit));
	if (json_object_object_length(body) == 0) {
		json_object_put(body);
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "nothing to update");
	}
	memset(&resp, 0, sizeof(resp));
	snprintf(path, sizeof(path), PEX__API_CONF "%lld/", id);
	err = pex__client_call(c, "PATCH", path, json_object_to_json_string_ext(body,
		JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE), 1, &resp);
	if (err == 0 && !pex__room_ok_status(resp.status))
		err = pex__client_fail(c, &resp, "updating conference");
	if (unsure)
		*unsure = err < 0 && (resp.replayed || resp.status == 502 || resp.status == 504 ||
			((err == PEX_ENET || err == PEX_ETIMEOUT) && !resp.not_sent));
	if (err == PEX_ENOTFOUND)
		pex_error_set(err, PEX_ERROR_CLASS_HTTP, "no conference with id %lld", id);
	pex__http_response_dispose(&resp);
	json_object_put(body);
	return err;
}

static int delete_path(pex_client *c, const char *path, int *deleted, const char *what)
{
	pex__http_response resp;
	int err;
	memset(&resp, 0, sizeof(resp));
	if (deleted)
		*deleted = 0;
	err = pex__client_call(c, "DELETE", path, NULL, 1, &resp);
	if (err == 0 && resp.status == 404) {
		/* already gone: success (and ours if an earlier send may have done it) */
		if (deleted)
			*deleted = resp.replayed;
	}
	else if (err == 0 && !pex__room_ok_status(resp.status))
		err = pex__client_fail(c, &resp, what);
	else if (err == 0 && deleted)
		*deleted = 1;
	pex__http_response_dispose(&resp);
	return err;
}

int pex_room_delete(int *deleted, pex_client *c, long long id)
{
	char path[128];
	if (!c || id <= 0)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pex_room_delete needs a positive id");
	snprintf(path, sizeof(path), PEX__API_CONF "%lld/", id);
	return delete_path(c, path, deleted, "deleting conference");
}

int pex_room_delete_by_name(int *deleted, pex_client *c, const char *name)
{
	pex_room *r = NULL;
	int err;
	if (deleted)
		*deleted = 0;
	err = pex_room_get_by_name(&r, c, name);
	if (err == PEX_ENOTFOUND) {
		pex_error_clear();
		return 0;
	}
	if (err < 0)
		return err;
	err = pex_room_delete(deleted, c, pex_room_id(r));
	pex_room_free(r);
	return err;
}

/* ---- aliases ---- */

int pex_alias_create(long long *id_out, pex_client *c, long long room_id, const char *alias)
{
	json_object *body;
	pex__http_response resp;
	char uri[128];
	int err;
	if (!id_out || !c || room_id <= 0 || !alias || !*alias)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pex_alias_create needs a room id and an alias");
	if ((err = check_text("alias", alias)) < 0)
		return err;
	snprintf(uri, sizeof(uri), PEX__API_CONF "%lld/", room_id);
	body = json_object_new_object();
	if (!body)
		return pex__error_nomem();
	add_str(body, "alias", alias);
	add_str(body, "conference", uri);
	memset(&resp, 0, sizeof(resp));
	err = pex__client_call(c, "POST", PEX__API_ALIAS, json_object_to_json_string_ext(body,
		JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE), 0, &resp);
	if (err == 0 && resp.status == 201)
		err = parse_created_id(id_out, &resp, "creating alias");
	else if (err == 0)
		err = pex__client_fail(c, &resp, "creating alias");
	pex__http_response_dispose(&resp);
	json_object_put(body);
	return err;
}

int pex_alias_delete(pex_client *c, long long alias_id)
{
	char path[128];
	if (!c || alias_id <= 0)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pex_alias_delete needs a positive id");
	snprintf(path, sizeof(path), PEX__API_ALIAS "%lld/", alias_id);
	return delete_path(c, path, NULL, "deleting alias");
}
