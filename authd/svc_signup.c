/* SPDX-License-Identifier: Apache-2.0 */
/*
 * authd.v1.Signup: registration with e-mail confirmation. Start hands the edge a single-use,
 * expiring token to e-mail (stored only as a hash); Complete turns it into a user with a password
 * and a signed-in session, in one transaction that also consumes the token. Starting a signup for
 * an e-mail that already has an account answers differently only to the edge (account_exists,
 * so it can send a different e-mail); the browser sees the same page either way, and both cost
 * the same storage work (a known address gets a record no token opens, account_onetime_decoy).
 */
#include <stdlib.h>
#include <string.h>

#include "authd/account.h"
#include "authd/audit.h"
#include "common/email.h"
#include "common/err.h"
#include "authd/keys.h"
#include "common/log.h"
#include "authd/password.h"
#include "authd/records.h"
#include "common/secret.h"
#include "authd/v1/signup.pb-c.h"
#include "authd/roles.h"

static int
signup_start(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__StartSignupRequest *req = (const void *)reqm;
    Authd__V1__StartSignupResponse *resp = (void *)respm;
    Authd__Storage__UserRecord *existing = NULL;
    Authd__Storage__OneTimeRecord rec = AUTHD__STORAGE__ONE_TIME_RECORD__INIT;
    char email[EMAIL_MAX_LEN + 1], id[TOKEN_ID_LEN + 1];
    char q[96];

    int r = account_onetime_start(ctx, a, req->email, req->client, req->client_ip, email,
                                  &resp->email, &existing);
    if (r != AUTHD_OK)
        return r;
    resp->expires_in = a->set.signup_ttl;
    rec.email = email;
    rec.client = req->client; /* borrowed for packing */
    if (existing != NULL) {
        rpc_msg_free(&existing->base);
        /* The same write as for a new address (a record no token opens), so that the time the
         * answer takes does not tell that this one has an account. */
        r = account_onetime_decoy(a, KEY_SIGNUP, &rec, a->set.signup_ttl);
        if (r != AUTHD_OK)
            return r;
        resp->account_exists = 1;
        log_event(LOG_INFO, "signup_started", "existing_account=1 peer=%s",
                  log_quote(req->client_ip, q, sizeof(q)));
        return AUTHD_OK;
    }
    r = account_onetime_issue(ctx, a, KEY_SIGNUP, &rec, a->set.signup_ttl, &resp->token,
                              &resp->expires_at, id);
    if (r == AUTHD_OK)
        log_event(LOG_INFO, "signup_started", "existing_account=0 signup=%s peer=%s", id,
                  log_quote(req->client_ip, q, sizeof(q)));
    return r;
}

static int
signup_get(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__TokenRequest *req = (const void *)reqm;
    Authd__V1__GetSignupResponse *resp = (void *)respm;
    Authd__Storage__OneTimeRecord *rec = NULL;
    int r = account_onetime_view(ctx, a, KEY_SIGNUP, req->token, &rec, &resp->email, &resp->client,
                                 &resp->expires_at);
    rpc_msg_free(rec != NULL ? &rec->base : NULL);
    return r;
}

struct complete_step {
    const char *token;
    const char *password_hash;
    const char *client_ip;
    const char *user_agent;
    /* out */
    Authd__Storage__OneTimeRecord *signup;
    Authd__Storage__UserRecord *user;
    Authd__Storage__SessionRecord *session;
    struct token tok;
};

static void
complete_reset(struct complete_step *c)
{
    rpc_msg_free(c->signup ? &c->signup->base : NULL);
    rpc_msg_free(c->user ? &c->user->base : NULL);
    rpc_msg_free(c->session ? &c->session->base : NULL);
    c->signup = NULL;
    c->user = NULL;
    c->session = NULL;
    token_wipe(&c->tok);
}

/* One transaction: consume the token, create the user and its e-mail index, open a session. */
static int
complete_step(struct authd *a, struct store_txn *txn, void *arg)
{
    struct complete_step *c = arg;
    complete_reset(c);
    int r = account_onetime_consume(a, txn, KEY_SIGNUP, c->token, &c->signup);
    if (r != AUTHD_OK)
        return r;

    c->user = malloc(sizeof(*c->user));
    Authd__V1__User *u = malloc(sizeof(*u));
    Authd__V1__TwoFactorStatus *tf = malloc(sizeof(*tf));
    if (c->user == NULL || u == NULL || tf == NULL) {
        free(c->user);
        free(u);
        free(tf);
        c->user = NULL;
        return AUTHD_ERR_NOMEM;
    }
    authd__storage__user_record__init(c->user);
    authd__v1__user__init(u);
    authd__v1__two_factor_status__init(tf);
    u->two_factor = tf;
    c->user->user = u;
    u->email = strdup(c->signup->email);
    u->email_verified = 1; /* the confirmation link reached this address */
    c->user->password_hash = strdup(c->password_hash);
    if (u->email == NULL || c->user->password_hash == NULL)
        return AUTHD_ERR_NOMEM;
    r = account_user_create(a, txn, c->user);
    if (r != AUTHD_OK)
        return r;
    return account_session_create(a, txn, u, c->client_ip, c->user_agent, &account_session_pwd,
                                  &c->tok, &c->session);
}

static int
signup_complete(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__CompleteSignupRequest *req = (const void *)reqm;
    Authd__V1__CompleteSignupResponse *resp = (void *)respm;
    struct complete_step c;
    char *phc = NULL;
    char q[96];

    memset(&c, 0, sizeof(c));
    int r = account_onetime_prepare(a, KEY_SIGNUP, req->token, req->password, &phc, NULL, 0);
    if (r == AUTHD_ERR_WEAK_PASSWORD)
        rpc_ctx_set_message(ctx, password_policy_problem(r));
    if (r != AUTHD_OK)
        return r;
    c.token = req->token;
    c.password_hash = phc;
    c.client_ip = req->client_ip;
    c.user_agent = req->user_agent;
    r = account_txn_run(a, complete_step, &c);
    if (r == AUTHD_ERR_ALREADY_EXISTS) {
        log_event(LOG_INFO, "signup_failed", "reason=already_exists peer=%s",
                  log_quote(req->client_ip, q, sizeof(q)));
        goto out;
    }
    if (r != AUTHD_OK)
        goto out;
    resp->session_token = rpc_ctx_strdup(ctx, c.tok.text);
    resp->session = rec_copy(ctx, &c.session->session->base);
    resp->user = rec_copy(ctx, &c.user->user->base);
    resp->client = c.signup->client ? rec_copy(ctx, &c.signup->client->base) : NULL;
    if (resp->session_token == NULL || resp->session == NULL || resp->user == NULL)
        r = AUTHD_ERR_NOMEM;
    /* The new account's first session: a login that proved the e-mail instead of a password. */
    struct audit ev = {.action = AUDIT_LOGIN,
                       .outcome = AUDIT_SUCCESS,
                       .user = c.user->user->id,
                       .ip = req->client_ip,
                       .target = rpc_ctx_printf(ctx, "session/%s", c.tok.id),
                       .reason = "signup"};
    audit_emit(ctx, &ev);
out:
    complete_reset(&c);
    secret_strfree(phc);
    return r;
}

const struct rpc_method authd_signup_methods[] = {
    {"Start", signup_start, 0, ROLE_EDGE},
    {"Get", signup_get, RPC_INLINE, ROLE_EDGE},
    {"Complete", signup_complete, 0, ROLE_EDGE},
};
const size_t authd_signup_n_methods =
    sizeof(authd_signup_methods) / sizeof(authd_signup_methods[0]);
