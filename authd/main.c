/* SPDX-License-Identifier: Apache-2.0 */
/*
 * authd: the authentication daemon. Reads flags and AUTHD_* environment variables (a flag wins),
 * opens the store, serves the RPC services, and on SIGTERM/SIGINT stops accepting, lets calls in
 * flight finish (bounded), and closes the store cleanly.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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
#include "common/opts.h"
#include "authd/metrics_http.h"
#include "authd/password.h"
#include "proto/rpc.h"
#include "common/secret.h"
#include "authd/secretbox.h"
#include "authd/signkeys.h"
#include "storage/store.h"
#include "authd/sweeper.h"
#include "authd/webauthn_login.h"

#define MAX_SERVICES 16
#define TLS_FILE_MAX ((size_t)1024 * 1024) /* largest PEM file read for --tls-* */

struct options {
    const char *listen;
    const char *data_dir; /* the RocksDB directory (--data-dir or --store rocksdb:DIR); NULL on
                             PostgreSQL */
    const char *store;    /* --store as given; NULL: rocksdb:<--data-dir> */
    char store_spec[PATH_MAX + 16]; /* what store_open gets */
    int64_t store_connect_wait;
    int64_t rocksdb_cache_mb;   /* --rocksdb-cache-mb */
    int64_t rocksdb_bloom_bits; /* --rocksdb-bloom-bits */
    const char *log_level;
    const char *port_file;
    int workers;
    int hash_threads; /* --hash-threads; 0: one per core */
    int max_streams;  /* gRPC limits: struct rpc_server_opts */
    int grpc_memory_mib;
    int max_idle_s, max_age_s, max_age_grace_s; /* 0: never (not the grace) */
    int max_call_ms;                            /* 0: never */
    int max_waiting;                            /* 0: no limit */
    const char *tls_ca;                         /* mutual TLS: all three or none */
    const char *tls_cert;
    const char *tls_key;
    int production;
    /* --inline-trials: RPC_TRY_INLINE methods tried on the cq thread first */
    int inline_trials;
    const char *totp_key_file;
    const char *totp_key; /* AUTHD_TOTP_KEY (environment only): wiped once read */
    int64_t sweep_interval;
    int refresh_ms; /* --refresh-ms: struct authd.refresh_ms */
    const char *issuer;
    const char *token_alg;
    int token_cache;             /* --token-cache: authd_settings.token_cache */
    const char *callers_file;    /* --callers: certificate identities -> roles */
    const char *anonymous_roles; /* --anonymous-roles; NULL: by transport */

    const char *metrics_listen;    /* --metrics-listen; NULL: no metrics endpoint */
    const char *metrics_port_file; /* --metrics-port-file */
    struct authd_settings set;
};

#define F(member) OPTS_FIELD(struct options, member)
#define DAYS(n) ((long long)(n)*86400)

/* Every option of authd: parsing, --help and README's usage block come from this table. */
static const struct opts_spec option_table[] = {
    {"listen", 0, "AUTHD_LISTEN", OPTS_STRING, "ADDR", 0, 0, NULL, "127.0.0.1:50051",
     "gRPC address; port 0 picks a free port", F(listen)},
    {"data-dir", 0, "AUTHD_DATA_DIR", OPTS_STRING, "DIR", 0, 0, NULL, NULL,
     "RocksDB directory (default ./data): the same as\n--store rocksdb:DIR; --store wins over "
     "AUTHD_DATA_DIR",
     F(data_dir)},
    {"store", 0, "AUTHD_STORE", OPTS_STRING, "SPEC", 0, 0, NULL, NULL,
     "where the data lives: rocksdb:DIR (one authd) or\npostgres:CONNINFO (a libpq key=value "
     "string or\npostgresql:// URI; authd replicas may share it).\nThe password comes from "
     "PGPASSFILE or PGPASSWORD,\nnever from this option",
     F(store)},
    {"store-connect-wait", 0, "AUTHD_STORE_CONNECT_WAIT", OPTS_INT, "SECONDS", 1, 3600, NULL, "30",
     "PostgreSQL: how long to wait at start for an\nunreachable database", F(store_connect_wait)},
    {"rocksdb-cache-mb", 0, "AUTHD_ROCKSDB_CACHE_MB", OPTS_INT, "MIB", 8, 1 << 20, NULL, "64",
     "RocksDB block cache (data, index and filter blocks;\ndocs/operations.md sizes it)",
     F(rocksdb_cache_mb)},
    {"rocksdb-bloom-bits", 0, "AUTHD_ROCKSDB_BLOOM_BITS", OPTS_INT, "N", 0, 32, NULL, "10",
     "RocksDB bloom filter bits per key (0: none; for\ntable files written from then on)",
     F(rocksdb_bloom_bits)},
    {"log-level", 0, "AUTHD_LOG_LEVEL", OPTS_CHOICE, "LEVEL", 0, 0, "debug|info|warn|error", "info",
     "log threshold (logfmt lines on standard error)", F(log_level)},
    {"port-file", 0, NULL, OPTS_STRING, "FILE", 0, 0, NULL, NULL,
     "write the bound port here once serving", F(port_file)},
    {"workers", 0, "AUTHD_WORKERS", OPTS_INT, "N", 1, 1024, NULL, "32",
     "threads for blocking calls", F(workers)},
    {"hash-threads", 0, "AUTHD_HASH_THREADS", OPTS_INT, "N", 0, 256, NULL, "0",
     "Argon2 hashes computed at once (0: one per core);\nothers wait. Hashing memory is at most "
     "N x\n--argon2-memory",
     F(hash_threads)},
    {"max-streams", 0, "AUTHD_MAX_STREAMS", OPTS_INT, "N", 1, 65536, NULL, "128",
     "concurrent gRPC calls per connection; a client\nthat opens more is disconnected",
     F(max_streams)},
    {"grpc-memory", 0, "AUTHD_GRPC_MEMORY", OPTS_INT, "MIB", 4, 65536, NULL, "128",
     "memory gRPC's connections may use in all (a\nresource quota)", F(grpc_memory_mib)},
    {"max-connection-idle", 0, "AUTHD_MAX_CONNECTION_IDLE", OPTS_INT, "SECONDS", 0, 2000000, NULL,
     "300", "close a gRPC connection without calls this long\n(0: never)", F(max_idle_s)},
    {"max-connection-age", 0, "AUTHD_MAX_CONNECTION_AGE", OPTS_INT, "SECONDS", 0, 2000000, NULL,
     "3600",
     "ask a gRPC connection to go away (GOAWAY) at this\nage; clients reconnect (0: "
     "never)",
     F(max_age_s)},
    {"max-connection-age-grace", 0, "AUTHD_MAX_CONNECTION_AGE_GRACE", OPTS_INT, "SECONDS", 1,
     2000000, NULL, "60",
     "then close it this much later, ending what still\nruns (Health/Watch streams included)",
     F(max_age_grace_s)},
    {"max-call-ms", 0, "AUTHD_MAX_CALL_MS", OPTS_INT, "MS", 0, 2000000000, NULL, "60000",
     "a gRPC call without a deadline, or with a later one,\nends with DEADLINE_EXCEEDED this "
     "long after it\narrived, request received or not; held Health/Watch\nstreams are exempt "
     "(0: never)",
     F(max_call_ms)},
    {"max-waiting-calls", 0, "AUTHD_MAX_WAITING_CALLS", OPTS_INT, "N", 0, 1000000, NULL, "1024",
     "gRPC calls whose request message has not come yet,\nover all connections; beyond it the "
     "oldest is\ncancelled (RESOURCE_EXHAUSTED) (0: no limit)",
     F(max_waiting)},
    {"inline-trials", 0, "AUTHD_INLINE_TRIALS", OPTS_FLAG, NULL, 0, 0, NULL, NULL,
     "try Token (client_credentials) and Introspect on the\ngRPC completion-queue thread before "
     "a worker (RocksDB\nonly; measured slower on a loaded machine: off)",
     F(inline_trials)},
    {"argon2-memory", 0, "AUTHD_ARGON2_MEMORY", OPTS_INT, "KIB", 8, 4 * 1024 * 1024, NULL, "19456",
     "Argon2id memory of new password hashes", F(set.argon2.m_cost_kib)},
    {"argon2-iterations", 0, "AUTHD_ARGON2_ITERATIONS", OPTS_INT, "N", 1, 100, NULL, "2",
     "Argon2id passes", F(set.argon2.t_cost)},
    {"argon2-parallelism", 0, "AUTHD_ARGON2_PARALLELISM", OPTS_INT, "N", 1, 16, NULL, "1",
     "Argon2id lanes", F(set.argon2.parallelism)},
    {"session-ttl", 0, "AUTHD_SESSION_TTL", OPTS_INT, "SECONDS", 1, DAYS(400), NULL, "43200",
     "session lifetime when AuthConfig.asidCookieMaxAge is 0", F(set.session_ttl)},
    {"signup-ttl", 0, "AUTHD_SIGNUP_TTL", OPTS_INT, "SECONDS", 1, DAYS(30), NULL, "86400",
     "confirmation link lifetime", F(set.signup_ttl)},
    {"reset-ttl", 0, "AUTHD_RESET_TTL", OPTS_INT, "SECONDS", 1, DAYS(7), NULL, "3600",
     "password-reset link lifetime", F(set.reset_ttl)},
    {"remember-ttl", 0, "AUTHD_REMEMBER_TTL", OPTS_INT, "SECONDS", 0, DAYS(365), NULL, "0",
     "lifetime of a remembered browser (0: AuthConfig\ntwoFactor.rememberBrowserDays; for tests)",
     F(set.remember_ttl)},
    {"code-ttl", 0, "AUTHD_CODE_TTL", OPTS_INT, "SECONDS", 1, 600, NULL, "60",
     "OAuth authorization code lifetime", F(set.code_ttl)},
    {"token-alg", 0, "AUTHD_TOKEN_ALG", OPTS_CHOICE, "ALG", 0, 0, "ES256|RS256", "ES256",
     "JWS algorithm of access tokens until a key rotation chooses one", F(token_alg)},
    {"token-cache", 0, "AUTHD_TOKEN_CACHE", OPTS_INT, "N", 0, 1000000, NULL, "8192",
     "JWTs whose verified signature is remembered\n(until their exp; 0: verify every time)",
     F(token_cache)},
    /* Five minutes: every cache of the JWKS (the edge's refreshes within a minute by default)
     * holds a rotated-in key well before it signs. */
    {"key-publish-delay", 0, "AUTHD_KEY_PUBLISH_DELAY", OPTS_INT, "N", 0, DAYS(1), NULL, "300",
     "seconds a rotated-in signing key is in the JWKS\nbefore it signs (the previous key signs\n"
     "meanwhile; 0: at once; keys rotate --now skips it)",
     F(set.key_publish_delay)},
    {"issuer", 0, "AUTHD_ISSUER", OPTS_STRING, "URL", 0, 0, NULL, "http://127.0.0.1:8080",
     "the edge's public base URL: the iss of every token", F(issuer)},
    {"sweep-interval", 0, "AUTHD_SWEEP_INTERVAL", OPTS_INT, "SECONDS", 1, DAYS(7), NULL, "600",
     "how often expired records are swept", F(sweep_interval)},
    {"refresh-ms", 0, "AUTHD_REFRESH_MS", OPTS_INT, "MS", 0, 60000, NULL, "1000",
     "how stale the cached AuthConfig and signing keys may\nget before a use rereads them "
     "(replicas on one\ndatabase see each other's changes within it)",
     F(refresh_ms)},
    {"totp-key-file", 0, "AUTHD_TOTP_KEY_FILE", OPTS_STRING, "FILE", 0, 0, NULL, NULL,
     "256-bit key (64 hex digits) that encrypts TOTP secrets\nand signing keys at rest",
     F(totp_key_file)},
    {NULL, 0, "AUTHD_TOTP_KEY", OPTS_STRING, NULL, 0, 0, NULL, NULL,
     "the same key as text, when there is no --totp-key-file", F(totp_key)},
    {"production", 0, "AUTHD_PRODUCTION", OPTS_FLAG, NULL, 0, 0, NULL, NULL,
     "refuse to start without a TOTP key; anonymous callers\nget no role", F(production)},
    {"tls-ca", 0, "AUTHD_TLS_CA", OPTS_STRING, "FILE", 0, 0, NULL, NULL,
     "serve gRPC over mutual TLS: the CA (PEM) client\ncertificates must chain to", F(tls_ca)},
    {"tls-cert", 0, "AUTHD_TLS_CERT", OPTS_STRING, "FILE", 0, 0, NULL, NULL,
     "authd's certificate chain (PEM)", F(tls_cert)},
    {"tls-key", 0, "AUTHD_TLS_KEY", OPTS_STRING, "FILE", 0, 0, NULL, NULL,
     "authd's private key (PEM). The three go together;\nwithout them gRPC is plaintext and "
     "only a loopback\n--listen address is accepted",
     F(tls_key)},
    {"callers", 0, "AUTHD_CALLERS", OPTS_STRING, "FILE", 0, 0, NULL, NULL,
     "certificate identities and their roles, YAML\n(see deploy/callers.yaml)", F(callers_file)},
    {"anonymous-roles", 0, "AUTHD_ANONYMOUS_ROLES", OPTS_STRING, "LIST", 0, 0, NULL, NULL,
     "roles of a caller with no mapped identity and no\ntoken: edge,admin,service or none "
     "(default: all\nthree over plaintext loopback, none over TLS or\nwith --production)",
     F(anonymous_roles)},
    {"metrics-listen", 0, "AUTHD_METRICS_LISTEN", OPTS_STRING, "ADDR", 0, 0, NULL, NULL,
     "serve Prometheus metrics on http://ADDR/metrics\n(default off; no authentication: use a "
     "loopback\nor private address; port 0 picks one)",
     F(metrics_listen)},
    {"metrics-port-file", 0, NULL, OPTS_STRING, "FILE", 0, 0, NULL, NULL,
     "write the metrics port here once serving", F(metrics_port_file)},
};

#undef F
#undef DAYS

static const struct opts_program program = {
    .name = "authd",
    .synopsis = "usage: authd [options]\n"
                "The authentication daemon: users, sessions, two-factor, OAuth, over gRPC.\n"
                "Each option can also come from its environment variable; the option wins.\n",
    .specs = option_table,
    .n_specs = sizeof(option_table) / sizeof(option_table[0]),
};

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

/* The options: the table, then the rules that tie several together. 0, 1 (help or version
 * printed: exit 0) or 2 (usage error). */
static int
parse_options(int argc, char **argv, struct options *o)
{
    memset(o, 0, sizeof(*o));
    authd_settings_default(&o->set);
    enum opts_result r = opts_parse(&program, argc, argv, o, NULL);
    if (r != OPTS_CONTINUE)
        return r == OPTS_EXIT ? 1 : 2;
    snprintf(o->set.token_alg, sizeof(o->set.token_alg), "%s", o->token_alg);
    o->set.token_cache = (size_t)o->token_cache;
    /* AUTHD_DATA_DIR from the environment (a unit file's default) gives way to a store
     * chosen on purpose; the two flags together are a mistake. */
    const char *env_dir = getenv("AUTHD_DATA_DIR");
    if (o->store != NULL && o->data_dir != NULL && o->data_dir == env_dir)
        o->data_dir = NULL;
    if (o->store != NULL && o->data_dir != NULL) {
        fprintf(stderr, "authd: give --store or --data-dir, not both (--data-dir DIR is --store "
                        "rocksdb:DIR)\n");
        return 2;
    }
    if (o->store == NULL) {
        if (o->data_dir == NULL)
            o->data_dir = "./data";
        if (strncmp(o->data_dir, "postgres:", 9) == 0 || strncmp(o->data_dir, "rocksdb:", 8) == 0) {
            fprintf(stderr, "authd: --data-dir takes a RocksDB directory; a store spec goes to "
                            "--store\n");
            return 2;
        }
        if (snprintf(o->store_spec, sizeof(o->store_spec), "rocksdb:%s", o->data_dir) >=
            (int)sizeof(o->store_spec)) {
            fprintf(stderr, "authd: --data-dir is too long\n");
            return 2;
        }
    } else {
        if (strncmp(o->store, "rocksdb:", 8) == 0 && o->store[8] != '\0') {
            o->data_dir = o->store + 8;
        } else if (strncmp(o->store, "postgres:", 9) != 0 || o->store[9] == '\0') {
            fprintf(stderr, "authd: --store wants rocksdb:DIR or postgres:CONNINFO\n");
            return 2;
        }
        if (snprintf(o->store_spec, sizeof(o->store_spec), "%s", o->store) >=
            (int)sizeof(o->store_spec)) {
            fprintf(stderr, "authd: --store is too long\n");
            return 2;
        }
        /* A password in argv is visible to every local user (ps, /proc/<pid>/cmdline). */
        char red[sizeof(o->store_spec)];
        store_spec_redact(o->store, red, sizeof(red));
        if (strcmp(red, o->store) != 0 && o->store != getenv("AUTHD_STORE")) {
            fprintf(stderr, "authd: --store must not carry a password: put it in PGPASSFILE "
                            "or PGPASSWORD\n");
            return 2;
        }
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

/* How to make the key, for the errors that ask for one (docs/operations.md says more). */
#define TOTP_KEY_HOWTO                                                                             \
    "authd: make one (256 bits, 64 hex digits; it encrypts TOTP secrets and signing keys,\n"       \
    "  so keep it, and a copy apart from the backups, for the life of the data):\n"                \
    "    (umask 077; openssl rand -hex 32 > /etc/authd/totp.key)\n"                                \
    "  then start authd with --totp-key-file /etc/authd/totp.key (see docs/operations.md)\n"

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
    const char *env = o->totp_key;
    int r = -1;

    if (o->totp_key_file != NULL) {
        if (env != NULL) { /* not used, but not left in the environment either */
            secret_wipe((char *)env, strlen(env));
            unsetenv("AUTHD_TOTP_KEY");
        }
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
                "authd: --production needs a TOTP key: --totp-key-file or "
                "AUTHD_TOTP_KEY\n%s",
                TOTP_KEY_HOWTO);
        goto out;
    } else if (o->data_dir == NULL) {
        /* Replicas share the database, so they must share the key: no per-machine key file. */
        fprintf(stderr,
                "authd: --store postgres:... needs a TOTP key shared by every replica: "
                "--totp-key-file or AUTHD_TOTP_KEY\n%s",
                TOTP_KEY_HOWTO);
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

/*
 * The store and the domain state: opens the data directory, reads the configuration, checks
 * --issuer and loads (or creates) the signing keys. *ready is set once a needs
 * authd_cleanup(). 0, or -1 with the reason on stderr.
 */
static int
open_domain(const struct options *o, struct secretbox *box, struct store **st, struct authd *a,
            int *ready)
{
    struct store_opts so;
    store_opts_default(&so);
    /* A database backend's connection pool: one per worker (plus its own spares). A judged
     * attempt holds one connection for its serial lock (guard.c) while its judging uses one
     * more at a time, so fewer connections than workers could leave every connection held by a
     * waiting attempt. */
    so.pool_size = o->workers;
    so.connect_wait_ms = (int)o->store_connect_wait * 1000;
    so.cache_mb = (size_t)o->rocksdb_cache_mb;
    so.bloom_bits = (int)o->rocksdb_bloom_bits;
    char err[768] = "";
    if (store_open(o->store_spec, &so, st, err, sizeof(err)) != AUTHD_OK) {
        char red[sizeof(o->store_spec)], q[sizeof(red) + 16];
        store_spec_redact(o->store_spec, red, sizeof(red));
        if (o->data_dir != NULL)
            fprintf(stderr, "authd: cannot open data directory: %s\n", err);
        else
            fprintf(stderr, "authd: cannot open the PostgreSQL store: %s\n", err);
        log_event(LOG_ERROR, "store_open_failed", "store=%s", log_quote(red, q, sizeof(q)));
        return -1;
    }
    if (authd_init(a, *st, box, &o->set) != AUTHD_OK) {
        fprintf(stderr, "authd: cannot read configuration from the store\n");
        return -1;
    }
    a->refresh_ms = o->refresh_ms;
    *ready = 1;
    if (strlen(o->issuer) >= sizeof(a->issuer) ||
        (strncmp(o->issuer, "https://", 8) != 0 && strncmp(o->issuer, "http://", 7) != 0)) {
        fprintf(stderr, "authd: --issuer must be an http(s) URL\n");
        return -1;
    }
    snprintf(a->issuer, sizeof(a->issuer), "%s", o->issuer);
    /* Retired public keys stay published as long as the longest token lifetime allows. */
    if (signkeys_load(a, 400LL * 86400, &a->keys) != AUTHD_OK) {
        fprintf(stderr, "authd: cannot load or create the token signing keys\n");
        return -1;
    }
    /* An active key of each algorithm from the start, both in the JWKS before any token needs
     * them: access tokens use the chosen one (--token-alg until a rotation chooses), ID tokens
     * the one their client registered, RS256 by default (OpenID Connect). */
    if (signkeys_ensure(a, a->keys, "ES256") != AUTHD_OK ||
        signkeys_ensure(a, a->keys, "RS256") != AUTHD_OK) {
        fprintf(stderr, "authd: cannot create the token signing keys\n");
        return -1;
    }
    return 0;
}

/* Says how gRPC is served: mutual TLS (with the files), or plaintext on loopback. */
static void
log_transport(const struct options *o)
{
    if (o->tls_ca != NULL) {
        char qca[300], qcert[300];
        log_event(LOG_INFO, "tls_grpc", "listen=%s mtls=1 ca=%s cert=%s", o->listen,
                  log_quote(o->tls_ca, qca, sizeof(qca)),
                  log_quote(o->tls_cert, qcert, sizeof(qcert)));
    } else {
        log_event(LOG_WARN, "plaintext_grpc",
                  "listen=%s note=\"gRPC calls are plaintext, accepted on loopback only; give "
                  "--tls-ca, --tls-cert and --tls-key for mutual TLS\"",
                  o->listen);
    }
}

/* The Prometheus endpoint (--metrics-listen) and its port file. 0, or -1 with the reason. */
static int
start_metrics(const struct options *o, struct metrics_http **metrics)
{
    int mport = 0;
    int r = metrics_http_start(o->metrics_listen, metrics, &mport);
    if (r != AUTHD_OK) {
        fprintf(stderr, "authd: cannot serve metrics on %s: %s\n", o->metrics_listen,
                authd_strerror(r));
        return -1;
    }
    if (o->metrics_port_file != NULL && write_port_file(o->metrics_port_file, mport) != 0) {
        fprintf(stderr, "authd: cannot write port file %s\n", o->metrics_port_file);
        return -1;
    }
    char qm[300];
    log_event(is_loopback(o->metrics_listen) ? LOG_INFO : LOG_WARN, "metrics_listening",
              "listen=%s port=%d path=/metrics%s", log_quote(o->metrics_listen, qm, sizeof(qm)),
              mport,
              is_loopback(o->metrics_listen)
                  ? ""
                  : " note=\"the metrics endpoint has no authentication; keep it private\"");
    return 0;
}

/*
 * Serves a's services over gRPC: TLS from the PEM texts ca and cert and *key (the key is wiped
 * and *key set to NULL once gRPC has its own copy; ca NULL: plaintext), the callers map into
 * *callers (free it after the server stops), every call observed for the metrics. 0 with *srv
 * and *port, or -1 with the reason on stderr.
 */
static int
serve_grpc(const struct options *o, struct authd *a, const char *ca, const char *cert, char **key,
           struct callers **callers, struct rpc_server **srv, int *port)
{
    struct rpc_service svcs[MAX_SERVICES];
    size_t n = authd_services(a, svcs, MAX_SERVICES);
    struct rpc_server_opts ro = {
        .listen = o->listen,
        .workers = o->workers,
        .max_streams = o->max_streams,
        .memory_quota = (size_t)o->grpc_memory_mib * 1024 * 1024,
        /* Our 0 is "never", rpc_server_opts' is "default". */
        .max_idle_ms = o->max_idle_s > 0 ? o->max_idle_s * 1000 : -1,
        .max_age_ms = o->max_age_s > 0 ? o->max_age_s * 1000 : -1,
        .max_age_grace_ms = o->max_age_grace_s * 1000,
        .max_call_ms = o->max_call_ms > 0 ? o->max_call_ms : -1,
        .max_waiting = o->max_waiting > 0 ? o->max_waiting : -1,
    };
    struct rpc_tls tls = {.ca_pem = ca, .cert_pem = cert, .key_pem = *key};

    metrics_http_describe();
    webauthn_login_metrics();          /* a counter that must read 0 before its first regression */
    ro.observe = metrics_http_observe; /* ignores hook_arg, which is the authorize hook's */
    ro.tls = ca != NULL ? &tls : NULL;
    if (setup_callers(o, a, ro.tls != NULL, callers) != 0)
        return -1;
    ro.authorize = callers_authorize;
    ro.hook_arg = *callers;
    /* On a shared database (PostgreSQL) every store read is a round trip: no trial may make one
     * on a completion-queue thread, so Token and Introspect go to the workers at once. On
     * RocksDB trials are opt-in: they cut the CPU per call but, with the machine loaded, the two
     * cq threads got a smaller share of the cores than the worker pool and throughput fell
     * (docs/performance.md, "Token and Introspect on the completion-queue thread"). */
    ro.no_trials = !store_local(a->store) || !o->inline_trials;
    int r = rpc_server_start(&ro, svcs, n, srv, port);
    /* gRPC keeps its own copy of the key: ours is not needed any more. */
    if (*key != NULL) {
        secret_freezero(*key, TLS_FILE_MAX + 1);
        *key = NULL;
    }
    if (r != AUTHD_OK) {
        fprintf(stderr, "authd: cannot serve on %s: %s%s\n", o->listen, authd_strerror(r),
                ca != NULL ? " (or the TLS certificate and key do not load or match)" : "");
        return -1;
    }
    log_transport(o);
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

    if (open_domain(&o, box, &st, &a, &authd_ready) != 0)
        goto out;
    if (password_pool_init(o.hash_threads) != AUTHD_OK) {
        fprintf(stderr, "authd: cannot size the password hash pool\n");
        goto out;
    }

    int port = 0;
    if (serve_grpc(&o, &a, tls_ca, tls_cert, &tls_key, &callers, &srv, &port) != 0)
        goto out;
    /* Before the port file: whoever waits for it finds the metrics endpoint up too. */
    if (o.metrics_listen != NULL && start_metrics(&o, &metrics) != 0)
        goto out;
    if (o.port_file != NULL && write_port_file(o.port_file, port) != 0) {
        fprintf(stderr, "authd: cannot write port file %s\n", o.port_file);
        goto out;
    }
    if (sweeper_start(&a, o.sweep_interval, &sweeper) != AUTHD_OK) {
        fprintf(stderr, "authd: cannot start the sweeper\n");
        goto out;
    }
    char red[sizeof(o.store_spec)], qred[sizeof(red) + 16];
    store_spec_redact(o.store_spec, red, sizeof(red));
    struct password_pool_stats hp;
    password_pool_stats(&hp);
    log_event(LOG_INFO, "serving",
              "listen=%s port=%d store=%s argon2_m=%u argon2_t=%u hash_threads=%d", o.listen, port,
              log_quote(red, qred, sizeof(qred)), o.set.argon2.m_cost_kib, o.set.argon2.t_cost,
              hp.threads);

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
