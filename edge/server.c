/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libmicrohttpd glue. A request's life:
 *   on_uri        MHD has the request line: allocate struct conn_state (the raw query is
 *                 only visible here), count the request in flight;
 *   on_request #1 headers parsed: refuse an announced body over the cap, else wait (queueing
 *                 a response on the first call would make MHD close every connection);
 *   on_request #n body chunks go into a bounded buffer;
 *   on_request    last call: parse query, cookies and body, route, check CSRF, run the
 *                 flow, send its answer with our headers;
 *   on_completed  log one line, count it in the metrics, wipe and free the state.
 * Flows see only struct edge_req (request.h), never MHD. GET /metrics is answered here, not by
 * a flow: who may read it depends on the socket peer, which only this file sees.
 */
#include "edge/server.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <microhttpd.h>

#include "edge/authd_client.h"
#include "edge/cookie.h"
#include "edge/cors.h"
#include "edge/csrf.h"
#include "common/err.h"
#include "edge/flows.h"
#include "edge/jwks_cache.h"
#include "edge/form.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/net.h"
#include "edge/request.h"
#include "common/secret.h"

/* ---- routes ---------------------------------------------------------------------------- */

#define ROUTE_PREFIX 0x1u /* path is a prefix; the rest (one non-empty segment) is r->param */
#define ROUTE_PAGE 0x2u   /* an HTML page: refresh the AuthConfig first */
#define ROUTE_FORM 0x4u   /* the body is an urlencoded form */
#define ROUTE_CSRF 0x8u   /* a form POST: CSRF cookie and field must match, Origin must be ours */
/* An OAuth/OIDC endpoint for programs: what the server answers itself there (405, 413, 415,
 * an unparsable form, 500) is RFC 6749 §5.2 JSON rather than a page. */
#define ROUTE_API 0x10u
/* The Prometheus metrics: answered by answer_metrics() below, no flow (fn is NULL). */
#define ROUTE_METRICS 0x20u
/* CORS for browser applications (cors.h): the Origin header, when authd says some client
 * registered it, gets Access-Control-Allow-Origin with that origin (never with credentials:
 * these endpoints take no cookies), and OPTIONS on the path is a preflight. */
#define ROUTE_CORS 0x40u
/* CORS for public documents (JWKS, discovery): "*", no credentials, no question to authd. */
#define ROUTE_CORS_PUBLIC 0x80u
/* The flow makes its calls to authd without holding a thread (authd_client.h: struct
 * edge_async): in pool mode the connection is suspended while a call is in flight and the flow
 * runs again with the answer. Only flows written for it (flow_token.c): one call each, nothing
 * before it that cannot happen twice. */
#define ROUTE_ASYNC 0x100u
/* Answered without authd (no call, no wait): run in MHD's thread even in pool mode. Every
 * other route's flow runs on a worker thread there (see struct edge_server). */
#define ROUTE_INLINE 0x200u
/* The key set / the issuer from jwks_cache.c: run in MHD's thread when the cached copy serves
 * (no wait for authd), else on a worker like the other flows. */
#define ROUTE_JWKS_KEYS 0x400u
#define ROUTE_JWKS_ISSUER 0x800u
/* A JSON call of our own pages' script (flow_webauthn.c): the body must be application/json of
 * at most EDGE_JSON_CALL_MAX bytes, the X-CSRF-Token header must equal the csrf cookie (double
 * submit, as a form's hidden field), the Origin, when sent, must be ours and Sec-Fetch-Site,
 * when sent, same-origin. Answers and refusals are JSON. */
#define ROUTE_JSON_CSRF 0x1000u
#define EDGE_JSON_CALL_MAX ((size_t)32 * 1024)

/*
 * A route with json_fn takes two kinds of body: application/json goes to json_fn (raw body,
 * no form parsing, no CSRF: see flow_2fa_api.c), anything else to fn under the route's flags.
 * A bearer-authenticated request that is not JSON is answered 415.
 */
struct route {
    const char *method;
    const char *path;
    unsigned flags;
    edge_handler_fn fn;
    edge_handler_fn json_fn; /* NULL for HTML-only routes */
};

#define FORM_POST (ROUTE_PAGE | ROUTE_FORM | ROUTE_CSRF)
#define JSON_CALL (ROUTE_PAGE | ROUTE_API | ROUTE_JSON_CSRF)
/* OAuth endpoints take forms from programs: no cookies are used, so no CSRF token. */
#define API_FORM (ROUTE_FORM | ROUTE_API)

static const struct route routes[] = {
    {"GET", "/", ROUTE_PAGE, edge_flow_home, NULL},
    {"GET", "/healthz", ROUTE_INLINE, edge_flow_healthz, NULL},
    {"GET", "/readyz", 0, edge_flow_readyz, NULL},
    {"GET", "/metrics", ROUTE_METRICS, NULL, NULL},
    {"GET", "/auth/static/style.css", ROUTE_INLINE, edge_flow_style, NULL},
    {"GET", "/auth/static/pages.js", ROUTE_INLINE, edge_flow_script, NULL},
    {"GET", "/auth/signup", ROUTE_PAGE, edge_flow_signup_form, NULL},
    {"POST", "/auth/signup", FORM_POST, edge_flow_signup_start, NULL},
    {"GET", "/auth/signup/confirm/", ROUTE_PAGE | ROUTE_PREFIX, edge_flow_signup_confirm_form,
     NULL},
    {"POST", "/auth/signup/confirm/", FORM_POST | ROUTE_PREFIX, edge_flow_signup_confirm, NULL},
    {"GET", "/auth/login", ROUTE_PAGE, edge_flow_login_form, NULL},
    {"POST", "/auth/login", FORM_POST, edge_flow_login, NULL},
    {"POST", "/auth/logout", FORM_POST, edge_flow_logout, NULL},
    {"DELETE", "/Session", 0, edge_flow_session_delete, NULL},
    {"GET", "/auth/forgot-password", ROUTE_PAGE, edge_flow_forgot_form, NULL},
    {"POST", "/auth/forgot-password", FORM_POST, edge_flow_forgot, NULL},
    {"GET", "/auth/reset-password/", ROUTE_PAGE | ROUTE_PREFIX, edge_flow_reset_form, NULL},
    {"POST", "/auth/reset-password/", FORM_POST | ROUTE_PREFIX, edge_flow_reset, NULL},
    {"GET", "/auth/password", ROUTE_PAGE, edge_flow_password_form, NULL},
    {"POST", "/auth/password", FORM_POST, edge_flow_password, NULL},
    {"GET", "/auth/authorize", ROUTE_PAGE, edge_flow_authorize, NULL},
    /* From the relying party's page: no CSRF token; answered with a 303 to the GET. */
    {"POST", "/auth/authorize", ROUTE_PAGE | ROUTE_FORM, edge_flow_authorize_post, NULL},
    {"POST", "/auth/consent", FORM_POST, edge_flow_consent, NULL},
    {"GET", "/auth/end-session", ROUTE_PAGE, edge_flow_end_session, NULL},
    /* From the relying party's page: no CSRF token; answered with a 303 to the GET. */
    {"POST", "/auth/end-session", ROUTE_PAGE | ROUTE_FORM, edge_flow_end_session_post, NULL},
    {"POST", "/auth/end-session/confirm", FORM_POST, edge_flow_end_session_confirm, NULL},
    {"POST", "/auth/token", API_FORM | ROUTE_CORS | ROUTE_ASYNC, edge_flow_token, edge_api_token},
    {"POST", "/auth/introspect", API_FORM | ROUTE_ASYNC, edge_flow_introspect, NULL},
    {"POST", "/auth/revoke", API_FORM | ROUTE_CORS | ROUTE_ASYNC, edge_flow_revoke, NULL},
    {"GET", "/auth/userinfo", ROUTE_API | ROUTE_CORS | ROUTE_ASYNC, edge_flow_userinfo, NULL},
    {"POST", "/auth/userinfo", ROUTE_API | ROUTE_CORS | ROUTE_ASYNC, edge_flow_userinfo, NULL},
    {"GET", "/.well-known/openid-configuration", ROUTE_API | ROUTE_CORS_PUBLIC | ROUTE_JWKS_ISSUER,
     edge_flow_discovery, NULL},
    {"GET", "/.well-known/oauth-authorization-server",
     ROUTE_API | ROUTE_CORS_PUBLIC | ROUTE_JWKS_ISSUER, edge_flow_discovery, NULL},
    {"GET", "/.well-known/jwks.json", ROUTE_API | ROUTE_CORS_PUBLIC | ROUTE_JWKS_KEYS,
     edge_flow_jwks, NULL},
    {"GET", "/auth/two-factor", ROUTE_PAGE, edge_flow_2fa_settings, NULL},
    {"GET", "/auth/two-factor/verify", ROUTE_PAGE, edge_flow_2fa_verify_form, NULL},
    {"POST", "/auth/two-factor/verify", FORM_POST, edge_flow_2fa_verify, NULL},
    {"GET", "/auth/two-factor/enable", ROUTE_PAGE, edge_flow_2fa_enable_form, NULL},
    {"POST", "/auth/two-factor/enable", FORM_POST, edge_flow_2fa_enable, NULL},
    {"GET", "/auth/two-factor/disable", ROUTE_PAGE, edge_flow_2fa_disable_form, NULL},
    {"POST", "/auth/two-factor/disable", FORM_POST, edge_flow_2fa_disable, NULL},
    {"GET", "/auth/two-factor/recovery-codes", ROUTE_PAGE, edge_flow_2fa_recovery_codes_form, NULL},
    {"POST", "/auth/two-factor/recovery-codes", FORM_POST, edge_flow_2fa_recovery_codes, NULL},
    {"POST", "/auth/two-factor/devices/forget", FORM_POST, edge_flow_2fa_devices_forget, NULL},
    /* Echo the codes the page shows as a .txt file / confirm they were saved (no authd call). */
    {"POST", "/auth/two-factor/recovery-codes/download", FORM_POST, edge_flow_2fa_codes_download,
     NULL},
    {"POST", "/auth/two-factor/recovery-codes/saved", FORM_POST, edge_flow_2fa_codes_saved, NULL},
    /* GET only shows the pending enrolment (or a form to begin one); the POST begins it. */
    {"GET", "/app/auth/two-factor/request", ROUTE_PAGE, edge_flow_2fa_request_view, NULL},
    /* ROUTE_PAGE on the JSON routes too: it refreshes the AuthConfig (the webhook). */
    {"POST", "/app/auth/two-factor/request", FORM_POST, edge_flow_2fa_request_page,
     edge_api_2fa_request},
    {"POST", "/app/auth/two-factor/confirm", FORM_POST, edge_flow_2fa_confirm,
     edge_api_2fa_confirm},
    /* Passkeys and security keys (flow_webauthn.c): the settings page and its forms, the
     * ceremonies' starts for the page's script (JSON), and their ends (forms the script fills). */
    {"GET", "/auth/passkeys", ROUTE_PAGE, edge_flow_passkeys, NULL},
    {"POST", "/auth/passkeys/add", FORM_POST, edge_flow_passkeys_add, NULL},
    {"POST", "/auth/passkeys/rename", FORM_POST, edge_flow_passkeys_rename, NULL},
    {"POST", "/auth/passkeys/remove", FORM_POST, edge_flow_passkeys_remove, NULL},
    {"POST", "/auth/passkeys/registration", JSON_CALL, NULL, edge_api_passkeys_registration},
    {"POST", "/auth/passkeys/assertion", JSON_CALL, NULL, edge_api_passkeys_assertion},
    {"POST", "/auth/login/passkey", FORM_POST, edge_flow_login_passkey, NULL},
    {"POST", "/auth/two-factor/verify/passkey", FORM_POST, edge_flow_2fa_verify_passkey, NULL},
};

/* Paths whose last segment is a secret token: logged as the prefix plus "{token}". */
static const char *const token_prefixes[] = {"/auth/signup/confirm/", "/auth/reset-password/"};

/* The route's param when path matches it, "" for exact matches, NULL when it does not match. */
static const char *
route_match(const struct route *rt, const char *path)
{
    if (!(rt->flags & ROUTE_PREFIX))
        return strcmp(rt->path, path) == 0 ? "" : NULL;
    size_t n = strlen(rt->path);
    if (strncmp(rt->path, path, n) != 0)
        return NULL;
    const char *rest = path + n;
    if (rest[0] == '\0' || strchr(rest, '/') != NULL)
        return NULL;
    return rest;
}

/*
 * The route label of the metrics: the pattern of the first route whose path matches (whatever
 * the method), with a prefix route's secret segment shown as {token}; "other" for paths no
 * route knows. Never the raw path, so the number of series stays fixed.
 */
static void
route_label(const char *path, char *out, size_t cap)
{
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (route_match(&routes[i], path) == NULL)
            continue;
        snprintf(out, cap, "%s%s", routes[i].path,
                 (routes[i].flags & ROUTE_PREFIX) ? "{token}" : "");
        return;
    }
    snprintf(out, cap, "other");
}

/* The method label: one of the methods HTTP defines, else "other" (never the raw text). */
static const char *
method_label(const char *m)
{
    static const char *const known[] = {"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                        "OPTIONS", "CONNECT", "TRACE", "PATCH"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(m, known[i]) == 0)
            return known[i];
    return "other";
}

/* A page worker's stack (see edge_server_start). */
#define EDGE_WORKER_STACK ((size_t)256 * 1024)

/* How much of an oversized chunked body is read (and dropped) to be able to answer 413. */
#define EDGE_DISCARD_MAX ((size_t)1024 * 1024)

/* ---- server state ---------------------------------------------------------------------- */

struct edge_server {
    struct MHD_Daemon *d;
    const struct edge *edge;
    int listen_fd;   /* ours until MHD is started, then MHD's until quiesced */
    int quiesced_fd; /* handed back by MHD_quiesce_daemon; closed after MHD_stop_daemon */
    /* Slow clients (see struct conn_watch): the watched connections and their watchdog. */
    pthread_mutex_t watch_mu; /* guards watch_head and every conn_watch in it */
    struct conn_watch *watch_head;
    unsigned request_timeout_s;
    unsigned header_timeout_s; /* at most request_timeout_s */
    pthread_t watchdog;
    int watchdog_started;
    int watchdog_stop;
    unsigned long inflight;
    int closing;
    /* Pool mode: ROUTE_ASYNC flows suspend their connection while authd answers. suspended
     * counts the connections suspended and not yet resumed (MHD_stop_daemon must not see one);
     * stopping makes new flows block instead. */
    int async;
    unsigned long suspended;
    int stopping;
    /* Pool mode: the other flows (pages, which may make several calls or a webhook) run on
     * worker threads while their connection is suspended, so a slow authd or webhook never
     * holds up a pool thread's other connections. A worker is started when the queued flows
     * outnumber the idle workers, up to max_workers (--page-workers); past that flows wait in
     * the queue, up to max_queued (--page-queue), and past that are answered 503 with
     * Retry-After. A worker idle for idle_ms exits (detached; n_workers counts the live ones,
     * exit_cv tells the stop when one is gone). Under work_mu. */
    pthread_mutex_t work_mu;
    pthread_cond_t work_cv; /* CLOCK_MONOTONIC */
    pthread_cond_t exit_cv;
    pthread_attr_t worker_attr; /* detached, EDGE_WORKER_STACK */
    struct conn_state *work_head, *work_tail;
    unsigned n_workers, n_idle, n_queued, n_running, max_workers, max_queued, idle_ms;
    int work_stop;
    uint32_t rid_prefix;
    unsigned long long rid_counter;
    int metrics_token;              /* /metrics needs "Authorization: Bearer <token>" */
    uint8_t metrics_token_hash[32]; /* SHA-256 of the token: compared in constant time */
};

struct conn_state {
    struct edge_req req;
    struct edge_server *srv;
    struct buf upload; /* the request body, bounded by EDGE_BODY_MAX; wiped */
    char *query_raw;   /* the raw query string (after '?'); wiped */
    struct form *query;
    struct form *form;
    struct cookie_jar *cookies;
    struct timespec t0;
    /* The connection's watch (slow clients), NULL when unwatched (out of memory). */
    struct conn_watch *watch;
    int seen;         /* the access handler has run once */
    int too_large;    /* the body passed EDGE_BODY_MAX */
    size_t discarded; /* bytes of an oversized body read and dropped */
    int oom;          /* on_uri could not copy the query */
    int answered;
    /* A ROUTE_ASYNC flow waits for authd: the connection is suspended; when resumed, the flow
     * (async_fn, with async_flags/api/json as dispatched) runs again with the stored answer. */
    struct edge_async async;
    int waiting;
    edge_handler_fn async_fn;
    unsigned async_flags;
    int async_api, async_json;
    struct MHD_Connection *conn;
    int offloaded; /* waiting for a worker, not for a call: flow_err is its result */
    int busy;      /* the workers' queue was full: answered 503 with Retry-After */
    int flow_err;
    struct conn_state *work_next; /* the workers' queue */
    int status;                   /* for the log line */
    int peer_loopback;      /* the socket peer (never X-Forwarded-For) is a loopback address */
    unsigned cors;          /* ROUTE_CORS / ROUTE_CORS_PUBLIC of the path's routes */
    const char *cors_allow; /* Access-Control-Allow-Origin: "*" or the Origin; NULL: none */
    int preflight;          /* answering a CORS preflight (OPTIONS) */
    char method[16];
    char route[64];     /* the matched route pattern, for the metrics; "other" when none */
    char log_path[256]; /* the path with tokens replaced; never the query */
    char allow[64];
};

/* ---- small helpers --------------------------------------------------------------------- */

static enum MHD_Result
mhd_bool(int ok)
{
    return ok ? MHD_YES : MHD_NO;
}

static void
on_free_body(void *p)
{
    secret_strfree(p);
}

__attribute__((format(printf, 2, 0))) static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    log_vmessage(LOG_WARN, "mhd", fmt, ap);
}

static void
set_log_path(struct conn_state *st, const char *url)
{
    for (size_t i = 0; i < sizeof(token_prefixes) / sizeof(token_prefixes[0]); i++) {
        size_t n = strlen(token_prefixes[i]);
        if (strncmp(url, token_prefixes[i], n) == 0 && url[n] != '\0') {
            snprintf(st->log_path, sizeof(st->log_path), "%s{token}", token_prefixes[i]);
            return;
        }
    }
    snprintf(st->log_path, sizeof(st->log_path), "%s", url);
}

static const char *
header(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

static enum MHD_Result
on_cookie_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    struct buf *b = cls;
    if (key == NULL || value == NULL || strcasecmp(key, MHD_HTTP_HEADER_COOKIE) != 0)
        return MHD_YES;
    /* Several Cookie headers (HTTP/2 proxies split them) are one cookie-string. */
    if (b->len > 0 && buf_puts(b, "; ") != AUTHD_OK)
        return MHD_NO;
    return mhd_bool(buf_puts(b, value) == AUTHD_OK);
}

/* The last field lines of one name (X-Forwarded-For...): older ones are dropped, and said so. */
#define FWD_LINES_MAX 64
struct fwd_lines {
    const char *name;
    const char *line[FWD_LINES_MAX];
    size_t n;      /* kept, in the order received */
    int truncated; /* earlier lines were dropped */
};

static enum MHD_Result
on_fwd_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    struct fwd_lines *f = cls;
    if (key == NULL || value == NULL || strcasecmp(key, f->name) != 0)
        return MHD_YES;
    if (f->n == FWD_LINES_MAX) {
        memmove(f->line, f->line + 1, (FWD_LINES_MAX - 1) * sizeof(f->line[0]));
        f->n--;
        f->truncated = 1;
    }
    f->line[f->n++] = value;
    return MHD_YES;
}

/* Every field line named name, in order (RFC 9110 §5.3: together they are one list). */
static void
fwd_collect(struct MHD_Connection *c, const char *name, struct fwd_lines *f)
{
    f->name = name;
    f->n = 0;
    f->truncated = 0;
    MHD_get_connection_values(c, MHD_HEADER_KIND, on_fwd_header, f);
}

/* The socket peer as 16 bytes (IPv4 mapped). 1, or 0 when unknown. */
static int
peer_addr16(struct MHD_Connection *c, unsigned char out[16])
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci == NULL || ci->client_addr == NULL)
        return 0;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET) {
        memset(out, 0, 10);
        out[10] = 0xff;
        out[11] = 0xff;
        memcpy(out + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return 1;
    }
    if (sa->sa_family == AF_INET6) {
        memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return 1;
    }
    return 0;
}

/* Whether this request's forwarded headers are honoured: its socket peer is a trusted proxy. */
static int
from_trusted_proxy(struct MHD_Connection *c, const struct edge *e)
{
    unsigned char a[16];
    int known = peer_addr16(c, a);
    return proxy_peer_trusted(&e->proxy, known ? a : NULL);
}

/*
 * Fills client_ip: the socket peer, or, when that peer is a trusted proxy, the address the
 * trusted hops wrote into X-Forwarded-For (proxy_client_addr(): all field lines joined, read
 * from the right, since everything left of the trusted entries can be forged by the client).
 */
static void
set_client_ip(struct MHD_Connection *c, const struct edge *e, char *out, size_t cap)
{
    snprintf(out, cap, "-");
    if (from_trusted_proxy(c, e)) {
        struct fwd_lines f;
        fwd_collect(c, "X-Forwarded-For", &f);
        if (proxy_client_addr(&e->proxy, f.line, f.n, f.truncated, out, cap))
            return;
    }
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci == NULL || ci->client_addr == NULL)
        return;
    const struct sockaddr *sa = ci->client_addr;
    socklen_t len =
        sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (getnameinfo(sa, len, out, (socklen_t)cap, NULL, 0, NI_NUMERICHOST) != 0)
        snprintf(out, cap, "-");
}

/* 1 when the socket peer (not any forwarded address) is 127.0.0.0/8, ::1 or ::ffff:127.x. */
static int
peer_is_loopback(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci == NULL || ci->client_addr == NULL)
        return 0;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return 0;
}

static int
request_secure(struct MHD_Connection *c, const struct edge *e)
{
    if (e->tls || e->base_https)
        return 1;
    if (from_trusted_proxy(c, e)) {
        struct fwd_lines f;
        fwd_collect(c, "X-Forwarded-Proto", &f);
        return proxy_proto_https(&e->proxy, f.line, f.n);
    }
    return 0;
}

/* ---- answering ------------------------------------------------------------------------- */

/* One year, the edge's host only: another service under the same domain may still serve HTTP. */
#define HSTS_VALUE "max-age=31536000"

/*
 * Strict-Transport-Security (RFC 6797) on every answer when the edge is reached over HTTPS: it
 * serves TLS itself, or its public base URL is https (TLS at a proxy in front). Browsers ignore
 * the header on plain HTTP, so sending it there as well is harmless. 1, or 0 out of memory.
 */
static int
add_hsts(struct MHD_Response *resp, const struct edge *e)
{
    if (e == NULL || !(e->tls || e->base_https))
        return 1;
    return MHD_add_response_header(resp, "Strict-Transport-Security", HSTS_VALUE) == MHD_YES;
}

/* The CORS methods a preflight allows, and the request headers these endpoints read. */
#define CORS_ALLOW_HEADERS "Authorization, Content-Type"
#define CORS_EXPOSE_HEADERS "WWW-Authenticate, Retry-After, X-Request-Id"
/* How long a browser may keep a preflight's answer: shorter than most browsers' caps (Chromium
 * 2 h, Firefox 24 h) and close to how long the edge keeps authd's decision. */
#define CORS_MAX_AGE "600"

/*
 * The CORS headers of an answer on a CORS route (the Fetch standard's CORS protocol): "Vary:
 * Origin" whenever the answer depends on the Origin header, Access-Control-Allow-Origin for an
 * allowed origin (never Access-Control-Allow-Credentials: these endpoints read no cookies), and
 * for a preflight the methods, headers and max age. 1, or 0 out of memory.
 */
static int
add_cors(struct MHD_Response *resp, const struct conn_state *st)
{
    int ok = 1;
    if (st->cors & ROUTE_CORS)
        ok = MHD_add_response_header(resp, "Vary", "Origin") == MHD_YES;
    if (!ok || st->cors_allow == NULL)
        return ok;
    ok = MHD_add_response_header(resp, "Access-Control-Allow-Origin", st->cors_allow) == MHD_YES;
    if (!st->preflight)
        return ok && MHD_add_response_header(resp, "Access-Control-Expose-Headers",
                                             CORS_EXPOSE_HEADERS) == MHD_YES;
    ok = ok && MHD_add_response_header(resp, "Access-Control-Allow-Methods", st->allow) == MHD_YES;
    ok = ok && MHD_add_response_header(resp, "Access-Control-Allow-Headers", CORS_ALLOW_HEADERS) ==
                   MHD_YES;
    return ok && MHD_add_response_header(resp, "Access-Control-Max-Age", CORS_MAX_AGE) == MHD_YES;
}

static enum MHD_Result
send_answer(struct MHD_Connection *c, struct conn_state *st)
{
    struct edge_req *r = &st->req;
    size_t len = 0;
    char *body = buf_steal(&r->body, &len);
    if (body == NULL)
        return MHD_NO;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer_with_free_callback(len, body, on_free_body);
    if (resp == NULL) {
        secret_strfree(body);
        return MHD_NO;
    }
    /* No form-action: Chrome applies it to every redirect after a form POST, so the login POST
     * -> 303 /auth/authorize -> 302 to the client's redirect URI would be blocked. */
    char csp[768];
    snprintf(csp, sizeof(csp), "default-src 'self'; style-src 'self'%s%s; frame-ancestors 'none'",
             r->cfg.style_origin[0] != '\0' ? " " : "", r->cfg.style_origin);
    const char *cache_control = r->cache_control;
    if (cache_control == NULL)
        cache_control = r->cacheable ? "public, max-age=3600" : "no-store";
    int ok =
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                r->content_type != NULL ? r->content_type
                                                        : "text/plain; charset=utf-8") == MHD_YES;
    ok = ok &&
         MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, cache_control) == MHD_YES;
    /* RFC 6749 §5.1 asks for both on token answers; harmless on every uncached one. */
    if (ok && strcmp(cache_control, "no-store") == 0)
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_PRAGMA, "no-cache") == MHD_YES;
    ok = ok && MHD_add_response_header(resp, "X-Frame-Options", "DENY") == MHD_YES;
    ok = ok && MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff") == MHD_YES;
    /* same-origin, not no-referrer: under no-referrer a browser sends "Origin: null" with a
     * same-origin form POST (Fetch, "serialize a request origin"), which the Origin check
     * must refuse. Other sites still get no Referer, so no token in a path leaks. */
    ok = ok && MHD_add_response_header(resp, "Referrer-Policy", "same-origin") == MHD_YES;
    ok = ok && MHD_add_response_header(resp, "Content-Security-Policy", csp) == MHD_YES;
    ok = ok && MHD_add_response_header(resp, "X-Request-Id", r->id) == MHD_YES;
    ok = ok && add_hsts(resp, r->edge);
    ok = ok && add_cors(resp, st);
    if (ok && r->location != NULL)
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, r->location) == MHD_YES;
    if (ok && r->disposition != NULL)
        ok = MHD_add_response_header(resp, "Content-Disposition", r->disposition) == MHD_YES;
    if (ok && r->allow != NULL)
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow) == MHD_YES;
    if (ok && r->www_authenticate != NULL)
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, r->www_authenticate) ==
             MHD_YES;
    if (ok && r->status == 429 && r->retry_after > 0) {
        /* RFC 9110 §10.2.3: delay-seconds, from authd's lockout (edge_req_note_lockout()). */
        char secs[24];
        snprintf(secs, sizeof(secs), "%ld", r->retry_after);
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, secs) == MHD_YES;
    }
    for (size_t i = 0; ok && i < r->n_set_cookie; i++)
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, r->set_cookie[i]) == MHD_YES;
    if (ok && st->busy) /* the workers' queue was full: a moment is enough */
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1") == MHD_YES;
    if (ok && (st->too_large || __atomic_load_n(&st->srv->closing, __ATOMIC_RELAXED)))
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close") == MHD_YES;
    enum MHD_Result ret = MHD_NO;
    if (ok)
        ret = MHD_queue_response(c, (unsigned int)r->status, resp);
    MHD_destroy_response(resp);
    st->answered = ret == MHD_YES;
    if (st->answered)
        st->status = r->status;
    return ret;
}

/* Answers with a plain error page (no flow involved). */
static enum MHD_Result
answer_error(struct MHD_Connection *c, struct conn_state *st, int status, const char *heading,
             const char *message)
{
    struct edge_req *r = &st->req;
    edge_req_response_free(r);
    buf_init(&r->body, PAGE_MAX);
    if (edge_req_error_page(r, status, heading, message) != AUTHD_OK) {
        buf_free(&r->body);
        r->status = status;
        r->content_type = "text/plain; charset=utf-8";
    }
    return send_answer(c, st);
}

/* ---- dispatch -------------------------------------------------------------------------- */

static int
is_form_content_type(const char *ct)
{
    static const char want[] = "application/x-www-form-urlencoded";
    if (ct == NULL)
        return 1; /* no body, or a client that did not say: parse it as a form */
    if (strncasecmp(ct, want, sizeof(want) - 1) != 0)
        return 0;
    char next = ct[sizeof(want) - 1];
    return next == '\0' || next == ';' || next == ' ';
}

static int
is_json_content_type(const char *ct)
{
    static const char want[] = "application/json";
    if (ct == NULL || strncasecmp(ct, want, sizeof(want) - 1) != 0)
        return 0;
    char next = ct[sizeof(want) - 1];
    return next == '\0' || next == ';' || next == ' ';
}

/* A JSON error answer for requests routed by content type (no flow involved). */
static enum MHD_Result
answer_json_error(struct MHD_Connection *c, struct conn_state *st, int status, const char *error,
                  const char *description)
{
    struct edge_req *r = &st->req;
    edge_req_response_free(r);
    buf_init(&r->body, PAGE_MAX);
    /* Both texts are our own ASCII literals without quotes or backslashes. */
    if (buf_printf(&r->body, "{\"error\":\"%s\",\"error_description\":\"%s\"}", error,
                   description) != AUTHD_OK)
        buf_free(&r->body);
    r->status = status;
    r->content_type = "application/json";
    return send_answer(c, st);
}

/*
 * Answers a request the server refuses itself: an HTML error page, or for the OAuth endpoints
 * (api) the same as RFC 6749 §5.2 JSON. message is our own ASCII literal.
 */
static enum MHD_Result
refuse(struct MHD_Connection *c, struct conn_state *st, int api, int status, const char *heading,
       const char *message)
{
    if (api)
        return answer_json_error(c, st, status, status >= 500 ? "server_error" : "invalid_request",
                                 message);
    return answer_error(c, st, status, heading, message);
}

/* MHD_get_connection_values callback: counts headers only a proxy adds to what it relays. */
static enum MHD_Result
count_relay_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    (void)value;
    if (key != NULL &&
        (strncasecmp(key, "X-Forwarded-", 12) == 0 || strcasecmp(key, "Forwarded") == 0 ||
         strcasecmp(key, "X-Real-IP") == 0 || strcasecmp(key, "Via") == 0))
        (*(int *)cls)++;
    return MHD_YES;
}

/* Whether the request carries any header a relaying proxy adds (X-Forwarded-*, Forwarded...). */
static int
relayed(struct MHD_Connection *c)
{
    int n = 0;
    MHD_get_connection_values(c, MHD_HEADER_KIND, count_relay_header, &n);
    return n > 0;
}

/* Whether the edge was told it sits behind a reverse proxy (--trust-proxy). */
static int
e_trusts_proxy(const struct edge_server *s)
{
    return s->edge != NULL && s->edge->trust_proxy;
}

/*
 * GET /metrics. With a token configured, only "Authorization: Bearer <token>" may read it
 * (401 otherwise); without one, only a peer on a loopback socket address (403 otherwise). The
 * presented token is hashed before the comparison, so neither its bytes nor its length show in
 * the time taken. A reverse proxy on this host makes every request it relays come from
 * loopback, so in that mode a request carrying any header a proxy adds (X-Forwarded-*,
 * Forwarded, X-Real-IP, Via) is refused too — those headers can only take access away, never
 * give it — and with --trust-proxy (the edge sits behind a proxy) loopback proves nothing, so
 * only a token opens /metrics.
 */
static enum MHD_Result
answer_metrics(struct MHD_Connection *c, struct conn_state *st)
{
    const struct edge_server *s = st->srv;
    struct edge_req *r = &st->req;
    if (s->metrics_token) {
        const char *tok = edge_req_bearer(r);
        uint8_t h[32];
        secret_sha256(tok != NULL ? tok : "", tok != NULL ? strlen(tok) : 0, h);
        int ok = secret_eq(h, s->metrics_token_hash, sizeof(h)) && tok != NULL;
        secret_wipe(h, sizeof(h));
        if (!ok) {
            log_event(LOG_WARN, "metrics_refused", "rid=%s reason=token ip=%s", r->id,
                      r->client_ip);
            edge_req_response_free(r);
            buf_init(&r->body, PAGE_MAX);
            if (buf_puts(&r->body, "A bearer token is required.\n") != AUTHD_OK)
                buf_free(&r->body);
            r->status = 401;
            r->content_type = "text/plain; charset=utf-8";
            r->www_authenticate = "Bearer realm=\"metrics\"";
            return send_answer(c, st);
        }
    } else if (!st->peer_loopback || e_trusts_proxy(s) || relayed(c)) {
        log_event(LOG_WARN, "metrics_refused", "rid=%s reason=%s ip=%s", r->id,
                  !st->peer_loopback  ? "not_loopback"
                  : e_trusts_proxy(s) ? "behind_proxy"
                                      : "forwarded",
                  r->client_ip);
        return answer_error(c, st, 403, "Forbidden",
                            "Metrics are served to this host only, or with a token.");
    }
    size_t len = 0;
    /* Read now rather than set on every suspension: exact when scraped, free on the hot path. */
    metrics_set("edge_rpc_suspended", NULL,
                (double)__atomic_load_n(&s->suspended, __ATOMIC_SEQ_CST));
    pthread_mutex_lock(&st->srv->work_mu);
    unsigned workers = st->srv->n_workers;
    pthread_mutex_unlock(&st->srv->work_mu);
    metrics_set("edge_page_workers", NULL, (double)workers);
    char *text = metrics_render(&len);
    if (text == NULL)
        return answer_error(c, st, 500, "Sorry", "Something went wrong");
    struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback(len, text, free);
    if (resp == NULL) {
        free(text);
        return MHD_NO;
    }
    int ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                     "text/plain; version=0.0.4; charset=utf-8") == MHD_YES;
    ok = ok && MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") == MHD_YES;
    ok = ok && MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff") == MHD_YES;
    ok = ok && MHD_add_response_header(resp, "X-Request-Id", r->id) == MHD_YES;
    ok = ok && add_hsts(resp, s->edge);
    if (ok && __atomic_load_n(&s->closing, __ATOMIC_RELAXED))
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close") == MHD_YES;
    enum MHD_Result ret = ok ? MHD_queue_response(c, MHD_HTTP_OK, resp) : MHD_NO;
    MHD_destroy_response(resp);
    st->answered = ret == MHD_YES;
    if (st->answered)
        st->status = MHD_HTTP_OK;
    return ret;
}

/*
 * The first route whose path matches url and whose method is method (HEAD counts as GET), or
 * NULL; *param is the rest of a prefix route's path. Also says whether any route has the path
 * (*path_known, for 404 against 405), whether one of them is an API route (*api: errors in
 * JSON), and lists the methods the path allows in st->allow (for the 405's Allow header).
 */
static const struct route *
route_find(struct conn_state *st, const char *url, const char *method, const char **param,
           int *path_known, int *api)
{
    const struct route *rt = NULL;
    const char *want = strcmp(method, "HEAD") == 0 ? "GET" : method;

    *param = NULL;
    *path_known = 0;
    *api = 0;
    st->allow[0] = '\0';
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const char *p = route_match(&routes[i], url);
        if (p == NULL)
            continue;
        *path_known = 1;
        *api |= (routes[i].flags & ROUTE_API) != 0;
        st->cors |= routes[i].flags & (ROUTE_CORS | ROUTE_CORS_PUBLIC);
        size_t al = strlen(st->allow);
        snprintf(st->allow + al, sizeof(st->allow) - al, "%s%s", al > 0 ? ", " : "",
                 strcmp(routes[i].method, "GET") == 0 ? "GET, HEAD" : routes[i].method);
        if (rt == NULL && strcmp(routes[i].method, want) == 0) {
            rt = &routes[i];
            *param = p;
        }
    }
    if (st->cors != 0) { /* a CORS path answers preflights */
        size_t al = strlen(st->allow);
        snprintf(st->allow + al, sizeof(st->allow) - al, "%sOPTIONS", al > 0 ? ", " : "");
    }
    return rt;
}

/*
 * Sets st->cors_allow for a CORS path: "*" on public documents, the Origin itself when authd
 * says a client registered it (cached, cors.c); none for our own origin (not a cross-origin
 * request) or without an Origin header.
 */
static void
cors_decide(struct conn_state *st)
{
    const struct edge_req *r = &st->req;
    st->cors_allow = NULL;
    if (st->cors == 0 || r->origin == NULL)
        return;
    if (st->cors & ROUTE_CORS_PUBLIC)
        st->cors_allow = "*";
    else if (strcmp(r->origin, st->srv->edge->base_origin) != 0 &&
             edge_cors_allowed(st->srv->edge->authd, r->id, r->origin))
        st->cors_allow = r->origin;
}

/* A CORS preflight (OPTIONS on a CORS path): 204, the CORS headers when the origin may. */
static enum MHD_Result
answer_preflight(struct MHD_Connection *c, struct conn_state *st)
{
    struct edge_req *r = &st->req;
    edge_req_response_free(r);
    buf_init(&r->body, PAGE_MAX);
    st->preflight = 1;
    r->status = 204;
    r->allow = st->allow;
    return send_answer(c, st);
}

/*
 * Parses the query string and the Cookie headers into st and the request. Returns 1 when it
 * answered the request itself (a refusal; *ret is MHD's result), 0 to go on.
 */
static int
read_query_and_cookies(struct MHD_Connection *c, struct conn_state *st, int api,
                       enum MHD_Result *ret)
{
    struct edge_req *r = &st->req;
    int err =
        form_parse(st->query_raw, st->query_raw != NULL ? strlen(st->query_raw) : 0, &st->query);
    if (err == AUTHD_ERR_TOO_LARGE) {
        *ret = refuse(c, st, api, 413, "Request too large", "The request is too large.");
        return 1;
    }
    if (err != AUTHD_OK) {
        *ret = refuse(c, st, api, err == AUTHD_ERR_NOMEM ? 500 : 400, "Bad request",
                      "The request could not be understood.");
        return 1;
    }
    r->query = st->query;

    struct buf ch;
    buf_init(&ch, COOKIE_MAX_HEADER);
    MHD_get_connection_values(c, MHD_HEADER_KIND, on_cookie_header, &ch);
    /* A cookie header we cannot parse is treated as no cookies, not as a broken request. */
    if (cookie_parse(ch.data, &st->cookies) != AUTHD_OK)
        st->cookies = cookie_jar_empty();
    buf_free(&ch);
    if (st->cookies == NULL) {
        *ret = refuse(c, st, api, 500, "Sorry", "Something went wrong");
        return 1;
    }
    r->cookies = st->cookies;
    return 0;
}

/* The completion thread: the call of st's flow is back; the flow runs again in MHD's thread. */
static void
on_rpc_done(void *arg)
{
    struct conn_state *st = arg;
    struct edge_server *s = st->srv;
    /* st may be gone as soon as the connection is resumed: nothing of it is read after. */
    MHD_resume_connection(st->conn);
    __atomic_sub_fetch(&s->suspended, 1, __ATOMIC_SEQ_CST);
}

/*
 * Runs the flow fn and answers with what it set (500 when it failed: JSON for a JSON route,
 * else as refuse()). A ROUTE_ASYNC flow in pool mode that made a call to authd has not
 * answered: the connection is suspended until the call is back (on_rpc_done), and on_request
 * calls this again then.
 */
/* Answers with what the flow set (err: its result). */
static enum MHD_Result
finish_flow(struct MHD_Connection *c, struct conn_state *st, int err, int api, int json)
{
    struct edge_req *r = &st->req;
    if (err != AUTHD_OK || r->status == 0) {
        log_event(LOG_ERROR, "handler_failed", "rid=%s err=%s", r->id, authd_err_reason(err));
        if (json)
            return answer_json_error(c, st, 500, "server_error", "Something went wrong");
        return refuse(c, st, api, 500, "Sorry", "Something went wrong");
    }
    return send_answer(c, st);
}

/*
 * A worker: runs queued flows (blocking calls, webhooks) and resumes their connections; exits
 * when the server stops or after idle_ms without work. Detached: it touches nothing of s after
 * the unlock that follows its exit_cv signal.
 */
static void *
worker_main(void *arg)
{
    struct edge_server *s = arg;
    pthread_mutex_lock(&s->work_mu);
    for (;;) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += (time_t)(s->idle_ms / 1000);
        until.tv_nsec += (long)(s->idle_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        int idle_out = 0;
        while (s->work_head == NULL && !s->work_stop && !idle_out) {
            s->n_idle++;
            idle_out = pthread_cond_timedwait(&s->work_cv, &s->work_mu, &until) == ETIMEDOUT;
            s->n_idle--;
        }
        struct conn_state *st = s->work_head;
        if (st == NULL)
            break; /* stopping, or idle too long; nothing queued */
        s->work_head = st->work_next;
        if (s->work_head == NULL)
            s->work_tail = NULL;
        s->n_queued--;
        s->n_running++;
        pthread_mutex_unlock(&s->work_mu);
        struct edge_req *r = &st->req;
        if (st->async_flags & ROUTE_PAGE) /* the refresh may ask authd: here, not in MHD's */
            edge_authd_config(s->edge->authd, 1, &r->cfg);
        st->flow_err = st->async_fn(r);
        on_rpc_done(st);
        pthread_mutex_lock(&s->work_mu);
        s->n_running--;
    }
    s->n_workers--;
    pthread_cond_broadcast(&s->exit_cv);
    pthread_mutex_unlock(&s->work_mu);
    return NULL;
}

/*
 * Queues st (its connection suspended) for a worker, starting one when the queued flows would
 * outnumber the idle workers (up to max_workers). 0; -1 when no worker could be started and
 * none exists, or the workers are stopping (the caller runs the flow itself); -2 when the
 * queue is full (the caller answers 503).
 */
static int
offload(struct edge_server *s, struct conn_state *st)
{
    int ok = 0;
    pthread_mutex_lock(&s->work_mu);
    if (s->work_stop) { /* the workers are being joined: queue nothing more */
        pthread_mutex_unlock(&s->work_mu);
        return -1;
    }
    /* Running flows count too: a flow queued but not yet taken by a worker just started is not
     * one waiting beyond the workers, so the bound does not depend on how fast they start. */
    if (s->n_queued + s->n_running >= s->max_workers + s->max_queued) {
        pthread_mutex_unlock(&s->work_mu);
        return -2;
    }
    if (s->n_queued + 1 > s->n_idle && s->n_workers < s->max_workers) {
        pthread_t t;
        if (pthread_create(&t, &s->worker_attr, worker_main, s) == 0)
            s->n_workers++;
    }
    if (s->n_workers > 0) {
        s->n_queued++;
        st->work_next = NULL;
        if (s->work_tail != NULL)
            s->work_tail->work_next = st;
        else
            s->work_head = st;
        s->work_tail = st;
        pthread_cond_signal(&s->work_cv);
    } else {
        ok = -1;
    }
    pthread_mutex_unlock(&s->work_mu);
    return ok;
}

/*
 * Claims a suspension for a connection about to be suspended: 1 when it may (suspended now
 * counts it), 0 when the server is stopping (nothing counted; the caller runs the flow
 * blocking). The count is raised before stopping is read, and edge_server_stop() sets stopping
 * before it reads the count (both seq_cst): either the stop sees this suspension and waits for
 * it, or this sees the stop. Checking stopping first would leave a window where the stop reads
 * 0, goes on to MHD_stop_daemon (which aborts with a connection suspended) and this suspends.
 */
static int
claim_suspension(struct edge_server *s)
{
    __atomic_add_fetch(&s->suspended, 1, __ATOMIC_SEQ_CST);
    if (!__atomic_load_n(&s->stopping, __ATOMIC_SEQ_CST))
        return 1;
    __atomic_sub_fetch(&s->suspended, 1, __ATOMIC_SEQ_CST);
    return 0;
}

/* Whether a flow that would go to a worker can be answered here at once: the JWKS routes
 * while the cached copy serves. */
static int
answers_at_once(const struct edge_server *s, unsigned flags)
{
    if (flags & (ROUTE_JWKS_KEYS | ROUTE_JWKS_ISSUER))
        return edge_authd_jwks_serves_now(s->edge->authd, (flags & ROUTE_JWKS_KEYS) != 0);
    return 0;
}

static enum MHD_Result
run_flow(struct MHD_Connection *c, struct conn_state *st, edge_handler_fn fn, unsigned flags,
         int api, int json)
{
    struct edge_req *r = &st->req;
    struct edge_server *s = st->srv;
    if (s->async && !(flags & (ROUTE_ASYNC | ROUTE_INLINE)) && !answers_at_once(s, flags) &&
        claim_suspension(s)) {
        st->async_fn = fn;
        st->async_flags = flags;
        st->async_api = api;
        st->async_json = json;
        st->conn = c;
        st->offloaded = 1;
        st->waiting = 1;
        MHD_suspend_connection(c);
        int q = offload(s, st);
        if (q == 0)
            return MHD_YES;
        if (q == -2) { /* answered 503 once resumed (on_request) */
            st->busy = 1;
            on_rpc_done(st);
            return MHD_YES;
        }
        /* No worker: run it here after all (the connection is resumed right away). */
        if (flags & ROUTE_PAGE)
            edge_authd_config(s->edge->authd, 1, &r->cfg);
        st->flow_err = fn(r);
        on_rpc_done(st);
        return MHD_YES;
    }
    int async = s->async && (flags & ROUTE_ASYNC) &&
                (st->async.n_done > 0 || !__atomic_load_n(&s->stopping, __ATOMIC_SEQ_CST));
    int err;
    if (async) {
        edge_authd_async_enter(&st->async);
        err = fn(r);
        int pending = edge_authd_async_leave();
        if (pending) {
            /* The flow returned at its call, before answering; keep nothing it may have set. */
            edge_req_response_free(r);
            buf_init(&r->body, PAGE_MAX);
        }
        if (pending && !claim_suspension(s)) {
            /* Stopping: drop the prepared call and run the flow again, blocking (the flows
             * written for this may run twice: ROUTE_ASYNC). */
            edge_authd_async_clear(&st->async);
            err = fn(r);
        } else if (pending) {
            st->async_fn = fn;
            st->async_flags = flags;
            st->async_api = api;
            st->async_json = json;
            st->conn = c;
            st->waiting = 1;
            MHD_suspend_connection(c);
            if (edge_authd_async_go(s->edge->authd, &st->async, on_rpc_done, st) != AUTHD_OK)
                on_rpc_done(st); /* not sent: the flow runs again with the stored error */
            return MHD_YES;
        }
    } else {
        err = fn(r);
    }
    return finish_flow(c, st, err, api, json);
}

/*
 * A route with a JSON handler: a JSON body goes to it (1, *ret the answer). Otherwise 0 to go
 * on with the form handler, unless a bearer-authenticated API call sent another type (1, 415).
 */
static int
run_json_route(struct MHD_Connection *c, struct conn_state *st, const struct route *rt, int api,
               enum MHD_Result *ret)
{
    struct edge_req *r = &st->req;
    if (is_json_content_type(header(c, MHD_HTTP_HEADER_CONTENT_TYPE))) {
        st->form = form_empty();
        if (st->form == NULL) {
            *ret = refuse(c, st, api, 500, "Sorry", "Something went wrong");
            return 1;
        }
        r->form = st->form;
        r->json_body = st->upload.data != NULL ? st->upload.data : "";
        r->json_body_len = st->upload.len;
        *ret = run_flow(c, st, rt->json_fn, rt->flags, api, 1);
        return 1;
    }
    /* The two-factor JSON API is bearer-authenticated; the token endpoint is not. */
    if (!api && edge_req_bearer(r) != NULL) {
        *ret =
            answer_json_error(c, st, 415, "invalid_request", "Send the body as application/json");
        return 1;
    }
    return 0;
}

/*
 * A ROUTE_JSON_CSRF call: the checks its flag names (refused as JSON: 415, 413, 403), then its
 * JSON handler with the raw body.
 */
static enum MHD_Result
run_json_call(struct MHD_Connection *c, struct conn_state *st, const struct route *rt)
{
    struct edge_req *r = &st->req;
    if (!is_json_content_type(header(c, MHD_HTTP_HEADER_CONTENT_TYPE)))
        return answer_json_error(c, st, 415, "invalid_request",
                                 "Send the body as application/json");
    if (st->upload.len > EDGE_JSON_CALL_MAX)
        return answer_json_error(c, st, 413, "invalid_request", "The request is too large");
    const char *site = r->sec_fetch_site;
    if (!csrf_origin_ok(r->origin, st->srv->edge->base_origin) ||
        (site != NULL && strcmp(site, "same-origin") != 0)) {
        log_event(LOG_WARN, "csrf_rejected", "rid=%s reason=origin json=1", r->id);
        return answer_json_error(c, st, 403, "forbidden",
                                 "This request was sent from another site");
    }
    if (!csrf_check(cookie_get(r->cookies, CSRF_COOKIE), r->csrf_header)) {
        log_event(LOG_INFO, "csrf_rejected", "rid=%s reason=token json=1", r->id);
        return answer_json_error(c, st, 403, "csrf", "Your session expired, reload the page");
    }
    st->form = form_empty();
    if (st->form == NULL)
        return answer_json_error(c, st, 500, "server_error", "Something went wrong");
    r->form = st->form;
    r->json_body = st->upload.data != NULL ? st->upload.data : "";
    r->json_body_len = st->upload.len;
    return run_flow(c, st, rt->json_fn, rt->flags, 1, 1);
}

/*
 * Decodes the body of a form route (or gives other routes an empty form) and, for a CSRF route,
 * checks the Origin and the double-submit token. 1 when it answered (a refusal; *ret), 0 to go
 * on.
 */
static int
read_form_and_check_csrf(struct MHD_Connection *c, struct conn_state *st, const struct route *rt,
                         int api, enum MHD_Result *ret)
{
    struct edge_req *r = &st->req;
    if (rt->flags & ROUTE_FORM) {
        if (st->upload.len > 0 && !is_form_content_type(header(c, MHD_HTTP_HEADER_CONTENT_TYPE))) {
            *ret = refuse(c, st, api, 415, "Unsupported form",
                          "This form must be sent as application/x-www-form-urlencoded.");
            return 1;
        }
        int err = form_parse(st->upload.data, st->upload.len, &st->form);
        if (err == AUTHD_ERR_TOO_LARGE) {
            *ret = refuse(c, st, api, 413, "Request too large", "The request is too large.");
            return 1;
        }
        if (err != AUTHD_OK) {
            *ret = refuse(c, st, api, err == AUTHD_ERR_NOMEM ? 500 : 400, "Bad request",
                          "The form could not be understood.");
            return 1;
        }
    } else {
        st->form = form_empty();
        if (st->form == NULL) {
            *ret = refuse(c, st, api, 500, "Sorry", "Something went wrong");
            return 1;
        }
    }
    r->form = st->form;
    buf_free(&st->upload); /* the form holds the decoded copy now */

    if (rt->flags & ROUTE_CSRF) {
        if (!csrf_origin_ok(r->origin, st->srv->edge->base_origin)) {
            log_event(LOG_WARN, "csrf_rejected", "rid=%s reason=origin", r->id);
            *ret = answer_error(c, st, 403, "Request refused",
                                "This form was sent from another site.");
            return 1;
        }
        if (!csrf_check(cookie_get(r->cookies, CSRF_COOKIE), form_get(r->form, CSRF_FIELD))) {
            log_event(LOG_INFO, "csrf_rejected", "rid=%s reason=token", r->id);
            *ret = answer_error(c, st, 403, "Session expired",
                                "Your session expired, reload the form");
            return 1;
        }
    }
    return 0;
}

/*
 * Runs the request through the route table: route, AuthConfig snapshot, early refusals (out
 * of memory, too large, 404, 405), then query and cookies, the body (JSON or form), the CSRF
 * gate, and the flow.
 */
static enum MHD_Result
dispatch(struct MHD_Connection *c, struct conn_state *st, const char *url, const char *method)
{
    struct edge_req *r = &st->req;
    const struct edge *e = st->srv->edge;
    enum MHD_Result ret = MHD_NO;

    r->edge = e;
    r->method = method;
    r->path = url;
    r->user_agent = header(c, MHD_HTTP_HEADER_USER_AGENT);
    r->origin = header(c, "Origin");
    r->sec_fetch_site = header(c, "Sec-Fetch-Site");
    r->authorization = header(c, MHD_HTTP_HEADER_AUTHORIZATION);
    r->csrf_header = header(c, "X-CSRF-Token");
    r->secure = request_secure(c, e);

    /* Find the route first: it says whether this is a page needing a fresh AuthConfig. */
    const char *param = NULL;
    int path_known = 0, api = 0;
    const struct route *rt = route_find(st, url, method, &param, &path_known, &api);
    /* In pool mode a page's refresh (a call to authd) is made by the worker that runs it. */
    edge_authd_config(e->authd, rt != NULL && (rt->flags & ROUTE_PAGE) && !st->srv->async, &r->cfg);

    if (st->oom)
        return refuse(c, st, api, 500, "Sorry", "Something went wrong");
    if (st->too_large)
        return refuse(c, st, api, 413, "Request too large", "The request is too large.");
    if (!path_known)
        return answer_error(c, st, 404, "Page not found", "There is nothing at this address.");
    cors_decide(st);
    if (st->cors != 0 && strcmp(method, "OPTIONS") == 0)
        return answer_preflight(c, st);
    if (rt == NULL) {
        r->allow = st->allow;
        return refuse(c, st, api, 405, "Method not allowed",
                      "This address does not accept this kind of request.");
    }
    r->param = (rt->flags & ROUTE_PREFIX) ? param : NULL;
    if (rt->flags & ROUTE_METRICS)
        return answer_metrics(c, st);

    if (read_query_and_cookies(c, st, api, &ret))
        return ret;
    if (rt->flags & ROUTE_JSON_CSRF)
        return run_json_call(c, st, rt);
    if (rt->json_fn != NULL && run_json_route(c, st, rt, api, &ret))
        return ret;
    if (read_form_and_check_csrf(c, st, rt, api, &ret))
        return ret;

    return run_flow(c, st, rt->fn, rt->flags, api, 0);
}

/* ---- request framing ------------------------------------------------------------------- */

struct framing {
    unsigned lengths; /* Content-Length headers */
    unsigned codings; /* Transfer-Encoding headers */
};

static enum MHD_Result
on_framing_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    (void)value;
    struct framing *f = cls;
    if (key != NULL && strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
        f->lengths++;
    else if (key != NULL && strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
        f->codings++;
    return MHD_YES;
}

/*
 * 1 when the body's length is ambiguous or unknown (RFC 9112 §6.1, §6.3): Content-Length twice,
 * Content-Length next to Transfer-Encoding, Transfer-Encoding twice or other than "chunked".
 * MHD takes the first of two lengths where a proxy in front may take the last (request
 * smuggling), keeps the connection after a length-and-coding request, and waits until the
 * timeout for the body of a coding it does not know.
 */
static int
bad_framing(struct MHD_Connection *c)
{
    struct framing f = {0, 0};
    MHD_get_connection_values(c, MHD_HEADER_KIND, on_framing_header, &f);
    if (f.lengths > 1 || f.codings > 1 || (f.codings == 1 && f.lengths > 0))
        return 1;
    const char *te = header(c, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    return te != NULL && strcasecmp(te, "chunked") != 0;
}

/* ---- slow clients ---------------------------------------------------------------------- */

/*
 * MHD's connection timeout counts idle time only: a client sending a byte every few seconds
 * (slowloris) keeps its connection, and in the default mode a thread, for ever, and enough of
 * them fill --conn-limit for everyone. So a connection is watched from its start, and again
 * from the end of each answer (keep-alive), until its next request has fully arrived; the
 * watchdog thread shuts down the socket of one still sending after request_timeout_s, or still
 * sending its headers after header_timeout_s (the shorter one: a page never needs long for its
 * headers, and slots held by trickled headers would keep everyone out for the longer one, so
 * the headers' deadline ends when the access handler first sees the request). MHD then
 * reads the end of the stream and closes the connection in its own thread: MHD alone closes
 * the fd. The entry leaves the list in the CLOSED notification, which MHD makes before it
 * closes the fd, under the lock the watchdog holds to shut down, so a reused fd number is
 * never touched.
 */
struct conn_watch {
    struct conn_watch *prev, *next;
    int fd;
    int armed;      /* the connection is receiving a request */
    int cut;        /* shut down by the watchdog */
    int headers_in; /* the access handler has seen the request: its headers are complete */
    struct timespec deadline;        /* the whole request */
    struct timespec header_deadline; /* its line and headers, until headers_in */
};

static void
watch_arm_locked(const struct edge_server *s, struct conn_watch *w)
{
    clock_gettime(CLOCK_MONOTONIC, &w->deadline);
    w->header_deadline = w->deadline;
    w->deadline.tv_sec += (time_t)s->request_timeout_s;
    w->header_deadline.tv_sec += (time_t)s->header_timeout_s;
    w->headers_in = 0;
    w->armed = 1;
}

/* The connection waits for its next request (after an answer on a kept-alive connection). */
static void
watch_arm(struct edge_server *s, struct conn_watch *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&s->watch_mu);
    watch_arm_locked(s, w);
    pthread_mutex_unlock(&s->watch_mu);
}

/* The request's headers are complete: only the whole-request deadline still applies. */
static void
watch_headers_in(struct edge_server *s, struct conn_watch *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&s->watch_mu);
    w->headers_in = 1;
    pthread_mutex_unlock(&s->watch_mu);
}

/* 1 when now is at or past t. */
static int
passed(const struct timespec *now, const struct timespec *t)
{
    return now->tv_sec > t->tv_sec || (now->tv_sec == t->tv_sec && now->tv_nsec >= t->tv_nsec);
}

/* The request has fully arrived: its handler may take its time (RPCs, a webhook). */
static void
watch_disarm(struct edge_server *s, struct conn_watch *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&s->watch_mu);
    w->armed = 0;
    pthread_mutex_unlock(&s->watch_mu);
}

static void
on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
              enum MHD_ConnectionNotificationCode toe)
{
    struct edge_server *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct conn_watch *w = ci != NULL ? calloc(1, sizeof(*w)) : NULL;
        *socket_context = w;
        if (w == NULL)
            return; /* unwatched: only the idle timeout applies */
        w->fd = ci->connect_fd;
        pthread_mutex_lock(&s->watch_mu);
        watch_arm_locked(s, w);
        w->next = s->watch_head;
        if (w->next != NULL)
            w->next->prev = w;
        s->watch_head = w;
        pthread_mutex_unlock(&s->watch_mu);
        return;
    }
    struct conn_watch *w = *socket_context;
    if (w == NULL)
        return;
    *socket_context = NULL;
    pthread_mutex_lock(&s->watch_mu);
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        s->watch_head = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    pthread_mutex_unlock(&s->watch_mu);
    free(w);
}

static void *
watchdog_main(void *arg)
{
    struct edge_server *s = arg;
    const struct timespec tick = {0, 200L * 1000 * 1000};
    while (!__atomic_load_n(&s->watchdog_stop, __ATOMIC_RELAXED)) {
        nanosleep(&tick, NULL);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        unsigned cut = 0, cut_headers = 0;
        pthread_mutex_lock(&s->watch_mu);
        for (struct conn_watch *w = s->watch_head; w != NULL; w = w->next) {
            if (!w->armed || w->cut)
                continue;
            int headers_late = !w->headers_in && passed(&now, &w->header_deadline);
            if (!headers_late && !passed(&now, &w->deadline))
                continue;
            shutdown(w->fd, SHUT_RDWR);
            w->cut = 1;
            cut++;
            cut_headers += headers_late ? 1 : 0;
        }
        pthread_mutex_unlock(&s->watch_mu);
        if (cut > 0)
            log_event(LOG_WARN, "slow_clients_cut",
                      "count=%u headers=%u request_timeout_s=%u header_timeout_s=%u", cut,
                      cut_headers, s->request_timeout_s, s->header_timeout_s);
    }
    return NULL;
}

/* ---- MHD callbacks --------------------------------------------------------------------- */

static void *
on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    struct edge_server *s = cls;
    struct conn_state *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return NULL;
    st->srv = s;
    const union MHD_ConnectionInfo *wci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    st->watch = wci != NULL ? wci->socket_context : NULL;
    clock_gettime(CLOCK_MONOTONIC, &st->t0);
    buf_init(&st->upload, EDGE_BODY_MAX);
    buf_init(&st->req.body, PAGE_MAX);
    const char *q = uri != NULL ? strchr(uri, '?') : NULL;
    if (q != NULL) {
        st->query_raw = strdup(q + 1);
        st->oom = st->query_raw == NULL;
    }
    unsigned long long n = __atomic_add_fetch(&s->rid_counter, 1, __ATOMIC_RELAXED);
    snprintf(st->req.id, sizeof(st->req.id), "%08x%08llx", s->rid_prefix, n);
    __atomic_add_fetch(&s->inflight, 1, __ATOMIC_SEQ_CST);
    return st;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    (void)cls;
    (void)version;
    struct conn_state *st = *con_cls;
    if (st == NULL)
        return MHD_NO; /* on_uri ran out of memory */

    if (!st->seen) {
        st->seen = 1;
        watch_headers_in(st->srv, st->watch);
        st->req.edge = st->srv->edge;
        set_client_ip(c, st->srv->edge, st->req.client_ip, sizeof(st->req.client_ip));
        snprintf(st->method, sizeof(st->method), "%s", method);
        set_log_path(st, url);
        route_label(url, st->route, sizeof(st->route));
        st->peer_loopback = peer_is_loopback(c);
        if (bad_framing(c)) {
            /* Answered before the body, so MHD closes the connection after it. */
            edge_authd_config(st->srv->edge->authd, 0, &st->req.cfg);
            return answer_error(c, st, 400, "Bad request",
                                "The length of the request could not be understood.");
        }
        const char *cl = header(c, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl != NULL) {
            char *end = NULL;
            errno = 0;
            unsigned long long v = strtoull(cl, &end, 10);
            if (errno != 0 || end == cl || v > EDGE_BODY_MAX) {
                /* Refuse before reading the body; MHD closes the connection after this. */
                st->too_large = 1;
                edge_authd_config(st->srv->edge->authd, 0, &st->req.cfg);
                return answer_error(c, st, 413, "Request too large", "The request is too large.");
            }
        }
        return MHD_YES;
    }
    if (st->answered)
        return MHD_YES;
    if (st->waiting) { /* resumed: authd answered the flow's call, or a worker ran the flow */
        st->waiting = 0;
        if (st->offloaded) {
            st->offloaded = 0;
            if (st->busy) {
                log_event(LOG_WARN, "page_queue_full", "rid=%s", st->req.id);
                if (st->async_json)
                    return answer_json_error(c, st, 503, "temporarily_unavailable",
                                             "The server is busy. Try again in a moment.");
                return refuse(c, st, st->async_api, 503, "Busy",
                              "The server is busy. Try again in a moment.");
            }
            return finish_flow(c, st, st->flow_err, st->async_api, st->async_json);
        }
        return run_flow(c, st, st->async_fn, st->async_flags, st->async_api, st->async_json);
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (st->too_large) {
            /* libmicrohttpd 0.9.75 cannot queue a response in the middle of a body, so an
             * oversized body without Content-Length (chunked) is read and dropped up to a
             * bound, then answered 413 at its end; past the bound the connection is cut. */
            st->discarded += n;
            return mhd_bool(st->discarded <= EDGE_DISCARD_MAX);
        }
        if (buf_append(&st->upload, upload_data, n) != AUTHD_OK) {
            st->too_large = 1;
            st->discarded = st->upload.len + n;
            buf_free(&st->upload);
        }
        return MHD_YES;
    }
    watch_disarm(st->srv, st->watch);
    return dispatch(c, st, url, method);
}

/* Counts a finished request: by route pattern, method and status (none: never answered). */
static void
record_request(const struct conn_state *st, double seconds)
{
    char labels[192], status[16];
    if (st->status > 0)
        snprintf(status, sizeof(status), "%d", st->status);
    else
        snprintf(status, sizeof(status), "none");
    metrics_labels(labels, sizeof(labels), "route", st->route, "method", method_label(st->method),
                   "status", status, NULL);
    metrics_count("edge_http_requests_total", labels, 1);
    metrics_labels(labels, sizeof(labels), "route", st->route, NULL);
    metrics_observe("edge_http_request_duration_seconds", labels, seconds);
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    (void)c;
    struct edge_server *s = cls;
    struct conn_state *st = *con_cls;
    if (st == NULL)
        return;
    *con_cls = NULL;
    watch_arm(s, st->watch); /* a kept-alive connection waits for its next request */
    if (st->seen) {
        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ms =
            (double)(t1.tv_sec - st->t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - st->t0.tv_nsec) / 1e6;
        char qm[40], qp[300];
        log_event(LOG_INFO, "request", "rid=%s method=%s path=%s status=%d ms=%.1f ip=%s%s",
                  st->req.id, log_quote(st->method, qm, sizeof(qm)),
                  log_quote(st->log_path, qp, sizeof(qp)), st->status, ms,
                  st->req.client_ip[0] != '\0' ? st->req.client_ip : "-",
                  toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted=1");
        record_request(st, ms / 1e3);
    }
    edge_authd_async_clear(&st->async);
    edge_req_response_free(&st->req);
    buf_free(&st->upload);
    if (st->query_raw != NULL)
        secret_strfree(st->query_raw);
    form_free(st->query);
    form_free(st->form);
    cookie_jar_free(st->cookies);
    secret_freezero(st, sizeof(*st));
    __atomic_sub_fetch(&s->inflight, 1, __ATOMIC_SEQ_CST);
}

/* ---- start / stop ---------------------------------------------------------------------- */

int
edge_listen_split(const char *listen, char *host, size_t hcap, char *port, size_t pcap)
{
    return net_split_hostport(listen, host, hcap, port, pcap);
}

/*
 * The edge's metric families. The flows, the mailer and the webhook count into them by name;
 * series without labels start at 0 so that "never happened" shows as 0, not as absent.
 */
static void
describe_metrics(void)
{
    metrics_describe("edge_http_requests_total", METRICS_COUNTER,
                     "HTTP requests by route pattern, method and status.");
    metrics_describe("edge_http_request_duration_seconds", METRICS_HISTOGRAM,
                     "Time from a request's first line to its completion, in seconds.");
    metrics_describe("edge_logins_total", METRICS_COUNTER,
                     "Password logins by outcome (ok, second_factor_required, failed, locked, "
                     "inactive, error).");
    metrics_describe("edge_second_factor_total", METRICS_COUNTER,
                     "Second-factor steps at login by outcome (ok, failed, locked, expired, "
                     "error).");
    metrics_describe("edge_lockouts_total", METRICS_COUNTER,
                     "Login and second-factor attempts refused because of a lockout.");
    metrics_describe("edge_webhook_failures_total", METRICS_COUNTER,
                     "Two-factor webhook deliveries that failed.");
    metrics_describe("edge_mail_failures_total", METRICS_COUNTER,
                     "E-mails not sent, by kind (queue_full, invalid, smtp, internal).");
    metrics_describe("edge_page_workers", METRICS_GAUGE,
                     "Worker threads running or waiting for page flows (--threads N).");
    metrics_describe("edge_rpc_suspended", METRICS_GAUGE,
                     "Connections suspended (--threads N): waiting for authd's answer to their "
                     "call, or for a page worker to run their flow.");
    metrics_count("edge_lockouts_total", NULL, 0);
    metrics_count("edge_webhook_failures_total", NULL, 0);
}

int
edge_server_start(const struct edge_server_opts *o, const struct edge *e, struct edge_server **out,
                  int *port)
{
    *out = NULL;
    *port = 0;
    int tls = o->tls_cert_pem != NULL && o->tls_key_pem != NULL;
    if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
        return AUTHD_ERR_UNIMPLEMENTED;
    struct edge_server *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return AUTHD_ERR_NOMEM;
    s->edge = e;
    s->quiesced_fd = -1;
    if (o->metrics_token != NULL) {
        s->metrics_token = 1;
        secret_sha256(o->metrics_token, strlen(o->metrics_token), s->metrics_token_hash);
    }
    describe_metrics();
    if (secret_random(&s->rid_prefix, sizeof(s->rid_prefix)) != AUTHD_OK) {
        free(s);
        return AUTHD_ERR_INTERNAL;
    }
    int fd = net_listen(o->listen, 1024, "listen_failed", port);
    if (fd < 0) {
        free(s);
        return fd;
    }
    s->listen_fd = fd;

    /* Handlers block on RPCs and webhooks. In a pool, a thread serves many connections, so one
     * slow call would hold up others; a thread per connection (the default) isolates them. */
    int per_conn = o->threads == 0;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG |
                     (per_conn ? MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL : MHD_USE_EPOLL);
    if (tls)
        flags |= MHD_USE_TLS;
    /* In a pool a blocked handler holds up every connection of its thread: the hot API flows
     * (ROUTE_ASYNC) suspend their connection instead while authd answers. A thread per
     * connection cannot suspend (libmicrohttpd), and has a thread to block anyway. */
    if (!per_conn) {
        if (edge_authd_async_start(e->authd) != AUTHD_OK) {
            log_event(LOG_ERROR, "server_failed", "reason=completion_thread");
            close(fd);
            free(s);
            return AUTHD_ERR_UNAVAILABLE;
        }
        flags |= MHD_ALLOW_SUSPEND_RESUME;
        s->async = 1;
        s->max_workers = o->page_workers > 0 ? o->page_workers : 64;
        s->max_queued = o->page_queue > 0 ? o->page_queue : 256;
        s->idle_ms = o->worker_idle_ms > 0 ? o->worker_idle_ms : 5000;
    }
    pthread_mutex_init(&s->work_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->work_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&s->exit_cv, NULL);
    pthread_attr_init(&s->worker_attr);
    pthread_attr_setdetachstate(&s->worker_attr, PTHREAD_CREATE_DETACHED);
    /* Page flows keep their buffers on the heap (struct buf); the deepest stack is a log line
     * (4 KiB), libcurl's SMTP exchange with OpenSSL, and gRPC's blocking call: far below this,
     * against glibc's 8 MiB default. */
    pthread_attr_setstacksize(&s->worker_attr, EDGE_WORKER_STACK);
    struct MHD_OptionItem tls_opts[] = {
        {tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, (void *)o->tls_cert_pem},
        {tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, (void *)o->tls_key_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    /* The pool size only for a pool: libmicrohttpd warns at start-up about a size of 0 ("Zero
     * size, specified for thread pool size, is ignored") even though 0 means none. */
    struct MHD_OptionItem pool_opts[] = {
        {per_conn ? MHD_OPTION_END : MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)o->threads, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    pthread_mutex_init(&s->watch_mu, NULL);
    s->request_timeout_s = o->request_timeout_s > 0 ? o->request_timeout_s : 30;
    s->header_timeout_s = o->header_timeout_s > 0 ? o->header_timeout_s : 10;
    if (s->header_timeout_s > s->request_timeout_s)
        s->header_timeout_s = s->request_timeout_s;
    s->d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
        MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd, MHD_OPTION_ARRAY, pool_opts,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)(o->conn_limit > 0 ? o->conn_limit : 1024),
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)o->per_ip_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)(o->timeout_s > 0 ? o->timeout_s : 15),
        MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (o->memory_limit > 0 ? o->memory_limit : (size_t)64 * 1024), MHD_OPTION_URI_LOG_CALLBACK,
        on_uri, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_NOTIFY_CONNECTION,
        on_connection, s, MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
    if (s->d == NULL) {
        log_event(LOG_ERROR, "server_failed", "reason=mhd_start_daemon");
        close(fd);
        pthread_mutex_destroy(&s->watch_mu);
        free(s);
        return AUTHD_ERR_UNAVAILABLE;
    }
    if (pthread_create(&s->watchdog, NULL, watchdog_main, s) != 0) {
        log_event(LOG_ERROR, "server_failed", "reason=watchdog_thread");
        MHD_stop_daemon(s->d);
        pthread_mutex_destroy(&s->watch_mu);
        free(s);
        return AUTHD_ERR_UNAVAILABLE;
    }
    s->watchdog_started = 1;
    *out = s;
    return AUTHD_OK;
}

void
edge_server_quiesce(struct edge_server *s)
{
    if (s == NULL || s->d == NULL)
        return;
    __atomic_store_n(&s->closing, 1, __ATOMIC_RELAXED);
    MHD_socket fd = MHD_quiesce_daemon(s->d);
    if (fd != MHD_INVALID_SOCKET)
        s->quiesced_fd = fd;
}

unsigned long
edge_server_drain(struct edge_server *s, int timeout_ms)
{
    struct timespec step = {0, 20L * 1000 * 1000};
    for (int waited = 0;; waited += 20) {
        unsigned long n = __atomic_load_n(&s->inflight, __ATOMIC_SEQ_CST);
        if (n == 0 || waited >= timeout_ms)
            return n;
        nanosleep(&step, NULL);
    }
}

int
edge_server_stop(struct edge_server *s, int bound_ms)
{
    if (s == NULL)
        return 0;
    /* libmicrohttpd aborts when stopped with a connection suspended: no flow starts a call
     * from now on (a blocking one fails at once), the calls in flight end now (their flows
     * answer with the error), and every connection is resumed before the daemon stops. A page
     * flow on a worker may still be inside a blocking call or a webhook: it is waited for, up
     * to bound_ms in all. */
    __atomic_store_n(&s->stopping, 1, __ATOMIC_SEQ_CST);
    edge_authd_refuse_calls(s->edge->authd);
    const struct timespec step = {0, 5L * 1000 * 1000};
    int cut = 0;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (s->async && __atomic_load_n(&s->suspended, __ATOMIC_SEQ_CST) > 0) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 >= bound_ms) {
            log_event(LOG_WARN, "stop_timeout", "suspended=%lu bound_ms=%d",
                      __atomic_load_n(&s->suspended, __ATOMIC_SEQ_CST), bound_ms);
            return -1; /* MHD_stop_daemon would abort: leave everything as it is */
        }
        edge_authd_async_cancel_all(s->edge->authd);
        cut = 1;
        nanosleep(&step, NULL);
    }
    /* The resumed requests answer (503) in MHD's threads: a moment for that, bounded. */
    if (cut)
        edge_server_drain(s, 5000);
    /* No flow is queued or running on a worker any more (each was a suspended connection):
     * the idle workers exit now. */
    pthread_mutex_lock(&s->work_mu);
    s->work_stop = 1;
    pthread_cond_broadcast(&s->work_cv);
    while (s->n_workers > 0)
        pthread_cond_wait(&s->exit_cv, &s->work_mu);
    pthread_mutex_unlock(&s->work_mu);
    pthread_mutex_destroy(&s->work_mu);
    pthread_cond_destroy(&s->work_cv);
    pthread_cond_destroy(&s->exit_cv);
    pthread_attr_destroy(&s->worker_attr);
    if (s->d != NULL)
        MHD_stop_daemon(s->d);
    if (s->watchdog_started) {
        __atomic_store_n(&s->watchdog_stop, 1, __ATOMIC_RELAXED);
        pthread_join(s->watchdog, NULL);
        pthread_mutex_destroy(&s->watch_mu);
    }
    if (s->quiesced_fd >= 0)
        close(s->quiesced_fd);
    secret_freezero(s, sizeof(*s));
    return 0;
}
