/*
 * The in-process queue backend: a list of named queues, each an array of
 * messages in insertion order. A message is visible when its visible_at
 * (wall-clock ms) has passed; receiving sets a fresh receipt and pushes
 * visible_at out by the visibility timeout. Messages are handed out by
 * (visible_at, seq), so a released message queues up behind the ones that
 * were already waiting.
 *
 * All state is behind one mutex, so the backend is THREADSAFE; the arrays
 * are scanned linearly, which is fine for the sizes an embedded pool holds.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue_internal.h"

typedef struct mem_msg {
	unsigned long long seq;     /* insertion order; also the id */
	char receipt[PEX__QUEUE_RECEIPT_SIZE];  /* "" until first received */
	unsigned char *data;
	size_t len;
	unsigned dequeue_count;
	int64_t inserted_ms;
	int64_t visible_ms;
} mem_msg;

typedef struct mem_queue {
	struct mem_queue *next;
	char *name;
	mem_msg *msgs;              /* sorted by seq */
	size_t count;
	size_t alloc;
} mem_queue;

typedef struct mem_backend {
	pex_queue_backend parent;   /* must be first */
	pthread_mutex_t lock;
	mem_queue *queues;
	unsigned long long next_seq;
} mem_backend;

static mem_queue *mq_find(mem_backend *m, const char *name)
{
	mem_queue *mq;

	for (mq = m->queues; mq; mq = mq->next)
		if (strcmp(mq->name, name) == 0)
			return mq;
	return NULL;
}

static int mq_get(mem_queue **out, mem_backend *m, const char *name)
{
	mem_queue *mq;

	if ((mq = mq_find(m, name)) != NULL) {
		*out = mq;
		return 0;
	}
	if (!(mq = pex__calloc(1, sizeof(*mq))))
		return PEX_ENOMEM;
	if (!(mq->name = pex__strdup(name))) {
		free(mq);
		return PEX_ENOMEM;
	}
	mq->next = m->queues;
	m->queues = mq;
	*out = mq;
	return 0;
}

static void mq_clear(mem_queue *mq)
{
	size_t i;

	for (i = 0; i < mq->count; i++)
		free(mq->msgs[i].data);
	mq->count = 0;
}

static void mq_remove_at(mem_queue *mq, size_t i)
{
	free(mq->msgs[i].data);
	memmove(&mq->msgs[i], &mq->msgs[i + 1], (mq->count - i - 1) * sizeof(mem_msg));
	mq->count--;
}

static void msg_id(char *buf, size_t size, unsigned long long seq)
{
	snprintf(buf, size, "%llu", seq);
}

/* Find the message a caller's id names; -1 if gone. */
static long mq_index(const mem_queue *mq, const char *id)
{
	unsigned long long seq;
	char *end;
	size_t lo = 0, hi;

	if (!mq || !id || !*id)
		return -1;
	seq = strtoull(id, &end, 10);
	if (*end)
		return -1;
	hi = mq->count;
	while (lo < hi) {           /* msgs are sorted by seq */
		size_t mid = lo + (hi - lo) / 2;
		if (mq->msgs[mid].seq == seq)
			return (long)mid;
		if (mq->msgs[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/*
 * Pick up to max visible messages in (visible_at, seq) order into idx.
 * A selection sort over the array: at most 32 passes.
 */
static size_t mq_select(const mem_queue *mq, int64_t now, size_t max, size_t *idx)
{
	size_t n = 0, i, k;

	while (n < max) {
		long best = -1;
		for (i = 0; i < mq->count; i++) {
			const mem_msg *c = &mq->msgs[i];
			int taken = 0;
			if (c->visible_ms > now)
				continue;
			for (k = 0; k < n; k++)
				if (idx[k] == i)
					taken = 1;
			if (taken)
				continue;
			if (best < 0 || c->visible_ms < mq->msgs[best].visible_ms ||
			    (c->visible_ms == mq->msgs[best].visible_ms &&
			     c->seq < mq->msgs[best].seq))
				best = (long)i;
		}
		if (best < 0)
			break;
		idx[n++] = (size_t)best;
	}
	return n;
}

static int msg_export(pex_message **out, const mem_msg *c, const char *receipt)
{
	char id[32];
	int err;

	msg_id(id, sizeof(id), c->seq);
	if ((err = pex_message_new(out, id, receipt, c->data, c->len, c->dequeue_count)) < 0)
		return err;
	(*out)->inserted_at = c->inserted_ms / 1000;
	(*out)->visible_at = receipt ? (c->visible_ms + 999) / 1000 : 0;
	return 0;
}

static int mem_create(pex_queue_backend *b, const char *queue)
{
	mem_backend *m = (mem_backend *)b;
	mem_queue *mq;
	int err;

	pthread_mutex_lock(&m->lock);
	err = mq_get(&mq, m, queue);
	pthread_mutex_unlock(&m->lock);
	return err;
}

static int mem_put(pex_queue_backend *b, const char *queue, const void *data, size_t len,
	unsigned delay_s)
{
	mem_backend *m = (mem_backend *)b;
	mem_queue *mq;
	mem_msg *c;
	int64_t now = pex__queue_wall_ms();
	int err;

	pthread_mutex_lock(&m->lock);
	if ((err = mq_get(&mq, m, queue)) < 0)
		goto done;
	if (mq->count == mq->alloc) {
		size_t n = mq->alloc ? mq->alloc * 2 : 16;
		mem_msg *p = pex__realloc(mq->msgs, n * sizeof(*p));
		if (!p) {
			err = PEX_ENOMEM;
			goto done;
		}
		mq->msgs = p;
		mq->alloc = n;
	}
	c = &mq->msgs[mq->count];
	memset(c, 0, sizeof(*c));
	if (!(c->data = pex__malloc(len))) {
		err = PEX_ENOMEM;
		goto done;
	}
	memcpy(c->data, data, len);
	c->len = len;
	c->seq = ++m->next_seq;
	c->inserted_ms = now;
	c->visible_ms = now + (int64_t)delay_s * 1000;
	mq->count++;
done:
	pthread_mutex_unlock(&m->lock);
	return err;
}

static int mem_receive(pex_queue_backend *b, const char *queue, size_t max,
	unsigned visibility_s, pex_message **msgs, size_t *count)
{
	mem_backend *m = (mem_backend *)b;
	mem_queue *mq;
	size_t idx[PEX__QUEUE_BATCH_MAX], n, i;
	int64_t now = pex__queue_wall_ms();
	int err = 0;

	*count = 0;
	if (max > PEX__QUEUE_BATCH_MAX)
		max = PEX__QUEUE_BATCH_MAX;
	pthread_mutex_lock(&m->lock);
	if (!(mq = mq_find(m, queue)))
		goto done;
	n = mq_select(mq, now, max, idx);
	/* build every output first, so a failure leases nothing */
	for (i = 0; i < n; i++) {
		mem_msg next = mq->msgs[idx[i]];
		if ((err = pex__queue_new_receipt(next.receipt)) < 0)
			break;
		next.dequeue_count++;
		next.visible_ms = now + (int64_t)visibility_s * 1000;
		if ((err = msg_export(&msgs[i], &next, next.receipt)) < 0)
			break;
	}
	if (err < 0) {
		while (i > 0) {
			i--;
			pex_message_free(msgs[i]);
			msgs[i] = NULL;
		}
		goto done;
	}
	for (i = 0; i < n; i++) {
		mem_msg *c = &mq->msgs[idx[i]];
		memcpy(c->receipt, msgs[i]->receipt, sizeof(c->receipt));
		c->dequeue_count++;
		c->visible_ms = now + (int64_t)visibility_s * 1000;
	}
	*count = n;
done:
	pthread_mutex_unlock(&m->lock);
	return err;
}

static int lease_lost(const char *queue, const char *id)
{
	return pex_error_set(PEX_ELEASELOST, PEX_ERROR_CLASS_QUEUE,
		"message %s on queue '%s' is no longer held with this receipt "
		"(deleted, or its lease ran out and it was received again)", id, queue);
}

/* The leased message @p msg names, or -1 (error set) if the lease is gone. */
static long leased_index(mem_backend *m, const char *queue, const pex_message *msg,
	mem_queue **mq_out)
{
	mem_queue *mq = mq_find(m, queue);
	long i = mq_index(mq, msg->id);

	if (i < 0 || !msg->receipt || !*msg->receipt || strcmp(mq->msgs[i].receipt, msg->receipt) != 0) {
		lease_lost(queue, msg->id);
		return -1;
	}
	*mq_out = mq;
	return i;
}

static int mem_remove(pex_queue_backend *b, const char *queue, const pex_message *msg)
{
	mem_backend *m = (mem_backend *)b;
	mem_queue *mq = NULL;
	long i;

	pthread_mutex_lock(&m->lock);
	if ((i = leased_index(m, queue, msg, &mq)) >= 0)
		mq_remove_at(mq, (size_t)i);
	pthread_mutex_unlock(&m->lock);
	return i < 0 ? PEX_ELEASELOST : 0;
}

static int mem_update(pex_queue_backend *b, const char *queue, pex_message *msg,
	unsigned visibility_s)
{
	mem_backend *m = (mem_backend *)b;
	mem_queue *mq = NULL;
	char receipt[PEX__QUEUE_RECEIPT_SIZE];
	int64_t visible;
	long i;
	int err;

	if ((err = pex__queue_new_receipt(receipt)) < 0)
		return err;
	visible = pex__queue_wall_ms() + (int64_t)visibility_s * 1000;
	pthread_mutex_lock(&m->lock);
	if ((i = leased_index(m, queue, msg, &mq)) < 0) {
		err = PEX_ELEASELOST;
	} else if ((err = pex_message_set_receipt(msg, receipt)) == 0) {
		memcpy(mq->msgs[i].receipt, receipt, sizeof(receipt));
		mq->msgs[i].visible_ms = visible;
		msg->visible_at = (visible + 999) / 1000;
	}
	pthread_mutex_unlock(&m->lock);
	return err;
}

static int mem_peek(pex_queue_backend *b, const char *queue, size_t max,
	pex_message **msgs, size_t *count)
{
	mem_backend *m = (mem_backend *)b;
	mem_queue *mq;
	size_t idx[PEX__QUEUE_BATCH_MAX], n = 0, i;
	int err = 0;

	*count = 0;
	if (max > PEX__QUEUE_BATCH_MAX)
		max = PEX__QUEUE_BATCH_MAX;
	pthread_mutex_lock(&m->lock);
	if ((mq = mq_find(m, queue)) != NULL)
		n = mq_select(mq, pex__queue_wall_ms(), max, idx);
	for (i = 0; i < n; i++) {
		if ((err = msg_export(&msgs[i], &mq->msgs[idx[i]], NULL)) < 0) {
			while (i > 0) {
				i--;
				pex_message_free(msgs[i]);
				msgs[i] = NULL;
			}
			n = 0;
			break;
		}
	}
	*count = n;
	pthread_mutex_unlock(&m->lock);
	return err;
}

static int mem_count(pex_queue_backend *b, const char *queue, size_t *out)
{
	mem_backend *m = (mem_backend *)b;
	mem_queue *mq;

	pthread_mutex_lock(&m->lock);
	mq = mq_find(m, queue);
	*out = mq ? mq->count : 0;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

static int mem_clear(pex_queue_backend *b, const char *queue)
{
	mem_backend *m = (mem_backend *)b;
	mem_queue *mq;

	pthread_mutex_lock(&m->lock);
	if ((mq = mq_find(m, queue)) != NULL)
		mq_clear(mq);
	pthread_mutex_unlock(&m->lock);
	return 0;
}

static void mem_free(pex_queue_backend *b)
{
	mem_backend *m = (mem_backend *)b;
	mem_queue *mq, *next;

	if (!m)
		return;
	for (mq = m->queues; mq; mq = next) {
		next = mq->next;
		mq_clear(mq);
		free(mq->msgs);
		free(mq->name);
		free(mq);
	}
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static const pex_queue_backend mem_ops = {
	.version = PEX_QUEUE_BACKEND_VERSION, .name = "memory", .caps = PEX_QUEUE_CAP_THREADSAFE,
	.max_message_size = PEX__QUEUE_LOCAL_MAX_MESSAGE, .create = mem_create, PEX__QUEUE_OPS(mem),
};

int pex_queue_backend_memory_new(pex_queue_backend **out)
{
	mem_backend *m;
	int err;

	if ((err = pex__queue_new_check(out, "pex_queue_backend_memory_new", NULL, 0, NULL, 0, NULL)) < 0)
		return err;
	if (!(m = pex__calloc(1, sizeof(*m))))
		return PEX_ENOMEM;
	if (pthread_mutex_init(&m->lock, NULL) != 0) {
		free(m);
		return pex_error_set(PEX_ERROR, PEX_ERROR_CLASS_OS, "cannot create a mutex");
	}
	m->parent = mem_ops;
	*out = &m->parent;
	return 0;
}
