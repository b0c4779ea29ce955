/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TOTP verifications per second through authd's RPC (Sessions/VerifySecondFactor), each one
 * with the durable replay check: a transaction that records the accepted step on the user, ends
 * the pending session and opens the real one, synced before the answer. Every verification is
 * for a different user (a user can pass at most once per 30 s step, by design), so the bench
 * first enrols N users; run authd with a cheap Argon2 cost so that setup is quick.
 *
 *   bench_totp TARGET [users] [threads]
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
static struct rpc_client *client;
static int64_t verify_step_time;

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
login(const char *email, char **token)
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
        r = login(u->email, &tok);
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
        r = login(u->email, &u->pending);
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
        int i = next_user < n_users ? next_user++ : -1;
        pthread_mutex_unlock(&mu);
        if (i < 0)
            return NULL;
        struct user *u = &users[i];
        if (u->pending == NULL)
            continue;
        char code[OTP_MAX_DIGITS + 1];
        otp_totp(u->key, u->klen, &p, verify_step_time, code);
        Authd__V1__VerifySecondFactorRequest v = AUTHD__V1__VERIFY_SECOND_FACTOR_REQUEST__INIT;
        v.session_token = u->pending;
        v.code = code;
        v.client_ip = "127.0.0.1";
        ProtobufCMessage *resp = NULL;
        int r = rpc_call(client, "/authd.v1.Sessions/VerifySecondFactor", &v.base,
                         &authd__v1__session_response__descriptor, &resp, 30000, NULL);
        rpc_msg_free(resp);
        pthread_mutex_lock(&mu);
        if (r == AUTHD_OK)
            ok_count++;
        else
            fail_count++;
        pthread_mutex_unlock(&mu);
    }
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

int
main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_totp TARGET [users] [threads]\n");
        return 2;
    }
    n_users = argc > 2 ? atoi(argv[2]) : 2000;
    int threads = argc > 3 ? atoi(argv[3]) : 64;
    if (n_users < 1 || n_users > MAX_USERS || threads < 1 || threads > 1024) {
        fprintf(stderr, "bench_totp: users 1..%d, threads 1..1024\n", MAX_USERS);
        return 2;
    }
    if (rpc_client_new(argv[1], &client) != AUTHD_OK)
        return 1;
    users = calloc((size_t)n_users, sizeof(*users));
    double t0 = now_s();
    run(setup_worker, threads);
    if (fail_count > 0) {
        fprintf(stderr, "bench_totp: %ld users failed to set up\n", fail_count);
        return 1;
    }
    printf("totp_setup       users=%d seconds=%.1f\n", n_users, now_s() - t0);
    /* The confirmations used the current step; verify with the next one (authd accepts one
     * future step), so that no code is a replay. */
    verify_step_time = time(NULL) + 30;
    ok_count = fail_count = 0;
    t0 = now_s();
    run(verify_worker, threads);
    double el = now_s() - t0;
    printf("totp_verify_rpc  in_flight=%d verified=%ld failed=%ld verifications_per_s=%.0f\n",
           threads, ok_count, fail_count, ok_count / el);
    rpc_client_free(client);
    return fail_count == 0 ? 0 : 1;
}
