/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The OAuth parameters a browser flow was started with (client_id, response_type,
 * redirect_uri, state, scope, nonce, code_challenge, code_challenge_method, acr_values), and
 * auth_after when authd asked for a fresh sign-in (prompt=login, max_age, acr_values; see
 * flow_oauth.c). They ride along as
 * hidden form fields, go into authd's ClientContext so they survive the e-mail round trip, and
 * decide where the browser goes after a successful login or signup: /auth/authorize with them,
 * or / when there is no client_id. They are never interpreted here.
 */
#ifndef AUTHD_EDGE_CARRY_H
#define AUTHD_EDGE_CARRY_H

#include "authd/v1/common.pb-c.h"
#include "common/buf.h"
#include "edge/form.h"
#include "edge/page.h"

#define EDGE_CARRY_N 10
#define EDGE_CARRY_AUTH_AFTER 8 /* the index of auth_after */

/* Names, in ClientContext order. */
extern const char *const edge_carry_names[EDGE_CARRY_N];

/* Borrowed values; NULL or "" when absent. */
struct edge_carry {
    const char *v[EDGE_CARRY_N];
};

/* Takes the parameters from a query string or form body (f may be NULL). */
void edge_carry_from_form(struct edge_carry *c, const struct form *f);

/* Takes them from a ClientContext (cc may be NULL). */
void edge_carry_from_client(struct edge_carry *c, const Authd__V1__ClientContext *cc);

/* Fills an initialised ClientContext with borrowed pointers to c's values ("" when absent). */
void edge_carry_to_client(const struct edge_carry *c, Authd__V1__ClientContext *cc);

/* 1 when any parameter is present. */
int edge_carry_any(const struct edge_carry *c);

/* Adds one hidden field per present parameter to p. */
void edge_carry_hidden(const struct edge_carry *c, struct page *p);

/* Appends path, then "?" and the present parameters url-encoded, when there are any. */
int edge_carry_url(struct buf *b, const char *path, const struct edge_carry *c);

/* Appends where to go after signing in: "/auth/authorize?..." when client_id is set, else "/". */
int edge_carry_next(struct buf *b, const struct edge_carry *c);

/* Adds a paragraph with a link to path plus the carried parameters (see edge_carry_url()). */
void edge_carry_link(struct page *p, const char *path, const struct edge_carry *c,
                     const char *text);

#endif
