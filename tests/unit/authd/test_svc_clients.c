/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for authd/svc_clients.c, called through rpc_local with a real store and a fake
 * clock: a client's secret is a password, so guessing it (at the token endpoint, introspection
 * or revocation) is counted per client address and per client. The guesser's address is locked
 * after its free failures and then refused outright; the client's lock refuses wrong secrets
 * with the wait but never the right secret, so a stranger who knows a client id cannot lock the
 * client out. Every answer names an RFC 6749 code (invalid_client, temporarily_unavailable).
 * The registration never answers the secret. The policy is AuthConfig's default (5 free
 * failures per account, 20 per address, then 1 s, doubling).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include "authd/callers.h"
#include "authd/guard.h"
#include "authd/signkeys.h"
#include "authd/v1/oauth.pb-c.h"
#include "common/err.h"
#include "proto/rpc.h"
#include "storage/store.h"
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

/* The address a test's guesser uses, and the one the client's own requests come from. */
#define GUESS_IP "198.51.100.66"
#define GOOD_IP "203.0.113.7"
#define FREE_ADDRESS_FAILURES 20 /* default lockout policy: failures of one address */

/* 1 when code is one RFC 6749 §5.2 names for a refused client (or the wait of a lockout). */
static int
rfc_client_code(const char *code)
{
    return strcmp(code, "invalid_client") == 0 || strcmp(code, "temporarily_unavailable") == 0;
}

/* OAuth.Token, grant client_credentials, with secret from ip; an access token on success. */
static int
token_from(struct svc_fx *f, const char *id, const char *secret, const char *ip,
           struct rpc_status *st)
{
    Authd__V1__OAuthTokenRequest req = AUTHD__V1__OAUTH_TOKEN_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    struct rpc_status own;

    if (st == NULL)
        st = &own;
    req.grant_type = "client_credentials";
    req.client_id = (char *)id;
    req.client_secret = (char *)secret;
    req.client_ip = (char *)ip;
    int r = svc_call(f, ROLE_EDGE, "OAuth", "Token", &req.base, &resp, st);
    if (r == AUTHD_OK)
        assert_true(((Authd__V1__OAuthTokenResponse *)resp)->access_token[0] != '\0');
    else
        assert_true(st->oauth_error[0] == '\0' || rfc_client_code(st->oauth_error) ||
                    strcmp(st->oauth_error, "unauthorized_client") == 0);
    rpc_msg_free(resp);
    return r;
}

/* OAuth.Token, grant client_credentials, with secret, from SVC_IP. */
static int
client_token(struct svc_fx *f, const char *id, const char *secret, struct rpc_status *st)
{
    return token_from(f, id, secret, SVC_IP, st);
}

/* OAuth.Introspect of a dummy token, authenticated as client id with secret, from ip through
 * the edge (NULL: a resource server calling authd itself, counted by its peer address). */
static int
introspect_from(struct svc_fx *f, const char *id, const char *secret, const char *ip,
                struct rpc_status *st)
{
    Authd__V1__IntrospectRequest req = AUTHD__V1__INTROSPECT_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    req.token = "not-a-token";
    req.client_id = (char *)id;
    req.client_secret = (char *)secret;
    if (ip != NULL)
        req.client_ip = (char *)ip;
    int r = svc_call(f, ip != NULL ? ROLE_EDGE : ROLE_SERVICE, "OAuth", "Introspect", &req.base,
                     &resp, st);
    if (r == AUTHD_OK)
        assert_false(((Authd__V1__IntrospectResponse *)resp)->active);
    else if (st != NULL)
        assert_true(rfc_client_code(st->oauth_error));
    rpc_msg_free(resp);
    return r;
}

static int
introspect(struct svc_fx *f, const char *id, const char *secret)
{
    return introspect_from(f, id, secret, NULL, NULL);
}

/* OAuth.Revoke of a dummy token, as introspect_from. */
static int
revoke_from(struct svc_fx *f, const char *id, const char *secret, const char *ip,
            struct rpc_status *st)
{
    Authd__V1__RevokeRequest req = AUTHD__V1__REVOKE_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    req.token = "not-a-token";
    req.client_id = (char *)id;
    req.client_secret = (char *)secret;
    req.client_ip = (char *)ip;
    int r = svc_call(f, ROLE_EDGE, "OAuth", "Revoke", &req.base, &resp, st);
    if (r == AUTHD_ERR_INVALID_TOKEN || r == AUTHD_ERR_NOT_FOUND)
        r = AUTHD_OK; /* RFC 7009 §2.2: an unknown token is not the client's failure */
    else if (r != AUTHD_OK && st != NULL)
        assert_true(rfc_client_code(st->oauth_error));
    rpc_msg_free(resp);
    return r;
}

/* A refusal for the lock: temporarily_unavailable with a wait. */
static void
assert_lock_refusal(int r, const struct rpc_status *st)
{
    assert_int_equal(r, AUTHD_ERR_LOCKED);
    assert_string_equal(st->oauth_error, "temporarily_unavailable");
    assert_true(st->retry_after > 0);
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
        assert_int_equal(st.retry_after, 0);
    }
    /* Locked: further wrong secrets are answered with the wait, and counted (the lock doubles);
     * the code is RFC 6749's, never one of our own. */
    assert_int_equal(client_token(f, "svc1", "another guess", &st), AUTHD_ERR_LOCKED);
    assert_string_equal(st.oauth_error, "temporarily_unavailable");
    assert_int_equal(st.retry_after, 2 * FIRST_LOCK);
    /* The right secret is judged first and passes, at the token endpoint and introspection. */
    assert_int_equal(client_token(f, "svc1", SECRET, NULL), AUTHD_OK);
    assert_int_equal(introspect(f, "svc1", SECRET), AUTHD_OK);
    /* Its success forgets no failure: the next wrong secret still gets the (longer) wait. */
    assert_int_equal(client_token(f, "svc1", "a third guess", &st), AUTHD_ERR_LOCKED);
    assert_int_equal(st.retry_after, 4 * FIRST_LOCK);
    /* Another client from the same address is not locked. */
    assert_int_equal(client_token(f, "svc2", SECRET, NULL), AUTHD_OK);

    /* The lock ends when the clock passes it: a wrong secret is a plain failure again. */
    t0 = svc_fake_now;
    svc_fake_now = t0 + 4 * FIRST_LOCK;
    assert_int_equal(client_token(f, "svc1", "a guess", &st), AUTHD_ERR_INVALID_CREDENTIALS);
    assert_string_equal(st.oauth_error, "invalid_client");
    assert_int_equal(client_token(f, "svc1", SECRET, NULL), AUTHD_OK);
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
    assert_int_equal(client_token(f, "svc1", "a guess", &st), AUTHD_ERR_LOCKED);
    assert_string_equal(st.oauth_error, "temporarily_unavailable");
    /* An unknown client answers like a wrong secret. */
    assert_int_equal(client_token(f, "nosuch", "a guess", &st), AUTHD_ERR_INVALID_CREDENTIALS);
    assert_string_equal(st.oauth_error, "invalid_client");
}

/*
 * The denial this module must not allow: a stranger who knows only the client id guesses from
 * one address until both its address and the client are locked. The client's own requests,
 * from another address, still pass with the right secret at token, introspection and
 * revocation (the first of them with the verified-secret cache cold: a full verification),
 * while the guesser's address is refused even with the right secret, and wrong secrets stay
 * refused with the wait from everywhere.
 */
static void
test_stranger_cannot_lock_the_client_out(void **state)
{
    struct svc_fx *f = *state;
    struct rpc_status st;
    int locked = 0;

    put_service_client(f, "svc1"); /* a put clears the cache: no secret is known */
    for (int i = 0; i <= FREE_ADDRESS_FAILURES; i++) {
        int r = token_from(f, "svc1", "a guess", GUESS_IP, &st);
        if (i <= FREE_FAILURES) {
            assert_int_equal(r, AUTHD_ERR_INVALID_CREDENTIALS);
            assert_string_equal(st.oauth_error, "invalid_client");
        } else {
            assert_lock_refusal(r, &st); /* the client is locked: wrong secrets get the wait */
            locked++;
        }
    }
    assert_int_equal(locked, FREE_ADDRESS_FAILURES - FREE_FAILURES);

    /* The guesser's address is locked too: refused before anything is judged, even the right
     * secret, at every endpoint. */
    assert_lock_refusal(token_from(f, "svc1", SECRET, GUESS_IP, &st), &st);
    assert_lock_refusal(introspect_from(f, "svc1", SECRET, GUESS_IP, &st), &st);
    assert_lock_refusal(revoke_from(f, "svc1", SECRET, GUESS_IP, &st), &st);

    /* The client, locked per client, from its own address: the right secret passes. */
    assert_int_equal(token_from(f, "svc1", SECRET, GOOD_IP, &st), AUTHD_OK);
    assert_int_equal(introspect_from(f, "svc1", SECRET, GOOD_IP, &st), AUTHD_OK);
    assert_int_equal(revoke_from(f, "svc1", SECRET, GOOD_IP, &st), AUTHD_OK);
    /* A resource server calling authd itself (counted by its peer address) passes too. */
    assert_int_equal(introspect(f, "svc1", SECRET), AUTHD_OK);

    /* Wrong secrets stay refused with the wait, from any address and at every endpoint. */
    assert_lock_refusal(token_from(f, "svc1", "a guess", GOOD_IP, &st), &st);
    assert_lock_refusal(introspect_from(f, "svc1", "a guess", GOOD_IP, &st), &st);
    assert_lock_refusal(revoke_from(f, "svc1", "a guess", GOOD_IP, &st), &st);
    /* ...and the right secret still passes after them. */
    assert_int_equal(token_from(f, "svc1", SECRET, GOOD_IP, &st), AUTHD_OK);
}

/* The same with the verified-secret cache warm (a wrong secret is then refused without the
 * slow hash, and still counted): the client's lock does not refuse the right secret even from
 * the address that guessed, as long as that address is not locked itself. */
static void
test_locked_client_with_a_known_secret(void **state)
{
    struct svc_fx *f = *state;
    struct rpc_status st;

    put_service_client(f, "svc1");
    assert_int_equal(token_from(f, "svc1", SECRET, GOOD_IP, &st), AUTHD_OK); /* now known */
    for (int i = 0; i <= FREE_FAILURES; i++)
        assert_int_equal(token_from(f, "svc1", "a guess", GUESS_IP, &st),
                         AUTHD_ERR_INVALID_CREDENTIALS);
    assert_lock_refusal(token_from(f, "svc1", "a guess", GUESS_IP, &st), &st);
    assert_int_equal(token_from(f, "svc1", SECRET, GOOD_IP, &st), AUTHD_OK);
    assert_int_equal(token_from(f, "svc1", SECRET, GUESS_IP, &st), AUTHD_OK); /* not locked */
}

/* Registers a confidential app allowed the password grant (it relays its users' passwords). */
static void
put_password_app(struct svc_fx *f, const char *id)
{
    Authd__V1__Client c = AUTHD__V1__CLIENT__INIT;
    Authd__V1__ClientAuth auth = AUTHD__V1__CLIENT_AUTH__INIT;
    Authd__V1__GrantSettings pw = AUTHD__V1__GRANT_SETTINGS__INIT;
    char *grants[] = {"password"};
    ProtobufCMessage *resp = NULL;

    auth.password = &pw;
    c.id = (char *)id;
    c.secret = SECRET;
    c.n_grant_types = 1;
    c.grant_types = grants;
    c.auth = &auth;
    assert_int_equal(svc_call(f, ROLE_ADMIN, "ClientAdmin", "Put", &c.base, &resp, NULL), AUTHD_OK);
    rpc_msg_free(resp);
}

/* OAuth.Token, grant password, from ip with the app's right secret and the user's password. */
static int
password_grant_from(struct svc_fx *f, const char *id, const char *email, const char *password,
                    const char *ip)
{
    Authd__V1__OAuthTokenRequest req = AUTHD__V1__OAUTH_TOKEN_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    struct rpc_status st;

    req.grant_type = "password";
    req.client_id = (char *)id;
    req.client_secret = SECRET;
    req.client_ip = (char *)ip;
    req.username = (char *)email;
    req.password = (char *)password;
    int r = svc_call(f, ROLE_EDGE, "OAuth", "Token", &req.base, &resp, &st);
    rpc_msg_free(resp);
    return r;
}

/*
 * An app relays its users' wrong passwords (the password grant) from its own address until that
 * address is locked for passwords: user logins from there are refused, but the app's own right
 * secret is not, at introspection and for another client on the same address. The two are
 * counted apart (lockout.password, lockout.clientSecret).
 */
static void
test_relayed_user_failures_do_not_gate_the_client_secret(void **state)
{
    struct svc_fx *f = *state;
    struct rpc_status st;
    char id[64], email[64];

    svc_user_create(f, "ann@example.com", SVC_PASSWORD, id);
    put_password_app(f, "app");
    put_service_client(f, "svc1");
    /* Each guess on another e-mail, so that no account lock stops the address's count. */
    for (int i = 0; i <= FREE_ADDRESS_FAILURES + 2; i++) {
        snprintf(email, sizeof(email), "user%d@example.com", i);
        assert_int_not_equal(password_grant_from(f, "app", email, "wrong password", SVC_IP),
                             AUTHD_OK);
    }
    /* The address is locked for user passwords: a right one is refused from there. */
    assert_int_equal(svc_login(f, "ann@example.com", SVC_PASSWORD, NULL, NULL, NULL),
                     AUTHD_ERR_LOCKED);
    assert_int_equal(password_grant_from(f, "app", "ann@example.com", SVC_PASSWORD, SVC_IP),
                     AUTHD_ERR_LOCKED);
    /* The app's right secret is not: introspection and another client from that address. */
    assert_int_equal(introspect_from(f, "app", SECRET, SVC_IP, &st), AUTHD_OK);
    assert_int_equal(token_from(f, "svc1", SECRET, SVC_IP, &st), AUTHD_OK);
    assert_int_equal(introspect_from(f, "svc1", SECRET, SVC_IP, &st), AUTHD_OK);
}

/*
 * The other way round: a client's wrong secrets from an address lock that address for client
 * secrets only; the users behind it still sign in with their passwords.
 */
static void
test_client_secret_failures_do_not_lock_user_logins(void **state)
{
    struct svc_fx *f = *state;
    struct rpc_status st;
    char id[64];

    svc_user_create(f, "ann@example.com", SVC_PASSWORD, id);
    put_password_app(f, "app");
    put_service_client(f, "svc1");
    for (int i = 0; i <= FREE_ADDRESS_FAILURES + 2; i++)
        assert_int_not_equal(token_from(f, "svc1", "a guess", SVC_IP, &st), AUTHD_OK);
    /* The address is locked for client secrets: the right secret is refused from there. */
    assert_lock_refusal(token_from(f, "svc1", SECRET, SVC_IP, &st), &st);
    /* User logins from the same address are not. */
    assert_int_equal(svc_login(f, "ann@example.com", SVC_PASSWORD, NULL, NULL, NULL), AUTHD_OK);
}

/* OAuth.Token (client_credentials) or, with token given, OAuth.Introspect of it, from GOOD_IP;
 * *deferred: whether the call's trial (rpc.h: RPC_TRY_INLINE) went to a worker. */
static int
trial_call(struct svc_fx *f, const char *secret, const char *token, int *deferred,
           struct rpc_status *st)
{
    ProtobufCMessage *resp = NULL;
    int r;

    if (token == NULL) {
        Authd__V1__OAuthTokenRequest req = AUTHD__V1__OAUTH_TOKEN_REQUEST__INIT;
        req.grant_type = "client_credentials";
        req.client_id = "svc-trial";
        req.client_secret = (char *)secret;
        req.client_ip = GOOD_IP;
        r = svc_call_trial(f, ROLE_EDGE, "OAuth", "Token", &req.base, &resp, st, deferred);
    } else {
        Authd__V1__IntrospectRequest req = AUTHD__V1__INTROSPECT_REQUEST__INIT;
        req.token = (char *)token;
        req.client_id = "svc-trial";
        req.client_secret = (char *)secret;
        req.client_ip = GOOD_IP;
        r = svc_call_trial(f, ROLE_EDGE, "OAuth", "Introspect", &req.base, &resp, st, deferred);
        if (r == AUTHD_OK)
            assert_true(((Authd__V1__IntrospectResponse *)resp)->active);
    }
    rpc_msg_free(resp);
    return r;
}

/*
 * Token and Introspect run first as a trial on the completion-queue thread: a secret the cache
 * has verified is judged there; one it cannot judge (the slow hash) and a wrong one (a failure
 * to count) go to a worker before anything is counted, so every guess is counted once, and the
 * client's lock comes after exactly FREE_FAILURES wrong secrets, as without trials.
 */
static void
test_trial_judges_only_cached_secrets(void **state)
{
    struct svc_fx *f = *state;
    struct rpc_status st;
    int deferred = -1;
    /* Against a shared database every trial defers at once (a read is a round trip). */
    int local = store_local(f->st);

    put_service_client(f, "svc-trial");
    /* First use: the secret is not cached yet, so the trial defers and the worker hashes. */
    assert_int_equal(trial_call(f, SECRET, NULL, &deferred, NULL), AUTHD_OK);
    assert_int_equal(deferred, 1);
    /* Now cached: judged in the trial, the access token signed there. */
    assert_int_equal(trial_call(f, SECRET, NULL, &deferred, NULL), AUTHD_OK);
    assert_int_equal(deferred, !local);

    /* Introspection of a token of its own, inline as well. */
    Authd__V1__OAuthTokenRequest treq = AUTHD__V1__OAUTH_TOKEN_REQUEST__INIT;
    ProtobufCMessage *tresp = NULL;
    treq.grant_type = "client_credentials";
    treq.client_id = "svc-trial";
    treq.client_secret = SECRET;
    assert_int_equal(svc_call(f, ROLE_EDGE, "OAuth", "Token", &treq.base, &tresp, NULL), AUTHD_OK);
    char tok[4096];
    snprintf(tok, sizeof(tok), "%s", ((Authd__V1__OAuthTokenResponse *)tresp)->access_token);
    rpc_msg_free(tresp);
    assert_int_equal(trial_call(f, SECRET, tok, &deferred, NULL), AUTHD_OK);
    assert_int_equal(deferred, !local);

    /* Wrong secrets: each deferred, each counted once (counted twice, the lock would come
     * after half as many). */
    for (int i = 0; i <= FREE_FAILURES; i++) {
        int r = trial_call(f, "wrong secret", i % 2 ? tok : NULL, &deferred, &st);
        assert_int_equal(r, AUTHD_ERR_INVALID_CREDENTIALS);
        assert_int_equal(deferred, 1);
    }
    /* The next wrong one meets the client's lock; the right secret still passes, inline. */
    assert_lock_refusal(trial_call(f, "wrong secret", NULL, &deferred, &st), &st);
    assert_int_equal(trial_call(f, SECRET, tok, &deferred, NULL), AUTHD_OK);
    assert_int_equal(deferred, !local);

    /* Grants that hash or write never stay on the completion-queue thread. */
    Authd__V1__OAuthTokenRequest pw = AUTHD__V1__OAUTH_TOKEN_REQUEST__INIT;
    pw.grant_type = "password";
    pw.client_id = "svc-trial";
    pw.client_secret = SECRET;
    pw.username = "nobody@example.com";
    pw.password = "whatever it is";
    ProtobufCMessage *resp = NULL;
    svc_call_trial(f, ROLE_EDGE, "OAuth", "Token", &pw.base, &resp, NULL, &deferred);
    rpc_msg_free(resp);
    assert_int_equal(deferred, 1);
}

/* An RSA signature (a private-key operation of about a millisecond) is never made in a trial:
 * with RS256 as the access tokens' algorithm, Token defers to a worker even for a cached secret;
 * with ES256 it signs in the trial (on a local store). */
static void
test_trial_defers_rsa_signing(void **state)
{
    struct svc_fx *f = *state;
    char kid[SIGNKEYS_KID_MAX];
    int deferred = -1;
    int local = store_local(f->st);

    put_service_client(f, "svc-trial");
    assert_int_equal(trial_call(f, SECRET, NULL, &deferred, NULL), AUTHD_OK); /* caches it */
    assert_int_equal(trial_call(f, SECRET, NULL, &deferred, NULL), AUTHD_OK);
    assert_int_equal(deferred, !local);

    assert_int_equal(signkeys_rotate(&f->a, f->a.keys, "RS256", kid), AUTHD_OK);
    assert_string_equal(signkeys_access_alg(f->a.keys), "RS256");
    assert_int_equal(trial_call(f, SECRET, NULL, &deferred, NULL), AUTHD_OK);
    assert_int_equal(deferred, 1);

    assert_int_equal(signkeys_rotate(&f->a, f->a.keys, "ES256", kid), AUTHD_OK);
    assert_string_equal(signkeys_access_alg(f->a.keys), "ES256");
    assert_int_equal(trial_call(f, SECRET, NULL, &deferred, NULL), AUTHD_OK);
    assert_int_equal(deferred, !local);
}

/* A trial never waits for a serial lock another attempt holds (it could be hashing): it gets
 * AUTHD_ERR_CONFLICT with nothing held, while a normal attempt takes the free lock. (That it
 * does not wait even briefly, a trylock, is not something a test can see without timing it.) */
static void
test_trial_guard_does_not_wait(void **state)
{
    struct svc_fx *f = *state;

    for (int i = 0; i < AUTHD_SERIAL_STRIPES; i++)
        pthread_mutex_lock(&f->a.serial[i]);
    struct guard g = {.a = &f->a,
                      .kind = THROTTLE_CLIENT_SECRET,
                      .account = "client:x",
                      .serial = GOOD_IP,
                      .judge_first = 1,
                      .trial = 1};
    assert_int_equal(guard_enter(&g), AUTHD_ERR_CONFLICT);
    assert_int_equal(g.held, 0);
    guard_leave(&g);
    for (int i = 0; i < AUTHD_SERIAL_STRIPES; i++)
        pthread_mutex_unlock(&f->a.serial[i]);

    assert_int_equal(guard_enter(&g), AUTHD_OK);
    assert_true(g.held > 0);
    guard_leave(&g);
    g.trial = 0;
    assert_int_equal(guard_enter(&g), AUTHD_OK);
    guard_leave(&g);
}

/* An access token of client id (secret SECRET). */
static void
own_token(struct svc_fx *f, const char *id, char *out, size_t cap)
{
    Authd__V1__OAuthTokenRequest req = AUTHD__V1__OAUTH_TOKEN_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    req.grant_type = "client_credentials";
    req.client_id = (char *)id;
    req.client_secret = SECRET;
    assert_int_equal(svc_call(f, ROLE_EDGE, "OAuth", "Token", &req.base, &resp, NULL), AUTHD_OK);
    snprintf(out, cap, "%s", ((Authd__V1__OAuthTokenResponse *)resp)->access_token);
    rpc_msg_free(resp);
}

/* Whether client id (secret SECRET) is told that token is active. */
static int
own_active(struct svc_fx *f, const char *id, const char *token)
{
    Authd__V1__IntrospectRequest req = AUTHD__V1__INTROSPECT_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    req.token = (char *)token;
    req.client_id = (char *)id;
    req.client_secret = SECRET;
    assert_int_equal(svc_call(f, ROLE_EDGE, "OAuth", "Introspect", &req.base, &resp, NULL),
                     AUTHD_OK);
    int active = ((Authd__V1__IntrospectResponse *)resp)->active;
    rpc_msg_free(resp);
    return active;
}

/*
 * A client introspecting its own token: the registration it authenticated with (read once for
 * both) still judges the token, so a token of an earlier registration of the same id is dead.
 */
static void
test_own_token_of_an_earlier_registration(void **state)
{
    struct svc_fx *f = *state;
    char old[4096], fresh[4096];
    ProtobufCMessage *resp = NULL;

    put_service_client(f, "svc-own");
    own_token(f, "svc-own", old, sizeof(old));
    assert_true(own_active(f, "svc-own", old));
    Authd__V1__ClientRequest del = AUTHD__V1__CLIENT_REQUEST__INIT;
    del.id = "svc-own";
    assert_int_equal(svc_call(f, ROLE_ADMIN, "ClientAdmin", "Delete", &del.base, &resp, NULL),
                     AUTHD_OK);
    rpc_msg_free(resp);
    svc_fake_now += 10;
    put_service_client(f, "svc-own"); /* registered again, the same secret */
    assert_false(own_active(f, "svc-own", old));
    own_token(f, "svc-own", fresh, sizeof(fresh));
    assert_true(own_active(f, "svc-own", fresh));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_secret_guessing_locks_the_client, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_introspection_guesses_count, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_stranger_cannot_lock_the_client_out, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_locked_client_with_a_known_secret, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_relayed_user_failures_do_not_gate_the_client_secret,
                                        svc_fx_setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_client_secret_failures_do_not_lock_user_logins,
                                        svc_fx_setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_trial_judges_only_cached_secrets, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_trial_defers_rsa_signing, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_trial_guard_does_not_wait, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_own_token_of_an_earlier_registration, svc_fx_setup,
                                        svc_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
