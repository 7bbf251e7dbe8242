/*
 * pex_queue_open(): pick a backend from a URI ("memory:", "sqlite:PATH",
 * "azure:CONNECTION-STRING", "postgres:CONNINFO", or "SCHEME:LOCATION" for a
 * backend registered with pex_queue_backend_register()) and open a queue on
 * it.
 *
 * The Azure and PostgreSQL connection strings are secrets, and so may be a
 * registered backend's location: no error message here ever repeats any part of a URI
 * after its scheme.
 */
#include <string.h>

#include "queue_internal.h"

/* Does @p uri start with @p scheme (which includes the ':')? */
static const char *uri_rest(const char *uri, const char *scheme)
{
	size_t n = strlen(scheme);

	return strncmp(uri, scheme, n) == 0 ? uri + n : NULL;
}

static int unknown_scheme(const char *uri)
{
	const char *colon = strchr(uri, ':');
	size_t n = colon ? (size_t)(colon - uri) : 0, i;
	int plain = n > 0 && n <= 16;
	char registered[PEX_QUEUE_BACKENDS_MAX * (PEX_QUEUE_SCHEME_MAX + 3) + 1];
	const char *sep;

	pex__queue_registry_names(registered, sizeof(registered), ", ", ":");
	sep = registered[0] ? "; registered: " : "";
	/* name the scheme only when it looks like one (never echo secrets) */
	for (i = 0; plain && i < n; i++)
		if (!((uri[i] >= 'a' && uri[i] <= 'z') || (uri[i] >= 'A' && uri[i] <= 'Z') ||
		      (uri[i] >= '0' && uri[i] <= '9') || uri[i] == '+' || uri[i] == '-'))
			plain = 0;
	if (plain)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"unknown queue URI scheme '%.*s:' (expected memory:, sqlite:PATH, "
			"azure:CONNECTION-STRING or postgres:CONNINFO%s%s)", (int)n, uri, sep, registered);
	return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
		"queue URI has no known scheme (expected memory:, sqlite:PATH, "
		"azure:CONNECTION-STRING or postgres:CONNINFO%s%s)", sep, registered);
}

int pex_queue_open(pex_queue **out, const char *uri, const char *name)
{
	pex_queue_backend *b = NULL;
	const char *rest;
	int err;

	if (!out)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pex_queue_open: out is NULL");
	*out = NULL;
	if (!uri)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pex_queue_open: no queue URI given");
	/* a bad name fails before any backend is made (or connected to) */
	if ((err = pex_queue_name_validate(name)) < 0)
		return err;

	if ((rest = uri_rest(uri, "memory:")) != NULL) {
		if (*rest)
			return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
				"queue URI 'memory:' takes nothing after the colon");
		err = pex_queue_backend_memory_new(&b);
	} else if ((rest = uri_rest(uri, "sqlite:")) != NULL) {
		pex_queue_sqlite_options o = PEX_QUEUE_SQLITE_OPTIONS_INIT;
		if (!*rest)
			return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
				"queue URI 'sqlite:' needs a database path (sqlite:PATH)");
		o.path = rest;
		err = pex_queue_backend_sqlite_new(&b, &o);
	} else if ((rest = uri_rest(uri, "azure:")) != NULL) {
		pex_queue_azure_options o = PEX_QUEUE_AZURE_OPTIONS_INIT;
		if (!*rest)
			return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
				"queue URI 'azure:' needs a connection string (azure:CONNECTION-STRING)");
		o.connection_string = rest;
		err = pex_queue_backend_azure_new(&b, &o);
	} else if ((rest = uri_rest(uri, "postgres:")) != NULL) {
		pex_queue_postgres_options o = PEX_QUEUE_POSTGRES_OPTIONS_INIT;
		if (!*rest)
			return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
				"queue URI 'postgres:' needs a libpq connection string or URI "
				"(postgres:CONNINFO)");
		o.conninfo = rest;
		err = pex_queue_backend_postgres_new(&b, &o);
	} else {
		const char *colon = strchr(uri, ':');
		int found = 0;
		if (colon && pex__queue_scheme_valid(uri, (size_t)(colon - uri))) {
			err = pex__queue_open_registered(out, uri, (size_t)(colon - uri), colon + 1,
				name, &found);
			if (found)
				return err;
		}
		return unknown_scheme(uri);
	}
	if (err < 0)
		return err;
	return pex__queue_open_owned(out, b, name);
}
