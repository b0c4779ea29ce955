/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Who may call which RPC. Every caller of authd holds roles: `edge` (browser flows, delivery
 * codes), `admin` (users, clients, AuthConfig, keys) and `service` (introspection, JWKS, user
 * lookup). A caller's roles come from its client certificate's typed identities ("uri:...",
 * "dns:...", "email:...", "ip:...", or "cn:..." for a certificate without SANs; see
 * rpc_ctx_peer_identities), mapped to roles by the callers file (--callers), from a
 * client_credentials access token in the `authorization: Bearer` metadata (scopes authd:edge,
 * authd:admin, authd:service), or, for a caller with neither, from --anonymous-roles. Which
 * roles each method allows sits in the method's own row (struct rpc_method.roles, the tables at
 * the bottom of each authd/svc_*.c), which the RPC adapter hands to callers_authorize(); a row
 * without roles is refused to everyone.
 */
#ifndef AUTHD_CALLERS_H
#define AUTHD_CALLERS_H

#include <stddef.h>

#include "authd/roles.h"

struct authd;
struct oauth_scopes;
struct rpc_ctx;
struct rpc_method;

/* The access-token scope that grants each role. */
#define CALLERS_SCOPE_EDGE "authd:edge"
#define CALLERS_SCOPE_ADMIN "authd:admin"
#define CALLERS_SCOPE_SERVICE "authd:service"

#define CALLERS_MAX_BYTES (256 * 1024) /* largest callers file */
#define CALLERS_MAX_ENTRIES 1024       /* identities in one callers file */
#define CALLERS_IDENTITY_MAX 1024      /* bytes of one identity */
#define CALLERS_ROLES_TEXT_MAX 32      /* "edge,admin,service" plus NUL, with room */

/* The role whose name is s ("edge", "admin", "service"), or 0. */
unsigned callers_role_parse(const char *s);

/*
 * Parses a comma-separated role list ("edge,admin", spaces around names allowed) or "none"
 * (also "") into *out. AUTHD_OK, or AUTHD_ERR_INVALID_ARGUMENT for an unknown name (*out 0).
 */
int callers_roles_parse(const char *list, unsigned *out);

/* Writes roles as "edge,admin,service" (or "none") into out (cap bytes, NUL-terminated).
 * Returns out. */
const char *callers_roles_text(unsigned roles, char *out, size_t cap);

/* The roles the scopes of a token grant: authd:edge, authd:admin, authd:service. */
unsigned callers_scope_roles(const struct oauth_scopes *scopes);

/* ---- the callers map ----------------------------------------------------------------------- */

/* Identities mapped to roles, the anonymous roles, and the authd whose tokens are accepted. */
struct callers;

/*
 * A new, empty map: nobody mapped, anonymous callers hold anonymous_roles. a (borrowed, may be
 * NULL in tests: then no bearer token is ever accepted) checks bearer tokens. AUTHD_OK or
 * AUTHD_ERR_NOMEM.
 */
int callers_new(struct authd *a, unsigned anonymous_roles, struct callers **out);

/* Frees the map. NULL is a no-op. */
void callers_free(struct callers *c);

/*
 * Adds the identities of a callers file (YAML text, len bytes, borrowed):
 *   callers:
 *     - identity: spiffe://authd.dev/edge
 *       roles: [edge]
 * An identity is typed, as rpc_ctx_peer_identities() reports them: one containing "://" is a URI
 * SAN (stored as "uri:<value>"; "uri:<value>" may be written too), "dns:NAME", "email:ADDRESS",
 * "ip:ADDRESS" and "cn:NAME" (the subject's common name of a certificate without SANs) are taken
 * as written; anything else has no type and is an error. So a DNS name, an e-mail address or a
 * common name that reads "spiffe://authd.dev/edge" never matches the URI entry.
 * name (the file's name, may be NULL) prefixes error messages. Unknown keys, unknown roles, an
 * identity listed twice (here or before), a missing or empty identity or role list, anything
 * but this shape are errors: AUTHD_ERR_INVALID_ARGUMENT (AUTHD_ERR_TOO_LARGE over
 * CALLERS_MAX_BYTES, AUTHD_ERR_NOMEM) with a message naming the line in err, and the map is
 * left as it was.
 */
int callers_load(struct callers *c, const char *name, const char *text, size_t len, char *err,
                 size_t errlen);

/* callers_load() from the file at path (AUTHD_ERR_NOT_FOUND when it cannot be read). */
int callers_load_file(struct callers *c, const char *path, char *err, size_t errlen);

/* How many identities are mapped. */
size_t callers_count(const struct callers *c);

/* The roles of the anonymous caller. */
unsigned callers_anonymous_roles(const struct callers *c);

/* The roles identity (typed: "uri:spiffe://...", "dns:...") is mapped to; 0 when it is not. */
unsigned callers_identity_roles(const struct callers *c, const char *identity);

/*
 * The roles a caller holds: the union of its mapped identities' roles (ids, typed) and, when it
 * presented a valid token (token_who not NULL), token_roles; the anonymous roles when it has
 * neither a mapped identity nor a token.
 */
unsigned callers_held_roles(const struct callers *c, const char *const *ids, size_t n_ids,
                            const char *token_who, unsigned token_roles);

/*
 * The decision, without the RPC adapter (unit-testable): need is the roles the method's row
 * allows (ROLE_* bits, ROLE_OPEN for every caller, 0 for nobody); ids are the n_ids typed
 * identities of
 * the caller's certificate (borrowed), token_who is "client:<id>" when the caller presented a
 * valid bearer token (NULL: none) and token_roles the roles its scopes grant. The caller's roles
 * are callers_held_roles(). *who is set to the name to record for the caller: the identity (or
 * token) whose roles allow the method, else the first mapped identity, else the token, else the
 * certificate's first identity (mapped to nothing), else "anonymous" (static or borrowed from
 * ids/token_who). Identities are named without the "uri:" prefix (a URI names its own scheme),
 * others with theirs ("dns:...", "cn:...").
 * AUTHD_OK when allowed, AUTHD_ERR_PERMISSION_DENIED when refused, to every caller, one without
 * any credentials included (the edge takes UNAUTHENTICATED for "the user's session is gone").
 */
int callers_decide(const struct callers *c, unsigned need, const char *const *ids, size_t n_ids,
                   const char *token_who, unsigned token_roles, const char **who);

/*
 * The RPC adapter's authorize hook (rpc_authorize_fn; arg is a struct callers; m the method's
 * row, whose roles say who may call it). Reads the certificate identities and the bearer token,
 * decides, records the caller
 * (rpc_ctx_set_caller) and the roles it holds (rpc_ctx_set_grants: ROLE_* bits, so handlers can
 * keep part of a method to some roles, e.g. Sessions/Revoke by id to admin), and on refusal sets a
 * status message naming the method and emits an audit line (action permission_denied). A bearer
 * token that is malformed, unknown, expired, revoked, a user's, or no longer covered by its
 * client's registration gives AUTHD_ERR_UNAUTHENTICATED, never the anonymous roles. Open methods
 * (ROLE_OPEN: Health/Check) skip every check. In a trial (rpc_ctx_trying: RPC_TRY_INLINE on a
 * completion-queue thread), a call with a bearer token on a store that is not local defers
 * (rpc_ctx_defer) before any check: the check reads the store.
 */
int callers_authorize(void *arg, struct rpc_ctx *ctx, const char *service,
                      const struct rpc_method *m);

#endif
