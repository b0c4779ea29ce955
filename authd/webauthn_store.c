/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The WebAuthn store layer (see webauthn_store.h): the relying party from AuthConfig.webauthn,
 * ceremonies under wachal/, the credential-id index under wacred/, credentials in a user record
 * and the TwoFactorStatus computed from a record.
 */
#include "authd/webauthn_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd/keys.h"
#include "authd/origins.h"
#include "authd/records.h"
#include "authd/users.h"
#include "common/err.h"
#include "common/secret.h"

_Static_assert(AUTHD_WEBAUTHN_ORIGIN_MAX == ORIGIN_MAX, "one origin length");
_Static_assert(WEBAUTHN_CEREMONY_ID_LEN == 22, "base64url of 16 bytes");

/* ---- the relying party ------------------------------------------------------------------ */

static void
copy_str(char *dst, size_t cap, const char *src)
{
    if (src == NULL || strlen(src) >= cap)
        dst[0] = '\0';
    else
        snprintf(dst, cap, "%s", src);
}

void
webauthn_cfg_from_config(const Authd__V1__AuthConfig *c, struct authd_webauthn *out)
{
    memset(out, 0, sizeof(*out));
    out->passwordless = 1;
    out->timeout = WEBAUTHN_TIMEOUT_DEFAULT;
    out->reauth_seconds = WEBAUTHN_REAUTH_DEFAULT;
    snprintf(out->rp_name, sizeof(out->rp_name), "%s", "authd");
    if (c != NULL && c->theme != NULL && c->theme->title != NULL && c->theme->title[0] != '\0')
        copy_str(out->rp_name, sizeof(out->rp_name), c->theme->title);
    const Authd__V1__WebAuthnConfig *w = c != NULL ? c->webauthn : NULL;
    if (w == NULL)
        return;
    copy_str(out->rp_id, sizeof(out->rp_id), w->rp_id);
    if (w->rp_name != NULL && w->rp_name[0] != '\0')
        copy_str(out->rp_name, sizeof(out->rp_name), w->rp_name);
    if (out->rp_name[0] == '\0')
        snprintf(out->rp_name, sizeof(out->rp_name), "%s", "authd");
    for (size_t i = 0; i < w->n_origins && out->n_origins < AUTHD_WEBAUTHN_ORIGINS_MAX; i++)
        if (w->origins[i] != NULL && strlen(w->origins[i]) <= AUTHD_WEBAUTHN_ORIGIN_MAX)
            copy_str(out->origins[out->n_origins++], sizeof(out->origins[0]), w->origins[i]);
    if (w->passwordless != NULL)
        out->passwordless = w->passwordless->value != 0;
    out->require_uv = w->user_verification != NULL && strcmp(w->user_verification, "required") == 0;
    if (w->timeout >= WEBAUTHN_TIMEOUT_MIN && w->timeout <= WEBAUTHN_TIMEOUT_MAX)
        out->timeout = w->timeout;
    if (w->reauth_seconds >= WEBAUTHN_REAUTH_MIN && w->reauth_seconds <= WEBAUTHN_REAUTH_MAX)
        out->reauth_seconds = w->reauth_seconds;
}

/* 1 when s is a lowercase DNS name of at least two labels (letters, digits, '-' inside a
 * label, 1..63 each, at most 253 in all) whose last label is not all digits (no IPv4 address),
 * or "localhost". */
static int
dns_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (strcmp(s, "localhost") == 0)
        return 1;
    if (n == 0 || n > AUTHD_WEBAUTHN_RP_ID_MAX)
        return 0;
    size_t labels = 0, len = 0;
    int digits_only = 1;
    for (size_t i = 0; i <= n; i++) {
        char ch = s[i];
        if (ch == '.' || ch == '\0') {
            if (len == 0 || len > 63 || s[i - 1] == '-')
                return 0;
            labels++;
            if (ch == '\0')
                break;
            len = 0;
            digits_only = 1;
            continue;
        }
        if (len == 0 && ch == '-')
            return 0;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
            return 0;
        if (!(ch >= '0' && ch <= '9'))
            digits_only = 0;
        len++;
    }
    return labels >= 2 && !digits_only;
}

/* The host of a serialised origin ("https://a.example.com:8443") into host (cap bytes). */
static int
origin_host(const char *origin, char *host, size_t cap)
{
    const char *p = strstr(origin, "://");
    if (p == NULL)
        return 0;
    p += 3;
    size_t n = *p == '[' ? strcspn(p, "]") + 1 : strcspn(p, ":");
    if (n == 0 || n >= cap)
        return 0;
    memcpy(host, p, n);
    host[n] = '\0';
    return 1;
}

/* 1 when host is rp_id or a subdomain of it. */
static int
host_in_rp(const char *host, const char *rp_id)
{
    size_t h = strlen(host), r = strlen(rp_id);
    if (h == r)
        return strcmp(host, rp_id) == 0;
    return h > r + 1 && host[h - r - 1] == '.' && strcmp(host + h - r, rp_id) == 0;
}

/* Why origin (already serialised) cannot serve rp_id, or NULL. */
static const char *
origin_check(const char *origin, const char *rp_id)
{
    char norm[ORIGIN_MAX + 1], host[ORIGIN_MAX + 1];
    if (origin_normalise(origin, norm, sizeof(norm)) != NULL)
        return "webauthn.origins: each must be scheme://host[:port], nothing after it";
    if (!origin_host(norm, host, sizeof(host)))
        return "webauthn.origins: each must be scheme://host[:port], nothing after it";
    int local = strcmp(host, "localhost") == 0 || strcmp(host, "127.0.0.1") == 0;
    if (strncmp(norm, "https://", 8) != 0 && !local)
        return "webauthn.origins: https is required (http only for localhost and 127.0.0.1)";
    if (!host_in_rp(host, rp_id))
        return "webauthn.origins: each host must be rpId or a subdomain of it";
    return NULL;
}

const char *
webauthn_config_check(const Authd__V1__WebAuthnConfig *w)
{
    if (w == NULL)
        return NULL;
    const char *rp_id = w->rp_id != NULL ? w->rp_id : "";
    if (rp_id[0] != '\0' && !dns_name_ok(rp_id))
        return "webauthn.rpId must be a lowercase DNS name (e.g. example.com) or localhost";
    if (w->rp_name != NULL && strlen(w->rp_name) > AUTHD_WEBAUTHN_RP_NAME_MAX)
        return "webauthn.rpName: at most 128 bytes";
    for (const unsigned char *p = (const unsigned char *)(w->rp_name ? w->rp_name : ""); *p; p++)
        if (*p < ' ' || *p == 0x7f)
            return "webauthn.rpName: no control characters";
    if (w->n_origins > AUTHD_WEBAUTHN_ORIGINS_MAX)
        return "webauthn.origins: at most 16";
    if (rp_id[0] == '\0' && w->n_origins > 0)
        return "webauthn.origins need webauthn.rpId";
    if (rp_id[0] != '\0' && w->n_origins == 0)
        return "webauthn.origins: at least one (the edges' public origins)";
    for (size_t i = 0; i < w->n_origins; i++) {
        const char *why = origin_check(w->origins[i], rp_id);
        if (why != NULL)
            return why;
    }
    const char *uv = w->user_verification != NULL ? w->user_verification : "";
    if (uv[0] != '\0' && strcmp(uv, "preferred") != 0 && strcmp(uv, "required") != 0)
        return "webauthn.userVerification must be preferred or required";
    if (w->timeout != 0 && (w->timeout < WEBAUTHN_TIMEOUT_MIN || w->timeout > WEBAUTHN_TIMEOUT_MAX))
        return "webauthn.timeout must be 30..600 seconds";
    if (w->reauth_seconds != 0 &&
        (w->reauth_seconds < WEBAUTHN_REAUTH_MIN || w->reauth_seconds > WEBAUTHN_REAUTH_MAX))
        return "webauthn.reauthSeconds must be 60..86400";
    return NULL;
}

int
webauthn_origins_normalise(struct rpc_ctx *ctx, Authd__V1__AuthConfig *c)
{
    Authd__V1__WebAuthnConfig *w = c->webauthn;
    for (size_t i = 0; w != NULL && i < w->n_origins; i++) {
        char norm[ORIGIN_MAX + 1];
        if (origin_normalise(w->origins[i], norm, sizeof(norm)) != NULL)
            continue; /* webauthn_config_check refused it before */
        if (strcmp(norm, w->origins[i]) != 0 && (w->origins[i] = rpc_ctx_strdup(ctx, norm)) == NULL)
            return AUTHD_ERR_NOMEM;
    }
    return AUTHD_OK;
}

int
webauthn_config_answer(struct rpc_ctx *ctx, Authd__V1__AuthConfig *answer)
{
    Authd__V1__WebAuthnConfig *w = answer->webauthn;
    if (w == NULL)
        return AUTHD_OK;
    if (w->user_verification == NULL || w->user_verification[0] == '\0')
        w->user_verification = (char *)"preferred";
    if (w->timeout == 0)
        w->timeout = WEBAUTHN_TIMEOUT_DEFAULT;
    if (w->reauth_seconds == 0)
        w->reauth_seconds = WEBAUTHN_REAUTH_DEFAULT;
    if (w->passwordless == NULL) {
        w->passwordless = rpc_ctx_msg(ctx, &authd__v1__bool_value__descriptor);
        if (w->passwordless == NULL)
            return AUTHD_ERR_NOMEM;
        w->passwordless->value = 1;
    }
    return AUTHD_OK;
}

int
webauthn_config(struct authd *a, struct rpc_ctx *ctx, struct authd_webauthn *out)
{
    authd_cfg_refresh(a);
    pthread_mutex_lock(&a->cfg_lock);
    *out = a->webauthn;
    pthread_mutex_unlock(&a->cfg_lock);
    if (out->rp_id[0] != '\0' && out->n_origins > 0)
        return AUTHD_OK;
    if (ctx != NULL)
        rpc_ctx_set_message(ctx, WEBAUTHN_NOT_CONFIGURED);
    return AUTHD_ERR_FAILED_PRECONDITION;
}

void
webauthn_rp_fill(const struct authd_webauthn *c, int require_uv,
                 const char *origins[AUTHD_WEBAUTHN_ORIGINS_MAX], struct webauthn_rp *rp)
{
    for (unsigned i = 0; i < c->n_origins && i < AUTHD_WEBAUTHN_ORIGINS_MAX; i++)
        origins[i] = c->origins[i];
    rp->rp_id = c->rp_id;
    rp->origins = origins;
    rp->n_origins = c->n_origins;
    rp->require_uv = require_uv;
}

/* ---- ceremonies --------------------------------------------------------------------------- */

/* 1 when id looks like a ceremony id (22 base64url characters): anything else is refused before
 * a key is built from it. */
static int
ceremony_id_ok(const char *id)
{
    if (id == NULL || strlen(id) != WEBAUTHN_CEREMONY_ID_LEN)
        return 0;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_'))
            return 0;
    return 1;
}

int
webauthn_challenge_create(struct authd *a, struct store_txn *txn, struct webauthn_ceremony *c)
{
    Authd__Storage__WebAuthnChallengeRecord rec = AUTHD__STORAGE__WEB_AUTHN_CHALLENGE_RECORD__INIT;
    uint8_t raw[WEBAUTHN_CEREMONY_ID_BYTES];
    char key[KEY_MAX];

    if (secret_random(raw, sizeof(raw)) != 0 ||
        secret_random(c->challenge, sizeof(c->challenge)) != 0)
        return AUTHD_ERR_INTERNAL;
    secret_b64url_encode(raw, sizeof(raw), c->id);
    if (key_make(key, KEY_WACHAL, c->id, NULL) == 0)
        return AUTHD_ERR_INTERNAL;
    int64_t now = a->now();
    c->expires_at = now + c->ttl;
    rec.challenge.data = c->challenge;
    rec.challenge.len = sizeof(c->challenge);
    rec.purpose = c->purpose;
    rec.user_id = (char *)(c->user_id != NULL ? c->user_id : "");
    rec.session_id = (char *)(c->session_id != NULL ? c->session_id : "");
    rec.passkey = c->passkey != 0;
    rec.require_uv = c->require_uv != 0;
    rec.created_at = now;
    rec.expires_at = c->expires_at;
    if (txn != NULL)
        return rec_put(txn, key, &rec.base);
    struct store_batch *b = store_batch_new();
    int r = b != NULL ? rec_batch_put(b, key, &rec.base) : AUTHD_ERR_NOMEM;
    if (r == AUTHD_OK)
        r = store_batch_commit(a->store, b);
    store_batch_free(b);
    return r;
}

static int
same_binding(const char *stored, const char *want)
{
    return strcmp(stored != NULL ? stored : "", want != NULL ? want : "") == 0;
}

int
webauthn_challenge_take(struct authd *a, struct store_txn *txn, const char *id, int purpose,
                        const char *user_id, const char *session_id,
                        Authd__Storage__WebAuthnChallengeRecord **out)
{
    Authd__Storage__WebAuthnChallengeRecord *rec = NULL;
    char key[KEY_MAX];

    *out = NULL;
    if (!ceremony_id_ok(id) || key_make(key, KEY_WACHAL, id, NULL) == 0)
        return AUTHD_ERR_KEY_REFUSED;
    int r = rec_get(a->store, txn, 1, key, &authd__storage__web_authn_challenge_record__descriptor,
                    (ProtobufCMessage **)&rec);
    if (r == AUTHD_ERR_NOT_FOUND)
        return AUTHD_ERR_KEY_REFUSED;
    if (r != AUTHD_OK)
        return r;
    r = store_txn_delete(txn, key, strlen(key));
    if (r == AUTHD_OK &&
        (rec->purpose != purpose || rec->expires_at <= a->now() ||
         rec->challenge.len != WEBAUTHN_CHALLENGE_LEN || !same_binding(rec->user_id, user_id) ||
         !same_binding(rec->session_id, session_id)))
        r = AUTHD_ERR_KEY_REFUSED;
    if (r != AUTHD_OK) {
        rpc_msg_free(&rec->base);
        return r;
    }
    *out = rec;
    return AUTHD_OK;
}

/* ---- the credential-id index --------------------------------------------------------------- */

/* wacred/<64 hex digits>: the id hashed, so a key's length never depends on the id's. */
static void
index_key(const uint8_t *id, size_t len, char key[KEY_MAX])
{
    uint8_t h[32];
    char hex[65];
    secret_sha256(id, len, h);
    secret_hex(h, sizeof(h), hex);
    key_make(key, KEY_WACRED, hex, NULL);
}

int
webauthn_index_put(struct store_txn *txn, const uint8_t *id, size_t len, const char *user_id)
{
    char key[KEY_MAX];
    void *val = NULL;
    size_t vlen = 0;

    if (user_id == NULL || user_id[0] == '\0' || strlen(user_id) > ACCOUNT_MAX_ID)
        return AUTHD_ERR_INVALID_ARGUMENT;
    index_key(id, len, key);
    int r = store_txn_get(txn, key, strlen(key), 1, &val, &vlen);
    if (r == AUTHD_OK) {
        store_value_free(val, vlen);
        return AUTHD_ERR_ALREADY_EXISTS;
    }
    if (r != AUTHD_ERR_NOT_FOUND)
        return r;
    return store_txn_put(txn, key, strlen(key), user_id, strlen(user_id));
}

int
webauthn_index_delete(struct store_txn *txn, const uint8_t *id, size_t len)
{
    char key[KEY_MAX];
    index_key(id, len, key);
    return store_txn_delete(txn, key, strlen(key));
}

int
webauthn_index_delete_all(struct store_txn *txn, const Authd__Storage__UserRecord *rec)
{
    int r = AUTHD_OK;
    for (size_t i = 0; r == AUTHD_OK && i < rec->n_webauthn; i++)
        r = webauthn_index_delete(txn, rec->webauthn[i]->credential_id.data,
                                  rec->webauthn[i]->credential_id.len);
    return r;
}

int
webauthn_index_lookup(struct authd *a, struct store_txn *txn, const uint8_t *id, size_t len,
                      char *user_id)
{
    char key[KEY_MAX];
    void *val = NULL;
    size_t vlen = 0;
    int r;

    user_id[0] = '\0';
    index_key(id, len, key);
    if (txn != NULL)
        r = store_txn_get(txn, key, strlen(key), 0, &val, &vlen);
    else
        r = store_get(a->store, key, strlen(key), &val, &vlen);
    if (r != AUTHD_OK)
        return r;
    if (vlen == 0 || vlen > ACCOUNT_MAX_ID || memchr(val, '\0', vlen) != NULL) {
        store_value_free(val, vlen);
        return AUTHD_ERR_INTERNAL;
    }
    memcpy(user_id, val, vlen);
    user_id[vlen] = '\0';
    store_value_free(val, vlen);
    return AUTHD_OK;
}

/* ---- credentials in a user record ------------------------------------------------------------ */

long
webauthn_cred_find(const Authd__Storage__UserRecord *rec, const uint8_t *id, size_t len)
{
    for (size_t i = 0; i < rec->n_webauthn; i++) {
        const ProtobufCBinaryData *c = &rec->webauthn[i]->credential_id;
        if (c->len == len && len > 0 && memcmp(c->data, id, len) == 0)
            return (long)i;
    }
    return -1;
}

long
webauthn_cred_find_b64(const Authd__Storage__UserRecord *rec, const char *id_b64)
{
    uint8_t id[WEBAUTHN_CRED_ID_MAX];
    if (id_b64 == NULL)
        return -1;
    size_t n = strlen(id_b64);
    if (n == 0 || n > secret_b64url_len(WEBAUTHN_CRED_ID_MAX))
        return -1;
    long len = secret_b64url_decode(id_b64, n, id, sizeof(id));
    if (len <= 0)
        return -1;
    return webauthn_cred_find(rec, id, (size_t)len);
}

void
webauthn_cred_remove(Authd__Storage__UserRecord *rec, size_t i)
{
    if (i >= rec->n_webauthn)
        return;
    rpc_msg_free(&rec->webauthn[i]->base);
    memmove(&rec->webauthn[i], &rec->webauthn[i + 1],
            (rec->n_webauthn - i - 1) * sizeof(rec->webauthn[0]));
    rec->n_webauthn--;
}

int
webauthn_cred_clear(struct store_txn *txn, Authd__Storage__UserRecord *rec)
{
    int r = webauthn_index_delete_all(txn, rec);
    if (r != AUTHD_OK)
        return r;
    while (rec->n_webauthn > 0)
        webauthn_cred_remove(rec, rec->n_webauthn - 1);
    return AUTHD_OK;
}

/* aaguid as 8-4-4-4-12 lowercase hex into out (37 bytes); "" when absent or all zero. */
static void
aaguid_text(const ProtobufCBinaryData *g, char out[37])
{
    static const uint8_t zero[16];
    out[0] = '\0';
    if (g->len != 16 || memcmp(g->data, zero, 16) == 0)
        return;
    char hex[33];
    secret_hex(g->data, 16, hex);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

Authd__V1__WebAuthnCredential *
webauthn_cred_answer(struct rpc_ctx *ctx, const Authd__Storage__WebAuthnCredentialRecord *c)
{
    Authd__V1__WebAuthnCredential *o =
        rpc_ctx_msg(ctx, &authd__v1__web_authn_credential__descriptor);
    char aaguid[37];
    if (o == NULL)
        return NULL;
    o->id = rpc_ctx_alloc(ctx, secret_b64url_len(c->credential_id.len) + 1);
    if (o->id == NULL)
        return NULL;
    secret_b64url_encode(c->credential_id.data, c->credential_id.len, o->id);
    o->name = rpc_ctx_strdup(ctx, c->name != NULL ? c->name : "");
    o->created_at = c->created_at;
    o->last_used_at = c->last_used_at;
    o->discoverable = c->discoverable;
    o->kind = (char *)(c->backup_eligible ? "swk" : "hwk");
    aaguid_text(&c->aaguid, aaguid);
    o->aaguid = rpc_ctx_strdup(ctx, aaguid);
    if (o->name == NULL || o->aaguid == NULL)
        return NULL;
    if (c->n_transports > 0) {
        o->transports = rpc_ctx_alloc(ctx, c->n_transports * sizeof(char *));
        if (o->transports == NULL)
            return NULL;
        for (size_t i = 0; i < c->n_transports; i++)
            if ((o->transports[i] = rpc_ctx_strdup(ctx, c->transports[i])) == NULL)
                return NULL;
        o->n_transports = c->n_transports;
    }
    return o;
}

int
webauthn_list_answer(struct rpc_ctx *ctx, const Authd__Storage__UserRecord *rec,
                     Authd__V1__WebAuthnCredentialList *out)
{
    out->n_credentials = 0;
    if (rec->n_webauthn == 0)
        return AUTHD_OK;
    out->credentials = rpc_ctx_alloc(ctx, rec->n_webauthn * sizeof(out->credentials[0]));
    if (out->credentials == NULL)
        return AUTHD_ERR_NOMEM;
    for (size_t i = 0; i < rec->n_webauthn; i++) {
        out->credentials[i] = webauthn_cred_answer(ctx, rec->webauthn[i]);
        if (out->credentials[i] == NULL)
            return AUTHD_ERR_NOMEM;
        out->n_credentials = i + 1;
    }
    return AUTHD_OK;
}

/* ---- TwoFactorStatus --------------------------------------------------------------------------
 */

int
webauthn_status_fill(Authd__Storage__UserRecord *rec)
{
    if (rec == NULL || rec->user == NULL)
        return AUTHD_OK;
    Authd__V1__TwoFactorStatus *tf = rec->user->two_factor;
    if (tf == NULL) {
        tf = malloc(sizeof(*tf));
        if (tf == NULL)
            return AUTHD_ERR_NOMEM;
        authd__v1__two_factor_status__init(tf);
        rec->user->two_factor = tf;
    }
    tf->totp = rec->totp != NULL;
    tf->passkeys = (uint32_t)rec->n_webauthn;
    tf->enabled = tf->totp || tf->passkeys > 0;
    return AUTHD_OK;
}
