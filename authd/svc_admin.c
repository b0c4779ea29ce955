/* SPDX-License-Identifier: Apache-2.0 */
/*
 * authd.v1.Admin: the AuthConfig resource (Aidbox field names). authd keeps one AuthConfig; a put
 * replaces it whole after validating every field, and authd caches the parts it needs on hot
 * paths (the session lifetime, the OTP parameters, the lockout policies).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "authd/account.h"
#include "authd/audit.h"
#include "authd/v1/admin.pb-c.h"
#include "common/err.h"
#include "authd/twofactor.h"
#include "authd/keys.h"
#include "common/log.h"
#include "authd/otp.h"
#include "authd/password.h"
#include "authd/records.h"
#include "authd/roles.h"
#include "authd/throttle.h"
#include "authd/webauthn_store.h"

#define CFG_MAX_STR 1024
#define CFG_MAX_HEADERS 32
#define CFG_MAX_AGE (400LL * 86400) /* browsers cap cookie lifetimes at 400 days */

/* 1 when s is empty or an absolute http(s) URL or a site-relative path: never javascript: etc. */
static int
url_ok(const char *s)
{
    if (s == NULL || s[0] == '\0')
        return 1;
    if (strlen(s) > CFG_MAX_STR)
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= ' ' || *p == 0x7f || *p == '"' || *p == '<' || *p == '>')
            return 0;
    return strncmp(s, "https://", 8) == 0 || strncmp(s, "http://", 7) == 0 ||
           (s[0] == '/' && s[1] != '/');
}

static int
str_ok(const char *s)
{
    return s == NULL || strlen(s) <= CFG_MAX_STR;
}

/* Validates c; on failure sets a message naming the field and returns INVALID_ARGUMENT. */
static int
config_validate(struct rpc_ctx *ctx, const Authd__V1__AuthConfig *c)
{
    const char *bad = NULL;
    if (!str_ok(c->id))
        bad = "id";
    else if (c->asid_cookie_max_age < 0 || c->asid_cookie_max_age > CFG_MAX_AGE)
        bad = "asidCookieMaxAge must be 0..34560000 seconds";
    if (bad == NULL && c->theme != NULL) {
        if (!url_ok(c->theme->style_url))
            bad = "theme.styleUrl must be an http(s) URL or a path";
        else if (!url_ok(c->theme->forgot_password_url))
            bad = "theme.forgotPasswordUrl must be an http(s) URL or a path";
        else if (!str_ok(c->theme->title) || !str_ok(c->theme->brand))
            bad = "theme.title/brand too long";
    }
    if (bad == NULL && c->two_factor != NULL) {
        const Authd__V1__TwoFactorConfig *t = c->two_factor;
        enum otp_alg alg;
        if (!str_ok(t->issuer_name) || strchr(t->issuer_name, ':') != NULL)
            bad = "twoFactor.issuerName must be short and without ':'";
        else if (t->valid_past_tokens_count < 0 || t->valid_past_tokens_count > 10)
            bad = "twoFactor.validPastTokensCount must be 0..10";
        else if (otp_alg_parse(t->algorithm, &alg) != 0)
            bad = "twoFactor.algorithm must be SHA1, SHA256 or SHA512";
        else if (t->digits != 0 && (t->digits < OTP_MIN_DIGITS || t->digits > OTP_MAX_DIGITS))
            bad = "twoFactor.digits must be 6..8";
        else if (t->period != 0 && (t->period < 15 || t->period > 300))
            bad = "twoFactor.period must be 15..300 seconds";
        else if (t->remember_browser_days < 0 || t->remember_browser_days > 365)
            bad = "twoFactor.rememberBrowserDays must be 0..365";
        else if (t->n_transports > AUTHD_TRANSPORTS_MAX)
            bad = "twoFactor.transports: at most 8";
        for (size_t i = 0; bad == NULL && i < t->n_transports; i++) {
            if (t->transports[i][0] == '\0' || !twofactor_transport_valid(t->transports[i]))
                bad = "twoFactor.transports: each up to 32 of A-Z a-z 0-9 - _ .";
            for (size_t j = 0; bad == NULL && j < i; j++)
                if (strcmp(t->transports[i], t->transports[j]) == 0)
                    bad = "twoFactor.transports: a name is listed twice";
        }
        if (bad == NULL && t->webhook != NULL) {
            const Authd__V1__Webhook *w = t->webhook;
            if (w->endpoint[0] != '\0' && (!url_ok(w->endpoint) || w->endpoint[0] == '/'))
                bad = "twoFactor.webhook.endpoint must be an http(s) URL";
            else if (w->timeout < 0 || w->timeout > 60000)
                bad = "twoFactor.webhook.timeout must be 0..60000 ms";
            else if (w->n_headers > CFG_MAX_HEADERS)
                bad = "twoFactor.webhook.headers: too many";
            for (size_t i = 0; bad == NULL && i < w->n_headers; i++) {
                const char *k = w->headers[i]->key, *v = w->headers[i]->value;
                if (k[0] == '\0' || !str_ok(k) || !str_ok(v) || strpbrk(k, "\r\n:") != NULL ||
                    strpbrk(v, "\r\n") != NULL)
                    bad = "twoFactor.webhook.headers: bad name or value";
            }
        }
    }
    if (bad == NULL)
        bad = webauthn_config_check(c->webauthn);
    if (bad != NULL) {
        rpc_ctx_set_message(ctx, bad);
        return AUTHD_ERR_INVALID_ARGUMENT;
    }
    /* The lockout numbers, with their defaults, must make a schedule (throttle.c says why). */
    struct throttle_policies lockout;
    char err[160];
    if (throttle_policies_from_config(c->lockout, &lockout, err, sizeof(err)) != AUTHD_OK) {
        rpc_ctx_set_message(ctx, err);
        return AUTHD_ERR_INVALID_ARGUMENT;
    }
    return AUTHD_OK;
}

/*
 * Fills resp's read-only passwordPolicy with the rule password_policy_check() enforces, so that
 * the edge shows authd's numbers rather than a copy of them. AUTHD_OK or AUTHD_ERR_NOMEM.
 */
static int
set_password_policy(struct rpc_ctx *ctx, Authd__V1__AuthConfig *resp)
{
    Authd__V1__PasswordPolicy *policy = rpc_ctx_alloc(ctx, sizeof(*policy));
    if (policy == NULL)
        return AUTHD_ERR_NOMEM;
    authd__v1__password_policy__init(policy);
    policy->min_length = PASSWORD_MIN_LEN;
    policy->max_bytes = PASSWORD_MAX_LEN;
    resp->password_policy = policy;
    return AUTHD_OK;
}

static int
admin_put_auth_config(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__AuthConfig *req = (const void *)reqm;
    Authd__V1__AuthConfig *resp = (void *)respm;
    Authd__Storage__ConfigRecord rec = AUTHD__STORAGE__CONFIG_RECORD__INIT;
    struct audit ev = {
        .action = AUDIT_ADMIN_CHANGE, .target = "authconfig", .reason = "Admin/PutAuthConfig"};
    struct store_batch *b = NULL;

    int r = config_validate(ctx, req);
    if (r != AUTHD_OK)
        goto out;
    /* What is stored is the request with its origins serialised (webauthn.origins are compared
     * byte for byte with what browsers send); passwordPolicy is read-only, never stored. */
    Authd__V1__AuthConfig *copy = rec_copy(ctx, reqm);
    if (copy == NULL || webauthn_origins_normalise(ctx, copy) != AUTHD_OK) {
        r = AUTHD_ERR_NOMEM;
        goto out;
    }
    Authd__V1__AuthConfig stored = *copy;
    stored.password_policy = NULL;
    rec.auth_config = &stored;
    b = store_batch_new();
    r = b != NULL ? rec_batch_put(b, KEY_CONFIG, &rec.base) : AUTHD_ERR_NOMEM;
    if (r == AUTHD_OK)
        r = store_batch_commit(a->store, b);
    store_batch_free(b);
    if (r != AUTHD_OK)
        goto out;
    authd_cfg_apply(a, &stored);
    *resp = *copy;
    r = set_password_policy(ctx, resp);
    if (r == AUTHD_OK)
        r = webauthn_config_answer(ctx, resp);
out:
    ev.outcome = r == AUTHD_OK ? AUDIT_SUCCESS : AUDIT_FAILURE;
    audit_emit(ctx, &ev);
    return r;
}

static int
admin_get_auth_config(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    Authd__V1__AuthConfig *resp = (void *)respm;
    Authd__Storage__ConfigRecord *rec = NULL;
    (void)reqm;
    int r = rec_get(a->store, NULL, 0, KEY_CONFIG, &authd__storage__config_record__descriptor,
                    (ProtobufCMessage **)&rec);
    if (r == AUTHD_ERR_NOT_FOUND) {
        /* no config yet: the empty one, and everyone uses defaults */
        return set_password_policy(ctx, resp);
    }
    if (r != AUTHD_OK)
        return r;
    if (rec->auth_config != NULL) {
        Authd__V1__AuthConfig *copy = rec_copy(ctx, &rec->auth_config->base);
        if (copy == NULL)
            r = AUTHD_ERR_NOMEM;
        else
            *resp = *copy;
    }
    rpc_msg_free(&rec->base);
    if (r == AUTHD_OK)
        r = set_password_policy(ctx, resp);
    if (r == AUTHD_OK)
        r = webauthn_config_answer(ctx, resp);
    return r;
}

static int
admin_backup(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__BackupRequest *req = (const void *)reqm;
    Authd__V1__BackupResponse *resp = (void *)respm;
    struct audit ev = {.action = AUDIT_ADMIN_CHANGE, .reason = "Admin/Backup"};
    char err[PATH_MAX + 256];

    ev.target = rpc_ctx_printf(ctx, "backup/%.*s", PATH_MAX, req->dir);
    int64_t began = a->now(), t0 = authd_mono_ms();
    int r = store_checkpoint(a->store, req->dir, err, sizeof(err));
    if (r == AUTHD_ERR_UNIMPLEMENTED)
        rpc_ctx_set_message(ctx, "authd's store is PostgreSQL: back it up with PostgreSQL's own "
                                 "tools (pg_dump, or pg_basebackup with WAL archiving)");
    else if (r != AUTHD_OK)
        rpc_ctx_set_message(ctx, err);
    if (r == AUTHD_OK) {
        resp->dir = rpc_ctx_strdup(ctx, req->dir);
        resp->taken_at = began;
        if (resp->dir == NULL)
            r = AUTHD_ERR_NOMEM;
        /* Where it went is in the audit line below. */
        log_event(LOG_INFO, "backup_done", "ms=%lld", (long long)(authd_mono_ms() - t0));
    }
    ev.outcome = r == AUTHD_OK ? AUDIT_SUCCESS : AUDIT_FAILURE;
    audit_emit(ctx, &ev);
    return r;
}

const struct rpc_method authd_admin_methods[] = {
    {"PutAuthConfig", admin_put_auth_config, 0, ROLE_ADMIN},
    {"GetAuthConfig", admin_get_auth_config, RPC_INLINE, ROLE_EDGE | ROLE_ADMIN},
    {"Backup", admin_backup, 0, ROLE_ADMIN},
};
const size_t authd_admin_n_methods = sizeof(authd_admin_methods) / sizeof(authd_admin_methods[0]);
