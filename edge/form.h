/* SPDX-License-Identifier: Apache-2.0 */
/*
 * application/x-www-form-urlencoded parser, used for request bodies and query strings alike.
 * It is the only code that walks those untrusted bytes: it is bounded (FORM_MAX_INPUT bytes,
 * FORM_MAX_FIELDS fields), decodes %XX and '+', and refuses malformed escapes and NUL bytes,
 * so handlers only ever see NUL-terminated, decoded keys and values.
 */
#ifndef AUTHD_EDGE_FORM_H
#define AUTHD_EDGE_FORM_H

#include <stddef.h>

#define FORM_MAX_FIELDS 64
#define FORM_MAX_INPUT ((size_t)64 * 1024)

struct form_field {
    const char *key;   /* decoded, NUL-terminated; may be "" */
    const char *value; /* decoded, NUL-terminated; "" when the pair had no '=' */
};

/* A parsed form. Keys and values point into store, which the form owns. */
struct form {
    size_t n;
    struct form_field fields[FORM_MAX_FIELDS];
    char *store; /* decoded bytes; wiped on form_free (forms carry passwords) */
    size_t store_cap;
};

/*
 * Parses the len bytes at in ("a=1&b=two+words&c=%2F"; in may be NULL when len is 0). Empty
 * segments ("&&") are skipped; a segment without '=' is a key with an empty value; duplicate
 * keys are kept in order. On success *out is a new form (free with form_free()). Returns
 * AUTHD_OK, AUTHD_ERR_TOO_LARGE when len > FORM_MAX_INPUT, AUTHD_ERR_INVALID_ARGUMENT for a
 * malformed percent escape, a NUL byte (raw or %00) or more than FORM_MAX_FIELDS fields, or
 * AUTHD_ERR_NOMEM. *out is NULL on failure.
 */
int form_parse(const char *in, size_t len, struct form **out);

/* An empty form (n == 0), for requests without a body. NULL on NOMEM. */
struct form *form_empty(void);

/* The value of the first field named key, or NULL when absent (or f is NULL). Borrowed from f. */
const char *form_get(const struct form *f, const char *key);

/* How many fields are named key (0 for a NULL f). */
size_t form_count(const struct form *f, const char *key);

/*
 * The first of the n_keys names that occurs more than once in f, or NULL (OAuth parameters
 * "MUST NOT be included more than once", RFC 6749 §3.1). Borrowed from keys.
 */
const char *form_repeated(const struct form *f, const char *const *keys, size_t n_keys);

/* Wipes and frees f. NULL is a no-op. */
void form_free(struct form *f);

#endif
