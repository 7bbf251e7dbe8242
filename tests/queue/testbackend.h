/*
 * A third-party style queue backend for the registry tests: it owns an
 * in-box memory backend and forwards every call to it, and remembers the
 * location its factory was given. Registered by the test programs with
 * pex_queue_backend_register() under a scheme of their choice.
 */
#ifndef PEX_TESTS_TESTBACKEND_H
#define PEX_TESTS_TESTBACKEND_H

#include <stdlib.h>
#include <string.h>

#include "pexipsdk/sys/queue_backend.h"

typedef struct tb_backend {
	pex_queue_backend parent;      /* must be first */
	pex_queue_backend *inner;      /* a memory backend */
	char location[256];
} tb_backend;

/* What the factory saw last, and how often it ran. */
typedef struct tb_state {
	char location[256];
	int calls;
	int fail;                      /* non-zero: the factory fails with this code */
} tb_state;

#define TB(b) ((tb_backend *)(b))
#define TB_IN(b) (TB(b)->inner)

static int tb_create(pex_queue_backend *b, const char *q)
{
	return TB_IN(b)->create ? TB_IN(b)->create(TB_IN(b), q) : 0;
}

static int tb_put(pex_queue_backend *b, const char *q, const void *d, size_t n, unsigned delay)
{
	return TB_IN(b)->put(TB_IN(b), q, d, n, delay);
}

static int tb_receive(pex_queue_backend *b, const char *q, size_t max, unsigned vis,
	pex_message **msgs, size_t *count)
{
	return TB_IN(b)->receive(TB_IN(b), q, max, vis, msgs, count);
}

static int tb_remove(pex_queue_backend *b, const char *q, const pex_message *m)
{
	return TB_IN(b)->remove(TB_IN(b), q, m);
}

static int tb_update(pex_queue_backend *b, const char *q, pex_message *m, unsigned vis)
{
	return TB_IN(b)->update(TB_IN(b), q, m, vis);
}

static int tb_peek(pex_queue_backend *b, const char *q, size_t max, pex_message **msgs,
	size_t *count)
{
	return TB_IN(b)->peek(TB_IN(b), q, max, msgs, count);
}

static int tb_count(pex_queue_backend *b, const char *q, size_t *out)
{
	return TB_IN(b)->count(TB_IN(b), q, out);
}

static int tb_clear(pex_queue_backend *b, const char *q)
{
	return TB_IN(b)->clear(TB_IN(b), q);
}

static void tb_free(pex_queue_backend *b)
{
	if (!b)
		return;
	TB_IN(b)->free(TB_IN(b));
	free(b);
}

/* The factory: payload is a tb_state, or NULL (nothing recorded). */
static int tb_factory(pex_queue_backend **out, const char *location, void *payload)
{
	tb_state *st = payload;
	tb_backend *t;
	int err;

	if (st) {
		st->calls++;
		snprintf(st->location, sizeof(st->location), "%s", location);
	}
	if (st && st->fail)
		return pex_error_set(st->fail, PEX_ERROR_CLASS_QUEUE,
			"test backend: refusing as told");
	if (!(t = calloc(1, sizeof(*t))))
		return PEX_ENOMEM;
	if ((err = pex_queue_backend_memory_new(&t->inner)) < 0) {
		free(t);
		return err;
	}
	snprintf(t->location, sizeof(t->location), "%s", location);
	pex_queue_backend_init(&t->parent, PEX_QUEUE_BACKEND_VERSION);
	t->parent.caps = t->inner->caps;
	t->parent.max_message_size = t->inner->max_message_size;
	t->parent.name = "test";
	t->parent.create = tb_create;
	t->parent.put = tb_put;
	t->parent.receive = tb_receive;
	t->parent.remove = tb_remove;
	t->parent.update = tb_update;
	t->parent.peek = tb_peek;
	t->parent.count = tb_count;
	t->parent.clear = tb_clear;
	t->parent.free = tb_free;
	*out = &t->parent;
	return 0;
}

#endif
