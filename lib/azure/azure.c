/*
 * Azure Storage Queue backend over REST (through lib/http), Shared Key or SAS.
 * Where it sits among the queue backends: docs/ARCHITECTURE.md, Queue backends.
 *
 * Message encoding
 * ----------------
 * The queue API moves bytes; this backend carries UTF-8 text.
 *
 * Write: the bytes given must be valid UTF-8 (NUL and control characters
 * included); anything else is refused with PEX_EINVAL, naming the offset of
 * the first bad byte, before anything is sent. They are base64-encoded
 * (standard alphabet, padded) into MessageText. That is what Azure
 * Functions queue triggers and the SDKs' base64 policies expect (a trigger
 * decodes once and gets the bytes put here), and the service's 64 KiB limit
 * applies to the encoded text, so max_message_size is 49152 raw bytes. Both
 * checks happen before anything is sent.
 *
 * Read: if MessageText is canonical standard base64 (length a
 * multiple of 4, alphabet A-Z a-z 0-9 + /, at most two '=' only at the end,
 * and re-encoding the decoded bytes gives back the same text) and the
 * decoded bytes are valid UTF-8, the decoded bytes are returned. Otherwise
 * the text is returned unchanged (after XML unescaping): messages written
 * as raw text by other tools, e.g. the Python or .NET v12 SDKs with their
 * default (no) encoding. So a raw bare name such as "room1234", which is
 * canonical base64 of binary, reads as "room1234"; that is why binary
 * payloads cannot be carried and are refused on put. The remaining
 * ambiguity: a raw-text message that happens to be canonical base64 of
 * UTF-8 (such as "AAAA" or "aGVsbG8=") is decoded. JSON ({, [) and names
 * with '-', '_' or '.' never are.
 *
 * Retries
 * -------
 * Up to opts.retries more attempts, with exponential backoff and jitter
 * (200 ms doubling, capped at 5 s), when the connection could not be made
 * (the request surely was not processed), or the service answered 500 or
 * 503, or the transfer failed or timed out half-way.
 * Put Message (POST) is not idempotent: a retry after the service may have
 * stored the message would duplicate it. So a put is retried only when it
 * surely was not processed: on connect/resolve failures, and on
 * 503 ServerBusy, which is the service refusing the request before doing
 * anything. A put that failed with 500, another 503 code, a timeout or a
 * dropped connection is reported to the caller (PEX_EBACKEND, PEX_ETIMEOUT,
 * PEX_ENET) and may or may not have been stored.
 * The other operations are retried on every transient failure. Retried
 * Get Messages can only hide a message until its visibility timeout ends (no
 * duplicate hand-out). A delete or update whose first attempt was processed
 * answers the retry with MessageNotFound/PopReceiptMismatch, reported as
 * PEX_ELEASELOST: the caller then treats the lease as lost, which is the
 * safe reading.
 *
 * Threads
 * -------
 * The backend is thread-safe (PEX_QUEUE_CAP_THREADSAFE): the connection
 * settings are read-only after construction, and requests go through the
 * library's HTTP transport (lib/http: keep-alive handles, at most
 * AZ_CONCURRENCY requests in flight, retries by pex__http_call).
 *
 * Secrets: the account key and SAS live in conn only; no URL, header or
 * signature is ever put in an error message.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "internal.h"
#include "pex_config.h"
#include "pexipsdk/sys/queue_backend.h"
#include "queue/queue_internal.h"
#include "pexipsdk/version.h"

int pex_queue_azure_options_init(pex_queue_azure_options *opts, unsigned int version)
{
	static const pex_queue_azure_options init = PEX_QUEUE_AZURE_OPTIONS_INIT;
	return PEX__STRUCT_INIT(opts, init, version, PEX_QUEUE_AZURE_OPTIONS_VERSION,
		"pex_queue_azure_options");
}

#if !PEX_HAVE_AZURE

int pex_queue_backend_azure_new(pex_queue_backend **out, const pex_queue_azure_options *opts)
{
	PEX__UNUSED(opts);
	return pex__queue_not_built(out, PEX_ERROR_CLASS_AZURE,
		"the Azure queue backend was not compiled in (needs expat)");
}

#else

#include "azure/azure_internal.h"
#include "http/http_internal.h"

#define AZ_CONCURRENCY 64               /* requests in flight per backend */
#define BODY_MAX ((size_t)16 << 20)     /* 32 messages of 64 KiB fit easily */
#define BACKOFF_BASE_MS 200
#define BACKOFF_CAP_MS 5000
#define VISIBILITY_MAX 604800u          /* 7 days */

typedef struct azure_backend {
	pex_queue_backend parent;       /* must be first */
	pex__azure_conn conn;           /* read-only after construction */
	pex__http *http;
	unsigned retries;
} azure_backend;

/* The backend may be called without the front end: keep the name URL-safe
 * (the service judges the finer rules, e.g. 400 InvalidResourceName). */
static int check_queue(const char *queue)
{
	size_t i, n;
	if (!queue || !*queue)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_AZURE, "Azure queue name is empty");
	n = strlen(queue);
	for (i = 0; i < n; i++) {
		char c = queue[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_AZURE,
				"Azure queue name '%.63s' may only hold a-z, 0-9 and '-'", queue);
	}
	if (n > 63)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_AZURE,
			"Azure queue name is longer than 63 characters");
	return 0;
}

/* ---- one request ---- */

typedef struct azure_req {
	pex__azure_op op;
	const char *verb;
	const char *queue;
	const char *suffix;             /* "", "/messages", "/messages/{id}" */
	const pex__azure_param *params;
	size_t nparams;
	const char *body;               /* NULL: no body */
	size_t body_len;
} azure_req;

/* The reply headers we read, in pex__http_response.wanted[]. */
static const char *const reply_headers[] = {
	"x-ms-error-code", "x-ms-popreceipt", "x-ms-time-next-visible",
	"x-ms-approximate-messages-count", NULL
};
#define ERROR_CODE(r) ((r)->wanted[0])
#define POP_RECEIPT(r) ((r)->wanted[1])
#define NEXT_VISIBLE(r) ((r)->wanted[2])
#define MESSAGE_COUNT(r) ((r)->wanted[3])

#define MAX_HEADERS 16

/* One logical request: the signed wire form of the current attempt. */
typedef struct azure_call {
	azure_backend *az;
	const azure_req *rq;
	const long *ok;                 /* the good statuses, 0-terminated */
	pex__azure_request wire;
	const char *headers[MAX_HEADERS + 1];
	int prepare_failed;
} azure_call;

/* Sign the request anew for each attempt (x-ms-date is part of it). */
static int call_prepare(void *arg, unsigned attempt, pex__http_req *req)
{
	azure_call *x = arg;
	const azure_req *rq = x->rq;
	char date[30], *line, *nl;
	size_t n = 0;
	int err;

	PEX__UNUSED(attempt);
	pex__azure_request_dispose(&x->wire);
	pex__azure_rfc1123(date, pex__unix_time());
	if ((err = pex__azure_request_build(&x->wire, &x->az->conn, date, rq->verb, rq->queue,
			rq->suffix, rq->params, rq->nparams, rq->body ? "application/xml" : NULL,
			rq->body ? rq->body_len : 0)) < 0) {
		x->prepare_failed = 1;
		return err;
	}
	/* "Name: value\n" lines, split in place */
	for (line = x->wire.headers.ptr; line && (nl = strchr(line, '\n')) != NULL && n < MAX_HEADERS;
	     line = nl + 1) {
		*nl = '\0';
		x->headers[n++] = line;
	}
	x->headers[n] = NULL;
	req->url = x->wire.url.ptr;
	req->headers = x->headers;
	return 0;
}

static pex__http_verdict call_judge(void *arg, unsigned attempt, int err, pex__http_response *resp)
{
	azure_call *x = arg;
	const long *s;

	PEX__UNUSED(attempt);
	for (s = x->ok; err == 0 && *s; s++)
		if (resp->status == *s)
			return PEX__HTTP_STOP;
	if (resp->too_big)
		return PEX__HTTP_STOP;
	return pex__azure_should_retry(x->rq->op, err, resp->not_sent, resp->status,
		ERROR_CODE(resp)) ? PEX__HTTP_RETRY : PEX__HTTP_STOP;
}

/* A transport failure in our words: the origin only, never the path or
 * query (a SAS lives there). */
static int transport_error(azure_backend *az, const azure_req *rq, int err,
	const pex__http_response *resp)
{
	if (resp->too_big)
		return pex_error_set(PEX_EBACKEND, PEX_ERROR_CLASS_AZURE,
			"Azure Storage %s on queue '%s': reply larger than %zu bytes",
			pex__azure_op_name(rq->op), rq->queue, BODY_MAX);
	pex_error_set(err, err == PEX_ETLS ? PEX_ERROR_CLASS_NET : PEX_ERROR_CLASS_AZURE,
		"Azure Storage %s on queue '%s': cannot reach %s: %s%s", pex__azure_op_name(rq->op),
		rq->queue, az->conn.origin, pex__curl_strerror(resp->curl_code),
		err == PEX_ETLS ? " (to trust a private CA, set queue.azure.tls.ca_file)" : "");
	pex__error_set_cause(resp->curl_code);
	return err;
}

/* Turn a non-2xx reply into an error. */
static int reply_error(const azure_req *rq, const pex__http_response *resp)
{
	char code[128] = "", detail[256] = "";
	if (resp->body.size) {
		pex__azure_parse_error(code, sizeof(code), detail, sizeof(detail), resp->body.ptr,
			resp->body.size);
		pex_error_clear();
	}
	/* the x-ms-error-code header wins over the body's <Code> */
	return pex__azure_map_error(rq->op, rq->queue, resp->status,
		ERROR_CODE(resp)[0] ? ERROR_CODE(resp) : code, detail);
}

/*
 * Send with retries (see "Retries" above). Returns 0 with resp->status set
 * to one of the expected (2xx) statuses, or an error. @ok lists the good
 * statuses, 0-terminated. Checks the queue name first; @resp is
 * overwritten (dispose it in any case).
 */
static int request(azure_backend *az, const azure_req *rq, pex__http_response *resp, const long *ok)
{
	pex__http_req req = { rq->verb, NULL, NULL, rq->body, rq->body ? rq->body_len : 0, 0, 0, NULL };
	pex__http_policy pol;
	azure_call x;
	const long *s;
	int err;

	memset(resp, 0, sizeof(*resp));
	if ((err = check_queue(rq->queue)) < 0)
		return err;
	memset(&x, 0, sizeof(x));
	x.az = az;
	x.rq = rq;
	x.ok = ok;
	memset(&pol, 0, sizeof(pol));
	pol.idempotent = rq->op != PEX__AZURE_OP_PUT;
	pol.retries = az->retries;
	pol.base_ms = BACKOFF_BASE_MS;
	pol.cap_ms = BACKOFF_CAP_MS;
	pol.prepare = call_prepare;
	pol.judge = call_judge;
	pol.arg = &x;
	resp->want = reply_headers;
	err = pex__http_call(az->http, &req, &pol, resp);
	pex__azure_request_dispose(&x.wire);
	if (err < 0)
		return x.prepare_failed ? err : transport_error(az, rq, err, resp);
	for (s = ok; *s; s++)
		if (resp->status == *s)
			return 0;
	return reply_error(rq, resp);
}

/* ---- helpers ---- */

static int message_suffix(pex_buf *out, const pex_message *msg)
{
	int err;
	if (!msg || !msg->id || !msg->receipt)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_AZURE,
			"Azure Storage: the message has no id or pop receipt (peeked?)");
	if ((err = pex__buf_puts(out, "/messages/")) < 0)
		return err;
	return pex__url_encode(out, msg->id, strlen(msg->id));
}

/* Messages from a QueueMessagesList; frees what it made on failure. */
static int to_messages(const pex__azure_msglist *l, size_t max, pex_message **msgs,
	size_t *count, int leased)
{
	pex_buf data = PEX_BUF_INIT;
	size_t i, n = l->count < max ? l->count : max;
	int err = 0, b64;

	for (i = 0; i < n; i++) {
		const pex__azure_msg *m = &l->items[i];
		pex__buf_clear(&data);
		if ((err = pex__azure_decode_text(&data, m->text, m->text_len, &b64)) < 0 ||
		    (err = pex_message_new(&msgs[i], m->id, leased ? m->pop_receipt : NULL,
				data.ptr ? data.ptr : "", data.size, m->dequeue_count)) < 0)
			break;
		msgs[i]->inserted_at = m->inserted_at;
		msgs[i]->visible_at = leased ? m->next_visible : 0;
	}
	pex_buf_dispose(&data);
	if (err < 0) {
		pex__queue_messages_undo(msgs, i);
		return err;
	}
	*count = n;
	return 0;
}

/* ---- operations ---- */

static const long ok_200[] = { 200, 0 };
static const long ok_201[] = { 201, 0 };
static const long ok_204[] = { 204, 0 };
static const long ok_create[] = { 201, 204, 0 };

#define AZ(b) ((azure_backend *)(b))

static int az_create(pex_queue_backend *b, const char *queue)
{
	azure_req rq = { PEX__AZURE_OP_CREATE, "PUT", queue, "", NULL, 0, NULL, 0 };
	pex__http_response resp;
	int err;
	err = request(AZ(b), &rq, &resp, ok_create);
	/* exists with other metadata: it exists, which is all we want */
	if (err == PEX_EEXISTS && strcmp(ERROR_CODE(&resp), "QueueAlreadyExists") == 0) {
		pex_error_clear();
		err = 0;
	}
	pex__http_response_dispose(&resp);
	return err;
}

static int az_put(pex_queue_backend *b, const char *queue, const void *data, size_t len,
	unsigned delay_s)
{
	pex__azure_param params[2];
	azure_req rq = { PEX__AZURE_OP_PUT, "POST", queue, "/messages", params, 0, NULL, 0 };
	pex_buf body = PEX_BUF_INIT;
	pex__http_response resp;
	char vis[16];
	int err;

	if ((err = check_queue(queue)) < 0)
		return err;
	if (!data && len)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_AZURE, "Azure put: data is NULL");
	if (delay_s > VISIBILITY_MAX)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_AZURE,
			"Azure put: delay %u s is over 7 days (604800 s)", delay_s);
	if ((err = pex__azure_message_body(&body, data ? data : "", len)) < 0)
		return err;
	if (delay_s > 0) {
		snprintf(vis, sizeof(vis), "%u", delay_s);
		params[rq.nparams++] = (pex__azure_param){ "visibilitytimeout", vis };
	}
	params[rq.nparams++] = (pex__azure_param){ "messagettl", "-1" };
	rq.body = body.ptr;
	rq.body_len = body.size;
	err = request(AZ(b), &rq, &resp, ok_201);
	pex__http_response_dispose(&resp);
	pex_buf_dispose(&body);
	return err;
}

static int get_messages(azure_backend *az, pex__azure_op op, const char *queue, size_t max,
	unsigned visibility_s, pex_message **msgs, size_t *count)
{
	pex__azure_param params[2];
	azure_req rq = { op, "GET", queue, "/messages", params, 0, NULL, 0 };
	pex__azure_msglist list;
	pex__http_response resp;
	char num[16], vis[16];
	int leased = op == PEX__AZURE_OP_RECEIVE, err;

	*count = 0;
	if ((err = check_queue(queue)) < 0)
		return err;
	if (max == 0)
		return 0;
	if (max > 32)
		max = 32;
	if (leased && (visibility_s < 1 || visibility_s > VISIBILITY_MAX))
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_AZURE,
			"Azure receive: visibility timeout must be 1..604800 s, not %u", visibility_s);
	snprintf(num, sizeof(num), "%zu", max);
	if (!leased)
		params[rq.nparams++] = (pex__azure_param){ "peekonly", "true" };
	params[rq.nparams++] = (pex__azure_param){ "numofmessages", num };
	if (leased) {
		snprintf(vis, sizeof(vis), "%u", visibility_s);
		params[rq.nparams++] = (pex__azure_param){ "visibilitytimeout", vis };
	}
	if ((err = request(az, &rq, &resp, ok_200)) == 0) {
		if ((err = pex__azure_parse_messages(&list, resp.body.ptr ? resp.body.ptr : "",
				resp.body.size)) == 0) {
			size_t i;
			for (i = 0; leased && i < list.count && err == 0; i++)
				if (!list.items[i].pop_receipt || !*list.items[i].pop_receipt)
					err = pex_error_set(PEX_EPARSE, PEX_ERROR_CLASS_AZURE,
						"Azure get messages: a message came without PopReceipt");
			if (err == 0)
				err = to_messages(&list, max, msgs, count, leased);
			pex__azure_msglist_dispose(&list);
		}
	}
	pex__http_response_dispose(&resp);
	return err;
}

PEX__QUEUE_RECEIVE_PEEK(az, get_messages(AZ(b), lease ? PEX__AZURE_OP_RECEIVE : PEX__AZURE_OP_PEEK,
	queue, max, visibility_s, msgs, count))

static int az_remove(pex_queue_backend *b, const char *queue, const pex_message *msg)
{
	pex__azure_param params[1];
	azure_req rq = { PEX__AZURE_OP_DELETE, "DELETE", queue, NULL, params, 1, NULL, 0 };
	pex_buf suffix = PEX_BUF_INIT;
	pex__http_response resp;
	int err;

	if ((err = check_queue(queue)) < 0 || (err = message_suffix(&suffix, msg)) < 0)
		goto done;
	rq.suffix = suffix.ptr;
	params[0] = (pex__azure_param){ "popreceipt", msg->receipt };
	err = request(AZ(b), &rq, &resp, ok_204);
	pex__http_response_dispose(&resp);
done:
	pex_buf_dispose(&suffix);
	return err;
}

static int az_update(pex_queue_backend *b, const char *queue, pex_message *msg,
	unsigned visibility_s)
{
	pex__azure_param params[2];
	azure_req rq = { PEX__AZURE_OP_UPDATE, "PUT", queue, NULL, params, 2, NULL, 0 };
	pex_buf suffix = PEX_BUF_INIT;
	pex__http_response resp;
	char vis[16];
	int64_t t;
	int err;

	memset(&resp, 0, sizeof(resp));
	if ((err = check_queue(queue)) < 0 || (err = message_suffix(&suffix, msg)) < 0)
		goto done;
	if (visibility_s > VISIBILITY_MAX) {
		err = pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_AZURE,
			"Azure update: visibility timeout must be 0..604800 s, not %u", visibility_s);
		goto done;
	}
	snprintf(vis, sizeof(vis), "%u", visibility_s);
	rq.suffix = suffix.ptr;
	params[0] = (pex__azure_param){ "popreceipt", msg->receipt };
	params[1] = (pex__azure_param){ "visibilitytimeout", vis };
	if ((err = request(AZ(b), &rq, &resp, ok_204)) < 0)
		goto done;
	/* the old receipt is dead now; the new one comes in a header */
	if (!POP_RECEIPT(&resp)[0]) {
		err = pex_error_set(PEX_EBACKEND, PEX_ERROR_CLASS_AZURE,
			"Azure update message on queue '%s': reply has no x-ms-popreceipt", queue);
		goto done;
	}
	if ((err = pex_message_set_receipt(msg, POP_RECEIPT(&resp))) < 0)
		goto done;
	if (NEXT_VISIBLE(&resp)[0] && pex__azure_parse_rfc1123(&t, NEXT_VISIBLE(&resp)) == 0)
		msg->visible_at = t;
	pex_error_clear();
done:
	pex__http_response_dispose(&resp);
	pex_buf_dispose(&suffix);
	return err;
}

static int az_count(pex_queue_backend *b, const char *queue, size_t *out)
{
	pex__azure_param params[1] = { { "comp", "metadata" } };
	azure_req rq = { PEX__AZURE_OP_COUNT, "GET", queue, "", params, 1, NULL, 0 };
	pex__http_response resp;
	char *end = NULL;
	unsigned long long n;
	int err;

	if ((err = request(AZ(b), &rq, &resp, ok_200)) == 0) {
		n = strtoull(MESSAGE_COUNT(&resp), &end, 10);
		if (!MESSAGE_COUNT(&resp)[0] || *end != '\0')
			err = pex_error_set(PEX_EBACKEND, PEX_ERROR_CLASS_AZURE,
				"Azure get queue metadata on queue '%s': no "
				"x-ms-approximate-messages-count in the reply", queue);
		else
			*out = (size_t)n;
	}
	pex__http_response_dispose(&resp);
	return err;
}

static int az_clear(pex_queue_backend *b, const char *queue)
{
	azure_req rq = { PEX__AZURE_OP_CLEAR, "DELETE", queue, "/messages", NULL, 0, NULL, 0 };
	pex__http_response resp;
	int err;
	err = request(AZ(b), &rq, &resp, ok_204);
	pex__http_response_dispose(&resp);
	return err;
}

static void az_free(pex_queue_backend *b)
{
	azure_backend *az = AZ(b);
	if (!az)
		return;
	pex__http_free(az->http);
	pex__azure_conn_dispose(&az->conn);
	free(az);
}

static const pex_queue_backend az_ops = {
	.version = PEX_QUEUE_BACKEND_VERSION, .name = "azure",
	.caps = PEX_QUEUE_CAP_THREADSAFE | PEX_QUEUE_CAP_PERSISTENT | PEX_QUEUE_CAP_MULTIPROCESS |
		PEX_QUEUE_CAP_UTF8_ONLY,
	.max_message_size = PEX__AZURE_MAX_MESSAGE, .create = az_create, PEX__QUEUE_OPS(az),
};

int pex_queue_backend_azure_new(pex_queue_backend **out, const pex_queue_azure_options *opts)
{
	pex__http_config hc;
	azure_backend *az;
	int err;

	if ((err = pex__queue_new_check(out, "pex_queue_backend_azure_new", opts,
			PEX_QUEUE_AZURE_OPTIONS_VERSION, "pex_queue_azure_options",
			offsetof(pex_queue_azure_options, connection_string),
			"Azure connection string: missing")) < 0)
		return err;
	if (opts->timeout_ms < 0)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_AZURE,
			"Azure options: timeout_ms is negative");
	if (opts->ca_file && access(opts->ca_file, R_OK) != 0) {
		char ebuf[128];
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_AZURE,
			"Azure options: cannot read the CA file '%s': %s", opts->ca_file,
			strerror_r(errno, ebuf, sizeof(ebuf)));
	}
	if ((err = pex__global_ensure()) < 0)
		return err;
	if (!(az = pex__calloc(1, sizeof(*az))))
		return PEX_ENOMEM;
	if ((err = pex__azure_conn_parse(&az->conn, opts->connection_string)) < 0) {
		free(az);
		return err;
	}
	az->retries = opts->retries;
	memset(&hc, 0, sizeof(hc));
	hc.tls_verify = opts->tls_verify != 0;
	hc.ca_file = opts->ca_file;
	hc.timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 10000;
	hc.max_concurrency = AZ_CONCURRENCY;
	hc.user_agent = "libpexipsdk/" PEX_VERSION " azure-queue";
	hc.ca_key = "queue.azure.tls.ca_file";
	hc.timeout_key = "queue.azure.timeout_ms";
	hc.max_body = BODY_MAX;
	if ((err = pex__http_new(&az->http, &hc)) < 0) {
		pex__azure_conn_dispose(&az->conn);
		free(az);
		return err;
	}

	az->parent = az_ops;
	*out = &az->parent;
	return 0;
}

#endif /* PEX_HAVE_AZURE */
