/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Protobuf records in the store: load (unpack), save (pack), and deep copies into an RPC call's
 * arena. Loaded records are malloc'd protobuf-c messages owned by the caller: free them with
 * rpc_msg_free(), which wipes their strings (records hold password and token hashes).
 */
#ifndef AUTHD_RECORDS_H
#define AUTHD_RECORDS_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "authd/token.h"
#include "proto/rpc.h"
#include "storage/store.h"

/*
 * Loads key and unpacks it as a d message into *out. Reads through txn when it is not NULL
 * (locking the row when for_update), else straight from s. AUTHD_OK, AUTHD_ERR_NOT_FOUND,
 * AUTHD_ERR_CONFLICT, AUTHD_ERR_STORAGE, or AUTHD_ERR_INTERNAL for a record that does not parse.
 */
int rec_get(struct store *s, struct store_txn *txn, int for_update, const char *key,
            const ProtobufCMessageDescriptor *d, ProtobufCMessage **out);

/*
 * Loads the record of a presented bearer token "<id>.<secret>" (token.h): parses token (borrowed,
 * a secret: never logged), loads prefix<id> as a d message like rec_get, and keeps it only when
 * its secret_hash field (bytes) matches the token's secret, compared in constant time. AUTHD_OK
 * with *out; AUTHD_ERR_NOT_FOUND for a malformed, unknown or mismatching token alike (the caller
 * maps it to its own "no such token" error); or rec_get's other errors. key_out (KEY_MAX bytes,
 * may be NULL) receives the record's key on AUTHD_OK. Expiry is the caller's to judge.
 */
int rec_get_by_token(struct store *s, struct store_txn *txn, int for_update, const char *prefix,
                     const char *token, const ProtobufCMessageDescriptor *d, ProtobufCMessage **out,
                     char *key_out);

/* Packs m and writes it at key inside txn. */
int rec_put(struct store_txn *txn, const char *key, const ProtobufCMessage *m);

/* Packs m and adds a put of it at key to the batch. */
int rec_batch_put(struct store_batch *b, const char *key, const ProtobufCMessage *m);

/*
 * A deep copy of src in ctx's arena (so it can be placed in a response). NULL on NOMEM or when
 * src is NULL.
 */
void *rec_copy(struct rpc_ctx *ctx, const ProtobufCMessage *src);

/*
 * The ids an index lists: keys prefix + id with ids of 1..TOKEN_ID_LEN characters, gathered by a
 * scan before any of them is read or deleted (a scan must not see its own deletes). Set plen to
 * the prefix's length, pass rec_ids_add as the store_scan / store_txn_scan callback with the
 * struct as its argument, then free(ids). Keys with ids of another length are skipped: authd
 * never writes them.
 */
struct rec_ids {
    size_t plen;
    char (*ids)[TOKEN_ID_LEN + 1];
    size_t n, cap;
};
int rec_ids_add(void *arg, const void *key, size_t klen, const void *val, size_t vlen);

#endif
