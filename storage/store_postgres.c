/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store.h on PostgreSQL through libpq, so that several authd replicas share one store. This is
 * the only file that includes libpq headers. store.c dispatches here (store_postgres_backend)
 * and times every operation; this file counts database round trips per operation into
 * authd_store_round_trips_total{op}.
 *
 * Data: one table <schema>.kv(k bytea PRIMARY KEY, v bytea). bytea compares bytewise (memcmp,
 * then the shorter first), which is RocksDB's key order, so prefix scans are range scans on the
 * primary key. A row whose v is NULL is a lock placeholder (below): gets and scans skip it.
 *
 * Transactions run at the server's isolation level (READ COMMITTED on PostgreSQL; a
 * SERIALIZABLE engine answers races with 40001, which maps to CONFLICT and is retried). A read
 * for update locks the row until commit, also when the key does not exist yet, as RocksDB's
 * GetForUpdate does: "INSERT (k, NULL) ON CONFLICT (k) DO UPDATE SET v = kv.v WHERE false"
 * either inserts a placeholder row (ours, so locked) or locks the existing row without changing
 * it (PostgreSQL locks every conflicting row an ON CONFLICT DO UPDATE meets, whether its WHERE
 * holds or not); a plain SELECT then reads the latest committed value. A placeholder that the
 * transaction does not replace is deleted at commit, in the commit's round trip. Lock waits are
 * bounded by the session's lock_timeout (store_opts.lock_timeout_ms); 55P03 (lock timeout),
 * 40P01 (deadlock) and 40001 (serialization failure) map to AUTHD_ERR_CONFLICT.
 *
 * Round trips: every operation sends its statements in one libpq pipeline and waits once.
 * A transaction's BEGIN rides with its first statement, its placeholder clean-up with COMMIT:
 * N statements cost N + 1 round trips (a read-only transaction's ROLLBACK counts too).
 *
 * Connections: a pool of up to pool_size + 2 (authd passes --workers; the 2 are for the
 * sweeper and a call nested in a scan callback), opened on demand. A connection that breaks is
 * closed and reopened on next use; a statement that failed because its connection was already
 * dead before it was sent is retried once on a fresh one when that cannot change the outcome
 * (single reads and writes, the first statement of a transaction). While the database cannot
 * be reached, calls fail within connect_timeout with AUTHD_ERR_UNAVAILABLE, and for a second
 * after a failed connect without trying again; they recover by themselves when it returns.
 */
#include "storage/store.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "common/err.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/secret.h"
#include "storage/store_backend.h"

#define PG_DEFAULT_POOL 8
#define PG_POOL_SPARE 2
#define PG_DEFAULT_LOCK_TIMEOUT_MS 2000
#define PG_DEFAULT_CONNECT_WAIT_MS 30000
#define PG_DOWN_BACKOFF_NS 1000000000ull /* fail fast for 1 s after a failed connect */
#define PG_SCAN_PAGE 256
#define PG_SCHEMA_VERSION 1
#define PG_MAX_STMTS 16 /* statements in one pipeline */
#define PG_MIGRATE_TRIES 20

#define STORE_ROUND_TRIPS "authd_store_round_trips_total"

struct slot {
    PGconn *c; /* NULL: not connected */
    int busy;
};

struct pstore {
    struct store base; /* first: store.c dispatches on it */
    char *conninfo;
    char schema[64];
    int lock_timeout_ms;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct slot *slots;
    int nslots;
    uint64_t down_until_ns; /* under mu: connects before this fail fast */
    int down_logged;        /* under mu: the outage was logged */
    /* SQL with the schema filled in */
    char q_get[160], q_put[224], q_del[128], q_lock[224], q_unlock[160];
    /* scans: the first page (k >= prefix) and the next ones (k > cursor), each bounded above
     * by the prefix's successor (_b) or unbounded (_u, a prefix of 0xff bytes or none) */
    char q_first_b[192], q_first_u[192], q_next_b[192], q_next_u[192];
};

struct ptxn {
    struct store_txn base; /* first */
    struct pstore *s;
    struct slot *sl;
    int begun;    /* BEGIN was sent */
    int finished; /* commit attempted */
    int failed;   /* a statement failed: the server aborted the transaction; its error */
    /* writes not sent yet: they ride with the next statement or COMMIT (no round trip of
     * their own); a read after them sees them because they run before it */
    struct store_batch pend;
    /* keys read for update and found absent: their placeholders go at commit */
    unsigned char **ph;
    size_t *phlen;
    size_t nph, capph;
};

/* One statement of a pipeline. Parameters are binary (bytea). */
struct stmt {
    const char *sql;
    int n;
    const char *vals[3];
    int lens[3];
    int fmts[3];
};

static void wipe_clear(PGresult *res);

static uint64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
count_trip(const char *op)
{
    char labels[64];
    metrics_labels(labels, sizeof(labels), "op", op, NULL);
    metrics_count(STORE_ROUND_TRIPS, labels, 1);
}

/* The first line of a libpq message (they end in newlines and may have DETAIL lines). */
static void
first_line(const char *msg, char *out, size_t outlen)
{
    size_t n = msg != NULL ? strcspn(msg, "\n") : 0;
    snprintf(out, outlen, "%.*s", (int)n, msg != NULL ? msg : "");
}

/*
 * Maps a failed statement to our enum. Lost races → CONFLICT (retried by callers); a broken or
 * unusable connection (class 08, shutdown 57P0x, a standby that cannot write 25006) →
 * UNAVAILABLE; anything else (a bug, a permission) → STORAGE.
 */
static int
map_sqlstate(const char *st)
{
    if (st == NULL)
        return AUTHD_ERR_UNAVAILABLE; /* libpq's own error: the connection */
    if (strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0 || strcmp(st, "55P03") == 0)
        return AUTHD_ERR_CONFLICT;
    if (strncmp(st, "08", 2) == 0 || strncmp(st, "57P0", 4) == 0 || strcmp(st, "25006") == 0 ||
        strcmp(st, "53300") == 0 /* too many connections */)
        return AUTHD_ERR_UNAVAILABLE;
    return AUTHD_ERR_STORAGE;
}

/* ---- connections ------------------------------------------------------------------------- */

/* Server notices ("relation ... already exists, skipping") are not for authd's stderr. */
static void
ignore_notice(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

/* Opens a connection and sets the session up (one round trip). NULL with errbuf set. */
static PGconn *
connect_db(struct pstore *s, char *errbuf, size_t errlen)
{
    /* Defaults first: the conninfo (expanded from dbname) overrides them. Keepalives make a
     * vanished server (no RST) show as a broken connection within seconds. */
    const char *keys[] = {"connect_timeout",
                          "keepalives_idle",
                          "keepalives_interval",
                          "keepalives_count",
                          "fallback_application_name",
                          "dbname",
                          NULL};
    const char *vals[] = {"5", "10", "3", "3", "authd", s->conninfo, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    char line[256];

    if (c == NULL) {
        store_set_errbuf(errbuf, errlen, "out of memory");
        return NULL;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        first_line(PQerrorMessage(c), line, sizeof(line));
        store_set_errbuf(errbuf, errlen, line);
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, ignore_notice, NULL);
    /* Every lock wait is bounded; an acknowledged commit is flushed (a server configured with
     * synchronous_commit=off is overridden; remote_write/remote_apply are kept). */
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SET lock_timeout = %d; SELECT set_config('synchronous_commit', 'on', false) "
             "WHERE current_setting('synchronous_commit') IN ('off', 'local')",
             s->lock_timeout_ms);
    PGresult *res = PQexec(c, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        first_line(PQerrorMessage(c), line, sizeof(line));
        store_set_errbuf(errbuf, errlen, line);
        PQclear(res);
        PQfinish(c);
        return NULL;
    }
    PQclear(res);
    return c;
}

/*
 * Connects sl (whose connection is NULL). While the database is known to be down (a connect
 * failed less than PG_DOWN_BACKOFF_NS ago) it does not try: calls fail at once. The outage
 * and the recovery are logged once each.
 */
static int
reconnect(struct pstore *s, struct slot *sl)
{
    char err[256];

    pthread_mutex_lock(&s->mu);
    int fast_fail = now_ns() < s->down_until_ns;
    pthread_mutex_unlock(&s->mu);
    if (fast_fail)
        return AUTHD_ERR_UNAVAILABLE;
    sl->c = connect_db(s, err, sizeof(err));
    pthread_mutex_lock(&s->mu);
    if (sl->c == NULL) {
        s->down_until_ns = now_ns() + PG_DOWN_BACKOFF_NS;
        if (!s->down_logged) {
            char q[300];
            s->down_logged = 1;
            log_event(LOG_ERROR, "store_unavailable", "backend=postgres reason=%s",
                      log_quote(err, q, sizeof(q)));
        }
    } else if (s->down_logged) {
        s->down_logged = 0;
        log_event(LOG_INFO, "store_available", "backend=postgres");
    }
    pthread_mutex_unlock(&s->mu);
    return sl->c != NULL ? AUTHD_OK : AUTHD_ERR_UNAVAILABLE;
}

/*
 * Takes a free slot (waiting while all are busy) and makes sure it is connected. AUTHD_OK, or
 * AUTHD_ERR_UNAVAILABLE (database unreachable, or no slot within lock_timeout).
 */
static int
acquire(struct pstore *s, struct slot **out)
{
    struct timespec until;
    struct slot *sl = NULL;

    *out = NULL;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += s->lock_timeout_ms / 1000;
    until.tv_nsec += (long)(s->lock_timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->mu);
    for (;;) {
        /* Prefer a connected slot. */
        for (int i = 0; i < s->nslots && sl == NULL; i++)
            if (!s->slots[i].busy && s->slots[i].c != NULL)
                sl = &s->slots[i];
        for (int i = 0; i < s->nslots && sl == NULL; i++)
            if (!s->slots[i].busy)
                sl = &s->slots[i];
        if (sl != NULL)
            break;
        if (pthread_cond_timedwait(&s->cv, &s->mu, &until) == ETIMEDOUT) {
            pthread_mutex_unlock(&s->mu);
            return AUTHD_ERR_UNAVAILABLE;
        }
    }
    sl->busy = 1;
    pthread_mutex_unlock(&s->mu);
    if (sl->c == NULL && reconnect(s, sl) != AUTHD_OK) {
        pthread_mutex_lock(&s->mu);
        sl->busy = 0;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        return AUTHD_ERR_UNAVAILABLE;
    }
    *out = sl;
    return AUTHD_OK;
}

/* Drops a broken connection (reopened on next use). */
static void
drop_conn(struct slot *sl)
{
    if (sl->c != NULL)
        PQfinish(sl->c);
    sl->c = NULL;
}

/* Returns a slot to the pool. A connection left inside a transaction is rolled back first (or
 * dropped when that fails), so the next user starts clean. */
static void
release(struct pstore *s, struct slot *sl)
{
    if (sl->c != NULL && PQstatus(sl->c) != CONNECTION_OK)
        drop_conn(sl);
    if (sl->c != NULL && PQtransactionStatus(sl->c) != PQTRANS_IDLE) {
        PGresult *r = PQexec(sl->c, "ROLLBACK");
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            drop_conn(sl);
        PQclear(r);
    }
    pthread_mutex_lock(&s->mu);
    sl->busy = 0;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/*
 * Sends n statements in one pipeline and waits once (one round trip, counted under op). The
 * result of statement `want` (-1: none) goes to *res when it returned rows; the caller clears
 * it. Returns AUTHD_OK or the first failed statement's mapped error (its index in *failed_at,
 * else -1). *lost is set when the
 * connection broke (it is then dropped) and *sent_nothing when it was already dead before
 * anything reached the server (so a retry cannot repeat an effect).
 */
static int
pipeline_at(struct slot *sl, const char *op, const struct stmt *q, int n, int want, PGresult **res,
            int *lost, int *failed_at)
{
    PGconn *c = sl->c;
    int r = AUTHD_OK;

    *lost = 0;
    *failed_at = -1;
    if (res != NULL)
        *res = NULL;
    if (c == NULL) {
        *lost = 1;
        return AUTHD_ERR_UNAVAILABLE;
    }
    count_trip(op);
    if (!PQenterPipelineMode(c))
        goto broken;
    for (int i = 0; i < n; i++)
        if (!PQsendQueryParams(c, q[i].sql, q[i].n, NULL, q[i].vals, q[i].lens, q[i].fmts, 1))
            goto broken;
    if (!PQpipelineSync(c))
        goto broken;
    for (int i = 0; i < n; i++) {
        PGresult *pr = PQgetResult(c);
        if (pr == NULL)
            goto broken;
        ExecStatusType st = PQresultStatus(pr);
        if (st == PGRES_FATAL_ERROR && r == AUTHD_OK) {
            r = map_sqlstate(PQresultErrorField(pr, PG_DIAG_SQLSTATE));
            *failed_at = i;
        }
        if (i == want && st == PGRES_TUPLES_OK && res != NULL)
            *res = pr;
        else
            PQclear(pr);
        /* Each statement's results end with a NULL. */
        pr = PQgetResult(c);
        if (pr != NULL) {
            PQclear(pr);
            goto broken;
        }
    }
    PGresult *sync = PQgetResult(c);
    if (sync == NULL || PQresultStatus(sync) != PGRES_PIPELINE_SYNC) {
        PQclear(sync);
        goto broken;
    }
    PQclear(sync);
    if (!PQexitPipelineMode(c))
        goto broken;
    if (PQstatus(c) != CONNECTION_OK) {
        *lost = 1;
        drop_conn(sl);
        return AUTHD_ERR_UNAVAILABLE;
    }
    if (r == AUTHD_ERR_UNAVAILABLE) {
        /* A server shutting down or a standby: reconnect next time (target_session_attrs may
         * then find the new primary). */
        *lost = 1;
        drop_conn(sl);
    }
    if (r != AUTHD_OK && res != NULL && *res != NULL) {
        wipe_clear(*res); /* it may hold a value read for the caller */
        *res = NULL;
    }
    return r;
broken:
    if (res != NULL && *res != NULL) {
        wipe_clear(*res);
        *res = NULL;
    }
    *lost = 1;
    drop_conn(sl);
    return AUTHD_ERR_UNAVAILABLE;
}

static int
pipeline(struct slot *sl, const char *op, const struct stmt *q, int n, int want, PGresult **res,
         int *lost)
{
    int at;
    return pipeline_at(sl, op, q, n, want, res, lost, &at);
}

/*
 * pipeline() for a self-contained operation (one autocommit statement group): on a broken
 * connection, retried once on a fresh one. Whether the first attempt took effect cannot be
 * known, so only idempotent groups come here (reads; puts and deletes of fixed values; a batch
 * in its own transaction, which applied entirely or not at all).
 */
static int
run_once_more(struct pstore *s, struct slot *sl, const char *op, const struct stmt *q, int n,
              int want, PGresult **res)
{
    int lost;
    int r = pipeline(sl, op, q, n, want, res, &lost);
    if (r != AUTHD_ERR_UNAVAILABLE || !lost)
        return r;
    if (reconnect(s, sl) != AUTHD_OK)
        return AUTHD_ERR_UNAVAILABLE;
    return pipeline(sl, op, q, n, want, res, &lost);
}

/* ---- open / schema ---------------------------------------------------------------------- */

static int
valid_schema(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len > 48 || (n[0] >= '0' && n[0] <= '9'))
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((n[i] >= 'a' && n[i] <= 'z') || (n[i] >= '0' && n[i] <= '9') || n[i] == '_'))
            return 0;
    return 1;
}

/* Runs one text statement; *out (may be NULL) gets the first column of the first row. */
static int
exec_text(PGconn *c, const char *sql, int *out, char *errbuf, size_t errlen)
{
    PGresult *res = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(res);
    int r = AUTHD_OK;

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char line[256];
        first_line(PQresultErrorMessage(res), line, sizeof(line));
        store_set_errbuf(errbuf, errlen, line);
        const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        /* Concurrent CREATE ... IF NOT EXISTS may still collide on a catalog index. */
        if (code != NULL && (strcmp(code, "23505") == 0 || strcmp(code, "42P06") == 0 ||
                             strcmp(code, "42P07") == 0 || strcmp(code, "42710") == 0))
            r = AUTHD_ERR_CONFLICT;
        else
            r = map_sqlstate(code);
    } else if (out != NULL) {
        *out = PQntuples(res) > 0 ? (int)strtol(PQgetvalue(res, 0, 0), NULL, 10) : -1;
    }
    PQclear(res);
    return r;
}

/*
 * Creates or migrates the schema in one transaction. The version row is locked FOR UPDATE, so
 * replicas starting together migrate one after the other; collisions of concurrent CREATE ...
 * IF NOT EXISTS (23505 on a catalog index, 42P06/42P07) and serialization failures give
 * CONFLICT and the caller tries again.
 */
static int
migrate_once(struct pstore *s, PGconn *c, char *errbuf, size_t errlen)
{
    char sql[512];
    int v = -1, exists = 0;
    int r;

    if ((r = exec_text(c, "BEGIN", NULL, errbuf, errlen)) != AUTHD_OK)
        return r;
    /* CREATE SCHEMA needs CREATE on the database even when the schema exists: skip it then,
     * so that a schema made by the DBA (owned by or granted to authd's role) is enough. */
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM pg_catalog.pg_namespace WHERE nspname = '%s'",
             s->schema);
    if ((r = exec_text(c, sql, &exists, errbuf, errlen)) != AUTHD_OK)
        goto fail;
    if (exists == 0) {
        snprintf(sql, sizeof(sql), "CREATE SCHEMA IF NOT EXISTS %s", s->schema);
        if ((r = exec_text(c, sql, NULL, errbuf, errlen)) != AUTHD_OK)
            goto fail;
    }
    snprintf(sql, sizeof(sql),
             "CREATE TABLE IF NOT EXISTS %s.schema_version (one int PRIMARY KEY CHECK (one = 1), "
             "version int NOT NULL)",
             s->schema);
    if ((r = exec_text(c, sql, NULL, errbuf, errlen)) != AUTHD_OK)
        goto fail;
    snprintf(sql, sizeof(sql),
             "INSERT INTO %s.schema_version VALUES (1, 0) ON CONFLICT (one) DO NOTHING", s->schema);
    if ((r = exec_text(c, sql, NULL, errbuf, errlen)) != AUTHD_OK)
        goto fail;
    snprintf(sql, sizeof(sql), "SELECT version FROM %s.schema_version WHERE one = 1 FOR UPDATE",
             s->schema);
    if ((r = exec_text(c, sql, &v, errbuf, errlen)) != AUTHD_OK)
        goto fail;
    if (v > PG_SCHEMA_VERSION) {
        char msg[160];
        snprintf(msg, sizeof(msg),
                 "schema %s is at version %d, newer than this authd's %d: upgrade authd", s->schema,
                 v, PG_SCHEMA_VERSION);
        store_set_errbuf(errbuf, errlen, msg);
        r = AUTHD_ERR_STORAGE;
        goto fail;
    }
    if (v < 1) {
        snprintf(sql, sizeof(sql),
                 "CREATE TABLE IF NOT EXISTS %s.kv (k bytea PRIMARY KEY, v bytea)", s->schema);
        if ((r = exec_text(c, sql, NULL, errbuf, errlen)) != AUTHD_OK)
            goto fail;
    }
    /* Later versions add their steps here, each guarded by v < N. */
    if (v < PG_SCHEMA_VERSION) {
        snprintf(sql, sizeof(sql), "UPDATE %s.schema_version SET version = %d WHERE one = 1",
                 s->schema, PG_SCHEMA_VERSION);
        if ((r = exec_text(c, sql, NULL, errbuf, errlen)) != AUTHD_OK)
            goto fail;
    }
    return exec_text(c, "COMMIT", NULL, errbuf, errlen);
fail:
    exec_text(c, "ROLLBACK", NULL, NULL, 0);
    return r;
}

static void
pg_free_store(struct pstore *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < s->nslots; i++)
        drop_conn(&s->slots[i]);
    free(s->slots);
    if (s->conninfo != NULL)
        secret_freezero(s->conninfo, strlen(s->conninfo) + 1);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

static void
build_sql(struct pstore *s)
{
    const char *n = s->schema;
    snprintf(s->q_get, sizeof(s->q_get), "SELECT v FROM %s.kv WHERE k = $1 AND v IS NOT NULL", n);
    snprintf(s->q_put, sizeof(s->q_put),
             "INSERT INTO %s.kv (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = "
             "EXCLUDED.v",
             n);
    snprintf(s->q_del, sizeof(s->q_del), "DELETE FROM %s.kv WHERE k = $1", n);
    snprintf(s->q_lock, sizeof(s->q_lock),
             "INSERT INTO %s.kv AS t (k, v) VALUES ($1, NULL) ON CONFLICT (k) DO UPDATE SET v = "
             "t.v WHERE false",
             n);
    snprintf(s->q_unlock, sizeof(s->q_unlock), "DELETE FROM %s.kv WHERE k = $1 AND v IS NULL", n);
#define SCAN_B                                                                                     \
    "SELECT k, v FROM %s.kv WHERE k %s $1 AND k < $2 AND v IS NOT NULL ORDER BY k LIMIT %d"
#define SCAN_U "SELECT k, v FROM %s.kv WHERE k %s $1 AND v IS NOT NULL ORDER BY k LIMIT %d"
    snprintf(s->q_first_b, sizeof(s->q_first_b), SCAN_B, n, ">=", PG_SCAN_PAGE);
    snprintf(s->q_first_u, sizeof(s->q_first_u), SCAN_U, n, ">=", PG_SCAN_PAGE);
    snprintf(s->q_next_b, sizeof(s->q_next_b), SCAN_B, n, ">", PG_SCAN_PAGE);
    snprintf(s->q_next_u, sizeof(s->q_next_u), SCAN_U, n, ">", PG_SCAN_PAGE);
#undef SCAN_B
#undef SCAN_U
}

static int
pg_open(const char *conninfo, const struct store_opts *o, struct store **out, char *errbuf,
        size_t errlen)
{
    char err[256] = "";
    char red[256];
    int r;

    metrics_describe(STORE_ROUND_TRIPS, METRICS_COUNTER,
                     "Database round trips (PostgreSQL), by store operation.");
    store_spec_redact(conninfo, red, sizeof(red));
    const char *schema = o->schema != NULL ? o->schema : "authd";
    if (!valid_schema(schema)) {
        store_set_errbuf(errbuf, errlen,
                         "schema name must match [a-z_][a-z0-9_]* (at most 48 bytes)");
        return AUTHD_ERR_STORAGE;
    }
    char *perr = NULL;
    PQconninfoOption *parsed = PQconninfoParse(conninfo, &perr);
    if (parsed == NULL) {
        /* libpq's message quotes the token it could not read, which may be the password. */
        store_set_errbuf(errbuf, errlen, "invalid PostgreSQL conninfo (see libpq's syntax)");
        if (perr != NULL) {
            secret_wipe(perr, strlen(perr));
            PQfreemem(perr);
        }
        return AUTHD_ERR_STORAGE;
    }
    for (PQconninfoOption *opt = parsed; opt->keyword != NULL; opt++)
        if (opt->val != NULL &&
            (strcmp(opt->keyword, "password") == 0 || strcmp(opt->keyword, "sslpassword") == 0))
            secret_wipe(opt->val, strlen(opt->val));
    PQconninfoFree(parsed);

    struct pstore *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        store_set_errbuf(errbuf, errlen, "out of memory");
        return AUTHD_ERR_NOMEM;
    }
    s->base.be = &store_postgres_backend;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    snprintf(s->schema, sizeof(s->schema), "%s", schema);
    s->lock_timeout_ms = o->lock_timeout_ms > 0 ? o->lock_timeout_ms : PG_DEFAULT_LOCK_TIMEOUT_MS;
    s->nslots = (o->pool_size > 0 ? o->pool_size : PG_DEFAULT_POOL) + PG_POOL_SPARE;
    s->slots = calloc((size_t)s->nslots, sizeof(*s->slots));
    s->conninfo = strdup(conninfo);
    if (s->slots == NULL || s->conninfo == NULL) {
        pg_free_store(s);
        store_set_errbuf(errbuf, errlen, "out of memory");
        return AUTHD_ERR_NOMEM;
    }
    build_sql(s);

    /* The first connection: waits a bounded time for a database that is not up yet. */
    int wait_ms = o->connect_wait_ms > 0 ? o->connect_wait_ms : PG_DEFAULT_CONNECT_WAIT_MS;
    uint64_t deadline = now_ns() + (uint64_t)wait_ms * 1000000ull;
    PGconn *c;
    while ((c = connect_db(s, err, sizeof(err))) == NULL && now_ns() < deadline) {
        struct timespec ts = {0, 250 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (c == NULL) {
        char msg[600];
        snprintf(msg, sizeof(msg), "cannot reach PostgreSQL at %s within %d ms: %s", red, wait_ms,
                 err);
        store_set_errbuf(errbuf, errlen, msg);
        pg_free_store(s);
        return AUTHD_ERR_UNAVAILABLE;
    }
    for (int i = 0; i < PG_MIGRATE_TRIES; i++) {
        r = migrate_once(s, c, err, sizeof(err));
        if (r != AUTHD_ERR_CONFLICT)
            break;
        struct timespec ts = {0, (long)(10 + i * 20) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (r != AUTHD_OK) {
        char msg[600];
        snprintf(msg, sizeof(msg), "cannot set up schema %s at %s: %s", s->schema, red, err);
        store_set_errbuf(errbuf, errlen, msg);
        PQfinish(c);
        pg_free_store(s);
        return r == AUTHD_ERR_UNAVAILABLE ? r : AUTHD_ERR_STORAGE;
    }
    s->slots[0].c = c;
    *out = &s->base;
    return AUTHD_OK;
}

static void
pg_close(struct store *base)
{
    pg_free_store((struct pstore *)base);
}

/* ---- single operations ------------------------------------------------------------------ */

/* Copies a binary bytea cell into a malloc'd value (an empty one is a unique non-NULL). */
static int
take_value(PGresult *res, int row, int col, void **val, size_t *vlen)
{
    size_t n = (size_t)PQgetlength(res, row, col);
    void *v = malloc(n > 0 ? n : 1);
    if (v == NULL)
        return AUTHD_ERR_NOMEM;
    if (n > 0)
        memcpy(v, PQgetvalue(res, row, col), n);
    *val = v;
    *vlen = n;
    return AUTHD_OK;
}

/* Values are records (password and token hashes): the result buffer is wiped before libpq
 * frees it. */
static void
wipe_clear(PGresult *res)
{
    if (res == NULL)
        return;
    for (int i = 0; i < PQntuples(res); i++)
        for (int j = 0; j < PQnfields(res); j++)
            secret_wipe(PQgetvalue(res, i, j), (size_t)PQgetlength(res, i, j));
    PQclear(res);
}

/* A get's answer: absent, a placeholder (NULL: absent too), or a copy of the value. */
static int
finish_get(PGresult *res, void **val, size_t *vlen)
{
    int r = AUTHD_ERR_NOT_FOUND;
    if (res != NULL && PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
        r = take_value(res, 0, 0, val, vlen);
    wipe_clear(res);
    return r;
}

static struct stmt
stmt1(const char *sql, const void *k, size_t klen)
{
    struct stmt q = {.sql = sql, .n = 1};
    q.vals[0] = klen > 0 ? k : ""; /* never a NULL pointer: that would be SQL NULL */
    q.lens[0] = (int)klen;
    q.fmts[0] = 1;
    return q;
}

static struct stmt
stmt2(const char *sql, const void *k, size_t klen, const void *v, size_t vlen)
{
    struct stmt q = stmt1(sql, k, klen);
    q.n = 2;
    q.vals[1] = vlen > 0 ? v : "";
    q.lens[1] = (int)vlen;
    q.fmts[1] = 1;
    return q;
}

static int
too_big(size_t n)
{
    return n > 256u * 1024 * 1024; /* libpq lengths are int; bytea values are far below */
}

static int
pg_get(struct store *base, const void *key, size_t klen, void **val, size_t *vlen)
{
    struct pstore *s = (struct pstore *)base;
    struct slot *sl;
    PGresult *res = NULL;

    if (too_big(klen))
        return AUTHD_ERR_TOO_LARGE;
    int r = acquire(s, &sl);
    if (r != AUTHD_OK)
        return r;
    struct stmt q = stmt1(s->q_get, key, klen);
    r = run_once_more(s, sl, "get", &q, 1, 0, &res);
    release(s, sl);
    if (r != AUTHD_OK) {
        wipe_clear(res);
        return r;
    }
    return finish_get(res, val, vlen);
}

static int
pg_put(struct store *base, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct pstore *s = (struct pstore *)base;
    struct slot *sl;

    if (too_big(klen) || too_big(vlen))
        return AUTHD_ERR_TOO_LARGE;
    int r = acquire(s, &sl);
    if (r != AUTHD_OK)
        return r;
    struct stmt q = stmt2(s->q_put, key, klen, val, vlen);
    r = run_once_more(s, sl, "put", &q, 1, -1, NULL);
    release(s, sl);
    return r;
}

static int
pg_delete(struct store *base, const void *key, size_t klen)
{
    struct pstore *s = (struct pstore *)base;
    struct slot *sl;

    if (too_big(klen))
        return AUTHD_ERR_TOO_LARGE;
    int r = acquire(s, &sl);
    if (r != AUTHD_OK)
        return r;
    struct stmt q = stmt1(s->q_del, key, klen);
    r = run_once_more(s, sl, "delete", &q, 1, -1, NULL);
    release(s, sl);
    return r;
}

/*
 * One page of a prefix scan: keys >= prefix (first page, after NULL) or > after (a cursor at
 * or past the prefix), and < the prefix's successor when it has one (slen > 0).
 */
static struct stmt
scan_stmt(struct pstore *s, const void *prefix, size_t plen, const unsigned char *succ, size_t slen,
          const void *after, size_t alen)
{
    struct stmt q;
    if (after == NULL)
        q = stmt1(slen > 0 ? s->q_first_b : s->q_first_u, prefix, plen);
    else
        q = stmt1(slen > 0 ? s->q_next_b : s->q_next_u, after, alen);
    if (slen > 0) {
        q.n = 2;
        q.vals[1] = (const char *)succ;
        q.lens[1] = (int)slen;
        q.fmts[1] = 1;
    }
    return q;
}

/*
 * Calls fn over one page's rows. Returns 0 to go on, 1 when fn stopped, or fn's negative
 * value. The last key goes to *last (malloc'd, replacing the old one).
 */
static int
feed_page(PGresult *res, store_scan_fn fn, void *arg, unsigned char **last, size_t *lastlen)
{
    int rows = PQntuples(res);
    for (int i = 0; i < rows; i++) {
        int cr = fn(arg, PQgetvalue(res, i, 0), (size_t)PQgetlength(res, i, 0),
                    PQgetvalue(res, i, 1), (size_t)PQgetlength(res, i, 1));
        if (cr != 0)
            return cr < 0 ? cr : 1;
    }
    if (rows > 0) {
        size_t n = (size_t)PQgetlength(res, rows - 1, 0);
        unsigned char *k = malloc(n > 0 ? n : 1);
        if (k == NULL)
            return AUTHD_ERR_NOMEM;
        if (n > 0)
            memcpy(k, PQgetvalue(res, rows - 1, 0), n);
        free(*last);
        *last = k;
        *lastlen = n;
    }
    return 0;
}

/*
 * The paging loop of both scans. With t NULL every page takes a pool connection and gives it
 * back before the callback runs (a callback may call the store again); with a transaction the
 * pages come from its connection.
 */
static int
scan_pages(struct pstore *s, struct ptxn *t, const char *op, const void *prefix, size_t plen,
           const void *start_after, size_t salen, store_scan_fn fn, void *arg)
{
    unsigned char *succ = malloc(plen > 0 ? plen : 1);
    unsigned char *last = NULL;
    size_t lastlen = 0;
    int r = AUTHD_OK;

    if (succ == NULL)
        return AUTHD_ERR_NOMEM;
    size_t slen = store_prefix_successor(prefix, plen, succ);
    const void *after = NULL;
    size_t alen = 0;
    /* A start_after before the prefix would only repeat k >= prefix. */
    if (start_after != NULL && !store_key_less(start_after, salen, prefix, plen)) {
        after = start_after;
        alen = salen;
    }
    for (;;) {
        PGresult *res = NULL;
        struct stmt q = scan_stmt(s, prefix, plen, succ, slen, after, alen);
        if (t == NULL) {
            struct slot *sl;
            r = acquire(s, &sl);
            if (r != AUTHD_OK)
                break;
            r = run_once_more(s, sl, op, &q, 1, 0, &res);
            release(s, sl);
        } else {
            int lost;
            r = pipeline(t->sl, op, &q, 1, 0, &res, &lost);
            if (r != AUTHD_OK)
                t->failed = r;
        }
        if (r != AUTHD_OK) {
            wipe_clear(res);
            break;
        }
        int rows = res != NULL ? PQntuples(res) : 0;
        int cr = res != NULL ? feed_page(res, fn, arg, &last, &lastlen) : 0;
        wipe_clear(res);
        if (cr < 0)
            r = cr;
        if (cr != 0 || rows < PG_SCAN_PAGE)
            break;
        after = last;
        alen = lastlen;
    }
    free(last);
    free(succ);
    return r;
}

static int
pg_scan(struct store *base, const void *prefix, size_t plen, const void *start_after, size_t salen,
        store_scan_fn fn, void *arg)
{
    if (too_big(plen) || too_big(salen))
        return AUTHD_ERR_TOO_LARGE;
    return scan_pages((struct pstore *)base, NULL, "scan", prefix, plen, start_after, salen, fn,
                      arg);
}

/* BEGIN, the batch's writes and COMMIT in one pipeline: one round trip, all or nothing. */
static int
pg_batch_commit(struct store *base, const struct store_batch *b)
{
    struct pstore *s = (struct pstore *)base;
    struct slot *sl;
    int r;

    if (b->n == 0)
        return AUTHD_OK;
    for (size_t i = 0; i < b->n; i++)
        if (too_big(b->ops[i].klen) || too_big(b->ops[i].vlen))
            return AUTHD_ERR_TOO_LARGE;
    struct stmt *q = calloc(b->n + 2, sizeof(*q));
    if (q == NULL)
        return AUTHD_ERR_NOMEM;
    q[0].sql = "BEGIN";
    for (size_t i = 0; i < b->n; i++) {
        const struct store_batch_op *op = &b->ops[i];
        q[i + 1] = op->del ? stmt1(s->q_del, op->key, op->klen)
                           : stmt2(s->q_put, op->key, op->klen, op->val, op->vlen);
    }
    q[b->n + 1].sql = "COMMIT";
    r = acquire(s, &sl);
    if (r == AUTHD_OK) {
        r = run_once_more(s, sl, "batch_commit", q, (int)b->n + 2, -1, NULL);
        release(s, sl);
    }
    free(q);
    return r;
}

/* ---- transactions ----------------------------------------------------------------------- */

/* Takes a connection; BEGIN is sent with the first statement (no round trip of its own). */
static int
pg_txn_begin(struct store *base, struct store_txn **out)
{
    struct pstore *s = (struct pstore *)base;
    struct ptxn *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return AUTHD_ERR_NOMEM;
    t->base.be = &store_postgres_backend;
    t->s = s;
    int r = acquire(s, &t->sl);
    if (r != AUTHD_OK) {
        free(t);
        return r;
    }
    *out = &t->base;
    return AUTHD_OK;
}

static int
pend_add(struct ptxn *t, int del, const void *key, size_t klen, const void *val, size_t vlen)
{
    return store_batch_append(&t->pend, del, key, klen, val, vlen);
}

/* Forgets the pending writes (sent, or the transaction is over); values wiped. */
static void
pend_clear(struct ptxn *t)
{
    for (size_t i = 0; i < t->pend.n; i++) {
        free(t->pend.ops[i].key);
        if (t->pend.ops[i].val != NULL)
            secret_freezero(t->pend.ops[i].val, t->pend.ops[i].vlen);
    }
    t->pend.n = 0;
}

/* Appends the pending writes to q at k; returns the new k. */
static int
pend_stmts(struct ptxn *t, struct stmt *q, int k)
{
    for (size_t i = 0; i < t->pend.n; i++) {
        const struct store_batch_op *op = &t->pend.ops[i];
        q[k++] = op->del ? stmt1(t->s->q_del, op->key, op->klen)
                         : stmt2(t->s->q_put, op->key, op->klen, op->val, op->vlen);
    }
    return k;
}

/*
 * Runs, in one round trip: BEGIN (first time only), the pending writes, then the body (nb
 * statements; the rows of body[want] go to *res). A guarded body — one that may wait for a row
 * lock — runs inside SAVEPOINT w ... RELEASE SAVEPOINT w, so that losing the wait (CONFLICT)
 * undoes only it and the transaction goes on, as a RocksDB transaction does after a failed
 * GetForUpdate (one more round trip, only then). Before anything was sent, a dead connection
 * is replaced and the statements retried. Any other failure — also a pending write's, which
 * the caller was already told had succeeded — aborts the transaction: it is remembered, later
 * calls return it and the commit fails with it (CONFLICT is retried by the caller).
 */
static int
txn_run(struct ptxn *t, const char *op, const struct stmt *body, int nb, int want, int guarded,
        PGresult **res)
{
    struct stmt stack[PG_MAX_STMTS];
    int lost, at;

    if (res != NULL)
        *res = NULL;
    if (t->failed != 0)
        return t->failed;
    if (t->finished)
        return AUTHD_ERR_INTERNAL;
    int first = !t->begun;
    size_t total = (size_t)first + t->pend.n + (guarded ? 2u : 0u) + (size_t)nb;
    struct stmt *q = total <= PG_MAX_STMTS ? stack : calloc(total, sizeof(*q));
    if (q == NULL)
        return AUTHD_ERR_NOMEM;
    int k = 0;
    if (first)
        q[k++] = (struct stmt){.sql = "BEGIN"};
    k = pend_stmts(t, q, k);
    int guard_from = k;
    if (guarded)
        q[k++] = (struct stmt){.sql = "SAVEPOINT w"};
    int body_from = k;
    for (int i = 0; i < nb; i++)
        q[k++] = body[i];
    if (guarded)
        q[k++] = (struct stmt){.sql = "RELEASE SAVEPOINT w"};
    int w = want < 0 ? -1 : body_from + want;
    int r = pipeline_at(t->sl, op, q, k, w, res, &lost, &at);
    if (r == AUTHD_ERR_UNAVAILABLE && lost && first && reconnect(t->s, t->sl) == AUTHD_OK)
        r = pipeline_at(t->sl, op, q, k, w, res, &lost, &at);
    if (q != stack)
        free(q);
    if (r == AUTHD_OK) {
        t->begun = 1;
        pend_clear(t);
        return AUTHD_OK;
    }
    if (r == AUTHD_ERR_CONFLICT && guarded && at > guard_from &&
        PQtransactionStatus(t->sl->c) == PQTRANS_INERROR) {
        /* The pending writes before the savepoint stand. */
        t->begun = 1;
        pend_clear(t);
        struct stmt back = {.sql = "ROLLBACK TO SAVEPOINT w"};
        int br = pipeline(t->sl, op, &back, 1, -1, NULL, &lost);
        if (br != AUTHD_OK)
            t->failed = br;
        return r;
    }
    t->failed = r;
    return r;
}

static int
remember_placeholder(struct ptxn *t, const void *key, size_t klen)
{
    for (size_t i = 0; i < t->nph; i++)
        if (t->phlen[i] == klen && memcmp(t->ph[i], key, klen) == 0)
            return AUTHD_OK;
    if (t->nph == t->capph) {
        size_t cap = t->capph ? t->capph * 2 : 4;
        unsigned char **ph = realloc(t->ph, cap * sizeof(*ph));
        if (ph == NULL)
            return AUTHD_ERR_NOMEM;
        t->ph = ph;
        size_t *pl = realloc(t->phlen, cap * sizeof(*pl));
        if (pl == NULL)
            return AUTHD_ERR_NOMEM;
        t->phlen = pl;
        t->capph = cap;
    }
    unsigned char *k = malloc(klen > 0 ? klen : 1);
    if (k == NULL)
        return AUTHD_ERR_NOMEM;
    if (klen > 0)
        memcpy(k, key, klen);
    t->ph[t->nph] = k;
    t->phlen[t->nph] = klen;
    t->nph++;
    return AUTHD_OK;
}

static int
pg_txn_get(struct store_txn *base, const void *key, size_t klen, int for_update, void **val,
           size_t *vlen)
{
    struct ptxn *t = (struct ptxn *)base;
    struct stmt q[2];
    PGresult *res = NULL;
    int r;

    if (too_big(klen))
        return AUTHD_ERR_TOO_LARGE;
    if (for_update) {
        /* Lock (inserting a placeholder when absent), then read the latest committed value
         * (a new statement: a new snapshot, taken after the lock was granted). */
        q[0] = stmt1(t->s->q_lock, key, klen);
        q[1] = stmt1(t->s->q_get, key, klen);
        r = txn_run(t, "txn_get_for_update", q, 2, 1, 1, &res);
    } else {
        q[0] = stmt1(t->s->q_get, key, klen);
        r = txn_run(t, "txn_get", q, 1, 0, 0, &res);
    }
    if (r != AUTHD_OK) {
        wipe_clear(res);
        return r;
    }
    r = finish_get(res, val, vlen);
    if (r == AUTHD_ERR_NOT_FOUND && for_update) {
        int pr = remember_placeholder(t, key, klen);
        if (pr != AUTHD_OK)
            return pr;
    }
    return r;
}

static int
pg_txn_put(struct store_txn *base, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct ptxn *t = (struct ptxn *)base;

    if (t->failed != 0)
        return t->failed;
    if (t->finished)
        return AUTHD_ERR_INTERNAL;
    if (too_big(klen) || too_big(vlen))
        return AUTHD_ERR_TOO_LARGE;
    /* Sent with the next statement or the commit. */
    return pend_add(t, 0, key, klen, val, vlen);
}

static int
pg_txn_delete(struct store_txn *base, const void *key, size_t klen)
{
    struct ptxn *t = (struct ptxn *)base;

    if (t->failed != 0)
        return t->failed;
    if (t->finished)
        return AUTHD_ERR_INTERNAL;
    if (too_big(klen))
        return AUTHD_ERR_TOO_LARGE;
    return pend_add(t, 1, key, klen, NULL, 0);
}

static int
pg_txn_scan(struct store_txn *base, const void *prefix, size_t plen, store_scan_fn fn, void *arg)
{
    struct ptxn *t = (struct ptxn *)base;

    if (t->failed != 0)
        return t->failed;
    if (t->finished)
        return AUTHD_ERR_INTERNAL;
    if (too_big(plen))
        return AUTHD_ERR_TOO_LARGE;
    if (!t->begun || t->pend.n > 0) {
        /* The pages need the transaction open and its writes sent. */
        int r = txn_run(t, "txn_scan", NULL, 0, -1, 0, NULL);
        if (r != AUTHD_OK)
            return r;
    }
    return scan_pages(t->s, t, "txn_scan", prefix, plen, NULL, 0, fn, arg);
}

/* The pending writes, the placeholder clean-up and COMMIT in one round trip. */
static int
pg_txn_commit(struct store_txn *base)
{
    struct ptxn *t = (struct ptxn *)base;
    int lost;

    if (t->finished)
        return AUTHD_ERR_INTERNAL;
    if (t->failed != 0) {
        t->finished = 1;
        return t->failed;
    }
    t->finished = 1;
    if (!t->begun && t->pend.n == 0)
        return AUTHD_OK; /* nothing was read or written */
    struct stmt *q = calloc(2 + t->pend.n + t->nph, sizeof(*q));
    if (q == NULL)
        return AUTHD_ERR_NOMEM;
    int k = 0;
    if (!t->begun)
        q[k++] = (struct stmt){.sql = "BEGIN"};
    k = pend_stmts(t, q, k);
    for (size_t i = 0; i < t->nph; i++)
        q[k++] = stmt1(t->s->q_unlock, t->ph[i], t->phlen[i]);
    q[k++] = (struct stmt){.sql = "COMMIT"};
    int r = pipeline(t->sl, "txn_commit", q, k, -1, NULL, &lost);
    free(q);
    pend_clear(t);
    /* A connection lost during COMMIT leaves the outcome unknown to us: UNAVAILABLE, never a
     * claim either way. */
    return r;
}

static void
pg_txn_free(struct store_txn *base)
{
    struct ptxn *t = (struct ptxn *)base;

    if (t == NULL)
        return;
    if (t->sl != NULL) {
        /* release() rolls back whatever is still open. */
        if (t->begun && t->sl->c != NULL && PQtransactionStatus(t->sl->c) != PQTRANS_IDLE)
            count_trip("txn_rollback");
        release(t->s, t->sl);
    }
    for (size_t i = 0; i < t->nph; i++)
        free(t->ph[i]);
    free(t->ph);
    free(t->phlen);
    pend_clear(t);
    free(t->pend.ops);
    free(t);
}

const struct store_backend store_postgres_backend = {
    .name = "postgres",
    .open = pg_open,
    .close = pg_close,
    .get = pg_get,
    .put = pg_put,
    .del = pg_delete,
    .scan = pg_scan,
    .batch_commit = pg_batch_commit,
    .txn_begin = pg_txn_begin,
    .txn_get = pg_txn_get,
    .txn_put = pg_txn_put,
    .txn_del = pg_txn_delete,
    .txn_scan = pg_txn_scan,
    .txn_commit = pg_txn_commit,
    .txn_free = pg_txn_free,
};
