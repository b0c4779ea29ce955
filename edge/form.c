/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Form and query-string decoding. All decoded bytes go into one arena sized from the input
 * (decoding never grows a segment), so parsing allocates twice at most and the whole form is
 * wiped in one call: bodies carry passwords.
 */
#include "edge/form.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"

/*
 * Decodes the n bytes at s into dst (which has room for n + 1 bytes) and NUL-terminates it.
 * Returns the decoded length, or -1 for a malformed escape or a NUL byte.
 */
static long
decode_component(const char *s, size_t n, char *dst)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (n - i < 3)
                return -1;
            int hi = secret_hex_value((unsigned char)s[i + 1]),
                lo = secret_hex_value((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0')
            return -1;
        dst[o++] = c;
    }
    dst[o] = '\0';
    return (long)o;
}

struct form *
form_empty(void)
{
    return calloc(1, sizeof(struct form));
}

int
form_parse(const char *in, size_t len, struct form **out)
{
    int r = AUTHD_ERR_INTERNAL;
    struct form *f = NULL;

    *out = NULL;
    if (len > FORM_MAX_INPUT)
        return AUTHD_ERR_TOO_LARGE;
    if (len > 0 && in == NULL)
        return AUTHD_ERR_INVALID_ARGUMENT;
    f = form_empty();
    if (f == NULL)
        return AUTHD_ERR_NOMEM;
    /* Each field adds at most two NULs beyond its own bytes; '=' and '&' pay for most. */
    f->store_cap = len + (size_t)2 * FORM_MAX_FIELDS + 2;
    f->store = malloc(f->store_cap);
    if (f->store == NULL) {
        r = AUTHD_ERR_NOMEM;
        goto out;
    }
    size_t used = 0, pos = 0;
    while (pos < len) {
        const char *seg = in + pos;
        const char *amp = memchr(seg, '&', len - pos);
        size_t seglen = amp != NULL ? (size_t)(amp - seg) : len - pos;
        pos += seglen + 1;
        if (seglen == 0)
            continue;
        if (f->n == FORM_MAX_FIELDS) {
            r = AUTHD_ERR_INVALID_ARGUMENT;
            goto out;
        }
        const char *eq = memchr(seg, '=', seglen);
        size_t klen = eq != NULL ? (size_t)(eq - seg) : seglen;
        char *key = f->store + used;
        long kd = decode_component(seg, klen, key);
        if (kd < 0) {
            r = AUTHD_ERR_INVALID_ARGUMENT;
            goto out;
        }
        used += (size_t)kd + 1;
        const char *value = "";
        if (eq != NULL) {
            char *v = f->store + used;
            long vd = decode_component(eq + 1, seglen - klen - 1, v);
            if (vd < 0) {
                r = AUTHD_ERR_INVALID_ARGUMENT;
                goto out;
            }
            used += (size_t)vd + 1;
            value = v;
        }
        f->fields[f->n].key = key;
        f->fields[f->n].value = value;
        f->n++;
    }
    *out = f;
    f = NULL;
    r = AUTHD_OK;
out:
    form_free(f);
    return r;
}

const char *
form_get(const struct form *f, const char *key)
{
    if (f == NULL || key == NULL)
        return NULL;
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->fields[i].key, key) == 0)
            return f->fields[i].value;
    return NULL;
}

size_t
form_count(const struct form *f, const char *key)
{
    size_t n = 0;
    if (f == NULL || key == NULL)
        return 0;
    for (size_t i = 0; i < f->n; i++)
        n += strcmp(f->fields[i].key, key) == 0;
    return n;
}

const char *
form_repeated(const struct form *f, const char *const *keys, size_t n_keys)
{
    for (size_t i = 0; i < n_keys; i++)
        if (form_count(f, keys[i]) > 1)
            return keys[i];
    return NULL;
}

void
form_free(struct form *f)
{
    if (f == NULL)
        return;
    secret_freezero(f->store, f->store_cap);
    free(f);
}
