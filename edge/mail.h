/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Outgoing e-mail. Provider "console" (the default, for development and tests) writes each
 * message to the log as one line:
 *   event=mail rid=.. to=.. subject=.. link=<the URL in the mail> body=".."
 * Provider "smtp" sends it with libcurl (smtp:// with STARTTLS none/try/required, or smtps://,
 * optional AUTH). Messages are plain text, UTF-8.
 */
#ifndef AUTHD_EDGE_MAIL_H
#define AUTHD_EDGE_MAIL_H

#include "common/buf.h"

enum mail_provider { MAIL_CONSOLE = 0, MAIL_SMTP = 1 };
enum mail_starttls { MAIL_STARTTLS_NONE = 0, MAIL_STARTTLS_TRY = 1, MAIL_STARTTLS_REQUIRED = 2 };

struct mail_opts {
    enum mail_provider provider;
    const char *smtp_url; /* "smtp://host:25", "smtps://host:465" (smtp only) */
    const char *from;     /* "noreply@example.com" or "Name <noreply@example.com>" */
    const char *user;     /* AUTH user, NULL for none */
    const char *password; /* AUTH password, NULL for none (copied; wiped on mail_free) */
    enum mail_starttls starttls;
    long timeout_s; /* whole-transfer limit; 0 = 10 */
};

struct mail;

/*
 * Creates a mailer (strings are copied). AUTHD_OK, AUTHD_ERR_INVALID_ARGUMENT (smtp without
 * a smtp:// or smtps:// URL or without a from address; CR/LF in from), or AUTHD_ERR_NOMEM.
 * curl_global_init() must have been called for smtp.
 */
int mail_new(const struct mail_opts *o, struct mail **out);

/* Frees m, wiping the password. NULL is a no-op. */
void mail_free(struct mail *m);

/*
 * Sends a text mail to one address. link is the URL the mail is about (logged by the console
 * provider only). rid is the request id for the log. Blocks up to the timeout. AUTHD_OK,
 * AUTHD_ERR_INVALID_ARGUMENT (a header value with CR/LF, a bad address), or
 * AUTHD_ERR_UNAVAILABLE when the server could not be reached or refused the message (logged,
 * without the body or link).
 */
int mail_send(struct mail *m, const char *rid, const char *to, const char *subject,
              const char *body, const char *link);

/*
 * Queues a mail for a background thread and returns at once (the same arguments as mail_send;
 * all copied). For flows whose page must not depend on whether a mail was sent: the time a
 * request takes then does not tell whether an account exists. AUTHD_OK, or
 * AUTHD_ERR_UNAVAILABLE when the queue is full or the mailer stopping (logged), or
 * AUTHD_ERR_NOMEM. mail_free() sends what is still queued before it returns.
 */
int mail_send_later(struct mail *m, const char *rid, const char *to, const char *subject,
                    const char *body, const char *link);

/*
 * Appends the RFC 5322 message (headers From, To, Subject, Date, Message-ID, MIME-Version,
 * Content-Type, Content-Transfer-Encoding; then the body with CRLF line ends) to out.
 * AUTHD_ERR_INVALID_ARGUMENT when from, to or subject holds CR, LF or another control byte.
 * Exposed for tests.
 */
int mail_build_message(struct buf *out, const char *from, const char *to, const char *subject,
                       const char *body);

#endif
