/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OAuth 2.0 / OpenID Connect for programs, all JSON: POST /auth/token (RFC 6749 §3.2, a form
 * or a JSON body), POST /auth/introspect (RFC 7662), POST /auth/revoke (RFC 7009),
 * GET/POST /auth/userinfo (OIDC Core §5.3, bearer token per RFC 6750), and the public
 * documents /.well-known/openid-configuration (OpenID Connect Discovery 1.0),
 * /.well-known/oauth-authorization-server (RFC 8414; the same document, see
 * edge_flow_discovery) and /.well-known/jwks.json.
 *
 * authd authenticates the client and decides; the edge picks the client credentials (HTTP
 * Basic or the body, never both), forwards, and turns authd's error (the authd-oauth-error
 * trailer and the status message as description, read into struct rpc_status) into RFC 6749
 * §5.2 JSON. No cookie
 * is read here, so there is no CSRF token. Codes, tokens, secrets and passwords are never
 * logged; the copies the edge makes are wiped.
 */
#include "edge/flows.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/err.h"
#include "common/jwks.h"
#include "edge/form.h"
#include "edge/json_body.h"
#include "common/log.h"
#include "edge/oauth_util.h"
#include "edge/jwks_cache.h"
#include "proto/rpc.h"
#include "common/secret.h"

#define BASIC_CHALLENGE "Basic realm=\"authd\""
#define BEARER_CHALLENGE "Bearer realm=\"authd\""
#define BEARER_INVALID "Bearer realm=\"authd\", error=\"invalid_token\""
#define BEARER_SCOPE "Bearer realm=\"authd\", error=\"insufficient_scope\""
/* The downstream HTTP caches' max age: authd budgets the key publication delay for it. */
#define PUBLIC_CACHE AUTHD_JWKS_CACHE_CONTROL

/* ---- JSON output ----------------------------------------------------------------------- */

/* A JSON object written into a buf; the first error sticks (like struct page). */
struct jobj {
    struct buf *b;
    int n;
    int err;
};

static void
jo_begin(struct jobj *o, struct buf *b)
{
    o->b = b;
    o->n = 0;
    o->err = buf_puts(b, "{");
}

static void
jo_key(struct jobj *o, const char *key)
{
    if (o->err == AUTHD_OK && o->n++ > 0)
        o->err = buf_puts(o->b, ",");
    if (o->err == AUTHD_OK)
        o->err = edge_oauth_json_str(o->b, key);
    if (o->err == AUTHD_OK)
        o->err = buf_puts(o->b, ":");
}

/* A string member; left out when v is NULL or "". */
static void
jo_str(struct jobj *o, const char *key, const char *v)
{
    if (v == NULL || v[0] == '\0')
        return;
    jo_key(o, key);
    if (o->err == AUTHD_OK)
        o->err = edge_oauth_json_str(o->b, v);
}

static void
jo_int(struct jobj *o, const char *key, int64_t v)
{
    jo_key(o, key);
    if (o->err == AUTHD_OK)
        o->err = buf_printf(o->b, "%" PRId64, v);
}

static void
jo_bool(struct jobj *o, const char *key, int v)
{
    jo_key(o, key);
    if (o->err == AUTHD_OK)
        o->err = buf_puts(o->b, v ? "true" : "false");
}

/* A member whose value is JSON text of ours (a literal array). */
static void
jo_raw(struct jobj *o, const char *key, const char *json)
{
    jo_key(o, key);
    if (o->err == AUTHD_OK)
        o->err = buf_puts(o->b, json);
}

/* A string member base + path (an endpoint URL). */
static void
jo_url(struct jobj *o, const char *key, const char *base, const char *path)
{
    char url[sizeof(((struct edge *)0)->base_url) + 64];
    snprintf(url, sizeof(url), "%s%s", base, path);
    jo_str(o, key, url);
}

static int
jo_end(struct jobj *o)
{
    if (o->err == AUTHD_OK)
        o->err = buf_puts(o->b, "}");
    return o->err;
}

/* Answers with the JSON in b (err: the builder's result); b is wiped either way. */
static int
send_json(struct edge_req *r, int status, struct buf *b, int err)
{
    if (err == AUTHD_OK)
        err = edge_req_json(r, status, b->data != NULL ? b->data : "{}");
    buf_free(b);
    return err;
}

/* The Aidbox-style user: {"id", "email"}. */
static void
jo_user(struct jobj *o, const char *key, const Authd__V1__User *u)
{
    if (u == NULL)
        return;
    jo_key(o, key);
    if (o->err != AUTHD_OK)
        return;
    struct jobj in;
    jo_begin(&in, o->b);
    jo_str(&in, "id", u->id);
    jo_str(&in, "email", u->email);
    o->err = jo_end(&in);
}

/* ---- errors ---------------------------------------------------------------------------- */

/* An RFC 6749 §5.2 error answer; www (static) becomes the WWW-Authenticate header. */
static int
oauth_error(struct edge_req *r, int status, const char *error, const char *description,
            const char *www)
{
    struct buf b;
    buf_init(&b, 4096);
    int err = edge_oauth_error_json(&b, error, description);
    err = send_json(r, status, &b, err);
    if (err == AUTHD_OK)
        r->www_authenticate = www;
    return err;
}

/*
 * The answer for a failed call to authd at a client-authenticated endpoint: invalid_client is
 * 401, with a Basic challenge when the client sent Basic credentials (RFC 6749 §5.2).
 */
static int
oauth_fail(struct edge_req *r, int err, const struct rpc_status *st, int basic, const char *what)
{
    struct edge_oauth_error oe;
    edge_oauth_error_from(err, st != NULL ? st->oauth_error : NULL, st != NULL ? st->message : NULL,
                          &oe);
    edge_req_note_lockout(r, err, st); /* a locked password grant or client secret */
    if (oe.unexpected)
        log_event(oe.status == 503 ? LOG_WARN : LOG_ERROR, "request_failed",
                  "rid=%s step=%s err=%s status=%d", r->id, what, authd_err_reason(err), oe.status);
    return oauth_error(r, oe.status, oe.error, oe.description,
                       oe.status == 401 && basic ? BASIC_CHALLENGE : NULL);
}

/*
 * Answers for a failed edge_oauth_client_auth(): a malformed Basic header is invalid_client
 * (401 + challenge), two methods at once invalid_request.
 */
static int
client_auth_failed(struct edge_req *r, int err)
{
    if (err == AUTHD_ERR_INVALID_CREDENTIALS)
        return oauth_error(r, 401, "invalid_client", "Malformed HTTP Basic client credentials",
                           BASIC_CHALLENGE);
    return oauth_error(r, 400, "invalid_request",
                       "Use one client authentication method: HTTP Basic or the body", NULL);
}

/* 400 invalid_request when one of names occurs twice in the form; 0 when none does. */
static int
refuse_repeated(struct edge_req *r, const char *const *names, size_t n, int *answered)
{
    *answered = 0;
    const char *rep = form_repeated(r->form, names, n);
    if (rep == NULL)
        return AUTHD_OK;
    *answered = 1;
    char msg[96];
    snprintf(msg, sizeof(msg), "Parameter %s is given more than once", rep);
    return oauth_error(r, 400, "invalid_request", msg, NULL);
}

/* ---- POST /auth/token ------------------------------------------------------------------ */

enum {
    TP_GRANT_TYPE,
    TP_CODE,
    TP_REDIRECT_URI,
    TP_CODE_VERIFIER,
    TP_REFRESH_TOKEN,
    TP_USERNAME,
    TP_PASSWORD,
    TP_TOTP,
    TP_SCOPE,
    TP_CLIENT_ID,
    TP_CLIENT_SECRET,
    TP_AUDIENCE,
    TP_N
};

static const char *const token_params[TP_N] = {
    "grant_type", "code", "redirect_uri", "code_verifier", "refresh_token", "username",
    "password",   "totp", "scope",        "client_id",     "client_secret", "audience",
};

static char *
arg(const char *s)
{
    return (char *)(s != NULL ? s : "");
}

/* The token request proper, whatever the body's format; v[] are borrowed values (or NULL). */
static int
token(struct edge_req *r, const char *const v[TP_N], const char *via)
{
    char qg[80], qc[160], qv[16];
    log_quote(v[TP_GRANT_TYPE], qg, sizeof(qg));
    log_quote(via, qv, sizeof(qv));
    struct edge_oauth_basic basic;
    struct edge_oauth_client cl;
    int err =
        edge_oauth_client_auth(r->authorization, v[TP_CLIENT_ID], v[TP_CLIENT_SECRET], &basic, &cl);
    if (err != AUTHD_OK) {
        secret_wipe(&basic, sizeof(basic));
        log_event(LOG_INFO, "token_failed", "rid=%s grant_type=%s via=%s error=client_auth ip=%s",
                  r->id, qg, qv, r->client_ip);
        return client_auth_failed(r, err);
    }
    log_quote(cl.id, qc, sizeof(qc));

    Authd__V1__OAuthTokenRequest req = AUTHD__V1__OAUTH_TOKEN_REQUEST__INIT;
    req.grant_type = arg(v[TP_GRANT_TYPE]);
    req.client_id = arg(cl.id);
    req.client_secret = arg(cl.secret);
    req.code = arg(v[TP_CODE]);
    req.redirect_uri = arg(v[TP_REDIRECT_URI]);
    req.code_verifier = arg(v[TP_CODE_VERIFIER]);
    req.refresh_token = arg(v[TP_REFRESH_TOKEN]);
    req.username = arg(v[TP_USERNAME]);
    req.password = arg(v[TP_PASSWORD]);
    req.totp = arg(v[TP_TOTP]);
    req.scope = arg(v[TP_SCOPE]);
    req.client_ip = r->client_ip;
    req.audience = arg(v[TP_AUDIENCE]);
    struct rpc_status st;
    Authd__V1__OAuthTokenResponse *t = NULL;
    err = edge_authd_call(r->edge->authd, r->id, &authd__v1__oauth__descriptor, "Token", &req.base,
                          (ProtobufCMessage **)&t, &st);
    int basic_used = cl.basic;
    secret_wipe(&basic, sizeof(basic)); /* cl points into it: not used after this */
    if (err == EDGE_ERR_PENDING)
        return AUTHD_OK; /* runs again with authd's answer (ROUTE_ASYNC) */
    if (err != AUTHD_OK) {
        log_event(LOG_INFO, "token_failed",
                  "rid=%s grant_type=%s client=%s via=%s err=%s error=%s ip=%s", r->id, qg, qc, qv,
                  authd_err_reason(err), st.oauth_error[0] != '\0' ? st.oauth_error : "-",
                  r->client_ip);
        return oauth_fail(r, err, &st, basic_used, "token");
    }

    struct buf b;
    buf_init(&b, PAGE_MAX);
    struct jobj o;
    jo_begin(&o, &b);
    jo_key(&o, "access_token");
    if (o.err == AUTHD_OK)
        o.err = edge_oauth_json_str(&b, t->access_token);
    jo_str(&o, "token_type",
           t->token_type != NULL && t->token_type[0] != '\0' ? t->token_type : "Bearer");
    if (t->expires_in > 0)
        jo_int(&o, "expires_in", t->expires_in);
    jo_str(&o, "refresh_token", t->refresh_token);
    /* The refresh token's real lifetime (an extension many clients read, e.g. Keycloak's). */
    if (t->refresh_token != NULL && t->refresh_token[0] != '\0' && t->refresh_expires_in > 0)
        jo_int(&o, "refresh_expires_in", t->refresh_expires_in);
    jo_str(&o, "scope", t->scope);
    jo_str(&o, "id_token", t->id_token);
    jo_user(&o, "userinfo", t->userinfo);
    err = send_json(r, 200, &b, jo_end(&o));
    log_event(LOG_INFO, "token_issued", "rid=%s grant_type=%s client=%s via=%s refresh=%s id=%s",
              r->id, qg, qc, qv,
              t->refresh_token != NULL && t->refresh_token[0] != '\0' ? "yes" : "no",
              t->id_token != NULL && t->id_token[0] != '\0' ? "yes" : "no");
    rpc_msg_free(&t->base);
    return err;
}

int
edge_flow_token(struct edge_req *r)
{
    int answered;
    int err = refuse_repeated(r, token_params, TP_N, &answered);
    if (answered)
        return err;
    const char *v[TP_N];
    for (int i = 0; i < TP_N; i++)
        v[i] = edge_req_field(r, token_params[i]);
    return token(r, v, "form");
}

int
edge_api_token(struct edge_req *r)
{
    json_t *body = NULL;
    if (edge_json_object_parse(r->json_body, r->json_body_len, &body) != AUTHD_OK)
        return oauth_error(r, 400, "invalid_request", "The body must be a JSON object", NULL);
    const char *v[TP_N];
    const char *bad = NULL;
    edge_json_strings(body, token_params, TP_N, v, &bad);
    int err;
    if (bad != NULL) {
        char msg[96];
        snprintf(msg, sizeof(msg), "%s must be a string", bad);
        err = oauth_error(r, 400, "invalid_request", msg, NULL);
    } else {
        err = token(r, v, "json");
    }
    edge_json_wipe(body); /* the body may hold a password or a client secret */
    json_decref(body);
    return err;
}

/* ---- POST /auth/introspect, POST /auth/revoke ------------------------------------------ */

static const char *const token_op_params[] = {"token", "token_type_hint", "client_id",
                                              "client_secret"};
#define TOKEN_OP_N (sizeof(token_op_params) / sizeof(token_op_params[0]))

/* One call of introspect or revoke, as token_op() leaves it for the handler. */
struct token_op {
    int answered;         /* 1: token_op() answered (repeated parameter, client authentication) */
    int err;              /* the answer's result when answered, else authd's answer to the call */
    int basic;            /* the client authenticated with HTTP Basic */
    struct rpc_status st; /* authd's status of the call */
    char qc[160];         /* the client id, quoted for logs */
};

/*
 * The part introspect (RFC 7662) and revoke (RFC 7009) share: refuses repeated parameters,
 * authenticates the client (HTTP Basic or the body) and calls method with req, after setting
 * its five string fields, given as pointers into req in the order token, token_type_hint,
 * client_id, client_secret, client_ip, from the form, the client and the connection (the
 * address authd counts a wrong secret against); *out as edge_authd_call(). The client's
 * credentials are wiped, and req's fields cleared, before it returns.
 */
static void
token_op(struct edge_req *r, const char *method, ProtobufCMessage *req, char **fields[5],
         ProtobufCMessage **out, struct token_op *op)
{
    memset(op, 0, sizeof(*op));
    op->err = refuse_repeated(r, token_op_params, TOKEN_OP_N, &op->answered);
    if (op->answered)
        return;
    struct edge_oauth_basic basic;
    struct edge_oauth_client cl;
    op->err = edge_oauth_client_auth(r->authorization, edge_req_field(r, "client_id"),
                                     edge_req_field(r, "client_secret"), &basic, &cl);
    if (op->err != AUTHD_OK) {
        secret_wipe(&basic, sizeof(basic));
        op->answered = 1;
        op->err = client_auth_failed(r, op->err);
        return;
    }
    log_quote(cl.id, op->qc, sizeof(op->qc));
    *fields[0] = edge_authd_str(edge_req_field(r, "token"));
    *fields[1] = edge_authd_str(edge_req_field(r, "token_type_hint"));
    *fields[2] = edge_authd_str(cl.id);
    *fields[3] = edge_authd_str(cl.secret);
    *fields[4] = edge_authd_str(r->client_ip);
    op->err = edge_authd_call(r->edge->authd, r->id, &authd__v1__oauth__descriptor, method, req,
                              out, &op->st);
    for (int i = 0; i < 5; i++)
        *fields[i] = NULL; /* some point into basic, wiped next */
    op->basic = cl.basic;
    secret_wipe(&basic, sizeof(basic));
}

int
edge_flow_introspect(struct edge_req *r)
{
    struct token_op op;
    Authd__V1__IntrospectResponse *in = NULL;
    Authd__V1__IntrospectRequest req = AUTHD__V1__INTROSPECT_REQUEST__INIT;
    char **fields[5] = {&req.token, &req.token_type_hint, &req.client_id, &req.client_secret,
                        &req.client_ip};
    token_op(r, "Introspect", &req.base, fields, (ProtobufCMessage **)&in, &op);
    if (op.answered || op.err == EDGE_ERR_PENDING)
        return op.answered ? op.err : AUTHD_OK; /* pending: runs again with authd's answer */
    if (op.err != AUTHD_OK) {
        log_event(LOG_INFO, "introspect_failed", "rid=%s client=%s err=%s ip=%s", r->id, op.qc,
                  authd_err_reason(op.err), r->client_ip);
        return oauth_fail(r, op.err, &op.st, op.basic, "introspect");
    }
    log_event(LOG_INFO, "introspect", "rid=%s client=%s active=%s", r->id, op.qc,
              in->active ? "yes" : "no");
    if (!in->active) {
        rpc_msg_free(&in->base);
        /* RFC 7662 §2.2: nothing about an inactive token but that. */
        return edge_req_json(r, 200, "{\"active\":false}");
    }
    struct buf b;
    buf_init(&b, PAGE_MAX);
    struct jobj o;
    jo_begin(&o, &b);
    jo_bool(&o, "active", 1);
    jo_str(&o, "scope", in->scope);
    jo_str(&o, "client_id", in->client_id);
    jo_str(&o, "username", in->username);
    jo_str(&o, "token_type", in->token_type);
    if (in->exp > 0)
        jo_int(&o, "exp", in->exp);
    if (in->iat > 0)
        jo_int(&o, "iat", in->iat);
    jo_str(&o, "sub", in->sub);
    jo_str(&o, "aud", in->aud);
    jo_str(&o, "iss", in->iss);
    jo_str(&o, "jti", in->jti);
    jo_str(&o, "sid", in->sid);
    int err = send_json(r, 200, &b, jo_end(&o));
    rpc_msg_free(&in->base);
    return err;
}

int
edge_flow_revoke(struct edge_req *r)
{
    struct token_op op;
    Authd__V1__RevokeRequest req = AUTHD__V1__REVOKE_REQUEST__INIT;
    char **fields[5] = {&req.token, &req.token_type_hint, &req.client_id, &req.client_secret,
                        &req.client_ip};
    token_op(r, "Revoke", &req.base, fields, NULL, &op);
    if (op.answered || op.err == EDGE_ERR_PENDING)
        return op.answered ? op.err : AUTHD_OK; /* pending: runs again with authd's answer */
    /* RFC 7009 §2.2: an unknown or already invalid token is not an error. */
    int err = op.err;
    if (err == AUTHD_ERR_INVALID_TOKEN || err == AUTHD_ERR_NOT_FOUND)
        err = AUTHD_OK;
    if (err != AUTHD_OK) {
        log_event(LOG_INFO, "revoke_failed", "rid=%s client=%s err=%s ip=%s", r->id, op.qc,
                  authd_err_reason(err), r->client_ip);
        return oauth_fail(r, err, &op.st, op.basic, "revoke");
    }
    log_event(LOG_INFO, "revoke", "rid=%s client=%s", r->id, op.qc);
    return edge_req_text(r, 200, "text/plain; charset=utf-8", "");
}

/* ---- GET/POST /auth/userinfo ----------------------------------------------------------- */

int
edge_flow_userinfo(struct edge_req *r)
{
    const char *token = edge_req_bearer(r);
    if (token == NULL)
        /* RFC 6750 §3.1: no error code in the challenge when no token was sent. */
        return oauth_error(r, 401, "invalid_token",
                           "An access token is required (Authorization: Bearer)", BEARER_CHALLENGE);
    struct rpc_status st;
    Authd__V1__UserInfoResponse *u = NULL;
    Authd__V1__UserInfoRequest req = AUTHD__V1__USER_INFO_REQUEST__INIT;
    req.access_token = edge_authd_str(token);
    int err = edge_authd_call(r->edge->authd, r->id, &authd__v1__oauth__descriptor, "UserInfo",
                              &req.base, (ProtobufCMessage **)&u, &st);
    if (err == EDGE_ERR_PENDING)
        return AUTHD_OK; /* runs again with authd's answer (ROUTE_ASYNC) */
    if (err != AUTHD_OK) {
        struct edge_oauth_error oe;
        edge_oauth_error_from(err, st.oauth_error, st.message, &oe);
        if (oe.unexpected)
            log_event(oe.status == 503 ? LOG_WARN : LOG_ERROR, "request_failed",
                      "rid=%s step=userinfo err=%s status=%d", r->id, authd_err_reason(err),
                      oe.status);
        if (strcmp(oe.error, "insufficient_scope") == 0)
            return oauth_error(r, 403, oe.error, oe.description, BEARER_SCOPE);
        if (!oe.unexpected && (oe.status == 401 || err == AUTHD_ERR_INVALID_TOKEN ||
                               strcmp(oe.error, "invalid_token") == 0))
            return oauth_error(r, 401, "invalid_token", oe.description, BEARER_INVALID);
        return oauth_error(r, oe.status, oe.error, oe.description, NULL);
    }
    struct buf b;
    buf_init(&b, PAGE_MAX);
    struct jobj o;
    jo_begin(&o, &b);
    /* Only standard claims (OIDC Core §5.1), and only those authd released for the token's
     * scopes: email and email_verified come with the email scope or not at all. */
    jo_str(&o, "sub", u->sub);
    if (u->email != NULL && u->email[0] != '\0') {
        jo_str(&o, "email", u->email);
        jo_bool(&o, "email_verified", u->email_verified);
    }
    err = send_json(r, 200, &b, jo_end(&o));
    rpc_msg_free(&u->base);
    return err;
}

/* ---- discovery and keys ---------------------------------------------------------------- */

/*
 * The key set and issuer (jwks_cache.c; keys: the key set, as fresh as --jwks-max-age-ms asks,
 * else only the issuer, from a copy of at most 5 s); answers the error itself.
 */
static int
jwks(struct edge_req *r, int keys, char **json, char *issuer, size_t icap, int *answered)
{
    *answered = 0;
    int err = edge_authd_oauth_jwks(r->edge->authd, r->id, keys, json, issuer, icap);
    if (err == AUTHD_OK)
        return AUTHD_OK;
    *answered = 1;
    /* Only "authd is down" is worth telling apart; anything else is ours (500). */
    if (err != AUTHD_ERR_UNAVAILABLE && err != AUTHD_ERR_DEADLINE)
        err = AUTHD_ERR_INTERNAL;
    return oauth_fail(r, err, NULL, 0, "jwks");
}

/*
 * The discovery document, served at /.well-known/openid-configuration (OpenID Connect
 * Discovery 1.0) and /.well-known/oauth-authorization-server (RFC 8414) alike: RFC 8414 §7.1.2
 * took OpenID's metadata names into its registry, RFC 9207 and RP-Initiated Logout registered
 * theirs there too, so one document is right for both, with the same issuer.
 */
int
edge_flow_discovery(struct edge_req *r)
{
    char *keys = NULL, issuer[EDGE_ISSUER_MAX];
    int answered;
    /* Only the issuer is needed, and it does not change while authd runs: the cache will do. */
    int err = jwks(r, 0, &keys, issuer, sizeof(issuer), &answered);
    free(keys);
    if (answered)
        return err;
    const char *base = r->edge->base_url;
    struct buf b;
    buf_init(&b, PAGE_MAX);
    struct jobj o;
    jo_begin(&o, &b);
    /* authd signs the tokens, so its issuer is the one; our base URL only if it names none. */
    jo_str(&o, "issuer", issuer[0] != '\0' ? issuer : base);
    jo_url(&o, "authorization_endpoint", base, "/auth/authorize");
    jo_url(&o, "token_endpoint", base, "/auth/token");
    jo_url(&o, "userinfo_endpoint", base, "/auth/userinfo");
    jo_url(&o, "jwks_uri", base, "/.well-known/jwks.json");
    jo_url(&o, "introspection_endpoint", base, "/auth/introspect");
    jo_url(&o, "revocation_endpoint", base, "/auth/revoke");
    jo_raw(&o, "response_types_supported", "[\"code\",\"token\"]");
    jo_raw(&o, "grant_types_supported",
           "[\"authorization_code\",\"implicit\",\"password\",\"client_credentials\","
           "\"refresh_token\"]");
    jo_raw(&o, "code_challenge_methods_supported", "[\"S256\"]");
    jo_raw(&o, "token_endpoint_auth_methods_supported",
           "[\"client_secret_basic\",\"client_secret_post\",\"none\"]");
    jo_raw(&o, "id_token_signing_alg_values_supported", "[\"ES256\",\"RS256\"]");
    jo_raw(&o, "subject_types_supported", "[\"public\"]");
    jo_raw(&o, "scopes_supported", "[\"openid\",\"profile\",\"email\",\"offline_access\"]");
    /* What authd puts in ID tokens and userinfo (authd/svc_oauth.c, jwt_id_token). */
    jo_raw(&o, "claims_supported",
           "[\"sub\",\"iss\",\"aud\",\"azp\",\"exp\",\"iat\",\"auth_time\",\"nonce\",\"amr\","
           "\"sid\",\"acr\",\"email\",\"email_verified\"]");
    /* OpenID EAP ACR values: a key sign-in (phr), a hardware-bound key (phrh); authd/svc_oauth.c.
     */
    jo_raw(&o, "acr_values_supported", "[\"phr\",\"phrh\"]");
    jo_raw(&o, "response_modes_supported", "[\"query\",\"fragment\"]");
    jo_bool(&o, "authorization_response_iss_parameter_supported", 1); /* RFC 9207 */
    jo_bool(&o, "request_parameter_supported", 0);
    jo_bool(&o, "request_uri_parameter_supported", 0);
    jo_bool(&o, "claims_parameter_supported", 0);
    jo_url(&o, "end_session_endpoint", base, "/auth/end-session");
    err = send_json(r, 200, &b, jo_end(&o));
    if (err == AUTHD_OK)
        r->cache_control = PUBLIC_CACHE;
    return err;
}

int
edge_flow_jwks(struct edge_req *r)
{
    char *keys = NULL, issuer[EDGE_ISSUER_MAX];
    int answered;
    /* A copy refreshed in the background, never older than authd allows (jwks_cache.h): authd
     * publishes a rotated-in key that long before it signs, so a verifier that refetches on an
     * unknown kid finds it here. */
    int err = jwks(r, 1, &keys, issuer, sizeof(issuer), &answered);
    if (answered)
        return err;
    err = edge_req_json(r, 200, keys);
    free(keys);
    if (err == AUTHD_OK)
        r->cache_control = PUBLIC_CACHE;
    return err;
}
