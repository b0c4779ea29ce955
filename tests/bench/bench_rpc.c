/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gRPC load benchmark against a running authd: many calls in flight (one blocking call per
 * thread, T threads), bounded by a duration and a call count. Reports calls/s and latency
 * percentiles for a cheap RPC (Health/Check), a store read (Sessions/Get) and a password login
 * (Sessions/Login, one Argon2id verification each).
 *
 *   bench_rpc TARGET[,TARGET...] [threads] [seconds] [rows] [accounts]
 *
 * Several targets (authd replicas) get one client each and the threads take turns over them, so
 * that the load is spread evenly without depending on a load-balancing policy. rows is a comma
 * list of what to measure (default "health,get,login", the rows above):
 *   health      Health/Check, one call in flight, then threads in flight
 *   get         Sessions/Get of one session
 *   login       Sessions/Login of one account, one in flight, then up to 8
 *   login_many  Sessions/Login spread over `accounts` accounts (default 64), threads in flight:
 *               one account's attempts are judged one at a time by design, so a single-account
 *               login row measures that lock, not the service
 *   cc          OAuth/Token, grant client_credentials (a confidential client made here)
 *   introspect  OAuth/Introspect of one of those access tokens, the client authenticated
 * With BENCH_STEP=1, before each row the bench prints "ready ROW" and waits for a line on its
 * standard input: tests/bench/scale.py reads authd's counters there, so that the setup (users,
 * accounts, clients) is not counted in a row's costs.
 *
 * With BENCH_TLS_DIR set (a directory made by deploy/dev-certs.sh) the calls go over mutual TLS
 * with the client certificate BENCH_TLS_IDENTITY (default "authctl"), checking the server's
 * name "localhost"; authd must then map that identity to the admin and edge roles.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "authd/v1/oauth.pb-c.h"
#include "authd/v1/sessions.pb-c.h"
#include "authd/v1/users.pb-c.h"
#include "common/err.h"
#include "grpc/health/v1/health.pb-c.h"
#include "proto/rpc.h"

#define MAX_SAMPLES_PER_THREAD 400000
#define MAX_CALLS_PER_THREAD 2000000
#define MAX_TARGETS 16
#define MAX_ACCOUNTS 4096
#define BENCH_PASSWORD "bench password 123"
#define BENCH_CLIENT "bench-rpc-svc"
#define BENCH_CLIENT_SECRET "bench-rpc-secret-0123456789abcdef01"

enum kind { K_HEALTH, K_GET, K_LOGIN, K_LOGIN_MANY, K_CC, K_INTROSPECT };

static int n_accounts = 64;
static long next_account; /* login_many: the next account to try, taken under account_mu */
static pthread_mutex_t account_mu = PTHREAD_MUTEX_INITIALIZER;

struct worker {
    pthread_t th;
    struct rpc_client *c;
    enum kind kind;
    double seconds;
    const char *token;
    long ok, failed;
    double *lat_us;
    long n_lat;
};

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
one_call(struct worker *w)
{
    ProtobufCMessage *resp = NULL;
    int r;
    if (w->kind == K_HEALTH) {
        Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
        r = rpc_call(w->c, "/grpc.health.v1.Health/Check", &req.base,
                     &grpc__health__v1__health_check_response__descriptor, &resp, 5000, NULL);
    } else if (w->kind == K_GET) {
        Authd__V1__GetSessionRequest req = AUTHD__V1__GET_SESSION_REQUEST__INIT;
        req.session_token = (char *)w->token;
        r = rpc_call(w->c, "/authd.v1.Sessions/Get", &req.base,
                     &authd__v1__session_response__descriptor, &resp, 5000, NULL);
    } else if (w->kind == K_LOGIN || w->kind == K_LOGIN_MANY) {
        char email[64] = "bench@example.com";
        if (w->kind == K_LOGIN_MANY) {
            pthread_mutex_lock(&account_mu);
            long i = next_account++ % n_accounts;
            pthread_mutex_unlock(&account_mu);
            snprintf(email, sizeof(email), "bench-acct%ld@example.com", i);
        }
        Authd__V1__LoginRequest req = AUTHD__V1__LOGIN_REQUEST__INIT;
        req.email = email;
        req.password = BENCH_PASSWORD;
        req.client_ip = "127.0.0.1";
        r = rpc_call(w->c, "/authd.v1.Sessions/Login", &req.base,
                     &authd__v1__session_response__descriptor, &resp, 30000, NULL);
    } else if (w->kind == K_CC) {
        Authd__V1__OAuthTokenRequest req = AUTHD__V1__OAUTH_TOKEN_REQUEST__INIT;
        req.grant_type = "client_credentials";
        req.client_id = BENCH_CLIENT;
        req.client_secret = BENCH_CLIENT_SECRET;
        req.client_ip = "127.0.0.1";
        r = rpc_call(w->c, "/authd.v1.OAuth/Token", &req.base,
                     &authd__v1__oauth_token_response__descriptor, &resp, 5000, NULL);
    } else {
        Authd__V1__IntrospectRequest req = AUTHD__V1__INTROSPECT_REQUEST__INIT;
        req.token = (char *)w->token;
        req.client_id = BENCH_CLIENT;
        req.client_secret = BENCH_CLIENT_SECRET;
        r = rpc_call(w->c, "/authd.v1.OAuth/Introspect", &req.base,
                     &authd__v1__introspect_response__descriptor, &resp, 5000, NULL);
        /* An inactive answer is a failure here: the bench token must stay valid throughout. */
        if (r == AUTHD_OK && !((Authd__V1__IntrospectResponse *)resp)->active)
            r = AUTHD_ERR_INVALID_ARGUMENT;
    }
    rpc_msg_free(resp);
    return r;
}

static void *
run_worker(void *arg)
{
    struct worker *w = arg;
    double end = now_s() + w->seconds;
    for (long i = 0; i < MAX_CALLS_PER_THREAD; i++) {
        double t0 = now_s();
        if (t0 >= end)
            break;
        int r = one_call(w);
        double t1 = now_s();
        if (r == AUTHD_OK)
            w->ok++;
        else
            w->failed++;
        if (w->n_lat < MAX_SAMPLES_PER_THREAD)
            w->lat_us[w->n_lat++] = (t1 - t0) * 1e6;
    }
    return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static struct rpc_client *clients[MAX_TARGETS];
static int n_clients;

/* With BENCH_STEP=1: says which row comes next and waits for a line on stdin (see the top). */
static void
step(const char *name)
{
    const char *s = getenv("BENCH_STEP");
    if (s == NULL || strcmp(s, "1") != 0)
        return;
    printf("ready %s\n", name);
    fflush(stdout);
    char line[64];
    if (fgets(line, sizeof(line), stdin) == NULL)
        exit(1); /* the driver went away: nothing to measure for */
}

static void
bench(const char *name, enum kind k, int threads, double seconds, const char *token)
{
    struct worker *ws = calloc((size_t)threads, sizeof(*ws));
    step(name);
    double t0 = now_s();
    for (int i = 0; i < threads; i++) {
        ws[i].c = clients[i % n_clients];
        ws[i].kind = k;
        ws[i].seconds = seconds;
        ws[i].token = token;
        ws[i].lat_us = malloc(sizeof(double) * MAX_SAMPLES_PER_THREAD);
        pthread_create(&ws[i].th, NULL, run_worker, &ws[i]);
    }
    long ok = 0, failed = 0, n = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(ws[i].th, NULL);
        ok += ws[i].ok;
        failed += ws[i].failed;
        n += ws[i].n_lat;
    }
    double el = now_s() - t0;
    double *all = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    long o = 0;
    for (int i = 0; i < threads; i++) {
        memcpy(all + o, ws[i].lat_us, sizeof(double) * (size_t)ws[i].n_lat);
        o += ws[i].n_lat;
        free(ws[i].lat_us);
    }
    qsort(all, (size_t)n, sizeof(double), cmp_double);
    double p50 = n ? all[n / 2] : 0, p99 = n ? all[(long)(n * 0.99)] : 0;
    printf("%-16s in_flight=%-3d calls=%-8ld failed=%-4ld calls_per_s=%-9.0f p50_ms=%.2f "
           "p99_ms=%.2f\n",
           name, threads, ok, failed, ok / el, p50 / 1000, p99 / 1000);
    fflush(stdout);
    free(all);
    free(ws);
}

/* The whole of file dir/name, NUL-terminated, malloc'd; NULL when unreadable. */
static char *
read_pem(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "bench_rpc: cannot read %s\n", path);
        return NULL;
    }
    char *buf = calloc(1, 65536);
    size_t n = buf != NULL ? fread(buf, 1, 65535, f) : 0;
    fclose(f);
    if (buf != NULL && n == 0) {
        free(buf);
        buf = NULL;
    }
    return buf;
}

/* A client for target: plaintext, or mutual TLS when BENCH_TLS_DIR is set. */
static int
client_new(const char *target, struct rpc_client **out)
{
    const char *dir = getenv("BENCH_TLS_DIR");
    if (dir == NULL || dir[0] == '\0')
        return rpc_client_new(target, out);
    const char *id = getenv("BENCH_TLS_IDENTITY");
    if (id == NULL || id[0] == '\0')
        id = "authctl";
    char cert[256], key[256];
    snprintf(cert, sizeof(cert), "%s.pem", id);
    snprintf(key, sizeof(key), "%s.key", id);
    struct rpc_tls tls = {.ca_pem = read_pem(dir, "ca.pem"),
                          .cert_pem = read_pem(dir, cert),
                          .key_pem = read_pem(dir, key),
                          .server_name = "localhost"};
    int r = AUTHD_ERR_INVALID_ARGUMENT;
    if (tls.ca_pem != NULL && tls.cert_pem != NULL && tls.key_pem != NULL)
        r = rpc_client_new_tls(target, &tls, out);
    free((char *)tls.ca_pem);
    free((char *)tls.cert_pem);
    if (tls.key_pem != NULL) {
        explicit_bzero((char *)tls.key_pem, strlen(tls.key_pem));
        free((char *)tls.key_pem);
    }
    return r;
}

/* Splits "a,b,c" into one client each; 0, or -1 after saying why. */
static int
clients_new(const char *targets)
{
    char buf[1024];
    if (snprintf(buf, sizeof(buf), "%s", targets) >= (int)sizeof(buf)) {
        fprintf(stderr, "bench_rpc: target list too long\n");
        return -1;
    }
    for (char *t = buf; t != NULL;) {
        char *comma = strchr(t, ',');
        if (comma != NULL)
            *comma = '\0';
        if (t[0] != '\0') {
            if (n_clients == MAX_TARGETS || client_new(t, &clients[n_clients]) != AUTHD_OK) {
                fprintf(stderr, "bench_rpc: cannot use target %s (at most %d)\n", t, MAX_TARGETS);
                return -1;
            }
            n_clients++;
        }
        t = comma != NULL ? comma + 1 : NULL;
    }
    return n_clients > 0 ? 0 : -1;
}

/* Creates the account (ALREADY_EXISTS is fine: a second run on the same store). */
static int
create_account(struct rpc_client *c, const char *email)
{
    Authd__V1__CreateUserRequest cu = AUTHD__V1__CREATE_USER_REQUEST__INIT;
    cu.email = (char *)email;
    cu.password = BENCH_PASSWORD;
    ProtobufCMessage *resp = NULL;
    int r = rpc_call(c, "/authd.v1.Users/Create", &cu.base, &authd__v1__user_response__descriptor,
                     &resp, 30000, NULL);
    rpc_msg_free(resp);
    if (r != AUTHD_OK && r != AUTHD_ERR_ALREADY_EXISTS) {
        fprintf(stderr, "bench_rpc: cannot create %s: %s\n", email, authd_strerror(r));
        return -1;
    }
    return 0;
}

/* The confidential client of the cc and introspect rows, and one access token of it (malloc'd,
 * or NULL after saying why). */
static char *
oauth_setup(struct rpc_client *c)
{
    char *grants[] = {"client_credentials"};
    Authd__V1__Client cl = AUTHD__V1__CLIENT__INIT;
    cl.id = BENCH_CLIENT;
    cl.secret = BENCH_CLIENT_SECRET;
    cl.first_party = 1;
    cl.n_grant_types = 1;
    cl.grant_types = grants;
    ProtobufCMessage *resp = NULL;
    int r = rpc_call(c, "/authd.v1.ClientAdmin/Put", &cl.base,
                     &authd__v1__client_response__descriptor, &resp, 30000, NULL);
    rpc_msg_free(resp);
    resp = NULL;
    if (r != AUTHD_OK) {
        fprintf(stderr, "bench_rpc: cannot register the bench client: %s\n", authd_strerror(r));
        return NULL;
    }
    Authd__V1__OAuthTokenRequest req = AUTHD__V1__OAUTH_TOKEN_REQUEST__INIT;
    req.grant_type = "client_credentials";
    req.client_id = BENCH_CLIENT;
    req.client_secret = BENCH_CLIENT_SECRET;
    r = rpc_call(c, "/authd.v1.OAuth/Token", &req.base,
                 &authd__v1__oauth_token_response__descriptor, &resp, 30000, NULL);
    char *tok = NULL;
    if (r == AUTHD_OK)
        tok = strdup(((Authd__V1__OAuthTokenResponse *)resp)->access_token);
    else
        fprintf(stderr, "bench_rpc: client_credentials failed: %s\n", authd_strerror(r));
    rpc_msg_free(resp);
    return tok;
}

static int
has_row(const char *rows, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = rows; (p = strstr(p, name)) != NULL; p += n)
        if ((p == rows || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
            return 1;
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr,
                "usage: bench_rpc TARGET[,TARGET...] [threads] [seconds] [rows] [accounts]\n");
        return 2;
    }
    int threads = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 64;
    double seconds = argc > 3 ? strtod(argv[3], NULL) : 5;
    const char *rows = argc > 4 ? argv[4] : "health,get,login";
    n_accounts = argc > 5 ? (int)strtol(argv[5], NULL, 10) : 64;
    if (threads < 1 || threads > 1024 || seconds <= 0 || seconds > 600 || n_accounts < 1 ||
        n_accounts > MAX_ACCOUNTS) {
        fprintf(stderr, "bench_rpc: threads 1..1024, seconds 0..600, accounts 1..%d\n",
                MAX_ACCOUNTS);
        return 2;
    }
    if (clients_new(argv[1]) != 0)
        return 1;
    struct rpc_client *c = clients[0];

    /* A user to log in as, and a session to look up. */
    char *token = NULL;
    if (has_row(rows, "health") || has_row(rows, "get") || has_row(rows, "login")) {
        if (create_account(c, "bench@example.com") != 0)
            return 1;
        Authd__V1__LoginRequest lr = AUTHD__V1__LOGIN_REQUEST__INIT;
        lr.email = "bench@example.com";
        lr.password = BENCH_PASSWORD;
        ProtobufCMessage *resp = NULL;
        int r = rpc_call(c, "/authd.v1.Sessions/Login", &lr.base,
                         &authd__v1__session_response__descriptor, &resp, 30000, NULL);
        if (r != AUTHD_OK) {
            fprintf(stderr, "bench_rpc: login failed: %s\n", authd_strerror(r));
            return 1;
        }
        token = strdup(((Authd__V1__SessionResponse *)resp)->session_token);
        rpc_msg_free(resp);
    }
    if (has_row(rows, "login_many")) {
        for (int i = 0; i < n_accounts; i++) {
            char email[64];
            snprintf(email, sizeof(email), "bench-acct%d@example.com", i);
            if (create_account(clients[i % n_clients], email) != 0)
                return 1;
        }
    }
    char *access = NULL;
    if ((has_row(rows, "cc") || has_row(rows, "introspect")) && (access = oauth_setup(c)) == NULL)
        return 1;

    if (has_row(rows, "health")) {
        bench("health_check", K_HEALTH, 1, seconds, NULL);
        bench("health_check", K_HEALTH, threads, seconds, NULL);
    }
    if (has_row(rows, "get"))
        bench("session_get", K_GET, threads, seconds, token);
    if (has_row(rows, "login")) {
        bench("login_argon2id", K_LOGIN, 1, seconds, NULL);
        bench("login_argon2id", K_LOGIN, threads > 8 ? 8 : threads, seconds, NULL);
    }
    if (has_row(rows, "login_many"))
        bench("login_accounts", K_LOGIN_MANY, threads, seconds, NULL);
    if (has_row(rows, "cc"))
        bench("token_cc", K_CC, threads, seconds, NULL);
    if (has_row(rows, "introspect"))
        bench("introspect", K_INTROSPECT, threads, seconds, access);
    free(token);
    free(access);
    for (int i = 0; i < n_clients; i++)
        rpc_client_free(clients[i]);
    return 0;
}
