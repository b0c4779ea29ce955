/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for authd/svc_admin.c, called through rpc_local with a real store and a fake clock:
 * an AuthConfig put by an administrator changes what the other services do — the lockout policy
 * (free failures, first wait, doubling, the quiet window that forgets failures) and the TOTP
 * window (validPastTokensCount) — a config authd cannot honour is refused and changes nothing,
 * and only the admin role may put one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "authd/callers.h"
#include "authd/otp.h"
#include "authd/v1/admin.pb-c.h"
#include "common/err.h"
#include "proto/rpc.h"
#include "tests/unit/authd/svc_fixture.h"

#define STEP 30 /* TOTP period */

/* Admin.PutAuthConfig as a caller holding roles. */
static int
put_config(struct svc_fx *f, unsigned roles, const Authd__V1__AuthConfig *c)
{
    ProtobufCMessage *resp = NULL;
    int r = svc_call(f, roles, "Admin", "PutAuthConfig", &c->base, &resp, NULL);
    rpc_msg_free(resp);
    return r;
}

/* An AuthConfig whose password lockout per account is rule (the rest defaults). */
static int
put_password_rule(struct svc_fx *f, int32_t free_failures, int64_t first_wait, int64_t max_wait,
                  int64_t window)
{
    Authd__V1__AuthConfig c = AUTHD__V1__AUTH_CONFIG__INIT;
    Authd__V1__LockoutConfig lockout = AUTHD__V1__LOCKOUT_CONFIG__INIT;
    Authd__V1__LockoutPolicy pw = AUTHD__V1__LOCKOUT_POLICY__INIT;
    Authd__V1__LockoutRule rule = AUTHD__V1__LOCKOUT_RULE__INIT;

    rule.free_failures = free_failures;
    rule.first_wait = first_wait;
    rule.max_wait = max_wait;
    rule.window = window;
    pw.account = &rule;
    lockout.password = &pw;
    c.lockout = &lockout;
    return put_config(f, ROLE_ADMIN, &c);
}

static void
test_lockout_policy_applies(void **state)
{
    struct svc_fx *f = *state;
    struct rpc_status st;
    char id[64];
    int64_t t0;

    svc_user_create(f, "policy@example.com", SVC_PASSWORD, id);
    assert_int_equal(put_password_rule(f, 2, 10, 40, 100), AUTHD_OK);
    /* Two free failures; the third earns a 10 s lock. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(svc_login(f, "policy@example.com", "wrong password", NULL, NULL, NULL),
                         AUTHD_ERR_INVALID_CREDENTIALS);
    assert_int_equal(svc_login(f, "policy@example.com", SVC_PASSWORD, NULL, NULL, &st),
                     AUTHD_ERR_LOCKED);
    assert_int_equal(st.retry_after, 10);
    t0 = svc_fake_now;
    svc_fake_now = t0 + 9;
    assert_int_equal(svc_login(f, "policy@example.com", SVC_PASSWORD, NULL, NULL, &st),
                     AUTHD_ERR_LOCKED);
    assert_int_equal(st.retry_after, 1);
    /* The next failure doubles the wait, up to max_wait. */
    svc_fake_now = t0 + 10;
    assert_int_equal(svc_login(f, "policy@example.com", "wrong password", NULL, NULL, NULL),
                     AUTHD_ERR_INVALID_CREDENTIALS);
    assert_int_equal(svc_login(f, "policy@example.com", SVC_PASSWORD, NULL, NULL, &st),
                     AUTHD_ERR_LOCKED);
    assert_int_equal(st.retry_after, 20);
    svc_fake_now = t0 + 30;
    assert_int_equal(svc_login(f, "policy@example.com", "wrong password", NULL, NULL, NULL),
                     AUTHD_ERR_INVALID_CREDENTIALS);
    assert_int_equal(svc_login(f, "policy@example.com", SVC_PASSWORD, NULL, NULL, &st),
                     AUTHD_ERR_LOCKED);
    assert_int_equal(st.retry_after, 40);

    /* After a quiet window the failures are forgotten: two are free again. */
    svc_fake_now = t0 + 30 + 100;
    for (int i = 0; i < 2; i++)
        assert_int_equal(svc_login(f, "policy@example.com", "wrong password", NULL, NULL, NULL),
                         AUTHD_ERR_INVALID_CREDENTIALS);
    assert_int_equal(svc_login(f, "policy@example.com", SVC_PASSWORD, NULL, NULL, NULL), AUTHD_OK);
}

static void
test_invalid_or_unauthorised_config_changes_nothing(void **state)
{
    struct svc_fx *f = *state;
    Authd__V1__AuthConfig c = AUTHD__V1__AUTH_CONFIG__INIT;
    char id[64];

    svc_user_create(f, "keep@example.com", SVC_PASSWORD, id);
    /* A first wait above the maximum, and a window shorter than the maximum: refused. */
    assert_int_equal(put_password_rule(f, 1, 100, 50, 3600), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(put_password_rule(f, 1, 1, 900, 60), AUTHD_ERR_INVALID_ARGUMENT);
    /* Only an administrator may put a config. */
    c.asid_cookie_max_age = 60;
    assert_int_equal(put_config(f, ROLE_EDGE | ROLE_SERVICE, &c), AUTHD_ERR_PERMISSION_DENIED);
    /* The default policy still holds: five free failures. */
    for (int i = 0; i < 5; i++)
        assert_int_equal(svc_login(f, "keep@example.com", "wrong password", NULL, NULL, NULL),
                         AUTHD_ERR_INVALID_CREDENTIALS);
    assert_int_equal(svc_login(f, "keep@example.com", SVC_PASSWORD, NULL, NULL, NULL), AUTHD_OK);
}

/* Puts twoFactor.validPastTokensCount = n. */
static void
put_past_tokens(struct svc_fx *f, int32_t n)
{
    Authd__V1__AuthConfig c = AUTHD__V1__AUTH_CONFIG__INIT;
    Authd__V1__TwoFactorConfig tf = AUTHD__V1__TWO_FACTOR_CONFIG__INIT;

    tf.valid_past_tokens_count = n;
    c.two_factor = &tf;
    assert_int_equal(put_config(f, ROLE_ADMIN, &c), AUTHD_OK);
}

static void
test_totp_window_is_configured(void **state)
{
    struct svc_fx *f = *state;
    char id[64], token[256], secret[64], code[OTP_MAX_DIGITS + 1];

    svc_user_create(f, "window@example.com", SVC_PASSWORD, id);
    assert_int_equal(svc_login(f, "window@example.com", SVC_PASSWORD, token, NULL, NULL), AUTHD_OK);
    svc_enrol_totp(f, token, secret, NULL);

    /* Three steps back: accepted once the window is three steps wide. */
    put_past_tokens(f, 3);
    svc_fake_now += 10 * STEP;
    assert_int_equal(svc_login(f, "window@example.com", SVC_PASSWORD, token, NULL, NULL), AUTHD_OK);
    svc_totp(secret, svc_fake_now - 4 * STEP, code);
    assert_int_equal(svc_verify(f, token, code, NULL, NULL, NULL), AUTHD_ERR_WRONG_CODE);
    svc_totp(secret, svc_fake_now - 3 * STEP, code);
    assert_int_equal(svc_verify(f, token, code, NULL, NULL, NULL), AUTHD_OK);

    /* No past step at all: one step back is refused, the current step accepted. */
    put_past_tokens(f, 0);
    svc_fake_now += 10 * STEP;
    assert_int_equal(svc_login(f, "window@example.com", SVC_PASSWORD, token, NULL, NULL), AUTHD_OK);
    svc_totp(secret, svc_fake_now - STEP, code);
    assert_int_equal(svc_verify(f, token, code, NULL, NULL, NULL), AUTHD_ERR_WRONG_CODE);
    svc_totp(secret, svc_fake_now, code);
    assert_int_equal(svc_verify(f, token, code, NULL, NULL, NULL), AUTHD_OK);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lockout_policy_applies, svc_fx_setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_invalid_or_unauthorised_config_changes_nothing,
                                        svc_fx_setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_totp_window_is_configured, svc_fx_setup,
                                        svc_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
