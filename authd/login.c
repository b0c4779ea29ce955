/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The password step of a login (see login.h): the same work and the same answer for unknown and
 * known e-mails, judged under guard.h's sequence.
 */
#include "authd/login.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "authd/account.h"
#include "authd/audit.h"
#include "authd/device.h"
#include "authd/keys.h"
#include "authd/records.h"
#include "common/log.h"
#include "common/email.h"
#include "authd/guard.h"
#include "authd/password.h"
#include "common/err.h"
#include "common/metrics.h"
#include "common/secret.h"

/*
 * The instant (metrics_now_ns() clock) after which the caller has given up: a hash still waiting
 * for a thread then is not worth computing. 0 when the call has no deadline.
 */
static uint64_t
call_deadline_ns(struct rpc_ctx *ctx)
{
    int64_t left = rpc_ctx_deadline_ms_left(ctx);
    if (left == INT64_MAX || left > (int64_t)(UINT64_MAX / 2000000u))
        return 0;
    return metrics_now_ns() + (uint64_t)left * 1000000u;
}

int
login_password(struct authd *a, struct rpc_ctx *ctx, struct login *l)
{
    char email[EMAIL_MAX_LEN + 1];
    size_t pl = strlen(l->password);
    int needs_rehash = 0;

    if (email_normalize(l->email, email, sizeof(email)) != AUTHD_OK)
        email[0] = '\0';
    struct guard g = {.a = a,
                      .ctx = ctx,
                      .kind = THROTTLE_PASSWORD,
                      .account = email,
                      .refusal = "too many failed attempts",
                      .oauth_code = l->oauth_code,
                      .who = {.action = AUDIT_LOGIN, .client = l->client, .ip = l->ip}};
    /* A locked account or address is refused before any password is judged, for known and
     * unknown e-mails alike. */
    int r = guard_enter(&g);
    if (r != AUTHD_OK)
        goto out;
    r = email[0] != '\0' ? account_user_by_email(a, NULL, 0, email, &l->rec) : AUTHD_ERR_NOT_FOUND;
    if (r != AUTHD_OK && r != AUTHD_ERR_NOT_FOUND)
        goto out;
    if (r != AUTHD_OK || l->rec->user == NULL || l->rec->password_hash[0] == '\0') {
        /* Unknown e-mail or no password yet: the same work and the same answer as a wrong
         * password. A caller that gave up before a hash thread was free gets DEADLINE_EXCEEDED
         * as for a known e-mail: nothing judged, nothing counted. */
        r = password_burn_by(&a->set.argon2, l->password, pl, call_deadline_ns(ctx));
        if (r == AUTHD_ERR_DEADLINE)
            goto out;
        r = AUTHD_ERR_INVALID_CREDENTIALS;
        guard_fail(&g, "unknown_user");
        goto out;
    }
    g.who.user = l->rec->user->id;
    r = password_verify_by(l->rec->password_hash, l->password, pl, &a->set.argon2, &needs_rehash,
                           call_deadline_ns(ctx));
    if (r == AUTHD_ERR_DEADLINE)
        goto out; /* the caller gave up before the password was judged: not a failure */
    if (r != AUTHD_OK) {
        r = AUTHD_ERR_INVALID_CREDENTIALS;
        guard_fail(&g, "wrong_password");
        goto out;
    }
    guard_pass(&g);
    guard_leave(&g); /* before the rehash: it costs as much as the check */
    l->two = l->rec->user->two_factor != NULL && l->rec->user->two_factor->enabled;
    if (needs_rehash && password_hash(&a->set.argon2, l->password, pl, &l->new_hash) != AUTHD_OK)
        l->new_hash = NULL; /* keep the old hash; it still verifies */
out:
    guard_leave(&g);
    if (r != AUTHD_OK) {
        rpc_msg_free(l->rec ? &l->rec->base : NULL);
        l->rec = NULL;
    }
    return r;
}

int
login_recheck(struct authd *a, struct store_txn *txn, const struct login *l,
              Authd__Storage__UserRecord **rec)
{
    rpc_msg_free(*rec ? &(*rec)->base : NULL);
    *rec = NULL;
    int r = account_user_get(a, txn, 1, l->rec->user->id, rec);
    if (r == AUTHD_ERR_NOT_FOUND)
        return AUTHD_ERR_INVALID_CREDENTIALS;
    if (r != AUTHD_OK)
        return r;
    if ((*rec)->user == NULL || !secret_streq((*rec)->password_hash, l->rec->password_hash))
        return AUTHD_ERR_INVALID_CREDENTIALS;
    if ((*rec)->user->inactive)
        return AUTHD_ERR_INACTIVE;
    if (l->new_hash == NULL)
        return AUTHD_OK;
    char *dup = strdup(l->new_hash);
    if (dup == NULL)
        return AUTHD_ERR_NOMEM;
    secret_strfree((*rec)->password_hash);
    (*rec)->password_hash = dup;
    return account_user_save(a, txn, *rec);
}

void
login_refused(struct rpc_ctx *ctx, const struct login *l, int r)
{
    const char *uid = l->rec != NULL && l->rec->user != NULL ? l->rec->user->id : NULL;
    if (r == AUTHD_ERR_INACTIVE)
        audit_login(ctx, AUDIT_FAILURE, uid, l->client, l->ip, "inactive", NULL);
    else if (r == AUTHD_ERR_INVALID_CREDENTIALS)
        audit_login(ctx, AUDIT_FAILURE, uid, l->client, l->ip, "password_changed_meanwhile", NULL);
}

void
login_cleanup(struct login *l)
{
    secret_strfree(l->new_hash);
    l->new_hash = NULL;
    rpc_msg_free(l->rec ? &l->rec->base : NULL);
    l->rec = NULL;
}

/* ---- the second step ------------------------------------------------------------------------ */

/* One transaction: the proof checked and recorded, the pending session ended, the new one opened
 * (and a remembered browser: never without a right proof). */
static int
second_step(struct authd *a, struct store_txn *txn, void *arg)
{
    struct login_second *l = arg;
    static const char *const amr_otp[] = {"pwd", "otp"};
    static const char *const amr_rc[] = {"pwd", "mfa"};
    const char *amr_key[3];
    rpc_msg_free(l->rec ? &l->rec->base : NULL);
    rpc_msg_free(l->session ? &l->session->base : NULL);
    l->rec = NULL;
    l->session = NULL;
    token_wipe(&l->tok);
    token_wipe(&l->device);
    int r = account_user_get(a, txn, 1, l->user_id, &l->rec);
    if (r == AUTHD_ERR_NOT_FOUND)
        return AUTHD_ERR_UNAUTHENTICATED;
    if (r != AUTHD_OK)
        return r;
    if (l->rec->user == NULL || l->rec->user->inactive)
        return AUTHD_ERR_UNAUTHENTICATED;
    if (l->pending != NULL) {
        /* The pending session must still exist: it is consumed below, so it serves one
         * success. */
        char skey[KEY_MAX];
        void *val = NULL;
        size_t vlen = 0;
        if (key_make(skey, KEY_SESSION, l->pending->id, NULL) == 0)
            return AUTHD_ERR_UNAUTHENTICATED;
        r = store_txn_get(txn, skey, strlen(skey), 1, &val, &vlen);
        store_value_free(val, vlen);
        if (r == AUTHD_ERR_NOT_FOUND)
            return AUTHD_ERR_UNAUTHENTICATED;
        if (r != AUTHD_OK)
            return r;
    }
    r = twofactor_check(a, txn, l->rec, NULL, &l->proof, &l->judge);
    if (r != AUTHD_OK)
        return r;
    r = account_user_save(a, txn, l->rec);
    if (r == AUTHD_OK && l->pending != NULL)
        r = account_session_delete(a, txn, l->user_id, l->pending->id);
    int64_t ttl = l->pending != NULL && l->remember ? device_ttl(a) : 0;
    if (r == AUTHD_OK && ttl > 0)
        r = device_remember(a, txn, l->user_id, l->user_agent, ttl, &l->device);
    if (r != AUTHD_OK)
        return r;
    struct session_spec spec = {1, 0, amr_otp, 2, l->pending ? l->pending->auth_time : 0};
    const char *key = twofactor_kind_amr(l->judge.kind);
    if (key != NULL) {
        size_t n = 0;
        if (l->pending != NULL)
            amr_key[n++] = "pwd";
        amr_key[n++] = key;
        amr_key[n++] = "mfa";
        spec.amr = amr_key;
        spec.n_amr = n;
    } else if (l->judge.used_recovery) {
        spec.amr = amr_rc;
    }
    return account_session_create(a, txn, l->rec->user, l->ip, l->user_agent, &spec, &l->tok,
                                  &l->session);
}

int
login_second(struct authd *a, struct rpc_ctx *ctx, struct login_second *l)
{
    int passwordless = l->pending == NULL;
    l->proof.session_id = passwordless ? "" : l->pending->id;
    l->proof.purpose = passwordless ? TWOFACTOR_CEREMONY_PASSWORDLESS : TWOFACTOR_CEREMONY_LOGIN;
    const struct audit who = {
        .user = l->user_id, .ip = l->ip, .reason = passwordless ? "passwordless" : "login"};
    int r = twofactor_guarded(a, ctx, &who, NULL, second_step, l, &l->judge);
    if (r != AUTHD_OK)
        return r;
    if (l->judge.used_recovery) {
        char q[96];
        log_event(LOG_INFO, "recovery_codes_left", "user=%s left=%zu",
                  log_quote(l->rec->user->id, q, sizeof(q)), l->rec->n_recovery_hashes);
    }
    audit_login(ctx, AUDIT_SUCCESS, l->rec->user->id, NULL, l->ip,
                passwordless         ? "passkey"
                : l->judge.assertion ? "webauthn"
                                     : "second_factor",
                l->tok.id);
    return AUTHD_OK;
}

void
login_second_cleanup(struct login_second *l)
{
    token_wipe(&l->tok);
    token_wipe(&l->device);
    rpc_msg_free(l->rec ? &l->rec->base : NULL);
    rpc_msg_free(l->session ? &l->session->base : NULL);
    l->rec = NULL;
    l->session = NULL;
}

int
login_answer(struct rpc_ctx *ctx, Authd__V1__SessionResponse *resp,
             const Authd__Storage__SessionRecord *s, const Authd__V1__User *u, const char *token,
             const char *device_token)
{
    resp->session = rec_copy(ctx, &s->session->base);
    resp->user = rec_copy(ctx, &u->base);
    if (token != NULL)
        resp->session_token = rpc_ctx_strdup(ctx, token);
    if (device_token != NULL && device_token[0] != '\0')
        resp->device_token = rpc_ctx_strdup(ctx, device_token);
    if (resp->session == NULL || resp->user == NULL ||
        (token != NULL && resp->session_token == NULL) ||
        (device_token != NULL && device_token[0] != '\0' && resp->device_token == NULL))
        return AUTHD_ERR_NOMEM;
    return AUTHD_OK;
}
