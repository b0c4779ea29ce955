/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Aidbox's JSON API for turning on two-factor authentication from a single-page app:
 *   POST /app/auth/two-factor/request  {} | {"transport": "sms"}  ->  {"uri": "otpauth://..."}
 *                                      (with a transport the code goes by the webhook: {})
 *   POST /app/auth/two-factor/confirm  {"token": "123456"}       ->  {"recovery_codes": [...]}
 * Errors are {"error": "...", "error_description": "..."}: 401 unauthorized, 400
 * invalid_request, 422 already_enabled / not_requested / wrong_token, 429 locked, 503.
 *
 * The caller is a session: the asid cookie, or "Authorization: Bearer <token>" where the token
 * is a session token or, for a single-page app, a user's OAuth access token (JWT or opaque),
 * which acts for the session it was issued under; authd tells which (authd/bearer.h). The
 * server routes here only bodies sent as application/json, which a cross-site HTML form cannot
 * produce and a cross-site script cannot send without a CORS preflight that the edge never
 * grants, so these routes need no CSRF token; a cookie-authenticated call with a foreign
 * Origin is refused all the same.
 */
#include "edge/flows.h"

#include <string.h>

#include <jansson.h>

#include "edge/csrf.h"
#include "common/err.h"
#include "edge/http_err.h"
#include "edge/json_body.h"
#include "common/log.h"
#include "proto/rpc.h"
#include "common/secret.h"
#include "edge/twofactor.h"

/* Wipes the text of a jansson string value in place. */
static void
wipe_string(json_t *s)
{
    if (s != NULL && json_is_string(s))
        secret_wipe((char *)json_string_value(s), json_string_length(s));
}

/* Answers with v (stolen) as compact JSON; the dumped copy is wiped. */
static int
answer(struct edge_req *r, int status, json_t *v)
{
    if (v == NULL)
        return AUTHD_ERR_NOMEM;
    char *text = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    if (text == NULL)
        return AUTHD_ERR_NOMEM;
    int err = edge_req_text(r, status, "application/json", text);
    secret_strfree(text);
    return err;
}

static int
answer_error(struct edge_req *r, int status, const char *error, const char *description)
{
    return answer(r, status,
                  json_pack("{s:s, s:s}", "error", error, "error_description", description));
}

/* Answers for an authd error through the one mapping (http_err.c). */
static int
answer_err(struct edge_req *r, int err, const char *what)
{
    struct edge_http_err he;
    edge_http_err_map(err, &he);
    if (he.unexpected)
        log_event(he.api_status >= 500 && he.api_status != 503 ? LOG_ERROR : LOG_WARN,
                  "request_failed", "rid=%s step=%s err=%s status=%d", r->id, what,
                  authd_err_reason(err), he.api_status);
    return answer_error(r, he.api_status, he.api_error, he.message);
}

/*
 * The caller (the bearer first, else the cookie), checked with Sessions.Get: it must be a
 * signed-in session (a pending second factor is not). Returns 1 with *c set; answers
 * 401/403/503 itself and returns 0 when there is none.
 */
static int
caller(struct edge_req *r, struct edge_caller *c)
{
    c->bearer_token = edge_req_bearer(r);
    c->session_token = NULL;
    if (c->bearer_token == NULL && r->authorization == NULL) {
        c->session_token = edge_req_session_token(r);
        if (c->session_token != NULL && !csrf_origin_ok(r->origin, r->edge->base_origin)) {
            log_event(LOG_WARN, "csrf_rejected", "rid=%s reason=origin api=1", r->id);
            answer_error(r, 403, "forbidden", "This request was sent from another site");
            return 0;
        }
    }
    Authd__V1__SessionResponse *s = NULL;
    int err = edge_req_session_for(r, c, 0, &s);
    if (err != AUTHD_OK) {
        answer_err(r, err, "api_session");
        return 0;
    }
    rpc_msg_free(&s->base);
    return 1;
}

/*
 * Parses the body as a JSON object ("" counts as {}). Returns the object, or NULL after
 * answering 400.
 */
static json_t *
parse_body(struct edge_req *r)
{
    if (r->json_body == NULL || r->json_body_len == 0)
        return json_object();
    json_t *v = NULL;
    if (edge_json_object_parse(r->json_body, r->json_body_len, &v) != AUTHD_OK) {
        answer_error(r, 400, "invalid_request", "The body must be a JSON object");
        return NULL;
    }
    return v;
}

/*
 * The string member name of o: NULL when absent or null; *bad set when present with another
 * type. Borrowed from o.
 */
static const char *
member(json_t *o, const char *name, int *bad)
{
    const char *v = NULL, *which = NULL;
    if (edge_json_strings(o, &name, 1, &v, &which) != AUTHD_OK)
        *bad = 1;
    return v;
}

/*
 * A JSON call's own work once api_call() has checked the caller who and parsed the body:
 * value is the body's string member the call reads (NULL when absent; borrowed, wiped after),
 * bad is set when that member has another type. Answers and returns as a handler does.
 */
typedef int (*api_fn)(struct edge_req *r, const struct edge_caller *who, const char *value,
                      int bad);

/*
 * The prologue and epilogue every JSON call shares: the caller (caller()), the body as an
 * object (parse_body()) and its string member name, then fn; the body is wiped and freed after
 * (it may hold a code). Returns fn's result, or AUTHD_OK when the prologue already answered.
 */
static int
api_call(struct edge_req *r, const char *name, api_fn fn)
{
    struct edge_caller who;
    if (!caller(r, &who))
        return r->status != 0 ? AUTHD_OK : AUTHD_ERR_INTERNAL;
    json_t *body = parse_body(r);
    if (body == NULL)
        return r->status != 0 ? AUTHD_OK : AUTHD_ERR_INTERNAL;
    int bad = 0;
    const char *value = member(body, name, &bad);
    int err = fn(r, &who, value, bad);
    edge_json_wipe(body);
    json_decref(body);
    return err;
}

static int
request_enrollment(struct edge_req *r, const struct edge_caller *who, const char *transport,
                   int bad)
{
    int err;
    /* json_loadb() refuses \u0000 in strings, so strlen() is the whole value. */
    if (bad || (transport != NULL && strlen(transport) > EDGE_2FA_TRANSPORT_MAX))
        err = answer_error(r, 400, "invalid_request",
                           "transport must be a string of at most 32 characters");
    else if (transport != NULL && transport[0] != '\0' && !edge_2fa_has_webhook(r))
        err = answer_error(r, 400, "invalid_request", "No delivery webhook is configured");
    else {
        Authd__V1__BeginEnrollmentRequest req = AUTHD__V1__BEGIN_ENROLLMENT_REQUEST__INIT;
        req.session_token = edge_authd_str(who->session_token);
        req.bearer_token = edge_authd_str(who->bearer_token);
        req.transport = edge_authd_str(transport);
        Authd__V1__BeginEnrollmentResponse *b = NULL;
        err = edge_authd_call(r->edge->authd, r->id, &authd__v1__two_factor__descriptor,
                              "BeginEnrollment", &req.base, (ProtobufCMessage **)&b, NULL);
        if (err != AUTHD_OK) {
            err = answer_err(r, err, "api_2fa_begin");
        } else if (transport == NULL || transport[0] == '\0') {
            log_event(LOG_INFO, "2fa_enroll_begun", "rid=%s via=api", r->id);
            json_t *uri = json_string(b->uri != NULL ? b->uri : "");
            json_t *o = json_object();
            if (uri == NULL || o == NULL || json_object_set(o, "uri", uri) != 0) {
                err = AUTHD_ERR_NOMEM;
                json_decref(o);
            } else {
                err = answer(r, 200, o);
            }
            wipe_string(uri); /* the URI carries the TOTP secret */
            json_decref(uri);
        } else {
            int sent = b->code != NULL && b->code[0] != '\0'
                           ? edge_2fa_deliver(r, b->user, transport, b->code)
                           : AUTHD_ERR_INTERNAL;
            log_event(LOG_INFO, "2fa_enroll_begun", "rid=%s via=api_transport sent=%s", r->id,
                      sent == AUTHD_OK ? "yes" : "failed");
            err = sent == AUTHD_OK
                      ? answer(r, 200, json_object())
                      : answer_error(r, 502, "delivery_failed", "We could not send the code");
        }
        rpc_msg_free(b != NULL ? &b->base : NULL);
    }
    return err;
}

int
edge_api_2fa_request(struct edge_req *r)
{
    return api_call(r, "transport", request_enrollment);
}

static int
confirm_enrollment(struct edge_req *r, const struct edge_caller *who, const char *code, int bad)
{
    int err;
    if (bad || code == NULL || code[0] == '\0') {
        err = answer_error(r, 400, "invalid_request", "token is required");
    } else {
        Authd__V1__RecoveryCodesResponse *rc = NULL;
        struct rpc_status st;
        Authd__V1__ConfirmEnrollmentRequest req = AUTHD__V1__CONFIRM_ENROLLMENT_REQUEST__INIT;
        req.session_token = edge_authd_str(who->session_token);
        req.bearer_token = edge_authd_str(who->bearer_token);
        req.code = edge_authd_str(code);
        req.client_ip = edge_authd_str(r->client_ip);
        err = edge_authd_call(r->edge->authd, r->id, &authd__v1__two_factor__descriptor,
                              "ConfirmEnrollment", &req.base, (ProtobufCMessage **)&rc, &st);
        edge_req_note_lockout(r, err, &st);
        if (err != AUTHD_OK) {
            log_event(LOG_INFO, "2fa_confirm_failed", "rid=%s err=%s ip=%s api=1", r->id,
                      authd_err_reason(err), r->client_ip);
            err = answer_err(r, err, "api_2fa_confirm");
        } else {
            log_event(LOG_INFO, "2fa_enabled", "rid=%s user=%s api=1", r->id,
                      rc->user != NULL ? rc->user->id : "-");
            edge_2fa_notify(r, rc->user != NULL ? rc->user->email : NULL,
                            "Two-factor authentication was enabled",
                            "Two-factor authentication was just turned on for your account. "
                            "Signing in now also asks for a one-time code.");
            json_t *codes = json_array();
            int ok = codes != NULL;
            for (size_t i = 0; ok && i < rc->n_recovery_codes; i++)
                ok = json_array_append_new(codes, json_string(rc->recovery_codes[i])) == 0;
            json_t *o = ok ? json_pack("{s:O}", "recovery_codes", codes) : NULL;
            err = o != NULL ? answer(r, 200, o) : AUTHD_ERR_NOMEM;
            for (size_t i = 0; codes != NULL && i < json_array_size(codes); i++)
                wipe_string(json_array_get(codes, i));
            json_decref(codes);
        }
        rpc_msg_free(rc != NULL ? &rc->base : NULL);
    }
    return err;
}

int
edge_api_2fa_confirm(struct edge_req *r)
{
    return api_call(r, "token", confirm_enrollment);
}
