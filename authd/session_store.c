/* SPDX-License-Identifier: Apache-2.0 */
/* Stored sessions and their per-user index (see session_store.h). */
#include "authd/session_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "authd/device.h"
#include "authd/keys.h"
#include "authd/records.h"
#include "authd/rfamily.h"
#include "authd/users.h"

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
    s->auth_time = spec->auth_time > 0                            ? spec->auth_time
                   : spec->auth_time == SESSION_AUTH_TIME_UNKNOWN ? 0
                                                                  : s->created_at;
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

/* A loaded session record that is there and not expired: AUTHD_OK, else it is freed and
 * AUTHD_ERR_UNAUTHENTICATED. */
static int
session_live(struct authd *a, Authd__Storage__SessionRecord **rec)
{
    if ((*rec)->session != NULL && (*rec)->session->expires_at > a->now())
        return AUTHD_OK;
    rpc_msg_free(&(*rec)->base);
    *rec = NULL;
    return AUTHD_ERR_UNAUTHENTICATED;
}

int
account_session_check(struct authd *a, const char *token, Authd__Storage__SessionRecord **out)
{
    Authd__Storage__SessionRecord *rec = NULL;
    *out = NULL;
    int r = rec_get_by_token(a->store, NULL, 0, KEY_SESSION, token,
                             &authd__storage__session_record__descriptor, (ProtobufCMessage **)&rec,
                             NULL);
    if (r == AUTHD_ERR_NOT_FOUND)
        return AUTHD_ERR_UNAUTHENTICATED;
    if (r == AUTHD_OK && (r = session_live(a, &rec)) == AUTHD_OK)
        *out = rec;
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
account_session_by_id(struct authd *a, const char *sid, Authd__Storage__SessionRecord **out)
{
    char key[KEY_MAX];
    *out = NULL;
    if (sid == NULL || sid[0] == '\0' || strlen(sid) >= ACCOUNT_MAX_ID ||
        key_make(key, KEY_SESSION, sid, NULL) == 0)
        return AUTHD_ERR_UNAUTHENTICATED;
    int r = rec_get(a->store, NULL, 0, key, &authd__storage__session_record__descriptor,
                    (ProtobufCMessage **)out);
    if (r == AUTHD_ERR_NOT_FOUND)
        return AUTHD_ERR_UNAUTHENTICATED;
    return r == AUTHD_OK ? session_live(a, out) : r;
}

int
account_session_user(struct authd *a, Authd__Storage__SessionRecord **s, int allow_pending,
                     Authd__Storage__UserRecord **u)
{
    *u = NULL;
    int r = account_user_get(a, NULL, 0, (*s)->session->user_id, u);
    if (r == AUTHD_OK && ((*u)->user == NULL || (*u)->user->inactive))
        r = AUTHD_ERR_UNAUTHENTICATED;
    else if (r == AUTHD_ERR_NOT_FOUND)
        r = AUTHD_ERR_UNAUTHENTICATED;
    if (r == AUTHD_OK && !allow_pending && !(*s)->session->authenticated)
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
account_session_active(struct authd *a, const char *token, Authd__Storage__SessionRecord **s,
                       Authd__Storage__UserRecord **u)
{
    *u = NULL;
    int r = account_session_check(a, token, s);
    return r == AUTHD_OK ? account_session_user(a, s, 0, u) : r;
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
    int r = store_txn_scan(txn, prefix, pl, on_user_session, &e);
    /* Offline refresh tokens outlive any one session, not the events that end them all; nor
     * do remembered browsers (device.h). */
    if (r == AUTHD_OK)
        r = rfamily_end_offline(txn, user_id);
    return r == AUTHD_OK ? device_forget_all(txn, user_id, NULL) : r;
}
