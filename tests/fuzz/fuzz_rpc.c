/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: protobuf decoding of every request (and response) message of every method
 * authd serves (authd_services()). The first input byte picks the message type, the rest is the
 * wire bytes. Each is decoded twice: as the RPC adapter does it (into a call arena, unknown
 * fields dropped, proto/rpc_server.c call_decode), then re-encoded and decoded again as handlers
 * do when they copy or store a request, and wiped (rpc_msg_wipe()); and with the default
 * allocator, freed with rpc_msg_free() (as rpc_call() answers are).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "authd/authd.h"
#include "proto/rpc.h"

#define MAX_TYPES 256

static const ProtobufCMessageDescriptor *types[MAX_TYPES];
static size_t n_types;

static void
add_type(const ProtobufCMessageDescriptor *d)
{
    for (size_t i = 0; i < n_types; i++)
        if (types[i] == d)
            return;
    if (n_types == MAX_TYPES)
        abort();
    types[n_types++] = d;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    struct rpc_service svcs[32];
    size_t n = authd_services(NULL, svcs, sizeof(svcs) / sizeof(svcs[0]));
    for (size_t i = 0; i < n; i++) {
        for (unsigned m = 0; m < svcs[i].desc->n_methods; m++) {
            add_type(svcs[i].desc->methods[m].input);
            add_type(svcs[i].desc->methods[m].output);
        }
    }
    if (n == 0 || n_types == 0)
        abort();
    return 0;
}

/* A bump allocator standing in for the adapter's per-call arena: nothing is freed one by one. */
struct arena {
    struct chunk {
        struct chunk *next;
        max_align_t data[];
    } * chunks;
};

static void *
arena_alloc(void *data, size_t n)
{
    struct arena *a = data;
    struct chunk *c = malloc(sizeof(*c) + (n ? n : 1));
    if (c == NULL)
        return NULL;
    c->next = a->chunks;
    a->chunks = c;
    return c->data;
}

static void
arena_free_one(void *data, void *p)
{
    (void)data;
    (void)p; /* freed with the arena */
}

static void
arena_release(struct arena *a)
{
    while (a->chunks) {
        struct chunk *next = a->chunks->next;
        free(a->chunks);
        a->chunks = next;
    }
}

/* Whether every string, bytes and unknown field of m (recursively) reads as zeros. */
static int
all_wiped(const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        size_t n = 1;
        const char *p = base + f->offset;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            n = *(const size_t *)(base + f->quantifier_offset);
            p = *(const char *const *)p;
        } else if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
                   *(const uint32_t *)(base + f->quantifier_offset) != f->id) {
            continue;
        }
        for (size_t k = 0; k < n; k++) {
            switch (f->type) {
            case PROTOBUF_C_TYPE_STRING: {
                const char *s = ((const char *const *)p)[k];
                if (s != NULL && s[0] != '\0')
                    return 0;
                break;
            }
            case PROTOBUF_C_TYPE_BYTES: {
                const ProtobufCBinaryData *b = &((const ProtobufCBinaryData *)p)[k];
                for (size_t j = 0; j < b->len; j++)
                    if (b->data[j] != 0)
                        return 0;
                break;
            }
            case PROTOBUF_C_TYPE_MESSAGE: {
                const ProtobufCMessage *sub = ((const ProtobufCMessage *const *)p)[k];
                if (sub != NULL && !all_wiped(sub))
                    return 0;
                break;
            }
            default:
                break;
            }
        }
    }
    for (size_t i = 0; i < m->n_unknown_fields; i++)
        for (size_t j = 0; j < m->unknown_fields[i].len; j++)
            if (m->unknown_fields[i].data[j] != 0)
                return 0;
    return 1;
}

/* Packs m into a new buffer (*len bytes); the packed size must be what get_packed_size says. */
static uint8_t *
pack(const ProtobufCMessage *m, size_t *len)
{
    size_t want = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(want ? want : 1);
    if (buf == NULL)
        abort();
    *len = protobuf_c_message_pack(m, buf);
    if (*len != want)
        abort();
    return buf;
}

/* pack(m) decodes (with al) to a message that packs to the same bytes. */
static void
round_trip(const ProtobufCMessage *m, ProtobufCAllocator *al)
{
    size_t l1, l2;
    uint8_t *p1 = pack(m, &l1);
    ProtobufCMessage *m2 = protobuf_c_message_unpack(m->descriptor, al, l1, p1);
    if (m2 == NULL)
        abort(); /* what we encode we must decode */
    uint8_t *p2 = pack(m2, &l2);
    if (l1 != l2 || memcmp(p1, p2, l1) != 0)
        abort();
    free(p1);
    free(p2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const ProtobufCMessageDescriptor *d = types[data[0] % n_types];
    size_t len = size - 1;
    /* An exact-size copy, so that ASan sees any read past the end. */
    uint8_t *wire = malloc(len ? len : 1);
    if (wire == NULL)
        return 0;
    memcpy(wire, data + 1, len);

    /*
     * The adapter's way: decode into the arena and drop unknown fields; handlers then copy and
     * store requests by packing them (rec_copy, rec_put), which must decode again to the same.
     * Then wipe and drop the arena.
     */
    struct arena a = {NULL};
    ProtobufCAllocator al = {arena_alloc, arena_free_one, &a};
    ProtobufCMessage *m = protobuf_c_message_unpack(d, &al, len, wire);
    if (m != NULL) {
        if (m->descriptor != d || !protobuf_c_message_check(m))
            abort();
        rpc_msg_drop_unknown(m, &al);
        round_trip(m, &al);
        rpc_msg_wipe(m);
        if (!all_wiped(m))
            abort();
    }
    arena_release(&a);

    /* The client's way (rpc_call() answers): default allocator, rpc_msg_free(). */
    m = protobuf_c_message_unpack(d, NULL, len, wire);
    if (m != NULL) {
        if (len % 2)
            rpc_msg_drop_unknown(m, NULL); /* its free path too */
        rpc_msg_free(m);
    }
    free(wire);
    return 0;
}
