/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HOTP/TOTP (RFC 4226, RFC 6238) on OpenSSL 3's EVP_MAC "HMAC", base32 (RFC 4648) and otpauth://
 * URIs. The EVP_MAC and one keyless template context per digest are made once; each call dups a
 * template, keys it once for all the steps it needs and frees it, so no key or key-derived HMAC
 * state outlives the call (a per-thread keyed context would keep the last user's secret).
 */
#include "authd/otp.h"

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "common/err.h"
#include "common/secret.h"

#define OTP_DEFAULT_PERIOD 30u
#define OTP_MAC_MAX 64 /* SHA-512 */

/*
 * Largest number of steps otp_verify accepts on either side of the current one. RFC 6238 §6
 * recommends at most one step back; a huge window from a bad configuration would turn every
 * verification into billions of HMACs, so it is refused as a bug instead.
 */
#define OTP_WINDOW_MAX 100u

/* ---- HMAC contexts -------------------------------------------------------------------------- */

static const char *const alg_names[] = {"SHA1", "SHA256", "SHA512"};
#define ALG_COUNT (sizeof(alg_names) / sizeof(alg_names[0]))

static pthread_once_t mac_once = PTHREAD_ONCE_INIT;
static EVP_MAC *hmac;
/* Keyless contexts with the digest set; only ever read (duplicated) after mac_init. */
static EVP_MAC_CTX *templates[ALG_COUNT];

static void
mac_init(void)
{
    hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (hmac == NULL)
        return;
    for (size_t i = 0; i < ALG_COUNT; i++) {
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)alg_names[i], 0),
            OSSL_PARAM_construct_end(),
        };
        EVP_MAC_CTX *c = EVP_MAC_CTX_new(hmac);
        if (c == NULL || !EVP_MAC_CTX_set_params(c, params)) {
            EVP_MAC_CTX_free(c);
            continue; /* that algorithm fails with AUTHD_ERR_INTERNAL */
        }
        templates[i] = c;
    }
}

/* A fresh HMAC context for alg keyed with key, or NULL. Free with EVP_MAC_CTX_free. */
static EVP_MAC_CTX *
mac_new(enum otp_alg alg, const uint8_t *key, size_t klen)
{
    pthread_once(&mac_once, mac_init);
    if ((unsigned)alg >= ALG_COUNT || templates[alg] == NULL)
        return NULL;
    EVP_MAC_CTX *c = EVP_MAC_CTX_dup(templates[alg]);
    if (c == NULL)
        return NULL;
    if (!EVP_MAC_init(c, key, klen, NULL)) {
        EVP_MAC_CTX_free(c);
        return NULL;
    }
    return c;
}

static uint32_t
pow10u(unsigned digits)
{
    uint32_t m = 1;
    for (unsigned i = 0; i < digits; i++)
        m *= 10;
    return m;
}

/*
 * The HOTP value of counter under c into out (digits characters plus NUL). rekey: c was used
 * before, so reset it to its key first (keeps the key schedule, skips the key setup).
 */
static int
hotp_with(EVP_MAC_CTX *c, int rekey, uint64_t counter, unsigned digits, char *out)
{
    uint8_t msg[8], mac[OTP_MAC_MAX];
    size_t maclen = 0;
    int r = AUTHD_ERR_INTERNAL;

    for (int i = 7; i >= 0; i--) {
        msg[i] = (uint8_t)(counter & 0xff);
        counter >>= 8;
    }
    if (rekey && !EVP_MAC_init(c, NULL, 0, NULL))
        goto out;
    if (!EVP_MAC_update(c, msg, sizeof(msg)) || !EVP_MAC_final(c, mac, &maclen, sizeof(mac)) ||
        maclen < 20)
        goto out;

    /* Dynamic truncation, RFC 4226 §5.3. */
    unsigned off = mac[maclen - 1] & 0x0f;
    uint32_t bin = ((uint32_t)(mac[off] & 0x7f) << 24) | ((uint32_t)mac[off + 1] << 16) |
                   ((uint32_t)mac[off + 2] << 8) | (uint32_t)mac[off + 3];
    uint32_t v = bin % pow10u(digits);
    for (unsigned i = digits; i > 0; i--) {
        out[i - 1] = (char)('0' + v % 10);
        v /= 10;
    }
    out[digits] = '\0';
    r = AUTHD_OK;
out:
    secret_wipe(mac, sizeof(mac));
    return r;
}

static int
params_ok(const struct otp_params *p)
{
    return p != NULL && (unsigned)p->alg < ALG_COUNT && p->digits >= OTP_MIN_DIGITS &&
           p->digits <= OTP_MAX_DIGITS && p->period > 0;
}

/* ---- public functions ----------------------------------------------------------------------- */

void
otp_params_default(struct otp_params *p)
{
    p->alg = OTP_SHA1;
    p->digits = OTP_MIN_DIGITS;
    p->period = OTP_DEFAULT_PERIOD;
}

int
otp_alg_parse(const char *s, enum otp_alg *out)
{
    *out = OTP_SHA1;
    if (s == NULL)
        return -1;
    if (*s == '\0')
        return 0;
    for (size_t i = 0; i < ALG_COUNT; i++) {
        if (strcasecmp(s, alg_names[i]) == 0) {
            *out = (enum otp_alg)i;
            return 0;
        }
    }
    return -1;
}

const char *
otp_alg_name(enum otp_alg alg)
{
    /* Not "SHA1" for a corrupt value: a name that otp_alg_parse refuses surfaces the bug. */
    if ((unsigned)alg >= ALG_COUNT)
        return "unknown";
    return alg_names[alg];
}

int
otp_hotp(const uint8_t *key, size_t klen, enum otp_alg alg, uint64_t counter, unsigned digits,
         char *out)
{
    if (out != NULL)
        out[0] = '\0';
    if (key == NULL || klen == 0 || out == NULL || (unsigned)alg >= ALG_COUNT ||
        digits < OTP_MIN_DIGITS || digits > OTP_MAX_DIGITS)
        return AUTHD_ERR_INVALID_ARGUMENT;

    EVP_MAC_CTX *c = mac_new(alg, key, klen);
    if (c == NULL)
        return AUTHD_ERR_INTERNAL;
    int r = hotp_with(c, 0, counter, digits, out);
    EVP_MAC_CTX_free(c);
    return r;
}

int64_t
otp_step(const struct otp_params *p, int64_t t)
{
    /* A zero period is refused by every caller that computes codes; 0 keeps this total. */
    if (p == NULL || p->period == 0 || t < 0)
        return 0;
    return t / (int64_t)p->period;
}

int
otp_totp(const uint8_t *key, size_t klen, const struct otp_params *p, int64_t t, char *out)
{
    if (out != NULL)
        out[0] = '\0';
    if (!params_ok(p))
        return AUTHD_ERR_INVALID_ARGUMENT;
    return otp_hotp(key, klen, p->alg, (uint64_t)otp_step(p, t), p->digits, out);
}

int
otp_verify(const uint8_t *key, size_t klen, const struct otp_params *p, int64_t now, unsigned past,
           unsigned future, int64_t last_step, const char *code, int64_t *matched)
{
    char want[OTP_MAX_DIGITS + 1];
    EVP_MAC_CTX *c = NULL;
    int r = AUTHD_ERR_INTERNAL;

    *matched = -1;
    memset(want, 0, sizeof(want));
    if (key == NULL || klen == 0 || !params_ok(p) || past > OTP_WINDOW_MAX ||
        future > OTP_WINDOW_MAX)
        goto out;

    /* The format of the code is no secret: refuse malformed input before any HMAC. */
    r = AUTHD_ERR_WRONG_CODE;
    if (code == NULL || strnlen(code, p->digits + 1) != p->digits)
        goto out;
    for (unsigned i = 0; i < p->digits; i++)
        if (code[i] < '0' || code[i] > '9')
            goto out;

    c = mac_new(p->alg, key, klen);
    if (c == NULL) {
        r = AUTHD_ERR_INTERNAL;
        goto out;
    }

    /* cur >= 0, so lo cannot underflow; hi saturates instead of overflowing. */
    int64_t cur = otp_step(p, now);
    int64_t lo = cur - (int64_t)past;
    int64_t hi = cur > INT64_MAX - (int64_t)future ? INT64_MAX : cur + (int64_t)future;
    if (lo < 0)
        lo = 0; /* HOTP counters are unsigned; there is nothing before step 0 */

    /*
     * Every step of the window is computed and compared, replayed ones included, and the
     * outcome is folded in without branches, so the time does not say which step matched.
     * When several steps match (a 10^-digits coincidence), the newest wins: accepting an older
     * one would leave the same code valid for a newer step, i.e. replayable once more.
     */
    int64_t best = -1;
    int first = 1;
    for (int64_t s = lo;; s++) {
        int hr = hotp_with(c, !first, (uint64_t)s, p->digits, want);
        first = 0;
        if (hr != AUTHD_OK) {
            r = hr;
            best = -1;
            goto out;
        }
        int64_t ok = (int64_t)(secret_eq(want, code, p->digits) & (s > last_step));
        int64_t mask = -ok;
        best = (best & ~mask) | (s & mask);
        if (s == hi)
            break;
    }
    if (best >= 0) {
        *matched = best;
        r = AUTHD_OK;
    }
out:
    secret_wipe(want, sizeof(want));
    EVP_MAC_CTX_free(c);
    return r;
}

/* ---- base32 --------------------------------------------------------------------------------- */

static const char b32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

size_t
otp_base32_len(size_t n)
{
    return n / 5 * 8 + (n % 5 * 8 + 4) / 5;
}

void
otp_base32_encode(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;

    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            out[o++] = b32_alphabet[(acc >> bits) & 31];
        }
    }
    if (bits > 0)
        out[o++] = b32_alphabet[(acc << (5 - bits)) & 31];
    out[o] = '\0';
}

static int
b32_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a';
    if (c >= '2' && c <= '7')
        return c - '2' + 26;
    return -1;
}

long
otp_base32_decode(const char *s, uint8_t *out, size_t cap)
{
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0, padded = 0;

    if (s == NULL)
        return -1;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == ' ')
            continue;
        if (*p == '=') {
            padded = 1;
            continue;
        }
        int v = b32_value(*p);
        if (v < 0 || padded) /* padding only at the end */
            goto fail;
        acc = (acc << 5) | (uint32_t)v;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap)
                goto fail;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    /*
     * A character that completes no byte (5+ bits left: lengths 1, 3, 6 mod 8) or non-zero
     * leftover bits would let one byte string have several encodings.
     */
    if (bits >= 5 || (acc & ((1u << bits) - 1)) != 0)
        goto fail;
    return (long)o;
fail:
    secret_wipe(out, o);
    return -1;
}

/* ---- otpauth:// URI ------------------------------------------------------------------------- */

int
otp_uri(struct buf *b, const char *issuer, const char *account, const char *secret_b32,
        const struct otp_params *p)
{
    struct otp_params def;
    size_t start = b->len;
    int r;

    if (p == NULL) {
        otp_params_default(&def);
        p = &def;
    }
    if (issuer == NULL || *issuer == '\0' || account == NULL || *account == '\0' ||
        secret_b32 == NULL || *secret_b32 == '\0' || !params_ok(p))
        return AUTHD_ERR_INVALID_ARGUMENT;

    /* The ':' between issuer and account stays literal (Google's Key Uri Format). */
    if ((r = buf_puts(b, "otpauth://totp/")) != AUTHD_OK ||
        (r = buf_urlenc(b, issuer)) != AUTHD_OK || (r = buf_puts(b, ":")) != AUTHD_OK ||
        (r = buf_urlenc(b, account)) != AUTHD_OK || (r = buf_puts(b, "?secret=")) != AUTHD_OK ||
        (r = buf_urlenc(b, secret_b32)) != AUTHD_OK || (r = buf_puts(b, "&issuer=")) != AUTHD_OK ||
        (r = buf_urlenc(b, issuer)) != AUTHD_OK)
        goto out;
    if (p->alg != OTP_SHA1 &&
        (r = buf_printf(b, "&algorithm=%s", otp_alg_name(p->alg))) != AUTHD_OK)
        goto out;
    if (p->digits != OTP_MIN_DIGITS && (r = buf_printf(b, "&digits=%u", p->digits)) != AUTHD_OK)
        goto out;
    if (p->period != OTP_DEFAULT_PERIOD && (r = buf_printf(b, "&period=%u", p->period)) != AUTHD_OK)
        goto out;
out:
    if (r != AUTHD_OK && b->data != NULL) {
        /* Leave b as it was: no half URI (it carries the secret) stays behind. */
        secret_wipe(b->data + start, b->len - start);
        b->len = start;
        b->data[start] = '\0';
    }
    return r;
}
