/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Brute-force back-off: the policies and the records. Failures are counted per kind (passwords,
 * second factors, e-mails sent, codes delivered) and per subject: the account (keyed by
 * normalised e-mail, so unknown e-mails behave exactly like known ones) and the client address.
 * After a number of free failures, each further failure locks the subject for an exponentially
 * growing time (capped); while locked, attempts are refused before any secret is checked, so a
 * locked login cannot keep guessing. Counters are forgotten after a quiet window. The numbers are
 * the AuthConfig's `lockout` (defaults when absent), read from authd's cached config on each
 * use. Updates are read-modify-write transactions, so concurrent failures are all counted.
 */
#ifndef AUTHD_THROTTLE_H
#define AUTHD_THROTTLE_H

#include <stddef.h>
#include <stdint.h>

#include "authd/v1/admin.pb-c.h"

struct authd;
struct store_txn;

enum throttle_kind {
    THROTTLE_PASSWORD = 0,
    THROTTLE_SECOND_FACTOR = 1,
    THROTTLE_MAIL = 2,
    THROTTLE_DELIVERY = 3,
    /* OAuth client secrets: counters of their own, so that wrong user passwords relayed by an
     * app (the password grant) never gate the app's own secret, and an app's wrong secrets never
     * lock user logins from its address. */
    THROTTLE_CLIENT_SECRET = 4
};
enum throttle_subject { THROTTLE_ACCOUNT = 0, THROTTLE_ADDRESS = 1 };
#define THROTTLE_KINDS 5
#define THROTTLE_SUBJECTS 2

struct throttle_policy {
    uint32_t free_failures; /* failures before the first lock */
    int64_t base_lock;      /* seconds of the first lock; doubles with each further failure */
    int64_t max_lock;       /* cap on one lock, seconds */
    int64_t window;         /* seconds without failure after which the counter resets */
};

/* Every kind's policies, as AuthConfig.lockout says (by kind, then subject). */
struct throttle_policies {
    struct throttle_policy p[THROTTLE_KINDS][THROTTLE_SUBJECTS];
};

/* Fills out with the defaults (README, AuthConfig: lockout). */
void throttle_policies_default(struct throttle_policies *out);

/*
 * The policies that c (NULL: none) sets: the defaults, with each non-zero field of c in place of
 * the default, then validated. AUTHD_OK, or AUTHD_ERR_INVALID_ARGUMENT with err (errlen bytes)
 * naming the field and the rule, e.g. "lockout.password.account.maxWait must be at least
 * firstWait (1 s)"; out then holds the defaults.
 */
int throttle_policies_from_config(const Authd__V1__LockoutConfig *c, struct throttle_policies *out,
                                  char *err, size_t errlen);

/* The policy for a kind and subject under a's cached AuthConfig, copied into *out. */
void throttle_policy(struct authd *a, enum throttle_kind k, enum throttle_subject s,
                     struct throttle_policy *out);

/* The longest window of any policy under a's cached AuthConfig (the sweeper's staleness). */
int64_t throttle_widest_window(struct authd *a);

/*
 * AUTHD_OK when subject may try now, AUTHD_ERR_LOCKED with *retry_after (seconds) when not.
 * Empty subjects are never locked. Storage errors are returned as they are.
 */
int throttle_check(struct authd *a, enum throttle_kind k, enum throttle_subject s,
                   const char *subject, int64_t *retry_after);

/* throttle_check that also says whether subject has a counter at all: *found is 1 when a record
 * was read (locked or not), 0 when there is none (or subject is never counted), so that a
 * success after it knows whether it has failures to forget. Same answers as throttle_check. */
int throttle_check_found(struct authd *a, enum throttle_kind k, enum throttle_subject s,
                         const char *subject, int64_t *retry_after, int *found);

/* Counts one failure for subject (and locks it when over the free failures). */
int throttle_fail(struct authd *a, enum throttle_kind k, enum throttle_subject s,
                  const char *subject);

/*
 * Atomically checks and counts one attempt for subject before it is judged: AUTHD_ERR_LOCKED
 * (with *retry_after) while locked, else AUTHD_OK with the attempt counted (a success then
 * calls throttle_reset). Counting before judging means concurrent guesses cannot all slip in
 * before the first failure is recorded.
 */
int throttle_attempt(struct authd *a, enum throttle_kind k, enum throttle_subject s,
                     const char *subject, int64_t *retry_after);

/* Records a failed guess against the account and the address (logs when it cannot). The judging
 * around it (serial lock, gate, refusal) is guard.h's. */
void throttle_failed(struct authd *a, enum throttle_kind k, const char *account, const char *ip);

/* Forgets subject's failures (after a success). Costs a read, and a write only when needed. */
int throttle_reset(struct authd *a, enum throttle_kind k, enum throttle_subject s,
                   const char *subject);

/* Forgets subject's failures inside txn (borrowed), so the reset is part of the caller's one
 * write: a delete without a read (deleting an absent counter is no error). AUTHD_OK, or the
 * store's error. */
int throttle_reset_txn(struct store_txn *txn, enum throttle_kind k, enum throttle_subject s,
                       const char *subject);

/*
 * IPv6 addresses are counted by network: one subscriber is usually given a whole /64 (RFC 6177),
 * so a counter per exact address would give a guesser 2^64 fresh addresses. IPv4 addresses are
 * counted one by one, as before.
 */
#define THROTTLE_V6_PREFIX 64

/*
 * The subject an address's failures count against, written into buf (cap bytes; 46 is enough)
 * and returned: an IPv4 address unchanged; an IPv4-mapped IPv6 address (::ffff:a.b.c.d) as that
 * IPv4 address; any other IPv6 address as its THROTTLE_V6_PREFIX network, canonical, host bits
 * zero ("2001:db8:1:2:aa::1" is "2001:db8:1:2::"); anything else (a peer kind such as "unix",
 * an address with a zone) unchanged. Used on every address subject by the functions above.
 * Pure; thread-safe.
 */
const char *throttle_address_group(const char *ip, char *buf, size_t cap);

/* The lock, in seconds, that the n-th consecutive failure earns under p (0 = none). */
int64_t throttle_lock_for(const struct throttle_policy *p, uint32_t n);

#endif
