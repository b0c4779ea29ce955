/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for authd/sweeper.c against a real store with a controllable clock: expired
 * sessions (and their index entries), tokens and stale counters go; live ones stay.
 */
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

static void
test_sweep(void **state)
{
    (void)state;
    char dir[] = "/tmp/authd-sweep-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct store *st = NULL;
    struct store_opts o;
    store_opts_default(&o);
    o.sync = 0;
    assert_int_equal(store_open(dir, &o, &st, NULL, 0), AUTHD_OK);
    struct authd a;
    struct authd_settings s;
    authd_settings_default(&s);
    assert_int_equal(authd_init(&a, st, NULL, &s), AUTHD_OK);
    a.now = clock_fake;

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

    authd_cleanup(&a);
    store_close(st);
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int
main(void)
{
    log_init("test", LOG_ERROR);
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_sweep)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
