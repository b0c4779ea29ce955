/* SPDX-License-Identifier: Apache-2.0 */
/*
 * authd.v1.WebAuthn, the signed-in user's keys: list, register (Begin: the creation options and
 * a challenge bound to the session; Finish: the challenge taken, the response verified, the
 * credential indexed and stored in one transaction), rename and remove (a fresh sign-in or a
 * second factor; the last factor only with a second factor, and then two-factor is off). The
 * assertion ceremonies (BeginAssertion, FinishAssertion) are webauthn_login.c's; their rows are
 * in this file's table. Storage and configuration: webauthn_store.h; verification: webauthn.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "authd/account.h"
#include "authd/audit.h"
#include "authd/bearer.h"
#include "authd/device.h"
#include "authd/records.h"
#include "authd/roles.h"
#include "authd/twofactor.h"
#include "authd/v1/webauthn.pb-c.h"
#include "authd/webauthn.h"
#include "authd/webauthn_login.h"
#include "authd/webauthn_store.h"
#include "common/err.h"
#include "common/log.h"
#include "common/secret.h"

/* The signed-in caller: its session and user (rpc_msg_free both), with passkeys configured. */
struct caller {
    struct authd_webauthn cfg;
    Authd__Storage__SessionRecord *s;
    Authd__Storage__UserRecord *u;
};

static int
caller_get(struct rpc_ctx *ctx, const char *session_token, const char *bearer_token,
           struct caller *c)
{
    struct authd *a = rpc_ctx_arg(ctx);
    c->s = NULL;
    c->u = NULL;
    int r = webauthn_config(a, ctx, &c->cfg);
    if (r == AUTHD_OK)
        r = bearer_session(ctx, a, session_token, bearer_token, 0, &c->s, &c->u);
    return r;
}

static void
caller_free(struct caller *c)
{
    rpc_msg_free(c->s ? &c->s->base : NULL);
    rpc_msg_free(c->u ? &c->u->base : NULL);
    c->s = NULL;
    c->u = NULL;
}

/* A webauthn audit event about credential id (may be NULL) of user. */
static void
key_audit(struct rpc_ctx *ctx, const char *outcome, const char *user, const char *ip,
          const char *reason, const ProtobufCBinaryData *id)
{
    struct audit ev = {
        .action = AUDIT_WEBAUTHN, .outcome = outcome, .user = user, .ip = ip, .reason = reason};
    if (id != NULL && id->len > 0) {
        /* The credential id as the API writes it, cut short: ids may be 1023 bytes. */
        char b64[64];
        uint8_t head[45];
        size_t n = id->len < sizeof(head) ? id->len : sizeof(head);
        memcpy(head, id->data, n);
        secret_b64url_encode(head, n, b64);
        ev.target = rpc_ctx_printf(ctx, "webauthn/%s", b64);
    }
    audit_emit(ctx, &ev);
}

/*
 * 1 when name is 1..WEBAUTHN_NAME_MAX characters of printable UTF-8: well-formed (no overlong
 * forms, surrogates or values past U+10FFFF), no control characters (C0, DEL, C1), no line or
 * paragraph separators, no bidirectional controls, and not only spaces.
 */
static int
name_ok(const char *name)
{
    const unsigned char *p = (const unsigned char *)name;
    size_t chars = 0;
    int visible = 0;
    while (*p != '\0') {
        uint32_t cp;
        size_t n;
        if (p[0] < 0x80) {
            cp = p[0];
            n = 1;
        } else if (p[0] >= 0xc2 && p[0] <= 0xdf) {
            cp = p[0] & 0x1fu;
            n = 2;
        } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
            cp = p[0] & 0x0fu;
            n = 3;
        } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
            cp = p[0] & 0x07u;
            n = 4;
        } else {
            return 0;
        }
        for (size_t i = 1; i < n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3fu);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
            (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0xfeff)
            return 0;
        if (cp != ' ' && cp != 0xa0 && cp != 0x3000)
            visible = 1;
        if (++chars > WEBAUTHN_NAME_MAX)
            return 0;
        p += n;
    }
    return chars > 0 && visible;
}

#define NAME_RULE "name: 1..64 printable characters"

/* A name for a new key: base ("Passkey" or "Security key") and the smallest number no key of
 * rec has in that form yet ("Passkey 2"). Malloc'd, or NULL. */
static char *
default_name(const Authd__Storage__UserRecord *rec, const char *base)
{
    char buf[WEBAUTHN_NAME_MAX + 1];
    for (unsigned k = 1; k <= WEBAUTHN_KEYS_MAX + 1; k++) {
        snprintf(buf, sizeof(buf), "%s %u", base, k);
        size_t i = 0;
        while (i < rec->n_webauthn && strcmp(rec->webauthn[i]->name, buf) != 0)
            i++;
        if (i == rec->n_webauthn)
            break;
    }
    return strdup(buf);
}

/* ---- ListCredentials ---------------------------------------------------------------------- */

static int
wa_list(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    const Authd__V1__ListCredentialsRequest *req = (const void *)reqm;
    struct caller c;
    int r = caller_get(ctx, req->session_token, req->bearer_token, &c);
    if (r == AUTHD_OK)
        r = webauthn_list_answer(ctx, c.u, (void *)respm);
    caller_free(&c);
    return r;
}

/* ---- BeginRegistration ----------------------------------------------------------------------- */

/* {"type": "public-key", "id": ..., "transports": [...]} for each key of rec, or NULL. */
static json_t *
exclude_list(const Authd__Storage__UserRecord *rec)
{
    json_t *list = json_array();
    int bad = list == NULL;
    for (size_t i = 0; !bad && i < rec->n_webauthn; i++) {
        const Authd__Storage__WebAuthnCredentialRecord *k = rec->webauthn[i];
        char *id = malloc(secret_b64url_len(k->credential_id.len) + 1);
        json_t *tr = json_array();
        bad = id == NULL || tr == NULL;
        if (!bad) {
            secret_b64url_encode(k->credential_id.data, k->credential_id.len, id);
            for (size_t t = 0; !bad && t < k->n_transports; t++)
                bad = json_array_append_new(tr, json_string(k->transports[t])) != 0;
        }
        if (!bad) {
            json_t *o =
                json_pack("{s:s, s:s, s:O}", "type", "public-key", "id", id, "transports", tr);
            bad = o == NULL || json_array_append_new(list, o) != 0;
        }
        json_decref(tr);
        free(id);
    }
    if (bad) {
        json_decref(list);
        return NULL;
    }
    return list;
}

/* PublicKeyCredentialCreationOptionsJSON (WebAuthn L3 §5.4) for c's user; malloc'd, or NULL. */
static char *
creation_options(const struct caller *c, const struct webauthn_ceremony *cer)
{
    const Authd__V1__User *user = c->u->user;
    char challenge[64];
    char uid[2 * WEBAUTHN_USER_HANDLE_MAX];
    size_t uid_len = strlen(user->id);
    if (uid_len == 0 || uid_len > WEBAUTHN_USER_HANDLE_MAX)
        return NULL;
    secret_b64url_encode(cer->challenge, sizeof(cer->challenge), challenge);
    /* user.id is the user handle an assertion brings back: the user id's bytes (no e-mail). */
    secret_b64url_encode((const uint8_t *)user->id, uid_len, uid);
    const char *uv = c->cfg.require_uv ? "required" : "preferred";
    json_t *exclude = exclude_list(c->u);
    if (exclude == NULL)
        return NULL;
    json_t *o = json_pack(
        "{s:{s:s, s:s}, s:{s:s, s:s, s:s}, s:s, s:[{s:s, s:i}, {s:s, s:i}, {s:s, s:i}], s:I, s:o,"
        " s:{s:s, s:b, s:s}, s:s, s:{s:b}}",
        "rp", "id", c->cfg.rp_id, "name", c->cfg.rp_name,                    /* */
        "user", "id", uid, "name", user->email, "displayName", user->email,  /* */
        "challenge", challenge,                                              /* */
        "pubKeyCredParams", "type", "public-key", "alg", WEBAUTHN_ALG_ES256, /* */
        "type", "public-key", "alg", WEBAUTHN_ALG_EDDSA,                     /* */
        "type", "public-key", "alg", WEBAUTHN_ALG_RS256,                     /* */
        "timeout", (json_int_t)c->cfg.timeout * 1000,                        /* */
        "excludeCredentials", exclude,                                       /* stolen */
        "authenticatorSelection",                                            /* */
        "residentKey", cer->passkey ? "required" : "discouraged",            /* */
        "requireResidentKey", cer->passkey ? 1 : 0, "userVerification", uv,  /* */
        "attestation", "none",                                               /* */
        "extensions", "credProps", 1);
    if (o == NULL)
        return NULL;
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* 1 when the session's sign-in counts as fresh: within reauth seconds and not an import. */
static int
session_fresh(const Authd__V1__Session *s, int64_t now, int64_t reauth)
{
    for (size_t i = 0; i < s->n_amr; i++)
        if (strcmp(s->amr[i], SESSION_AMR_IMPORT) == 0)
            return 0;
    return s->auth_time > 0 && s->auth_time >= now - reauth;
}

static int
wa_begin_registration(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__BeginRegistrationRequest *req = (const void *)reqm;
    Authd__V1__CeremonyResponse *resp = (void *)respm;
    struct webauthn_ceremony cer = {0};
    char *options = NULL;
    struct caller c;

    int r = caller_get(ctx, req->session_token, req->bearer_token, &c);
    if (r != AUTHD_OK)
        goto out;
    if (c.u->n_webauthn >= WEBAUTHN_KEYS_MAX) {
        rpc_ctx_set_message(ctx, "at most 16 passkeys and security keys: remove one first");
        r = AUTHD_ERR_FAILED_PRECONDITION;
        goto out;
    }
    /* As GitHub's and Google's "sudo mode": a key is a lasting way in (passwordless, and kept
     * through a password change or reset), so a stolen session cookie or bearer must not be
     * able to add one. The ceremony is bound to this session and lives at most 600 s more. */
    if (!session_fresh(c.s->session, a->now(), c.cfg.reauth_seconds)) {
        rpc_ctx_set_message(ctx, "sign in again to add a passkey or security key");
        r = AUTHD_ERR_FAILED_PRECONDITION;
        goto out;
    }
    cer.purpose = WEBAUTHN_PURPOSE_REGISTER;
    cer.user_id = c.u->user->id;
    cer.session_id = c.s->session->id;
    cer.passkey = req->passkey;
    cer.require_uv = c.cfg.require_uv;
    cer.ttl = c.cfg.timeout;
    r = webauthn_challenge_create(a, NULL, &cer);
    if (r != AUTHD_OK)
        goto out;
    options = creation_options(&c, &cer);
    if (options == NULL) {
        r = AUTHD_ERR_NOMEM;
        goto out;
    }
    resp->ceremony_id = rpc_ctx_strdup(ctx, cer.id);
    resp->options_json = rpc_ctx_strdup(ctx, options);
    resp->expires_at = cer.expires_at;
    if (resp->ceremony_id == NULL || resp->options_json == NULL)
        r = AUTHD_ERR_NOMEM;
out:
    free(options);
    secret_wipe(&cer, sizeof(cer));
    caller_free(&c);
    return r;
}

/* ---- FinishRegistration ---------------------------------------------------------------------- */

struct finish_step {
    const struct authd_webauthn *cfg;
    const char *user_id;
    const char *session_id;
    const char *ceremony_id;
    const char *response_json;
    const char *name; /* "" = a default */
    /* out: */
    int verify;      /* webauthn_verify_registration's result (WEBAUTHN_OK when not reached) */
    const char *why; /* its reason, a constant phrase */
    int first;       /* this key turned two-factor authentication on */
    int refused;     /* a verified key refused (duplicate, too many): its AUTHD_ERR_, or 0 */
    Authd__Storage__UserRecord *rec;
    size_t added; /* rec->webauthn[added] is the new key */
    char codes[TWOFACTOR_RECOVERY_CODES][TWOFACTOR_RECOVERY_LEN + 1];
};

/* A copy of n bytes at p into *d (malloc'd; protobuf-c frees it with the record). */
static int
bytes_set(ProtobufCBinaryData *d, const uint8_t *p, size_t n)
{
    d->data = malloc(n > 0 ? n : 1);
    if (d->data == NULL)
        return AUTHD_ERR_NOMEM;
    memcpy(d->data, p, n);
    d->len = n;
    return AUTHD_OK;
}

/* A new credential record (malloc'd like an unpacked one) for what reg verified. */
static int
cred_new(const struct webauthn_registration *reg, int discoverable, char *name, int64_t now,
         Authd__Storage__WebAuthnCredentialRecord **out)
{
    Authd__Storage__WebAuthnCredentialRecord *k = calloc(1, sizeof(*k));
    *out = NULL;
    if (k == NULL) {
        free(name);
        return AUTHD_ERR_NOMEM;
    }
    authd__storage__web_authn_credential_record__init(k);
    k->name = name; /* owned from here on, freed with k */
    int r = name != NULL ? AUTHD_OK : AUTHD_ERR_NOMEM;
    if (r == AUTHD_OK)
        r = bytes_set(&k->credential_id, reg->cred_id, reg->cred_id_len);
    if (r == AUTHD_OK)
        r = bytes_set(&k->public_key, reg->cose_key, reg->cose_key_len);
    if (r == AUTHD_OK)
        r = bytes_set(&k->aaguid, reg->aaguid, sizeof(reg->aaguid));
    if (r == AUTHD_OK && (k->fmt = strdup(reg->fmt)) == NULL)
        r = AUTHD_ERR_NOMEM;
    if (r == AUTHD_OK && reg->n_transports > 0) {
        k->transports = calloc(reg->n_transports, sizeof(char *));
        r = k->transports != NULL ? AUTHD_OK : AUTHD_ERR_NOMEM;
        for (size_t i = 0; r == AUTHD_OK && i < reg->n_transports; i++) {
            if ((k->transports[i] = strdup(reg->transports[i])) == NULL)
                r = AUTHD_ERR_NOMEM;
            else
                k->n_transports = i + 1;
        }
    }
    if (k->name == NULL)
        k->name = (char *)protobuf_c_empty_string;
    if (k->fmt == NULL)
        k->fmt = (char *)protobuf_c_empty_string;
    if (r != AUTHD_OK) {
        rpc_msg_free(&k->base);
        return r;
    }
    k->alg = reg->alg;
    k->sign_count = reg->sign_count;
    k->created_at = now;
    k->discoverable = discoverable != 0;
    k->backup_eligible = reg->backup_eligible != 0;
    k->uv_initialized = reg->uv != 0;
    *out = k;
    return AUTHD_OK;
}

/* Appends k (owned from here on) to rec's keys. */
static int
cred_append(Authd__Storage__UserRecord *rec, Authd__Storage__WebAuthnCredentialRecord *k)
{
    Authd__Storage__WebAuthnCredentialRecord **arr = malloc((rec->n_webauthn + 1) * sizeof(*arr));
    if (arr == NULL) {
        rpc_msg_free(&k->base);
        return AUTHD_ERR_NOMEM;
    }
    if (rec->n_webauthn > 0)
        memcpy(arr, rec->webauthn, rec->n_webauthn * sizeof(*arr));
    arr[rec->n_webauthn] = k;
    free(rec->webauthn);
    rec->webauthn = arr;
    rec->n_webauthn++;
    return AUTHD_OK;
}

/*
 * One transaction: the user's row locked, the challenge taken (bound to this session and user),
 * the response verified against it, the id claimed in the index, the key stored, and for a
 * user whose first factor it is, two-factor turned on with new recovery codes. A response that
 * fails verification still spends the challenge: the step commits its delete and reports the
 * failure in f->verify.
 */
static int
finish_step(struct authd *a, struct store_txn *txn, void *arg)
{
    struct finish_step *f = arg;
    Authd__Storage__WebAuthnChallengeRecord *ch = NULL;
    struct webauthn_registration reg;
    const char *origins[AUTHD_WEBAUTHN_ORIGINS_MAX];
    struct webauthn_rp rp;

    memset(&reg, 0, sizeof(reg));
    rpc_msg_free(f->rec ? &f->rec->base : NULL);
    f->rec = NULL;
    f->verify = WEBAUTHN_OK;
    f->why = NULL;
    f->first = 0;
    f->refused = 0;
    secret_wipe(f->codes, sizeof(f->codes));
    int r = account_user_get(a, txn, 1, f->user_id, &f->rec);
    if (r == AUTHD_OK)
        r = webauthn_challenge_take(a, txn, f->ceremony_id, WEBAUTHN_PURPOSE_REGISTER, f->user_id,
                                    f->session_id, &ch);
    if (r != AUTHD_OK)
        return r;
    webauthn_rp_fill(f->cfg, ch->require_uv, origins, &rp);
    f->verify = webauthn_verify_registration(&rp, ch->challenge.data, ch->challenge.len,
                                             f->response_json, &reg, &f->why);
    int passkey = ch->passkey;
    rpc_msg_free(&ch->base);
    if (f->verify != WEBAUTHN_OK)
        return AUTHD_OK; /* commit: the challenge is spent */
    Authd__Storage__UserRecord *rec = f->rec;
    r = rec->n_webauthn >= WEBAUTHN_KEYS_MAX
            ? AUTHD_ERR_FAILED_PRECONDITION
            : webauthn_index_put(txn, reg.cred_id, reg.cred_id_len, f->user_id);
    if (r == AUTHD_ERR_FAILED_PRECONDITION || r == AUTHD_ERR_ALREADY_EXISTS) {
        f->refused = r; /* nothing written but the take: commit it, the challenge is spent */
        r = AUTHD_OK;
        goto out;
    }
    if (r != AUTHD_OK)
        goto out;
    /* A passkey was asked for: the browser made a resident key or failed, unless credProps
     * says otherwise. */
    int discoverable = reg.discoverable == 1 || (reg.discoverable == -1 && passkey);
    char *name = f->name[0] != '\0' ? strdup(f->name)
                                    : default_name(rec, discoverable ? "Passkey" : "Security key");
    Authd__Storage__WebAuthnCredentialRecord *k = NULL;
    r = cred_new(&reg, discoverable, name, a->now(), &k);
    if (r != AUTHD_OK)
        goto out;
    f->first = rec->totp == NULL && rec->n_webauthn == 0;
    r = cred_append(rec, k);
    if (r != AUTHD_OK)
        goto out;
    f->added = rec->n_webauthn - 1;
    /* Two-factor comes on with the first factor, and with it recovery codes, as ConfirmEnrollment
     * does for TOTP (account_user_save sets two_factor from what the record holds). */
    if (f->first)
        r = twofactor_recovery_new(rec, f->codes);
    if (r == AUTHD_OK)
        r = account_user_save(a, txn, rec);
out:
    webauthn_registration_free(&reg);
    return r;
}

/* The status and message for a failed verification (webauthn.h's results). */
static int
verify_err(struct rpc_ctx *ctx, int v, const char *why)
{
    if (why != NULL)
        rpc_ctx_set_message(ctx, why);
    switch (v) {
    case WEBAUTHN_MALFORMED:
        return AUTHD_ERR_INVALID_ARGUMENT;
    case WEBAUTHN_NOMEM:
        return AUTHD_ERR_NOMEM;
    default: /* REFUSED, UNSUPPORTED, COUNTER */
        return AUTHD_ERR_KEY_REFUSED;
    }
}

/* The audit reason of a failed registration. */
static const char *
finish_reason(int r, int v)
{
    if (v == WEBAUTHN_MALFORMED)
        return "malformed";
    if (v == WEBAUTHN_UNSUPPORTED)
        return "unsupported";
    if (v != WEBAUTHN_OK)
        return "refused";
    if (r == AUTHD_ERR_KEY_REFUSED)
        return "unknown_ceremony";
    if (r == AUTHD_ERR_ALREADY_EXISTS)
        return "duplicate";
    if (r == AUTHD_ERR_FAILED_PRECONDITION)
        return "too_many";
    return authd_err_reason(r);
}

static int
wa_finish_registration(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__FinishRegistrationRequest *req = (const void *)reqm;
    Authd__V1__FinishRegistrationResponse *resp = (void *)respm;
    struct finish_step f = {0};
    struct caller c;
    char q[96], w[160];

    int r = caller_get(ctx, req->session_token, req->bearer_token, &c);
    if (r != AUTHD_OK)
        goto out;
    if (req->name[0] != '\0' && !name_ok(req->name)) {
        rpc_ctx_set_message(ctx, NAME_RULE);
        r = AUTHD_ERR_INVALID_ARGUMENT;
        goto out;
    }
    if (strlen(req->credential_json) > WEBAUTHN_JSON_MAX) {
        rpc_ctx_set_message(ctx, "credential_json: too long");
        r = AUTHD_ERR_TOO_LARGE;
        goto out;
    }
    f.cfg = &c.cfg;
    f.user_id = c.u->user->id;
    f.session_id = c.s->session->id;
    f.ceremony_id = req->ceremony_id;
    f.response_json = req->credential_json;
    f.name = req->name;
    r = account_txn_run(a, finish_step, &f);
    if (r == AUTHD_OK && f.refused != 0)
        r = f.refused;
    if (r == AUTHD_OK && f.verify != WEBAUTHN_OK)
        r = verify_err(ctx, f.verify, f.why);
    else if (r == AUTHD_ERR_KEY_REFUSED)
        rpc_ctx_set_message(ctx, "unknown, used or expired ceremony: begin again");
    else if (r == AUTHD_ERR_ALREADY_EXISTS)
        rpc_ctx_set_message(ctx, "this passkey or security key is registered already");
    else if (r == AUTHD_ERR_FAILED_PRECONDITION)
        rpc_ctx_set_message(ctx, "at most 16 passkeys and security keys: remove one first");
    if (r != AUTHD_OK) {
        key_audit(ctx, AUDIT_FAILURE, c.u->user->id, req->client_ip, finish_reason(r, f.verify),
                  NULL);
        if (f.why != NULL)
            log_event(LOG_INFO, "webauthn_registration_refused", "user=%s why=%s",
                      log_quote(c.u->user->id, q, sizeof(q)), log_quote(f.why, w, sizeof(w)));
        goto out;
    }
    const Authd__Storage__WebAuthnCredentialRecord *k = f.rec->webauthn[f.added];
    resp->credential = webauthn_cred_answer(ctx, k);
    resp->user = rec_copy(ctx, &f.rec->user->base);
    if (resp->credential == NULL || resp->user == NULL)
        r = AUTHD_ERR_NOMEM;
    if (r == AUTHD_OK && f.first) {
        resp->recovery_codes = rpc_ctx_alloc(ctx, TWOFACTOR_RECOVERY_CODES * sizeof(char *));
        r = resp->recovery_codes != NULL ? AUTHD_OK : AUTHD_ERR_NOMEM;
        for (size_t i = 0; r == AUTHD_OK && i < TWOFACTOR_RECOVERY_CODES; i++)
            if ((resp->recovery_codes[i] = rpc_ctx_strdup(ctx, f.codes[i])) == NULL)
                r = AUTHD_ERR_NOMEM;
        if (r == AUTHD_OK)
            resp->n_recovery_codes = TWOFACTOR_RECOVERY_CODES;
    }
    /* Stored and committed: the events say so whatever the answer's memory did. */
    key_audit(ctx, AUDIT_SUCCESS, c.u->user->id, req->client_ip, "registered", &k->credential_id);
    if (f.first) {
        struct audit ev = {.action = AUDIT_TWOFACTOR_ENABLED,
                           .outcome = AUDIT_SUCCESS,
                           .user = c.u->user->id,
                           .ip = req->client_ip,
                           .reason = "enrolled"};
        audit_emit(ctx, &ev);
    }
out:
    secret_wipe(f.codes, sizeof(f.codes));
    rpc_msg_free(f.rec ? &f.rec->base : NULL);
    caller_free(&c);
    return r;
}

/* ---- RenameCredential ------------------------------------------------------------------------ */

struct rename_step {
    const char *user_id;
    const char *credential_id;
    const char *name;
    Authd__Storage__UserRecord *rec; /* out */
};

static int
rename_step(struct authd *a, struct store_txn *txn, void *arg)
{
    struct rename_step *n = arg;
    rpc_msg_free(n->rec ? &n->rec->base : NULL);
    n->rec = NULL;
    int r = account_user_get(a, txn, 1, n->user_id, &n->rec);
    if (r != AUTHD_OK)
        return r;
    long i = webauthn_cred_find_b64(n->rec, n->credential_id);
    if (i < 0)
        return AUTHD_ERR_NOT_FOUND;
    char *dup = strdup(n->name);
    if (dup == NULL)
        return AUTHD_ERR_NOMEM;
    Authd__Storage__WebAuthnCredentialRecord *k = n->rec->webauthn[i];
    if (k->name != protobuf_c_empty_string)
        free(k->name);
    k->name = dup;
    return account_user_save(a, txn, n->rec);
}

static int
wa_rename(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__RenameCredentialRequest *req = (const void *)reqm;
    struct rename_step n = {.credential_id = req->credential_id, .name = req->name};
    struct caller c;

    int r = caller_get(ctx, req->session_token, req->bearer_token, &c);
    if (r == AUTHD_OK && !name_ok(req->name)) {
        rpc_ctx_set_message(ctx, NAME_RULE);
        r = AUTHD_ERR_INVALID_ARGUMENT;
    }
    if (r == AUTHD_OK) {
        n.user_id = c.u->user->id;
        r = account_txn_run(a, rename_step, &n);
        if (r == AUTHD_ERR_NOT_FOUND)
            rpc_ctx_set_message(ctx, "no such passkey or security key");
    }
    if (r == AUTHD_OK) {
        r = webauthn_list_answer(ctx, n.rec, (void *)respm);
        key_audit(
            ctx, AUDIT_SUCCESS, n.user_id, NULL, "renamed",
            &n.rec->webauthn[webauthn_cred_find_b64(n.rec, req->credential_id)]->credential_id);
    }
    rpc_msg_free(n.rec ? &n.rec->base : NULL);
    caller_free(&c);
    return r;
}

/* ---- RemoveCredential ------------------------------------------------------------------------ */

struct remove_step {
    const char *user_id;
    const char *credential_id;
    int fresh;   /* the session's sign-in is recent enough to go without a factor */
    int guarded; /* run by twofactor_guarded: a presented factor may be judged */
    struct twofactor_proof proof; /* the second factor, when one is asked for */
    struct twofactor_judge judge;
    /* out: */
    Authd__Storage__UserRecord *rec;
    ProtobufCBinaryData removed; /* the id of the key removed (malloc'd) */
    int last;                    /* it was the last factor: two-factor is off */
};

static int
remove_step(struct authd *a, struct store_txn *txn, void *arg)
{
    struct remove_step *m = arg;
    rpc_msg_free(m->rec ? &m->rec->base : NULL);
    m->rec = NULL;
    free(m->removed.data);
    m->removed.data = NULL;
    m->removed.len = 0;
    m->last = 0;
    int r = account_user_get(a, txn, 1, m->user_id, &m->rec);
    if (r != AUTHD_OK)
        return r;
    Authd__Storage__UserRecord *rec = m->rec;
    long i = webauthn_cred_find_b64(rec, m->credential_id);
    if (i < 0)
        return AUTHD_ERR_NOT_FOUND;
    m->last = rec->totp == NULL && rec->n_webauthn == 1;
    /* The last factor goes only with a second factor, as TwoFactor.Disable; any other key
     * with a fresh sign-in or a second factor. */
    if (m->last || !m->fresh) {
        /* Only under the guard (lockout, audit) is a factor judged. */
        if (!m->guarded)
            return AUTHD_ERR_SECOND_FACTOR_REQUIRED;
        r = twofactor_check(a, txn, rec, NULL, &m->proof, &m->judge);
        if (r != AUTHD_OK)
            return r;
    }
    const ProtobufCBinaryData *id = &rec->webauthn[i]->credential_id;
    if ((r = bytes_set(&m->removed, id->data, id->len)) != AUTHD_OK ||
        (r = webauthn_index_delete(txn, id->data, id->len)) != AUTHD_OK)
        return r;
    webauthn_cred_remove(rec, (size_t)i);
    if (m->last) {
        /* Two-factor is off, as TwoFactor.Disable leaves it: no recovery codes, and browsers
         * remembered for the second factor forgotten. */
        if ((r = twofactor_clear(txn, rec)) != AUTHD_OK ||
            (r = device_forget_all(txn, rec->user->id, NULL)) != AUTHD_OK)
            return r;
    }
    return account_user_save(a, txn, rec);
}

static int
wa_remove(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__RemoveCredentialRequest *req = (const void *)reqm;
    struct remove_step m = {.credential_id = req->credential_id,
                            .proof = {.code = req->code,
                                      .recovery_code = req->recovery_code,
                                      .ceremony_id = req->ceremony_id,
                                      .credential_json = req->credential_json,
                                      .purpose = TWOFACTOR_CEREMONY_STEP_UP}};
    struct caller c;

    int r = caller_get(ctx, req->session_token, req->bearer_token, &c);
    if (r != AUTHD_OK)
        goto out;
    m.user_id = c.u->user->id;
    m.proof.session_id = c.s->session->id;
    m.fresh = session_fresh(c.s->session, a->now(), c.cfg.reauth_seconds);
    int have_factor = req->code[0] != '\0' || req->recovery_code[0] != '\0' ||
                      (req->ceremony_id[0] != '\0' && req->credential_json[0] != '\0');
    long i = webauthn_cred_find_b64(c.u, req->credential_id);
    int last = c.u->totp == NULL && c.u->n_webauthn == 1 && i >= 0;
    if ((last || !m.fresh) && !have_factor) {
        rpc_ctx_set_message(ctx, last ? "removing the last second factor needs a second factor"
                                      : "sign in again or confirm with a second factor");
        r = AUTHD_ERR_SECOND_FACTOR_REQUIRED;
        goto out;
    }
    m.guarded = have_factor;
    if (m.guarded) {
        const struct audit who = {.user = m.user_id, .ip = req->client_ip, .reason = "remove_key"};
        r = twofactor_guarded(a, ctx, &who, NULL, remove_step, &m, &m.judge);
    } else {
        r = account_txn_run(a, remove_step, &m);
    }
    if (r == AUTHD_ERR_NOT_FOUND)
        rpc_ctx_set_message(ctx, "no such passkey or security key");
    if (r != AUTHD_OK)
        goto out;
    r = webauthn_list_answer(ctx, m.rec, (void *)respm);
    key_audit(ctx, AUDIT_SUCCESS, m.user_id, req->client_ip, "removed", &m.removed);
    if (m.last) {
        struct audit ev = {.action = AUDIT_TWOFACTOR_DISABLED,
                           .outcome = AUDIT_SUCCESS,
                           .user = m.user_id,
                           .ip = req->client_ip,
                           .reason = "last_key_removed"};
        audit_emit(ctx, &ev);
    }
out:
    free(m.removed.data);
    rpc_msg_free(m.rec ? &m.rec->base : NULL);
    caller_free(&c);
    return r;
}

const struct rpc_method authd_webauthn_methods[] = {
    {"ListCredentials", wa_list, 0, ROLE_EDGE},
    {"BeginRegistration", wa_begin_registration, 0, ROLE_EDGE},
    {"FinishRegistration", wa_finish_registration, 0, ROLE_EDGE},
    {"BeginAssertion", webauthn_begin_assertion, 0, ROLE_EDGE},
    {"FinishAssertion", webauthn_finish_assertion, 0, ROLE_EDGE},
    {"RenameCredential", wa_rename, 0, ROLE_EDGE},
    {"RemoveCredential", wa_remove, 0, ROLE_EDGE},
};
const size_t authd_webauthn_n_methods =
    sizeof(authd_webauthn_methods) / sizeof(authd_webauthn_methods[0]);
