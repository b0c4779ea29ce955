/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for authd/svc_twofactor.c, called through rpc_local with a real store, a key box and
 * a fake clock: only the newest enrolment secret confirms, the pending one is shown again
 * unchanged (and asking for it begins none), the code that confirmed an enrolment
 * cannot be replayed to disable it, and wrong codes given to TwoFactor count on the same
 * second-factor lockout as the login's second step; regenerated recovery codes void the old
 * ones; delivered codes (webhook transport) are only for the edge, never of a spent step, and
 * rationed, and go to a webhook user at each step that asks for a code (login, turning 2FA off,
 * new recovery codes, a reset link); twoFactor.transports limits the transports offered.
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
#include "authd/v1/signup.pb-c.h"
#include "authd/v1/twofactor.pb-c.h"
#include "authd/v1/users.pb-c.h"
#include "common/err.h"
#include "proto/rpc.h"
#include "tests/unit/authd/svc_fixture.h"

#define FREE_FAILURES 5        /* default lockout policy: failures before the first lock */
#define STEP 30                /* TOTP period */
#define DELIVERY_FIRST_WAIT 30 /* default: seconds of the first wait for delivered codes */

/* TwoFactor.Disable (as the edge) with a TOTP code; *enabled (may be NULL) as answered. */
static int
disable(struct svc_fx *f, const char *token, const char *code, int *enabled)
{
    Authd__V1__SecondFactorRequest req = AUTHD__V1__SECOND_FACTOR_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    req.session_token = (char *)token;
    req.code = (char *)code;
    req.client_ip = SVC_IP;
    int r = svc_call(f, ROLE_EDGE, "TwoFactor", "Disable", &req.base, &resp, NULL);
    if (r == AUTHD_OK && enabled != NULL)
        *enabled = ((Authd__V1__UserResponse *)resp)->user->two_factor->enabled;
    rpc_msg_free(resp);
    return r;
}

/* A user signed in with a complete session; its token into token (256 bytes). */
static void
signed_in(struct svc_fx *f, const char *email, char *token)
{
    char id[64];
    int authenticated = 0;

    svc_user_create(f, email, SVC_PASSWORD, id);
    assert_int_equal(svc_login(f, email, SVC_PASSWORD, token, &authenticated, NULL), AUTHD_OK);
    assert_true(authenticated);
}

/* TwoFactor.BeginEnrollment; the base32 secret into secret (64 bytes). */
static void
begin(struct svc_fx *f, const char *token, char *secret)
{
    Authd__V1__BeginEnrollmentRequest req = AUTHD__V1__BEGIN_ENROLLMENT_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    req.session_token = (char *)token;
    assert_int_equal(svc_call(f, ROLE_EDGE, "TwoFactor", "BeginEnrollment", &req.base, &resp, NULL),
                     AUTHD_OK);
    snprintf(secret, 64, "%s", ((Authd__V1__BeginEnrollmentResponse *)resp)->secret);
    rpc_msg_free(resp);
}

static int
confirm(struct svc_fx *f, const char *token, const char *code)
{
    Authd__V1__ConfirmEnrollmentRequest req = AUTHD__V1__CONFIRM_ENROLLMENT_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    req.session_token = (char *)token;
    req.code = (char *)code;
    req.client_ip = SVC_IP;
    int r = svc_call(f, ROLE_EDGE, "TwoFactor", "ConfirmEnrollment", &req.base, &resp, NULL);
    rpc_msg_free(resp);
    return r;
}

static void
test_newest_enrolment_confirms(void **state)
{
    struct svc_fx *f = *state;
    char token[256], old[64], secret[64], code[OTP_MAX_DIGITS + 1];

    signed_in(f, "enrol@example.com", token);
    begin(f, token, old);
    begin(f, token, secret);
    assert_string_not_equal(old, secret);
    /* Beginning again replaced the first secret: its code confirms nothing. */
    svc_totp(old, svc_fake_now, code);
    assert_int_equal(confirm(f, token, code), AUTHD_ERR_WRONG_CODE);
    svc_totp(secret, svc_fake_now, code);
    assert_int_equal(confirm(f, token, code), AUTHD_OK);
    /* Enrolled once: a second confirmation is refused. */
    assert_int_equal(confirm(f, token, code), AUTHD_ERR_ALREADY_ENABLED);
}

/* TwoFactor.PendingEnrollment; the secret and URI into secret and uri (64 and 512 bytes). */
static int
pending(struct svc_fx *f, const char *token, char *secret, char *uri)
{
    Authd__V1__StatusRequest req = AUTHD__V1__STATUS_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    req.session_token = (char *)token;
    secret[0] = uri[0] = '\0';
    int r = svc_call(f, ROLE_EDGE, "TwoFactor", "PendingEnrollment", &req.base, &resp, NULL);
    if (r == AUTHD_OK) {
        snprintf(secret, 64, "%s", ((Authd__V1__BeginEnrollmentResponse *)resp)->secret);
        snprintf(uri, 512, "%s", ((Authd__V1__BeginEnrollmentResponse *)resp)->uri);
    }
    rpc_msg_free(resp);
    return r;
}

static void
test_pending_enrolment_shown_unchanged(void **state)
{
    struct svc_fx *f = *state;
    char token[256], secret[64], seen[64], again[64], uri[512], uri2[512];
    char code[OTP_MAX_DIGITS + 1];

    signed_in(f, "pending@example.com", token);
    /* Nothing begun: nothing to show, and asking begins nothing. */
    assert_int_equal(pending(f, token, seen, uri), AUTHD_ERR_NOT_REQUESTED);
    assert_int_equal(pending(f, token, seen, uri), AUTHD_ERR_NOT_REQUESTED);
    svc_totp("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", svc_fake_now, code);
    assert_int_equal(confirm(f, token, code), AUTHD_ERR_NOT_REQUESTED);
    begin(f, token, secret);
    /* The same secret each time it is asked for; the newest one after a new begin. */
    assert_int_equal(pending(f, token, seen, uri), AUTHD_OK);
    assert_string_equal(seen, secret);
    assert_non_null(strstr(uri, "otpauth://totp/"));
    assert_non_null(strstr(uri, secret));
    assert_int_equal(pending(f, token, again, uri2), AUTHD_OK);
    assert_string_equal(again, secret);
    assert_string_equal(uri2, uri);
    begin(f, token, secret);
    assert_int_equal(pending(f, token, seen, uri), AUTHD_OK);
    assert_string_equal(seen, secret);
    /* Only for the edge, with a session. */
    Authd__V1__StatusRequest req = AUTHD__V1__STATUS_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    req.session_token = token;
    assert_int_equal(svc_call(f, ROLE_SERVICE | ROLE_ADMIN, "TwoFactor", "PendingEnrollment",
                              &req.base, &resp, NULL),
                     AUTHD_ERR_PERMISSION_DENIED);
    assert_int_equal(pending(f, "bogus.token", again, uri2), AUTHD_ERR_UNAUTHENTICATED);
    /* The shown secret is the one that confirms; then there is nothing pending any more. */
    svc_totp(seen, svc_fake_now, code);
    assert_int_equal(confirm(f, token, code), AUTHD_OK);
    assert_int_equal(pending(f, token, seen, uri), AUTHD_ERR_ALREADY_ENABLED);
    assert_string_equal(seen, "");
}

static void
test_enrolment_code_not_replayed(void **state)
{
    struct svc_fx *f = *state;
    char token[256], secret[64], code[OTP_MAX_DIGITS + 1];
    int enabled = 1;

    signed_in(f, "replay@example.com", token);
    svc_enrol_totp(f, token, secret, NULL);
    /* The code that confirmed the enrolment cannot turn it off, within the same step. */
    svc_totp(secret, svc_fake_now, code);
    assert_int_equal(disable(f, token, code, NULL), AUTHD_ERR_WRONG_CODE);
    svc_fake_now += STEP;
    svc_totp(secret, svc_fake_now, code);
    assert_int_equal(disable(f, token, code, &enabled), AUTHD_OK);
    assert_false(enabled);
    /* Off: nothing left to disable. */
    assert_int_equal(disable(f, token, code, NULL), AUTHD_ERR_NOT_ENABLED);
}

static void
test_wrong_codes_share_the_login_lockout(void **state)
{
    struct svc_fx *f = *state;
    char token[256], pending[256], secret[64], code[OTP_MAX_DIGITS + 1];
    int authenticated = 1;

    signed_in(f, "shared@example.com", token);
    svc_enrol_totp(f, token, secret, NULL);
    svc_fake_now += STEP;
    for (int i = 0; i <= FREE_FAILURES; i++) {
        svc_totp(secret, svc_fake_now, code);
        code[0] = code[0] == '9' ? '0' : (char)(code[0] + 1);
        assert_int_equal(disable(f, token, code, NULL), AUTHD_ERR_WRONG_CODE);
    }
    /* Guessing on the settings page locked the user's second factor at login too. */
    assert_int_equal(
        svc_login(f, "shared@example.com", SVC_PASSWORD, pending, &authenticated, NULL), AUTHD_OK);
    assert_false(authenticated);
    svc_totp(secret, svc_fake_now, code);
    assert_int_equal(svc_verify(f, pending, code, NULL, NULL, NULL), AUTHD_ERR_LOCKED);
    assert_int_equal(disable(f, token, code, NULL), AUTHD_ERR_LOCKED);
}

/* TwoFactor.Status: the recovery codes left. */
static uint32_t
recovery_left(struct svc_fx *f, const char *token)
{
    Authd__V1__StatusRequest req = AUTHD__V1__STATUS_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    req.session_token = (char *)token;
    assert_int_equal(svc_call(f, ROLE_EDGE, "TwoFactor", "Status", &req.base, &resp, NULL),
                     AUTHD_OK);
    uint32_t n = ((Authd__V1__TwoFactorStatusResponse *)resp)->recovery_codes_left;
    rpc_msg_free(resp);
    return n;
}

static void
test_regenerate_voids_old_codes(void **state)
{
    struct svc_fx *f = *state;
    Authd__V1__SecondFactorRequest req = AUTHD__V1__SECOND_FACTOR_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    char token[256], pending[256], secret[64], old[32], fresh[32], code[OTP_MAX_DIGITS + 1];
    int authenticated = 1;

    signed_in(f, "regen@example.com", token);
    svc_enrol_totp(f, token, secret, old);
    assert_int_equal(recovery_left(f, token), 10);
    svc_fake_now += STEP;
    svc_totp(secret, svc_fake_now, code);
    req.session_token = token;
    req.code = code;
    req.client_ip = SVC_IP;
    assert_int_equal(
        svc_call(f, ROLE_EDGE, "TwoFactor", "RegenerateRecoveryCodes", &req.base, &resp, NULL),
        AUTHD_OK);
    Authd__V1__RecoveryCodesResponse *rc = (Authd__V1__RecoveryCodesResponse *)resp;
    assert_int_equal(rc->n_recovery_codes, 10);
    snprintf(fresh, sizeof(fresh), "%s", rc->recovery_codes[0]);
    rpc_msg_free(resp);
    /* The old codes stopped working; a new one works once. */
    assert_int_equal(svc_login(f, "regen@example.com", SVC_PASSWORD, pending, &authenticated, NULL),
                     AUTHD_OK);
    assert_false(authenticated);
    assert_int_equal(svc_verify(f, pending, NULL, old, NULL, NULL), AUTHD_ERR_WRONG_CODE);
    assert_int_equal(svc_verify(f, pending, NULL, fresh, NULL, NULL), AUTHD_OK);
    assert_int_equal(recovery_left(f, token), 9);
}

/* A user enrolled with a delivery transport; the pending login's token into pending. */
static void
user_with_transport(struct svc_fx *f, const char *email, char *pending)
{
    Authd__V1__BeginEnrollmentRequest begin = AUTHD__V1__BEGIN_ENROLLMENT_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    char token[256], code[OTP_MAX_DIGITS + 1];
    int authenticated = 1;

    signed_in(f, email, token);
    begin.session_token = token;
    begin.transport = "sms";
    assert_int_equal(
        svc_call(f, ROLE_EDGE, "TwoFactor", "BeginEnrollment", &begin.base, &resp, NULL), AUTHD_OK);
    snprintf(code, sizeof(code), "%s", ((Authd__V1__BeginEnrollmentResponse *)resp)->code);
    rpc_msg_free(resp);
    assert_int_equal(confirm(f, token, code), AUTHD_OK);
    assert_int_equal(svc_login(f, email, SVC_PASSWORD, pending, &authenticated, NULL), AUTHD_OK);
    assert_false(authenticated);
}

/* TwoFactor.IssueDeliveryCode as a caller holding roles; the code into code. */
static int
delivery_code(struct svc_fx *f, unsigned roles, const char *pending, char *code)
{
    Authd__V1__DeliveryCodeRequest req = AUTHD__V1__DELIVERY_CODE_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    req.session_token = (char *)pending;
    int r = svc_call(f, roles, "TwoFactor", "IssueDeliveryCode", &req.base, &resp, NULL);
    code[0] = '\0';
    if (r == AUTHD_OK) {
        assert_string_equal(((Authd__V1__DeliveryCodeResponse *)resp)->transport, "sms");
        snprintf(code, OTP_MAX_DIGITS + 1, "%s", ((Authd__V1__DeliveryCodeResponse *)resp)->code);
    }
    rpc_msg_free(resp);
    return r;
}

static void
test_delivery_codes_never_spent(void **state)
{
    struct svc_fx *f = *state;
    char pending[256], code[OTP_MAX_DIGITS + 1], first[OTP_MAX_DIGITS + 1];

    /* Enrolled in this step: its code is spent, so the next step's is delivered. */
    user_with_transport(f, "sms@example.com", pending);
    assert_int_equal(delivery_code(f, ROLE_SERVICE | ROLE_ADMIN, pending, code),
                     AUTHD_ERR_PERMISSION_DENIED);
    assert_int_equal(delivery_code(f, ROLE_EDGE, pending, first), AUTHD_OK);
    assert_int_equal(svc_verify(f, pending, first, NULL, NULL, NULL), AUTHD_OK);
    /* Both usable steps spent: no code to deliver until the clock moves. */
    assert_int_equal(svc_login(f, "sms@example.com", SVC_PASSWORD, pending, NULL, NULL), AUTHD_OK);
    assert_int_equal(delivery_code(f, ROLE_EDGE, pending, code), AUTHD_ERR_CONFLICT);
    /* One step later the step after it is free again. */
    svc_fake_now += STEP;
    assert_int_equal(delivery_code(f, ROLE_EDGE, pending, code), AUTHD_OK);
    assert_string_not_equal(code, first);
    assert_int_equal(svc_verify(f, pending, code, NULL, NULL, NULL), AUTHD_OK);
}

static void
test_delivery_codes_rationed(void **state)
{
    struct svc_fx *f = *state;
    char pending[256], code[OTP_MAX_DIGITS + 1];
    int r = AUTHD_OK, n = 0;

    user_with_transport(f, "rationed@example.com", pending);
    svc_fake_now += STEP;
    while (n < 20 && (r = delivery_code(f, ROLE_EDGE, pending, code)) == AUTHD_OK)
        n++;
    /* Five free deliveries per user, and the one that earns the first wait: the enrolment's code
     * was the first. */
    assert_int_equal(r, AUTHD_ERR_LOCKED);
    assert_int_equal(n, 5);
    svc_fake_now += DELIVERY_FIRST_WAIT;
    assert_int_equal(delivery_code(f, ROLE_EDGE, pending, code), AUTHD_OK);
    assert_int_equal(svc_verify(f, pending, code, NULL, NULL, NULL), AUTHD_OK);
}

/* A user enrolled with transport sms whose session stays signed in; its token into token. */
static void
signed_in_with_transport(struct svc_fx *f, const char *email, char *token)
{
    Authd__V1__BeginEnrollmentRequest begin = AUTHD__V1__BEGIN_ENROLLMENT_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    char code[OTP_MAX_DIGITS + 1];

    signed_in(f, email, token);
    begin.session_token = token;
    begin.transport = "sms";
    assert_int_equal(
        svc_call(f, ROLE_EDGE, "TwoFactor", "BeginEnrollment", &begin.base, &resp, NULL), AUTHD_OK);
    snprintf(code, sizeof(code), "%s", ((Authd__V1__BeginEnrollmentResponse *)resp)->code);
    rpc_msg_free(resp);
    assert_int_equal(confirm(f, token, code), AUTHD_OK);
}

/* TwoFactor.IssueDeliveryCode for a reset link (as the edge); the code into code. */
static int
reset_delivery_code(struct svc_fx *f, const char *reset_token, char *code)
{
    Authd__V1__DeliveryCodeRequest req = AUTHD__V1__DELIVERY_CODE_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    req.reset_token = (char *)reset_token;
    int r = svc_call(f, ROLE_EDGE, "TwoFactor", "IssueDeliveryCode", &req.base, &resp, NULL);
    code[0] = '\0';
    if (r == AUTHD_OK)
        snprintf(code, OTP_MAX_DIGITS + 1, "%s", ((Authd__V1__DeliveryCodeResponse *)resp)->code);
    rpc_msg_free(resp);
    return r;
}

static void
test_delivery_for_a_signed_in_step(void **state)
{
    struct svc_fx *f = *state;
    char token[256], code[OTP_MAX_DIGITS + 1], again[OTP_MAX_DIGITS + 1];
    int enabled = 1;

    /* Turning 2FA off asks a signed-in user for a code: a webhook user gets one. */
    signed_in_with_transport(f, "off@example.com", token);
    svc_fake_now += STEP; /* the enrolment spent this step */
    assert_int_equal(delivery_code(f, ROLE_SERVICE | ROLE_ADMIN, token, code),
                     AUTHD_ERR_PERMISSION_DENIED);
    assert_int_equal(delivery_code(f, ROLE_EDGE, token, code), AUTHD_OK);
    /* Sending again spends nothing: the same code, and the first one still works. */
    assert_int_equal(delivery_code(f, ROLE_EDGE, token, again), AUTHD_OK);
    assert_string_equal(code, again);
    assert_int_equal(disable(f, token, code, &enabled), AUTHD_OK);
    assert_false(enabled);
    /* Off: nothing to deliver. */
    assert_int_equal(delivery_code(f, ROLE_EDGE, token, code), AUTHD_ERR_NOT_REQUESTED);
}

static void
test_delivery_for_a_reset_link(void **state)
{
    struct svc_fx *f = *state;
    char token[256], reset[256], code[OTP_MAX_DIGITS + 1];
    Authd__V1__StartResetRequest start = AUTHD__V1__START_RESET_REQUEST__INIT;
    Authd__V1__CompleteResetRequest done = AUTHD__V1__COMPLETE_RESET_REQUEST__INIT;
    Authd__V1__TokenRequest get = AUTHD__V1__TOKEN_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    signed_in_with_transport(f, "reset-sms@example.com", token);
    start.email = "reset-sms@example.com";
    start.client_ip = SVC_IP;
    assert_int_equal(svc_call(f, ROLE_EDGE, "PasswordReset", "Start", &start.base, &resp, NULL),
                     AUTHD_OK);
    snprintf(reset, sizeof(reset), "%s", ((Authd__V1__StartResetResponse *)resp)->token);
    rpc_msg_free(resp);
    /* Get tells the edge the user's transport, so the page can say where the code went. */
    get.token = reset;
    assert_int_equal(svc_call(f, ROLE_EDGE, "PasswordReset", "Get", &get.base, &resp, NULL),
                     AUTHD_OK);
    assert_true(((Authd__V1__GetResetResponse *)resp)->second_factor_required);
    assert_string_equal(((Authd__V1__GetResetResponse *)resp)->transport, "sms");
    rpc_msg_free(resp);

    svc_fake_now += STEP;
    assert_int_equal(reset_delivery_code(f, "not-a-reset-token", code), AUTHD_ERR_INVALID_TOKEN);
    assert_int_equal(reset_delivery_code(f, reset, code), AUTHD_OK);
    assert_int_not_equal(code[0], '\0');
    done.token = reset;
    done.password = "a brand new passphrase";
    done.code = code;
    done.client_ip = SVC_IP;
    assert_int_equal(svc_call(f, ROLE_EDGE, "PasswordReset", "Complete", &done.base, &resp, NULL),
                     AUTHD_OK);
    rpc_msg_free(resp);
    /* A used link sends no more codes. */
    assert_int_equal(reset_delivery_code(f, reset, code), AUTHD_ERR_INVALID_TOKEN);
}

/* Admin.PutAuthConfig with twoFactor.transports set to the n names. */
static int
put_transports(struct svc_fx *f, char **names, size_t n)
{
    Authd__V1__AuthConfig c = AUTHD__V1__AUTH_CONFIG__INIT;
    Authd__V1__TwoFactorConfig tf = AUTHD__V1__TWO_FACTOR_CONFIG__INIT;
    ProtobufCMessage *resp = NULL;

    tf.valid_past_tokens_count = 1;
    tf.transports = names;
    tf.n_transports = n;
    c.two_factor = &tf;
    int r = svc_call(f, ROLE_ADMIN, "Admin", "PutAuthConfig", &c.base, &resp, NULL);
    rpc_msg_free(resp);
    return r;
}

/* BeginEnrollment with transport for a new signed-in user. */
static int
begin_with(struct svc_fx *f, const char *email, const char *transport)
{
    Authd__V1__BeginEnrollmentRequest req = AUTHD__V1__BEGIN_ENROLLMENT_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    char token[256];

    signed_in(f, email, token);
    req.session_token = token;
    req.transport = (char *)transport;
    int r = svc_call(f, ROLE_EDGE, "TwoFactor", "BeginEnrollment", &req.base, &resp, NULL);
    rpc_msg_free(resp);
    return r;
}

static void
test_transports_offered(void **state)
{
    struct svc_fx *f = *state;
    char *offered[] = {"sms", "voice"};
    char *dup[] = {"sms", "sms"};
    char *bad[] = {"sms", "no spaces"};
    char *empty[] = {""};

    /* No list: any valid name, as before the list existed. */
    assert_int_equal(begin_with(f, "any@example.com", "pigeon"), AUTHD_OK);
    assert_int_equal(put_transports(f, dup, 2), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(put_transports(f, bad, 2), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(put_transports(f, empty, 1), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(put_transports(f, offered, 2), AUTHD_OK);
    /* With a list: only its names (and the app). */
    assert_int_equal(begin_with(f, "pigeon@example.com", "pigeon"), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(begin_with(f, "voice@example.com", "voice"), AUTHD_OK);
    assert_int_equal(begin_with(f, "app@example.com", ""), AUTHD_OK);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_newest_enrolment_confirms, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_pending_enrolment_shown_unchanged, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_enrolment_code_not_replayed, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_codes_share_the_login_lockout, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_regenerate_voids_old_codes, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_delivery_codes_never_spent, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_delivery_codes_rationed, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_delivery_for_a_signed_in_step, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_delivery_for_a_reset_link, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_transports_offered, svc_fx_setup, svc_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
