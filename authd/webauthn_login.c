/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Signing in with a WebAuthn key (see webauthn_login.h): BeginAssertion makes the ceremony
 * (webauthn_store.h) and the browser's PublicKeyCredentialRequestOptionsJSON; FinishAssertion
 * hands the answer to login_second (login.h), which judges it as one more proof of
 * twofactor_check through webauthn_login_judge below. A passwordless sign-in learns its user
 * from the response's userHandle: the bytes of the user id (the registration options' user.id),
 * and the key must then be one of that user's.
 */
#include "authd/webauthn_login.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "authd/account.h"
#include "authd/audit.h"
#include "authd/bearer.h"
#include "authd/guard.h"
#include "authd/keys.h"
#include "authd/login.h"
#include "authd/txn.h"
#include "authd/v1/webauthn.pb-c.h"
#include "authd/webauthn.h"
#include "authd/webauthn_store.h"
#include "common/err.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/secret.h"

#define M_CLONES "authd_webauthn_counter_regressions_total"

_Static_assert(TWOFACTOR_CEREMONY_LOGIN == WEBAUTHN_PURPOSE_LOGIN, "one purpose numbering");
_Static_assert(TWOFACTOR_CEREMONY_STEP_UP == WEBAUTHN_PURPOSE_STEPUP, "one purpose numbering");
_Static_assert(TWOFACTOR_CEREMONY_PASSWORDLESS == WEBAUTHN_PURPOSE_PASSWORDLESS,
               "one purpose numbering");
_Static_assert(TWOFACTOR_CEREMONY_RESET == WEBAUTHN_PURPOSE_RESET, "one purpose numbering");

static int
present(const char *s)
{
    return s != NULL && s[0] != '\0';
}

/* ---- the judge ----------------------------------------------------------------------------- */

/* 1 when the userHandle h (len bytes) names user_id: the bytes of the id, exactly. */
static int
handle_is(const uint8_t *h, size_t len, const char *user_id)
{
    size_t n = strlen(user_id);
    return len == n && secret_eq(h, user_id, n);
}

int
webauthn_login_judge(struct authd *a, struct store_txn *txn, Authd__Storage__UserRecord *rec,
                     const struct twofactor_proof *p, struct twofactor_judge *j)
{
    struct authd_webauthn w;
    Authd__Storage__WebAuthnChallengeRecord *ch = NULL;
    struct webauthn_assertion as;
    const char *why = NULL;

    memset(&as, 0, sizeof(as));
    int r = webauthn_config(a, NULL, &w);
    if (r != AUTHD_OK)
        return r;
    if (!present(p->ceremony_id) || !present(p->credential_json)) {
        j->why = "a key's answer needs its ceremony_id and credential_json";
        return AUTHD_ERR_KEY_REFUSED;
    }
    int purpose = p->purpose != 0 ? p->purpose : TWOFACTOR_CEREMONY_STEP_UP;
    int passwordless = purpose == TWOFACTOR_CEREMONY_PASSWORDLESS;
    /* Single use: the take is part of this transaction (a refusal's rollback restores it, and
     * twofactor_guarded burns it then: webauthn_login_burn). */
    r = webauthn_challenge_take(a, txn, p->ceremony_id, purpose, passwordless ? "" : rec->user->id,
                                passwordless || p->session_id == NULL ? "" : p->session_id, &ch);
    if (r == AUTHD_ERR_KEY_REFUSED)
        j->why = "unknown, used or expired ceremony";
    if (r != AUTHD_OK)
        return r;
    j->burn = p;
    r = AUTHD_ERR_KEY_REFUSED;
    int v = webauthn_parse_assertion(p->credential_json, &as, &why);
    if (v == WEBAUTHN_NOMEM) {
        r = AUTHD_ERR_NOMEM;
        goto out;
    }
    if (v != WEBAUTHN_OK)
        goto out;
    long i = webauthn_cred_find(rec, as.cred_id, as.cred_id_len);
    if (i < 0) {
        why = "the key is not one of the user's";
        goto out;
    }
    /* §7.2 step 6: a userHandle present must be the user's (and a passwordless sign-in has one:
     * FinishAssertion found the user by it). */
    if ((passwordless && as.user_handle == NULL) ||
        (as.user_handle != NULL && !handle_is(as.user_handle, as.user_handle_len, rec->user->id))) {
        why = "the userHandle is not the key's user";
        goto out;
    }
    Authd__Storage__WebAuthnCredentialRecord *k = rec->webauthn[i];
    const char *origins[AUTHD_WEBAUTHN_ORIGINS_MAX];
    struct webauthn_rp rp;
    struct webauthn_assertion_result res;
    /* A sign-in with the key alone must verify the user (PIN, biometrics) whatever the
     * challenge record says. */
    webauthn_rp_fill(&w, ch->require_uv || passwordless, origins, &rp);
    v = webauthn_verify_assertion(&rp, ch->challenge.data, ch->challenge.len, &as,
                                  k->public_key.data, k->public_key.len, k->alg, k->sign_count,
                                  &res, &why);
    if (v == WEBAUTHN_NOMEM) {
        r = AUTHD_ERR_NOMEM;
    } else if ((v == WEBAUTHN_OK || v == WEBAUTHN_COUNTER) &&
               res.backup_eligible != (k->backup_eligible != 0)) {
        /* L3 §7.2: BE is fixed when the credential is made; a key registered as hardware-bound
         * that now says it may be synced (or the reverse) is not the key that was registered,
         * and hwk/swk (amr, acr phrh) would be wrong. */
        why = "the key's backup eligibility changed since it was registered";
    } else if (v == WEBAUTHN_COUNTER) {
        j->possible_clone = 1;
        why = "the key's signature counter did not advance (a cloned key?)";
    } else if (v == WEBAUTHN_OK) {
        k->sign_count = res.sign_count;
        k->last_used_at = a->now();
        j->kind = k->backup_eligible ? TWOFACTOR_KIND_SWK : TWOFACTOR_KIND_HWK;
        r = AUTHD_OK;
    }
out:
    if (r == AUTHD_ERR_KEY_REFUSED)
        j->why = why != NULL ? why : "the key's answer was refused";
    webauthn_assertion_free(&as);
    rpc_msg_free(ch ? &ch->base : NULL);
    return r;
}

struct burn {
    const char *id;
    int purpose;
    const char *user_id;
    const char *session_id;
};

static int
burn_step(struct authd *a, struct store_txn *txn, void *arg)
{
    struct burn *b = arg;
    Authd__Storage__WebAuthnChallengeRecord *ch = NULL;
    int r = webauthn_challenge_take(a, txn, b->id, b->purpose, b->user_id, b->session_id, &ch);
    rpc_msg_free(ch ? &ch->base : NULL);
    return r; /* refused (gone already, or not bound so): rolled back, nothing burnt */
}

void
webauthn_login_burn(struct authd *a, const struct twofactor_proof *p, const char *user_id)
{
    int passwordless = p->purpose == TWOFACTOR_CEREMONY_PASSWORDLESS;
    struct burn b = {.id = p->ceremony_id,
                     .purpose = p->purpose != 0 ? p->purpose : TWOFACTOR_CEREMONY_STEP_UP,
                     .user_id = passwordless ? "" : user_id,
                     .session_id = passwordless || p->session_id == NULL ? "" : p->session_id};
    if (!present(b.id))
        return;
    int r = account_txn_run(a, burn_step, &b);
    if (r != AUTHD_OK && r != AUTHD_ERR_KEY_REFUSED)
        log_event(LOG_WARN, "webauthn_burn_failed", "err=%s", authd_strerror(r));
}

static pthread_once_t describe_once = PTHREAD_ONCE_INIT;

static void
describe(void)
{
    metrics_describe(M_CLONES, METRICS_COUNTER,
                     "WebAuthn assertions refused because the key's signature counter did not "
                     "advance (a possibly cloned authenticator)");
}

void
webauthn_login_metrics(void)
{
    pthread_once(&describe_once, describe);
    metrics_count(M_CLONES, NULL, 0);
}

void
webauthn_login_clone_seen(void)
{
    pthread_once(&describe_once, describe);
    metrics_count(M_CLONES, NULL, 1);
}

/* ---- BeginAssertion ------------------------------------------------------------------------ */

/* PublicKeyCredentialRequestOptionsJSON (WebAuthn L3 §5.1.5) for the ceremony c: the user's
 * keys as allowCredentials (rec NULL: none, a passwordless sign-in). Arena memory, or NULL. */
static char *
request_options(struct rpc_ctx *ctx, const struct authd_webauthn *w,
                const struct webauthn_ceremony *c, const Authd__Storage__UserRecord *rec)
{
    char chal[64];
    char *out = NULL;
    secret_b64url_encode(c->challenge, sizeof(c->challenge), chal);
    json_t *o = json_object();
    json_t *allow = json_array();
    int bad = o == NULL || allow == NULL;
    for (size_t i = 0; !bad && rec != NULL && i < rec->n_webauthn; i++) {
        const Authd__Storage__WebAuthnCredentialRecord *k = rec->webauthn[i];
        char *id = malloc(secret_b64url_len(k->credential_id.len) + 1);
        json_t *d = json_object();
        json_t *tr = json_array();
        bad = id == NULL || d == NULL || tr == NULL;
        if (!bad) {
            secret_b64url_encode(k->credential_id.data, k->credential_id.len, id);
            for (size_t t = 0; t < k->n_transports; t++)
                bad |= json_array_append_new(tr, json_string(k->transports[t])) != 0;
            bad |= json_object_set_new(d, "type", json_string("public-key")) != 0;
            bad |= json_object_set_new(d, "id", json_string(id)) != 0;
            if (k->n_transports > 0) {
                bad |= json_object_set_new(d, "transports", tr) != 0;
                tr = NULL;
            }
            bad |= json_array_append_new(allow, d) != 0;
            d = NULL;
        }
        json_decref(tr);
        json_decref(d);
        free(id);
    }
    if (!bad) {
        bad |= json_object_set_new(o, "challenge", json_string(chal)) != 0;
        bad |= json_object_set_new(o, "timeout", json_integer(w->timeout * 1000)) != 0;
        bad |= json_object_set_new(o, "rpId", json_string(w->rp_id)) != 0;
        bad |= json_object_set_new(o, "allowCredentials", allow) != 0;
        allow = NULL;
        bad |= json_object_set_new(o, "userVerification",
                                   json_string(c->require_uv ? "required" : "preferred")) != 0;
    }
    if (!bad) {
        char *text = json_dumps(o, JSON_COMPACT);
        if (text != NULL)
            out = rpc_ctx_strdup(ctx, text);
        free(text);
    }
    json_decref(allow);
    json_decref(o);
    return out;
}

int
webauthn_begin_assertion(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__BeginAssertionRequest *req = (const void *)reqm;
    Authd__V1__CeremonyResponse *resp = (void *)respm;
    Authd__Storage__SessionRecord *s = NULL;
    Authd__Storage__UserRecord *u = NULL;
    struct authd_webauthn w;
    struct webauthn_ceremony c;

    char link[KEY_MAX];

    memset(&c, 0, sizeof(c));
    int r = webauthn_config(a, ctx, &w);
    if (r != AUTHD_OK)
        return r;
    if (present(req->reset_token)) {
        /* A password reset confirmed with a key: bound to the link and its user. */
        if (present(req->session_token) || present(req->bearer_token)) {
            rpc_ctx_set_message(ctx, "a reset's ceremony is named by its link alone");
            return AUTHD_ERR_INVALID_ARGUMENT;
        }
        r = twofactor_reset_user(a, req->reset_token, &u, link);
        if (r != AUTHD_OK)
            return r;
        if (u->n_webauthn == 0 || !twofactor_enabled(u)) {
            rpc_ctx_set_message(ctx, "the user has no passkey or security key");
            r = AUTHD_ERR_FAILED_PRECONDITION;
            goto out;
        }
        c.purpose = WEBAUTHN_PURPOSE_RESET;
        c.user_id = u->user->id;
        c.session_id = link;
        c.require_uv = w.require_uv;
    } else if (present(req->session_token) || present(req->bearer_token)) {
        /* A pending login's second factor, or a signed-in session's step-up. */
        r = bearer_session(ctx, a, req->session_token, req->bearer_token, 1, &s, &u);
        if (r != AUTHD_OK)
            return r;
        if (u->n_webauthn == 0) {
            rpc_ctx_set_message(ctx, "the user has no passkey or security key");
            r = AUTHD_ERR_FAILED_PRECONDITION;
            goto out;
        }
        c.purpose = s->session->authenticated ? WEBAUTHN_PURPOSE_STEPUP : WEBAUTHN_PURPOSE_LOGIN;
        c.user_id = u->user->id;
        c.session_id = s->session->id;
        c.require_uv = w.require_uv;
    } else {
        if (!w.passwordless) {
            rpc_ctx_set_message(ctx, "sign-in with a passkey alone is turned off");
            return AUTHD_ERR_FAILED_PRECONDITION;
        }
        c.purpose = WEBAUTHN_PURPOSE_PASSWORDLESS;
        c.user_id = "";
        c.session_id = "";
        c.require_uv = 1; /* the key is the only factor: it must verify the user */
    }
    c.ttl = w.timeout;
    r = webauthn_challenge_create(a, NULL, &c);
    if (r != AUTHD_OK)
        goto out;
    resp->ceremony_id = rpc_ctx_strdup(ctx, c.id);
    resp->options_json = request_options(ctx, &w, &c, u);
    resp->expires_at = c.expires_at;
    if (resp->ceremony_id == NULL || resp->options_json == NULL)
        r = AUTHD_ERR_NOMEM;
out:
    secret_wipe(c.challenge, sizeof(c.challenge));
    rpc_msg_free(s ? &s->base : NULL);
    rpc_msg_free(u ? &u->base : NULL);
    return r;
}

/* ---- FinishAssertion ----------------------------------------------------------------------- */

/*
 * The user a passwordless assertion names (its userHandle: the bytes of the user id) into
 * user_id (ACCOUNT_MAX_ID + 1 bytes). AUTHD_OK, AUTHD_ERR_KEY_REFUSED (no handle, not an id) with
 * *why, or AUTHD_ERR_NOMEM.
 */
static int
passwordless_user(const char *credential_json, char *user_id, const char **why)
{
    struct webauthn_assertion as;
    memset(&as, 0, sizeof(as));
    int v = webauthn_parse_assertion(credential_json, &as, why);
    int r = AUTHD_ERR_KEY_REFUSED;
    if (v == WEBAUTHN_NOMEM) {
        r = AUTHD_ERR_NOMEM;
    } else if (v == WEBAUTHN_OK && (as.user_handle == NULL || as.user_handle_len == 0 ||
                                    as.user_handle_len > ACCOUNT_MAX_ID ||
                                    memchr(as.user_handle, '\0', as.user_handle_len) != NULL)) {
        *why = "a passkey sign-in needs the key's userHandle";
    } else if (v == WEBAUTHN_OK) {
        memcpy(user_id, as.user_handle, as.user_handle_len);
        user_id[as.user_handle_len] = '\0';
        r = AUTHD_OK;
    }
    webauthn_assertion_free(&as);
    return r;
}

/* A passwordless answer naming no user authd knows: judged (and counted) on the address alone,
 * its ceremony burnt. */
static int
unknown_key(struct authd *a, struct rpc_ctx *ctx, const Authd__V1__FinishAssertionRequest *req,
            const char *why)
{
    struct guard g = {.a = a,
                      .ctx = ctx,
                      .kind = THROTTLE_SECOND_FACTOR,
                      .account = "",
                      .refusal = AUTHD_REFUSAL_WRONG_CODES,
                      .who = {.action = AUDIT_LOGIN, .ip = req->client_ip}};
    int r = guard_enter(&g);
    if (r == AUTHD_OK) {
        guard_fail(&g, "unknown_key");
        rpc_ctx_set_message(ctx, why);
        r = AUTHD_ERR_KEY_REFUSED;
    }
    guard_leave(&g);
    const struct twofactor_proof p = {.ceremony_id = req->ceremony_id,
                                      .purpose = TWOFACTOR_CEREMONY_PASSWORDLESS};
    webauthn_login_burn(a, &p, "");
    return r;
}

int
webauthn_finish_assertion(struct rpc_ctx *ctx, const ProtobufCMessage *reqm,
                          ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__FinishAssertionRequest *req = (const void *)reqm;
    Authd__Storage__SessionRecord *pending = NULL;
    struct authd_webauthn w;
    char uid[ACCOUNT_MAX_ID + 1];
    const char *why = NULL;

    int r = webauthn_config(a, ctx, &w);
    if (r != AUTHD_OK)
        return r;
    if (!present(req->ceremony_id) || !present(req->credential_json)) {
        rpc_ctx_set_message(ctx, "ceremony_id and credential_json are required");
        return AUTHD_ERR_INVALID_ARGUMENT;
    }
    if (strlen(req->credential_json) > WEBAUTHN_JSON_MAX) {
        rpc_ctx_set_message(ctx, "credential_json is too long");
        return AUTHD_ERR_TOO_LARGE;
    }
    struct login_second l = {
        .proof = {.ceremony_id = req->ceremony_id, .credential_json = req->credential_json},
        .ip = req->client_ip,
        .user_agent = req->user_agent,
        .remember = req->remember_browser};
    if (present(req->session_token)) {
        r = account_session_check(a, req->session_token, &pending);
        if (r != AUTHD_OK)
            return r;
        if (pending->session->authenticated) {
            rpc_ctx_set_message(ctx, "this session needs no second factor");
            r = AUTHD_ERR_INVALID_ARGUMENT;
            goto out;
        }
        l.pending = pending->session;
        l.user_id = pending->session->user_id;
    } else {
        if (!w.passwordless) {
            rpc_ctx_set_message(ctx, "sign-in with a passkey alone is turned off");
            return AUTHD_ERR_FAILED_PRECONDITION;
        }
        r = passwordless_user(req->credential_json, uid, &why);
        if (r == AUTHD_ERR_KEY_REFUSED)
            return unknown_key(a, ctx, req, why);
        if (r != AUTHD_OK)
            return r;
        Authd__Storage__UserRecord *u = NULL;
        r = account_user_get(a, NULL, 0, uid, &u);
        int known = r == AUTHD_OK && u->user != NULL;
        int inactive = known && u->user->inactive;
        rpc_msg_free(u ? &u->base : NULL);
        if (r != AUTHD_OK && r != AUTHD_ERR_NOT_FOUND)
            return r;
        if (!known)
            return unknown_key(a, ctx, req, "no such passkey");
        if (inactive) {
            /* Audited as a password login is; the answer stays the one for an unverified key
             * (the key was not checked), and the ceremony is spent. */
            audit_login(ctx, AUDIT_FAILURE, uid, NULL, req->client_ip, "inactive", NULL);
            const struct twofactor_proof p = {.ceremony_id = req->ceremony_id,
                                              .purpose = TWOFACTOR_CEREMONY_PASSWORDLESS};
            webauthn_login_burn(a, &p, "");
            return AUTHD_ERR_UNAUTHENTICATED;
        }
        l.user_id = uid;
    }
    r = login_second(a, ctx, &l);
    if (r == AUTHD_OK)
        r = login_answer(ctx, (void *)respm, l.session, l.rec->user, l.tok.text, l.device.text);
out:
    login_second_cleanup(&l);
    rpc_msg_free(pending ? &pending->base : NULL);
    return r;
}
