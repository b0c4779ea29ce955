/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CORS for the OAuth endpoints browser applications call (token, userinfo, revocation, JWKS,
 * discovery). Whether an origin may is authd's decision (OAuth.CheckOrigin: some active client
 * registered it in allowed_origins); this file only keeps authd's answers for as long as authd
 * allows (at most EDGE_CORS_TTL_MAX_S), both yes and no, in a bounded process-wide table shared
 * by all request threads (its own lock).
 */
#ifndef AUTHD_EDGE_CORS_H
#define AUTHD_EDGE_CORS_H

#include <stddef.h>

struct edge_authd;

#define EDGE_CORS_ORIGIN_MAX 255 /* longer Origin headers are never allowed (nor asked about) */
#define EDGE_CORS_TTL_MAX_S 300
#define EDGE_CORS_SLOTS 512

/*
 * 1 when origin (a request's Origin header) may read the answers of the credential-free CORS
 * endpoints, from the cache or by asking authd (rid for the log); 0 when not, when the header
 * cannot be an origin ("null", too long, control characters), or when authd cannot be asked
 * (not cached: the next request asks again).
 */
int edge_cors_allowed(struct edge_authd *a, const char *rid, const char *origin);

#endif
