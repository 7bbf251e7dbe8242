/* Conferences (virtual meeting rooms), aliases and live status. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "pexip/client_internal.h"
#include "pexipsdk/room.h"

struct pex_room {
	long long id;
	char *name, *service_type, *description, *tag, *pin, *guest_pin, *creation_time;
	int allow_guests;
	long long participant_limit;
	size_t nalias;
	char **aliases;
	char *json;
};

static const char empty[] = "";

#define S(x) ((x) ? (x) : empty)
long long pex_room_id(const pex_room *r) { return r ? r->id : 0; }
const char *pex_room_name(const pex_room *r) { return r ? S(r->name) : empty; }
const char *pex_room_service_type(const pex_room *r) { return r ? S(r->service_type) : empty; }
const char *pex_room_description(const pex_room *r) { return r ? S(r->description) : empty; }
const char *pex_room_tag(const pex_room *r) { return r ? S(r->tag) : empty; }
const char *pex_room_pin(const pex_room *r) { return r ? S(r->pin) : empty; }
const char *pex_room_guest_pin(const pex_room *r) { return r ? S(r->guest_pin) : empty; }
int pex_room_allow_guests(const pex_room *r) { return r ? r->allow_guests : 0; }
long long pex_room_participant_limit(const pex_room *r) { return r ? r->participant_limit : -1; }
const char *pex_room_creation_time(const pex_room *r) { return r ? S(r->creation_time) : empty; }
size_t pex_room_alias_count(const pex_room *r) { return r ? r->nalias : 0; }
const char *pex_room_json(const pex_room *r) { return r ? S(r->json) : empty; }
const char *pex_room_alias(const pex_room *r, size_t i)
{
	return r && i < r->nalias ? S(r->aliases[i]) : empty;
}

void pex_room_free(pex_room *r)
{
	size_t i;
	if (!r)
		return;
	free(r->name);
	free(r->service_type);
	free(r->description);
	free(r->tag);
	free(r->pin);
	free(r->guest_pin);
	free(r->creation_time);
	for (i = 0; i < r->nalias; i++)
		free(r->aliases[i]);
	free(r->aliases);
	free(r->json);
	free(r);
}

static json_object *room_aliases(const pex_room *r)
{
	json_object *a = json_object_new_array();
	size_t i;

	for (i = 0; a && i < r->nalias; i++)
		if (json_object_array_add(a, json_object_new_string(S(r->aliases[i]))) != 0 ||
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
		pex__json_add(o, "name", json_object_new_string(S(r->name)), 0) < 0 ||
		pex__json_add(o, "id", json_object_new_int64(r->id), 0) < 0 ||
		pex__json_add(o, "alias", r->nalias ? json_object_new_string(S(r->aliases[0])) : NULL,
			r->nalias == 0) < 0 ||
		pex__json_add(o, "aliases", room_aliases(r), 0) < 0 ||
		pex__json_add(o, "guest_pin", json_object_new_string(S(r->guest_pin)), 0) < 0 ||
		pex__json_add(o, "pin", json_object_new_string(S(r->pin)), 0) < 0 ||
		pex__json_add(o, "tag", json_object_new_string(S(r->tag)), 0) < 0 ||
		pex__json_add(o, "service_type", json_object_new_string(S(r->service_type)), 0) < 0 ||
		pex__json_add(o, "description", json_object_new_string(S(r->description)), 0) < 0 ||
		pex__json_add(o, "allow_guests", json_object_new_boolean(r->allow_guests), 0) < 0 ||
		pex__json_add(o, "participant_limit", r->participant_limit >= 0 ?
			json_object_new_int64(r->participant_limit) : NULL, r->participant_limit < 0) < 0 ||
		pex__json_add(o, "creation_time", json_object_new_string(S(r->creation_time)), 0) < 0 ?
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
static int room_from_json(pex_room **out, json_object *obj)
{
	pex_room *r;
	json_object *v;
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
	if ((err = dup_str(&r->name, obj, "name")) < 0 ||
	    (err = dup_str(&r->service_type, obj, "service_type")) < 0 ||
	    (err = dup_str(&r->description, obj, "description")) < 0 ||
	    (err = dup_str(&r->tag, obj, "tag")) < 0 ||
	    (err = dup_str(&r->pin, obj, "pin")) < 0 ||
	    (err = dup_str(&r->guest_pin, obj, "guest_pin")) < 0 ||
	    (err = dup_str(&r->creation_time, obj, "creation_time")) < 0)
		goto fail;
	if (!r->name) {
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
	r->json = pex__strdup(json_object_to_json_string_ext(obj,
		JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	if (!r->json) {
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
	err = room_from_json(out, root);
	json_object_put(root);
	return err;
}

static json_object *parse_text(const char *text, size_t len, const char *what)
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

static json_object *parse_body(const pex__http_response *resp, const char *what)
{
	return parse_text(resp->body.ptr, resp->body.size, what);
}

static int ok_status(long s) { return s >= 200 && s < 300; }

/* A text field for Pexip (@p what: "room name", "tag"...): NULL (not
 * sent) or valid UTF-8 of at most 250 characters. */
static int check_text(const char *what, const char *s)
{
	char why[96];
	if (s && !pex__text_chars_ok(s, strlen(s), PEX__TEXT_MAX_CHARS, why, sizeof(why)))
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "%s %s", what, why);
	return 0;
}

static int check_name(const char *name)
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
	return check_name(name);
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
	if (err == 0 && !ok_status(resp.status))
		err = pex__client_fail(c, &resp, "getting conference");
	if (err == 0) {
		root = parse_body(&resp, "getting conference");
		err = root ? room_from_json(out, root) : pex_error_last()->code;
		json_object_put(root);
	}
	if (err == PEX_ENOTFOUND)
		pex_error_set(err, PEX_ERROR_CLASS_HTTP, "no conference with id %lld", id);
	pex__http_response_dispose(&resp);
	return err;
}

/*
 * A 400 that says a filter is not allowed ("The 'tag' field does not allow
 * filtering.", "'in' is not an allowed filter on the 'name' field."): 1
 * with the field's name in @p field ("" when it cannot be read), else 0.
 */
static int filter_refused(const pex__http_response *resp, char *field, size_t field_size)
{
	const char *b = resp->body.ptr, *end, *start;
	field[0] = '\0';
	if (resp->status != 400 || !b ||
	    (!strstr(b, "does not allow filtering") && !strstr(b, "is not an allowed filter")))
		return 0;
	if ((end = strstr(b, "' field")) != NULL) {
		for (start = end; start > b && start[-1] != '\''; start--)
			;
		if (start > b && (size_t)(end - start) < field_size) {
			memcpy(field, start, (size_t)(end - start));
			field[end - start] = '\0';
		}
	}
	return 1;
}

/* Fetch one page of a list: objects array (borrowed from *root_out) and meta.
 * A refused filter is PEX_ENOTSUPPORTED, with the field in @p refused (if
 * not NULL; PEX__FIELD_MAX bytes). */
#define PEX__FIELD_MAX 64
static int get_page_ex(json_object **root_out, json_object **objects, pex_client *c,
	const char *path, const char *what, char *refused)
{
	pex__http_response resp;
	json_object *root = NULL;
	char field[PEX__FIELD_MAX];
	int err;
	*root_out = NULL;
	memset(&resp, 0, sizeof(resp));
	err = pex__client_call(c, "GET", path, NULL, 1, &resp);
	if (err == 0 && refused && filter_refused(&resp, field, sizeof(field))) {
		snprintf(refused, PEX__FIELD_MAX, "%s", field);
		err = pex_error_set(PEX_ENOTSUPPORTED, PEX_ERROR_CLASS_HTTP,
			"%s: Pexip does not allow filtering on '%s' (HTTP 400)", what, field);
	} else if (err == 0 && !ok_status(resp.status))
		err = pex__client_fail(c, &resp, what);
	if (err == 0) {
		root = parse_body(&resp, what);
		if (!root)
			err = pex_error_last()->code;
		else if (!json_object_is_type(root, json_type_object) ||
			 !json_object_object_get_ex(root, "objects", objects) ||
			 !json_object_is_type(*objects, json_type_array))
			err = pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_JSON,
				"%s: Pexip's reply has no 'objects' list", what);
	}
	pex__http_response_dispose(&resp);
	if (err < 0) {
		json_object_put(root);
		return err;
	}
	*root_out = root;
	return 0;
}

static int get_page(json_object **root_out, json_object **objects, pex_client *c,
	const char *path, const char *what)
{
	return get_page_ex(root_out, objects, c, path, what, NULL);
}

/* Page size and bound of a lookup by name. */
#define PEX__NAME_LOOKUP_PAGE 100
#define PEX__NAME_LOOKUP_PAGES 50

static int next_path(char **out, pex_client *c, json_object *meta);

/*
 * Find the object named exactly @p name in a list (configuration or status
 * API) filtered with ?name=. A deployment may match that filter loosely
 * (case-insensitively, or by substring), so every object it lists is
 * compared by name, page after page (meta.next), until the exact one turns
 * up or the list ends. @p found gets a new reference to it, or NULL.
 * PEX_ENOTSUPPORTED when the answer looks unfiltered (as for name__in: more
 * than PEX__NAME_LOOKUP_PAGES pages, or a list that says it holds more
 * objects than its pages lead to), so "not found" is never a guess.
 */
static int find_by_name(json_object **found, pex_client *c, const char *api, const char *name,
	const char *what)
{
	pex_buf path = PEX_BUF_INIT;
	json_object *root = NULL, *objects, *meta, *tc;
	char *next = NULL;
	size_t i, n, seen = 0;
	unsigned pages = 0;
	long long total = -1;
	int err;

	*found = NULL;
	if ((err = pex__buf_printf(&path, "%s?name=", api)) < 0 ||
	    (err = pex__url_encode(&path, name, strlen(name))) < 0 ||
	    (err = pex__buf_printf(&path, "&limit=%d&offset=0", PEX__NAME_LOOKUP_PAGE)) < 0)
		goto out;
	next = pex__buf_detach(&path);
	if (!next) {
		err = pex__error_nomem();
		goto out;
	}
	while (next) {
		char *nx = NULL;
		if (++pages > PEX__NAME_LOOKUP_PAGES) {
			err = pex_error_set(PEX_ENOTSUPPORTED, PEX_ERROR_CLASS_HTTP,
				"%s: Pexip lists more than %d conferences for the name filter; it seems "
				"to ignore it", what, PEX__NAME_LOOKUP_PAGES * PEX__NAME_LOOKUP_PAGE);
			goto out;
		}
		json_object_put(root);
		if ((err = get_page(&root, &objects, c, next, what)) < 0)
			goto out;
		n = json_object_array_length(objects);
		for (i = 0; i < n; i++) {
			json_object *o = json_object_array_get_idx(objects, i), *nm;
			/* exact match only, whatever the server's filter semantics are */
			if (json_object_object_get_ex(o, "name", &nm) &&
			    json_object_is_type(nm, json_type_string) &&
			    strcmp(json_object_get_string(nm), name) == 0) {
				*found = json_object_get(o);
				goto out;
			}
		}
		seen += n;
		meta = NULL;
		json_object_object_get_ex(root, "meta", &meta);
		if (meta && json_object_object_get_ex(meta, "total_count", &tc) &&
		    json_object_is_type(tc, json_type_int))
			total = json_object_get_int64(tc);
		if (total > PEX__NAME_LOOKUP_PAGES * PEX__NAME_LOOKUP_PAGE) {
			/* said on the first page: no need to read them all */
			err = pex_error_set(PEX_ENOTSUPPORTED, PEX_ERROR_CLASS_HTTP,
				"%s: Pexip lists %lld conferences for the name filter; it seems to ignore it",
				what, total);
			goto out;
		}
		if ((err = next_path(&nx, c, meta)) < 0)
			goto out;
		if (nx && (strcmp(nx, next) == 0 || n == 0)) {
			free(nx);
			err = pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_JSON,
				"%s: meta.next repeats the page just read or follows an empty page", what);
			goto out;
		}
		free(next);
		next = nx;
	}
	if (total > (long long)seen)
		/* more objects than the pages led to: a paged answer without links */
		err = pex_error_set(PEX_ENOTSUPPORTED, PEX_ERROR_CLASS_HTTP,
			"%s: Pexip says %lld conferences match the name filter but lists %zu",
			what, total, seen);
out:
	free(next);
	json_object_put(root);
	pex_buf_dispose(&path);
	return err;
}

int pex_room_get_by_name(pex_room **out, pex_client *c, const char *name)
{
	json_object *o = NULL;
	int err;
	if (!out || !c)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pex_room_get_by_name: no output or client");
	*out = NULL;
	if ((err = check_name(name)) < 0)
		return err;
	if ((err = find_by_name(&o, c, PEX__API_CONF, name, "looking up conference by name")) < 0)
		return err;
	if (o)
		err = room_from_json(out, o);
	else
		err = pex_error_set(PEX_ENOTFOUND, PEX_ERROR_CLASS_HTTP, "no conference named '%s'", name);
	json_object_put(o);
	return err;
}

/* ---- create ---- */

int pex_room_spec_init(pex_room_spec *spec, unsigned int version)
{
	static const pex_room_spec init = PEX_ROOM_SPEC_INIT;
	if (!spec || version == 0 || version > PEX_ROOM_SPEC_VERSION)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"unsupported pex_room_spec version %u", version);
	*spec = init;
	return 0;
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

int pex_room_create(long long *id_out, pex_client *c, const pex_room_spec *spec)
{
	json_object *body;
	pex__http_response resp;
	const char *text;
	unsigned attempt = 0;
	size_t i;
	int err, sent_before = 0;

	if (!id_out || !c || !spec)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pex_room_create: missing argument");
	if (spec->version == 0 || spec->version > PEX_ROOM_SPEC_VERSION)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"unsupported pex_room_spec version %u", spec->version);
	if ((err = check_name(spec->name)) < 0 ||
	    (err = check_text("description", spec->description)) < 0 ||
	    (err = check_text("tag", spec->tag)) < 0)
		return err;
	for (i = 0; i < PEX_ROOM_MAX_ALIASES && spec->aliases[i]; i++)
		if ((err = check_text("alias", spec->aliases[i])) < 0)
			return err;

	body = json_object_new_object();
	if (!body)
		return pex__error_nomem();
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
		if (err == 0 && ok_status(resp.status)) {
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
	if (!patch || version == 0 || version > PEX_ROOM_PATCH_VERSION)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"unsupported pex_room_patch version %u", version);
	*patch = init;
	return 0;
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
	if (p->version == 0 || p->version > PEX_ROOM_PATCH_VERSION)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"unsupported pex_room_patch version %u", p->version);
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
	if (err == 0 && !ok_status(resp.status))
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
	else if (err == 0 && !ok_status(resp.status))
		err = pex__client_fail(c, &resp, what);
	else if (err == 0 && deleted)
		*deleted = 1;
	pex__http_response_dispose(&resp);
	return err;
}

int pex_room_delete(pex_client *c, long long id, int *deleted)
{
	char path[128];
	if (!c || id <= 0)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pex_room_delete needs a positive id");
	snprintf(path, sizeof(path), PEX__API_CONF "%lld/", id);
	return delete_path(c, path, deleted, "deleting conference");
}

int pex_room_delete_by_name(pex_client *c, const char *name, int *deleted)
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
	err = pex_room_delete(c, pex_room_id(r), deleted);
	pex_room_free(r);
	return err;
}

/* ---- listing ---- */

int pex_room_filter_init(pex_room_filter *f, unsigned int version)
{
	static const pex_room_filter init = PEX_ROOM_FILTER_INIT;
	if (!f || version == 0 || version > PEX_ROOM_FILTER_VERSION)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"unsupported pex_room_filter version %u", version);
	*f = init;
	return 0;
}

/* Filters applied here rather than by Pexip (which refused them). */
enum {
	PEX__LOCAL_PREFIX = 1, PEX__LOCAL_CONTAINS = 2, PEX__LOCAL_TAG = 4, PEX__LOCAL_SERVICE = 8
};

struct pex_room_iter {
	pex_client *client;
	char *next;            /* path of the next page, NULL when done */
	json_object *page;     /* current page root */
	json_object *objects;  /* borrowed from page */
	size_t pos;
	long long total;
	unsigned pages;
	/* the filter (copies) and which parts are applied here */
	char *prefix, *contains, *tag, *service_type;
	unsigned page_size, local;
};

static int add_filter(pex_buf *b, const char *key, const char *val)
{
	int err;
	if (!val)
		return 0;
	if ((err = pex__buf_printf(b, "&%s=", key)) < 0)
		return err;
	return pex__url_encode(b, val, strlen(val));
}

/* The first page's path, with the filters Pexip applies. */
static int iter_first_path(pex_room_iter *it)
{
	pex_buf path = PEX_BUF_INIT;
	unsigned l = it->local;
	int err;
	if ((err = pex__buf_printf(&path, PEX__API_CONF "?limit=%u&offset=0", it->page_size)) < 0 ||
	    (!(l & PEX__LOCAL_PREFIX) && (err = add_filter(&path, "name__startswith", it->prefix)) < 0) ||
	    (!(l & PEX__LOCAL_CONTAINS) && (err = add_filter(&path, "name__icontains", it->contains)) < 0) ||
	    (!(l & PEX__LOCAL_TAG) && (err = add_filter(&path, "tag", it->tag)) < 0) ||
	    (!(l & PEX__LOCAL_SERVICE) && (err = add_filter(&path, "service_type", it->service_type)) < 0)) {
		pex_buf_dispose(&path);
		return err;
	}
	free(it->next);
	it->next = pex__buf_detach(&path);
	return it->next ? 0 : pex__error_nomem();
}

/* Pexip refused the filter on @p field: apply it here from now on (every
 * filter when the field is not one of ours). 0 if nothing more can move. */
static unsigned iter_localize(pex_room_iter *it, const char *field)
{
	unsigned set = (it->prefix ? PEX__LOCAL_PREFIX : 0) | (it->contains ? PEX__LOCAL_CONTAINS : 0) |
		(it->tag ? PEX__LOCAL_TAG : 0) | (it->service_type ? PEX__LOCAL_SERVICE : 0), want;
	if (strcmp(field, "tag") == 0)
		want = PEX__LOCAL_TAG;
	else if (strcmp(field, "service_type") == 0)
		want = PEX__LOCAL_SERVICE;
	else if (strcmp(field, "name") == 0)
		want = PEX__LOCAL_PREFIX | PEX__LOCAL_CONTAINS;
	else
		want = set;
	want &= set & ~it->local;
	if (!want)
		want = set & ~it->local;     /* a field we did not expect: all of them */
	it->local |= want;
	return want;
}

/* Does @p r pass the filters applied here (as Pexip would apply them)? */
static int iter_keeps(const pex_room_iter *it, const pex_room *r)
{
	unsigned l = it->local;
	return (!(l & PEX__LOCAL_PREFIX) || strncmp(pex_room_name(r), it->prefix, strlen(it->prefix)) == 0) &&
		(!(l & PEX__LOCAL_CONTAINS) || strcasestr(pex_room_name(r), it->contains) != NULL) &&
		(!(l & PEX__LOCAL_TAG) || strcmp(pex_room_tag(r), it->tag) == 0) &&
		(!(l & PEX__LOCAL_SERVICE) || strcmp(pex_room_service_type(r), it->service_type) == 0);
}

static int dup_filter(char **dst, const char *src)
{
	if (!src)
		return 0;
	return (*dst = pex__strdup(src)) ? 0 : PEX_ENOMEM;
}

int pex_room_iter_new(pex_room_iter **out, pex_client *c, const pex_room_filter *f)
{
	pex_room_iter *it;
	int err;
	if (!out || !c)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pex_room_iter_new: no output or client");
	*out = NULL;
	if (f && (f->version == 0 || f->version > PEX_ROOM_FILTER_VERSION))
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"unsupported pex_room_filter version %u", f->version);
	it = pex__calloc(1, sizeof(*it));
	if (!it)
		return PEX_ENOMEM;
	it->client = c;
	it->total = -1;
	it->page_size = 100;
	if (f && f->page_size)
		it->page_size = f->page_size > 500 ? 500 : f->page_size;
	if ((f && ((err = dup_filter(&it->prefix, f->name_prefix)) < 0 ||
		   (err = dup_filter(&it->contains, f->name_contains)) < 0 ||
		   (err = dup_filter(&it->tag, f->tag)) < 0 ||
		   (err = dup_filter(&it->service_type, f->service_type)) < 0)) ||
	    (err = iter_first_path(it)) < 0) {
		pex_room_iter_free(it);
		return err;
	}
	*out = it;
	return 0;
}

/* meta.next as a path on our base URL; absolute URLs must point at our base. */
static int next_path(char **out, pex_client *c, json_object *meta)
{
	json_object *v;
	const char *next, *base = pex__client_base(c);
	size_t bl = strlen(base);
	*out = NULL;
	if (!meta || !json_object_object_get_ex(meta, "next", &v) ||
	    json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_JSON, "meta.next is not a string");
	next = json_object_get_string(v);
	if (!*next)
		return 0;
	if (strncmp(next, base, bl) == 0 && next[bl] == '/')
		next += bl;
	else if (strstr(next, "://"))
		return pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_JSON,
			"meta.next points at another server ('%.80s'); refusing to follow it", next);
	if (next[0] != '/')
		return pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_JSON,
			"meta.next is not a path ('%.80s')", next);
	*out = pex__strdup(next);
	return *out ? 0 : PEX_ENOMEM;
}

int pex_room_iter_next(pex_room **out, pex_room_iter *it)
{
	char refused[PEX__FIELD_MAX];
	int err;
	if (!out || !it)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pex_room_iter_next: no output or iterator");
	*out = NULL;
	for (;;) {
		while (!it->objects || it->pos >= json_object_array_length(it->objects)) {
			json_object *meta = NULL, *tc;
			char *nx = NULL;
			if (!it->next)
				return PEX_ITEROVER;
			json_object_put(it->page);
			it->page = NULL;
			it->objects = NULL;
			err = get_page_ex(&it->page, &it->objects, it->client, it->next, "listing conferences",
				refused);
			if (err == PEX_ENOTSUPPORTED && it->pages == 0 && iter_localize(it, refused)) {
				/* Pexip does not allow this filter: list without it and
				 * filter here (nothing was returned yet) */
				pex__log(pex__client_logger(it->client), PEX_LOG_INFO, "%s; filtering here",
					pex_error_last()->message);
				pex_error_clear();
				if ((err = iter_first_path(it)) < 0)
					return err;
				continue;
			}
			if (err < 0)
				return err;
			it->pos = 0;
			if (++it->pages > 100000)
				return pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_JSON, "too many pages; giving up");
			json_object_object_get_ex(it->page, "meta", &meta);
			/* with filters applied here, Pexip's count is not ours */
			if (!it->local && meta && json_object_object_get_ex(meta, "total_count", &tc))
				it->total = json_object_get_int64(tc);
			if ((err = next_path(&nx, it->client, meta)) < 0)
				return err;
			if (nx && strcmp(nx, it->next) == 0) {
				free(nx);
				return pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_JSON,
					"meta.next repeats the page just read; refusing to loop");
			}
			free(it->next);
			it->next = nx;
		}
		if ((err = room_from_json(out, json_object_array_get_idx(it->objects, it->pos++))) < 0)
			return err;
		if (!it->local || iter_keeps(it, *out))
			return 0;
		pex_room_free(*out);
		*out = NULL;
	}
}

long long pex_room_iter_total(const pex_room_iter *it)
{
	return it ? it->total : -1;
}

void pex_room_iter_free(pex_room_iter *it)
{
	if (!it)
		return;
	json_object_put(it->page);
	free(it->next);
	free(it->prefix);
	free(it->contains);
	free(it->tag);
	free(it->service_type);
	free(it);
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

/* ---- status ---- */

/* Live conferences whose names start with @p prefix, counted here by
 * reading every page of the unfiltered status list (for a Pexip that does
 * not allow the name filter). */
static int status_count_here(long long *count, pex_client *c, const char *prefix, const char *what)
{
	json_object *root = NULL, *objects, *meta;
	char *next = pex__strdup(PEX__API_STATUS_CONF "?limit=500&offset=0"), *nx;
	size_t i, n, pl = strlen(prefix);
	unsigned pages = 0;
	long long found = 0;
	int err = next ? 0 : pex__error_nomem();

	while (err == 0 && next) {
		json_object_put(root);
		if (++pages > 1000) {
			err = pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_JSON, "%s: too many pages; giving up", what);
			break;
		}
		if ((err = get_page(&root, &objects, c, next, what)) < 0)
			break;
		n = json_object_array_length(objects);
		for (i = 0; i < n; i++) {
			json_object *nm;
			if (json_object_object_get_ex(json_object_array_get_idx(objects, i), "name", &nm) &&
			    json_object_is_type(nm, json_type_string) &&
			    strncmp(json_object_get_string(nm), prefix, pl) == 0)
				found++;
		}
		meta = NULL;
		json_object_object_get_ex(root, "meta", &meta);
		nx = NULL;
		if ((err = next_path(&nx, c, meta)) == 0 && nx && (n == 0 || strcmp(nx, next) == 0)) {
			free(nx);
			nx = NULL;
			err = pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_JSON,
				"%s: meta.next repeats the page just read or follows an empty page", what);
		}
		free(next);
		next = nx;
	}
	free(next);
	json_object_put(root);
	if (err == 0)
		*count = found;
	return err;
}

int pex_room_is_live(int *live, pex_client *c, const char *name)
{
	json_object *o = NULL;
	int err;
	if (!live || !c)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pex_room_is_live: no output or client");
	if ((err = check_name(name)) < 0)
		return err;
	/* by name, never by meta.total_count: ?name= may match loosely */
	err = find_by_name(&o, c, PEX__API_STATUS_CONF, name, "reading conference status");
	if (err == 0)
		*live = o != NULL;
	json_object_put(o);
	return err;
}

int pex_room_live_count(long long *count, pex_client *c, const char *prefix)
{
	static const char what[] = "counting live conferences";
	pex_buf path = PEX_BUF_INIT;
	json_object *root = NULL, *objects, *meta, *tc;
	char refused[PEX__FIELD_MAX];
	int err;
	if (!count || !c)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pex_room_live_count: no output or client");
	if (!prefix)
		prefix = "";
	if ((err = pex__buf_puts(&path, PEX__API_STATUS_CONF "?limit=1")) < 0 ||
	    (*prefix && (err = add_filter(&path, "name__startswith", prefix)) < 0))
		goto out;
	err = get_page_ex(&root, &objects, c, path.ptr, what, refused);
	if (err == PEX_ENOTSUPPORTED) {
		/* Pexip does not allow the name filter here: count on our side */
		pex__log(pex__client_logger(c), PEX_LOG_DEBUG, "%s; counting here", pex_error_last()->message);
		pex_error_clear();
		err = status_count_here(count, c, prefix, what);
		goto out;
	}
	if (err < 0)
		goto out;
	if (json_object_object_get_ex(root, "meta", &meta) &&
	    json_object_object_get_ex(meta, "total_count", &tc) && json_object_is_type(tc, json_type_int))
		*count = json_object_get_int64(tc);
	else
		*count = (long long)json_object_array_length(objects);
out:
	json_object_put(root);
	pex_buf_dispose(&path);
	return err;
}

/* ---- batched lookups by name (GC) ---- */

/* Longest request path a batch lookup builds; names that do not fit are
 * left unknown for the caller's per-room path. Well under the 8 KiB request
 * line that common front ends (nginx, Apache) accept. */
#define PEX__BATCH_PATH_MAX 6000

int pex__room_batch_parse(const char *body, size_t len, const char *const *names, size_t n,
	long long *ids, int *live, const char *what)
{
	json_object *root = NULL, *objects = NULL, *meta, *tc;
	size_t i, j, asked = 0, got;
	int err = 0;

	if (!names || (!ids == !live))
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pex__room_batch_parse: bad arguments");
	for (i = 0; i < n; i++)
		if ((ids ? ids[i] : live[i]) >= 0)
			asked++;
	root = parse_text(body, len, what);
	if (!root)
		err = pex_error_last()->code;
	else if (!json_object_is_type(root, json_type_object) ||
		 !json_object_object_get_ex(root, "objects", &objects) ||
		 !json_object_is_type(objects, json_type_array))
		err = pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_JSON,
			"%s: Pexip's reply has no 'objects' list", what);
	if (err < 0)
		goto out;
	got = json_object_array_length(objects);
	/* A server that ignored the filter (or paged the answer) would say
	 * "not found" for rooms it simply did not list: refuse to guess. */
	if (got > asked ||
	    (json_object_object_get_ex(root, "meta", &meta) &&
	     json_object_object_get_ex(meta, "total_count", &tc) &&
	     json_object_is_type(tc, json_type_int) && json_object_get_int64(tc) > (long long)got)) {
		err = pex_error_set(PEX_ENOTSUPPORTED, PEX_ERROR_CLASS_HTTP,
			"%s: Pexip answered the name__in filter with more rooms than were asked for", what);
		goto out;
	}
	for (j = 0; j < got; j++) {
		json_object *o = json_object_array_get_idx(objects, j), *nm, *idv;
		const char *nmstr;
		if (!json_object_is_type(o, json_type_object) ||
		    !json_object_object_get_ex(o, "name", &nm) || !json_object_is_type(nm, json_type_string))
			continue;
		nmstr = json_object_get_string(nm);
		for (i = 0; i < n; i++) {
			/* exact match only, whatever the server's collation */
			if (!names[i] || strcmp(names[i], nmstr) != 0 || (ids ? ids[i] : live[i]) < 0)
				continue;
			if (live) {
				live[i] = 1;
			} else if (json_object_object_get_ex(o, "id", &idv) &&
				   json_object_is_type(idv, json_type_int) && json_object_get_int64(idv) > 0) {
				ids[i] = json_object_get_int64(idv);
			}
		}
	}
out:
	if (err < 0) {
		for (i = 0; i < n; i++) {
			if (ids)
				ids[i] = -1;
			else
				live[i] = -1;
		}
	}
	json_object_put(root);
	return err;
}

int pex__room_batch_lookup(pex_client *c, const char *const *names, size_t n,
	long long *ids, int *live)
{
	pex_buf path = PEX_BUF_INIT;
	pex__http_response resp;
	const char *what = ids ? "looking rooms up by name" : "checking which rooms are live";
	size_t i, asked = 0;
	int err;

	if (!c || !names || (!ids == !live))
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pex__room_batch_lookup: bad arguments");
	for (i = 0; i < n; i++) {
		if (ids)
			ids[i] = -1;
		else
			live[i] = -1;
	}
	if (n == 0)
		return 0;
	if ((err = pex__buf_printf(&path, "%s?limit=%zu&name__in=",
			ids ? PEX__API_CONF : PEX__API_STATUS_CONF, n > 500 ? (size_t)500 : n)) < 0)
		goto out;
	for (i = 0; i < n && asked < 500; i++) {
		size_t mark = path.size;
		/* a comma would split the name: such rooms stay unknown */
		if (!names[i] || !*names[i] || strchr(names[i], ',') || check_name(names[i]) < 0)
			continue;
		if ((asked && (err = pex__buf_puts(&path, ",")) < 0) ||
		    (err = pex__url_encode(&path, names[i], strlen(names[i]))) < 0)
			goto out;
		if (path.size > PEX__BATCH_PATH_MAX) {
			path.size = mark;
			path.ptr[mark] = '\0';
			break;
		}
		/* asked: 0 until the answer says otherwise */
		if (ids)
			ids[i] = 0;
		else
			live[i] = 0;
		asked++;
	}
	pex_error_clear();
	if (asked == 0)
		goto out;
	memset(&resp, 0, sizeof(resp));
	err = pex__client_call(c, "GET", path.ptr, NULL, 1, &resp);
	if (err == 0 && resp.status == 400)
		/* the server does not allow name__in here */
		err = pex_error_set(PEX_ENOTSUPPORTED, PEX_ERROR_CLASS_HTTP,
			"%s: Pexip refused the name__in filter (HTTP 400)", what);
	else if (err == 0 && !ok_status(resp.status))
		err = pex__client_fail(c, &resp, what);
	else if (err == 0)
		err = pex__room_batch_parse(resp.body.ptr, resp.body.size, names, n, ids, live, what);
	pex__http_response_dispose(&resp);
out:
	if (err < 0) {
		for (i = 0; i < n; i++) {
			if (ids)
				ids[i] = -1;
			else
				live[i] = -1;
		}
	}
	pex_buf_dispose(&path);
	return err;
}
