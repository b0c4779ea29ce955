/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for edge/form.c, the urlencoded parser for bodies and query strings: decoding,
 * limits, and hostile input that must give an error rather than a crash or a wrong value.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "edge/form.h"

static struct form *
parse_ok(const char *s)
{
    struct form *f = NULL;
    int r = form_parse(s, strlen(s), &f);
    assert_int_equal(r, AUTHD_OK);
    assert_non_null(f);
    return f;
}

static void
parse_err(const char *s, size_t len, int want)
{
    struct form *f = (struct form *)1;
    assert_int_equal(form_parse(s, len, &f), want);
    assert_null(f);
}

static void
test_basic_pairs(void **state)
{
    (void)state;
    struct form *f = parse_ok("email=a%40b.example&password=secret&x=1");
    assert_int_equal(f->n, 3);
    assert_string_equal(form_get(f, "email"), "a@b.example");
    assert_string_equal(form_get(f, "password"), "secret");
    assert_string_equal(form_get(f, "x"), "1");
    assert_null(form_get(f, "missing"));
    assert_null(form_get(f, "Email")); /* keys are case-sensitive */
    form_free(f);
}

static void
test_plus_and_percent_decoding(void **state)
{
    (void)state;
    struct form *f = parse_ok("a=two+words&b=two%20words&c=%2B%26%3D&d%5Bx%5D=%e2%82%AC&e=a%2fb");
    assert_string_equal(form_get(f, "a"), "two words");
    assert_string_equal(form_get(f, "b"), "two words");
    assert_string_equal(form_get(f, "c"), "+&=");
    assert_string_equal(form_get(f, "d[x]"), "\xe2\x82\xac"); /* mixed-case hex */
    assert_string_equal(form_get(f, "e"), "a/b");
    form_free(f);
}

static void
test_empty_values_and_missing_equals(void **state)
{
    (void)state;
    struct form *f = parse_ok("a=&b&c=x=y&=v");
    assert_int_equal(f->n, 4);
    assert_string_equal(form_get(f, "a"), "");
    assert_string_equal(form_get(f, "b"), "");
    assert_string_equal(form_get(f, "c"), "x=y"); /* only the first '=' splits */
    assert_string_equal(form_get(f, ""), "v");
    form_free(f);

    f = parse_ok("");
    assert_int_equal(f->n, 0);
    assert_null(form_get(f, "a"));
    form_free(f);

    f = NULL;
    assert_int_equal(form_parse(NULL, 0, &f), AUTHD_OK);
    assert_int_equal(f->n, 0);
    form_free(f);
}

static void
test_malformed_percent(void **state)
{
    (void)state;
    parse_err("a=%G1", 5, AUTHD_ERR_INVALID_ARGUMENT);
    parse_err("a=%1G", 5, AUTHD_ERR_INVALID_ARGUMENT);
    parse_err("a=%", 3, AUTHD_ERR_INVALID_ARGUMENT);
    parse_err("a=%4", 4, AUTHD_ERR_INVALID_ARGUMENT);
    parse_err("%zz=1", 5, AUTHD_ERR_INVALID_ARGUMENT);
    parse_err("a=1&b=%", 7, AUTHD_ERR_INVALID_ARGUMENT);
    /* an escape cut by the '&' that ends its field is still malformed */
    parse_err("a=%4&1", 6, AUTHD_ERR_INVALID_ARGUMENT);
    /* ... and so is one cut by the end of the input, whatever follows in memory */
    parse_err("a=%41", 4, AUTHD_ERR_INVALID_ARGUMENT);
    parse_err("a=%41", 3, AUTHD_ERR_INVALID_ARGUMENT);
}

static void
test_nul_bytes(void **state)
{
    (void)state;
    parse_err("a=%00", 5, AUTHD_ERR_INVALID_ARGUMENT);
    parse_err("a%00=1", 6, AUTHD_ERR_INVALID_ARGUMENT);
    const char raw[] = {'a', '=', 'x', '\0', 'y'};
    parse_err(raw, sizeof(raw), AUTHD_ERR_INVALID_ARGUMENT);
}

static char *
fields(int n)
{
    char *s = malloc((size_t)n * 8 + 1);
    assert_non_null(s);
    size_t o = 0;
    for (int i = 0; i < n; i++)
        o += (size_t)snprintf(s + o, (size_t)n * 8 + 1 - o, "%sf%d=1", i ? "&" : "", i);
    return s;
}

static void
test_field_limit(void **state)
{
    (void)state;
    char *s = fields(FORM_MAX_FIELDS);
    struct form *f = parse_ok(s);
    assert_int_equal(f->n, FORM_MAX_FIELDS);
    assert_string_equal(form_get(f, "f63"), "1");
    form_free(f);
    free(s);

    s = fields(FORM_MAX_FIELDS + 1);
    parse_err(s, strlen(s), AUTHD_ERR_INVALID_ARGUMENT);
    free(s);
}

static void
test_oversized(void **state)
{
    (void)state;
    size_t n = FORM_MAX_INPUT + 1;
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, 'a', n);
    s[0] = 'k';
    s[1] = '=';
    s[n] = '\0';
    parse_err(s, n, AUTHD_ERR_TOO_LARGE);

    /* exactly at the limit is fine, and a value that long survives intact */
    struct form *f = NULL;
    assert_int_equal(form_parse(s, FORM_MAX_INPUT, &f), AUTHD_OK);
    assert_int_equal(strlen(form_get(f, "k")), FORM_MAX_INPUT - 2);
    form_free(f);
    free(s);
}

static void
test_duplicate_keys_first_wins(void **state)
{
    (void)state;
    struct form *f = parse_ok("csrf=first&csrf=second&a=1");
    assert_int_equal(f->n, 3);
    assert_string_equal(form_get(f, "csrf"), "first");
    assert_string_equal(f->fields[1].value, "second");
    form_free(f);
}

static void
test_hostile_input(void **state)
{
    (void)state;
    struct form *f = parse_ok("&&&=&=");
    assert_int_equal(f->n, 2);
    assert_string_equal(form_get(f, ""), "");
    form_free(f);

    f = parse_ok("&");
    assert_int_equal(f->n, 0);
    form_free(f);

    f = parse_ok("====");
    assert_int_equal(f->n, 1);
    assert_string_equal(form_get(f, ""), "===");
    form_free(f);

    /* 64 KiB of separators: no fields, no error */
    char *s = malloc(FORM_MAX_INPUT);
    assert_non_null(s);
    memset(s, '&', FORM_MAX_INPUT);
    assert_int_equal(form_parse(s, FORM_MAX_INPUT, &f), AUTHD_OK);
    assert_int_equal(f->n, 0);
    form_free(f);

    /* 64 KiB of '+' in one value: decoded to spaces, the arena is big enough */
    memset(s, '+', FORM_MAX_INPUT);
    s[0] = 'a';
    s[1] = '=';
    assert_int_equal(form_parse(s, FORM_MAX_INPUT, &f), AUTHD_OK);
    assert_int_equal(strlen(form_get(f, "a")), FORM_MAX_INPUT - 2);
    form_free(f);

    /* the length is honoured: bytes past len are never read */
    assert_int_equal(form_parse("a=1&b=%zz", 3, &f), AUTHD_OK);
    assert_string_equal(form_get(f, "a"), "1");
    assert_null(form_get(f, "b"));
    form_free(f);
    free(s);

    form_free(NULL);
    assert_null(form_get(NULL, "a"));
}

static void
test_count_and_repeated(void **state)
{
    (void)state;
    struct form *f = parse_ok("a=1&b=2&a=3&c=&c");
    assert_int_equal(form_count(f, "a"), 2);
    assert_int_equal(form_count(f, "b"), 1);
    assert_int_equal(form_count(f, "c"), 2);
    assert_int_equal(form_count(f, "d"), 0);
    assert_int_equal(form_count(NULL, "a"), 0);
    static const char *const none[] = {"b", "d"};
    assert_null(form_repeated(f, none, 2));
    static const char *const some[] = {"b", "c", "a"};
    assert_string_equal(form_repeated(f, some, 3), "c");
    form_free(f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_pairs),
        cmocka_unit_test(test_plus_and_percent_decoding),
        cmocka_unit_test(test_empty_values_and_missing_equals),
        cmocka_unit_test(test_malformed_percent),
        cmocka_unit_test(test_nul_bytes),
        cmocka_unit_test(test_field_limit),
        cmocka_unit_test(test_oversized),
        cmocka_unit_test(test_duplicate_keys_first_wins),
        cmocka_unit_test(test_hostile_input),
        cmocka_unit_test(test_count_and_repeated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
