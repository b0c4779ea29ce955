/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A bounded YAML -> JSON converter on libyaml's event API (depth, node and size limits; aliases
 * refused, so no "billion laughs"), with an optional table of the line each node starts on.
 * The input may hold passwords: every copy we control is wiped before release.
 */
#include "common/yamlread.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "common/err.h"
#include "common/secret.h"

/* ---- errors ------------------------------------------------------------------------------- */

static int vfail(struct yamlread_error *e, int r, enum yamlread_problem problem,
                 const yaml_mark_t *mark, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));

/* Fills e (when not NULL) and returns r. */
static int
vfail(struct yamlread_error *e, int r, enum yamlread_problem problem, const yaml_mark_t *mark,
      const char *fmt, va_list ap)
{
    if (e == NULL)
        return r;
    e->problem = problem;
    e->line = mark != NULL ? mark->line + 1 : 0;
    e->column = mark != NULL ? mark->column + 1 : 0;
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    return r;
}

static int fail(struct yamlread_error *e, int r, enum yamlread_problem problem,
                const yaml_mark_t *mark, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int
fail(struct yamlread_error *e, int r, enum yamlread_problem problem, const yaml_mark_t *mark,
     const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    r = vfail(e, r, problem, mark, fmt, ap);
    va_end(ap);
    return r;
}

static int
nomem(struct yamlread_error *e)
{
    return fail(e, AUTHD_ERR_NOMEM, YAMLREAD_NOMEM, NULL, "out of memory");
}

static void
clear_error(struct yamlread_error *e)
{
    if (e != NULL)
        memset(e, 0, sizeof(*e));
}

/* ---- reading ------------------------------------------------------------------------------ */

/* Moves the n bytes of *buf into a new block of ncap bytes. Grown by hand, not realloc, so
 * that the old block is wiped (it may hold passwords). 0, or -1 (then *buf is unchanged). */
static int
move_to(char **buf, size_t *cap, size_t n, size_t ncap)
{
    char *nbuf = malloc(ncap);

    if (nbuf == NULL)
        return -1;
    memcpy(nbuf, *buf, n);
    secret_freezero(*buf, *cap);
    *buf = nbuf;
    *cap = ncap;
    return 0;
}

int
yamlread_file(FILE *f, size_t max_bytes, char **text, size_t *len, struct yamlread_error *e)
{
    size_t cap = max_bytes < 64 * 1024 ? max_bytes + 1 : 64 * 1024, n = 0;
    char *buf = malloc(cap);
    int r;

    *text = NULL;
    *len = 0;
    clear_error(e);
    if (buf == NULL)
        return nomem(e);
    for (;;) {
        if (n == cap) {
            if (cap > max_bytes) {
                r = fail(e, AUTHD_ERR_TOO_LARGE, YAMLREAD_TOO_LARGE, NULL, "larger than %zu bytes",
                         max_bytes);
                goto out;
            }
            if (move_to(&buf, &cap, n, cap * 2 > max_bytes + 1 ? max_bytes + 1 : cap * 2) != 0) {
                r = nomem(e);
                goto out;
            }
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        r = fail(e, AUTHD_ERR_INTERNAL, YAMLREAD_IO, NULL, "read error: %s", strerror(errno));
        goto out;
    }
    if (n > max_bytes) {
        r = fail(e, AUTHD_ERR_TOO_LARGE, YAMLREAD_TOO_LARGE, NULL, "larger than %zu bytes",
                 max_bytes);
        goto out;
    }
    if (n == cap && move_to(&buf, &cap, n, n + 1) != 0) {
        r = nomem(e);
        goto out;
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    buf = NULL;
    r = AUTHD_OK;
out:
    secret_freezero(buf, cap);
    return r;
}

/* ---- the line table ----------------------------------------------------------------------- */

/* The line of a node (key NULL) or of a key of a mapping (node is the mapping). */
struct line_rec {
    const json_t *node;
    char *key;
    size_t line;
};

struct yamlread_lines {
    struct line_rec *r;
    size_t n, cap;
};

static int
lines_add(struct yamlread_lines *l, const json_t *node, const char *key, size_t line)
{
    if (l == NULL)
        return AUTHD_OK;
    if (l->n == l->cap) {
        size_t cap = l->cap == 0 ? 64 : l->cap * 2;
        struct line_rec *r = realloc(l->r, cap * sizeof(*r));
        if (r == NULL)
            return AUTHD_ERR_NOMEM;
        l->r = r;
        l->cap = cap;
    }
    char *copy = NULL;
    if (key != NULL && (copy = strdup(key)) == NULL)
        return AUTHD_ERR_NOMEM;
    l->r[l->n++] = (struct line_rec){node, copy, line};
    return AUTHD_OK;
}

/* Orders by node, then node lines before key lines, then key. */
static int
rec_cmp(const void *a, const void *b)
{
    const struct line_rec *x = a, *y = b;
    uintptr_t px = (uintptr_t)x->node, py = (uintptr_t)y->node;

    if (px != py)
        return px < py ? -1 : 1;
    if (x->key == NULL || y->key == NULL)
        return (x->key != NULL) - (y->key != NULL);
    return strcmp(x->key, y->key);
}

static size_t
lines_find(const struct yamlread_lines *l, const json_t *node, const char *key)
{
    struct line_rec want = {node, (char *)key, 0};

    if (l == NULL || node == NULL || l->n == 0)
        return 0;
    const struct line_rec *hit = bsearch(&want, l->r, l->n, sizeof(*l->r), rec_cmp);
    return hit != NULL ? hit->line : 0;
}

size_t
yamlread_line(const struct yamlread_lines *l, const json_t *node)
{
    return lines_find(l, node, NULL);
}

size_t
yamlread_key_line(const struct yamlread_lines *l, const json_t *obj, const char *key)
{
    return key != NULL ? lines_find(l, obj, key) : 0;
}

void
yamlread_lines_free(struct yamlread_lines *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->r[i].key);
    free(l->r);
    free(l);
}

/* ---- YAML -> JSON ------------------------------------------------------------------------- */

struct yconv {
    yaml_parser_t parser;
    const struct yamlread_opts *o;
    size_t nodes;
    struct yamlread_lines *lines; /* NULL: no table wanted */
    struct yamlread_error *e;
};

static int yerr(struct yconv *c, enum yamlread_problem problem, const yaml_mark_t *mark,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* A refusal of the input at mark. */
static int
yerr(struct yconv *c, enum yamlread_problem problem, const yaml_mark_t *mark, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    int r = vfail(c->e, AUTHD_ERR_INVALID_ARGUMENT, problem, mark, fmt, ap);
    va_end(ap);
    return r;
}

/* Scalars may be passwords: wipe libyaml's copy before it frees it. */
static void
event_delete(yaml_event_t *ev)
{
    if (ev->type == YAML_SCALAR_EVENT && ev->data.scalar.value != NULL)
        secret_wipe(ev->data.scalar.value, ev->data.scalar.length);
    yaml_event_delete(ev);
}

static int
next_event(struct yconv *c, yaml_event_t *ev)
{
    memset(ev, 0, sizeof(*ev));
    if (yaml_parser_parse(&c->parser, ev))
        return AUTHD_OK;
    if (c->parser.error == YAML_MEMORY_ERROR)
        return nomem(c->e);
    const char *problem = c->parser.problem != NULL ? c->parser.problem : "invalid YAML";
    if (c->parser.context != NULL)
        return yerr(c, YAMLREAD_SYNTAX, &c->parser.problem_mark, "invalid YAML: %s %s", problem,
                    c->parser.context);
    return yerr(c, YAMLREAD_SYNTAX, &c->parser.problem_mark, "invalid YAML: %s", problem);
}

static int
is_digits(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
    }
    return 1;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? with at least a point or an exponent. */
static int
is_decimal(const char *s, size_t n)
{
    size_t i = 0, digits = 0;
    int point = 0, exp = 0;

    if (i < n && (s[i] == '-' || s[i] == '+'))
        i++;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
        digits++;
    if (i < n && s[i] == '.') {
        point = 1;
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            digits++;
    }
    if (digits == 0)
        return 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        exp = 1;
        i++;
        if (i < n && (s[i] == '-' || s[i] == '+'))
            i++;
        if (!is_digits(s + i, n - i))
            return 0;
        i = n;
    }
    return i == n && (point || exp);
}

/* Resolves an untagged plain scalar (YAML 1.2 core schema, decimal integers only). */
static int
plain_scalar(struct yconv *c, const yaml_event_t *ev, json_t **out)
{
    /* The core schema's null and boolean words. */
    static const struct {
        const char *word;
        int kind; /* 0 null, 1 true, 2 false */
    } words[] = {{"~", 0},    {"null", 0}, {"Null", 0},  {"NULL", 0},  {"true", 1},
                 {"True", 1}, {"TRUE", 1}, {"false", 2}, {"False", 2}, {"FALSE", 2}};
    const char *s = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;

    for (size_t i = 0; n > 0 && i < sizeof(words) / sizeof(words[0]); i++) {
        if (strcmp(s, words[i].word) == 0) {
            *out = words[i].kind == 0 ? json_null() : json_boolean(words[i].kind == 1);
            return AUTHD_OK;
        }
    }
    if (n == 0) {
        *out = json_null();
        return AUTHD_OK;
    }
    size_t sign = (s[0] == '-' || s[0] == '+') ? 1 : 0;
    /* A leading zero is an octal number in YAML 1.1 and a decimal in 1.2: keep it a string,
     * so that the mapping reports it rather than guessing. */
    if (is_digits(s + sign, n - sign) && !(n - sign > 1 && s[sign] == '0')) {
        errno = 0;
        char *end;
        long long v = strtoll(s, &end, 10);
        if (errno == ERANGE || *end != '\0')
            return yerr(c, YAMLREAD_UNSUPPORTED, &ev->start_mark, "integer %.40s is out of range",
                        s);
        *out = json_integer((json_int_t)v);
        return *out != NULL ? AUTHD_OK : AUTHD_ERR_NOMEM;
    }
    if (is_decimal(s, n)) {
        double d = strtod(s, NULL);
        *out = json_real(d); /* NULL for inf/nan, reported below as out of range */
        if (*out == NULL)
            return yerr(c, YAMLREAD_UNSUPPORTED, &ev->start_mark, "number %.40s is out of range",
                        s);
        return AUTHD_OK;
    }
    *out = json_stringn(s, n);
    return *out != NULL ? AUTHD_OK : AUTHD_ERR_NOMEM;
}

static int
scalar_to_json(struct yconv *c, const yaml_event_t *ev, json_t **out)
{
    const char *tag = (const char *)ev->data.scalar.tag;
    const char *s = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;

    if (memchr(s, '\0', n) != NULL)
        return yerr(c, YAMLREAD_UNSUPPORTED, &ev->start_mark, "NUL character in a string");
    if (tag != NULL && strcmp(tag, "!") != 0 && strcmp(tag, YAML_STR_TAG) != 0)
        return yerr(c, YAMLREAD_UNSUPPORTED, &ev->start_mark, "unsupported tag %.60s", tag);
    if (tag == NULL && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !c->o->scalars_as_string)
        return plain_scalar(c, ev, out);
    *out = json_stringn(s, n);
    return *out != NULL ? AUTHD_OK : AUTHD_ERR_NOMEM;
}

static int convert_node(struct yconv *c, yaml_event_t *ev, int depth, json_t **out);

static int
duplicate_key(struct yconv *c, const yaml_mark_t *mark, const char *k)
{
    if (c->e != NULL)
        snprintf(c->e->key, sizeof(c->e->key), "%s", k);
    return yerr(c, YAMLREAD_DUPLICATE_KEY, mark, "duplicate key '%.60s'", k);
}

/* Reads the entries of a mapping (is_map) or sequence up to its end event. */
static int
convert_container(struct yconv *c, int is_map, int depth, json_t *container)
{
    yaml_event_t ev, kev;
    char *key = NULL;
    int r;

    for (;;) {
        if ((r = next_event(c, &ev)) != AUTHD_OK)
            goto out;
        if (ev.type == YAML_MAPPING_END_EVENT || ev.type == YAML_SEQUENCE_END_EVENT) {
            event_delete(&ev);
            r = AUTHD_OK;
            goto out;
        }
        json_t *child = NULL;
        if (!is_map) {
            if ((r = convert_node(c, &ev, depth + 1, &child)) != AUTHD_OK)
                goto out;
            if (json_array_append_new(container, child) != 0) {
                r = AUTHD_ERR_NOMEM;
                goto out;
            }
            continue;
        }
        /* A mapping entry: a scalar key, then the value node. */
        kev = ev;
        if (kev.type != YAML_SCALAR_EVENT) {
            r = kev.type == YAML_ALIAS_EVENT
                    ? yerr(c, YAMLREAD_ALIAS, &kev.start_mark,
                           "aliases are not supported; write the value out")
                    : yerr(c, YAMLREAD_UNSUPPORTED, &kev.start_mark,
                           "mapping keys must be plain strings");
            event_delete(&kev);
            goto out;
        }
        const char *k = (const char *)kev.data.scalar.value;
        size_t klen = kev.data.scalar.length;
        if (++c->nodes > c->o->max_nodes)
            r = yerr(c, YAMLREAD_LIMIT, &kev.start_mark, "more than %zu nodes", c->o->max_nodes);
        else if (memchr(k, '\0', klen) != NULL)
            r = yerr(c, YAMLREAD_UNSUPPORTED, &kev.start_mark, "NUL character in a key");
        else if (json_object_get(container, k) != NULL)
            r = duplicate_key(c, &kev.start_mark, k);
        else if ((key = strdup(k)) == NULL)
            r = AUTHD_ERR_NOMEM;
        else if (c->lines != NULL)
            r = lines_add(c->lines, container, k, kev.start_mark.line + 1);
        event_delete(&kev);
        if (key == NULL || r != AUTHD_OK)
            goto out;
        if ((r = next_event(c, &ev)) != AUTHD_OK)
            goto out;
        if ((r = convert_node(c, &ev, depth + 1, &child)) != AUTHD_OK)
            goto out;
        if (json_object_set_new(container, key, child) != 0) {
            r = AUTHD_ERR_NOMEM;
            goto out;
        }
        free(key);
        key = NULL;
    }
out:
    free(key);
    return r;
}

/* Converts the node that starts with ev (consumed) into *out. */
static int
convert_node(struct yconv *c, yaml_event_t *ev, int depth, json_t **out)
{
    json_t *v = NULL;
    size_t line = ev->start_mark.line + 1;
    int r;

    *out = NULL;
    if (++c->nodes > c->o->max_nodes) {
        r = yerr(c, YAMLREAD_LIMIT, &ev->start_mark, "more than %zu nodes", c->o->max_nodes);
        goto out;
    }
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        r = yerr(c, YAMLREAD_ALIAS, &ev->start_mark,
                 "aliases (*%.40s) are not supported; write the value out",
                 (const char *)ev->data.alias.anchor);
        break;
    case YAML_SCALAR_EVENT:
        r = scalar_to_json(c, ev, &v);
        break;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        int is_map = ev->type == YAML_MAPPING_START_EVENT;
        const char *tag =
            (const char *)(is_map ? ev->data.mapping_start.tag : ev->data.sequence_start.tag);
        if (depth > c->o->max_depth) {
            r = yerr(c, YAMLREAD_LIMIT, &ev->start_mark, "nesting deeper than %d levels",
                     c->o->max_depth);
            break;
        }
        if (tag != NULL && strcmp(tag, "!") != 0 &&
            strcmp(tag, is_map ? YAML_MAP_TAG : YAML_SEQ_TAG) != 0) {
            r = yerr(c, YAMLREAD_UNSUPPORTED, &ev->start_mark, "unsupported tag %.60s", tag);
            break;
        }
        v = is_map ? json_object() : json_array();
        if (v == NULL) {
            r = AUTHD_ERR_NOMEM;
            break;
        }
        r = convert_container(c, is_map, depth, v);
        break;
    }
    default:
        r = yerr(c, YAMLREAD_SYNTAX, &ev->start_mark, "unexpected YAML event");
        break;
    }
out:
    event_delete(ev);
    /* jansson's null, true and false are shared: they get no line. */
    if (r == AUTHD_OK && c->lines != NULL && !json_is_null(v) && !json_is_boolean(v))
        r = lines_add(c->lines, v, NULL, line);
    if (r != AUTHD_OK) {
        json_decref(v);
        if (r == AUTHD_ERR_NOMEM)
            nomem(c->e);
        return r;
    }
    *out = v;
    return AUTHD_OK;
}

/* Wipes the input copies libyaml keeps in its (public) buffer structs. Best effort: libyaml
 * may also have left copies in memory it reallocated while scanning. */
static void
parser_wipe(yaml_parser_t *p)
{
    if (p->buffer.start != NULL)
        secret_wipe(p->buffer.start, (size_t)(p->buffer.end - p->buffer.start));
    if (p->raw_buffer.start != NULL)
        secret_wipe(p->raw_buffer.start, (size_t)(p->raw_buffer.end - p->raw_buffer.start));
}

/* The documents of the stream, each appended to arr. */
static int
convert_stream(struct yconv *c, json_t *arr)
{
    yaml_event_t ev;
    int r;

    for (;;) {
        if ((r = next_event(c, &ev)) != AUTHD_OK)
            return r;
        yaml_event_type_t type = ev.type;
        event_delete(&ev);
        if (type == YAML_STREAM_END_EVENT)
            return AUTHD_OK;
        if (type != YAML_DOCUMENT_START_EVENT)
            continue; /* stream start, document end */
        json_t *doc = NULL;
        if ((r = next_event(c, &ev)) != AUTHD_OK)
            return r;
        if ((r = convert_node(c, &ev, 1, &doc)) != AUTHD_OK)
            return r;
        if (json_array_append_new(arr, doc) != 0)
            return nomem(c->e);
    }
}

int
yamlread_to_json(const char *text, size_t len, const struct yamlread_opts *o, json_t **docs,
                 struct yamlread_lines **lines, struct yamlread_error *e)
{
    struct yconv c;
    json_t *arr = NULL;
    int r, parser_ok = 0;

    *docs = NULL;
    if (lines != NULL)
        *lines = NULL;
    clear_error(e);
    memset(&c, 0, sizeof(c));
    c.o = o;
    c.e = e;
    if (text == NULL)
        return fail(e, AUTHD_ERR_INVALID_ARGUMENT, YAMLREAD_SYNTAX, NULL, "no text");
    if (len > o->max_bytes)
        return fail(e, AUTHD_ERR_TOO_LARGE, YAMLREAD_TOO_LARGE, NULL, "larger than %zu bytes",
                    o->max_bytes);
    if ((lines != NULL && (c.lines = calloc(1, sizeof(*c.lines))) == NULL) ||
        (arr = json_array()) == NULL || !yaml_parser_initialize(&c.parser)) {
        r = nomem(e);
        goto out;
    }
    parser_ok = 1;
    yaml_parser_set_input_string(&c.parser, (const unsigned char *)text, len);
    if ((r = convert_stream(&c, arr)) != AUTHD_OK)
        goto out;
    if (c.lines != NULL) {
        if (c.lines->n > 0) /* an empty stream has no records (and r may be NULL) */
            qsort(c.lines->r, c.lines->n, sizeof(*c.lines->r), rec_cmp);
        *lines = c.lines;
        c.lines = NULL;
    }
    *docs = arr;
    arr = NULL;
out:
    if (parser_ok) {
        parser_wipe(&c.parser);
        yaml_parser_delete(&c.parser);
    }
    if (arr != NULL) {
        yamlread_wipe(arr);
        json_decref(arr);
    }
    yamlread_lines_free(c.lines);
    return r;
}

void
yamlread_wipe(json_t *v)
{
    const char *key;
    json_t *child;
    size_t i;

    if (v == NULL)
        return;
    switch (json_typeof(v)) {
    case JSON_STRING:
        /* jansson owns a writable malloc'd copy; the value is about to be freed. */
        secret_wipe((char *)(uintptr_t)json_string_value(v), json_string_length(v));
        break;
    case JSON_OBJECT:
        json_object_foreach(v, key, child)
        {
            yamlread_wipe(child);
        }
        break;
    case JSON_ARRAY:
        json_array_foreach(v, i, child)
        {
            yamlread_wipe(child);
        }
        break;
    default:
        break;
    }
}
