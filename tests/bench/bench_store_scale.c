/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RocksDB point reads at scale, through storage/store.h (so with authd's own options): fills
 * N keys shaped like authd's records (user/<uuid-like id> with a ~200-byte value), closes,
 * reopens with the block cache asked for, and does random point reads for a bounded time: keys
 * present (hits) and keys absent (misses: what an e-mail's uniqueness check and a revoked/<jti>
 * lookup are), one thread, each read timed. Prints one line per phase with reads/s, p50 and
 * p99 in microseconds, and the directory's size on disk.
 *
 *   bench_store_scale DIR N BLOOM_BITS CACHE_MB [CACHE_MB...]
 *
 * DIR must not exist; it is kept (delete it yourself), so a second run with other cache sizes
 * can reuse it: when DIR exists with a "filled" marker, the fill is skipped. The fill is not
 * synced (a benchmark's data, not authd's writes).
 */
#define _GNU_SOURCE
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/err.h"
#include "storage/store.h"

#define SECONDS 8.0
#define BATCH 1000
#define VALUE_LEN 200
#define MAX_SAMPLES 4000000

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A stable pseudo-random id for index i (present: i < n; absent: i >= n). */
static int
key_of(char *key, size_t cap, uint64_t i)
{
    uint64_t x = i * 0x9e3779b97f4a7c15ull;
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    return snprintf(key, cap, "user/%016llx-%08llx", (unsigned long long)x,
                    (unsigned long long)(i & 0xffffffffu));
}

static uint64_t
xorshift(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static off_t du_total;
static int
on_du(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (flag == FTW_F)
        du_total += (off_t)sb->st_blocks * 512;
    return 0;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int
fill(struct store *s, uint64_t n)
{
    char key[64], val[VALUE_LEN];
    for (int i = 0; i < VALUE_LEN; i++)
        val[i] = (char)('a' + i % 26);
    for (uint64_t lo = 0; lo < n; lo += BATCH) {
        struct store_batch *b = store_batch_new();
        if (b == NULL)
            return AUTHD_ERR_NOMEM;
        for (uint64_t i = lo; i < lo + BATCH && i < n; i++) {
            int kl = key_of(key, sizeof(key), i);
            memcpy(val, key, (size_t)kl); /* values differ, as records do */
            int r = store_batch_put(b, key, (size_t)kl, val, sizeof(val));
            if (r != AUTHD_OK) {
                store_batch_free(b);
                return r;
            }
        }
        int r = store_batch_commit(s, b);
        store_batch_free(b);
        if (r != AUTHD_OK)
            return r;
    }
    return AUTHD_OK;
}

/* Random reads for SECONDS: hits (present keys) or misses. */
static int
reads(struct store *s, uint64_t n, int hits, const char *label, double *samples)
{
    uint64_t rng = 0x243f6a8885a308d3ull ^ (uint64_t)hits;
    char key[64];
    size_t done = 0;
    double t0 = now_s(), deadline = t0 + SECONDS;

    while (done < MAX_SAMPLES) {
        double a = now_s();
        if (a >= deadline)
            break;
        uint64_t i = xorshift(&rng) % n + (hits ? 0 : n);
        int kl = key_of(key, sizeof(key), i);
        void *val = NULL;
        size_t vlen = 0;
        int r = store_get(s, key, (size_t)kl, &val, &vlen);
        samples[done++] = (now_s() - a) * 1e6;
        store_value_free(val, vlen);
        if (r != (hits ? AUTHD_OK : AUTHD_ERR_NOT_FOUND)) {
            fprintf(stderr, "%s: unexpected answer %d\n", label, r);
            return 1;
        }
    }
    double secs = now_s() - t0;
    qsort(samples, done, sizeof(*samples), cmp_double);
    printf("%s reads=%zu per_s=%.0f p50_us=%.1f p99_us=%.1f\n", label, done, done / secs,
           done ? samples[done / 2] : 0.0, done ? samples[done * 99 / 100] : 0.0);
    fflush(stdout);
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: bench_store_scale DIR N BLOOM_BITS CACHE_MB [CACHE_MB...]\n");
        return 2;
    }
    const char *dir = argv[1];
    uint64_t n = strtoull(argv[2], NULL, 10);
    int bloom = (int)strtol(argv[3], NULL, 10);
    char spec[4096], marker[4096];
    struct store *s = NULL;
    struct store_opts o;
    char err[512];
    double *samples = malloc(MAX_SAMPLES * sizeof(double));

    if (n == 0 || samples == NULL)
        return 2;
    snprintf(spec, sizeof(spec), "rocksdb:%s/db", dir);
    snprintf(marker, sizeof(marker), "%s/filled", dir);
    store_opts_default(&o);
    o.bloom_bits = bloom;
    struct stat st;
    if (stat(marker, &st) != 0) {
        o.sync = 0;
        if (store_open(spec, &o, &s, err, sizeof(err)) != AUTHD_OK) {
            fprintf(stderr, "open: %s\n", err);
            return 1;
        }
        double t0 = now_s();
        if (fill(s, n) != AUTHD_OK) {
            fprintf(stderr, "fill failed\n");
            return 1;
        }
        printf("fill keys=%llu bloom_bits=%d seconds=%.1f\n", (unsigned long long)n, bloom,
               now_s() - t0);
        store_close(s);
        FILE *f = fopen(marker, "w");
        if (f != NULL)
            fclose(f);
        o.sync = 1;
    }
    for (int k = 4; k < argc; k++) {
        o.cache_mb = (size_t)strtoull(argv[k], NULL, 10);
        if (store_open(spec, &o, &s, err, sizeof(err)) != AUTHD_OK) {
            fprintf(stderr, "open: %s\n", err);
            return 1;
        }
        char label[128];
        /* Warm-up: the first reads of each table file load its pinned top-level blocks. */
        double *warm = samples;
        snprintf(label, sizeof(label), "warmup keys=%llu bloom_bits=%d cache_mb=%zu",
                 (unsigned long long)n, bloom, o.cache_mb);
        if (reads(s, n, 1, label, warm) != 0)
            return 1;
        snprintf(label, sizeof(label), "hit  keys=%llu bloom_bits=%d cache_mb=%zu",
                 (unsigned long long)n, bloom, o.cache_mb);
        if (reads(s, n, 1, label, samples) != 0)
            return 1;
        snprintf(label, sizeof(label), "miss keys=%llu bloom_bits=%d cache_mb=%zu",
                 (unsigned long long)n, bloom, o.cache_mb);
        if (reads(s, n, 0, label, samples) != 0)
            return 1;
        store_close(s);
    }
    du_total = 0;
    nftw(dir, on_du, 16, FTW_PHYS);
    printf("disk keys=%llu bloom_bits=%d mib=%.0f bytes_per_key=%.0f\n", (unsigned long long)n,
           bloom, du_total / 1048576.0, (double)du_total / (double)n);
    free(samples);
    return 0;
}
