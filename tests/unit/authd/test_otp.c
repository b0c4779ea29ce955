/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for authd/otp.c: the RFC 4226 and RFC 6238 test vectors, the verifier's window,
 * replay and format rules, base32 (RFC 4648 §10 vectors and the decoder's strictness) and
 * otpauth:// URIs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "authd/otp.h"

static const uint8_t rfc4226_key[] = "12345678901234567890";
#define RFC4226_KEY_LEN 20

static const char *const rfc4226_hotp[] = {"755224", "287082", "359152", "969429", "338314",
                                           "254676", "287922", "162583", "399871", "520489"};

/* RFC 6238 Appendix B seeds: "1234567890" repeated to 20, 32 and 64 bytes. */
static const uint8_t seed_sha1[] = "12345678901234567890";
static const uint8_t seed_sha256[] = "12345678901234567890123456789012";
static const uint8_t seed_sha512[] =
    "1234567890123456789012345678901234567890123456789012345678901234";

struct totp_vector {
    int64_t t;
    const char *sha1, *sha256, *sha512;
};

static const struct totp_vector rfc6238[] = {
    {59, "94287082", "46119246", "90693936"},
    {1111111109, "07081804", "68084774", "25091201"},
    {1111111111, "14050471", "67062674", "99943326"},
    {1234567890, "89005924", "91819424", "93441116"},
    {2000000000, "69279037", "90698825", "38618901"},
    {20000000000, "65353130", "77737706", "47863826"},
};
#define RFC6238_COUNT (sizeof(rfc6238) / sizeof(rfc6238[0]))

/* A fixed "now" well away from 0, at the start of step NOW_STEP (period 30). */
#define NOW_STEP 50000000
#define NOW ((int64_t)NOW_STEP * 30 + 7)

static void
code_at_step(const struct otp_params *p, int64_t step, char *out)
{
    assert_int_equal(otp_totp(rfc4226_key, RFC4226_KEY_LEN, p, step * (int64_t)p->period, out),
                     AUTHD_OK);
}

/* ---- HOTP / TOTP values --------------------------------------------------------------------- */

static void
test_hotp_rfc4226(void **state)
{
    (void)state;
    char out[OTP_MAX_DIGITS + 1];

    for (uint64_t c = 0; c < 10; c++) {
        memset(out, 'x', sizeof(out));
        assert_int_equal(otp_hotp(rfc4226_key, RFC4226_KEY_LEN, OTP_SHA1, c, 6, out), AUTHD_OK);
        assert_string_equal(out, rfc4226_hotp[c]);
    }
}

static void
test_hotp_bad_args(void **state)
{
    (void)state;
    char out[OTP_MAX_DIGITS + 1];

    assert_int_equal(otp_hotp(rfc4226_key, RFC4226_KEY_LEN, OTP_SHA1, 0, 5, out),
                     AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(otp_hotp(rfc4226_key, RFC4226_KEY_LEN, OTP_SHA1, 0, 9, out),
                     AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(otp_hotp(rfc4226_key, 0, OTP_SHA1, 0, 6, out), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(otp_hotp(NULL, 20, OTP_SHA1, 0, 6, out), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(otp_hotp(rfc4226_key, RFC4226_KEY_LEN, (enum otp_alg)3, 0, 6, out),
                     AUTHD_ERR_INVALID_ARGUMENT);
    /* 7 digits, the one length no vector covers: the last 7 of the 8-digit value. */
    assert_int_equal(otp_hotp(seed_sha1, 20, OTP_SHA1, 1, 7, out), AUTHD_OK);
    assert_string_equal(out, "4287082");
}

static void
check_totp(const uint8_t *seed, size_t len, enum otp_alg alg, int64_t t, const char *want8)
{
    struct otp_params p = {.alg = alg, .digits = 8, .period = 30};
    char out[OTP_MAX_DIGITS + 1];

    memset(out, 'x', sizeof(out));
    assert_int_equal(otp_totp(seed, len, &p, t, out), AUTHD_OK);
    assert_string_equal(out, want8);
    /* The 6-digit value is the same number mod 10^6: the last six digits. */
    p.digits = 6;
    memset(out, 'x', sizeof(out));
    assert_int_equal(otp_totp(seed, len, &p, t, out), AUTHD_OK);
    assert_string_equal(out, want8 + 2);
}

static void
test_totp_rfc6238(void **state)
{
    (void)state;
    for (size_t i = 0; i < RFC6238_COUNT; i++) {
        check_totp(seed_sha1, 20, OTP_SHA1, rfc6238[i].t, rfc6238[i].sha1);
        check_totp(seed_sha256, 32, OTP_SHA256, rfc6238[i].t, rfc6238[i].sha256);
        check_totp(seed_sha512, 64, OTP_SHA512, rfc6238[i].t, rfc6238[i].sha512);
    }
}

static void
test_step_and_params(void **state)
{
    (void)state;
    struct otp_params p;
    char out[OTP_MAX_DIGITS + 1];

    otp_params_default(&p);
    assert_int_equal(p.alg, OTP_SHA1);
    assert_int_equal(p.digits, 6);
    assert_int_equal(p.period, 30);
    assert_int_equal(otp_step(&p, 0), 0);
    assert_int_equal(otp_step(&p, 29), 0);
    assert_int_equal(otp_step(&p, 30), 1);
    assert_int_equal(otp_step(&p, 59), 1);
    assert_int_equal(otp_step(&p, -1), 0);
    assert_int_equal(otp_step(&p, -100), 0);
    p.period = 60;
    assert_int_equal(otp_step(&p, 20000000000), 333333333);

    /* The RFC 6238 T=59 value at period 60 is step 0, i.e. RFC 4226's counter 0. */
    assert_int_equal(otp_totp(rfc4226_key, RFC4226_KEY_LEN, &p, 59, out), AUTHD_OK);
    assert_string_equal(out, "755224");
    p.period = 0;
    assert_int_equal(otp_totp(rfc4226_key, RFC4226_KEY_LEN, &p, 59, out),
                     AUTHD_ERR_INVALID_ARGUMENT);
}

static void
test_alg_names(void **state)
{
    (void)state;
    enum otp_alg a = OTP_SHA512;

    assert_int_equal(otp_alg_parse("", &a), 0);
    assert_int_equal(a, OTP_SHA1);
    assert_int_equal(otp_alg_parse("sha256", &a), 0);
    assert_int_equal(a, OTP_SHA256);
    assert_int_equal(otp_alg_parse("SHA512", &a), 0);
    assert_int_equal(a, OTP_SHA512);
    assert_int_equal(otp_alg_parse("Sha1", &a), 0);
    assert_int_equal(a, OTP_SHA1);
    assert_int_equal(otp_alg_parse("MD5", &a), -1);
    assert_int_equal(otp_alg_parse("SHA1 ", &a), -1);
    assert_int_equal(otp_alg_parse("SHA-256", &a), -1);
    assert_int_equal(otp_alg_parse(NULL, &a), -1);
    assert_string_equal(otp_alg_name(OTP_SHA1), "SHA1");
    assert_string_equal(otp_alg_name(OTP_SHA256), "SHA256");
    assert_string_equal(otp_alg_name(OTP_SHA512), "SHA512");
}

/* ---- verification --------------------------------------------------------------------------- */

static int
verify(const struct otp_params *p, unsigned past, unsigned future, int64_t last_step,
       const char *code, int64_t *matched)
{
    return otp_verify(rfc4226_key, RFC4226_KEY_LEN, p, NOW, past, future, last_step, code, matched);
}

static void
test_verify_window(void **state)
{
    (void)state;
    struct otp_params p;
    char code[OTP_MAX_DIGITS + 1];
    int64_t m = 0;

    otp_params_default(&p);

    code_at_step(&p, NOW_STEP, code);
    assert_int_equal(verify(&p, 1, 1, -1, code, &m), AUTHD_OK);
    assert_int_equal(m, NOW_STEP);
    assert_int_equal(verify(&p, 0, 0, -1, code, &m), AUTHD_OK);
    assert_int_equal(m, NOW_STEP);

    /* past = 1: one step back is accepted, two are not. */
    code_at_step(&p, NOW_STEP - 1, code);
    assert_int_equal(verify(&p, 1, 1, -1, code, &m), AUTHD_OK);
    assert_int_equal(m, NOW_STEP - 1);
    assert_int_equal(verify(&p, 0, 1, -1, code, &m), AUTHD_ERR_WRONG_CODE);
    assert_int_equal(m, -1);
    code_at_step(&p, NOW_STEP - 2, code);
    assert_int_equal(verify(&p, 1, 1, -1, code, &m), AUTHD_ERR_WRONG_CODE);
    /* past = 2: two back is in, three back is out. */
    assert_int_equal(verify(&p, 2, 1, -1, code, &m), AUTHD_OK);
    assert_int_equal(m, NOW_STEP - 2);
    code_at_step(&p, NOW_STEP - 3, code);
    assert_int_equal(verify(&p, 2, 1, -1, code, &m), AUTHD_ERR_WRONG_CODE);

    /* future = 1: one step ahead is accepted, two are not. */
    code_at_step(&p, NOW_STEP + 1, code);
    assert_int_equal(verify(&p, 1, 1, -1, code, &m), AUTHD_OK);
    assert_int_equal(m, NOW_STEP + 1);
    assert_int_equal(verify(&p, 1, 0, -1, code, &m), AUTHD_ERR_WRONG_CODE);
    code_at_step(&p, NOW_STEP + 2, code);
    assert_int_equal(verify(&p, 1, 1, -1, code, &m), AUTHD_ERR_WRONG_CODE);

    /* A wrong code: the current one with its last digit changed. */
    code_at_step(&p, NOW_STEP, code);
    code[5] = (char)(code[5] == '9' ? '0' : code[5] + 1);
    assert_int_equal(verify(&p, 1, 1, -1, code, &m), AUTHD_ERR_WRONG_CODE);
    assert_int_equal(m, -1);

    /* Step 0 has no step before it: a window reaching below 0 still works. */
    assert_int_equal(otp_verify(rfc4226_key, RFC4226_KEY_LEN, &p, 5, 1, 1, -1, "755224", &m),
                     AUTHD_OK);
    assert_int_equal(m, 0);
}

static void
test_verify_replay(void **state)
{
    (void)state;
    struct otp_params p;
    char code[OTP_MAX_DIGITS + 1];
    int64_t m = 0;

    otp_params_default(&p);
    for (int64_t s = NOW_STEP - 1; s <= NOW_STEP + 1; s++) {
        code_at_step(&p, s, code);
        assert_int_equal(verify(&p, 1, 1, s, code, &m), AUTHD_ERR_WRONG_CODE);
        assert_int_equal(m, -1);
        assert_int_equal(verify(&p, 1, 1, s + 1, code, &m), AUTHD_ERR_WRONG_CODE);
        assert_int_equal(verify(&p, 1, 1, s - 1, code, &m), AUTHD_OK);
        assert_int_equal(m, s);
        assert_int_equal(verify(&p, 1, 1, INT64_MIN, code, &m), AUTHD_OK);
        assert_int_equal(m, s);
    }
}

static void
test_verify_other_params(void **state)
{
    (void)state;
    struct otp_params p = {.alg = OTP_SHA256, .digits = 8, .period = 30};
    int64_t m = 0;

    /* RFC 6238 T = 59 (step 1), SHA-256, 8 digits. */
    assert_int_equal(otp_verify(seed_sha256, 32, &p, 59, 0, 0, -1, "46119246", &m), AUTHD_OK);
    assert_int_equal(m, 1);
    assert_int_equal(otp_verify(seed_sha256, 32, &p, 59, 0, 0, 1, "46119246", &m),
                     AUTHD_ERR_WRONG_CODE);
    /* the SHA-1 value for the same step is not the SHA-256 one */
    assert_int_equal(otp_verify(seed_sha256, 32, &p, 59, 0, 0, -1, "94287082", &m),
                     AUTHD_ERR_WRONG_CODE);
    p.alg = OTP_SHA512;
    assert_int_equal(otp_verify(seed_sha512, 64, &p, 2000000000, 1, 1, -1, "38618901", &m),
                     AUTHD_OK);
    assert_int_equal(m, 2000000000 / 30);
    /* 6 digits: the 8-digit code is refused, its last six accepted */
    p.digits = 6;
    assert_int_equal(otp_verify(seed_sha512, 64, &p, 2000000000, 1, 1, -1, "38618901", &m),
                     AUTHD_ERR_WRONG_CODE);
    assert_int_equal(otp_verify(seed_sha512, 64, &p, 2000000000, 1, 1, -1, "618901", &m), AUTHD_OK);

    /* Bad parameters are a bug of the caller, not a wrong code. */
    p.digits = 9;
    assert_int_equal(otp_verify(seed_sha512, 64, &p, 59, 1, 1, -1, "123456789", &m),
                     AUTHD_ERR_INTERNAL);
    p.digits = 6;
    assert_int_equal(otp_verify(seed_sha512, 0, &p, 59, 1, 1, -1, "123456", &m),
                     AUTHD_ERR_INTERNAL);
    assert_int_equal(m, -1);
}

static void
test_verify_malformed(void **state)
{
    (void)state;
    struct otp_params p;
    char code[OTP_MAX_DIGITS + 1], bad[32];
    int64_t m = 0;

    otp_params_default(&p);
    code_at_step(&p, NOW_STEP, code);
    assert_int_equal(verify(&p, 1, 1, -1, code, &m), AUTHD_OK);

    /* Every variant keeps the right digits, so only the format check can refuse it. */
    char bad_codes[8][32];
    snprintf(bad_codes[0], sizeof(bad_codes[0]), "%.5s", code);       /* 5 digits */
    snprintf(bad_codes[1], sizeof(bad_codes[1]), "%s0", code);        /* 7 digits */
    snprintf(bad_codes[2], sizeof(bad_codes[2]), "%s ", code);        /* trailing space */
    snprintf(bad_codes[3], sizeof(bad_codes[3]), " %s", code);        /* leading space */
    snprintf(bad_codes[4], sizeof(bad_codes[4]), "%s\n", code);       /* trailing newline */
    snprintf(bad_codes[5], sizeof(bad_codes[5]), "%sa", code);        /* trailing letter */
    snprintf(bad_codes[6], sizeof(bad_codes[6]), "%s%s", code, code); /* twice */
    snprintf(bad_codes[7], sizeof(bad_codes[7]), "+%.5s", code);      /* a sign */
    for (size_t i = 0; i < sizeof(bad_codes) / sizeof(bad_codes[0]); i++) {
        assert_int_equal(verify(&p, 1, 1, -1, bad_codes[i], &m), AUTHD_ERR_WRONG_CODE);
        assert_int_equal(m, -1);
    }
    /* space inside, letters */
    snprintf(bad, sizeof(bad), "%.3s %.3s", code, code + 3);
    assert_int_equal(verify(&p, 1, 1, -1, bad, &m), AUTHD_ERR_WRONG_CODE);
    assert_int_equal(verify(&p, 1, 1, -1, "abcdef", &m), AUTHD_ERR_WRONG_CODE);
    assert_int_equal(verify(&p, 1, 1, -1, "12345a", &m), AUTHD_ERR_WRONG_CODE);
    assert_int_equal(verify(&p, 1, 1, -1, "12345", &m), AUTHD_ERR_WRONG_CODE);
    assert_int_equal(verify(&p, 1, 1, -1, "1234567", &m), AUTHD_ERR_WRONG_CODE);
    assert_int_equal(verify(&p, 1, 1, -1, "", &m), AUTHD_ERR_WRONG_CODE);
    assert_int_equal(verify(&p, 1, 1, -1, NULL, &m), AUTHD_ERR_WRONG_CODE);
    assert_int_equal(m, -1);
}

struct thread_arg {
    int failures;
};

static void *
hotp_thread(void *p)
{
    struct thread_arg *a = p;
    char out[OTP_MAX_DIGITS + 1];

    for (int round = 0; round < 200; round++) {
        for (uint64_t c = 0; c < 10; c++) {
            if (otp_hotp(rfc4226_key, RFC4226_KEY_LEN, OTP_SHA1, c, 6, out) != AUTHD_OK ||
                strcmp(out, rfc4226_hotp[c]) != 0)
                a->failures++;
        }
    }
    return NULL;
}

/* The shared HMAC templates are only read after their one-time setup: threads agree. */
static void
test_threads(void **state)
{
    (void)state;
    pthread_t th[4];
    struct thread_arg args[4];

    for (int i = 0; i < 4; i++) {
        args[i].failures = 0;
        assert_int_equal(pthread_create(&th[i], NULL, hotp_thread, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(args[i].failures, 0);
    }
}

/* ---- base32 --------------------------------------------------------------------------------- */

static void
test_base32_rfc4648(void **state)
{
    (void)state;
    static const struct {
        const char *plain, *b32;
    } v[] = {
        {"", ""},
        {"f", "MY"},
        {"fo", "MZXQ"},
        {"foo", "MZXW6"},
        {"foob", "MZXW6YQ"},
        {"fooba", "MZXW6YTB"},
        {"foobar", "MZXW6YTBOI"},
    };
    char enc[32];
    uint8_t dec[16];

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        size_t n = strlen(v[i].plain);
        assert_int_equal(otp_base32_len(n), strlen(v[i].b32));
        memset(enc, 'x', sizeof(enc));
        otp_base32_encode((const uint8_t *)v[i].plain, n, enc);
        assert_string_equal(enc, v[i].b32);
        assert_int_equal(otp_base32_decode(v[i].b32, dec, sizeof(dec)), (long)n);
        assert_memory_equal(dec, v[i].plain, n);
    }
    assert_int_equal(otp_base32_len(OTP_SECRET_BYTES), 32);
}

static void
test_base32_decode_lenient(void **state)
{
    (void)state;
    uint8_t dec[16];

    assert_int_equal(otp_base32_decode("mzxw6ytboi", dec, sizeof(dec)), 6);
    assert_memory_equal(dec, "foobar", 6);
    assert_int_equal(otp_base32_decode("MzXw 6yTb oI", dec, sizeof(dec)), 6);
    assert_memory_equal(dec, "foobar", 6);
    /* RFC 4648's padded forms */
    assert_int_equal(otp_base32_decode("MY======", dec, sizeof(dec)), 1);
    assert_memory_equal(dec, "f", 1);
    assert_int_equal(otp_base32_decode("MZXW6YQ=", dec, sizeof(dec)), 4);
    assert_memory_equal(dec, "foob", 4);
    assert_int_equal(otp_base32_decode("mzxw 6yq= ", dec, sizeof(dec)), 4);
    assert_memory_equal(dec, "foob", 4);
    assert_int_equal(otp_base32_decode("   ", dec, sizeof(dec)), 0);

    /* A random 160-bit secret round-trips. */
    uint8_t secret[OTP_SECRET_BYTES], back[OTP_SECRET_BYTES];
    char text[64];
    for (size_t i = 0; i < sizeof(secret); i++)
        secret[i] = (uint8_t)(i * 37 + 11);
    otp_base32_encode(secret, sizeof(secret), text);
    assert_int_equal(strlen(text), 32);
    assert_int_equal(otp_base32_decode(text, back, sizeof(back)), OTP_SECRET_BYTES);
    assert_memory_equal(back, secret, sizeof(secret));
}

static void
test_base32_decode_strict(void **state)
{
    (void)state;
    uint8_t dec[16];

    /* digits outside 2..7 */
    assert_int_equal(otp_base32_decode("MZXW1YQ", dec, sizeof(dec)), -1);
    assert_int_equal(otp_base32_decode("MZXW8YQ", dec, sizeof(dec)), -1);
    assert_int_equal(otp_base32_decode("MZXW0YQ", dec, sizeof(dec)), -1);
    assert_int_equal(otp_base32_decode("MZXW9YQ", dec, sizeof(dec)), -1);
    /* other characters */
    assert_int_equal(otp_base32_decode("MZXW-6YQ", dec, sizeof(dec)), -1);
    assert_int_equal(otp_base32_decode("MZXW\t6YQ", dec, sizeof(dec)), -1);
    assert_int_equal(otp_base32_decode("MZXW\n6YQ", dec, sizeof(dec)), -1);
    assert_int_equal(otp_base32_decode("MZXW\xc3\xa9"
                                       "6YQ",
                                       dec, sizeof(dec)),
                     -1);
    /* non-zero trailing bits: "MZ" and "MZXR" have bits set past the last byte */
    assert_int_equal(otp_base32_decode("MZ", dec, sizeof(dec)), -1);
    assert_int_equal(otp_base32_decode("MZXR", dec, sizeof(dec)), -1);
    assert_int_equal(otp_base32_decode("MZXW6YTBOJ", dec, sizeof(dec)), -1);
    /* lengths that end inside a character (1, 3, 6 mod 8) */
    assert_int_equal(otp_base32_decode("M", dec, sizeof(dec)), -1);
    assert_int_equal(otp_base32_decode("A", dec, sizeof(dec)), -1);
    assert_int_equal(otp_base32_decode("MZX", dec, sizeof(dec)), -1);
    assert_int_equal(otp_base32_decode("MZXW6Y", dec, sizeof(dec)), -1);
    /* data after padding */
    assert_int_equal(otp_base32_decode("MY==MY", dec, sizeof(dec)), -1);
    assert_int_equal(otp_base32_decode("MZXQ====MZXQ", dec, sizeof(dec)), -1);
    assert_int_equal(otp_base32_decode("MZ=XQ", dec, sizeof(dec)), -1);
    assert_int_equal(otp_base32_decode(NULL, dec, sizeof(dec)), -1);
}

static void
test_base32_decode_cap(void **state)
{
    (void)state;
    uint8_t dec[8];

    memset(dec, 0xaa, sizeof(dec));
    assert_int_equal(otp_base32_decode("MZXW6YTBOI", dec, 5), -1);
    /* nothing written past cap */
    assert_int_equal(dec[5], 0xaa);
    assert_int_equal(otp_base32_decode("MZXW6YTBOI", dec, 6), 6);
    assert_memory_equal(dec, "foobar", 6);
    assert_int_equal(otp_base32_decode("MY", dec, 0), -1);
    assert_int_equal(otp_base32_decode("", NULL, 0), 0);
}

/* ---- otpauth:// URI ------------------------------------------------------------------------- */

static void
test_uri(void **state)
{
    (void)state;
    struct buf b;
    struct otp_params p;

    buf_init(&b, 1024);
    otp_params_default(&p);
    assert_int_equal(otp_uri(&b, "Acme Co", "a+b@example.com", "JBSWY3DPEHPK3PXP", &p), AUTHD_OK);
    assert_string_equal(b.data, "otpauth://totp/Acme%20Co:a%2Bb%40example.com"
                                "?secret=JBSWY3DPEHPK3PXP&issuer=Acme%20Co");
    buf_free(&b);

    p.alg = OTP_SHA256;
    p.digits = 8;
    p.period = 60;
    assert_int_equal(otp_uri(&b, "Acme Co", "a+b@example.com", "JBSWY3DPEHPK3PXP", &p), AUTHD_OK);
    assert_string_equal(b.data, "otpauth://totp/Acme%20Co:a%2Bb%40example.com"
                                "?secret=JBSWY3DPEHPK3PXP&issuer=Acme%20Co"
                                "&algorithm=SHA256&digits=8&period=60");
    buf_free(&b);

    /* One non-default at a time; a ':' in the issuer is encoded, the separator is not. */
    otp_params_default(&p);
    p.alg = OTP_SHA512;
    assert_int_equal(otp_uri(&b, "A:B", "u", "MY", &p), AUTHD_OK);
    assert_string_equal(b.data, "otpauth://totp/A%3AB:u?secret=MY&issuer=A%3AB&algorithm=SHA512");
    buf_free(&b);
    otp_params_default(&p);
    p.digits = 7;
    assert_int_equal(otp_uri(&b, "X", "u", "MY", &p), AUTHD_OK);
    assert_string_equal(b.data, "otpauth://totp/X:u?secret=MY&issuer=X&digits=7");
    buf_free(&b);
    otp_params_default(&p);
    p.period = 45;
    assert_int_equal(otp_uri(&b, "X", "u", "MY", &p), AUTHD_OK);
    assert_string_equal(b.data, "otpauth://totp/X:u?secret=MY&issuer=X&period=45");
    buf_free(&b);
    /* NULL params are the defaults */
    assert_int_equal(otp_uri(&b, "X", "u", "MY", NULL), AUTHD_OK);
    assert_string_equal(b.data, "otpauth://totp/X:u?secret=MY&issuer=X");
    buf_free(&b);
}

static void
test_uri_errors(void **state)
{
    (void)state;
    struct buf b;
    struct otp_params p;

    otp_params_default(&p);
    buf_init(&b, 1024);
    assert_int_equal(buf_puts(&b, "keep"), AUTHD_OK);
    assert_int_equal(otp_uri(&b, NULL, "u", "MY", &p), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(otp_uri(&b, "X", NULL, "MY", &p), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(otp_uri(&b, "X", "u", NULL, &p), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(otp_uri(&b, "", "u", "MY", &p), AUTHD_ERR_INVALID_ARGUMENT);
    p.digits = 9;
    assert_int_equal(otp_uri(&b, "X", "u", "MY", &p), AUTHD_ERR_INVALID_ARGUMENT);
    assert_string_equal(b.data, "keep");
    buf_free(&b);

    /* Too long for the buffer: an error, and no half URI left behind. */
    otp_params_default(&p);
    buf_init(&b, 40);
    assert_int_equal(buf_puts(&b, "keep"), AUTHD_OK);
    assert_int_equal(otp_uri(&b, "Acme Co", "a+b@example.com", "JBSWY3DPEHPK3PXP", &p),
                     AUTHD_ERR_TOO_LARGE);
    assert_int_equal(b.len, 4);
    assert_string_equal(b.data, "keep");
    buf_free(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hotp_rfc4226),
        cmocka_unit_test(test_hotp_bad_args),
        cmocka_unit_test(test_totp_rfc6238),
        cmocka_unit_test(test_step_and_params),
        cmocka_unit_test(test_alg_names),
        cmocka_unit_test(test_verify_window),
        cmocka_unit_test(test_verify_replay),
        cmocka_unit_test(test_verify_other_params),
        cmocka_unit_test(test_verify_malformed),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_base32_rfc4648),
        cmocka_unit_test(test_base32_decode_lenient),
        cmocka_unit_test(test_base32_decode_strict),
        cmocka_unit_test(test_base32_decode_cap),
        cmocka_unit_test(test_uri),
        cmocka_unit_test(test_uri_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
