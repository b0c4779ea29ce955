/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The edge's side of the RPC contract: one struct rpc_client shared by every request thread,
 * one wrapper per RPC the flows use, and the only cache the edge keeps, the AuthConfig.
 *
 * Wrappers take borrowed C strings (NULL is sent as ""), make one blocking call with the
 * configured deadline, and return AUTHD_OK or authd's enum authd_err. On AUTHD_OK *out is the
 * decoded answer, owned by the caller: free it with rpc_msg_free() (which wipes it). On failure
 * *out is NULL. Failures to reach authd are logged here with the request id rid.
 *
 * The OAuth wrappers also fill *st (when not NULL; cleared on entry): authd names the OAuth
 * error in st->oauth_error and describes it in st->message (see oauth_util.h). So do the
 * wrappers of the RPCs a lockout can refuse (AUTHD_ERR_LOCKED): st->retry_after holds the
 * seconds (see edge_http_retry_after()).
 */
#ifndef AUTHD_EDGE_AUTHD_CLIENT_H
#define AUTHD_EDGE_AUTHD_CLIENT_H

#include <stdint.h>

#include "authd/v1/admin.pb-c.h"
#include "authd/v1/oauth.pb-c.h"
#include "authd/v1/sessions.pb-c.h"
#include "authd/v1/signup.pb-c.h"
#include "authd/v1/twofactor.pb-c.h"
#include "authd/v1/users.pb-c.h"
#include "proto/rpc.h"

#define EDGE_WEBHOOK_HEADERS_MAX 4096 /* bytes of "Name: value" lines kept for the webhook */
#define EDGE_WEBHOOK_TIMEOUT_DEFAULT 5000
#define EDGE_WEBHOOK_TIMEOUT_MAX 60000 /* a request thread waits this long at most */

/*
 * AuthConfig.twoFactor as the edge keeps it. The webhook's header values may be credentials:
 * they live only here, in the per-request copy (wiped with the request) and in the outgoing
 * request, and are never logged.
 */
struct edge_two_factor_config {
    char issuer_name[256];
    int32_t valid_past_tokens_count;
    char algorithm[16];          /* "" = authd's default (SHA1) */
    int32_t digits;              /* 0 = authd's default */
    int32_t period;              /* 0 = authd's default */
    char webhook_endpoint[1024]; /* an http(s) URL, or "" when no webhook is configured */
    char webhook_origin[512];    /* scheme://host[:port] of the endpoint, for logs */
    /* Each header as a NUL-terminated "Name: value" (or "Name;" for an empty value), one after
     * the other; n_webhook_headers of them. */
    char webhook_headers[EDGE_WEBHOOK_HEADERS_MAX];
    unsigned n_webhook_headers;
    int webhook_timeout_ms; /* webhook.timeout, or EDGE_WEBHOOK_TIMEOUT_DEFAULT when unset */
};

/* The parts of AuthConfig the edge uses, as plain strings; "" when unset. */
struct edge_config {
    char title[256];             /* theme.title, default "authd" */
    char brand[256];             /* theme.brand, default: the title */
    char style_url[1024];        /* theme.styleUrl when http(s):// or /path, else "" */
    char style_origin[512];      /* scheme://host[:port] of an absolute style_url, else "" */
    char forgot_url[1024];       /* theme.forgotPasswordUrl when http(s):// or /path, else "" */
    int64_t asid_cookie_max_age; /* seconds; 0 = browser-session cookie */
    struct edge_two_factor_config two_factor;
};

/* The defaults used before authd ever answered. */
void edge_config_default(struct edge_config *c);

/*
 * Fills c from an AuthConfig message (cfg may be NULL: defaults). URLs that are not http(s)
 * or root-relative paths are dropped, so a config can never put javascript: into a page. The
 * webhook endpoint must be an absolute http(s) URL; a webhook header whose name is not an
 * RFC 7230 token or whose value holds CR, LF or another control byte is dropped (logged, without
 * its value), as are Content-Type and Content-Length (the edge sets those).
 */
void edge_config_from_msg(struct edge_config *c, const Authd__V1__AuthConfig *cfg);

struct edge_authd;

/*
 * Opens the client for target ("127.0.0.1:50051"); timeout_ms is every call's deadline.
 * AUTHD_OK, AUTHD_ERR_NOMEM or AUTHD_ERR_INVALID_ARGUMENT. Free with edge_authd_free().
 */
int edge_authd_new(const char *target, int timeout_ms, struct edge_authd **out);

/*
 * edge_authd_new() over TLS (tls NULL: plaintext): authd's certificate is verified against
 * tls->ca_pem, and tls->cert_pem/key_pem, when given, are the edge's own certificate for mutual
 * TLS (see struct rpc_tls). tls is borrowed for this call only: the caller may wipe the key
 * right after. AUTHD_ERR_INVALID_ARGUMENT also for a tls without CA or with half a key pair.
 */
int edge_authd_new_tls(const char *target, const struct rpc_tls *tls, int timeout_ms,
                       struct edge_authd **out);

/* Closes the client. NULL is a no-op. No call may be in flight. */
void edge_authd_free(struct edge_authd *a);

/*
 * Copies the cached AuthConfig into *out. With refresh, a cache older than 2 s is refreshed
 * first by one caller (Admin.GetAuthConfig) while others keep using the previous copy; when
 * authd cannot be asked, the last good copy (or the defaults) is served.
 */
void edge_authd_config(struct edge_authd *a, int refresh, struct edge_config *out);

/*
 * The readiness probe: 1 when authd answers grpc.health.v1.Health/Check with SERVING and
 * accepts this edge's credentials. Health/Check is open to every caller, so it cannot show the
 * latter: Admin.GetAuthConfig, which only the edge (and admin) role may call, must not be
 * refused (NOT_FOUND, no AuthConfig stored, counts as accepted). Otherwise 0, and *reason is
 * why, a static word: "authd_unreachable" (no answer, or no TLS handshake), "authd_not_serving",
 * "edge_role_refused" (PERMISSION_DENIED or UNAUTHENTICATED: no client certificate, an identity
 * the callers file does not give the edge role, --anonymous-roles none...) or "authd_error".
 * *reason is NULL when ready. The probe's calls are not logged one by one (probes come every
 * few seconds): a change of the answer is, once (event=readiness, warn when not ready).
 */
int edge_authd_ready(struct edge_authd *a, const char *rid, const char **reason);

int edge_authd_signup_start(struct edge_authd *a, const char *rid, const char *email,
                            const Authd__V1__ClientContext *client, const char *client_ip,
                            Authd__V1__StartSignupResponse **out, struct rpc_status *st);
int edge_authd_signup_get(struct edge_authd *a, const char *rid, const char *token,
                          Authd__V1__GetSignupResponse **out);
int edge_authd_signup_complete(struct edge_authd *a, const char *rid, const char *token,
                               const char *password, const char *client_ip, const char *user_agent,
                               Authd__V1__CompleteSignupResponse **out);

int edge_authd_login(struct edge_authd *a, const char *rid, const char *email, const char *password,
                     const char *client_ip, const char *user_agent,
                     Authd__V1__SessionResponse **out, struct rpc_status *st);
/*
 * Sessions.Get. With allow_pending authd also answers for a session whose second factor is
 * still pending (session->authenticated is then 0); without, such a session is refused.
 */
int edge_authd_session_get(struct edge_authd *a, const char *rid, const char *session_token,
                           int allow_pending, Authd__V1__SessionResponse **out);
/*
 * Sessions.VerifySecondFactor: code (TOTP) or recovery_code for the pending session. On success
 * the answer carries a NEW session_token; the pending one is gone.
 */
int edge_authd_verify_second_factor(struct edge_authd *a, const char *rid,
                                    const char *session_token, const char *code,
                                    const char *recovery_code, const char *client_ip,
                                    const char *user_agent, Authd__V1__SessionResponse **out,
                                    struct rpc_status *st);
/* Sessions.Revoke by token. AUTHD_OK or the error. */
int edge_authd_session_revoke(struct edge_authd *a, const char *rid, const char *session_token);
/* Sessions.ChangePassword. AUTHD_OK or the error. */
int edge_authd_change_password(struct edge_authd *a, const char *rid, const char *session_token,
                               const char *current_password, const char *new_password,
                               const char *client_ip, struct rpc_status *st);

int edge_authd_reset_start(struct edge_authd *a, const char *rid, const char *email,
                           const Authd__V1__ClientContext *client, const char *client_ip,
                           Authd__V1__StartResetResponse **out, struct rpc_status *st);
int edge_authd_reset_get(struct edge_authd *a, const char *rid, const char *token,
                         Authd__V1__GetResetResponse **out);
/* PasswordReset.Complete; code / recovery_code are needed when the user has 2FA. */
int edge_authd_reset_complete(struct edge_authd *a, const char *rid, const char *token,
                              const char *password, const char *code, const char *recovery_code,
                              const char *client_ip, Authd__V1__CompleteResetResponse **out,
                              struct rpc_status *st);

/* TwoFactor service. session_token is the caller's (authenticated) session. */
int edge_authd_2fa_begin(struct edge_authd *a, const char *rid, const char *session_token,
                         const char *transport, Authd__V1__BeginEnrollmentResponse **out);
int edge_authd_2fa_confirm(struct edge_authd *a, const char *rid, const char *session_token,
                           const char *code, const char *client_ip,
                           Authd__V1__RecoveryCodesResponse **out, struct rpc_status *st);
int edge_authd_2fa_disable(struct edge_authd *a, const char *rid, const char *session_token,
                           const char *code, const char *recovery_code, const char *client_ip,
                           Authd__V1__UserResponse **out, struct rpc_status *st);
int edge_authd_2fa_status(struct edge_authd *a, const char *rid, const char *session_token,
                          Authd__V1__TwoFactorStatusResponse **out);
int edge_authd_2fa_regenerate(struct edge_authd *a, const char *rid, const char *session_token,
                              const char *code, const char *recovery_code, const char *client_ip,
                              Authd__V1__RecoveryCodesResponse **out, struct rpc_status *st);
/* The current code of a pending session (or a transport enrolment), for the webhook. */
int edge_authd_2fa_delivery_code(struct edge_authd *a, const char *rid, const char *session_token,
                                 Authd__V1__DeliveryCodeResponse **out);

/*
 * OAuth.Authorize: session_token is the browser's asid ("" or NULL when none), params the
 * request's OAuth parameters (borrowed), prompt "" when absent, max_age -1 when absent,
 * consent_given 1 when the user allowed the consent page, -1 when the user denied it, else 0.
 */
int edge_authd_oauth_authorize(struct edge_authd *a, const char *rid, const char *session_token,
                               const Authd__V1__ClientContext *params, const char *prompt,
                               int64_t max_age, int consent_given,
                               Authd__V1__AuthorizeResponse **out, struct rpc_status *st);
/* OAuth.Token with req as built by the caller (borrowed; holds credentials: the caller wipes). */
int edge_authd_oauth_token(struct edge_authd *a, const char *rid,
                           const Authd__V1__OAuthTokenRequest *req,
                           Authd__V1__OAuthTokenResponse **out, struct rpc_status *st);
int edge_authd_oauth_introspect(struct edge_authd *a, const char *rid, const char *token,
                                const char *token_type_hint, const char *client_id,
                                const char *client_secret, Authd__V1__IntrospectResponse **out,
                                struct rpc_status *st);
/* OAuth.Revoke. AUTHD_OK or the error. */
int edge_authd_oauth_revoke(struct edge_authd *a, const char *rid, const char *token,
                            const char *token_type_hint, const char *client_id,
                            const char *client_secret, struct rpc_status *st);
int edge_authd_oauth_userinfo(struct edge_authd *a, const char *rid, const char *access_token,
                              Authd__V1__UserInfoResponse **out, struct rpc_status *st);

#define EDGE_JWKS_MAX ((size_t)64 * 1024) /* bytes of jwks_json kept */
#define EDGE_ISSUER_MAX 512

/*
 * OAuth.Jwks. With fresh, authd is asked every time (the key set a resource server fetches on
 * meeting an unknown kid must already hold a key authd has just started signing with); without,
 * a copy younger than 5 s is served as is and an older one is refreshed by one caller while the
 * others keep serving it (the discovery document only needs the issuer). Either way, when authd
 * cannot be asked, the last good copy is served. On AUTHD_OK *jwks_json is a malloc'd copy of
 * the key set (public keys; free()) and issuer (capacity icap) authd's issuer. Otherwise
 * *jwks_json is NULL and the result is authd's error, AUTHD_ERR_UNAVAILABLE (never fetched yet
 * and another request is fetching), AUTHD_ERR_TOO_LARGE (a key set over EDGE_JWKS_MAX, or an
 * issuer that does not fit EDGE_ISSUER_MAX), AUTHD_ERR_INTERNAL (an empty key set) or
 * AUTHD_ERR_NOMEM.
 */
int edge_authd_oauth_jwks(struct edge_authd *a, const char *rid, int fresh, char **jwks_json,
                          char *issuer, size_t icap);

#endif
