/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: base32 decoding of TOTP secrets (authd/otp.h otp_base32_decode). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "authd/otp.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 1);
    if (!in)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    size_t slen = strlen(in);
    size_t cap = slen * 5 / 8 + 1;
    uint8_t *out = malloc(cap);
    if (!out) {
        free(in);
        return 0;
    }
    long n = otp_base32_decode(in, out, cap);
    if (n >= 0) {
        if ((size_t)n > slen * 5 / 8)
            abort();
        /* Re-encoding gives the input's significant characters, upper-cased. */
        char *enc = malloc(otp_base32_len((size_t)n) + 1);
        if (!enc)
            abort();
        otp_base32_encode(out, (size_t)n, enc);
        size_t k = 0;
        for (size_t i = 0; i < slen; i++) {
            char c = in[i];
            if (c == ' ' || c == '=')
                continue;
            if (c >= 'a' && c <= 'z')
                c = (char)(c - 'a' + 'A');
            if (enc[k] != c)
                abort();
            k++;
        }
        if (enc[k] != '\0')
            abort();
        /* ... and decodes back to the same bytes. */
        uint8_t *back = malloc((size_t)n + 1);
        if (!back)
            abort();
        long m = otp_base32_decode(enc, back, (size_t)n + 1);
        if (m != n || memcmp(back, out, (size_t)n) != 0)
            abort();
        free(back);
        free(enc);
    }
    /* A too-small buffer must be refused, not overrun. */
    if (n > 0) {
        uint8_t *small = malloc((size_t)n - 1 ? (size_t)n - 1 : 1);
        if (!small)
            abort();
        if (otp_base32_decode(in, small, (size_t)n - 1) != -1)
            abort();
        free(small);
    }
    free(out);
    free(in);
    return 0;
}
