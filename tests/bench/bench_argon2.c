/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Argon2id micro-benchmark: the same hash (authd's parameters, same password and salt) computed
 * by each implementation authd could use, back to back in every round (the order rotates from
 * round to round), so that a machine whose load drifts weighs on every variant alike:
 *
 *   libargon2-reused   Debian's libargon2 (the portable reference build) through argon2_ctx()
 *                      with one work area reused from hash to hash (authd's code before
 *                      issue 13)
 *   libargon2-fresh    the same library with its own malloc/free for every hash
 *   libsodium          libsodium's crypto_pwhash() (Argon2id, SIMD code chosen at run time by
 *                      sodium_init(); only parallelism 1)
 *   authd              authd's own password_hash() of this build (its pool, its choice)
 *
 * Prints, per variant, p50/p90/min milliseconds per hash over the rounds, the p50 of the CPU
 * time the hash used (user and kernel: page faults count; on a loaded machine this moves far
 * less than the elapsed time, which includes waiting for a core) and the p50 ratios to
 * libargon2-reused, with the load average before and after. The CPU time is the process's with
 * one --threads (libargon2 runs p > 1 lanes on threads of its own), the hashing thread's with
 * several (not shown then for p > 1). Before timing anything it checks
 * that the libraries agree byte for byte on the same inputs, so that the figures compare the
 * same work. Never part of the test suite.
 *
 *   bench_argon2 [--argon2-memory KIB] [--argon2-iterations N] [--argon2-parallelism N]
 *                [--rounds N] [--threads N] [--only VARIANT]
 *
 * The --argon2-* flags mean what authd's do (defaults 19456, 2, 1); --threads runs that many
 * threads each doing the rounds at once (default 1; 2 shows both cores hashing); --only times
 * one variant, for `perf stat -e cycles:u` (CPU cycles of this process, which other processes
 * on a loaded machine disturb far less than the time).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <argon2.h>
#include <sodium.h>

#include "authd/password.h"
#include "common/err.h"

#define SALT_BYTES 16
#define HASH_BYTES 32

enum { V_REUSED, V_FRESH, V_SODIUM, V_AUTHD, V_COUNT };
static const char *const v_name[V_COUNT] = {"libargon2-reused", "libargon2-fresh", "libsodium",
                                            "authd"};

static struct password_params params;
static int rounds = 40;
static int nthreads = 1;
static int only = -1; /* --only: the one variant timed, or -1 for all */
static clockid_t cpu_clock = CLOCK_THREAD_CPUTIME_ID;

static const char pw[] = "correct horse battery staple";
static const uint8_t salt[SALT_BYTES] = "bench-argon2-slt";

/* Each thread's reused work area for libargon2-reused. */
static __thread uint8_t *tl_area;
static __thread size_t tl_area_size;

static int
reuse_alloc(uint8_t **memory, size_t n)
{
    if (tl_area_size < n) {
        free(tl_area);
        tl_area = malloc(n);
        tl_area_size = tl_area != NULL ? n : 0;
    }
    *memory = tl_area;
    return tl_area != NULL ? ARGON2_OK : ARGON2_MEMORY_ALLOCATION_ERROR;
}

static void
reuse_free(uint8_t *memory, size_t n)
{
    (void)memory;
    (void)n;
}

static double
clock_ms(clockid_t c)
{
    struct timespec ts;

    clock_gettime(c, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double
now_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

/* One hash by variant v into out. 0, or -1 on failure. */
static int
run_variant(int v, uint8_t out[HASH_BYTES])
{
    argon2_context ctx;
    char *phc = NULL;
    int r;

    switch (v) {
    case V_REUSED:
        memset(&ctx, 0, sizeof(ctx));
        ctx.out = out;
        ctx.outlen = HASH_BYTES;
        ctx.pwd = (uint8_t *)(uintptr_t)pw;
        ctx.pwdlen = (uint32_t)strlen(pw);
        ctx.salt = (uint8_t *)(uintptr_t)salt;
        ctx.saltlen = SALT_BYTES;
        ctx.t_cost = params.t_cost;
        ctx.m_cost = params.m_cost_kib;
        ctx.lanes = params.parallelism;
        ctx.threads = params.parallelism;
        ctx.version = ARGON2_VERSION_13;
        ctx.allocate_cbk = reuse_alloc;
        ctx.free_cbk = reuse_free;
        ctx.flags = ARGON2_DEFAULT_FLAGS;
        return argon2_ctx(&ctx, Argon2_id) == ARGON2_OK ? 0 : -1;
    case V_FRESH:
        return argon2id_hash_raw(params.t_cost, params.m_cost_kib, params.parallelism, pw,
                                 strlen(pw), salt, SALT_BYTES, out, HASH_BYTES) == ARGON2_OK
                   ? 0
                   : -1;
    case V_SODIUM:
        return crypto_pwhash(out, HASH_BYTES, pw, strlen(pw), salt, params.t_cost,
                             (size_t)params.m_cost_kib * 1024, crypto_pwhash_ALG_ARGON2ID13);
    case V_AUTHD:
        r = password_hash(&params, pw, strlen(pw), &phc);
        free(phc);
        memset(out, 0, HASH_BYTES);
        return r == AUTHD_OK ? 0 : -1;
    }
    return -1;
}

struct worker {
    pthread_t th;
    int index;
    double *ms[V_COUNT];  /* rounds samples per variant: elapsed */
    double *cpu[V_COUNT]; /* and this thread's CPU time */
    int failed;
};

static int
usable(int v)
{
    return (only < 0 || v == only) && (v != V_SODIUM || params.parallelism == 1);
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    uint8_t out[HASH_BYTES];

    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < V_COUNT; k++) {
            int v = (r + k + w->index) % V_COUNT; /* rotate the order every round */
            if (!usable(v))
                continue;
            double t0 = now_ms(), c0 = clock_ms(cpu_clock);
            if (run_variant(v, out) != 0)
                w->failed = 1;
            w->ms[v][r] = now_ms() - t0;
            w->cpu[v][r] = clock_ms(cpu_clock) - c0;
        }
    free(tl_area);
    tl_area = NULL;
    tl_area_size = 0;
    return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void
loadavg(char *buf, size_t cap)
{
    FILE *f = fopen("/proc/loadavg", "r");
    buf[0] = '\0';
    if (f != NULL) {
        if (fgets(buf, (int)cap, f) == NULL)
            buf[0] = '\0';
        fclose(f);
    }
    buf[strcspn(buf, "\n")] = '\0';
}

/* Parses a positive decimal flag value within [lo, hi]; exits on anything else. */
static long
flag_value(const char *name, const char *s, long lo, long hi)
{
    char *end = NULL;
    errno = 0;
    long v = s != NULL ? strtol(s, &end, 10) : 0;
    if (s == NULL || errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "bench_argon2: %s wants a number in %ld..%ld\n", name, lo, hi);
        exit(2);
    }
    return v;
}

int
main(int argc, char **argv)
{
    password_params_default(&params);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--argon2-memory") == 0)
            params.m_cost_kib = (uint32_t)flag_value(a, v, 8, 4 * 1024 * 1024);
        else if (strcmp(a, "--argon2-iterations") == 0)
            params.t_cost = (uint32_t)flag_value(a, v, 1, 100);
        else if (strcmp(a, "--argon2-parallelism") == 0)
            params.parallelism = (uint32_t)flag_value(a, v, 1, 16);
        else if (strcmp(a, "--rounds") == 0)
            rounds = (int)flag_value(a, v, 1, 100000);
        else if (strcmp(a, "--threads") == 0)
            nthreads = (int)flag_value(a, v, 1, 64);
        else if (strcmp(a, "--only") == 0 && v != NULL) {
            for (int k = 0; k < V_COUNT; k++)
                if (strcmp(v, v_name[k]) == 0)
                    only = k;
            if (only < 0) {
                fprintf(stderr, "bench_argon2: --only libargon2-reused|libargon2-fresh|"
                                "libsodium|authd\n");
                return 2;
            }
        } else {
            fprintf(stderr,
                    "usage: bench_argon2 [--argon2-memory KIB] [--argon2-iterations N] "
                    "[--argon2-parallelism N] [--rounds N] [--threads N] [--only VARIANT]\n");
            return 2;
        }
        i++;
    }
    if (nthreads == 1)
        cpu_clock = CLOCK_PROCESS_CPUTIME_ID;
    int cpu_shown = nthreads == 1 || params.parallelism == 1;
    if (sodium_init() < 0) {
        fprintf(stderr, "bench_argon2: sodium_init failed\n");
        return 1;
    }
    if (password_pool_init(nthreads) != AUTHD_OK) {
        fprintf(stderr, "bench_argon2: password_pool_init failed\n");
        return 1;
    }

    /* The libraries must compute the same bytes, or the comparison is meaningless. */
    uint8_t a[HASH_BYTES], b[HASH_BYTES];
    for (int v = V_FRESH; v <= V_SODIUM; v++) {
        if (v == V_SODIUM && params.parallelism != 1)
            continue;
        if (run_variant(V_REUSED, a) != 0 || run_variant(v, b) != 0 ||
            memcmp(a, b, sizeof(a)) != 0) {
            fprintf(stderr, "bench_argon2: %s disagrees with %s\n", v_name[v], v_name[V_REUSED]);
            return 1;
        }
    }

    char la0[128], la1[128];
    loadavg(la0, sizeof(la0));
    struct worker *w = calloc((size_t)nthreads, sizeof(*w));
    if (w == NULL)
        return 1;
    for (int t = 0; t < nthreads; t++) {
        w[t].index = t;
        for (int v = 0; v < V_COUNT; v++)
            if ((w[t].ms[v] = calloc((size_t)rounds, sizeof(double))) == NULL ||
                (w[t].cpu[v] = calloc((size_t)rounds, sizeof(double))) == NULL)
                return 1;
    }
    double t0 = now_ms();
    for (int t = 0; t < nthreads; t++)
        if (pthread_create(&w[t].th, NULL, worker_main, &w[t]) != 0)
            return 1;
    int failed = 0;
    for (int t = 0; t < nthreads; t++) {
        pthread_join(w[t].th, NULL);
        failed |= w[t].failed;
    }
    double wall = now_ms() - t0;
    loadavg(la1, sizeof(la1));
    if (failed) {
        fprintf(stderr, "bench_argon2: a hash failed\n");
        return 1;
    }

    printf("argon2id m=%u KiB t=%u p=%u, %d rounds x %d thread(s), %.1f s; loadavg before: %s; "
           "after: %s\n",
           params.m_cost_kib, params.t_cost, params.parallelism, rounds, nthreads, wall / 1e3, la0,
           la1);
    size_t n = (size_t)rounds * (size_t)nthreads;
    double *all = calloc(n, sizeof(double));
    double p50_ref = 0, cpu_ref = 0;
    if (all == NULL)
        return 1;
    for (int v = 0; v < V_COUNT; v++) {
        if (!usable(v)) {
            if (only < 0)
                printf("%-17s n/a (libsodium's Argon2id has parallelism 1 only)\n", v_name[v]);
            continue;
        }
        for (int t = 0; t < nthreads; t++)
            memcpy(all + (size_t)t * (size_t)rounds, w[t].ms[v], (size_t)rounds * sizeof(double));
        qsort(all, n, sizeof(double), cmp_double);
        double p50 = all[n / 2], p90 = all[(n * 9) / 10], min = all[0];
        for (int t = 0; t < nthreads; t++)
            memcpy(all + (size_t)t * (size_t)rounds, w[t].cpu[v], (size_t)rounds * sizeof(double));
        qsort(all, n, sizeof(double), cmp_double);
        double cpu = all[n / 2];
        if (v == V_REUSED) {
            p50_ref = p50;
            cpu_ref = cpu;
        }
        printf("%-17s p50 %7.2f ms  p90 %7.2f ms  min %7.2f ms", v_name[v], p50, p90, min);
        if (cpu_shown)
            printf("  cpu p50 %7.2f ms", cpu);
        if (p50_ref > 0)
            printf("  ratio p50 %.2f", p50 / p50_ref);
        if (p50_ref > 0 && cpu_shown)
            printf(" cpu %.2f", cpu / cpu_ref);
        printf("\n");
    }
    free(all);
    for (int t = 0; t < nthreads; t++)
        for (int v = 0; v < V_COUNT; v++) {
            free(w[t].ms[v]);
            free(w[t].cpu[v]);
        }
    free(w);
    return 0;
}
