/* pexctl config check | config show | version */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "pexctl.h"

int cmd_version(pexctl *ctl, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (ctl->json) {
		json_object *doc = json_object_new_object();
		json_object_object_add(doc, "pexctl", json_object_new_string(PEX_VERSION));
		json_object_object_add(doc, "library", json_object_new_string(pex_version()));
		json_object_object_add(doc, "features", json_object_new_string(pex_features()));
		pexctl_print_json(doc);
	} else {
		printf("pexctl %s (libpexipsdk %s; %s)\n", PEX_VERSION, pex_version(), pex_features());
	}
	return EXIT_OK;
}

/* config check: one line (one JSON object) per component. */
typedef struct check {
	pexctl *ctl;
	json_object *components;   /* --json */
	int first_err;             /* the first failure: code, class, component, message */
	pex_error_class first_klass;
	const char *first_name;
	char first_msg[1200];
} check;

/* Report component @name: ok with @detail, or the last error of @err < 0. */
static void report(check *k, const char *name, int err, const char *detail)
{
	char msg[1200];
	const pex_error *e = pex_error_last();
	if (err < 0) {
		snprintf(msg, sizeof(msg), "%s", e->code == err && e->message[0] ? e->message :
			pex_strerror(err));
		if (!k->first_err) {
			k->first_err = err;
			k->first_klass = e->code == err ? e->klass : PEX_ERROR_CLASS_NONE;
			k->first_name = name;
			snprintf(k->first_msg, sizeof(k->first_msg), "%s", msg);
		}
	}
	if (k->ctl->json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(name));
		json_object_object_add(o, "ok", json_object_new_boolean(err == 0));
		json_object_object_add(o, err < 0 ? "error" : "detail",
			json_object_new_string(err < 0 ? msg : detail));
		json_object_array_add(k->components, o);
	} else if (err < 0) {
		printf("%-8s error: %s\n", name, msg);
	} else {
		printf("%-8s ok: %s\n", name, detail);
	}
}

/* The queue: open both queues and count them. A SQLite file that does not
 * exist yet is not created (config check only reads): its directory must
 * let the first pool fill create it. */
static void check_queue(check *k)
{
	pexctl *ctl = k->ctl;
	const char *backend = "", *names[2] = { "room-creation-queue", "room-deletion-queue" };
	const char *keys[2] = { "pool.queue", "gc.queue" };
	char path[4200], detail[4400], dir[4200], *slash;
	size_t counts[2] = { 0, 0 }, i;
	int err = 0;
	pex_config_get_string(&backend, ctl->cfg, "queue.backend");
	pexctl_queue_file(ctl, path, sizeof(path));
	if (path[0] && access(path, F_OK) != 0) {
		snprintf(dir, sizeof(dir), "%s", path);
		slash = strrchr(dir, '/');
		if (slash)
			*(slash == dir ? slash + 1 : slash) = '\0';
		if (access(dir, W_OK | X_OK) != 0) {
			char ebuf[128];
			int e = errno;
			err = pex_error_set(PEX_EBACKEND, PEX_ERROR_CLASS_QUEUE, "sqlite queue %s: cannot "
				"be created in %s: %s", path, dir, strerror_r(e, ebuf, sizeof(ebuf)));
			report(k, "queue", err, NULL);
			return;
		}
		snprintf(detail, sizeof(detail), "sqlite %s (not created yet: 'pexctl pool fill', "
			"'pexctl create' or the room server create it)", path);
		report(k, "queue", 0, detail);
		return;
	}
	for (i = 0; i < 2 && err == 0; i++) {
		pex_queue *q = NULL;
		if (pex_config_get_string(&names[i], ctl->cfg, keys[i]) < 0)
			pex_error_clear();
		if ((err = pex_queue_open_config(&q, ctl->cfg, names[i])) == 0)
			err = pex_queue_count(&counts[i], q);
		pex_queue_free(q);
	}
	if (err == 0)
		snprintf(detail, sizeof(detail), "%s%s%s (%s %zu, %s %zu messages)", backend,
			path[0] ? " " : "", path, names[0], counts[0], names[1], counts[1]);
	report(k, "queue", err, detail);
}

/* The files the configuration names (resolved paths), each readable. */
static void check_files(check *k)
{
	char detail[1200] = "", ebuf[128];
	const char *v = NULL;
	size_t i, o = 0;
	int err = 0;
	for (i = 0; pexctl_file_keys[i] && err == 0; i++) {
		if (pex_config_get_string(&v, k->ctl->cfg, pexctl_file_keys[i]) < 0)
			continue;
		if (access(v, R_OK) != 0) {
			int e = errno;
			err = pex_error_set(PEX_ECONFIG, PEX_ERROR_CLASS_CONFIG, "%s: %s: cannot read %s: %s",
				pex_config_origin(k->ctl->cfg), pexctl_file_keys[i], v,
				strerror_r(e, ebuf, sizeof(ebuf)));
		} else if (o < sizeof(detail)) {
			int n = snprintf(detail + o, sizeof(detail) - o, "%s%s %s", o ? ", " : "",
				pexctl_file_keys[i], v);
			o += n > 0 ? (size_t)n : 0;
		}
	}
	if (err == 0)
		pex_error_clear();
	if (err < 0 || o)
		report(k, "files", err, detail);
}

/* config show: every key, its effective value and where it came from,
 * secrets redacted (pex_config_show). Without a file, the defaults and the
 * environment. */
static int config_show(pexctl *ctl)
{
	pex_buf out = PEX_BUF_INIT;
	int err;
	if ((err = pexctl_config_or_defaults(ctl)) < 0)
		return pexctl_fail(ctl, err, "configuration");
	if ((err = pex_config_show(&out, ctl->cfg, ctl->json ? PEX_CONFIG_SHOW_JSON : 0)) < 0)
		return pexctl_fail(ctl, err, "configuration");
	fputs(out.ptr, stdout);
	pex_buf_dispose(&out);
	return EXIT_OK;
}

int cmd_config(pexctl *ctl, int argc, char **argv)
{
	const char *url = "", *method = "basic", *backend = "";
	json_object *doc = NULL;
	char detail[1200];
	check k;
	int err;
	if (argc == 2 && strcmp(argv[1], "show") == 0)
		return config_show(ctl);
	if (argc != 2 || strcmp(argv[1], "check") != 0)
		return pexctl_usage(ctl, "config needs 'check' or 'show'");
	/* nothing else can be checked without a configuration */
	if ((err = pexctl_config(ctl)) < 0)
		return pexctl_fail(ctl, err, "configuration");
	memset(&k, 0, sizeof(k));
	k.ctl = ctl;
	if (ctl->json)
		k.components = json_object_new_array();
	pex_config_get_string(&url, ctl->cfg, "pexip.url");
	pex_config_get_string(&method, ctl->cfg, "pexip.auth.method");
	pex_config_get_string(&backend, ctl->cfg, "queue.backend");
	report(&k, "config", 0, pex_config_origin(ctl->cfg));
	check_files(&k);
	/* every secret the file names, also those no pexctl command reads */
	report(&k, "secrets", pex_config_resolve_secrets(ctl->cfg), "every reference resolved");
	if ((err = pexctl_client(ctl)) == 0)
		err = pex_client_check(ctl->client);
	snprintf(detail, sizeof(detail), "%s (reached, authenticated with %s)", url, method);
	report(&k, "pexip", err, detail);
	check_queue(&k);
	if (ctl->json) {
		doc = json_object_new_object();
		json_object_object_add(doc, "ok", json_object_new_boolean(k.first_err == 0));
		json_object_object_add(doc, "config", json_object_new_string(pex_config_origin(ctl->cfg)));
		json_object_object_add(doc, "pexip_url", json_object_new_string(url));
		json_object_object_add(doc, "auth", json_object_new_string(method));
		json_object_object_add(doc, "queue_backend", json_object_new_string(backend));
		json_object_object_add(doc, "components", k.components);
	}
	if (k.first_err) {
		/* the exit status and the "error" member are the first failure's */
		pex_error_set(k.first_err, k.first_klass, "%s", k.first_msg);
		return pexctl_fail_report(ctl, doc, k.first_err, k.first_name);
	}
	if (doc)
		pexctl_print_json(doc);
	else
		printf("ok\n");
	return EXIT_OK;
}
