/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon's shared state and the table of services it serves (see authd.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "authd/authd.h"
#include "authd/v1/admin.pb-c.h"
#include "authd/v1/sessions.pb-c.h"
#include "authd/v1/signup.pb-c.h"
#include "authd/v1/oauth.pb-c.h"
#include "authd/v1/twofactor.pb-c.h"
#include "authd/v1/users.pb-c.h"
#include "authd/v1/webauthn.pb-c.h"
#include "common/err.h"
#include "common/log.h"
#include "common/secret.h"
#include "grpc/health/v1/health.pb-c.h"
#include "authd/keys.h"
#include "authd/records.h"
#include "authd/webauthn_store.h"
#include "storage/records.pb-c.h"

static int64_t
clock_now(void)
{
    return (int64_t)time(NULL);
}

void
authd_settings_default(struct authd_settings *s)
{
    password_params_default(&s->argon2);
    s->session_ttl = 12 * 3600;
    s->signup_ttl = 24 * 3600;
    s->reset_ttl = 3600;
    s->code_ttl = 60;
    s->remember_ttl = 0; /* rememberBrowserDays decides */
    snprintf(s->token_alg, sizeof(s->token_alg), "%s", "ES256");
    s->token_cache = AUTHD_TOKEN_CACHE_DEFAULT;
    /* At once: what the unit tests built on it expect; authd's --key-publish-delay defaults to
     * five minutes (main.c). */
    s->key_publish_delay = 0;
}

void
authd_cfg_apply(struct authd *a, const Authd__V1__AuthConfig *c)
{
    struct authd_cfg n;
    memset(&n, 0, sizeof(n));
    snprintf(n.issuer, sizeof(n.issuer), "%s", "authd");
    n.past_steps = 1;
    otp_params_default(&n.otp);
    char err[160];
    /* PutAuthConfig validated the lockout before storing it; a stored one that no longer
     * passes (a bound tightened since) falls back to the defaults, and says so. */
    if (throttle_policies_from_config(c != NULL ? c->lockout : NULL, &n.lockout, err,
                                      sizeof(err)) != AUTHD_OK)
        log_event(LOG_WARN, "config_lockout_ignored", "reason=%s", err);
    if (c != NULL) {
        n.asid_max_age = c->asid_cookie_max_age;
        const Authd__V1__TwoFactorConfig *t = c->two_factor;
        if (t != NULL) {
            /* A twoFactor block that is present says its count, 0 included (Aidbox semantics);
             * only an absent block means the default. */
            n.past_steps =
                t->valid_past_tokens_count > 0 ? (unsigned)t->valid_past_tokens_count : 0;
            if (t->issuer_name[0] != '\0')
                snprintf(n.issuer, sizeof(n.issuer), "%s", t->issuer_name);
            enum otp_alg alg;
            if (otp_alg_parse(t->algorithm, &alg) == 0)
                n.otp.alg = alg;
            if (t->digits >= OTP_MIN_DIGITS && t->digits <= OTP_MAX_DIGITS)
                n.otp.digits = (unsigned)t->digits;
            if (t->period > 0)
                n.otp.period = (unsigned)t->period;
            if (t->remember_browser_days > 0 && t->remember_browser_days <= 365)
                n.remember_days = t->remember_browser_days;
            /* PutAuthConfig checked each name and the count; keep what fits regardless. */
            for (size_t i = 0; i < t->n_transports && n.n_transports < AUTHD_TRANSPORTS_MAX; i++)
                if (strlen(t->transports[i]) <= AUTHD_TRANSPORT_NAME_MAX)
                    snprintf(n.transports[n.n_transports++], sizeof(n.transports[0]), "%s",
                             t->transports[i]);
        }
    }
    struct authd_webauthn wa;
    webauthn_cfg_from_config(c, &wa);
    pthread_mutex_lock(&a->cfg_lock);
    a->cfg = n;
    a->webauthn = wa;
    pthread_mutex_unlock(&a->cfg_lock);
}

int64_t
authd_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Applies the stored record val (NULL: none stored) unless it is the one the copy came from.
 * AUTHD_OK, or AUTHD_ERR_STORAGE when the bytes do not parse (the copy stays). */
static int
cfg_apply_stored(struct authd *a, const void *val, size_t vlen)
{
    uint8_t digest[32];
    secret_sha256(val != NULL ? val : "", val != NULL ? vlen : 0, digest);
    pthread_mutex_lock(&a->cfg_lock);
    int same = memcmp(digest, a->cfg_digest, sizeof(digest)) == 0;
    pthread_mutex_unlock(&a->cfg_lock);
    if (same)
        return AUTHD_OK;
    Authd__Storage__ConfigRecord *rec = NULL;
    if (val != NULL) {
        rec = authd__storage__config_record__unpack(NULL, vlen, val);
        if (rec == NULL)
            return AUTHD_ERR_STORAGE;
    }
    authd_cfg_apply(a, rec != NULL ? rec->auth_config : NULL);
    if (rec != NULL)
        authd__storage__config_record__free_unpacked(rec, NULL);
    pthread_mutex_lock(&a->cfg_lock);
    memcpy(a->cfg_digest, digest, sizeof(digest));
    pthread_mutex_unlock(&a->cfg_lock);
    return AUTHD_OK;
}

/* Reads and applies the stored AuthConfig. */
static int
cfg_reload(struct authd *a)
{
    void *val = NULL;
    size_t vlen = 0;
    int r = store_get(a->store, KEY_CONFIG, strlen(KEY_CONFIG), &val, &vlen);
    if (r == AUTHD_ERR_NOT_FOUND)
        return cfg_apply_stored(a, NULL, 0);
    if (r != AUTHD_OK)
        return r;
    r = cfg_apply_stored(a, val, vlen);
    store_value_free(val, vlen);
    return r;
}

void
authd_cfg_refresh(struct authd *a)
{
    int64_t now = authd_mono_ms();
    pthread_mutex_lock(&a->cfg_lock);
    int due = a->refresh_ms <= 0 || now - a->cfg_checked_ms >= a->refresh_ms;
    if (due)
        a->cfg_checked_ms = now; /* the others keep using the copy while this thread rereads */
    pthread_mutex_unlock(&a->cfg_lock);
    if (!due)
        return;
    int r = cfg_reload(a);
    if (r != AUTHD_OK)
        log_event(LOG_WARN, "config_reload_failed", "err=%s", authd_err_reason(r));
}

void
authd_cfg_get(struct authd *a, struct authd_cfg *out)
{
    authd_cfg_refresh(a);
    pthread_mutex_lock(&a->cfg_lock);
    *out = a->cfg;
    pthread_mutex_unlock(&a->cfg_lock);
}

int
authd_init(struct authd *a, struct store *st, struct secretbox *box, const struct authd_settings *s)
{
    a->store = st;
    a->box = box;
    a->keys = NULL;
    snprintf(a->issuer, sizeof(a->issuer), "%s", "http://127.0.0.1:8080");
    a->set = *s;
    a->now = clock_now;
    pthread_mutex_init(&a->cfg_lock, NULL);
    for (int i = 0; i < AUTHD_SERIAL_STRIPES; i++)
        pthread_mutex_init(&a->serial[i], NULL);
    a->refresh_ms = AUTHD_REFRESH_MS_DEFAULT;
    a->cfg_checked_ms = authd_mono_ms();
    /* No digest matches all ones: the first load always applies. */
    memset(a->cfg_digest, 0xff, sizeof(a->cfg_digest));
    int r = cfg_reload(a);
    if (r != AUTHD_OK)
        authd_cleanup(a);
    return r;
}

void
authd_cleanup(struct authd *a)
{
    pthread_mutex_destroy(&a->cfg_lock);
    for (int i = 0; i < AUTHD_SERIAL_STRIPES; i++)
        pthread_mutex_destroy(&a->serial[i]);
}

int64_t
authd_session_ttl(struct authd *a)
{
    authd_cfg_refresh(a);
    pthread_mutex_lock(&a->cfg_lock);
    int64_t age = a->cfg.asid_max_age;
    pthread_mutex_unlock(&a->cfg_lock);
    /* The server-side lifetime follows the cookie's when one is configured. */
    return age > 0 ? age : a->set.session_ttl;
}

size_t
authd_services(struct authd *a, struct rpc_service *svcs, size_t cap)
{
    const struct rpc_service all[] = {
        {&authd__v1__users__descriptor, authd_users_methods, authd_users_n_methods, a},
        {&authd__v1__sessions__descriptor, authd_sessions_methods, authd_sessions_n_methods, a},
        {&authd__v1__signup__descriptor, authd_signup_methods, authd_signup_n_methods, a},
        {&authd__v1__password_reset__descriptor, authd_reset_methods, authd_reset_n_methods, a},
        {&authd__v1__admin__descriptor, authd_admin_methods, authd_admin_n_methods, a},
        {&authd__v1__two_factor__descriptor, authd_twofactor_methods, authd_twofactor_n_methods, a},
        {&authd__v1__client_admin__descriptor, authd_clients_methods, authd_clients_n_methods, a},
        {&authd__v1__oauth__descriptor, authd_oauth_methods, authd_oauth_n_methods, a},
        {&authd__v1__web_authn__descriptor, authd_webauthn_methods, authd_webauthn_n_methods, a},
        {&grpc__health__v1__health__descriptor, authd_health_methods, authd_health_n_methods, a},
    };
    size_t n = sizeof(all) / sizeof(all[0]);
    if (n > cap)
        n = cap;
    for (size_t i = 0; i < n; i++)
        svcs[i] = all[i];
    return n;
}
