/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The second step of a login for a user with two-factor authentication. Sessions.Login left a
 * pending session in the asid cookie; this page asks for a code from the authenticator app (or
 * a recovery code) and hands it to Sessions.VerifySecondFactor, which answers with a NEW,
 * authenticated session token (the pending one is gone: no session fixation). For a user with
 * a transport ("sms") the current code is first sent by the AuthConfig webhook, and the page
 * says so in the transport's words and always offers "Send again" (with the wait while authd
 * rations deliveries). authd counts failures and locks out guessing.
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
#include "edge/twofactor.h"

#define VERIFY_PATH "/auth/two-factor/verify"

/* What the page shows besides the form. */
struct verify_view {
    int recovery;                     /* ask for a recovery code instead of a TOTP code */
    const char *error;                /* the last attempt's error */
    struct edge_2fa_delivery sending; /* the user's transport and the last delivery */
    int remember;                     /* the "Don't ask again on this browser" box was ticked */
    int totp;                         /* the user has TOTP (an app or a transport) */
    unsigned passkeys;                /* the user's passkeys and security keys */
};

static int
is_session_error(int err)
{
    return err == AUTHD_ERR_UNAUTHENTICATED || err == AUTHD_ERR_INVALID_TOKEN ||
           err == AUTHD_ERR_NOT_FOUND || err == AUTHD_ERR_INVALID_ARGUMENT;
}

/* A link to this page (recovery: the recovery-code variant), keeping the carried parameters. */
static void
mode_link(struct page *p, const struct edge_carry *c, int recovery, const char *text)
{
    struct buf url;
    buf_init(&url, PAGE_MAX);
    int err = edge_carry_url(&url, VERIFY_PATH, c);
    if (err == AUTHD_OK && recovery)
        err = buf_puts(&url, edge_carry_any(c) ? "&recovery=1" : "?recovery=1");
    if (err == AUTHD_OK)
        page_link(p, url.data, text);
    else if (p->err == AUTHD_OK)
        p->err = err;
    buf_free(&url);
}

/* The opt-in "Don't ask again on this browser for N days" (only when the AuthConfig allows it). */
static void
remember_box(struct page *p, int days, int checked)
{
    if (days <= 0 || p->err != AUTHD_OK)
        return;
    p->err = buf_printf(&p->out,
                        "<div class=\"check\"><input type=\"checkbox\" id=\"remember\" "
                        "name=\"remember\" value=\"1\"%s><label for=\"remember\">Don't ask "
                        "again on this browser for %d day%s</label></div>\n",
                        checked ? " checked" : "", days, days == 1 ? "" : "s");
}

static int
render(struct edge_req *r, int status, const struct edge_carry *c, const struct verify_view *v)
{
    const char *csrf = edge_req_csrf(r);
    const char *transport = v->sending.transport;
    int webhook = edge_2fa_by_webhook(transport);
    /* A key is offered when the user has one; the code form when the user has TOTP. */
    int keys = !v->recovery && v->passkeys > 0 && r->cfg.webauthn;
    int code_form = v->recovery || v->totp;
    struct page p;
    page_begin(&p, &r->cfg, "Two-factor authentication");
    if (!v->recovery)
        edge_2fa_delivery_msg(&p, &v->sending);
    if (v->error != NULL)
        page_error(&p, v->error);
    if (v->error != NULL && (status == 400 || status == 401))
        page_invalid(&p, v->recovery ? "recovery_code" : "token");
    if (keys) {
        page_para(&p, "Confirm it is you with the passkey or security key you added.");
        edge_passkey_form_begin(r, &p, VERIFY_PATH "/passkey", EDGE_PASSKEY_SECOND_FACTOR);
        edge_carry_hidden(c, &p);
        if (code_form) /* pages.js copies the code form's box here */
            page_raw(&p, "<input type=\"hidden\" name=\"remember\" value=\"\" "
                         "data-passkey-remember>\n");
        else
            remember_box(&p, r->cfg.two_factor.remember_browser_days, v->remember);
        edge_passkey_form_end(&p, "Use your passkey or security key");
    }
    if (code_form) {
        page_form_begin(&p, VERIFY_PATH, csrf);
        edge_carry_hidden(c, &p);
        if (v->recovery) {
            page_para(&p, "Enter one of the recovery codes you saved when you turned on two-factor "
                          "authentication. Each code works once.");
            page_code_input(&p, "Recovery code", "recovery_code", "text", "off",
                            EDGE_2FA_RECOVERY_MAX, 1, 1);
        } else {
            edge_2fa_code_para(&p, transport);
            page_code_input(&p, "Code", "token", "numeric", "one-time-code", EDGE_2FA_CODE_MAX, 1,
                            1);
        }
        remember_box(&p, r->cfg.two_factor.remember_browser_days, v->remember);
        page_submit(&p, "Verify");
        page_form_end(&p);
    }
    if (webhook && code_form && !v->recovery) {
        /* Always offered (a code can get lost without the webhook noticing), with the wait
         * while authd rations deliveries. */
        page_form_begin(&p, VERIFY_PATH, csrf);
        edge_carry_hidden(c, &p);
        edge_2fa_resend_button(&p, &v->sending);
        page_form_end(&p);
    }
    if (v->recovery && v->totp)
        mode_link(&p, c, 0,
                  webhook ? "Use the code we sent you instead"
                          : "Use a code from your app instead");
    else if (v->recovery)
        mode_link(&p, c, 0, "Use your passkey or security key instead");
    else
        mode_link(&p, c, 1, "Use a recovery code");
    page_form_begin(&p, "/auth/logout", csrf);
    page_submit_as(&p, "Cancel and sign out", "secondary");
    page_form_end(&p);
    page_end(&p);
    return edge_req_page(r, status, &p);
}

/*
 * The page for the pending session: back to sign-in without one, on as after login when it is
 * already authenticated, else the form (with delivery unless only re-rendering for an error).
 * A delivery asked for with "Send again" (resend) that authd rations answers 429 with the wait.
 */
static int
show(struct edge_req *r, int status, const struct edge_carry *c, struct verify_view *v, int send,
     int resend)
{
    Authd__V1__SessionResponse *s = NULL;
    int err = edge_req_session(r, 1, &s);
    if (err == AUTHD_ERR_UNAUTHENTICATED)
        return edge_2fa_redirect_carry(r, "/auth/login", c);
    if (err != AUTHD_OK)
        return edge_req_fail(r, err, "verify_session");
    if (s->session->authenticated) {
        rpc_msg_free(&s->base);
        return edge_req_redirect_next(r, c);
    }
    const Authd__V1__User *u = s->user;
    const Authd__V1__TwoFactorStatus *tf = u != NULL ? u->two_factor : NULL;
    v->sending.transport = tf != NULL ? tf->transport : NULL;
    v->passkeys = tf != NULL ? tf->passkeys : 0;
    /* An authd that does not say which factors: without keys, the factor is TOTP. */
    v->totp = tf == NULL || tf->totp || v->passkeys == 0;
    if (send && !v->recovery && v->totp)
        err = edge_2fa_send_code(r, edge_req_session_token(r), NULL, u, &v->sending);
    if (err == AUTHD_ERR_UNAUTHENTICATED) {
        rpc_msg_free(&s->base);
        return edge_2fa_redirect_carry(r, "/auth/login", c);
    }
    if (resend && v->sending.wait > 0)
        status = 429;
    err = render(r, status, c, v); /* before the free: the transport is borrowed from s */
    rpc_msg_free(&s->base);
    return err;
}

/* Counts a second-factor attempt in edge_second_factor_total{outcome} (and lockouts). */
static void
count_second_factor(int err)
{
    const char *outcome;
    if (err == AUTHD_OK)
        outcome = "ok";
    else if (err == AUTHD_ERR_WRONG_CODE || err == AUTHD_ERR_SECOND_FACTOR_REQUIRED ||
             err == AUTHD_ERR_TOO_LARGE)
        outcome = "failed";
    else if (err == AUTHD_ERR_LOCKED)
        outcome = "locked";
    else if (is_session_error(err))
        outcome = "expired";
    else
        outcome = "error";
    if (err == AUTHD_ERR_LOCKED)
        metrics_count("edge_lockouts_total", NULL, 1);
    char labels[48];
    metrics_count("edge_second_factor_total",
                  metrics_labels(labels, sizeof(labels), "outcome", outcome, NULL), 1);
}

/*
 * The second step passed (VerifySecondFactor or FinishAssertion answered resp): the new session's
 * cookie, and the remembered browser's when v asked for it and authd made one; counted and
 * logged with method. 1 with *err the cookies' result (resp still the caller's to free), or 0
 * when the answer holds no signed-in session: resp freed and *err the failure page's result.
 */
static int
second_factor_answered(struct edge_req *r, Authd__V1__SessionResponse *resp,
                       const struct verify_view *v, const char *method, int *err)
{
    if (resp->session_token == NULL || resp->session_token[0] == '\0' || resp->session == NULL ||
        !resp->session->authenticated) {
        rpc_msg_free(&resp->base);
        count_second_factor(AUTHD_ERR_INTERNAL);
        *err = edge_req_fail(r, AUTHD_ERR_INTERNAL, "verify_no_session");
        return 0;
    }
    count_second_factor(AUTHD_OK);
    int days = r->cfg.two_factor.remember_browser_days;
    *err = edge_req_set_session(r, resp->session_token);
    if (*err == AUTHD_OK && v->remember && resp->device_token != NULL &&
        resp->device_token[0] != '\0')
        *err = edge_req_set_cookie(r, EDGE_DEVICE_COOKIE, resp->device_token,
                                   COOKIE_HTTPONLY | COOKIE_SAMESITE_LAX, (long long)days * 86400);
    log_event(LOG_INFO, "second_factor_ok", "rid=%s user=%s ip=%s method=%s", r->id,
              resp->user != NULL ? resp->user->id : "-", r->client_ip, method);
    return 1;
}

static int
is_one(const char *s)
{
    return s != NULL && strcmp(s, "1") == 0;
}

int
edge_flow_2fa_verify_form(struct edge_req *r)
{
    struct edge_carry c;
    edge_carry_from_form(&c, r->query);
    struct verify_view v = {.recovery = is_one(edge_req_query(r, "recovery"))};
    return show(r, 200, &c, &v, 1, 0);
}

int
edge_device_cookie_clear(struct edge_req *r)
{
    return edge_req_set_cookie(r, EDGE_DEVICE_COOKIE, "", COOKIE_HTTPONLY | COOKIE_SAMESITE_LAX, 0);
}

int
edge_flow_2fa_verify(struct edge_req *r)
{
    struct edge_carry c;
    edge_carry_from_form(&c, r->form);
    const char *token = edge_req_session_token(r);
    if (token == NULL)
        return edge_2fa_redirect_carry(r, "/auth/login", &c);

    const char *code = edge_req_field(r, "token");
    const char *recovery_code = edge_req_field(r, "recovery_code");
    int days = r->cfg.two_factor.remember_browser_days;
    struct verify_view v = {.recovery = recovery_code != NULL,
                            .remember = days > 0 && is_one(edge_req_field(r, "remember"))};
    if (is_one(edge_req_field(r, "resend")))
        return show(r, 200, &c, &v, 1, 1);

    int by_recovery =
        (code == NULL || code[0] == '\0') && recovery_code != NULL && recovery_code[0] != '\0';
    Authd__V1__SessionResponse *resp = NULL;
    struct rpc_status st;
    Authd__V1__VerifySecondFactorRequest req = AUTHD__V1__VERIFY_SECOND_FACTOR_REQUEST__INIT;
    req.session_token = edge_authd_str(token);
    req.code = edge_authd_str(code);
    req.recovery_code = edge_authd_str(recovery_code);
    req.client_ip = edge_authd_str(r->client_ip);
    req.user_agent = edge_authd_str(r->user_agent);
    req.remember_browser = v.remember;
    int err = edge_authd_call(r->edge->authd, r->id, &authd__v1__sessions__descriptor,
                              "VerifySecondFactor", &req.base, (ProtobufCMessage **)&resp, &st);
    edge_req_note_lockout(r, err, &st);
    if (err != AUTHD_OK) {
        count_second_factor(err);
        log_event(LOG_INFO, "second_factor_failed", "rid=%s err=%s ip=%s", r->id,
                  authd_err_reason(err), r->client_ip);
        if (is_session_error(err))
            return edge_2fa_redirect_carry(r, "/auth/login", &c);
        if (err != AUTHD_ERR_WRONG_CODE && err != AUTHD_ERR_SECOND_FACTOR_REQUIRED &&
            err != AUTHD_ERR_LOCKED && err != AUTHD_ERR_TOO_LARGE)
            return edge_req_fail(r, err, "verify_second_factor");
        struct edge_http_err he;
        edge_req_err_map(r, err, &he);
        v.error = he.message;
        return show(r, he.status, &c, &v, 0, 0);
    }
    if (!second_factor_answered(r, resp, &v, by_recovery ? "recovery_code" : "totp", &err))
        return err;
    if (err == AUTHD_OK && by_recovery && resp->user != NULL)
        edge_2fa_notify(r, resp->user->email, "A recovery code was used to sign in",
                        "A recovery code was just used to sign in to your account. Each "
                        "recovery code works only once; you can generate new ones on your "
                        "two-factor settings page.");
    rpc_msg_free(&resp->base);
    if (err != AUTHD_OK)
        return err;
    return edge_req_redirect_next(r, &c);
}

/*
 * POST /auth/two-factor/verify/passkey: the pending login's second factor by a passkey or
 * security key. The form carries the ceremony (begun for this pending session by
 * /auth/passkeys/assertion) and the browser's response; authd checks it and answers the NEW
 * session, as VerifySecondFactor does.
 */
int
edge_flow_2fa_verify_passkey(struct edge_req *r)
{
    struct edge_carry c;
    edge_carry_from_form(&c, r->form);
    const char *token = edge_req_session_token(r);
    if (token == NULL)
        return edge_2fa_redirect_carry(r, "/auth/login", &c);
    int days = r->cfg.two_factor.remember_browser_days;
    struct verify_view v = {.remember = days > 0 && is_one(edge_req_field(r, "remember"))};
    const char *ceremony_id, *credential;
    int too_large;
    edge_passkey_fields(r, &ceremony_id, &credential, &too_large);
    if (too_large || ceremony_id == NULL || credential == NULL) {
        v.error = too_large ? "The key's answer is too large."
                            : "Your browser did not use a key. Try again.";
        return show(r, too_large ? 413 : 400, &c, &v, 0, 0);
    }
    Authd__V1__SessionResponse *resp = NULL;
    struct rpc_status st;
    Authd__V1__FinishAssertionRequest req = AUTHD__V1__FINISH_ASSERTION_REQUEST__INIT;
    req.session_token = edge_authd_str(token);
    req.ceremony_id = edge_authd_str(ceremony_id);
    req.credential_json = edge_authd_str(credential);
    req.client_ip = edge_authd_str(r->client_ip);
    req.user_agent = edge_authd_str(r->user_agent);
    req.remember_browser = v.remember;
    int err = edge_authd_call(r->edge->authd, r->id, &authd__v1__web_authn__descriptor,
                              "FinishAssertion", &req.base, (ProtobufCMessage **)&resp, &st);
    edge_req_note_lockout(r, err, &st);
    if (err != AUTHD_OK) {
        int refused = edge_passkey_refused(err, &st);
        count_second_factor(refused ? AUTHD_ERR_WRONG_CODE : err);
        log_event(LOG_INFO, "second_factor_failed", "rid=%s err=%s ip=%s method=passkey", r->id,
                  authd_err_reason(err), r->client_ip);
        if (is_session_error(err))
            return edge_2fa_redirect_carry(r, "/auth/login", &c);
        struct edge_http_err he;
        edge_passkey_err_map(r, err, &st, &he);
        if (he.status >= 500)
            return edge_req_fail(r, err, "verify_passkey");
        v.error = he.message;
        return show(r, he.status, &c, &v, 0, 0);
    }
    if (!second_factor_answered(r, resp, &v, "passkey", &err))
        return err;
    rpc_msg_free(&resp->base);
    if (err != AUTHD_OK)
        return err;
    return edge_req_redirect_next(r, &c);
}
