/* libmicrohttpd glue: request state, body limits, responses, access log. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <openssl/rand.h>

#include "server.h"

long long rs_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double elapsed_s(const struct timespec *start)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* ---- responses ---- */

enum MHD_Result rs_send(struct MHD_Connection *c, rs_request *r, unsigned status,
	const char *ctype, const char *body, size_t len, const char *allow)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char took[32];

	resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	snprintf(took, sizeof(took), "%.6f", elapsed_s(&r->start));
	MHD_add_response_header(resp, "Content-Type", ctype ? ctype : "application/json");
	MHD_add_response_header(resp, "X-Process-Time", took);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "X-Request-Id", r->request_id);
	if (allow)
		MHD_add_response_header(resp, "Allow", allow);
	if (r->closing)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	if (r->retry_after) {
		char ra[16];
		snprintf(ra, sizeof(ra), "%u", r->retry_after);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
	}
	if (status == MHD_HTTP_UNAUTHORIZED && r->path && strcmp(r->path, "/public/event_sink") == 0)
		MHD_add_response_header(resp, "WWW-Authenticate", "Basic realm=\"event_sink\"");
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	r->status = (int)status;
	r->bytes = len;
	r->answered = 1;
	return ret;
}

enum MHD_Result rs_send_json(struct MHD_Connection *c, rs_request *r, unsigned status, json_object *o)
{
	size_t len = 0;
	const char *text = json_object_to_json_string_length(o,
		JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	enum MHD_Result ret = rs_send(c, r, status, NULL, text, len, NULL);
	json_object_put(o);
	return ret;
}

enum MHD_Result rs_send_error(struct MHD_Connection *c, rs_request *r, unsigned status,
	const char *code, const char *fmt, ...)
{
	char msg[512];
	enum MHD_Result ret;
	va_list ap;
	rs_text t;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rs_text_init(&t);
	rs_json_error(&t, code, msg);
	ret = t.oom ? MHD_NO : rs_send(c, r, status, NULL, t.ptr, t.len, NULL);
	rs_text_dispose(&t);
	return ret;
}

enum MHD_Result rs_send_pex_error(struct MHD_Connection *c, rs_request *r, int err)
{
	const char *msg = pex_error_last()->message;
	switch (err) {
	case PEX_EINVAL:
	case PEX_EPARSE:
		return rs_send_error(c, r, 400, "bad_request", "%s", msg);
	case PEX_ENOTFOUND:
		return rs_send_error(c, r, 404, "not_found", "%s", msg);
	case PEX_EEXISTS:
		return rs_send_error(c, r, 409, "conflict", "%s", msg);
	case PEX_EEMPTY:
		return rs_send_error(c, r, 503, "pool_empty", "%s", msg);
	case PEX_EBACKEND:
	case PEX_ELEASELOST:
		return rs_send_error(c, r, 503, "queue_unavailable", "%s", msg);
	case PEX_ENOMEM:
		return rs_send_error(c, r, 500, "internal", "%s", msg);
	default:
		/* Pexip said no, or could not be reached (after retries). */
		return rs_send_error(c, r, 502, "upstream_error", "%s", msg);
	}
}

/* ---- request state ---- */

/* The access log shows the path and the keys of the query arguments,
 * never their values (they may be a secret, a UUI or a token). */
typedef struct log_path_ctx {
	rs_text *t;
	int has_query;      /* a '?' is in already (the path may hold one) */
} log_path_ctx;

static enum MHD_Result add_query_key(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	log_path_ctx *x = cls;
	(void)kind;
	(void)value;
	rs_text_put(x->t, x->has_query ? "&" : "?", 1);
	rs_text_puts(x->t, key);
	x->has_query = 1;
	return MHD_YES;
}

/* A new request id: 16 random hex digits, or a counter when there is no
 * randomness (the id only ties log lines together). */
static void request_id_new(char *out, size_t size)
{
	static atomic_ullong counter;
	unsigned char b[8];
	if (RAND_bytes(b, sizeof(b)) != 1)
		snprintf(out, size, "%016llx", atomic_fetch_add(&counter, 1) + 1);
	else
		snprintf(out, size, "%02x%02x%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5],
			b[6], b[7]);
}

/* The peer's address and the request id: a good incoming X-Request-Id
 * (rs_request_id_ok) is kept, anything else is replaced by a new one, so
 * what a client sent never reaches the log unchecked. */
static void request_ids(struct MHD_Connection *c, rs_request *r)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const char *id = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Request-Id");

	rs_peer_text(ci ? ci->client_addr : NULL, r->remote, sizeof(r->remote));
	if (id && rs_request_id_ok(id))
		snprintf(r->request_id, sizeof(r->request_id), "%s", id);
	else
		request_id_new(r->request_id, sizeof(r->request_id));
}

/* One allocation: the state, then the path, and the log path and the
 * method escaped for the log (pex_log_escape). */
static rs_request *request_new(struct MHD_Connection *c, const char *method, const char *url)
{
	size_t ulen = strlen(url), llen, mlen;
	rs_text lp;
	log_path_ctx x;
	rs_request *r;

	rs_text_init(&lp);
	rs_text_put(&lp, url, ulen);
	x.t = &lp;
	x.has_query = strchr(url, '?') != NULL;
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, add_query_key, &x);
	llen = pex_log_escape(NULL, 0, lp.ptr);
	mlen = pex_log_escape(NULL, 0, method);
	if (lp.oom || !(r = calloc(1, sizeof(*r) + ulen + llen + mlen + 3))) {
		rs_text_dispose(&lp);
		return NULL;
	}
	clock_gettime(CLOCK_MONOTONIC, &r->start);
	request_ids(c, r);
	r->method = method;
	r->path = r->mem;
	memcpy(r->path, url, ulen + 1);
	r->log_path = r->path + ulen + 1;
	pex_log_escape(r->log_path, llen + 1, lp.ptr);
	r->log_method = r->log_path + llen + 1;
	pex_log_escape(r->log_method, mlen + 1, method);
	rs_text_dispose(&lp);
	return r;
}

static void request_free(rs_request *r)
{
	if (!r)
		return;
	free(r->body);
	free(r->lookup_body);
	free(r);
}

/* ---- the access handler ---- */

#define METHOD_NOT_ALLOWED \
	"{\"error\":{\"code\":\"method_not_allowed\",\"message\":\"method not allowed on this route\"}}"

/* What the URI log callback leaves for the access handler: the request
 * target held "%00" before libmicrohttpd decoded it. */
static char nul_target;

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	(void)cls;
	(void)c;
	return rs_target_has_nul(uri) ? &nul_target : NULL;
}

static enum MHD_Result framing_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	rs_framing_header(cls, key, value);
	return MHD_YES;
}

typedef struct query_ctx {
	rs_query q;
	char why[160];
	int bad;
} query_ctx;

static enum MHD_Result query_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	query_ctx *x = cls;
	(void)kind;
	if (rs_query_arg(&x->q, key, value, x->why, sizeof(x->why)) < 0) {
		x->bad = 1;
		return MHD_NO;
	}
	return MHD_YES;
}

/* The checks on the headers and the target that come before any route:
 * 0, or -1 with the 400 queued (in *ret). Framing errors close the
 * connection: what follows the headers cannot be trusted to be a body. */
static int check_request(struct MHD_Connection *c, rs_request *r, int nul, enum MHD_Result *ret)
{
	rs_framing f;
	query_ctx q;
	char why[160];

	memset(&f, 0, sizeof(f));
	MHD_get_connection_values(c, MHD_HEADER_KIND, framing_header, &f);
	if (rs_framing_check(&f, why, sizeof(why)) < 0) {
		r->closing = 1;
		rs_log(PEX_LOG_INFO, "%s %s: refused: %s", r->log_method, r->log_path, why);
		*ret = rs_send_error(c, r, 400, "bad_request", "%s", why);
		return -1;
	}
	/* libmicrohttpd reads the chunk framing itself and takes chunks framed
	 * by a bare LF (SECURITY.md): whatever it made of the body, nothing
	 * after a chunked request is read as another request on this
	 * connection. */
	if (f.transfer_encodings)
		r->closing = 1;
	if (nul) {
		*ret = rs_send_error(c, r, 400, "bad_request", "the request target holds %%00");
		return -1;
	}
	if (!rs_clean_text(r->path)) {
		*ret = rs_send_error(c, r, 400, "bad_request",
			"the path holds a control character or bytes that are not UTF-8");
		return -1;
	}
	memset(&q, 0, sizeof(q));
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, query_arg, &q);
	if (q.bad) {
		*ret = rs_send_error(c, r, 400, "bad_request", "%s", q.why);
		return -1;
	}
	return 0;
}

static enum MHD_Result handle_request(rs_server *s, struct MHD_Connection *c, const char *url,
	const char *method, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	rs_request *r = *con_cls;
	int nul = 0;

	if ((void *)r == (void *)&nul_target) {
		nul = 1;
		r = NULL;
	}
	if (!r) {
		rs_route_info info;
		enum MHD_Result ret = MHD_YES;
		const char *cl;

		*con_cls = NULL;
		if (!(r = request_new(c, method, url)))
			return MHD_NO;
		*con_cls = r;
		rs_log_context(r->request_id);
		atomic_fetch_add(&s->in_flight, 1);
		rs_conn_headers_done(s, c);

		/* Shutting down: refuse new requests and close the connection,
		 * so keep-alive clients go away and the drain can finish. */
		if (atomic_load(&s->stopping)) {
			r->closing = 1;
			/* the probes answer for themselves: "stopping" */
			if (!rs_route_is_probe(r->path))
				return rs_send_error(c, r, 503, "shutting_down", "the server is shutting down");
		}
		if (check_request(c, r, nul, &ret) < 0)
			return ret;

		/* Everything that needs only the headers is decided now, before
		 * any body is read. */
		rs_route_classify(&info, method, r->path);
		if (rs_route_auth(s, c, r, &info, &ret) != 0)
			return ret;
		if (!info.known)
			return rs_send_error(c, r, 404, "not_found", "no route for %s", r->path);
		if (!info.method_ok)
			return rs_send(c, r, 405, NULL, METHOD_NOT_ALLOWED, strlen(METHOD_NOT_ALLOWED), info.allow);
		r->limit = info.event_sink ? RS_EVENT_BODY_MAX : RS_BODY_MAX;
		cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl) {
			unsigned long long n;
			const char *expect;
			if (rs_content_length(cl, &n) < 0)
				return rs_send_error(c, r, 400, "bad_request", "Content-Length is not a number");
			if (n > r->limit) {
				/* A client that asked "Expect: 100-continue" has sent
				 * nothing yet: answer now and it never will. One that is
				 * already sending gets its body read and dropped first
				 * (up to RS_DRAIN_MAX), then the 413. */
				expect = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
				if ((expect && strcasecmp(expect, "100-continue") == 0) || n > RS_DRAIN_MAX)
					return rs_send_error(c, r, 413, "payload_too_large",
						"request body is larger than %zu bytes", r->limit);
				r->too_large = 1;
			}
		}
		return MHD_YES;
	}
	if (r->answered) {
		/* answered early: drop whatever body still arrives */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (rs_body_append(r, upload_data, *upload_data_size) < 0)
			return MHD_NO;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (r->too_large)
		return rs_send_error(c, r, 413, "payload_too_large",
			"request body is larger than %zu bytes", r->limit);
	return rs_route_dispatch(s, c, r);
}

/* Everything logged while the request's handler runs on this thread
 * carries its request id (the library's Pexip request lines too). */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
	const char *method, const char *version, const char *upload_data,
	size_t *upload_data_size, void **con_cls)
{
	rs_request *r = *con_cls;
	enum MHD_Result ret;
	(void)version;

	if (r && (void *)r != (void *)&nul_target)
		rs_log_context(r->request_id);
	ret = handle_request(cls, c, url, method, upload_data, upload_data_size, con_cls);
	rs_log_context(NULL);
	return ret;
}

/* The access log line: at debug for the probes, so they are left out
 * below log.level debug (examples/README.md). */
static void access_line(const rs_request *r, int aborted)
{
	pex_log_field f[] = {
		{ "method", r->log_method, 0 }, { "path", r->log_path, 0 },
		{ "status", NULL, r->answered ? r->status : 0 },
		{ "duration_ms", NULL, (long long)(elapsed_s(&r->start) * 1e3) },
		{ "bytes", NULL, (long long)r->bytes }, { "remote", r->remote, 0 },
		{ "request_id", r->request_id, 0 }, { "aborted", NULL, 1 } };
	rs_log_fields(r->quiet ? PEX_LOG_DEBUG : PEX_LOG_INFO, "access", "request", f,
		sizeof(f) / sizeof(f[0]) - !aborted);
}

/* The request is over (answered, or the connection died): access log line,
 * free the state, one request fewer in flight. */
static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
	enum MHD_RequestTerminationCode toe)
{
	rs_server *s = cls;
	rs_request *r = *con_cls;

	if (!r || (void *)r == (void *)&nul_target) {
		*con_cls = NULL;
		return;
	}
	*con_cls = NULL;
	rs_conn_request_done(s, c);
	/* rooms were handed out (the answer is sent, or the client went away
	 * with it): queue their replacements now */
	if (r->replenish)
		rs_jobs_replenish(s, r->replenish);
	access_line(r, toe != MHD_REQUEST_TERMINATED_COMPLETED_OK);
	request_free(r);
	atomic_fetch_sub(&s->in_flight, 1);
}

/* ---- connections and the header deadline ---- */

typedef struct rs_conn {
	struct rs_conn *prev, *next;
	MHD_socket fd;
	long long deadline;     /* monotonic ms the headers must be in by; 0: in */
} rs_conn;

static rs_conn *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

static void conn_set_deadline(rs_server *s, struct MHD_Connection *c, unsigned seconds)
{
	rs_conn *k = conn_of(c);
	if (!k)
		return;
	pthread_mutex_lock(&s->conns_lock);
	k->deadline = seconds ? rs_now_ms() + (long long)seconds * 1000 : 0;
	pthread_mutex_unlock(&s->conns_lock);
}

void rs_conn_headers_done(rs_server *s, struct MHD_Connection *c)
{
	conn_set_deadline(s, c, 0);
}

void rs_conn_request_done(rs_server *s, struct MHD_Connection *c)
{
	conn_set_deadline(s, c, s->header_timeout_s ? RS_IDLE_TIMEOUT_S : 0);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
	enum MHD_ConnectionNotificationCode toe)
{
	rs_server *s = cls;
	rs_conn *k = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (!ci || !(k = calloc(1, sizeof(*k))))
			return;         /* no deadline for this one */
		k->fd = ci->connect_fd;
		k->deadline = s->header_timeout_s ? rs_now_ms() + (long long)s->header_timeout_s * 1000 : 0;
		pthread_mutex_lock(&s->conns_lock);
		k->next = s->conns;
		if (s->conns)
			s->conns->prev = k;
		s->conns = k;
		pthread_mutex_unlock(&s->conns_lock);
		*socket_context = k;
		return;
	}
	if (!k)
		return;
	/* libmicrohttpd closes the socket after this: unlinked under the
	 * lock, the watchdog never shuts down a reused descriptor */
	pthread_mutex_lock(&s->conns_lock);
	if (k->prev)
		k->prev->next = k->next;
	else
		s->conns = k->next;
	if (k->next)
		k->next->prev = k->prev;
	pthread_mutex_unlock(&s->conns_lock);
	free(k);
	*socket_context = NULL;
}

#define WATCHDOG_TICK_MS 250

/* Shut down the connections past their header deadline: libmicrohttpd
 * then reads the end of the stream and closes them. */
static void *watchdog_main(void *arg)
{
	rs_server *s = arg;
	pthread_mutex_lock(&s->conns_lock);
	while (!s->watchdog_stopping) {
		struct timespec ts;
		long long now = rs_now_ms();
		size_t closed = 0;
		rs_conn *k;
		for (k = s->conns; k; k = k->next) {
			if (k->deadline && now >= k->deadline) {
				shutdown(k->fd, SHUT_RDWR);
				k->deadline = 0;
				closed++;
			}
		}
		if (closed)
			rs_log(PEX_LOG_INFO, "closed %zu connection(s) whose request headers were not in on time", closed);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += WATCHDOG_TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->conns_cond, &s->conns_lock, &ts);
	}
	pthread_mutex_unlock(&s->conns_lock);
	return NULL;
}

static int watchdog_start(rs_server *s)
{
	pthread_condattr_t ca;
	if (pthread_mutex_init(&s->conns_lock, NULL) != 0)
		return -1;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (pthread_cond_init(&s->conns_cond, &ca) != 0) {
		pthread_condattr_destroy(&ca);
		pthread_mutex_destroy(&s->conns_lock);
		return -1;
	}
	pthread_condattr_destroy(&ca);
	if (s->header_timeout_s && pthread_create(&s->watchdog, NULL, watchdog_main, s) != 0) {
		pthread_cond_destroy(&s->conns_cond);
		pthread_mutex_destroy(&s->conns_lock);
		return -1;
	}
	s->watchdog_started = 1;
	return 0;
}

/* After the daemon stopped (every connection is closed). */
static void watchdog_stop(rs_server *s)
{
	if (!s->watchdog_started)
		return;
	if (s->header_timeout_s)
		rs_thread_stop(&s->conns_lock, &s->conns_cond, &s->watchdog_stopping, s->watchdog);
	pthread_cond_destroy(&s->conns_cond);
	pthread_mutex_destroy(&s->conns_lock);
	s->watchdog_started = 0;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;
	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	rs_log(PEX_LOG_INFO, "libmicrohttpd: %s", msg);
}

int rs_http_start(rs_server *s, const char *host, unsigned port, unsigned threads, unsigned *bound_port)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG |
		MHD_ALLOW_SUSPEND_RESUME;
	const union MHD_DaemonInfo *info;

	memset(&ss, 0, sizeof(ss));
	if (strchr(host, ':')) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((unsigned short)port);
		if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
			return -1;
		sl = sizeof(*a6);
		flags |= MHD_USE_IPv6;
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
		a4->sin_family = AF_INET;
		a4->sin_port = htons((unsigned short)port);
		if (strcmp(host, "localhost") == 0)
			host = "127.0.0.1";
		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
			return -1;
		sl = sizeof(*a4);
	}
	(void)sl;
	if (watchdog_start(s) < 0)
		return -1;
	s->daemon = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, s,
		/* first: libmicrohttpd's messages about the options go through it too */
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_THREAD_POOL_SIZE, threads,
		/* headers (and MHD's bookkeeping) beyond this get 431 */
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024),
		MHD_OPTION_CONNECTION_TIMEOUT, RS_IDLE_TIMEOUT_S,
		MHD_OPTION_CONNECTION_LIMIT, 1000u,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, s->per_ip_limit,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
		MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
		MHD_OPTION_END);
	if (!s->daemon) {
		watchdog_stop(s);
		return -1;
	}
	info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	*bound_port = info ? info->port : port;
	return 0;
}

/* Stop accepting, let the requests in flight finish (for at most
 * @p drain_ms), then stop the daemon. */
void rs_http_stop(rs_server *s, long drain_ms)
{
	MHD_socket fd;
	long long until;
	if (!s->daemon)
		return;
	atomic_store(&s->stopping, 1);
	fd = MHD_quiesce_daemon(s->daemon);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	until = rs_now_ms() + drain_ms;
	while (atomic_load(&s->in_flight) > 0 && rs_now_ms() < until)
		usleep(10 * 1000);
	if (atomic_load(&s->in_flight) > 0)
		rs_log(PEX_LOG_WARN, "stopping with %d request(s) still in flight", atomic_load(&s->in_flight));
	/* a public lookup still in Pexip resumes its connection when done */
	rs_public_wait(s);
	MHD_stop_daemon(s->daemon);
	s->daemon = NULL;
	watchdog_stop(s);
}
