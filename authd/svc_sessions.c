/* SPDX-License-Identifier: Apache-2.0 */
/*
 * authd.v1.Sessions: password login, session lookup, listing, revocation and password change.
 * Login costs one Argon2id verification whether or not the e-mail has an account, and answers
 * the same error for an unknown e-mail and a wrong password, so neither time nor answer tells
 * an attacker which accounts exist.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd/account.h"
#include "authd/audit.h"
#include "authd/bearer.h"
#include "authd/callers.h"
#include "common/err.h"
#include "authd/device.h"
#include "authd/keys.h"
#include "common/log.h"
#include "authd/password.h"
#include "authd/records.h"
#include "common/secret.h"
#include "authd/guard.h"
#include "authd/login.h"
#include "authd/twofactor.h"
#include "authd/v1/sessions.pb-c.h"
#include "authd/roles.h"

/* ---- Login ---------------------------------------------------------------------------------- */

struct login_step {
    const struct login *login;
    Authd__Storage__UserRecord *rec;        /* out */
    Authd__Storage__SessionRecord *session; /* out */
    const char *device_token;               /* a remembered browser's token, or "" */
    struct token tok;                       /* out */
    int second;                             /* out: 2FA on, a pending session */
    int remembered;                         /* out: 2FA on, skipped for a remembered browser */
};

/* Opens the session (a pending one when the user has 2FA on, unless the browser is remembered
 * for this user: device.h) in the transaction that re-checks what the password check saw
 * (login_recheck). Only a right password gets this far: the device never stands for it. */
static int
login_step(struct authd *a, struct store_txn *txn, void *arg)
{
    struct login_step *l = arg;
    static const char *const amr_pwd[] = {"pwd"};
    /* A remembered browser is a second thing the user has (as a recovery code is): "mfa". */
    static const char *const amr_dev[] = {"pwd", "mfa"};
    const struct session_spec pending = {0, TWOFACTOR_PENDING_TTL, amr_pwd, 1, 0};
    const struct session_spec remembered = {1, 0, amr_dev, 2, 0};
    rpc_msg_free(l->session ? &l->session->base : NULL);
    l->session = NULL;
    token_wipe(&l->tok);
    int r = login_recheck(a, txn, l->login, &l->rec);
    if (r != AUTHD_OK)
        return r;
    l->second = l->rec->user->two_factor != NULL && l->rec->user->two_factor->enabled;
    l->remembered = 0;
    if (l->second &&
        (r = device_check(a, txn, l->device_token, l->rec->user->id, &l->remembered)) != AUTHD_OK)
        return r;
    const struct session_spec *spec = !l->second      ? &account_session_pwd
                                      : l->remembered ? &remembered
                                                      : &pending;
    return account_session_create(a, txn, l->rec->user, l->login->ip, l->login->user_agent, spec,
                                  &l->tok, &l->session);
}

static int
sessions_login(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__LoginRequest *req = (const void *)reqm;
    Authd__V1__SessionResponse *resp = (void *)respm;
    struct login l = {.email = req->email,
                      .password = req->password,
                      .ip = req->client_ip,
                      .user_agent = req->user_agent};
    /* Remembered browsers count only while the AuthConfig allows them: turning
     * rememberBrowserDays off asks every browser for the second factor again. */
    struct login_step s = {.login = &l, .device_token = device_ttl(a) > 0 ? req->device_token : ""};

    int r = login_password(a, ctx, &l);
    if (r != AUTHD_OK)
        goto out;
    r = account_txn_run(a, login_step, &s);
    if (r != AUTHD_OK) {
        login_refused(ctx, &l, r);
        goto out;
    }
    r = login_answer(ctx, resp, s.session, s.rec->user, s.tok.text, NULL);
    resp->remembered = s.remembered;
    audit_login(ctx, AUDIT_SUCCESS, s.rec->user->id, NULL, req->client_ip,
                !s.second      ? "password"
                : s.remembered ? "remembered_browser"
                               : "second_factor_required",
                s.tok.id);
out:
    token_wipe(&s.tok);
    rpc_msg_free(s.session ? &s.session->base : NULL);
    rpc_msg_free(s.rec ? &s.rec->base : NULL);
    login_cleanup(&l);
    return r;
}

/* ---- Get / List / Revoke -------------------------------------------------------------------- */

static int
sessions_get(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__GetSessionRequest *req = (const void *)reqm;
    Authd__Storage__SessionRecord *s = NULL;
    Authd__Storage__UserRecord *u = NULL;
    /* With allow_pending, the edge's second-factor page asks about a pending session: the same
     * checks but the authenticated flag, which the answer carries. */
    int r =
        bearer_session(ctx, a, req->session_token, req->bearer_token, req->allow_pending, &s, &u);
    if (r == AUTHD_OK)
        r = login_answer(ctx, (void *)respm, s, u->user, NULL, NULL);
    rpc_msg_free(s ? &s->base : NULL);
    rpc_msg_free(u ? &u->base : NULL);
    return r;
}

/* ---- VerifySecondFactor --------------------------------------------------------------------- */

static int
sessions_verify_second_factor(struct rpc_ctx *ctx, const ProtobufCMessage *reqm,
                              ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__VerifySecondFactorRequest *req = (const void *)reqm;
    Authd__Storage__SessionRecord *pending = NULL;

    int r = account_session_check(a, req->session_token, &pending);
    if (r != AUTHD_OK)
        return r;
    if (pending->session->authenticated) {
        rpc_ctx_set_message(ctx, "this session needs no second factor");
        rpc_msg_free(&pending->base);
        return AUTHD_ERR_INVALID_ARGUMENT;
    }
    /* The step of login.c that WebAuthn.FinishAssertion shares: a code or a recovery code. */
    struct login_second l = {.pending = pending->session,
                             .user_id = pending->session->user_id,
                             .proof = {.code = req->code, .recovery_code = req->recovery_code},
                             .ip = req->client_ip,
                             .user_agent = req->user_agent,
                             .remember = req->remember_browser};
    r = login_second(a, ctx, &l);
    if (r == AUTHD_OK)
        r = login_answer(ctx, (void *)respm, l.session, l.rec->user, l.tok.text, l.device.text);
    login_second_cleanup(&l);
    rpc_msg_free(&pending->base);
    return r;
}

struct list_acc {
    struct authd *a;
    struct rpc_ctx *ctx;
    Authd__V1__ListSessionsResponse *resp;
    size_t cap;
    size_t prefix_len;
};

static int
on_session(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct list_acc *l = arg;
    (void)val;
    (void)vlen;
    char skey[KEY_MAX];
    size_t sl = klen - l->prefix_len;
    if (sl == 0 || sl >= ACCOUNT_MAX_ID || strlen(KEY_SESSION) + sl >= KEY_MAX)
        return 0;
    memcpy(skey, KEY_SESSION, strlen(KEY_SESSION));
    memcpy(skey + strlen(KEY_SESSION), (const char *)key + l->prefix_len, sl);
    skey[strlen(KEY_SESSION) + sl] = '\0';
    Authd__Storage__SessionRecord *s = NULL;
    int r = rec_get(l->a->store, NULL, 0, skey, &authd__storage__session_record__descriptor,
                    (ProtobufCMessage **)&s);
    if (r == AUTHD_ERR_NOT_FOUND)
        return 0;
    if (r != AUTHD_OK)
        return r;
    if (s->session != NULL && s->session->expires_at > l->a->now()) {
        if (l->resp->n_sessions == l->cap) {
            size_t ncap = l->cap ? l->cap * 2 : 16;
            Authd__V1__Session **n = rpc_ctx_alloc(l->ctx, ncap * sizeof(*n));
            if (n == NULL) {
                rpc_msg_free(&s->base);
                return AUTHD_ERR_NOMEM;
            }
            if (l->resp->n_sessions)
                memcpy(n, l->resp->sessions, l->resp->n_sessions * sizeof(*n));
            l->resp->sessions = n;
            l->cap = ncap;
        }
        Authd__V1__Session *c = rec_copy(l->ctx, &s->session->base);
        if (c == NULL) {
            rpc_msg_free(&s->base);
            return AUTHD_ERR_NOMEM;
        }
        l->resp->sessions[l->resp->n_sessions++] = c;
    }
    rpc_msg_free(&s->base);
    return 0;
}

static int
sessions_list(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__ListSessionsRequest *req = (const void *)reqm;
    char prefix[KEY_MAX];
    size_t pl = key_make(prefix, KEY_USESS, req->user_id, NULL);
    if (pl == 0 || pl + 1 >= KEY_MAX)
        return AUTHD_ERR_INVALID_ARGUMENT;
    prefix[pl++] = '/';
    prefix[pl] = '\0';
    struct list_acc l = {.a = a, .ctx = ctx, .resp = (void *)respm, .prefix_len = pl};
    return store_scan(a->store, prefix, pl, NULL, 0, on_session, &l);
}

/* Signing out everywhere: every session of the user (arg), its offline refresh tokens and its
 * remembered browsers (account_sessions_end_all). */
static int
end_all_step(struct authd *a, struct store_txn *txn, void *arg)
{
    return account_sessions_end_all(a, txn, arg, NULL);
}

static int
sessions_revoke(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__RevokeSessionRequest *req = (const void *)reqm;
    Authd__Storage__SessionRecord *s = NULL;
    int r;
    (void)respm;

    if (req->session_token[0] != '\0' || req->bearer_token[0] != '\0') {
        /* Logout: the session's token, or a single-page app's bearer (a session token or an
         * access token, which ends the session it was issued under and so every token of it).
         * A pending session (right password, second factor not given) may end itself, but not
         * sign out everywhere: that would let the password alone end the owner's sessions,
         * offline tokens and remembered browsers. */
        Authd__Storage__UserRecord *u = NULL;
        r = bearer_session(ctx, a, req->session_token, req->bearer_token, !req->everywhere, &s, &u);
        rpc_msg_free(u ? &u->base : NULL);
        if (r == AUTHD_ERR_UNAUTHENTICATED && req->everywhere)
            rpc_ctx_set_message(ctx, "signing out everywhere needs a signed-in session");
    } else {
        /* By id only for an administrator: session ids are no secret (every ID token's sid), so
         * the edge, which logs out with the session's token, may not end anyone's session. */
        if (req->session_id[0] != '\0' && !(rpc_ctx_grants(ctx) & ROLE_ADMIN)) {
            rpc_ctx_set_message(ctx, "revoking a session by id needs the admin role");
            struct audit ev = {.action = AUDIT_PERMISSION_DENIED,
                               .outcome = AUDIT_DENIED,
                               .target = rpc_ctx_printf(ctx, "session/%s", req->session_id),
                               .reason = "Sessions/Revoke"};
            audit_emit(ctx, &ev);
            return AUTHD_ERR_PERMISSION_DENIED;
        }
        char key[KEY_MAX];
        if (key_make(key, KEY_SESSION, req->session_id, NULL) == 0)
            return AUTHD_ERR_NOT_FOUND;
        r = rec_get(a->store, NULL, 0, key, &authd__storage__session_record__descriptor,
                    (ProtobufCMessage **)&s);
    }
    if (r == AUTHD_OK && s->session == NULL)
        r = AUTHD_ERR_INTERNAL;
    if (r == AUTHD_OK && req->everywhere) {
        if (req->session_id[0] != '\0') {
            rpc_ctx_set_message(ctx, "everywhere needs the session's token, not an id");
            r = AUTHD_ERR_INVALID_ARGUMENT;
        } else {
            r = account_txn_run(a, end_all_step, (void *)s->session->user_id);
        }
        if (r == AUTHD_OK) {
            struct audit ev = {.action = AUDIT_TOKEN_REVOKED,
                               .outcome = AUDIT_SUCCESS,
                               .user = s->session->user_id,
                               .target = "sessions/all",
                               .reason = "signed_out_everywhere"};
            audit_emit(ctx, &ev);
        }
        rpc_msg_free(&s->base);
        return r;
    }
    if (r == AUTHD_OK)
        r = account_session_delete(a, NULL, s->session->user_id, s->session->id);
    if (r == AUTHD_OK) {
        /* With the token, the session's holder logs out; by id, an administrator ends it. */
        struct audit ev = {.action = AUDIT_TOKEN_REVOKED,
                           .outcome = AUDIT_SUCCESS,
                           .user = s->session->user_id,
                           .target = rpc_ctx_printf(ctx, "session/%s", s->session->id),
                           .reason = req->session_id[0] == '\0' ? "logout" : "session_revoked"};
        audit_emit(ctx, &ev);
    }
    rpc_msg_free(s ? &s->base : NULL);
    return r;
}

/* ---- ChangePassword ------------------------------------------------------------------------- */

struct change_step {
    const char *user_id;
    const char *verified_hash; /* the hash the current password was checked against */
    const char *new_hash;
    const char *keep_sid;
};

static int
change_step(struct authd *a, struct store_txn *txn, void *arg)
{
    struct change_step *c = arg;
    Authd__Storage__UserRecord *rec = NULL;
    int r = account_user_get(a, txn, 1, c->user_id, &rec);
    if (r != AUTHD_OK)
        goto out;
    /* Someone changed the password between our check and this transaction: refuse rather than
     * overwrite a password the caller did not prove knowledge of. */
    if (strcmp(rec->password_hash, c->verified_hash) != 0) {
        r = AUTHD_ERR_INVALID_CREDENTIALS;
        goto out;
    }
    char *dup = strdup(c->new_hash);
    if (dup == NULL) {
        r = AUTHD_ERR_NOMEM;
        goto out;
    }
    secret_strfree(rec->password_hash);
    rec->password_hash = dup;
    r = account_user_save(a, txn, rec);
    if (r == AUTHD_OK)
        r = account_sessions_end_all(a, txn, c->user_id, c->keep_sid);
out:
    rpc_msg_free(rec ? &rec->base : NULL);
    return r;
}

static int
sessions_change_password(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__ChangePasswordRequest *req = (const void *)reqm;
    Authd__Storage__SessionRecord *s = NULL;
    Authd__Storage__UserRecord *u = NULL;
    char *phc = NULL;
    char q[96];
    (void)respm;

    int r = account_session_active(a, req->session_token, &s, &u);
    if (r != AUTHD_OK)
        goto out;
    /* The current password is a password guess like any login: same counters, same locks,
     * audited as a login (a stolen cookie must not become an unlimited, unseen password
     * oracle). */
    struct guard g = {.a = a,
                      .ctx = ctx,
                      .kind = THROTTLE_PASSWORD,
                      .account = u->user->email,
                      .refusal = "too many failed attempts",
                      .who = {.action = AUDIT_LOGIN, .user = u->user->id, .ip = req->client_ip}};
    r = guard_enter(&g);
    if (r == AUTHD_OK) {
        r = password_verify(u->password_hash, req->current_password, strlen(req->current_password),
                            &a->set.argon2, NULL);
        if (r == AUTHD_OK) {
            guard_pass(&g);
        } else {
            r = AUTHD_ERR_INVALID_CREDENTIALS;
            guard_fail(&g, "wrong_password");
        }
    }
    guard_leave(&g);
    if (r != AUTHD_OK)
        goto out;
    size_t nl = strlen(req->new_password);
    r = password_policy_check(req->new_password, nl);
    if (r != AUTHD_OK)
        rpc_ctx_set_message(ctx, password_policy_problem(r));
    if (r == AUTHD_OK)
        r = password_hash(&a->set.argon2, req->new_password, nl, &phc);
    if (r != AUTHD_OK)
        goto out;
    struct change_step c = {u->user->id, u->password_hash, phc, s->session->id};
    r = account_txn_run(a, change_step, &c);
    if (r == AUTHD_OK) {
        log_event(LOG_INFO, "password_changed", "user=%s", log_quote(u->user->id, q, sizeof(q)));
        /* Every other session of the user ended with the old password. */
        struct audit ev = {.action = AUDIT_TOKEN_REVOKED,
                           .outcome = AUDIT_SUCCESS,
                           .user = u->user->id,
                           .ip = req->client_ip,
                           .target = "sessions/other",
                           .reason = "password_changed"};
        audit_emit(ctx, &ev);
    }
out:
    secret_strfree(phc);
    rpc_msg_free(s ? &s->base : NULL);
    rpc_msg_free(u ? &u->base : NULL);
    return r;
}

const struct rpc_method authd_sessions_methods[] = {
    {"Login", sessions_login, 0, ROLE_EDGE},
    {"Get", sessions_get, RPC_INLINE, ROLE_EDGE | ROLE_SERVICE},
    {"List", sessions_list, 0, ROLE_ADMIN},
    {"Revoke", sessions_revoke, 0, ROLE_EDGE | ROLE_ADMIN},
    {"ChangePassword", sessions_change_password, 0, ROLE_EDGE},
    {"VerifySecondFactor", sessions_verify_second_factor, 0, ROLE_EDGE},
};
const size_t authd_sessions_n_methods =
    sizeof(authd_sessions_methods) / sizeof(authd_sessions_methods[0]);
