/* pexctl: command-line front end to libpexipsdk (public API only). */
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pexctl.h"

static int cmd_help(pexctl *ctl, int argc, char **argv);
static void print_paths(pexctl *ctl);

static const pexctl_cmd commands[] = {
	{ "create", cmd_create, "create [--uui HEX | --tag-url URL] [--wait]", "hand out a room from the pool, tagged; replace it in the background" },
	{ "delete", cmd_delete, "delete NAME... | delete --prefix P --yes", "delete conferences now (gone already = success)" },
	{ "gc", cmd_gc, "gc [--dry-run] [--min-age S] [--orphans] [--max N]", "sweep the deletion queue (and orphans)" },
	{ "get", cmd_get, "get NAME", "show one conference" },
	{ "list", cmd_list, "list [--prefix P] [--tag T]", "list conferences" },
	{ "update", cmd_update, "update NAME --tag URL [--description TEXT]", "change a conference" },
	{ "pool", cmd_pool, "pool fill [--depth N] | pool status | pool drain [--delete]", "pool management" },
	{ "event", cmd_event, "event [FILE|-]", "handle one event-sink payload, as the webhook does" },
	{ "uui", cmd_uui, "uui decode HEX", "print the tag URL a UUI yields" },
	{ "metrics", cmd_metrics, "metrics [--format prometheus|json] [--gauges]", "pool depth, deletion backlog, live conferences, totals" },
	{ "config", cmd_config, "config check", "validate the configuration, reach Pexip, authenticate" },
	{ "version", cmd_version, "version", "print versions and features" },
	{ "help", cmd_help, "help [COMMAND]", "show help" },
};

static void usage_text(FILE *f)
{
	size_t i;
	fprintf(f, "usage: pexctl [-c FILE] [--json] [-q] [-v] COMMAND [ARGS...]\n\n"
		"Options:\n"
		"  -c, --config FILE  configuration file (default: $PEXIPSDK_CONFIG, ./pexipsdk.yaml,\n"
		"                     /etc/pexipsdk/config.yaml)\n"
		"      --json         print one JSON document on stdout\n"
		"  -q, --quiet        only errors on stderr\n"
		"  -v, --verbose      debug logging on stderr\n"
		"  -h, --help         this help\n\nCommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-44s %s\n", commands[i].usage, commands[i].help);
	fprintf(f, "\nExit status: 0 ok, 1 runtime failure, 2 bad usage or input, 3 not found,\n"
		"4 pool empty, 5 configuration or authentication error.\n");
}

static json_object *command_json(const pexctl_cmd *c)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(c->name));
	json_object_object_add(o, "usage", json_object_new_string(c->usage));
	json_object_object_add(o, "help", json_object_new_string(c->help));
	return o;
}

/* help [COMMAND]; with --json {"usage": ..., "commands": [{name, usage,
 * help}...]}, or the one command's object. */
static int cmd_help(pexctl *ctl, int argc, char **argv)
{
	size_t i;
	if (argc > 2)
		return pexctl_usage(ctl, "usage: pexctl help [COMMAND]");
	if (argc == 2) {
		for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
			if (strcmp(commands[i].name, argv[1]) == 0) {
				if (ctl->json)
					pexctl_print_json(command_json(&commands[i]));
				else
					printf("usage: pexctl %s\n  %s\n", commands[i].usage, commands[i].help);
				return EXIT_OK;
			}
		return pexctl_usage(ctl, "unknown command '%s'", argv[1]);
	}
	if (ctl->json) {
		json_object *doc = json_object_new_object(), *arr = json_object_new_array();
		json_object_object_add(doc, "usage",
			json_object_new_string("pexctl [-c FILE] [--json] [-q] [-v] COMMAND [ARGS...]"));
		for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
			json_object_array_add(arr, command_json(&commands[i]));
		json_object_object_add(doc, "commands", arr);
		pexctl_print_json(doc);
	} else {
		usage_text(stdout);
	}
	return EXIT_OK;
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
	fprintf(stderr, "pexctl: %s (see 'pexctl help')\n", msg);
	if (ctl->json) {
		pex_error_clear();
		print_error_json(PEX_EINVAL, EXIT_USAGE, msg);
	}
	return EXIT_USAGE;
}

static void log_cb(pex_log_level level, const char *message, void *payload)
{
	pexctl *ctl = payload;
	if (ctl->quiet && level > PEX_LOG_ERROR)
		return;
	if (ctl->log_json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "level", json_object_new_string(pex_log_level_name(level)));
		json_object_object_add(o, "msg", json_object_new_string(message));
		fprintf(stderr, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	} else {
		fprintf(stderr, "pexctl: %s: %s\n", pex_log_level_name(level), message);
	}
}

int pexctl_config(pexctl *ctl)
{
	const char *fmt = NULL;
	int err;
	if (ctl->cfg)
		return 0;
	err = pex_config_load(&ctl->cfg, ctl->config_path);
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
	if (pex_config_get_string(&fmt, ctl->cfg, "log.format") == 0 && strcmp(fmt, "json") == 0)
		ctl->log_json = 1;
	if (!ctl->quiet)
		for (size_t i = 0; i < pex_config_warning_count(ctl->cfg); i++)
			fprintf(stderr, "pexctl: warning: %s\n", pex_config_warning(ctl->cfg, i));
	if (ctl->verbose)
		print_paths(ctl);
	return 0;
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
	fprintf(stderr, "pexctl: debug: configuration: %s\n", pex_config_origin(ctl->cfg));
	pexctl_queue_file(ctl, path, sizeof(path));
	if (path[0])
		fprintf(stderr, "pexctl: debug: queue.sqlite.path: %s\n", path);
	for (i = 0; pexctl_file_keys[i]; i++)
		if (pex_config_get_string(&v, ctl->cfg, pexctl_file_keys[i]) == 0)
			fprintf(stderr, "pexctl: debug: %s: %s\n", pexctl_file_keys[i], v);
	pex_error_clear();
}

int pexctl_config_or_defaults(pexctl *ctl)
{
	int err = pexctl_config(ctl);
	/* only when the default search found nothing: an explicit -c FILE or
	 * $PEXIPSDK_CONFIG that is missing, or a file that is wrong, stays an error */
	if (err < 0 && ctl->no_config_found)
		err = pex_config_new_defaults(&ctl->cfg);
	return err;
}

int pexctl_tag_rules(pexctl *ctl, pex_tag_rules *rules)
{
	const char *const *hosts = NULL;
	const char *tmpl = NULL;
	size_t nhosts = 0;
	int err;
	if ((err = pex_tag_rules_init(rules, PEX_TAG_RULES_VERSION)) < 0)
		return err;
	if ((err = pex_config_get_string(&tmpl, ctl->cfg, "tag.url_template")) == 0)
		rules->url_template = tmpl;
	else if (err != PEX_ENOTFOUND)
		return err;
	if ((err = pex_config_get_list(&hosts, &nhosts, ctl->cfg, "tag.allowed_hosts")) < 0)
		return err;
	rules->allowed_hosts = hosts;
	rules->allowed_host_count = nhosts;
	return 0;
}

int pexctl_client(pexctl *ctl)
{
	int err;
	if (ctl->client)
		return 0;
	if ((err = pexctl_config(ctl)) < 0)
		return err;
	if (ctl->verbose)
		pex_config_set(ctl->cfg, "log.level", "debug");
	else if (ctl->quiet)
		pex_config_set(ctl->cfg, "log.level", "error");
	return pex_client_new_from_config(&ctl->client, ctl->cfg, log_cb, ctl);
}

void pexctl_progress(pexctl *ctl, size_t done, size_t total, const char *label)
{
	int width = 30, filled;
	if (ctl->quiet || !isatty(STDERR_FILENO) || total == 0)
		return;
	filled = (int)((done * (size_t)width) / total);
	fprintf(stderr, "\r%s [%.*s%*s] %zu/%zu", label, filled,
		"##############################", width - filled, "", done, total);
	fflush(stderr);
}

void pexctl_progress_end(pexctl *ctl)
{
	if (!ctl->quiet && isatty(STDERR_FILENO))
		fputc('\n', stderr);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	pexctl ctl;
	size_t i;
	int c, rc, help = 0, version = 0;
	const char *bad = NULL;

	memset(&ctl, 0, sizeof(ctl));
	opterr = 0;
	/* options first, acted on after the loop: --json may come after --help */
	while ((c = getopt_long(argc, argv, "+c:qvh", opts, NULL)) != -1) {
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
	if (help)
		return cmd_help(&ctl, 1, argv);
	if (version)
		return cmd_version(&ctl, 1, argv);
	if (optind >= argc) {
		if (ctl.json)
			return pexctl_usage(&ctl, "no command given");
		usage_text(stderr);
		return EXIT_USAGE;
	}
	if ((rc = pex_global_init()) < 0)
		return pexctl_fail(&ctl, rc, NULL);
	rc = -1;
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(commands[i].name, argv[optind]) == 0) {
			char **sub = argv + optind;
			int subc = argc - optind;
			optind = 0;   /* GNU: 0 re-initialises getopt for the command's own argv */
			rc = commands[i].fn(&ctl, subc, sub);
			break;
		}
	}
	if (rc < 0)
		rc = pexctl_usage(&ctl, "unknown command '%s'", argv[optind]);
	pex_client_free(ctl.client);
	pex_config_free(ctl.cfg);
	pex_global_shutdown();
	fflush(stdout);
	return rc;
}
