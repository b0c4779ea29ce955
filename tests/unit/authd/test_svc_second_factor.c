/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the second-factor judge (authd/twofactor.c: one proof, a TOTP code, a recovery
 * code or a WebAuthn assertion) as the services use it: a user whose second factor is keys only
 * (a key record planted in the store, as FinishRegistration leaves it) given a TOTP code gets a
 * wrong code (never NOT_ENABLED, never a crash) that counts on the lockout; recovery codes still
 * sign such a user in and turn 2FA off (the keys with it); TOTP may join keys without new
 * recovery codes; an assertion of a ceremony nobody began is a wrong second factor on the same
 * counter as codes, and none is judged (or counted) while passkeys are not configured. The codes'
 * own behaviour is test_svc_twofactor.c's and test_svc_sessions.c's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "authd/account.h"
#include "authd/callers.h"
#include "authd/otp.h"
#include "authd/twofactor.h"
#include "authd/v1/admin.pb-c.h"
#include "authd/v1/twofactor.pb-c.h"
#include "authd/v1/users.pb-c.h"
#include "common/err.h"
#include "proto/rpc.h"
#include "tests/unit/authd/svc_fixture.h"

#define FREE_FAILURES 5 /* default lockout policy: failures before the first lock */
#define STEP 30         /* TOTP period */

struct plant {
    const char *user_id;
    char codes[TWOFACTOR_RECOVERY_CODES][TWOFACTOR_RECOVERY_LEN + 1];
};

/* Gives the user one key (as a registration would) and recovery codes: 2FA on by keys only. */
static int
plant_step(struct authd *a, struct store_txn *txn, void *arg)
{
    struct plant *p = arg;
    Authd__Storage__UserRecord *rec = NULL;
    int r = account_user_get(a, txn, 1, p->user_id, &rec);
    if (r != AUTHD_OK)
        return r;
    Authd__Storage__WebAuthnCredentialRecord *k = malloc(sizeof(*k));
    Authd__Storage__WebAuthnCredentialRecord **arr = malloc(sizeof(*arr));
    assert_non_null(k);
    assert_non_null(arr);
    authd__storage__web_authn_credential_record__init(k);
    k->credential_id.data = malloc(16);
    assert_non_null(k->credential_id.data);
    memset(k->credential_id.data, 0x5a, 16);
    k->credential_id.len = 16;
    k->alg = -7;
    k->name = strdup("a key");
    assert_non_null(k->name);
    arr[0] = k;
    rec->webauthn = arr;
    rec->n_webauthn = 1;
    if (rec->user->two_factor == NULL) {
        rec->user->two_factor = malloc(sizeof(*rec->user->two_factor));
        assert_non_null(rec->user->two_factor);
        authd__v1__two_factor_status__init(rec->user->two_factor);
    }
    rec->user->two_factor->enabled = 1;
    rec->user->two_factor->passkeys = 1;
    r = twofactor_recovery_new(rec, p->codes);
    if (r == AUTHD_OK)
        r = account_user_save(a, txn, rec);
    rpc_msg_free(&rec->base);
    return r;
}

/* A user with a key and no TOTP; its id into id (64 bytes), a recovery code into recovery
 * (32 bytes) and a complete session's token into token (256 bytes). */
static void
keys_only_user(struct svc_fx *f, const char *email, char *id, char *recovery, char *token)
{
    int authenticated = 0;
    svc_user_create(f, email, SVC_PASSWORD, id);
    assert_int_equal(svc_login(f, email, SVC_PASSWORD, token, &authenticated, NULL), AUTHD_OK);
    assert_true(authenticated);
    struct plant p = {.user_id = id};
    assert_int_equal(account_txn_run(&f->a, plant_step, &p), AUTHD_OK);
    snprintf(recovery, 32, "%s", p.codes[0]);
}

/* The number of keys stored for the user. */
static size_t
stored_keys(struct svc_fx *f, const char *id)
{
    Authd__Storage__UserRecord *rec = NULL;
    assert_int_equal(account_user_get(&f->a, NULL, 0, id, &rec), AUTHD_OK);
    size_t n = rec->n_webauthn;
    rpc_msg_free(&rec->base);
    return n;
}

/* TwoFactor.Disable (as the edge) with a code, a recovery code, or a ceremony. */
static int
disable(struct svc_fx *f, const char *token, const char *code, const char *recovery,
        const char *ceremony, Authd__V1__UserResponse **out)
{
    Authd__V1__SecondFactorRequest req = AUTHD__V1__SECOND_FACTOR_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    req.session_token = (char *)token;
    req.code = (char *)(code ? code : "");
    req.recovery_code = (char *)(recovery ? recovery : "");
    req.ceremony_id = (char *)(ceremony ? ceremony : "");
    req.credential_json = (char *)(ceremony ? "{}" : "");
    req.client_ip = SVC_IP;
    int r = svc_call(f, ROLE_EDGE, "TwoFactor", "Disable", &req.base, &resp, NULL);
    if (out != NULL)
        *out = (Authd__V1__UserResponse *)resp;
    else
        rpc_msg_free(resp);
    return r;
}

static void
test_keys_only_user_given_a_code(void **state)
{
    struct svc_fx *f = *state;
    char id[64], recovery[32], token[256], pending[256];
    int authenticated = 1;

    keys_only_user(f, "keys@example.com", id, recovery, token);
    /* The password now opens a pending session: the key (or a recovery code) must follow. */
    assert_int_equal(svc_login(f, "keys@example.com", SVC_PASSWORD, pending, &authenticated, NULL),
                     AUTHD_OK);
    assert_false(authenticated);
    /* Any TOTP code is wrong (there is no secret to match), and counts on the lockout. */
    for (int i = 0; i <= FREE_FAILURES; i++)
        assert_int_equal(svc_verify(f, pending, "123456", NULL, NULL, NULL), AUTHD_ERR_WRONG_CODE);
    assert_int_equal(disable(f, token, "123456", NULL, NULL, NULL), AUTHD_ERR_LOCKED);
    assert_int_equal(svc_verify(f, pending, NULL, recovery, NULL, NULL), AUTHD_ERR_LOCKED);
    assert_int_equal(stored_keys(f, id), 1);
}

static void
test_keys_only_user_recovery_code_and_disable(void **state)
{
    struct svc_fx *f = *state;
    char id[64], recovery[32], token[256], pending[256];
    Authd__V1__SessionResponse *sr = NULL;
    int authenticated = 1;

    keys_only_user(f, "rc@example.com", id, recovery, token);
    assert_int_equal(svc_login(f, "rc@example.com", SVC_PASSWORD, pending, &authenticated, NULL),
                     AUTHD_OK);
    assert_false(authenticated);
    /* The way back when every key is lost: a recovery code, amr [pwd, mfa]. */
    assert_int_equal(svc_verify(f, pending, NULL, recovery, &sr, NULL), AUTHD_OK);
    assert_int_equal(sr->session->n_amr, 2);
    assert_string_equal(sr->session->amr[0], "pwd");
    assert_string_equal(sr->session->amr[1], "mfa");
    rpc_msg_free(&sr->base);
    /* A code is wrong for Disable too; a spent recovery code as well. */
    assert_int_equal(disable(f, token, "123456", NULL, NULL, NULL), AUTHD_ERR_WRONG_CODE);
    assert_int_equal(disable(f, token, NULL, recovery, NULL, NULL), AUTHD_ERR_WRONG_CODE);
    assert_int_equal(stored_keys(f, id), 1);
    /* Nothing presented: asked for a second factor. */
    assert_int_equal(disable(f, token, NULL, NULL, NULL, NULL), AUTHD_ERR_SECOND_FACTOR_REQUIRED);
}

static void
test_disable_removes_keys(void **state)
{
    struct svc_fx *f = *state;
    char id[64], recovery[32], token[256], pending[256];
    Authd__V1__UserResponse *ur = NULL;
    int authenticated = 0;

    keys_only_user(f, "off@example.com", id, recovery, token);
    assert_int_equal(disable(f, token, NULL, recovery, NULL, &ur), AUTHD_OK);
    assert_false(ur->user->two_factor->enabled);
    assert_int_equal(ur->user->two_factor->passkeys, 0);
    assert_false(ur->user->two_factor->totp);
    rpc_msg_free(&ur->base);
    /* 2FA off means no factor left: the key is gone and the password alone signs in. */
    assert_int_equal(stored_keys(f, id), 0);
    assert_int_equal(svc_login(f, "off@example.com", SVC_PASSWORD, pending, &authenticated, NULL),
                     AUTHD_OK);
    assert_true(authenticated);
    assert_int_equal(disable(f, token, NULL, recovery, NULL, NULL), AUTHD_ERR_NOT_ENABLED);
}

static void
test_totp_joins_keys(void **state)
{
    struct svc_fx *f = *state;
    char id[64], recovery[32], token[256], pending[256], secret[64], code[OTP_MAX_DIGITS + 1];
    Authd__V1__SessionResponse *sr = NULL;
    ProtobufCMessage *resp = NULL;
    int authenticated = 1;

    keys_only_user(f, "both@example.com", id, recovery, token);
    Authd__V1__BeginEnrollmentRequest b = AUTHD__V1__BEGIN_ENROLLMENT_REQUEST__INIT;
    b.session_token = token;
    assert_int_equal(svc_call(f, ROLE_EDGE, "TwoFactor", "BeginEnrollment", &b.base, &resp, NULL),
                     AUTHD_OK);
    snprintf(secret, sizeof(secret), "%s", ((Authd__V1__BeginEnrollmentResponse *)resp)->secret);
    rpc_msg_free(resp);
    Authd__V1__ConfirmEnrollmentRequest c = AUTHD__V1__CONFIRM_ENROLLMENT_REQUEST__INIT;
    svc_totp(secret, svc_fake_now, code);
    c.session_token = token;
    c.code = code;
    assert_int_equal(svc_call(f, ROLE_EDGE, "TwoFactor", "ConfirmEnrollment", &c.base, &resp, NULL),
                     AUTHD_OK);
    Authd__V1__RecoveryCodesResponse *rc = (Authd__V1__RecoveryCodesResponse *)resp;
    /* 2FA was on already: the user keeps the recovery codes it has, none are new. */
    assert_int_equal(rc->n_recovery_codes, 0);
    assert_true(rc->user->two_factor->totp);
    assert_true(rc->user->two_factor->enabled);
    rpc_msg_free(resp);
    /* Either factor now: a code (amr otp), and the old recovery code still works. */
    svc_fake_now += STEP;
    svc_totp(secret, svc_fake_now, code);
    assert_int_equal(svc_login(f, "both@example.com", SVC_PASSWORD, pending, &authenticated, NULL),
                     AUTHD_OK);
    assert_int_equal(svc_verify(f, pending, code, NULL, &sr, NULL), AUTHD_OK);
    assert_string_equal(sr->session->amr[1], "otp");
    rpc_msg_free(&sr->base);
    assert_int_equal(svc_login(f, "both@example.com", SVC_PASSWORD, pending, &authenticated, NULL),
                     AUTHD_OK);
    assert_int_equal(svc_verify(f, pending, NULL, recovery, NULL, NULL), AUTHD_OK);
    assert_int_equal(stored_keys(f, id), 1);
}

/* Passkeys configured (rpId example.com, origin https://example.com). */
static void
configure_passkeys(struct svc_fx *f)
{
    Authd__V1__AuthConfig c = AUTHD__V1__AUTH_CONFIG__INIT;
    Authd__V1__WebAuthnConfig w = AUTHD__V1__WEB_AUTHN_CONFIG__INIT;
    char *origins[] = {"https://example.com"};
    ProtobufCMessage *resp = NULL;
    w.rp_id = "example.com";
    w.origins = origins;
    w.n_origins = 1;
    c.webauthn = &w;
    assert_int_equal(svc_call(f, ROLE_ADMIN, "Admin", "PutAuthConfig", &c.base, &resp, NULL),
                     AUTHD_OK);
    rpc_msg_free(resp);
}

static void
test_refused_assertions_share_the_lockout(void **state)
{
    struct svc_fx *f = *state;
    char id[64], recovery[32], token[256];

    configure_passkeys(f);
    keys_only_user(f, "cer@example.com", id, recovery, token);
    /* An assertion of a ceremony nobody began: refused as a key's answer, and counted. */
    for (int i = 0; i <= FREE_FAILURES; i++)
        assert_int_equal(disable(f, token, NULL, NULL, "no-such-ceremony", NULL),
                         AUTHD_ERR_KEY_REFUSED);
    /* The user's second factor is locked for codes now, the recovery code included. */
    assert_int_equal(disable(f, token, NULL, recovery, NULL, NULL), AUTHD_ERR_LOCKED);
    assert_int_equal(stored_keys(f, id), 1);
}

static void
test_assertion_without_passkeys_configured(void **state)
{
    struct svc_fx *f = *state;
    char id[64], recovery[32], token[256];

    keys_only_user(f, "nocfg@example.com", id, recovery, token);
    assert_int_equal(disable(f, token, NULL, NULL, "a-ceremony", NULL),
                     AUTHD_ERR_FAILED_PRECONDITION);
    /* Not a judged attempt: nothing counted, the recovery code still works. */
    for (int i = 0; i <= FREE_FAILURES; i++)
        assert_int_equal(disable(f, token, NULL, NULL, "a-ceremony", NULL),
                         AUTHD_ERR_FAILED_PRECONDITION);
    assert_int_equal(disable(f, token, NULL, recovery, NULL, NULL), AUTHD_OK);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_keys_only_user_given_a_code, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_keys_only_user_recovery_code_and_disable, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_disable_removes_keys, svc_fx_setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_totp_joins_keys, svc_fx_setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_refused_assertions_share_the_lockout, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_assertion_without_passkeys_configured, svc_fx_setup,
                                        svc_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
