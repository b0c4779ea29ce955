/* SPDX-License-Identifier: Apache-2.0 */
/* Revoking refresh-token families (see rfamily.h). */
#include "authd/rfamily.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd/keys.h"
#include "authd/records.h"
#include "authd/token.h"
#include "common/err.h"
#include "storage/records.pb-c.h"

struct fam_del {
    struct store_txn *txn;
    size_t plen;
};

static int
on_family_member(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct fam_del *d = arg;
    char rkey[KEY_MAX];
    (void)val;
    (void)vlen;
    size_t il = klen - d->plen;
    if (il == 0 || il > TOKEN_ID_LEN)
        return 0;
    int n =
        snprintf(rkey, sizeof(rkey), "%s%.*s", KEY_REFRESH, (int)il, (const char *)key + d->plen);
    if (n <= 0 || (size_t)n >= sizeof(rkey))
        return 0;
    int r = store_txn_delete(d->txn, rkey, (size_t)n);
    if (r == AUTHD_OK)
        r = store_txn_delete(d->txn, key, klen);
    return r;
}

int
rfamily_delete(struct store_txn *txn, const char *fam)
{
    char hkey[KEY_MAX], prefix[KEY_MAX], ukey[KEY_MAX];
    void *val = NULL;
    size_t vlen = 0;
    if (key_make(hkey, KEY_RFAMILY, fam, NULL) == 0)
        return AUTHD_ERR_INTERNAL;
    size_t pl = key_make(prefix, KEY_RFAM, fam, NULL);
    if (pl == 0 || pl + 1 >= KEY_MAX)
        return AUTHD_ERR_INTERNAL;
    prefix[pl++] = '/';
    prefix[pl] = '\0';
    int r = store_txn_get(txn, hkey, strlen(hkey), 1, &val, &vlen);
    if (r != AUTHD_OK && r != AUTHD_ERR_NOT_FOUND)
        return r;
    ukey[0] = '\0';
    if (r == AUTHD_OK) {
        /* The user's index of offline families names it: that entry goes too. */
        Authd__Storage__RefreshFamilyRecord *f =
            authd__storage__refresh_family_record__unpack(NULL, vlen, val);
        if (f != NULL && f->user_id[0] != '\0' &&
            key_make(ukey, KEY_UOFF, f->user_id, fam, NULL) == 0)
            ukey[0] = '\0';
        if (f != NULL)
            authd__storage__refresh_family_record__free_unpacked(f, NULL);
    }
    store_value_free(val, vlen);
    r = store_txn_delete(txn, hkey, strlen(hkey));
    if (r == AUTHD_OK && ukey[0] != '\0')
        r = store_txn_delete(txn, ukey, strlen(ukey));
    if (r != AUTHD_OK)
        return r;
    struct fam_del d = {txn, pl};
    return store_txn_scan(txn, prefix, pl, on_family_member, &d);
}

int
rfamily_end_offline(struct store_txn *txn, const char *user_id)
{
    char prefix[KEY_MAX], ukey[KEY_MAX];
    size_t pl = key_make(prefix, KEY_UOFF, user_id, NULL);
    if (pl == 0 || pl + 1 >= KEY_MAX)
        return AUTHD_ERR_INVALID_ARGUMENT;
    prefix[pl++] = '/';
    prefix[pl] = '\0';
    struct rec_ids l = {.plen = pl};
    int r = store_txn_scan(txn, prefix, pl, rec_ids_add, &l);
    for (size_t i = 0; r == AUTHD_OK && i < l.n; i++) {
        r = rfamily_delete(txn, l.ids[i]);
        /* A family record already swept left its index entry to us. */
        if (r == AUTHD_OK && key_make(ukey, KEY_UOFF, user_id, l.ids[i], NULL) != 0)
            r = store_txn_delete(txn, ukey, strlen(ukey));
    }
    free(l.ids);
    return r;
}
