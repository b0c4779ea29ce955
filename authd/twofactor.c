/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared second-factor logic (see twofactor.h). The TOTP window is the configured
 * validPastTokensCount steps back and one step ahead; a step not newer than the last accepted
 * one is refused (RFC 6238 §5.2). Recovery codes are 80-bit random strings, stored as SHA-256
 * and compared in constant time against every stored hash.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd/account.h"
#include "authd/audit.h"
#include "authd/guard.h"
#include "common/err.h"
#include "common/log.h"
#include "authd/otp.h"
#include "proto/rpc.h"
#include "common/secret.h"
#include "authd/secretbox.h"
#include "authd/throttle.h"
#include "authd/twofactor.h"
#include "authd/webauthn_login.h"
#include "authd/webauthn_store.h"

#define TOTP_FUTURE_STEPS 1

void
twofactor_params(const Authd__Storage__TotpState *st, struct otp_params *p)
{
    otp_params_default(p);
    enum otp_alg alg;
    if (st->algorithm != NULL && otp_alg_parse(st->algorithm, &alg) == 0)
        p->alg = alg;
    if (st->digits >= OTP_MIN_DIGITS && st->digits <= OTP_MAX_DIGITS)
        p->digits = st->digits;
    if (st->period > 0)
        p->period = st->period;
}

int
twofactor_secret_open(struct authd *a, const char *user_id, const Authd__Storage__TotpState *st,
                      uint8_t **key, size_t *klen)
{
    *key = NULL;
    *klen = 0;
    if (a->box == NULL || st == NULL || st->secret_enc.len == 0)
        return AUTHD_ERR_INTERNAL;
    int r = secretbox_open(a->box, st->secret_enc.data, st->secret_enc.len,
                           (const uint8_t *)user_id, strlen(user_id), key, klen);
    if (r != AUTHD_OK) {
        char q[96];
        log_event(LOG_ERROR, "totp_secret_unreadable", "user=%s", log_quote(user_id, q, sizeof(q)));
    }
    return r;
}

int
twofactor_state_new(struct authd *a, const char *user_id, const char *transport,
                    Authd__Storage__TotpState **out, char *secret_b32)
{
    uint8_t key[OTP_SECRET_BYTES];
    struct authd_cfg cfg;
    Authd__Storage__TotpState *st = NULL;
    int r = AUTHD_ERR_NOMEM;

    *out = NULL;
    secret_b32[0] = '\0';
    if (a->box == NULL)
        return AUTHD_ERR_INTERNAL;
    if (secret_random(key, sizeof(key)) != AUTHD_OK)
        return AUTHD_ERR_INTERNAL;
    authd_cfg_get(a, &cfg);
    st = malloc(sizeof(*st));
    if (st == NULL)
        goto out;
    authd__storage__totp_state__init(st);
    st->algorithm = strdup(otp_alg_name(cfg.otp.alg));
    st->transport = strdup(transport != NULL ? transport : "");
    if (st->algorithm == NULL || st->transport == NULL)
        goto out;
    st->digits = cfg.otp.digits;
    st->period = cfg.otp.period;
    st->created_at = a->now();
    r = secretbox_seal(a->box, key, sizeof(key), (const uint8_t *)user_id, strlen(user_id),
                       &st->secret_enc.data, &st->secret_enc.len);
    if (r != AUTHD_OK)
        goto out;
    otp_base32_encode(key, sizeof(key), secret_b32);
    *out = st;
    st = NULL;
out:
    rpc_msg_free(st ? &st->base : NULL);
    secret_wipe(key, sizeof(key));
    return r;
}

int
twofactor_current_code(struct authd *a, const char *user_id, const Authd__Storage__TotpState *st,
                       char *code)
{
    uint8_t *key = NULL;
    size_t klen = 0;
    struct otp_params p;
    code[0] = '\0';
    int r = twofactor_secret_open(a, user_id, st, &key, &klen);
    if (r != AUTHD_OK)
        return r;
    twofactor_params(st, &p);
    /* Never hand out a code of a step already used: it would be refused as a replay. The next
     * step's code is accepted too (one future step), so use it when the current one is spent. */
    int64_t cur = otp_step(&p, a->now());
    int64_t step = st->last_step >= cur ? st->last_step + 1 : cur;
    if (step > cur + 1)
        r = AUTHD_ERR_CONFLICT; /* both usable steps are spent: a new code in a few seconds */
    else
        r = otp_totp(key, klen, &p, step * (int64_t)p.period, code);
    secret_freezero(key, klen);
    return r;
}

/* Normalises a typed recovery code (case, dashes, spaces) into out (17 bytes). 0 or -1. */
static int
recovery_normalize(const char *in, char out[17])
{
    size_t n = 0;
    for (const char *p = in; *p; p++) {
        if (*p == '-' || *p == ' ')
            continue;
        if (n == 16 || !isalnum((unsigned char)*p))
            return -1;
        out[n++] = (char)tolower((unsigned char)*p);
    }
    out[n] = '\0';
    return n == 16 ? 0 : -1;
}

/* Finds the recovery code among rec's hashes and removes it. AUTHD_OK or WRONG_CODE. */
static int
recovery_spend(Authd__Storage__UserRecord *rec, const char *typed)
{
    char norm[17];
    uint8_t h[32];
    if (recovery_normalize(typed, norm) != 0)
        return AUTHD_ERR_WRONG_CODE;
    secret_sha256(norm, 16, h);
    secret_wipe(norm, sizeof(norm));
    size_t found = SIZE_MAX;
    /* Look at every hash, so the time does not depend on which one matched. */
    for (size_t i = 0; i < rec->n_recovery_hashes; i++) {
        const ProtobufCBinaryData *d = &rec->recovery_hashes[i];
        if (d->len == sizeof(h) && secret_eq(d->data, h, sizeof(h)) && found == SIZE_MAX)
            found = i;
    }
    if (found == SIZE_MAX)
        return AUTHD_ERR_WRONG_CODE;
    free(rec->recovery_hashes[found].data);
    rec->recovery_hashes[found] = rec->recovery_hashes[rec->n_recovery_hashes - 1];
    rec->n_recovery_hashes--;
    return AUTHD_OK;
}

const char *
twofactor_kind_amr(enum twofactor_kind k)
{
    return k == TWOFACTOR_KIND_HWK ? "hwk" : k == TWOFACTOR_KIND_SWK ? "swk" : NULL;
}

int
twofactor_enabled(const Authd__Storage__UserRecord *rec)
{
    return rec->user != NULL && rec->user->two_factor != NULL && rec->user->two_factor->enabled &&
           (rec->totp != NULL || rec->n_webauthn > 0);
}

static int
present(const char *s)
{
    return s != NULL && s[0] != '\0';
}

/* A TOTP code against st (rec->totp when NULL). */
static int
check_totp(struct authd *a, Authd__Storage__UserRecord *rec, Authd__Storage__TotpState *st,
           const char *code)
{
    if (st == NULL)
        st = rec->totp;
    if (st == NULL)
        return AUTHD_ERR_WRONG_CODE; /* keys only: no code can be right */
    uint8_t *key = NULL;
    size_t klen = 0;
    struct otp_params p;
    struct authd_cfg cfg;
    int64_t matched = 0;
    int r = twofactor_secret_open(a, rec->user->id, st, &key, &klen);
    if (r != AUTHD_OK)
        return r;
    twofactor_params(st, &p);
    authd_cfg_get(a, &cfg);
    r = otp_verify(key, klen, &p, a->now(), cfg.past_steps, TOTP_FUTURE_STEPS, st->last_step, code,
                   &matched);
    secret_freezero(key, klen);
    if (r == AUTHD_OK)
        st->last_step = matched;
    return r;
}

/* twofactor_check without the bookkeeping of j (kind and clone flag set here). */
static int
check_proof(struct authd *a, struct store_txn *txn, Authd__Storage__UserRecord *rec,
            Authd__Storage__TotpState *st, const struct twofactor_proof *p,
            struct twofactor_judge *j)
{
    if (rec->user == NULL)
        return AUTHD_ERR_INTERNAL;
    int have_code = present(p->code);
    if (st != NULL) { /* an enrolment being confirmed: only its code counts */
        int r = have_code ? check_totp(a, rec, st, p->code) : AUTHD_ERR_WRONG_CODE;
        if (r == AUTHD_OK)
            j->kind = TWOFACTOR_KIND_TOTP;
        return r;
    }
    int passwordless = p->purpose == TWOFACTOR_CEREMONY_PASSWORDLESS;
    if (!passwordless && !twofactor_enabled(rec))
        return AUTHD_ERR_NOT_ENABLED;
    if (have_code) {
        int r = check_totp(a, rec, NULL, p->code);
        if (r == AUTHD_OK)
            j->kind = TWOFACTOR_KIND_TOTP;
        return r;
    }
    if (present(p->recovery_code)) {
        int r = recovery_spend(rec, p->recovery_code);
        if (r == AUTHD_OK) {
            j->kind = TWOFACTOR_KIND_RECOVERY;
            j->used_recovery = 1;
        }
        return r;
    }
    if (present(p->credential_json) || present(p->ceremony_id)) {
        j->assertion = 1;
        return webauthn_login_judge(a, txn, rec, p, j);
    }
    return AUTHD_ERR_SECOND_FACTOR_REQUIRED;
}

int
twofactor_check(struct authd *a, struct store_txn *txn, Authd__Storage__UserRecord *rec,
                Authd__Storage__TotpState *st, const struct twofactor_proof *p,
                struct twofactor_judge *j)
{
    struct twofactor_judge local;
    if (j == NULL)
        j = &local;
    j->kind = TWOFACTOR_KIND_NONE;
    j->used_recovery = 0;
    j->assertion = 0;
    j->possible_clone = 0;
    j->burn = NULL;
    j->why = NULL;
    j->check_err = check_proof(a, txn, rec, st, p, j);
    return j->check_err;
}

struct guarded {
    int (*step)(struct authd *, struct store_txn *, void *);
    void *arg;
    struct twofactor_judge *j;
    struct guard *g;
};

static void
judge_clear(struct twofactor_judge *j)
{
    j->check_err = TWOFACTOR_UNJUDGED;
    j->used_recovery = 0;
    j->kind = TWOFACTOR_KIND_NONE;
    j->assertion = 0;
    j->possible_clone = 0;
    j->burn = NULL;
    j->why = NULL;
}

/*
 * Each run of the step (account_txn_run retries lost races) starts unjudged. A run whose code
 * passed also forgets the user's failures in its own transaction (guard_pass_txn: a delete only
 * when there are failures), so a verification is one synced write, success and reset together.
 */
static int
guarded_step(struct authd *a, struct store_txn *txn, void *arg)
{
    struct guarded *w = arg;
    judge_clear(w->j);
    w->g->passed_in_txn = 0;
    int r = w->step(a, txn, w->arg);
    if (r == AUTHD_OK && w->j->check_err == AUTHD_OK)
        r = guard_pass_txn(w->g, txn);
    return r;
}

int
twofactor_guarded(struct authd *a, struct rpc_ctx *ctx, const struct audit *who,
                  const char *oauth_code, int (*step)(struct authd *, struct store_txn *, void *),
                  void *arg, struct twofactor_judge *j)
{
    struct guard g = {.a = a,
                      .ctx = ctx,
                      .kind = THROTTLE_SECOND_FACTOR,
                      .account = who->user,
                      .refusal = AUTHD_REFUSAL_WRONG_CODES,
                      .oauth_code = oauth_code,
                      .who = *who};
    struct guarded w = {step, arg, j, &g};
    g.who.action = AUDIT_SECOND_FACTOR;
    judge_clear(j);
    int r = guard_enter(&g);
    if (r == AUTHD_OK)
        r = account_txn_run(a, guarded_step, &w);
    /* Only a judgement of the proof itself counts (a second request with a code that a
     * concurrent one just used fails the check too, as it must); other failures record nothing. */
    int err = j->check_err != AUTHD_OK ? j->check_err : r;
    if (j->check_err != TWOFACTOR_UNJUDGED && err == AUTHD_OK) {
        guard_pass(&g);
        guard_audit(&g, AUDIT_SUCCESS,
                    j->assertion       ? "webauthn"
                    : j->used_recovery ? "recovery_code"
                                       : "totp");
        if (j->used_recovery) {
            struct audit ev = *who;
            ev.action = AUDIT_RECOVERY_CODE_USED;
            ev.outcome = AUDIT_SUCCESS;
            audit_emit(ctx, &ev);
        }
    } else if (j->check_err != TWOFACTOR_UNJUDGED &&
               (err == AUTHD_ERR_WRONG_CODE || err == AUTHD_ERR_KEY_REFUSED)) {
        if (j->possible_clone)
            webauthn_login_clone_seen();
        guard_fail(&g, j->possible_clone ? "possible_clone"
                       : j->assertion    ? "key_refused"
                                         : "wrong_code");
        if (err == AUTHD_ERR_KEY_REFUSED && j->why != NULL)
            rpc_ctx_set_message(ctx, j->why);
    }
    /* A refused assertion's step was rolled back with the take of its challenge: take it now,
     * so no ceremony is answered twice (the failure above is already counted). */
    if (j->burn != NULL && r != AUTHD_OK)
        webauthn_login_burn(a, j->burn, who->user);
    guard_leave(&g);
    return r;
}

int
twofactor_recovery_new(Authd__Storage__UserRecord *rec,
                       char codes[TWOFACTOR_RECOVERY_CODES][TWOFACTOR_RECOVERY_LEN + 1])
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
    ProtobufCBinaryData *hashes = calloc(TWOFACTOR_RECOVERY_CODES, sizeof(*hashes));
    if (hashes == NULL)
        return AUTHD_ERR_NOMEM;
    for (size_t i = 0; i < TWOFACTOR_RECOVERY_CODES; i++) {
        uint8_t rnd[16];
        char norm[17];
        if (secret_random(rnd, sizeof(rnd)) != AUTHD_OK)
            goto fail;
        for (size_t j = 0; j < 16; j++)
            norm[j] = alphabet[rnd[j] & 31]; /* 32 symbols: no bias */
        norm[16] = '\0';
        snprintf(codes[i], TWOFACTOR_RECOVERY_LEN + 1, "%.4s-%.4s-%.4s-%.4s", norm, norm + 4,
                 norm + 8, norm + 12);
        hashes[i].data = malloc(32);
        if (hashes[i].data == NULL)
            goto fail;
        hashes[i].len = 32;
        secret_sha256(norm, 16, hashes[i].data);
        secret_wipe(norm, sizeof(norm));
        secret_wipe(rnd, sizeof(rnd));
    }
    for (size_t i = 0; i < rec->n_recovery_hashes; i++)
        free(rec->recovery_hashes[i].data);
    free(rec->recovery_hashes);
    rec->recovery_hashes = hashes;
    rec->n_recovery_hashes = TWOFACTOR_RECOVERY_CODES;
    return AUTHD_OK;
fail:
    for (size_t i = 0; i < TWOFACTOR_RECOVERY_CODES; i++)
        free(hashes[i].data);
    free(hashes);
    secret_wipe(codes, sizeof(char) * TWOFACTOR_RECOVERY_CODES * (TWOFACTOR_RECOVERY_LEN + 1));
    return AUTHD_ERR_NOMEM;
}

void
twofactor_set_state(Authd__Storage__TotpState **slot, Authd__Storage__TotpState *st)
{
    rpc_msg_free(*slot ? &(*slot)->base : NULL);
    *slot = st;
}

int
twofactor_clear(struct store_txn *txn, Authd__Storage__UserRecord *rec)
{
    int r = webauthn_cred_clear(txn, rec);
    if (r != AUTHD_OK)
        return r;
    twofactor_set_state(&rec->totp, NULL);
    twofactor_set_state(&rec->pending_totp, NULL);
    for (size_t i = 0; i < rec->n_recovery_hashes; i++)
        free(rec->recovery_hashes[i].data);
    free(rec->recovery_hashes);
    rec->recovery_hashes = NULL;
    rec->n_recovery_hashes = 0;
    if (rec->user != NULL && rec->user->two_factor != NULL) {
        Authd__V1__TwoFactorStatus *tf = rec->user->two_factor;
        tf->enabled = 0;
        tf->totp = 0;
        tf->passkeys = 0;
        if (tf->transport != protobuf_c_empty_string)
            free(tf->transport);
        tf->transport = (char *)protobuf_c_empty_string;
    }
    return AUTHD_OK;
}

int
twofactor_transport_valid(const char *t)
{
    static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.";
    size_t n = strlen(t);
    return n <= TWOFACTOR_TRANSPORT_MAX && strspn(t, ok) == n;
}

/* Replaces *slot (a message string field) by a copy of v. */
static int
set_string(char **slot, const char *v)
{
    char *dup = strdup(v);
    if (dup == NULL)
        return AUTHD_ERR_NOMEM;
    if (*slot != protobuf_c_empty_string)
        free(*slot);
    *slot = dup;
    return AUTHD_OK;
}

int
twofactor_set_transport(Authd__Storage__UserRecord *rec, const char *transport)
{
    if (!twofactor_transport_valid(transport))
        return AUTHD_ERR_INVALID_ARGUMENT;
    Authd__V1__TwoFactorStatus *tf = rec->user != NULL ? rec->user->two_factor : NULL;
    if (tf == NULL || !tf->enabled || rec->totp == NULL)
        return transport[0] == '\0' ? AUTHD_OK : AUTHD_ERR_NOT_ENABLED;
    int r = set_string(&tf->transport, transport);
    if (r == AUTHD_OK)
        r = set_string(&rec->totp->transport, transport);
    return r;
}
