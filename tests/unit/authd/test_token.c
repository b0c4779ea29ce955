/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for authd/token.c: bearer tokens "<id>.<secret>" (creation, strict parsing,
 * constant-time matching of the stored SHA-256) and random version-4 UUIDs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/err.h"
#include "common/secret.h"
#include "authd/token.h"

static void
test_new_parses_back(void **state)
{
    (void)state;
    struct token t, p;

    assert_int_equal(token_new(&t), AUTHD_OK);
    assert_int_equal(strlen(t.text), TOKEN_LEN);
    assert_int_equal(strlen(t.id), TOKEN_ID_LEN);
    assert_int_equal(t.text[TOKEN_ID_LEN], '.');
    assert_memory_equal(t.text, t.id, TOKEN_ID_LEN);

    assert_int_equal(token_parse(t.text, &p), AUTHD_OK);
    assert_string_equal(p.text, t.text);
    assert_string_equal(p.id, t.id);
    assert_memory_equal(p.hash, t.hash, 32);

    /* The hash is SHA-256 of the 32 decoded secret bytes. */
    uint8_t secret[32], want[32];
    assert_int_equal(
        secret_b64url_decode(t.text + TOKEN_ID_LEN + 1, TOKEN_SECRET_LEN, secret, sizeof(secret)),
        32);
    secret_sha256(secret, sizeof(secret), want);
    assert_memory_equal(t.hash, want, 32);
    /* and the id decodes to 16 bytes */
    uint8_t id[16];
    assert_int_equal(secret_b64url_decode(t.id, TOKEN_ID_LEN, id, sizeof(id)), 16);

    token_wipe(&t);
    token_wipe(&p);
    static const uint8_t zero[sizeof(struct token)];
    assert_memory_equal(&t, zero, sizeof(t));
}

static void
test_tokens_differ(void **state)
{
    (void)state;
    struct token a, b;
    assert_int_equal(token_new(&a), AUTHD_OK);
    assert_int_equal(token_new(&b), AUTHD_OK);
    assert_string_not_equal(a.text, b.text);
    assert_string_not_equal(a.id, b.id);
    assert_memory_not_equal(a.hash, b.hash, 32);
    /* The secret halves differ too, not just the ids. */
    assert_memory_not_equal(a.text + TOKEN_ID_LEN + 1, b.text + TOKEN_ID_LEN + 1, TOKEN_SECRET_LEN);
}

static void
test_matches(void **state)
{
    (void)state;
    struct token t, other;
    uint8_t stored[32];
    assert_int_equal(token_new(&t), AUTHD_OK);
    assert_int_equal(token_new(&other), AUTHD_OK);
    memcpy(stored, t.hash, 32);

    assert_true(token_matches(&t, stored, 32));
    assert_false(token_matches(&other, stored, 32));
    assert_false(token_matches(&t, stored, 31));
    assert_false(token_matches(&t, stored, 33));
    assert_false(token_matches(&t, NULL, 32));
    for (int i = 0; i < 32; i++) {
        stored[i] ^= 0x01;
        assert_false(token_matches(&t, stored, 32));
        stored[i] ^= 0x01;
    }
    /* A token presented again (parsed from text) matches what was stored at creation. */
    struct token p;
    assert_int_equal(token_parse(t.text, &p), AUTHD_OK);
    assert_true(token_matches(&p, stored, 32));
}

static void
expect_invalid(const char *s)
{
    struct token t;
    memset(&t, 'Z', sizeof(t));
    int r = token_parse(s, &t);
    if (r != AUTHD_ERR_INVALID_TOKEN)
        print_error("accepted: %s\n", s != NULL ? s : "(null)");
    assert_int_equal(r, AUTHD_ERR_INVALID_TOKEN);
    /* Nothing of a refused token stays behind in the output. */
    assert_int_equal(t.text[0], '\0');
    assert_int_equal(t.id[0], '\0');
}

static void
test_malformed(void **state)
{
    (void)state;
    struct token good;
    char s[TOKEN_LEN + 8];
    assert_int_equal(token_new(&good), AUTHD_OK);

    expect_invalid(NULL);
    expect_invalid("");
    expect_invalid(".");

    /* wrong length: one short, one long */
    memcpy(s, good.text, TOKEN_LEN - 1);
    s[TOKEN_LEN - 1] = '\0';
    expect_invalid(s);
    memcpy(s, good.text, TOKEN_LEN);
    s[TOKEN_LEN] = 'A';
    s[TOKEN_LEN + 1] = '\0';
    expect_invalid(s);

    /* missing dot, dot moved */
    memcpy(s, good.text, TOKEN_LEN + 1);
    s[TOKEN_ID_LEN] = 'A';
    expect_invalid(s);
    memcpy(s, good.text, TOKEN_LEN + 1);
    s[TOKEN_ID_LEN] = s[TOKEN_ID_LEN - 1];
    s[TOKEN_ID_LEN - 1] = '.';
    expect_invalid(s);

    /* bad characters in the id and in the secret */
    const char badchars[] = {'+', '/', '=', ' ', '.', '\n', (char)0x80, (char)0xff};
    const size_t positions[] = {0, TOKEN_ID_LEN - 1, TOKEN_ID_LEN + 1, TOKEN_LEN - 1, 30};
    for (size_t i = 0; i < sizeof(badchars); i++) {
        for (size_t j = 0; j < sizeof(positions) / sizeof(positions[0]); j++) {
            memcpy(s, good.text, TOKEN_LEN + 1);
            s[positions[j]] = badchars[i];
            expect_invalid(s);
        }
    }
    /* an embedded NUL makes it short */
    memcpy(s, good.text, TOKEN_LEN + 1);
    s[10] = '\0';
    expect_invalid(s);

    /*
     * Non-canonical base64url: the last secret char carries 2 unused bits, the last id char 4.
     * 'B' (value 1) sets an unused bit in both; 'A' (0) is canonical.
     */
    memcpy(s, good.text, TOKEN_LEN + 1);
    s[TOKEN_LEN - 1] = 'A';
    struct token t;
    assert_int_equal(token_parse(s, &t), AUTHD_OK);
    s[TOKEN_LEN - 1] = 'B';
    expect_invalid(s);
    s[TOKEN_LEN - 1] = 'D';
    expect_invalid(s);
    s[TOKEN_LEN - 1] = 'E'; /* value 4: unused bits zero, canonical */
    assert_int_equal(token_parse(s, &t), AUTHD_OK);

    memcpy(s, good.text, TOKEN_LEN + 1);
    s[TOKEN_ID_LEN - 1] = 'Q'; /* value 16: canonical */
    assert_int_equal(token_parse(s, &t), AUTHD_OK);
    s[TOKEN_ID_LEN - 1] = 'R'; /* value 17 */
    expect_invalid(s);
    s[TOKEN_ID_LEN - 1] = 'P'; /* value 15 */
    expect_invalid(s);

    /* the unmodified token is still fine */
    assert_int_equal(token_parse(good.text, &t), AUTHD_OK);
}

static int
is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static void
test_uuid(void **state)
{
    (void)state;
    char u[37], prev[37] = "";
    for (int n = 0; n < 200; n++) {
        memset(u, 'x', sizeof(u));
        assert_int_equal(token_uuid(u), AUTHD_OK);
        assert_int_equal(strlen(u), 36);
        for (int i = 0; i < 36; i++) {
            if (i == 8 || i == 13 || i == 18 || i == 23)
                assert_int_equal(u[i], '-');
            else
                assert_true(is_lower_hex(u[i]));
        }
        assert_int_equal(u[14], '4');           /* version nibble */
        assert_non_null(strchr("89ab", u[19])); /* RFC 4122 variant */
        assert_string_not_equal(u, prev);
        memcpy(prev, u, sizeof(u));
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_parses_back),
        cmocka_unit_test(test_tokens_differ),
        cmocka_unit_test(test_matches),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_uuid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
