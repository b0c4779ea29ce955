/* SPDX-License-Identifier: Apache-2.0 */
/*
 * authctl: the admin CLI of authd, speaking its gRPC API (proto/rpc.h's client). Commands:
 * apply (authctl_manifest.c), user create/get/list/activate/deactivate/delete/set-password,
 * client get/list/delete, keys rotate, config get. Passwords come only from standard input,
 * never from argv (visible in ps); client secrets only from manifests, and are never printed
 * (authd does not return them: has_secret says whether one is set). Exit codes are enum
 * authctl_exit.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>

#include "authd/authctl_manifest.h"
#include "common/err.h"
#include "authd/manifest.h"
#include "authd/password.h"
#include "proto/rpc.h"
#include "common/secret.h"

#define DEFAULT_TARGET "127.0.0.1:50051"
#define DEFAULT_TIMEOUT_MS 5000
#define MAX_PAGES 100000 /* a guard against a server that never ends a listing */
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

struct ctl {
    struct rpc_client *client;
    const char *target;
    int timeout_ms;
    int json; /* -o json */
};

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("authctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n(run 'authctl --help' for usage)\n", stderr);
    return AUTHCTL_USAGE;
}

/* A decimal in [min, max] from s, whole string. 0, or -1. */
static int
parse_long(const char *s, long min, long max, long *out)
{
    char *end;

    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int
parse_output(struct ctl *ctl, const char *s)
{
    if (strcmp(s, "json") == 0)
        ctl->json = 1;
    else if (strcmp(s, "text") == 0)
        ctl->json = 0;
    else
        return -1;
    return 0;
}

/* Prints j as indented JSON and releases it. */
static int
print_json(json_t *j)
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
        return usage_error("--cert, --key and --server-name need --ca");
    if ((cert_file == NULL) != (key_file == NULL))
        return usage_error("--cert and --key go together");
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
            return usage_error("bad authd address '%s' (want HOST:PORT)", ctl->target);
        fprintf(stderr, "authctl: %s\n", authd_strerror(r));
        return AUTHCTL_UNREACHABLE;
    }
    return AUTHCTL_OK;
}

/* ---- passwords ---------------------------------------------------------------------------- */

/*
 * Reads a password from standard input into buf (cap bytes, NUL-terminated): one line without
 * echo from a terminal, else all of the input. One trailing "\n" or "\r\n" is dropped; empty,
 * multi-line, NUL-containing and over-long (PASSWORD_MAX_LEN) passwords are refused.
 */
static int
read_password(char *buf, size_t cap, size_t *len)
{
    struct termios old, quiet;
    int tty = isatty(STDIN_FILENO), echo_off = 0;
    size_t n = 0;
    int rc = AUTHCTL_USAGE;

    *len = 0;
    if (tty && tcgetattr(STDIN_FILENO, &old) == 0) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        echo_off = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
        fputs("Password: ", stderr);
    }
    /* cap leaves room for PASSWORD_MAX_LEN, "\r\n" and one byte more, which tells "too long". */
    while (n < cap) {
        ssize_t got = read(STDIN_FILENO, buf + n, tty ? 1 : cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            fprintf(stderr, "authctl: reading the password: %s\n", strerror(errno));
            goto out;
        }
        if (got == 0)
            break;
        n += (size_t)got;
        if (tty && buf[n - 1] == '\n')
            break;
    }
    if (n == cap) {
        fprintf(stderr, "authctl: the password is longer than %d bytes\n", PASSWORD_MAX_LEN);
        goto out;
    }
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    if (n == 0) {
        fputs("authctl: empty password on standard input\n", stderr);
        goto out;
    }
    if (n > PASSWORD_MAX_LEN) {
        fprintf(stderr, "authctl: the password is longer than %d bytes\n", PASSWORD_MAX_LEN);
        goto out;
    }
    if (memchr(buf, '\n', n) != NULL || memchr(buf, '\0', n) != NULL) {
        fputs("authctl: the password must be a single line of text\n", stderr);
        goto out;
    }
    *len = n;
    rc = AUTHCTL_OK;
out:
    if (echo_off) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    if (rc != AUTHCTL_OK)
        secret_wipe(buf, cap);
    return rc;
}

/* ---- output ------------------------------------------------------------------------------- */

static void
print_field(const char *name, const char *value)
{
    printf("%-11s", name);
    authctl_print_safe(stdout, value);
    fputc('\n', stdout);
}

/* s (control characters replaced), then spaces up to width columns. */
static void
print_padded(const char *s, size_t width)
{
    size_t n = strlen(s);

    authctl_print_safe(stdout, s);
    for (; n < width; n++)
        fputc(' ', stdout);
}

static int
print_user(const struct ctl *ctl, const Authd__V1__User *u)
{
    if (ctl->json)
        return print_json(manifest_user_to_json(u));
    json_t *j = manifest_user_to_json(u);
    if (j == NULL)
        return print_json(NULL);
    print_field("id:", u->id);
    print_field("email:", u->email);
    print_field("inactive:", u->inactive ? "true" : "false");
    if (u->two_factor != NULL && u->two_factor->enabled) {
        printf("%-11senabled", "twoFactor:");
        if (u->two_factor->transport[0] != '\0') {
            fputs(" (", stdout);
            authctl_print_safe(stdout, u->two_factor->transport);
            fputc(')', stdout);
        }
        fputc('\n', stdout);
    } else {
        print_field("twoFactor:", "disabled");
    }
    /* Times as manifest_user_to_json() renders them. */
    const json_t *t = json_object_get(j, "createdAt");
    if (json_is_string(t))
        print_field("createdAt:", json_string_value(t));
    t = json_object_get(j, "updatedAt");
    if (json_is_string(t))
        print_field("updatedAt:", json_string_value(t));
    json_decref(j);
    return AUTHCTL_OK;
}

/* ---- commands ----------------------------------------------------------------------------- */

/* getopt_long over argv[0..argc) (argv[0] is the command word); fresh state every time. */
static int
next_opt(int argc, char **argv, const char *shortopts, const struct option *longopts)
{
    return getopt_long(argc, argv, shortopts, longopts, NULL);
}

static int
no_extra_args(int argc, char **argv)
{
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    return AUTHCTL_OK;
}

static int
cmd_apply(struct ctl *ctl, int argc, char **argv)
{
    static const struct option lo[] = {{"filename", required_argument, NULL, 'f'},
                                       {"output", required_argument, NULL, 'o'},
                                       {NULL, 0, NULL, 0}};
    const char *file = NULL;
    int c;

    optind = 0;
    while ((c = next_opt(argc, argv, "+f:o:", lo)) != -1) {
        switch (c) {
        case 'f':
            file = optarg;
            break;
        case 'o':
            if (parse_output(ctl, optarg) != 0)
                return usage_error("-o takes text or json");
            break;
        default:
            return usage_error("apply takes -f FILE");
        }
    }
    if (no_extra_args(argc, argv) != AUTHCTL_OK)
        return AUTHCTL_USAGE;
    if (file == NULL)
        return usage_error("apply needs -f FILE (or -f - for standard input)");
    return authctl_apply(ctl->client, file, ctl->timeout_ms);
}

struct user_args {
    const char *id;
    const char *email;
    int inactive;
    int password_stdin;
    long page_size;
};

static int
parse_user_args(struct ctl *ctl, int argc, char **argv, struct user_args *a)
{
    static const struct option lo[] = {{"id", required_argument, NULL, 'i'},
                                       {"email", required_argument, NULL, 'e'},
                                       {"inactive", no_argument, NULL, 'n'},
                                       {"password-stdin", no_argument, NULL, 'p'},
                                       {"page-size", required_argument, NULL, 's'},
                                       {"output", required_argument, NULL, 'o'},
                                       {NULL, 0, NULL, 0}};
    int c;

    memset(a, 0, sizeof(*a));
    optind = 0;
    while ((c = next_opt(argc, argv, "+o:", lo)) != -1) {
        switch (c) {
        case 'i':
            a->id = optarg;
            break;
        case 'e':
            a->email = optarg;
            break;
        case 'n':
            a->inactive = 1;
            break;
        case 'p':
            a->password_stdin = 1;
            break;
        case 's':
            if (parse_long(optarg, 1, 1000, &a->page_size) != 0)
                return usage_error("--page-size takes a number from 1 to 1000");
            break;
        case 'o':
            if (parse_output(ctl, optarg) != 0)
                return usage_error("-o takes text or json");
            break;
        default:
            return usage_error("bad option for 'user %s'", argv[0]);
        }
    }
    return no_extra_args(argc, argv);
}

/* Refuses options the subcommand does not take, so that nothing is silently ignored. */
static int
only_options(const char *cmd, const struct user_args *a, const char *allowed)
{
    struct {
        int given;
        char key;
        const char *name;
    } opts[] = {{a->id != NULL, 'i', "--id"},
                {a->email != NULL, 'e', "--email"},
                {a->inactive, 'n', "--inactive"},
                {a->password_stdin, 'p', "--password-stdin"},
                {a->page_size != 0, 's', "--page-size"}};
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        if (opts[i].given && strchr(allowed, opts[i].key) == NULL)
            return usage_error("'user %s' does not take %s", cmd, opts[i].name);
    }
    return AUTHCTL_OK;
}

static int
user_create(struct ctl *ctl, const struct user_args *a)
{
    Authd__V1__CreateUserRequest req = AUTHD__V1__CREATE_USER_REQUEST__INIT;
    char pw[PASSWORD_MAX_LEN + 3];
    size_t pwlen = 0;
    struct rpc_status st;
    ProtobufCMessage *resp = NULL;
    int rc;

    if (a->email == NULL)
        return usage_error("'user create' needs --email");
    if (a->password_stdin && (rc = read_password(pw, sizeof(pw), &pwlen)) != AUTHCTL_OK)
        return rc;
    req.email = (char *)a->email;
    if (a->id != NULL)
        req.id = (char *)a->id;
    req.inactive = a->inactive;
    if (a->password_stdin)
        req.password = pw;
    int r = rpc_call(ctl->client, "/authd.v1.Users/Create", &req.base,
                     &authd__v1__user_response__descriptor, &resp, ctl->timeout_ms, &st);
    if (a->password_stdin)
        secret_wipe(pw, sizeof(pw));
    if (r != AUTHD_OK)
        return authctl_rpc_failed(NULL, r, &st);
    const Authd__V1__UserResponse *ur = (const Authd__V1__UserResponse *)resp;
    if (ctl->json && ur->user != NULL) {
        rc = print_user(ctl, ur->user);
    } else {
        fputs("User/", stdout);
        authctl_print_safe(stdout, ur->user != NULL ? ur->user->id : a->email);
        fputs(" created\n", stdout);
        rc = AUTHCTL_OK;
    }
    rpc_msg_free(resp);
    return rc;
}

static int
user_get(struct ctl *ctl, const struct user_args *a)
{
    Authd__V1__GetUserRequest req = AUTHD__V1__GET_USER_REQUEST__INIT;
    struct rpc_status st;
    ProtobufCMessage *resp = NULL;

    if ((a->id == NULL) == (a->email == NULL))
        return usage_error("'user get' needs exactly one of --id or --email");
    if (a->id != NULL)
        req.id = (char *)a->id;
    else
        req.email = (char *)a->email;
    int r = rpc_call(ctl->client, "/authd.v1.Users/Get", &req.base,
                     &authd__v1__user_response__descriptor, &resp, ctl->timeout_ms, &st);
    if (r != AUTHD_OK)
        return authctl_rpc_failed(NULL, r, &st);
    const Authd__V1__UserResponse *ur = (const Authd__V1__UserResponse *)resp;
    int rc = AUTHCTL_REFUSED;
    if (ur->user == NULL)
        fputs("authctl: authd returned no user\n", stderr);
    else
        rc = print_user(ctl, ur->user);
    rpc_msg_free(resp);
    return rc;
}

static int
user_list(struct ctl *ctl, const struct user_args *a)
{
    Authd__V1__ListUsersRequest req = AUTHD__V1__LIST_USERS_REQUEST__INIT;
    struct rpc_status st;
    char *token = NULL;
    json_t *all = NULL;
    int rc = AUTHCTL_REFUSED, header = 0;

    if (ctl->json && (all = json_array()) == NULL)
        return print_json(NULL);
    req.page_size = (uint32_t)a->page_size; /* 0: the server's default */
    for (int page = 0; page < MAX_PAGES; page++) {
        ProtobufCMessage *resp = NULL;
        req.page_token = token != NULL ? token : (char *)"";
        int r = rpc_call(ctl->client, "/authd.v1.Users/List", &req.base,
                         &authd__v1__list_users_response__descriptor, &resp, ctl->timeout_ms, &st);
        if (r != AUTHD_OK) {
            rc = authctl_rpc_failed(NULL, r, &st);
            goto out;
        }
        const Authd__V1__ListUsersResponse *lr = (const Authd__V1__ListUsersResponse *)resp;
        for (size_t i = 0; i < lr->n_users; i++) {
            const Authd__V1__User *u = lr->users[i];
            if (ctl->json) {
                json_t *j = manifest_user_to_json(u);
                if (j == NULL || json_array_append_new(all, j) != 0) {
                    rpc_msg_free(resp);
                    rc = print_json(NULL);
                    goto out;
                }
                continue;
            }
            if (!header) {
                printf("%-36s  %-40s  %-8s  %s\n", "ID", "EMAIL", "STATUS", "2FA");
                header = 1;
            }
            print_padded(u->id, 36);
            fputs("  ", stdout);
            print_padded(u->email, 40);
            printf("  %-8s  %s\n", u->inactive ? "inactive" : "active",
                   u->two_factor != NULL && u->two_factor->enabled ? "on" : "off");
        }
        const char *next = lr->next_page_token != NULL ? lr->next_page_token : "";
        int same = token != NULL && strcmp(next, token) == 0;
        int more = next[0] != '\0';
        free(token);
        token = more ? strdup(next) : NULL;
        rpc_msg_free(resp);
        if (same) {
            fputs("authctl: authd repeated a page token; listing stopped\n", stderr);
            goto out;
        }
        if (!more)
            break;
        if (token == NULL) {
            fputs("authctl: out of memory\n", stderr);
            goto out;
        }
    }
    if (ctl->json) {
        rc = print_json(all);
        all = NULL;
    } else {
        if (!header)
            puts("no users");
        rc = AUTHCTL_OK;
    }
out:
    free(token);
    json_decref(all);
    return rc;
}

static int
user_set_active(struct ctl *ctl, const struct user_args *a, int inactive)
{
    Authd__V1__BoolValue v = AUTHD__V1__BOOL_VALUE__INIT;
    Authd__V1__UpdateUserRequest req = AUTHD__V1__UPDATE_USER_REQUEST__INIT;
    struct rpc_status st;
    ProtobufCMessage *resp = NULL;

    if (a->id == NULL)
        return usage_error("'user %s' needs --id", inactive ? "deactivate" : "activate");
    v.value = inactive;
    req.id = (char *)a->id;
    req.inactive = &v;
    int r = rpc_call(ctl->client, "/authd.v1.Users/Update", &req.base,
                     &authd__v1__user_response__descriptor, &resp, ctl->timeout_ms, &st);
    if (r != AUTHD_OK)
        return authctl_rpc_failed(NULL, r, &st);
    const Authd__V1__UserResponse *ur = (const Authd__V1__UserResponse *)resp;
    int rc = AUTHCTL_OK;
    if (ctl->json && ur->user != NULL) {
        rc = print_user(ctl, ur->user);
    } else {
        fputs("User/", stdout);
        authctl_print_safe(stdout, a->id);
        puts(inactive ? " deactivated" : " activated");
    }
    rpc_msg_free(resp);
    return rc;
}

static int
user_delete(struct ctl *ctl, const struct user_args *a)
{
    Authd__V1__DeleteUserRequest req = AUTHD__V1__DELETE_USER_REQUEST__INIT;
    struct rpc_status st;
    ProtobufCMessage *resp = NULL;

    if (a->id == NULL)
        return usage_error("'user delete' needs --id");
    req.id = (char *)a->id;
    int r = rpc_call(ctl->client, "/authd.v1.Users/Delete", &req.base,
                     &authd__v1__empty__descriptor, &resp, ctl->timeout_ms, &st);
    if (r != AUTHD_OK)
        return authctl_rpc_failed(NULL, r, &st);
    rpc_msg_free(resp);
    fputs("User/", stdout);
    authctl_print_safe(stdout, a->id);
    puts(" deleted");
    return AUTHCTL_OK;
}

static int
user_set_password(struct ctl *ctl, const struct user_args *a)
{
    Authd__V1__SetPasswordRequest req = AUTHD__V1__SET_PASSWORD_REQUEST__INIT;
    char pw[PASSWORD_MAX_LEN + 3];
    size_t pwlen;
    struct rpc_status st;
    ProtobufCMessage *resp = NULL;
    int rc;

    if (a->id == NULL || !a->password_stdin)
        return usage_error("'user set-password' needs --id and --password-stdin");
    if ((rc = read_password(pw, sizeof(pw), &pwlen)) != AUTHCTL_OK)
        return rc;
    req.id = (char *)a->id;
    req.password = pw;
    int r = rpc_call(ctl->client, "/authd.v1.Users/SetPassword", &req.base,
                     &authd__v1__empty__descriptor, &resp, ctl->timeout_ms, &st);
    secret_wipe(pw, sizeof(pw));
    if (r != AUTHD_OK)
        return authctl_rpc_failed(NULL, r, &st);
    rpc_msg_free(resp);
    fputs("User/", stdout);
    authctl_print_safe(stdout, a->id);
    puts(" password set");
    return AUTHCTL_OK;
}

static int
cmd_user(struct ctl *ctl, int argc, char **argv)
{
    struct user_args a;
    int rc;

    if (argc < 1)
        return usage_error("'user' needs a subcommand (create, get, list, activate, "
                           "deactivate, delete, set-password)");
    const char *sub = argv[0];
    if ((rc = parse_user_args(ctl, argc, argv, &a)) != AUTHCTL_OK)
        return rc;
    if (strcmp(sub, "create") == 0)
        return (rc = only_options(sub, &a, "ienp")) != AUTHCTL_OK ? rc : user_create(ctl, &a);
    if (strcmp(sub, "get") == 0)
        return (rc = only_options(sub, &a, "ie")) != AUTHCTL_OK ? rc : user_get(ctl, &a);
    if (strcmp(sub, "list") == 0)
        return (rc = only_options(sub, &a, "s")) != AUTHCTL_OK ? rc : user_list(ctl, &a);
    if (strcmp(sub, "activate") == 0 || strcmp(sub, "deactivate") == 0)
        return (rc = only_options(sub, &a, "i")) != AUTHCTL_OK
                   ? rc
                   : user_set_active(ctl, &a, sub[0] == 'd');
    if (strcmp(sub, "delete") == 0)
        return (rc = only_options(sub, &a, "i")) != AUTHCTL_OK ? rc : user_delete(ctl, &a);
    if (strcmp(sub, "set-password") == 0)
        return (rc = only_options(sub, &a, "ip")) != AUTHCTL_OK ? rc : user_set_password(ctl, &a);
    return usage_error("unknown command 'user %s'", sub);
}

/* ---- clients and signing keys ------------------------------------------------------------- */

struct client_args {
    const char *id;
    const char *alg;
};

/* The options of 'client SUB' and 'keys SUB'; allowed lists those SUB takes (i: --id, a: --alg). */
static int
parse_client_args(struct ctl *ctl, int argc, char **argv, const char *cmd, const char *allowed,
                  struct client_args *a)
{
    static const struct option lo[] = {{"id", required_argument, NULL, 'i'},
                                       {"alg", required_argument, NULL, 'a'},
                                       {"output", required_argument, NULL, 'o'},
                                       {NULL, 0, NULL, 0}};
    int c;

    memset(a, 0, sizeof(*a));
    optind = 0;
    while ((c = next_opt(argc, argv, "+o:", lo)) != -1) {
        switch (c) {
        case 'i':
        case 'a':
            if (strchr(allowed, c) == NULL)
                return usage_error("'%s %s' does not take --%s", cmd, argv[0],
                                   c == 'i' ? "id" : "alg");
            if (c == 'i')
                a->id = optarg;
            else
                a->alg = optarg;
            break;
        case 'o':
            if (parse_output(ctl, optarg) != 0)
                return usage_error("-o takes text or json");
            break;
        default:
            return usage_error("bad option for '%s %s'", cmd, argv[0]);
        }
    }
    return no_extra_args(argc, argv);
}

/* A client as YAML (a manifest that applies back unchanged, keeping the secret), or JSON. */
static int
print_client(const struct ctl *ctl, const Authd__V1__Client *c)
{
    json_t *j = manifest_client_to_json(c);
    if (ctl->json || j == NULL)
        return print_json(j);
    /* has_secret is read-only, not a manifest field: shown as a comment. */
    printf("# has_secret: %s%s\n", c->has_secret ? "true" : "false",
           c->has_secret ? " (write-only; applying this without a secret keeps it)" : "");
    json_object_del(j, "has_secret");
    int rc = manifest_print_yaml(stdout, j, 0) == 0 ? AUTHCTL_OK : AUTHCTL_REFUSED;
    json_decref(j);
    return rc;
}

static int
client_get(struct ctl *ctl, const struct client_args *a)
{
    Authd__V1__ClientRequest req = AUTHD__V1__CLIENT_REQUEST__INIT;
    struct rpc_status st;
    ProtobufCMessage *resp = NULL;

    if (a->id == NULL)
        return usage_error("'client get' needs --id");
    req.id = (char *)a->id;
    int r = rpc_call(ctl->client, "/authd.v1.ClientAdmin/Get", &req.base,
                     &authd__v1__client_response__descriptor, &resp, ctl->timeout_ms, &st);
    if (r != AUTHD_OK)
        return authctl_rpc_failed(NULL, r, &st);
    const Authd__V1__ClientResponse *cr = (const Authd__V1__ClientResponse *)resp;
    int rc = AUTHCTL_REFUSED;
    if (cr->client == NULL)
        fputs("authctl: authd returned no client\n", stderr);
    else
        rc = print_client(ctl, cr->client);
    rpc_msg_free(resp);
    return rc;
}

/* The grant types of c, comma-separated ("-" for none). */
static void
print_grant_types(const Authd__V1__Client *c)
{
    if (c->n_grant_types == 0)
        fputc('-', stdout);
    for (size_t i = 0; i < c->n_grant_types; i++) {
        if (i > 0)
            fputc(',', stdout);
        authctl_print_safe(stdout, c->grant_types[i]);
    }
}

static int
client_list(struct ctl *ctl)
{
    Authd__V1__ListClientsRequest req = AUTHD__V1__LIST_CLIENTS_REQUEST__INIT;
    struct rpc_status st;
    ProtobufCMessage *resp = NULL;

    int r = rpc_call(ctl->client, "/authd.v1.ClientAdmin/List", &req.base,
                     &authd__v1__list_clients_response__descriptor, &resp, ctl->timeout_ms, &st);
    if (r != AUTHD_OK)
        return authctl_rpc_failed(NULL, r, &st);
    const Authd__V1__ListClientsResponse *lr = (const Authd__V1__ListClientsResponse *)resp;
    int rc = AUTHCTL_OK;
    if (ctl->json) {
        json_t *all = json_array();
        for (size_t i = 0; all != NULL && i < lr->n_clients; i++) {
            json_t *j = manifest_client_to_json(lr->clients[i]);
            if (j == NULL || json_array_append_new(all, j) != 0) {
                json_decref(all);
                all = NULL;
            }
        }
        rc = print_json(all);
    } else if (lr->n_clients == 0) {
        puts("no clients");
    } else {
        printf("%-24s  %-8s  %-11s  %-6s  %s\n", "ID", "STATUS", "FIRST_PARTY", "SECRET",
               "GRANT_TYPES");
        for (size_t i = 0; i < lr->n_clients; i++) {
            const Authd__V1__Client *c = lr->clients[i];
            print_padded(c->id, 24);
            printf("  %-8s  %-11s  %-6s  ",
                   c->active == NULL || c->active->value ? "active" : "inactive",
                   c->first_party ? "yes" : "no", c->has_secret ? "set" : "none");
            print_grant_types(c);
            fputc('\n', stdout);
        }
    }
    rpc_msg_free(resp);
    return rc;
}

static int
client_delete(struct ctl *ctl, const struct client_args *a)
{
    Authd__V1__ClientRequest req = AUTHD__V1__CLIENT_REQUEST__INIT;
    struct rpc_status st;
    ProtobufCMessage *resp = NULL;

    if (a->id == NULL)
        return usage_error("'client delete' needs --id");
    req.id = (char *)a->id;
    int r = rpc_call(ctl->client, "/authd.v1.ClientAdmin/Delete", &req.base,
                     &authd__v1__empty__descriptor, &resp, ctl->timeout_ms, &st);
    if (r != AUTHD_OK)
        return authctl_rpc_failed(NULL, r, &st);
    rpc_msg_free(resp);
    fputs("Client/", stdout);
    authctl_print_safe(stdout, a->id);
    puts(" deleted");
    return AUTHCTL_OK;
}

static int
cmd_client(struct ctl *ctl, int argc, char **argv)
{
    struct client_args a;
    int rc;

    if (argc < 1)
        return usage_error("'client' needs a subcommand (get, list, delete)");
    const char *sub = argv[0];
    int list = strcmp(sub, "list") == 0;
    if (!list && strcmp(sub, "get") != 0 && strcmp(sub, "delete") != 0)
        return usage_error("unknown command 'client %s'", sub);
    if ((rc = parse_client_args(ctl, argc, argv, "client", list ? "" : "i", &a)) != AUTHCTL_OK)
        return rc;
    if (list)
        return client_list(ctl);
    return sub[0] == 'g' ? client_get(ctl, &a) : client_delete(ctl, &a);
}

static int
cmd_keys(struct ctl *ctl, int argc, char **argv)
{
    Authd__V1__RotateKeysRequest req = AUTHD__V1__ROTATE_KEYS_REQUEST__INIT;
    struct client_args a;
    struct rpc_status st;
    ProtobufCMessage *resp = NULL;
    int rc;

    if (argc < 1 || strcmp(argv[0], "rotate") != 0)
        return usage_error("the keys command is 'keys rotate [--alg ES256|RS256]'");
    if ((rc = parse_client_args(ctl, argc, argv, "keys", "a", &a)) != AUTHCTL_OK)
        return rc;
    if (a.alg != NULL && strcmp(a.alg, "ES256") != 0 && strcmp(a.alg, "RS256") != 0)
        return usage_error("--alg takes ES256 or RS256");
    if (a.alg != NULL)
        req.alg = (char *)a.alg;
    int r = rpc_call(ctl->client, "/authd.v1.ClientAdmin/RotateKeys", &req.base,
                     &authd__v1__rotate_keys_response__descriptor, &resp, ctl->timeout_ms, &st);
    if (r != AUTHD_OK)
        return authctl_rpc_failed("keys rotate", r, &st);
    const Authd__V1__RotateKeysResponse *kr = (const Authd__V1__RotateKeysResponse *)resp;
    if (kr->kid == NULL || kr->kid[0] == '\0') {
        rpc_msg_free(resp);
        fputs("authctl: authd returned no kid\n", stderr);
        return AUTHCTL_REFUSED;
    }
    if (ctl->json) {
        rc = print_json(json_pack("{s:s}", "kid", kr->kid));
    } else {
        authctl_print_safe(stdout, kr->kid);
        fputc('\n', stdout);
        rc = AUTHCTL_OK;
    }
    rpc_msg_free(resp);
    return rc;
}

static int
cmd_config(struct ctl *ctl, int argc, char **argv)
{
    static const struct option lo[] = {{"output", required_argument, NULL, 'o'},
                                       {NULL, 0, NULL, 0}};
    Authd__V1__GetAuthConfigRequest req = AUTHD__V1__GET_AUTH_CONFIG_REQUEST__INIT;
    struct rpc_status st;
    ProtobufCMessage *resp = NULL;
    int c;

    if (argc < 1 || strcmp(argv[0], "get") != 0)
        return usage_error("the config command is 'config get'");
    optind = 0;
    while ((c = next_opt(argc, argv, "+o:", lo)) != -1) {
        if (c != 'o' || parse_output(ctl, optarg) != 0)
            return usage_error("'config get' takes only -o text|json");
    }
    if (no_extra_args(argc, argv) != AUTHCTL_OK)
        return AUTHCTL_USAGE;
    int r = rpc_call(ctl->client, "/authd.v1.Admin/GetAuthConfig", &req.base,
                     &authd__v1__auth_config__descriptor, &resp, ctl->timeout_ms, &st);
    if (r != AUTHD_OK)
        return authctl_rpc_failed(NULL, r, &st);
    json_t *j = manifest_auth_config_to_json((const Authd__V1__AuthConfig *)resp);
    rpc_msg_free(resp);
    if (ctl->json || j == NULL)
        return print_json(j);
    int rc = manifest_print_yaml(stdout, j, 0) == 0 ? AUTHCTL_OK : AUTHCTL_REFUSED;
    json_decref(j);
    return rc;
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
            if (parse_long(optarg, 1, 3600 * 1000, &v) != 0)
                return usage_error("--timeout takes milliseconds from 1 to 3600000");
            ctl.timeout_ms = (int)v;
            break;
        case 'o':
            if (parse_output(&ctl, optarg) != 0)
                return usage_error("-o takes text or json");
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
        return usage_error("unknown command '%s'", cmd);

    rc = open_client(&ctl, flag_or_env(ca, "AUTHCTL_CA"), flag_or_env(cert, "AUTHCTL_CERT"),
                     flag_or_env(key, "AUTHCTL_KEY"),
                     flag_or_env(server_name, "AUTHCTL_SERVER_NAME"));
    if (rc != AUTHCTL_OK)
        return rc;
    if (strcmp(cmd, "apply") == 0)
        rc = cmd_apply(&ctl, argc - optind, argv + optind);
    else if (strcmp(cmd, "user") == 0)
        rc = cmd_user(&ctl, sub_argc, sub_argv);
    else if (strcmp(cmd, "client") == 0)
        rc = cmd_client(&ctl, sub_argc, sub_argv);
    else if (strcmp(cmd, "keys") == 0)
        rc = cmd_keys(&ctl, sub_argc, sub_argv);
    else
        rc = cmd_config(&ctl, sub_argc, sub_argv);
    if (rc == AUTHCTL_UNREACHABLE)
        fprintf(stderr, "authctl: is authd running at %s? (set --authd or AUTHCTL_AUTHD%s)\n",
                ctl.target,
                flag_or_env(ca, "AUTHCTL_CA") != NULL
                    ? "; over TLS, also check --ca, --cert, --key and --server-name"
                    : "; an authd serving TLS needs --ca");
    rpc_client_free(ctl.client);
    return rc;
}
