/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gRPC load benchmark against a running authd: many calls in flight (one blocking call per
 * thread, T threads), bounded by a duration and a call count. Reports calls/s and latency
 * percentiles for a cheap RPC (Health/Check), a store read (Sessions/Get) and a password login
 * (Sessions/Login, one Argon2id verification each).
 *
 *   bench_rpc TARGET [threads] [seconds]
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

#include "authd/v1/sessions.pb-c.h"
#include "authd/v1/users.pb-c.h"
#include "common/err.h"
#include "grpc/health/v1/health.pb-c.h"
#include "proto/rpc.h"

#define MAX_SAMPLES_PER_THREAD 400000
#define MAX_CALLS_PER_THREAD 2000000

enum kind { K_HEALTH, K_GET, K_LOGIN };

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
    } else {
        Authd__V1__LoginRequest req = AUTHD__V1__LOGIN_REQUEST__INIT;
        req.email = "bench@example.com";
        req.password = "bench password 123";
        req.client_ip = "127.0.0.1";
        r = rpc_call(w->c, "/authd.v1.Sessions/Login", &req.base,
                     &authd__v1__session_response__descriptor, &resp, 30000, NULL);
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

static void
bench(struct rpc_client *c, const char *name, enum kind k, int threads, double seconds,
      const char *token)
{
    struct worker *ws = calloc((size_t)threads, sizeof(*ws));
    double t0 = now_s();
    for (int i = 0; i < threads; i++) {
        ws[i].c = c;
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

int
main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_rpc TARGET [threads] [seconds]\n");
        return 2;
    }
    int threads = argc > 2 ? atoi(argv[2]) : 64;
    double seconds = argc > 3 ? atof(argv[3]) : 5;
    if (threads < 1 || threads > 1024 || seconds <= 0 || seconds > 600) {
        fprintf(stderr, "bench_rpc: threads 1..1024, seconds 0..600\n");
        return 2;
    }
    struct rpc_client *c = NULL;
    if (client_new(argv[1], &c) != AUTHD_OK)
        return 1;

    /* A user to log in as, and a session to look up. */
    Authd__V1__CreateUserRequest cu = AUTHD__V1__CREATE_USER_REQUEST__INIT;
    cu.email = "bench@example.com";
    cu.password = "bench password 123";
    ProtobufCMessage *resp = NULL;
    int r = rpc_call(c, "/authd.v1.Users/Create", &cu.base, &authd__v1__user_response__descriptor,
                     &resp, 30000, NULL);
    rpc_msg_free(resp);
    if (r != AUTHD_OK && r != AUTHD_ERR_ALREADY_EXISTS) {
        fprintf(stderr, "bench_rpc: cannot create the bench user: %s\n", authd_strerror(r));
        return 1;
    }
    Authd__V1__LoginRequest lr = AUTHD__V1__LOGIN_REQUEST__INIT;
    lr.email = cu.email;
    lr.password = cu.password;
    r = rpc_call(c, "/authd.v1.Sessions/Login", &lr.base, &authd__v1__session_response__descriptor,
                 &resp, 30000, NULL);
    if (r != AUTHD_OK) {
        fprintf(stderr, "bench_rpc: login failed: %s\n", authd_strerror(r));
        return 1;
    }
    char *token = strdup(((Authd__V1__SessionResponse *)resp)->session_token);
    rpc_msg_free(resp);

    bench(c, "health_check", K_HEALTH, 1, seconds, NULL);
    bench(c, "health_check", K_HEALTH, threads, seconds, NULL);
    bench(c, "session_get", K_GET, threads, seconds, token);
    bench(c, "login_argon2id", K_LOGIN, 1, seconds, NULL);
    bench(c, "login_argon2id", K_LOGIN, threads > 8 ? 8 : threads, seconds, NULL);
    free(token);
    rpc_client_free(c);
    return 0;
}
