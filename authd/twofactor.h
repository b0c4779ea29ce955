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
 * One presented second factor, as a request carries it (all borrowed; NULL and "" are absent):
 * a TOTP code, else a recovery code, else a WebAuthn assertion (credential_json, the browser's
 * AuthenticationResponseJSON, answering the ceremony ceremony_id). One proof is judged, in that
 * order of preference, whatever else the request carries.
 */
struct twofactor_proof {
    const char *code;
    const char *recovery_code;
    const char *ceremony_id;
    const char *credential_json;
    /* The session the ceremony's challenge must be bound to (the pending login, or the signed-in
     * session asking for a step-up); "" for a passwordless sign-in. */
    const char *session_id;
    /* Which ceremony the assertion must answer: TWOFACTOR_CEREMONY_* (the challenge record's
     * purpose; 0 means TWOFACTOR_CEREMONY_STEP_UP). */
    int purpose;
};

/* WebAuthnChallengeRecord.purpose values (records.proto). */
#define TWOFACTOR_CEREMONY_REGISTRATION 1
#define TWOFACTOR_CEREMONY_LOGIN 2
#define TWOFACTOR_CEREMONY_STEP_UP 3
#define TWOFACTOR_CEREMONY_PASSWORDLESS 4
#define TWOFACTOR_CEREMONY_RESET 5

/* What passed (struct twofactor_judge.kind). */
enum twofactor_kind {
    TWOFACTOR_KIND_NONE = 0,
    TWOFACTOR_KIND_TOTP,     /* a TOTP code */
    TWOFACTOR_KIND_RECOVERY, /* a recovery code (spent) */
    TWOFACTOR_KIND_HWK,      /* a WebAuthn key that is not backup-eligible (RFC 8176 "hwk") */
    TWOFACTOR_KIND_SWK,      /* a backup-eligible (synced) passkey (RFC 8176 "swk") */
};

/* The RFC 8176 amr value of a key kind ("hwk" or "swk"), or NULL for the others. */
const char *twofactor_kind_amr(enum twofactor_kind k);

/*
 * What a transaction step's check found, for the lockout counters and the audit events (see
 * twofactor_guarded). check_err is TWOFACTOR_UNJUDGED until twofactor_check fills it.
 */
struct twofactor_judge {
    int check_err;            /* twofactor_check's result, or TWOFACTOR_UNJUDGED */
    int used_recovery;        /* a recovery code passed (kind == TWOFACTOR_KIND_RECOVERY) */
    enum twofactor_kind kind; /* what passed; TWOFACTOR_KIND_NONE until one did */
    int assertion;            /* a WebAuthn assertion was judged (passed or not) */
    int possible_clone;       /* an assertion verified but its signature counter went back */
    /* The judged proof (borrowed) once its ceremony was found to be this user's: burnt after a
     * refusal, so a refused assertion's challenge is single use too. */
    const struct twofactor_proof *burn;
    const char *why; /* a refused assertion: the check that failed (a constant phrase) */
};
#define TWOFACTOR_UNJUDGED 1

/*
 * Checks the proof p against rec and records its use in rec: the caller must save rec in the
 * same transaction txn. A code: TOTP against rec->totp (or st, an enrolment being confirmed,
 * when st is not NULL; then only a code counts), last_step advanced. A recovery code: removed
 * from rec's hashes. An assertion: its challenge (wachal/<ceremony_id>) is taken in txn (single
 * use), and must be unexpired, of p->purpose, and bound to rec's user and p->session_id (a
 * passwordless one to neither); the credential must be one of rec's keys; the assertion is
 * verified (webauthn.h: the configured rpId and origins, user verification as the challenge
 * demands and always for a passwordless sign-in) and the key's sign_count and last_used_at are
 * updated. The result and what passed go into *j (may be NULL). AUTHD_OK, AUTHD_ERR_WRONG_CODE
 * (wrong, reused or expired code; an assertion refused, its challenge unknown, taken, expired or
 * of another session or purpose, a signature counter that did not advance: j->possible_clone;
 * a TOTP code for a user whose second factor is keys only), AUTHD_ERR_SECOND_FACTOR_REQUIRED
 * (nothing presented), AUTHD_ERR_NOT_ENABLED (2FA off), AUTHD_ERR_NOT_REQUESTED (passkeys are
 * not configured), or a storage error / AUTHD_ERR_INTERNAL.
 */
int twofactor_check(struct authd *a, struct store_txn *txn, Authd__Storage__UserRecord *rec,
                    Authd__Storage__TotpState *st, const struct twofactor_proof *p,
                    struct twofactor_judge *j);

/*
 * Runs step(a, txn, arg) through account_txn_run as one judged attempt (guard.h) of the
 * second-factor kind for who->user from who->ip: refused with AUTHD_ERR_LOCKED (guard_refuse:
 * "too many wrong codes", oauth_code; event second_factor/locked)
 * while either is locked, and otherwise the step's result. The step passes j to twofactor_check;
 * j is cleared before each run of the step. A proof it judged is recorded: a wrong one
 * (WRONG_CODE, KEY_REFUSED: then j->why is the call's message) counts a
 * failure (event second_factor/wrong_code, or key_refused for an assertion, or possible_clone
 * when a key's signature counter went back: also counted in
 * authd_webauthn_counter_regressions_total), a right one forgets the user's failures (event
 * second_factor/totp, recovery_code or webauthn, then recovery_code_used with who->reason
 * saying where: "login", "reset", "oauth", "disable"...). Codes and keys share one counter: a
 * user locked out by wrong codes is locked for keys, and the reverse. The challenge of a refused
 * assertion is deleted after the step (a ceremony is answered once, right or wrong). who
 * (borrowed) names the user and may name the client and the address. Holds the user's serial
 * lock throughout: the caller holds no other guard.
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

/*
 * Turns 2FA off in rec: secret, pending enrolment, recovery codes and WebAuthn keys erased, and
 * the keys' wacred/ index entries deleted in txn (save rec in the same transaction). AUTHD_OK or
 * a storage error.
 */
int twofactor_clear(struct store_txn *txn, Authd__Storage__UserRecord *rec);

/* 1 when rec's user has two-factor authentication on (a confirmed TOTP secret or a key). */
int twofactor_enabled(const Authd__Storage__UserRecord *rec);

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
 * (rpc_msg_free), else AUTHD_ERR_INVALID_TOKEN or a storage error with *out NULL. link (KEY_MAX
 * bytes, may be NULL) receives the link's name (twofactor_reset_link). Defined in svc_reset.c,
 * where reset links are judged; TwoFactor.IssueDeliveryCode and WebAuthn.BeginAssertion (a
 * reset's key ceremony) use it.
 */
int twofactor_reset_user(struct authd *a, const char *token, Authd__Storage__UserRecord **out,
                         char *link);

/*
 * The name of the reset link token (its record's key, not a secret) into link (KEY_MAX bytes):
 * what a reset's key ceremony is bound to in place of a session. AUTHD_OK or
 * AUTHD_ERR_INVALID_TOKEN (not a token).
 */
int twofactor_reset_link(const char *token, char *link);

/* Sets *st to a malloc'd copy-free replacement: frees the old one (rpc_msg_free) first. */
void twofactor_set_state(Authd__Storage__TotpState **slot, Authd__Storage__TotpState *st);

#endif
