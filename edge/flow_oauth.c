/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OAuth 2.0 / OpenID Connect, the browser side: GET and POST /auth/authorize and the consent
 * form POST /auth/consent. authd decides everything (OAuth.Authorize); the edge forwards the
 * request with the browser's session and acts on the answer: a redirect to the URL authd built
 * from the client's registered redirect URI, a detour through the login page (then back
 * here), the consent page, or an error page. The edge never builds an off-site redirect, so
 * an unknown client or an unregistered redirect URI can never send the browser anywhere.
 */
#include "edge/flows.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "edge/carry.h"
#include "common/err.h"
#include "edge/form.h"
#include "common/log.h"
#include "edge/oauth_util.h"
#include "proto/rpc.h"

/*
 * The request parameters of /auth/authorize that authd reads; each may be given once (RFC 6749
 * §3.1). auth_after is ours: the way back from a sign-in authd asked for (see go_login).
 */
static const char *const authorize_params[] = {
    "client_id",      "response_type",         "redirect_uri", "state",   "scope",   "nonce",
    "code_challenge", "code_challenge_method", "prompt",       "max_age", "request", "request_uri",
    "auth_after",     "response_mode",         "acr_values",
};
#define AUTHORIZE_PARAMS_N (sizeof(authorize_params) / sizeof(authorize_params[0]))

/*
 * max_age (OIDC Core §3.1.2.1): absent gives -1; a decimal number of seconds is passed on;
 * anything else is read as 0, the strictest meaning (sign in again), rather than ignored.
 */
static int64_t
parse_max_age(const char *s)
{
    if (s == NULL || s[0] == '\0')
        return -1;
    size_t n = strlen(s);
    if (n > 18 || strspn(s, "0123456789") != n)
        return 0;
    return strtoll(s, NULL, 10);
}

/* An error page for a refused request: no redirect, error and description escaped. */
static int
error_page(struct edge_req *r, int status, const char *error, const char *description)
{
    struct page p;
    page_begin(&p, &r->cfg, "Sign-in request refused");
    page_error(&p, description != NULL && description[0] != '\0'
                       ? description
                       : "The application's sign-in request is not valid.");
    if (error != NULL && error[0] != '\0') {
        page_raw(&p, "<p class=\"muted\">Error: <code id=\"oauth-error\">");
        page_text(&p, error);
        page_raw(&p, "</code></p>\n");
    }
    page_link(&p, "/", "Back to the start page");
    page_end(&p);
    return edge_req_page(r, status, &p);
}

/* An error page for a failed OAuth.Authorize call (authd's refusal, or authd unreachable). */
static int
authorize_failed(struct edge_req *r, int err, const struct rpc_status *st)
{
    struct edge_oauth_error oe;
    edge_oauth_error_from(err, st->oauth_error, st->message, &oe);
    edge_req_note_lockout(r, err, st);
    if (oe.unexpected)
        log_event(oe.status == 503 ? LOG_WARN : LOG_ERROR, "request_failed",
                  "rid=%s step=authorize err=%s status=%d", r->id, authd_err_reason(err),
                  oe.status);
    /* A browser page: 5xx and 429 as they are, every other refusal 400. */
    int status = oe.status >= 500 || oe.status == 429 ? oe.status : 400;
    return error_page(r, status, oe.error, oe.description);
}

/* What a scope lets the application do, for the consent page; NULL when we do not know. */
static const char *
scope_text(const char *scope)
{
    static const char *const known[][2] = {
        {"openid", "know who you are"},
        {"profile", "see your profile"},
        {"email", "see your e-mail address"},
        {"offline_access", "stay connected when you are not using it"},
    };
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(scope, known[i][0]) == 0)
            return known[i][1];
    return NULL;
}

static int
consent_page(struct edge_req *r, const struct edge_carry *c, const Authd__V1__AuthorizeResponse *a)
{
    const char *client = a->client != NULL && a->client->id != NULL && a->client->id[0] != '\0'
                             ? a->client->id
                             : c->v[0];
    struct page p;
    page_begin(&p, &r->cfg, "Allow access?");
    page_raw(&p, "<p>The application <strong id=\"consent-client\">");
    page_text(&p, client);
    page_raw(&p, "</strong> asks to use your account.</p>\n");
    if (a->n_scopes > 0) {
        page_raw(&p, "<p>It asks for:</p>\n<ul id=\"consent-scopes\">\n");
        for (size_t i = 0; i < a->n_scopes; i++) {
            const char *what = scope_text(a->scopes[i]);
            page_raw(&p, "<li><code>");
            page_text(&p, a->scopes[i]);
            page_raw(&p, "</code>");
            if (what != NULL) {
                page_raw(&p, ": ");
                page_text(&p, what);
            }
            page_raw(&p, "</li>\n");
        }
        page_raw(&p, "</ul>\n");
    }
    page_form_begin(&p, "/auth/consent", edge_req_csrf(r));
    edge_carry_hidden(c, &p);
    page_raw(&p, "<button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\n"
                 "<button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">"
                 "Deny</button>\n");
    page_form_end(&p);
    page_end(&p);
    return edge_req_page(r, 200, &p);
}

/*
 * Sends the browser to the login page with the carried parameters and prompt=login, so that
 * the login page shows its form even to a signed-in browser. When authd asked for a fresh
 * sign-in (prompt=login, max_age: auth_after set), auth_after is carried too: it comes back to
 * /auth/authorize after the sign-in (and the second factor) in place of prompt and max_age,
 * authd then accepts only a sign-in made since, and the way back cannot loop.
 */
static int
go_login(struct edge_req *r, const struct edge_carry *c0, const char *auth_after)
{
    struct edge_carry c = *c0;
    c.v[EDGE_CARRY_AUTH_AFTER] = auth_after;
    struct buf url;
    buf_init(&url, PAGE_MAX);
    int err = edge_carry_url(&url, "/auth/login", &c);
    if (err == AUTHD_OK)
        err = buf_puts(&url, edge_carry_any(&c) ? "&prompt=login" : "?prompt=login");
    if (err == AUTHD_OK)
        err = edge_req_redirect(r, url.data);
    buf_free(&url);
    return err;
}

/* Acts on authd's answer. redirect_status: 302 after a GET, 303 after the consent POST. */
static int
act(struct edge_req *r, int redirect_status, const struct edge_carry *c,
    const Authd__V1__AuthorizeResponse *a)
{
    char qc[160];
    const char *client = log_quote(c->v[0], qc, sizeof(qc));
    int err;
    switch (a->next) {
    case AUTHD__V1__AUTHORIZE_RESPONSE__NEXT__REDIRECT:
        /* The URL carries the code or token: it is never logged. */
        err = edge_req_redirect_client(r, redirect_status, a->redirect_url);
        if (err == AUTHD_ERR_INVALID_ARGUMENT) {
            log_event(LOG_ERROR, "authorize_failed", "rid=%s client=%s reason=bad_redirect_url",
                      r->id, client);
            return error_page(r, 500, "server_error", "The sign-in could not be completed.");
        }
        log_event(LOG_INFO, "authorize", "rid=%s client=%s next=redirect", r->id, client);
        return err;
    case AUTHD__V1__AUTHORIZE_RESPONSE__NEXT__LOGIN:
        log_event(LOG_INFO, "authorize", "rid=%s client=%s next=login", r->id, client);
        return go_login(r, c, a->auth_after);
    case AUTHD__V1__AUTHORIZE_RESPONSE__NEXT__CONSENT:
        log_event(LOG_INFO, "authorize", "rid=%s client=%s next=consent", r->id, client);
        return consent_page(r, c, a);
    case AUTHD__V1__AUTHORIZE_RESPONSE__NEXT__ERROR_PAGE: {
        char qe[80];
        log_event(LOG_INFO, "authorize", "rid=%s client=%s next=error error=%s", r->id, client,
                  log_quote(a->error, qe, sizeof(qe)));
        return error_page(r, 400, a->error, a->error_description);
    }
    default:
        log_event(LOG_ERROR, "authorize_failed", "rid=%s client=%s reason=unknown_next next=%d",
                  r->id, client, (int)a->next);
        return error_page(r, 500, "server_error", "The sign-in could not be completed.");
    }
}

/* What a request asks beyond the carried parameters (nothing, for the consent form). */
struct authorize_extra {
    const char *prompt;
    int64_t max_age; /* -1: not given */
    int request;     /* `request` given */
    int request_uri; /* `request_uri` given */
    const char *response_mode;
};

/* One OAuth.Authorize call with the browser's session, and the answer acted on. */
static int
authorize(struct edge_req *r, const struct edge_carry *c, const struct authorize_extra *x,
          int consent_given, int redirect_status)
{
    Authd__V1__ClientContext cc = AUTHD__V1__CLIENT_CONTEXT__INIT;
    edge_carry_to_client(c, &cc);
    struct rpc_status st;
    Authd__V1__AuthorizeResponse *a = NULL;
    Authd__V1__AuthorizeRequest req = AUTHD__V1__AUTHORIZE_REQUEST__INIT;
    req.session_token = edge_authd_str(edge_req_session_token(r));
    req.params = &cc;
    req.prompt = edge_authd_str(x->prompt);
    req.max_age = x->max_age;
    req.request_given = x->request != 0;
    req.request_uri_given = x->request_uri != 0;
    req.response_mode = edge_authd_str(x->response_mode);
    /* consent_given: 1 the user allowed, -1 the user denied, 0 no answer yet. */
    req.consent_given = consent_given > 0;
    req.consent_denied = consent_given < 0;
    int err = edge_authd_call(r->edge->authd, r->id, &authd__v1__oauth__descriptor, "Authorize",
                              &req.base, (ProtobufCMessage **)&a, &st);
    if (err != AUTHD_OK)
        return authorize_failed(r, err, &st);
    err = act(r, redirect_status, c, a);
    rpc_msg_free(&a->base);
    return err;
}

static int
present(const char *s)
{
    return s != NULL && s[0] != '\0';
}

int
edge_flow_authorize(struct edge_req *r)
{
    const char *repeated = form_repeated(r->query, authorize_params, AUTHORIZE_PARAMS_N);
    if (repeated != NULL)
        return error_page(r, 400, "invalid_request", "A request parameter was given twice.");
    struct edge_carry c;
    edge_carry_from_form(&c, r->query);
    struct authorize_extra x = {
        edge_req_query(r, "prompt"), parse_max_age(edge_req_query(r, "max_age")),
        present(edge_req_query(r, "request")), present(edge_req_query(r, "request_uri")),
        edge_req_query(r, "response_mode")};
    return authorize(r, &c, &x, 0, 302);
}

/*
 * POST /auth/authorize (OIDC Core §3.1.2.1): the same request as a form body. It comes from
 * the relying party's page, a cross-site top-level navigation with no CSRF token and, under
 * SameSite=Lax, without our session cookie. So it is answered with a 303 to the GET form of
 * the same parameters: the browser then sends its cookie, the request means exactly what the
 * GET means, and the POST can do nothing the GET cannot. Parameters in both the query and the
 * body would be ambiguous and are refused.
 */
int
edge_flow_authorize_post(struct edge_req *r)
{
    const char *problem = NULL;
    int err =
        edge_req_post_as_get(r, "/auth/authorize", authorize_params, AUTHORIZE_PARAMS_N, &problem);
    if (problem != NULL)
        return error_page(r, 400, "invalid_request", problem);
    return err;
}

int
edge_flow_consent(struct edge_req *r)
{
    static const struct authorize_extra none = {"", -1, 0, 0, ""};
    struct edge_carry c;
    edge_carry_from_form(&c, r->form);
    const char *decision = edge_req_field(r, "decision");
    if (decision != NULL && strcmp(decision, "deny") == 0) {
        /* authd verifies the client and its redirect URI again and answers with the
         * access_denied redirect (RFC 6749 §4.1.2.1); the edge builds no URL itself. */
        char qc[160];
        log_event(LOG_INFO, "consent_denied", "rid=%s client=%s", r->id,
                  log_quote(c.v[0], qc, sizeof(qc)));
        return authorize(r, &c, &none, -1, 303);
    }
    if (decision == NULL || strcmp(decision, "allow") != 0)
        return error_page(r, 400, "invalid_request", "Choose Allow or Deny.");
    /* authd checks again that this browser is signed in and the request is valid. */
    return authorize(r, &c, &none, 1, 303);
}
