/*
 * The environment as a configuration layer (pexipsdk.yaml(5) ENVIRONMENT,
 * docs/DECISIONS.md): every key can be set as PEXIPSDK_<SECTION>_<KEY>,
 * above the file and below command-line flags. The name mapping lives in
 * schema.c (pex__config_env_name), the text rules are the flags' ones
 * (pex__config_convert_text).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_internal.h"

extern char **environ;

#define ENV_PREFIX "PEXIPSDK_"
/* longer names cannot be keys; shown cut in a warning */
#define ENV_NAME_MAX 95

/* One unknown variable, for the warnings added once everything converted. */
typedef struct unknown_var {
	struct unknown_var *next;
	char name[ENV_NAME_MAX + 1];
} unknown_var;

static void free_unknown(unknown_var *u)
{
	while (u) {
		unknown_var *next = u->next;
		free(u);
		u = next;
	}
}

/* The value of @p env ("NAME=VALUE") into the pending slot of its key,
 * or a note of an unknown name. */
static int take(pex__config_value *pending, unknown_var **unknown, const char *env,
	const char *dir)
{
	const pex__config_key *schema = pex__config_schema(NULL);
	const char *eq = strchr(env, '=');
	char name[ENV_NAME_MAX + 1], origin[ENV_NAME_MAX + 2];
	size_t len;
	int idx, err;

	if (!eq)
		return 0;
	len = (size_t)(eq - env);
	if (len > ENV_NAME_MAX)
		len = ENV_NAME_MAX;
	memcpy(name, env, len);
	name[len] = '\0';
	if (pex__config_env_reserved(name))
		return 0;
	if ((idx = pex__config_env_lookup(name)) < 0) {
		unknown_var *u = pex__calloc(1, sizeof(*u));
		if (!u)
			return PEX_ENOMEM;
		memcpy(u->name, name, len + 1);
		u->next = *unknown;
		*unknown = u;
		return 0;
	}
	/* a name given twice (possible with execve): the last one counts */
	pex__config_value_clear(&pending[idx], schema[idx].type);
	snprintf(origin, sizeof(origin), "$%s", name);
	if ((err = pex__config_convert_text(&pending[idx], idx, eq + 1, origin, dir)) < 0)
		return err;
	if (!(pending[idx].source = pex__malloc(len + 5))) {
		pex__config_value_clear(&pending[idx], schema[idx].type);
		return PEX_ENOMEM;
	}
	memcpy(pending[idx].source, "env:", 4);
	memcpy(pending[idx].source + 4, name, len + 1);
	return 0;
}

int pex_config_apply_env(pex_config *cfg)
{
	const pex__config_key *schema;
	pex__config_value *pending = NULL;
	pex__config_retired **nodes = NULL;
	unknown_var *unknown = NULL, *u;
	char cwd[PATH_MAX], *dir = NULL;
	size_t n, i;
	char **e;
	int err = 0;

	if (!cfg)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pex_config_apply_env: no configuration given");
	schema = pex__config_schema(&n);
	/* relative paths from the environment: the working directory, now */
	if (getcwd(cwd, sizeof(cwd)) && !(dir = pex__strdup(cwd)))
		return PEX_ENOMEM;
	if (!(pending = pex__calloc(n, sizeof(*pending))) ||
	    !(nodes = pex__calloc(n, sizeof(*nodes)))) {
		err = PEX_ENOMEM;
		goto done;
	}
	for (e = environ; e && *e && err == 0; e++)
		if (strncmp(*e, ENV_PREFIX, strlen(ENV_PREFIX)) == 0)
			err = take(pending, &unknown, *e, dir);
	/* everything that can fail, before anything changes */
	for (i = 0; i < n && err == 0; i++)
		if (pending[i].source && !(nodes[i] = pex__calloc(1, sizeof(*nodes[i]))))
			err = PEX_ENOMEM;
	for (u = unknown; u && err == 0; u = u->next) {
		const char *hint = pex__config_env_suggest(u->name);
		err = hint ? pex__config_add_warning(cfg, "$%s is not a configuration variable, "
				"ignored (did you mean %s?)", u->name, hint) :
			pex__config_add_warning(cfg, "$%s is not a configuration variable, ignored "
				"(pexipsdk.yaml(5), ENVIRONMENT)", u->name);
	}
	if (err < 0)
		goto done;
	for (i = 0; i < n; i++) {
		if (!pending[i].source)
			continue;
		pex__config_install(cfg, (int)i, &pending[i], nodes[i]);
		memset(&pending[i], 0, sizeof(pending[i]));
		nodes[i] = NULL;
	}
	free(cfg->env_dir);
	cfg->env_dir = dir;
	dir = NULL;
done:
	for (i = 0; pending && i < n; i++)
		pex__config_value_clear(&pending[i], schema[i].type);
	for (i = 0; nodes && i < n; i++)
		free(nodes[i]);
	free(pending);
	free(nodes);
	free(dir);
	free_unknown(unknown);
	return err;
}
