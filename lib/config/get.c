/* Reading a configuration: the typed getters and secret resolution. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "config_internal.h"

/* ---- getters ---- */

typedef enum want {
	WANT_STRING, WANT_INT, WANT_BOOL, WANT_LIST
} want;

static const char *type_name(pex__config_type t)
{
	switch (t) {
	case PEX__CFG_STRING:
	case PEX__CFG_SECRET:
	case PEX__CFG_ENUM:
		return "a string";
	case PEX__CFG_INT:
		return "an integer";
	case PEX__CFG_BOOL:
		return "a boolean";
	case PEX__CFG_LIST:
	case PEX__CFG_SECRET_LIST:
		return "a list";
	}
	return "?";
}

static int type_matches(pex__config_type t, want w)
{
	switch (w) {
	case WANT_STRING:
		return t == PEX__CFG_STRING || t == PEX__CFG_SECRET || t == PEX__CFG_ENUM;
	case WANT_INT:
		return t == PEX__CFG_INT;
	case WANT_BOOL:
		return t == PEX__CFG_BOOL;
	case WANT_LIST:
		return t == PEX__CFG_LIST || t == PEX__CFG_SECRET_LIST;
	}
	return 0;
}

int pex__config_unknown_key(const char *origin, const char *key)
{
	const char *hint = pex__config_suggest(key);
	pex__config_loc loc = { origin, 0, NULL };

	if (hint)
		return pex__config_error(PEX_EINVAL, &loc,
			"unknown key '%s' (did you mean '%s'?)", key, hint);
	return pex__config_error(PEX_EINVAL, &loc, "unknown key '%s'", key);
}

/* Find @p key of type @p w; the value may still be null or lazy. */
static int lookup(int *idx_out, const pex_config *cfg, const void *out, const char *key, want w)
{
	static const char *const wanted[] = { "a string", "an integer", "a boolean", "a list" };
	const pex__config_key *k;
	int idx;

	if (!cfg || !out || !key)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pex_config_get: invalid arguments");
	if ((idx = pex__config_lookup(key)) < 0)
		return pex__config_unknown_key(cfg->origin, key);
	k = &pex__config_schema(NULL)[idx];
	if (!type_matches(k->type, w))
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"configuration key '%s' is %s, not %s", key, type_name(k->type), wanted[w]);
	*idx_out = idx;
	return 0;
}

static int not_set(const pex_config *cfg, const char *key)
{
	return pex_error_set(PEX_ENOTFOUND, PEX_ERROR_CLASS_CONFIG, "%s: %s is not set",
		cfg->origin, key);
}

/* Resolve a lazy secret in place. Called with cfg->lock held. */
static int resolve_lazy(const pex_config *cfg, int idx)
{
	char buf[128];
	const pex__config_value *v = &cfg->values[idx];

	return pex__config_value_resolve(&cfg->values[idx], &pex__config_schema(NULL)[idx],
		pex__config_value_origin(cfg, v, buf, sizeof(buf)), pex__config_value_dir(cfg, v));
}

const char *pex__config_value_origin(const pex_config *cfg, const pex__config_value *v,
	char *buf, size_t size)
{
	if (v->source && strncmp(v->source, "env:", 4) == 0) {
		snprintf(buf, size, "$%s", v->source + 4);
		return buf;
	}
	return cfg->origin;
}

const char *pex__config_value_dir(const pex_config *cfg, const pex__config_value *v)
{
	if (v->source && strncmp(v->source, "env:", 4) == 0)
		return cfg->env_dir;
	return cfg->base_dir;
}

int pex_config_resolve_secrets(const pex_config *cfg)
{
	const pex__config_key *schema;
	size_t i, n;
	int err = 0;

	if (!cfg)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pex_config_resolve_secrets: no configuration given");
	schema = pex__config_schema(&n);
	pthread_mutex_lock(&((pex_config *)cfg)->lock);
	/* what the file or the environment sets (line > 0, a source;
	 * overrides are resolved already), not
	 * a schema default: the azure connection string is read only for the
	 * azure backend */
	for (i = 0; i < n && err == 0; i++)
		if (pex__config_type_is_secret(schema[i].type) &&
		    (cfg->values[i].line || cfg->values[i].source))
			err = resolve_lazy(cfg, (int)i);
	pthread_mutex_unlock(&((pex_config *)cfg)->lock);
	return err;
}

int pex_config_get_string(const char **out, const pex_config *cfg, const char *key)
{
	pex__config_value *v;
	int idx = -1, err, secret;

	if ((err = lookup(&idx, cfg, out, key, WANT_STRING)) < 0)
		return err;
	v = &cfg->values[idx];
	secret = pex__config_type_is_secret(pex__config_schema(NULL)[idx].type);
	/* the lock is the one mutable part of a const config */
	if (secret)
		pthread_mutex_lock(&((pex_config *)cfg)->lock);
	if (v->state == PEX__CFG_VAL_LAZY)
		err = resolve_lazy(cfg, idx);
	if (err == 0 && v->state == PEX__CFG_VAL_NULL)
		err = not_set(cfg, key);
	if (err == 0)
		*out = v->s;
	if (secret)
		pthread_mutex_unlock(&((pex_config *)cfg)->lock);
	return err;
}

/* The value of @p key (of type @p w, never lazy), or NULL with *err set
 * (also when it is null: PEX_ENOTFOUND). */
static const pex__config_value *set_value(int *err, const pex_config *cfg, const void *out,
	const char *key, want w)
{
	int idx = -1;

	if ((*err = lookup(&idx, cfg, out, key, w)) < 0)
		return NULL;
	if (cfg->values[idx].state == PEX__CFG_VAL_NULL) {
		*err = not_set(cfg, key);
		return NULL;
	}
	return &cfg->values[idx];
}

int pex_config_get_int(long long *out, const pex_config *cfg, const char *key)
{
	int err;
	const pex__config_value *v = set_value(&err, cfg, out, key, WANT_INT);

	if (v)
		*out = v->i;
	return err;
}

int pex_config_get_bool(int *out, const pex_config *cfg, const char *key)
{
	int err;
	const pex__config_value *v = set_value(&err, cfg, out, key, WANT_BOOL);

	if (v)
		*out = v->b;
	return err;
}

int pex_config_get_list(const char *const **out, size_t *count,
	const pex_config *cfg, const char *key)
{
	int idx = -1, err;

	if (!count)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pex_config_get_list: invalid arguments");
	if ((err = lookup(&idx, cfg, out, key, WANT_LIST)) < 0)
		return err;
	pthread_mutex_lock(&((pex_config *)cfg)->lock);
	if (cfg->values[idx].state == PEX__CFG_VAL_LAZY)
		err = resolve_lazy(cfg, idx);
	if (err == 0 && cfg->values[idx].state == PEX__CFG_VAL_NULL)
		err = not_set(cfg, key);
	if (err == 0) {
		*out = (const char *const *)cfg->values[idx].list;
		*count = cfg->values[idx].count;
	}
	pthread_mutex_unlock(&((pex_config *)cfg)->lock);
	return err;
}

int pex_config_key_is_secret(const char *key)
{
	int idx = pex__config_lookup(key);

	return idx >= 0 && pex__config_type_is_secret(pex__config_schema(NULL)[idx].type);
}
