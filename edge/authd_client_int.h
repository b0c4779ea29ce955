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
    int refusing; /* edge_authd_refuse_calls(); atomic */
    pthread_mutex_t mu;
    struct edge_config cfg; /* last good copy, or the defaults */
    int fetched;            /* an attempt was made at fetched_ms */
    int refreshing;         /* one thread is asking authd right now */
    uint64_t fetched_ms;
    /* OAuth.Jwks (jwks_cache.c; the discovery document needs its issuer), under mu. Calls are
     * numbered: jwks_started counts those begun, jwks_done those finished (one at a time, so
     * they finish in order); a request that needs a fresh answer waits on jwks_cond for a call
     * begun after it arrived. */
    char *jwks_json; /* last good copy, or NULL */
    char issuer[EDGE_ISSUER_MAX];
    int jwks_max_age_ms; /* --jwks-max-age-ms (0: every answer fresh) */
    int jwks_refreshing; /* a call is in flight */
    uint64_t jwks_started, jwks_done;
    int jwks_last_err;        /* the result of call jwks_done */
    pthread_cond_t jwks_cond; /* broadcast when a call finishes */
    unsigned jwks_waiting;    /* requests waiting on jwks_cond (gauge edge_jwks_waiting) */
    uint64_t jwks_fetched_ms; /* start of the last finished call, good or not; 0 = never */
    uint64_t jwks_good_ms;    /* start of the call that brought jwks_json */
    int64_t jwks_hard_ms;     /* that answer's cache_max_ms: the copy serves no longer */
    /* The background refresher (jwks_cache.c), started by the first copy that needs a refresh
     * and stopped by edge_authd_free: it makes call number jwks_wanted when asked. */
    pthread_t jwks_thread;
    int jwks_thread_on; /* jwks_thread runs */
    int jwks_stop;      /* asks it to end */
    uint64_t jwks_wanted;
    enum ready_state ready; /* the last readiness answer, to log only its changes */
    /* Calls in flight without a thread each (edge_authd_async_*): the queue, the thread that
     * serves it, and the calls sent and not yet back (under async_mu), for cancel_all. */
    struct rpc_queue *queue;
    pthread_t cq_thread;
    int cq_started;
    pthread_mutex_t async_mu;
    struct edge_async *flight;
};

/* CLOCK_MONOTONIC in milliseconds, for the caches' ages. */
uint64_t edge_authd_now_ms(void);

#endif
