/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Turning on two-factor authentication with an authenticator app (the HTML half; the JSON API
 * for single-page apps is flow_2fa_api.c). POST /app/auth/two-factor/request (a form with the
 * CSRF token) asks authd to begin an enrolment and shows its otpauth:// URI as a QR code plus
 * the secret for manual entry, with a form for the first code; GET of the same URL (Aidbox's)
 * only reads: it shows the enrolment in progress again, or a form that begins one, so that a
 * link or a cross-site navigation never replaces a secret the user is typing in. POST
 * /app/auth/two-factor/confirm hands the first code to authd, which turns 2FA on and answers
 * with the recovery codes, shown here once.
 */
#include "edge/flows.h"

#include <string.h>

#include "common/err.h"
#include "edge/http_err.h"
#include "common/log.h"
#include "edge/qr.h"
#include "proto/rpc.h"
#include "edge/twofactor.h"

#define QR_SCALE 6 /* pixels per module */

/* The confirm form (the first code from the app). */
static void
confirm_form(struct edge_req *r, struct page *p)
{
    page_form_begin(p, "/app/auth/two-factor/confirm", edge_req_csrf(r));
    page_code_input(p, "Code from the app", "token", "numeric", "one-time-code", EDGE_2FA_CODE_MAX,
                    1, 1);
    page_submit(p, "Verify and turn on");
    page_form_end(p);
}

/* "Can't scan?": the key for typing in (grouped, with a Copy button of pages.js) and every
 * OTP parameter an app may ask for. Open when the QR code could not be drawn. */
static void
manual_entry(struct page *p, const Authd__V1__BeginEnrollmentResponse *b, int open)
{
    int sha1 = b->algorithm == NULL || b->algorithm[0] == '\0' || strcmp(b->algorithm, "SHA1") == 0;
    page_raw(p, open ? "<details class=\"manual\" open>" : "<details class=\"manual\">");
    page_raw(p, "<summary>Can't scan?</summary>\n");
    page_para(p, "Type this key into the app:");
    page_raw(p, "<p><code id=\"secret\">");
    edge_2fa_secret_groups(p, b->secret);
    page_raw(p, "</code></p>\n"
                "<button type=\"button\" class=\"secondary\" data-copy=\"secret\" "
                "data-copy-status=\"secret-status\" hidden>Copy key</button>\n"
                "<p id=\"secret-status\" class=\"muted\" role=\"status\"></p>\n"
                "<dl class=\"otp-params\">\n<dt>Type</dt><dd>Time-based (TOTP)</dd>\n"
                "<dt>Algorithm</dt><dd>");
    page_text(p, sha1 ? "SHA1" : b->algorithm);
    if (p->err == AUTHD_OK)
        p->err = buf_printf(&p->out,
                            "</dd>\n<dt>Digits</dt><dd>%u</dd>\n<dt>Period</dt><dd>%u "
                            "seconds</dd>\n</dl>\n</details>\n",
                            b->digits != 0 ? (unsigned)b->digits : 6u,
                            b->period != 0 ? (unsigned)b->period : 30u);
}

/*
 * The enrolment page: the QR code, the otpauth:// link for an app on this device, the key,
 * and the form for the first code. error (may be NULL) is a refused first code: the page
 * stays the same (the app may already hold the key) and also offers to start again.
 */
static int
render_qr(struct edge_req *r, const Authd__V1__BeginEnrollmentResponse *b, int status,
          const char *error)
{
    struct page p;
    page_begin(&p, &r->cfg, "Set up your authenticator app");
    /* Deferred, so it may come first; the card's last element stays its content. */
    page_raw(&p, "<script src=\"/auth/static/pages.js\" defer></script>\n");
    if (error != NULL) {
        page_error(&p, error);
        if (status == 400 || status == 401)
            page_invalid(&p, "token");
    }
    page_para(&p, "Scan this QR code with your authenticator app (Google Authenticator, "
                  "Microsoft Authenticator, 1Password, FreeOTP...).");
    struct buf svg;
    buf_init(&svg, PAGE_MAX / 2);
    int qerr = qr_svg(&svg, b->uri, QR_SCALE);
    if (qerr == AUTHD_OK) {
        /* Our own markup, built from the URI's bits only: nothing of it is text. */
        page_raw(&p, "<div id=\"qr\">");
        page_raw(&p, svg.data);
        page_raw(&p, "</div>\n");
    } else {
        log_event(LOG_WARN, "qr_failed", "rid=%s err=%s", r->id, authd_err_reason(qerr));
        page_error(&p, "The QR code could not be drawn; enter the key below instead.");
    }
    buf_free(&svg);
    /* On a phone the app is on this device: the otpauth:// URI adds the account in one tap. */
    page_raw(&p, "<p><a class=\"button secondary\" id=\"otpauth-link\" href=\"");
    page_text(&p, b->uri);
    page_raw(&p, "\">Open in authenticator app</a></p>\n");
    manual_entry(&p, b, qerr != AUTHD_OK);
    page_para(&p, error != NULL ? "Enter the code your app shows now:"
                                : "Then enter the code the app shows:");
    confirm_form(r, &p);
    if (error != NULL)
        edge_2fa_start_form(r, &p, "Start again with a new QR code");
    page_link(&p, "/auth/two-factor", "Cancel");
    page_end(&p);
    return edge_req_page(r, status, &p);
}

void
edge_2fa_start_form(struct edge_req *r, struct page *p, const char *label)
{
    page_form_begin(p, "/app/auth/two-factor/request", edge_req_csrf(r));
    page_submit(p, label);
    page_form_end(p);
}

/* The QR code page's answer to a GET when no enrolment is pending: the form that begins one. */
static int
render_start(struct edge_req *r)
{
    struct page p;
    page_begin(&p, &r->cfg, "Set up your authenticator app");
    page_para(&p, "Get a key for your authenticator app (Google Authenticator, Microsoft "
                  "Authenticator, 1Password, FreeOTP...) as a QR code.");
    edge_2fa_start_form(r, &p, "Show the QR code");
    page_link(&p, "/auth/two-factor", "Cancel");
    page_end(&p);
    return edge_req_page(r, 200, &p);
}

/* A BeginEnrollment-shaped answer must carry the URI and the secret to be shown. */
static int
enrolment_shown(const Authd__V1__BeginEnrollmentResponse *b)
{
    return b->uri != NULL && b->uri[0] != '\0' && b->secret != NULL && b->secret[0] != '\0';
}

int
edge_flow_2fa_request_view(struct edge_req *r)
{
    const char *token = edge_req_session_token(r);
    if (token == NULL)
        return edge_req_redirect(r, "/auth/login");
    /* Reading only: authd answers the pending enrolment's secret, or NOT_REQUESTED. */
    Authd__V1__StatusRequest req = AUTHD__V1__STATUS_REQUEST__INIT;
    req.session_token = edge_authd_str(token);
    Authd__V1__BeginEnrollmentResponse *b = NULL;
    int err = edge_authd_call(r->edge->authd, r->id, &authd__v1__two_factor__descriptor,
                              "PendingEnrollment", &req.base, (ProtobufCMessage **)&b, NULL);
    if (err == AUTHD_ERR_ALREADY_ENABLED)
        return edge_req_redirect(r, "/auth/two-factor");
    if (err == AUTHD_ERR_NOT_REQUESTED)
        return render_start(r);
    if (err != AUTHD_OK)
        return edge_req_fail(r, err, "2fa_pending");
    if (!enrolment_shown(b)) {
        rpc_msg_free(&b->base);
        return edge_req_fail(r, AUTHD_ERR_INTERNAL, "2fa_pending_no_secret");
    }
    err = render_qr(r, b, 200, NULL);
    rpc_msg_free(&b->base);
    return err;
}

int
edge_flow_2fa_request_page(struct edge_req *r)
{
    const char *token = edge_req_session_token(r);
    if (token == NULL)
        return edge_req_redirect(r, "/auth/login");
    /* authd begins an enrolment only for a signed-in session (else UNAUTHENTICATED). */
    Authd__V1__BeginEnrollmentRequest req = AUTHD__V1__BEGIN_ENROLLMENT_REQUEST__INIT;
    req.session_token = edge_authd_str(token);
    Authd__V1__BeginEnrollmentResponse *b = NULL;
    int err = edge_authd_call(r->edge->authd, r->id, &authd__v1__two_factor__descriptor,
                              "BeginEnrollment", &req.base, (ProtobufCMessage **)&b, NULL);
    if (err == AUTHD_ERR_ALREADY_ENABLED)
        return edge_req_redirect(r, "/auth/two-factor");
    if (err != AUTHD_OK)
        return edge_req_fail(r, err, "2fa_begin");
    if (!enrolment_shown(b)) {
        rpc_msg_free(&b->base);
        return edge_req_fail(r, AUTHD_ERR_INTERNAL, "2fa_begin_no_secret");
    }
    log_event(LOG_INFO, "2fa_enroll_begun", "rid=%s via=app", r->id);
    err = render_qr(r, b, 200, NULL);
    rpc_msg_free(&b->base);
    return err;
}

/* The page after a refused first code: the form again (the app already has the secret). */
static int
render_retry(struct edge_req *r, int status, const char *error)
{
    struct page p;
    page_begin(&p, &r->cfg, "Set up your authenticator app");
    page_error(&p, error);
    if (status == 400 || status == 401)
        page_invalid(&p, "token");
    page_para(&p, "Enter the code your app shows now.");
    confirm_form(r, &p);
    edge_2fa_start_form(r, &p, "Start again with a new QR code");
    page_link(&p, "/auth/two-factor", "Cancel");
    page_end(&p);
    return edge_req_page(r, status, &p);
}

/*
 * A refused first code: the QR page again with the error, so that a user whose app did not
 * take the key can still scan or type it. The pending enrolment is read with
 * PendingEnrollment, which changes nothing; if it cannot be read, the short retry page.
 */
static int
render_refused(struct edge_req *r, const char *token, int status, const char *error)
{
    Authd__V1__StatusRequest req = AUTHD__V1__STATUS_REQUEST__INIT;
    req.session_token = edge_authd_str(token);
    Authd__V1__BeginEnrollmentResponse *b = NULL;
    int err = edge_authd_call(r->edge->authd, r->id, &authd__v1__two_factor__descriptor,
                              "PendingEnrollment", &req.base, (ProtobufCMessage **)&b, NULL);
    if (err != AUTHD_OK || !enrolment_shown(b)) {
        if (b != NULL)
            rpc_msg_free(&b->base);
        return render_retry(r, status, error);
    }
    err = render_qr(r, b, status, error);
    rpc_msg_free(&b->base);
    return err;
}

int
edge_flow_2fa_confirm(struct edge_req *r)
{
    const char *token = edge_req_session_token(r);
    if (token == NULL)
        return edge_req_redirect(r, "/auth/login");
    Authd__V1__RecoveryCodesResponse *rc = NULL;
    struct rpc_status st;
    Authd__V1__ConfirmEnrollmentRequest req = AUTHD__V1__CONFIRM_ENROLLMENT_REQUEST__INIT;
    req.session_token = edge_authd_str(token);
    req.code = edge_authd_str(edge_req_field(r, "token"));
    req.client_ip = edge_authd_str(r->client_ip);
    int err = edge_authd_call(r->edge->authd, r->id, &authd__v1__two_factor__descriptor,
                              "ConfirmEnrollment", &req.base, (ProtobufCMessage **)&rc, &st);
    edge_req_note_lockout(r, err, &st);
    if (err == AUTHD_ERR_ALREADY_ENABLED)
        return edge_req_redirect(r, "/auth/two-factor");
    if (err == AUTHD_ERR_WRONG_CODE || err == AUTHD_ERR_SECOND_FACTOR_REQUIRED ||
        err == AUTHD_ERR_LOCKED || err == AUTHD_ERR_INVALID_ARGUMENT ||
        err == AUTHD_ERR_TOO_LARGE) {
        struct edge_http_err he;
        edge_req_err_map(r, err, &he);
        log_event(LOG_INFO, "2fa_confirm_failed", "rid=%s err=%s ip=%s", r->id,
                  authd_err_reason(err), r->client_ip);
        return render_refused(r, token, he.status, he.message);
    }
    if (err == AUTHD_ERR_NOT_REQUESTED) {
        struct edge_http_err he;
        edge_http_err_map(err, &he);
        struct page p;
        page_begin(&p, &r->cfg, "Two-factor authentication");
        page_error(&p, he.message);
        page_link(&p, "/auth/two-factor/enable", "Start again");
        page_end(&p);
        return edge_req_page(r, he.status, &p);
    }
    if (err != AUTHD_OK)
        return edge_req_fail(r, err, "2fa_confirm");
    if (rc->n_recovery_codes == 0) {
        /* Two-factor was on already by a key: the codes it has stay, the app is one more way. */
        log_event(LOG_INFO, "2fa_app_added", "rid=%s user=%s", r->id,
                  rc->user != NULL ? rc->user->id : "-");
        edge_2fa_notify(r, rc->user != NULL ? rc->user->email : NULL,
                        "An authenticator app was added",
                        "An authenticator app was just added to your account for two-factor "
                        "authentication.");
        rpc_msg_free(&rc->base);
        return edge_req_redirect(r, "/auth/two-factor?app=1");
    }
    log_event(LOG_INFO, "2fa_enabled", "rid=%s user=%s", r->id,
              rc->user != NULL ? rc->user->id : "-");
    edge_2fa_notify(r, rc->user != NULL ? rc->user->email : NULL,
                    "Two-factor authentication was enabled",
                    "Two-factor authentication was just turned on for your account. Signing in "
                    "now also asks for a one-time code.");
    err = edge_2fa_codes_page(r, "Two-factor authentication is on", NULL, rc->recovery_codes,
                              rc->n_recovery_codes);
    rpc_msg_free(&rc->base);
    return err;
}
