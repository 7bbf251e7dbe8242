/**
 * @file pexipsdk/config.h
 * @brief The YAML configuration (pexipsdk.yaml, see pexipsdk.yaml(5)).
 *
 * Keys are addressed by dotted paths ("pexip.url", "pool.room.pin_digits").
 * Every key of the schema has a default, so getters succeed for any known key
 * whether or not the file sets it; an unset key without a default (null)
 * returns PEX_ENOTFOUND. Secret-valued keys accept references (env:NAME,
 * file:PATH, keyvault:URL): their shape is checked when the file is loaded,
 * and they are resolved when the key is first read (pex_config_get_string(),
 * pex_config_get_list()), so a program never needs the secrets of keys it
 * does not use. pex_config_resolve_secrets() resolves them all at once.
 *
 * Error messages name the origin, line and key:
 *   pexipsdk.yaml:4: pexip.timeout_ms: expected an integer from 1 to 600000, got "ten"
 */
#ifndef PEXIPSDK_CONFIG_H
#define PEXIPSDK_CONFIG_H

#include "common.h"
#include "buf.h"

PEX_BEGIN_DECL

typedef struct pex_config pex_config;

/**
 * Load the configuration. With @p path NULL the search order is
 * $PEXIPSDK_CONFIG, ./pexipsdk.yaml, /etc/pexipsdk/config.yaml.
 * A set $PEXIPSDK_CONFIG is final (a missing file there is an error).
 * Whatever way it is found, a file that is not owned by the effective user
 * or root, or is writable by group or others, or whose directory is (a
 * sticky directory excepted), is refused with PEX_ECONFIG naming the rule
 * (pexipsdk.yaml(5), FILE PERMISSIONS).
 * keyvault: references are fetched from Azure Key Vault with a Managed
 * Identity token (see pexipsdk.yaml(5)); their failures keep their own code.
 * Secret references are checked for shape here and resolved when read.
 * @return 0, PEX_ENOTFOUND (no file found), PEX_EIO, PEX_ECONFIG with a
 *         message naming the key and line.
 */
PEX_EXTERN int pex_config_load(pex_config **out, const char *path);

/**
 * pex_config_load(), then the environment on top: every key can be set as
 * PEXIPSDK_<SECTION>_<KEY>, the dotted key upper-cased with '.' as '_'
 * (PEXIPSDK_POOL_DEPTH, PEXIPSDK_POOL_ROOM_SERVICE_TYPE); see
 * pex_config_apply_env(). A required key (pexip.url) the environment sets
 * may be absent from the file. When @p path is NULL and the default search
 * finds no file at all, the configuration is the defaults and the
 * environment, provided some variable names a key and the environment sets
 * every required key; its origin is then "<environment>".
 * @return as pex_config_load(); PEX_ENOTFOUND (class CONFIG) when no file
 *         was found, naming the required key and its variable; PEX_ECONFIG
 *         for a bad variable, naming it ("$PEXIPSDK_POOL_DEPTH: pool.depth:
 *         expected an integer from 0 to 100000, got \"x\"").
 */
PEX_EXTERN int pex_config_load_env(pex_config **out, const char *path);

/**
 * Set every key that has a PEXIPSDK_<SECTION>_<KEY> variable in the
 * environment, above what @p cfg holds (precedence: flag > environment >
 * file > default; flags are pex_config_set_from() afterwards). Values are
 * read as by pex_config_set(): "" and null are null, lists are
 * comma-separated ("a, b" or "[a, b]"), a secret key takes a reference or a
 * literal, resolved when read. Relative paths and file: references are
 * taken from the working directory at the time of the call. A PEXIPSDK_
 * variable that names no key (PEXIPSDK_CONFIG and the Key Vault ones
 * excepted) adds a warning (pex_config_warning()) with a did-you-mean.
 * Not thread-safe against concurrent getters (as pex_config_set()); values
 * returned earlier stay valid.
 * @return 0; PEX_ECONFIG naming the variable and the key for a bad value,
 *         @p cfg unchanged; PEX_EINVAL; PEX_ENOMEM.
 */
PEX_EXTERN int pex_config_apply_env(pex_config *cfg);

/**
 * Parse a configuration from memory. @p origin names it in messages
 * (e.g. the file name). Same errors as pex_config_load().
 */
PEX_EXTERN int pex_config_parse(pex_config **out, const char *yaml, size_t len,
	const char *origin);

/** An empty configuration holding only defaults (pexip.url unset). */
PEX_EXTERN int pex_config_new_defaults(pex_config **out);

/** Free a configuration. NULL-safe. */
PEX_EXTERN void pex_config_free(pex_config *cfg);

/**
 * Warnings found while loading (never errors): today, a secret key holding a
 * literal value (not env:/file:/keyvault:) in a file readable by group or
 * others, and queue.azure.tls.verify: false with the azure queue backend.
 * Only pex_config_load() produces them (a file was read).
 * @return the number of warnings; 0 for NULL.
 */
PEX_EXTERN size_t pex_config_warning_count(const pex_config *cfg);

/**
 * Warning @p i (0-based), e.g. "pexipsdk.yaml: pexip.auth.password holds a
 * literal secret and the file is readable by group/others (mode 0644); use
 * env:/file: or chmod 600". Never contains a secret. Borrowed, lives as long
 * as @p cfg; NULL when @p i is out of range.
 */
PEX_EXTERN const char *pex_config_warning(const pex_config *cfg, size_t i);

/** Where the configuration came from (path or origin); borrowed, lives as long as @p cfg. */
PEX_EXTERN const char *pex_config_origin(const pex_config *cfg);

/**
 * Get a string key (secrets come back resolved). @p *out is borrowed and
 * lives as long as @p cfg.
 * @return 0; PEX_ENOTFOUND if the key is null/unset; PEX_EINVAL if the key
 *         is not in the schema or is not a string; for a secret reference
 *         resolved now, PEX_ECONFIG (unset or empty variable, unreadable
 *         file) or what a keyvault: fetch gave (PEX_EAUTH, PEX_ENOTFOUND,
 *         PEX_EHTTP, PEX_ENET, PEX_ETIMEOUT, PEX_ETLS, PEX_ENOTSUPPORTED).
 *         keyvault: secrets are fetched with a Managed Identity token (see
 *         pexipsdk.yaml(5)).
 */
PEX_EXTERN int pex_config_get_string(const char **out, const pex_config *cfg, const char *key);

/** Get an integer key. Errors as pex_config_get_string(). */
PEX_EXTERN int pex_config_get_int(long long *out, const pex_config *cfg, const char *key);

/** Get a boolean key (0 or 1). Errors as pex_config_get_string(). */
PEX_EXTERN int pex_config_get_bool(int *out, const pex_config *cfg, const char *key);

/**
 * Get a list-of-strings key. @p *out is a borrowed array of @p *count
 * strings living as long as @p cfg. Errors as pex_config_get_string().
 */
PEX_EXTERN int pex_config_get_list(const char *const **out, size_t *count,
	const pex_config *cfg, const char *key);

/**
 * Override one key from a string value, as if it had been in the file
 * (used by command-line flags). The value is parsed by the key's type.
 * Not thread-safe against concurrent getters. Values returned earlier stay valid.
 * @return 0, PEX_EINVAL (unknown key), PEX_ECONFIG (bad value),
 *         a keyvault: failure (as pex_config_load) or PEX_ENOMEM.
 */
PEX_EXTERN int pex_config_set(pex_config *cfg, const char *key, const char *value);

/**
 * pex_config_set() recording where the value came from, e.g. "flag:--verbose"
 * (pex_config_show()); @p source NULL or "" is "override".
 */
PEX_EXTERN int pex_config_set_from(pex_config *cfg, const char *key, const char *value,
	const char *source);

/**
 * Resolve every secret reference the configuration file or the environment
 * sets (env:, file:, keyvault:), as the getters would; a resolved secret is kept. Schema
 * defaults are left to their reader (queue.azure.connection_string is read
 * only by the azure backend). Thread-safe with getters.
 * @return 0 or the first failure, as pex_config_get_string(), its message
 *         naming the origin, line and key (never the secret).
 */
PEX_EXTERN int pex_config_resolve_secrets(const pex_config *cfg);

/** 1 if @p key is secret-valued (its value must never be printed), else 0. */
PEX_EXTERN int pex_config_key_is_secret(const char *key);

/**
 * Write the effective configuration as YAML into @p out, with every secret
 * replaced by "<redacted>".
 */
PEX_EXTERN int pex_config_dump(pex_buf *out, const pex_config *cfg);

/** pex_config_show(): one JSON document instead of lines. */
#define PEX_CONFIG_SHOW_JSON 1u

/**
 * The effective configuration with the source of each value, into @p out:
 * a line per key of the schema,
 *
 *     pool.depth = 40  # env:PEXIPSDK_POOL_DEPTH
 *
 * values as JSON, sources "default", "file:PATH:LINE", "env:NAME",
 * "flag:--x" (pex_config_set_from()) or "override". Secrets are
 * "<redacted>" followed by the kind of what was given ("(env: reference)",
 * "(file: reference)", "(keyvault: reference)", "(literal)"), never the
 * value. With PEX_CONFIG_SHOW_JSON: {"origin": ..., "keys": [{"key",
 * "variable", "value", "source", "secret", "reference"}...]}.
 * Lazy secrets are not resolved.
 */
PEX_EXTERN int pex_config_show(pex_buf *out, const pex_config *cfg, unsigned flags);

PEX_END_DECL

#endif
