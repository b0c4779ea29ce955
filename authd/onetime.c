/* SPDX-License-Identifier: Apache-2.0 */
/* One-time e-mailed tokens and the checks before sending one (see onetime.h). */
#include "authd/onetime.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "authd/guard.h"
#include "authd/keys.h"
#include "authd/password.h"
#include "authd/records.h"
#include "authd/throttle.h"
#include "authd/users.h"

int
account_onetime_create(struct authd *a, const char *prefix, Authd__Storage__OneTimeRecord *rec,
                       int64_t ttl, struct token *tok)
{
    char key[KEY_MAX];
    struct store_batch *b = NULL;
    int r = token_new(tok);
    if (r != AUTHD_OK)
        return r;
    rec->secret_hash.data = tok->hash; /* borrowed for packing only */
    rec->secret_hash.len = sizeof(tok->hash);
    rec->created_at = a->now();
    rec->expires_at = rec->created_at + ttl;
    r = AUTHD_ERR_NOMEM;
    if (key_make(key, prefix, tok->id, NULL) == 0) {
        r = AUTHD_ERR_INTERNAL;
        goto out;
    }
    b = store_batch_new();
    if (b == NULL)
        goto out;
    r = rec_batch_put(b, key, &rec->base);
    if (r == AUTHD_OK)
        r = store_batch_commit(a->store, b);
out:
    store_batch_free(b);
    rec->secret_hash.data = NULL;
    rec->secret_hash.len = 0;
    if (r != AUTHD_OK)
        token_wipe(tok);
    return r;
}

int
account_onetime_check(struct authd *a, struct store_txn *txn, const char *prefix, const char *token,
                      Authd__Storage__OneTimeRecord **out, char *key_out)
{
    Authd__Storage__OneTimeRecord *rec = NULL;
    *out = NULL;
    int r = rec_get_by_token(a->store, txn, txn != NULL, prefix, token,
                             &authd__storage__one_time_record__descriptor,
                             (ProtobufCMessage **)&rec, key_out);
    if (r == AUTHD_ERR_NOT_FOUND)
        return AUTHD_ERR_INVALID_TOKEN;
    if (r != AUTHD_OK)
        return r;
    if (rec->expires_at <= a->now()) {
        rpc_msg_free(&rec->base);
        return AUTHD_ERR_INVALID_TOKEN;
    }
    *out = rec;
    return AUTHD_OK;
}

int
account_onetime_consume(struct authd *a, struct store_txn *txn, const char *prefix,
                        const char *token, Authd__Storage__OneTimeRecord **out)
{
    char key[KEY_MAX];
    int r = account_onetime_check(a, txn, prefix, token, out, key);
    if (r == AUTHD_OK)
        r = store_txn_delete(txn, key, strlen(key));
    if (r != AUTHD_OK && *out != NULL) {
        rpc_msg_free(&(*out)->base);
        *out = NULL;
    }
    return r;
}

int
account_onetime_start(struct rpc_ctx *ctx, struct authd *a, const char *email_in,
                      const Authd__V1__ClientContext *client, const char *ip,
                      char email[EMAIL_MAX_LEN + 1], char **resp_email,
                      Authd__Storage__UserRecord **user)
{
    *resp_email = NULL;
    *user = NULL;
    int r = email_normalize(email_in, email, EMAIL_MAX_LEN + 1);
    if (r != AUTHD_OK)
        return r;
    *resp_email = rpc_ctx_strdup(ctx, email);
    if (*resp_email == NULL)
        return AUTHD_ERR_NOMEM;
    r = account_client_check(ctx, client);
    if (r == AUTHD_OK)
        r = account_mail_gate(ctx, a, email, ip);
    if (r == AUTHD_OK)
        r = account_user_by_email(a, NULL, 0, email, user);
    if (r == AUTHD_ERR_NOT_FOUND) {
        /* A known address costs two reads (its index entry, then its user record): read a user
         * record of an id nobody has too, so the time does not tell the two apart. */
        char none[37];
        Authd__Storage__UserRecord *rec = NULL;
        r = token_uuid(none);
        if (r == AUTHD_OK)
            r = account_user_get(a, NULL, 0, none, &rec);
        rpc_msg_free(rec != NULL ? &rec->base : NULL);
        if (r == AUTHD_ERR_NOT_FOUND)
            r = AUTHD_OK;
    }
    return r;
}

int
account_onetime_decoy(struct authd *a, const char *prefix, Authd__Storage__OneTimeRecord *rec,
                      int64_t ttl)
{
    struct token tok;
    /* A real record under a fresh random id whose token is wiped unseen: nobody can present it,
     * and the sweeper deletes it when it expires like any other. */
    int r = account_onetime_create(a, prefix, rec, ttl, &tok);
    if (r == AUTHD_OK)
        token_wipe(&tok);
    return r;
}

int
account_onetime_issue(struct rpc_ctx *ctx, struct authd *a, const char *prefix,
                      Authd__Storage__OneTimeRecord *rec, int64_t ttl, char **token_out,
                      int64_t *expires_at, char id[TOKEN_ID_LEN + 1])
{
    struct token tok;
    *token_out = NULL;
    *expires_at = 0;
    id[0] = '\0';
    int r = account_onetime_create(a, prefix, rec, ttl, &tok);
    if (r != AUTHD_OK)
        return r;
    *token_out = rpc_ctx_strdup(ctx, tok.text);
    *expires_at = rec->expires_at;
    memcpy(id, tok.id, TOKEN_ID_LEN + 1);
    token_wipe(&tok);
    return *token_out != NULL ? AUTHD_OK : AUTHD_ERR_NOMEM;
}

int
account_onetime_view(struct rpc_ctx *ctx, struct authd *a, const char *prefix, const char *token,
                     Authd__Storage__OneTimeRecord **out, char **email,
                     Authd__V1__ClientContext **client, int64_t *expires_at)
{
    Authd__Storage__OneTimeRecord *rec = NULL;
    *email = NULL;
    *client = NULL;
    *expires_at = 0;
    int r = account_onetime_check(a, NULL, prefix, token, out, NULL);
    if (r != AUTHD_OK)
        return r;
    rec = *out;
    *email = rpc_ctx_strdup(ctx, rec->email);
    *client = rec->client != NULL ? rec_copy(ctx, &rec->client->base) : NULL;
    *expires_at = rec->expires_at;
    if (*email == NULL || (rec->client != NULL && *client == NULL)) {
        rpc_msg_free(&rec->base);
        *out = NULL;
        return AUTHD_ERR_NOMEM;
    }
    return AUTHD_OK;
}

int
account_onetime_prepare(struct authd *a, const char *prefix, const char *token,
                        const char *password, char **phc, char *user_id, size_t cap)
{
    Authd__Storage__OneTimeRecord *pre = NULL;
    *phc = NULL;
    if (user_id != NULL && cap > 0)
        user_id[0] = '\0';
    int r = account_onetime_check(a, NULL, prefix, token, &pre, NULL);
    if (r == AUTHD_OK && user_id != NULL && cap > 0)
        snprintf(user_id, cap, "%s", pre->user_id);
    rpc_msg_free(pre != NULL ? &pre->base : NULL);
    if (r != AUTHD_OK)
        return r;
    size_t pl = strlen(password);
    r = password_policy_check(password, pl);
    if (r == AUTHD_OK)
        r = password_hash(&a->set.argon2, password, pl, phc);
    return r;
}

int
account_client_check(struct rpc_ctx *ctx, const Authd__V1__ClientContext *c)
{
    if (c == NULL)
        return AUTHD_OK;
    const char *fields[] = {
        c->client_id, c->response_type,  c->redirect_uri,          c->state,     c->scope,
        c->nonce,     c->code_challenge, c->code_challenge_method, c->auth_after};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (fields[i] != NULL && strlen(fields[i]) > ACCOUNT_MAX_CLIENT_FIELD) {
            rpc_ctx_set_message(ctx, "client parameters too long");
            return AUTHD_ERR_INVALID_ARGUMENT;
        }
    }
    return AUTHD_OK;
}

int
account_mail_gate(struct rpc_ctx *ctx, struct authd *a, const char *email, const char *ip)
{
    int64_t wa = 0, wb = 0;
    int r = throttle_attempt(a, THROTTLE_MAIL, THROTTLE_ADDRESS, ip, &wb);
    if (r == AUTHD_OK)
        r = throttle_attempt(a, THROTTLE_MAIL, THROTTLE_ACCOUNT, email, &wa);
    if (r == AUTHD_ERR_LOCKED)
        guard_refuse(ctx, NULL, "too many e-mails requested", wa > wb ? wa : wb);
    return r;
}
