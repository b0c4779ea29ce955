/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Signup with e-mail confirmation. POST /auth/signup asks authd to start a registration and
 * mails either the confirmation link or, when the address already has an account, a "you
 * already have an account" note; the browser sees the same page in both cases, so it cannot
 * learn whether an account exists. The link leads to a set-password form; completing it signs
 * the user in and resumes the OAuth flow the signup started from.
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

#define MAIL_BODY_MAX 8192

static int
render_form(struct edge_req *r, int status, const struct edge_carry *c, const char *email,
            const char *error)
{
    struct page p;
    page_begin(&p, &r->cfg, "Create an account");
    if (error != NULL)
        page_error(&p, error);
    if (error != NULL && status == 400)
        page_invalid(&p, "email");
    page_form_begin(&p, "/auth/signup", edge_req_csrf(r));
    edge_carry_hidden(c, &p);
    page_input(&p, "E-mail", "email", "email", email, "email", 1);
    page_submit(&p, "Continue");
    page_form_end(&p);
    edge_carry_link(&p, "/auth/login", c, "Already have an account? Sign in");
    page_end(&p);
    return edge_req_page(r, status, &p);
}

int
edge_flow_signup_form(struct edge_req *r)
{
    struct edge_carry c;
    edge_carry_from_form(&c, r->query);
    return render_form(r, 200, &c, NULL, NULL);
}

/*
 * Mails the confirmation link, or the "already registered" note when token is NULL. expires_in
 * is how long authd keeps the link (StartSignupResponse.expires_in; 0: not said).
 */
static int
send_signup_mail(struct edge_req *r, const char *email, const char *token, int64_t expires_in)
{
    const char *base = r->edge->base_url;
    struct buf link, body;
    buf_init(&link, 4096);
    buf_init(&body, MAIL_BODY_MAX);
    int err;
    const char *subject;
    if (token != NULL) {
        char life[48] = "soon";
        if (expires_in > 0) {
            char d[32];
            edge_http_duration_text(expires_in, d, sizeof(d));
            snprintf(life, sizeof(life), "in %s", d);
        }
        subject = "Confirm your e-mail";
        err = buf_printf(&link, "%s/auth/signup/confirm/", base);
        if (err == AUTHD_OK)
            err = buf_urlenc(&link, token);
        if (err == AUTHD_OK)
            err = buf_printf(&body,
                             "Hello,\n\n"
                             "to finish creating your account, open this link and choose a "
                             "password:\n\n%s\n\n"
                             "The link works once and expires %s. If you did not ask for an "
                             "account, ignore this e-mail.\n",
                             link.data, life);
    } else {
        subject = "You already have an account";
        err = buf_printf(&link, "%s/auth/login", base);
        if (err == AUTHD_OK)
            err = buf_printf(&body,
                             "Hello,\n\n"
                             "someone (hopefully you) tried to create an account with this "
                             "e-mail address, but you already have one.\n\n"
                             "Sign in: %s/auth/login\n"
                             "Forgot your password? %s/auth/forgot-password\n\n"
                             "If it was not you, ignore this e-mail: nothing has changed.\n",
                             base, base);
    }
    if (err == AUTHD_OK)
        err = mail_send(r->edge->mail, r->id, email, subject, body.data, link.data);
    buf_free(&link);
    buf_free(&body);
    return err;
}

int
edge_flow_signup_start(struct edge_req *r)
{
    const char *email = edge_req_field(r, "email");
    struct edge_carry c;
    edge_carry_from_form(&c, r->form);
    Authd__V1__ClientContext cc = AUTHD__V1__CLIENT_CONTEXT__INIT;
    edge_carry_to_client(&c, &cc);

    Authd__V1__StartSignupResponse *resp = NULL;
    struct rpc_status st;
    Authd__V1__StartSignupRequest req = AUTHD__V1__START_SIGNUP_REQUEST__INIT;
    req.email = edge_authd_str(email);
    req.client = &cc;
    req.client_ip = edge_authd_str(r->client_ip);
    int err = edge_authd_call(r->edge->authd, r->id, &authd__v1__signup__descriptor, "Start",
                              &req.base, (ProtobufCMessage **)&resp, &st);
    edge_req_note_lockout(r, err, &st);
    if (err == AUTHD_ERR_INVALID_EMAIL || err == AUTHD_ERR_INVALID_ARGUMENT ||
        err == AUTHD_ERR_TOO_LARGE || err == AUTHD_ERR_LOCKED) {
        struct edge_http_err he;
        edge_req_err_map(r, err, &he);
        return render_form(r, he.status, &c, email, he.message);
    }
    if (err != AUTHD_OK)
        return edge_req_fail(r, err, "signup_start");

    int sent = AUTHD_OK;
    if (resp->token != NULL && resp->token[0] != '\0')
        sent = send_signup_mail(r, resp->email, resp->token, resp->expires_in);
    else if (resp->account_exists)
        sent = send_signup_mail(r, resp->email, NULL, 0);
    log_event(LOG_INFO, "signup_started", "rid=%s mailed=%s", r->id,
              sent == AUTHD_OK ? "yes" : "failed");

    struct page p;
    if (sent != AUTHD_OK) {
        /* The registration stays in authd; sending again starts it afresh with a new link. */
        page_begin(&p, &r->cfg, "We could not send the e-mail");
        page_error(&p, "We could not send the e-mail. Please try again in a moment.");
        page_form_begin(&p, "/auth/signup", edge_req_csrf(r));
        edge_carry_hidden(&c, &p);
        page_hidden(&p, "email", resp->email);
        page_submit(&p, "Send again");
        page_form_end(&p);
    } else {
        const char *again = edge_req_field(r, "resend");
        page_begin(&p, &r->cfg, "Check your e-mail");
        if (again != NULL && strcmp(again, "1") == 0)
            page_info(&p, "We sent the e-mail again.");
        page_raw(&p, "<p>We sent a message to <strong>");
        page_text(&p, resp->email);
        page_raw(&p, "</strong>. Open the link in it to continue.</p>\n");
        page_para(&p, "Nothing there? Check your spam folder, or send it again.");
        /* Resending is another Start: the same mail limits and the same answer whether or
         * not the address has an account. */
        page_form_begin(&p, "/auth/signup", edge_req_csrf(r));
        edge_carry_hidden(&c, &p);
        page_hidden(&p, "email", resp->email);
        page_hidden(&p, "resend", "1");
        page_submit(&p, "Resend the e-mail");
        page_form_end(&p);
        edge_carry_link(&p, "/auth/signup", &c, "Use another e-mail address");
    }
    page_end(&p);
    rpc_msg_free(&resp->base);
    return edge_req_page(r, 200, &p);
}

static const char *const signup_links[] = {"/auth/signup", "Create an account", "/auth/login",
                                           "Sign in", NULL};

/* The set-password form for got (Signup.Get's answer). */
static int
render_password_form(struct edge_req *r, int status, const ProtobufCMessage *got, const char *error)
{
    const Authd__V1__GetSignupResponse *g = (const Authd__V1__GetSignupResponse *)got;
    struct page p;
    int err =
        edge_link_form_begin(r, &p, "/auth/signup/confirm/", "Choose a password", g->email, error);
    if (err != AUTHD_OK)
        return err;
    if (error != NULL && status == 400) /* differ, too weak, too long */
        page_invalid(&p, "password password_confirmation");
    page_new_password(&p, "Password", "password", r->cfg.password_min_length, 1, 1);
    page_new_password(&p, "Repeat the password", "password_confirmation",
                      r->cfg.password_min_length, 0, 0);
    page_submit(&p, "Create account");
    page_form_end(&p);
    page_end(&p);
    return edge_req_page(r, status, &p);
}

/* The link in the confirmation mail (Signup takes the token from the path). */
static const struct edge_link_flow signup_link = {
    .service = &authd__v1__signup__descriptor,
    .get_what = "signup_get",
    .render = render_password_form,
    .links = signup_links,
    .lockable = 0,
};

int
edge_flow_signup_confirm_form(struct edge_req *r)
{
    return edge_link_render(r, &signup_link, 200, NULL);
}

int
edge_flow_signup_confirm(struct edge_req *r)
{
    const char *pw = edge_req_new_password(r);
    if (pw == NULL)
        return edge_link_render(r, &signup_link, 400, "Passwords do not match");

    Authd__V1__CompleteSignupResponse *resp = NULL;
    Authd__V1__CompleteSignupRequest req = AUTHD__V1__COMPLETE_SIGNUP_REQUEST__INIT;
    req.token = edge_authd_str(r->param);
    req.password = edge_authd_str(pw);
    req.client_ip = edge_authd_str(r->client_ip);
    req.user_agent = edge_authd_str(r->user_agent);
    int err = edge_authd_call(r->edge->authd, r->id, &authd__v1__signup__descriptor, "Complete",
                              &req.base, (ProtobufCMessage **)&resp, NULL);
    if (err != AUTHD_OK)
        return edge_link_refused(r, &signup_link, err, "signup_complete");
    if (resp->session_token == NULL || resp->session_token[0] == '\0') {
        rpc_msg_free(&resp->base);
        return edge_req_fail(r, AUTHD_ERR_INTERNAL, "signup_complete_no_session");
    }

    struct edge_carry c;
    edge_carry_from_client(&c, resp->client);
    err = edge_req_set_session(r, resp->session_token);
    if (err == AUTHD_OK)
        err = edge_req_redirect_next(r, &c);
    if (err == AUTHD_OK)
        log_event(LOG_INFO, "signup_completed", "rid=%s user=%s", r->id,
                  resp->user != NULL ? resp->user->id : "-");
    rpc_msg_free(&resp->base);
    return err;
}
