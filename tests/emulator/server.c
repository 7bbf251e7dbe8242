/* The emulator's HTTP layer on libmicrohttpd: request bodies, routing,
 * authentication, fault injection, counters and the /_emu control API.
 *
 * Threading: MHD_USE_THREAD_PER_CONNECTION, so a handler may sleep
 * (injected latency) without blocking other connections, and the
 * concurrency high-water mark measures what the client really does.
 *
 * Request life cycle (first call of the access handler = request start):
 *   start      classify; count it (requests, by_method, in_flight, max);
 *              a declared Content-Length above 1 MiB: 413 at once when
 *              the client waits for "100 Continue" (or above 16 MiB),
 *              else the body is read and dropped, then 413 (answering
 *              while the client still sends makes the close reset the
 *              connection, and the client may never read the 413)
 *   body       accumulate up to 1 MiB (beyond: 413 at the end)
 *   complete   latency -> rate limit -> permanent_status -> random faults
 *              (all decided before anything is processed) -> auth ->
 *              handler -> rate_drop_after -> queue the response
 *   completed  MHD_OPTION_NOTIFY_COMPLETED frees the context. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "emu.h"

#define MAX_BODY (1024 * 1024)
/* A body declared larger than this is refused before it is read. */
#define DRAIN_MAX (16 * 1024 * 1024)

enum req_kind { RK_API, RK_TOKEN, RK_CTL, RK_OTHER };

typedef struct reqctx {
	enum req_kind kind;
	bool counted; /* still inside in_flight */
	bool too_big;
	char *body;
	size_t len, cap;
} reqctx;

typedef struct connctx {
	bool counted; /* carried an /api/admin or token request */
} connctx;

/* ---- faults ---- */

static pthread_mutex_t faults_lock = PTHREAD_MUTEX_INITIALIZER;
static emu_faults g_faults;
/* Rate limiter: ring of the accept times (monotonic s) in the last 60 s. */
static double *rl_ring;
static long rl_cap, rl_head, rl_count;

/* ---- shutdown-aware sleeping ---- */

static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sleep_cond;
static bool sleep_cond_ready;

const char *const emu_method_names[EMU_METHODS] = { "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD",
						    "OPTIONS", "OTHER" };

int method_index(const char *m)
{
	int i;
	for (i = 0; i < EMU_METHODS - 1; i++)
		if (!strcmp(m, emu_method_names[i]))
			return i;
	return EMU_METHODS - 1;
}

void emu_sleep_ms(double ms)
{
	struct timespec ts;
	if (ms <= 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(fmod(ms, 1000.0) * 1e6);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&sleep_lock);
	while (!atomic_load(&g_stopping)) {
		if (pthread_cond_timedwait(&sleep_cond, &sleep_lock, &ts) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&sleep_lock);
}

static void wake_sleepers(void)
{
	pthread_mutex_lock(&sleep_lock);
	pthread_cond_broadcast(&sleep_cond);
	pthread_mutex_unlock(&sleep_lock);
}

/* Held requests wait on this (with faults_lock) for hold_prefix to change. */
static pthread_cond_t hold_cond = PTHREAD_COND_INITIALIZER;
/* The hold fault: read and waited on under sleep_lock, so that releasing
 * it (set_hold) cannot be missed; stopping the emulator releases it too. */
static bool g_hold;

static void set_hold(bool hold)
{
	pthread_mutex_lock(&sleep_lock);
	g_hold = hold;
	pthread_cond_broadcast(&sleep_cond);
	pthread_mutex_unlock(&sleep_lock);
}

static void wait_while_held(void)
{
	pthread_mutex_lock(&sleep_lock);
	while (g_hold && !atomic_load(&g_stopping))
		pthread_cond_wait(&sleep_cond, &sleep_lock);
	pthread_mutex_unlock(&sleep_lock);
}

void faults_reset(void)
{
	set_hold(false);
	pthread_mutex_lock(&faults_lock);
	memset(&g_faults, 0, sizeof(g_faults));
	pthread_cond_broadcast(&hold_cond);
	atomic_store(&g_refuse_in, false);
	atomic_store(&g_refuse_time, false);
	free(rl_ring);
	rl_ring = NULL;
	rl_cap = rl_head = rl_count = 0;
	pthread_mutex_unlock(&faults_lock);
}

void stats_reset(void)
{
	int i;
	atomic_store(&g_stats.requests, 0);
	for (i = 0; i < EMU_METHODS; i++)
		atomic_store(&g_stats.by_method[i], 0);
	for (i = 0; i < EMU_STATUSES; i++)
		atomic_store(&g_stats.by_status[i], 0);
	/* in_flight is a level, not a counter: the high-water mark restarts there */
	atomic_store(&g_stats.max_in_flight, atomic_load(&g_stats.in_flight));
	atomic_store(&g_stats.token_requests, 0);
	atomic_store(&g_stats.tokens_issued, 0);
	atomic_store(&g_stats.auth_failures, 0);
	atomic_store(&g_stats.connections_opened, 0);
	atomic_store(&g_stats.connections_accepted, 0);
	atomic_store(&g_stats.faults_injected, 0);
	atomic_store(&g_stats.rate_limited, 0);
	atomic_store(&g_stats.dropped, 0);
	atomic_store(&g_stats.latency_spikes, 0);
	atomic_store(&g_stats.events_sent, 0);
	atomic_store(&g_stats.held_total, 0);
}

/* ---- helpers ---- */

static void inflight_enter(void)
{
	long long cur = atomic_fetch_add(&g_stats.in_flight, 1) + 1;
	long long max = atomic_load(&g_stats.max_in_flight);
	while (cur > max && !atomic_compare_exchange_weak(&g_stats.max_in_flight, &max, cur))
		;
}

static void inflight_leave(reqctx *rc)
{
	if (rc->counted) {
		rc->counted = false;
		atomic_fetch_sub(&g_stats.in_flight, 1);
	}
}

static enum MHD_Result queue(struct MHD_Connection *c, reqctx *rc, resp *r)
{
	struct MHD_Response *mr;
	enum MHD_Result ret;
	int i;
	mr = MHD_create_response_from_buffer(r->len, r->body ? r->body : (char *)"", MHD_RESPMEM_MUST_COPY);
	if (!mr) {
		resp_clear(r);
		inflight_leave(rc);
		return MHD_NO;
	}
	if (r->ctype)
		MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, r->ctype);
	for (i = 0; i < r->n_hdrs; i++)
		MHD_add_response_header(mr, r->hdr_name[i], r->hdr_val[i]);
	ret = MHD_queue_response(c, (unsigned)r->status, mr);
	MHD_destroy_response(mr);
	if (rc->counted && r->status > 0 && r->status < EMU_STATUSES)
		atomic_fetch_add(&g_stats.by_status[r->status], 1);
	inflight_leave(rc);
	resp_clear(r);
	return ret;
}

/* Copies the query arguments MHD parsed. */
typedef struct qlist {
	qarg *a;
	size_t n, cap;
} qlist;

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *k, const char *v)
{
	qlist *q = cls;
	(void)kind;
	if (q->n == q->cap) {
		q->cap = q->cap ? q->cap * 2 : 8;
		q->a = xrealloc(q->a, q->cap * sizeof(*q->a));
	}
	q->a[q->n].k = k;
	q->a[q->n].v = v;
	q->n++;
	return q->n < 256 ? MHD_YES : MHD_NO;
}

/* Basic or Bearer per configuration. */
static bool authorized(struct MHD_Connection *c)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!h)
		return false;
	if (!strncasecmp(h, "Basic ", 6) && !g_cfg.disable_basic) {
		const char *b64 = h + 6;
		size_t n = strlen(b64), ulen = strlen(g_cfg.user), plen = strlen(g_cfg.password);
		unsigned char *dec;
		int dn;
		bool ok;
		while (*b64 == ' ')
			b64++, n--;
		if (n == 0 || n % 4 || n > 4096)
			return false;
		dec = xmalloc(n);
		dn = EVP_DecodeBlock(dec, (const unsigned char *)b64, (int)n);
		if (dn < 0) {
			free(dec);
			return false;
		}
		if (b64[n - 1] == '=')
			dn--;
		if (b64[n - 2] == '=')
			dn--;
		ok = (size_t)dn == ulen + 1 + plen && memcmp(dec, g_cfg.user, ulen) == 0 && dec[ulen] == ':' &&
		     CRYPTO_memcmp(dec + ulen + 1, g_cfg.password, plen) == 0;
		free(dec);
		return ok;
	}
	if (!strncasecmp(h, "Bearer ", 7)) {
		const char *t = h + 7;
		while (*t == ' ')
			t++;
		return *t && oauth_check_bearer(t);
	}
	return false;
}

/* ---- faults ---- */

typedef enum { F_NONE, F_STATUS, F_DROP } fault_kind;

/* Is a request of @p method (its ?name= @p name, may be NULL) to be held
 * now? Called with faults_lock. */
static bool held_now(const char *method, const char *name)
{
	if (g_faults.hold_method[0] && !strcmp(method, g_faults.hold_method))
		return true;
	return name && !strcmp(method, "GET") && g_faults.hold_prefix[0] &&
		!strncmp(name, g_faults.hold_prefix, strlen(g_faults.hold_prefix));
}

/* hold_prefix: a GET whose ?name= starts with it waits until the setting
 * changes (or the emulator stops); hold_method: likewise every request of
 * that method. A test keeps requests "in Pexip" for as long as it needs
 * and counts them (held, held_total). */
static void hold_if_asked(struct MHD_Connection *c, const char *method)
{
	const char *name = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "name");
	bool counted = false;
	pthread_mutex_lock(&faults_lock);
	while (held_now(method, name) && !atomic_load(&g_stopping)) {
		struct timespec ts;
		if (!counted) {
			counted = true;
			atomic_fetch_add(&g_stats.held_total, 1);
			atomic_fetch_add(&g_stats.held, 1);
		}
		/* wake now and then to see the emulator stopping */
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&hold_cond, &faults_lock, &ts);
	}
	pthread_mutex_unlock(&faults_lock);
	if (counted)
		atomic_fetch_sub(&g_stats.held, 1);
}

/* Decides (and sleeps for) the injected faults of one request.
 * Returns F_STATUS with r filled, F_DROP, or F_NONE; *drop_after tells
 * whether the connection is to be dropped after processing. */
static fault_kind decide_faults(resp *r, bool *drop_after)
{
	emu_faults f;
	double u, acc, lat;
	int st = 0;
	pthread_mutex_lock(&faults_lock);
	f = g_faults;
	pthread_mutex_unlock(&faults_lock);
	*drop_after = false;

	lat = f.latency_ms;
	if (f.latency_jitter_ms > 0)
		lat += rng_uniform() * f.latency_jitter_ms;
	if (f.spike_rate > 0 && rng_uniform() < f.spike_rate) {
		lat += f.spike_ms;
		atomic_fetch_add(&g_stats.latency_spikes, 1);
	}
	emu_sleep_ms(lat);
	wait_while_held();

	if (f.rate_limit_per_minute > 0) {
		double now = mono_s();
		bool limited = false;
		long wait_s = 1;
		pthread_mutex_lock(&faults_lock);
		if (rl_ring && rl_cap == g_faults.rate_limit_per_minute) {
			/* drop timestamps older than 60 s */
			while (rl_count > 0) {
				long oldest = (rl_head - rl_count + rl_cap) % rl_cap;
				if (rl_ring[oldest] > now - 60.0)
					break;
				rl_count--;
			}
			if (rl_count >= rl_cap) {
				long oldest = (rl_head - rl_count + rl_cap) % rl_cap;
				limited = true;
				wait_s = (long)ceil(rl_ring[oldest] + 60.0 - now);
				if (wait_s < 1)
					wait_s = 1;
			} else {
				rl_ring[rl_head] = now;
				rl_head = (rl_head + 1) % rl_cap;
				rl_count++;
			}
		}
		pthread_mutex_unlock(&faults_lock);
		if (limited) {
			char ra[32];
			snprintf(ra, sizeof(ra), "%ld", wait_s);
			atomic_fetch_add(&g_stats.rate_limited, 1);
			atomic_fetch_add(&g_stats.faults_injected, 1);
			resp_error(r, 429, "rate limit of %ld requests per minute exceeded", f.rate_limit_per_minute);
			resp_header(r, "Retry-After", ra);
			return F_STATUS;
		}
	}

	if (f.permanent_status >= 100) {
		atomic_fetch_add(&g_stats.faults_injected, 1);
		resp_error(r, f.permanent_status, "injected failure %d", f.permanent_status);
		return F_STATUS;
	}

	if (f.fail_next > 0) {
		/* recheck under the lock: concurrent requests share the count */
		pthread_mutex_lock(&faults_lock);
		if (g_faults.fail_next > 0) {
			g_faults.fail_next--;
			st = f.fail_next_status ? f.fail_next_status : 429;
		}
		pthread_mutex_unlock(&faults_lock);
	}

	if (!st) {
		u = rng_uniform();
		acc = f.rate_429;
		if (u < acc)
			st = 429;
		else if (u < (acc += f.rate_500))
			st = 500;
		else if (u < (acc += f.rate_502))
			st = 502;
		else if (u < (acc += f.rate_503))
			st = 503;
		else if (u < (acc += f.rate_504))
			st = 504;
		else if (u < (acc += f.rate_drop)) {
			atomic_fetch_add(&g_stats.faults_injected, 1);
			atomic_fetch_add(&g_stats.dropped, 1);
			return F_DROP;
		}
	}
	if (st) {
		atomic_fetch_add(&g_stats.faults_injected, 1);
		resp_error(r, st, "injected failure %d", st);
		if (st == 429) {
			char ra[32];
			snprintf(ra, sizeof(ra), "%ld", (long)ceil(f.retry_after_s));
			resp_header(r, "Retry-After", ra);
		}
		return F_STATUS;
	}
	if (f.rate_drop_after > 0 && rng_uniform() < f.rate_drop_after)
		*drop_after = true;
	return F_NONE;
}

static json_object *faults_json(const emu_faults *f)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "latency_ms", json_object_new_double(f->latency_ms));
	json_object_object_add(o, "latency_jitter_ms", json_object_new_double(f->latency_jitter_ms));
	json_object_object_add(o, "spike_rate", json_object_new_double(f->spike_rate));
	json_object_object_add(o, "spike_ms", json_object_new_double(f->spike_ms));
	json_object_object_add(o, "rate_429", json_object_new_double(f->rate_429));
	json_object_object_add(o, "retry_after_s", json_object_new_double(f->retry_after_s));
	json_object_object_add(o, "rate_500", json_object_new_double(f->rate_500));
	json_object_object_add(o, "rate_502", json_object_new_double(f->rate_502));
	json_object_object_add(o, "rate_503", json_object_new_double(f->rate_503));
	json_object_object_add(o, "rate_504", json_object_new_double(f->rate_504));
	json_object_object_add(o, "rate_drop", json_object_new_double(f->rate_drop));
	json_object_object_add(o, "rate_drop_after", json_object_new_double(f->rate_drop_after));
	json_object_object_add(o, "permanent_status", json_object_new_int(f->permanent_status));
	json_object_object_add(o, "apply_to_token", json_object_new_boolean(f->apply_to_token));
	json_object_object_add(o, "rate_limit_per_minute", json_object_new_int64(f->rate_limit_per_minute));
	json_object_object_add(o, "refuse_in_filter", json_object_new_boolean(f->refuse_in_filter));
	json_object_object_add(o, "refuse_time_filter", json_object_new_boolean(f->refuse_time_filter));
	json_object_object_add(o, "fail_next", json_object_new_int64(f->fail_next));
	json_object_object_add(o, "fail_next_status", json_object_new_int(f->fail_next_status ? f->fail_next_status : 429));
	json_object_object_add(o, "hold_prefix", json_object_new_string(f->hold_prefix));
	json_object_object_add(o, "hold_method", json_object_new_string(f->hold_method));
	json_object_object_add(o, "hold", json_object_new_boolean(f->hold));
	return o;
}

/* A string fault setting into @p buf (@p size bytes with its NUL), or a
 * 400 naming @p key. */
static bool string_setting(resp *r, const char *key, json_object *v, char *buf, size_t size)
{
	if (!json_object_is_type(v, json_type_string) || strlen(json_object_get_string(v)) >= size) {
		resp_error(r, 400, "'%s' must be a string of at most %zu bytes", key, size - 1);
		return false;
	}
	snprintf(buf, size, "%s", json_object_get_string(v));
	return true;
}

/* POST /_emu/faults: validates every key first, then applies them all. */
static void faults_post(resp *r, json_object *in)
{
	static const struct {
		const char *k;
		size_t off;
		double max;
	} nums[] = {
		{ "latency_ms", offsetof(emu_faults, latency_ms), 600000 },
		{ "latency_jitter_ms", offsetof(emu_faults, latency_jitter_ms), 600000 },
		{ "spike_rate", offsetof(emu_faults, spike_rate), 1 },
		{ "spike_ms", offsetof(emu_faults, spike_ms), 600000 },
		{ "rate_429", offsetof(emu_faults, rate_429), 1 },
		{ "retry_after_s", offsetof(emu_faults, retry_after_s), 86400 },
		{ "rate_500", offsetof(emu_faults, rate_500), 1 },
		{ "rate_502", offsetof(emu_faults, rate_502), 1 },
		{ "rate_503", offsetof(emu_faults, rate_503), 1 },
		{ "rate_504", offsetof(emu_faults, rate_504), 1 },
		{ "rate_drop", offsetof(emu_faults, rate_drop), 1 },
		{ "rate_drop_after", offsetof(emu_faults, rate_drop_after), 1 },
	};
	emu_faults f;
	size_t i;
	double sum;
	pthread_mutex_lock(&faults_lock);
	f = g_faults;
	pthread_mutex_unlock(&faults_lock);
	json_object_object_foreach(in, key, v)
	{
		bool known = false;
		for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
			double d;
			if (strcmp(key, nums[i].k) != 0)
				continue;
			known = true;
			if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double)) {
				resp_error(r, 400, "'%s' must be a number", key);
				return;
			}
			d = json_object_get_double(v);
			if (!(d >= 0 && d <= nums[i].max)) {
				resp_error(r, 400, "'%s' must be between 0 and %g", key, nums[i].max);
				return;
			}
			*(double *)((char *)&f + nums[i].off) = d;
		}
		if (known)
			continue;
		if (!strcmp(key, "permanent_status")) {
			int st;
			if (!json_object_is_type(v, json_type_int) ||
			    ((st = json_object_get_int(v)) != 0 && (st < 100 || st > 599))) {
				resp_error(r, 400, "'permanent_status' must be 0 or an HTTP status 100..599");
				return;
			}
			f.permanent_status = st;
		} else if (!strcmp(key, "apply_to_token")) {
			if (!json_object_is_type(v, json_type_boolean)) {
				resp_error(r, 400, "'apply_to_token' must be a boolean");
				return;
			}
			f.apply_to_token = json_object_get_boolean(v);
		} else if (!strcmp(key, "hold")) {
			if (!json_object_is_type(v, json_type_boolean)) {
				resp_error(r, 400, "'hold' must be a boolean");
				return;
			}
			f.hold = json_object_get_boolean(v);
		} else if (!strcmp(key, "refuse_in_filter")) {
			if (!json_object_is_type(v, json_type_boolean)) {
				resp_error(r, 400, "'refuse_in_filter' must be a boolean");
				return;
			}
			f.refuse_in_filter = json_object_get_boolean(v);
		} else if (!strcmp(key, "refuse_time_filter")) {
			if (!json_object_is_type(v, json_type_boolean)) {
				resp_error(r, 400, "'refuse_time_filter' must be a boolean");
				return;
			}
			f.refuse_time_filter = json_object_get_boolean(v);
		} else if (!strcmp(key, "fail_next")) {
			long long n;
			if (!json_object_is_type(v, json_type_int) || (n = json_object_get_int64(v)) < 0 ||
			    n > 1000000) {
				resp_error(r, 400, "'fail_next' must be an integer 0..1000000");
				return;
			}
			f.fail_next = (long)n;
		} else if (!strcmp(key, "fail_next_status")) {
			int st;
			if (!json_object_is_type(v, json_type_int) || (st = json_object_get_int(v)) < 400 || st > 599) {
				resp_error(r, 400, "'fail_next_status' must be an HTTP status 400..599");
				return;
			}
			f.fail_next_status = st;
		} else if (!strcmp(key, "hold_prefix")) {
			if (!string_setting(r, key, v, f.hold_prefix, sizeof(f.hold_prefix)))
				return;
		} else if (!strcmp(key, "hold_method")) {
			if (!string_setting(r, key, v, f.hold_method, sizeof(f.hold_method)))
				return;
		} else if (!strcmp(key, "rate_limit_per_minute")) {
			long long n;
			if (!json_object_is_type(v, json_type_int) || (n = json_object_get_int64(v)) < 0 ||
			    n > 1000000) {
				resp_error(r, 400, "'rate_limit_per_minute' must be an integer 0..1000000");
				return;
			}
			f.rate_limit_per_minute = (long)n;
		} else {
			resp_error(r, 400, "unknown fault setting '%.64s'", key);
			return;
		}
	}
	sum = f.rate_429 + f.rate_500 + f.rate_502 + f.rate_503 + f.rate_504 + f.rate_drop;
	if (sum > 1.0 + 1e-9) {
		resp_error(r, 400, "the status and drop rates add up to %g (> 1)", sum);
		return;
	}
	pthread_mutex_lock(&faults_lock);
	if (f.rate_limit_per_minute != g_faults.rate_limit_per_minute) {
		free(rl_ring);
		rl_ring = f.rate_limit_per_minute ? xcalloc((size_t)f.rate_limit_per_minute, sizeof(double)) : NULL;
		rl_cap = f.rate_limit_per_minute;
		rl_head = rl_count = 0;
	}
	g_faults = f;
	atomic_store(&g_refuse_in, f.refuse_in_filter);
	pthread_cond_broadcast(&hold_cond);
	atomic_store(&g_refuse_time, f.refuse_time_filter);
	pthread_mutex_unlock(&faults_lock);
	set_hold(f.hold);
	resp_json(r, 200, faults_json(&f));
}

/* ---- control API ---- */

static json_object *stats_json(void)
{
	json_object *o = json_object_new_object(), *bm = json_object_new_object(), *bs = json_object_new_object();
	long long nc, na, nl, np;
	int i;
#define ADD(k, v) json_object_object_add(o, k, json_object_new_int64(v))
	ADD("requests", atomic_load(&g_stats.requests));
	for (i = 0; i < EMU_METHODS; i++) {
		long long n = atomic_load(&g_stats.by_method[i]);
		if (n)
			json_object_object_add(bm, emu_method_names[i], json_object_new_int64(n));
	}
	json_object_object_add(o, "by_method", bm);
	for (i = 0; i < EMU_STATUSES; i++) {
		long long n = atomic_load(&g_stats.by_status[i]);
		char k[8];
		if (!n)
			continue;
		snprintf(k, sizeof(k), "%d", i);
		json_object_object_add(bs, k, json_object_new_int64(n));
	}
	json_object_object_add(o, "by_status", bs);
	ADD("in_flight", atomic_load(&g_stats.in_flight));
	ADD("max_in_flight", atomic_load(&g_stats.max_in_flight));
	ADD("token_requests", atomic_load(&g_stats.token_requests));
	ADD("tokens_issued", atomic_load(&g_stats.tokens_issued));
	ADD("jwks_requests", jwks_requests());
	ADD("auth_failures", atomic_load(&g_stats.auth_failures));
	ADD("connections_opened", atomic_load(&g_stats.connections_opened));
	ADD("connections_accepted", atomic_load(&g_stats.connections_accepted));
	store_counts(&nc, &na, &nl, &np);
	ADD("conferences", nc);
	ADD("aliases", na);
	ADD("live", nl);
	ADD("participants", np);
	ADD("faults_injected", atomic_load(&g_stats.faults_injected));
	ADD("rate_limited", atomic_load(&g_stats.rate_limited));
	ADD("dropped", atomic_load(&g_stats.dropped));
	ADD("latency_spikes", atomic_load(&g_stats.latency_spikes));
	ADD("events_sent", atomic_load(&g_stats.events_sent));
	ADD("held", atomic_load(&g_stats.held));
	ADD("held_total", atomic_load(&g_stats.held_total));
#undef ADD
	return o;
}

static void ok_json(resp *r)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "ok", json_object_new_boolean(1));
	resp_json(r, 200, o);
}

static void handle_ctl(resp *r, const char *method, const char *path, const char *body, size_t len)
{
	json_object *in = NULL;
	bool post = !strcmp(method, "POST");
	char p[64];
	size_t n = strlen(path);
	/* tolerate a trailing slash */
	if (n >= sizeof(p)) {
		resp_error(r, 404, "unknown control endpoint");
		return;
	}
	memcpy(p, path, n + 1);
	if (n > 1 && p[n - 1] == '/')
		p[n - 1] = 0;

	if (!strcmp(method, "GET")) {
		if (!strcmp(p, "stats"))
			resp_json(r, 200, stats_json());
		else if (!strcmp(p, "faults")) {
			emu_faults f;
			pthread_mutex_lock(&faults_lock);
			f = g_faults;
			pthread_mutex_unlock(&faults_lock);
			resp_json(r, 200, faults_json(&f));
		} else if (!strcmp(p, "health"))
			ok_json(r);
		else if (!strcmp(p, "mode"))
			mode_ctl(r, NULL);
		else
			resp_error(r, 404, "unknown control endpoint");
		return;
	}
	if (!post) {
		resp_error(r, 405, "control endpoints take GET or POST");
		return;
	}
	if (len) {
		const char *err;
		in = json_parse(body, len, &err);
		if (!in) {
			resp_error(r, 400, "Malformed JSON body: %s", err);
			return;
		}
		if (!json_object_is_type(in, json_type_object)) {
			json_object_put(in);
			resp_error(r, 400, "The request body must be a JSON object.");
			return;
		}
	} else {
		in = json_object_new_object();
	}
	if (!strcmp(p, "faults"))
		faults_post(r, in);
	else if (!strcmp(p, "reset_stats")) {
		stats_reset();
		ok_json(r);
	} else if (!strcmp(p, "revoke_tokens")) {
		oauth_revoke_all();
		ok_json(r);
	} else if (!strcmp(p, "reset")) {
		store_reset();
		oauth_reset();
		events_reset();
		faults_reset();
		stats_reset();
		mode_reset();
		jwks_reset();
		ok_json(r);
	} else if (!strcmp(p, "conference/start"))
		store_ctl_start(r, in);
	else if (!strcmp(p, "conference/stop"))
		store_ctl_stop(r, in);
	else if (!strcmp(p, "conference/set"))
		store_ctl_set(r, in);
	else if (!strcmp(p, "conference/joinable"))
		store_ctl_joinable(r, in);
	else if (!strcmp(p, "replication"))
		store_ctl_replication(r, in);
	else if (!strcmp(p, "populate"))
		store_ctl_populate(r, in);
	else if (!strcmp(p, "events"))
		events_send(r, in);
	else if (!strcmp(p, "mode"))
		mode_ctl(r, in);
	else if (!strcmp(p, "jwks"))
		jwks_ctl(r, in);
	else
		resp_error(r, 404, "unknown control endpoint");
	json_object_put(in);
}

/* ---- MHD callbacks ---- */

static enum req_kind classify(const char *url)
{
	if (!strncmp(url, "/api/admin/", 11) || !strcmp(url, "/api/admin"))
		return RK_API;
	if (!strcmp(url, "/oauth/token/") || !strcmp(url, "/oauth/token"))
		return RK_TOKEN;
	if (!strncmp(url, "/_emu/", 6))
		return RK_CTL;
	return RK_OTHER;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	reqctx *rc = *con_cls;
	resp r;
	bool drop_after = false;
	(void)cls;
	(void)version;

	memset(&r, 0, sizeof(r));
	if (!rc) {
		const char *cl;
		unsigned long long declared;
		rc = xcalloc(1, sizeof(*rc));
		*con_cls = rc;
		rc->kind = classify(url);
		if (rc->kind == RK_API || rc->kind == RK_TOKEN) {
			const union MHD_ConnectionInfo *ci =
				MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
			connctx *cc = ci ? ci->socket_context : NULL;
			if (cc && !cc->counted) {
				cc->counted = true;
				atomic_fetch_add(&g_stats.connections_opened, 1);
			}
			atomic_fetch_add(&g_stats.requests, 1);
			atomic_fetch_add(&g_stats.by_method[method_index(method)], 1);
			rc->counted = true;
			inflight_enter();
		}
		cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		declared = cl ? strtoull(cl, NULL, 10) : 0;
		if (declared > MAX_BODY) {
			const char *expect = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
				MHD_HTTP_HEADER_EXPECT);
			if ((expect && strcasecmp(expect, "100-continue") == 0) || declared > DRAIN_MAX) {
				resp_error(&r, 413, "request body larger than %d bytes", MAX_BODY);
				resp_header(&r, MHD_HTTP_HEADER_CONNECTION, "close");
				return queue(c, rc, &r);
			}
			rc->too_big = true;        /* read, dropped, 413 at the end */
		}
		return MHD_YES;
	}
	if (*upload_size) {
		size_t n = *upload_size;
		*upload_size = 0;
		if (rc->too_big || rc->len + n > MAX_BODY) {
			rc->too_big = true;
			free(rc->body);
			rc->body = NULL;
			rc->len = rc->cap = 0;
			return MHD_YES;
		}
		if (rc->len + n + 1 > rc->cap) {
			rc->cap = (rc->len + n + 1) * 2;
			if (rc->cap > MAX_BODY + 1)
				rc->cap = MAX_BODY + 1;
			rc->body = xrealloc(rc->body, rc->cap);
		}
		memcpy(rc->body + rc->len, upload, n);
		rc->len += n;
		rc->body[rc->len] = 0;
		return MHD_YES;
	}

	/* the request is complete */
	if (rc->too_big) {
		resp_error(&r, 413, "request body larger than %d bytes", MAX_BODY);
		resp_header(&r, MHD_HTTP_HEADER_CONNECTION, "close");
		return queue(c, rc, &r);
	}
	switch (rc->kind) {
	case RK_CTL:
		handle_ctl(&r, method, url + 6, rc->body ? rc->body : "", rc->len);
		return queue(c, rc, &r);
	case RK_OTHER:
		if (jwks_is_path(url))
			jwks_serve(&r, method);
		else
			resp_error(&r, 404, "not found");
		return queue(c, rc, &r);
	case RK_TOKEN: {
		bool faults;
		pthread_mutex_lock(&faults_lock);
		faults = g_faults.apply_to_token;
		pthread_mutex_unlock(&faults_lock);
		if (faults) {
			fault_kind fk = decide_faults(&r, &drop_after);
			if (fk == F_DROP) {
				inflight_leave(rc);
				return MHD_NO;
			}
			if (fk == F_STATUS)
				return queue(c, rc, &r);
		}
		if (strcmp(method, "POST") != 0) {
			resp_error(&r, 405, "use POST");
			resp_header(&r, "Allow", "POST");
		} else {
			oauth_token_endpoint(&r, rc->body ? rc->body : "", rc->len);
		}
		break;
	}
	case RK_API: {
		fault_kind fk;
		qlist q = { 0 };
		hold_if_asked(c, method);
		fk = decide_faults(&r, &drop_after);
		if (fk == F_DROP) {
			inflight_leave(rc);
			return MHD_NO;
		}
		if (fk == F_STATUS)
			return queue(c, rc, &r);
		if (!authorized(c)) {
			atomic_fetch_add(&g_stats.auth_failures, 1);
			resp_error(&r, 401, "Authentication credentials were not provided or are invalid.");
			resp_header(&r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Basic realm=\"pexip\"");
			break;
		}
		MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_arg, &q);
		store_handle(&r, method, url[10] ? url + 11 : "", q.a, q.n, rc->body ? rc->body : "", rc->len);
		free(q.a);
		break;
	}
	}
	if (drop_after) {
		/* processed, but the client never hears about it */
		atomic_fetch_add(&g_stats.faults_injected, 1);
		atomic_fetch_add(&g_stats.dropped, 1);
		resp_clear(&r);
		inflight_leave(rc);
		return MHD_NO;
	}
	return queue(c, rc, &r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	reqctx *rc = *con_cls;
	(void)cls;
	(void)c;
	(void)toe;
	if (!rc)
		return;
	inflight_leave(rc);
	free(rc->body);
	free(rc);
	*con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	(void)cls;
	(void)c;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		*socket_context = xcalloc(1, sizeof(connctx));
		atomic_fetch_add(&g_stats.connections_accepted, 1);
	} else {
		free(*socket_context);
		*socket_context = NULL;
	}
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	fputs("pexip-emulator: mhd: ", stderr);
	vfprintf(stderr, fmt, ap);
}

/* ---- start / stop ---- */

static char *tls_cert_pem, *tls_key_pem;

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || n > 1 << 20 || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return NULL;
	}
	buf = xmalloc((size_t)n + 1);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(buf);
		return NULL;
	}
	buf[n] = 0;
	fclose(f);
	return buf;
}

int server_bind(unsigned *bound_port, bool *ipv6)
{
	struct addrinfo hints, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl;
	int rc, fd, one = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if ((rc = getaddrinfo(g_cfg.listen, NULL, &hints, &ai)) != 0 || !ai) {
		fprintf(stderr, "pexip-emulator: cannot resolve --listen '%s': %s\n", g_cfg.listen, gai_strerror(rc));
		return -1;
	}
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
	sl = (socklen_t)ai->ai_addrlen;
	freeaddrinfo(ai);
	*ipv6 = ss.ss_family == AF_INET6;
	if (*ipv6)
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)g_cfg.port);
	else
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)g_cfg.port);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("pexip-emulator: socket");
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 1024) != 0) {
		fprintf(stderr, "pexip-emulator: cannot listen on %s:%u: %s\n", g_cfg.listen, g_cfg.port,
			strerror(errno));
		close(fd);
		return -1;
	}
	sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
		perror("pexip-emulator: getsockname");
		close(fd);
		return -1;
	}
	*bound_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
						       ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

struct MHD_Daemon *server_start(int listen_fd, bool ipv6)
{
	struct MHD_Daemon *d;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL |
			 MHD_USE_ITC;
	pthread_condattr_t ca;
	bool verbose = getenv("PEX_EMULATOR_VERBOSE") != NULL;

	if (!sleep_cond_ready) {
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&sleep_cond, &ca);
		pthread_condattr_destroy(&ca);
		sleep_cond_ready = true;
	}
	if (ipv6)
		flags |= MHD_USE_IPv6;
	if (verbose)
		flags |= MHD_USE_ERROR_LOG;
	if (g_cfg.tls_cert) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			fprintf(stderr, "pexip-emulator: this libmicrohttpd has no TLS support\n");
			close(listen_fd);
			return NULL;
		}
		tls_cert_pem = slurp(g_cfg.tls_cert);
		tls_key_pem = slurp(g_cfg.tls_key);
		if (!tls_cert_pem || !tls_key_pem) {
			fprintf(stderr, "pexip-emulator: cannot read --tls-cert/--tls-key\n");
			close(listen_fd);
			return NULL;
		}
		flags |= MHD_USE_TLS;
	}
	/* MHD owns (and closes) the listening socket from here on */
	d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL,
			     MHD_OPTION_LISTEN_SOCKET, listen_fd,
			     MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
			     MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
			     MHD_OPTION_CONNECTION_LIMIT, (unsigned)4096,
			     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)300,
			     MHD_OPTION_THREAD_STACK_SIZE, (size_t)(512 * 1024),
			     MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
			     g_cfg.tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, tls_cert_pem,
			     MHD_OPTION_HTTPS_MEM_KEY, tls_key_pem,
			     MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "pexip-emulator: cannot start the HTTP server (bad TLS certificate or key?)\n");
		close(listen_fd);
		return NULL;
	}
	return d;
}

void server_stop(struct MHD_Daemon *d)
{
	atomic_store(&g_stopping, true);
	wake_sleepers();
	if (d)
		MHD_stop_daemon(d);
}

void server_free(void)
{
	free(tls_cert_pem);
	free(tls_key_pem);
	tls_cert_pem = tls_key_pem = NULL;
	free(rl_ring);
	rl_ring = NULL;
	jwks_reset();
	if (sleep_cond_ready) {
		pthread_cond_destroy(&sleep_cond);
		sleep_cond_ready = false;
	}
}
