/* SPDX-License-Identifier: Apache-2.0 */
/*
 * authd.v1.PasswordReset: "forgot password". Start hands the edge a single-use token (1 h) for an
 * active account, or an empty token when there is none, and the edge shows the same page either
 * way; both cost the same reads and one synced write (reset_decoy), so the time does not tell
 * them apart either. Complete sets the new password, consumes the token and ends every session of
 * the user, all in one transaction.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd/account.h"
#include "authd/audit.h"
#include "common/email.h"
#include "common/err.h"
#include "authd/keys.h"
#include "authd/token.h"
#include "common/log.h"
#include "authd/password.h"
#include "authd/records.h"
#include "common/secret.h"
#include "authd/twofactor.h"
#include "authd/v1/signup.pb-c.h"
#include "authd/webauthn.h"
#include "authd/roles.h"

/* 1 when the reset token was issued for the user's current password (see bound_hash). */
static int
reset_still_current(const Authd__Storage__OneTimeRecord *rec,
                    const Authd__Storage__UserRecord *user)
{
    uint8_t h[32];
    secret_sha256(user->password_hash, strlen(user->password_hash), h);
    return rec->bound_hash.len == sizeof(h) && secret_eq(rec->bound_hash.data, h, sizeof(h));
}

/*
 * What a Start for an unknown or inactive address writes instead of a link, so that it costs the
 * same as one for an active account (one synced write of a record of the same size, one digest):
 * a reset record under a random id that no token opens (account_onetime_decoy), for a random
 * user id of a real id's length and a digest of random bytes in place of the password's.
 */
static int
reset_decoy(struct authd *a, char *email, Authd__V1__ClientContext *client)
{
    Authd__Storage__OneTimeRecord rec = AUTHD__STORAGE__ONE_TIME_RECORD__INIT;
    char user_id[37];
    uint8_t noise[32], bound[32];
    int r = token_uuid(user_id);
    if (r == AUTHD_OK)
        r = secret_random(noise, sizeof(noise));
    if (r != AUTHD_OK)
        return r;
    secret_sha256(noise, sizeof(noise), bound);
    secret_wipe(noise, sizeof(noise));
    rec.email = email;
    rec.user_id = user_id;
    rec.client = client;
    rec.bound_hash.data = bound;
    rec.bound_hash.len = sizeof(bound);
    return account_onetime_decoy(a, KEY_RESET, &rec, a->set.reset_ttl);
}

static int
reset_start(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__StartResetRequest *req = (const void *)reqm;
    Authd__V1__StartResetResponse *resp = (void *)respm;
    Authd__Storage__UserRecord *user = NULL;
    Authd__Storage__OneTimeRecord rec = AUTHD__STORAGE__ONE_TIME_RECORD__INIT;
    char email[EMAIL_MAX_LEN + 1], id[TOKEN_ID_LEN + 1];
    char q[96];

    int r = account_onetime_start(ctx, a, req->email, req->client, req->client_ip, email,
                                  &resp->email, &user);
    if (r != AUTHD_OK)
        return r;
    resp->expires_in = a->set.reset_ttl; /* the same answer whether or not there is an account */
    if (user == NULL || user->user == NULL || user->user->inactive) {
        rpc_msg_free(user ? &user->base : NULL);
        r = reset_decoy(a, email, req->client);
        if (r == AUTHD_OK)
            log_event(LOG_INFO, "reset_started", "account=0 peer=%s",
                      log_quote(req->client_ip, q, sizeof(q)));
        return r;
    }
    uint8_t bound[32];
    secret_sha256(user->password_hash, strlen(user->password_hash), bound);
    rec.email = email;
    rec.user_id = user->user->id;
    rec.client = req->client;
    rec.bound_hash.data = bound;
    rec.bound_hash.len = sizeof(bound);
    r = account_onetime_issue(ctx, a, KEY_RESET, &rec, a->set.reset_ttl, &resp->token,
                              &resp->expires_at, id);
    if (r == AUTHD_OK)
        log_event(LOG_INFO, "reset_started", "account=1 user=%s reset=%s",
                  log_quote(user->user->id, q, sizeof(q)), id);
    rpc_msg_free(&user->base);
    return r;
}

static int
reset_get(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__TokenRequest *req = (const void *)reqm;
    Authd__V1__GetResetResponse *resp = (void *)respm;
    Authd__Storage__OneTimeRecord *rec = NULL;
    int r = account_onetime_view(ctx, a, KEY_RESET, req->token, &rec, &resp->email, &resp->client,
                                 &resp->expires_at);
    if (r != AUTHD_OK)
        return r;
    /* A link whose account is gone, off, or whose password changed since is no link. */
    Authd__Storage__UserRecord *user = NULL;
    if (account_user_get(a, NULL, 0, rec->user_id, &user) != AUTHD_OK || user->user == NULL ||
        user->user->inactive || !reset_still_current(rec, user))
        r = AUTHD_ERR_INVALID_TOKEN;
    else if (user->user->two_factor != NULL && user->user->two_factor->enabled) {
        resp->second_factor_required = 1;
        resp->passkeys = user->n_webauthn > 0;
        resp->totp = user->totp != NULL;
        const char *t = user->user->two_factor->transport;
        if (t != NULL && t[0] != '\0') {
            resp->transport = rpc_ctx_strdup(ctx, t);
            if (resp->transport == NULL)
                r = AUTHD_ERR_NOMEM;
        }
    }
    rpc_msg_free(user ? &user->base : NULL);
    rpc_msg_free(&rec->base);
    return r;
}

int
twofactor_reset_link(const char *token, char *link)
{
    struct token tok;
    if (token_parse(token, &tok) != AUTHD_OK || key_make(link, KEY_RESET, tok.id, NULL) == 0)
        return AUTHD_ERR_INVALID_TOKEN;
    return AUTHD_OK;
}

int
twofactor_reset_user(struct authd *a, const char *token, Authd__Storage__UserRecord **out,
                     char *link)
{
    Authd__Storage__OneTimeRecord *rec = NULL;
    Authd__Storage__UserRecord *user = NULL;
    *out = NULL;
    int r = account_onetime_check(a, NULL, KEY_RESET, token, &rec, link);
    if (r != AUTHD_OK)
        return r;
    /* The same checks as Get: a link whose account is gone, off, or whose password changed since
     * is no link, and sends no code either. */
    r = account_user_get(a, NULL, 0, rec->user_id, &user);
    if (r == AUTHD_ERR_NOT_FOUND || (r == AUTHD_OK && (user->user == NULL || user->user->inactive ||
                                                       !reset_still_current(rec, user))))
        r = AUTHD_ERR_INVALID_TOKEN;
    if (r == AUTHD_OK)
        *out = user;
    else
        rpc_msg_free(user ? &user->base : NULL);
    rpc_msg_free(&rec->base);
    return r;
}

struct complete_step {
    const char *token;
    const char *password_hash;
    struct twofactor_proof proof;         /* the second factor, for users with 2FA */
    struct twofactor_judge judge;         /* out: the second-factor check */
    Authd__Storage__OneTimeRecord *reset; /* out */
    Authd__Storage__UserRecord *user;     /* out */
};

static int
complete_step(struct authd *a, struct store_txn *txn, void *arg)
{
    struct complete_step *c = arg;
    rpc_msg_free(c->reset ? &c->reset->base : NULL);
    rpc_msg_free(c->user ? &c->user->base : NULL);
    c->reset = NULL;
    c->user = NULL;
    int r = account_onetime_consume(a, txn, KEY_RESET, c->token, &c->reset);
    if (r != AUTHD_OK)
        return r;
    r = account_user_get(a, txn, 1, c->reset->user_id, &c->user);
    if (r == AUTHD_ERR_NOT_FOUND)
        return AUTHD_ERR_INVALID_TOKEN; /* the account was deleted since */
    if (r != AUTHD_OK)
        return r;
    if (c->user->user == NULL || c->user->user->inactive || !reset_still_current(c->reset, c->user))
        return AUTHD_ERR_INVALID_TOKEN;
    /* A reset does not turn 2FA off: with 2FA on, the e-mail alone is not enough. */
    if (c->user->user->two_factor != NULL && c->user->user->two_factor->enabled) {
        r = twofactor_check(a, txn, c->user, NULL, &c->proof, &c->judge);
        if (r != AUTHD_OK)
            return r;
    }
    char *dup = strdup(c->password_hash);
    if (dup == NULL)
        return AUTHD_ERR_NOMEM;
    secret_strfree(c->user->password_hash);
    c->user->password_hash = dup;
    r = account_user_save(a, txn, c->user);
    if (r == AUTHD_OK)
        r = account_sessions_end_all(a, txn, c->user->user->id, NULL);
    return r;
}

static int
reset_complete(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__CompleteResetRequest *req = (const void *)reqm;
    Authd__V1__CompleteResetResponse *resp = (void *)respm;
    struct complete_step c = {0};
    char *phc = NULL;
    char q[96];

    char pre_user[ACCOUNT_MAX_ID + 1] = "";
    int r = account_onetime_prepare(a, KEY_RESET, req->token, req->password, &phc, pre_user,
                                    sizeof(pre_user));
    if (r == AUTHD_ERR_WEAK_PASSWORD)
        rpc_ctx_set_message(ctx, password_policy_problem(r));
    if (r != AUTHD_OK)
        return r;
    char link[KEY_MAX];
    r = twofactor_reset_link(req->token, link);
    if (r != AUTHD_OK) {
        secret_strfree(phc);
        return r;
    }
    if (req->credential_json != NULL && strlen(req->credential_json) > WEBAUTHN_JSON_MAX) {
        secret_strfree(phc);
        rpc_ctx_set_message(ctx, "credential_json is too long");
        return AUTHD_ERR_TOO_LARGE;
    }
    c.token = req->token;
    c.password_hash = phc;
    c.proof = (struct twofactor_proof){.code = req->code,
                                       .recovery_code = req->recovery_code,
                                       .ceremony_id = req->ceremony_id,
                                       .credential_json = req->credential_json,
                                       .session_id = link,
                                       .purpose = TWOFACTOR_CEREMONY_RESET};
    const struct audit who = {.user = pre_user, .ip = req->client_ip, .reason = "reset"};
    r = twofactor_guarded(a, ctx, &who, NULL, complete_step, &c, &c.judge);
    if (r == AUTHD_OK) {
        resp->user = rec_copy(ctx, &c.user->user->base);
        resp->client = c.reset->client ? rec_copy(ctx, &c.reset->client->base) : NULL;
        resp->used_recovery_code = c.judge.used_recovery;
        if (resp->user == NULL)
            r = AUTHD_ERR_NOMEM;
        log_event(LOG_INFO, "password_reset", "user=%s sessions_ended=all second_factor=%s",
                  log_quote(c.user->user->id, q, sizeof(q)),
                  c.judge.used_recovery ? "recovery_code"
                  : c.judge.assertion   ? "webauthn"
                  : (c.user->user->two_factor && c.user->user->two_factor->enabled) ? "totp"
                                                                                    : "none");
        struct audit ev = {.action = AUDIT_TOKEN_REVOKED,
                           .outcome = AUDIT_SUCCESS,
                           .user = c.user->user->id,
                           .ip = req->client_ip,
                           .target = "sessions/all",
                           .reason = "password_reset"};
        audit_emit(ctx, &ev);
    }
    rpc_msg_free(c.reset ? &c.reset->base : NULL);
    rpc_msg_free(c.user ? &c.user->base : NULL);
    secret_strfree(phc);
    return r;
}

const struct rpc_method authd_reset_methods[] = {
    {"Start", reset_start, 0, ROLE_EDGE},
    {"Get", reset_get, RPC_INLINE, ROLE_EDGE},
    {"Complete", reset_complete, 0, ROLE_EDGE},
};
const size_t authd_reset_n_methods = sizeof(authd_reset_methods) / sizeof(authd_reset_methods[0]);
