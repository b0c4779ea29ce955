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

#include "authd/account.h"
#include "authd/callers.h"
#include "authd/keys.h"
#include "authd/records.h"
#include "authd/sweeper.h"
#include "authd/v1/admin.pb-c.h"
#include "authd/v1/users.pb-c.h"
#include "authd/webauthn_store.h"
#include "common/err.h"
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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_challenge_single_use, svc_fx_setup, svc_fx_teardown),
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
