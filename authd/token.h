/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Opaque bearer tokens (session, signup confirmation, password reset): "<id>.<secret>", where id
 * is 16 random bytes and secret 32 random bytes (256 bits), both unpadded base64url. The id is
 * a public handle (storage key, listing, logs); only SHA-256(secret) is stored, and a presented
 * token is checked by comparing that hash in constant time.
 */
#ifndef AUTHD_TOKEN_H
#define AUTHD_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#define TOKEN_ID_BYTES 16
#define TOKEN_SECRET_BYTES 32
#define TOKEN_ID_LEN 22     /* base64url chars of the id */
#define TOKEN_SECRET_LEN 43 /* base64url chars of the secret */
#define TOKEN_LEN (TOKEN_ID_LEN + 1 + TOKEN_SECRET_LEN)

struct token {
    char text[TOKEN_LEN + 1];  /* the whole token: a secret, wipe after use */
    char id[TOKEN_ID_LEN + 1]; /* public */
    uint8_t hash[32];          /* SHA-256 of the secret's bytes */
};

/* A fresh random token. AUTHD_OK or AUTHD_ERR_INTERNAL. Wipe t with token_wipe() after use. */
int token_new(struct token *t);

/*
 * Splits a presented token into id and secret hash (t->text is a copy of s). Returns AUTHD_OK or
 * AUTHD_ERR_INVALID_TOKEN for anything not of the exact shape (NULL, wrong length, bad chars).
 */
int token_parse(const char *s, struct token *t);

/* 1 when t's hash equals stored (32 bytes), in constant time. */
int token_matches(const struct token *t, const uint8_t *stored, size_t stored_len);

/* Wipes the whole struct. */
void token_wipe(struct token *t);

/* Writes a random RFC 4122 version-4 UUID (36 chars + NUL). AUTHD_OK or AUTHD_ERR_INTERNAL. */
int token_uuid(char out[37]);

#endif
