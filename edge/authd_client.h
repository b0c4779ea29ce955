/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The edge's side of the RPC contract: one struct rpc_client shared by every request thread and
 * one generic call over the protobuf-c service descriptors, which every flow uses to ask authd
 * (a request message of the method's input type in, an answer of its output type and a status
 * out). The caches the edge keeps hang off the same struct: the AuthConfig (authconfig.h), the
 * key set (jwks_cache.h) and the last readiness answer (readiness.h).
 */
#ifndef AUTHD_EDGE_AUTHD_CLIENT_H
#define AUTHD_EDGE_AUTHD_CLIENT_H

#include <stdint.h>

#include "authd/v1/admin.pb-c.h"
#include "authd/v1/oauth.pb-c.h"
#include "authd/v1/sessions.pb-c.h"
#include "authd/v1/signup.pb-c.h"
#include "authd/v1/twofactor.pb-c.h"
#include "authd/v1/users.pb-c.h"
#include "edge/authconfig.h"
#include "proto/rpc.h"

struct edge_authd;

/*
 * Opens the client for target ("127.0.0.1:50051"); timeout_ms is every call's deadline.
 * AUTHD_OK, AUTHD_ERR_NOMEM or AUTHD_ERR_INVALID_ARGUMENT. Free with edge_authd_free().
 */
int edge_authd_new(const char *target, int timeout_ms, struct edge_authd **out);

/*
 * edge_authd_new() over TLS (tls NULL: plaintext): authd's certificate is verified against
 * tls->ca_pem, and tls->cert_pem/key_pem, when given, are the edge's own certificate for mutual
 * TLS (see struct rpc_tls). tls is borrowed for this call only: the caller may wipe the key
 * right after. AUTHD_ERR_INVALID_ARGUMENT also for a tls without CA or with half a key pair.
 */
int edge_authd_new_tls(const char *target, const struct rpc_tls *tls, int timeout_ms,
                       struct edge_authd **out);

/* Closes the client. NULL is a no-op. No call may be in flight. */
void edge_authd_free(struct edge_authd *a);

/*
 * From now on every blocking call fails at once with AUTHD_ERR_UNAVAILABLE (the server is
 * stopping: a page flow still running answers 503 instead of making its next call). Calls in
 * flight are not cut. Thread-safe; NULL is a no-op.
 */
void edge_authd_refuse_calls(struct edge_authd *a);

/*
 * One blocking unary call to authd, with the configured deadline: the method named method
 * ("Login") of the service svc (e.g. &authd__v1__sessions__descriptor). req is a message of the
 * method's input type, borrowed (it may hold a password: the caller wipes its own copies); a
 * NULL string field is sent as "" (proto3). Returns AUTHD_OK or authd's enum authd_err.
 * On AUTHD_OK *out (out may be NULL when nobody reads the answer) is the decoded answer, of the
 * method's output type and owned by the caller: free it with rpc_msg_free(), which wipes it.
 * On failure *out is NULL and st, when not NULL (cleared on entry), holds authd's status: the
 * reason, the message (human text), the OAuth error code (st->oauth_error, see oauth_util.h)
 * and a lockout's seconds (st->retry_after, see edge_http_retry_after()). A method that svc
 * does not have, or a req of another type, is AUTHD_ERR_INVALID_ARGUMENT (a bug, logged).
 * Failures to reach authd are logged here with the request id rid.
 */
int edge_authd_call(struct edge_authd *a, const char *rid, const ProtobufCServiceDescriptor *svc,
                    const char *method, const ProtobufCMessage *req, ProtobufCMessage **out,
                    struct rpc_status *st);

/*
 * Calls in flight for a request whose connection is suspended (server.c, pool mode): the
 * request's flow runs once on the server's thread with its async context entered; its first
 * edge_authd_call() does not block but prepares the call and returns EDGE_ERR_PENDING, and the
 * flow returns at once without answering. The server then suspends the connection and sends
 * the call (edge_authd_async_go()); the completion thread stores the outcome and calls wake,
 * which resumes the connection; the server runs the flow again from the top, and this time the
 * same edge_authd_call() returns the stored outcome (and the next call, if any, is prepared in
 * turn). So a flow run this way must do nothing before its calls that it cannot do twice (its
 * answer, logs and counters come after them), and must return as soon as a call returns
 * EDGE_ERR_PENDING. Every flow keeps working unchanged with the context not entered (blocking
 * calls, the default mode).
 */
#define EDGE_ERR_PENDING (-1000) /* not an enum authd_err: never reaches an answer */
#define EDGE_ASYNC_MAX 4         /* calls one flow may make this way */

struct rpc_pending;

struct edge_async_result {
    const ProtobufCMethodDescriptor *md;
    int err;
    ProtobufCMessage *resp; /* owned until handed to the flow */
    struct rpc_status st;
};

/* Zeroed by its owner (calloc) before the first use; the fields are edge_authd's. */
struct edge_async {
    struct edge_async_result res[EDGE_ASYNC_MAX];
    unsigned n_done;                       /* outcomes stored, in call order */
    unsigned next;                         /* calls made by the flow in this pass */
    struct rpc_pending *p;                 /* prepared or in flight */
    const ProtobufCMethodDescriptor *p_md; /* its method */
    char rid[24];
    void (*wake)(void *arg); /* from the completion thread, once per call sent */
    void *wake_arg;
    struct edge_async *prev, *next_flight; /* edge_authd's list of calls in flight */
};

/*
 * Starts the completion thread (once, before the first edge_authd_async_go()). AUTHD_OK or
 * AUTHD_ERR_NOMEM / AUTHD_ERR_INTERNAL. edge_authd_free() stops it.
 */
int edge_authd_async_start(struct edge_authd *a);

/*
 * Runs the flow's calls through x on this thread until edge_authd_async_leave(), which
 * returns 1 when a call was prepared (EDGE_ERR_PENDING was returned), 0 when the flow is done.
 */
void edge_authd_async_enter(struct edge_async *x);
int edge_authd_async_leave(void);

/*
 * Sends x's prepared call; wake(arg) runs on the completion thread when its outcome is stored.
 * AUTHD_OK; else the call could not be sent, its error is stored as its outcome and wake is
 * not called (the caller replays the flow itself).
 */
int edge_authd_async_go(struct edge_authd *a, struct edge_async *x, void (*wake)(void *arg),
                        void *arg);

/* Makes every call in flight finish now (as CANCELLED): for a server that is stopping. */
void edge_authd_async_cancel_all(struct edge_authd *a);

/* Frees (wiping) the outcomes x still holds; no call of x may be in flight. */
void edge_authd_async_clear(struct edge_async *x);

/* A borrowed C string as a request's string field (protobuf-c's are char *); NULL gives "". */
static inline char *
edge_authd_str(const char *s)
{
    return (char *)(s != NULL ? s : "");
}

/*
 * Sessions.Get, which four places ask, for the browser's session (session_token, the cookie's)
 * or a bearer (bearer_token: a session token or a user's OAuth access token, which authd tells
 * apart); one of the two is given, the other NULL. With allow_pending authd also answers for a
 * session whose second factor is still pending (session->authenticated is then 0); without,
 * such a session is refused.
 */
int edge_authd_session_get(struct edge_authd *a, const char *rid, const char *session_token,
                           const char *bearer_token, int allow_pending,
                           Authd__V1__SessionResponse **out);

#endif
