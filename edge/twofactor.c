/* SPDX-License-Identifier: Apache-2.0 */
/* Shared pieces of the two-factor flows; see twofactor.h. */
#include "edge/twofactor.h"

#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "edge/mail.h"
#include "common/secret.h"
#include "edge/webhook.h"

#define NOTIFY_BODY_MAX 4096

void
edge_2fa_codes_list(struct page *p, char *const *codes, size_t n)
{
    page_raw(p, "<ul id=\"recovery-codes\">\n");
    for (size_t i = 0; i < n; i++) {
        page_raw(p, "<li><code>");
        page_text(p, codes[i]);
        page_raw(p, "</code></li>\n");
    }
    page_raw(p, "</ul>\n");
}

int
edge_2fa_codes_page(struct edge_req *r, const char *heading, const char *info, char *const *codes,
                    size_t n)
{
    struct page p;
    page_begin(&p, &r->cfg, heading);
    if (info != NULL)
        page_info(&p, info);
    page_para(&p, "These are your recovery codes. Each one signs you in once if you lose your "
                  "phone. Store them somewhere safe, like a password manager: they are shown only "
                  "this time.");
    edge_2fa_codes_list(&p, codes, n);
    page_link(&p, "/auth/two-factor", "Continue");
    page_end(&p);
    return edge_req_page(r, 200, &p);
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
