/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RPC wrappers and the AuthConfig cache. The cache is refreshed by whichever request first
 * finds it older than EDGE_CONFIG_TTL_MS; the mutex is never held across the RPC, so a slow
 * authd delays one request, not all of them.
 */
#include "authd_client.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "err.h"
#include "grpc/health/v1/health.pb-c.h"
#include "log.h"
#include "rpc.h"

#define EDGE_CONFIG_TTL_MS 2000

struct edge_authd {
    struct rpc_client *rpc;
    int timeout_ms;
    pthread_mutex_t mu;
    struct edge_config cfg; /* last good copy, or the defaults */
    int fetched;            /* an attempt was made at fetched_ms */
    int refreshing;         /* one thread is asking authd right now */
    uint64_t fetched_ms;
};

static uint64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* protobuf-c packs a NULL string as absent, but say "" explicitly rather than rely on it. */
static char *
str_arg(const char *s)
{
    return (char *)(s != NULL ? s : "");
}

static void
copy_text(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src != NULL ? src : "");
}

static int
origin_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == ':' || c == '[' || c == ']';
}

/*
 * Copies url into dst when it is an http(s) URL or a root-relative path ("/x", not "//x") that
 * fits, and writes its origin (absolute URLs only) into origin. Returns 1 when kept, 0 when
 * dropped (dst and origin are then "").
 */
static int
copy_url(char *dst, size_t cap, char *origin, size_t ocap, const char *url)
{
    dst[0] = '\0';
    if (origin != NULL)
        origin[0] = '\0';
    if (url == NULL || url[0] == '\0')
        return 0;
    size_t len = strlen(url);
    if (len >= cap)
        return 0;
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '"' || *p == '\'' || *p == '<' ||
            *p == '>' || *p == '\\')
            return 0;
    const char *host = NULL;
    if (strncasecmp(url, "https://", 8) == 0)
        host = url + 8;
    else if (strncasecmp(url, "http://", 7) == 0)
        host = url + 7;
    else if (url[0] != '/' || url[1] == '/')
        return 0;
    if (host != NULL) {
        size_t hlen = strcspn(host, "/?#");
        if (hlen == 0)
            return 0;
        for (size_t i = 0; i < hlen; i++)
            if (!origin_char_ok(host[i]))
                return 0;
        size_t olen = (size_t)(host - url) + hlen;
        if (origin != NULL) {
            if (olen >= ocap)
                return 0;
            memcpy(origin, url, olen);
            origin[olen] = '\0';
            for (size_t i = 0; i < olen; i++)
                if (origin[i] >= 'A' && origin[i] <= 'Z')
                    origin[i] = (char)(origin[i] - 'A' + 'a');
        }
    }
    memcpy(dst, url, len + 1);
    return 1;
}

void
edge_config_default(struct edge_config *c)
{
    memset(c, 0, sizeof(*c));
    copy_text(c->title, sizeof(c->title), "authd");
    copy_text(c->brand, sizeof(c->brand), "authd");
}

void
edge_config_from_msg(struct edge_config *c, const Authd__V1__AuthConfig *cfg)
{
    edge_config_default(c);
    if (cfg == NULL)
        return;
    const Authd__V1__Theme *t = cfg->theme;
    if (t != NULL) {
        if (t->title != NULL && t->title[0] != '\0')
            copy_text(c->title, sizeof(c->title), t->title);
        if (t->brand != NULL && t->brand[0] != '\0')
            copy_text(c->brand, sizeof(c->brand), t->brand);
        else
            copy_text(c->brand, sizeof(c->brand), c->title);
        if (!copy_url(c->style_url, sizeof(c->style_url), c->style_origin, sizeof(c->style_origin),
                      t->style_url) &&
            t->style_url != NULL && t->style_url[0] != '\0')
            log_event(LOG_WARN, "config_ignored", "field=theme.styleUrl reason=unsafe_url");
        if (!copy_url(c->forgot_url, sizeof(c->forgot_url), NULL, 0, t->forgot_password_url) &&
            t->forgot_password_url != NULL && t->forgot_password_url[0] != '\0')
            log_event(LOG_WARN, "config_ignored",
                      "field=theme.forgotPasswordUrl reason=unsafe_url");
    }
    c->asid_cookie_max_age = cfg->asid_cookie_max_age > 0 ? cfg->asid_cookie_max_age : 0;
}

int
edge_authd_new(const char *target, int timeout_ms, struct edge_authd **out)
{
    *out = NULL;
    struct edge_authd *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return AUTHD_ERR_NOMEM;
    int r = rpc_client_new(target, &a->rpc);
    if (r != AUTHD_OK) {
        free(a);
        return r;
    }
    a->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
    pthread_mutex_init(&a->mu, NULL);
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
    free(a);
}

/* One unary call; logs failures that are about reaching authd rather than the user's input. */
static int
call(struct edge_authd *a, const char *rid, const char *method, const ProtobufCMessage *req,
     const ProtobufCMessageDescriptor *desc, ProtobufCMessage **resp)
{
    struct rpc_status st;
    memset(&st, 0, sizeof(st));
    *resp = NULL;
    int r = rpc_call(a->rpc, method, req, desc, resp, a->timeout_ms, &st);
    if (r == AUTHD_OK && *resp == NULL)
        r = AUTHD_ERR_INTERNAL;
    if (r != AUTHD_OK) {
        int unexpected = r == AUTHD_ERR_UNAVAILABLE || r == AUTHD_ERR_DEADLINE ||
                         r == AUTHD_ERR_INTERNAL || r == AUTHD_ERR_PERMISSION_DENIED ||
                         r == AUTHD_ERR_UNIMPLEMENTED || r == AUTHD_ERR_STORAGE ||
                         r == AUTHD_ERR_NOMEM;
        char qmsg[300];
        log_event(unexpected ? LOG_WARN : LOG_DEBUG, "rpc_error",
                  "rid=%s method=%s err=%s code=%d msg=%s", rid != NULL ? rid : "-", method,
                  authd_err_reason(r), st.code, log_quote(st.message, qmsg, sizeof(qmsg)));
    }
    return r;
}

void
edge_authd_config(struct edge_authd *a, int refresh, struct edge_config *out)
{
    uint64_t now = now_ms();
    int fetch = 0;

    pthread_mutex_lock(&a->mu);
    if (refresh && !a->refreshing && (!a->fetched || now - a->fetched_ms >= EDGE_CONFIG_TTL_MS)) {
        a->refreshing = 1;
        fetch = 1;
    }
    if (!fetch)
        *out = a->cfg;
    pthread_mutex_unlock(&a->mu);
    if (!fetch)
        return;

    Authd__V1__GetAuthConfigRequest req = AUTHD__V1__GET_AUTH_CONFIG_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    int r = call(a, "config", "/authd.v1.Admin/GetAuthConfig", &req.base,
                 &authd__v1__auth_config__descriptor, &resp);
    struct edge_config fresh;
    if (r == AUTHD_OK)
        edge_config_from_msg(&fresh, (const Authd__V1__AuthConfig *)resp);
    else if (r == AUTHD_ERR_NOT_FOUND)
        edge_config_default(&fresh); /* no AuthConfig stored: the defaults are the truth */
    rpc_msg_free(resp);

    pthread_mutex_lock(&a->mu);
    if (r == AUTHD_OK || r == AUTHD_ERR_NOT_FOUND)
        a->cfg = fresh;
    /* A failed attempt also waits a full TTL, so a down authd is not asked on every page. */
    a->fetched = 1;
    a->fetched_ms = now_ms();
    a->refreshing = 0;
    *out = a->cfg;
    pthread_mutex_unlock(&a->mu);
}

int
edge_authd_ready(struct edge_authd *a, const char *rid)
{
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    int r = call(a, rid, "/grpc.health.v1.Health/Check", &req.base,
                 &grpc__health__v1__health_check_response__descriptor, &resp);
    int ready =
        r == AUTHD_OK && ((Grpc__Health__V1__HealthCheckResponse *)resp)->status ==
                             GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    rpc_msg_free(resp);
    return ready;
}

int
edge_authd_signup_start(struct edge_authd *a, const char *rid, const char *email,
                        const Authd__V1__ClientContext *client, const char *client_ip,
                        Authd__V1__StartSignupResponse **out)
{
    Authd__V1__StartSignupRequest req = AUTHD__V1__START_SIGNUP_REQUEST__INIT;
    req.email = str_arg(email);
    req.client = (Authd__V1__ClientContext *)client;
    req.client_ip = str_arg(client_ip);
    return call(a, rid, "/authd.v1.Signup/Start", &req.base,
                &authd__v1__start_signup_response__descriptor, (ProtobufCMessage **)out);
}

int
edge_authd_signup_get(struct edge_authd *a, const char *rid, const char *token,
                      Authd__V1__GetSignupResponse **out)
{
    Authd__V1__TokenRequest req = AUTHD__V1__TOKEN_REQUEST__INIT;
    req.token = str_arg(token);
    return call(a, rid, "/authd.v1.Signup/Get", &req.base,
                &authd__v1__get_signup_response__descriptor, (ProtobufCMessage **)out);
}

int
edge_authd_signup_complete(struct edge_authd *a, const char *rid, const char *token,
                           const char *password, const char *client_ip, const char *user_agent,
                           Authd__V1__CompleteSignupResponse **out)
{
    Authd__V1__CompleteSignupRequest req = AUTHD__V1__COMPLETE_SIGNUP_REQUEST__INIT;
    req.token = str_arg(token);
    req.password = str_arg(password);
    req.client_ip = str_arg(client_ip);
    req.user_agent = str_arg(user_agent);
    return call(a, rid, "/authd.v1.Signup/Complete", &req.base,
                &authd__v1__complete_signup_response__descriptor, (ProtobufCMessage **)out);
}

int
edge_authd_login(struct edge_authd *a, const char *rid, const char *email, const char *password,
                 const char *client_ip, const char *user_agent, Authd__V1__SessionResponse **out)
{
    Authd__V1__LoginRequest req = AUTHD__V1__LOGIN_REQUEST__INIT;
    req.email = str_arg(email);
    req.password = str_arg(password);
    req.client_ip = str_arg(client_ip);
    req.user_agent = str_arg(user_agent);
    return call(a, rid, "/authd.v1.Sessions/Login", &req.base,
                &authd__v1__session_response__descriptor, (ProtobufCMessage **)out);
}

int
edge_authd_session_get(struct edge_authd *a, const char *rid, const char *session_token,
                       Authd__V1__SessionResponse **out)
{
    Authd__V1__GetSessionRequest req = AUTHD__V1__GET_SESSION_REQUEST__INIT;
    req.session_token = str_arg(session_token);
    return call(a, rid, "/authd.v1.Sessions/Get", &req.base,
                &authd__v1__session_response__descriptor, (ProtobufCMessage **)out);
}

int
edge_authd_session_revoke(struct edge_authd *a, const char *rid, const char *session_token)
{
    Authd__V1__RevokeSessionRequest req = AUTHD__V1__REVOKE_SESSION_REQUEST__INIT;
    req.session_token = str_arg(session_token);
    ProtobufCMessage *resp = NULL;
    int r =
        call(a, rid, "/authd.v1.Sessions/Revoke", &req.base, &authd__v1__empty__descriptor, &resp);
    rpc_msg_free(resp);
    return r;
}

int
edge_authd_change_password(struct edge_authd *a, const char *rid, const char *session_token,
                           const char *current_password, const char *new_password)
{
    Authd__V1__ChangePasswordRequest req = AUTHD__V1__CHANGE_PASSWORD_REQUEST__INIT;
    req.session_token = str_arg(session_token);
    req.current_password = str_arg(current_password);
    req.new_password = str_arg(new_password);
    ProtobufCMessage *resp = NULL;
    int r = call(a, rid, "/authd.v1.Sessions/ChangePassword", &req.base,
                 &authd__v1__empty__descriptor, &resp);
    rpc_msg_free(resp);
    return r;
}

int
edge_authd_reset_start(struct edge_authd *a, const char *rid, const char *email,
                       const Authd__V1__ClientContext *client, const char *client_ip,
                       Authd__V1__StartResetResponse **out)
{
    Authd__V1__StartResetRequest req = AUTHD__V1__START_RESET_REQUEST__INIT;
    req.email = str_arg(email);
    req.client = (Authd__V1__ClientContext *)client;
    req.client_ip = str_arg(client_ip);
    return call(a, rid, "/authd.v1.PasswordReset/Start", &req.base,
                &authd__v1__start_reset_response__descriptor, (ProtobufCMessage **)out);
}

int
edge_authd_reset_get(struct edge_authd *a, const char *rid, const char *token,
                     Authd__V1__GetResetResponse **out)
{
    Authd__V1__TokenRequest req = AUTHD__V1__TOKEN_REQUEST__INIT;
    req.token = str_arg(token);
    return call(a, rid, "/authd.v1.PasswordReset/Get", &req.base,
                &authd__v1__get_reset_response__descriptor, (ProtobufCMessage **)out);
}

int
edge_authd_reset_complete(struct edge_authd *a, const char *rid, const char *token,
                          const char *password, Authd__V1__CompleteResetResponse **out)
{
    Authd__V1__CompleteResetRequest req = AUTHD__V1__COMPLETE_RESET_REQUEST__INIT;
    req.token = str_arg(token);
    req.password = str_arg(password);
    return call(a, rid, "/authd.v1.PasswordReset/Complete", &req.base,
                &authd__v1__complete_reset_response__descriptor, (ProtobufCMessage **)out);
}
