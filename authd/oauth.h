/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OAuth 2.0 / OpenID Connect helpers shared by the OAuth service (svc_oauth.c) and its tests:
 * PKCE (RFC 7636, S256 only), exact redirect-URI matching and redirect-URL building (RFC 6749
 * §3.1.2, §4.1.2.1), scope sets (RFC 6749 §3.3), the Client resource's grant settings, and the
 * one mapping from OAuth error codes to enum authd_err. Everything here is pure: no storage, no
 * clock, no randomness, so it is unit-tested without a daemon (tests/unit/authd/test_oauth.c).
 *
 * How OAuth errors travel to the edge. A handler that refuses a request returns an enum
 * authd_err AND names the OAuth `error` in the authd-oauth-error trailer, with the
 * `error_description` as the status message (oauth_fail); the edge reads both from struct
 * rpc_status, never parsing the text:
 *   invalid_request        AUTHD_ERR_INVALID_ARGUMENT      (400)
 *   invalid_scope          AUTHD_ERR_INVALID_ARGUMENT      (400; tell it apart by the prefix)
 *   invalid_client         AUTHD_ERR_INVALID_CREDENTIALS   (401 + WWW-Authenticate)
 *   invalid_grant          AUTHD_ERR_INVALID_TOKEN         (400)
 *   unauthorized_client    AUTHD_ERR_UNAUTHORIZED_CLIENT   (400)
 *   unsupported_grant_type AUTHD_ERR_UNSUPPORTED_GRANT_TYPE (400)
 *   temporarily_unavailable AUTHD_ERR_LOCKED               (429; seconds in authd-retry-after)
 *   invalid_token          AUTHD_ERR_UNAUTHENTICATED       (401, UserInfo: RFC 6750 §3.1)
 * Only codes of RFC 6749 §5.2 (and §4.1.2.1's temporarily_unavailable), RFC 6750 §3.1 and
 * RFC 7009/7662 (which reuse them) are named; a lockout is temporarily_unavailable with the
 * wait, never a code of our own (OAUTH_LOCKED_CODE). Any other failure (storage, memory) comes
 * without an OAuth code: the edge answers server_error. Authorize never fails with a status
 * for a user-facing problem: it answers next=REDIRECT with the error in the URL, or
 * next=ERROR_PAGE when the redirect URI is not trusted.
 */
#ifndef AUTHD_OAUTH_H
#define AUTHD_OAUTH_H

#include <stddef.h>
#include <stdint.h>

#include "proto/rpc.h"
#include "authd/v1/oauth.pb-c.h"

/* ---- errors ------------------------------------------------------------------------------ */

/* The OAuth error of every lock refusal at the OAuth endpoints: the registered code for "try
 * again later" (RFC 6749 §4.1.2.1, OAuth Extensions Error Registry), with the wait in
 * authd-retry-after (the edge's Retry-After). */
#define OAUTH_LOCKED_CODE "temporarily_unavailable"

/* The enum authd_err that carries OAuth error code (table above); AUTHD_ERR_INTERNAL when the
 * code is not one of them. */
int oauth_err(const char *code);

/*
 * Sets ctx's OAuth error to code (rpc_ctx_set_oauth_error) and its status message to desc, and
 * returns oauth_err(code). desc must not hold
 * a secret (it is sent to the caller and may be logged). ctx may be NULL (tests).
 */
int oauth_fail(struct rpc_ctx *ctx, const char *code, const char *desc);

/* ---- PKCE (RFC 7636) ------------------------------------------------------------------- */

#define OAUTH_PKCE_MIN 43 /* characters of a verifier or challenge */
#define OAUTH_PKCE_MAX 128
#define OAUTH_PKCE_S256_LEN 43 /* BASE64URL(SHA-256) without padding */

/* 1 when s is 43..128 characters of [A-Za-z0-9-._~] (a valid code_verifier or code_challenge
 * as RFC 7636 §4.1/§4.2 define them), else 0 (also for NULL). */
int oauth_pkce_valid(const char *s);

/* out = BASE64URL(SHA256(ASCII(verifier))) (RFC 7636 §4.2), NUL-terminated. verifier is
 * borrowed (a secret: the caller wipes it). */
void oauth_pkce_s256(const char *verifier, char out[OAUTH_PKCE_S256_LEN + 1]);

/*
 * 1 when verifier is a valid code_verifier and S256(verifier) equals challenge (compared in
 * constant time), else 0. An invalid verifier never matches, whatever the challenge.
 */
int oauth_pkce_check(const char *verifier, const char *challenge);

/* ---- redirect URIs ----------------------------------------------------------------------- */

#define OAUTH_URI_MAX 2048 /* bytes of a registered or presented redirect URI */

/*
 * 1 when uri can be a registered redirect URI: 1..OAUTH_URI_MAX bytes of visible ASCII
 * (no space, no control byte), an absolute URI with a scheme ("https:", "http:", or a private
 * scheme like "com.example.app:" for native apps) that is not javascript:, data: or vbscript:,
 * and no fragment (RFC 6749 §3.1.2). Else 0.
 */
int oauth_redirect_uri_valid(const char *uri);

/*
 * 1 when given is exactly registered (byte for byte: no prefix, suffix, case, trailing-slash,
 * query or fragment tolerance) and registered is valid; else 0.
 */
int oauth_redirect_uri_eq(const char *registered, const char *given);

/* One parameter appended to a redirect URL; a NULL or empty value is left out. */
struct oauth_param {
    const char *name;
    const char *value;
};

/*
 * Builds base + the n parameters, percent-encoded, into a malloc'd *out (it may hold a code or
 * a token: free with secret_strfree). fragment 0: in the query (RFC 6749 §4.1.2: "?" when base
 * has no query, else "&" — base's own query is kept); fragment 1: after "#" (§4.2.2). base must
 * be a valid redirect URI (oauth_redirect_uri_valid). AUTHD_OK, AUTHD_ERR_INVALID_ARGUMENT,
 * AUTHD_ERR_TOO_LARGE (over 16 KiB) or AUTHD_ERR_NOMEM. *out is NULL on failure.
 */
int oauth_redirect_build(const char *base, int fragment, const struct oauth_param *p, size_t n,
                         char **out);

/* ---- scopes ---------------------------------------------------------------------------- */

#define OAUTH_SCOPE_TOKEN_MAX 128 /* bytes of one scope */
#define OAUTH_SCOPE_ITEMS_MAX 64  /* scopes in one set */
#define OAUTH_SCOPE_TEXT_MAX (OAUTH_SCOPE_ITEMS_MAX * (OAUTH_SCOPE_TOKEN_MAX + 1))

/* A set of scopes in first-seen order, without duplicates. Plain data: copy by assignment. */
struct oauth_scopes {
    size_t n;
    char item[OAUTH_SCOPE_ITEMS_MAX][OAUTH_SCOPE_TOKEN_MAX + 1];
};

/* Empties s. */
void oauth_scopes_clear(struct oauth_scopes *s);

/*
 * Adds one scope token (RFC 6749 §3.3: 1..OAUTH_SCOPE_TOKEN_MAX characters of %x21 / %x23-5B /
 * %x5D-7E) unless it is already there. AUTHD_OK, or AUTHD_ERR_INVALID_ARGUMENT for a bad token
 * or a full set (s unchanged).
 */
int oauth_scopes_add(struct oauth_scopes *s, const char *tok);

/*
 * Parses a space-separated scope string (NULL or "" gives the empty set; runs of spaces are
 * one separator) into out. AUTHD_OK or AUTHD_ERR_INVALID_ARGUMENT (a bad token, a byte other
 * than a space between tokens, or more than OAUTH_SCOPE_ITEMS_MAX scopes).
 */
int oauth_scopes_parse(const char *str, struct oauth_scopes *out);

/* Like oauth_scopes_parse, from a list of n single scopes (a protobuf repeated string). */
int oauth_scopes_from_list(char *const *v, size_t n, struct oauth_scopes *out);

/* 1 when tok is in s. */
int oauth_scopes_has(const struct oauth_scopes *s, const char *tok);

/* 1 when every scope of sub is in sup (the empty set is a subset of anything). */
int oauth_scopes_subset(const struct oauth_scopes *sub, const struct oauth_scopes *sup);

/* Writes s space-separated into out (cap bytes, always NUL-terminated when cap > 0).
 * AUTHD_OK or AUTHD_ERR_TOO_LARGE. */
int oauth_scopes_join(const struct oauth_scopes *s, char *out, size_t cap);

/*
 * The scopes client c may ask for: c->scope, or {openid, profile, email} when it lists none.
 * AUTHD_OK, or AUTHD_ERR_INVALID_ARGUMENT when a stored scope is malformed.
 */
int oauth_client_scopes(const Authd__V1__Client *c, struct oauth_scopes *out);

/* ---- clients and grants ------------------------------------------------------------------ */

#define OAUTH_ACCESS_TTL_DEFAULT 3600          /* seconds */
#define OAUTH_REFRESH_TTL_DEFAULT (30 * 86400) /* seconds */

/* 1 when c is active (Client.active absent or true). */
int oauth_client_active(const Authd__V1__Client *c);

/* 1 when c's grant_types lists grant ("authorization_code" is also granted by "code"). */
int oauth_client_has_grant(const Authd__V1__Client *c, const char *grant);

/* The settings block of grant in c->auth ("authorization_code", "implicit", "password",
 * "client_credentials"), or NULL when absent (then every setting has its default). */
const Authd__V1__GrantSettings *oauth_grant_settings(const Authd__V1__Client *c, const char *grant);

/* Access-token lifetime in seconds under g (NULL or <= 0: OAUTH_ACCESS_TTL_DEFAULT). */
int64_t oauth_access_ttl(const Authd__V1__GrantSettings *g);

/* Refresh-token lifetime in seconds under g (NULL or <= 0: OAUTH_REFRESH_TTL_DEFAULT). */
int64_t oauth_refresh_ttl(const Authd__V1__GrantSettings *g);

/* 1 when g asks for opaque access tokens (token_format "opaque"); else JWT (the default). */
int oauth_token_opaque(const Authd__V1__GrantSettings *g);

/* ---- authorize parameters ------------------------------------------------------------------ */

#define OAUTH_PROMPT_NONE 0x1u
#define OAUTH_PROMPT_LOGIN 0x2u
#define OAUTH_PROMPT_CONSENT 0x4u
#define OAUTH_PROMPT_SELECT_ACCOUNT 0x8u

/*
 * Parses OpenID Connect's space-separated prompt ("", "none", "login", "consent",
 * "select_account") into *flags. AUTHD_OK, or AUTHD_ERR_INVALID_ARGUMENT for an unknown value
 * or "none" together with another value (OIDC Core §3.1.2.1).
 */
int oauth_prompt_parse(const char *s, unsigned *flags);

/* 1 when s has the shape of a compact JWS (three non-empty base64url parts), else 0. */
int oauth_is_jwt(const char *s);

/* ---- access tokens as RPC credentials (svc_oauth.c) ----------------------------------------- */

struct authd;

/*
 * Checks an access token that a caller of authd presents as its credential (callers.c): it must
 * be an access token of this authd (JWT or opaque, judged like Introspect judges it: signature
 * or stored hash, issuer, expiry, not revoked), issued to a client itself (client_credentials:
 * no user, no session), the client must still exist, be active and have the client_credentials
 * grant, and every scope of the token must still be among the client's allowed scopes. On
 * AUTHD_OK, client_id (cap bytes) and *scopes hold the token's client and scopes. Returns
 * AUTHD_ERR_INVALID_TOKEN when any of that fails, or a storage error. ctx: the call whose arena
 * holds intermediate copies. token is borrowed (a secret: never logged).
 */
int oauth_check_client_token(struct rpc_ctx *ctx, struct authd *a, const char *token,
                             char *client_id, size_t cap, struct oauth_scopes *scopes);

/*
 * The session a user's OAuth access token (JWT or opaque; token borrowed, a secret, never
 * logged) was issued under, judged as Introspect judges it (signature or stored hash, issuer,
 * expiry, not revoked, its client's registration current and active, its session alive), and
 * issued to a first-party client. On AUTHD_OK *sid is the session id, in ctx's arena.
 * AUTHD_ERR_UNAUTHENTICATED for a token that is not live, not a user's (client_credentials) or a
 * third-party client's, or a storage error.
 */
int oauth_user_token_session(struct rpc_ctx *ctx, struct authd *a, const char *token,
                             const char **sid);

#endif
