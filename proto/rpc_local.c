/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Local calls (see rpc_local.h): the server's call path (authorize, decode into the arena, fresh
 * response, handler, wipe) without gRPC. The request and the answer cross by being packed and
 * unpacked, as on the wire, so a handler sees exactly what a decoded request would hold and the
 * caller gets an answer that owes nothing to the arena.
 */
#include "proto/rpc_local.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/secret.h"
#include "proto/rpc_ctx.h"

#define RPC_LOCAL_MAX_MD 16 /* pairs, as rpc_call_md() allows */

/* A local call: the handler's context and what the test chose to report. */
struct rpc_local {
    struct rpc_ctx ctx; /* first: the context is the call */
    const struct rpc_local_opts *opts;
    uint64_t deadline_ns; /* CLOCK_MONOTONIC; 0: none */
};

static uint64_t
mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- what the test reports in place of a transport (struct rpc_ctx_ops) ----------------- */

static const char *
local_peer(struct rpc_ctx *ctx)
{
    const struct rpc_local *l = (const struct rpc_local *)ctx;
    return l->opts->peer != NULL ? l->opts->peer : "local";
}

static const char *
local_metadata(struct rpc_ctx *ctx, const char *key)
{
    const struct rpc_local *l = (const struct rpc_local *)ctx;
    const char *const *md = l->opts->md;

    for (size_t i = 0; md != NULL && md[2 * i] != NULL; i++)
        if (strcmp(md[2 * i], key) == 0)
            return rpc_ctx_strdup(ctx, md[2 * i + 1]);
    return NULL;
}

static size_t
local_peer_identities(struct rpc_ctx *ctx, const char **out, size_t max)
{
    const struct rpc_local *l = (const struct rpc_local *)ctx;
    size_t n = 0;

    for (size_t i = 0; i < l->opts->n_identities && n < max; i++) {
        char *v = rpc_ctx_strdup(ctx, l->opts->identities[i]);
        if (v == NULL)
            break;
        out[n++] = v;
    }
    return n;
}

static int
local_is_tls(struct rpc_ctx *ctx)
{
    return ((const struct rpc_local *)ctx)->opts->tls != 0;
}

static int64_t
local_deadline_ms_left(struct rpc_ctx *ctx)
{
    const struct rpc_local *l = (const struct rpc_local *)ctx;
    uint64_t now;

    if (l->deadline_ns == 0)
        return INT64_MAX;
    now = mono_ns();
    return now >= l->deadline_ns ? 0 : (int64_t)((l->deadline_ns - now) / 1000000u);
}

static const struct rpc_ctx_ops local_ops = {
    .peer = local_peer,
    .metadata = local_metadata,
    .peer_identities = local_peer_identities,
    .is_tls = local_is_tls,
    .deadline_ms_left = local_deadline_ms_left,
};

/* ---- the call -------------------------------------------------------------------------- */

/* Metadata as rpc_call_md() accepts it: pairs without a NULL value, at most 16. */
static int
md_valid(const char *const *md)
{
    size_t n = 0;

    for (; md != NULL && md[2 * n] != NULL; n++)
        if (n == RPC_LOCAL_MAX_MD || md[2 * n + 1] == NULL)
            return 0;
    return 1;
}

/*
 * Packs msg and unpacks it with allocator (NULL: protobuf-c's default) as a message of type
 * desc, the way it would cross the wire. The packed bytes are wiped. *out NULL on failure.
 */
static int
msg_copy(const ProtobufCMessage *msg, const ProtobufCMessageDescriptor *desc,
         ProtobufCAllocator *allocator, ProtobufCMessage **out)
{
    static const uint8_t none[1];
    size_t len = msg != NULL ? protobuf_c_message_get_packed_size(msg) : 0;
    uint8_t *buf = NULL;

    *out = NULL;
    if (len > 0) {
        buf = malloc(len);
        if (buf == NULL)
            return AUTHD_ERR_NOMEM;
        if (protobuf_c_message_pack(msg, buf) != len) {
            secret_freezero(buf, len);
            return AUTHD_ERR_INTERNAL;
        }
    }
    *out = protobuf_c_message_unpack(desc, allocator, len, buf != NULL ? buf : none);
    if (buf != NULL)
        secret_freezero(buf, len);
    return *out != NULL ? AUTHD_OK : AUTHD_ERR_NOMEM;
}

/* Authorizes, decodes, runs the handler (a trial first for RPC_TRY_INLINE): rpc_server.c's
 * call_run() without the transport. */
static int
local_run(struct rpc_local *l, const struct rpc_service *svc, const struct rpc_method *m,
          const ProtobufCMethodDescriptor *md, const ProtobufCMessage *req, ProtobufCMessage **resp)
{
    ProtobufCAllocator a = rpc_ctx_allocator(&l->ctx);
    ProtobufCMessage *in = NULL;
    int err = AUTHD_OK;

    *resp = NULL;
    int trial = (m->flags & RPC_TRY_INLINE) && !l->opts->no_trial;
    if (l->opts->authorize != NULL) {
        /* As on the server, the hook runs in the trial and may defer; then it runs again. */
        l->ctx.trying = trial;
        err = l->opts->authorize(l->opts->hook_arg, &l->ctx, svc->desc->name, m);
        l->ctx.trying = 0;
        if (trial && l->ctx.deferred) {
            rpc_ctx_after_trial(&l->ctx);
            if (l->opts->deferred != NULL)
                *l->opts->deferred = 1;
            trial = 0;
            err = l->opts->authorize(l->opts->hook_arg, &l->ctx, svc->desc->name, m);
        }
    }
    if (err == AUTHD_OK) {
        err = msg_copy(req, md->input, &a, &in);
        if (err == AUTHD_OK)
            rpc_msg_drop_unknown(in, &a);
    }
    if (err == AUTHD_OK && trial) {
        /* The trial the server runs on its completion-queue thread; deferred, it runs again
         * as on a worker, with the same request and a fresh response. */
        *resp = rpc_ctx_msg(&l->ctx, md->output);
        l->ctx.trying = 1;
        err = *resp != NULL ? m->fn(&l->ctx, in, *resp) : AUTHD_ERR_NOMEM;
        l->ctx.trying = 0;
        if (!l->ctx.deferred)
            goto done;
        rpc_ctx_after_trial(&l->ctx);
        if (l->opts->deferred != NULL)
            *l->opts->deferred = 1;
        err = AUTHD_OK;
    }
    if (err == AUTHD_OK) {
        *resp = rpc_ctx_msg(&l->ctx, md->output);
        err = *resp != NULL ? m->fn(&l->ctx, in, *resp) : AUTHD_ERR_NOMEM;
    }
done:
    if (err > 0)
        err = AUTHD_ERR_INTERNAL; /* not an enum authd_err: a handler bug */
    return err;
}

/*
 * Fills st as rpc_call() does for the answer err: on failure the reason, the status message
 * (ctx's, or authd_strerror()) and the refusal's details ctx holds (ctx NULL: none).
 */
static void
local_status(struct rpc_status *st, int err, const struct rpc_ctx *ctx, const char *message)
{
    if (st == NULL)
        return;
    memset(st, 0, sizeof(*st));
    st->code = rpc_status_from_err(err);
    if (err == AUTHD_OK)
        return;
    snprintf(st->reason, sizeof(st->reason), "%s", authd_err_reason(err));
    snprintf(st->message, sizeof(st->message), "%s",
             message != NULL ? message : authd_strerror(err));
    if (ctx != NULL && ctx->oauth_error != NULL)
        snprintf(st->oauth_error, sizeof(st->oauth_error), "%s", ctx->oauth_error);
    if (ctx != NULL)
        st->retry_after =
            ctx->retry_after < RPC_RETRY_AFTER_MAX ? ctx->retry_after : RPC_RETRY_AFTER_MAX;
}

int
rpc_local_call(const struct rpc_service *svc, const char *method, const struct rpc_local_opts *opts,
               const ProtobufCMessage *req, ProtobufCMessage **resp, struct rpc_status *st)
{
    static const struct rpc_local_opts all_rights = {.grants = ~0u};
    const ProtobufCMethodDescriptor *md = NULL;
    const struct rpc_method *m = NULL;
    ProtobufCMessage *answer = NULL;
    struct rpc_local *l = NULL;
    const char *message = NULL;
    int err;

    if (resp != NULL)
        *resp = NULL;
    if (opts == NULL)
        opts = &all_rights;
    if (svc == NULL || svc->desc == NULL || method == NULL || resp == NULL || !md_valid(opts->md) ||
        (opts->n_identities > 0 && opts->identities == NULL)) {
        err = AUTHD_ERR_INVALID_ARGUMENT;
        goto out;
    }
    md = protobuf_c_service_descriptor_get_method_by_name(svc->desc, method);
    for (size_t i = 0; md != NULL && i < svc->n_methods && m == NULL; i++)
        if (svc->methods[i].name != NULL && strcmp(svc->methods[i].name, method) == 0)
            m = &svc->methods[i];
    if (m == NULL || m->fn == NULL) {
        message = "unknown method";
        err = AUTHD_ERR_UNIMPLEMENTED;
        goto out;
    }
    if (req != NULL && req->descriptor != md->input) {
        err = AUTHD_ERR_INVALID_ARGUMENT;
        goto out;
    }
    l = calloc(1, sizeof(*l));
    if (l == NULL) {
        err = AUTHD_ERR_NOMEM;
        goto out;
    }
    rpc_ctx_init(&l->ctx, &local_ops, svc->arg);
    l->ctx.grants = opts->grants;
    l->opts = opts;
    if (opts->deadline_ms > 0)
        l->deadline_ns = mono_ns() + (uint64_t)opts->deadline_ms * 1000000u;

    err = local_run(l, svc, m, md, req, &answer);
    /* The answer leaves the arena as it would leave the server: packed, then unpacked. */
    if (err == AUTHD_OK)
        err = msg_copy(answer, md->output, NULL, resp);
    message = rpc_ctx_message(&l->ctx);
out:
    local_status(st, err, l != NULL ? &l->ctx : NULL, message); /* before the wipe: in the arena */
    if (l != NULL) {
        rpc_ctx_cleanup(&l->ctx);
        free(l);
    }
    return err;
}
