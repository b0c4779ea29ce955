/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for common/err.c: every error has its own reason string, reasons map back to the
 * same error (they travel over gRPC), the wire names do not change, and unknown codes and
 * reasons fall back to "internal".
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <string.h>

#include "common/err.h"

/* All codes, from AUTHD_OK down to the last one before the AUTHD_ERR_MIN_ sentinel, so that a
 * newly added code is covered without touching this file. */
#define ERR_COUNT (-AUTHD_ERR_MIN_)

static void
test_reasons_distinct_and_round_trip(void **state)
{
    (void)state;
    assert_int_equal(AUTHD_ERR_MIN_, AUTHD_ERR_KEY_REFUSED - 1);
    const char *reasons[ERR_COUNT];
    for (int e = AUTHD_OK; e > AUTHD_ERR_MIN_; e--) {
        const char *r = authd_err_reason(e);
        assert_non_null(r);
        assert_true(r[0] != '\0');
        /* reasons are wire tokens: lowercase letters and '_' only */
        assert_int_equal(strspn(r, "abcdefghijklmnopqrstuvwxyz_"), strlen(r));
        for (int f = AUTHD_OK; f > e; f--)
            assert_string_not_equal(r, reasons[-f]);
        reasons[-e] = r;
        assert_int_equal(authd_err_from_reason(r, strlen(r)), e);
    }
}

static void
test_strerror(void **state)
{
    (void)state;
    for (int e = AUTHD_OK; e > AUTHD_ERR_MIN_; e--) {
        const char *t = authd_strerror(e);
        assert_non_null(t);
        assert_true(t[0] != '\0');
    }
    static const int unknown[] = {1, 42, AUTHD_ERR_MIN_, -100, INT_MIN, INT_MAX};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        assert_non_null(authd_strerror(unknown[i]));
        assert_string_equal(authd_strerror(unknown[i]), authd_strerror(AUTHD_ERR_INTERNAL));
    }
}

/* The reasons are part of the RPC contract: a rename must break this test. */
static void
test_reasons_are_stable(void **state)
{
    (void)state;
    static const struct {
        int err;
        const char *reason;
    } wire[] = {
        {AUTHD_OK, "ok"},
        {AUTHD_ERR_INTERNAL, "internal"},
        {AUTHD_ERR_NOMEM, "out_of_memory"},
        {AUTHD_ERR_INVALID_ARGUMENT, "invalid_request"},
        {AUTHD_ERR_NOT_FOUND, "not_found"},
        {AUTHD_ERR_ALREADY_EXISTS, "already_exists"},
        {AUTHD_ERR_INVALID_CREDENTIALS, "invalid_credentials"},
        {AUTHD_ERR_UNAUTHENTICATED, "unauthenticated"},
        {AUTHD_ERR_PERMISSION_DENIED, "permission_denied"},
        {AUTHD_ERR_INACTIVE, "inactive_user"},
        {AUTHD_ERR_INVALID_TOKEN, "invalid_token"},
        {AUTHD_ERR_CONFLICT, "conflict"},
        {AUTHD_ERR_WEAK_PASSWORD, "weak_password"},
        {AUTHD_ERR_INVALID_EMAIL, "invalid_email"},
        {AUTHD_ERR_TOO_LARGE, "too_large"},
        {AUTHD_ERR_UNAVAILABLE, "unavailable"},
        {AUTHD_ERR_DEADLINE, "deadline_exceeded"},
        {AUTHD_ERR_LOCKED, "locked"},
        {AUTHD_ERR_STORAGE, "storage_error"},
        {AUTHD_ERR_UNIMPLEMENTED, "unimplemented"},
        {AUTHD_ERR_ALREADY_ENABLED, "already_enabled"},
        {AUTHD_ERR_NOT_REQUESTED, "not_requested"},
        {AUTHD_ERR_WRONG_CODE, "wrong_token"},
        {AUTHD_ERR_NOT_ENABLED, "not_enabled"},
        {AUTHD_ERR_SECOND_FACTOR_REQUIRED, "second_factor_required"},
        {AUTHD_ERR_UNAUTHORIZED_CLIENT, "unauthorized_client"},
        {AUTHD_ERR_UNSUPPORTED_GRANT_TYPE, "unsupported_grant_type"},
        {AUTHD_ERR_FAILED_PRECONDITION, "failed_precondition"},
        {AUTHD_ERR_KEY_REFUSED, "key_refused"},
    };
    assert_int_equal(sizeof(wire) / sizeof(wire[0]), ERR_COUNT);
    for (size_t i = 0; i < sizeof(wire) / sizeof(wire[0]); i++)
        assert_string_equal(authd_err_reason(wire[i].err), wire[i].reason);
}

static void
test_unknown(void **state)
{
    (void)state;
    /* unknown codes report "internal" */
    static const int codes[] = {1, 42, AUTHD_ERR_MIN_, -100, INT_MIN, INT_MAX};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        assert_string_equal(authd_err_reason(codes[i]), "internal");

    /* unknown reasons map to AUTHD_ERR_INTERNAL */
    static const char *bad[] = {"",           "nope",      "OK",
                                "Internal",   "not found", "not_found ",
                                " not_found", "invalid",   "invalid_credentialsx",
                                "too_larg"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(authd_err_from_reason(bad[i], strlen(bad[i])), AUTHD_ERR_INTERNAL);
    assert_int_equal(authd_err_from_reason(NULL, 0), AUTHD_ERR_INTERNAL);
    assert_int_equal(authd_err_from_reason(NULL, 8), AUTHD_ERR_INTERNAL);

    /* only len bytes count: a prefix is not a match, and what follows len is ignored */
    assert_int_equal(authd_err_from_reason("not_found", 8), AUTHD_ERR_INTERNAL);
    assert_int_equal(authd_err_from_reason("not_found", 3), AUTHD_ERR_INTERNAL);
    assert_int_equal(authd_err_from_reason("ok", 1), AUTHD_ERR_INTERNAL);
    assert_int_equal(authd_err_from_reason("not_found,locked", 9), AUTHD_ERR_NOT_FOUND);
    assert_int_equal(authd_err_from_reason("lockedXYZ", 6), AUTHD_ERR_LOCKED);
    assert_int_equal(authd_err_from_reason("ok\0junk", 2), AUTHD_OK);
    /* an embedded NUL within len is not a match */
    assert_int_equal(authd_err_from_reason("ok\0", 3), AUTHD_ERR_INTERNAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reasons_distinct_and_round_trip),
        cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_reasons_are_stable),
        cmocka_unit_test(test_unknown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
