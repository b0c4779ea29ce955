/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OTP micro-benchmark on one thread: otp_verify with a window of one step back and one ahead
 * (three HMAC-SHA1 per call, each call keying a fresh context) and otp_totp (one HMAC). Each
 * phase runs for about PHASE_SECONDS or MAX_CALLS calls, whichever comes first.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "authd/otp.h"
#include "common/secret.h"

#define PHASE_SECONDS 2.0
#define MAX_CALLS 20000000L
#define CHECK_EVERY 1024 /* calls between clock reads */

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(void)
{
    uint8_t key[OTP_SECRET_BYTES];
    struct otp_params p;
    char code[OTP_MAX_DIGITS + 1];
    int64_t t = (int64_t)time(NULL), matched = 0;
    long n = 0;
    int r;

    otp_params_default(&p);
    if ((r = secret_random(key, sizeof(key))) != AUTHD_OK ||
        (r = otp_totp(key, sizeof(key), &p, t, code)) != AUTHD_OK ||
        (r = otp_verify(key, sizeof(key), &p, t, 1, 1, -1, code, &matched)) != AUTHD_OK) {
        fprintf(stderr, "bench_otp: %s\n", authd_strerror(r));
        return 1;
    }

    /* The right code for the current step, never replayed: all three steps are computed. */
    double start = now_s(), dt = 0;
    for (n = 0; n < MAX_CALLS;) {
        if (otp_verify(key, sizeof(key), &p, t, 1, 1, -1, code, &matched) != AUTHD_OK) {
            fprintf(stderr, "bench_otp: otp_verify failed\n");
            return 1;
        }
        if (++n % CHECK_EVERY == 0 && (dt = now_s() - start) >= PHASE_SECONDS)
            break;
    }
    dt = now_s() - start;
    printf("otp_verify (SHA1, past=1 future=1, 3 HMACs): %9.0f calls/s (%ld calls in %.2f s)\n",
           n / dt, n, dt);

    start = now_s();
    for (n = 0; n < MAX_CALLS;) {
        /* A different step each call, as a real server would see. */
        if (otp_totp(key, sizeof(key), &p, t + 30 * (n & 1023), code) != AUTHD_OK) {
            fprintf(stderr, "bench_otp: otp_totp failed\n");
            return 1;
        }
        if (++n % CHECK_EVERY == 0 && now_s() - start >= PHASE_SECONDS)
            break;
    }
    dt = now_s() - start;
    printf("otp_totp   (SHA1, 1 HMAC):                   %9.0f calls/s (%ld calls in %.2f s)\n",
           n / dt, n, dt);
    secret_wipe(key, sizeof(key));
    secret_wipe(code, sizeof(code));
    return 0;
}
