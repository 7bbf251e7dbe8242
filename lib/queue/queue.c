/*
 * The queue front end: argument and name validation, backend version
 * checks, call serialisation for backends that are not thread-safe,
 * sharing one backend between sibling queues, and pex_message helpers.
 *
 * Backends only move bytes; everything a caller can get wrong is rejected
 * here, before the backend sees it.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/stats.h"
#include "queue_internal.h"

/* One backend, shared by every sibling queue opened on it. */
typedef struct queue_shared {
	pex_queue_backend *backend;
	atomic_uint refs;
	int serialise;          /* lock around calls (backend not THREADSAFE) */
	pthread_mutex_t lock;
} queue_shared;

struct pex_queue {
	queue_shared *shared;
	char *name;
};

/* ---- time and receipts ---- */

int64_t pex__queue_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int pex__queue_new_receipt(char *out)
{
	unsigned char raw[16];
	int err;

	if ((err = pex__random_bytes(raw, sizeof(raw))) < 0)
		return err;
	pex__hex_encode(out, raw, sizeof(raw));
	return 0;
}

/* ---- messages ---- */

int pex_message_new(pex_message **out, const char *id, const char *receipt,
	const void *data, size_t len, unsigned dequeue_count)
{
	pex_message *m;

	if (!out || !id || (!data && len))
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pex_message_new: out and id are required, and data unless len is 0");
	*out = NULL;
	if (!(m = pex__calloc(1, sizeof(*m))))
		return PEX_ENOMEM;
	m->id = pex__strdup(id);
	m->receipt = pex__strdup(receipt);
	m->data = pex__malloc(len + 1);
	if (!m->id || (receipt && !m->receipt) || !m->data) {
		pex_message_free(m);
		return pex__error_nomem();
	}
	if (len)
		memcpy(m->data, data, len);
	m->data[len] = '\0';
	m->len = len;
	m->dequeue_count = dequeue_count;
	*out = m;
	return 0;
}

int pex_message_set_receipt(pex_message *msg, const char *receipt)
{
	char *copy = NULL;

	if (!msg)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pex_message_set_receipt: msg is NULL");
	if (receipt && !(copy = pex__strdup(receipt)))
		return PEX_ENOMEM;
	free(msg->receipt);
	msg->receipt = copy;
	return 0;
}

void pex_message_free(pex_message *msg)
{
	if (msg) {
		free(msg->id);
		free(msg->receipt);
		free(msg->data);
	}
	free(msg);
}

void pex__queue_messages_undo(pex_message **msgs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		pex_message_free(msgs[i]);
		msgs[i] = NULL;
	}
}

void pex_message_array_free(pex_message **msgs, size_t count)
{
	size_t i;

	if (!msgs)
		return;
	for (i = 0; i < count; i++)
		pex_message_free(msgs[i]);
	free(msgs);
}

/* ---- backend struct ---- */

int pex_queue_backend_init(pex_queue_backend *b, unsigned int version)
{
	static const pex_queue_backend init = PEX_QUEUE_BACKEND_INIT;
	/* a version 1 caller's struct ends before the version 2 members */
	return pex__struct_init(b, &init, version == 1 ? offsetof(pex_queue_backend, check) :
		sizeof(init), version, PEX_QUEUE_BACKEND_VERSION, "pex_queue_backend");
}

int pex__queue_new_check(pex_queue_backend **out, const char *fn, const void *opts,
	unsigned int known, const char *type, size_t location, const char *missing)
{
	const char *loc;
	int err;

	if (!out)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "%s: out is NULL", fn);
	*out = NULL;
	if (!type)
		return 0;
	if (!opts)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "%s: the %s are missing", fn,
			type);
	if ((err = pex__version_check(*(const unsigned int *)opts, known, type)) < 0)
		return err;
	memcpy(&loc, (const char *)opts + location, sizeof(loc));
	if (!loc || !*loc)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "%s", missing);
	return 0;
}

int pex__queue_not_built(pex_queue_backend **out, pex_error_class error_class, const char *why)
{
	if (out)
		*out = NULL;
	return pex_error_set(PEX_ENOTSUPPORTED, error_class, "%s", why);
}

/*
 * Check a backend before adopting it. Members appended since version 1 are
 * NULL for a backend of an older version (its struct may end before them):
 * read them through the accessors below.
 */
static int backend_check(const pex_queue_backend *b)
{
	const char *missing = NULL;

	if (!b)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"queue backend is NULL");
	if (b->version == 0 || b->version > PEX_QUEUE_BACKEND_VERSION)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"queue backend '%s' has version %u; this library supports 1..%u",
			b->name ? b->name : "?", b->version, (unsigned)PEX_QUEUE_BACKEND_VERSION);
	if (!b->put)
		missing = "put";
	else if (!b->receive)
		missing = "receive";
	else if (!b->remove)
		missing = "remove";
	else if (!b->update)
		missing = "update";
	else if (!b->free)
		missing = "free";
	if (missing)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"queue backend '%s' lacks the required member '%s'",
			b->name ? b->name : "?", missing);
	return 0;
}

/* The version 2 member check, or NULL. */
static int (*backend_check_fn(const pex_queue_backend *b))(pex_queue_backend *)
{
	return b->version >= 2 ? b->check : NULL;
}

/* ---- names ---- */

static const char name_length_rule[] = "must be 3 to 63 characters long";
static const char name_chars_rule[] = "may contain only lowercase letters, digits and '-'";

const char *pex__queue_name_rule(const char *name, size_t *at)
{
	size_t i, n = strlen(name);

	*at = 0;
	if (n < PEX__QUEUE_NAME_MIN || n > PEX__QUEUE_NAME_MAX)
		return name_length_rule;
	for (i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
			*at = i;
			return name_chars_rule;
		}
	}
	if (name[0] == '-' || name[n - 1] == '-')
		return "must start and end with a letter or digit";
	if (strstr(name, "--"))
		return "must not contain \"--\"";
	return NULL;
}

int pex_queue_name_validate(const char *name)
{
	const char *rule;
	unsigned char c;
	size_t at;

	if (!name)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"queue name is missing");
	if (!(rule = pex__queue_name_rule(name, &at)))
		return 0;
	c = (unsigned char)name[at];
	if (rule == name_chars_rule && (c < 0x20 || c >= 0x7f))
		/* a byte that cannot be shown: the name is not repeated */
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"invalid queue name: it %s (byte 0x%02x at position %zu)", rule, c, at + 1);
	if (rule == name_chars_rule)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"invalid queue name '%s': it %s ('%c' at position %zu)", name, rule, c, at + 1);
	if (rule == name_length_rule)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"invalid queue name '%.80s%s': it %s (it is %zu)", name,
			strlen(name) > 80 ? "..." : "", rule, strlen(name));
	return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "invalid queue name '%s': it %s",
		name, rule);
}

/* ---- opening and closing ---- */

static void shared_release(queue_shared *s)
{
	if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	s->backend->free(s->backend);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* when this thread's current operation started (backend_result records it) */
static _Thread_local int64_t op_started;

static void lock(const pex_queue *q)
{
	op_started = pex__stats_clock();
	if (q->shared->serialise)
		pthread_mutex_lock(&q->shared->lock);
}

static void unlock(const pex_queue *q)
{
	if (q->shared->serialise)
		pthread_mutex_unlock(&q->shared->lock);
}

/*
 * Normalise a backend's return value: a backend that fails without
 * setting details still gets a message naming the backend and operation,
 * and a positive return (a backend bug) becomes PEX_EBACKEND.
 */
static int backend_result(const pex_queue *q, const char *op, int err)
{
	const pex_queue_backend *b = q->shared->backend;
	const pex_error *e;

	pex__stats_queue_op(op, err, op_started);
	if (err == 0)
		return 0;
	if (err > 0)
		return pex_error_set(PEX_EBACKEND, PEX_ERROR_CLASS_QUEUE,
			"queue backend '%s' returned %d from %s on queue '%s'",
			b->name ? b->name : "?", err, op, q->name);
	e = pex_error_last();
	if (e->code != err)
		pex_error_set(err, PEX_ERROR_CLASS_QUEUE, "queue backend '%s': %s on queue '%s': %s",
			b->name ? b->name : "?", op, q->name, pex_strerror(err));
	return err;
}

/* Make a queue on @p shared (taking one reference) and create it. */
static int queue_attach(pex_queue **out, queue_shared *shared, const char *name)
{
	pex_queue *q;
	int err;

	if (!(q = pex__calloc(1, sizeof(*q))))
		return PEX_ENOMEM;
	if (!(q->name = pex__strdup(name))) {
		free(q);
		return PEX_ENOMEM;
	}
	q->shared = shared;
	atomic_fetch_add(&shared->refs, 1);
	if (shared->backend->create) {
		lock(q);
		err = shared->backend->create(shared->backend, name);
		unlock(q);
		if ((err = backend_result(q, "create", err)) < 0) {
			atomic_fetch_sub(&shared->refs, 1);   /* never the last one */
			free(q->name);
			free(q);
			return err;
		}
	}
	*out = q;
	return 0;
}

int pex_queue_open_backend(pex_queue **out, pex_queue_backend *backend, const char *name)
{
	queue_shared *s;
	int err;

	if (!out)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pex_queue_open_backend: out is NULL");
	*out = NULL;
	if ((err = backend_check(backend)) < 0 || (err = pex_queue_name_validate(name)) < 0)
		return err;
	if (!(s = pex__calloc(1, sizeof(*s))))
		return PEX_ENOMEM;
	s->backend = backend;
	s->serialise = !(backend->caps & PEX_QUEUE_CAP_THREADSAFE);
	/* one reference held by this function until the queue owns it */
	atomic_init(&s->refs, 1);
	if (pthread_mutex_init(&s->lock, NULL) != 0) {
		free(s);
		return pex_error_set(PEX_ERROR, PEX_ERROR_CLASS_OS, "cannot create a mutex");
	}
	err = queue_attach(out, s, name);
	if (atomic_fetch_sub(&s->refs, 1) == 1) {
		/* attach failed: the caller keeps the backend */
		pthread_mutex_destroy(&s->lock);
		free(s);
	}
	return err;
}

int pex__queue_open_owned(pex_queue **out, pex_queue_backend *backend, const char *name)
{
	int err = pex_queue_open_backend(out, backend, name);

	if (err < 0 && backend && backend->free)
		backend->free(backend);
	return err;
}

int pex_queue_open_sibling(pex_queue **out, pex_queue *sibling, const char *name)
{
	int err;

	if (out)
		*out = NULL;
	if (!out || !sibling)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pex_queue_open_sibling: out and sibling are required");
	if ((err = pex_queue_name_validate(name)) < 0)
		return err;
	return queue_attach(out, sibling->shared, name);
}

void pex_queue_free(pex_queue *q)
{
	if (!q)
		return;
	shared_release(q->shared);
	free(q->name);
	free(q);
}

const char *pex_queue_name(const pex_queue *q)
{
	return q ? q->name : NULL;
}

pex_queue_backend *pex__queue_backend(const pex_queue *q)
{
	return q ? q->shared->backend : NULL;
}

/* ---- argument checks ---- */

static int check_queue(const pex_queue *q, const char *fn)
{
	if (!q)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "%s: queue is NULL", fn);
	return 0;
}

static int check_visibility(unsigned visibility_s)
{
	if (visibility_s < 1 || visibility_s > PEX__QUEUE_VISIBILITY_MAX)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"visibility timeout %u s is out of range (1..%u s)",
			visibility_s, PEX__QUEUE_VISIBILITY_MAX);
	return 0;
}

static int check_delay(unsigned delay_s)
{
	if (delay_s > PEX__QUEUE_DELAY_MAX)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"delay %u s is out of range (0..%u s)", delay_s, PEX__QUEUE_DELAY_MAX);
	return 0;
}

static int check_max(size_t max)
{
	if (max < 1 || max > PEX__QUEUE_BATCH_MAX)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"batch size %zu is out of range (1..%d messages)", max, PEX__QUEUE_BATCH_MAX);
	return 0;
}

/* A message must carry an id and (unless peeked) a receipt to be acted on. */
static int check_leased(const pex_message *msg, const char *fn)
{
	if (!msg || !msg->id)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"%s: the message (with its id) is required", fn);
	if (!msg->receipt)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"%s: message %s has no receipt (a peeked message holds no lease)",
			fn, msg->id);
	return 0;
}

/* ---- operations ---- */

int pex_queue_put(pex_queue *q, const void *data, size_t len, unsigned delay_s)
{
	pex_queue_backend *b;
	int err;

	if ((err = check_queue(q, "pex_queue_put")) < 0 || (err = check_delay(delay_s)) < 0)
		return err;
	b = q->shared->backend;
	if (!data || len == 0)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"cannot put an empty message on queue '%s'", q->name);
	if (b->max_message_size && len > b->max_message_size)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"message of %zu bytes is too large for queue '%s': the %s backend "
			"accepts at most %zu bytes", len, q->name, b->name ? b->name : "?",
			b->max_message_size);
	lock(q);
	err = b->put(b, q->name, data, len, delay_s);
	unlock(q);
	return backend_result(q, "put", err);
}

/*
 * A backend's batch must fit the array and hold complete messages. If not
 * (a backend bug), everything in the array is freed.
 */
static int batch_sane(pex_message **msgs, size_t count, size_t max)
{
	size_t i;

	if (count <= max) {
		for (i = 0; i < count; i++)
			if (!msgs[i] || !msgs[i]->id || !msgs[i]->data)
				break;
		if (i == count)
			return 1;
	}
	for (i = 0; i < max; i++) {
		pex_message_free(msgs[i]);
		msgs[i] = NULL;
	}
	return 0;
}

/* Lease into a caller-sized array; shared by receive and receive_batch. */
static int receive_into(pex_message **msgs, size_t *count, pex_queue *q, size_t max,
	unsigned visibility_s)
{
	pex_queue_backend *b = q->shared->backend;
	int err;

	*count = 0;
	lock(q);
	err = b->receive(b, q->name, max, visibility_s, msgs, count);
	unlock(q);
	if ((err = backend_result(q, "receive", err)) < 0)
		return err;
	if (!batch_sane(msgs, *count, max)) {
		*count = 0;
		return pex_error_set(PEX_EBACKEND, PEX_ERROR_CLASS_QUEUE,
			"queue backend '%s' returned a malformed batch from receive",
			b->name ? b->name : "?");
	}
	return 0;
}

int pex_queue_receive(pex_message **out, pex_queue *q, unsigned visibility_s)
{
	pex_message *msg = NULL;
	size_t count = 0;
	int err;

	if (!out)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pex_queue_receive: out is NULL");
	*out = NULL;
	if ((err = check_queue(q, "pex_queue_receive")) < 0 ||
	    (err = check_visibility(visibility_s)) < 0)
		return err;
	if ((err = receive_into(&msg, &count, q, 1, visibility_s)) < 0)
		return err;
	if (count == 0)
		return pex_error_set(PEX_EEMPTY, PEX_ERROR_CLASS_QUEUE,
			"queue '%s' has no visible message", q->name);
	*out = msg;
	return 0;
}

/* Common output handling for batch receive and peek. */
static int batch_finish(pex_message ***out, size_t *count, pex_message **msgs, size_t n)
{
	if (n == 0) {
		free(msgs);
		msgs = NULL;
	}
	*out = msgs;
	*count = n;
	return 0;
}

static int batch_begin(pex_message ***out, size_t *count, pex_queue *q, size_t max,
	const char *fn, pex_message ***msgs)
{
	int err;

	if (!out || !count)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"%s: out and count are required", fn);
	*out = NULL;
	*count = 0;
	if ((err = check_queue(q, fn)) < 0 || (err = check_max(max)) < 0)
		return err;
	if (!(*msgs = pex__calloc(max, sizeof(**msgs))))
		return PEX_ENOMEM;
	return 0;
}

int pex_queue_receive_batch(pex_message ***out, size_t *count, pex_queue *q,
	size_t max, unsigned visibility_s)
{
	pex_message **msgs = NULL;
	size_t n = 0;
	int err;

	if ((err = batch_begin(out, count, q, max, "pex_queue_receive_batch", &msgs)) < 0)
		return err;
	if ((err = check_visibility(visibility_s)) < 0 ||
	    (err = receive_into(msgs, &n, q, max, visibility_s)) < 0) {
		free(msgs);
		return err;
	}
	return batch_finish(out, count, msgs, n);
}

int pex_queue_delete(pex_queue *q, const pex_message *msg)
{
	pex_queue_backend *b;
	int err;

	if ((err = check_queue(q, "pex_queue_delete")) < 0 ||
	    (err = check_leased(msg, "pex_queue_delete")) < 0)
		return err;
	b = q->shared->backend;
	lock(q);
	err = b->remove(b, q->name, msg);
	unlock(q);
	return backend_result(q, "delete", err);
}

/* release and extend are both "update": new visibility, new receipt. */
static int queue_update(pex_queue *q, pex_message *msg, unsigned visibility_s, const char *op)
{
	pex_queue_backend *b = q->shared->backend;
	long long before = msg->visible_at;
	int err;

	lock(q);
	err = b->update(b, q->name, msg, visibility_s);
	unlock(q);
	if ((err = backend_result(q, op, err)) < 0)
		return err;
	/* backends that know the exact time set it themselves */
	if (msg->visible_at == before)
		msg->visible_at = pex__queue_wall_ms() / 1000 + (long long)visibility_s;
	return 0;
}

/* pex_queue_release() (@p release: @p s is a delay) or pex_queue_extend()
 * (@p s is a visibility timeout) of a message this caller holds. */
static int leased_update(pex_queue *q, pex_message *msg, unsigned s, int release)
{
	const char *fn = release ? "pex_queue_release" : "pex_queue_extend";
	int err;

	if ((err = check_queue(q, fn)) < 0 || (err = check_leased(msg, fn)) < 0 ||
	    (err = release ? check_delay(s) : check_visibility(s)) < 0)
		return err;
	return queue_update(q, msg, s, release ? "release" : "extend");
}

int pex_queue_release(pex_queue *q, pex_message *msg, unsigned delay_s)
{
	return leased_update(q, msg, delay_s, 1);
}

int pex_queue_extend(pex_queue *q, pex_message *msg, unsigned visibility_s)
{
	return leased_update(q, msg, visibility_s, 0);
}

static int not_supported(const pex_queue *q, const char *op)
{
	const pex_queue_backend *b = q->shared->backend;

	return pex_error_set(PEX_ENOTSUPPORTED, PEX_ERROR_CLASS_QUEUE,
		"the %s queue backend does not support %s", b->name ? b->name : "?", op);
}

int pex_queue_peek(pex_message ***out, size_t *count, pex_queue *q, size_t max)
{
	pex_queue_backend *b;
	pex_message **msgs = NULL;
	size_t n = 0, i;
	int err;

	if ((err = batch_begin(out, count, q, max, "pex_queue_peek", &msgs)) < 0)
		return err;
	b = q->shared->backend;
	if (!b->peek) {
		free(msgs);
		return not_supported(q, "peek");
	}
	lock(q);
	err = b->peek(b, q->name, max, msgs, &n);
	unlock(q);
	if ((err = backend_result(q, "peek", err)) < 0) {
		free(msgs);
		return err;
	}
	if (!batch_sane(msgs, n, max)) {
		free(msgs);
		return pex_error_set(PEX_EBACKEND, PEX_ERROR_CLASS_QUEUE,
			"queue backend '%s' returned a malformed batch from peek",
			b->name ? b->name : "?");
	}
	/* a peek never hands out a lease */
	for (i = 0; i < n; i++)
		pex_message_set_receipt(msgs[i], NULL);
	return batch_finish(out, count, msgs, n);
}

/* pex_queue_count() (@p n not NULL) or pex_queue_clear(): an optional
 * operation on the whole queue, under the queue's lock. */
static int whole_queue_op(pex_queue *q, size_t *n)
{
	const char *op = n ? "count" : "clear";
	pex_queue_backend *b;
	int err;

	if ((err = check_queue(q, n ? "pex_queue_count" : "pex_queue_clear")) < 0)
		return err;
	b = q->shared->backend;
	if (n ? !b->count : !b->clear)
		return not_supported(q, op);
	lock(q);
	err = n ? b->count(b, q->name, n) : b->clear(b, q->name);
	unlock(q);
	return backend_result(q, op, err);
}

int pex_queue_count(size_t *out, pex_queue *q)
{
	size_t n = 0;
	int err;

	if (!out)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pex_queue_count: out is NULL");
	*out = 0;
	if ((err = whole_queue_op(q, &n)) < 0)
		return err;
	*out = n;
	return 0;
}

int pex_queue_clear(pex_queue *q)
{
	return whole_queue_op(q, NULL);
}

int pex_queue_check(pex_queue *q)
{
	pex_queue_backend *b;
	int (*fn)(pex_queue_backend *);
	int err;

	if ((err = check_queue(q, "pex_queue_check")) < 0)
		return err;
	b = q->shared->backend;
	if (!(fn = backend_check_fn(b)))
		return 0;
	lock(q);
	err = fn(b);
	unlock(q);
	return backend_result(q, "check", err);
}
