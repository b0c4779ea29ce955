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

/* Appends <ol id="recovery-codes"><li><code>CODE</code></li>...</ol> (escaped): numbered. */
void edge_2fa_codes_list(struct page *p, char *const *codes, size_t n);

/*
 * A page that shows freshly made recovery codes once, with the advice to store them, Copy /
 * Download (.txt) / Print, and a Continue button (on to the settings page) that needs the
 * "I have saved these codes" box checked (status 200). codes are borrowed; the page's copies
 * (hidden form fields) live in the response body, which is wiped when freed. In
 * flow_2fa_codes.c.
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

/* 1 when a user with this two-factor transport (may be NULL) gets codes by webhook. */
int edge_2fa_by_webhook(const char *transport);

/* What a code page knows about the code it had sent by webhook. */
struct edge_2fa_delivery {
    const char *transport; /* the user's transport (borrowed); NULL or "" = authenticator app */
    int sent;              /* the webhook took the code */
    int failed;            /* it could not be sent (webhook down, or authd had none to give) */
    long wait;             /* rate limited: seconds until another may be asked for; 0 = not */
    int locked;            /* with wait: refused for too many wrong codes, not rationing */
    int offered;           /* nothing sent: the page offers "Send me a code" instead */
    /* The user's other factors, for the pages that ask for one (turning 2FA off, new recovery
     * codes): with passkeys, "Confirm with your passkey" too; keys_only, no code field. */
    unsigned passkeys;
    int keys_only;
};

/*
 * 1 when the browser says this navigation is the user's own (Sec-Fetch-Site: same-origin, from
 * our pages, or none: typed, a bookmark, a link opened from a mail client), so that a code page's
 * GET may send the code by itself. Anything else (cross-site, same-site, no header: a mail
 * scanner's prefetch, another site's link) must not cost an SMS or the user's delivery quota:
 * the page offers the "Send me a code" button (a CSRF-protected POST) instead.
 */
int edge_2fa_own_navigation(const struct edge_req *r);

/*
 * Asks authd (TwoFactor.IssueDeliveryCode) for the current code of the user named by
 * session_token or reset_token (exactly one non-NULL; secrets, borrowed) and sends it by the
 * webhook; u is the user as the page knows it (for the body while authd's answer lacks one).
 * Records the outcome in *d (d->transport is left as the caller set it; a refusal for too many
 * wrong codes sets d->locked besides d->wait); a rate limit also goes
 * on r (edge_req_note_lockout) so that a 429 answer carries Retry-After. Does nothing when
 * d->transport is empty, or no webhook is configured (logged). AUTHD_OK, or
 * AUTHD_ERR_UNAUTHENTICATED / AUTHD_ERR_INVALID_TOKEN when authd no longer knows the session
 * or the link. The code is wiped with authd's answer.
 */
int edge_2fa_send_code(struct edge_req *r, const char *session_token, const char *reset_token,
                       const Authd__V1__User *u, struct edge_2fa_delivery *d);

/*
 * Appends the outcome of d as a message: "We sent you a code to your phone by SMS...", "We
 * could not send the code", that one was sent a moment ago (rate limited), "Too many wrong
 * codes. Try again in N seconds." (locked), or that "Send me a code" sends one (offered). Nothing
 * for an authenticator-app user or when nothing was tried.
 */
void edge_2fa_delivery_msg(struct page *p, const struct edge_2fa_delivery *d);

/* How edge_2fa_transport_words() words a transport. */
enum edge_2fa_words {
    EDGE_2FA_WORDS_LABEL,  /* a choice's label: "Text message (SMS)", "Voice call", "E-mail" */
    EDGE_2FA_WORDS_PHRASE, /* how a code travels: "to your phone by SMS", "by e-mail" */
};

/*
 * Appends the words for transport (not NULL) as how says; a transport without words of its own
 * is shown by its name (escaped), as a phrase "by NAME".
 */
void edge_2fa_transport_words(struct page *p, const char *transport, enum edge_2fa_words how);

/*
 * Appends a paragraph saying where the code comes from: "Enter the code we sent to your phone by
 * SMS." for a webhook user, "Enter the code from your authenticator app." otherwise.
 */
void edge_2fa_code_para(struct page *p, const char *transport);

/*
 * Appends the input for a current code (name "token"), labelled for transport: "Code we sent
 * you" for a webhook user, "Code from your authenticator app" otherwise.
 */
void edge_2fa_code_input(struct page *p, const char *transport, int required, int autofocus);

/*
 * Inside a form the caller opened (posting back to the page): hidden resend=1 and the "Send
 * again" button ("Send me a code" when d->offered), with the wait ("You can ask for a new code in N
 * seconds", id resend-wait) while d says deliveries are rate limited.
 */
void edge_2fa_resend_button(struct page *p, const struct edge_2fa_delivery *d);

/*
 * Mails the user a security notice (subject; text is the paragraph after "Hello,"), with a
 * link to the two-factor settings page. A failure is logged, not returned: the change it
 * reports has happened.
 */
void edge_2fa_notify(struct edge_req *r, const char *email, const char *subject, const char *text);

/* Redirects to path plus the carried parameters (c may be NULL), e.g. back to /auth/login. */
int edge_2fa_redirect_carry(struct edge_req *r, const char *path, const struct edge_carry *c);

#endif
