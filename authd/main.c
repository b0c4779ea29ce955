/* SPDX-License-Identifier: Apache-2.0 */
/*
 * authd: the authentication daemon. Reads flags and AUTHD_* environment variables (a flag wins),
 * opens the store, serves the RPC services, and on SIGTERM/SIGINT stops accepting, lets calls in
 * flight finish (bounded), and closes the store cleanly.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authd/authd.h"
#include "authd/callers.h"
#include "common/err.h"
#include "common/log.h"
#include "authd/metrics_http.h"
#include "proto/rpc.h"
#include "common/secret.h"
#include "authd/secretbox.h"
#include "authd/signkeys.h"
#include "storage/store.h"
#include "authd/sweeper.h"

#define MAX_SERVICES 16
#define TLS_FILE_MAX ((size_t)1024 * 1024) /* largest PEM file read for --tls-* */

struct options {
    const char *listen;
    const char *data_dir;
    const char *log_level;
    const char *port_file;
    int workers;
    const char *tls_ca; /* mutual TLS: all three or none */
    const char *tls_cert;
    const char *tls_key;
    int production;
    const char *totp_key_file;
    long sweep_interval;
    const char *issuer;
    const char *callers_file;    /* --callers: certificate identities -> roles */
    const char *anonymous_roles; /* --anonymous-roles; NULL: by transport */

    const char *metrics_listen;    /* --metrics-listen; NULL: no metrics endpoint */
    const char *metrics_port_file; /* --metrics-port-file */
    struct authd_settings set;
};

static void
usage(FILE *f)
{
    fprintf(
        f, "usage: authd [options]\n"
           "  --listen ADDR          gRPC address (AUTHD_LISTEN, default 127.0.0.1:50051;\n"
           "                         port 0 picks a free port)\n"
           "  --data-dir DIR         RocksDB directory (AUTHD_DATA_DIR, default ./data)\n"
           "  --log-level LEVEL      debug|info|warn|error (AUTHD_LOG_LEVEL, default info)\n"
           "  --port-file FILE       write the bound port here once serving\n"
           "  --workers N            threads for blocking calls (AUTHD_WORKERS, default 32)\n"
           "  --argon2-memory KIB    Argon2id memory (AUTHD_ARGON2_MEMORY, default 19456)\n"
           "  --argon2-iterations N  Argon2id passes (AUTHD_ARGON2_ITERATIONS, default 2)\n"
           "  --argon2-parallelism N Argon2id lanes (AUTHD_ARGON2_PARALLELISM, default 1)\n"
           "  --session-ttl SECONDS  session lifetime when AuthConfig.asidCookieMaxAge is 0\n"
           "                         (AUTHD_SESSION_TTL, default 43200)\n"
           "  --signup-ttl SECONDS   confirmation link lifetime (AUTHD_SIGNUP_TTL, default 86400)\n"
           "  --reset-ttl SECONDS    reset link lifetime (AUTHD_RESET_TTL, default 3600)\n"
           "  --tls-ca FILE          serve gRPC over mutual TLS: CA (PEM) that client\n"
           "                         certificates must chain to (AUTHD_TLS_CA)\n"
           "  --tls-cert FILE        authd's certificate chain, PEM (AUTHD_TLS_CERT)\n"
           "  --tls-key FILE         authd's private key, PEM (AUTHD_TLS_KEY)\n"
           "                         The three go together. Without them gRPC is plaintext and\n"
           "                         only a loopback --listen address is accepted.\n"
           "  --callers FILE         certificate identities and their roles, YAML (AUTHD_CALLERS;\n"
           "                         see deploy/callers.yaml)\n"
           "  --anonymous-roles LIST roles of a caller with no mapped identity and no token:\n"
           "                         edge,admin,service or none (AUTHD_ANONYMOUS_ROLES; default\n"
           "                         all three over plaintext loopback, none over TLS or with\n"
           "                         --production)\n"
           "  --metrics-listen ADDR  serve Prometheus metrics on http://ADDR/metrics\n"
           "                         (AUTHD_METRICS_LISTEN; default off; no authentication:\n"
           "                         use a loopback or private address; port 0 picks one)\n"
           "  --metrics-port-file FILE  write the metrics port here once serving\n"
           "  --help\n");
}

/* Parses a decimal in [lo, hi]; returns 0 or -1. */
static int
parse_long(const char *s, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* 1 when the host part of addr ("127.0.0.1:50051", "[::1]:50051", "localhost:50051") is a
 * loopback address. The host is parsed as an address, never matched as a prefix, so a name like
 * "127.example.com" does not pass. */
static int
is_loopback(const char *addr)
{
    char host[64];
    const char *end;
    if (addr[0] == '[') {
        end = strchr(addr, ']');
        if (end == NULL || end[1] != ':' || (size_t)(end - addr - 1) >= sizeof(host))
            return 0;
        memcpy(host, addr + 1, (size_t)(end - addr - 1));
        host[end - addr - 1] = '\0';
    } else {
        end = strrchr(addr, ':');
        if (end == NULL || (size_t)(end - addr) >= sizeof(host))
            return 0;
        memcpy(host, addr, (size_t)(end - addr));
        host[end - addr] = '\0';
    }
    if (strcmp(host, "localhost") == 0)
        return 1;
    struct in_addr v4;
    struct in6_addr v6;
    if (inet_pton(AF_INET, host, &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &v6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&v6);
    return 0;
}

enum {
    OPT_LISTEN = 1,
    OPT_DATA,
    OPT_LOG,
    OPT_PORTFILE,
    OPT_WORKERS,
    OPT_A2M,
    OPT_A2T,
    OPT_A2P,
    OPT_SESS,
    OPT_SIGNUP,
    OPT_RESET,
    OPT_TLS_CA,
    OPT_TLS_CERT,
    OPT_TLS_KEY,
    OPT_HELP,
    OPT_KEYFILE,
    OPT_PRODUCTION,
    OPT_SWEEP,
    OPT_ISSUER,
    OPT_CODE_TTL,
    OPT_TOKEN_ALG,
    OPT_CALLERS,
    OPT_ANON_ROLES,
    OPT_METRICS_LISTEN,
    OPT_METRICS_PORT_FILE
};

struct numeric {
    int opt;
    const char *env;
    long lo, hi;
};

static const struct numeric numerics[] = {
    {OPT_WORKERS, "AUTHD_WORKERS", 1, 1024},
    {OPT_A2M, "AUTHD_ARGON2_MEMORY", 8, 4 * 1024 * 1024},
    {OPT_A2T, "AUTHD_ARGON2_ITERATIONS", 1, 100},
    {OPT_A2P, "AUTHD_ARGON2_PARALLELISM", 1, 16},
    {OPT_SESS, "AUTHD_SESSION_TTL", 1, 400L * 86400},
    {OPT_SIGNUP, "AUTHD_SIGNUP_TTL", 1, 30L * 86400},
    {OPT_RESET, "AUTHD_RESET_TTL", 1, 7L * 86400},
    {OPT_SWEEP, "AUTHD_SWEEP_INTERVAL", 1, 7L * 86400},
    {OPT_CODE_TTL, "AUTHD_CODE_TTL", 1, 600},
};

static int
set_numeric(struct options *o, int opt, const char *val, const char *origin)
{
    for (size_t i = 0; i < sizeof(numerics) / sizeof(numerics[0]); i++) {
        if (numerics[i].opt != opt)
            continue;
        long v;
        if (parse_long(val, numerics[i].lo, numerics[i].hi, &v) != 0) {
            fprintf(stderr, "authd: %s: expected a number in %ld..%ld\n", origin, numerics[i].lo,
                    numerics[i].hi);
            return -1;
        }
        switch (opt) {
        case OPT_WORKERS:
            o->workers = (int)v;
            break;
        case OPT_A2M:
            o->set.argon2.m_cost_kib = (uint32_t)v;
            break;
        case OPT_A2T:
            o->set.argon2.t_cost = (uint32_t)v;
            break;
        case OPT_A2P:
            o->set.argon2.parallelism = (uint32_t)v;
            break;
        case OPT_SESS:
            o->set.session_ttl = v;
            break;
        case OPT_SIGNUP:
            o->set.signup_ttl = v;
            break;
        case OPT_RESET:
            o->set.reset_ttl = v;
            break;
        case OPT_SWEEP:
            o->sweep_interval = v;
            break;
        case OPT_CODE_TTL:
            o->set.code_ttl = v;
            break;
        }
        return 0;
    }
    return -1;
}

static int
parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"data-dir", required_argument, NULL, OPT_DATA},
        {"log-level", required_argument, NULL, OPT_LOG},
        {"port-file", required_argument, NULL, OPT_PORTFILE},
        {"workers", required_argument, NULL, OPT_WORKERS},
        {"argon2-memory", required_argument, NULL, OPT_A2M},
        {"argon2-iterations", required_argument, NULL, OPT_A2T},
        {"argon2-parallelism", required_argument, NULL, OPT_A2P},
        {"session-ttl", required_argument, NULL, OPT_SESS},
        {"signup-ttl", required_argument, NULL, OPT_SIGNUP},
        {"reset-ttl", required_argument, NULL, OPT_RESET},
        {"tls-ca", required_argument, NULL, OPT_TLS_CA},
        {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
        {"tls-key", required_argument, NULL, OPT_TLS_KEY},
        {"help", no_argument, NULL, OPT_HELP},
        {"totp-key-file", required_argument, NULL, OPT_KEYFILE},
        {"production", no_argument, NULL, OPT_PRODUCTION},
        {"sweep-interval", required_argument, NULL, OPT_SWEEP},
        {"issuer", required_argument, NULL, OPT_ISSUER},
        {"code-ttl", required_argument, NULL, OPT_CODE_TTL},
        {"token-alg", required_argument, NULL, OPT_TOKEN_ALG},
        {"callers", required_argument, NULL, OPT_CALLERS},
        {"anonymous-roles", required_argument, NULL, OPT_ANON_ROLES},
        {"metrics-listen", required_argument, NULL, OPT_METRICS_LISTEN},
        {"metrics-port-file", required_argument, NULL, OPT_METRICS_PORT_FILE},
        {NULL, 0, NULL, 0}};
    const char *e;

    memset(o, 0, sizeof(*o));
    authd_settings_default(&o->set);
    o->sweep_interval = 600;
    o->listen = (e = getenv("AUTHD_LISTEN")) ? e : "127.0.0.1:50051";
    o->data_dir = (e = getenv("AUTHD_DATA_DIR")) ? e : "./data";
    o->log_level = (e = getenv("AUTHD_LOG_LEVEL")) ? e : "info";
    o->totp_key_file = getenv("AUTHD_TOTP_KEY_FILE");
    o->tls_ca = (e = getenv("AUTHD_TLS_CA")) != NULL && e[0] != '\0' ? e : NULL;
    o->tls_cert = (e = getenv("AUTHD_TLS_CERT")) != NULL && e[0] != '\0' ? e : NULL;
    o->tls_key = (e = getenv("AUTHD_TLS_KEY")) != NULL && e[0] != '\0' ? e : NULL;
    o->issuer = (e = getenv("AUTHD_ISSUER")) ? e : "http://127.0.0.1:8080";
    o->callers_file = (e = getenv("AUTHD_CALLERS")) != NULL && e[0] != '\0' ? e : NULL;
    o->anonymous_roles = (e = getenv("AUTHD_ANONYMOUS_ROLES")) != NULL && e[0] != '\0' ? e : NULL;
    if ((e = getenv("AUTHD_TOKEN_ALG")) != NULL && e[0] != '\0') {
        if (strcmp(e, "ES256") != 0 && strcmp(e, "RS256") != 0) {
            fprintf(stderr, "authd: AUTHD_TOKEN_ALG: ES256 or RS256\n");
            return 2;
        }
        snprintf(o->set.token_alg, sizeof(o->set.token_alg), "%s", e);
    }
    o->production = (e = getenv("AUTHD_PRODUCTION")) != NULL && strcmp(e, "1") == 0;
    o->metrics_listen = (e = getenv("AUTHD_METRICS_LISTEN")) != NULL && e[0] != '\0' ? e : NULL;
    for (size_t i = 0; i < sizeof(numerics) / sizeof(numerics[0]); i++)
        if ((e = getenv(numerics[i].env)) != NULL && e[0] != '\0' &&
            set_numeric(o, numerics[i].opt, e, numerics[i].env) != 0)
            return 2;

    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_LISTEN:
            o->listen = optarg;
            break;
        case OPT_DATA:
            o->data_dir = optarg;
            break;
        case OPT_LOG:
            o->log_level = optarg;
            break;
        case OPT_PORTFILE:
            o->port_file = optarg;
            break;
        case OPT_METRICS_LISTEN:
            o->metrics_listen = optarg;
            break;
        case OPT_METRICS_PORT_FILE:
            o->metrics_port_file = optarg;
            break;
        case OPT_TLS_CA:
            o->tls_ca = optarg;
            break;
        case OPT_TLS_CERT:
            o->tls_cert = optarg;
            break;
        case OPT_TLS_KEY:
            o->tls_key = optarg;
            break;
        case OPT_KEYFILE:
            o->totp_key_file = optarg;
            break;
        case OPT_PRODUCTION:
            o->production = 1;
            break;
        case OPT_ISSUER:
            o->issuer = optarg;
            break;
        case OPT_CALLERS:
            o->callers_file = optarg;
            break;
        case OPT_ANON_ROLES:
            o->anonymous_roles = optarg;
            break;
        case OPT_TOKEN_ALG:
            if (strcmp(optarg, "ES256") != 0 && strcmp(optarg, "RS256") != 0) {
                fprintf(stderr, "authd: --token-alg: ES256 or RS256\n");
                return 2;
            }
            snprintf(o->set.token_alg, sizeof(o->set.token_alg), "%s", optarg);
            break;
        case OPT_HELP:
            usage(stdout);
            return 1;
        case '?':
            usage(stderr);
            return 2;
        default:
            if (set_numeric(o, c, optarg, longopts[c - 1].name) != 0)
                return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "authd: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    int n_tls = (o->tls_ca != NULL) + (o->tls_cert != NULL) + (o->tls_key != NULL);
    if (n_tls != 0 && n_tls != 3) {
        fprintf(stderr, "authd: --tls-ca, --tls-cert and --tls-key go together (all three, or "
                        "none for plaintext on loopback)\n");
        return 2;
    }
    return 0;
}

/* Writes the port atomically (temp file + rename), so a reader never sees a partial number. */
static int
write_port_file(const char *path, int port)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return -1;
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "%d\n", port);
    if (fclose(f) != 0)
        return -1;
    return rename(tmp, path);
}

/* Reads a whole small file (a key) into buf; 0 or -1. */
static int
read_small_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    int bad = ferror(f) || !feof(f);
    fclose(f);
    buf[n] = '\0';
    return bad ? -1 : 0;
}

/*
 * Reads a whole PEM file (at most TLS_FILE_MAX bytes) into a NUL-terminated malloc'd string in
 * *out. 0, or -1 with a message on stderr naming what (--tls-ca...) could not be read. The
 * buffer is wiped when the file turns out bad: it may be a private key.
 */
static int
read_tls_file(const char *what, const char *path, char **out)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0;
    int bad = 1, e = 0;

    *out = NULL;
    if (f == NULL) {
        e = errno;
    } else {
        buf = malloc(TLS_FILE_MAX + 1);
        if (buf == NULL) {
            e = ENOMEM;
        } else {
            n = fread(buf, 1, TLS_FILE_MAX + 1, f);
            e = ferror(f) ? errno : 0;
            bad = ferror(f) || n == 0 || n > TLS_FILE_MAX;
        }
        fclose(f);
    }
    if (!bad) {
        buf[n] = '\0';
        bad = strstr(buf, "-----BEGIN ") == NULL;
        if (bad) {
            fprintf(stderr, "authd: %s %s: not a PEM file\n", what, path);
            secret_freezero(buf, TLS_FILE_MAX + 1);
            return -1;
        }
        *out = buf;
        return 0;
    }
    if (buf != NULL)
        secret_freezero(buf, TLS_FILE_MAX + 1);
    if (e != 0)
        fprintf(stderr, "authd: cannot read %s %s: %s\n", what, path, strerror(e));
    else
        fprintf(stderr, "authd: cannot read %s %s: empty or larger than %zu bytes\n", what, path,
                (size_t)TLS_FILE_MAX);
    return -1;
}

/*
 * The TOTP key: from --totp-key-file, else AUTHD_TOTP_KEY, else (not in production) a
 * development key kept beside (never inside) the data directory, created on first use.
 */
static int
load_totp_box(const struct options *o, struct secretbox **box)
{
    uint8_t key[SECRETBOX_KEY_BYTES];
    char text[256];
    char dev_path[PATH_MAX];
    const char *env = getenv("AUTHD_TOTP_KEY");
    int r = -1;

    if (o->totp_key_file != NULL) {
        if (read_small_file(o->totp_key_file, text, sizeof(text)) != 0 ||
            secretbox_parse_key(text, key) != AUTHD_OK) {
            fprintf(stderr, "authd: cannot read a 256-bit key from %s\n", o->totp_key_file);
            goto out;
        }
    } else if (env != NULL && env[0] != '\0') {
        int bad = secretbox_parse_key(env, key) != AUTHD_OK;
        /* Keep the key out of /proc/<pid>/environ and out of any child's environment. */
        secret_wipe((char *)env, strlen(env));
        unsetenv("AUTHD_TOTP_KEY");
        if (bad) {
            fprintf(stderr, "authd: AUTHD_TOTP_KEY is not a 256-bit key (64 hex digits)\n");
            goto out;
        }
    } else if (o->production) {
        fprintf(stderr,
                "authd: --production needs a TOTP key: --totp-key-file or AUTHD_TOTP_KEY\n");
        goto out;
    } else {
        /* Beside the data directory, never inside it: "data/" must give "data.dev-totp.key". */
        size_t dl = strlen(o->data_dir);
        while (dl > 1 && o->data_dir[dl - 1] == '/')
            dl--;
        if (snprintf(dev_path, sizeof(dev_path), "%.*s.dev-totp.key", (int)dl, o->data_dir) >=
            (int)sizeof(dev_path))
            goto out;
        if (read_small_file(dev_path, text, sizeof(text)) == 0) {
            if (secretbox_parse_key(text, key) != AUTHD_OK) {
                fprintf(stderr, "authd: %s does not hold a key\n", dev_path);
                goto out;
            }
        } else {
            if (secret_random(key, sizeof(key)) != AUTHD_OK)
                goto out;
            char hex[2 * SECRETBOX_KEY_BYTES + 2];
            secret_hex(key, sizeof(key), hex);
            hex[2 * SECRETBOX_KEY_BYTES] = '\n';
            hex[2 * SECRETBOX_KEY_BYTES + 1] = '\0';
            int fd = open(dev_path, O_WRONLY | O_CREAT | O_EXCL, 0600);
            ssize_t w = fd >= 0 ? write(fd, hex, strlen(hex)) : -1;
            if (fd >= 0)
                close(fd);
            secret_wipe(hex, sizeof(hex));
            if (w != (ssize_t)(2 * SECRETBOX_KEY_BYTES + 1)) {
                fprintf(stderr, "authd: cannot write the development key %s\n", dev_path);
                goto out;
            }
        }
        log_event(LOG_WARN, "development_totp_key",
                  "path=%s note=\"TOTP secrets are encrypted with a DEVELOPMENT key kept on this "
                  "disk; use --totp-key-file and --production for real deployments\"",
                  dev_path);
    }
    r = secretbox_new(key, box) == AUTHD_OK ? 0 : -1;
out:
    secret_wipe(key, sizeof(key));
    secret_wipe(text, sizeof(text));
    return r;
}

/*
 * The callers map: --callers (identities -> roles) and the anonymous roles, by default every
 * role over plaintext (loopback only, development) and none over TLS or with --production (an
 * explicit --anonymous-roles wins). 0, or -1 with a message.
 */
static int
setup_callers(const struct options *o, struct authd *a, int tls, struct callers **out)
{
    char err[512];
    unsigned anon = tls || o->production ? 0 : ROLE_ALL;
    if (o->anonymous_roles != NULL && callers_roles_parse(o->anonymous_roles, &anon) != AUTHD_OK) {
        fprintf(stderr,
                "authd: --anonymous-roles: a comma list of edge, admin, service, or none\n");
        return -1;
    }
    if (callers_new(a, anon, out) != AUTHD_OK)
        return -1;
    if (o->callers_file != NULL &&
        callers_load_file(*out, o->callers_file, err, sizeof(err)) != AUTHD_OK) {
        fprintf(stderr, "authd: --callers: %s\n", err);
        return -1;
    }
    char roles[CALLERS_ROLES_TEXT_MAX], q[300];
    log_event(LOG_INFO, "callers", "file=%s identities=%zu anonymous_roles=%s from=%s",
              log_quote(o->callers_file != NULL ? o->callers_file : "", q, sizeof(q)),
              callers_count(*out), callers_roles_text(anon, roles, sizeof(roles)),
              o->anonymous_roles != NULL ? "flag"
              : o->production            ? "production"
              : tls                      ? "tls"
                                         : "plaintext");
    if (anon != 0)
        log_event(LOG_WARN, "anonymous_roles",
                  "roles=%s note=\"every caller without credentials holds these roles%s; give "
                  "--anonymous-roles none with --callers or client tokens outside development\"",
                  roles, tls ? "" : ": any local process can call authd as them");
    return 0;
}

int
main(int argc, char **argv)
{
    struct options o;
    struct store *st = NULL;
    struct rpc_server *srv = NULL;
    struct secretbox *box = NULL;
    struct sweeper *sweeper = NULL;
    struct metrics_http *metrics = NULL;
    struct authd a;
    struct callers *callers = NULL;
    char *tls_ca = NULL, *tls_cert = NULL, *tls_key = NULL; /* PEM text; the key is wiped */
    int authd_ready = 0;
    int code = 1;

    int pr = parse_options(argc, argv, &o);
    if (pr != 0)
        return pr == 1 ? 0 : 2;
    enum log_level lvl;
    if (log_level_parse(o.log_level, &lvl) != 0) {
        fprintf(stderr, "authd: unknown log level '%s'\n", o.log_level);
        return 2;
    }
    log_init("authd", lvl);
    if (o.tls_ca == NULL && !is_loopback(o.listen)) {
        fprintf(stderr,
                "authd: refusing plaintext gRPC on non-loopback address %s: give --tls-ca, "
                "--tls-cert and --tls-key (mutual TLS), or listen on a loopback address\n",
                o.listen);
        return 2;
    }

    /* Block the stop signals in every thread; main waits for them with sigwait(). */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (o.tls_ca != NULL && (read_tls_file("--tls-ca", o.tls_ca, &tls_ca) != 0 ||
                             read_tls_file("--tls-cert", o.tls_cert, &tls_cert) != 0 ||
                             read_tls_file("--tls-key", o.tls_key, &tls_key) != 0))
        goto out;
    if (load_totp_box(&o, &box) != 0)
        goto out;

    struct store_opts so;
    store_opts_default(&so);
    char err[256] = "";
    if (store_open(o.data_dir, &so, &st, err, sizeof(err)) != AUTHD_OK) {
        fprintf(stderr, "authd: cannot open data directory: %s\n", err);
        log_event(LOG_ERROR, "store_open_failed", "dir=%s", o.data_dir);
        goto out;
    }
    if (authd_init(&a, st, box, &o.set) != AUTHD_OK) {
        fprintf(stderr, "authd: cannot read configuration from the store\n");
        goto out;
    }
    authd_ready = 1;
    if (strlen(o.issuer) >= sizeof(a.issuer) ||
        (strncmp(o.issuer, "https://", 8) != 0 && strncmp(o.issuer, "http://", 7) != 0)) {
        fprintf(stderr, "authd: --issuer must be an http(s) URL\n");
        goto out;
    }
    snprintf(a.issuer, sizeof(a.issuer), "%s", o.issuer);
    /* Retired public keys stay published as long as the longest token lifetime allows. */
    if (signkeys_load(&a, 400LL * 86400, &a.keys) != AUTHD_OK) {
        fprintf(stderr, "authd: cannot load or create the token signing keys\n");
        goto out;
    }
    /* The chosen algorithm needs an active key of its own (ES256 always has one). */
    if (strcmp(a.set.token_alg, "RS256") == 0) {
        char *probe = NULL;
        if (signkeys_sign(a.keys, "RS256", "{}", &probe) != AUTHD_OK) {
            char kid[SIGNKEYS_KID_MAX];
            if (signkeys_rotate(&a, a.keys, "RS256", kid) != AUTHD_OK) {
                fprintf(stderr, "authd: cannot create an RS256 signing key\n");
                goto out;
            }
        }
        free(probe);
    }

    struct rpc_service svcs[MAX_SERVICES];
    size_t n = authd_services(&a, svcs, MAX_SERVICES);
    struct rpc_server_opts ro = {.listen = o.listen, .workers = o.workers};
    metrics_http_describe();
    ro.observe = metrics_http_observe; /* ignores hook_arg, which is the authorize hook's */
    struct rpc_tls tls = {.ca_pem = tls_ca, .cert_pem = tls_cert, .key_pem = tls_key};
    ro.tls = tls_ca != NULL ? &tls : NULL;
    if (setup_callers(&o, &a, ro.tls != NULL, &callers) != 0)
        goto out;
    ro.authorize = callers_authorize;
    ro.hook_arg = callers;
    int port = 0;
    int r = rpc_server_start(&ro, svcs, n, &srv, &port);
    /* gRPC keeps its own copy of the key: ours is not needed any more. */
    if (tls_key != NULL) {
        secret_freezero(tls_key, TLS_FILE_MAX + 1);
        tls_key = NULL;
    }
    if (r != AUTHD_OK) {
        fprintf(stderr, "authd: cannot serve on %s: %s%s\n", o.listen, authd_strerror(r),
                tls_ca != NULL ? " (or the TLS certificate and key do not load or match)" : "");
        goto out;
    }
    if (tls_ca != NULL) {
        char qca[300], qcert[300];
        log_event(LOG_INFO, "tls_grpc", "listen=%s mtls=1 ca=%s cert=%s", o.listen,
                  log_quote(o.tls_ca, qca, sizeof(qca)),
                  log_quote(o.tls_cert, qcert, sizeof(qcert)));
    } else {
        log_event(LOG_WARN, "plaintext_grpc",
                  "listen=%s note=\"gRPC calls are plaintext, accepted on loopback only; give "
                  "--tls-ca, --tls-cert and --tls-key for mutual TLS\"",
                  o.listen);
    }
    /* Before the port file: whoever waits for it finds the metrics endpoint up too. */
    if (o.metrics_listen != NULL) {
        int mport = 0;
        r = metrics_http_start(o.metrics_listen, &metrics, &mport);
        if (r != AUTHD_OK) {
            fprintf(stderr, "authd: cannot serve metrics on %s: %s\n", o.metrics_listen,
                    authd_strerror(r));
            goto out;
        }
        if (o.metrics_port_file != NULL && write_port_file(o.metrics_port_file, mport) != 0) {
            fprintf(stderr, "authd: cannot write port file %s\n", o.metrics_port_file);
            goto out;
        }
        char qm[300];
        log_event(is_loopback(o.metrics_listen) ? LOG_INFO : LOG_WARN, "metrics_listening",
                  "listen=%s port=%d path=/metrics%s", log_quote(o.metrics_listen, qm, sizeof(qm)),
                  mport,
                  is_loopback(o.metrics_listen)
                      ? ""
                      : " note=\"the metrics endpoint has no authentication; keep it private\"");
    }
    if (o.port_file != NULL && write_port_file(o.port_file, port) != 0) {
        fprintf(stderr, "authd: cannot write port file %s\n", o.port_file);
        goto out;
    }
    if (sweeper_start(&a, o.sweep_interval, &sweeper) != AUTHD_OK) {
        fprintf(stderr, "authd: cannot start the sweeper\n");
        goto out;
    }
    log_event(LOG_INFO, "serving", "listen=%s port=%d data_dir=%s argon2_m=%u argon2_t=%u",
              o.listen, port, o.data_dir, o.set.argon2.m_cost_kib, o.set.argon2.t_cost);

    int sig = 0;
    sigwait(&stop, &sig);
    log_event(LOG_INFO, "stopping", "signal=%d", sig);
    code = 0;
out:
    rpc_server_stop(srv, 5000);
    metrics_http_stop(metrics);
    callers_free(callers); /* after the server: its hook uses the map */
    sweeper_stop(sweeper);
    if (authd_ready) {
        signkeys_free(a.keys);
        authd_cleanup(&a);
    }
    store_close(st);
    secretbox_free(box);
    if (tls_key != NULL)
        secret_freezero(tls_key, TLS_FILE_MAX + 1);
    free(tls_cert);
    free(tls_ca);
    if (code == 0)
        log_event(LOG_INFO, "stopped", "%s", "");
    return code;
}
