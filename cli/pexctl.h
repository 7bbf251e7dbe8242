/* pexctl internals: the command table, output helpers, exit codes. */
#ifndef PEXCTL_H
#define PEXCTL_H

#include <stdio.h>
#include <json-c/json.h>
#include <pexipsdk/pexipsdk.h>
#include <pexipsdk/sys/errors.h>  /* pex_error_set, to re-classify errors */

/* Exit codes: the shell contract (pexctl(1) EXIT STATUS). */
enum {
	EXIT_OK = 0,
	EXIT_RUNTIME = 1,
	EXIT_USAGE = 2,
	EXIT_NOTFOUND = 3,
	EXIT_EMPTY = 4,
	EXIT_CONFIG = 5
};

struct pexctl_cmd;

typedef struct pexctl {
	const struct pexctl_cmd *cmd;   /* the command running (its flags, its help) */
	const char *config_path;
	int json;
	int quiet;
	int verbose;
	int log_json;
	int no_config_found;   /* the default search found no configuration file */
	int progress_shown;    /* a progress line is on the terminal, not ended yet */
	double progress_start; /* when it started (monotonic seconds) */
	pex_config *cfg;
	pex_client *client;
} pexctl;

/* One flag of a command: the one place its name, argument and help line
 * live (getopt, --help, help COMMAND, did-you-mean, completion). */
typedef struct pexctl_flag {
	const char *name;   /* long name, without the dashes */
	int val;            /* what pexctl_getopt returns for it */
	const char *arg;    /* the argument's name in the help, NULL: takes none */
	const char *help;   /* one line */
} pexctl_flag;

/* A command: argv[0] is its name, the rest its flags and operands. Returns
 * the exit status. */
typedef int pexctl_cmd_fn(pexctl *ctl, int argc, char **argv);

typedef struct pexctl_cmd {
	const char *name;
	pexctl_cmd_fn *fn;
	const char *usage;
	const char *help;
	const pexctl_flag *flags;   /* NULL-name terminated; NULL: none */
	const char *example;
} pexctl_cmd;

/* getopt_long over the running command's flags (ctl->cmd->flags): a flag's
 * val, -1 after the last option, '?' for an unknown or incomplete one
 * (report it with pexctl_bad_option). */
int pexctl_getopt(pexctl *ctl, int argc, char **argv);
/* The usage error of the option pexctl_getopt just refused, with a
 * did-you-mean when a known flag is close; returns EXIT_USAGE. */
int pexctl_bad_option(pexctl *ctl, char **argv);

/* Map a library error code to an exit status (one table, here). */
int pexctl_exit_code(int err);
/* Report the library's last error (stderr; and a JSON error document on
 * stdout with --json) and return its exit status. */
int pexctl_fail(pexctl *ctl, int err, const char *context);
/* A command that did part of its work failed: print its @report (NULL for
 * none; text reports are printed by the caller) with an "error" member of
 * the same shape as pexctl_fail's with --json, the message on stderr, and
 * return the exit status. Takes ownership of @report. */
int pexctl_fail_report(pexctl *ctl, json_object *report, int err, const char *context);
/* Report a usage error (and, inside a command, its usage line) and return
 * EXIT_USAGE. */
int pexctl_usage(pexctl *ctl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Load the configuration (once). */
int pexctl_config(pexctl *ctl);
/* pexctl_config(), but when the default search finds no file at all (no -c,
 * no $PEXIPSDK_CONFIG, neither default path exists), the defaults. */
int pexctl_config_or_defaults(pexctl *ctl);
/* The tag rules of the loaded configuration (tag.url_template,
 * tag.allowed_hosts); strings borrowed from ctl->cfg. */
int pexctl_tag_rules(pexctl *ctl, pex_tag_rules *rules);
/* The SQLite queue file of the loaded configuration, absolute (a relative
 * path, from the defaults without a file, is taken from the current
 * directory), in @buf; "" when the backend is not sqlite or the path is
 * ":memory:". */
void pexctl_queue_file(pexctl *ctl, char *buf, size_t size);
/* The keys that name files besides the queue (CA bundles, JWKS), NULL-
 * terminated; their values are resolved paths (pexipsdk.yaml(5)). */
extern const char *const pexctl_file_keys[];
/* Commands that only read the queue never create it: PEX_ENOTFOUND naming
 * the absolute path when the SQLite file does not exist, else 0. */
int pexctl_queue_must_exist(pexctl *ctl);
/* Load the configuration and create the client (once). */
int pexctl_client(pexctl *ctl);
/* One library log line on stderr (nothing but errors with --quiet): with
 * log.format json a JSON object {"ts","level","component":"pexctl","msg",
 * fields...}, else "TS pexctl: LEVEL: MSG" (pex_log(3)). */
void pexctl_log(pexctl *ctl, pex_log_level level, const char *message, const pex_log_field *fields,
	size_t count);
/* pexctl's own log line (escaped with pex_log_escape), as pexctl_log(). */
void pexctl_logf(pexctl *ctl, pex_log_level level, const char *fmt, ...) PEX_PRINTF(3, 4);
/* With log.format json, send @p client's lines as records to @p cb (NULL:
 * straight to pexctl_log, payload @p ctl); text keeps the string callback,
 * which gets the fields appended. 0 or an error. */
int pexctl_log_records(pexctl *ctl, pex_client *client, pex_log_record_cb cb);
/* Print a JSON document on stdout. Takes ownership of @doc. */
void pexctl_print_json(json_object *doc);
/* The JSON text a library builder (pex_room_to_json...) wrote into @p b,
 * parsed (NULL when @p err < 0); @p b is disposed of. */
json_object *pexctl_json_parse(int err, pex_buf *b);
/* A room as the JSON object of the CLI contract (pex_room_to_json). */
json_object *pexctl_room_json(const pex_room *room);
/* Progress on a TTY only (stderr): label, bar, done/total, rate and time
 * left (pexctl_progress_format); pexctl_progress_end ends the line when
 * one was shown, and only then. */
void pexctl_progress(pexctl *ctl, size_t done, size_t total, const char *label);
void pexctl_progress_end(pexctl *ctl);

pexctl_cmd_fn cmd_get, cmd_list, cmd_update, cmd_delete;                   /* cmd_room.c */
pexctl_cmd_fn cmd_create, cmd_gc, cmd_pool, cmd_event, cmd_uui, cmd_metrics; /* cmd_pool.c */
pexctl_cmd_fn cmd_config, cmd_version;                                      /* cmd_misc.c */

#endif
