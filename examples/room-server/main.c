/* room-server: command line, configuration, start-up, shutdown.
 *
 *   room-server -c FILE [--listen HOST:PORT] [--gc-interval S] [--gc-orphans]
 *               [--metrics-interval S] [--threads N] [--workers N]
 *               [--per-ip-connections N] [--header-timeout S] [--public-ttl S]
 *               [--ready-window S]
 *
 * Prints "LISTENING <host>:<port>" on stdout once it accepts requests.
 * SIGTERM or SIGINT: stop accepting, finish the requests in flight and
 * the queued replenish jobs (both bounded), then exit 0. SIGHUP: re-read
 * the configuration (what a reload may change: reload() below). Under
 * systemd (built with libsystemd) it reports READY=1, RELOADING=1,
 * STOPPING=1 and watchdog pings. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/uio.h>

#ifdef RS_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "server.h"

#define EXIT_USAGE 2
#define HTTP_DRAIN_MS 30000L    /* requests in flight at shutdown */
#define JOBS_DRAIN_MS 20000L    /* queued replenish jobs at shutdown */

/* ---- command line ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: room-server [-c FILE] [--listen HOST:PORT] [--gc-interval S] [--gc-orphans]\n"
		"                   [--metrics-interval S] [--threads N] [--workers N] [--prefetch N]\n"
		"                   [--per-ip-connections N] [--header-timeout S] [--public-ttl S]\n"
		"                   [--ready-window S]\n"
		"  -c, --config FILE        configuration (default: $PEXIPSDK_CONFIG, ./pexipsdk.yaml, ...)\n"
		"  --listen HOST:PORT       overrides server.listen and $FUNCTIONS_CUSTOMHANDLER_PORT; port 0 = any\n"
		"  --gc-interval S          GC sweep every S seconds (default 600, 0 = off)\n"
		"  --gc-orphans             every GC sweep (timer or POST /gc_timer) also runs the orphan sweep\n"
		"  --metrics-interval S     refresh the Pexip gauges of /metrics and log a metrics line\n"
		"                           at start and every S seconds (default 300, 0 = off)\n"
		"  --threads N              HTTP threads (default 8)\n"
		"  --workers N              replenish worker threads (default pexip.max_concurrency, at least 2)\n"
		"  --prefetch N             rooms taken off the queue ahead of requests, so a hand-out\n"
		"                           is one Pexip request and no queue operation (default 1,\n"
		"                           0 = off, at most 16)\n"
		"  --per-ip-connections N   connections at once from one client address (default %u,\n"
		"                           0 = no limit, at most 1000)\n"
		"  --header-timeout S       close a connection whose request headers are not all in\n"
		"                           S seconds after it opened (default %u, 0 = off)\n"
		"  --public-ttl S           keep GET /public/room/NAME answers S seconds (default %u,\n"
		"                           0 = ask Pexip every time, still capped)\n"
		"  --ready-window S         GET /readyz needs a successful Pexip check in the last\n"
		"                           S seconds (default %u, 3..3600)\n",
		RS_PER_IP_DEFAULT, RS_HEADER_TIMEOUT_DEFAULT, RS_PUBLIC_TTL_DEFAULT, RS_READY_WINDOW_DEFAULT);
}

static int parse_uint(const char *s, unsigned long max, unsigned *out)
{
	char *end;
	unsigned long v;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* "HOST:PORT" or "[V6]:PORT" into host and port (0..65535). */
static int parse_listen(const char *s, char *host, size_t hostlen, unsigned *port)
{
	const char *colon = strrchr(s, ':');
	size_t hl;
	if (!colon || parse_uint(colon + 1, 65535, port) < 0)
		return -1;
	if (s[0] == '[') {
		if (colon == s || colon[-1] != ']')
			return -1;
		s++;
		hl = (size_t)(colon - 1 - s);
	} else {
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= hostlen)
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	return 0;
}

/* ---- start-up and shutdown ---- */

/* log.level and log.format of @p cfg, for the next line logged. */
static void apply_log_settings(const pex_config *cfg)
{
	const char *v = NULL;
	pex_log_level level = PEX_LOG_INFO;

	if (pex_config_get_string(&v, cfg, "log.level") == 0)
		pex_log_level_parse(&level, v);
	v = "text";
	pex_config_get_string(&v, cfg, "log.format");
	rs_log_settings(level, strcmp(v, "json") == 0);
}

static void warn_if_no_credentials(const rs_auth *a)
{
	if (a->api_key_count == 0 && !a->jwt)
		rs_log(PEX_LOG_WARN, "no server.api_keys and no server.jwt: every /room/ request will be refused");
}

static int load_settings(rs_server *s)
{
	const char *const *list = NULL;
	size_t n = 0;

	apply_log_settings(s->cfg);
	/* Secrets are resolved when read (docs/DECISIONS.md #42): the server
	 * uses them all (its keys, the event sink's password, Pexip's), so a
	 * missing one stops it here rather than leaving a route without its
	 * credentials. */
	if (pex_config_resolve_secrets(s->cfg) < 0) {
		rs_log(PEX_LOG_ERROR, "%s", pex_error_last()->message);
		return -1;
	}
	if (pex_config_get_list(&list, &n, s->cfg, "gc.protected_prefixes") == 0) {
		s->protected_prefixes = list;
		s->protected_count = n;
	}
	if (pex_tag_rules_from_config(&s->tag_rules, s->cfg) < 0) {
		rs_log(PEX_LOG_ERROR, "%s", pex_error_last()->message);
		return -1;
	}
	if (!(s->auth = rs_auth_new(s->cfg)))
		return -1;
	warn_if_no_credentials(s->auth);
	return 0;
}

/* ---- SIGHUP: reload ---- */

/* What a reload applies: the credentials (server.api_keys, server.jwt.*
 * and the JWKS file, events.username/password) and log.level/log.format.
 * Everything else was built into the pool, its Pexip client, the queues
 * or the listening socket at start-up: a change there is logged as
 * needing a restart and the running value stays (docs/DECISIONS.md).
 * These sections are compared whole, as pex_config_dump() writes them;
 * the dump redacts secrets, so RESTART_SECRETS are compared one by one. */
static const char *const restart_sections[] = { "pexip", "queue", "pool", "tag", "gc" };
static const char *const restart_secrets[] = { "pexip.auth.password", "pexip.auth.private_key",
	"queue.location", "queue.azure.connection_string", "queue.postgres.conninfo" };

/* The text of section "@p name:" in a dump (to the next top-level key). */
static const char *dump_section(const char *dump, const char *name, size_t *len)
{
	size_t n = strlen(name);
	const char *p = dump, *end;

	for (; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, name, n) == 0 && p[n] == ':')
			break;
	if (!p || !*p) {
		*len = 0;
		return "";
	}
	for (end = strchr(p, '\n'); end && end[1] && (end[1] == ' ' || end[1] == '-'); end = strchr(end + 1, '\n'))
		;
	*len = end ? (size_t)(end - p) : strlen(p);
	return p;
}

static int same_string(const pex_config *a, const pex_config *b, const char *key)
{
	const char *va = NULL, *vb = NULL;
	int ra = pex_config_get_string(&va, a, key), rb = pex_config_get_string(&vb, b, key);
	return ra == rb && (ra < 0 || strcmp(va, vb) == 0);
}

/* Log every change in @p next that a reload cannot apply; 0 if none. */
static int log_restart_changes(const rs_server *s, const pex_config *next, int listen_from_config)
{
	pex_buf da = PEX_BUF_INIT, db = PEX_BUF_INIT;
	size_t i, la, lb;
	int changes = 0;

	if (pex_config_dump(&da, s->cfg) < 0 || pex_config_dump(&db, next) < 0) {
		rs_log(PEX_LOG_WARN, "reload: cannot compare the configurations; anything but the "
			"credentials and log.* needs a restart");
		changes = 1;
	} else {
		for (i = 0; i < sizeof(restart_sections) / sizeof(restart_sections[0]); i++) {
			const char *pa = dump_section(da.ptr, restart_sections[i], &la);
			const char *pb = dump_section(db.ptr, restart_sections[i], &lb);
			if (la != lb || memcmp(pa, pb, la) != 0) {
				rs_log(PEX_LOG_WARN, "reload: %s.* changed: needs a restart, the running "
					"values stay", restart_sections[i]);
				changes++;
			}
		}
	}
	pex_buf_dispose(&da);
	pex_buf_dispose(&db);
	for (i = 0; i < sizeof(restart_secrets) / sizeof(restart_secrets[0]); i++)
		if (!same_string(s->cfg, next, restart_secrets[i])) {
			rs_log(PEX_LOG_WARN, "reload: %s changed: needs a restart, the running value stays",
				restart_secrets[i]);
			changes++;
		}
	if (listen_from_config && !same_string(s->cfg, next, "server.listen")) {
		rs_log(PEX_LOG_WARN, "reload: server.listen changed: needs a restart, the server "
			"keeps listening where it does");
		changes++;
	}
	return changes;
}

/* Re-read the file the server started with. An invalid file changes
 * nothing; a valid one swaps in its credentials and log settings, and
 * requests in flight finish with the credentials they began with. */
static void reload(rs_server *s, int listen_from_config)
{
	pex_config *next = NULL;
	rs_auth *auth;
	int err;

	rs_log(PEX_LOG_INFO, "SIGHUP: reloading %s", pex_config_origin(s->cfg));
	/* the same file, or none (origin "<environment>": the search again),
	 * and the environment on top (pexip-room-server(8) ENVIRONMENT) */
	if ((err = pex_config_load_env(&next, strcmp(pex_config_origin(s->cfg), "<environment>") == 0 ?
			NULL : pex_config_origin(s->cfg))) < 0) {
		rs_log(PEX_LOG_ERROR, "reload: %s; still running on the previous configuration",
			pex_error_last()->message);
		return;
	}
	if (!(auth = rs_auth_new(next))) {
		rs_log(PEX_LOG_ERROR, "reload: still running on the previous configuration");
		pex_config_free(next);
		return;
	}
	for (size_t i = 0; i < pex_config_warning_count(next); i++)
		rs_log(PEX_LOG_WARN, "%s", pex_config_warning(next, i));
	log_restart_changes(s, next, listen_from_config);
	rs_auth_swap(s, auth);
	warn_if_no_credentials(auth);
	apply_log_settings(next);
	pex_config_free(next);
	rs_log(PEX_LOG_INFO, "reload: done (credentials and log settings from %s)", pex_config_origin(s->cfg));
}

/* ---- systemd ---- */

/* sd_notify() when built with libsystemd (a no-op without NOTIFY_SOCKET). */
static void notify(const char *state)
{
#ifdef RS_HAVE_SYSTEMD
	sd_notify(0, state);
#else
	(void)state;
#endif
}

/* The watchdog: while systemd watches the process (WATCHDOG_USEC), a
 * thread pings every half period as long as the server is healthy, that
 * is until shutdown begins (it is stopped then). Reloads run on the main
 * thread and never delay a ping: a slow keyvault: fetch during a reload
 * does not get the server killed. */
typedef struct watchdog {
	long long period_ms;            /* 0: not watched */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stop, started;
	pthread_t thread;
} watchdog;

static void *watchdog_main(void *arg)
{
	watchdog *w = arg;
	struct timespec ts;

	pthread_mutex_lock(&w->lock);
	while (!w->stop) {
		notify("WATCHDOG=1");
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)(w->period_ms / 1000);
		ts.tv_nsec += (long)(w->period_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (!w->stop && pthread_cond_timedwait(&w->cond, &w->lock, &ts) == 0)
			;
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Start pinging when systemd asks for it; 0, or -1 (logged). */
static int watchdog_start(watchdog *w)
{
	pthread_condattr_t ca;
	memset(w, 0, sizeof(*w));
#ifdef RS_HAVE_SYSTEMD
	{
		uint64_t usec = 0;
		if (sd_watchdog_enabled(0, &usec) > 0 && usec >= 2000)
			w->period_ms = (long long)(usec / 2000);
	}
#endif
	if (!w->period_ms)
		return 0;
	if (pthread_condattr_init(&ca) != 0)
		goto fail;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (pthread_mutex_init(&w->lock, NULL) != 0 || pthread_cond_init(&w->cond, &ca) != 0 ||
	    pthread_create(&w->thread, NULL, watchdog_main, w) != 0) {
		pthread_condattr_destroy(&ca);
		goto fail;
	}
	pthread_condattr_destroy(&ca);
	w->started = 1;
	rs_log(PEX_LOG_INFO, "systemd watchdog: a ping every %lld ms", w->period_ms);
	return 0;
fail:
	rs_log(PEX_LOG_ERROR, "cannot start the systemd watchdog thread");
	return -1;
}

static void watchdog_stop(watchdog *w)
{
	rs_thread_end(&w->lock, &w->cond, &w->stop, w->thread, &w->started);
}

/* ---- main: options, start-up, serving, shutdown ---- */

/* What the command line sets beside the server's own fields. */
typedef struct rs_options {
	const char *config_path, *listen;
	unsigned threads, workers;
} rs_options;

/* The numeric options: where each goes and its range. */
typedef struct num_option {
	const char *name;
	int c;
	unsigned min, max;
	size_t srv_off, opt_off;        /* offset + 1 in rs_server / rs_options; 0: not there */
} num_option;

#define SRV(field) (offsetof(rs_server, field) + 1), 0
#define OPT(field) 0, (offsetof(rs_options, field) + 1)
static const num_option num_options[] = {
	{ "gc-interval", 'g', 0, 7 * 86400, SRV(gc_interval_s) },
	{ "metrics-interval", 'm', 0, 7 * 86400, SRV(metrics_interval_s) },
	{ "threads", 't', 1, 256, OPT(threads) },
	{ "workers", 'w', 1, 64, OPT(workers) },
	{ "prefetch", 'p', 0, PEX_POOL_PREFETCH_MAX, SRV(prefetch) },
	{ "per-ip-connections", 'i', 0, 1000, SRV(per_ip_limit) },
	{ "header-timeout", 'H', 0, 3600, SRV(header_timeout_s) },
	{ "public-ttl", 'T', 0, 86400, SRV(public_ttl_s) },
	{ "ready-window", 'R', 3, 3600, SRV(ready_window_s) },
};
#undef SRV
#undef OPT
#define NUM_OPTIONS (sizeof(num_options) / sizeof(num_options[0]))

/* The option of @p c, set from optarg: 1, 0 when @p c is not a numeric
 * option, -1 when the value is bad (said on stderr). */
static int num_option_set(int c, rs_server *srv, rs_options *o)
{
	const num_option *n = num_options;
	unsigned v;

	while (n < num_options + NUM_OPTIONS && n->c != c)
		n++;
	if (n == num_options + NUM_OPTIONS)
		return 0;
	if (parse_uint(optarg, n->max, &v) < 0 || v < n->min) {
		fprintf(stderr, "room-server: bad option value '%s'\n", optarg);
		return -1;
	}
	*(unsigned *)(n->srv_off ? (char *)srv + n->srv_off - 1 : (char *)o + n->opt_off - 1) = v;
	return 1;
}

/* Defaults, then the command line: -1 to go on, or the exit status. */
static int parse_options(int argc, char **argv, rs_server *srv, rs_options *o)
{
	static const struct option flags[] = {
		{ "config", required_argument, NULL, 'c' }, { "listen", required_argument, NULL, 'l' },
		{ "gc-orphans", no_argument, NULL, 'o' }, { "help", no_argument, NULL, 'h' },
	};
	struct option opts[NUM_OPTIONS + sizeof(flags) / sizeof(flags[0]) + 1];
	size_t i;
	int c, set;

	memset(opts, 0, sizeof(opts));
	memcpy(opts, flags, sizeof(flags));
	for (i = 0; i < NUM_OPTIONS; i++) {
		opts[sizeof(flags) / sizeof(flags[0]) + i].name = num_options[i].name;
		opts[sizeof(flags) / sizeof(flags[0]) + i].has_arg = required_argument;
		opts[sizeof(flags) / sizeof(flags[0]) + i].val = num_options[i].c;
	}
	memset(o, 0, sizeof(*o));
	o->threads = 8;
	o->workers = 0;         /* pexip.max_concurrency, at least 2 (serve()) */
	srv->gc_interval_s = 600;
	srv->metrics_interval_s = 300;
	srv->prefetch = 1;
	srv->per_ip_limit = RS_PER_IP_DEFAULT;
	srv->header_timeout_s = RS_HEADER_TIMEOUT_DEFAULT;
	srv->public_ttl_s = RS_PUBLIC_TTL_DEFAULT;
	srv->ready_window_s = RS_READY_WINDOW_DEFAULT;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		if ((set = num_option_set(c, srv, o)) != 0) {
			if (set < 0)
				return EXIT_USAGE;
			continue;
		}
		switch (c) {
		case 'c': o->config_path = optarg; break;
		case 'l': o->listen = optarg; break;
		case 'o': srv->gc_orphans = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "room-server: unexpected argument '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	return -1;
}

/* The library, OpenSSL's SHA-256 and the configuration (its settings
 * applied, its warnings logged): -1 to go on, or the exit status with
 * whatever was started stopped again. */
static int start_config(rs_server *srv, const char *config_path)
{
	int err;

	if (pex_global_init() < 0) {
		fprintf(stderr, "room-server: %s\n", pex_error_last()->message);
		return 1;
	}
	if (rs_auth_init() < 0) {
		fprintf(stderr, "room-server: OpenSSL has no SHA-256\n");
		pex_global_shutdown();
		return 1;
	}
	if ((err = pex_config_load_env(&srv->cfg, config_path)) < 0) {
		fprintf(stderr, "room-server: %s\n", pex_error_last()->message);
		rs_auth_shutdown();
		pex_global_shutdown();
		return err == PEX_ECONFIG || err == PEX_ENOTFOUND ? EXIT_USAGE : 1;
	}
	if (pthread_mutex_init(&srv->auth_lock, NULL) != 0 || load_settings(srv) < 0)
		return 1;
	/* after load_settings: the logger knows log.format now */
	for (size_t i = 0; i < pex_config_warning_count(srv->cfg); i++)
		rs_log(PEX_LOG_WARN, "%s", pex_config_warning(srv->cfg, i));
	return -1;
}

/* Where to listen: --listen, else the Functions host's port, else the
 * config. 0, or -1 (logged). */
static int listen_address(const rs_server *srv, const char *listen, char *host, size_t hostlen,
	unsigned *port, int *from_config)
{
	char env_listen[300];
	const char *env_port;

	if (!listen && (env_port = getenv("FUNCTIONS_CUSTOMHANDLER_PORT")) && *env_port) {
		const char *cfg_listen = "127.0.0.1:0";
		pex_config_get_string(&cfg_listen, srv->cfg, "server.listen");
		if (parse_listen(cfg_listen, host, hostlen, port) < 0)
			snprintf(host, hostlen, "127.0.0.1");
		snprintf(env_listen, sizeof(env_listen), "%s%s%s:%s", strchr(host, ':') ? "[" : "", host,
			strchr(host, ':') ? "]" : "", env_port);
		listen = env_listen;
	}
	*from_config = !listen;
	if (!listen && pex_config_get_string(&listen, srv->cfg, "server.listen") < 0)
		listen = "127.0.0.1:8080";
	if (parse_listen(listen, host, hostlen, port) < 0) {
		rs_log(PEX_LOG_ERROR, "listen address '%s' is not HOST:PORT", listen);
		return -1;
	}
	return 0;
}

/* The pool (its lines go to rs_log_record_cb), our own handle on its
 * queue for health, the locks and the limits taken from the config.
 * 0 or -1 (logged). */
static int open_pool(rs_server *srv)
{
	const char *queue_name = NULL;
	long long conc = 5, depth = 20, max_depth = 0;

	if (pex_config_get_string(&queue_name, srv->cfg, "pool.queue") < 0)
		queue_name = "room-creation-queue";
	/* the pool keeps its queues to itself: open our own handle for health */
	if (pex_pool_new_from_config(&srv->pool, srv->cfg, rs_log_cb, NULL) < 0 ||
	    pex_client_set_log_record(pex_pool_client(srv->pool), rs_log_record_cb, NULL) < 0 ||
	    pex_queue_open_config(&srv->pool_queue, srv->cfg, queue_name) < 0) {
		rs_log(PEX_LOG_ERROR, "%s", pex_error_last()->message);
		return -1;
	}
	if (pthread_mutex_init(&srv->health_lock, NULL) != 0)
		return -1;
	if (pthread_mutex_init(&srv->metrics_lock, NULL) != 0) {
		pthread_mutex_destroy(&srv->health_lock);
		return -1;
	}
	/* the Pexip check of /public/health and /readyz: every 10 s at most,
	 * more often when the readiness window is short */
	srv->pexip_check_ms = (long long)srv->ready_window_s * 1000 / 3;
	if (srv->pexip_check_ms > RS_PEXIP_CHECK_MS)
		srv->pexip_check_ms = RS_PEXIP_CHECK_MS;
	/* anonymous lookups get a quarter of the Pexip connections */
	pex_config_get_int(&conc, srv->cfg, "pexip.max_concurrency");
	/* hand-outs wait while half the pool awaits replacement (rs_jobs_throttle) */
	pex_config_get_int(&depth, srv->cfg, "pool.depth");
	/* a pool that grows (pool.max_depth) counts its maximum */
	pex_config_get_int(&max_depth, srv->cfg, "pool.max_depth");
	if (max_depth > depth)
		depth = max_depth;
	srv->backlog_max = depth > 1 ? (size_t)depth / 2 : 1;
	return rs_public_init(srv, conc > 0 && conc < 1000 ? (unsigned)conc : 5);
}

/* Start the threads and listen, then take signals until SIGTERM/SIGINT:
 * 0 then, or 1 when something did not start (logged). */
static int serve(rs_server *srv, const rs_options *o, const char *host, unsigned port,
	int listen_from_config, watchdog *wd)
{
	sigset_t sigs;
	unsigned bound = 0, workers = o->workers;
	long long conc = 5;
	int sig;

	/* replenish workers: as many creates in flight as the Pexip budget
	 * allows (the client keeps them behind the hand-outs, DECISIONS #15),
	 * not two one after another */
	if (workers == 0) {
		pex_config_get_int(&conc, srv->cfg, "pexip.max_concurrency");
		workers = conc > 2 && conc <= 64 ? (unsigned)conc : 2;
	}

	/* Signals are taken by sigwait() below: block them before any thread
	 * starts, so every thread inherits the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (rs_jobs_start(srv, workers) < 0) {
		rs_log(PEX_LOG_ERROR, "cannot start the worker threads");
		return 1;
	}
	rs_jobs_fill(srv);        /* top the pool up to pool.depth in the background */
	if (rs_probes_start(srv) < 0) {
		rs_log(PEX_LOG_ERROR, "cannot start the probe thread");
		return 1;
	}
	/* a burst on an empty pool must not hold every HTTP thread waiting */
	srv->waiters_max = o->threads >= RS_WAITING_SHARE ? o->threads / RS_WAITING_SHARE : 1;
	pex_pool_set_max_waiting(srv->pool, (unsigned)srv->waiters_max);
	if (rs_http_start(srv, host, port, o->threads, &bound) < 0) {
		rs_log(PEX_LOG_ERROR, "cannot listen on %s:%u", host, port);
		return 1;
	}
	rs_log(PEX_LOG_INFO, "listening on %s:%u (%u HTTP threads, %u workers, %u room(s) held ready, "
		"gc every %us%s, metrics every %us)", host, bound, o->threads, workers, srv->prefetch,
		srv->gc_interval_s, srv->gc_orphans ? " with the orphan sweep" : "", srv->metrics_interval_s);
	printf("LISTENING %s:%u\n", host, bound);
	fflush(stdout);
	/* listening, with the pool and its queue open: it can serve */
	notify("READY=1\nSTATUS=serving");
	if (watchdog_start(wd) < 0)
		return 1;

	/* Signals are taken here, one at a time: no handler runs anything, and
	 * a reload happens on this thread while the others serve. */
	for (;;) {
		while ((sig = sigwaitinfo(&sigs, NULL)) < 0)
			;
		if (sig != SIGHUP)
			break;
		notify("RELOADING=1\nSTATUS=reloading the configuration");
		reload(srv, listen_from_config);
		notify("READY=1\nSTATUS=serving");
	}
	notify("STOPPING=1\nSTATUS=shutting down");
	rs_log(PEX_LOG_INFO, "%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
	return 0;
}

/* Stop what serve() started (each part only if it did start). */
static void stop_serving(rs_server *srv, watchdog *wd, int status)
{
	watchdog_stop(wd);
	rs_http_stop(srv, HTTP_DRAIN_MS);
	if (srv->workers)
		rs_jobs_stop(srv, JOBS_DRAIN_MS);
	rs_probes_stop(srv);
	pthread_mutex_destroy(&srv->health_lock);
	pthread_mutex_destroy(&srv->metrics_lock);
	if (status == 0)
		rs_log(PEX_LOG_INFO, "stopped");
}

/* Free what start_config() and open_pool() made (NULL-safe parts). */
static void free_server(rs_server *srv)
{
	rs_public_dispose(srv);
	rs_auth_release(srv->auth);
	pthread_mutex_destroy(&srv->auth_lock);
	rs_auth_shutdown();
	pex_queue_free(srv->pool_queue);
	pex_pool_free(srv->pool);
	pex_config_free(srv->cfg);
	pex_global_shutdown();
}

int main(int argc, char **argv)
{
	rs_server srv;
	rs_options o;
	watchdog wd;
	char host[256];
	unsigned port = 0;
	int status, listen_from_config = 0;

	memset(&srv, 0, sizeof(srv));
	memset(&wd, 0, sizeof(wd));
	srv.started_ms = rs_now_ms();
	if ((status = parse_options(argc, argv, &srv, &o)) >= 0)
		return status;
	if ((status = start_config(&srv, o.config_path)) >= 0) {
		if (srv.cfg)
			free_server(&srv);
		return status;
	}
	status = 1;
	if (listen_address(&srv, o.listen, host, sizeof(host), &port, &listen_from_config) < 0)
		status = EXIT_USAGE;
	else if (open_pool(&srv) == 0) {
		status = serve(&srv, &o, host, port, listen_from_config, &wd);
		stop_serving(&srv, &wd, status);
	}
	free_server(&srv);
	return status;
}
