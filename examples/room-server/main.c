/* room-server: command line, configuration, logging, start-up, shutdown.
 *
 *   room-server -c FILE [--listen HOST:PORT] [--gc-interval S] [--gc-orphans]
 *               [--metrics-interval S] [--threads N] [--workers N]
 *               [--per-ip-connections N] [--header-timeout S] [--public-ttl S]
 *
 * Prints "LISTENING <host>:<port>" on stdout once it accepts requests.
 * SIGTERM or SIGINT: stop accepting, finish the requests in flight and
 * the queued replenish jobs (both bounded), then exit 0. */
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

#include "server.h"

#define EXIT_USAGE 2
#define HTTP_DRAIN_MS 30000L    /* requests in flight at shutdown */
#define JOBS_DRAIN_MS 20000L    /* queued replenish jobs at shutdown */

/* ---- logging ---- */

static pex_log_level g_level = PEX_LOG_INFO;
static int g_json;

static pthread_mutex_t g_log_lock = PTHREAD_MUTEX_INITIALIZER;

/* One writev per line, so lines of several threads never interleave (and
 * no stdio: stderr is unbuffered, and fwrite + fputc were two writes). */
void rs_log_write(const char *line, size_t len)
{
	struct iovec iov[2];
	int i = 0;

	iov[0].iov_base = (void *)line;
	iov[0].iov_len = len;
	iov[1].iov_base = (void *)"\n";
	iov[1].iov_len = 1;
	pthread_mutex_lock(&g_log_lock);
	while (i < 2) {
		ssize_t n = writev(STDERR_FILENO, iov + i, 2 - i);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;          /* nowhere to report it */
		}
		while (i < 2 && (size_t)n >= iov[i].iov_len)
			n -= (ssize_t)iov[i++].iov_len;
		if (i < 2) {
			iov[i].iov_base = (char *)iov[i].iov_base + n;
			iov[i].iov_len -= (size_t)n;
		}
	}
	pthread_mutex_unlock(&g_log_lock);
}

void rs_log_json(json_object *o)
{
	size_t len = 0;
	const char *text = json_object_to_json_string_length(o,
		JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	rs_log_write(text, len);
	json_object_put(o);
}

static void log_message(pex_log_level level, const char *raw)
{
	char msg[2048];
	if (level > g_level)
		return;
	/* text from a request (a path, a method) cannot start a line of its
	 * own, drive a terminal or put invalid UTF-8 in a log; the library's
	 * messages are escaped already, and escaping twice changes nothing */
	pex_log_escape(msg, sizeof(msg), raw);
	if (g_json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "ts", json_object_new_int64((long long)time(NULL)));
		json_object_object_add(o, "level", json_object_new_string(pex_log_level_name(level)));
		json_object_object_add(o, "msg", json_object_new_string(msg));
		rs_log_json(o);
	} else {
		char line[2200];
		int n = snprintf(line, sizeof(line), "room-server: %s: %s", pex_log_level_name(level), msg);
		rs_log_write(line, n < 0 ? 0 : (size_t)n >= sizeof(line) ? sizeof(line) - 1 : (size_t)n);
	}
}

void rs_log(pex_log_level level, const char *fmt, ...)
{
	char msg[1536];
	va_list ap;
	if (level > g_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_message(level, msg);
}

void rs_log_cb(pex_log_level level, const char *message, void *payload)
{
	(void)payload;
	log_message(level, message);
}

/* ---- command line ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: room-server [-c FILE] [--listen HOST:PORT] [--gc-interval S] [--gc-orphans]\n"
		"                   [--metrics-interval S] [--threads N] [--workers N] [--prefetch N]\n"
		"                   [--per-ip-connections N] [--header-timeout S] [--public-ttl S]\n"
		"  -c, --config FILE        configuration (default: $PEXIPSDK_CONFIG, ./pexipsdk.yaml, ...)\n"
		"  --listen HOST:PORT       overrides server.listen and $FUNCTIONS_CUSTOMHANDLER_PORT; port 0 = any\n"
		"  --gc-interval S          GC sweep every S seconds (default 600, 0 = off)\n"
		"  --gc-orphans             every GC sweep (timer or POST /gc_timer) also runs the orphan sweep\n"
		"  --metrics-interval S     refresh the Pexip gauges of /metrics and log a metrics line\n"
		"                           at start and every S seconds (default 300, 0 = off)\n"
		"  --threads N              HTTP threads (default 8)\n"
		"  --workers N              replenish worker threads (default 2)\n"
		"  --prefetch N             rooms taken off the queue ahead of requests, so a hand-out\n"
		"                           is one Pexip request and no queue operation (default 1,\n"
		"                           0 = off, at most 16)\n"
		"  --per-ip-connections N   connections at once from one client address (default %u,\n"
		"                           0 = no limit, at most 1000)\n"
		"  --header-timeout S       close a connection whose request headers are not all in\n"
		"                           S seconds after it opened (default %u, 0 = off)\n"
		"  --public-ttl S           keep GET /public/room/NAME answers S seconds (default %u,\n"
		"                           0 = ask Pexip every time, still capped)\n",
		RS_PER_IP_DEFAULT, RS_HEADER_TIMEOUT_DEFAULT, RS_PUBLIC_TTL_DEFAULT);
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

static int load_settings(rs_server *s)
{
	const char *v = NULL;
	const char *const *list = NULL;
	size_t n = 0;

	if (pex_config_get_string(&v, s->cfg, "log.level") == 0)
		pex_log_level_parse(&g_level, v);
	if (pex_config_get_string(&v, s->cfg, "log.format") == 0)
		g_json = strcmp(v, "json") == 0;

	/* Secrets are resolved when read (docs/DECISIONS.md 29): the server
	 * uses them all (its keys, the event sink's password, Pexip's), so a
	 * missing one stops it here rather than leaving a route without its
	 * credentials. */
	if (pex_config_resolve_secrets(s->cfg) < 0) {
		rs_log(PEX_LOG_ERROR, "%s", pex_error_last()->message);
		return -1;
	}
	if (pex_config_get_list(&list, &n, s->cfg, "server.api_keys") == 0) {
		s->api_keys = list;
		s->api_key_count = n;
	}
	if (pex_config_get_string(&v, s->cfg, "events.username") == 0) {
		s->events_user = v;
		if (pex_config_get_string(&v, s->cfg, "events.password") == 0)
			s->events_pass = v;
	}
	if (pex_config_get_list(&list, &n, s->cfg, "gc.protected_prefixes") == 0) {
		s->protected_prefixes = list;
		s->protected_count = n;
	}
	pex_tag_rules_init(&s->tag_rules, PEX_TAG_RULES_VERSION);
	if (pex_config_get_string(&v, s->cfg, "tag.url_template") == 0)
		s->tag_rules.url_template = v;
	if (pex_config_get_list(&list, &n, s->cfg, "tag.allowed_hosts") == 0) {
		s->tag_rules.allowed_hosts = list;
		s->tag_rules.allowed_host_count = n;
	}
	if (rs_auth_prepare(s) < 0) {
		rs_log(PEX_LOG_ERROR, "cannot digest the configured API keys and event sink credentials");
		return -1;
	}
	if (rs_jwt_load(&s->jwt, s->cfg) < 0)
		return -1;
	if (s->api_key_count == 0 && !s->jwt)
		rs_log(PEX_LOG_WARN, "no server.api_keys and no server.jwt: every /room/ request will be refused");
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "gc-interval", required_argument, NULL, 'g' },
		{ "gc-orphans", no_argument, NULL, 'o' },
		{ "metrics-interval", required_argument, NULL, 'm' },
		{ "threads", required_argument, NULL, 't' },
		{ "workers", required_argument, NULL, 'w' },
		{ "prefetch", required_argument, NULL, 'p' },
		{ "per-ip-connections", required_argument, NULL, 'i' },
		{ "header-timeout", required_argument, NULL, 'H' },
		{ "public-ttl", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	rs_server srv;
	const char *config_path = NULL, *listen = NULL, *env_port, *queue_name = NULL;
	char host[256], env_listen[300];
	unsigned port = 0, bound = 0, threads = 8, workers = 2;
	sigset_t sigs;
	int c, sig = 0, status = 1, err;

	memset(&srv, 0, sizeof(srv));
	srv.gc_interval_s = 600;
	srv.metrics_interval_s = 300;
	srv.prefetch = 1;
	srv.per_ip_limit = RS_PER_IP_DEFAULT;
	srv.header_timeout_s = RS_HEADER_TIMEOUT_DEFAULT;
	srv.public_ttl_s = RS_PUBLIC_TTL_DEFAULT;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'l': listen = optarg; break;
		case 'g':
			if (parse_uint(optarg, 7 * 86400, &srv.gc_interval_s) < 0)
				goto bad;
			break;
		case 'o': srv.gc_orphans = 1; break;
		case 'm':
			if (parse_uint(optarg, 7 * 86400, &srv.metrics_interval_s) < 0)
				goto bad;
			break;
		case 't':
			if (parse_uint(optarg, 256, &threads) < 0 || threads == 0)
				goto bad;
			break;
		case 'w':
			if (parse_uint(optarg, 64, &workers) < 0 || workers == 0)
				goto bad;
			break;
		case 'p':
			if (parse_uint(optarg, PEX_POOL_PREFETCH_MAX, &srv.prefetch) < 0)
				goto bad;
			break;
		case 'i':
			if (parse_uint(optarg, 1000, &srv.per_ip_limit) < 0)
				goto bad;
			break;
		case 'H':
			if (parse_uint(optarg, 3600, &srv.header_timeout_s) < 0)
				goto bad;
			break;
		case 'T':
			if (parse_uint(optarg, 86400, &srv.public_ttl_s) < 0)
				goto bad;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "room-server: unexpected argument '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}

	if (pex_global_init() < 0) {
		fprintf(stderr, "room-server: %s\n", pex_error_last()->message);
		return 1;
	}
	if (rs_auth_init() < 0) {
		fprintf(stderr, "room-server: OpenSSL has no SHA-256\n");
		pex_global_shutdown();
		return 1;
	}
	if ((err = pex_config_load(&srv.cfg, config_path)) < 0) {
		fprintf(stderr, "room-server: %s\n", pex_error_last()->message);
		rs_auth_shutdown();
		pex_global_shutdown();
		return err == PEX_ECONFIG || err == PEX_ENOTFOUND ? EXIT_USAGE : 1;
	}
	if (load_settings(&srv) < 0)
		goto out;
	/* after load_settings: the logger knows log.format now */
	for (size_t i = 0; i < pex_config_warning_count(srv.cfg); i++)
		rs_log(PEX_LOG_WARN, "%s", pex_config_warning(srv.cfg, i));

	/* where to listen: --listen, else the Functions host's port, else the config */
	if (!listen && (env_port = getenv("FUNCTIONS_CUSTOMHANDLER_PORT")) && *env_port) {
		const char *cfg_listen = "127.0.0.1:0";
		pex_config_get_string(&cfg_listen, srv.cfg, "server.listen");
		if (parse_listen(cfg_listen, host, sizeof(host), &port) < 0)
			snprintf(host, sizeof(host), "127.0.0.1");
		snprintf(env_listen, sizeof(env_listen), "%s%s%s:%s", strchr(host, ':') ? "[" : "", host,
			strchr(host, ':') ? "]" : "", env_port);
		listen = env_listen;
	}
	if (!listen && pex_config_get_string(&listen, srv.cfg, "server.listen") < 0)
		listen = "127.0.0.1:8080";
	if (parse_listen(listen, host, sizeof(host), &port) < 0) {
		rs_log(PEX_LOG_ERROR, "listen address '%s' is not HOST:PORT", listen);
		status = EXIT_USAGE;
		goto out;
	}

	if (pex_config_get_string(&queue_name, srv.cfg, "pool.queue") < 0)
		queue_name = "room-creation-queue";
	/* the pool keeps its queues to itself: open our own handle for health */
	if (pex_pool_new_from_config(&srv.pool, srv.cfg, rs_log_cb, NULL) < 0 ||
	    pex_queue_open_config(&srv.pool_queue, srv.cfg, queue_name) < 0) {
		rs_log(PEX_LOG_ERROR, "%s", pex_error_last()->message);
		goto out;
	}
	if (pthread_mutex_init(&srv.health_lock, NULL) != 0)
		goto out;
	if (pthread_mutex_init(&srv.metrics_lock, NULL) != 0) {
		pthread_mutex_destroy(&srv.health_lock);
		goto out;
	}
	{
		/* anonymous lookups get a quarter of the Pexip connections */
		long long conc = 5;
		pex_config_get_int(&conc, srv.cfg, "pexip.max_concurrency");
		if (rs_public_init(&srv, conc > 0 && conc < 1000 ? (unsigned)conc : 5) < 0)
			goto out;
	}
	{
		/* hand-outs wait while half the pool awaits replacement (rs_jobs_throttle) */
		long long depth = 20;
		pex_config_get_int(&depth, srv.cfg, "pool.depth");
		srv.backlog_max = depth > 1 ? (size_t)depth / 2 : 1;
	}

	/* Signals are taken by sigwait() below: block them before any thread
	 * starts, so every thread inherits the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (rs_jobs_start(&srv, workers) < 0) {
		rs_log(PEX_LOG_ERROR, "cannot start the worker threads");
		goto stop;
	}
	rs_jobs_fill(&srv);        /* top the pool up to pool.depth in the background */
	if (rs_http_start(&srv, host, port, threads, &bound) < 0) {
		rs_log(PEX_LOG_ERROR, "cannot listen on %s:%u", host, port);
		goto stop;
	}
	rs_log(PEX_LOG_INFO, "listening on %s:%u (%u HTTP threads, %u workers, %u room(s) held ready, "
		"gc every %us%s, metrics every %us)", host, bound, threads, workers, srv.prefetch,
		srv.gc_interval_s, srv.gc_orphans ? " with the orphan sweep" : "", srv.metrics_interval_s);
	printf("LISTENING %s:%u\n", host, bound);
	fflush(stdout);

	while (sigwait(&sigs, &sig) != 0)
		;
	rs_log(PEX_LOG_INFO, "%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
	status = 0;
stop:
	rs_http_stop(&srv, HTTP_DRAIN_MS);
	if (srv.workers)
		rs_jobs_stop(&srv, JOBS_DRAIN_MS);
	pthread_mutex_destroy(&srv.health_lock);
	pthread_mutex_destroy(&srv.metrics_lock);
	if (status == 0)
		rs_log(PEX_LOG_INFO, "stopped");
out:
	rs_public_dispose(&srv);
	rs_jwt_free(srv.jwt);
	rs_auth_dispose(&srv);
	rs_auth_shutdown();
	pex_queue_free(srv.pool_queue);
	pex_pool_free(srv.pool);
	pex_config_free(srv.cfg);
	pex_global_shutdown();
	return status;
bad:
	fprintf(stderr, "room-server: bad option value '%s'\n", optarg);
	return EXIT_USAGE;
}
