/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Stored sessions (keys.h: session/<sid> holding a SessionRecord, and usess/<user id>/<sid>, the
 * index of a user's sessions, always written and deleted together with it). A session token is
 * "<sid>.<secret>" (token.h); only the secret's SHA-256 is stored, compared in constant time.
 *
 * Ownership: tokens come back in a caller's struct token (wipe it with token_wipe), records in
 * *out (free with rpc_msg_free); out-parameters are cleared on entry. Functions taking a txn
 * write through it when it is not NULL (AUTHD_ERR_CONFLICT then means: return it from the step,
 * account_txn_run in txn.h runs the step again), else in one atomic batch of their own.
 */
#ifndef AUTHD_SESSION_STORE_H
#define AUTHD_SESSION_STORE_H

#include <stdint.h>

#include "authd/authd.h"
#include "storage/records.pb-c.h"
#include "authd/token.h"

/* Upper bounds on what a session keeps of the client's user agent and address. */
#define ACCOUNT_MAX_UA 512
#define ACCOUNT_MAX_IP 64

/* What kind of session to open. */
struct session_spec {
    int authenticated;      /* 0: a second factor is still pending */
    int64_t ttl;            /* seconds; 0 = authd_session_ttl() */
    const char *const *amr; /* authentication methods, e.g. {"pwd", "otp"} */
    size_t n_amr;
    /* 0 = now; SESSION_AUTH_TIME_UNKNOWN = not known (stored as 0, the epoch: older than any
     * max_age, so a relying party or authd asking for a recent sign-in gets a new one) */
    int64_t auth_time;
};

#define SESSION_AUTH_TIME_UNKNOWN (-1)

/* The amr of a session opened by Users.Import (import.h): never a recent sign-in of authd's. */
#define SESSION_AMR_IMPORT "import"

/* An authenticated password session (amr "pwd", the configured lifetime). */
extern const struct session_spec account_session_pwd;

/*
 * A new session for user as spec says (user and spec borrowed; client_ip and user_agent are cut
 * to ACCOUNT_MAX_IP/UA bytes). tok receives the token (wiped again on failure); *out (may be
 * NULL) the stored session.
 */
int account_session_create(struct authd *a, struct store_txn *txn, const Authd__V1__User *user,
                           const char *client_ip, const char *user_agent,
                           const struct session_spec *spec, struct token *tok,
                           Authd__Storage__SessionRecord **out);

/*
 * Looks up a presented session token (borrowed, never logged): the record must exist, its hash
 * match, and it must not be expired. AUTHD_OK with *out, AUTHD_ERR_UNAUTHENTICATED for anything
 * else about the token, or a storage error.
 */
int account_session_check(struct authd *a, const char *token, Authd__Storage__SessionRecord **out);

/*
 * The session whose id is sid (a public identifier, not a secret: callers must have proven
 * their right to it, e.g. by a live token issued under it), if it exists and has not expired.
 * AUTHD_OK with *out, AUTHD_ERR_UNAUTHENTICATED when there is none, or a storage error.
 */
int account_session_by_id(struct authd *a, const char *sid, Authd__Storage__SessionRecord **out);

/*
 * The user of session *s for signed-in actions: present, active and, unless allow_pending,
 * the session authenticated (no second factor pending). AUTHD_OK with *u; otherwise
 * AUTHD_ERR_UNAUTHENTICATED (or a storage error) and *s freed and cleared as well.
 */
int account_session_user(struct authd *a, Authd__Storage__SessionRecord **s, int allow_pending,
                         Authd__Storage__UserRecord **u);

/* Deletes one session and its index entry. */
int account_session_delete(struct authd *a, struct store_txn *txn, const char *user_id,
                           const char *sid);

/*
 * A session that may be used for signed-in actions: a checked token, authenticated (no second
 * factor pending), its user present and active. AUTHD_OK with both records, or
 * AUTHD_ERR_UNAUTHENTICATED (both NULL).
 */
int account_session_active(struct authd *a, const char *token, Authd__Storage__SessionRecord **s,
                           Authd__Storage__UserRecord **u);

/*
 * Inside txn: deletes every session of user_id except the one whose id is keep_sid (may be
 * NULL), and their index entries, and revokes every offline refresh-token family of the user
 * (rfamily.h) and every remembered browser (device.h), keep_sid or not: the callers are the
 * password change and reset, deactivation, deletion and signing out everywhere, which no
 * refresh token or remembered browser may outlive.
 */
int account_sessions_end_all(struct authd *a, struct store_txn *txn, const char *user_id,
                             const char *keep_sid);

/* Copies at most max bytes of s (cut on a UTF-8 boundary) into a malloc'd string; "" for NULL.
 * NULL when out of memory. */
char *account_bounded_strdup(const char *s, size_t max);

#endif
