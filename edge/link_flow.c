/* SPDX-License-Identifier: Apache-2.0 */
/* The pages of the one-time link flows (signup confirmation, password reset): see link_flow.h. */
#include "edge/link_flow.h"

#include "common/err.h"
#include "edge/http_err.h"
#include "proto/rpc.h"

int
edge_link_token_error(int err)
{
    return err == AUTHD_ERR_INVALID_TOKEN || err == AUTHD_ERR_NOT_FOUND ||
           err == AUTHD_ERR_INVALID_ARGUMENT;
}

int
edge_link_invalid(struct edge_req *r, const struct edge_link_flow *f)
{
    struct edge_http_err he;
    edge_http_err_map(AUTHD_ERR_INVALID_TOKEN, &he);
    struct page p;
    page_begin(&p, &r->cfg, "Link not valid");
    page_error(&p, he.message);
    for (const char *const *l = f->links; l[0] != NULL && l[1] != NULL; l += 2)
        page_link(&p, l[0], l[1]);
    page_end(&p);
    return edge_req_page(r, he.status, &p);
}

int
edge_link_render(struct edge_req *r, const struct edge_link_flow *f, int status, const char *error)
{
    Authd__V1__TokenRequest req = AUTHD__V1__TOKEN_REQUEST__INIT;
    req.token = edge_authd_str(r->param);
    ProtobufCMessage *got = NULL;
    int err = edge_authd_call(r->edge->authd, r->id, f->service, "Get", &req.base, &got, NULL);
    if (edge_link_token_error(err))
        return edge_link_invalid(r, f);
    if (err != AUTHD_OK)
        return edge_req_fail(r, err, f->get_what);
    err = f->render(r, status, got, error);
    rpc_msg_free(got);
    return err;
}

int
edge_link_refused(struct edge_req *r, const struct edge_link_flow *f, int err, const char *what)
{
    if (err == AUTHD_ERR_WEAK_PASSWORD || err == AUTHD_ERR_TOO_LARGE ||
        (f->lockable && err == AUTHD_ERR_LOCKED)) {
        struct edge_http_err he;
        edge_req_err_map(r, err, &he);
        return edge_link_render(r, f, he.status, he.message);
    }
    if (edge_link_token_error(err))
        return edge_link_invalid(r, f);
    return edge_req_fail(r, err, what);
}

int
edge_link_form_begin(struct edge_req *r, struct page *p, const char *action_prefix,
                     const char *heading, const char *email, const char *error)
{
    struct buf action;
    buf_init(&action, 4096);
    int err = buf_puts(&action, action_prefix);
    if (err == AUTHD_OK)
        err = buf_urlenc(&action, r->param);
    if (err == AUTHD_OK) {
        page_begin(p, &r->cfg, heading);
        if (error != NULL)
            page_error(p, error);
        page_raw(p, "<p>For <strong>");
        page_text(p, email);
        page_raw(p, "</strong></p>\n");
        page_form_begin(p, action.data, edge_req_csrf(r));
    }
    buf_free(&action);
    return err;
}
