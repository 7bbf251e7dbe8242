/*
 * The SQLite queue backend: the embedded default.
 *
 * One database file holds every queue in one table:
 *
 *   pex_queue_message(seq INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT,
 *                     receipt TEXT, data BLOB, dequeue_count INTEGER,
 *                     inserted_at INTEGER, visible_at INTEGER)
 *   index pex_queue_message_visible ON (queue, visible_at, seq)
 *
 * Times are wall-clock milliseconds since the epoch, because several
 * processes compare them. The message id is the seq (AUTOINCREMENT, so an
 * id is never reused, even after a clear). A lease is a random receipt plus
 * visible_at in the future; remove/update match seq AND queue AND receipt,
 * so a stale receipt changes nothing and reports PEX_ELEASELOST.
 *
 * Several processes may share the file (a cron `pexctl gc` beside a
 * server): the database runs in WAL mode with a busy timeout, and receive is
 * one BEGIN IMMEDIATE transaction (select the visible rows by
 * (visible_at, seq), give each a fresh receipt and visible_at, COMMIT), so
 * two receivers can never lease the same row. A transaction that still
 * meets SQLITE_BUSY is rolled back and retried until the busy timeout is
 * spent. Within a process one connection is shared behind a mutex, which
 * makes the backend THREADSAFE. Schema changes are versioned with
 * PRAGMA user_version.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pex_config.h"
#include "queue_internal.h"

int pex_queue_sqlite_options_init(pex_queue_sqlite_options *opts, unsigned int version)
{
	static const pex_queue_sqlite_options init = PEX_QUEUE_SQLITE_OPTIONS_INIT;
	return PEX__STRUCT_INIT(opts, init, version, PEX_QUEUE_SQLITE_OPTIONS_VERSION,
		"pex_queue_sqlite_options");
}

#if PEX_HAVE_SQLITE

#include <sqlite3.h>

#define SQ_SCHEMA_VERSION 1
#define SQ_DEFAULT_BUSY_MS 5000

/* Cached statements, prepared on first use. */
enum {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_PUT,
	ST_SELECT_VISIBLE,
	ST_LEASE,
	ST_DELETE,
	ST_UPDATE,
	ST_COUNT,
	ST_CLEAR,
	ST__COUNT
};

static const char *const sq_sql[ST__COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_PUT] =
		"INSERT INTO pex_queue_message (queue, data, dequeue_count, inserted_at, visible_at) "
		"VALUES (?1, ?2, 0, ?3, ?4)",
	[ST_SELECT_VISIBLE] =
		"SELECT seq, data, dequeue_count, inserted_at, visible_at FROM pex_queue_message "
		"WHERE queue = ?1 AND visible_at <= ?2 ORDER BY visible_at, seq LIMIT ?3",
	[ST_LEASE] =
		"UPDATE pex_queue_message SET receipt = ?1, visible_at = ?2, "
		"dequeue_count = dequeue_count + 1 WHERE seq = ?3",
	[ST_DELETE] =
		"DELETE FROM pex_queue_message WHERE seq = ?1 AND queue = ?2 AND receipt = ?3",
	[ST_UPDATE] =
		"UPDATE pex_queue_message SET receipt = ?1, visible_at = ?2 "
		"WHERE seq = ?3 AND queue = ?4 AND receipt = ?5",
	[ST_COUNT] = "SELECT count(*) FROM pex_queue_message WHERE queue = ?1",
	[ST_CLEAR] = "DELETE FROM pex_queue_message WHERE queue = ?1",
};

static const char sq_schema[] =
	"CREATE TABLE IF NOT EXISTS pex_queue_message ("
	" seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	" queue TEXT NOT NULL,"
	" receipt TEXT,"
	" data BLOB NOT NULL,"
	" dequeue_count INTEGER NOT NULL DEFAULT 0,"
	" inserted_at INTEGER NOT NULL,"
	" visible_at INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS pex_queue_message_visible"
	" ON pex_queue_message (queue, visible_at, seq);";

typedef struct sq_backend {
	pex_queue_backend parent;   /* must be first */
	pthread_mutex_t lock;       /* one connection, one user at a time */
	sqlite3 *db;
	sqlite3_stmt *st[ST__COUNT];
	char *path;
	int busy_ms;
	int last_rc;                /* SQLite rc behind the last failure */
	/* the file opened (sq_check): its absolute path, device and inode */
	char *real_path;            /* NULL for ":memory:" */
	dev_t dev;
	ino_t ino;
} sq_backend;

/* A body run inside sq_txn(); returns 0 or a pex error. */
typedef int (*sq_body)(sq_backend *s, void *ctx);

static int sq_is_busy(int rc)
{
	rc &= 0xff;
	return rc == SQLITE_BUSY || rc == SQLITE_LOCKED;
}

/* Record a SQLite failure: message and rc. */
static int sq_fail(sq_backend *s, int rc, const char *what)
{
	/* the OS's reason too ("unable to open database file" says nothing of
	 * a directory without write permission) */
	int se = s->db ? sqlite3_system_errno(s->db) : 0;
	char ebuf[128];

	s->last_rc = rc;
	pex_error_set(PEX_EBACKEND, PEX_ERROR_CLASS_SQLITE, "sqlite queue %s: %s: %s%s%s (rc %d)",
		s->path, what, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc),
		se ? ": " : "", se ? strerror_r(se, ebuf, sizeof(ebuf)) : "", rc);
	pex__error_set_cause(rc);
	return PEX_EBACKEND;
}

static int sq_stmt(sqlite3_stmt **out, sq_backend *s, int which)
{
	int rc;

	if (!s->st[which]) {
		rc = sqlite3_prepare_v3(s->db, sq_sql[which], -1, SQLITE_PREPARE_PERSISTENT,
			&s->st[which], NULL);
		if (rc != SQLITE_OK)
			return sq_fail(s, rc, "preparing a statement");
	}
	*out = s->st[which];
	return 0;
}

static void sq_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Run a cached statement that returns no rows (bindings already set). */
static int sq_run(sq_backend *s, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	sq_done(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return sq_fail(s, rc, what);
	return 0;
}

static int sq_simple(sq_backend *s, int which, const char *what)
{
	sqlite3_stmt *st = NULL;
	int err;

	if ((err = sq_stmt(&st, s, which)) < 0)
		return err;
	return sq_run(s, st, what);
}

/* Sleep a little (randomised, so competing processes spread out). */
static void sq_backoff(void)
{
	pex__sleep_ms(1 + (int64_t)(pex__random_u64() % 20));
}

/*
 * Run @p body in a transaction (BEGIN IMMEDIATE when @p write, none for a
 * single read), committing on success. SQLITE_BUSY anywhere rolls back and
 * retries until the busy timeout is spent; other failures roll back and
 * return. @p body must undo its own side effects on ctx when it fails.
 */
static int sq_txn(sq_backend *s, int write, sq_body body, void *ctx)
{
	int64_t deadline = pex__now_ms() + s->busy_ms;
	int err;

	for (;;) {
		s->last_rc = SQLITE_OK;
		err = write ? sq_simple(s, ST_BEGIN, "begin") : 0;
		if (err == 0)
			err = body(s, ctx);
		if (err == 0 && write)
			err = sq_simple(s, ST_COMMIT, "commit");
		if (err == 0)
			return 0;
		if (!sqlite3_get_autocommit(s->db)) {
			int rc = s->last_rc;
			sq_simple(s, ST_ROLLBACK, "rollback");
			s->last_rc = rc;
		}
		if (!sq_is_busy(s->last_rc) || pex__now_ms() >= deadline)
			return err;
		sq_backoff();
	}
}

/* ---- opening ---- */

/* Exec a statement string (schema, pragmas), retrying while busy. */
static int sq_exec(sq_backend *s, const char *sql, const char *what)
{
	int64_t deadline = pex__now_ms() + s->busy_ms;
	int rc;

	while ((rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL)) != SQLITE_OK) {
		if (!sq_is_busy(rc) || pex__now_ms() >= deadline)
			return sq_fail(s, rc, what);
		sq_backoff();
	}
	return 0;
}

static int sq_user_version(sq_backend *s, int *out)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sq_fail(s, rc, "reading the schema version");
	rc = sqlite3_step(st);
	*out = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return sq_fail(s, rc, "reading the schema version");
	return 0;
}

/* Create the schema if the file is new; refuse a newer one. */
static int sq_schema_body(sq_backend *s, void *ctx)
{
	int version = 0, err;
	char sql[64];

	PEX__UNUSED(ctx);
	if ((err = sq_user_version(s, &version)) < 0)
		return err;
	if (version == SQ_SCHEMA_VERSION)
		return 0;
	if (version > SQ_SCHEMA_VERSION)
		return pex_error_set(PEX_EBACKEND, PEX_ERROR_CLASS_SQLITE,
			"sqlite queue %s: schema version %d is newer than this library's (%d)",
			s->path, version, SQ_SCHEMA_VERSION);
	/* version 0: a new (or foreign, empty-versioned) file */
	if ((err = sq_exec(s, sq_schema, "creating the schema")) < 0)
		return err;
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", SQ_SCHEMA_VERSION);
	return sq_exec(s, sql, "setting the schema version");
}

/* Switch to WAL. Several processes may race to do it; retry while busy. */
static int sq_wal(sq_backend *s)
{
	int64_t deadline = pex__now_ms() + s->busy_ms;
	sqlite3_stmt *st = NULL;
	int rc;

	for (;;) {
		rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			const char *mode = (const char *)sqlite3_column_text(st, 0);
			/* ":memory:" databases stay "memory"; that is fine */
			int ok = mode && (strcmp(mode, "wal") == 0 || strcmp(mode, "memory") == 0);
			sqlite3_finalize(st);
			if (!ok)
				return pex_error_set(PEX_EBACKEND, PEX_ERROR_CLASS_SQLITE,
					"sqlite queue %s: cannot switch to WAL (journal mode is %s)",
					s->path, mode ? mode : "unknown");
			return 0;
		}
		sqlite3_finalize(st);
		st = NULL;
		if (!sq_is_busy(rc) || pex__now_ms() >= deadline)
			return sq_fail(s, rc, "switching to WAL");
		sq_backoff();
	}
}

/* ---- operations ---- */

static int sq_bind_fail(sq_backend *s, sqlite3_stmt *st, int rc)
{
	sq_done(st);
	return sq_fail(s, rc, "binding parameters");
}

/* Parse a message id (our seq); PEX_EINVAL if it is not one of ours. */
static int sq_seq(sqlite3_int64 *out, const char *id)
{
	char *end;
	long long v;

	if (!id || !*id)
		goto bad;
	v = strtoll(id, &end, 10);
	if (*end || v <= 0)
		goto bad;
	*out = (sqlite3_int64)v;
	return 0;
bad:
	return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
		"'%.40s' is not a message id of the sqlite queue backend", id ? id : "");
}

typedef struct put_ctx {
	const char *queue;
	const void *data;
	size_t len;
	unsigned delay_s;
} put_ctx;

static int sq_put_body(sq_backend *s, void *ctx)
{
	put_ctx *p = ctx;
	sqlite3_stmt *st = NULL;
	int64_t now = pex__queue_wall_ms();
	int rc, err;

	if ((err = sq_stmt(&st, s, ST_PUT)) < 0)
		return err;
	if ((rc = sqlite3_bind_text(st, 1, p->queue, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_blob(st, 2, p->data, (int)p->len, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 3, now)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 4, now + (int64_t)p->delay_s * 1000)) != SQLITE_OK)
		return sq_bind_fail(s, st, rc);
	return sq_run(s, st, "put");
}

static int sq_put(pex_queue_backend *b, const char *queue, const void *data, size_t len,
	unsigned delay_s)
{
	sq_backend *s = (sq_backend *)b;
	put_ctx p = { queue, data, len, delay_s };
	int err;

	pthread_mutex_lock(&s->lock);
	err = sq_txn(s, 0, sq_put_body, &p);
	pthread_mutex_unlock(&s->lock);
	return err;
}

typedef struct recv_ctx {
	const char *queue;
	size_t max;
	unsigned visibility_s;      /* 0 for a peek */
	int lease;
	pex_message **msgs;
	size_t count;
} recv_ctx;

static void recv_reset(recv_ctx *r)
{
	while (r->count > 0) {
		r->count--;
		pex_message_free(r->msgs[r->count]);
		r->msgs[r->count] = NULL;
	}
}

/* Select the visible rows, and for a receive lease each of them. */
static int sq_recv_body(sq_backend *s, void *ctx)
{
	recv_ctx *r = ctx;
	sqlite3_stmt *st = NULL;
	sqlite3_int64 seqs[PEX__QUEUE_BATCH_MAX];
	int64_t now = pex__queue_wall_ms(), visible = now + (int64_t)r->visibility_s * 1000;
	size_t i;
	int rc, err;

	recv_reset(r);
	if ((err = sq_stmt(&st, s, ST_SELECT_VISIBLE)) < 0)
		return err;
	if ((rc = sqlite3_bind_text(st, 1, r->queue, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 2, now)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 3, (sqlite3_int64)r->max)) != SQLITE_OK)
		return sq_bind_fail(s, st, rc);
	while (r->count < r->max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		char id[32], receipt[PEX__QUEUE_RECEIPT_SIZE];
		pex_message *m;
		const void *data = sqlite3_column_blob(st, 1);
		size_t len = (size_t)sqlite3_column_bytes(st, 1);
		unsigned dq = (unsigned)sqlite3_column_int(st, 2);

		seqs[r->count] = sqlite3_column_int64(st, 0);
		snprintf(id, sizeof(id), "%lld", (long long)seqs[r->count]);
		if (r->lease && (err = pex__queue_new_receipt(receipt)) < 0)
			goto fail;
		err = pex_message_new(&m, id, r->lease ? receipt : NULL, data, len,
			r->lease ? dq + 1 : dq);
		if (err < 0)
			goto fail;
		m->inserted_at = sqlite3_column_int64(st, 3) / 1000;
		m->visible_at = r->lease ? (visible + 999) / 1000 : 0;
		r->msgs[r->count++] = m;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		err = sq_fail(s, rc, "selecting visible messages");
		goto fail;
	}
	sq_done(st);
	if (!r->lease)
		return 0;

	if ((err = sq_stmt(&st, s, ST_LEASE)) < 0)
		goto fail_nostmt;
	for (i = 0; i < r->count; i++) {
		if ((rc = sqlite3_bind_text(st, 1, r->msgs[i]->receipt, -1, SQLITE_STATIC)) != SQLITE_OK ||
		    (rc = sqlite3_bind_int64(st, 2, visible)) != SQLITE_OK ||
		    (rc = sqlite3_bind_int64(st, 3, seqs[i])) != SQLITE_OK) {
			err = sq_bind_fail(s, st, rc);
			goto fail_nostmt;
		}
		if ((err = sq_run(s, st, "leasing a message")) < 0)
			goto fail_nostmt;
	}
	return 0;
fail:
	sq_done(st);
fail_nostmt:
	recv_reset(r);
	return err;
}

/*
 * Receive (@p lease, in a write transaction) or peek. The body may have
 * filled r.msgs and still fail afterwards, at COMMIT (a full disk, a
 * deferred constraint): whatever it stored is freed here, so a failure
 * never hands back, nor leaks, a message.
 */
static int sq_fetch(pex_queue_backend *b, const char *queue, size_t max,
	unsigned visibility_s, int lease, pex_message **msgs, size_t *count)
{
	sq_backend *s = (sq_backend *)b;
	recv_ctx r = { queue, max > PEX__QUEUE_BATCH_MAX ? PEX__QUEUE_BATCH_MAX : max,
		visibility_s, lease, msgs, 0 };
	int err;

	pthread_mutex_lock(&s->lock);
	err = sq_txn(s, lease, sq_recv_body, &r);
	pthread_mutex_unlock(&s->lock);
	if (err < 0)
		recv_reset(&r);
	*count = r.count;
	return err;
}

PEX__QUEUE_RECEIVE_PEEK(sq, sq_fetch(b, queue, max, visibility_s, lease, msgs, count))

typedef struct lease_ctx {
	const char *queue;
	const pex_message *msg;
	sqlite3_int64 seq;
	const char *new_receipt;    /* NULL: delete */
	int64_t visible_ms;
} lease_ctx;

static int sq_lease_body(sq_backend *s, void *ctx)
{
	lease_ctx *l = ctx;
	sqlite3_stmt *st = NULL;
	int rc, err;

	if (l->new_receipt) {
		if ((err = sq_stmt(&st, s, ST_UPDATE)) < 0)
			return err;
		if ((rc = sqlite3_bind_text(st, 1, l->new_receipt, -1, SQLITE_STATIC)) != SQLITE_OK ||
		    (rc = sqlite3_bind_int64(st, 2, l->visible_ms)) != SQLITE_OK ||
		    (rc = sqlite3_bind_int64(st, 3, l->seq)) != SQLITE_OK ||
		    (rc = sqlite3_bind_text(st, 4, l->queue, -1, SQLITE_STATIC)) != SQLITE_OK ||
		    (rc = sqlite3_bind_text(st, 5, l->msg->receipt, -1, SQLITE_STATIC)) != SQLITE_OK)
			return sq_bind_fail(s, st, rc);
	} else {
		if ((err = sq_stmt(&st, s, ST_DELETE)) < 0)
			return err;
		if ((rc = sqlite3_bind_int64(st, 1, l->seq)) != SQLITE_OK ||
		    (rc = sqlite3_bind_text(st, 2, l->queue, -1, SQLITE_STATIC)) != SQLITE_OK ||
		    (rc = sqlite3_bind_text(st, 3, l->msg->receipt, -1, SQLITE_STATIC)) != SQLITE_OK)
			return sq_bind_fail(s, st, rc);
	}
	if ((err = sq_run(s, st, l->new_receipt ? "updating a message" : "deleting a message")) < 0)
		return err;
	if (sqlite3_changes(s->db) == 0)
		return pex_error_set(PEX_ELEASELOST, PEX_ERROR_CLASS_QUEUE,
			"message %s on queue '%s' is no longer held with this receipt "
			"(deleted, or its lease ran out and it was received again)",
			l->msg->id, l->queue);
	return 0;
}

static int sq_remove(pex_queue_backend *b, const char *queue, const pex_message *msg)
{
	sq_backend *s = (sq_backend *)b;
	lease_ctx l = { queue, msg, 0, NULL, 0 };
	int err;

	if ((err = sq_seq(&l.seq, msg->id)) < 0)
		return err;
	pthread_mutex_lock(&s->lock);
	err = sq_txn(s, 0, sq_lease_body, &l);
	pthread_mutex_unlock(&s->lock);
	return err;
}

static int sq_update(pex_queue_backend *b, const char *queue, pex_message *msg,
	unsigned visibility_s)
{
	sq_backend *s = (sq_backend *)b;
	char receipt[PEX__QUEUE_RECEIPT_SIZE];
	lease_ctx l = { queue, msg, 0, receipt, 0 };
	int err;

	if ((err = sq_seq(&l.seq, msg->id)) < 0 || (err = pex__queue_new_receipt(receipt)) < 0)
		return err;
	l.visible_ms = pex__queue_wall_ms() + (int64_t)visibility_s * 1000;
	pthread_mutex_lock(&s->lock);
	err = sq_txn(s, 0, sq_lease_body, &l);
	pthread_mutex_unlock(&s->lock);
	if (err < 0)
		return err;
	if ((err = pex_message_set_receipt(msg, receipt)) < 0)
		return err;
	msg->visible_at = (l.visible_ms + 999) / 1000;
	return 0;
}

typedef struct count_ctx {
	const char *queue;
	size_t n;
} count_ctx;

static int sq_count_body(sq_backend *s, void *ctx)
{
	count_ctx *c = ctx;
	sqlite3_stmt *st = NULL;
	int rc, err;

	if ((err = sq_stmt(&st, s, ST_COUNT)) < 0)
		return err;
	if ((rc = sqlite3_bind_text(st, 1, c->queue, -1, SQLITE_STATIC)) != SQLITE_OK)
		return sq_bind_fail(s, st, rc);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		c->n = (size_t)sqlite3_column_int64(st, 0);
	sq_done(st);
	if (rc != SQLITE_ROW)
		return sq_fail(s, rc, "counting messages");
	return 0;
}

static int sq_count(pex_queue_backend *b, const char *queue, size_t *out)
{
	sq_backend *s = (sq_backend *)b;
	count_ctx c = { queue, 0 };
	int err;

	pthread_mutex_lock(&s->lock);
	err = sq_txn(s, 0, sq_count_body, &c);
	pthread_mutex_unlock(&s->lock);
	*out = c.n;
	return err;
}

static int sq_clear_body(sq_backend *s, void *ctx)
{
	sqlite3_stmt *st = NULL;
	int rc, err;

	if ((err = sq_stmt(&st, s, ST_CLEAR)) < 0)
		return err;
	if ((rc = sqlite3_bind_text(st, 1, (const char *)ctx, -1, SQLITE_STATIC)) != SQLITE_OK)
		return sq_bind_fail(s, st, rc);
	return sq_run(s, st, "clearing the queue");
}

static int sq_clear(pex_queue_backend *b, const char *queue)
{
	sq_backend *s = (sq_backend *)b;
	int err;

	pthread_mutex_lock(&s->lock);
	err = sq_txn(s, 0, sq_clear_body, (void *)queue);
	pthread_mutex_unlock(&s->lock);
	return err;
}

/*
 * Does the path still name the database file we have open? A file deleted
 * (or replaced by rename) under a running process is still open to it, so
 * it keeps working on the old file while every process that opens the
 * path (pexctl, cron) works on a new one: two pools. One stat(), no lock.
 */
static int sq_check(pex_queue_backend *b)
{
	sq_backend *s = (sq_backend *)b;
	struct stat st;
	char ebuf[128];

	if (!s->real_path)
		return 0;
	if (stat(s->real_path, &st) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return pex_error_set(PEX_ESTALE, PEX_ERROR_CLASS_QUEUE,
				"sqlite queue %s: the database file was deleted while this process "
				"has it open; other processes will use a new, different file: restart "
				"this one", s->real_path);
		return pex_error_set(PEX_EIO, PEX_ERROR_CLASS_OS, "sqlite queue %s: %s",
			s->real_path, strerror_r(errno, ebuf, sizeof(ebuf)));
	}
	if (st.st_dev != s->dev || st.st_ino != s->ino)
		return pex_error_set(PEX_ESTALE, PEX_ERROR_CLASS_QUEUE,
			"sqlite queue %s: the database file was replaced by another file while "
			"this process has the old one open; other processes use the new one: "
			"restart this one", s->real_path);
	return 0;
}

/* Remember which file the path names now that it is open (sq_check). */
static int sq_remember_file(sq_backend *s)
{
	struct stat st;

	if (strcmp(s->path, ":memory:") == 0)
		return 0;
	/* absolute, so that a later chdir() does not matter */
	s->real_path = realpath(s->path, NULL);
	if (!s->real_path && !(s->real_path = pex__strdup(s->path)))
		return PEX_ENOMEM;
	if (stat(s->real_path, &st) < 0) {
		char ebuf[128];
		return pex_error_set(PEX_EIO, PEX_ERROR_CLASS_OS, "sqlite queue %s: %s",
			s->real_path, strerror_r(errno, ebuf, sizeof(ebuf)));
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	return 0;
}

static void sq_free(pex_queue_backend *b)
{
	sq_backend *s = (sq_backend *)b;
	size_t i;

	if (!s)
		return;
	for (i = 0; i < ST__COUNT; i++)
		sqlite3_finalize(s->st[i]);
	if (s->db)
		sqlite3_close(s->db);
	pthread_mutex_destroy(&s->lock);
	free(s->path);
	free(s->real_path);
	free(s);
}

static const pex_queue_backend sq_ops = {
	.version = PEX_QUEUE_BACKEND_VERSION, .name = "sqlite",
	.caps = PEX_QUEUE_CAP_THREADSAFE | PEX_QUEUE_CAP_PERSISTENT | PEX_QUEUE_CAP_MULTIPROCESS,
	.max_message_size = PEX__QUEUE_LOCAL_MAX_MESSAGE, PEX__QUEUE_OPS(sq), .check = sq_check,
};

int pex_queue_backend_sqlite_new(pex_queue_backend **out, const pex_queue_sqlite_options *opts)
{
	sq_backend *s;
	int rc, err;

	if ((err = pex__queue_new_check(out, "pex_queue_backend_sqlite_new", opts,
			PEX_QUEUE_SQLITE_OPTIONS_VERSION, "pex_queue_sqlite_options",
			offsetof(pex_queue_sqlite_options, path), "sqlite queue: no database path given")) < 0)
		return err;
	if (opts->busy_timeout_ms > 3600u * 1000u)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"sqlite queue: busy timeout %u ms is out of range (0..3600000)",
			opts->busy_timeout_ms);
	if (!(s = pex__calloc(1, sizeof(*s))))
		return PEX_ENOMEM;
	if (pthread_mutex_init(&s->lock, NULL) != 0) {
		free(s);
		return pex_error_set(PEX_ERROR, PEX_ERROR_CLASS_OS, "cannot create a mutex");
	}
	s->busy_ms = opts->busy_timeout_ms ? (int)opts->busy_timeout_ms : SQ_DEFAULT_BUSY_MS;
	if (!(s->path = pex__strdup(opts->path))) {
		sq_free(&s->parent);
		return PEX_ENOMEM;
	}
	/* The file holds room names and guest PINs: create it private (0600)
	 * whatever the umask; SQLite gives -wal and -shm the same mode. */
	if (strcmp(s->path, ":memory:") != 0) {
		int fd = open(s->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0)
			close(fd);
	}
	/* our own mutex guards the connection, so SQLite's is not needed */
	rc = sqlite3_open_v2(s->path, &s->db,
		SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		err = sq_fail(s, rc, "opening the database");
		sq_free(&s->parent);
		return err;
	}
	sqlite3_busy_timeout(s->db, s->busy_ms);
	if ((err = sq_wal(s)) < 0 ||
	    /* FULL, not NORMAL: an acknowledged (deleted) pool message must survive
	     * an OS crash, or a room could be handed out twice. */
	    (err = sq_exec(s, "PRAGMA synchronous = FULL", "setting synchronous")) < 0 ||
	    (err = sq_txn(s, 1, sq_schema_body, NULL)) < 0 ||
	    (err = sq_remember_file(s)) < 0) {
		sq_free(&s->parent);
		return err;
	}

	s->parent = sq_ops;
	*out = &s->parent;
	return 0;
}

#else /* !PEX_HAVE_SQLITE */

int pex_queue_backend_sqlite_new(pex_queue_backend **out, const pex_queue_sqlite_options *opts)
{
	PEX__UNUSED(opts);
	return pex__queue_not_built(out, PEX_ERROR_CLASS_QUEUE,
		"the sqlite queue backend was not compiled in (meson -Dsqlite=enabled)");
}

#endif
