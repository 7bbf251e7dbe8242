/* Reading conferences in bulk: pages and the exact-name lookup, the
 * listing iterator, live status and the name__in batch lookup. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "pexip/room_internal.h"

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
	} else if (err == 0 && !pex__room_ok_status(resp.status))
		err = pex__client_fail(c, &resp, what);
	if (err == 0) {
		root = pex__room_parse_body(&resp, what);
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
int pex__room_find_by_name(json_object **found, pex_client *c, const char *api, const char *name,
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
	if (!c)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "%s: no client", what);
	if ((err = pex__room_check_name(name)) < 0)
		return err;
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

/* ---- listing ---- */

int pex_room_filter_init(pex_room_filter *f, unsigned int version)
{
	static const pex_room_filter init = PEX_ROOM_FILTER_INIT;
	return PEX__STRUCT_INIT(f, init, version, PEX_ROOM_FILTER_VERSION, "pex_room_filter");
}

/* Filters applied here rather than by Pexip (which refused them). */
enum {
	PEX__LOCAL_PREFIX = 1, PEX__LOCAL_CONTAINS = 2, PEX__LOCAL_TAG = 4, PEX__LOCAL_SERVICE = 8
};

/* The parts of a filter, each a copy in pex_room_iter.filter. */
enum filter_part { F_PREFIX, F_CONTAINS, F_TAG, F_SERVICE, PEX__FILTER_COUNT };

struct pex_room_iter {
	pex_client *client;
	char *next;            /* path of the next page, NULL when done */
	json_object *page;     /* current page root */
	json_object *objects;  /* borrowed from page */
	size_t pos;
	long long total;
	unsigned pages;
	/* the filter (copies) and which parts are applied here */
	char *filter[PEX__FILTER_COUNT];   /* indexed by enum filter_part */
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
	    (!(l & PEX__LOCAL_PREFIX) && (err = add_filter(&path, "name__startswith", it->filter[F_PREFIX])) < 0) ||
	    (!(l & PEX__LOCAL_CONTAINS) && (err = add_filter(&path, "name__icontains", it->filter[F_CONTAINS])) < 0) ||
	    (!(l & PEX__LOCAL_TAG) && (err = add_filter(&path, "tag", it->filter[F_TAG])) < 0) ||
	    (!(l & PEX__LOCAL_SERVICE) && (err = add_filter(&path, "service_type", it->filter[F_SERVICE])) < 0)) {
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
	unsigned set = (it->filter[F_PREFIX] ? PEX__LOCAL_PREFIX : 0) | (it->filter[F_CONTAINS] ? PEX__LOCAL_CONTAINS : 0) |
		(it->filter[F_TAG] ? PEX__LOCAL_TAG : 0) | (it->filter[F_SERVICE] ? PEX__LOCAL_SERVICE : 0), want;
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
	return (!(l & PEX__LOCAL_PREFIX) || strncmp(pex_room_name(r), it->filter[F_PREFIX], strlen(it->filter[F_PREFIX])) == 0) &&
		(!(l & PEX__LOCAL_CONTAINS) || strcasestr(pex_room_name(r), it->filter[F_CONTAINS]) != NULL) &&
		(!(l & PEX__LOCAL_TAG) || strcmp(pex_room_tag(r), it->filter[F_TAG]) == 0) &&
		(!(l & PEX__LOCAL_SERVICE) || strcmp(pex_room_service_type(r), it->filter[F_SERVICE]) == 0);
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
	if (f && (err = pex__version_check(f->version, PEX_ROOM_FILTER_VERSION, "pex_room_filter")) < 0)
		return err;
	it = pex__calloc(1, sizeof(*it));
	if (!it)
		return PEX_ENOMEM;
	it->client = c;
	it->total = -1;
	it->page_size = 100;
	if (f && f->page_size)
		it->page_size = f->page_size > 500 ? 500 : f->page_size;
	if ((f && ((err = dup_filter(&it->filter[F_PREFIX], f->name_prefix)) < 0 ||
		   (err = dup_filter(&it->filter[F_CONTAINS], f->name_contains)) < 0 ||
		   (err = dup_filter(&it->filter[F_TAG], f->tag)) < 0 ||
		   (err = dup_filter(&it->filter[F_SERVICE], f->service_type)) < 0)) ||
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
		if ((err = pex__room_from_json(out, json_object_array_get_idx(it->objects, it->pos++))) < 0)
			return err;
		if (!it->local || iter_keeps(it, *out))
			return 0;
		pex_room_free(*out);
		*out = NULL;
	}
}

int pex_room_iter_total(long long *total, const pex_room_iter *it)
{
	if (!total || !it)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pex_room_iter_total: total and iterator are required");
	*total = it->total;
	return 0;
}

void pex_room_iter_free(pex_room_iter *it)
{
	size_t i;

	for (i = 0; it && i < PEX__FILTER_COUNT; i++)
		free(it->filter[i]);
	if (it) {
		json_object_put(it->page);
		free(it->next);
		free(it);
	}
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
	if (!live)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pex_room_is_live: no output");
	/* by name, never by meta.total_count: ?name= may match loosely */
	err = pex__room_find_by_name(&o, c, PEX__API_STATUS_CONF, name, "reading conference status");
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

/* After a failed batch every answer is unknown (-1). */
static void batch_unknown(long long *ids, int *live, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (ids)
			ids[i] = -1;
		else
			live[i] = -1;
	}
}

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
	root = pex__room_parse_text(body, len, what);
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
	if (err < 0)
		batch_unknown(ids, live, n);
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
		if (!names[i] || !*names[i] || strchr(names[i], ',') || pex__room_check_name(names[i]) < 0)
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
	else if (err == 0 && !pex__room_ok_status(resp.status))
		err = pex__client_fail(c, &resp, what);
	else if (err == 0)
		err = pex__room_batch_parse(resp.body.ptr, resp.body.size, names, n, ids, live, what);
	pex__http_response_dispose(&resp);
out:
	if (err < 0)
		batch_unknown(ids, live, n);
	pex_buf_dispose(&path);
	return err;
}
