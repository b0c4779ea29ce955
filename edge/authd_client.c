/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The edge's RPC client: one rpc_client for the process and the one generic call every flow
 * makes (method by name from the protobuf-c service descriptors), with its logging.
 */
#include "edge/authd_client.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/log.h"
#include "edge/authd_client_int.h"
#include "proto/rpc.h"

uint64_t
edge_authd_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int
edge_authd_new(const char *target, int timeout_ms, struct edge_authd **out)
{
    return edge_authd_new_tls(target, NULL, timeout_ms, out);
}

int
edge_authd_new_tls(const char *target, const struct rpc_tls *tls, int timeout_ms,
                   struct edge_authd **out)
{
    *out = NULL;
    struct edge_authd *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return AUTHD_ERR_NOMEM;
    int r =
        tls != NULL ? rpc_client_new_tls(target, tls, &a->rpc) : rpc_client_new(target, &a->rpc);
    if (r != AUTHD_OK) {
        free(a);
        return r;
    }
    a->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->jwks_cond, NULL);
    edge_config_default(&a->cfg);
    *out = a;
    return AUTHD_OK;
}

void
edge_authd_free(struct edge_authd *a)
{
    if (a == NULL)
        return;
    rpc_client_free(a->rpc);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->jwks_cond);
    free(a->jwks_json);
    free(a);
}

/* The longest "/<service>/<method>" path the edge calls. */
#define EDGE_RPC_PATH_MAX 128

int
edge_authd_call(struct edge_authd *a, const char *rid, const ProtobufCServiceDescriptor *svc,
                const char *method, const ProtobufCMessage *req, ProtobufCMessage **out,
                struct rpc_status *st)
{
    struct rpc_status local;
    ProtobufCMessage *resp = NULL;
    char path[EDGE_RPC_PATH_MAX];
    int n = -1;

    if (st == NULL)
        st = &local;
    memset(st, 0, sizeof(*st));
    if (out != NULL)
        *out = NULL;
    const ProtobufCMethodDescriptor *md =
        svc != NULL && method != NULL
            ? protobuf_c_service_descriptor_get_method_by_name(svc, method)
            : NULL;
    if (md != NULL)
        n = snprintf(path, sizeof(path), "/%s/%s", svc->name, md->name);
    if (md == NULL || req == NULL || req->descriptor != md->input || n < 0 ||
        (size_t)n >= sizeof(path)) {
        log_event(LOG_ERROR, "rpc_misuse", "rid=%s service=%s method=%s", rid != NULL ? rid : "-",
                  svc != NULL ? svc->name : "-", method != NULL ? method : "-");
        return AUTHD_ERR_INVALID_ARGUMENT;
    }
    /* authd knows the edge by its client certificate (or, in development, as a loopback
     * caller): no metadata says who is calling. */
    int r = rpc_call(a->rpc, path, req, md->output, &resp, a->timeout_ms, st);
    if (r == AUTHD_OK && resp == NULL)
        r = AUTHD_ERR_INTERNAL;
    if (r != AUTHD_OK) {
        /* Failures about reaching authd or the edge's own role are the operator's concern;
         * the user's input (a wrong password) and a client's OAuth mistakes (which have enum
         * values of their own) are not. The status message is authd's and never holds a
         * secret (rpc.h: rpc_ctx_set_message). */
        int unexpected = r == AUTHD_ERR_UNAVAILABLE || r == AUTHD_ERR_DEADLINE ||
                         r == AUTHD_ERR_INTERNAL || r == AUTHD_ERR_PERMISSION_DENIED ||
                         r == AUTHD_ERR_UNIMPLEMENTED || r == AUTHD_ERR_STORAGE ||
                         r == AUTHD_ERR_NOMEM;
        char qmsg[300];
        log_event(unexpected ? LOG_WARN : LOG_DEBUG, "rpc_error",
                  "rid=%s method=%s err=%s code=%d msg=%s", rid != NULL ? rid : "-", path,
                  authd_err_reason(r), st->code, log_quote(st->message, qmsg, sizeof(qmsg)));
    }
    if (out != NULL)
        *out = resp;
    else
        rpc_msg_free(resp);
    return r;
}

int
edge_authd_session_get(struct edge_authd *a, const char *rid, const char *session_token,
                       const char *bearer_token, int allow_pending,
                       Authd__V1__SessionResponse **out)
{
    Authd__V1__GetSessionRequest req = AUTHD__V1__GET_SESSION_REQUEST__INIT;
    req.session_token = edge_authd_str(session_token);
    req.bearer_token = edge_authd_str(bearer_token);
    req.allow_pending = allow_pending != 0;
    return edge_authd_call(a, rid, &authd__v1__sessions__descriptor, "Get", &req.base,
                           (ProtobufCMessage **)out, NULL);
}
