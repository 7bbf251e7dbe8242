/* Turning Pexip's error replies into error codes and readable messages. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "pexip/client_internal.h"

/* Append a printable, single-line excerpt of at most max bytes. */
static void put_excerpt(pex_buf *b, const char *s, size_t len, size_t max)
{
	size_t i, n = len < max ? len : max;
	int space = 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f) {
			if (!space && b->size)
				pex__buf_putc(b, ' ');
			space = 1;
			continue;
		}
		space = 0;
		pex__buf_putc(b, (char)c);
	}
	if (len > max)
		pex__buf_puts(b, "...");
}

static const char *json_text(json_object *v, pex_buf *tmp)
{
	pex__buf_clear(tmp);
	if (!v)
		return "null";    /* a JSON null ({"error": null}) */
	if (json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	if (json_object_is_type(v, json_type_array) && json_object_array_length(v) > 0) {
		size_t i, n = json_object_array_length(v);
		for (i = 0; i < n; i++) {
			json_object *e = json_object_array_get_idx(v, i);
			if (i)
				pex__buf_puts(tmp, "; ");
			if (json_object_is_type(e, json_type_string))
				pex__buf_puts(tmp, json_object_get_string(e));
			else
				pex__buf_puts(tmp, json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN));
		}
		return tmp->ptr;
	}
	pex__buf_puts(tmp, json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
	return tmp->ptr;
}

typedef struct field_acc {
	pex_buf text;        /* "conference.name: msg; ..." */
	size_t n;
	int exists;
	char res[8][64], fld[8][64], msg[8][256];
} field_acc;

static void add_field(field_acc *fa, const char *res, const char *fld, const char *msg)
{
	if (fa->text.size)
		pex__buf_puts(&fa->text, "; ");
	if (res && *res)
		pex__buf_printf(&fa->text, "%s.", res);
	pex__buf_printf(&fa->text, "%s: %s", fld, msg);
	if (strstr(msg, "already exists"))
		fa->exists = 1;
	if (fa->n < 8) {
		snprintf(fa->res[fa->n], sizeof(fa->res[0]), "%s", res ? res : "");
		snprintf(fa->fld[fa->n], sizeof(fa->fld[0]), "%s", fld);
		snprintf(fa->msg[fa->n], sizeof(fa->msg[0]), "%s", msg);
		fa->n++;
	}
}

/* A field-error map: every value is a list of strings (flat shape), or a
 * map of such lists (nested shape). Returns 1 if @obj has that shape. */
static int collect_fields(field_acc *fa, json_object *obj)
{
	pex_buf tmp = PEX_BUF_INIT;
	int any = 0;
	json_object_object_foreach(obj, key, val) {
		if (json_object_is_type(val, json_type_array)) {
			add_field(fa, "", key, json_text(val, &tmp));
			any = 1;
		} else if (json_object_is_type(val, json_type_object)) {
			json_object_object_foreach(val, k2, v2) {
				if (json_object_is_type(v2, json_type_array) ||
				    json_object_is_type(v2, json_type_string)) {
					add_field(fa, key, k2, json_text(v2, &tmp));
					any = 1;
				}
			}
		}
	}
	pex_buf_dispose(&tmp);
	return any;
}

int pex__pexip_error(long status, const char *body, size_t len, const char *what)
{
	pex_buf msg = PEX_BUF_INIT, tmp = PEX_BUF_INIT;
	field_acc fa;
	json_object *root = NULL, *v;
	int code;
	size_t i;

	memset(&fa, 0, sizeof(fa));
	if (status == 404)
		code = PEX_ENOTFOUND;
	else if (status == 401 || status == 403)
		code = PEX_EAUTH;
	else
		code = PEX_EHTTP;

	pex__buf_printf(&msg, "%s: HTTP %ld %s", what ? what : "Pexip", status, pex__http_reason(status));

	if (body && len) {
		json_tokener *tok = json_tokener_new();
		if (tok) {
			root = json_tokener_parse_ex(tok, body, (int)(len > 1048576 ? 1048576 : len));
			if (json_tokener_get_error(tok) != json_tokener_success) {
				json_object_put(root);
				root = NULL;
			}
			json_tokener_free(tok);
		}
	}

	if (root && json_object_is_type(root, json_type_object)) {
		const char *text = NULL;
		if (json_object_object_get_ex(root, "error", &v)) {
			text = json_text(v, &tmp);
			pex__buf_printf(&msg, ": %s", text);
			if (json_object_object_get_ex(root, "error_description", &v))
				pex__buf_printf(&msg, ": %s", json_text(v, &tmp));
		} else if (json_object_object_get_ex(root, "message", &v)) {
			pex__buf_printf(&msg, ": %s", json_text(v, &tmp));
			if (json_object_object_get_ex(root, "details", &v) ||
			    json_object_object_get_ex(root, "detail", &v))
				pex__buf_printf(&msg, " (%s)", json_text(v, &tmp));
		} else if (json_object_object_get_ex(root, "details", &v) ||
			   json_object_object_get_ex(root, "detail", &v)) {
			pex__buf_printf(&msg, ": %s", json_text(v, &tmp));
		} else if (collect_fields(&fa, root)) {
			pex__buf_printf(&msg, ": %s", fa.text.ptr);
			if (status == 400)
				code = fa.exists ? PEX_EEXISTS : PEX_EINVAL;
		} else {
			pex__buf_puts(&msg, ": ");
			put_excerpt(&msg, body, len, 200);
		}
	} else if (body && len) {
		pex__buf_puts(&msg, ": ");
		put_excerpt(&msg, body, len, 200);
	}

	pex__error_set_http(code, (int)status, 0, "%s", msg.ptr ? msg.ptr : "HTTP error");
	for (i = 0; i < fa.n; i++)
		pex__error_add_field(fa.res[i], fa.fld[i], fa.msg[i]);
	json_object_put(root);
	pex_buf_dispose(&msg);
	pex_buf_dispose(&tmp);
	pex_buf_dispose(&fa.text);
	return code;
}

int pex__parse_location_id(long long *out, const char *location)
{
	const char *end, *start;
	char *q;
	long long id;
	if (!location || !*location)
		goto bad;
	/* Ignore a query or fragment, then trailing slashes and whitespace. */
	end = location + strcspn(location, "?#");
	while (end > location && (end[-1] == '/' || isspace((unsigned char)end[-1])))
		end--;
	start = end;
	while (start > location && isdigit((unsigned char)start[-1]))
		start--;
	if (start == end || end - start > 18)
		goto bad;
	if (start > location && start[-1] != '/')
		goto bad;
	id = strtoll(start, &q, 10);
	if (q != end || id <= 0)
		goto bad;
	*out = id;
	return 0;
bad:
	return pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_HTTP,
		"cannot read a resource id from the Location header '%.120s'", location ? location : "");
}
