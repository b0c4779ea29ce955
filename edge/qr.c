/* SPDX-License-Identifier: Apache-2.0 */
/*
 * QR code -> SVG. Dark modules of one row that touch are drawn as one rectangle
 * ("M x y h n v 1 h -n z"), which keeps the path short (~4 KiB for an otpauth URI) and leaves
 * no hairline seams between modules when a browser scales the image; shape-rendering
 * crispEdges keeps the module edges sharp for camera decoders.
 */
#include "edge/qr.h"

#include <errno.h>
#include <string.h>

#include <qrencode.h>

#include "common/err.h"
#include "common/secret.h"

/* Appends the path commands for the dark runs of row y (quiet zone offset included). */
static int
append_row(struct buf *out, const QRcode *q, int y)
{
    const unsigned char *row = q->data + (size_t)y * (size_t)q->width;
    int r = AUTHD_OK;
    for (int x = 0; x < q->width && r == AUTHD_OK;) {
        if (!(row[x] & 1)) {
            x++;
            continue;
        }
        int start = x;
        while (x < q->width && (row[x] & 1))
            x++;
        int n = x - start;
        r = buf_printf(out, "M%d %dh%dv1h-%dz", start + QR_QUIET, y + QR_QUIET, n, n);
    }
    return r;
}

int
qr_svg(struct buf *out, const char *text, int scale)
{
    if (text == NULL || text[0] == '\0' || scale < 1 || scale > QR_MAX_SCALE)
        return AUTHD_ERR_INVALID_ARGUMENT;
    if (strlen(text) > QR_MAX_INPUT)
        return AUTHD_ERR_TOO_LARGE;

    errno = 0;
    QRcode *q = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    if (q == NULL)
        return errno == ENOMEM   ? AUTHD_ERR_NOMEM
               : errno == ERANGE ? AUTHD_ERR_TOO_LARGE
                                 : AUTHD_ERR_INVALID_ARGUMENT;

    int n = q->width + 2 * QR_QUIET;
    int px = n * scale;
    int r = buf_printf(out,
                       "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
                       "width=\"%d\" height=\"%d\" shape-rendering=\"crispEdges\" role=\"img\" "
                       "aria-label=\"QR code\">"
                       "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/><path fill=\"#000\" d=\"",
                       n, n, px, px, n, n);
    for (int y = 0; y < q->width && r == AUTHD_OK; y++)
        r = append_row(out, q, y);
    if (r == AUTHD_OK)
        r = buf_puts(out, "\"/></svg>");
    /* The matrix encodes the TOTP secret. */
    secret_wipe(q->data, (size_t)q->width * (size_t)q->width);
    QRcode_free(q);
    return r;
}
