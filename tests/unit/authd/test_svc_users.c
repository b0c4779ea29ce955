/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for authd/svc_users.c, called through rpc_local with a real store and a fake clock:
 * what an administrator's changes do to a user's sessions and tokens. Deactivating ends every
 * session and refresh token, and a deactivated account says so only after the right password;
 * setting a password ends every session; a deleted account answers like one that never existed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "authd/callers.h"
#include "authd/v1/oauth.pb-c.h"
#include "authd/v1/users.pb-c.h"
#include "common/err.h"
#include "proto/rpc.h"
#include "tests/unit/authd/svc_fixture.h"

#define CLIENT_SECRET "a client secret of some length"

/* Users.Update (as admin): inactive set to off_on. */
static void
set_inactive(struct svc_fx *f, const char *id, int off_on)
{
    Authd__V1__UpdateUserRequest req = AUTHD__V1__UPDATE_USER_REQUEST__INIT;
    Authd__V1__BoolValue v = AUTHD__V1__BOOL_VALUE__INIT;
    ProtobufCMessage *resp = NULL;

    v.value = off_on;
    req.id = (char *)id;
    req.inactive = &v;
    assert_int_equal(svc_call(f, ROLE_ADMIN, "Users", "Update", &req.base, &resp, NULL), AUTHD_OK);
    rpc_msg_free(resp);
}

/* A refresh token from the password grant of a first-party client "app". */
static void
refresh_token_for(struct svc_fx *f, const char *email, char *rt)
{
    Authd__V1__Client c = AUTHD__V1__CLIENT__INIT;
    Authd__V1__ClientAuth auth = AUTHD__V1__CLIENT_AUTH__INIT;
    Authd__V1__GrantSettings pw = AUTHD__V1__GRANT_SETTINGS__INIT;
    Authd__V1__OAuthTokenRequest req = AUTHD__V1__OAUTH_TOKEN_REQUEST__INIT;
    char *grants[] = {"password", "refresh_token"};
    ProtobufCMessage *resp = NULL;

    pw.refresh_token = 1;
    auth.password = &pw;
    c.id = "app";
    c.secret = CLIENT_SECRET;
    c.first_party = 1;
    c.n_grant_types = 2;
    c.grant_types = grants;
    c.auth = &auth;
    assert_int_equal(svc_call(f, ROLE_ADMIN, "ClientAdmin", "Put", &c.base, &resp, NULL), AUTHD_OK);
    rpc_msg_free(resp);
    req.grant_type = "password";
    req.client_id = "app";
    req.client_secret = CLIENT_SECRET;
    req.username = (char *)email;
    req.password = SVC_PASSWORD;
    assert_int_equal(svc_call(f, ROLE_EDGE, "OAuth", "Token", &req.base, &resp, NULL), AUTHD_OK);
    snprintf(rt, 256, "%s", ((Authd__V1__OAuthTokenResponse *)resp)->refresh_token);
    assert_true(rt[0] != '\0');
    rpc_msg_free(resp);
}

static int
refresh(struct svc_fx *f, const char *rt)
{
    Authd__V1__OAuthTokenRequest req = AUTHD__V1__OAUTH_TOKEN_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    req.grant_type = "refresh_token";
    req.client_id = "app";
    req.client_secret = CLIENT_SECRET;
    req.refresh_token = (char *)rt;
    int r = svc_call(f, ROLE_EDGE, "OAuth", "Token", &req.base, &resp, NULL);
    rpc_msg_free(resp);
    return r;
}

/* An access token for email from the password grant of "app" (made by refresh_token_for). */
static void
access_token_for(struct svc_fx *f, const char *email, const char *scope, char *at, size_t cap)
{
    Authd__V1__OAuthTokenRequest req = AUTHD__V1__OAUTH_TOKEN_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    req.grant_type = "password";
    req.client_id = "app";
    req.client_secret = CLIENT_SECRET;
    req.username = (char *)email;
    req.password = SVC_PASSWORD;
    req.scope = (char *)scope;
    assert_int_equal(svc_call(f, ROLE_EDGE, "OAuth", "Token", &req.base, &resp, NULL), AUTHD_OK);
    snprintf(at, cap, "%s", ((Authd__V1__OAuthTokenResponse *)resp)->access_token);
    rpc_msg_free(resp);
}

/* OAuth.UserInfo for at: *email (cap bytes) and the email_verified flag. */
static int
userinfo_email(struct svc_fx *f, const char *at, char *email, size_t cap)
{
    Authd__V1__UserInfoRequest req = AUTHD__V1__USER_INFO_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    req.access_token = (char *)at;
    assert_int_equal(svc_call(f, ROLE_SERVICE, "OAuth", "UserInfo", &req.base, &resp, NULL),
                     AUTHD_OK);
    const Authd__V1__UserInfoResponse *u = (const Authd__V1__UserInfoResponse *)resp;
    snprintf(email, cap, "%s", u->email);
    int verified = u->email_verified;
    rpc_msg_free(resp);
    return verified;
}

/*
 * An administrator's user has not verified the address (OIDC Core §5.1) until Users.Update
 * says so, and UserInfo releases email and email_verified only for the email scope. Before,
 * UserInfo said email_verified for everyone, whatever the scope.
 */
static void
test_email_verified_and_scope(void **state)
{
    struct svc_fx *f = *state;
    char id[64], rt[256], at[2048], email[256];

    svc_user_create(f, "mail@example.com", SVC_PASSWORD, id);
    refresh_token_for(f, "mail@example.com", rt); /* puts the client */
    access_token_for(f, "mail@example.com", "openid email", at, sizeof(at));
    assert_int_equal(userinfo_email(f, at, email, sizeof(email)), 0);
    assert_string_equal(email, "mail@example.com");

    Authd__V1__UpdateUserRequest req = AUTHD__V1__UPDATE_USER_REQUEST__INIT;
    Authd__V1__BoolValue v = AUTHD__V1__BOOL_VALUE__INIT;
    ProtobufCMessage *resp = NULL;
    v.value = 1;
    req.id = id;
    req.email_verified = &v;
    assert_int_equal(svc_call(f, ROLE_ADMIN, "Users", "Update", &req.base, &resp, NULL), AUTHD_OK);
    assert_true(((Authd__V1__UserResponse *)resp)->user->email_verified);
    rpc_msg_free(resp);
    assert_int_equal(userinfo_email(f, at, email, sizeof(email)), 1);

    access_token_for(f, "mail@example.com", "openid", at, sizeof(at));
    assert_int_equal(userinfo_email(f, at, email, sizeof(email)), 0);
    assert_string_equal(email, "");
}

static void
test_deactivation(void **state)
{
    struct svc_fx *f = *state;
    struct rpc_status wrong, unknown;
    char id[64], session[256], rt[256], spare[256];

    svc_user_create(f, "off@example.com", SVC_PASSWORD, id);
    assert_int_equal(svc_login(f, "off@example.com", SVC_PASSWORD, session, NULL, NULL), AUTHD_OK);
    refresh_token_for(f, "off@example.com", rt);
    refresh_token_for(f, "off@example.com", spare);
    assert_int_equal(refresh(f, spare), AUTHD_OK);

    set_inactive(f, id, 1);
    assert_int_equal(svc_session_get(f, session), AUTHD_ERR_UNAUTHENTICATED);
    assert_int_equal(refresh(f, rt), AUTHD_ERR_INVALID_TOKEN);
    /* Only the right password learns that the account is off. */
    assert_int_equal(svc_login(f, "off@example.com", SVC_PASSWORD, NULL, NULL, NULL),
                     AUTHD_ERR_INACTIVE);
    assert_int_equal(svc_login(f, "off@example.com", "wrong password", NULL, NULL, &wrong),
                     AUTHD_ERR_INVALID_CREDENTIALS);
    assert_int_equal(svc_login(f, "nobody@example.com", "wrong password", NULL, NULL, &unknown),
                     AUTHD_ERR_INVALID_CREDENTIALS);
    assert_string_equal(wrong.message, unknown.message);

    /* Back on: the password works again; what was ended stays ended. */
    set_inactive(f, id, 0);
    assert_int_equal(svc_login(f, "off@example.com", SVC_PASSWORD, NULL, NULL, NULL), AUTHD_OK);
    assert_int_equal(svc_session_get(f, session), AUTHD_ERR_UNAUTHENTICATED);
}

static void
test_set_password_ends_sessions(void **state)
{
    struct svc_fx *f = *state;
    Authd__V1__SetPasswordRequest req = AUTHD__V1__SET_PASSWORD_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    char id[64], session[256];

    svc_user_create(f, "setpw@example.com", SVC_PASSWORD, id);
    assert_int_equal(svc_login(f, "setpw@example.com", SVC_PASSWORD, session, NULL, NULL),
                     AUTHD_OK);
    req.id = id;
    req.password = "set by the administrator";
    assert_int_equal(svc_call(f, ROLE_ADMIN, "Users", "SetPassword", &req.base, &resp, NULL),
                     AUTHD_OK);
    rpc_msg_free(resp);
    assert_int_equal(svc_session_get(f, session), AUTHD_ERR_UNAUTHENTICATED);
    assert_int_equal(svc_login(f, "setpw@example.com", SVC_PASSWORD, NULL, NULL, NULL),
                     AUTHD_ERR_INVALID_CREDENTIALS);
    assert_int_equal(
        svc_login(f, "setpw@example.com", "set by the administrator", NULL, NULL, NULL), AUTHD_OK);
}

static void
test_deleted_is_unknown(void **state)
{
    struct svc_fx *f = *state;
    Authd__V1__DeleteUserRequest req = AUTHD__V1__DELETE_USER_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    struct rpc_status gone, never;
    char id[64], session[256];

    svc_user_create(f, "gone@example.com", SVC_PASSWORD, id);
    assert_int_equal(svc_login(f, "gone@example.com", SVC_PASSWORD, session, NULL, NULL), AUTHD_OK);
    req.id = id;
    assert_int_equal(svc_call(f, ROLE_ADMIN, "Users", "Delete", &req.base, &resp, NULL), AUTHD_OK);
    rpc_msg_free(resp);
    assert_int_equal(svc_session_get(f, session), AUTHD_ERR_UNAUTHENTICATED);
    assert_int_equal(svc_login(f, "gone@example.com", SVC_PASSWORD, NULL, NULL, &gone),
                     AUTHD_ERR_INVALID_CREDENTIALS);
    assert_int_equal(svc_login(f, "never@example.com", SVC_PASSWORD, NULL, NULL, &never),
                     AUTHD_ERR_INVALID_CREDENTIALS);
    assert_string_equal(gone.message, never.message);
    /* The e-mail is free for a new account, which the old session does not reach. */
    svc_user_create(f, "gone@example.com", SVC_PASSWORD, id);
    assert_int_equal(svc_session_get(f, session), AUTHD_ERR_UNAUTHENTICATED);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_deactivation, svc_fx_setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_set_password_ends_sessions, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_deleted_is_unknown, svc_fx_setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_email_verified_and_scope, svc_fx_setup,
                                        svc_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
