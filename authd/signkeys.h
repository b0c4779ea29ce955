/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Token signing keys. authd keeps its signing keys in the store (private keys sealed with the
 * same key-encryption key as TOTP secrets, see secretbox.h), one active key per algorithm
 * (ES256 and RS256, both published), each with a kid. Access tokens are signed with the
 * algorithm the latest administrator rotation chose (signkeys_access_alg); ID tokens with the
 * one their client registered (RS256 by default). Rotation makes a new key active; retired
 * public keys stay in the JWKS until every token they signed has expired.
 * cjose makes the keys and verifies JWS; signing uses OpenSSL's EVP directly. Thread-safe: one
 * signkeys serves all calls.
 */
#ifndef AUTHD_SIGNKEYS_H
#define AUTHD_SIGNKEYS_H

#include <stddef.h>
#include <stdint.h>

struct authd;
struct signkeys;

#define SIGNKEYS_KID_MAX 64

/*
 * Loads every key from the store (creating a first ES256 key when there is none) into memory.
 * max_token_ttl (seconds) bounds how long a retired key stays published. a is borrowed for the
 * life of the key set (its store, key box, clock and refresh_ms): sign, verify and jwks reread
 * the stored keys when the copy is older than a->refresh_ms, so another replica's rotation is
 * followed, and verify reads an unknown kid's record at once. The verified-token cache gets
 * a->set.token_cache entries (0: none). AUTHD_OK, or AUTHD_ERR_INTERNAL / a storage error
 * (logged).
 */
int signkeys_load(struct authd *a, int64_t max_token_ttl, struct signkeys **out);

/* Frees (private keys wiped). NULL is a no-op. */
void signkeys_free(struct signkeys *k);

/*
 * Creates a new key for alg ("ES256" or "RS256"; NULL or "" = signkeys_access_alg(k)), stores
 * it, and makes it the active one for that algorithm, retiring the one before, after the
 * publication delay (signkeys_rotate_at with at_once 0). The rotation is
 * also the administrator's choice: alg becomes the algorithm of access tokens on every replica
 * sharing the store (SigningKey.selected_at). kid (SIGNKEYS_KID_MAX bytes) receives its id.
 * AUTHD_OK, AUTHD_ERR_INVALID_ARGUMENT (unknown alg) or an error.
 */
int signkeys_rotate(struct authd *a, struct signkeys *k, const char *alg, char *kid);

/*
 * signkeys_rotate, publishing before signing: the new key is published (signkeys_jwks) from the
 * moment the rotation is stored but signs only from a->set.key_publish_delay seconds later
 * (*active_from, unix seconds, when not NULL); the keys of alg before it sign until then and
 * retire at that moment (SigningKey.retired_at, ahead of now meanwhile). So every cache of the
 * JWKS that refreshes more often than the delay holds the key before any token it signs. Every
 * replica decides which key signs from the stored active_from and retired_at against its own
 * clock (keep clocks in sync), not from a timer. at_once (an emergency: a key suspected
 * leaked) or no key of alg to sign meanwhile: it signs at once, and the keys before it stop now.
 * A second rotation during the delay retires the waiting key too, at the new key's active_from.
 */
int signkeys_rotate_at(struct authd *a, struct signkeys *k, const char *alg, int at_once, char *kid,
                       int64_t *active_from);

/*
 * Makes sure alg ("ES256" or "RS256") has an active key: when it has none, creates and stores
 * one without retiring anything and without choosing it for access tokens. AUTHD_OK (also when
 * one existed), AUTHD_ERR_INVALID_ARGUMENT or an error. Slow only when it creates (an RSA key).
 */
int signkeys_ensure(struct authd *a, struct signkeys *k, const char *alg);

/*
 * The algorithm access tokens are signed with: the alg of the active key whose rotation was
 * the latest administrator choice, or, when no active key was chosen (a new store, or keys made
 * before choices were recorded), the --token-alg of the authd given to signkeys_load (ES256 by
 * default). A static string, "ES256" or "RS256".
 */
const char *signkeys_access_alg(struct signkeys *k);

/*
 * Signs claims_json (a JSON object) as a compact JWS with the active key of alg (NULL = ES256),
 * with "typ": "JWT" and "kid" in the header. *jws is malloc'd (free with free()).
 * AUTHD_ERR_NOT_FOUND when alg has no active key (see signkeys_ensure).
 */
int signkeys_sign(struct signkeys *k, const char *alg, const char *claims_json, char **jws);

/* signkeys_sign with typ (e.g. "at+jwt" for RFC 9068 access tokens: 1..31 printable ASCII
 * characters, no '"' or '\\') in the header. */
int signkeys_sign_typ(struct signkeys *k, const char *alg, const char *typ, const char *claims_json,
                      char **jws);

/*
 * signkeys_sign_typ for claims the caller wrote itself as one JSON object (claims_json, len
 * bytes): not parsed again here, so a caller that builds the text (svc_oauth.c) pays for the
 * signature and not for JSON twice. The signature is OpenSSL's (EVP, the key's context made when
 * it was opened), ES256 as R || S. AUTHD_ERR_INVALID_ARGUMENT also for a token longer than
 * signkeys_verify would read (16 KiB).
 */
int signkeys_sign_unchecked(struct signkeys *k, const char *alg, const char *typ,
                            const char *claims_json, size_t len, char **jws);

/*
 * Verifies a compact JWS: the header's kid must name a published key, its alg must be that key's
 * alg ("none" and anything else refused), and the signature must verify. On AUTHD_OK *claims_json
 * (malloc'd) is the payload; else AUTHD_ERR_INVALID_TOKEN. Expiry and other claims are the
 * caller's to check, on every call.
 * A token that verified is remembered (tokcache.h, keyed by its SHA-256, until its "exp" claim;
 * a payload without an integer exp is not) with the key that verified it: presented again, it
 * skips the signature check as long as that same key is still in the set and published, so a
 * retired key's tokens stop verifying when its publication ends and a key deleted from the store
 * takes its tokens with it at the next refresh, exactly as without the cache.
 */
int signkeys_verify(struct signkeys *k, const char *jws, char **claims_json);

/* The JWKS document {"keys": [...]} of every published public key; *json malloc'd. */
int signkeys_jwks(struct signkeys *k, char **json);

/*
 * Retires the non-active key kid for good: its record is deleted from the store and it leaves
 * this replica's memory at once (other replicas sharing the store drop it at their next reread,
 * within refresh_ms), so it is no longer published in the JWKS and tokens it signed no longer
 * verify. For a key an operator no longer trusts, before its published time runs out.
 * AUTHD_OK; AUTHD_ERR_NOT_FOUND (no such kid); AUTHD_ERR_INVALID_ARGUMENT when kid is active:
 * it signs now or will (its stored retired_at is 0 or ahead of now: the signer until a rotated-in
 * key takes over, or that waiting key) (alg, SIGNKEYS_ALG_TEXT bytes, may be NULL, then receives
 * "ES256" or "RS256": rotate that algorithm first, and wait for the new key to sign, or rotate
 * at once); a storage error.
 */
#define SIGNKEYS_ALG_TEXT 8
int signkeys_retire(struct signkeys *k, const char *kid, char *alg);

/* What an operator sees of one signing key (no key material). */
struct signkeys_info {
    char kid[SIGNKEYS_KID_MAX];
    char alg[8];
    int64_t created_at;
    int64_t active_from; /* signs from then (unix seconds) */
    int64_t retired_at;  /* stops (or stopped) signing then; 0: not retired */
    int signing;         /* signs for its algorithm now (signkeys_sign would use it) */
    int published;       /* in the JWKS: active, or retired less than the longest token TTL ago */
};

/*
 * The keys this authd holds (after a reread of the store when one is due), oldest first, in *out
 * (malloc'd array of *n; free with free(); NULL when none). AUTHD_OK or AUTHD_ERR_NOMEM.
 */
int signkeys_list(struct signkeys *k, struct signkeys_info **out, size_t *n);

/*
 * How long (ms) a cache may serve the key set signkeys_jwks returns now and still hold every key
 * that signs meanwhile (JwksResponse.cache_max_ms): the publication delay less refresh_ms (another
 * replica's rotation reaches this one's key set that late), one second (times are stored in
 * whole seconds), one more (clock skew between replicas) and AUTHD_JWKS_HTTP_MAX_AGE_S
 * (common/jwks.h: the edge lets HTTP caches behind it keep its copy that much longer); 0 when
 * that leaves nothing, or with no delay. A key rotated at once is the exception (it signs
 * before caches refresh).
 */
int64_t signkeys_cache_max_ms(const struct authd *a);

#endif
