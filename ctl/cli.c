/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What authctl's commands share: usage errors, option helpers (-o, subcommand tables), and the
 * output helpers (JSON, aligned fields, server text made safe for a terminal, the report of a
 * failed call).
 */
#include "ctl/ctl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/err.h"

int
ctl_usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("authctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n(run 'authctl --help' for usage)\n", stderr);
    return AUTHCTL_USAGE;
}

int
ctl_take_word(int *argc, char ***argv, char **rest, const char *what, const char **word)
{
    int n = *argc, skip = 0;
    char **v = *argv;

    *word = NULL;
    if (n >= 3 && strcmp(v[1], "--") == 0)
        skip = 2;
    else if (n >= 2 && v[1][0] != '-' && v[1][0] != '\0')
        skip = 1;
    if (skip == 0)
        return AUTHCTL_OK;
    if (n > CTL_REST_MAX)
        return ctl_usage_error("too many arguments to '%s'", what);
    *word = v[skip];
    rest[0] = v[0];
    for (int i = skip + 1; i < n; i++)
        rest[i - skip] = v[i];
    rest[n - skip] = NULL;
    *argc = n - skip;
    *argv = rest;
    return AUTHCTL_OK;
}

int
ctl_parse_output(struct ctl *ctl, const char *s)
{
    if (strcmp(s, "json") == 0)
        ctl->json = 1;
    else if (strcmp(s, "text") == 0)
        ctl->json = 0;
    else
        return -1;
    return 0;
}

int
ctl_print_json(json_t *j)
{
    if (j == NULL) {
        fputs("authctl: out of memory\n", stderr);
        return AUTHCTL_REFUSED;
    }
    int r = json_dumpf(j, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    json_decref(j);
    fputc('\n', stdout);
    return r == 0 ? AUTHCTL_OK : AUTHCTL_REFUSED;
}

void
ctl_print_field(const char *name, const char *value)
{
    printf("%-11s", name);
    ctl_print_safe(stdout, value);
    fputc('\n', stdout);
}

void
ctl_print_padded(const char *s, size_t width)
{
    size_t n = strlen(s);

    ctl_print_safe(stdout, s);
    for (; n < width; n++)
        fputc(' ', stdout);
}

int
ctl_parse_sub(struct ctl *ctl, const struct opts_program *p, int argc, char **argv, void *out,
              const char *const *output)
{
    enum opts_result r = opts_parse(p, argc, argv, out, NULL);

    if (r != OPTS_CONTINUE)
        return r == OPTS_EXIT ? AUTHCTL_HELPED : AUTHCTL_USAGE;
    if (*output != NULL)
        ctl_parse_output(ctl, *output); /* the table allows only text and json */
    return AUTHCTL_OK;
}

void
ctl_print_safe(FILE *f, const char *s)
{
    for (; s != NULL && *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        fputc(c < 0x20 || c == 0x7F ? '?' : c, f);
    }
}

int
ctl_rpc_failed(const char *what, int err, const struct rpc_status *st)
{
    const char *reason = st != NULL && st->reason[0] != '\0' ? st->reason : authd_err_reason(err);
    const char *message = st != NULL && st->message[0] != '\0' ? st->message : authd_strerror(err);

    fputs("authctl: ", stderr);
    if (what != NULL) {
        ctl_print_safe(stderr, what);
        fputs(": ", stderr);
    }
    ctl_print_safe(stderr, reason);
    fputs(": ", stderr);
    ctl_print_safe(stderr, message);
    fputc('\n', stderr);
    return err == AUTHD_ERR_UNAVAILABLE || err == AUTHD_ERR_DEADLINE ? AUTHCTL_UNREACHABLE
                                                                     : AUTHCTL_REFUSED;
}

#define F(member) OPTS_FIELD(struct client_args, member)
static const struct opts_spec id_alg_table[] = {
    {"id", 0, NULL, OPTS_STRING, "ID", 0, 0, NULL, NULL, "the client's id", F(id)},
    {"alg", 0, NULL, OPTS_CHOICE, "ALG", 0, 0, "ES256|RS256", NULL,
     "algorithm of the new key, which signs access tokens from then on (default: the one "
     "signing them now)",
     F(alg)},
    {"now", 0, NULL, OPTS_FLAG, NULL, 0, 0, NULL, NULL,
     "the new key signs at once, not after authd's --key-publish-delay (an emergency: caches of "
     "the JWKS refuse its tokens until they refresh)",
     F(now)},
    CTL_OUTPUT_ROW(struct client_args),
};
#undef F

int
ctl_parse_id_alg(struct ctl *ctl, int argc, char **argv, const char *cmd, const char *allowed,
                 struct client_args *a)
{
    static const struct opts_program client = {
        .name = "authctl client",
        .synopsis = "usage: authctl client get --id ID | list | delete --id ID\n",
        .specs = id_alg_table,
        .n_specs = sizeof(id_alg_table) / sizeof(id_alg_table[0]),
    };
    static const struct opts_program keys = {
        .name = "authctl keys",
        .synopsis =
            "usage: authctl keys list | rotate [--alg ES256|RS256] [--now] | retire [--] KID\n",
        .specs = id_alg_table,
        .n_specs = sizeof(id_alg_table) / sizeof(id_alg_table[0]),
    };
    int rc;

    memset(a, 0, sizeof(*a));
    rc = ctl_parse_sub(ctl, strcmp(cmd, "keys") == 0 ? &keys : &client, argc, argv, a, &a->output);
    if (rc != AUTHCTL_OK)
        return rc;
    if (a->id != NULL && strchr(allowed, 'i') == NULL)
        return ctl_usage_error("'%s %s' does not take --id", cmd, argv[0]);
    if (a->alg != NULL && strchr(allowed, 'a') == NULL)
        return ctl_usage_error("'%s %s' does not take --alg", cmd, argv[0]);
    if (a->now && strchr(allowed, 'n') == NULL)
        return ctl_usage_error("'%s %s' does not take --now", cmd, argv[0]);
    return AUTHCTL_OK;
}

int
ctl_call(struct ctl *ctl, const char *what, const char *method, const ProtobufCMessage *req,
         const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp)
{
    struct rpc_status st;

    int r = rpc_call(ctl->client, method, req, resp_desc, resp, ctl->timeout_ms, &st);
    return r == AUTHD_OK ? AUTHCTL_OK : ctl_rpc_failed(what, r, &st);
}

int
ctl_call_named(struct ctl *ctl, const char *kind, const char *name, const char *method,
               const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
               ProtobufCMessage **resp)
{
    struct rpc_status st;

    int r = rpc_call(ctl->client, method, req, resp_desc, resp, ctl->timeout_ms, &st);
    if (r == AUTHD_OK)
        return AUTHCTL_OK;
    const char *reason = st.reason[0] != '\0' ? st.reason : authd_err_reason(r);
    int missing = strcmp(reason, "not_found") == 0;
    if (name == NULL || (!missing && strcmp(reason, "already_exists") != 0))
        return ctl_rpc_failed(NULL, r, &st);
    /* "user alice@example.com not found": the thing the operator named, then the reason for
     * scripts. */
    fprintf(stderr, "authctl: %s ", kind);
    ctl_print_safe(stderr, name);
    fprintf(stderr, " %s (%s)\n", missing ? "not found" : "already exists", reason);
    return AUTHCTL_REFUSED;
}

int
ctl_wants_help(int argc, char **argv)
{
    return argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0 ||
                         strcmp(argv[0], "help") == 0);
}

char **
ctl_help_argv(void)
{
    static char word[] = "help", flag[] = "--help";
    static char *argv[] = {word, flag, NULL};
    return argv;
}

void
ctl_print_done(const char *kind, const char *id, const char *verb)
{
    printf("%s/", kind);
    ctl_print_safe(stdout, id);
    printf(" %s\n", verb);
}
