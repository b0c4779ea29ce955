/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Record packing. A deep copy into the call arena is a pack followed by an unpack whose allocator
 * is the arena: one generic path for every message type instead of a copier per message.
 */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "authd/keys.h"
#include "authd/records.h"
#include "common/secret.h"
#include "authd/token.h"

int
rec_get(struct store *s, struct store_txn *txn, int for_update, const char *key,
        const ProtobufCMessageDescriptor *d, ProtobufCMessage **out)
{
    void *val = NULL;
    size_t vlen = 0;
    int r;

    *out = NULL;
    if (txn != NULL)
        r = store_txn_get(txn, key, strlen(key), for_update, &val, &vlen);
    else
        r = store_get(s, key, strlen(key), &val, &vlen);
    if (r != AUTHD_OK)
        return r;
    *out = protobuf_c_message_unpack(d, NULL, vlen, val);
    store_value_free(val, vlen);
    return *out != NULL ? AUTHD_OK : AUTHD_ERR_INTERNAL;
}

int
rec_get_by_token(struct store *s, struct store_txn *txn, int for_update, const char *prefix,
                 const char *token, const ProtobufCMessageDescriptor *d, ProtobufCMessage **out,
                 char *key_out)
{
    struct token tok;
    char key[KEY_MAX];
    ProtobufCMessage *m = NULL;
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(d, "secret_hash");
    int r = AUTHD_ERR_NOT_FOUND;

    *out = NULL;
    if (f == NULL || f->type != PROTOBUF_C_TYPE_BYTES || f->label == PROTOBUF_C_LABEL_REPEATED)
        return AUTHD_ERR_INTERNAL;
    if (token_parse(token, &tok) != AUTHD_OK)
        return AUTHD_ERR_NOT_FOUND;
    if (key_make(key, prefix, tok.id, NULL) == 0)
        goto out;
    r = rec_get(s, txn, for_update, key, d, &m);
    if (r != AUTHD_OK)
        goto out;
    const ProtobufCBinaryData *h = (const void *)((const char *)m + f->offset);
    if (!token_matches(&tok, h->data, h->len)) {
        r = AUTHD_ERR_NOT_FOUND;
        goto out;
    }
    if (key_out != NULL)
        memcpy(key_out, key, strlen(key) + 1);
    *out = m;
    m = NULL;
out:
    rpc_msg_free(m);
    token_wipe(&tok);
    return r;
}

/* Packs m into a malloc'd buffer; *len gets its size. NULL on NOMEM. */
static uint8_t *
rec_pack(const ProtobufCMessage *m, size_t *len)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *p = malloc(n > 0 ? n : 1);
    if (p == NULL)
        return NULL;
    *len = protobuf_c_message_pack(m, p);
    return p;
}

/* Packs m and writes it at key through txn, or into b when txn is NULL; the packed copy (it
 * may hold hashes) is wiped. */
static int
rec_write(struct store_txn *txn, struct store_batch *b, const char *key, const ProtobufCMessage *m)
{
    size_t len = 0;
    uint8_t *p = rec_pack(m, &len);
    if (p == NULL)
        return AUTHD_ERR_NOMEM;
    int r = txn != NULL ? store_txn_put(txn, key, strlen(key), p, len)
                        : store_batch_put(b, key, strlen(key), p, len);
    secret_freezero(p, len);
    return r;
}

int
rec_put(struct store_txn *txn, const char *key, const ProtobufCMessage *m)
{
    return rec_write(txn, NULL, key, m);
}

int
rec_batch_put(struct store_batch *b, const char *key, const ProtobufCMessage *m)
{
    return rec_write(NULL, b, key, m);
}

static void *
arena_alloc(void *data, size_t size)
{
    return rpc_ctx_alloc(data, size);
}

static void
arena_free(void *data, void *p)
{
    /* Arena memory is released (and wiped) with the call. */
    (void)data;
    (void)p;
}

void *
rec_copy(struct rpc_ctx *ctx, const ProtobufCMessage *src)
{
    if (src == NULL)
        return NULL;
    size_t len = 0;
    uint8_t *p = rec_pack(src, &len);
    if (p == NULL)
        return NULL;
    ProtobufCAllocator arena = {.alloc = arena_alloc, .free = arena_free, .allocator_data = ctx};
    void *copy = protobuf_c_message_unpack(src->descriptor, &arena, len, p);
    secret_freezero(p, len);
    return copy;
}

int
rec_ids_add(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct rec_ids *l = arg;
    (void)val;
    (void)vlen;
    size_t il = klen - l->plen;
    if (il == 0 || il > TOKEN_ID_LEN)
        return 0; /* authd never writes such an entry */
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 8;
        void *p = realloc(l->ids, ncap * sizeof(*l->ids));
        if (p == NULL)
            return AUTHD_ERR_NOMEM;
        l->ids = p;
        l->cap = ncap;
    }
    memcpy(l->ids[l->n], (const char *)key + l->plen, il);
    l->ids[l->n][il] = '\0';
    l->n++;
    return 0;
}
