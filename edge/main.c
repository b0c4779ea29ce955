/* SPDX-License-Identifier: Apache-2.0 */
/*
 * authd-edge: the browser-facing HTTP process. Reads flags and EDGE_* environment variables
 * (a flag wins over its variable), connects the authd client and the mailer, serves HTTP until
 * SIGTERM/SIGINT, then drains: stop accepting, let requests in flight finish (bounded), stop.
 */
#include <errno.h>
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
#include "edge/jwks_cache.h"
#include "common/err.h"
#include "common/log.h"
#include "common/opts.h"
#include "edge/mail.h"
#include "edge/proxy.h"
#include "common/secret.h"
#include "edge/server.h"

#define DRAIN_MS 5000
/* After the drain, how long the stop waits for page flows still inside a call or webhook. */
#define STOP_BOUND_MS 10000
#define TLS_FILE_MAX ((size_t)1024 * 1024)

struct options {
    const char *listen;
    const char *authd;
    const char *base_url;
    const char *mail_provider;
    const char *smtp_url;
    const char *smtp_from;
    const char *smtp_user;
    const char *smtp_password; /* EDGE_SMTP_PASSWORD only: argv is public */
    const char *smtp_starttls;
    int trust_proxy;
    const char *trusted_proxies;
    int64_t proxy_hops; /* -1 until given: 1 */
    int64_t threads;
    int64_t conn_limit;
    int64_t page_workers;
    int64_t page_queue;
    int64_t worker_idle_ms;
    int64_t per_ip_limit; /* -1 until given: 64, or 0 with --trust-proxy */
    int64_t request_timeout;
    int64_t header_timeout;
    const char *tls_cert;
    const char *tls_key;
    const char *authd_ca; /* TLS to authd: CA, client certificate and key, name to check */
    const char *authd_cert;
    const char *authd_key;
    const char *authd_server_name;
    const char *metrics_token_file;
    const char *metrics_token; /* EDGE_METRICS_TOKEN only: wiped from the environment once read */
    const char *port_file;
    const char *log_level;
    int64_t rpc_timeout_ms;
    int64_t jwks_max_age_ms;
};

#define F(member) OPTS_FIELD(struct options, member)

/* Every option of authd-edge: parsing, --help and README's usage block come from this table. */
static const struct opts_spec option_table[] = {
    {"listen", 0, "EDGE_LISTEN", OPTS_STRING, "HOST:PORT", 0, 0, NULL, "127.0.0.1:8080",
     "address to serve; port 0 picks a free one", F(listen)},
    {"authd", 0, "EDGE_AUTHD", OPTS_STRING, "HOST:PORT", 0, 0, NULL, "127.0.0.1:50051",
     "authd's gRPC address; several replicas: IP:PORT,IP:PORT\nor dns:///NAME:PORT (calls "
     "spread round robin)",
     F(authd)},
    {"authd-ca", 0, "EDGE_AUTHD_CA", OPTS_STRING, "FILE", 0, 0, NULL, NULL,
     "call authd over TLS, its certificate verified against\nthis CA (PEM)", F(authd_ca)},
    {"authd-cert", 0, "EDGE_AUTHD_CERT", OPTS_STRING, "FILE", 0, 0, NULL, NULL,
     "the edge's certificate for mutual TLS with authd (PEM)", F(authd_cert)},
    {"authd-key", 0, "EDGE_AUTHD_KEY", OPTS_STRING, "FILE", 0, 0, NULL, NULL,
     "... and its private key (PEM)", F(authd_key)},
    {"authd-server-name", 0, "EDGE_AUTHD_SERVER_NAME", OPTS_STRING, "NAME", 0, 0, NULL, NULL,
     "the name authd's certificate must carry (default: the\n--authd host, the first of a list)",
     F(authd_server_name)},
    {"base-url", 0, "EDGE_BASE_URL", OPTS_STRING, "URL", 0, 0, NULL, NULL,
     "public URL of this edge, used in e-mailed links\n(default http://127.0.0.1:<port>)",
     F(base_url)},
    {"mail-provider", 0, "EDGE_MAIL_PROVIDER", OPTS_CHOICE, "NAME", 0, 0, "console|smtp", "console",
     "console: each mail is one info log line on standard\nerror (event=mail link=...); smtp",
     F(mail_provider)},
    {"smtp-url", 0, "EDGE_SMTP_URL", OPTS_STRING, "URL", 0, 0, NULL, NULL,
     "smtp://host:port or smtps://host:port", F(smtp_url)},
    {"smtp-from", 0, "EDGE_SMTP_FROM", OPTS_STRING, "ADDR", 0, 0, NULL, NULL,
     "sender, \"a@b\" or \"Name <a@b>\"", F(smtp_from)},
    {"smtp-user", 0, "EDGE_SMTP_USER", OPTS_STRING, "USER", 0, 0, NULL, NULL, "SMTP AUTH user",
     F(smtp_user)},
    {NULL, 0, "EDGE_SMTP_PASSWORD", OPTS_STRING, NULL, 0, 0, NULL, NULL,
     "SMTP AUTH password (never a flag: argv is public)", F(smtp_password)},
    {"smtp-starttls", 0, "EDGE_SMTP_STARTTLS", OPTS_CHOICE, "MODE", 0, 0, "none|try|required",
     "try", "STARTTLS on smtp:// connections", F(smtp_starttls)},
    {"trust-proxy", 0, "EDGE_TRUST_PROXY", OPTS_FLAG, NULL, 0, 0, NULL, NULL,
     "honour X-Forwarded-For and X-Forwarded-Proto from any\npeer (behind a proxy only: "
     "every peer is taken for\nthe proxy)",
     F(trust_proxy)},
    {"trusted-proxies", 0, "EDGE_TRUSTED_PROXIES", OPTS_STRING, "CIDRS", 0, 0, NULL, NULL,
     "honour them only from peers in these networks\n(\"10.0.0.0/8,fd00::/8\"; implies "
     "--trust-proxy);\nX-Forwarded-For entries in them are skipped too",
     F(trusted_proxies)},
    {"proxy-hops", 0, "EDGE_PROXY_HOPS", OPTS_INT, "N", 1, PROXY_HOPS_MAX, NULL, NULL,
     "trusted proxies in a row in front of the edge, each\nappending to X-Forwarded-For: the "
     "client is the\nN-th entry from the right (default 1)",
     F(proxy_hops)},
    {"threads", 0, "EDGE_THREADS", OPTS_INT, "N", 0, 1024, NULL, "4",
     "0: a thread per connection, so a slow RPC or webhook\nnever holds up another request; "
     "N: a pool of N threads,\nwhich a call to authd or a webhook never holds (the\n"
     "connection waits)",
     F(threads)},
    {"conn-limit", 0, "EDGE_CONN_LIMIT", OPTS_INT, "N", 1, 1000000, NULL, "1024",
     "open connections", F(conn_limit)},
    {"page-workers", 0, "EDGE_PAGE_WORKERS", OPTS_INT, "N", 1, 1024, NULL, "64",
     "with --threads N: threads that run page flows (the\nconnection waits meanwhile); more "
     "pages wait in a\nqueue",
     F(page_workers)},
    {"page-queue", 0, "EDGE_PAGE_QUEUE", OPTS_INT, "N", 1, 1000000, NULL, "256",
     "pages waiting for a worker; past that 503 with\nRetry-After", F(page_queue)},
    {"worker-idle-ms", 0, "EDGE_WORKER_IDLE_MS", OPTS_INT, "MS", 1, 3600000, NULL, "5000",
     "a page worker idle this long exits", F(worker_idle_ms)},
    {"per-ip-limit", 0, "EDGE_PER_IP_LIMIT", OPTS_INT, "N", 0, 1000000, NULL, NULL,
     "connections per client address (default 64; 0 = none,\nthe default with --trust-proxy)",
     F(per_ip_limit)},
    {"request-timeout", 0, "EDGE_REQUEST_TIMEOUT", OPTS_INT, "SECONDS", 1, 3600, NULL, "30",
     "time a client has to send a whole request (line,\nheaders, body); a slower one is cut",
     F(request_timeout)},
    {"header-timeout", 0, "EDGE_HEADER_TIMEOUT", OPTS_INT, "SECONDS", 1, 3600, NULL, "10",
     "time a client has to send the request line and\nheaders (at most --request-timeout); a "
     "slower one\nis cut",
     F(header_timeout)},
    {"tls-cert", 0, "EDGE_TLS_CERT", OPTS_STRING, "FILE", 0, 0, NULL, NULL,
     "serve HTTPS with this PEM certificate", F(tls_cert)},
    {"tls-key", 0, "EDGE_TLS_KEY", OPTS_STRING, "FILE", 0, 0, NULL, NULL,
     "... and this PEM private key", F(tls_key)},
    {"metrics-token-file", 0, "EDGE_METRICS_TOKEN_FILE", OPTS_STRING, "FILE", 0, 0, NULL, NULL,
     "GET /metrics then needs \"Authorization: Bearer <token>\"\n(the file's first line, 16+ "
     "characters); without a token\nonly loopback peers may read /metrics",
     F(metrics_token_file)},
    {NULL, 0, "EDGE_METRICS_TOKEN", OPTS_STRING, NULL, 0, 0, NULL, NULL,
     "the same token as text, when there is no\n--metrics-token-file", F(metrics_token)},
    {"port-file", 0, "EDGE_PORT_FILE", OPTS_STRING, "PATH", 0, 0, NULL, NULL,
     "write the bound port here once listening (removed at\nexit)", F(port_file)},
    {"log-level", 0, "EDGE_LOG_LEVEL", OPTS_CHOICE, "LEVEL", 0, 0, "debug|info|warn|error", "info",
     "log threshold (logfmt lines on standard error)", F(log_level)},
    {"rpc-timeout-ms", 0, "EDGE_RPC_TIMEOUT_MS", OPTS_INT, "N", 1, 600000, NULL, "5000",
     "deadline of each call to authd", F(rpc_timeout_ms)},
    /* EDGE_JWKS_MAX_AGE_DEFAULT_MS. */
    {"jwks-max-age-ms", 0, "EDGE_JWKS_MAX_AGE_MS", OPTS_INT, "N", 0, 3600000, NULL, "10000",
     "how old a copy of authd's key set /.well-known/\njwks.json gets before it is refreshed in "
     "the\nbackground (served meanwhile, never longer than\nauthd's key publication delay "
     "allows); 0: no copy,\nalways the current set",
     F(jwks_max_age_ms)},
};

#undef F

static const struct opts_program program = {
    .name = "authd-edge",
    .synopsis = "usage: authd-edge [options]\n"
                "Serves the browser pages of authd (signup, login, password reset) over HTTP and\n"
                "asks authd over gRPC for every decision. Each option can also come from its\n"
                "environment variable; the option wins.\n",
    .specs = option_table,
    .n_specs = sizeof(option_table) / sizeof(option_table[0]),
};

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
load_metrics_token(const char *path, const char *env, char **out)
{
    *out = NULL;
    if (path != NULL) {
        if (env != NULL) { /* not used, but not left in the environment either */
            secret_wipe((char *)env, strlen(env));
            unsetenv("EDGE_METRICS_TOKEN");
        }
        *out = read_file(path);
        if (*out == NULL) {
            log_event(LOG_ERROR, "start_failed", "reason=cannot_read_metrics_token_file");
            return -1;
        }
        (*out)[strcspn(*out, "\r\n")] = '\0';
    } else {
        if (env == NULL || env[0] == '\0')
            return 0;
        *out = strdup(env);
        secret_wipe((char *)env, strlen(env)); /* the environment's own copy */
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

/*
 * The options, checked: the table, then the rules that tie several together; *host and *port
 * from --listen. 0, 1 (help or version printed: exit 0) or 2 (usage error, reported).
 */
static int
parse_options(int argc, char **argv, struct options *o, char *host, size_t host_cap,
              long long *port)
{
    char port_text[16];

    memset(o, 0, sizeof(*o));
    o->per_ip_limit = -1;
    o->proxy_hops = -1;
    enum opts_result r = opts_parse(&program, argc, argv, o, NULL);
    if (r != OPTS_CONTINUE)
        return r == OPTS_EXIT ? 1 : 2;
    if (o->trusted_proxies != NULL) {
        struct proxy_trust t;
        if (proxy_nets_parse(o->trusted_proxies, &t) != AUTHD_OK) {
            fprintf(stderr,
                    "authd-edge: --trusted-proxies must be a list of addresses or CIDR "
                    "networks (at most %d), e.g. 10.0.0.0/8,fd00::/8\n",
                    PROXY_NETS_MAX);
            return 2;
        }
        o->trust_proxy = 1;
    }
    if (o->proxy_hops >= 0 && !o->trust_proxy) {
        fprintf(stderr, "authd-edge: --proxy-hops needs --trust-proxy or --trusted-proxies\n");
        return 2;
    }
    if (o->proxy_hops < 0)
        o->proxy_hops = 1;
    if (o->per_ip_limit < 0)
        o->per_ip_limit = o->trust_proxy ? 0 : 64;
    if ((o->tls_cert == NULL) != (o->tls_key == NULL)) {
        fprintf(stderr, "authd-edge: --tls-cert and --tls-key go together\n");
        return 2;
    }
    if ((o->authd_cert == NULL) != (o->authd_key == NULL)) {
        fprintf(stderr, "authd-edge: --authd-cert and --authd-key go together\n");
        return 2;
    }
    if (o->authd_ca == NULL && (o->authd_cert != NULL || o->authd_server_name != NULL)) {
        fprintf(stderr, "authd-edge: --authd-cert, --authd-key and --authd-server-name need "
                        "--authd-ca\n");
        return 2;
    }
    if (edge_listen_split(o->listen, host, host_cap, port_text, sizeof(port_text)) != 0) {
        fprintf(stderr, "authd-edge: --listen must be HOST:PORT (or [IPv6]:PORT)\n");
        return 2;
    }
    /* The base URL is known before serving unless the port is picked by the kernel; then no
     * client can know the port before it is logged and written to the port file either. */
    if (opts_parse_int(port_text, 0, 65535, port) != 0) {
        fprintf(stderr, "authd-edge: the --listen port must be 0..65535\n");
        return 2;
    }
    return 0;
}

/* The mailer: the console, or SMTP (with a default sender when --smtp-from is not given, kept
 * in from_buf). 0, or -1 (logged). */
static int
start_mail(const struct options *o, struct edge *e, char *from_buf, size_t from_cap)
{
    struct mail_opts mo = {
        .provider = strcmp(o->mail_provider, "smtp") == 0 ? MAIL_SMTP : MAIL_CONSOLE,
        .starttls = strcmp(o->smtp_starttls, "none") == 0       ? MAIL_STARTTLS_NONE
                    : strcmp(o->smtp_starttls, "required") == 0 ? MAIL_STARTTLS_REQUIRED
                                                                : MAIL_STARTTLS_TRY,
        .smtp_url = o->smtp_url,
        .from = o->smtp_from,
        .user = o->smtp_user,
        .password = o->smtp_password,
    };
    if (mo.provider == MAIL_SMTP && mo.from == NULL) {
        default_sender(e, from_buf, from_cap);
        mo.from = from_buf;
        char qf[340];
        log_event(LOG_WARN, "smtp_from_default", "from=%s hint=\"set --smtp-from\"",
                  log_quote(from_buf, qf, sizeof(qf)));
    }
    int r = mail_new(&mo, &e->mail);
    /* mail_new keeps its own copy: the environment's goes (/proc/<pid>/environ, children). */
    if (o->smtp_password != NULL) {
        secret_wipe((char *)o->smtp_password, strlen(o->smtp_password));
        unsetenv("EDGE_SMTP_PASSWORD");
    }
    if (r != AUTHD_OK) {
        log_event(LOG_ERROR, "start_failed",
                  "reason=bad_mail_settings hint=\"smtp needs --smtp-url smtp[s]://host:port "
                  "and --smtp-from\"");
        return -1;
    }
    return 0;
}

/* The channel to authd: TLS (CA, optional client certificate) or plaintext. 0, or -1 (logged). */
static int
connect_authd(const struct options *o, struct edge *e)
{
    if (o->authd_ca == NULL) {
        if (edge_authd_new(o->authd, (int)o->rpc_timeout_ms, &e->authd) == AUTHD_OK)
            return 0;
        log_event(LOG_ERROR, "start_failed", "reason=bad_authd_address");
        return -1;
    }
    struct rpc_tls atls = {.server_name = o->authd_server_name};
    char *ca = read_file(o->authd_ca);
    char *cert = o->authd_cert != NULL ? read_file(o->authd_cert) : NULL;
    char *key = o->authd_key != NULL ? read_file(o->authd_key) : NULL;
    int bad = ca == NULL || (o->authd_cert != NULL && (cert == NULL || key == NULL));
    int bad_target = 0;
    if (!bad) {
        atls.ca_pem = ca;
        atls.cert_pem = cert;
        atls.key_pem = key;
        int r = edge_authd_new_tls(o->authd, &atls, (int)o->rpc_timeout_ms, &e->authd);
        bad = r != AUTHD_OK;
        /* The files were read: the address is what gRPC refused. */
        bad_target = r == AUTHD_ERR_INVALID_ARGUMENT;
    }
    free(ca);
    free(cert);
    if (key != NULL)
        secret_strfree(key); /* gRPC has its own copy */
    if (bad_target)
        log_event(LOG_ERROR, "start_failed",
                  "reason=bad_authd_address hint=\"a list of different hosts over TLS needs "
                  "--authd-server-name\"");
    else if (bad)
        log_event(LOG_ERROR, "start_failed",
                  "reason=bad_authd_tls hint=\"--authd-ca, --authd-cert and --authd-key must "
                  "be readable PEM files\"");
    return bad ? -1 : 0;
}

/* Says who may read /metrics, and where the edge listens. */
static void
log_listening(const struct options *o, const struct edge *e, const char *host, int port,
              int metrics_token)
{
    if (!metrics_token && e->trust_proxy)
        log_event(LOG_WARN, "metrics", "%s",
                  "path=/metrics access=refused note=\"behind a proxy (--trust-proxy) "
                  "loopback proves nothing: set EDGE_METRICS_TOKEN to read /metrics\"");
    else
        log_event(LOG_INFO, "metrics", "path=/metrics access=%s",
                  metrics_token ? "bearer_token" : "loopback_only");
    char qbase[600], qauthd[300], qlisten[300];
    log_event(LOG_INFO, "listening",
              "addr=%s port=%d base_url=%s authd=%s authd_tls=%d authd_mtls=%d mail=%s "
              "threads=%lld tls=%d trust_proxy=%d trusted_proxies=%zu proxy_hops=%u",
              log_quote(host[0] != '\0' ? host : "*", qlisten, sizeof(qlisten)), port,
              log_quote(e->base_url, qbase, sizeof(qbase)),
              log_quote(o->authd, qauthd, sizeof(qauthd)), o->authd_ca != NULL,
              o->authd_cert != NULL, strcmp(o->mail_provider, "smtp") == 0 ? "smtp" : "console",
              (long long)o->threads, e->tls, e->trust_proxy, e->proxy.n_nets, e->proxy.hops);
}

/* Serves until SIGTERM/SIGINT (sigs), then drains: stop accepting, let requests finish. */
static void
serve_until_signal(struct edge_server *srv, const sigset_t *sigs)
{
    int sig = 0;

    sigwait(sigs, &sig);
    log_event(LOG_INFO, "stopping", "signal=%d", sig);
    edge_server_quiesce(srv);
    unsigned long left = edge_server_drain(srv, DRAIN_MS);
    if (left > 0)
        log_event(LOG_WARN, "drain_timeout", "requests_left=%lu", left);
}

int
main(int argc, char **argv)
{
    struct options o;
    char host[256];
    long long fixed_port = 0;
    enum log_level lvl = LOG_INFO;

    int pr = parse_options(argc, argv, &o, host, sizeof(host), &fixed_port);
    if (pr != 0)
        return pr == 1 ? 0 : 2;
    log_level_parse(o.log_level, &lvl); /* the table allows only the four names */
    log_init("authd-edge", lvl);

    /* Signals are taken by sigwait() in this thread only: block them before any thread starts. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct edge e;
    memset(&e, 0, sizeof(e));
    e.trust_proxy = o.trust_proxy;
    e.proxy.enabled = o.trust_proxy;
    e.proxy.hops = (unsigned)o.proxy_hops;
    e.proxy.any_peer = o.trust_proxy && o.trusted_proxies == NULL;
    if (o.trusted_proxies != NULL)
        proxy_nets_parse(o.trusted_proxies, &e.proxy); /* checked in parse_options() */
    int rc = 1, wrote_port_file = 0;
    char *tls_cert = NULL, *tls_key = NULL;
    char *metrics_token = NULL;
    char default_from[300];
    struct edge_server *srv = NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_event(LOG_ERROR, "start_failed", "reason=curl_global_init");
        return 1;
    }
    if (o.tls_cert != NULL) {
        tls_cert = read_file(o.tls_cert);
        tls_key = read_file(o.tls_key);
        if (tls_cert == NULL || tls_key == NULL) {
            log_event(LOG_ERROR, "start_failed", "reason=cannot_read_tls_files");
            goto out;
        }
        e.tls = 1;
    }
    if (set_base_url(&e, o.base_url, host, (int)fixed_port) != 0) {
        log_event(LOG_ERROR, "start_failed", "reason=bad_base_url hint=\"http(s)://host[:port]\"");
        goto out;
    }
    if (start_mail(&o, &e, default_from, sizeof(default_from)) != 0 || connect_authd(&o, &e) != 0 ||
        load_metrics_token(o.metrics_token_file, o.metrics_token, &metrics_token) != 0)
        goto out;
    edge_authd_set_jwks_max_age(e.authd, (int)o.jwks_max_age_ms);
    struct edge_server_opts so = {
        .listen = o.listen,
        .threads = (unsigned)o.threads,
        .conn_limit = (unsigned)o.conn_limit,
        .page_workers = (unsigned)o.page_workers,
        .page_queue = (unsigned)o.page_queue,
        .worker_idle_ms = (unsigned)o.worker_idle_ms,
        .per_ip_limit = (unsigned)o.per_ip_limit,
        .timeout_s = 15,
        .request_timeout_s = (unsigned)o.request_timeout,
        .header_timeout_s = (unsigned)o.header_timeout,
        .memory_limit = (size_t)64 * 1024,
        .tls_cert_pem = tls_cert,
        .tls_key_pem = tls_key,
        .metrics_token = metrics_token,
    };
    int port = 0, have_token = metrics_token != NULL;
    int err = edge_server_start(&so, &e, &srv, &port);
    secret_strfree(metrics_token); /* the server keeps only a hash of it */
    metrics_token = NULL;
    if (err != AUTHD_OK) {
        log_event(LOG_ERROR, "start_failed", "reason=%s", authd_err_reason(err));
        goto out;
    }
    if (o.base_url == NULL && fixed_port == 0)
        set_base_url(&e, NULL, host, port);
    if (o.port_file != NULL && write_port_file(o.port_file, port) != 0) {
        log_event(LOG_ERROR, "start_failed", "reason=cannot_write_port_file");
        goto out;
    }
    wrote_port_file = o.port_file != NULL;
    log_listening(&o, &e, host, port, have_token);
    serve_until_signal(srv, &sigs);
    rc = 0;
out:
    if (edge_server_stop(srv, STOP_BOUND_MS) != 0) {
        /* Flows still run on workers and use the authd client and the mail sender: exit
         * without freeing them. */
        if (wrote_port_file)
            unlink(o.port_file);
        log_event(LOG_INFO, "stopped", "rc=0 flows_abandoned=1");
        _exit(0);
    }
    /* A port file outliving the process would point the next reader at a dead port. */
    if (wrote_port_file)
        unlink(o.port_file);
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
