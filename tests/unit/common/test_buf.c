/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for common/buf.c: appends and printf, the maximum enforced to the byte with the
 * content left untouched on refusal, growth, HTML escaping, URL percent-encoding, JSON string
 * literals (against jansson's output, and refusing what is not UTF-8), and the steal/free/reuse
 * life cycle.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/buf.h"
#include "common/err.h"

/* The invariants every buffer holds between calls. */
static void
check_invariants(const struct buf *b)
{
    if (b->data == NULL) {
        assert_int_equal(b->len, 0);
        assert_int_equal(b->cap, 0);
        return;
    }
    assert_true(b->len <= b->max);
    assert_true(b->len < b->cap);
    assert_int_equal(b->data[b->len], '\0');
}

static void
test_init_and_appends(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 4096);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.max, 4096);

    assert_int_equal(buf_append(&b, "ab", 2), AUTHD_OK);
    assert_string_equal(b.data, "ab");
    assert_int_equal(b.len, 2);
    assert_int_equal(buf_puts(&b, "cd"), AUTHD_OK);
    assert_int_equal(buf_puts(&b, NULL), AUTHD_OK);
    assert_int_equal(buf_puts(&b, ""), AUTHD_OK);
    assert_int_equal(buf_append(&b, "zzz", 0), AUTHD_OK);
    assert_string_equal(b.data, "abcd");
    assert_int_equal(b.len, 4);

    /* binary bytes, including NUL, are kept; data stays NUL-terminated after them */
    assert_int_equal(buf_append(&b, "x\0y", 3), AUTHD_OK);
    assert_int_equal(b.len, 7);
    assert_memory_equal(b.data, "abcdx\0y", 8);
    check_invariants(&b);
    buf_free(&b);
    check_invariants(&b);
}

static void
test_empty_append_allocates_terminated(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 16);
    assert_int_equal(buf_append(&b, "", 0), AUTHD_OK);
    /* once anything was appended, data is a valid (empty) string */
    assert_non_null(b.data);
    assert_string_equal(b.data, "");
    check_invariants(&b);
    buf_free(&b);
}

static void
test_printf(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(buf_puts(&b, "n="), AUTHD_OK);
    assert_int_equal(buf_printf(&b, "%d-%s-%05.1f-%x", 42, "x", 3.14159, 255u), AUTHD_OK);
    assert_string_equal(b.data, "n=42-x-003.1-ff");
    assert_int_equal(b.len, strlen("n=42-x-003.1-ff"));
    assert_int_equal(buf_printf(&b, "%s", ""), AUTHD_OK);
    assert_int_equal(b.len, strlen("n=42-x-003.1-ff"));
    assert_int_equal(buf_printf(&b, "%c", 'Z'), AUTHD_OK);
    assert_string_equal(b.data, "n=42-x-003.1-ffZ");
    check_invariants(&b);

    /* printf output longer than the first allocation */
    char big[1000];
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(buf_printf(&b, "[%s]", big), AUTHD_OK);
    assert_int_equal(b.len, 16 + 2 + 999);
    assert_int_equal(b.data[16], '[');
    assert_int_equal(b.data[16 + 1 + 999], ']');
    check_invariants(&b);
    buf_free(&b);
}

/* Fills b to exactly max with one-byte appends, then checks that one more byte is refused by
 * every appending function and that the content is unchanged. */
static void
check_max_exact(size_t max)
{
    static const char letters[] = "abcdefghijklmnopqrstuvwxyz";
    struct buf b;
    buf_init(&b, max);
    for (size_t i = 0; i < max; i++)
        assert_int_equal(buf_append(&b, &letters[i % 26], 1), AUTHD_OK);
    assert_int_equal(b.len, max);
    check_invariants(&b);

    char *before = malloc(max + 1);
    assert_non_null(before);
    if (max > 0)
        memcpy(before, b.data, max + 1);

    assert_int_equal(buf_append(&b, "!", 1), AUTHD_ERR_TOO_LARGE);
    assert_int_equal(buf_puts(&b, "!"), AUTHD_ERR_TOO_LARGE);
    assert_int_equal(buf_printf(&b, "%c", '!'), AUTHD_ERR_TOO_LARGE);
    assert_int_equal(buf_html(&b, "a"), AUTHD_ERR_TOO_LARGE);
    assert_int_equal(buf_urlenc(&b, "a"), AUTHD_ERR_TOO_LARGE);
    assert_int_equal(b.len, max);
    if (max > 0)
        assert_memory_equal(b.data, before, max + 1);
    /* appending nothing is still fine at the limit */
    assert_int_equal(buf_append(&b, "", 0), AUTHD_OK);
    assert_int_equal(buf_puts(&b, ""), AUTHD_OK);
    assert_int_equal(b.len, max);
    check_invariants(&b);
    free(before);
    buf_free(&b);
}

static void
test_max_exact(void **state)
{
    (void)state;
    /* around the first allocation (256) and its doublings */
    static const size_t maxes[] = {0, 1, 10, 254, 255, 256, 257, 300, 511, 512, 513, 1000};
    for (size_t i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++)
        check_max_exact(maxes[i]);
}

static void
test_max_single_append(void **state)
{
    (void)state;
    char data[1001];
    memset(data, 'm', sizeof(data));
    static const size_t maxes[] = {1, 255, 256, 257, 1000};
    for (size_t i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++) {
        size_t max = maxes[i];
        struct buf b;

        /* exactly max in one append is accepted */
        buf_init(&b, max);
        assert_int_equal(buf_append(&b, data, max), AUTHD_OK);
        assert_int_equal(b.len, max);
        check_invariants(&b);
        buf_free(&b);

        /* max+1 in one append is refused and leaves the buffer as it was */
        buf_init(&b, max);
        assert_int_equal(buf_append(&b, data, max + 1), AUTHD_ERR_TOO_LARGE);
        assert_int_equal(b.len, 0);
        check_invariants(&b);
        assert_int_equal(buf_puts(&b, "ok"), max >= 2 ? AUTHD_OK : AUTHD_ERR_TOO_LARGE);
        buf_free(&b);

        /* printf of exactly max, then of max+1 */
        buf_init(&b, max);
        assert_int_equal(buf_printf(&b, "%.*s", (int)max, data), AUTHD_OK);
        assert_int_equal(b.len, max);
        check_invariants(&b);
        buf_free(&b);
        buf_init(&b, max);
        assert_int_equal(buf_printf(&b, "%.*s", (int)max + 1, data), AUTHD_ERR_TOO_LARGE);
        assert_int_equal(b.len, 0);
        buf_free(&b);
    }

    /* a huge n must not wrap the size arithmetic */
    struct buf b;
    buf_init(&b, 100);
    assert_int_equal(buf_append(&b, "abc", 3), AUTHD_OK);
    assert_int_equal(buf_append(&b, data, SIZE_MAX), AUTHD_ERR_TOO_LARGE);
    assert_int_equal(buf_append(&b, data, SIZE_MAX - 2), AUTHD_ERR_TOO_LARGE);
    assert_string_equal(b.data, "abc");
    buf_free(&b);
}

static void
test_growth(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1 << 20);
    for (int i = 0; i < 10000; i++) {
        assert_int_equal(buf_printf(&b, "%04d|", i), AUTHD_OK);
        check_invariants(&b);
    }
    assert_int_equal(b.len, 50000);
    for (int i = 0; i < 10000; i++) {
        char want[6];
        snprintf(want, sizeof(want), "%04d|", i);
        assert_memory_equal(b.data + 5 * i, want, 5);
    }
    buf_free(&b);
}

static void
check_html(const char *in, const char *want)
{
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(buf_puts(&b, "<p>"), AUTHD_OK);
    assert_int_equal(buf_html(&b, in), AUTHD_OK);
    assert_int_equal(buf_puts(&b, "</p>"), AUTHD_OK);
    assert_int_equal(b.len, strlen(b.data));
    assert_true(strncmp(b.data, "<p>", 3) == 0);
    assert_true(strcmp(b.data + b.len - 4, "</p>") == 0);
    assert_int_equal(b.len - 7, strlen(want));
    assert_memory_equal(b.data + 3, want, strlen(want));
    buf_free(&b);
}

static void
test_html(void **state)
{
    (void)state;
    check_html("plain text", "plain text");
    check_html("", "");
    check_html("a&b<c>d\"e'f", "a&amp;b&lt;c&gt;d&quot;e&#39;f");
    check_html("<script>alert('x')</script>", "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
    check_html("\" onmouseover=\"x", "&quot; onmouseover=&quot;x");
    check_html("&amp;", "&amp;amp;");
    /* all specials, alone and repeated */
    check_html("&<>\"'", "&amp;&lt;&gt;&quot;&#39;");
    check_html("&&&&", "&amp;&amp;&amp;&amp;");
    check_html("'", "&#39;");
    check_html(">", "&gt;");
    /* UTF-8 passes through byte for byte */
    check_html("h\xc3\xa9llo \xe2\x80\x94 \xf0\x9f\x94\x91 <\xc3\xbc>",
               "h\xc3\xa9llo \xe2\x80\x94 \xf0\x9f\x94\x91 &lt;\xc3\xbc&gt;");
    check_html("tab\tnl\n/=", "tab\tnl\n/=");

    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(buf_html(&b, NULL), AUTHD_OK);
    assert_int_equal(b.len, 0);
    buf_free(&b);

    /* an escape that would cross max is refused */
    buf_init(&b, 4);
    assert_int_equal(buf_html(&b, "&"), AUTHD_ERR_TOO_LARGE);
    assert_true(b.len <= 4);
    buf_free(&b);
    buf_init(&b, 5);
    assert_int_equal(buf_html(&b, "&"), AUTHD_OK);
    assert_string_equal(b.data, "&amp;");
    buf_free(&b);
}

static void
check_urlenc(const char *in, const char *want)
{
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(buf_urlenc(&b, in), AUTHD_OK);
    if (want[0] == '\0')
        assert_true(b.data == NULL || b.data[0] == '\0');
    else
        assert_string_equal(b.data, want);
    assert_int_equal(b.len, strlen(want));
    buf_free(&b);
}

static void
test_urlenc(void **state)
{
    (void)state;
    /* RFC 3986 unreserved characters are kept */
    check_urlenc("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~",
                 "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~");
    check_urlenc("", "");
    check_urlenc(NULL, "");
    check_urlenc("a b", "a%20b");
    check_urlenc("/?&=+", "%2F%3F%26%3D%2B");
    check_urlenc("https://app.example/cb?x=1&y=2",
                 "https%3A%2F%2Fapp.example%2Fcb%3Fx%3D1%26y%3D2");
    check_urlenc("%", "%25");
    check_urlenc("#[]@!$'()*,;:\"<>\\^`{|}",
                 "%23%5B%5D%40%21%24%27%28%29%2A%2C%3B%3A%22%3C%3E%5C%5E%60%7B%7C%7D");
    check_urlenc("\x01\t\n\r\x7f", "%01%09%0A%0D%7F");
    /* UTF-8 bytes, uppercase hex */
    check_urlenc("\xc3\xa9", "%C3%A9");
    check_urlenc("caf\xc3\xa9 \xe2\x82\xac", "caf%C3%A9%20%E2%82%AC");
    check_urlenc("\xff\x80", "%FF%80");

    /* every byte: unreserved ones kept, all others as %XX with uppercase hex */
    for (unsigned c = 1; c < 256; c++) {
        char in[2] = {(char)c, '\0'};
        char want[4];
        int keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                   c == '-' || c == '.' || c == '_' || c == '~';
        if (keep)
            snprintf(want, sizeof(want), "%c", (int)c);
        else
            snprintf(want, sizeof(want), "%%%02X", c);
        check_urlenc(in, want);
    }

    /* an escape that would cross max is refused */
    struct buf b;
    buf_init(&b, 2);
    assert_int_equal(buf_urlenc(&b, " "), AUTHD_ERR_TOO_LARGE);
    assert_true(b.data == NULL || b.data[0] == '\0');
    buf_free(&b);
}

static void
test_steal(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(buf_puts(&b, "hello"), AUTHD_OK);
    size_t len = 99;
    char *s = buf_steal(&b, &len);
    assert_non_null(s);
    assert_string_equal(s, "hello");
    assert_int_equal(len, 5);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    assert_int_equal(b.max, 4096);
    /* the buffer is usable again and no longer shares memory with s */
    assert_int_equal(buf_puts(&b, "again"), AUTHD_OK);
    assert_string_equal(b.data, "again");
    assert_string_equal(s, "hello");
    free(s);

    /* without len */
    s = buf_steal(&b, NULL);
    assert_string_equal(s, "again");
    free(s);

    /* an empty buffer gives "" */
    len = 99;
    s = buf_steal(&b, &len);
    assert_non_null(s);
    assert_string_equal(s, "");
    assert_int_equal(len, 0);
    free(s);
    s = buf_steal(&b, NULL);
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);
    buf_free(&b);
}

static void
test_free_then_reuse(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 8);
    buf_free(&b); /* never used */
    buf_free(&b); /* twice */
    assert_int_equal(buf_puts(&b, "12345678"), AUTHD_OK);
    buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    /* the maximum survives buf_free */
    assert_int_equal(b.max, 8);
    assert_int_equal(buf_puts(&b, "abc"), AUTHD_OK);
    assert_string_equal(b.data, "abc");
    assert_int_equal(buf_puts(&b, "defgh"), AUTHD_OK);
    assert_int_equal(buf_puts(&b, "i"), AUTHD_ERR_TOO_LARGE);
    assert_string_equal(b.data, "abcdefgh");
    buf_free(&b);
    buf_free(&b);
}

/* buf_json writes what jansson writes for the same string, and jansson reads it back. */
static void
assert_json_as_jansson(const char *s)
{
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(buf_puts(&b, "x"), AUTHD_OK);
    assert_int_equal(buf_json(&b, s), AUTHD_OK);
    json_t *j = json_string(s);
    assert_non_null(j);
    char *want = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
    assert_non_null(want);
    assert_string_equal(b.data + 1, want);
    json_error_t err;
    json_t *back = json_loads(b.data + 1, JSON_DECODE_ANY, &err);
    assert_non_null(back);
    assert_string_equal(json_string_value(back), s);
    json_decref(back);
    free(want);
    json_decref(j);
    check_invariants(&b);
    buf_free(&b);
}

static void
test_json(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "",
        "plain text",
        "https://auth.example.test/a?b=c&d",
        "quote \" backslash \\ slash / done",
        "\b\f\n\r\t",
        "\x01\x02\x1e\x1f \x7f",
        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",                /* 2, 3 and 4-byte UTF-8 */
        "\xc2\x80 \xdf\xbf \xe0\xa0\x80 \xed\x9f\xbf \xee\x80\x80", /* range edges */
        "\xf0\x90\x80\x80 \xf4\x8f\xbf\xbf",                        /* U+10000, U+10FFFF */
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        assert_json_as_jansson(ok[i]);

    /* Not UTF-8: refused, as json_string() refuses it, and the buffer is left as it was. */
    static const char *const bad[] = {
        "\x80",             /* a lone continuation byte */
        "a\xc3",            /* cut short */
        "\xc3\x28",         /* a bad continuation */
        "\xc0\xaf",         /* overlong '/' */
        "\xe0\x80\xaf",     /* overlong, 3 bytes */
        "\xed\xa0\x80",     /* a surrogate (U+D800) */
        "\xf4\x90\x80\x80", /* past U+10FFFF */
        "\xf5\x80\x80\x80", /* a lead byte that never starts a character */
        "\xff",
    };
    struct buf b;
    buf_init(&b, 64);
    assert_int_equal(buf_puts(&b, "kept"), AUTHD_OK);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_null(json_string(bad[i]));
        assert_int_equal(buf_json(&b, bad[i]), AUTHD_ERR_INVALID_ARGUMENT);
        assert_string_equal(b.data, "kept");
        assert_int_equal(b.len, 4);
    }
    assert_int_equal(buf_json(&b, NULL), AUTHD_ERR_INVALID_ARGUMENT);

    /* Past the maximum (escapes counted): refused whole, nothing half written. */
    assert_int_equal(buf_json(&b, "01234567890123456789012345678901234567890123456789012345678"),
                     AUTHD_ERR_TOO_LARGE);
    assert_string_equal(b.data, "kept");
    assert_int_equal(buf_json(&b, "\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n"),
                     AUTHD_ERR_TOO_LARGE);
    assert_string_equal(b.data, "kept");
    assert_int_equal(b.len, 4);
    assert_int_equal(buf_json(&b, "\n"), AUTHD_OK);
    assert_string_equal(b.data, "kept\"\\n\"");
    check_invariants(&b);
    buf_free(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_and_appends),
        cmocka_unit_test(test_empty_append_allocates_terminated),
        cmocka_unit_test(test_printf),
        cmocka_unit_test(test_max_exact),
        cmocka_unit_test(test_max_single_append),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_html),
        cmocka_unit_test(test_urlenc),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_steal),
        cmocka_unit_test(test_free_then_reuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
