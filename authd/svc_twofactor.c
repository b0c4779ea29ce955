/* SPDX-License-Identifier: Apache-2.0 */
/*
 * authd.v1.TwoFactor: TOTP enrolment (begin → confirm with a code → recovery codes; the pending
 * one shown again, unchanged, by PendingEnrollment), status,
 * disabling, regenerating recovery codes, and the current code for the edge's webhook delivery.
 * Every check of a code and its recording happen in one transaction on the user record, so a
 * code can never be used twice, even by two concurrent requests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd/account.h"
#include "authd/audit.h"
#include "authd/bearer.h"
#include "authd/guard.h"
#include "authd/v1/twofactor.pb-c.h"
#include "authd/v1/users.pb-c.h"
#include "common/err.h"
#include "common/log.h"
#include "authd/otp.h"
#include "authd/records.h"
#include "common/secret.h"
#include "authd/throttle.h"
#include "authd/device.h"
#include "authd/twofactor.h"
#include "authd/roles.h"

/* Makes sure rec->user->two_factor exists (records from before 2FA may lack it). */
static int
ensure_status(Authd__Storage__UserRecord *rec)
{
    if (rec->user->two_factor != NULL)
        return AUTHD_OK;
    rec->user->two_factor = malloc(sizeof(*rec->user->two_factor));
    if (rec->user->two_factor == NULL)
        return AUTHD_ERR_NOMEM;
    authd__v1__two_factor_status__init(rec->user->two_factor);
    return AUTHD_OK;
}

/* 1 when the user has a confirmed TOTP secret (2FA may also be on by keys alone). */
static int
has_totp(const Authd__Storage__UserRecord *rec)
{
    return rec->user->two_factor != NULL && rec->user->two_factor->enabled && rec->totp != NULL;
}

/* ---- BeginEnrollment ------------------------------------------------------------------- */

struct begin_step {
    const char *user_id;
    const char *transport;
    Authd__Storage__UserRecord *rec; /* out */
    char secret[64];                 /* out: base32 */
};

static int
begin_step(struct authd *a, struct store_txn *txn, void *arg)
{
    struct begin_step *b = arg;
    Authd__Storage__TotpState *st = NULL;
    rpc_msg_free(b->rec ? &b->rec->base : NULL);
    b->rec = NULL;
    int r = account_user_get(a, txn, 1, b->user_id, &b->rec);
    if (r != AUTHD_OK)
        return r;
    if (has_totp(b->rec))
        return AUTHD_ERR_ALREADY_ENABLED;
    /* Beginning again replaces the pending secret: only the newest QR code can be confirmed. */
    r = twofactor_state_new(a, b->user_id, b->transport, &st, b->secret);
    if (r != AUTHD_OK)
        return r;
    twofactor_set_state(&b->rec->pending_totp, st);
    return account_user_save(a, txn, b->rec);
}

_Static_assert(AUTHD_TRANSPORT_NAME_MAX == TWOFACTOR_TRANSPORT_MAX, "one transport name length");

/* 1 when t ("" = the app) may be chosen: any name while twoFactor.transports is empty. */
static int
transport_offered(struct authd *a, const char *t)
{
    struct authd_cfg cfg;
    if (t[0] == '\0')
        return 1;
    authd_cfg_get(a, &cfg);
    if (cfg.n_transports == 0)
        return 1;
    for (unsigned i = 0; i < cfg.n_transports; i++)
        if (strcmp(cfg.transports[i], t) == 0)
            return 1;
    return 0;
}

static int
tf_begin(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__BeginEnrollmentRequest *req = (const void *)reqm;
    Authd__V1__BeginEnrollmentResponse *resp = (void *)respm;
    Authd__Storage__SessionRecord *s = NULL;
    Authd__Storage__UserRecord *u = NULL;
    struct begin_step b = {0};
    struct authd_cfg cfg;
    struct buf uri;
    char q[96];

    buf_init(&uri, 2048);
    if (!twofactor_transport_valid(req->transport)) {
        rpc_ctx_set_message(ctx, "transport: up to 32 of A-Z a-z 0-9 - _ .");
        return AUTHD_ERR_INVALID_ARGUMENT;
    }
    if (!transport_offered(a, req->transport)) {
        rpc_ctx_set_message(ctx, "transport: not one of twoFactor.transports");
        return AUTHD_ERR_INVALID_ARGUMENT;
    }
    int r = bearer_session(ctx, a, req->session_token, req->bearer_token, 0, &s, &u);
    if (r != AUTHD_OK)
        goto out;
    if (req->transport[0] != '\0') {
        int64_t wait = 0;
        r = throttle_attempt(a, THROTTLE_DELIVERY, THROTTLE_ACCOUNT, u->user->id, &wait);
        if (r == AUTHD_ERR_LOCKED)
            guard_refuse(ctx, NULL, "too many codes sent", wait); /* it says when, too */
        if (r != AUTHD_OK)
            goto out;
    }
    b.user_id = u->user->id;
    b.transport = req->transport;
    r = account_txn_run(a, begin_step, &b);
    if (r != AUTHD_OK)
        goto out;
    struct otp_params p;
    twofactor_params(b.rec->pending_totp, &p);
    authd_cfg_get(a, &cfg);
    r = otp_uri(&uri, cfg.issuer, b.rec->user->email, b.secret, &p);
    if (r != AUTHD_OK)
        goto out;
    resp->secret = rpc_ctx_strdup(ctx, b.secret);
    resp->uri = rpc_ctx_strdup(ctx, uri.data);
    resp->user = rec_copy(ctx, &b.rec->user->base);
    resp->algorithm = (char *)otp_alg_name(p.alg);
    resp->digits = p.digits;
    resp->period = p.period;
    if (req->transport[0] != '\0') {
        char code[OTP_MAX_DIGITS + 1];
        r = twofactor_current_code(a, b.user_id, b.rec->pending_totp, code);
        if (r == AUTHD_OK)
            resp->code = rpc_ctx_strdup(ctx, code);
        secret_wipe(code, sizeof(code));
        if (r != AUTHD_OK)
            goto out;
    }
    if (resp->secret == NULL || resp->uri == NULL || resp->user == NULL ||
        (req->transport[0] != '\0' && resp->code == NULL))
        r = AUTHD_ERR_NOMEM;
    log_event(LOG_INFO, "twofactor_enrollment_begun", "user=%s transport=%s",
              log_quote(b.user_id, q, sizeof(q)), req->transport[0] ? req->transport : "app");
out:
    secret_wipe(b.secret, sizeof(b.secret));
    buf_free(&uri);
    rpc_msg_free(b.rec ? &b.rec->base : NULL);
    rpc_msg_free(s ? &s->base : NULL);
    rpc_msg_free(u ? &u->base : NULL);
    return r;
}

/* ---- steps that check a code ------------------------------------------------------------- */

enum code_action { ACT_CONFIRM, ACT_DISABLE, ACT_REGENERATE };

struct code_step {
    enum code_action act;
    const char *user_id;
    struct twofactor_proof proof; /* a code, a recovery code or a step-up assertion */
    struct twofactor_judge judge; /* out: the check, for the lockout counters */
    Authd__Storage__UserRecord *rec;
    int new_codes; /* out: codes holds new recovery codes */
    char codes[TWOFACTOR_RECOVERY_CODES][TWOFACTOR_RECOVERY_LEN + 1];
};

static int
code_step(struct authd *a, struct store_txn *txn, void *arg)
{
    struct code_step *c = arg;
    rpc_msg_free(c->rec ? &c->rec->base : NULL);
    c->rec = NULL;
    int r = account_user_get(a, txn, 1, c->user_id, &c->rec);
    if (r != AUTHD_OK)
        return r;
    r = ensure_status(c->rec);
    if (r != AUTHD_OK)
        return r;
    c->new_codes = 0;
    if (c->act == ACT_CONFIRM) {
        if (has_totp(c->rec))
            return AUTHD_ERR_ALREADY_ENABLED;
        if (c->rec->pending_totp == NULL)
            return AUTHD_ERR_NOT_REQUESTED;
        if (c->proof.code == NULL || c->proof.code[0] == '\0')
            return c->judge.check_err = AUTHD_ERR_WRONG_CODE; /* a wrong guess, too */
        r = twofactor_check(a, txn, c->rec, c->rec->pending_totp, &c->proof, &c->judge);
        if (r != AUTHD_OK)
            return r;
        /* A user whose keys already turned 2FA on keeps the recovery codes it has. */
        int was_on = twofactor_enabled(c->rec);
        Authd__Storage__TotpState *st = c->rec->pending_totp;
        c->rec->pending_totp = NULL;
        twofactor_set_state(&c->rec->totp, st);
        Authd__V1__TwoFactorStatus *tf = c->rec->user->two_factor;
        char *transport = strdup(st->transport);
        if (transport == NULL)
            return AUTHD_ERR_NOMEM;
        if (tf->transport != protobuf_c_empty_string)
            free(tf->transport);
        tf->transport = transport;
        tf->enabled = 1;
        tf->totp = 1;
        if (!was_on) {
            r = twofactor_recovery_new(c->rec, c->codes);
            c->new_codes = r == AUTHD_OK;
        }
    } else {
        if (!twofactor_enabled(c->rec))
            return AUTHD_ERR_NOT_ENABLED;
        r = twofactor_check(a, txn, c->rec, NULL, &c->proof, &c->judge);
        if (r != AUTHD_OK)
            return r;
        if (c->act == ACT_DISABLE) {
            /* Off means no factor left: the TOTP secret, the keys and the recovery codes go,
             * and the browsers remembered for the second factor with them. */
            r = twofactor_clear(txn, c->rec);
            if (r == AUTHD_OK)
                r = device_forget_all(txn, c->rec->user->id, NULL);
        } else {
            r = twofactor_recovery_new(c->rec, c->codes);
            c->new_codes = r == AUTHD_OK;
        }
    }
    if (r != AUTHD_OK)
        return r;
    return account_user_save(a, txn, c->rec);
}

/* The audit event of a change to the user's second factor (reason: what changed). */
static void
change_audit(struct rpc_ctx *ctx, const char *action, const char *user, const char *ip,
             const char *reason)
{
    struct audit ev = {
        .action = action, .outcome = AUDIT_SUCCESS, .user = user, .ip = ip, .reason = reason};
    audit_emit(ctx, &ev);
}

/* Runs a code-checking action for the session's user, with the lockout gate around it. */
static int
run_code_action(struct rpc_ctx *ctx, struct code_step *c, const char *token, const char *bearer,
                const char *ip)
{
    struct authd *a = rpc_ctx_arg(ctx);
    Authd__Storage__SessionRecord *s = NULL;
    Authd__Storage__UserRecord *u = NULL;
    int r = bearer_session(ctx, a, token, bearer, 0, &s, &u);
    if (r != AUTHD_OK)
        return r;
    c->user_id = u->user->id;
    c->proof.session_id = s->session->id; /* a step-up ceremony is bound to this session */
    c->proof.purpose = TWOFACTOR_CEREMONY_STEP_UP;
    static const char *const where[] = {"enroll", "disable", "regenerate"};
    const struct audit who = {.user = c->user_id, .ip = ip, .reason = where[c->act]};
    r = twofactor_guarded(a, ctx, &who, NULL, code_step, c, &c->judge);
    /* c->user_id points into u: keep a copy in the record instead. */
    c->user_id = NULL;
    c->proof.session_id = NULL;
    rpc_msg_free(&s->base);
    rpc_msg_free(&u->base);
    return r;
}

static int
codes_answer(struct rpc_ctx *ctx, struct code_step *c, Authd__V1__RecoveryCodesResponse *resp)
{
    resp->used_recovery_code = c->judge.used_recovery;
    resp->user = rec_copy(ctx, &c->rec->user->base);
    if (resp->user == NULL)
        return AUTHD_ERR_NOMEM;
    if (!c->new_codes)
        return AUTHD_OK; /* TOTP joined keys: the recovery codes the user has still work */
    resp->recovery_codes = rpc_ctx_alloc(ctx, TWOFACTOR_RECOVERY_CODES * sizeof(char *));
    if (resp->recovery_codes == NULL)
        return AUTHD_ERR_NOMEM;
    for (size_t i = 0; i < TWOFACTOR_RECOVERY_CODES; i++) {
        resp->recovery_codes[i] = rpc_ctx_strdup(ctx, c->codes[i]);
        if (resp->recovery_codes[i] == NULL)
            return AUTHD_ERR_NOMEM;
    }
    resp->n_recovery_codes = TWOFACTOR_RECOVERY_CODES;
    return AUTHD_OK;
}

static void
code_step_cleanup(struct code_step *c)
{
    secret_wipe(c->codes, sizeof(c->codes));
    rpc_msg_free(c->rec ? &c->rec->base : NULL);
    c->rec = NULL;
}

static int
tf_confirm(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    const Authd__V1__ConfirmEnrollmentRequest *req = (const void *)reqm;
    struct code_step c = {.act = ACT_CONFIRM, .proof = {.code = req->code}};
    int r = run_code_action(ctx, &c, req->session_token, req->bearer_token, req->client_ip);
    if (r == AUTHD_OK) {
        r = codes_answer(ctx, &c, (void *)respm);
        change_audit(ctx, AUDIT_TWOFACTOR_ENABLED, c.rec->user->id, req->client_ip, "enrolled");
    }
    code_step_cleanup(&c);
    return r;
}

/* What a Disable or RegenerateRecoveryCodes request presents (run_code_action binds it to the
 * caller's session). */
static struct twofactor_proof
step_up_proof(const Authd__V1__SecondFactorRequest *req)
{
    struct twofactor_proof p = {.code = req->code,
                                .recovery_code = req->recovery_code,
                                .ceremony_id = req->ceremony_id,
                                .credential_json = req->credential_json};
    return p;
}

static int
tf_disable(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    const Authd__V1__SecondFactorRequest *req = (const void *)reqm;
    Authd__V1__UserResponse *resp = (void *)respm;
    struct code_step c = {.act = ACT_DISABLE, .proof = step_up_proof(req)};
    int r = run_code_action(ctx, &c, req->session_token, req->bearer_token, req->client_ip);
    if (r == AUTHD_OK) {
        resp->user = rec_copy(ctx, &c.rec->user->base);
        r = resp->user != NULL ? AUTHD_OK : AUTHD_ERR_NOMEM;
        change_audit(ctx, AUDIT_TWOFACTOR_DISABLED, c.rec->user->id, req->client_ip, "by_user");
    }
    code_step_cleanup(&c);
    return r;
}

static int
tf_regenerate(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    const Authd__V1__SecondFactorRequest *req = (const void *)reqm;
    struct code_step c = {.act = ACT_REGENERATE, .proof = step_up_proof(req)};
    int r = run_code_action(ctx, &c, req->session_token, req->bearer_token, req->client_ip);
    if (r == AUTHD_OK) {
        r = codes_answer(ctx, &c, (void *)respm);
        /* Still on, with new recovery codes: every older code stopped working. */
        change_audit(ctx, AUDIT_TWOFACTOR_ENABLED, c.rec->user->id, req->client_ip,
                     "recovery_codes_regenerated");
    }
    code_step_cleanup(&c);
    return r;
}

/* ---- Status, IssueDeliveryCode ----------------------------------------------------------- */

static int
tf_status(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__StatusRequest *req = (const void *)reqm;
    Authd__V1__TwoFactorStatusResponse *resp = (void *)respm;
    Authd__Storage__SessionRecord *s = NULL;
    Authd__Storage__UserRecord *u = NULL;
    int r = bearer_session(ctx, a, req->session_token, req->bearer_token, 0, &s, &u);
    if (r != AUTHD_OK)
        return r;
    resp->user = rec_copy(ctx, &u->user->base);
    resp->pending = u->pending_totp != NULL;
    resp->recovery_codes_left = (uint32_t)u->n_recovery_hashes;
    rpc_msg_free(&s->base);
    rpc_msg_free(&u->base);
    return resp->user != NULL ? AUTHD_OK : AUTHD_ERR_NOMEM;
}

/*
 * Which code IssueDeliveryCode sends for the caller named by req: *u the user (rpc_msg_free) and
 * *st the state in it whose code goes out. A reset link names the user directly; a session
 * waiting for its second factor, or a signed-in one with 2FA on (Disable and
 * RegenerateRecoveryCodes ask for a code), uses the confirmed secret; a signed-in one without,
 * its enrolment by transport. NOT_REQUESTED when that state has no transport (an authenticator
 * app makes its own codes); UNAUTHENTICATED / INVALID_TOKEN when nobody is named.
 */
static int
delivery_target(struct authd *a, const Authd__V1__DeliveryCodeRequest *req,
                Authd__Storage__UserRecord **u, const Authd__Storage__TotpState **st)
{
    Authd__Storage__SessionRecord *s = NULL;
    int have_session = req->session_token != NULL && req->session_token[0] != '\0';
    int have_reset = req->reset_token != NULL && req->reset_token[0] != '\0';
    int r;
    *u = NULL;
    *st = NULL;
    if (!have_session && !have_reset)
        return AUTHD_ERR_UNAUTHENTICATED; /* nobody is named */
    if (have_session && have_reset)
        return AUTHD_ERR_INVALID_ARGUMENT; /* exactly one of them */
    if (have_reset) {
        r = twofactor_reset_user(a, req->reset_token, u, NULL);
        if (r != AUTHD_OK)
            return r;
        if (has_totp(*u))
            *st = (*u)->totp;
    } else {
        r = account_session_check(a, req->session_token, &s);
        if (r != AUTHD_OK)
            return r;
        r = account_user_get(a, NULL, 0, s->session->user_id, u);
        if (r != AUTHD_OK || (*u)->user == NULL || (*u)->user->inactive) {
            rpc_msg_free(&s->base);
            rpc_msg_free(*u ? &(*u)->base : NULL);
            *u = NULL;
            return AUTHD_ERR_UNAUTHENTICATED;
        }
        if (has_totp(*u))
            *st = (*u)->totp; /* a login's second step, or a signed-in user's code step */
        else if (s->session->authenticated)
            *st = (*u)->pending_totp; /* an enrolment by transport */
        rpc_msg_free(&s->base);
    }
    if (*st == NULL || (*st)->transport == NULL || (*st)->transport[0] == '\0') {
        *st = NULL;
        return AUTHD_ERR_NOT_REQUESTED;
    }
    return AUTHD_OK;
}

static int
tf_issue_delivery_code(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__DeliveryCodeRequest *req = (const void *)reqm;
    Authd__V1__DeliveryCodeResponse *resp = (void *)respm;
    Authd__Storage__UserRecord *u = NULL;
    const Authd__Storage__TotpState *st = NULL;
    char code[OTP_MAX_DIGITS + 1] = "";
    char q[96];

    /* Only the edge delivers codes: the callers table (callers.c) lets no other role here. */
    int r = delivery_target(a, req, &u, &st);
    if (r != AUTHD_OK)
        goto out;
    /* Each delivery may cost an SMS: no codes for a locked account, and only a few per hour.
     * Nothing else is recorded: the code is not spent, so sending it again burns nothing. */
    int64_t wait = 0;
    r = throttle_check(a, THROTTLE_SECOND_FACTOR, THROTTLE_ACCOUNT, u->user->id, &wait);
    if (r == AUTHD_ERR_LOCKED)
        guard_refuse(ctx, NULL, AUTHD_REFUSAL_WRONG_CODES, wait);
    if (r == AUTHD_OK) {
        r = throttle_attempt(a, THROTTLE_DELIVERY, THROTTLE_ACCOUNT, u->user->id, &wait);
        if (r == AUTHD_ERR_LOCKED)
            guard_refuse(ctx, NULL, "too many codes sent", wait);
    }
    if (r != AUTHD_OK)
        goto out;
    r = twofactor_current_code(a, u->user->id, st, code);
    if (r != AUTHD_OK)
        goto out;
    resp->code = rpc_ctx_strdup(ctx, code);
    resp->transport = rpc_ctx_strdup(ctx, st->transport);
    resp->user = rec_copy(ctx, &u->user->base);
    if (resp->code == NULL || resp->transport == NULL || resp->user == NULL)
        r = AUTHD_ERR_NOMEM;
    log_event(LOG_INFO, "delivery_code_issued", "user=%s transport=%s for=%s",
              log_quote(u->user->id, q, sizeof(q)), st->transport,
              req->reset_token != NULL && req->reset_token[0] != '\0' ? "reset" : "session");
out:
    secret_wipe(code, sizeof(code));
    rpc_msg_free(u ? &u->base : NULL);
    return r;
}

/* ---- PendingEnrollment --------------------------------------------------------------------- */

static int
tf_pending(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__StatusRequest *req = (const void *)reqm;
    Authd__V1__BeginEnrollmentResponse *resp = (void *)respm;
    Authd__Storage__SessionRecord *s = NULL;
    Authd__Storage__UserRecord *u = NULL;
    uint8_t *key = NULL;
    size_t klen = 0;
    char secret[64] = "";
    struct authd_cfg cfg;
    struct buf uri;

    buf_init(&uri, 2048);
    int r = bearer_session(ctx, a, req->session_token, req->bearer_token, 0, &s, &u);
    if (r != AUTHD_OK)
        goto out;
    const Authd__Storage__TotpState *st = u->pending_totp;
    if (has_totp(u)) {
        r = AUTHD_ERR_ALREADY_ENABLED;
        goto out;
    }
    /* An enrolment by transport has no QR code to show: its codes go by the webhook. */
    if (st == NULL || (st->transport != NULL && st->transport[0] != '\0')) {
        r = AUTHD_ERR_NOT_REQUESTED;
        goto out;
    }
    r = twofactor_secret_open(a, u->user->id, st, &key, &klen);
    if (r != AUTHD_OK)
        goto out;
    if (otp_base32_len(klen) + 1 > sizeof(secret)) {
        r = AUTHD_ERR_INTERNAL;
        goto out;
    }
    otp_base32_encode(key, klen, secret);
    struct otp_params p;
    twofactor_params(st, &p);
    authd_cfg_get(a, &cfg);
    r = otp_uri(&uri, cfg.issuer, u->user->email, secret, &p);
    if (r != AUTHD_OK)
        goto out;
    resp->secret = rpc_ctx_strdup(ctx, secret);
    resp->uri = rpc_ctx_strdup(ctx, uri.data);
    resp->user = rec_copy(ctx, &u->user->base);
    resp->algorithm = (char *)otp_alg_name(p.alg);
    resp->digits = p.digits;
    resp->period = p.period;
    if (resp->secret == NULL || resp->uri == NULL || resp->user == NULL)
        r = AUTHD_ERR_NOMEM;
out:
    secret_freezero(key, klen);
    secret_wipe(secret, sizeof(secret));
    buf_free(&uri); /* wiped: the URI holds the secret too */
    rpc_msg_free(s ? &s->base : NULL);
    rpc_msg_free(u ? &u->base : NULL);
    return r;
}

/* ---- Remembered browsers (device.h) ------------------------------------------------------- */

static int
tf_list_devices(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__StatusRequest *req = (const void *)reqm;
    Authd__Storage__SessionRecord *s = NULL;
    Authd__Storage__UserRecord *u = NULL;
    int r = bearer_session(ctx, a, req->session_token, req->bearer_token, 0, &s, &u);
    if (r != AUTHD_OK)
        return r;
    r = device_list(a, ctx, u->user->id, (void *)respm);
    rpc_msg_free(&s->base);
    rpc_msg_free(&u->base);
    return r;
}

static int
tf_forget_device(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__ForgetDeviceRequest *req = (const void *)reqm;
    Authd__Storage__SessionRecord *s = NULL;
    Authd__Storage__UserRecord *u = NULL;
    if (req->all == (req->device_id[0] != '\0')) {
        rpc_ctx_set_message(ctx, "give device_id or all, not both");
        return AUTHD_ERR_INVALID_ARGUMENT;
    }
    int r = bearer_session(ctx, a, req->session_token, req->bearer_token, 0, &s, &u);
    if (r != AUTHD_OK)
        return r;
    /* Only the user's own: another user's id is NOT_FOUND, as an unknown one. */
    struct device_forget_req f = {.user_id = u->user->id,
                                  .device_id = req->all ? NULL : req->device_id};
    r = account_txn_run(a, device_forget_step, &f);
    if (r == AUTHD_ERR_NOT_FOUND)
        rpc_ctx_set_message(ctx, "no such remembered browser");
    if (r == AUTHD_OK && f.n > 0) {
        struct audit ev = {.action = AUDIT_TOKEN_REVOKED,
                           .outcome = AUDIT_SUCCESS,
                           .user = u->user->id,
                           .target = req->all ? "devices/all"
                                              : rpc_ctx_printf(ctx, "device/%s", req->device_id),
                           .reason = "device_forgotten"};
        audit_emit(ctx, &ev);
    }
    if (r == AUTHD_OK)
        r = device_list(a, ctx, u->user->id, (void *)respm);
    rpc_msg_free(&s->base);
    rpc_msg_free(&u->base);
    return r;
}

const struct rpc_method authd_twofactor_methods[] = {
    {"BeginEnrollment", tf_begin, 0, ROLE_EDGE},
    {"ConfirmEnrollment", tf_confirm, 0, ROLE_EDGE},
    {"Disable", tf_disable, 0, ROLE_EDGE},
    {"Status", tf_status, RPC_INLINE, ROLE_EDGE},
    {"RegenerateRecoveryCodes", tf_regenerate, 0, ROLE_EDGE},
    {"IssueDeliveryCode", tf_issue_delivery_code, 0, ROLE_EDGE},
    {"PendingEnrollment", tf_pending, 0, ROLE_EDGE},
    {"ListDevices", tf_list_devices, 0, ROLE_EDGE},
    {"ForgetDevice", tf_forget_device, 0, ROLE_EDGE},
};
const size_t authd_twofactor_n_methods =
    sizeof(authd_twofactor_methods) / sizeof(authd_twofactor_methods[0]);
