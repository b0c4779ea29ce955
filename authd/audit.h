/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Audit events: one structured log line per security-relevant event, and a count of it in the
 * metrics (authd_audit_events_total{action,outcome}). The line is
 *   ts=.. level=info prog=authd event=audit action=login outcome=failure user=.. client=..
 *   caller=.. ip=.. peer=.. reason=.. [count=..]
 * ts is when; user/client the account or OAuth client it concerns (who); action/outcome/reason
 * what; caller (the RPC caller's identity), ip (the end user's address reported by the edge)
 * and peer (the gRPC peer) from where. Absent fields are left out. Never a secret: no password,
 * code, token, secret or hash goes into any field.
 */
#ifndef AUTHD_AUDIT_H
#define AUTHD_AUDIT_H

struct rpc_ctx;

/* The actions (the only values of action=). */
#define AUDIT_LOGIN "login"                         /* password step */
#define AUDIT_SECOND_FACTOR "second_factor"         /* TOTP or recovery code at login/reset */
#define AUDIT_LOCKOUT "lockout"                     /* a throttle locked an account or address */
#define AUDIT_TWOFACTOR_ENABLED "twofactor_enabled" /* enrolment confirmed */
#define AUDIT_TWOFACTOR_DISABLED "twofactor_disabled"
#define AUDIT_RECOVERY_CODE_USED "recovery_code_used"
#define AUDIT_TOKEN_REVOKED "token_revoked" /* OAuth revocation, refresh reuse, session end */
#define AUDIT_ADMIN_CHANGE "admin_change"   /* users, clients, AuthConfig, keys */
#define AUDIT_PERMISSION_DENIED "permission_denied" /* an RPC refused for the caller's roles */
#define AUDIT_WEBAUTHN "webauthn" /* a passkey or security key added, renamed or removed */

/* Outcomes. */
#define AUDIT_SUCCESS "success"
#define AUDIT_FAILURE "failure"
#define AUDIT_DENIED "denied"

struct audit {
    const char *action;  /* AUDIT_*; required */
    const char *outcome; /* AUDIT_SUCCESS / AUDIT_FAILURE / AUDIT_DENIED; required */
    const char *user;    /* user id concerned, or NULL */
    const char *client;  /* OAuth client id concerned, or NULL */
    const char *ip;      /* end-user address from the request, or NULL */
    const char *reason;  /* short machine word (e.g. "wrong_password", "Users/Create"), or NULL */
    const char *target;  /* what an admin change touched (e.g. "client/abc"), or NULL */
    long long count;     /* records a bulk change wrote (count=N, e.g. Users/Import); 0: none */
};

/*
 * Emits the event. ctx, when not NULL, supplies caller (rpc_ctx_caller) and peer
 * (rpc_ctx_peer). Every value is quoted with log_quote, so none can forge a key or a line.
 */
void audit_emit(struct rpc_ctx *ctx, const struct audit *a);

/*
 * A login event (AUDIT_LOGIN): outcome, the user id and OAuth client (either may be NULL), the
 * end user's address, a reason, and the session it opened (target "session/<id>"), or NULL.
 * The submitted e-mail is never logged: people type their password into it.
 */
void audit_login(struct rpc_ctx *ctx, const char *outcome, const char *user, const char *client,
                 const char *ip, const char *reason, const char *session_id);

#endif
