/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Token signing keys. authd keeps its signing keys in the store (private keys sealed with the
 * same key-encryption key as TOTP secrets, see secretbox.h), one active key per algorithm
 * (ES256 by default; RS256 for Aidbox compatibility), each with a kid. Rotation makes a new
 * key active; retired public keys stay in the JWKS until every token they signed has expired.
 * JWS signing and verification go through cjose. Thread-safe: one signkeys serves all calls.
 */
#ifndef AUTHD_SIGNKEYS_H
#define AUTHD_SIGNKEYS_H

#include <stdint.h>

struct authd;
struct signkeys;

#define SIGNKEYS_KID_MAX 64

/*
 * Loads every key from the store (creating a first ES256 key when there is none) into memory.
 * max_token_ttl (seconds) bounds how long a retired key stays published. a is borrowed for the
 * life of the key set (its store, key box, clock and refresh_ms): sign, verify and jwks reread
 * the stored keys when the copy is older than a->refresh_ms, so another replica's rotation is
 * followed, and verify reads an unknown kid's record at once. AUTHD_OK, or AUTHD_ERR_INTERNAL /
 * a storage error (logged).
 */
int signkeys_load(struct authd *a, int64_t max_token_ttl, struct signkeys **out);

/* Frees (private keys wiped). NULL is a no-op. */
void signkeys_free(struct signkeys *k);

/*
 * Creates a new key for alg ("ES256" or "RS256"; NULL or "" = "ES256"), stores it, and makes it
 * the active one for that algorithm. kid (SIGNKEYS_KID_MAX bytes) receives its id. AUTHD_OK,
 * AUTHD_ERR_INVALID_ARGUMENT (unknown alg) or an error.
 */
int signkeys_rotate(struct authd *a, struct signkeys *k, const char *alg, char *kid);

/*
 * Signs claims_json (a JSON object) as a compact JWS with the active key of alg (NULL = ES256),
 * with "typ": "JWT" and "kid" in the header. *jws is malloc'd (free with free()).
 */
int signkeys_sign(struct signkeys *k, const char *alg, const char *claims_json, char **jws);

/*
 * Verifies a compact JWS: the header's kid must name a published key, its alg must be that key's
 * alg ("none" and anything else refused), and the signature must verify. On AUTHD_OK *claims_json
 * (malloc'd) is the payload; else AUTHD_ERR_INVALID_TOKEN. Expiry and other claims are the
 * caller's to check.
 */
int signkeys_verify(struct signkeys *k, const char *jws, char **claims_json);

/* The JWKS document {"keys": [...]} of every published public key; *json malloc'd. */
int signkeys_jwks(struct signkeys *k, char **json);

#endif
