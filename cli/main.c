/* pexctl: command-line front end to libpexipsdk (public API only). */
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pexctl.h"
#include "progress.h"

static pexctl_cmd_fn cmd_help;
static void print_paths(pexctl *ctl);

static const pexctl_flag create_flags[] = {
	{ "uui", 'u', "HEX", "tag the room from this UUI (Pexip's hex-encoded call data)" },
	{ "tag-url", 't', "URL", "tag the room with this https URL (tag.allowed_hosts)" },
	{ "wait", 'w', NULL, "replace the room in the foreground, then exit" },
	{ "no-replenish", 'n', NULL, "do not replace the room (pool fill or the room server will)" },
	{ NULL, 0, NULL, NULL }
};
static const pexctl_flag delete_flags[] = {
	{ "prefix", 'p', "P", "delete every conference whose name starts with P" },
	{ "yes", 'y', NULL, "confirm --prefix" },
	{ NULL, 0, NULL, NULL }
};
static const pexctl_flag gc_flags[] = {
	{ "dry-run", 'd', NULL, "report what would be deleted, delete nothing" },
	{ "min-age", 'a', "S", "only rooms queued at least S seconds ago" },
	{ "orphans", 'o', NULL, "also delete the pool's rooms no queue knows (gc.orphan_max_age_s)" },
	{ "max", 'm', "N", "delete at most N rooms in this run" },
	{ NULL, 0, NULL, NULL }
};
static const pexctl_flag list_flags[] = {
	{ "prefix", 'p', "P", "only names starting with P" },
	{ "tag", 't', "T", "only conferences tagged T" },
	{ NULL, 0, NULL, NULL }
};
static const pexctl_flag update_flags[] = {
	{ "tag", 't', "URL", "the new tag, an https URL (\"\" clears it)" },
	{ "description", 'd', "TEXT", "the new description" },
	{ NULL, 0, NULL, NULL }
};
static const pexctl_flag pool_flags[] = {
	{ "depth", 'd', "N", "pool fill: fill up to N ready rooms (default pool.depth)" },
	{ "delete", 'x', NULL, "pool drain: delete the drained rooms now" },
	{ NULL, 0, NULL, NULL }
};
static const pexctl_flag metrics_flags[] = {
	{ "format", 'f', "prometheus|json", "the output format (default prometheus; json with --json)" },
	{ "gauges", 'g', NULL, "Prometheus gauges only, for a node_exporter textfile" },
	{ NULL, 0, NULL, NULL }
};

static const pexctl_cmd commands[] = {
	{ "create", cmd_create, "create [--uui HEX | --tag-url URL] [--wait] [--no-replenish]",
	  "hand out a room from the pool, tagged; replace it in the background", create_flags,
	  "pexctl --json create --tag-url https://svc.example.com/meet/42" },
	{ "delete", cmd_delete, "delete NAME... | delete --prefix P --yes",
	  "delete conferences now (gone already = success)", delete_flags, "pexctl delete vmr_0001 vmr_0002" },
	{ "gc", cmd_gc, "gc [--dry-run] [--min-age S] [--orphans] [--max N]",
	  "sweep the deletion queue (and orphans)", gc_flags, "pexctl -q gc --max 500" },
	{ "get", cmd_get, "get NAME", "show one conference", NULL, "pexctl --json get vmr_0001" },
	{ "list", cmd_list, "list [--prefix P] [--tag T]", "list conferences", list_flags,
	  "pexctl list --prefix vmr_" },
	{ "update", cmd_update, "update NAME --tag URL [--description TEXT]", "change a conference",
	  update_flags, "pexctl update vmr_0001 --tag https://svc.example.com/meet/42" },
	{ "pool", cmd_pool, "pool fill [--depth N] | pool status | pool drain [--delete]", "pool management",
	  pool_flags, "pexctl pool fill --depth 20" },
	{ "event", cmd_event, "event [FILE|-]", "handle one event-sink payload, as the webhook does", NULL,
	  "pexctl event payload.json" },
	{ "uui", cmd_uui, "uui decode HEX", "print the tag URL a UUI yields", NULL, "pexctl uui decode 68747470..." },
	{ "metrics", cmd_metrics, "metrics [--format prometheus|json] [--gauges]",
	  "pool depth, deletion backlog, live conferences, totals", metrics_flags, "pexctl metrics --gauges" },
	{ "config", cmd_config, "config check | config show",
	  "validate the configuration, reach Pexip, authenticate; or print it with each value's source",
	  NULL, "pexctl -c /etc/pexipsdk/config.yaml config check" },
	{ "version", cmd_version, "version", "print versions and features", NULL, "pexctl --json version" },
	{ "help", cmd_help, "help [COMMAND]", "show help", NULL, "pexctl help create" },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

/* The global flags, also accepted after the command. */
static const struct option global_opts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "json", no_argument, NULL, 'j' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};
#define GLOBAL_SHORT "+c:qvh"
#define GLOBAL_USAGE "pexctl [-c FILE] [--json] [-q] [-v] COMMAND [ARGS...]"

static const pexctl_cmd *find_command(const char *name)
{
	size_t i;
	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* Levenshtein distance of two short words (longer ones: far apart). */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[65], i, j;
	if (la > 64 || lb > 64)
		return (size_t)-1;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* Keep @cand as the suggestion for @word when it is closer than the best so
 * far and close enough to be a typo: at most 2 edits, fewer than its length. */
static void suggest(const char **best, size_t *best_d, const char *word, const char *cand)
{
	size_t d = distance(word, cand);
	if (d <= 2 && d < strlen(cand) && d < *best_d) {
		*best = cand;
		*best_d = d;
	}
}

static const char *closest_command(const char *word)
{
	const char *best = NULL;
	size_t i, d = (size_t)-1;
	for (i = 0; i < NCOMMANDS; i++)
		suggest(&best, &d, word, commands[i].name);
	return best;
}

static void usage_text(FILE *f)
{
	size_t i;
	fprintf(f, "usage: " GLOBAL_USAGE "\n\n"
		"Options (before or after COMMAND):\n"
		"  -c, --config FILE  configuration file (default: $PEXIPSDK_CONFIG, ./pexipsdk.yaml,\n"
		"                     /etc/pexipsdk/config.yaml)\n"
		"      --json         print one JSON document on stdout\n"
		"  -q, --quiet        only errors on stderr\n"
		"  -v, --verbose      debug logging on stderr\n"
		"  -h, --help         this help; after COMMAND, the command's help\n\nCommands:\n");
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-44s %s\n", commands[i].usage, commands[i].help);
	fprintf(f, "\nExit status: 0 ok, 1 runtime failure, 2 bad usage or input, 3 not found,\n"
		"4 pool empty, 5 configuration or authentication error.\n");
}

/* One command's help: what `COMMAND --help` and `help COMMAND` print. */
static void command_help(FILE *f, const pexctl_cmd *c)
{
	const pexctl_flag *fl;
	char left[64];
	fprintf(f, "usage: pexctl %s\n  %s\n\nFlags:\n", c->usage, c->help);
	for (fl = c->flags; fl && fl->name; fl++) {
		snprintf(left, sizeof(left), "--%s%s%s", fl->name, fl->arg ? " " : "", fl->arg ? fl->arg : "");
		fprintf(f, "  %-30s %s\n", left, fl->help);
	}
	if (!c->flags)
		fprintf(f, "  (none besides the global flags)\n");
	fprintf(f, "\nGlobal flags (before or after %s): -c FILE, --json, -q, -v, -h\n\n"
		"Example:\n  %s\n", c->name, c->example);
}

static json_object *command_json(const pexctl_cmd *c, int full)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(c->name));
	json_object_object_add(o, "usage", json_object_new_string(c->usage));
	json_object_object_add(o, "help", json_object_new_string(c->help));
	if (full) {
		json_object *arr = json_object_new_array();
		const pexctl_flag *fl;
		for (fl = c->flags; fl && fl->name; fl++) {
			json_object *jf = json_object_new_object();
			json_object_object_add(jf, "name", json_object_new_string(fl->name));
			if (fl->arg)
				json_object_object_add(jf, "arg", json_object_new_string(fl->arg));
			json_object_object_add(jf, "help", json_object_new_string(fl->help));
			json_object_array_add(arr, jf);
		}
		json_object_object_add(o, "flags", arr);
		json_object_object_add(o, "example", json_object_new_string(c->example));
	}
	return o;
}

static int show_command_help(pexctl *ctl, const pexctl_cmd *c)
{
	if (ctl->json)
		pexctl_print_json(command_json(c, 1));
	else
		command_help(stdout, c);
	return EXIT_OK;
}

/* help [COMMAND]; with --json {"usage": ..., "commands": [{name, usage,
 * help}...]}, or the one command's object (with its flags and example). */
static int cmd_help(pexctl *ctl, int argc, char **argv)
{
	size_t i;
	if (argc > 2)
		return pexctl_usage(ctl, "help takes at most one COMMAND");
	if (argc == 2) {
		const pexctl_cmd *c = find_command(argv[1]);
		const char *near;
		if (c)
			return show_command_help(ctl, c);
		ctl->cmd = NULL;   /* the usage error is not help's own */
		if ((near = closest_command(argv[1])))
			return pexctl_usage(ctl, "unknown command '%s'; did you mean '%s'?", argv[1], near);
		return pexctl_usage(ctl, "unknown command '%s'", argv[1]);
	}
	if (ctl->json) {
		json_object *doc = json_object_new_object(), *arr = json_object_new_array();
		json_object_object_add(doc, "usage", json_object_new_string(GLOBAL_USAGE));
		for (i = 0; i < NCOMMANDS; i++)
			json_object_array_add(arr, command_json(&commands[i], 0));
		json_object_object_add(doc, "commands", arr);
		pexctl_print_json(doc);
	} else {
		usage_text(stdout);
	}
	return EXIT_OK;
}

int pexctl_getopt(pexctl *ctl, int argc, char **argv)
{
	struct option opts[17];
	const pexctl_flag *fl = ctl->cmd ? ctl->cmd->flags : NULL;
	size_t n = 0;
	for (; fl && fl->name && n + 1 < sizeof(opts) / sizeof(opts[0]); fl++, n++) {
		opts[n].name = fl->name;
		opts[n].has_arg = fl->arg ? required_argument : no_argument;
		opts[n].flag = NULL;
		opts[n].val = fl->val;
	}
	memset(&opts[n], 0, sizeof(opts[n]));
	opterr = 0;
	return getopt_long(argc, argv, "", opts, NULL);
}

int pexctl_bad_option(pexctl *ctl, char **argv)
{
	const char *arg = argv[optind - 1], *name = arg, *best = NULL;
	const pexctl_flag *fl;
	char word[65];
	size_t d = (size_t)-1, len;
	while (*name == '-')
		name++;
	len = strcspn(name, "=");
	snprintf(word, sizeof(word), "%.*s", (int)(len < 64 ? len : 64), name);
	for (fl = ctl->cmd->flags; fl && fl->name; fl++) {
		if (strcmp(fl->name, word) == 0 && fl->arg)
			return pexctl_usage(ctl, "%s: --%s needs a value (%s)", ctl->cmd->name, fl->name, fl->arg);
		if (strcmp(fl->name, word) == 0)
			return pexctl_usage(ctl, "%s: --%s takes no value", ctl->cmd->name, fl->name);
		suggest(&best, &d, word, fl->name);
	}
	if (best)
		return pexctl_usage(ctl, "%s: unknown option '%s'; did you mean '--%s'?", ctl->cmd->name, arg, best);
	return pexctl_usage(ctl, "%s: unknown option '%s'", ctl->cmd->name, arg);
}

int pexctl_exit_code(int err)
{
	switch (err) {
	case PEX_OK:
		return EXIT_OK;
	case PEX_EINVAL:
	case PEX_EPARSE:
	case PEX_EEXISTS:
		return EXIT_USAGE;
	case PEX_ENOTFOUND:
		return EXIT_NOTFOUND;
	case PEX_EEMPTY:
		return EXIT_EMPTY;
	case PEX_ECONFIG:
	case PEX_EAUTH:
	case PEX_ETLS:
		return EXIT_CONFIG;
	default:
		return EXIT_RUNTIME;
	}
}

void pexctl_print_json(json_object *doc)
{
	fputs(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE |
		JSON_C_TO_STRING_SPACED), stdout);
	fputc('\n', stdout);
	json_object_put(doc);
}

/* The error object of every --json failure: {"code", "message", "exit",
 * and "http_status" / "field_errors" when the server gave them}. */
static json_object *error_object(int err, int exit_code, const char *message)
{
	json_object *e = json_object_new_object();
	const pex_error *d = pex_error_last();
	json_object_object_add(e, "code", json_object_new_string(pex_error_name(err)));
	json_object_object_add(e, "message", json_object_new_string(message));
	json_object_object_add(e, "exit", json_object_new_int(exit_code));
	if (d->code == err && d->http_status)
		json_object_object_add(e, "http_status", json_object_new_int(d->http_status));
	if (d->code == err && d->field_error_count) {
		json_object *arr = json_object_new_array();
		size_t i;
		for (i = 0; i < d->field_error_count; i++) {
			json_object *f = json_object_new_object();
			json_object_object_add(f, "resource", json_object_new_string(d->field_errors[i].resource));
			json_object_object_add(f, "field", json_object_new_string(d->field_errors[i].field));
			json_object_object_add(f, "message", json_object_new_string(d->field_errors[i].message));
			json_object_array_add(arr, f);
		}
		json_object_object_add(e, "field_errors", arr);
	}
	return e;
}

static void print_error_json(int err, int exit_code, const char *message)
{
	json_object *doc = json_object_new_object();
	json_object_object_add(doc, "error", error_object(err, exit_code, message));
	pexctl_print_json(doc);
}

/* "context: message" for the last error (or the code's text). */
static void error_text(char *msg, size_t size, int err, const char *context)
{
	const pex_error *d = pex_error_last();
	if (d->code == err && d->message[0])
		snprintf(msg, size, "%s%s%s", context ? context : "", context ? ": " : "", d->message);
	else
		snprintf(msg, size, "%s%s%s", context ? context : "", context ? ": " : "", pex_strerror(err));
}

int pexctl_fail(pexctl *ctl, int err, const char *context)
{
	char msg[1200];
	int code = pexctl_exit_code(err);
	error_text(msg, sizeof(msg), err, context);
	fprintf(stderr, "pexctl: %s\n", msg);
	if (ctl->json)
		print_error_json(err, code, msg);
	return code;
}

int pexctl_fail_report(pexctl *ctl, json_object *report, int err, const char *context)
{
	char msg[1200];
	int code = pexctl_exit_code(err);
	error_text(msg, sizeof(msg), err, context);
	fprintf(stderr, "pexctl: %s\n", msg);
	if (ctl->json) {
		if (!report)
			report = json_object_new_object();
		json_object_object_add(report, "error", error_object(err, code, msg));
		pexctl_print_json(report);
	} else {
		json_object_put(report);
	}
	return code;
}

int pexctl_usage(pexctl *ctl, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (ctl->cmd)
		fprintf(stderr, "pexctl: %s\nusage: pexctl %s (see 'pexctl %s --help')\n", msg, ctl->cmd->usage,
			ctl->cmd->name);
	else
		fprintf(stderr, "pexctl: %s (see 'pexctl help')\n", msg);
	if (ctl->json) {
		pex_error_clear();
		print_error_json(PEX_EINVAL, EXIT_USAGE, msg);
	}
	return EXIT_USAGE;
}

/* "2026-12-04T15:48:48.123Z" now. */
static void utc_now(char *out, size_t size)
{
	struct timespec now;
	struct tm tm;
	char sec[32];
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, size, "%s.%03dZ", sec, (int)(now.tv_nsec / 1000000));
}

void pexctl_log(pexctl *ctl, pex_log_level level, const char *message, const pex_log_field *fields,
	size_t count)
{
	char ts[40];
	if (ctl->quiet && level > PEX_LOG_ERROR)
		return;
	utc_now(ts, sizeof(ts));
	if (ctl->log_json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "ts", json_object_new_string(ts));
		json_object_object_add(o, "level", json_object_new_string(pex_log_level_name(level)));
		json_object_object_add(o, "component", json_object_new_string("pexctl"));
		json_object_object_add(o, "msg", json_object_new_string(message));
		for (size_t i = 0; i < count; i++)
			json_object_object_add(o, fields[i].key, fields[i].str ? json_object_new_string(fields[i].str) :
				json_object_new_int64(fields[i].num));
		fprintf(stderr, "%s\n", json_object_to_json_string_ext(o,
			JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else {
		fprintf(stderr, "%s pexctl: %s: %s\n", ts, pex_log_level_name(level), message);
	}
}

void pexctl_logf(pexctl *ctl, pex_log_level level, const char *fmt, ...)
{
	char raw[4400], msg[8800];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	pex_log_escape(msg, sizeof(msg), raw);
	pexctl_log(ctl, level, msg, NULL, 0);
}

static void log_cb(pex_log_level level, const char *message, void *payload)
{
	pexctl_log(payload, level, message, NULL, 0);
}

static void log_record_cb(pex_log_level level, const char *message, const pex_log_field *fields,
	size_t count, void *payload)
{
	pexctl_log(payload, level, message, fields, count);
}

int pexctl_log_records(pexctl *ctl, pex_client *client, pex_log_record_cb cb)
{
	/* text: the library appends the fields to the message itself */
	if (!ctl->log_json)
		return 0;
	return pex_client_set_log_record(client, cb ? cb : log_record_cb, ctl);
}

/* After the configuration is there: the flags that set keys (flag >
 * environment > file > default), the log format, warnings, -v's paths. */
static int config_loaded(pexctl *ctl)
{
	const char *fmt = NULL;
	int err = 0;
	if (ctl->verbose)
		err = pex_config_set_from(ctl->cfg, "log.level", "debug", "flag:--verbose");
	else if (ctl->quiet)
		err = pex_config_set_from(ctl->cfg, "log.level", "error", "flag:--quiet");
	if (err < 0)
		return err;
	if (pex_config_get_string(&fmt, ctl->cfg, "log.format") == 0 && strcmp(fmt, "json") == 0)
		ctl->log_json = 1;
	if (!ctl->quiet)
		for (size_t i = 0; i < pex_config_warning_count(ctl->cfg); i++)
			pexctl_logf(ctl, PEX_LOG_WARN, "%s", pex_config_warning(ctl->cfg, i));
	if (ctl->verbose)
		print_paths(ctl);
	return 0;
}

int pexctl_config(pexctl *ctl)
{
	int err;
	if (ctl->cfg)
		return 0;
	/* the environment (PEXIPSDK_<SECTION>_<KEY>) over the file, pexctl(1) ENVIRONMENT */
	err = pex_config_load_env(&ctl->cfg, ctl->config_path);
	if (err < 0) {
		const char *env = getenv("PEXIPSDK_CONFIG");
		/* the default search found no file (not: a named file is missing,
		 * nor a keyvault: secret of a file that was found) */
		ctl->no_config_found = err == PEX_ENOTFOUND && !ctl->config_path && !(env && *env) &&
			pex_error_last()->klass == PEX_ERROR_CLASS_CONFIG;
		if (err == PEX_ENOTFOUND || err == PEX_EIO)
			err = pex_error_set(PEX_ECONFIG, PEX_ERROR_CLASS_CONFIG, "%s", pex_error_last()->message);
		return err;
	}
	return config_loaded(ctl);
}

void pexctl_queue_file(pexctl *ctl, char *buf, size_t size)
{
	const char *backend = NULL, *path = NULL;
	char cwd[4096];
	buf[0] = '\0';
	if (pex_config_get_string(&backend, ctl->cfg, "queue.backend") < 0 ||
	    strcmp(backend, "sqlite") != 0 ||
	    pex_config_get_string(&path, ctl->cfg, "queue.sqlite.path") < 0 ||
	    strcmp(path, ":memory:") == 0) {
		pex_error_clear();
		return;
	}
	if (path[0] != '/' && getcwd(cwd, sizeof(cwd)))
		snprintf(buf, size, "%s/%s", cwd, path);
	else
		snprintf(buf, size, "%s", path);
}

int pexctl_queue_must_exist(pexctl *ctl)
{
	char path[4200];
	pexctl_queue_file(ctl, path, sizeof(path));
	if (!path[0] || access(path, F_OK) == 0)
		return 0;
	return pex_error_set(PEX_ENOTFOUND, PEX_ERROR_CLASS_QUEUE,
		"the queue database %s does not exist (queue.sqlite.path of %s); 'pexctl pool fill', "
		"'pexctl create' or the room server create it", path, pex_config_origin(ctl->cfg));
}

const char *const pexctl_file_keys[] = { "pexip.tls.ca_file", "queue.azure.tls.ca_file",
	"server.jwt.jwks_file", NULL };

/* -v: where the configuration came from and the files it names, resolved. */
static void print_paths(pexctl *ctl)
{
	const char *v = NULL;
	char path[4200];
	size_t i;
	pexctl_logf(ctl, PEX_LOG_DEBUG, "configuration: %s", pex_config_origin(ctl->cfg));
	pexctl_queue_file(ctl, path, sizeof(path));
	if (path[0])
		pexctl_logf(ctl, PEX_LOG_DEBUG, "queue.sqlite.path: %s", path);
	for (i = 0; pexctl_file_keys[i]; i++)
		if (pex_config_get_string(&v, ctl->cfg, pexctl_file_keys[i]) == 0)
			pexctl_logf(ctl, PEX_LOG_DEBUG, "%s: %s", pexctl_file_keys[i], v);
	pex_error_clear();
}

int pexctl_config_or_defaults(pexctl *ctl)
{
	int err = pexctl_config(ctl);
	/* only when the default search found nothing: an explicit -c FILE or
	 * $PEXIPSDK_CONFIG that is missing, or a file that is wrong, stays an error */
	if (err < 0 && ctl->no_config_found) {
		pex_config_free(ctl->cfg);
		ctl->cfg = NULL;
		if ((err = pex_config_new_defaults(&ctl->cfg)) == 0 &&
		    (err = pex_config_apply_env(ctl->cfg)) == 0)
			err = config_loaded(ctl);
	}
	return err;
}

int pexctl_tag_rules(pexctl *ctl, pex_tag_rules *rules)
{
	return pex_tag_rules_from_config(rules, ctl->cfg);
}

int pexctl_client(pexctl *ctl)
{
	int err;
	if (ctl->client)
		return 0;
	if ((err = pexctl_config(ctl)) < 0)
		return err;
	if ((err = pex_client_new_from_config(&ctl->client, ctl->cfg, log_cb, ctl)) < 0)
		return err;
	return pexctl_log_records(ctl, ctl->client, NULL);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void pexctl_progress(pexctl *ctl, size_t done, size_t total, const char *label)
{
	char line[256];
	if (ctl->quiet || !isatty(STDERR_FILENO) || total == 0)
		return;
	if (!ctl->progress_shown) {
		ctl->progress_shown = 1;
		ctl->progress_start = now_s();
	}
	pexctl_progress_format(line, sizeof(line), label, done, total, now_s() - ctl->progress_start);
	/* \033[K: erase what a longer line before left */
	fprintf(stderr, "\r%s\033[K", line);
	fflush(stderr);
}

void pexctl_progress_end(pexctl *ctl)
{
	if (ctl->progress_shown)
		fputc('\n', stderr);
	ctl->progress_shown = 0;
}

/* Does @arg name one of @c's flags that takes a value as the next word
 * ("--depth", not "--depth=3")? */
static int takes_next(const pexctl_cmd *c, const char *arg)
{
	const pexctl_flag *fl;
	if (strncmp(arg, "--", 2) != 0)
		return 0;
	for (fl = c->flags; fl && fl->name; fl++)
		if (fl->arg && strcmp(arg + 2, fl->name) == 0)
			return 1;
	return 0;
}

/* The global flags after the command (up to "--", never a flag's value):
 * acted on as before it and taken out of the command's arguments; -h and
 * --help set *help. Returns -1, or the exit status of a usage error. */
static int lift_globals(pexctl *ctl, int *argc, char **argv, int *help)
{
	int i, o = 1;
	for (i = 1; i < *argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			while (i < *argc)
				argv[o++] = argv[i++];
			break;
		}
		if (takes_next(ctl->cmd, a) && i + 1 < *argc) {
			argv[o++] = argv[i++];
			argv[o++] = argv[i];
		} else if (strcmp(a, "--json") == 0) {
			ctl->json = 1;
		} else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
			ctl->quiet = 1;
		} else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
			ctl->verbose = 1;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			*help = 1;
		} else if (strncmp(a, "--config=", 9) == 0) {
			ctl->config_path = a + 9;
		} else if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
			if (i + 1 == *argc)
				return pexctl_usage(ctl, "%s needs a FILE", a);
			ctl->config_path = argv[++i];
		} else {
			argv[o++] = argv[i];
		}
	}
	argv[o] = NULL;
	*argc = o;
	return -1;
}

/* pexctl __complete WORD...: the candidates for the word after WORD...
 * (the words typed after "pexctl"), one a line, for the shell completion
 * scripts: commands, a command's flags, pool's and help's operands. */
static int complete(int argc, char **argv)
{
	const pexctl_cmd *c = NULL;
	const pexctl_flag *fl;
	const struct option *g;
	int i;
	size_t k;
	for (i = 0; i < argc && !c; i++) {
		if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0)
			i++;
		else if (argv[i][0] != '-')
			c = find_command(argv[i]);
	}
	if (!c || (c->fn == cmd_help && i == argc))
		for (k = 0; k < NCOMMANDS; k++)
			printf("%s\n", commands[k].name);
	if (c && c->fn == cmd_pool && i == argc)
		printf("fill\nstatus\ndrain\n");
	if (c && c->fn == cmd_uui && i == argc)
		printf("decode\n");
	if (c && c->fn == cmd_config && i == argc)
		printf("check\nshow\n");
	for (fl = c ? c->flags : NULL; fl && fl->name; fl++)
		printf("--%s\n", fl->name);
	for (g = global_opts; g->name; g++)
		printf("--%s\n", g->name);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	pexctl ctl;
	int c, rc, help = 0, version = 0, subc;
	const char *bad = NULL, *near;
	char **sub;

	memset(&ctl, 0, sizeof(ctl));
	if (argc >= 2 && strcmp(argv[1], "__complete") == 0)
		return complete(argc - 2, argv + 2);
	opterr = 0;
	/* options first, acted on after the loop: --json may come after --help */
	while ((c = getopt_long(argc, argv, GLOBAL_SHORT, global_opts, NULL)) != -1) {
		switch (c) {
		case 'c': ctl.config_path = optarg; break;
		case 'j': ctl.json = 1; break;
		case 'q': ctl.quiet = 1; break;
		case 'v': ctl.verbose = 1; break;
		case 'h': help = 1; break;
		case 'V': version = 1; break;
		default:
			if (!bad)
				bad = argv[optind - 1];
			break;
		}
	}
	if (bad)
		return pexctl_usage(&ctl, "unknown option '%s'", bad);
	if (help && optind >= argc)
		return cmd_help(&ctl, 1, argv);
	if (version)
		return cmd_version(&ctl, 1, argv);
	if (optind >= argc) {
		if (ctl.json)
			return pexctl_usage(&ctl, "no command given");
		usage_text(stderr);
		return EXIT_USAGE;
	}
	sub = argv + optind;
	subc = argc - optind;
	if (!(ctl.cmd = find_command(sub[0]))) {
		if ((near = closest_command(sub[0])))
			return pexctl_usage(&ctl, "unknown command '%s'; did you mean '%s'?", sub[0], near);
		return pexctl_usage(&ctl, "unknown command '%s'", sub[0]);
	}
	if ((rc = lift_globals(&ctl, &subc, sub, &help)) >= 0)
		return rc;
	if (help)   /* pexctl --help COMMAND, pexctl COMMAND --help */
		return show_command_help(&ctl, ctl.cmd);
	if ((rc = pex_global_init()) < 0)
		return pexctl_fail(&ctl, rc, NULL);
	optind = 0;   /* GNU: 0 re-initialises getopt for the command's own argv */
	rc = ctl.cmd->fn(&ctl, subc, sub);
	pex_client_free(ctl.client);
	pex_config_free(ctl.cfg);
	pex_global_shutdown();
	fflush(stdout);
	return rc;
}
