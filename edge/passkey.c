/* SPDX-License-Identifier: Apache-2.0 */
/* Pieces of the passkey pages; see passkey.h. */
#include "edge/passkey.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "proto/rpc.h"

void
edge_passkey_form_begin(struct edge_req *r, struct page *p, const char *action, const char *kind)
{
    page_raw(p, "<form method=\"post\" action=\"");
    page_text(p, action);
    page_raw(p, "\" class=\"passkey\" data-passkey=\"");
    page_text(p, kind);
    page_raw(p, "\">\n");
    const char *csrf = edge_req_csrf(r);
    if (csrf != NULL) {
        page_raw(p, "<input type=\"hidden\" name=\"" CSRF_FIELD "\" value=\"");
        page_text(p, csrf);
        page_raw(p, "\">\n");
    }
    page_raw(p, "<input type=\"hidden\" name=\"ceremony_id\" value=\"\">\n"
                "<input type=\"hidden\" name=\"credential\" value=\"\">\n");
}

void
edge_passkey_form_end(struct page *p, const char *label)
{
    page_raw(p, "<button type=\"submit\" data-passkey-go hidden>");
    page_text(p, label);
    page_raw(p, "</button>\n<p class=\"muted\" data-passkey-unsupported>Passkeys need a browser "
                "that supports them, with JavaScript on.</p>\n"
                "<p class=\"passkey-status\" role=\"status\" data-passkey-status></p>\n</form>\n"
                "<script src=\"/auth/static/pages.js\" defer></script>\n");
}

void
edge_passkey_fields(const struct edge_req *r, const char **ceremony_id,
                    const char **credential_json, int *too_large)
{
    const char *id = edge_req_field(r, "ceremony_id");
    const char *cred = edge_req_field(r, "credential");
    *ceremony_id = id != NULL && id[0] != '\0' ? id : NULL;
    *credential_json = cred != NULL && cred[0] != '\0' ? cred : NULL;
    *too_large = cred != NULL && strlen(cred) > EDGE_PASSKEY_JSON_MAX;
}

static int
reason_is(const struct rpc_status *st, const char *reason)
{
    return st != NULL && strcmp(st->reason, reason) == 0;
}

int
edge_passkey_refused(int err, const struct rpc_status *st)
{
    return err == AUTHD_ERR_KEY_REFUSED || (err != AUTHD_OK && reason_is(st, "key_refused"));
}

/* authd's status message as a sentence (first letter upper-cased, a full stop), or fallback. */
static void
authd_words(const struct rpc_status *st, const char *prefix, const char *fallback, char *out,
            size_t cap)
{
    const char *m = st != NULL ? st->message : "";
    if (m[0] == '\0') {
        snprintf(out, cap, "%s%s", prefix, fallback);
        return;
    }
    size_t len = strlen(m);
    int stop = m[len - 1] != '.';
    int n = snprintf(out, cap, "%s%s%s", prefix, m, stop ? "." : "");
    if (n > 0 && prefix[0] == '\0')
        out[0] = (char)toupper((unsigned char)out[0]);
}

void
edge_passkey_err_map(const struct edge_req *r, int err, const struct rpc_status *st,
                     struct edge_http_err *he)
{
    if (edge_passkey_refused(err, st)) {
        edge_http_err_map(AUTHD_ERR_KEY_REFUSED, he);
        authd_words(st, "Your passkey or security key was refused: ", "try again.", he->message,
                    sizeof(he->message));
        return;
    }
    if (err == AUTHD_ERR_FAILED_PRECONDITION ||
        (err != AUTHD_OK && reason_is(st, "failed_precondition"))) {
        edge_http_err_map(AUTHD_ERR_FAILED_PRECONDITION, he);
        authd_words(st, "", "Passkeys cannot be used here.", he->message, sizeof(he->message));
        return;
    }
    edge_req_err_map(r, err, he);
    /* Input refusals of a ceremony (a response authd cannot read, a name outside the rule, a key
     * registered already, one that is gone) say authd's reason rather than the generic words
     * ("An account with this e-mail already exists" would be wrong here). */
    if ((err == AUTHD_ERR_INVALID_ARGUMENT || err == AUTHD_ERR_TOO_LARGE ||
         err == AUTHD_ERR_ALREADY_EXISTS || err == AUTHD_ERR_NOT_FOUND) &&
        st != NULL && st->message[0] != '\0')
        authd_words(st, "", "", he->message, sizeof(he->message));
}

const char *
edge_passkey_kind(int discoverable)
{
    return discoverable ? "passkey" : "security key";
}
