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
