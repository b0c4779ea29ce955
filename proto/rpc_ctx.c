/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The transport-neutral half of the handler context (see rpc_ctx.h): the call's arena, which
 * holds the decoded request, the response and everything the handler allocates and is wiped when
 * the call ends, and the accessors for what the authorize hook and the handler set. The accessors
 * that only the transport can answer go through its struct rpc_ctx_ops.
 */
#include "proto/rpc_ctx.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"

struct rpc_arena_chunk {
    struct rpc_arena_chunk *next;
    size_t cap;
    max_align_t data[]; /* cap bytes */
};

/* ---- arena ----------------------------------------------------------------------------- */

static size_t
arena_round(size_t n)
{
    size_t a = _Alignof(max_align_t);
    return (n + a - 1) & ~(a - 1);
}

void
rpc_ctx_init(struct rpc_ctx *ctx, const struct rpc_ctx_ops *ops, void *arg)
{
    ctx->ops = ops;
    ctx->arg = arg;
    ctx->message = NULL;
    ctx->oauth_error = NULL;
    ctx->retry_after = 0;
    ctx->caller = NULL;
    ctx->grants = ~0u;
    ctx->trying = 0;
    ctx->deferred = 0;
    ctx->chunks = NULL;
    ctx->arena_cur = (unsigned char *)ctx->arena_inline;
    ctx->arena_left = sizeof(ctx->arena_inline);
}

void
rpc_ctx_cleanup(struct rpc_ctx *ctx)
{
    secret_wipe(ctx->arena_inline, sizeof(ctx->arena_inline));
    while (ctx->chunks != NULL) {
        struct rpc_arena_chunk *next = ctx->chunks->next;
        secret_freezero(ctx->chunks, sizeof(*ctx->chunks) + ctx->chunks->cap);
        ctx->chunks = next;
    }
    ctx->arena_cur = NULL;
    ctx->arena_left = 0;
    ctx->message = NULL;
    ctx->oauth_error = NULL;
    ctx->caller = NULL;
}

/*
 * protobuf-c allocator over the arena. The decoded request, with its strings, bytes, repeated
 * arrays and unknown fields, then lives in the arena, so the arena wipe covers all of it; the
 * response is built in the arena too (or points at static storage, which is never wiped).
 */
static void *
arena_pb_alloc(void *data, size_t n)
{
    return rpc_ctx_alloc(data, n);
}

static void
arena_pb_free(void *data, void *p)
{
    (void)data;
    (void)p; /* freed with the arena */
}

ProtobufCAllocator
rpc_ctx_allocator(struct rpc_ctx *ctx)
{
    ProtobufCAllocator a = {arena_pb_alloc, arena_pb_free, ctx};
    return a;
}

const char *
rpc_ctx_message(const struct rpc_ctx *ctx)
{
    return ctx != NULL ? ctx->message : NULL;
}

/* ---- what the transport answers -------------------------------------------------------- */

void *
rpc_ctx_arg(struct rpc_ctx *ctx)
{
    return ctx != NULL ? ctx->arg : NULL;
}

const char *
rpc_ctx_peer(struct rpc_ctx *ctx)
{
    return ctx != NULL ? ctx->ops->peer(ctx) : "unknown";
}

const char *
rpc_ctx_metadata(struct rpc_ctx *ctx, const char *key)
{
    return ctx != NULL && key != NULL ? ctx->ops->metadata(ctx, key) : NULL;
}

size_t
rpc_ctx_peer_identities(struct rpc_ctx *ctx, const char **out, size_t max)
{
    if (ctx == NULL || out == NULL || max == 0)
        return 0;
    return ctx->ops->peer_identities(ctx, out, max);
}

int
rpc_ctx_is_tls(struct rpc_ctx *ctx)
{
    return ctx != NULL ? ctx->ops->is_tls(ctx) : 0;
}

int64_t
rpc_ctx_deadline_ms_left(struct rpc_ctx *ctx)
{
    return ctx != NULL ? ctx->ops->deadline_ms_left(ctx) : 0;
}

/* ---- what the hook and the handler set ------------------------------------------------- */

void
rpc_ctx_set_caller(struct rpc_ctx *ctx, const char *who)
{
    char *p;

    if (ctx == NULL || who == NULL)
        return;
    p = rpc_ctx_strdup(ctx, who);
    if (p != NULL)
        ctx->caller = p;
}

const char *
rpc_ctx_caller(struct rpc_ctx *ctx)
{
    return ctx != NULL && ctx->caller != NULL ? ctx->caller : "";
}

void
rpc_ctx_set_grants(struct rpc_ctx *ctx, unsigned bits)
{
    if (ctx != NULL)
        ctx->grants = bits;
}

unsigned
rpc_ctx_grants(struct rpc_ctx *ctx)
{
    return ctx != NULL ? ctx->grants : ~0u;
}

void *
rpc_ctx_alloc(struct rpc_ctx *ctx, size_t n)
{
    if (ctx == NULL || n > SIZE_MAX / 2)
        return NULL;
    n = arena_round(n == 0 ? 1 : n);
    if (n <= ctx->arena_left) {
        void *p = ctx->arena_cur;
        ctx->arena_cur += n;
        ctx->arena_left -= n;
        return p;
    }
    size_t cap = n > RPC_ARENA_CHUNK ? n : RPC_ARENA_CHUNK;
    struct rpc_arena_chunk *ch = calloc(1, sizeof(*ch) + cap);
    if (ch == NULL)
        return NULL;
    ch->cap = cap;
    ch->next = ctx->chunks;
    ctx->chunks = ch;
    /* A big allocation gets a chunk of its own; the current block keeps serving small ones. */
    if (cap - n >= ctx->arena_left) {
        ctx->arena_cur = (unsigned char *)ch->data + n;
        ctx->arena_left = cap - n;
    }
    return ch->data;
}

char *
rpc_ctx_strdup(struct rpc_ctx *ctx, const char *s)
{
    if (s == NULL)
        s = "";
    size_t len = strlen(s);
    char *p = rpc_ctx_alloc(ctx, len + 1);
    if (p != NULL)
        memcpy(p, s, len);
    return p;
}

char *
rpc_ctx_printf(struct rpc_ctx *ctx, const char *fmt, ...)
{
    va_list ap, ap2;
    char *p = NULL;
    int n;

    va_start(ap, fmt);
    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap);
    if (n >= 0) {
        p = rpc_ctx_alloc(ctx, (size_t)n + 1);
        if (p != NULL)
            vsnprintf(p, (size_t)n + 1, fmt, ap2);
    }
    va_end(ap2);
    va_end(ap);
    return p;
}

void *
rpc_ctx_msg(struct rpc_ctx *ctx, const ProtobufCMessageDescriptor *desc)
{
    if (desc == NULL)
        return NULL;
    void *m = rpc_ctx_alloc(ctx, desc->sizeof_message);
    if (m != NULL)
        protobuf_c_message_init(desc, m);
    return m;
}

void
rpc_ctx_set_message(struct rpc_ctx *ctx, const char *msg)
{
    char *p;
    size_t len;

    if (ctx == NULL || msg == NULL)
        return;
    len = strnlen(msg, RPC_MESSAGE_MAX);
    p = rpc_ctx_alloc(ctx, len + 1);
    if (p == NULL)
        return;
    memcpy(p, msg, len);
    ctx->message = p;
}

void
rpc_ctx_set_oauth_error(struct rpc_ctx *ctx, const char *code)
{
    if (ctx == NULL)
        return;
    ctx->oauth_error = NULL;
    if (code != NULL && rpc_oauth_code_ok(code, strlen(code)))
        ctx->oauth_error = rpc_ctx_strdup(ctx, code);
}

void
rpc_ctx_set_retry_after(struct rpc_ctx *ctx, int64_t seconds)
{
    if (ctx != NULL)
        ctx->retry_after = seconds > 0 ? seconds : 0;
}

/* ---- trials (RPC_TRY_INLINE) ----------------------------------------------------------- */

int
rpc_ctx_trying(const struct rpc_ctx *ctx)
{
    return ctx != NULL && ctx->trying;
}

int
rpc_ctx_defer(struct rpc_ctx *ctx)
{
    if (ctx == NULL || !ctx->trying)
        return AUTHD_ERR_INTERNAL;
    ctx->deferred = 1;
    return AUTHD_ERR_UNAVAILABLE;
}

void
rpc_ctx_after_trial(struct rpc_ctx *ctx)
{
    ctx->trying = 0;
    ctx->deferred = 0;
    ctx->message = NULL;
    ctx->oauth_error = NULL;
    ctx->retry_after = 0;
}
