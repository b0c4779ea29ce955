/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Second-factor logic shared by the TwoFactor service, the login step (Sessions) and password
 * reset: opening a user's TOTP secret, checking a code or a recovery code and recording its use
 * (the newest accepted step, or the spent recovery code) in the user record, the judging around
 * a check (guard.h), and recovery-code generation. Callers run the check inside the transaction
 * that also saves the record, so two concurrent submissions of one code cannot both pass.
 */
#ifndef AUTHD_TWOFACTOR_H
#define AUTHD_TWOFACTOR_H

#include <stddef.h>
#include <stdint.h>

#include "authd/authd.h"
#include "storage/records.pb-c.h"

struct audit;

#define TWOFACTOR_RECOVERY_CODES 10
#define TWOFACTOR_RECOVERY_LEN 19 /* "xxxx-xxxx-xxxx-xxxx": 16 base32 characters, 80 bits */
#define TWOFACTOR_PENDING_TTL 600 /* seconds a login may wait for its second factor */

/* The OTP parameters stored with a secret (defaults for absent fields). */
void twofactor_params(const Authd__Storage__TotpState *st, struct otp_params *p);

/*
 * Opens st's secret, sealed for user_id. *key (malloc'd; free with secret_freezero(*key, *klen))
 * belongs to the caller. AUTHD_OK or AUTHD_ERR_INTERNAL (no key box, or the box does not open).
 */
int twofactor_secret_open(struct authd *a, const char *user_id, const Authd__Storage__TotpState *st,
                          uint8_t **key, size_t *klen);

/*
 * A new TotpState with a fresh 160-bit secret sealed for user_id, the configured parameters and
 * transport; the base32 secret is written to secret_b32 (at least 33 bytes; a secret: wipe it).
 * *out is malloc'd (rpc_msg_free). AUTHD_OK, AUTHD_ERR_NOMEM or AUTHD_ERR_INTERNAL.
 */
int twofactor_state_new(struct authd *a, const char *user_id, const char *transport,
                        Authd__Storage__TotpState **out, char *secret_b32);

/*
 * The current code of st (for webhook delivery) into code (at least OTP_MAX_DIGITS + 1 bytes).
 */
int twofactor_current_code(struct authd *a, const char *user_id,
                           const Authd__Storage__TotpState *st, char *code);

/*
 * What a transaction step's code check found, for the lockout counters and the audit events (see
 * twofactor_guarded). check_err is TWOFACTOR_UNJUDGED until twofactor_check fills it.
 */
struct twofactor_judge {
    int check_err;     /* twofactor_check's result, or TWOFACTOR_UNJUDGED */
    int used_recovery; /* a recovery code passed */
};
#define TWOFACTOR_UNJUDGED 1

/*
 * Checks code (TOTP, against rec->totp, or against st when st is not NULL) or, when code is
 * empty, recovery_code against rec's recovery hashes, and records the use in rec (last_step
 * advanced, or the recovery code removed): the caller must save rec in the same transaction.
 * The result and which kind passed go into *j (may be NULL). AUTHD_OK, AUTHD_ERR_WRONG_CODE,
 * AUTHD_ERR_SECOND_FACTOR_REQUIRED (both empty), AUTHD_ERR_NOT_ENABLED, or AUTHD_ERR_INTERNAL.
 */
int twofactor_check(struct authd *a, Authd__Storage__UserRecord *rec, Authd__Storage__TotpState *st,
                    const char *code, const char *recovery_code, struct twofactor_judge *j);

/*
 * Runs step(a, txn, arg) through account_txn_run as one judged attempt (guard.h) of the
 * second-factor kind for who->user from who->ip: refused with AUTHD_ERR_LOCKED (guard_refuse:
 * "too many wrong codes", oauth_code; event second_factor/locked)
 * while either is locked, and otherwise the step's result. The step passes j to twofactor_check;
 * j is cleared before each run of the step. A code it judged is recorded: a wrong one counts a
 * failure (event second_factor/wrong_code), a right one forgets the user's failures (event
 * second_factor/totp or recovery_code, then recovery_code_used with who->reason saying where:
 * "login", "reset", "oauth", "disable"...). who (borrowed) names the user and may name the client
 * and the address. Holds the user's serial lock throughout: the caller holds no other guard.
 */
int twofactor_guarded(struct authd *a, struct rpc_ctx *ctx, const struct audit *who,
                      const char *oauth_code,
                      int (*step)(struct authd *, struct store_txn *, void *), void *arg,
                      struct twofactor_judge *j);

/*
 * Replaces rec's recovery codes with TWOFACTOR_RECOVERY_CODES new ones, written into codes (each
 * TWOFACTOR_RECOVERY_LEN + 1 bytes; secrets: wipe after use). AUTHD_OK or AUTHD_ERR_NOMEM.
 */
int twofactor_recovery_new(Authd__Storage__UserRecord *rec,
                           char codes[TWOFACTOR_RECOVERY_CODES][TWOFACTOR_RECOVERY_LEN + 1]);

/* Turns 2FA off in rec: secret, pending enrolment and recovery codes erased. */
void twofactor_clear(Authd__Storage__UserRecord *rec);

/* Longest transport name (Aidbox's twoFactor.transport, e.g. "sms"). */
#define TWOFACTOR_TRANSPORT_MAX 32

/* 1 when t is a usable transport name: "" or up to TWOFACTOR_TRANSPORT_MAX of A-Z a-z 0-9 - _ . */
int twofactor_transport_valid(const char *t);

/*
 * Sets the transport of a user whose two-factor authentication is on (the user shown and the
 * confirmed TOTP state, which the delivery code follows). AUTHD_ERR_NOT_ENABLED when it is off
 * (only "" is then accepted, as a no-op), AUTHD_ERR_INVALID_ARGUMENT for a bad name, NOMEM.
 */
int twofactor_set_transport(Authd__Storage__UserRecord *rec, const char *transport);

/*
 * The user a password-reset link (token, a secret: never logged) was issued for, while the link
 * still works: unexpired and unused, its user present and active, and issued for the user's
 * current password (as PasswordReset.Get checks). Nothing is consumed. AUTHD_OK with *out
 * (rpc_msg_free), else AUTHD_ERR_INVALID_TOKEN or a storage error with *out NULL. Defined in
 * svc_reset.c, where reset links are judged; TwoFactor.IssueDeliveryCode uses it.
 */
int twofactor_reset_user(struct authd *a, const char *token, Authd__Storage__UserRecord **out);

/* Sets *st to a malloc'd copy-free replacement: frees the old one (rpc_msg_free) first. */
void twofactor_set_state(Authd__Storage__TotpState **slot, Authd__Storage__TotpState *st);

#endif
