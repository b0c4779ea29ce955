/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for authd/throttle.c: the back-off schedule, and counting, locking, expiry and reset
 * against a real store with a controllable clock; and for authd/guard.c, the judging sequence
 * (gate, failure, success) over those counters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "authd/authd.h"
#include "common/err.h"
#include "common/log.h"
#include "authd/guard.h"
#include "authd/throttle.h"

static int64_t fake_now = 1700000000;

static int64_t
clock_fake(void)
{
    return fake_now;
}

struct fixture {
    char dir[64];
    struct store *st;
    struct authd a;
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/authd-throttle-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    struct store_opts o;
    store_opts_default(&o);
    o.sync = 0;
    assert_int_equal(store_open(f->dir, &o, &f->st, NULL, 0), AUTHD_OK);
    struct authd_settings s;
    authd_settings_default(&s);
    assert_int_equal(authd_init(&f->a, f->st, NULL, &s), AUTHD_OK);
    f->a.now = clock_fake;
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    authd_cleanup(&f->a);
    store_close(f->st);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void
test_schedule(void **state)
{
    (void)state;
    struct throttle_policies all;
    throttle_policies_default(&all);
    const struct throttle_policy *p = &all.p[THROTTLE_PASSWORD][THROTTLE_ACCOUNT];
    assert_int_equal(p->free_failures, 5);
    for (uint32_t n = 0; n <= 5; n++)
        assert_int_equal(throttle_lock_for(p, n), 0);
    assert_int_equal(throttle_lock_for(p, 6), 1);
    assert_int_equal(throttle_lock_for(p, 7), 2);
    assert_int_equal(throttle_lock_for(p, 8), 4);
    assert_int_equal(throttle_lock_for(p, 15), 512);
    assert_int_equal(throttle_lock_for(p, 16), 900); /* capped */
    assert_int_equal(throttle_lock_for(p, UINT32_MAX), 900);
}

static void
test_lock_and_expiry(void **state)
{
    struct fixture *f = *state;
    int64_t wait = -1;
    const char *who = "alice@example.com";
    for (int i = 0; i < 5; i++) {
        assert_int_equal(throttle_fail(&f->a, THROTTLE_PASSWORD, THROTTLE_ACCOUNT, who), AUTHD_OK);
        assert_int_equal(throttle_check(&f->a, THROTTLE_PASSWORD, THROTTLE_ACCOUNT, who, &wait),
                         AUTHD_OK);
    }
    assert_int_equal(throttle_fail(&f->a, THROTTLE_PASSWORD, THROTTLE_ACCOUNT, who), AUTHD_OK);
    assert_int_equal(throttle_check(&f->a, THROTTLE_PASSWORD, THROTTLE_ACCOUNT, who, &wait),
                     AUTHD_ERR_LOCKED);
    assert_int_equal(wait, 1);
    /* Other subjects and the other subject type are independent. */
    assert_int_equal(
        throttle_check(&f->a, THROTTLE_PASSWORD, THROTTLE_ACCOUNT, "bob@example.com", &wait),
        AUTHD_OK);
    assert_int_equal(throttle_check(&f->a, THROTTLE_PASSWORD, THROTTLE_ADDRESS, who, &wait),
                     AUTHD_OK);
    fake_now += 1;
    assert_int_equal(throttle_check(&f->a, THROTTLE_PASSWORD, THROTTLE_ACCOUNT, who, &wait),
                     AUTHD_OK);
    /* The next failure doubles the lock. */
    assert_int_equal(throttle_fail(&f->a, THROTTLE_PASSWORD, THROTTLE_ACCOUNT, who), AUTHD_OK);
    assert_int_equal(throttle_check(&f->a, THROTTLE_PASSWORD, THROTTLE_ACCOUNT, who, &wait),
                     AUTHD_ERR_LOCKED);
    assert_int_equal(wait, 2);
    /* After a quiet window the count starts again. */
    fake_now += 3601;
    assert_int_equal(throttle_fail(&f->a, THROTTLE_PASSWORD, THROTTLE_ACCOUNT, who), AUTHD_OK);
    assert_int_equal(throttle_check(&f->a, THROTTLE_PASSWORD, THROTTLE_ACCOUNT, who, &wait),
                     AUTHD_OK);
}

static void
test_reset_and_bad_subjects(void **state)
{
    struct fixture *f = *state;
    int64_t wait = 0;
    const char *ip = "192.0.2.1";
    for (int i = 0; i < 21; i++)
        assert_int_equal(throttle_fail(&f->a, THROTTLE_PASSWORD, THROTTLE_ADDRESS, ip), AUTHD_OK);
    assert_int_equal(throttle_check(&f->a, THROTTLE_PASSWORD, THROTTLE_ADDRESS, ip, &wait),
                     AUTHD_ERR_LOCKED);
    assert_int_equal(throttle_reset(&f->a, THROTTLE_PASSWORD, THROTTLE_ADDRESS, ip), AUTHD_OK);
    assert_int_equal(throttle_check(&f->a, THROTTLE_PASSWORD, THROTTLE_ADDRESS, ip, &wait),
                     AUTHD_OK);
    assert_int_equal(throttle_reset(&f->a, THROTTLE_PASSWORD, THROTTLE_ADDRESS, "never-seen"),
                     AUTHD_OK);
    /* Empty or unkeyable subjects are never counted nor locked. */
    for (int i = 0; i < 30; i++) {
        assert_int_equal(throttle_fail(&f->a, THROTTLE_PASSWORD, THROTTLE_ACCOUNT, ""), AUTHD_OK);
        assert_int_equal(throttle_fail(&f->a, THROTTLE_PASSWORD, THROTTLE_ACCOUNT, NULL), AUTHD_OK);
        assert_int_equal(throttle_fail(&f->a, THROTTLE_PASSWORD, THROTTLE_ACCOUNT, "a/b"),
                         AUTHD_OK);
    }
    assert_int_equal(throttle_check(&f->a, THROTTLE_PASSWORD, THROTTLE_ACCOUNT, "", &wait),
                     AUTHD_OK);
    assert_int_equal(throttle_check(&f->a, THROTTLE_PASSWORD, THROTTLE_ACCOUNT, "a/b", &wait),
                     AUTHD_OK);
}

/* A guard for one password attempt on account from ip (no ctx: no message, no events). */
static struct guard
attempt(struct authd *a, const char *account, const char *ip)
{
    struct guard g = {.a = a,
                      .kind = THROTTLE_PASSWORD,
                      .account = account,
                      .refusal = "too many failed attempts",
                      .who = {.ip = ip}};
    return g;
}

/* Judges one attempt: a wrong secret when ok is 0. Returns guard_enter's answer. */
static int
judge(struct authd *a, const char *account, const char *ip, int ok, int64_t *retry_after)
{
    struct guard g = attempt(a, account, ip);
    int r = guard_enter(&g);
    if (r == AUTHD_OK) {
        if (ok)
            guard_pass(&g);
        else
            guard_fail(&g, "wrong_password");
    }
    *retry_after = g.retry_after;
    guard_leave(&g);
    guard_leave(&g); /* a second leave is a no-op (the stripe must not be unlocked twice) */
    return r;
}

static void
test_lock_refuses_before_judging(void **state)
{
    struct fixture *f = *state;
    int64_t wait = 0;
    /* The default policy: 5 free failures per account, then 1 s, 2 s... */
    for (int i = 0; i < 6; i++)
        assert_int_equal(judge(&f->a, "ann@example.com", "192.0.2.1", 0, &wait), AUTHD_OK);
    assert_int_equal(judge(&f->a, "ann@example.com", "192.0.2.1", 1, &wait), AUTHD_ERR_LOCKED);
    assert_int_equal(wait, 1);
    /* Refused attempts are not counted: after the lock, one more failure earns 2 s. */
    fake_now += 1;
    assert_int_equal(judge(&f->a, "ann@example.com", "192.0.2.1", 0, &wait), AUTHD_OK);
    assert_int_equal(judge(&f->a, "ann@example.com", "192.0.2.9", 1, &wait), AUTHD_ERR_LOCKED);
    assert_int_equal(wait, 2);
    /* Another account from the same address is not locked (20 free failures per address). */
    assert_int_equal(judge(&f->a, "bob@example.com", "192.0.2.1", 1, &wait), AUTHD_OK);
    fake_now += 2;
    /* A success forgets the account's failures: five more free ones. */
    assert_int_equal(judge(&f->a, "ann@example.com", "192.0.2.1", 1, &wait), AUTHD_OK);
    for (int i = 0; i < 5; i++)
        assert_int_equal(judge(&f->a, "ann@example.com", "192.0.2.1", 0, &wait), AUTHD_OK);
    assert_int_equal(judge(&f->a, "ann@example.com", "192.0.2.1", 1, &wait), AUTHD_OK);
    fake_now += 3600;
}

static void
test_address_counts_without_account(void **state)
{
    struct fixture *f = *state;
    int64_t wait = 0;
    /* An attempt without an account (an e-mail that cannot be one) counts against the address
     * only, and a success never resets the address. */
    for (int i = 0; i < 21; i++)
        assert_int_equal(judge(&f->a, "", "198.51.100.7", i % 2, &wait), AUTHD_OK);
    for (int i = 0; i < 10; i++)
        assert_int_equal(judge(&f->a, NULL, "198.51.100.7", 0, &wait), AUTHD_OK);
    assert_int_equal(judge(&f->a, "carol@example.com", "198.51.100.7", 1, &wait), AUTHD_ERR_LOCKED);
    assert_true(wait >= 1);
    /* The address's lock holds for every account; another address is free. */
    assert_int_equal(judge(&f->a, "carol@example.com", "198.51.100.8", 1, &wait), AUTHD_OK);
    fake_now += 3600;
}

/* Addresses are counted by IPv4 address, by IPv6 /64, and IPv4-mapped IPv6 as IPv4. */
static void
test_address_group(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"192.0.2.1", "192.0.2.1"},
        {"::ffff:192.0.2.1", "192.0.2.1"},
        {"::FFFF:c000:0201", "192.0.2.1"},
        {"2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::"},
        {"2001:db8:1:2::1", "2001:db8:1:2::"},
        {"2001:DB8:0001:0002:0:0:0:ffff", "2001:db8:1:2::"},
        {"2001:db8:1:3::1", "2001:db8:1:3::"},
        {"::1", "::"},
        {"fe80::1%eth0", "fe80::1%eth0"}, /* a zone: not an address inet_pton reads */
        {"unix", "unix"},
        {"", ""},
    };
    char buf[64];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_string_equal(throttle_address_group(cases[i][0], buf, sizeof(buf)), cases[i][1]);
}

/* Failures from many addresses of one IPv6 /64 are one address's: the 21st locks them all. */
static void
test_ipv6_counted_by_network(void **state)
{
    struct fixture *f = *state;
    int64_t wait = 0;
    char ip[64];
    for (int i = 0; i < 21; i++) {
        snprintf(ip, sizeof(ip), "2001:db8:5:6::%x", i + 1);
        assert_int_equal(judge(&f->a, "", ip, 0, &wait), AUTHD_OK);
    }
    assert_int_equal(judge(&f->a, "carol@example.com", "2001:db8:5:6:ffff::99", 1, &wait),
                     AUTHD_ERR_LOCKED);
    /* Another /64 is another address; IPv4 addresses stay one by one. */
    assert_int_equal(judge(&f->a, "carol@example.com", "2001:db8:5:7::1", 1, &wait), AUTHD_OK);
    for (int i = 0; i < 21; i++) {
        snprintf(ip, sizeof(ip), "198.51.100.%d", i + 1);
        assert_int_equal(judge(&f->a, "", ip, 0, &wait), AUTHD_OK);
    }
    assert_int_equal(judge(&f->a, "carol@example.com", "198.51.100.99", 1, &wait), AUTHD_OK);
    fake_now += 3600;
}

/* ---- policies from the AuthConfig ---- */

static void
test_policy_defaults(void **state)
{
    (void)state;
    struct throttle_policies p;
    char err[160] = "";
    /* No lockout block, and an empty one, both mean today's defaults. */
    Authd__V1__LockoutConfig empty = AUTHD__V1__LOCKOUT_CONFIG__INIT;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(throttle_policies_from_config(i ? &empty : NULL, &p, err, sizeof(err)),
                         AUTHD_OK);
        const struct throttle_policy *pw = &p.p[THROTTLE_PASSWORD][THROTTLE_ACCOUNT];
        assert_int_equal(pw->free_failures, 5);
        assert_int_equal(pw->base_lock, 1);
        assert_int_equal(pw->max_lock, 900);
        assert_int_equal(pw->window, 3600);
        assert_int_equal(p.p[THROTTLE_PASSWORD][THROTTLE_ADDRESS].free_failures, 20);
        assert_int_equal(p.p[THROTTLE_MAIL][THROTTLE_ACCOUNT].base_lock, 60);
        assert_int_equal(p.p[THROTTLE_MAIL][THROTTLE_ADDRESS].free_failures, 30);
        assert_int_equal(p.p[THROTTLE_DELIVERY][THROTTLE_ACCOUNT].base_lock, 30);
        assert_int_equal(p.p[THROTTLE_SECOND_FACTOR][THROTTLE_ACCOUNT].max_lock, 900);
    }
}

static void
test_policy_from_config(void **state)
{
    (void)state;
    struct throttle_policies p;
    char err[160] = "";
    Authd__V1__LockoutRule rule = AUTHD__V1__LOCKOUT_RULE__INIT;
    Authd__V1__LockoutPolicy pol = AUTHD__V1__LOCKOUT_POLICY__INIT;
    Authd__V1__LockoutConfig c = AUTHD__V1__LOCKOUT_CONFIG__INIT;
    /* Only the given fields change; the other subject and kinds keep their defaults. */
    rule.first_wait = 120;
    rule.free_failures = 3;
    pol.account = &rule;
    c.second_factor = &pol;
    assert_int_equal(throttle_policies_from_config(&c, &p, err, sizeof(err)), AUTHD_OK);
    const struct throttle_policy *sf = &p.p[THROTTLE_SECOND_FACTOR][THROTTLE_ACCOUNT];
    assert_int_equal(sf->free_failures, 3);
    assert_int_equal(sf->base_lock, 120);
    /* maxWait stays 900 and window 3600: the schedule 120, 240, 480, 900 */
    assert_int_equal(sf->max_lock, 900);
    assert_int_equal(sf->window, 3600);
    assert_int_equal(throttle_lock_for(sf, 3), 0);
    assert_int_equal(throttle_lock_for(sf, 4), 120);
    assert_int_equal(throttle_lock_for(sf, 6), 480);
    assert_int_equal(throttle_lock_for(sf, 7), 900);
    assert_int_equal(p.p[THROTTLE_SECOND_FACTOR][THROTTLE_ADDRESS].free_failures, 20);
    assert_int_equal(p.p[THROTTLE_PASSWORD][THROTTLE_ACCOUNT].base_lock, 1);
}

/* Expects c to be refused with a message that starts with want. */
static void
refused(const Authd__V1__LockoutConfig *c, const char *want)
{
    struct throttle_policies p;
    char err[160] = "";
    assert_int_equal(throttle_policies_from_config(c, &p, err, sizeof(err)),
                     AUTHD_ERR_INVALID_ARGUMENT);
    if (strncmp(err, want, strlen(want)) != 0)
        fail_msg("error \"%s\" does not start with \"%s\"", err, want);
    /* out is left at the defaults, never half-applied */
    assert_int_equal(p.p[THROTTLE_PASSWORD][THROTTLE_ACCOUNT].base_lock, 1);
    assert_int_equal(p.p[THROTTLE_MAIL][THROTTLE_ADDRESS].window, 3600);
}

static void
test_policy_validation(void **state)
{
    (void)state;
    Authd__V1__LockoutRule rule = AUTHD__V1__LOCKOUT_RULE__INIT;
    Authd__V1__LockoutPolicy pol = AUTHD__V1__LOCKOUT_POLICY__INIT;
    Authd__V1__LockoutConfig c = AUTHD__V1__LOCKOUT_CONFIG__INIT;
    pol.address = &rule;
    c.mail = &pol;
    rule.window = -1;
    refused(&c, "lockout.mail.address.window must be 1..2592000 seconds");
    rule.window = 31LL * 86400;
    refused(&c, "lockout.mail.address.window must be 1..2592000 seconds");
    rule.window = 0;
    rule.free_failures = 1001;
    refused(&c, "lockout.mail.address.freeFailures must be 1..1000");
    rule.free_failures = 0;
    rule.first_wait = 86401;
    refused(&c, "lockout.mail.address.firstWait must be 1..86400");
    /* A maximum below the first wait (the mail default first wait is 60 s) */
    rule.first_wait = 0;
    rule.max_wait = 30;
    refused(&c, "lockout.mail.address.maxWait must be at least firstWait");
    /* A window shorter than the longest lock would forget the failures that earned it. */
    rule.max_wait = 0;
    rule.window = 600;
    refused(&c, "lockout.mail.address.window must be at least maxWait");
    /* The same rule with a matching maximum is fine. */
    rule.max_wait = 600;
    struct throttle_policies p;
    char err[160] = "";
    assert_int_equal(throttle_policies_from_config(&c, &p, err, sizeof(err)), AUTHD_OK);
    assert_int_equal(p.p[THROTTLE_MAIL][THROTTLE_ADDRESS].window, 600);
}

/* The cached AuthConfig drives the counters: a config put through authd_cfg_apply is what the
 * next failure is judged by. */
static void
test_policy_applied(void **state)
{
    struct fixture *f = *state;
    Authd__V1__LockoutRule rule = AUTHD__V1__LOCKOUT_RULE__INIT;
    Authd__V1__LockoutPolicy pol = AUTHD__V1__LOCKOUT_POLICY__INIT;
    Authd__V1__LockoutConfig lc = AUTHD__V1__LOCKOUT_CONFIG__INIT;
    Authd__V1__AuthConfig c = AUTHD__V1__AUTH_CONFIG__INIT;
    rule.free_failures = 2;
    rule.first_wait = 300;
    pol.account = &rule;
    lc.password = &pol;
    c.lockout = &lc;
    authd_cfg_apply(&f->a, &c);
    const char *who = "dora@example.com";
    int64_t wait = 0;
    for (int i = 0; i < 2; i++)
        assert_int_equal(throttle_fail(&f->a, THROTTLE_PASSWORD, THROTTLE_ACCOUNT, who), AUTHD_OK);
    assert_int_equal(throttle_check(&f->a, THROTTLE_PASSWORD, THROTTLE_ACCOUNT, who, &wait),
                     AUTHD_OK);
    assert_int_equal(throttle_fail(&f->a, THROTTLE_PASSWORD, THROTTLE_ACCOUNT, who), AUTHD_OK);
    assert_int_equal(throttle_check(&f->a, THROTTLE_PASSWORD, THROTTLE_ACCOUNT, who, &wait),
                     AUTHD_ERR_LOCKED);
    assert_int_equal(wait, 300);
    /* Back to the defaults (no lockout block): the next failures follow them again. */
    authd_cfg_apply(&f->a, NULL);
    struct throttle_policy p;
    throttle_policy(&f->a, THROTTLE_PASSWORD, THROTTLE_ACCOUNT, &p);
    assert_int_equal(p.base_lock, 1);
    assert_int_equal(throttle_widest_window(&f->a), 3600);
    fake_now += 3600;
}

int
main(void)
{
    log_init("test", LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schedule),
        cmocka_unit_test(test_policy_defaults),
        cmocka_unit_test(test_policy_from_config),
        cmocka_unit_test(test_policy_validation),
        cmocka_unit_test_setup_teardown(test_policy_applied, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_and_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset_and_bad_subjects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_refuses_before_judging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_address_counts_without_account, setup, teardown),
        cmocka_unit_test(test_address_group),
        cmocka_unit_test_setup_teardown(test_ipv6_counted_by_network, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
