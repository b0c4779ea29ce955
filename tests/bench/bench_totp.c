/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TOTP verifications per second through authd's RPC (Sessions/VerifySecondFactor), each one
 * with the durable replay check: a transaction that records the accepted step on the user, ends
 * the pending session and opens the real one, synced before the answer. Every verification is
 * for a different user (a user can pass at most once per 30 s step, by design), so the bench
 * first enrols N users; run authd with a cheap Argon2 cost so that setup is quick.
 *
 *   bench_totp TARGET[,TARGET...] [users] [threads] [max-seconds]
 *
 * With several targets (authd replicas on one database) user i is set up through target i and
 * verified through the next one, so that every verification crosses replicas. The verification
 * pass stops after max-seconds (default 120) even when users remain. With BENCH_STEP=1 the bench
 * prints "ready totp_verify" between setup and verification and waits for a line on stdin
 * (tests/bench/scale.py reads authd's counters there).
 *
 * With BENCH_RATE=N the verifications are paced: the k-th starts no earlier than k/N s after
 * the first (at most N/s in all, still up to [threads] in flight), for a latency at a given load
 * rather than at saturation; the line then ends with rate_per_s=N.
 *
 * Output: one "totp_setup" line, then "totp_verify_rpc in_flight=N verified=N failed=N
 * verifications_per_s=N p50_ms=X p99_ms=X": the latency of every verification call (successful
 * or not), timed around the RPC by the thread that made it, at full load (all threads busy).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "authd/v1/sessions.pb-c.h"
#include "authd/v1/twofactor.pb-c.h"
#include "authd/v1/users.pb-c.h"
#include "common/err.h"
#include "authd/otp.h"
#include "proto/rpc.h"

#define PASSWORD "bench password 123"
#define MAX_USERS 20000
#define MAX_TARGETS 16

struct user {
    char email[64];
    uint8_t key[OTP_SECRET_BYTES];
    size_t klen;
    char *pending; /* pending session token */
};

static struct user *users;
static int n_users;
static int next_user;
static long ok_count, fail_count;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct rpc_client *clients[MAX_TARGETS];
static int n_clients;
static int64_t verify_step_time;
static double verify_deadline;
static double *lat_ms; /* per user: how long its verification call took, or -1 */
static double verify_t0;
static double pace_rate; /* BENCH_RATE: verifications started per second; 0 = as fast as can be */

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
login(struct rpc_client *client, const char *email, char **token)
{
    Authd__V1__LoginRequest req = AUTHD__V1__LOGIN_REQUEST__INIT;
    req.email = (char *)email;
    req.password = PASSWORD;
    req.client_ip = "127.0.0.1";
    ProtobufCMessage *resp = NULL;
    int r = rpc_call(client, "/authd.v1.Sessions/Login", &req.base,
                     &authd__v1__session_response__descriptor, &resp, 30000, NULL);
    if (r == AUTHD_OK)
        *token = strdup(((Authd__V1__SessionResponse *)resp)->session_token);
    rpc_msg_free(resp);
    return r;
}

/* Creates, enrols and logs in user i (its pending session is what the bench verifies). */
static int
setup_user(int i)
{
    struct user *u = &users[i];
    struct rpc_client *client = clients[i % n_clients];
    ProtobufCMessage *resp = NULL;
    char *tok = NULL;
    snprintf(u->email, sizeof(u->email), "totp%d-%ld@example.com", i, (long)time(NULL));
    Authd__V1__CreateUserRequest cu = AUTHD__V1__CREATE_USER_REQUEST__INIT;
    cu.email = u->email;
    cu.password = PASSWORD;
    int r = rpc_call(client, "/authd.v1.Users/Create", &cu.base,
                     &authd__v1__user_response__descriptor, &resp, 30000, NULL);
    rpc_msg_free(resp);
    if (r == AUTHD_OK)
        r = login(client, u->email, &tok);
    if (r != AUTHD_OK)
        return r;
    Authd__V1__BeginEnrollmentRequest b = AUTHD__V1__BEGIN_ENROLLMENT_REQUEST__INIT;
    b.session_token = tok;
    r = rpc_call(client, "/authd.v1.TwoFactor/BeginEnrollment", &b.base,
                 &authd__v1__begin_enrollment_response__descriptor, &resp, 30000, NULL);
    if (r == AUTHD_OK) {
        long n = otp_base32_decode(((Authd__V1__BeginEnrollmentResponse *)resp)->secret, u->key,
                                   sizeof(u->key));
        u->klen = n > 0 ? (size_t)n : 0;
    }
    rpc_msg_free(resp);
    if (r != AUTHD_OK)
        goto out;
    struct otp_params p;
    otp_params_default(&p);
    char code[OTP_MAX_DIGITS + 1];
    otp_totp(u->key, u->klen, &p, time(NULL), code);
    Authd__V1__ConfirmEnrollmentRequest c = AUTHD__V1__CONFIRM_ENROLLMENT_REQUEST__INIT;
    c.session_token = tok;
    c.code = code;
    r = rpc_call(client, "/authd.v1.TwoFactor/ConfirmEnrollment", &c.base,
                 &authd__v1__recovery_codes_response__descriptor, &resp, 30000, NULL);
    rpc_msg_free(resp);
    if (r == AUTHD_OK)
        r = login(client, u->email, &u->pending);
out:
    free(tok);
    return r;
}

static void *
setup_worker(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&mu);
        int i = next_user < n_users ? next_user++ : -1;
        pthread_mutex_unlock(&mu);
        if (i < 0)
            return NULL;
        if (setup_user(i) != AUTHD_OK) {
            pthread_mutex_lock(&mu);
            fail_count++;
            pthread_mutex_unlock(&mu);
        }
    }
}

static void *
verify_worker(void *arg)
{
    (void)arg;
    struct otp_params p;
    otp_params_default(&p);
    for (;;) {
        pthread_mutex_lock(&mu);
        int i = next_user < n_users && now_s() < verify_deadline ? next_user++ : -1;
        pthread_mutex_unlock(&mu);
        if (i < 0)
            return NULL;
        struct user *u = &users[i];
        struct rpc_client *client = clients[(i + 1) % n_clients];
        if (u->pending == NULL)
            continue;
        if (pace_rate > 0) {
            double at = verify_t0 + (double)i / pace_rate, wait = at - now_s();
            if (wait > 0) {
                struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
                nanosleep(&ts, NULL);
            }
        }
        char code[OTP_MAX_DIGITS + 1];
        otp_totp(u->key, u->klen, &p, verify_step_time, code);
        Authd__V1__VerifySecondFactorRequest v = AUTHD__V1__VERIFY_SECOND_FACTOR_REQUEST__INIT;
        v.session_token = u->pending;
        v.code = code;
        v.client_ip = "127.0.0.1";
        ProtobufCMessage *resp = NULL;
        double t = now_s();
        int r = rpc_call(client, "/authd.v1.Sessions/VerifySecondFactor", &v.base,
                         &authd__v1__session_response__descriptor, &resp, 30000, NULL);
        lat_ms[i] = (now_s() - t) * 1e3; /* each index belongs to one thread */
        rpc_msg_free(resp);
        pthread_mutex_lock(&mu);
        if (r == AUTHD_OK)
            ok_count++;
        else
            fail_count++;
        pthread_mutex_unlock(&mu);
    }
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The q-quantile (0..1) of the n measured latencies in lat_ms (sorted here), nearest rank; 0
 * when none was measured. */
static double
quantile(double q, size_t n)
{
    if (n == 0)
        return 0;
    size_t rank = (size_t)(q * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    return lat_ms[(rank > n ? n : rank) - 1];
}

static void
run(void *(*fn)(void *), int threads)
{
    pthread_t *th = calloc((size_t)threads, sizeof(*th));
    next_user = 0;
    for (int i = 0; i < threads; i++)
        pthread_create(&th[i], NULL, fn, NULL);
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    free(th);
}

/* Splits "a,b,c" into one client each; 0, or -1 after saying why. */
static int
clients_new(const char *targets)
{
    char buf[1024];
    if (snprintf(buf, sizeof(buf), "%s", targets) >= (int)sizeof(buf))
        return -1;
    for (char *t = buf; t != NULL;) {
        char *comma = strchr(t, ',');
        if (comma != NULL)
            *comma = '\0';
        if (t[0] != '\0') {
            if (n_clients == MAX_TARGETS || rpc_client_new(t, &clients[n_clients]) != AUTHD_OK) {
                fprintf(stderr, "bench_totp: cannot use target %s (at most %d)\n", t, MAX_TARGETS);
                return -1;
            }
            n_clients++;
        }
        t = comma != NULL ? comma + 1 : NULL;
    }
    return n_clients > 0 ? 0 : -1;
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_totp TARGET[,TARGET...] [users] [threads] [max-seconds]\n");
        return 2;
    }
    n_users = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 2000;
    int threads = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 64;
    double max_seconds = argc > 4 ? strtod(argv[4], NULL) : 120;
    if (n_users < 1 || n_users > MAX_USERS || threads < 1 || threads > 1024 || max_seconds <= 0 ||
        max_seconds > 600) {
        fprintf(stderr, "bench_totp: users 1..%d, threads 1..1024, max-seconds 0..600\n",
                MAX_USERS);
        return 2;
    }
    if (clients_new(argv[1]) != 0)
        return 1;
    users = calloc((size_t)n_users, sizeof(*users));
    lat_ms = malloc((size_t)n_users * sizeof(*lat_ms));
    if (users == NULL || lat_ms == NULL)
        return 1;
    for (int i = 0; i < n_users; i++)
        lat_ms[i] = -1;
    double t0 = now_s();
    run(setup_worker, threads);
    if (fail_count > 0) {
        fprintf(stderr, "bench_totp: %ld users failed to set up\n", fail_count);
        return 1;
    }
    printf("totp_setup       users=%d seconds=%.1f\n", n_users, now_s() - t0);
    const char *step = getenv("BENCH_STEP");
    if (step != NULL && strcmp(step, "1") == 0) {
        char line[64];
        printf("ready totp_verify\n");
        fflush(stdout);
        if (fgets(line, sizeof(line), stdin) == NULL)
            return 1;
    }
    /* The confirmations used the current step; verify with the next one (authd accepts one
     * future step), so that no code is a replay. */
    verify_step_time = time(NULL) + 30;
    ok_count = fail_count = 0;
    const char *rate = getenv("BENCH_RATE");
    pace_rate = rate != NULL ? strtod(rate, NULL) : 0;
    if (pace_rate < 0)
        pace_rate = 0;
    t0 = now_s();
    verify_t0 = t0;
    verify_deadline = t0 + max_seconds;
    run(verify_worker, threads);
    double el = now_s() - t0;
    /* The measured calls to the front (users skipped by the deadline have none), sorted. */
    size_t n = 0;
    for (int i = 0; i < n_users; i++)
        if (lat_ms[i] >= 0)
            lat_ms[n++] = lat_ms[i];
    qsort(lat_ms, n, sizeof(*lat_ms), cmp_double);
    printf("totp_verify_rpc  in_flight=%d verified=%ld failed=%ld verifications_per_s=%.0f "
           "p50_ms=%.2f p99_ms=%.2f",
           threads, ok_count, fail_count, ok_count / el, quantile(0.50, n), quantile(0.99, n));
    if (pace_rate > 0)
        printf(" rate_per_s=%.0f", pace_rate);
    printf("\n");
    for (int i = 0; i < n_clients; i++)
        rpc_client_free(clients[i]);
    return fail_count == 0 ? 0 : 1;
}
