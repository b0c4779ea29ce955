/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for storage/store.h on the RocksDB backend: point reads and writes, prefix scans
 * and paging, atomic batches, transactions and their row locks (including a real race on a
 * unique index), reopening, and the data-directory lock against this and another process.
 * Every test runs in its own mkdtemp directory, removed afterwards.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/err.h"
#include "storage/store.h"

#define MAX_KEYS 32
#define RACE_THREADS 8
#define RACE_ROUNDS 10

struct fixture {
    char root[PATH_MAX / 2]; /* the mkdtemp directory */
    char dbdir[PATH_MAX];    /* root/data/db: two levels that do not exist yet */
    struct store *s;
};

/* Keys a scan callback saw, in order. */
struct seen {
    char keys[MAX_KEYS][64];
    size_t klens[MAX_KEYS];
    size_t n;
    size_t stop_after; /* return 1 after this many keys (0: never) */
    size_t fail_at;    /* return fail_code on this call, 1-based (0: never) */
    int fail_code;
};

static int
on_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void
rm_rf(const char *dir)
{
    nftw(dir, on_rm, 16, FTW_DEPTH | FTW_PHYS);
}

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    const char *tmp = getenv("TMPDIR");

    if (f == NULL)
        return -1;
    snprintf(f->root, sizeof(f->root), "%s/authd-store-XXXXXX", tmp != NULL ? tmp : "/tmp");
    if (mkdtemp(f->root) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->dbdir, sizeof(f->dbdir), "%s/data/db", f->root);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    store_close(f->s);
    rm_rf(f->root);
    free(f);
    return 0;
}

/* Opens f->dbdir with defaults and the given lock timeout (0 = default). */
static void
open_store(struct fixture *f, int lock_timeout_ms)
{
    struct store_opts o;
    char errbuf[256];

    store_opts_default(&o);
    o.lock_timeout_ms = lock_timeout_ms;
    int r = store_open(f->dbdir, &o, &f->s, errbuf, sizeof(errbuf));
    if (r != AUTHD_OK)
        fail_msg("store_open: %s", errbuf);
    assert_non_null(f->s);
}

static void
put_str(struct store *s, const char *k, const char *v)
{
    assert_int_equal(store_put(s, k, strlen(k), v, strlen(v)), AUTHD_OK);
}

/* Asserts that key k holds the string v. */
static void
check_value(struct store *s, const char *k, const char *v)
{
    void *val = NULL;
    size_t vlen = 0;

    assert_int_equal(store_get(s, k, strlen(k), &val, &vlen), AUTHD_OK);
    assert_int_equal(vlen, strlen(v));
    assert_memory_equal(val, v, vlen);
    store_value_free(val, vlen);
}

static void
check_missing(struct store *s, const char *k)
{
    void *val = (void *)1;
    size_t vlen = 99;

    assert_int_equal(store_get(s, k, strlen(k), &val, &vlen), AUTHD_ERR_NOT_FOUND);
    assert_null(val);
    assert_int_equal(vlen, 0);
}

static int
on_collect(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct seen *w = arg;

    (void)val;
    (void)vlen;
    if (w->fail_at != 0 && w->n + 1 == w->fail_at)
        return w->fail_code;
    if (w->n >= MAX_KEYS || klen >= sizeof(w->keys[0]))
        return AUTHD_ERR_TOO_LARGE;
    memcpy(w->keys[w->n], key, klen);
    w->klens[w->n] = klen;
    w->n++;
    return w->stop_after != 0 && w->n >= w->stop_after ? 1 : 0;
}

/* Asserts that the scan saw exactly the n keys in want (each want[i] has length lens[i]). */
static void
check_seen(const struct seen *w, const char *const *want, const size_t *lens, size_t n)
{
    assert_int_equal(w->n, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(w->klens[i], lens[i]);
        assert_memory_equal(w->keys[i], want[i], lens[i]);
    }
}

static double
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void
test_put_get_roundtrip(void **state)
{
    struct fixture *f = *state;
    static const unsigned char key[] = {'u', 0, 'k', 0xff};
    static const unsigned char val[] = {0, 'a', 0, 0, 0xff, 'b', 0};
    void *got = NULL;
    size_t glen = 0;

    open_store(f, 0);
    assert_int_equal(store_put(f->s, key, sizeof(key), val, sizeof(val)), AUTHD_OK);
    assert_int_equal(store_get(f->s, key, sizeof(key), &got, &glen), AUTHD_OK);
    assert_int_equal(glen, sizeof(val));
    assert_memory_equal(got, val, sizeof(val));
    store_value_free(got, glen);

    /* The key's bytes after the NUL matter: a prefix of it is another key. */
    assert_int_equal(store_get(f->s, key, 1, &got, &glen), AUTHD_ERR_NOT_FOUND);

    /* An empty value is found, not mistaken for a missing key. */
    assert_int_equal(store_put(f->s, "empty", 5, "", 0), AUTHD_OK);
    got = NULL;
    assert_int_equal(store_get(f->s, "empty", 5, &got, &glen), AUTHD_OK);
    assert_int_equal(glen, 0);
    store_value_free(got, glen);

    put_str(f->s, "k", "one");
    put_str(f->s, "k", "two");
    check_value(f->s, "k", "two");
}

static void
test_get_missing(void **state)
{
    struct fixture *f = *state;

    open_store(f, 0);
    check_missing(f->s, "nope");
}

static void
test_delete(void **state)
{
    struct fixture *f = *state;

    open_store(f, 0);
    put_str(f->s, "k", "v");
    put_str(f->s, "k2", "v2");
    assert_int_equal(store_delete(f->s, "k", 1), AUTHD_OK);
    check_missing(f->s, "k");
    check_value(f->s, "k2", "v2");
    assert_int_equal(store_delete(f->s, "absent", 6), AUTHD_OK);
}

/* Keys around the prefix "user/", including ones that sort just before and after it. */
static void
fill_scan_keys(struct store *s)
{
    static const char *const keys[] = {"use",   "user.", "user/", "user/a", "user/c",
                                       "user0", "userz", "a",     "zzz",    "user/b\0x"};
    static const size_t lens[] = {3, 5, 5, 6, 6, 5, 5, 1, 3, 8};

    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
        assert_int_equal(store_put(s, keys[i], lens[i], "v", 1), AUTHD_OK);
}

static void
test_scan_prefix(void **state)
{
    struct fixture *f = *state;
    static const char *const want[] = {"user/", "user/a", "user/b\0x", "user/c"};
    static const size_t lens[] = {5, 6, 8, 6};
    struct seen w;

    open_store(f, 0);
    fill_scan_keys(f->s);

    memset(&w, 0, sizeof(w));
    assert_int_equal(store_scan(f->s, "user/", 5, NULL, 0, on_collect, &w), AUTHD_OK);
    check_seen(&w, want, lens, 4);

    /* A prefix no key has. */
    memset(&w, 0, sizeof(w));
    assert_int_equal(store_scan(f->s, "nobody/", 7, NULL, 0, on_collect, &w), AUTHD_OK);
    assert_int_equal(w.n, 0);

    /* No prefix: every key in order. */
    memset(&w, 0, sizeof(w));
    assert_int_equal(store_scan(f->s, NULL, 0, NULL, 0, on_collect, &w), AUTHD_OK);
    assert_int_equal(w.n, 10);
    assert_memory_equal(w.keys[0], "a", 1);
    assert_memory_equal(w.keys[9], "zzz", 3);

    /* A prefix ending in 0xff has no simple successor; the scan must still end at it. */
    assert_int_equal(store_put(f->s, "p\xff", 2, "v", 1), AUTHD_OK);
    assert_int_equal(store_put(f->s, "p\xff\x01", 3, "v", 1), AUTHD_OK);
    assert_int_equal(store_put(f->s, "q", 1, "v", 1), AUTHD_OK);
    memset(&w, 0, sizeof(w));
    assert_int_equal(store_scan(f->s, "p\xff", 2, NULL, 0, on_collect, &w), AUTHD_OK);
    static const char *const want_ff[] = {"p\xff", "p\xff\x01"};
    static const size_t lens_ff[] = {2, 3};
    check_seen(&w, want_ff, lens_ff, 2);
}

static void
test_scan_paging(void **state)
{
    struct fixture *f = *state;
    static const char *const want[] = {"user/", "user/a", "user/b\0x", "user/c"};
    static const size_t lens[] = {5, 6, 8, 6};
    struct seen w;

    open_store(f, 0);
    fill_scan_keys(f->s);

    /* Pages of two: the second page starts after the last key of the first. */
    memset(&w, 0, sizeof(w));
    w.stop_after = 2;
    assert_int_equal(store_scan(f->s, "user/", 5, NULL, 0, on_collect, &w), AUTHD_OK);
    check_seen(&w, want, lens, 2);
    memset(&w, 0, sizeof(w));
    assert_int_equal(store_scan(f->s, "user/", 5, "user/a", 6, on_collect, &w), AUTHD_OK);
    check_seen(&w, want + 2, lens + 2, 2);

    /* start_after that is not itself a key: begin at the next one. */
    memset(&w, 0, sizeof(w));
    assert_int_equal(store_scan(f->s, "user/", 5, "user/aa", 7, on_collect, &w), AUTHD_OK);
    check_seen(&w, want + 2, lens + 2, 2);

    /* start_after before the prefix range: the whole range. */
    memset(&w, 0, sizeof(w));
    assert_int_equal(store_scan(f->s, "user/", 5, "a", 1, on_collect, &w), AUTHD_OK);
    check_seen(&w, want, lens, 4);

    /* start_after the last key, or past the range: nothing. */
    memset(&w, 0, sizeof(w));
    assert_int_equal(store_scan(f->s, "user/", 5, "user/c", 6, on_collect, &w), AUTHD_OK);
    assert_int_equal(w.n, 0);
    memset(&w, 0, sizeof(w));
    assert_int_equal(store_scan(f->s, "user/", 5, "zz", 2, on_collect, &w), AUTHD_OK);
    assert_int_equal(w.n, 0);
}

static void
test_scan_stop_and_error(void **state)
{
    struct fixture *f = *state;
    struct seen w;

    open_store(f, 0);
    fill_scan_keys(f->s);

    memset(&w, 0, sizeof(w));
    w.stop_after = 1;
    assert_int_equal(store_scan(f->s, "user/", 5, NULL, 0, on_collect, &w), AUTHD_OK);
    assert_int_equal(w.n, 1);

    /* A negative callback result stops the scan and becomes its result. */
    memset(&w, 0, sizeof(w));
    w.fail_at = 2;
    w.fail_code = AUTHD_ERR_INVALID_ARGUMENT;
    assert_int_equal(store_scan(f->s, "user/", 5, NULL, 0, on_collect, &w),
                     AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(w.n, 1);
}

static void
test_batch(void **state)
{
    struct fixture *f = *state;
    struct store_batch *b;

    open_store(f, 0);
    put_str(f->s, "old", "x");

    b = store_batch_new();
    assert_non_null(b);
    assert_int_equal(store_batch_put(b, "b1", 2, "1", 1), AUTHD_OK);
    assert_int_equal(store_batch_put(b, "b2", 2, "2", 1), AUTHD_OK);
    assert_int_equal(store_batch_put(b, "b3", 2, "3", 1), AUTHD_OK);
    assert_int_equal(store_batch_delete(b, "old", 3), AUTHD_OK);
    /* Nothing is visible before the commit. */
    check_missing(f->s, "b1");
    check_value(f->s, "old", "x");
    assert_int_equal(store_batch_commit(f->s, b), AUTHD_OK);
    store_batch_free(b);
    check_value(f->s, "b1", "1");
    check_value(f->s, "b2", "2");
    check_value(f->s, "b3", "3");
    check_missing(f->s, "old");

    /* A batch that is never committed writes nothing. */
    b = store_batch_new();
    assert_non_null(b);
    assert_int_equal(store_batch_put(b, "n1", 2, "1", 1), AUTHD_OK);
    assert_int_equal(store_batch_delete(b, "b1", 2), AUTHD_OK);
    store_batch_free(b);
    check_missing(f->s, "n1");
    check_value(f->s, "b1", "1");
}

static void
test_txn_visibility(void **state)
{
    struct fixture *f = *state;
    struct store_txn *t = NULL;
    void *val = NULL;
    size_t vlen = 0;
    struct seen w;

    open_store(f, 0);
    put_str(f->s, "t/a", "a");
    put_str(f->s, "t/c", "c");

    assert_int_equal(store_txn_begin(f->s, &t), AUTHD_OK);
    assert_int_equal(store_txn_put(t, "t/b", 3, "b", 1), AUTHD_OK);
    assert_int_equal(store_txn_delete(t, "t/c", 3), AUTHD_OK);

    /* Inside: its own writes. */
    assert_int_equal(store_txn_get(t, "t/b", 3, 0, &val, &vlen), AUTHD_OK);
    assert_int_equal(vlen, 1);
    assert_memory_equal(val, "b", 1);
    store_value_free(val, vlen);
    assert_int_equal(store_txn_get(t, "t/c", 3, 1, &val, &vlen), AUTHD_ERR_NOT_FOUND);
    assert_null(val);
    memset(&w, 0, sizeof(w));
    assert_int_equal(store_txn_scan(t, "t/", 2, on_collect, &w), AUTHD_OK);
    static const char *const want[] = {"t/a", "t/b"};
    static const size_t lens[] = {3, 3};
    check_seen(&w, want, lens, 2);

    /* Outside: nothing yet. */
    check_missing(f->s, "t/b");
    check_value(f->s, "t/c", "c");

    assert_int_equal(store_txn_commit(t), AUTHD_OK);
    /* A finished transaction refuses further use. */
    assert_int_equal(store_txn_put(t, "t/d", 3, "d", 1), AUTHD_ERR_INTERNAL);
    store_txn_free(t);

    check_value(f->s, "t/b", "b");
    check_missing(f->s, "t/c");
    check_missing(f->s, "t/d");
}

static void
test_txn_rollback(void **state)
{
    struct fixture *f = *state;
    struct store_txn *t = NULL;
    void *val = NULL;
    size_t vlen = 0;

    open_store(f, 100);
    put_str(f->s, "keep", "k");

    assert_int_equal(store_txn_begin(f->s, &t), AUTHD_OK);
    assert_int_equal(store_txn_put(t, "new", 3, "n", 1), AUTHD_OK);
    assert_int_equal(store_txn_delete(t, "keep", 4), AUTHD_OK);
    store_txn_free(t);

    check_missing(f->s, "new");
    check_value(f->s, "keep", "k");

    /* Its locks are gone too: another transaction takes the row at once. */
    assert_int_equal(store_txn_begin(f->s, &t), AUTHD_OK);
    assert_int_equal(store_txn_get(t, "keep", 4, 1, &val, &vlen), AUTHD_OK);
    store_value_free(val, vlen);
    store_txn_free(t);
}

static void
test_txn_conflict(void **state)
{
    struct fixture *f = *state;
    struct store_txn *a = NULL, *b = NULL;
    void *val = NULL;
    size_t vlen = 0;

    open_store(f, 100);

    assert_int_equal(store_txn_begin(f->s, &a), AUTHD_OK);
    assert_int_equal(store_txn_begin(f->s, &b), AUTHD_OK);
    /* An absent row is locked too: that is what makes the unique-index pattern work. */
    assert_int_equal(store_txn_get(a, "k", 1, 1, &val, &vlen), AUTHD_ERR_NOT_FOUND);

    double t0 = now_ms();
    assert_int_equal(store_txn_get(b, "k", 1, 1, &val, &vlen), AUTHD_ERR_CONFLICT);
    double waited = now_ms() - t0;
    assert_null(val);
    /* It waited about the configured 100 ms: neither failed at once nor used RocksDB's own
     * 1 s default or ours of 2 s. */
    assert_true(waited >= 50.0);
    assert_true(waited < 700.0);

    /* A plain write of the locked row gives up the same way, after the same wait. */
    t0 = now_ms();
    assert_int_equal(store_put(f->s, "k", 1, "x", 1), AUTHD_ERR_CONFLICT);
    assert_true(now_ms() - t0 < 700.0);
    /* A read without for_update takes no lock and is not blocked. */
    assert_int_equal(store_txn_get(b, "k", 1, 0, &val, &vlen), AUTHD_ERR_NOT_FOUND);
    store_txn_free(b);

    assert_int_equal(store_txn_put(a, "k", 1, "A", 1), AUTHD_OK);
    assert_int_equal(store_txn_commit(a), AUTHD_OK);
    store_txn_free(a);

    assert_int_equal(store_txn_begin(f->s, &b), AUTHD_OK);
    assert_int_equal(store_txn_get(b, "k", 1, 1, &val, &vlen), AUTHD_OK);
    assert_int_equal(vlen, 1);
    assert_memory_equal(val, "A", 1);
    store_value_free(val, vlen);
    store_txn_free(b);
}

struct deadlock_side {
    struct store_txn *t;
    int r;
    double waited_ms;
};

/* Transaction A, already holding k1, asks for k2 (held by B). Frees A if it loses. */
static void *
deadlock_thread(void *arg)
{
    struct deadlock_side *a = arg;
    void *val = NULL;
    size_t vlen = 0;
    double t0 = now_ms();

    a->r = store_txn_get(a->t, "k2", 2, 1, &val, &vlen);
    a->waited_ms = now_ms() - t0;
    store_value_free(val, vlen);
    if (a->r != AUTHD_OK && a->r != AUTHD_ERR_NOT_FOUND) {
        store_txn_free(a->t);
        a->t = NULL;
    }
    return NULL;
}

static void
test_txn_deadlock(void **state)
{
    struct fixture *f = *state;
    struct deadlock_side a = {0};
    struct store_txn *b = NULL;
    void *val = NULL;
    size_t vlen = 0;
    pthread_t th;

    /* The 2 s default timeout: a conflict well before it can only come from the deadlock
     * detector. */
    open_store(f, 0);
    assert_int_equal(store_txn_begin(f->s, &a.t), AUTHD_OK);
    assert_int_equal(store_txn_begin(f->s, &b), AUTHD_OK);
    assert_int_equal(store_txn_get(a.t, "k1", 2, 1, &val, &vlen), AUTHD_ERR_NOT_FOUND);
    assert_int_equal(store_txn_get(b, "k2", 2, 1, &val, &vlen), AUTHD_ERR_NOT_FOUND);

    assert_int_equal(pthread_create(&th, NULL, deadlock_thread, &a), 0);
    usleep(100 * 1000); /* let A start waiting for k2 */
    double t0 = now_ms();
    int rb = store_txn_get(b, "k1", 2, 1, &val, &vlen);
    double waited_b = now_ms() - t0;
    if (rb != AUTHD_OK && rb != AUTHD_ERR_NOT_FOUND) {
        store_txn_free(b); /* lets A through */
        b = NULL;
    }
    pthread_join(th, NULL);

    /* Whichever closed the cycle lost at once; the other then got its row. */
    int a_lost = a.r == AUTHD_ERR_CONFLICT, b_lost = rb == AUTHD_ERR_CONFLICT;
    assert_int_equal(a_lost + b_lost, 1);
    assert_true(a_lost || a.r == AUTHD_ERR_NOT_FOUND);
    assert_true(b_lost || rb == AUTHD_ERR_NOT_FOUND);
    assert_true((a_lost ? a.waited_ms : waited_b) < 1000.0);
    store_txn_free(a.t);
    store_txn_free(b);
}

enum race_outcome { RACE_ERROR = 0, RACE_WON, RACE_ALREADY };

struct race {
    struct store *s;
    pthread_barrier_t *start;
    char key[32];
    int id;
    enum race_outcome outcome;
    int retries;
};

/* One contender: the unique-index insert, retried on CONFLICT. No cmocka calls here. */
static void *
race_thread(void *arg)
{
    struct race *rc = arg;
    char idbuf[16];
    int n = snprintf(idbuf, sizeof(idbuf), "id-%d", rc->id);

    pthread_barrier_wait(rc->start);
    for (int attempt = 0; attempt < 100; attempt++) {
        struct store_txn *t = NULL;
        void *val = NULL;
        size_t vlen = 0;
        int r = store_txn_begin(rc->s, &t);
        if (r != AUTHD_OK)
            break;
        r = store_txn_get(t, rc->key, strlen(rc->key), 1, &val, &vlen);
        if (r == AUTHD_OK) {
            store_value_free(val, vlen);
            store_txn_free(t);
            rc->outcome = RACE_ALREADY;
            return NULL;
        }
        if (r == AUTHD_ERR_NOT_FOUND) {
            r = store_txn_put(t, rc->key, strlen(rc->key), idbuf, (size_t)n);
            if (r == AUTHD_OK)
                r = store_txn_commit(t);
            if (r == AUTHD_OK) {
                store_txn_free(t);
                rc->outcome = RACE_WON;
                return NULL;
            }
        }
        store_txn_free(t);
        if (r != AUTHD_ERR_CONFLICT)
            break;
        rc->retries++;
    }
    rc->outcome = RACE_ERROR;
    return NULL;
}

static void
test_unique_index_race(void **state)
{
    struct fixture *f = *state;
    pthread_t th[RACE_THREADS];
    struct race rc[RACE_THREADS];
    pthread_barrier_t start;

    open_store(f, 0);
    for (int round = 0; round < RACE_ROUNDS; round++) {
        char key[32];
        snprintf(key, sizeof(key), "email/x%d", round);
        assert_int_equal(pthread_barrier_init(&start, NULL, RACE_THREADS), 0);
        for (int i = 0; i < RACE_THREADS; i++) {
            memset(&rc[i], 0, sizeof(rc[i]));
            rc[i].s = f->s;
            rc[i].start = &start;
            rc[i].id = i;
            snprintf(rc[i].key, sizeof(rc[i].key), "%s", key);
            assert_int_equal(pthread_create(&th[i], NULL, race_thread, &rc[i]), 0);
        }
        int winners = 0, already = 0, winner = -1;
        for (int i = 0; i < RACE_THREADS; i++) {
            pthread_join(th[i], NULL);
            if (rc[i].outcome == RACE_WON) {
                winners++;
                winner = i;
            } else if (rc[i].outcome == RACE_ALREADY) {
                already++;
            }
        }
        pthread_barrier_destroy(&start);
        assert_int_equal(winners, 1);
        assert_int_equal(already, RACE_THREADS - 1);
        char want[16];
        snprintf(want, sizeof(want), "id-%d", winner);
        check_value(f->s, key, want);
    }
}

static void
test_reopen(void **state)
{
    struct fixture *f = *state;
    struct store_batch *b;

    open_store(f, 0);
    put_str(f->s, "p", "1");
    b = store_batch_new();
    assert_non_null(b);
    assert_int_equal(store_batch_put(b, "q", 1, "2", 1), AUTHD_OK);
    assert_int_equal(store_batch_commit(f->s, b), AUTHD_OK);
    store_batch_free(b);
    store_close(f->s);
    f->s = NULL;

    open_store(f, 0);
    check_value(f->s, "p", "1");
    check_value(f->s, "q", "2");
}

static void
check_in_use(struct fixture *f)
{
    struct store *s2 = (struct store *)1;
    char errbuf[PATH_MAX + 64], want[PATH_MAX + 64];

    assert_int_equal(store_open(f->dbdir, NULL, &s2, errbuf, sizeof(errbuf)), AUTHD_ERR_STORAGE);
    assert_null(s2);
    snprintf(want, sizeof(want), "data directory %s is in use by another process", f->dbdir);
    assert_string_equal(errbuf, want);
}

static void
test_open_twice(void **state)
{
    struct fixture *f = *state;

    open_store(f, 0);
    check_in_use(f);
    /* The failed open did not disturb the first store. */
    put_str(f->s, "k", "v");
    check_value(f->s, "k", "v");
}

static const char *self_path;

/*
 * The same directory held by another process: a child (this binary in --hold-lock mode) opens
 * the store, says 'R' on its stdout and keeps it open until its stdin closes.
 */
static void
test_open_locked_by_other_process(void **state)
{
    struct fixture *f = *state;
    int to_child[2], from_child[2];
    char c = 0;
    int status = 0;

    assert_int_equal(pipe(to_child), 0);
    assert_int_equal(pipe(from_child), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(to_child[0], 0);
        dup2(from_child[1], 1);
        close(to_child[1]);
        close(from_child[0]);
        execl(self_path, self_path, "--hold-lock", f->dbdir, (char *)NULL);
        _exit(127);
    }
    close(to_child[0]);
    close(from_child[1]);
    assert_int_equal(read(from_child[0], &c, 1), 1);
    assert_int_equal(c, 'R');

    check_in_use(f);

    close(to_child[1]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    close(from_child[0]);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    /* Released with the child: now it opens. */
    open_store(f, 0);
}

static void
test_open_errors(void **state)
{
    struct fixture *f = *state;
    char path[PATH_MAX + 16], errbuf[256];
    struct store *s = (struct store *)1;
    FILE *fp;

    /* A data directory path that is a regular file. */
    snprintf(path, sizeof(path), "%s/file", f->root);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fclose(fp);
    errbuf[0] = '\0';
    assert_int_equal(store_open(path, NULL, &s, errbuf, sizeof(errbuf)), AUTHD_ERR_STORAGE);
    assert_null(s);
    assert_true(strlen(errbuf) > 0);
    assert_null(strstr(errbuf, "in use"));

    /* errlen 0 is allowed and a NULL options pointer means the defaults. */
    assert_int_equal(store_open(path, NULL, &s, NULL, 0), AUTHD_ERR_STORAGE);
    assert_int_equal(store_open(f->dbdir, NULL, &f->s, NULL, 0), AUTHD_OK);
}

static void
test_null_noops(void **state)
{
    (void)state;
    store_close(NULL);
    store_batch_free(NULL);
    store_txn_free(NULL);
    store_value_free(NULL, 0);
}

/* Helper mode for test_open_locked_by_other_process. */
static int
hold_lock(const char *dir)
{
    struct store *s = NULL;
    char errbuf[256], c;

    if (store_open(dir, NULL, &s, errbuf, sizeof(errbuf)) != AUTHD_OK) {
        fprintf(stderr, "hold-lock: %s\n", errbuf);
        return 1;
    }
    if (write(1, "R", 1) != 1) {
        store_close(s);
        return 1;
    }
    while (read(0, &c, 1) > 0)
        ;
    store_close(s);
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--hold-lock") == 0)
        return hold_lock(argv[2]);
    /* argv[0] may not name a path; the kernel's link to this executable always does. */
    self_path = "/proc/self/exe";

    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_get_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_stop_and_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_txn_visibility, setup, teardown),
        cmocka_unit_test_setup_teardown(test_txn_rollback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_txn_conflict, setup, teardown),
        cmocka_unit_test_setup_teardown(test_txn_deadlock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unique_index_race, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_locked_by_other_process, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test(test_null_noops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
