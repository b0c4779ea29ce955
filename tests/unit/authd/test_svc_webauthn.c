/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for authd/webauthn_store.c and authd/svc_webauthn.c on a real store with a fake
 * clock: a ceremony's challenge serves once, only its purpose, user and session, and dies at
 * its expiry (the sweeper removes it); credential ids are unique across users and their index
 * entries leave with the keys (Users.Delete, ResetTwoFactor); every User answered says
 * two_factor.totp / passkeys / enabled from what the record holds, records written before those
 * fields included; AuthConfig.webauthn is validated as documented.
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
#include "authd/keys.h"
#include "authd/records.h"
#include "authd/sweeper.h"
#include "authd/v1/admin.pb-c.h"
#include "authd/v1/users.pb-c.h"
#include "authd/v1/webauthn.pb-c.h"
#include "authd/webauthn_store.h"
#include "common/err.h"
#include "common/secret.h"
#include "proto/rpc.h"
#include "tests/unit/authd/svc_fixture.h"

/* ---- helpers ------------------------------------------------------------------------------- */

/* A ceremony of purpose for user and session, alive for ttl seconds; its id into id. */
static void
ceremony(struct svc_fx *f, int purpose, const char *user, const char *session, int64_t ttl,
         struct webauthn_ceremony *c)
{
    memset(c, 0, sizeof(*c));
    c->purpose = purpose;
    c->user_id = user;
    c->session_id = session;
    c->ttl = ttl;
    assert_int_equal(webauthn_challenge_create(&f->a, NULL, c), AUTHD_OK);
    assert_int_equal(strlen(c->id), WEBAUTHN_CEREMONY_ID_LEN);
    assert_int_equal(c->expires_at, svc_fake_now + ttl);
}

/* webauthn_challenge_take in a transaction committed when commit (and the take passed), else
 * rolled back. The challenge bytes into got (32 bytes, may be NULL) on AUTHD_OK. */
static int
take(struct svc_fx *f, const char *id, int purpose, const char *user, const char *session,
     int commit, uint8_t *got)
{
    struct store_txn *txn = NULL;
    Authd__Storage__WebAuthnChallengeRecord *rec = NULL;
    assert_int_equal(store_txn_begin(f->st, &txn), AUTHD_OK);
    int r = webauthn_challenge_take(&f->a, txn, id, purpose, user, session, &rec);
    if (r == AUTHD_OK) {
        assert_non_null(rec);
        assert_int_equal(rec->challenge.len, WEBAUTHN_CHALLENGE_LEN);
        if (got != NULL)
            memcpy(got, rec->challenge.data, WEBAUTHN_CHALLENGE_LEN);
        rpc_msg_free(&rec->base);
        if (commit)
            assert_int_equal(store_txn_commit(txn), AUTHD_OK);
    } else {
        assert_null(rec);
    }
    store_txn_free(txn);
    return r;
}

static int
on_key(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
    (void)k;
    (void)kl;
    (void)v;
    (void)vl;
    ++*(int *)arg;
    return 0;
}

/* How many keys the store holds under prefix. */
static int
count(struct svc_fx *f, const char *prefix)
{
    int n = 0;
    assert_int_equal(store_scan(f->st, prefix, strlen(prefix), NULL, 0, on_key, &n), AUTHD_OK);
    return n;
}

/* webauthn_index_put of id for user in a committed transaction. */
static int
index_put(struct svc_fx *f, const char *id, const char *user)
{
    struct store_txn *txn = NULL;
    assert_int_equal(store_txn_begin(f->st, &txn), AUTHD_OK);
    int r = webauthn_index_put(txn, (const uint8_t *)id, strlen(id), user);
    if (r == AUTHD_OK)
        assert_int_equal(store_txn_commit(txn), AUTHD_OK);
    store_txn_free(txn);
    return r;
}

static int
index_lookup(struct svc_fx *f, const char *id, char *user)
{
    return webauthn_index_lookup(&f->a, NULL, (const uint8_t *)id, strlen(id), user);
}

/* Adds a key with credential id cid (and its index entry) to the stored user id, as a
 * registration stores one. */
static void
add_key(struct svc_fx *f, const char *id, const char *cid)
{
    struct store_txn *txn = NULL;
    Authd__Storage__UserRecord *rec = NULL;
    assert_int_equal(store_txn_begin(f->st, &txn), AUTHD_OK);
    assert_int_equal(account_user_get(&f->a, txn, 1, id, &rec), AUTHD_OK);
    Authd__Storage__WebAuthnCredentialRecord *k = malloc(sizeof(*k));
    assert_non_null(k);
    authd__storage__web_authn_credential_record__init(k);
    k->credential_id.len = strlen(cid);
    k->credential_id.data = (uint8_t *)strdup(cid);
    k->name = strdup("Key");
    assert_non_null(k->credential_id.data);
    assert_non_null(k->name);
    Authd__Storage__WebAuthnCredentialRecord **arr =
        realloc(rec->webauthn, (rec->n_webauthn + 1) * sizeof(*arr));
    assert_non_null(arr);
    arr[rec->n_webauthn] = k;
    rec->webauthn = arr;
    rec->n_webauthn++;
    assert_int_equal(webauthn_index_put(txn, (const uint8_t *)cid, strlen(cid), id), AUTHD_OK);
    assert_int_equal(account_user_save(&f->a, txn, rec), AUTHD_OK);
    assert_int_equal(store_txn_commit(txn), AUTHD_OK);
    store_txn_free(txn);
    rpc_msg_free(&rec->base);
}

/* Users.Get of id (as admin): its two_factor into *tf (a copy). */
static void
user_status(struct svc_fx *f, const char *id, Authd__V1__TwoFactorStatus *tf)
{
    Authd__V1__GetUserRequest req = AUTHD__V1__GET_USER_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    req.id = (char *)id;
    assert_int_equal(svc_call(f, ROLE_ADMIN, "Users", "Get", &req.base, &resp, NULL), AUTHD_OK);
    const Authd__V1__User *u = ((Authd__V1__UserResponse *)resp)->user;
    assert_non_null(u->two_factor);
    *tf = *u->two_factor;
    tf->transport = NULL;
    rpc_msg_free(resp);
}

/* ---- ceremonies ---------------------------------------------------------------------------- */

static void
test_challenge_single_use(void **state)
{
    struct svc_fx *f = *state;
    struct webauthn_ceremony c;
    uint8_t got[WEBAUTHN_CHALLENGE_LEN];

    ceremony(f, WEBAUTHN_PURPOSE_REGISTER, "u1", "s1", 300, &c);
    assert_int_equal(count(f, KEY_WACHAL), 1);
    assert_int_equal(take(f, c.id, WEBAUTHN_PURPOSE_REGISTER, "u1", "s1", 1, got), AUTHD_OK);
    assert_memory_equal(got, c.challenge, sizeof(got));
    /* Taken once and committed: gone. */
    assert_int_equal(take(f, c.id, WEBAUTHN_PURPOSE_REGISTER, "u1", "s1", 1, NULL),
                     AUTHD_ERR_KEY_REFUSED);
    assert_int_equal(count(f, KEY_WACHAL), 0);
    /* Two ceremonies never share an id or a challenge. */
    struct webauthn_ceremony d;
    ceremony(f, WEBAUTHN_PURPOSE_REGISTER, "u1", "s1", 300, &c);
    ceremony(f, WEBAUTHN_PURPOSE_REGISTER, "u1", "s1", 300, &d);
    assert_string_not_equal(c.id, d.id);
    assert_memory_not_equal(c.challenge, d.challenge, sizeof(c.challenge));
}

static void
test_challenge_binding(void **state)
{
    struct svc_fx *f = *state;
    struct webauthn_ceremony c;

    ceremony(f, WEBAUTHN_PURPOSE_STEPUP, "u1", "s1", 300, &c);
    /* Another user, session or purpose is refused (rolled back: the ceremony stays). */
    assert_int_equal(take(f, c.id, WEBAUTHN_PURPOSE_STEPUP, "u2", "s1", 0, NULL),
                     AUTHD_ERR_KEY_REFUSED);
    assert_int_equal(take(f, c.id, WEBAUTHN_PURPOSE_STEPUP, "u1", "s2", 0, NULL),
                     AUTHD_ERR_KEY_REFUSED);
    assert_int_equal(take(f, c.id, WEBAUTHN_PURPOSE_STEPUP, "u1", "", 0, NULL),
                     AUTHD_ERR_KEY_REFUSED);
    assert_int_equal(take(f, c.id, WEBAUTHN_PURPOSE_REGISTER, "u1", "s1", 0, NULL),
                     AUTHD_ERR_KEY_REFUSED);
    assert_int_equal(take(f, c.id, WEBAUTHN_PURPOSE_LOGIN, "u1", "s1", 0, NULL),
                     AUTHD_ERR_KEY_REFUSED);
    assert_int_equal(take(f, c.id, WEBAUTHN_PURPOSE_STEPUP, "u1", "s1", 1, NULL), AUTHD_OK);
    /* An unbound (passwordless) ceremony is only for unbound takers. */
    ceremony(f, WEBAUTHN_PURPOSE_PASSWORDLESS, NULL, NULL, 300, &c);
    assert_int_equal(take(f, c.id, WEBAUTHN_PURPOSE_PASSWORDLESS, "u1", "s1", 0, NULL),
                     AUTHD_ERR_KEY_REFUSED);
    assert_int_equal(take(f, c.id, WEBAUTHN_PURPOSE_PASSWORDLESS, "", NULL, 1, NULL), AUTHD_OK);
    /* Ids that are no ceremony id never reach the store. */
    static const char *const bad[] = {"",
                                      "x",
                                      "../../user/abc",
                                      "AAAAAAAAAAAAAAAAAAAAA",   /* 21 */
                                      "AAAAAAAAAAAAAAAAAAAAAAA", /* 23 */
                                      "AAAAAAAAAAAAAAAAAAAA/A",
                                      "AAAAAAAAAAAAAAAAAAAA=A",
                                      NULL};
    for (size_t i = 0; bad[i] != NULL; i++)
        assert_int_equal(take(f, bad[i], WEBAUTHN_PURPOSE_PASSWORDLESS, "", "", 0, NULL),
                         AUTHD_ERR_KEY_REFUSED);
}

static void
test_challenge_expiry_and_sweep(void **state)
{
    struct svc_fx *f = *state;
    struct webauthn_ceremony c, live;
    struct sweep_stats ss;

    ceremony(f, WEBAUTHN_PURPOSE_REGISTER, "u1", "s1", 30, &c);
    ceremony(f, WEBAUTHN_PURPOSE_REGISTER, "u1", "s1", 300, &live);
    svc_fake_now += 29;
    assert_int_equal(take(f, c.id, WEBAUTHN_PURPOSE_REGISTER, "u1", "s1", 0, NULL), AUTHD_OK);
    svc_fake_now += 1; /* expires_at: dead from that second on */
    assert_int_equal(take(f, c.id, WEBAUTHN_PURPOSE_REGISTER, "u1", "s1", 0, NULL),
                     AUTHD_ERR_KEY_REFUSED);
    /* Never finished: the sweeper deletes the dead one and keeps the live one. */
    assert_int_equal(count(f, KEY_WACHAL), 2);
    assert_int_equal(sweeper_run_once(&f->a, &ss), AUTHD_OK);
    assert_int_equal(count(f, KEY_WACHAL), 1);
    assert_int_equal(take(f, live.id, WEBAUTHN_PURPOSE_REGISTER, "u1", "s1", 1, NULL), AUTHD_OK);
}

/* ---- the credential-id index ----------------------------------------------------------------- */

static void
test_index_unique(void **state)
{
    struct svc_fx *f = *state;
    char user[ACCOUNT_MAX_ID + 1];

    assert_int_equal(index_lookup(f, "cred-1", user), AUTHD_ERR_NOT_FOUND);
    assert_int_equal(index_put(f, "cred-1", "u1"), AUTHD_OK);
    assert_int_equal(index_lookup(f, "cred-1", user), AUTHD_OK);
    assert_string_equal(user, "u1");
    /* Taken: by another user and by the same one alike. */
    assert_int_equal(index_put(f, "cred-1", "u2"), AUTHD_ERR_ALREADY_EXISTS);
    assert_int_equal(index_put(f, "cred-1", "u1"), AUTHD_ERR_ALREADY_EXISTS);
    assert_int_equal(index_put(f, "cred-2", "u2"), AUTHD_OK);
    /* The key is the id's hash: its length never depends on the id's. */
    char big[WEBAUTHN_CRED_ID_MAX + 1];
    memset(big, 'k', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(index_put(f, big, "u3"), AUTHD_OK);
    assert_int_equal(index_lookup(f, big, user), AUTHD_OK);
    assert_string_equal(user, "u3");

    struct store_txn *txn = NULL;
    assert_int_equal(store_txn_begin(f->st, &txn), AUTHD_OK);
    assert_int_equal(webauthn_index_delete(txn, (const uint8_t *)"cred-1", 6), AUTHD_OK);
    assert_int_equal(store_txn_commit(txn), AUTHD_OK);
    store_txn_free(txn);
    assert_int_equal(index_lookup(f, "cred-1", user), AUTHD_ERR_NOT_FOUND);
    assert_int_equal(index_put(f, "cred-1", "u2"), AUTHD_OK);
    assert_int_equal(index_lookup(f, "cred-1", user), AUTHD_OK);
    assert_string_equal(user, "u2");
    /* Kept until deleted: the sweeper leaves the index alone. */
    struct sweep_stats ss;
    assert_int_equal(sweeper_run_once(&f->a, &ss), AUTHD_OK);
    assert_int_equal(count(f, KEY_WACRED), 3);
}

/* ---- TwoFactorStatus and keys leaving with their user ------------------------------------ */

static void
test_status_fields(void **state)
{
    struct svc_fx *f = *state;
    char id[64], token[256];
    int authenticated = 0;
    Authd__V1__TwoFactorStatus tf;

    svc_user_create(f, "status@example.com", SVC_PASSWORD, id);
    user_status(f, id, &tf);
    assert_false(tf.enabled);
    assert_false(tf.totp);
    assert_int_equal(tf.passkeys, 0);

    /* A key alone is two-factor. */
    add_key(f, id, "key-a");
    user_status(f, id, &tf);
    assert_true(tf.enabled);
    assert_false(tf.totp);
    assert_int_equal(tf.passkeys, 1);

    /* And TOTP beside it: both counted, and the session answer says so too. */
    svc_user_create(f, "both@example.com", SVC_PASSWORD, id);
    assert_int_equal(svc_login(f, "both@example.com", SVC_PASSWORD, token, &authenticated, NULL),
                     AUTHD_OK);
    char secret[64];
    svc_enrol_totp(f, token, secret, NULL);
    add_key(f, id, "key-b");
    add_key(f, id, "key-c");
    user_status(f, id, &tf);
    assert_true(tf.enabled);
    assert_true(tf.totp);
    assert_int_equal(tf.passkeys, 2);

    /* Users.List says it of every user. */
    Authd__V1__ListUsersRequest lreq = AUTHD__V1__LIST_USERS_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    assert_int_equal(svc_call(f, ROLE_ADMIN, "Users", "List", &lreq.base, &resp, NULL), AUTHD_OK);
    const Authd__V1__ListUsersResponse *l = (const void *)resp;
    assert_int_equal(l->n_users, 2);
    for (size_t i = 0; i < l->n_users; i++) {
        const Authd__V1__TwoFactorStatus *t = l->users[i]->two_factor;
        assert_non_null(t);
        int both = strcmp(l->users[i]->email, "both@example.com") == 0;
        assert_int_equal(t->passkeys, both ? 2 : 1);
        assert_int_equal(t->totp, both);
        assert_true(t->enabled);
    }
    rpc_msg_free(resp);
}

/* A record written before TwoFactorStatus had totp and passkeys (or with a stale enabled) reads
 * as what it holds. */
static void
test_status_of_older_records(void **state)
{
    struct svc_fx *f = *state;
    char id[64];
    Authd__V1__TwoFactorStatus tf;

    svc_user_create(f, "old@example.com", SVC_PASSWORD, id);
    struct store_txn *txn = NULL;
    Authd__Storage__UserRecord *rec = NULL;
    assert_int_equal(store_txn_begin(f->st, &txn), AUTHD_OK);
    assert_int_equal(account_user_get(&f->a, txn, 1, id, &rec), AUTHD_OK);
    /* As an older authd wrote a user with TOTP: a secret, enabled, and nothing else said. */
    Authd__Storage__TotpState st = AUTHD__STORAGE__TOTP_STATE__INIT;
    Authd__V1__TwoFactorStatus old = AUTHD__V1__TWO_FACTOR_STATUS__INIT;
    Authd__V1__TwoFactorStatus *was = rec->user->two_factor;
    old.enabled = 1;
    rec->totp = &st;
    rec->user->two_factor = &old;
    char key[KEY_MAX];
    key_make(key, KEY_USER, id, NULL);
    assert_int_equal(rec_put(txn, key, &rec->base), AUTHD_OK);
    assert_int_equal(store_txn_commit(txn), AUTHD_OK);
    store_txn_free(txn);
    rec->totp = NULL;
    rec->user->two_factor = was;
    rpc_msg_free(&rec->base);

    user_status(f, id, &tf);
    assert_true(tf.enabled);
    assert_true(tf.totp);
    assert_int_equal(tf.passkeys, 0);
}

static void
test_keys_leave_with_user(void **state)
{
    struct svc_fx *f = *state;
    char id[64], other[64], user[ACCOUNT_MAX_ID + 1];
    ProtobufCMessage *resp = NULL;
    Authd__V1__TwoFactorStatus tf;

    svc_user_create(f, "gone@example.com", SVC_PASSWORD, id);
    svc_user_create(f, "reset@example.com", SVC_PASSWORD, other);
    add_key(f, id, "gone-1");
    add_key(f, id, "gone-2");
    add_key(f, other, "reset-1");
    assert_int_equal(count(f, KEY_WACRED), 3);

    /* An administrator's reset of the second factor takes the keys and their index. */
    Authd__V1__ResetTwoFactorRequest rreq = AUTHD__V1__RESET_TWO_FACTOR_REQUEST__INIT;
    rreq.id = other;
    assert_int_equal(svc_call(f, ROLE_ADMIN, "Users", "ResetTwoFactor", &rreq.base, &resp, NULL),
                     AUTHD_OK);
    assert_false(((Authd__V1__UserResponse *)resp)->user->two_factor->enabled);
    assert_int_equal(((Authd__V1__UserResponse *)resp)->user->two_factor->passkeys, 0);
    rpc_msg_free(resp);
    user_status(f, other, &tf);
    assert_int_equal(tf.passkeys, 0);
    assert_int_equal(index_lookup(f, "reset-1", user), AUTHD_ERR_NOT_FOUND);
    /* Free again: another user may register that id now. */
    add_key(f, id, "reset-1");

    Authd__V1__DeleteUserRequest dreq = AUTHD__V1__DELETE_USER_REQUEST__INIT;
    dreq.id = id;
    assert_int_equal(svc_call(f, ROLE_ADMIN, "Users", "Delete", &dreq.base, &resp, NULL), AUTHD_OK);
    rpc_msg_free(resp);
    assert_int_equal(count(f, KEY_WACRED), 0);
}

/* ---- AuthConfig.webauthn -------------------------------------------------------------------- */

static void
test_config_check(void **state)
{
    (void)state;
    static const struct {
        const char *rp_id;
        const char *origins[3];
        const char *uv;
        int timeout, reauth;
        int ok;
    } cases[] = {
        {"example.com", {"https://example.com"}, "", 0, 0, 1},
        {"example.com",
         {"https://login.example.com", "https://a.b.example.com:8443"},
         "required",
         30,
         60,
         1},
        {"localhost", {"http://localhost:8080"}, "preferred", 600, 86400, 1},
        {"", {NULL}, "", 0, 0, 1},                  /* off */
        {"", {"https://example.com"}, "", 0, 0, 0}, /* origins without rpId */
        {"example.com", {NULL}, "", 0, 0, 0},       /* rpId without origins */
        {"Example.com", {"https://example.com"}, "", 0, 0, 0},
        {"example", {"https://example"}, "", 0, 0, 0},    /* one label */
        {"127.0.0.1", {"http://127.0.0.1"}, "", 0, 0, 0}, /* an address */
        {"-a.example.com", {"https://-a.example.com"}, "", 0, 0, 0},
        {"a..example.com", {"https://example.com"}, "", 0, 0, 0},
        {"example.com.", {"https://example.com"}, "", 0, 0, 0},
        {"exa_mple.com", {"https://example.com"}, "", 0, 0, 0},
        {"example.com", {"http://example.com"}, "", 0, 0, 0}, /* http off loopback */
        {"example.com", {"https://evilexample.com"}, "", 0, 0, 0},
        {"example.com", {"https://example.org"}, "", 0, 0, 0},
        {"login.example.com", {"https://example.com"}, "", 0, 0, 0}, /* a parent */
        {"example.com", {"https://example.com/"}, "", 0, 0, 0},
        {"example.com", {"https://example.com/login"}, "", 0, 0, 0},
        {"example.com", {"javascript:alert(1)"}, "", 0, 0, 0},
        {"localhost", {"http://127.0.0.1:8080"}, "", 0, 0, 0}, /* not rpId's host */
        {"example.com", {"https://example.com"}, "discouraged", 0, 0, 0},
        {"example.com", {"https://example.com"}, "Required", 0, 0, 0},
        {"example.com", {"https://example.com"}, "", 29, 0, 0},
        {"example.com", {"https://example.com"}, "", 601, 0, 0},
        {"example.com", {"https://example.com"}, "", -1, 0, 0},
        {"example.com", {"https://example.com"}, "", 0, 59, 0},
        {"example.com", {"https://example.com"}, "", 0, 86401, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        Authd__V1__WebAuthnConfig w = AUTHD__V1__WEB_AUTHN_CONFIG__INIT;
        w.rp_id = (char *)cases[i].rp_id;
        w.origins = (char **)cases[i].origins;
        while (w.n_origins < 3 && cases[i].origins[w.n_origins] != NULL)
            w.n_origins++;
        w.user_verification = (char *)cases[i].uv;
        w.timeout = cases[i].timeout;
        w.reauth_seconds = cases[i].reauth;
        const char *why = webauthn_config_check(&w);
        if ((why == NULL) != cases[i].ok)
            fail_msg("case %zu (%s): %s", i, cases[i].rp_id, why ? why : "accepted");
    }
    assert_null(webauthn_config_check(NULL));
    /* At most 16 origins. */
    char *many[17];
    for (size_t i = 0; i < 17; i++)
        many[i] = "https://example.com";
    Authd__V1__WebAuthnConfig w = AUTHD__V1__WEB_AUTHN_CONFIG__INIT;
    w.rp_id = "example.com";
    w.origins = many;
    w.n_origins = 16;
    assert_null(webauthn_config_check(&w));
    w.n_origins = 17;
    assert_non_null(webauthn_config_check(&w));
}

static void
test_config_defaults(void **state)
{
    struct svc_fx *f = *state;
    struct authd_webauthn c;

    /* Not configured: refused with words the edge can show. */
    assert_int_equal(webauthn_config(&f->a, NULL, &c), AUTHD_ERR_FAILED_PRECONDITION);
    Authd__V1__AuthConfig ac = AUTHD__V1__AUTH_CONFIG__INIT;
    Authd__V1__WebAuthnConfig w = AUTHD__V1__WEB_AUTHN_CONFIG__INIT;
    char *origins[] = {"https://login.example.com"};
    w.rp_id = "example.com";
    w.origins = origins;
    w.n_origins = 1;
    ac.webauthn = &w;
    authd_cfg_apply(&f->a, &ac);
    assert_int_equal(webauthn_config(&f->a, NULL, &c), AUTHD_OK);
    assert_string_equal(c.rp_id, "example.com");
    assert_string_equal(c.rp_name, "authd");
    assert_int_equal(c.n_origins, 1);
    assert_string_equal(c.origins[0], "https://login.example.com");
    assert_true(c.passwordless);
    assert_false(c.require_uv);
    assert_int_equal(c.timeout, 300);
    assert_int_equal(c.reauth_seconds, 600);

    Authd__V1__BoolValue off = AUTHD__V1__BOOL_VALUE__INIT;
    Authd__V1__Theme theme = AUTHD__V1__THEME__INIT;
    theme.title = "Example";
    ac.theme = &theme;
    w.passwordless = &off;
    w.user_verification = "required";
    w.timeout = 60;
    w.reauth_seconds = 120;
    authd_cfg_apply(&f->a, &ac);
    assert_int_equal(webauthn_config(&f->a, NULL, &c), AUTHD_OK);
    assert_string_equal(c.rp_name, "Example");
    assert_false(c.passwordless);
    assert_true(c.require_uv);
    assert_int_equal(c.timeout, 60);
    assert_int_equal(c.reauth_seconds, 120);
    w.rp_name = "Example Inc.";
    authd_cfg_apply(&f->a, &ac);
    assert_int_equal(webauthn_config(&f->a, NULL, &c), AUTHD_OK);
    assert_string_equal(c.rp_name, "Example Inc.");
}

/* ---- PutAuthConfig ----------------------------------------------------------------------------
 */

/* Admin.PutAuthConfig (as admin) of a config whose webauthn block is w; the answer into *out
 * (may be NULL; rpc_msg_free). */
static int
put_webauthn(struct svc_fx *f, Authd__V1__WebAuthnConfig *w, Authd__V1__AuthConfig **out,
             struct rpc_status *st)
{
    Authd__V1__AuthConfig c = AUTHD__V1__AUTH_CONFIG__INIT;
    ProtobufCMessage *resp = NULL;
    c.webauthn = w;
    int r = svc_call(f, ROLE_ADMIN, "Admin", "PutAuthConfig", &c.base, &resp, st);
    if (out != NULL)
        *out = (Authd__V1__AuthConfig *)resp;
    else
        rpc_msg_free(resp);
    return r;
}

/* Passkeys on for rpId example.com from https://login.example.com (reauthSeconds reauth). */
static void
configure(struct svc_fx *f, int reauth)
{
    Authd__V1__WebAuthnConfig w = AUTHD__V1__WEB_AUTHN_CONFIG__INIT;
    char *origins[] = {"https://login.example.com"};
    w.rp_id = "example.com";
    w.origins = origins;
    w.n_origins = 1;
    w.reauth_seconds = reauth;
    assert_int_equal(put_webauthn(f, &w, NULL, NULL), AUTHD_OK);
}

static void
test_put_auth_config(void **state)
{
    struct svc_fx *f = *state;
    Authd__V1__WebAuthnConfig w = AUTHD__V1__WEB_AUTHN_CONFIG__INIT;
    Authd__V1__AuthConfig *got = NULL;
    struct rpc_status st;
    char *bad[] = {"https://evil.example.org"};
    char *origins[] = {"HTTPS://Login.Example.COM:443", "http://localhost:8080"};

    w.rp_id = "example.com";
    w.origins = bad;
    w.n_origins = 1;
    assert_int_equal(put_webauthn(f, &w, NULL, &st), AUTHD_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(st.message, "webauthn.origins"));
    /* Nothing was stored: passkeys stay off. */
    struct authd_webauthn c;
    assert_int_equal(webauthn_config(&f->a, NULL, &c), AUTHD_ERR_FAILED_PRECONDITION);

    /* An origin is stored as browsers send it; localhost is not under example.com. */
    w.origins = origins;
    w.n_origins = 2;
    assert_int_equal(put_webauthn(f, &w, NULL, &st), AUTHD_ERR_INVALID_ARGUMENT);
    w.n_origins = 1;
    assert_int_equal(put_webauthn(f, &w, &got, NULL), AUTHD_OK);
    assert_non_null(got->webauthn);
    assert_int_equal(got->webauthn->n_origins, 1);
    assert_string_equal(got->webauthn->origins[0], "https://login.example.com");
    /* The defaults are answered, as passwordPolicy is. */
    assert_string_equal(got->webauthn->user_verification, "preferred");
    assert_int_equal(got->webauthn->timeout, 300);
    assert_int_equal(got->webauthn->reauth_seconds, 600);
    assert_non_null(got->webauthn->passwordless);
    assert_true(got->webauthn->passwordless->value);
    rpc_msg_free(&got->base);
    Authd__V1__GetAuthConfigRequest greq = AUTHD__V1__GET_AUTH_CONFIG_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    assert_int_equal(svc_call(f, ROLE_EDGE, "Admin", "GetAuthConfig", &greq.base, &resp, NULL),
                     AUTHD_OK);
    got = (Authd__V1__AuthConfig *)resp;
    assert_string_equal(got->webauthn->origins[0], "https://login.example.com");
    assert_int_equal(got->webauthn->timeout, 300);
    rpc_msg_free(resp);
    assert_int_equal(webauthn_config(&f->a, NULL, &c), AUTHD_OK);
    assert_string_equal(c.origins[0], "https://login.example.com");

    w.reauth_seconds = 30;
    assert_int_equal(put_webauthn(f, &w, NULL, &st), AUTHD_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(st.message, "reauthSeconds"));
}

/* ---- the service ------------------------------------------------------------------------------
 */

/* A signed-in user (an authenticated session, its token into token; id into id). */
static void
signed_in(struct svc_fx *f, const char *email, char *id, char *token)
{
    int authenticated = 0;
    svc_user_create(f, email, SVC_PASSWORD, id);
    assert_int_equal(svc_login(f, email, SVC_PASSWORD, token, &authenticated, NULL), AUTHD_OK);
    assert_true(authenticated);
}

/* The API's id (base64url) of a test key cid, into out (64 bytes). */
static void
api_id(const char *cid, char *out)
{
    secret_b64url_encode((const uint8_t *)cid, strlen(cid), out);
}

static int
list_keys(struct svc_fx *f, const char *token, Authd__V1__WebAuthnCredentialList **out)
{
    Authd__V1__ListCredentialsRequest req = AUTHD__V1__LIST_CREDENTIALS_REQUEST__INIT;
    req.session_token = (char *)token;
    return svc_call(f, ROLE_EDGE, "WebAuthn", "ListCredentials", &req.base,
                    (ProtobufCMessage **)out, NULL);
}

static int
remove_key(struct svc_fx *f, const char *token, const char *cid, const char *code,
           const char *recovery, struct rpc_status *st)
{
    Authd__V1__RemoveCredentialRequest req = AUTHD__V1__REMOVE_CREDENTIAL_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    char id[64];
    api_id(cid, id);
    req.session_token = (char *)token;
    req.credential_id = id;
    req.code = (char *)(code ? code : "");
    req.recovery_code = (char *)(recovery ? recovery : "");
    req.client_ip = SVC_IP;
    int r = svc_call(f, ROLE_EDGE, "WebAuthn", "RemoveCredential", &req.base, &resp, st);
    rpc_msg_free(resp);
    return r;
}

static void
test_not_configured(void **state)
{
    struct svc_fx *f = *state;
    char id[64], token[256];
    struct rpc_status st;
    ProtobufCMessage *resp = NULL;
    static const char *const methods[] = {"ListCredentials",    "BeginRegistration",
                                          "FinishRegistration", "RenameCredential",
                                          "RemoveCredential",   NULL};

    signed_in(f, "off@example.com", id, token);
    Authd__V1__ListCredentialsRequest req = AUTHD__V1__LIST_CREDENTIALS_REQUEST__INIT;
    req.session_token = token;
    for (size_t i = 0; methods[i] != NULL; i++) {
        /* Every method's request starts with session_token: the same bytes decode as each. */
        const ProtobufCServiceDescriptor *d = &authd__v1__web_authn__descriptor;
        const ProtobufCMethodDescriptor *m =
            protobuf_c_service_descriptor_get_method_by_name(d, methods[i]);
        assert_non_null(m);
        ProtobufCMessage *in = calloc(1, m->input->sizeof_message);
        assert_non_null(in);
        protobuf_c_message_init(m->input, in);
        const ProtobufCFieldDescriptor *fd =
            protobuf_c_message_descriptor_get_field_by_name(m->input, "session_token");
        char *tp = token;
        memcpy((char *)in + fd->offset, &tp, sizeof(tp));
        assert_int_equal(svc_call(f, ROLE_EDGE, "WebAuthn", methods[i], in, &resp, &st),
                         AUTHD_ERR_FAILED_PRECONDITION);
        assert_string_equal(st.message, WEBAUTHN_NOT_CONFIGURED);
        free(in);
    }
    (void)req;
}

static void
test_begin_registration_options(void **state)
{
    struct svc_fx *f = *state;
    char id[64], token[256], kid[64];
    ProtobufCMessage *resp = NULL;

    configure(f, 0);
    signed_in(f, "opts@example.com", id, token);
    add_key(f, id, "key-1");
    Authd__V1__BeginRegistrationRequest req = AUTHD__V1__BEGIN_REGISTRATION_REQUEST__INIT;
    req.session_token = token;
    req.passkey = 1;
    assert_int_equal(
        svc_call(f, ROLE_EDGE, "WebAuthn", "BeginRegistration", &req.base, &resp, NULL), AUTHD_OK);
    const Authd__V1__CeremonyResponse *c = (const void *)resp;
    assert_int_equal(strlen(c->ceremony_id), WEBAUTHN_CEREMONY_ID_LEN);
    assert_int_equal(c->expires_at, svc_fake_now + 300);
    json_error_t jerr;
    json_t *o = json_loads(c->options_json, 0, &jerr);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "rp"), "id")),
                        "example.com");
    json_t *user = json_object_get(o, "user");
    char uid[128];
    secret_b64url_encode((const uint8_t *)id, strlen(id), uid);
    assert_string_equal(json_string_value(json_object_get(user, "id")), uid);
    assert_string_equal(json_string_value(json_object_get(user, "name")), "opts@example.com");
    uint8_t challenge[64];
    const char *ch = json_string_value(json_object_get(o, "challenge"));
    assert_int_equal(secret_b64url_decode(ch, strlen(ch), challenge, sizeof(challenge)), 32);
    json_t *params = json_object_get(o, "pubKeyCredParams");
    assert_int_equal(json_array_size(params), 3);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(params, 0), "alg")), -7);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(params, 1), "alg")), -8);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(params, 2), "alg")), -257);
    assert_int_equal(json_integer_value(json_object_get(o, "timeout")), 300000);
    json_t *ex = json_object_get(o, "excludeCredentials");
    assert_int_equal(json_array_size(ex), 1);
    api_id("key-1", kid);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ex, 0), "id")), kid);
    json_t *sel = json_object_get(o, "authenticatorSelection");
    assert_string_equal(json_string_value(json_object_get(sel, "residentKey")), "required");
    assert_true(json_is_true(json_object_get(sel, "requireResidentKey")));
    assert_string_equal(json_string_value(json_object_get(sel, "userVerification")), "preferred");
    assert_string_equal(json_string_value(json_object_get(o, "attestation")), "none");
    assert_true(json_is_true(json_object_get(json_object_get(o, "extensions"), "credProps")));
    json_decref(o);
    rpc_msg_free(resp);

    /* A security key: no resident key asked for. */
    req.passkey = 0;
    assert_int_equal(
        svc_call(f, ROLE_EDGE, "WebAuthn", "BeginRegistration", &req.base, &resp, NULL), AUTHD_OK);
    o = json_loads(((Authd__V1__CeremonyResponse *)resp)->options_json, 0, &jerr);
    sel = json_object_get(o, "authenticatorSelection");
    assert_string_equal(json_string_value(json_object_get(sel, "residentKey")), "discouraged");
    assert_true(json_is_false(json_object_get(sel, "requireResidentKey")));
    json_decref(o);
    rpc_msg_free(resp);

    /* Sixteen keys: no seventeenth. */
    for (int i = 2; i <= WEBAUTHN_KEYS_MAX; i++) {
        char cid[32];
        snprintf(cid, sizeof(cid), "key-%d", i);
        add_key(f, id, cid);
    }
    struct rpc_status st;
    assert_int_equal(svc_call(f, ROLE_EDGE, "WebAuthn", "BeginRegistration", &req.base, &resp, &st),
                     AUTHD_ERR_FAILED_PRECONDITION);
    assert_non_null(strstr(st.message, "16"));
}

/* Adding a key needs a fresh sign-in (reauthSeconds), as removing one does: a session or a
 * bearer that is only live (stolen, say) cannot add a lasting way in. */
static void
test_begin_registration_needs_a_fresh_sign_in(void **state)
{
    struct svc_fx *f = *state;
    char id[64], token[256];
    struct rpc_status st;
    ProtobufCMessage *resp = NULL;

    configure(f, 60);
    signed_in(f, "stale@example.com", id, token);
    Authd__V1__BeginRegistrationRequest req = AUTHD__V1__BEGIN_REGISTRATION_REQUEST__INIT;
    req.session_token = token;
    assert_int_equal(
        svc_call(f, ROLE_EDGE, "WebAuthn", "BeginRegistration", &req.base, &resp, NULL), AUTHD_OK);
    rpc_msg_free(resp);
    svc_fake_now += 60; /* the last second still fresh */
    assert_int_equal(
        svc_call(f, ROLE_EDGE, "WebAuthn", "BeginRegistration", &req.base, &resp, NULL), AUTHD_OK);
    rpc_msg_free(resp);
    svc_fake_now += 1;
    assert_int_equal(svc_call(f, ROLE_EDGE, "WebAuthn", "BeginRegistration", &req.base, &resp, &st),
                     AUTHD_ERR_FAILED_PRECONDITION);
    assert_non_null(strstr(st.message, "sign in again"));
}

static void
test_finish_needs_its_ceremony(void **state)
{
    struct svc_fx *f = *state;
    char id[64], token[256], other[256], id2[64];
    struct rpc_status st;
    ProtobufCMessage *resp = NULL;

    configure(f, 0);
    signed_in(f, "fin@example.com", id, token);
    signed_in(f, "fin2@example.com", id2, other);
    Authd__V1__BeginRegistrationRequest b = AUTHD__V1__BEGIN_REGISTRATION_REQUEST__INIT;
    b.session_token = token;
    assert_int_equal(svc_call(f, ROLE_EDGE, "WebAuthn", "BeginRegistration", &b.base, &resp, NULL),
                     AUTHD_OK);
    char cer[64];
    snprintf(cer, sizeof(cer), "%s", ((Authd__V1__CeremonyResponse *)resp)->ceremony_id);
    rpc_msg_free(resp);
    Authd__V1__FinishRegistrationRequest req = AUTHD__V1__FINISH_REGISTRATION_REQUEST__INIT;
    req.session_token = other; /* another user's session */
    req.ceremony_id = cer;
    req.credential_json = "{}";
    assert_int_equal(
        svc_call(f, ROLE_EDGE, "WebAuthn", "FinishRegistration", &req.base, &resp, &st),
        AUTHD_ERR_KEY_REFUSED);
    /* Its own session: the ceremony was not spent by the stranger; the malformed response is
     * refused as such, and spends it. */
    req.session_token = token;
    assert_int_equal(
        svc_call(f, ROLE_EDGE, "WebAuthn", "FinishRegistration", &req.base, &resp, &st),
        AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(
        svc_call(f, ROLE_EDGE, "WebAuthn", "FinishRegistration", &req.base, &resp, &st),
        AUTHD_ERR_KEY_REFUSED);
    /* Names are checked first. */
    req.name = "tab\there";
    assert_int_equal(
        svc_call(f, ROLE_EDGE, "WebAuthn", "FinishRegistration", &req.base, &resp, &st),
        AUTHD_ERR_INVALID_ARGUMENT);
}

static void
test_rename(void **state)
{
    struct svc_fx *f = *state;
    char id[64], token[256], kid[64], id2[64], token2[256];
    struct rpc_status st;
    ProtobufCMessage *resp = NULL;
    Authd__V1__WebAuthnCredentialList *l = NULL;

    configure(f, 0);
    signed_in(f, "ren@example.com", id, token);
    signed_in(f, "ren2@example.com", id2, token2);
    add_key(f, id, "key-r");
    api_id("key-r", kid);
    Authd__V1__RenameCredentialRequest req = AUTHD__V1__RENAME_CREDENTIAL_REQUEST__INIT;
    req.session_token = token;
    req.credential_id = kid;
    static const char *const good[] = {
        "Work laptop", "Clé USB", "🔑 YubiKey 5C",
        "0123456789012345678901234567890123456789012345678901234567890123", NULL};
    for (size_t i = 0; good[i] != NULL; i++) {
        req.name = (char *)good[i];
        assert_int_equal(
            svc_call(f, ROLE_EDGE, "WebAuthn", "RenameCredential", &req.base, &resp, NULL),
            AUTHD_OK);
        l = (void *)resp;
        assert_int_equal(l->n_credentials, 1);
        assert_string_equal(l->credentials[0]->name, good[i]);
        assert_string_equal(l->credentials[0]->id, kid);
        rpc_msg_free(resp);
    }
    static const char *const bad[] = {
        "",
        "   ",
        "line\nbreak",
        "del\x7f",
        "c1\xc2\x85",
        "\xe2\x80\xae"
        "evil",
        "\xc0\xaf",
        "\xed\xa0\x80",
        "01234567890123456789012345678901234567890123456789012345678901234",
        NULL};
    for (size_t i = 0; bad[i] != NULL; i++) {
        req.name = (char *)bad[i];
        assert_int_equal(
            svc_call(f, ROLE_EDGE, "WebAuthn", "RenameCredential", &req.base, &resp, &st),
            AUTHD_ERR_INVALID_ARGUMENT);
    }
    /* Another user's key is no key of this one. */
    req.name = "mine";
    req.session_token = token2;
    assert_int_equal(svc_call(f, ROLE_EDGE, "WebAuthn", "RenameCredential", &req.base, &resp, &st),
                     AUTHD_ERR_NOT_FOUND);
    assert_int_equal(list_keys(f, token, &l), AUTHD_OK);
    assert_string_equal(l->credentials[0]->name, good[3]);
    rpc_msg_free(&l->base);
}

/* Removing a key: a fresh sign-in is enough for any but the last factor; an old one needs a
 * second factor; the last one always does, and then two-factor is off. */
static void
test_remove_rules(void **state)
{
    struct svc_fx *f = *state;
    char id[64], token[256], secret[64], recovery[32], code[16];
    struct rpc_status st;
    Authd__V1__TwoFactorStatus tf;
    Authd__V1__WebAuthnCredentialList *l = NULL;
    char user[ACCOUNT_MAX_ID + 1];

    configure(f, 60);
    signed_in(f, "rm@example.com", id, token);
    svc_enrol_totp(f, token, secret, recovery);
    add_key(f, id, "rm-1");
    add_key(f, id, "rm-2");
    add_key(f, id, "rm-3");
    /* Fresh: no factor needed for a key that is not the last factor. */
    assert_int_equal(remove_key(f, token, "rm-1", NULL, NULL, NULL), AUTHD_OK);
    assert_int_equal(index_lookup(f, "rm-1", user), AUTHD_ERR_NOT_FOUND);
    assert_int_equal(list_keys(f, token, &l), AUTHD_OK);
    assert_int_equal(l->n_credentials, 2);
    rpc_msg_free(&l->base);
    /* Unknown: NOT_FOUND. */
    assert_int_equal(remove_key(f, token, "rm-1", NULL, NULL, &st), AUTHD_ERR_NOT_FOUND);
    /* 61 s later the sign-in is no longer fresh (reauthSeconds 60). */
    svc_fake_now += 61;
    assert_int_equal(remove_key(f, token, "rm-2", NULL, NULL, &st),
                     AUTHD_ERR_SECOND_FACTOR_REQUIRED);
    assert_int_equal(index_lookup(f, "rm-2", user), AUTHD_OK);
    assert_int_equal(remove_key(f, token, "rm-2", "000000", NULL, &st), AUTHD_ERR_WRONG_CODE);
    assert_int_equal(index_lookup(f, "rm-2", user), AUTHD_OK);
    svc_totp(secret, svc_fake_now, code);
    assert_int_equal(remove_key(f, token, "rm-2", code, NULL, NULL), AUTHD_OK);
    assert_int_equal(index_lookup(f, "rm-2", user), AUTHD_ERR_NOT_FOUND);
    /* A recovery code does too, once. */
    assert_int_equal(remove_key(f, token, "rm-3", NULL, recovery, NULL), AUTHD_OK);
    user_status(f, id, &tf);
    assert_true(tf.enabled);
    assert_true(tf.totp);
    assert_int_equal(tf.passkeys, 0);
    add_key(f, id, "rm-4");
    assert_int_equal(remove_key(f, token, "rm-4", NULL, recovery, NULL), AUTHD_ERR_WRONG_CODE);

    /* Keys only, one left: the last factor, never without a second factor, even fresh. */
    char id2[64], token2[256];
    signed_in(f, "last@example.com", id2, token2);
    add_key(f, id2, "last-1");
    assert_int_equal(remove_key(f, token2, "last-1", NULL, NULL, &st),
                     AUTHD_ERR_SECOND_FACTOR_REQUIRED);
    assert_non_null(strstr(st.message, "last"));
    user_status(f, id2, &tf);
    assert_true(tf.enabled);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_challenge_single_use, svc_fx_setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_begin_registration_needs_a_fresh_sign_in, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_challenge_binding, svc_fx_setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_challenge_expiry_and_sweep, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_index_unique, svc_fx_setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_status_fields, svc_fx_setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_status_of_older_records, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_keys_leave_with_user, svc_fx_setup, svc_fx_teardown),
        cmocka_unit_test(test_config_check),
        cmocka_unit_test_setup_teardown(test_config_defaults, svc_fx_setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_put_auth_config, svc_fx_setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_not_configured, svc_fx_setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_begin_registration_options, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_finish_needs_its_ceremony, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_rename, svc_fx_setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_remove_rules, svc_fx_setup, svc_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
