/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cache of authd's published key set and issuer (OAuth.Jwks), for /.well-known/jwks.json
 * and the discovery document. Copies are served while a background thread refreshes them, so
 * requests do not wait for authd. While authd answers, a copy of the key set is never served
 * longer than authd said it may be (JwksResponse.cache_max_ms: authd publishes a rotated-in key
 * that long before it signs), so the key that signs now is always in the set served. When authd
 * cannot be asked, the last good copy is served however old (a request past cache_max_ms first
 * waits for a call that fails): an old key set beats none, and an authd that cannot be reached
 * signs nothing new through this edge meanwhile.
 */
#ifndef AUTHD_EDGE_JWKS_CACHE_H
#define AUTHD_EDGE_JWKS_CACHE_H

#include <stddef.h>

struct edge_authd;

#define EDGE_JWKS_MAX ((size_t)64 * 1024) /* bytes of jwks_json kept */
#define EDGE_ISSUER_MAX 512
/* How old a copy the discovery document may use before it is refreshed (in the background: it
 * needs only the issuer, so the copy keeps serving meanwhile). */
#define EDGE_JWKS_ISSUER_TTL_MS 5000
/* The default of --jwks-max-age-ms: well below authd's default publication delay (5 minutes). */
#define EDGE_JWKS_MAX_AGE_DEFAULT_MS 10000

/*
 * How old a copy of the key set /.well-known/jwks.json may get before it is refreshed
 * (--jwks-max-age-ms; set before serving). N > 0: a copy younger than N ms is served as is;
 * an older one is still served while a background thread asks authd for the current set, as
 * long as it is younger than the cache_max_ms authd sent with it; past that (or when authd sent
 * 0: an authd that signs with a rotated key at once, or one before publication delays) a request
 * waits for a call begun after it arrived. 0: no copy at all - every answer holds authd's key
 * set as it was at a moment after the request arrived; concurrent requests share one call.
 */
void edge_authd_set_jwks_max_age(struct edge_authd *a, int max_age_ms);

/*
 * 1 when edge_authd_oauth_jwks(a, ..., keys, ...) called now would answer from the copy without
 * waiting for authd (it may start a background refresh, as that call would), else 0. A hint for
 * where to run the request (server.c: inline in the pool or on a worker): the answer may change
 * before the call, which then waits as usual. Thread-safe.
 */
int edge_authd_jwks_serves_now(struct edge_authd *a, int keys);

/*
 * OAuth.Jwks through the cache. keys: the key set is wanted (as fresh as the rules above ask);
 * else only the issuer (a copy up to EDGE_JWKS_ISSUER_TTL_MS old before a background refresh,
 * served meanwhile). With nothing fetched yet, a request waits for the call in flight (or makes
 * it) rather than fail; when authd cannot be asked, the last good copy is served, however old.
 * On AUTHD_OK *jwks_json is a malloc'd copy of the key set (public keys; free()) and issuer
 * (capacity icap) authd's issuer. Otherwise *jwks_json is NULL and the result is authd's error
 * (AUTHD_ERR_UNAVAILABLE, AUTHD_ERR_DEADLINE: nothing ever fetched and authd down),
 * AUTHD_ERR_TOO_LARGE (a key set over EDGE_JWKS_MAX, or an issuer that does not fit
 * EDGE_ISSUER_MAX), AUTHD_ERR_INTERNAL (an empty key set) or AUTHD_ERR_NOMEM. Thread-safe;
 * blocks at most about two call deadlines, and not at all while a copy serves.
 */
int edge_authd_oauth_jwks(struct edge_authd *a, const char *rid, int keys, char **jwks_json,
                          char *issuer, size_t icap);

/*
 * Stops the background refresher (waits for its call in flight, bounded by the call deadline).
 * Called by edge_authd_free before the client goes; a no-op when none was started.
 */
void edge_authd_jwks_stop(struct edge_authd *a);

#endif
