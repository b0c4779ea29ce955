/* SPDX-License-Identifier: Apache-2.0 */
/* User records and the e-mail index (see users.h). */
#include "authd/users.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "authd/keys.h"
#include "authd/records.h"
#include "authd/token.h"
#include "authd/webauthn_store.h"

int
account_user_get(struct authd *a, struct store_txn *txn, int for_update, const char *id,
                 Authd__Storage__UserRecord **out)
{
    char key[KEY_MAX];
    *out = NULL;
    if (id == NULL || key_make(key, KEY_USER, id, NULL) == 0)
        return AUTHD_ERR_NOT_FOUND;
    int r = rec_get(a->store, txn, for_update, key, &authd__storage__user_record__descriptor,
                    (ProtobufCMessage **)out);
    /* two_factor says what the record holds, whenever the record was written. */
    if (r == AUTHD_OK && (r = webauthn_status_fill(*out)) != AUTHD_OK) {
        rpc_msg_free(&(*out)->base);
        *out = NULL;
    }
    return r;
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

/* Inside txn: locks key and answers AUTHD_OK only when it holds nothing (so it can be taken). */
static int
claim_free(struct store_txn *txn, const char *key)
{
    void *val = NULL;
    size_t vlen = 0;
    int r = store_txn_get(txn, key, strlen(key), 1, &val, &vlen);
    if (r == AUTHD_OK) {
        store_value_free(val, vlen);
        return AUTHD_ERR_ALREADY_EXISTS;
    }
    return r == AUTHD_ERR_NOT_FOUND ? AUTHD_OK : r;
}

int
account_user_create(struct authd *a, struct store_txn *txn, Authd__Storage__UserRecord *rec)
{
    Authd__V1__User *u = rec->user;
    char ekey[KEY_MAX], ukey[KEY_MAX];
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
    r = claim_free(txn, ekey);
    if (r == AUTHD_OK)
        r = claim_free(txn, ukey);
    if (r != AUTHD_OK)
        return r;

    u->created_at = a->now();
    u->updated_at = u->created_at;
    r = rec_put(txn, ukey, &rec->base);
    if (r == AUTHD_OK)
        r = store_txn_put(txn, ekey, strlen(ekey), u->id, strlen(u->id));
    return r;
}

int
account_user_set_email(struct store_txn *txn, Authd__Storage__UserRecord *rec, const char *email)
{
    Authd__V1__User *u = rec->user;
    char newkey[KEY_MAX], oldkey[KEY_MAX];

    if (u == NULL || email == NULL || email[0] == '\0')
        return AUTHD_ERR_INVALID_ARGUMENT;
    if (u->email != NULL && strcmp(u->email, email) == 0)
        return AUTHD_OK;
    if (key_make(newkey, KEY_EMAIL, email, NULL) == 0 ||
        key_make(oldkey, KEY_EMAIL, u->email != NULL ? u->email : "", NULL) == 0)
        return AUTHD_ERR_INVALID_ARGUMENT;
    /* The new index row is locked as Create locks it: a concurrent signup of the address
     * serialises with this change, and one of the two finds it taken. */
    int r = claim_free(txn, newkey);
    if (r != AUTHD_OK)
        return r;
    char *dup = strdup(email);
    if (dup == NULL)
        return AUTHD_ERR_NOMEM;
    r = store_txn_put(txn, newkey, strlen(newkey), u->id, strlen(u->id));
    if (r == AUTHD_OK && u->email != NULL && u->email[0] != '\0')
        r = store_txn_delete(txn, oldkey, strlen(oldkey));
    if (r != AUTHD_OK) {
        free(dup);
        return r;
    }
    if (u->email != protobuf_c_empty_string)
        free(u->email);
    u->email = dup;
    u->email_verified = 0;
    return AUTHD_OK;
}

int
account_user_save(struct authd *a, struct store_txn *txn, Authd__Storage__UserRecord *rec)
{
    char key[KEY_MAX];
    if (rec->user == NULL || key_make(key, KEY_USER, rec->user->id, NULL) == 0)
        return AUTHD_ERR_INVALID_ARGUMENT;
    rec->user->updated_at = a->now();
    int r = webauthn_status_fill(rec);
    return r == AUTHD_OK ? rec_put(txn, key, &rec->base) : r;
}
