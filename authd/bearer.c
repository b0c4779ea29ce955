/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bearer_session(): a session token or a user's access token to the session it stands for
 * (see bearer.h for the rules).
 */
#include "authd/bearer.h"

#include <string.h>

#include "authd/oauth.h"
#include "authd/session_store.h"
#include "common/err.h"

int
bearer_session(struct rpc_ctx *ctx, struct authd *a, const char *session_token,
               const char *bearer_token, int allow_pending, Authd__Storage__SessionRecord **s,
               Authd__Storage__UserRecord **u)
{
    const char *sid = NULL;
    int r;

    *s = NULL;
    *u = NULL;
    if (session_token == NULL)
        session_token = "";
    if (bearer_token == NULL)
        bearer_token = "";
    if (session_token[0] != '\0' && bearer_token[0] != '\0') {
        rpc_ctx_set_message(ctx, "give session_token or bearer_token, not both");
        return AUTHD_ERR_INVALID_ARGUMENT;
    }
    if (bearer_token[0] == '\0') {
        r = account_session_check(a, session_token, s);
    } else {
        /* A session token first (a hash lookup); what is not one may be an access token. */
        r = account_session_check(a, bearer_token, s);
        if (r == AUTHD_ERR_UNAUTHENTICATED) {
            r = oauth_user_token_session(ctx, a, bearer_token, &sid);
            if (r == AUTHD_OK)
                r = account_session_by_id(a, sid, s);
            /* A token is only ever issued under an authenticated session; should a pending
             * one carry its sid, it still may not act for the user. */
            allow_pending = 0;
        }
    }
    return r == AUTHD_OK ? account_session_user(a, s, allow_pending, u) : r;
}
