/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The AuthConfig as the edge uses it: the parts it reads (theme, session cookie, two-factor
 * settings and webhook), parsed from authd's message with every URL and webhook header checked,
 * and the one cache of it, refreshed from authd (Admin.GetAuthConfig) at most every 2 s.
 */
#ifndef AUTHD_EDGE_AUTHCONFIG_H
#define AUTHD_EDGE_AUTHCONFIG_H

#include <stdint.h>

#include "authd/v1/admin.pb-c.h"

struct edge_authd;

#define EDGE_WEBHOOK_HEADERS_MAX 4096 /* bytes of "Name: value" lines kept for the webhook */
#define EDGE_WEBHOOK_TIMEOUT_DEFAULT 5000
#define EDGE_WEBHOOK_TIMEOUT_MAX 60000 /* a request thread waits this long at most */
#define EDGE_TRANSPORTS_MAX 8          /* twoFactor.transports kept (authd allows as many) */
#define EDGE_PASSWORD_RULE_MAX 4096    /* a password rule number above this is not believed */

/*
 * AuthConfig.twoFactor as the edge keeps it. The webhook's header values may be credentials:
 * they live only here, in the per-request copy (wiped with the request) and in the outgoing
 * request, and are never logged.
 */
struct edge_two_factor_config {
    char issuer_name[256];
    int32_t valid_past_tokens_count;
    char algorithm[16];            /* "" = authd's default (SHA1) */
    int32_t digits;                /* 0 = authd's default */
    int32_t period;                /* 0 = authd's default */
    int32_t remember_browser_days; /* "Don't ask again on this browser" for so long; 0 = off */
    char webhook_endpoint[1024];   /* an http(s) URL, or "" when no webhook is configured */
    char webhook_origin[512];      /* scheme://host[:port] of the endpoint, for logs */
    /* Each header as a NUL-terminated "Name: value" (or "Name;" for an empty value), one after
     * the other; n_webhook_headers of them. */
    char webhook_headers[EDGE_WEBHOOK_HEADERS_MAX];
    unsigned n_webhook_headers;
    int webhook_timeout_ms; /* webhook.timeout, or EDGE_WEBHOOK_TIMEOUT_DEFAULT when unset */
    /* twoFactor.transports: the choices of the enrolment page; none = a free-text name */
    char transports[EDGE_TRANSPORTS_MAX][33];
    unsigned n_transports;
};

/* The parts of AuthConfig the edge uses, as plain strings; "" when unset. */
struct edge_config {
    char title[256];             /* theme.title, default "authd" */
    char brand[256];             /* theme.brand, default: the title */
    char style_url[1024];        /* theme.styleUrl when http(s):// or /path, else "" */
    char style_origin[512];      /* scheme://host[:port] of an absolute style_url, else "" */
    char forgot_url[1024];       /* theme.forgotPasswordUrl when http(s):// or /path, else "" */
    int64_t asid_cookie_max_age; /* seconds; 0 = browser-session cookie */
    /* authd's password rule (AuthConfig.passwordPolicy, read-only): 0 while unknown (an authd
     * that does not send it, or before authd answered), and then pages do not state it. */
    int password_min_length; /* characters, 1..EDGE_PASSWORD_RULE_MAX */
    int password_max_bytes;  /* bytes, 1..EDGE_PASSWORD_RULE_MAX */
    struct edge_two_factor_config two_factor;
    /* AuthConfig.webauthn: passkeys and security keys are offered while rp_id is set (authd
     * answers every WebAuthn call with a refusal otherwise); passwordless "Sign in with a
     * passkey" also needs passwordless (absent in the message = on). authd checks everything. */
    int webauthn;              /* rpId is set */
    int webauthn_passwordless; /* and passwordless sign-in is on */
};

/* The defaults used before authd ever answered. */
void edge_config_default(struct edge_config *c);

/*
 * Fills c from an AuthConfig message (cfg may be NULL: defaults). URLs that are not http(s)
 * or root-relative paths are dropped, so a config can never put javascript: into a page. The
 * webhook endpoint must be an absolute http(s) URL; a webhook header whose name is not an
 * RFC 7230 token or whose value holds CR, LF or another control byte is dropped (logged, without
 * its value), as are Content-Type and Content-Length (the edge sets those).
 */
void edge_config_from_msg(struct edge_config *c, const Authd__V1__AuthConfig *cfg);

/*
 * Copies the cached AuthConfig into *out. With refresh, a cache older than 2 s is refreshed
 * first by one caller (Admin.GetAuthConfig) while others keep using the previous copy; when
 * authd cannot be asked, the last good copy (or the defaults) is served.
 */
void edge_authd_config(struct edge_authd *a, int refresh, struct edge_config *out);

#endif
