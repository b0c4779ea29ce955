/* SPDX-License-Identifier: Apache-2.0 */
/*
 * struct edge_authd, private to the files that keep its state: authd_client.c (the client and
 * the generic call), authconfig.c (the AuthConfig cache), readiness.c (the last readiness
 * answer) and jwks_cache.c (the key set cache). Nothing else includes this header.
 */
#ifndef AUTHD_EDGE_AUTHD_CLIENT_INT_H
#define AUTHD_EDGE_AUTHD_CLIENT_INT_H

#include <pthread.h>
#include <stdint.h>

#include "edge/authconfig.h"
#include "edge/jwks_cache.h"
#include "proto/rpc.h"

/* The answers of the readiness probe (edge_authd_ready()); 0 = no probe yet. */
enum ready_state {
    READY_UNKNOWN = 0,
    READY_OK,
    READY_UNREACHABLE,
    READY_NOT_SERVING,
    READY_ROLE_REFUSED,
    READY_ERROR,
};

struct edge_authd {
    struct rpc_client *rpc;
    int timeout_ms;
    pthread_mutex_t mu;
    struct edge_config cfg; /* last good copy, or the defaults */
    int fetched;            /* an attempt was made at fetched_ms */
    int refreshing;         /* one thread is asking authd right now */
    uint64_t fetched_ms;
    /* OAuth.Jwks, the same way (the discovery document needs its issuer). */
    char *jwks_json; /* last good copy, or NULL */
    char issuer[EDGE_ISSUER_MAX];
    int jwks_refreshing;
    uint64_t jwks_fetched_ms; /* time of the last attempt; 0 = never */
    enum ready_state ready;   /* the last readiness answer, to log only its changes */
};

/* CLOCK_MONOTONIC in milliseconds, for the caches' ages. */
uint64_t edge_authd_now_ms(void);

#endif
