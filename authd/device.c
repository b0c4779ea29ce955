/* SPDX-License-Identifier: Apache-2.0 */
/* Remembered browsers: device records and their per-user index (see device.h). */
#include "authd/device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd/keys.h"
#include "authd/records.h"
#include "authd/session_store.h"
#include "common/err.h"
#include "storage/records.pb-c.h"

int64_t
device_ttl(struct authd *a)
{
    struct authd_cfg c;
    authd_cfg_get(a, &c);
    if (c.remember_days <= 0)
        return 0;
    return a->set.remember_ttl > 0 ? a->set.remember_ttl : c.remember_days * 86400;
}

void
device_label(const char *ua, char *out, size_t cap)
{
    /* Order matters: Edge and Opera also say "Chrome", Chrome also says "Safari", Android also
     * says "Linux". Only these coarse names are kept: no versions, nothing that tells one
     * user's browser from another's. */
    static const char *const browsers[][2] = {
        {"Edg/", "Edge"},          {"OPR/", "Opera"},     {"Firefox/", "Firefox"},
        {"Chromium/", "Chromium"}, {"Chrome/", "Chrome"}, {"Safari/", "Safari"},
    };
    static const char *const systems[][2] = {
        {"Android", "Android"}, {"iPhone", "iOS"},     {"iPad", "iPadOS"}, {"Windows", "Windows"},
        {"CrOS", "ChromeOS"},   {"Mac OS X", "macOS"}, {"Linux", "Linux"},
    };
    const char *b = NULL, *s = NULL;
    if (ua == NULL)
        ua = "";
    for (size_t i = 0; b == NULL && i < sizeof(browsers) / sizeof(browsers[0]); i++)
        if (strstr(ua, browsers[i][0]) != NULL)
            b = browsers[i][1];
    for (size_t i = 0; s == NULL && i < sizeof(systems) / sizeof(systems[0]); i++)
        if (strstr(ua, systems[i][0]) != NULL)
            s = systems[i][1];
    if (b != NULL && s != NULL)
        snprintf(out, cap, "%s on %s", b, s);
    else if (b != NULL || s != NULL)
        snprintf(out, cap, "%s", b != NULL ? b : s);
    else
        snprintf(out, cap, "%s", "Unknown browser");
}

int
device_remember(struct authd *a, struct store_txn *txn, const char *user_id, const char *user_agent,
                int64_t ttl, struct token *tok)
{
    Authd__Storage__DeviceRecord rec = AUTHD__STORAGE__DEVICE_RECORD__INIT;
    char dkey[KEY_MAX], ikey[KEY_MAX], label[DEVICE_LABEL_MAX];
    int r = token_new(tok);
    if (r != AUTHD_OK)
        return r;
    device_label(user_agent, label, sizeof(label));
    rec.secret_hash.data = tok->hash;
    rec.secret_hash.len = sizeof(tok->hash);
    rec.user_id = (char *)user_id;
    rec.label = label;
    rec.created_at = a->now();
    rec.expires_at = rec.created_at + ttl;
    if (key_make(dkey, KEY_DEVICE, tok->id, NULL) == 0 ||
        key_make(ikey, KEY_UDEV, user_id, tok->id, NULL) == 0)
        r = AUTHD_ERR_INVALID_ARGUMENT;
    if (r == AUTHD_OK)
        r = rec_put(txn, dkey, &rec.base);
    if (r == AUTHD_OK)
        r = store_txn_put(txn, ikey, strlen(ikey), "", 0);
    if (r != AUTHD_OK)
        token_wipe(tok);
    return r;
}

int
device_check(struct authd *a, struct store_txn *txn, const char *token, const char *user_id,
             int *ok)
{
    Authd__Storage__DeviceRecord *rec = NULL;
    char key[KEY_MAX];
    *ok = 0;
    if (token == NULL || token[0] == '\0')
        return AUTHD_OK;
    int r = rec_get_by_token(a->store, txn, 1, KEY_DEVICE, token,
                             &authd__storage__device_record__descriptor, (ProtobufCMessage **)&rec,
                             key);
    if (r == AUTHD_ERR_NOT_FOUND)
        return AUTHD_OK; /* malformed, unknown or not matching: as if there were none */
    if (r != AUTHD_OK)
        return r;
    /* Another user's browser stands for nothing here; ids are no secret (plain compare). A
     * record lives by the days in force now as well as those it was made with: an operator who
     * lowers rememberBrowserDays (or turns it off and on) ends the older records at once. */
    int64_t now = a->now();
    if (strcmp(rec->user_id, user_id) == 0 && rec->expires_at > now &&
        rec->created_at + device_ttl(a) > now) {
        rec->last_used_at = now;
        r = rec_put(txn, key, &rec->base);
        if (r == AUTHD_OK)
            *ok = 1;
    }
    rpc_msg_free(&rec->base);
    return r;
}

/* The udev/<user id>/ prefix into prefix (KEY_MAX bytes); its length, 0 when it cannot be. */
static size_t
index_prefix(char *prefix, const char *user_id)
{
    size_t pl = key_make(prefix, KEY_UDEV, user_id, NULL);
    if (pl == 0 || pl + 1 >= KEY_MAX)
        return 0;
    prefix[pl++] = '/';
    prefix[pl] = '\0';
    return pl;
}

int
device_forget_all(struct store_txn *txn, const char *user_id, size_t *n)
{
    char prefix[KEY_MAX], dkey[KEY_MAX], ikey[KEY_MAX];
    size_t pl = index_prefix(prefix, user_id);
    if (n != NULL)
        *n = 0;
    if (pl == 0)
        return AUTHD_ERR_INVALID_ARGUMENT;
    struct rec_ids l = {.plen = pl};
    int r = store_txn_scan(txn, prefix, pl, rec_ids_add, &l);
    for (size_t i = 0; r == AUTHD_OK && i < l.n; i++) {
        if (key_make(dkey, KEY_DEVICE, l.ids[i], NULL) == 0 ||
            key_make(ikey, KEY_UDEV, user_id, l.ids[i], NULL) == 0)
            continue;
        r = store_txn_delete(txn, dkey, strlen(dkey));
        if (r == AUTHD_OK)
            r = store_txn_delete(txn, ikey, strlen(ikey));
    }
    if (r == AUTHD_OK && n != NULL)
        *n = l.n;
    free(l.ids);
    return r;
}

int
device_forget(struct store_txn *txn, const char *device_id, const char *user_id, char *owner)
{
    Authd__Storage__DeviceRecord *rec = NULL;
    char dkey[KEY_MAX], ikey[KEY_MAX];
    if (device_id == NULL || device_id[0] == '\0' || strlen(device_id) > TOKEN_ID_LEN ||
        key_make(dkey, KEY_DEVICE, device_id, NULL) == 0)
        return AUTHD_ERR_NOT_FOUND;
    int r = rec_get(NULL, txn, 1, dkey, &authd__storage__device_record__descriptor,
                    (ProtobufCMessage **)&rec);
    if (r != AUTHD_OK)
        return r;
    if (user_id != NULL && strcmp(rec->user_id, user_id) != 0)
        r = AUTHD_ERR_NOT_FOUND; /* another user's: as if there were none */
    else if (key_make(ikey, KEY_UDEV, rec->user_id, device_id, NULL) == 0)
        r = AUTHD_ERR_INTERNAL;
    if (r == AUTHD_OK)
        r = store_txn_delete(txn, dkey, strlen(dkey));
    if (r == AUTHD_OK)
        r = store_txn_delete(txn, ikey, strlen(ikey));
    if (r == AUTHD_OK && owner != NULL)
        snprintf(owner, KEY_MAX, "%s", rec->user_id);
    rpc_msg_free(&rec->base);
    return r;
}

/* Newest first, then by id so the order is stable. */
static int
by_newest(const void *x, const void *y)
{
    const Authd__V1__Device *a = *(Authd__V1__Device *const *)x;
    const Authd__V1__Device *b = *(Authd__V1__Device *const *)y;
    if (a->created_at != b->created_at)
        return a->created_at > b->created_at ? -1 : 1;
    return strcmp(a->id, b->id);
}

int
device_list(struct authd *a, struct rpc_ctx *ctx, const char *user_id, Authd__V1__DeviceList *out)
{
    char prefix[KEY_MAX], dkey[KEY_MAX];
    size_t pl = index_prefix(prefix, user_id);
    if (pl == 0)
        return AUTHD_ERR_INVALID_ARGUMENT;
    struct rec_ids l = {.plen = pl};
    int r = store_scan(a->store, prefix, pl, NULL, 0, rec_ids_add, &l);
    out->devices = l.n > 0 ? rpc_ctx_alloc(ctx, l.n * sizeof(*out->devices)) : NULL;
    out->n_devices = 0;
    if (r == AUTHD_OK && l.n > 0 && out->devices == NULL)
        r = AUTHD_ERR_NOMEM;
    int64_t now = a->now();
    for (size_t i = 0; r == AUTHD_OK && i < l.n; i++) {
        Authd__Storage__DeviceRecord *rec = NULL;
        if (key_make(dkey, KEY_DEVICE, l.ids[i], NULL) == 0)
            continue;
        int g = rec_get(a->store, NULL, 0, dkey, &authd__storage__device_record__descriptor,
                        (ProtobufCMessage **)&rec);
        if (g == AUTHD_ERR_NOT_FOUND)
            continue; /* forgotten meanwhile */
        if (g != AUTHD_OK) {
            r = g;
            break;
        }
        if (rec->expires_at > now) {
            Authd__V1__Device *d = rpc_ctx_alloc(ctx, sizeof(*d));
            if (d == NULL) {
                r = AUTHD_ERR_NOMEM;
            } else {
                authd__v1__device__init(d);
                d->id = rpc_ctx_strdup(ctx, l.ids[i]);
                d->user_id = rpc_ctx_strdup(ctx, rec->user_id);
                d->label = rpc_ctx_strdup(ctx, rec->label);
                d->created_at = rec->created_at;
                d->expires_at = rec->expires_at;
                d->last_used_at = rec->last_used_at;
                if (d->id == NULL || d->user_id == NULL || d->label == NULL)
                    r = AUTHD_ERR_NOMEM;
                else
                    out->devices[out->n_devices++] = d;
            }
        }
        rpc_msg_free(&rec->base);
    }
    free(l.ids);
    if (r == AUTHD_OK && out->n_devices > 1)
        qsort(out->devices, out->n_devices, sizeof(*out->devices), by_newest);
    return r;
}

int
device_forget_step(struct authd *a, struct store_txn *txn, void *arg)
{
    struct device_forget_req *f = arg;
    (void)a;
    f->n = 0;
    f->owner[0] = '\0';
    if (f->device_id == NULL)
        return device_forget_all(txn, f->user_id, &f->n);
    int r = device_forget(txn, f->device_id, f->user_id, f->owner);
    f->n = r == AUTHD_OK ? 1 : 0;
    return r;
}
