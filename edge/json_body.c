/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JSON request bodies (see json_body.h). jansson does the parsing; this file adds the bounds,
 * the member extraction every JSON route shares and the wipe.
 */
#include "edge/json_body.h"

#include "common/err.h"
#include "common/secret.h"

/* Whether v nests at most max levels (a scalar is 0, {} or [] is 1). */
static int
depth_ok(const json_t *v, int max)
{
    if (!json_is_object(v) && !json_is_array(v))
        return 1;
    if (max <= 0)
        return 0;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            if (!depth_ok(json_array_get(v, i), max - 1))
                return 0;
        return 1;
    }
    const char *key;
    const json_t *m;
    json_object_foreach((json_t *)v, key, m)
    {
        if (!depth_ok(m, max - 1))
            return 0;
    }
    return 1;
}

int
edge_json_object_parse(const char *body, size_t len, json_t **out)
{
    *out = NULL;
    if (len > EDGE_JSON_BODY_MAX)
        return AUTHD_ERR_TOO_LARGE;
    if (body == NULL || len == 0)
        return AUTHD_ERR_INVALID_ARGUMENT;
    json_error_t jerr;
    json_t *v = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (v == NULL)
        return json_error_code(&jerr) == json_error_out_of_memory ? AUTHD_ERR_NOMEM
                                                                  : AUTHD_ERR_INVALID_ARGUMENT;
    if (!json_is_object(v) || !depth_ok(v, EDGE_JSON_BODY_DEPTH)) {
        edge_json_wipe(v);
        json_decref(v);
        return AUTHD_ERR_INVALID_ARGUMENT;
    }
    *out = v;
    return AUTHD_OK;
}

int
edge_json_strings(const json_t *o, const char *const *names, size_t n, const char **out,
                  const char **bad)
{
    *bad = NULL;
    for (size_t i = 0; i < n; i++)
        out[i] = NULL;
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_object_get(o, names[i]);
        if (v == NULL || json_is_null(v))
            continue;
        if (!json_is_string(v)) {
            *bad = names[i];
            for (size_t k = 0; k < n; k++)
                out[k] = NULL;
            return AUTHD_ERR_INVALID_ARGUMENT;
        }
        /* json_loadb() without JSON_ALLOW_NUL refuses \u0000: the C string is the whole value. */
        out[i] = json_string_value(v);
    }
    return AUTHD_OK;
}

void
edge_json_wipe(json_t *v)
{
    if (json_is_string(v)) {
        secret_wipe((char *)json_string_value(v), json_string_length(v));
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            edge_json_wipe(json_array_get(v, i));
    } else if (json_is_object(v)) {
        const char *key;
        json_t *m;
        json_object_foreach(v, key, m)
        {
            edge_json_wipe(m);
        }
    }
}
