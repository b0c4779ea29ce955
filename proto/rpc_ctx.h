/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to proto/: the part of a call that does not depend on the transport, shared by the
 * gRPC server (rpc_server.c) and local calls (rpc_local.c). It holds the service's arg, what the
 * authorize hook and the handler set (caller, grants, status message and the refusal's details)
 * and the call's arena; the
 * transport answers the rest (peer, metadata, certificate identities, TLS, deadline) through
 * struct rpc_ctx_ops. No gRPC type appears here, so rpc_local.c stays free of gRPC headers.
 * Nothing outside proto/ includes this header: handlers see struct rpc_ctx only through rpc.h.
 */
#ifndef AUTHD_PROTO_RPC_CTX_H
#define AUTHD_PROTO_RPC_CTX_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "proto/rpc.h"

#define RPC_ARENA_INLINE 1024 /* arena bytes inside the call itself: most calls need no more */
#define RPC_ARENA_CHUNK 4096  /* later arena chunks, or the size asked when larger */
#define RPC_MESSAGE_MAX 255   /* longest status message a handler may set */

/*
 * What the transport answers; each backs the rpc_ctx_* accessor of the same name (see rpc.h
 * for their contracts). ctx is the struct rpc_ctx the transport embeds in its own call state.
 */
struct rpc_ctx_ops {
    const char *(*peer)(struct rpc_ctx *ctx);
    const char *(*metadata)(struct rpc_ctx *ctx, const char *key);
    size_t (*peer_identities)(struct rpc_ctx *ctx, const char **out, size_t max);
    int (*is_tls)(struct rpc_ctx *ctx);
    int64_t (*deadline_ms_left)(struct rpc_ctx *ctx);
};

struct rpc_arena_chunk;

struct rpc_ctx {
    const struct rpc_ctx_ops *ops; /* the transport */
    void *arg;                     /* the service's arg (rpc_ctx_arg) */
    const char *message;           /* status message set by the handler, in the arena */
    const char *oauth_error;       /* rpc_ctx_set_oauth_error, in the arena; NULL: none */
    int64_t retry_after;           /* rpc_ctx_set_retry_after; 0: none */
    const char *caller;            /* set by the authorize hook, in the arena; NULL: none */
    unsigned grants;               /* set by the authorize hook; ~0u until then */
    int trying;                    /* an RPC_TRY_INLINE trial is running (rpc_ctx_trying) */
    int deferred;                  /* the trial called rpc_ctx_defer */

    /* The arena: an inline block, then chunks. */
    unsigned char *arena_cur;
    size_t arena_left;
    struct rpc_arena_chunk *chunks;
    max_align_t arena_inline[RPC_ARENA_INLINE / sizeof(max_align_t)];
};

/*
 * Prepares ctx (memory owned by the transport, usually inside its call state) for a call of a
 * service whose arg is arg (NULL for a method nobody registered): empty arena, no caller, no
 * message, grants ~0u. ops is borrowed and must outlive the call.
 */
void rpc_ctx_init(struct rpc_ctx *ctx, const struct rpc_ctx_ops *ops, void *arg);

/*
 * Wipes the arena (every byte handed out by rpc_ctx_alloc and friends, so the request and the
 * response built in it too) and frees its chunks. ctx itself stays the transport's; it may be
 * initialised again. Once per rpc_ctx_init.
 */
void rpc_ctx_cleanup(struct rpc_ctx *ctx);

/*
 * A protobuf-c allocator over ctx's arena: what is unpacked with it lives, and is wiped, with
 * the arena. Its free does nothing (the arena frees everything at once).
 */
ProtobufCAllocator rpc_ctx_allocator(struct rpc_ctx *ctx);

/*
 * Before the run that follows a deferred trial: clears the trial's marks and what it set for
 * the answer (message, OAuth error, retry-after). The arena, the caller and the grants stay.
 */
void rpc_ctx_after_trial(struct rpc_ctx *ctx);

/* The status message the handler or the hook set (in the arena), or NULL when none. */
const char *rpc_ctx_message(const struct rpc_ctx *ctx);

/* 1 when the len bytes at s are a well-formed OAuth error code (rpc.h: rpc_ctx_set_oauth_error). */
int rpc_oauth_code_ok(const char *s, size_t len);

#endif
