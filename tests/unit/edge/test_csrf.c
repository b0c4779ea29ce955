/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for edge/csrf.c: token shape, the double-submit check, the Origin check. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "edge/csrf.h"
#include "common/err.h"

static void
test_new_tokens(void **state)
{
    (void)state;
    char a[CSRF_TOKEN_LEN + 1], b[CSRF_TOKEN_LEN + 1];
    assert_int_equal(csrf_token_new(a), AUTHD_OK);
    assert_int_equal(csrf_token_new(b), AUTHD_OK);
    assert_int_equal(strlen(a), CSRF_TOKEN_LEN);
    assert_true(csrf_token_valid(a));
    assert_true(csrf_token_valid(b));
    assert_string_not_equal(a, b);
}

static void
test_check_equal_passes(void **state)
{
    (void)state;
    char a[CSRF_TOKEN_LEN + 1], copy[CSRF_TOKEN_LEN + 1];
    assert_int_equal(csrf_token_new(a), AUTHD_OK);
    memcpy(copy, a, sizeof(a));
    assert_true(csrf_check(a, copy));
}

static void
test_check_failures(void **state)
{
    (void)state;
    char a[CSRF_TOKEN_LEN + 1], b[CSRF_TOKEN_LEN + 1];
    assert_int_equal(csrf_token_new(a), AUTHD_OK);
    assert_int_equal(csrf_token_new(b), AUTHD_OK);
    assert_false(csrf_check(a, b));    /* different */
    assert_false(csrf_check(a, NULL)); /* missing field */
    assert_false(csrf_check(NULL, a)); /* missing cookie */
    assert_false(csrf_check(NULL, NULL));
    assert_false(csrf_check("", "")); /* empty on both sides is not a match */
    assert_false(csrf_check(a, ""));

    /* one character different, at the end */
    char c[CSRF_TOKEN_LEN + 1];
    memcpy(c, a, sizeof(a));
    c[CSRF_TOKEN_LEN - 1] = c[CSRF_TOKEN_LEN - 1] == 'A' ? 'B' : 'A';
    assert_false(csrf_check(a, c));

    /* a prefix, a longer string, bad characters: malformed, never equal */
    char prefix[CSRF_TOKEN_LEN];
    memcpy(prefix, a, CSRF_TOKEN_LEN - 1);
    prefix[CSRF_TOKEN_LEN - 1] = '\0';
    assert_false(csrf_check(prefix, prefix));
    const char *bad = "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!";
    assert_int_equal(strlen(bad), CSRF_TOKEN_LEN);
    assert_false(csrf_check(bad, bad));
    char longer[CSRF_TOKEN_LEN + 2];
    memcpy(longer, a, CSRF_TOKEN_LEN);
    longer[CSRF_TOKEN_LEN] = 'x';
    longer[CSRF_TOKEN_LEN + 1] = '\0';
    assert_false(csrf_check(longer, longer));
}

static void
test_origin(void **state)
{
    (void)state;
    assert_true(csrf_origin_ok(NULL, "http://127.0.0.1:8080"));
    assert_true(csrf_origin_ok("http://127.0.0.1:8080", "http://127.0.0.1:8080"));
    assert_true(csrf_origin_ok("HTTPS://Auth.Example.com", "https://auth.example.com"));
    assert_false(csrf_origin_ok("http://evil.example", "http://127.0.0.1:8080"));
    assert_false(csrf_origin_ok("null", "http://127.0.0.1:8080"));
    assert_false(csrf_origin_ok("http://127.0.0.1:8081", "http://127.0.0.1:8080"));
    assert_false(csrf_origin_ok("https://127.0.0.1:8080", "http://127.0.0.1:8080"));
    assert_false(csrf_origin_ok("", "http://127.0.0.1:8080"));
    assert_false(csrf_origin_ok("http://a", ""));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_tokens),
        cmocka_unit_test(test_check_equal_passes),
        cmocka_unit_test(test_check_failures),
        cmocka_unit_test(test_origin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
