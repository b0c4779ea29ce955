/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store factory and the one entry point of every store.h call: picks the backend from the
 * spec (rocksdb:DIR, postgres:CONNINFO, or a bare directory), dispatches through its table,
 * and times every operation into authd_store_op_duration_seconds{op} and its failures into
 * authd_store_errors_total{op,reason}, the same for both backends. Batches live here: they
 * are built before a store is named (store_batch_new takes none).
 */
#include "storage/store.h"

#include <stdint.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/metrics.h"
#include "common/secret.h"
#include "storage/store_backend.h"

#define STORE_DEFAULT_CACHE_MB 64
#define STORE_DEFAULT_LOCK_TIMEOUT_MS 2000
#define STORE_DEFAULT_BLOOM_BITS 10

#define STORE_OP_DURATION "authd_store_op_duration_seconds"
#define STORE_ERRORS "authd_store_errors_total"

void
store_opts_default(struct store_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->sync = 1;
    o->cache_mb = STORE_DEFAULT_CACHE_MB;
    o->lock_timeout_ms = STORE_DEFAULT_LOCK_TIMEOUT_MS;
    o->bloom_bits = STORE_DEFAULT_BLOOM_BITS;
}

/*
 * Records an operation that began at t0 (metrics_now_ns) and ended with r, and returns r. Only
 * the store's own failures count as errors: not-found is an answer, and whatever a scan
 * callback returns is the caller's. A scan's time includes its callback's.
 */
static int
timed(const char *op, uint64_t t0, int r)
{
    char labels[64];
    metrics_labels(labels, sizeof(labels), "op", op, NULL);
    metrics_observe(STORE_OP_DURATION, labels, (double)(metrics_now_ns() - t0) / 1e9);
    if (r == AUTHD_ERR_CONFLICT || r == AUTHD_ERR_STORAGE || r == AUTHD_ERR_UNAVAILABLE) {
        metrics_labels(labels, sizeof(labels), "op", op, "reason", authd_err_reason(r), NULL);
        metrics_count(STORE_ERRORS, labels, 1);
    }
    return r;
}

void
store_set_errbuf(char *errbuf, size_t errlen, const char *msg)
{
    if (errbuf != NULL && errlen > 0)
        snprintf(errbuf, errlen, "%s", msg);
}

static int
has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

/* Appends n bytes of s to out (pos in/out), keeping room for the terminator. */
static void
put_bytes(char *out, size_t outlen, size_t *pos, const char *s, size_t n)
{
    if (*pos + n >= outlen)
        n = *pos + 1 < outlen ? outlen - *pos - 1 : 0;
    memcpy(out + *pos, s, n);
    *pos += n;
    out[*pos] = '\0';
}

void
store_spec_redact(const char *spec, char *out, size_t outlen)
{
    size_t pos = 0;

    if (outlen == 0)
        return;
    out[0] = '\0';
    if (spec == NULL)
        return;
    /* The URI form, alone or after "postgres:" (libpq's two prefixes). */
    const char *rest = has_prefix(spec, "postgres:") ? spec + 9 : spec;
    if (has_prefix(rest, "postgres://") || has_prefix(rest, "postgresql://")) {
        /* user:password@host...: drop ":password" from the userinfo, which ends at the last
         * '@' before the path (libpq: '/' ends the authority; '?' may be in a password). */
        const char *auth = strstr(rest, "://") + 3;
        const char *end = auth + strcspn(auth, "/");
        const char *at = NULL;
        for (const char *p = auth; p < end; p++)
            if (*p == '@')
                at = p;
        if (at != NULL) {
            const char *colon = memchr(auth, ':', (size_t)(at - auth));
            if (colon != NULL) {
                put_bytes(out, outlen, &pos, spec, (size_t)(colon - spec));
                put_bytes(out, outlen, &pos, ":REDACTED", 9);
                spec = at;
            }
        }
        /* password=... and sslpassword=... query parameters. */
        const char *q = strchr(spec, '?');
        if (q == NULL) {
            put_bytes(out, outlen, &pos, spec, strlen(spec));
            return;
        }
        put_bytes(out, outlen, &pos, spec, (size_t)(q - spec));
        spec = q;
        while (*spec != '\0') {
            size_t n = strcspn(spec + 1, "&") + 1; /* one "?key=value" or "&key=value" */
            size_t kl = has_prefix(spec + 1, "password=")      ? 9
                        : has_prefix(spec + 1, "sslpassword=") ? 12
                                                               : 0;
            put_bytes(out, outlen, &pos, spec, kl > 0 ? kl + 1 : n);
            if (kl > 0)
                put_bytes(out, outlen, &pos, "REDACTED", 8);
            spec += n;
        }
        return;
    }
    /* key = value words, separated by any white space (as libpq reads them): the value of
     * password and sslpassword (quoted or not, with backslash escapes) is replaced. */
    while (*spec != '\0') {
        const char *p = spec;
        int word_start = pos == 0 || isspace((unsigned char)out[pos - 1]) || out[pos - 1] == ':';
        size_t kl = !word_start                    ? 0
                    : has_prefix(p, "password")    ? 8
                    : has_prefix(p, "sslpassword") ? 11
                                                   : 0;
        if (kl > 0) {
            const char *e = p + kl;
            while (isspace((unsigned char)*e))
                e++;
            if (*e == '=') {
                e++;
                while (isspace((unsigned char)*e))
                    e++;
                put_bytes(out, outlen, &pos, p, kl);
                put_bytes(out, outlen, &pos, "=REDACTED", 9);
                int quoted = *e == '\'';
                if (quoted)
                    e++;
                for (; *e != '\0'; e++) {
                    if (*e == '\\' && e[1] != '\0') {
                        e++;
                        continue;
                    }
                    if (quoted ? *e == '\'' : isspace((unsigned char)*e) != 0)
                        break;
                }
                if (quoted && *e == '\'')
                    e++;
                spec = e;
                continue;
            }
        }
        put_bytes(out, outlen, &pos, spec, 1);
        spec++;
    }
}

int
store_open(const char *spec, const struct store_opts *o, struct store **out, char *errbuf,
           size_t errlen)
{
    struct store_opts def;
    const struct store_backend *be = &store_rocksdb_backend;
    const char *arg = spec;

    *out = NULL;
    store_set_errbuf(errbuf, errlen, "");
    metrics_describe(STORE_OP_DURATION, METRICS_HISTOGRAM,
                     "Latency of storage operations (RocksDB or PostgreSQL), in seconds, by "
                     "operation.");
    metrics_describe(STORE_ERRORS, METRICS_COUNTER,
                     "Storage operations that failed, by operation and reason (conflict: a lost "
                     "lock wait, deadlock or serialization failure, retried by callers; "
                     "unavailable: the database cannot be reached; storage: an I/O or database "
                     "error).");
    if (o == NULL) {
        store_opts_default(&def);
        o = &def;
    }
    if (spec == NULL) {
        store_set_errbuf(errbuf, errlen, "no store given");
        return AUTHD_ERR_STORAGE;
    }
    if (has_prefix(spec, "rocksdb:")) {
        arg = spec + strlen("rocksdb:");
    } else if (has_prefix(spec, "postgres://") || has_prefix(spec, "postgresql://")) {
        be = &store_postgres_backend; /* a bare URI names itself */
    } else if (has_prefix(spec, "postgres:")) {
        be = &store_postgres_backend;
        arg = spec + strlen("postgres:");
    }
    if (*arg == '\0') {
        store_set_errbuf(errbuf, errlen, "empty store spec (rocksdb:DIR or postgres:CONNINFO)");
        return AUTHD_ERR_STORAGE;
    }
    return be->open(arg, o, out, errbuf, errlen);
}

int
store_local(const struct store *s)
{
    return s != NULL && s->be->local;
}

void
store_close(struct store *s)
{
    if (s != NULL)
        s->be->close(s);
}

int
store_path_has_dotdot(const char *path)
{
    for (const char *p = path; *p != '\0';) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return 1;
        p += n;
        p += strspn(p, "/");
    }
    return 0;
}

int
store_checkpoint(struct store *s, const char *dir, char *errbuf, size_t errlen)
{
    store_set_errbuf(errbuf, errlen, "");
    if (s->be->checkpoint == NULL) {
        store_set_errbuf(errbuf, errlen, "this store cannot make a backup of itself");
        return AUTHD_ERR_UNIMPLEMENTED;
    }
    /* Relative to what? authd's working directory is nothing an operator should guess. */
    if (dir == NULL || dir[0] != '/') {
        store_set_errbuf(errbuf, errlen, "the backup directory must be an absolute path");
        return AUTHD_ERR_INVALID_ARGUMENT;
    }
    /* A ".." hides where the copy lands (and whether it is out of the data directory): the
     * operator names the place plainly. */
    if (store_path_has_dotdot(dir)) {
        char msg[512];
        snprintf(msg, sizeof(msg),
                 "the backup directory %.400s has a '..' component: give it "
                 "without one",
                 dir);
        store_set_errbuf(errbuf, errlen, msg);
        return AUTHD_ERR_INVALID_ARGUMENT;
    }
    uint64_t t0 = metrics_now_ns();
    return timed("checkpoint", t0, s->be->checkpoint(s, dir, errbuf, errlen));
}

void
store_value_free(void *val, size_t vlen)
{
    secret_freezero(val, vlen);
}

int
store_get(struct store *s, const void *key, size_t klen, void **val, size_t *vlen)
{
    *val = NULL;
    *vlen = 0;
    uint64_t t0 = metrics_now_ns();
    return timed("get", t0, s->be->get(s, key, klen, val, vlen));
}

int
store_put(struct store *s, const void *key, size_t klen, const void *val, size_t vlen)
{
    uint64_t t0 = metrics_now_ns();
    return timed("put", t0, s->be->put(s, key, klen, val, vlen));
}

int
store_delete(struct store *s, const void *key, size_t klen)
{
    uint64_t t0 = metrics_now_ns();
    return timed("delete", t0, s->be->del(s, key, klen));
}

int
store_scan(struct store *s, const void *prefix, size_t plen, const void *start_after, size_t salen,
           store_scan_fn fn, void *arg)
{
    if (prefix == NULL) /* a whole-store scan */
        prefix = "";
    uint64_t t0 = metrics_now_ns();
    return timed("scan", t0, s->be->scan(s, prefix, plen, start_after, salen, fn, arg));
}

size_t
store_prefix_successor(const void *prefix, size_t plen, unsigned char *out)
{
    const unsigned char *p = prefix;

    while (plen > 0 && p[plen - 1] == 0xff)
        plen--;
    if (plen == 0)
        return 0;
    memcpy(out, p, plen);
    out[plen - 1]++;
    return plen;
}

int
store_key_less(const void *a, size_t alen, const void *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n > 0 ? memcmp(a, b, n) : 0;
    return c < 0 || (c == 0 && alen < blen);
}

/* ---- batches ------------------------------------------------------------------------------ */

struct store_batch *
store_batch_new(void)
{
    return calloc(1, sizeof(struct store_batch));
}

static unsigned char *
dup_bytes(const void *p, size_t n)
{
    unsigned char *d = malloc(n > 0 ? n : 1);
    if (d != NULL && n > 0)
        memcpy(d, p, n);
    return d;
}

int
store_batch_append(struct store_batch *b, int del, const void *key, size_t klen, const void *val,
                   size_t vlen)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 8;
        struct store_batch_op *ops = realloc(b->ops, cap * sizeof(*ops));
        if (ops == NULL)
            return AUTHD_ERR_NOMEM;
        b->ops = ops;
        b->cap = cap;
    }
    struct store_batch_op *op = &b->ops[b->n];
    op->del = del;
    op->klen = klen;
    op->vlen = del ? 0 : vlen;
    op->key = dup_bytes(key, klen);
    op->val = del ? NULL : dup_bytes(val, vlen);
    if (op->key == NULL || (!del && op->val == NULL)) {
        free(op->key);
        if (op->val != NULL)
            secret_freezero(op->val, op->vlen); /* values are records: wiped like the rest */
        return AUTHD_ERR_NOMEM;
    }
    b->n++;
    return AUTHD_OK;
}

int
store_batch_put(struct store_batch *b, const void *key, size_t klen, const void *val, size_t vlen)
{
    return store_batch_append(b, 0, key, klen, val, vlen);
}

int
store_batch_delete(struct store_batch *b, const void *key, size_t klen)
{
    return store_batch_append(b, 1, key, klen, NULL, 0);
}

int
store_batch_commit(struct store *s, struct store_batch *b)
{
    uint64_t t0 = metrics_now_ns();
    return timed("batch_commit", t0, s->be->batch_commit(s, b));
}

void
store_batch_free(struct store_batch *b)
{
    if (b == NULL)
        return;
    /* Values are records (password and token hashes): wiped. */
    for (size_t i = 0; i < b->n; i++) {
        free(b->ops[i].key);
        if (b->ops[i].val != NULL)
            secret_freezero(b->ops[i].val, b->ops[i].vlen);
    }
    free(b->ops);
    free(b);
}

/* ---- transactions ------------------------------------------------------------------------- */

int
store_txn_begin(struct store *s, struct store_txn **out)
{
    *out = NULL;
    return s->be->txn_begin(s, out);
}

int
store_txn_get(struct store_txn *t, const void *key, size_t klen, int for_update, void **val,
              size_t *vlen)
{
    *val = NULL;
    *vlen = 0;
    uint64_t t0 = metrics_now_ns();
    int r = t->be->txn_get(t, key, klen, for_update, val, vlen);
    /* A read for update waits for the row lock: timed apart from plain reads. */
    return timed(for_update ? "txn_get_for_update" : "txn_get", t0, r);
}

int
store_txn_put(struct store_txn *t, const void *key, size_t klen, const void *val, size_t vlen)
{
    uint64_t t0 = metrics_now_ns();
    return timed("txn_put", t0, t->be->txn_put(t, key, klen, val, vlen));
}

int
store_txn_delete(struct store_txn *t, const void *key, size_t klen)
{
    uint64_t t0 = metrics_now_ns();
    return timed("txn_delete", t0, t->be->txn_del(t, key, klen));
}

int
store_txn_scan(struct store_txn *t, const void *prefix, size_t plen, store_scan_fn fn, void *arg)
{
    if (prefix == NULL)
        prefix = "";
    uint64_t t0 = metrics_now_ns();
    return timed("txn_scan", t0, t->be->txn_scan(t, prefix, plen, fn, arg));
}

int
store_txn_commit(struct store_txn *t)
{
    uint64_t t0 = metrics_now_ns();
    return timed("txn_commit", t0, t->be->txn_commit(t));
}

void
store_txn_free(struct store_txn *t)
{
    if (t != NULL)
        t->be->txn_free(t);
}
