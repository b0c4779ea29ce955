/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Two-factor settings for a signed-in user: the status page (on/off, recovery codes left),
 * the "enable" choice (authenticator app, or codes sent by the webhook to a transport), turning
 * it off, and new recovery codes. Turning off and new codes need a current code or a recovery
 * code, which authd checks; every change is also mailed to the user. For a user whose codes come
 * by webhook, opening the turn-off or new-codes page sends the code (TwoFactor.IssueDeliveryCode)
 * and the page offers "Send again" (resend=1, answered 429 with the wait while authd rations
 * deliveries).
 */
#include "edge/flows.h"

#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/err.h"
#include "edge/http_err.h"
#include "common/log.h"
#include "edge/passkey.h"
#include "proto/rpc.h"
#include "edge/twofactor.h"

static int
is_one(const char *s)
{
    return s != NULL && strcmp(s, "1") == 0;
}

static int
enabled(const Authd__V1__User *u)
{
    return u != NULL && u->two_factor != NULL && u->two_factor->enabled;
}

/* 1 when the user has codes (an app or a transport): two-factor is on and not by keys alone (an
 * authd that does not say which factors: on means codes). */
static int
has_codes(const Authd__V1__User *u)
{
    return enabled(u) && (u->two_factor->totp || u->two_factor->passkeys == 0);
}

/* The field for a current code (worded for the user's transport), or for a recovery code. */
static void
code_field(struct page *p, const char *transport, int recovery, int autofocus)
{
    if (recovery)
        page_code_input(p, "Recovery code", "recovery_code", "text", "off", EDGE_2FA_RECOVERY_MAX,
                        1, autofocus);
    else
        edge_2fa_code_input(p, transport, 1, autofocus);
}

/* The user's transport (copied into out; "" for the authenticator app or without a session). */
static void
copy_transport(const Authd__V1__User *u, char out[EDGE_2FA_TRANSPORT_MAX + 1])
{
    out[0] = '\0';
    if (u != NULL && u->two_factor != NULL && u->two_factor->transport != NULL &&
        strlen(u->two_factor->transport) <= EDGE_2FA_TRANSPORT_MAX)
        memcpy(out, u->two_factor->transport, strlen(u->two_factor->transport) + 1);
}

/* The user's keys into d: how many, and whether they are the only factor (no TOTP). An authd
 * that does not say which factors leaves passkeys 0: a code, as before. */
static void
copy_factors(const Authd__V1__User *u, struct edge_2fa_delivery *d)
{
    const Authd__V1__TwoFactorStatus *tf = u != NULL ? u->two_factor : NULL;
    d->passkeys = tf != NULL ? tf->passkeys : 0;
    d->keys_only = d->passkeys > 0 && !tf->totp;
}

/* "Confirm with your passkey": a step-up assertion posted to action as the proof. */
static void
passkey_proof_form(struct edge_req *r, struct page *p, const char *action,
                   const struct edge_2fa_delivery *d, int recovery)
{
    if (recovery || d->passkeys == 0 || !r->cfg.webauthn)
        return;
    edge_passkey_form_begin(r, p, action, EDGE_PASSKEY_CONFIRM);
    edge_passkey_form_end(p, "Confirm with your passkey");
}

/* ---- remembered browsers (authd/device.h) ---------------------------------------------- */

/* "2026-12-07 14:03 UTC" of unix seconds t, or "never" for 0. */
static const char *
when(int64_t t, char *buf, size_t cap)
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (t <= 0 || gmtime_r(&tt, &tm) == NULL || strftime(buf, cap, "%Y-%m-%d %H:%M UTC", &tm) == 0)
        return "never";
    return buf;
}

/*
 * The user's remembered browsers, each with a Revoke button, and "Forget all": shown when the
 * AuthConfig lets browsers be remembered or some still are.
 */
static void
devices_section(struct edge_req *r, struct page *p, const char *token)
{
    Authd__V1__StatusRequest req = AUTHD__V1__STATUS_REQUEST__INIT;
    req.session_token = edge_authd_str(token);
    Authd__V1__DeviceList *l = NULL;
    int err = edge_authd_call(r->edge->authd, r->id, &authd__v1__two_factor__descriptor,
                              "ListDevices", &req.base, (ProtobufCMessage **)&l, NULL);
    if (err != AUTHD_OK) {
        log_event(LOG_WARN, "2fa_devices_failed", "rid=%s err=%s", r->id, authd_err_reason(err));
        return; /* the rest of the page still helps */
    }
    if (l->n_devices == 0 && r->cfg.two_factor.remember_browser_days <= 0) {
        rpc_msg_free(&l->base);
        return;
    }
    const char *csrf = edge_req_csrf(r);
    page_raw(p, "<h2>Remembered browsers</h2>\n");
    if (l->n_devices == 0) {
        page_para(p, "No browser is remembered. When you sign in, you can choose not to be asked "
                     "for a code again on that browser for a while.");
    } else {
        page_para(p, "These browsers are not asked for a code when you sign in with your "
                     "password. Revoke any you do not recognise.");
        page_raw(p, "<ul id=\"devices\">\n");
        for (size_t i = 0; i < l->n_devices; i++) {
            const Authd__V1__Device *d = l->devices[i];
            char added[40], used[40];
            page_raw(p, "<li><strong>");
            page_text(p, d->label);
            page_raw(p, "</strong><br><span class=\"muted\">Added ");
            page_text(p, when(d->created_at, added, sizeof(added)));
            page_raw(p, ", last used ");
            page_text(p, when(d->last_used_at, used, sizeof(used)));
            page_raw(p, "</span>\n");
            page_form_begin(p, "/auth/two-factor/devices/forget", csrf);
            page_hidden(p, "device_id", d->id);
            page_submit_as(p, "Revoke", "secondary");
            page_form_end(p);
            page_raw(p, "</li>\n");
        }
        page_raw(p, "</ul>\n");
        page_form_begin(p, "/auth/two-factor/devices/forget", csrf);
        page_hidden(p, "all", "1");
        page_submit_as(p, "Forget all", "danger");
        page_form_end(p);
    }
    rpc_msg_free(&l->base);
}

int
edge_flow_2fa_devices_forget(struct edge_req *r)
{
    const char *token = edge_req_session_token(r);
    if (token == NULL)
        return edge_req_redirect(r, "/auth/login");
    Authd__V1__ForgetDeviceRequest req = AUTHD__V1__FORGET_DEVICE_REQUEST__INIT;
    req.session_token = edge_authd_str(token);
    req.all = is_one(edge_req_field(r, "all"));
    req.device_id = req.all ? "" : edge_authd_str(edge_req_field(r, "device_id"));
    Authd__V1__DeviceList *l = NULL;
    int err = edge_authd_call(r->edge->authd, r->id, &authd__v1__two_factor__descriptor,
                              "ForgetDevice", &req.base, (ProtobufCMessage **)&l, NULL);
    rpc_msg_free(l != NULL ? &l->base : NULL);
    if (err == AUTHD_ERR_UNAUTHENTICATED || err == AUTHD_ERR_INVALID_TOKEN)
        return edge_req_redirect(r, "/auth/login");
    /* NOT_FOUND: forgotten already (another tab, the sweeper): the list shows what is left. */
    if (err != AUTHD_OK && err != AUTHD_ERR_NOT_FOUND)
        return edge_req_fail(r, err, "2fa_devices_forget");
    log_event(LOG_INFO, "2fa_devices_forgotten", "rid=%s all=%d", r->id, req.all);
    /* This browser's own cookie names nothing now when all were forgotten. */
    if (req.all && (err = edge_device_cookie_clear(r)) != AUTHD_OK)
        return err;
    return edge_req_redirect(r, "/auth/two-factor");
}

/* ---- status page ----------------------------------------------------------------------- */

int
edge_flow_2fa_settings(struct edge_req *r)
{
    const char *token = edge_req_session_token(r);
    if (token == NULL)
        return edge_req_redirect(r, "/auth/login");
    /* authd answers Status only for a signed-in session (UNAUTHENTICATED: to the login). */
    Authd__V1__StatusRequest req = AUTHD__V1__STATUS_REQUEST__INIT;
    req.session_token = edge_authd_str(token);
    Authd__V1__TwoFactorStatusResponse *st = NULL;
    int err = edge_authd_call(r->edge->authd, r->id, &authd__v1__two_factor__descriptor, "Status",
                              &req.base, (ProtobufCMessage **)&st, NULL);
    if (err != AUTHD_OK)
        return edge_req_fail(r, err, "2fa_status");

    struct page p;
    page_begin(&p, &r->cfg, "Two-factor authentication");
    if (enabled(st->user)) {
        if (is_one(edge_req_query(r, "app")) && has_codes(st->user))
            page_info(&p, "Your authenticator app was added.");
        page_info(&p, "Two-factor authentication is on");
        const char *transport = st->user->two_factor->transport;
        if (transport != NULL && transport[0] != '\0') {
            page_raw(&p, "<p>Codes are sent to you by <strong>");
            page_text(&p, transport);
            page_raw(&p, "</strong>.</p>\n");
        }
        if (p.err == AUTHD_OK)
            p.err = buf_printf(&p.out,
                               "<p>Recovery codes left: <strong id=\"codes-left\">%u"
                               "</strong></p>\n",
                               (unsigned)st->recovery_codes_left);
        const Authd__V1__TwoFactorStatus *tf = st->user->two_factor;
        if (tf->passkeys > 0 && p.err == AUTHD_OK)
            p.err = buf_printf(&p.out,
                               "<p>Passkeys and security keys: <strong id=\"passkeys-count\">"
                               "%u</strong></p>\n",
                               (unsigned)tf->passkeys);
        if (r->cfg.webauthn)
            page_link(&p, "/auth/passkeys", "Passkeys and security keys");
        if (!has_codes(st->user))
            page_link(&p, "/auth/two-factor/enable", "Add an authenticator app");
        page_link(&p, "/auth/two-factor/disable", "Turn off two-factor authentication");
        page_raw(&p, "<h2>Recovery codes</h2>\n");
        page_para(&p, "Generating new recovery codes makes the old ones stop working.");
        if (edge_2fa_by_webhook(transport) || (tf->passkeys > 0 && !tf->totp)) {
            /* The code is sent when the user asks for it, on a page of its own (which also
             * takes a passkey). */
            page_link(&p, "/auth/two-factor/recovery-codes", "Generate new recovery codes");
        } else {
            page_form_begin(&p, "/auth/two-factor/recovery-codes", edge_req_csrf(r));
            code_field(&p, NULL, 0, 0);
            page_submit(&p, "Generate new recovery codes");
            page_form_end(&p);
        }
        devices_section(r, &p, token);
    } else {
        page_info(&p, "Two-factor authentication is off");
        page_para(&p, "With two-factor authentication, signing in also asks for a code from "
                      "your phone, so a stolen password is not enough.");
        page_link(&p, "/auth/two-factor/enable", "Enable two-factor authentication");
        if (r->cfg.webauthn) {
            page_para(&p, "Or add a passkey or security key: nobody can phish it.");
            page_link(&p, "/auth/passkeys", "Passkeys and security keys");
        }
    }
    page_link(&p, "/", "Back to the start page");
    page_end(&p);
    rpc_msg_free(&st->base);
    return edge_req_page(r, 200, &p);
}

/* ---- enable -------------------------------------------------------------------------- */

static int
render_enable(struct edge_req *r, int status, const char *transport, const char *error)
{
    struct page p;
    page_begin(&p, &r->cfg, "Enable two-factor authentication");
    if (error != NULL)
        page_error(&p, error);
    page_para(&p, "Use an authenticator app (Google Authenticator, Microsoft Authenticator, "
                  "1Password, FreeOTP...) to get a new code every 30 seconds.");
    edge_2fa_start_form(r, &p, "Enable using Authenticator app");
    if (edge_2fa_has_webhook(r)) {
        const struct edge_two_factor_config *tf = &r->cfg.two_factor;
        page_form_begin(&p, "/auth/two-factor/enable", edge_req_csrf(r));
        if (tf->n_transports > 0) {
            /* The operator's list (twoFactor.transports): choices, the first one preselected. */
            page_raw(&p, "<fieldset class=\"choices\"><legend>Or have each code sent to you"
                         "</legend>\n");
            for (unsigned i = 0; i < tf->n_transports; i++) {
                const char *t = tf->transports[i];
                int checked = transport != NULL ? strcmp(transport, t) == 0 : i == 0;
                page_raw(&p, "<label><input type=\"radio\" name=\"transport\" value=\"");
                page_text(&p, t);
                page_raw(&p, checked ? "\" required checked> " : "\" required> ");
                edge_2fa_transport_words(&p, t, EDGE_2FA_WORDS_LABEL);
                page_raw(&p, "</label>\n");
            }
            page_raw(&p, "</fieldset>\n");
        } else {
            /* No list configured: any transport name the webhook understands, typed. */
            page_para(&p, "Or have each code sent to you:");
            page_text_input(&p, "How to send the codes (e.g. sms)", "transport", transport,
                            EDGE_2FA_TRANSPORT_MAX, 1);
        }
        page_submit(&p, "Send codes to me instead");
        page_form_end(&p);
    }
    page_link(&p, "/auth/two-factor", "Cancel");
    page_end(&p);
    return edge_req_page(r, status, &p);
}

/*
 * The gate of the enable and disable forms: 1 when the browser's session has two-factor
 * authentication in the state want_on, so that the form applies (the user's transport copied
 * into transport, may be NULL). Otherwise answers itself (the
 * settings page when the state is the other one, edge_req_fail() without a usable session) and
 * returns 0 with *err the answer's result.
 */
static int
form_applies(struct edge_req *r, int want_on, int *err, char transport[EDGE_2FA_TRANSPORT_MAX + 1],
             struct edge_2fa_delivery *factors)
{
    Authd__V1__SessionResponse *s = NULL;
    *err = edge_req_session(r, 0, &s);
    if (*err != AUTHD_OK) {
        *err = edge_req_fail(r, *err, "2fa_session");
        return 0;
    }
    /* Enabling adds codes, which a user whose keys turned two-factor on may still do. */
    int on = want_on ? enabled(s->user) : has_codes(s->user);
    if (transport != NULL)
        copy_transport(s->user, transport);
    if (factors != NULL)
        copy_factors(s->user, factors);
    rpc_msg_free(&s->base);
    if (on != want_on) {
        *err = edge_req_redirect(r, "/auth/two-factor");
        return 0;
    }
    return 1;
}

int
edge_flow_2fa_enable_form(struct edge_req *r)
{
    int err;
    return form_applies(r, 0, &err, NULL, NULL) ? render_enable(r, 200, NULL, NULL) : err;
}

/*
 * The confirm form of a transport enrolment, after its code went out (d: the delivery; "Send
 * again" sends the pending enrolment's code again, never a new secret, so the first code keeps
 * working).
 */
static int
render_sent(struct edge_req *r, int status, const char *transport,
            const struct edge_2fa_delivery *d)
{
    struct page p;
    page_begin(&p, &r->cfg, "Enter the code we sent you");
    edge_2fa_delivery_msg(&p, d); /* in the transport's words, as on every code page */
    page_form_begin(&p, "/app/auth/two-factor/confirm", edge_req_csrf(r));
    page_code_input(&p, "Code", "token", "numeric", "one-time-code", EDGE_2FA_CODE_MAX, 1, 1);
    page_submit(&p, "Verify and turn on");
    page_form_end(&p);
    page_form_begin(&p, "/auth/two-factor/enable", edge_req_csrf(r));
    page_hidden(&p, "transport", transport);
    edge_2fa_resend_button(&p, d);
    page_form_end(&p);
    page_link(&p, "/auth/two-factor", "Cancel");
    page_end(&p);
    return edge_req_page(r, status, &p);
}

/* The page when the code could not be sent: a way to send it again. */
static int
render_send_failed(struct edge_req *r, const char *transport)
{
    struct page p;
    page_begin(&p, &r->cfg, "We could not send the code");
    page_error(&p, "We could not send the code");
    page_form_begin(&p, "/auth/two-factor/enable", edge_req_csrf(r));
    page_hidden(&p, "transport", transport);
    page_submit(&p, "Send again");
    page_form_end(&p);
    page_link(&p, "/auth/two-factor/enable", "Choose another way");
    page_end(&p);
    return edge_req_page(r, 200, &p);
}

int
edge_flow_2fa_enable(struct edge_req *r)
{
    const char *transport = edge_req_field(r, "transport");
    if (transport == NULL || transport[0] == '\0')
        return render_enable(r, 400, NULL, "Say how the codes should be sent (e.g. sms)");
    if (strlen(transport) > EDGE_2FA_TRANSPORT_MAX)
        return render_enable(r, 400, NULL, "This name is too long");
    if (!edge_2fa_has_webhook(r))
        return render_enable(r, 400, NULL, "This server cannot send codes; use an app");
    const char *token = edge_req_session_token(r);
    if (token == NULL)
        return edge_req_redirect(r, "/auth/login");
    if (is_one(edge_req_field(r, "resend"))) {
        /* The pending enrolment's code again (authd: IssueDeliveryCode), the secret kept. */
        struct edge_2fa_delivery d = {.transport = transport};
        int err = edge_2fa_send_code(r, token, NULL, NULL, &d);
        if (err != AUTHD_OK)
            return edge_req_redirect(r, "/auth/login");
        return render_sent(r, d.wait > 0 ? 429 : 200, transport, &d);
    }

    Authd__V1__BeginEnrollmentRequest req = AUTHD__V1__BEGIN_ENROLLMENT_REQUEST__INIT;
    req.session_token = edge_authd_str(token);
    req.transport = edge_authd_str(transport);
    Authd__V1__BeginEnrollmentResponse *b = NULL;
    int err = edge_authd_call(r->edge->authd, r->id, &authd__v1__two_factor__descriptor,
                              "BeginEnrollment", &req.base, (ProtobufCMessage **)&b, NULL);
    if (err == AUTHD_ERR_ALREADY_ENABLED)
        return edge_req_redirect(r, "/auth/two-factor");
    if ((err == AUTHD_ERR_INVALID_ARGUMENT || err == AUTHD_ERR_TOO_LARGE) &&
        r->cfg.two_factor.n_transports > 0)
        return render_enable(r, 400, NULL, "Choose one of the ways offered");
    if (err == AUTHD_ERR_INVALID_ARGUMENT || err == AUTHD_ERR_TOO_LARGE)
        return render_enable(r, 400, transport,
                             "Use up to 32 letters, digits, dashes, dots or underscores");
    if (err != AUTHD_OK)
        return edge_req_fail(r, err, "2fa_begin_transport");
    if (b->code == NULL || b->code[0] == '\0') {
        rpc_msg_free(&b->base);
        return edge_req_fail(r, AUTHD_ERR_INTERNAL, "2fa_begin_no_code");
    }
    err = edge_2fa_deliver(r, b->user, transport, b->code);
    rpc_msg_free(&b->base);
    log_event(LOG_INFO, "2fa_enroll_begun", "rid=%s via=transport sent=%s", r->id,
              err == AUTHD_OK ? "yes" : "failed");
    struct edge_2fa_delivery d = {.transport = transport, .sent = 1};
    return err == AUTHD_OK ? render_sent(r, 200, transport, &d) : render_send_failed(r, transport);
}

/* ---- disable ------------------------------------------------------------------------- */

static int
render_disable(struct edge_req *r, int status, int recovery, const char *error,
               const struct edge_2fa_delivery *d)
{
    int webhook = edge_2fa_by_webhook(d->transport);
    struct page p;
    page_begin(&p, &r->cfg, "Turn off two-factor authentication");
    if (!recovery)
        edge_2fa_delivery_msg(&p, d);
    if (error != NULL)
        page_error(&p, error);
    if (error != NULL && (status == 400 || status == 401))
        page_invalid(&p, recovery ? "recovery_code" : "token");
    page_para(&p, d->keys_only && !recovery
                      ? "Signing in will then need only your password. Confirm with your "
                        "passkey or security key."
                      : "Signing in will then need only your password. Enter a current code to "
                        "confirm.");
    passkey_proof_form(r, &p, "/auth/two-factor/disable", d, recovery);
    if (!d->keys_only || recovery) {
        page_form_begin(&p, "/auth/two-factor/disable", edge_req_csrf(r));
        code_field(&p, d->transport, recovery, 1);
        page_submit_as(&p, "Turn off", "danger");
        page_form_end(&p);
    }
    if (webhook && !recovery) {
        page_form_begin(&p, "/auth/two-factor/disable", edge_req_csrf(r));
        edge_2fa_resend_button(&p, d);
        page_form_end(&p);
    }
    if (recovery)
        page_link(&p, "/auth/two-factor/disable",
                  d->keys_only ? "Use your passkey instead"
                  : webhook    ? "Use the code we sent you instead"
                               : "Use a code from your app instead");
    else
        page_link(&p, "/auth/two-factor/disable?recovery=1", "Use a recovery code");
    page_link(&p, "/auth/two-factor", "Cancel");
    page_end(&p);
    return edge_req_page(r, status, &p);
}

/* A code form of this file (render_disable, render_regenerate). */
typedef int (*code_form_fn)(struct edge_req *r, int status, int recovery, const char *error,
                            const struct edge_2fa_delivery *d);

/*
 * The GET of a code form (and its "Send again"): when 2FA is on, sends a webhook user the code
 * (unless recovery) and renders the form; a rationed "Send again" (resend) answers 429. A GET
 * sends only on the user's own navigation (edge_2fa_own_navigation): another site's link must
 * not cost an SMS, so the form then offers "Send me a code" (the resend POST) instead.
 */
static int
code_form_page(struct edge_req *r, code_form_fn render, int recovery, int resend)
{
    int err;
    char transport[EDGE_2FA_TRANSPORT_MAX + 1];
    struct edge_2fa_delivery d = {.transport = transport};
    if (!form_applies(r, 1, &err, transport, &d))
        return err;
    if (d.keys_only) {
        /* No code to send: the key, or a recovery code. */
    } else if (!recovery && !resend && !edge_2fa_own_navigation(r)) {
        d.offered = edge_2fa_by_webhook(transport);
    } else if (!recovery) {
        err = edge_2fa_send_code(r, edge_req_session_token(r), NULL, NULL, &d);
        if (err != AUTHD_OK)
            return edge_req_redirect(r, "/auth/login");
    }
    return render(r, resend && d.wait > 0 ? 429 : 200, recovery, NULL, &d);
}

int
edge_flow_2fa_disable_form(struct edge_req *r)
{
    return code_form_page(r, render_disable, is_one(edge_req_query(r, "recovery")), 0);
}

/* The request of Disable and RegenerateRecoveryCodes: the session, the form's code or
 * recovery code, and the client's address. */
static void
second_factor_req(struct edge_req *r, Authd__V1__SecondFactorRequest *req, const char *token,
                  const char *recovery_code)
{
    req->session_token = edge_authd_str(token);
    req->code = edge_authd_str(edge_req_field(r, "token"));
    req->recovery_code = edge_authd_str(recovery_code);
    req->client_ip = edge_authd_str(r->client_ip);
    /* Or a step-up assertion ("Confirm with your passkey"), checked by authd. */
    const char *ceremony_id, *credential;
    int too_large;
    edge_passkey_fields(r, &ceremony_id, &credential, &too_large);
    if (!too_large) {
        req->ceremony_id = edge_authd_str(ceremony_id);
        req->credential_json = edge_authd_str(credential);
    }
}

/* 1 for the refusals that re-render a code form (the user may try again). */
static int
is_code_error(int err)
{
    return err == AUTHD_ERR_WRONG_CODE || err == AUTHD_ERR_SECOND_FACTOR_REQUIRED ||
           err == AUTHD_ERR_LOCKED || err == AUTHD_ERR_TOO_LARGE ||
           err == AUTHD_ERR_INVALID_ARGUMENT;
}

/* What a page does once authd agreed; m is the reply, freed by the caller after. */
typedef int (*agreed_fn)(struct edge_req *r, ProtobufCMessage *m);

/*
 * The flow of Disable and RegenerateRecoveryCodes alike: calls method for the browser's session
 * with the form's code or recovery code and, when authd agrees, returns agreed's result. Every
 * other outcome is answered here: to the login without a session, to the settings when
 * two-factor is off, the form again through render for a wrong or refused code (logged as
 * failed_event), else edge_req_fail() labelled what.
 */
static int
second_factor_flow(struct edge_req *r, const char *method, const char *what,
                   const char *failed_event, code_form_fn render, agreed_fn agreed)
{
    const char *token = edge_req_session_token(r);
    if (token == NULL)
        return edge_req_redirect(r, "/auth/login");
    if (is_one(edge_req_field(r, "resend")))
        return code_form_page(r, render, 0, 1);
    const char *recovery_code = edge_req_field(r, "recovery_code");
    ProtobufCMessage *m = NULL;
    struct rpc_status st;
    Authd__V1__SecondFactorRequest req = AUTHD__V1__SECOND_FACTOR_REQUEST__INIT;
    second_factor_req(r, &req, token, recovery_code);
    int err = edge_authd_call(r->edge->authd, r->id, &authd__v1__two_factor__descriptor, method,
                              &req.base, &m, &st);
    edge_req_note_lockout(r, err, &st);
    if (err == AUTHD_ERR_NOT_ENABLED)
        return edge_req_redirect(r, "/auth/two-factor");
    if (is_code_error(err) || edge_passkey_refused(err, &st)) {
        struct edge_http_err he;
        edge_passkey_err_map(r, err, &st, &he);
        log_event(LOG_INFO, failed_event, "rid=%s err=%s ip=%s", r->id, authd_err_reason(err),
                  r->client_ip);
        /* The form again, worded for the user's transport (nothing is sent on a wrong code). */
        char transport[EDGE_2FA_TRANSPORT_MAX + 1] = "";
        Authd__V1__SessionResponse *s = NULL;
        struct edge_2fa_delivery d = {.transport = transport};
        if (edge_req_session(r, 0, &s) == AUTHD_OK) {
            copy_transport(s->user, transport);
            copy_factors(s->user, &d);
            rpc_msg_free(&s->base);
        }
        return render(r, he.status, recovery_code != NULL, he.message, &d);
    }
    if (err != AUTHD_OK)
        return edge_req_fail(r, err, what);
    err = agreed(r, m);
    rpc_msg_free(m);
    return err;
}

static int
disabled(struct edge_req *r, ProtobufCMessage *m)
{
    const Authd__V1__UserResponse *u = (const Authd__V1__UserResponse *)m;
    log_event(LOG_INFO, "2fa_disabled", "rid=%s user=%s", r->id,
              u->user != NULL ? u->user->id : "-");
    edge_2fa_notify(r, u->user != NULL ? u->user->email : NULL,
                    "Two-factor authentication was disabled",
                    "Two-factor authentication was just turned off for your account. Signing "
                    "in now needs only your password.");
    return edge_req_redirect(r, "/auth/two-factor");
}

int
edge_flow_2fa_disable(struct edge_req *r)
{
    return second_factor_flow(r, "Disable", "2fa_disable", "2fa_disable_failed", render_disable,
                              disabled);
}

/* ---- new recovery codes ---------------------------------------------------------------- */

static int
render_regenerate(struct edge_req *r, int status, int recovery, const char *error,
                  const struct edge_2fa_delivery *d)
{
    struct page p;
    page_begin(&p, &r->cfg, "Generate new recovery codes");
    if (!recovery)
        edge_2fa_delivery_msg(&p, d);
    if (error != NULL)
        page_error(&p, error);
    if (error != NULL && (status == 400 || status == 401))
        page_invalid(&p, recovery ? "recovery_code" : "token");
    page_para(&p, "Generating new recovery codes makes the old ones stop working.");
    passkey_proof_form(r, &p, "/auth/two-factor/recovery-codes", d, recovery);
    if (!d->keys_only || recovery) {
        page_form_begin(&p, "/auth/two-factor/recovery-codes", edge_req_csrf(r));
        code_field(&p, d->transport, recovery, 1);
        page_submit(&p, "Generate new recovery codes");
        page_form_end(&p);
    }
    if (edge_2fa_by_webhook(d->transport) && !recovery) {
        page_form_begin(&p, "/auth/two-factor/recovery-codes", edge_req_csrf(r));
        edge_2fa_resend_button(&p, d);
        page_form_end(&p);
    }
    if (d->keys_only && !recovery)
        page_link(&p, "/auth/two-factor/recovery-codes?recovery=1", "Use a recovery code");
    page_link(&p, "/auth/two-factor", "Cancel");
    page_end(&p);
    return edge_req_page(r, status, &p);
}

static int
regenerated(struct edge_req *r, ProtobufCMessage *m)
{
    const Authd__V1__RecoveryCodesResponse *rc = (const Authd__V1__RecoveryCodesResponse *)m;
    log_event(LOG_INFO, "2fa_recovery_codes_regenerated", "rid=%s user=%s", r->id,
              rc->user != NULL ? rc->user->id : "-");
    if (rc->used_recovery_code && rc->user != NULL)
        edge_2fa_notify(r, rc->user->email, "A recovery code was used",
                        "A recovery code was just used to generate new recovery codes for your "
                        "account. If this was not you, change your password now.");
    return edge_2fa_codes_page(r, "New recovery codes", "Your old recovery codes no longer work.",
                               rc->recovery_codes, rc->n_recovery_codes);
}

int
edge_flow_2fa_recovery_codes_form(struct edge_req *r)
{
    return code_form_page(r, render_regenerate, is_one(edge_req_query(r, "recovery")), 0);
}

int
edge_flow_2fa_recovery_codes(struct edge_req *r)
{
    return second_factor_flow(r, "RegenerateRecoveryCodes", "2fa_regenerate",
                              "2fa_regenerate_failed", render_regenerate, regenerated);
}
