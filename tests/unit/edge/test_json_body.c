/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for edge/json_body.c, the JSON request body reader of the two-factor JSON API and
 * the token endpoint: objects only, the size and nesting bounds, string members by name (absent,
 * null, another type), and the wipe.
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
#include "edge/json_body.h"

static json_t *
parse_ok(const char *s)
{
    json_t *o = NULL;
    assert_int_equal(edge_json_object_parse(s, strlen(s), &o), AUTHD_OK);
    assert_non_null(o);
    return o;
}

static void
parse_err(const char *s, size_t len, int want)
{
    json_t *o = (json_t *)1;
    assert_int_equal(edge_json_object_parse(s, len, &o), want);
    assert_null(o);
}

static void
test_objects_only(void **state)
{
    (void)state;
    json_decref(parse_ok("{}"));
    json_decref(parse_ok(" {\"token\": \"123456\"} "));
    parse_err("", 0, AUTHD_ERR_INVALID_ARGUMENT);
    parse_err(NULL, 0, AUTHD_ERR_INVALID_ARGUMENT);
    parse_err("[]", 2, AUTHD_ERR_INVALID_ARGUMENT);
    parse_err("\"x\"", 3, AUTHD_ERR_INVALID_ARGUMENT);
    parse_err("{\"a\":1", 6, AUTHD_ERR_INVALID_ARGUMENT);
    parse_err("{} {}", 5, AUTHD_ERR_INVALID_ARGUMENT);
    parse_err("{\"a\":1,\"a\":2}", 13, AUTHD_ERR_INVALID_ARGUMENT); /* duplicate key */
    parse_err("{\"a\":\"x\\u0000y\"}", 16, AUTHD_ERR_INVALID_ARGUMENT);
    parse_err("{\"a\":\"\xff\"}", 8, AUTHD_ERR_INVALID_ARGUMENT); /* not UTF-8 */
    /* Only len bytes count: what follows is not read. */
    json_t *o = NULL;
    assert_int_equal(edge_json_object_parse("{}garbage", 2, &o), AUTHD_OK);
    json_decref(o);
}

static void
test_bounds(void **state)
{
    (void)state;
    size_t n = EDGE_JSON_BODY_MAX + 1;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    parse_err(big, n, AUTHD_ERR_TOO_LARGE);
    json_t *o = NULL;
    assert_int_equal(edge_json_object_parse(big + 1, n - 1, &o), AUTHD_ERR_INVALID_ARGUMENT);
    big[1] = '{';
    assert_int_equal(edge_json_object_parse(big + 1, n - 1, &o), AUTHD_OK); /* exactly the max */
    json_decref(o);
    free(big);

    /* EDGE_JSON_BODY_DEPTH levels pass, one more does not. */
    char deep[2 * (EDGE_JSON_BODY_DEPTH + 1) + 16];
    size_t k = 0;
    deep[k++] = '{';
    deep[k++] = '"';
    deep[k++] = 'a';
    deep[k++] = '"';
    deep[k++] = ':';
    for (int i = 1; i < EDGE_JSON_BODY_DEPTH; i++)
        deep[k++] = '[';
    for (int i = 1; i < EDGE_JSON_BODY_DEPTH; i++)
        deep[k++] = ']';
    deep[k++] = '}';
    deep[k] = '\0';
    json_decref(parse_ok(deep));
    memmove(deep + 6, deep + 5, k - 4);
    deep[5] = '[';
    deep[k + 1] = '}';
    deep[k] = ']';
    parse_err(deep, k + 2, AUTHD_ERR_INVALID_ARGUMENT);
}

static void
test_strings(void **state)
{
    (void)state;
    static const char *const names[] = {"token", "transport", "scope"};
    const char *v[3], *bad = (const char *)1;
    json_t *o = parse_ok("{\"token\":\"123456\",\"transport\":null,\"other\":[1]}");
    assert_int_equal(edge_json_strings(o, names, 3, v, &bad), AUTHD_OK);
    assert_null(bad);
    assert_string_equal(v[0], "123456");
    assert_null(v[1]); /* null counts as absent */
    assert_null(v[2]);
    json_decref(o);

    o = parse_ok("{\"token\":\"1\",\"scope\":[\"openid\"]}");
    assert_int_equal(edge_json_strings(o, names, 3, v, &bad), AUTHD_ERR_INVALID_ARGUMENT);
    assert_string_equal(bad, "scope");
    assert_null(v[0]); /* nothing half-read */
    assert_null(v[1]);
    assert_null(v[2]);
    json_decref(o);

    o = parse_ok("{\"transport\":7}");
    assert_int_equal(edge_json_strings(o, names, 3, v, &bad), AUTHD_ERR_INVALID_ARGUMENT);
    assert_ptr_equal(bad, names[1]);
    json_decref(o);
}

static void
test_wipe(void **state)
{
    (void)state;
    json_t *o = parse_ok("{\"password\":\"hunter2\",\"n\":{\"a\":[\"s3cret\",1,{\"b\":\"x\"}]}}");
    json_t *pw = json_object_get(o, "password");
    json_t *arr = json_object_get(json_object_get(o, "n"), "a");
    json_t *inner = json_object_get(json_array_get(arr, 2), "b");
    edge_json_wipe(o);
    assert_memory_equal(json_string_value(pw), "\0\0\0\0\0\0\0", 7);
    assert_memory_equal(json_string_value(json_array_get(arr, 0)), "\0\0\0\0\0\0", 6);
    assert_memory_equal(json_string_value(inner), "\0", 1);
    json_decref(o);
    edge_json_wipe(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_objects_only),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_wipe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
