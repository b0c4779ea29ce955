/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Argon2id password hashing, stored as PHC strings, with our own strict, bounded PHC string
 * encoder and parser (byte-compatible with what libargon2's argon2id_hash_encoded() and
 * libsodium's crypto_pwhash_str() write, so hashes move freely between them).
 *
 * Two implementations compute the same function (RFC 9106 Argon2id, version 0x13):
 * - libsodium's crypto_pwhash(), whose block function is SIMD code chosen at run time
 *   (SSSE3/AVX2/AVX-512F); tests/bench/bench_argon2 measured it 0.65-0.77x the time of
 *   Debian's libargon2 at authd's default cost. It computes only parallelism 1 with a 16-byte
 *   salt and a hash of 16 bytes or more, and maps its work area for each hash itself.
 * - Debian's libargon2 (the portable reference build) for everything else: a hash stored with
 *   p > 1 (--argon2-parallelism), or with another salt size, still verifies, and new hashes
 *   with p > 1 are still made. Its work area is cached per pool slot (allocate_cbk/free_cbk),
 *   because touching fresh memory costs a share of every hash.
 */
#define _GNU_SOURCE /* pthread_cond_clockwait: waits on CLOCK_MONOTONIC */
#include "authd/password.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <argon2.h>
#include <sodium.h>

#include "common/err.h"
#include "common/metrics.h"
#include "common/secret.h"

#define SALT_BYTES 16
#define HASH_BYTES 32

/* Bounds accepted by the PHC parser and by password_hash(). */
#define PHC_MAX_LEN 256                /* longer strings are refused before any parsing */
#define PARAM_M_MIN 8u                 /* KiB; libargon2 also needs m >= 8 * p */
#define PARAM_M_MAX (4u * 1024 * 1024) /* KiB, i.e. 4 GiB */
#define PARAM_T_MIN 1u
#define PARAM_T_MAX 100u
#define PARAM_P_MIN 1u
#define PARAM_P_MAX 16u
#define BYTES_MIN 8 /* salt and hash lengths */
#define BYTES_MAX 64

/*
 * Work areas up to this size stay cached in their slot; a larger one (a hash made with
 * unusual parameters) is allocated for the one hash and freed after it, so that a single odd
 * stored hash cannot pin gigabytes in every slot.
 */
#define WORK_AREA_CACHE_MAX ((size_t)64 * 1024 * 1024)

/* A fixed salt for password_burn(); its value does not matter, only the work does. */
static const uint8_t burn_salt[SALT_BYTES] = "authd-burn-salt";

/* ---- work areas --------------------------------------------------------------------------- */

/*
 * libargon2's work areas are mapped from the kernel, not malloc'd, so that giving one back
 * lowers the RSS at once, and so that glibc's malloc never frees a block of many MiB: that
 * would raise its dynamic mmap threshold to the block's size (and its trim threshold to twice
 * that) for the whole process, after which every large block lives in, and stays in, the
 * arenas. libargon2 clears every block before it hands an area back (clear_internal_memory),
 * and unmapped pages are never readable again, so nothing is left to wipe here.
 */
static uint8_t *
area_map(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p != MAP_FAILED ? p : NULL;
}

static void
area_unmap(uint8_t *p, size_t n)
{
    if (p != NULL)
        (void)munmap(p, n);
}

/* ---- libsodium ---------------------------------------------------------------------------- */

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_ready; /* sodium_init() succeeded: its SIMD code is chosen */

static void
sodium_start(void)
{
    /* Picks the Argon2 block function for this CPU; without it libsodium runs portable code. */
    sodium_ready = sodium_init() >= 0;
}

/* Whether libsodium's crypto_pwhash() computes this hash (the same bytes libargon2 would). */
static int
sodium_fits(const struct password_params *p, size_t len, size_t salt_len, size_t outlen)
{
    pthread_once(&sodium_once, sodium_start);
    return sodium_ready && p->parallelism == 1 && salt_len == crypto_pwhash_argon2id_SALTBYTES &&
           outlen >= crypto_pwhash_argon2id_BYTES_MIN &&
           outlen <= crypto_pwhash_argon2id_BYTES_MAX && len <= crypto_pwhash_argon2id_PASSWD_MAX &&
           p->t_cost >= crypto_pwhash_argon2id_OPSLIMIT_MIN &&
           (size_t)p->m_cost_kib * 1024 >= crypto_pwhash_argon2id_MEMLIMIT_MIN &&
           (size_t)p->m_cost_kib * 1024 <= crypto_pwhash_argon2id_MEMLIMIT_MAX;
}

/* ---- the hash pool ------------------------------------------------------------------------ */

/*
 * At most pool.n Argon2 computations run at once, each in a slot of its own. A slot holds at
 * most one work area at a time: libsodium's, mapped for the one hash, or libargon2's, kept
 * between hashes (touching fresh memory costs a share of every hash) and given back before the
 * slot runs a libsodium hash. The areas belong to the slots, not to threads: however many
 * workers the RPC server runs, hashing holds at most n work areas (n x the memory cost). A
 * hash waits for a free slot while holding no lock of ours, and a slot is held only across the
 * Argon2 computation, which takes no lock: a caller may wait for a slot under a store or
 * per-user lock without any risk of deadlock.
 */
struct slot {
    uint8_t *mem;
    size_t size;
    int busy;
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct slot *slots; /* n of them; NULL until the first init */
    int n;
    int running;     /* slots in use */
    int running_max; /* the most ever in use at once */
    uint64_t hashes, waits;
    uint64_t sodium;  /* hashes libsodium computed */
    uint64_t expired; /* hashes given up: their caller's deadline passed before a slot was free */
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0, 0, 0, 0, 0, 0};

/* The slot the calling thread holds during argon2_ctx(); the allocation callbacks use it. */
static __thread struct slot *tl_slot;

#define M_THREADS "authd_password_hash_threads"
#define M_RUNNING_MAX "authd_password_hashes_running_max"
#define M_WAITS "authd_password_hash_waits_total"
#define M_EXPIRED "authd_password_hash_expired_total"

/* Sizes the pool; pool.mu held, no hash running. */
static int
pool_resize_locked(int n)
{
    if (n <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        n = cores > 0 ? (int)(cores < PASSWORD_THREADS_MAX ? cores : PASSWORD_THREADS_MAX) : 1;
    }
    if (n > PASSWORD_THREADS_MAX)
        n = PASSWORD_THREADS_MAX;
    struct slot *s = calloc((size_t)n, sizeof(*s));
    if (s == NULL)
        return AUTHD_ERR_NOMEM;
    for (int i = 0; i < pool.n; i++)
        area_unmap(pool.slots[i].mem, pool.slots[i].size);
    free(pool.slots);
    pool.slots = s;
    pool.n = n;
    pool.running_max = 0;
    metrics_set(M_THREADS, NULL, n);
    return AUTHD_OK;
}

/* Whether the CLOCK_MONOTONIC instant deadline_ns (0: none) has come. */
static int
deadline_passed(uint64_t deadline_ns)
{
    return deadline_ns != 0 && metrics_now_ns() >= deadline_ns;
}

/*
 * Takes a free slot, waiting for one until deadline_ns (CLOCK_MONOTONIC; 0: for ever); the pool
 * is sized to the cores on first use. NULL with *err AUTHD_ERR_DEADLINE when the deadline came
 * first (also when it had already passed: the caller gave up, a free slot is no reason to hash
 * for it), else AUTHD_ERR_NOMEM.
 */
static struct slot *
slot_take(uint64_t deadline_ns, int *err)
{
    struct slot *s = NULL;
    int waited = 0, max = 0, expired = 0;

    *err = AUTHD_ERR_NOMEM;
    pthread_mutex_lock(&pool.mu);
    if (pool.slots == NULL && pool_resize_locked(0) != AUTHD_OK) {
        pthread_mutex_unlock(&pool.mu);
        return NULL;
    }
    while (!(expired = deadline_passed(deadline_ns)) && pool.running == pool.n) {
        waited = 1;
        if (deadline_ns == 0) {
            pthread_cond_wait(&pool.cv, &pool.mu);
        } else {
            /* The same clock as metrics_now_ns(), so a change of the wall clock moves nothing. */
            struct timespec ts = {.tv_sec = (time_t)(deadline_ns / 1000000000u),
                                  .tv_nsec = (long)(deadline_ns % 1000000000u)};
            (void)pthread_cond_clockwait(&pool.cv, &pool.mu, CLOCK_MONOTONIC, &ts);
        }
    }
    if (expired) {
        pool.expired++;
        /* A slot freed while this one gave up goes to another waiter, not to nobody. */
        if (waited && pool.running < pool.n)
            pthread_cond_signal(&pool.cv);
        pthread_mutex_unlock(&pool.mu);
        metrics_count(M_EXPIRED, NULL, 1);
        *err = AUTHD_ERR_DEADLINE;
        return NULL;
    }
    for (int i = 0; i < pool.n && s == NULL; i++)
        if (!pool.slots[i].busy)
            s = &pool.slots[i];
    s->busy = 1;
    pool.running++;
    pool.hashes++;
    pool.waits += (uint64_t)waited;
    if (pool.running > pool.running_max) {
        pool.running_max = pool.running;
        max = pool.running_max;
    }
    pthread_mutex_unlock(&pool.mu);
    if (max > 0)
        metrics_set(M_RUNNING_MAX, NULL, max);
    if (waited)
        metrics_count(M_WAITS, NULL, 1);
    return s;
}

/* Gives the slot back after a hash (by_sodium: libsodium computed it). */
static void
slot_give(struct slot *s, int by_sodium)
{
    pthread_mutex_lock(&pool.mu);
    s->busy = 0;
    pool.sodium += (uint64_t)(by_sodium != 0);
    pool.running--;
    pthread_cond_signal(&pool.cv);
    pthread_mutex_unlock(&pool.mu);
}

/* Gives back the libargon2 work area a slot keeps (the slot is held by the caller). */
static void
slot_release_area(struct slot *s)
{
    area_unmap(s->mem, s->size);
    s->mem = NULL;
    s->size = 0;
}

/*
 * libargon2 calls these two from the thread that runs argon2_ctx(), which holds tl_slot. The
 * area is not wiped between hashes by us; libargon2 itself clears the blocks before calling
 * free_cbk (clear_internal_memory), which costs a memset but no page faults.
 */
static int
on_argon2_alloc(uint8_t **memory, size_t n)
{
    struct slot *wa = tl_slot;

    *memory = NULL;
    if (wa == NULL || n > WORK_AREA_CACHE_MAX) {
        *memory = area_map(n);
        return *memory != NULL ? ARGON2_OK : ARGON2_MEMORY_ALLOCATION_ERROR;
    }
    if (wa->size < n) {
        slot_release_area(wa); /* a new mapping: the old content need not be copied */
        if ((wa->mem = area_map(n)) == NULL)
            return ARGON2_MEMORY_ALLOCATION_ERROR;
        wa->size = n;
    }
    *memory = wa->mem;
    return ARGON2_OK;
}

static void
on_argon2_free(uint8_t *memory, size_t n)
{
    if (tl_slot != NULL && memory == tl_slot->mem)
        return; /* cached in the slot */
    area_unmap(memory, n);
}

/*
 * The raw Argon2id hash of pw under salt and p into out (outlen bytes) by libsodium, in the
 * held slot s. AUTHD_OK, AUTHD_ERR_NOMEM or AUTHD_ERR_INTERNAL.
 */
static int
sodium_raw(struct slot *s, const struct password_params *p, const char *pw, size_t len,
           const uint8_t *salt, uint8_t *out, size_t outlen)
{
    /*
     * libsodium maps its own area for this hash: the slot gives back any libargon2 area first,
     * so that it never holds two (the pool's bound stays n x the memory cost). Only a store
     * that mixes parallelisms (while rehash-on-login moves old hashes to the current cost) pays
     * a fresh area for its libargon2 hashes.
     */
    slot_release_area(s);
    errno = 0;
    if (crypto_pwhash(out, outlen, len > 0 ? pw : "", len, salt, p->t_cost,
                      (size_t)p->m_cost_kib * 1024, crypto_pwhash_ALG_ARGON2ID13) == 0)
        return AUTHD_OK;
    return errno == ENOMEM ? AUTHD_ERR_NOMEM : AUTHD_ERR_INTERNAL;
}

/*
 * The raw Argon2id hash of pw under salt and p into out (outlen bytes): by libsodium when it
 * computes these parameters, else by libargon2, once a slot is free before deadline_ns (0: no
 * limit). AUTHD_OK, AUTHD_ERR_DEADLINE (nothing computed), AUTHD_ERR_NOMEM or
 * AUTHD_ERR_INTERNAL.
 */
static int
argon2id_raw(const struct password_params *p, const char *pw, size_t len, const uint8_t *salt,
             size_t salt_len, uint8_t *out, size_t outlen, uint64_t deadline_ns)
{
    argon2_context ctx;
    int use_sodium = sodium_fits(p, len, salt_len, outlen);

    memset(&ctx, 0, sizeof(ctx));
    ctx.out = out;
    ctx.outlen = (uint32_t)outlen;
    /* argon2_ctx() only writes the password when ARGON2_FLAG_CLEAR_PASSWORD is set. */
    ctx.pwd = (uint8_t *)(uintptr_t)pw;
    ctx.pwdlen = (uint32_t)len;
    ctx.salt = (uint8_t *)(uintptr_t)salt;
    ctx.saltlen = (uint32_t)salt_len;
    ctx.t_cost = p->t_cost;
    ctx.m_cost = p->m_cost_kib;
    ctx.lanes = p->parallelism;
    ctx.threads = p->parallelism;
    ctx.version = ARGON2_VERSION_13;
    ctx.allocate_cbk = on_argon2_alloc;
    ctx.free_cbk = on_argon2_free;
    ctx.flags = ARGON2_DEFAULT_FLAGS;

    int err;
    struct slot *slot = slot_take(deadline_ns, &err);
    if (slot == NULL)
        return err;
    if (use_sodium) {
        int r = sodium_raw(slot, p, pw, len, salt, out, outlen);
        slot_give(slot, 1);
        return r;
    }
    tl_slot = slot;
    int rc = argon2_ctx(&ctx, Argon2_id);
    tl_slot = NULL;
    slot_give(slot, 0);
    if (rc == ARGON2_MEMORY_ALLOCATION_ERROR)
        return AUTHD_ERR_NOMEM;
    return rc == ARGON2_OK ? AUTHD_OK : AUTHD_ERR_INTERNAL;
}

/* ---- PHC string encoding ------------------------------------------------------------------ */

/* Appends unpadded standard base64 of in[0..n) at out; returns the characters written. */
static size_t
b64_encode(const uint8_t *in, size_t n, char *out)
{
    secret_b64_encode(in, n, out);
    return secret_b64url_len(n); /* the same length in either alphabet */
}

/* ---- PHC string parsing ------------------------------------------------------------------- */

struct phc {
    struct password_params params;
    uint8_t salt[BYTES_MAX];
    size_t salt_len;
    uint8_t hash[BYTES_MAX];
    size_t hash_len;
};

/* Consumes the literal lit at *s. 0, or -1 when it is not there. */
static int
phc_expect(const char **s, const char *lit)
{
    size_t n = strlen(lit);

    if (strncmp(*s, lit, n) != 0)
        return -1;
    *s += n;
    return 0;
}

/* Consumes a decimal uint32 without sign or leading zeros (as libargon2 requires). */
static int
phc_decimal(const char **s, uint32_t *out)
{
    const char *p = *s;
    uint64_t v = 0;
    size_t n = 0;

    while (*p >= '0' && *p <= '9') {
        if (++n > 10)
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
        p++;
    }
    if (n == 0 || (n > 1 && **s == '0') || v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    *s = p;
    return 0;
}

/* Consumes base64 up to the next '$' or the end of the string into out (8..64 bytes). */
static int
phc_b64field(const char **s, uint8_t *out, size_t *out_len)
{
    const char *end = strchr(*s, '$');
    size_t len = end != NULL ? (size_t)(end - *s) : strlen(*s);
    long n = secret_b64_decode(*s, len, out, BYTES_MAX);

    if (n < BYTES_MIN || n > BYTES_MAX)
        return -1;
    *out_len = (size_t)n;
    *s += len;
    return 0;
}

static int
params_valid(const struct password_params *p)
{
    return p->m_cost_kib >= PARAM_M_MIN && p->m_cost_kib <= PARAM_M_MAX &&
           p->t_cost >= PARAM_T_MIN && p->t_cost <= PARAM_T_MAX && p->parallelism >= PARAM_P_MIN &&
           p->parallelism <= PARAM_P_MAX && p->m_cost_kib >= 8 * p->parallelism;
}

/* Parses s strictly into out. 0, or -1 for anything malformed, unknown or out of bounds. */
static int
phc_parse(const char *s, struct phc *out)
{
    memset(out, 0, sizeof(*out));
    if (s == NULL || strnlen(s, PHC_MAX_LEN + 1) > PHC_MAX_LEN)
        return -1;
    if (phc_expect(&s, "$argon2id$v=") != 0)
        return -1;
    uint32_t version;
    if (phc_decimal(&s, &version) != 0 || version != ARGON2_VERSION_13)
        return -1;
    if (phc_expect(&s, "$m=") != 0 || phc_decimal(&s, &out->params.m_cost_kib) != 0 ||
        phc_expect(&s, ",t=") != 0 || phc_decimal(&s, &out->params.t_cost) != 0 ||
        phc_expect(&s, ",p=") != 0 || phc_decimal(&s, &out->params.parallelism) != 0)
        return -1;
    if (!params_valid(&out->params))
        return -1;
    if (phc_expect(&s, "$") != 0 || phc_b64field(&s, out->salt, &out->salt_len) != 0)
        return -1;
    if (phc_expect(&s, "$") != 0 || phc_b64field(&s, out->hash, &out->hash_len) != 0)
        return -1;
    return *s == '\0' ? 0 : -1;
}

/* ---- public functions --------------------------------------------------------------------- */

int
password_pool_init(int n)
{
    int r;

    metrics_describe(M_THREADS, METRICS_GAUGE,
                     "Argon2 computations that may run at once (--hash-threads)");
    metrics_describe(M_RUNNING_MAX, METRICS_GAUGE, "the most Argon2 computations that ran at once");
    metrics_describe(M_WAITS, METRICS_COUNTER,
                     "password hashes that waited for a free hash thread");
    metrics_describe(M_EXPIRED, METRICS_COUNTER,
                     "password hashes not computed: the call's deadline passed while they waited "
                     "for a hash thread");
    pthread_once(&sodium_once, sodium_start); /* at start, not in the first login */
    pthread_mutex_lock(&pool.mu);
    r = pool.running == 0 ? pool_resize_locked(n) : AUTHD_ERR_INVALID_ARGUMENT;
    pthread_mutex_unlock(&pool.mu);
    metrics_count(M_WAITS, NULL, 0);
    metrics_count(M_EXPIRED, NULL, 0);
    return r;
}

struct password_hold *
password_pool_hold(void)
{
    int err;
    struct slot *s = slot_take(0, &err);
    if (s != NULL) {
        pthread_mutex_lock(&pool.mu);
        pool.hashes--; /* slot_take counted a hash: a hold computes none */
        pthread_mutex_unlock(&pool.mu);
    }
    return (struct password_hold *)s;
}

void
password_pool_unhold(struct password_hold *h)
{
    if (h != NULL)
        slot_give((struct slot *)h, 0);
}

void
password_pool_stats(struct password_pool_stats *out)
{
    pthread_mutex_lock(&pool.mu);
    out->threads = pool.n;
    out->running = pool.running;
    out->running_max = pool.running_max;
    out->hashes = pool.hashes;
    out->waits = pool.waits;
    out->sodium = pool.sodium;
    out->expired = pool.expired;
    pthread_mutex_unlock(&pool.mu);
}

void
password_params_default(struct password_params *p)
{
    p->t_cost = 2;
    p->m_cost_kib = 19456;
    p->parallelism = 1;
}

int
password_policy_check(const char *pw, size_t len)
{
    if (len > PASSWORD_MAX_LEN)
        return AUTHD_ERR_TOO_LARGE;
    if (pw == NULL)
        return AUTHD_ERR_WEAK_PASSWORD;
    size_t chars = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)pw[i];
        if (c == '\0')
            return AUTHD_ERR_WEAK_PASSWORD;
        if ((c & 0xC0) != 0x80) /* not a continuation byte: a new code point starts */
            chars++;
    }
    return chars >= PASSWORD_MIN_LEN ? AUTHD_OK : AUTHD_ERR_WEAK_PASSWORD;
}

#define PASSWORD_STR_(x) #x
#define PASSWORD_STR(x) PASSWORD_STR_(x)

const char *
password_policy_problem(int err)
{
    /* Built from the same constants the check uses, so the words cannot drift from it. */
    if (err == AUTHD_ERR_WEAK_PASSWORD)
        return "the password must have at least " PASSWORD_STR(PASSWORD_MIN_LEN) " characters";
    if (err == AUTHD_ERR_TOO_LARGE)
        return "the password must be at most " PASSWORD_STR(PASSWORD_MAX_LEN) " bytes long";
    return NULL;
}

int
password_hash(const struct password_params *p, const char *pw, size_t len, char **phc)
{
    struct password_params def;
    uint8_t salt[SALT_BYTES];
    uint8_t hash[HASH_BYTES];
    char text[PHC_MAX_LEN + 1];
    int r = AUTHD_ERR_INTERNAL;

    if (phc != NULL)
        *phc = NULL;
    if (phc == NULL || (pw == NULL && len > 0))
        return AUTHD_ERR_INVALID_ARGUMENT;
    if (len > PASSWORD_MAX_LEN)
        return AUTHD_ERR_TOO_LARGE;
    if (p == NULL) {
        password_params_default(&def);
        p = &def;
    }
    if (!params_valid(p))
        return AUTHD_ERR_INVALID_ARGUMENT;
    if ((r = secret_random(salt, sizeof(salt))) != AUTHD_OK)
        goto out;
    if ((r = argon2id_raw(p, pw, len, salt, sizeof(salt), hash, sizeof(hash), 0)) != AUTHD_OK)
        goto out;

    int n = snprintf(text, sizeof(text), "$argon2id$v=%u$m=%u,t=%u,p=%u$", ARGON2_VERSION_13,
                     p->m_cost_kib, p->t_cost, p->parallelism);
    if (n < 0 || (size_t)n + 1 + 2 * (secret_b64url_len(HASH_BYTES) + 1) > sizeof(text)) {
        r = AUTHD_ERR_INTERNAL;
        goto out;
    }
    size_t o = (size_t)n;
    o += b64_encode(salt, sizeof(salt), text + o);
    text[o++] = '$';
    o += b64_encode(hash, sizeof(hash), text + o);
    text[o] = '\0';

    *phc = strdup(text);
    r = *phc != NULL ? AUTHD_OK : AUTHD_ERR_NOMEM;
out:
    secret_wipe(hash, sizeof(hash));
    secret_wipe(text, sizeof(text));
    return r;
}

int
password_verify(const char *phc, const char *pw, size_t len, const struct password_params *cur,
                int *needs_rehash)
{
    return password_verify_by(phc, pw, len, cur, needs_rehash, 0);
}

int
password_verify_by(const char *phc, const char *pw, size_t len, const struct password_params *cur,
                   int *needs_rehash, uint64_t deadline_ns)
{
    struct phc parsed;
    uint8_t computed[BYTES_MAX];
    int r = AUTHD_ERR_INVALID_CREDENTIALS;

    if (needs_rehash != NULL)
        *needs_rehash = 0;
    if ((pw == NULL && len > 0) || len > PASSWORD_MAX_LEN)
        goto out;
    if (phc_parse(phc, &parsed) != 0)
        goto out;
    int rc = argon2id_raw(&parsed.params, pw, len, parsed.salt, parsed.salt_len, computed,
                          parsed.hash_len, deadline_ns);
    if (rc != AUTHD_OK) {
        r = rc == AUTHD_ERR_NOMEM || rc == AUTHD_ERR_DEADLINE ? rc : AUTHD_ERR_INVALID_CREDENTIALS;
        goto out;
    }
    if (!secret_eq(computed, parsed.hash, parsed.hash_len))
        goto out;
    r = AUTHD_OK;
    /* Our own salt and hash sizes count as parameters too: older or foreign hashes move up. */
    if (needs_rehash != NULL && cur != NULL)
        *needs_rehash = parsed.params.t_cost != cur->t_cost ||
                        parsed.params.m_cost_kib != cur->m_cost_kib ||
                        parsed.params.parallelism != cur->parallelism ||
                        parsed.salt_len != SALT_BYTES || parsed.hash_len != HASH_BYTES;
out:
    secret_wipe(computed, sizeof(computed));
    secret_wipe(&parsed, sizeof(parsed));
    return r;
}

void
password_burn(const struct password_params *p, const char *pw, size_t len)
{
    (void)password_burn_by(p, pw, len, 0);
}

int
password_burn_by(const struct password_params *p, const char *pw, size_t len, uint64_t deadline_ns)
{
    struct password_params def;
    uint8_t hash[HASH_BYTES];

    /* Mirror password_verify(): inputs it refuses without hashing cost no work here either. */
    if ((pw == NULL && len > 0) || len > PASSWORD_MAX_LEN)
        return AUTHD_OK;
    if (p == NULL) {
        password_params_default(&def);
        p = &def;
    }
    if (!params_valid(p))
        return AUTHD_OK;
    int r = argon2id_raw(p, pw, len, burn_salt, sizeof(burn_salt), hash, sizeof(hash), deadline_ns);
    secret_wipe(hash, sizeof(hash));
    return r == AUTHD_ERR_DEADLINE ? r : AUTHD_OK;
}

int
password_phc_check(const char *phc)
{
    struct phc parsed;
    int r = phc_parse(phc, &parsed) == 0 ? AUTHD_OK : AUTHD_ERR_INVALID_ARGUMENT;
    secret_wipe(&parsed, sizeof(parsed));
    return r;
}
