/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The password step of a login, shared by Sessions.Login and the OAuth password grant, so both
 * judge, count, refuse and audit a password in the same way: an unknown e-mail costs the same
 * Argon2id work and gets the same answer as a wrong password, a locked account or address is
 * refused before any password is judged, and the transaction that then opens the session
 * re-checks what the password check saw. The second factor that may follow is judged by
 * twofactor_guarded (twofactor.h), for VerifySecondFactor and the grant alike.
 */
#ifndef AUTHD_LOGIN_H
#define AUTHD_LOGIN_H

#include "authd/authd.h"
#include "authd/audit.h"
#include "authd/token.h"
#include "authd/twofactor.h"
#include "authd/v1/sessions.pb-c.h"
#include "storage/records.pb-c.h"

/* One login. The caller sets the inputs (borrowed) and zeroes the rest; login_cleanup frees. */
struct login {
    const char *email;      /* as typed */
    const char *password;   /* as typed (a secret: the caller wipes its copy) */
    const char *ip;         /* the end user's address, or "" */
    const char *user_agent; /* for the session the login opens */
    const char *client;     /* the OAuth client logging the user in (audit events), or NULL */
    const char *oauth_code; /* the OAuth error of a lock refusal (OAUTH_LOCKED_CODE), or NULL */
    /* ---- out ---- */
    Authd__Storage__UserRecord *rec; /* the account whose password matched (owned) */
    char *new_hash;                  /* a rehash at the current cost, or NULL (owned, wiped) */
    int two;                         /* the account had its second factor on when looked at */
};

/*
 * The password step, as one judged attempt (guard.h) of the password kind on the normalised
 * e-mail and the address: AUTHD_OK with l->rec (and l->new_hash when the stored hash is below the
 * current cost); AUTHD_ERR_INVALID_CREDENTIALS for an unknown e-mail, an account without a
 * password or a wrong password (counted, event login/unknown_user or wrong_password);
 * AUTHD_ERR_LOCKED (guard_refuse: "too many failed attempts", oauth_code; event login/locked); or a
 * storage error. The caller holds no guard.
 */
int login_password(struct authd *a, struct rpc_ctx *ctx, struct login *l);

/*
 * Inside the transaction that opens the session: reads the user under its lock into *rec (owned
 * by the caller; freed first when not NULL) and re-checks what login_password saw, so a reset,
 * change or deactivation that committed in between (and ended every session) fails this login
 * instead of leaving a session behind; saves l->new_hash. AUTHD_OK,
 * AUTHD_ERR_INVALID_CREDENTIALS (the password changed meanwhile, or the user is gone),
 * AUTHD_ERR_INACTIVE, or a storage error.
 */
int login_recheck(struct authd *a, struct store_txn *txn, const struct login *l,
                  Authd__Storage__UserRecord **rec);

/* The audit event of a login that login_recheck refused (r: its answer); nothing for others.
 * Only after a correct password may an answer reveal that the account is off. */
void login_refused(struct rpc_ctx *ctx, const struct login *l, int r);

/* Frees l's outputs (the rehash wiped). */
void login_cleanup(struct login *l);

/*
 * The second step of a sign-in, shared by Sessions.VerifySecondFactor and WebAuthn
 * .FinishAssertion: one proof (a TOTP code, a recovery code or a key's assertion) completing the
 * pending login pending, or, with pending NULL, a passwordless sign-in of user_id with a
 * discoverable key. The caller sets the inputs (borrowed) and zeroes the rest;
 * login_second_cleanup frees.
 */
struct login_second {
    const Authd__V1__Session *pending; /* the pending session, or NULL: passwordless */
    const char *user_id;               /* pending->user_id, or the user the key names */
    struct twofactor_proof proof;      /* session_id and purpose are set by login_second */
    const char *ip;
    const char *user_agent;
    int remember; /* asked to remember the browser (honoured when rememberBrowserDays > 0) */
    /* ---- out ---- */
    struct twofactor_judge judge;
    Authd__Storage__UserRecord *rec;        /* the user as saved */
    Authd__Storage__SessionRecord *session; /* the new authenticated session */
    struct token tok;                       /* its token */
    struct token device;                    /* a remembered browser's token, or empty */
};

/*
 * Runs the step as one judged attempt of the user's second factor (twofactor_guarded; who:
 * the user, the address and where, e.g. "login" or "passwordless") in one transaction: the user
 * read under its lock and active, the pending session still there (it serves one success), the
 * proof checked and recorded (an assertion's challenge taken, the key's counter saved), the
 * pending session deleted, with remember and a device lifetime a remembered browser, and a new
 * authenticated session opened with amr [pwd, otp] (a code), [pwd, mfa] (a recovery code),
 * [pwd, hwk|swk, mfa] (a key) or, passwordless, [hwk|swk, mfa]; its auth_time the pending
 * session's (the password's), now when passwordless. AUTHD_OK, AUTHD_ERR_UNAUTHENTICATED (the
 * user or the pending session gone, the user inactive), or twofactor_check's and
 * twofactor_guarded's errors. On success emits the login event (reason: second_factor after a
 * code, webauthn after a key, passkey without a password; target the new session).
 */
int login_second(struct authd *a, struct rpc_ctx *ctx, struct login_second *l);

/* Frees l's outputs (tokens wiped). */
void login_second_cleanup(struct login_second *l);

/*
 * Fills resp from a stored session, its user and (when not NULL) the session's token and a
 * remembered browser's token, copying into ctx's arena. AUTHD_OK or AUTHD_ERR_NOMEM.
 */
int login_answer(struct rpc_ctx *ctx, Authd__V1__SessionResponse *resp,
                 const Authd__Storage__SessionRecord *s, const Authd__V1__User *u,
                 const char *token, const char *device_token);

#endif
