/* Test harness for the Pexip emulator: spawn, stop, control. See
 * emu_harness.h. */
#include "emu_harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#ifndef PEX_EMULATOR_PATH
#define PEX_EMULATOR_PATH "pexip-emulator"
#endif

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Splits the wrapper env var into words (malloc'd copy in *store). */
static size_t wrapper_words(char **store, char **words, size_t max)
{
	const char *w = getenv("PEX_EMULATOR_WRAPPER");
	char *save = NULL, *tok;
	size_t n = 0;
	*store = NULL;
	if (!w || !*w)
		return 0;
	*store = strdup(w);
	if (!*store)
		return 0;
	for (tok = strtok_r(*store, " \t", &save); tok && n < max; tok = strtok_r(NULL, " \t", &save))
		words[n++] = tok;
	return n;
}

static void reap(emu_t *e, double timeout_s)
{
	double end = now_s() + timeout_s;
	int st;
	pid_t r;
	e->exit_status = -1;
	for (;;) {
		r = waitpid(e->pid, &st, WNOHANG);
		if (r == e->pid)
			break;
		if (r < 0 && errno != EINTR) {
			e->pid = 0;
			return;
		}
		if (now_s() > end) {
			kill(e->pid, SIGKILL);
			while (waitpid(e->pid, &st, 0) < 0 && errno == EINTR)
				;
			break;
		}
		usleep(5000);
	}
	if (WIFEXITED(st))
		e->exit_status = WEXITSTATUS(st);
	else if (WIFSIGNALED(st))
		e->exit_status = 128 + WTERMSIG(st);
	e->pid = 0;
}

int emu_start(emu_t *e, const char *const *extra_args)
{
	const char *bin = getenv("PEX_EMULATOR");
	char *wstore = NULL, *wwords[16];
	size_t nw = wrapper_words(&wstore, wwords, 16), nx = 0, i, k = 0;
	const char **argv;
	int fds[2], tls = 0;
	const char *listen = "127.0.0.1";
	char line[128];
	size_t got = 0;
	double deadline;
	pid_t parent = getpid();

	memset(e, 0, sizeof(*e));
	e->exit_status = -1;
	if (!bin || !*bin)
		bin = PEX_EMULATOR_PATH;
	while (extra_args && extra_args[nx]) {
		if (!strcmp(extra_args[nx], "--tls-cert"))
			tls = 1;
		if (!strcmp(extra_args[nx], "--listen") && extra_args[nx + 1])
			listen = extra_args[nx + 1];
		nx++;
	}
	argv = calloc(nw + nx + 2, sizeof(*argv));
	if (!argv) {
		free(wstore);
		return -1;
	}
	for (i = 0; i < nw; i++)
		argv[k++] = wwords[i];
	argv[k++] = bin;
	for (i = 0; i < nx; i++)
		argv[k++] = extra_args[i];
	argv[k] = NULL;

	if (pipe2(fds, O_CLOEXEC) != 0) {
		perror("emu_start: pipe");
		free(argv);
		free(wstore);
		return -1;
	}
	fflush(NULL);
	e->pid = fork();
	if (e->pid < 0) {
		perror("emu_start: fork");
		close(fds[0]);
		close(fds[1]);
		free(argv);
		free(wstore);
		return -1;
	}
	if (e->pid == 0) {
		/* child: stdout is the pipe; die with the test */
		dup2(fds[1], STDOUT_FILENO);
		/* keep nothing of the test's (sockets, temp files) but stdio */
		if (close_range(3, ~0U, 0) != 0) {
			long fd, max = sysconf(_SC_OPEN_MAX);
			for (fd = 3; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
				close((int)fd);
		}
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(127);
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "emu_start: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	free(argv);
	free(wstore);

	/* read "PORT n\n" */
	deadline = now_s() + (nw ? 120.0 : 10.0);
	while (got < sizeof(line) - 1 && !memchr(line, '\n', got)) {
		struct pollfd p = { fds[0], POLLIN, 0 };
		double left = deadline - now_s();
		ssize_t n;
		if (left <= 0)
			break;
		if (poll(&p, 1, (int)(left * 1000) + 1) <= 0)
			continue;
		n = read(fds[0], line + got, sizeof(line) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fds[0]);
	line[got] = 0;
	if (sscanf(line, "PORT %d", &e->port) != 1 || e->port <= 0) {
		fprintf(stderr, "emu_start: %s did not report its port (got '%s')\n", bin, line);
		kill(e->pid, SIGKILL);
		reap(e, 5);
		return -1;
	}
	if (strchr(listen, ':'))
		snprintf(e->url, sizeof(e->url), "%s://[%s]:%d", tls ? "https" : "http", listen, e->port);
	else
		snprintf(e->url, sizeof(e->url), "%s://%s:%d", tls ? "https" : "http",
			 strcmp(listen, "0.0.0.0") ? listen : "127.0.0.1", e->port);
	return 0;
}

void emu_stop(emu_t *e)
{
	if (!e || e->pid <= 0)
		return;
	kill(e->pid, SIGTERM);
	reap(e, getenv("PEX_EMULATOR_WRAPPER") ? 60.0 : 5.0);
}

typedef struct membuf {
	char *p;
	size_t n;
} membuf;

static size_t collect(char *data, size_t sz, size_t nm, void *ud)
{
	membuf *b = ud;
	size_t n = sz * nm;
	char *q = realloc(b->p, b->n + n + 1);
	if (!q)
		return 0;
	b->p = q;
	memcpy(b->p + b->n, data, n);
	b->n += n;
	b->p[b->n] = 0;
	return n;
}

static int request(emu_t *e, const char *method, const char *path, const char *body, int basic, char **out)
{
	CURL *h;
	struct curl_slist *hdrs = NULL;
	membuf b = { NULL, 0 };
	char url[1200];
	long status = -1;
	CURLcode cc;
	if (out)
		*out = NULL;
	if (!e || e->pid <= 0 || strlen(path) > 1000)
		return -1;
	h = curl_easy_init();
	if (!h)
		return -1;
	snprintf(url, sizeof(url), "%s%s", e->url, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	if (basic) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(h, CURLOPT_USERPWD, "admin:admin");
	}
	if (body) {
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	} else if (!strcmp(method, "POST")) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
	}
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	if (!strcmp(method, "HEAD"))
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET") != 0 || body)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	cc = curl_easy_perform(h);
	if (cc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	else
		status = -1;
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	if (out)
		*out = b.p;
	else
		free(b.p);
	return (int)status;
}

int emu_ctl(emu_t *e, const char *method, const char *path, const char *json_body, char **resp_out)
{
	return request(e, method, path, json_body, 0, resp_out);
}

int emu_api(emu_t *e, const char *method, const char *path, const char *json_body, char **resp_out)
{
	return request(e, method, path, json_body, 1, resp_out);
}

long long emu_stat(emu_t *e, const char *key)
{
	char *body = NULL, *path, *save = NULL, *tok;
	json_object *root, *cur;
	long long v = -1;
	if (emu_ctl(e, "GET", "/_emu/stats", NULL, &body) != 200 || !body) {
		free(body);
		return -1;
	}
	root = json_tokener_parse(body);
	free(body);
	if (!root)
		return -1;
	path = strdup(key);
	cur = root;
	for (tok = path ? strtok_r(path, ".", &save) : NULL; tok && cur; tok = strtok_r(NULL, ".", &save)) {
		json_object *next = NULL;
		if (!json_object_object_get_ex(cur, tok, &next))
			next = NULL;
		cur = next;
	}
	if (path && cur && json_object_is_type(cur, json_type_int))
		v = json_object_get_int64(cur);
	else if (path && !cur && strncmp(key, "by_", 3) == 0)
		v = 0; /* by_status/by_method omit zero entries */
	free(path);
	json_object_put(root);
	return v;
}
