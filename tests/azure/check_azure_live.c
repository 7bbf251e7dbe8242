/* The Azure backend against a real Azurite, started by azurite.sh, which
 * exports PEX_AZURITE_CONNSTR. Without it the binary skips (77), except in
 * CI (CI=true or PEX_TEST_REQUIRE_ALL=1), where that is a failure.
 *
 * Each test uses its own queue, so the tests are independent of each other
 * and of earlier runs. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "azure/azure_internal.h"
#include "pexipsdk/sys/queue_backend.h"
#include "pexipsdk/queue.h"

static const char *g_conn;

/* A queue name unique to this process and call. */
static void queue_name(char *out, size_t size, const char *tag)
{
	static unsigned n;
	snprintf(out, size, "pex-%s-%ld-%u", tag, (long)getpid(), n++);
}

static pex_queue_backend *open_backend_with(const char *conn, unsigned retries)
{
	pex_queue_azure_options o = PEX_QUEUE_AZURE_OPTIONS_INIT;
	pex_queue_backend *b = NULL;
	o.connection_string = conn;
	o.retries = retries;
	o.timeout_ms = 5000;
	ck_assert_msg(pex_queue_backend_azure_new(&b, &o) == 0, "%s", pex_error_last()->message);
	return b;
}

/* A backend and a fresh, created queue. */
static pex_queue_backend *open_queue(char *q, size_t qsize, const char *tag)
{
	pex_queue_backend *b = open_backend_with(g_conn, 3);
	queue_name(q, qsize, tag);
	ck_assert_msg(b->create(b, q) == 0, "%s", pex_error_last()->message);
	return b;
}

static void assert_msg_has(const char *needle)
{
	const char *m = pex_error_last()->message;
	ck_assert_msg(strstr(m, needle) != NULL, "'%s' not in: %s", needle, m);
}

static size_t count_of(pex_queue_backend *b, const char *q)
{
	size_t n = 12345;
	ck_assert_msg(b->count(b, q, &n) == 0, "%s", pex_error_last()->message);
	return n;
}

START_TEST(test_caps_and_create)
{
	char q[64];
	pex_queue_backend *b = open_queue(q, sizeof(q), "create");
	ck_assert_str_eq(b->name, "azure");
	ck_assert_uint_eq(b->max_message_size, 49152);
	ck_assert_uint_eq(b->caps, PEX_QUEUE_CAP_THREADSAFE | PEX_QUEUE_CAP_PERSISTENT |
		PEX_QUEUE_CAP_MULTIPROCESS | PEX_QUEUE_CAP_UTF8_ONLY);
	/* the second create is 204 (exists): still fine */
	ck_assert_int_eq(b->create(b, q), 0);
	ck_assert_uint_eq(count_of(b, q), 0);
	b->free(b);
}
END_TEST

START_TEST(test_put_get_delete)
{
	/* UTF-8 with NUL, a control character and XML specials */
	static const unsigned char bytes[] = { 0, 1, 0x7f, '<', '&', '>', '"', 0xc3, 0xa9, '\n' };
	char q[64];
	pex_queue_backend *b = open_queue(q, sizeof(q), "pgd");
	pex_message *m[4] = { NULL };
	size_t n = 99;

	ck_assert_int_eq(b->put(b, q, bytes, sizeof(bytes), 0), 0);
	ck_assert_uint_eq(count_of(b, q), 1);
	ck_assert_int_eq(b->receive(b, q, 4, 30, m, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(m[0]->len, sizeof(bytes));
	ck_assert_mem_eq(m[0]->data, bytes, sizeof(bytes));
	ck_assert_uint_eq(m[0]->dequeue_count, 1);
	ck_assert_ptr_nonnull(m[0]->receipt);
	ck_assert_int_gt(m[0]->inserted_at, 1600000000);
	ck_assert_int_gt(m[0]->visible_at, m[0]->inserted_at);
	/* leased: nothing else visible, but still counted */
	ck_assert_int_eq(b->receive(b, q, 4, 30, m + 1, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_eq(count_of(b, q), 1);
	ck_assert_int_eq(b->remove(b, q, m[0]), 0);
	ck_assert_uint_eq(count_of(b, q), 0);
	/* deleting again: the lease is gone */
	ck_assert_int_eq(b->remove(b, q, m[0]), PEX_ELEASELOST);
	pex_message_free(m[0]);
	b->free(b);
}
END_TEST

START_TEST(test_peek_and_batch)
{
	char q[64], text[16];
	pex_queue_backend *b = open_queue(q, sizeof(q), "batch");
	pex_message *m[32] = { NULL };
	size_t n = 0, i;

	for (i = 0; i < 40; i++) {
		snprintf(text, sizeof(text), "msg-%02zu", i);
		ck_assert_int_eq(b->put(b, q, text, strlen(text), 0), 0);
	}
	ck_assert_uint_eq(count_of(b, q), 40);
	/* peek leases nothing and returns no receipts */
	ck_assert_int_eq(b->peek(b, q, 32, m, &n), 0);
	ck_assert_uint_eq(n, 32);
	ck_assert_str_eq((char *)m[0]->data, "msg-00");
	ck_assert_ptr_null(m[0]->receipt);
	ck_assert_uint_eq(m[0]->dequeue_count, 0);
	for (i = 0; i < n; i++)
		pex_message_free(m[i]);
	/* a batch of 32, then the remaining 8 */
	ck_assert_int_eq(b->receive(b, q, 32, 60, m, &n), 0);
	ck_assert_uint_eq(n, 32);
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(b->remove(b, q, m[i]), 0);
		pex_message_free(m[i]);
	}
	ck_assert_int_eq(b->receive(b, q, 32, 60, m, &n), 0);
	ck_assert_uint_eq(n, 8);
	for (i = 0; i < n; i++)
		pex_message_free(m[i]);
	ck_assert_int_eq(b->peek(b, q, 5, m, &n), 0);
	ck_assert_uint_eq(n, 0);
	b->free(b);
}
END_TEST

START_TEST(test_update_visibility)
{
	char q[64], *old;
	pex_queue_backend *b = open_queue(q, sizeof(q), "upd");
	pex_message *m = NULL, *again = NULL, *stale;
	size_t n;

	ck_assert_int_eq(b->put(b, q, "hello", 5, 0), 0);
	ck_assert_int_eq(b->receive(b, q, 1, 60, &m, &n), 0);
	ck_assert_uint_eq(n, 1);
	old = strdup(m->receipt);
	/* extend: new receipt, the old one is dead */
	ck_assert_int_eq(b->update(b, q, m, 120), 0);
	ck_assert_str_ne(m->receipt, old);
	ck_assert_int_eq(pex_message_new(&stale, m->id, old, "", 0, 0), 0);
	ck_assert_int_eq(b->remove(b, q, stale), PEX_ELEASELOST);
	assert_msg_has("PopReceiptMismatch");
	ck_assert_int_eq(b->update(b, q, stale, 0), PEX_ELEASELOST);
	pex_message_free(stale);
	/* release (visibility 0): visible again at once, dequeue count 2 */
	ck_assert_int_eq(b->update(b, q, m, 0), 0);
	ck_assert_int_eq(b->receive(b, q, 1, 60, &again, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(again->id, m->id);
	ck_assert_uint_eq(again->dequeue_count, 2);
	/* m's receipt is stale now too */
	ck_assert_int_eq(b->remove(b, q, m), PEX_ELEASELOST);
	ck_assert_int_eq(b->remove(b, q, again), 0);
	pex_message_free(m);
	pex_message_free(again);
	free(old);
	b->free(b);
}
END_TEST

START_TEST(test_delay_count_clear)
{
	char q[64];
	pex_queue_backend *b = open_queue(q, sizeof(q), "clr");
	pex_message *m = NULL;
	size_t n;

	ck_assert_int_eq(b->put(b, q, "later", 5, 60), 0);
	ck_assert_int_eq(b->put(b, q, "now", 3, 0), 0);
	ck_assert_uint_eq(count_of(b, q), 2);
	ck_assert_int_eq(b->receive(b, q, 32, 30, &m, &n), 0);
	ck_assert_uint_eq(n, 1);        /* only "now"; "later" is delayed */
	ck_assert_str_eq((char *)m->data, "now");
	pex_message_free(m);
	ck_assert_int_eq(b->clear(b, q), 0);
	ck_assert_uint_eq(count_of(b, q), 0);
	ck_assert_int_eq(b->clear(b, q), 0);
	ck_assert_int_eq(b->put(b, q, "x", 1, 604801), PEX_EINVAL);
	b->free(b);
}
END_TEST

START_TEST(test_pop_receipt_special_chars)
{
	char q[64];
	pex_queue_backend *b = open_queue(q, sizeof(q), "rcpt");
	pex_message *m = NULL, *fake;
	size_t n;

	ck_assert_int_eq(b->put(b, q, "r", 1, 0), 0);
	ck_assert_int_eq(b->receive(b, q, 1, 60, &m, &n), 0);
	ck_assert_uint_eq(n, 1);
	/* A receipt with + / = must travel percent-encoded and be signed
	 * decoded; sent raw, Azurite drops a value with '=' from its signed
	 * string and reads '+' as a space, and answers 403.
	 * A correctly sent but wrong receipt is a lease error with the
	 * service's PopReceiptMismatch, not an auth error. (Azurite's own
	 * receipts are base64 of a date and hex digits, so they never hold
	 * + / =; real Azure receipts do.) */
	ck_assert_int_eq(pex_message_new(&fake, m->id, "AgAA+/AAAA+/==", "", 0, 0), 0);
	ck_assert_int_eq(b->remove(b, q, fake), PEX_ELEASELOST);
	assert_msg_has("PopReceiptMismatch");
	ck_assert_int_eq(b->update(b, q, fake, 10), PEX_ELEASELOST);
	assert_msg_has("PopReceiptMismatch");
	ck_assert_int_eq(pex_message_set_receipt(fake, "a+b"), 0);
	ck_assert_int_eq(b->remove(b, q, fake), PEX_ELEASELOST);
	ck_assert_int_eq(pex_message_set_receipt(fake, "a=b/c d%2B&x=y"), 0);
	ck_assert_int_eq(b->remove(b, q, fake), PEX_ELEASELOST);
	pex_message_free(fake);
	/* the real receipt still works after all that */
	ck_assert_int_eq(b->remove(b, q, m), 0);
	ck_assert_uint_eq(count_of(b, q), 0);
	pex_message_free(m);
	b->free(b);
}
END_TEST

START_TEST(test_size_limit)
{
	char q[64];
	pex_queue_backend *b = open_queue(q, sizeof(q), "size"), *dead;
	unsigned char *big = malloc(49153);
	pex_message *m = NULL;
	size_t n, i;

	for (i = 0; i < 49153; i++)
		big[i] = (unsigned char)(' ' + (i * 7) % 95);
	/* exactly the limit: 65536 characters of base64, accepted */
	ck_assert_int_eq(b->put(b, q, big, 49152, 0), 0);
	ck_assert_int_eq(b->receive(b, q, 1, 30, &m, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(m->len, 49152);
	ck_assert_mem_eq(m->data, big, 49152);
	pex_message_free(m);
	/* one byte more: refused before sending */
	ck_assert_int_eq(b->put(b, q, big, 49153, 0), PEX_EINVAL);
	assert_msg_has("too large");
	ck_assert_uint_eq(count_of(b, q), 1);
	/* proof that nothing was sent: a backend with nothing listening
	 * answers EINVAL, not a network error */
	dead = open_backend_with("AccountName=devstoreaccount1;AccountKey=" PEX__AZURE_DEV_KEY
		";QueueEndpoint=http://127.0.0.1:1/devstoreaccount1", 0);
	ck_assert_int_eq(dead->put(dead, q, big, 49153, 0), PEX_EINVAL);
	/* bytes that are not UTF-8: refused before sending too */
	big[5] = 0xff;
	ck_assert_int_eq(dead->put(dead, q, big, 10, 0), PEX_EINVAL);
	assert_msg_has("offset 5");
	ck_assert_int_eq(b->put(b, q, big, 10, 0), PEX_EINVAL);
	ck_assert_uint_eq(count_of(b, q), 1);
	big[5] = 'x';
	ck_assert_int_eq(dead->put(dead, q, big, 10, 0), PEX_ENET);
	dead->free(dead);
	free(big);
	b->free(b);
}
END_TEST

START_TEST(test_wrong_key)
{
	/* a valid base64 key that is not the account's */
	static const char wrong[] = "AccountName=devstoreaccount1;"
		"AccountKey=V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3JvbmdLZXk=;QueueEndpoint=";
	char conn[512], q[64];
	const char *port = getenv("PEX_AZURITE_PORT");
	pex_queue_backend *b;
	const pex_error *e;

	ck_assert_ptr_nonnull(port);
	snprintf(conn, sizeof(conn), "%shttp://127.0.0.1:%s/devstoreaccount1", wrong, port);
	b = open_backend_with(conn, 3);
	queue_name(q, sizeof(q), "auth");
	ck_assert_int_eq(b->create(b, q), PEX_EAUTH);
	e = pex_error_last();
	ck_assert_int_eq(e->http_status, 403);
	ck_assert_int_eq(e->klass, PEX_ERROR_CLASS_AZURE);
	assert_msg_has("Azure Storage rejected the credentials (AuthenticationFailed)");
	ck_assert_ptr_null(strstr(e->message, "V3JvbmdLZXl"));
	ck_assert_ptr_null(strstr(e->message, "SharedKey"));
	ck_assert_int_eq(b->put(b, q, "x", 1, 0), PEX_EAUTH);
	b->free(b);
}
END_TEST

START_TEST(test_bad_input)
{
	pex_queue_azure_options o = PEX_QUEUE_AZURE_OPTIONS_INIT;
	pex_queue_backend *b = (pex_queue_backend *)1;
	size_t n;
	pex_message *m;
	char q[64];

	/* malformed connection strings never get as far as a request */
	o.connection_string = "AccountName=devstoreaccount1;AccountKey=not*base64";
	ck_assert_int_eq(pex_queue_backend_azure_new(&b, &o), PEX_EINVAL);
	ck_assert_ptr_null(b);
	assert_msg_has("AccountKey is not valid base64");
	ck_assert_ptr_null(strstr(pex_error_last()->message, "not*base64"));
	o.connection_string = NULL;
	ck_assert_int_eq(pex_queue_backend_azure_new(&b, &o), PEX_EINVAL);
	ck_assert_int_eq(pex_queue_backend_azure_new(&b, NULL), PEX_EINVAL);
	o.version = 99;
	o.connection_string = g_conn;
	ck_assert_int_eq(pex_queue_backend_azure_new(&b, &o), PEX_EINVAL);
	ck_assert_int_eq(pex_queue_azure_options_init(&o, 1), 0);
	ck_assert_int_eq(o.tls_verify, 1);
	ck_assert_uint_eq(o.retries, 3);
	ck_assert_int_eq(pex_queue_azure_options_init(&o, 2), PEX_EINVAL);

	b = open_backend_with(g_conn, 0);
	/* bad queue names: the service's verdict is PEX_EINVAL with its code */
	ck_assert_int_eq(b->create(b, "BadName"), PEX_EINVAL);
	assert_msg_has("InvalidResourceName");
	ck_assert_int_eq(pex_error_last()->http_status, 400);
	ck_assert_int_eq(b->create(b, "ab"), PEX_EINVAL);
	assert_msg_has("OutOfRangeInput");
	/* not even URL-safe: refused locally */
	ck_assert_int_eq(b->create(b, "a/b?c"), PEX_EINVAL);
	ck_assert_int_eq(b->create(b, ""), PEX_EINVAL);
	/* a queue that does not exist */
	queue_name(q, sizeof(q), "missing");
	ck_assert_int_eq(b->receive(b, q, 1, 30, &m, &n), PEX_ENOTFOUND);
	assert_msg_has("QueueNotFound");
	ck_assert_int_eq(b->put(b, q, "x", 1, 0), PEX_ENOTFOUND);
	ck_assert_int_eq(b->count(b, q, &n), PEX_ENOTFOUND);
	b->free(b);
}
END_TEST

START_TEST(test_connect_error_retries)
{
	pex_queue_backend *b = open_backend_with("AccountName=devstoreaccount1;AccountKey="
		PEX__AZURE_DEV_KEY ";QueueEndpoint=http://127.0.0.1:1/devstoreaccount1", 2);
	size_t n;
	ck_assert_int_eq(b->count(b, "anything", &n), PEX_ENET);
	assert_msg_has("cannot reach http://127.0.0.1:1");
	ck_assert_ptr_null(strstr(pex_error_last()->message, "devstoreaccount1"));
	b->free(b);
}
END_TEST

START_TEST(test_uri_front_end)
{
	/* the same backend through pex_queue_open("azure:...") */
	char uri[1024], q[64];
	pex_queue *queue = NULL;
	pex_message *m = NULL;
	size_t n = 0;
	snprintf(uri, sizeof(uri), "azure:%s", g_conn);
	queue_name(q, sizeof(q), "uri");
	ck_assert_msg(pex_queue_open(&queue, uri, q) == 0, "%s", pex_error_last()->message);
	ck_assert_int_eq(pex_queue_put(queue, "{\"name\":\"r1\"}", 13, 0), 0);
	ck_assert_int_eq(pex_queue_count(&n, queue), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(pex_queue_receive(&m, queue, 30), 0);
	ck_assert_str_eq((char *)m->data, "{\"name\":\"r1\"}");
	ck_assert_int_eq(pex_queue_extend(queue, m, 60), 0);
	ck_assert_int_eq(pex_queue_delete(queue, m), 0);
	pex_message_free(m);
	m = NULL;
	ck_assert_int_eq(pex_queue_receive(&m, queue, 1), PEX_EEMPTY);
	pex_queue_free(queue);
}
END_TEST

/* A service SAS for one queue, made with the dev key. */
static void make_sas(pex_buf *query, const char *queue, const char *perms)
{
	pex__azure_conn c;
	pex_buf sts = PEX_BUF_INIT, sig = PEX_BUF_INIT;
	char expiry[32];
	time_t t = time(NULL) + 3600;
	struct tm tm;
	ck_assert_int_eq(pex__azure_conn_parse(&c, "UseDevelopmentStorage=true"), 0);
	gmtime_r(&t, &tm);
	strftime(expiry, sizeof(expiry), "%Y-%m-%dT%H:%M:%SZ", &tm);
	/* sp, st, se, resource, si, sip, spr, sv: signed un-encoded */
	pex__buf_printf(&sts, "%s\n\n%s\n/queue/%s/%s\n\n\n\n2021-12-02", perms, expiry,
		c.account, queue);
	ck_assert_int_eq(pex__azure_hmac_sha256_b64(&sig, c.key, c.key_len, sts.ptr, sts.size), 0);
	pex__buf_printf(query, "sv=2021-12-02&se=");
	pex__url_encode(query, expiry, strlen(expiry));
	pex__buf_printf(query, "&sp=%s&sig=", perms);
	pex__url_encode(query, sig.ptr, sig.size);
	pex_buf_dispose(&sts);
	pex_buf_dispose(&sig);
	pex__azure_conn_dispose(&c);
}

START_TEST(test_sas)
{
	char q[64], conn[1024];
	pex_queue_backend *keyed = open_queue(q, sizeof(q), "sas"), *b;
	pex_buf sas = PEX_BUF_INIT;
	pex_message *m = NULL;
	size_t n;

	make_sas(&sas, q, "raup");
	snprintf(conn, sizeof(conn), "QueueEndpoint=http://127.0.0.1:%s/devstoreaccount1;"
		"SharedAccessSignature=%s", getenv("PEX_AZURITE_PORT"), sas.ptr);
	b = open_backend_with(conn, 0);
	ck_assert_msg(b->put(b, q, "via sas", 7, 0) == 0, "%s", pex_error_last()->message);
	ck_assert_uint_eq(count_of(b, q), 1);
	ck_assert_int_eq(b->peek(b, q, 1, &m, &n), 0);
	ck_assert_uint_eq(n, 1);
	pex_message_free(m);
	ck_assert_int_eq(b->receive(b, q, 1, 30, &m, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq((char *)m->data, "via sas");
	ck_assert_int_eq(b->update(b, q, m, 30), 0);
	ck_assert_int_eq(b->remove(b, q, m), 0);
	pex_message_free(m);
	b->free(b);

	/* read-only SAS: adding is refused by the service, as an auth error,
	 * and the signature is not in the message */
	pex__buf_clear(&sas);
	make_sas(&sas, q, "r");
	snprintf(conn, sizeof(conn), "QueueEndpoint=http://127.0.0.1:%s/devstoreaccount1;"
		"SharedAccessSignature=%s", getenv("PEX_AZURITE_PORT"), sas.ptr);
	b = open_backend_with(conn, 0);
	ck_assert_int_eq(b->put(b, q, "no", 2, 0), PEX_EAUTH);
	ck_assert_ptr_null(strstr(pex_error_last()->message, "sig="));
	ck_assert_ptr_null(strstr(pex_error_last()->message, strstr(sas.ptr, "sig=") + 4));
	b->free(b);
	pex_buf_dispose(&sas);
	keyed->free(keyed);
}
END_TEST

/* ---- threads: one backend, several threads at once ---- */

typedef struct worker {
	pex_queue_backend *b;
	const char *q;
	int id;
	int puts, got, errors;
} worker;

static void *work(void *arg)
{
	worker *w = arg;
	char text[32];
	int i;
	for (i = 0; i < 15; i++) {
		snprintf(text, sizeof(text), "w%d-%d", w->id, i);
		if (w->b->put(w->b, w->q, text, strlen(text), 0) == 0)
			w->puts++;
		else
			w->errors++;
	}
	for (;;) {
		pex_message *m[4];
		size_t n = 0, k;
		if (w->b->receive(w->b, w->q, 4, 60, m, &n) < 0) {
			w->errors++;
			break;
		}
		if (n == 0)
			break;
		for (k = 0; k < n; k++) {
			if (w->b->remove(w->b, w->q, m[k]) == 0)
				w->got++;
			else
				w->errors++;
			pex_message_free(m[k]);
		}
	}
	return NULL;
}

START_TEST(test_threads)
{
	char q[64];
	pex_queue_backend *b = open_queue(q, sizeof(q), "thr");
	pthread_t t[4];
	worker w[4];
	int i, puts = 0, got = 0;
	for (i = 0; i < 4; i++) {
		w[i] = (worker){ b, q, i, 0, 0, 0 };
		ck_assert_int_eq(pthread_create(&t[i], NULL, work, &w[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(w[i].errors, 0);
		puts += w[i].puts;
		got += w[i].got;
	}
	/* a worker may stop early on a momentarily empty queue: drain */
	for (;;) {
		pex_message *m[32];
		size_t n = 0, k;
		ck_assert_int_eq(b->receive(b, q, 32, 60, m, &n), 0);
		if (n == 0)
			break;
		for (k = 0; k < n; k++) {
			ck_assert_int_eq(b->remove(b, q, m[k]), 0);
			got++;
			pex_message_free(m[k]);
		}
	}
	ck_assert_int_eq(puts, 60);
	ck_assert_int_eq(got, 60);   /* each exactly once */
	ck_assert_uint_eq(count_of(b, q), 0);
	b->free(b);
}
END_TEST

static Suite *azure_live_suite(void)
{
	Suite *s = suite_create("azure-azurite");
	TCase *tc = tcase_create("azurite");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_caps_and_create);
	tcase_add_test(tc, test_put_get_delete);
	tcase_add_test(tc, test_peek_and_batch);
	tcase_add_test(tc, test_update_visibility);
	tcase_add_test(tc, test_delay_count_clear);
	tcase_add_test(tc, test_pop_receipt_special_chars);
	tcase_add_test(tc, test_size_limit);
	tcase_add_test(tc, test_wrong_key);
	tcase_add_test(tc, test_bad_input);
	tcase_add_test(tc, test_connect_error_retries);
	tcase_add_test(tc, test_uri_front_end);
	tcase_add_test(tc, test_sas);
	tcase_add_test(tc, test_threads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;
	const char *ci = getenv("CI"), *all = getenv("PEX_TEST_REQUIRE_ALL");

	g_conn = getenv("PEX_AZURITE_CONNSTR");
	if (!g_conn || !*g_conn) {
		int required = (ci && strcmp(ci, "true") == 0) || (all && strcmp(all, "1") == 0);
		fprintf(stderr, "PEX_AZURITE_CONNSTR is not set: run me through "
			"tests/azure/azurite.sh run (meson test does)%s\n",
			required ? "; required in CI" : "; skipping");
		return required ? EXIT_FAILURE : 77;
	}
	sr = srunner_create(azure_live_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	pex_global_shutdown();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
