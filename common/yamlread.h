/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one libyaml adapter: YAML text -> a jansson tree, with bounds (bytes, depth, nodes),
 * aliases refused (no "billion laughs") and every scalar copy libyaml makes wiped (manifests
 * carry passwords). The tree can come with a line table, so that a caller checking the tree's
 * shape (the callers file) names the line of each problem. Used by authctl's manifests and by
 * authd's callers file.
 */
#ifndef AUTHD_COMMON_YAMLREAD_H
#define AUTHD_COMMON_YAMLREAD_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

/* What went wrong, for callers that word some problems their own way. */
enum yamlread_problem {
    YAMLREAD_NONE = 0,
    YAMLREAD_SYNTAX,        /* invalid YAML */
    YAMLREAD_ALIAS,         /* an alias (*name) */
    YAMLREAD_DUPLICATE_KEY, /* a mapping key given twice: key holds it */
    YAMLREAD_UNSUPPORTED,   /* a tag, a non-scalar key, NUL in a string, a number out of range */
    YAMLREAD_LIMIT,         /* deeper than max_depth, more than max_nodes */
    YAMLREAD_TOO_LARGE,     /* more than max_bytes */
    YAMLREAD_IO,            /* a read error (yamlread_file) */
    YAMLREAD_NOMEM,
};

/* A refusal: where (1-based; 0 when the problem has no place), what, and a sentence. */
struct yamlread_error {
    size_t line;
    size_t column;
    enum yamlread_problem problem;
    char key[64];      /* YAMLREAD_DUPLICATE_KEY: the key, cut to fit */
    char message[200]; /* e.g. "duplicate key 'a'", without the place; "" when none */
};

struct yamlread_opts {
    size_t max_bytes;      /* larger input is refused */
    int max_depth;         /* nested mappings/sequences */
    size_t max_nodes;      /* scalars + keys + mappings + sequences, all documents */
    int scalars_as_string; /* 1: every scalar is a JSON string (no null/boolean/number) */
};

/* Line numbers of the nodes of one converted tree (opaque). */
struct yamlread_lines;

/*
 * Reads all of f (at most max_bytes) into *text (malloc'd, NUL-terminated, *len bytes without
 * the NUL). The text may hold secrets: free it with secret_freezero(*text, *len); every
 * intermediate copy is wiped. AUTHD_OK, AUTHD_ERR_TOO_LARGE, AUTHD_ERR_NOMEM or
 * AUTHD_ERR_INTERNAL (read error), with e filled (e may be NULL).
 */
int yamlread_file(FILE *f, size_t max_bytes, char **text, size_t *len, struct yamlread_error *e);

/*
 * Converts YAML text (len bytes, need not be NUL-terminated; a single document or a `---`
 * stream) into *docs: a JSON array with one element per document. Unless
 * o->scalars_as_string, plain scalars true/false (any case of the first letter, or all upper)
 * become booleans, plain decimal integers integers (a leading zero keeps it a string), plain
 * decimals with a point or exponent reals, plain ~/null/empty null; quoted and block scalars,
 * and anything else, strings. Refused (AUTHD_ERR_INVALID_ARGUMENT): invalid YAML, aliases,
 * explicit tags other than !!str/!!map/!!seq, non-scalar or duplicate mapping keys, NUL in a
 * string or key, integers beyond 64 bits, nesting deeper than o->max_depth, more than
 * o->max_nodes nodes; AUTHD_ERR_TOO_LARGE over o->max_bytes; AUTHD_ERR_NOMEM. e (may be NULL)
 * is cleared, then filled on failure.
 * *docs is NULL on failure; json_decref() it (yamlread_wipe() first when it may hold secrets).
 * lines may be NULL; else *lines gets the line table of *docs (NULL on failure), freed with
 * yamlread_lines_free() and valid while *docs lives.
 */
int yamlread_to_json(const char *text, size_t len, const struct yamlread_opts *o, json_t **docs,
                     struct yamlread_lines **lines, struct yamlread_error *e);

/*
 * The line (1-based) where node starts: a mapping or sequence at its first entry or bracket, a
 * scalar at its first character. 0 when unknown (a node not from this tree, or jansson's shared
 * null/true/false, which have no place of their own).
 */
size_t yamlread_line(const struct yamlread_lines *l, const json_t *node);

/* The line of key in the mapping obj, or 0 when unknown. */
size_t yamlread_key_line(const struct yamlread_lines *l, const json_t *obj, const char *key);

/* Frees the table. NULL is a no-op. */
void yamlread_lines_free(struct yamlread_lines *l);

/* Wipes every string value of the tree in place (before json_decref, when it held secrets). */
void yamlread_wipe(json_t *v);

#endif
