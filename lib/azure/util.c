/*
 * Message encoding, RFC 1123 dates and the service error mapping. Pure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "azure/azure_internal.h"

/* ---- message text ---- */

int pex__azure_message_body(pex_buf *out, const void *data, size_t len)
{
	size_t encoded = 4 * ((len + 2) / 3), bad;
	int err;
	/* The service measures the MessageText (after XML unescaping, which
	 * base64 never needs): over 64 KiB is 413 RequestBodyTooLarge. Refuse
	 * it here so nothing is sent. */
	if (encoded > PEX__AZURE_MAX_TEXT)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_AZURE,
			"Azure Storage message too large: %zu bytes is %zu after base64; "
			"the limit is %d (%d raw bytes)", len, encoded, PEX__AZURE_MAX_TEXT,
			PEX__AZURE_MAX_MESSAGE);
	/* Readers (ours, Functions triggers, the SDKs) take base64 that decodes
	 * to invalid UTF-8 as raw text, so such a payload would not read back. */
	if ((bad = pex__utf8_invalid_at(data, len)) < len)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_AZURE,
			"Azure Storage message is not valid UTF-8 (byte 0x%02x at offset %zu of "
			"%zu): the azure queue backend carries UTF-8 text only",
			((const unsigned char *)data)[bad], bad, len);
	if ((err = pex__buf_puts(out, "<QueueMessage><MessageText>")) < 0 ||
	    (err = pex__base64_encode(out, data, len)) < 0 ||
	    (err = pex__buf_puts(out, "</MessageText></QueueMessage>")) < 0)
		return err;
	return 0;
}

static int is_b64_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		c == '+' || c == '/';
}

int pex__azure_decode_text(pex_buf *out, const char *text, size_t len, int *was_base64)
{
	pex_buf dec = PEX_BUF_INIT, enc = PEX_BUF_INIT;
	size_t i, pad = 0;
	int b64 = len > 0 && (len % 4) == 0, err;

	*was_base64 = 0;
	/* quick syntactic check first: alphabet, then '=' only as 1-2 final chars */
	for (i = 0; b64 && i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c == '=')
			pad++;
		else if (pad || !is_b64_char(c))
			b64 = 0;
	}
	if (pad > 2)
		b64 = 0;
	/* canonical: decoding and re-encoding must give the very same text
	 * (rejects non-zero spare bits such as "QR==") */
	if (b64) {
		if (pex__base64_decode(&dec, text, len) < 0 ||
		    pex__base64_encode(&enc, dec.ptr, dec.size) < 0 ||
		    enc.size != len || memcmp(enc.ptr, text, len) != 0)
			b64 = 0;
		pex_error_clear();
	}
	/* the decoded bytes count only if they are valid UTF-8 (docs/DECISIONS.md
	 * #9); a raw
	 * name such as "room1234" is canonical base64 of binary */
	if (b64 && pex__utf8_invalid_at(dec.ptr, dec.size) < dec.size)
		b64 = 0;
	if (b64) {
		*was_base64 = 1;
		err = pex__buf_put(out, dec.ptr ? dec.ptr : "", dec.size);
	} else {
		err = pex__buf_put(out, text, len);
	}
	pex_buf_dispose(&dec);
	pex_buf_dispose(&enc);
	return err;
}

/* ---- RFC 1123 dates, locale-independent ---- */

static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char months[12][4] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};

void pex__azure_rfc1123(char out[30], int64_t unix_seconds)
{
	struct tm tm;
	time_t t = (time_t)unix_seconds;
	memset(&tm, 0, sizeof(tm));
	gmtime_r(&t, &tm);
	snprintf(out, 30, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
		months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Read 1..max digits; -1 if none. */
static int read_num(const char **s, int max)
{
	int v = 0, n = 0;
	while (n < max && **s >= '0' && **s <= '9') {
		v = v * 10 + (**s - '0');
		(*s)++;
		n++;
	}
	return n ? v : -1;
}

int pex__azure_parse_rfc1123(int64_t *out, const char *s)
{
	struct tm tm;
	int i, day, year, h, m, sec;
	const char *p = s;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	/* optional "Sat, " */
	for (i = 0; i < 7; i++)
		if (strncmp(p, days[i], 3) == 0 && p[3] == ',')
			break;
	if (i < 7)
		p += 4;
	while (*p == ' ')
		p++;
	if ((day = read_num(&p, 2)) < 1 || day > 31 || *p++ != ' ')
		goto bad;
	for (i = 0; i < 12; i++)
		if (strncmp(p, months[i], 3) == 0)
			break;
	if (i == 12 || p[3] != ' ')
		goto bad;
	tm.tm_mon = i;
	p += 4;
	if ((year = read_num(&p, 4)) < 1970 || *p++ != ' ' ||
	    (h = read_num(&p, 2)) < 0 || h > 23 || *p++ != ':' ||
	    (m = read_num(&p, 2)) < 0 || m > 59 || *p++ != ':' ||
	    (sec = read_num(&p, 2)) < 0 || sec > 60 || strcmp(p, " GMT") != 0)
		goto bad;
	tm.tm_mday = day;
	tm.tm_year = year - 1900;
	tm.tm_hour = h;
	tm.tm_min = m;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1)
		goto bad;
	*out = (int64_t)t;
	return 0;
bad:
	return pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_AZURE, "not an RFC 1123 date: '%.40s'", s);
}

/* ---- errors ---- */

const char *pex__azure_op_name(pex__azure_op op)
{
	switch (op) {
	case PEX__AZURE_OP_CREATE: return "create queue";
	case PEX__AZURE_OP_PUT: return "put message";
	case PEX__AZURE_OP_RECEIVE: return "get messages";
	case PEX__AZURE_OP_PEEK: return "peek messages";
	case PEX__AZURE_OP_DELETE: return "delete message";
	case PEX__AZURE_OP_UPDATE: return "update message";
	case PEX__AZURE_OP_COUNT: return "get queue metadata";
	case PEX__AZURE_OP_CLEAR: return "clear messages";
	}
	return "request";
}

/* Record the HTTP status on the error just set (keeping the AZURE class). */
static int with_status(int code, long status)
{
	pex__error_set_status((int)status);
	return code;
}

static int is_code(const char *code, const char *what)
{
	return strcmp(code, what) == 0;
}

int pex__azure_map_error(pex__azure_op op, const char *queue, long status, const char *code,
	const char *detail)
{
	const char *opn = pex__azure_op_name(op);
	const char *sep = detail && *detail ? ": " : "";
	int lease_op = op == PEX__AZURE_OP_DELETE || op == PEX__AZURE_OP_UPDATE;
	int rc;

	if (!code || !*code)
		code = "no error code";
	if (!detail)
		detail = "";
	if (!queue)
		queue = "";

	if (is_code(code, "AuthenticationFailed")) {
		rc = pex_error_set(PEX_EAUTH, PEX_ERROR_CLASS_AZURE,
			"Azure Storage rejected the credentials (AuthenticationFailed): "
			"%s on queue '%s', HTTP %ld%s%s", opn, queue, status, sep, detail);
	} else if (lease_op && (is_code(code, "PopReceiptMismatch") ||
			is_code(code, "MessageNotFound"))) {
		rc = pex_error_set(PEX_ELEASELOST, PEX_ERROR_CLASS_AZURE,
			"Azure Storage %s on queue '%s': the lease is lost (HTTP %ld %s)%s%s",
			opn, queue, status, code, sep, detail);
	} else {
		if (status == 401 || status == 403 || is_code(code, "InvalidAuthenticationInfo"))
			rc = PEX_EAUTH;
		else if (is_code(code, "QueueNotFound") || status == 404)
			rc = PEX_ENOTFOUND;
		else if (is_code(code, "QueueAlreadyExists"))
			rc = PEX_EEXISTS;
		else if (is_code(code, "RequestBodyTooLarge") || status == 400 || status == 413 ||
			 status == 414)
			rc = PEX_EINVAL;
		else if (status == 408 || is_code(code, "OperationTimedOut"))
			rc = PEX_ETIMEOUT;
		else
			rc = PEX_EBACKEND;
		pex_error_set(rc, PEX_ERROR_CLASS_AZURE, "Azure Storage %s on queue '%s' failed: "
			"HTTP %ld %s%s%s", opn, queue, status, code, sep, detail);
	}
	return with_status(rc, status);
}

/* ---- retries ---- */

int pex__azure_should_retry(pex__azure_op op, int err, int not_sent, long status,
	const char *code)
{
	int is_put = op == PEX__AZURE_OP_PUT;
	if (err < 0) {
		/* TLS and local failures will not get better by themselves */
		if (err != PEX_ENET && err != PEX_ETIMEOUT)
			return 0;
		return not_sent || !is_put;
	}
	/* ServerBusy: the service refused before doing anything */
	if (status == 503 && code && strcmp(code, "ServerBusy") == 0)
		return 1;
	if (status == 500 || status == 503)
		return !is_put;
	return 0;
}
