/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RPC wrappers and the AuthConfig cache. The cache is refreshed by whichever request first
 * finds it older than EDGE_CONFIG_TTL_MS; the mutex is never held across the RPC, so a slow
 * authd delays one request, not all of them.
 */
#include "edge/authd_client.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/err.h"
#include "grpc/health/v1/health.pb-c.h"
#include "common/log.h"
#include "edge/oauth_util.h"
#include "proto/rpc.h"
#include "common/secret.h"

#define EDGE_CONFIG_TTL_MS 2000
#define EDGE_JWKS_TTL_MS 5000

/* The answers of the readiness probe (edge_authd_ready()); 0 = no probe yet. */
enum ready_state {
    READY_UNKNOWN = 0,
    READY_OK,
    READY_UNREACHABLE,
    READY_NOT_SERVING,
    READY_ROLE_REFUSED,
    READY_ERROR,
};

static const char *const ready_reasons[] = {
    [READY_UNKNOWN] = "unknown",
    [READY_OK] = NULL,
    [READY_UNREACHABLE] = "authd_unreachable",
    [READY_NOT_SERVING] = "authd_not_serving",
    [READY_ROLE_REFUSED] = "edge_role_refused",
    [READY_ERROR] = "authd_error",
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
    c->two_factor.webhook_timeout_ms = EDGE_WEBHOOK_TIMEOUT_DEFAULT;
}

/* 1 when c is an RFC 7230 tchar (the characters of a header name). */
static int
tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* 1 when name is a header name we may send: a token, and not one the edge sets itself. */
static int
webhook_header_name_ok(const char *name)
{
    if (name == NULL || name[0] == '\0')
        return 0;
    for (const char *p = name; *p; p++)
        if (!tchar(*p))
            return 0;
    return strcasecmp(name, "Content-Type") != 0 && strcasecmp(name, "Content-Length") != 0;
}

/* 1 when value holds no control byte but tab (so no CR/LF: no header injection). */
static int
webhook_header_value_ok(const char *value)
{
    for (const unsigned char *p = (const unsigned char *)value; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return 0;
    return 1;
}

/* Copies the webhook settings; anything unusable is dropped and logged (never a value). */
static void
webhook_from_msg(struct edge_two_factor_config *t, const Authd__V1__Webhook *w)
{
    if (w == NULL || w->endpoint == NULL || w->endpoint[0] == '\0')
        return;
    if ((strncasecmp(w->endpoint, "http://", 7) != 0 &&
         strncasecmp(w->endpoint, "https://", 8) != 0) ||
        !copy_url(t->webhook_endpoint, sizeof(t->webhook_endpoint), t->webhook_origin,
                  sizeof(t->webhook_origin), w->endpoint)) {
        t->webhook_endpoint[0] = '\0';
        t->webhook_origin[0] = '\0';
        log_event(LOG_WARN, "config_ignored", "field=twoFactor.webhook.endpoint reason=unsafe_url");
        return;
    }
    t->webhook_timeout_ms = w->timeout > 0 ? w->timeout : EDGE_WEBHOOK_TIMEOUT_DEFAULT;
    if (t->webhook_timeout_ms > EDGE_WEBHOOK_TIMEOUT_MAX)
        t->webhook_timeout_ms = EDGE_WEBHOOK_TIMEOUT_MAX;
    size_t used = 0;
    for (size_t i = 0; i < w->n_headers; i++) {
        const char *name = w->headers[i]->key;
        const char *value = w->headers[i]->value != NULL ? w->headers[i]->value : "";
        char qn[160];
        if (!webhook_header_name_ok(name) || !webhook_header_value_ok(value)) {
            log_event(LOG_WARN, "config_ignored",
                      "field=twoFactor.webhook.headers name=%s "
                      "reason=unsafe_header",
                      log_quote(name, qn, sizeof(qn)));
            continue;
        }
        size_t room = sizeof(t->webhook_headers) - used;
        int n = value[0] != '\0' ? snprintf(t->webhook_headers + used, room, "%s: %s", name, value)
                                 : snprintf(t->webhook_headers + used, room, "%s;", name);
        if (n < 0 || (size_t)n >= room) {
            secret_wipe(t->webhook_headers + used, room);
            log_event(LOG_WARN, "config_ignored",
                      "field=twoFactor.webhook.headers name=%s "
                      "reason=too_large",
                      log_quote(name, qn, sizeof(qn)));
            continue;
        }
        used += (size_t)n + 1;
        t->n_webhook_headers++;
    }
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
    const Authd__V1__TwoFactorConfig *tf = cfg->two_factor;
    if (tf != NULL) {
        struct edge_two_factor_config *etf = &c->two_factor;
        copy_text(etf->issuer_name, sizeof(etf->issuer_name), tf->issuer_name);
        etf->valid_past_tokens_count = tf->valid_past_tokens_count;
        copy_text(etf->algorithm, sizeof(etf->algorithm), tf->algorithm);
        etf->digits = tf->digits;
        etf->period = tf->period;
        webhook_from_msg(etf, tf->webhook);
    }
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
    free(a->jwks_json);
    free(a);
}

/*
 * One unary call; logs failures that are about reaching authd rather than the user's input.
 * The status message is authd's and never holds a secret (rpc.h: rpc_ctx_set_message).
 */
static int
call_st(struct edge_authd *a, const char *rid, const char *method, const ProtobufCMessage *req,
        const ProtobufCMessageDescriptor *desc, ProtobufCMessage **resp, struct rpc_status *st)
{
    struct rpc_status local;
    if (st == NULL)
        st = &local;
    memset(st, 0, sizeof(*st));
    *resp = NULL;
    /* authd knows the edge by its client certificate (or, in development, as a loopback
     * caller): no metadata says who is calling. */
    int r = rpc_call(a->rpc, method, req, desc, resp, a->timeout_ms, st);
    if (r == AUTHD_OK && *resp == NULL)
        r = AUTHD_ERR_INTERNAL;
    if (r != AUTHD_OK) {
        int unexpected = r == AUTHD_ERR_UNAVAILABLE || r == AUTHD_ERR_DEADLINE ||
                         r == AUTHD_ERR_INTERNAL || r == AUTHD_ERR_PERMISSION_DENIED ||
                         r == AUTHD_ERR_UNIMPLEMENTED || r == AUTHD_ERR_STORAGE ||
                         r == AUTHD_ERR_NOMEM;
        /* A client's unauthorized_client / unsupported_grant_type has an enum of its own: the
         * client's mistake, not the operator's concern, unlike PERMISSION_DENIED (the edge's
         * role refused) and UNIMPLEMENTED (no such method). */
        char qmsg[300];
        log_event(unexpected ? LOG_WARN : LOG_DEBUG, "rpc_error",
                  "rid=%s method=%s err=%s code=%d msg=%s", rid != NULL ? rid : "-", method,
                  authd_err_reason(r), st->code, log_quote(st->message, qmsg, sizeof(qmsg)));
    }
    return r;
}

static int
call(struct edge_authd *a, const char *rid, const char *method, const ProtobufCMessage *req,
     const ProtobufCMessageDescriptor *desc, ProtobufCMessage **resp)
{
    return call_st(a, rid, method, req, desc, resp, NULL);
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
    secret_wipe(&fresh, sizeof(fresh)); /* the webhook headers may hold credentials */
}

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
 * edge. rpc_call() directly, not call(): the caller logs changes only. st gets the status of
 * the call that failed.
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

int
edge_authd_signup_start(struct edge_authd *a, const char *rid, const char *email,
                        const Authd__V1__ClientContext *client, const char *client_ip,
                        Authd__V1__StartSignupResponse **out, struct rpc_status *st)
{
    Authd__V1__StartSignupRequest req = AUTHD__V1__START_SIGNUP_REQUEST__INIT;
    req.email = str_arg(email);
    req.client = (Authd__V1__ClientContext *)client;
    req.client_ip = str_arg(client_ip);
    return call_st(a, rid, "/authd.v1.Signup/Start", &req.base,
                   &authd__v1__start_signup_response__descriptor, (ProtobufCMessage **)out, st);
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
                 const char *client_ip, const char *user_agent, Authd__V1__SessionResponse **out,
                 struct rpc_status *st)
{
    Authd__V1__LoginRequest req = AUTHD__V1__LOGIN_REQUEST__INIT;
    req.email = str_arg(email);
    req.password = str_arg(password);
    req.client_ip = str_arg(client_ip);
    req.user_agent = str_arg(user_agent);
    return call_st(a, rid, "/authd.v1.Sessions/Login", &req.base,
                   &authd__v1__session_response__descriptor, (ProtobufCMessage **)out, st);
}

int
edge_authd_session_get(struct edge_authd *a, const char *rid, const char *session_token,
                       int allow_pending, Authd__V1__SessionResponse **out)
{
    Authd__V1__GetSessionRequest req = AUTHD__V1__GET_SESSION_REQUEST__INIT;
    req.session_token = str_arg(session_token);
    req.allow_pending = allow_pending != 0;
    return call(a, rid, "/authd.v1.Sessions/Get", &req.base,
                &authd__v1__session_response__descriptor, (ProtobufCMessage **)out);
}

int
edge_authd_verify_second_factor(struct edge_authd *a, const char *rid, const char *session_token,
                                const char *code, const char *recovery_code, const char *client_ip,
                                const char *user_agent, Authd__V1__SessionResponse **out,
                                struct rpc_status *st)
{
    Authd__V1__VerifySecondFactorRequest req = AUTHD__V1__VERIFY_SECOND_FACTOR_REQUEST__INIT;
    req.session_token = str_arg(session_token);
    req.code = str_arg(code);
    req.recovery_code = str_arg(recovery_code);
    req.client_ip = str_arg(client_ip);
    req.user_agent = str_arg(user_agent);
    return call_st(a, rid, "/authd.v1.Sessions/VerifySecondFactor", &req.base,
                   &authd__v1__session_response__descriptor, (ProtobufCMessage **)out, st);
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
                           const char *current_password, const char *new_password,
                           const char *client_ip, struct rpc_status *st)
{
    Authd__V1__ChangePasswordRequest req = AUTHD__V1__CHANGE_PASSWORD_REQUEST__INIT;
    req.session_token = str_arg(session_token);
    req.client_ip = str_arg(client_ip);
    req.current_password = str_arg(current_password);
    req.new_password = str_arg(new_password);
    ProtobufCMessage *resp = NULL;
    int r = call_st(a, rid, "/authd.v1.Sessions/ChangePassword", &req.base,
                    &authd__v1__empty__descriptor, &resp, st);
    rpc_msg_free(resp);
    return r;
}

int
edge_authd_reset_start(struct edge_authd *a, const char *rid, const char *email,
                       const Authd__V1__ClientContext *client, const char *client_ip,
                       Authd__V1__StartResetResponse **out, struct rpc_status *st)
{
    Authd__V1__StartResetRequest req = AUTHD__V1__START_RESET_REQUEST__INIT;
    req.email = str_arg(email);
    req.client = (Authd__V1__ClientContext *)client;
    req.client_ip = str_arg(client_ip);
    return call_st(a, rid, "/authd.v1.PasswordReset/Start", &req.base,
                   &authd__v1__start_reset_response__descriptor, (ProtobufCMessage **)out, st);
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
                          const char *password, const char *code, const char *recovery_code,
                          const char *client_ip, Authd__V1__CompleteResetResponse **out,
                          struct rpc_status *st)
{
    Authd__V1__CompleteResetRequest req = AUTHD__V1__COMPLETE_RESET_REQUEST__INIT;
    req.token = str_arg(token);
    req.password = str_arg(password);
    req.code = str_arg(code);
    req.recovery_code = str_arg(recovery_code);
    req.client_ip = str_arg(client_ip);
    return call_st(a, rid, "/authd.v1.PasswordReset/Complete", &req.base,
                   &authd__v1__complete_reset_response__descriptor, (ProtobufCMessage **)out, st);
}

int
edge_authd_2fa_begin(struct edge_authd *a, const char *rid, const char *session_token,
                     const char *transport, Authd__V1__BeginEnrollmentResponse **out)
{
    Authd__V1__BeginEnrollmentRequest req = AUTHD__V1__BEGIN_ENROLLMENT_REQUEST__INIT;
    req.session_token = str_arg(session_token);
    req.transport = str_arg(transport);
    return call(a, rid, "/authd.v1.TwoFactor/BeginEnrollment", &req.base,
                &authd__v1__begin_enrollment_response__descriptor, (ProtobufCMessage **)out);
}

int
edge_authd_2fa_confirm(struct edge_authd *a, const char *rid, const char *session_token,
                       const char *code, const char *client_ip,
                       Authd__V1__RecoveryCodesResponse **out, struct rpc_status *st)
{
    Authd__V1__ConfirmEnrollmentRequest req = AUTHD__V1__CONFIRM_ENROLLMENT_REQUEST__INIT;
    req.session_token = str_arg(session_token);
    req.code = str_arg(code);
    req.client_ip = str_arg(client_ip);
    return call_st(a, rid, "/authd.v1.TwoFactor/ConfirmEnrollment", &req.base,
                   &authd__v1__recovery_codes_response__descriptor, (ProtobufCMessage **)out, st);
}

static void
second_factor_req(Authd__V1__SecondFactorRequest *req, const char *session_token, const char *code,
                  const char *recovery_code, const char *client_ip)
{
    req->session_token = str_arg(session_token);
    req->code = str_arg(code);
    req->recovery_code = str_arg(recovery_code);
    req->client_ip = str_arg(client_ip);
}

int
edge_authd_2fa_disable(struct edge_authd *a, const char *rid, const char *session_token,
                       const char *code, const char *recovery_code, const char *client_ip,
                       Authd__V1__UserResponse **out, struct rpc_status *st)
{
    Authd__V1__SecondFactorRequest req = AUTHD__V1__SECOND_FACTOR_REQUEST__INIT;
    second_factor_req(&req, session_token, code, recovery_code, client_ip);
    return call_st(a, rid, "/authd.v1.TwoFactor/Disable", &req.base,
                   &authd__v1__user_response__descriptor, (ProtobufCMessage **)out, st);
}

int
edge_authd_2fa_status(struct edge_authd *a, const char *rid, const char *session_token,
                      Authd__V1__TwoFactorStatusResponse **out)
{
    Authd__V1__StatusRequest req = AUTHD__V1__STATUS_REQUEST__INIT;
    req.session_token = str_arg(session_token);
    return call(a, rid, "/authd.v1.TwoFactor/Status", &req.base,
                &authd__v1__two_factor_status_response__descriptor, (ProtobufCMessage **)out);
}

int
edge_authd_2fa_regenerate(struct edge_authd *a, const char *rid, const char *session_token,
                          const char *code, const char *recovery_code, const char *client_ip,
                          Authd__V1__RecoveryCodesResponse **out, struct rpc_status *st)
{
    Authd__V1__SecondFactorRequest req = AUTHD__V1__SECOND_FACTOR_REQUEST__INIT;
    second_factor_req(&req, session_token, code, recovery_code, client_ip);
    return call_st(a, rid, "/authd.v1.TwoFactor/RegenerateRecoveryCodes", &req.base,
                   &authd__v1__recovery_codes_response__descriptor, (ProtobufCMessage **)out, st);
}

int
edge_authd_2fa_delivery_code(struct edge_authd *a, const char *rid, const char *session_token,
                             Authd__V1__DeliveryCodeResponse **out)
{
    Authd__V1__DeliveryCodeRequest req = AUTHD__V1__DELIVERY_CODE_REQUEST__INIT;
    req.session_token = str_arg(session_token);
    return call(a, rid, "/authd.v1.TwoFactor/IssueDeliveryCode", &req.base,
                &authd__v1__delivery_code_response__descriptor, (ProtobufCMessage **)out);
}

int
edge_authd_oauth_authorize(struct edge_authd *a, const char *rid, const char *session_token,
                           const Authd__V1__ClientContext *params, const char *prompt,
                           int64_t max_age, int consent_given, Authd__V1__AuthorizeResponse **out,
                           struct rpc_status *st)
{
    Authd__V1__AuthorizeRequest req = AUTHD__V1__AUTHORIZE_REQUEST__INIT;
    req.session_token = str_arg(session_token);
    req.params = (Authd__V1__ClientContext *)params;
    req.prompt = str_arg(prompt);
    req.max_age = max_age;
    /* consent_given: 1 the user allowed, -1 the user denied, 0 no answer yet. */
    req.consent_given = consent_given > 0;
    req.consent_denied = consent_given < 0;
    return call_st(a, rid, "/authd.v1.OAuth/Authorize", &req.base,
                   &authd__v1__authorize_response__descriptor, (ProtobufCMessage **)out, st);
}

int
edge_authd_oauth_token(struct edge_authd *a, const char *rid,
                       const Authd__V1__OAuthTokenRequest *req, Authd__V1__OAuthTokenResponse **out,
                       struct rpc_status *st)
{
    return call_st(a, rid, "/authd.v1.OAuth/Token", &req->base,
                   &authd__v1__oauth_token_response__descriptor, (ProtobufCMessage **)out, st);
}

int
edge_authd_oauth_introspect(struct edge_authd *a, const char *rid, const char *token,
                            const char *token_type_hint, const char *client_id,
                            const char *client_secret, Authd__V1__IntrospectResponse **out,
                            struct rpc_status *st)
{
    Authd__V1__IntrospectRequest req = AUTHD__V1__INTROSPECT_REQUEST__INIT;
    req.token = str_arg(token);
    req.token_type_hint = str_arg(token_type_hint);
    req.client_id = str_arg(client_id);
    req.client_secret = str_arg(client_secret);
    return call_st(a, rid, "/authd.v1.OAuth/Introspect", &req.base,
                   &authd__v1__introspect_response__descriptor, (ProtobufCMessage **)out, st);
}

int
edge_authd_oauth_revoke(struct edge_authd *a, const char *rid, const char *token,
                        const char *token_type_hint, const char *client_id,
                        const char *client_secret, struct rpc_status *st)
{
    Authd__V1__RevokeRequest req = AUTHD__V1__REVOKE_REQUEST__INIT;
    req.token = str_arg(token);
    req.token_type_hint = str_arg(token_type_hint);
    req.client_id = str_arg(client_id);
    req.client_secret = str_arg(client_secret);
    ProtobufCMessage *resp = NULL;
    int r = call_st(a, rid, "/authd.v1.OAuth/Revoke", &req.base, &authd__v1__empty__descriptor,
                    &resp, st);
    rpc_msg_free(resp);
    return r;
}

int
edge_authd_oauth_userinfo(struct edge_authd *a, const char *rid, const char *access_token,
                          Authd__V1__UserInfoResponse **out, struct rpc_status *st)
{
    Authd__V1__UserInfoRequest req = AUTHD__V1__USER_INFO_REQUEST__INIT;
    req.access_token = str_arg(access_token);
    return call_st(a, rid, "/authd.v1.OAuth/UserInfo", &req.base,
                   &authd__v1__user_info_response__descriptor, (ProtobufCMessage **)out, st);
}

/* Copies the cached key set out; the lock is held. */
static int
jwks_copy_locked(struct edge_authd *a, char **jwks_json, char *issuer, size_t icap)
{
    *jwks_json = strdup(a->jwks_json);
    if (*jwks_json == NULL)
        return AUTHD_ERR_NOMEM;
    snprintf(issuer, icap, "%s", a->issuer);
    return AUTHD_OK;
}

int
edge_authd_oauth_jwks(struct edge_authd *a, const char *rid, int fresh, char **jwks_json,
                      char *issuer, size_t icap)
{
    *jwks_json = NULL;
    if (icap > 0)
        issuer[0] = '\0';
    uint64_t now = now_ms();
    int fetch = 0, r = AUTHD_ERR_UNAVAILABLE;

    pthread_mutex_lock(&a->mu);
    /* Without a good copy every request may ask (authd may just have come up); with one, a
     * failed attempt waits a full TTL like a good one. A fresh caller always asks and does not
     * take the refresher's turn. */
    if (fresh) {
        fetch = 1;
    } else if (!a->jwks_refreshing &&
               (a->jwks_json == NULL || now - a->jwks_fetched_ms >= EDGE_JWKS_TTL_MS)) {
        a->jwks_refreshing = 1;
        fetch = 2;
    } else if (a->jwks_json != NULL) {
        r = jwks_copy_locked(a, jwks_json, issuer, icap);
    }
    pthread_mutex_unlock(&a->mu);
    if (!fetch)
        return r;

    Authd__V1__JwksRequest req = AUTHD__V1__JWKS_REQUEST__INIT;
    Authd__V1__JwksResponse *resp = NULL;
    r = call(a, rid, "/authd.v1.OAuth/Jwks", &req.base, &authd__v1__jwks_response__descriptor,
             (ProtobufCMessage **)&resp);
    char *got = NULL;
    if (r == AUTHD_OK) {
        const char *j = resp->jwks_json != NULL ? resp->jwks_json : "";
        const char *iss = resp->issuer != NULL ? resp->issuer : "";
        if (j[0] == '\0')
            r = AUTHD_ERR_INTERNAL;
        else if (strlen(j) > EDGE_JWKS_MAX || strlen(iss) >= sizeof(a->issuer))
            r = AUTHD_ERR_TOO_LARGE; /* a cut issuer would be a wrong one */
        else if ((got = strdup(j)) == NULL)
            r = AUTHD_ERR_NOMEM;
        if (r != AUTHD_OK)
            log_event(LOG_WARN, "jwks_refused", "rid=%s err=%s", rid != NULL ? rid : "-",
                      authd_err_reason(r));
    }

    pthread_mutex_lock(&a->mu);
    if (got != NULL) {
        free(a->jwks_json);
        a->jwks_json = got;
        snprintf(a->issuer, sizeof(a->issuer), "%s", resp->issuer != NULL ? resp->issuer : "");
    }
    if (got != NULL || fetch == 2)
        a->jwks_fetched_ms = now_ms();
    if (fetch == 2)
        a->jwks_refreshing = 0;
    if (a->jwks_json != NULL)
        r = jwks_copy_locked(a, jwks_json, issuer, icap);
    pthread_mutex_unlock(&a->mu);
    rpc_msg_free(resp != NULL ? &resp->base : NULL);
    return r;
}
