/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Passwords: "forgot password" (mail a single-use reset link; the same page whether or not an
 * account exists), the reset form behind that link, and the change-password form for a
 * signed-in user. authd checks every token and password; the edge only compares the two
 * copies the user typed, which is about typing, not about authentication.
 */
#include "edge/flows.h"

#include <stdio.h>
#include <string.h>

#include "edge/carry.h"
#include "common/err.h"
#include "edge/http_err.h"
#include "edge/link_flow.h"
#include "common/log.h"
#include "edge/mail.h"
#include "proto/rpc.h"
#include "edge/twofactor.h"

#define MAIL_BODY_MAX 8192

/* ---- forgot password ------------------------------------------------------------------ */

static int
render_forgot(struct edge_req *r, int status, const struct edge_carry *c, const char *email,
              const char *error)
{
    struct page p;
    page_begin(&p, &r->cfg, "Forgot your password?");
    if (error != NULL)
        page_error(&p, error);
    if (error != NULL && status == 400)
        page_invalid(&p, "email");
    page_para(&p, "Enter your e-mail address and we will send you a link to choose a new "
                  "password.");
    page_form_begin(&p, "/auth/forgot-password", edge_req_csrf(r));
    edge_carry_hidden(c, &p);
    page_input(&p, "E-mail", "email", "email", email, "email", 1);
    page_submit(&p, "Send link");
    page_form_end(&p);
    edge_carry_link(&p, "/auth/login", c, "Back to sign in");
    page_end(&p);
    return edge_req_page(r, status, &p);
}

int
edge_flow_forgot_form(struct edge_req *r)
{
    struct edge_carry c;
    edge_carry_from_form(&c, r->query);
    return render_forgot(r, 200, &c, NULL, NULL);
}

/* Queues the reset mail; expires_in is the link's lifetime (StartResetResponse; 0: not said). */
static int
send_reset_mail(struct edge_req *r, const char *email, const char *token, int64_t expires_in)
{
    char life[48] = "soon";
    if (expires_in > 0) {
        char d[32];
        edge_http_duration_text(expires_in, d, sizeof(d));
        snprintf(life, sizeof(life), "in %s", d);
    }
    struct buf link, body;
    buf_init(&link, 4096);
    buf_init(&body, MAIL_BODY_MAX);
    int err = buf_printf(&link, "%s/auth/reset-password/", r->edge->base_url);
    if (err == AUTHD_OK)
        err = buf_urlenc(&link, token);
    if (err == AUTHD_OK)
        err = buf_printf(&body,
                         "Hello,\n\n"
                         "to choose a new password, open this link:\n\n%s\n\n"
                         "The link works once and expires %s. If you did not ask for this, "
                         "ignore this e-mail: your password stays as it is.\n",
                         link.data, life);
    if (err == AUTHD_OK)
        err = mail_send_later(r->edge->mail, r->id, email, "Reset your password", body.data,
                              link.data);
    buf_free(&link);
    buf_free(&body);
    return err;
}

int
edge_flow_forgot(struct edge_req *r)
{
    const char *email = edge_req_field(r, "email");
    struct edge_carry c;
    edge_carry_from_form(&c, r->form);
    Authd__V1__ClientContext cc = AUTHD__V1__CLIENT_CONTEXT__INIT;
    edge_carry_to_client(&c, &cc);

    Authd__V1__StartResetResponse *resp = NULL;
    struct rpc_status st;
    Authd__V1__StartResetRequest req = AUTHD__V1__START_RESET_REQUEST__INIT;
    req.email = edge_authd_str(email);
    req.client = &cc;
    req.client_ip = edge_authd_str(r->client_ip);
    int err = edge_authd_call(r->edge->authd, r->id, &authd__v1__password_reset__descriptor,
                              "Start", &req.base, (ProtobufCMessage **)&resp, &st);
    edge_req_note_lockout(r, err, &st);
    if (err == AUTHD_ERR_INVALID_EMAIL || err == AUTHD_ERR_INVALID_ARGUMENT ||
        err == AUTHD_ERR_TOO_LARGE || err == AUTHD_ERR_LOCKED) {
        /* LOCKED (too many e-mails asked for) is counted alike for every address, so it
         * reveals nothing either. */
        struct edge_http_err he;
        edge_req_err_map(r, err, &he);
        return render_forgot(r, he.status, &c, email, he.message);
    }
    if (err != AUTHD_OK)
        return edge_req_fail(r, err, "reset_start");
    if (resp->token != NULL && resp->token[0] != '\0') {
        /* Queued, not sent here: neither a failure nor the time an SMTP round trip takes may
         * show, or the page would tell anyone which addresses have an account. */
        int sent = send_reset_mail(r, resp->email, resp->token, resp->expires_in);
        log_event(LOG_INFO, "reset_started", "rid=%s mail=%s", r->id,
                  sent == AUTHD_OK ? "queued" : "failed");
    }

    struct page p;
    const char *again = edge_req_field(r, "resend");
    page_begin(&p, &r->cfg, "Check your e-mail");
    if (again != NULL && strcmp(again, "1") == 0)
        page_info(&p, "We sent the e-mail again.");
    page_raw(&p, "<p>If an account exists for <strong>");
    page_text(&p, resp->email);
    page_raw(&p, "</strong>, we sent a link to it. Open it to choose a new password.</p>\n");
    page_para(&p, "Nothing there? Check your spam folder, or send it again.");
    /* Another Start, under the same mail limits; the page is the same with or without an
     * account, so it still tells nothing. */
    page_form_begin(&p, "/auth/forgot-password", edge_req_csrf(r));
    edge_carry_hidden(&c, &p);
    page_hidden(&p, "email", resp->email);
    page_hidden(&p, "resend", "1");
    page_submit(&p, "Resend the e-mail");
    page_form_end(&p);
    edge_carry_link(&p, "/auth/login", &c, "Back to sign in");
    page_end(&p);
    rpc_msg_free(&resp->base);
    return edge_req_page(r, 200, &p);
}

/* ---- reset password (the link from the mail) ------------------------------------------ */

static const char *const reset_links[] = {"/auth/forgot-password", "Send a new link", NULL};
static const struct edge_link_flow reset_link;
/* The error of a refused second factor: render_reset words it for the user's transport. */
static const char reset_code_error[] = "Enter a current code or a recovery code";

/*
 * The new-password form for got (PasswordReset.Get's answer); when the user has 2FA it also
 * asks for a current code or, instead, a recovery code (both fields optional: either will do).
 * For a user whose codes come by webhook, opening the link (a GET the browser calls the user's
 * own: edge_2fa_own_navigation) or "Send again" (a POST with resend=1, answered 429 with the
 * wait while authd rations deliveries) sends the code first, authd judging the link
 * (TwoFactor.IssueDeliveryCode with the reset token). Any other GET (a mail scanner's prefetch,
 * another site's link) sends nothing and offers "Send me a code" (that POST) instead.
 */
static int
render_reset(struct edge_req *r, int status, const ProtobufCMessage *got, const char *error)
{
    const Authd__V1__GetResetResponse *g = (const Authd__V1__GetResetResponse *)got;
    struct edge_2fa_delivery d = {.transport = g->second_factor_required ? g->transport : NULL};
    int resend = edge_req_field(r, "resend") != NULL;
    int get = strcmp(r->method, "GET") == 0;
    if (edge_2fa_by_webhook(d.transport) && get && !resend && !edge_2fa_own_navigation(r)) {
        d.offered = 1;
    } else if (edge_2fa_by_webhook(d.transport) && (get || resend)) {
        int err = edge_2fa_send_code(r, NULL, r->param, NULL, &d);
        if (err == AUTHD_ERR_INVALID_TOKEN)
            return edge_link_invalid(r, &reset_link);
        if (resend && d.wait > 0)
            status = 429;
    }
    if (error == reset_code_error)
        error = edge_2fa_by_webhook(d.transport)
                    ? "Enter the code we sent you or a recovery code"
                    : "Enter a current code from your authenticator app or a recovery code";
    struct page p;
    int err = edge_link_form_begin(r, &p, "/auth/reset-password/", "Choose a new password",
                                   g->email, error);
    if (err != AUTHD_OK)
        return err;
    if (error != NULL && status == 400) /* differ, too weak, too long */
        page_invalid(&p, "password password_confirmation");
    else if (error != NULL && status == 401) /* a wrong or missing second factor */
        page_invalid(&p, "token recovery_code");
    page_new_password(&p, "New password", "password", r->cfg.password_min_length, 1, 1);
    page_new_password(&p, "Repeat the new password", "password_confirmation",
                      r->cfg.password_min_length, 0, 0);
    if (g->second_factor_required) {
        page_para(&p, "Your account uses two-factor authentication.");
        edge_2fa_delivery_msg(&p, &d);
        if (edge_2fa_by_webhook(d.transport))
            edge_2fa_code_para(&p, d.transport);
        edge_2fa_code_input(&p, d.transport, 0, 0);
        page_code_input(&p, "or use a recovery code", "recovery_code", "text", "off", 64, 0, 0);
    }
    page_submit(&p, "Set password");
    page_form_end(&p);
    if (edge_2fa_by_webhook(d.transport)) {
        struct buf action;
        buf_init(&action, 4096);
        err = buf_puts(&action, "/auth/reset-password/");
        if (err == AUTHD_OK)
            err = buf_urlenc(&action, r->param);
        if (err == AUTHD_OK) {
            page_form_begin(&p, action.data, edge_req_csrf(r));
            edge_2fa_resend_button(&p, &d);
            page_form_end(&p);
        } else if (p.err == AUTHD_OK) {
            p.err = err;
        }
        buf_free(&action);
    }
    page_end(&p);
    return edge_req_page(r, status, &p);
}

/* The link in the reset mail (PasswordReset takes the token from the path). */
static const struct edge_link_flow reset_link = {
    .service = &authd__v1__password_reset__descriptor,
    .get_what = "reset_get",
    .render = render_reset,
    .links = reset_links,
    .lockable = 1, /* Complete checks the second factor */
};

int
edge_flow_reset_form(struct edge_req *r)
{
    return edge_link_render(r, &reset_link, 200, NULL);
}

int
edge_flow_reset(struct edge_req *r)
{
    /* "Send again" only sends the code: render_reset does it. */
    if (edge_req_field(r, "resend") != NULL)
        return edge_link_render(r, &reset_link, 200, NULL);
    const char *pw = edge_req_new_password(r);
    if (pw == NULL)
        return edge_link_render(r, &reset_link, 400, "Passwords do not match");

    Authd__V1__CompleteResetResponse *resp = NULL;
    struct rpc_status st;
    Authd__V1__CompleteResetRequest req = AUTHD__V1__COMPLETE_RESET_REQUEST__INIT;
    req.token = edge_authd_str(r->param);
    req.password = edge_authd_str(pw);
    req.code = edge_authd_str(edge_req_field(r, "token"));
    req.recovery_code = edge_authd_str(edge_req_field(r, "recovery_code"));
    req.client_ip = edge_authd_str(r->client_ip);
    int err = edge_authd_call(r->edge->authd, r->id, &authd__v1__password_reset__descriptor,
                              "Complete", &req.base, (ProtobufCMessage **)&resp, &st);
    edge_req_note_lockout(r, err, &st);
    if (err == AUTHD_ERR_WRONG_CODE || err == AUTHD_ERR_SECOND_FACTOR_REQUIRED) {
        log_event(LOG_INFO, "reset_second_factor_failed", "rid=%s err=%s ip=%s", r->id,
                  authd_err_reason(err), r->client_ip);
        return edge_link_render(r, &reset_link, 401, reset_code_error);
    }
    if (err != AUTHD_OK)
        return edge_link_refused(r, &reset_link, err, "reset_complete");

    /* Back to the login page, still carrying the OAuth flow the reset was started from. */
    struct edge_carry c;
    edge_carry_from_client(&c, resp->client);
    struct buf next;
    buf_init(&next, PAGE_MAX);
    err = edge_carry_url(&next, "/auth/login", &c);
    if (err == AUTHD_OK)
        err = buf_puts(&next, edge_carry_any(&c) ? "&reset=1" : "?reset=1");
    if (err == AUTHD_OK)
        err = edge_req_redirect(r, next.data);
    log_event(LOG_INFO, "reset_completed", "rid=%s user=%s", r->id,
              resp->user != NULL ? resp->user->id : "-");
    if (resp->used_recovery_code && resp->user != NULL)
        edge_2fa_notify(r, resp->user->email, "A recovery code was used",
                        "A recovery code was just used to reset the password of your account. "
                        "Each recovery code works only once. If this was not you, contact "
                        "support at once.");
    buf_free(&next);
    rpc_msg_free(&resp->base);
    return err;
}

/* ---- change password (signed in) ------------------------------------------------------ */

static int
render_change(struct edge_req *r, int status, const char *email, const char *error)
{
    struct page p;
    page_begin(&p, &r->cfg, "Change password");
    if (error != NULL)
        page_error(&p, error);
    if (error != NULL && status == 401)
        page_invalid(&p, "current_password");
    else if (error != NULL && status == 400) /* differ, too weak, too long */
        page_invalid(&p, "password password_confirmation");
    if (email != NULL) {
        page_raw(&p, "<p>Signed in as <strong>");
        page_text(&p, email);
        page_raw(&p, "</strong></p>\n");
    }
    page_form_begin(&p, "/auth/password", edge_req_csrf(r));
    page_input(&p, "Current password", "password", "current_password", NULL, "current-password", 1);
    page_new_password(&p, "New password", "password", r->cfg.password_min_length, 1, 0);
    page_new_password(&p, "Repeat the new password", "password_confirmation",
                      r->cfg.password_min_length, 0, 0);
    page_submit(&p, "Change password");
    page_form_end(&p);
    page_link(&p, "/", "Cancel");
    page_end(&p);
    return edge_req_page(r, status, &p);
}

int
edge_flow_password_form(struct edge_req *r)
{
    Authd__V1__SessionResponse *s = NULL;
    int err = edge_req_session(r, 0, &s);
    if (err != AUTHD_OK)
        return edge_req_fail(r, err, "password_session");
    err = render_change(r, 200, s->user != NULL ? s->user->email : NULL, NULL);
    rpc_msg_free(&s->base);
    return err;
}

int
edge_flow_password(struct edge_req *r)
{
    const char *token = edge_req_session_token(r);
    if (token == NULL)
        return edge_req_redirect(r, "/auth/login");
    const char *current = edge_req_field(r, "current_password");
    const char *pw = edge_req_new_password(r);
    if (pw == NULL)
        return render_change(r, 400, NULL, "Passwords do not match");

    struct rpc_status st;
    Authd__V1__ChangePasswordRequest req = AUTHD__V1__CHANGE_PASSWORD_REQUEST__INIT;
    req.session_token = edge_authd_str(token);
    req.client_ip = edge_authd_str(r->client_ip);
    req.current_password = edge_authd_str(current);
    req.new_password = edge_authd_str(pw);
    int err = edge_authd_call(r->edge->authd, r->id, &authd__v1__sessions__descriptor,
                              "ChangePassword", &req.base, NULL, &st);
    edge_req_note_lockout(r, err, &st);
    if (err == AUTHD_ERR_INVALID_CREDENTIALS) {
        struct edge_http_err he;
        edge_http_err_map(err, &he);
        return render_change(r, he.status, NULL, "Current password is wrong");
    }
    if (err == AUTHD_ERR_WEAK_PASSWORD || err == AUTHD_ERR_TOO_LARGE ||
        err == AUTHD_ERR_INVALID_ARGUMENT || err == AUTHD_ERR_LOCKED) {
        struct edge_http_err he;
        edge_req_err_map(r, err, &he);
        return render_change(r, he.status, NULL, he.message);
    }
    if (err != AUTHD_OK)
        return edge_req_fail(r, err, "change_password");

    log_event(LOG_INFO, "password_changed", "rid=%s", r->id);
    struct page p;
    page_begin(&p, &r->cfg, "Password changed");
    page_info(&p, "Your password was changed. Your other sessions were signed out.");
    page_link(&p, "/", "Continue");
    page_end(&p);
    return edge_req_page(r, 200, &p);
}
