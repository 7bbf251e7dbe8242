/* Process-wide metrics: counters, duration histograms and their Prometheus
 * text (see stats.h; bucket and label choices: docs/DECISIONS.md #68). */
#include <string.h>
#include <time.h>

#include "internal.h"
#include "core/stats.h"
#include "pexipsdk/metrics.h"

/* ---- histograms ---- */

static const int64_t bound_ns[PEX__STATS_BUCKETS] = {
	500000, 1000000, 2500000, 5000000, 10000000, 25000000, 50000000, 100000000,
	250000000, 500000000, 1000000000, 2500000000, 5000000000, 10000000000, 30000000000
};
static const char *const bound_le[PEX__STATS_BUCKETS] = {
	"0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
	"0.25", "0.5", "1", "2.5", "5", "10", "30"
};

int64_t pex__stats_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void pex__histogram_observe(pex__histogram *h, int64_t ns)
{
	size_t i = 0;

	if (ns < 0)
		ns = 0;
	while (i < PEX__STATS_BUCKETS && ns > bound_ns[i])
		i++;
	atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_ns, (unsigned long long)ns, memory_order_relaxed);
}

static unsigned long long hist_count(const pex__histogram *h)
{
	unsigned long long n = 0;
	size_t i;

	for (i = 0; i <= PEX__STATS_BUCKETS; i++)
		n += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
	return n;
}

int pex__histogram_write(pex_buf *out, const char *name, const char *labels,
	const pex__histogram *h)
{
	const char *sep = *labels ? "," : "";
	unsigned long long cum = 0, sum = atomic_load_explicit(&h->sum_ns, memory_order_relaxed);
	size_t i;
	int err = 0;

	/* one read per bucket: _count is the total of what was printed */
	for (i = 0; i <= PEX__STATS_BUCKETS && err == 0; i++) {
		cum += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
		err = pex__buf_printf(out, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, labels, sep,
			i < PEX__STATS_BUCKETS ? bound_le[i] : "+Inf", cum);
	}
	if (err == 0 && *labels)
		err = pex__buf_printf(out, "%s_sum{%s} %llu.%09llu\n%s_count{%s} %llu\n", name, labels,
			sum / 1000000000, sum % 1000000000, name, labels, cum);
	else if (err == 0)
		err = pex__buf_printf(out, "%s_sum %llu.%09llu\n%s_count %llu\n", name,
			sum / 1000000000, sum % 1000000000, name, cum);
	return err;
}

int pex__stats_label_escape(pex_buf *out, const char *value)
{
	int err = 0;

	for (; *value && err == 0; value++) {
		if (*value == '\\')
			err = pex__buf_puts(out, "\\\\");
		else if (*value == '"')
			err = pex__buf_puts(out, "\\\"");
		else if (*value == '\n')
			err = pex__buf_puts(out, "\\n");
		else
			err = pex__buf_putc(out, *value);
	}
	return err;
}

/* ---- the process's metrics ---- */

static const char *const methods[] = { "GET", "POST", "PUT", "PATCH", "DELETE", "other" };
static const char *const classes[] = { "1xx", "2xx", "3xx", "4xx", "5xx", "error" };
static const char *const ok_error[] = { "ok", "error" };
static const char *const queue_ops[] = {
	"create", "put", "receive", "delete", "release", "extend", "peek", "count", "clear", "check", "other"
};
static const char *const pop_outcomes[] = { "ok", "empty", "invalid", "error" };
static const char *const payload_outcomes[] = { "ok", "invalid", "error" };

#define N_METHODS PEX__ARRAY_SIZE(methods)
#define N_CLASSES PEX__ARRAY_SIZE(classes)

static struct {
	atomic_ullong pexip_requests[N_METHODS * N_CLASSES];
	pex__histogram pexip_duration[N_METHODS * N_CLASSES];
	atomic_ullong pexip_retries, pexip_429;
	atomic_ullong token_fetches[PEX__ARRAY_SIZE(ok_error)];
	pex__histogram queue_duration[PEX__ARRAY_SIZE(queue_ops) * PEX__ARRAY_SIZE(ok_error)];
	pex__histogram pop_duration[PEX__ARRAY_SIZE(pop_outcomes)];
	atomic_ullong payloads[PEX__ARRAY_SIZE(payload_outcomes)];
} S;

typedef struct label_dim {
	const char *name;
	const char *const *values;
	size_t n;
} label_dim;

#define DIM(label, table) { label, table, PEX__ARRAY_SIZE(table) }
#define NO_DIM { NULL, NULL, 1 }

/* A family's series are the label combinations, the second label varying
 * fastest; a labelled series is written once it has counted something. */
typedef struct family {
	const char *name, *help;
	label_dim l[2];
	atomic_ullong *counter;
	pex__histogram *hist;
} family;

static const family families[] = {
	{ "pexipsdk_pexip_requests_total", "HTTP requests sent to Pexip (retries and token requests "
		"included), by method and status class (error: no answer).",
		{ DIM("method", methods), DIM("status_class", classes) }, S.pexip_requests, NULL },
	{ "pexipsdk_pexip_request_duration_seconds", "Duration of one HTTP request to Pexip (one "
		"attempt, queueing for a connection included), by method and status class.",
		{ DIM("method", methods), DIM("status_class", classes) }, NULL, S.pexip_duration },
	{ "pexipsdk_pexip_retries_total", "Pexip requests retried after a backoff.",
		{ NO_DIM, NO_DIM }, &S.pexip_retries, NULL },
	{ "pexipsdk_pexip_rate_limited_total", "Pexip answers 429 Too Many Requests.",
		{ NO_DIM, NO_DIM }, &S.pexip_429, NULL },
	{ "pexipsdk_pexip_token_fetches_total", "OAuth2 token requests to Pexip, by outcome "
		"(ok: a 2xx answer).", { DIM("outcome", ok_error), NO_DIM }, S.token_fetches, NULL },
	{ "pexipsdk_queue_operation_duration_seconds", "Duration of one queue operation "
		"(waiting for the queue included), by operation and outcome.",
		{ DIM("operation", queue_ops), DIM("outcome", ok_error) }, NULL, S.queue_duration },
	{ "pexipsdk_pop_duration_seconds", "Duration of a room hand-out (pex_pool_pop), by outcome "
		"(empty: the pool had no ready room; invalid: bad input).",
		{ DIM("outcome", pop_outcomes), NO_DIM }, NULL, S.pop_duration },
	{ "pexipsdk_event_sink_payloads_total", "Event-sink payloads handled, by outcome (invalid: "
		"refused as malformed; error: a queue failure).",
		{ DIM("outcome", payload_outcomes), NO_DIM }, S.payloads, NULL },
};

static size_t pick(const char *const *table, size_t n, const char *value)
{
	size_t i;

	for (i = 0; i + 1 < n; i++)
		if (value && strcmp(table[i], value) == 0)
			return i;
	return n - 1;    /* the last entry: "other" or "error" */
}

void pex__stats_pexip_request(const char *method, int token, long status, int err, int64_t t0)
{
	size_t cls = err < 0 || status < 100 || status > 599 ? N_CLASSES - 1 : (size_t)(status / 100 - 1);
	size_t i = pick(methods, N_METHODS, method) * N_CLASSES + cls;

	pex__histogram_observe(&S.pexip_duration[i], pex__stats_clock() - t0);
	atomic_fetch_add_explicit(&S.pexip_requests[i], 1, memory_order_relaxed);
	if (err == 0 && status == 429)
		atomic_fetch_add_explicit(&S.pexip_429, 1, memory_order_relaxed);
	if (token)
		atomic_fetch_add_explicit(&S.token_fetches[cls == 1 ? 0 : 1], 1, memory_order_relaxed);
}

void pex__stats_pexip_retry(void)
{
	atomic_fetch_add_explicit(&S.pexip_retries, 1, memory_order_relaxed);
}

void pex__stats_queue_op(const char *op, int err, int64_t t0)
{
	size_t i = pick(queue_ops, PEX__ARRAY_SIZE(queue_ops), op) * 2 + (err != 0);

	pex__histogram_observe(&S.queue_duration[i], pex__stats_clock() - t0);
}

void pex__stats_pop(int err, int64_t t0)
{
	size_t i = err >= 0 ? 0 : err == PEX_EEMPTY ? 1 : err == PEX_EINVAL ? 2 : 3;

	pex__histogram_observe(&S.pop_duration[i], pex__stats_clock() - t0);
}

void pex__stats_event_payload(int err)
{
	size_t i = err >= 0 ? 0 : err == PEX_EPARSE || err == PEX_EINVAL ? 1 : 2;

	atomic_fetch_add_explicit(&S.payloads[i], 1, memory_order_relaxed);
}

static size_t family_size(const family *f)
{
	return f->l[0].n * f->l[1].n;
}

void pex__stats_reset(void)
{
	size_t i, j, k;

	for (i = 0; i < PEX__ARRAY_SIZE(families); i++)
		for (j = 0; j < family_size(&families[i]); j++) {
			if (families[i].counter)
				atomic_store(&families[i].counter[j], 0);
			if (!families[i].hist)
				continue;
			for (k = 0; k <= PEX__STATS_BUCKETS; k++)
				atomic_store(&families[i].hist[j].bucket[k], 0);
			atomic_store(&families[i].hist[j].sum_ns, 0);
		}
}

/* name="value",name="value" for series @p j of @p f */
static int series_labels(pex_buf *out, const family *f, size_t j)
{
	size_t idx[2] = { j / f->l[1].n, j % f->l[1].n }, d;
	int err = 0;

	pex__buf_clear(out);
	for (d = 0; d < 2 && err == 0; d++) {
		if (!f->l[d].name)
			continue;
		if ((err = pex__buf_printf(out, "%s%s=\"", d ? "," : "", f->l[d].name)) == 0 &&
		    (err = pex__stats_label_escape(out, f->l[d].values[idx[d]])) == 0)
			err = pex__buf_putc(out, '"');
	}
	return err;
}

static int family_write(pex_buf *out, pex_buf *labels, const family *f)
{
	size_t j;
	int err = pex__buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
		f->hist ? "histogram" : "counter");

	for (j = 0; j < family_size(f) && err == 0; j++) {
		unsigned long long n = f->hist ? hist_count(&f->hist[j]) : atomic_load(&f->counter[j]);
		if (f->l[0].name && n == 0)
			continue;
		if ((err = series_labels(labels, f, j)) < 0)
			break;
		if (f->hist)
			err = pex__histogram_write(out, f->name, labels->ptr ? labels->ptr : "", &f->hist[j]);
		else if (labels->size)
			err = pex__buf_printf(out, "%s{%s} %llu\n", f->name, labels->ptr, n);
		else
			err = pex__buf_printf(out, "%s %llu\n", f->name, n);
	}
	return err;
}

int pex_metrics_process_write(pex_buf *out)
{
	pex_buf labels = PEX_BUF_INIT;
	size_t i;
	int err;

	if (!out)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pex_metrics_process_write: no output");
	err = pex__buf_puts(out, "# HELP pexipsdk_build_info The library's version and compiled-in "
		"features (always 1).\n# TYPE pexipsdk_build_info gauge\npexipsdk_build_info{version=\"");
	if (err == 0 && (err = pex__stats_label_escape(out, pex_version())) == 0 &&
	    (err = pex__buf_puts(out, "\",features=\"")) == 0 &&
	    (err = pex__stats_label_escape(out, pex_features())) == 0)
		err = pex__buf_puts(out, "\"} 1\n");
	for (i = 0; i < PEX__ARRAY_SIZE(families) && err == 0; i++)
		err = family_write(out, &labels, &families[i]);
	pex_buf_dispose(&labels);
	return err;
}
