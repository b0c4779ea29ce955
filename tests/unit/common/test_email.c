/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for common/email.c: normalisation (trim, lower-case) and validation of e-mail
 * addresses used as account keys.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "common/email.h"
#include "common/err.h"

static void
expect_ok(const char *in, const char *want)
{
    char out[EMAIL_MAX_LEN + 1];
    int r = email_normalize(in, out, sizeof(out));
    if (r != AUTHD_OK)
        print_error("refused: [%s]\n", in);
    assert_int_equal(r, AUTHD_OK);
    assert_string_equal(out, want);
}

static void
expect_bad(const char *in)
{
    char out[EMAIL_MAX_LEN + 1];
    memset(out, 'x', sizeof(out));
    int r = email_normalize(in, out, sizeof(out));
    if (r != AUTHD_ERR_INVALID_EMAIL)
        print_error("accepted: [%s]\n", in != NULL ? in : "(null)");
    assert_int_equal(r, AUTHD_ERR_INVALID_EMAIL);
    assert_int_equal(out[0], '\0');
}

static void
test_normalise(void **state)
{
    (void)state;
    expect_ok(" Alice@Example.COM ", "alice@example.com");
    expect_ok("\t\r\n bob@example.org\n", "bob@example.org");
    expect_ok("alice@example.com", "alice@example.com");
    expect_ok("ALICE.SMITH+Tag@Mail.Example.CO.UK", "alice.smith+tag@mail.example.co.uk");
}

static void
test_valid(void **state)
{
    (void)state;
    expect_ok("a@b.co", "a@b.co");
    expect_ok("first.last@example.com", "first.last@example.com");
    expect_ok("user+tag+more@example.com", "user+tag+more@example.com");
    expect_ok("x@deep.sub.domain.example.com", "x@deep.sub.domain.example.com");
    expect_ok("o'brien@example.ie", "o'brien@example.ie");
    expect_ok("u_1-2=3!#$%&*/?^`{|}~@example.com", "u_1-2=3!#$%&*/?^`{|}~@example.com");
    expect_ok("n@my-host.example-2.com", "n@my-host.example-2.com");
    expect_ok("1@123.example", "1@123.example");

    /* 64-char local part and 63-char label are the maxima */
    char s[EMAIL_MAX_LEN + 64];
    memset(s, 'a', 64);
    strcpy(s + 64, "@example.com");
    expect_ok(s, s);
    strcpy(s, "x@");
    memset(s + 2, 'b', 63);
    strcpy(s + 65, ".com");
    expect_ok(s, s);

    /* exactly EMAIL_MAX_LEN characters: 64 + '@' + 63.63.61 (63+1+63+1+61 = 189) */
    memset(s, 'l', 64);
    s[64] = '@';
    size_t o = 65;
    for (int label = 0; label < 3; label++) {
        size_t n = label < 2 ? 63 : 61;
        memset(s + o, 'd', n);
        o += n;
        if (label < 2)
            s[o++] = '.';
    }
    s[o] = '\0';
    assert_int_equal(strlen(s), EMAIL_MAX_LEN);
    expect_ok(s, s);
}

static void
test_invalid(void **state)
{
    (void)state;
    expect_bad(NULL);
    expect_bad("");
    expect_bad("   ");
    expect_bad("alice.example.com");     /* no @ */
    expect_bad("alice@bob@example.com"); /* two @ */
    expect_bad("@example.com");          /* empty local */
    expect_bad("alice@");                /* empty domain */
    expect_bad("alice@localhost");       /* single label */
    expect_bad("alice@-example.com");    /* label with leading hyphen */
    expect_bad("alice@example-.com");    /* label with trailing hyphen */
    expect_bad("alice@example.-com");
    expect_bad("alice@.example.com"); /* empty label */
    expect_bad("alice@example..com");
    expect_bad("alice@example.com.");
    expect_bad("alice@exa_mple.com"); /* underscore in a host name */
    expect_bad("ali ce@example.com"); /* space inside */
    expect_bad("alice@exa mple.com");
    expect_bad("alice @example.com");
    expect_bad("alice\t@example.com");
    expect_bad("al\x01ice@example.com"); /* control characters */
    expect_bad("alice@exam\x7fple.com");
    expect_bad("al\x7fice@example.com");
    expect_bad("<alice@example.com>"); /* forbidden characters */
    expect_bad("alice<x>@example.com");
    expect_bad("a(b)@example.com");
    expect_bad("a,b@example.com");
    expect_bad("a;b@example.com");
    expect_bad("a:b@example.com");
    expect_bad("a\\b@example.com");
    expect_bad("\"a\"@example.com");
    expect_bad("a[b]@example.com");
    expect_bad(".alice@example.com"); /* dots: leading, trailing, doubled */
    expect_bad("alice.@example.com");
    expect_bad("ali..ce@example.com");
    expect_bad("al\xc3\xa9@example.com"); /* non-ASCII */
    expect_bad("alice@ex\xc3\xa4mple.com");
    expect_bad("alice@[127.0.0.1]");

    char s[2048];
    /* 65-char local part */
    memset(s, 'a', 65);
    strcpy(s + 65, "@example.com");
    expect_bad(s);
    /* 64-char label */
    strcpy(s, "x@");
    memset(s + 2, 'b', 64);
    strcpy(s + 66, ".com");
    expect_bad(s);
    /* 255-char address made of valid parts */
    memset(s, 'l', 64);
    s[64] = '@';
    size_t o = 65;
    for (int label = 0; label < 3; label++) {
        size_t n = label < 2 ? 63 : 62;
        memset(s + o, 'd', n);
        o += n;
        if (label < 2)
            s[o++] = '.';
    }
    s[o] = '\0';
    assert_int_equal(strlen(s), 255);
    expect_bad(s);
    /* over 1 KiB of input, even if trimming would leave a valid address */
    memset(s, ' ', 1100);
    strcpy(s + 1100, "alice@example.com");
    expect_bad(s);
    /* white space up to the bound is trimmed fine */
    memset(s, ' ', 1000);
    strcpy(s + 1000, "alice@example.com");
    expect_ok(s, "alice@example.com");
}

static void
test_bad_output_buffer(void **state)
{
    (void)state;
    char small[16] = "unchanged";
    assert_int_equal(email_normalize("a@b.co", small, sizeof(small)), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(small[0], '\0');
    assert_int_equal(email_normalize("a@b.co", NULL, 300), AUTHD_ERR_INVALID_ARGUMENT);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalise),
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_bad_output_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
