/*
 * Queue backends by scheme: one table of (scheme, factory, payload) that
 * holds the built-in backends (memory, sqlite, azure, postgres) first and
 * the third-party ones registered with pex_queue_backend_register() after
 * them. pex_queue_open("scheme:LOCATION") and pex_queue_open_config() with
 * queue.backend: scheme look every scheme up here (docs/DECISIONS.md #63).
 *
 * The table is static and holds no allocations (schemes are copied into
 * fixed arrays), so it needs no set-up and nothing to free at shutdown.
 * Lookups copy the entry under the lock and call the factory outside it, so
 * a factory may itself open queues or register backends.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "queue_internal.h"

typedef struct entry {
	char scheme[PEX_QUEUE_SCHEME_MAX + 1];     /* "" = free slot */
	pex_queue_backend_factory factory;
	void *payload;
	const struct pex__queue_builtin *builtin;  /* NULL for a registered one */
} entry;

/* ---- the built-in backends, made from a URI's location ---- */

static int memory_at(pex_queue_backend **out, const char *location, void *payload)
{
	PEX__UNUSED(location);
	PEX__UNUSED(payload);
	return pex_queue_backend_memory_new(out);
}

static int sqlite_at(pex_queue_backend **out, const char *location, void *payload)
{
	pex_queue_sqlite_options o = PEX_QUEUE_SQLITE_OPTIONS_INIT;

	PEX__UNUSED(payload);
	o.path = location;
	return pex_queue_backend_sqlite_new(out, &o);
}

static int azure_at(pex_queue_backend **out, const char *location, void *payload)
{
	pex_queue_azure_options o = PEX_QUEUE_AZURE_OPTIONS_INIT;

	PEX__UNUSED(payload);
	o.connection_string = location;
	return pex_queue_backend_azure_new(out, &o);
}

static int postgres_at(pex_queue_backend **out, const char *location, void *payload)
{
	pex_queue_postgres_options o = PEX_QUEUE_POSTGRES_OPTIONS_INIT;

	PEX__UNUSED(payload);
	o.conninfo = location;
	return pex_queue_backend_postgres_new(out, &o);
}

static const struct pex__queue_builtin builtin_memory = { NULL, NULL, pex__queue_memory_from_config };
static const struct pex__queue_builtin builtin_sqlite = {
	"PATH", "a database path", pex__queue_sqlite_from_config };
static const struct pex__queue_builtin builtin_azure = {
	"CONNECTION-STRING", "a connection string", pex__queue_azure_from_config };
static const struct pex__queue_builtin builtin_postgres = {
	"CONNINFO", "a libpq connection string or URI", pex__queue_postgres_from_config };

#define BUILTINS 4
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static entry table[BUILTINS + PEX_QUEUE_BACKENDS_MAX] = {
	{ "memory", memory_at, NULL, &builtin_memory },
	{ "sqlite", sqlite_at, NULL, &builtin_sqlite },
	{ "azure", azure_at, NULL, &builtin_azure },
	{ "postgres", postgres_at, NULL, &builtin_postgres },
};

void pex__queue_builtin_names(char *out, size_t size, int uri)
{
	size_t i, used = 0;
	int n;

	for (i = 0; i < BUILTINS && used < size; i++) {
		const struct pex__queue_builtin *b = table[i].builtin;
		n = snprintf(out + used, size - used, "%s%s%s%s", i == 0 ? "" :
			i + 1 < BUILTINS ? ", " : uri ? " or " : ", ", table[i].scheme,
			uri ? ":" : "", uri && b->location ? b->location : "");
		used = n < 0 ? size : used + (size_t)n;
	}
}

int pex__queue_scheme_valid(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > PEX_QUEUE_SCHEME_MAX || !(s[0] >= 'a' && s[0] <= 'z'))
		return 0;
	for (i = 1; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '+' || s[i] == '-'))
			return 0;
	return 1;
}

/* The slot holding @p s, or NULL. Call with the lock held. */
static entry *find_locked(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < PEX__ARRAY_SIZE(table); i++)
		if (table[i].scheme[0] && strlen(table[i].scheme) == len &&
		    memcmp(table[i].scheme, s, len) == 0)
			return &table[i];
	return NULL;
}

int pex_queue_backend_register(const char *scheme, pex_queue_backend_factory factory,
	void *payload)
{
	entry *e = NULL;
	size_t i, len;
	int err = 0;

	if (!scheme || !factory)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pex_queue_backend_register: scheme and factory are required");
	len = strlen(scheme);
	if (!pex__queue_scheme_valid(scheme, len))
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"queue backend name '%.*s' is not valid: a lowercase letter, then up to "
			"%d of a-z, 0-9, '+' and '-'", len > 40 ? 40 : (int)len, scheme,
			PEX_QUEUE_SCHEME_MAX - 1);
	pthread_mutex_lock(&lock);
	if ((e = find_locked(scheme, len)) != NULL) {
		err = e->builtin ? PEX_EINVAL : PEX_EEXISTS;
		e = NULL;
	} else {
		for (i = BUILTINS; i < PEX__ARRAY_SIZE(table) && !e; i++)
			if (!table[i].scheme[0])
				e = &table[i];
		if (e) {
			memcpy(e->scheme, scheme, len + 1);
			e->factory = factory;
			e->payload = payload;
		}
	}
	pthread_mutex_unlock(&lock);
	if (err == PEX_EINVAL)
		return pex_error_set(PEX_EEXISTS, PEX_ERROR_CLASS_INVALID,
			"queue backend '%s' is built in and cannot be registered", scheme);
	if (err == PEX_EEXISTS)
		return pex_error_set(PEX_EEXISTS, PEX_ERROR_CLASS_INVALID,
			"queue backend '%s' is already registered", scheme);
	if (!e && !err)
		return pex_error_set(PEX_ERROR, PEX_ERROR_CLASS_INVALID,
			"cannot register queue backend '%s': %d are registered already (the most)",
			scheme, PEX_QUEUE_BACKENDS_MAX);
	return 0;
}

int pex_queue_backend_unregister(const char *scheme)
{
	entry *e;

	if (!scheme)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pex_queue_backend_unregister: scheme is NULL");
	pthread_mutex_lock(&lock);
	if ((e = find_locked(scheme, strlen(scheme))) != NULL && !e->builtin)
		memset(e, 0, sizeof(*e));
	else
		e = NULL;
	pthread_mutex_unlock(&lock);
	if (!e)
		return pex_error_set(PEX_ENOTFOUND, PEX_ERROR_CLASS_INVALID,
			"queue backend '%.40s' is not registered", scheme);
	return 0;
}

int pex__queue_registry_find(const char *scheme, size_t len, pex_queue_backend_factory *factory,
	void **payload, const struct pex__queue_builtin **builtin)
{
	entry *e;

	pthread_mutex_lock(&lock);
	if ((e = find_locked(scheme, len)) != NULL) {
		*factory = e->factory;
		*payload = e->payload;
		*builtin = e->builtin;
	}
	pthread_mutex_unlock(&lock);
	return e != NULL;
}

void pex__queue_registry_names(char *out, size_t size, const char *sep, const char *suffix)
{
	size_t i, used = 0;
	int n;

	if (size == 0)
		return;
	out[0] = '\0';
	pthread_mutex_lock(&lock);
	for (i = BUILTINS; i < PEX__ARRAY_SIZE(table); i++) {
		if (!table[i].scheme[0])
			continue;
		n = snprintf(out + used, size - used, "%s%s%s", used ? sep : "", table[i].scheme,
			suffix);
		if (n < 0 || (size_t)n >= size - used) {
			out[used] = '\0';
			break;
		}
		used += (size_t)n;
	}
	pthread_mutex_unlock(&lock);
}

int pex__queue_open_factory(pex_queue **out, const char *scheme, size_t len,
	pex_queue_backend_factory factory, void *payload, const char *location, const char *name)
{
	pex_queue_backend *b = NULL;
	int err;

	pex_error_clear();
	if ((err = factory(&b, location, payload)) < 0) {
		/* keep the factory's own message; make sure there is one */
		if (pex_error_last()->code != err)
			pex_error_set(err, PEX_ERROR_CLASS_QUEUE,
				"queue backend '%.*s' could not be created (%s)", (int)len, scheme,
				pex_error_name(err));
		return err;
	}
	if (!b)
		return pex_error_set(PEX_EBACKEND, PEX_ERROR_CLASS_QUEUE,
			"queue backend '%.*s': its factory succeeded but returned no backend",
			(int)len, scheme);
	return pex__queue_open_owned(out, b, name);
}
