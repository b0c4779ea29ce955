/* SPDX-License-Identifier: Apache-2.0 */
/*
 * AuthConfig -> struct edge_config, and its cache. URLs that could put javascript: into a page
 * are dropped, webhook headers that could inject a header are dropped (webhook_header_ok()),
 * each with a log line that never holds a value. The cache is refreshed by whichever request
 * first finds it older than EDGE_CONFIG_TTL_MS; the mutex is never held across the RPC, so a
 * slow authd delays one request, not all of them.
 */
#include "edge/authconfig.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "common/log.h"
#include "common/secret.h"
#include "edge/authd_client.h"
#include "edge/authd_client_int.h"
#include "edge/webhook.h"

#define EDGE_CONFIG_TTL_MS 2000

static void
copy_text(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src != NULL ? src : "");
}

static int
origin_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == ':' || c == '[' || c == ']';
}

/*
 * Copies url into dst when it is an http(s) URL or a root-relative path ("/x", not "//x") that
 * fits, and writes its origin (absolute URLs only) into origin. Returns 1 when kept, 0 when
 * dropped (dst and origin are then "").
 */
static int
copy_url(char *dst, size_t cap, char *origin, size_t ocap, const char *url)
{
    dst[0] = '\0';
    if (origin != NULL)
        origin[0] = '\0';
    if (url == NULL || url[0] == '\0')
        return 0;
    size_t len = strlen(url);
    if (len >= cap)
        return 0;
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '"' || *p == '\'' || *p == '<' ||
            *p == '>' || *p == '\\')
            return 0;
    const char *host = NULL;
    if (strncasecmp(url, "https://", 8) == 0)
        host = url + 8;
    else if (strncasecmp(url, "http://", 7) == 0)
        host = url + 7;
    else if (url[0] != '/' || url[1] == '/')
        return 0;
    if (host != NULL) {
        size_t hlen = strcspn(host, "/?#");
        if (hlen == 0)
            return 0;
        for (size_t i = 0; i < hlen; i++)
            if (!origin_char_ok(host[i]))
                return 0;
        size_t olen = (size_t)(host - url) + hlen;
        if (origin != NULL) {
            if (olen >= ocap)
                return 0;
            memcpy(origin, url, olen);
            origin[olen] = '\0';
            for (size_t i = 0; i < olen; i++)
                if (origin[i] >= 'A' && origin[i] <= 'Z')
                    origin[i] = (char)(origin[i] - 'A' + 'a');
        }
    }
    memcpy(dst, url, len + 1);
    return 1;
}

void
edge_config_default(struct edge_config *c)
{
    memset(c, 0, sizeof(*c));
    copy_text(c->title, sizeof(c->title), "authd");
    copy_text(c->brand, sizeof(c->brand), "authd");
    c->two_factor.webhook_timeout_ms = EDGE_WEBHOOK_TIMEOUT_DEFAULT;
}

/* Copies the webhook settings; anything unusable is dropped and logged (never a value). */
static void
webhook_from_msg(struct edge_two_factor_config *t, const Authd__V1__Webhook *w)
{
    if (w == NULL || w->endpoint == NULL || w->endpoint[0] == '\0')
        return;
    if ((strncasecmp(w->endpoint, "http://", 7) != 0 &&
         strncasecmp(w->endpoint, "https://", 8) != 0) ||
        !copy_url(t->webhook_endpoint, sizeof(t->webhook_endpoint), t->webhook_origin,
                  sizeof(t->webhook_origin), w->endpoint)) {
        t->webhook_endpoint[0] = '\0';
        t->webhook_origin[0] = '\0';
        log_event(LOG_WARN, "config_ignored", "field=twoFactor.webhook.endpoint reason=unsafe_url");
        return;
    }
    t->webhook_timeout_ms = w->timeout > 0 ? w->timeout : EDGE_WEBHOOK_TIMEOUT_DEFAULT;
    if (t->webhook_timeout_ms > EDGE_WEBHOOK_TIMEOUT_MAX)
        t->webhook_timeout_ms = EDGE_WEBHOOK_TIMEOUT_MAX;
    size_t used = 0;
    for (size_t i = 0; i < w->n_headers; i++) {
        const char *name = w->headers[i]->key;
        const char *value = w->headers[i]->value != NULL ? w->headers[i]->value : "";
        char qn[160];
        if (!webhook_header_ok(name, value)) {
            log_event(LOG_WARN, "config_ignored",
                      "field=twoFactor.webhook.headers name=%s "
                      "reason=unsafe_header",
                      log_quote(name, qn, sizeof(qn)));
            continue;
        }
        size_t room = sizeof(t->webhook_headers) - used;
        int n = value[0] != '\0' ? snprintf(t->webhook_headers + used, room, "%s: %s", name, value)
                                 : snprintf(t->webhook_headers + used, room, "%s;", name);
        if (n < 0 || (size_t)n >= room) {
            secret_wipe(t->webhook_headers + used, room);
            log_event(LOG_WARN, "config_ignored",
                      "field=twoFactor.webhook.headers name=%s "
                      "reason=too_large",
                      log_quote(name, qn, sizeof(qn)));
            continue;
        }
        used += (size_t)n + 1;
        t->n_webhook_headers++;
    }
}

void
edge_config_from_msg(struct edge_config *c, const Authd__V1__AuthConfig *cfg)
{
    edge_config_default(c);
    if (cfg == NULL)
        return;
    const Authd__V1__Theme *t = cfg->theme;
    if (t != NULL) {
        if (t->title != NULL && t->title[0] != '\0')
            copy_text(c->title, sizeof(c->title), t->title);
        if (t->brand != NULL && t->brand[0] != '\0')
            copy_text(c->brand, sizeof(c->brand), t->brand);
        else
            copy_text(c->brand, sizeof(c->brand), c->title);
        if (!copy_url(c->style_url, sizeof(c->style_url), c->style_origin, sizeof(c->style_origin),
                      t->style_url) &&
            t->style_url != NULL && t->style_url[0] != '\0')
            log_event(LOG_WARN, "config_ignored", "field=theme.styleUrl reason=unsafe_url");
        if (!copy_url(c->forgot_url, sizeof(c->forgot_url), NULL, 0, t->forgot_password_url) &&
            t->forgot_password_url != NULL && t->forgot_password_url[0] != '\0')
            log_event(LOG_WARN, "config_ignored",
                      "field=theme.forgotPasswordUrl reason=unsafe_url");
    }
    c->asid_cookie_max_age = cfg->asid_cookie_max_age > 0 ? cfg->asid_cookie_max_age : 0;
    const Authd__V1__PasswordPolicy *pp = cfg->password_policy;
    if (pp != NULL && pp->min_length > 0 && pp->min_length <= EDGE_PASSWORD_RULE_MAX)
        c->password_min_length = pp->min_length;
    if (pp != NULL && pp->max_bytes > 0 && pp->max_bytes <= EDGE_PASSWORD_RULE_MAX)
        c->password_max_bytes = pp->max_bytes;
    const Authd__V1__TwoFactorConfig *tf = cfg->two_factor;
    if (tf != NULL) {
        struct edge_two_factor_config *etf = &c->two_factor;
        copy_text(etf->issuer_name, sizeof(etf->issuer_name), tf->issuer_name);
        etf->valid_past_tokens_count = tf->valid_past_tokens_count;
        copy_text(etf->algorithm, sizeof(etf->algorithm), tf->algorithm);
        etf->digits = tf->digits;
        etf->period = tf->period;
        etf->remember_browser_days =
            tf->remember_browser_days > 0 && tf->remember_browser_days <= 365
                ? tf->remember_browser_days
                : 0;
        for (size_t i = 0; i < tf->n_transports && etf->n_transports < EDGE_TRANSPORTS_MAX; i++)
            if (tf->transports[i][0] != '\0' &&
                strlen(tf->transports[i]) < sizeof(etf->transports[0]))
                copy_text(etf->transports[etf->n_transports++], sizeof(etf->transports[0]),
                          tf->transports[i]);
        webhook_from_msg(etf, tf->webhook);
    }
    const Authd__V1__WebAuthnConfig *wa = cfg->webauthn;
    if (wa != NULL && wa->rp_id != NULL && wa->rp_id[0] != '\0') {
        c->webauthn = 1;
        c->webauthn_passwordless = wa->passwordless == NULL || wa->passwordless->value;
    }
}

void
edge_authd_config(struct edge_authd *a, int refresh, struct edge_config *out)
{
    uint64_t now = edge_authd_now_ms();
    int fetch = 0;

    pthread_mutex_lock(&a->mu);
    if (refresh && !a->refreshing && (!a->fetched || now - a->fetched_ms >= EDGE_CONFIG_TTL_MS)) {
        a->refreshing = 1;
        fetch = 1;
    }
    if (!fetch)
        *out = a->cfg;
    pthread_mutex_unlock(&a->mu);
    if (!fetch)
        return;

    Authd__V1__GetAuthConfigRequest req = AUTHD__V1__GET_AUTH_CONFIG_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    int r = edge_authd_call(a, "config", &authd__v1__admin__descriptor, "GetAuthConfig", &req.base,
                            &resp, NULL);
    struct edge_config fresh;
    if (r == AUTHD_OK)
        edge_config_from_msg(&fresh, (const Authd__V1__AuthConfig *)resp);
    else if (r == AUTHD_ERR_NOT_FOUND)
        edge_config_default(&fresh); /* no AuthConfig stored: the defaults are the truth */
    rpc_msg_free(resp);

    pthread_mutex_lock(&a->mu);
    if (r == AUTHD_OK || r == AUTHD_ERR_NOT_FOUND)
        a->cfg = fresh;
    /* A failed attempt also waits a full TTL, so a down authd is not asked on every page. */
    a->fetched = 1;
    a->fetched_ms = edge_authd_now_ms();
    a->refreshing = 0;
    *out = a->cfg;
    pthread_mutex_unlock(&a->mu);
    secret_wipe(&fresh, sizeof(fresh)); /* the webhook headers may hold credentials */
}
