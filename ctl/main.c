/* SPDX-License-Identifier: Apache-2.0 */
/*
 * authctl: the admin CLI of authd, speaking its gRPC API (proto/rpc.h's client). This file reads
 * the global options, opens the channel (plaintext, TLS or mutual TLS) and hands the command to
 * its file: apply.c, user.c, client.c, keys.c, config.c. Passwords come only from standard
 * input, never from argv (visible in ps); client secrets only from manifests, and are never
 * printed. Exit codes are enum authctl_exit.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"
#include "ctl/ctl.h"
#include "proto/rpc.h"

#define DEFAULT_TARGET "127.0.0.1:50051"
#define DEFAULT_TIMEOUT_MS 5000
#define PEM_FILE_MAX ((size_t)1024 * 1024)

static const char usage_text[] =
    "usage: authctl [--authd HOST:PORT] [--timeout MS] [-o text|json]\n"
    "               [--ca FILE [--cert FILE --key FILE] [--server-name NAME]] <command>\n"
    "\n"
    "commands:\n"
    "  apply -f FILE                create or update the resources of a YAML manifest\n"
    "                               (AuthConfig, User, Client; FILE - is standard input)\n"
    "  user create --email E [--id ID] [--inactive] [--password-stdin]\n"
    "  user get (--id ID | --email E)\n"
    "  user list [--page-size N]\n"
    "  user activate --id ID\n"
    "  user deactivate --id ID\n"
    "  user delete --id ID\n"
    "  user set-password --id ID --password-stdin\n"
    "  client get --id ID           print an OAuth client (as a manifest; never its secret)\n"
    "  client list\n"
    "  client delete --id ID\n"
    "  keys rotate [--alg ES256|RS256]\n"
    "                               make a new token signing key the active one; prints its kid\n"
    "  config get                   print the AuthConfig (as a manifest; -o json for JSON)\n"
    "\n"
    "authd is --authd, else $AUTHCTL_AUTHD, else " DEFAULT_TARGET ". With --ca (AUTHCTL_CA)\n"
    "the call goes over TLS, authd's certificate verified against that CA (PEM); --cert and\n"
    "--key (AUTHCTL_CERT, AUTHCTL_KEY) give authctl's own certificate for mutual TLS, and\n"
    "--server-name (AUTHCTL_SERVER_NAME) the name authd's certificate must carry when it is\n"
    "not the host of --authd. Passwords are read from standard input only (without echo on\n"
    "a terminal), never from the command line.\n"
    "Exit status: 0 ok, 1 refused by authd, 2 usage, 3 authd unreachable, 4 bad manifest.\n";

/*
 * Reads a whole PEM file into a NUL-terminated malloc'd string; NULL (with a message naming
 * what) when it cannot. Free a key with secret_freezero(p, PEM_FILE_MAX + 1).
 */
static char *
read_pem(const char *what, const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n;
    int bad;

    if (f == NULL) {
        fprintf(stderr, "authctl: cannot read %s %s: %s\n", what, path, strerror(errno));
        return NULL;
    }
    buf = malloc(PEM_FILE_MAX + 1);
    n = buf != NULL ? fread(buf, 1, PEM_FILE_MAX + 1, f) : 0;
    bad = buf == NULL || ferror(f) || n == 0 || n > PEM_FILE_MAX;
    fclose(f);
    if (!bad) {
        buf[n] = '\0';
        bad = strstr(buf, "-----BEGIN ") == NULL;
    }
    if (bad) {
        fprintf(stderr, "authctl: %s %s is not a readable PEM file\n", what, path);
        if (buf != NULL)
            secret_freezero(buf, PEM_FILE_MAX + 1);
        return NULL;
    }
    return buf;
}

/* The flag when given, else the environment variable when set and not empty, else NULL. */
static const char *
flag_or_env(const char *flag, const char *env)
{
    const char *v = flag != NULL ? flag : getenv(env);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

/*
 * Opens ctl->client: plaintext, or TLS when a CA is given (--ca or AUTHCTL_CA), with a client
 * certificate when --cert and --key are. The key is wiped as soon as gRPC has its copy.
 */
static int
open_client(struct ctl *ctl, const char *ca_file, const char *cert_file, const char *key_file,
            const char *server_name)
{
    struct rpc_tls tls = {.server_name = server_name};
    char *ca = NULL, *cert = NULL, *key = NULL;
    int r;

    if (ca_file == NULL && (cert_file != NULL || key_file != NULL || server_name != NULL))
        return ctl_usage_error("--cert, --key and --server-name need --ca");
    if ((cert_file == NULL) != (key_file == NULL))
        return ctl_usage_error("--cert and --key go together");
    if (ca_file == NULL) {
        r = rpc_client_new(ctl->target, &ctl->client);
    } else {
        if ((ca = read_pem("--ca", ca_file)) == NULL ||
            (cert_file != NULL && (cert = read_pem("--cert", cert_file)) == NULL) ||
            (key_file != NULL && (key = read_pem("--key", key_file)) == NULL)) {
            free(ca);
            free(cert);
            return AUTHCTL_USAGE;
        }
        tls.ca_pem = ca;
        tls.cert_pem = cert;
        tls.key_pem = key;
        r = rpc_client_new_tls(ctl->target, &tls, &ctl->client);
        free(ca);
        free(cert);
        if (key != NULL)
            secret_freezero(key, PEM_FILE_MAX + 1);
    }
    if (r != AUTHD_OK) {
        if (r == AUTHD_ERR_INVALID_ARGUMENT)
            return ctl_usage_error("bad authd address '%s' (want HOST:PORT)", ctl->target);
        fprintf(stderr, "authctl: %s\n", authd_strerror(r));
        return AUTHCTL_UNREACHABLE;
    }
    return AUTHCTL_OK;
}

int
main(int argc, char **argv)
{
    static const struct option lo[] = {{"authd", required_argument, NULL, 'a'},
                                       {"timeout", required_argument, NULL, 't'},
                                       {"output", required_argument, NULL, 'o'},
                                       {"help", no_argument, NULL, 'h'},
                                       {"ca", required_argument, NULL, 'A'},
                                       {"cert", required_argument, NULL, 'C'},
                                       {"key", required_argument, NULL, 'K'},
                                       {"server-name", required_argument, NULL, 'N'},
                                       {NULL, 0, NULL, 0}};
    struct ctl ctl = {.timeout_ms = DEFAULT_TIMEOUT_MS};
    const char *env = getenv("AUTHCTL_AUTHD");
    const char *ca = NULL, *cert = NULL, *key = NULL, *server_name = NULL;
    long v;
    int c, rc;

    ctl.target = env != NULL && env[0] != '\0' ? env : DEFAULT_TARGET;
    opterr = 1;
    while ((c = getopt_long(argc, argv, "+o:h", lo, NULL)) != -1) {
        switch (c) {
        case 'a':
            ctl.target = optarg;
            break;
        case 't':
            if (ctl_parse_long(optarg, 1, 3600 * 1000, &v) != 0)
                return ctl_usage_error("--timeout takes milliseconds from 1 to 3600000");
            ctl.timeout_ms = (int)v;
            break;
        case 'o':
            if (ctl_parse_output(&ctl, optarg) != 0)
                return ctl_usage_error("-o takes text or json");
            break;
        case 'h':
            fputs(usage_text, stdout);
            return AUTHCTL_OK;
        case 'A':
            ca = optarg;
            break;
        case 'C':
            cert = optarg;
            break;
        case 'K':
            key = optarg;
            break;
        case 'N':
            server_name = optarg;
            break;
        default:
            fputs(usage_text, stderr);
            return AUTHCTL_USAGE;
        }
    }
    if (optind >= argc) {
        fputs(usage_text, stderr);
        return AUTHCTL_USAGE;
    }
    const char *cmd = argv[optind];
    int sub_argc = argc - optind - 1;
    char **sub_argv = argv + optind + 1;
    if (strcmp(cmd, "help") == 0) {
        fputs(usage_text, stdout);
        return AUTHCTL_OK;
    }
    if (strcmp(cmd, "apply") != 0 && strcmp(cmd, "user") != 0 && strcmp(cmd, "client") != 0 &&
        strcmp(cmd, "keys") != 0 && strcmp(cmd, "config") != 0)
        return ctl_usage_error("unknown command '%s'", cmd);

    rc = open_client(&ctl, flag_or_env(ca, "AUTHCTL_CA"), flag_or_env(cert, "AUTHCTL_CERT"),
                     flag_or_env(key, "AUTHCTL_KEY"),
                     flag_or_env(server_name, "AUTHCTL_SERVER_NAME"));
    if (rc != AUTHCTL_OK)
        return rc;
    if (strcmp(cmd, "apply") == 0)
        rc = ctl_cmd_apply(&ctl, argc - optind, argv + optind);
    else if (strcmp(cmd, "user") == 0)
        rc = ctl_cmd_user(&ctl, sub_argc, sub_argv);
    else if (strcmp(cmd, "client") == 0)
        rc = ctl_cmd_client(&ctl, sub_argc, sub_argv);
    else if (strcmp(cmd, "keys") == 0)
        rc = ctl_cmd_keys(&ctl, sub_argc, sub_argv);
    else
        rc = ctl_cmd_config(&ctl, sub_argc, sub_argv);
    if (rc == AUTHCTL_UNREACHABLE)
        fprintf(stderr, "authctl: is authd running at %s? (set --authd or AUTHCTL_AUTHD%s)\n",
                ctl.target,
                flag_or_env(ca, "AUTHCTL_CA") != NULL
                    ? "; over TLS, also check --ca, --cert, --key and --server-name"
                    : "; an authd serving TLS needs --ca");
    rpc_client_free(ctl.client);
    return rc;
}
