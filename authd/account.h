/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Account operations shared by several services: loading users, creating a user together with
 * its unique e-mail index, creating and ending sessions, and one-time e-mailed tokens. Every
 * multi-key change happens in one store transaction, so a crash or a race never leaves half of
 * it; callers run transactional steps through account_txn_run(), which retries lost races.
 */
#ifndef AUTHD_ACCOUNT_H
#define AUTHD_ACCOUNT_H

#include <stdint.h>

#include "authd/authd.h"
#include "storage/records.pb-c.h"
#include "authd/token.h"

/* Upper bounds on strings taken from requests and stored. */
#define ACCOUNT_MAX_UA 512
#define ACCOUNT_MAX_IP 64
#define ACCOUNT_MAX_ID 64

/*
 * Runs step(a, txn, arg) in a fresh transaction and commits it, retrying the whole step up to a
 * few times when it or the commit reports AUTHD_ERR_CONFLICT. A step returning an error rolls
 * back. Returns the step's or the commit's result.
 */
int account_txn_run(struct authd *a, int (*step)(struct authd *, struct store_txn *, void *),
                    void *arg);

/* Loads user/<id> (through txn when not NULL, locked when for_update). */
int account_user_get(struct authd *a, struct store_txn *txn, int for_update, const char *id,
                     Authd__Storage__UserRecord **out);

/*
 * Loads the user whose normalised e-mail is email. AUTHD_ERR_NOT_FOUND when none. With txn,
 * locks the index row when for_update.
 */
int account_user_by_email(struct authd *a, struct store_txn *txn, int for_update, const char *email,
                          Authd__Storage__UserRecord **out);

/*
 * Inside txn: creates the user rec (rec->user->id set, or a UUID is generated into it; email
 * already normalised), writing user/<id> and email/<email>. AUTHD_ERR_ALREADY_EXISTS when the
 * e-mail or the id is taken. rec's id field must be a malloc'd string or NULL (it may be
 * replaced); created_at/updated_at are set.
 */
int account_user_create(struct authd *a, struct store_txn *txn, Authd__Storage__UserRecord *rec);

/* Inside txn: writes rec at user/<id> (updated_at refreshed). */
int account_user_save(struct authd *a, struct store_txn *txn, Authd__Storage__UserRecord *rec);

/*
 * Inside txn: deletes every session of user_id except the one whose id is keep_sid (may be
 * NULL), and their index entries.
 */
int account_sessions_end_all(struct authd *a, struct store_txn *txn, const char *user_id,
                             const char *keep_sid);

/* What kind of session to open. */
struct session_spec {
    int authenticated;      /* 0: a second factor is still pending */
    int64_t ttl;            /* seconds; 0 = authd_session_ttl() */
    const char *const *amr; /* authentication methods, e.g. {"pwd", "otp"} */
    size_t n_amr;
    int64_t auth_time; /* 0 = now */
};

/* An authenticated password session (amr "pwd", the configured lifetime). */
extern const struct session_spec account_session_pwd;

/*
 * A new session for user as spec says. Writes session/<sid> and its index through txn when not
 * NULL, else in one atomic batch. tok receives the token (wipe it with token_wipe); *out (may
 * be NULL) the stored session (free with rpc_msg_free).
 */
int account_session_create(struct authd *a, struct store_txn *txn, const Authd__V1__User *user,
                           const char *client_ip, const char *user_agent,
                           const struct session_spec *spec, struct token *tok,
                           Authd__Storage__SessionRecord **out);

/*
 * Looks up a presented session token: the record must exist, its hash match, and it must not
 * be expired. AUTHD_OK with *out, or AUTHD_ERR_UNAUTHENTICATED for anything else.
 */
int account_session_check(struct authd *a, const char *token, Authd__Storage__SessionRecord **out);

/*
 * A session that may be used for signed-in actions: a checked token, authenticated (no second
 * factor pending), its user present and active. AUTHD_OK with both records (free with
 * rpc_msg_free), or AUTHD_ERR_UNAUTHENTICATED.
 */
int account_session_active(struct authd *a, const char *token, Authd__Storage__SessionRecord **s,
                           Authd__Storage__UserRecord **u);

/* Deletes one session and its index entry (inside txn when not NULL, else in a batch). */
int account_session_delete(struct authd *a, struct store_txn *txn, const char *user_id,
                           const char *sid);

/*
 * A new one-time token record under prefix (KEY_SIGNUP or KEY_RESET), valid for ttl seconds.
 * rec's other fields (email, user_id, client) are set by the caller; this fills the hash and
 * times and writes it. tok receives the token.
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

/* Largest ClientContext field accepted (a redirect URI with its query fits easily). */
#define ACCOUNT_MAX_CLIENT_FIELD 2048

/* AUTHD_OK when every field of c (NULL is fine) is within ACCOUNT_MAX_CLIENT_FIELD bytes, else
 * AUTHD_ERR_INVALID_ARGUMENT with a message on ctx. */
int account_client_check(struct rpc_ctx *ctx, const Authd__V1__ClientContext *c);

/*
 * Rate limit for anything that sends an e-mail (signup, password reset): counts one attempt per
 * e-mail address and per client address; AUTHD_ERR_LOCKED (with a message on ctx) when either is
 * over its limit. Known and unknown e-mails are counted alike.
 */
int account_mail_gate(struct rpc_ctx *ctx, struct authd *a, const char *email, const char *ip);

/* Copies at most max bytes of s (cut on a UTF-8 boundary) into a malloc'd string; "" for NULL. */
char *account_bounded_strdup(const char *s, size_t max);

#endif
