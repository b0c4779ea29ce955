/* SPDX-License-Identifier: Apache-2.0 */
/* Shared pieces of the two-factor flows; see twofactor.h. */
#include "edge/twofactor.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "authd/v1/twofactor.pb-c.h"
#include "common/err.h"
#include "common/log.h"
#include "edge/http_err.h"
#include "proto/rpc.h"
#include "edge/mail.h"
#include "common/secret.h"
#include "edge/webhook.h"

#define NOTIFY_BODY_MAX 4096

void
edge_2fa_codes_list(struct page *p, char *const *codes, size_t n)
{
    page_raw(p, "<ol id=\"recovery-codes\">\n");
    for (size_t i = 0; i < n; i++) {
        page_raw(p, "<li><code>");
        page_text(p, codes[i]);
        page_raw(p, "</code></li>\n");
    }
    page_raw(p, "</ol>\n");
}

void
edge_2fa_secret_groups(struct page *p, const char *secret)
{
    size_t n = secret != NULL ? strlen(secret) : 0;
    for (size_t i = 0; i < n; i += 4) {
        char group[6];
        size_t k = n - i < 4 ? n - i : 4;
        size_t at = 0;
        if (i > 0)
            group[at++] = ' ';
        memcpy(group + at, secret + i, k);
        group[at + k] = '\0';
        page_text(p, group);
        secret_wipe(group, sizeof(group));
    }
}

int
edge_2fa_has_webhook(const struct edge_req *r)
{
    return r->cfg.two_factor.webhook_endpoint[0] != '\0';
}

int
edge_2fa_deliver(struct edge_req *r, const Authd__V1__User *u, const char *transport,
                 const char *code)
{
    struct webhook_user w;
    webhook_user_from_msg(&w, u, transport);
    return webhook_send(&r->cfg.two_factor, r->id, &w, code);
}

int
edge_2fa_by_webhook(const char *transport)
{
    return transport != NULL && transport[0] != '\0';
}

int
edge_2fa_own_navigation(const struct edge_req *r)
{
    const char *site = r->sec_fetch_site;
    return site != NULL && (strcmp(site, "same-origin") == 0 || strcmp(site, "none") == 0);
}

int
edge_2fa_send_code(struct edge_req *r, const char *session_token, const char *reset_token,
                   const Authd__V1__User *u, struct edge_2fa_delivery *d)
{
    d->sent = d->failed = d->locked = d->offered = 0;
    d->wait = 0;
    if (!edge_2fa_by_webhook(d->transport))
        return AUTHD_OK;
    if (!edge_2fa_has_webhook(r)) {
        log_event(LOG_WARN, "webhook_missing", "rid=%s reason=user_has_transport", r->id);
        d->failed = 1;
        return AUTHD_OK;
    }
    Authd__V1__DeliveryCodeRequest req = AUTHD__V1__DELIVERY_CODE_REQUEST__INIT;
    req.session_token = edge_authd_str(session_token);
    req.reset_token = edge_authd_str(reset_token);
    Authd__V1__DeliveryCodeResponse *resp = NULL;
    struct rpc_status st;
    int err = edge_authd_call(r->edge->authd, r->id, &authd__v1__two_factor__descriptor,
                              "IssueDeliveryCode", &req.base, (ProtobufCMessage **)&resp, &st);
    edge_req_note_lockout(r, err, &st);
    if (err == AUTHD_ERR_UNAUTHENTICATED || err == AUTHD_ERR_INVALID_TOKEN ||
        err == AUTHD_ERR_NOT_FOUND || err == AUTHD_ERR_INVALID_ARGUMENT)
        return reset_token != NULL ? AUTHD_ERR_INVALID_TOKEN : AUTHD_ERR_UNAUTHENTICATED;
    if (err == AUTHD_OK)
        err = edge_2fa_deliver(r, resp->user != NULL ? resp->user : u, resp->transport, resp->code);
    else
        log_event(LOG_WARN, "delivery_code_failed", "rid=%s err=%s", r->id, authd_err_reason(err));
    rpc_msg_free(resp != NULL ? &resp->base : NULL);
    if (err == AUTHD_OK)
        d->sent = 1;
    else if (err == AUTHD_ERR_LOCKED && (d->wait = edge_http_retry_after(err, st.retry_after)) > 0)
        /* Rationed deliveries, or the second factor locked for wrong codes: the page says which
         * and how long to wait. authd words the refusal (guard_refuse, AUTHD_REFUSAL_WRONG_CODES):
         * both are AUTHD_ERR_LOCKED. */
        d->locked = strncmp(st.message, AUTHD_REFUSAL_WRONG_CODES,
                            sizeof(AUTHD_REFUSAL_WRONG_CODES) - 1) == 0;
    else
        d->failed = 1;
    return AUTHD_OK;
}

/* The transports with words of their own; any other is shown by its name. */
static const struct {
    const char *name, *alias; /* matched without regard to case; alias may be NULL */
    const char *label;        /* EDGE_2FA_WORDS_LABEL */
    const char *phrase;       /* EDGE_2FA_WORDS_PHRASE */
} transport_names[] = {
    {"sms", NULL, "Text message (SMS)", "to your phone by SMS"},
    {"voice", "call", "Voice call", "to your phone by a voice call"},
    {"email", "e-mail", "E-mail", "by e-mail"},
};

void
edge_2fa_transport_words(struct page *p, const char *transport, enum edge_2fa_words how)
{
    for (size_t i = 0; i < sizeof(transport_names) / sizeof(transport_names[0]); i++) {
        if (strcasecmp(transport, transport_names[i].name) == 0 ||
            (transport_names[i].alias != NULL &&
             strcasecmp(transport, transport_names[i].alias) == 0)) {
            page_raw(p, how == EDGE_2FA_WORDS_LABEL ? transport_names[i].label
                                                    : transport_names[i].phrase);
            return;
        }
    }
    if (how == EDGE_2FA_WORDS_PHRASE)
        page_raw(p, "by ");
    page_text(p, transport);
}

void
edge_2fa_delivery_msg(struct page *p, const struct edge_2fa_delivery *d)
{
    if (!edge_2fa_by_webhook(d->transport))
        return;
    if (d->sent) {
        page_raw(p, "<div class=\"msg info\" role=\"status\">We sent you a code ");
        edge_2fa_transport_words(p, d->transport, EDGE_2FA_WORDS_PHRASE);
        page_raw(p, ". It may take a moment to arrive.</div>\n");
    } else if (d->wait > 0 && d->locked) {
        char msg[96];
        snprintf(msg, sizeof(msg), "Too many wrong codes. Try again in %ld second%s.", d->wait,
                 d->wait == 1 ? "" : "s");
        page_error(p, msg);
    } else if (d->wait > 0) {
        page_info(p, "A code was sent to you a moment ago.");
    } else if (d->offered) {
        page_raw(p, "<div class=\"msg info\" role=\"status\">Press Send me a code and we will "
                    "send you a code ");
        edge_2fa_transport_words(p, d->transport, EDGE_2FA_WORDS_PHRASE);
        page_raw(p, ".</div>\n");
    } else if (d->failed) {
        page_error(p, "We could not send the code. Try again in a moment with Send again.");
    }
}

void
edge_2fa_code_para(struct page *p, const char *transport)
{
    if (!edge_2fa_by_webhook(transport)) {
        page_para(p, "Enter the code from your authenticator app.");
        return;
    }
    page_raw(p, "<p>Enter the code we sent ");
    edge_2fa_transport_words(p, transport, EDGE_2FA_WORDS_PHRASE);
    page_raw(p, ".</p>\n");
}

void
edge_2fa_code_input(struct page *p, const char *transport, int required, int autofocus)
{
    page_code_input(
        p, edge_2fa_by_webhook(transport) ? "Code we sent you" : "Code from your authenticator app",
        "token", "numeric", "one-time-code", EDGE_2FA_CODE_MAX, required, autofocus);
}

void
edge_2fa_resend_button(struct page *p, const struct edge_2fa_delivery *d)
{
    page_hidden(p, "resend", "1");
    page_submit_as(p, d->offered ? "Send me a code" : "Send again", "secondary");
    if (d->wait > 0 && !d->locked && p->err == AUTHD_OK)
        p->err = buf_printf(
            &p->out, "<p id=\"resend-wait\">You can ask for a new code in %ld second%s.</p>\n",
            d->wait, d->wait == 1 ? "" : "s");
}

void
edge_2fa_notify(struct edge_req *r, const char *email, const char *subject, const char *text)
{
    if (email == NULL || email[0] == '\0')
        return;
    struct buf link, body;
    buf_init(&link, 2048);
    buf_init(&body, NOTIFY_BODY_MAX);
    int err = buf_printf(&link, "%s/auth/two-factor", r->edge->base_url);
    if (err == AUTHD_OK)
        err = buf_printf(&body,
                         "Hello,\n\n%s\n\n"
                         "If this was not you, change your password and check your two-factor "
                         "settings: %s\n",
                         text, link.data);
    if (err == AUTHD_OK)
        err = mail_send(r->edge->mail, r->id, email, subject, body.data, link.data);
    if (err != AUTHD_OK)
        log_event(LOG_WARN, "notify_failed", "rid=%s err=%s", r->id, authd_err_reason(err));
    buf_free(&link);
    buf_free(&body);
}

int
edge_2fa_redirect_carry(struct edge_req *r, const char *path, const struct edge_carry *c)
{
    struct edge_carry none;
    memset(&none, 0, sizeof(none));
    struct buf url;
    buf_init(&url, PAGE_MAX);
    int err = edge_carry_url(&url, path, c != NULL ? c : &none);
    if (err == AUTHD_OK)
        err = edge_req_redirect(r, url.data);
    buf_free(&url);
    return err;
}
