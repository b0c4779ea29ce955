/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for common/yamlread.c beyond what the manifest tests (tests/unit/ctl) cover: the
 * line table, all-string scalars, structured refusals (place, kind, duplicate key), limits, input
 * that is not NUL-terminated, and reading a file with a byte bound.
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
#include "common/secret.h"
#include "common/yamlread.h"

static const struct yamlread_opts typed = {.max_bytes = 4096, .max_depth = 4, .max_nodes = 50};
static const struct yamlread_opts strings = {
    .max_bytes = 4096, .max_depth = 4, .max_nodes = 50, .scalars_as_string = 1};

static json_t *
read_ok(const char *text, const struct yamlread_opts *o, struct yamlread_lines **lines)
{
    struct yamlread_error e;
    json_t *docs = NULL;
    int r = yamlread_to_json(text, strlen(text), o, &docs, lines, &e);
    if (r != AUTHD_OK)
        print_error("refused (%d) at %zu:%zu: %s\n", r, e.line, e.column, e.message);
    assert_int_equal(r, AUTHD_OK);
    assert_non_null(docs);
    assert_int_equal(e.problem, YAMLREAD_NONE);
    return docs;
}

static struct yamlread_error
read_bad(const char *text, const struct yamlread_opts *o, int want)
{
    struct yamlread_error e;
    struct yamlread_lines *lines = (struct yamlread_lines *)1;
    json_t *docs = (json_t *)1;
    int r = yamlread_to_json(text, strlen(text), o, &docs, &lines, &e);
    assert_int_equal(r, want);
    assert_null(docs);
    assert_null(lines);
    assert_int_not_equal(e.problem, YAMLREAD_NONE);
    assert_true(e.message[0] != '\0');
    return e;
}

static void
test_lines(void **state)
{
    (void)state;
    struct yamlread_lines *l = NULL;
    json_t *docs = read_ok("# comment\n"
                           "top:\n"
                           "  - name: a\n"
                           "    list: [x,\n"
                           "      y]\n"
                           "  - name: b\n"
                           "n: 12\n",
                           &typed, &l);
    assert_non_null(l);
    json_t *doc = json_array_get(docs, 0);
    json_t *top = json_object_get(doc, "top");
    json_t *first = json_array_get(top, 0);
    json_t *list = json_object_get(first, "list");
    assert_int_equal(yamlread_line(l, doc), 2);
    assert_int_equal(yamlread_key_line(l, doc, "top"), 2);
    assert_int_equal(yamlread_line(l, top), 3);
    assert_int_equal(yamlread_line(l, first), 3);
    assert_int_equal(yamlread_key_line(l, first, "list"), 4);
    assert_int_equal(yamlread_line(l, list), 4);
    assert_int_equal(yamlread_line(l, json_array_get(list, 1)), 5);
    assert_int_equal(yamlread_line(l, json_array_get(top, 1)), 6);
    assert_int_equal(yamlread_key_line(l, doc, "n"), 7);
    assert_int_equal(yamlread_line(l, json_object_get(doc, "n")), 7);
    /* Unknown: a key that is not there, a node of another tree, NULL. */
    assert_int_equal(yamlread_key_line(l, doc, "nope"), 0);
    assert_int_equal(yamlread_key_line(l, doc, NULL), 0);
    json_t *other = json_string("x");
    assert_int_equal(yamlread_line(l, other), 0);
    json_decref(other);
    assert_int_equal(yamlread_line(l, NULL), 0);
    assert_int_equal(yamlread_line(NULL, doc), 0);
    yamlread_lines_free(l);
    yamlread_lines_free(NULL);
    json_decref(docs);
}

static void
test_scalars_as_string(void **state)
{
    (void)state;
    struct yamlread_lines *l = NULL;
    json_t *docs = read_ok("a: 1\nb: true\nc: ~\nd:\ne: 1.5\n", &strings, &l);
    json_t *d = json_array_get(docs, 0);
    static const char *const keys[] = {"a", "b", "c", "d", "e"};
    static const char *const want[] = {"1", "true", "~", "", "1.5"};
    for (size_t i = 0; i < 5; i++) {
        json_t *v = json_object_get(d, keys[i]);
        assert_true(json_is_string(v));
        assert_string_equal(json_string_value(v), want[i]);
        /* Every scalar is a string of its own, so every one has a line. */
        assert_int_equal(yamlread_line(l, v), i + 1);
    }
    yamlread_lines_free(l);
    json_decref(docs);
    /* Typed, the same text gives numbers, a boolean and nulls. */
    docs = read_ok("a: 1\nb: true\nc: ~\nd:\ne: 1.5\n", &typed, NULL);
    d = json_array_get(docs, 0);
    assert_true(json_is_integer(json_object_get(d, "a")));
    assert_true(json_is_true(json_object_get(d, "b")));
    assert_true(json_is_null(json_object_get(d, "c")));
    assert_true(json_is_null(json_object_get(d, "d")));
    assert_true(json_is_real(json_object_get(d, "e")));
    json_decref(docs);
}

static void
test_refusals(void **state)
{
    (void)state;
    struct yamlread_error e =
        read_bad("a: 1\nb:\n  c: 2\n  c: 3\n", &typed, AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(e.problem, YAMLREAD_DUPLICATE_KEY);
    assert_string_equal(e.key, "c");
    assert_int_equal(e.line, 4);
    assert_int_equal(e.column, 3);
    assert_string_equal(e.message, "duplicate key 'c'");

    e = read_bad("a: &x 1\nb: *x\n", &typed, AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(e.problem, YAMLREAD_ALIAS);
    assert_int_equal(e.line, 2);

    e = read_bad("a: [1,\n", &typed, AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(e.problem, YAMLREAD_SYNTAX);
    assert_non_null(strstr(e.message, "invalid YAML"));

    e = read_bad("a: !!binary aGk=\n", &strings, AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(e.problem, YAMLREAD_UNSUPPORTED);
    e = read_bad("? [k]\n: v\n", &strings, AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(e.problem, YAMLREAD_UNSUPPORTED);

    /* max_depth 4: four levels are fine, five are not. */
    json_decref(read_ok("[[[[x]]]]\n", &typed, NULL));
    e = read_bad("[[[[[x]]]]]\n", &typed, AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(e.problem, YAMLREAD_LIMIT);
    assert_int_equal(e.line, 1);
    assert_int_equal(e.column, 5);

    /* max_nodes 50: the sequence and 49 items are fine, 50 items are not. */
    char list[256];
    size_t n = 0;
    list[n++] = '[';
    for (int i = 0; i < 50; i++) {
        if (i > 0)
            list[n++] = ',';
        list[n++] = 'x';
        if (i == 48) {
            memcpy(list + n, "]", 2);
            json_decref(read_ok(list, &typed, NULL));
        }
    }
    memcpy(list + n, "]", 2);
    e = read_bad(list, &typed, AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(e.problem, YAMLREAD_LIMIT);

    /* Larger than max_bytes: refused unread, without a place. */
    const struct yamlread_opts tiny = {.max_bytes = 4, .max_depth = 4, .max_nodes = 50};
    e = read_bad("a: 12\n", &tiny, AUTHD_ERR_TOO_LARGE);
    assert_int_equal(e.problem, YAMLREAD_TOO_LARGE);
    assert_int_equal(e.line, 0);
}

/* The reader stays within len: what follows (here another key) is never read. */
static void
test_length_bound(void **state)
{
    (void)state;
    const char text[] = "a: 1\nb: 2\n";
    json_t *docs = NULL;
    struct yamlread_error e;
    assert_int_equal(yamlread_to_json(text, 5, &typed, &docs, NULL, &e), AUTHD_OK);
    json_t *d = json_array_get(docs, 0);
    assert_int_equal(json_object_size(d), 1);
    assert_null(json_object_get(d, "b"));
    yamlread_wipe(docs);
    json_decref(docs);
    yamlread_wipe(NULL);
    /* No text at all is a refusal, not a crash; an empty text is an empty stream. */
    assert_int_equal(yamlread_to_json(NULL, 0, &typed, &docs, NULL, &e),
                     AUTHD_ERR_INVALID_ARGUMENT);
    /* An empty stream, with a line table (which then holds nothing: no qsort of NULL, found by
     * fuzz_callers under UBSan). */
    struct yamlread_lines *l = NULL;
    assert_int_equal(yamlread_to_json("", 0, &typed, &docs, &l, NULL), AUTHD_OK);
    assert_int_equal(json_array_size(docs), 0);
    assert_non_null(l);
    assert_int_equal(yamlread_line(l, docs), 0);
    yamlread_lines_free(l);
    json_decref(docs);
}

static void
test_file(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    struct yamlread_error e;
    FILE *f = tmpfile();
    assert_non_null(f);
    for (int i = 0; i < 10000; i++)
        fputs("k: v\n", f); /* 50000 bytes, within the first buffer */
    rewind(f);
    assert_int_equal(yamlread_file(f, 50000, &text, &len, &e), AUTHD_OK);
    assert_int_equal(len, 50000);
    assert_int_equal(text[len], '\0');
    secret_freezero(text, len);
    rewind(f);
    assert_int_equal(yamlread_file(f, 49999, &text, &len, &e), AUTHD_ERR_TOO_LARGE);
    assert_null(text);
    assert_int_equal(e.problem, YAMLREAD_TOO_LARGE);
    /* Growing past the first buffer (64 KiB). */
    fseek(f, 0, SEEK_END);
    for (int i = 0; i < 20000; i++)
        fputs("k: v\n", f);
    rewind(f);
    assert_int_equal(yamlread_file(f, 1024 * 1024, &text, &len, &e), AUTHD_OK);
    assert_int_equal(len, 150000);
    assert_int_equal(strlen(text), len);
    secret_freezero(text, len);
    fclose(f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines),    cmocka_unit_test(test_scalars_as_string),
        cmocka_unit_test(test_refusals), cmocka_unit_test(test_length_bound),
        cmocka_unit_test(test_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
