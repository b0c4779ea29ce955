/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Second-factor logic shared by the TwoFactor service, the login step (Sessions) and password
 * reset: opening a user's TOTP secret, checking a code or a recovery code and recording its use
 * (the newest accepted step, or the spent recovery code) in the user record, the lockout gate,
 * and recovery-code generation. Callers run the check inside the transaction that also saves the
 * record, so two concurrent submissions of one code cannot both pass.
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
 * Checks code (TOTP, against rec->totp, or against st when st is not NULL) or, when code is
 * empty, recovery_code against rec's recovery hashes, and records the use in rec (last_step
 * advanced, or the recovery code removed): the caller must save rec in the same transaction.
 * *used_recovery (may be NULL) says which kind passed. AUTHD_OK, AUTHD_ERR_WRONG_CODE,
 * AUTHD_ERR_SECOND_FACTOR_REQUIRED (both empty), AUTHD_ERR_NOT_ENABLED, or AUTHD_ERR_INTERNAL.
 */
int twofactor_check(struct authd *a, Authd__Storage__UserRecord *rec, Authd__Storage__TotpState *st,
                    const char *code, const char *recovery_code, int *used_recovery);

/*
 * The lockout gate before a check: AUTHD_OK, or AUTHD_ERR_LOCKED (with a message naming the
 * wait set on ctx when not NULL).
 */
int twofactor_gate(struct authd *a, struct rpc_ctx *ctx, const char *user_id, const char *ip);

/*
 * Records the outcome err of a check (or of the gate: AUTHD_ERR_LOCKED) for the lockout counters
 * and as audit events: second_factor (reason totp, recovery_code, wrong_code or locked) and, when
 * used_recovery, recovery_code_used. who (borrowed) names the user, and may name the client and
 * address; its reason says where the code was given ("login", "reset", "oauth", "disable"...), for
 * recovery_code_used. Other errors record nothing.
 */
void twofactor_outcome(struct authd *a, struct rpc_ctx *ctx, const struct audit *who, int err,
                       int used_recovery);

/*
 * Replaces rec's recovery codes with TWOFACTOR_RECOVERY_CODES new ones, written into codes (each
 * TWOFACTOR_RECOVERY_LEN + 1 bytes; secrets: wipe after use). AUTHD_OK or AUTHD_ERR_NOMEM.
 */
int twofactor_recovery_new(Authd__Storage__UserRecord *rec,
                           char codes[TWOFACTOR_RECOVERY_CODES][TWOFACTOR_RECOVERY_LEN + 1]);

/* Turns 2FA off in rec: secret, pending enrolment and recovery codes erased. */
void twofactor_clear(Authd__Storage__UserRecord *rec);

/* Sets *st to a malloc'd copy-free replacement: frees the old one (rpc_msg_free) first. */
void twofactor_set_state(Authd__Storage__TotpState **slot, Authd__Storage__TotpState *st);

#endif
