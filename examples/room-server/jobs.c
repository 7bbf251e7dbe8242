/* Background work: the replenish workers and the GC/metrics timers.
 *
 * A pop hands out a room and queues one "replenish 1" job; worker threads
 * take jobs and create the replacement rooms, so a request never waits for
 * Pexip's create. There are enough workers (by default one per Pexip
 * connection, pexip.max_concurrency: docs/DECISIONS.md, "Replacements use
 * the Pexip connections hand-outs leave") for the replacements to use every
 * connection the hand-outs leave free; the client's background class keeps
 * them behind the hand-outs. A "fill" job tops the pool up to pool.depth
 * (at start-up, after a GC sweep, and when a pop finds the pool empty). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server.h"

/* ---- replenish workers ---- */

/* Keep s->prefetch rooms held ready (and rotate those held too long). */
void rs_prefetch(rs_server *s)
{
	if (s->prefetch && pex_pool_prefetch(NULL, s->pool, s->prefetch) < 0)
		rs_log(PEX_LOG_WARN, "taking rooms ahead of requests: %s", pex_error_last()->message);
}

static void *worker_main(void *arg)
{
	rs_server *s = arg;

	pthread_mutex_lock(&s->jobs_lock);
	for (;;) {
		size_t created = 0;
		int fill = 0, err;

		while (!s->replenish_pending && !s->fill_pending && !s->jobs_stopping)
			pthread_cond_wait(&s->jobs_cond, &s->jobs_lock);
		if (!s->replenish_pending && !s->fill_pending)
			break;                          /* stopping, nothing left */
		if (s->jobs_stopping && rs_now_ms() > s->jobs_deadline)
			break;                          /* out of time: drop the rest */
		if (s->fill_pending && !s->replenish_pending) {
			/* only with no replacement queued: a top-up that did not
			 * count them would make the pool outgrow its depth for good */
			s->fill_pending = 0;
			fill = 1;
		} else {
			/* still owed to the pool: rs_jobs_throttle counts it until made */
			s->replenish_pending--;
			s->replenish_running++;
		}
		s->jobs_running++;              /* /readyz: a room is coming */
		pthread_mutex_unlock(&s->jobs_lock);

		if (fill) {
			err = pex_pool_fill(&created, s->pool, 0, NULL, NULL);
			rs_prefetch(s);
		} else {
			/* a room handed out: take the next one off the queue first
			 * (the next request's fast path), then create its replacement */
			rs_prefetch(s);
			err = pex_pool_replenish(&created, s->pool, 1, NULL, NULL);
		}
		if (err < 0)
			rs_log(PEX_LOG_WARN, "%s failed: %s", fill ? "pool fill" : "replenish",
				pex_error_last()->message);
		else if (fill && created)
			rs_log(PEX_LOG_INFO, "pool fill: %zu room(s) created", created);

		pthread_mutex_lock(&s->jobs_lock);
		s->jobs_running--;
		if (!fill) {
			s->replenish_running--;
			/* one replacement made: one waiting hand-out may go (a
			 * broadcast would let them all go at once) */
			if (s->backlog_waiters)
				pthread_cond_signal(&s->backlog_cond);
		}
	}
	pthread_mutex_unlock(&s->jobs_lock);
	return NULL;
}

void rs_jobs_replenish(rs_server *s, size_t n)
{
	pthread_mutex_lock(&s->jobs_lock);
	if (!s->jobs_stopping) {
		s->replenish_pending += n;
		/* one job wakes one worker (a broadcast stole CPU from the request) */
		if (n == 1)
			pthread_cond_signal(&s->jobs_cond);
		else
			pthread_cond_broadcast(&s->jobs_cond);
	}
	pthread_mutex_unlock(&s->jobs_lock);
}

/*
 * Hand-outs have priority over replenishment (their Pexip requests go
 * first), which serves a burst from the pool at full speed. Under load
 * that lasts, though, hand-outs would outrun the replacements and empty
 * the pool, and every request after that would fail (pool_empty). So once
 * backlog_max replacements (half the pool depth) are owed to the pool,
 * queued or being made, a hand-out waits until one is made: sustained
 * load above the replacement rate is slowed to that rate instead of
 * draining the pool. The wait is bounded; after it the hand-out goes
 * ahead (it may find the pool empty). So is the number of requests that
 * wait (waiters_max): the others go ahead at once rather than hold every
 * HTTP thread.
 */
void rs_jobs_throttle(rs_server *s)
{
	struct timespec ts;
	long long until;

	if (!s->backlog_max)
		return;
	pthread_mutex_lock(&s->jobs_lock);
	if (s->replenish_pending + s->replenish_running >= s->backlog_max && !s->jobs_stopping &&
	    (!s->waiters_max || s->backlog_waiters < s->waiters_max)) {
		until = rs_now_ms() + RS_THROTTLE_MAX_MS;
		ts.tv_sec = until / 1000;
		ts.tv_nsec = (until % 1000) * 1000000;
		s->backlog_waiters++;
		while (s->replenish_pending + s->replenish_running >= s->backlog_max && !s->jobs_stopping &&
		       !atomic_load(&s->stopping))
			if (pthread_cond_timedwait(&s->backlog_cond, &s->jobs_lock, &ts) == ETIMEDOUT)
				break;
		s->backlog_waiters--;
	}
	pthread_mutex_unlock(&s->jobs_lock);
}

void rs_jobs_fill(rs_server *s)
{
	pthread_mutex_lock(&s->jobs_lock);
	if (!s->jobs_stopping) {
		s->fill_pending = 1;
		pthread_cond_signal(&s->jobs_cond);
	}
	pthread_mutex_unlock(&s->jobs_lock);
}

/* ---- GC and metrics ---- */

static void add_log(json_object *logs, const char *line)
{
	if (logs)
		json_object_array_add(logs, json_object_new_string(line));
}

int rs_run_gc(rs_server *s, json_object *logs)
{
	pex_gc_options opts = PEX_GC_OPTIONS_INIT;
	pex_gc_report rep = PEX_GC_REPORT_INIT;
	char line[256];
	int err;

	pex_gc_report_init(&rep, PEX_GC_REPORT_VERSION);
	/* Without the orphan sweep, a room leaked by a crash between lease and
	 * hand-out (docs/ARCHITECTURE.md, Guarantees) would stay on Pexip for
	 * ever where nothing else runs pexctl gc --orphans (an Azure Functions
	 * deployment). */
	opts.orphans = s->gc_orphans;
	err = pex_gc_sweep(&rep, s->pool, &opts, NULL, NULL);
	snprintf(line, sizeof(line), "gc: deleted=%zu postponed_live=%zu skipped_protected=%zu "
		"skipped_foreign=%zu already_gone=%zu failed=%zu", rep.deleted, rep.postponed_live,
		rep.skipped_protected, rep.skipped_foreign, rep.already_gone, rep.failed);
	if (s->gc_orphans)
		snprintf(line + strlen(line), sizeof(line) - strlen(line), " orphans_found=%zu orphans_deleted=%zu",
			rep.orphans_found, rep.orphans_deleted);
	rs_log(err < 0 ? PEX_LOG_WARN : PEX_LOG_INFO, "%s%s%s", line, err < 0 ? ": " : "",
		err < 0 ? pex_error_last()->message : "");
	add_log(logs, line);
	rs_jobs_fill(s);        /* catch up on replacements that failed earlier */
	return err;
}

/* The metrics line: each member of the JSON object (all integers) as a
 * field of its own, not a JSON text inside the message. */
static void log_metrics(const char *json)
{
	pex_log_field f[RS_LOG_FIELDS_MAX];
	json_object *o = json_tokener_parse(json);
	size_t n = 0;

	if (!o)
		return;
	json_object_object_foreach(o, key, val) {
		if (n < RS_LOG_FIELDS_MAX && json_object_is_type(val, json_type_int)) {
			f[n].key = key;
			f[n].str = NULL;
			f[n++].num = json_object_get_int64(val);
		}
	}
	rs_log_fields(PEX_LOG_INFO, "room-server", "metrics", f, n);
	json_object_put(o);
}

int rs_run_metrics(rs_server *s, json_object *logs)
{
	pex_metrics m = PEX_METRICS_INIT;
	pex_buf buf = PEX_BUF_INIT;
	int err;

	pex_metrics_init(&m, PEX_METRICS_VERSION);
	err = pex_metrics_get(&m, s->pool);
	pthread_mutex_lock(&s->metrics_lock);
	s->pexip_up = err == 0;
	if (err == 0) {
		s->cached_live = m.live_conferences;
		s->cached_pool_rooms = m.pexip_pool_rooms;
		s->pexip_last_success = (long long)time(NULL);
	}
	pthread_mutex_unlock(&s->metrics_lock);
	if (err < 0) {
		rs_log(PEX_LOG_WARN, "metrics: %s", pex_error_last()->message);
		add_log(logs, "metrics: failed");
		return err;
	}
	if ((err = pex_metrics_format_write(&buf, &m, PEX_METRICS_JSON)) == 0) {
		/* one line: the JSON object without its newline */
		while (buf.size && buf.ptr[buf.size - 1] == '\n')
			buf.ptr[--buf.size] = '\0';
		log_metrics(buf.ptr);
		add_log(logs, buf.ptr);
	}
	pex_buf_dispose(&buf);
	return err;
}

int rs_metrics_text(rs_server *s, char **out, size_t *len)
{
	pex_metrics m = PEX_METRICS_INIT;
	pex_buf lib = PEX_BUF_INIT;
	char extra[512];
	long long last;
	int err, up, n;

	*out = NULL;
	/* a queue that cannot be counted reads -1; the counters are served anyway */
	if (pex_metrics_get_local(&m, s->pool) < 0) {
		rs_log(PEX_LOG_DEBUG, "/metrics: %s", pex_error_last()->message);
		if (m.pool_depth == 0)
			m.pool_depth = -1;
		m.deletion_backlog = -1;
	}
	pthread_mutex_lock(&s->metrics_lock);
	m.live_conferences = s->cached_live;
	m.pexip_pool_rooms = s->cached_pool_rooms;
	up = s->pexip_up;
	last = s->pexip_last_success;
	pthread_mutex_unlock(&s->metrics_lock);
	if ((err = pex_metrics_format_write(&lib, &m, PEX_METRICS_PROMETHEUS)) < 0 ||
	    (err = pex_metrics_process_write(&lib)) < 0) {
		pex_buf_dispose(&lib);
		return err;
	}
	n = snprintf(extra, sizeof(extra),
		"# HELP pexipsdk_pexip_up Whether the last refresh of the Pexip gauges succeeded.\n"
		"# TYPE pexipsdk_pexip_up gauge\npexipsdk_pexip_up %d\n"
		"# HELP pexipsdk_pexip_last_success_timestamp_seconds When the Pexip gauges were "
		"last refreshed (0: never).\n"
		"# TYPE pexipsdk_pexip_last_success_timestamp_seconds gauge\n"
		"pexipsdk_pexip_last_success_timestamp_seconds %lld\n", up, last);
	if (!(*out = malloc(lib.size + (size_t)n + 1))) {
		pex_buf_dispose(&lib);
		return PEX_ENOMEM;
	}
	memcpy(*out, lib.ptr, lib.size);
	memcpy(*out + lib.size, extra, (size_t)n + 1);
	*len = lib.size + (size_t)n;
	pex_buf_dispose(&lib);
	return 0;
}

/* ---- timers ---- */

/* One timer of timer_main: when it runs next (monotonic ms, -1: never),
 * how often, and what it runs (without jobs_lock). */
typedef struct rs_timer {
	long long next, every_ms;
	void (*run)(rs_server *s);
} rs_timer;

static void run_gc_timer(rs_server *s)
{
	rs_queue_store_check(s);
	rs_run_gc(s, NULL);
}

static void run_resize_timer(rs_server *s)
{
	size_t created = 0, removed = 0;
	if (pex_pool_resize(&created, &removed, s->pool) < 0)
		rs_log(PEX_LOG_WARN, "pool sizing: %s", pex_error_last()->message);
	else if (created)
		rs_log(PEX_LOG_INFO, "pool sizing: %zu room(s) created (the demand grew)", created);
}

static void run_metrics_timer(rs_server *s)
{
	rs_queue_store_check(s);
	rs_run_metrics(s, NULL);
}

static void *timer_main(void *arg)
{
	rs_server *s = arg;
	long long now = rs_now_ms();
	rs_timer timers[] = {
		{ s->gc_interval_s ? now + (long long)s->gc_interval_s * 1000 : -1,
		  (long long)s->gc_interval_s * 1000, run_gc_timer },
		/* at once: /metrics serves the Pexip gauges this refreshes */
		{ s->metrics_interval_s ? now : -1, (long long)s->metrics_interval_s * 1000, run_metrics_timer },
		/* held rooms go back to the queue after PEX__POOL_HOLD_MAX_S (5 min):
		 * look once a minute, also when no request comes */
		{ s->prefetch ? now + RS_HOLD_CHECK_MS : -1, RS_HOLD_CHECK_MS, rs_prefetch },
		/* the self-sizing pool's step (pool.max_depth, and shrinking what
		 * outgrew the target) */
		{ now + RS_RESIZE_MS, RS_RESIZE_MS, run_resize_timer },
	};
	const size_t n = sizeof(timers) / sizeof(timers[0]);

	pthread_mutex_lock(&s->jobs_lock);
	while (!s->jobs_stopping) {
		long long wake = -1;
		struct timespec ts;
		size_t i, due = n;

		now = rs_now_ms();
		for (i = 0; i < n; i++) {
			if (timers[i].next < 0)
				continue;
			if (due == n && now >= timers[i].next)
				due = i;
			if (wake < 0 || timers[i].next < wake)
				wake = timers[i].next;
		}
		if (due < n) {
			pthread_mutex_unlock(&s->jobs_lock);
			timers[due].run(s);
			pthread_mutex_lock(&s->jobs_lock);
			timers[due].next = rs_now_ms() + timers[due].every_ms;
			continue;
		}
		if (wake < 0) {
			pthread_cond_wait(&s->timer_cond, &s->jobs_lock);
			continue;
		}
		/* timer_cond uses CLOCK_MONOTONIC (see rs_jobs_start) */
		ts.tv_sec = wake / 1000;
		ts.tv_nsec = (wake % 1000) * 1000000;
		pthread_cond_timedwait(&s->timer_cond, &s->jobs_lock, &ts);
	}
	pthread_mutex_unlock(&s->jobs_lock);
	return NULL;
}

int rs_jobs_start(rs_server *s, size_t workers)
{
	pthread_condattr_t ca;
	size_t i;

	if (pthread_mutex_init(&s->jobs_lock, NULL) != 0 || pthread_cond_init(&s->jobs_cond, NULL) != 0)
		return -1;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (pthread_cond_init(&s->timer_cond, &ca) != 0 || pthread_cond_init(&s->backlog_cond, &ca) != 0) {
		pthread_condattr_destroy(&ca);
		return -1;
	}
	pthread_condattr_destroy(&ca);
	if (!(s->workers = calloc(workers, sizeof(*s->workers))))
		return -1;
	for (i = 0; i < workers; i++) {
		if (pthread_create(&s->workers[i], NULL, worker_main, s) != 0)
			break;
		s->worker_count++;
	}
	if (s->worker_count == 0)
		return -1;
	if (pthread_create(&s->timer_thread, NULL, timer_main, s) == 0)
		s->timer_started = 1;
	return s->timer_started ? 0 : -1;
}

void rs_jobs_stop(rs_server *s, long drain_ms)
{
	size_t i, left;

	pthread_mutex_lock(&s->jobs_lock);
	s->jobs_stopping = 1;
	s->jobs_deadline = rs_now_ms() + drain_ms;
	pthread_cond_broadcast(&s->jobs_cond);
	pthread_cond_broadcast(&s->timer_cond);
	pthread_cond_broadcast(&s->backlog_cond);
	pthread_mutex_unlock(&s->jobs_lock);

	if (s->timer_started)
		pthread_join(s->timer_thread, NULL);
	s->timer_started = 0;
	for (i = 0; i < s->worker_count; i++)
		pthread_join(s->workers[i], NULL);
	left = s->replenish_pending;
	if (left || s->fill_pending)
		rs_log(PEX_LOG_WARN, "%zu replenish job(s) dropped at shutdown; the next fill or GC catches up", left);
	free(s->workers);
	s->workers = NULL;
	s->worker_count = 0;
	pthread_cond_destroy(&s->timer_cond);
	pthread_cond_destroy(&s->backlog_cond);
	pthread_cond_destroy(&s->jobs_cond);
	pthread_mutex_destroy(&s->jobs_lock);
}
