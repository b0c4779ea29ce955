/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for authd/svc_sessions.c, called through rpc_local with a real store and a fake
 * clock: password lockout (the account locks after the free failures, the lock grows and ends
 * when the clock passes it, a success forgives), the same answer for an unknown e-mail as for a
 * wrong password, and the second step of a login: TOTP replay (also within one step), the window
 * of past steps, and the second factor's own lockout counter; ChangePassword's current password
 * counted as a guess; sessions and logins pending a second factor expiring with the clock; a
 * password stored at another Argon2 cost (parallelism 2, libargon2's) rehashed at login to the
 * current one (parallelism 1, computed by libsodium). The
 * policy is AuthConfig's default (5 free failures, then 1 s, doubling).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "authd/callers.h"
#include "authd/otp.h"
#include "authd/password.h"
#include "common/err.h"
#include "proto/rpc.h"
#include "tests/unit/authd/svc_fixture.h"

#define FREE_FAILURES 5         /* default lockout policy: failures before the first lock */
#define FIRST_LOCK 1            /* seconds of the first lock; each further failure doubles it */
#define STEP 30                 /* TOTP period */
#define SESSION_TTL (12 * 3600) /* authd's default session lifetime, seconds */
#define PENDING_TTL 600         /* seconds a login may wait for its second factor */

static void
assert_status_equal(const struct rpc_status *a, const struct rpc_status *b)
{
    assert_int_equal(a->code, b->code);
    assert_string_equal(a->reason, b->reason);
    assert_string_equal(a->message, b->message);
    assert_string_equal(a->oauth_error, b->oauth_error);
    assert_int_equal(a->retry_after, b->retry_after);
}

/* A code that is not the current one: the right code with its first digit changed. */
static void
wrong_code(const char *secret, int64_t t, char *code)
{
    svc_totp(secret, t, code);
    code[0] = code[0] == '9' ? '0' : (char)(code[0] + 1);
}

static void
test_password_lockout(void **state)
{
    struct svc_fx *f = *state;
    struct rpc_status st;
    char id[64];
    int64_t t0;

    svc_user_create(f, "a@example.com", SVC_PASSWORD, id);
    svc_user_create(f, "b@example.com", SVC_PASSWORD, id);
    /* The free failures, and the one that earns the first lock, are all judged. */
    for (int i = 0; i <= FREE_FAILURES; i++)
        assert_int_equal(svc_login(f, "a@example.com", "wrong password", NULL, NULL, NULL),
                         AUTHD_ERR_INVALID_CREDENTIALS);
    /* Locked: even the right password is refused, before it is judged. */
    assert_int_equal(svc_login(f, "a@example.com", SVC_PASSWORD, NULL, NULL, &st),
                     AUTHD_ERR_LOCKED);
    assert_string_equal(st.reason, authd_err_reason(AUTHD_ERR_LOCKED));
    assert_int_equal(st.retry_after, FIRST_LOCK);
    /* Another account from the same address is not. */
    assert_int_equal(svc_login(f, "b@example.com", SVC_PASSWORD, NULL, NULL, NULL), AUTHD_OK);

    /* The lock ends when the clock passes it; the next failure locks for twice as long. */
    t0 = svc_fake_now;
    svc_fake_now = t0 + FIRST_LOCK;
    assert_int_equal(svc_login(f, "a@example.com", "wrong again", NULL, NULL, NULL),
                     AUTHD_ERR_INVALID_CREDENTIALS);
    svc_fake_now = t0 + FIRST_LOCK + 2 * FIRST_LOCK - 1;
    assert_int_equal(svc_login(f, "a@example.com", SVC_PASSWORD, NULL, NULL, &st),
                     AUTHD_ERR_LOCKED);
    assert_int_equal(st.retry_after, 1);
    svc_fake_now = t0 + FIRST_LOCK + 2 * FIRST_LOCK;
    assert_int_equal(svc_login(f, "a@example.com", SVC_PASSWORD, NULL, NULL, NULL), AUTHD_OK);

    /* A success forgives: the free failures are free again. */
    for (int i = 0; i < FREE_FAILURES; i++)
        assert_int_equal(svc_login(f, "a@example.com", "wrong password", NULL, NULL, NULL),
                         AUTHD_ERR_INVALID_CREDENTIALS);
    assert_int_equal(svc_login(f, "a@example.com", SVC_PASSWORD, NULL, NULL, NULL), AUTHD_OK);
}

static void
test_unknown_email_same_answer(void **state)
{
    struct svc_fx *f = *state;
    struct rpc_status known, unknown;
    char id[64];

    svc_user_create(f, "known@example.com", SVC_PASSWORD, id);
    assert_int_equal(svc_login(f, "known@example.com", "wrong password", NULL, NULL, &known),
                     AUTHD_ERR_INVALID_CREDENTIALS);
    assert_int_equal(svc_login(f, "nobody@example.com", "wrong password", NULL, NULL, &unknown),
                     AUTHD_ERR_INVALID_CREDENTIALS);
    assert_status_equal(&known, &unknown);
    /* An address that is no e-mail at all answers the same too. */
    assert_int_equal(svc_login(f, "not an address", "wrong password", NULL, NULL, &unknown),
                     AUTHD_ERR_INVALID_CREDENTIALS);
    assert_status_equal(&known, &unknown);

    /* And an unknown e-mail locks like a known one, so the lock tells nothing either. */
    for (int i = 1; i <= FREE_FAILURES; i++) {
        assert_int_equal(svc_login(f, "known@example.com", "wrong password", NULL, NULL, &known),
                         AUTHD_ERR_INVALID_CREDENTIALS);
        assert_int_equal(svc_login(f, "nobody@example.com", "wrong password", NULL, NULL, &unknown),
                         AUTHD_ERR_INVALID_CREDENTIALS);
        assert_status_equal(&known, &unknown);
    }
    assert_int_equal(svc_login(f, "known@example.com", SVC_PASSWORD, NULL, NULL, &known),
                     AUTHD_ERR_LOCKED);
    assert_int_equal(svc_login(f, "nobody@example.com", SVC_PASSWORD, NULL, NULL, &unknown),
                     AUTHD_ERR_LOCKED);
    assert_status_equal(&known, &unknown);
}

/* A user with TOTP enrolled at the fixture's start time; its secret into secret. */
static void
user_with_totp(struct svc_fx *f, const char *email, char *secret, char *recovery)
{
    char id[64], token[256];
    int authenticated = 0;

    svc_user_create(f, email, SVC_PASSWORD, id);
    assert_int_equal(svc_login(f, email, SVC_PASSWORD, token, &authenticated, NULL), AUTHD_OK);
    assert_true(authenticated);
    svc_enrol_totp(f, token, secret, recovery);
}

/* A login that now waits for its second factor; its pending session token into token. */
static void
pending_login(struct svc_fx *f, const char *email, char *token)
{
    int authenticated = 1;

    assert_int_equal(svc_login(f, email, SVC_PASSWORD, token, &authenticated, NULL), AUTHD_OK);
    assert_false(authenticated);
}

static void
test_totp_replay(void **state)
{
    struct svc_fx *f = *state;
    Authd__V1__SessionResponse *s = NULL;
    char secret[64], token[256], code[OTP_MAX_DIGITS + 1];
    struct rpc_status st;

    user_with_totp(f, "totp@example.com", secret, NULL);
    /* The code that confirmed the enrolment is spent: its step was accepted once. */
    pending_login(f, "totp@example.com", token);
    svc_totp(secret, svc_fake_now, code);
    assert_int_equal(svc_verify(f, token, code, NULL, NULL, &st), AUTHD_ERR_WRONG_CODE);
    assert_string_equal(st.reason, authd_err_reason(AUTHD_ERR_WRONG_CODE));

    /* Next step: its code opens an authenticated session, once. */
    svc_fake_now += STEP;
    svc_totp(secret, svc_fake_now, code);
    assert_int_equal(svc_verify(f, token, code, NULL, &s, NULL), AUTHD_OK);
    assert_true(s->session->authenticated);
    assert_string_not_equal(s->session_token, token); /* a new token: no fixation */
    rpc_msg_free(&s->base);
    /* The pending session was consumed. */
    assert_int_equal(svc_verify(f, token, code, NULL, NULL, NULL), AUTHD_ERR_UNAUTHENTICATED);

    /* The same code again, within the same step, on a new login: refused. */
    pending_login(f, "totp@example.com", token);
    assert_int_equal(svc_verify(f, token, code, NULL, NULL, NULL), AUTHD_ERR_WRONG_CODE);
    /* And an older step's code, though inside the window of past steps. */
    svc_totp(secret, svc_fake_now - STEP, code);
    assert_int_equal(svc_verify(f, token, code, NULL, NULL, NULL), AUTHD_ERR_WRONG_CODE);
}

static void
test_totp_window(void **state)
{
    struct svc_fx *f = *state;
    char secret[64], token[256], code[OTP_MAX_DIGITS + 1];

    user_with_totp(f, "window@example.com", secret, NULL);
    svc_fake_now += 10 * STEP;
    pending_login(f, "window@example.com", token);
    /* validPastTokensCount is 1 by default: two steps back is too old, one step back is not. */
    svc_totp(secret, svc_fake_now - 2 * STEP, code);
    assert_int_equal(svc_verify(f, token, code, NULL, NULL, NULL), AUTHD_ERR_WRONG_CODE);
    svc_totp(secret, svc_fake_now - STEP, code);
    assert_int_equal(svc_verify(f, token, code, NULL, NULL, NULL), AUTHD_OK);
    /* Two steps ahead is refused too (one step ahead is allowed for clock drift). */
    pending_login(f, "window@example.com", token);
    svc_totp(secret, svc_fake_now + 2 * STEP, code);
    assert_int_equal(svc_verify(f, token, code, NULL, NULL, NULL), AUTHD_ERR_WRONG_CODE);
    svc_totp(secret, svc_fake_now + STEP, code);
    assert_int_equal(svc_verify(f, token, code, NULL, NULL, NULL), AUTHD_OK);
}

static void
test_second_factor_lockout(void **state)
{
    struct svc_fx *f = *state;
    char secret[64], token[256], other[256], code[OTP_MAX_DIGITS + 1];
    struct rpc_status st;
    int64_t t0;

    user_with_totp(f, "lock2fa@example.com", secret, NULL);
    svc_fake_now += STEP;
    t0 = svc_fake_now;
    pending_login(f, "lock2fa@example.com", token);
    for (int i = 0; i <= FREE_FAILURES; i++) {
        wrong_code(secret, svc_fake_now, code);
        assert_int_equal(svc_verify(f, token, code, NULL, NULL, NULL), AUTHD_ERR_WRONG_CODE);
    }
    /* Locked: the right code is refused before it is judged. */
    svc_totp(secret, svc_fake_now, code);
    assert_int_equal(svc_verify(f, token, code, NULL, NULL, &st), AUTHD_ERR_LOCKED);
    assert_string_equal(st.reason, authd_err_reason(AUTHD_ERR_LOCKED));
    assert_int_equal(st.retry_after, FIRST_LOCK);

    /* A counter of its own: the password step is not locked by wrong codes... */
    pending_login(f, "lock2fa@example.com", other);

    /* ...and the code lock ends when the clock passes it. */
    svc_fake_now = t0 + FIRST_LOCK;
    svc_totp(secret, svc_fake_now, code);
    assert_int_equal(svc_verify(f, token, code, NULL, NULL, NULL), AUTHD_OK);

    /* Nor do password failures lock the second factor: with the password step locked, a login
     * that already passed it still completes. */
    svc_fake_now += STEP;
    for (int i = 0; i <= FREE_FAILURES; i++)
        assert_int_equal(svc_login(f, "lock2fa@example.com", "wrong password", NULL, NULL, NULL),
                         AUTHD_ERR_INVALID_CREDENTIALS);
    assert_int_equal(svc_login(f, "lock2fa@example.com", SVC_PASSWORD, NULL, NULL, NULL),
                     AUTHD_ERR_LOCKED);
    svc_totp(secret, svc_fake_now, code);
    assert_int_equal(svc_verify(f, other, code, NULL, NULL, NULL), AUTHD_OK);
}

/* A right code forgets the user's wrong codes (in the verification's own write): after four
 * failures and a success, five more failures are free again and the right code still passes;
 * had the four been kept, the sixth failure would have locked it out. */
static void
test_second_factor_success_forgets_failures(void **state)
{
    struct svc_fx *f = *state;
    char secret[64], token[256], code[OTP_MAX_DIGITS + 1];

    user_with_totp(f, "forget2fa@example.com", secret, NULL);
    svc_fake_now += STEP;
    pending_login(f, "forget2fa@example.com", token);
    for (int i = 0; i < FREE_FAILURES - 1; i++) {
        wrong_code(secret, svc_fake_now, code);
        assert_int_equal(svc_verify(f, token, code, NULL, NULL, NULL), AUTHD_ERR_WRONG_CODE);
    }
    svc_totp(secret, svc_fake_now, code);
    assert_int_equal(svc_verify(f, token, code, NULL, NULL, NULL), AUTHD_OK);

    svc_fake_now += STEP;
    pending_login(f, "forget2fa@example.com", token);
    for (int i = 0; i < FREE_FAILURES; i++) {
        wrong_code(secret, svc_fake_now, code);
        assert_int_equal(svc_verify(f, token, code, NULL, NULL, NULL), AUTHD_ERR_WRONG_CODE);
    }
    svc_totp(secret, svc_fake_now, code);
    assert_int_equal(svc_verify(f, token, code, NULL, NULL, NULL), AUTHD_OK);
}

static void
test_recovery_code_single_use(void **state)
{
    struct svc_fx *f = *state;
    char secret[64], recovery[32], token[256];

    user_with_totp(f, "rc@example.com", secret, recovery);
    pending_login(f, "rc@example.com", token);
    assert_int_equal(svc_verify(f, token, NULL, recovery, NULL, NULL), AUTHD_OK);
    pending_login(f, "rc@example.com", token);
    assert_int_equal(svc_verify(f, token, NULL, recovery, NULL, NULL), AUTHD_ERR_WRONG_CODE);
}

/* Sessions.ChangePassword (as the edge) for session token. */
static int
change_password(struct svc_fx *f, const char *token, const char *current, const char *next)
{
    Authd__V1__ChangePasswordRequest req = AUTHD__V1__CHANGE_PASSWORD_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    req.session_token = (char *)token;
    req.current_password = (char *)current;
    req.new_password = (char *)next;
    req.client_ip = SVC_IP;
    int r = svc_call(f, ROLE_EDGE, "Sessions", "ChangePassword", &req.base, &resp, NULL);
    rpc_msg_free(resp);
    return r;
}

static void
test_change_password_is_a_guess(void **state)
{
    struct svc_fx *f = *state;
    char id[64], token[256], other[256];
    static const char next[] = "a new and different passphrase";

    svc_user_create(f, "change@example.com", SVC_PASSWORD, id);
    assert_int_equal(svc_login(f, "change@example.com", SVC_PASSWORD, token, NULL, NULL), AUTHD_OK);
    assert_int_equal(svc_login(f, "change@example.com", SVC_PASSWORD, other, NULL, NULL), AUTHD_OK);
    /* A stolen session is no password oracle: wrong current passwords count like failed
     * logins, and lock both. */
    for (int i = 0; i <= FREE_FAILURES; i++)
        assert_int_equal(change_password(f, token, "a guess at it", next),
                         AUTHD_ERR_INVALID_CREDENTIALS);
    assert_int_equal(change_password(f, token, SVC_PASSWORD, next), AUTHD_ERR_LOCKED);
    assert_int_equal(svc_login(f, "change@example.com", SVC_PASSWORD, NULL, NULL, NULL),
                     AUTHD_ERR_LOCKED);

    /* Once the lock is over: changed, the other session ended, this one kept. */
    svc_fake_now += FIRST_LOCK;
    assert_int_equal(change_password(f, token, SVC_PASSWORD, next), AUTHD_OK);
    assert_int_equal(svc_session_get(f, token), AUTHD_OK);
    assert_int_equal(svc_session_get(f, other), AUTHD_ERR_UNAUTHENTICATED);
    assert_int_equal(svc_login(f, "change@example.com", SVC_PASSWORD, NULL, NULL, NULL),
                     AUTHD_ERR_INVALID_CREDENTIALS);
    assert_int_equal(svc_login(f, "change@example.com", next, NULL, NULL, NULL), AUTHD_OK);
}

/* Argon2 computations so far, and of those, by libsodium (the hash pool's counters). */
static void
hash_counts(uint64_t *hashes, uint64_t *sodium)
{
    struct password_pool_stats st;
    password_pool_stats(&st);
    *hashes = st.hashes;
    *sodium = st.sodium;
}

/*
 * Rehash on login: a password stored with parallelism 2 (an older --argon2-parallelism, which
 * only libargon2 computes) still logs in once the cost is parallelism 1, and that login stores
 * a new hash at the current cost, which libsodium judges from then on. The only place this file
 * looks behind the handlers: the pool's counters tell which implementation judged what.
 */
static void
test_rehash_on_login(void **state)
{
    struct svc_fx *f = *state;
    uint64_t h0, s0, h1, s1;
    char id[64];

    f->a.set.argon2.parallelism = 2;
    svc_user_create(f, "rehash@example.com", SVC_PASSWORD, id);
    f->a.set.argon2.parallelism = 1;

    hash_counts(&h0, &s0);
    assert_int_equal(svc_login(f, "rehash@example.com", "not the password", NULL, NULL, NULL),
                     AUTHD_ERR_INVALID_CREDENTIALS);
    hash_counts(&h1, &s1);
    assert_int_equal(h1 - h0, 1); /* judged by libargon2, nothing stored */
    assert_int_equal(s1 - s0, 0);

    assert_int_equal(svc_login(f, "rehash@example.com", SVC_PASSWORD, NULL, NULL, NULL), AUTHD_OK);
    hash_counts(&h0, &s0);
    assert_int_equal(h0 - h1, 2); /* libargon2 judged the old hash, libsodium made the new one */
    assert_int_equal(s0 - s1, 1);

    assert_int_equal(svc_login(f, "rehash@example.com", SVC_PASSWORD, NULL, NULL, NULL), AUTHD_OK);
    assert_int_equal(svc_login(f, "rehash@example.com", "not the password", NULL, NULL, NULL),
                     AUTHD_ERR_INVALID_CREDENTIALS);
    hash_counts(&h1, &s1);
    assert_int_equal(h1 - h0, 2); /* the new hash, judged by libsodium, and no further rehash */
    assert_int_equal(s1 - s0, 2);
}

static void
test_sessions_expire(void **state)
{
    struct svc_fx *f = *state;
    char id[64], token[256], secret[64], code[OTP_MAX_DIGITS + 1];
    int64_t t0 = svc_fake_now;

    svc_user_create(f, "expire@example.com", SVC_PASSWORD, id);
    assert_int_equal(svc_login(f, "expire@example.com", SVC_PASSWORD, token, NULL, NULL), AUTHD_OK);
    svc_fake_now = t0 + SESSION_TTL - 1;
    assert_int_equal(svc_session_get(f, token), AUTHD_OK);
    svc_fake_now = t0 + SESSION_TTL;
    assert_int_equal(svc_session_get(f, token), AUTHD_ERR_UNAUTHENTICATED);

    /* A login waiting for its second factor waits ten minutes at most. */
    user_with_totp(f, "pending@example.com", secret, NULL);
    t0 = svc_fake_now;
    pending_login(f, "pending@example.com", token);
    svc_fake_now = t0 + PENDING_TTL;
    svc_totp(secret, svc_fake_now, code);
    assert_int_equal(svc_verify(f, token, code, NULL, NULL, NULL), AUTHD_ERR_UNAUTHENTICATED);
    pending_login(f, "pending@example.com", token);
    svc_fake_now += PENDING_TTL - 1;
    svc_totp(secret, svc_fake_now, code);
    assert_int_equal(svc_verify(f, token, code, NULL, NULL, NULL), AUTHD_OK);
}

/* Sessions.Login as the edge with a deadline deadline_ms from now. */
static int
login_by(struct svc_fx *f, const char *email, const char *password, int64_t deadline_ms,
         struct rpc_status *st)
{
    Authd__V1__LoginRequest req = AUTHD__V1__LOGIN_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    req.email = (char *)email;
    req.password = (char *)password;
    req.client_ip = SVC_IP;
    int r = svc_call_by(f, ROLE_EDGE, "Sessions", "Login", &req.base, &resp, st, deadline_ms);
    rpc_msg_free(resp);
    return r;
}

/*
 * Under a login flood, a login whose caller gave up while it waited for a hash thread is
 * answered DEADLINE_EXCEEDED without its password being judged: not counted as a failure (more
 * of them than the lockout allows lock nothing), for known and unknown e-mails alike. The only
 * hash thread is held by the test for the whole wait, so the deadline surely passes first.
 */
static void
test_login_deadline_in_hash_queue(void **state)
{
    struct svc_fx *f = *state;
    struct password_pool_stats st0, st1;
    struct rpc_status st;
    char id[64];

    svc_user_create(f, "flood@example.com", SVC_PASSWORD, id);
    assert_int_equal(password_pool_init(1), AUTHD_OK);
    password_pool_stats(&st0);
    struct password_hold *h = password_pool_hold();
    assert_non_null(h);
    for (int i = 0; i < FREE_FAILURES + 2; i++) {
        assert_int_equal(login_by(f, "flood@example.com", "wrong password here", 1, &st),
                         AUTHD_ERR_DEADLINE);
        assert_int_equal(st.code, 4); /* DEADLINE_EXCEEDED */
        assert_int_equal(login_by(f, "nobody@example.com", "wrong password here", 1, NULL),
                         AUTHD_ERR_DEADLINE);
    }
    assert_int_equal(login_by(f, "flood@example.com", SVC_PASSWORD, 1, NULL), AUTHD_ERR_DEADLINE);
    password_pool_unhold(h);
    password_pool_stats(&st1);
    assert_int_equal(st1.hashes, st0.hashes);
    assert_int_equal(st1.expired - st0.expired, 2 * (FREE_FAILURES + 2) + 1);

    /* Nothing was counted: the right password logs in at once, and a wrong one is judged. */
    assert_int_equal(login_by(f, "flood@example.com", SVC_PASSWORD, 60000, NULL), AUTHD_OK);
    assert_int_equal(svc_login(f, "flood@example.com", "wrong password here", NULL, NULL, NULL),
                     AUTHD_ERR_INVALID_CREDENTIALS);
    assert_int_equal(password_pool_init(0), AUTHD_OK);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_password_lockout, svc_fx_setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_rehash_on_login, svc_fx_setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_login_deadline_in_hash_queue, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_email_same_answer, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_totp_replay, svc_fx_setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_totp_window, svc_fx_setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_second_factor_lockout, svc_fx_setup, svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_second_factor_success_forgets_failures, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_recovery_code_single_use, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_change_password_is_a_guess, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_sessions_expire, svc_fx_setup, svc_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
