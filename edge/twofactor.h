/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pieces shared by the two-factor flows (flow_2fa_verify.c, flow_2fa_settings.c,
 * flow_2fa_enroll.c, flow_2fa_api.c): the recovery-code list, the grouped secret, the
 * notification e-mails and code delivery by webhook. Nothing here decides anything: codes are
 * checked by authd.
 */
#ifndef AUTHD_EDGE_TWOFACTOR_H
#define AUTHD_EDGE_TWOFACTOR_H

#include <stddef.h>

#include "edge/carry.h"
#include "edge/request.h"

#define EDGE_2FA_TRANSPORT_MAX 32 /* characters of a transport name ("sms") */
#define EDGE_2FA_CODE_MAX 10      /* maxlength of a TOTP field (6 or 8 digits, some slack) */
#define EDGE_2FA_RECOVERY_MAX 64  /* maxlength of a recovery-code field */

/* Appends <ul id="recovery-codes"><li><code>CODE</code></li>...</ul> (escaped). */
void edge_2fa_codes_list(struct page *p, char *const *codes, size_t n);

/*
 * A page that shows freshly made recovery codes once, with the advice to store them, and a
 * link on to the settings page (status 200).
 */
int edge_2fa_codes_page(struct edge_req *r, const char *heading, const char *info,
                        char *const *codes, size_t n);

/* Appends the base32 secret in groups of four ("ABCD EFGH ..."), escaped, to p. */
void edge_2fa_secret_groups(struct page *p, const char *secret);

/* 1 when the AuthConfig names a webhook endpoint. */
int edge_2fa_has_webhook(const struct edge_req *r);

/*
 * Sends code to the user's transport by the webhook. u is the user as authd returned it;
 * transport is shown when the user record has none yet (an enrolment). AUTHD_OK, or the
 * webhook_send() error (logged there).
 */
int edge_2fa_deliver(struct edge_req *r, const Authd__V1__User *u, const char *transport,
                     const char *code);

/*
 * Mails the user a security notice (subject; text is the paragraph after "Hello,"), with a
 * link to the two-factor settings page. A failure is logged, not returned: the change it
 * reports has happened.
 */
void edge_2fa_notify(struct edge_req *r, const char *email, const char *subject, const char *text);

/* Redirects to path plus the carried parameters (c may be NULL), e.g. back to /auth/login. */
int edge_2fa_redirect_carry(struct edge_req *r, const char *path, const struct edge_carry *c);

#endif
