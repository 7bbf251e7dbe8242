/* pexbench helpers: time, percentiles, output lines, the emulator, queues,
 * libcurl and the room-server process. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "bench.h"

/* ---- time and statistics ---- */

double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double bench_pct(double *v, size_t n, double p)
{
	size_t rank;
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	/* nearest rank: the smallest value with at least p% at or below it */
	rank = (size_t)((p / 100.0) * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

/* ---- output ---- */

void bench_row(const char *num, const char *what, const char *figure, const char *floor,
	double ratio, const char *goal, int pass)
{
	char r[32];
	if (ratio < 0)
		snprintf(r, sizeof(r), "-");
	else
		snprintf(r, sizeof(r), "%.2fx", ratio);
	printf("ROW\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", num, what, figure, floor, r, goal,
		pass < 0 ? "-" : pass ? "yes" : "NO");
	fflush(stdout);
}

void bench_row_missing(const char *num, const char *what, const char *goal, const char *why)
{
	printf("ROW\t%s\t%s\tnot measured: %s\t-\t-\t%s\t-\n", num, what, why, goal);
	fflush(stdout);
}

int bench_have_server(const bench_opts *o, const char *num, const char *what, const char *goal)
{
	if (o->server_bin)
		return 1;
	bench_row_missing(num, what, goal, "room server not built");
	return 0;
}

void bench_note(const char *fmt, ...)
{
	va_list ap;
	fputs("NOTE\t", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

/* One line on stderr: @prefix, then the message. */
static void log_line(const char *prefix, const char *fmt, va_list ap)
{
	fputs(prefix, stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void bench_log(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_line("pexbench: ", fmt, ap);
	va_end(ap);
}

void bench_die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_line("pexbench: error: ", fmt, ap);
	va_end(ap);
	exit(1);
}

/* ---- the emulator ---- */

void bench_emu_start(emu_t *e, const char *const *extra_args)
{
	if (emu_start(e, extra_args) != 0)
		bench_die("cannot start the Pexip emulator");
}

void bench_emu_latency(emu_t *e, int ms)
{
	char body[64];
	snprintf(body, sizeof(body), "{\"latency_ms\": %d}", ms);
	if (emu_ctl(e, "POST", "/_emu/faults", body, NULL) != 200)
		bench_die("emulator: cannot set latency %d ms", ms);
}

void bench_emu_reset_stats(emu_t *e)
{
	if (emu_ctl(e, "POST", "/_emu/reset_stats", NULL, NULL) != 200)
		bench_die("emulator: cannot reset its counters");
}

long long bench_emu_stat(emu_t *e, const char *key)
{
	long long v = emu_stat(e, key);
	if (v < 0)
		bench_die("emulator: no counter '%s'", key);
	return v;
}

/* The id of the room called @p name, via the API (exact name filter). */
static long long room_id(emu_t *e, const char *name)
{
	char path[512], *body = NULL;
	json_object *doc, *objs, *first, *id;
	long long out = -1;
	snprintf(path, sizeof(path), "/api/admin/configuration/v1/conference/?name=%s", name);
	if (emu_api(e, "GET", path, NULL, &body) != 200 || !body)
		bench_die("emulator: cannot look up room %s", name);
	doc = json_tokener_parse(body);
	if (doc && json_object_object_get_ex(doc, "objects", &objs) &&
	    json_object_array_length(objs) == 1 && (first = json_object_array_get_idx(objs, 0)) &&
	    json_object_object_get_ex(first, "id", &id))
		out = json_object_get_int64(id);
	json_object_put(doc);
	free(body);
	if (out <= 0)
		bench_die("emulator: room %s not found", name);
	return out;
}

long long bench_populate(emu_t *e, const char *prefix, long long start, long long count)
{
	char body[256], name[256];
	long long first, last;
	snprintf(body, sizeof(body), "{\"count\": %lld, \"prefix\": \"%s\", \"start\": %lld}",
		count, prefix, start);
	if (emu_ctl(e, "POST", "/_emu/populate", body, NULL) != 200)
		bench_die("emulator: populate %lld rooms failed", count);
	snprintf(name, sizeof(name), "%s%06lld", prefix, start);
	first = room_id(e, name);
	snprintf(name, sizeof(name), "%s%06lld", prefix, start + count - 1);
	last = room_id(e, name);
	if (last - first != count - 1)
		bench_die("emulator: ids of populated rooms are not consecutive (%lld..%lld)", first, last);
	return first;
}

/* ---- library helpers ---- */

pex_client *bench_client(const emu_t *e, unsigned max_concurrency)
{
	pex_client_options co = PEX_CLIENT_OPTIONS_INIT;
	pex_client *c = NULL;
	co.url = e->url;
	co.auth = PEX_AUTH_BASIC;
	co.username = "admin";
	co.password = "admin";
	co.max_concurrency = max_concurrency;
	if (pex_client_new(&c, &co) < 0)
		bench_die("pex_client_new: %s", pex_error_last()->message);
	return c;
}

void bench_rm_db(const char *path)
{
	char p[600];
	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
}

pex_queue *bench_sqlite_queue(const char *path, const char *name, int fresh)
{
	char uri[600];
	pex_queue *q = NULL;
	if (fresh)
		bench_rm_db(path);
	snprintf(uri, sizeof(uri), "sqlite:%s", path);
	if (pex_queue_open(&q, uri, name) < 0)
		bench_die("opening queue %s on %s: %s", name, path, pex_error_last()->message);
	return q;
}

void bench_warm_queue(pex_queue *q, size_t n)
{
	static const char body[] = "warm-up";
	size_t i;
	for (i = 0; i < n; i++) {
		pex_message *m = NULL;
		if (pex_queue_put(q, body, sizeof(body) - 1, 0) < 0 || pex_queue_receive(&m, q, 60) < 0 ||
		    pex_queue_delete(q, m) < 0)
			bench_die("queue warm-up: %s", pex_error_last()->message);
		pex_message_free(m);
	}
}

void bench_put_pool_msg(pex_queue *q, const char *name, long long id)
{
	json_object *o = json_object_new_object();
	char pin[16];
	const char *js;
	unsigned char *b64;
	size_t len;
	int n;

	snprintf(pin, sizeof(pin), "%06lld", (id * 104729 + 654321) % 1000000);
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "id", json_object_new_int64(id));
	json_object_object_add(o, "alias", json_object_new_string(name));
	json_object_object_add(o, "guest_pin", json_object_new_string(pin));
	/* made an hour ago: ready whatever pool.ready_after_s (the pool a
	 * server finds when it starts has been there a while) */
	json_object_object_add(o, "created", json_object_new_int64((long long)time(NULL) - 3600));
	js = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	len = strlen(js);
	b64 = malloc(4 * ((len + 2) / 3) + 1);
	if (!b64)
		bench_die("out of memory");
	n = EVP_EncodeBlock(b64, (const unsigned char *)js, (int)len);
	if (pex_queue_put(q, b64, (size_t)n, 0) < 0)
		bench_die("queue put: %s", pex_error_last()->message);
	free(b64);
	json_object_put(o);
}

pex_pool *bench_pool(pex_client *client, const char *path, pex_queue **pool_q, pex_queue **del_q)
{
	pex_pool_options po = PEX_POOL_OPTIONS_INIT;
	pex_pool *p = NULL;
	po.tag.url_template = BENCH_TAG_TEMPLATE;
	/* The benchmarks measure hand-outs of rooms they made through the
	 * emulator's /_emu/populate just before (no replication there): a
	 * readiness delay would only make every pop release them. */
	po.ready_after_s = 0;
	*pool_q = bench_sqlite_queue(path, "room-creation-queue", 1);
	if (pex_queue_open_sibling(del_q, *pool_q, "room-deletion-queue") < 0)
		bench_die("opening the deletion queue: %s", pex_error_last()->message);
	if (pex_pool_new(&p, client, *pool_q, *del_q, &po) < 0)
		bench_die("pex_pool_new: %s", pex_error_last()->message);
	return p;
}

/* ---- libcurl ---- */

static size_t discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	(void)ptr;
	(void)userdata;
	return size * nmemb;
}

long bench_http(CURL *h, const char *method, const char *url, struct curl_slist *headers,
	const char *body)
{
	long status = 0;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	if (body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	} else if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
	} else {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	}
	if (curl_easy_perform(h) != CURLE_OK)
		return -1;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	return status;
}

typedef struct body_buf {
	char data[1024];
	size_t len;
} body_buf;

static size_t keep_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	body_buf *b = userdata;
	size_t len = size * nmemb, room = sizeof(b->data) - 1 - b->len;
	if (len < room)
		room = len;
	memcpy(b->data + b->len, ptr, room);
	b->len += room;
	b->data[b->len] = '\0';
	return len;
}

long bench_server_depth(CURL *h, const char *base)
{
	char url[160];
	body_buf b;
	const char *p;
	long status = 0;

	b.len = 0;
	b.data[0] = '\0';
	snprintf(url, sizeof(url), "%s/public/health", base);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	if (curl_easy_perform(h) != CURLE_OK)
		return -1;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200 || !(p = strstr(b.data, "\"pool_depth\":")))
		return -1;
	return strtol(p + strlen("\"pool_depth\":"), NULL, 10);
}

/* ---- the room server ---- */

static int write_server_config(const char *path, const emu_t *e, const char *db, unsigned depth,
	int postgres, const char *pool_extra)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f,
		"pexip:\n"
		"  url: %s\n"
		"  auth: {method: basic, username: admin, password: admin}\n"
		"  max_concurrency: 5\n"
		"queue:\n"
		"%s%s%s"
		"pool:\n"
		"  depth: %u\n"
		"%s%s%s"   /* ready_after_s: 0 (populated rooms, no replication: see bench_pool()) */
		"tag: {url_template: \"%s\"}\n"
		"server:\n"
		"  listen: \"127.0.0.1:8080\"\n"   /* overridden by --listen */

		"  api_keys: [%s]\n"
		"log: {level: warn, format: text}\n",
		e->url, postgres ? "  backend: postgres\n  postgres: {conninfo: \"env:PEX_PG_CONNINFO\"}\n" :
		"  backend: sqlite\n  sqlite: {path: ", postgres ? "" : db, postgres ? "" : "}\n", depth,
		pool_extra && strstr(pool_extra, "ready_after_s") ? "" : "  ready_after_s: 0\n",
		pool_extra ? pool_extra : "", pool_extra ? "\n" : "",
		BENCH_TAG_TEMPLATE, BENCH_API_KEY);
	if (fclose(f) != 0)
		return -1;
	return chmod(path, 0600);   /* it holds literal secrets; the server warns otherwise */
}

int bench_server_start(bench_server *s, const bench_opts *o, const emu_t *e, const char *name,
	unsigned depth, const char *prefix, long long first_id, long long count)
{
	char cfg[600], log[600], line[256], rname[300];
	pex_queue *q;
	int out[2];
	size_t got = 0;
	long long i;
	double until;
	char *colon;

	memset(s, 0, sizeof(*s));
	snprintf(s->db, sizeof(s->db), "%s/%s.db", o->dir, o->db_name ? o->db_name : name);
	snprintf(cfg, sizeof(cfg), "%s/%s.yaml", o->dir, name);
	snprintf(log, sizeof(log), "%s/%s.log", o->dir, name);
	if (write_server_config(cfg, e, s->db, depth, o->pg_conninfo != NULL, o->pool_extra) < 0) {
		bench_log("cannot write %s", cfg);
		return -1;
	}
	/* prefill: the server finds its pool full and does not top it up */
	if (o->pg_conninfo) {
		char uri[700];
		snprintf(uri, sizeof(uri), "postgres:%s", o->pg_conninfo);
		if (pex_queue_open(&q, uri, "room-creation-queue") < 0 ||
		    (count > 0 && pex_queue_clear(q) < 0))
			bench_die("opening the postgres pool queue: %s", pex_error_last()->message);
	} else {
		q = bench_sqlite_queue(s->db, "room-creation-queue", count > 0);
	}
	/* (a server joining a queue in use must not put warm-up messages on it:
	 * the running server would take them for rooms) */
	if (count > 0)
		bench_warm_queue(q, BENCH_WARM_QUEUE);
	for (i = 0; i < count; i++) {
		snprintf(rname, sizeof(rname), "%s%06lld", prefix, i);
		bench_put_pool_msg(q, rname, first_id + i);
	}
	pex_queue_free(q);

	if (pipe(out) != 0)
		return -1;
	s->pid = fork();
	if (s->pid < 0)
		return -1;
	if (s->pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(out[1], STDOUT_FILENO);
		if (fd >= 0)
			dup2(fd, STDERR_FILENO);
		close(out[0]);
		close(out[1]);
		{
			/* $PEXBENCH_SERVER_WRAPPER (space-separated words, e.g. "strace -f
			 * -tt -o FILE" or "valgrind --tool=callgrind") goes in front: for
			 * profiling only; figures taken that way mean nothing. */
			char *wrap = getenv("PEXBENCH_SERVER_WRAPPER") ? strdup(getenv("PEXBENCH_SERVER_WRAPPER")) : NULL;
			const char *argv[40];
			char *tok, *save = NULL;
			int n = 0;
			for (tok = wrap ? strtok_r(wrap, " ", &save) : NULL; tok && n < 30;
			     tok = strtok_r(NULL, " ", &save))
				argv[n++] = tok;
			argv[n++] = o->server_bin;
			argv[n++] = "-c";
			argv[n++] = cfg;
			argv[n++] = "--listen";
			argv[n++] = "127.0.0.1:0";
			argv[n++] = "--gc-interval";
			argv[n++] = "0";
			argv[n++] = "--metrics-interval";
			argv[n++] = "0";
			argv[n] = NULL;
			execvp(argv[0], (char *const *)argv);
		}
		_exit(127);
	}
	close(out[1]);
	until = bench_now() + (getenv("PEXBENCH_SERVER_WRAPPER") ? 120 : 15);
	while (bench_now() < until && got < sizeof(line) - 1) {
		struct pollfd p = { out[0], POLLIN, 0 };
		ssize_t n;
		if (poll(&p, 1, 200) <= 0)
			continue;
		if ((n = read(out[0], line + got, sizeof(line) - 1 - got)) <= 0)
			break;
		got += (size_t)n;
		line[got] = '\0';
		if (strchr(line, '\n'))
			break;
	}
	close(out[0]);
	line[got] = '\0';
	if (strncmp(line, "LISTENING ", 10) != 0 || !(colon = strrchr(line, ':'))) {
		bench_log("room-server did not start (see %s)", log);
		bench_server_stop(s);
		return -1;
	}
	snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%d", atoi(colon + 1));
	return 0;
}

void bench_server_stop(bench_server *s)
{
	int st, i;
	if (s->pid <= 0)
		return;
	kill(s->pid, SIGTERM);
	for (i = 0; i < 100; i++) {
		if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
			s->pid = 0;
			return;
		}
		usleep(50000);
	}
	kill(s->pid, SIGKILL);
	waitpid(s->pid, &st, 0);
	s->pid = 0;
}

long bench_rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "VmRSS:", 6) == 0) {
			kib = strtol(line + 6, NULL, 10);
			break;
		}
	fclose(f);
	return kib;
}
