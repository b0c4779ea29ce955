/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: bearer token parsing (authd/token.h token_parse). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"
#include "authd/token.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 1);
    if (!in)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    struct token t;
    memset(&t, 0xa5, sizeof(t));
    int rc = token_parse(in, &t);
    if (rc == AUTHD_OK) {
        if (strlen(in) != TOKEN_LEN || in[TOKEN_ID_LEN] != '.')
            abort();
        if (strcmp(t.text, in) != 0)
            abort();
        if (strlen(t.id) != TOKEN_ID_LEN || memcmp(t.id, in, TOKEN_ID_LEN) != 0)
            abort();
        /* The hash is SHA-256 of the decoded secret. */
        uint8_t secret[TOKEN_SECRET_BYTES + 1];
        long n =
            secret_b64url_decode(in + TOKEN_ID_LEN + 1, TOKEN_SECRET_LEN, secret, sizeof(secret));
        if (n != TOKEN_SECRET_BYTES)
            abort();
        uint8_t h[32];
        secret_sha256(secret, (size_t)n, h);
        if (!token_matches(&t, h, sizeof(h)))
            abort();
    } else if (rc != AUTHD_ERR_INVALID_TOKEN) {
        abort();
    }
    token_wipe(&t);
    free(in);
    return 0;
}
