/* The routes (pexip-room-server(8), ROUTES) and what each does with the pool. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "server.h"

/* ---- classification (headers only) ---- */

static int is(const char *a, const char *b) { return strcmp(a, b) == 0; }

/* "/room/NAME" or "/public/room/NAME": the NAME, or NULL. */
static const char *name_after(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);
	if (strncmp(path, prefix, n) != 0 || !path[n] || strchr(path + n, '/'))
		return NULL;
	return path + n;
}

void rs_route_classify(rs_route_info *in, const char *m, const char *path)
{
	memset(in, 0, sizeof(*in));
	in->known = 1;
	if (is(path, "/room/create") || is(path, "/room/bulk/create")) {
		in->needs_auth = 1;
		in->method_ok = is(m, "POST");
		in->allow = "POST";
	} else if (is(path, "/room/bulk")) {
		in->needs_auth = 1;
		in->method_ok = is(m, "DELETE");
		in->allow = "DELETE";
	} else if (name_after(path, "/room/")) {
		in->needs_auth = 1;
		in->method_ok = is(m, "GET") || is(m, "HEAD") || is(m, "PATCH") || is(m, "DELETE");
		in->allow = "GET, HEAD, PATCH, DELETE";
	} else if (strncmp(path, "/room/", 6) == 0 || is(path, "/room")) {
		/* unknown /room/ paths still need credentials: no probing */
		in->needs_auth = 1;
		in->known = 0;
	} else if (is(path, "/public/event_sink")) {
		in->event_sink = 1;
		in->method_ok = is(m, "POST");
		in->allow = "POST";
	} else if (is(path, "/public/health") || is(path, "/metrics") || name_after(path, "/public/room/") ||
		   rs_route_is_probe(path)) {
		/* HEAD is answered like GET without the body (load balancers
		 * probe with it; libmicrohttpd leaves the body out) */
		in->method_ok = is(m, "GET") || is(m, "HEAD");
		in->allow = "GET, HEAD";
	} else if (is(path, "/gc_timer") || is(path, "/metrics_timer")) {
		/* Azure Functions custom handler: timer triggers are POST
		 * /{functionName}, from the Functions host on localhost */
		in->timer = 1;
		in->method_ok = is(m, "POST");
		in->allow = "POST";
	} else {
		in->known = 0;
	}
}

/* ---- authentication ---- */

static int api_key_ok(const rs_auth *a, const char *key)
{
	unsigned char d[RS_DIGEST_LEN];
	size_t i;
	int ok = 0;

	if (!a->api_key_digests || rs_secret_digest(d, key) < 0)
		return 0;
	/* compare against every key, so the time does not tell which matched */
	for (i = 0; i < a->api_key_count; i++)
		ok |= CRYPTO_memcmp(d, a->api_key_digests[i], RS_DIGEST_LEN) == 0;
	OPENSSL_cleanse(d, sizeof(d));
	return ok;
}

/* Decode "Basic base64(user:pass)" and compare both halves. */
static int basic_ok(const rs_auth *a, const char *hdr)
{
	unsigned char dec[1024], du[RS_DIGEST_LEN], dp[RS_DIGEST_LEN];
	size_t len;
	int n, ok;
	char *colon;

	if (!hdr || !a->events_digests_ok || strncasecmp(hdr, "Basic ", 6) != 0)
		return 0;
	hdr += 6;
	while (*hdr == ' ')
		hdr++;
	len = strlen(hdr);
	if (len == 0 || len % 4 || len / 4 * 3 >= sizeof(dec))
		return 0;
	if ((n = EVP_DecodeBlock(dec, (const unsigned char *)hdr, (int)len)) < 0)
		return 0;
	if (len >= 1 && hdr[len - 1] == '=')
		n--;
	if (len >= 2 && hdr[len - 2] == '=')
		n--;
	dec[n] = '\0';
	if (strlen((char *)dec) != (size_t)n || !(colon = strchr((char *)dec, ':'))) {
		OPENSSL_cleanse(dec, sizeof(dec));
		return 0;
	}
	*colon = '\0';
	ok = rs_secret_digest(du, (char *)dec) == 0 && rs_secret_digest(dp, colon + 1) == 0;
	ok &= CRYPTO_memcmp(du, a->events_user_digest, RS_DIGEST_LEN) == 0;
	ok &= CRYPTO_memcmp(dp, a->events_pass_digest, RS_DIGEST_LEN) == 0;
	OPENSSL_cleanse(dec, sizeof(dec));
	OPENSSL_cleanse(dp, sizeof(dp));
	return ok;
}

/* rs_route_auth() with the settings snapshot @p a. */
static int route_auth(const rs_auth *a, struct MHD_Connection *c, rs_request *r,
	const rs_route_info *info, enum MHD_Result *ret)
{
	const char *key, *authz;
	char why[128];

	if (info->event_sink) {
		if (!a->events_user_set)
			return 0;
		if (basic_ok(a, MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION)))
			return 0;
		*ret = rs_send_error(c, r, 401, "unauthorized", "event sink credentials missing or wrong");
		return -1;
	}
	/* The timer routes start sweeps: the Functions host calls them over
	 * loopback; anyone else needs the credentials of a /room/ route. */
	if (info->timer) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		if (ci && rs_peer_is_loopback(ci->client_addr))
			return 0;
	} else if (!info->needs_auth) {
		return 0;
	}
	key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-API-Key");
	authz = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (key) {
		if (api_key_ok(a, key))
			return 0;
		*ret = rs_send_error(c, r, 401, "unauthorized", "API key not accepted");
		return -1;
	}
	if (authz && strncasecmp(authz, "Bearer ", 7) == 0) {
		const char *tok = authz + 7;
		while (*tok == ' ')
			tok++;
		if (rs_jwt_verify(a->jwt, tok, (long long)time(NULL), why, sizeof(why)) == 0)
			return 0;
		rs_log(PEX_LOG_INFO, "%s %s: bearer token refused: %s", r->method, r->path, why);
		*ret = rs_send_error(c, r, 401, "unauthorized", "%s", why);
		return -1;
	}
	*ret = rs_send_error(c, r, 401, "unauthorized", info->timer ?
		"timer routes take requests from a loopback peer, or with an X-API-Key header or a bearer token" :
		"an X-API-Key header or a bearer token is required");
	return -1;
}

/* A request is checked against the settings it found when it began, even
 * if a reload (SIGHUP) installs new ones meanwhile. */
int rs_route_auth(rs_server *s, struct MHD_Connection *c, rs_request *r,
	const rs_route_info *info, enum MHD_Result *ret)
{
	rs_auth *a = rs_auth_acquire(s);
	int rc = route_auth(a, c, r, info, ret);
	rs_auth_release(a);
	return rc;
}

/* ---- helpers ---- */

static void public_forget(rs_server *s, const char *name);

static const char *arg(struct MHD_Connection *c, const char *key)
{
	return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
}

/* The JSON text a library builder wrote into @p b, parsed (NULL when
 * @p err < 0); @p b is disposed of. */
static json_object *json_of(int err, pex_buf *b)
{
	json_object *o = err == 0 ? json_tokener_parse(b->ptr) : NULL;
	pex_buf_dispose(b);
	return o;
}

/* The full room, as pexctl get --json prints it (pex_room_to_json). */
static json_object *room_json(const pex_room *room)
{
	pex_buf b = PEX_BUF_INIT;
	return json_of(pex_room_to_json(&b, room), &b);
}

/* Parse the request body as one JSON object (NULL with a 400 sent). */
static json_object *body_object(struct MHD_Connection *c, rs_request *r, enum MHD_Result *ret)
{
	char why[256];
	json_object *o = rs_parse_object(r->body, r->body_len, why, sizeof(why));
	if (!o)
		*ret = rs_send_error(c, r, 400, "bad_request", "%s", why);
	return o;
}

/* ---- /room/create ---- */

static enum MHD_Result room_create(rs_server *s, struct MHD_Connection *c, rs_request *r)
{
	const char *uui = arg(c, "uuiData"), *tag = arg(c, "tagUrl");
	pex_pool_room *room = NULL;
	pex_buf b = PEX_BUF_INIT;
	enum MHD_Result ret;
	char why[128];
	int err;

	if (rs_parse_create(uui, tag, why, sizeof(why)) < 0)
		return rs_send_error(c, r, 400, "bad_request", "%s", why);
	rs_jobs_throttle(s);
	if ((err = pex_pool_pop(&room, s->pool, uui, tag)) < 0) {
		if (err == PEX_EEMPTY) {
			rs_jobs_fill(s);
			r->retry_after = (unsigned)pex_pool_retry_after();
		}
		return rs_send_pex_error(c, r, err);
	}
	/* the replacement is made in the background, queued once the answer
	 * is out (on_completed) so that its work does not delay it */
	r->replenish = 1;
	/* the one builder pexctl create --json uses too */
	err = pex_pool_room_to_json(&b, room);
	pex_pool_room_free(room);
	ret = err < 0 ? rs_send_error(c, r, 500, "internal", "out of memory") :
		rs_send(c, r, 200, NULL, b.ptr, b.size, NULL);
	pex_buf_dispose(&b);
	return ret;
}

/* ---- /room/bulk/create?count=N, body {"uuiData": ["hex", ...]} (optional) ---- */

static enum MHD_Result room_bulk_create(rs_server *s, struct MHD_Connection *c, rs_request *r)
{
	rs_bulk_create b;
	json_object *rooms, *out;
	char why[512];
	size_t i, handed = 0;
	int err = 0;

	if (rs_parse_bulk_create(&b, arg(c, "count"), r->body, r->body_len, &s->tag_rules, why, sizeof(why)) < 0)
		return rs_send_error(c, r, 400, "bad_request", "%s", why);

	rs_jobs_throttle(s);
	rooms = json_object_new_array();
	out = json_object_new_object();
	for (i = 0; i < (size_t)b.count; i++) {
		pex_pool_room *room = NULL;
		if ((err = pex_pool_pop(&room, s->pool, rs_bulk_create_uui(&b, i), NULL)) < 0)
			break;
		pex_buf rb = PEX_BUF_INIT;
		json_object_array_add(rooms, json_of(pex_pool_room_to_json(&rb, room), &rb));
		pex_pool_room_free(room);
		handed++;
	}
	r->replenish = handed;          /* queued once answered */
	if (err < 0 && handed == 0) {
		json_object_put(rooms);
		json_object_put(out);
		json_object_put(b.body);
		if (err == PEX_EEMPTY) {
			rs_jobs_fill(s);
			r->retry_after = (unsigned)pex_pool_retry_after();
		}
		return rs_send_pex_error(c, r, err);
	}
	json_object_object_add(out, "requested", json_object_new_int64(b.count));
	json_object_object_add(out, "handed_out", json_object_new_int64((long long)handed));
	json_object_object_add(out, "rooms", rooms);
	if (err < 0) {
		/* partial: the rooms already taken are the caller's */
		json_object *e = json_object_new_object();
		json_object_object_add(e, "code", json_object_new_string(err == PEX_EEMPTY ? "pool_empty" : "upstream_error"));
		json_object_object_add(e, "message", json_object_new_string(pex_error_last()->message));
		json_object_object_add(out, "incomplete", e);
		if (err == PEX_EEMPTY)
			rs_jobs_fill(s);
	}
	json_object_put(b.body);
	return rs_send_json(c, r, 200, out);
}

/* ---- DELETE /room/bulk?prefix=P&confirm=yes ---- */

static int is_protected(rs_server *s, const char *name)
{
	size_t i;
	for (i = 0; i < s->protected_count; i++)
		if (s->protected_prefixes[i][0] && strncmp(name, s->protected_prefixes[i],
				strlen(s->protected_prefixes[i])) == 0)
			return 1;
	return 0;
}

static enum MHD_Result room_bulk_delete(rs_server *s, struct MHD_Connection *c, rs_request *r)
{
	const char *prefix = arg(c, "prefix"), *confirm = arg(c, "confirm");
	pex_room_filter f = PEX_ROOM_FILTER_INIT;
	pex_room_iter *it = NULL;
	pex_room *room = NULL;
	json_object *deleted, *gone, *skipped, *failed, *out;
	const char *code = NULL;
	char why[128];
	int err;

	if (rs_parse_bulk_delete(prefix, confirm, &code, why, sizeof(why)) < 0)
		return rs_send_error(c, r, 400, code, "%s", why);
	f.name_prefix = prefix;
	if ((err = pex_room_iter_new(&it, pex_pool_client(s->pool), &f)) < 0)
		return rs_send_pex_error(c, r, err);
	deleted = json_object_new_array();
	gone = json_object_new_array();
	skipped = json_object_new_array();
	failed = json_object_new_array();
	while ((err = pex_room_iter_next(&room, it)) == 0) {
		const char *name = pex_room_name(room);
		int did = 0;
		if (is_protected(s, name)) {
			json_object_array_add(skipped, json_object_new_string(name));
		} else if (pex_room_delete(&did, pex_pool_client(s->pool), pex_room_id(room)) < 0) {
			json_object *fo = json_object_new_object();
			json_object_object_add(fo, "name", json_object_new_string(name));
			json_object_object_add(fo, "error", json_object_new_string(pex_error_last()->message));
			json_object_array_add(failed, fo);
		} else {
			json_object_array_add(did ? deleted : gone, json_object_new_string(name));
		}
		pex_room_free(room);
	}
	pex_room_iter_free(it);
	out = json_object_new_object();
	json_object_object_add(out, "deleted", deleted);
	json_object_object_add(out, "already_gone", gone);
	json_object_object_add(out, "skipped_protected", skipped);
	json_object_object_add(out, "failed", failed);
	if (err != PEX_ITEROVER) {
		/* listing broke off: report what was done and why it stopped */
		json_object *e = json_object_new_object();
		json_object_object_add(e, "code", json_object_new_string("upstream_error"));
		json_object_object_add(e, "message", json_object_new_string(pex_error_last()->message));
		json_object_object_add(out, "incomplete", e);
	}
	return rs_send_json(c, r, 200, out);
}

/* ---- GET|PATCH|DELETE /room/{name} ---- */

static enum MHD_Result room_get(rs_server *s, struct MHD_Connection *c, rs_request *r, const char *name)
{
	pex_room *room = NULL;
	int err = pex_room_get_by_name(&room, pex_pool_client(s->pool), name);
	if (err < 0)
		return err == PEX_ENOTFOUND ? rs_send_error(c, r, 404, "not_found", "no room named '%s'", name)
			: rs_send_pex_error(c, r, err);
	err = rs_send_json(c, r, 200, room_json(room));
	pex_room_free(room);
	return err;
}

static enum MHD_Result room_patch(rs_server *s, struct MHD_Connection *c, rs_request *r, const char *name)
{
	pex_room_patch patch = PEX_ROOM_PATCH_INIT;
	pex_buf tag = PEX_BUF_INIT;
	pex_client *client = pex_pool_client(s->pool);
	pex_room *room = NULL;
	json_object *body;
	enum MHD_Result ret;
	char why[512];
	long long id;
	int err;

	if (!(body = body_object(c, r, &ret)))
		return ret;
	if (rs_parse_patch(body, &patch.tag, &patch.description, why, sizeof(why)) < 0) {
		ret = rs_send_error(c, r, 400, "bad_request", "%s", why);
		json_object_put(body);
		return ret;
	}
	/* A tag is a URL under the same rules as tagUrl (https, an allowed
	 * host, at most 250 characters); "" clears it. Checked before Pexip
	 * is asked anything. */
	if (patch.tag && patch.tag[0] && pex_tag_from_url(&tag, &s->tag_rules, patch.tag) < 0) {
		ret = rs_send_error(c, r, 400, "bad_request", "tag: %s", pex_error_last()->message);
		pex_buf_dispose(&tag);
		json_object_put(body);
		return ret;
	}
	if ((err = pex_room_get_by_name(&room, client, name)) < 0) {
		pex_buf_dispose(&tag);
		json_object_put(body);
		return err == PEX_ENOTFOUND ? rs_send_error(c, r, 404, "not_found", "no room named '%s'", name)
			: rs_send_pex_error(c, r, err);
	}
	id = pex_room_id(room);
	pex_room_free(room);
	room = NULL;
	err = pex_room_update(client, id, &patch);
	public_forget(s, name);
	pex_buf_dispose(&tag);
	json_object_put(body);
	if (err < 0)
		return rs_send_pex_error(c, r, err);
	if ((err = pex_room_get(&room, client, id)) < 0)
		return rs_send_pex_error(c, r, err);
	ret = rs_send_json(c, r, 200, room_json(room));
	pex_room_free(room);
	return ret;
}

static enum MHD_Result room_delete(rs_server *s, struct MHD_Connection *c, rs_request *r, const char *name)
{
	json_object *o;
	int deleted = 0, err = pex_room_delete_by_name(&deleted, pex_pool_client(s->pool), name);
	public_forget(s, name);
	if (err < 0)
		return rs_send_pex_error(c, r, err);
	o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "deleted", json_object_new_boolean(deleted));
	json_object_object_add(o, "already_gone", json_object_new_boolean(!deleted));
	return rs_send_json(c, r, 200, o);
}

/* ---- public routes ---- */

static enum MHD_Result event_sink(rs_server *s, struct MHD_Connection *c, rs_request *r)
{
	pex_event_report rep = PEX_EVENT_REPORT_INIT;
	json_object *o;
	int err;

	pex_event_report_init(&rep, PEX_EVENT_REPORT_VERSION);
	/* fast: validates, then only enqueues deletions */
	if ((err = pex_event_handle(&rep, s->pool, r->body ? r->body : "", r->body_len)) < 0)
		return err == PEX_EINVAL || err == PEX_EPARSE ? rs_send_pex_error(c, r, err)
			: rs_send_error(c, r, 503, "queue_unavailable", "%s", pex_error_last()->message);
	o = json_object_new_object();
	json_object_object_add(o, "events", json_object_new_int64((long long)rep.events));
	json_object_object_add(o, "scheduled", json_object_new_int64((long long)rep.scheduled));
	json_object_object_add(o, "protected_skipped", json_object_new_int64((long long)rep.protected_skipped));
	json_object_object_add(o, "foreign", json_object_new_int64((long long)rep.foreign));
	json_object_object_add(o, "ignored", json_object_new_int64((long long)rep.ignored));
	json_object_object_add(o, "unknown", json_object_new_int64((long long)rep.unknown));
	json_object_object_add(o, "skipped", json_object_new_int64((long long)rep.skipped));
	json_object_object_add(o, "capped", json_object_new_int64((long long)rep.capped));
	return rs_send_json(c, r, 200, o);
}

int rs_queue_store_check(rs_server *s)
{
	int err = pex_queue_check(s->pool_queue);

	if (err < 0 && !atomic_exchange(&s->queue_store_bad, 1))
		rs_log(PEX_LOG_ERROR, "queue store: %s", pex_error_last()->message);
	else if (err == 0 && atomic_exchange(&s->queue_store_bad, 0))
		rs_log(PEX_LOG_INFO, "queue store: the database file is the one open again");
	return err;
}

static enum MHD_Result health(rs_server *s, struct MHD_Connection *c, rs_request *r)
{
	json_object *o = json_object_new_object();
	size_t depth = 0, held = 0;
	/* the file split from the pool (deleted or replaced): unhealthy */
	int store = rs_queue_store_check(s);
	int queue_ok = store == 0 && pex_queue_count(&depth, s->pool_queue) == 0, pexip_ok;
	long long now = rs_now_ms(), maturing;

	/* Pexip is asked at most every 10 s (rs_pexip_refresh), by one request at a time */
	pthread_mutex_lock(&s->health_lock);
	rs_pexip_refresh(s);
	/* ... and again as soon as the next maturing room is ready */
	if (s->maturing_next_ms && now >= s->maturing_next_ms) {
		long long next = -1;
		if (!s->pexip_ok || pex_pool_maturing(&s->maturing, &next, s->pool) < 0)
			s->maturing = -1;
		s->maturing_next_ms = next > 0 ? rs_now_ms() + next * 1000 : 0;
	}
	pexip_ok = s->pexip_ok;
	maturing = s->maturing;
	pthread_mutex_unlock(&s->health_lock);

	json_object_object_add(o, "status", json_object_new_string(queue_ok && pexip_ok ? "ok" : "degraded"));
	/* the rooms held ready (--prefetch) are part of the pool */
	if (pex_pool_held(&held, s->pool) == 0)
		depth += held;
	json_object_object_add(o, "pool_depth", queue_ok ? json_object_new_int64((long long)depth) : NULL);
	/* pool_depth counts rooms still maturing (pool.ready_after_s: invisible on
	 * the queue, counted by every backend); how many, Pexip says (asked with
	 * the Pexip check, at most every 10 s, and again when the next maturing
	 * room is due; null when unknown) */
	json_object_object_add(o, "pool_maturing", maturing >= 0 ? json_object_new_int64(maturing) : NULL);
	json_object_object_add(o, "pool_ready", queue_ok && maturing >= 0 ? json_object_new_int64(
		(long long)depth > maturing ? (long long)depth - maturing : 0) : NULL);
	json_object_object_add(o, "queue", json_object_new_string(queue_ok ? "ok" : "error"));
	json_object_object_add(o, "queue_store", json_object_new_string(store == 0 ? "ok" :
		store == PEX_ESTALE ? "stale" : "error"));
	json_object_object_add(o, "pexip", json_object_new_string(pexip_ok ? "ok" : "error"));
	return rs_send_json(c, r, queue_ok && pexip_ok ? 200 : 503, o);
}

/* ---- GET /public/room/{name}: cached, capped, one lookup per name ---- */

typedef struct rs_public_entry {
	char name[RS_NAME_MAX + 1];     /* "" : free */
	int pending;                    /* a lookup of this name is in Pexip */
	int found;                      /* 200 with body, else 404 */
	char *body;
	long long expires;              /* monotonic ms */
} rs_public_entry;

int rs_public_init(rs_server *s, unsigned max_concurrency)
{
	if (!(s->public_cache = calloc(RS_PUBLIC_CACHE_SIZE, sizeof(*s->public_cache))))
		return -1;
	if (pthread_mutex_init(&s->public_lock, NULL) != 0) {
		free(s->public_cache);
		s->public_cache = NULL;
		return -1;
	}
	s->public_max = max_concurrency >= 8 ? max_concurrency / 4 : 1;
	return 0;
}

void rs_public_dispose(rs_server *s)
{
	size_t i;
	if (!s->public_cache)
		return;
	for (i = 0; i < RS_PUBLIC_CACHE_SIZE; i++)
		free(s->public_cache[i].body);
	free(s->public_cache);
	s->public_cache = NULL;
	pthread_mutex_destroy(&s->public_lock);
}

/* The entry of @p name, or NULL (public_lock held). */
static rs_public_entry *public_find(rs_server *s, const char *name)
{
	size_t i;
	for (i = 0; i < RS_PUBLIC_CACHE_SIZE; i++)
		if (strcmp(s->public_cache[i].name, name) == 0)
			return &s->public_cache[i];
	return NULL;
}

/* A slot for a new name: a free one, else the not-pending one that
 * expires first (public_lock held; never NULL while public_max is below
 * the cache size). */
static rs_public_entry *public_slot(rs_server *s)
{
	rs_public_entry *best = NULL;
	size_t i;
	for (i = 0; i < RS_PUBLIC_CACHE_SIZE; i++) {
		rs_public_entry *e = &s->public_cache[i];
		if (!e->name[0])
			return e;
		if (!e->pending && (!best || e->expires < best->expires))
			best = e;
	}
	return best;
}

/* Forget @p name (it was changed or deleted through this server). */
static void public_forget(rs_server *s, const char *name)
{
	rs_public_entry *e;
	pthread_mutex_lock(&s->public_lock);
	if ((e = public_find(s, name)) && !e->pending) {
		free(e->body);
		memset(e, 0, sizeof(*e));
	}
	pthread_mutex_unlock(&s->public_lock);
}

/* The public fields (name, alias, tag; no PINs, no id) as JSON text. */
static char *public_body(const pex_room *room)
{
	json_object *o = json_object_new_object();
	char *text;
	json_object_object_add(o, "name", json_object_new_string(pex_room_name(room)));
	json_object_object_add(o, "alias", json_object_new_string(pex_room_alias_count(room) ?
		pex_room_alias(room, 0) : ""));
	json_object_object_add(o, "tag", json_object_new_string(pex_room_tag(room)));
	text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return text;
}

static enum MHD_Result public_answer(struct MHD_Connection *c, rs_request *r, const char *name,
	int found, const char *body)
{
	if (!found)
		return rs_send_error(c, r, 404, "not_found", "no room named '%s'", name);
	return rs_send(c, r, 200, NULL, body, strlen(body), NULL);
}

typedef struct public_job {
	rs_server *s;
	struct MHD_Connection *c;
	rs_request *r;
	rs_public_entry *e;
	char name[RS_NAME_MAX + 1];
} public_job;

/* The lookup, on its own thread: remember the answer (found or not
 * found), hand it to the request and resume its connection. */
static void *public_lookup_main(void *arg)
{
	public_job *j = arg;
	rs_server *s = j->s;
	rs_public_entry *e = j->e;
	pex_room *room = NULL;
	char *body = NULL;
	int err;

	/* the request waits, suspended: its id stays valid until it resumes */
	rs_log_context(j->r->request_id);
	err = pex_room_get_by_name(&room, pex_pool_client(s->pool), j->name);
	rs_log_context(NULL);

	if (err == 0 && !(body = public_body(room)))
		err = PEX_ENOMEM;
	pex_room_free(room);
	pthread_mutex_lock(&s->public_lock);
	s->public_in_flight--;
	e->pending = 0;
	e->found = err == 0;
	e->body = body ? strdup(body) : NULL;
	e->expires = rs_now_ms() + (long long)s->public_ttl_s * 1000;
	/* found or not found are both remembered; errors are not */
	if ((err < 0 && err != PEX_ENOTFOUND) || (e->found && !e->body))
		memset(e, 0, sizeof(*e));
	pthread_mutex_unlock(&s->public_lock);
	j->r->lookup_err = err;
	j->r->lookup_body = body;
	j->r->lookup = 2;
	MHD_resume_connection(j->c);
	free(j);
	pthread_mutex_lock(&s->public_lock);
	s->public_threads--;
	pthread_mutex_unlock(&s->public_lock);
	return NULL;
}

void rs_public_wait(rs_server *s)
{
	unsigned n;
	if (!s->public_cache)
		return;
	for (;;) {
		pthread_mutex_lock(&s->public_lock);
		n = s->public_threads;
		pthread_mutex_unlock(&s->public_lock);
		if (!n)
			return;
		usleep(10 * 1000);
	}
}

static enum MHD_Result public_room(rs_server *s, struct MHD_Connection *c, rs_request *r, const char *name)
{
	rs_public_entry *e;
	enum MHD_Result ret;
	pthread_attr_t attr;
	pthread_t th;
	public_job *j;
	char *body = NULL;
	int found;

	if (r->lookup == 2) {
		if (r->lookup_err < 0 && r->lookup_err != PEX_ENOTFOUND)
			return rs_send_pex_error(c, r, r->lookup_err);
		return public_answer(c, r, name, r->lookup_err == 0, r->lookup_body);
	}
	pthread_mutex_lock(&s->public_lock);
	e = public_find(s, name);
	if (e && !e->pending && rs_now_ms() < e->expires) {
		found = e->found;
		body = found ? strdup(e->body) : NULL;
		pthread_mutex_unlock(&s->public_lock);
		if (found && !body)
			return rs_send_error(c, r, 500, "internal", "out of memory");
		ret = public_answer(c, r, name, found, body);
		free(body);
		return ret;
	}
	if ((e && e->pending) || s->public_in_flight >= s->public_max || !(e = e ? e : public_slot(s)) ||
	    !(j = calloc(1, sizeof(*j)))) {
		pthread_mutex_unlock(&s->public_lock);
		r->retry_after = 1;
		return rs_send_error(c, r, 503, "busy", "too many public lookups at once; try again");
	}
	free(e->body);
	memset(e, 0, sizeof(*e));
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->pending = 1;
	s->public_in_flight++;
	s->public_threads++;
	pthread_mutex_unlock(&s->public_lock);

	/* Pexip may be slow: the HTTP thread does not wait for it (it serves
	 * other connections meanwhile); the answer comes on resume */
	j->s = s;
	j->c = c;
	j->r = r;
	j->e = e;
	snprintf(j->name, sizeof(j->name), "%s", name);
	r->lookup = 1;
	MHD_suspend_connection(c);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &attr, public_lookup_main, j) != 0) {
		pthread_attr_destroy(&attr);
		free(j);
		pthread_mutex_lock(&s->public_lock);
		s->public_in_flight--;
		s->public_threads--;
		memset(e, 0, sizeof(*e));
		pthread_mutex_unlock(&s->public_lock);
		r->lookup = 0;
		MHD_resume_connection(c);
		r->retry_after = 1;
		return rs_send_error(c, r, 503, "busy", "too many public lookups at once; try again");
	}
	pthread_attr_destroy(&attr);
	return MHD_YES;
}

/* Never asks Pexip (an unauthenticated route; the counters must survive an
 * outage): the Pexip gauges come from the metrics timer's cache. */
static enum MHD_Result metrics(rs_server *s, struct MHD_Connection *c, rs_request *r)
{
	enum MHD_Result ret;
	char *text = NULL;
	size_t len = 0;
	int err;

	if ((err = rs_metrics_text(s, &text, &len)) < 0)
		return rs_send_pex_error(c, r, err);
	ret = rs_send(c, r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len, NULL);
	free(text);
	return ret;
}

/* Azure Functions custom handler: a timer trigger arrives as POST
 * /{functionName} with {"Data": {...}, "Metadata": {...}}; the answer is
 * {"Outputs": {}, "Logs": [...], "ReturnValue": null}. */
static enum MHD_Result functions_timer(rs_server *s, struct MHD_Connection *c, rs_request *r, int gc)
{
	json_object *body, *out, *logs;
	enum MHD_Result ret;
	int err;

	if (!(body = body_object(c, r, &ret)))
		return ret;
	json_object_put(body);          /* the payload carries nothing we need */
	logs = json_object_new_array();
	err = gc ? rs_run_gc(s, logs) : rs_run_metrics(s, logs);
	if (err < 0) {
		json_object_put(logs);
		return rs_send_pex_error(c, r, err);
	}
	out = json_object_new_object();
	json_object_object_add(out, "Outputs", json_object_new_object());
	json_object_object_add(out, "Logs", logs);
	json_object_object_add(out, "ReturnValue", NULL);
	return rs_send_json(c, r, 200, out);
}

/* ---- dispatch ---- */

static enum MHD_Result gc_timer(rs_server *s, struct MHD_Connection *c, rs_request *r)
{
	return functions_timer(s, c, r, 1);
}

static enum MHD_Result metrics_timer(rs_server *s, struct MHD_Connection *c, rs_request *r)
{
	return functions_timer(s, c, r, 0);
}

/* The routes without a name in their path. */
static const struct {
	const char *path;
	enum MHD_Result (*run)(rs_server *s, struct MHD_Connection *c, rs_request *r);
} fixed_routes[] = {
	{ "/room/create", room_create }, { "/room/bulk/create", room_bulk_create },
	{ "/room/bulk", room_bulk_delete }, { "/public/event_sink", event_sink },
	{ "/public/health", health }, { "/healthz", rs_route_healthz }, { "/readyz", rs_route_readyz },
	{ "/metrics", metrics }, { "/gc_timer", gc_timer }, { "/metrics_timer", metrics_timer },
};

enum MHD_Result rs_route_dispatch(rs_server *s, struct MHD_Connection *c, rs_request *r)
{
	const char *m = r->method, *p = r->path, *name, *pub = NULL;
	size_t i;

	for (i = 0; i < sizeof(fixed_routes) / sizeof(fixed_routes[0]); i++)
		if (is(p, fixed_routes[i].path))
			return fixed_routes[i].run(s, c, r);
	/* /room/NAME and /public/room/NAME: the name is checked first */
	if (!(name = name_after(p, "/room/")))
		pub = name_after(p, "/public/room/");
	if ((name || pub) && !rs_valid_room_name(name ? name : pub))
		return rs_send_error(c, r, 400, "bad_request", "%s", pex_error_last()->message);
	if (pub)
		return public_room(s, c, r, pub);
	if (!name)
		return rs_send_error(c, r, 404, "not_found", "no route for %s", p);
	if (is(m, "GET") || is(m, "HEAD"))
		return room_get(s, c, r, name);
	if (is(m, "PATCH"))
		return room_patch(s, c, r, name);
	return room_delete(s, c, r, name);
}
