/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One HTTP request as the flows see it, and the helpers they answer with. server.c fills the
 * request half from libmicrohttpd before calling a handler (the flows never touch MHD) and
 * turns the response half into the reply. All strings in the request half are borrowed and
 * live until the handler returns; the response half is owned by the request and freed (wiped)
 * by the server.
 */
#ifndef AUTHD_EDGE_REQUEST_H
#define AUTHD_EDGE_REQUEST_H

#include <stddef.h>

#include "edge/authd_client.h"
#include "common/buf.h"
#include "edge/cookie.h"
#include "edge/csrf.h"
#include "edge/edge.h"
#include "edge/form.h"
#include "edge/page.h"

struct edge_http_err;

#define EDGE_MAX_SET_COOKIES 4
#define EDGE_SESSION_COOKIE "asid"

struct edge_req {
    /* ---- request (filled by the server) ---- */
    const struct edge *edge;
    const char *method;       /* "GET", "HEAD", "POST", "DELETE"... */
    const char *path;         /* decoded path, without the query */
    const char *param;        /* prefix routes: the path segment after the prefix, else NULL */
    const struct form *query; /* parsed query string; never NULL */
    const struct form *form;  /* parsed urlencoded body of a POST; never NULL (maybe empty) */
    const struct cookie_jar *cookies; /* never NULL */
    const char *user_agent;           /* may be NULL */
    const char *origin;               /* may be NULL */
    const char *sec_fetch_site;       /* the Sec-Fetch-Site header; may be NULL */
    const char *authorization;        /* may be NULL */
    const char *csrf_header;          /* X-CSRF-Token (JSON calls of our pages); may be NULL */
    const char *json_body;            /* JSON routes: the raw body (NUL-terminated), else NULL */
    size_t json_body_len;
    char client_ip[64];     /* the socket peer, or X-Forwarded-For[0] with --trust-proxy */
    int secure;             /* came over TLS (ours, or the proxy's with --trust-proxy) */
    char id[24];            /* request id for logs */
    struct edge_config cfg; /* AuthConfig snapshot for this request */

    /* ---- response (set by the handler through the helpers below) ---- */
    int status;               /* 0 until a helper answered */
    const char *content_type; /* static string */
    struct buf body;
    char *location;                         /* owned */
    char *set_cookie[EDGE_MAX_SET_COOKIES]; /* owned, wiped: may hold the session token */
    size_t n_set_cookie;
    const char *allow;             /* Allow header for 405, static */
    const char *www_authenticate;  /* WWW-Authenticate header (401 of the OAuth API), static */
    long retry_after;              /* Retry-After seconds, sent with a 429 only; 0: none */
    int cacheable;                 /* 1: no "Cache-Control: no-store" (static assets) */
    const char *cache_control;     /* static; NULL: "no-store" + "Pragma: no-cache", or the
                                    * static-asset default when cacheable */
    const char *disposition;       /* static Content-Disposition; NULL: none (downloads) */
    char csrf[CSRF_TOKEN_LEN + 1]; /* this browser's CSRF token once known, else "" */
};

/* The first query parameter / body field / cookie named name, or NULL. Borrowed. */
const char *edge_req_query(const struct edge_req *r, const char *name);
const char *edge_req_field(const struct edge_req *r, const char *name);
const char *edge_req_cookie(const struct edge_req *r, const char *name);

/*
 * The new password of a set-password form: the "password" field when it equals the
 * "password_confirmation" field (compared in constant time; a missing field counts as ""),
 * else NULL (the user mistyped one of them). Borrowed. Comparing the two copies is about
 * typing: authd alone judges the password.
 */
const char *edge_req_new_password(const struct edge_req *r);

/*
 * The CSRF token for a page with a form: the browser's csrf cookie when well-formed, else a
 * fresh token that is also set as the cookie. NULL only when the CSPRNG failed.
 */
const char *edge_req_csrf(struct edge_req *r);

/*
 * Adds a Set-Cookie (see cookie_build(); Secure is added when the request is secure).
 * AUTHD_OK, AUTHD_ERR_TOO_LARGE past EDGE_MAX_SET_COOKIES, or the cookie_build() error.
 */
int edge_req_set_cookie(struct edge_req *r, const char *name, const char *value, unsigned flags,
                        long long max_age);

/* Sets the session cookie asid=token (HttpOnly, SameSite=Lax, Max-Age from AuthConfig). */
int edge_req_set_session(struct edge_req *r, const char *token);

/* Deletes the session cookie (Max-Age=0). */
int edge_req_clear_session(struct edge_req *r);

/* Answers 303 See Other to location (a path of ours or a URL built by the edge). */
int edge_req_redirect(struct edge_req *r, const char *location);

/*
 * A POST whose form body carries what the GET of path would carry in its query (OIDC's
 * authorize and end-session endpoints): answers 303 to path?<the form's params, in the order
 * of params>, so that the request means exactly what the GET means. A parameter given twice,
 * or in both the query and the body, or a URL over the page limit is refused: the return is
 * AUTHD_ERR_INVALID_ARGUMENT with *problem set to a sentence for the caller's own error page
 * (nothing answered yet); any other error is from answering.
 */
int edge_req_post_as_get(struct edge_req *r, const char *path, const char *const *params,
                         size_t n_params, const char **problem);

struct edge_carry;

/*
 * Answers 303 to where a signed-in browser goes next: back to /auth/authorize with the OAuth
 * flow c carries, or / (see edge_carry_next()). Borrows c.
 */
int edge_req_redirect_next(struct edge_req *r, const struct edge_carry *c);

/*
 * Answers status (302 or 303) with Location: url, where url is a redirect_url authd built from
 * a client's registered redirect URI (OAuth.Authorize): the only off-site redirect the edge
 * makes, and it never builds one itself. AUTHD_ERR_INVALID_ARGUMENT (nothing answered) for an
 * empty url or one holding a space or control byte.
 */
int edge_req_redirect_client(struct edge_req *r, int status, const char *url);

/* Answers with the JSON text (copied; the body is wiped when freed) as application/json. */
int edge_req_json(struct edge_req *r, int status, const char *json);

/*
 * Answers with the page (text/html). Takes the page's buffer in every case: p is empty after.
 * Returns p->err when the page could not be built (the server then answers 500).
 */
int edge_req_page(struct edge_req *r, int status, struct page *p);

/* Answers with a plain body of the given static content type. */
int edge_req_text(struct edge_req *r, int status, const char *content_type, const char *text);

/* A small page: heading, an error box with message, a link home. */
int edge_req_error_page(struct edge_req *r, int status, const char *heading, const char *message);

/*
 * Answers for an error from authd (or a local one) through edge_http_err_map(): a redirect to
 * the login page for UNAUTHENTICATED, else an error page with the mapped status and message.
 * Unexpected errors are logged with the request id and what (a short label of the step).
 */
int edge_req_fail(struct edge_req *r, int err, const char *what);

/*
 * Notes how long authd's lockout lasts when err is AUTHD_ERR_LOCKED and its status st (may be
 * NULL) says so (st->retry_after, through edge_http_retry_after()), so that the 429 answer carries
 * Retry-After. Call it after an RPC that a lockout can refuse, whatever the flow answers next.
 */
void edge_req_note_lockout(struct edge_req *r, int err, const struct rpc_status *st);

/*
 * edge_http_err_map() with the numbers a person needs in the message: a lockout noted by
 * edge_req_note_lockout() says "Try again in N seconds" (or minutes...) from the same seconds
 * as Retry-After, and a weak password states authd's rule (r->cfg.password_min_length) when
 * authd sent it. Flows that show he->message on a page use this instead of the plain map.
 */
void edge_req_err_map(const struct edge_req *r, int err, struct edge_http_err *he);

/* The session token from the asid cookie, or NULL. Borrowed. */
const char *edge_req_session_token(const struct edge_req *r);

/*
 * The token of an "Authorization: Bearer <token>" header, or NULL (no header, another scheme,
 * or an empty token). Borrowed.
 */
const char *edge_req_bearer(const struct edge_req *r);

/*
 * Looks up the browser's session (the asid cookie) with Sessions.Get. Returns AUTHD_OK with
 * *out (free with rpc_msg_free()); AUTHD_ERR_UNAUTHENTICATED when there is no cookie, authd
 * does not know the token, or (without allow_pending) its second factor is still pending; or
 * another authd error (e.g. UNAVAILABLE). *out is NULL on failure.
 */
int edge_req_session(struct edge_req *r, int allow_pending, Authd__V1__SessionResponse **out);

/*
 * Who a JSON API call names as its caller, both borrowed from the request, at most one set:
 * the asid cookie's session token, or the token of an "Authorization: Bearer" header (a session
 * token or a user's OAuth access token; the edge cannot tell them apart and passes it as it
 * came, authd decides).
 */
struct edge_caller {
    const char *session_token;
    const char *bearer_token;
};

/*
 * The same for an explicit caller (the JSON API's); neither token set gives
 * AUTHD_ERR_UNAUTHENTICATED.
 */
int edge_req_session_for(struct edge_req *r, const struct edge_caller *c, int allow_pending,
                         Authd__V1__SessionResponse **out);

/* Frees (wiping) everything of the response half. */
void edge_req_response_free(struct edge_req *r);

#endif
