/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for common/opts.c: defaults, environment and flags in that order, types and
 * ranges, refusals (exit code 2 and a message), --help and --version, operands.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/opts.h"

struct t_opts {
    const char *name;
    const char *mode;
    int32_t count;
    int64_t big;
    int flag;
    const char *secret;
};

#define F(member) OPTS_FIELD(struct t_opts, member)
static const struct opts_spec specs[] = {
    {"name", 'n', "T_NAME", OPTS_STRING, "NAME", 0, 0, NULL, "anon", "a name", F(name)},
    {"mode", 0, "T_MODE", OPTS_CHOICE, "MODE", 0, 0, "fast|slow", "fast", "a mode", F(mode)},
    {"count", 'c', "T_COUNT", OPTS_INT, "N", 1, 10, NULL, "3", "a count\nsecond line", F(count)},
    {"big", 0, NULL, OPTS_INT, "N", 0, 5000000000LL, NULL, NULL, "no default", F(big)},
    {"flag", 0, "T_FLAG", OPTS_FLAG, NULL, 0, 0, NULL, NULL, "a flag", F(flag)},
    {NULL, 0, "T_SECRET", OPTS_STRING, NULL, 0, 0, NULL, NULL, "env only", F(secret)},
};
#undef F

static const struct opts_program prog = {
    .name = "t",
    .synopsis = "usage: t [options]\n",
    .footer = "footer text\n",
    .specs = specs,
    .n_specs = sizeof(specs) / sizeof(specs[0]),
};

static int
run(const struct opts_program *p, struct t_opts *o, int *next, const char *a0, ...)
{
    char *argv[16];
    int argc = 0;
    va_list ap;

    argv[argc++] = (char *)"t";
    va_start(ap, a0);
    for (const char *a = a0; a != NULL && argc < 15; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    memset(o, 0, sizeof(*o));
    o->big = -7; /* no default: untouched unless given */
    return opts_parse(p, argc, argv, o, next);
}

static void
clear_env(void)
{
    unsetenv("T_NAME");
    unsetenv("T_MODE");
    unsetenv("T_COUNT");
    unsetenv("T_FLAG");
    unsetenv("T_SECRET");
}

static void
test_defaults_env_flags(void **state)
{
    (void)state;
    struct t_opts o;
    int next = -1;

    clear_env();
    assert_int_equal(run(&prog, &o, &next, NULL), OPTS_CONTINUE);
    assert_string_equal(o.name, "anon");
    assert_string_equal(o.mode, "fast");
    assert_int_equal(o.count, 3);
    assert_int_equal(o.big, -7);
    assert_int_equal(o.flag, 0);
    assert_null(o.secret);
    assert_int_equal(next, 1);

    /* The environment beats the default; an empty variable counts as unset. */
    setenv("T_NAME", "fromenv", 1);
    setenv("T_COUNT", "7", 1);
    setenv("T_MODE", "", 1);
    setenv("T_FLAG", "yes", 1);
    setenv("T_SECRET", "s3cret", 1);
    assert_int_equal(run(&prog, &o, NULL, NULL), OPTS_CONTINUE);
    assert_string_equal(o.name, "fromenv");
    assert_int_equal(o.count, 7);
    assert_string_equal(o.mode, "fast");
    assert_int_equal(o.flag, 1);
    assert_string_equal(o.secret, "s3cret");

    /* A flag beats the environment; short and long forms; 64-bit values. */
    assert_int_equal(
        run(&prog, &o, NULL, "-n", "x", "--count=9", "--big", "4000000000", "--mode", "slow", NULL),
        OPTS_CONTINUE);
    assert_string_equal(o.name, "x");
    assert_int_equal(o.count, 9);
    assert_int_equal(o.big, 4000000000LL);
    assert_string_equal(o.mode, "slow");
    setenv("T_FLAG", "0", 1);
    assert_int_equal(run(&prog, &o, NULL, "--flag", NULL), OPTS_CONTINUE);
    assert_int_equal(o.flag, 1);
    assert_int_equal(run(&prog, &o, NULL, NULL), OPTS_CONTINUE);
    assert_int_equal(o.flag, 0);
    clear_env();
}

static void
test_refusals(void **state)
{
    (void)state;
    struct t_opts o;

    clear_env();
    assert_int_equal(run(&prog, &o, NULL, "--count", "11", NULL), OPTS_USAGE);
    assert_int_equal(run(&prog, &o, NULL, "--count", "0", NULL), OPTS_USAGE);
    assert_int_equal(run(&prog, &o, NULL, "--count", "3x", NULL), OPTS_USAGE);
    assert_int_equal(run(&prog, &o, NULL, "--count", "", NULL), OPTS_USAGE);
    assert_int_equal(run(&prog, &o, NULL, "--mode", "medium", NULL), OPTS_USAGE);
    assert_int_equal(run(&prog, &o, NULL, "--nope", NULL), OPTS_USAGE);
    assert_int_equal(run(&prog, &o, NULL, "--count", NULL), OPTS_USAGE);
    /* The environment-only row is no flag. */
    assert_int_equal(run(&prog, &o, NULL, "--secret", "x", NULL), OPTS_USAGE);
    /* Operands are refused unless the program takes a command. */
    assert_int_equal(run(&prog, &o, NULL, "extra", NULL), OPTS_USAGE);
    setenv("T_COUNT", "99", 1);
    assert_int_equal(run(&prog, &o, NULL, NULL), OPTS_USAGE);
    clear_env();
}

static void
test_operands(void **state)
{
    (void)state;
    struct opts_program p = prog;
    struct t_opts o;
    int next = -1;

    clear_env();
    p.stop_at_operand = 1;
    assert_int_equal(run(&p, &o, &next, "-c", "2", "cmd", "--count", "5", NULL), OPTS_CONTINUE);
    assert_int_equal(o.count, 2); /* options after the command are the command's */
    assert_int_equal(next, 3);
}

static void
test_help_and_version(void **state)
{
    (void)state;
    struct t_opts o;
    char buf[4096];

    clear_env();
    assert_int_equal(run(&prog, &o, NULL, "--version", NULL), OPTS_EXIT);
    assert_int_equal(run(&prog, &o, NULL, "--help", NULL), OPTS_EXIT);
    assert_true(strlen(opts_version()) > 0);

    FILE *f = fmemopen(buf, sizeof(buf), "w");
    assert_non_null(f);
    opts_help(&prog, f);
    fclose(f);
    /* Every row, its variable, range, choices and default, and the built-in options. */
    static const char *const want[] = {
        "usage: t [options]\n",
        "  -n, --name NAME             a name\n",
        "(T_NAME; default anon)",
        "(T_MODE; one of fast|slow; default fast)",
        "  -c, --count N               a count\n                              second line\n",
        "(T_COUNT; 1..10; default 3)",
        "(0..5000000000)",
        "(T_FLAG=1)",
        "  T_SECRET (environment only) env only\n",
        "  --help                      show this text\n",
        "  --version                   print the version\n",
        "\nfooter text\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (strstr(buf, want[i]) == NULL)
            fail_msg("--help lacks [%s] in:\n%s", want[i], buf);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_env_flags),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_operands),
        cmocka_unit_test(test_help_and_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
