/* SPDX-License-Identifier: Apache-2.0 */
/*
 * grpc.health.v1.Health/Check, so that standard probes work. authd answers SERVING for the
 * whole server ("") and for each of its services by full name, SERVICE_UNKNOWN for others.
 */
#include <string.h>

#include "authd/authd.h"
#include "common/err.h"
#include "grpc/health/v1/health.pb-c.h"

static int
health_check(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    static const char *const known[] = {"",
                                        "authd.v1.Users",
                                        "authd.v1.Sessions",
                                        "authd.v1.Signup",
                                        "authd.v1.PasswordReset",
                                        "authd.v1.Admin",
                                        "authd.v1.TwoFactor",
                                        "authd.v1.ClientAdmin",
                                        "authd.v1.OAuth",
                                        "grpc.health.v1.Health"};
    const Grpc__Health__V1__HealthCheckRequest *req = (const void *)reqm;
    Grpc__Health__V1__HealthCheckResponse *resp = (void *)respm;
    (void)ctx;
    resp->status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(req->service, known[i]) == 0)
            resp->status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    return AUTHD_OK;
}

const struct rpc_method authd_health_methods[] = {
    {"Check", health_check, RPC_INLINE},
};
const size_t authd_health_n_methods =
    sizeof(authd_health_methods) / sizeof(authd_health_methods[0]);
