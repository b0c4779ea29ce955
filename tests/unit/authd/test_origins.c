/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for authd/origins.c: the RFC 6454 serialisation of Client.allowed_origins. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "authd/origins.h"

static void
test_normalised(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"https://app.example.com", "https://app.example.com"},
        {"HTTPS://App.Example.COM", "https://app.example.com"},
        {"https://app.example.com:443", "https://app.example.com"},
        {"http://app.example.com:80", "http://app.example.com"},
        {"http://app.example.com:443", "http://app.example.com:443"},
        {"https://app.example.com:80", "https://app.example.com:80"},
        {"http://localhost:05173", "http://localhost:5173"},
        {"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
        {"http://[::1]:3000", "http://[::1]:3000"},
        {"https://[2001:DB8:0:0::1]", "https://[2001:db8::1]"},
        {"https://xn--bcher-kva.example", "https://xn--bcher-kva.example"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[ORIGIN_MAX + 1];
        const char *why = origin_normalise(cases[i][0], out, sizeof(out));
        assert_null(why);
        assert_string_equal(out, cases[i][1]);
    }
}

static void
test_refused(void **state)
{
    (void)state;
    char longest[300];
    memset(longest, 'a', sizeof(longest) - 1);
    memcpy(longest, "https://", 8);
    longest[sizeof(longest) - 1] = '\0';
    const char *const bad[] = {
        "",
        "*",
        "null",
        "app.example.com",
        "ftp://app.example.com",
        "https://",
        "https://app.example.com/",
        "https://app.example.com/cb",
        "https://app.example.com?q",
        "https://app.example.com#f",
        "https://user@app.example.com",
        "https://app.example.com:",
        "https://app.example.com:0",
        "https://app.example.com:65536",
        "https://app.example.com:123456",
        "https://app.example.com:8x",
        "https://app..example.com",
        "https://.app.example.com",
        "https://app.example.com.",
        "https://app_example.com",
        "https://b\xc3\xbc"
        "cher.example",
        "https://exa mple.com",
        "https://[::1",
        "https://[::1]x",
        "https://[not-v6]",
        "https://[1.2.3.4]",
        "http://127.1",
        "http://127.000.0.1",
        "http://999.1.1.1",
        "http://1.2.3",
        longest,
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char out[ORIGIN_MAX + 1];
        assert_non_null(origin_normalise(bad[i], out, sizeof(out)));
    }
    char out[ORIGIN_MAX + 1];
    assert_non_null(origin_normalise(NULL, out, sizeof(out)));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalised),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
