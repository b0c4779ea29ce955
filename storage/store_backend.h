/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to storage/: how store.c (the factory and the one entry point for every call) talks
 * to a backend. A backend's own store and transaction structs begin with struct store and
 * struct store_txn, whose only member is the backend's table, so store.c can dispatch on it.
 * Batches are backend-neutral (store_batch_new takes no store): a list of copied operations
 * that a backend applies in one atomic write. store.c times every call into
 * authd_store_op_duration_seconds{op} and counts failures in authd_store_errors_total; a
 * backend only does the work (and may count its own extras, such as round trips).
 */
#ifndef AUTHD_STORAGE_STORE_BACKEND_H
#define AUTHD_STORAGE_STORE_BACKEND_H

#include <stddef.h>

#include "storage/store.h"

struct store_backend;

struct store {
    const struct store_backend *be;
};

struct store_txn {
    const struct store_backend *be;
};

struct store_batch_op {
    int del; /* 1: delete key; 0: put key = val */
    unsigned char *key;
    size_t klen;
    unsigned char *val; /* NULL for a delete; malloc'd (also for an empty value) */
    size_t vlen;
};

struct store_batch {
    struct store_batch_op *ops;
    size_t n, cap;
};

struct store_backend {
    const char *name;
    int local; /* store_local(): 1 when the data lives in this process */
    /* arg is what follows "NAME:" in the store spec. Same contract as store_open. */
    int (*open)(const char *arg, const struct store_opts *o, struct store **out, char *errbuf,
                size_t errlen);
    void (*close)(struct store *s);
    int (*get)(struct store *s, const void *key, size_t klen, void **val, size_t *vlen);
    int (*put)(struct store *s, const void *key, size_t klen, const void *val, size_t vlen);
    int (*del)(struct store *s, const void *key, size_t klen);
    int (*scan)(struct store *s, const void *prefix, size_t plen, const void *start_after,
                size_t salen, store_scan_fn fn, void *arg);
    int (*batch_commit)(struct store *s, const struct store_batch *b);
    int (*txn_begin)(struct store *s, struct store_txn **out);
    int (*txn_get)(struct store_txn *t, const void *key, size_t klen, int for_update, void **val,
                   size_t *vlen);
    int (*txn_put)(struct store_txn *t, const void *key, size_t klen, const void *val, size_t vlen);
    int (*txn_del)(struct store_txn *t, const void *key, size_t klen);
    int (*txn_scan)(struct store_txn *t, const void *prefix, size_t plen, store_scan_fn fn,
                    void *arg);
    int (*txn_commit)(struct store_txn *t);
    void (*txn_free)(struct store_txn *t);
    /* store_checkpoint's work, dir already checked to be absolute and free of "..";
     * NULL: unsupported. */
    int (*checkpoint)(struct store *s, const char *dir, char *errbuf, size_t errlen);
};

extern const struct store_backend store_rocksdb_backend;
extern const struct store_backend store_postgres_backend;

/* The smallest key greater than every key starting with prefix (trailing 0xff bytes dropped,
 * the last remaining byte incremented) into out (plen bytes). Its length, or 0 when there is
 * none (empty or all-0xff prefix). */
size_t store_prefix_successor(const void *prefix, size_t plen, unsigned char *out);

/* a < b in bytewise key order (memcmp, then the shorter first). */
int store_key_less(const void *a, size_t alen, const void *b, size_t blen);

/* Appends a copy of a put (del 0) or delete (del 1; val ignored) to b's operations; the
 * batches of store_batch_* and a backend's own lists of pending writes alike. AUTHD_OK or
 * AUTHD_ERR_NOMEM (b unchanged). */
int store_batch_append(struct store_batch *b, int del, const void *key, size_t klen,
                       const void *val, size_t vlen);

/* Copies msg into errbuf (errlen bytes, may be NULL/0) for store_open's caller. */
void store_set_errbuf(char *errbuf, size_t errlen, const char *msg);

#endif
