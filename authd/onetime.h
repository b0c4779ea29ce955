/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One-time e-mailed tokens: signup confirmations (keys.h: signup/<id>) and password resets
 * (reset/<id>), each a OneTimeRecord holding the SHA-256 of the token's secret and an expiry,
 * plus the checks every request that sends such an e-mail passes first (sizes of the client
 * context, the e-mail rate limit). A token is consumed by deleting its key inside the
 * transaction that acts on it, so it works once even for two concurrent requests.
 *
 * Ownership: tokens come back in a caller's struct token (wipe it with token_wipe), records in
 * *out (free with rpc_msg_free); strings and messages put into a call's arena (ctx) live as long
 * as the call. Out-parameters are cleared on entry. Presented tokens are borrowed and never
 * logged. Through a txn, AUTHD_ERR_CONFLICT means: return it from the step (txn.h retries).
 */
#ifndef AUTHD_ONETIME_H
#define AUTHD_ONETIME_H

#include <stdint.h>

#include "authd/authd.h"
#include "common/email.h"
#include "storage/records.pb-c.h"
#include "authd/token.h"

/* Largest ClientContext field accepted (a redirect URI with its query fits easily). */
#define ACCOUNT_MAX_CLIENT_FIELD 2048

/*
 * A new one-time token record under prefix (KEY_SIGNUP or KEY_RESET), valid for ttl seconds.
 * rec's other fields (email, user_id, client) are set by the caller; this fills the hash and
 * times and writes it (rec stays the caller's, without the hash). tok receives the token.
 */
int account_onetime_create(struct authd *a, const char *prefix, Authd__Storage__OneTimeRecord *rec,
                           int64_t ttl, struct token *tok);

/*
 * Checks a presented one-time token under prefix (through txn, locked, when not NULL). AUTHD_OK
 * with *out, or AUTHD_ERR_INVALID_TOKEN for an unknown, mismatching or expired one. *key_out
 * (KEY_MAX bytes, may be NULL) receives the record's key so the caller can delete it.
 */
int account_onetime_check(struct authd *a, struct store_txn *txn, const char *prefix,
                          const char *token, Authd__Storage__OneTimeRecord **out, char *key_out);

/*
 * Inside txn: checks a presented token under prefix like account_onetime_check (the row locked)
 * and deletes it, so it is used once even by two concurrent requests. AUTHD_OK with *out, or
 * account_onetime_check's errors (AUTHD_ERR_CONFLICT: see txn.h).
 */
int account_onetime_consume(struct authd *a, struct store_txn *txn, const char *prefix,
                            const char *token, Authd__Storage__OneTimeRecord **out);

/*
 * The steps a Start runs before it issues a token (Signup.Start, PasswordReset.Start):
 * normalises email_in into email and copies it into ctx's arena (*resp_email), refuses an
 * oversized client context (account_client_check), counts one e-mail against the address and
 * the client address ip (account_mail_gate), and loads the account of that address into *user
 * (NULL when there is none; free with rpc_msg_free). An unknown address costs the same reads as
 * a known one (a user record of a random id is read too). AUTHD_OK, AUTHD_ERR_INVALID_EMAIL,
 * AUTHD_ERR_INVALID_ARGUMENT, AUTHD_ERR_LOCKED (as account_mail_gate), AUTHD_ERR_NOMEM or a storage
 * error.
 */
int account_onetime_start(struct rpc_ctx *ctx, struct authd *a, const char *email_in,
                          const Authd__V1__ClientContext *client, const char *ip,
                          char email[EMAIL_MAX_LEN + 1], char **resp_email,
                          Authd__Storage__UserRecord **user);

/*
 * For a Start that sends no link (signup of a known address, reset of an unknown one): the same
 * storage work as account_onetime_issue, so that the time an answer takes does not tell whether
 * the address has an account. Writes rec (filled by the caller like a real one, with fields of
 * the same sizes, e.g. a random user id) under prefix and a fresh random id, valid for ttl
 * seconds, and wipes its token unseen: no one can ever present it, and the sweeper deletes it
 * when it expires (keys.h). rec stays the caller's. AUTHD_OK or account_onetime_create's errors.
 */
int account_onetime_decoy(struct authd *a, const char *prefix, Authd__Storage__OneTimeRecord *rec,
                          int64_t ttl);

/*
 * A new token under prefix (account_onetime_create): its text goes into ctx's arena
 * (*token_out, for the answer to the edge; the arena is wiped with the call), rec's expiry into
 * *expires_at, and its public id into id (for the caller's log line). The token is wiped here.
 */
int account_onetime_issue(struct rpc_ctx *ctx, struct authd *a, const char *prefix,
                          Authd__Storage__OneTimeRecord *rec, int64_t ttl, char **token_out,
                          int64_t *expires_at, char id[TOKEN_ID_LEN + 1]);

/*
 * What a Get answers for a presented token (Signup.Get, PasswordReset.Get): the token checked
 * under prefix (account_onetime_check, outside any transaction), its e-mail and client context
 * copied into ctx's arena and its expiry. AUTHD_OK with *out, the record, for further checks;
 * else AUTHD_ERR_INVALID_TOKEN, AUTHD_ERR_NOMEM or a storage error, with *out NULL.
 */
int account_onetime_view(struct rpc_ctx *ctx, struct authd *a, const char *prefix,
                         const char *token, Authd__Storage__OneTimeRecord **out, char **email,
                         Authd__V1__ClientContext **client, int64_t *expires_at);

/*
 * The first half of a Complete that sets a password (Signup.Complete, PasswordReset.Complete):
 * checks the token under prefix before an Argon2 hash is spent on it (bogus links stay cheap),
 * then checks password (borrowed) against the policy and hashes it into *phc (free with
 * secret_strfree). user_id (cap bytes, may be NULL) receives the record's user id ("" for a
 * signup). AUTHD_OK, AUTHD_ERR_INVALID_TOKEN, the policy's or the hash's error. The token is
 * checked again, locked, in the transaction that consumes it.
 */
int account_onetime_prepare(struct authd *a, const char *prefix, const char *token,
                            const char *password, char **phc, char *user_id, size_t cap);

/* AUTHD_OK when every field of c (NULL is fine) is within ACCOUNT_MAX_CLIENT_FIELD bytes, else
 * AUTHD_ERR_INVALID_ARGUMENT with a message on ctx. */
int account_client_check(struct rpc_ctx *ctx, const Authd__V1__ClientContext *c);

/*
 * Rate limit for anything that sends an e-mail (signup, password reset): counts one attempt per
 * e-mail address and per client address; AUTHD_ERR_LOCKED (with a message and the seconds to
 * wait, rpc_ctx_set_retry_after, on ctx) when either is over its limit. Known and unknown e-mails
 * are counted alike.
 */
int account_mail_gate(struct rpc_ctx *ctx, struct authd *a, const char *email, const char *ip);

#endif
