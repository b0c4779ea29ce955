/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The edge's readiness probe (/readyz): authd answers and takes this edge for an edge.
 */
#ifndef AUTHD_EDGE_READINESS_H
#define AUTHD_EDGE_READINESS_H

struct edge_authd;

/*
 * The readiness probe: 1 when authd answers grpc.health.v1.Health/Check with SERVING and
 * accepts this edge's credentials. Health/Check is open to every caller, so it cannot show the
 * latter: Admin.GetAuthConfig, which only the edge (and admin) role may call, must not be
 * refused (NOT_FOUND, no AuthConfig stored, counts as accepted). Otherwise 0, and *reason is
 * why, a static word: "authd_unreachable" (no answer, or no TLS handshake), "authd_not_serving",
 * "edge_role_refused" (PERMISSION_DENIED or UNAUTHENTICATED: no client certificate, an identity
 * the callers file does not give the edge role, --anonymous-roles none...) or "authd_error".
 * *reason is NULL when ready. The probe's calls are not logged one by one (probes come every
 * few seconds): a change of the answer is, once (event=readiness, warn when not ready).
 */
int edge_authd_ready(struct edge_authd *a, const char *rid, const char **reason);

#endif
