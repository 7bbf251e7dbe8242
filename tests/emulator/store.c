/* The emulator's in-memory data: configuration conferences and aliases,
 * live (status) conferences and participants, and the REST handlers over
 * them (README.md, Management API).
 *
 * Concurrency: one rwlock protects everything here. Readers (GET) share it;
 * writers hold it exclusively. Handlers build their JSON answer while they
 * hold the lock, so no pointer into the store escapes it.
 *
 * Lookups: hash maps by id (conference, alias), by exact name, by alias
 * string, by status UUID. Listing scans an id-ordered vector (the default
 * order), or uses the maps when an exact `name`/`name__in` filter allows it. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "emu.h"

#define API "/api/admin/"
#define CONF_PATH "configuration/v1/conference/"
#define ALIAS_PATH "configuration/v1/conference_alias/"
#define SCONF_PATH "status/v1/conference/"
#define SPART_PATH "status/v1/participant/"

/* ------------------------------------------------------------------ */
/* Ordered vectors with holes                                         */
/* ------------------------------------------------------------------ */

/* Every stored object starts with its position in its vector. */
typedef struct node {
	size_t pos;
} node;

typedef struct ovec {
	node **v;
	size_t n, cap, live;
} ovec;

static void ovec_push(ovec *o, void *p)
{
	if (o->n == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 64;
		o->v = xrealloc(o->v, o->cap * sizeof(*o->v));
	}
	((node *)p)->pos = o->n;
	o->v[o->n++] = p;
	o->live++;
}

static void ovec_remove(ovec *o, void *p)
{
	size_t i, j;
	o->v[((node *)p)->pos] = NULL;
	o->live--;
	/* compact when more than half are holes */
	if (o->n > 64 && o->live < o->n / 2) {
		for (i = j = 0; i < o->n; i++) {
			if (o->v[i]) {
				o->v[i]->pos = j;
				o->v[j++] = o->v[i];
			}
		}
		o->n = j;
	}
}

static void ovec_free(ovec *o, void (*fr)(void *))
{
	size_t i;
	for (i = 0; i < o->n; i++)
		if (o->v[i] && fr)
			fr(o->v[i]);
	free(o->v);
	memset(o, 0, sizeof(*o));
}

/* ------------------------------------------------------------------ */
/* Data model                                                         */
/* ------------------------------------------------------------------ */

typedef struct nint {
	bool set;
	long long v;
} nint;

struct alias;

typedef struct conf {
	size_t pos;
	int64_t id;
	char *name;
	const char *service_type;
	char *description, *pin, *guest_pin, *tag;
	bool allow_guests;
	nint participant_limit;
	const char *call_type;
	nint max_callrate_in, max_callrate_out;
	const char *max_pixels_per_second, *crypto_mode, *enable_chat;
	char *host_view, *guest_view, *primary_owner_email_address, *sync_tag;
	char *ivr_theme, *system_location;
	bool mute_all_guests, guests_can_present, enable_overlay_text, force_presenter_into_main;
	int64_t creation_time;
	struct alias **aliases;
	size_t n_aliases, cap_aliases;
} conf;

typedef struct alias {
	size_t pos;
	int64_t id;
	char *alias, *description;
	int64_t conf_id;
	int64_t creation_time;
} alias;

struct live;

typedef struct participant {
	size_t pos;
	char id[37];
	struct live *lc;
	char *display_name;
	const char *role;
	int64_t connect_time;
	int index;
} participant;

typedef struct live {
	size_t pos;
	char id[37];
	char *name, *service_type, *tag;
	bool is_started, is_locked, guests_muted;
	int64_t start_time;
	participant **parts;
	size_t n_parts;
} live;

static pthread_rwlock_t st_lock = PTHREAD_RWLOCK_INITIALIZER;
static emu_map *conf_by_id, *conf_by_name, *alias_by_id, *alias_by_name;
static emu_map *live_by_id, *live_by_name, *part_by_id;
static ovec confs, aliases, lives, parts;
static int64_t next_conf_id = 1, next_alias_id = 1;

/* ---- field table for conference ---- */

enum fkind { FK_STR, FK_PIN, FK_ENUM, FK_BOOL, FK_NINT };

typedef struct fdef {
	const char *name;
	enum fkind kind;
	size_t off;
	bool nullable;
	int maxlen;
	const char *const *choices;
	long long min, max;
	const char *defstr; /* default for STR/PIN/ENUM; NULL = null */
	bool defbool;
} fdef;

static const char *const service_types[] = { "conference", "lecture", "two_stage_dialing", "test_call",
					     "media_playback", NULL };
static const char *const call_types[] = { "audio", "video", "video-only", NULL };
static const char *const pixel_choices[] = { "sd", "hd", "fullhd", NULL };
static const char *const crypto_choices[] = { "besteffort", "on", "off", NULL };
static const char *const chat_choices[] = { "default", "yes", "no", NULL };

#define OFF(f) offsetof(conf, f)
static const fdef conf_fields[] = {
	{ "name", FK_STR, OFF(name), false, 250, NULL, 0, 0, "", false },
	{ "service_type", FK_ENUM, OFF(service_type), false, 0, service_types, 0, 0, "conference", false },
	{ "description", FK_STR, OFF(description), false, 250, NULL, 0, 0, "", false },
	{ "pin", FK_PIN, OFF(pin), false, 0, NULL, 0, 0, "", false },
	{ "guest_pin", FK_PIN, OFF(guest_pin), false, 0, NULL, 0, 0, "", false },
	{ "allow_guests", FK_BOOL, OFF(allow_guests), false, 0, NULL, 0, 0, NULL, false },
	{ "tag", FK_STR, OFF(tag), false, 250, NULL, 0, 0, "", false },
	{ "participant_limit", FK_NINT, OFF(participant_limit), true, 0, NULL, 0, 1000000, NULL, false },
	{ "call_type", FK_ENUM, OFF(call_type), false, 0, call_types, 0, 0, "video", false },
	{ "max_callrate_in", FK_NINT, OFF(max_callrate_in), true, 0, NULL, 128, 8192, NULL, false },
	{ "max_callrate_out", FK_NINT, OFF(max_callrate_out), true, 0, NULL, 128, 8192, NULL, false },
	{ "max_pixels_per_second", FK_ENUM, OFF(max_pixels_per_second), true, 0, pixel_choices, 0, 0, NULL, false },
	{ "crypto_mode", FK_ENUM, OFF(crypto_mode), true, 0, crypto_choices, 0, 0, NULL, false },
	{ "enable_chat", FK_ENUM, OFF(enable_chat), false, 0, chat_choices, 0, 0, "default", false },
	{ "host_view", FK_STR, OFF(host_view), true, 50, NULL, 0, 0, "one_main_seven_pips", false },
	{ "guest_view", FK_STR, OFF(guest_view), true, 50, NULL, 0, 0, NULL, false },
	{ "primary_owner_email_address", FK_STR, OFF(primary_owner_email_address), false, 100, NULL, 0, 0, "", false },
	{ "sync_tag", FK_STR, OFF(sync_tag), false, 250, NULL, 0, 0, "", false },
	{ "ivr_theme", FK_STR, OFF(ivr_theme), true, 250, NULL, 0, 0, NULL, false },
	{ "system_location", FK_STR, OFF(system_location), true, 250, NULL, 0, 0, NULL, false },
	{ "mute_all_guests", FK_BOOL, OFF(mute_all_guests), false, 0, NULL, 0, 0, NULL, false },
	{ "guests_can_present", FK_BOOL, OFF(guests_can_present), false, 0, NULL, 0, 0, NULL, true },
	{ "enable_overlay_text", FK_BOOL, OFF(enable_overlay_text), false, 0, NULL, 0, 0, NULL, false },
	{ "force_presenter_into_main", FK_BOOL, OFF(force_presenter_into_main), false, 0, NULL, 0, 0, NULL, false },
};
#undef OFF
#define N_CONF_FIELDS (sizeof(conf_fields) / sizeof(conf_fields[0]))

#define FPTR(c, f, T) ((T *)((char *)(c) + (f)->off))

static void conf_set_defaults(conf *c)
{
	size_t i;
	for (i = 0; i < N_CONF_FIELDS; i++) {
		const fdef *f = &conf_fields[i];
		switch (f->kind) {
		case FK_STR:
		case FK_PIN:
			*FPTR(c, f, char *) = f->defstr ? xstrdup(f->defstr) : NULL;
			break;
		case FK_ENUM:
			*FPTR(c, f, const char *) = f->defstr;
			break;
		case FK_BOOL:
			*FPTR(c, f, bool) = f->defbool;
			break;
		case FK_NINT:
			FPTR(c, f, nint)->set = false;
			break;
		}
	}
}

static void conf_free_fields(conf *c)
{
	size_t i;
	for (i = 0; i < N_CONF_FIELDS; i++) {
		const fdef *f = &conf_fields[i];
		if (f->kind == FK_STR || f->kind == FK_PIN) {
			free(*FPTR(c, f, char *));
			*FPTR(c, f, char *) = NULL;
		}
	}
}

/* Copies the table fields (deeply) from src to dst. */
static void conf_copy_fields(conf *dst, const conf *src)
{
	size_t i;
	for (i = 0; i < N_CONF_FIELDS; i++) {
		const fdef *f = &conf_fields[i];
		switch (f->kind) {
		case FK_STR:
		case FK_PIN: {
			const char *s = *FPTR(src, f, char *);
			*FPTR(dst, f, char *) = s ? xstrdup(s) : NULL;
			break;
		}
		case FK_ENUM:
			*FPTR(dst, f, const char *) = *FPTR(src, f, const char *);
			break;
		case FK_BOOL:
			*FPTR(dst, f, bool) = *FPTR(src, f, bool);
			break;
		case FK_NINT:
			*FPTR(dst, f, nint) = *FPTR(src, f, nint);
			break;
		}
	}
}

static void conf_free(void *p)
{
	conf *c = p;
	conf_free_fields(c);
	free(c->aliases);
	free(c);
}

static void alias_free(void *p)
{
	alias *a = p;
	free(a->alias);
	free(a->description);
	free(a);
}

static void part_free(void *p)
{
	participant *pt = p;
	free(pt->display_name);
	free(pt);
}

static void live_free(void *p)
{
	live *l = p;
	free(l->name);
	free(l->service_type);
	free(l->tag);
	free(l->parts);
	free(l);
}

/* ------------------------------------------------------------------ */
/* Validation helpers                                                 */
/* ------------------------------------------------------------------ */

/* errs: {"field": ["msg", ...]} */
static void add_err(json_object *errs, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void add_err(json_object *errs, const char *field, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;
	json_object *arr;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	va_end(ap);
	if (!json_object_object_get_ex(errs, field, &arr)) {
		arr = json_object_new_array();
		json_object_object_add(errs, field, arr);
	}
	json_object_array_add(arr, json_object_new_string(msg));
	free(msg);
}

static size_t utf8_len(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/* A JSON string usable as a C string (no embedded NUL); NULL otherwise. */
static const char *json_cstr(json_object *v)
{
	const char *s;
	if (!json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	if (strlen(s) != (size_t)json_object_get_string_len(v))
		return NULL;
	return s;
}

/* Validates a string value against a max length; on success returns the
 * string, else records the error and returns NULL. */
static const char *check_str(json_object *errs, const char *field, json_object *v, int maxlen)
{
	const char *s = json_cstr(v);
	size_t n;
	if (!s) {
		add_err(errs, field, json_object_is_type(v, json_type_string) ?
			"Null characters are not allowed." : "Expected a string.");
		return NULL;
	}
	n = utf8_len(s);
	if (maxlen > 0 && n > (size_t)maxlen) {
		add_err(errs, field, "Ensure this value has at most %d characters (it has %zu).", maxlen, n);
		return NULL;
	}
	return s;
}

static bool pin_ok(const char *s)
{
	size_t n = 0;
	if (!*s)
		return true;
	for (; isdigit((unsigned char)s[n]); n++)
		;
	if (s[n] == '#')
		return n >= 4 && n <= 20 && s[n + 1] == 0;
	return s[n] == 0 && n >= 4 && n <= 20;
}

/* Applies one JSON value to a conference field, validating it. */
static void apply_field(conf *c, const fdef *f, json_object *v, json_object *errs)
{
	if (v == NULL || json_object_is_type(v, json_type_null)) {
		if (!f->nullable) {
			add_err(errs, f->name, "This field cannot be null.");
			return;
		}
		switch (f->kind) {
		case FK_STR:
		case FK_PIN:
			free(*FPTR(c, f, char *));
			*FPTR(c, f, char *) = NULL;
			break;
		case FK_ENUM:
			*FPTR(c, f, const char *) = NULL;
			break;
		case FK_NINT:
			FPTR(c, f, nint)->set = false;
			break;
		case FK_BOOL:
			break;
		}
		return;
	}
	switch (f->kind) {
	case FK_STR:
	case FK_PIN: {
		const char *s = check_str(errs, f->name, v, f->maxlen);
		if (!s)
			return;
		if (f->kind == FK_PIN && !pin_ok(s)) {
			add_err(errs, f->name, "PIN must be 4 to 20 digits, optionally followed by #.");
			return;
		}
		free(*FPTR(c, f, char *));
		*FPTR(c, f, char *) = xstrdup(s);
		return;
	}
	case FK_ENUM: {
		const char *s = json_cstr(v);
		size_t i;
		if (!s) {
			add_err(errs, f->name, "Expected a string.");
			return;
		}
		for (i = 0; f->choices[i]; i++) {
			if (strcmp(f->choices[i], s) == 0) {
				*FPTR(c, f, const char *) = f->choices[i];
				return;
			}
		}
		add_err(errs, f->name, "Value '%.64s' is not a valid choice.", s);
		return;
	}
	case FK_BOOL:
		if (!json_object_is_type(v, json_type_boolean)) {
			add_err(errs, f->name, "Expected a boolean.");
			return;
		}
		*FPTR(c, f, bool) = json_object_get_boolean(v);
		return;
	case FK_NINT: {
		long long n;
		if (!json_object_is_type(v, json_type_int)) {
			add_err(errs, f->name, "Expected an integer.");
			return;
		}
		errno = 0;
		n = json_object_get_int64(v);
		if (n < f->min) {
			add_err(errs, f->name, "Ensure this value is greater than or equal to %lld.", f->min);
			return;
		}
		if (n > f->max || errno) {
			add_err(errs, f->name, "Ensure this value is less than or equal to %lld.", f->max);
			return;
		}
		FPTR(c, f, nint)->set = true;
		FPTR(c, f, nint)->v = n;
		return;
	}
	}
}

/* Applies every known field present in `in` (unknown keys are ignored, as
 * Tastypie does; read-only ones too). */
static void apply_fields(conf *c, json_object *in, json_object *errs)
{
	size_t i;
	json_object *v;
	for (i = 0; i < N_CONF_FIELDS; i++)
		if (json_object_object_get_ex(in, conf_fields[i].name, &v))
			apply_field(c, &conf_fields[i], v, errs);
	if (json_object_object_get_ex(in, "automatic_participants", &v) &&
	    !json_object_is_type(v, json_type_array) && !json_object_is_type(v, json_type_null))
		add_err(errs, "automatic_participants", "Expected a list.");
}

/* The trailing integer id of a resource URI ("/api/admin/.../<res>/42/",
 * "api/admin/...", "https://host/api/admin/...", or just "42"). */
static bool parse_res_uri(const char *s, const char *res_path, int64_t *id)
{
	const char *p = s;
	char *end;
	long long v;
	if (!s)
		return false;
	if (!isdigit((unsigned char)*s)) {
		p = strstr(s, res_path);
		if (!p)
			return false;
		p += strlen(res_path);
	}
	if (!isdigit((unsigned char)*p))
		return false;
	errno = 0;
	v = strtoll(p, &end, 10);
	if (errno || v <= 0)
		return false;
	if (*end == '/')
		end++;
	if (*end)
		return false;
	*id = v;
	return true;
}

/* ------------------------------------------------------------------ */
/* JSON views                                                         */
/* ------------------------------------------------------------------ */

static json_object *jstr_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static json_object *jtime(int64_t us)
{
	char buf[40];
	fmt_iso(us, buf, sizeof(buf));
	return json_object_new_string(buf);
}

static char *conf_uri(int64_t id)
{
	return xasprintf(API CONF_PATH "%" PRId64 "/", id);
}

static json_object *alias_json(const alias *a)
{
	json_object *o = json_object_new_object();
	char *u;
	json_object_object_add(o, "id", json_object_new_int64(a->id));
	json_object_object_add(o, "alias", json_object_new_string(a->alias));
	u = conf_uri(a->conf_id);
	json_object_object_add(o, "conference", json_object_new_string(u));
	free(u);
	json_object_object_add(o, "description", json_object_new_string(a->description));
	json_object_object_add(o, "creation_time", jtime(a->creation_time));
	u = xasprintf(API ALIAS_PATH "%" PRId64 "/", a->id);
	json_object_object_add(o, "resource_uri", json_object_new_string(u));
	free(u);
	return o;
}

/* Location of a new resource: the path, or (mode absolute_location) an
 * absolute URL on another host name, as Pexip behind a proxy sends it. */
static void location_header(resp *r, const char *path)
{
	emu_mode m;
	char *abs;

	mode_get(&m);
	if (!m.absolute_location) {
		resp_header(r, "Location", path);
		return;
	}
	abs = xasprintf("https://pexip.example.com%s", path);
	resp_header(r, "Location", abs);
	free(abs);
}

static json_object *conf_json(const conf *c)
{
	json_object *o = json_object_new_object(), *al;
	size_t i;
	char *u = conf_uri(c->id);
	emu_mode m;

	mode_get(&m);
	json_object_object_add(o, "id", json_object_new_int64(c->id));
	json_object_object_add(o, "resource_uri", json_object_new_string(u));
	free(u);
	for (i = 0; i < N_CONF_FIELDS; i++) {
		const fdef *f = &conf_fields[i];
		json_object *v = NULL;
		switch (f->kind) {
		case FK_STR:
		case FK_PIN:
			v = jstr_or_null(*FPTR(c, f, char *));
			break;
		case FK_ENUM:
			v = jstr_or_null(*FPTR(c, f, const char *));
			break;
		case FK_BOOL:
			v = json_object_new_boolean(*FPTR(c, f, bool));
			break;
		case FK_NINT:
			if (FPTR(c, f, nint)->set)
				v = json_object_new_int64(FPTR(c, f, nint)->v);
			break;
		}
		/* mode null_fields: an unset optional string is null, as Pexip's
		 * documentation shows it (the name is never optional) */
		if (m.null_fields && v && json_object_is_type(v, json_type_string) &&
		    json_object_get_string_len(v) == 0 && strcmp(f->name, "name") != 0) {
			json_object_put(v);
			v = NULL;
		}
		json_object_object_add(o, f->name, v);
	}
	json_object_object_add(o, "creation_time", jtime(c->creation_time));
	al = json_object_new_array();
	for (i = 0; i < c->n_aliases; i++)
		json_object_array_add(al, alias_json(c->aliases[i]));
	json_object_object_add(o, "aliases", al);
	json_object_object_add(o, "automatic_participants", json_object_new_array());
	return o;
}

static json_object *live_json(const live *l)
{
	json_object *o = json_object_new_object();
	char *u = xasprintf(API SCONF_PATH "%s/", l->id);
	json_object_object_add(o, "id", json_object_new_string(l->id));
	json_object_object_add(o, "name", json_object_new_string(l->name));
	json_object_object_add(o, "service_type", json_object_new_string(l->service_type));
	json_object_object_add(o, "is_started", json_object_new_boolean(l->is_started));
	json_object_object_add(o, "is_locked", json_object_new_boolean(l->is_locked));
	json_object_object_add(o, "guests_muted", json_object_new_boolean(l->guests_muted));
	json_object_object_add(o, "direct_media_available", json_object_new_boolean(0));
	json_object_object_add(o, "start_time", jtime(l->start_time));
	json_object_object_add(o, "tag", json_object_new_string(l->tag));
	json_object_object_add(o, "resource_uri", json_object_new_string(u));
	free(u);
	return o;
}

static json_object *part_json(const participant *p)
{
	json_object *o = json_object_new_object();
	char *u = xasprintf(API SPART_PATH "%s/", p->id);
	char src[64], call_uuid[37];
	snprintf(src, sizeof(src), "sip:user%d@example.com", p->index);
	/* a stable call uuid derived from the participant id */
	memcpy(call_uuid, p->id, sizeof(call_uuid));
	call_uuid[0] = call_uuid[0] == 'a' ? 'b' : 'a';
	json_object_object_add(o, "id", json_object_new_string(p->id));
	json_object_object_add(o, "conference", json_object_new_string(p->lc->name));
	json_object_object_add(o, "display_name", json_object_new_string(p->display_name));
	json_object_object_add(o, "role", json_object_new_string(p->role));
	json_object_object_add(o, "protocol", json_object_new_string("WebRTC"));
	json_object_object_add(o, "call_direction", json_object_new_string("in"));
	json_object_object_add(o, "call_uuid", json_object_new_string(call_uuid));
	json_object_object_add(o, "connect_time", jtime(p->connect_time));
	json_object_object_add(o, "has_media", json_object_new_boolean(1));
	json_object_object_add(o, "is_muted", json_object_new_boolean(0));
	json_object_object_add(o, "is_presenting", json_object_new_boolean(0));
	json_object_object_add(o, "is_streaming", json_object_new_boolean(0));
	json_object_object_add(o, "is_on_hold", json_object_new_boolean(0));
	json_object_object_add(o, "service_type", json_object_new_string(p->lc->service_type));
	json_object_object_add(o, "service_tag", json_object_new_string(p->lc->tag));
	json_object_object_add(o, "source_alias", json_object_new_string(src));
	json_object_object_add(o, "destination_alias", json_object_new_string(p->lc->name));
	json_object_object_add(o, "remote_address", json_object_new_string("127.0.0.1"));
	json_object_object_add(o, "media_node", json_object_new_string("127.0.0.1"));
	json_object_object_add(o, "signalling_node", json_object_new_string("127.0.0.1"));
	json_object_object_add(o, "system_location", json_object_new_string("emulated"));
	json_object_object_add(o, "vendor", json_object_new_string("pexip-emulator"));
	json_object_object_add(o, "resource_uri", json_object_new_string(u));
	free(u);
	return o;
}

/* ------------------------------------------------------------------ */
/* Listing: filters, ordering, pagination                             */
/* ------------------------------------------------------------------ */

enum ftype { FT_STR, FT_INT, FT_BOOL, FT_TIME, FT_REL };

enum fop {
	OP_EXACT = 1 << 0, OP_IEXACT = 1 << 1, OP_STARTS = 1 << 2, OP_ISTARTS = 1 << 3,
	OP_ENDS = 1 << 4, OP_IENDS = 1 << 5, OP_CONTAINS = 1 << 6, OP_ICONTAINS = 1 << 7,
	OP_IN = 1 << 8, OP_GT = 1 << 9, OP_GTE = 1 << 10, OP_LT = 1 << 11, OP_LTE = 1 << 12,
	OP_ISNULL = 1 << 13,
};
#define OPS_STR (OP_EXACT | OP_IEXACT | OP_STARTS | OP_ISTARTS | OP_ENDS | OP_IENDS | OP_CONTAINS | \
		 OP_ICONTAINS | OP_IN)
#define OPS_CMP (OP_EXACT | OP_IN | OP_GT | OP_GTE | OP_LT | OP_LTE)

static const struct {
	const char *name;
	enum fop op;
} op_names[] = {
	{ "exact", OP_EXACT }, { "iexact", OP_IEXACT }, { "startswith", OP_STARTS },
	{ "istartswith", OP_ISTARTS }, { "endswith", OP_ENDS }, { "iendswith", OP_IENDS },
	{ "contains", OP_CONTAINS }, { "icontains", OP_ICONTAINS }, { "in", OP_IN },
	{ "gt", OP_GT }, { "gte", OP_GTE }, { "lt", OP_LT }, { "lte", OP_LTE }, { "isnull", OP_ISNULL },
};

/* A field of a listed resource: ops == 0 means "known, not filterable". */
typedef struct lfield {
	const char *name;
	enum ftype type;
	unsigned ops;
	bool orderable;
} lfield;

typedef struct fval {
	const char *s;
	long long i;
	bool b, null;
} fval;

typedef struct listdef {
	const char *path; /* e.g. CONF_PATH */
	const lfield *fields;
	ovec *vec;
	/* reads field `idx` of obj */
	void (*get)(const void *obj, int idx, fval *out);
	json_object *(*to_json)(const void *obj);
	/* O(1) lookup for an exact filter on a unique field */
	void *(*lookup)(int idx, const char *value);
	unsigned unique; /* bit i set: lookup() serves field i */
} listdef;

typedef struct filter {
	int idx;
	enum ftype type;
	enum fop op;
	const char *val;
	long long ival;
	bool bval;
	char **in;
	size_t n_in;
	long long *in_i;
} filter;

static const lfield conf_lfields[] = {
	{ "id", FT_INT, OPS_CMP, true },
	{ "name", FT_STR, OPS_STR, true },
	{ "tag", FT_STR, OPS_STR, true },
	{ "service_type", FT_STR, OP_EXACT | OP_IN, true },
	{ "creation_time", FT_TIME, OPS_CMP, true },
	{ "description", FT_STR, 0, false }, { "pin", FT_STR, 0, false },
	{ "guest_pin", FT_STR, 0, false }, { "allow_guests", FT_BOOL, 0, false },
	{ "participant_limit", FT_INT, 0, false }, { "aliases", FT_STR, 0, false },
	{ "call_type", FT_STR, 0, false }, { "resource_uri", FT_STR, 0, false },
	{ "host_view", FT_STR, 0, false }, { "guest_view", FT_STR, 0, false },
	{ "primary_owner_email_address", FT_STR, 0, false }, { "sync_tag", FT_STR, 0, false },
	{ "ivr_theme", FT_STR, 0, false }, { "system_location", FT_STR, 0, false },
	{ "enable_chat", FT_STR, 0, false }, { "max_callrate_in", FT_INT, 0, false },
	{ "max_callrate_out", FT_INT, 0, false }, { "crypto_mode", FT_STR, 0, false },
	{ "max_pixels_per_second", FT_STR, 0, false }, { "automatic_participants", FT_STR, 0, false },
	{ NULL, 0, 0, false },
};

static void conf_get(const void *obj, int idx, fval *v)
{
	const conf *c = obj;
	memset(v, 0, sizeof(*v));
	switch (idx) {
	case 0: v->i = c->id; break;
	case 1: v->s = c->name; break;
	case 2: v->s = c->tag; break;
	case 3: v->s = c->service_type; break;
	case 4: v->i = c->creation_time; break;
	default: v->null = true; break;
	}
}

static void *conf_lookup(int idx, const char *value)
{
	if (idx == 1)
		return map_sget(conf_by_name, value);
	if (idx == 0) {
		char *end;
		long long id = strtoll(value, &end, 10);
		return *end ? NULL : map_iget(conf_by_id, id);
	}
	return NULL;
}

static json_object *conf_json_v(const void *o)
{
	return conf_json(o);
}

static const lfield alias_lfields[] = {
	{ "id", FT_INT, OPS_CMP, true },
	{ "alias", FT_STR, OPS_STR, true },
	{ "conference", FT_REL, OP_EXACT | OP_IN, true },
	{ "creation_time", FT_TIME, OPS_CMP, true },
	{ "description", FT_STR, 0, false }, { "resource_uri", FT_STR, 0, false },
	{ NULL, 0, 0, false },
};

static void alias_get(const void *obj, int idx, fval *v)
{
	const alias *a = obj;
	memset(v, 0, sizeof(*v));
	switch (idx) {
	case 0: v->i = a->id; break;
	case 1: v->s = a->alias; break;
	case 2: v->i = a->conf_id; break;
	case 3: v->i = a->creation_time; break;
	default: v->null = true; break;
	}
}

static void *alias_lookup(int idx, const char *value)
{
	if (idx == 1)
		return map_sget(alias_by_name, value);
	return NULL;
}

static json_object *alias_json_v(const void *o)
{
	return alias_json(o);
}

static const lfield live_lfields[] = {
	{ "id", FT_STR, OP_EXACT | OP_IN, false },
	{ "name", FT_STR, OPS_STR, true },
	{ "service_type", FT_STR, OP_EXACT | OP_IN, true },
	{ "tag", FT_STR, OPS_STR, true },
	{ "is_started", FT_BOOL, OP_EXACT, false },
	{ "is_locked", FT_BOOL, OP_EXACT, false },
	{ "guests_muted", FT_BOOL, OP_EXACT, false },
	{ "start_time", FT_TIME, OPS_CMP, true },
	{ "direct_media_available", FT_BOOL, 0, false }, { "resource_uri", FT_STR, 0, false },
	{ NULL, 0, 0, false },
};

static void live_get(const void *obj, int idx, fval *v)
{
	const live *l = obj;
	memset(v, 0, sizeof(*v));
	switch (idx) {
	case 0: v->s = l->id; break;
	case 1: v->s = l->name; break;
	case 2: v->s = l->service_type; break;
	case 3: v->s = l->tag; break;
	case 4: v->b = l->is_started; break;
	case 5: v->b = l->is_locked; break;
	case 6: v->b = l->guests_muted; break;
	case 7: v->i = l->start_time; break;
	default: v->null = true; break;
	}
}

static void *live_lookup(int idx, const char *value)
{
	if (idx == 1)
		return map_sget(live_by_name, value);
	if (idx == 0)
		return map_sget(live_by_id, value);
	return NULL;
}

static json_object *live_json_v(const void *o)
{
	return live_json(o);
}

static const lfield part_lfields[] = {
	{ "id", FT_STR, OP_EXACT | OP_IN, false },
	{ "conference", FT_STR, OPS_STR, true },
	{ "display_name", FT_STR, OPS_STR, true },
	{ "role", FT_STR, OP_EXACT | OP_IN, true },
	{ "protocol", FT_STR, OP_EXACT | OP_IN, false },
	{ "is_muted", FT_BOOL, OP_EXACT, false },
	{ "has_media", FT_BOOL, OP_EXACT, false },
	{ "connect_time", FT_TIME, OPS_CMP, true },
	{ "service_tag", FT_STR, OPS_STR, false },
	{ "resource_uri", FT_STR, 0, false },
	{ NULL, 0, 0, false },
};

static void part_get(const void *obj, int idx, fval *v)
{
	const participant *p = obj;
	memset(v, 0, sizeof(*v));
	switch (idx) {
	case 0: v->s = p->id; break;
	case 1: v->s = p->lc->name; break;
	case 2: v->s = p->display_name; break;
	case 3: v->s = p->role; break;
	case 4: v->s = "WebRTC"; break;
	case 5: v->b = false; break;
	case 6: v->b = true; break;
	case 7: v->i = p->connect_time; break;
	case 8: v->s = p->lc->tag; break;
	default: v->null = true; break;
	}
}

static void *part_lookup(int idx, const char *value)
{
	return idx == 0 ? map_sget(part_by_id, value) : NULL;
}

static json_object *part_json_v(const void *o)
{
	return part_json(o);
}

static const listdef conf_list = { CONF_PATH, conf_lfields, &confs, conf_get, conf_json_v, conf_lookup, 3 };
static const listdef alias_list = { ALIAS_PATH, alias_lfields, &aliases, alias_get, alias_json_v, alias_lookup, 2 };
static const listdef live_list = { SCONF_PATH, live_lfields, &lives, live_get, live_json_v, live_lookup, 3 };
static const listdef part_list = { SPART_PATH, part_lfields, &parts, part_get, part_json_v, part_lookup, 1 };

static void filters_free(filter *f, size_t n)
{
	size_t i, j;
	for (i = 0; i < n; i++) {
		for (j = 0; j < f[i].n_in; j++)
			free(f[i].in[j]);
		free(f[i].in);
		free(f[i].in_i);
	}
	free(f);
}

static bool parse_bool_str(const char *s, bool *b)
{
	if (!strcasecmp(s, "true") || !strcmp(s, "1")) {
		*b = true;
		return true;
	}
	if (!strcasecmp(s, "false") || !strcmp(s, "0")) {
		*b = false;
		return true;
	}
	return false;
}

/* Parses one scalar filter value for a typed field. */
static bool parse_scalar(enum ftype t, const char *s, long long *out)
{
	char *end;
	int64_t us;
	switch (t) {
	case FT_INT:
		errno = 0;
		*out = strtoll(s, &end, 10);
		return *s && !*end && !errno;
	case FT_TIME:
		if (parse_iso(s, &us) < 0)
			return false;
		*out = us;
		return true;
	case FT_REL: {
		int64_t id;
		if (!parse_res_uri(s, CONF_PATH, &id))
			return false;
		*out = id;
		return true;
	}
	default:
		return false;
	}
}

/* Mode refuse_filters: "KEY" refuses query key KEY on every list,
 * "status/KEY" or "configuration/KEY" on that API's lists only. */
static bool filter_refused(const listdef *ld, const char *key)
{
	emu_mode m;
	char scoped[160];
	const char *api = !strncmp(ld->path, "status/", 7) ? "status" : "configuration";

	mode_get(&m);
	if (!m.n_refuse)
		return false;
	snprintf(scoped, sizeof(scoped), "%s/%s", api, key);
	return mode_refuses(&m, key) || mode_refuses(&m, scoped);
}

static bool loose_name(void)
{
	emu_mode m;
	mode_get(&m);
	return m.loose_name;
}

/* Builds the filter list from the query; 0 or -1 with r set to a 400. */
static int parse_filters(resp *r, const listdef *ld, const qarg *q, size_t nq, filter **out, size_t *nout)
{
	filter *fs = xcalloc(nq ? nq : 1, sizeof(*fs));
	size_t nf = 0, i, j;
	for (i = 0; i < nq; i++) {
		char field[128];
		const char *key = q[i].k, *sep, *opname = "exact";
		const char *val = q[i].v ? q[i].v : "";
		enum fop op = 0;
		int idx = -1;
		filter *f;
		if (!key)
			continue;
		sep = strstr(key, "__");
		if (sep) {
			if ((size_t)(sep - key) >= sizeof(field))
				continue;
			memcpy(field, key, (size_t)(sep - key));
			field[sep - key] = 0;
			opname = sep + 2;
		} else {
			if (strlen(key) >= sizeof(field))
				continue;
			strcpy(field, key);
		}
		for (j = 0; ld->fields[j].name; j++)
			if (!strcmp(ld->fields[j].name, field))
				idx = (int)j;
		if (idx < 0)
			continue; /* unknown query keys are ignored */
		if (!ld->fields[idx].ops || filter_refused(ld, key)) {
			resp_error(r, 400, "The '%s' field does not allow filtering.", field);
			goto fail;
		}
		for (j = 0; j < sizeof(op_names) / sizeof(op_names[0]); j++)
			if (!strcmp(op_names[j].name, opname))
				op = op_names[j].op;
		if (!op || !(ld->fields[idx].ops & op) || (op == OP_IN && atomic_load(&g_refuse_in)) ||
		    (!strcmp(field, "creation_time") && atomic_load(&g_refuse_time))) {
			resp_error(r, 400, "'%.64s' is not an allowed filter on the '%s' field.", opname, field);
			goto fail;
		}
		/* mode loose_name: `name=` matches as a deployment whose lookup is
		 * case-insensitive and by substring would */
		if (!sep && op == OP_EXACT && !strcmp(field, "name") && loose_name())
			op = OP_ICONTAINS;
		f = &fs[nf++];
		f->idx = idx;
		f->type = ld->fields[idx].type;
		f->op = op;
		f->val = val;
		if (op == OP_IN) {
			char *dup = xstrdup(val), *save = NULL, *tok;
			for (tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
				f->in = xrealloc(f->in, (f->n_in + 1) * sizeof(*f->in));
				f->in_i = xrealloc(f->in_i, (f->n_in + 1) * sizeof(*f->in_i));
				f->in[f->n_in] = xstrdup(tok);
				if (f->type != FT_STR && f->type != FT_BOOL &&
				    !parse_scalar(f->type, tok, &f->in_i[f->n_in])) {
					f->n_in++;
					resp_error(r, 400, "Invalid value '%.64s' for the '%s' filter.", tok, key);
					free(dup);
					goto fail;
				}
				f->n_in++;
			}
			free(dup);
		} else if (op == OP_ISNULL) {
			if (!parse_bool_str(val, &f->bval)) {
				resp_error(r, 400, "Invalid value '%.64s' for the '%s' filter.", val, key);
				goto fail;
			}
		} else if (f->type == FT_BOOL) {
			if (!parse_bool_str(val, &f->bval)) {
				resp_error(r, 400, "Invalid value '%.64s' for the '%s' filter.", val, key);
				goto fail;
			}
		} else if (f->type != FT_STR) {
			if (!parse_scalar(f->type, val, &f->ival)) {
				resp_error(r, 400, "Invalid value '%.64s' for the '%s' filter.", val, key);
				goto fail;
			}
		}
	}
	*out = fs;
	*nout = nf;
	return 0;
fail:
	filters_free(fs, nf);
	return -1;
}

static bool ends_with(const char *s, const char *suf, bool icase)
{
	size_t n = strlen(s), m = strlen(suf);
	if (m > n)
		return false;
	return icase ? !strcasecmp(s + n - m, suf) : !strcmp(s + n - m, suf);
}

static bool match_one(const listdef *ld, const void *obj, const filter *f)
{
	fval v;
	size_t i;
	ld->get(obj, f->idx, &v);
	if (f->op == OP_ISNULL)
		return (v.null || (f->type == FT_STR && !v.s)) == f->bval;
	if (v.null)
		return false;
	if (f->type == FT_STR) {
		const char *s = v.s ? v.s : "";
		switch (f->op) {
		case OP_EXACT: return !strcmp(s, f->val);
		case OP_IEXACT: return !strcasecmp(s, f->val);
		case OP_STARTS: return !strncmp(s, f->val, strlen(f->val));
		case OP_ISTARTS: return !strncasecmp(s, f->val, strlen(f->val));
		case OP_ENDS: return ends_with(s, f->val, false);
		case OP_IENDS: return ends_with(s, f->val, true);
		case OP_CONTAINS: return strstr(s, f->val) != NULL;
		case OP_ICONTAINS: return strcasestr(s, f->val) != NULL;
		case OP_IN:
			for (i = 0; i < f->n_in; i++)
				if (!strcmp(s, f->in[i]))
					return true;
			return false;
		default: return false;
		}
	}
	if (f->type == FT_BOOL)
		return v.b == f->bval;
	switch (f->op) {
	case OP_EXACT: return v.i == f->ival;
	case OP_GT: return v.i > f->ival;
	case OP_GTE: return v.i >= f->ival;
	case OP_LT: return v.i < f->ival;
	case OP_LTE: return v.i <= f->ival;
	case OP_IN:
		for (i = 0; i < f->n_in; i++)
			if (v.i == f->in_i[i])
				return true;
		return false;
	default: return false;
	}
}

typedef struct sort_ctx {
	const listdef *ld;
	int idx;
	bool desc;
} sort_ctx;

static int cmp_obj(const void *a, const void *b, void *ctxp)
{
	const sort_ctx *ctx = ctxp;
	const void *oa = *(void *const *)a, *ob = *(void *const *)b;
	fval va, vb;
	int c;
	if (ctx->idx < 0) {
		size_t pa = ((const node *)oa)->pos, pb = ((const node *)ob)->pos;
		c = pa < pb ? -1 : pa > pb;
	} else {
		ctx->ld->get(oa, ctx->idx, &va);
		ctx->ld->get(ob, ctx->idx, &vb);
		if (ctx->ld->fields[ctx->idx].type == FT_STR)
			c = strcmp(va.s ? va.s : "", vb.s ? vb.s : "");
		else
			c = va.i < vb.i ? -1 : va.i > vb.i;
		if (c == 0) {
			size_t pa = ((const node *)oa)->pos, pb = ((const node *)ob)->pos;
			return pa < pb ? -1 : pa > pb;
		}
	}
	return ctx->desc ? -c : c;
}

static const char *qget(const qarg *q, size_t nq, const char *key)
{
	const char *v = NULL;
	size_t i;
	for (i = 0; i < nq; i++)
		if (q[i].k && !strcmp(q[i].k, key))
			v = q[i].v ? q[i].v : "";
	return v;
}

/* The page link for a new offset, keeping every other query argument. */
static json_object *page_link(const listdef *ld, const qarg *q, size_t nq, long limit, long offset)
{
	sbuf b = { 0 };
	size_t i;
	json_object *o;
	sb_printf(&b, API "%s?", ld->path);
	for (i = 0; i < nq; i++) {
		if (!q[i].k || !strcmp(q[i].k, "limit") || !strcmp(q[i].k, "offset"))
			continue;
		sb_urlenc(&b, q[i].k);
		if (q[i].v) {
			sb_puts(&b, "=");
			sb_urlenc(&b, q[i].v);
		}
		sb_puts(&b, "&");
	}
	sb_printf(&b, "limit=%ld&offset=%ld", limit, offset);
	o = json_object_new_string(b.p);
	free(b.p);
	return o;
}

static bool parse_nonneg(const char *s, long *out)
{
	char *end;
	long v;
	if (!s || !*s)
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	/* bounded so that offset + limit never overflows */
	if (*end || errno || v < 0 || v > 1000000000000L)
		return false;
	*out = v;
	return true;
}

/* GET on a list URI. Caller holds the lock (read). */
static void do_list(resp *r, const listdef *ld, const qarg *q, size_t nq)
{
	filter *fs = NULL;
	size_t nf = 0, i, total = 0, cap = 0;
	void **hits = NULL;
	long limit = g_cfg.page_size, offset = 0;
	const char *ls = qget(q, nq, "limit"), *os = qget(q, nq, "offset"), *ob = qget(q, nq, "order_by");
	json_object *root, *meta, *objs;
	sort_ctx sc = { ld, -1, false };
	bool used_lookup = false;

	if (ls && !parse_nonneg(ls, &limit)) {
		resp_error(r, 400, "Invalid limit '%.64s' provided. Please provide a positive integer.", ls);
		return;
	}
	if (os && !parse_nonneg(os, &offset)) {
		resp_error(r, 400, "Invalid offset '%.64s' provided. Please provide a positive integer >= 0.", os);
		return;
	}
	if (limit == 0 || limit > g_cfg.max_limit)
		limit = g_cfg.max_limit;
	if (ob && *ob) {
		const char *fname = ob[0] == '-' ? ob + 1 : ob;
		for (i = 0; ld->fields[i].name; i++)
			if (ld->fields[i].orderable && !strcmp(ld->fields[i].name, fname))
				sc.idx = (int)i;
		if (sc.idx < 0) {
			resp_error(r, 400, "No matching '%.64s' field for ordering on.", fname);
			return;
		}
		sc.desc = ob[0] == '-';
	}
	if (parse_filters(r, ld, q, nq, &fs, &nf) < 0)
		return;

	/* An exact or __in filter on a unique field narrows via the maps. */
	for (i = 0; i < nf; i++) {
		size_t k;
		if (!(ld->unique & (1u << fs[i].idx)) || (fs[i].op != OP_EXACT && fs[i].op != OP_IN))
			continue;
		used_lookup = true;
		if (fs[i].op == OP_EXACT) {
			void *o = ld->lookup(fs[i].idx, fs[i].val);
			if (o) {
				hits = xmalloc(sizeof(*hits));
				hits[0] = o;
				cap = 1;
			}
			break;
		}
		for (k = 0; k < fs[i].n_in; k++) {
			void *o = ld->lookup(fs[i].idx, fs[i].in[k]);
			size_t m;
			bool dup = false;
			if (!o)
				continue;
			for (m = 0; m < cap && !dup; m++)
				dup = hits[m] == o;
			if (dup)
				continue;
			hits = xrealloc(hits, (cap + 1) * sizeof(*hits));
			hits[cap++] = o;
		}
		break;
	}
	if (used_lookup) {
		/* keep only candidates matching every filter, in list order */
		size_t k;
		for (k = 0; k < cap; k++) {
			bool ok = true;
			for (i = 0; i < nf && ok; i++)
				ok = match_one(ld, hits[k], &fs[i]);
			if (ok)
				hits[total++] = hits[k];
		}
		if (sc.idx < 0 && total > 1)
			qsort_r(hits, total, sizeof(*hits), cmp_obj, &sc);
	} else {
		for (i = 0; i < ld->vec->n; i++) {
			node *o = ld->vec->v[i];
			size_t k;
			bool ok = true;
			if (!o)
				continue;
			for (k = 0; k < nf && ok; k++)
				ok = match_one(ld, o, &fs[k]);
			if (!ok)
				continue;
			if (total == cap) {
				cap = cap ? cap * 2 : 256;
				hits = xrealloc(hits, cap * sizeof(*hits));
			}
			hits[total++] = o;
		}
	}
	if (sc.idx >= 0 && total > 1)
		qsort_r(hits, total, sizeof(*hits), cmp_obj, &sc);

	root = json_object_new_object();
	meta = json_object_new_object();
	objs = json_object_new_array();
	json_object_object_add(meta, "limit", json_object_new_int64(limit));
	json_object_object_add(meta, "next", (size_t)offset + (size_t)limit < total ?
				page_link(ld, q, nq, limit, offset + limit) : NULL);
	json_object_object_add(meta, "offset", json_object_new_int64(offset));
	json_object_object_add(meta, "previous", offset > 0 ?
				page_link(ld, q, nq, limit, offset > limit ? offset - limit : 0) : NULL);
	json_object_object_add(meta, "total_count", json_object_new_int64((int64_t)total));
	for (i = (size_t)offset; i < total && i < (size_t)offset + (size_t)limit; i++)
		json_object_array_add(objs, ld->to_json(hits[i]));
	json_object_object_add(root, "meta", meta);
	json_object_object_add(root, "objects", objs);
	free(hits);
	filters_free(fs, nf);
	resp_json(r, 200, root);
}

/* ------------------------------------------------------------------ */
/* Conference writes                                                  */
/* ------------------------------------------------------------------ */

/* One entry of a nested `aliases` list after validation. */
typedef struct alias_plan {
	alias *existing;   /* reuse or move this alias */
	char *alias;       /* else create this one */
	char *description; /* NULL = keep / "" */
} alias_plan;

static void plans_free(alias_plan *p, size_t n)
{
	size_t i;
	for (i = 0; i < n; i++) {
		free(p[i].alias);
		free(p[i].description);
	}
	free(p);
}

static bool plan_has(const alias_plan *p, size_t n, const char *s)
{
	size_t i;
	for (i = 0; i < n; i++)
		if (!strcmp(p[i].existing ? p[i].existing->alias : p[i].alias, s))
			return true;
	return false;
}

/* Validates a nested `aliases` value for conference `self_id` (0 = new).
 * Errors go to cerrs (conference.aliases) or aerrs (conference_alias.*). */
static alias_plan *plan_aliases(json_object *arr, int64_t self_id, json_object *cerrs, json_object *aerrs,
				size_t *n_out)
{
	alias_plan *plans;
	size_t n, i, np = 0;
	*n_out = 0;
	if (json_object_is_type(arr, json_type_null))
		return NULL;
	if (!json_object_is_type(arr, json_type_array)) {
		add_err(cerrs, "aliases", "Expected a list of aliases.");
		return NULL;
	}
	n = json_object_array_length(arr);
	plans = xcalloc(n ? n : 1, sizeof(*plans));
	for (i = 0; i < n; i++) {
		json_object *it = json_object_array_get_idx(arr, i), *v;
		alias_plan *p = &plans[np];
		if (json_object_is_type(it, json_type_string)) {
			int64_t aid;
			const char *s = json_cstr(it);
			alias *a;
			if (!s || !parse_res_uri(s, ALIAS_PATH, &aid) || !(a = map_iget(alias_by_id, aid))) {
				add_err(cerrs, "aliases", "Could not find the provided object via resource URI '%.200s'.",
					s ? s : "");
				continue;
			}
			if (plan_has(plans, np, a->alias)) {
				add_err(aerrs, "alias", "Alias with this Alias already exists.");
				continue;
			}
			p->existing = a;
			np++;
			continue;
		}
		if (!json_object_is_type(it, json_type_object)) {
			add_err(cerrs, "aliases", "Each alias must be an object or a resource URI.");
			continue;
		}
		if (!json_object_object_get_ex(it, "alias", &v) || json_object_is_type(v, json_type_null)) {
			add_err(aerrs, "alias", "This field is required.");
			continue;
		}
		{
			const char *s = check_str(aerrs, "alias", v, 250), *d = NULL;
			alias *a;
			if (!s)
				continue;
			if (!*s) {
				add_err(aerrs, "alias", "This field cannot be blank.");
				continue;
			}
			if (json_object_object_get_ex(it, "description", &v) && !json_object_is_type(v, json_type_null)) {
				d = check_str(aerrs, "description", v, 250);
				if (!d)
					continue;
			}
			a = map_sget(alias_by_name, s);
			if ((a && a->conf_id != self_id) || plan_has(plans, np, s)) {
				add_err(aerrs, "alias", "Alias with this Alias already exists.");
				continue;
			}
			if (a)
				p->existing = a; /* the room already has it: keep it */
			else
				p->alias = xstrdup(s);
			p->description = d ? xstrdup(d) : NULL;
			np++;
		}
	}
	*n_out = np;
	return plans;
}

static void conf_detach_alias(conf *c, alias *a)
{
	size_t i;
	for (i = 0; i < c->n_aliases; i++) {
		if (c->aliases[i] == a) {
			memmove(&c->aliases[i], &c->aliases[i + 1], (c->n_aliases - i - 1) * sizeof(*c->aliases));
			c->n_aliases--;
			return;
		}
	}
}

static void conf_attach_alias(conf *c, alias *a)
{
	size_t i;
	if (c->n_aliases == c->cap_aliases) {
		c->cap_aliases = c->cap_aliases ? c->cap_aliases * 2 : 4;
		c->aliases = xrealloc(c->aliases, c->cap_aliases * sizeof(*c->aliases));
	}
	/* keep id order */
	for (i = c->n_aliases; i > 0 && c->aliases[i - 1]->id > a->id; i--)
		c->aliases[i] = c->aliases[i - 1];
	c->aliases[i] = a;
	c->n_aliases++;
	a->conf_id = c->id;
}

static alias *alias_create(conf *c, const char *s, const char *desc)
{
	alias *a = xcalloc(1, sizeof(*a));
	a->id = next_alias_id++;
	a->alias = xstrdup(s);
	a->description = xstrdup(desc ? desc : "");
	a->creation_time = now_us();
	map_iput(alias_by_id, a->id, a);
	map_sput(alias_by_name, a->alias, a);
	ovec_push(&aliases, a);
	conf_attach_alias(c, a);
	return a;
}

static void alias_destroy(alias *a)
{
	conf *c = map_iget(conf_by_id, a->conf_id);
	if (c)
		conf_detach_alias(c, a);
	map_idel(alias_by_id, a->id);
	map_sdel(alias_by_name, a->alias);
	ovec_remove(&aliases, a);
	alias_free(a);
}

/* Makes c's alias set exactly the plan. */
static void apply_alias_plan(conf *c, alias_plan *p, size_t n)
{
	size_t i, j;
	/* drop the aliases that the plan does not keep */
	for (i = c->n_aliases; i > 0; i--) {
		alias *a = c->aliases[i - 1];
		bool keep = false;
		for (j = 0; j < n; j++)
			keep |= p[j].existing == a;
		if (!keep)
			alias_destroy(a);
	}
	for (j = 0; j < n; j++) {
		if (p[j].existing) {
			alias *a = p[j].existing;
			if (a->conf_id != c->id) {
				conf *old = map_iget(conf_by_id, a->conf_id);
				if (old)
					conf_detach_alias(old, a);
				conf_attach_alias(c, a);
			}
			if (p[j].description) {
				free(a->description);
				a->description = xstrdup(p[j].description);
			}
		} else {
			alias_create(c, p[j].alias, p[j].description);
		}
	}
}

/* Name rules shared by POST, PUT and PATCH. */
static void check_name(json_object *in, conf *c, int64_t self_id, bool required, json_object *errs)
{
	json_object *v;
	conf *other;
	if (!json_object_object_get_ex(in, "name", &v) || json_object_is_type(v, json_type_null)) {
		if (required) {
			/* drop a "cannot be null" from apply_fields: one message */
			json_object_object_del(errs, "name");
			add_err(errs, "name", "This field is required.");
		}
		return;
	}
	if (json_object_object_get_ex(errs, "name", NULL))
		return;
	if (!c->name || !*c->name) {
		add_err(errs, "name", "This field cannot be blank.");
		return;
	}
	other = map_sget(conf_by_name, c->name);
	if (other && other->id != self_id)
		add_err(errs, "name", "Virtual Meeting Room with this Name already exists.");
}

/* Sends {"conference": cerrs, "conference_alias": aerrs} if any; true if so. */
static bool field_errors(resp *r, json_object *cerrs, json_object *aerrs)
{
	json_object *o;
	if (json_object_object_length(cerrs) == 0 && json_object_object_length(aerrs) == 0) {
		json_object_put(cerrs);
		json_object_put(aerrs);
		return false;
	}
	o = json_object_new_object();
	if (json_object_object_length(cerrs))
		json_object_object_add(o, "conference", cerrs);
	else
		json_object_put(cerrs);
	if (json_object_object_length(aerrs))
		json_object_object_add(o, "conference_alias", aerrs);
	else
		json_object_put(aerrs);
	resp_json(r, 400, o);
	return true;
}

static json_object *body_object(resp *r, const char *body, size_t len)
{
	const char *err = NULL;
	json_object *in = json_parse(body, len, &err);
	if (!in) {
		resp_error(r, 400, "Malformed JSON body: %s", err);
		return NULL;
	}
	if (!json_object_is_type(in, json_type_object)) {
		json_object_put(in);
		resp_error(r, 400, "The request body must be a JSON object.");
		return NULL;
	}
	return in;
}

static void conf_insert(conf *c)
{
	c->id = next_conf_id++;
	map_iput(conf_by_id, c->id, c);
	map_sput(conf_by_name, c->name, c);
	ovec_push(&confs, c);
}

static void conf_post(resp *r, const char *body, size_t len)
{
	json_object *in = body_object(r, body, len), *cerrs, *aerrs, *v;
	conf *c;
	alias_plan *plan = NULL;
	size_t np = 0;
	char *loc;
	if (!in)
		return;
	cerrs = json_object_new_object();
	aerrs = json_object_new_object();
	c = xcalloc(1, sizeof(*c));
	conf_set_defaults(c);
	apply_fields(c, in, cerrs);
	check_name(in, c, 0, true, cerrs);
	if (json_object_object_get_ex(in, "aliases", &v))
		plan = plan_aliases(v, 0, cerrs, aerrs, &np);
	if (field_errors(r, cerrs, aerrs)) {
		conf_free(c);
		plans_free(plan, np);
		json_object_put(in);
		return;
	}
	c->creation_time = now_us();
	conf_insert(c);
	apply_alias_plan(c, plan, np);
	plans_free(plan, np);
	json_object_put(in);
	resp_empty(r, 201);
	loc = conf_uri(c->id);
	location_header(r, loc);
	free(loc);
}

/* PATCH (partial) and PUT (full replacement) of one conference. */
static void conf_update(resp *r, conf *c, const char *body, size_t len, bool put)
{
	json_object *in = body_object(r, body, len), *cerrs, *aerrs, *v;
	conf tmp;
	alias_plan *plan = NULL;
	size_t np = 0;
	bool has_aliases;
	if (!in)
		return;
	cerrs = json_object_new_object();
	aerrs = json_object_new_object();
	memset(&tmp, 0, sizeof(tmp));
	if (put)
		conf_set_defaults(&tmp);
	else
		conf_copy_fields(&tmp, c);
	apply_fields(&tmp, in, cerrs);
	check_name(in, &tmp, c->id, put, cerrs);
	has_aliases = json_object_object_get_ex(in, "aliases", &v);
	if (has_aliases)
		plan = plan_aliases(v, c->id, cerrs, aerrs, &np);
	if (field_errors(r, cerrs, aerrs)) {
		conf_free_fields(&tmp);
		plans_free(plan, np);
		json_object_put(in);
		return;
	}
	if (strcmp(tmp.name, c->name) != 0) {
		map_sdel(conf_by_name, c->name);
		map_sput(conf_by_name, tmp.name, c);
	}
	conf_free_fields(c);
	/* move the validated fields in (the table part of the struct) */
	{
		size_t i;
		for (i = 0; i < N_CONF_FIELDS; i++) {
			const fdef *f = &conf_fields[i];
			size_t sz = f->kind == FK_BOOL ? sizeof(bool) : f->kind == FK_NINT ? sizeof(nint) :
				    sizeof(char *);
			memcpy((char *)c + f->off, (char *)&tmp + f->off, sz);
		}
	}
	if (has_aliases || put)
		apply_alias_plan(c, plan, np);
	plans_free(plan, np);
	json_object_put(in);
	{
		emu_mode m;
		mode_get(&m);
		if (!put && m.patch_body)
			resp_json(r, 202, conf_json(c));   /* mode patch_body */
		else
			resp_empty(r, put ? 204 : 202);
	}
}

static void conf_delete(conf *c)
{
	while (c->n_aliases)
		alias_destroy(c->aliases[c->n_aliases - 1]);
	map_idel(conf_by_id, c->id);
	map_sdel(conf_by_name, c->name);
	ovec_remove(&confs, c);
	conf_free(c);
}

/* ------------------------------------------------------------------ */
/* Alias writes                                                       */
/* ------------------------------------------------------------------ */

/* POST (a == NULL), PATCH or PUT on conference_alias. */
static void alias_write(resp *r, alias *a, const char *body, size_t len, bool put)
{
	json_object *in = body_object(r, body, len), *errs, *v, *o;
	const char *s = NULL, *d = NULL;
	conf *target = NULL;
	bool full = a == NULL || put;
	char *loc;
	if (!in)
		return;
	errs = json_object_new_object();
	if (json_object_object_get_ex(in, "alias", &v) && !json_object_is_type(v, json_type_null)) {
		s = check_str(errs, "alias", v, 250);
		if (s && !*s) {
			add_err(errs, "alias", "This field cannot be blank.");
		} else if (s) {
			alias *other = map_sget(alias_by_name, s);
			if (other && other != a)
				add_err(errs, "alias", "Alias with this Alias already exists.");
		}
	} else if (full) {
		add_err(errs, "alias", "This field is required.");
	}
	if (json_object_object_get_ex(in, "description", &v) && !json_object_is_type(v, json_type_null))
		d = check_str(errs, "description", v, 250);
	if (json_object_object_get_ex(in, "conference", &v) && !json_object_is_type(v, json_type_null)) {
		int64_t cid = 0;
		bool ok = false;
		if (json_object_is_type(v, json_type_int)) {
			cid = json_object_get_int64(v);
			ok = cid > 0;
		} else if (json_cstr(v)) {
			ok = parse_res_uri(json_cstr(v), CONF_PATH, &cid);
		}
		if (!ok || !(target = map_iget(conf_by_id, cid)))
			add_err(errs, "conference", "Could not find the provided object via resource URI '%.200s'.",
				json_object_get_string(v));
	} else if (full) {
		add_err(errs, "conference", "This field is required.");
	}
	if (json_object_object_length(errs)) {
		o = json_object_new_object();
		json_object_object_add(o, "conference_alias", errs);
		resp_json(r, 400, o);
		json_object_put(in);
		return;
	}
	json_object_put(errs);
	if (!a) {
		a = alias_create(target, s, d);
		resp_empty(r, 201);
		loc = xasprintf(API ALIAS_PATH "%" PRId64 "/", a->id);
		location_header(r, loc);
		free(loc);
		json_object_put(in);
		return;
	}
	if (s && strcmp(s, a->alias) != 0) {
		map_sdel(alias_by_name, a->alias);
		free(a->alias);
		a->alias = xstrdup(s);
		map_sput(alias_by_name, a->alias, a);
	}
	if (d || put) {
		free(a->description);
		a->description = xstrdup(d ? d : "");
	}
	if (target && target->id != a->conf_id) {
		conf *old = map_iget(conf_by_id, a->conf_id);
		if (old)
			conf_detach_alias(old, a);
		conf_attach_alias(target, a);
	}
	json_object_put(in);
	resp_empty(r, put ? 204 : 202);
}

/* ------------------------------------------------------------------ */
/* Live conferences                                                   */
/* ------------------------------------------------------------------ */

static void live_add_participant(live *l)
{
	participant *p = xcalloc(1, sizeof(*p));
	uuid4(p->id);
	p->lc = l;
	p->index = (int)l->n_parts + 1;
	p->display_name = xasprintf("Participant %d", p->index);
	p->role = l->n_parts == 0 ? "chair" : "guest";
	p->connect_time = now_us();
	l->parts = xrealloc(l->parts, (l->n_parts + 1) * sizeof(*l->parts));
	l->parts[l->n_parts++] = p;
	map_sput(part_by_id, p->id, p);
	ovec_push(&parts, p);
}

static void live_remove_participant(live *l, participant *p)
{
	size_t i;
	for (i = 0; i < l->n_parts; i++) {
		if (l->parts[i] == p) {
			memmove(&l->parts[i], &l->parts[i + 1], (l->n_parts - i - 1) * sizeof(*l->parts));
			l->n_parts--;
			break;
		}
	}
	map_sdel(part_by_id, p->id);
	ovec_remove(&parts, p);
	part_free(p);
}

static void live_destroy(live *l)
{
	while (l->n_parts)
		live_remove_participant(l, l->parts[l->n_parts - 1]);
	map_sdel(live_by_id, l->id);
	map_sdel(live_by_name, l->name);
	ovec_remove(&lives, l);
	live_free(l);
}

/* ------------------------------------------------------------------ */
/* Routing                                                            */
/* ------------------------------------------------------------------ */

static void method_not_allowed(resp *r, const char *allow)
{
	resp_empty(r, 405);
	resp_header(r, "Allow", allow);
}

/* Splits "a/b/c/d/" into at most 5 segments; false if malformed. */
static int split_path(const char *rest, char seg[5][72])
{
	int n = 0;
	const char *p = rest;
	size_t len = strlen(rest);
	if (len && rest[len - 1] == '/')
		len--;
	while (p < rest + len) {
		const char *e = memchr(p, '/', (size_t)(rest + len - p));
		size_t l = e ? (size_t)(e - p) : (size_t)(rest + len - p);
		if (l == 0 || l >= 72 || n == 5)
			return -1;
		memcpy(seg[n], p, l);
		seg[n][l] = 0;
		n++;
		if (e && e + 1 == rest + len)
			return -1; /* "a//": an empty last segment */
		p += l + (e ? 1 : 0);
	}
	return n;
}

static bool parse_id(const char *s, int64_t *id)
{
	char *end;
	long long v;
	if (!isdigit((unsigned char)*s) || strlen(s) > 18)
		return false;
	v = strtoll(s, &end, 10);
	if (*end || v <= 0)
		return false;
	*id = v;
	return true;
}

static void handle_command(resp *r, const char *method, const char *scope, const char *action,
			   const char *body, size_t len)
{
	json_object *in, *v, *o;
	const char *id;
	if (strcmp(method, "POST") != 0) {
		method_not_allowed(r, "POST");
		return;
	}
	if (!(in = body_object(r, body, len)))
		return;
	pthread_rwlock_wrlock(&st_lock);
	if (!strcmp(scope, "conference") &&
	    (!strcmp(action, "lock") || !strcmp(action, "unlock") || !strcmp(action, "disconnect") ||
	     !strcmp(action, "mute_guests") || !strcmp(action, "unmute_guests"))) {
		live *l;
		if (!json_object_object_get_ex(in, "conference_id", &v) || !(id = json_cstr(v)) ||
		    !(l = map_sget(live_by_id, id))) {
			resp_error(r, 404, "Conference not found.");
			goto out;
		}
		if (!strcmp(action, "lock") || !strcmp(action, "unlock"))
			l->is_locked = action[0] == 'l';
		else if (!strcmp(action, "disconnect"))
			live_destroy(l);
		else
			l->guests_muted = action[0] == 'm';
	} else if (!strcmp(scope, "participant") && !strcmp(action, "disconnect")) {
		participant *p;
		live *l;
		if (!json_object_object_get_ex(in, "participant_id", &v) || !(id = json_cstr(v)) ||
		    !(p = map_sget(part_by_id, id))) {
			resp_error(r, 404, "Participant not found.");
			goto out;
		}
		l = p->lc;
		live_remove_participant(l, p);
		if (l->n_parts == 0)
			live_destroy(l);
	} else {
		resp_empty(r, 404);
		goto out;
	}
	o = json_object_new_object();
	json_object_object_add(o, "status", json_object_new_string("success"));
	json_object_object_add(o, "data", NULL);
	resp_json(r, 202, o);
out:
	pthread_rwlock_unlock(&st_lock);
	json_object_put(in);
}

void store_handle(resp *r, const char *method, const char *rest, const qarg *q, size_t nq,
		  const char *body, size_t len)
{
	char seg[5][72];
	int n = split_path(rest, seg);
	bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
	int64_t id = 0;

	if (n < 3 || strcmp(seg[1], "v1") != 0) {
		resp_empty(r, 404);
		return;
	}
	if (!strcmp(seg[0], "command") && n == 4) {
		handle_command(r, method, seg[2], seg[3], body, len);
		return;
	}
	if (!strcmp(seg[0], "configuration") &&
	    (!strcmp(seg[2], "conference") || !strcmp(seg[2], "conference_alias"))) {
		bool is_conf = !strcmp(seg[2], "conference");
		if (n == 3) {
			if (get) {
				pthread_rwlock_rdlock(&st_lock);
				do_list(r, is_conf ? &conf_list : &alias_list, q, nq);
				pthread_rwlock_unlock(&st_lock);
			} else if (!strcmp(method, "POST")) {
				pthread_rwlock_wrlock(&st_lock);
				if (is_conf)
					conf_post(r, body, len);
				else
					alias_write(r, NULL, body, len, false);
				pthread_rwlock_unlock(&st_lock);
			} else {
				/* PUT/DELETE/PATCH on a list would touch every object:
				 * the emulator refuses them. */
				method_not_allowed(r, "GET, POST");
			}
			return;
		}
		if (n != 4 || !parse_id(seg[3], &id)) {
			resp_empty(r, 404);
			return;
		}
		if (get) {
			void *o;
			pthread_rwlock_rdlock(&st_lock);
			o = map_iget(is_conf ? conf_by_id : alias_by_id, id);
			if (o)
				resp_json(r, 200, is_conf ? conf_json(o) : alias_json(o));
			else
				resp_empty(r, 404);
			pthread_rwlock_unlock(&st_lock);
			return;
		}
		if (strcmp(method, "PATCH") && strcmp(method, "PUT") && strcmp(method, "DELETE")) {
			method_not_allowed(r, "GET, PUT, PATCH, DELETE");
			return;
		}
		pthread_rwlock_wrlock(&st_lock);
		{
			void *o = map_iget(is_conf ? conf_by_id : alias_by_id, id);
			if (!o)
				resp_empty(r, 404);
			else if (!strcmp(method, "DELETE")) {
				if (is_conf)
					conf_delete(o);
				else
					alias_destroy(o);
				resp_empty(r, 204);
			} else if (is_conf) {
				conf_update(r, o, body, len, !strcmp(method, "PUT"));
			} else {
				alias_write(r, o, body, len, !strcmp(method, "PUT"));
			}
		}
		pthread_rwlock_unlock(&st_lock);
		return;
	}
	if (!strcmp(seg[0], "status") && (!strcmp(seg[2], "conference") || !strcmp(seg[2], "participant"))) {
		bool is_conf = !strcmp(seg[2], "conference");
		if (!get) {
			method_not_allowed(r, "GET");
			return;
		}
		if (n > 4) {
			resp_empty(r, 404);
			return;
		}
		pthread_rwlock_rdlock(&st_lock);
		if (n == 3) {
			do_list(r, is_conf ? &live_list : &part_list, q, nq);
		} else {
			void *o = map_sget(is_conf ? live_by_id : part_by_id, seg[3]);
			if (o)
				resp_json(r, 200, is_conf ? live_json(o) : part_json(o));
			else
				resp_empty(r, 404);
		}
		pthread_rwlock_unlock(&st_lock);
		return;
	}
	resp_empty(r, 404);
}

/* ------------------------------------------------------------------ */
/* Control hooks                                                      */
/* ------------------------------------------------------------------ */

static const char *ctl_name(resp *r, json_object *in)
{
	json_object *v;
	const char *s;
	if (!json_object_object_get_ex(in, "name", &v) || !(s = json_cstr(v)) || !*s || utf8_len(s) > 250) {
		resp_error(r, 400, "'name' (a non-empty string of at most 250 characters) is required");
		return NULL;
	}
	return s;
}

void store_ctl_start(resp *r, json_object *in)
{
	const char *name = ctl_name(r, in), *s;
	json_object *v, *o;
	long long n = 1;
	live *l;
	conf *c;
	size_t i;
	if (!name)
		return;
	if (json_object_object_get_ex(in, "participants", &v)) {
		if (!json_object_is_type(v, json_type_int) || (n = json_object_get_int64(v)) < 0 || n > 10000) {
			resp_error(r, 400, "'participants' must be an integer 0..10000");
			return;
		}
	}
	pthread_rwlock_wrlock(&st_lock);
	l = map_sget(live_by_name, name);
	if (!l) {
		l = xcalloc(1, sizeof(*l));
		uuid4(l->id);
		l->name = xstrdup(name);
		c = map_sget(conf_by_name, name);
		l->service_type = xstrdup(c ? c->service_type : "conference");
		l->tag = xstrdup(c ? c->tag : "");
		l->start_time = now_us();
		map_sput(live_by_id, l->id, l);
		map_sput(live_by_name, l->name, l);
		ovec_push(&lives, l);
	}
	/* participants: exactly n from now on */
	while (l->n_parts > (size_t)n)
		live_remove_participant(l, l->parts[l->n_parts - 1]);
	while (l->n_parts < (size_t)n)
		live_add_participant(l);
	l->is_started = n > 0;
	if (json_object_object_get_ex(in, "is_started", &v) && json_object_is_type(v, json_type_boolean))
		l->is_started = json_object_get_boolean(v);
	if (json_object_object_get_ex(in, "is_locked", &v) && json_object_is_type(v, json_type_boolean))
		l->is_locked = json_object_get_boolean(v);
	if (json_object_object_get_ex(in, "tag", &v) && (s = json_cstr(v))) {
		free(l->tag);
		l->tag = xstrdup(s);
	}
	if (json_object_object_get_ex(in, "service_type", &v) && (s = json_cstr(v))) {
		free(l->service_type);
		l->service_type = xstrdup(s);
	}
	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(l->id));
	json_object_object_add(o, "name", json_object_new_string(l->name));
	v = json_object_new_array();
	for (i = 0; i < l->n_parts; i++)
		json_object_array_add(v, json_object_new_string(l->parts[i]->id));
	json_object_object_add(o, "participants", v);
	pthread_rwlock_unlock(&st_lock);
	resp_json(r, 200, o);
}

void store_ctl_stop(resp *r, json_object *in)
{
	const char *name = ctl_name(r, in);
	live *l;
	json_object *o;
	if (!name)
		return;
	pthread_rwlock_wrlock(&st_lock);
	l = map_sget(live_by_name, name);
	if (l)
		live_destroy(l);
	pthread_rwlock_unlock(&st_lock);
	o = json_object_new_object();
	json_object_object_add(o, "stopped", json_object_new_boolean(l != NULL));
	resp_json(r, l ? 200 : 404, o);
}

void store_ctl_set(resp *r, json_object *in)
{
	const char *name = ctl_name(r, in), *s = NULL;
	json_object *v;
	int64_t t = 0;
	conf *c;
	if (!name)
		return;
	if (json_object_object_get_ex(in, "creation_time", &v) && (!(s = json_cstr(v)) || parse_iso(s, &t) < 0)) {
		resp_error(r, 400, "'creation_time' must be an ISO-8601 datetime");
		return;
	}
	pthread_rwlock_wrlock(&st_lock);
	c = map_sget(conf_by_name, name);
	if (c && s)
		c->creation_time = t;
	pthread_rwlock_unlock(&st_lock);
	if (!c)
		resp_error(r, 404, "no conference named '%.250s'", name);
	else
		resp_json(r, 200, json_object_new_object());
}

/* The replication delay in force: --replication-delay, changed by
 * POST /_emu/replication {"delay_s"}. */
atomic_long g_replication_delay_s;

void store_ctl_replication(resp *r, json_object *in)
{
	json_object *v, *o;
	long long d;
	if (!json_object_object_get_ex(in, "delay_s", &v) || !json_object_is_type(v, json_type_int) ||
	    (d = json_object_get_int64(v)) < 0 || d > 86400) {
		resp_error(r, 400, "'delay_s' must be an integer 0..86400");
		return;
	}
	atomic_store(&g_replication_delay_s, (long)d);
	o = json_object_new_object();
	json_object_object_add(o, "delay_s", json_object_new_int64(d));
	resp_json(r, 200, o);
}

/* POST /_emu/conference/joinable {"name"}: could a caller join the room now?
 * A Conferencing Node knows a new conference only after configuration
 * replication: --replication-delay seconds after its creation_time (which
 * /_emu/conference/set can move back). */
void store_ctl_joinable(resp *r, json_object *in)
{
	const char *name = ctl_name(r, in);
	int64_t created = 0, need, age;
	json_object *o;
	conf *c;
	if (!name)
		return;
	pthread_rwlock_rdlock(&st_lock);
	c = map_sget(conf_by_name, name);
	if (c)
		created = c->creation_time;
	pthread_rwlock_unlock(&st_lock);
	if (!c) {
		resp_error(r, 404, "no conference named '%.250s'", name);
		return;
	}
	need = (int64_t)atomic_load(&g_replication_delay_s) * 1000000;
	age = now_us() - created;
	o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "joinable", json_object_new_boolean(age >= need));
	json_object_object_add(o, "ready_in_s", json_object_new_double(age >= need ? 0 : (double)(need - age) / 1e6));
	resp_json(r, 200, o);
}

void store_ctl_populate(resp *r, json_object *in)
{
	json_object *v, *o;
	const char *prefix = "vmr_", *domain = NULL, *tag = "", *s;
	long long count = 0, start = 0, i, created = 0, skipped = 0;
	bool with_alias = false;
	if (!json_object_object_get_ex(in, "count", &v) || !json_object_is_type(v, json_type_int) ||
	    (count = json_object_get_int64(v)) < 0 || count > 1000000) {
		resp_error(r, 400, "'count' must be an integer 0..1000000");
		return;
	}
	if (json_object_object_get_ex(in, "prefix", &v) && (s = json_cstr(v)) && strlen(s) <= 200)
		prefix = s;
	if (json_object_object_get_ex(in, "start", &v) &&
	    (!json_object_is_type(v, json_type_int) || (start = json_object_get_int64(v)) < 0 ||
	     start > 1000000000000LL)) {
		resp_error(r, 400, "'start' must be an integer 0..10^12");
		return;
	}
	if (json_object_object_get_ex(in, "tag", &v) && (s = json_cstr(v)) && strlen(s) <= 250)
		tag = s;
	if (json_object_object_get_ex(in, "alias_domain", &v) && (s = json_cstr(v)) && strlen(s) <= 100) {
		domain = s;
		with_alias = true;
	}
	pthread_rwlock_wrlock(&st_lock);
	for (i = start; i < start + count; i++) {
		char name[256], al[400];
		conf *c;
		snprintf(name, sizeof(name), "%s%06lld", prefix, i);
		if (map_sget(conf_by_name, name)) {
			skipped++;
			continue;
		}
		if (with_alias) {
			snprintf(al, sizeof(al), "%s@%s", name, domain);
			if (map_sget(alias_by_name, al)) {
				skipped++;
				continue;
			}
		}
		c = xcalloc(1, sizeof(*c));
		conf_set_defaults(c);
		free(c->name);
		c->name = xstrdup(name);
		free(c->tag);
		c->tag = xstrdup(tag);
		free(c->pin);
		c->pin = xasprintf("%06lld", (i * 7919 + 123456) % 1000000);
		free(c->guest_pin);
		c->guest_pin = xasprintf("%06lld", (i * 104729 + 654321) % 1000000);
		c->allow_guests = true;
		c->creation_time = now_us();
		conf_insert(c);
		if (with_alias)
			alias_create(c, al, NULL);
		created++;
	}
	pthread_rwlock_unlock(&st_lock);
	o = json_object_new_object();
	json_object_object_add(o, "created", json_object_new_int64(created));
	json_object_object_add(o, "skipped", json_object_new_int64(skipped));
	resp_json(r, 200, o);
}

void store_counts(long long *nconf, long long *nalias, long long *nlive, long long *nparts)
{
	pthread_rwlock_rdlock(&st_lock);
	*nconf = (long long)map_count(conf_by_id);
	*nalias = (long long)map_count(alias_by_id);
	*nlive = (long long)map_count(live_by_id);
	*nparts = (long long)map_count(part_by_id);
	pthread_rwlock_unlock(&st_lock);
}

void store_conference_event_data(const char *name, json_object *data, bool ended)
{
	conf *c;
	live *l;
	double now = (double)now_us() / 1e6;
	pthread_rwlock_rdlock(&st_lock);
	c = map_sget(conf_by_name, name);
	l = map_sget(live_by_name, name);
	json_object_object_add(data, "name", json_object_new_string(name));
	json_object_object_add(data, "service_type",
			       json_object_new_string(l ? l->service_type : c ? c->service_type : "conference"));
	json_object_object_add(data, "tag", json_object_new_string(l ? l->tag : c ? c->tag : ""));
	json_object_object_add(data, "is_started", json_object_new_boolean(l ? l->is_started : !ended));
	json_object_object_add(data, "is_locked", json_object_new_boolean(l ? l->is_locked : 0));
	json_object_object_add(data, "guests_muted", json_object_new_boolean(l ? l->guests_muted : 0));
	json_object_object_add(data, "start_time",
			       json_object_new_double(l ? (double)l->start_time / 1e6 : now - 60.0));
	if (ended)
		json_object_object_add(data, "end_time", json_object_new_double(now));
	pthread_rwlock_unlock(&st_lock);
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                          */
/* ------------------------------------------------------------------ */

static void store_alloc(void)
{
	conf_by_id = map_new();
	conf_by_name = map_new();
	alias_by_id = map_new();
	alias_by_name = map_new();
	live_by_id = map_new();
	live_by_name = map_new();
	part_by_id = map_new();
	next_conf_id = next_alias_id = 1;
}

static void store_release(void)
{
	/* the vectors own the objects; the maps only point at them */
	map_free(conf_by_id, NULL);
	map_free(conf_by_name, NULL);
	map_free(alias_by_id, NULL);
	map_free(alias_by_name, NULL);
	map_free(live_by_id, NULL);
	map_free(live_by_name, NULL);
	map_free(part_by_id, NULL);
	ovec_free(&confs, conf_free);
	ovec_free(&aliases, alias_free);
	ovec_free(&parts, part_free);
	ovec_free(&lives, live_free);
}

void store_init(void)
{
	store_alloc();
}

void store_free(void)
{
	store_release();
}

void store_reset(void)
{
	pthread_rwlock_wrlock(&st_lock);
	store_release();
	store_alloc();
	pthread_rwlock_unlock(&st_lock);
}
