/* pexip-emulator: a Pexip Infinity Management API emulator for tests, the
 * demo and benchmarks (README.md here lists what it does).
 * A test tool, not part of libpexipsdk: the library talks to it over real
 * HTTP.
 *
 * USAGE
 *   pexip-emulator [OPTIONS]
 *
 *   --listen ADDR            address to bind (default 127.0.0.1; IPv6 ok)
 *   --port N                 port (default 0 = ephemeral)
 *   --user U                 Basic user (default admin)
 *   --password P             Basic password (default admin)
 *   --disable-basic          reject Basic auth; OAuth2 bearer tokens only
 *   --oauth-client ID=PEM    register OAuth2 client ID with its EC P-256
 *                            public key (PEM; a private key PEM works too);
 *                            repeatable
 *   --token-ttl SECONDS      expires_in of issued tokens (default 3600)
 *   --token-audience URL     the `aud` the token endpoint requires (default
 *                            "<scheme>://<listen>:<port>/oauth/token/",
 *                            computed after binding)
 *   --tls-cert FILE          serve HTTPS with this certificate (PEM) ...
 *   --tls-key FILE           ... and key (PEM); both or neither
 *   --seed N                 fault-injection RNG seed (default time-based)
 *   --port-file PATH         write "<port>\n" to PATH (atomically, by
 *                            rename) when ready
 *   --page-size N            default list page size (default 20)
 *   --max-limit N            largest page (default 1000; limit=0 = this)
 *   --replication-delay S    a new conference is joinable only S seconds
 *                            after its creation_time (default 0; see
 *                            POST /_emu/conference/joinable)
 *   --help                   this text
 *
 *   When ready it prints exactly "PORT <n>\n" on stdout and flushes.
 *   SIGTERM or SIGINT stop it cleanly (exit status 0, everything freed).
 *   Environment: PEX_EMULATOR_VERBOSE=1 logs libmicrohttpd errors to stderr.
 *
 * HTTP SURFACE (details in README.md next to this file)
 *   /api/admin/configuration/v1/conference/[<id>/]        GET POST PATCH PUT DELETE
 *   /api/admin/configuration/v1/conference_alias/[<id>/]  GET POST PATCH PUT DELETE
 *   /api/admin/status/v1/conference/[<uuid>/]             GET
 *   /api/admin/status/v1/participant/[<uuid>/]            GET
 *   /api/admin/command/v1/conference/{lock,unlock,disconnect}/ and
 *   /api/admin/command/v1/participant/disconnect/         POST
 *   /oauth/token/                                         POST (form)
 *   /_emu/...                                             control API, no auth:
 *     GET stats, GET|POST faults, POST reset_stats, revoke_tokens, reset,
 *     conference/start, conference/stop, conference/set, populate, events;
 *     GET health
 *
 * EXIT STATUS
 *   0 clean stop on a signal; 2 bad usage; 1 could not start. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <microhttpd.h>

#include "emu.h"

emu_config g_cfg;
emu_stats g_stats;
atomic_bool g_stopping;
atomic_bool g_refuse_in;
atomic_bool g_refuse_time;

static void usage(FILE *out)
{
	fputs("usage: pexip-emulator [--listen ADDR] [--port N] [--user U] [--password P]\n"
	      "         [--disable-basic] [--oauth-client ID=PUBKEY.pem]... [--token-ttl S]\n"
	      "         [--token-audience URL] [--tls-cert FILE --tls-key FILE] [--seed N]\n"
	      "         [--port-file PATH] [--page-size N] [--max-limit N] [--mode JSON]\n"
	      "         [--replication-delay S]\n"
	      "Prints \"PORT <n>\" when ready; stops cleanly on SIGTERM/SIGINT.\n",
	      out);
}

static int parse_long(const char *opt, const char *s, long min, long max, long *out)
{
	char *end;
	long v;
	errno = 0;
	v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < min || v > max) {
		fprintf(stderr, "pexip-emulator: %s wants an integer %ld..%ld, got '%s'\n", opt, min, max, s);
		return -1;
	}
	*out = v;
	return 0;
}

static int write_port_file(const char *path, unsigned port)
{
	char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	FILE *f = fopen(tmp, "w");
	int ok;
	if (!f) {
		fprintf(stderr, "pexip-emulator: cannot write '%s': %s\n", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	ok = fprintf(f, "%u\n", port) > 0;
	ok &= fclose(f) == 0;
	if (!ok || rename(tmp, path) != 0) {
		fprintf(stderr, "pexip-emulator: cannot write '%s': %s\n", path, strerror(errno));
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	return 0;
}

static void free_config(void)
{
	free(g_cfg.listen);
	free(g_cfg.user);
	free(g_cfg.password);
	free(g_cfg.audience);
	free(g_cfg.tls_cert);
	free(g_cfg.tls_key);
	free(g_cfg.port_file);
}

enum {
	O_LISTEN = 256, O_PORT, O_USER, O_PASSWORD, O_DISABLE_BASIC, O_OAUTH_CLIENT, O_TOKEN_TTL,
	O_TOKEN_AUD, O_TLS_CERT, O_TLS_KEY, O_SEED, O_PORT_FILE, O_PAGE_SIZE, O_MAX_LIMIT, O_MODE, O_REPLICATION,
	O_HELP
};

static const struct option long_opts[] = {
	{ "listen", required_argument, NULL, O_LISTEN },
	{ "port", required_argument, NULL, O_PORT },
	{ "user", required_argument, NULL, O_USER },
	{ "password", required_argument, NULL, O_PASSWORD },
	{ "disable-basic", no_argument, NULL, O_DISABLE_BASIC },
	{ "oauth-client", required_argument, NULL, O_OAUTH_CLIENT },
	{ "token-ttl", required_argument, NULL, O_TOKEN_TTL },
	{ "token-audience", required_argument, NULL, O_TOKEN_AUD },
	{ "tls-cert", required_argument, NULL, O_TLS_CERT },
	{ "tls-key", required_argument, NULL, O_TLS_KEY },
	{ "seed", required_argument, NULL, O_SEED },
	{ "port-file", required_argument, NULL, O_PORT_FILE },
	{ "page-size", required_argument, NULL, O_PAGE_SIZE },
	{ "max-limit", required_argument, NULL, O_MAX_LIMIT },
	{ "mode", required_argument, NULL, O_MODE },
	{ "replication-delay", required_argument, NULL, O_REPLICATION },
	{ "help", no_argument, NULL, O_HELP },
	{ NULL, 0, NULL, 0 },
};

static void set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = xstrdup(v);
}

/* Returns 0, or the exit status for a bad command line. */
static int parse_args(int argc, char **argv)
{
	int c;
	long v;
	bool seeded = false;
	const char *mode = getenv("PEX_EMULATOR_MODE");
	g_cfg.listen = xstrdup("127.0.0.1");
	g_cfg.user = xstrdup("admin");
	g_cfg.password = xstrdup("admin");
	g_cfg.token_ttl = 3600;
	g_cfg.page_size = 20;
	g_cfg.max_limit = 1000;
	opterr = 1;
	while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		switch (c) {
		case O_LISTEN: set_str(&g_cfg.listen, optarg); break;
		case O_PORT:
			if (parse_long("--port", optarg, 0, 65535, &v) < 0)
				return 2;
			g_cfg.port = (unsigned)v;
			break;
		case O_USER: set_str(&g_cfg.user, optarg); break;
		case O_PASSWORD: set_str(&g_cfg.password, optarg); break;
		case O_DISABLE_BASIC: g_cfg.disable_basic = true; break;
		case O_OAUTH_CLIENT:
			if (oauth_add_client(optarg) < 0)
				return 2;
			break;
		case O_TOKEN_TTL:
			if (parse_long("--token-ttl", optarg, 1, 10L * 365 * 86400, &g_cfg.token_ttl) < 0)
				return 2;
			break;
		case O_TOKEN_AUD: set_str(&g_cfg.audience, optarg); break;
		case O_TLS_CERT: set_str(&g_cfg.tls_cert, optarg); break;
		case O_TLS_KEY: set_str(&g_cfg.tls_key, optarg); break;
		case O_SEED: {
			char *end;
			errno = 0;
			g_cfg.seed = strtoull(optarg, &end, 10);
			if (!*optarg || *end || errno) {
				fprintf(stderr, "pexip-emulator: --seed wants an integer, got '%s'\n", optarg);
				return 2;
			}
			seeded = true;
			break;
		}
		case O_PORT_FILE: set_str(&g_cfg.port_file, optarg); break;
		case O_PAGE_SIZE:
			if (parse_long("--page-size", optarg, 1, 1000000, &g_cfg.page_size) < 0)
				return 2;
			break;
		case O_MAX_LIMIT:
			if (parse_long("--max-limit", optarg, 1, 1000000, &g_cfg.max_limit) < 0)
				return 2;
			break;
		case O_MODE: mode = optarg; break;
		case O_REPLICATION:
			if (parse_long("--replication-delay", optarg, 0, 86400, &g_cfg.replication_delay_s) < 0)
				return 2;
			atomic_store(&g_replication_delay_s, g_cfg.replication_delay_s);
			break;
		case O_HELP:
			usage(stdout);
			return -1;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pexip-emulator: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!g_cfg.tls_cert != !g_cfg.tls_key) {
		fputs("pexip-emulator: --tls-cert and --tls-key go together\n", stderr);
		return 2;
	}
	if (mode_init(mode) < 0)
		return 2;
	if (g_cfg.page_size > g_cfg.max_limit)
		g_cfg.page_size = g_cfg.max_limit;
	if (!seeded) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		g_cfg.seed = (uint64_t)ts.tv_sec * 1000000007ULL ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid();
	}
	return 0;
}

int main(int argc, char **argv)
{
	sigset_t sigs;
	struct MHD_Daemon *d = NULL;
	unsigned port = 0;
	bool ipv6 = false;
	int rc, sig = 0, fd;

	/* Block the stop signals in every thread; main waits for them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	oauth_init();
	rc = parse_args(argc, argv);
	if (rc != 0) {
		oauth_free();
		free_config();
		return rc < 0 ? 0 : rc;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fputs("pexip-emulator: curl_global_init failed\n", stderr);
		return 1;
	}
	rng_seed(g_cfg.seed);
	store_init();
	events_init();

	fd = server_bind(&port, &ipv6);
	if (fd < 0) {
		rc = 1;
		goto out;
	}
	/* everything requests read is set before the daemon starts */
	if (!g_cfg.audience) {
		bool v6 = strchr(g_cfg.listen, ':') != NULL;
		g_cfg.audience = xasprintf("%s://%s%s%s:%u/oauth/token/", g_cfg.tls_cert ? "https" : "http",
					   v6 ? "[" : "", g_cfg.listen, v6 ? "]" : "", port);
	}
	d = server_start(fd, ipv6);
	if (!d) {
		rc = 1;
		goto out;
	}
	if (g_cfg.port_file && write_port_file(g_cfg.port_file, port) < 0) {
		rc = 1;
		goto out;
	}
	printf("PORT %u\n", port);
	fflush(stdout);

	while (sigwait(&sigs, &sig) != 0 || (sig != SIGTERM && sig != SIGINT))
		;
	rc = 0;
out:
	server_stop(d);
	server_free();
	events_free();
	store_free();
	oauth_free();
	free_config();
	curl_global_cleanup();
	return rc;
}
