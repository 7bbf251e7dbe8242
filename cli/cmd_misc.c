/* pexctl config check | version */
#include <string.h>

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

int cmd_config(pexctl *ctl, int argc, char **argv)
{
	const char *url = "", *method = "basic", *backend = "";
	int err;
	if (argc != 2 || strcmp(argv[1], "check") != 0)
		return pexctl_usage(ctl, "usage: pexctl config check");
	if ((err = pexctl_client(ctl)) < 0)
		return pexctl_fail(ctl, err, "configuration");
	/* every secret the file names, also those no pexctl command reads */
	if ((err = pex_config_resolve_secrets(ctl->cfg)) < 0)
		return pexctl_fail(ctl, err, "secrets");
	pex_config_get_string(&url, ctl->cfg, "pexip.url");
	pex_config_get_string(&method, ctl->cfg, "pexip.auth.method");
	pex_config_get_string(&backend, ctl->cfg, "queue.backend");
	if ((err = pex_client_check(ctl->client)) < 0)
		return pexctl_fail(ctl, err, "checking Pexip");
	if (ctl->json) {
		json_object *doc = json_object_new_object();
		json_object_object_add(doc, "ok", json_object_new_boolean(1));
		json_object_object_add(doc, "config", json_object_new_string(pex_config_origin(ctl->cfg)));
		json_object_object_add(doc, "pexip_url", json_object_new_string(url));
		json_object_object_add(doc, "auth", json_object_new_string(method));
		json_object_object_add(doc, "queue_backend", json_object_new_string(backend));
		pexctl_print_json(doc);
	} else {
		printf("config:   %s\npexip:    %s (reached, authenticated with %s)\nqueue:    %s\nok\n",
			pex_config_origin(ctl->cfg), url, method, backend);
	}
	return EXIT_OK;
}
