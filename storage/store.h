/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The storage interface authd codes against: an ordered key-value store with atomic batches and
 * read-modify-write transactions. Keys and values are opaque bytes. Every acknowledged write is
 * durable (WAL synced; concurrent writers share one fsync by group commit) unless the store was
 * opened with sync off. Two backends: RocksDB (embedded, one process; only store_rocksdb.c
 * includes RocksDB headers) and PostgreSQL (shared by several authd replicas; only
 * store_postgres.c includes libpq headers), chosen by the spec given to store_open.
 *
 * All functions return AUTHD_OK or a negative enum authd_err; out-parameters are cleared on
 * entry. Values handed out are malloc'd copies owned by the caller: release them with
 * store_value_free(), which wipes them (records hold password hashes and token hashes).
 * A store is safe to use from many threads at once; a batch or a transaction belongs to one
 * thread at a time.
 */
#ifndef AUTHD_STORAGE_STORE_H
#define AUTHD_STORAGE_STORE_H

#include <stddef.h>

struct store;
struct store_batch;
struct store_txn;

struct store_opts {
    int sync;        /* 1 (default via store_opts_default): fsync the WAL before acknowledging */
    size_t cache_mb; /* block cache size; 0 = 64 */
    int lock_timeout_ms; /* how long a transaction waits for a row lock; 0 = 2000 */
    /* PostgreSQL only: */
    int pool_size;       /* connections kept (authd: --workers); 0 = 8 */
    int connect_wait_ms; /* how long store_open waits for an unreachable database; 0 = 30000 */
    const char *schema;  /* schema holding authd's tables ([a-z_][a-z0-9_]*); NULL = "authd" */
    /* RocksDB only: bloom filter bits per key (store_opts_default: 10; 0 = no filters). The
     * filters are partitioned (small blocks in the block cache, like the index), so a large
     * store's filters never outgrow a cache shard. Applies to table files written from then on. */
    int bloom_bits;
};

/* Fills o with the defaults (sync on). */
void store_opts_default(struct store_opts *o);

/*
 * Opens (creating if needed) the store that spec names:
 *   rocksdb:DIR         a RocksDB directory (so is a spec without one of these two prefixes);
 *   postgres:CONNINFO   a libpq key=value string or postgresql:// URI. The password comes from
 *                       PGPASSFILE / PGPASSWORD (or ~/.pgpass), never from the command line.
 *                       Creates or migrates the schema (several replicas may start at once) and
 *                       waits up to o->connect_wait_ms for an unreachable database.
 * On failure returns AUTHD_ERR_STORAGE (AUTHD_ERR_UNAVAILABLE: the database stayed
 * unreachable) and writes a one-line reason into errbuf (errlen bytes, may be 0; a conninfo in
 * it has its password redacted): a directory held by another process gives "data directory
 * <dir> is in use by another process".
 */
int store_open(const char *spec, const struct store_opts *o, struct store **out, char *errbuf,
               size_t errlen);

/*
 * Writes spec into out (outlen bytes, always terminated) with any password removed (a
 * password=... key and a URI's user:password@), for logs and error messages.
 */
void store_spec_redact(const char *spec, char *out, size_t outlen);

/*
 * 1 when s keeps its data in this process (RocksDB): a read never waits on a network round trip
 * and no other process holds its row locks, so cheap handlers may read it on a completion-queue
 * thread (rpc.h: RPC_TRY_INLINE); 0 for a shared database. NULL gives 0.
 */
int store_local(const struct store *s);

/* Flushes and closes. NULL is a no-op. No batch or transaction may be open. */
void store_close(struct store *s);

/*
 * An online, consistent copy of the whole store in dir (an absolute path on this host), while
 * the store stays in use: every write acknowledged before the call began is in it, and it opens
 * as a store of its own (store_open "rocksdb:DIR"). RocksDB makes it with its checkpoint
 * (memtables flushed; immutable table files hard-linked when dir is on the same file system,
 * copied otherwise). dir and every file in it are private (0700/0600) from the start: authd
 * makes dir 0700 itself and RocksDB writes into a subdirectory of it, whose files come up into
 * dir made 0600. dir must not exist (its parent must) or be an empty directory; it must have
 * no ".." component and be neither the data directory, nor inside it, nor hold it.
 * AUTHD_OK; AUTHD_ERR_INVALID_ARGUMENT (dir not absolute, with "..", overlapping the data
 * directory, not a directory, parent missing),
 * AUTHD_ERR_ALREADY_EXISTS (dir not empty), AUTHD_ERR_UNIMPLEMENTED (PostgreSQL: its own tools
 * back it up), AUTHD_ERR_STORAGE; with a one-line reason in errbuf (errlen bytes, may be 0).
 * Thread-safe; it may take a while (a flush, then links or copies).
 */
int store_checkpoint(struct store *s, const char *dir, char *errbuf, size_t errlen);

/* 1 when path (borrowed) has a ".." component ("/a/../b", "/a/.."), else 0. Pure. */
int store_path_has_dotdot(const char *path);

/* Wipes and frees a value returned by a get. NULL is a no-op. */
void store_value_free(void *val, size_t vlen);

/*
 * Reads key. AUTHD_OK with *val and *vlen set, or AUTHD_ERR_NOT_FOUND, or AUTHD_ERR_STORAGE.
 * Every call below may also return AUTHD_ERR_UNAVAILABLE: the database (PostgreSQL) cannot be
 * reached right now; nothing was decided, the caller fails the request and may try later.
 */
int store_get(struct store *s, const void *key, size_t klen, void **val, size_t *vlen);

/* Writes one key (durably). */
int store_put(struct store *s, const void *key, size_t klen, const void *val, size_t vlen);

/* Deletes one key; deleting an absent key is not an error. */
int store_delete(struct store *s, const void *key, size_t klen);

/*
 * Scan callback: return 0 to go on, 1 to stop early, or a negative enum authd_err to stop and
 * make the scan return it. key/val are borrowed for the duration of the call only.
 */
typedef int (*store_scan_fn)(void *arg, const void *key, size_t klen, const void *val, size_t vlen);

/*
 * Calls fn for every key that starts with prefix, in key order, beginning after start_after
 * when it is not NULL (salen bytes; used for paging). Returns AUTHD_OK, the callback's
 * negative value, or AUTHD_ERR_STORAGE.
 */
int store_scan(struct store *s, const void *prefix, size_t plen, const void *start_after,
               size_t salen, store_scan_fn fn, void *arg);

/* ---- atomic batches: all writes apply, or none ---------------------------------------- */

/* A new empty batch, or NULL on NOMEM. */
struct store_batch *store_batch_new(void);
int store_batch_put(struct store_batch *b, const void *key, size_t klen, const void *val,
                    size_t vlen);
int store_batch_delete(struct store_batch *b, const void *key, size_t klen);
/* Applies the batch atomically and durably. The batch stays owned by the caller. */
int store_batch_commit(struct store *s, struct store_batch *b);
/* NULL is a no-op. */
void store_batch_free(struct store_batch *b);

/* ---- read-modify-write transactions (pessimistic: rows read for update are locked) ----- */

int store_txn_begin(struct store *s, struct store_txn **out);

/*
 * Reads key inside the transaction, seeing its own writes. With for_update set the row is
 * locked until commit or free, so no other transaction can change it in between (another
 * transaction that wants it waits up to lock_timeout_ms, then gets AUTHD_ERR_CONFLICT).
 * AUTHD_OK, AUTHD_ERR_NOT_FOUND, AUTHD_ERR_CONFLICT or AUTHD_ERR_STORAGE.
 */
int store_txn_get(struct store_txn *t, const void *key, size_t klen, int for_update, void **val,
                  size_t *vlen);
int store_txn_put(struct store_txn *t, const void *key, size_t klen, const void *val, size_t vlen);
int store_txn_delete(struct store_txn *t, const void *key, size_t klen);

/* Like store_scan, over the transaction's view (its own writes included); no locks taken. */
int store_txn_scan(struct store_txn *t, const void *prefix, size_t plen, store_scan_fn fn,
                   void *arg);

/*
 * Commits durably. AUTHD_OK, AUTHD_ERR_CONFLICT (lost a race or a lock wait: nothing was
 * written; the caller may retry the whole transaction) or AUTHD_ERR_STORAGE. Either way the
 * transaction is finished: call store_txn_free() next.
 */
int store_txn_commit(struct store_txn *t);

/* Rolls back when not committed, releases locks, frees. NULL is a no-op. */
void store_txn_free(struct store_txn *t);

#endif
