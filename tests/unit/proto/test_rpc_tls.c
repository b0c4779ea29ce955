/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for TLS and the hooks of proto/rpc_*.c: a real gRPC server with mutual TLS on
 * 127.0.0.1:0, with certificates made at test time by deploy/dev-certs.sh (twice: the second
 * CA is a stranger). Covers the identities of a client certificate, a TLS client without one,
 * clients that must be refused (plaintext, a certificate from the wrong CA, a server that does
 * not verify), the authorize hook (its refusal runs no handler) and the observe hook.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "authd/v1/common.pb-c.h"
#include "authd/v1/users.pb-c.h"
#include "common/err.h"
#include "grpc/health/v1/health.pb-c.h"
#include "proto/rpc.h"
#include "common/secret.h"

#ifndef AUTHD_DEV_CERTS_SH
#error "AUTHD_DEV_CERTS_SH must name deploy/dev-certs.sh"
#endif

#define PEM_MAX (64 * 1024)

/* gRPC status codes, restated so the test needs no gRPC header. */
enum {
    ST_OK = 0,
    ST_PERMISSION_DENIED = 7,
    ST_UNIMPLEMENTED = 12,
    ST_UNAVAILABLE = 14,
};

/* ---- certificates ---------------------------------------------------------------------- */

struct pems {
    char *ca, *authd_cert, *authd_key, *edge_cert, *edge_key;
};

static char cert_root[] = "/tmp/authd-rpc-tls-XXXXXX";
static struct pems good;  /* made by deploy/dev-certs.sh */
static struct pems rogue; /* the same names from a second, unrelated CA */

static char *
read_pem(const char *dir, const char *name)
{
    char path[512];
    FILE *f;
    char *buf;
    size_t n;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    buf = calloc(1, PEM_MAX + 1);
    n = buf != NULL ? fread(buf, 1, PEM_MAX, f) : 0;
    fclose(f);
    if (buf != NULL && n == 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static int
make_pems(const char *sub, struct pems *p)
{
    char dir[256], cmd[1024];

    snprintf(dir, sizeof(dir), "%s/%s", cert_root, sub);
    snprintf(cmd, sizeof(cmd), "'%s' '%s' >/dev/null", AUTHD_DEV_CERTS_SH, dir);
    if (system(cmd) != 0)
        return -1;
    p->ca = read_pem(dir, "ca.pem");
    p->authd_cert = read_pem(dir, "authd.pem");
    p->authd_key = read_pem(dir, "authd.key");
    p->edge_cert = read_pem(dir, "edge.pem");
    p->edge_key = read_pem(dir, "edge.key");
    return p->ca && p->authd_cert && p->authd_key && p->edge_cert && p->edge_key ? 0 : -1;
}

static void
free_pems(struct pems *p)
{
    free(p->ca);
    free(p->authd_cert);
    free(p->edge_cert);
    /* Throw-away test keys, but keys all the same. */
    if (p->authd_key != NULL)
        secret_strfree(p->authd_key);
    if (p->edge_key != NULL)
        secret_strfree(p->edge_key);
}

/* ---- handlers and hooks ---------------------------------------------------------------- */

static int create_runs; /* Users.Create handler runs */

static pthread_mutex_t obs_mu = PTHREAD_MUTEX_INITIALIZER;
static int obs_count;
static char obs_service[64], obs_method[64];
static int obs_status;
static uint64_t obs_elapsed;

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

#define ROLE_T_OPEN 0x10u /* the test's marks in the rows' roles */
#define ROLE_T_READ 0x20u
#define ROLE_T_WRITE 0x40u

/*
 * Refuses a call whose metadata says x-deny, and one whose row allows no role (roles 0);
 * otherwise names the caller by the first identity of its certificate, or "anonymous".
 */
static int
on_authorize(void *arg, struct rpc_ctx *ctx, const char *service, const struct rpc_method *m)
{
    const char *ids[8];
    size_t n = rpc_ctx_peer_identities(ctx, ids, 8);
    (void)arg;

    if (rpc_ctx_metadata(ctx, "x-deny") != NULL) {
        rpc_ctx_set_message(ctx, "not for you");
        return AUTHD_ERR_PERMISSION_DENIED;
    }
    if (strcmp(service, "authd.v1.Users") != 0 && strcmp(service, "grpc.health.v1.Health") != 0)
        return AUTHD_ERR_INTERNAL; /* the hook must see the full service name */
    /* The hook gets the method's own row: its name and its roles, side by side. */
    if (m == NULL || m->name == NULL || m->fn == NULL)
        return AUTHD_ERR_INTERNAL;
    if (m->roles == 0) {
        rpc_ctx_set_message(ctx, "no role may call this");
        return AUTHD_ERR_PERMISSION_DENIED;
    }
    if ((strcmp(m->name, "Check") == 0 && m->roles != ROLE_T_OPEN) ||
        (strcmp(m->name, "Get") == 0 && m->roles != ROLE_T_READ) ||
        (strcmp(m->name, "Create") == 0 && m->roles != ROLE_T_WRITE))
        return AUTHD_ERR_INTERNAL;
    rpc_ctx_set_caller(ctx, n > 0 ? ids[0] : "anonymous");
    return AUTHD_OK;
}

static void
on_observe(void *arg, const char *service, const char *method, int status, uint64_t elapsed_ns)
{
    (void)arg;
    pthread_mutex_lock(&obs_mu);
    obs_count++;
    snprintf(obs_service, sizeof(obs_service), "%s", service);
    snprintf(obs_method, sizeof(obs_method), "%s", method);
    obs_status = status;
    obs_elapsed = elapsed_ns;
    pthread_mutex_unlock(&obs_mu);
}

static int
on_check(struct rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
    Grpc__Health__V1__HealthCheckResponse *out = (void *)resp;
    (void)ctx;
    (void)req;
    out->status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    return AUTHD_OK;
}

/* Users.Get, inline: "tls=<0|1> caller=<caller>" as the e-mail, the identities as the id. */
static int
on_get(struct rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
    Authd__V1__UserResponse *out = (void *)resp;
    const char *ids[8];
    size_t n = rpc_ctx_peer_identities(ctx, ids, 8);
    char *list = rpc_ctx_strdup(ctx, "");
    (void)req;

    for (size_t i = 0; i < n && list != NULL; i++)
        list = rpc_ctx_printf(ctx, "%s%s%s", list, i > 0 ? "," : "", ids[i]);
    out->user = rpc_ctx_msg(ctx, &authd__v1__user__descriptor);
    if (out->user == NULL || list == NULL)
        return AUTHD_ERR_NOMEM;
    out->user->id = list;
    out->user->email =
        rpc_ctx_printf(ctx, "tls=%d caller=%s", rpc_ctx_is_tls(ctx), rpc_ctx_caller(ctx));
    return AUTHD_OK;
}

/* Users.Create, on the worker pool: counts its runs. */
static int
on_create(struct rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
    Authd__V1__UserResponse *out = (void *)resp;
    (void)req;
    __atomic_add_fetch(&create_runs, 1, __ATOMIC_SEQ_CST);
    out->user = rpc_ctx_msg(ctx, &authd__v1__user__descriptor);
    return out->user != NULL ? AUTHD_OK : AUTHD_ERR_NOMEM;
}

/* Users.List: counted with Create's runs, answers the empty list. */
static int
on_list(struct rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
    (void)ctx;
    (void)req;
    (void)resp;
    __atomic_add_fetch(&create_runs, 1, __ATOMIC_SEQ_CST);
    return AUTHD_OK;
}

static const struct rpc_method health_methods[] = {{"Check", on_check, RPC_INLINE, ROLE_T_OPEN}};
/* List has a handler but a row without roles: the hook refuses it to everyone. */
static const struct rpc_method users_methods[] = {
    {"Get", on_get, RPC_INLINE, ROLE_T_READ},
    {"Create", on_create, 0, ROLE_T_WRITE},
    {"List", on_list, 0, 0},
};
static const struct rpc_service services[] = {
    {&grpc__health__v1__health__descriptor, health_methods, 1, NULL},
    {&authd__v1__users__descriptor, users_methods, 3, NULL},
};

/* ---- fixture --------------------------------------------------------------------------- */

struct fixture {
    struct rpc_server *srv;
    int port;
    char target[64];
};

static int
start(struct fixture *f, const struct rpc_tls *tls, int hooks)
{
    struct rpc_server_opts opts = {.listen = "127.0.0.1:0", .cq_threads = 1, .workers = 2};

    opts.tls = tls;
    if (hooks) {
        opts.authorize = on_authorize;
        opts.observe = on_observe;
    }
    if (rpc_server_start(&opts, services, 2, &f->srv, &f->port) != AUTHD_OK || f->port <= 0)
        return -1;
    snprintf(f->target, sizeof(f->target), "127.0.0.1:%d", f->port);
    return 0;
}

static int
group_setup(void **state)
{
    static struct fixture f;
    struct rpc_tls tls;

    if (mkdtemp(cert_root) == NULL || make_pems("good", &good) != 0 ||
        make_pems("rogue", &rogue) != 0)
        return -1;
    tls =
        (struct rpc_tls){.ca_pem = good.ca, .cert_pem = good.authd_cert, .key_pem = good.authd_key};
    if (start(&f, &tls, 1) != 0)
        return -1;
    *state = &f;
    return 0;
}

static int
group_teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[512];

    rpc_server_stop(f->srv, 1000);
    free_pems(&good);
    free_pems(&rogue);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", cert_root);
    return system(cmd) == 0 ? 0 : -1;
}

static struct rpc_client *
tls_client(const struct fixture *f, const char *ca, const char *cert, const char *key,
           const char *server_name)
{
    struct rpc_tls tls = {ca, cert, key, server_name};
    struct rpc_client *c = NULL;

    assert_int_equal(rpc_client_new_tls(f->target, &tls, &c), AUTHD_OK);
    return c;
}

/* Users.Get: the identities the server saw (id) and "tls=.. caller=.." (email). */
static int
get(struct rpc_client *c, const char *const *md, char *ids, size_t ids_cap, char *info,
    size_t info_cap, struct rpc_status *st)
{
    Authd__V1__GetUserRequest req = AUTHD__V1__GET_USER_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    int r = rpc_call_md(c, "/authd.v1.Users/Get", md, &req.base,
                        &authd__v1__user_response__descriptor, &resp, 5000, st);

    if (r == AUTHD_OK) {
        const Authd__V1__UserResponse *u = (const void *)resp;
        snprintf(ids, ids_cap, "%s", u->user->id);
        snprintf(info, info_cap, "%s", u->user->email);
    }
    rpc_msg_free(resp);
    return r;
}

static int
check(struct rpc_client *c, struct rpc_status *st)
{
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    int r = rpc_call(c, "/grpc.health.v1.Health/Check", &req.base,
                     &grpc__health__v1__health_check_response__descriptor, &resp, 5000, st);
    rpc_msg_free(resp);
    return r;
}

/* Waits until the observe hook has been called at least n times in all; 0 or -1. */
static int
wait_observed(int n)
{
    int64_t t0 = now_ms();

    for (;;) {
        pthread_mutex_lock(&obs_mu);
        int have = obs_count;
        pthread_mutex_unlock(&obs_mu);
        if (have >= n)
            return 0;
        if (now_ms() - t0 > 3000)
            return -1;
        sleep_ms(2);
    }
}

static int
observed_count(void)
{
    pthread_mutex_lock(&obs_mu);
    int n = obs_count;
    pthread_mutex_unlock(&obs_mu);
    return n;
}

/* ---- tests ----------------------------------------------------------------------------- */

static void
test_client_certificate_identities(void **state)
{
    struct fixture *f = *state;
    char ids[512], info[256];
    /* The target's host is 127.0.0.1, an IP address in authd's certificate. */
    struct rpc_client *c = tls_client(f, good.ca, good.edge_cert, good.edge_key, NULL);

    assert_int_equal(get(c, NULL, ids, sizeof(ids), info, sizeof(info), NULL), AUTHD_OK);
    /* Typed: the URI SAN only; the CN (edge) is no identity of a certificate with SANs. */
    assert_string_equal(ids, "uri:spiffe://authd.dev/edge");
    assert_string_equal(info, "tls=1 caller=uri:spiffe://authd.dev/edge");
    /* And on a worker thread. */
    {
        Authd__V1__CreateUserRequest req = AUTHD__V1__CREATE_USER_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        assert_int_equal(rpc_call(c, "/authd.v1.Users/Create", &req.base,
                                  &authd__v1__user_response__descriptor, &resp, 5000, NULL),
                         AUTHD_OK);
        rpc_msg_free(resp);
    }
    rpc_client_free(c);

    /* The name checked can be given instead of the target's host. */
    c = tls_client(f, good.ca, good.edge_cert, good.edge_key, "localhost");
    assert_int_equal(check(c, NULL), AUTHD_OK);
    rpc_client_free(c);
}

static void
test_client_without_certificate(void **state)
{
    struct fixture *f = *state;
    char ids[512], info[256];
    struct rpc_client *c = tls_client(f, good.ca, NULL, NULL, "localhost");

    assert_int_equal(get(c, NULL, ids, sizeof(ids), info, sizeof(info), NULL), AUTHD_OK);
    assert_string_equal(ids, "");
    assert_string_equal(info, "tls=1 caller=anonymous");
    rpc_client_free(c);
}

static void
test_refused_clients(void **state)
{
    struct fixture *f = *state;
    struct rpc_client *c = NULL;
    struct rpc_status st;

    /* Plaintext to a TLS port. */
    assert_int_equal(rpc_client_new(f->target, &c), AUTHD_OK);
    assert_int_equal(check(c, &st), AUTHD_ERR_UNAVAILABLE);
    assert_int_equal(st.code, ST_UNAVAILABLE);
    rpc_client_free(c);

    /* The right name, a certificate from another CA. */
    c = tls_client(f, good.ca, rogue.edge_cert, rogue.edge_key, NULL);
    assert_int_equal(check(c, &st), AUTHD_ERR_UNAVAILABLE);
    assert_int_equal(st.code, ST_UNAVAILABLE);
    rpc_client_free(c);

    /* A client that trusts another CA does not accept authd's certificate. */
    c = tls_client(f, rogue.ca, rogue.edge_cert, rogue.edge_key, NULL);
    assert_int_equal(check(c, &st), AUTHD_ERR_UNAVAILABLE);
    rpc_client_free(c);

    /* Nor a certificate that does not name the server. */
    c = tls_client(f, good.ca, good.edge_cert, good.edge_key, "authd.example.com");
    assert_int_equal(check(c, &st), AUTHD_ERR_UNAVAILABLE);
    rpc_client_free(c);

    /* The server still serves good clients. */
    c = tls_client(f, good.ca, good.edge_cert, good.edge_key, NULL);
    assert_int_equal(check(c, NULL), AUTHD_OK);
    rpc_client_free(c);
}

static void
test_authorize_refusal(void **state)
{
    struct fixture *f = *state;
    const char *const deny[] = {"x-deny", "1", NULL};
    Authd__V1__CreateUserRequest req = AUTHD__V1__CREATE_USER_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    struct rpc_status st;
    char ids[512], info[256];
    struct rpc_client *c = tls_client(f, good.ca, good.edge_cert, good.edge_key, NULL);
    int runs = __atomic_load_n(&create_runs, __ATOMIC_SEQ_CST);

    /* A worker method: refused before decoding, so the handler never runs. */
    req.email = "someone@example.com";
    assert_int_equal(rpc_call_md(c, "/authd.v1.Users/Create", deny, &req.base,
                                 &authd__v1__user_response__descriptor, &resp, 5000, &st),
                     AUTHD_ERR_PERMISSION_DENIED);
    assert_null(resp);
    assert_int_equal(st.code, ST_PERMISSION_DENIED);
    assert_string_equal(st.reason, "permission_denied");
    assert_string_equal(st.message, "not for you");
    assert_int_equal(__atomic_load_n(&create_runs, __ATOMIC_SEQ_CST), runs);

    /* An inline method. */
    assert_int_equal(get(c, deny, ids, sizeof(ids), info, sizeof(info), &st),
                     AUTHD_ERR_PERMISSION_DENIED);
    assert_int_equal(st.code, ST_PERMISSION_DENIED);

    /* Allowed, the same method runs. */
    assert_int_equal(rpc_call(c, "/authd.v1.Users/Create", &req.base,
                              &authd__v1__user_response__descriptor, &resp, 5000, NULL),
                     AUTHD_OK);
    rpc_msg_free(resp);
    assert_int_equal(__atomic_load_n(&create_runs, __ATOMIC_SEQ_CST), runs + 1);

    /* A row without roles: refused without metadata asking for it; its handler never runs. */
    Authd__V1__ListUsersRequest lreq = AUTHD__V1__LIST_USERS_REQUEST__INIT;
    assert_int_equal(rpc_call(c, "/authd.v1.Users/List", &lreq.base,
                              &authd__v1__list_users_response__descriptor, &resp, 5000, &st),
                     AUTHD_ERR_PERMISSION_DENIED);
    assert_string_equal(st.message, "no role may call this");
    assert_int_equal(__atomic_load_n(&create_runs, __ATOMIC_SEQ_CST), runs + 1);
    rpc_client_free(c);
}

static void
test_observe(void **state)
{
    struct fixture *f = *state;
    const char *const deny[] = {"x-deny", "1", NULL};
    Authd__V1__Empty empty = AUTHD__V1__EMPTY__INIT;
    ProtobufCMessage *resp = NULL;
    char ids[512], info[256];
    struct rpc_client *c = tls_client(f, good.ca, good.edge_cert, good.edge_key, NULL);
    int n;

    /* Let earlier calls' reports land first: each is made after its answer went out. */
    sleep_ms(200);
    n = observed_count();
    assert_int_equal(check(c, NULL), AUTHD_OK);
    assert_int_equal(wait_observed(n + 1), 0);
    pthread_mutex_lock(&obs_mu);
    assert_int_equal(obs_count, n + 1);
    assert_string_equal(obs_service, "grpc.health.v1.Health");
    assert_string_equal(obs_method, "Check");
    assert_int_equal(obs_status, ST_OK);
    assert_true(obs_elapsed > 0 && obs_elapsed < 5000000000ull);
    pthread_mutex_unlock(&obs_mu);

    /* A refused call is observed with its status. */
    assert_int_equal(get(c, deny, ids, sizeof(ids), info, sizeof(info), NULL),
                     AUTHD_ERR_PERMISSION_DENIED);
    assert_int_equal(wait_observed(n + 2), 0);
    pthread_mutex_lock(&obs_mu);
    assert_string_equal(obs_service, "authd.v1.Users");
    assert_string_equal(obs_method, "Get");
    assert_int_equal(obs_status, ST_PERMISSION_DENIED);
    pthread_mutex_unlock(&obs_mu);

    /* A method nobody registered: "" and "". */
    assert_int_equal(rpc_call(c, "/authd.v1.Nope/X", &empty.base, &authd__v1__empty__descriptor,
                              &resp, 5000, NULL),
                     AUTHD_ERR_UNIMPLEMENTED);
    assert_int_equal(wait_observed(n + 3), 0);
    pthread_mutex_lock(&obs_mu);
    assert_string_equal(obs_service, "");
    assert_string_equal(obs_method, "");
    assert_int_equal(obs_status, ST_UNIMPLEMENTED);
    assert_true(obs_elapsed > 0);
    pthread_mutex_unlock(&obs_mu);
    rpc_client_free(c);
}

/* Without TLS: no identities, is_tls 0; without an authorize hook the caller is "". */
static void
test_plaintext_server(void **state)
{
    struct fixture p;
    struct rpc_client *c = NULL;
    char ids[512], info[256];
    (void)state;

    memset(&p, 0, sizeof(p));
    assert_int_equal(start(&p, NULL, 0), 0);
    assert_int_equal(rpc_client_new(p.target, &c), AUTHD_OK);
    assert_int_equal(get(c, NULL, ids, sizeof(ids), info, sizeof(info), NULL), AUTHD_OK);
    assert_string_equal(ids, "");
    assert_string_equal(info, "tls=0 caller=");
    rpc_client_free(c);

    /* A TLS client to a plaintext port fails too. */
    c = tls_client(&p, good.ca, good.edge_cert, good.edge_key, NULL);
    assert_int_equal(check(c, NULL), AUTHD_ERR_UNAVAILABLE);
    rpc_client_free(c);
    rpc_server_stop(p.srv, 1000);
}

static void
test_bad_arguments(void **state)
{
    struct fixture *f = *state;
    struct rpc_client *c = (void *)1;
    struct rpc_server *srv = (void *)1;
    struct rpc_tls no_ca = {NULL, good.edge_cert, good.edge_key, NULL};
    struct rpc_tls half = {good.ca, good.edge_cert, NULL, NULL};
    struct rpc_tls no_key = {good.ca, good.authd_cert, NULL, NULL};
    struct rpc_server_opts opts = {.listen = "127.0.0.1:0", .tls = &no_key};
    int port = -1;

    assert_int_equal(rpc_client_new_tls(f->target, NULL, &c), AUTHD_ERR_INVALID_ARGUMENT);
    assert_null(c);
    assert_int_equal(rpc_client_new_tls(f->target, &no_ca, &c), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(rpc_client_new_tls(f->target, &half, &c), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(rpc_server_start(&opts, services, 2, &srv, &port), AUTHD_ERR_INVALID_ARGUMENT);
    assert_null(srv);
    assert_int_equal(port, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_certificate_identities),
        cmocka_unit_test(test_client_without_certificate),
        cmocka_unit_test(test_refused_clients),
        cmocka_unit_test(test_authorize_refusal),
        cmocka_unit_test(test_observe),
        cmocka_unit_test(test_plaintext_server),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
