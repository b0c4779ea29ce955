/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What authctl's commands share: usage errors, option helpers (-o, numbers, getopt), and the
 * output helpers (JSON, aligned fields, server text made safe for a terminal, the report of a
 * failed call).
 */
#include "ctl/ctl.h"

#include <getopt.h>
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
ctl_next_opt(int argc, char **argv, const char *shortopts, const struct option *longopts)
{
    return getopt_long(argc, argv, shortopts, longopts, NULL);
}

int
ctl_no_extra_args(int argc, char **argv)
{
    if (optind < argc)
        return ctl_usage_error("unexpected argument '%s'", argv[optind]);
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

int
ctl_parse_id_alg(struct ctl *ctl, int argc, char **argv, const char *cmd, const char *allowed,
                 struct client_args *a)
{
    static const struct option lo[] = {{"id", required_argument, NULL, 'i'},
                                       {"alg", required_argument, NULL, 'a'},
                                       {"output", required_argument, NULL, 'o'},
                                       {NULL, 0, NULL, 0}};
    int c;

    memset(a, 0, sizeof(*a));
    optind = 0;
    while ((c = ctl_next_opt(argc, argv, "+o:", lo)) != -1) {
        switch (c) {
        case 'i':
        case 'a':
            if (strchr(allowed, c) == NULL)
                return ctl_usage_error("'%s %s' does not take --%s", cmd, argv[0],
                                       c == 'i' ? "id" : "alg");
            if (c == 'i')
                a->id = optarg;
            else
                a->alg = optarg;
            break;
        case 'o':
            if (ctl_parse_output(ctl, optarg) != 0)
                return ctl_usage_error("-o takes text or json");
            break;
        default:
            return ctl_usage_error("bad option for '%s %s'", cmd, argv[0]);
        }
    }
    return ctl_no_extra_args(argc, argv);
}

int
ctl_call(struct ctl *ctl, const char *what, const char *method, const ProtobufCMessage *req,
         const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp)
{
    struct rpc_status st;

    int r = rpc_call(ctl->client, method, req, resp_desc, resp, ctl->timeout_ms, &st);
    return r == AUTHD_OK ? AUTHCTL_OK : ctl_rpc_failed(what, r, &st);
}

void
ctl_print_done(const char *kind, const char *id, const char *verb)
{
    printf("%s/", kind);
    ctl_print_safe(stdout, id);
    printf(" %s\n", verb);
}
