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
#include "common/secret.h"
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
    pthread_mutex_init(&a->async_mu, NULL);
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
    edge_authd_jwks_stop(a); /* its refresher calls through a->rpc */
    if (a->cq_started) {
        /* No call is in flight (the server stopped first): the thread sees the shutdown. */
        rpc_queue_shutdown(a->queue);
        pthread_join(a->cq_thread, NULL);
    }
    rpc_queue_free(a->queue);
    rpc_client_free(a->rpc);
    pthread_mutex_destroy(&a->async_mu);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->jwks_cond);
    free(a->jwks_json);
    free(a);
}

/* The longest "/<service>/<method>" path the edge calls. */
#define EDGE_RPC_PATH_MAX 128

/* The async context of the flow running on this thread (edge_authd_async_enter), or NULL. */
static __thread struct edge_async *cur_async;
static __thread int cur_pending;

/* Logs a failed call as the blocking path always did: the operator's concerns as warnings. */
static void
log_call_error(const char *rid, const char *path, int r, const struct rpc_status *st)
{
    /* Failures about reaching authd or the edge's own role are the operator's concern;
     * the user's input (a wrong password) and a client's OAuth mistakes (which have enum
     * values of their own) are not. The status message is authd's and never holds a
     * secret (rpc.h: rpc_ctx_set_message). */
    int unexpected = r == AUTHD_ERR_UNAVAILABLE || r == AUTHD_ERR_DEADLINE ||
                     r == AUTHD_ERR_INTERNAL || r == AUTHD_ERR_PERMISSION_DENIED ||
                     r == AUTHD_ERR_UNIMPLEMENTED || r == AUTHD_ERR_STORAGE || r == AUTHD_ERR_NOMEM;
    char qmsg[300];
    log_event(unexpected ? LOG_WARN : LOG_DEBUG, "rpc_error",
              "rid=%s method=%s err=%s code=%d msg=%s", rid != NULL ? rid : "-", path,
              authd_err_reason(r), st->code, log_quote(st->message, qmsg, sizeof(qmsg)));
}

/*
 * The call through the flow's async context x: the stored outcome of this call when there is
 * one (moved into *resp, *st), else the call is prepared and EDGE_ERR_PENDING returned.
 */
static int
async_call(struct edge_authd *a, struct edge_async *x, const char *rid, const char *path,
           const ProtobufCMethodDescriptor *md, const ProtobufCMessage *req,
           ProtobufCMessage **resp, struct rpc_status *st)
{
    unsigned i = x->next++;
    if (i < x->n_done) {
        struct edge_async_result *res = &x->res[i];
        if (res->md != md) { /* the flow did not repeat itself: a bug */
            log_event(LOG_ERROR, "rpc_misuse", "rid=%s method=%s reason=replay", rid, path);
            return AUTHD_ERR_INTERNAL;
        }
        *resp = res->resp;
        res->resp = NULL;
        *st = res->st;
        secret_wipe(&res->st, sizeof(res->st));
        return res->err;
    }
    if (i >= EDGE_ASYNC_MAX || x->p != NULL) {
        log_event(LOG_ERROR, "rpc_misuse", "rid=%s method=%s reason=too_many_calls", rid, path);
        return AUTHD_ERR_INTERNAL;
    }
    int r = rpc_call_prepare(a->rpc, a->queue, path, req, a->timeout_ms, x, &x->p);
    if (r != AUTHD_OK)
        return r;
    x->p_md = md;
    snprintf(x->rid, sizeof(x->rid), "%s", rid != NULL ? rid : "-");
    cur_pending = 1;
    return EDGE_ERR_PENDING;
}

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
    int r;
    struct edge_async *x = cur_async;
    if (__atomic_load_n(&a->refusing, __ATOMIC_SEQ_CST)) {
        st->code = 14; /* GRPC_STATUS_UNAVAILABLE */
        snprintf(st->reason, sizeof(st->reason), "%s", authd_err_reason(AUTHD_ERR_UNAVAILABLE));
        snprintf(st->message, sizeof(st->message), "%s", "the edge is stopping");
        return AUTHD_ERR_UNAVAILABLE;
    }
    if (x != NULL && a->queue != NULL) {
        r = async_call(a, x, rid, path, md, req, &resp, st);
        if (r == EDGE_ERR_PENDING)
            return r;
    } else {
        r = rpc_call(a->rpc, path, req, md->output, &resp, a->timeout_ms, st);
    }
    if (r == AUTHD_OK && resp == NULL)
        r = AUTHD_ERR_INTERNAL;
    if (r != AUTHD_OK) {
        rpc_msg_free(resp);
        resp = NULL;
        log_call_error(rid, path, r, st);
    }
    if (out != NULL)
        *out = resp;
    else
        rpc_msg_free(resp);
    return r;
}

/* ---- calls in flight ------------------------------------------------------------------- */

/* Stores the outcome of x's call (finished or never sent) and forgets the call. */
static void
async_store(struct edge_async *x, struct rpc_pending *p)
{
    struct edge_async_result *res = &x->res[x->n_done];
    res->md = x->p_md;
    res->err = rpc_call_finish(p, x->p_md->output, &res->resp, &res->st);
    x->p = NULL;
    x->n_done++;
}

/*
 * gRPC ends every call at its deadline; should one never come back, its connection would stay
 * suspended for good. So the completion thread looks over the calls in flight this often and
 * cancels one past its deadline plus the margin a blocking call allows (rpc_call_expire_overdue).
 */
#define EDGE_SWEEP_MS 1000

static void
sweep_overdue(struct edge_authd *a)
{
    pthread_mutex_lock(&a->async_mu);
    for (struct edge_async *x = a->flight; x != NULL; x = x->next_flight)
        if (rpc_call_expire_overdue(x->p))
            log_event(LOG_WARN, "rpc_overdue", "rid=%s reason=cancelled", x->rid);
    pthread_mutex_unlock(&a->async_mu);
}

static void *
cq_main(void *arg)
{
    struct edge_authd *a = arg;
    struct rpc_pending *p;
    void *user;
    struct timespec last, now;
    clock_gettime(CLOCK_MONOTONIC, &last);
    for (;;) {
        int got = rpc_queue_poll(a->queue, EDGE_SWEEP_MS, &p, &user);
        if (got == 0)
            break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - last.tv_sec) * 1000 + (now.tv_nsec - last.tv_nsec) / 1000000 >=
            EDGE_SWEEP_MS) {
            sweep_overdue(a);
            last = now;
        }
        if (got < 0)
            continue;
        struct edge_async *x = user;
        pthread_mutex_lock(&a->async_mu);
        if (x->prev != NULL)
            x->prev->next_flight = x->next_flight;
        else
            a->flight = x->next_flight;
        if (x->next_flight != NULL)
            x->next_flight->prev = x->prev;
        x->prev = x->next_flight = NULL;
        pthread_mutex_unlock(&a->async_mu);
        async_store(x, p);
        x->wake(x->wake_arg);
    }
    return NULL;
}

int
edge_authd_async_start(struct edge_authd *a)
{
    if (a->cq_started)
        return AUTHD_OK;
    int r = rpc_queue_new(&a->queue);
    if (r != AUTHD_OK)
        return r;
    if (pthread_create(&a->cq_thread, NULL, cq_main, a) != 0) {
        rpc_queue_shutdown(a->queue);
        rpc_queue_free(a->queue);
        a->queue = NULL;
        return AUTHD_ERR_INTERNAL;
    }
    a->cq_started = 1;
    return AUTHD_OK;
}

void
edge_authd_async_enter(struct edge_async *x)
{
    x->next = 0;
    cur_async = x;
    cur_pending = 0;
}

int
edge_authd_async_leave(void)
{
    cur_async = NULL;
    int p = cur_pending;
    cur_pending = 0;
    return p;
}

int
edge_authd_async_go(struct edge_authd *a, struct edge_async *x, void (*wake)(void *arg), void *arg)
{
    x->wake = wake;
    x->wake_arg = arg;
    pthread_mutex_lock(&a->async_mu);
    x->prev = NULL;
    x->next_flight = a->flight;
    if (a->flight != NULL)
        a->flight->prev = x;
    a->flight = x;
    int r = rpc_call_start(x->p);
    if (r != AUTHD_OK) {
        a->flight = x->next_flight;
        if (a->flight != NULL)
            a->flight->prev = NULL;
        x->next_flight = NULL;
    }
    pthread_mutex_unlock(&a->async_mu);
    if (r != AUTHD_OK)
        async_store(x, x->p);
    return r;
}

void
edge_authd_refuse_calls(struct edge_authd *a)
{
    if (a != NULL)
        __atomic_store_n(&a->refusing, 1, __ATOMIC_SEQ_CST);
}

void
edge_authd_async_cancel_all(struct edge_authd *a)
{
    if (a == NULL || a->queue == NULL)
        return;
    pthread_mutex_lock(&a->async_mu);
    for (struct edge_async *x = a->flight; x != NULL; x = x->next_flight)
        rpc_call_cancel(x->p);
    pthread_mutex_unlock(&a->async_mu);
}

void
edge_authd_async_clear(struct edge_async *x)
{
    for (unsigned i = 0; i < x->n_done; i++) {
        rpc_msg_free(x->res[i].resp);
        x->res[i].resp = NULL;
        secret_wipe(&x->res[i].st, sizeof(x->res[i].st));
    }
    if (x->p != NULL) { /* prepared, never sent */
        rpc_call_finish(x->p, x->p_md->output, NULL, NULL);
        x->p = NULL;
    }
    x->n_done = 0;
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
