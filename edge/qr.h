/* SPDX-License-Identifier: Apache-2.0 */
/*
 * QR codes as inline SVG, for the otpauth:// URI of a TOTP enrolment. libqrencode makes the
 * matrix (error correction M, 8-bit mode); we draw it with a 4-module white quiet zone as one
 * white <rect> and one black <path>, so the page needs no image request and no script.
 */
#ifndef AUTHD_EDGE_QR_H
#define AUTHD_EDGE_QR_H

#include <stddef.h>

#include "common/buf.h"

#define QR_MAX_INPUT ((size_t)1024) /* bytes of text; an otpauth URI is ~150 */
#define QR_QUIET 4                  /* modules of white border on each side */
#define QR_MAX_SCALE 32             /* pixels per module */

/*
 * Appends an <svg> element encoding text to out: viewBox "0 0 N N" in modules and width and
 * height N * scale pixels, where N is the symbol's modules + 2 * QR_QUIET. The output depends
 * only on text and scale. Returns AUTHD_OK; AUTHD_ERR_INVALID_ARGUMENT for NULL or empty text
 * or a scale outside 1..QR_MAX_SCALE; AUTHD_ERR_TOO_LARGE for text over QR_MAX_INPUT bytes (or
 * too long for any QR version) or when out's maximum is reached; AUTHD_ERR_NOMEM. On failure
 * out may hold part of the element: callers discard the buffer.
 */
int qr_svg(struct buf *out, const char *text, int scale);

#endif
