/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Opaque bearer tokens "<id>.<secret>" and random UUIDs. Everything random comes from the OS
 * CSPRNG through secret_random(); the secret part never leaves this file except inside
 * struct token's text, and only its SHA-256 is kept for storage and comparison.
 */
#include "authd/token.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"

_Static_assert(TOKEN_ID_LEN == 22, "TOKEN_ID_LEN must match base64url of TOKEN_ID_BYTES");
_Static_assert(TOKEN_SECRET_LEN == 43, "TOKEN_SECRET_LEN must match base64url of 32 bytes");

static int
is_b64url_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/*
 * The end of token_new and token_parse: with r AUTHD_OK, t gets the SHA-256 of secret (the one
 * form that is kept); the secret is wiped either way, and on failure t too. Returns r.
 */
static int
token_finish(struct token *t, uint8_t secret[TOKEN_SECRET_BYTES], int r)
{
    if (r == AUTHD_OK)
        secret_sha256(secret, TOKEN_SECRET_BYTES, t->hash);
    secret_wipe(secret, TOKEN_SECRET_BYTES);
    if (r != AUTHD_OK)
        token_wipe(t);
    return r;
}

int
token_new(struct token *t)
{
    uint8_t id[TOKEN_ID_BYTES];
    uint8_t secret[TOKEN_SECRET_BYTES];
    int r;

    memset(t, 0, sizeof(*t));
    if ((r = secret_random(id, sizeof(id))) != AUTHD_OK)
        goto out;
    if ((r = secret_random(secret, sizeof(secret))) != AUTHD_OK)
        goto out;
    secret_b64url_encode(id, sizeof(id), t->id);
    memcpy(t->text, t->id, TOKEN_ID_LEN);
    t->text[TOKEN_ID_LEN] = '.';
    secret_b64url_encode(secret, sizeof(secret), t->text + TOKEN_ID_LEN + 1);
    r = AUTHD_OK;
out:
    return token_finish(t, secret, r);
}

int
token_parse(const char *s, struct token *t)
{
    uint8_t id[TOKEN_ID_BYTES];
    uint8_t secret[TOKEN_SECRET_BYTES];
    int r = AUTHD_ERR_INVALID_TOKEN;

    memset(t, 0, sizeof(*t));
    if (s == NULL || strnlen(s, TOKEN_LEN + 1) != TOKEN_LEN || s[TOKEN_ID_LEN] != '.')
        goto out;
    for (size_t i = 0; i < TOKEN_LEN; i++) {
        if (i != TOKEN_ID_LEN && !is_b64url_char((unsigned char)s[i]))
            goto out;
    }
    /* The decoder refuses non-zero leftover bits, so each token has one accepted spelling. */
    if (secret_b64url_decode(s, TOKEN_ID_LEN, id, sizeof(id)) != TOKEN_ID_BYTES)
        goto out;
    if (secret_b64url_decode(s + TOKEN_ID_LEN + 1, TOKEN_SECRET_LEN, secret, sizeof(secret)) !=
        TOKEN_SECRET_BYTES)
        goto out;
    memcpy(t->text, s, TOKEN_LEN);
    t->text[TOKEN_LEN] = '\0';
    memcpy(t->id, s, TOKEN_ID_LEN);
    t->id[TOKEN_ID_LEN] = '\0';
    r = AUTHD_OK;
out:
    return token_finish(t, secret, r);
}

int
token_matches(const struct token *t, const uint8_t *stored, size_t stored_len)
{
    if (t == NULL || stored == NULL || stored_len != sizeof(t->hash))
        return 0;
    return secret_eq(t->hash, stored, sizeof(t->hash));
}

void
token_wipe(struct token *t)
{
    if (t != NULL)
        secret_wipe(t, sizeof(*t));
}

int
token_uuid(char out[37])
{
    uint8_t b[16];
    char hex[33];

    out[0] = '\0';
    if (secret_random(b, sizeof(b)) != AUTHD_OK)
        return AUTHD_ERR_INTERNAL;
    b[6] = (uint8_t)((b[6] & 0x0F) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3F) | 0x80); /* RFC 4122 variant 10xx */
    secret_hex(b, sizeof(b), hex);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
    return AUTHD_OK;
}
