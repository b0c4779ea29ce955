/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Calls into a service without gRPC, for unit tests of handlers: the same path a call to the
 * gRPC server takes (the authorize hook, the request decoded into the call's arena with its
 * unknown fields dropped, a fresh response in the arena, the handler, the arena wiped after),
 * on the caller's thread, with the metadata, certificate identities and TLS flag the test
 * chooses in place of what a transport would report. Only the transport is missing: no
 * network, no worker queue, no observe hook, no message size limit.
 */
#ifndef AUTHD_PROTO_RPC_LOCAL_H
#define AUTHD_PROTO_RPC_LOCAL_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "proto/rpc.h"

/*
 * What the call's context reports to the hook and the handler. Everything is borrowed for the
 * duration of the call; the accessors hand out copies in the call's arena, as the server does.
 * A zeroed struct is a plaintext call from "local" without metadata, identities or rights.
 */
struct rpc_local_opts {
    /* Request metadata (rpc_ctx_metadata): NULL or a NULL-terminated list of key, value,
     * key, value... with lowercase keys, at most 16 pairs, as rpc_call_md() takes it, e.g.
     * {"authorization", "Bearer ...", NULL}. */
    const char *const *md;
    /* The verified client certificate's typed identities (rpc_ctx_peer_identities), e.g.
     * "uri:spiffe://authd.dev/edge"; reported as given, tls or not. */
    const char *const *identities;
    size_t n_identities;
    int tls;          /* rpc_ctx_is_tls() */
    const char *peer; /* rpc_ctx_peer(); NULL: "local" */
    /* The caller's rights (rpc_ctx_grants, e.g. authd's ROLE_* bits) before the hook runs; a
     * hook that sets grants (callers_authorize does) replaces them. */
    unsigned grants;
    rpc_authorize_fn authorize; /* NULL: none (grants stand) */
    void *hook_arg;             /* handed to authorize */
    int64_t deadline_ms;        /* rpc_ctx_deadline_ms_left() counts down from it; 0: none */
    /* RPC_TRY_INLINE methods run a trial first, as on the server (rpc.h), unless no_trial is
     * 1 (then they run once, as on a worker, like a server's no_trials). The authorize hook
     * runs in the trial too and may defer. deferred (may be NULL) is set to 1 when the trial
     * (the hook's or the handler's) deferred, so a test can tell which way the call went. */
    int no_trial;
    int *deferred;
};

/*
 * Calls method ("Login") of svc (as authd_services() fills them; svc->arg is what the handler's
 * rpc_ctx_arg() returns) with req, which must be NULL (the default instance, like an absent
 * message) or a message of the method's input type. req stays the caller's and is not changed:
 * the handler sees a copy in the call's arena, which is wiped after the call. opts NULL is
 * {.grants = ~0u}: every right, as on a server without an authorize hook.
 *
 * Returns what a gRPC client would see: AUTHD_OK with *resp a message of the method's output
 * type owned by the caller (free with rpc_msg_free(), which wipes it), or the hook's or the
 * handler's enum authd_err with *resp NULL. AUTHD_ERR_UNIMPLEMENTED for a method not in svc's
 * descriptor or not bound in its table, AUTHD_ERR_INVALID_ARGUMENT for a NULL svc, method or
 * resp, a req of another type or malformed metadata. st (may be NULL) is filled as rpc_call()
 * fills it: code, the authd-error reason, the status message the handler set (or
 * authd_strerror()), its OAuth error code and retry-after seconds; all empty but code 0 on
 * success. Thread-safe as far as the handler is.
 */
int rpc_local_call(const struct rpc_service *svc, const char *method,
                   const struct rpc_local_opts *opts, const ProtobufCMessage *req,
                   ProtobufCMessage **resp, struct rpc_status *st);

#endif
