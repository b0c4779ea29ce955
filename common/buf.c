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
