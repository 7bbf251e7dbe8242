/*
 * The public configuration API (include/pexipsdk/config.h): loading and
 * overrides; the getters are in get.c.
 *
 * Threads: a loaded pex_config may be read (getters, dump) from several
 * threads at once; the one lazy step, resolving a secret default, is
 * serialised by cfg->lock. pex_config_set() needs exclusive access.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "config_internal.h"

/* A configuration file is small; anything bigger is a mistake. */
#define CONFIG_FILE_MAX (4 * 1024 * 1024)

#define DEFAULT_SYSTEM_PATH "/etc/pexipsdk/config.yaml"
#define CWD_PATH "pexipsdk.yaml"
#define OVERRIDE_ORIGIN "<override>"
#define ENV_ORIGIN "<environment>"
/* "its directory PATH" in a refusal; longer paths are cut */
#define PATH_MAX_SHOWN 1100

static const char *system_path = DEFAULT_SYSTEM_PATH;

void pex__config_set_system_path(const char *path)
{
	system_path = path ? path : DEFAULT_SYSTEM_PATH;
}

/* ---- life cycle ---- */

/* The directory of @p path, for relative file: references; NULL = cwd. */
static int dir_of(char **out, const char *path)
{
	const char *slash = path ? strrchr(path, '/') : NULL;

	*out = NULL;
	if (!slash)
		return 0;
	if (slash == path)
		*out = pex__strdup("/");
	else
		*out = pex__strndup(path, (size_t)(slash - path));
	return *out ? 0 : PEX_ENOMEM;
}

/*
 * The directory of the file @p path as a canonical absolute path (it exists:
 * the file was just opened from it), so that what the file names resolves
 * the same whatever the current directory is later; relative (as dir_of)
 * only if it cannot be found.
 */
static int abs_dir_of(char **out, const char *path)
{
	char real[PATH_MAX], *dir = NULL;
	int err;

	if ((err = dir_of(&dir, path)) < 0)
		return err;
	if (!realpath(dir ? dir : ".", real)) {
		*out = dir;
		return 0;
	}
	free(dir);
	return (*out = pex__strdup(real)) ? 0 : PEX_ENOMEM;
}

int pex__config_alloc(pex_config **out, const char *origin, const char *base_dir)
{
	pex_config *cfg;
	size_t n;

	pex__config_schema(&n);
	if (!(cfg = pex__calloc(1, sizeof(*cfg))))
		return PEX_ENOMEM;
	if (pthread_mutex_init(&cfg->lock, NULL) != 0) {
		free(cfg);
		return pex_error_set(PEX_ERROR, PEX_ERROR_CLASS_OS, "cannot create a mutex");
	}
	if (!(cfg->values = pex__calloc(n, sizeof(*cfg->values))) ||
	    !(cfg->origin = pex__strdup(origin ? origin : "<memory>")) ||
	    (base_dir && !(cfg->base_dir = pex__strdup(base_dir))) ||
	    pex__config_defaults(cfg->values, base_dir) < 0) {
		pex_config_free(cfg);
		return PEX_ENOMEM;
	}
	*out = cfg;
	return 0;
}

void pex_config_free(pex_config *cfg)
{
	const pex__config_key *schema;
	pex__config_retired *r, *next;
	size_t i, n;

	if (!cfg)
		return;
	schema = pex__config_schema(&n);
	if (cfg->values)
		for (i = 0; i < n; i++)
			pex__config_value_clear(&cfg->values[i], schema[i].type);
	for (r = cfg->retired; r; r = next) {
		next = r->next;
		pex__config_value_clear(&r->v, r->type);
		free(r);
	}
	for (i = 0; i < cfg->nwarnings; i++)
		free(cfg->warnings[i]);
	free(cfg->warnings);
	free(cfg->values);
	free(cfg->origin);
	free(cfg->base_dir);
	free(cfg->env_dir);
	pthread_mutex_destroy(&cfg->lock);
	free(cfg);
}

int pex_config_new_defaults(pex_config **out)
{
	if (!out)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "no output pointer given");
	return pex__config_alloc(out, "<defaults>", NULL);
}

/* Parse @p yaml with relative paths resolved against @p dir (NULL = cwd). */
static int parse_in(pex_config **out, const char *yaml, size_t len, const char *origin,
	const char *dir, int env)
{
	pex_config *cfg = NULL;
	int err;

	if ((err = pex__config_alloc(&cfg, origin, dir)) < 0)
		return err;
	cfg->env = env;
	if ((err = pex__config_parse_yaml(cfg, yaml, len)) < 0) {
		pex_config_free(cfg);
		return err;
	}
	*out = cfg;
	return 0;
}

int pex_config_parse(pex_config **out, const char *yaml, size_t len, const char *origin)
{
	char *dir = NULL;
	int err;

	if (!out || (!yaml && len))
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pex_config_parse: invalid arguments");
	if ((err = dir_of(&dir, origin)) == 0)
		err = parse_in(out, yaml, len, origin, dir, 0);
	free(dir);
	return err;
}

const char *pex_config_origin(const pex_config *cfg)
{
	return cfg ? cfg->origin : NULL;
}

/* ---- warnings ---- */

size_t pex_config_warning_count(const pex_config *cfg)
{
	return cfg ? cfg->nwarnings : 0;
}

const char *pex_config_warning(const pex_config *cfg, size_t i)
{
	return cfg && i < cfg->nwarnings ? cfg->warnings[i] : NULL;
}

int pex__config_add_warning(pex_config *cfg, const char *fmt, ...)
{
	pex_buf b = PEX_BUF_INIT;
	char **w;
	va_list ap;
	int err;

	va_start(ap, fmt);
	err = pex__buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (err < 0 || !(w = pex__realloc(cfg->warnings, (cfg->nwarnings + 1) * sizeof(*w)))) {
		pex_buf_dispose(&b);
		return PEX_ENOMEM;
	}
	cfg->warnings = w;
	w[cfg->nwarnings++] = b.ptr;   /* the buffer's string is ours now */
	return 0;
}

/* A scalar that is a literal secret: set, and not an env:/file:/keyvault: reference. */
static int literal_scalar(const yaml_node_t *n)
{
	const char *v = (const char *)n->data.scalar.value;
	size_t len = n->data.scalar.length;

	if (n->type != YAML_SCALAR_NODE || len == 0)
		return 0;
	if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    (strcmp(v, "~") == 0 || strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
	     strcmp(v, "NULL") == 0))
		return 0;
	return strcmp(pex__config_secret_kind(v), "literal") == 0;
}

/*
 * Walk a document that already parsed cleanly (so keys are scalars and every
 * key is known) and warn about each secret key holding a literal.
 */
static int warn_literals(pex_config *cfg, yaml_document_t *doc, yaml_node_t *map,
	const char *prefix, const char *why, unsigned mode)
{
	yaml_node_pair_t *pair;
	int err;

	for (pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *kn = yaml_document_get_node(doc, pair->key);
		yaml_node_t *vn = yaml_document_get_node(doc, pair->value);
		char path[256];
		int idx, literal = 0;

		if (!kn || !vn || kn->type != YAML_SCALAR_NODE ||
		    snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "",
			(const char *)kn->data.scalar.value) >= (int)sizeof(path))
			continue;
		if (vn->type == YAML_MAPPING_NODE) {
			if ((err = warn_literals(cfg, doc, vn, path, why, mode)) < 0)
				return err;
			continue;
		}
		if ((idx = pex__config_lookup(path)) < 0 ||
		    !pex__config_type_is_secret(pex__config_schema(NULL)[idx].type))
			continue;
		if (vn->type == YAML_SCALAR_NODE) {
			literal = literal_scalar(vn);
		} else if (vn->type == YAML_SEQUENCE_NODE) {
			yaml_node_item_t *it;
			for (it = vn->data.sequence.items.start; it < vn->data.sequence.items.top; it++) {
				yaml_node_t *in = yaml_document_get_node(doc, *it);
				if (in && literal_scalar(in))
					literal = 1;
			}
		}
		if (literal && (err = pex__config_add_warning(cfg, "%s: %s holds a literal secret and the file is "
				"readable by %s (mode %04o); use env:/file: or chmod 600",
				cfg->origin, path, why, mode)) < 0)
			return err;
	}
	return 0;
}

/*
 * After a file was loaded: a literal secret in a file that group or others
 * can read draws a warning. Best effort: a failure here never fails the load
 * (the file parsed; only the warning would be lost), except for memory.
 */
static int check_literal_secrets(pex_config *cfg, const struct stat *st,
	const char *yaml, size_t len)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	const char *why;
	int err = 0;

	if (!S_ISREG(st->st_mode) || !(st->st_mode & (S_IRGRP | S_IROTH)))
		return 0;
	why = (st->st_mode & S_IRGRP) && (st->st_mode & S_IROTH) ? "group and others" :
		(st->st_mode & S_IRGRP) ? "group" : "others";
	if (!yaml_parser_initialize(&parser))
		return PEX_ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
	if (yaml_parser_load(&parser, &doc)) {
		root = yaml_document_get_root_node(&doc);
		if (root && root->type == YAML_MAPPING_NODE)
			err = warn_literals(cfg, &doc, root, "", why,
				(unsigned)(st->st_mode & 07777));
		yaml_document_delete(&doc);
	}
	yaml_parser_delete(&parser);
	return err;
}

/*
 * TLS verification of Azure Storage turned off (only an explicit false does
 * that) draws a warning when the azure backend is the one chosen. The
 * Pexip side's pexip.tls.verify: false is logged by the client itself.
 */
static int check_tls_off(pex_config *cfg)
{
	const char *backend = NULL;
	int verify = 1;

	if (pex_config_get_string(&backend, cfg, "queue.backend") < 0 || !backend ||
	    strcmp(backend, "azure") != 0 ||
	    pex_config_get_bool(&verify, cfg, "queue.azure.tls.verify") < 0 || verify) {
		pex_error_clear();
		return 0;
	}
	return pex__config_add_warning(cfg, "%s: TLS certificate verification of Azure Storage is OFF "
		"(queue.azure.tls.verify: false)", cfg->origin);
}

/* ---- files ---- */

static int io_error(int code, const char *path, int errnum)
{
	char ebuf[128];

	return pex_error_set(code, PEX_ERROR_CLASS_OS, "cannot read configuration %s: %s",
		path, strerror_r(errnum, ebuf, sizeof(ebuf)));
}

/*
 * Open @p path. Returns the descriptor, or -1 with @p *errnum set
 * (ENOENT/ENOTDIR: "not there", anything else: there but unusable).
 */
static int open_config(const char *path, int *errnum)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*errnum = fd < 0 ? errno : 0;
	return fd;
}

static int is_absent(int errnum)
{
	return errnum == ENOENT || errnum == ENOTDIR;
}

/*
 * Who may have written a configuration (pexipsdk.yaml(5) FILES,
 * docs/DECISIONS.md): like ssh with its config, the file must be owned by the effective
 * user or root and, when it is a regular file, not writable by group or
 * others; its directory likewise, except that a sticky directory (/tmp)
 * may be writable by all. Anyone else who could write it could point
 * pexip.url at their server and a file: secret at ours.
 */
static int untrusted(const char *path, const char *what, const struct stat *st, int dir)
{
	uid_t me = geteuid();
	unsigned mode = (unsigned)(st->st_mode & 07777);

	if (st->st_uid != me && st->st_uid != 0)
		return pex_error_set(PEX_ECONFIG, PEX_ERROR_CLASS_CONFIG,
			"refusing configuration %s: %s is owned by uid %lu, not by you (uid %lu) "
			"or root", path, what, (unsigned long)st->st_uid, (unsigned long)me);
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) && (dir ? !(st->st_mode & S_ISVTX) :
			S_ISREG(st->st_mode)))
		return pex_error_set(PEX_ECONFIG, PEX_ERROR_CLASS_CONFIG,
			"refusing configuration %s: %s is writable by %s (mode %04o); "
			"chmod go-w it", path, what,
			(st->st_mode & S_IWGRP) && (st->st_mode & S_IWOTH) ? "group and others" :
			(st->st_mode & S_IWGRP) ? "group" : "others", mode);
	return 0;
}

static int check_trusted(const char *path, const struct stat *st)
{
	struct stat dst;
	char *dir = NULL, what[PATH_MAX_SHOWN];
	int err;

	if ((err = untrusted(path, "the file", st, 0)) < 0 || (err = dir_of(&dir, path)) < 0)
		return err;
	if (stat(dir ? dir : ".", &dst) < 0) {
		err = io_error(PEX_EIO, dir ? dir : ".", errno);
	} else {
		snprintf(what, sizeof(what), "its directory %s", dir ? dir : ".");
		err = untrusted(path, what, &dst, 1);
	}
	free(dir);
	return err;
}

/* Read and parse an open file; closes @p fd. @p env: the environment goes
 * on top (pex_config_load_env), which checks TLS itself afterwards. */
static int load_fd(pex_config **out, int fd, const char *path, int env)
{
	struct stat st;
	char *data = NULL, *dir = NULL;
	size_t len = 0, cap;
	int err;

	if (fstat(fd, &st) < 0) {
		err = io_error(PEX_EIO, path, errno);
		goto done;
	}
	if (S_ISDIR(st.st_mode)) {
		err = io_error(PEX_EIO, path, EISDIR);
		goto done;
	}
	if ((err = check_trusted(path, &st)) < 0)
		goto done;
	cap = (S_ISREG(st.st_mode) && st.st_size < CONFIG_FILE_MAX ?
		(size_t)st.st_size : CONFIG_FILE_MAX) + 1;
	if (!(data = pex__malloc(cap))) {
		err = PEX_ENOMEM;
		goto done;
	}
	for (;;) {
		ssize_t n;
		if (len == cap) {
			/* grew while reading, or not a regular file: go up to the limit */
			char *bigger;
			if (cap > CONFIG_FILE_MAX) {
				err = pex_error_set(PEX_ECONFIG, PEX_ERROR_CLASS_CONFIG,
					"%s: file is larger than %d bytes", path, CONFIG_FILE_MAX);
				goto done;
			}
			if (!(bigger = pex__malloc(CONFIG_FILE_MAX + 1))) {
				err = PEX_ENOMEM;
				goto done;
			}
			memcpy(bigger, data, len);
			explicit_bzero(data, cap);
			free(data);
			data = bigger;
			cap = CONFIG_FILE_MAX + 1;
		}
		if ((n = pex__read_full(fd, data + len, cap - len)) < 0) {
			err = io_error(PEX_EIO, path, errno);
			goto done;
		}
		len += (size_t)n;
		if (len < cap)
			break;      /* end of file */
	}
	if ((err = abs_dir_of(&dir, path)) == 0)
		err = parse_in(out, data, len, path, dir, env);
	free(dir);
	if (err == 0 && ((err = check_literal_secrets(*out, &st, data, len)) < 0 ||
			 (!env && (err = check_tls_off(*out)) < 0))) {
		pex_config_free(*out);
		*out = NULL;
	}
done:
	if (data) {
		/* the file may hold literal secrets */
		explicit_bzero(data, cap);
		free(data);
	}
	close(fd);
	return err;
}

/* pex_config_load(), and pex_config_load_env() with @p env; @p *none_found
 * tells that the default search found no file at all. */
static int load(pex_config **out, const char *path, int use_env, int *none_found)
{
	const char *env;
	int fd, errnum, errnum_cwd;

	*none_found = 0;
	if (!out)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "no output pointer given");

	/* An explicit path, or $PEXIPSDK_CONFIG, is authoritative. */
	if (path || ((env = getenv("PEXIPSDK_CONFIG")) && *env)) {
		const char *p = path ? path : env;
		if ((fd = open_config(p, &errnum)) < 0) {
			if (is_absent(errnum) && path)
				return io_error(PEX_ENOTFOUND, p, errnum);
			if (is_absent(errnum)) {
				char ebuf[128];
				return pex_error_set(PEX_ENOTFOUND, PEX_ERROR_CLASS_OS,
					"cannot read configuration %s (from $PEXIPSDK_CONFIG): %s",
					p, strerror_r(errnum, ebuf, sizeof(ebuf)));
			}
			return io_error(PEX_EIO, p, errnum);
		}
		return load_fd(out, fd, p, use_env);
	}

	if ((fd = open_config(CWD_PATH, &errnum_cwd)) >= 0)
		return load_fd(out, fd, CWD_PATH, use_env);
	if (!is_absent(errnum_cwd))
		return io_error(PEX_EIO, CWD_PATH, errnum_cwd);
	if ((fd = open_config(system_path, &errnum)) >= 0)
		return load_fd(out, fd, system_path, use_env);
	if (!is_absent(errnum))
		return io_error(PEX_EIO, system_path, errnum);
	*none_found = 1;
	return pex_error_set(PEX_ENOTFOUND, PEX_ERROR_CLASS_CONFIG,
		"no configuration file found (looked at $PEXIPSDK_CONFIG (not set), ./%s, %s); "
		"pass one with -c FILE", CWD_PATH, system_path);
}

int pex_config_load(pex_config **out, const char *path)
{
	int none_found;

	return load(out, path, 0, &none_found);
}

/* Some PEXIPSDK_ variable names a key. */
static int env_sets_a_key(void)
{
	extern char **environ;
	char name[96];
	char **e;

	for (e = environ; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		size_t len = eq ? (size_t)(eq - *e) : 0;
		if (strncmp(*e, "PEXIPSDK_", 9) != 0 || len >= sizeof(name))
			continue;
		memcpy(name, *e, len);
		name[len] = '\0';
		if (pex__config_env_lookup(name) >= 0)
			return 1;
	}
	return 0;
}

/* Without a file: the first required key the environment left unset, as
 * PEX_ENOTFOUND (no configuration) naming the key and its variable. */
static int env_check_required(const pex_config *cfg, const char *no_file)
{
	const pex__config_key *schema;
	char env[96];
	size_t i, n;

	schema = pex__config_schema(&n);
	for (i = 0; i < n; i++) {
		if (!(schema[i].flags & PEX__CFG_REQUIRED) || cfg->values[i].state != PEX__CFG_VAL_NULL)
			continue;
		pex__config_env_name(env, sizeof(env), schema[i].key);
		return pex_error_set(PEX_ENOTFOUND, PEX_ERROR_CLASS_CONFIG,
			"%s; or set %s in the environment as $%s (required without a file)",
			no_file, schema[i].key, env);
	}
	return 0;
}

int pex_config_load_env(pex_config **out, const char *path)
{
	pex_config *cfg = NULL;
	char no_file[1200];
	int err, none_found = 0;

	if (!out)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "no output pointer given");
	err = load(&cfg, path, 1, &none_found);
	if (err < 0 && !(none_found && env_sets_a_key()))
		return err;
	if (err < 0) {
		/* no file: the defaults and the environment (pexipsdk.yaml(5) ENVIRONMENT) */
		snprintf(no_file, sizeof(no_file), "%s", pex_error_last()->message);
		if ((err = pex__config_alloc(&cfg, ENV_ORIGIN, NULL)) < 0)
			return err;
		cfg->env = 1;
		pex_error_clear();
		if ((err = pex_config_apply_env(cfg)) == 0)
			err = env_check_required(cfg, no_file);
	} else {
		err = pex_config_apply_env(cfg);
	}
	if (err == 0)
		err = pex__config_check_together(cfg);
	if (err == 0)
		err = check_tls_off(cfg);
	if (err < 0) {
		pex_config_free(cfg);
		return err;
	}
	*out = cfg;
	return 0;
}

/* ---- overrides ---- */

static int is_null_word(const char *s)
{
	return !*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
		strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Split "a, b,c" or "[a, b]" into items pointing into @p s; blanks around
 * items are dropped. "" and "[]" are the empty list.
 */
static int split_list(pex__config_raw **out, size_t *count, const char *s)
{
	const char *start = s, *end = s + strlen(s), *p;
	pex__config_raw *items;
	size_t n = 1, i = 0;

	while (start < end && is_space(*start))
		start++;
	while (end > start && is_space(end[-1]))
		end--;
	if (end - start >= 2 && *start == '[' && end[-1] == ']') {
		start++;
		end--;
		while (start < end && is_space(*start))
			start++;
		while (end > start && is_space(end[-1]))
			end--;
	}
	*out = NULL;
	*count = 0;
	if (start == end)
		return 0;
	for (p = start; p < end; p++)
		if (*p == ',')
			n++;
	if (!(items = pex__calloc(n, sizeof(*items))))
		return PEX_ENOMEM;
	for (p = start; i < n; i++) {
		const char *q = memchr(p, ',', (size_t)(end - p)), *a = p, *b;
		b = q ? q : end;
		while (a < b && is_space(*a))
			a++;
		while (b > a && is_space(b[-1]))
			b--;
		items[i].kind = PEX__CFG_RAW_SCALAR;
		items[i].text = a;
		items[i].len = (size_t)(b - a);
		p = q ? q + 1 : end;
	}
	*out = items;
	*count = n;
	return 0;
}

int pex__config_convert_text(pex__config_value *out, int idx, const char *value,
	const char *origin, const char *base_dir)
{
	const pex__config_key *k = &pex__config_schema(NULL)[idx];
	pex__config_raw raw = { PEX__CFG_RAW_NULL, NULL, 0, 0, NULL, 0 };
	pex__config_raw *items = NULL;
	int err;

	if (k->type == PEX__CFG_LIST || k->type == PEX__CFG_SECRET_LIST) {
		if (value && !is_null_word(value)) {
			if ((err = split_list(&items, &raw.nitems, value)) < 0)
				return err;
			raw.kind = PEX__CFG_RAW_LIST;
			raw.items = items;
		}
	} else if (value && !is_null_word(value)) {
		raw.kind = PEX__CFG_RAW_SCALAR;
		raw.text = value;
		raw.len = strlen(value);
	}
	err = pex__config_convert(out, idx, &raw, origin, base_dir);
	free(items);
	return err;
}

void pex__config_install(pex_config *cfg, int idx, pex__config_value *v,
	pex__config_retired *r)
{
	r->type = pex__config_schema(NULL)[idx].type;
	r->v = cfg->values[idx];
	r->next = cfg->retired;
	cfg->retired = r;
	cfg->values[idx] = *v;
}

int pex_config_set(pex_config *cfg, const char *key, const char *value)
{
	return pex_config_set_from(cfg, key, value, NULL);
}

int pex_config_set_from(pex_config *cfg, const char *key, const char *value, const char *source)
{
	const pex__config_key *k;
	pex__config_retired *r;
	pex__config_value v;
	int idx = -1, err;

	if (!cfg || !key)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pex_config_set: invalid arguments");
	if ((idx = pex__config_lookup(key)) < 0)
		return pex__config_unknown_key(OVERRIDE_ORIGIN, key);
	k = &pex__config_schema(NULL)[idx];

	if (!(r = pex__calloc(1, sizeof(*r))))
		return PEX_ENOMEM;
	err = pex__config_convert_text(&v, idx, value, OVERRIDE_ORIGIN, cfg->base_dir);
	/* an override is resolved at once: its caller is there to hear of it */
	if (err == 0 && (err = pex__config_value_resolve(&v, k, OVERRIDE_ORIGIN, cfg->base_dir)) < 0)
		pex__config_value_clear(&v, k->type);
	if (err == 0 && !(v.source = pex__strdup(source && *source ? source : "override"))) {
		pex__config_value_clear(&v, k->type);
		err = PEX_ENOMEM;
	}
	if (err < 0) {
		free(r);
		return err;
	}

	/* Keep the old value until pex_config_free(): pointers handed out by
	 * the getters stay valid, as config.h promises. */
	pex__config_install(cfg, idx, &v, r);
	return 0;
}
