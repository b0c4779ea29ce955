/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cache of authd's published key set and issuer (OAuth.Jwks), for /.well-known/jwks.json
 * and the discovery document.
 */
#ifndef AUTHD_EDGE_JWKS_CACHE_H
#define AUTHD_EDGE_JWKS_CACHE_H

#include <stddef.h>

struct edge_authd;

#define EDGE_JWKS_MAX ((size_t)64 * 1024) /* bytes of jwks_json kept */
#define EDGE_ISSUER_MAX 512
/* How old a copy the discovery document may use (it needs only the issuer). */
#define EDGE_JWKS_ISSUER_TTL_MS 5000

/*
 * How old a copy of the key set /.well-known/jwks.json may serve (--jwks-max-age-ms; set before
 * serving). 0 (the default): none — every answer holds authd's key set as it was at a moment
 * after the request arrived, so a key rotated in before a resource server refetches is always
 * there; concurrent requests share one OAuth.Jwks call (the one that starts after the last of
 * them arrived). N > 0: a copy up to N ms old is served as is; the first request after that
 * refreshes it while every other one keeps serving the copy (a rotation shows within N ms plus
 * one call).
 */
void edge_authd_set_jwks_max_age(struct edge_authd *a, int max_age_ms);

/*
 * OAuth.Jwks through the cache. keys: the key set is wanted (as fresh as the max age above);
 * else only the issuer (a copy up to EDGE_JWKS_ISSUER_TTL_MS old, refreshed the same way). With
 * nothing fetched yet, a request waits for the call in flight (or makes it) rather than fail;
 * when authd cannot be asked, the last good copy is served, however old. On AUTHD_OK
 * *jwks_json is a malloc'd copy of the key set (public keys; free()) and issuer (capacity icap)
 * authd's issuer. Otherwise *jwks_json is NULL and the result is authd's error
 * (AUTHD_ERR_UNAVAILABLE, AUTHD_ERR_DEADLINE: nothing ever fetched and authd down),
 * AUTHD_ERR_TOO_LARGE (a key set over EDGE_JWKS_MAX, or an issuer that does not fit
 * EDGE_ISSUER_MAX), AUTHD_ERR_INTERNAL (an empty key set) or AUTHD_ERR_NOMEM. Thread-safe;
 * blocks at most about two call deadlines.
 */
int edge_authd_oauth_jwks(struct edge_authd *a, const char *rid, int keys, char **jwks_json,
                          char *issuer, size_t icap);

#endif
