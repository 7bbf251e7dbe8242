/*
 * pex_config_dump(): the effective configuration (every key, defaults
 * included) as YAML, written with libyaml's emitter so quoting is right.
 * Secrets come out as "<redacted>"; lazy defaults are not resolved.
 * pex_config_show(): the same values, one per key, with their sources.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "config_internal.h"

#define REDACTED "<redacted>"
#define MAX_DEPTH 4
#define MAX_PART 32

typedef struct emit_ctx {
	yaml_emitter_t emitter;
	yaml_event_t event;
	int failed;
} emit_ctx;

static int write_handler(void *data, unsigned char *buffer, size_t size)
{
	return pex__buf_put(data, buffer, size) == 0;
}

/* Emit the prepared event; remember the first failure. */
static void emit(emit_ctx *e, int initialized)
{
	if (e->failed)
		return;
	if (!initialized || !yaml_emitter_emit(&e->emitter, &e->event))
		e->failed = 1;
}

/* Would our own parser (or a YAML 1.1 reader) take this plain text for null? */
static int looks_null(const char *s)
{
	return !*s || strcmp(s, "~") == 0 || strcasecmp(s, "null") == 0;
}

static void emit_scalar(emit_ctx *e, const char *s, int is_string)
{
	yaml_scalar_style_t style = YAML_ANY_SCALAR_STYLE;

	if (is_string && looks_null(s))
		style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
	emit(e, yaml_scalar_event_initialize(&e->event, NULL, NULL,
		(yaml_char_t *)s, (int)strlen(s), 1, 1, style));
}

static void emit_value(emit_ctx *e, const pex__config_key *k, const pex__config_value *v)
{
	int secret = pex__config_type_is_secret(k->type);
	char num[32];
	size_t i;

	if (v->state == PEX__CFG_VAL_NULL) {
		emit(e, yaml_scalar_event_initialize(&e->event, NULL, NULL,
			(yaml_char_t *)"null", 4, 1, 1, YAML_PLAIN_SCALAR_STYLE));
		return;
	}
	switch (k->type) {
	case PEX__CFG_STRING:
	case PEX__CFG_ENUM:
		emit_scalar(e, v->s, 1);
		break;
	case PEX__CFG_SECRET:
		emit_scalar(e, REDACTED, 1);
		break;
	case PEX__CFG_INT:
		snprintf(num, sizeof(num), "%lld", v->i);
		emit_scalar(e, num, 0);
		break;
	case PEX__CFG_BOOL:
		emit_scalar(e, v->b ? "true" : "false", 0);
		break;
	case PEX__CFG_LIST:
	case PEX__CFG_SECRET_LIST:
		emit(e, yaml_sequence_start_event_initialize(&e->event, NULL, NULL, 1,
			YAML_FLOW_SEQUENCE_STYLE));
		for (i = 0; i < v->count; i++)
			emit_scalar(e, secret ? REDACTED : v->list[i], 1);
		emit(e, yaml_sequence_end_event_initialize(&e->event));
		break;
	}
}

/* Split "a.b.c" into at most MAX_DEPTH parts; returns the count. */
static size_t split_key(char parts[MAX_DEPTH][MAX_PART], const char *key)
{
	size_t n = 0;

	while (n < MAX_DEPTH) {
		const char *dot = strchr(key, '.');
		size_t len = dot ? (size_t)(dot - key) : strlen(key);
		snprintf(parts[n++], MAX_PART, "%.*s", (int)len, key);
		if (!dot)
			break;
		key = dot + 1;
	}
	return n;
}

static void emit_all(emit_ctx *e, const pex_config *cfg)
{
	char open[MAX_DEPTH][MAX_PART], parts[MAX_DEPTH][MAX_PART];
	size_t depth = 0, i, n, nparts, common;
	const pex__config_key *schema = pex__config_schema(&n);

	emit(e, yaml_stream_start_event_initialize(&e->event, YAML_UTF8_ENCODING));
	emit(e, yaml_document_start_event_initialize(&e->event, NULL, NULL, NULL, 1));
	emit(e, yaml_mapping_start_event_initialize(&e->event, NULL, NULL, 1,
		YAML_BLOCK_MAPPING_STYLE));

	/* Rows of a section are contiguous: close and open sections as the
	 * dotted prefix changes. */
	for (i = 0; i < n; i++) {
		nparts = split_key(parts, schema[i].key);
		for (common = 0; common < depth && common + 1 < nparts &&
		     strcmp(open[common], parts[common]) == 0; common++)
			;
		for (; depth > common; depth--)
			emit(e, yaml_mapping_end_event_initialize(&e->event));
		for (; depth + 1 < nparts; depth++) {
			emit_scalar(e, parts[depth], 0);
			emit(e, yaml_mapping_start_event_initialize(&e->event, NULL, NULL, 1,
				YAML_BLOCK_MAPPING_STYLE));
			memcpy(open[depth], parts[depth], MAX_PART);
		}
		emit_scalar(e, parts[nparts - 1], 0);
		emit_value(e, &schema[i], &cfg->values[i]);
	}
	for (; depth > 0; depth--)
		emit(e, yaml_mapping_end_event_initialize(&e->event));

	emit(e, yaml_mapping_end_event_initialize(&e->event));
	emit(e, yaml_document_end_event_initialize(&e->event, 1));
	emit(e, yaml_stream_end_event_initialize(&e->event));
}

int pex_config_dump(pex_buf *out, const pex_config *cfg)
{
	pex_buf tmp = PEX_BUF_INIT;
	emit_ctx e;

	if (!out || !cfg)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pex_config_dump: invalid arguments");
	memset(&e, 0, sizeof(e));
	if (!yaml_emitter_initialize(&e.emitter))
		return pex__error_nomem();
	yaml_emitter_set_output(&e.emitter, write_handler, &tmp);
	yaml_emitter_set_unicode(&e.emitter, 1);
	yaml_emitter_set_indent(&e.emitter, 2);
	yaml_emitter_set_width(&e.emitter, -1);

	/* the lock guards lazy values changing state under us */
	pthread_mutex_lock(&((pex_config *)cfg)->lock);
	emit_all(&e, cfg);
	if (!e.failed && !yaml_emitter_flush(&e.emitter))
		e.failed = 1;
	pthread_mutex_unlock(&((pex_config *)cfg)->lock);
	if (e.failed) {
		int err;
		if (e.emitter.error == YAML_MEMORY_ERROR || e.emitter.error == YAML_WRITER_ERROR)
			err = pex__error_nomem();
		else
			err = pex_error_set(PEX_ERROR, PEX_ERROR_CLASS_YAML,
				"cannot write the configuration as YAML: %s",
				e.emitter.problem ? e.emitter.problem : "emitter error");
		yaml_emitter_delete(&e.emitter);
		pex_buf_dispose(&tmp);
		return err;
	}
	yaml_emitter_delete(&e.emitter);
	pex_buf_dispose(out);
	*out = tmp;
	return 0;
}

/* ---- pex_config_show() ---- */

/* The value of @p v as JSON: secrets redacted (REDACTED, the one rule). */
static json_object *show_value(const pex__config_key *k, const pex__config_value *v)
{
	int secret = pex__config_type_is_secret(k->type);
	json_object *list;
	size_t i;

	if (v->state == PEX__CFG_VAL_NULL)
		return NULL;
	switch (k->type) {
	case PEX__CFG_STRING:
	case PEX__CFG_ENUM:
		return json_object_new_string(v->s);
	case PEX__CFG_SECRET:
		return json_object_new_string(REDACTED);
	case PEX__CFG_INT:
		return json_object_new_int64(v->i);
	case PEX__CFG_BOOL:
		return json_object_new_boolean(v->b);
	case PEX__CFG_LIST:
	case PEX__CFG_SECRET_LIST:
		list = json_object_new_array();
		for (i = 0; list && i < v->count; i++)
			json_object_array_add(list, json_object_new_string(secret ? REDACTED :
				v->list[i]));
		return list;
	}
	return NULL;
}

/* "default", "file:PATH:LINE" or what the value recorded. */
static int show_source(pex_buf *out, const pex_config *cfg, const pex__config_value *v)
{
	if (v->source)
		return pex__buf_puts(out, v->source);
	if (v->line)
		return pex__buf_printf(out, "file:%s:%zu", cfg->origin, v->line);
	return pex__buf_puts(out, "default");
}

/* One key: a JSON object for --json, else "key = value  # source". */
static int show_key(pex_buf *out, json_object *keys, const pex_config *cfg, size_t i)
{
	const pex__config_key *k = &pex__config_schema(NULL)[i];
	const pex__config_value *v = &cfg->values[i];
	const char *ref = pex__config_type_is_secret(k->type) && v->state != PEX__CFG_VAL_NULL ?
		v->ref : NULL;
	json_object *value = show_value(k, v), *o;
	pex_buf src = PEX_BUF_INIT;
	char env[96];
	int err;

	pex__config_env_name(env, sizeof(env), k->key);
	if ((err = show_source(&src, cfg, v)) < 0) {
		json_object_put(value);
		return err;
	}
	if (keys) {
		if (!(o = json_object_new_object())) {
			json_object_put(value);
			pex_buf_dispose(&src);
			return PEX_ENOMEM;
		}
		json_object_object_add(o, "key", json_object_new_string(k->key));
		json_object_object_add(o, "variable", json_object_new_string(env));
		json_object_object_add(o, "value", value);
		json_object_object_add(o, "source", json_object_new_string(src.ptr));
		json_object_object_add(o, "secret",
			json_object_new_boolean(pex__config_type_is_secret(k->type)));
		if (ref)
			json_object_object_add(o, "reference", json_object_new_string(ref));
		json_object_array_add(keys, o);
	} else {
		err = pex__buf_printf(out, "%s = %s%s%s%s  # %s\n", k->key, value ?
			json_object_to_json_string_ext(value, JSON_C_TO_STRING_PLAIN |
				JSON_C_TO_STRING_NOSLASHESCAPE) : "null",
			ref ? " (" : "", ref ? ref : "",
			!ref ? "" : strcmp(ref, "literal") == 0 || strcmp(ref, "mixed") == 0 ? ")" :
				": reference)", src.ptr);
		json_object_put(value);
	}
	pex_buf_dispose(&src);
	return err;
}

int pex_config_show(pex_buf *out, const pex_config *cfg, unsigned flags)
{
	pex_buf tmp = PEX_BUF_INIT;
	json_object *doc = NULL, *keys = NULL;
	size_t i, n;
	int err = 0;

	if (!out || !cfg || (flags & ~PEX_CONFIG_SHOW_JSON))
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pex_config_show: invalid arguments");
	pex__config_schema(&n);
	if ((flags & PEX_CONFIG_SHOW_JSON) &&
	    (!(doc = json_object_new_object()) || !(keys = json_object_new_array()))) {
		json_object_put(doc);
		return pex__error_nomem();
	}
	/* the lock guards lazy values changing state under us */
	pthread_mutex_lock(&((pex_config *)cfg)->lock);
	for (i = 0; i < n && err == 0; i++)
		err = show_key(&tmp, keys, cfg, i);
	pthread_mutex_unlock(&((pex_config *)cfg)->lock);
	if (err == 0 && doc) {
		json_object_object_add(doc, "origin", json_object_new_string(cfg->origin));
		json_object_object_add(doc, "keys", keys);
		keys = NULL;
		err = pex__buf_printf(&tmp, "%s\n", json_object_to_json_string_ext(doc,
			JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	}
	json_object_put(keys);
	json_object_put(doc);
	if (err < 0) {
		pex_buf_dispose(&tmp);
		return err == PEX_ENOMEM ? pex__error_nomem() : err;
	}
	pex_buf_dispose(out);
	*out = tmp;
	return 0;
}
