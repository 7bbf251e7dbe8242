/* The probes: GET /healthz (liveness) and GET /readyz (readiness), and
 * the Pexip check they share with /public/health. Neither probe asks
 * Pexip: /readyz reads what the last check found and, when that is old,
 * asks the probe thread for a new one without waiting for it. */
#include <stdio.h>
#include <string.h>

#include "server.h"

int rs_pexip_refresh(rs_server *s)
{
	long long now = rs_now_ms(), at;

	if (s->pexip_checked_at && now - s->pexip_checked_at < s->pexip_check_ms)
		return 0;
	s->pexip_ok = pex_client_check(pex_pool_client(s->pool)) == 0;
	at = rs_now_ms();
	if (s->pexip_ok)
		s->pexip_ok_at = at;
	s->pexip_checked_at = at;
	s->maturing_next_ms = now;          /* /public/health asks for the maturing rooms too */
	return 1;
}

/* ---- the probe thread: one check at a time, only when asked ---- */

static void *probe_main(void *arg)
{
	rs_server *s = arg;

	pthread_mutex_lock(&s->probe_lock);
	while (!s->probe_stop) {
		if (!s->probe_kicked) {
			pthread_cond_wait(&s->probe_cond, &s->probe_lock);
			continue;
		}
		s->probe_kicked = 0;
		pthread_mutex_unlock(&s->probe_lock);
		pthread_mutex_lock(&s->health_lock);
		rs_pexip_refresh(s);
		pthread_mutex_unlock(&s->health_lock);
		pthread_mutex_lock(&s->probe_lock);
	}
	pthread_mutex_unlock(&s->probe_lock);
	return NULL;
}

int rs_probes_start(rs_server *s)
{
	if (pthread_mutex_init(&s->probe_lock, NULL) != 0)
		return -1;
	if (pthread_cond_init(&s->probe_cond, NULL) != 0) {
		pthread_mutex_destroy(&s->probe_lock);
		return -1;
	}
	s->ready_last = -1;
	s->probe_kicked = 1;                /* a first check at start: the first probe finds it */
	if (pthread_create(&s->probe_thread, NULL, probe_main, s) != 0) {
		pthread_cond_destroy(&s->probe_cond);
		pthread_mutex_destroy(&s->probe_lock);
		return -1;
	}
	s->probe_started = 1;
	return 0;
}

void rs_thread_stop(pthread_mutex_t *lock, pthread_cond_t *cond, int *stop, pthread_t thread)
{
	pthread_mutex_lock(lock);
	*stop = 1;
	pthread_cond_broadcast(cond);
	pthread_mutex_unlock(lock);
	pthread_join(thread, NULL);
}

void rs_thread_end(pthread_mutex_t *lock, pthread_cond_t *cond, int *stop, pthread_t thread, int *started)
{
	if (!*started)
		return;
	rs_thread_stop(lock, cond, stop, thread);
	pthread_cond_destroy(cond);
	pthread_mutex_destroy(lock);
	*started = 0;
}

void rs_probes_stop(rs_server *s)
{
	rs_thread_end(&s->probe_lock, &s->probe_cond, &s->probe_stop, s->probe_thread, &s->probe_started);
}

/* Ask the probe thread for a check when the last one is old; never waits. */
static void pexip_kick(rs_server *s, long long now)
{
	if (s->pexip_checked_at && now - s->pexip_checked_at < s->pexip_check_ms)
		return;
	pthread_mutex_lock(&s->probe_lock);
	s->probe_kicked = 1;
	pthread_cond_signal(&s->probe_cond);
	pthread_mutex_unlock(&s->probe_lock);
}

/* ---- the routes ---- */

int rs_route_is_probe(const char *path)
{
	return strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0;
}

/* Liveness: the HTTP threads answer. No dependency is asked. */
enum MHD_Result rs_route_healthz(rs_server *s, struct MHD_Connection *c, rs_request *r)
{
	json_object *o = json_object_new_object();
	int stopping = atomic_load(&s->stopping);

	r->quiet = 1;
	json_object_object_add(o, "status", json_object_new_string(stopping ? "stopping" : "ok"));
	json_object_object_add(o, "uptime_s", json_object_new_int64((rs_now_ms() - s->started_ms) / 1000));
	return rs_send_json(c, r, stopping ? 503 : 200, o);
}

static json_object *check(int ok)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "ok", json_object_new_boolean(ok));
	return o;
}

/* Readiness: the queue answers, Pexip answered within ready_window_s, and
 * a room is ready or coming. Bounded work: a store check and a count of
 * the queue; Pexip is never asked here. */
enum MHD_Result rs_route_readyz(rs_server *s, struct MHD_Connection *c, rs_request *r)
{
	json_object *o = json_object_new_object(), *checks = json_object_new_object(), *q, *p, *pool;
	long long now = rs_now_ms(), ok_at = s->pexip_ok_at, checked_at = s->pexip_checked_at;
	int store = rs_queue_store_check(s), stopping = atomic_load(&s->stopping);
	size_t depth = 0, held = 0, pending, running;
	int queue_ok, pexip_ok, pool_ok, ready, was;
	char why[160];

	r->quiet = 1;
	queue_ok = store == 0 && pex_queue_count(&depth, s->pool_queue) == 0;
	q = check(queue_ok);
	json_object_object_add(q, "store", json_object_new_string(store == 0 ? "ok" :
		store == PEX_ESTALE ? "stale" : "error"));
	json_object_object_add(checks, "queue", q);

	pexip_ok = ok_at && now - ok_at <= (long long)s->ready_window_s * 1000;
	p = check(pexip_ok);
	json_object_object_add(p, "last_success_s_ago", ok_at ? json_object_new_int64((now - ok_at) / 1000) : NULL);
	json_object_object_add(p, "last_check_ok", checked_at ? json_object_new_boolean(s->pexip_ok) : NULL);
	json_object_object_add(p, "window_s", json_object_new_int64(s->ready_window_s));
	json_object_object_add(checks, "pexip", p);
	pexip_kick(s, now);

	/* the rooms held ready (--prefetch) are part of the pool, and the
	 * depth counts maturing rooms (pool.ready_after_s) */
	if (pex_pool_held(&held, s->pool) == 0)
		depth += held;
	pthread_mutex_lock(&s->jobs_lock);
	pending = s->replenish_pending + (s->fill_pending ? 1 : 0);
	running = s->jobs_running;
	pthread_mutex_unlock(&s->jobs_lock);
	pool_ok = (queue_ok && depth > 0) || pending || running;
	pool = check(pool_ok);
	json_object_object_add(pool, "depth", queue_ok ? json_object_new_int64((long long)depth) : NULL);
	json_object_object_add(pool, "jobs_queued", json_object_new_int64((long long)pending));
	json_object_object_add(pool, "jobs_running", json_object_new_int64((long long)running));
	json_object_object_add(checks, "pool", pool);
	/* Empty, nothing coming: a top-up, else nothing would refill the pool
	 * while load balancers send no requests here (not while stopping: the
	 * jobs are being drained). */
	if (!pool_ok && queue_ok && !stopping) {
		long long last = s->pool_kicked_at;
		if ((!last || now - last >= RS_READY_FILL_MS) &&
		    atomic_compare_exchange_strong(&s->pool_kicked_at, &last, now))
			rs_jobs_fill(s);
	}

	ready = queue_ok && pexip_ok && pool_ok && !stopping;
	json_object_object_add(o, "status", json_object_new_string(ready ? "ready" : "not_ready"));
	if (stopping)
		json_object_object_add(o, "stopping", json_object_new_boolean(1));
	json_object_object_add(o, "checks", checks);

	/* the access log leaves probes out: a change of the answer is logged */
	was = atomic_exchange(&s->ready_last, ready);
	if (was != ready) {
		if (ready) {
			rs_log(PEX_LOG_INFO, "readiness: ready");
		} else {
			snprintf(why, sizeof(why), "%s%s%s%s", stopping ? " stopping" : "",
				queue_ok ? "" : " queue", pexip_ok ? "" : " pexip", pool_ok ? "" : " pool");
			rs_log(PEX_LOG_WARN, "readiness: not ready, failing:%s", why);
		}
	}
	return rs_send_json(c, r, ready ? 200 : 503, o);
}
