/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The readiness probe: Health/Check, then Admin.GetAuthConfig, whose refusal shows an edge
 * that authd does not take for one. Only changes of the answer are logged.
 */
#include "edge/readiness.h"

#include <pthread.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "edge/authd_client.h"
#include "edge/authd_client_int.h"
#include "grpc/health/v1/health.pb-c.h"

static const char *const ready_reasons[] = {
    [READY_UNKNOWN] = "unknown",
    [READY_OK] = NULL,
    [READY_UNREACHABLE] = "authd_unreachable",
    [READY_NOT_SERVING] = "authd_not_serving",
    [READY_ROLE_REFUSED] = "edge_role_refused",
    [READY_ERROR] = "authd_error",
};

/* The state an error of a readiness call stands for. */
static enum ready_state
ready_state_of(int err)
{
    switch (err) {
    case AUTHD_ERR_UNAVAILABLE:
    case AUTHD_ERR_DEADLINE:
        return READY_UNREACHABLE;
    case AUTHD_ERR_PERMISSION_DENIED:
    case AUTHD_ERR_UNAUTHENTICATED:
        return READY_ROLE_REFUSED;
    default:
        return READY_ERROR;
    }
}

/*
 * One probe: Health/Check, then Admin.GetAuthConfig to see that authd takes this edge for an
 * edge. rpc_call() directly, not edge_authd_call(): the caller logs changes only. st gets the
 * status of the call that failed.
 */
static enum ready_state
ready_probe(struct edge_authd *a, struct rpc_status *st)
{
    Grpc__Health__V1__HealthCheckRequest hreq = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    int r =
        rpc_call(a->rpc, "/grpc.health.v1.Health/Check", &hreq.base,
                 &grpc__health__v1__health_check_response__descriptor, &resp, a->timeout_ms, st);
    int serving = r == AUTHD_OK && resp != NULL &&
                  ((Grpc__Health__V1__HealthCheckResponse *)resp)->status ==
                      GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    rpc_msg_free(resp);
    if (r != AUTHD_OK)
        return ready_state_of(r);
    if (!serving)
        return READY_NOT_SERVING;

    Authd__V1__GetAuthConfigRequest creq = AUTHD__V1__GET_AUTH_CONFIG_REQUEST__INIT;
    resp = NULL;
    r = rpc_call(a->rpc, "/authd.v1.Admin/GetAuthConfig", &creq.base,
                 &authd__v1__auth_config__descriptor, &resp, a->timeout_ms, st);
    rpc_msg_free(resp); /* wiped: the webhook headers may hold credentials */
    if (r == AUTHD_OK || r == AUTHD_ERR_NOT_FOUND)
        return READY_OK;
    return ready_state_of(r);
}

int
edge_authd_ready(struct edge_authd *a, const char *rid, const char **reason)
{
    struct rpc_status st;
    memset(&st, 0, sizeof(st));
    enum ready_state now = ready_probe(a, &st);
    *reason = ready_reasons[now];

    pthread_mutex_lock(&a->mu);
    if (now != a->ready) {
        /* Under the lock, so that two probes that see a change log it in the order they
         * recorded it. */
        a->ready = now;
        char qmsg[300];
        if (now == READY_OK)
            log_event(LOG_INFO, "readiness", "rid=%s ready=1", rid != NULL ? rid : "-");
        else
            log_event(LOG_WARN, "readiness", "rid=%s ready=0 reason=%s code=%d msg=%s",
                      rid != NULL ? rid : "-", ready_reasons[now], st.code,
                      log_quote(st.message, qmsg, sizeof(qmsg)));
    }
    pthread_mutex_unlock(&a->mu);
    return now == READY_OK;
}
