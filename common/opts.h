/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Command-line options from one table per program: each row names a flag, its environment
 * variable, its type and range, its default and its help text, and the field of the program's
 * options struct it fills. The same table drives parsing, `--help` (and so the README's usage
 * blocks, which a test compares with it) and `--version`. Precedence: default, then the
 * environment variable (when set and not empty), then the flag. Everything runs on the calling
 * thread, before any other starts (getopt and getenv are not thread-safe).
 */
#ifndef AUTHD_COMMON_OPTS_H
#define AUTHD_COMMON_OPTS_H

#include <stddef.h>
#include <stdio.h>

enum opts_type {
    OPTS_STRING, /* const char * (borrowed from argv, the environment or the table) */
    OPTS_CHOICE, /* const char *, one of the words in choices */
    OPTS_INT,    /* an integer in [min, max] into an int32_t/uint32_t/int/int64_t/long field */
    OPTS_FLAG,   /* int: 1 when the flag is given; the variable: 1/true/yes/on set it, else 0 */
};

struct opts_spec {
    const char *flag; /* long name without "--"; NULL: environment only (secrets) */
    char letter;      /* short option letter, or 0 */
    const char *env;  /* environment variable, or NULL: flag only */
    enum opts_type type;
    const char *arg;     /* the value's name in --help ("ADDR", "N"); NULL for OPTS_FLAG */
    long long min, max;  /* OPTS_INT */
    const char *choices; /* OPTS_CHOICE: "a|b|c" */
    const char *def;     /* the default, applied first and shown; NULL: the field is untouched */
    const char *help;    /* what it does; '\n' starts a new line in --help */
    size_t offset;       /* the field, with OPTS_FIELD(struct, member) */
    size_t size;
};

/* offset and size of member in the options struct type (the last two fields of a row). */
#define OPTS_FIELD(type, member) offsetof(type, member), sizeof(((type *)0)->member)

struct opts_program {
    const char *name;     /* "authd": the prefix of messages and the first word of --version */
    const char *synopsis; /* the first lines of --help, e.g. "usage: authd [options]\n..." */
    const char *footer;   /* text after the options in --help, or NULL */
    const struct opts_spec *specs;
    size_t n_specs;
    int stop_at_operand; /* 1: stop at the first operand (a command); 0: operands are refused */
};

enum opts_result {
    OPTS_CONTINUE = 0, /* parsed: run */
    OPTS_EXIT = 1,     /* --help or --version was printed on stdout: exit 0 */
    OPTS_USAGE = 2,    /* a bad option or value, reported on stderr: exit 2 */
};

/*
 * Fills out (the program's options struct, whose fields the table names) from the defaults,
 * the environment and argv, in that order. Every program also gets --help and --version. On
 * OPTS_CONTINUE *next (may be NULL) is the index of the first operand (argc when none). Values
 * are borrowed: from argv, the environment or the table's literals.
 */
enum opts_result opts_parse(const struct opts_program *p, int argc, char **argv, void *out,
                            int *next);

/* Writes --help: the synopsis, one entry per row (flag, argument, help, variable, default or
 * range), --help and --version, then the footer. */
void opts_help(const struct opts_program *p, FILE *f);

/* The project's version ("0.1.0", from CMake's project()). */
const char *opts_version(void);

/* A decimal integer in [min, max], the whole of s. 0, or -1 (*out untouched). */
int opts_parse_int(const char *s, long long min, long long max, long long *out);

#endif
