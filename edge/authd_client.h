/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The edge's side of the RPC contract: one struct rpc_client shared by every request thread,
 * one wrapper per RPC the flows use, and the only cache the edge keeps, the AuthConfig.
 *
 * Wrappers take borrowed C strings (NULL is sent as ""), make one blocking call with the
 * configured deadline, and return AUTHD_OK or authd's enum authd_err. On AUTHD_OK *out is the
 * decoded answer, owned by the caller: free it with rpc_msg_free() (which wipes it). On failure
 * *out is NULL. Failures to reach authd are logged here with the request id rid.
 */
#ifndef AUTHD_EDGE_AUTHD_CLIENT_H
#define AUTHD_EDGE_AUTHD_CLIENT_H

#include <stdint.h>

#include "authd/v1/admin.pb-c.h"
#include "authd/v1/sessions.pb-c.h"
#include "authd/v1/signup.pb-c.h"

/* The parts of AuthConfig the edge uses, as plain strings; "" when unset. */
struct edge_config {
    char title[256];             /* theme.title, default "authd" */
    char brand[256];             /* theme.brand, default: the title */
    char style_url[1024];        /* theme.styleUrl when http(s):// or /path, else "" */
    char style_origin[512];      /* scheme://host[:port] of an absolute style_url, else "" */
    char forgot_url[1024];       /* theme.forgotPasswordUrl when http(s):// or /path, else "" */
    int64_t asid_cookie_max_age; /* seconds; 0 = browser-session cookie */
};

/* The defaults used before authd ever answered. */
void edge_config_default(struct edge_config *c);

/*
 * Fills c from an AuthConfig message (cfg may be NULL: defaults). URLs that are not http(s)
 * or root-relative paths are dropped, so a config can never put javascript: into a page.
 */
void edge_config_from_msg(struct edge_config *c, const Authd__V1__AuthConfig *cfg);

struct edge_authd;

/*
 * Opens the client for target ("127.0.0.1:50051"); timeout_ms is every call's deadline.
 * AUTHD_OK, AUTHD_ERR_NOMEM or AUTHD_ERR_INVALID_ARGUMENT. Free with edge_authd_free().
 */
int edge_authd_new(const char *target, int timeout_ms, struct edge_authd **out);

/* Closes the client. NULL is a no-op. No call may be in flight. */
void edge_authd_free(struct edge_authd *a);

/*
 * Copies the cached AuthConfig into *out. With refresh, a cache older than 2 s is refreshed
 * first by one caller (Admin.GetAuthConfig) while others keep using the previous copy; when
 * authd cannot be asked, the last good copy (or the defaults) is served.
 */
void edge_authd_config(struct edge_authd *a, int refresh, struct edge_config *out);

/* 1 when grpc.health.v1.Health/Check answers SERVING, else 0. */
int edge_authd_ready(struct edge_authd *a, const char *rid);

int edge_authd_signup_start(struct edge_authd *a, const char *rid, const char *email,
                            const Authd__V1__ClientContext *client, const char *client_ip,
                            Authd__V1__StartSignupResponse **out);
int edge_authd_signup_get(struct edge_authd *a, const char *rid, const char *token,
                          Authd__V1__GetSignupResponse **out);
int edge_authd_signup_complete(struct edge_authd *a, const char *rid, const char *token,
                               const char *password, const char *client_ip, const char *user_agent,
                               Authd__V1__CompleteSignupResponse **out);

int edge_authd_login(struct edge_authd *a, const char *rid, const char *email, const char *password,
                     const char *client_ip, const char *user_agent,
                     Authd__V1__SessionResponse **out);
int edge_authd_session_get(struct edge_authd *a, const char *rid, const char *session_token,
                           Authd__V1__SessionResponse **out);
/* Sessions.Revoke by token. AUTHD_OK or the error. */
int edge_authd_session_revoke(struct edge_authd *a, const char *rid, const char *session_token);
/* Sessions.ChangePassword. AUTHD_OK or the error. */
int edge_authd_change_password(struct edge_authd *a, const char *rid, const char *session_token,
                               const char *current_password, const char *new_password);

int edge_authd_reset_start(struct edge_authd *a, const char *rid, const char *email,
                           const Authd__V1__ClientContext *client, const char *client_ip,
                           Authd__V1__StartResetResponse **out);
int edge_authd_reset_get(struct edge_authd *a, const char *rid, const char *token,
                         Authd__V1__GetResetResponse **out);
int edge_authd_reset_complete(struct edge_authd *a, const char *rid, const char *token,
                              const char *password, Authd__V1__CompleteResetResponse **out);

#endif
