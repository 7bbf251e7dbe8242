/* The event-sink driver: POST /_emu/events makes the emulator
 * itself POST event envelopes to a receiver with libcurl, one per name or
 * one `eventsink_bulk` wrapper holding them all. `seq` is monotonic per
 * (node, url), starting at 1; the bulk wrapper carries seq 0, as in the
 * samples seen in the wild. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "emu.h"

static pthread_mutex_t ev_lock = PTHREAD_MUTEX_INITIALIZER;
static emu_map *seqs; /* "node\nurl" -> long long* */

void events_init(void)
{
	seqs = map_new();
}

void events_free(void)
{
	map_free(seqs, free);
	seqs = NULL;
}

void events_reset(void)
{
	pthread_mutex_lock(&ev_lock);
	map_free(seqs, free);
	seqs = map_new();
	pthread_mutex_unlock(&ev_lock);
}

static size_t discard(char *p, size_t sz, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return sz * n;
}

static int abort_on_stop(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	(void)ud;
	(void)a;
	(void)b;
	(void)c;
	(void)d;
	return atomic_load(&g_stopping) ? 1 : 0;
}

static const char *opt_str(json_object *in, const char *k, const char *def)
{
	json_object *v;
	if (json_object_object_get_ex(in, k, &v) && json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return def;
}

/* Participant event data for conference `name`. */
static void participant_data(json_object *d, const char *event, const char *name, int n)
{
	char uuid[37], alias[64];
	double now = (double)now_us() / 1e6;
	uuid4(uuid);
	snprintf(alias, sizeof(alias), "sip:user%d@example.com", n);
	json_object_object_add(d, "uuid", json_object_new_string(uuid));
	json_object_object_add(d, "conference", json_object_new_string(name));
	json_object_object_add(d, "display_name", json_object_new_string("Emulated participant"));
	json_object_object_add(d, "source_alias", json_object_new_string(alias));
	json_object_object_add(d, "destination_alias", json_object_new_string(name));
	json_object_object_add(d, "role", json_object_new_string("chair"));
	json_object_object_add(d, "protocol", json_object_new_string("WebRTC"));
	json_object_object_add(d, "call_direction", json_object_new_string("in"));
	json_object_object_add(d, "service_type", json_object_new_string("conference"));
	json_object_object_add(d, "service_tag", json_object_new_string(""));
	json_object_object_add(d, "has_media", json_object_new_boolean(1));
	json_object_object_add(d, "is_muted", json_object_new_boolean(0));
	json_object_object_add(d, "is_presenting", json_object_new_boolean(0));
	json_object_object_add(d, "is_streaming", json_object_new_boolean(0));
	json_object_object_add(d, "remote_address", json_object_new_string("127.0.0.1"));
	json_object_object_add(d, "media_node", json_object_new_string("127.0.0.1"));
	json_object_object_add(d, "signalling_node", json_object_new_string("127.0.0.1"));
	json_object_object_add(d, "system_location", json_object_new_string("emulated"));
	json_object_object_add(d, "connect_time", json_object_new_double(now - 30.0));
	if (!strcmp(event, "participant_disconnected")) {
		json_object_object_add(d, "disconnect_reason", json_object_new_string("Call disconnected"));
		json_object_object_add(d, "duration", json_object_new_double(30.0));
		json_object_object_add(d, "end_time", json_object_new_double(now));
	}
}

static json_object *envelope(const char *node, long long seq, int version, const char *event, json_object *data)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "node", json_object_new_string(node));
	json_object_object_add(o, "seq", json_object_new_int64(seq));
	json_object_object_add(o, "version", json_object_new_int(version));
	json_object_object_add(o, "time", json_object_new_double((double)now_us() / 1e6));
	json_object_object_add(o, "event", json_object_new_string(event));
	json_object_object_add(o, "data", data);
	return o;
}

/* POSTs one document; returns the HTTP status or 0 on a transport error. */
static long post_one(CURL *h, json_object *doc)
{
	char *body = json_dump(doc);
	long status = 0;
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	free(body);
	atomic_fetch_add(&g_stats.events_sent, 1);
	return status;
}

void events_send(resp *r, json_object *in)
{
	const char *url = opt_str(in, "url", NULL), *user = opt_str(in, "username", NULL);
	const char *pass = opt_str(in, "password", NULL), *event = opt_str(in, "event", "conference_ended");
	const char *node = opt_str(in, "node", "127.0.0.1");
	json_object *names = NULL, *extra = NULL, *nodes = NULL, *v, *out, *statuses, *docs;
	bool bulk = false, insecure = false, per_name;
	int version = 2;
	long timeout_ms = 5000;
	size_t i, n_items, nd, n_nodes = 1;
	char *key;
	long long *seq;
	CURL *h;
	struct curl_slist *hdrs = NULL;
	int sent = 0;

	if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)) {
		resp_error(r, 400, "'url' (http:// or https://) is required");
		return;
	}
	if (json_object_object_get_ex(in, "names", &names) && !json_object_is_type(names, json_type_array)) {
		resp_error(r, 400, "'names' must be a list of strings");
		return;
	}
	if (json_object_object_get_ex(in, "bulk", &v))
		bulk = json_object_get_boolean(v);
	if (json_object_object_get_ex(in, "insecure", &v))
		insecure = json_object_get_boolean(v);
	if (json_object_object_get_ex(in, "version", &v) && json_object_is_type(v, json_type_int))
		version = json_object_get_int(v);
	if (json_object_object_get_ex(in, "timeout_ms", &v) && json_object_is_type(v, json_type_int))
		timeout_ms = json_object_get_int(v);
	if (json_object_object_get_ex(in, "data", &extra) && !json_object_is_type(extra, json_type_object)) {
		resp_error(r, 400, "'data' must be an object");
		return;
	}
	/* "nodes": the same events from several Conferencing Nodes, one after
	 * the other (each node has its own seq), as when a conference spanned
	 * them; overrides "node" */
	if (json_object_object_get_ex(in, "nodes", &nodes)) {
		if (!json_object_is_type(nodes, json_type_array) || !(n_nodes = json_object_array_length(nodes))) {
			resp_error(r, 400, "'nodes' must be a non-empty list of strings");
			return;
		}
		for (nd = 0; nd < n_nodes; nd++)
			if (!json_object_is_type(json_object_array_get_idx(nodes, nd), json_type_string)) {
				resp_error(r, 400, "'nodes' must be a non-empty list of strings");
				return;
			}
	}
	/* sink lifecycle events carry no name: one event, data {} */
	per_name = strncmp(event, "eventsink_", 10) != 0;
	n_items = per_name ? (names ? json_object_array_length(names) : 0) : 1;
	for (i = 0; per_name && i < n_items; i++) {
		json_object *nm = json_object_array_get_idx(names, i);
		if (!json_object_is_type(nm, json_type_string) || !json_object_get_string_len(nm)) {
			resp_error(r, 400, "'names' must be a list of non-empty strings");
			return;
		}
	}

	h = curl_easy_init();
	if (!h) {
		resp_error(r, 500, "curl_easy_init failed");
		return;
	}
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, abort_on_stop);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "pexip-emulator-eventsink");
	if (insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (user) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(h, CURLOPT_USERNAME, user);
		curl_easy_setopt(h, CURLOPT_PASSWORD, pass ? pass : "");
	}

	out = json_object_new_object();
	statuses = json_object_new_array();

	/* Serialize per sink so that seq order is delivery order. */
	pthread_mutex_lock(&ev_lock);
	for (nd = 0; nd < n_nodes; nd++) {
	if (nodes)
		node = json_object_get_string(json_object_array_get_idx(nodes, nd));
	docs = json_object_new_array();
	key = xasprintf("%s\n%s", node, url);
	seq = map_sget(seqs, key);
	if (!seq) {
		seq = xcalloc(1, sizeof(*seq));
		map_sput(seqs, key, seq);
	}
	free(key);
	for (i = 0; i < n_items; i++) {
		json_object *data = json_object_new_object();
		if (per_name) {
			const char *name = json_object_get_string(json_object_array_get_idx(names, i));
			if (!strncmp(event, "participant_", 12))
				participant_data(data, event, name, (int)i + 1);
			else
				store_conference_event_data(name, data, !strcmp(event, "conference_ended"));
		}
		if (extra) {
			json_object_object_foreach(extra, k, ev)
			{
				json_object_object_add(data, k, json_object_get(ev));
			}
		}
		json_object_array_add(docs, envelope(node, ++*seq, version, event, data));
	}
	if (bulk && n_items) {
		json_object *wrap = envelope(node, 0, version, "eventsink_bulk", json_object_get(docs));
		json_object_array_add(statuses, json_object_new_int64(post_one(h, wrap)));
		json_object_put(wrap);
		sent++;
	} else {
		for (i = 0; i < n_items && !atomic_load(&g_stopping); i++) {
			long st = post_one(h, json_object_array_get_idx(docs, i));
			json_object_array_add(statuses, json_object_new_int64(st));
			sent++;
		}
	}
	json_object_put(docs);
	}
	pthread_mutex_unlock(&ev_lock);

	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	json_object_object_add(out, "sent", json_object_new_int(sent));
	json_object_object_add(out, "statuses", statuses);
	resp_json(r, 200, out);
}
