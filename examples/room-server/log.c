/* room-server: the log lines (server, library and access), one writer.
 *
 * Every line is one JSON object or one text line (log.format), with a
 * timestamp, the level, the component and the message, then the fields
 * (pex_log(3) has the table). A request's handler runs with its request id
 * as the thread's log context (rs_log_context), so the library's Pexip
 * request lines made on that thread carry it (docs/DECISIONS.md). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/uio.h>

#include "server.h"

/* log.level and log.format: a reload changes them while threads log */
static _Atomic pex_log_level g_level = PEX_LOG_INFO;
static atomic_int g_json;

static pthread_mutex_t g_log_lock = PTHREAD_MUTEX_INITIALIZER;

/* the request this thread works for (NULL: none) */
static _Thread_local const char *g_request_id;

void rs_log_context(const char *request_id)
{
	g_request_id = request_id;
}

void rs_log_settings(pex_log_level level, int json)
{
	atomic_store(&g_level, level);
	atomic_store(&g_json, json);
}

int rs_log_enabled(pex_log_level level)
{
	return level <= atomic_load(&g_level);
}

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

/* "2026-11-22T03:19:00.123Z": the second formatted once a second per
 * thread, the milliseconds per line. */
static void log_time(char *out, size_t n)
{
	static _Thread_local time_t cached_sec = -1;
	static _Thread_local char cached[24];
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	if (now.tv_sec != cached_sec) {
		struct tm tm;
		gmtime_r(&now.tv_sec, &tm);
		snprintf(cached, sizeof(cached), "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
			tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		cached_sec = now.tv_sec;
	}
	snprintf(out, n, "%s.%03ldZ", cached, now.tv_nsec / 1000000);
}

/* Write one line: @p msg and the fields must be escaped already
 * (pex_log_escape). The thread's request id is added unless a field has
 * one. */
void rs_log_fields(pex_log_level level, const char *component, const char *msg,
	const pex_log_field *fields, size_t count)
{
	pex_log_field all[RS_LOG_FIELDS_MAX + 1];
	char ts[40];
	rs_text t;
	size_t i, n = 0;
	int has_id = 0;

	if (!rs_log_enabled(level))
		return;
	for (i = 0; i < count && n < RS_LOG_FIELDS_MAX; i++) {
		has_id |= strcmp(fields[i].key, "request_id") == 0;
		all[n++] = fields[i];
	}
	if (!has_id && g_request_id) {
		all[n].key = "request_id";
		all[n].str = g_request_id;
		all[n++].num = 0;
	}
	log_time(ts, sizeof(ts));
	rs_text_init(&t);
	if (atomic_load(&g_json))
		rs_log_line_json(&t, ts, pex_log_level_name(level), component, msg, all, n);
	else
		rs_log_line_text(&t, ts, pex_log_level_name(level), component, msg, all, n);
	if (!t.oom)
		rs_log_write(t.ptr, t.len);
	rs_text_dispose(&t);
}

void rs_log(pex_log_level level, const char *fmt, ...)
{
	char raw[1536], msg[2048];
	va_list ap;
	if (!rs_log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	/* text from a request (a path, a method) cannot start a line of its
	 * own, drive a terminal or put invalid UTF-8 in a log */
	pex_log_escape(msg, sizeof(msg), raw);
	rs_log_fields(level, "room-server", msg, NULL, 0);
}

/* The library's lines: escaped by the library already (escaping twice
 * changes nothing, so a record from elsewhere is safe too). */
void rs_log_record_cb(pex_log_level level, const char *message, const pex_log_field *fields,
	size_t count, void *payload)
{
	(void)payload;
	rs_log_fields(level, "pexipsdk", message, fields, count);
}

void rs_log_cb(pex_log_level level, const char *message, void *payload)
{
	rs_log_record_cb(level, message, NULL, 0, payload);
}
