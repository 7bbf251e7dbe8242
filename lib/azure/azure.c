/*
 * Azure Storage Queue backend over REST (libcurl), Shared Key or SAS.
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
 * settings are read-only after construction, and curl handles come from a
 * small mutex-guarded pool of idle keep-alive handles (a thread takes one for
 * the length of a request, or makes a new one when none is idle).
 *
 * Secrets: the account key and SAS live in conn only; no URL, header or
 * signature is ever put in an error message.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
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

#include <curl/curl.h>

#include "azure/azure_internal.h"
#include "http/http_internal.h"

#define IDLE_HANDLES_MAX 8
#define BODY_MAX ((size_t)16 << 20)     /* 32 messages of 64 KiB fit easily */
#define BACKOFF_BASE_MS 200
#define BACKOFF_CAP_MS 5000
#define VISIBILITY_MAX 604800u          /* 7 days */

typedef struct idle_handle {
	CURL *curl;
	struct idle_handle *next;
} idle_handle;

typedef struct azure_backend {
	pex_queue_backend parent;       /* must be first */
	pex__azure_conn conn;           /* read-only after construction */
	char *ca_file;
	int tls_verify;
	long timeout_ms;
	unsigned retries;
	char user_agent[64];
	pthread_mutex_t lock;           /* guards idle */
	idle_handle *idle;
	size_t idle_count;
} azure_backend;

/* ---- curl handle pool ---- */

static CURL *handle_take(azure_backend *az)
{
	idle_handle *h;
	CURL *c = NULL;
	pthread_mutex_lock(&az->lock);
	if ((h = az->idle) != NULL) {
		az->idle = h->next;
		az->idle_count--;
	}
	pthread_mutex_unlock(&az->lock);
	if (h) {
		c = h->curl;
		free(h);
		return c;
	}
	if (!(c = curl_easy_init()))
		pex_error_set(PEX_ENOMEM, PEX_ERROR_CLASS_NET, "curl_easy_init failed");
	return c;
}

static void handle_give_back(azure_backend *az, CURL *c)
{
	idle_handle *h = NULL;
	pthread_mutex_lock(&az->lock);
	if (az->idle_count < IDLE_HANDLES_MAX && (h = malloc(sizeof(*h))) != NULL) {
		h->curl = c;
		h->next = az->idle;
		az->idle = h;
		az->idle_count++;
	}
	pthread_mutex_unlock(&az->lock);
	if (!h)
		curl_easy_cleanup(c);
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

typedef struct azure_resp {
	long status;
	pex_buf body;
	int overflow;
	char error_code[128];
	char pop_receipt[512];
	char next_visible[64];
	char count[32];
} azure_resp;

static void resp_reset(azure_resp *r)
{
	pex_buf body = r->body;
	pex__buf_clear(&body);
	memset(r, 0, sizeof(*r));
	r->body = body;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	azure_resp *r = ud;
	size_t n = size * nmemb;
	if (r->body.size + n > BODY_MAX) {
		r->overflow = 1;
		return 0;
	}
	if (pex__buf_put(&r->body, ptr, n) < 0)
		return 0;
	return n;
}

/* Copy a header's value if the line is "name: value". */
static int header_value(char *dst, size_t size, const char *line, size_t len, const char *name)
{
	size_t nl = strlen(name), i = 0;
	if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return 0;
	line += nl + 1;
	len -= nl + 1;
	while (len && (*line == ' ' || *line == '\t')) {
		line++;
		len--;
	}
	while (len && (line[len - 1] == '\r' || line[len - 1] == '\n' || line[len - 1] == ' '))
		len--;
	for (i = 0; i < len && i + 1 < size; i++)
		dst[i] = line[i];
	dst[i] = '\0';
	return 1;
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *ud)
{
	azure_resp *r = ud;
	size_t n = size * nmemb;
	if (n > 5 && strncmp(line, "HTTP/", 5) == 0) {
		/* a new response (after a 100 Continue): forget the old headers */
		r->error_code[0] = r->pop_receipt[0] = r->next_visible[0] = r->count[0] = '\0';
		return n;
	}
	if (!header_value(r->error_code, sizeof(r->error_code), line, n, "x-ms-error-code") &&
	    !header_value(r->pop_receipt, sizeof(r->pop_receipt), line, n, "x-ms-popreceipt") &&
	    !header_value(r->next_visible, sizeof(r->next_visible), line, n,
		"x-ms-time-next-visible"))
		header_value(r->count, sizeof(r->count), line, n, "x-ms-approximate-messages-count");
	return n;
}

static struct curl_slist *slist_add(struct curl_slist **l, int *err, const char *fmt, ...)
	PEX_PRINTF(3, 4);

static struct curl_slist *slist_add(struct curl_slist **l, int *err, const char *fmt, ...)
{
	pex_buf b = PEX_BUF_INIT;
	struct curl_slist *n;
	va_list ap;
	if (*err < 0)
		return *l;
	va_start(ap, fmt);
	*err = pex__buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (*err == 0) {
		if ((n = curl_slist_append(*l, b.ptr)) != NULL)
			*l = n;
		else
			*err = pex__error_nomem();
	}
	/* the Authorization line must not linger in freed memory */
	if (b.ptr)
		memset(b.ptr, 0, b.size);
	pex_buf_dispose(&b);
	return *l;
}

/* Classify a transport failure: PEX_ENET/ETIMEOUT/ETLS, *not_sent when the
 * request surely never reached the service. */
static int transport_error(azure_backend *az, const azure_req *rq, CURLcode rc, int *not_sent)
{
	int code = pex__curl_classify((int)rc, not_sent);
	/* origin only: never the path or query (a SAS lives there) */
	pex_error_set(code, code == PEX_ETLS ? PEX_ERROR_CLASS_NET : PEX_ERROR_CLASS_AZURE,
		"Azure Storage %s on queue '%s': cannot reach %s: %s%s", pex__azure_op_name(rq->op),
		rq->queue, az->conn.origin, curl_easy_strerror(rc),
		code == PEX_ETLS ? " (to trust a private CA, set queue.azure.tls.ca_file)" : "");
	pex__error_set_cause((int)rc);
	return code;
}

/*
 * Sign and send one attempt. Transport failures return PEX_ENET,
 * PEX_ETIMEOUT or PEX_ETLS (with *not_sent); any HTTP status is success
 * here (resp->status).
 */
static int perform(azure_backend *az, const azure_req *rq, azure_resp *resp, int *not_sent)
{
	pex__azure_request req = { PEX_BUF_INIT, PEX_BUF_INIT };
	struct curl_slist *hl = NULL;
	char date[30];
	const char *ctype = rq->body ? "application/xml" : NULL, *line, *nl;
	size_t clen = rq->body ? rq->body_len : 0;
	CURLcode rc;
	CURL *c = NULL;
	int err;

	*not_sent = 0;
	resp_reset(resp);
	pex__azure_rfc1123(date, pex__unix_time());

	if ((err = pex__azure_request_build(&req, &az->conn, date, rq->verb, rq->queue, rq->suffix,
			rq->params, rq->nparams, ctype, clen)) < 0)
		goto done;
	for (line = req.headers.ptr; err == 0 && (nl = strchr(line, '\n')) != NULL; line = nl + 1)
		slist_add(&hl, &err, "%.*s", (int)(nl - line), line);
	if (err < 0)
		goto done;

	if (!(c = handle_take(az))) {
		err = PEX_ENOMEM;
		goto done;
	}
	curl_easy_reset(c);    /* keeps the connection cache: keep-alive survives */
	curl_easy_setopt(c, CURLOPT_URL, req.url.ptr);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_USERAGENT, az->user_agent);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, az->timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
		az->timeout_ms < 5000 ? az->timeout_ms : 5000L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");   /* libcurl >= 7.85 (meson.build) */
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, az->tls_verify ? 1L : 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, az->tls_verify ? 2L : 0L);
	if (az->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, az->ca_file);
	if (strcmp(rq->verb, "GET") == 0) {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	} else {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, rq->verb);
		if (rq->body) {
			/* our Content-Type header replaces curl's form default */
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->body);
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
		}
	}
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	handle_give_back(az, c);
	if (rc != CURLE_OK) {
		if (rc == CURLE_WRITE_ERROR && resp->overflow)
			err = pex_error_set(PEX_EBACKEND, PEX_ERROR_CLASS_AZURE,
				"Azure Storage %s on queue '%s': reply larger than %zu bytes",
				pex__azure_op_name(rq->op), rq->queue, BODY_MAX);
		else
			err = transport_error(az, rq, rc, not_sent);
	}

done:
	curl_slist_free_all(hl);
	pex__azure_request_dispose(&req);
	return err;
}

/* Turn a non-2xx reply into an error. */
static int reply_error(const azure_req *rq, const azure_resp *resp)
{
	char code[128] = "", detail[256] = "";
	if (resp->body.size) {
		pex__azure_parse_error(code, sizeof(code), detail, sizeof(detail), resp->body.ptr,
			resp->body.size);
		pex_error_clear();
	}
	/* the x-ms-error-code header wins over the body's <Code> */
	return pex__azure_map_error(rq->op, rq->queue, resp->status,
		resp->error_code[0] ? resp->error_code : code, detail);
}

/*
 * Send with retries. Returns 0 with resp->status set to one of the
 * expected (2xx) statuses, or an error. @ok lists the good statuses,
 * 0-terminated.
 */
static int request(azure_backend *az, const azure_req *rq, azure_resp *resp, const long *ok)
{
	unsigned attempt;
	int err = 0, not_sent;

	for (attempt = 0; ; attempt++) {
		err = perform(az, rq, resp, &not_sent);
		if (err == 0) {
			const long *s;
			for (s = ok; *s; s++)
				if (resp->status == *s)
					return 0;
		}
		if (attempt >= az->retries ||
		    !pex__azure_should_retry(rq->op, err, not_sent, resp->status, resp->error_code))
			break;
		pex__sleep_ms(pex__backoff_ms(attempt, BACKOFF_BASE_MS, BACKOFF_CAP_MS, -1,
			pex__random_u64()));
	}
	return err < 0 ? err : reply_error(rq, resp);
}

/* ---- helpers ---- */

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
	azure_resp resp;
	int err;
	if ((err = check_queue(queue)) < 0)
		return err;
	memset(&resp, 0, sizeof(resp));
	err = request(AZ(b), &rq, &resp, ok_create);
	/* exists with other metadata: it exists, which is all we want */
	if (err == PEX_EEXISTS && strcmp(resp.error_code, "QueueAlreadyExists") == 0) {
		pex_error_clear();
		err = 0;
	}
	pex_buf_dispose(&resp.body);
	return err;
}

static int az_put(pex_queue_backend *b, const char *queue, const void *data, size_t len,
	unsigned delay_s)
{
	pex__azure_param params[2];
	azure_req rq = { PEX__AZURE_OP_PUT, "POST", queue, "/messages", params, 0, NULL, 0 };
	pex_buf body = PEX_BUF_INIT;
	azure_resp resp;
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
	memset(&resp, 0, sizeof(resp));
	err = request(AZ(b), &rq, &resp, ok_201);
	pex_buf_dispose(&resp.body);
	pex_buf_dispose(&body);
	return err;
}

static int get_messages(azure_backend *az, pex__azure_op op, const char *queue, size_t max,
	unsigned visibility_s, pex_message **msgs, size_t *count)
{
	pex__azure_param params[2];
	azure_req rq = { op, "GET", queue, "/messages", params, 0, NULL, 0 };
	pex__azure_msglist list;
	azure_resp resp;
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
	memset(&resp, 0, sizeof(resp));
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
	pex_buf_dispose(&resp.body);
	return err;
}

PEX__QUEUE_RECEIVE_PEEK(az, get_messages(AZ(b), lease ? PEX__AZURE_OP_RECEIVE : PEX__AZURE_OP_PEEK,
	queue, max, visibility_s, msgs, count))

static int az_remove(pex_queue_backend *b, const char *queue, const pex_message *msg)
{
	pex__azure_param params[1];
	azure_req rq = { PEX__AZURE_OP_DELETE, "DELETE", queue, NULL, params, 1, NULL, 0 };
	pex_buf suffix = PEX_BUF_INIT;
	azure_resp resp;
	int err;

	if ((err = check_queue(queue)) < 0 || (err = message_suffix(&suffix, msg)) < 0)
		goto done;
	rq.suffix = suffix.ptr;
	params[0] = (pex__azure_param){ "popreceipt", msg->receipt };
	memset(&resp, 0, sizeof(resp));
	err = request(AZ(b), &rq, &resp, ok_204);
	pex_buf_dispose(&resp.body);
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
	azure_resp resp;
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
	if (!resp.pop_receipt[0]) {
		err = pex_error_set(PEX_EBACKEND, PEX_ERROR_CLASS_AZURE,
			"Azure update message on queue '%s': reply has no x-ms-popreceipt", queue);
		goto done;
	}
	if ((err = pex_message_set_receipt(msg, resp.pop_receipt)) < 0)
		goto done;
	if (resp.next_visible[0] && pex__azure_parse_rfc1123(&t, resp.next_visible) == 0)
		msg->visible_at = t;
	pex_error_clear();
done:
	pex_buf_dispose(&resp.body);
	pex_buf_dispose(&suffix);
	return err;
}

static int az_count(pex_queue_backend *b, const char *queue, size_t *out)
{
	pex__azure_param params[1] = { { "comp", "metadata" } };
	azure_req rq = { PEX__AZURE_OP_COUNT, "GET", queue, "", params, 1, NULL, 0 };
	azure_resp resp;
	char *end = NULL;
	unsigned long long n;
	int err;

	if ((err = check_queue(queue)) < 0)
		return err;
	memset(&resp, 0, sizeof(resp));
	if ((err = request(AZ(b), &rq, &resp, ok_200)) == 0) {
		n = strtoull(resp.count, &end, 10);
		if (!resp.count[0] || *end != '\0')
			err = pex_error_set(PEX_EBACKEND, PEX_ERROR_CLASS_AZURE,
				"Azure get queue metadata on queue '%s': no "
				"x-ms-approximate-messages-count in the reply", queue);
		else
			*out = (size_t)n;
	}
	pex_buf_dispose(&resp.body);
	return err;
}

static int az_clear(pex_queue_backend *b, const char *queue)
{
	azure_req rq = { PEX__AZURE_OP_CLEAR, "DELETE", queue, "/messages", NULL, 0, NULL, 0 };
	azure_resp resp;
	int err;
	if ((err = check_queue(queue)) < 0)
		return err;
	memset(&resp, 0, sizeof(resp));
	err = request(AZ(b), &rq, &resp, ok_204);
	pex_buf_dispose(&resp.body);
	return err;
}

static void az_free(pex_queue_backend *b)
{
	azure_backend *az = AZ(b);
	idle_handle *h, *next;
	if (!az)
		return;
	for (h = az->idle; h; h = next) {
		next = h->next;
		curl_easy_cleanup(h->curl);
		free(h);
	}
	pthread_mutex_destroy(&az->lock);
	pex__azure_conn_dispose(&az->conn);
	free(az->ca_file);
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
	if (opts->ca_file && !(az->ca_file = pex__strdup(opts->ca_file))) {
		pex__azure_conn_dispose(&az->conn);
		free(az);
		return pex__error_nomem();
	}
	pthread_mutex_init(&az->lock, NULL);
	az->tls_verify = opts->tls_verify != 0;
	az->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 10000;
	az->retries = opts->retries;
	snprintf(az->user_agent, sizeof(az->user_agent), "libpexipsdk/%s azure-queue", PEX_VERSION);

	az->parent = az_ops;
	*out = &az->parent;
	return 0;
}

#endif /* PEX_HAVE_AZURE */
