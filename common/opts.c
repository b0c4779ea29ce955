/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The option-table engine: defaults, environment, then getopt_long over a struct option array
 * built from the table; --help printed from the same table.
 */
#include "common/opts.h"

#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef AUTHD_VERSION
#define AUTHD_VERSION "unknown"
#endif

#define HELP_COLUMN 30 /* where help text starts in --help */
#define ID_HELP 1      /* getopt values of the built-in options; rows are ID_ROW + index */
#define ID_VERSION 2
#define ID_ROW 256

const char *
opts_version(void)
{
    return AUTHD_VERSION;
}

int
opts_parse_int(const char *s, long long min, long long max, long long *out)
{
    char *end = NULL;

    if (s == NULL || s[0] == '\0')
        return -1;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* 1 when word is one of the '|'-separated words of list. */
static int
is_choice(const char *list, const char *word)
{
    size_t n = strlen(word);

    while (list != NULL && *list != '\0') {
        size_t len = strcspn(list, "|");
        if (len == n && strncmp(list, word, n) == 0)
            return 1;
        list += len + (list[len] == '|');
    }
    return 0;
}

static int
truthy(const char *s)
{
    return strcmp(s, "1") == 0 || strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0 ||
           strcasecmp(s, "on") == 0;
}

/* Stores v into the row's field (the size says which integer type it is). */
static void
store_int(const struct opts_spec *s, void *out, long long v)
{
    char *field = (char *)out + s->offset;

    if (s->size == sizeof(int32_t)) {
        int32_t x = (int32_t)v;
        memcpy(field, &x, sizeof(x));
    } else {
        int64_t x = (int64_t)v;
        memcpy(field, &x, sizeof(x));
    }
}

/*
 * Applies one value to the row's field; origin ("--workers", "AUTHD_WORKERS", "default") names
 * it in the message. from_flag: an OPTS_FLAG given on the command line (no value).
 */
static int
apply(const struct opts_program *p, const struct opts_spec *s, void *out, const char *v,
      const char *origin, int from_flag)
{
    char *field = (char *)out + s->offset;
    long long n;

    switch (s->type) {
    case OPTS_STRING:
        memcpy(field, &v, sizeof(v));
        return 0;
    case OPTS_CHOICE:
        if (!is_choice(s->choices, v)) {
            fprintf(stderr, "%s: %s: expected one of %s\n", p->name, origin, s->choices);
            return -1;
        }
        memcpy(field, &v, sizeof(v));
        return 0;
    case OPTS_INT:
        if (opts_parse_int(v, s->min, s->max, &n) != 0) {
            fprintf(stderr, "%s: %s: expected a number in %lld..%lld\n", p->name, origin, s->min,
                    s->max);
            return -1;
        }
        store_int(s, out, n);
        return 0;
    case OPTS_FLAG:
        store_int(s, out, from_flag || truthy(v));
        return 0;
    }
    return -1;
}

/* Defaults, then the environment. */
static int
apply_defaults_and_env(const struct opts_program *p, void *out)
{
    for (size_t i = 0; i < p->n_specs; i++) {
        const struct opts_spec *s = &p->specs[i];
        const char *v = s->env != NULL ? getenv(s->env) : NULL;
        if (s->def != NULL && apply(p, s, out, s->def, "default", 0) != 0)
            return -1;
        if (v != NULL && v[0] != '\0' && apply(p, s, out, v, s->env, 0) != 0)
            return -1;
    }
    return 0;
}

/* The struct option array and short-option string of the table (malloc'd; free both). */
static int
build_getopt(const struct opts_program *p, struct option **lo, char **so)
{
    size_t n = 0, k = 0;

    *lo = calloc(p->n_specs + 3, sizeof(**lo));
    *so = malloc(2 * p->n_specs + 2);
    if (*lo == NULL || *so == NULL)
        return -1;
    if (p->stop_at_operand)
        (*so)[k++] = '+';
    for (size_t i = 0; i < p->n_specs; i++) {
        const struct opts_spec *s = &p->specs[i];
        int has_arg = s->type == OPTS_FLAG ? no_argument : required_argument;
        if (s->letter != 0) {
            (*so)[k++] = s->letter;
            if (has_arg == required_argument)
                (*so)[k++] = ':';
        }
        if (s->flag != NULL)
            (*lo)[n++] = (struct option){s->flag, has_arg, NULL, ID_ROW + (int)i};
    }
    (*so)[k] = '\0';
    (*lo)[n++] = (struct option){"help", no_argument, NULL, ID_HELP};
    (*lo)[n++] = (struct option){"version", no_argument, NULL, ID_VERSION};
    return 0;
}

/* The row of a getopt value: a long option's id, or a short letter. NULL when none. */
static const struct opts_spec *
row_of(const struct opts_program *p, int c)
{
    if (c >= ID_ROW && (size_t)(c - ID_ROW) < p->n_specs)
        return &p->specs[c - ID_ROW];
    for (size_t i = 0; c > 0 && i < p->n_specs; i++)
        if (p->specs[i].letter == c)
            return &p->specs[i];
    return NULL;
}

/* getopt_long over argv. OPTS_CONTINUE, OPTS_EXIT or OPTS_USAGE. */
static enum opts_result
parse_argv(const struct opts_program *p, int argc, char **argv, void *out, struct option *lo,
           const char *so)
{
    int c;

    optind = 0; /* glibc: start over (the program may parse more than once) */
    opterr = 1;
    while ((c = getopt_long(argc, argv, so, lo, NULL)) != -1) {
        if (c == ID_HELP) {
            opts_help(p, stdout);
            return OPTS_EXIT;
        }
        if (c == ID_VERSION) {
            printf("%s %s\n", p->name, opts_version());
            return OPTS_EXIT;
        }
        const struct opts_spec *s = row_of(p, c);
        if (s == NULL) {
            fprintf(stderr, "(run '%s --help' for usage)\n", p->name);
            return OPTS_USAGE;
        }
        char origin[64];
        if (s->flag != NULL)
            snprintf(origin, sizeof(origin), "--%s", s->flag);
        else
            snprintf(origin, sizeof(origin), "-%c", s->letter);
        if (apply(p, s, out, optarg, origin, 1) != 0)
            return OPTS_USAGE;
    }
    if (!p->stop_at_operand && optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", p->name, argv[optind]);
        return OPTS_USAGE;
    }
    return OPTS_CONTINUE;
}

enum opts_result
opts_parse(const struct opts_program *p, int argc, char **argv, void *out, int *next)
{
    struct option *lo = NULL;
    char *so = NULL;
    enum opts_result r = OPTS_USAGE;

    if (apply_defaults_and_env(p, out) != 0)
        return OPTS_USAGE;
    if (build_getopt(p, &lo, &so) != 0) {
        fprintf(stderr, "%s: out of memory\n", p->name);
        goto out;
    }
    r = parse_argv(p, argc, argv, out, lo, so);
    if (r == OPTS_CONTINUE && next != NULL)
        *next = optind;
out:
    free(lo);
    free(so);
    return r;
}

/* Writes text, each '\n' starting a new line indented to the help column; col is where the
 * cursor is. */
static void
help_text(FILE *f, int col, const char *text)
{
    while (*text != '\0') {
        if (col >= HELP_COLUMN) {
            fputc('\n', f);
            col = 0;
        }
        fprintf(f, "%*s", HELP_COLUMN - col, "");
        size_t len = strcspn(text, "\n");
        fprintf(f, "%.*s\n", (int)len, text);
        col = 0;
        text += len + (text[len] == '\n');
    }
}

static void append(char *buf, size_t cap, size_t *k, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Appends to buf (cap bytes, *k used), "; "-separated; a piece that does not fit is left out. */
static void
append(char *buf, size_t cap, size_t *k, const char *fmt, ...)
{
    va_list ap;
    size_t at = *k;

    if (at > 0 && at + 2 < cap) {
        memcpy(buf + at, "; ", 3);
        at += 2;
    }
    va_start(ap, fmt);
    int w = vsnprintf(buf + at, cap - at, fmt, ap);
    va_end(ap);
    if (w > 0 && (size_t)w < cap - at)
        *k = at + (size_t)w;
    else
        buf[*k] = '\0';
}

/* "(ENV; default D)", "(ENV; N..M)" ...: where the value may also come from and what it is. */
static void
help_meta(FILE *f, const struct opts_spec *s)
{
    char meta[256] = "";
    size_t k = 0;

    if (s->env != NULL && s->flag != NULL)
        append(meta, sizeof(meta), &k, s->type == OPTS_FLAG ? "%s=1" : "%s", s->env);
    if (s->type == OPTS_INT)
        append(meta, sizeof(meta), &k, "%lld..%lld", s->min, s->max);
    if (s->type == OPTS_CHOICE)
        append(meta, sizeof(meta), &k, "one of %s", s->choices);
    if (s->def != NULL && s->type != OPTS_FLAG)
        append(meta, sizeof(meta), &k, "default %s", s->def);
    if (k > 0)
        fprintf(f, "%*s(%s)\n", HELP_COLUMN, "", meta);
}

void
opts_help(const struct opts_program *p, FILE *f)
{
    fputs(p->synopsis, f);
    fputs("\noptions:\n", f);
    for (size_t i = 0; i < p->n_specs; i++) {
        const struct opts_spec *s = &p->specs[i];
        char left[80];
        if (s->flag == NULL)
            snprintf(left, sizeof(left), "  %s (environment only)", s->env);
        else if (s->letter != 0)
            snprintf(left, sizeof(left), "  -%c, --%s%s%s", s->letter, s->flag,
                     s->arg != NULL ? " " : "", s->arg != NULL ? s->arg : "");
        else
            snprintf(left, sizeof(left), "  --%s%s%s", s->flag, s->arg != NULL ? " " : "",
                     s->arg != NULL ? s->arg : "");
        fputs(left, f);
        help_text(f, (int)strlen(left), s->help);
        help_meta(f, s);
    }
    fputs("  --help", f);
    help_text(f, 8, "show this text");
    fputs("  --version", f);
    help_text(f, 11, "print the version");
    if (p->footer != NULL) {
        fputc('\n', f);
        fputs(p->footer, f);
    }
}
