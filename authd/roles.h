/* SPDX-License-Identifier: Apache-2.0 */
/*
 * authd's caller roles, as the bit set a method row (struct rpc_method.roles, the tables at the
 * bottom of each authd/svc_*.c) allows and a caller holds (authd/callers.h decides who holds
 * which). The rows are decided from what each caller does:
 *   edge     the browser flows (the edge's flows call exactly these): signup, password
 *            reset, login and the second factor, the user's own sessions and two-factor
 *            settings, the OAuth endpoints, the AuthConfig it themes pages with. Only the edge
 *            asks for a delivery code (IssueDeliveryCode), which hands out a live TOTP code.
 *   admin    authctl and operators: users (all), clients and key rotation (ClientAdmin), the
 *            AuthConfig, and what an operator reads or ends besides: a user's sessions (List,
 *            Revoke by id) and the published keys.
 *   service  resource servers: token introspection, revocation and UserInfo, the JWKS, user
 *            lookup (Users/Get) and session validation (Sessions/Get).
 * Health/Check is open to every caller, with or without credentials (probes). A row whose roles
 * are 0 is refused to everyone; tests/unit/authd/test_callers.c fails when a served method has
 * none.
 */
#ifndef AUTHD_ROLES_H
#define AUTHD_ROLES_H

#define ROLE_EDGE 0x1u
#define ROLE_ADMIN 0x2u
#define ROLE_SERVICE 0x4u
#define ROLE_ALL (ROLE_EDGE | ROLE_ADMIN | ROLE_SERVICE)
/* In a method row only: the method needs no role (every caller, even one without any
 * credentials: health probes). */
#define ROLE_OPEN 0x80u

#endif
