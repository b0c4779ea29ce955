/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for common/log.c: log_quote() must turn any bytes into one logfmt value that can
 * neither break the line nor forge a key, stay within its capacity and not cut values that fit;
 * log_event() must write exactly one well-formed line on stderr, and only at enabled levels.
 */
#define _GNU_SOURCE /* timegm */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/secret.h"

#define CANARY 0xa5
#define GUARD 16

/* The logfmt value s should become when there is room: an independent statement of the rules. */
static void
quote_ref(const char *s, char *out, size_t cap)
{
    size_t o = 0;
    int bare = s[0] != '\0' && strpbrk(s, " \"=\\") == NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p && bare; p++)
        if (*p < 0x20 || *p >= 0x7f)
            bare = 0;
    if (bare) {
        assert_true(strlen(s) < cap);
        strcpy(out, s);
        return;
    }
    out[o++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        assert_true(o + 6 < cap);
        if (*p == '"' || *p == '\\') {
            out[o++] = '\\';
            out[o++] = (char)*p;
        } else if (*p == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else if (*p < 0x20 || *p == 0x7f) {
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", *p);
        } else {
            out[o++] = (char)*p;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
}

/*
 * Checks that out is one safe logfmt value: no control byte (so no raw newline), and either
 * bare (no space, quote, '=' or backslash) or quoted with every inner quote escaped. Writes the
 * value it denotes into dec (capacity cap).
 */
static void
check_safe_value(const char *out, char *dec, size_t cap)
{
    size_t len = strlen(out), d = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)out[i];
        assert_true(c >= 0x20 && c != 0x7f);
    }
    if (len == 0 || out[0] != '"') {
        assert_null(strpbrk(out, " \"=\\"));
        assert_true(len < cap);
        strcpy(dec, out);
        return;
    }
    assert_true(len >= 2);
    assert_int_equal(out[len - 1], '"');
    for (size_t i = 1; i < len - 1; i++) {
        assert_true(d + 1 < cap);
        assert_int_not_equal(out[i], '"'); /* an unescaped quote would end the value */
        if (out[i] != '\\') {
            dec[d++] = out[i];
            continue;
        }
        i++;
        assert_true(i < len - 1); /* the closing quote is not escaped */
        if (out[i] == '"' || out[i] == '\\') {
            dec[d++] = out[i];
        } else if (out[i] == 'n') {
            dec[d++] = '\n';
        } else {
            assert_int_equal(out[i], 'x');
            assert_true(i + 2 < len - 1);
            char hex[3] = {out[i + 1], out[i + 2], '\0'};
            assert_int_equal(strspn(hex, "0123456789abcdef"), 2);
            dec[d++] = (char)strtol(hex, NULL, 16);
            i += 2;
        }
    }
    dec[d] = '\0';
}

/* Quotes s at capacity cap into a heap block with a guard zone, and checks the result. */
static void
check_quote_cap(const char *s, size_t cap)
{
    char ref[1024], dec[1024];
    unsigned char *out = malloc(cap + GUARD);
    assert_non_null(out);
    memset(out, CANARY, cap + GUARD);
    const char *r = log_quote(s, (char *)out, cap);
    assert_ptr_equal(r, out);
    for (size_t i = cap; i < cap + GUARD; i++)
        assert_int_equal(out[i], CANARY);
    if (cap == 0)
        goto out;
    assert_non_null(memchr(out, '\0', cap));
    if (cap < 8) {
        assert_int_equal(out[0], '\0');
        goto out;
    }
    if (s == NULL)
        s = "";
    quote_ref(s, ref, sizeof(ref));
    if (strlen(ref) < cap) {
        /* it fits: written whole, never cut */
        assert_string_equal((char *)out, ref);
        goto out;
    }
    /* cut: still a safe value, ending in "...", denoting a prefix of s */
    check_safe_value((char *)out, dec, sizeof(dec));
    size_t dl = strlen(dec);
    assert_true(dl >= 3);
    assert_string_equal(dec + dl - 3, "...");
    assert_memory_equal(dec, s, dl - 3);
    assert_true(strlen((char *)out) < strlen(ref));
out:
    free(out);
}

static void
check_quote(const char *s, const char *want)
{
    char out[256], dec[256];
    assert_string_equal(log_quote(s, out, sizeof(out)), want);
    check_safe_value(out, dec, sizeof(dec));
    assert_string_equal(dec, s == NULL ? "" : s);
}

static void
test_quote_bare(void **state)
{
    (void)state;
    check_quote("abc", "abc");
    check_quote("user@example.com", "user@example.com");
    check_quote("a-b_c.d/e:f,g;h?i&j%k+l#m", "a-b_c.d/e:f,g;h?i&j%k+l#m");
    check_quote("3fa85f64-5717-4562-b3fc-2c963f66afa6", "3fa85f64-5717-4562-b3fc-2c963f66afa6");
}

static void
test_quote_escapes(void **state)
{
    (void)state;
    check_quote("", "\"\"");
    check_quote(NULL, "\"\"");
    check_quote("a b", "\"a b\"");
    check_quote("a=b", "\"a=b\"");
    check_quote("a\"b", "\"a\\\"b\"");
    check_quote("\"", "\"\\\"\"");
    check_quote("a\\b", "\"a\\\\b\"");
    check_quote("\\", "\"\\\\\"");
    check_quote("a\nb", "\"a\\nb\"");
    check_quote("\x01", "\"\\x01\"");
    check_quote("\t", "\"\\x09\"");
    check_quote("a\r\nb", "\"a\\x0d\\nb\"");
    check_quote("\x1b[31mred", "\"\\x1b[31mred\"");
    check_quote("\x7f", "\"\\x7f\"");
    check_quote("\x1f", "\"\\x1f\"");
    /* non-ASCII is quoted but its bytes are kept */
    check_quote("caf\xc3\xa9", "\"caf\xc3\xa9\"");
    /* a value that tries to forge keys and a second line */
    check_quote("x level=error event=forged\nts=0 level=error",
                "\"x level=error event=forged\\nts=0 level=error\"");
    check_quote("\\\"", "\"\\\\\\\"\"");
}

static void
test_quote_every_byte(void **state)
{
    (void)state;
    for (unsigned c = 1; c < 256; c++) {
        char s[4] = {'a', (char)c, 'b', '\0'};
        char out[32], dec[32];
        log_quote(s, out, sizeof(out));
        check_safe_value(out, dec, sizeof(dec));
        assert_string_equal(dec, s);
    }
}

static void
test_quote_truncation(void **state)
{
    (void)state;
    char out[64];
    assert_string_equal(log_quote("abcdefghij", out, 8), "abc...");
    assert_string_equal(log_quote("a b c d e f", out, 8), "\"a ...\"");
    assert_string_equal(log_quote("\n\n\n\n\n\n", out, 10), "\"\\n\\n...\"");
    /* an escape is never split by the cut */
    assert_string_equal(log_quote("\x01\x01\x01", out, 11), "\"\\x01...\"");
    assert_string_equal(log_quote("\x01\x01\x01", out, 12), "\"\\x01...\"");
    assert_string_equal(log_quote("\x01\x01\x01", out, 14), "\"\\x01\\x01...\"");
    assert_string_equal(log_quote("\"\"\"\"", out, 8), "\"\\\"...\"");

    /* every capacity around the length of a bare and a quoted value */
    static const char *vals[] = {
        "abcdefghijklmnopqrstuvwxyz",
        "a b c d e f g h i j",
        "\"\\\n\x01\x7f\"\\\n\x01\x7f",
        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9 x",
        "",
        NULL,
        "x",
        "abcdefg",
        "abcdefgh",
        "a b",
    };
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
        for (size_t cap = 0; cap < 80; cap++)
            check_quote_cap(vals[i], cap);
}

/* Regression: log_quote cut values that fitted (cap 8 turned "abcde" into "abc..."), as it
 * reserved room for "..." even when no cut was needed. */
static void
test_quote_no_cut_when_fits(void **state)
{
    (void)state;
    char out[64];
    assert_string_equal(log_quote("abcde", out, 8), "abcde");
    assert_string_equal(log_quote("abcdefg", out, 8), "abcdefg");
    assert_string_equal(log_quote("abcdefgh", out, 8), "abc...");
    assert_string_equal(log_quote("a b", out, 8), "\"a b\"");
    assert_string_equal(log_quote("a b c", out, 8), "\"a b c\"");
    assert_string_equal(log_quote("a b cd", out, 8), "\"a ...\"");
    assert_string_equal(log_quote("\x01\x01\x01", out, 15), "\"\\x01\\x01\\x01\"");
    char email[96], q[96];
    memset(email, 'e', sizeof(email));
    memcpy(email + 80, "@example.com", 13); /* 92 characters */
    assert_string_equal(log_quote(email, q, sizeof(q)), email);
}

static void
test_quote_random(void **state)
{
    (void)state;
    static const char pool[] = "abcXYZ019 =\"\\\n\r\t\x01\x1f\x7f\x80\xc3\xa9\xff-_.";
    char s[64];
    uint8_t rnd[64];
    for (int round = 0; round < 3000; round++) {
        assert_int_equal(secret_random(rnd, sizeof(rnd)), 0);
        size_t n = rnd[0] % 60;
        for (size_t i = 0; i < n; i++)
            s[i] = pool[rnd[i + 1] % (sizeof(pool) - 1)];
        s[n] = '\0';
        check_quote_cap(s, rnd[63] % 100);
    }
}

static void
test_level_parse(void **state)
{
    (void)state;
    enum log_level l = LOG_ERROR;
    assert_int_equal(log_level_parse("debug", &l), 0);
    assert_int_equal(l, LOG_DEBUG);
    assert_int_equal(log_level_parse("info", &l), 0);
    assert_int_equal(l, LOG_INFO);
    assert_int_equal(log_level_parse("warn", &l), 0);
    assert_int_equal(l, LOG_WARN);
    assert_int_equal(log_level_parse("error", &l), 0);
    assert_int_equal(l, LOG_ERROR);

    static const char *bad[] = {"",      "WARN",  "Info",  "warning", "err", "errors",
                                "info ", " info", "fatal", "trace",   "0",   "debu"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        l = LOG_WARN;
        assert_int_equal(log_level_parse(bad[i], &l), -1);
    }
}

/* stderr capture: log_event writes with write(2) on fd 2, so the fd itself is redirected. */
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

/* Restores stderr (before any assertion can print) and returns what was written, as a string. */
static size_t
capture_end(char *out, size_t cap)
{
    fflush(stderr);
    int restored = dup2(cap_saved, STDERR_FILENO);
    close(cap_saved);
    cap_saved = -1;
    assert_true(restored >= 0);
    assert_int_equal(fseek(cap_file, 0, SEEK_SET), 0);
    size_t n = fread(out, 1, cap - 1, cap_file);
    out[n] = '\0';
    fclose(cap_file);
    cap_file = NULL;
    return n;
}

static size_t
count_char(const char *s, size_t n, char c)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += s[i] == c;
    return k;
}

/* Checks "ts=YYYY-MM-DDTHH:MM:SS.mmmZ " at the start of line and that it is UTC now. */
static void
check_ts(const char *line)
{
    static const char shape[] = "ts=dddd-dd-ddTdd:dd:dd.dddZ ";
    for (size_t i = 0; i < sizeof(shape) - 1; i++) {
        if (shape[i] == 'd')
            assert_true(line[i] >= '0' && line[i] <= '9');
        else
            assert_int_equal(line[i], shape[i]);
    }
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    assert_int_equal(sscanf(line, "ts=%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon,
                            &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec),
                     6);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    time_t now = time(NULL);
    /* time() may lag gettimeofday() by a tick */
    assert_true(now - t >= -1 && now - t <= 5);
}

static void
test_event_one_line(void **state)
{
    (void)state;
    char got[8192];
    log_init("test", LOG_INFO);
    /* a local zone far from UTC, so that a local-time stamp is caught */
    setenv("TZ", "XYZ-05:30", 1);
    tzset();
    capture_begin();
    log_event(LOG_WARN, "x", "user=%s n=%d", "alice", 42);
    size_t n = capture_end(got, sizeof(got));
    unsetenv("TZ");
    tzset();

    assert_true(n > 28);
    assert_true(strncmp(got, "ts=", 3) == 0);
    check_ts(got);
    assert_string_equal(got + 28, "level=warn prog=test event=x user=alice n=42\n");
    assert_int_equal(count_char(got, n, '\n'), 1);
    assert_int_equal(got[n - 1], '\n');
    assert_int_not_equal(got[n - 2], '\n');
}

static void
test_event_embedded_newline(void **state)
{
    (void)state;
    char got[8192], q[128];
    log_init("test", LOG_INFO);
    capture_begin();
    log_event(LOG_ERROR, "x", "msg=%s peer=%s",
              log_quote("line1\nts=0 level=error event=forged \"x\"", q, sizeof(q)), "1.2.3.4");
    size_t n = capture_end(got, sizeof(got));

    check_ts(got);
    assert_string_equal(got + 28,
                        "level=error prog=test event=x "
                        "msg=\"line1\\nts=0 level=error event=forged \\\"x\\\"\" peer=1.2.3.4\n");
    assert_int_equal(count_char(got, n, '\n'), 1);
    assert_int_equal(got[n - 1], '\n');
}

static void
test_event_levels(void **state)
{
    (void)state;
    char got[8192];

    log_init("t", LOG_WARN);
    capture_begin();
    log_event(LOG_DEBUG, "d", "k=%d", 1);
    log_event(LOG_INFO, "i", "k=%d", 2);
    size_t n = capture_end(got, sizeof(got));
    assert_int_equal(n, 0);

    capture_begin();
    log_event(LOG_INFO, "i", "k=%d", 2);
    log_event(LOG_WARN, "w", "k=%d", 3);
    log_event(LOG_DEBUG, "d", "k=%d", 1);
    log_event(LOG_ERROR, "e", "k=%d", 4);
    n = capture_end(got, sizeof(got));
    assert_int_equal(count_char(got, n, '\n'), 2);
    char *second = strchr(got, '\n') + 1;
    assert_true(strncmp(got + 28, "level=warn prog=t event=w k=3\n", 30) == 0);
    check_ts(second);
    assert_string_equal(second + 28, "level=error prog=t event=e k=4\n");

    log_init("t", LOG_ERROR);
    capture_begin();
    log_event(LOG_WARN, "w", "k=%d", 3);
    n = capture_end(got, sizeof(got));
    assert_int_equal(n, 0);

    log_init("t", LOG_DEBUG);
    capture_begin();
    log_event(LOG_DEBUG, "d", "k=%d", 1);
    n = capture_end(got, sizeof(got));
    assert_int_equal(count_char(got, n, '\n'), 1);
    assert_string_equal(got + 28, "level=debug prog=t event=d k=1\n");

    log_init("authd", LOG_INFO);
}

static void
test_event_no_fields(void **state)
{
    (void)state;
    char got[8192];
    log_init("test", LOG_INFO);
    capture_begin();
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-zero-length"
    log_event(LOG_INFO, "started", ""); /* an empty format adds no trailing space */
#pragma GCC diagnostic pop
    size_t n = capture_end(got, sizeof(got));
    assert_int_equal(count_char(got, n, '\n'), 1);
    check_ts(got);
    assert_string_equal(got + 28, "level=info prog=test event=started\n");
}

static void
test_event_long_line_cut(void **state)
{
    (void)state;
    static char big[6000], got[8192];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    log_init("test", LOG_INFO);
    capture_begin();
    log_event(LOG_INFO, "big", "v=%s", big);
    size_t n = capture_end(got, sizeof(got));
    /* cut to the line buffer, but still exactly one line */
    assert_true(n > 4000 && n <= 4096);
    assert_int_equal(count_char(got, n, '\n'), 1);
    assert_int_equal(got[n - 1], '\n');
    assert_true(strncmp(got + 28, "level=info prog=test event=big v=aaaa", 37) == 0);
    assert_int_equal(strspn(got + 28 + 33, "a"), n - 28 - 33 - 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quote_bare),
        cmocka_unit_test(test_quote_escapes),
        cmocka_unit_test(test_quote_every_byte),
        cmocka_unit_test(test_quote_truncation),
        cmocka_unit_test(test_quote_no_cut_when_fits),
        cmocka_unit_test(test_quote_random),
        cmocka_unit_test(test_level_parse),
        cmocka_unit_test(test_event_one_line),
        cmocka_unit_test(test_event_embedded_newline),
        cmocka_unit_test(test_event_levels),
        cmocka_unit_test(test_event_no_fields),
        cmocka_unit_test(test_event_long_line_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
