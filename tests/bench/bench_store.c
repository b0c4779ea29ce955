/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Storage micro-benchmark: synced puts from one thread and from 16 (where group commit lets
 * concurrent writers share an fsync), synced batches, and random gets over 100k keys. Each
 * phase is bounded in count and in time. Runs in a fresh directory under argv[1], $TMPDIR or
 * /tmp (put it on the disk you care about: sync cost is the point), removed afterwards.
 */
#define _GNU_SOURCE
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "storage/store.h"

#define PHASE_SECONDS 5.0
#define ST_PUTS 5000
#define MT_THREADS 16
#define MT_PUTS_PER_THREAD 1000
#define BATCH_SIZE 100
#define BATCHES 500
#define GET_KEYS 100000
#define LOAD_BATCH 1000
#define GETS_PER_THREAD 1000000
#define VALUE_LEN 100

struct worker {
    struct store *s;
    int id;
    double deadline;
    long done;
    int err;
};

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t
xorshift(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static int
on_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void
fill_value(char *v, int seed)
{
    for (int i = 0; i < VALUE_LEN; i++)
        v[i] = (char)('a' + (seed + i) % 26);
}

static int
put_one(struct store *s, const char *tag, int thread, long i)
{
    char key[64], val[VALUE_LEN];
    int kl = snprintf(key, sizeof(key), "bench/%s/%02d/%08ld", tag, thread, i);

    fill_value(val, (int)i);
    return store_put(s, key, (size_t)kl, val, sizeof(val));
}

static void *
on_put_thread(void *arg)
{
    struct worker *w = arg;

    for (long i = 0; i < MT_PUTS_PER_THREAD && now_s() < w->deadline; i++) {
        w->err = put_one(w->s, "mt", w->id, i);
        if (w->err != AUTHD_OK)
            break;
        w->done++;
    }
    return NULL;
}

static void *
on_get_thread(void *arg)
{
    struct worker *w = arg;
    uint64_t rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)(w->id + 1);
    char key[64];

    for (long i = 0; i < GETS_PER_THREAD; i++) {
        /* Check the clock only now and then: it would cost as much as a get. */
        if ((i & 1023) == 0 && now_s() >= w->deadline)
            break;
        int kl = snprintf(key, sizeof(key), "bench/get/%08d", (int)(xorshift(&rng) % GET_KEYS));
        void *val = NULL;
        size_t vlen = 0;
        w->err = store_get(w->s, key, (size_t)kl, &val, &vlen);
        if (w->err != AUTHD_OK)
            break;
        store_value_free(val, vlen);
        w->done++;
    }
    return NULL;
}

/* Runs n workers of fn until done or deadline; returns operations per second, -1 on error. */
static double
run_threads(struct store *s, int n, void *(*fn)(void *))
{
    pthread_t th[MT_THREADS];
    struct worker w[MT_THREADS];
    long total = 0;
    int err = AUTHD_OK;
    double t0 = now_s();

    for (int i = 0; i < n; i++) {
        w[i] = (struct worker){.s = s, .id = i, .deadline = t0 + PHASE_SECONDS};
        if (pthread_create(&th[i], NULL, fn, &w[i]) != 0)
            return -1;
    }
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        total += w[i].done;
        if (w[i].err != AUTHD_OK)
            err = w[i].err;
    }
    if (err != AUTHD_OK) {
        fprintf(stderr, "bench_store: %s\n", authd_strerror(err));
        return -1;
    }
    return total / (now_s() - t0);
}

static int
load_get_keys(struct store *s)
{
    char key[64], val[VALUE_LEN];
    int r = AUTHD_OK;

    for (int i = 0; i < GET_KEYS && r == AUTHD_OK; i += LOAD_BATCH) {
        struct store_batch *b = store_batch_new();
        if (b == NULL)
            return AUTHD_ERR_NOMEM;
        for (int j = i; j < i + LOAD_BATCH && j < GET_KEYS; j++) {
            int kl = snprintf(key, sizeof(key), "bench/get/%08d", j);
            fill_value(val, j);
            store_batch_put(b, key, (size_t)kl, val, sizeof(val));
        }
        r = store_batch_commit(s, b);
        store_batch_free(b);
    }
    return r;
}

static int
bench(struct store *s)
{
    char key[64], val[VALUE_LEN];
    double t0, dt, rate;
    long n = 0;
    int r = AUTHD_OK;

    /* 1. One writer, every put synced: bounded by the fsync latency. */
    t0 = now_s();
    for (long i = 0; i < ST_PUTS && now_s() - t0 < PHASE_SECONDS; i++, n++) {
        r = put_one(s, "st", 0, i);
        if (r != AUTHD_OK)
            goto out;
    }
    dt = now_s() - t0;
    printf("synced put, 1 thread:    %9.0f puts/s (%ld puts in %.2f s)\n", n / dt, n, dt);

    /* 2. Sixteen writers: group commit shares one fsync among the waiting writers. */
    rate = run_threads(s, MT_THREADS, on_put_thread);
    if (rate < 0) {
        r = AUTHD_ERR_STORAGE;
        goto out;
    }
    printf("synced put, %d threads:  %9.0f puts/s\n", MT_THREADS, rate);

    /* 3. Batches of 100 synced keys from one thread. */
    t0 = now_s();
    n = 0;
    for (int i = 0; i < BATCHES && now_s() - t0 < PHASE_SECONDS; i++) {
        struct store_batch *b = store_batch_new();
        if (b == NULL) {
            r = AUTHD_ERR_NOMEM;
            goto out;
        }
        for (int j = 0; j < BATCH_SIZE; j++) {
            int kl = snprintf(key, sizeof(key), "bench/batch/%06d/%03d", i, j);
            fill_value(val, j);
            store_batch_put(b, key, (size_t)kl, val, sizeof(val));
        }
        r = store_batch_commit(s, b);
        store_batch_free(b);
        if (r != AUTHD_OK)
            goto out;
        n += BATCH_SIZE;
    }
    dt = now_s() - t0;
    printf("synced batch of %d:     %9.0f keys/s\n", BATCH_SIZE, n / dt);

    /* 4. Random point reads over 100k keys, from 1 and 2 threads. */
    r = load_get_keys(s);
    if (r != AUTHD_OK)
        goto out;
    for (int threads = 1; threads <= 2; threads++) {
        rate = run_threads(s, threads, on_get_thread);
        if (rate < 0) {
            r = AUTHD_ERR_STORAGE;
            goto out;
        }
        printf("random get, %d thread%s:   %9.0f gets/s (100k keys)\n", threads,
               threads > 1 ? "s" : " ", rate);
    }
out:
    if (r != AUTHD_OK)
        fprintf(stderr, "bench_store: %s\n", authd_strerror(r));
    return r;
}

int
main(int argc, char **argv)
{
    const char *parent = argc > 1 ? argv[1] : getenv("TMPDIR");
    char root[PATH_MAX], dir[PATH_MAX + 8], errbuf[256];
    struct store *s = NULL;
    int r;

    snprintf(root, sizeof(root), "%s/bench-store-XXXXXX", parent != NULL ? parent : "/tmp");
    if (mkdtemp(root) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(dir, sizeof(dir), "%s/db", root);
    r = store_open(dir, NULL, &s, errbuf, sizeof(errbuf));
    if (r != AUTHD_OK) {
        fprintf(stderr, "bench_store: %s\n", errbuf);
    } else {
        printf("store in %s (sync on, defaults)\n", dir);
        r = bench(s);
        store_close(s);
    }
    nftw(root, on_rm, 16, FTW_DEPTH | FTW_PHYS);
    return r == AUTHD_OK ? 0 : 1;
}
