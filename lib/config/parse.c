/*
 * pexipsdk.yaml → pex_config, with libyaml's document loader.
 *
 * The document is walked against the schema: sections (pexip, pool.room...)
 * must be mappings, leaves are converted by their type (value.c). The first
 * problem stops the walk; the caller throws the half-built config away.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config_internal.h"

/* Longest dotted path we track; longer keys are unknown anyway. */
#define PATH_MAX_LEN 192

/* Deepest nesting of mappings and lists accepted (pexipsdk.yaml(5)). The
 * schema needs 4; libyaml's scanner and loader take time quadratic in the
 * depth of flow nesting ([[[...), so deeper input is refused from the
 * event stream, before the document is loaded. */
#define YAML_DEPTH_MAX 32

typedef struct parse_ctx {
	pex_config *cfg;
	yaml_document_t *doc;
} parse_ctx;

static size_t node_line(const yaml_node_t *n)
{
	return n->start_mark.line + 1;
}

/* Plain "", "~", "null", "Null", "NULL" are null; quoted ones are strings. */
static int scalar_is_null(const yaml_node_t *n)
{
	const char *v = (const char *)n->data.scalar.value;
	size_t len = n->data.scalar.length;

	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE && n->data.scalar.style != YAML_ANY_SCALAR_STYLE)
		return 0;
	return len == 0 || (len == 1 && v[0] == '~') ||
		(len == 4 && (memcmp(v, "null", 4) == 0 || memcmp(v, "Null", 4) == 0 ||
			      memcmp(v, "NULL", 4) == 0));
}

/* Describe a node as a pex__config_raw (LIST items are filled by the caller). */
static void node_to_raw(pex__config_raw *raw, const yaml_node_t *n)
{
	memset(raw, 0, sizeof(*raw));
	raw->line = node_line(n);
	switch (n->type) {
	case YAML_SCALAR_NODE:
		if (scalar_is_null(n)) {
			raw->kind = PEX__CFG_RAW_NULL;
		} else {
			raw->kind = PEX__CFG_RAW_SCALAR;
			raw->text = (const char *)n->data.scalar.value;
			raw->len = n->data.scalar.length;
		}
		break;
	case YAML_SEQUENCE_NODE:
		raw->kind = PEX__CFG_RAW_LIST;
		break;
	case YAML_MAPPING_NODE:
	case YAML_NO_NODE:
	default:
		raw->kind = PEX__CFG_RAW_MAP;
		break;
	}
}

static const char *kind_name(const yaml_node_t *n)
{
	if (n->type == YAML_SEQUENCE_NODE)
		return "a list";
	if (n->type == YAML_MAPPING_NODE)
		return "a mapping";
	return "a scalar";
}

/*
 * Convert and store one leaf value. Messages point at @p line, the key's
 * line (a block value starts on the next one); list items at their own.
 */
static int set_leaf(parse_ctx *ctx, int idx, yaml_node_t *n, size_t line)
{
	pex__config_raw raw, *items = NULL;
	pex__config_value v;
	const pex__config_key *k = &pex__config_schema(NULL)[idx];
	int err;

	node_to_raw(&raw, n);
	raw.line = line;
	if (raw.kind == PEX__CFG_RAW_LIST) {
		size_t i, count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
		if (!(items = pex__calloc(count ? count : 1, sizeof(*items))))
			return PEX_ENOMEM;
		for (i = 0; i < count; i++)
			node_to_raw(&items[i], yaml_document_get_node(ctx->doc,
				n->data.sequence.items.start[i]));
		raw.items = items;
		raw.nitems = count;
	}
	err = pex__config_convert(&v, idx, &raw, ctx->cfg->origin, ctx->cfg->base_dir);
	free(items);
	if (err < 0)
		return err;
	pex__config_value_clear(&ctx->cfg->values[idx], k->type);
	ctx->cfg->values[idx] = v;
	return 0;
}

static int walk_mapping(parse_ctx *ctx, yaml_node_t *map, const char *prefix)
{
	yaml_node_pair_t *pair, *other;
	const char *origin = ctx->cfg->origin;
	int err;

	for (pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *kn = yaml_document_get_node(ctx->doc, pair->key);
		yaml_node_t *vn = yaml_document_get_node(ctx->doc, pair->value);
		pex__config_loc loc = { origin, node_line(kn), NULL };
		char path[PATH_MAX_LEN + 8], shown[PATH_MAX_LEN + 8];
		const char *key, *hint;
		size_t klen;
		int idx, known;

		if (kn->type != YAML_SCALAR_NODE) {
			loc.key = prefix[0] ? prefix : NULL;
			return pex__config_error(PEX_ECONFIG, &loc,
				"keys must be plain strings, got %s", kind_name(kn));
		}
		key = (const char *)kn->data.scalar.value;
		klen = kn->data.scalar.length;

		/* the dotted path of this key, shown safely */
		if (prefix[0])
			snprintf(path, sizeof(path), "%s.", prefix);
		else
			path[0] = '\0';
		pex__text_escape(shown, sizeof(shown), key, klen, "'", klen);
		snprintf(path + strlen(path), sizeof(path) - strlen(path), "%s", shown);

		/* duplicates within this mapping */
		for (other = map->data.mapping.pairs.start; other < pair; other++) {
			yaml_node_t *on = yaml_document_get_node(ctx->doc, other->key);
			if (on->type == YAML_SCALAR_NODE && on->data.scalar.length == klen &&
			    memcmp(on->data.scalar.value, key, klen) == 0)
				return pex__config_error(PEX_ECONFIG, &loc,
					"duplicate key '%s' (first at line %zu)", path, node_line(on));
		}

		/* a key of the schema (a leaf or a section) written as YAML key? */
		known = klen <= PATH_MAX_LEN && !memchr(key, '\0', klen) &&
			(pex__config_lookup(path) >= 0 || pex__config_is_section(path));
		if (known && memchr(key, '.', klen))
			return pex__config_error(PEX_ECONFIG, &loc,
				"'%s': dotted keys are not supported, nest the key under its section",
				path);

		if (known && (idx = pex__config_lookup(path)) >= 0) {
			if ((err = set_leaf(ctx, idx, vn, loc.line)) < 0)
				return err;
			continue;
		}
		if (known) {
			/* a section: a mapping, or nothing at all ("events:") */
			if (vn->type == YAML_MAPPING_NODE) {
				if ((err = walk_mapping(ctx, vn, path)) < 0)
					return err;
				continue;
			}
			if (vn->type == YAML_SCALAR_NODE && scalar_is_null(vn))
				continue;
			loc.key = path;
			return pex__config_error(PEX_ECONFIG, &loc,
				"expected a mapping (a section), got %s", kind_name(vn));
		}

		hint = pex__config_suggest(path);
		if (hint)
			return pex__config_error(PEX_ECONFIG, &loc,
				"unknown key '%s' (did you mean '%s'?)", path, hint);
		return pex__config_error(PEX_ECONFIG, &loc, "unknown key '%s'", path);
	}
	return 0;
}

static int syntax_error(const yaml_parser_t *p, const char *origin, const char *yaml, size_t len)
{
	size_t i, line = 1, col = 1;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		return pex__error_nomem();
	case YAML_READER_ERROR:
		/* decoding errors come with a byte offset only: make it a position
		 * (column in bytes) */
		for (i = 0; yaml && i < p->problem_offset && i < len; i++) {
			if (yaml[i] == '\n') {
				line++;
				col = 1;
			} else {
				col++;
			}
		}
		return pex_error_set(PEX_ECONFIG, PEX_ERROR_CLASS_YAML,
			"%s:%zu:%zu: invalid YAML: %s", origin, line, col,
			p->problem ? p->problem : "unreadable input");
	default:
		break;
	}
	if (p->context)
		return pex_error_set(PEX_ECONFIG, PEX_ERROR_CLASS_YAML,
			"%s:%zu:%zu: invalid YAML: %s (%s at line %zu, column %zu)",
			origin, p->problem_mark.line + 1, p->problem_mark.column + 1,
			p->problem ? p->problem : "syntax error", p->context,
			p->context_mark.line + 1, p->context_mark.column + 1);
	return pex_error_set(PEX_ECONFIG, PEX_ERROR_CLASS_YAML, "%s:%zu:%zu: invalid YAML: %s",
		origin, p->problem_mark.line + 1, p->problem_mark.column + 1,
		p->problem ? p->problem : "syntax error");
}

/*
 * The line of the section a missing required @p key belongs in (the
 * "pexip:" of "pexip.url"), or 0 when the document has no such section.
 * The walk has accepted the document, so sections are mappings or null.
 */
static size_t section_line(yaml_document_t *doc, yaml_node_t *root, const char *key)
{
	yaml_node_t *map = root;
	const char *comp = key, *dot;
	size_t line = 0;

	while ((dot = strchr(comp, '.')) != NULL) {
		size_t clen = (size_t)(dot - comp);
		yaml_node_pair_t *pair;
		yaml_node_t *next = NULL;
		if (!map || map->type != YAML_MAPPING_NODE)
			return 0;
		for (pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
			yaml_node_t *kn = yaml_document_get_node(doc, pair->key);
			if (kn && kn->type == YAML_SCALAR_NODE && kn->data.scalar.length == clen &&
			    memcmp(kn->data.scalar.value, comp, clen) == 0) {
				line = node_line(kn);
				next = yaml_document_get_node(doc, pair->value);
				break;
			}
		}
		if (!next)
			return 0;
		map = next;
		comp = dot + 1;
	}
	return line;
}

/* The first required key the document left unset, as an error naming the
 * line of its section when there is one. */
static int check_required(pex_config *cfg, yaml_document_t *doc, yaml_node_t *root, int empty)
{
	const pex__config_key *schema;
	pex__config_loc loc = { cfg->origin, 0, NULL };
	size_t i, n;

	schema = pex__config_schema(&n);
	for (i = 0; i < n; i++) {
		const char *key = schema[i].key, *dot = strrchr(key, '.');
		int plen = dot ? (int)(dot - key) : 0;
		char env[96], or_env[128] = "";
		if (!(schema[i].flags & PEX__CFG_REQUIRED) || cfg->values[i].state != PEX__CFG_VAL_NULL)
			continue;
		/* pex_config_load_env(): the environment may set it (checked there) */
		pex__config_env_name(env, sizeof(env), key);
		if (cfg->env && getenv(env))
			continue;
		if (cfg->env)
			snprintf(or_env, sizeof(or_env), "; or set $%s", env);
		if (empty)
			return pex__config_error(PEX_ECONFIG, &loc,
				"missing required key '%s' (the configuration is empty%s)", key, or_env);
		if (!dot)
			return pex__config_error(PEX_ECONFIG, &loc, "missing required key '%s'%s", key,
				or_env);
		loc.line = section_line(doc, root, key);
		if (loc.line)
			return pex__config_error(PEX_ECONFIG, &loc,
				"missing required key '%s' in section '%.*s'%s", key, plen, key, or_env);
		return pex__config_error(PEX_ECONFIG, &loc,
			"missing required key '%s' (there is no '%.*s' section%s)", key, plen, key, or_env);
	}
	return 0;
}

/*
 * Refuse nesting deeper than YAML_DEPTH_MAX, naming the line where it goes
 * too deep. Reads events only as far as that line: libyaml scans tokens on
 * demand, so the cost of the refusal does not grow with the rest of the
 * file. Syntax errors met on the way are reported as the loader would.
 */
static int check_depth(const char *origin, const char *yaml, size_t len)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	pex__config_loc loc = { origin, 0, NULL };
	int depth = 0, err = 0, done = 0;

	if (!yaml_parser_initialize(&parser))
		return pex__error_nomem();
	yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
	while (!done && err == 0) {
		if (!yaml_parser_parse(&parser, &ev)) {
			err = syntax_error(&parser, origin, yaml, len);
			break;
		}
		switch (ev.type) {
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (++depth > YAML_DEPTH_MAX) {
				loc.line = ev.start_mark.line + 1;
				err = pex__config_error(PEX_ECONFIG, &loc,
					"mappings and lists nested deeper than %d levels", YAML_DEPTH_MAX);
			}
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	return err;
}

int pex__config_parse_yaml(pex_config *cfg, const char *yaml, size_t len)
{
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	yaml_node_t *root;
	parse_ctx ctx = { cfg, &doc };
	pex__config_loc loc = { cfg->origin, 0, NULL };
	int err = 0, empty = 0;

	if (!yaml)
		len = 0;
	if ((err = check_depth(cfg->origin, yaml ? yaml : "", len)) < 0)
		return err;
	if (!yaml_parser_initialize(&parser))
		return pex__error_nomem();
	yaml_parser_set_input_string(&parser, (const unsigned char *)(yaml ? yaml : ""), len);
	if (!yaml_parser_load(&parser, &doc)) {
		err = syntax_error(&parser, cfg->origin, yaml, len);
		yaml_parser_delete(&parser);
		return err;
	}

	root = yaml_document_get_root_node(&doc);
	if (!root || (root->type == YAML_SCALAR_NODE && scalar_is_null(root))) {
		empty = 1;
	} else if (root->type != YAML_MAPPING_NODE) {
		loc.line = node_line(root);
		err = pex__config_error(PEX_ECONFIG, &loc,
			"expected a mapping of sections (pexip, queue, pool...) at the top level, got %s",
			kind_name(root));
	} else {
		err = walk_mapping(&ctx, root, "");
	}

	/* one document per file */
	if (err == 0 && root) {
		if (!yaml_parser_load(&parser, &extra)) {
			err = syntax_error(&parser, cfg->origin, yaml, len);
		} else {
			yaml_node_t *r2 = yaml_document_get_root_node(&extra);
			if (r2) {
				loc.line = r2->start_mark.line + 1;
				err = pex__config_error(PEX_ECONFIG, &loc,
					"more than one YAML document (only one is allowed)");
			}
			yaml_document_delete(&extra);
		}
	}
	if (err == 0)
		err = check_required(cfg, &doc, root, empty);
	/* with the environment on top, pex_config_load_env() checks afterwards */
	if (err == 0 && !cfg->env)
		err = pex__config_check_together(cfg);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return err;
}
