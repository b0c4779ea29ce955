/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Password login. authd decides; the edge only renders the form, forwards the pair with the
 * client's address and user agent, sets the session cookie and moves the browser on to where
 * the flow was going. Errors never say whether the e-mail exists (authd answers the same).
 */
#include "edge/flows.h"

#include <string.h>

#include "edge/carry.h"
#include "common/err.h"
#include "edge/http_err.h"
#include "common/log.h"
#include "common/metrics.h"
#include "edge/passkey.h"
#include "proto/rpc.h"
#include "authd/v1/webauthn.pb-c.h"

static int
render_form(struct edge_req *r, int status, const struct edge_carry *c, const char *email,
            const char *info, const char *error)
{
    struct page p;
    page_begin(&p, &r->cfg, "Sign in");
    if (info != NULL)
        page_info(&p, info);
    if (error != NULL)
        page_error(&p, error);
    if (error != NULL && (status == 400 || status == 401))
        page_invalid(&p, "email password"); /* which one is wrong is not said */
    /* Passwordless sign-in: a button, and the browser's autofill offering the user's
     * passkeys in the e-mail field (conditional mediation, started by pages.js). */
    int passkeys = r->cfg.webauthn && r->cfg.webauthn_passwordless;
    page_form_begin(&p, "/auth/login", edge_req_csrf(r));
    edge_carry_hidden(c, &p);
    page_input(&p, "E-mail", "email", "email", email, passkeys ? "username webauthn" : "username",
               email == NULL);
    page_input(&p, "Password", "password", "password", NULL, "current-password", email != NULL);
    page_submit(&p, "Sign in");
    page_form_end(&p);
    if (passkeys) {
        edge_passkey_form_begin(r, &p, "/auth/login/passkey", EDGE_PASSKEY_PASSWORDLESS);
        edge_carry_hidden(c, &p);
        edge_passkey_form_end(&p, "Sign in with a passkey");
    }
    if (r->cfg.forgot_url[0] != '\0')
        page_link(&p, r->cfg.forgot_url, "Forgot password?");
    else
        edge_carry_link(&p, "/auth/forgot-password", c, "Forgot password?");
    edge_carry_link(&p, "/auth/signup", c, "Create an account");
    page_end(&p);
    return edge_req_page(r, status, &p);
}

/* Counts a login attempt in edge_logins_total{outcome} (and a locked one in the lockouts). */
static void
count_login(int err, int authenticated)
{
    const char *outcome;
    switch (err) {
    case AUTHD_OK:
        outcome = authenticated ? "ok" : "second_factor_required";
        break;
    case AUTHD_ERR_INVALID_CREDENTIALS:
    case AUTHD_ERR_INVALID_ARGUMENT:
    case AUTHD_ERR_INVALID_EMAIL:
    case AUTHD_ERR_TOO_LARGE:
        outcome = "failed";
        break;
    case AUTHD_ERR_LOCKED:
        outcome = "locked";
        metrics_count("edge_lockouts_total", NULL, 1);
        break;
    case AUTHD_ERR_INACTIVE:
        outcome = "inactive";
        break;
    default:
        outcome = "error";
    }
    char labels[48];
    metrics_count("edge_logins_total",
                  metrics_labels(labels, sizeof(labels), "outcome", outcome, NULL), 1);
}

int
edge_flow_login_form(struct edge_req *r)
{
    struct edge_carry c;
    edge_carry_from_form(&c, r->query);
    const char *prompt = edge_req_query(r, "prompt");
    const char *token = edge_req_session_token(r);
    if (token != NULL && !(prompt != NULL && strcmp(prompt, "login") == 0)) {
        Authd__V1__SessionResponse *s = NULL;
        int err = edge_authd_session_get(r->edge->authd, r->id, token, NULL, 0, &s);
        int signed_in = err == AUTHD_OK && s->session != NULL && s->session->authenticated;
        rpc_msg_free(s != NULL ? &s->base : NULL);
        /* Any failure (expired session, authd down) just shows the form. */
        if (signed_in)
            return edge_req_redirect_next(r, &c);
    }
    const char *reset = edge_req_query(r, "reset");
    const char *out = edge_req_query(r, "signed_out");
    const char *info = NULL;
    if (reset != NULL && strcmp(reset, "1") == 0)
        info = "Your password was changed. Sign in with the new one.";
    else if (out != NULL && strcmp(out, "1") == 0)
        info = "You are signed out.";
    return render_form(r, 200, &c, NULL, info, NULL);
}

int
edge_flow_login(struct edge_req *r)
{
    const char *email = edge_req_field(r, "email");
    const char *password = edge_req_field(r, "password");
    struct edge_carry c;
    edge_carry_from_form(&c, r->form);

    Authd__V1__SessionResponse *resp = NULL;
    struct rpc_status st;
    Authd__V1__LoginRequest req = AUTHD__V1__LOGIN_REQUEST__INIT;
    req.email = edge_authd_str(email);
    req.password = edge_authd_str(password);
    req.client_ip = edge_authd_str(r->client_ip);
    req.user_agent = edge_authd_str(r->user_agent);
    /* A remembered browser's cookie: authd alone judges it, after the password. */
    req.device_token = edge_authd_str(edge_req_cookie(r, EDGE_DEVICE_COOKIE));
    int err = edge_authd_call(r->edge->authd, r->id, &authd__v1__sessions__descriptor, "Login",
                              &req.base, (ProtobufCMessage **)&resp, &st);
    edge_req_note_lockout(r, err, &st);
    if (err != AUTHD_OK) {
        struct edge_http_err he;
        edge_req_err_map(r, err, &he);
        count_login(err, 0);
        log_event(LOG_INFO, "login_failed", "rid=%s err=%s ip=%s", r->id, authd_err_reason(err),
                  r->client_ip);
        return render_form(r, he.status, &c, email, NULL, he.message);
    }
    if (resp->session_token == NULL || resp->session_token[0] == '\0' || resp->session == NULL) {
        rpc_msg_free(&resp->base);
        count_login(AUTHD_ERR_INTERNAL, 0);
        return edge_req_fail(r, AUTHD_ERR_INTERNAL, "login_no_session");
    }
    int authenticated = resp->session->authenticated;
    count_login(AUTHD_OK, authenticated);
    err = edge_req_set_session(r, resp->session_token);
    log_event(LOG_INFO, "login_ok", "rid=%s user=%s ip=%s second_factor=%s", r->id,
              resp->user != NULL ? resp->user->id : "-", r->client_ip,
              resp->remembered ? "remembered"
              : authenticated  ? "no"
                               : "pending");
    rpc_msg_free(&resp->base);
    if (err != AUTHD_OK)
        return err;
    if (!authenticated) {
        /* A second factor is pending: flow_2fa_verify.c asks for it. */
        struct buf next;
        buf_init(&next, PAGE_MAX);
        err = edge_carry_url(&next, "/auth/two-factor/verify", &c);
        if (err == AUTHD_OK)
            err = edge_req_redirect(r, next.data);
        buf_free(&next);
        return err;
    }
    return edge_req_redirect_next(r, &c);
}

/*
 * POST /auth/login/passkey: the end of a passwordless sign-in. The ceremony is the one this
 * browser began (its id in the EDGE_PASSKEY_COOKIE, set by /auth/passkeys/assertion), the
 * response is the form's; authd finds the user from the passkey and answers an authenticated
 * session, and the browser goes on as after a password login.
 */
int
edge_flow_login_passkey(struct edge_req *r)
{
    struct edge_carry c;
    edge_carry_from_form(&c, r->form);
    const char *ceremony_id = edge_req_cookie(r, EDGE_PASSKEY_COOKIE);
    const char *unused_id, *credential;
    int too_large;
    edge_passkey_fields(r, &unused_id, &credential, &too_large);
    if (too_large)
        return render_form(r, 413, &c, NULL, NULL, "The passkey's answer is too large.");
    if (credential == NULL || ceremony_id == NULL || ceremony_id[0] == '\0')
        return render_form(r, 400, &c, NULL, NULL,
                           "The passkey sign-in expired or was not started. Try again.");

    Authd__V1__SessionResponse *resp = NULL;
    struct rpc_status st;
    Authd__V1__FinishAssertionRequest req = AUTHD__V1__FINISH_ASSERTION_REQUEST__INIT;
    req.ceremony_id = edge_authd_str(ceremony_id);
    req.credential_json = edge_authd_str(credential);
    req.client_ip = edge_authd_str(r->client_ip);
    req.user_agent = edge_authd_str(r->user_agent);
    int err = edge_authd_call(r->edge->authd, r->id, &authd__v1__web_authn__descriptor,
                              "FinishAssertion", &req.base, (ProtobufCMessage **)&resp, &st);
    edge_req_note_lockout(r, err, &st);
    /* The ceremony is spent either way (authd's challenges are single use). */
    int cerr = edge_req_set_cookie(r, EDGE_PASSKEY_COOKIE, "",
                                   COOKIE_HTTPONLY | COOKIE_SAMESITE_STRICT, 0);
    if (err != AUTHD_OK) {
        struct edge_http_err he;
        edge_passkey_err_map(r, err, &st, &he);
        count_login(edge_passkey_refused(err, &st) ? AUTHD_ERR_INVALID_CREDENTIALS : err, 0);
        log_event(LOG_INFO, "login_failed", "rid=%s err=%s ip=%s method=passkey", r->id,
                  authd_err_reason(err), r->client_ip);
        if (he.status >= 500)
            return edge_req_fail(r, err, "passkey_login");
        return render_form(r, he.status, &c, NULL, NULL, he.message);
    }
    if (resp->session_token == NULL || resp->session_token[0] == '\0' || resp->session == NULL ||
        !resp->session->authenticated) {
        rpc_msg_free(&resp->base);
        count_login(AUTHD_ERR_INTERNAL, 0);
        return edge_req_fail(r, AUTHD_ERR_INTERNAL, "passkey_login_no_session");
    }
    count_login(AUTHD_OK, 1);
    err = cerr != AUTHD_OK ? cerr : edge_req_set_session(r, resp->session_token);
    log_event(LOG_INFO, "login_ok", "rid=%s user=%s ip=%s method=passkey", r->id,
              resp->user != NULL ? resp->user->id : "-", r->client_ip);
    rpc_msg_free(&resp->base);
    if (err != AUTHD_OK)
        return err;
    return edge_req_redirect_next(r, &c);
}
