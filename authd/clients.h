/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OAuth clients (the Client resource): loading and authenticating them. Client secrets come from
 * manifests, i.e. they may be chosen by people, so they are stored as Argon2id PHC strings; a
 * successful verification is remembered in memory as SHA-256(client id, secret), so a busy
 * client pays the slow hash once, not on every token request. The cache is cleared when a client
 * changes.
 */
#ifndef AUTHD_CLIENTS_H
#define AUTHD_CLIENTS_H

#include "authd/authd.h"
#include "storage/records.pb-c.h"

/*
 * 1 when a token issued at iat (unix seconds) to client c may still be used: it belongs to the
 * client's current registration (iat >= its created_at: tokens from before a Delete and a new Put
 * of the same id are dead) and the client is active (clients_active: a deactivated client's
 * tokens are dead while it stays so). c is borrowed; NULL gives 0.
 */
int clients_token_live(const Authd__Storage__ClientRecord *c, int64_t iat);

/* Loads client/<id>. AUTHD_OK, AUTHD_ERR_NOT_FOUND or a storage error. Free with rpc_msg_free. */
int clients_get(struct authd *a, const char *id, Authd__Storage__ClientRecord **out);

/* 1 when the client is active (absent "active" means active). */
int clients_active(const Authd__Storage__ClientRecord *c);

/* 1 when the client has a secret (a confidential client). */
int clients_confidential(const Authd__Storage__ClientRecord *c);

/*
 * Authenticates a client: it must exist and be active, and when it has a secret, secret must
 * match it (a client without a secret is public: any secret given is refused). AUTHD_OK with *out
 * (may be NULL), or AUTHD_ERR_INVALID_CREDENTIALS for all of unknown, inactive and wrong secret.
 * A secret the cache knows is judged without the slow hash either way: the one that verified
 * last passes, and while the cache knows it any other is wrong (one secret per stored hash).
 */
int clients_authenticate(struct authd *a, const char *id, const char *secret,
                         Authd__Storage__ClientRecord **out);

/*
 * clients_authenticate() behind the brute-force counters (guard.h, judge_first), so that a
 * stranger who knows only the client id can never keep the right secret out:
 *   - the caller's address (ip, the edge's client_ip; when NULL or "", the gRPC peer's host)
 *     that keeps presenting wrong secrets is locked like a password login's address, and is
 *     then refused before anything is judged: AUTHD_ERR_LOCKED;
 *   - otherwise the secret is judged: a secret that verifies passes (AUTHD_OK), whatever the
 *     client's own counter says; a wrong one counts against the address and the client
 *     ("client:<id>") and is AUTHD_ERR_INVALID_CREDENTIALS, or AUTHD_ERR_LOCKED while either
 *     counter is locked (so guessing is told the wait).
 * A success forgets no failure. Every AUTHD_ERR_LOCKED carries the refusal on ctx: the
 * message, the wait (authd-retry-after) and the OAuth error OAUTH_LOCKED_CODE.
 * In a trial (rpc_ctx_trying(ctx), rpc.h: RPC_TRY_INLINE) only what cannot block is done: the
 * serial lock is only tried, and every answer but a success and a refusal of a locked address
 * (no slow hash, no failure counted, no other event) is rpc_ctx_defer(ctx)'s, to be judged
 * in full on a worker.
 */
int clients_authenticate_throttled(struct rpc_ctx *ctx, struct authd *a, const char *id,
                                   const char *secret, const char *ip,
                                   Authd__Storage__ClientRecord **out);

/* Forgets cached verifications of client id (after a change). */
void clients_cache_forget(const char *id);

#endif
