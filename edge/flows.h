/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The flow handlers the route table in server.c dispatches to, one file per flow:
 * flow_home.c (landing, logout, DELETE /Session, health, static CSS), flow_signup.c,
 * flow_login.c, flow_password.c (forgot / reset / change), the two-factor flows:
 * flow_2fa_verify.c (the step at login), flow_2fa_settings.c (status, enable, disable,
 * recovery codes), flow_2fa_enroll.c (QR code and confirmation), flow_2fa_api.c (the same as
 * JSON for single-page apps), and OAuth 2.0 / OpenID Connect: flow_oauth.c (authorize,
 * consent: the browser side) and flow_token.c (token, introspect, revoke, userinfo, discovery,
 * JWKS: the JSON side).
 *
 * A handler runs after the server has parsed the query, the cookies and (for form POSTs) the
 * body, and checked CSRF for routes that need it. It answers through the edge_req_* helpers and
 * returns AUTHD_OK, or an error when it could not build an answer (the server then sends 500).
 * JSON handlers (edge_api_*) run instead for bodies sent as application/json: they get the raw
 * body in r->json_body, no form, and no CSRF check (see flow_2fa_api.c).
 */
#ifndef AUTHD_EDGE_FLOWS_H
#define AUTHD_EDGE_FLOWS_H

#include "edge/request.h"

typedef int (*edge_handler_fn)(struct edge_req *r);

/* flow_home.c */
int edge_flow_home(struct edge_req *r);           /* GET / */
int edge_flow_logout(struct edge_req *r);         /* POST /auth/logout */
int edge_flow_session_delete(struct edge_req *r); /* DELETE /Session */
int edge_flow_healthz(struct edge_req *r);        /* GET /healthz */
int edge_flow_readyz(struct edge_req *r);         /* GET /readyz */
int edge_flow_style(struct edge_req *r);          /* GET /auth/static/style.css */

/* flow_2fa_codes.c: the recovery-codes page's script, download and confirmation */
int edge_flow_script(struct edge_req *r);             /* GET /auth/static/pages.js */
int edge_flow_2fa_codes_download(struct edge_req *r); /* POST .../recovery-codes/download */
int edge_flow_2fa_codes_saved(struct edge_req *r);    /* POST .../recovery-codes/saved */

/* flow_oauth.c */
int edge_flow_authorize(struct edge_req *r);      /* GET /auth/authorize */
int edge_flow_authorize_post(struct edge_req *r); /* POST /auth/authorize */
int edge_flow_consent(struct edge_req *r);        /* POST /auth/consent */

/* flow_token.c: the server answers its own refusals to these as JSON (ROUTE_API) */
int edge_flow_token(struct edge_req *r);      /* POST /auth/token (form) */
int edge_api_token(struct edge_req *r);       /* POST /auth/token (application/json) */
int edge_flow_introspect(struct edge_req *r); /* POST /auth/introspect */
int edge_flow_revoke(struct edge_req *r);     /* POST /auth/revoke */
int edge_flow_userinfo(struct edge_req *r);   /* GET/POST /auth/userinfo */
int edge_flow_discovery(struct edge_req *r);  /* GET /.well-known/openid-configuration and
                                               * /.well-known/oauth-authorization-server */
int edge_flow_jwks(struct edge_req *r);       /* GET /.well-known/jwks.json */

/* flow_end_session.c (RP-initiated logout) */
int edge_flow_end_session(struct edge_req *r);         /* GET /auth/end-session */
int edge_flow_end_session_post(struct edge_req *r);    /* POST /auth/end-session */
int edge_flow_end_session_confirm(struct edge_req *r); /* POST /auth/end-session/confirm */

/* flow_signup.c */
int edge_flow_signup_form(struct edge_req *r);         /* GET /auth/signup */
int edge_flow_signup_start(struct edge_req *r);        /* POST /auth/signup */
int edge_flow_signup_confirm_form(struct edge_req *r); /* GET /auth/signup/confirm/{token} */
int edge_flow_signup_confirm(struct edge_req *r);      /* POST /auth/signup/confirm/{token} */

/* flow_login.c */
int edge_flow_login_form(struct edge_req *r); /* GET /auth/login */
int edge_flow_login(struct edge_req *r);      /* POST /auth/login */
/* POST /auth/login/passkey: a passwordless sign-in's end (WebAuthn.FinishAssertion) */
int edge_flow_login_passkey(struct edge_req *r);

/* flow_password.c */
int edge_flow_forgot_form(struct edge_req *r);   /* GET /auth/forgot-password */
int edge_flow_forgot(struct edge_req *r);        /* POST /auth/forgot-password */
int edge_flow_reset_form(struct edge_req *r);    /* GET /auth/reset-password/{token} */
int edge_flow_reset(struct edge_req *r);         /* POST /auth/reset-password/{token} */
int edge_flow_password_form(struct edge_req *r); /* GET /auth/password */
int edge_flow_password(struct edge_req *r);      /* POST /auth/password */

/* flow_2fa_verify.c */
int edge_flow_2fa_verify_form(struct edge_req *r); /* GET /auth/two-factor/verify */
int edge_flow_2fa_verify(struct edge_req *r);      /* POST /auth/two-factor/verify */
/* POST /auth/two-factor/verify/passkey: the second factor by a passkey (FinishAssertion) */
int edge_flow_2fa_verify_passkey(struct edge_req *r);

/* flow_2fa_settings.c */
int edge_flow_2fa_settings(struct edge_req *r); /* GET /auth/two-factor */
/* POST /auth/two-factor/devices/forget: device_id=ID, or all=1 (TwoFactor.ForgetDevice) */
int edge_flow_2fa_devices_forget(struct edge_req *r);
/*
 * The cookie of a remembered browser ("Don't ask again on this browser", authd/device.h): its
 * token, set by flow_2fa_verify.c with HttpOnly, SameSite=Lax (Secure over TLS) for
 * twoFactor.rememberBrowserDays, and handed to Sessions.Login by flow_login.c. authd judges it.
 */
#define EDGE_DEVICE_COOKIE "asid_device"
/* Deletes the remembered-browser cookie (Max-Age=0), once authd forgot its device. */
int edge_device_cookie_clear(struct edge_req *r);
int edge_flow_2fa_enable_form(struct edge_req *r);    /* GET /auth/two-factor/enable */
int edge_flow_2fa_enable(struct edge_req *r);         /* POST /auth/two-factor/enable */
int edge_flow_2fa_disable_form(struct edge_req *r);   /* GET /auth/two-factor/disable */
int edge_flow_2fa_disable(struct edge_req *r);        /* POST /auth/two-factor/disable */
int edge_flow_2fa_recovery_codes(struct edge_req *r); /* POST /auth/two-factor/recovery-codes */
int edge_flow_2fa_recovery_codes_form(struct edge_req *r); /* GET /auth/two-factor/recovery-codes */

/* flow_2fa_enroll.c */
int edge_flow_2fa_request_view(struct edge_req *r); /* GET /app/auth/two-factor/request */
int edge_flow_2fa_request_page(struct edge_req *r); /* form POST /app/auth/two-factor/request */
int edge_flow_2fa_confirm(struct edge_req *r);      /* form POST /app/auth/two-factor/confirm */
/* Appends the form (POST, CSRF token) that begins an enrolment with an authenticator app. */
void edge_2fa_start_form(struct edge_req *r, struct page *p, const char *label);

/* flow_2fa_api.c */
int edge_api_2fa_request(struct edge_req *r); /* JSON POST /app/auth/two-factor/request */
int edge_api_2fa_confirm(struct edge_req *r); /* JSON POST /app/auth/two-factor/confirm */

/* flow_webauthn.c: passkeys and security keys (see passkey.h) */
int edge_flow_passkeys(struct edge_req *r);        /* GET /auth/passkeys */
int edge_flow_passkeys_add(struct edge_req *r);    /* POST /auth/passkeys/add */
int edge_flow_passkeys_rename(struct edge_req *r); /* POST /auth/passkeys/rename */
int edge_flow_passkeys_remove(struct edge_req *r); /* POST /auth/passkeys/remove */
/* JSON POST /auth/passkeys/registration: BeginRegistration for the signed-in user */
int edge_api_passkeys_registration(struct edge_req *r);
/* JSON POST /auth/passkeys/assertion: BeginAssertion (second factor, confirmation, or
 * passwordless) */
int edge_api_passkeys_assertion(struct edge_req *r);

#endif
