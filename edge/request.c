/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request accessors and response helpers for the flows. Nothing here knows libmicrohttpd:
 * server.c fills struct edge_req and sends what the helpers leave in it.
 */
#include "edge/request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "edge/carry.h"
#include "edge/form.h"
#include "edge/page.h"
#include "common/buf.h"
#include "common/err.h"
#include "edge/http_err.h"
#include "common/log.h"
#include "proto/rpc.h"
#include "common/secret.h"

const char *
edge_req_query(const struct edge_req *r, const char *name)
{
    return form_get(r->query, name);
}

const char *
edge_req_field(const struct edge_req *r, const char *name)
{
    return form_get(r->form, name);
}

const char *
edge_req_cookie(const struct edge_req *r, const char *name)
{
    return cookie_get(r->cookies, name);
}

const char *
edge_req_session_token(const struct edge_req *r)
{
    const char *t = cookie_get(r->cookies, EDGE_SESSION_COOKIE);
    return t != NULL && t[0] != '\0' ? t : NULL;
}

const char *
edge_req_bearer(const struct edge_req *r)
{
    const char *a = r->authorization;
    if (a == NULL || strncasecmp(a, "Bearer ", 7) != 0)
        return NULL;
    a += 7;
    while (*a == ' ')
        a++;
    return *a != '\0' ? a : NULL;
}

int
edge_req_session_for(struct edge_req *r, const struct edge_caller *c, int allow_pending,
                     Authd__V1__SessionResponse **out)
{
    *out = NULL;
    if (c->session_token == NULL && c->bearer_token == NULL)
        return AUTHD_ERR_UNAUTHENTICATED;
    Authd__V1__SessionResponse *s = NULL;
    int err = edge_authd_session_get(r->edge->authd, r->id, c->session_token, c->bearer_token,
                                     allow_pending, &s);
    if (err == AUTHD_ERR_INVALID_TOKEN || err == AUTHD_ERR_NOT_FOUND ||
        err == AUTHD_ERR_INVALID_ARGUMENT)
        err = AUTHD_ERR_UNAUTHENTICATED;
    if (err != AUTHD_OK)
        return err;
    if (s->session == NULL || s->user == NULL || (!allow_pending && !s->session->authenticated)) {
        rpc_msg_free(&s->base);
        return AUTHD_ERR_UNAUTHENTICATED;
    }
    *out = s;
    return AUTHD_OK;
}

int
edge_req_session(struct edge_req *r, int allow_pending, Authd__V1__SessionResponse **out)
{
    const struct edge_caller c = {.session_token = edge_req_session_token(r)};
    return edge_req_session_for(r, &c, allow_pending, out);
}

int
edge_req_set_cookie(struct edge_req *r, const char *name, const char *value, unsigned flags,
                    long long max_age)
{
    if (r->n_set_cookie == EDGE_MAX_SET_COOKIES)
        return AUTHD_ERR_TOO_LARGE;
    if (r->secure)
        flags |= COOKIE_SECURE;
    struct buf b;
    buf_init(&b, 4096);
    int err = cookie_build(&b, name, value, flags, max_age);
    if (err != AUTHD_OK) {
        buf_free(&b);
        return err;
    }
    char *s = buf_steal(&b, NULL);
    if (s == NULL)
        return AUTHD_ERR_NOMEM;
    r->set_cookie[r->n_set_cookie++] = s;
    return AUTHD_OK;
}

const char *
edge_req_new_password(const struct edge_req *r)
{
    const char *pw = edge_req_field(r, "password");
    const char *pw2 = edge_req_field(r, "password_confirmation");
    if (pw == NULL)
        pw = "";
    if (pw2 == NULL)
        pw2 = "";
    return secret_streq(pw, pw2) ? pw : NULL;
}

const char *
edge_req_csrf(struct edge_req *r)
{
    if (r->csrf[0] != '\0')
        return r->csrf;
    const char *c = cookie_get(r->cookies, CSRF_COOKIE);
    if (csrf_token_valid(c)) {
        memcpy(r->csrf, c, CSRF_TOKEN_LEN + 1);
        return r->csrf;
    }
    if (csrf_token_new(r->csrf) != AUTHD_OK ||
        edge_req_set_cookie(r, CSRF_COOKIE, r->csrf, COOKIE_HTTPONLY | COOKIE_SAMESITE_STRICT,
                            -1) != AUTHD_OK) {
        secret_wipe(r->csrf, sizeof(r->csrf));
        r->csrf[0] = '\0';
        return NULL;
    }
    return r->csrf;
}

int
edge_req_set_session(struct edge_req *r, const char *token)
{
    long long max_age = r->cfg.asid_cookie_max_age > 0 ? (long long)r->cfg.asid_cookie_max_age : -1;
    return edge_req_set_cookie(r, EDGE_SESSION_COOKIE, token, COOKIE_HTTPONLY | COOKIE_SAMESITE_LAX,
                               max_age);
}

int
edge_req_clear_session(struct edge_req *r)
{
    return edge_req_set_cookie(r, EDGE_SESSION_COOKIE, "", COOKIE_HTTPONLY | COOKIE_SAMESITE_LAX,
                               0);
}

static int
redirect(struct edge_req *r, int status, const char *location)
{
    char *l = strdup(location);
    if (l == NULL)
        return AUTHD_ERR_NOMEM;
    free(r->location);
    r->location = l;
    r->status = status;
    r->content_type = "text/plain; charset=utf-8";
    buf_free(&r->body);
    return AUTHD_OK;
}

int
edge_req_redirect(struct edge_req *r, const char *location)
{
    return redirect(r, 303, location);
}

int
edge_req_redirect_next(struct edge_req *r, const struct edge_carry *c)
{
    struct buf next;
    buf_init(&next, PAGE_MAX);
    int err = edge_carry_next(&next, c);
    if (err == AUTHD_OK)
        err = edge_req_redirect(r, next.data);
    buf_free(&next);
    return err;
}

int
edge_req_redirect_client(struct edge_req *r, int status, const char *url)
{
    if (url == NULL || url[0] == '\0')
        return AUTHD_ERR_INVALID_ARGUMENT;
    /* authd percent-encodes what it puts in the URL; a raw space or control byte could only
     * split or end the Location header. */
    for (const unsigned char *p = (const unsigned char *)url; *p; p++)
        if (*p <= ' ' || *p == 0x7f)
            return AUTHD_ERR_INVALID_ARGUMENT;
    return redirect(r, status, url);
}

int
edge_req_json(struct edge_req *r, int status, const char *json)
{
    return edge_req_text(r, status, "application/json", json);
}

int
edge_req_page(struct edge_req *r, int status, struct page *p)
{
    int err = p->err;
    buf_free(&r->body);
    r->body = p->out;
    buf_init(&p->out, PAGE_MAX);
    if (err != AUTHD_OK) {
        buf_free(&r->body);
        return err;
    }
    r->status = status;
    r->content_type = "text/html; charset=utf-8";
    return AUTHD_OK;
}

int
edge_req_text(struct edge_req *r, int status, const char *content_type, const char *text)
{
    buf_free(&r->body);
    buf_init(&r->body, PAGE_MAX);
    int err = buf_puts(&r->body, text);
    if (err != AUTHD_OK)
        return err;
    r->status = status;
    r->content_type = content_type;
    return AUTHD_OK;
}

int
edge_req_error_page(struct edge_req *r, int status, const char *heading, const char *message)
{
    struct page p;
    page_begin(&p, &r->cfg, heading);
    page_error(&p, message);
    page_link(&p, "/", "Back to the start page");
    page_end(&p);
    return edge_req_page(r, status, &p);
}

int
edge_req_fail(struct edge_req *r, int err, const char *what)
{
    struct edge_http_err he;
    edge_req_err_map(r, err, &he);
    if (he.unexpected)
        log_event(he.status >= 500 && he.status != 503 ? LOG_ERROR : LOG_WARN, "request_failed",
                  "rid=%s step=%s err=%s status=%d", r->id, what, authd_err_reason(err), he.status);
    if (he.login_redirect)
        return edge_req_redirect(r, "/auth/login");
    return edge_req_error_page(r, he.status, he.status >= 500 ? "Sorry" : "Something is wrong",
                               he.message);
}

void
edge_req_err_map(const struct edge_req *r, int err, struct edge_http_err *he)
{
    edge_http_err_map(err, he);
    if (err == AUTHD_ERR_LOCKED && r->retry_after > 0) {
        char wait[32];
        edge_http_duration_text(r->retry_after, wait, sizeof(wait));
        snprintf(he->message, sizeof(he->message), "Too many attempts. Try again in %s.", wait);
    } else if (err == AUTHD_ERR_WEAK_PASSWORD && r->cfg.password_min_length > 0) {
        snprintf(he->message, sizeof(he->message),
                 "The password is too short: use at least %d characters.",
                 r->cfg.password_min_length);
    }
}

void
edge_req_note_lockout(struct edge_req *r, int err, const struct rpc_status *st)
{
    long secs = edge_http_retry_after(err, st != NULL ? st->retry_after : 0);
    if (secs > 0)
        r->retry_after = secs;
}

void
edge_req_response_free(struct edge_req *r)
{
    buf_free(&r->body);
    free(r->location);
    r->location = NULL;
    for (size_t i = 0; i < r->n_set_cookie; i++)
        secret_strfree(r->set_cookie[i]);
    r->n_set_cookie = 0;
    r->www_authenticate = NULL;
    r->retry_after = 0;
    r->cache_control = NULL;
    r->disposition = NULL;
    secret_wipe(r->csrf, sizeof(r->csrf));
}

int
edge_req_post_as_get(struct edge_req *r, const char *path, const char *const *params,
                     size_t n_params, const char **problem)
{
    *problem = NULL;
    if (form_repeated(r->form, params, n_params) != NULL) {
        *problem = "A request parameter was given twice.";
        return AUTHD_ERR_INVALID_ARGUMENT;
    }
    for (size_t i = 0; i < n_params; i++)
        if (edge_req_query(r, params[i]) != NULL) {
            *problem = "Send the parameters either in the URL or in the form, not both.";
            return AUTHD_ERR_INVALID_ARGUMENT;
        }
    struct buf url;
    buf_init(&url, PAGE_MAX);
    int err = buf_puts(&url, path);
    char sep = '?';
    for (size_t i = 0; i < n_params && err == AUTHD_OK; i++) {
        const char *v = form_get(r->form, params[i]);
        if (v == NULL)
            continue;
        err = buf_append(&url, &sep, 1);
        if (err == AUTHD_OK)
            err = buf_puts(&url, params[i]);
        if (err == AUTHD_OK)
            err = buf_puts(&url, "=");
        if (err == AUTHD_OK)
            err = buf_urlenc(&url, v);
        sep = '&';
    }
    if (err == AUTHD_ERR_TOO_LARGE) {
        *problem = "The request is too large.";
        err = AUTHD_ERR_INVALID_ARGUMENT;
    } else if (err == AUTHD_OK) {
        err = edge_req_redirect(r, url.data);
    }
    buf_free(&url);
    return err;
}
