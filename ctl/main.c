/* SPDX-License-Identifier: Apache-2.0 */
/*
 * authctl: the admin CLI of authd, speaking its gRPC API (proto/rpc.h's client). This file reads
 * the global options, opens the channel (plaintext, TLS or mutual TLS) and hands the command to
 * its file: apply.c, user.c, session.c, client.c, keys.c, config.c, backup.c. Passwords come
 * only from standard input, never from argv (visible in ps); client secrets only from
 * manifests, and are never printed. Exit codes are enum authctl_exit.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/opts.h"
#include "common/secret.h"
#include "ctl/ctl.h"
#include "proto/rpc.h"

#define DEFAULT_TARGET "127.0.0.1:50051"
#define PEM_FILE_MAX ((size_t)1024 * 1024)

/* The global options (before the command). */
struct global_opts {
    const char *target;
    int timeout_ms;
    const char *output;
    const char *ca;
    const char *cert;
    const char *key;
    const char *server_name;
};

#define F(member) OPTS_FIELD(struct global_opts, member)

/* Every global option of authctl: parsing, --help and README's usage block come from this. */
static const struct opts_spec option_table[] = {
    {"authd", 0, "AUTHCTL_AUTHD", OPTS_STRING, "HOST:PORT", 0, 0, NULL, DEFAULT_TARGET,
     "authd's gRPC address; several replicas: IP:PORT,IP:PORT\nor dns:///NAME:PORT (calls "
     "spread round robin)",
     F(target)},
    {"timeout", 0, NULL, OPTS_INT, "MS", 1, 3600 * 1000, NULL, "5000",
     "deadline of each call to authd, milliseconds", F(timeout_ms)},
    {"output", 'o', NULL, OPTS_CHOICE, "FORMAT", 0, 0, "text|json", "text",
     "output format (also accepted after the command)", F(output)},
    {"ca", 0, "AUTHCTL_CA", OPTS_STRING, "FILE", 0, 0, NULL, NULL,
     "call authd over TLS, its certificate verified against\nthis CA (PEM)", F(ca)},
    {"cert", 0, "AUTHCTL_CERT", OPTS_STRING, "FILE", 0, 0, NULL, NULL,
     "authctl's certificate for mutual TLS (PEM; needs --ca)", F(cert)},
    {"key", 0, "AUTHCTL_KEY", OPTS_STRING, "FILE", 0, 0, NULL, NULL,
     "... and its private key (PEM)", F(key)},
    {"server-name", 0, "AUTHCTL_SERVER_NAME", OPTS_STRING, "NAME", 0, 0, NULL, NULL,
     "the name authd's certificate must carry when it is not\nthe host of --authd", F(server_name)},
};

#undef F

static const struct opts_program program = {
    .name = "authctl",
    .synopsis =
        "usage: authctl [options] <command>\n"
        "The admin CLI of authd.\n"
        "\n"
        "commands:\n"
        "  apply -f FILE                create or update the resources of a YAML manifest\n"
        "                               (AuthConfig, User, Client; FILE - is standard input)\n"
        "  user create --email E [--id ID] [--inactive] [--email-verified]\n"
        "              [--password-stdin]\n"
        "  user get (--id ID | --email E)\n"
        "  user list [--page-size N]\n"
        "  user activate --id ID\n"
        "  user deactivate --id ID\n"
        "  user verify-email --id ID    the user's address is known to be theirs\n"
        "                               (email_verified in ID tokens and userinfo)\n"
        "  user unverify-email --id ID\n"
        "  user delete --id ID\n"
        "  user set-password --id ID --password-stdin\n"
        "  user reset-2fa (--id ID | --email E)\n"
        "                               turn the user's 2FA off (lost device): erases its\n"
        "                               secret and recovery codes; they enrol again\n"
        "  user unlock (--id ID | --email E)\n"
        "                               end the account's lockouts (failed passwords and\n"
        "                               second-factor codes; client addresses stay locked)\n"
        "  user sessions (--id ID | --email E)\n"
        "                               list the user's sessions (ids, times, address)\n"
        "  user devices (--id ID | --email E)\n"
        "                               list the user's remembered browsers (id, label,\n"
        "                               added, expires, last used)\n"
        "  user forget-devices (--id ID | --email E)\n"
        "                               forget all of them: each asks for the second factor\n"
        "                               again\n"
        "  user set-email (--id ID | --email E) --new-email E2 [--email-verified]\n"
        "                               change the address (unique); it is not verified\n"
        "                               unless --email-verified\n"
        "  user import FILE|- [--batch N] [--tokens-out FILE] [--load-id ID]\n"
        "                               bulk-load users from JSON Lines (email, password_hash:\n"
        "                               a precomputed Argon2id PHC string, id, email_verified,\n"
        "                               inactive, session, auth_time): N (1000) per\n"
        "                               transaction; a file is checked whole first; a taken\n"
        "                               e-mail or a bad hash stops it, naming the line\n"
        "  session revoke --id SID      end one session and every token issued under it\n"
        "  device revoke --id ID        forget one remembered browser\n"
        "  client get --id ID           print an OAuth client (as a manifest; never its secret)\n"
        "  client list\n"
        "  client delete --id ID\n"
        "  keys list                    the token signing keys: kid, algorithm, created,\n"
        "                               signs from, retired, state (active, pending,\n"
        "                               retired, in the JWKS)\n"
        "  keys rotate [--alg ES256|RS256] [--now]\n"
        "                               publish a new token signing key now; it becomes the\n"
        "                               active one after authd's --key-publish-delay (with\n"
        "                               --now: at once), its algorithm the one of access\n"
        "                               tokens; prints its kid\n"
        "  keys retire KID              remove a key that is no longer active at once: out\n"
        "                               of the JWKS, its tokens stop verifying (a kid that\n"
        "                               begins with '-': keys retire -- KID)\n"
        "  config get                   print the AuthConfig (as a manifest; -o json for JSON)\n"
        "  backup DIR                   authd copies its RocksDB store, while it serves,\n"
        "                               into DIR on authd's host (absolute, new or empty)\n",
    .footer = "Each command prints its own usage and options: authctl user --help (or -h, help).\n"
              "Passwords are read from standard input only (without echo on a terminal), never\n"
              "from the command line.\n"
              "Exit status: 0 ok, 1 refused by authd, 2 usage, 3 authd unreachable, 4 bad\n"
              "manifest.\n",
    .specs = option_table,
    .n_specs = sizeof(option_table) / sizeof(option_table[0]),
    .stop_at_operand = 1,
};

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
            return ctl_usage_error("bad authd address '%s' (want HOST:PORT, IP:PORT,IP:PORT or "
                                   "dns:///NAME:PORT; over TLS, a list of different hosts "
                                   "needs --server-name)",
                                   ctl->target);
        fprintf(stderr, "authctl: %s\n", authd_strerror(r));
        return AUTHCTL_UNREACHABLE;
    }
    return AUTHCTL_OK;
}

/* The command's function; NULL for an unknown command. */
static int (*command(const char *name))(struct ctl *, int, char **)
{
    static const struct {
        const char *name;
        int (*run)(struct ctl *, int, char **);
    } commands[] = {{"apply", ctl_cmd_apply},     {"user", ctl_cmd_user},
                    {"session", ctl_cmd_session}, {"client", ctl_cmd_client},
                    {"keys", ctl_cmd_keys},       {"config", ctl_cmd_config},
                    {"backup", ctl_cmd_backup},   {"device", ctl_cmd_device}};
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(name, commands[i].name) == 0)
            return commands[i].run;
    return NULL;
}

int
main(int argc, char **argv)
{
    struct global_opts g;
    struct ctl ctl;
    int next = argc, rc;

    memset(&g, 0, sizeof(g));
    enum opts_result r = opts_parse(&program, argc, argv, &g, &next);
    if (r != OPTS_CONTINUE)
        return r == OPTS_EXIT ? AUTHCTL_OK : AUTHCTL_USAGE;
    if (next >= argc) {
        opts_help(&program, stderr);
        return AUTHCTL_USAGE;
    }
    const char *cmd = argv[next];
    if (strcmp(cmd, "help") == 0) {
        opts_help(&program, stdout);
        return AUTHCTL_OK;
    }
    int (*run)(struct ctl *, int, char **) = command(cmd);
    if (run == NULL)
        return ctl_usage_error("unknown command '%s'", cmd);
    ctl = (struct ctl){.target = g.target, .timeout_ms = g.timeout_ms};
    ctl_parse_output(&ctl, g.output);
    if ((rc = open_client(&ctl, g.ca, g.cert, g.key, g.server_name)) != AUTHCTL_OK)
        return rc;
    /* apply and backup parse their own argv[0] (the command word); the others start at their
     * subcommand. */
    int whole = run == ctl_cmd_apply || run == ctl_cmd_backup;
    if (whole && ctl_wants_help(argc - next - 1, argv + next + 1))
        rc = run(&ctl, 2, ctl_help_argv()); /* as the other groups answer -h and help */
    else if (whole)
        rc = run(&ctl, argc - next, argv + next);
    else
        rc = run(&ctl, argc - next - 1, argv + next + 1);
    if (rc == AUTHCTL_HELPED)
        rc = AUTHCTL_OK;
    if (rc == AUTHCTL_UNREACHABLE)
        fprintf(stderr, "authctl: is authd running at %s? (set --authd or AUTHCTL_AUTHD%s)\n",
                ctl.target,
                g.ca != NULL ? "; over TLS, also check --ca, --cert, --key and --server-name"
                             : "; an authd serving TLS needs --ca");
    rpc_client_free(ctl.client);
    return rc;
}
