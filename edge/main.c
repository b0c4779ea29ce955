/* SPDX-License-Identifier: Apache-2.0 */
/*
 * authd-edge: the browser-facing HTTP process. Reads flags and EDGE_* environment variables
 * (a flag wins over its variable), connects the authd client and the mailer, serves HTTP until
 * SIGTERM/SIGINT, then drains: stop accepting, let requests in flight finish (bounded), stop.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#include "edge/authd_client.h"
#include "edge/edge.h"
#include "common/err.h"
#include "common/log.h"
#include "edge/mail.h"
#include "common/secret.h"
#include "edge/server.h"

#define DRAIN_MS 5000
#define TLS_FILE_MAX ((size_t)1024 * 1024)

/* Long options without a short letter. */
enum {
    OPT_AUTHD_CA = 1001,
    OPT_AUTHD_CERT,
    OPT_AUTHD_KEY,
    OPT_AUTHD_SERVER_NAME,
    OPT_METRICS_TOKEN_FILE,
};

struct settings {
    const char *listen;
    const char *authd;
    const char *base_url;
    const char *mail_provider;
    const char *smtp_url;
    const char *smtp_from;
    const char *smtp_user;
    const char *smtp_starttls;
    const char *trust_proxy;
    const char *threads;
    const char *port_file;
    const char *log_level;
    const char *rpc_timeout_ms;
    const char *conn_limit;
    const char *per_ip_limit;
    const char *request_timeout;
    const char *tls_cert;
    const char *tls_key;
    const char *authd_ca; /* TLS to authd: CA, client certificate and key, name to check */
    const char *authd_cert;
    const char *authd_key;
    const char *authd_server_name;
    const char *metrics_token_file;
};

static void
usage(FILE *f)
{
    fputs(
        "usage: authd-edge [options]\n"
        "Serves the browser pages of authd (signup, login, password reset) over HTTP and\n"
        "asks authd over gRPC for every decision. Each option has an environment variable;\n"
        "the option wins.\n\n"
        "  --listen HOST:PORT        EDGE_LISTEN         address to serve (default\n"
        "                                                127.0.0.1:8080; port 0 = a free one)\n"
        "  --authd HOST:PORT         EDGE_AUTHD          authd's gRPC address\n"
        "                                                (default 127.0.0.1:50051)\n"
        "  --authd-ca FILE           EDGE_AUTHD_CA       call authd over TLS, its certificate\n"
        "                                                verified against this CA (PEM)\n"
        "  --authd-cert FILE         EDGE_AUTHD_CERT     the edge's certificate for mutual\n"
        "                                                TLS with authd (PEM)\n"
        "  --authd-key FILE          EDGE_AUTHD_KEY      ... and its private key (PEM)\n"
        "  --authd-server-name NAME  EDGE_AUTHD_SERVER_NAME\n"
        "                                                the name authd's certificate must\n"
        "                                                carry (default: the --authd host)\n"
        "  --base-url URL            EDGE_BASE_URL       public URL of this edge, used in\n"
        "                                                e-mailed links (default\n"
        "                                                http://127.0.0.1:<port>)\n"
        "  --mail-provider NAME      EDGE_MAIL_PROVIDER  console (default: mails go to the\n"
        "                                                log, link=...) or smtp\n"
        "  --smtp-url URL            EDGE_SMTP_URL       smtp://host:port or smtps://host:port\n"
        "  --smtp-from ADDR          EDGE_SMTP_FROM      sender, \"a@b\" or \"Name <a@b>\"\n"
        "  --smtp-user USER          EDGE_SMTP_USER      SMTP AUTH user; the password is read\n"
        "                                                only from EDGE_SMTP_PASSWORD\n"
        "  --smtp-starttls MODE      EDGE_SMTP_STARTTLS  none, try (default) or required\n"
        "  --trust-proxy             EDGE_TRUST_PROXY=1  honour X-Forwarded-Proto and\n"
        "                                                X-Forwarded-For (behind a proxy only)\n"
        "  --threads N               EDGE_THREADS        0 (default): a thread per connection, so\n"
        "                                                a slow RPC or webhook never holds up\n"
        "                                                another request; N: a pool of N threads\n"
        "  --conn-limit N            EDGE_CONN_LIMIT     open connections (default 1024)\n"
        "  --per-ip-limit N          EDGE_PER_IP_LIMIT   connections per client address\n"
        "                                                (default 64; 0 = none, the default\n"
        "                                                with --trust-proxy)\n"
        "  --request-timeout S       EDGE_REQUEST_TIMEOUT seconds a client has to send a\n"
        "                                                whole request (line, headers, body);\n"
        "                                                a slower one is cut (default 30)\n"
        "  --tls-cert FILE           EDGE_TLS_CERT       serve HTTPS with this PEM certificate\n"
        "  --tls-key FILE            EDGE_TLS_KEY        ... and this PEM private key\n"
        "  --metrics-token-file FILE EDGE_METRICS_TOKEN_FILE\n"
        "                                                GET /metrics then needs\n"
        "                                                \"Authorization: Bearer <token>\"\n"
        "                                                (the file's first line, or the\n"
        "                                                variable EDGE_METRICS_TOKEN; 16+\n"
        "                                                characters); without a token only\n"
        "                                                loopback peers may read /metrics\n"
        "  --port-file PATH          EDGE_PORT_FILE      write the bound port here once\n"
        "                                                listening (removed at exit)\n"
        "  --log-level LEVEL         EDGE_LOG_LEVEL      debug, info (default), warn, error\n"
        "  --rpc-timeout-ms N        EDGE_RPC_TIMEOUT_MS deadline of each call to authd\n"
        "                                                (default 5000)\n"
        "  --help                                        show this text\n",
        f);
}

static const char *
env_or(const char *flag, const char *env)
{
    if (flag != NULL)
        return flag;
    const char *v = getenv(env);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

/* Parses a decimal in [min, max]; 0 or -1. */
static int
parse_long(const char *s, long min, long max, long *out)
{
    if (s == NULL || s[0] == '\0')
        return -1;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int
truthy(const char *s)
{
    return s != NULL && (strcmp(s, "1") == 0 || strcasecmp(s, "true") == 0 ||
                         strcasecmp(s, "yes") == 0 || strcasecmp(s, "on") == 0);
}

/* Reads a whole (small) file into a NUL-terminated malloc'd string; NULL on failure. */
static char *
read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *data = malloc(TLS_FILE_MAX + 1);
    size_t n = data != NULL ? fread(data, 1, TLS_FILE_MAX + 1, f) : 0;
    int bad = data == NULL || ferror(f) || n == 0 || n > TLS_FILE_MAX;
    fclose(f);
    if (bad) {
        secret_freezero(data, TLS_FILE_MAX + 1);
        return NULL;
    }
    data[n] = '\0';
    return data;
}

/*
 * Sets e->base_url (trailing '/' removed) and e->base_origin from url, or from the listen host
 * and port when url is NULL. 0, or -1 when url is not http(s) or too long.
 */
static int
set_base_url(struct edge *e, const char *url, const char *host, int port)
{
    if (url == NULL) {
        const char *h = host;
        if (h[0] == '\0' || strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0)
            h = "127.0.0.1";
        int v6 = strchr(h, ':') != NULL;
        snprintf(e->base_url, sizeof(e->base_url), "%s://%s%s%s:%d", e->tls ? "https" : "http",
                 v6 ? "[" : "", h, v6 ? "]" : "", port);
    } else {
        if (strlen(url) >= sizeof(e->base_url))
            return -1;
        snprintf(e->base_url, sizeof(e->base_url), "%s", url);
    }
    size_t n = strlen(e->base_url);
    while (n > 0 && e->base_url[n - 1] == '/')
        e->base_url[--n] = '\0';
    const char *rest;
    if (strncasecmp(e->base_url, "https://", 8) == 0) {
        rest = e->base_url + 8;
        e->base_https = 1;
    } else if (strncasecmp(e->base_url, "http://", 7) == 0) {
        rest = e->base_url + 7;
        e->base_https = 0;
    } else {
        return -1;
    }
    for (const char *p = e->base_url; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '"' || *p == '<' || *p == '>' || *p == '\\' ||
            *p == 0x7f)
            return -1;
    size_t olen = (size_t)(rest - e->base_url) + strcspn(rest, "/?#");
    if (olen == (size_t)(rest - e->base_url) || olen >= sizeof(e->base_origin))
        return -1;
    for (size_t i = 0; i < olen; i++) {
        char c = e->base_url[i];
        e->base_origin[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    e->base_origin[olen] = '\0';
    return 0;
}

/*
 * The sender when --smtp-from is not given: no-reply@ the base URL's host when it is a name,
 * else no-reply@localhost (an IP address is no mail domain).
 */
static void
default_sender(const struct edge *e, char *out, size_t cap)
{
    const char *host = strstr(e->base_origin, "://");
    host = host != NULL ? host + 3 : "";
    size_t n = strcspn(host, ":[]");
    int name = n > 0 && host[0] != '[';
    for (size_t i = 0; i < n && name; i++)
        if (!((host[i] >= 'a' && host[i] <= 'z') || (host[i] >= '0' && host[i] <= '9') ||
              host[i] == '-' || host[i] == '.'))
            name = 0;
    if (name && strspn(host, "0123456789.") == n)
        name = 0; /* an IPv4 address */
    if (name)
        snprintf(out, cap, "authd <no-reply@%.*s>", (int)n, host);
    else
        snprintf(out, cap, "authd <no-reply@localhost>");
}

/*
 * The bearer token of GET /metrics: the first line of path, else EDGE_METRICS_TOKEN (wiped
 * from the environment once read), else none (*out NULL). Never a flag: argv is public. 0, or
 * -1 (logged) when the file cannot be read or the token is shorter than 16 characters or holds
 * anything but printable ASCII.
 */
static int
load_metrics_token(const char *path, char **out)
{
    *out = NULL;
    if (path != NULL) {
        *out = read_file(path);
        if (*out == NULL) {
            log_event(LOG_ERROR, "start_failed", "reason=cannot_read_metrics_token_file");
            return -1;
        }
        (*out)[strcspn(*out, "\r\n")] = '\0';
    } else {
        char *env = getenv("EDGE_METRICS_TOKEN");
        if (env == NULL || env[0] == '\0')
            return 0;
        *out = strdup(env);
        secret_wipe(env, strlen(env));
        unsetenv("EDGE_METRICS_TOKEN");
        if (*out == NULL)
            return -1;
    }
    size_t n = strlen(*out);
    int bad = n < 16;
    for (size_t i = 0; i < n; i++)
        if ((*out)[i] <= ' ' || (*out)[i] >= 0x7f)
            bad = 1;
    if (bad) {
        log_event(LOG_ERROR, "start_failed",
                  "reason=bad_metrics_token hint=\"16 or more printable characters, no spaces\"");
        secret_strfree(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

static int
write_port_file(const char *path, int port)
{
    char tmp[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
        return -1;
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return -1;
    int bad = fprintf(f, "%d\n", port) < 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"authd", required_argument, NULL, 'a'},
        {"base-url", required_argument, NULL, 'b'},
        {"mail-provider", required_argument, NULL, 'm'},
        {"smtp-url", required_argument, NULL, 'U'},
        {"smtp-from", required_argument, NULL, 'F'},
        {"smtp-user", required_argument, NULL, 'u'},
        {"smtp-starttls", required_argument, NULL, 'S'},
        {"trust-proxy", no_argument, NULL, 'P'},
        {"threads", required_argument, NULL, 't'},
        {"conn-limit", required_argument, NULL, 'c'},
        {"per-ip-limit", required_argument, NULL, 'i'},
        {"request-timeout", required_argument, NULL, 'R'},
        {"tls-cert", required_argument, NULL, 'C'},
        {"tls-key", required_argument, NULL, 'K'},
        {"port-file", required_argument, NULL, 'p'},
        {"log-level", required_argument, NULL, 'L'},
        {"rpc-timeout-ms", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {"authd-ca", required_argument, NULL, OPT_AUTHD_CA},
        {"authd-cert", required_argument, NULL, OPT_AUTHD_CERT},
        {"authd-key", required_argument, NULL, OPT_AUTHD_KEY},
        {"authd-server-name", required_argument, NULL, OPT_AUTHD_SERVER_NAME},
        {"metrics-token-file", required_argument, NULL, OPT_METRICS_TOKEN_FILE},
        {NULL, 0, NULL, 0},
    };
    struct settings f;
    memset(&f, 0, sizeof(f));
    int opt;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'l':
            f.listen = optarg;
            break;
        case 'a':
            f.authd = optarg;
            break;
        case 'b':
            f.base_url = optarg;
            break;
        case 'm':
            f.mail_provider = optarg;
            break;
        case 'U':
            f.smtp_url = optarg;
            break;
        case 'F':
            f.smtp_from = optarg;
            break;
        case 'u':
            f.smtp_user = optarg;
            break;
        case 'S':
            f.smtp_starttls = optarg;
            break;
        case 'P':
            f.trust_proxy = "1";
            break;
        case 't':
            f.threads = optarg;
            break;
        case 'c':
            f.conn_limit = optarg;
            break;
        case 'i':
            f.per_ip_limit = optarg;
            break;
        case 'R':
            f.request_timeout = optarg;
            break;
        case 'C':
            f.tls_cert = optarg;
            break;
        case 'K':
            f.tls_key = optarg;
            break;
        case 'p':
            f.port_file = optarg;
            break;
        case 'L':
            f.log_level = optarg;
            break;
        case 'T':
            f.rpc_timeout_ms = optarg;
            break;
        case OPT_AUTHD_CA:
            f.authd_ca = optarg;
            break;
        case OPT_AUTHD_CERT:
            f.authd_cert = optarg;
            break;
        case OPT_AUTHD_KEY:
            f.authd_key = optarg;
            break;
        case OPT_AUTHD_SERVER_NAME:
            f.authd_server_name = optarg;
            break;
        case OPT_METRICS_TOKEN_FILE:
            f.metrics_token_file = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "authd-edge: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    struct settings s = {
        .listen = env_or(f.listen, "EDGE_LISTEN"),
        .authd = env_or(f.authd, "EDGE_AUTHD"),
        .base_url = env_or(f.base_url, "EDGE_BASE_URL"),
        .mail_provider = env_or(f.mail_provider, "EDGE_MAIL_PROVIDER"),
        .smtp_url = env_or(f.smtp_url, "EDGE_SMTP_URL"),
        .smtp_from = env_or(f.smtp_from, "EDGE_SMTP_FROM"),
        .smtp_user = env_or(f.smtp_user, "EDGE_SMTP_USER"),
        .smtp_starttls = env_or(f.smtp_starttls, "EDGE_SMTP_STARTTLS"),
        .trust_proxy = env_or(f.trust_proxy, "EDGE_TRUST_PROXY"),
        .threads = env_or(f.threads, "EDGE_THREADS"),
        .conn_limit = env_or(f.conn_limit, "EDGE_CONN_LIMIT"),
        .per_ip_limit = env_or(f.per_ip_limit, "EDGE_PER_IP_LIMIT"),
        .request_timeout = env_or(f.request_timeout, "EDGE_REQUEST_TIMEOUT"),
        .tls_cert = env_or(f.tls_cert, "EDGE_TLS_CERT"),
        .tls_key = env_or(f.tls_key, "EDGE_TLS_KEY"),
        .authd_ca = env_or(f.authd_ca, "EDGE_AUTHD_CA"),
        .authd_cert = env_or(f.authd_cert, "EDGE_AUTHD_CERT"),
        .authd_key = env_or(f.authd_key, "EDGE_AUTHD_KEY"),
        .authd_server_name = env_or(f.authd_server_name, "EDGE_AUTHD_SERVER_NAME"),
        .metrics_token_file = env_or(f.metrics_token_file, "EDGE_METRICS_TOKEN_FILE"),
        .port_file = env_or(f.port_file, "EDGE_PORT_FILE"),
        .log_level = env_or(f.log_level, "EDGE_LOG_LEVEL"),
        .rpc_timeout_ms = env_or(f.rpc_timeout_ms, "EDGE_RPC_TIMEOUT_MS"),
    };
    if (s.listen == NULL)
        s.listen = "127.0.0.1:8080";
    if (s.authd == NULL)
        s.authd = "127.0.0.1:50051";

    enum log_level lvl = LOG_INFO;
    if (s.log_level != NULL && log_level_parse(s.log_level, &lvl) != 0) {
        fprintf(stderr, "authd-edge: --log-level must be debug, info, warn or error\n");
        return 2;
    }
    log_init("authd-edge", lvl);

    struct edge e;
    memset(&e, 0, sizeof(e));
    e.trust_proxy = truthy(s.trust_proxy);

    long threads = 0, timeout_ms = 5000, conn_limit = 1024, per_ip = e.trust_proxy ? 0 : 64;
    long request_timeout = 30;
    if ((s.threads != NULL && parse_long(s.threads, 0, 1024, &threads) != 0) ||
        (s.rpc_timeout_ms != NULL && parse_long(s.rpc_timeout_ms, 1, 600000, &timeout_ms) != 0) ||
        (s.conn_limit != NULL && parse_long(s.conn_limit, 1, 1000000, &conn_limit) != 0) ||
        (s.per_ip_limit != NULL && parse_long(s.per_ip_limit, 0, 1000000, &per_ip) != 0) ||
        (s.request_timeout != NULL &&
         parse_long(s.request_timeout, 1, 3600, &request_timeout) != 0)) {
        fprintf(stderr, "authd-edge: --threads, --rpc-timeout-ms, --conn-limit, "
                        "--per-ip-limit and --request-timeout take a positive number\n");
        return 2;
    }

    struct mail_opts mo = {.provider = MAIL_CONSOLE, .starttls = MAIL_STARTTLS_TRY};
    if (s.mail_provider != NULL && strcmp(s.mail_provider, "smtp") == 0) {
        mo.provider = MAIL_SMTP;
    } else if (s.mail_provider != NULL && strcmp(s.mail_provider, "console") != 0) {
        fprintf(stderr, "authd-edge: --mail-provider must be console or smtp\n");
        return 2;
    }
    if (s.smtp_starttls != NULL) {
        if (strcmp(s.smtp_starttls, "none") == 0)
            mo.starttls = MAIL_STARTTLS_NONE;
        else if (strcmp(s.smtp_starttls, "required") == 0)
            mo.starttls = MAIL_STARTTLS_REQUIRED;
        else if (strcmp(s.smtp_starttls, "try") != 0) {
            fprintf(stderr, "authd-edge: --smtp-starttls must be none, try or required\n");
            return 2;
        }
    }
    mo.smtp_url = s.smtp_url;
    mo.from = s.smtp_from;
    mo.user = s.smtp_user;
    mo.password = getenv("EDGE_SMTP_PASSWORD");

    if ((s.tls_cert == NULL) != (s.tls_key == NULL)) {
        fprintf(stderr, "authd-edge: --tls-cert and --tls-key go together\n");
        return 2;
    }
    if ((s.authd_cert == NULL) != (s.authd_key == NULL)) {
        fprintf(stderr, "authd-edge: --authd-cert and --authd-key go together\n");
        return 2;
    }
    if (s.authd_ca == NULL && (s.authd_cert != NULL || s.authd_server_name != NULL)) {
        fprintf(stderr, "authd-edge: --authd-cert, --authd-key and --authd-server-name need "
                        "--authd-ca\n");
        return 2;
    }
    char host[256], port_text[16];
    if (edge_listen_split(s.listen, host, sizeof(host), port_text, sizeof(port_text)) != 0) {
        fprintf(stderr, "authd-edge: --listen must be HOST:PORT (or [IPv6]:PORT)\n");
        return 2;
    }
    /* The base URL is known before serving unless the port is picked by the kernel; then no
     * client can know the port before it is logged and written to the port file either. */
    long fixed_port = 0;
    if (parse_long(port_text, 0, 65535, &fixed_port) != 0) {
        fprintf(stderr, "authd-edge: the --listen port must be 0..65535\n");
        return 2;
    }

    /* Signals are taken by sigwait() in this thread only: block them before any thread starts. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = 1, wrote_port_file = 0;
    char *tls_cert = NULL, *tls_key = NULL;
    char *metrics_token = NULL;
    struct edge_server *srv = NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_event(LOG_ERROR, "start_failed", "reason=curl_global_init");
        return 1;
    }
    if (s.tls_cert != NULL) {
        tls_cert = read_file(s.tls_cert);
        tls_key = read_file(s.tls_key);
        if (tls_cert == NULL || tls_key == NULL) {
            log_event(LOG_ERROR, "start_failed", "reason=cannot_read_tls_files");
            goto out;
        }
        e.tls = 1;
    }
    if (set_base_url(&e, s.base_url, host, (int)fixed_port) != 0) {
        log_event(LOG_ERROR, "start_failed", "reason=bad_base_url hint=\"http(s)://host[:port]\"");
        goto out;
    }
    char default_from[300];
    if (mo.provider == MAIL_SMTP && mo.from == NULL) {
        default_sender(&e, default_from, sizeof(default_from));
        mo.from = default_from;
        char qf[340];
        log_event(LOG_WARN, "smtp_from_default", "from=%s hint=\"set --smtp-from\"",
                  log_quote(default_from, qf, sizeof(qf)));
    }
    if (mail_new(&mo, &e.mail) != AUTHD_OK) {
        log_event(LOG_ERROR, "start_failed",
                  "reason=bad_mail_settings hint=\"smtp needs --smtp-url smtp[s]://host:port "
                  "and --smtp-from\"");
        goto out;
    }
    if (s.authd_ca != NULL) {
        struct rpc_tls atls = {.server_name = s.authd_server_name};
        char *ca = read_file(s.authd_ca);
        char *cert = s.authd_cert != NULL ? read_file(s.authd_cert) : NULL;
        char *key = s.authd_key != NULL ? read_file(s.authd_key) : NULL;
        int bad = ca == NULL || (s.authd_cert != NULL && (cert == NULL || key == NULL));
        if (!bad) {
            atls.ca_pem = ca;
            atls.cert_pem = cert;
            atls.key_pem = key;
            bad = edge_authd_new_tls(s.authd, &atls, (int)timeout_ms, &e.authd) != AUTHD_OK;
        }
        free(ca);
        free(cert);
        if (key != NULL)
            secret_strfree(key); /* gRPC has its own copy */
        if (bad) {
            log_event(LOG_ERROR, "start_failed",
                      "reason=bad_authd_tls hint=\"--authd-ca, --authd-cert and --authd-key must "
                      "be readable PEM files\"");
            goto out;
        }
    } else if (edge_authd_new(s.authd, (int)timeout_ms, &e.authd) != AUTHD_OK) {
        log_event(LOG_ERROR, "start_failed", "reason=bad_authd_address");
        goto out;
    }

    if (load_metrics_token(s.metrics_token_file, &metrics_token) != 0)
        goto out;
    struct edge_server_opts so = {
        .listen = s.listen,
        .threads = (unsigned)threads,
        .conn_limit = (unsigned)conn_limit,
        .per_ip_limit = (unsigned)per_ip,
        .timeout_s = 15,
        .request_timeout_s = (unsigned)request_timeout,
        .memory_limit = (size_t)64 * 1024,
        .tls_cert_pem = tls_cert,
        .tls_key_pem = tls_key,
        .metrics_token = metrics_token,
    };
    int port = 0;
    int err = edge_server_start(&so, &e, &srv, &port);
    secret_strfree(metrics_token); /* the server keeps only a hash of it */
    metrics_token = NULL;
    if (err != AUTHD_OK) {
        log_event(LOG_ERROR, "start_failed", "reason=%s", authd_err_reason(err));
        goto out;
    }
    if (s.base_url == NULL && fixed_port == 0)
        set_base_url(&e, NULL, host, port);
    if (s.port_file != NULL && write_port_file(s.port_file, port) != 0) {
        log_event(LOG_ERROR, "start_failed", "reason=cannot_write_port_file");
        goto out;
    }
    wrote_port_file = s.port_file != NULL;
    if (so.metrics_token == NULL && e.trust_proxy)
        log_event(LOG_WARN, "metrics", "%s",
                  "path=/metrics access=refused note=\"behind a proxy (--trust-proxy) "
                  "loopback proves nothing: set EDGE_METRICS_TOKEN to read /metrics\"");
    else
        log_event(LOG_INFO, "metrics", "path=/metrics access=%s",
                  so.metrics_token != NULL ? "bearer_token" : "loopback_only");
    char qbase[600], qauthd[300], qlisten[300];
    log_event(LOG_INFO, "listening",
              "addr=%s port=%d base_url=%s authd=%s authd_tls=%d authd_mtls=%d mail=%s "
              "threads=%ld tls=%d trust_proxy=%d",
              log_quote(host[0] != '\0' ? host : "*", qlisten, sizeof(qlisten)), port,
              log_quote(e.base_url, qbase, sizeof(qbase)),
              log_quote(s.authd, qauthd, sizeof(qauthd)), s.authd_ca != NULL, s.authd_cert != NULL,
              mo.provider == MAIL_SMTP ? "smtp" : "console", threads, e.tls, e.trust_proxy);

    int sig = 0;
    sigwait(&sigs, &sig);
    log_event(LOG_INFO, "stopping", "signal=%d", sig);
    edge_server_quiesce(srv);
    unsigned long left = edge_server_drain(srv, DRAIN_MS);
    if (left > 0)
        log_event(LOG_WARN, "drain_timeout", "requests_left=%lu", left);
    rc = 0;
out:
    edge_server_stop(srv);
    /* A port file outliving the process would point the next reader at a dead port. */
    if (wrote_port_file)
        unlink(s.port_file);
    edge_authd_free(e.authd);
    mail_free(e.mail);
    if (tls_key != NULL)
        secret_strfree(tls_key);
    free(tls_cert);
    secret_strfree(metrics_token);
    curl_global_cleanup();
    if (rc == 0)
        log_event(LOG_INFO, "stopped", "rc=0");
    return rc;
}
