/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the WebAuthn services (svc_webauthn.c: keys; webauthn_login.c: assertions) share about
 * storage and configuration, beside the pure verifier (webauthn.h):
 *   - the relying party of AuthConfig.webauthn, with its defaults, cached with the AuthConfig
 *     (authd.h: struct authd_webauthn), and its validation for PutAuthConfig;
 *   - ceremonies: a challenge record under wachal/<ceremony id>, created by a Begin call and
 *     taken (read for update and deleted) inside the transaction of the Finish call, so one
 *     challenge serves one ceremony even when two calls race; bound to a purpose, a user and a
 *     session, and dead at its expiry (the sweeper deletes the ones never finished);
 *   - the credential-id index wacred/<hex SHA-256 of the id> -> user id, which keeps ids unique
 *     across users and names the user of a passwordless assertion; every change that drops
 *     credentials from a user record drops their index entries in the same transaction;
 *   - credentials in a user record, as the API shows them;
 *   - TwoFactorStatus from a user record (enabled, totp, passkeys), computed, never trusted.
 */
#ifndef AUTHD_WEBAUTHN_STORE_H
#define AUTHD_WEBAUTHN_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "authd/authd.h"
#include "authd/v1/admin.pb-c.h"
#include "authd/v1/webauthn.pb-c.h"
#include "authd/webauthn.h"
#include "proto/rpc.h"
#include "storage/records.pb-c.h"

#define WEBAUTHN_KEYS_MAX 16 /* credentials per user */
#define WEBAUTHN_NAME_MAX 64 /* characters of a credential's name */
#define WEBAUTHN_TIMEOUT_DEFAULT 300
#define WEBAUTHN_TIMEOUT_MIN 30
#define WEBAUTHN_TIMEOUT_MAX 600
#define WEBAUTHN_REAUTH_DEFAULT 600
#define WEBAUTHN_REAUTH_MIN 60
#define WEBAUTHN_REAUTH_MAX 86400
#define WEBAUTHN_CEREMONY_ID_BYTES 16
#define WEBAUTHN_CEREMONY_ID_LEN 22 /* base64url of 16 bytes, without the NUL */
#define WEBAUTHN_NOT_CONFIGURED "passkeys are not configured"

/* ---- the relying party ------------------------------------------------------------------ */

/* c's webauthn block (c or the block may be NULL) with defaults applied, into *out. Bounds are
 * PutAuthConfig's to check; what does not fit is dropped here. */
void webauthn_cfg_from_config(const Authd__V1__AuthConfig *c, struct authd_webauthn *out);

/*
 * Why the webauthn block w (may be NULL) cannot be stored, a constant English phrase naming the
 * field, or NULL when it can: rpId a lowercase DNS name or "localhost" (or empty: off, and then
 * no origins), 1..16 origins that origin_normalise accepts unchanged (their serialisation),
 * https unless the host is localhost or 127.0.0.1, each host rpId or a subdomain of it;
 * userVerification "", "preferred" or "required"; timeout 0 or 30..600; reauthSeconds 0 or
 * 60..86400; rpName at most 128 bytes.
 */
const char *webauthn_config_check(const Authd__V1__WebAuthnConfig *w);

/*
 * Replaces each of c's webauthn.origins (checked by webauthn_config_check) by its serialisation
 * (origin_normalise: "HTTPS://Login.Example.com:443" is "https://login.example.com"), copied into
 * ctx's arena. AUTHD_OK or AUTHD_ERR_NOMEM.
 */
int webauthn_origins_normalise(struct rpc_ctx *ctx, Authd__V1__AuthConfig *c);

/*
 * Fills answer's webauthn block (when present) with the defaults of its absent fields, as
 * GetAuthConfig answers passwordPolicy: what authd uses. Arena memory of ctx. AUTHD_OK or NOMEM.
 */
int webauthn_config_answer(struct rpc_ctx *ctx, Authd__V1__AuthConfig *answer);

/*
 * The cached relying party (refreshed first when due: authd_cfg_refresh). AUTHD_OK, or
 * AUTHD_ERR_FAILED_PRECONDITION while rpId is empty, with the status message
 * WEBAUTHN_NOT_CONFIGURED set on ctx (may be NULL).
 */
int webauthn_config(struct authd *a, struct rpc_ctx *ctx, struct authd_webauthn *out);

/* rp (borrowing c's strings and origins, which must outlive it) for the verifier; origins has
 * room for AUTHD_WEBAUTHN_ORIGINS_MAX pointers. */
void webauthn_rp_fill(const struct authd_webauthn *c, int require_uv,
                      const char *origins[AUTHD_WEBAUTHN_ORIGINS_MAX], struct webauthn_rp *rp);

/* ---- ceremonies (challenges) ------------------------------------------------------------ */

enum webauthn_purpose {
    WEBAUTHN_PURPOSE_REGISTER = 1,     /* FinishRegistration */
    WEBAUTHN_PURPOSE_LOGIN = 2,        /* the second factor of a pending login */
    WEBAUTHN_PURPOSE_STEPUP = 3,       /* a signed-in user confirming with a key */
    WEBAUTHN_PURPOSE_PASSWORDLESS = 4, /* a sign-in with a discoverable credential */
    WEBAUTHN_PURPOSE_RESET = 5,        /* a password reset confirmed with a key */
};

/* A new ceremony to store (webauthn_challenge_create). Strings borrowed. */
struct webauthn_ceremony {
    int purpose;            /* enum webauthn_purpose */
    const char *user_id;    /* "" or NULL: passwordless */
    const char *session_id; /* "" or NULL: passwordless */
    int passkey;            /* registration asked for a discoverable credential */
    int require_uv;
    int64_t ttl; /* seconds: AuthConfig.webauthn.timeout */
    /* out: */
    char id[WEBAUTHN_CEREMONY_ID_LEN + 1];     /* the ceremony id (base64url of 16 random bytes) */
    uint8_t challenge[WEBAUTHN_CHALLENGE_LEN]; /* 32 random bytes */
    int64_t expires_at;
};

/*
 * Makes c's random id and challenge and writes its WebAuthnChallengeRecord under
 * wachal/<id> (through txn when not NULL, else as one synced write). AUTHD_OK, AUTHD_ERR_INTERNAL
 * (no randomness) or a storage error.
 */
int webauthn_challenge_create(struct authd *a, struct store_txn *txn, struct webauthn_ceremony *c);

/*
 * Inside txn: takes the ceremony id names: reads wachal/<id> for update and deletes it, then
 * checks that it serves purpose, that it has not expired, and that it is bound to user_id and
 * session_id (each compared exactly; "" or NULL asks for an unbound one). Refused (any mismatch,
 * a missing, used or malformed id): AUTHD_ERR_KEY_REFUSED; the delete is undone with the
 * caller's rollback, so a caller that wants a refusal to spend the ceremony commits anyway.
 * AUTHD_OK with *out (rpc_msg_free), AUTHD_ERR_KEY_REFUSED, or a storage error
 * (AUTHD_ERR_CONFLICT: retry the step).
 */
int webauthn_challenge_take(struct authd *a, struct store_txn *txn, const char *id, int purpose,
                            const char *user_id, const char *session_id,
                            Authd__Storage__WebAuthnChallengeRecord **out);

/* ---- the credential-id index ------------------------------------------------------------ */

/*
 * Inside txn: claims wacred/<hash of id> for user_id (the row locked first). AUTHD_OK, or
 * AUTHD_ERR_ALREADY_EXISTS when the id is indexed already (to anyone, this user included).
 */
int webauthn_index_put(struct store_txn *txn, const uint8_t *id, size_t len, const char *user_id);

/* Inside txn: drops the entry of id (absent is fine). */
int webauthn_index_delete(struct store_txn *txn, const uint8_t *id, size_t len);

/* Inside txn: drops the entries of every credential in rec. */
int webauthn_index_delete_all(struct store_txn *txn, const Authd__Storage__UserRecord *rec);

/*
 * The user id id is indexed for into user_id (ACCOUNT_MAX_ID + 1 bytes; through txn when not
 * NULL). AUTHD_OK, AUTHD_ERR_NOT_FOUND, or a storage error.
 */
int webauthn_index_lookup(struct authd *a, struct store_txn *txn, const uint8_t *id, size_t len,
                          char *user_id);

/* ---- credentials in a user record ------------------------------------------------------- */

/* The index in rec->webauthn of the credential with id (raw bytes), or -1. */
long webauthn_cred_find(const Authd__Storage__UserRecord *rec, const uint8_t *id, size_t len);

/* The same for an id as the API writes it (base64url without padding), or -1. */
long webauthn_cred_find_b64(const Authd__Storage__UserRecord *rec, const char *id_b64);

/* Removes (and frees) rec->webauthn[i]; the index entry is the caller's (same transaction). */
void webauthn_cred_remove(Authd__Storage__UserRecord *rec, size_t i);

/*
 * Inside txn: removes every credential of rec and their index entries (Users.Delete,
 * ResetTwoFactor, TwoFactor.Disable). The caller saves rec (or deletes it).
 */
int webauthn_cred_clear(struct store_txn *txn, Authd__Storage__UserRecord *rec);

/* The credential as the API shows it, in ctx's arena; NULL on NOMEM. */
Authd__V1__WebAuthnCredential *
webauthn_cred_answer(struct rpc_ctx *ctx, const Authd__Storage__WebAuthnCredentialRecord *c);

/* Fills out with every credential of rec (arena memory). AUTHD_OK or AUTHD_ERR_NOMEM. */
int webauthn_list_answer(struct rpc_ctx *ctx, const Authd__Storage__UserRecord *rec,
                         Authd__V1__WebAuthnCredentialList *out);

/* ---- TwoFactorStatus ---------------------------------------------------------------------- */

/*
 * Sets rec->user->two_factor (made when absent) from what the record holds: totp = a confirmed
 * TOTP secret, passkeys = its credentials, enabled = either. account_user_get and
 * account_user_save call it, so every User an answer copies from a record says it, records
 * written before these fields included. AUTHD_OK, AUTHD_ERR_NOMEM (rec->user NULL: AUTHD_OK).
 */
int webauthn_status_fill(Authd__Storage__UserRecord *rec);

#endif
