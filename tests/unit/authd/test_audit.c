/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Audit events: the line audit_emit writes is one logfmt line with exactly the expected keys,
 * whatever the values hold (spaces, quotes, newlines, "key=value" look-alikes), absent fields
 * are left out, and every event is counted in authd_audit_events_total{action,outcome}.
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

#include "authd/audit.h"
#include "common/log.h"
#include "common/metrics.h"

/* ---- stderr capture (log_event writes fd 2 with write(2)) ----------------------------------- */

static FILE *cap_file;
static int cap_saved = -1;

static void
capture_begin(void)
{
    fflush(stderr);
    cap_file = tmpfile();
    assert_non_null(cap_file);
    cap_saved = dup(STDERR_FILENO);
    assert_true(cap_saved >= 0);
    assert_true(dup2(fileno(cap_file), STDERR_FILENO) >= 0);
}

static size_t
capture_end(char *out, size_t cap)
{
    assert_true(dup2(cap_saved, STDERR_FILENO) >= 0);
    close(cap_saved);
    cap_saved = -1;
    rewind(cap_file);
    size_t n = fread(out, 1, cap - 1, cap_file);
    out[n] = '\0';
    fclose(cap_file);
    cap_file = NULL;
    return n;
}

/* ---- a strict logfmt parser ---------------------------------------------------------------- */

#define MAX_KV 24

struct kv {
    char key[32];
    char val[1024];
};

struct parsed {
    size_t n;
    struct kv kv[MAX_KV];
};

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/*
 * Parses one line (without its '\n') of key=value pairs separated by single spaces; values are
 * bare (no space, quote, '=' or backslash) or double-quoted with \" \\ \n \xHH escapes. Returns
 * 0, or -1 when the line is not well-formed or a key repeats.
 */
static int
logfmt_parse(const char *s, struct parsed *p)
{
    memset(p, 0, sizeof(*p));
    while (*s) {
        if (p->n == MAX_KV)
            return -1;
        struct kv *kv = &p->kv[p->n];
        size_t k = 0;
        while ((*s >= 'a' && *s <= 'z') || *s == '_') {
            if (k + 1 >= sizeof(kv->key))
                return -1;
            kv->key[k++] = *s++;
        }
        if (k == 0 || *s++ != '=')
            return -1;
        for (size_t i = 0; i < p->n; i++)
            if (strcmp(p->kv[i].key, kv->key) == 0)
                return -1;
        size_t v = 0;
        if (*s == '"') {
            s++;
            while (*s != '"') {
                char c = *s++;
                if (c == '\0' || (unsigned char)c < ' ')
                    return -1;
                if (c == '\\') {
                    char e = *s++;
                    if (e == '"' || e == '\\') {
                        c = e;
                    } else if (e == 'n') {
                        c = '\n';
                    } else if (e == 'x' && hexval(s[0]) >= 0 && hexval(s[1]) >= 0) {
                        c = (char)(hexval(s[0]) * 16 + hexval(s[1]));
                        s += 2;
                    } else {
                        return -1;
                    }
                }
                if (v + 1 >= sizeof(kv->val))
                    return -1;
                kv->val[v++] = c;
            }
            s++;
        } else {
            while (*s && *s != ' ') {
                if (*s == '"' || *s == '=' || *s == '\\' || (unsigned char)*s < ' ' ||
                    v + 1 >= sizeof(kv->val))
                    return -1;
                kv->val[v++] = *s++;
            }
            if (v == 0)
                return -1;
        }
        kv->val[v] = '\0';
        p->n++;
        if (*s == ' ')
            s++;
        else if (*s != '\0')
            return -1;
    }
    return 0;
}

static const char *
get(const struct parsed *p, const char *key)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->kv[i].key, key) == 0)
            return p->kv[i].val;
    return NULL;
}

/* Asserts that p has exactly the keys in the NULL-terminated list keys. */
static void
assert_keys(const struct parsed *p, const char *const *keys)
{
    size_t n = 0;
    for (; keys[n] != NULL; n++)
        assert_non_null(get(p, keys[n]));
    if (p->n != n) {
        for (size_t i = 0; i < p->n; i++)
            print_message("key %s=%s\n", p->kv[i].key, p->kv[i].val);
    }
    assert_int_equal(p->n, n);
}

/* Emits a and captures its single line (checked to be exactly one) into line, parsed into p. */
static void
emit_one(const struct audit *a, char *line, size_t cap, struct parsed *p)
{
    capture_begin();
    audit_emit(NULL, a);
    size_t n = capture_end(line, cap);
    assert_true(n > 0);
    assert_int_equal(line[n - 1], '\n');
    line[n - 1] = '\0';
    assert_null(strchr(line, '\n'));
    assert_null(strchr(line, '\r'));
    assert_int_equal(logfmt_parse(line, p), 0);
}

static int
setup(void **state)
{
    (void)state;
    log_init("authd", LOG_DEBUG);
    return 0;
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void
test_hostile_values_cannot_forge(void **state)
{
    (void)state;
    char line[8192];
    struct parsed p;
    const char *user = "alice bob";
    const char *client = "he said \"hi\" \\ back";
    const char *target = "user/x\nts=0 level=error prog=authd event=audit action=admin_change";
    const char *reason = "action=x";
    const char *ip = "1.2.3.4 outcome=success user=root\r\x01";
    struct audit a = {.action = AUDIT_LOGIN,
                      .outcome = AUDIT_FAILURE,
                      .user = user,
                      .client = client,
                      .ip = ip,
                      .reason = reason,
                      .target = target};
    emit_one(&a, line, sizeof(line), &p);
    static const char *const keys[] = {"ts",   "level",  "prog",   "event",  "action", "outcome",
                                       "user", "client", "target", "reason", "ip",     NULL};
    assert_keys(&p, keys);
    assert_string_equal(get(&p, "level"), "info");
    assert_string_equal(get(&p, "prog"), "authd");
    assert_string_equal(get(&p, "event"), "audit");
    assert_string_equal(get(&p, "action"), "login");
    assert_string_equal(get(&p, "outcome"), "failure");
    /* Every value comes back exactly as given: quoted, never cut into keys. */
    assert_string_equal(get(&p, "user"), user);
    assert_string_equal(get(&p, "client"), client);
    assert_string_equal(get(&p, "target"), target);
    assert_string_equal(get(&p, "reason"), reason);
    assert_string_equal(get(&p, "ip"), ip);
    /* The fields come in the documented order, action and outcome first. */
    assert_non_null(strstr(line, " event=audit action=login outcome=failure user="));
}

static void
test_absent_fields_are_left_out(void **state)
{
    (void)state;
    char line[4096];
    struct parsed p;
    struct audit a = {
        .action = AUDIT_TOKEN_REVOKED, .outcome = AUDIT_SUCCESS, .user = "u1", .client = ""};
    emit_one(&a, line, sizeof(line), &p);
    static const char *const keys[] = {"ts",     "level",   "prog", "event",
                                       "action", "outcome", "user", NULL};
    assert_keys(&p, keys);
    assert_string_equal(get(&p, "action"), "token_revoked");
    assert_string_equal(get(&p, "user"), "u1");
    /* No ctx: neither caller nor peer (the sweeper, tests). */
    assert_null(get(&p, "peer"));
    assert_null(get(&p, "caller"));
}

static void
test_levels(void **state)
{
    (void)state;
    char line[4096];
    struct parsed p;
    struct audit lock = {.action = AUDIT_LOCKOUT, .outcome = AUDIT_SUCCESS, .ip = "10.0.0.1"};
    emit_one(&lock, line, sizeof(line), &p);
    assert_string_equal(get(&p, "level"), "warn");
    struct audit denied = {.action = AUDIT_PERMISSION_DENIED, .outcome = AUDIT_DENIED};
    emit_one(&denied, line, sizeof(line), &p);
    assert_string_equal(get(&p, "level"), "warn");
    struct audit ok = {.action = AUDIT_TWOFACTOR_ENABLED, .outcome = AUDIT_SUCCESS};
    emit_one(&ok, line, sizeof(line), &p);
    assert_string_equal(get(&p, "level"), "info");
}

static void
test_long_value_is_cut_not_split(void **state)
{
    (void)state;
    char line[8192], big[3000];
    struct parsed p;
    for (size_t i = 0; i < sizeof(big) - 1; i++)
        big[i] = (i % 50 == 49) ? '\n' : (i % 7 == 0 ? ' ' : 'x');
    big[sizeof(big) - 1] = '\0';
    struct audit a = {.action = AUDIT_ADMIN_CHANGE,
                      .outcome = AUDIT_SUCCESS,
                      .target = big,
                      .reason = big,
                      .user = big,
                      .client = big,
                      .ip = big};
    emit_one(&a, line, sizeof(line), &p);
    assert_string_equal(get(&p, "action"), "admin_change");
    const char *t = get(&p, "target");
    assert_non_null(t);
    assert_true(strlen(t) < 300);
    assert_non_null(strstr(t, "..."));
}

static void
test_missing_action_emits_nothing(void **state)
{
    (void)state;
    char line[1024];
    struct audit a = {.outcome = AUDIT_SUCCESS, .user = "u"};
    capture_begin();
    audit_emit(NULL, &a);
    audit_emit(NULL, NULL);
    assert_int_equal(capture_end(line, sizeof(line)), 0);
}

static void
test_counted_in_metrics(void **state)
{
    (void)state;
    char line[4096];
    struct parsed p;
    struct audit a = {.action = AUDIT_SECOND_FACTOR, .outcome = AUDIT_FAILURE, .user = "u2"};
    emit_one(&a, line, sizeof(line), &p);
    emit_one(&a, line, sizeof(line), &p);
    struct audit b = {.action = AUDIT_RECOVERY_CODE_USED, .outcome = AUDIT_SUCCESS};
    emit_one(&b, line, sizeof(line), &p);
    size_t len = 0;
    char *out = metrics_render(&len);
    assert_non_null(out);
    if (strstr(out, "authd_audit_events_total{action=\"second_factor\",outcome=\"failure\"} 2\n") ==
        NULL)
        print_message("%s\n", out);
    assert_non_null(
        strstr(out, "authd_audit_events_total{action=\"second_factor\",outcome=\"failure\"} 2\n"));
    assert_non_null(strstr(
        out, "authd_audit_events_total{action=\"recovery_code_used\",outcome=\"success\"} 1\n"));
    assert_non_null(strstr(out, "# TYPE authd_audit_events_total counter\n"));
    free(out);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_hostile_values_cannot_forge, setup),
        cmocka_unit_test_setup(test_absent_fields_are_left_out, setup),
        cmocka_unit_test_setup(test_levels, setup),
        cmocka_unit_test_setup(test_long_value_is_cut_not_split, setup),
        cmocka_unit_test_setup(test_missing_action_emits_nothing, setup),
        cmocka_unit_test_setup(test_counted_in_metrics, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
