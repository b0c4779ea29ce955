/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Password hashing with Argon2id (libargon2), stored as PHC strings
 *   $argon2id$v=19$m=19456,t=2,p=1$<salt b64>$<hash b64>
 * (standard base64 without padding, as the PHC format and libargon2 write it).
 * Each thread reuses one Argon2 work area (allocate_cbk/free_cbk), because touching fresh
 * memory costs ~3 ms/MiB on our VMs. Passwords are borrowed and never copied unwiped.
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

/* OWASP defaults: m=19456 KiB (19 MiB), t=2, p=1. */
void password_params_default(struct password_params *p);

/*
 * Checks the policy: at least PASSWORD_MIN_LEN characters (UTF-8 code points), at most
 * PASSWORD_MAX_LEN bytes, no NUL. AUTHD_OK, AUTHD_ERR_WEAK_PASSWORD or AUTHD_ERR_TOO_LARGE.
 */
int password_policy_check(const char *pw, size_t len);

/*
 * Hashes pw with a fresh 16-byte salt. *phc receives a malloc'd PHC string (free with free()).
 * AUTHD_OK, AUTHD_ERR_TOO_LARGE, AUTHD_ERR_NOMEM or AUTHD_ERR_INTERNAL.
 */
int password_hash(const struct password_params *p, const char *pw, size_t len, char **phc);

/*
 * Verifies pw against phc in constant time. AUTHD_OK on a match, else
 * AUTHD_ERR_INVALID_CREDENTIALS (also for a malformed or unsupported phc, or an over-long pw).
 * On a match, *needs_rehash (may be NULL) is set to 1 when phc's parameters differ from cur.
 */
int password_verify(const char *phc, const char *pw, size_t len, const struct password_params *cur,
                    int *needs_rehash);

/*
 * Does the same work as a password_verify() with parameters p and throws the result away:
 * called for unknown users so that they cost the same time as a wrong password.
 */
void password_burn(const struct password_params *p, const char *pw, size_t len);

#endif
