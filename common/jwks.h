/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one place both sides of the key-set cache read how long HTTP caches downstream of the edge
 * (a CDN, a resource server's client library) may keep /.well-known/jwks.json: the edge sends it
 * as Cache-Control max-age (edge/flow_token.c), and authd leaves that much of the key publication
 * delay for them when it tells the edge how long its own copy may serve
 * (signkeys_cache_max_ms: JwksResponse.cache_max_ms). A copy held downstream is then at most
 * the edge copy's age plus this, still less than the delay: it holds the key that signs.
 */
#ifndef AUTHD_COMMON_JWKS_H
#define AUTHD_COMMON_JWKS_H

#define AUTHD_JWKS_HTTP_MAX_AGE_S 60

#define AUTHD_JWKS_STR_(x) #x
#define AUTHD_JWKS_STR(x) AUTHD_JWKS_STR_(x)
/* The Cache-Control value of the edge's JWKS answer (and its discovery document's). */
#define AUTHD_JWKS_CACHE_CONTROL "public, max-age=" AUTHD_JWKS_STR(AUTHD_JWKS_HTTP_MAX_AGE_S)

#endif
