/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for proto/rpc_local.c: calls into services written here without gRPC. Covers the
 * answer leaving the arena as a message of the caller's, the request reaching the handler as a
 * copy, errors with their status message and details (OAuth error, retry-after), unknown and
 * unbound methods, the authorize hook (what it sees, its refusal, the grants it sets) and what
 * the context reports in place of a transport.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "authd/v1/common.pb-c.h"
#include "authd/v1/users.pb-c.h"
#include "common/err.h"
#include "grpc/health/v1/health.pb-c.h"
#include "proto/rpc.h"
#include "proto/rpc_local.h"

/* gRPC status codes, restated so the test needs no gRPC header. */
enum {
    ST_OK = 0,
    ST_ALREADY_EXISTS = 6,
    ST_PERMISSION_DENIED = 7,
    ST_UNIMPLEMENTED = 12,
};

static int service_arg = 7;
static int handler_runs;

/* Users.Create: "taken@example.com" fails with a message; otherwise a nested answer. */
static int
on_create(struct rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
    const Authd__V1__CreateUserRequest *in = (const void *)req;
    Authd__V1__UserResponse *out = (void *)resp;

    handler_runs++;
    /* Details set on success are dropped; on failure they reach the caller's status. */
    rpc_ctx_set_oauth_error(ctx, "invalid_grant");
    rpc_ctx_set_retry_after(ctx, 7);
    if (strcmp(in->email, "locked@example.com") == 0)
        return AUTHD_ERR_LOCKED;
    if (strcmp(in->email, "taken@example.com") == 0) {
        rpc_ctx_set_oauth_error(ctx, "Not A Code"); /* ill-formed: clears it */
        rpc_ctx_set_retry_after(ctx, 0);
        rpc_ctx_set_message(ctx, "that e-mail is taken");
        return AUTHD_ERR_ALREADY_EXISTS;
    }
    out->user = rpc_ctx_msg(ctx, &authd__v1__user__descriptor);
    out->user->id = rpc_ctx_printf(ctx, "u-%s-%d", in->id, *(int *)rpc_ctx_arg(ctx));
    out->user->email = rpc_ctx_strdup(ctx, in->email);
    out->user->two_factor = rpc_ctx_msg(ctx, &authd__v1__two_factor_status__descriptor);
    out->user->two_factor->transport = "static-transport";
    return AUTHD_OK;
}

/*
 * Users.Get: reports what the context says, as "peer|x-test|tls|grants|identities|deadline" in
 * the user's id.
 */
static int
on_get(struct rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
    Authd__V1__UserResponse *out = (void *)resp;
    const char *ids[4];
    size_t n = rpc_ctx_peer_identities(ctx, ids, 4);
    const char *md = rpc_ctx_metadata(ctx, "x-test");
    int64_t left = rpc_ctx_deadline_ms_left(ctx);
    (void)req;

    handler_runs++;
    out->user = rpc_ctx_msg(ctx, &authd__v1__user__descriptor);
    out->user->id =
        rpc_ctx_printf(ctx, "%s|%s|%d|%x|%zu:%s|%s", rpc_ctx_peer(ctx), md != NULL ? md : "(none)",
                       rpc_ctx_is_tls(ctx), rpc_ctx_grants(ctx), n, n > 0 ? ids[n - 1] : "",
                       left == INT64_MAX ? "none" : (left > 0 && left <= 60000 ? "dl" : "bad"));
    out->user->email = rpc_ctx_strdup(ctx, rpc_ctx_caller(ctx));
    return AUTHD_OK;
}

/* Delete is left out on purpose: it must answer UNIMPLEMENTED. */
static const struct rpc_method users_methods[] = {
    {"Create", on_create, 0, 0x2},
    {"Get", on_get, RPC_INLINE, 0x4},
};
static const struct rpc_service users = {&authd__v1__users__descriptor, users_methods, 2,
                                         &service_arg};

/* Refuses Users/Create for a caller without the "x-allow" metadata; names the caller. */
static int
on_authorize(void *arg, struct rpc_ctx *ctx, const char *service, const struct rpc_method *m)
{
    int *calls = arg;
    const char *method = m->name;

    (*calls)++;
    /* The hook gets the method's own row, with its roles. */
    if (m->roles != (strcmp(method, "Create") == 0 ? 0x2u : 0x4u))
        return AUTHD_ERR_INTERNAL;
    rpc_ctx_set_caller(ctx, "hook-caller");
    rpc_ctx_set_grants(ctx, 0x5);
    if (strcmp(service, "authd.v1.Users") == 0 && strcmp(method, "Create") == 0 &&
        rpc_ctx_metadata(ctx, "x-allow") == NULL) {
        rpc_ctx_set_message(ctx, "not you");
        return AUTHD_ERR_PERMISSION_DENIED;
    }
    return AUTHD_OK;
}

static void
test_round_trip(void **state)
{
    Authd__V1__CreateUserRequest req = AUTHD__V1__CREATE_USER_REQUEST__INIT;
    ProtobufCMessage *resp = (ProtobufCMessage *)&req; /* cleared on entry */
    struct rpc_status st;
    (void)state;

    req.id = "42";
    req.email = "a@example.com";
    req.password = "correct horse battery staple";
    assert_int_equal(rpc_local_call(&users, "Create", NULL, &req.base, &resp, &st), AUTHD_OK);
    assert_int_equal(st.code, ST_OK);
    assert_string_equal(st.reason, "");
    assert_string_equal(st.message, "");
    assert_string_equal(st.oauth_error, "");
    assert_int_equal(st.retry_after, 0);
    assert_non_null(resp);
    assert_ptr_equal(resp->descriptor, &authd__v1__user_response__descriptor);
    Authd__V1__UserResponse *out = (Authd__V1__UserResponse *)resp;
    /* A copy of the caller's: nested messages and strings outlive the call's arena. */
    assert_string_equal(out->user->id, "u-42-7");
    assert_string_equal(out->user->email, "a@example.com");
    assert_string_equal(out->user->two_factor->transport, "static-transport");
    assert_ptr_not_equal(out->user->email, req.email);
    /* The request stays the caller's, unchanged. */
    assert_string_equal(req.password, "correct horse battery staple");
    rpc_msg_free(resp);

    /* No request: the handler gets the default instance, as for an absent message. */
    assert_int_equal(rpc_local_call(&users, "Create", NULL, NULL, &resp, NULL), AUTHD_OK);
    assert_string_equal(((Authd__V1__UserResponse *)resp)->user->id, "u--7");
    rpc_msg_free(resp);
}

static void
test_errors(void **state)
{
    Authd__V1__CreateUserRequest req = AUTHD__V1__CREATE_USER_REQUEST__INIT;
    Authd__V1__GetUserRequest get = AUTHD__V1__GET_USER_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    struct rpc_status st;
    (void)state;

    req.email = "taken@example.com";
    assert_int_equal(rpc_local_call(&users, "Create", NULL, &req.base, &resp, &st),
                     AUTHD_ERR_ALREADY_EXISTS);
    assert_null(resp);
    assert_int_equal(st.code, ST_ALREADY_EXISTS);
    assert_string_equal(st.reason, authd_err_reason(AUTHD_ERR_ALREADY_EXISTS));
    assert_string_equal(st.message, "that e-mail is taken");
    assert_string_equal(st.oauth_error, "");
    assert_int_equal(st.retry_after, 0);

    req.email = "locked@example.com";
    assert_int_equal(rpc_local_call(&users, "Create", NULL, &req.base, &resp, &st),
                     AUTHD_ERR_LOCKED);
    assert_string_equal(st.reason, authd_err_reason(AUTHD_ERR_LOCKED));
    assert_string_equal(st.message, authd_strerror(AUTHD_ERR_LOCKED));
    assert_string_equal(st.oauth_error, "invalid_grant");
    assert_int_equal(st.retry_after, 7);

    /* In the descriptor but not bound, and not in the descriptor at all. */
    handler_runs = 0;
    assert_int_equal(rpc_local_call(&users, "Delete", NULL, NULL, &resp, &st),
                     AUTHD_ERR_UNIMPLEMENTED);
    assert_int_equal(st.code, ST_UNIMPLEMENTED);
    assert_string_equal(st.message, "unknown method");
    assert_int_equal(rpc_local_call(&users, "Nope", NULL, NULL, &resp, NULL),
                     AUTHD_ERR_UNIMPLEMENTED);
    /* A request of another type, missing arguments, malformed metadata. */
    assert_int_equal(rpc_local_call(&users, "Create", NULL, &get.base, &resp, NULL),
                     AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(rpc_local_call(NULL, "Create", NULL, NULL, &resp, NULL),
                     AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(rpc_local_call(&users, "Create", NULL, NULL, NULL, NULL),
                     AUTHD_ERR_INVALID_ARGUMENT);
    const char *const bad_md[] = {"x-test", NULL, NULL};
    struct rpc_local_opts o = {.md = bad_md};
    assert_int_equal(rpc_local_call(&users, "Get", &o, NULL, &resp, NULL),
                     AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(handler_runs, 0);
    assert_null(resp);
}

static void
test_context(void **state)
{
    const char *const md[] = {"x-test", "hello", "authorization", "Bearer abc", NULL};
    const char *const ids[] = {"uri:spiffe://authd.dev/edge", "dns:edge.local"};
    ProtobufCMessage *resp = NULL;
    (void)state;

    /* A zeroed opts: plaintext, "local", nothing granted, no deadline. */
    struct rpc_local_opts o = {0};
    assert_int_equal(rpc_local_call(&users, "Get", &o, NULL, &resp, NULL), AUTHD_OK);
    assert_string_equal(((Authd__V1__UserResponse *)resp)->user->id, "local|(none)|0|0|0:|none");
    assert_string_equal(((Authd__V1__UserResponse *)resp)->user->email, "");
    rpc_msg_free(resp);

    /* opts NULL: every right, as a server without a hook grants. */
    assert_int_equal(rpc_local_call(&users, "Get", NULL, NULL, &resp, NULL), AUTHD_OK);
    assert_string_equal(((Authd__V1__UserResponse *)resp)->user->id,
                        "local|(none)|0|ffffffff|0:|none");
    rpc_msg_free(resp);

    struct rpc_local_opts full = {.md = md,
                                  .identities = ids,
                                  .n_identities = 2,
                                  .tls = 1,
                                  .peer = "ipv4:10.0.0.1:5000",
                                  .grants = 0x2,
                                  .deadline_ms = 60000};
    assert_int_equal(rpc_local_call(&users, "Get", &full, NULL, &resp, NULL), AUTHD_OK);
    assert_string_equal(((Authd__V1__UserResponse *)resp)->user->id,
                        "ipv4:10.0.0.1:5000|hello|1|2|2:dns:edge.local|dl");
    rpc_msg_free(resp);
}

static void
test_authorize_hook(void **state)
{
    Authd__V1__CreateUserRequest req = AUTHD__V1__CREATE_USER_REQUEST__INIT;
    const char *const allow[] = {"x-allow", "1", NULL};
    ProtobufCMessage *resp = NULL;
    struct rpc_status st;
    int calls = 0;
    (void)state;

    req.id = "1";
    req.email = "b@example.com";
    struct rpc_local_opts o = {.grants = 0xff, .authorize = on_authorize, .hook_arg = &calls};
    handler_runs = 0;
    assert_int_equal(rpc_local_call(&users, "Create", &o, &req.base, &resp, &st),
                     AUTHD_ERR_PERMISSION_DENIED);
    assert_int_equal(st.code, ST_PERMISSION_DENIED);
    assert_string_equal(st.message, "not you");
    assert_int_equal(calls, 1);
    assert_int_equal(handler_runs, 0); /* refused before the handler */
    assert_null(resp);

    o.md = allow;
    assert_int_equal(rpc_local_call(&users, "Create", &o, &req.base, &resp, NULL), AUTHD_OK);
    assert_int_equal(handler_runs, 1);
    rpc_msg_free(resp);

    /* The hook's grants replace the caller's, and the caller it names reaches the handler. */
    assert_int_equal(rpc_local_call(&users, "Get", &o, NULL, &resp, NULL), AUTHD_OK);
    assert_string_equal(((Authd__V1__UserResponse *)resp)->user->id, "local|(none)|0|5|0:|none");
    assert_string_equal(((Authd__V1__UserResponse *)resp)->user->email, "hook-caller");
    rpc_msg_free(resp);
    assert_int_equal(calls, 3);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_context),
        cmocka_unit_test(test_authorize_hook),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
