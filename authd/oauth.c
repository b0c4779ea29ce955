/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OAuth helpers (see oauth.h): PKCE, exact redirect-URI matching, redirect URLs, scope sets,
 * grant settings and the OAuth error mapping. No storage and no clock here, so that every
 * check a security decision rests on can be tested on its own.
 */
#include "authd/oauth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/secret.h"

#define REDIRECT_URL_MAX 16384

/* ---- errors ------------------------------------------------------------------------------ */

static const struct {
    const char *code;
    int err;
} oauth_errors[] = {
    {"invalid_request", AUTHD_ERR_INVALID_ARGUMENT},
    {"invalid_scope", AUTHD_ERR_INVALID_ARGUMENT},
    {"invalid_client", AUTHD_ERR_INVALID_CREDENTIALS},
    {"invalid_grant", AUTHD_ERR_INVALID_TOKEN},
    {"unauthorized_client", AUTHD_ERR_UNAUTHORIZED_CLIENT},
    {"unsupported_grant_type", AUTHD_ERR_UNSUPPORTED_GRANT_TYPE},
    {"temporarily_unavailable", AUTHD_ERR_LOCKED},
    {"invalid_token", AUTHD_ERR_UNAUTHENTICATED},
};

int
oauth_err(const char *code)
{
    for (size_t i = 0; code != NULL && i < sizeof(oauth_errors) / sizeof(oauth_errors[0]); i++)
        if (strcmp(code, oauth_errors[i].code) == 0)
            return oauth_errors[i].err;
    return AUTHD_ERR_INTERNAL;
}

int
oauth_fail(struct rpc_ctx *ctx, const char *code, const char *desc)
{
    if (ctx != NULL) {
        rpc_ctx_set_message(ctx, desc != NULL ? desc : "");
        rpc_ctx_set_oauth_error(ctx, code);
    }
    return oauth_err(code);
}

/* ---- PKCE ------------------------------------------------------------------------------ */

static int
is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

int
oauth_pkce_valid(const char *s)
{
    if (s == NULL)
        return 0;
    size_t n = strnlen(s, OAUTH_PKCE_MAX + 1);
    if (n < OAUTH_PKCE_MIN || n > OAUTH_PKCE_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_unreserved((unsigned char)s[i]))
            return 0;
    return 1;
}

void
oauth_pkce_s256(const char *verifier, char out[OAUTH_PKCE_S256_LEN + 1])
{
    uint8_t h[32];
    secret_sha256(verifier, strlen(verifier), h);
    secret_b64url_encode(h, sizeof(h), out);
    secret_wipe(h, sizeof(h));
}

int
oauth_pkce_check(const char *verifier, const char *challenge)
{
    char want[OAUTH_PKCE_S256_LEN + 1];
    if (!oauth_pkce_valid(verifier) || challenge == NULL)
        return 0;
    oauth_pkce_s256(verifier, want);
    int ok = secret_streq(want, challenge);
    secret_wipe(want, sizeof(want));
    return ok;
}

/* ---- redirect URIs ----------------------------------------------------------------------- */

/* 1 when the scheme (the part before the first ':') is one that can run code in a browser. */
static int
scheme_dangerous(const char *uri, size_t slen)
{
    static const char *const bad[] = {"javascript", "data", "vbscript"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (strlen(bad[i]) == slen && strncasecmp(uri, bad[i], slen) == 0)
            return 1;
    return 0;
}

int
oauth_redirect_uri_valid(const char *uri)
{
    if (uri == NULL)
        return 0;
    size_t n = strnlen(uri, OAUTH_URI_MAX + 1);
    if (n == 0 || n > OAUTH_URI_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)uri[i];
        if (c <= 0x20 || c >= 0x7F || c == '#')
            return 0;
    }
    /* RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then ':'. */
    size_t s = 0;
    if (!((uri[0] >= 'A' && uri[0] <= 'Z') || (uri[0] >= 'a' && uri[0] <= 'z')))
        return 0;
    while (s < n && uri[s] != ':') {
        char c = uri[s];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '-' || c == '.'))
            return 0;
        s++;
    }
    if (s == n || s + 1 == n || scheme_dangerous(uri, s))
        return 0;
    return 1;
}

int
oauth_redirect_uri_eq(const char *registered, const char *given)
{
    if (!oauth_redirect_uri_valid(registered) || given == NULL)
        return 0;
    return strcmp(registered, given) == 0;
}

int
oauth_redirect_build(const char *base, int fragment, const struct oauth_param *p, size_t n,
                     char **out)
{
    struct buf b;
    int r;

    *out = NULL;
    if (!oauth_redirect_uri_valid(base))
        return AUTHD_ERR_INVALID_ARGUMENT;
    buf_init(&b, REDIRECT_URL_MAX);
    r = buf_puts(&b, base);
    char sep;
    if (fragment) {
        sep = '#';
    } else {
        const char *q = strchr(base, '?');
        size_t bl = strlen(base);
        if (q == NULL)
            sep = '?';
        else if (base[bl - 1] == '?' || base[bl - 1] == '&')
            sep = '\0'; /* "cb?" or "cb?a=1&": the next parameter follows directly */
        else
            sep = '&';
    }
    for (size_t i = 0; r == AUTHD_OK && i < n; i++) {
        if (p[i].value == NULL || p[i].value[0] == '\0')
            continue;
        if (sep != '\0')
            r = buf_append(&b, &sep, 1);
        if (r == AUTHD_OK)
            r = buf_urlenc(&b, p[i].name);
        if (r == AUTHD_OK)
            r = buf_append(&b, "=", 1);
        if (r == AUTHD_OK)
            r = buf_urlenc(&b, p[i].value);
        sep = '&';
    }
    if (r == AUTHD_OK) {
        *out = buf_steal(&b, NULL);
        if (*out == NULL)
            r = AUTHD_ERR_NOMEM;
    }
    buf_free(&b);
    return r;
}

/* ---- scopes ---------------------------------------------------------------------------- */

/* RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
static int
scope_char(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c <= 0x5B) || (c >= 0x5D && c <= 0x7E);
}

void
oauth_scopes_clear(struct oauth_scopes *s)
{
    s->n = 0;
}

static int
scopes_add_n(struct oauth_scopes *s, const char *tok, size_t len)
{
    if (len == 0 || len > OAUTH_SCOPE_TOKEN_MAX)
        return AUTHD_ERR_INVALID_ARGUMENT;
    for (size_t i = 0; i < len; i++)
        if (!scope_char((unsigned char)tok[i]))
            return AUTHD_ERR_INVALID_ARGUMENT;
    for (size_t i = 0; i < s->n; i++)
        if (strlen(s->item[i]) == len && memcmp(s->item[i], tok, len) == 0)
            return AUTHD_OK;
    if (s->n == OAUTH_SCOPE_ITEMS_MAX)
        return AUTHD_ERR_INVALID_ARGUMENT;
    memcpy(s->item[s->n], tok, len);
    s->item[s->n][len] = '\0';
    s->n++;
    return AUTHD_OK;
}

int
oauth_scopes_add(struct oauth_scopes *s, const char *tok)
{
    if (tok == NULL)
        return AUTHD_ERR_INVALID_ARGUMENT;
    return scopes_add_n(s, tok, strnlen(tok, OAUTH_SCOPE_TOKEN_MAX + 1));
}

/*
 * The next word of a space-separated list at *p (runs of spaces are one separator): its start,
 * with its length in *len and *p moved past it; NULL at the end of the string.
 */
static const char *
next_word(const char **p, size_t *len)
{
    const char *w = *p;
    while (*w == ' ')
        w++;
    const char *e = w;
    while (*e != '\0' && *e != ' ')
        e++;
    *p = e;
    *len = (size_t)(e - w);
    return *len > 0 ? w : NULL;
}

int
oauth_scopes_parse(const char *str, struct oauth_scopes *out)
{
    oauth_scopes_clear(out);
    if (str == NULL)
        return AUTHD_OK;
    const char *p = str, *w;
    size_t len;
    while ((w = next_word(&p, &len)) != NULL) {
        int r = scopes_add_n(out, w, len);
        if (r != AUTHD_OK) {
            oauth_scopes_clear(out);
            return r;
        }
    }
    return AUTHD_OK;
}

int
oauth_scopes_from_list(char *const *v, size_t n, struct oauth_scopes *out)
{
    oauth_scopes_clear(out);
    for (size_t i = 0; i < n; i++) {
        int r = oauth_scopes_add(out, v[i]);
        if (r != AUTHD_OK) {
            oauth_scopes_clear(out);
            return r;
        }
    }
    return AUTHD_OK;
}

int
oauth_scopes_has(const struct oauth_scopes *s, const char *tok)
{
    for (size_t i = 0; tok != NULL && i < s->n; i++)
        if (strcmp(s->item[i], tok) == 0)
            return 1;
    return 0;
}

int
oauth_scopes_subset(const struct oauth_scopes *sub, const struct oauth_scopes *sup)
{
    for (size_t i = 0; i < sub->n; i++)
        if (!oauth_scopes_has(sup, sub->item[i]))
            return 0;
    return 1;
}

int
oauth_scopes_join(const struct oauth_scopes *s, char *out, size_t cap)
{
    size_t used = 0;
    if (cap == 0)
        return AUTHD_ERR_TOO_LARGE;
    out[0] = '\0';
    for (size_t i = 0; i < s->n; i++) {
        size_t l = strlen(s->item[i]);
        if (used + (i > 0) + l + 1 > cap) {
            out[0] = '\0';
            return AUTHD_ERR_TOO_LARGE;
        }
        if (i > 0)
            out[used++] = ' ';
        memcpy(out + used, s->item[i], l);
        used += l;
        out[used] = '\0';
    }
    return AUTHD_OK;
}

int
oauth_client_scopes(const Authd__V1__Client *c, struct oauth_scopes *out)
{
    static char *const defaults[] = {"openid", "profile", "email"};
    if (c == NULL || c->n_scope == 0)
        return oauth_scopes_from_list(defaults, 3, out);
    return oauth_scopes_from_list(c->scope, c->n_scope, out);
}

/* ---- clients and grants ------------------------------------------------------------------ */

int
oauth_client_active(const Authd__V1__Client *c)
{
    return c != NULL && (c->active == NULL || c->active->value);
}

int
oauth_client_has_grant(const Authd__V1__Client *c, const char *grant)
{
    if (c == NULL || grant == NULL)
        return 0;
    int code = strcmp(grant, "authorization_code") == 0;
    for (size_t i = 0; i < c->n_grant_types; i++) {
        const char *g = c->grant_types[i];
        if (strcmp(g, grant) == 0 || (code && strcmp(g, "code") == 0))
            return 1;
    }
    return 0;
}

const Authd__V1__GrantSettings *
oauth_grant_settings(const Authd__V1__Client *c, const char *grant)
{
    if (c == NULL || c->auth == NULL || grant == NULL)
        return NULL;
    if (strcmp(grant, "authorization_code") == 0)
        return c->auth->authorization_code;
    if (strcmp(grant, "implicit") == 0)
        return c->auth->implicit;
    if (strcmp(grant, "password") == 0)
        return c->auth->password;
    if (strcmp(grant, "client_credentials") == 0)
        return c->auth->client_credentials;
    return NULL;
}

int64_t
oauth_access_ttl(const Authd__V1__GrantSettings *g)
{
    return g != NULL && g->access_token_expiration > 0 ? g->access_token_expiration
                                                       : OAUTH_ACCESS_TTL_DEFAULT;
}

int64_t
oauth_refresh_ttl(const Authd__V1__GrantSettings *g)
{
    return g != NULL && g->refresh_token_expiration > 0 ? g->refresh_token_expiration
                                                        : OAUTH_REFRESH_TTL_DEFAULT;
}

int
oauth_token_opaque(const Authd__V1__GrantSettings *g)
{
    return g != NULL && g->token_format != NULL && strcmp(g->token_format, "opaque") == 0;
}

/* ---- authorize parameters ------------------------------------------------------------------ */

int
oauth_prompt_parse(const char *s, unsigned *flags)
{
    static const struct {
        const char *name;
        unsigned flag;
    } names[] = {{"none", OAUTH_PROMPT_NONE},
                 {"login", OAUTH_PROMPT_LOGIN},
                 {"consent", OAUTH_PROMPT_CONSENT},
                 {"select_account", OAUTH_PROMPT_SELECT_ACCOUNT}};
    *flags = 0;
    if (s == NULL)
        return AUTHD_OK;
    const char *p = s, *w;
    size_t len;
    while ((w = next_word(&p, &len)) != NULL) {
        unsigned f = 0;
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            if (strlen(names[i].name) == len && memcmp(names[i].name, w, len) == 0)
                f = names[i].flag;
        if (f == 0) {
            *flags = 0;
            return AUTHD_ERR_INVALID_ARGUMENT;
        }
        *flags |= f;
    }
    if ((*flags & OAUTH_PROMPT_NONE) && *flags != OAUTH_PROMPT_NONE) {
        *flags = 0;
        return AUTHD_ERR_INVALID_ARGUMENT;
    }
    return AUTHD_OK;
}

static int
is_b64url(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

int
oauth_is_jwt(const char *s)
{
    if (s == NULL)
        return 0;
    int parts = 1;
    size_t part_len = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '.') {
            if (part_len == 0)
                return 0;
            parts++;
            part_len = 0;
        } else if (is_b64url(*p)) {
            part_len++;
        } else {
            return 0;
        }
    }
    return parts == 3 && part_len > 0;
}
