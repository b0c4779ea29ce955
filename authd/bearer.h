/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Who a signed-in call acts for: the one place that turns what the edge presents into a
 * session. A browser presents its session token (the asid cookie); a single-page app presents
 * "Authorization: Bearer <token>", which is either a session token (from Login) or an OAuth
 * access token of a user (JWT or opaque, from the implicit, code or password grant). The edge
 * cannot tell them apart and must not judge either: it passes the bearer as it came, and authd
 * decides here. An access token stands for the session it was issued under (its sid) while the
 * token is live and the session is: revoking the token, ending the session or deactivating the
 * user ends what it can do. Only a token of an active first-party client counts: a third-party
 * app holds the token for what the user consented to, not to manage the account or end the
 * browser's session. A client_credentials token speaks for no user and is refused.
 */
#ifndef AUTHD_BEARER_H
#define AUTHD_BEARER_H

#include "authd/authd.h"
#include "proto/rpc.h"
#include "storage/records.pb-c.h"

/*
 * The session and user for a call that names its caller by session_token or bearer_token
 * (request fields, borrowed, secrets: never logged; "" = not given). Exactly one must be given
 * (AUTHD_ERR_INVALID_ARGUMENT for both). The session must be live and its user present and
 * active, and, unless allow_pending, authenticated (no second factor pending; an access token's
 * session always is). AUTHD_OK with *s and *u (free both with rpc_msg_free), else
 * AUTHD_ERR_UNAUTHENTICATED (nothing given, unknown, expired, revoked, not a user's, its client
 * third-party or inactive) or a
 * storage error, with *s and *u NULL.
 */
int bearer_session(struct rpc_ctx *ctx, struct authd *a, const char *session_token,
                   const char *bearer_token, int allow_pending, Authd__Storage__SessionRecord **s,
                   Authd__Storage__UserRecord **u);

#endif
