/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for edge/cookie.c: parsing Cookie headers (several cookies, spaces, quotes,
 * pieces without a name, limits, hostile input) and building Set-Cookie values.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "edge/cookie.h"
#include "common/err.h"

static struct cookie_jar *
parse_ok(const char *h)
{
    struct cookie_jar *j = NULL;
    assert_int_equal(cookie_parse(h, &j), AUTHD_OK);
    assert_non_null(j);
    return j;
}

static void
test_several_cookies(void **state)
{
    (void)state;
    struct cookie_jar *j = parse_ok("asid=abc.def; csrf=tok_-1; theme=dark");
    assert_int_equal(j->n, 3);
    assert_string_equal(cookie_get(j, "asid"), "abc.def");
    assert_string_equal(cookie_get(j, "csrf"), "tok_-1");
    assert_string_equal(cookie_get(j, "theme"), "dark");
    assert_null(cookie_get(j, "other"));
    assert_null(cookie_get(j, "ASID"));
    cookie_jar_free(j);
}

static void
test_spaces_and_quotes(void **state)
{
    (void)state;
    struct cookie_jar *j = parse_ok("  a = 1 ;b=\"quoted\";\tc=\"\" ;d=\"half ;e=x=y ;;");
    assert_string_equal(cookie_get(j, "a"), "1");
    assert_string_equal(cookie_get(j, "b"), "quoted");
    assert_string_equal(cookie_get(j, "c"), "");
    assert_string_equal(cookie_get(j, "d"), "\"half"); /* an unmatched quote is kept */
    assert_string_equal(cookie_get(j, "e"), "x=y");
    cookie_jar_free(j);
}

static void
test_missing_name_and_no_equals(void **state)
{
    (void)state;
    struct cookie_jar *j = parse_ok("=nameless; flag; ok=1; =; ; x");
    assert_int_equal(j->n, 1);
    assert_string_equal(cookie_get(j, "ok"), "1");
    assert_null(cookie_get(j, ""));
    assert_null(cookie_get(j, "flag"));
    cookie_jar_free(j);
}

static void
test_empty_header(void **state)
{
    (void)state;
    struct cookie_jar *j = parse_ok("");
    assert_int_equal(j->n, 0);
    cookie_jar_free(j);
    j = parse_ok(NULL);
    assert_int_equal(j->n, 0);
    assert_null(cookie_get(j, "asid"));
    cookie_jar_free(j);
    assert_null(cookie_get(NULL, "asid"));
    cookie_jar_free(NULL);
}

static void
test_duplicates_first_wins(void **state)
{
    (void)state;
    struct cookie_jar *j = parse_ok("asid=specific; asid=general");
    assert_string_equal(cookie_get(j, "asid"), "specific");
    cookie_jar_free(j);
}

static void
test_limits_and_hostile(void **state)
{
    (void)state;
    /* more than COOKIE_MAX cookies: the rest are ignored, not an error */
    char *h = malloc(COOKIE_MAX_HEADER + 2);
    assert_non_null(h);
    size_t o = 0;
    for (int i = 0; i < COOKIE_MAX + 10; i++)
        o += (size_t)snprintf(h + o, COOKIE_MAX_HEADER + 2 - o, "c%d=%d; ", i, i);
    struct cookie_jar *j = parse_ok(h);
    assert_int_equal(j->n, COOKIE_MAX);
    assert_string_equal(cookie_get(j, "c0"), "0");
    assert_null(cookie_get(j, "c70"));
    cookie_jar_free(j);

    /* over the header limit */
    memset(h, 'a', COOKIE_MAX_HEADER + 1);
    h[1] = '=';
    h[COOKIE_MAX_HEADER + 1] = '\0';
    j = (struct cookie_jar *)1;
    assert_int_equal(cookie_parse(h, &j), AUTHD_ERR_TOO_LARGE);
    assert_null(j);

    /* at the limit: one huge value */
    h[COOKIE_MAX_HEADER] = '\0';
    j = parse_ok(h);
    assert_int_equal(strlen(cookie_get(j, "a")), COOKIE_MAX_HEADER - 2);
    cookie_jar_free(j);

    /* separators only, quotes only */
    j = parse_ok(";;;;==;=\"\";\"");
    assert_int_equal(j->n, 0);
    cookie_jar_free(j);
    j = parse_ok("a=\"");
    assert_string_equal(cookie_get(j, "a"), "\"");
    cookie_jar_free(j);
    free(h);
}

static void
test_build(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(cookie_build(&b, "asid", "tok.en", COOKIE_HTTPONLY | COOKIE_SAMESITE_LAX, -1),
                     AUTHD_OK);
    assert_string_equal(b.data, "asid=tok.en; Path=/; HttpOnly; SameSite=Lax");
    buf_free(&b);

    assert_int_equal(
        cookie_build(&b, "asid", "t", COOKIE_HTTPONLY | COOKIE_SECURE | COOKIE_SAMESITE_LAX, 3600),
        AUTHD_OK);
    assert_string_equal(b.data, "asid=t; Path=/; Max-Age=3600; HttpOnly; Secure; SameSite=Lax");
    buf_free(&b);

    assert_int_equal(cookie_build(&b, "csrf", "x", COOKIE_HTTPONLY | COOKIE_SAMESITE_STRICT, -1),
                     AUTHD_OK);
    assert_string_equal(b.data, "csrf=x; Path=/; HttpOnly; SameSite=Strict");
    buf_free(&b);

    /* deletion */
    assert_int_equal(cookie_build(&b, "asid", "", COOKIE_HTTPONLY, 0), AUTHD_OK);
    assert_string_equal(b.data, "asid=; Path=/; Max-Age=0; HttpOnly");
    buf_free(&b);
}

static void
test_build_rejects_injection(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(cookie_build(&b, "asid", "a;b", 0, -1), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(cookie_build(&b, "asid", "a b", 0, -1), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(cookie_build(&b, "asid", "a\r\nX: y", 0, -1), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(cookie_build(&b, "asid", "\"q\"", 0, -1), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(cookie_build(&b, "a=b", "v", 0, -1), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(cookie_build(&b, "", "v", 0, -1), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(cookie_build(&b, "a b", "v", 0, -1), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(cookie_build(&b, "a", NULL, 0, -1), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(b.len, 0);

    /* a cookie that does not fit leaves the buffer as it was */
    struct buf small;
    buf_init(&small, 20);
    assert_int_equal(buf_puts(&small, "x"), AUTHD_OK);
    assert_int_not_equal(cookie_build(&small, "asid", "0123456789", COOKIE_HTTPONLY, 100),
                         AUTHD_OK);
    assert_string_equal(small.data, "x");
    buf_free(&small);
    buf_free(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_several_cookies),
        cmocka_unit_test(test_spaces_and_quotes),
        cmocka_unit_test(test_missing_name_and_no_equals),
        cmocka_unit_test(test_empty_header),
        cmocka_unit_test(test_duplicates_first_wins),
        cmocka_unit_test(test_limits_and_hostile),
        cmocka_unit_test(test_build),
        cmocka_unit_test(test_build_rejects_injection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
