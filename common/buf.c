/* SPDX-License-Identifier: Apache-2.0 */
/* Bounded growable buffer; see buf.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/secret.h"

void
buf_init(struct buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void
buf_free(struct buf *b)
{
    secret_freezero(b->data, b->cap);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

static int
buf_reserve(struct buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra)
        return AUTHD_ERR_TOO_LARGE;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return AUTHD_OK;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < need)
        ncap *= 2;
    if (ncap > b->max + 1)
        ncap = b->max + 1;
    /* Not realloc: the old block may hold secrets and realloc would free it unwiped. */
    char *n = malloc(ncap);
    if (n == NULL)
        return AUTHD_ERR_NOMEM;
    if (b->data != NULL) {
        memcpy(n, b->data, b->len + 1);
        secret_freezero(b->data, b->cap);
    } else {
        n[0] = '\0';
    }
    b->data = n;
    b->cap = ncap;
    return AUTHD_OK;
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
    int r = buf_reserve(b, n);
    if (r != AUTHD_OK)
        return r;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return AUTHD_OK;
}

int
buf_puts(struct buf *b, const char *s)
{
    if (s == NULL)
        return AUTHD_OK;
    return buf_append(b, s, strlen(s));
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return AUTHD_ERR_INTERNAL;
    int r = buf_reserve(b, (size_t)n);
    if (r != AUTHD_OK)
        return r;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return AUTHD_OK;
}

int
buf_html(struct buf *b, const char *s)
{
    if (s == NULL)
        return AUTHD_OK;
    const char *run = s;
    for (const char *p = s;; p++) {
        const char *rep = NULL;
        switch (*p) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        case '\0':
            break;
        default:
            continue;
        }
        int r = buf_append(b, run, (size_t)(p - run));
        if (r != AUTHD_OK)
            return r;
        if (*p == '\0')
            return AUTHD_OK;
        r = buf_puts(b, rep);
        if (r != AUTHD_OK)
            return r;
        run = p + 1;
    }
}

int
buf_urlenc(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    if (s == NULL)
        return AUTHD_OK;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int r;
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            r = buf_append(b, p, 1);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            r = buf_append(b, e, 3);
        }
        if (r != AUTHD_OK)
            return r;
    }
    return AUTHD_OK;
}

/* The length of the UTF-8 sequence at p (1..4), or 0 when it is not one (RFC 3629 §4). */
static size_t
utf8_seq(const unsigned char *p)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    if (c < 0xC2 || c > 0xF4) /* a continuation byte, an overlong lead (C0, C1), past U+10FFFF */
        return 0;
    size_t n = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    /* The second byte's range depends on the lead: no overlong forms, no surrogates, nothing
     * past U+10FFFF. A NUL ends the scan in the range check, never past the string. */
    unsigned char lo = 0x80, hi = 0xBF;
    if (c == 0xE0)
        lo = 0xA0;
    else if (c == 0xED)
        hi = 0x9F;
    else if (c == 0xF0)
        lo = 0x90;
    else if (c == 0xF4)
        hi = 0x8F;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return n;
}

int
buf_json(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    if (s == NULL)
        return AUTHD_ERR_INVALID_ARGUMENT;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0';) {
        size_t n = utf8_seq(p);
        if (n == 0)
            return AUTHD_ERR_INVALID_ARGUMENT;
        p += n;
    }
    size_t start = b->len;
    int r = buf_append(b, "\"", 1);
    const char *run = s;
    for (const char *p = s; r == AUTHD_OK; p++) {
        unsigned char c = (unsigned char)*p;
        char e[6] = {'\\', 0, 0, 0, 0, 0};
        size_t elen = 2;
        if (c == '"' || c == '\\') {
            e[1] = (char)c;
        } else if (c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t') {
            e[1] = c == '\b' ? 'b' : c == '\f' ? 'f' : c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
        } else if (c != '\0' && c < 0x20) {
            memcpy(e + 1, "u00", 3);
            e[4] = hex[c >> 4];
            e[5] = hex[c & 15];
            elen = 6;
        } else if (c != '\0') {
            continue;
        }
        r = buf_append(b, run, (size_t)(p - run));
        if (r != AUTHD_OK || c == '\0')
            break;
        r = buf_append(b, e, elen);
        run = p + 1;
    }
    if (r == AUTHD_OK)
        r = buf_append(b, "\"", 1);
    if (r != AUTHD_OK && b->data != NULL) {
        b->len = start; /* as it was */
        b->data[start] = '\0';
    }
    return r;
}

char *
buf_steal(struct buf *b, size_t *len)
{
    char *d = b->data;
    if (d == NULL) {
        d = strdup("");
        if (len)
            *len = 0;
    } else if (len) {
        *len = b->len;
    }
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return d;
}
