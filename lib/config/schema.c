/*
 * The configuration schema: one row per key of pexipsdk.yaml(5)
 * (man/pexipsdk.yaml.5), plus lookups, typo suggestions and the string validators.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config_internal.h"
#include "pool/pool_internal.h"   /* the pool's own name prefix and age rules */
#include "queue/queue_internal.h" /* queue names and backend schemes */

/* ---- validators (return NULL when fine, else the rule that failed) ---- */

/* An absolute http:// or https:// URL with a host. */
static const char *check_http_url(const char *s)
{
	const char *host;
	size_t i;

	if (strncasecmp(s, "https://", 8) == 0)
		host = s + 8;
	else if (strncasecmp(s, "http://", 7) == 0)
		host = s + 7;
	else
		return "must be an http:// or https:// URL";
	if (*host == '\0' || *host == '/' || *host == '?' || *host == '#' || *host == ':')
		return "must be an http:// or https:// URL with a host";
	for (i = 0; s[i]; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
			return "must be a URL without spaces or control characters";
	return NULL;
}

/* A text Pexip stores (pool.room.description): at most 250 characters. */
static const char *check_pexip_text(const char *s)
{
	char why[96];
	if (!pex__text_chars_ok(s, strlen(s), PEX__TEXT_MAX_CHARS, why, sizeof(why)))
		return "must be valid UTF-8 of at most 250 characters";
	return NULL;
}

/* pool.queue, gc.queue: the queue module's rule (pex_queue_name_validate). */
static const char *check_queue_name(const char *s)
{
	size_t at;
	return pex__queue_name_rule(s, &at);
}

/* queue.backend: a built-in name, or the scheme of a backend registered
 * with pex_queue_backend_register() (looked up when the queue is opened):
 * the scheme rule of the queue module's table, which the built-in names keep. */
static const char *check_queue_backend(const char *s)
{
	if (pex__queue_scheme_valid(s, strlen(s)))
		return NULL;
	return "must be memory, sqlite, azure, postgres or the name of a registered backend "
		"(a lowercase letter, then up to 15 of a-z, 0-9, '+' and '-')";
}

/* tag.url_template: the uui module's rule (pex_uui_to_tag). */
static const char *check_url_template(const char *s)
{
	return pex__tag_template_rule(s);
}

/* HOST:PORT with a port from 1 to 65535 (HOST may be a [v6] literal). */
static const char *check_listen(const char *s)
{
	const char *colon = strrchr(s, ':');
	long port = 0;
	const char *p;

	if (!colon || colon == s)
		return "must be HOST:PORT";
	if (colon[1] == '\0')
		return "must be HOST:PORT with a port from 1 to 65535";
	for (p = colon + 1; *p; p++) {
		if (*p < '0' || *p > '9')
			return "must be HOST:PORT with a port from 1 to 65535";
		port = port * 10 + (*p - '0');
		if (port > 65535)
			return "must be HOST:PORT with a port from 1 to 65535";
	}
	if (port < 1)
		return "must be HOST:PORT with a port from 1 to 65535";
	return NULL;
}

/* ---- the table ---- */

static const char *const auth_methods[] = { "basic", "oauth2", NULL };
static const char *const service_types[] = { "conference", "lecture", NULL };
static const char *const log_levels[] = { "error", "warn", "info", "debug", NULL };
static const char *const log_formats[] = { "text", "json", NULL };

static const char *const empty_list[] = { NULL };
static const char *const protected_prefixes[] = { "test_", "vkiosk_", NULL };

#define N PEX__CFG_NULLABLE
#define R PEX__CFG_REQUIRED
#define P PEX__CFG_PATH

#define STR(k, fl, d, chk) \
	{ k, PEX__CFG_STRING, fl, d, NULL, 0, 0, NULL, chk }
#define SECRET(k, fl, d) \
	{ k, PEX__CFG_SECRET, fl, d, NULL, 0, 0, NULL, NULL }
#define ENUM(k, d, ch) \
	{ k, PEX__CFG_ENUM, 0, d, NULL, 0, 0, ch, NULL }
#define INT(k, fl, d, lo, hi) \
	{ k, PEX__CFG_INT, fl, d, NULL, lo, hi, NULL, NULL }
#define BOOL(k, d) \
	{ k, PEX__CFG_BOOL, 0, d, NULL, 0, 0, NULL, NULL }
#define LIST(k, d) \
	{ k, PEX__CFG_LIST, 0, NULL, d, 0, 0, NULL, NULL }
#define SECRET_LIST(k, d) \
	{ k, PEX__CFG_SECRET_LIST, 0, NULL, d, 0, 0, NULL, NULL }

/*
 * Keep the rows of one section together (the dump relies on it) and in
 * the order of pexipsdk.yaml(5).
 */
static const pex__config_key schema[] = {
	STR("pexip.url", R, NULL, check_http_url),
	ENUM("pexip.auth.method", "basic", auth_methods),
	STR("pexip.auth.username", N, NULL, NULL),
	SECRET("pexip.auth.password", N, NULL),
	STR("pexip.auth.client_id", N, NULL, NULL),
	SECRET("pexip.auth.private_key", N, NULL),
	STR("pexip.auth.token_url", N, NULL, check_http_url),
	STR("pexip.auth.audience", N, NULL, NULL),
	STR("pexip.auth.scope", N, NULL, pex__oauth_scope_check),
	BOOL("pexip.tls.verify", "true"),
	STR("pexip.tls.ca_file", N | P, NULL, NULL),
	INT("pexip.timeout_ms", 0, "10000", 1, 600000),
	INT("pexip.max_concurrency", 0, "5", 1, 64),
	INT("pexip.retries.max", 0, "3", 0, 20),
	INT("pexip.retries.base_ms", 0, "200", 1, 60000),
	INT("pexip.retries.cap_ms", 0, "30000", 1, 600000),

	STR("queue.backend", 0, "sqlite", check_queue_backend),
	SECRET("queue.location", N, NULL),
	STR("queue.sqlite.path", P, "pexipsdk.db", NULL),
	/* A default reference is resolved lazily, when read: a missing
	 * variable only matters if the azure backend is used. */
	SECRET("queue.azure.connection_string", 0, "env:AZURE_STORAGE_CONNECTION_STRING"),
	BOOL("queue.azure.tls.verify", "true"),
	STR("queue.azure.tls.ca_file", N | P, NULL, NULL),
	INT("queue.azure.timeout_ms", 0, "10000", 1, 600000),
	/* resolved lazily too: only the postgres backend reads it */
	SECRET("queue.postgres.conninfo", 0, "env:PEXIPSDK_PG"),
	STR("queue.postgres.schema", 0, "pexipsdk", NULL),
	INT("queue.postgres.statement_timeout_ms", 0, "10000", 1, 3600000),

	STR("pool.queue", 0, "room-creation-queue", check_queue_name),
	INT("pool.depth", 0, "20", 0, 100000),
	STR("pool.name_prefix", 0, "vmr_", pex__pool_name_prefix_rule),
	INT("pool.lease_s", 0, "60", 5, 3600),
	INT("pool.ready_after_s", 0, "60", 0, 3600),
	INT("pool.max_depth", 0, "0", 0, 100000),
	INT("pool.wait_ms", 0, "2000", 0, 60000),
	INT("pool.cooldown_s", 0, "60", 0, 86400),
	ENUM("pool.room.service_type", "conference", service_types),
	BOOL("pool.room.allow_guests", "true"),
	INT("pool.room.pin_digits", 0, "6", 4, 20),
	INT("pool.room.guest_pin_digits", 0, "6", 4, 20),
	STR("pool.room.alias_domain", N, NULL, NULL),
	INT("pool.room.participant_limit", N, NULL, 0, 1000000),
	STR("pool.room.description", N, NULL, check_pexip_text),

	STR("tag.url_template", N, NULL, check_url_template),
	LIST("tag.allowed_hosts", empty_list),

	STR("gc.queue", 0, "room-deletion-queue", check_queue_name),
	INT("gc.delay_s", 0, "600", 0, 604800),
	LIST("gc.protected_prefixes", protected_prefixes),
	LIST("gc.owned_prefixes", empty_list),
	INT("gc.orphan_max_age_s", 0, "86400", 0, LLONG_MAX),

	STR("events.username", N, NULL, NULL),
	SECRET("events.password", N, NULL),

	STR("server.listen", 0, "127.0.0.1:8080", check_listen),
	SECRET_LIST("server.api_keys", empty_list),
	STR("server.jwt.issuer", N, NULL, NULL),
	STR("server.jwt.audience", N, NULL, NULL),
	STR("server.jwt.jwks_file", N | P, NULL, NULL),
	STR("server.jwt.jwks_url", N, NULL, NULL),
	STR("server.jwt.ca_file", N | P, NULL, NULL),

	ENUM("log.level", "info", log_levels),
	ENUM("log.format", "text", log_formats),
};

#undef N
#undef R
#undef P
#undef STR
#undef SECRET
#undef ENUM
#undef INT
#undef BOOL
#undef LIST
#undef SECRET_LIST

const pex__config_key *pex__config_schema(size_t *count)
{
	if (count)
		*count = PEX__ARRAY_SIZE(schema);
	return schema;
}

int pex__config_lookup(const char *key)
{
	size_t i;

	if (!key)
		return -1;
	for (i = 0; i < PEX__ARRAY_SIZE(schema); i++)
		if (strcmp(schema[i].key, key) == 0)
			return (int)i;
	return -1;
}

int pex__config_is_section(const char *path)
{
	size_t i, n;

	if (!path || !*path)
		return 0;
	n = strlen(path);
	for (i = 0; i < PEX__ARRAY_SIZE(schema); i++)
		if (strncmp(schema[i].key, path, n) == 0 && schema[i].key[n] == '.')
			return 1;
	return 0;
}

int pex__config_check_together(const pex_config *cfg)
{
	int age = pex__config_lookup("gc.orphan_max_age_s"), ready = pex__config_lookup("pool.ready_after_s");
	const pex__config_value *a = &cfg->values[age], *r = &cfg->values[ready];
	pex__config_loc loc = { cfg->origin, a->line ? a->line : r->line, NULL };
	char why[400];

	/* the pool's lifecycle rule (lib/pool/lifecycle.h); pex_pool_new applies it too */
	if (pex__lifecycle_ages_rule(a->i, r->i, why, sizeof(why)))
		return pex__config_error(PEX_ECONFIG, &loc, "%s", why);
	return 0;
}

int pex__config_type_is_secret(pex__config_type type)
{
	return type == PEX__CFG_SECRET || type == PEX__CFG_SECRET_LIST;
}

int pex__config_describe(pex_buf *out, const pex__config_key *k)
{
	size_t i;
	int err = 0;

	switch (k->type) {
	case PEX__CFG_STRING:
		return pex__buf_puts(out, "a string");
	case PEX__CFG_SECRET:
		return pex__buf_puts(out, "a string or an env:, file: or keyvault: reference");
	case PEX__CFG_ENUM:
		err = pex__buf_puts(out, "one of ");
		for (i = 0; err == 0 && k->choices[i]; i++)
			err = pex__buf_printf(out, "%s%s", i ? ", " : "", k->choices[i]);
		return err;
	case PEX__CFG_INT:
		if (k->max == LLONG_MAX)
			return pex__buf_printf(out, "an integer from %lld up", k->min);
		return pex__buf_printf(out, "an integer from %lld to %lld", k->min, k->max);
	case PEX__CFG_BOOL:
		return pex__buf_puts(out, "true or false (or yes/no, on/off)");
	case PEX__CFG_LIST:
	case PEX__CFG_SECRET_LIST:
		return pex__buf_puts(out, "a list of strings");
	}
	return err;
}

/* ---- typo suggestions ---- */

/* Levenshtein distance between @p a and the first @p lb bytes of @p b. */
static size_t edit_distance(const char *a, const char *b, size_t lb)
{
	size_t la = strlen(a), i, j;
	size_t row[129], prev, tmp;

	if (la > 128)
		la = 128;
	if (lb > 128)
		lb = 128;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t best = prev + (a[i - 1] == b[j - 1] ? 0 : 1);
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			tmp = row[j];
			row[j] = best;
			prev = tmp;
		}
	}
	return row[lb];
}

const char *pex__config_suggest(const char *path)
{
	/* a section is a prefix of a key: returned from here */
	static _Thread_local char section[64];
	const char *best = NULL, *last, *dot;
	size_t best_len = 0, best_d = (size_t)-1, limit, i, n, d;

	if (!path || !*path)
		return NULL;

	/* the closest key or section (every proper prefix ending at a '.') */
	for (i = 0; i < PEX__ARRAY_SIZE(schema); i++) {
		const char *key = schema[i].key;
		for (dot = key; dot; dot = strchr(dot + 1, '.')) {
			size_t len = dot == key ? strlen(key) : (size_t)(dot - key);
			if ((d = edit_distance(path, key, len)) < best_d) {
				best_d = d;
				best = key;
				best_len = len;
			}
		}
	}
	if (best && best_len != strlen(best)) {
		snprintf(section, sizeof(section), "%.*s", (int)best_len, best);
		best = section;
	}

	/* One slip of the keyboard. */
	if (best_d == 1)
		return best;

	/* The right key under the wrong section ("pexip.depth"). */
	dot = strrchr(path, '.');
	last = dot ? dot + 1 : path;
	for (i = 0; i < PEX__ARRAY_SIZE(schema); i++) {
		const char *kd = strrchr(schema[i].key, '.');
		if (kd && strcmp(kd + 1, last) == 0)
			return schema[i].key;
	}

	/* A transposition costs 2; allow more on longer keys, at most 3. */
	n = strlen(path);
	limit = 1 + n / 5;
	if (limit > 3)
		limit = 3;
	if (best_d <= limit && best_d > 0)
		return best;
	return NULL;
}

/* ---- environment variables (pexipsdk.yaml(5) ENVIRONMENT) ---- */

#define ENV_PREFIX "PEXIPSDK_"

/* PEXIPSDK_ variables read elsewhere: not keys, never "unknown". */
static const char *const env_reserved[] = {
	"PEXIPSDK_CONFIG",              /* the file (pex_config_load) */
	"PEXIPSDK_PG",                  /* queue.postgres.conninfo's default reference */
	"PEXIPSDK_IMDS_ENDPOINT",       /* lib/secrets: the Managed Identity endpoint */
	"PEXIPSDK_KEYVAULT_CA_FILE",    /* lib/secrets: the Key Vault CA bundle */
	NULL
};

void pex__config_env_name(char *out, size_t size, const char *key)
{
	size_t o = 0, i;

	if (!size)
		return;
	for (i = 0; ENV_PREFIX[i] && o + 1 < size; i++)
		out[o++] = ENV_PREFIX[i];
	for (i = 0; key[i] && o + 1 < size; i++) {
		char c = key[i];
		out[o++] = c == '.' ? '_' : (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
	}
	out[o] = '\0';
}

int pex__config_env_lookup(const char *name)
{
	char env[96];
	size_t i;

	if (!name || strncmp(name, ENV_PREFIX, strlen(ENV_PREFIX)) != 0)
		return -1;
	for (i = 0; i < PEX__ARRAY_SIZE(schema); i++) {
		pex__config_env_name(env, sizeof(env), schema[i].key);
		if (strcmp(env, name) == 0)
			return (int)i;
	}
	return -1;
}

int pex__config_env_reserved(const char *name)
{
	size_t i;

	for (i = 0; name && env_reserved[i]; i++)
		if (strcmp(env_reserved[i], name) == 0)
			return 1;
	return 0;
}

const char *pex__config_env_suggest(const char *name)
{
	static _Thread_local char best[96];
	char env[96];
	size_t i, d, best_d = (size_t)-1, limit;

	if (!name)
		return NULL;
	for (i = 0; i < PEX__ARRAY_SIZE(schema); i++) {
		pex__config_env_name(env, sizeof(env), schema[i].key);
		if ((d = edit_distance(name, env, strlen(env))) < best_d) {
			best_d = d;
			memcpy(best, env, sizeof(best));
		}
	}
	/* as pex__config_suggest: more slips on longer names, at most 3 */
	d = strlen(name);
	limit = 1 + (d > strlen(ENV_PREFIX) ? d - strlen(ENV_PREFIX) : 0) / 5;
	if (limit > 3)
		limit = 3;
	return best_d > 0 && best_d <= limit ? best : NULL;
}
