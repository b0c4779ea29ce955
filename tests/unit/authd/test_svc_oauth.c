/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for authd/svc_oauth.c, called through rpc_local with a real store, signing keys and
 * a fake clock: consent for third-party clients (asked, remembered, refused as access_denied,
 * consent_required without a page), refresh-token rotation and reuse (a reused token kills its
 * family, the token that replaced it included) and expiry, a code redeemed twice, max_age, and
 * the password grant sharing Sessions.Login's lockout and second factor (codes spent in one are
 * spent in the other, wrong codes lock both), and the claims of access and ID tokens as a JSON
 * parser reads them (they are written as text, not through jansson).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <jansson.h>

#include "authd/account.h"
#include "authd/callers.h"
#include "authd/signkeys.h"
#include "authd/v1/oauth.pb-c.h"
#include "authd/v1/users.pb-c.h"
#include "common/err.h"
#include "common/metrics.h"
#include "common/secret.h"
#include "proto/rpc.h"
#include "tests/unit/authd/svc_fixture.h"

#define REDIRECT "https://app.example.test/cb"
#define BYE "https://app.example.test/bye"
#define CLIENT_SECRET "a client secret of some length"
#define FREE_FAILURES 5 /* default lockout policy: failures before the first lock */

/* refresh_token_expiration of the clients put_client registers (0: authd's default). */
static int64_t refresh_ttl;
/* put_client's clients may have offline_access (their scope list names it). */
static int offline_client;
/* put_client registers its clients deactivated (active: false). */
static int inactive_client;
/* The scope of token()'s requests ("": the client's default). */
static const char *token_scope = "";

/* Registers a confidential client with the code, password and refresh grants. */
static void
put_client(struct svc_fx *f, const char *id, int first_party)
{
    Authd__V1__Client c = AUTHD__V1__CLIENT__INIT;
    Authd__V1__ClientAuth auth = AUTHD__V1__CLIENT_AUTH__INIT;
    Authd__V1__GrantSettings code = AUTHD__V1__GRANT_SETTINGS__INIT;
    Authd__V1__GrantSettings pw = AUTHD__V1__GRANT_SETTINGS__INIT;
    char *grants[] = {"authorization_code", "password", "refresh_token"};
    char *scopes[] = {"openid", "profile", "email", "offline_access"};
    char *bye[] = {BYE};
    ProtobufCMessage *resp = NULL;

    code.redirect_uri = REDIRECT;
    code.refresh_token = 1;
    code.refresh_token_expiration = refresh_ttl;
    pw.refresh_token = 1;
    auth.authorization_code = &code;
    auth.password = &pw;
    c.id = (char *)id;
    c.secret = CLIENT_SECRET;
    c.first_party = first_party;
    c.n_grant_types = 3;
    c.grant_types = grants;
    c.n_scope = offline_client ? 4 : 3;
    c.scope = scopes;
    c.n_post_logout_redirect_uris = 1;
    c.post_logout_redirect_uris = bye;
    c.auth = &auth;
    Authd__V1__BoolValue off = AUTHD__V1__BOOL_VALUE__INIT;
    if (inactive_client)
        c.active = &off; /* value 0 */
    assert_int_equal(svc_call(f, ROLE_ADMIN, "ClientAdmin", "Put", &c.base, &resp, NULL), AUTHD_OK);
    rpc_msg_free(resp);
}

/* A user with a signed-in session; its token into token (256 bytes). */
static void
signed_in(struct svc_fx *f, const char *email, char *token)
{
    char id[64];
    int authenticated = 0;

    svc_user_create(f, email, SVC_PASSWORD, id);
    assert_int_equal(svc_login(f, email, SVC_PASSWORD, token, &authenticated, NULL), AUTHD_OK);
    assert_true(authenticated);
}

/* The max_age of the next authorize() calls (-1: none). */
static int64_t max_age = -1;
/* The carried auth_after ("" none) and the request / request_uri flags of the next calls. */
static const char *auth_after = "";
static int request_given, request_uri_given;
/* The acr_values of the next authorize() calls ("" none). */
static const char *acr_values = "";

/* OAuth.Authorize (as the edge) for response_type=code; *out is the caller's. */
static void
authorize(struct svc_fx *f, const char *token, const char *client_id, const char *scope,
          const char *prompt, int given, int denied, Authd__V1__AuthorizeResponse **out)
{
    Authd__V1__AuthorizeRequest req = AUTHD__V1__AUTHORIZE_REQUEST__INIT;
    Authd__V1__ClientContext p = AUTHD__V1__CLIENT_CONTEXT__INIT;
    ProtobufCMessage *resp = NULL;

    p.client_id = (char *)client_id;
    p.response_type = "code";
    p.redirect_uri = REDIRECT;
    p.scope = (char *)scope;
    p.state = "st4te";
    p.auth_after = (char *)auth_after;
    p.acr_values = (char *)acr_values;
    req.request_given = request_given;
    req.request_uri_given = request_uri_given;
    req.session_token = (char *)token;
    req.params = &p;
    req.prompt = (char *)prompt;
    req.max_age = max_age;
    req.consent_given = given;
    req.consent_denied = denied;
    assert_int_equal(svc_call(f, ROLE_EDGE, "OAuth", "Authorize", &req.base, &resp, NULL),
                     AUTHD_OK);
    *out = (Authd__V1__AuthorizeResponse *)resp;
}

/* The value of parameter name in the redirect URL's query into out (cap bytes); 0 when absent. */
static int
query_param(const char *url, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    const char *q = strchr(url, '?');

    for (const char *p = q; p != NULL; p = strchr(p + 1, '&')) {
        if (strncmp(p + 1, name, nl) == 0 && p[1 + nl] == '=') {
            const char *v = p + 2 + nl;
            size_t vl = strcspn(v, "&#");
            assert_true(vl < cap);
            memcpy(out, v, vl);
            out[vl] = '\0';
            return 1;
        }
    }
    return 0;
}

/* An authorization code for client_id (consent given when the client needs it). */
static void
get_code(struct svc_fx *f, const char *token, const char *client_id, char *code, size_t cap)
{
    Authd__V1__AuthorizeResponse *a = NULL;

    authorize(f, token, client_id, "openid profile", "", 1, 0, &a);
    assert_int_equal(a->next, AUTHD__V1__AUTHORIZE_RESPONSE__NEXT__REDIRECT);
    assert_true(query_param(a->redirect_url, "code", code, cap));
    rpc_msg_free(&a->base);
}

/* The OAuth error code of the last refused token request (rpc_status.oauth_error). */
static char last_oauth_error[RPC_OAUTH_ERROR_MAX];

/* OAuth.Token (as the edge) with the client's credentials; *out (may be NULL) is the caller's. */
static int
token(struct svc_fx *f, const char *client_id, const char *grant, const char *code,
      const char *refresh, const char *username, const char *password,
      Authd__V1__OAuthTokenResponse **out)
{
    struct rpc_status st;
    Authd__V1__OAuthTokenRequest req = AUTHD__V1__OAUTH_TOKEN_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    req.grant_type = (char *)grant;
    req.client_id = (char *)client_id;
    req.client_secret = CLIENT_SECRET;
    req.client_ip = SVC_IP;
    req.scope = (char *)token_scope;
    if (code != NULL) {
        req.code = (char *)code;
        req.redirect_uri = REDIRECT;
    }
    if (refresh != NULL)
        req.refresh_token = (char *)refresh;
    if (username != NULL) {
        req.username = (char *)username;
        req.password = (char *)password;
    }
    int r = svc_call(f, ROLE_EDGE, "OAuth", "Token", &req.base, &resp, &st);
    snprintf(last_oauth_error, sizeof(last_oauth_error), "%s", st.oauth_error);
    if (out != NULL)
        *out = (Authd__V1__OAuthTokenResponse *)resp;
    else
        rpc_msg_free(resp);
    return r;
}

/* Redeems a refresh token; the new one into next (256 bytes). */
static int
refresh(struct svc_fx *f, const char *client_id, const char *rt, char *next)
{
    Authd__V1__OAuthTokenResponse *t = NULL;
    int r = token(f, client_id, "refresh_token", NULL, rt, NULL, NULL, &t);

    if (r == AUTHD_OK) {
        assert_true(t->access_token[0] != '\0');
        assert_true(t->refresh_token[0] != '\0');
        snprintf(next, 256, "%s", t->refresh_token);
    }
    rpc_msg_free(t ? &t->base : NULL);
    return r;
}

/* A refresh token from the code grant for client_id, into rt (256 bytes). */
static void
first_refresh_token(struct svc_fx *f, const char *session, const char *client_id, char *rt)
{
    Authd__V1__OAuthTokenResponse *t = NULL;
    char code[256];

    get_code(f, session, client_id, code, sizeof(code));
    assert_int_equal(token(f, client_id, "authorization_code", code, NULL, NULL, NULL, &t),
                     AUTHD_OK);
    assert_true(t->refresh_token[0] != '\0');
    snprintf(rt, 256, "%s", t->refresh_token);
    rpc_msg_free(&t->base);
}

static void
test_consent(void **state)
{
    struct svc_fx *f = *state;
    Authd__V1__AuthorizeResponse *a = NULL;
    char session[256], v[256];

    signed_in(f, "consent@example.com", session);
    put_client(f, "thirdparty", 0);
    put_client(f, "firstparty", 1);

    /* A third-party client needs the user's consent: the consent page, no code. */
    authorize(f, session, "thirdparty", "openid profile", "", 0, 0, &a);
    assert_int_equal(a->next, AUTHD__V1__AUTHORIZE_RESPONSE__NEXT__CONSENT);
    assert_non_null(a->client);
    assert_string_equal(a->client->id, "thirdparty");
    assert_string_equal(a->client->secret, "");
    assert_int_equal(a->n_scopes, 2);
    assert_string_equal(a->redirect_url, "");
    rpc_msg_free(&a->base);

    /* prompt=none cannot show the page: consent_required, at the client's redirect URI. */
    authorize(f, session, "thirdparty", "openid profile", "none", 0, 0, &a);
    assert_int_equal(a->next, AUTHD__V1__AUTHORIZE_RESPONSE__NEXT__REDIRECT);
    assert_string_equal(a->error, "consent_required");
    assert_true(query_param(a->redirect_url, "error", v, sizeof(v)));
    assert_string_equal(v, "consent_required");
    assert_false(query_param(a->redirect_url, "code", v, sizeof(v)));
    rpc_msg_free(&a->base);

    /* The user refuses: access_denied at the registered redirect URI, with the state. */
    authorize(f, session, "thirdparty", "openid profile", "", 0, 1, &a);
    assert_int_equal(a->next, AUTHD__V1__AUTHORIZE_RESPONSE__NEXT__REDIRECT);
    assert_string_equal(a->error, "access_denied");
    assert_true(strncmp(a->redirect_url, REDIRECT "?", strlen(REDIRECT) + 1) == 0);
    assert_true(query_param(a->redirect_url, "error", v, sizeof(v)));
    assert_string_equal(v, "access_denied");
    assert_true(query_param(a->redirect_url, "state", v, sizeof(v)));
    assert_string_equal(v, "st4te");
    assert_false(query_param(a->redirect_url, "code", v, sizeof(v)));
    rpc_msg_free(&a->base);

    /* A refusal is not remembered: the page again. */
    authorize(f, session, "thirdparty", "openid profile", "", 0, 0, &a);
    assert_int_equal(a->next, AUTHD__V1__AUTHORIZE_RESPONSE__NEXT__CONSENT);
    rpc_msg_free(&a->base);

    /* The user approves: a code, and the consent is remembered for those scopes. */
    authorize(f, session, "thirdparty", "openid profile", "", 1, 0, &a);
    assert_int_equal(a->next, AUTHD__V1__AUTHORIZE_RESPONSE__NEXT__REDIRECT);
    assert_true(query_param(a->redirect_url, "code", v, sizeof(v)));
    rpc_msg_free(&a->base);
    authorize(f, session, "thirdparty", "openid", "none", 0, 0, &a);
    assert_int_equal(a->next, AUTHD__V1__AUTHORIZE_RESPONSE__NEXT__REDIRECT);
    assert_true(query_param(a->redirect_url, "code", v, sizeof(v)));
    rpc_msg_free(&a->base);
    /* A scope beyond the consent asks again. */
    authorize(f, session, "thirdparty", "openid profile email", "", 0, 0, &a);
    assert_int_equal(a->next, AUTHD__V1__AUTHORIZE_RESPONSE__NEXT__CONSENT);
    rpc_msg_free(&a->base);

    /* A first-party client needs no consent. */
    authorize(f, session, "firstparty", "openid profile", "none", 0, 0, &a);
    assert_int_equal(a->next, AUTHD__V1__AUTHORIZE_RESPONSE__NEXT__REDIRECT);
    assert_true(query_param(a->redirect_url, "code", v, sizeof(v)));
    rpc_msg_free(&a->base);
}

static void
test_refresh_rotation_and_reuse(void **state)
{
    struct svc_fx *f = *state;
    char session[256], rt1[256], rt2[256], rt3[256], b1[256], b2[256], b3[256];

    signed_in(f, "refresh@example.com", session);
    put_client(f, "app", 1);

    /* Rotation: each redemption gives a new refresh token, and the new one works. */
    first_refresh_token(f, session, "app", b1);
    assert_int_equal(refresh(f, "app", b1, b2), AUTHD_OK);
    assert_string_not_equal(b1, b2);
    assert_int_equal(refresh(f, "app", b2, b3), AUTHD_OK);
    assert_string_not_equal(b2, b3);

    /* Reuse: a redeemed token comes back. Refused, and its family dies with it: the token that
     * replaced it is refused too. */
    first_refresh_token(f, session, "app", rt1);
    assert_int_equal(refresh(f, "app", rt1, rt2), AUTHD_OK);
    assert_int_equal(refresh(f, "app", rt1, rt3), AUTHD_ERR_INVALID_TOKEN);
    assert_string_equal(last_oauth_error, "invalid_grant");
    assert_int_equal(refresh(f, "app", rt2, rt3), AUTHD_ERR_INVALID_TOKEN);
    assert_string_equal(last_oauth_error, "invalid_grant");
    /* Another family of the same user and client lives on. */
    assert_int_equal(refresh(f, "app", b3, b1), AUTHD_OK);
}

static void
test_code_single_use(void **state)
{
    struct svc_fx *f = *state;
    Authd__V1__OAuthTokenResponse *t = NULL;
    char session[256], code[256], rt[256], next[256];

    signed_in(f, "code@example.com", session);
    put_client(f, "app", 1);
    get_code(f, session, "app", code, sizeof(code));
    assert_int_equal(token(f, "app", "authorization_code", code, NULL, NULL, NULL, &t), AUTHD_OK);
    snprintf(rt, sizeof(rt), "%s", t->refresh_token);
    rpc_msg_free(&t->base);
    /* A code redeemed twice: refused, and what it gave is revoked. */
    assert_int_equal(token(f, "app", "authorization_code", code, NULL, NULL, NULL, NULL),
                     AUTHD_ERR_INVALID_TOKEN);
    assert_string_equal(last_oauth_error, "invalid_grant");
    assert_int_equal(refresh(f, "app", rt, next), AUTHD_ERR_INVALID_TOKEN);
}

static void
test_password_grant_shares_login_lockout(void **state)
{
    struct svc_fx *f = *state;
    char id[64];

    svc_user_create(f, "grant@example.com", SVC_PASSWORD, id);
    put_client(f, "app", 1);
    assert_int_equal(
        token(f, "app", "password", NULL, NULL, "grant@example.com", SVC_PASSWORD, NULL), AUTHD_OK);
    /* Guessing through the token endpoint counts like guessing at the login page... */
    for (int i = 0; i <= FREE_FAILURES; i++)
        assert_int_equal(
            token(f, "app", "password", NULL, NULL, "grant@example.com", "wrong password", NULL),
            AUTHD_ERR_INVALID_TOKEN);
    /* ...so both are locked now, and a lock earned at the login page holds here too. */
    assert_int_equal(svc_login(f, "grant@example.com", SVC_PASSWORD, NULL, NULL, NULL),
                     AUTHD_ERR_LOCKED);
    assert_int_equal(
        token(f, "app", "password", NULL, NULL, "grant@example.com", SVC_PASSWORD, NULL),
        AUTHD_ERR_LOCKED);
}

/* A TOTP code for the password grant. */
static int
grant_with_totp(struct svc_fx *f, const char *email, const char *totp)
{
    Authd__V1__OAuthTokenRequest req = AUTHD__V1__OAUTH_TOKEN_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    struct rpc_status st;

    req.grant_type = "password";
    req.client_id = "app";
    req.client_secret = CLIENT_SECRET;
    req.client_ip = SVC_IP;
    req.username = (char *)email;
    req.password = SVC_PASSWORD;
    req.totp = (char *)totp;
    int r = svc_call(f, ROLE_EDGE, "OAuth", "Token", &req.base, &resp, &st);
    snprintf(last_oauth_error, sizeof(last_oauth_error), "%s", st.oauth_error);
    rpc_msg_free(resp);
    return r;
}

static void
test_password_grant_second_factor(void **state)
{
    struct svc_fx *f = *state;
    char session[256], pending[256], secret[64], code[16];

    signed_in(f, "grant2fa@example.com", session);
    put_client(f, "app", 1);
    svc_enrol_totp(f, session, secret, NULL);
    svc_fake_now += 30;
    /* The password alone is not enough. */
    assert_int_equal(grant_with_totp(f, "grant2fa@example.com", ""), AUTHD_ERR_INVALID_TOKEN);
    assert_string_equal(last_oauth_error, "invalid_grant");
    /* A code spent at a login is refused here, and one spent here at a login. */
    assert_int_equal(svc_login(f, "grant2fa@example.com", SVC_PASSWORD, pending, NULL, NULL),
                     AUTHD_OK);
    svc_totp(secret, svc_fake_now, code);
    assert_int_equal(svc_verify(f, pending, code, NULL, NULL, NULL), AUTHD_OK);
    assert_int_equal(grant_with_totp(f, "grant2fa@example.com", code), AUTHD_ERR_INVALID_TOKEN);
    assert_string_equal(last_oauth_error, "invalid_grant");
    svc_fake_now += 30;
    svc_totp(secret, svc_fake_now, code);
    assert_int_equal(grant_with_totp(f, "grant2fa@example.com", code), AUTHD_OK);
    assert_int_equal(grant_with_totp(f, "grant2fa@example.com", code), AUTHD_ERR_INVALID_TOKEN);
    assert_int_equal(svc_login(f, "grant2fa@example.com", SVC_PASSWORD, pending, NULL, NULL),
                     AUTHD_OK);
    assert_int_equal(svc_verify(f, pending, code, NULL, NULL, NULL), AUTHD_ERR_WRONG_CODE);

    /* Wrong codes at the grant lock the second factor, at the login too: the two replays above
     * were the first two failures since the last success. */
    for (int i = 2; i <= FREE_FAILURES; i++) {
        svc_totp(secret, svc_fake_now, code);
        code[0] = code[0] == '9' ? '0' : (char)(code[0] + 1);
        assert_int_equal(grant_with_totp(f, "grant2fa@example.com", code), AUTHD_ERR_INVALID_TOKEN);
    }
    svc_totp(secret, svc_fake_now + 30, code);
    assert_int_equal(grant_with_totp(f, "grant2fa@example.com", code), AUTHD_ERR_LOCKED);
    assert_string_equal(last_oauth_error, "temporarily_unavailable");
    assert_int_equal(svc_verify(f, pending, code, NULL, NULL, NULL), AUTHD_ERR_LOCKED);
}

static void
test_refresh_token_expires(void **state)
{
    struct svc_fx *f = *state;
    char session[256], a1[256], b1[256], next[256];
    int64_t t0 = svc_fake_now;

    refresh_ttl = 100;
    signed_in(f, "expire@example.com", session);
    put_client(f, "app", 1);
    first_refresh_token(f, session, "app", a1);
    first_refresh_token(f, session, "app", b1);
    /* Valid until its lifetime is over, not after. */
    svc_fake_now = t0 + 99;
    assert_int_equal(refresh(f, "app", a1, next), AUTHD_OK);
    svc_fake_now = t0 + 100;
    assert_int_equal(refresh(f, "app", b1, next), AUTHD_ERR_INVALID_TOKEN);
    assert_string_equal(last_oauth_error, "invalid_grant");
}

static void
test_max_age(void **state)
{
    struct svc_fx *f = *state;
    Authd__V1__AuthorizeResponse *a = NULL;
    char session[256], v[256];
    int64_t t0 = svc_fake_now;

    signed_in(f, "maxage@example.com", session);
    put_client(f, "app", 1);
    max_age = 600;
    svc_fake_now = t0 + 600;
    authorize(f, session, "app", "openid", "", 0, 0, &a);
    assert_int_equal(a->next, AUTHD__V1__AUTHORIZE_RESPONSE__NEXT__REDIRECT);
    assert_true(query_param(a->redirect_url, "code", v, sizeof(v)));
    rpc_msg_free(&a->base);
    /* Older than max_age: sign in again, or login_required without a page. */
    svc_fake_now = t0 + 601;
    authorize(f, session, "app", "openid", "", 0, 0, &a);
    assert_int_equal(a->next, AUTHD__V1__AUTHORIZE_RESPONSE__NEXT__LOGIN);
    assert_string_equal(a->redirect_url, "");
    rpc_msg_free(&a->base);
    authorize(f, session, "app", "openid", "none", 0, 0, &a);
    assert_int_equal(a->next, AUTHD__V1__AUTHORIZE_RESPONSE__NEXT__REDIRECT);
    assert_string_equal(a->error, "login_required");
    assert_false(query_param(a->redirect_url, "code", v, sizeof(v)));
    rpc_msg_free(&a->base);
    max_age = -1;
    /* Without max_age the same session still serves. */
    authorize(f, session, "app", "openid", "none", 0, 0, &a);
    assert_true(query_param(a->redirect_url, "code", v, sizeof(v)));
    rpc_msg_free(&a->base);
}

/*
 * prompt=login and max_age=0 ask for a new sign-in even from a session signed in this very
 * second; the answer names the time (auth_after) from which a sign-in counts, and a request
 * that comes back with it is served only by a session signed in since.
 */
static void
test_fresh_login(void **state)
{
    struct svc_fx *f = *state;
    Authd__V1__AuthorizeResponse *a = NULL;
    char session[256], again[256], v[256], after[32], tagged[64];
    int64_t t0 = svc_fake_now;

    signed_in(f, "fresh@example.com", session);
    put_client(f, "app", 1);
    authorize(f, session, "app", "openid", "login", 0, 0, &a);
    assert_int_equal(a->next, AUTHD__V1__AUTHORIZE_RESPONSE__NEXT__LOGIN);
    snprintf(after, sizeof(after), "%lld.", (long long)t0);
    assert_int_equal(strncmp(a->auth_after, after, strlen(after)), 0);
    assert_int_equal(strlen(a->auth_after), strlen(after) + 12);
    rpc_msg_free(&a->base);
    max_age = 0;
    authorize(f, session, "app", "openid", "", 0, 0, &a);
    assert_int_equal(a->next, AUTHD__V1__AUTHORIZE_RESPONSE__NEXT__LOGIN);
    /* Back with that auth_after, in the same second, but with the old session: again. */
    snprintf(tagged, sizeof(tagged), "%s", a->auth_after);
    rpc_msg_free(&a->base);
    max_age = -1;
    auth_after = tagged;
    authorize(f, session, "app", "openid", "", 0, 0, &a);
    assert_int_equal(a->next, AUTHD__V1__AUTHORIZE_RESPONSE__NEXT__LOGIN);
    rpc_msg_free(&a->base);
    /* Back with a later auth_after (no tag): the session signed in before it does not serve. */
    svc_fake_now = t0 + 60;
    snprintf(after, sizeof(after), "%lld", (long long)(t0 + 60));
    auth_after = after;
    authorize(f, session, "app", "openid", "", 0, 0, &a);
    assert_int_equal(a->next, AUTHD__V1__AUTHORIZE_RESPONSE__NEXT__LOGIN);
    rpc_msg_free(&a->base);
    /* A sign-in since then serves it. */
    int authenticated = 0;
    assert_int_equal(svc_login(f, "fresh@example.com", SVC_PASSWORD, again, &authenticated, NULL),
                     AUTHD_OK);
    assert_true(authenticated);
    authorize(f, again, "app", "openid", "", 0, 0, &a);
    assert_int_equal(a->next, AUTHD__V1__AUTHORIZE_RESPONSE__NEXT__REDIRECT);
    assert_true(query_param(a->redirect_url, "code", v, sizeof(v)));
    rpc_msg_free(&a->base);
    auth_after = "";
    /* Without prompt and max_age the old session still serves. */
    authorize(f, session, "app", "openid", "", 0, 0, &a);
    assert_true(query_param(a->redirect_url, "code", v, sizeof(v)));
    rpc_msg_free(&a->base);
}

/* request and request_uri are refused at the client's redirect URI, with the state. */
static void
test_request_objects_refused(void **state)
{
    struct svc_fx *f = *state;
    Authd__V1__AuthorizeResponse *a = NULL;
    char session[256], v[256];

    signed_in(f, "reqobj@example.com", session);
    put_client(f, "app", 1);
    static const char *const want[] = {"request_not_supported", "request_uri_not_supported"};
    for (int i = 0; i < 2; i++) {
        request_given = i == 0;
        request_uri_given = i == 1;
        authorize(f, session, "app", "openid", "", 0, 0, &a);
        assert_int_equal(a->next, AUTHD__V1__AUTHORIZE_RESPONSE__NEXT__REDIRECT);
        assert_true(query_param(a->redirect_url, "error", v, sizeof(v)));
        assert_string_equal(v, want[i]);
        assert_true(query_param(a->redirect_url, "state", v, sizeof(v)));
        assert_string_equal(v, "st4te");
        assert_false(query_param(a->redirect_url, "code", v, sizeof(v)));
        rpc_msg_free(&a->base);
    }
    request_given = request_uri_given = 0;
}

/* ---- offline_access (OIDC Core §11) and the lifetimes refresh tokens advertise ------------ */

#define SESSION_TTL (12 * 3600) /* authd's default session lifetime */
#define REFRESH_TTL_DEFAULT (30 * 86400)

/* The code for scope (given: the consent page was approved) with what Authorize answered. */
static int
code_for(struct svc_fx *f, const char *session, const char *client_id, const char *scope,
         const char *prompt, int given, char *code, size_t cap)
{
    Authd__V1__AuthorizeResponse *a = NULL;
    authorize(f, session, client_id, scope, prompt, given, 0, &a);
    int next = a->next;
    int got = a->next == AUTHD__V1__AUTHORIZE_RESPONSE__NEXT__REDIRECT &&
              query_param(a->redirect_url, "code", code, cap);
    rpc_msg_free(&a->base);
    return got ? -1 : next;
}

/* Redeems code; the token response into *out (the caller's). */
static void
redeem(struct svc_fx *f, const char *client_id, const char *code,
       Authd__V1__OAuthTokenResponse **out)
{
    assert_int_equal(token(f, client_id, "authorization_code", code, NULL, NULL, NULL, out),
                     AUTHD_OK);
    assert_true((*out)->refresh_token[0] != '\0');
}

/* Redeems a refresh token; the whole response into *out (the caller's) on AUTHD_OK. */
static int
refresh_resp(struct svc_fx *f, const char *client_id, const char *rt,
             Authd__V1__OAuthTokenResponse **out)
{
    *out = NULL;
    int r = token(f, client_id, "refresh_token", NULL, rt, NULL, NULL, out);
    if (r != AUTHD_OK) {
        rpc_msg_free(*out ? &(*out)->base : NULL);
        *out = NULL;
    }
    return r;
}

/* OAuth.Introspect by client_id itself: 1 when active, with exp into *exp (may be NULL). */
static int
introspect(struct svc_fx *f, const char *client_id, const char *tok, const char *hint, int64_t *exp,
           int *has_user)
{
    Authd__V1__IntrospectRequest req = AUTHD__V1__INTROSPECT_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    req.token = (char *)tok;
    req.token_type_hint = (char *)hint;
    req.client_id = (char *)client_id;
    req.client_secret = CLIENT_SECRET;
    assert_int_equal(svc_call(f, ROLE_EDGE, "OAuth", "Introspect", &req.base, &resp, NULL),
                     AUTHD_OK);
    Authd__V1__IntrospectResponse *ir = (void *)resp;
    int active = ir->active;
    if (exp != NULL)
        *exp = ir->exp;
    if (has_user != NULL)
        *has_user = ir->username[0] != '\0';
    rpc_msg_free(resp);
    return active;
}

/* Sessions.Revoke with the session's token: the browser signs out. */
static void
logout(struct svc_fx *f, const char *session)
{
    Authd__V1__RevokeSessionRequest req = AUTHD__V1__REVOKE_SESSION_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    req.session_token = (char *)session;
    assert_int_equal(svc_call(f, ROLE_EDGE, "Sessions", "Revoke", &req.base, &resp, NULL),
                     AUTHD_OK);
    rpc_msg_free(resp);
    assert_int_not_equal(svc_session_get(f, session), AUTHD_OK);
}

/* OAuth.UserInfo with an access token: AUTHD_OK while it speaks for its user. */
static int
userinfo(struct svc_fx *f, const char *access_token)
{
    Authd__V1__UserInfoRequest req = AUTHD__V1__USER_INFO_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    req.access_token = (char *)access_token;
    int r = svc_call(f, ROLE_EDGE, "OAuth", "UserInfo", &req.base, &resp, NULL);
    rpc_msg_free(resp);
    return r;
}

/*
 * An offline refresh token outlives the browser session: after sign-out it still redeems, its
 * successors too, and the access tokens they bring speak for the user (UserInfo, introspection
 * with a username). It is offered only after the user approved offline_access, first-party
 * client or not, and it says how long it lives: the configured lifetime, not the session's.
 */
static void
test_offline_survives_logout(void **state)
{
    struct svc_fx *f = *state;
    Authd__V1__OAuthTokenResponse *t = NULL, *t2 = NULL;
    char session[256], code[256], rt[256], rt2[256], at[4096];
    int64_t exp = 0;
    int has_user = 0;

    offline_client = 1;
    signed_in(f, "offline@example.com", session);
    put_client(f, "app", 1);
    /* First party, but offline access needs the user's approval: the consent page. */
    assert_int_equal(
        code_for(f, session, "app", "openid offline_access", "", 0, code, sizeof(code)),
        AUTHD__V1__AUTHORIZE_RESPONSE__NEXT__CONSENT);
    assert_int_equal(
        code_for(f, session, "app", "openid offline_access", "", 1, code, sizeof(code)), -1);
    redeem(f, "app", code, &t);
    assert_string_equal(t->scope, "openid offline_access");
    assert_int_equal(t->refresh_expires_in, REFRESH_TTL_DEFAULT);
    snprintf(rt, sizeof(rt), "%s", t->refresh_token);
    rpc_msg_free(&t->base);
    assert_int_equal(introspect(f, "app", rt, "refresh_token", &exp, NULL), 1);
    assert_int_equal(exp, svc_fake_now + REFRESH_TTL_DEFAULT);

    /* The approval is remembered: no page the next time. */
    assert_int_equal(
        code_for(f, session, "app", "openid offline_access", "none", 0, code, sizeof(code)), -1);

    logout(f, session);
    svc_fake_now += SESSION_TTL + 60; /* the session would have expired by now anyway */
    assert_int_equal(introspect(f, "app", rt, "refresh_token", NULL, NULL), 1);
    assert_int_equal(refresh_resp(f, "app", rt, &t2), AUTHD_OK);
    assert_int_equal(t2->refresh_expires_in, REFRESH_TTL_DEFAULT);
    snprintf(rt2, sizeof(rt2), "%s", t2->refresh_token);
    snprintf(at, sizeof(at), "%s", t2->access_token);
    rpc_msg_free(&t2->base);
    assert_int_equal(userinfo(f, at), AUTHD_OK);
    assert_int_equal(introspect(f, "app", at, NULL, NULL, &has_user), 1);
    assert_true(has_user);
    assert_int_equal(refresh(f, "app", rt2, rt2), AUTHD_OK);

    /* Rotation and reuse detection as for any refresh token: the used one kills the family. */
    assert_int_equal(refresh(f, "app", rt, rt), AUTHD_ERR_INVALID_TOKEN);
    assert_int_equal(refresh(f, "app", rt2, rt), AUTHD_ERR_INVALID_TOKEN);
    assert_int_equal(userinfo(f, at), AUTHD_ERR_UNAUTHENTICATED);
}

/*
 * Without offline_access, a refresh token dies with the session, and says so: the lifetime it
 * advertises (refresh_expires_in, introspection's exp) is the session's remaining life when that
 * is shorter than the configured one, and it really lives exactly that long.
 */
static void
test_session_bound_lifetime_is_real(void **state)
{
    struct svc_fx *f = *state;
    Authd__V1__OAuthTokenResponse *t = NULL;
    char session[256], code[256], rt[256], rt2[256], next[256];
    int64_t t0 = svc_fake_now, exp = 0;

    offline_client = 1;
    signed_in(f, "bound@example.com", session);
    put_client(f, "app", 1);
    svc_fake_now = t0 + 1000;
    assert_int_equal(code_for(f, session, "app", "openid", "", 0, code, sizeof(code)), -1);
    redeem(f, "app", code, &t);
    assert_string_equal(t->scope, "openid");
    assert_int_equal(t->refresh_expires_in, SESSION_TTL - 1000);
    snprintf(rt, sizeof(rt), "%s", t->refresh_token);
    rpc_msg_free(&t->base);
    assert_int_equal(introspect(f, "app", rt, "refresh_token", &exp, NULL), 1);
    assert_int_equal(exp, t0 + SESSION_TTL);
    /* Rotation keeps to the session's end too. */
    svc_fake_now = t0 + 2000;
    Authd__V1__OAuthTokenResponse *t2 = NULL;
    assert_int_equal(refresh_resp(f, "app", rt, &t2), AUTHD_OK);
    assert_int_equal(t2->refresh_expires_in, SESSION_TTL - 2000);
    snprintf(rt2, sizeof(rt2), "%s", t2->refresh_token);
    rpc_msg_free(&t2->base);
    /* Alive until the advertised end, not a second longer. */
    svc_fake_now = t0 + SESSION_TTL - 1;
    assert_int_equal(introspect(f, "app", rt2, "refresh_token", &exp, NULL), 1);
    assert_int_equal(exp, t0 + SESSION_TTL);
    svc_fake_now = t0 + SESSION_TTL;
    assert_int_equal(introspect(f, "app", rt2, "refresh_token", NULL, NULL), 0);
    assert_int_equal(refresh(f, "app", rt2, next), AUTHD_ERR_INVALID_TOKEN);

    /* A configured lifetime shorter than the session is what it advertises and lives. */
    refresh_ttl = 300;
    svc_fake_now = t0 + 100;
    put_client(f, "short", 1);
    signed_in(f, "bound2@example.com", session);
    assert_int_equal(code_for(f, session, "short", "openid", "", 0, code, sizeof(code)), -1);
    redeem(f, "short", code, &t);
    assert_int_equal(t->refresh_expires_in, 300);
    snprintf(rt, sizeof(rt), "%s", t->refresh_token);
    rpc_msg_free(&t->base);
    svc_fake_now = t0 + 399;
    assert_int_equal(introspect(f, "short", rt, "refresh_token", &exp, NULL), 1);
    assert_int_equal(exp, t0 + 400);
    svc_fake_now = t0 + 400;
    assert_int_equal(refresh(f, "short", rt, next), AUTHD_ERR_INVALID_TOKEN);
}

/* A refresh token without offline_access does not survive sign-out; nor do its access tokens. */
static void
test_session_bound_dies_with_logout(void **state)
{
    struct svc_fx *f = *state;
    Authd__V1__OAuthTokenResponse *t = NULL;
    char session[256], code[256], rt[256], next[256];

    offline_client = 1;
    signed_in(f, "logout@example.com", session);
    put_client(f, "app", 1);
    assert_int_equal(code_for(f, session, "app", "openid", "", 0, code, sizeof(code)), -1);
    redeem(f, "app", code, &t);
    snprintf(rt, sizeof(rt), "%s", t->refresh_token);
    rpc_msg_free(&t->base);
    logout(f, session);
    assert_int_equal(introspect(f, "app", rt, "refresh_token", NULL, NULL), 0);
    assert_int_equal(refresh(f, "app", rt, next), AUTHD_ERR_INVALID_TOKEN);
    assert_string_equal(last_oauth_error, "invalid_grant");
}

/*
 * A client whose registration does not list offline_access asks for it: OIDC Core §11 says the
 * request is ignored, so the answer is a code for the other scopes, and its refresh token is a
 * session-bound one that says so and dies at sign-out. Likewise under prompt=none when the user
 * never approved offline access, and for a third-party client whose consent covers the rest.
 */
static void
test_offline_not_allowed_is_ignored(void **state)
{
    struct svc_fx *f = *state;
    Authd__V1__OAuthTokenResponse *t = NULL;
    char session[256], code[256], rt[256], next[256];
    int64_t t0 = svc_fake_now;

    offline_client = 0;
    signed_in(f, "noffline@example.com", session);
    put_client(f, "plain", 1);
    assert_int_equal(
        code_for(f, session, "plain", "openid offline_access", "", 0, code, sizeof(code)), -1);
    redeem(f, "plain", code, &t);
    assert_string_equal(t->scope, "openid");
    assert_int_equal(t->refresh_expires_in, SESSION_TTL);
    snprintf(rt, sizeof(rt), "%s", t->refresh_token);
    rpc_msg_free(&t->base);

    /* The password grant ignores it the same way. */
    assert_int_equal(
        token(f, "plain", "password", NULL, NULL, "noffline@example.com", SVC_PASSWORD, &t),
        AUTHD_OK);
    assert_string_equal(t->scope, "openid profile email");
    rpc_msg_free(&t->base);

    /* prompt=none and no approval yet: a code without offline access, not consent_required. */
    offline_client = 1;
    put_client(f, "first", 1);
    assert_int_equal(
        code_for(f, session, "first", "openid offline_access", "none", 0, code, sizeof(code)), -1);
    redeem(f, "first", code, &t);
    assert_string_equal(t->scope, "openid");
    assert_int_equal(t->refresh_expires_in, SESSION_TTL);
    rpc_msg_free(&t->base);

    logout(f, session);
    assert_int_equal(refresh(f, "plain", rt, next), AUTHD_ERR_INVALID_TOKEN);
    (void)t0;
}

/* Password change and reset, deactivation and deletion end every session of the user: they
 * revoke the offline refresh tokens too, and the access tokens those issued. */
static void
test_offline_revoked_with_password_change(void **state)
{
    struct svc_fx *f = *state;
    Authd__V1__OAuthTokenResponse *t = NULL;
    char session[256], code[256], rt[256], keep[256], at[4096];

    offline_client = 1;
    signed_in(f, "pwchange@example.com", session);
    put_client(f, "app", 1);
    assert_int_equal(
        code_for(f, session, "app", "openid offline_access", "", 1, code, sizeof(code)), -1);
    redeem(f, "app", code, &t);
    snprintf(rt, sizeof(rt), "%s", t->refresh_token);
    rpc_msg_free(&t->base);
    /* An access token from the offline family, and a second family held by the test. */
    assert_int_equal(refresh_resp(f, "app", rt, &t), AUTHD_OK);
    snprintf(rt, sizeof(rt), "%s", t->refresh_token);
    snprintf(at, sizeof(at), "%s", t->access_token);
    rpc_msg_free(&t->base);
    assert_int_equal(
        code_for(f, session, "app", "openid offline_access", "", 0, code, sizeof(code)), -1);
    redeem(f, "app", code, &t);
    snprintf(keep, sizeof(keep), "%s", t->refresh_token);
    rpc_msg_free(&t->base);
    assert_int_equal(userinfo(f, at), AUTHD_OK);

    /* The user changes the password in the same browser session, which stays signed in. */
    Authd__V1__ChangePasswordRequest req = AUTHD__V1__CHANGE_PASSWORD_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    req.session_token = session;
    req.current_password = SVC_PASSWORD;
    req.new_password = "another horse battery staple";
    req.client_ip = SVC_IP;
    assert_int_equal(svc_call(f, ROLE_EDGE, "Sessions", "ChangePassword", &req.base, &resp, NULL),
                     AUTHD_OK);
    rpc_msg_free(resp);
    assert_int_equal(svc_session_get(f, session), AUTHD_OK);
    assert_int_equal(introspect(f, "app", rt, "refresh_token", NULL, NULL), 0);
    assert_int_equal(refresh(f, "app", rt, code), AUTHD_ERR_INVALID_TOKEN);
    assert_int_equal(refresh(f, "app", keep, code), AUTHD_ERR_INVALID_TOKEN);
    assert_int_equal(userinfo(f, at), AUTHD_ERR_UNAUTHENTICATED);

    /* A new offline token after the change, then the administrator deactivates the user. */
    assert_int_equal(
        code_for(f, session, "app", "openid offline_access", "", 0, code, sizeof(code)), -1);
    redeem(f, "app", code, &t);
    snprintf(rt, sizeof(rt), "%s", t->refresh_token);
    char uid[64];
    snprintf(uid, sizeof(uid), "%s", t->userinfo->id);
    rpc_msg_free(&t->base);
    Authd__V1__UpdateUserRequest up = AUTHD__V1__UPDATE_USER_REQUEST__INIT;
    Authd__V1__BoolValue yes = AUTHD__V1__BOOL_VALUE__INIT;
    yes.value = 1;
    up.id = uid;
    up.inactive = &yes;
    assert_int_equal(svc_call(f, ROLE_ADMIN, "Users", "Update", &up.base, &resp, NULL), AUTHD_OK);
    rpc_msg_free(resp);
    yes.value = 0; /* active again: the token stays dead */
    assert_int_equal(svc_call(f, ROLE_ADMIN, "Users", "Update", &up.base, &resp, NULL), AUTHD_OK);
    rpc_msg_free(resp);
    assert_int_equal(refresh(f, "app", rt, code), AUTHD_ERR_INVALID_TOKEN);
}

/* The token endpoint's revocation (RFC 7009) ends an offline family like any other. */
static void
test_offline_revoked_by_revocation(void **state)
{
    struct svc_fx *f = *state;
    Authd__V1__OAuthTokenResponse *t = NULL;
    char session[256], code[256], rt[256], next[256];

    offline_client = 1;
    signed_in(f, "revoke@example.com", session);
    put_client(f, "app", 1);
    assert_int_equal(
        code_for(f, session, "app", "openid offline_access", "", 1, code, sizeof(code)), -1);
    redeem(f, "app", code, &t);
    snprintf(rt, sizeof(rt), "%s", t->refresh_token);
    rpc_msg_free(&t->base);
    logout(f, session);
    Authd__V1__RevokeRequest req = AUTHD__V1__REVOKE_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    req.token = rt;
    req.client_id = "app";
    req.client_secret = CLIENT_SECRET;
    assert_int_equal(svc_call(f, ROLE_EDGE, "OAuth", "Revoke", &req.base, &resp, NULL), AUTHD_OK);
    rpc_msg_free(resp);
    assert_int_equal(refresh(f, "app", rt, next), AUTHD_ERR_INVALID_TOKEN);
}

/* An offline token's configured lifetime is what it advertises and lives, past the session. */
static void
test_offline_lifetime_is_real(void **state)
{
    struct svc_fx *f = *state;
    Authd__V1__OAuthTokenResponse *t = NULL;
    char session[256], code[256], a1[256], b1[256], next[256];
    int64_t t0 = svc_fake_now, exp = 0;

    offline_client = 1;
    refresh_ttl = SESSION_TTL + 500;
    signed_in(f, "offlife@example.com", session);
    put_client(f, "app", 1);
    assert_int_equal(
        code_for(f, session, "app", "openid offline_access", "", 1, code, sizeof(code)), -1);
    redeem(f, "app", code, &t);
    assert_int_equal(t->refresh_expires_in, SESSION_TTL + 500);
    snprintf(a1, sizeof(a1), "%s", t->refresh_token);
    rpc_msg_free(&t->base);
    assert_int_equal(
        code_for(f, session, "app", "openid offline_access", "", 0, code, sizeof(code)), -1);
    redeem(f, "app", code, &t);
    snprintf(b1, sizeof(b1), "%s", t->refresh_token);
    rpc_msg_free(&t->base);
    svc_fake_now = t0 + SESSION_TTL + 499;
    assert_int_equal(introspect(f, "app", a1, "refresh_token", &exp, NULL), 1);
    assert_int_equal(exp, t0 + SESSION_TTL + 500);
    assert_int_equal(refresh(f, "app", a1, next), AUTHD_OK);
    svc_fake_now = t0 + SESSION_TTL + 500;
    assert_int_equal(introspect(f, "app", b1, "refresh_token", NULL, NULL), 0);
    assert_int_equal(refresh(f, "app", b1, next), AUTHD_ERR_INVALID_TOKEN);
}

/* OAuth.EndSession (as the edge); *out is the caller's. */
static void
end_session(struct svc_fx *f, const char *session, const char *hint, const char *client_id,
            const char *uri, int confirmed, Authd__V1__EndSessionResponse **out)
{
    Authd__V1__EndSessionRequest req = AUTHD__V1__END_SESSION_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    req.session_token = (char *)session;
    req.id_token_hint = (char *)hint;
    req.client_id = (char *)client_id;
    req.post_logout_redirect_uri = (char *)uri;
    req.state = "st";
    req.confirmed = confirmed;
    assert_int_equal(svc_call(f, ROLE_EDGE, "OAuth", "EndSession", &req.base, &resp, NULL),
                     AUTHD_OK);
    *out = (Authd__V1__EndSessionResponse *)resp;
}

/* An ID token for a code flow of client_id in session, into idt (4096 bytes). */
static void
id_token(struct svc_fx *f, const char *session, const char *client_id, char *idt)
{
    Authd__V1__OAuthTokenResponse *t = NULL;
    char code[256];
    get_code(f, session, client_id, code, sizeof(code));
    assert_int_equal(token(f, client_id, "authorization_code", code, NULL, NULL, NULL, &t),
                     AUTHD_OK);
    assert_true(t->id_token[0] != '\0' && strlen(t->id_token) < 4096);
    snprintf(idt, 4096, "%s", t->id_token);
    rpc_msg_free(&t->base);
}

/* 1 when session still serves an authorization request. */
static int
session_lives(struct svc_fx *f, const char *session)
{
    Authd__V1__AuthorizeResponse *a = NULL;
    authorize(f, session, "app", "openid", "", 0, 0, &a);
    int lives = a->next == AUTHD__V1__AUTHORIZE_RESPONSE__NEXT__REDIRECT;
    rpc_msg_free(&a->base);
    return lives;
}

/*
 * RP-initiated logout: without a hint nothing ends until the user confirms; a bad hint, a
 * client_id other than the hint's or an unregistered URI is refused; a hint naming the session
 * ends it, expired or not, and the redirect is the registered URI with state.
 */
static void
test_end_session(void **state)
{
    struct svc_fx *f = *state;
    Authd__V1__EndSessionResponse *e = NULL;
    char session[256], other[256], idt[4096], bad[4096];
    int64_t t0 = svc_fake_now;
    int authenticated = 0;

    signed_in(f, "bye@example.com", session);
    put_client(f, "app", 1);
    put_client(f, "app2", 1);
    id_token(f, session, "app", idt);

    end_session(f, session, "", "app", BYE, 0, &e);
    assert_int_equal(e->next, AUTHD__V1__END_SESSION_RESPONSE__NEXT__CONFIRM);
    assert_string_equal(e->client_id, "app");
    rpc_msg_free(&e->base);
    assert_true(session_lives(f, session));

    snprintf(bad, sizeof(bad), "%s", idt);
    bad[strlen(bad) - 2] = bad[strlen(bad) - 2] == 'A' ? 'B' : 'A';
    const struct {
        const char *hint, *client, *uri;
    } refused[] = {{bad, "", BYE},     {"not.a.token", "", ""}, {idt, "app2", BYE},
                   {idt, "", BYE "/"}, {"", "", BYE},           {"", "nobody", ""}};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        end_session(f, session, refused[i].hint, refused[i].client, refused[i].uri, 1, &e);
        assert_int_equal(e->next, AUTHD__V1__END_SESSION_RESPONSE__NEXT__ERROR_PAGE);
        assert_string_equal(e->redirect_url, "");
        rpc_msg_free(&e->base);
    }
    assert_true(session_lives(f, session));

    /* Another session's hint does not end this one without asking. */
    assert_int_equal(svc_login(f, "bye@example.com", SVC_PASSWORD, other, &authenticated, NULL),
                     AUTHD_OK);
    end_session(f, other, idt, "", BYE, 0, &e);
    assert_int_equal(e->next, AUTHD__V1__END_SESSION_RESPONSE__NEXT__CONFIRM);
    rpc_msg_free(&e->base);
    assert_true(session_lives(f, other));

    /* The hint of this session, expired by now: ended, redirected with state. */
    svc_fake_now = t0 + 7200;
    end_session(f, session, idt, "app", BYE, 0, &e);
    assert_int_equal(e->next, AUTHD__V1__END_SESSION_RESPONSE__NEXT__DONE);
    assert_string_equal(e->redirect_url, BYE "?state=st");
    rpc_msg_free(&e->base);
    assert_false(session_lives(f, session));
    assert_true(session_lives(f, other));

    /* Confirmed without a hint: ended; no URI, no redirect. */
    end_session(f, other, "", "", "", 1, &e);
    assert_int_equal(e->next, AUTHD__V1__END_SESSION_RESPONSE__NEXT__DONE);
    assert_string_equal(e->redirect_url, "");
    rpc_msg_free(&e->base);
    assert_false(session_lives(f, other));
}

/* The fixture, with this file's knobs back at their defaults (a failed test may leave them). */
/* Sessions.Get with an access token as the bearer (as the edge does for a single-page app). */
static int
bearer_get(struct svc_fx *f, const char *access_token)
{
    Authd__V1__GetSessionRequest req = AUTHD__V1__GET_SESSION_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    req.bearer_token = (char *)access_token;
    int r = svc_call(f, ROLE_EDGE, "Sessions", "Get", &req.base, &resp, NULL);
    rpc_msg_free(resp);
    return r;
}

/* The access token of a password grant for client_id into at (4096 bytes). */
static void
password_token(struct svc_fx *f, const char *client_id, const char *email, char *at)
{
    Authd__V1__OAuthTokenResponse *t = NULL;
    assert_int_equal(token(f, client_id, "password", NULL, NULL, email, SVC_PASSWORD, &t),
                     AUTHD_OK);
    assert_true(strlen(t->access_token) < 4096);
    snprintf(at, 4096, "%s", t->access_token);
    rpc_msg_free(&t->base);
}

/*
 * A user's access token stands for its session only when its client is active and first-party:
 * a third-party app's token (for the scopes the user granted it) is refused as a bearer session
 * while it still answers UserInfo, and a deactivated client's tokens are dead everywhere until it
 * is active again.
 */
static void
test_bearer_needs_active_first_party_client(void **state)
{
    struct svc_fx *f = *state;
    char session[256], fp[4096], tp[4096];

    put_client(f, "first", 1);
    put_client(f, "third", 0);
    signed_in(f, "bea@example.test", session);
    password_token(f, "first", "bea@example.test", fp);
    password_token(f, "third", "bea@example.test", tp);
    assert_int_equal(bearer_get(f, fp), AUTHD_OK);
    assert_int_equal(bearer_get(f, tp), AUTHD_ERR_UNAUTHENTICATED);
    assert_int_equal(userinfo(f, tp), AUTHD_OK);

    inactive_client = 1;
    put_client(f, "first", 1);
    assert_int_equal(bearer_get(f, fp), AUTHD_ERR_UNAUTHENTICATED);
    assert_int_not_equal(userinfo(f, fp), AUTHD_OK);
    inactive_client = 0;
    put_client(f, "first", 1);
    assert_int_equal(bearer_get(f, fp), AUTHD_OK);
    assert_int_equal(userinfo(f, fp), AUTHD_OK);
}

/* The value of authd_token_cache_lookups_total{result="<result>"} (0 when absent). */
static long long
cache_count(const char *result)
{
    char name[96];
    size_t len = 0;
    char *m = metrics_render(&len);
    assert_non_null(m);
    snprintf(name, sizeof(name), "authd_token_cache_lookups_total{result=\"%s\"} ", result);
    const char *p = strstr(m, name);
    long long v = p != NULL ? strtoll(p + strlen(name), NULL, 10) : 0;
    free(m);
    return v;
}

/* OAuth.Revoke of tok by client_id (RFC 7009: always OK). */
static void
revoke(struct svc_fx *f, const char *client_id, const char *tok)
{
    Authd__V1__RevokeRequest req = AUTHD__V1__REVOKE_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    req.token = (char *)tok;
    req.client_id = (char *)client_id;
    req.client_secret = CLIENT_SECRET;
    assert_int_equal(svc_call(f, ROLE_EDGE, "OAuth", "Revoke", &req.base, &resp, NULL), AUTHD_OK);
    rpc_msg_free(resp);
}

/*
 * The verified-token cache (signkeys_verify, tokcache.h) skips only the signature: a token
 * presented again is a cache hit, yet revocation, the client's deactivation and expiry end it
 * at once on Introspect, UserInfo and the bearer path alike, and two tokens of the same user
 * and client never answer for each other.
 */
static void
test_token_cache_keeps_every_check(void **state)
{
    struct svc_fx *f = *state;
    char session[256], a1[4096], a2[4096];
    int64_t exp1 = 0, exp2 = 0;

    put_client(f, "first", 1);
    signed_in(f, "tc@example.test", session);
    password_token(f, "first", "tc@example.test", a1);
    svc_fake_now += 5; /* a2 expires 5 s after a1 */
    password_token(f, "first", "tc@example.test", a2);
    assert_string_not_equal(a1, a2);

    long long hits = cache_count("hit");
    assert_true(introspect(f, "first", a1, "", &exp1, NULL)); /* verified, remembered */
    assert_true(introspect(f, "first", a1, "", &exp1, NULL)); /* from the cache */
    assert_true(cache_count("hit") > hits);
    assert_true(introspect(f, "first", a2, "", &exp2, NULL));
    assert_true(introspect(f, "first", a2, "", &exp2, NULL));
    assert_int_equal(exp2 - exp1, 5); /* each token its own claims */
    assert_int_equal(bearer_get(f, a1), AUTHD_OK);
    assert_int_equal(userinfo(f, a1), AUTHD_OK);

    /* A cached token with its signature changed is another token: refused. */
    char bad[4096];
    snprintf(bad, sizeof(bad), "%s", a1);
    size_t n = strlen(bad);
    bad[n - 2] = bad[n - 2] == 'A' ? 'B' : 'A';
    assert_false(introspect(f, "first", bad, "", NULL, NULL));
    assert_int_equal(bearer_get(f, bad), AUTHD_ERR_UNAUTHENTICATED);

    /* Revoked: dead at once everywhere, the other token untouched. */
    revoke(f, "first", a1);
    assert_false(introspect(f, "first", a1, "", NULL, NULL));
    assert_int_equal(bearer_get(f, a1), AUTHD_ERR_UNAUTHENTICATED);
    assert_int_not_equal(userinfo(f, a1), AUTHD_OK);
    assert_true(introspect(f, "first", a2, "", NULL, NULL));

    /* The client deactivated: its cached tokens are dead at once (it cannot introspect them
     * itself any more); active again, alive. */
    inactive_client = 1;
    put_client(f, "first", 1);
    assert_int_equal(bearer_get(f, a2), AUTHD_ERR_UNAUTHENTICATED);
    assert_int_not_equal(userinfo(f, a2), AUTHD_OK);
    inactive_client = 0;
    put_client(f, "first", 1);
    assert_true(introspect(f, "first", a2, "", NULL, NULL));
    assert_int_equal(bearer_get(f, a2), AUTHD_OK);

    /* Expired: the last second of a2 it is active, at its exp it is not, cached or not. */
    svc_fake_now = exp2 - 1;
    assert_true(introspect(f, "first", a2, "", NULL, NULL));
    svc_fake_now = exp2;
    assert_false(introspect(f, "first", a2, "", NULL, NULL));
    assert_int_equal(bearer_get(f, a2), AUTHD_ERR_UNAUTHENTICATED);
}

/* The password grant has no consent step: offline_access only for a first-party client. */
static void
test_password_offline_needs_first_party(void **state)
{
    struct svc_fx *f = *state;
    char session[256];
    Authd__V1__OAuthTokenResponse *t = NULL;

    offline_client = 1;
    token_scope = "openid offline_access";
    signed_in(f, "ola@example.test", session);
    put_client(f, "third", 0);
    assert_int_equal(
        token(f, "third", "password", NULL, NULL, "ola@example.test", SVC_PASSWORD, &t), AUTHD_OK);
    assert_string_equal(t->scope, "openid");
    assert_true(t->refresh_expires_in <= 12 * 3600); /* bound to the 12 h session */
    rpc_msg_free(&t->base);
    put_client(f, "first", 1);
    assert_int_equal(
        token(f, "first", "password", NULL, NULL, "ola@example.test", SVC_PASSWORD, &t), AUTHD_OK);
    assert_string_equal(t->scope, "openid offline_access");
    assert_int_equal(t->refresh_expires_in, 30 * 86400);
    rpc_msg_free(&t->base);
}

static int
setup(void **state)
{
    refresh_ttl = 0;
    offline_client = 0;
    inactive_client = 0;
    token_scope = "";
    max_age = -1;
    auth_after = "";
    request_given = request_uri_given = 0;
    return svc_fx_setup(state);
}

/* A session of the user whose e-mail is email signed in as amr says (a key sign-in: the
 * WebAuthn service opens such sessions); its token into token (256 bytes). */
static void
session_with_amr(struct svc_fx *f, const char *email, const char *const *amr, size_t n, char *token)
{
    Authd__Storage__UserRecord *rec = NULL;
    Authd__Storage__SessionRecord *s = NULL;
    struct token t;
    const struct session_spec spec = {1, 0, amr, n, 0};
    assert_int_equal(account_user_by_email(&f->a, NULL, 0, email, &rec), AUTHD_OK);
    assert_int_equal(account_session_create(&f->a, NULL, rec->user, SVC_IP, "test", &spec, &t, &s),
                     AUTHD_OK);
    snprintf(token, 256, "%s", t.text);
    token_wipe(&t);
    rpc_msg_free(&s->base);
    rpc_msg_free(&rec->base);
}

/* The decoded payload of a JWT into out (4096 bytes). */
static void
jwt_payload(const char *jwt, char *out)
{
    const char *p = strchr(jwt, '.');
    assert_non_null(p);
    size_t len = strcspn(p + 1, ".");
    long n = secret_b64url_decode(p + 1, len, (uint8_t *)out, 4095);
    assert_true(n > 0);
    out[n] = '\0';
}

/*
 * acr (OpenID EAP ACR values): an ID token of a key sign-in says phrh (a hardware key) or phr
 * (a synced passkey); acr_values asking for one the session does not meet asks for a new
 * sign-in once (login_required with prompt=none), as max_age does, and the first value met is
 * the ID token's acr.
 */
static void
test_acr_values(void **state)
{
    struct svc_fx *f = *state;
    static const char *const hwk[] = {"pwd", "hwk", "mfa"};
    static const char *const swk[] = {"swk", "mfa"};
    Authd__V1__AuthorizeResponse *a = NULL;
    char pwd[256], hard[256], synced[256], again[256], idt[4096], claims[4096], after[64];
    int authenticated = 0;

    signed_in(f, "acr@example.com", pwd);
    session_with_amr(f, "acr@example.com", hwk, 3, hard);
    session_with_amr(f, "acr@example.com", swk, 2, synced);
    put_client(f, "app", 1);
    /* No acr_values: the acr a key sign-in achieved; a password alone has none. */
    id_token(f, hard, "app", idt);
    jwt_payload(idt, claims);
    assert_non_null(strstr(claims, "\"acr\":\"phrh\""));
    assert_non_null(strstr(claims, "\"amr\":[\"pwd\",\"hwk\",\"mfa\"]"));
    id_token(f, synced, "app", idt);
    jwt_payload(idt, claims);
    assert_non_null(strstr(claims, "\"acr\":\"phr\""));
    id_token(f, pwd, "app", idt);
    jwt_payload(idt, claims);
    assert_null(strstr(claims, "\"acr\""));
    /* Asked for and met: the value asked for, in the relying party's order. */
    acr_values = "phr";
    id_token(f, hard, "app", idt);
    jwt_payload(idt, claims);
    assert_non_null(strstr(claims, "\"acr\":\"phr\""));
    acr_values = "urn:other phrh phr";
    id_token(f, synced, "app", idt);
    jwt_payload(idt, claims);
    assert_non_null(strstr(claims, "\"acr\":\"phr\""));
    /* Not met: a new sign-in, or login_required without a page. */
    acr_values = "phrh";
    authorize(f, synced, "app", "openid", "none", 0, 0, &a);
    assert_string_equal(a->error, "login_required");
    rpc_msg_free(&a->base);
    acr_values = "phr";
    authorize(f, pwd, "app", "openid", "", 0, 0, &a);
    assert_int_equal(a->next, AUTHD__V1__AUTHORIZE_RESPONSE__NEXT__LOGIN);
    assert_true(a->auth_after[0] != '\0');
    snprintf(after, sizeof(after), "%s", a->auth_after);
    rpc_msg_free(&a->base);
    /* Only values authd does not know: as without acr_values. */
    acr_values = "urn:example:loa:2";
    authorize(f, pwd, "app", "openid", "none", 0, 0, &a);
    assert_int_equal(a->next, AUTHD__V1__AUTHORIZE_RESPONSE__NEXT__REDIRECT);
    assert_string_equal(a->error, "");
    rpc_msg_free(&a->base);
    /* Back from that sign-in with a password again: served once, no acr (voluntary claim). */
    acr_values = "phr";
    auth_after = after;
    svc_fake_now += 1;
    assert_int_equal(svc_login(f, "acr@example.com", SVC_PASSWORD, again, &authenticated, NULL),
                     AUTHD_OK);
    id_token(f, again, "app", idt);
    jwt_payload(idt, claims);
    assert_null(strstr(claims, "\"acr\""));
    auth_after = "";
    acr_values = "";
}

/* Segment i (0 header, 1 payload) of a compact JWS, parsed by jansson (duplicates refused). */
static json_t *
jws_part(const char *jws, int i)
{
    const char *p = jws;
    for (int n = 0; n < i; n++) {
        p = strchr(p, '.');
        assert_non_null(p);
        p++;
    }
    size_t len = strcspn(p, ".");
    uint8_t raw[4096];
    long n = secret_b64url_decode(p, len, raw, sizeof(raw));
    assert_true(n > 0);
    json_error_t err;
    json_t *j = json_loadb((const char *)raw, (size_t)n, JSON_REJECT_DUPLICATES, &err);
    assert_non_null(j);
    return j;
}

static void
assert_claim_str(json_t *o, const char *name, const char *want)
{
    json_t *v = json_object_get(o, name);
    assert_true(json_is_string(v));
    assert_string_equal(json_string_value(v), want);
}

/*
 * Token claims are written as JSON text (svc_oauth.c's struct claims), not built by jansson: an
 * issuer with quotes, a backslash, a tab and a non-ASCII letter comes out of the access token and
 * the ID token exactly as given, every claim is where a JSON parser looks for it, with its type,
 * and no other is there; both tokens verify. The same issuer but not UTF-8 is refused, as
 * jansson refused it, instead of making a token no parser reads.
 */
static void
test_token_claims_as_json(void **state)
{
    struct svc_fx *f = *state;
    static const char iss[] = "https://auth.example.test/\"q\"\\b\ts/caf\xc3\xa9";
    char id[64];
    Authd__V1__OAuthTokenResponse *t = NULL;

    snprintf(f->a.issuer, sizeof(f->a.issuer), "%s", iss);
    svc_user_create(f, "claims@example.com", SVC_PASSWORD, id);
    put_client(f, "app", 1);
    token_scope = "openid email";
    assert_int_equal(
        token(f, "app", "password", NULL, NULL, "claims@example.com", SVC_PASSWORD, &t), AUTHD_OK);

    json_t *h = jws_part(t->access_token, 0), *at = jws_part(t->access_token, 1);
    assert_claim_str(h, "typ", "at+jwt");
    assert_claim_str(at, "iss", iss);
    assert_claim_str(at, "sub", id);
    assert_claim_str(at, "aud", "app");
    assert_claim_str(at, "client_id", "app");
    assert_claim_str(at, "scope", "openid email");
    assert_true(json_is_string(json_object_get(at, "jti")));
    assert_true(json_is_integer(json_object_get(at, "iat")));
    assert_true(json_is_integer(json_object_get(at, "exp")));
    assert_true(json_integer_value(json_object_get(at, "exp")) >
                json_integer_value(json_object_get(at, "iat")));
    size_t want = 8;
    if (json_object_get(at, "sid") != NULL) {
        assert_true(json_is_string(json_object_get(at, "sid")));
        want++;
    }
    if (json_object_get(at, "auth_time") != NULL) {
        assert_true(json_is_integer(json_object_get(at, "auth_time")));
        want++;
    }
    if (json_object_get(at, "rfam") != NULL) { /* the refresh family issued with it */
        assert_true(json_is_string(json_object_get(at, "rfam")));
        want++;
    }
    json_t *amr = json_object_get(at, "amr");
    if (amr != NULL) {
        assert_true(json_is_array(amr) && json_array_size(amr) > 0);
        for (size_t i = 0; i < json_array_size(amr); i++)
            assert_true(json_is_string(json_array_get(amr, i)));
        want++;
    }
    assert_int_equal(json_object_size(at), want);

    json_t *it = jws_part(t->id_token, 1);
    assert_claim_str(it, "iss", iss);
    assert_claim_str(it, "sub", id);
    assert_claim_str(it, "aud", "app");
    assert_claim_str(it, "azp", "app");
    assert_claim_str(it, "email", "claims@example.com");
    assert_true(json_is_boolean(json_object_get(it, "email_verified")));
    assert_true(json_is_integer(json_object_get(it, "auth_time")));
    assert_null(json_object_get(it, "client_id"));
    assert_null(json_object_get(it, "jti"));

    char *claims = NULL;
    assert_int_equal(signkeys_verify(f->a.keys, t->access_token, &claims), AUTHD_OK);
    free(claims);
    assert_int_equal(signkeys_verify(f->a.keys, t->id_token, &claims), AUTHD_OK);
    free(claims);
    json_decref(h);
    json_decref(at);
    json_decref(it);
    rpc_msg_free(&t->base);

    snprintf(f->a.issuer, sizeof(f->a.issuer), "https://auth.example.test/\xc3");
    t = NULL;
    assert_int_not_equal(
        token(f, "app", "password", NULL, NULL, "claims@example.com", SVC_PASSWORD, &t), AUTHD_OK);
    rpc_msg_free(t != NULL ? &t->base : NULL);
    token_scope = "";
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_consent, setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_token_claims_as_json, setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_refresh_rotation_and_reuse, setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_code_single_use, setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_password_grant_shares_login_lockout, setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_password_grant_second_factor, setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_refresh_token_expires, setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_max_age, setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_fresh_login, setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_acr_values, setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_request_objects_refused, setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_offline_survives_logout, setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_session_bound_lifetime_is_real, setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_session_bound_dies_with_logout, setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_offline_not_allowed_is_ignored, setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_offline_revoked_with_password_change, setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_offline_revoked_by_revocation, setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_offline_lifetime_is_real, setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_end_session, setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_bearer_needs_active_first_party_client, setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_password_offline_needs_first_party, setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_token_cache_keeps_every_check, setup, svc_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
