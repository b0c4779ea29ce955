/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for common/metrics.c: counter, gauge and histogram values; the exact text of a
 * small registry; label escaping; increments from several threads that all count; malformed
 * names and label lists refused; and the bound on the number of series.
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

#include "common/metrics.h"

/* The value on the sample line that starts with series (e.g. a{b="c"}), or -1 when absent. */
static double
sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *line = text; line != NULL && *line != '\0';) {
        if (strncmp(line, series, n) == 0 && line[n] == ' ')
            return strtod(line + n + 1, NULL);
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    return -1;
}

static char *
render(void)
{
    size_t len = 0;
    char *t = metrics_render(&len);
    assert_non_null(t);
    assert_int_equal(strlen(t), len);
    return t;
}

static int
setup(void **state)
{
    (void)state;
    metrics_reset();
    return 0;
}

static void
test_exact_text(void **state)
{
    (void)state;
    metrics_describe("t_requests_total", METRICS_COUNTER, "Requests.");
    metrics_describe("t_temp", METRICS_GAUGE, "A gauge.\nSecond \\ line.");
    metrics_describe("t_lat_seconds", METRICS_HISTOGRAM, "Latency.");
    metrics_describe("t_unused_total", METRICS_COUNTER, "Never used: not shown.");
    metrics_count("t_requests_total", "code=\"OK\"", 2);
    metrics_count("t_requests_total", "code=\"NOT_FOUND\"", 1);
    metrics_count("t_requests_total", "code=\"OK\"", 3);
    metrics_set("t_temp", NULL, 0.25);
    metrics_observe("t_lat_seconds", "m=\"a\"", 0.001); /* on a bound: counts in le="0.001" */
    metrics_observe("t_lat_seconds", "m=\"a\"", 0.3);
    metrics_observe("t_lat_seconds", "m=\"a\"", 100);
    metrics_count("t_plain", "", 7); /* undescribed */

    char *t = render();
    const char *want =
        "# HELP t_requests_total Requests.\n"
        "# TYPE t_requests_total counter\n"
        "t_requests_total{code=\"OK\"} 5\n"
        "t_requests_total{code=\"NOT_FOUND\"} 1\n"
        "# HELP t_temp A gauge.\\nSecond \\\\ line.\n"
        "# TYPE t_temp gauge\n"
        "t_temp 0.25\n"
        "# HELP t_lat_seconds Latency.\n"
        "# TYPE t_lat_seconds histogram\n"
        "t_lat_seconds_bucket{m=\"a\",le=\"0.0005\"} 0\n"
        "t_lat_seconds_bucket{m=\"a\",le=\"0.001\"} 1\n"
        "t_lat_seconds_bucket{m=\"a\",le=\"0.0025\"} 1\n"
        "t_lat_seconds_bucket{m=\"a\",le=\"0.005\"} 1\n"
        "t_lat_seconds_bucket{m=\"a\",le=\"0.01\"} 1\n"
        "t_lat_seconds_bucket{m=\"a\",le=\"0.025\"} 1\n"
        "t_lat_seconds_bucket{m=\"a\",le=\"0.05\"} 1\n"
        "t_lat_seconds_bucket{m=\"a\",le=\"0.1\"} 1\n"
        "t_lat_seconds_bucket{m=\"a\",le=\"0.25\"} 1\n"
        "t_lat_seconds_bucket{m=\"a\",le=\"0.5\"} 2\n"
        "t_lat_seconds_bucket{m=\"a\",le=\"1\"} 2\n"
        "t_lat_seconds_bucket{m=\"a\",le=\"2.5\"} 2\n"
        "t_lat_seconds_bucket{m=\"a\",le=\"5\"} 2\n"
        "t_lat_seconds_bucket{m=\"a\",le=\"10\"} 2\n"
        "t_lat_seconds_bucket{m=\"a\",le=\"+Inf\"} 3\n"
        "t_lat_seconds_sum{m=\"a\"} 100.301\n"
        "t_lat_seconds_count{m=\"a\"} 3\n"
        "# TYPE t_plain untyped\n"
        "t_plain 7\n"
        "# HELP metrics_dropped_series_total Series not recorded because the registry was full.\n"
        "# TYPE metrics_dropped_series_total counter\n"
        "metrics_dropped_series_total 0\n";
    assert_string_equal(t, want);
    free(t);
}

static void
test_gauge_and_zero_count(void **state)
{
    (void)state;
    metrics_describe("t_g", METRICS_GAUGE, "g");
    metrics_set("t_g", NULL, 3);
    metrics_set("t_g", NULL, -1.5);
    metrics_count("t_zero_total", NULL, 0);      /* creates the series at 0 */
    metrics_observe("t_h_seconds", NULL, 0.002); /* undescribed histogram is still one */
    char *t = render();
    assert_true(sample(t, "t_g") == -1.5);
    assert_true(sample(t, "t_zero_total") == 0);
    assert_non_null(strstr(t, "# TYPE t_h_seconds histogram\n"));
    assert_true(sample(t, "t_h_seconds_bucket{le=\"0.0025\"}") == 1);
    assert_true(sample(t, "t_h_seconds_bucket{le=\"0.001\"}") == 0);
    assert_true(sample(t, "t_h_seconds_count") == 1);
    free(t);
}

static void
test_labels_escaping(void **state)
{
    (void)state;
    char b[256];
    assert_string_equal(metrics_labels(b, sizeof b, "method", "Login", "code", "OK", NULL),
                        "method=\"Login\",code=\"OK\"");
    assert_string_equal(metrics_labels(b, sizeof b, "v", "a\"b\\c\nd", NULL),
                        "v=\"a\\\"b\\\\c\\nd\"");
    /* Control and non-ASCII bytes are replaced, so no value can break the exposition. */
    assert_string_equal(metrics_labels(b, sizeof b, "v", "x\r\t\x01\xc3\xa9y", NULL),
                        "v=\"x_____y\"");
    assert_string_equal(metrics_labels(b, sizeof b, NULL), "");
    /* A pair that does not fit is left out whole, never cut. */
    char small[20];
    assert_string_equal(metrics_labels(small, sizeof small, "a", "1", "b", "0123456789", NULL),
                        "a=\"1\"");
    /* A bad key stops the list. */
    assert_string_equal(metrics_labels(b, sizeof b, "ok", "1", "bad key", "2", NULL), "ok=\"1\"");

    metrics_count("t_esc_total", metrics_labels(b, sizeof b, "v", "q\"\n", NULL), 1);
    char *t = render();
    assert_true(sample(t, "t_esc_total{v=\"q\\\"\\n\"}") == 1);
    free(t);
}

static void
test_malformed_refused(void **state)
{
    (void)state;
    metrics_count("bad name", NULL, 1);
    metrics_count("9starts_with_digit", NULL, 1);
    metrics_count("t_ok_total", "v=\"unterminated", 1);
    metrics_count("t_ok_total", "v=\"a\"\n# forged 1", 1);
    metrics_count("t_ok_total", "v=\"bad \\x escape\"", 1);
    metrics_count("t_ok_total", "noquotes=1", 1);
    metrics_count("t_ok_total", "v=\"a\",", 1);
    metrics_count("t_ok_total", "v=\"fine\"", 1);
    /* One name cannot hold both kinds of samples. */
    metrics_describe("t_hist_seconds", METRICS_HISTOGRAM, "h");
    metrics_count("t_hist_seconds", NULL, 1);
    metrics_observe("t_ok_total", "v=\"fine\"", 1);
    char *t = render();
    assert_null(strstr(t, "bad name"));
    assert_null(strstr(t, "9starts"));
    assert_null(strstr(t, "forged"));
    assert_null(strstr(t, "t_hist_seconds"));
    assert_null(strstr(t, "t_ok_total_bucket"));
    assert_true(sample(t, "t_ok_total{v=\"fine\"}") == 1);
    /* Exactly one t_ok_total sample. */
    const char *p = strstr(t, "\nt_ok_total");
    assert_non_null(p);
    assert_null(strstr(p + 1, "\nt_ok_total"));
    free(t);
}

#define N_THREADS 8
#define N_ITER 20000

static void *
hammer(void *arg)
{
    long id = (long)(intptr_t)arg;
    char l[64];
    char own[32];
    snprintf(own, sizeof own, "%ld", id);
    for (int i = 0; i < N_ITER; i++) {
        metrics_count("t_shared_total", "k=\"same\"", 1);
        metrics_count("t_own_total", metrics_labels(l, sizeof l, "t", own, NULL), 2);
        metrics_observe("t_shared_seconds", NULL, 0.5);
    }
    return NULL;
}

static void
test_concurrent(void **state)
{
    (void)state;
    metrics_describe("t_shared_seconds", METRICS_HISTOGRAM, "h");
    pthread_t th[N_THREADS];
    for (long i = 0; i < N_THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, hammer, (void *)(intptr_t)i), 0);
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(th[i], NULL);
    char *t = render();
    assert_true(sample(t, "t_shared_total{k=\"same\"}") == (double)N_THREADS * N_ITER);
    for (int i = 0; i < N_THREADS; i++) {
        char s[64];
        snprintf(s, sizeof s, "t_own_total{t=\"%d\"}", i);
        assert_true(sample(t, s) == 2.0 * N_ITER);
    }
    assert_true(sample(t, "t_shared_seconds_count") == (double)N_THREADS * N_ITER);
    assert_true(sample(t, "t_shared_seconds_sum") == 0.5 * N_THREADS * N_ITER);
    assert_true(sample(t, "t_shared_seconds_bucket{le=\"0.25\"}") == 0);
    assert_true(sample(t, "t_shared_seconds_bucket{le=\"0.5\"}") == (double)N_THREADS * N_ITER);
    free(t);
}

static void
test_series_bound(void **state)
{
    (void)state;
    char l[64], v[16];
    for (int i = 0; i < 5000; i++) {
        snprintf(v, sizeof v, "%d", i);
        metrics_count("t_many_total", metrics_labels(l, sizeof l, "i", v, NULL), 1);
    }
    /* Adding to a series that exists still works; a new one is still dropped. */
    metrics_count("t_many_total", "i=\"0\"", 1);
    metrics_count("t_other_total", NULL, 1);
    char *t = render();
    assert_true(sample(t, "t_many_total{i=\"0\"}") == 2);
    assert_true(sample(t, "t_many_total{i=\"4095\"}") == 1);
    assert_true(sample(t, "t_many_total{i=\"4096\"}") == -1);
    assert_true(sample(t, "t_other_total") == -1);
    assert_true(sample(t, "metrics_dropped_series_total") == 5000 - 4096 + 1);
    free(t);
    metrics_reset();
    t = render();
    assert_true(sample(t, "metrics_dropped_series_total") == 0);
    assert_null(strstr(t, "t_many_total"));
    free(t);
}

static void
test_now_monotonic(void **state)
{
    (void)state;
    uint64_t a = metrics_now_ns();
    uint64_t b = metrics_now_ns();
    assert_true(a > 0);
    assert_true(b >= a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_exact_text, setup),
        cmocka_unit_test_setup(test_gauge_and_zero_count, setup),
        cmocka_unit_test_setup(test_labels_escaping, setup),
        cmocka_unit_test_setup(test_malformed_refused, setup),
        cmocka_unit_test_setup(test_concurrent, setup),
        cmocka_unit_test_setup(test_series_bound, setup),
        cmocka_unit_test_setup(test_now_monotonic, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
