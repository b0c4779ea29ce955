/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A bounded cache of verified JWS signatures, so that a token presented again (Introspect,
 * UserInfo, a bearer token of the edge's calls) skips the ES256/RS256 verification, the costliest
 * step of judging it. What it remembers is only "this exact token's signature verified with the
 * key whose serial is tag, and its payload is claims": every other check (expiry, issuer,
 * revocation, session, client) stays the caller's and runs on every call.
 *
 * Entries are keyed by the SHA-256 of the whole compact token (never the token itself), so two
 * tokens that differ anywhere (a changed signature too) never share an entry. An entry dies at
 * the token's exp: a lookup at or after it misses and wipes the entry. The size is bounded
 * (rounded up to whole sets); a full set evicts its least recently used entry. Entries live in
 * shards, each behind its own mutex, so the gRPC worker threads rarely meet; every function is
 * thread-safe. Evicted, expired and freed entries are wiped (key hash and claims).
 */
#ifndef AUTHD_TOKCACHE_H
#define AUTHD_TOKCACHE_H

#include <stddef.h>
#include <stdint.h>

struct tokcache;

/* Longest payload kept; a longer one is verified every time. */
#define TOKCACHE_CLAIMS_MAX 1024

/* A cache of about `entries` tokens (rounded up to whole sets); NULL for 0 (no cache) or NOMEM.
 * Free with tokcache_free. */
struct tokcache *tokcache_new(size_t entries);

/* Wipes every entry and frees. NULL is a no-op. */
void tokcache_free(struct tokcache *c);

/* The number of entries the cache can hold (0 for NULL). */
size_t tokcache_capacity(const struct tokcache *c);

/* The cache key of a presented token: SHA-256 of its len bytes. */
void tokcache_key(const char *token, size_t len, uint8_t key[32]);

/*
 * Looks key up at now (Unix seconds). On a hit (1), *tag is what tokcache_put stored and *claims
 * a malloc'd copy of the payload (the caller frees it with secret_strfree). 0 on a miss, with
 * *claims NULL: nothing stored, its exp reached (the entry is wiped), NULL c, or NOMEM.
 */
int tokcache_get(struct tokcache *c, const uint8_t key[32], int64_t now, uint64_t *tag,
                 char **claims);

/*
 * Remembers that the token with key verified (tag: which key verified it) with payload claims
 * (copied), until exp (Unix seconds). Nothing is stored when exp <= now, when claims is longer
 * than TOKCACHE_CLAIMS_MAX, on NOMEM, or for NULL c. Replaces an entry with the same key.
 */
void tokcache_put(struct tokcache *c, const uint8_t key[32], int64_t exp, int64_t now, uint64_t tag,
                  const char *claims);

/* Forgets key's entry (wiped), if any. */
void tokcache_drop(struct tokcache *c, const uint8_t key[32]);

#endif
