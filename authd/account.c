/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared account operations (see account.h). These are the only functions that know how a user,
 * its e-mail index and its sessions are laid out in the key space (keys.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd/account.h"
#include "common/err.h"
#include "authd/keys.h"
#include "common/log.h"
#include "authd/records.h"
#include "common/secret.h"
#include "authd/throttle.h"

#define TXN_ATTEMPTS 5

int
account_txn_run(struct authd *a, int (*step)(struct authd *, struct store_txn *, void *), void *arg)
{
    int r = AUTHD_ERR_CONFLICT;
    for (int attempt = 0; attempt < TXN_ATTEMPTS && r == AUTHD_ERR_CONFLICT; attempt++) {
        struct store_txn *txn = NULL;
        r = store_txn_begin(a->store, &txn);
        if (r != AUTHD_OK)
            return r;
        r = step(a, txn, arg);
        if (r == AUTHD_OK)
            r = store_txn_commit(txn);
        store_txn_free(txn);
    }
    return r;
}

int
account_user_get(struct authd *a, struct store_txn *txn, int for_update, const char *id,
                 Authd__Storage__UserRecord **out)
{
    char key[KEY_MAX];
    *out = NULL;
    if (id == NULL || key_make(key, KEY_USER, id, NULL) == 0)
        return AUTHD_ERR_NOT_FOUND;
    return rec_get(a->store, txn, for_update, key, &authd__storage__user_record__descriptor,
                   (ProtobufCMessage **)out);
}

int
account_user_by_email(struct authd *a, struct store_txn *txn, int for_update, const char *email,
                      Authd__Storage__UserRecord **out)
{
    char key[KEY_MAX];
    void *val = NULL;
    size_t vlen = 0;
    int r;

    *out = NULL;
    if (email == NULL || key_make(key, KEY_EMAIL, email, NULL) == 0)
        return AUTHD_ERR_NOT_FOUND;
    if (txn != NULL)
        r = store_txn_get(txn, key, strlen(key), for_update, &val, &vlen);
    else
        r = store_get(a->store, key, strlen(key), &val, &vlen);
    if (r != AUTHD_OK)
        return r;
    char id[ACCOUNT_MAX_ID + 1];
    if (vlen == 0 || vlen > ACCOUNT_MAX_ID) {
        store_value_free(val, vlen);
        return AUTHD_ERR_INTERNAL;
    }
    memcpy(id, val, vlen);
    id[vlen] = '\0';
    store_value_free(val, vlen);
    return account_user_get(a, txn, 0, id, out);
}

int
account_user_create(struct authd *a, struct store_txn *txn, Authd__Storage__UserRecord *rec)
{
    Authd__V1__User *u = rec->user;
    char ekey[KEY_MAX], ukey[KEY_MAX];
    void *val = NULL;
    size_t vlen = 0;
    int r;

    if (u == NULL || u->email == NULL || u->email[0] == '\0')
        return AUTHD_ERR_INVALID_ARGUMENT;
    if (u->id == NULL || u->id[0] == '\0') {
        char uuid[37];
        if (token_uuid(uuid) != AUTHD_OK)
            return AUTHD_ERR_INTERNAL;
        char *id = strdup(uuid);
        if (id == NULL)
            return AUTHD_ERR_NOMEM;
        if (u->id != protobuf_c_empty_string)
            free(u->id);
        u->id = id;
    }
    if (key_make(ekey, KEY_EMAIL, u->email, NULL) == 0 ||
        key_make(ukey, KEY_USER, u->id, NULL) == 0)
        return AUTHD_ERR_INVALID_ARGUMENT;

    /* Locking the index row makes two concurrent signups of one e-mail serialise here: the
     * second one waits for the first to commit, then sees the row and gives up. */
    r = store_txn_get(txn, ekey, strlen(ekey), 1, &val, &vlen);
    if (r == AUTHD_OK) {
        store_value_free(val, vlen);
        return AUTHD_ERR_ALREADY_EXISTS;
    }
    if (r != AUTHD_ERR_NOT_FOUND)
        return r;
    r = store_txn_get(txn, ukey, strlen(ukey), 1, &val, &vlen);
    if (r == AUTHD_OK) {
        store_value_free(val, vlen);
        return AUTHD_ERR_ALREADY_EXISTS;
    }
    if (r != AUTHD_ERR_NOT_FOUND)
        return r;

    u->created_at = a->now();
    u->updated_at = u->created_at;
    r = rec_put(txn, ukey, &rec->base);
    if (r == AUTHD_OK)
        r = store_txn_put(txn, ekey, strlen(ekey), u->id, strlen(u->id));
    return r;
}

int
account_user_save(struct authd *a, struct store_txn *txn, Authd__Storage__UserRecord *rec)
{
    char key[KEY_MAX];
    if (rec->user == NULL || key_make(key, KEY_USER, rec->user->id, NULL) == 0)
        return AUTHD_ERR_INVALID_ARGUMENT;
    rec->user->updated_at = a->now();
    return rec_put(txn, key, &rec->base);
}

struct end_all {
    struct store_txn *txn;
    size_t prefix_len;
    const char *keep_sid;
    int err;
};

static int
on_user_session(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct end_all *e = arg;
    (void)val;
    (void)vlen;
    const char *sid = (const char *)key + e->prefix_len;
    size_t sl = klen - e->prefix_len;
    char skey[KEY_MAX];
    if (sl == 0 || sl >= ACCOUNT_MAX_ID)
        return 0;
    if (e->keep_sid != NULL && strlen(e->keep_sid) == sl && memcmp(e->keep_sid, sid, sl) == 0)
        return 0;
    int n = snprintf(skey, sizeof(skey), "%s%.*s", KEY_SESSION, (int)sl, sid);
    if (n <= 0 || (size_t)n >= sizeof(skey))
        return 0;
    int r = store_txn_delete(e->txn, skey, (size_t)n);
    if (r == AUTHD_OK)
        r = store_txn_delete(e->txn, key, klen);
    return r;
}

int
account_sessions_end_all(struct authd *a, struct store_txn *txn, const char *user_id,
                         const char *keep_sid)
{
    (void)a;
    char prefix[KEY_MAX];
    size_t pl = key_make(prefix, KEY_USESS, user_id, NULL);
    if (pl == 0 || pl + 1 >= KEY_MAX)
        return AUTHD_ERR_INVALID_ARGUMENT;
    prefix[pl++] = '/';
    prefix[pl] = '\0';
    struct end_all e = {.txn = txn, .prefix_len = pl, .keep_sid = keep_sid, .err = 0};
    return store_txn_scan(txn, prefix, pl, on_user_session, &e);
}

char *
account_bounded_strdup(const char *s, size_t max)
{
    if (s == NULL)
        s = "";
    size_t n = strnlen(s, max + 1);
    if (n > max) {
        n = max;
        /* Do not cut a UTF-8 sequence in half. */
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    char *d = malloc(n + 1);
    if (d == NULL)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static const char *const amr_pwd[] = {"pwd"};
const struct session_spec account_session_pwd = {1, 0, amr_pwd, 1, 0};

int
account_session_create(struct authd *a, struct store_txn *txn, const Authd__V1__User *user,
                       const char *client_ip, const char *user_agent,
                       const struct session_spec *spec, struct token *tok,
                       Authd__Storage__SessionRecord **out)
{
    Authd__Storage__SessionRecord *rec = NULL;
    Authd__V1__Session *s = NULL;
    struct store_batch *b = NULL;
    char skey[KEY_MAX], ikey[KEY_MAX];
    int r = AUTHD_ERR_NOMEM;

    if (out != NULL)
        *out = NULL;
    r = token_new(tok);
    if (r != AUTHD_OK)
        return r;
    r = AUTHD_ERR_NOMEM;
    rec = malloc(sizeof(*rec));
    s = malloc(sizeof(*s));
    if (rec == NULL || s == NULL) {
        free(rec);
        free(s);
        goto out_nofree;
    }
    authd__storage__session_record__init(rec);
    authd__v1__session__init(s);
    rec->session = s;
    s->id = strdup(tok->id);
    s->user_id = strdup(user->id);
    s->client_ip = account_bounded_strdup(client_ip, ACCOUNT_MAX_IP);
    s->user_agent = account_bounded_strdup(user_agent, ACCOUNT_MAX_UA);
    s->amr = calloc(spec->n_amr > 0 ? spec->n_amr : 1, sizeof(char *));
    for (size_t i = 0; s->amr != NULL && i < spec->n_amr; i++) {
        s->amr[i] = strdup(spec->amr[i]);
        if (s->amr[i] == NULL)
            break;
        s->n_amr++;
    }
    rec->secret_hash.data = malloc(sizeof(tok->hash));
    if (s->id == NULL || s->user_id == NULL || s->client_ip == NULL || s->user_agent == NULL ||
        s->amr == NULL || s->n_amr != spec->n_amr || rec->secret_hash.data == NULL)
        goto out;
    memcpy(rec->secret_hash.data, tok->hash, sizeof(tok->hash));
    rec->secret_hash.len = sizeof(tok->hash);
    s->created_at = a->now();
    s->auth_time = spec->auth_time > 0 ? spec->auth_time : s->created_at;
    s->expires_at = s->created_at + (spec->ttl > 0 ? spec->ttl : authd_session_ttl(a));
    s->authenticated = spec->authenticated ? 1 : 0;

    if (key_make(skey, KEY_SESSION, s->id, NULL) == 0 ||
        key_make(ikey, KEY_USESS, s->user_id, s->id, NULL) == 0) {
        r = AUTHD_ERR_INVALID_ARGUMENT;
        goto out;
    }
    if (txn != NULL) {
        r = rec_put(txn, skey, &rec->base);
        if (r == AUTHD_OK)
            r = store_txn_put(txn, ikey, strlen(ikey), "", 0);
    } else {
        b = store_batch_new();
        if (b == NULL)
            goto out;
        r = rec_batch_put(b, skey, &rec->base);
        if (r == AUTHD_OK)
            r = store_batch_put(b, ikey, strlen(ikey), "", 0);
        if (r == AUTHD_OK)
            r = store_batch_commit(a->store, b);
    }
out:
    store_batch_free(b);
    if (r == AUTHD_OK && out != NULL) {
        *out = rec;
        rec = NULL;
    }
    rpc_msg_free(rec ? &rec->base : NULL);
out_nofree:
    if (r != AUTHD_OK)
        token_wipe(tok);
    return r;
}

int
account_session_check(struct authd *a, const char *token, Authd__Storage__SessionRecord **out)
{
    struct token tok;
    char key[KEY_MAX];
    Authd__Storage__SessionRecord *rec = NULL;
    int r;

    *out = NULL;
    if (token_parse(token, &tok) != AUTHD_OK)
        return AUTHD_ERR_UNAUTHENTICATED;
    if (key_make(key, KEY_SESSION, tok.id, NULL) == 0) {
        r = AUTHD_ERR_UNAUTHENTICATED;
        goto out;
    }
    r = rec_get(a->store, NULL, 0, key, &authd__storage__session_record__descriptor,
                (ProtobufCMessage **)&rec);
    if (r == AUTHD_ERR_NOT_FOUND) {
        r = AUTHD_ERR_UNAUTHENTICATED;
        goto out;
    }
    if (r != AUTHD_OK)
        goto out;
    if (rec->session == NULL || !token_matches(&tok, rec->secret_hash.data, rec->secret_hash.len) ||
        rec->session->expires_at <= a->now()) {
        r = AUTHD_ERR_UNAUTHENTICATED;
        goto out;
    }
    *out = rec;
    rec = NULL;
out:
    rpc_msg_free(rec ? &rec->base : NULL);
    token_wipe(&tok);
    return r;
}

int
account_session_delete(struct authd *a, struct store_txn *txn, const char *user_id, const char *sid)
{
    char skey[KEY_MAX], ikey[KEY_MAX];
    if (key_make(skey, KEY_SESSION, sid, NULL) == 0 ||
        key_make(ikey, KEY_USESS, user_id, sid, NULL) == 0)
        return AUTHD_ERR_INVALID_ARGUMENT;
    if (txn != NULL) {
        int r = store_txn_delete(txn, skey, strlen(skey));
        return r == AUTHD_OK ? store_txn_delete(txn, ikey, strlen(ikey)) : r;
    }
    struct store_batch *b = store_batch_new();
    if (b == NULL)
        return AUTHD_ERR_NOMEM;
    int r = store_batch_delete(b, skey, strlen(skey));
    if (r == AUTHD_OK)
        r = store_batch_delete(b, ikey, strlen(ikey));
    if (r == AUTHD_OK)
        r = store_batch_commit(a->store, b);
    store_batch_free(b);
    return r;
}

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
    struct token tok;
    char key[KEY_MAX];
    Authd__Storage__OneTimeRecord *rec = NULL;
    int r;

    *out = NULL;
    if (token_parse(token, &tok) != AUTHD_OK)
        return AUTHD_ERR_INVALID_TOKEN;
    if (key_make(key, prefix, tok.id, NULL) == 0) {
        r = AUTHD_ERR_INVALID_TOKEN;
        goto out;
    }
    r = rec_get(a->store, txn, txn != NULL, key, &authd__storage__one_time_record__descriptor,
                (ProtobufCMessage **)&rec);
    if (r == AUTHD_ERR_NOT_FOUND) {
        r = AUTHD_ERR_INVALID_TOKEN;
        goto out;
    }
    if (r != AUTHD_OK)
        goto out;
    if (!token_matches(&tok, rec->secret_hash.data, rec->secret_hash.len) ||
        rec->expires_at <= a->now()) {
        r = AUTHD_ERR_INVALID_TOKEN;
        goto out;
    }
    if (key_out != NULL)
        memcpy(key_out, key, strlen(key) + 1);
    *out = rec;
    rec = NULL;
out:
    rpc_msg_free(rec ? &rec->base : NULL);
    token_wipe(&tok);
    return r;
}

int
account_session_active(struct authd *a, const char *token, Authd__Storage__SessionRecord **s,
                       Authd__Storage__UserRecord **u)
{
    *u = NULL;
    int r = account_session_check(a, token, s);
    if (r != AUTHD_OK)
        return r;
    r = account_user_get(a, NULL, 0, (*s)->session->user_id, u);
    if (r == AUTHD_OK && ((*u)->user == NULL || (*u)->user->inactive))
        r = AUTHD_ERR_UNAUTHENTICATED;
    else if (r == AUTHD_ERR_NOT_FOUND)
        r = AUTHD_ERR_UNAUTHENTICATED;
    if (r == AUTHD_OK && !(*s)->session->authenticated)
        r = AUTHD_ERR_UNAUTHENTICATED;
    if (r != AUTHD_OK) {
        rpc_msg_free(&(*s)->base);
        rpc_msg_free(*u ? &(*u)->base : NULL);
        *s = NULL;
        *u = NULL;
    }
    return r;
}

int
account_client_check(struct rpc_ctx *ctx, const Authd__V1__ClientContext *c)
{
    if (c == NULL)
        return AUTHD_OK;
    const char *fields[] = {
        c->client_id, c->response_type, c->redirect_uri,   c->state,
        c->scope,     c->nonce,         c->code_challenge, c->code_challenge_method};
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
    if (r == AUTHD_ERR_LOCKED) {
        char msg[64];
        snprintf(msg, sizeof(msg), "too many e-mails requested; retry after %lld s",
                 (long long)(wa > wb ? wa : wb));
        rpc_ctx_set_message(ctx, msg);
        rpc_ctx_set_retry_after(ctx, wa > wb ? wa : wb);
    }
    return r;
}
