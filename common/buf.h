/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A growable byte buffer that must be given a maximum (curl's dynbuf idea): every append past
 * the maximum fails instead of growing without bound. The content is always NUL-terminated.
 * The buffer owns its memory; buf_free() wipes it, since pages and bodies may hold secrets.
 */
#ifndef AUTHD_COMMON_BUF_H
#define AUTHD_COMMON_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char *data; /* NUL-terminated; NULL until the first append */
    size_t len; /* bytes used, without the NUL */
    size_t cap; /* bytes allocated */
    size_t max; /* largest len allowed */
};

/* Prepares an empty buffer that may hold up to max bytes. Allocates nothing. */
void buf_init(struct buf *b, size_t max);

/* Wipes and frees the content; the buffer is empty and reusable afterwards. */
void buf_free(struct buf *b);

/* Appends n bytes. 0, or AUTHD_ERR_TOO_LARGE past max, or AUTHD_ERR_NOMEM. */
int buf_append(struct buf *b, const void *p, size_t n);

/* Appends a NUL-terminated string (NULL appends nothing). */
int buf_puts(struct buf *b, const char *s);

/* Appends printf-formatted text. */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends s with & < > " ' escaped for HTML text and attribute values (NULL appends nothing). */
int buf_html(struct buf *b, const char *s);

/* Appends s percent-encoded for a URL query component (unreserved characters kept). */
int buf_urlenc(struct buf *b, const char *s);

/*
 * Appends s as a JSON string literal (RFC 8259 §7): in double quotes, with " \ and the control
 * characters escaped as jansson's json_dumps writes them (\b \f \n \r \t, else \u00XX), every
 * other byte as it is. s must be UTF-8 (RFC 3629: no overlong forms, surrogates or code points
 * past U+10FFFF), as jansson's json_string() demands: AUTHD_ERR_INVALID_ARGUMENT otherwise (or
 * for NULL), with b left as it was. Else as buf_append.
 */
int buf_json(struct buf *b, const char *s);

/* Hands the content to the caller (NUL-terminated, "" when empty; NULL on NOMEM) and resets b. */
char *buf_steal(struct buf *b, size_t *len);

#endif
