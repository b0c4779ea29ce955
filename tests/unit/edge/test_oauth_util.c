/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for edge/oauth_util.c: the HTTP Basic client-credentials parser (RFC 6749
 * §2.3.1: base64 of urlencoded id ":" urlencoded secret), the choice between Basic and body
 * credentials, the split of authd's "<error>: <description>" status message and the OAuth
 * error it maps to, and JSON string escaping.
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
#include "common/err.h"
#include "edge/oauth_util.h"

/* ---- helpers --------------------------------------------------------------------------- */

/* "Basic " + standard base64 (with padding) of the n bytes at raw, in a static buffer. */
static const char *
basic_n(const char *raw, size_t n)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static char out[8192];
    size_t o = (size_t)snprintf(out, sizeof(out), "Basic ");
    const unsigned char *p = (const unsigned char *)raw;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        assert_true(o + 5 < sizeof(out));
        out[o++] = tbl[(v >> 18) & 63];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tbl[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

static const char *
basic(const char *raw)
{
    return basic_n(raw, strlen(raw));
}

static void
parse_ok(const char *header, const char *id, const char *secret)
{
    struct edge_oauth_basic b;
    memset(&b, 0x5a, sizeof(b)); /* the parser must clear everything */
    assert_int_equal(edge_oauth_basic_parse(header, &b), AUTHD_OK);
    assert_int_equal(b.present, 1);
    assert_string_equal(b.id, id);
    assert_string_equal(b.secret, secret);
}

static void
parse_err(const char *header, int want)
{
    struct edge_oauth_basic b;
    memset(&b, 0x5a, sizeof(b));
    assert_int_equal(edge_oauth_basic_parse(header, &b), want);
    assert_int_equal(b.present, 1); /* a Basic attempt: the answer needs the challenge */
    assert_string_equal(b.id, "");
    assert_string_equal(b.secret, "");
}

static void
json_is(const char *in, const char *want)
{
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(edge_oauth_json_str(&b, in), AUTHD_OK);
    assert_string_equal(b.data, want);
    buf_free(&b);
}

/* ---- Basic ----------------------------------------------------------------------------- */

static void
test_basic_absent(void **state)
{
    (void)state;
    struct edge_oauth_basic b;
    memset(&b, 0x5a, sizeof(b));
    assert_int_equal(edge_oauth_basic_parse(NULL, &b), AUTHD_OK);
    assert_int_equal(b.present, 0);
    assert_string_equal(b.id, "");
    /* another scheme, or a word that merely starts with "Basic", is not a Basic header */
    assert_int_equal(edge_oauth_basic_parse("Bearer abc", &b), AUTHD_OK);
    assert_int_equal(b.present, 0);
    assert_int_equal(edge_oauth_basic_parse("Basically bXk6cw==", &b), AUTHD_OK);
    assert_int_equal(b.present, 0);
}

static void
test_basic_valid(void **state)
{
    (void)state;
    parse_ok(basic("my-client:s3cret"), "my-client", "s3cret");
    /* the scheme is case-insensitive; extra spaces around the credentials are fine */
    parse_ok("basic bXktY2xpZW50OnMzY3JldA==", "my-client", "s3cret");
    parse_ok("Basic   bXktY2xpZW50OnMzY3JldA==  ", "my-client", "s3cret");
    /* padding may be left out */
    parse_ok("Basic bXktY2xpZW50OnMzY3JldA", "my-client", "s3cret");
    /* the first ':' splits: the secret may hold more */
    parse_ok(basic("app:p@ss:w0rd"), "app", "p@ss:w0rd");
    /* a public client: empty secret */
    parse_ok(basic("id:"), "id", "");
    /* the longest id and secret that fit */
    char raw[EDGE_OAUTH_CLIENT_ID_MAX + EDGE_OAUTH_CLIENT_SECRET_MAX + 2];
    memset(raw, 'i', EDGE_OAUTH_CLIENT_ID_MAX);
    raw[EDGE_OAUTH_CLIENT_ID_MAX] = ':';
    memset(raw + EDGE_OAUTH_CLIENT_ID_MAX + 1, 's', EDGE_OAUTH_CLIENT_SECRET_MAX);
    raw[sizeof(raw) - 1] = '\0';
    struct edge_oauth_basic b;
    assert_int_equal(edge_oauth_basic_parse(basic(raw), &b), AUTHD_OK);
    assert_int_equal(strlen(b.id), EDGE_OAUTH_CLIENT_ID_MAX);
    assert_int_equal(strlen(b.secret), EDGE_OAUTH_CLIENT_SECRET_MAX);
}

static void
test_basic_percent_encoded(void **state)
{
    (void)state;
    /* RFC 6749 §2.3.1: id and secret are form-urlencoded before base64 */
    parse_ok(basic("a%3Ab:%2Bx%25"), "a:b", "+x%");
    parse_ok(basic("my+app:s%20e+c"), "my app", "s e c");
    parse_ok(basic("%C3%A9t%C3%A9:%7e"), "\xc3\xa9t\xc3\xa9", "~");
    /* bad escapes */
    parse_err(basic("id:%zz"), AUTHD_ERR_INVALID_ARGUMENT);
    parse_err(basic("id:%4"), AUTHD_ERR_INVALID_ARGUMENT);
    parse_err(basic("i%d:x"), AUTHD_ERR_INVALID_ARGUMENT);
    /* NUL and control bytes, raw or escaped */
    parse_err(basic_n("c:s\0x", 5), AUTHD_ERR_INVALID_ARGUMENT);
    parse_err(basic("c:%00"), AUTHD_ERR_INVALID_ARGUMENT);
    parse_err(basic("c%0A:s"), AUTHD_ERR_INVALID_ARGUMENT);
    parse_err(basic("c:s\r\n"), AUTHD_ERR_INVALID_ARGUMENT);
}

static void
test_basic_missing_colon(void **state)
{
    (void)state;
    parse_err(basic("just-an-id"), AUTHD_ERR_INVALID_ARGUMENT);
    /* an escaped ':' does not split */
    parse_err(basic("id%3Asecret"), AUTHD_ERR_INVALID_ARGUMENT);
}

static void
test_basic_bad_base64(void **state)
{
    (void)state;
    parse_err("Basic !!!!", AUTHD_ERR_INVALID_ARGUMENT);
    parse_err("Basic bXk6c-_=", AUTHD_ERR_INVALID_ARGUMENT); /* base64url is not base64 */
    parse_err("Basic a", AUTHD_ERR_INVALID_ARGUMENT);        /* impossible length */
    parse_err("Basic aWQ6=", AUTHD_ERR_INVALID_ARGUMENT);    /* padding where none belongs */
    parse_err("Basic aWQ===", AUTHD_ERR_INVALID_ARGUMENT);   /* three '=' */
    parse_err("Basic aWR=", AUTHD_ERR_INVALID_ARGUMENT);     /* non-zero unused bits */
    parse_ok("Basic aWQ6cw==", "id", "s");
    parse_err("Basic aWQ6cx==", AUTHD_ERR_INVALID_ARGUMENT); /* same bytes, unused bits set */
    parse_err("Basic aW Q6", AUTHD_ERR_INVALID_ARGUMENT);    /* space inside */
    parse_err("Basic bXk6cw==x", AUTHD_ERR_INVALID_ARGUMENT);
}

static void
test_basic_empty(void **state)
{
    (void)state;
    parse_err("Basic", AUTHD_ERR_INVALID_ARGUMENT);
    parse_err("Basic ", AUTHD_ERR_INVALID_ARGUMENT);
    parse_err("Basic    ", AUTHD_ERR_INVALID_ARGUMENT);
    parse_err(basic(":secret"), AUTHD_ERR_INVALID_ARGUMENT); /* empty id */
    parse_err(basic(":"), AUTHD_ERR_INVALID_ARGUMENT);
}

static void
test_basic_oversized(void **state)
{
    (void)state;
    /* more base64 than EDGE_OAUTH_BASIC_MAX: refused before decoding */
    size_t n = strlen("Basic ") + EDGE_OAUTH_BASIC_MAX + 4;
    char *h = malloc(n + 1);
    assert_non_null(h);
    memcpy(h, "Basic ", 6);
    memset(h + 6, 'A', n - 6);
    h[n] = '\0';
    parse_err(h, AUTHD_ERR_TOO_LARGE);
    free(h);

    /* an id or a secret one byte over its maximum */
    char raw[EDGE_OAUTH_CLIENT_SECRET_MAX + 8];
    memset(raw, 'i', EDGE_OAUTH_CLIENT_ID_MAX + 1);
    memcpy(raw + EDGE_OAUTH_CLIENT_ID_MAX + 1, ":s", 3);
    parse_err(basic(raw), AUTHD_ERR_TOO_LARGE);
    raw[0] = 'i';
    raw[1] = ':';
    memset(raw + 2, 's', EDGE_OAUTH_CLIENT_SECRET_MAX + 1);
    raw[EDGE_OAUTH_CLIENT_SECRET_MAX + 3] = '\0';
    parse_err(basic(raw), AUTHD_ERR_TOO_LARGE);
    /* escapes count after decoding: 255 "%41" is a 255-byte id, which fits */
    char esc[EDGE_OAUTH_CLIENT_ID_MAX * 3 + 3];
    for (int i = 0; i < EDGE_OAUTH_CLIENT_ID_MAX; i++)
        memcpy(esc + i * 3, "%41", 3);
    memcpy(esc + EDGE_OAUTH_CLIENT_ID_MAX * 3, ":s", 3);
    struct edge_oauth_basic b;
    assert_int_equal(edge_oauth_basic_parse(basic(esc), &b), AUTHD_OK);
    assert_int_equal(strlen(b.id), EDGE_OAUTH_CLIENT_ID_MAX);
}

/* ---- which credentials ----------------------------------------------------------------- */

static void
test_client_auth(void **state)
{
    (void)state;
    struct edge_oauth_basic b;
    struct edge_oauth_client c;

    /* Basic only */
    assert_int_equal(edge_oauth_client_auth(basic("app:pw"), NULL, NULL, &b, &c), AUTHD_OK);
    assert_string_equal(c.id, "app");
    assert_string_equal(c.secret, "pw");
    assert_int_equal(c.basic, 1);

    /* body only (client_secret_post, or a public client with client_id) */
    assert_int_equal(edge_oauth_client_auth(NULL, "app", "pw", &b, &c), AUTHD_OK);
    assert_string_equal(c.id, "app");
    assert_string_equal(c.secret, "pw");
    assert_int_equal(c.basic, 0);
    assert_int_equal(edge_oauth_client_auth("Bearer x", "pub", NULL, &b, &c), AUTHD_OK);
    assert_string_equal(c.id, "pub");
    assert_string_equal(c.secret, "");

    /* nothing at all: authd decides (invalid_client) */
    assert_int_equal(edge_oauth_client_auth(NULL, NULL, NULL, &b, &c), AUTHD_OK);
    assert_string_equal(c.id, "");
    assert_string_equal(c.secret, "");

    /* Basic plus the same client_id in the body is allowed */
    assert_int_equal(edge_oauth_client_auth(basic("app:pw"), "app", NULL, &b, &c), AUTHD_OK);
    assert_string_equal(c.id, "app");

    /* two methods at once */
    assert_int_equal(edge_oauth_client_auth(basic("app:pw"), "other", NULL, &b, &c),
                     AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(c.basic, 1);
    assert_int_equal(edge_oauth_client_auth(basic("app:pw"), "app", "pw", &b, &c),
                     AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(edge_oauth_client_auth(basic("app:pw"), NULL, "pw2", &b, &c),
                     AUTHD_ERR_INVALID_ARGUMENT);

    /* a malformed Basic header is invalid_client, and the body is not used instead */
    assert_int_equal(edge_oauth_client_auth("Basic !!!!", "app", "pw", &b, &c),
                     AUTHD_ERR_INVALID_CREDENTIALS);
    assert_int_equal(c.basic, 1);
    assert_string_equal(c.id, "");
    assert_string_equal(c.secret, "");
}

/* ---- authd's refusal -> RFC 6749 §5.2 ------------------------------------------------ */

static void
from_is(int err, const char *code, const char *msg, int status, const char *error,
        const char *description)
{
    struct edge_oauth_error oe;
    memset(&oe, 0x5a, sizeof(oe));
    edge_oauth_error_from(err, code, msg, &oe);
    assert_int_equal(oe.status, status);
    assert_string_equal(oe.error, error);
    if (description != NULL)
        assert_string_equal(oe.description, description);
    assert_int_equal(oe.unexpected, status >= 500);
}

static void
test_error_from(void **state)
{
    (void)state;
    from_is(AUTHD_ERR_INVALID_TOKEN, "invalid_grant", "code expired", 400, "invalid_grant",
            "code expired");
    from_is(AUTHD_ERR_INVALID_CREDENTIALS, "invalid_client", "unknown client", 401,
            "invalid_client", "unknown client");
    from_is(AUTHD_ERR_INVALID_ARGUMENT, "invalid_scope", "unknown scope", 400, "invalid_scope",
            "unknown scope");
    /* the code decides 401 for invalid_client whatever the enum */
    from_is(AUTHD_ERR_INVALID_ARGUMENT, "invalid_client", "no secret", 401, "invalid_client", NULL);
    from_is(AUTHD_ERR_UNSUPPORTED_GRANT_TYPE, "unsupported_grant_type", "device_code", 400,
            "unsupported_grant_type", "device_code");
    from_is(AUTHD_ERR_UNAUTHORIZED_CLIENT, "unauthorized_client", "not this grant", 400,
            "unauthorized_client", "not this grant");
    from_is(AUTHD_ERR_LOCKED, "temporarily_unavailable", "too many attempts", 429,
            "temporarily_unavailable", "too many attempts");
    /* a code no RFC registers (an older authd's "locked"): the default, without description */
    from_is(AUTHD_ERR_LOCKED, "locked", "too many attempts", 429, "temporarily_unavailable", "");
    from_is(AUTHD_ERR_INVALID_CREDENTIALS, "no_such_client", "x", 401, "invalid_client", "");
    /* registered codes of the pages that share this mapping pass (OIDC Core, RFC 8707) */
    from_is(AUTHD_ERR_INVALID_ARGUMENT, "request_not_supported", "no request objects", 400,
            "request_not_supported", "no request objects");
    from_is(AUTHD_ERR_INVALID_ARGUMENT, "invalid_target", "audience", 400, "invalid_target",
            "audience");
    from_is(AUTHD_ERR_UNAUTHENTICATED, "invalid_token", "expired", 401, "invalid_token", "expired");
    /* the message is a description only: a "code: " prefix in it is not read */
    from_is(AUTHD_ERR_INVALID_TOKEN, NULL, "invalid_client: x", 400, "invalid_grant", "");
    /* no code: the enum's default code, and no description */
    from_is(AUTHD_ERR_UNSUPPORTED_GRANT_TYPE, "", "unsupported grant type", 400,
            "unsupported_grant_type", "");
    from_is(AUTHD_ERR_PERMISSION_DENIED, NULL, "permission denied", 400, "unauthorized_client", "");
    from_is(AUTHD_ERR_INVALID_CREDENTIALS, NULL, NULL, 401, "invalid_client", "");
    from_is(AUTHD_ERR_INVALID_TOKEN, "", "", 400, "invalid_grant", "");
    from_is(AUTHD_ERR_INVALID_ARGUMENT, NULL, "malformed request message", 400, "invalid_request",
            "");
    /* an authd without the OAuth service: not "unsupported_grant_type", whatever it says */
    from_is(AUTHD_ERR_UNIMPLEMENTED, NULL, "unknown method", 500, "server_error",
            "The OAuth service is not available");
    from_is(AUTHD_ERR_UNIMPLEMENTED, "unsupported_grant_type", "x", 500, "server_error",
            "The OAuth service is not available");
    /* transport failures: fixed text, never the transport's message */
    struct edge_oauth_error oe;
    edge_oauth_error_from(AUTHD_ERR_UNAVAILABLE, NULL, "failed to connect to 10.0.0.7:50051", &oe);
    assert_int_equal(oe.status, 503);
    assert_string_equal(oe.error, "temporarily_unavailable");
    assert_null(strstr(oe.description, "10.0.0.7"));
    assert_int_equal(oe.unexpected, 1);
    edge_oauth_error_from(AUTHD_ERR_DEADLINE, "invalid_grant", "x", &oe);
    assert_int_equal(oe.status, 503);
    assert_string_equal(oe.error, "temporarily_unavailable");
    edge_oauth_error_from(AUTHD_ERR_INTERNAL, "server_error", "stack trace here", &oe);
    assert_int_equal(oe.status, 500);
    assert_string_equal(oe.error, "server_error");
    assert_null(strstr(oe.description, "stack"));
}

/* ---- JSON ------------------------------------------------------------------------------ */

static void
test_json_str(void **state)
{
    (void)state;
    json_is("plain", "\"plain\"");
    json_is(NULL, "\"\"");
    json_is("", "\"\"");
    json_is("say \"hi\"", "\"say \\\"hi\\\"\"");
    json_is("back\\slash", "\"back\\\\slash\"");
    json_is("a\nb\rc\td", "\"a\\nb\\rc\\td\"");
    json_is("\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"");
    json_is("</script>", "\"</script>\"");
    /* valid UTF-8 is kept */
    json_is("\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91", "\"\xc3\xa9t\xc3\xa9 \xe2\x82\xac "
                                                               "\xf0\x9f\x94\x91\"");
    /* invalid UTF-8: every bad byte becomes U+FFFD */
    json_is("a\xff"
            "b",
            "\"a\\ufffdb\"");
    json_is("\xc0\xaf", "\"\\ufffd\\ufffd\"");                       /* overlong '/' */
    json_is("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");            /* a surrogate */
    json_is("x\xe2\x82", "\"x\\ufffd\\ufffd\"");                     /* cut short at the end */
    json_is("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); /* past U+10FFFF */
}

static void
test_error_json(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(edge_oauth_error_json(&b, "invalid_request", "the \"scope\" is bad\\"),
                     AUTHD_OK);
    assert_string_equal(
        b.data,
        "{\"error\":\"invalid_request\",\"error_description\":\"the \\\"scope\\\" is bad\\\\\"}");
    buf_free(&b);

    /* no description: the member is left out */
    assert_int_equal(edge_oauth_error_json(&b, "invalid_grant", NULL), AUTHD_OK);
    assert_string_equal(b.data, "{\"error\":\"invalid_grant\"}");
    buf_free(&b);
    assert_int_equal(edge_oauth_error_json(&b, "invalid_grant", ""), AUTHD_OK);
    assert_string_equal(b.data, "{\"error\":\"invalid_grant\"}");
    buf_free(&b);

    /* a quote in the code cannot end the string either */
    assert_int_equal(edge_oauth_error_json(&b, "x\",\"admin\":true,\"y", "d"), AUTHD_OK);
    assert_string_equal(
        b.data, "{\"error\":\"x\\\",\\\"admin\\\":true,\\\"y\",\"error_description\":\"d\"}");
    buf_free(&b);

    /* the buffer's maximum is respected and reported */
    buf_init(&b, 16);
    assert_int_equal(edge_oauth_error_json(&b, "invalid_request", "long enough to overflow"),
                     AUTHD_ERR_TOO_LARGE);
    buf_free(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_absent),
        cmocka_unit_test(test_basic_valid),
        cmocka_unit_test(test_basic_percent_encoded),
        cmocka_unit_test(test_basic_missing_colon),
        cmocka_unit_test(test_basic_bad_base64),
        cmocka_unit_test(test_basic_empty),
        cmocka_unit_test(test_basic_oversized),
        cmocka_unit_test(test_client_auth),
        cmocka_unit_test(test_error_from),
        cmocka_unit_test(test_json_str),
        cmocka_unit_test(test_error_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
