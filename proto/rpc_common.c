/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the RPC server and client share: the one mapping between enum authd_err and gRPC
 * status codes (both directions), packing and wiping wire bytes (rpc_internal.h), and the
 * generic wipe of protobuf-c messages, which walks a
 * message through its descriptor so that every string and bytes field, at any depth (repeated
 * fields, nested messages, map entries, oneofs, unknown fields), is wiped before it is freed.
 */
#include "proto/rpc.h"

#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/slice.h>
#include <grpc/status.h>

#include "common/err.h"
#include "common/secret.h"
#include "proto/rpc_internal.h"

int
rpc_status_from_err(int err)
{
    switch (err) {
    case AUTHD_OK:
        return GRPC_STATUS_OK;
    case AUTHD_ERR_INVALID_ARGUMENT:
    case AUTHD_ERR_INVALID_EMAIL:
    case AUTHD_ERR_WEAK_PASSWORD:
    /* A grant type the server does not know is a bad value in a request, not a missing
     * method: UNIMPLEMENTED would read as "no OAuth service here". */
    case AUTHD_ERR_UNSUPPORTED_GRANT_TYPE:
        return GRPC_STATUS_INVALID_ARGUMENT;
    case AUTHD_ERR_NOT_FOUND:
        return GRPC_STATUS_NOT_FOUND;
    case AUTHD_ERR_ALREADY_EXISTS:
        return GRPC_STATUS_ALREADY_EXISTS;
    case AUTHD_ERR_INVALID_CREDENTIALS:
    case AUTHD_ERR_UNAUTHENTICATED:
    case AUTHD_ERR_INVALID_TOKEN:
    case AUTHD_ERR_WRONG_CODE:
    case AUTHD_ERR_SECOND_FACTOR_REQUIRED:
    case AUTHD_ERR_KEY_REFUSED:
        return GRPC_STATUS_UNAUTHENTICATED;
    case AUTHD_ERR_ALREADY_ENABLED:
    case AUTHD_ERR_NOT_REQUESTED:
    case AUTHD_ERR_NOT_ENABLED:
    case AUTHD_ERR_FAILED_PRECONDITION:
        return GRPC_STATUS_FAILED_PRECONDITION;
    case AUTHD_ERR_PERMISSION_DENIED:
    case AUTHD_ERR_INACTIVE:
    case AUTHD_ERR_UNAUTHORIZED_CLIENT:
        return GRPC_STATUS_PERMISSION_DENIED;
    case AUTHD_ERR_CONFLICT:
        return GRPC_STATUS_ABORTED;
    case AUTHD_ERR_TOO_LARGE:
    case AUTHD_ERR_LOCKED:
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    case AUTHD_ERR_UNAVAILABLE:
        return GRPC_STATUS_UNAVAILABLE;
    case AUTHD_ERR_DEADLINE:
        return GRPC_STATUS_DEADLINE_EXCEEDED;
    case AUTHD_ERR_UNIMPLEMENTED:
        return GRPC_STATUS_UNIMPLEMENTED;
    case AUTHD_ERR_STORAGE:
    case AUTHD_ERR_INTERNAL:
    case AUTHD_ERR_NOMEM:
    default:
        return GRPC_STATUS_INTERNAL;
    }
}

int
rpc_err_from_status(int code)
{
    switch (code) {
    case GRPC_STATUS_OK:
        return AUTHD_OK;
    case GRPC_STATUS_INVALID_ARGUMENT:
    case GRPC_STATUS_OUT_OF_RANGE:
        return AUTHD_ERR_INVALID_ARGUMENT;
    case GRPC_STATUS_NOT_FOUND:
        return AUTHD_ERR_NOT_FOUND;
    case GRPC_STATUS_ALREADY_EXISTS:
        return AUTHD_ERR_ALREADY_EXISTS;
    case GRPC_STATUS_UNAUTHENTICATED:
        return AUTHD_ERR_UNAUTHENTICATED;
    case GRPC_STATUS_PERMISSION_DENIED:
        return AUTHD_ERR_PERMISSION_DENIED;
    case GRPC_STATUS_ABORTED:
        return AUTHD_ERR_CONFLICT;
    case GRPC_STATUS_RESOURCE_EXHAUSTED:
        return AUTHD_ERR_TOO_LARGE;
    /* A call cancelled under us (server shutting down, connection lost) is "try again". */
    case GRPC_STATUS_CANCELLED:
    case GRPC_STATUS_UNAVAILABLE:
        return AUTHD_ERR_UNAVAILABLE;
    case GRPC_STATUS_DEADLINE_EXCEEDED:
        return AUTHD_ERR_DEADLINE;
    case GRPC_STATUS_UNIMPLEMENTED:
        return AUTHD_ERR_UNIMPLEMENTED;
    case GRPC_STATUS_UNKNOWN:
    case GRPC_STATUS_FAILED_PRECONDITION:
    case GRPC_STATUS_INTERNAL:
    case GRPC_STATUS_DATA_LOSS:
    default:
        return AUTHD_ERR_INTERNAL;
    }
}

/* Destroy callback of a packed message's slice: gRPC drops its last reference once sent. */
static void
on_packed_slice_done(void *p, size_t len)
{
    secret_freezero(p, len);
}

int
rpc_pack(const ProtobufCMessage *msg, grpc_byte_buffer **out)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    grpc_slice s;

    *out = NULL;
    if (len == 0) {
        s = grpc_empty_slice();
    } else {
        uint8_t *p = malloc(len);
        if (p == NULL)
            return AUTHD_ERR_NOMEM;
        if (protobuf_c_message_pack(msg, p) != len) {
            secret_freezero(p, len);
            return AUTHD_ERR_INTERNAL;
        }
        s = grpc_slice_new_with_len(p, len, on_packed_slice_done);
    }
    *out = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return *out != NULL ? AUTHD_OK : AUTHD_ERR_NOMEM;
}

void
rpc_bb_wipe(grpc_byte_buffer *bb)
{
    if (bb == NULL || bb->type != GRPC_BB_RAW)
        return;
    grpc_slice_buffer *sb = &bb->data.raw.slice_buffer;
    for (size_t i = 0; i < sb->count; i++)
        secret_wipe(GRPC_SLICE_START_PTR(sb->slices[i]), GRPC_SLICE_LENGTH(sb->slices[i]));
}

int
rpc_oauth_code_ok(const char *s, size_t len)
{
    if (s == NULL || len == 0 || len >= RPC_OAUTH_ERROR_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    return 1;
}

/* Wipes one element (not a repeated array) of field f stored at p. An each_value() visitor. */
static void
wipe_value(const ProtobufCFieldDescriptor *f, void *p, void *arg)
{
    (void)arg;
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        char *s = *(char **)p;
        /* Defaults are static, possibly read-only, and never hold a secret. */
        if (s != NULL && s != protobuf_c_empty_string && s != (const char *)f->default_value)
            secret_wipe(s, strlen(s));
        break;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData *b = p;
        const ProtobufCBinaryData *def = f->default_value;
        if (b->data != NULL && (def == NULL || b->data != def->data))
            secret_wipe(b->data, b->len);
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        rpc_msg_wipe(*(ProtobufCMessage **)p);
        break;
    default:
        break;
    }
}

/* The size of one element of a repeated field of type t in its array. */
static size_t
elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    default:
        return 0; /* scalars hold no secret bytes worth walking */
    }
}

void
rpc_msg_free(ProtobufCMessage *msg)
{
    if (msg == NULL)
        return;
    rpc_msg_wipe(msg);
    protobuf_c_message_free_unpacked(msg, NULL);
}

/*
 * The one walk over a message's set values, for wiping and for dropping unknown fields: calls
 * visit(f, p, arg) for each element p of msg's string, bytes and message fields (see
 * elem_size()), each element of a repeated one, and of a oneof only the member whose case is
 * set. Returns 0 (nothing visited) when msg is NULL or has no descriptor, else 1.
 */
static int
each_value(ProtobufCMessage *msg,
           void (*visit)(const ProtobufCFieldDescriptor *f, void *p, void *arg), void *arg)
{
    if (msg == NULL || msg->descriptor == NULL)
        return 0;
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    char *base = (char *)msg;

    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        void *member = base + f->offset;
        size_t esz = elem_size(f->type);

        if (esz == 0)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(size_t *)(base + f->quantifier_offset);
            char *arr = *(char **)member;
            for (size_t k = 0; arr != NULL && k < n; k++)
                visit(f, arr + k * esz, arg);
            continue;
        }
        /* Members of a oneof share storage: only the one whose case is set is valid. */
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(uint32_t *)(base + f->quantifier_offset) != f->id)
            continue;
        visit(f, member, arg);
    }
    return 1;
}

void
rpc_msg_wipe(ProtobufCMessage *msg)
{
    if (!each_value(msg, wipe_value, NULL))
        return;
    for (size_t i = 0; i < msg->n_unknown_fields; i++) {
        ProtobufCMessageUnknownField *u = &msg->unknown_fields[i];
        secret_wipe(u->data, u->len);
    }
}

static void
drop_free(ProtobufCAllocator *allocator, void *p)
{
    if (allocator != NULL)
        allocator->free(allocator->allocator_data, p);
    else
        free(p);
}

/* Drops the unknown fields of the message at p (field f), an each_value() visitor. */
static void
drop_value(const ProtobufCFieldDescriptor *f, void *p, void *allocator)
{
    if (f->type == PROTOBUF_C_TYPE_MESSAGE)
        rpc_msg_drop_unknown(*(ProtobufCMessage **)p, allocator);
}

void
rpc_msg_drop_unknown(ProtobufCMessage *msg, ProtobufCAllocator *allocator)
{
    if (!each_value(msg, drop_value, allocator))
        return;
    for (size_t i = 0; i < msg->n_unknown_fields; i++) {
        ProtobufCMessageUnknownField *u = &msg->unknown_fields[i];
        secret_wipe(u->data, u->len);
        drop_free(allocator, u->data);
    }
    drop_free(allocator, msg->unknown_fields);
    msg->unknown_fields = NULL;
    msg->n_unknown_fields = 0;
}
