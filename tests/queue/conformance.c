/*
 * Queue backend conformance: the same cases against every backend.
 *
 *   PEX_QUEUE_URI=memory:            (default)
 *   PEX_QUEUE_URI=sqlite:/tmp/x.db
 *   PEX_QUEUE_URI='azure:AccountName=devstoreaccount1;AccountKey=...;QueueEndpoint=...'
 *       (tests/azure/azurite.sh exports it for its Azurite; the shorthand
 *       UseDevelopmentStorage=true means 127.0.0.1:10001 and cannot be
 *       combined with QueueEndpoint)
 *
 * Each test opens a fresh, uniquely named queue and clears it before and
 * after. Lease timing uses 1 s visibility and sleeps of SETTLE_MS, which is
 * long enough for backends with one-second granularity (Azure).
 * Exits 77 when the backend is not compiled in or not reachable.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "pexipsdk/sys/queue_backend.h"
#include "queue/queue_internal.h"
#include "qtest.h"

/* How long to wait for a 1 s lease or delay to run out. */
#define SETTLE_MS 2200
#define LONG_VIS 30

static const char *g_uri;

#define ck_err(expr, code) do { \
	int ck_err_ = (expr); \
	ck_assert_msg(ck_err_ == (code), "%s returned %s, expected %s (%s)", #expr, \
		pex_error_name(ck_err_), #code, pex_error_last()->message); \
} while (0)

static pex_queue *open_fresh(void)
{
	pex_queue *q = NULL;
	char name[64];

	qtest_name(name, sizeof(name), "conf");
	ck_ok(pex_queue_open(&q, g_uri, name));
	ck_ok(pex_queue_clear(q));
	return q;
}

static void close_q(pex_queue *q)
{
	ck_ok(pex_queue_clear(q));
	pex_queue_free(q);
}

static void put_str(pex_queue *q, const char *s, unsigned delay_s)
{
	ck_ok(pex_queue_put(q, s, strlen(s), delay_s));
}

static pex_message *recv_ok(pex_queue *q, unsigned vis)
{
	pex_message *m = NULL;

	ck_ok(pex_queue_receive(&m, q, vis));
	ck_assert_ptr_nonnull(m);
	ck_assert_ptr_nonnull(m->id);
	ck_assert_ptr_nonnull(m->receipt);
	ck_assert_ptr_nonnull(m->data);
	ck_assert_int_eq(m->data[m->len], '\0');
	return m;
}

static void expect_empty(pex_queue *q)
{
	pex_message *m = NULL;
	int err = pex_queue_receive(&m, q, LONG_VIS);

	ck_assert_msg(err == PEX_EEMPTY, "expected PEX_EEMPTY, got %s%s%.*s",
		pex_error_name(err), m ? " with message " : "", m ? (int)m->len : 0,
		m ? (const char *)m->data : "");
	ck_assert_ptr_null(m);
}

static void ck_data(const pex_message *m, const char *s)
{
	ck_assert_uint_eq(m->len, strlen(s));
	ck_assert_mem_eq(m->data, s, m->len);
}

static size_t count_of(pex_queue *q)
{
	size_t n = 0;

	ck_ok(pex_queue_count(&n, q));
	return n;
}

/* ---- basics ---- */

START_TEST(test_put_receive_delete)
{
	pex_queue *q = open_fresh();
	pex_message *m;

	put_str(q, "hello", 0);
	m = recv_ok(q, LONG_VIS);
	ck_data(m, "hello");
	ck_assert_uint_eq(m->dequeue_count, 1);
	ck_assert_msg(m->inserted_at == 0 || m->inserted_at > 1600000000,
		"inserted_at %lld is not a Unix time", m->inserted_at);
	ck_ok(pex_queue_delete(q, m));
	expect_empty(q);
	ck_assert_uint_eq(count_of(q), 0);
	/* deleting again: the message is gone */
	ck_err(pex_queue_delete(q, m), PEX_ELEASELOST);
	pex_message_free(m);
	close_q(q);
}
END_TEST

START_TEST(test_empty)
{
	pex_queue *q = open_fresh();
	pex_message *m = (pex_message *)1, **msgs = (pex_message **)1;
	size_t n = 99;

	ck_err(pex_queue_receive(&m, q, LONG_VIS), PEX_EEMPTY);
	ck_assert_ptr_null(m);
	ck_assert_int_eq(pex_error_last()->code, PEX_EEMPTY);
	ck_ok(pex_queue_receive_batch(&msgs, &n, q, 32, LONG_VIS));
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(msgs);
	n = 99;
	msgs = (pex_message **)1;
	ck_ok(pex_queue_peek(&msgs, &n, q, 32));
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(msgs);
	ck_assert_uint_eq(count_of(q), 0);
	close_q(q);
}
END_TEST

START_TEST(test_fifo)
{
	pex_queue *q = open_fresh();
	char buf[32];
	int i;

	for (i = 0; i < 10; i++) {
		snprintf(buf, sizeof(buf), "fifo-%d", i);
		put_str(q, buf, 0);
	}
	for (i = 0; i < 10; i++) {
		pex_message *m = recv_ok(q, LONG_VIS);
		snprintf(buf, sizeof(buf), "fifo-%d", i);
		ck_data(m, buf);
		ck_ok(pex_queue_delete(q, m));
		pex_message_free(m);
	}
	expect_empty(q);
	close_q(q);
}
END_TEST

START_TEST(test_arguments)
{
	pex_queue *q = open_fresh();
	pex_message *m;

	ck_err(pex_queue_put(q, "x", 0, 0), PEX_EINVAL);
	ck_err(pex_queue_put(q, NULL, 3, 0), PEX_EINVAL);
	ck_err(pex_queue_put(q, "x", 1, 604801), PEX_EINVAL);
	ck_err(pex_queue_receive(&m, q, 0), PEX_EINVAL);
	ck_err(pex_queue_receive(&m, q, 604801), PEX_EINVAL);
	ck_assert_uint_eq(count_of(q), 0);

	put_str(q, "x", 0);
	m = recv_ok(q, LONG_VIS);
	ck_err(pex_queue_extend(q, m, 0), PEX_EINVAL);
	ck_err(pex_queue_release(q, m, 604801), PEX_EINVAL);
	ck_ok(pex_queue_delete(q, m));
	pex_message_free(m);
	close_q(q);
}
END_TEST

/* ---- delays and leases ---- */

START_TEST(test_delayed_put)
{
	pex_queue *q = open_fresh();
	pex_message **msgs = NULL, *m;
	size_t n = 0;

	put_str(q, "later", 1);
	expect_empty(q);
	ck_ok(pex_queue_peek(&msgs, &n, q, 32));
	ck_assert_uint_eq(n, 0);
	/* counted although not yet visible */
	ck_assert_uint_eq(count_of(q), 1);
	pex__sleep_ms(SETTLE_MS);
	m = recv_ok(q, LONG_VIS);
	ck_data(m, "later");
	ck_assert_uint_eq(m->dequeue_count, 1);
	ck_ok(pex_queue_delete(q, m));
	pex_message_free(m);
	close_q(q);
}
END_TEST

/* A lease hides the message; its expiry brings it back with a higher
 * dequeue count; the first receipt is then stale for delete and update. */
START_TEST(test_lease_expiry_and_stale_receipt)
{
	pex_queue *q = open_fresh();
	pex_message *m1, *m2;

	put_str(q, "leased", 0);
	m1 = recv_ok(q, 1);
	ck_assert_uint_eq(m1->dequeue_count, 1);
	ck_assert_msg(m1->visible_at == 0 || m1->visible_at > 1600000000,
		"visible_at %lld is not a Unix time", m1->visible_at);
	expect_empty(q);
	ck_assert_uint_eq(count_of(q), 1);   /* invisible but counted */

	pex__sleep_ms(SETTLE_MS);
	m2 = recv_ok(q, LONG_VIS);
	ck_assert_str_eq(m2->id, m1->id);
	ck_data(m2, "leased");
	ck_assert_uint_eq(m2->dequeue_count, 2);
	ck_assert_str_ne(m2->receipt, m1->receipt);

	ck_err(pex_queue_delete(q, m1), PEX_ELEASELOST);
	ck_err(pex_queue_release(q, m1, 0), PEX_ELEASELOST);
	ck_err(pex_queue_extend(q, m1, 5), PEX_ELEASELOST);
	/* the failed calls changed nothing: the holder still has it */
	expect_empty(q);
	ck_ok(pex_queue_delete(q, m2));
	ck_err(pex_queue_delete(q, m2), PEX_ELEASELOST);
	expect_empty(q);
	pex_message_free(m1);
	pex_message_free(m2);
	close_q(q);
}
END_TEST

START_TEST(test_release_now)
{
	pex_queue *q = open_fresh();
	pex_message *m, *again;
	char *old;

	put_str(q, "back", 0);
	m = recv_ok(q, LONG_VIS);
	old = strdup(m->receipt);
	ck_ok(pex_queue_release(q, m, 0));
	ck_assert_ptr_nonnull(m->receipt);
	ck_assert_str_ne(m->receipt, old);
	again = recv_ok(q, LONG_VIS);
	ck_assert_str_eq(again->id, m->id);
	ck_assert_uint_eq(again->dequeue_count, 2);
	/* both earlier receipts are dead now */
	ck_err(pex_queue_delete(q, m), PEX_ELEASELOST);
	ck_ok(pex_queue_delete(q, again));
	free(old);
	pex_message_free(m);
	pex_message_free(again);
	close_q(q);
}
END_TEST

START_TEST(test_release_delayed)
{
	pex_queue *q = open_fresh();
	pex_message *m, *again;

	put_str(q, "back-later", 0);
	m = recv_ok(q, LONG_VIS);
	ck_ok(pex_queue_release(q, m, 1));
	expect_empty(q);
	pex__sleep_ms(SETTLE_MS);
	again = recv_ok(q, LONG_VIS);
	ck_assert_str_eq(again->id, m->id);
	ck_data(again, "back-later");
	ck_assert_uint_eq(again->dequeue_count, 2);
	ck_ok(pex_queue_delete(q, again));
	pex_message_free(m);
	pex_message_free(again);
	close_q(q);
}
END_TEST

START_TEST(test_extend)
{
	pex_queue *q = open_fresh();
	pex_message *m, copy;
	char *old;

	put_str(q, "kept", 0);
	m = recv_ok(q, 1);
	old = strdup(m->receipt);
	/* extended far past the settle time, so a loaded machine (CI runs the
	 * sanitizer build beside this) cannot make the extension run out too */
	ck_ok(pex_queue_extend(q, m, LONG_VIS));
	ck_assert_str_ne(m->receipt, old);
	/* the first lease would have run out by now */
	pex__sleep_ms(SETTLE_MS);
	expect_empty(q);
	/* the receipt from before the extension is dead */
	copy = *m;
	copy.receipt = old;
	ck_err(pex_queue_delete(q, &copy), PEX_ELEASELOST);
	ck_ok(pex_queue_delete(q, m));
	ck_assert_uint_eq(count_of(q), 0);
	free(old);
	pex_message_free(m);
	close_q(q);
}
END_TEST

/* ---- batches, peek, count, clear ---- */

START_TEST(test_batch)
{
	pex_queue *q = open_fresh();
	pex_message **a = NULL, **b = NULL, **c = NULL;
	size_t na = 0, nb = 0, nc = 0, i, j;
	char buf[32];
	int seen[40] = { 0 };

	for (i = 0; i < 40; i++) {
		snprintf(buf, sizeof(buf), "batch-%zu", i);
		put_str(q, buf, 0);
	}
	ck_err(pex_queue_receive_batch(&a, &na, q, 0, LONG_VIS), PEX_EINVAL);
	ck_err(pex_queue_receive_batch(&a, &na, q, 33, LONG_VIS), PEX_EINVAL);
	ck_err(pex_queue_receive_batch(&a, &na, q, 8, 0), PEX_EINVAL);

	ck_ok(pex_queue_receive_batch(&a, &na, q, 32, LONG_VIS));
	ck_assert_uint_eq(na, 32);
	ck_ok(pex_queue_receive_batch(&b, &nb, q, 32, LONG_VIS));
	ck_assert_uint_eq(nb, 8);
	ck_ok(pex_queue_receive_batch(&c, &nc, q, 32, LONG_VIS));
	ck_assert_uint_eq(nc, 0);
	ck_assert_ptr_null(c);

	for (i = 0; i < na + nb; i++) {
		pex_message *m = i < na ? a[i] : b[i - na];
		size_t k;
		ck_assert_ptr_nonnull(m->receipt);
		ck_assert_uint_eq(m->dequeue_count, 1);
		ck_assert_int_eq(sscanf((const char *)m->data, "batch-%zu", &k), 1);
		ck_assert_uint_lt(k, 40);
		ck_assert_int_eq(seen[k], 0);
		seen[k] = 1;
		/* ids are distinct */
		for (j = 0; j < i; j++)
			ck_assert_str_ne((j < na ? a[j] : b[j - na])->id, m->id);
		ck_ok(pex_queue_delete(q, m));
	}
	/* a batch is FIFO too */
	for (i = 0; i < na; i++) {
		snprintf(buf, sizeof(buf), "batch-%zu", i);
		ck_data(a[i], buf);
	}
	ck_assert_uint_eq(count_of(q), 0);
	pex_message_array_free(a, na);
	pex_message_array_free(b, nb);
	close_q(q);
}
END_TEST

START_TEST(test_peek)
{
	pex_queue *q = open_fresh();
	pex_message **p = NULL, *m;
	size_t n = 0;

	put_str(q, "p0", 0);
	put_str(q, "p1", 0);
	put_str(q, "p2", 0);
	ck_err(pex_queue_peek(&p, &n, q, 0), PEX_EINVAL);
	ck_err(pex_queue_peek(&p, &n, q, 33), PEX_EINVAL);
	ck_ok(pex_queue_peek(&p, &n, q, 32));
	ck_assert_uint_eq(n, 3);
	ck_data(p[0], "p0");
	ck_data(p[2], "p2");
	ck_assert_ptr_null(p[0]->receipt);
	ck_assert_uint_eq(p[0]->dequeue_count, 0);
	/* a peeked message holds no lease: it cannot be deleted */
	ck_err(pex_queue_delete(q, p[0]), PEX_EINVAL);
	ck_err(pex_queue_release(q, p[0], 0), PEX_EINVAL);
	pex_message_array_free(p, n);

	/* peeking leased nothing: the first receive gets p0 for the first time */
	m = recv_ok(q, LONG_VIS);
	ck_data(m, "p0");
	ck_assert_uint_eq(m->dequeue_count, 1);
	/* and a leased message is not peeked */
	ck_ok(pex_queue_peek(&p, &n, q, 1));
	ck_assert_uint_eq(n, 1);
	ck_data(p[0], "p1");
	pex_message_array_free(p, n);
	ck_ok(pex_queue_peek(&p, &n, q, 32));
	ck_assert_uint_eq(n, 2);
	pex_message_array_free(p, n);
	ck_ok(pex_queue_delete(q, m));
	pex_message_free(m);
	close_q(q);
}
END_TEST

START_TEST(test_count)
{
	pex_queue *q = open_fresh();
	pex_message *m;
	int i;

	ck_assert_uint_eq(count_of(q), 0);
	for (i = 0; i < 5; i++)
		put_str(q, "c", 0);
	ck_assert_uint_eq(count_of(q), 5);
	m = recv_ok(q, LONG_VIS);
	ck_assert_uint_eq(count_of(q), 5);
	ck_ok(pex_queue_delete(q, m));
	ck_assert_uint_eq(count_of(q), 4);
	put_str(q, "d", 60);
	ck_assert_uint_eq(count_of(q), 5);
	pex_message_free(m);
	close_q(q);
}
END_TEST

START_TEST(test_clear)
{
	pex_queue *q = open_fresh();
	pex_message *m;

	put_str(q, "a", 0);
	put_str(q, "b", 0);
	put_str(q, "c", 60);
	m = recv_ok(q, LONG_VIS);
	ck_ok(pex_queue_clear(q));
	ck_assert_uint_eq(count_of(q), 0);
	expect_empty(q);
	/* the lease went with the message */
	ck_err(pex_queue_delete(q, m), PEX_ELEASELOST);
	/* the queue is still usable */
	put_str(q, "after", 0);
	pex_message_free(m);
	m = recv_ok(q, LONG_VIS);
	ck_data(m, "after");
	ck_ok(pex_queue_delete(q, m));
	pex_message_free(m);
	close_q(q);
}
END_TEST

/* ---- payloads ---- */

static void round_trip(pex_queue *q, const void *data, size_t len)
{
	pex_message *m;

	ck_ok(pex_queue_put(q, data, len, 0));
	m = recv_ok(q, LONG_VIS);
	ck_assert_uint_eq(m->len, len);
	ck_assert_msg(memcmp(m->data, data, len) == 0, "payload of %zu bytes changed", len);
	ck_assert_int_eq(m->data[len], '\0');
	ck_ok(pex_queue_delete(q, m));
	pex_message_free(m);
}

START_TEST(test_text_payloads)
{
	static const char *const texts[] = {
		"Grüße, 日本語, emoji \xf0\x9f\x8e\xa5 ✓",
		"\"double\" and 'single' quotes",
		"<xml attr=\"1\">&amp; & &lt; < > ]]> <![CDATA[x]]></xml>",
		"{\"name\":\"vmr_1\",\"id\":12}",
		"line1\nline2\ttab  two spaces ",
		"   leading and trailing spaces   ",
		"%2B+/=?&#;\\",
		"x",
	};
	pex_queue *q = open_fresh();
	size_t i;

	for (i = 0; i < PEX__ARRAY_SIZE(texts); i++)
		round_trip(q, texts[i], strlen(texts[i]));
	close_q(q);
}
END_TEST

/* Does the backend carry UTF-8 text only (azure)? */
static int utf8_only(pex_queue *q)
{
	return (pex__queue_backend(q)->caps & PEX_QUEUE_CAP_UTF8_ONLY) != 0;
}

START_TEST(test_binary_payload)
{
	pex_queue *q = open_fresh();
	/* valid UTF-8 with NUL, control characters, XML specials, non-ASCII:
	 * every backend carries it */
	static const char text[] = "a\0b\r\n\t\x01\x1f\x7f <&> ]]> \"'"
		"\xc3\xa9\xe2\x82\xac\xf0\x9f\x8e\xa5\xef\xbf\xbf\0";
	unsigned char all[256], crlf[] = "a\r\nb\rc\n\0d";
	size_t i, n = 99;
	char want[32];

	round_trip(q, text, sizeof(text) - 1);
	round_trip(q, crlf, sizeof(crlf) - 1);
	for (i = 0; i < sizeof(all); i++)
		all[i] = (unsigned char)i;
	if (!utf8_only(q)) {
		/* any bytes at all */
		round_trip(q, all, sizeof(all));
	} else {
		/* refused before anything is stored, naming the first bad byte */
		ck_err(pex_queue_put(q, all, sizeof(all), 0), PEX_EINVAL);
		ck_assert_msg(strstr(pex_error_last()->message, "UTF-8") != NULL,
			"'%s' does not say UTF-8", pex_error_last()->message);
		snprintf(want, sizeof(want), "offset %d", 0x80);
		ck_assert_msg(strstr(pex_error_last()->message, want) != NULL,
			"'%s' does not name %s", pex_error_last()->message, want);
		ck_err(pex_queue_put(q, "ok\xff", 3, 0), PEX_EINVAL);
		ck_err(pex_queue_put(q, "\xc3", 1, 0), PEX_EINVAL);        /* cut short */
		ck_err(pex_queue_put(q, "\xed\xa0\x80", 3, 0), PEX_EINVAL); /* surrogate */
		ck_ok(pex_queue_count(&n, q));
		ck_assert_uint_eq(n, 0);
	}
	close_q(q);
}
END_TEST

START_TEST(test_max_size)
{
	pex_queue *q = open_fresh();
	size_t max = pex__queue_backend(q)->max_message_size, i;
	unsigned char *big;
	char want[64];

	if (max == 0) {
		/* no limit declared: a 256 KiB message must go through */
		max = 256 * 1024;
	}
	big = malloc(max + 1);
	ck_assert_ptr_nonnull(big);
	for (i = 0; i < max + 1; i++)
		big[i] = utf8_only(q) ? (unsigned char)(' ' + i % 95) :
			(unsigned char)((i * 31 + 7) & 0xff);
	round_trip(q, big, max);

	if (pex__queue_backend(q)->max_message_size) {
		ck_err(pex_queue_put(q, big, max + 1, 0), PEX_EINVAL);
		/* rejected by the front end, naming both sizes */
		ck_assert_int_eq(pex_error_last()->klass, PEX_ERROR_CLASS_INVALID);
		snprintf(want, sizeof(want), "%zu", max + 1);
		ck_assert_msg(strstr(pex_error_last()->message, want) != NULL,
			"'%s' does not name the size %s", pex_error_last()->message, want);
		snprintf(want, sizeof(want), "%zu", max);
		ck_assert_msg(strstr(pex_error_last()->message, want) != NULL,
			"'%s' does not name the limit %s", pex_error_last()->message, want);
		ck_assert_uint_eq(count_of(q), 0);
	}
	free(big);
	close_q(q);
}
END_TEST

/* ---- names and siblings ---- */

START_TEST(test_bad_names)
{
	static const struct { const char *name, *rule; } bad[] = {
		{ NULL, "missing" },
		{ "", "3 to 63" },
		{ "ab", "3 to 63" },
		{ "Abc", "lowercase" },
		{ "abc_def", "lowercase" },
		{ "ab c", "lowercase" },
		{ "caf\xc3\xa9", "lowercase" },
		{ "-abc", "start and end with" },
		{ "abc-", "start and end with" },
		{ "a--bc", "\"--\"" },
		{ "a123456789012345678901234567890123456789012345678901234567890123", "3 to 63" },
	};
	pex_queue *q = NULL;
	char name[64];
	size_t i;

	for (i = 0; i < PEX__ARRAY_SIZE(bad); i++) {
		ck_err(pex_queue_name_validate(bad[i].name), PEX_EINVAL);
		ck_assert_msg(strstr(pex_error_last()->message, bad[i].rule) != NULL,
			"'%s' does not name the rule '%s'", pex_error_last()->message, bad[i].rule);
		ck_err(pex_queue_open(&q, g_uri, bad[i].name), PEX_EINVAL);
		ck_assert_ptr_null(q);
	}
	ck_ok(pex_queue_name_validate("abc"));
	ck_ok(pex_queue_name_validate("room-creation-queue"));
	ck_ok(pex_queue_name_validate("a1-b2-c3"));

	/* the longest name is accepted by the backend too */
	qtest_name(name, sizeof(name), "long");
	memset(name + strlen(name), 'x', 63 - strlen(name));
	name[63] = '\0';
	ck_ok(pex_queue_open(&q, g_uri, name));
	ck_assert_str_eq(pex_queue_name(q), name);
	put_str(q, "long", 0);
	ck_assert_uint_eq(count_of(q), 1);
	close_q(q);
}
END_TEST

START_TEST(test_siblings_isolated)
{
	pex_queue *a = open_fresh(), *b = NULL, *a2 = NULL;
	pex_message *m;
	char name[64];

	qtest_name(name, sizeof(name), "conf-sib");
	ck_err(pex_queue_open_sibling(&b, a, "Bad_Name"), PEX_EINVAL);
	ck_ok(pex_queue_open_sibling(&b, a, name));
	ck_ok(pex_queue_clear(b));
	ck_assert_str_eq(pex_queue_name(b), name);

	put_str(a, "for-a", 0);
	expect_empty(b);
	ck_assert_uint_eq(count_of(b), 0);
	put_str(b, "for-b", 0);
	ck_assert_uint_eq(count_of(a), 1);
	ck_assert_uint_eq(count_of(b), 1);

	/* a lease on one queue means nothing on the other */
	m = recv_ok(a, LONG_VIS);
	ck_data(m, "for-a");
	ck_err(pex_queue_delete(b, m), PEX_ELEASELOST);
	ck_assert_uint_eq(count_of(a), 1);

	ck_ok(pex_queue_clear(b));
	ck_assert_uint_eq(count_of(a), 1);

	/* b keeps the shared backend alive after a is closed */
	ck_ok(pex_queue_open_sibling(&a2, b, pex_queue_name(a)));
	pex_queue_free(a);
	ck_ok(pex_queue_delete(a2, m));
	ck_assert_uint_eq(count_of(a2), 0);
	put_str(b, "still-b", 0);
	pex_message_free(m);
	m = recv_ok(b, LONG_VIS);
	ck_data(m, "still-b");
	ck_ok(pex_queue_delete(b, m));
	pex_message_free(m);
	close_q(a2);
	close_q(b);
}
END_TEST

static Suite *conformance_suite(void)
{
	Suite *s = suite_create("queue-conformance");
	TCase *tc = tcase_create("backend");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_put_receive_delete);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_fifo);
	tcase_add_test(tc, test_arguments);
	tcase_add_test(tc, test_delayed_put);
	tcase_add_test(tc, test_lease_expiry_and_stale_receipt);
	tcase_add_test(tc, test_release_now);
	tcase_add_test(tc, test_release_delayed);
	tcase_add_test(tc, test_extend);
	tcase_add_test(tc, test_batch);
	tcase_add_test(tc, test_peek);
	tcase_add_test(tc, test_count);
	tcase_add_test(tc, test_clear);
	tcase_add_test(tc, test_text_payloads);
	tcase_add_test(tc, test_binary_payload);
	tcase_add_test(tc, test_max_size);
	tcase_add_test(tc, test_bad_names);
	tcase_add_test(tc, test_siblings_isolated);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed, rc;

	g_uri = qtest_uri();
	if (pex_global_init() < 0)
		return 1;
	if ((rc = qtest_probe("queue-conformance", g_uri)) != 0) {
		pex_global_shutdown();
		return rc;
	}
	fprintf(stderr, "queue-conformance: backend '%s'\n", qtest_scheme(g_uri));
	sr = srunner_create(conformance_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	pex_global_shutdown();
	return failed ? 1 : 0;
}
