/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The recovery-codes page (after enrolment and after new codes are made) and what it posts
 * back: Download answers the codes the page shows as a .txt attachment, Continue refuses to go
 * on until "I have saved these codes" is checked. Both forms carry the codes in a hidden field
 * ("codes", separated by spaces), so that they work without JavaScript and without the edge
 * keeping anything: it only echoes to this browser what the page already showed it (the
 * routes are CSRF-protected like every form post), never logs them, and wipes its copies.
 * Copy and Print are buttons of /auth/static/pages.js (also served here), hidden without it;
 * the print stylesheet gives the browser's own Print a clean sheet.
 */
#include "edge/flows.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "common/secret.h"
#include "edge/twofactor.h"

#define CODES_MAX 32 /* more than authd ever makes (10) */

/* Codes read from the posted "codes" field: pointers into store (owned, wiped on free). */
struct codes {
    char *store;
    size_t store_len;
    char *v[CODES_MAX];
    size_t n;
};

static void
codes_free(struct codes *c)
{
    if (c->store != NULL)
        secret_freezero(c->store, c->store_len);
    memset(c, 0, sizeof(*c));
}

static int
code_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-';
}

/*
 * Splits the posted field into codes. 1 when it holds 1..CODES_MAX codes of 1..
 * EDGE_2FA_RECOVERY_MAX letters, digits and dashes (what authd makes): the edge echoes nothing
 * else, so the download can never become a page of someone else's choosing. 0 otherwise (c is
 * then empty).
 */
static int
codes_read(const struct edge_req *r, struct codes *c)
{
    memset(c, 0, sizeof(*c));
    const char *field = edge_req_field(r, "codes");
    if (field == NULL)
        return 0;
    c->store_len = strlen(field) + 1;
    c->store = malloc(c->store_len);
    if (c->store == NULL)
        return 0;
    memcpy(c->store, field, c->store_len);
    char *s = c->store;
    while (*s != '\0') {
        while (*s == ' ')
            s++;
        if (*s == '\0')
            break;
        char *start = s;
        while (*s != '\0' && *s != ' ') {
            if (!code_char(*s))
                goto bad;
            s++;
        }
        if (s - start > EDGE_2FA_RECOVERY_MAX || c->n == CODES_MAX)
            goto bad;
        c->v[c->n++] = start;
        if (*s == ' ')
            *s++ = '\0';
    }
    if (c->n > 0)
        return 1;
bad:
    codes_free(c);
    return 0;
}

/* The codes joined by spaces into out (wiped by its owner's buf_free()). */
static int
codes_join(struct buf *out, char *const *codes, size_t n)
{
    int err = AUTHD_OK;
    for (size_t i = 0; err == AUTHD_OK && i < n; i++) {
        if (i > 0)
            err = buf_puts(out, " ");
        if (err == AUTHD_OK)
            err = buf_puts(out, codes[i]);
    }
    return err;
}

/* The recovery codes page; error (may be NULL) is shown above it, with status. */
static int
codes_page(struct edge_req *r, int status, const char *heading, const char *info, const char *error,
           char *const *codes, size_t n)
{
    struct buf joined;
    buf_init(&joined, PAGE_MAX / 4);
    int jerr = codes_join(&joined, codes, n);
    if (jerr != AUTHD_OK) {
        buf_free(&joined);
        return jerr;
    }
    struct page p;
    page_begin(&p, &r->cfg, heading);
    /* Deferred, so it may come first; the card's last element stays its content. */
    page_raw(&p, "<script src=\"/auth/static/pages.js\" defer></script>\n");
    if (error != NULL)
        page_error(&p, error);
    if (info != NULL)
        page_info(&p, info);
    page_para(&p, "These are your recovery codes. Each one signs you in once if you lose your "
                  "phone. Store them somewhere safe, like a password manager: they are shown only "
                  "this time.");
    edge_2fa_codes_list(&p, codes, n);
    page_raw(&p, "<div class=\"code-actions\">\n"
                 "<button type=\"button\" class=\"secondary\" data-copy=\"recovery-codes\" "
                 "data-copy-status=\"codes-status\" hidden>Copy</button>\n");
    page_form_begin(&p, "/auth/two-factor/recovery-codes/download", edge_req_csrf(r));
    page_hidden(&p, "codes", joined.data);
    page_raw(&p, "<button type=\"submit\" class=\"secondary\">Download (.txt)</button>\n");
    page_form_end(&p);
    page_raw(&p, "<button type=\"button\" class=\"secondary\" data-print hidden>Print</button>\n"
                 "</div>\n<p id=\"codes-status\" class=\"muted\" role=\"status\"></p>\n");
    page_form_begin(&p, "/auth/two-factor/recovery-codes/saved", edge_req_csrf(r));
    page_hidden(&p, "codes", joined.data);
    page_raw(&p, "<p class=\"check\"><input type=\"checkbox\" id=\"f-saved\" name=\"saved\" "
                 "value=\"1\" required");
    /* Refused for want of the box: the box says so to a screen reader (the first error box). */
    if (error != NULL)
        page_raw(&p, " aria-invalid=\"true\" aria-describedby=\"page-error\"");
    page_raw(&p, ">\n<label for=\"f-saved\">I have saved these codes</label></p>\n");
    page_submit(&p, "Continue");
    page_form_end(&p);
    page_end(&p);
    buf_free(&joined);
    return edge_req_page(r, status, &p);
}

int
edge_2fa_codes_page(struct edge_req *r, const char *heading, const char *info, char *const *codes,
                    size_t n)
{
    return codes_page(r, 200, heading, info, NULL, codes, n);
}

int
edge_flow_2fa_codes_download(struct edge_req *r)
{
    struct codes c;
    if (!codes_read(r, &c))
        return edge_req_error_page(r, 400, "Recovery codes",
                                   "There are no recovery codes to download.");
    buf_free(&r->body);
    buf_init(&r->body, PAGE_MAX);
    int err = AUTHD_OK;
    for (size_t i = 0; err == AUTHD_OK && i < c.n; i++) {
        err = buf_puts(&r->body, c.v[i]);
        if (err == AUTHD_OK)
            err = buf_puts(&r->body, "\n");
    }
    codes_free(&c);
    if (err != AUTHD_OK) {
        buf_free(&r->body);
        return err;
    }
    r->status = 200;
    r->content_type = "text/plain; charset=utf-8";
    r->disposition = "attachment; filename=\"recovery-codes.txt\"";
    r->cacheable = 0;
    r->cache_control = "no-store";
    log_event(LOG_INFO, "2fa_codes_downloaded", "rid=%s", r->id);
    return AUTHD_OK;
}

int
edge_flow_2fa_codes_saved(struct edge_req *r)
{
    const char *saved = edge_req_field(r, "saved");
    if (saved != NULL && strcmp(saved, "1") == 0)
        return edge_req_redirect(r, "/auth/two-factor");
    struct codes c;
    if (!codes_read(r, &c))
        return edge_req_error_page(r, 400, "Recovery codes",
                                   "Check \xe2\x80\x9cI have saved these codes\xe2\x80\x9d to "
                                   "continue.");
    int err =
        codes_page(r, 400, "Save your recovery codes", NULL,
                   "Check \xe2\x80\x9cI have saved these codes\xe2\x80\x9d to continue.", c.v, c.n);
    codes_free(&c);
    return err;
}

int
edge_flow_script(struct edge_req *r)
{
    buf_free(&r->body);
    buf_init(&r->body, PAGE_MAX);
    int err = buf_append(&r->body, edge_pages_js, edge_pages_js_len);
    if (err != AUTHD_OK)
        return err;
    r->status = 200;
    r->content_type = "text/javascript; charset=utf-8";
    r->cacheable = 1;
    return AUTHD_OK;
}
