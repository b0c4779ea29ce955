/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The flow handlers the route table in server.c dispatches to, one file per flow:
 * flow_home.c (landing, logout, DELETE /Session, health, static CSS, the authorize stub),
 * flow_signup.c, flow_login.c, flow_password.c (forgot / reset / change).
 *
 * A handler runs after the server has parsed the query, the cookies and (for form POSTs) the
 * body, and checked CSRF for routes that need it. It answers through the edge_req_* helpers and
 * returns AUTHD_OK, or an error when it could not build an answer (the server then sends 500).
 */
#ifndef AUTHD_EDGE_FLOWS_H
#define AUTHD_EDGE_FLOWS_H

#include "request.h"

typedef int (*edge_handler_fn)(struct edge_req *r);

/* flow_home.c */
int edge_flow_home(struct edge_req *r);           /* GET / */
int edge_flow_logout(struct edge_req *r);         /* POST /auth/logout */
int edge_flow_session_delete(struct edge_req *r); /* DELETE /Session */
int edge_flow_healthz(struct edge_req *r);        /* GET /healthz */
int edge_flow_readyz(struct edge_req *r);         /* GET /readyz */
int edge_flow_style(struct edge_req *r);          /* GET /auth/static/style.css */
int edge_flow_authorize(struct edge_req *r);      /* GET /auth/authorize (not yet: 501) */

/* flow_signup.c */
int edge_flow_signup_form(struct edge_req *r);         /* GET /auth/signup */
int edge_flow_signup_start(struct edge_req *r);        /* POST /auth/signup */
int edge_flow_signup_confirm_form(struct edge_req *r); /* GET /auth/signup/confirm/{token} */
int edge_flow_signup_confirm(struct edge_req *r);      /* POST /auth/signup/confirm/{token} */

/* flow_login.c */
int edge_flow_login_form(struct edge_req *r); /* GET /auth/login */
int edge_flow_login(struct edge_req *r);      /* POST /auth/login */

/* flow_password.c */
int edge_flow_forgot_form(struct edge_req *r);   /* GET /auth/forgot-password */
int edge_flow_forgot(struct edge_req *r);        /* POST /auth/forgot-password */
int edge_flow_reset_form(struct edge_req *r);    /* GET /auth/reset-password/{token} */
int edge_flow_reset(struct edge_req *r);         /* POST /auth/reset-password/{token} */
int edge_flow_password_form(struct edge_req *r); /* GET /auth/password */
int edge_flow_password(struct edge_req *r);      /* POST /auth/password */

#endif
