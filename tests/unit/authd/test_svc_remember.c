/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Remembered browsers through the services (Sessions.Login's device_token, VerifySecondFactor's
 * remember_browser), on the shared service fixture with its fake clock: the second factor is
 * skipped only after a right password, only for the same user, only until the record expires and
 * only while the AuthConfig allows it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "authd/otp.h"
#include "authd/roles.h"
#include "authd/token.h"
#include "authd/v1/admin.pb-c.h"
#include "authd/v1/sessions.pb-c.h"
#include "common/err.h"
#include "svc_fixture.h"

#define UA "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"

/* Admin.PutAuthConfig with twoFactor.rememberBrowserDays = days. */
static void
put_days(struct svc_fx *f, int days)
{
    Authd__V1__TwoFactorConfig tf = AUTHD__V1__TWO_FACTOR_CONFIG__INIT;
    Authd__V1__AuthConfig c = AUTHD__V1__AUTH_CONFIG__INIT;
    ProtobufCMessage *resp = NULL;
    tf.valid_past_tokens_count = 1;
    tf.remember_browser_days = days;
    c.two_factor = &tf;
    assert_int_equal(svc_call(f, ROLE_ADMIN, "Admin", "PutAuthConfig", &c.base, &resp, NULL),
                     AUTHD_OK);
    rpc_msg_free(resp);
}

/* Sessions.Login with a device token; *out (may be NULL) the answer. */
static int
login(struct svc_fx *f, const char *email, const char *password, const char *device,
      Authd__V1__SessionResponse **out)
{
    Authd__V1__LoginRequest req = AUTHD__V1__LOGIN_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    req.email = (char *)email;
    req.password = (char *)password;
    req.client_ip = SVC_IP;
    req.device_token = (char *)device;
    int r = svc_call(f, ROLE_EDGE, "Sessions", "Login", &req.base, &resp, NULL);
    if (out != NULL)
        *out = (Authd__V1__SessionResponse *)resp;
    else
        rpc_msg_free(resp);
    return r;
}

/* 1 when a login with the right password and device skips the second factor. */
static int
skips(struct svc_fx *f, const char *email, const char *device)
{
    Authd__V1__SessionResponse *s = NULL;
    assert_int_equal(login(f, email, SVC_PASSWORD, device, &s), AUTHD_OK);
    int skipped = s->session->authenticated;
    assert_int_equal(s->remembered, skipped);
    if (skipped) {
        assert_int_equal(s->session->n_amr, 2);
        assert_string_equal(s->session->amr[0], "pwd");
        assert_string_equal(s->session->amr[1], "mfa");
    }
    rpc_msg_free(&s->base);
    return skipped;
}

/*
 * A user with 2FA signs in with a code and "remember this browser": the device token into device
 * (128 bytes; "" when none was given), the secret into secret (64 bytes).
 */
static void
remembered(struct svc_fx *f, const char *email, char *secret, char *device)
{
    char id[64], token[256], code[OTP_MAX_DIGITS + 1];
    int authenticated = 1;
    svc_user_create(f, email, SVC_PASSWORD, id);
    assert_int_equal(svc_login(f, email, SVC_PASSWORD, token, &authenticated, NULL), AUTHD_OK);
    svc_enrol_totp(f, token, secret, NULL);
    assert_int_equal(svc_login(f, email, SVC_PASSWORD, token, &authenticated, NULL), AUTHD_OK);
    assert_false(authenticated);
    svc_fake_now += 30; /* the enrolment spent this step's code */
    svc_totp(secret, svc_fake_now, code);
    Authd__V1__VerifySecondFactorRequest req = AUTHD__V1__VERIFY_SECOND_FACTOR_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    req.session_token = token;
    req.code = code;
    req.client_ip = SVC_IP;
    req.user_agent = UA;
    req.remember_browser = 1;
    assert_int_equal(
        svc_call(f, ROLE_EDGE, "Sessions", "VerifySecondFactor", &req.base, &resp, NULL), AUTHD_OK);
    const Authd__V1__SessionResponse *s = (const void *)resp;
    assert_true(s->session->authenticated);
    snprintf(device, 128, "%s", s->device_token);
    rpc_msg_free(resp);
}

static void
test_skipped_until_the_record_expires(void **state)
{
    struct svc_fx *f = *state;
    char secret[64], device[128];
    put_days(f, 7);
    remembered(f, "rem@example.com", secret, device);
    assert_int_equal(strlen(device), TOKEN_LEN);
    assert_true(skips(f, "rem@example.com", device));
    assert_false(skips(f, "rem@example.com", ""));
    svc_fake_now += 7 * 86400 - 1; /* one second before the record's expiry */
    assert_true(skips(f, "rem@example.com", device));
    svc_fake_now += 1;
    assert_false(skips(f, "rem@example.com", device));
}

static void
test_the_password_is_never_skipped(void **state)
{
    struct svc_fx *f = *state;
    char secret[64], device[128];
    put_days(f, 7);
    remembered(f, "pw@example.com", secret, device);
    assert_int_equal(login(f, "pw@example.com", "not the password", device, NULL),
                     AUTHD_ERR_INVALID_CREDENTIALS);
    assert_int_equal(login(f, "nobody@example.com", SVC_PASSWORD, device, NULL),
                     AUTHD_ERR_INVALID_CREDENTIALS);
}

static void
test_another_users_browser_is_ignored(void **state)
{
    struct svc_fx *f = *state;
    char secret[64], device_a[128], device_b[128];
    put_days(f, 7);
    remembered(f, "a@example.com", secret, device_a);
    remembered(f, "b@example.com", secret, device_b);
    assert_false(skips(f, "b@example.com", device_a));
    assert_false(skips(f, "a@example.com", device_b));
    assert_true(skips(f, "a@example.com", device_a));
}

static void
test_off_by_default_and_when_turned_off(void **state)
{
    struct svc_fx *f = *state;
    char secret[64], device[128];
    remembered(f, "off@example.com", secret, device);
    assert_string_equal(device, ""); /* never asked for: no record */
    put_days(f, 7);
    remembered(f, "on@example.com", secret, device);
    assert_true(skips(f, "on@example.com", device));
    put_days(f, 0); /* turned off: every browser is asked again */
    assert_false(skips(f, "on@example.com", device));
    put_days(f, 7);
    assert_true(skips(f, "on@example.com", device));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_skipped_until_the_record_expires, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_the_password_is_never_skipped, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_another_users_browser_is_ignored, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_off_by_default_and_when_turned_off, svc_fx_setup,
                                        svc_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
