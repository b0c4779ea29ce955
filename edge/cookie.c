/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cookie parsing and Set-Cookie building. Parsing copies the header into one arena and cuts it
 * in place, so the jar is one allocation to wipe: the session token travels in it.
 */
#include "edge/cookie.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"

static int
is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Trims spaces and tabs around [*s, *s + *n). */
static void
trim(char **s, size_t *n)
{
    while (*n > 0 && is_space(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && is_space((*s)[*n - 1]))
        (*n)--;
}

struct cookie_jar *
cookie_jar_empty(void)
{
    return calloc(1, sizeof(struct cookie_jar));
}

int
cookie_parse(const char *header, struct cookie_jar **out)
{
    *out = NULL;
    size_t len = header != NULL ? strlen(header) : 0;
    if (len > COOKIE_MAX_HEADER)
        return AUTHD_ERR_TOO_LARGE;
    struct cookie_jar *j = cookie_jar_empty();
    if (j == NULL)
        return AUTHD_ERR_NOMEM;
    j->store_cap = len + 1;
    j->store = malloc(j->store_cap);
    if (j->store == NULL) {
        free(j);
        return AUTHD_ERR_NOMEM;
    }
    if (len > 0)
        memcpy(j->store, header, len);
    j->store[len] = '\0';

    char *p = j->store, *end = j->store + len;
    while (p < end && j->n < COOKIE_MAX) {
        char *semi = memchr(p, ';', (size_t)(end - p));
        char *piece_end = semi != NULL ? semi : end;
        char *piece = p;
        size_t plen = (size_t)(piece_end - piece);
        p = piece_end + 1;
        char *eq = memchr(piece, '=', plen);
        if (eq == NULL)
            continue;
        char *name = piece;
        size_t nlen = (size_t)(eq - piece);
        char *value = eq + 1;
        size_t vlen = (size_t)(piece_end - value);
        trim(&name, &nlen);
        trim(&value, &vlen);
        if (nlen == 0)
            continue;
        if (vlen >= 2 && value[0] == '"' && value[vlen - 1] == '"') {
            value++;
            vlen -= 2;
        }
        /* Cutting in place is safe: each terminator lands on a byte of this piece that is
         * already consumed ('=', ';', a trimmed space or quote) or on the final NUL. */
        name[nlen] = '\0';
        value[vlen] = '\0';
        j->c[j->n].name = name;
        j->c[j->n].value = value;
        j->n++;
    }
    *out = j;
    return AUTHD_OK;
}

const char *
cookie_get(const struct cookie_jar *j, const char *name)
{
    if (j == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < j->n; i++)
        if (strcmp(j->c[i].name, name) == 0)
            return j->c[i].value;
    return NULL;
}

void
cookie_jar_free(struct cookie_jar *j)
{
    if (j == NULL)
        return;
    secret_freezero(j->store, j->store_cap);
    free(j);
}

static int
is_token_char(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int
is_cookie_octet(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c <= 0x2b) || (c >= 0x2d && c <= 0x3a) ||
           (c >= 0x3c && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);
}

int
cookie_build(struct buf *b, const char *name, const char *value, unsigned flags, long long max_age)
{
    if (name == NULL || name[0] == '\0' || value == NULL)
        return AUTHD_ERR_INVALID_ARGUMENT;
    for (const char *p = name; *p; p++)
        if (!is_token_char((unsigned char)*p))
            return AUTHD_ERR_INVALID_ARGUMENT;
    for (const char *p = value; *p; p++)
        if (!is_cookie_octet((unsigned char)*p))
            return AUTHD_ERR_INVALID_ARGUMENT;
    size_t mark = b->len;
    int r = buf_printf(b, "%s=%s; Path=/", name, value);
    if (r == AUTHD_OK && max_age >= 0)
        r = buf_printf(b, "; Max-Age=%lld", max_age);
    if (r == AUTHD_OK && (flags & COOKIE_HTTPONLY))
        r = buf_puts(b, "; HttpOnly");
    if (r == AUTHD_OK && (flags & COOKIE_SECURE))
        r = buf_puts(b, "; Secure");
    if (r == AUTHD_OK && (flags & COOKIE_SAMESITE_STRICT))
        r = buf_puts(b, "; SameSite=Strict");
    else if (r == AUTHD_OK && (flags & COOKIE_SAMESITE_LAX))
        r = buf_puts(b, "; SameSite=Lax");
    if (r != AUTHD_OK && b->data != NULL) {
        /* Leave b as it was: a half-written cookie must never reach a header. */
        secret_wipe(b->data + mark, b->len - mark);
        b->len = mark;
        b->data[mark] = '\0';
    }
    return r;
}
