/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The small routes: the landing page (who is signed in), logout (form and DELETE /Session),
 * liveness and readiness probes, and the built-in stylesheet.
 */
#include "edge/flows.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "edge/http_err.h"
#include "edge/readiness.h"
#include "common/log.h"
#include "proto/rpc.h"

int
edge_flow_home(struct edge_req *r)
{
    const char *token = edge_req_session_token(r);
    const char *email = NULL;
    int pending = 0;
    Authd__V1__SessionResponse *s = NULL;
    if (token != NULL) {
        /* allow_pending: a login waiting for its second factor is not signed in, but its
         * cookie must survive a visit here, or the browser could never finish that login. */
        int err = edge_authd_session_get(r->edge->authd, r->id, token, NULL, 1, &s);
        if (err == AUTHD_OK && s->session != NULL && s->session->authenticated && s->user != NULL)
            email = s->user->email;
        else if (err == AUTHD_OK && s->session != NULL && !s->session->authenticated)
            pending = 1;
        else if (err == AUTHD_ERR_UNAUTHENTICATED || err == AUTHD_ERR_INVALID_TOKEN ||
                 err == AUTHD_ERR_NOT_FOUND || err == AUTHD_ERR_INVALID_ARGUMENT)
            edge_req_clear_session(r); /* a dead session: forget it */
        else if (err != AUTHD_OK)
            return edge_req_fail(r, err, "home_session");
    }

    struct page p;
    page_begin(&p, &r->cfg, "Welcome");
    if (email != NULL) {
        page_raw(&p, "<p>Signed in as <strong>");
        page_text(&p, email);
        page_raw(&p, "</strong></p>\n");
        page_link(&p, "/auth/password", "Change password");
        page_link(&p, "/auth/two-factor", "Two-factor authentication");
        page_form_begin(&p, "/auth/logout", edge_req_csrf(r));
        page_submit(&p, "Sign out");
        page_form_end(&p);
        /* Every session, offline token and remembered browser of the user ends. */
        page_form_begin(&p, "/auth/logout", edge_req_csrf(r));
        page_hidden(&p, "everywhere", "1");
        page_submit_as(&p, "Sign out everywhere", "secondary");
        page_form_end(&p);
    } else {
        if (pending)
            page_link(&p, "/auth/two-factor/verify", "Finish signing in");
        page_link(&p, "/auth/login", "Sign in");
        page_link(&p, "/auth/signup", "Create an account");
    }
    page_end(&p);
    rpc_msg_free(s != NULL ? &s->base : NULL);
    return edge_req_page(r, 200, &p);
}

/* Sessions.Revoke by the cookie's session token or a bearer (the logout). */
static int
session_revoke(struct edge_req *r, const char *token, const char *bearer, int everywhere)
{
    Authd__V1__RevokeSessionRequest req = AUTHD__V1__REVOKE_SESSION_REQUEST__INIT;
    req.session_token = edge_authd_str(token);
    req.bearer_token = edge_authd_str(bearer);
    req.everywhere = everywhere;
    return edge_authd_call(r->edge->authd, r->id, &authd__v1__sessions__descriptor, "Revoke",
                           &req.base, NULL, NULL);
}

/* authd's answers that mean the session is gone (or never was one that may act). */
static int
session_gone(int err)
{
    return err == AUTHD_ERR_UNAUTHENTICATED || err == AUTHD_ERR_INVALID_TOKEN ||
           err == AUTHD_ERR_NOT_FOUND || err == AUTHD_ERR_INVALID_ARGUMENT;
}

/*
 * "Sign out everywhere" that authd refused because this browser's session had ended (or still
 * waits for its second factor): nothing ended elsewhere, so the page must not say "signed out".
 */
static int
everywhere_refused(struct edge_req *r, int err)
{
    struct page p;
    page_begin(&p, &r->cfg, "Not signed out everywhere");
    page_error(&p, "Your session had ended, so your other sessions and remembered browsers were "
                   "not signed out. Sign in, then choose Sign out everywhere.");
    page_link(&p, "/auth/login", "Sign in");
    page_end(&p);
    log_event(LOG_INFO, "logout_everywhere_refused", "rid=%s reason=%s", r->id,
              authd_err_reason(err));
    return edge_req_page(r, err == AUTHD_ERR_INVALID_ARGUMENT ? 400 : 401, &p);
}

int
edge_flow_logout(struct edge_req *r)
{
    const char *token = edge_req_session_token(r);
    const char *all = edge_req_field(r, "everywhere");
    int everywhere = all != NULL && strcmp(all, "1") == 0;
    int err =
        token != NULL ? session_revoke(r, token, NULL, everywhere) : AUTHD_ERR_UNAUTHENTICATED;
    /* A plain sign-out of a session already gone is done; signing out everywhere is not. */
    if (!everywhere && session_gone(err))
        err = AUTHD_OK;
    /* The browser forgets the token whatever authd said: nobody else holds it. */
    int cr = edge_req_clear_session(r);
    if (cr == AUTHD_OK && everywhere && err == AUTHD_OK) /* its browser was forgotten too */
        cr = edge_device_cookie_clear(r);
    if (cr != AUTHD_OK)
        return cr;
    if (everywhere && session_gone(err))
        return everywhere_refused(r, err);
    if (err != AUTHD_OK)
        return edge_req_fail(r, err, "logout");
    log_event(LOG_INFO, "logout", "rid=%s", r->id);
    /* The sign-in page then says so: without it, landing there looks like nothing happened. */
    return edge_req_redirect(r, "/auth/login?signed_out=1");
}

static int
json_error(struct edge_req *r, int err)
{
    struct edge_http_err he;
    edge_http_err_map(err, &he);
    struct buf b;
    buf_init(&b, 1024);
    /* Reasons and messages are our own ASCII literals without quotes or backslashes. */
    int e = buf_printf(&b, "{\"error\":\"%s\",\"error_description\":\"%s\"}", authd_err_reason(err),
                       he.message);
    if (e == AUTHD_OK)
        e = edge_req_text(r, he.status, "application/json", b.data);
    buf_free(&b);
    return e;
}

int
edge_flow_session_delete(struct edge_req *r)
{
    /* The one Bearer parser (request.c, fuzzed); another scheme counts as no token. */
    const char *token = edge_req_bearer(r);
    int from_cookie = 0;
    if (token == NULL && r->authorization == NULL) {
        token = edge_req_session_token(r);
        from_cookie = token != NULL;
    }
    if (token == NULL)
        return json_error(r, AUTHD_ERR_UNAUTHENTICATED);
    /* A cookie's session that is already gone is as good as ended (the cookie is cleared
     * below). A bearer (a session token, or a user's access token, which ends the session it
     * was issued under and with it every token of that session) that authd does not take
     * ended nothing: 401, never a 200 that leaves the caller believing it signed out. */
    int err = from_cookie ? session_revoke(r, token, NULL, 0) : session_revoke(r, NULL, token, 0);
    if (session_gone(err))
        err = from_cookie ? AUTHD_OK : AUTHD_ERR_UNAUTHENTICATED;
    if (from_cookie) {
        int cr = edge_req_clear_session(r);
        if (cr != AUTHD_OK)
            return cr;
    }
    if (err != AUTHD_OK)
        return json_error(r, err);
    log_event(LOG_INFO, "logout", "rid=%s via=%s", r->id, from_cookie ? "cookie" : "bearer");
    return edge_req_text(r, 200, "application/json", "{}");
}

int
edge_flow_healthz(struct edge_req *r)
{
    return edge_req_text(r, 200, "text/plain; charset=utf-8", "ok");
}

/* Ready when authd serves and takes this edge for an edge (see edge_authd_ready()): an edge
 * whose credentials authd refuses would fail every sign-in, so it must not get traffic. */
int
edge_flow_readyz(struct edge_req *r)
{
    const char *reason = NULL;
    if (edge_authd_ready(r->edge->authd, r->id, &reason))
        return edge_req_text(r, 200, "text/plain; charset=utf-8", "ready");
    char text[64];
    snprintf(text, sizeof(text), "not ready: %s", reason != NULL ? reason : "unknown");
    return edge_req_text(r, 503, "text/plain; charset=utf-8", text);
}

int
edge_flow_style(struct edge_req *r)
{
    buf_free(&r->body);
    buf_init(&r->body, PAGE_MAX);
    int err = buf_append(&r->body, edge_style_css, edge_style_css_len);
    if (err != AUTHD_OK)
        return err;
    r->status = 200;
    r->content_type = "text/css; charset=utf-8";
    r->cacheable = 1;
    return AUTHD_OK;
}
