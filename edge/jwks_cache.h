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

/*
 * OAuth.Jwks. With fresh, authd is asked every time (the key set a resource server fetches on
 * meeting an unknown kid must already hold a key authd has just started signing with); without,
 * a copy younger than 5 s is served as is and an older one is refreshed by one caller while the
 * others keep serving it (the discovery document only needs the issuer). Either way, when authd
 * cannot be asked, the last good copy is served. On AUTHD_OK *jwks_json is a malloc'd copy of
 * the key set (public keys; free()) and issuer (capacity icap) authd's issuer. Otherwise
 * *jwks_json is NULL and the result is authd's error, AUTHD_ERR_UNAVAILABLE (never fetched yet
 * and another request is fetching), AUTHD_ERR_TOO_LARGE (a key set over EDGE_JWKS_MAX, or an
 * issuer that does not fit EDGE_ISSUER_MAX), AUTHD_ERR_INTERNAL (an empty key set) or
 * AUTHD_ERR_NOMEM.
 */
int edge_authd_oauth_jwks(struct edge_authd *a, const char *rid, int fresh, char **jwks_json,
                          char *issuer, size_t icap);

#endif
