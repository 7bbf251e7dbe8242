/*
 * Azure Storage Queue backend: internal declarations (hidden, never
 * installed). Everything here except the backend itself (azure.c) is pure:
 * no sockets, no clocks, no globals, so the unit tests can check it byte
 * for byte.
 *
 * Secrets: the decoded account key and the SAS token live only in
 * pex__azure_conn. No function here puts either (or an Authorization
 * header) into an error message.
 */
#ifndef PEX_AZURE_INTERNAL_H
#define PEX_AZURE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* The x-ms-version we speak: >= 2017-07-29 for messagettl=-1. */
#define PEX__AZURE_VERSION "2021-12-02"

/* Largest MessageText the service takes: 64 KiB of (encoded) text. */
#define PEX__AZURE_MAX_TEXT 65536
/* Largest raw payload: base64 turns 3 bytes into 4, so 65536 / 4 * 3. */
#define PEX__AZURE_MAX_MESSAGE 49152

/* The published Azurite development account (documented by Microsoft; not a secret). */
#define PEX__AZURE_DEV_ACCOUNT "devstoreaccount1"
#define PEX__AZURE_DEV_KEY \
	"Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
#define PEX__AZURE_DEV_ENDPOINT "http://127.0.0.1:10001/devstoreaccount1"

/* ------------------------------------------------------------------------
 * Connection strings (conn.c)
 * ------------------------------------------------------------------------ */

typedef struct pex__azure_conn {
	char *account;          /* AccountName; NULL only with a SAS + QueueEndpoint */
	unsigned char *key;     /* decoded AccountKey (secret), or NULL */
	size_t key_len;
	char *sas;              /* SAS query string without '?' (secret), or NULL */
	char *origin;           /* "http://127.0.0.1:10001": scheme://host[:port] */
	char *base_path;        /* "/devstoreaccount1" or "" (never a trailing '/') */
	int path_style;         /* the account is the first path segment */
	int dev_storage;        /* UseDevelopmentStorage=true */
} pex__azure_conn;

/*
 * Parse a connection string: `key=value` pairs joined by ';' (a trailing ';'
 * and empty pairs are fine), each split at its first '=', keys compared
 * case-insensitively. Known keys: DefaultEndpointsProtocol, AccountName,
 * AccountKey, EndpointSuffix, QueueEndpoint, SharedAccessSignature,
 * UseDevelopmentStorage, DevelopmentStorageProxyUri. Other keys
 * (BlobEndpoint, ...) are ignored, as the SDKs do.
 *
 * The queue endpoint is QueueEndpoint when given (an endpoint on an IP,
 * dot-less or host.docker.internal host with no path gets "/AccountName"
 * appended, which is where Azurite expects the account), otherwise
 * {proto}://{AccountName}.queue.{EndpointSuffix}.
 *
 * @return 0, or PEX_EINVAL naming the bad pair by its key (or position)
 *         but never echoing AccountKey or the SAS.
 */
int pex__azure_conn_parse(pex__azure_conn *out, const char *s);
void pex__azure_conn_dispose(pex__azure_conn *c);

/* Is this host addressed path-style by Azurite (IPv4/IPv6 literal, no dot,
 * or host.docker.internal)? @p len is the host's length. */
int pex__azure_host_is_path_style(const char *host, size_t len);

/* ------------------------------------------------------------------------
 * Requests: URLs, query strings, Shared Key signing, SAS (sign.c)
 * ------------------------------------------------------------------------ */

/* One query parameter, un-encoded. */
typedef struct pex__azure_param {
	const char *name;
	const char *value;
} pex__azure_param;

/* One request header as sent ("x-ms-date", "Sat, 01 ..."). */
typedef struct pex__azure_header {
	const char *name;
	const char *value;
} pex__azure_header;

/*
 * The path that goes on the wire for a queue resource:
 * base_path + "/" + queue + suffix, where suffix is "", "/messages" or
 * "/messages/{id}". The id is percent-encoded (GUIDs need none).
 */
int pex__azure_resource_path(pex_buf *out, const pex__azure_conn *c, const char *queue,
	const char *suffix);

/* Append "?a=1&b=2" with every value fully percent-encoded (RFC 3986
 * unreserved characters kept, so '+' '/' '=' become %2B %2F %3D). */
int pex__azure_append_query(pex_buf *out, const pex__azure_param *params, size_t n);

/* Append a SAS token (with or without its leading '?') to a URL that may
 * already have a query string. The token is taken as already encoded. */
int pex__azure_append_sas(pex_buf *url, const char *sas);

/*
 * The Shared Key string-to-sign: the verb, the eleven standard
 * header slots (Content-Length empty when 0; Content-Type as sent; Date
 * empty because we send x-ms-date), the canonicalized x-ms-* headers
 * (lower-cased, sorted, value trimmed and inner whitespace folded), and the
 * canonicalized resource "/" + account + path followed by one
 * "\nname:value" line per query parameter (names lower-cased and sorted,
 * values un-encoded, repeated names joined by ',').
 */
int pex__azure_string_to_sign(pex_buf *out, const char *verb, size_t content_length,
	const char *content_type, const pex__azure_header *headers, size_t nheaders,
	const char *account, const char *path, const pex__azure_param *params, size_t nparams);

/* base64(HMAC-SHA256(key, sts)) appended to @p out. */
int pex__azure_hmac_sha256_b64(pex_buf *out, const unsigned char *key, size_t key_len,
	const char *sts, size_t sts_len);

/* One request, built and signed, ready to send. */
typedef struct pex__azure_request {
	pex_buf url;        /* origin + path + query (+ SAS: a secret, never log it) */
	pex_buf headers;    /* "Name: value\n" per header, exactly as sent; with Shared
	                       Key the last is "Authorization: SharedKey acct:sig" */
} pex__azure_request;

/*
 * Build the request azure.c sends: the URL (resource path, query, SAS) and
 * every header it sets -- x-ms-date (@p date, RFC 1123), x-ms-version
 * (PEX__AZURE_VERSION), Content-Length (all verbs but GET and HEAD; 0 when
 * bodiless), Content-Type (only with @p content_type, i.e. with a body), an
 * empty Expect:, and with Shared Key the Authorization computed over exactly
 * these values. The one place both the wire and the signature come from.
 * @p out is overwritten; on failure it is left empty. Release with
 * pex__azure_request_dispose(), which scrubs it.
 */
int pex__azure_request_build(pex__azure_request *out, const pex__azure_conn *c, const char *date,
	const char *verb, const char *queue, const char *suffix, const pex__azure_param *params,
	size_t nparams, const char *content_type, size_t content_length);
void pex__azure_request_dispose(pex__azure_request *r);

/* ------------------------------------------------------------------------
 * XML (xml.c, expat)
 * ------------------------------------------------------------------------ */

typedef struct pex__azure_msg {
	char *id;
	char *pop_receipt;        /* NULL for peeked messages */
	char *text;               /* MessageText, entities resolved */
	size_t text_len;
	unsigned dequeue_count;
	long long inserted_at;    /* Unix seconds or 0 */
	long long next_visible;   /* Unix seconds or 0 */
} pex__azure_msg;

typedef struct pex__azure_msglist {
	pex__azure_msg *items;
	size_t count;
} pex__azure_msglist;

/*
 * Parse a QueueMessagesList (Get, Peek and Put responses): 0..32
 * QueueMessage children; a leading UTF-8 BOM, an XML declaration in either
 * spelling, and both empty forms (`<QueueMessagesList />`, open+close) are
 * fine. DOCTYPEs are refused. Children are matched by name, not order.
 * @return 0 or PEX_EPARSE.
 */
int pex__azure_parse_messages(pex__azure_msglist *out, const char *body, size_t len);
void pex__azure_msglist_dispose(pex__azure_msglist *l);

/* Parse an <Error><Code/><Message/></Error> body. Code and the first line
 * of Message are copied (truncated, control characters replaced). Missing
 * parts give empty strings. @return 0 or PEX_EPARSE. */
int pex__azure_parse_error(char *code, size_t code_size, char *message, size_t message_size,
	const char *body, size_t len);

/* Append @p s with & < > " ' escaped. */
int pex__azure_xml_escape(pex_buf *out, const char *s, size_t len);

/* ------------------------------------------------------------------------
 * Message encoding, dates, error mapping (util.c)
 * ------------------------------------------------------------------------ */

/* The Put Message body for @p data: base64 in MessageText, no declaration:
 * <QueueMessage><MessageText>BASE64</MessageText></QueueMessage>.
 * PEX_EINVAL (before anything is sent) when the encoded text would be over
 * 64 KiB, or when @p data is not valid UTF-8 (the message names the offset
 * of the first bad byte): readers take base64 whose decoding is not UTF-8
 * as raw text (pex__azure_decode_text), so such bytes would not read back.
 * NUL and control characters are valid UTF-8 and fine (base64 hides them
 * from XML). */
int pex__azure_message_body(pex_buf *out, const void *data, size_t len);

/*
 * MessageText -> bytes (docs/DECISIONS.md #9). If @p text is canonical standard base64
 * (alphabet A-Z a-z 0-9 + /, '=' padding only at the end, length a
 * multiple of 4, and re-encoding the decoded bytes gives the same text) and
 * the decoded bytes are valid UTF-8, the decoded bytes are returned;
 * otherwise the text itself, unchanged. See azure.c for why. Sets
 * *was_base64.
 */
int pex__azure_decode_text(pex_buf *out, const char *text, size_t len, int *was_base64);

/* "Sat, 01 Jan 2000 00:00:00 GMT" (locale-independent) into out[30]. */
void pex__azure_rfc1123(char out[30], int64_t unix_seconds);
/* Parse an RFC 1123 date; 0 or PEX_EPARSE. */
int pex__azure_parse_rfc1123(int64_t *out, const char *s);

/* What the backend was doing; changes how some service codes map. */
typedef enum pex__azure_op {
	PEX__AZURE_OP_CREATE,
	PEX__AZURE_OP_PUT,
	PEX__AZURE_OP_RECEIVE,
	PEX__AZURE_OP_PEEK,
	PEX__AZURE_OP_DELETE,
	PEX__AZURE_OP_UPDATE,
	PEX__AZURE_OP_COUNT,
	PEX__AZURE_OP_CLEAR
} pex__azure_op;

const char *pex__azure_op_name(pex__azure_op op);

/*
 * Map a failed reply to an error code and set the thread's error details
 * (class PEX_ERROR_CLASS_AZURE, http_status). @p code is x-ms-error-code
 * (or the body's <Code>; may be empty), @p detail the first line of the
 * body's <Message> (may be empty). The message always names the service's
 * code. 403 AuthenticationFailed -> PEX_EAUTH; PopReceiptMismatch and
 * MessageNotFound on delete/update -> PEX_ELEASELOST; QueueNotFound and
 * other 404s -> PEX_ENOTFOUND; RequestBodyTooLarge and other 400s ->
 * PEX_EINVAL; 409 QueueAlreadyExists -> PEX_EEXISTS; the rest
 * PEX_EBACKEND.
 */
int pex__azure_map_error(pex__azure_op op, const char *queue, long status, const char *code,
	const char *detail);

/*
 * Retry policy (azure.c "Retries"): after a transport failure (@p err
 * PEX_ENET or PEX_ETIMEOUT; @p not_sent when the connection was never made)
 * or an HTTP @p status with x-ms-error-code @p code, is another attempt
 * safe and useful? Puts are retried only when they surely were not
 * processed: not_sent, or 503 ServerBusy. Everything else is retried on
 * transport failures and on 500/503. Never on other statuses, PEX_ETLS or
 * local errors.
 */
int pex__azure_should_retry(pex__azure_op op, int err, int not_sent, long status,
	const char *code);

#endif
