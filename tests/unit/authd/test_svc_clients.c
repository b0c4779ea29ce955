/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for authd/svc_clients.c, called through rpc_local with a real store and a fake
 * clock: a client's secret is a password, so guessing it (at the token endpoint or at
 * introspection) locks the client after the free failures, the right secret included, until the
 * clock passes the lock; the answers say invalid_client, then temporarily_unavailable (RFC
 * 6749's code) with the wait. The registration never answers the secret. The policy is
 * AuthConfig's default (5 free failures, then 1 s, doubling).
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
#include "common/err.h"
#include "proto/rpc.h"
#include "tests/unit/authd/svc_fixture.h"

#define SECRET "the service's secret, long enough"
#define FREE_FAILURES 5 /* default lockout policy: failures before the first lock */
#define FIRST_LOCK 1    /* seconds of the first lock */

/* Registers a confidential client allowed the client_credentials grant. */
static void
put_service_client(struct svc_fx *f, const char *id)
{
    Authd__V1__Client c = AUTHD__V1__CLIENT__INIT;
    Authd__V1__ClientAuth auth = AUTHD__V1__CLIENT_AUTH__INIT;
    Authd__V1__GrantSettings cc = AUTHD__V1__GRANT_SETTINGS__INIT;
    char *grants[] = {"client_credentials"};
    ProtobufCMessage *resp = NULL;

    auth.client_credentials = &cc;
    c.id = (char *)id;
    c.secret = SECRET;
    c.n_grant_types = 1;
    c.grant_types = grants;
    c.auth = &auth;
    assert_int_equal(svc_call(f, ROLE_ADMIN, "ClientAdmin", "Put", &c.base, &resp, NULL), AUTHD_OK);
    /* The answer says a secret is set, never what it is. */
    Authd__V1__ClientResponse *r = (Authd__V1__ClientResponse *)resp;
    assert_true(r->client->has_secret);
    assert_string_equal(r->client->secret, "");
    rpc_msg_free(resp);
}

/* OAuth.Token, grant client_credentials, with secret; an access token on success. */
static int
client_token(struct svc_fx *f, const char *id, const char *secret, struct rpc_status *st)
{
    Authd__V1__OAuthTokenRequest req = AUTHD__V1__OAUTH_TOKEN_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    req.grant_type = "client_credentials";
    req.client_id = (char *)id;
    req.client_secret = (char *)secret;
    req.client_ip = SVC_IP;
    int r = svc_call(f, ROLE_EDGE, "OAuth", "Token", &req.base, &resp, st);
    if (r == AUTHD_OK)
        assert_true(((Authd__V1__OAuthTokenResponse *)resp)->access_token[0] != '\0');
    rpc_msg_free(resp);
    return r;
}

/* OAuth.Introspect of a dummy token, authenticated as client id with secret. */
static int
introspect(struct svc_fx *f, const char *id, const char *secret)
{
    Authd__V1__IntrospectRequest req = AUTHD__V1__INTROSPECT_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    req.token = "not-a-token";
    req.client_id = (char *)id;
    req.client_secret = (char *)secret;
    int r = svc_call(f, ROLE_SERVICE, "OAuth", "Introspect", &req.base, &resp, NULL);
    if (r == AUTHD_OK)
        assert_false(((Authd__V1__IntrospectResponse *)resp)->active);
    rpc_msg_free(resp);
    return r;
}

static void
test_secret_guessing_locks_the_client(void **state)
{
    struct svc_fx *f = *state;
    struct rpc_status st;
    int64_t t0;

    put_service_client(f, "svc1");
    put_service_client(f, "svc2");
    assert_int_equal(client_token(f, "svc1", SECRET, NULL), AUTHD_OK);
    for (int i = 0; i <= FREE_FAILURES; i++) {
        assert_int_equal(client_token(f, "svc1", "a guess", &st), AUTHD_ERR_INVALID_CREDENTIALS);
        assert_string_equal(st.oauth_error, "invalid_client");
    }
    /* Locked: the right secret is refused before it is judged, with the wait. */
    assert_int_equal(client_token(f, "svc1", SECRET, &st), AUTHD_ERR_LOCKED);
    assert_string_equal(st.oauth_error, "temporarily_unavailable");
    assert_int_equal(st.retry_after, FIRST_LOCK);
    /* Introspection authenticates the same client: locked there too. */
    assert_int_equal(introspect(f, "svc1", SECRET), AUTHD_ERR_LOCKED);
    /* Another client from the same address is not locked. */
    assert_int_equal(client_token(f, "svc2", SECRET, NULL), AUTHD_OK);

    /* The lock ends when the clock passes it. */
    t0 = svc_fake_now;
    svc_fake_now = t0 + FIRST_LOCK;
    assert_int_equal(client_token(f, "svc1", SECRET, NULL), AUTHD_OK);
    assert_int_equal(introspect(f, "svc1", SECRET), AUTHD_OK);
}

static void
test_introspection_guesses_count(void **state)
{
    struct svc_fx *f = *state;
    struct rpc_status st;

    put_service_client(f, "svc1");
    /* Guessing through introspection counts on the client's own counter. */
    for (int i = 0; i <= FREE_FAILURES; i++)
        assert_int_equal(introspect(f, "svc1", "a guess"), AUTHD_ERR_INVALID_CREDENTIALS);
    assert_int_equal(client_token(f, "svc1", SECRET, &st), AUTHD_ERR_LOCKED);
    assert_string_equal(st.oauth_error, "temporarily_unavailable");
    /* An unknown client answers like a wrong secret. */
    assert_int_equal(client_token(f, "nosuch", "a guess", &st), AUTHD_ERR_INVALID_CREDENTIALS);
    assert_string_equal(st.oauth_error, "invalid_client");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_secret_guessing_locks_the_client, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_introspection_guesses_count, svc_fx_setup,
                                        svc_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
