/*
 * pex_queue_open_config(): open a queue on the backend the configuration
 * names. Kept apart from the rest of the queue module so that everything
 * else links without the config module.
 *
 *   queue.backend                    memory | sqlite | azure | postgres | a scheme
 *                                    registered with pex_queue_backend_register()
 *   queue.sqlite.path                the database file
 *   queue.azure.connection_string    (secret; read only for azure)
 *   queue.azure.tls.verify           off only on an explicit false (the
 *                                    config load warns about it)
 *   queue.azure.tls.ca_file          extra CA bundle (PEM); must be readable
 *   queue.azure.timeout_ms           per request
 *   queue.postgres.conninfo          (secret; read only for postgres)
 *   queue.postgres.schema            where the tables live
 *   queue.postgres.statement_timeout_ms
 *   queue.location                   (secret) what a registered backend's
 *                                    factory gets; "" when unset
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "pexipsdk/config.h"
#include "queue_internal.h"

/* A string key that must be set and non-empty. */
static int config_string(const char **out, const pex_config *cfg, const char *key,
	const char *backend)
{
	int err = pex_config_get_string(out, cfg, key);

	if (err == PEX_ENOTFOUND || (err == 0 && (!*out || !**out)))
		return pex_error_set(PEX_ECONFIG, PEX_ERROR_CLASS_CONFIG,
			"%s is not set (the %s queue backend needs it)", key, backend);
	return err;
}

/* The queue.azure.* settings besides the connection string. */
static int azure_settings(pex_queue_azure_options *o, const pex_config *cfg)
{
	long long timeout_ms = 0;
	int verify = 1, err;
	char ebuf[128];

	if ((err = pex_config_get_bool(&verify, cfg, "queue.azure.tls.verify")) == 0)
		o->tls_verify = verify != 0;
	else if (err != PEX_ENOTFOUND)
		return err;
	if ((err = pex_config_get_string(&o->ca_file, cfg, "queue.azure.tls.ca_file")) ==
	    PEX_ENOTFOUND)
		o->ca_file = NULL;
	else if (err < 0)
		return err;
	if ((err = pex_config_get_int(&timeout_ms, cfg, "queue.azure.timeout_ms")) == 0)
		o->timeout_ms = (long)timeout_ms;
	else if (err != PEX_ENOTFOUND)
		return err;
	pex_error_clear();
	/* a CA file that cannot be read would only show as a TLS failure later */
	if (o->ca_file && access(o->ca_file, R_OK) != 0) {
		int e = errno;
		return pex_error_set(PEX_ECONFIG, PEX_ERROR_CLASS_CONFIG,
			"%s: queue.azure.tls.ca_file: cannot read '%s': %s", pex_config_origin(cfg),
			o->ca_file, strerror_r(e, ebuf, sizeof(ebuf)));
	}
	return 0;
}

int pex__queue_memory_from_config(pex_queue_backend **out, const pex_config *cfg)
{
	PEX__UNUSED(cfg);
	return pex_queue_backend_memory_new(out);
}

int pex__queue_sqlite_from_config(pex_queue_backend **out, const pex_config *cfg)
{
	pex_queue_sqlite_options o = PEX_QUEUE_SQLITE_OPTIONS_INIT;
	int err;

	if ((err = config_string(&o.path, cfg, "queue.sqlite.path", "sqlite")) < 0)
		return err;
	return pex_queue_backend_sqlite_new(out, &o);
}

int pex__queue_azure_from_config(pex_queue_backend **out, const pex_config *cfg)
{
	pex_queue_azure_options o = PEX_QUEUE_AZURE_OPTIONS_INIT;
	int err;

	if ((err = config_string(&o.connection_string, cfg, "queue.azure.connection_string",
			"azure")) < 0 ||
	    (err = azure_settings(&o, cfg)) < 0)
		return err;
	return pex_queue_backend_azure_new(out, &o);
}

int pex__queue_postgres_from_config(pex_queue_backend **out, const pex_config *cfg)
{
	pex_queue_postgres_options o = PEX_QUEUE_POSTGRES_OPTIONS_INIT;
	long long timeout_ms = 0;
	int err;

	if ((err = config_string(&o.conninfo, cfg, "queue.postgres.conninfo", "postgres")) < 0)
		return err;
	if ((err = pex_config_get_string(&o.schema, cfg, "queue.postgres.schema")) == PEX_ENOTFOUND)
		o.schema = NULL;
	else if (err < 0)
		return err;
	if ((err = pex_config_get_int(&timeout_ms, cfg, "queue.postgres.statement_timeout_ms")) == 0)
		o.statement_timeout_ms = (unsigned)timeout_ms;
	else if (err != PEX_ENOTFOUND)
		return err;
	pex_error_clear();
	return pex_queue_backend_postgres_new(out, &o);
}

/* queue.location for a registered backend's factory: "" when unset. */
static int config_location(const char **location, const pex_config *cfg)
{
	int err = pex_config_get_string(location, cfg, "queue.location");

	if (err == PEX_ENOTFOUND || (err == 0 && !*location)) {
		*location = "";
		err = 0;
	}
	return err;
}

int pex_queue_open_config(pex_queue **out, const pex_config *cfg, const char *name)
{
	char registered[PEX_QUEUE_BACKENDS_MAX * (PEX_QUEUE_SCHEME_MAX + 2) + 1], builtin_names[64];
	const struct pex__queue_builtin *builtin = NULL;
	pex_queue_backend_factory factory = NULL;
	pex_queue_backend *b = NULL;
	const char *kind = NULL, *location = "";
	void *payload = NULL;
	int err;

	if (!out || !cfg)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pex_queue_open_config: out and cfg are required");
	*out = NULL;
	if ((err = pex_queue_name_validate(name)) < 0)
		return err;
	if ((err = config_string(&kind, cfg, "queue.backend", "chosen")) < 0)
		return err;
	if (pex__queue_registry_find(kind, strlen(kind), &factory, &payload, &builtin)) {
		if (builtin)
			return (err = builtin->from_config(&b, cfg)) < 0 ? err :
				pex__queue_open_owned(out, b, name);
		if ((err = config_location(&location, cfg)) < 0)
			return err;
		return pex__queue_open_factory(out, kind, strlen(kind), factory, payload, location, name);
	}
	pex__queue_builtin_names(builtin_names, sizeof(builtin_names), 0);
	pex__queue_registry_names(registered, sizeof(registered), ", ", "");
	return pex_error_set(PEX_ECONFIG, PEX_ERROR_CLASS_CONFIG,
		"queue.backend: unknown backend '%.40s' (expected %s%s%s)", kind, builtin_names,
		registered[0] ? " or a registered one: " : "; none is registered", registered);
}
