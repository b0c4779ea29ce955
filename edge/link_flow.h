/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the flows behind a mailed one-time link share: signup confirmation (flow_signup.c) and
 * password reset (flow_password.c). Both take the token from the path (r->param), look it up
 * with their service's Get, show a set-password form for it, and answer an unusable token
 * with the same "Link not valid" page. authd checks the token every time; the edge only
 * decides which page to show.
 */
#ifndef AUTHD_EDGE_LINK_FLOW_H
#define AUTHD_EDGE_LINK_FLOW_H

#include "edge/request.h"

/* One link flow, a static description owned by its flow file. */
struct edge_link_flow {
    const ProtobufCServiceDescriptor *service; /* whose "Get" takes a TokenRequest */
    const char *get_what;                      /* edge_req_fail() label of a failed Get */
    /*
     * Renders the flow's form for got (the Get answer, borrowed) with status and error (may be
     * NULL); returns as edge_req_page() does.
     */
    int (*render)(struct edge_req *r, int status, const ProtobufCMessage *got, const char *error);
    const char *const *links; /* the invalid-link page's links: href, text, ..., NULL */
    int lockable;             /* Complete may answer LOCKED (it checks a second factor) */
};

/* 1 for the errors authd answers for an unusable link token (unknown, used, expired, bad). */
int edge_link_token_error(int err);

/* Answers the "Link not valid" page of f (status and message from edge_http_err_map()). */
int edge_link_invalid(struct edge_req *r, const struct edge_link_flow *f);

/*
 * Looks the token in r->param up with f's Get and answers f->render(status, error) for it, or
 * the invalid-link page for an unusable token, or edge_req_fail() for another error.
 */
int edge_link_render(struct edge_req *r, const struct edge_link_flow *f, int status,
                     const char *error);

/*
 * Answers for a refused Complete (err not AUTHD_OK): a weak or too large password (or, when f
 * is lockable, a lockout) shows the form again with the mapped status and message; an unusable
 * token the invalid-link page; anything else edge_req_fail() labelled what.
 */
int edge_link_refused(struct edge_req *r, const struct edge_link_flow *f, int err,
                      const char *what);

/*
 * Begins p as the set-password form of a link flow: heading, the error (may be NULL), "For
 * email", and the form posting to action_prefix followed by the URL-encoded token (r->param).
 * Returns AUTHD_OK with p begun (finish with page_end() and edge_req_page()), or an error with
 * p not begun.
 */
int edge_link_form_begin(struct edge_req *r, struct page *p, const char *action_prefix,
                         const char *heading, const char *email, const char *error);

#endif
