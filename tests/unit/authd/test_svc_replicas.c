/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Two authd replicas over one store (svc_fx_replica: each with its own caches, signing-key set and
 * in-process locks, as two processes on one database), racing from threads: wrong passwords
 * spread over both stay within the lockout policy (known and unknown e-mails), correct logins all
 * pass, a TOTP code, an authorization code and a refresh token are accepted once in the pair, a
 * replayed refresh token is caught by the other replica, and what one replica changes (a signing
 * key, the AuthConfig, a client's secret or state) the other uses at once.
 *
 * Threads only call and record answers; the main thread asserts (cmocka's asserts must not run on
 * other threads). The lock waits are the store's, bounded; nothing here waits for a timer.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "authd/callers.h"
#include "authd/clients.h"
#include "authd/password.h"
#include "authd/signkeys.h"
#include "authd/v1/admin.pb-c.h"
#include "authd/v1/oauth.pb-c.h"
#include "authd/v1/signup.pb-c.h"
#include "authd/throttle.h"
#include "common/err.h"
#include "proto/rpc_local.h"
#include "storage/records.pb-c.h"
#include "storage/store.h"
#include "proto/rpc.h"
#include "tests/unit/authd/svc_fixture.h"

#define REDIRECT "https://app.example.test/cb"
#define CLIENT_SECRET "a client secret of some length"
#define FREE_FAILURES 5 /* default lockout policy: failures before the first lock */
#define RACERS 20

struct pair {
    struct svc_fx *f; /* replica 0: the fixture's authd */
    struct svc_fx *g; /* replica 1 */
};

static struct pair
pair_new(void **state)
{
    struct pair p = {.f = *state};
    p.g = svc_fx_replica(p.f);
    return p;
}

/* One racing call: which replica, what to send, what came back. */
struct racer {
    struct svc_fx *fx;
    const char *a, *b; /* the call's arguments (per test) */
    int (*call)(struct racer *);
    int r;
    char out[256];
    pthread_barrier_t *start;
};

static void *
racer_main(void *arg)
{
    struct racer *x = arg;
    pthread_barrier_wait(x->start);
    x->r = x->call(x);
    return NULL;
}

/* Runs n racers at once (all released together by a barrier). */
static void
race(struct racer *x, size_t n)
{
    pthread_t th[RACERS];
    pthread_barrier_t start;

    assert_true(n <= RACERS);
    assert_int_equal(pthread_barrier_init(&start, NULL, (unsigned)n), 0);
    for (size_t i = 0; i < n; i++) {
        x[i].start = &start;
        assert_int_equal(pthread_create(&th[i], NULL, racer_main, &x[i]), 0);
    }
    for (size_t i = 0; i < n; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    pthread_barrier_destroy(&start);
}

static size_t
count(const struct racer *x, size_t n, int r)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += x[i].r == r;
    return c;
}

static int
call_login(struct racer *x)
{
    return svc_login(x->fx, x->a, x->b, x->out, NULL, NULL);
}

/* Makes the callers of both replicas before threads use them (svc_call makes them lazily). */
static void
warm(struct pair *p)
{
    svc_login(p->f, "nobody@example.com", "x", NULL, NULL, NULL);
    svc_login(p->g, "nobody@example.com", "x", NULL, NULL, NULL);
    svc_login(p->f, "warm@example.com", "x", NULL, NULL, NULL);
}

/* RACERS wrong passwords for email, alternating between the replicas, all at once: exactly the
 * policy's free failures plus the one that locks are judged, every other attempt is refused as
 * locked (the clock stands still, so the first lock lasts the whole race). */
static void
wrong_passwords(struct pair *p, const char *email)
{
    struct racer x[RACERS];

    memset(x, 0, sizeof(x));
    for (size_t i = 0; i < RACERS; i++)
        x[i] = (struct racer){
            .fx = i % 2 ? p->g : p->f, .a = email, .b = "wrong password", .call = call_login};
    race(x, RACERS);
    assert_int_equal(count(x, RACERS, AUTHD_ERR_INVALID_CREDENTIALS), FREE_FAILURES + 1);
    assert_int_equal(count(x, RACERS, AUTHD_ERR_LOCKED), RACERS - FREE_FAILURES - 1);
    /* The right password is refused too, on either replica: the lock is the store's. */
    assert_int_equal(svc_login(p->f, email, SVC_PASSWORD, NULL, NULL, NULL), AUTHD_ERR_LOCKED);
    assert_int_equal(svc_login(p->g, email, SVC_PASSWORD, NULL, NULL, NULL), AUTHD_ERR_LOCKED);
}

static void
test_wrong_passwords_over_replicas(void **state)
{
    struct pair p = pair_new(state);
    char id[64];

    svc_user_create(p.f, "victim@example.com", SVC_PASSWORD, id);
    warm(&p);
    wrong_passwords(&p, "victim@example.com");
    svc_fx_replica_free(p.g);
}

static void
test_unknown_email_over_replicas(void **state)
{
    struct pair p = pair_new(state);

    warm(&p);
    wrong_passwords(&p, "ghost@example.com");
    svc_fx_replica_free(p.g);
}

static void
test_correct_logins_over_replicas(void **state)
{
    struct pair p = pair_new(state);
    struct racer x[RACERS];
    char id[64];

    svc_user_create(p.f, "busy@example.com", SVC_PASSWORD, id);
    warm(&p);
    memset(x, 0, sizeof(x));
    for (size_t i = 0; i < RACERS; i++)
        x[i] = (struct racer){.fx = i % 2 ? p.g : p.f,
                              .a = "busy@example.com",
                              .b = SVC_PASSWORD,
                              .call = call_login};
    race(x, RACERS);
    /* They queue (in each process, then in the store) and all pass. */
    assert_int_equal(count(x, RACERS, AUTHD_OK), RACERS);
    svc_fx_replica_free(p.g);
}

static int
call_verify(struct racer *x)
{
    return svc_verify(x->fx, x->a, x->b, NULL, NULL, NULL);
}

static void
test_totp_code_once_over_replicas(void **state)
{
    struct pair p = pair_new(state);
    struct racer x[2];
    char id[64], token[256], secret[64], code[16], t1[256], t2[256];
    int authenticated = 1;

    svc_user_create(p.f, "totp@example.com", SVC_PASSWORD, id);
    assert_int_equal(svc_login(p.f, "totp@example.com", SVC_PASSWORD, token, NULL, NULL), AUTHD_OK);
    svc_enrol_totp(p.f, token, secret, NULL);
    /* Two pending logins, one on each replica, and the next step's code for both at once. */
    assert_int_equal(svc_login(p.f, "totp@example.com", SVC_PASSWORD, t1, &authenticated, NULL),
                     AUTHD_OK);
    assert_false(authenticated);
    assert_int_equal(svc_login(p.g, "totp@example.com", SVC_PASSWORD, t2, &authenticated, NULL),
                     AUTHD_OK);
    assert_false(authenticated);
    svc_fake_now += 30;
    svc_totp(secret, svc_fake_now, code);
    x[0] = (struct racer){.fx = p.f, .a = t1, .b = code, .call = call_verify};
    x[1] = (struct racer){.fx = p.g, .a = t2, .b = code, .call = call_verify};
    race(x, 2);
    assert_int_equal(count(x, 2, AUTHD_OK), 1);
    svc_fx_replica_free(p.g);
}

/*
 * RACERS pending logins of one user (made on f, or alternately on f and g), all sent the same
 * valid code at once: exactly one is accepted, whatever the interleaving; every other one is
 * refused as a used code or, once those failures lock the account, as locked.
 */
static void
one_code_many_calls(struct pair *p, const char *email, int both)
{
    struct racer x[RACERS];
    char id[64], token[256], secret[64], code[16], pend[RACERS][256];
    int authenticated = 1;

    svc_user_create(p->f, email, SVC_PASSWORD, id);
    assert_int_equal(svc_login(p->f, email, SVC_PASSWORD, token, NULL, NULL), AUTHD_OK);
    svc_enrol_totp(p->f, token, secret, NULL);
    memset(x, 0, sizeof(x));
    for (size_t i = 0; i < RACERS; i++) {
        struct svc_fx *fx = both && i % 2 ? p->g : p->f;
        assert_int_equal(svc_login(fx, email, SVC_PASSWORD, pend[i], &authenticated, NULL),
                         AUTHD_OK);
        assert_false(authenticated);
        x[i] = (struct racer){.fx = fx, .a = pend[i], .b = code, .call = call_verify};
    }
    /* The next step's code: the enrolment used the current one. */
    svc_totp(secret, svc_fake_now + 30, code);
    race(x, RACERS);
    assert_int_equal(count(x, RACERS, AUTHD_OK), 1);
    assert_int_equal(count(x, RACERS, AUTHD_ERR_WRONG_CODE) + count(x, RACERS, AUTHD_ERR_LOCKED),
                     RACERS - 1);
}

/* A store with synced writes, as authd runs it: each commit then takes a disk flush, so the
 * racers' transactions overlap as they do under load (the answer never depends on it). */
static int
setup_synced(void **state)
{
    svc_store_sync = 1;
    int r = svc_fx_setup(state);
    svc_store_sync = 0;
    return r;
}

static void
test_totp_code_once_among_many_calls(void **state)
{
    struct pair p = pair_new(state);

    warm(&p);
    one_code_many_calls(&p, "many1@example.com", 0); /* one authd */
    one_code_many_calls(&p, "many2@example.com", 1); /* both replicas */
    svc_fx_replica_free(p.g);
}

static int
call_recovery(struct racer *x)
{
    return svc_verify(x->fx, x->a, NULL, x->b, NULL, NULL);
}

static void
test_recovery_code_once_over_replicas(void **state)
{
    struct pair p = pair_new(state);
    struct racer x[2];
    char id[64], token[256], secret[64], recovery[32], t1[256], t2[256];

    svc_user_create(p.f, "rc@example.com", SVC_PASSWORD, id);
    assert_int_equal(svc_login(p.f, "rc@example.com", SVC_PASSWORD, token, NULL, NULL), AUTHD_OK);
    svc_enrol_totp(p.f, token, secret, recovery);
    assert_int_equal(svc_login(p.f, "rc@example.com", SVC_PASSWORD, t1, NULL, NULL), AUTHD_OK);
    assert_int_equal(svc_login(p.g, "rc@example.com", SVC_PASSWORD, t2, NULL, NULL), AUTHD_OK);
    x[0] = (struct racer){.fx = p.f, .a = t1, .b = recovery, .call = call_recovery};
    x[1] = (struct racer){.fx = p.g, .a = t2, .b = recovery, .call = call_recovery};
    race(x, 2);
    assert_int_equal(count(x, 2, AUTHD_OK), 1);
    svc_fx_replica_free(p.g);
}

/* PasswordReset.Complete with the link token x->a. */
static int
call_reset_complete(struct racer *x)
{
    Authd__V1__CompleteResetRequest req = AUTHD__V1__COMPLETE_RESET_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    req.token = (char *)x->a;
    req.password = (char *)x->b;
    req.code = "";
    req.client_ip = SVC_IP;
    int r = svc_call(x->fx, ROLE_EDGE, "PasswordReset", "Complete", &req.base, &resp, NULL);
    rpc_msg_free(resp);
    return r;
}

static void
test_reset_link_once_over_replicas(void **state)
{
    struct pair p = pair_new(state);
    Authd__V1__StartResetRequest req = AUTHD__V1__START_RESET_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    struct racer x[2];
    char id[64], link[256];

    svc_user_create(p.f, "reset@example.com", SVC_PASSWORD, id);
    warm(&p);
    req.email = "reset@example.com";
    req.client_ip = SVC_IP;
    assert_int_equal(svc_call(p.f, ROLE_EDGE, "PasswordReset", "Start", &req.base, &resp, NULL),
                     AUTHD_OK);
    snprintf(link, sizeof(link), "%s", ((Authd__V1__StartResetResponse *)resp)->token);
    rpc_msg_free(resp);
    x[0] = (struct racer){
        .fx = p.f, .a = link, .b = "first new passphrase", .call = call_reset_complete};
    x[1] = (struct racer){
        .fx = p.g, .a = link, .b = "second new passphrase", .call = call_reset_complete};
    race(x, 2);
    assert_int_equal(count(x, 2, AUTHD_OK), 1);
    assert_int_equal(count(x, 2, AUTHD_ERR_INVALID_TOKEN), 1);
    /* The winner's password is the one that holds. */
    const char *won = x[0].r == AUTHD_OK ? x[0].b : x[1].b;
    const char *lost = x[0].r == AUTHD_OK ? x[1].b : x[0].b;
    assert_int_equal(svc_login(p.g, "reset@example.com", won, NULL, NULL, NULL), AUTHD_OK);
    assert_int_equal(svc_login(p.g, "reset@example.com", lost, NULL, NULL, NULL),
                     AUTHD_ERR_INVALID_CREDENTIALS);
    svc_fx_replica_free(p.g);
}

static void
test_wrong_codes_over_replicas(void **state)
{
    struct pair p = pair_new(state);
    struct racer x[RACERS];
    char id[64], token[256], secret[64], t1[256], t2[256], wrong[16], ok[3][16];

    svc_user_create(p.f, "codes@example.com", SVC_PASSWORD, id);
    assert_int_equal(svc_login(p.f, "codes@example.com", SVC_PASSWORD, token, NULL, NULL),
                     AUTHD_OK);
    svc_enrol_totp(p.f, token, secret, NULL);
    assert_int_equal(svc_login(p.f, "codes@example.com", SVC_PASSWORD, t1, NULL, NULL), AUTHD_OK);
    assert_int_equal(svc_login(p.g, "codes@example.com", SVC_PASSWORD, t2, NULL, NULL), AUTHD_OK);
    /* A code no step of the window accepts. */
    for (int k = 0; k < 3; k++)
        svc_totp(secret, svc_fake_now + (k - 1) * 30, ok[k]);
    for (int n = 0;; n++) {
        snprintf(wrong, sizeof(wrong), "%06d", n);
        if (strcmp(wrong, ok[0]) != 0 && strcmp(wrong, ok[1]) != 0 && strcmp(wrong, ok[2]) != 0)
            break;
    }
    memset(x, 0, sizeof(x));
    for (size_t i = 0; i < RACERS; i++)
        x[i] = (struct racer){
            .fx = i % 2 ? p.g : p.f, .a = i % 2 ? t2 : t1, .b = wrong, .call = call_verify};
    race(x, RACERS);
    assert_int_equal(count(x, RACERS, AUTHD_ERR_WRONG_CODE), FREE_FAILURES + 1);
    assert_int_equal(count(x, RACERS, AUTHD_ERR_LOCKED), RACERS - FREE_FAILURES - 1);
    svc_fx_replica_free(p.g);
}

/* ---- OAuth ------------------------------------------------------------------------------ */

static void
put_client(struct svc_fx *f, const char *id, const char *secret, int active)
{
    Authd__V1__Client c = AUTHD__V1__CLIENT__INIT;
    Authd__V1__ClientAuth auth = AUTHD__V1__CLIENT_AUTH__INIT;
    Authd__V1__GrantSettings code = AUTHD__V1__GRANT_SETTINGS__INIT;
    Authd__V1__BoolValue on = AUTHD__V1__BOOL_VALUE__INIT;
    char *grants[] = {"authorization_code", "refresh_token", "client_credentials"};
    char *scopes[] = {"openid", "profile"};
    ProtobufCMessage *resp = NULL;

    code.redirect_uri = REDIRECT;
    code.refresh_token = 1;
    auth.authorization_code = &code;
    on.value = active;
    c.id = (char *)id;
    c.secret = (char *)secret;
    c.first_party = 1;
    c.active = &on;
    c.n_grant_types = 3;
    c.grant_types = grants;
    c.n_scope = 2;
    c.scope = scopes;
    c.auth = &auth;
    assert_int_equal(svc_call(f, ROLE_ADMIN, "ClientAdmin", "Put", &c.base, &resp, NULL), AUTHD_OK);
    rpc_msg_free(resp);
}

/* An authorization code for client "app" from a signed-in session on f, into code (256 bytes). */
static void
get_code(struct svc_fx *f, const char *session, char *code)
{
    Authd__V1__AuthorizeRequest req = AUTHD__V1__AUTHORIZE_REQUEST__INIT;
    Authd__V1__ClientContext cc = AUTHD__V1__CLIENT_CONTEXT__INIT;
    ProtobufCMessage *resp = NULL;

    cc.client_id = "app";
    cc.response_type = "code";
    cc.redirect_uri = REDIRECT;
    cc.scope = "openid profile";
    cc.state = "st4te";
    req.session_token = (char *)session;
    req.params = &cc;
    req.max_age = -1;
    assert_int_equal(svc_call(f, ROLE_EDGE, "OAuth", "Authorize", &req.base, &resp, NULL),
                     AUTHD_OK);
    const char *url = ((Authd__V1__AuthorizeResponse *)resp)->redirect_url;
    const char *c = strstr(url, "code=");
    assert_non_null(c);
    size_t n = strcspn(c + 5, "&#");
    assert_true(n < 256);
    memcpy(code, c + 5, n);
    code[n] = '\0';
    rpc_msg_free(resp);
}

/* OAuth.Token for client "app" (grant: code or refresh), the new refresh token into out. */
static int
token(struct svc_fx *f, const char *grant, const char *value, const char *secret, char *out)
{
    Authd__V1__OAuthTokenRequest req = AUTHD__V1__OAUTH_TOKEN_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    req.grant_type = (char *)grant;
    req.client_id = "app";
    req.client_secret = (char *)secret;
    req.client_ip = SVC_IP;
    if (strcmp(grant, "authorization_code") == 0) {
        req.code = (char *)value;
        req.redirect_uri = REDIRECT;
    } else if (strcmp(grant, "refresh_token") == 0) {
        req.refresh_token = (char *)value;
    }
    int r = svc_call(f, ROLE_EDGE, "OAuth", "Token", &req.base, &resp, NULL);
    if (r == AUTHD_OK && out != NULL)
        snprintf(out, 256, "%s", ((Authd__V1__OAuthTokenResponse *)resp)->refresh_token);
    rpc_msg_free(resp);
    return r;
}

static int
call_token(struct racer *x)
{
    return token(x->fx, x->a, x->b, CLIENT_SECRET, x->out);
}

/* A user signed in on f and the client "app"; the session token into session. */
static void
oauth_ready(struct pair *p, char *session)
{
    char id[64];

    svc_user_create(p->f, "oauth@example.com", SVC_PASSWORD, id);
    assert_int_equal(svc_login(p->f, "oauth@example.com", SVC_PASSWORD, session, NULL, NULL),
                     AUTHD_OK);
    put_client(p->f, "app", CLIENT_SECRET, 1);
    /* The callers of the second replica, before threads use them. */
    assert_int_equal(token(p->g, "client_credentials", NULL, CLIENT_SECRET, NULL), AUTHD_OK);
}

static int
call_wrong_secret(struct racer *x)
{
    return token(x->fx, "client_credentials", NULL, "not the secret", NULL);
}

static void
test_wrong_client_secrets_over_replicas(void **state)
{
    struct pair p = pair_new(state);
    struct racer x[RACERS];
    char session[256];

    oauth_ready(&p, session);
    memset(x, 0, sizeof(x));
    for (size_t i = 0; i < RACERS; i++)
        x[i] = (struct racer){.fx = i % 2 ? p.g : p.f, .call = call_wrong_secret};
    race(x, RACERS);
    assert_int_equal(count(x, RACERS, AUTHD_ERR_INVALID_CREDENTIALS), FREE_FAILURES + 1);
    assert_int_equal(count(x, RACERS, AUTHD_ERR_LOCKED), RACERS - FREE_FAILURES - 1);
    /* The client is locked (the wrong secrets after the free ones got the wait), yet the right
     * secret, judged first, passes on either replica: a stranger who knows the client id must
     * not be able to shut it out. (The 20 failures did not lock the address: 20 are free.) */
    assert_int_equal(token(p.f, "client_credentials", NULL, CLIENT_SECRET, NULL), AUTHD_OK);
    assert_int_equal(token(p.g, "client_credentials", NULL, CLIENT_SECRET, NULL), AUTHD_OK);
    svc_fx_replica_free(p.g);
}

static void
test_code_once_over_replicas(void **state)
{
    struct pair p = pair_new(state);
    struct racer x[2];
    char session[256], code[256];

    oauth_ready(&p, session);
    get_code(p.f, session, code);
    x[0] = (struct racer){.fx = p.f, .a = "authorization_code", .b = code, .call = call_token};
    x[1] = (struct racer){.fx = p.g, .a = "authorization_code", .b = code, .call = call_token};
    race(x, 2);
    assert_int_equal(count(x, 2, AUTHD_OK), 1);
    assert_int_equal(count(x, 2, AUTHD_ERR_INVALID_TOKEN), 1);
    svc_fx_replica_free(p.g);
}

static void
test_refresh_reuse_over_replicas(void **state)
{
    struct pair p = pair_new(state);
    struct racer x[2];
    char session[256], code[256], rt1[256], rt2[256], rt3[256];

    oauth_ready(&p, session);
    get_code(p.f, session, code);
    assert_int_equal(token(p.f, "authorization_code", code, CLIENT_SECRET, rt1), AUTHD_OK);
    /* Rotated on f, replayed on g: g sees the reuse and the family dies on both. */
    assert_int_equal(token(p.f, "refresh_token", rt1, CLIENT_SECRET, rt2), AUTHD_OK);
    assert_int_equal(token(p.g, "refresh_token", rt1, CLIENT_SECRET, rt3), AUTHD_ERR_INVALID_TOKEN);
    assert_int_equal(token(p.f, "refresh_token", rt2, CLIENT_SECRET, rt3), AUTHD_ERR_INVALID_TOKEN);

    /* The same refresh token on both replicas at once: one rotation at most. */
    get_code(p.f, session, code);
    assert_int_equal(token(p.f, "authorization_code", code, CLIENT_SECRET, rt1), AUTHD_OK);
    x[0] = (struct racer){.fx = p.f, .a = "refresh_token", .b = rt1, .call = call_token};
    x[1] = (struct racer){.fx = p.g, .a = "refresh_token", .b = rt1, .call = call_token};
    race(x, 2);
    assert_true(count(x, 2, AUTHD_OK) <= 1);
    assert_true(count(x, 2, AUTHD_ERR_INVALID_TOKEN) >= 1);
    svc_fx_replica_free(p.g);
}

/* ---- what one replica changes, the other uses ---------------------------------------------- */

static void
test_signing_key_over_replicas(void **state)
{
    struct pair p = pair_new(state);
    char kid[SIGNKEYS_KID_MAX], *jws = NULL, *claims = NULL, *jwks = NULL;

    /* g would not reread its keys for an hour: only the unknown kid can make it look. */
    p.g->a.refresh_ms = 3600 * 1000;
    assert_int_equal(signkeys_rotate(&p.f->a, p.f->a.keys, "ES256", kid), AUTHD_OK);
    assert_int_equal(signkeys_sign(p.f->a.keys, "ES256", "{\"sub\":\"x\"}", &jws), AUTHD_OK);
    assert_int_equal(signkeys_verify(p.g->a.keys, jws, &claims), AUTHD_OK);
    assert_string_equal(claims, "{\"sub\":\"x\"}");
    free(claims);
    free(jws);
    /* A kid that is nowhere stays refused (and costs one read). */
    assert_int_equal(signkeys_sign(p.f->a.keys, "ES256", "{}", &jws), AUTHD_OK);
    jws[20] = jws[20] == 'A' ? 'B' : 'A'; /* inside the header: the kid or its JSON changes */
    assert_int_not_equal(signkeys_verify(p.g->a.keys, jws, &claims), AUTHD_OK);
    free(jws);
    /* Once its copy is due, g publishes the new key and signs with it too. */
    p.g->a.refresh_ms = 0;
    assert_int_equal(signkeys_jwks(p.g->a.keys, &jwks), AUTHD_OK);
    assert_non_null(strstr(jwks, kid));
    free(jwks);
    assert_int_equal(signkeys_sign(p.g->a.keys, "ES256", "{}", &jws), AUTHD_OK);
    p.f->a.refresh_ms = 3600 * 1000;
    assert_int_equal(signkeys_verify(p.f->a.keys, jws, &claims), AUTHD_OK);
    free(claims);
    free(jws);
    svc_fx_replica_free(p.g);
}

/* `keys rotate --alg RS256` on one replica makes RS256 the access tokens' algorithm on the other
 * too, once its copy of the keys is due (the choice is stored with the key). */
static void
test_access_alg_over_replicas(void **state)
{
    struct pair p = pair_new(state);
    char kid[SIGNKEYS_KID_MAX];

    assert_string_equal(signkeys_access_alg(p.g->a.keys), "ES256");
    assert_int_equal(signkeys_rotate(&p.f->a, p.f->a.keys, "RS256", kid), AUTHD_OK);
    assert_string_equal(signkeys_access_alg(p.f->a.keys), "RS256");
    p.g->a.refresh_ms = 0;
    assert_string_equal(signkeys_access_alg(p.g->a.keys), "RS256");
    /* Back to ES256 from g: f follows. */
    assert_int_equal(signkeys_rotate(&p.g->a, p.g->a.keys, "ES256", kid), AUTHD_OK);
    p.f->a.refresh_ms = 0;
    assert_string_equal(signkeys_access_alg(p.f->a.keys), "ES256");
    svc_fx_replica_free(p.g);
}

/* Counts the stored signing keys that are active (never retired). */
static int
on_sigkey(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    (void)key;
    (void)klen;
    Authd__Storage__SigningKey *m = authd__storage__signing_key__unpack(NULL, vlen, val);
    if (m != NULL && m->retired_at == 0)
        (*(int *)arg)++;
    if (m != NULL)
        authd__storage__signing_key__free_unpacked(m, NULL);
    return 0;
}

static int
active_keys(struct svc_fx *f)
{
    int n = 0;
    assert_int_equal(store_scan(f->st, "sigkey/", strlen("sigkey/"), NULL, 0, on_sigkey, &n),
                     AUTHD_OK);
    return n;
}

static void
test_rotations_on_both_replicas(void **state)
{
    struct pair p = pair_new(state);
    char kid1[SIGNKEYS_KID_MAX], kid2[SIGNKEYS_KID_MAX], *jws = NULL, *claims = NULL;

    /* g has not reread its keys when it rotates after f: its rotation retires f's new key too,
     * so one key stays active in the store, not two that nobody would ever retire. */
    p.g->a.refresh_ms = 3600 * 1000;
    assert_int_equal(active_keys(p.f), 1);
    assert_int_equal(signkeys_rotate(&p.f->a, p.f->a.keys, "ES256", kid1), AUTHD_OK);
    assert_int_equal(signkeys_rotate(&p.g->a, p.g->a.keys, "ES256", kid2), AUTHD_OK);
    assert_string_not_equal(kid1, kid2);
    assert_int_equal(active_keys(p.f), 1);
    /* f's token, signed with its now retired key, still verifies on g (retired keys stay
     * published), and g's with kid2 on f (an unknown kid is looked up). */
    p.f->a.refresh_ms = 3600 * 1000;
    assert_int_equal(signkeys_sign(p.f->a.keys, "ES256", "{}", &jws), AUTHD_OK);
    assert_int_equal(signkeys_verify(p.g->a.keys, jws, &claims), AUTHD_OK);
    free(claims);
    free(jws);
    assert_int_equal(signkeys_sign(p.g->a.keys, "ES256", "{}", &jws), AUTHD_OK);
    assert_int_equal(signkeys_verify(p.f->a.keys, jws, &claims), AUTHD_OK);
    free(claims);
    free(jws);
    svc_fx_replica_free(p.g);
}

/* Admin.PutAuthConfig on f with lockout.password.account.freeFailures = n. */
static void
put_free_failures(struct svc_fx *f, int n)
{
    Authd__V1__AuthConfig c = AUTHD__V1__AUTH_CONFIG__INIT;
    Authd__V1__LockoutConfig l = AUTHD__V1__LOCKOUT_CONFIG__INIT;
    Authd__V1__LockoutPolicy pw = AUTHD__V1__LOCKOUT_POLICY__INIT;
    Authd__V1__LockoutRule acct = AUTHD__V1__LOCKOUT_RULE__INIT;
    ProtobufCMessage *resp = NULL;

    acct.free_failures = n;
    pw.account = &acct;
    l.password = &pw;
    c.lockout = &l;
    assert_int_equal(svc_call(f, ROLE_ADMIN, "Admin", "PutAuthConfig", &c.base, &resp, NULL),
                     AUTHD_OK);
    rpc_msg_free(resp);
}

static void
test_config_over_replicas(void **state)
{
    struct pair p = pair_new(state);
    struct throttle_policy pol;

    p.g->a.refresh_ms = 3600 * 1000;
    put_free_failures(p.f, 2);
    throttle_policy(&p.f->a, THROTTLE_PASSWORD, THROTTLE_ACCOUNT, &pol);
    assert_int_equal(pol.free_failures, 2);
    /* g's copy is not due yet: the old policy (the bound is refresh_ms) ... */
    throttle_policy(&p.g->a, THROTTLE_PASSWORD, THROTTLE_ACCOUNT, &pol);
    assert_int_equal(pol.free_failures, FREE_FAILURES);
    /* ... and once it is due, the stored one, with no call to g. */
    p.g->a.refresh_ms = 0;
    throttle_policy(&p.g->a, THROTTLE_PASSWORD, THROTTLE_ACCOUNT, &pol);
    assert_int_equal(pol.free_failures, 2);
    put_free_failures(p.f, 3);
    throttle_policy(&p.g->a, THROTTLE_PASSWORD, THROTTLE_ACCOUNT, &pol);
    assert_int_equal(pol.free_failures, 3);
    svc_fx_replica_free(p.g);
}

/* Replaces client "app"'s stored secret hash behind every authd's back (as another process's
 * ClientAdmin.Put would: no cache of this process is told). */
static void
store_client_secret(struct svc_fx *f, const char *secret)
{
    Authd__Storage__ClientRecord *c = NULL;
    char *phc = NULL;
    uint8_t buf[4096];

    assert_int_equal(clients_get(&f->a, "app", &c), AUTHD_OK);
    assert_int_equal(password_hash(&f->a.set.argon2, secret, strlen(secret), &phc), AUTHD_OK);
    free(c->secret_hash);
    c->secret_hash = phc;
    size_t n = protobuf_c_message_get_packed_size(&c->base);
    assert_true(n <= sizeof(buf));
    protobuf_c_message_pack(&c->base, buf);
    assert_int_equal(store_put(f->st, "client/app", strlen("client/app"), buf, n), AUTHD_OK);
    rpc_msg_free(&c->base);
}

static void
test_client_changes_over_replicas(void **state)
{
    struct pair p = pair_new(state);
    char session[256];
    ProtobufCMessage *resp = NULL;
    Authd__V1__ClientRequest del = AUTHD__V1__CLIENT_REQUEST__INIT;

    oauth_ready(&p, session);
    /* g has verified (and remembered) the secret; then it changes in the store. */
    assert_int_equal(token(p.g, "client_credentials", NULL, CLIENT_SECRET, NULL), AUTHD_OK);
    store_client_secret(p.f, "the rotated secret of the app");
    assert_int_equal(token(p.g, "client_credentials", NULL, CLIENT_SECRET, NULL),
                     AUTHD_ERR_INVALID_CREDENTIALS);
    assert_int_equal(token(p.g, "client_credentials", NULL, "the rotated secret of the app", NULL),
                     AUTHD_OK);
    /* Deactivated and deleted through f: refused by g at once. */
    put_client(p.f, "app", CLIENT_SECRET, 1);
    assert_int_equal(token(p.g, "client_credentials", NULL, CLIENT_SECRET, NULL), AUTHD_OK);
    put_client(p.f, "app", CLIENT_SECRET, 0);
    assert_int_equal(token(p.g, "client_credentials", NULL, CLIENT_SECRET, NULL),
                     AUTHD_ERR_INVALID_CREDENTIALS);
    put_client(p.f, "app", CLIENT_SECRET, 1);
    assert_int_equal(token(p.g, "client_credentials", NULL, CLIENT_SECRET, NULL), AUTHD_OK);
    del.id = "app";
    assert_int_equal(svc_call(p.f, ROLE_ADMIN, "ClientAdmin", "Delete", &del.base, &resp, NULL),
                     AUTHD_OK);
    rpc_msg_free(resp);
    assert_int_equal(token(p.g, "client_credentials", NULL, CLIENT_SECRET, NULL),
                     AUTHD_ERR_INVALID_CREDENTIALS);
    svc_fx_replica_free(p.g);
}

/*
 * A bearer token is checked against the store by the authorize hook. On a shared database that
 * is round trips, which a trial (RPC_TRY_INLINE: Introspect, Token) must not make on the
 * completion-queue thread: the hook defers before checking, and the worker refuses the token.
 * On a local store the trial checks it itself.
 */
static void
test_bearer_check_not_in_trial_on_shared_store(void **state)
{
    struct svc_fx *f = *state;
    struct callers *cl = NULL;
    const char *md[] = {"authorization", "Bearer not-a-token", NULL};
    const struct rpc_service *svc = NULL;
    ProtobufCMessage *resp = NULL;
    struct rpc_status st;
    int deferred = -1;

    for (size_t i = 0; i < f->n_svcs && svc == NULL; i++)
        if (strcmp(f->svcs[i].desc->name, "authd.v1.OAuth") == 0)
            svc = &f->svcs[i];
    assert_non_null(svc);
    assert_int_equal(callers_new(&f->a, ROLE_EDGE, &cl), AUTHD_OK);
    struct rpc_local_opts o = {.md = md,
                               .authorize = callers_authorize,
                               .hook_arg = cl,
                               .peer = "ipv4:127.0.0.1:1",
                               .deferred = &deferred};
    Authd__V1__IntrospectRequest req = AUTHD__V1__INTROSPECT_REQUEST__INIT;
    req.token = "whatever";
    deferred = 0;
    assert_int_equal(rpc_local_call(svc, "Introspect", &o, &req.base, &resp, &st),
                     AUTHD_ERR_UNAUTHENTICATED);
    assert_null(resp);
    assert_int_equal(deferred, !store_local(f->st));
    callers_free(cl);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_wrong_passwords_over_replicas, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_bearer_check_not_in_trial_on_shared_store,
                                        svc_fx_setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_email_over_replicas, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_correct_logins_over_replicas, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_totp_code_once_over_replicas, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_totp_code_once_among_many_calls, setup_synced,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_recovery_code_once_over_replicas, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_reset_link_once_over_replicas, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_codes_over_replicas, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_client_secrets_over_replicas, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_code_once_over_replicas, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_refresh_reuse_over_replicas, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_signing_key_over_replicas, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_access_alg_over_replicas, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_rotations_on_both_replicas, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_config_over_replicas, svc_fx_setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_client_changes_over_replicas, svc_fx_setup,
                                        svc_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
