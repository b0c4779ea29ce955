/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for authd/sweeper.c and the key-space table it walks (authd/keys.h), against a
 * real store with a controllable clock: expired sessions (and their index entries), tokens and
 * stale counters go; live ones stay; every expiring prefix of the table is swept, and no prefix
 * overlaps another. Replicas: a record renewed between the scan and the delete is kept, and two
 * authd sweeping one store at once delete each record once, without errors.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "authd/account.h"
#include "authd/authd.h"
#include "common/err.h"
#include "authd/keys.h"
#include "storage/records.pb-c.h"
#include "common/log.h"
#include "authd/sweeper.h"
#include "authd/throttle.h"

static int64_t fake_now = 1700000000;

static int64_t
clock_fake(void)
{
    return fake_now;
}

static int
count_prefix_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
    (void)k;
    (void)kl;
    (void)v;
    (void)vl;
    (*(int *)arg)++;
    return 0;
}

static int
count(struct store *st, const char *prefix)
{
    int n = 0;
    assert_int_equal(store_scan(st, prefix, strlen(prefix), NULL, 0, count_prefix_cb, &n),
                     AUTHD_OK);
    return n;
}

struct fixture {
    char dir[32];
    struct store *st;
    struct authd a;
};

static void
fixture_open(struct fixture *f)
{
    snprintf(f->dir, sizeof(f->dir), "/tmp/authd-sweep-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    struct store_opts o;
    store_opts_default(&o);
    o.sync = 0;
    f->st = NULL;
    assert_int_equal(store_open(f->dir, &o, &f->st, NULL, 0), AUTHD_OK);
    struct authd_settings s;
    authd_settings_default(&s);
    assert_int_equal(authd_init(&f->a, f->st, NULL, &s), AUTHD_OK);
    f->a.now = clock_fake;
}

static void
fixture_close(struct fixture *f)
{
    authd_cleanup(&f->a);
    store_close(f->st);
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
}

static void
test_sweep(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f);
    struct store *st = f.st;
    struct authd a = f.a;

    Authd__V1__User user = AUTHD__V1__USER__INIT;
    user.id = "u1";
    struct token tok;
    static const char *const amr[] = {"pwd"};
    const struct session_spec short_ttl = {1, 10, amr, 1, 0};
    const struct session_spec long_ttl = {1, 100000, amr, 1, 0};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(
            account_session_create(&a, NULL, &user, "ip", "ua", &short_ttl, &tok, NULL), AUTHD_OK);
        token_wipe(&tok);
    }
    assert_int_equal(account_session_create(&a, NULL, &user, "ip", "ua", &long_ttl, &tok, NULL),
                     AUTHD_OK);
    Authd__Storage__OneTimeRecord ot = AUTHD__STORAGE__ONE_TIME_RECORD__INIT;
    ot.email = "x@example.com";
    assert_int_equal(account_onetime_create(&a, KEY_SIGNUP, &ot, 10, &tok), AUTHD_OK);
    token_wipe(&tok);
    assert_int_equal(account_onetime_create(&a, KEY_RESET, &ot, 100000, &tok), AUTHD_OK);
    token_wipe(&tok);
    assert_int_equal(throttle_fail(&a, THROTTLE_PASSWORD, THROTTLE_ACCOUNT, "old@example.com"),
                     AUTHD_OK);

    struct sweep_stats ss;
    assert_int_equal(sweeper_run_once(&a, &ss), AUTHD_OK);
    assert_int_equal(ss.sessions + ss.tokens + ss.counters, 0); /* nothing expired yet */

    fake_now += 11;
    assert_int_equal(throttle_fail(&a, THROTTLE_PASSWORD, THROTTLE_ACCOUNT, "new@example.com"),
                     AUTHD_OK);
    assert_int_equal(sweeper_run_once(&a, &ss), AUTHD_OK);
    assert_int_equal(ss.sessions, 3);
    assert_int_equal(ss.tokens, 1);
    assert_int_equal(ss.counters, 0);
    assert_int_equal(count(st, KEY_SESSION), 1);
    assert_int_equal(count(st, KEY_USESS), 1); /* index entries go with their sessions */
    assert_int_equal(count(st, KEY_SIGNUP), 0);
    assert_int_equal(count(st, KEY_RESET), 1);

    fake_now += 3600; /* the first counter's window has passed; the second one's too by now */
    assert_int_equal(sweeper_run_once(&a, &ss), AUTHD_OK);
    assert_int_equal(ss.counters, 2);
    assert_int_equal(count(st, "throttle/"), 0);
    assert_int_equal(ss.sessions, 0);

    fixture_close(&f);
}

/* No prefix is empty, repeated, or the start of another: a scan of one would see the other's
 * records (e.g. "rfam" would read "rfamily/..." keys). */
static void
test_key_space_prefixes_disjoint(void **state)
{
    (void)state;
    assert_true(key_space_len > 0);
    for (size_t i = 0; i < key_space_len; i++) {
        const char *p = key_space[i].prefix;
        assert_non_null(p);
        assert_true(strlen(p) > 0);
        for (size_t j = 0; j < key_space_len; j++) {
            if (i == j)
                continue;
            const char *q = key_space[j].prefix;
            if (strncmp(q, p, strlen(p)) == 0)
                fail_msg("prefix \"%s\" starts \"%s\"", p, q);
        }
    }
}

/* The row whose records an index row indexes, or NULL. */
static const struct key_prefix *
parent_of(const struct key_prefix *kp)
{
    for (size_t j = 0; kp->indexed_by != NULL && j < key_space_len; j++)
        if (strcmp(key_space[j].prefix, kp->indexed_by) == 0)
            return &key_space[j];
    return NULL;
}

/* Every row says what it holds: a record the sweeper can read its expiry from, or the row
 * whose records it indexes. */
static void
test_key_space_rows_complete(void **state)
{
    (void)state;
    for (size_t i = 0; i < key_space_len; i++) {
        const struct key_prefix *kp = &key_space[i];
        if (kp->sweep == KEY_WITH_RECORD) {
            if (parent_of(kp) == NULL)
                fail_msg("%s: indexes no row of the table", kp->prefix);
        } else {
            assert_null(kp->indexed_by);
        }
        if (kp->sweep == KEY_SWEEP_EXPIRES || kp->sweep == KEY_SWEEP_REFRESH ||
            kp->sweep == KEY_SWEEP_FAMILY) {
            assert_non_null(kp->record);
            const ProtobufCFieldDescriptor *fd =
                protobuf_c_message_descriptor_get_field_by_name(kp->record, "expires_at");
            if (fd == NULL || fd->type != PROTOBUF_C_TYPE_INT64)
                fail_msg("%s: %s has no int64 expires_at", kp->prefix, kp->record->name);
        }
    }
}

/* The user of the test sessions and the family of the test refresh tokens. */
#define OWNER "g1"

/* Packs a record of the row's kind that expires at (or, for a counter, last failed at) t. */
static void
put_record(struct store *st, const struct key_prefix *kp, const char *id, int64_t t)
{
    char key[KEY_MAX];
    snprintf(key, sizeof(key), "%s%s", kp->prefix, id);
    ProtobufCMessage *m = NULL;
    Authd__V1__Session sess = AUTHD__V1__SESSION__INIT;
    Authd__Storage__SessionRecord srec = AUTHD__STORAGE__SESSION_RECORD__INIT;
    Authd__Storage__ThrottleRecord trec = AUTHD__STORAGE__THROTTLE_RECORD__INIT;
    void *gen = NULL;
    switch (kp->sweep) {
    case KEY_SWEEP_SESSION:
        sess.id = (char *)id;
        sess.user_id = OWNER;
        sess.expires_at = t;
        srec.session = &sess;
        m = &srec.base;
        break;
    case KEY_SWEEP_COUNTER:
        trec.failures = 1;
        trec.last_failure = t;
        m = &trec.base;
        break;
    case KEY_SWEEP_EXPIRES:
    case KEY_SWEEP_REFRESH:
    case KEY_SWEEP_FAMILY: {
        gen = calloc(1, kp->record->sizeof_message);
        assert_non_null(gen);
        protobuf_c_message_init(kp->record, gen);
        const ProtobufCFieldDescriptor *fd =
            protobuf_c_message_descriptor_get_field_by_name(kp->record, "expires_at");
        assert_non_null(fd);
        memcpy((char *)gen + fd->offset, &t, sizeof(t));
        /* A refresh token names its family, whose rfam/ index entry goes with it. */
        fd = protobuf_c_message_descriptor_get_field_by_name(kp->record, "family");
        if (fd != NULL && fd->type == PROTOBUF_C_TYPE_STRING) {
            const char *fam = OWNER;
            memcpy((char *)gen + fd->offset, &fam, sizeof(fam));
        }
        /* A refresh family names its user, whose uoff/ index entry goes with it. */
        fd = protobuf_c_message_descriptor_get_field_by_name(kp->record, "user_id");
        if (kp->sweep == KEY_SWEEP_FAMILY && fd != NULL && fd->type == PROTOBUF_C_TYPE_STRING) {
            const char *user = OWNER;
            memcpy((char *)gen + fd->offset, &user, sizeof(user));
        }
        m = gen;
        break;
    }
    default:
        fail_msg("%s is not an expiring prefix", kp->prefix);
    }
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(n > 0 ? n : 1);
    assert_non_null(buf);
    protobuf_c_message_pack(m, buf);
    assert_int_equal(store_put(st, key, strlen(key), buf, n), AUTHD_OK);
    free(buf);
    free(gen);
}

/* For every expiring row of the table: an expired record goes, a live one stays, and so do
 * their index entries. Rows the sweeper must not touch keep what they hold, whatever it looks
 * like. */
static void
test_sweep_covers_every_expiring_prefix(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f);
    int64_t now = f.a.now();
    /* A counter is stale once no policy's window reaches it: two days is past every window. */
    int64_t long_ago = now - 2 * 86400;
    size_t expiring = 0;
    for (size_t i = 0; i < key_space_len; i++) {
        const struct key_prefix *kp = &key_space[i];
        if (key_sweep_expiring(kp->sweep)) {
            expiring++;
            int counter = kp->sweep == KEY_SWEEP_COUNTER;
            put_record(f.st, kp, "a-expired", counter ? long_ago : now - 1);
            put_record(f.st, kp, "b-live", counter ? now : now + 1000);
        } else if (kp->sweep == KEY_WITH_RECORD && key_sweep_expiring(parent_of(kp)->sweep)) {
            static const char *const ids[] = {OWNER "/a-expired", OWNER "/b-live"};
            for (size_t j = 0; j < 2; j++) {
                char key[KEY_MAX];
                snprintf(key, sizeof(key), "%s%s", kp->prefix, ids[j]);
                assert_int_equal(store_put(f.st, key, strlen(key), "", 0), AUTHD_OK);
            }
        } else {
            char key[KEY_MAX];
            snprintf(key, sizeof(key), "%s%s", kp->prefix, "kept");
            assert_int_equal(store_put(f.st, key, strlen(key), "", 0), AUTHD_OK);
        }
    }
    assert_true(expiring > 0);

    struct sweep_stats ss;
    assert_int_equal(sweeper_run_once(&f.a, &ss), AUTHD_OK);
    assert_int_equal(ss.sessions + ss.tokens + ss.counters, expiring);
    for (size_t i = 0; i < key_space_len; i++) {
        const struct key_prefix *kp = &key_space[i];
        char key[KEY_MAX];
        void *v = NULL;
        size_t vl = 0;
        if (count(f.st, kp->prefix) != 1)
            fail_msg("%s: %d records left, want 1", kp->prefix, count(f.st, kp->prefix));
        const char *live = "kept";
        if (key_sweep_expiring(kp->sweep))
            live = "b-live";
        else if (kp->sweep == KEY_WITH_RECORD && key_sweep_expiring(parent_of(kp)->sweep))
            live = OWNER "/b-live";
        snprintf(key, sizeof(key), "%s%s", kp->prefix, live);
        assert_int_equal(store_get(f.st, key, strlen(key), &v, &vl), AUTHD_OK);
        store_value_free(v, vl);
    }
    fixture_close(&f);
}

/* ---- several replicas sweeping one store ----------------------------------------------- */

static int renewed;

/* Plays another replica: a new failure on a counter the scan just found stale. */
static void
renew_counter(struct authd *a)
{
    if (renewed++ == 0)
        throttle_fail(a, THROTTLE_PASSWORD, THROTTLE_ACCOUNT, "renew@example.com");
}

static void
test_sweep_keeps_renewed_record(void **state)
{
    (void)state;
    struct fixture f;
    struct sweep_stats ss;
    fixture_open(&f);

    assert_int_equal(throttle_fail(&f.a, THROTTLE_PASSWORD, THROTTLE_ACCOUNT, "renew@example.com"),
                     AUTHD_OK);
    fake_now += 2 * throttle_widest_window(&f.a); /* stale: the scan finds it expired */
    renewed = 0;
    sweeper_between_hook = renew_counter;
    int r = sweeper_run_once(&f.a, &ss);
    sweeper_between_hook = NULL;
    assert_int_equal(r, AUTHD_OK);
    assert_true(renewed > 0);
    /* Judged again under its lock, the counter holds a fresh failure: kept. */
    assert_int_equal(ss.counters, 0);
    assert_int_equal(count(f.st, KEY_THROTTLE), 1);
    /* Stale again later: now it goes. */
    fake_now += 2 * throttle_widest_window(&f.a);
    assert_int_equal(sweeper_run_once(&f.a, &ss), AUTHD_OK);
    assert_int_equal(ss.counters, 1);
    assert_int_equal(count(f.st, KEY_THROTTLE), 0);
    fixture_close(&f);
}

struct sweep_thread {
    struct authd *a;
    struct sweep_stats ss;
    int r;
};

static void *
sweep_main(void *arg)
{
    struct sweep_thread *t = arg;
    t->r = sweeper_run_once(t->a, &t->ss);
    return NULL;
}

#define MANY_COUNTERS 700 /* more than one sweep batch */

static void
test_two_replicas_sweep_at_once(void **state)
{
    (void)state;
    struct fixture f;
    struct authd g;
    struct authd_settings s;
    char subject[64];
    pthread_t th[2];
    fixture_open(&f);
    authd_settings_default(&s);
    assert_int_equal(authd_init(&g, f.st, NULL, &s), AUTHD_OK);
    g.now = clock_fake;

    for (int i = 0; i < MANY_COUNTERS; i++) {
        snprintf(subject, sizeof(subject), "c%03d@example.com", i);
        assert_int_equal(throttle_fail(&f.a, THROTTLE_PASSWORD, THROTTLE_ACCOUNT, subject),
                         AUTHD_OK);
    }
    fake_now += 2 * throttle_widest_window(&f.a);
    struct sweep_thread t[2] = {{.a = &f.a}, {.a = &g}};
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, sweep_main, &t[i]), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    /* Both finish cleanly, and each record was deleted by exactly one of them. */
    assert_int_equal(t[0].r, AUTHD_OK);
    assert_int_equal(t[1].r, AUTHD_OK);
    assert_int_equal(t[0].ss.counters + t[1].ss.counters, MANY_COUNTERS);
    assert_int_equal(count(f.st, KEY_THROTTLE), 0);
    authd_cleanup(&g);
    fixture_close(&f);
}

int
main(void)
{
    log_init("test", LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sweep),
        cmocka_unit_test(test_key_space_prefixes_disjoint),
        cmocka_unit_test(test_key_space_rows_complete),
        cmocka_unit_test(test_sweep_covers_every_expiring_prefix),
        cmocka_unit_test(test_sweep_keeps_renewed_record),
        cmocka_unit_test(test_two_replicas_sweep_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
