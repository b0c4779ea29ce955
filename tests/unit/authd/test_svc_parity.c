/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests: PasswordReset.Start and Signup.Start do the same storage work whether or not the
 * e-mail address has an account (issue 12, item 5), so the time an answer takes tells nothing.
 * Counted, not timed: the store's operations by kind (authd_store_op_duration_seconds_count
 * by op) and the records each call writes (key prefix, key length, value length), known address
 * against unknown one. The timing itself is test_svc_timing.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "authd/callers.h"
#include "authd/v1/signup.pb-c.h"
#include "authd/v1/users.pb-c.h"
#include "common/err.h"
#include "common/metrics.h"
#include "common/secret.h"
#include "proto/rpc.h"
#include "storage/store.h"
#include "tests/unit/authd/svc_fixture.h"

/* Addresses of one length, so the keys they make (throttle counters) have one length too. */
#define KNOWN "known-user@example.com"
#define UNKNOWN "nobody-xyz@example.com"
#define INACTIVE "inactive-1@example.com"

#define MAX_KEYS 256
#define MAX_OPS 16

/* What one call did to the store: operations by kind, and the records it wrote. */
struct work {
    char ops[MAX_OPS][32];
    unsigned long n_ops[MAX_OPS];
    size_t n_kinds;
    char written[MAX_KEYS][80]; /* "<prefix> klen=<n> vlen=<n>", sorted */
    size_t n_written;
};

/* A snapshot of the store: every key with a digest of its value. */
struct snap {
    char keys[MAX_KEYS][200];
    size_t klen[MAX_KEYS], vlen[MAX_KEYS];
    uint8_t digest[MAX_KEYS][32];
    size_t n;
};

static int
snap_one(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct snap *s = arg;
    assert_true(s->n < MAX_KEYS);
    assert_true(klen < sizeof(s->keys[0]));
    memcpy(s->keys[s->n], key, klen);
    s->keys[s->n][klen] = '\0';
    s->klen[s->n] = klen;
    s->vlen[s->n] = vlen;
    secret_sha256(val, vlen, s->digest[s->n]);
    s->n++;
    return 0;
}

static void
snap_take(struct svc_fx *f, struct snap *s)
{
    memset(s, 0, sizeof(*s));
    assert_int_equal(store_scan(f->st, "", 0, NULL, 0, snap_one, s), AUTHD_OK);
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* The records present in after but not (with that value) in before, as "<prefix> klen vlen". */
static void
written_between(const struct snap *before, const struct snap *after, struct work *w)
{
    w->n_written = 0;
    for (size_t i = 0; i < after->n; i++) {
        int same = 0;
        for (size_t j = 0; j < before->n && !same; j++)
            same = strcmp(after->keys[i], before->keys[j]) == 0 &&
                   memcmp(after->digest[i], before->digest[j], 32) == 0;
        if (same)
            continue;
        const char *slash = strchr(after->keys[i], '/');
        int plen = slash != NULL ? (int)(slash - after->keys[i]) : (int)after->klen[i];
        snprintf(w->written[w->n_written++], sizeof(w->written[0]), "%.*s klen=%zu vlen=%zu", plen,
                 after->keys[i], after->klen[i], after->vlen[i]);
    }
    qsort(w->written, w->n_written, sizeof(w->written[0]), cmp_str);
}

/* Reads authd_store_op_duration_seconds_count{op="..."} from the metrics registry. */
static void
ops_read(struct work *w)
{
    static const char pre[] = "authd_store_op_duration_seconds_count{op=\"";
    size_t len = 0;
    char *text = metrics_render(&len);
    assert_non_null(text);
    w->n_kinds = 0;
    for (char *line = text; line != NULL && *line != '\0';) {
        char *nl = strchr(line, '\n');
        if (nl != NULL)
            *nl = '\0';
        if (strncmp(line, pre, sizeof(pre) - 1) == 0) {
            const char *op = line + sizeof(pre) - 1;
            const char *end = strchr(op, '"');
            assert_non_null(end);
            assert_true(w->n_kinds < MAX_OPS);
            snprintf(w->ops[w->n_kinds], sizeof(w->ops[0]), "%.*s", (int)(end - op), op);
            w->n_ops[w->n_kinds] = strtoul(strchr(end, ' ') + 1, NULL, 10);
            w->n_kinds++;
        }
        line = nl != NULL ? nl + 1 : NULL;
    }
    free(text);
}

/* The storage work of one call of service.method (as the edge) with req. */
static void
measure(struct svc_fx *f, const char *service, const ProtobufCMessage *req, struct work *w)
{
    struct snap before, after;
    ProtobufCMessage *resp = NULL;

    snap_take(f, &before);
    metrics_reset();
    assert_int_equal(svc_call(f, ROLE_EDGE, service, "Start", req, &resp, NULL), AUTHD_OK);
    ops_read(w);
    snap_take(f, &after);
    written_between(&before, &after, w);
    rpc_msg_free(resp);
}

static void
work_print(const char *what, const struct work *w)
{
    print_message("%s:", what);
    for (size_t i = 0; i < w->n_kinds; i++)
        print_message(" %s=%lu", w->ops[i], w->n_ops[i]);
    print_message("\n");
    for (size_t i = 0; i < w->n_written; i++)
        print_message("    wrote %s\n", w->written[i]);
}

static void
assert_same_work(const struct work *a, const struct work *b)
{
    assert_int_equal(a->n_kinds, b->n_kinds);
    for (size_t i = 0; i < a->n_kinds; i++) {
        size_t j = 0;
        while (j < b->n_kinds && strcmp(a->ops[i], b->ops[j]) != 0)
            j++;
        assert_true(j < b->n_kinds);
        assert_int_equal(a->n_ops[i], b->n_ops[j]);
    }
    assert_int_equal(a->n_written, b->n_written);
    for (size_t i = 0; i < a->n_written; i++)
        assert_string_equal(a->written[i], b->written[i]);
}

static void
reset_work(struct svc_fx *f, const char *email, struct work *w)
{
    Authd__V1__StartResetRequest req = AUTHD__V1__START_RESET_REQUEST__INIT;
    req.email = (char *)email;
    req.client_ip = SVC_IP;
    measure(f, "PasswordReset", &req.base, w);
}

static void
signup_work(struct svc_fx *f, const char *email, struct work *w)
{
    Authd__V1__StartSignupRequest req = AUTHD__V1__START_SIGNUP_REQUEST__INIT;
    req.email = (char *)email;
    req.client_ip = SVC_IP;
    measure(f, "Signup", &req.base, w);
}

/* Sets the user's inactive flag (Users.Update as admin). */
static void
deactivate(struct svc_fx *f, const char *id)
{
    Authd__V1__UpdateUserRequest req = AUTHD__V1__UPDATE_USER_REQUEST__INIT;
    Authd__V1__BoolValue off = AUTHD__V1__BOOL_VALUE__INIT;
    ProtobufCMessage *resp = NULL;
    off.value = 1;
    req.id = (char *)id;
    req.inactive = &off;
    assert_int_equal(svc_call(f, ROLE_ADMIN, "Users", "Update", &req.base, &resp, NULL), AUTHD_OK);
    rpc_msg_free(resp);
}

static void
test_reset_same_work_known_or_not(void **state)
{
    struct svc_fx *f = *state;
    struct work known, unknown, inactive;
    char id[64], off[64];

    svc_user_create(f, KNOWN, SVC_PASSWORD, id);
    svc_user_create(f, INACTIVE, SVC_PASSWORD, off);
    deactivate(f, off);
    /* First one of each, so every call below finds its throttle counters in place. */
    reset_work(f, KNOWN, &known);
    reset_work(f, UNKNOWN, &unknown);
    reset_work(f, INACTIVE, &inactive);

    reset_work(f, KNOWN, &known);
    reset_work(f, UNKNOWN, &unknown);
    reset_work(f, INACTIVE, &inactive);
    work_print("reset, known", &known);
    work_print("reset, unknown", &unknown);
    work_print("reset, inactive", &inactive);
    /* A link is one record under reset/: the others write one too. */
    size_t resets = 0;
    for (size_t i = 0; i < known.n_written; i++)
        resets += strncmp(known.written[i], "reset ", 6) == 0;
    assert_int_equal(resets, 1);
    assert_same_work(&known, &unknown);
    assert_same_work(&known, &inactive);
}

static void
test_signup_same_work_known_or_not(void **state)
{
    struct svc_fx *f = *state;
    struct work known, unknown;
    char id[64];

    svc_user_create(f, KNOWN, SVC_PASSWORD, id);
    signup_work(f, KNOWN, &known);
    signup_work(f, UNKNOWN, &unknown);

    signup_work(f, KNOWN, &known);
    signup_work(f, UNKNOWN, &unknown);
    work_print("signup, known", &known);
    work_print("signup, unknown", &unknown);
    size_t signups = 0;
    for (size_t i = 0; i < unknown.n_written; i++)
        signups += strncmp(unknown.written[i], "signup ", 7) == 0;
    assert_int_equal(signups, 1);
    assert_same_work(&known, &unknown);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reset_same_work_known_or_not, svc_fx_setup,
                                        svc_fx_teardown),
        cmocka_unit_test_setup_teardown(test_signup_same_work_known_or_not, svc_fx_setup,
                                        svc_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
