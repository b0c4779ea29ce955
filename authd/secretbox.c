/* SPDX-License-Identifier: Apache-2.0 */
/*
 * AES-256-GCM boxes (nonce(12) || ciphertext || tag(16)) with OpenSSL 3's EVP_CIPHER, fetched
 * once. Random 96-bit nonces are safe for far more than the 2^32 boxes NIST allows per key, which
 * TOTP secrets will never approach. The key lives on its own page, locked in RAM and kept out of
 * core dumps when the system allows it, and is wiped on free.
 */
#include "authd/secretbox.h"

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/err.h"
#include "common/secret.h"

#define NONCE_BYTES 12
#define TAG_BYTES 16
#define HEX_KEY_LEN (2 * SECRETBOX_KEY_BYTES) /* 64 */
#define B64_KEY_LEN 43                        /* secret_b64url_len(32) */

struct secretbox {
    uint8_t key[SECRETBOX_KEY_BYTES];
    size_t size; /* bytes allocated (whole pages), for munlock and the wipe */
    int locked;  /* mlock succeeded */
};

static pthread_once_t cipher_once = PTHREAD_ONCE_INIT;
static EVP_CIPHER *aes_gcm;

static void
cipher_init(void)
{
    aes_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
}

static const EVP_CIPHER *
cipher_get(void)
{
    pthread_once(&cipher_once, cipher_init);
    return aes_gcm;
}

static int
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/*
 * One AES-256-GCM pass over in[0..n) into out (n bytes) with aad, under key and nonce. enc:
 * encrypt and write the tag into tag; otherwise decrypt and check tag. AUTHD_OK or
 * AUTHD_ERR_INTERNAL (also for a tag mismatch).
 */
static int
gcm(int enc, const uint8_t *key, const uint8_t nonce[NONCE_BYTES], const uint8_t *aad,
    size_t aadlen, const uint8_t *in, size_t n, uint8_t *out, uint8_t tag[TAG_BYTES])
{
    const EVP_CIPHER *cipher = cipher_get();
    EVP_CIPHER_CTX *ctx = NULL;
    int len = 0, r = AUTHD_ERR_INTERNAL;

    if (cipher == NULL || n > INT_MAX || aadlen > INT_MAX)
        goto out;
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL)
        goto out;
    /* The default GCM IV length is the 12 bytes we use. */
    if (!EVP_CipherInit_ex2(ctx, cipher, key, nonce, enc, NULL))
        goto out;
    if (aadlen > 0 && !EVP_CipherUpdate(ctx, NULL, &len, aad, (int)aadlen))
        goto out;
    if (n > 0 && !EVP_CipherUpdate(ctx, out, &len, in, (int)n))
        goto out;
    if (!enc && !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TAG_BYTES, tag))
        goto out;
    /* GCM writes nothing here; out + n is never written. */
    if (EVP_CipherFinal_ex(ctx, out + n, &len) <= 0)
        goto out;
    if (enc && !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TAG_BYTES, tag))
        goto out;
    r = AUTHD_OK;
out:
    EVP_CIPHER_CTX_free(ctx); /* cleanses the key schedule */
    return r;
}

int
secretbox_parse_key(const char *text, uint8_t key[SECRETBOX_KEY_BYTES])
{
    int r = AUTHD_ERR_INVALID_ARGUMENT;

    if (text == NULL)
        goto out;
    size_t len = strlen(text);
    while (len > 0 && is_space(text[0])) {
        text++;
        len--;
    }
    while (len > 0 && is_space(text[len - 1]))
        len--;

    if (len == HEX_KEY_LEN) {
        for (size_t i = 0; i < SECRETBOX_KEY_BYTES; i++) {
            int hi = secret_hex_value((unsigned char)text[2 * i]),
                lo = secret_hex_value((unsigned char)text[2 * i + 1]);
            if (hi < 0 || lo < 0)
                goto out;
            key[i] = (uint8_t)((hi << 4) | lo);
        }
        r = AUTHD_OK;
    } else if (len == B64_KEY_LEN) {
        if (secret_b64url_decode(text, len, key, SECRETBOX_KEY_BYTES) == SECRETBOX_KEY_BYTES)
            r = AUTHD_OK;
    }
out:
    if (r != AUTHD_OK)
        secret_wipe(key, SECRETBOX_KEY_BYTES);
    return r;
}

int
secretbox_new(const uint8_t key[SECRETBOX_KEY_BYTES], struct secretbox **out)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t size = page > 0 ? (size_t)page : 4096;
    void *mem = NULL;

    *out = NULL;
    /* Its own whole page: mlock/munlock and MADV_DONTDUMP then concern no other allocation. */
    while (size < sizeof(struct secretbox))
        size *= 2;
    if (posix_memalign(&mem, size, size) != 0)
        return AUTHD_ERR_NOMEM;
    memset(mem, 0, size);
    struct secretbox *sb = mem;
    sb->size = size;
    /* Failures only cost the extra protection (RLIMIT_MEMLOCK, no MADV_DONTDUMP). */
    sb->locked = mlock(mem, size) == 0;
#ifdef MADV_DONTDUMP
    (void)madvise(mem, size, MADV_DONTDUMP);
#endif
    memcpy(sb->key, key, SECRETBOX_KEY_BYTES);
    *out = sb;
    return AUTHD_OK;
}

void
secretbox_free(struct secretbox *sb)
{
    if (sb == NULL)
        return;
    size_t size = sb->size;
    int locked = sb->locked;
    secret_wipe(sb, size);
#ifdef MADV_DODUMP
    (void)madvise(sb, size, MADV_DODUMP);
#endif
    if (locked)
        (void)munlock(sb, size);
    free(sb);
}

int
secretbox_seal(const struct secretbox *sb, const uint8_t *pt, size_t n, const uint8_t *aad,
               size_t aadlen, uint8_t **out, size_t *outlen)
{
    uint8_t *box = NULL;
    int r = AUTHD_ERR_INTERNAL;

    *out = NULL;
    *outlen = 0;
    if (sb == NULL || (pt == NULL && n > 0) || (aad == NULL && aadlen > 0) ||
        n > (size_t)INT_MAX - SECRETBOX_OVERHEAD)
        goto out;
    box = malloc(n + SECRETBOX_OVERHEAD);
    if (box == NULL) {
        r = AUTHD_ERR_NOMEM;
        goto out;
    }
    if ((r = secret_random(box, NONCE_BYTES)) != AUTHD_OK)
        goto out;
    r = gcm(1, sb->key, box, aad, aadlen, pt, n, box + NONCE_BYTES, box + NONCE_BYTES + n);
    if (r != AUTHD_OK)
        goto out;
    *out = box;
    *outlen = n + SECRETBOX_OVERHEAD;
    box = NULL;
out:
    /* A failed seal may have left plaintext-dependent bytes behind. */
    secret_freezero(box, n + SECRETBOX_OVERHEAD);
    return r;
}

int
secretbox_open(const struct secretbox *sb, const uint8_t *box, size_t n, const uint8_t *aad,
               size_t aadlen, uint8_t **pt, size_t *ptlen)
{
    uint8_t tag[TAG_BYTES];
    uint8_t *plain = NULL;
    size_t len = 0;
    int r = AUTHD_ERR_INTERNAL;

    *pt = NULL;
    *ptlen = 0;
    if (sb == NULL || box == NULL || n < SECRETBOX_OVERHEAD || (aad == NULL && aadlen > 0))
        goto out;
    len = n - SECRETBOX_OVERHEAD;
    /* One byte at least, so that an empty plaintext is not a NULL that reads as NOMEM. */
    plain = malloc(len > 0 ? len : 1);
    if (plain == NULL) {
        r = AUTHD_ERR_NOMEM;
        goto out;
    }
    /* The GCM API wants a writable tag. */
    memcpy(tag, box + n - TAG_BYTES, TAG_BYTES);
    r = gcm(0, sb->key, box, aad, aadlen, box + NONCE_BYTES, len, plain, tag);
    if (r != AUTHD_OK)
        goto out;
    *pt = plain;
    *ptlen = len;
    plain = NULL;
out:
    /* On failure the unauthenticated plaintext is wiped, never handed out. */
    secret_freezero(plain, len > 0 ? len : 1);
    return r;
}
