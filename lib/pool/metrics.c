/* The pool's metrics: queue counts, this process's counters, and the
 * Prometheus/JSON text format. */
#include <stddef.h>
#include <string.h>

#include "pool/pool_internal.h"
#include "pexip/client_internal.h"

/* ---- metrics ---- */

int pex_metrics_init(pex_metrics *m, unsigned int version)
{
	return pex__struct_init(m, NULL, sizeof(*m), version, PEX_METRICS_VERSION, "pex_metrics");
}

/* The queue counts and this process's counters: no Pexip request. */
static int local_metrics(pex_metrics *m, pex_pool *p, pex_client *c)
{
	size_t n = 0;
	int err;

	if (!p || !m)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pex_metrics_get: no output or pool");
	/* version 1 is the whole struct */
	if ((err = pex_metrics_init(m, m->version)) < 0)
		return err;
	m->pops = atomic_load(&p->pops);
	m->pop_failures = atomic_load(&p->pop_failures);
	m->replenished = atomic_load(&p->replenished);
	m->replenish_failures = atomic_load(&p->replenish_failures);
	m->deleted = atomic_load(&p->deleted);
	m->delete_failures = atomic_load(&p->delete_failures);
	m->events = atomic_load(&p->events);
	m->events_unknown = atomic_load(&p->events_unknown);
	m->events_foreign = atomic_load(&p->events_foreign);
	if ((err = pex__pool_depth(&n, p)) < 0)
		return err;
	m->pool_depth = (long long)n;
	/* creation_time filters are not documented for every Pexip release: a
	 * refusal makes the count unknown (-1), not the metrics fail */
	if (pex__pool_maturing(p, c, &m->pool_maturing, NULL) < 0) {
		pex__log(p->log, PEX_LOG_DEBUG, "metrics: maturing pool rooms unknown: %s",
			pex_error_last()->message);
		m->pool_maturing = -1;
	}
	if ((err = pex_queue_count(&n, p->del_q)) < 0)
		return err;
	m->deletion_backlog = (long long)n;
	pex__pool_sizing_metrics(p, m);
	return 0;
}

int pex_metrics_get(pex_metrics *m, pex_pool *p)
{
	pex_room_filter f = PEX_ROOM_FILTER_INIT;
	pex_room_iter *it = NULL;
	pex_room *r = NULL;
	long long total = -1;
	int err;

	/* the deployment's demand first: the sizing figures use it; a Pexip
	 * that cannot say leaves this process's own */
	if (pex__pool_sense_demand(p, 0, NULL) < 0)
		pex__log(p->log, PEX_LOG_DEBUG, "metrics: the deployment's demand is unknown: %s",
			pex_error_last()->message);
	if ((err = local_metrics(m, p, p ? p->bg : NULL)) < 0)
		return err;
	if ((err = pex_room_live_count(&m->live_conferences, p->bg, p->name_prefix)) < 0)
		return err;
	/* one small page is enough to read meta.total_count */
	f.name_prefix = p->name_prefix;
	f.page_size = 1;
	if ((err = pex_room_iter_new(&it, p->bg, &f)) < 0)
		return err;
	err = pex_room_iter_next(&r, it);
	pex_room_free(r);
	if (err == 0 || err == PEX_ITEROVER) {
		m->pexip_pool_rooms = pex_room_iter_total(&total, it) == 0 && total >= 0 ? total : 0;
		err = 0;
	}
	pex_room_iter_free(it);
	return err;
}

int pex_metrics_get_local(pex_metrics *m, pex_pool *p)
{
	return local_metrics(m, p, p ? p->fg : NULL);
}

static int metrics_format_impl(pex_buf *out, const pex_metrics *m, pex_metrics_format format)
{
	struct { const char *name, *help, *type; long long gauge; unsigned long long counter; } rows[] = {
		{ "pexipsdk_pool_depth", "Rooms in the pool queue, ready or maturing (approximate).", "gauge", m->pool_depth, 0 },
		{ "pexipsdk_pool_maturing", "Pool rooms younger than pool.ready_after_s, not handed out yet (Pexip replicates them).", "gauge", m->pool_maturing, 0 },
		{ "pexipsdk_pool_target_depth", "The depth the pool grows to now, from pool.depth up to pool.max_depth with the demand.", "gauge", m->target_depth, 0 },
		{ "pexipsdk_pool_empty_in_seconds", "Seconds until the ready rooms are gone at the demand (-1: no demand or unknown).", "gauge", m->empty_in_s, 0 },
		{ "pexipsdk_deletion_backlog", "Rooms waiting in the deletion queue (approximate).", "gauge", m->deletion_backlog, 0 },
		{ "pexipsdk_live_conferences", "Live conferences with the pool prefix.", "gauge", m->live_conferences, 0 },
		{ "pexipsdk_pexip_pool_rooms", "Rooms with the pool prefix configured on Pexip.", "gauge", m->pexip_pool_rooms, 0 },
		{ "pexipsdk_pops_total", "Rooms handed out by this process.", "counter", 0, m->pops },
		{ "pexipsdk_pop_failures_total", "Failed pops in this process.", "counter", 0, m->pop_failures },
		{ "pexipsdk_replenished_total", "Rooms created for the pool by this process.", "counter", 0, m->replenished },
		{ "pexipsdk_replenish_failures_total", "Failed room creations in this process.", "counter", 0, m->replenish_failures },
		{ "pexipsdk_deleted_total", "Rooms deleted by this process.", "counter", 0, m->deleted },
		{ "pexipsdk_delete_failures_total", "Failed deletions in this process.", "counter", 0, m->delete_failures },
		{ "pexipsdk_events_total", "Event-sink events handled by this process.", "counter", 0, m->events },
		{ "pexipsdk_events_unknown_total", "Unknown event-sink events seen by this process.", "counter", 0, m->events_unknown },
		{ "pexipsdk_events_foreign_total", "conference_ended events for services the pool does not own (never scheduled).", "counter", 0, m->events_foreign },
		{ "pexipsdk_pool_shrunk_total", "Rooms above the target depth removed by this process.", "counter", 0, m->shrunk },
	};
	size_t i;
	int err = 0;
	pex__buf_clear(out);
	if (format == PEX_METRICS_JSON)
		err = pex__buf_putc(out, '{');
	for (i = 0; i < PEX__ARRAY_SIZE(rows) && err == 0; i++) {
		int gauge = rows[i].type[0] == 'g';
		if (format == PEX_METRICS_JSON) {
			/* "pexipsdk_pool_depth" -> "pool_depth"; counters drop "_total" */
			const char *key = rows[i].name + strlen("pexipsdk_");
			size_t kl = strlen(key) - (gauge ? 0 : strlen("_total"));
			err = gauge ? pex__buf_printf(out, "%s\"%.*s\": %lld", i ? ", " : "", (int)kl, key, rows[i].gauge)
				: pex__buf_printf(out, "%s\"%.*s\": %llu", i ? ", " : "", (int)kl, key, rows[i].counter);
		} else {
			err = gauge ? pex__buf_printf(out, "# HELP %s %s\n# TYPE %s gauge\n%s %lld\n",
					rows[i].name, rows[i].help, rows[i].name, rows[i].name, rows[i].gauge)
				: pex__buf_printf(out, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n",
					rows[i].name, rows[i].help, rows[i].name, rows[i].name, rows[i].counter);
		}
	}
	/* the one fractional gauge */
	if (err == 0 && format == PEX_METRICS_JSON)
		err = pex__buf_printf(out, ", \"pool_demand_rate\": %.3f", m->demand_rate);
	else if (err == 0)
		err = pex__buf_printf(out, "# HELP pexipsdk_pool_demand_rate Rooms asked for per second now, "
			"smoothed (the self-sizing pool's demand).\n# TYPE pexipsdk_pool_demand_rate "
			"gauge\npexipsdk_pool_demand_rate %.3f\n", m->demand_rate);
	if (err == 0 && format == PEX_METRICS_JSON)
		err = pex__buf_puts(out, "}\n");
	return err;
}

int pex_metrics_format_write(pex_buf *out, const pex_metrics *m, pex_metrics_format format)
{
	int err;

	/* checked before the table above reads *m */
	if (!out || !m)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pex_metrics_format_write: no output or metrics");
	if ((err = pex__version_check(m->version, PEX_METRICS_VERSION, "pex_metrics")) < 0)
		return err;
	return metrics_format_impl(out, m, format);
}
