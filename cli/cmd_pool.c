/* pexctl create | gc | pool fill|status|drain | event | uui decode | metrics:
 * the commands that work on the room pool (pex_pool_*, pex_gc_sweep), each
 * a thin shell over one library call that prints its report as text or as
 * one --json document (pexctl(1)). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>   /* optind, optarg */
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "pexctl.h"

#define EVENT_MAX_BYTES (4u * 1024u * 1024u)

/* The pool's lines: debug ones only with -v, whatever log.level says. */
static void pool_record(pex_log_level level, const char *message, const pex_log_field *fields,
	size_t count, void *payload)
{
	pexctl *ctl = payload;
	if (ctl->verbose || level <= PEX_LOG_INFO)
		pexctl_log(ctl, level, message, fields, count);
}

static void log_to_stderr(pex_log_level level, const char *message, void *payload)
{
	pool_record(level, message, NULL, 0, payload);
}

/* What a command does with the queue: only read it (status, metrics, gc,
 * drain: a missing SQLite file is an error, never a new empty queue), or
 * build the pool (fill, create, event: created if missing). */
enum { QUEUE_READ, QUEUE_CREATE };

static int open_pool(pexctl *ctl, pex_pool **out, int use)
{
	int err;
	if ((err = pexctl_config(ctl)) < 0)
		return err;
	if (use == QUEUE_READ && (err = pexctl_queue_must_exist(ctl)) < 0)
		return err;
	/* -v and -q set log.level when the configuration is loaded (pexctl_config) */
	if ((err = pex_pool_new_from_config(out, ctl->cfg, log_to_stderr, ctl)) < 0)
		return err;
	pexctl_log_records(ctl, pex_pool_client(*out), pool_record);    /* a client: cannot fail */
	return 0;
}

static int parse_count(pexctl *ctl, const char *what, const char *s, long long max, long long *out)
{
	char *end;
	long long v;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > max)
		return pexctl_usage(ctl, "%s must be a whole number from 0 to %lld (got '%s')", what, max, s);
	*out = v;
	return -1;
}

static int progress_cb(size_t done, size_t total, void *payload)
{
	pexctl *ctl = payload;
	pexctl_progress(ctl, done, total, "working");
	return 0;
}

/* One count of a --json report: its key and its value. */
typedef struct report_count {
	const char *key;
	size_t n;
} report_count;

/* A JSON object of the counts up to the one with a NULL key. */
static json_object *counts_json(const report_count *c)
{
	json_object *o = json_object_new_object();
	for (; c->key; c++)
		json_object_object_add(o, c->key, json_object_new_int64((int64_t)c->n));
	return o;
}

/* ---- create ---- */

/* ---- replenish failures ----
 *
 * The replacement that create leaves behind records each failure as a
 * message on a queue beside the pool's, "<pool.queue>-failures", on the
 * same backend (SQLite file or Azure account), so that every process that
 * shares the pool, and 'pool status', sees them; a successful replacement
 * clears it (docs/DECISIONS.md #45). */

static int open_failures(pexctl *ctl, pex_queue **out)
{
	const char *pool_q = "room-creation-queue";
	char name[64];
	size_t n;
	if (pex_config_get_string(&pool_q, ctl->cfg, "pool.queue") < 0)
		pex_error_clear();
	/* a queue name is at most 63 characters and never ends in '-' */
	n = strlen(pool_q) > 54 ? 54 : strlen(pool_q);
	while (n > 0 && pool_q[n - 1] == '-')
		n--;
	snprintf(name, sizeof(name), "%.*s-failures", (int)n, pool_q);
	return pex_queue_open_config(out, ctl->cfg, name);
}

/* Record (@p failed) or clear the failures; best effort: this is a report. */
static void note_replenish(pexctl *ctl, int failed, const char *message)
{
	pex_queue *q = NULL;
	char text[600];
	size_t n = 0;
	if (open_failures(ctl, &q) == 0) {
		if (failed) {
			int len = snprintf(text, sizeof(text), "%lld %s", (long long)time(NULL), message);
			pex_queue_put(q, text, len < 0 ? 0 : (size_t)len < sizeof(text) ? (size_t)len :
				sizeof(text) - 1, 0);
		} else if (pex_queue_count(&n, q) == 0 && n > 0) {
			pex_queue_clear(q);
		}
	}
	pex_queue_free(q);
}

/* How many failures are recorded, and the text of the latest of the first
 * 32 ("" if none) in @p last. */
static int replenish_failures(pexctl *ctl, size_t *count, char *last, size_t size)
{
	pex_queue *q = NULL;
	pex_message **m = NULL;
	size_t n = 0;
	int err;
	*count = 0;
	last[0] = '\0';
	if ((err = open_failures(ctl, &q)) == 0 && (err = pex_queue_count(count, q)) == 0 &&
	    *count > 0 && (err = pex_queue_peek(&m, &n, q, 32)) == 0 && n > 0)
		snprintf(last, size, "%.*s", (int)m[n - 1]->len, (const char *)m[n - 1]->data);
	pex_message_array_free(m, n);
	pex_queue_free(q);
	return err;
}

/* Replace the room handed out, in a detached child so the caller does not
 * wait for Pexip's create. The child builds its own pool: a SQLite
 * connection must not cross a fork. A failure goes to stderr in the
 * foreground (--wait), to syslog when detached (its stderr is /dev/null),
 * and onto the failures queue that 'pool status' reads. */
static void replenish_detached(pexctl *ctl, int wait)
{
	pex_pool *pool = NULL;
	size_t created = 0;
	char msg[1100];
	int err;
	pid_t pid;
	/* The caller gets the room now, whatever happens to the replacement. */
	fflush(stdout);
	fflush(stderr);
	if (!wait) {
		pid = fork();
		if (pid != 0)
			return;   /* parent (or fork failed: the next fill catches up) */
		setsid();
		{
			int fd = open("/dev/null", O_RDWR);
			if (fd >= 0) {
				dup2(fd, STDIN_FILENO);
				dup2(fd, STDOUT_FILENO);
				dup2(fd, STDERR_FILENO);
				if (fd > 2)
					close(fd);
			}
		}
	}
	if ((err = open_pool(ctl, &pool, QUEUE_CREATE)) == 0)
		err = pex_pool_replenish(&created, pool, 1, NULL, NULL);
	pex_pool_free(pool);
	if (err < 0) {
		snprintf(msg, sizeof(msg), "%s", pex_error_last()->code == err ?
			pex_error_last()->message : pex_strerror(err));
		if (wait) {
			pexctl_logf(ctl, PEX_LOG_WARN, "replacing the room failed: %s", msg);
		} else {
			openlog("pexctl", LOG_PID, LOG_USER);
			syslog(LOG_WARNING, "replacing the room handed out failed: %s", msg);
			closelog();
		}
	}
	note_replenish(ctl, err < 0, msg);
	if (!wait)
		_exit(0);
}

int cmd_create(pexctl *ctl, int argc, char **argv)
{
	const char *uui = NULL, *tag = NULL;
	pex_pool *pool = NULL;
	pex_pool_room *room = NULL;
	int c, err, wait = 0, replenish = 1;

	while ((c = pexctl_getopt(ctl, argc, argv)) != -1) {
		switch (c) {
		case 'u': uui = optarg; break;
		case 't': tag = optarg; break;
		case 'w': wait = 1; break;
		case 'n': replenish = 0; break;
		default: return pexctl_bad_option(ctl, argv);
		}
	}
	if (optind != argc)
		return pexctl_usage(ctl, "create takes no operands (got '%s')", argv[optind]);
	if (uui && tag)
		return pexctl_usage(ctl, "create: give --uui or --tag-url, not both");
	if ((err = open_pool(ctl, &pool, QUEUE_CREATE)) < 0)
		return pexctl_fail(ctl, err, NULL);
	err = pex_pool_pop(&room, pool, uui, tag);
	pex_pool_free(pool);    /* before any fork: the child opens its own */
	if (err == PEX_EEMPTY) {
		/* the message says when; --json has it as a number too */
		json_object *report = json_object_new_object();
		json_object_object_add(report, "retry_after_s", json_object_new_int64(pex_pool_retry_after()));
		return pexctl_fail_report(ctl, report, err, NULL);
	}
	if (err < 0)
		return pexctl_fail(ctl, err, NULL);
	if (ctl->json) {
		pex_buf b = PEX_BUF_INIT;
		pexctl_print_json(pexctl_json_parse(pex_pool_room_to_json(&b, room), &b));
	} else
		printf("name:       %s\nid:         %lld\nalias:      %s\nguest_pin:  %s\ntag:        %s\n",
			room->name, room->id, room->alias, room->guest_pin, room->tag);
	pex_pool_room_free(room);
	if (replenish)
		replenish_detached(ctl, wait);
	return EXIT_OK;
}

/* ---- gc ---- */

int cmd_gc(pexctl *ctl, int argc, char **argv)
{
	pex_gc_options o = PEX_GC_OPTIONS_INIT;
	pex_gc_report rep = PEX_GC_REPORT_INIT;
	pex_pool *pool = NULL;
	json_object *d = NULL;
	long long v = 0;
	int c, err, rc;

	while ((c = pexctl_getopt(ctl, argc, argv)) != -1) {
		switch (c) {
		case 'd': o.dry_run = 1; break;
		case 'o': o.orphans = 1; break;
		case 'a':
			if ((rc = parse_count(ctl, "--min-age", optarg, 604800, &v)) >= 0)
				return rc;
			o.min_age_s = (unsigned)v;
			break;
		case 'm':
			if ((rc = parse_count(ctl, "--max", optarg, 10000000, &v)) >= 0)
				return rc;
			o.max = (size_t)v;
			break;
		default: return pexctl_bad_option(ctl, argv);
		}
	}
	if (optind != argc)
		return pexctl_usage(ctl, "gc takes no operands (got '%s')", argv[optind]);
	if ((err = open_pool(ctl, &pool, QUEUE_READ)) < 0)
		return pexctl_fail(ctl, err, NULL);
	pex_gc_report_init(&rep, PEX_GC_REPORT_VERSION);
	err = pex_gc_sweep(&rep, pool, &o, progress_cb, ctl);
	pexctl_progress_end(ctl);
	pex_pool_free(pool);
	if (ctl->json) {
		const report_count counts[] = {
			{ "deleted", rep.deleted }, { "postponed_live", rep.postponed_live },
			{ "skipped_protected", rep.skipped_protected },
			{ "skipped_foreign", rep.skipped_foreign }, { "already_gone", rep.already_gone },
			{ "failed", rep.failed }, { "orphans_found", rep.orphans_found },
			{ "orphans_deleted", rep.orphans_deleted }, { NULL, 0 }
		};
		d = counts_json(counts);
		json_object_object_add(d, "dry_run", json_object_new_boolean(o.dry_run));
	} else if (!ctl->quiet) {
		printf("%sdeleted %zu, already gone %zu, postponed (live) %zu, protected %zu, "
			"not the pool's %zu, failed %zu", o.dry_run ? "dry run: would have " : "", rep.deleted,
			rep.already_gone, rep.postponed_live, rep.skipped_protected, rep.skipped_foreign, rep.failed);
		if (o.orphans)
			printf("; orphans found %zu, deleted %zu", rep.orphans_found, rep.orphans_deleted);
		printf("\n");
	}
	if (err < 0)
		return pexctl_fail_report(ctl, d, err, "gc");
	if (d)
		pexctl_print_json(d);
	return EXIT_OK;
}

/* ---- pool fill | status | drain ---- */

static int pool_status(pexctl *ctl, pex_pool *pool, json_object **report)
{
	pex_metrics m = PEX_METRICS_INIT;
	size_t failures = 0;
	char last[600];
	long long ready;
	int err;

	if ((err = pex_metrics_get(&m, pool)) < 0 ||
	    (err = replenish_failures(ctl, &failures, last, sizeof(last))) < 0)
		return err;
	ready = m.pool_depth > m.pool_maturing ? m.pool_depth - m.pool_maturing : 0;
	if (ctl->json) {
		json_object *o = *report = json_object_new_object();
		json_object_object_add(o, "pool_depth", json_object_new_int64(m.pool_depth));
		/* null when Pexip could not say how many are maturing */
		json_object_object_add(o, "pool_ready", m.pool_maturing < 0 ? NULL :
			json_object_new_int64(ready));
		json_object_object_add(o, "pool_maturing", m.pool_maturing < 0 ? NULL :
			json_object_new_int64(m.pool_maturing));
		json_object_object_add(o, "deletion_backlog", json_object_new_int64(m.deletion_backlog));
		json_object_object_add(o, "pexip_pool_rooms", json_object_new_int64(m.pexip_pool_rooms));
		json_object_object_add(o, "live_conferences", json_object_new_int64(m.live_conferences));
		json_object_object_add(o, "demand_rate", json_object_new_double(m.demand_rate));
		json_object_object_add(o, "target_depth", json_object_new_int64(m.target_depth));
		json_object_object_add(o, "empty_in_s", m.empty_in_s < 0 ? NULL :
			json_object_new_int64(m.empty_in_s));
		json_object_object_add(o, "replenish_failures", json_object_new_int64((int64_t)failures));
		json_object_object_add(o, "last_replenish_failure",
			last[0] ? json_object_new_string(last) : NULL);
		return 0;
	}
	if (m.pool_maturing < 0)
		printf("pool depth:        %lld (maturing unknown)\n", m.pool_depth);
	else
		printf("pool depth:        %lld (ready %lld, maturing %lld)\n", m.pool_depth, ready,
			m.pool_maturing);
	printf("demand:            %.2f rooms/s (target depth %lld", m.demand_rate, m.target_depth);
	if (m.empty_in_s >= 0)
		printf(", empty in %lld s at this rate", m.empty_in_s);
	printf(")\n");
	printf("deletion backlog:  %lld\npool rooms on Pexip: %lld\nlive conferences:  %lld\n"
		"replenish failures: %zu", m.deletion_backlog, m.pexip_pool_rooms,
		m.live_conferences, failures);
	printf(last[0] ? " (latest: %s)\n" : "%s\n", last);
	return 0;
}

static int pool_fill(pexctl *ctl, pex_pool *pool, unsigned depth, json_object **report)
{
	long long ready_after = 60, ready_in;
	size_t n = 0;
	int err = pex_pool_fill(&n, pool, depth, progress_cb, ctl);

	pexctl_progress_end(ctl);
	pex_config_get_int(&ready_after, ctl->cfg, "pool.ready_after_s");
	/* new rooms are invisible on the queue until ready (+1 s: see the pool) */
	ready_in = n && ready_after > 0 ? ready_after + 1 : 0;
	if (ctl->json) {
		*report = json_object_new_object();
		json_object_object_add(*report, "created", json_object_new_int64((int64_t)n));
		json_object_object_add(*report, "ready_in_s", json_object_new_int64(ready_in));
	} else if (!ctl->quiet) {
		printf("created %zu room%s", n, n == 1 ? "" : "s");
		if (ready_in)
			printf(", ready to hand out in %lld s (pool.ready_after_s: Pexip replicates new "
				"rooms first)", ready_in);
		printf("\n");
	}
	return err;
}

static int pool_drain(pexctl *ctl, pex_pool *pool, int del, json_object **report)
{
	size_t n = 0;
	int err = pex_pool_drain(&n, pool, del, progress_cb, ctl);

	pexctl_progress_end(ctl);
	if (ctl->json) {
		*report = json_object_new_object();
		json_object_object_add(*report, "drained", json_object_new_int64((int64_t)n));
		json_object_object_add(*report, "rooms_deleted", json_object_new_boolean(del));
	} else if (!ctl->quiet) {
		printf("drained %zu room%s%s\n", n, n == 1 ? "" : "s", del ? " (deleted on Pexip)" : "");
	}
	return err;
}

int cmd_pool(pexctl *ctl, int argc, char **argv)
{
	const char *sub;
	pex_pool *pool = NULL;
	json_object *report = NULL;
	long long depth = 0;
	int c, err, rc, del = 0;

	if (argc < 2)
		return pexctl_usage(ctl, "pool needs fill, status or drain");
	sub = argv[1];
	if (strcmp(sub, "fill") != 0 && strcmp(sub, "status") != 0 && strcmp(sub, "drain") != 0)
		return pexctl_usage(ctl, "pool: unknown subcommand '%s' (fill, status or drain)", sub);
	optind = 0;
	while ((c = pexctl_getopt(ctl, argc - 1, argv + 1)) != -1) {
		switch (c) {
		case 'd':
			if (strcmp(sub, "fill") != 0)
				return pexctl_usage(ctl, "pool %s: --depth is for 'pool fill'", sub);
			if ((rc = parse_count(ctl, "--depth", optarg, 100000, &depth)) >= 0)
				return rc;
			break;
		case 'x':
			if (strcmp(sub, "drain") != 0)
				return pexctl_usage(ctl, "pool %s: --delete is for 'pool drain'", sub);
			del = 1;
			break;
		default: return pexctl_bad_option(ctl, argv + 1);
		}
	}
	if (optind != argc - 1)
		return pexctl_usage(ctl, "pool %s takes no operands", sub);
	if ((err = open_pool(ctl, &pool, strcmp(sub, "fill") == 0 ? QUEUE_CREATE : QUEUE_READ)) < 0)
		return pexctl_fail(ctl, err, NULL);
	if (strcmp(sub, "status") == 0)
		err = pool_status(ctl, pool, &report);
	else if (strcmp(sub, "fill") == 0)
		err = pool_fill(ctl, pool, (unsigned)depth, &report);
	else
		err = pool_drain(ctl, pool, del, &report);
	pex_pool_free(pool);
	/* fill and drain report what they did, failed or not; status has
	 * nothing to report when it fails */
	if (err < 0)
		return pexctl_fail_report(ctl, report, err, strcmp(sub, "fill") == 0 ? "pool fill" :
			strcmp(sub, "drain") == 0 ? "pool drain" : NULL);
	if (report)
		pexctl_print_json(report);
	return EXIT_OK;
}

/* ---- event ---- */

/* Read FILE (or stdin for "-"). -1 on success, else the exit status (the
 * error already reported, as a JSON document with --json). A file that
 * cannot be opened is bad input (exit 2); a read error is I/O (exit 1). */
static int read_all(pexctl *ctl, const char *path, char **out, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	const char *shown = f == stdin ? "standard input" : path;
	char *buf = NULL;
	size_t n = 0, cap = 0;
	if (!f) {
		pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_OS, "cannot read %s: %s", path, strerror(errno));
		return pexctl_fail(ctl, PEX_EINVAL, "event");
	}
	for (;;) {
		size_t got;
		if (n + 65536 + 1 > cap) {
			char *nb;
			cap = cap ? cap * 2 : 65536 * 2;
			nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				if (f != stdin)
					fclose(f);
				pex_error_set(PEX_ENOMEM, PEX_ERROR_CLASS_NOMEMORY, "reading %s: out of memory", shown);
				return pexctl_fail(ctl, PEX_ENOMEM, "event");
			}
			buf = nb;
		}
		got = fread(buf + n, 1, 65536, f);
		n += got;
		if (n > EVENT_MAX_BYTES) {
			free(buf);
			if (f != stdin)
				fclose(f);
			return pexctl_usage(ctl, "event: payload larger than %u bytes", EVENT_MAX_BYTES);
		}
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		int e = errno;
		free(buf);
		if (f != stdin)
			fclose(f);
		pex_error_set(PEX_EIO, PEX_ERROR_CLASS_OS, "cannot read %s: %s", shown, strerror(e));
		return pexctl_fail(ctl, PEX_EIO, "event");
	}
	if (f != stdin)
		fclose(f);
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return -1;
}

int cmd_event(pexctl *ctl, int argc, char **argv)
{
	pex_event_report rep = PEX_EVENT_REPORT_INIT;
	pex_pool *pool = NULL;
	char *body = NULL;
	size_t len = 0;
	int err, rc;
	if (pexctl_getopt(ctl, argc, argv) != -1)
		return pexctl_bad_option(ctl, argv);
	if (argc - optind > 1)
		return pexctl_usage(ctl, "event takes at most one FILE");
	if ((rc = read_all(ctl, optind < argc ? argv[optind] : "-", &body, &len)) >= 0)
		return rc;
	if ((err = open_pool(ctl, &pool, QUEUE_CREATE)) < 0) {
		free(body);
		return pexctl_fail(ctl, err, NULL);
	}
	pex_event_report_init(&rep, PEX_EVENT_REPORT_VERSION);
	err = pex_event_handle(&rep, pool, body, len);
	free(body);
	pex_pool_free(pool);
	if (err < 0)
		return pexctl_fail(ctl, err, "event");
	if (ctl->json) {
		const report_count counts[] = {
			{ "events", rep.events }, { "scheduled", rep.scheduled },
			{ "protected_skipped", rep.protected_skipped }, { "foreign", rep.foreign },
			{ "ignored", rep.ignored }, { "unknown", rep.unknown }, { "skipped", rep.skipped },
			{ "capped", rep.capped }, { NULL, 0 }
		};
		pexctl_print_json(counts_json(counts));
	} else if (!ctl->quiet) {
		printf("%zu event%s: %zu scheduled for deletion, %zu protected, %zu not the pool's, "
			"%zu ignored, %zu unknown, %zu skipped (unusable), %zu over the limit of %d\n",
			rep.events, rep.events == 1 ? "" : "s", rep.scheduled, rep.protected_skipped,
			rep.foreign, rep.ignored, rep.unknown, rep.skipped, rep.capped, PEX_EVENT_SCHEDULE_MAX);
	}
	return EXIT_OK;
}

/* ---- uui decode ---- */

/* Needs only tag.*: with no configuration file found at all it runs on the
 * defaults (no template, no allowed hosts), which still checks the UUI. */
int cmd_uui(pexctl *ctl, int argc, char **argv)
{
	pex_tag_rules rules;
	pex_buf out = PEX_BUF_INIT;
	int err;
	if (argc != 3 || strcmp(argv[1], "decode") != 0)
		return pexctl_usage(ctl, "uui needs 'decode HEX'");
	if ((err = pexctl_config_or_defaults(ctl)) < 0 ||
	    (err = pexctl_tag_rules(ctl, &rules)) < 0)
		return pexctl_fail(ctl, err, NULL);
	if ((err = pex_uui_to_tag(&out, argv[2], &rules)) < 0)
		return pexctl_fail(ctl, err, NULL);
	if (ctl->json) {
		json_object *d = json_object_new_object();
		json_object_object_add(d, "tag", json_object_new_string(out.ptr));
		pexctl_print_json(d);
	} else {
		printf("%s\n", out.ptr);
	}
	pex_buf_dispose(&out);
	return EXIT_OK;
}

/* ---- metrics ---- */

/* Prometheus text without the counters (names ending in _total, with their
 * HELP and TYPE lines): a pexctl run's counters are its own, always 0, and
 * a textfile collector would show them as resets. */
static void print_gauges(const char *text)
{
	const char *line = text, *nl;
	for (; *line; line = nl ? nl + 1 : line + strlen(line)) {
		const char *name = line, *end;
		size_t len;
		nl = strchr(line, '\n');
		len = nl ? (size_t)(nl - line) : strlen(line);
		if (strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0)
			name = line + 7;
		for (end = name; end < line + len && *end != ' '; end++)
			;
		if (end - name >= 6 && strncmp(end - 6, "_total", 6) == 0)
			continue;
		fwrite(line, 1, len, stdout);
		fputc('\n', stdout);
	}
}

int cmd_metrics(pexctl *ctl, int argc, char **argv)
{
	pex_metrics_format fmt = ctl->json ? PEX_METRICS_JSON : PEX_METRICS_PROMETHEUS;
	int prometheus = 0, gauges = 0;
	pex_metrics m = PEX_METRICS_INIT;
	pex_pool *pool = NULL;
	pex_buf out = PEX_BUF_INIT;
	int c, err;

	while ((c = pexctl_getopt(ctl, argc, argv)) != -1) {
		if (c == 'g') {
			gauges = 1;
			continue;
		}
		if (c != 'f')
			return pexctl_bad_option(ctl, argv);
		if (strcmp(optarg, "prometheus") == 0) {
			fmt = PEX_METRICS_PROMETHEUS;
			prometheus = 1;
		} else if (strcmp(optarg, "json") == 0) {
			fmt = PEX_METRICS_JSON;
			prometheus = 0;
		} else
			return pexctl_usage(ctl, "metrics: --format must be prometheus or json (got '%s')", optarg);
	}
	if (optind != argc)
		return pexctl_usage(ctl, "metrics takes no operands");
	if (ctl->json && prometheus)
		return pexctl_usage(ctl, "metrics: --json and --format prometheus contradict each other "
			"(--json prints one JSON document; drop one of them)");
	if (gauges && fmt != PEX_METRICS_PROMETHEUS)
		return pexctl_usage(ctl, "metrics: --gauges is for the Prometheus text (a node_exporter "
			"textfile); drop --json / --format json");
	if ((err = open_pool(ctl, &pool, QUEUE_READ)) < 0)
		return pexctl_fail(ctl, err, NULL);
	err = pex_metrics_get(&m, pool);
	pex_pool_free(pool);
	if (err < 0)
		return pexctl_fail(ctl, err, "metrics");
	if ((err = pex_metrics_format_write(&out, &m, fmt)) < 0)
		return pexctl_fail(ctl, err, "metrics");
	if (gauges)
		print_gauges(out.ptr);
	else
		fputs(out.ptr, stdout);
	pex_buf_dispose(&out);
	return EXIT_OK;
}
