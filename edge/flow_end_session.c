/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0), the discovery document's
 * end_session_endpoint: GET /auth/end-session, POST /auth/end-session (a 303 to the same GET, as
 * for /auth/authorize: a relying party's cross-site POST carries no SameSite=Lax session
 * cookie), and POST /auth/end-session/confirm, the CSRF-protected answer to the confirmation page.
 *
 * authd decides (OAuth.EndSession): it verifies id_token_hint, matches post_logout_redirect_uri
 * exactly against the client's registered list, ends the browser's session when the hint names
 * it or the user confirmed, and builds the redirect with state. The edge forwards the request
 * with the browser's session, forgets the cookie once the session is ended, and shows the
 * confirmation, signed-out or error page. It never builds an off-site redirect itself.
 */
#include "edge/flows.h"

#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "edge/form.h"
#include "edge/oauth_util.h"
#include "proto/rpc.h"

#define CONFIRM_PATH "/auth/end-session/confirm"

/* The request parameters of the endpoint; each may be given once. */
static const char *const end_params[] = {"id_token_hint", "client_id",   "post_logout_redirect_uri",
                                         "state",         "logout_hint", "ui_locales"};
#define END_PARAMS_N (sizeof(end_params) / sizeof(end_params[0]))

static int
end_error_page(struct edge_req *r, int status, const char *error, const char *description)
{
    struct page p;
    page_begin(&p, &r->cfg, "Sign-out request refused");
    page_error(&p, description != NULL && description[0] != '\0'
                       ? description
                       : "The application's sign-out request is not valid.");
    if (error != NULL && error[0] != '\0') {
        page_raw(&p, "<p class=\"muted\">Error: <code id=\"oauth-error\">");
        page_text(&p, error);
        page_raw(&p, "</code></p>\n");
    }
    page_link(&p, "/", "Back to the start page");
    page_end(&p);
    return edge_req_page(r, status, &p);
}

static int
signed_out_page(struct edge_req *r)
{
    struct page p;
    page_begin(&p, &r->cfg, "Signed out");
    page_raw(&p, "<p id=\"signed-out\">You are signed out.</p>\n");
    page_link(&p, "/auth/login", "Sign in again");
    page_end(&p);
    return edge_req_page(r, 200, &p);
}

/* Asks the user; the form carries what authd needs to finish (never the hint). */
static int
confirm_page(struct edge_req *r, const char *client_id, const char *uri, const char *state)
{
    struct page p;
    page_begin(&p, &r->cfg, "Sign out?");
    if (client_id != NULL && client_id[0] != '\0') {
        page_raw(&p, "<p>The application <strong id=\"logout-client\">");
        page_text(&p, client_id);
        page_raw(&p, "</strong> asks to sign you out.</p>\n");
    } else {
        page_para(&p, "Do you want to sign out?");
    }
    page_form_begin(&p, CONFIRM_PATH, edge_req_csrf(r));
    page_hidden(&p, "client_id", client_id);
    page_hidden(&p, "post_logout_redirect_uri", uri);
    page_hidden(&p, "state", state);
    page_submit(&p, "Sign out");
    page_form_end(&p);
    page_link(&p, "/", "Stay signed in");
    page_end(&p);
    return edge_req_page(r, 200, &p);
}

/* One OAuth.EndSession call with the browser's session, and the answer acted on. */
static int
end_session(struct edge_req *r, const struct form *f, int confirmed, int redirect_status)
{
    const char *token = edge_req_session_token(r);
    const char *uri = form_get(f, "post_logout_redirect_uri");
    const char *state = form_get(f, "state");
    Authd__V1__EndSessionRequest req = AUTHD__V1__END_SESSION_REQUEST__INIT;
    req.session_token = edge_authd_str(token);
    req.id_token_hint = edge_authd_str(form_get(f, "id_token_hint"));
    req.client_id = edge_authd_str(form_get(f, "client_id"));
    req.post_logout_redirect_uri = edge_authd_str(uri);
    req.state = edge_authd_str(state);
    req.confirmed = confirmed != 0;
    req.client_ip = edge_authd_str(r->client_ip);
    Authd__V1__EndSessionResponse *a = NULL;
    struct rpc_status st;
    int err = edge_authd_call(r->edge->authd, r->id, &authd__v1__oauth__descriptor, "EndSession",
                              &req.base, (ProtobufCMessage **)&a, &st);
    if (err != AUTHD_OK) {
        struct edge_oauth_error oe;
        edge_oauth_error_from(err, st.oauth_error, st.message, &oe);
        if (oe.unexpected)
            log_event(oe.status == 503 ? LOG_WARN : LOG_ERROR, "request_failed",
                      "rid=%s step=end_session err=%s status=%d", r->id, authd_err_reason(err),
                      oe.status);
        int status = oe.status >= 500 || oe.status == 429 ? oe.status : 400;
        return end_error_page(r, status, oe.error, oe.description);
    }
    char qc[160];
    const char *client = log_quote(a->client_id, qc, sizeof(qc));
    switch (a->next) {
    case AUTHD__V1__END_SESSION_RESPONSE__NEXT__DONE:
        /* The session is gone (or there was none): the browser forgets the token. */
        if (token != NULL && (err = edge_req_clear_session(r)) != AUTHD_OK)
            break;
        log_event(LOG_INFO, "end_session", "rid=%s client=%s confirmed=%s redirect=%s", r->id,
                  client, confirmed ? "yes" : "no", a->redirect_url[0] != '\0' ? "yes" : "no");
        if (a->redirect_url[0] != '\0') {
            err = edge_req_redirect_client(r, redirect_status, a->redirect_url);
            if (err == AUTHD_ERR_INVALID_ARGUMENT)
                err = signed_out_page(r);
        } else {
            err = signed_out_page(r);
        }
        break;
    case AUTHD__V1__END_SESSION_RESPONSE__NEXT__CONFIRM:
        log_event(LOG_INFO, "end_session", "rid=%s client=%s next=confirm", r->id, client);
        err = confirm_page(r, a->client_id, uri, state);
        break;
    case AUTHD__V1__END_SESSION_RESPONSE__NEXT__ERROR_PAGE:
        err = end_error_page(r, 400, a->error, a->error_description);
        break;
    default:
        log_event(LOG_ERROR, "end_session_failed", "rid=%s reason=unknown_next next=%d", r->id,
                  (int)a->next);
        err = end_error_page(r, 500, "server_error", "The sign-out could not be completed.");
    }
    rpc_msg_free(&a->base);
    return err;
}

int
edge_flow_end_session(struct edge_req *r)
{
    if (form_repeated(r->query, end_params, END_PARAMS_N) != NULL)
        return end_error_page(r, 400, "invalid_request", "A request parameter was given twice.");
    return end_session(r, r->query, 0, 302);
}

/*
 * POST /auth/end-session: the same request as a form body, answered with a 303 to the GET of
 * the same parameters (the browser then sends its session cookie); it can do nothing the GET
 * cannot. Parameters in both the query and the body are refused as ambiguous.
 */
int
edge_flow_end_session_post(struct edge_req *r)
{
    const char *problem = NULL;
    int err = edge_req_post_as_get(r, "/auth/end-session", end_params, END_PARAMS_N, &problem);
    if (problem != NULL)
        return end_error_page(r, 400, "invalid_request", problem);
    return err;
}

int
edge_flow_end_session_confirm(struct edge_req *r)
{
    return end_session(r, r->form, 1, 303);
}
