/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The two-factor delivery webhook (Aidbox's AuthConfig.twoFactor.webhook): when a user has a
 * transport (e.g. "sms"), the edge POSTs the current code to the configured endpoint, which
 * sends it on. Body (application/json):
 *   {"user": {"id": "...", "email": "...", "twoFactor": {"enabled": true, "transport": "sms"}},
 *    "token": "123456", "transport": "sms"}
 * (Aidbox's body is the subset without the top-level "transport", the one the code goes by.)
 * plus every configured header. libcurl, http/https only, no redirects, bounded by
 * webhook.timeout. Success is a 2xx answer. One log line per call (event=webhook) with the
 * outcome, status and duration: never the code, the body or a header value.
 */
#ifndef AUTHD_EDGE_WEBHOOK_H
#define AUTHD_EDGE_WEBHOOK_H

#include "authd/v1/users.pb-c.h"
#include "common/buf.h"
#include "edge/authconfig.h"

/* The user as the webhook shows it. Borrowed strings; NULL is sent as "". */
struct webhook_user {
    const char *id;
    const char *email;
    int enabled;           /* twoFactor.enabled */
    const char *transport; /* twoFactor.transport */
};

/*
 * 1 when a configured webhook header may be sent: name is an RFC 7230 token other than
 * Content-Type and Content-Length (the edge sets those), and value holds no control byte but
 * tab (no CR/LF: no header injection). NULL is never ok.
 */
int webhook_header_ok(const char *name, const char *value);

/*
 * Fills w from an authd User (u may be NULL: all empty). When the user record has no
 * transport yet (an enrolment that is not confirmed), transport (may be NULL) is shown instead.
 * w borrows u's strings.
 */
void webhook_user_from_msg(struct webhook_user *w, const Authd__V1__User *u, const char *transport);

/*
 * Appends the JSON body for u and token to out (compact, keys in the order shown above).
 * AUTHD_OK; AUTHD_ERR_INVALID_ARGUMENT when a string is not valid UTF-8; AUTHD_ERR_TOO_LARGE
 * past out's maximum; AUTHD_ERR_NOMEM. Intermediate copies of the token are wiped.
 */
int webhook_build_body(struct buf *out, const struct webhook_user *u, const char *token);

/*
 * POSTs the body to cfg's endpoint (cfg is borrowed for the call; curl_global_init() must
 * have run). Blocks up to cfg->webhook_timeout_ms. AUTHD_OK on a 2xx answer;
 * AUTHD_ERR_INVALID_ARGUMENT when no endpoint is configured or the body cannot be built;
 * AUTHD_ERR_UNAVAILABLE when the endpoint cannot be reached, times out or answers anything
 * but 2xx (redirects are not followed); AUTHD_ERR_NOMEM. rid names the request in the log.
 */
int webhook_send(const struct edge_two_factor_config *cfg, const char *rid,
                 const struct webhook_user *u, const char *token);

#endif
