/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for authd/svc_reset.c, called through rpc_local with a real store and a fake clock:
 * a reset link works once and until it expires, is void once the password changed by another
 * way, ends every session; an unknown or inactive e-mail gets the same answer without a link;
 * with 2FA the link alone is not enough, codes used elsewhere are refused and wrong codes count on
 * the second factor's lockout; links are rationed per e-mail address.
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
#include "authd/v1/signup.pb-c.h"
#include "authd/v1/users.pb-c.h"
#include "common/err.h"
#include "proto/rpc.h"
#include "tests/unit/authd/svc_fixture.h"

#define NEW_PASSWORD "a brand new passphrase"
#define RESET_TTL 3600  /* seconds a reset link stays valid (authd's default) */
#define FREE_FAILURES 5 /* default lockout policy: failures before the first lock */
#define MAIL_FREE 5     /* default: links an address may ask for before the first wait */
#define MAIL_FIRST_LOCK 60
#define STEP 30 /* TOTP period */

/* PasswordReset.Start (as the edge); the link's token into token (256 bytes, "" for none). */
static void
start(struct svc_fx *f, const char *email, char *token, int *err)
{
    Authd__V1__StartResetRequest req = AUTHD__V1__START_RESET_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    req.email = (char *)email;
    req.client_ip = SVC_IP;
    int r = svc_call(f, ROLE_EDGE, "PasswordReset", "Start", &req.base, &resp, NULL);
    if (err != NULL)
        *err = r;
    else
        assert_int_equal(r, AUTHD_OK);
    if (token != NULL)
        snprintf(token, 256, "%s",
                 r == AUTHD_OK ? ((Authd__V1__StartResetResponse *)resp)->token : "");
    rpc_msg_free(resp);
}

/* PasswordReset.Get; *second (may be NULL) says whether Complete will need a second factor. */
static int
get(struct svc_fx *f, const char *token, int *second)
{
    Authd__V1__TokenRequest req = AUTHD__V1__TOKEN_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    req.token = (char *)token;
    int r = svc_call(f, ROLE_EDGE, "PasswordReset", "Get", &req.base, &resp, NULL);
    if (r == AUTHD_OK && second != NULL)
        *second = ((Authd__V1__GetResetResponse *)resp)->second_factor_required;
    rpc_msg_free(resp);
    return r;
}

/* PasswordReset.Complete with a new password and, for 2FA, a code. */
static int
complete(struct svc_fx *f, const char *token, const char *password, const char *code)
{
    Authd__V1__CompleteResetRequest req = AUTHD__V1__COMPLETE_RESET_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    req.token = (char *)token;
    req.password = (char *)password;
    req.code = (char *)(code != NULL ? code : "");
    req.client_ip = SVC_IP;
    int r = svc_call(f, ROLE_EDGE, "PasswordReset", "Complete", &req.base, &resp, NULL);
    rpc_msg_free(resp);
    return r;
}

static void
test_link_works_once(void **state)
{
    struct svc_fx *f = *state;
    char id[64], session[256], token[256];
    int second = 1;

    svc_user_create(f, "reset@example.com", SVC_PASSWORD, id);
    assert_int_equal(svc_login(f, "reset@example.com", SVC_PASSWORD, session, NULL, NULL),
                     AUTHD_OK);
    start(f, "reset@example.com", token, NULL);
    assert_true(token[0] != '\0');
    assert_int_equal(get(f, token, &second), AUTHD_OK);
    assert_false(second);
    assert_int_equal(complete(f, token, NEW_PASSWORD, NULL), AUTHD_OK);
    /* Every session ended; only the new password logs in. */
    assert_int_equal(svc_session_get(f, session), AUTHD_ERR_UNAUTHENTICATED);
    assert_int_equal(svc_login(f, "reset@example.com", SVC_PASSWORD, NULL, NULL, NULL),
                     AUTHD_ERR_INVALID_CREDENTIALS);
    assert_int_equal(svc_login(f, "reset@example.com", NEW_PASSWORD, NULL, NULL, NULL), AUTHD_OK);
    /* The link is spent. */
    assert_int_equal(get(f, token, NULL), AUTHD_ERR_INVALID_TOKEN);
    assert_int_equal(complete(f, token, "yet another passphrase", NULL), AUTHD_ERR_INVALID_TOKEN);
    assert_int_equal(svc_login(f, "reset@example.com", NEW_PASSWORD, NULL, NULL, NULL), AUTHD_OK);
}

static void
test_link_expires_and_goes_stale(void **state)
{
    struct svc_fx *f = *state;
    char id[64], early[256], late[256], other[256];
    int64_t t0 = svc_fake_now;

    svc_user_create(f, "expiry@example.com", SVC_PASSWORD, id);
    start(f, "expiry@example.com", early, NULL);
    svc_fake_now = t0 + RESET_TTL - 1;
    start(f, "expiry@example.com", late, NULL);
    start(f, "expiry@example.com", other, NULL);
    /* Valid until its hour is over, not after. */
    assert_int_equal(get(f, early, NULL), AUTHD_OK);
    svc_fake_now = t0 + RESET_TTL;
    assert_int_equal(get(f, early, NULL), AUTHD_ERR_INVALID_TOKEN);
    assert_int_equal(complete(f, early, NEW_PASSWORD, NULL), AUTHD_ERR_INVALID_TOKEN);
    /* Once one link changed the password, the others are void. */
    assert_int_equal(complete(f, late, NEW_PASSWORD, NULL), AUTHD_OK);
    assert_int_equal(get(f, other, NULL), AUTHD_ERR_INVALID_TOKEN);
    assert_int_equal(complete(f, other, "yet another passphrase", NULL), AUTHD_ERR_INVALID_TOKEN);
    assert_int_equal(svc_login(f, "expiry@example.com", NEW_PASSWORD, NULL, NULL, NULL), AUTHD_OK);
}

static void
test_unknown_email_no_link(void **state)
{
    struct svc_fx *f = *state;
    Authd__V1__UpdateUserRequest up = AUTHD__V1__UPDATE_USER_REQUEST__INIT;
    Authd__V1__BoolValue off = AUTHD__V1__BOOL_VALUE__INIT;
    ProtobufCMessage *resp = NULL;
    char id[64], token[256];

    start(f, "nobody@example.com", token, NULL);
    assert_string_equal(token, "");
    /* An inactive account gets no link either. */
    svc_user_create(f, "off@example.com", SVC_PASSWORD, id);
    off.value = 1;
    up.id = id;
    up.inactive = &off;
    assert_int_equal(svc_call(f, ROLE_ADMIN, "Users", "Update", &up.base, &resp, NULL), AUTHD_OK);
    rpc_msg_free(resp);
    start(f, "off@example.com", token, NULL);
    assert_string_equal(token, "");
}

static void
test_links_rationed(void **state)
{
    struct svc_fx *f = *state;
    char id[64], token[256];
    int err = AUTHD_OK, n = 0;

    svc_user_create(f, "many@example.com", SVC_PASSWORD, id);
    while (n < 20) {
        start(f, "many@example.com", token, &err);
        if (err != AUTHD_OK)
            break;
        n++;
    }
    /* Each request counts: the free ones, and the one that earns the first wait, get a link. */
    assert_int_equal(err, AUTHD_ERR_LOCKED);
    assert_int_equal(n, MAIL_FREE + 1);
    /* Asked for an unknown address, the same rationing: nothing tells the two apart. */
    int unknown = 0;
    while (unknown < 20) {
        start(f, "unknown@example.com", token, &err);
        if (err != AUTHD_OK)
            break;
        unknown++;
    }
    assert_int_equal(err, AUTHD_ERR_LOCKED);
    assert_int_equal(unknown, n);
    svc_fake_now += MAIL_FIRST_LOCK;
    start(f, "many@example.com", token, NULL);
    assert_true(token[0] != '\0');
}

static void
test_second_factor_required(void **state)
{
    struct svc_fx *f = *state;
    char id[64], session[256], pending[256], token[256], secret[64], code[OTP_MAX_DIGITS + 1];
    int second = 0, authenticated = 1;

    svc_user_create(f, "2fa-reset@example.com", SVC_PASSWORD, id);
    assert_int_equal(svc_login(f, "2fa-reset@example.com", SVC_PASSWORD, session, NULL, NULL),
                     AUTHD_OK);
    svc_enrol_totp(f, session, secret, NULL);
    svc_fake_now += STEP;
    /* This step's code is spent at a login. */
    assert_int_equal(
        svc_login(f, "2fa-reset@example.com", SVC_PASSWORD, pending, &authenticated, NULL),
        AUTHD_OK);
    svc_totp(secret, svc_fake_now, code);
    assert_int_equal(svc_verify(f, pending, code, NULL, NULL, NULL), AUTHD_OK);

    start(f, "2fa-reset@example.com", token, NULL);
    assert_int_equal(get(f, token, &second), AUTHD_OK);
    assert_true(second);
    /* The e-mail alone is not enough, nor a code already used. */
    assert_int_equal(complete(f, token, NEW_PASSWORD, NULL), AUTHD_ERR_SECOND_FACTOR_REQUIRED);
    assert_int_equal(complete(f, token, NEW_PASSWORD, code), AUTHD_ERR_WRONG_CODE);
    /* A refused attempt leaves the link usable: the next step's code completes it. */
    svc_fake_now += STEP;
    svc_totp(secret, svc_fake_now, code);
    assert_int_equal(complete(f, token, NEW_PASSWORD, code), AUTHD_OK);
    assert_int_equal(
        svc_login(f, "2fa-reset@example.com", NEW_PASSWORD, NULL, &authenticated, NULL), AUTHD_OK);
    assert_false(authenticated); /* a reset does not turn 2FA off */
}

static void
test_wrong_codes_lock(void **state)
{
    struct svc_fx *f = *state;
    char id[64], session[256], pending[256], token[256], secret[64], code[OTP_MAX_DIGITS + 1];

    svc_user_create(f, "guess@example.com", SVC_PASSWORD, id);
    assert_int_equal(svc_login(f, "guess@example.com", SVC_PASSWORD, session, NULL, NULL),
                     AUTHD_OK);
    svc_enrol_totp(f, session, secret, NULL);
    svc_fake_now += STEP;
    start(f, "guess@example.com", token, NULL);
    for (int i = 0; i <= FREE_FAILURES; i++) {
        svc_totp(secret, svc_fake_now, code);
        code[0] = code[0] == '9' ? '0' : (char)(code[0] + 1);
        assert_int_equal(complete(f, token, NEW_PASSWORD, code), AUTHD_ERR_WRONG_CODE);
    }
    /* Locked, here and at the login's second step, which shares the counter. */
    svc_totp(secret, svc_fake_now, code);
    assert_int_equal(complete(f, token, NEW_PASSWORD, code), AUTHD_ERR_LOCKED);
    assert_int_equal(svc_login(f, "guess@example.com", SVC_PASSWORD, pending, NULL, NULL),
                     AUTHD_OK);
    assert_int_equal(svc_verify(f, pending, code, NULL, NULL, NULL), AUTHD_ERR_LOCKED);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_link_works_once, svc_fx_setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_link_expires_and_goes_stale, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_email_no_link, svc_fx_setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_links_rationed, svc_fx_setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_second_factor_required, svc_fx_setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_codes_lock, svc_fx_setup, svc_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
