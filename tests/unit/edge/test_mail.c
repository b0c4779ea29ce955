/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for edge/mail.c: the RFC 5322 message (headers, CRLF body, no header injection)
 * and the mailer's settings checks. Sending itself is covered by the integration tests.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/err.h"
#include "edge/mail.h"

static void
test_message_shape(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 65536);
    assert_int_equal(mail_build_message(&b, "Acme <noreply@acme.example>", "u@x.example",
                                        "Confirm your e-mail", "line one\nline two\r\n\nend"),
                     AUTHD_OK);
    const char *m = b.data;
    assert_true(strncmp(m,
                        "From: Acme <noreply@acme.example>\r\nTo: u@x.example\r\n"
                        "Subject: Confirm your e-mail\r\nDate: ",
                        strlen("From: Acme <noreply@acme.example>\r\nTo: u@x.example\r\n"
                               "Subject: Confirm your e-mail\r\nDate: ")) == 0);
    assert_non_null(strstr(m, "\r\nMessage-ID: <"));
    assert_non_null(strstr(m, "@acme.example>\r\n"));
    assert_non_null(strstr(m, "\r\nMIME-Version: 1.0\r\n"));
    assert_non_null(strstr(m, "\r\nContent-Type: text/plain; charset=utf-8\r\n"));
    const char *body = strstr(m, "\r\n\r\n");
    assert_non_null(body);
    assert_string_equal(body + 4, "line one\r\nline two\r\n\r\nend\r\n");
    /* no bare LF anywhere */
    for (const char *p = m; *p; p++)
        if (*p == '\n')
            assert_true(p > m && p[-1] == '\r');
    buf_free(&b);
}

static void
test_header_injection_refused(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 65536);
    assert_int_equal(
        mail_build_message(&b, "a@b.example", "u@x.example\r\nBcc: v@y.example", "s", "b"),
        AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(mail_build_message(&b, "a@b.example", "u@x.example", "s\nBcc: v@y", "b"),
                     AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(mail_build_message(&b, "a@b.example\r\n", "u@x.example", "s", "b"),
                     AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(b.len, 0);
    buf_free(&b);
}

static void
test_non_ascii_subject_encoded(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 65536);
    assert_int_equal(mail_build_message(&b, "a@b.example", "u@x.example", "Caf\xc3\xa9 = ok?", "b"),
                     AUTHD_OK);
    assert_non_null(strstr(b.data, "\r\nSubject: =?UTF-8?Q?Caf=C3=A9_=3D_ok=3F?=\r\n"));
    buf_free(&b);
}

static void
test_settings(void **state)
{
    (void)state;
    struct mail *m = NULL;
    struct mail_opts o = {.provider = MAIL_SMTP, .smtp_url = "http://x", .from = "a@b.example"};
    assert_int_equal(mail_new(&o, &m), AUTHD_ERR_INVALID_ARGUMENT);
    assert_null(m);
    o.smtp_url = "smtp://127.0.0.1:25";
    o.from = NULL;
    assert_int_equal(mail_new(&o, &m), AUTHD_ERR_INVALID_ARGUMENT);
    o.from = "Name <bad address@b>";
    assert_int_equal(mail_new(&o, &m), AUTHD_ERR_INVALID_ARGUMENT);
    o.from = "Acme <noreply@acme.example>";
    o.password = "secret";
    assert_int_equal(mail_new(&o, &m), AUTHD_OK);
    mail_free(m);
    mail_free(NULL);

    struct mail_opts console = {.provider = MAIL_CONSOLE};
    assert_int_equal(mail_new(&console, &m), AUTHD_OK);
    /* addresses that could inject SMTP commands or headers are refused before sending */
    assert_int_equal(mail_send(m, "t", "u@x.example\r\nRCPT TO:<v@y>", "s", "b", "l"),
                     AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(mail_send(m, "t", "no-at-sign", "s", "b", "l"), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(mail_send(m, "t", "u@x.example", "s", "body", "http://l/x"), AUTHD_OK);
    mail_free(m);
}

/* Runs a console mail_send() with stderr captured; returns the log text (free it). */
static char *
console_log(const char *body, const char *link)
{
    struct mail *m = NULL;
    struct mail_opts o = {.provider = MAIL_CONSOLE};
    assert_int_equal(mail_new(&o, &m), AUTHD_OK);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fileno(tmp), STDERR_FILENO);
    int r = mail_send(m, "rid1", "u@x.example", "Confirm your e-mail", body, link);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    assert_int_equal(r, AUTHD_OK);
    mail_free(m);
    long n = ftell(tmp);
    assert_true(n > 0);
    char *out = calloc(1, (size_t)n + 1);
    assert_non_null(out);
    rewind(tmp);
    assert_int_equal(fread(out, 1, (size_t)n, tmp), (size_t)n);
    fclose(tmp);
    return out;
}

static void
test_console_line_shows_link(void **state)
{
    (void)state;
    const char *link = "http://127.0.0.1:8080/auth/signup/confirm/abc.DEF-_1";
    char body[512];
    snprintf(body, sizeof(body), "Hello,\n\nopen this:\n\n%s\n\nbye\n", link);
    char *log = console_log(body, link);
    /* one line, with link= as its own key, and the body as the recipient reads it: the URL
     * itself, never a "{link}" placeholder (issue 14: the console mail showed one) */
    assert_non_null(strstr(log, "event=mail "));
    assert_non_null(strstr(log, " to=u@x.example "));
    assert_non_null(strstr(log, " subject=\"Confirm your e-mail\" "));
    char want[256];
    snprintf(want, sizeof(want), " link=%s ", link);
    const char *at = strstr(log, want);
    assert_non_null(at);
    assert_true(strstr(log, link) == at + 6);
    char in_body[256];
    snprintf(in_body, sizeof(in_body), "open this:\\n\\n%s\\n", link);
    assert_non_null(strstr(at + strlen(want), in_body));
    assert_null(strstr(log, "{link}"));
    assert_non_null(strstr(log, "body=\"Hello,\\n"));
    assert_int_equal(strchr(log, '\n'), log + strlen(log) - 1);
    free(log);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_shape),
        cmocka_unit_test(test_header_injection_refused),
        cmocka_unit_test(test_non_ascii_subject_encoded),
        cmocka_unit_test(test_settings),
        cmocka_unit_test(test_console_line_shows_link),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
