/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: base64url and base64 decoding (common/secret.h). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/secret.h"

typedef long (*decode_fn)(const char *, size_t, uint8_t *, size_t);
typedef void (*encode_fn)(const uint8_t *, size_t, char *);

static void
check(const char *s, size_t len, decode_fn dec, encode_fn enc, size_t (*enc_len)(size_t))
{
    size_t cap = len * 3 / 4 + 1;
    uint8_t *out = malloc(cap);
    if (!out)
        return;
    long n = dec(s, len, out, cap);
    if (n >= 0) {
        if ((size_t)n > len * 3 / 4)
            abort();
        /* Canonical: the decoded bytes re-encode to exactly the input. */
        size_t el = enc_len((size_t)n);
        char *e = malloc(el + 1);
        if (!e)
            abort();
        enc(out, (size_t)n, e);
        if (el != len || strlen(e) != len || memcmp(e, s, len) != 0)
            abort();
        free(e);
        /* One byte short of room must be refused, not overrun. */
        if (n > 0) {
            uint8_t *small = malloc((size_t)n - 1 ? (size_t)n - 1 : 1);
            if (!small)
                abort();
            if (dec(s, len, small, (size_t)n - 1) != -1)
                abort();
            free(small);
        }
    }
    free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The decoders take (text, len): an exact-size copy lets ASan catch over-reads. */
    char *s = malloc(size ? size : 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    check(s, size, secret_b64url_decode, secret_b64url_encode, secret_b64url_len);
    check(s, size, secret_b64_decode, secret_b64_encode, secret_b64url_len);
    free(s);
    return 0;
}
