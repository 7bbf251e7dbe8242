/*
 * Queue unit tests: the front end against a fake backend that counts calls
 * (versions, required members, validation before the backend, sharing and
 * freeing, serialisation), URI dispatch, SQLite specifics (schema version,
 * busy timeout, errors) and the pool message codec.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "pex_config.h"
#include "pexipsdk/sys/queue_backend.h"
#include "queue/queue_internal.h"
#include "pool/poolmsg.h"
#include "testbackend.h"

#if PEX_HAVE_SQLITE
#include <sqlite3.h>
#endif

#define ck_ok(expr) do { \
	int ck_err_ = (expr); \
	ck_assert_msg(ck_err_ == 0, "%s failed: %s (%s)", #expr, \
		pex_error_name(ck_err_), pex_error_last()->message); \
} while (0)

#define ck_err(expr, code) do { \
	int ck_err_ = (expr); \
	ck_assert_msg(ck_err_ == (code), "%s returned %s, expected %s (%s)", #expr, \
		pex_error_name(ck_err_), #code, pex_error_last()->message); \
} while (0)

#define ck_msg_has(s) ck_assert_msg(strstr(pex_error_last()->message, (s)) != NULL, \
	"message '%s' lacks '%s'", pex_error_last()->message, (s))

/* ======================================================================
 * Fake backend: counts calls, can fail on demand, notices overlapping calls.
 * ====================================================================== */

typedef struct fake {
	pex_queue_backend parent;
	int *freed;                 /* outlives the fake */
	int creates, puts, receives, removes, updates;
	int fail_create;
	int receive_error;          /* returned without setting details */
	size_t receive_n;           /* how many messages receive claims */
	int slow;                   /* ms to sleep inside put */
	atomic_int inside;
	atomic_int overlaps;
	char last_queue[64];
} fake;

static int fake_create(pex_queue_backend *b, const char *queue)
{
	fake *f = (fake *)b;
	f->creates++;
	snprintf(f->last_queue, sizeof(f->last_queue), "%s", queue);
	if (f->fail_create)
		return pex_error_set(PEX_EBACKEND, PEX_ERROR_CLASS_QUEUE, "fake create failed");
	return 0;
}

static int fake_put(pex_queue_backend *b, const char *queue, const void *data, size_t len,
	unsigned delay_s)
{
	fake *f = (fake *)b;
	if (atomic_fetch_add(&f->inside, 1) != 0)
		atomic_fetch_add(&f->overlaps, 1);
	if (f->slow)
		pex__sleep_ms(f->slow);
	f->puts++;
	atomic_fetch_sub(&f->inside, 1);
	return 0;
}

static int fake_receive(pex_queue_backend *b, const char *queue, size_t max,
	unsigned visibility_s, pex_message **msgs, size_t *count)
{
	fake *f = (fake *)b;
	size_t i;

	f->receives++;
	*count = 0;
	if (f->receive_error)
		return f->receive_error;
	for (i = 0; i < f->receive_n && i < max; i++)
		ck_ok(pex_message_new(&msgs[i], "id", "r", "x", 1, 1));
	*count = f->receive_n;
	return 0;
}

static int fake_remove(pex_queue_backend *b, const char *queue, const pex_message *msg)
{
	((fake *)b)->removes++;
	return 0;
}

static int fake_update(pex_queue_backend *b, const char *queue, pex_message *msg,
	unsigned visibility_s)
{
	((fake *)b)->updates++;
	return pex_message_set_receipt(msg, "new");
}

static void fake_free(pex_queue_backend *b)
{
	fake *f = (fake *)b;
	(*f->freed)++;
	free(f);
}

static fake *fake_new(int *freed)
{
	fake *f = calloc(1, sizeof(*f));

	ck_assert_ptr_nonnull(f);
	ck_ok(pex_queue_backend_init(&f->parent, PEX_QUEUE_BACKEND_VERSION));
	f->parent.name = "fake";
	f->parent.max_message_size = 10;
	f->parent.create = fake_create;
	f->parent.put = fake_put;
	f->parent.receive = fake_receive;
	f->parent.remove = fake_remove;
	f->parent.update = fake_update;
	f->parent.free = fake_free;
	f->freed = freed;
	*freed = 0;
	return f;
}

static int fake_check_stale(pex_queue_backend *b)
{
	(void)b;
	return pex_error_set(PEX_ESTALE, PEX_ERROR_CLASS_QUEUE, "fake store gone");
}

START_TEST(test_backend_init)
{
	pex_queue_backend b = PEX_QUEUE_BACKEND_INIT, z;

	ck_assert_uint_eq(b.version, PEX_QUEUE_BACKEND_VERSION);
	memset(&z, 0xab, sizeof(z));
	ck_err(pex_queue_backend_init(&z, 0), PEX_EINVAL);
	ck_err(pex_queue_backend_init(&z, PEX_QUEUE_BACKEND_VERSION + 1), PEX_EINVAL);
	ck_err(pex_queue_backend_init(NULL, 1), PEX_EINVAL);
	ck_ok(pex_queue_backend_init(&z, 1));
	ck_assert_uint_eq(z.version, 1);
	ck_assert_ptr_null(z.put);
	ck_assert_ptr_null(z.free);
	ck_assert_uint_eq(z.caps, 0);

	/* a version 1 struct ends before the version 2 members: not written */
	memset(&z, 0xab, sizeof(z));
	ck_ok(pex_queue_backend_init(&z, 1));
	ck_assert_uint_eq(((unsigned char *)&z.check)[0], 0xab);
	ck_ok(pex_queue_backend_init(&z, 2));
	ck_assert_ptr_null(z.check);

	/* and pex_queue_check() does not read them from a version 1 backend */
	{
		int freed = 0;
		fake *f = fake_new(&freed);
		pex_queue *q;

		f->parent.check = fake_check_stale;
		ck_ok(pex_queue_open_backend(&q, &f->parent, "abc"));
		ck_err(pex_queue_check(q), PEX_ESTALE);
		ck_msg_has("fake store gone");
		f->parent.version = 1;
		ck_ok(pex_queue_check(q));
		pex_queue_free(q);
		ck_assert_int_eq(freed, 1);
	}
}
END_TEST

START_TEST(test_open_checks_backend)
{
	int freed;
	fake *f = fake_new(&freed);
	pex_queue *q = (pex_queue *)1;

	f->parent.version = 0;
	ck_err(pex_queue_open_backend(&q, &f->parent, "abc"), PEX_EINVAL);
	ck_assert_ptr_null(q);
	f->parent.version = PEX_QUEUE_BACKEND_VERSION + 1;
	ck_err(pex_queue_open_backend(&q, &f->parent, "abc"), PEX_EINVAL);
	ck_msg_has("version");
	f->parent.version = PEX_QUEUE_BACKEND_VERSION;

	f->parent.update = NULL;
	ck_err(pex_queue_open_backend(&q, &f->parent, "abc"), PEX_EINVAL);
	ck_msg_has("'update'");
	f->parent.update = fake_update;
	f->parent.free = NULL;
	ck_err(pex_queue_open_backend(&q, &f->parent, "abc"), PEX_EINVAL);
	ck_msg_has("'free'");
	f->parent.free = fake_free;

	/* a bad name fails before the backend is asked to create anything */
	ck_err(pex_queue_open_backend(&q, &f->parent, "ABC"), PEX_EINVAL);
	ck_assert_int_eq(f->creates, 0);
	ck_err(pex_queue_open_backend(&q, NULL, "abc"), PEX_EINVAL);

	/* create fails: the caller still owns the backend */
	f->fail_create = 1;
	ck_err(pex_queue_open_backend(&q, &f->parent, "abc"), PEX_EBACKEND);
	ck_msg_has("fake create failed");
	ck_assert_int_eq(f->creates, 1);
	ck_assert_int_eq(freed, 0);
	f->parent.free(&f->parent);
	ck_assert_int_eq(freed, 1);
}
END_TEST

START_TEST(test_siblings_share_and_free_once)
{
	int freed;
	fake *f = fake_new(&freed);
	pex_queue *a, *b, *c, *d = (pex_queue *)1;

	ck_ok(pex_queue_open_backend(&a, &f->parent, "queue-a"));
	ck_assert_str_eq(f->last_queue, "queue-a");
	ck_ok(pex_queue_open_sibling(&b, a, "queue-b"));
	ck_assert_str_eq(f->last_queue, "queue-b");
	ck_ok(pex_queue_open_sibling(&c, b, "queue-c"));
	ck_assert_int_eq(f->creates, 3);
	ck_assert_str_eq(pex_queue_name(c), "queue-c");
	ck_assert_ptr_eq(pex__queue_backend(a), pex__queue_backend(c));

	/* a failed sibling open leaves the count alone */
	f->fail_create = 1;
	ck_err(pex_queue_open_sibling(&d, b, "queue-d"), PEX_EBACKEND);
	ck_assert_ptr_null(d);
	f->fail_create = 0;

	pex_queue_free(b);
	pex_queue_free(a);
	ck_assert_int_eq(freed, 0);
	ck_err(pex_queue_open_sibling(&b, NULL, "queue-e"), PEX_EINVAL);
	ck_assert_ptr_null(b);
	ck_ok(pex_queue_open_sibling(&b, c, "queue-e"));
	pex_queue_free(c);
	ck_assert_int_eq(freed, 0);
	pex_queue_free(b);
	ck_assert_int_eq(freed, 1);
	pex_queue_free(NULL);
}
END_TEST

START_TEST(test_validation_before_backend)
{
	int freed;
	fake *f = fake_new(&freed);
	pex_queue *q;
	pex_message *m = NULL, **msgs = NULL;
	pex_message peeked = { "id", NULL, (unsigned char *)"x", 1, 0, 0, 0 };
	size_t n;

	ck_ok(pex_queue_open_backend(&q, &f->parent, "abc"));
	ck_err(pex_queue_put(q, "0123456789a", 11, 0), PEX_EINVAL);
	ck_msg_has("11 bytes");
	ck_msg_has("at most 10");
	ck_msg_has("fake");
	ck_err(pex_queue_put(q, "", 0, 0), PEX_EINVAL);
	ck_err(pex_queue_put(q, "x", 1, 604801), PEX_EINVAL);
	ck_msg_has("604800");
	ck_assert_int_eq(f->puts, 0);
	ck_ok(pex_queue_put(q, "0123456789", 10, 604800));
	ck_assert_int_eq(f->puts, 1);

	ck_err(pex_queue_receive(&m, q, 0), PEX_EINVAL);
	ck_err(pex_queue_receive(&m, q, 604801), PEX_EINVAL);
	ck_err(pex_queue_receive_batch(&msgs, &n, q, 0, 5), PEX_EINVAL);
	ck_err(pex_queue_receive_batch(&msgs, &n, q, 33, 5), PEX_EINVAL);
	ck_msg_has("1..32");
	ck_err(pex_queue_receive(NULL, q, 5), PEX_EINVAL);
	ck_assert_int_eq(f->receives, 0);

	ck_err(pex_queue_delete(q, NULL), PEX_EINVAL);
	ck_err(pex_queue_delete(q, &peeked), PEX_EINVAL);
	ck_msg_has("receipt");
	ck_err(pex_queue_extend(q, &peeked, 5), PEX_EINVAL);
	ck_assert_int_eq(f->removes + f->updates, 0);

	/* optional members left NULL */
	ck_err(pex_queue_peek(&msgs, &n, q, 5), PEX_ENOTSUPPORTED);
	ck_msg_has("peek");
	ck_err(pex_queue_count(&n, q), PEX_ENOTSUPPORTED);
	ck_err(pex_queue_clear(q), PEX_ENOTSUPPORTED);
	pex_queue_free(q);
	ck_assert_int_eq(freed, 1);
}
END_TEST

START_TEST(test_receive_results)
{
	int freed;
	fake *f = fake_new(&freed);
	pex_queue *q;
	pex_message *m = NULL, **msgs = NULL;
	size_t n = 0;

	ck_ok(pex_queue_open_backend(&q, &f->parent, "abc"));
	ck_err(pex_queue_receive(&m, q, 5), PEX_EEMPTY);
	ck_msg_has("'abc'");

	f->receive_n = 1;
	ck_ok(pex_queue_receive(&m, q, 5));
	ck_assert_str_eq(m->receipt, "r");
	ck_ok(pex_queue_release(q, m, 0));
	ck_assert_str_eq(m->receipt, "new");
	ck_assert_int_eq(f->updates, 1);
	ck_ok(pex_queue_delete(q, m));
	ck_assert_int_eq(f->removes, 1);
	pex_message_free(m);

	f->receive_n = 3;
	ck_ok(pex_queue_receive_batch(&msgs, &n, q, 3, 5));
	ck_assert_uint_eq(n, 3);
	pex_message_array_free(msgs, n);

	/* a backend claiming more than asked is caught */
	f->receive_n = 4;
	ck_err(pex_queue_receive_batch(&msgs, &n, q, 3, 5), PEX_EBACKEND);
	ck_assert_ptr_null(msgs);
	ck_assert_uint_eq(n, 0);

	/* a backend failing without details still yields a useful message */
	f->receive_n = 0;
	pex_error_clear();
	f->receive_error = PEX_ENET;
	ck_err(pex_queue_receive(&m, q, 5), PEX_ENET);
	ck_msg_has("fake");
	ck_msg_has("receive");
	f->receive_error = 7;
	ck_err(pex_queue_receive(&m, q, 5), PEX_EBACKEND);
	pex_queue_free(q);
}
END_TEST

typedef struct put_thread {
	pex_queue *q;
	int n;
} put_thread;

static void *put_many(void *arg)
{
	put_thread *t = arg;
	int i;

	for (i = 0; i < t->n; i++)
		if (pex_queue_put(t->q, "x", 1, 0) < 0)
			return (void *)1;
	return NULL;
}

/* Calls into a backend without PEX_QUEUE_CAP_THREADSAFE never overlap,
 * even across sibling queues. */
START_TEST(test_serialised_calls)
{
	int freed, i;
	fake *f = fake_new(&freed);
	pex_queue *q[4];
	pthread_t th[4];
	put_thread args[4];

	f->slow = 1;
	ck_ok(pex_queue_open_backend(&q[0], &f->parent, "abc"));
	for (i = 1; i < 4; i++)
		ck_ok(pex_queue_open_sibling(&q[i], q[0], "def"));
	for (i = 0; i < 4; i++) {
		args[i].q = q[i];
		args[i].n = 25;
		ck_assert_int_eq(pthread_create(&th[i], NULL, put_many, &args[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		void *ret;
		pthread_join(th[i], &ret);
		ck_assert_ptr_null(ret);
	}
	ck_assert_int_eq(f->puts, 100);
	ck_assert_int_eq(atomic_load(&f->overlaps), 0);
	for (i = 0; i < 4; i++)
		pex_queue_free(q[i]);
	ck_assert_int_eq(freed, 1);
}
END_TEST

START_TEST(test_messages)
{
	pex_message *m = NULL;

	ck_err(pex_message_new(&m, NULL, NULL, "x", 1, 0), PEX_EINVAL);
	ck_err(pex_message_new(&m, "id", NULL, NULL, 1, 0), PEX_EINVAL);
	ck_ok(pex_message_new(&m, "id", NULL, NULL, 0, 0));
	ck_assert_uint_eq(m->len, 0);
	ck_assert_int_eq(m->data[0], '\0');
	ck_assert_ptr_null(m->receipt);
	ck_ok(pex_message_set_receipt(m, "abc"));
	ck_assert_str_eq(m->receipt, "abc");
	ck_ok(pex_message_set_receipt(m, NULL));
	ck_assert_ptr_null(m->receipt);
	pex_message_free(m);
	ck_ok(pex_message_new(&m, "id", "r", "a\0b", 3, 7));
	ck_assert_mem_eq(m->data, "a\0b", 4);
	ck_assert_uint_eq(m->dequeue_count, 7);
	pex_message_free(m);
	pex_message_free(NULL);
	pex_message_array_free(NULL, 3);
}
END_TEST

START_TEST(test_uri_dispatch)
{
	pex_queue *q = (pex_queue *)1;

	ck_err(pex_queue_open(&q, NULL, "abc"), PEX_EINVAL);
	ck_assert_ptr_null(q);
	ck_err(pex_queue_open(&q, "bogus:x", "abc"), PEX_EINVAL);
	ck_msg_has("'bogus:'");
	ck_err(pex_queue_open(&q, "memory:junk", "abc"), PEX_EINVAL);
	ck_err(pex_queue_open(&q, "sqlite:", "abc"), PEX_EINVAL);
	ck_err(pex_queue_open(&q, "azure:", "abc"), PEX_EINVAL);
	ck_err(pex_queue_open(&q, "memory:", "A"), PEX_EINVAL);
	/* a bare connection string is refused without echoing it */
	ck_err(pex_queue_open(&q, "DefaultEndpointsProtocol=https;AccountName=a;"
		"AccountKey=SECRETKEY==;EndpointSuffix=core.windows.net", "abc"), PEX_EINVAL);
	ck_assert_ptr_null(strstr(pex_error_last()->message, "SECRET"));
	ck_assert_ptr_null(strstr(pex_error_last()->message, "AccountName"));

	ck_ok(pex_queue_open(&q, "memory:", "abc"));
	ck_assert_str_eq(pex__queue_backend(q)->name, "memory");
	ck_assert(pex__queue_backend(q)->caps & PEX_QUEUE_CAP_THREADSAFE);
	pex_queue_free(q);
}
END_TEST

/* ---- backends chosen by name ---- */

START_TEST(test_registry_uri)
{
	tb_state st;
	pex_queue *q = (pex_queue *)1, *q2 = NULL;
	pex_message *m = NULL;
	size_t n = 0;

	memset(&st, 0, sizeof(st));
	/* unknown before it is registered */
	ck_err(pex_queue_open(&q, "tq+1:db/x", "abc"), PEX_EINVAL);
	ck_msg_has("unknown queue URI scheme 'tq+1:'");
	ck_assert_ptr_null(q);
	ck_assert_int_eq(st.calls, 0);

	ck_ok(pex_queue_backend_register("tq+1", tb_factory, &st));
	ck_ok(pex_queue_open(&q, "tq+1:db/x?secret=s3cr3t", "abc"));
	ck_assert_int_eq(st.calls, 1);
	ck_assert_str_eq(st.location, "db/x?secret=s3cr3t");   /* everything after the colon */
	ck_assert_str_eq(pex__queue_backend(q)->name, "test");
	ck_assert_str_eq(TB(pex__queue_backend(q))->location, "db/x?secret=s3cr3t");
	/* it works as a queue, and a sibling shares it */
	ck_ok(pex_queue_put(q, "hello", 5, 0));
	ck_ok(pex_queue_open_sibling(&q2, q, "other"));
	ck_ok(pex_queue_count(&n, q2));
	ck_assert_uint_eq(n, 0);
	ck_ok(pex_queue_receive(&m, q, 30));
	ck_assert_str_eq((const char *)m->data, "hello");
	ck_ok(pex_queue_delete(q, m));
	pex_message_free(m);
	pex_queue_free(q2);
	pex_queue_free(q);
	/* an empty location is fine; a bad queue name fails before the factory */
	ck_ok(pex_queue_open(&q, "tq+1:", "abc"));
	ck_assert_str_eq(st.location, "");
	pex_queue_free(q);
	ck_err(pex_queue_open(&q, "tq+1:x", "Bad"), PEX_EINVAL);
	ck_assert_int_eq(st.calls, 2);

	/* the factory's own error comes through, and the location is not echoed */
	st.fail = PEX_EAUTH;
	ck_err(pex_queue_open(&q, "tq+1:s3cr3t", "abc"), PEX_EAUTH);
	ck_msg_has("refusing as told");
	ck_assert_ptr_null(q);
	st.fail = 0;

	/* unknown schemes now list the registered ones, and never a location */
	ck_err(pex_queue_open(&q, "nope:s3cr3t", "abc"), PEX_EINVAL);
	ck_msg_has("registered: tq+1:");
	ck_assert_ptr_null(strstr(pex_error_last()->message, "s3cr3t"));
	ck_err(pex_queue_open(&q, "no pe:s3cr3t", "abc"), PEX_EINVAL);
	ck_msg_has("registered: tq+1:");
	ck_assert_ptr_null(strstr(pex_error_last()->message, "s3cr3t"));

	/* built-in schemes still win and still work */
	ck_ok(pex_queue_open(&q, "memory:", "abc"));
	ck_assert_str_eq(pex__queue_backend(q)->name, "memory");
	pex_queue_free(q);

	/* one table: the built-ins stand in it first, listed from it, and can be
	 * neither registered again nor unregistered */
	ck_err(pex_queue_open(&q, "nope:", "abc"), PEX_EINVAL);
	ck_assert_str_eq(pex_error_last()->message, "unknown queue URI scheme 'nope:' (expected "
		"memory:, sqlite:PATH, azure:CONNECTION-STRING or postgres:CONNINFO; registered: tq+1:)");
	ck_err(pex_queue_open(&q, "sqlite:", "abc"), PEX_EINVAL);
	ck_assert_str_eq(pex_error_last()->message,
		"queue URI 'sqlite:' needs a database path (sqlite:PATH)");
	ck_err(pex_queue_open(&q, "postgres:", "abc"), PEX_EINVAL);
	ck_assert_str_eq(pex_error_last()->message,
		"queue URI 'postgres:' needs a libpq connection string or URI (postgres:CONNINFO)");
	ck_err(pex_queue_open(&q, "memory:x", "abc"), PEX_EINVAL);
	ck_assert_str_eq(pex_error_last()->message, "queue URI 'memory:' takes nothing after the colon");
	ck_err(pex_queue_backend_register("sqlite", tb_factory, &st), PEX_EEXISTS);
	ck_msg_has("built in");
	ck_err(pex_queue_backend_unregister("azure"), PEX_ENOTFOUND);
	/* the constructors share their checks: out, options, version, location */
	{
		pex_queue_sqlite_options so = PEX_QUEUE_SQLITE_OPTIONS_INIT;
		pex_queue_backend *b = (pex_queue_backend *)&st;
		ck_err(pex_queue_backend_sqlite_new(&b, &so), PEX_EINVAL);
		ck_assert_ptr_null(b);
		ck_assert_str_eq(pex_error_last()->message, "sqlite queue: no database path given");
		ck_err(pex_queue_backend_sqlite_new(&b, NULL), PEX_EINVAL);
		ck_assert_str_eq(pex_error_last()->message,
			"pex_queue_backend_sqlite_new: the pex_queue_sqlite_options are missing");
		so.version = 2;
		so.path = "x.db";
		ck_err(pex_queue_backend_sqlite_new(&b, &so), PEX_EINVAL);
		ck_assert_str_eq(pex_error_last()->message,
			"unsupported pex_queue_sqlite_options version 2 (this library knows 1..1)");
		ck_err(pex_queue_backend_memory_new(NULL), PEX_EINVAL);
		ck_assert_str_eq(pex_error_last()->message, "pex_queue_backend_memory_new: out is NULL");
	}

	ck_ok(pex_queue_backend_unregister("tq+1"));
	ck_err(pex_queue_open(&q, "tq+1:x", "abc"), PEX_EINVAL);
	ck_err(pex_queue_backend_unregister("tq+1"), PEX_ENOTFOUND);
}
END_TEST

START_TEST(test_registry_refusals)
{
	static const char *const bad[] = {
		"", "Upper", "1abc", "-abc", "a_b", "a:b", "a b", "abcdefghijklmnopq", "é",
	};
	tb_state st;
	char name[32];
	size_t i;
	int n;

	memset(&st, 0, sizeof(st));
	for (i = 0; i < PEX__ARRAY_SIZE(bad); i++) {
		ck_err(pex_queue_backend_register(bad[i], tb_factory, &st), PEX_EINVAL);
		ck_msg_has("is not valid");
	}
	ck_err(pex_queue_backend_register(NULL, tb_factory, &st), PEX_EINVAL);
	ck_err(pex_queue_backend_register("ok", NULL, &st), PEX_EINVAL);
	ck_err(pex_queue_backend_unregister(NULL), PEX_EINVAL);
	/* built-in names */
	ck_err(pex_queue_backend_register("memory", tb_factory, &st), PEX_EEXISTS);
	ck_msg_has("built in");
	ck_err(pex_queue_backend_register("sqlite", tb_factory, &st), PEX_EEXISTS);
	ck_err(pex_queue_backend_register("azure", tb_factory, &st), PEX_EEXISTS);
	/* the longest name is fine, a duplicate is not */
	ck_ok(pex_queue_backend_register("abcdefghijklmnop", tb_factory, &st));
	ck_err(pex_queue_backend_register("abcdefghijklmnop", tb_factory, NULL), PEX_EEXISTS);
	ck_msg_has("already registered");
	/* the table is bounded */
	for (n = 1; n < PEX_QUEUE_BACKENDS_MAX; n++) {
		snprintf(name, sizeof(name), "b%d", n);
		ck_ok(pex_queue_backend_register(name, tb_factory, &st));
	}
	ck_err(pex_queue_backend_register("onemore", tb_factory, &st), PEX_ERROR);
	ck_msg_has("16 are registered already");
	/* a freed slot can be used again */
	ck_ok(pex_queue_backend_unregister("b3"));
	ck_ok(pex_queue_backend_register("onemore", tb_factory, &st));
	ck_ok(pex_queue_backend_unregister("onemore"));
	ck_ok(pex_queue_backend_unregister("abcdefghijklmnop"));
	for (n = 1; n < PEX_QUEUE_BACKENDS_MAX; n++) {
		snprintf(name, sizeof(name), "b%d", n);
		if (n != 3)
			ck_ok(pex_queue_backend_unregister(name));
	}
}
END_TEST

/* Many threads registering at once: each name is taken exactly once. */
typedef struct reg_thread {
	int index;
	int won_shared;
	int own_ok;
	int opened;
} reg_thread;

static void *register_race(void *arg)
{
	reg_thread *t = arg;
	char own[16], uri[32];
	pex_queue *q = NULL;

	t->won_shared = pex_queue_backend_register("shared", tb_factory, NULL) == 0;
	snprintf(own, sizeof(own), "own%d", t->index);
	t->own_ok = pex_queue_backend_register(own, tb_factory, NULL) == 0;
	snprintf(uri, sizeof(uri), "%s:x", own);
	if (pex_queue_open(&q, uri, "abc") == 0) {
		t->opened = 1;
		pex_queue_free(q);
	}
	return NULL;
}

START_TEST(test_registry_threads)
{
	pthread_t th[8];
	reg_thread t[8];
	char own[16];
	int i, shared = 0;

	for (i = 0; i < 8; i++) {
		memset(&t[i], 0, sizeof(t[i]));
		t[i].index = i;
		ck_assert_int_eq(pthread_create(&th[i], NULL, register_race, &t[i]), 0);
	}
	for (i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		shared += t[i].won_shared;
		ck_assert(t[i].own_ok);
		ck_assert(t[i].opened);
		snprintf(own, sizeof(own), "own%d", i);
		ck_ok(pex_queue_backend_unregister(own));
	}
	ck_assert_int_eq(shared, 1);
	ck_ok(pex_queue_backend_unregister("shared"));
}
END_TEST

/* Several threads receiving from one memory queue never share a message. */
typedef struct recv_thread {
	pex_queue *q;
	int got[200];
} recv_thread;

static void *receive_all(void *arg)
{
	recv_thread *t = arg;
	pex_message *m;

	while (pex_queue_receive(&m, t->q, 60) == 0) {
		t->got[atoi((const char *)m->data)]++;
		if (pex_queue_delete(t->q, m) < 0)
			t->got[0] += 1000;
		pex_message_free(m);
	}
	return NULL;
}

START_TEST(test_memory_threads)
{
	recv_thread t[4];
	pthread_t th[4];
	pex_queue *q;
	char buf[16];
	int i, k;

	ck_ok(pex_queue_open(&q, "memory:", "threads"));
	for (i = 0; i < 200; i++) {
		snprintf(buf, sizeof(buf), "%d", i);
		ck_ok(pex_queue_put(q, buf, strlen(buf), 0));
	}
	for (i = 0; i < 4; i++) {
		memset(&t[i], 0, sizeof(t[i]));
		t[i].q = q;
		pthread_create(&th[i], NULL, receive_all, &t[i]);
	}
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	for (k = 0; k < 200; k++) {
		int total = 0;
		for (i = 0; i < 4; i++)
			total += t[i].got[k];
		ck_assert_msg(total == 1, "message %d received %d times", k, total);
	}
	pex_queue_free(q);
}
END_TEST

/* ======================================================================
 * SQLite specifics
 * ====================================================================== */
#if PEX_HAVE_SQLITE

static void tmp_db(char *out, size_t size)
{
	const char *dir = getenv("TMPDIR");
	snprintf(out, size, "%s/pex-qunit-%ld-%016llx.db", dir ? dir : "/tmp", (long)getpid(),
		(unsigned long long)pex__random_u64());
}

static void rm_db(const char *path)
{
	char p[600];
	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
}

static void sql(const char *path, const char *stmt)
{
	sqlite3 *db;
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_msg(sqlite3_exec(db, stmt, NULL, NULL, NULL) == SQLITE_OK, "%s: %s",
		stmt, sqlite3_errmsg(db));
	sqlite3_close(db);
}

START_TEST(test_sqlite_schema)
{
	pex_queue_sqlite_options o;
	pex_queue_backend *b = NULL;
	pex_queue *q;
	char path[512], uri[600];

	ck_ok(pex_queue_sqlite_options_init(&o, PEX_QUEUE_SQLITE_OPTIONS_VERSION));
	ck_err(pex_queue_sqlite_options_init(&o, 99), PEX_EINVAL);
	ck_err(pex_queue_backend_sqlite_new(&b, &o), PEX_EINVAL);   /* no path */
	ck_assert_ptr_null(b);

	tmp_db(path, sizeof(path));
	snprintf(uri, sizeof(uri), "sqlite:%s", path);
	ck_ok(pex_queue_open(&q, uri, "abc"));
	ck_assert_str_eq(pex__queue_backend(q)->name, "sqlite");
	ck_assert_uint_eq(pex__queue_backend(q)->caps, PEX_QUEUE_CAP_THREADSAFE |
		PEX_QUEUE_CAP_PERSISTENT | PEX_QUEUE_CAP_MULTIPROCESS);
	ck_assert_uint_eq(pex__queue_backend(q)->max_message_size, 65536);
	ck_ok(pex_queue_put(q, "kept", 4, 0));
	pex_queue_free(q);

	/* persistent: a new connection sees it */
	ck_ok(pex_queue_open(&q, uri, "abc"));
	{
		size_t n = 0;
		ck_ok(pex_queue_count(&n, q));
		ck_assert_uint_eq(n, 1);
	}
	pex_queue_free(q);

	/* a schema from the future is refused, clearly */
	sql(path, "PRAGMA user_version = 99");
	ck_err(pex_queue_open(&q, uri, "abc"), PEX_EBACKEND);
	ck_msg_has("schema version 99");
	ck_assert_int_eq(pex_error_last()->klass, PEX_ERROR_CLASS_SQLITE);
	rm_db(path);

	/* not a database: SQLite's message and rc come through */
	{
		FILE *f = fopen(path, "w");
		ck_assert_ptr_nonnull(f);
		fputs("this is not a database, not at all, no; it is plain text...\n", f);
		fclose(f);
	}
	ck_err(pex_queue_open(&q, uri, "abc"), PEX_EBACKEND);
	ck_assert_int_eq(pex_error_last()->klass, PEX_ERROR_CLASS_SQLITE);
	ck_assert_int_eq(pex_error_last()->cause & 0xff, SQLITE_NOTADB);
	ck_msg_has("not a database");
	ck_msg_has("rc 26");
	rm_db(path);

	/* a directory that does not exist */
	ck_err(pex_queue_open(&q, "sqlite:/nonexistent-dir/x/y.db", "abc"), PEX_EBACKEND);
	ck_msg_has("unable to open");
}
END_TEST

/* Another connection holds the write lock: receive waits (busy timeout)
 * and succeeds once it is released; past the timeout it fails with
 * SQLITE_BUSY. */
typedef struct locker {
	char path[512];
	int hold_ms;
} locker;

static void *hold_lock(void *arg)
{
	locker *l = arg;
	sqlite3 *db;

	sqlite3_open(l->path, &db);
	sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	pex__sleep_ms(l->hold_ms);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(db);
	return NULL;
}

START_TEST(test_sqlite_busy)
{
	pex_queue_sqlite_options o = PEX_QUEUE_SQLITE_OPTIONS_INIT;
	pex_queue_backend *b;
	pex_queue *q;
	pex_message *m;
	pthread_t th;
	locker l;
	int64_t t0;

	tmp_db(l.path, sizeof(l.path));
	o.path = l.path;
	o.busy_timeout_ms = 3000;
	ck_ok(pex_queue_backend_sqlite_new(&b, &o));
	ck_ok(pex_queue_open_backend(&q, b, "abc"));
	ck_ok(pex_queue_put(q, "x", 1, 0));

	l.hold_ms = 400;
	pthread_create(&th, NULL, hold_lock, &l);
	pex__sleep_ms(100);
	t0 = pex__now_ms();
	ck_ok(pex_queue_receive(&m, q, 30));
	ck_assert_int_ge(pex__now_ms() - t0, 200);
	pthread_join(th, NULL);
	pex_message_free(m);
	pex_queue_free(q);

	o.busy_timeout_ms = 300;
	ck_ok(pex_queue_backend_sqlite_new(&b, &o));
	ck_ok(pex_queue_open_backend(&q, b, "abc"));
	l.hold_ms = 1500;
	pthread_create(&th, NULL, hold_lock, &l);
	pex__sleep_ms(100);
	ck_err(pex_queue_put(q, "y", 1, 0), PEX_EBACKEND);
	ck_assert_int_eq(pex_error_last()->cause & 0xff, SQLITE_BUSY);
	ck_msg_has("locked");
	pthread_join(th, NULL);
	ck_ok(pex_queue_put(q, "y", 1, 0));
	pex_queue_free(q);
	rm_db(l.path);
}
END_TEST

/* Stale receipts and foreign ids on the sqlite backend. */
START_TEST(test_sqlite_ids)
{
	pex_queue *q;
	pex_message *m, fake_msg = { "not-a-number", "r", (unsigned char *)"", 0, 0, 0, 0 };
	char path[512], uri[600];

	tmp_db(path, sizeof(path));
	snprintf(uri, sizeof(uri), "sqlite:%s", path);
	ck_ok(pex_queue_open(&q, uri, "abc"));
	ck_err(pex_queue_delete(q, &fake_msg), PEX_EINVAL);
	fake_msg.id = "12345";
	ck_err(pex_queue_delete(q, &fake_msg), PEX_ELEASELOST);
	ck_ok(pex_queue_put(q, "x", 1, 0));
	ck_ok(pex_queue_receive(&m, q, 30));
	ck_assert_int_ge(m->visible_at, pex__unix_time() + 29);
	ck_ok(pex_queue_extend(q, m, 100));
	ck_assert_int_ge(m->visible_at, pex__unix_time() + 99);
	ck_ok(pex_queue_delete(q, m));
	pex_message_free(m);
	pex_queue_free(q);
	rm_db(path);
}
END_TEST

/* Every connection opened from here on enforces foreign keys (the
 * backend's own too): how the test below makes COMMIT fail. */
static int fk_on(sqlite3 *db, char **errmsg, const void *api)
{
	(void)api;
	return sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, errmsg);
}

/* A receive whose COMMIT fails (SQLite-native: a deferred foreign key a
 * trigger breaks, reported only at COMMIT, as a full disk would be) hands
 * back nothing and frees the messages it had read: run under valgrind or
 * ASan, a leak fails this test. The lease is rolled back. */
START_TEST(test_sqlite_commit_fails)
{
	pex_queue_sqlite_options o = PEX_QUEUE_SQLITE_OPTIONS_INIT;
	pex_queue_backend *b;
	pex_queue *q;
	pex_message *m = NULL, **batch = NULL;
	size_t n = 99;
	char path[512];

	tmp_db(path, sizeof(path));
	ck_assert_int_eq(sqlite3_auto_extension((void (*)(void))fk_on), SQLITE_OK);
	o.path = path;
	ck_ok(pex_queue_backend_sqlite_new(&b, &o));
	ck_ok(pex_queue_open_backend(&q, b, "abc"));
	ck_ok(pex_queue_put(q, "first", 5, 0));
	ck_ok(pex_queue_put(q, "second", 6, 0));
	sql(path, "CREATE TABLE trap_parent (id INTEGER PRIMARY KEY);"
		"CREATE TABLE trap_child (p INTEGER REFERENCES trap_parent (id) "
		"DEFERRABLE INITIALLY DEFERRED);"
		"CREATE TRIGGER trap AFTER UPDATE ON pex_queue_message "
		"BEGIN INSERT INTO trap_child VALUES (42); END;");

	ck_err(pex_queue_receive(&m, q, 30), PEX_EBACKEND);
	ck_assert_ptr_null(m);
	ck_msg_has("commit");
	ck_assert_int_eq(pex_error_last()->cause & 0xff, SQLITE_CONSTRAINT);
	ck_err(pex_queue_receive_batch(&batch, &n, q, 2, 30), PEX_EBACKEND);
	ck_assert_ptr_null(batch);
	ck_assert_uint_eq(n, 0);

	/* nothing was leased: both are still visible, never dequeued */
	sql(path, "DROP TRIGGER trap");
	ck_ok(pex_queue_receive_batch(&batch, &n, q, 2, 30));
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(batch[0]->dequeue_count, 1);
	ck_assert_uint_eq(batch[1]->dequeue_count, 1);
	pex_message_array_free(batch, n);
	pex_queue_free(q);
	sqlite3_cancel_auto_extension((void (*)(void))fk_on);
	rm_db(path);
}
END_TEST

/* pex_queue_check(): the database file deleted, or replaced, under an open
 * queue is PEX_ESTALE; the memory backend and version 1 backends have no
 * probe (0). */
START_TEST(test_sqlite_check)
{
	pex_queue *q, *m;
	char path[512], uri[600], other[600];
	FILE *f;

	tmp_db(path, sizeof(path));
	snprintf(uri, sizeof(uri), "sqlite:%s", path);
	ck_ok(pex_queue_open(&q, uri, "abc"));
	ck_ok(pex_queue_check(q));
	ck_assert_int_eq(unlink(path), 0);
	ck_err(pex_queue_check(q), PEX_ESTALE);
	ck_msg_has("the database file was deleted");
	ck_msg_has(path);
	ck_err(pex_queue_check(q), PEX_ESTALE);
	pex_queue_free(q);
	rm_db(path);

	ck_ok(pex_queue_open(&q, uri, "abc"));
	snprintf(other, sizeof(other), "%s.other", path);
	ck_assert_ptr_nonnull(f = fopen(other, "w"));
	fclose(f);
	ck_assert_int_eq(rename(other, path), 0);
	ck_err(pex_queue_check(q), PEX_ESTALE);
	ck_msg_has("replaced by another file");
	pex_queue_free(q);
	rm_db(path);

	ck_ok(pex_queue_open(&m, "memory:", "abc"));
	ck_ok(pex_queue_check(m));
	pex_queue_free(m);
	ck_err(pex_queue_check(NULL), PEX_EINVAL);
}
END_TEST

#endif /* PEX_HAVE_SQLITE */

/* ======================================================================
 * Pool message codec
 * ====================================================================== */

static void ck_decode_ok(struct pex__room_ref *r, const char *text)
{
	ck_ok(pex__poolmsg_decode(r, text, strlen(text)));
	ck_assert_ptr_nonnull(r->name);
}

static void ck_decode_fails(const char *text, size_t len, const char *why)
{
	struct pex__room_ref r;

	memset(&r, 0x5a, sizeof(r));
	ck_err(pex__poolmsg_decode(&r, text, len), PEX_EPARSE);
	ck_assert_msg(strstr(pex_error_last()->message, why) != NULL,
		"decoding '%.*s': message '%s' lacks '%s'", (int)(len > 60 ? 60 : len), text,
		pex_error_last()->message, why);
	/* left zeroed: nothing to dispose */
	ck_assert_ptr_null(r.name);
	ck_assert_ptr_null(r.alias);
	ck_assert_ptr_null(r.guest_pin);
	ck_assert_int_eq(r.id, 0);
}

static char *b64(const char *s)
{
	pex_buf b = PEX_BUF_INIT;
	ck_ok(pex__base64_encode(&b, s, strlen(s)));
	return pex__buf_detach(&b);
}

START_TEST(test_poolmsg_round_trip)
{
	struct pex__room_ref in = { "vmr_abc123", 4711, "meet.abc@example.com", "0042",
		1700000000 }, out;
	pex_buf enc = PEX_BUF_INIT, dec = PEX_BUF_INIT;
	json_object *obj, *v;

	pex__buf_puts(&enc, "old contents are replaced");
	ck_ok(pex__poolmsg_encode(&enc, &in));
	/* the JSON bytes themselves (the azure backend adds the one base64
	 * layer on the wire), an object with exactly the documented fields */
	ck_assert_uint_eq(enc.size, strlen(enc.ptr));
	ck_assert_str_eq(enc.ptr, "{\"name\":\"vmr_abc123\",\"id\":4711,"
		"\"alias\":\"meet.abc@example.com\",\"guest_pin\":\"0042\",\"created\":1700000000}");
	obj = json_tokener_parse(enc.ptr);
	ck_assert_ptr_nonnull(obj);
	ck_assert(json_object_object_get_ex(obj, "name", &v));
	ck_assert_str_eq(json_object_get_string(v), "vmr_abc123");
	ck_assert(json_object_object_get_ex(obj, "id", &v));
	ck_assert_int_eq(json_object_get_int64(v), 4711);
	ck_assert(json_object_object_get_ex(obj, "alias", &v));
	ck_assert(json_object_object_get_ex(obj, "guest_pin", &v));
	ck_assert_str_eq(json_object_get_string(v), "0042");
	ck_assert(json_object_object_get_ex(obj, "created", &v));
	ck_assert_int_eq(json_object_get_int64(v), 1700000000);
	ck_assert_int_eq(json_object_object_length(obj), 5);
	json_object_put(obj);

	ck_ok(pex__poolmsg_decode(&out, enc.ptr, enc.size));
	ck_assert_str_eq(out.name, in.name);
	ck_assert_int_eq(out.id, in.id);
	ck_assert_str_eq(out.alias, in.alias);
	ck_assert_str_eq(out.guest_pin, in.guest_pin);
	ck_assert_int_eq(out.created, in.created);
	pex__room_ref_dispose(&out);
	ck_assert_ptr_null(out.name);
	pex__room_ref_dispose(&out);
	pex__room_ref_dispose(NULL);

	/* what an earlier version wrote, base64(JSON), still reads; and so does
	 * base64(base64(JSON)), which is what an Azure message it double-encoded
	 * leaves once the backend has removed its own layer */
	ck_ok(pex__base64_encode(&dec, enc.ptr, enc.size));
	ck_ok(pex__poolmsg_decode(&out, dec.ptr, dec.size));
	ck_assert_str_eq(out.name, in.name);
	ck_assert_int_eq(out.id, in.id);
	ck_assert_str_eq(out.guest_pin, in.guest_pin);
	pex__room_ref_dispose(&out);

	/* unknowns: NULL strings become null and come back NULL; non-ASCII
	 * stays UTF-8 (not \u-escaped or base64) */
	{
		struct pex__room_ref bare = { "møte_rom/1\"<&>", 0, NULL, NULL, 0 };
		ck_ok(pex__poolmsg_encode(&enc, &bare));
		ck_assert_str_eq(enc.ptr, "{\"name\":\"møte_rom/1\\\"<&>\",\"id\":0,"
			"\"alias\":null,\"guest_pin\":null,\"created\":0}");
		ck_ok(pex__poolmsg_decode(&out, enc.ptr, enc.size));
		ck_assert_str_eq(out.name, bare.name);
		ck_assert_int_eq(out.id, 0);
		ck_assert_ptr_null(out.alias);
		ck_assert_ptr_null(out.guest_pin);
		ck_assert_int_eq(out.created, 0);
		pex__room_ref_dispose(&out);
	}
	pex_buf_dispose(&enc);
	pex_buf_dispose(&dec);
}
END_TEST

START_TEST(test_poolmsg_encode_errors)
{
	struct pex__room_ref r = { NULL, 1, NULL, NULL, 0 };
	pex_buf b = PEX_BUF_INIT;

	ck_err(pex__poolmsg_encode(&b, &r), PEX_EINVAL);
	r.name = "two words";
	ck_err(pex__poolmsg_encode(&b, &r), PEX_EINVAL);
	ck_msg_has("whitespace");
	r.name = "ok";
	r.id = -1;
	ck_err(pex__poolmsg_encode(&b, &r), PEX_EINVAL);
	ck_err(pex__poolmsg_encode(&b, NULL), PEX_EINVAL);
	/* the output is UTF-8: strings that are not are refused, by name */
	r.id = 1;
	r.alias = "caf\xc3";
	ck_err(pex__poolmsg_encode(&b, &r), PEX_EINVAL);
	ck_msg_has("alias");
	ck_msg_has("offset 3");
	r.alias = "café";
	r.guest_pin = "\xff" "12";
	ck_err(pex__poolmsg_encode(&b, &r), PEX_EINVAL);
	ck_msg_has("guest PIN");
	ck_msg_has("offset 0");
	pex_buf_dispose(&b);
}
END_TEST

START_TEST(test_poolmsg_raw_json)
{
	struct pex__room_ref r;

	ck_decode_ok(&r, "{\"name\":\"vmr_1\",\"id\":42,\"alias\":\"a@b.c\","
		"\"guest_pin\":\"1234\",\"created\":1700000001}");
	ck_assert_str_eq(r.name, "vmr_1");
	ck_assert_int_eq(r.id, 42);
	ck_assert_str_eq(r.alias, "a@b.c");
	ck_assert_str_eq(r.guest_pin, "1234");
	ck_assert_int_eq(r.created, 1700000001);
	pex__room_ref_dispose(&r);

	/* tolerant: whitespace, missing optionals, id as digits, ISO time, extras */
	ck_decode_ok(&r, "\n  { \"name\" : \"vmr_2\", \"id\": \"77\", \"extra\": [1,2],"
		" \"created\": \"2024-01-02T03:04:05.123456\" }\r\n");
	ck_assert_str_eq(r.name, "vmr_2");
	ck_assert_int_eq(r.id, 77);
	ck_assert_ptr_null(r.alias);
	ck_assert_int_eq(r.created, 1704164645);
	pex__room_ref_dispose(&r);

	/* the same Pexip time parser as the pool's: an offset is applied */
	ck_decode_ok(&r, "{\"name\":\"vmr_4\",\"created\":\"2024-01-02T04:04:05+01:00\"}");
	ck_assert_int_eq(r.created, 1704164645);
	pex__room_ref_dispose(&r);

	ck_decode_ok(&r, "{\"name\":\"vmr_3\",\"id\":null,\"alias\":null,\"created\":12.0}");
	ck_assert_int_eq(r.id, 0);
	ck_assert_int_eq(r.created, 12);
	pex__room_ref_dispose(&r);
}
END_TEST

START_TEST(test_poolmsg_bare_names)
{
	struct pex__room_ref r;
	char *enc;

	/* base64 of a bare name (the old Python app through Functions bindings) */
	enc = b64("vmr_legacy_01");
	ck_decode_ok(&r, enc);
	ck_assert_str_eq(r.name, "vmr_legacy_01");
	ck_assert_int_eq(r.id, 0);
	ck_assert_ptr_null(r.alias);
	pex__room_ref_dispose(&r);
	free(enc);

	/* base64 of JSON */
	enc = b64("{\"name\":\"vmr_b64\",\"id\":5}");
	ck_decode_ok(&r, enc);
	ck_assert_str_eq(r.name, "vmr_b64");
	ck_assert_int_eq(r.id, 5);
	pex__room_ref_dispose(&r);
	free(enc);

	/* raw bare names, with a trailing newline */
	ck_decode_ok(&r, "vmr_raw-7\n");
	ck_assert_str_eq(r.name, "vmr_raw-7");
	ck_assert_int_eq(r.id, 0);
	pex__room_ref_dispose(&r);
	ck_decode_ok(&r, "møte.rom");
	ck_assert_str_eq(r.name, "møte.rom");
	pex__room_ref_dispose(&r);
	/* base64-looking raw name whose decoding is binary: read as raw */
	ck_decode_ok(&r, "abcd");
	ck_assert_str_eq(r.name, "abcd");
	pex__room_ref_dispose(&r);
}
END_TEST

START_TEST(test_poolmsg_garbage)
{
	char *enc;
	char big[PEX__POOLMSG_MAX_SIZE + 2], longname[PEX__ROOM_NAME_MAX + 2], json[400];

	ck_decode_fails("", 0, "empty");
	ck_decode_fails(" \n\t ", 4, "empty");
	ck_decode_fails("two words", 9, "whitespace");
	ck_decode_fails("tab\there", 8, "whitespace");
	ck_decode_fails("nb\xc2\xa0space", 9, "whitespace");
	ck_decode_fails("\x01\x02\x03" "binary", 9, "control character");
	ck_decode_fails("a\0b", 3, "NUL");
	ck_decode_fails("\xff\xfe\xfd", 3, "UTF-8");
	ck_decode_fails("caf\xc3", 4, "UTF-8");
	ck_decode_fails("{\"name\":", 8, "not valid JSON");
	ck_decode_fails("{\"name\":\"x\"} trailing", 21, "trailing");
	ck_decode_fails("[\"vmr_1\"]", 9, "must be an object");
	enc = b64("{\"name\":");
	ck_decode_fails(enc, strlen(enc), "(base64)");
	free(enc);

	memset(big, 'a', sizeof(big));
	ck_decode_fails(big, PEX__POOLMSG_MAX_SIZE + 1, "at most");
	memset(longname, 'n', sizeof(longname));
	ck_decode_fails(longname, PEX__ROOM_NAME_MAX + 1, "at most 250");
	longname[PEX__ROOM_NAME_MAX + 1] = '\0';
	snprintf(json, sizeof(json), "{\"name\":\"%s\"}", longname);
	ck_decode_fails(json, strlen(json), "\"name\"");
	{
		struct pex__room_ref r;
		longname[PEX__ROOM_NAME_MAX] = '\0';
		ck_decode_ok(&r, longname);
		pex__room_ref_dispose(&r);
	}
}
END_TEST

START_TEST(test_poolmsg_json_errors)
{
	static const struct { const char *json, *why; } cases[] = {
		{ "{}", "no \"name\"" },
		{ "{\"id\":5,\"alias\":\"a\"}", "no \"name\"" },
		{ "{\"name\":null}", "no \"name\"" },
		{ "{\"name\":5}", "\"name\" must be a string, not int" },
		{ "{\"name\":[\"x\"]}", "\"name\" must be a string" },
		{ "{\"name\":\"\"}", "\"name\" is empty" },
		{ "{\"name\":\"a b\"}", "whitespace" },
		{ "{\"name\":\"x\",\"id\":\"abc\"}", "\"id\" must be an integer" },
		{ "{\"name\":\"x\",\"id\":true}", "\"id\" must be an integer, not boolean" },
		{ "{\"name\":\"x\",\"id\":1.5}", "\"id\" must be an integer" },
		{ "{\"name\":\"x\",\"id\":-3}", "\"id\" must not be negative" },
		{ "{\"name\":\"x\",\"alias\":7}", "\"alias\" must be a string" },
		{ "{\"name\":\"x\",\"guest_pin\":1234}", "\"guest_pin\" must be a string" },
		{ "{\"name\":\"x\",\"created\":{}}", "\"created\" must be a Unix time" },
		{ "{\"name\":\"x\",\"created\":\"yesterday\"}", "\"created\"" },
		{ "{\"name\":\"x\",\"alias\":\"ab\xff\"}", "\"alias\" is not valid UTF-8 (offset 2)" },
		{ "{\"name\":\"x\",\"guest_pin\":\"\xc3\"}", "\"guest_pin\" is not valid UTF-8" },
	};
	size_t i;

	for (i = 0; i < PEX__ARRAY_SIZE(cases); i++) {
		char *enc = b64(cases[i].json);
		ck_decode_fails(cases[i].json, strlen(cases[i].json), cases[i].why);
		/* the same through base64 */
		ck_decode_fails(enc, strlen(enc), cases[i].why);
		free(enc);
	}
}
END_TEST

static Suite *queue_suite(void)
{
	Suite *s = suite_create("queue");
	TCase *fe = tcase_create("frontend"), *pm = tcase_create("poolmsg");

	tcase_set_timeout(fe, 20);
	tcase_add_test(fe, test_backend_init);
	tcase_add_test(fe, test_open_checks_backend);
	tcase_add_test(fe, test_siblings_share_and_free_once);
	tcase_add_test(fe, test_validation_before_backend);
	tcase_add_test(fe, test_receive_results);
	tcase_add_test(fe, test_serialised_calls);
	tcase_add_test(fe, test_messages);
	tcase_add_test(fe, test_uri_dispatch);
	tcase_add_test(fe, test_registry_uri);
	tcase_add_test(fe, test_registry_refusals);
	tcase_add_test(fe, test_registry_threads);
	tcase_add_test(fe, test_memory_threads);
	suite_add_tcase(s, fe);
#if PEX_HAVE_SQLITE
	TCase *sq = tcase_create("sqlite");
	tcase_set_timeout(sq, 20);
	tcase_add_test(sq, test_sqlite_schema);
	tcase_add_test(sq, test_sqlite_busy);
	tcase_add_test(sq, test_sqlite_ids);
	tcase_add_test(sq, test_sqlite_commit_fails);
	tcase_add_test(sq, test_sqlite_check);
	suite_add_tcase(s, sq);
#endif
	tcase_add_test(pm, test_poolmsg_round_trip);
	tcase_add_test(pm, test_poolmsg_encode_errors);
	tcase_add_test(pm, test_poolmsg_raw_json);
	tcase_add_test(pm, test_poolmsg_bare_names);
	tcase_add_test(pm, test_poolmsg_garbage);
	tcase_add_test(pm, test_poolmsg_json_errors);
	suite_add_tcase(s, pm);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(queue_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
