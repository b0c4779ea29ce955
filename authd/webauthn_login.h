/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Signing in with a WebAuthn key (authd.v1.WebAuthn BeginAssertion and FinishAssertion,
 * webauthn_login.c): the second factor of a pending login, a step-up of a signed-in session,
 * and a passwordless sign-in with a discoverable credential; and the assertion judge that
 * twofactor_check (twofactor.h) calls, so a key is one more proof beside TOTP and recovery
 * codes, judged under the same lockout.
 */
#ifndef AUTHD_WEBAUTHN_LOGIN_H
#define AUTHD_WEBAUTHN_LOGIN_H

#include "authd/authd.h"
#include "authd/twofactor.h"
#include "storage/records.pb-c.h"

/*
 * The assertion branch of twofactor_check (p->credential_json answering p->ceremony_id): takes
 * the challenge in txn, checks its purpose, user, session and expiry, finds the credential among
 * rec's keys, verifies the assertion (webauthn.h) and records the new counter and last_used_at in
 * rec (save it in txn). Sets j->kind (hwk or swk), j->possible_clone, and j->ceremony_id once the
 * challenge was found to be this user's. AUTHD_OK, AUTHD_ERR_WRONG_CODE, AUTHD_ERR_NOT_REQUESTED
 * (passkeys not configured) or a storage error.
 */
int webauthn_login_judge(struct authd *a, struct store_txn *txn, Authd__Storage__UserRecord *rec,
                         const struct twofactor_proof *p, struct twofactor_judge *j);

/* Deletes the challenge of ceremony_id (may be NULL: nothing) in a transaction of its own: after
 * a refused assertion, whose step was rolled back. Errors are logged. */
void webauthn_login_burn(struct authd *a, const char *ceremony_id);

/* Counts a signature counter that went back (authd_webauthn_counter_regressions_total). */
void webauthn_login_clone_seen(void);

/* Drops every key of rec (and their wacred/ index entries, in txn). AUTHD_OK or a storage
 * error. */
int webauthn_login_forget_keys(struct store_txn *txn, Authd__Storage__UserRecord *rec);

#endif
