/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for edge/http_err.c: the one mapping from enum authd_err to status and message. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/err.h"
#include "edge/http_err.h"

static struct edge_http_err
map(int err)
{
    struct edge_http_err he;
    memset(&he, 0x5a, sizeof(he)); /* the mapping must clear everything */
    edge_http_err_map(err, &he);
    return he;
}

static void
test_credentials(void **state)
{
    (void)state;
    struct edge_http_err he = map(AUTHD_ERR_INVALID_CREDENTIALS);
    assert_int_equal(he.status, 401);
    assert_string_equal(he.message, "Invalid e-mail or password");
    assert_false(he.login_redirect);
    assert_false(he.unexpected);

    he = map(AUTHD_ERR_INACTIVE);
    assert_int_equal(he.status, 403);
    assert_string_equal(he.message, "This account is deactivated");

    he = map(AUTHD_ERR_UNAUTHENTICATED);
    assert_true(he.login_redirect);
}

static void
test_tokens_and_input(void **state)
{
    (void)state;
    struct edge_http_err he = map(AUTHD_ERR_INVALID_TOKEN);
    assert_int_equal(he.status, 400);
    assert_string_equal(he.message, "This link is invalid, already used or expired");

    const int input[] = {AUTHD_ERR_WEAK_PASSWORD, AUTHD_ERR_INVALID_EMAIL,
                         AUTHD_ERR_INVALID_ARGUMENT};
    for (size_t i = 0; i < sizeof(input) / sizeof(input[0]); i++) {
        he = map(input[i]);
        assert_int_equal(he.status, 400);
        assert_false(he.login_redirect);
        /* authd_strerror's text, with a capital first letter */
        const char *text = authd_strerror(input[i]);
        assert_int_equal(strlen(he.message), strlen(text));
        assert_string_equal(he.message + 1, text + 1);
        assert_true(he.message[0] >= 'A' && he.message[0] <= 'Z');
    }
    he = map(AUTHD_ERR_WEAK_PASSWORD);
    assert_string_equal(he.message, "The password does not meet the policy");
}

/* authd's WebAuthn refusals: the user's to act on, never "something went wrong". */
static void
test_passkeys(void **state)
{
    (void)state;
    struct edge_http_err he = map(AUTHD_ERR_KEY_REFUSED);
    assert_int_equal(he.status, 400);
    assert_int_equal(he.api_status, 400);
    assert_string_equal(he.api_error, "key_refused");
    assert_string_equal(he.message, "Your passkey or security key was refused");
    assert_false(he.unexpected);
    assert_string_equal(he.oauth_error, "invalid_grant");
    he = map(AUTHD_ERR_FAILED_PRECONDITION);
    assert_int_equal(he.status, 409);
    assert_int_equal(he.api_status, 409);
    assert_string_equal(he.api_error, "failed_precondition");
    assert_false(he.unexpected);
}

static void
test_availability_and_others(void **state)
{
    (void)state;
    struct edge_http_err he = map(AUTHD_ERR_LOCKED);
    assert_int_equal(he.status, 429);
    assert_true(strlen(he.message) > 0);

    he = map(AUTHD_ERR_UNAVAILABLE);
    assert_int_equal(he.status, 503);
    assert_string_equal(he.message, "Service temporarily unavailable");
    assert_true(he.unexpected);
    he = map(AUTHD_ERR_DEADLINE);
    assert_int_equal(he.status, 503);
    assert_string_equal(he.message, "Service temporarily unavailable");

    he = map(AUTHD_ERR_ALREADY_EXISTS);
    assert_int_equal(he.status, 409);

    const int others[] = {AUTHD_ERR_INTERNAL,      AUTHD_ERR_NOMEM,
                          AUTHD_ERR_STORAGE,       AUTHD_ERR_PERMISSION_DENIED,
                          AUTHD_ERR_UNIMPLEMENTED, AUTHD_ERR_CONFLICT,
                          AUTHD_ERR_NOT_FOUND,     -12345};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        he = map(others[i]);
        assert_int_equal(he.status, 500);
        assert_string_equal(he.message, "Something went wrong");
        assert_true(he.unexpected);
        assert_false(he.login_redirect);
    }

    he = map(AUTHD_OK);
    assert_int_equal(he.status, 200);
    assert_string_equal(he.message, "");
}

static void
test_two_factor(void **state)
{
    (void)state;
    struct edge_http_err he = map(AUTHD_ERR_WRONG_CODE);
    assert_int_equal(he.status, 401);
    assert_string_equal(he.message, "Invalid or already used code");
    assert_false(he.login_redirect); /* the form is shown again, not the login page */
    assert_false(he.unexpected);
    assert_int_equal(he.api_status, 422);
    assert_string_equal(he.api_error, "wrong_token");

    he = map(AUTHD_ERR_SECOND_FACTOR_REQUIRED);
    assert_int_equal(he.status, 401);
    assert_false(he.login_redirect);
    assert_string_equal(he.message,
                        "Enter a current code from your authenticator app or a recovery code");
    assert_int_equal(he.api_status, 422);

    he = map(AUTHD_ERR_ALREADY_ENABLED);
    assert_int_equal(he.status, 409);
    assert_int_equal(he.api_status, 422);
    assert_string_equal(he.api_error, "already_enabled");
    assert_false(he.unexpected);

    he = map(AUTHD_ERR_NOT_REQUESTED);
    assert_int_equal(he.status, 400);
    assert_int_equal(he.api_status, 422);
    assert_string_equal(he.api_error, "not_requested");

    he = map(AUTHD_ERR_NOT_ENABLED);
    assert_int_equal(he.status, 400);
    assert_int_equal(he.api_status, 422);
    assert_string_equal(he.api_error, "not_enabled");

    /* every two-factor refusal has a message and is the user's, not the operator's */
    const int all[] = {AUTHD_ERR_WRONG_CODE, AUTHD_ERR_SECOND_FACTOR_REQUIRED,
                       AUTHD_ERR_ALREADY_ENABLED, AUTHD_ERR_NOT_REQUESTED, AUTHD_ERR_NOT_ENABLED};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        he = map(all[i]);
        assert_true(strlen(he.message) > 0);
        assert_true(he.message[0] >= 'A' && he.message[0] <= 'Z');
        assert_false(he.unexpected);
        /* the API codes are authd's own reasons, so clients can match either */
        assert_string_equal(he.api_error, authd_err_reason(all[i]));
    }
}

static void
test_api_mapping(void **state)
{
    (void)state;
    struct edge_http_err he = map(AUTHD_ERR_UNAUTHENTICATED);
    assert_int_equal(he.api_status, 401);
    assert_string_equal(he.api_error, "unauthorized");
    he = map(AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(he.api_status, 400);
    assert_string_equal(he.api_error, "invalid_request");
    he = map(AUTHD_ERR_LOCKED);
    assert_int_equal(he.api_status, 429);
    he = map(AUTHD_ERR_UNAVAILABLE);
    assert_int_equal(he.api_status, 503);
    he = map(AUTHD_ERR_DEADLINE);
    assert_int_equal(he.api_status, 503);
    he = map(AUTHD_ERR_INTERNAL);
    assert_int_equal(he.api_status, 500);
    assert_string_equal(he.api_error, "server_error");
    he = map(-12345);
    assert_int_equal(he.api_status, 500);
    he = map(AUTHD_OK);
    assert_int_equal(he.api_status, 200);
    assert_string_equal(he.api_error, "");
    /* every error has an API status and code (none left at 0 by a forgotten case) */
    for (int e = AUTHD_ERR_MIN_ + 1; e < 0; e++) {
        he = map(e);
        assert_true(he.api_status >= 400 && he.api_status <= 599);
        assert_true(strlen(he.api_error) > 0);
    }
}

static void
test_oauth_mapping(void **state)
{
    (void)state;
    static const struct {
        int err;
        int status;
        const char *error;
    } want[] = {
        {AUTHD_ERR_INVALID_CREDENTIALS, 401, "invalid_client"},
        {AUTHD_ERR_INVALID_TOKEN, 400, "invalid_grant"},
        {AUTHD_ERR_PERMISSION_DENIED, 400, "unauthorized_client"},
        {AUTHD_ERR_UNAUTHORIZED_CLIENT, 400, "unauthorized_client"},
        {AUTHD_ERR_UNSUPPORTED_GRANT_TYPE, 400, "unsupported_grant_type"},
        /* no such method: an authd without the OAuth service, not the client's mistake */
        {AUTHD_ERR_UNIMPLEMENTED, 500, "server_error"},
        {AUTHD_ERR_INVALID_ARGUMENT, 400, "invalid_request"},
        {AUTHD_ERR_TOO_LARGE, 400, "invalid_request"},
        {AUTHD_ERR_LOCKED, 429, "temporarily_unavailable"}, /* RFC 6749 has no "locked" */
        {AUTHD_ERR_UNAUTHENTICATED, 401, "invalid_token"},
        {AUTHD_ERR_INACTIVE, 400, "invalid_grant"},
        {AUTHD_ERR_WRONG_CODE, 400, "invalid_grant"},
        {AUTHD_ERR_UNAVAILABLE, 503, "temporarily_unavailable"},
        {AUTHD_ERR_DEADLINE, 503, "temporarily_unavailable"},
        {AUTHD_ERR_INTERNAL, 500, "server_error"},
        {AUTHD_ERR_STORAGE, 500, "server_error"},
        {-12345, 500, "server_error"},
        {AUTHD_OK, 200, ""},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        struct edge_http_err he = map(want[i].err);
        assert_int_equal(he.oauth_status, want[i].status);
        assert_string_equal(he.oauth_error, want[i].error);
    }
    /* the page view is unchanged by the OAuth one */
    struct edge_http_err he = map(AUTHD_ERR_PERMISSION_DENIED);
    assert_int_equal(he.status, 500);
    assert_true(he.unexpected);
    /* every error has an OAuth status and code */
    for (int e = AUTHD_ERR_MIN_ + 1; e < 0; e++) {
        he = map(e);
        assert_true(he.oauth_status >= 400 && he.oauth_status <= 599);
        assert_true(strlen(he.oauth_error) > 0);
    }
}

/* Retry-After from authd's authd-retry-after seconds (rpc_status.retry_after). */
static void
test_retry_after(void **state)
{
    (void)state;
    static const struct {
        int64_t seconds;
        long want;
    } cases[] = {
        {7, 7},
        {900, 900},
        {3600, 3600},
        {1, 1},
        {EDGE_RETRY_AFTER_MAX, EDGE_RETRY_AFTER_MAX},
        {EDGE_RETRY_AFTER_MAX + 1, EDGE_RETRY_AFTER_MAX},
        {INT64_MAX, EDGE_RETRY_AFTER_MAX},
        {0, 0},
        {-5, 0},
        {INT64_MIN, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (edge_http_retry_after(AUTHD_ERR_LOCKED, cases[i].seconds) != cases[i].want)
            fail_msg("case %zu %lld: %ld, want %ld", i, (long long)cases[i].seconds,
                     edge_http_retry_after(AUTHD_ERR_LOCKED, cases[i].seconds), cases[i].want);
    /* Only a lockout has one. */
    assert_int_equal(edge_http_retry_after(AUTHD_ERR_INVALID_CREDENTIALS, 5), 0);
    assert_int_equal(edge_http_retry_after(AUTHD_OK, 5), 0);
}

/* Durations as people read them, never shorter than the truth. */
static void
test_duration_text(void **state)
{
    (void)state;
    static const struct {
        int64_t seconds;
        const char *want;
    } cases[] = {
        {-3, "1 second"},     {0, "1 second"},       {1, "1 second"},    {45, "45 seconds"},
        {119, "119 seconds"}, {120, "2 minutes"},    {121, "3 minutes"}, {600, "10 minutes"},
        {3600, "60 minutes"}, {7199, "120 minutes"}, {7200, "2 hours"},  {86400, "24 hours"},
        {172800, "2 days"},   {2592000, "30 days"},
    };
    char out[32];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        edge_http_duration_text(cases[i].seconds, out, sizeof(out));
        if (strcmp(out, cases[i].want) != 0)
            fail_msg("case %zu %lld: %s, want %s", i, (long long)cases[i].seconds, out,
                     cases[i].want);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_credentials),
        cmocka_unit_test(test_tokens_and_input),
        cmocka_unit_test(test_availability_and_others),
        cmocka_unit_test(test_passkeys),
        cmocka_unit_test(test_two_factor),
        cmocka_unit_test(test_api_mapping),
        cmocka_unit_test(test_oauth_mapping),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_duration_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
