/*
 * Event-sink payloads (Pexip's event sink, pexctl(1) event) and scheduling
 * deletions (docs/ARCHITECTURE.md, One deletion).
 *
 * A POST body is one envelope {node, seq, version, time, event, data}, an
 * eventsink_bulk envelope whose data is an array of envelopes (protocol
 * versions 1 and 2 share the shape), or a top-level JSON array of
 * envelopes (taken as a bulk). Handling is two-phase:
 *
 *   1. parse the whole body and sort its items, collecting what to do;
 *   2. act: put each ended room's name on the deletion queue.
 *
 * Pexip delivers a node's events in order and retries a payload we refuse,
 * stalling that node's whole stream; so only a body that is not JSON is
 * refused (PEX_EPARSE), or one over PEX__EVENT_BODY_MAX (PEX_EINVAL), and
 * then nothing is enqueued. Rules of phase 1:
 *   - the body is at most PEX__EVENT_BODY_MAX bytes, has no NUL byte and is
 *     one strict JSON document (valid UTF-8, nothing after it, no NaN or
 *     Infinity, no lone surrogate escape: json-c's strict mode lets those
 *     through, not_json_at() catches them);
 *   - an item that cannot be used is skipped, counted (skipped) and the
 *     first reason logged once per payload: not an object, no string
 *     "event", an eventsink_bulk whose "data" is not an array or that sits
 *     inside a bulk, a conference_ended without an object "data" holding a
 *     non-empty data.name that passes pex__pool_delname_ok();
 *   - every other event is only counted, and its "data" is not checked at
 *     all: conference_started/updated and participant_* count as ignored
 *     (Pexip may send partial data, docs/DECISIONS.md #16: an update that
 *     carries only the changed fields, or no data.name), so do the sink
 *     lifecycle events (eventsink_started/updated/stopped/ended); any other
 *     name counts as unknown (an event Pexip adds later must never make us
 *     refuse a payload).
 * The other envelope keys (node, seq, version, time) are not checked: we
 * do not use them.
 *
 * Counting (pex_event_report): every item is exactly one of scheduled,
 * protected_skipped, foreign, ignored, unknown, skipped or capped, so
 * events == the sum of the seven. One payload schedules at most
 * PEX_EVENT_SCHEDULE_MAX deletions; the conference_ended events past that
 * count as capped (logged once): a flood cannot fill the deletion queue,
 * and a room whose deletion was capped is left to the orphan sweep. A conference_ended is scheduled only for a room the pool owns
 * (pex__pool_owns(): pool.name_prefix or gc.owned_prefixes, and
 * data.service_type, when carried, equal to pool.room.service_type): Pexip
 * sends it for every service that ends (permanent VMRs, receptions, test
 * calls, gateway calls); the others count as foreign. Protected prefixes
 * are checked first and win.
 * Several nodes each send conference_ended for the same conference; within
 * one payload a name is enqueued once and the repeats count as ignored.
 * Across payloads nothing is deduplicated: a second message for a room is
 * harmless (GC reports it already_gone).
 *
 * A queue failure in phase 2 stops there and returns the error: the names
 * before it stay enqueued (a redelivery of the payload enqueues them again,
 * which is harmless as above).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core/stats.h"
#include "pool/pool_internal.h"
#include "pool/events_gc.h"

/* Largest POST body accepted. */
#define PEX__EVENT_BODY_MAX (4u * 1024u * 1024u)
/* JSON nesting accepted (real payloads use about 5 levels). */
#define PEX__EVENT_JSON_DEPTH 64
/* At most this many "unknown event" debug lines per payload. */
#define PEX__EVENT_UNKNOWN_LOG_MAX 8

/* ---- names ---- */


int pex__pool_delname_ok(const char *s, size_t len, char *why, size_t why_size)
{
	return pex__room_name_ok(s, len, 0, why, why_size);
}

void pex__pool_safe_text(char *dst, size_t dst_size, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, o = 0, n;
	unsigned long c;

	if (dst_size == 0)
		return;
	while (i < len) {
		n = pex__utf8_decode(u + i, len - i, &c);
		if (n == 0 || c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f)) {
			n = n ? n : 1;
			c = '?';
		}
		/* keep room for "..." and the NUL */
		if (o + (c == '?' ? 1 : n) + 4 > dst_size) {
			if (dst_size >= 4) {
				while (o + 4 > dst_size)
					o--;
				memcpy(dst + o, "...", 3);
				o += 3;
			}
			break;
		}
		if (c == '?')
			dst[o++] = '?';
		else {
			memcpy(dst + o, u + i, n);
			o += n;
		}
		i += n;
	}
	dst[o] = '\0';
}

/* ---- phase 1: parse and validate ---- */

typedef enum ev_kind {
	EV_UNKNOWN = 0,
	EV_BULK,
	EV_LIFECYCLE,
	EV_CONF_ENDED,
	EV_CONF_OTHER,
	EV_PARTICIPANT
} ev_kind;

/* One envelope to act on. Strings are borrowed from the parsed JSON. */
typedef struct ev_item {
	ev_kind kind;
	const char *event;
	const char *name;    /* data.name for conference events, else NULL */
	const char *service_type;  /* data.service_type when carried (conference_ended), else NULL */
} ev_item;

typedef struct ev_list {
	ev_item *v;
	size_t n, cap;
	size_t skipped;             /* items that cannot be used */
	char first_skip[256];       /* why the first of them was skipped */
} ev_list;

static ev_kind classify(const char *event)
{
	static const char *const lifecycle[] = {
		"eventsink_started", "eventsink_updated", "eventsink_stopped", "eventsink_ended"
	};
	size_t i;

	if (strcmp(event, "eventsink_bulk") == 0)
		return EV_BULK;
	for (i = 0; i < PEX__ARRAY_SIZE(lifecycle); i++)
		if (strcmp(event, lifecycle[i]) == 0)
			return EV_LIFECYCLE;
	if (strcmp(event, "conference_ended") == 0)
		return EV_CONF_ENDED;
	if (strcmp(event, "conference_started") == 0 || strcmp(event, "conference_updated") == 0)
		return EV_CONF_OTHER;
	/* participant_connected/updated/disconnected, and the v2-only
	 * participant_media_stream_window / participant_media_streams_destroyed */
	if (strncmp(event, "participant_", strlen("participant_")) == 0)
		return EV_PARTICIPANT;
	return EV_UNKNOWN;
}

static const char *type_name(json_object *v)
{
	return v ? json_type_to_name(json_object_get_type(v)) : "null";
}

/* An item that cannot be used: counted, and the first reason kept for the
 * payload's one log line. */
static void skip_item(ev_list *l, const char *where, const char *fmt, ...) PEX_PRINTF(3, 4);
static void skip_item(ev_list *l, const char *where, const char *fmt, ...)
{
	char what[192];
	va_list ap;

	if (l->skipped++ > 0)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(l->first_skip, sizeof(l->first_skip), "%s: %s", where, what);
}

static int list_add(ev_list *l, ev_kind kind, const char *event, const char *name,
	const char *service_type)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		ev_item *v = pex__realloc(l->v, cap * sizeof(*v));
		if (!v)
			return PEX_ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n].kind = kind;
	l->v[l->n].event = event;
	l->v[l->n].name = name;
	l->v[l->n].service_type = service_type;
	l->n++;
	return 0;
}

static int validate_envelope(ev_list *out, json_object *env, long index);

/* The envelopes of a bulk's data array, or of a top-level array. */
static int validate_array(ev_list *out, json_object *arr)
{
	size_t i, n = json_object_array_length(arr);
	int err;

	for (i = 0; i < n; i++)
		if ((err = validate_envelope(out, json_object_array_get_idx(arr, i), (long)i)) < 0)
			return err;
	return 0;
}

/*
 * Check one envelope and append what it asks for to @p out; an envelope
 * that cannot be used is skipped (skip_item). @p index is its position in
 * a bulk's data array (or a top-level array), or -1 for a top-level
 * envelope. < 0 only when out of memory.
 */
static int validate_envelope(ev_list *out, json_object *env, long index)
{
	json_object *ev = NULL, *data = NULL, *name = NULL, *stype = NULL;
	char where[200], safe_ev[72], why[96];
	const char *event, *st;
	ev_kind kind;
	int has_data;

	if (index < 0)
		snprintf(where, sizeof(where), "event-sink payload");
	else
		snprintf(where, sizeof(where), "event %ld of the bulk (data[%ld])", index + 1, index);
	if (!json_object_is_type(env, json_type_object)) {
		skip_item(out, where, "must be a JSON object, not %s", type_name(env));
		return 0;
	}
	if (!json_object_object_get_ex(env, "event", &ev) || !ev) {
		skip_item(out, where, "\"event\" is missing");
		return 0;
	}
	if (!json_object_is_type(ev, json_type_string)) {
		skip_item(out, where, "\"event\" must be a string, not %s", type_name(ev));
		return 0;
	}
	event = json_object_get_string(ev);
	pex__pool_safe_text(safe_ev, sizeof(safe_ev), event, (size_t)json_object_get_string_len(ev));
	kind = classify(event);
	has_data = json_object_object_get_ex(env, "data", &data) && data;

	/* from here on, messages also name the event */
	if (index < 0)
		snprintf(where, sizeof(where), "%s", safe_ev);
	else
		snprintf(where, sizeof(where), "event %ld of the bulk (data[%ld], %s)", index + 1, index,
			safe_ev);

	switch (kind) {
	case EV_BULK:
		if (index >= 0)
			skip_item(out, where, "an eventsink_bulk inside a bulk is not allowed");
		else if (!has_data)
			skip_item(out, where, "data is missing (an array of events)");
		else if (!json_object_is_type(data, json_type_array))
			skip_item(out, where, "data must be an array, not %s", type_name(data));
		else
			return validate_array(out, data);
		return 0;
	case EV_CONF_ENDED:
		if (!has_data)
			skip_item(out, where, "data is missing");
		else if (!json_object_is_type(data, json_type_object))
			skip_item(out, where, "data must be an object, not %s", type_name(data));
		else if (!json_object_object_get_ex(data, "name", &name) || !name)
			skip_item(out, where, "data.name is missing");
		else if (!json_object_is_type(name, json_type_string))
			skip_item(out, where, "data.name must be a string, not %s", type_name(name));
		else if (!pex__pool_delname_ok(json_object_get_string(name),
				(size_t)json_object_get_string_len(name), why, sizeof(why)))
			skip_item(out, where, "data.name %s", why);
		else {
			/* data.service_type, when carried: a non-string one matches no pool ("?") */
			st = NULL;
			if (json_object_object_get_ex(data, "service_type", &stype) && stype)
				st = json_object_is_type(stype, json_type_string) ? json_object_get_string(stype) : "?";
			return list_add(out, kind, event, json_object_get_string(name), st);
		}
		return 0;
	case EV_LIFECYCLE:
	case EV_CONF_OTHER:
	case EV_PARTICIPANT:
		/* counted only: partial or odd data is no reason to skip */
		return list_add(out, kind, event, NULL, NULL);
	case EV_UNKNOWN:
	default:
		return list_add(out, EV_UNKNOWN, event, NULL, NULL);
	}
}

/*
 * What json-c's strict mode still lets through but JSON (RFC 8259) does
 * not: NaN and Infinity, and a \\u escape of a lone UTF-16 surrogate
 * (json-c turns it into U+FFFD). 0, or the offset of the first such thing
 * + 1 with @p what set. Runs over a body json-c accepted, so strings are
 * well-formed.
 */
static size_t not_json_at(const char *body, size_t len, const char **what)
{
	size_t i;
	int in_string = 0;

	for (i = 0; i < len; i++) {
		char c = body[i];
		if (!in_string) {
			if (c == '"')
				in_string = 1;
			else if (c == 'N' || c == 'I') {
				*what = "NaN and Infinity are not JSON numbers";
				return i + 1;
			}
			continue;
		}
		if (c == '"') {
			in_string = 0;
		} else if (c == '\\' && i + 1 < len) {
			unsigned long u;
			char hex[5];
			i++;
			if (body[i] != 'u' || i + 4 >= len)
				continue;
			memcpy(hex, body + i + 1, 4);
			hex[4] = '\0';
			u = strtoul(hex, NULL, 16);
			if (u >= 0xdc00 && u <= 0xdfff) {
				*what = "a lone low surrogate (\\u escape) is not a character";
				return i;
			}
			if (u >= 0xd800 && u <= 0xdbff) {
				unsigned long lo = 0;
				if (i + 10 < len && body[i + 5] == '\\' && body[i + 6] == 'u') {
					memcpy(hex, body + i + 7, 4);
					lo = strtoul(hex, NULL, 16);
				}
				if (lo < 0xdc00 || lo > 0xdfff) {
					*what = "a lone high surrogate (\\u escape) is not a character";
					return i;
				}
				i += 6;        /* the pair's low half */
			}
			i += 4;
		}
	}
	return 0;
}

/* Parse @p body as one strict JSON document. */
static int parse_body(json_object **out, const char *body, size_t len)
{
	json_tokener *tok;
	json_object *obj;
	enum json_tokener_error jerr;
	const char *nul, *what = NULL;
	size_t end;

	*out = NULL;
	if (len > PEX__EVENT_BODY_MAX)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"event-sink payload is %zu bytes (at most %u)", len, PEX__EVENT_BODY_MAX);
	if (len == 0)
		return pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_JSON, "event-sink payload is empty");
	if ((nul = memchr(body, '\0', len)) != NULL)
		return pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_JSON,
			"event-sink payload has a NUL byte at offset %zu", (size_t)(nul - body));
	if (!(tok = json_tokener_new_ex(PEX__EVENT_JSON_DEPTH)))
		return pex__error_nomem();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8 |
		JSON_TOKENER_ALLOW_TRAILING_CHARS);
	obj = json_tokener_parse_ex(tok, body, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!obj || jerr != json_tokener_success) {
		json_object_put(obj);
		if (jerr == json_tokener_continue || jerr == json_tokener_success)
			return pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_JSON,
				"event-sink payload is not valid JSON: unexpected end of input at offset %zu", len);
		return pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_JSON,
			"event-sink payload is not valid JSON at offset %zu: %s",
			end, json_tokener_error_desc(jerr));
	}
	while (end < len && (body[end] == ' ' || body[end] == '\t' || body[end] == '\r' ||
			     body[end] == '\n'))
		end++;
	if (end < len) {
		json_object_put(obj);
		return pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_JSON,
			"event-sink payload is not valid JSON: data after the document at offset %zu", end);
	}
	if ((end = not_json_at(body, len, &what)) != 0) {
		json_object_put(obj);
		return pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_JSON,
			"event-sink payload is not valid JSON at offset %zu: %s", end - 1, what);
	}
	*out = obj;
	return 0;
}

/* ---- phase 2: act ---- */

/* Handle one conference_ended: schedule the room's deletion when the pool
 * owns it, is not protected, was not scheduled by this payload already and
 * the payload's cap is not reached; count what happened in @p r. 0 or a
 * queue error. */
static int conference_ended(pex_pool *pool, const ev_item *it, json_object *seen, pex_event_report *r)
{
	char safe[80];
	int err;

	pex__pool_safe_text(safe, sizeof(safe), it->name, strlen(it->name));
	if (pex__pool_is_protected(pool, it->name)) {
		r->protected_skipped++;
		pex__log(pool->log, PEX_LOG_DEBUG, "conference_ended for protected room %s: not scheduled", safe);
		return 0;
	}
	if (!pex__pool_owns(pool, it->name, it->service_type)) {
		r->foreign++;     /* a permanent VMR, a reception, a test call... */
		pex__log(pool->log, PEX_LOG_DEBUG, "conference_ended for %s, not a pool room: not scheduled", safe);
		return 0;
	}
	if (json_object_object_get_ex(seen, it->name, NULL)) {
		r->ignored++;     /* another node's conference_ended for the same room */
		return 0;
	}
	if (r->scheduled >= PEX_EVENT_SCHEDULE_MAX) {
		if (r->capped++ == 0)
			pex__log(pool->log, PEX_LOG_WARN, "event sink: a payload asks for more than %d "
				"deletions; the rest are not scheduled (from %s on)", PEX_EVENT_SCHEDULE_MAX, safe);
		return 0;
	}
	if (json_object_object_add(seen, it->name, NULL) != 0)
		return pex__error_nomem();
	if ((err = pex_gc_schedule_delete(pool, it->name, pool->o.gc_delay_s)) < 0) {
		pex__log(pool->log, PEX_LOG_WARN, "event sink: %s", pex_error_last()->message);
		return err;
	}
	r->scheduled++;
	return 0;
}

int pex_event_report_init(pex_event_report *report, unsigned int version)
{
	return pex__struct_init(report, NULL, sizeof(*report), version, PEX_EVENT_REPORT_VERSION, "pex_event_report");
}

int pex_event_handle(pex_event_report *report, pex_pool *pool, const char *body, size_t len)
{
	pex_event_report r;
	json_object *root = NULL, *seen = NULL;
	ev_list items;
	size_t i, logged_unknown = 0;
	char safe[80];
	int err;

	memset(&r, 0, sizeof(r));
	memset(&items, 0, sizeof(items));
	if (report && (err = pex_event_report_init(report, report->version)) < 0)
		return err;
	if (!pool || (!body && len))
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pex_event_handle: no pool or body");
	if ((err = parse_body(&root, body ? body : "", len)) < 0)
		goto out;
	/* a top-level array of envelopes is a bulk; any other value one unusable item */
	if (json_object_is_type(root, json_type_array))
		err = validate_array(&items, root);
	else
		err = validate_envelope(&items, root, -1);
	if (err < 0)
		goto out;
	r.skipped = items.skipped;
	r.events = items.skipped;
	if (items.skipped)
		pex__log(pool->log, PEX_LOG_WARN, "event sink: skipped %zu unusable item(s) of a payload; "
			"the first: %s", items.skipped, items.first_skip);
	/* the names scheduled so far in this payload (a json-c object is a hash set) */
	if (!(seen = json_object_new_object())) {
		err = pex__error_nomem();
		goto out;
	}

	for (i = 0; i < items.n; i++) {
		const ev_item *it = &items.v[i];
		r.events++;
		switch (it->kind) {
		case EV_CONF_ENDED:
			if ((err = conference_ended(pool, it, seen, &r)) < 0)
				goto out;
			break;
		case EV_UNKNOWN:
			r.unknown++;
			if (logged_unknown++ < PEX__EVENT_UNKNOWN_LOG_MAX) {
				pex__pool_safe_text(safe, sizeof(safe), it->event, strlen(it->event));
				pex__log(pool->log, PEX_LOG_DEBUG, "event sink: ignoring unknown event '%s'", safe);
			}
			break;
		default:
			r.ignored++;
			break;
		}
	}
	pex__log(pool->log, PEX_LOG_DEBUG,
		"event sink: %zu event(s): %zu scheduled, %zu protected, %zu not the pool's, %zu ignored, "
		"%zu unknown, %zu skipped, %zu over the limit", r.events, r.scheduled, r.protected_skipped,
		r.foreign, r.ignored, r.unknown, r.skipped, r.capped);
out:
	pex__stats_event_payload(err);
	atomic_fetch_add(&pool->events, (unsigned long long)r.events);
	atomic_fetch_add(&pool->events_unknown, (unsigned long long)r.unknown);
	atomic_fetch_add(&pool->events_foreign, (unsigned long long)r.foreign);
	if (report) {
		r.version = report->version;     /* version 1 is the whole struct */
		*report = r;
	}
	json_object_put(seen);
	json_object_put(root);
	free(items.v);
	return err;
}
