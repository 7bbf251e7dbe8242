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

static int unknown_scheme(const char *uri)
{
	const char *colon = strchr(uri, ':');
	size_t n = colon ? (size_t)(colon - uri) : 0, i;
	int plain = n > 0 && n <= 16;
	char registered[PEX_QUEUE_BACKENDS_MAX * (PEX_QUEUE_SCHEME_MAX + 3) + 1], builtin[128];
	const char *sep;

	pex__queue_builtin_names(builtin, sizeof(builtin), 1);
	pex__queue_registry_names(registered, sizeof(registered), ", ", ":");
	sep = registered[0] ? "; registered: " : "";
	/* name the scheme only when it looks like one (never echo secrets) */
	for (i = 0; plain && i < n; i++)
		if (!((uri[i] >= 'a' && uri[i] <= 'z') || (uri[i] >= 'A' && uri[i] <= 'Z') ||
		      (uri[i] >= '0' && uri[i] <= '9') || uri[i] == '+' || uri[i] == '-'))
			plain = 0;
	if (plain)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"unknown queue URI scheme '%.*s:' (expected %s%s%s)", (int)n, uri, builtin, sep,
			registered);
	return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
		"queue URI has no known scheme (expected %s%s%s)", builtin, sep, registered);
}

int pex_queue_open(pex_queue **out, const char *uri, const char *name)
{
	const struct pex__queue_builtin *builtin = NULL;
	pex_queue_backend_factory factory = NULL;
	void *payload = NULL;
	const char *colon, *rest;
	size_t n;
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
	colon = strchr(uri, ':');
	n = colon ? (size_t)(colon - uri) : 0;
	if (!colon || !pex__queue_scheme_valid(uri, n) ||
	    !pex__queue_registry_find(uri, n, &factory, &payload, &builtin))
		return unknown_scheme(uri);
	rest = colon + 1;
	if (builtin && !builtin->location && *rest)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"queue URI '%.*s:' takes nothing after the colon", (int)n, uri);
	if (builtin && builtin->location && !*rest)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"queue URI '%.*s:' needs %s (%.*s:%s)", (int)n, uri, builtin->needs, (int)n, uri,
			builtin->location);
	return pex__queue_open_factory(out, uri, n, factory, payload, rest, name);
}
