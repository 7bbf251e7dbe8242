/*
 * The PostgreSQL queue backend: a durable queue that several hosts share.
 *
 * Schema (in the schema named by the options, default "pexipsdk"):
 *
 *   schema_version(version integer)            one row; see PG_MIGRATIONS
 *   queue_message(seq bigint identity primary key, queue text, receipt text,
 *                 data bytea, dequeue_count integer, inserted_at timestamptz,
 *                 visible_at timestamptz)
 *   index queue_message_visible ON (queue, visible_at, seq)
 *   queue_put(put_key text primary key, created_at timestamptz)
 *
 * Every queue lives in the one table, told apart by the queue column (the
 * front end validates names once; no table names are ever built from them).
 * The message id is the seq. Times are the database server's clock
 * (now()), so every host agrees on when a lease runs out.
 *
 * Receive is one statement: the visible rows, oldest first, are locked with
 * FOR UPDATE SKIP LOCKED and given a fresh receipt (gen_random_uuid(), so
 * PostgreSQL 13 or later) and a new visible_at, so two receivers never get
 * the same visible message. Delete and update match seq AND queue AND
 * receipt; nothing matched is PEX_ELEASELOST.
 *
 * Creating the schema: each process reads schema_version; when it is
 * missing or older, it takes a transaction-scoped advisory lock and applies
 * the migrations from that version up, so several processes starting at
 * once are safe. A newer version than this library's is refused.
 *
 * Connections: a small pool of idle connections behind a mutex; a thread
 * takes one for one statement (autocommit) and gives it back, so the
 * backend is THREADSAFE. Each new connection sets statement_timeout.
 *
 * Recovery (docs/DECISIONS.md): an operation whose connection fails (cannot
 * connect, the server restarted, the connection dropped mid-statement) is
 * retried on a new connection, with backoff, until retry_ms is spent. Every
 * operation is made safe to repeat:
 *  - put carries a client-generated put key, recorded in queue_put in the
 *    same statement as the message (ON CONFLICT DO NOTHING): a put whose
 *    commit was lost with the connection is repeated with the same key, and
 *    stores the message only if the first attempt did not. Keys are kept an
 *    hour, much longer than any retry (pruned at open and every 1024 puts).
 *  - update sets a receipt generated here and matches the old OR the new
 *    receipt, so a repeat after a lost commit finds its own result.
 *  - receive repeated after a lost reply can only hide the messages the
 *    first attempt leased until their lease runs out (at most once holds).
 *  - delete repeated after its first attempt may have succeeded reports
 *    PEX_ELEASELOST when the message is gone, as the Azure backend does:
 *    the caller treats the lease as lost, the safe reading.
 * A statement timeout is PEX_ETIMEOUT (the statement was cancelled and
 * rolled back) and is not retried.
 *
 * Secrets: the connection string may hold a password. It is never put in an
 * error message (libpq's connection errors name host and user, not the
 * password) and is wiped when the backend is freed.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pex_config.h"
#include "queue_internal.h"

int pex_queue_postgres_options_init(pex_queue_postgres_options *opts, unsigned int version)
{
	static const pex_queue_postgres_options init = PEX_QUEUE_POSTGRES_OPTIONS_INIT;
	return PEX__STRUCT_INIT(opts, init, version, PEX_QUEUE_POSTGRES_OPTIONS_VERSION,
		"pex_queue_postgres_options");
}

#if PEX_HAVE_POSTGRES

#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "http/http_internal.h"

#define PG_DEFAULT_SCHEMA "pexipsdk"
#define PG_DEFAULT_STATEMENT_TIMEOUT_MS 10000u
#define PG_DEFAULT_RETRY_MS 15000u
#define PG_IDLE_MAX 8
#define PG_BACKOFF_BASE_MS 20
#define PG_BACKOFF_CAP_MS 1000
#define PG_PRUNE_EVERY 1024u     /* puts between prunes of old put keys */
#define PG_SQL_MAX 1024

/*
 * Schema migrations: PG_MIGRATIONS[v] takes the schema from version v to
 * v + 1. "%1$s" is the quoted schema name. Append, never edit.
 */
static const char *const PG_MIGRATIONS[] = {
	/* 0 -> 1 */
	"CREATE TABLE %1$s.queue_message ("
	" seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	" queue text NOT NULL,"
	" receipt text,"
	" data bytea NOT NULL,"
	" dequeue_count integer NOT NULL DEFAULT 0,"
	" inserted_at timestamptz NOT NULL DEFAULT now(),"
	" visible_at timestamptz NOT NULL);"
	"CREATE INDEX queue_message_visible ON %1$s.queue_message (queue, visible_at, seq);"
	"CREATE TABLE %1$s.queue_put ("
	" put_key text PRIMARY KEY,"
	" created_at timestamptz NOT NULL DEFAULT now());"
	"CREATE INDEX queue_put_created ON %1$s.queue_put (created_at);",
};
#define PG_SCHEMA_VERSION ((int)PEX__ARRAY_SIZE(PG_MIGRATIONS))

enum {
	ST_PUT,
	ST_RECEIVE,
	ST_PEEK,
	ST_DELETE,
	ST_UPDATE,
	ST_COUNT,
	ST_CLEAR,
	ST_PRUNE,
	ST__COUNT
};

/* Statements; "%1$s" is the quoted schema. Results are binary; every
 * number comes back as bigint. */
static const char *const pg_sql[ST__COUNT] = {
	[ST_PUT] =
		"WITH k AS (INSERT INTO %1$s.queue_put (put_key) VALUES ($1::text) "
		"ON CONFLICT DO NOTHING RETURNING put_key) "
		"INSERT INTO %1$s.queue_message (queue, data, visible_at) "
		"SELECT $2::text, $3::bytea, now() + $4::integer * interval '1 second' FROM k",
	[ST_RECEIVE] =
		"WITH c AS (SELECT seq, visible_at AS was FROM %1$s.queue_message "
		"WHERE queue = $1::text AND visible_at <= now() ORDER BY visible_at, seq "
		"LIMIT $2::integer FOR UPDATE SKIP LOCKED), "
		"u AS (UPDATE %1$s.queue_message m "
		"SET receipt = replace(gen_random_uuid()::text, '-', ''), "
		"visible_at = now() + $3::integer * interval '1 second', "
		"dequeue_count = m.dequeue_count + 1 FROM c WHERE m.seq = c.seq "
		"RETURNING m.seq, m.receipt, m.data, m.dequeue_count::bigint AS dq, "
		"floor(extract(epoch FROM m.inserted_at))::bigint AS ins, "
		"ceil(extract(epoch FROM m.visible_at))::bigint AS vis, c.was) "
		"SELECT seq, receipt, data, dq, ins, vis FROM u ORDER BY was, seq",
	[ST_PEEK] =
		"SELECT seq, NULL::text, data, dequeue_count::bigint, "
		"floor(extract(epoch FROM inserted_at))::bigint, 0::bigint "
		"FROM %1$s.queue_message WHERE queue = $1::text AND visible_at <= now() "
		"ORDER BY visible_at, seq LIMIT $2::integer",
	[ST_DELETE] =
		"DELETE FROM %1$s.queue_message "
		"WHERE seq = $1::bigint AND queue = $2::text AND receipt = $3::text",
	[ST_UPDATE] =
		"UPDATE %1$s.queue_message SET receipt = $4::text, "
		"visible_at = now() + $5::integer * interval '1 second' "
		"WHERE seq = $1::bigint AND queue = $2::text AND receipt IN ($3::text, $4::text) "
		"RETURNING ceil(extract(epoch FROM visible_at))::bigint",
	[ST_COUNT] = "SELECT count(*) FROM %1$s.queue_message WHERE queue = $1::text",
	[ST_CLEAR] = "DELETE FROM %1$s.queue_message WHERE queue = $1::text",
	[ST_PRUNE] = "DELETE FROM %1$s.queue_put WHERE created_at < now() - interval '1 hour'",
};

typedef struct pg_backend {
	pex_queue_backend parent;       /* must be first */
	char *conninfo;                 /* secret: never in a message; wiped on free */
	char schema[72];                /* quoted identifier */
	char *sql[ST__COUNT];
	unsigned statement_timeout_ms;
	unsigned retry_ms;
	pthread_mutex_t lock;           /* guards idle */
	PGconn *idle[PG_IDLE_MAX];
	size_t nidle;
	atomic_uint puts;
} pg_backend;

#define PG(b) ((pg_backend *)(b))

/* ---- errors ---- */

/* libpq messages end in a newline; cut it for ours. */
static int pg_msg_len(const char *m)
{
	size_t n = m ? strlen(m) : 0;

	while (n && (m[n - 1] == '\n' || m[n - 1] == '\r' || m[n - 1] == ' '))
		n--;
	return n > 400 ? 400 : (int)n;
}

/* Is this failure one a new connection may cure? */
static int pg_connection_lost(PGconn *c, const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (PQstatus(c) == CONNECTION_BAD || !state)
		return 1;
	/* 08: connection exception; 57P01-03: shutdown, crash, starting up;
	 * 40001/40P01: serialisation failure, deadlock (nothing was done) */
	return strncmp(state, "08", 2) == 0 || strncmp(state, "57P0", 4) == 0 ||
		strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0;
}

static int pg_result_error(PGconn *c, const PGresult *res, const char *what,
	const char *queue, int lost)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res && PQresultErrorMessage(res)[0] ? PQresultErrorMessage(res) :
		PQerrorMessage(c);
	int code = PEX_EBACKEND;

	if (state && strcmp(state, "57014") == 0)
		code = PEX_ETIMEOUT;
	else if (lost)
		code = PEX_ENET;
	pex_error_set(code, PEX_ERROR_CLASS_QUEUE, "postgres queue %s%s%s: %s%.*s",
		what, queue ? " on queue " : "", queue ? queue : "",
		code == PEX_ETIMEOUT ? "statement timeout (queue.postgres.statement_timeout_ms): " : "",
		msg ? pg_msg_len(msg) : 8, msg ? msg : "no reply");
	return code;
}

/* ---- the connection pool ---- */

static void pg_sleep_backoff(unsigned attempt)
{
	pex__sleep_ms(pex__backoff_ms(attempt, PG_BACKOFF_BASE_MS, PG_BACKOFF_CAP_MS, -1,
		pex__random_u64()));
}

/* A new connection with our session settings, or NULL with the error set
 * (PEX_ENET: could not connect; nothing was sent). */
static PGconn *pg_connect(pg_backend *p, int *err)
{
	static const char *const keys[] = { "connect_timeout", "fallback_application_name",
		"dbname", NULL };
	const char *values[] = { "10", "libpexipsdk", p->conninfo, NULL };
	char set[96];
	PGresult *res;
	PGconn *c;

	c = PQconnectdbParams(keys, values, 1);
	if (!c) {
		*err = pex__error_nomem();
		return NULL;
	}
	if (PQstatus(c) != CONNECTION_OK) {
		const char *m = PQerrorMessage(c);
		*err = pex_error_set(PEX_ENET, PEX_ERROR_CLASS_QUEUE,
			"postgres queue: cannot connect: %.*s", pg_msg_len(m), m);
		PQfinish(c);
		return NULL;
	}
	snprintf(set, sizeof(set), "SET statement_timeout = %u", p->statement_timeout_ms);
	res = PQexec(c, set);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		*err = pg_result_error(c, res, "setting statement_timeout", NULL,
			pg_connection_lost(c, res));
		PQclear(res);
		PQfinish(c);
		return NULL;
	}
	PQclear(res);
	return c;
}

static PGconn *pg_take(pg_backend *p, int *err)
{
	PGconn *c = NULL;

	pthread_mutex_lock(&p->lock);
	if (p->nidle > 0)
		c = p->idle[--p->nidle];
	pthread_mutex_unlock(&p->lock);
	return c ? c : pg_connect(p, err);
}

static void pg_give_back(pg_backend *p, PGconn *c)
{
	int kept = 0;

	if (PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) == PQTRANS_IDLE) {
		pthread_mutex_lock(&p->lock);
		if (p->nidle < PG_IDLE_MAX) {
			p->idle[p->nidle++] = c;
			kept = 1;
		}
		pthread_mutex_unlock(&p->lock);
	}
	if (!kept)
		PQfinish(c);
}

/*
 * Run statement @p which (binary results) with retries on a new connection
 * while the failure is a lost connection and retry_ms lasts. On success
 * *out is the result (the caller clears it). *lost_once (may be NULL) tells
 * whether an attempt failed after the statement may have been sent.
 */
static int pg_run(pg_backend *p, int which, int n, const char *const *values,
	const int *lengths, const int *formats, PGresult **out, const char *what,
	const char *queue, int *lost_once)
{
	int64_t deadline = pex__now_ms() + p->retry_ms;
	unsigned attempt;
	int err = 0;

	*out = NULL;
	if (lost_once)
		*lost_once = 0;
	for (attempt = 0; ; attempt++) {
		PGconn *c = pg_take(p, &err);
		PGresult *res;
		ExecStatusType st;
		int lost;

		if (c) {
			res = PQexecParams(c, p->sql[which], n, NULL, values, lengths, formats, 1);
			st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
			if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
				pg_give_back(p, c);
				*out = res;
				return 0;
			}
			lost = pg_connection_lost(c, res);
			err = pg_result_error(c, res, what, queue, lost);
			PQclear(res);
			if (!lost) {
				pg_give_back(p, c);
				return err;
			}
			PQfinish(c);
			if (lost_once)
				*lost_once = 1;
		}
		if (pex__now_ms() >= deadline)
			return err;
		pg_sleep_backoff(attempt);
	}
}

/* A bigint column of a binary result. */
static int64_t pg_i64(const PGresult *res, int row, int col)
{
	const unsigned char *v = (const unsigned char *)PQgetvalue(res, row, col);
	uint64_t x = 0;
	int i;

	if (PQgetisnull(res, row, col) || PQgetlength(res, row, col) != 8)
		return 0;
	for (i = 0; i < 8; i++)
		x = (x << 8) | v[i];
	return (int64_t)x;
}

/* Parse a message id (our seq); PEX_EINVAL if it is not one of ours. */
static int pg_seq(const char *id)
{
	size_t i, n = id ? strlen(id) : 0;

	for (i = 0; i < n; i++)
		if (id[i] < '0' || id[i] > '9')
			break;
	if (n == 0 || n > 19 || i < n || id[0] == '0')
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"'%.40s' is not a message id of the postgres queue backend", id ? id : "");
	return 0;
}

/* ---- operations ---- */

static int pg_put(pex_queue_backend *b, const char *queue, const void *data, size_t len,
	unsigned delay_s)
{
	pg_backend *p = PG(b);
	char key[PEX__QUEUE_RECEIPT_SIZE], delay[16];
	const char *values[4] = { key, queue, (const char *)data, delay };
	int lengths[4] = { 0, 0, (int)len, 0 }, formats[4] = { 0, 0, 1, 0 }, err;
	PGresult *res = NULL;

	if ((err = pex__queue_new_receipt(key)) < 0)
		return err;
	snprintf(delay, sizeof(delay), "%u", delay_s);
	if ((err = pg_run(p, ST_PUT, 4, values, lengths, formats, &res, "put", queue, NULL)) < 0)
		return err;
	PQclear(res);
	/* keep queue_put small; a failure here costs nothing but space */
	if (atomic_fetch_add(&p->puts, 1) % PG_PRUNE_EVERY == PG_PRUNE_EVERY - 1 &&
	    pg_run(p, ST_PRUNE, 0, NULL, NULL, NULL, &res, "pruning put keys", NULL, NULL) == 0)
		PQclear(res);
	pex_error_clear();
	return 0;
}

/* Messages from a receive or peek result; frees what it made on failure. */
static int pg_messages(const PGresult *res, int leased, pex_message **msgs, size_t *count)
{
	int i, rows = PQntuples(res), err = 0;
	char id[24];

	for (i = 0; i < rows; i++) {
		snprintf(id, sizeof(id), "%lld", (long long)pg_i64(res, i, 0));
		if ((err = pex_message_new(&msgs[i], id, leased ? PQgetvalue(res, i, 1) : NULL,
				PQgetvalue(res, i, 2), (size_t)PQgetlength(res, i, 2),
				(unsigned)pg_i64(res, i, 3))) < 0)
			break;
		msgs[i]->inserted_at = pg_i64(res, i, 4);
		msgs[i]->visible_at = leased ? pg_i64(res, i, 5) : 0;
	}
	if (err < 0) {
		pex__queue_messages_undo(msgs, i);
		return err;
	}
	*count = (size_t)rows;
	return 0;
}

static int pg_fetch(pg_backend *p, int which, const char *queue, size_t max,
	unsigned visibility_s, pex_message **msgs, size_t *count)
{
	char limit[16], vis[16];
	const char *values[3] = { queue, limit, vis };
	PGresult *res = NULL;
	int err;

	*count = 0;
	if (max == 0)
		return 0;
	snprintf(limit, sizeof(limit), "%zu", max > PEX__QUEUE_BATCH_MAX ? PEX__QUEUE_BATCH_MAX : max);
	snprintf(vis, sizeof(vis), "%u", visibility_s);
	if ((err = pg_run(p, which, which == ST_RECEIVE ? 3 : 2, values, NULL, NULL, &res,
			which == ST_RECEIVE ? "receive" : "peek", queue, NULL)) < 0)
		return err;
	err = pg_messages(res, which == ST_RECEIVE, msgs, count);
	PQclear(res);
	return err;
}

PEX__QUEUE_RECEIVE_PEEK(pg, pg_fetch(PG(b), lease ? ST_RECEIVE : ST_PEEK, queue, max,
	visibility_s, msgs, count))

static int pg_lease_lost(const char *queue, const pex_message *msg, int lost_once)
{
	return pex_error_set(PEX_ELEASELOST, PEX_ERROR_CLASS_QUEUE,
		"message %s on queue '%s' is no longer held with this receipt "
		"(deleted, or its lease ran out and it was received again%s)", msg->id, queue,
		lost_once ? "; the connection was lost during an earlier attempt, which may "
			"have done it" : "");
}

static int pg_remove(pex_queue_backend *b, const char *queue, const pex_message *msg)
{
	const char *values[3] = { msg->id, queue, msg->receipt };
	PGresult *res = NULL;
	int err, lost_once = 0, gone;

	if ((err = pg_seq(msg->id)) < 0)
		return err;
	if ((err = pg_run(PG(b), ST_DELETE, 3, values, NULL, NULL, &res, "delete", queue,
			&lost_once)) < 0)
		return err;
	gone = strcmp(PQcmdTuples(res), "0") == 0;
	PQclear(res);
	return gone ? pg_lease_lost(queue, msg, lost_once) : 0;
}

static int pg_update(pex_queue_backend *b, const char *queue, pex_message *msg,
	unsigned visibility_s)
{
	char receipt[PEX__QUEUE_RECEIPT_SIZE], vis[16];
	const char *values[5] = { msg->id, queue, msg->receipt, receipt, vis };
	PGresult *res = NULL;
	int err, lost_once = 0;
	int64_t visible_at;

	if ((err = pg_seq(msg->id)) < 0 || (err = pex__queue_new_receipt(receipt)) < 0)
		return err;
	snprintf(vis, sizeof(vis), "%u", visibility_s);
	if ((err = pg_run(PG(b), ST_UPDATE, 5, values, NULL, NULL, &res, "update", queue,
			&lost_once)) < 0)
		return err;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return pg_lease_lost(queue, msg, 0);
	}
	visible_at = pg_i64(res, 0, 0);
	PQclear(res);
	if ((err = pex_message_set_receipt(msg, receipt)) < 0)
		return err;
	msg->visible_at = visible_at;
	return 0;
}

/* Run statement @p which with @p queue as its one parameter; *n (when not
 * NULL) gets the number in its first row. */
static int pg_on_queue(pex_queue_backend *b, int which, const char *what, const char *queue,
	long long *n)
{
	PGresult *res = NULL;
	int err = pg_run(PG(b), which, 1, &queue, NULL, NULL, &res, what, queue, NULL);

	if (err < 0)
		return err;
	if (n)
		*n = pg_i64(res, 0, 0);
	PQclear(res);
	return 0;
}

static int pg_count(pex_queue_backend *b, const char *queue, size_t *out)
{
	long long n = 0;
	int err = pg_on_queue(b, ST_COUNT, "count", queue, &n);

	if (err == 0)
		*out = (size_t)n;
	return err;
}

static int pg_clear(pex_queue_backend *b, const char *queue)
{
	return pg_on_queue(b, ST_CLEAR, "clear", queue, NULL);
}

static void pg_free(pex_queue_backend *b)
{
	pg_backend *p = PG(b);
	size_t i;

	if (!p)
		return;
	while (p->nidle > 0)
		PQfinish(p->idle[--p->nidle]);
	for (i = 0; i < ST__COUNT; i++)
		free(p->sql[i]);
	if (p->conninfo) {
		OPENSSL_cleanse(p->conninfo, strlen(p->conninfo));
		free(p->conninfo);
	}
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* ---- opening ---- */

/* An unquoted identifier we can quote without escaping: [a-z_][a-z0-9_]*,
 * at most 63 bytes, not pg_*. */
static int pg_schema_valid(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 63 || strncmp(s, "pg_", 3) == 0 || !((s[0] >= 'a' && s[0] <= 'z') ||
	    s[0] == '_'))
		return 0;
	for (i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

/* The formatted statement text (%1$s = the quoted schema), or NULL. */
static char *pg_format(const pg_backend *p, const char *tmpl)
{
	char *s = malloc(PG_SQL_MAX);
	int n;

	if (!s)
		return NULL;
	n = snprintf(s, PG_SQL_MAX, tmpl, p->schema);
	if (n < 0 || n >= PG_SQL_MAX) {
		free(s);
		return NULL;
	}
	return s;
}

/* Run a simple (text) command on @p c; PEX_EBACKEND/ENET with the error set. */
static int pg_simple(PGconn *c, const char *sql, const char *what, PGresult **out)
{
	PGresult *res = PQexec(c, sql);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	int err;

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		if (out)
			*out = res;
		else
			PQclear(res);
		return 0;
	}
	err = pg_result_error(c, res, what, NULL, pg_connection_lost(c, res));
	PQclear(res);
	return err;
}

/* The schema's version: 0 when there is no schema_version table yet. */
static int pg_read_version(pg_backend *p, PGconn *c, int *version)
{
	char sql[256];
	PGresult *res = NULL;
	int err, exists;

	snprintf(sql, sizeof(sql), "SELECT to_regclass('%s.schema_version') IS NOT NULL", p->schema);
	if ((err = pg_simple(c, sql, "reading the schema version", &res)) < 0)
		return err;
	exists = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	*version = 0;
	if (!exists)
		return 0;
	snprintf(sql, sizeof(sql), "SELECT coalesce(max(version), 0) FROM %s.schema_version",
		p->schema);
	if ((err = pg_simple(c, sql, "reading the schema version", &res)) < 0)
		return err;
	*version = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

/* Bring the schema to PG_SCHEMA_VERSION under an advisory lock. */
static int pg_migrate(pg_backend *p, PGconn *c)
{
	char sql[256], *step = NULL;
	int version = 0, err;

	if ((err = pg_read_version(p, c, &version)) < 0)
		return err;
	if (version == PG_SCHEMA_VERSION)
		return 0;
	if ((err = pg_simple(c, "BEGIN", "beginning the schema set-up", NULL)) < 0)
		return err;
	/* one creator at a time, per schema name; released at COMMIT */
	snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock(%d, hashtext('%s'))",
		0x70657870 /* "pexp" */, p->schema);
	if ((err = pg_simple(c, sql, "locking the schema set-up", NULL)) < 0)
		goto rollback;
	snprintf(sql, sizeof(sql), "CREATE SCHEMA IF NOT EXISTS %1$s; "
		"CREATE TABLE IF NOT EXISTS %1$s.schema_version (version integer NOT NULL)",
		p->schema);
	if ((err = pg_simple(c, sql, "creating the schema", NULL)) < 0 ||
	    (err = pg_read_version(p, c, &version)) < 0)
		goto rollback;
	if (version > PG_SCHEMA_VERSION) {
		err = pex_error_set(PEX_EBACKEND, PEX_ERROR_CLASS_QUEUE,
			"postgres queue: schema %s has version %d, newer than this library's (%d)",
			p->schema, version, PG_SCHEMA_VERSION);
		goto rollback;
	}
	for (; version < PG_SCHEMA_VERSION; version++) {
		if (!(step = pg_format(p, PG_MIGRATIONS[version]))) {
			err = pex__error_nomem();
			goto rollback;
		}
		err = pg_simple(c, step, "creating the schema", NULL);
		free(step);
		if (err < 0)
			goto rollback;
	}
	snprintf(sql, sizeof(sql), "DELETE FROM %1$s.schema_version; "
		"INSERT INTO %1$s.schema_version VALUES (%2$d)", p->schema, PG_SCHEMA_VERSION);
	if ((err = pg_simple(c, sql, "recording the schema version", NULL)) < 0 ||
	    (err = pg_simple(c, "COMMIT", "committing the schema", NULL)) < 0)
		goto rollback;
	return 0;
rollback:
	{
		PGresult *res = PQexec(c, "ROLLBACK");
		PQclear(res);
	}
	return err;
}

static const pex_queue_backend pg_ops = {
	.version = PEX_QUEUE_BACKEND_VERSION, .name = "postgres",
	.caps = PEX_QUEUE_CAP_THREADSAFE | PEX_QUEUE_CAP_PERSISTENT | PEX_QUEUE_CAP_MULTIPROCESS,
	.max_message_size = PEX__QUEUE_LOCAL_MAX_MESSAGE, PEX__QUEUE_OPS(pg),
};

int pex_queue_backend_postgres_new(pex_queue_backend **out,
	const pex_queue_postgres_options *opts)
{
	const char *schema;
	char *perr = NULL;
	PQconninfoOption *parsed;
	pg_backend *p;
	PGconn *c;
	size_t i;
	int err = 0;

	if ((err = pex__queue_new_check(out, "pex_queue_backend_postgres_new", opts,
			PEX_QUEUE_POSTGRES_OPTIONS_VERSION, "pex_queue_postgres_options",
			offsetof(pex_queue_postgres_options, conninfo),
			"postgres queue: no connection string given (queue.postgres.conninfo)")) < 0)
		return err;
	/* libpq's own parse error may quote the string, which may hold a password */
	if (!(parsed = PQconninfoParse(opts->conninfo, &perr))) {
		PQfreemem(perr);
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"postgres queue: the connection string (queue.postgres.conninfo) is not a "
			"libpq connection string (key=value ...) or URI (postgresql://...)");
	}
	PQconninfoFree(parsed);
	schema = opts->schema && *opts->schema ? opts->schema : PG_DEFAULT_SCHEMA;
	if (!pg_schema_valid(schema))
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"postgres queue: schema name '%.63s' (queue.postgres.schema) is not valid: "
			"1 to 63 of a-z, 0-9 and '_', not starting with a digit or 'pg_'", schema);
	if (opts->statement_timeout_ms > 3600u * 1000u || opts->retry_ms > 3600u * 1000u)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"postgres queue: statement_timeout_ms and retry_ms must be 0..3600000");

	if (!(p = pex__calloc(1, sizeof(*p))))
		return PEX_ENOMEM;
	if (pthread_mutex_init(&p->lock, NULL) != 0) {
		free(p);
		return pex_error_set(PEX_ERROR, PEX_ERROR_CLASS_OS, "cannot create a mutex");
	}
	snprintf(p->schema, sizeof(p->schema), "\"%s\"", schema);
	p->statement_timeout_ms = opts->statement_timeout_ms ? opts->statement_timeout_ms :
		PG_DEFAULT_STATEMENT_TIMEOUT_MS;
	p->retry_ms = opts->retry_ms ? opts->retry_ms : PG_DEFAULT_RETRY_MS;
	if (!(p->conninfo = pex__strdup(opts->conninfo)))
		err = pex__error_nomem();
	for (i = 0; i < ST__COUNT && err == 0; i++)
		if (!(p->sql[i] = pg_format(p, pg_sql[i])))
			err = pex__error_nomem();
	if (err < 0) {
		pg_free(&p->parent);
		return err;
	}
	/* connect now: a wrong connection string shows at open, not at first use */
	if (!(c = pg_connect(p, &err)) || (err = pg_migrate(p, c)) < 0) {
		if (c)
			PQfinish(c);
		pg_free(&p->parent);
		return err;
	}
	/* old put keys go at every open too, not only every PG_PRUNE_EVERY puts
	 * of a long-running process (pexctl from cron puts a few and exits);
	 * a failure costs nothing but space */
	pg_simple(c, p->sql[ST_PRUNE], "pruning put keys", NULL);
	pex_error_clear();
	pg_give_back(p, c);

	p->parent = pg_ops;
	*out = &p->parent;
	return 0;
}

#else /* !PEX_HAVE_POSTGRES */

int pex_queue_backend_postgres_new(pex_queue_backend **out,
	const pex_queue_postgres_options *opts)
{
	PEX__UNUSED(opts);
	return pex__queue_not_built(out, PEX_ERROR_CLASS_QUEUE,
		"the postgres queue backend was not compiled in (it needs libpq: "
		"install libpq-dev and build with meson -Dpostgres=enabled)");
}

#endif
