/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for authd/svc_signup.c, called through rpc_local with a real store and a fake clock:
 * a confirmation link makes one account with a signed-in session, once, until it expires; an
 * e-mail that has an account gets no link (only the edge learns why); a weak password leaves the
 * link usable; a second link for the same e-mail is void once the first made the account.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "authd/callers.h"
#include "authd/v1/signup.pb-c.h"
#include "common/err.h"
#include "proto/rpc.h"
#include "tests/unit/authd/svc_fixture.h"

#define SIGNUP_TTL (24 * 3600) /* seconds a confirmation link stays valid (authd's default) */

/* Signup.Start (as the edge); the link's token into token (256 bytes, "" for none). */
static void
start(struct svc_fx *f, const char *email, char *token, int *exists)
{
    Authd__V1__StartSignupRequest req = AUTHD__V1__START_SIGNUP_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    req.email = (char *)email;
    req.client_ip = SVC_IP;
    assert_int_equal(svc_call(f, ROLE_EDGE, "Signup", "Start", &req.base, &resp, NULL), AUTHD_OK);
    Authd__V1__StartSignupResponse *s = (Authd__V1__StartSignupResponse *)resp;
    snprintf(token, 256, "%s", s->token);
    if (exists != NULL)
        *exists = s->account_exists;
    rpc_msg_free(resp);
}

/* Signup.Complete; on success the session token into session (256 bytes) when not NULL. */
static int
complete(struct svc_fx *f, const char *token, const char *password, char *session)
{
    Authd__V1__CompleteSignupRequest req = AUTHD__V1__COMPLETE_SIGNUP_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    req.token = (char *)token;
    req.password = (char *)password;
    req.client_ip = SVC_IP;
    int r = svc_call(f, ROLE_EDGE, "Signup", "Complete", &req.base, &resp, NULL);
    if (r == AUTHD_OK) {
        Authd__V1__CompleteSignupResponse *c = (Authd__V1__CompleteSignupResponse *)resp;
        assert_true(c->session->authenticated);
        assert_string_equal(c->user->email, "new@example.com");
        if (session != NULL)
            snprintf(session, 256, "%s", c->session_token);
    }
    rpc_msg_free(resp);
    return r;
}

static int
get(struct svc_fx *f, const char *token)
{
    Authd__V1__TokenRequest req = AUTHD__V1__TOKEN_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    req.token = (char *)token;
    int r = svc_call(f, ROLE_EDGE, "Signup", "Get", &req.base, &resp, NULL);
    rpc_msg_free(resp);
    return r;
}

static void
test_link_makes_one_account(void **state)
{
    struct svc_fx *f = *state;
    char token[256], second[256], session[256];
    int exists = 1;

    start(f, "New@Example.com", token, &exists);
    assert_false(exists);
    assert_true(token[0] != '\0');
    start(f, "new@example.com", second, NULL);
    assert_int_equal(get(f, token), AUTHD_OK);
    /* A weak password is refused and leaves the link usable. */
    assert_int_equal(complete(f, token, "short", NULL), AUTHD_ERR_WEAK_PASSWORD);
    assert_int_equal(complete(f, token, SVC_PASSWORD, session), AUTHD_OK);
    assert_true(session[0] != '\0');
    assert_int_equal(svc_login(f, "new@example.com", SVC_PASSWORD, NULL, NULL, NULL), AUTHD_OK);
    /* Spent; and the other link for the same e-mail makes no second account. */
    assert_int_equal(get(f, token), AUTHD_ERR_INVALID_TOKEN);
    assert_int_equal(complete(f, token, SVC_PASSWORD, NULL), AUTHD_ERR_INVALID_TOKEN);
    assert_int_equal(complete(f, second, "another passphrase here", NULL),
                     AUTHD_ERR_ALREADY_EXISTS);
    assert_int_equal(svc_login(f, "new@example.com", "another passphrase here", NULL, NULL, NULL),
                     AUTHD_ERR_INVALID_CREDENTIALS);
}

static void
test_existing_account_gets_no_link(void **state)
{
    struct svc_fx *f = *state;
    char id[64], token[256];
    int exists = 0;

    svc_user_create(f, "taken@example.com", SVC_PASSWORD, id);
    start(f, "Taken@example.com", token, &exists);
    assert_true(exists);
    assert_string_equal(token, "");
}

static void
test_link_expires(void **state)
{
    struct svc_fx *f = *state;
    char token[256];
    int64_t t0 = svc_fake_now;

    start(f, "new@example.com", token, NULL);
    svc_fake_now = t0 + SIGNUP_TTL - 1;
    assert_int_equal(get(f, token), AUTHD_OK);
    svc_fake_now = t0 + SIGNUP_TTL;
    assert_int_equal(get(f, token), AUTHD_ERR_INVALID_TOKEN);
    assert_int_equal(complete(f, token, SVC_PASSWORD, NULL), AUTHD_ERR_INVALID_TOKEN);
    assert_int_equal(svc_login(f, "new@example.com", SVC_PASSWORD, NULL, NULL, NULL),
                     AUTHD_ERR_INVALID_CREDENTIALS);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_link_makes_one_account, svc_fx_setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_existing_account_gets_no_link, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_link_expires, svc_fx_setup, svc_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
