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
 * rec (save it in txn). Sets j->kind (hwk or swk), j->possible_clone, j->why, and j->burn once
 * the challenge was found to be this user's. AUTHD_OK, AUTHD_ERR_KEY_REFUSED,
 * AUTHD_ERR_FAILED_PRECONDITION (passkeys not configured) or a storage error.
 */
int webauthn_login_judge(struct authd *a, struct store_txn *txn, Authd__Storage__UserRecord *rec,
                         const struct twofactor_proof *p, struct twofactor_judge *j);

/*
 * Takes the challenge of p's ceremony (bound as p says, for user_id) in a transaction of its own:
 * after a refused assertion, whose step was rolled back with the take. Errors are logged.
 */
void webauthn_login_burn(struct authd *a, const struct twofactor_proof *p, const char *user_id);

/* Counts a signature counter that went back (authd_webauthn_counter_regressions_total). */
void webauthn_login_clone_seen(void);

/* Describes authd_webauthn_counter_regressions_total and shows it at 0 (at start-up). */
void webauthn_login_metrics(void);

/*
 * The WebAuthn service's BeginAssertion and FinishAssertion (their rows are in svc_webauthn.c's
 * table; the contract is webauthn.proto's).
 */
int webauthn_begin_assertion(struct rpc_ctx *ctx, const ProtobufCMessage *reqm,
                             ProtobufCMessage *respm);
int webauthn_finish_assertion(struct rpc_ctx *ctx, const ProtobufCMessage *reqm,
                              ProtobufCMessage *respm);

#endif
