/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store.h on RocksDB 7.8 through its C API, with a pessimistic TransactionDB so that rows read
 * for update are locked. This is the only file that includes rocksdb/c.h. Options objects are
 * built once at open and shared by every thread; writers are never serialised here, so
 * concurrent synced writes share one WAL fsync through RocksDB's group commit. store.c
 * dispatches here (store_rocksdb_backend) and times every operation.
 */
#include "storage/store.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rocksdb/c.h>

#include "common/err.h"
#include "storage/store_backend.h"

#define STORE_DEFAULT_CACHE_MB 64
#define STORE_DEFAULT_LOCK_TIMEOUT_MS 2000
/* Stack space for a scan's upper bound; longer prefixes fall back to the heap. */
#define STORE_BOUND_STACK 256

struct rstore {
    struct store base; /* first: store.c dispatches on it */
    rocksdb_transactiondb_t *db;
    rocksdb_options_t *opts;
    rocksdb_transactiondb_options_t *tdb_opts;
    rocksdb_transaction_options_t *txn_opts;
    rocksdb_writeoptions_t *wopts;
    rocksdb_readoptions_t *ropts;
    char *data_real; /* the data directory, resolved (realpath): a backup stays out of it */
};

struct rtxn {
    struct store_txn base; /* first */
    struct rstore *s;
    rocksdb_transaction_t *txn;
    int finished; /* commit was attempted: no further reads or writes */
    int committed;
};

static int
starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/*
 * Maps a RocksDB error message (Status::ToString) to our enum and frees it. The C API gives
 * only the text, so the status code is recognised by its fixed leading words: Busy (lock held,
 * or a deadlock), TimedOut (lock wait expired), Expired, Aborted and TryAgain all mean that
 * the caller lost a race and may retry.
 */
static int
map_err(char *err)
{
    int r = AUTHD_ERR_STORAGE;

    if (starts_with(err, "Resource busy") || starts_with(err, "Operation timed out") ||
        starts_with(err, "Operation expired") || starts_with(err, "Operation aborted") ||
        starts_with(err, "Operation failed. Try again") || strstr(err, "Deadlock") != NULL)
        r = AUTHD_ERR_CONFLICT;
    rocksdb_free(err);
    return r;
}

/*
 * RocksDB takes an fcntl lock on <dir>/LOCK. Another process holding it gives "While lock
 * file: ...: Resource temporarily unavailable" (POSIX also allows EACCES for a held lock;
 * failing to open the file is reported with a different text); another store in this process
 * gives "lock hold by current process".
 */
static int
is_lock_error(const char *msg)
{
    if (strstr(msg, "lock hold by current process") != NULL)
        return 1;
    return strstr(msg, "While lock file") != NULL &&
           (strstr(msg, "Resource temporarily unavailable") != NULL ||
            strstr(msg, "Permission denied") != NULL);
}

/* mkdir -p with mode 0700: the store holds password and token hashes. */
static int
make_dirs(const char *dir)
{
    char path[PATH_MAX];
    size_t len = strlen(dir);
    struct stat st;

    if (len == 0 || len >= sizeof(path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(path, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char saved = path[i];
        path[i] = '\0';
        /* An existing component may report EACCES or EROFS rather than EEXIST. */
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            int e = errno;
            if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
                errno = e;
                return -1;
            }
        }
        path[i] = saved;
    }
    if (stat(dir, &st) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

static void
destroy_handles(struct rstore *s)
{
    if (s->ropts != NULL)
        rocksdb_readoptions_destroy(s->ropts);
    if (s->wopts != NULL)
        rocksdb_writeoptions_destroy(s->wopts);
    if (s->txn_opts != NULL)
        rocksdb_transaction_options_destroy(s->txn_opts);
    if (s->tdb_opts != NULL)
        rocksdb_transactiondb_options_destroy(s->tdb_opts);
    if (s->opts != NULL)
        rocksdb_options_destroy(s->opts);
    free(s->data_real);
    free(s);
}

/*
 * Database options: block cache, bloom filters and compaction settings for small records.
 *
 * Filters and indexes are partitioned (a two-level index; the filter cut into blocks of
 * metadata_block_size): a full filter is one block per table file (~1.2 MiB for a 64 MiB file
 * of small records), larger than a shard of the block cache (the LRU cache has 64 shards, so 1
 * MiB each at 64 MiB), so it was never kept and every point read that missed the memtable read
 * and checksummed whole filters from the file: at 1M users the bulk load spent 17 % of its CPU
 * in that pread and most of the rest in the checksum (perf, docs/operations.md). Partitions are
 * 4 KiB blocks cached like data blocks; their top-level index stays pinned.
 */
static rocksdb_options_t *
make_db_options(size_t cache_mb, int bloom_bits)
{
    rocksdb_options_t *opts = rocksdb_options_create();
    rocksdb_block_based_table_options_t *bbo = rocksdb_block_based_options_create();
    rocksdb_cache_t *cache = rocksdb_cache_create_lru(cache_mb * 1024 * 1024);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    rocksdb_options_set_create_if_missing(opts, 1);
    /* Flushes and compactions run in the background on every core (at least two jobs). */
    rocksdb_options_increase_parallelism(opts, ncpu > 2 ? (int)ncpu : 2);
    /* Level sizes follow the data, which keeps space amplification near 1.1 for any size. */
    rocksdb_options_set_level_compaction_dynamic_level_bytes(opts, 1);
    rocksdb_options_set_compression(opts, rocksdb_lz4_compression);
    rocksdb_options_set_bottommost_compression(opts, rocksdb_zstd_compression);
    /* Smooths writeback so that a WAL fsync does not wait behind a burst of dirty SST pages. */
    rocksdb_options_set_bytes_per_sync(opts, 1024 * 1024);
    rocksdb_options_set_keep_log_file_num(opts, 5);

    rocksdb_block_based_options_set_block_cache(bbo, cache);
    if (bloom_bits > 0) {
        /* The setter takes ownership of the filter policy. */
        rocksdb_block_based_options_set_filter_policy(
            bbo, rocksdb_filterpolicy_create_bloom_full(bloom_bits));
        rocksdb_block_based_options_set_partition_filters(bbo, 1);
    }
    rocksdb_block_based_options_set_index_type(
        bbo, rocksdb_block_based_table_index_type_two_level_index_search);
    rocksdb_block_based_options_set_metadata_block_size(bbo, 4096);
    /* Index and filter blocks live in the bounded cache, ahead of data blocks in eviction
     * order; the top level of each file's index and filter, and L0's, stay pinned. */
    rocksdb_block_based_options_set_cache_index_and_filter_blocks(bbo, 1);
    rocksdb_block_based_options_set_cache_index_and_filter_blocks_with_high_priority(bbo, 1);
    rocksdb_block_based_options_set_pin_top_level_index_and_filter(bbo, 1);
    rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(bbo, 1);
    rocksdb_block_based_options_set_format_version(bbo, 5);
    rocksdb_options_set_block_based_table_factory(opts, bbo);

    /* The table factory holds its own references to the cache and options. */
    rocksdb_cache_destroy(cache);
    rocksdb_block_based_options_destroy(bbo);
    return opts;
}

static int
rdb_open(const char *dir, const struct store_opts *o, struct store **out, char *errbuf,
         size_t errlen)
{
    struct rstore *s = NULL;
    char *err = NULL;
    int r = AUTHD_ERR_STORAGE;

    *out = NULL;
    if (make_dirs(dir) != 0) {
        char msg[PATH_MAX + 128];
        snprintf(msg, sizeof(msg), "cannot create data directory %s: %s", dir, strerror(errno));
        store_set_errbuf(errbuf, errlen, msg);
        goto out;
    }
    s = calloc(1, sizeof(*s));
    if (s != NULL)
        s->base.be = &store_rocksdb_backend;
    if (s == NULL) {
        r = AUTHD_ERR_NOMEM;
        store_set_errbuf(errbuf, errlen, "out of memory");
        goto out;
    }

    int timeout = o->lock_timeout_ms > 0 ? o->lock_timeout_ms : STORE_DEFAULT_LOCK_TIMEOUT_MS;
    s->opts =
        make_db_options(o->cache_mb > 0 ? o->cache_mb : STORE_DEFAULT_CACHE_MB, o->bloom_bits);
    s->tdb_opts = rocksdb_transactiondb_options_create();
    /* Transactions and the single writes of store_put/delete/batch (which lock their keys
     * inside the TransactionDB too) wait the same bounded time for a row lock. */
    rocksdb_transactiondb_options_set_transaction_lock_timeout(s->tdb_opts, timeout);
    rocksdb_transactiondb_options_set_default_lock_timeout(s->tdb_opts, timeout);
    s->txn_opts = rocksdb_transaction_options_create();
    /* A lock cycle fails at once with Busy(Deadlock) instead of waiting out the timeout. */
    rocksdb_transaction_options_set_deadlock_detect(s->txn_opts, 1);
    s->wopts = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(s->wopts, o->sync ? 1 : 0);
    s->ropts = rocksdb_readoptions_create();

    s->data_real = realpath(dir, NULL);
    if (s->data_real == NULL) {
        char msg[PATH_MAX + 128];
        snprintf(msg, sizeof(msg), "cannot resolve data directory %s: %s", dir, strerror(errno));
        store_set_errbuf(errbuf, errlen, msg);
        goto out;
    }

    s->db = rocksdb_transactiondb_open(s->opts, s->tdb_opts, dir, &err);
    if (err != NULL) {
        if (is_lock_error(err)) {
            char msg[PATH_MAX + 64];
            snprintf(msg, sizeof(msg), "data directory %s is in use by another process", dir);
            store_set_errbuf(errbuf, errlen, msg);
        } else {
            store_set_errbuf(errbuf, errlen, err);
        }
        rocksdb_free(err);
        goto out;
    }
    *out = &s->base;
    s = NULL;
    r = AUTHD_OK;
out:
    if (s != NULL)
        destroy_handles(s);
    return r;
}

static void
rdb_close(struct store *base)
{
    struct rstore *s = (struct rstore *)base;
    char *err = NULL;

    /* With sync off the tail of the WAL may still sit in the page cache; make it durable.
     * A memtable flush is not needed: reopening replays the WAL. */
    rocksdb_transactiondb_flush_wal(s->db, 1, &err);
    if (err != NULL)
        rocksdb_free(err);
    rocksdb_transactiondb_close(s->db);
    destroy_handles(s);
}

/*
 * Values handed out are the buffers RocksDB's C API allocates for a get: plain malloc()
 * (rocksdb_free() is free()), so they go to the caller without a second copy and
 * store_value_free() can wipe and free() them. A found empty value is malloc(0), which glibc
 * returns as a unique non-NULL pointer, so NULL always means "not found".
 */
static int
finish_get(char *v, size_t n, char *err, void **val, size_t *vlen)
{
    if (err != NULL) {
        /* Defensive: the C API returns no buffer together with an error. */
        free(v);
        return map_err(err);
    }
    if (v == NULL)
        return AUTHD_ERR_NOT_FOUND;
    *val = v;
    *vlen = n;
    return AUTHD_OK;
}

static int
rdb_get(struct store *base, const void *key, size_t klen, void **val, size_t *vlen)
{
    struct rstore *s = (struct rstore *)base;
    char *err = NULL;
    size_t n = 0;

    char *v = rocksdb_transactiondb_get(s->db, s->ropts, key, klen, &n, &err);
    return finish_get(v, n, err, val, vlen);
}

static int
rdb_put(struct store *base, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct rstore *s = (struct rstore *)base;
    char *err = NULL;

    rocksdb_transactiondb_put(s->db, s->wopts, key, klen, val, vlen, &err);
    return err != NULL ? map_err(err) : AUTHD_OK;
}

static int
rdb_delete(struct store *base, const void *key, size_t klen)
{
    struct rstore *s = (struct rstore *)base;
    char *err = NULL;

    rocksdb_transactiondb_delete(s->db, s->wopts, key, klen, &err);
    return err != NULL ? map_err(err) : AUTHD_OK;
}

/*
 * The prefix loop shared by store_scan and store_txn_scan. The iterator must already be
 * positioned; skip (salen bytes, may be NULL) is passed over when it is the first key.
 */
static int
run_scan(rocksdb_iterator_t *it, const void *prefix, size_t plen, const void *skip, size_t salen,
         store_scan_fn fn, void *arg)
{
    char *err = NULL;
    int r = AUTHD_OK;

    if (skip != NULL && rocksdb_iter_valid(it)) {
        size_t kl;
        const char *k = rocksdb_iter_key(it, &kl);
        if (kl == salen && memcmp(k, skip, salen) == 0)
            rocksdb_iter_next(it);
    }
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        /* The upper bound usually ends the range already; this check keeps the result
         * right for prefixes without one (all 0xff) and for any iterator. */
        if (kl < plen || (plen > 0 && memcmp(k, prefix, plen) != 0))
            break;
        const char *v = rocksdb_iter_value(it, &vl);
        int cr = fn(arg, k, kl, v, vl);
        if (cr < 0)
            return cr;
        if (cr > 0)
            return AUTHD_OK;
    }
    rocksdb_iter_get_error(it, &err);
    if (err != NULL)
        r = map_err(err);
    return r;
}

/*
 * Read options for one scan: an upper bound at the prefix's successor lets RocksDB stop at
 * the end of the range instead of stepping over tombstones past it. The bound is a Slice
 * into bound, so bound must outlive the iterator.
 */
static rocksdb_readoptions_t *
scan_ropts(const void *prefix, size_t plen, unsigned char *bound)
{
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    size_t blen = store_prefix_successor(prefix, plen, bound);

    if (blen > 0)
        rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)bound, blen);
    return ro;
}

static int
rdb_scan(struct store *base, const void *prefix, size_t plen, const void *start_after, size_t salen,
         store_scan_fn fn, void *arg)
{
    struct rstore *s = (struct rstore *)base;
    unsigned char stack_bound[STORE_BOUND_STACK];
    unsigned char *bound = stack_bound;
    int r;

    if (plen > sizeof(stack_bound)) {
        bound = malloc(plen);
        if (bound == NULL)
            return AUTHD_ERR_NOMEM;
    }
    rocksdb_readoptions_t *ro = scan_ropts(prefix, plen, bound);
    rocksdb_iterator_t *it = rocksdb_transactiondb_create_iterator(s->db, ro);

    /* Seek to start_after only when it lies at or past the prefix; an earlier start_after
     * would land before the range and end the scan at once. */
    if (start_after != NULL && !store_key_less(start_after, salen, prefix, plen))
        rocksdb_iter_seek(it, start_after, salen);
    else
        rocksdb_iter_seek(it, prefix, plen);
    r = run_scan(it, prefix, plen, start_after, salen, fn, arg);

    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    if (bound != stack_bound)
        free(bound);
    return r;
}

static int
rdb_batch_commit(struct store *base, const struct store_batch *b)
{
    struct rstore *s = (struct rstore *)base;
    char *err = NULL;
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();

    for (size_t i = 0; i < b->n; i++) {
        const struct store_batch_op *op = &b->ops[i];
        if (op->del)
            rocksdb_writebatch_delete(wb, (const char *)op->key, op->klen);
        else
            rocksdb_writebatch_put(wb, (const char *)op->key, op->klen, (const char *)op->val,
                                   op->vlen);
    }
    rocksdb_transactiondb_write(s->db, s->wopts, wb, &err);
    rocksdb_writebatch_destroy(wb);
    return err != NULL ? map_err(err) : AUTHD_OK;
}

static int
rdb_txn_begin(struct store *base, struct store_txn **out)
{
    struct rstore *s = (struct rstore *)base;
    struct rtxn *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return AUTHD_ERR_NOMEM;
    t->base.be = &store_rocksdb_backend;
    t->s = s;
    /* No snapshot: a locked read sees the latest committed value, which is what a
     * read-modify-write under a row lock needs. */
    t->txn = rocksdb_transaction_begin(s->db, s->wopts, s->txn_opts, NULL);
    if (t->txn == NULL) {
        free(t);
        return AUTHD_ERR_STORAGE;
    }
    *out = &t->base;
    return AUTHD_OK;
}

static int
rdb_txn_get(struct store_txn *base, const void *key, size_t klen, int for_update, void **val,
            size_t *vlen)
{
    struct rtxn *t = (struct rtxn *)base;
    char *err = NULL;
    size_t n = 0;
    char *v;

    if (t->finished)
        return AUTHD_ERR_INTERNAL;
    if (for_update)
        v = rocksdb_transaction_get_for_update(t->txn, t->s->ropts, key, klen, &n, 1, &err);
    else
        v = rocksdb_transaction_get(t->txn, t->s->ropts, key, klen, &n, &err);
    return finish_get(v, n, err, val, vlen);
}

static int
rdb_txn_put(struct store_txn *base, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct rtxn *t = (struct rtxn *)base;
    char *err = NULL;

    if (t->finished)
        return AUTHD_ERR_INTERNAL;
    /* Locks the key as well (waiting up to the lock timeout). */
    rocksdb_transaction_put(t->txn, key, klen, val, vlen, &err);
    return err != NULL ? map_err(err) : AUTHD_OK;
}

static int
rdb_txn_delete(struct store_txn *base, const void *key, size_t klen)
{
    struct rtxn *t = (struct rtxn *)base;
    char *err = NULL;

    if (t->finished)
        return AUTHD_ERR_INTERNAL;
    rocksdb_transaction_delete(t->txn, key, klen, &err);
    return err != NULL ? map_err(err) : AUTHD_OK;
}

static int
rdb_txn_scan(struct store_txn *base, const void *prefix, size_t plen, store_scan_fn fn, void *arg)
{
    struct rtxn *t = (struct rtxn *)base;
    unsigned char stack_bound[STORE_BOUND_STACK];
    unsigned char *bound = stack_bound;
    int r;

    if (t->finished)
        return AUTHD_ERR_INTERNAL;
    if (plen > sizeof(stack_bound)) {
        bound = malloc(plen);
        if (bound == NULL)
            return AUTHD_ERR_NOMEM;
    }
    rocksdb_readoptions_t *ro = scan_ropts(prefix, plen, bound);
    /* The transaction's iterator merges its own pending writes over the database. */
    rocksdb_iterator_t *it = rocksdb_transaction_create_iterator(t->txn, ro);

    rocksdb_iter_seek(it, prefix, plen);
    r = run_scan(it, prefix, plen, NULL, 0, fn, arg);

    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    if (bound != stack_bound)
        free(bound);
    return r;
}

static int
rdb_txn_commit(struct store_txn *base)
{
    struct rtxn *t = (struct rtxn *)base;
    char *err = NULL;

    if (t->finished)
        return AUTHD_ERR_INTERNAL;
    t->finished = 1;
    rocksdb_transaction_commit(t->txn, &err);
    if (err != NULL)
        return map_err(err);
    t->committed = 1;
    return AUTHD_OK;
}

static void
rdb_txn_free(struct store_txn *base)
{
    struct rtxn *t = (struct rtxn *)base;
    char *err = NULL;

    if (!t->committed) {
        /* Discards pending writes and releases the row locks now, not at destruction. A
         * failed commit may leave nothing to roll back; its error is not interesting. */
        rocksdb_transaction_rollback(t->txn, &err);
        if (err != NULL)
            rocksdb_free(err);
    }
    rocksdb_transaction_destroy(t->txn);
    free(t);
}

/* a is b, or a directory below it (both resolved, without a trailing '/'). */
static int
path_within(const char *a, const char *b)
{
    size_t n = strlen(b);
    if (strncmp(a, b, n) != 0)
        return 0;
    return a[n] == '\0' || a[n] == '/' || (n == 1 && b[0] == '/');
}

/*
 * dir's parent into parent (PATH_MAX bytes) and dir's last component into *base (pointing into
 * dir); "DIR/" names DIR. 0, or -1 when dir is too long.
 */
static int
split_parent(const char *dir, char *parent, const char **base)
{
    size_t len = strlen(dir);
    if (len == 0 || len >= PATH_MAX)
        return -1;
    memcpy(parent, dir, len + 1);
    while (len > 1 && parent[len - 1] == '/')
        parent[--len] = '\0';
    char *slash = strrchr(parent, '/');
    *base = dir + (slash != NULL ? (size_t)(slash - parent) + 1 : 0);
    if (slash == parent)
        slash[1] = '\0';
    else if (slash != NULL)
        *slash = '\0';
    return 0;
}

/*
 * dir ready for a checkpoint: absent (with its parent present), or an empty directory, which is
 * removed (it is made again, private, by rdb_checkpoint); and neither the live data directory,
 * nor inside it, nor holding it (a copy there would be a copy of itself, or be found by RocksDB
 * as part of the live store). AUTHD_OK, or an error with its reason in errbuf.
 */
static int
checkpoint_target(const struct rstore *s, const char *dir, char *errbuf, size_t errlen)
{
    char msg[PATH_MAX * 2 + 128], parent[PATH_MAX], real[PATH_MAX + 1];
    const char *base = NULL;
    struct stat st;

    if (split_parent(dir, parent, &base) != 0) {
        store_set_errbuf(errbuf, errlen, "backup directory path too long");
        return AUTHD_ERR_INVALID_ARGUMENT;
    }
    int exists = stat(dir, &st) == 0;
    if (!exists && errno != ENOENT) {
        snprintf(msg, sizeof(msg), "backup directory %s: %s", dir, strerror(errno));
        store_set_errbuf(errbuf, errlen, msg);
        return AUTHD_ERR_INVALID_ARGUMENT;
    }
    if (!exists && (stat(parent, &st) != 0 || !S_ISDIR(st.st_mode))) {
        snprintf(msg, sizeof(msg), "the parent directory %s of the backup does not exist", parent);
        store_set_errbuf(errbuf, errlen, msg);
        return AUTHD_ERR_INVALID_ARGUMENT;
    }
    /* Where dir really is (symbolic links followed): the existing dir itself, or its resolved
     * parent and the new name. */
    char *r = realpath(exists ? dir : parent, NULL);
    if (r == NULL) {
        snprintf(msg, sizeof(msg), "backup directory %s: %s", dir, strerror(errno));
        store_set_errbuf(errbuf, errlen, msg);
        return AUTHD_ERR_INVALID_ARGUMENT;
    }
    size_t blen = strcspn(base, "/");
    int n = exists ? snprintf(real, sizeof(real), "%s", r)
                   : snprintf(real, sizeof(real), "%s%s%.*s", r, strcmp(r, "/") == 0 ? "" : "/",
                              (int)blen, base);
    free(r);
    if (n < 0 || (size_t)n >= sizeof(real)) {
        store_set_errbuf(errbuf, errlen, "backup directory path too long");
        return AUTHD_ERR_INVALID_ARGUMENT;
    }
    if (path_within(real, s->data_real) || path_within(s->data_real, real)) {
        snprintf(msg, sizeof(msg), "backup directory %s %s the data directory %s: give one apart",
                 dir,
                 strcmp(real, s->data_real) == 0   ? "is"
                 : path_within(real, s->data_real) ? "is inside"
                                                   : "contains",
                 s->data_real);
        store_set_errbuf(errbuf, errlen, msg);
        return AUTHD_ERR_INVALID_ARGUMENT;
    }
    if (!exists)
        return AUTHD_OK;
    if (!S_ISDIR(st.st_mode)) {
        snprintf(msg, sizeof(msg), "%s exists and is not a directory", dir);
        store_set_errbuf(errbuf, errlen, msg);
        return AUTHD_ERR_INVALID_ARGUMENT;
    }
    /* An empty directory goes; rmdir refuses a non-empty one, so nothing of the operator's can
     * be lost even if a file appears meanwhile. */
    if (rmdir(dir) != 0) {
        int e = errno;
        snprintf(msg, sizeof(msg), "backup directory %s %s", dir,
                 e == ENOTEMPTY || e == EEXIST ? "is not empty: give a new or empty directory"
                                               : strerror(e));
        store_set_errbuf(errbuf, errlen, msg);
        return e == ENOTEMPTY || e == EEXIST ? AUTHD_ERR_ALREADY_EXISTS : AUTHD_ERR_STORAGE;
    }
    return AUTHD_OK;
}

/* The subdirectory of the backup RocksDB writes its checkpoint into (and its .tmp beside it). */
#define CHECKPOINT_SUB ".checkpoint"

/*
 * Moves every entry of the checkpoint in sub up into dir, each made private first (files 0600,
 * directories 0700), then removes sub. A table file hard-linked from the live store shares its
 * inode, so the live file becomes 0600 too: it was never meant for anyone else either. 0, or
 * -1 with errno set.
 */
static int
lift_checkpoint(const char *dir, const char *sub)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -1;
    int sfd = openat(dfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sfd < 0) {
        int e = errno;
        close(dfd);
        errno = e;
        return -1;
    }
    DIR *d = fdopendir(sfd);
    if (d == NULL) {
        int e = errno;
        close(sfd);
        close(dfd);
        errno = e;
        return -1;
    }
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (errno = 0, de = readdir(d)) != NULL) {
        struct stat st;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (fstatat(sfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) ||
            fchmodat(sfd, de->d_name, S_ISDIR(st.st_mode) ? 0700 : 0600, 0) != 0 ||
            renameat(sfd, de->d_name, dfd, de->d_name) != 0) {
            if (errno == 0)
                errno = EINVAL; /* neither a file nor a directory: not what a checkpoint holds */
            rc = -1;
        }
    }
    if (rc == 0 && errno != 0)
        rc = -1;
    int e = errno;
    closedir(d);
    if (rc == 0 && unlinkat(dfd, sub, AT_REMOVEDIR) != 0) {
        e = errno;
        rc = -1;
    }
    close(dfd);
    errno = e;
    return rc;
}

static int
rdb_checkpoint(struct store *base, const char *dir, char *errbuf, size_t errlen)
{
    struct rstore *s = (struct rstore *)base;
    char msg[PATH_MAX + 128], sub[PATH_MAX];
    char *err = NULL;

    int r = checkpoint_target(s, dir, errbuf, errlen);
    if (r != AUTHD_OK)
        return r;
    /* The copy holds password and token hashes, like the data directory, and RocksDB creates
     * what it writes under the process umask. So authd makes dir itself, 0700 before anything
     * is in it, and RocksDB builds its checkpoint in a subdirectory that nobody else can reach;
     * the files are made private before they come up into dir. mkdir fails if dir appeared
     * meanwhile: what is there is someone else's. */
    if (mkdir(dir, 0700) != 0 || chmod(dir, 0700) != 0) {
        int e = errno;
        snprintf(msg, sizeof(msg), "cannot create the backup directory %s: %s", dir, strerror(e));
        store_set_errbuf(errbuf, errlen, msg);
        return e == EEXIST ? AUTHD_ERR_ALREADY_EXISTS : AUTHD_ERR_STORAGE;
    }
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/')
        dl--;
    if (snprintf(sub, sizeof(sub), "%.*s/%s", (int)dl, dir, CHECKPOINT_SUB) >= (int)sizeof(sub)) {
        rmdir(dir);
        store_set_errbuf(errbuf, errlen, "backup directory path too long");
        return AUTHD_ERR_INVALID_ARGUMENT;
    }
    rocksdb_checkpoint_t *cp = rocksdb_transactiondb_checkpoint_object_create(s->db, &err);
    /* log_size_for_flush 0: the memtables are always flushed first, so the copy's table files
     * hold every acknowledged write and its WAL is short. */
    if (err == NULL && cp != NULL)
        rocksdb_checkpoint_create(cp, sub, 0, &err);
    else if (err == NULL)
        r = AUTHD_ERR_NOMEM;
    if (cp != NULL)
        rocksdb_checkpoint_object_destroy(cp);
    if (err != NULL || r != AUTHD_OK) {
        /* RocksDB removes its own partial work; dir goes if that left it empty. */
        rmdir(dir);
        store_set_errbuf(errbuf, errlen, err != NULL ? err : "out of memory");
        if (err != NULL) {
            rocksdb_free(err);
            r = AUTHD_ERR_STORAGE;
        }
        return r;
    }
    if (lift_checkpoint(dir, CHECKPOINT_SUB) != 0) {
        snprintf(msg, sizeof(msg), "cannot move the checkpoint into %s: %s", dir, strerror(errno));
        store_set_errbuf(errbuf, errlen, msg);
        return AUTHD_ERR_STORAGE;
    }
    return AUTHD_OK;
}

const struct store_backend store_rocksdb_backend = {
    .name = "rocksdb",
    .local = 1,
    .open = rdb_open,
    .close = rdb_close,
    .get = rdb_get,
    .put = rdb_put,
    .del = rdb_delete,
    .scan = rdb_scan,
    .batch_commit = rdb_batch_commit,
    .txn_begin = rdb_txn_begin,
    .txn_get = rdb_txn_get,
    .txn_put = rdb_txn_put,
    .txn_del = rdb_txn_delete,
    .txn_scan = rdb_txn_scan,
    .txn_commit = rdb_txn_commit,
    .txn_free = rdb_txn_free,
    .checkpoint = rdb_checkpoint,
};
