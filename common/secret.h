/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers for secret bytes: wipe-then-free, constant-time comparison, the OS CSPRNG, SHA-256,
 * base64url and hex. Every token, code and hash comparison in the project goes through
 * secret_eq().
 */
#ifndef AUTHD_COMMON_SECRET_H
#define AUTHD_COMMON_SECRET_H

#include <stddef.h>
#include <stdint.h>

/* Wipes n bytes at p (never optimised away). p may be NULL when n is 0. */
void secret_wipe(void *p, size_t n);

/* Wipes n bytes at p, then frees p. NULL is a no-op. */
void secret_freezero(void *p, size_t n);

/* Wipes the NUL-terminated string s, then frees it. NULL is a no-op. */
void secret_strfree(char *s);

/* 1 when the n bytes at a and b are equal, else 0; time depends only on n. */
int secret_eq(const void *a, const void *b, size_t n);

/* 1 when the strings are equal, else 0; time depends only on the lengths. NULLs are unequal. */
int secret_streq(const char *a, const char *b);

/* Fills buf with n bytes from OpenSSL's DRBG of this thread (seeded from the OS CSPRNG).
 * 0 or AUTHD_ERR_INTERNAL. */
int secret_random(void *buf, size_t n);

/* out (32 bytes) = SHA-256 of the n bytes at p. */
void secret_sha256(const void *p, size_t n, uint8_t out[32]);

/* Length of the unpadded base64url text for n bytes, without the NUL. */
size_t secret_b64url_len(size_t n);

/* Writes unpadded base64url of in[0..n) plus NUL into out (secret_b64url_len(n)+1 bytes). */
void secret_b64url_encode(const uint8_t *in, size_t n, char *out);

/*
 * Decodes unpadded base64url text s (len chars) into out (capacity cap). Returns the decoded
 * length, or -1 on a bad character, a bad length, or when cap is too small.
 */
long secret_b64url_decode(const char *s, size_t len, uint8_t *out, size_t cap);

/* The same two for standard base64 (RFC 4648 §4, "+/"), unpadded, canonical; lengths as above. */
void secret_b64_encode(const uint8_t *in, size_t n, char *out);
long secret_b64_decode(const char *s, size_t len, uint8_t *out, size_t cap);

/* Writes 2n lowercase hex digits plus NUL into out. */
void secret_hex(const uint8_t *in, size_t n, char *out);

/*
 * The value (0-15) of one hex digit c, either case, or -1 for any other byte. The one decoder
 * of hex digits for keys (authd/secretbox.c) and percent-escapes (edge/form.c,
 * edge/oauth_util.c). It branches on c: not for decoding secrets an attacker can time.
 */
int secret_hex_value(unsigned char c);

#endif
