/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The shared fixture of the service tests (see svc_fixture.h): a real store and authd, and calls
 * through rpc_local_call() with callers_authorize as the hook, the way authd's server runs them.
 */
#include "tests/unit/authd/svc_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "authd/callers.h"
#include "authd/otp.h"
#include "authd/secretbox.h"
#include "authd/signkeys.h"
#include "authd/v1/twofactor.pb-c.h"
#include "authd/v1/users.pb-c.h"
#include "common/err.h"
#include "proto/rpc_local.h"
#include "storage/store.h"

#define SVC_START_TIME 1700000010 /* a multiple of 30: the first TOTP step starts here */

int64_t svc_fake_now = SVC_START_TIME;
int svc_store_sync;

static int64_t
clock_fake(void)
{
    return svc_fake_now;
}

/* AUTHD_TEST_STORE=postgres: the fixture's store is PostgreSQL. */
static int
svc_on_postgres(void)
{
    const char *b = getenv("AUTHD_TEST_STORE");
    return b != NULL && strcmp(b, "postgres") == 0;
}

int
svc_fx_setup(void **state)
{
    uint8_t key[SECRETBOX_KEY_BYTES];
    struct store_opts o;
    struct authd_settings s;
    struct svc_fx *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    svc_fake_now = SVC_START_TIME;
    snprintf(f->dir, sizeof(f->dir), "/tmp/authd-svc-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    store_opts_default(&o);
    o.sync = svc_store_sync;
    if (svc_on_postgres()) {
        static int seq;
        assert_non_null(getenv("AUTHD_TEST_PG"));
        snprintf(f->spec, sizeof(f->spec), "postgres:%s", getenv("AUTHD_TEST_PG"));
        snprintf(f->schema, sizeof(f->schema), "svc_%d_%d", (int)getpid(), ++seq);
        o.schema = f->schema;
    } else {
        snprintf(f->spec, sizeof(f->spec), "%s", f->dir);
    }
    char err[256] = "";
    if (store_open(f->spec, &o, &f->st, err, sizeof(err)) != AUTHD_OK)
        fail_msg("store_open: %s", err);
    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = (uint8_t)(0x40 + i);
    assert_int_equal(secretbox_new(key, &f->box), AUTHD_OK);
    authd_settings_default(&s);
    /* Cheap hashes, as the integration tests' --argon2-memory 1024 --argon2-iterations 1. */
    s.argon2.m_cost_kib = 64;
    s.argon2.t_cost = 1;
    s.argon2.parallelism = 1;
    assert_int_equal(authd_init(&f->a, f->st, f->box, &s), AUTHD_OK);
    f->a.now = clock_fake;
    snprintf(f->a.issuer, sizeof(f->a.issuer), "https://auth.example.test");
    assert_int_equal(signkeys_load(&f->a, 400LL * 86400, &f->a.keys), AUTHD_OK);
    f->n_svcs = authd_services(&f->a, f->svcs, SVC_MAX_SERVICES);
    assert_true(f->n_svcs > 0 && f->n_svcs < SVC_MAX_SERVICES);
    *state = f;
    return 0;
}

int
svc_fx_teardown(void **state)
{
    struct svc_fx *f = *state;
    char cmd[128];

    for (size_t i = 0; i < sizeof(f->callers) / sizeof(f->callers[0]); i++)
        callers_free(f->callers[i]);
    signkeys_free(f->a.keys);
    authd_cleanup(&f->a);
    store_close(f->st);
    secretbox_free(f->box);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

struct svc_fx *
svc_fx_replica(struct svc_fx *f)
{
    struct svc_fx *r = calloc(1, sizeof(*r));

    assert_non_null(r);
    r->st = f->st;
    r->box = f->box;
    if (svc_on_postgres()) {
        struct store_opts o;
        char err[256] = "";
        store_opts_default(&o);
        o.schema = f->schema;
        if (store_open(f->spec, &o, &r->st, err, sizeof(err)) != AUTHD_OK)
            fail_msg("store_open: %s", err);
        r->own_store = 1;
    }
    assert_int_equal(authd_init(&r->a, r->st, f->box, &f->a.set), AUTHD_OK);
    r->a.now = f->a.now;
    snprintf(r->a.issuer, sizeof(r->a.issuer), "%s", f->a.issuer);
    assert_int_equal(signkeys_load(&r->a, 400LL * 86400, &r->a.keys), AUTHD_OK);
    r->n_svcs = authd_services(&r->a, r->svcs, SVC_MAX_SERVICES);
    return r;
}

void
svc_fx_replica_free(struct svc_fx *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < sizeof(r->callers) / sizeof(r->callers[0]); i++)
        callers_free(r->callers[i]);
    signkeys_free(r->a.keys);
    authd_cleanup(&r->a);
    if (r->own_store)
        store_close(r->st);
    free(r);
}

static int svc_call_opts(struct svc_fx *f, unsigned roles, const char *service, const char *method,
                         const ProtobufCMessage *req, ProtobufCMessage **resp,
                         struct rpc_status *st, int *deferred, int64_t deadline_ms);

int
svc_call(struct svc_fx *f, unsigned roles, const char *service, const char *method,
         const ProtobufCMessage *req, ProtobufCMessage **resp, struct rpc_status *st)
{
    return svc_call_opts(f, roles, service, method, req, resp, st, NULL, 0);
}

int
svc_call_trial(struct svc_fx *f, unsigned roles, const char *service, const char *method,
               const ProtobufCMessage *req, ProtobufCMessage **resp, struct rpc_status *st,
               int *deferred)
{
    return svc_call_opts(f, roles, service, method, req, resp, st, deferred, 0);
}

int
svc_call_by(struct svc_fx *f, unsigned roles, const char *service, const char *method,
            const ProtobufCMessage *req, ProtobufCMessage **resp, struct rpc_status *st,
            int64_t deadline_ms)
{
    return svc_call_opts(f, roles, service, method, req, resp, st, NULL, deadline_ms);
}

/* svc_call() with the trial's *deferred (may be NULL) and a deadline (0: none). */
static int
svc_call_opts(struct svc_fx *f, unsigned roles, const char *service, const char *method,
              const ProtobufCMessage *req, ProtobufCMessage **resp, struct rpc_status *st,
              int *deferred, int64_t deadline_ms)
{
    char full[128];
    const struct rpc_service *svc = NULL;

    assert_true(roles < sizeof(f->callers) / sizeof(f->callers[0]));
    if (f->callers[roles] == NULL)
        assert_int_equal(callers_new(&f->a, roles, &f->callers[roles]), AUTHD_OK);
    snprintf(full, sizeof(full), "%s%s", strchr(service, '.') != NULL ? "" : "authd.v1.", service);
    for (size_t i = 0; i < f->n_svcs && svc == NULL; i++)
        if (strcmp(f->svcs[i].desc->name, full) == 0)
            svc = &f->svcs[i];
    assert_non_null(svc);
    struct rpc_local_opts o = {.authorize = callers_authorize,
                               .hook_arg = f->callers[roles],
                               .peer = "ipv4:127.0.0.1:1",
                               .deferred = deferred,
                               .deadline_ms = deadline_ms};
    if (deferred != NULL)
        *deferred = 0;
    return rpc_local_call(svc, method, &o, req, resp, st);
}

void
svc_user_create(struct svc_fx *f, const char *email, const char *password, char *id)
{
    Authd__V1__CreateUserRequest req = AUTHD__V1__CREATE_USER_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    req.email = (char *)email;
    req.password = (char *)password;
    assert_int_equal(svc_call(f, ROLE_ADMIN, "Users", "Create", &req.base, &resp, NULL), AUTHD_OK);
    snprintf(id, 64, "%s", ((Authd__V1__UserResponse *)resp)->user->id);
    rpc_msg_free(resp);
}

int
svc_login(struct svc_fx *f, const char *email, const char *password, char *token,
          int *authenticated, struct rpc_status *st)
{
    Authd__V1__LoginRequest req = AUTHD__V1__LOGIN_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    req.email = (char *)email;
    req.password = (char *)password;
    req.client_ip = SVC_IP;
    int r = svc_call(f, ROLE_EDGE, "Sessions", "Login", &req.base, &resp, st);
    if (r == AUTHD_OK) {
        Authd__V1__SessionResponse *s = (Authd__V1__SessionResponse *)resp;
        if (token != NULL)
            snprintf(token, 256, "%s", s->session_token);
        if (authenticated != NULL)
            *authenticated = s->session->authenticated;
    }
    rpc_msg_free(resp);
    return r;
}

void
svc_totp(const char *secret, int64_t t, char *code)
{
    uint8_t key[OTP_SECRET_BYTES * 2];
    struct otp_params p;
    long n = otp_base32_decode(secret, key, sizeof(key));

    assert_true(n > 0);
    otp_params_default(&p);
    assert_int_equal(otp_totp(key, (size_t)n, &p, t, code), AUTHD_OK);
}

void
svc_enrol_totp(struct svc_fx *f, const char *token, char *secret, char *recovery)
{
    Authd__V1__BeginEnrollmentRequest begin = AUTHD__V1__BEGIN_ENROLLMENT_REQUEST__INIT;
    Authd__V1__ConfirmEnrollmentRequest confirm = AUTHD__V1__CONFIRM_ENROLLMENT_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    char code[OTP_MAX_DIGITS + 1];

    begin.session_token = (char *)token;
    assert_int_equal(
        svc_call(f, ROLE_EDGE, "TwoFactor", "BeginEnrollment", &begin.base, &resp, NULL), AUTHD_OK);
    snprintf(secret, 64, "%s", ((Authd__V1__BeginEnrollmentResponse *)resp)->secret);
    rpc_msg_free(resp);
    svc_totp(secret, svc_fake_now, code);
    confirm.session_token = (char *)token;
    confirm.code = code;
    confirm.client_ip = SVC_IP;
    assert_int_equal(
        svc_call(f, ROLE_EDGE, "TwoFactor", "ConfirmEnrollment", &confirm.base, &resp, NULL),
        AUTHD_OK);
    Authd__V1__RecoveryCodesResponse *rc = (Authd__V1__RecoveryCodesResponse *)resp;
    assert_true(rc->n_recovery_codes > 0);
    if (recovery != NULL)
        snprintf(recovery, 32, "%s", rc->recovery_codes[0]);
    rpc_msg_free(resp);
}

int
svc_verify(struct svc_fx *f, const char *token, const char *code, const char *recovery,
           Authd__V1__SessionResponse **out, struct rpc_status *st)
{
    Authd__V1__VerifySecondFactorRequest req = AUTHD__V1__VERIFY_SECOND_FACTOR_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    req.session_token = (char *)token;
    req.code = (char *)(code != NULL ? code : "");
    req.recovery_code = (char *)(recovery != NULL ? recovery : "");
    req.client_ip = SVC_IP;
    int r = svc_call(f, ROLE_EDGE, "Sessions", "VerifySecondFactor", &req.base, &resp, st);
    if (out != NULL)
        *out = (Authd__V1__SessionResponse *)resp;
    else
        rpc_msg_free(resp);
    return r;
}

int
svc_session_get(struct svc_fx *f, const char *token)
{
    Authd__V1__GetSessionRequest req = AUTHD__V1__GET_SESSION_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    req.session_token = (char *)token;
    int r = svc_call(f, ROLE_EDGE, "Sessions", "Get", &req.base, &resp, NULL);
    rpc_msg_free(resp);
    return r;
}
