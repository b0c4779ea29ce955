/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CSRF protection by double submit: the cookie CSRF_COOKIE holds 32 random bytes (base64url);
 * every page with a POST form embeds the same value in a hidden field CSRF_FIELD; every form
 * POST must present both, equal (compared in constant time). The cookie is SameSite=Strict
 * and HttpOnly, so another site can neither send nor read it. An Origin header, when the
 * browser sends one, must also be our own public origin.
 */
#ifndef AUTHD_EDGE_CSRF_H
#define AUTHD_EDGE_CSRF_H

#include <stddef.h>

#define CSRF_COOKIE "csrf"
#define CSRF_FIELD "csrf"
#define CSRF_TOKEN_BYTES 32
#define CSRF_TOKEN_LEN 43 /* base64url characters of CSRF_TOKEN_BYTES */

/* Writes a fresh token (CSRF_TOKEN_LEN chars + NUL) into out. AUTHD_OK or AUTHD_ERR_INTERNAL. */
int csrf_token_new(char out[CSRF_TOKEN_LEN + 1]);

/* 1 when tok has the shape of a token (CSRF_TOKEN_LEN base64url characters), else 0. */
int csrf_token_valid(const char *tok);

/*
 * 1 when cookie and field are both well-formed tokens and equal (constant time), else 0
 * (missing, empty, malformed or different).
 */
int csrf_check(const char *cookie, const char *field);

/*
 * 1 when a request's Origin header is acceptable: absent (NULL), or equal to expected (our
 * public origin "scheme://host[:port]", compared case-insensitively). "null" and anything else
 * give 0.
 */
int csrf_origin_ok(const char *origin, const char *expected);

#endif
