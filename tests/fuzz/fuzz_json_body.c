/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: JSON request bodies (edge/json_body.h), as the two-factor JSON API and the
 * token endpoint read them: parse, pick the string members they ask for, wipe, free.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/err.h"
#include "edge/json_body.h"

/* The members the JSON routes read (flow_2fa_api.c, flow_token.c). */
static const char *const names[] = {
    "token",         "transport",     "grant_type",    "code",     "redirect_uri",
    "code_verifier", "client_id",     "client_secret", "username", "password",
    "totp",          "refresh_token", "scope",
};
#define N_NAMES (sizeof(names) / sizeof(names[0]))

/* Every string in v is all zeros. */
static int
wiped(const json_t *v)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        for (size_t i = 0; i < json_string_length(v); i++)
            if (s[i] != '\0')
                return 0;
        return 1;
    }
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            if (!wiped(json_array_get(v, i)))
                return 0;
        return 1;
    }
    if (json_is_object(v)) {
        const char *key;
        json_t *m;
        json_object_foreach((json_t *)v, key, m)
        {
            if (!wiped(m))
                return 0;
        }
    }
    return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy (the server's body is NUL-terminated, but the parser is given len). */
    char *in = malloc(size ? size : 1);
    if (!in)
        return 0;
    if (size)
        memcpy(in, data, size);
    json_t *o = (json_t *)1;
    int rc = edge_json_object_parse(size ? in : NULL, size, &o);
    if (rc != AUTHD_OK) {
        if (o != NULL)
            abort(); /* *out is NULL on failure */
        if (rc != AUTHD_ERR_INVALID_ARGUMENT && rc != AUTHD_ERR_TOO_LARGE && rc != AUTHD_ERR_NOMEM)
            abort();
        if (rc == AUTHD_ERR_TOO_LARGE && size <= EDGE_JSON_BODY_MAX)
            abort();
        free(in);
        return 0;
    }
    if (!json_is_object(o) || size == 0 || size > EDGE_JSON_BODY_MAX)
        abort();

    const char *v[N_NAMES];
    const char *bad = (const char *)1;
    rc = edge_json_strings(o, names, N_NAMES, v, &bad);
    for (size_t i = 0; i < N_NAMES; i++) {
        const json_t *m = json_object_get(o, names[i]);
        if (rc != AUTHD_OK) {
            if (v[i] != NULL)
                abort();
            continue;
        }
        if (v[i] == NULL) {
            if (m != NULL && !json_is_null(m))
                abort(); /* a present string member was dropped */
            continue;
        }
        /* A borrowed, NUL-free string no longer than the body. */
        if (!json_is_string(m) || v[i] != json_string_value(m))
            abort();
        if (strlen(v[i]) != json_string_length(m) || strlen(v[i]) > size)
            abort();
    }
    if (rc == AUTHD_OK) {
        if (bad != NULL)
            abort();
    } else {
        if (rc != AUTHD_ERR_INVALID_ARGUMENT || bad == NULL)
            abort();
        const json_t *m = json_object_get(o, bad);
        if (m == NULL || json_is_string(m) || json_is_null(m))
            abort(); /* the member named bad is there and not a string */
    }

    edge_json_wipe(o);
    if (!wiped(o))
        abort();
    json_decref(o);
    free(in);
    return 0;
}
