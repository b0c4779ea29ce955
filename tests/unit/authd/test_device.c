/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Remembered browsers (authd/device.c) on a real store with a fake clock: a device stands for
 * the second factor only for its own user, only before it expires, and is forgotten with the
 * events that end all of a user's sessions; labels say the browser and system, nothing more.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "authd/authd.h"
#include "authd/device.h"
#include "authd/keys.h"
#include "authd/session_store.h"
#include "common/err.h"

static int64_t fake_now = 1700000000;

static int64_t
clock_fake(void)
{
    return fake_now;
}

struct fixture {
    char dir[32];
    struct store *st;
    struct authd a;
};

static void
fixture_open(struct fixture *f)
{
    snprintf(f->dir, sizeof(f->dir), "/tmp/authd-dev-XXXXXX");
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

static int
count_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
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
    assert_int_equal(store_scan(st, prefix, strlen(prefix), NULL, 0, count_cb, &n), AUTHD_OK);
    return n;
}

/* twoFactor.rememberBrowserDays as if an operator had just put it (the store holds no config). */
static void
set_days(struct fixture *f, int days)
{
    Authd__V1__TwoFactorConfig tf = AUTHD__V1__TWO_FACTOR_CONFIG__INIT;
    Authd__V1__AuthConfig c = AUTHD__V1__AUTH_CONFIG__INIT;
    c.two_factor = &tf;
    tf.valid_past_tokens_count = 1;
    tf.remember_browser_days = days;
    authd_cfg_apply(&f->a, &c);
    f->a.refresh_ms = 60000; /* keep the applied copy */
    f->a.cfg_checked_ms = authd_mono_ms();
}

/* One committed transaction around device_remember. */
static void
remember(struct fixture *f, const char *user, int64_t ttl, struct token *tok)
{
    struct store_txn *txn = NULL;
    assert_int_equal(store_txn_begin(f->st, &txn), AUTHD_OK);
    assert_int_equal(
        device_remember(&f->a, txn, user, "Mozilla/5.0 (Android 14) Firefox/121.0", ttl, tok),
        AUTHD_OK);
    assert_int_equal(store_txn_commit(txn), AUTHD_OK);
    store_txn_free(txn);
}

/* device_check in a committed transaction: its *ok. */
static int
check(struct fixture *f, const char *token, const char *user)
{
    struct store_txn *txn = NULL;
    int ok = -1;
    assert_int_equal(store_txn_begin(f->st, &txn), AUTHD_OK);
    assert_int_equal(device_check(&f->a, txn, token, user, &ok), AUTHD_OK);
    assert_int_equal(store_txn_commit(txn), AUTHD_OK);
    store_txn_free(txn);
    return ok;
}

static void
test_labels(void **state)
{
    (void)state;
    char l[DEVICE_LABEL_MAX];
    static const char *const cases[][2] = {
        {"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/120.0.0.0 Safari/537.36",
         "Chrome on Linux"},
        {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
         "Edge on Windows"},
        {"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
         "like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
         "Safari on iOS"},
        {"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/120.0.0.0 Mobile Safari/537.36",
         "Chrome on Android"},
        {"Mozilla/5.0 (Macintosh; Intel Mac OS X 14.1; rv:121.0) Gecko/20100101 Firefox/121.0",
         "Firefox on macOS"},
        {"curl/8.4.0", "Unknown browser"},
        {"", "Unknown browser"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        device_label(cases[i][0], l, sizeof(l));
        assert_string_equal(l, cases[i][1]);
    }
    device_label(NULL, l, sizeof(l));
    assert_string_equal(l, "Unknown browser");
}

static void
test_ttl_follows_the_config(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f);
    assert_int_equal(device_ttl(&f.a), 0); /* off by default */
    Authd__V1__TwoFactorConfig tf = AUTHD__V1__TWO_FACTOR_CONFIG__INIT;
    Authd__V1__AuthConfig c = AUTHD__V1__AUTH_CONFIG__INIT;
    c.two_factor = &tf;
    tf.valid_past_tokens_count = 1;
    tf.remember_browser_days = 30;
    authd_cfg_apply(&f.a, &c);
    f.a.refresh_ms = 60000; /* keep the applied copy: the store holds no config */
    f.a.cfg_checked_ms = authd_mono_ms();
    assert_int_equal(device_ttl(&f.a), 30 * 86400);
    f.a.set.remember_ttl = 5; /* the test override */
    assert_int_equal(device_ttl(&f.a), 5);
    tf.remember_browser_days = 400; /* out of range: off */
    authd_cfg_apply(&f.a, &c);
    assert_int_equal(device_ttl(&f.a), 0);
    fixture_close(&f);
}

static void
test_only_the_same_user_before_expiry(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f);
    set_days(&f, 1); /* longer than the record's own 100 s */
    struct token tok;
    remember(&f, "u1", 100, &tok);
    assert_int_equal(count(f.st, KEY_DEVICE), 1);
    assert_int_equal(count(f.st, KEY_UDEV "u1/"), 1);
    assert_int_equal(check(&f, tok.text, "u1"), 1);
    assert_int_equal(check(&f, tok.text, "u2"), 0); /* another user's browser: nothing */
    assert_int_equal(check(&f, "", "u1"), 0);
    assert_int_equal(check(&f, NULL, "u1"), 0);
    assert_int_equal(check(&f, "not a token", "u1"), 0);
    /* The same id with another secret: the hash does not match. */
    struct token other;
    assert_int_equal(token_new(&other), AUTHD_OK);
    char forged[TOKEN_LEN + 1];
    memcpy(forged, other.text, sizeof(forged));
    memcpy(forged, tok.id, TOKEN_ID_LEN);
    assert_int_equal(check(&f, forged, "u1"), 0);
    fake_now += 99;
    assert_int_equal(check(&f, tok.text, "u1"), 1);
    fake_now += 1; /* expires_at reached */
    assert_int_equal(check(&f, tok.text, "u1"), 0);
    token_wipe(&tok);
    token_wipe(&other);
    fixture_close(&f);
}

/* A record is honoured for the days in force now, not only those it was made with: lowering
 * rememberBrowserDays ends older records, and turning it off and on again does not bring back
 * those older than the new days. The --remember-ttl override counts as the days. */
static void
test_lowered_days_end_older_records(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f);
    set_days(&f, 365);
    struct token tok, young;
    remember(&f, "u1", device_ttl(&f.a), &tok);
    fake_now += 8 * 86400;
    assert_int_equal(check(&f, tok.text, "u1"), 1);
    set_days(&f, 7); /* 8 days old: beyond the new 7 */
    assert_int_equal(check(&f, tok.text, "u1"), 0);
    set_days(&f, 0);
    assert_int_equal(check(&f, tok.text, "u1"), 0);
    set_days(&f, 30); /* 0 -> 30: only records younger than 30 days pass again */
    assert_int_equal(check(&f, tok.text, "u1"), 1);
    fake_now += 30 * 86400;
    assert_int_equal(check(&f, tok.text, "u1"), 0); /* 38 days old, its own 365 still ahead */
    set_days(&f, 365);
    assert_int_equal(check(&f, tok.text, "u1"), 1);

    /* The test override: a record lives --remember-ttl seconds, whatever the days. */
    f.a.set.remember_ttl = 10;
    remember(&f, "u1", device_ttl(&f.a), &young);
    assert_int_equal(check(&f, young.text, "u1"), 1);
    assert_int_equal(check(&f, tok.text, "u1"), 0); /* older than 10 s */
    fake_now += 9;
    assert_int_equal(check(&f, young.text, "u1"), 1);
    f.a.set.remember_ttl = 5; /* lowered: 9 s old is beyond it */
    assert_int_equal(check(&f, young.text, "u1"), 0);
    f.a.set.remember_ttl = 0;
    token_wipe(&tok);
    token_wipe(&young);
    fixture_close(&f);
}

static void
test_forget_one_all_and_with_the_sessions(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f);
    set_days(&f, 1);
    struct token t1, t2, t3;
    remember(&f, "u1", 1000, &t1);
    remember(&f, "u1", 1000, &t2);
    remember(&f, "u2", 1000, &t3);
    struct store_txn *txn = NULL;
    char owner[KEY_MAX];
    size_t n = 99;

    /* One, by its user only; another user's id is NOT_FOUND and stays. */
    assert_int_equal(store_txn_begin(f.st, &txn), AUTHD_OK);
    assert_int_equal(device_forget(txn, t3.id, "u1", owner), AUTHD_ERR_NOT_FOUND);
    assert_int_equal(device_forget(txn, t1.id, "u1", owner), AUTHD_OK);
    assert_string_equal(owner, "u1");
    assert_int_equal(device_forget(txn, "nope", NULL, NULL), AUTHD_ERR_NOT_FOUND);
    assert_int_equal(store_txn_commit(txn), AUTHD_OK);
    store_txn_free(txn);
    assert_int_equal(check(&f, t1.text, "u1"), 0);
    assert_int_equal(check(&f, t2.text, "u1"), 1);
    assert_int_equal(check(&f, t3.text, "u2"), 1);

    /* All of a user's, the index with them. */
    assert_int_equal(store_txn_begin(f.st, &txn), AUTHD_OK);
    assert_int_equal(device_forget_all(txn, "u1", &n), AUTHD_OK);
    assert_int_equal(store_txn_commit(txn), AUTHD_OK);
    store_txn_free(txn);
    assert_int_equal(n, 1);
    assert_int_equal(check(&f, t2.text, "u1"), 0);
    assert_int_equal(count(f.st, KEY_UDEV "u1/"), 0);
    assert_int_equal(count(f.st, KEY_DEVICE), 1);

    /* Ending all of a user's sessions (password change, reset, sign out everywhere...). */
    assert_int_equal(store_txn_begin(f.st, &txn), AUTHD_OK);
    assert_int_equal(account_sessions_end_all(&f.a, txn, "u2", NULL), AUTHD_OK);
    assert_int_equal(store_txn_commit(txn), AUTHD_OK);
    store_txn_free(txn);
    assert_int_equal(check(&f, t3.text, "u2"), 0);
    assert_int_equal(count(f.st, KEY_DEVICE), 0);
    assert_int_equal(count(f.st, KEY_UDEV), 0);
    token_wipe(&t1);
    token_wipe(&t2);
    token_wipe(&t3);
    fixture_close(&f);
}

/* device_forget_step, the one step of TwoFactor.ForgetDevice and Users.RevokeDevices. */
static int
forget(struct fixture *f, struct device_forget_req *req)
{
    struct store_txn *txn = NULL;
    assert_int_equal(store_txn_begin(f->st, &txn), AUTHD_OK);
    req->n = 99;
    snprintf(req->owner, sizeof(req->owner), "stale");
    int r = device_forget_step(&f->a, txn, req);
    assert_int_equal(store_txn_commit(txn), AUTHD_OK);
    store_txn_free(txn);
    return r;
}

static void
test_forget_step(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f);
    set_days(&f, 1);
    struct token t1, t2, t3;
    remember(&f, "u1", 1000, &t1);
    remember(&f, "u1", 1000, &t2);
    remember(&f, "u2", 1000, &t3);
    /* The user's own only: another's device is NOT_FOUND and stays. */
    struct device_forget_req q = {.user_id = "u1", .device_id = t3.id};
    assert_int_equal(forget(&f, &q), AUTHD_ERR_NOT_FOUND);
    assert_int_equal(q.n, 0);
    assert_int_equal(check(&f, t3.text, "u2"), 1);
    q.device_id = t1.id;
    assert_int_equal(forget(&f, &q), AUTHD_OK);
    assert_int_equal(q.n, 1);
    assert_string_equal(q.owner, "u1");
    assert_int_equal(check(&f, t1.text, "u1"), 0);
    /* Anyone's (the administrator's call): the owner comes back. */
    struct device_forget_req any = {.device_id = t3.id};
    assert_int_equal(forget(&f, &any), AUTHD_OK);
    assert_int_equal(any.n, 1);
    assert_string_equal(any.owner, "u2");
    /* All of a user's. */
    struct device_forget_req all = {.user_id = "u1"};
    assert_int_equal(forget(&f, &all), AUTHD_OK);
    assert_int_equal(all.n, 1);
    assert_string_equal(all.owner, "");
    assert_int_equal(check(&f, t2.text, "u1"), 0);
    assert_int_equal(count(f.st, KEY_DEVICE), 0);
    assert_int_equal(count(f.st, KEY_UDEV), 0);
    token_wipe(&t1);
    token_wipe(&t2);
    token_wipe(&t3);
    fixture_close(&f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_ttl_follows_the_config),
        cmocka_unit_test(test_only_the_same_user_before_expiry),
        cmocka_unit_test(test_lowered_days_end_older_records),
        cmocka_unit_test(test_forget_one_all_and_with_the_sessions),
        cmocka_unit_test(test_forget_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
