/* The error table (one string per pex_error_code, pex_strerror) and the
 * thread-local details behind pex_error_last(): callers branch on the
 * return code, and the details name what failed without another argument
 * on every function (pex_error(3)). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define PEX__MAX_FIELD_ERRORS 16

typedef struct tls_error {
	pex_error pub;
	char message[1024];
	size_t nfields;
	pex_field_error fields[PEX__MAX_FIELD_ERRORS];
	char fieldtext[PEX__MAX_FIELD_ERRORS][3][256];
} tls_error;

static _Thread_local tls_error g_err;

static void err_reset(void)
{
	g_err.pub.code = 0;
	g_err.pub.klass = PEX_ERROR_CLASS_NONE;
	g_err.pub.http_status = 0;
	g_err.pub.cause = 0;
	g_err.pub.field_error_count = 0;
	g_err.pub.field_errors = g_err.fields;
	g_err.nfields = 0;
	g_err.message[0] = '\0';
	g_err.pub.message = g_err.message;
}

const pex_error *pex_error_last(void)
{
	if (g_err.pub.message == NULL)
		err_reset();
	if (g_err.message[0] == '\0' && g_err.pub.code == 0)
		snprintf(g_err.message, sizeof(g_err.message), "no error");
	return &g_err.pub;
}

void pex_error_clear(void)
{
	err_reset();
}

const char *pex_strerror(int code)
{
	switch ((pex_error_code)code) {
#define PEX__ERR_STR(name, value, text) case name: return text;
	PEX_ERROR_TABLE(PEX__ERR_STR)
#undef PEX__ERR_STR
	default:
		break;
	}
	return "unknown error";
}

const char *pex_error_name(int code)
{
	switch ((pex_error_code)code) {
#define PEX__ERR_NAME(name, value, text) case name: return #name;
	PEX_ERROR_TABLE(PEX__ERR_NAME)
#undef PEX__ERR_NAME
	default:
		break;
	}
	return "PEX_E?";
}

int pex__error_vset(int code, pex_error_class klass, const char *fmt, va_list ap)
{
	/* Format first: the arguments may point into the current message. */
	char tmp[sizeof(g_err.message)];
	if (fmt)
		vsnprintf(tmp, sizeof(tmp), fmt, ap);
	else
		snprintf(tmp, sizeof(tmp), "%s", pex_strerror(code));
	err_reset();
	g_err.pub.code = code;
	g_err.pub.klass = klass;
	memcpy(g_err.message, tmp, sizeof(tmp));
	return code;
}

int pex_error_set(int code, pex_error_class klass, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pex__error_vset(code, klass, fmt, ap);
	va_end(ap);
	return code;
}

int pex__error_set_http(int code, int http_status, int cause, const char *fmt, ...)
{
	va_list ap;
	pex_error_class klass = PEX_ERROR_CLASS_HTTP;
	if (code == PEX_ENET || code == PEX_ETIMEOUT)
		klass = PEX_ERROR_CLASS_NET;
	else if (code == PEX_EAUTH)
		klass = PEX_ERROR_CLASS_AUTH;
	va_start(ap, fmt);
	pex__error_vset(code, klass, fmt, ap);
	va_end(ap);
	g_err.pub.http_status = http_status;
	g_err.pub.cause = cause;
	return code;
}

void pex__error_set_cause(int cause)
{
	g_err.pub.cause = cause;
}

void pex__error_set_status(int http_status)
{
	g_err.pub.http_status = http_status;
}

void pex__error_add_field(const char *resource, const char *field, const char *message)
{
	size_t i = g_err.nfields;
	if (i >= PEX__MAX_FIELD_ERRORS)
		return;
	snprintf(g_err.fieldtext[i][0], sizeof(g_err.fieldtext[i][0]), "%s", resource ? resource : "");
	snprintf(g_err.fieldtext[i][1], sizeof(g_err.fieldtext[i][1]), "%s", field ? field : "");
	snprintf(g_err.fieldtext[i][2], sizeof(g_err.fieldtext[i][2]), "%s", message ? message : "");
	g_err.fields[i].resource = g_err.fieldtext[i][0];
	g_err.fields[i].field = g_err.fieldtext[i][1];
	g_err.fields[i].message = g_err.fieldtext[i][2];
	g_err.nfields = i + 1;
	g_err.pub.field_errors = g_err.fields;
	g_err.pub.field_error_count = g_err.nfields;
}

void pex__error_prefix(const char *fmt, ...)
{
	char prefix[512], old[sizeof(g_err.message)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, g_err.message, sizeof(old));
	snprintf(g_err.message, sizeof(g_err.message), "%s: %s", prefix, old);
}

void pex__error_save(pex__error_copy *out)
{
	const pex_error *e = pex_error_last();

	out->code = e->code;
	out->klass = e->klass;
	out->http_status = e->http_status;
	out->cause = e->cause;
	snprintf(out->message, sizeof(out->message), "%s", e->message);
}

int pex__error_restore(const pex__error_copy *e)
{
	pex_error_set(e->code, e->klass, "%s", e->message);
	g_err.pub.http_status = e->http_status;
	g_err.pub.cause = e->cause;
	return e->code;
}

int pex__error_nomem(void)
{
	return pex_error_set(PEX_ENOMEM, PEX_ERROR_CLASS_NOMEMORY, "out of memory");
}
