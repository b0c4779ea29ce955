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
#include "proto/rpc.h"

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
    page_form_begin(&p, "/auth/login", edge_req_csrf(r));
    edge_carry_hidden(c, &p);
    page_input(&p, "E-mail", "email", "email", email, "username", email == NULL);
    page_input(&p, "Password", "password", "password", NULL, "current-password", email != NULL);
    page_submit(&p, "Sign in");
    page_form_end(&p);
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
