/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Secret-handling primitives. OpenSSL supplies the CSPRNG, SHA-256 and the constant-time
 * comparison; base64url is written here because OpenSSL only has padded standard base64.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/err.h"
#include "common/secret.h"

void
secret_wipe(void *p, size_t n)
{
    if (p != NULL && n > 0)
        OPENSSL_cleanse(p, n);
}

void
secret_freezero(void *p, size_t n)
{
    if (p == NULL)
        return;
    secret_wipe(p, n);
    free(p);
}

void
secret_strfree(char *s)
{
    if (s == NULL)
        return;
    secret_freezero(s, strlen(s));
}

int
secret_eq(const void *a, const void *b, size_t n)
{
    if (n == 0)
        return 1;
    return CRYPTO_memcmp(a, b, n) == 0;
}

int
secret_streq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return 0;
    size_t la = strlen(a), lb = strlen(b);
    /* Compare over the shorter length so we never read out of bounds; the length check
     * leaks only the lengths, which the caller's protocol fixes anyway. */
    int same = secret_eq(a, b, la < lb ? la : lb);
    return same && la == lb;
}

/*
 * OpenSSL's DRBG of this thread (RAND_get0_public), asked directly: RAND_bytes() asks the same
 * one, but first looks up the legacy RAND_METHOD under a process-wide write lock
 * (RAND_get_rand_method, OpenSSL 3.0), and with every worker drawing token ids that lock was
 * contended: 4.6 % of authd's CPU samples under client_credentials load. authd installs no
 * RAND_METHOD or engine, so the answer is the same DRBG (seeded from the OS, reseeded as
 * OpenSSL decides, a new one after fork). RAND_bytes() when there is no such DRBG.
 */
int
secret_random(void *buf, size_t n)
{
    if (n == 0)
        return AUTHD_OK;
    EVP_RAND_CTX *drbg = RAND_get0_public(NULL);
    int ok =
        drbg != NULL ? EVP_RAND_generate(drbg, buf, n, 0, 0, NULL, 0) : RAND_bytes(buf, (int)n);
    return ok == 1 ? AUTHD_OK : AUTHD_ERR_INTERNAL;
}

/* SHA-256 fetched from the provider once: EVP_sha256() makes every EVP_Digest fetch it again
 * (a provider lookup under locks), which cost more than hashing a short input (~2.2 µs
 * against ~0.5 µs per 64-byte digest here). NULL when the fetch failed: EVP_sha256() then. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void
sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void
secret_sha256(const void *p, size_t n, uint8_t out[32])
{
    unsigned int len = 32;
    pthread_once(&sha256_once, sha256_fetch);
    EVP_Digest(p, n, out, &len, sha256_md != NULL ? sha256_md : EVP_sha256(), NULL);
}

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char b64std_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t
secret_b64url_len(size_t n)
{
    return (n / 3) * 4 + ((n % 3) ? (n % 3) + 1 : 0);
}

/* Unpadded base64 of in[0..n) in the given alphabet, plus NUL. */
static void
b64_encode(const char *alphabet, const uint8_t *in, size_t n, char *out)
{
    size_t i = 0, o = 0;
    while (i + 3 <= n) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | in[i + 2];
        out[o++] = alphabet[(v >> 18) & 63];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = alphabet[(v >> 6) & 63];
        out[o++] = alphabet[v & 63];
        i += 3;
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = alphabet[(v >> 18) & 63];
        out[o++] = alphabet[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8);
        out[o++] = alphabet[(v >> 18) & 63];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = alphabet[(v >> 6) & 63];
    }
    out[o] = '\0';
}

/* The 6-bit value of c in base64url (url) or standard base64, or -1. */
static int
b64_value(unsigned char c, int url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

static long
b64_decode(int url, const char *s, size_t len, uint8_t *out, size_t cap)
{
    if (len % 4 == 1)
        return -1;
    size_t need = (len / 4) * 3 + (len % 4 ? len % 4 - 1 : 0);
    if (need > cap)
        return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value((unsigned char)s[i], url);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    /* Leftover bits must be zero, so that each byte string has exactly one encoding. */
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
        return -1;
    return (long)o;
}

void
secret_b64url_encode(const uint8_t *in, size_t n, char *out)
{
    b64_encode(b64url_alphabet, in, n, out);
}

long
secret_b64url_decode(const char *s, size_t len, uint8_t *out, size_t cap)
{
    return b64_decode(1, s, len, out, cap);
}

void
secret_b64_encode(const uint8_t *in, size_t n, char *out)
{
    b64_encode(b64std_alphabet, in, n, out);
}

long
secret_b64_decode(const char *s, size_t len, uint8_t *out, size_t cap)
{
    return b64_decode(0, s, len, out, cap);
}

void
secret_hex(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int
secret_hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}
