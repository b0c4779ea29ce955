/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for edge/qr.c: the SVG has the documented frame (viewBox, size, white background,
 * crispEdges), its path draws exactly libqrencode's dark modules shifted by the quiet zone (so
 * the quiet zone is white), the output is deterministic, and bad or oversized input is an
 * error, not a crash.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qrencode.h>

#include "common/buf.h"
#include "common/err.h"
#include "edge/qr.h"

static const char *const uri = "otpauth://totp/Acme:alice%40example.com?secret="
                               "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Acme&algorithm=SHA1"
                               "&digits=6&period=30";

/* Reads the integer after key (e.g. "width=\"") in s. */
static int
int_after(const char *s, const char *key)
{
    const char *p = strstr(s, key);
    assert_non_null(p);
    return atoi(p + strlen(key));
}

/*
 * Rasterises the path of svg (our "M x y h n v 1 h -n z" runs only) into an n*n grid of 0/1;
 * fails the test on anything else in the path. Returns the grid (free it).
 */
static unsigned char *
rasterise(const char *svg, int n)
{
    const char *d = strstr(svg, " d=\"");
    assert_non_null(d);
    d += 4;
    unsigned char *grid = calloc((size_t)n * (size_t)n, 1);
    assert_non_null(grid);
    int runs = 0;
    while (*d != '"') {
        int x, y, w, w2, used = 0;
        assert_int_equal(sscanf(d, "M%d %dh%dv1h-%dz%n", &x, &y, &w, &w2, &used), 4);
        assert_true(used > 0);
        assert_int_equal(w, w2);
        assert_true(w >= 1);
        assert_true(x >= 0 && y >= 0 && x + w <= n && y < n);
        for (int i = 0; i < w; i++) {
            assert_int_equal(grid[(size_t)y * (size_t)n + (size_t)(x + i)], 0); /* no overlap */
            grid[(size_t)y * (size_t)n + (size_t)(x + i)] = 1;
        }
        d += used;
        runs++;
    }
    assert_true(runs > 0);
    return grid;
}

static void
test_structure_matches_libqrencode(void **state)
{
    (void)state;
    const int scale = 6;
    struct buf b;
    buf_init(&b, 256 * 1024);
    assert_int_equal(qr_svg(&b, uri, scale), AUTHD_OK);
    const char *svg = b.data;

    QRcode *q = QRcode_encodeString(uri, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    assert_non_null(q);
    int n = q->width + 2 * QR_QUIET;

    assert_true(strncmp(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\" ", 40) == 0);
    char want[64];
    snprintf(want, sizeof(want), "viewBox=\"0 0 %d %d\"", n, n);
    assert_non_null(strstr(svg, want));
    assert_int_equal(int_after(svg, " width=\""), n * scale);
    assert_int_equal(int_after(svg, " height=\""), n * scale);
    assert_non_null(strstr(svg, "shape-rendering=\"crispEdges\""));
    snprintf(want, sizeof(want), "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>", n, n);
    assert_non_null(strstr(svg, want));
    assert_non_null(strstr(svg, "<path fill=\"#000\" d=\"M"));
    assert_string_equal(svg + strlen(svg) - 9, "\"/></svg>");
    /* one path, one rect: nothing else drawn */
    assert_null(strstr(strstr(svg, "<path") + 1, "<path"));
    assert_null(strstr(strstr(svg, "<rect") + 1, "<rect"));

    unsigned char *grid = rasterise(svg, n);
    for (int y = 0; y < n; y++) {
        for (int x = 0; x < n; x++) {
            int inside = x >= QR_QUIET && x < n - QR_QUIET && y >= QR_QUIET && y < n - QR_QUIET;
            int want_dark =
                inside && (q->data[(y - QR_QUIET) * q->width + (x - QR_QUIET)] & 1) != 0;
            assert_int_equal(grid[y * n + x], want_dark);
        }
    }
    free(grid);
    QRcode_free(q);
    buf_free(&b);
}

static void
test_deterministic_and_scaled(void **state)
{
    (void)state;
    struct buf a, b, c;
    buf_init(&a, 256 * 1024);
    buf_init(&b, 256 * 1024);
    buf_init(&c, 256 * 1024);
    assert_int_equal(qr_svg(&a, uri, 6), AUTHD_OK);
    assert_int_equal(qr_svg(&b, uri, 6), AUTHD_OK);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    /* another scale changes only width and height */
    assert_int_equal(qr_svg(&c, uri, 1), AUTHD_OK);
    int n = int_after(a.data, "viewBox=\"0 0 ");
    assert_int_equal(int_after(c.data, " width=\""), n);
    assert_string_equal(strstr(a.data, "<rect"), strstr(c.data, "<rect"));
    /* another text, another symbol */
    buf_free(&b);
    assert_int_equal(qr_svg(&b, "otpauth://totp/x?secret=AAAA", 6), AUTHD_OK);
    assert_true(a.len != b.len || memcmp(a.data, b.data, a.len) != 0);
    buf_free(&a);
    buf_free(&b);
    buf_free(&c);
}

static void
test_bad_input(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 256 * 1024);
    assert_int_equal(qr_svg(&b, NULL, 6), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(qr_svg(&b, "", 6), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(qr_svg(&b, uri, 0), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(qr_svg(&b, uri, -3), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(qr_svg(&b, uri, QR_MAX_SCALE + 1), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(b.len, 0);

    char *big = malloc(QR_MAX_INPUT + 2);
    assert_non_null(big);
    memset(big, 'x', QR_MAX_INPUT + 1);
    big[QR_MAX_INPUT + 1] = '\0';
    assert_int_equal(qr_svg(&b, big, 6), AUTHD_ERR_TOO_LARGE);
    assert_int_equal(b.len, 0);
    /* the largest accepted input still makes a symbol (binary bytes too) */
    for (size_t i = 0; i < QR_MAX_INPUT; i++)
        big[i] = (char)(1 + (i * 37) % 255);
    big[QR_MAX_INPUT] = '\0';
    assert_int_equal(qr_svg(&b, big, QR_MAX_SCALE), AUTHD_OK);
    assert_non_null(strstr(b.data, "</svg>"));
    buf_free(&b);

    /* an output buffer that is too small is an error, not an overflow */
    struct buf small;
    buf_init(&small, 100);
    assert_int_equal(qr_svg(&small, uri, 6), AUTHD_ERR_TOO_LARGE);
    assert_true(small.len <= 100);
    buf_free(&small);
    free(big);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_structure_matches_libqrencode),
        cmocka_unit_test(test_deterministic_and_scaled),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
