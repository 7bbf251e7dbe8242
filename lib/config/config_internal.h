/*
 * Internal declarations of the configuration module (lib/config). Never
 * installed.
 *
 * The module is table driven: schema.c holds one row per dotted key of
 * pexipsdk.yaml(5) (type, limits, default, flags). A pex_config is an array
 * of values parallel to that table. Input, whether a libyaml node or a
 * command-line override, is first described as a pex__config_raw and then
 * converted by the key's type (value.c), so the file and pex_config_set()
 * share one set of rules and one set of messages.
 *
 * Messages have the shape
 *
 *     ORIGIN:LINE: KEY: what is wrong
 *     ORIGIN: KEY: what is wrong             (no line: defaults, overrides)
 *
 * with 1-based lines, and never contain a secret value.
 */
#ifndef PEX_CONFIG_INTERNAL_H
#define PEX_CONFIG_INTERNAL_H

#include <pthread.h>
#include <stddef.h>

#include "internal.h"
#include "pexipsdk/config.h"

/* ---- schema ---- */

typedef enum pex__config_type {
	PEX__CFG_STRING = 0,
	PEX__CFG_SECRET,        /* string accepting env:/file:/keyvault: references */
	PEX__CFG_ENUM,          /* string from a fixed set */
	PEX__CFG_INT,           /* decimal, within [min, max] */
	PEX__CFG_BOOL,          /* true/false, yes/no, on/off */
	PEX__CFG_LIST,          /* sequence of strings */
	PEX__CFG_SECRET_LIST    /* sequence of secret strings */
} pex__config_type;

/* Flags of a schema row. */
#define PEX__CFG_NULLABLE  (1u << 0)   /* null is a valid value */
#define PEX__CFG_REQUIRED  (1u << 1)   /* must be set (non-null) by the file */
#define PEX__CFG_PATH      (1u << 2)   /* a file name: relative = to the config's directory */

/*
 * Extra validation of a string (after type checks). Returns NULL when @p s
 * is fine, else a static description of the rule it breaks ("must contain
 * '{uui}'"). Never called for secrets.
 */
typedef const char *(*pex__config_check_fn)(const char *s);

typedef struct pex__config_key {
	const char *key;                /* dotted path, e.g. "pexip.timeout_ms" */
	pex__config_type type;
	unsigned int flags;
	const char *def;                /* default (scalar types); NULL = null */
	const char *const *def_list;    /* default (list types); NULL-terminated */
	long long min, max;             /* PEX__CFG_INT */
	const char *const *choices;     /* PEX__CFG_ENUM; NULL-terminated */
	pex__config_check_fn check;     /* optional, strings and list items */
} pex__config_key;

/* The whole table and its size. Rows of one section are contiguous. */
const pex__config_key *pex__config_schema(size_t *count);

/* Index of @p key in the schema, or -1. */
int pex__config_lookup(const char *key);

/* 1 if @p path is a section ("pexip", "pool.room"), i.e. a proper prefix of keys. */
int pex__config_is_section(const char *path);

/*
 * Closest known key or section to @p path when it is a plausible typo (small
 * edit distance, or the same last component under another section);
 * NULL when nothing is close enough.
 */
const char *pex__config_suggest(const char *path);
/* PEX_EINVAL "unknown key 'x' (did you mean 'y'?)" at @p origin (get.c). */
int pex__config_unknown_key(const char *origin, const char *key);

/* The rules between keys (gc.orphan_max_age_s against pool.ready_after_s):
 * 0, or PEX_ECONFIG naming both keys, at the line of the first set in the
 * file. */
int pex__config_check_together(const pex_config *cfg);

/*
 * The environment variable of @p key (pexipsdk.yaml(5) ENVIRONMENT):
 * "PEXIPSDK_" and the dotted key upper-cased with '.' as '_'
 * ("pool.room.pin_digits" -> PEXIPSDK_POOL_ROOM_PIN_DIGITS). The one place
 * the mapping lives. Truncated to @p size (64 is plenty for the schema).
 */
void pex__config_env_name(char *out, size_t size, const char *key);

/* Index of the schema key whose variable is @p name, or -1. */
int pex__config_env_lookup(const char *name);

/*
 * 1 if @p name is a PEXIPSDK_ variable that is not a key of the schema but
 * read elsewhere (PEXIPSDK_CONFIG, the Key Vault client's...): never
 * reported as unknown.
 */
int pex__config_env_reserved(const char *name);

/* The closest key variable to the unknown @p name when it is a plausible
 * typo, else NULL. Thread-local buffer. */
const char *pex__config_env_suggest(const char *name);

/* 1 for PEX__CFG_SECRET and PEX__CFG_SECRET_LIST. */
int pex__config_type_is_secret(pex__config_type type);

/* Append "an integer from 1 to 600000" or similar to @p out. */
int pex__config_describe(pex_buf *out, const pex__config_key *k);

/* ---- values ---- */

typedef enum pex__config_state {
	PEX__CFG_VAL_NULL = 0,  /* null / unset */
	PEX__CFG_VAL_SET,       /* holds a value (secrets resolved) */
	PEX__CFG_VAL_LAZY       /* secret reference(s), resolved on first read */
} pex__config_state;

typedef struct pex__config_value {
	pex__config_state state;
	char *s;            /* STRING, SECRET, ENUM; for LAZY the reference */
	long long i;        /* INT */
	int b;              /* BOOL */
	char **list;        /* LIST, SECRET_LIST: count strings (+ NULL) */
	size_t count;
	size_t *lines;      /* lazy SECRET_LIST: the line of each item (or NULL) */
	size_t line;        /* 1-based line it came from; 0 = default/override */
	char *source;       /* NULL: the file (line > 0) or the default; else
	                       "env:PEXIPSDK_...", "flag:--x" or "override" */
	const char *ref;    /* secrets: "env", "file", "keyvault", "literal" or
	                       "mixed" (a list); static */
} pex__config_value;

/* Free what @p v holds (secrets are wiped first) and reset it to null. */
void pex__config_value_clear(pex__config_value *v, pex__config_type type);

/* A retired value: kept until pex_config_free() so borrowed pointers live on. */
typedef struct pex__config_retired {
	struct pex__config_retired *next;
	pex__config_type type;
	pex__config_value v;
} pex__config_retired;

struct pex_config {
	char *origin;                   /* path or caller's origin */
	char *base_dir;                 /* relative paths and file: references
	                                   (pex__config_path); NULL = cwd */
	pex__config_value *values;      /* one per schema row */
	pex__config_retired *retired;
	pthread_mutex_t lock;           /* serialises lazy resolution in getters */
	char **warnings;                /* pex_config_warning(): nwarnings messages */
	size_t nwarnings;
	int env;                        /* the environment goes on top (pex_config_load_env):
	                                   a required key it sets may be absent from the file */
	char *env_dir;                  /* working directory when the environment was
	                                   applied: its relative paths and file: references */
};

/* ---- input and conversion ---- */

typedef enum pex__config_raw_kind {
	PEX__CFG_RAW_NULL = 0,
	PEX__CFG_RAW_SCALAR,
	PEX__CFG_RAW_LIST,
	PEX__CFG_RAW_MAP
} pex__config_raw_kind;

/* One input value, independent of where it came from. */
typedef struct pex__config_raw {
	pex__config_raw_kind kind;
	const char *text;                   /* SCALAR: not NUL-terminated */
	size_t len;
	size_t line;                        /* 1-based; 0 = none */
	const struct pex__config_raw *items;   /* LIST */
	size_t nitems;
} pex__config_raw;

/* Where a message points: "origin:line: key: ". */
typedef struct pex__config_loc {
	const char *origin;
	size_t line;        /* 1-based; 0 = omit */
	const char *key;    /* dotted key, possibly with "[i]"; NULL = omit */
} pex__config_loc;

/* Set the thread's error to "ORIGIN[:LINE]: [KEY: ]message" and return @p code. */
int pex__config_error(int code, const pex__config_loc *loc, const char *fmt, ...)
	PEX_PRINTF(3, 4);

/*
 * Convert @p raw into @p out (which must be null on entry) by the type of
 * schema row @p idx. Secrets are resolved against @p base_dir. On error
 * @p out stays null and the thread's error names @p origin, line and key.
 */
int pex__config_convert(pex__config_value *out, int idx, const pex__config_raw *raw,
	const char *origin, const char *base_dir);

/* Fill @p values (schema-sized, zeroed) with the schema defaults; default
 * paths resolved against @p base_dir (pex__config_path). */
int pex__config_defaults(pex__config_value *values, const char *base_dir);

/* Allocate a configuration holding the defaults; @p origin may be NULL. */
int pex__config_alloc(pex_config **out, const char *origin, const char *base_dir);

/*
 * Resolve one secret reference (env:, file:, keyvault:) or literal into a
 * new string in @p *out. The single place where references are understood;
 * new schemes go here. Errors point at @p loc and never quote the secret:
 * PEX_ECONFIG (bad reference, unset variable, unreadable file), PEX_ENOMEM,
 * and for keyvault: what fetching it gave (PEX_EAUTH, PEX_ENOTFOUND,
 * PEX_EHTTP, PEX_ENET, PEX_ETIMEOUT, PEX_ETLS, PEX_EPARSE, PEX_ENOTSUPPORTED;
 * see lib/secrets/keyvault.h).
 */
int pex__config_resolve_secret(char **out, const char *ref, const char *base_dir,
	const pex__config_loc *loc);

/*
 * Check the shape of a secret reference (env: variable name, file: path
 * present, keyvault: URL) without resolving it: what a file or an override
 * can get wrong by itself is an error at load time; what depends on the
 * environment (a variable, a file, a vault) is an error when the key is
 * read (docs/DECISIONS.md #42).
 */
int pex__config_check_secret_ref(const char *ref, const pex__config_loc *loc);

/*
 * Resolve a lazy secret value (scalar or list) in place; no-op unless
 * PEX__CFG_VAL_LAZY. Errors name @p origin, the value's line and key; on
 * error @p v is unchanged.
 */
int pex__config_value_resolve(pex__config_value *v, const pex__config_key *k,
	const char *origin, const char *base_dir);

/*
 * The one rule for file names in the configuration (keys flagged
 * PEX__CFG_PATH and file: references): an absolute @p path, ":memory:"
 * (SQLite's in-memory database) and any path when @p base_dir is NULL
 * (no configuration file: the current directory) stay as they are; a
 * relative one is joined to @p base_dir, the directory of the
 * configuration file (absolute when the file was loaded). New string in
 * @p *out.
 */
int pex__config_path(char **out, const char *base_dir, const char *path);

/* The kind of a secret value @p s: "env", "file", "keyvault" or "literal" (static). */
const char *pex__config_secret_kind(const char *s);

/* Overwrite and free a secret string. NULL-safe. */
void pex__config_secret_free(char *s);

/*
 * Convert the text @p value (as a command-line flag or an environment
 * variable gives it: "" and null words are null, lists are comma-separated
 * or "[a, b]") into @p out for schema row @p idx. Secrets stay lazy.
 */
int pex__config_convert_text(pex__config_value *out, int idx, const char *value,
	const char *origin, const char *base_dir);

/* Add a warning (pex_config_warning()) to @p cfg. */
int pex__config_add_warning(pex_config *cfg, const char *fmt, ...) PEX_PRINTF(2, 3);

/*
 * Replace the value of row @p idx by @p v, keeping the old one until
 * pex_config_free() (borrowed pointers stay valid); @p r is a zeroed
 * node that this takes over.
 */
void pex__config_install(pex_config *cfg, int idx, pex__config_value *v,
	pex__config_retired *r);

/* The origin messages about value @p v name: "$PEXIPSDK_..." for a value
 * from the environment, else the configuration's origin. */
const char *pex__config_value_origin(const pex_config *cfg, const pex__config_value *v,
	char *buf, size_t size);

/* The directory relative paths of @p v resolve against (pex__config_path). */
const char *pex__config_value_dir(const pex_config *cfg, const pex__config_value *v);

/* ---- YAML ---- */

/* Parse @p yaml into @p cfg (already holding defaults). */
int pex__config_parse_yaml(pex_config *cfg, const char *yaml, size_t len);

/*
 * The last place pex_config_load() looks (default /etc/pexipsdk/config.yaml);
 * tests point it elsewhere. NULL restores the default. Not thread-safe.
 */
void pex__config_set_system_path(const char *path);

#endif
