/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Password hashing with Argon2id, stored as PHC strings
 *   $argon2id$v=19$m=19456,t=2,p=1$<salt b64>$<hash b64>
 * (standard base64 without padding, as the PHC format, libargon2 and libsodium write it).
 * Parallelism 1 with our 16-byte salts is computed by libsodium (SIMD code chosen for the CPU at
 * run time); anything else (p > 1, other salt sizes from imported hashes) by libargon2, so that
 * every hash either library ever wrote verifies. Every Argon2 computation runs in a slot of a
 * process-wide pool of password_pool_init() size: at most that many run at once (the others
 * wait), and a slot holds at most one work area (libsodium maps one for each hash; libargon2's
 * is kept between hashes, because touching fresh memory costs a share of every hash). Memory
 * held by hashing is thus bounded by (slots x memory cost). Passwords are borrowed and never
 * copied unwiped.
 */
#ifndef AUTHD_PASSWORD_H
#define AUTHD_PASSWORD_H

#include <stddef.h>
#include <stdint.h>

#define PASSWORD_MIN_LEN 8
#define PASSWORD_MAX_LEN 1024 /* bytes; longer inputs are refused, not truncated */

struct password_params {
    uint32_t t_cost;      /* iterations */
    uint32_t m_cost_kib;  /* memory in KiB */
    uint32_t parallelism; /* lanes */
};

#define PASSWORD_THREADS_MAX 256 /* largest hash pool */

/*
 * Sizes the hash pool: at most n Argon2 computations (password_hash, password_verify,
 * password_burn) run at once; n <= 0 means one per online core, n above PASSWORD_THREADS_MAX
 * is cut to it. A slot keeps the libargon2 work area of the largest memory cost it has run (up
 * to 64 MiB) until it runs a libsodium hash, which maps its own for that hash only, so hashing
 * holds at most n x memory cost. A hash that finds every slot busy waits for
 * one; it holds no lock of this module while it waits, and a slot is held only across the
 * Argon2 computation itself (no lock is taken under it), so a caller may wait under its own
 * locks without deadlock. Also describes the pool's metrics (authd_password_hash_threads,
 * authd_password_hashes_running_max, authd_password_hash_waits_total,
 * authd_password_hash_expired_total). Without a call, the
 * first hash sizes the pool to the cores. Call at start, or again while no hash runs (tests);
 * AUTHD_OK, AUTHD_ERR_INVALID_ARGUMENT while a hash runs, AUTHD_ERR_NOMEM. Thread-safe.
 */
int password_pool_init(int n);

struct password_pool_stats {
    int threads;      /* the pool's size */
    int running;      /* computations running now */
    int running_max;  /* the most that ran at once since the pool was last sized */
    uint64_t hashes;  /* computations started */
    uint64_t waits;   /* of which waited for a slot */
    uint64_t sodium;  /* of which libsodium computed (the others: libargon2) */
    uint64_t expired; /* hashes not computed: their deadline came before a free slot */
};

/* A snapshot of the pool's counters. Thread-safe. */
void password_pool_stats(struct password_pool_stats *out);

/*
 * For tests: takes a slot of the pool (waiting for one) and holds it, computing nothing, until
 * password_pool_unhold(), so that a test can make hashes wait for a slot without racing a
 * running hash. NULL on NOMEM. Never hold one across password_pool_init(). Thread-safe.
 */
struct password_hold;
struct password_hold *password_pool_hold(void);
void password_pool_unhold(struct password_hold *h); /* NULL: no-op */

/* OWASP defaults: m=19456 KiB (19 MiB), t=2, p=1. */
void password_params_default(struct password_params *p);

/*
 * Checks the policy: at least PASSWORD_MIN_LEN characters (UTF-8 code points), at most
 * PASSWORD_MAX_LEN bytes, no NUL. AUTHD_OK, AUTHD_ERR_WEAK_PASSWORD or AUTHD_ERR_TOO_LARGE.
 */
int password_policy_check(const char *pw, size_t len);

/*
 * The sentence that says the rule a password_policy_check() error broke, with the numbers
 * ("the password must have at least 8 characters"), for the RPC status message that authctl
 * prints; NULL for any other err. A static string.
 */
const char *password_policy_problem(int err);

/*
 * Hashes pw with a fresh 16-byte salt (32-byte hash). p NULL means password_params_default().
 * *phc receives a malloc'd PHC string (free with free()). AUTHD_OK, AUTHD_ERR_TOO_LARGE,
 * AUTHD_ERR_NOMEM, AUTHD_ERR_INTERNAL, or AUTHD_ERR_INVALID_ARGUMENT when phc is NULL or p is
 * outside what password_verify() accepts (m 8..4194304 KiB and >= 8 * p, t 1..100, p 1..16).
 */
int password_hash(const struct password_params *p, const char *pw, size_t len, char **phc);

/*
 * Verifies pw against phc in constant time. AUTHD_OK on a match, else
 * AUTHD_ERR_INVALID_CREDENTIALS (also for a malformed or unsupported phc, or an over-long pw).
 * On a match, *needs_rehash (may be NULL; cleared on entry) is set to 1 when phc's parameters
 * (m, t, p, or salt/hash sizes other than 16/32 bytes) differ from cur (NULL: never set).
 * AUTHD_ERR_NOMEM when the work area cannot be allocated.
 */
int password_verify(const char *phc, const char *pw, size_t len, const struct password_params *cur,
                    int *needs_rehash);

/*
 * password_verify() for a caller with a deadline: deadline_ns is a CLOCK_MONOTONIC instant
 * (metrics_now_ns(); 0: none). When it has passed, or passes while the hash waits for a free
 * slot of the pool, nothing is computed and the answer is AUTHD_ERR_DEADLINE (counted in
 * authd_password_hash_expired_total): the password was not judged, so the caller must not
 * count it as a wrong one. A hash that got its slot runs to the end whatever the clock says.
 */
int password_verify_by(const char *phc, const char *pw, size_t len,
                       const struct password_params *cur, int *needs_rehash, uint64_t deadline_ns);

/*
 * Does the same work as a password_verify() with parameters p (NULL: the defaults) and throws
 * the result away: called for unknown users so that they cost the same time as a wrong password.
 */
void password_burn(const struct password_params *p, const char *pw, size_t len);

/*
 * password_burn() with a deadline as password_verify_by(): AUTHD_ERR_DEADLINE when it came
 * before a free slot (nothing computed), else AUTHD_OK.
 */
int password_burn_by(const struct password_params *p, const char *pw, size_t len,
                     uint64_t deadline_ns);

/*
 * Checks that phc (borrowed, may be NULL) is a hash password_verify() accepts: the strict PHC
 * form above, Argon2id version 19, m/t/p within bounds, salt and hash of 8..64 bytes, nothing
 * after it. For importers of precomputed hashes (authd/import.h). AUTHD_OK or
 * AUTHD_ERR_INVALID_ARGUMENT. Pure and thread-safe; the parsed copy is wiped.
 */
int password_phc_check(const char *phc);

#endif
