/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JSON request bodies (the two-factor JSON API and the token endpoint's JSON form): the one
 * place that turns those untrusted bytes into a jansson object, with a size and a nesting bound,
 * picks string members out of it and wipes it afterwards (bodies carry passwords, client secrets
 * and codes). Fuzzed by tests/fuzz/fuzz_json_body.c.
 */
#ifndef AUTHD_EDGE_JSON_BODY_H
#define AUTHD_EDGE_JSON_BODY_H

#include <stddef.h>

#include <jansson.h>

#define EDGE_JSON_BODY_MAX ((size_t)64 * 1024) /* bytes: the server's body cap */
#define EDGE_JSON_BODY_DEPTH 32                /* nested arrays/objects, the top object is 1 */

/*
 * Parses the len bytes at body as one JSON object (UTF-8, no duplicate keys, no \u0000 in
 * strings, at most EDGE_JSON_BODY_DEPTH levels). On success *out is a new reference (free with
 * edge_json_wipe() then json_decref()). Returns AUTHD_OK, AUTHD_ERR_TOO_LARGE when len >
 * EDGE_JSON_BODY_MAX, AUTHD_ERR_INVALID_ARGUMENT for anything but such an object (empty input
 * included), or AUTHD_ERR_NOMEM. *out is NULL on failure.
 */
int edge_json_object_parse(const char *body, size_t len, json_t **out);

/*
 * The string members names[0..n) of o: out[i] is the value (borrowed from o, NUL-terminated
 * with no NUL inside) or NULL when the member is absent or null. When a member has another
 * type, *bad is its name (borrowed from names), every out[i] is NULL and the result is
 * AUTHD_ERR_INVALID_ARGUMENT; else *bad is NULL and the result AUTHD_OK.
 */
int edge_json_strings(const json_t *o, const char *const *names, size_t n, const char **out,
                      const char **bad);

/* Overwrites every string value in v (recursively) with zeros. NULL is a no-op. */
void edge_json_wipe(json_t *v);

#endif
