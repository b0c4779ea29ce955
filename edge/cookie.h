/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cookie header parsing (the RFC 6265 cookie-string "a=b; c=d") and Set-Cookie building.
 * The parser is the only code that walks the untrusted header: bounded (COOKIE_MAX_HEADER
 * bytes, COOKIE_MAX cookies), tolerant of extra spaces and of pieces without a name, and it
 * strips the optional double quotes around a value.
 */
#ifndef AUTHD_EDGE_COOKIE_H
#define AUTHD_EDGE_COOKIE_H

#include <stddef.h>

#include "common/buf.h"

#define COOKIE_MAX 64
#define COOKIE_MAX_HEADER ((size_t)16 * 1024)

struct cookie {
    const char *name;  /* NUL-terminated, non-empty */
    const char *value; /* NUL-terminated, quotes stripped; may be "" */
};

/* The cookies of one request. Names and values point into store, which the jar owns. */
struct cookie_jar {
    size_t n;
    struct cookie c[COOKIE_MAX];
    char *store; /* wiped on cookie_jar_free (cookies carry session tokens) */
    size_t store_cap;
};

/*
 * Parses a Cookie header value (NULL or "" give an empty jar). Pieces without '=' or with an
 * empty name are skipped; cookies past COOKIE_MAX are ignored; duplicate names are kept in
 * order (browsers send the most specific first). On success *out is a new jar (free with
 * cookie_jar_free()). AUTHD_OK, AUTHD_ERR_TOO_LARGE past COOKIE_MAX_HEADER, or
 * AUTHD_ERR_NOMEM; *out is NULL on failure.
 */
int cookie_parse(const char *header, struct cookie_jar **out);

/* An empty jar. NULL on NOMEM. */
struct cookie_jar *cookie_jar_empty(void);

/* The value of the first cookie named name, or NULL (also for a NULL jar). Borrowed. */
const char *cookie_get(const struct cookie_jar *j, const char *name);

/* Wipes and frees j. NULL is a no-op. */
void cookie_jar_free(struct cookie_jar *j);

/* Set-Cookie attributes for cookie_build(). */
#define COOKIE_HTTPONLY 0x1u
#define COOKIE_SECURE 0x2u
#define COOKIE_SAMESITE_LAX 0x4u
#define COOKIE_SAMESITE_STRICT 0x8u

/*
 * Appends a Set-Cookie header value to b:
 *   name=value; Path=/[; Max-Age=N][; HttpOnly][; Secure][; SameSite=Lax|Strict]
 * max_age < 0 leaves Max-Age out (a browser-session cookie); 0 deletes the cookie. name must
 * be an RFC 7230 token and value RFC 6265 cookie-octets, else AUTHD_ERR_INVALID_ARGUMENT and
 * nothing is appended. AUTHD_OK, or the buf_* error.
 */
int cookie_build(struct buf *b, const char *name, const char *value, unsigned flags,
                 long long max_age);

#endif
