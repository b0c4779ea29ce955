/* SPDX-License-Identifier: Apache-2.0 */
/*
 * grpc.health.v1.Health/Check, so that standard probes work. authd answers SERVING for the
 * whole server ("") and for each service it serves by full name (the same list the server
 * registers, authd_services()), and NOT_FOUND for any other name, as the health protocol says.
 * Health/Watch, for gRPC's client-side health checking, sends the same status once (an unknown
 * name: SERVICE_UNKNOWN, as the protocol says for Watch) and keeps the stream open (RPC_WATCH).
 */
#include <string.h>

#include "authd/authd.h"
#include "authd/roles.h"
#include "common/err.h"
#include "grpc/health/v1/health.pb-c.h"

/* 1 when name is "" (the whole server) or a service authd serves. */
static int
health_known(struct rpc_ctx *ctx, const char *name)
{
    struct rpc_service svcs[16];
    size_t n = authd_services(rpc_ctx_arg(ctx), svcs, sizeof(svcs) / sizeof(svcs[0]));
    int known = name[0] == '\0';
    for (size_t i = 0; i < n && !known; i++)
        known = strcmp(name, svcs[i].desc->name) == 0;
    return known;
}

static int
health_check(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    const Grpc__Health__V1__HealthCheckRequest *req = (const void *)reqm;
    Grpc__Health__V1__HealthCheckResponse *resp = (void *)respm;
    if (!health_known(ctx, req->service)) {
        rpc_ctx_set_message(ctx, "unknown service");
        return AUTHD_ERR_NOT_FOUND;
    }
    resp->status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    return AUTHD_OK;
}

static int
health_watch(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    const Grpc__Health__V1__HealthCheckRequest *req = (const void *)reqm;
    Grpc__Health__V1__HealthCheckResponse *resp = (void *)respm;
    resp->status = health_known(ctx, req->service)
                       ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                       : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN;
    return AUTHD_OK;
}

const struct rpc_method authd_health_methods[] = {
    {"Check", health_check, RPC_INLINE, ROLE_OPEN},
    {"Watch", health_watch, RPC_INLINE | RPC_WATCH, ROLE_OPEN},
};
const size_t authd_health_n_methods =
    sizeof(authd_health_methods) / sizeof(authd_health_methods[0]);
