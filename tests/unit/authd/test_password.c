/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for authd/password.c: Argon2id hashing and verification, which implementation
 * computes what (libsodium for parallelism 1 with our salt size, libargon2 for the rest), PHC
 * string interop with libargon2's and libsodium's own encoders and verifiers, the strict PHC
 * parser, rehash detection and the password policy. Small memory costs keep most tests fast;
 * no test asserts on timing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <argon2.h>
#include <sodium.h>

#include "common/err.h"
#include "common/metrics.h"
#include "authd/password.h"

static const struct password_params small = {.t_cost = 1, .m_cost_kib = 64, .parallelism = 1};

/* Hashes computed so far, and of those, by libsodium. */
static void
counts(uint64_t *hashes, uint64_t *sodium)
{
    struct password_pool_stats st;
    password_pool_stats(&st);
    *hashes = st.hashes;
    *sodium = st.sodium;
}

/* Decodes unpadded standard base64 (test helper; the code under test has its own). */
static size_t
test_b64_decode(const char *s, size_t len, uint8_t *out)
{
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        const char *p = strchr(alpha, s[i]);
        assert_non_null(p);
        acc = (acc << 6) | (uint32_t)(p - alpha);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return o;
}

/* Extracts the salt of a PHC string (the fourth '$' field). */
static size_t
phc_salt(const char *phc, uint8_t *salt)
{
    const char *p = phc;
    for (int i = 0; i < 4; i++) {
        p = strchr(p, '$');
        assert_non_null(p);
        p++;
    }
    const char *end = strchr(p, '$');
    assert_non_null(end);
    return test_b64_decode(p, (size_t)(end - p), salt);
}

static void
test_default_params(void **state)
{
    (void)state;
    struct password_params p;
    password_params_default(&p);
    assert_int_equal(p.m_cost_kib, 19456);
    assert_int_equal(p.t_cost, 2);
    assert_int_equal(p.parallelism, 1);
}

static void
test_round_trip_defaults(void **state)
{
    (void)state;
    struct password_params def;
    char *phc = NULL;
    int rehash = -1;
    password_params_default(&def);

    assert_int_equal(password_hash(&def, "correct horse", 13, &phc), AUTHD_OK);
    assert_non_null(phc);
    assert_true(strncmp(phc, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0);
    /* 22 chars of salt, '$', 43 chars of hash, no padding */
    assert_int_equal(strlen(phc), 31 + 22 + 1 + 43);
    assert_null(strchr(phc + 31, '=')); /* no base64 padding */
    assert_int_equal(password_verify(phc, "correct horse", 13, &def, &rehash), AUTHD_OK);
    assert_int_equal(rehash, 0);
    /* NULL params mean the defaults. */
    char *phc2 = NULL;
    assert_int_equal(password_hash(NULL, "correct horse", 13, &phc2), AUTHD_OK);
    assert_true(strncmp(phc2, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0);
    assert_string_not_equal(phc, phc2); /* fresh salt each time */
    free(phc);
    free(phc2);
}

static void
test_wrong_password(void **state)
{
    (void)state;
    char *phc = NULL;
    int rehash = -1;
    assert_int_equal(password_hash(&small, "password1", 9, &phc), AUTHD_OK);
    assert_int_equal(password_verify(phc, "password2", 9, &small, &rehash),
                     AUTHD_ERR_INVALID_CREDENTIALS);
    assert_int_equal(rehash, 0);
    assert_int_equal(password_verify(phc, "password", 8, &small, NULL),
                     AUTHD_ERR_INVALID_CREDENTIALS);
    assert_int_equal(password_verify(phc, "password11", 10, &small, NULL),
                     AUTHD_ERR_INVALID_CREDENTIALS);
    assert_int_equal(password_verify(phc, "", 0, &small, NULL), AUTHD_ERR_INVALID_CREDENTIALS);
    assert_int_equal(password_verify(phc, NULL, 0, &small, NULL), AUTHD_ERR_INVALID_CREDENTIALS);
    assert_int_equal(password_verify(phc, "password1", 9, &small, NULL), AUTHD_OK);
    free(phc);
}

static void
test_needs_rehash(void **state)
{
    (void)state;
    char *phc = NULL;
    int rehash;
    assert_int_equal(password_hash(&small, "password1", 9, &phc), AUTHD_OK);

    struct password_params other = small;
    other.m_cost_kib = 128;
    rehash = 0;
    assert_int_equal(password_verify(phc, "password1", 9, &other, &rehash), AUTHD_OK);
    assert_int_equal(rehash, 1);

    other = small;
    other.t_cost = 2;
    rehash = 0;
    assert_int_equal(password_verify(phc, "password1", 9, &other, &rehash), AUTHD_OK);
    assert_int_equal(rehash, 1);

    other = small;
    other.parallelism = 2;
    rehash = 0;
    assert_int_equal(password_verify(phc, "password1", 9, &other, &rehash), AUTHD_OK);
    assert_int_equal(rehash, 1);

    rehash = 1;
    assert_int_equal(password_verify(phc, "password1", 9, &small, &rehash), AUTHD_OK);
    assert_int_equal(rehash, 0);
    rehash = 1;
    assert_int_equal(password_verify(phc, "password1", 9, NULL, &rehash), AUTHD_OK);
    assert_int_equal(rehash, 0);
    /* A wrong password never reports a rehash. */
    rehash = 1;
    assert_int_equal(password_verify(phc, "password2", 9, &other, &rehash),
                     AUTHD_ERR_INVALID_CREDENTIALS);
    assert_int_equal(rehash, 0);
    free(phc);
}

static void
test_interop_ours_to_libargon2(void **state)
{
    (void)state;
    const struct password_params params[] = {
        {.t_cost = 1, .m_cost_kib = 64, .parallelism = 1},
        {.t_cost = 3, .m_cost_kib = 256, .parallelism = 2},
    };
    for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
        char *phc = NULL;
        assert_int_equal(password_hash(&params[i], "hunter2hunter2", 14, &phc), AUTHD_OK);
        assert_int_equal(argon2id_verify(phc, "hunter2hunter2", 14), ARGON2_OK);
        assert_int_equal(argon2id_verify(phc, "hunter2hunter3", 14), ARGON2_VERIFY_MISMATCH);

        /* Byte-exact: libargon2's encoder with our salt writes the very same string. */
        uint8_t salt[64];
        size_t salt_len = phc_salt(phc, salt);
        assert_int_equal(salt_len, 16);
        char enc[256];
        assert_int_equal(argon2id_hash_encoded(params[i].t_cost, params[i].m_cost_kib,
                                               params[i].parallelism, "hunter2hunter2", 14, salt,
                                               salt_len, 32, enc, sizeof(enc)),
                         ARGON2_OK);
        assert_string_equal(enc, phc);
        free(phc);
    }
}

static void
test_interop_libargon2_to_ours(void **state)
{
    (void)state;
    const uint8_t salt[16] = "0123456789abcdef";
    char enc[256];
    int rehash = -1;

    uint64_t h0, s0, h1, s1;

    assert_int_equal(argon2id_hash_encoded(1, 64, 1, "s3cret-pass", 11, salt, sizeof(salt), 32, enc,
                                           sizeof(enc)),
                     ARGON2_OK);
    counts(&h0, &s0);
    assert_int_equal(password_verify(enc, "s3cret-pass", 11, &small, &rehash), AUTHD_OK);
    assert_int_equal(rehash, 0);
    assert_int_equal(password_verify(enc, "s3cret-pasS", 11, &small, NULL),
                     AUTHD_ERR_INVALID_CREDENTIALS);
    counts(&h1, &s1);
    assert_int_equal(s1 - s0, 2); /* libargon2's string, judged by libsodium */

    /* Other salt/hash sizes are accepted but ask for a rehash to our 16/32 (the 8-byte salt is
     * one libsodium does not take: libargon2 judges it). */
    assert_int_equal(
        argon2id_hash_encoded(1, 64, 1, "s3cret-pass", 11, salt, 8, 24, enc, sizeof(enc)),
        ARGON2_OK);
    rehash = 0;
    counts(&h0, &s0);
    assert_int_equal(password_verify(enc, "s3cret-pass", 11, &small, &rehash), AUTHD_OK);
    assert_int_equal(rehash, 1);
    assert_int_equal(password_verify(enc, "s3cret-pasS", 11, &small, NULL),
                     AUTHD_ERR_INVALID_CREDENTIALS);
    counts(&h1, &s1);
    assert_int_equal(h1 - h0, 2);
    assert_int_equal(s1 - s0, 0);
}

/*
 * Parallelism 1 with our 16-byte salt is computed by libsodium, both when hashing and when
 * verifying; the strings verify with libsodium's and libargon2's own verifiers, and a wrong
 * password is refused by all three.
 */
static void
test_sodium_computes_p1(void **state)
{
    (void)state;
    uint64_t h0, s0, h1, s1;
    char *phc = NULL;

    counts(&h0, &s0);
    assert_int_equal(password_hash(&small, "sodium-made-pass", 16, &phc), AUTHD_OK);
    assert_int_equal(password_verify(phc, "sodium-made-pass", 16, &small, NULL), AUTHD_OK);
    assert_int_equal(password_verify(phc, "sodium-made-pasz", 16, &small, NULL),
                     AUTHD_ERR_INVALID_CREDENTIALS);
    password_burn(&small, "sodium-made-pass", 16);
    counts(&h1, &s1);
    assert_int_equal(h1 - h0, 4);
    assert_int_equal(s1 - s0, 4);

    assert_int_equal(crypto_pwhash_str_verify(phc, "sodium-made-pass", 16), 0);
    assert_int_equal(crypto_pwhash_str_verify(phc, "sodium-made-pasz", 16), -1);
    assert_int_equal(argon2id_verify(phc, "sodium-made-pass", 16), ARGON2_OK);
    assert_int_equal(argon2id_verify(phc, "sodium-made-pasz", 16), ARGON2_VERIFY_MISMATCH);
    free(phc);
}

/* A hash libsodium encoded itself verifies with ours (through libsodium), the right way only. */
static void
test_interop_libsodium_to_ours(void **state)
{
    (void)state;
    char enc[crypto_pwhash_STRBYTES];
    int rehash = -1;

    assert_int_equal(crypto_pwhash_str_alg(enc, "from-libsodium", 14, 1, 64 * 1024,
                                           crypto_pwhash_ALG_ARGON2ID13),
                     0);
    assert_true(strncmp(enc, "$argon2id$v=19$m=64,t=1,p=1$", 28) == 0);
    assert_int_equal(password_verify(enc, "from-libsodium", 14, &small, &rehash), AUTHD_OK);
    assert_int_equal(rehash, 0);
    assert_int_equal(password_verify(enc, "from-libsodiuM", 14, &small, &rehash),
                     AUTHD_ERR_INVALID_CREDENTIALS);
    assert_int_equal(rehash, 0);
    /* At another cost it verifies and asks for a rehash to the current one. */
    struct password_params cur = small;
    cur.t_cost = 2;
    assert_int_equal(password_verify(enc, "from-libsodium", 14, &cur, &rehash), AUTHD_OK);
    assert_int_equal(rehash, 1);
}

/*
 * Parallelism above 1 (--argon2-parallelism) is libargon2's: new hashes are still made, hashes
 * stored with p > 1 by libargon2 still verify, a wrong password is refused, and with p=1 as the
 * current cost such a hash asks for a rehash, which libsodium then computes.
 */
static void
test_parallelism_above_one(void **state)
{
    (void)state;
    const struct password_params p4 = {.t_cost = 1, .m_cost_kib = 256, .parallelism = 4};
    uint64_t h0, s0, h1, s1;
    char *phc = NULL;
    int rehash = -1;

    counts(&h0, &s0);
    assert_int_equal(password_hash(&p4, "four-lanes-pass", 15, &phc), AUTHD_OK);
    assert_true(strncmp(phc, "$argon2id$v=19$m=256,t=1,p=4$", 29) == 0);
    assert_int_equal(password_verify(phc, "four-lanes-pass", 15, &p4, &rehash), AUTHD_OK);
    assert_int_equal(rehash, 0);
    assert_int_equal(password_verify(phc, "four-lanes-pasS", 15, &p4, NULL),
                     AUTHD_ERR_INVALID_CREDENTIALS);
    counts(&h1, &s1);
    assert_int_equal(h1 - h0, 3);
    assert_int_equal(s1 - s0, 0);
    assert_int_equal(argon2id_verify(phc, "four-lanes-pass", 15), ARGON2_OK);
    assert_int_equal(argon2id_verify(phc, "four-lanes-pasS", 15), ARGON2_VERIFY_MISMATCH);
    free(phc);

    /* Stored by libargon2 itself with p=2: verifies, and moves to p=1 through libsodium. */
    const uint8_t salt[16] = "p2-salt-16-bytes";
    char enc[256];
    assert_int_equal(argon2id_hash_encoded(2, 128, 2, "two-lanes-pass", 14, salt, sizeof(salt), 32,
                                           enc, sizeof(enc)),
                     ARGON2_OK);
    rehash = 0;
    assert_int_equal(password_verify(enc, "two-lanes-pass", 14, &small, &rehash), AUTHD_OK);
    assert_int_equal(rehash, 1);
    assert_int_equal(password_verify(enc, "two-lanes-pasS", 14, &small, &rehash),
                     AUTHD_ERR_INVALID_CREDENTIALS);
    assert_int_equal(rehash, 0);
    counts(&h0, &s0);
    assert_int_equal(password_hash(&small, "two-lanes-pass", 14, &phc), AUTHD_OK);
    counts(&h1, &s1);
    assert_int_equal(s1 - s0, 1);
    assert_int_equal(password_verify(phc, "two-lanes-pass", 14, &small, &rehash), AUTHD_OK);
    assert_int_equal(rehash, 0);
    free(phc);
}

/*
 * One slot running libargon2 (which keeps its work area), then libsodium (which makes the slot
 * give the area back), then libargon2 again with a larger area, and so on: every answer right.
 */
static void
test_one_slot_mixed(void **state)
{
    (void)state;
    const struct password_params seq[] = {
        {.t_cost = 1, .m_cost_kib = 256, .parallelism = 2},
        {.t_cost = 1, .m_cost_kib = 512, .parallelism = 1},
        {.t_cost = 1, .m_cost_kib = 1024, .parallelism = 2},
        {.t_cost = 1, .m_cost_kib = 128, .parallelism = 2},
        {.t_cost = 2, .m_cost_kib = 64, .parallelism = 1},
        {.t_cost = 1, .m_cost_kib = 2048, .parallelism = 3},
    };
    char *phc[6] = {NULL};

    assert_int_equal(password_pool_init(1), AUTHD_OK);
    for (int round = 0; round < 2; round++)
        for (size_t i = 0; i < 6; i++) {
            if (phc[i] == NULL)
                assert_int_equal(password_hash(&seq[i], "one-slot-pass", 13, &phc[i]), AUTHD_OK);
            assert_int_equal(password_verify(phc[i], "one-slot-pass", 13, &seq[i], NULL), AUTHD_OK);
            assert_int_equal(password_verify(phc[i], "one-slot-pasS", 13, &seq[i], NULL),
                             AUTHD_ERR_INVALID_CREDENTIALS);
            assert_int_equal(argon2id_verify(phc[i], "one-slot-pass", 13), ARGON2_OK);
        }
    for (size_t i = 0; i < 6; i++)
        free(phc[i]);
    assert_int_equal(password_pool_init(0), AUTHD_OK);
}

/*
 * Known answer: the reference vector from libargon2's own test suite, checked three ways:
 * libargon2's raw function gives the expected bytes, and our verifier accepts the encoded form
 * (which it parses with its own code) and refuses a one-bit change.
 */
static void
test_known_answer(void **state)
{
    (void)state;
    static const char expected_hex[] =
        "09316115d5cf24ed5a15a31a3ba326e5cf32edc24702987c02b6566f61913cf7";
    static const char expected_phc[] = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$"
                                       "CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";
    uint8_t raw[32];
    char hex[65];

    assert_int_equal(argon2id_hash_raw(2, 65536, 1, "password", 8, "somesalt", 8, raw, 32),
                     ARGON2_OK);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    assert_string_equal(hex, expected_hex);

    struct password_params def;
    password_params_default(&def);
    int rehash = 0;
    assert_int_equal(password_verify(expected_phc, "password", 8, &def, &rehash), AUTHD_OK);
    assert_int_equal(rehash, 1); /* m=65536 and an 8-byte salt differ from the defaults */
    struct password_params kat = {.t_cost = 2, .m_cost_kib = 65536, .parallelism = 1};
    assert_int_equal(password_verify(expected_phc, "password", 8, &kat, &rehash), AUTHD_OK);
    assert_int_equal(rehash, 1); /* the 8-byte salt alone */

    char flipped[sizeof(expected_phc)];
    memcpy(flipped, expected_phc, sizeof(flipped));
    flipped[sizeof(flipped) - 3] = 'Q'; /* 'P' -> 'Q' changes one bit of the hash */
    assert_int_equal(password_verify(flipped, "password", 8, &def, NULL),
                     AUTHD_ERR_INVALID_CREDENTIALS);
}

static void
test_malformed_phc(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "$",
        "argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$",
        "$argon2i$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAA",
        "$argon2d$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAA",
        "$argon2ID$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAA",
        "$scrypt$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAA",
        /* wrong or missing version */
        "$argon2id$v=16$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAA",
        "$argon2id$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAA",
        "$argon2id$v=019$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAA",
        /* absurd or malformed parameters */
        "$argon2id$v=19$m=4194305,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAA",
        "$argon2id$v=19$m=99999999999,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAA",
        "$argon2id$v=19$m=4294967296,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAA",
        "$argon2id$v=19$m=7,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAA",
        "$argon2id$v=19$m=8,t=1,p=2$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAA",
        "$argon2id$v=19$m=64,t=0,p=1$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAA",
        "$argon2id$v=19$m=64,t=101,p=1$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAA",
        "$argon2id$v=19$m=64,t=1,p=0$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAA",
        "$argon2id$v=19$m=640,t=1,p=17$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAA",
        "$argon2id$v=19$m=064,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAA",
        "$argon2id$v=19$m=-64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAA",
        "$argon2id$v=19$m= 64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAA",
        "$argon2id$v=19$t=1,m=64,p=1$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAA",
        "$argon2id$v=19$m=64,t=1$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAA",
        "$argon2id$v=19$m=64,t=1,p=1,keyid=x$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAA",
        /* bad base64: characters, padding, url alphabet, non-canonical last char */
        "$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2R*Zg$AAAAAAAAAAAAAAAAAAAAAA",
        "$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg==$AAAAAAAAAAAAAAAAAAAAAA",
        "$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAA-",
        "$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZh$AAAAAAAAAAAAAAAAAAAAAA",
        "$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAB",
        /* salt or hash too short (4 bytes) or too long (65 bytes) */
        "$argon2id$v=19$m=64,t=1,p=1$MDEyMw$AAAAAAAAAAAAAAAAAAAAAA",
        "$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAA",
        "$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        /* missing or extra fields, trailing garbage */
        "$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg",
        "$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$",
        "$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAA$",
        "$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAA ",
        "$argon2id$v=19$m=64,t=1,p=1$$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAA",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rehash = 1;
        int r = password_verify(bad[i], "password", 8, &small, &rehash);
        if (r != AUTHD_ERR_INVALID_CREDENTIALS)
            print_error("accepted or odd result %d for %s\n", r, bad[i]);
        assert_int_equal(r, AUTHD_ERR_INVALID_CREDENTIALS);
        assert_int_equal(rehash, 0);
    }
    assert_int_equal(password_verify(NULL, "password", 8, &small, NULL),
                     AUTHD_ERR_INVALID_CREDENTIALS);

    /* Over-long strings are refused before parsing. */
    char longphc[400];
    memset(longphc, 'A', sizeof(longphc) - 1);
    longphc[sizeof(longphc) - 1] = '\0';
    memcpy(longphc, "$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$", 52);
    assert_int_equal(password_verify(longphc, "password", 8, &small, NULL),
                     AUTHD_ERR_INVALID_CREDENTIALS);
}

/* Replaces the first from in s by to (into out). */
static void
replace(const char *s, const char *from, const char *to, char *out, size_t cap)
{
    const char *p = strstr(s, from);
    assert_non_null(p);
    snprintf(out, cap, "%.*s%s%s", (int)(p - s), s, to, p + strlen(from));
}

/*
 * Spelling variants of a valid hash that keep its numbers and bytes, so that the right password
 * would still match: only the strict parser can refuse these.
 */
static void
test_noncanonical_spellings(void **state)
{
    (void)state;
    static const char *const edits[][2] = {
        {"m=64,", "m=064,"},
        {",t=1,", ",t=01,"},
        {",p=1$", ",p=01$"},
        {"v=19$", "v=019$"},
        {"$argon2id$", "$Argon2id$"},
        {"m=64,t=1,", "t=1,m=64,"},
        {",p=1$", ",p=1,x=1$"},
        {"$v=19$", "$v=19,$"},
        {"$argon2id$v=19$", "$argon2id$"},
        {",p=1$", ",p=+1$"},
        {"m=64", "m=64 "},
    };
    char *phc = NULL;
    char buf[256];
    assert_int_equal(password_hash(&small, "password", 8, &phc), AUTHD_OK);
    assert_int_equal(password_verify(phc, "password", 8, &small, NULL), AUTHD_OK);
    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        replace(phc, edits[i][0], edits[i][1], buf, sizeof(buf));
        int r = password_verify(buf, "password", 8, &small, NULL);
        if (r != AUTHD_ERR_INVALID_CREDENTIALS)
            print_error("accepted: %s\n", buf);
        assert_int_equal(r, AUTHD_ERR_INVALID_CREDENTIALS);
    }
    /* padding, a trailing '$', white space or a newline after the hash */
    const char *suffixes[] = {"=", "==", "$", " ", "\n", "A"};
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        snprintf(buf, sizeof(buf), "%s%s", phc, suffixes[i]);
        assert_int_equal(password_verify(buf, "password", 8, &small, NULL),
                         AUTHD_ERR_INVALID_CREDENTIALS);
    }
    /* padding on the salt */
    const char *salt_end = strrchr(phc, '$');
    snprintf(buf, sizeof(buf), "%.*s==%s", (int)(salt_end - phc), phc, salt_end);
    assert_int_equal(password_verify(buf, "password", 8, &small, NULL),
                     AUTHD_ERR_INVALID_CREDENTIALS);
    free(phc);
}

/* Every truncation of a valid hash is refused (some still parse, none verifies). */
static void
test_truncated_phc(void **state)
{
    (void)state;
    char *phc = NULL;
    assert_int_equal(password_hash(&small, "password", 8, &phc), AUTHD_OK);
    size_t len = strlen(phc);
    char *cut = malloc(len + 1);
    assert_non_null(cut);
    for (size_t n = 0; n < len; n++) {
        memcpy(cut, phc, n);
        cut[n] = '\0';
        assert_int_equal(password_verify(cut, "password", 8, &small, NULL),
                         AUTHD_ERR_INVALID_CREDENTIALS);
    }
    assert_int_equal(password_verify(phc, "password", 8, &small, NULL), AUTHD_OK);
    free(cut);
    free(phc);
}

static void
test_hash_limits(void **state)
{
    (void)state;
    char *phc = (char *)1;
    char big[PASSWORD_MAX_LEN + 1];
    memset(big, 'x', sizeof(big));

    assert_int_equal(password_hash(&small, big, sizeof(big), &phc), AUTHD_ERR_TOO_LARGE);
    assert_null(phc);
    assert_int_equal(password_hash(&small, big, PASSWORD_MAX_LEN, &phc), AUTHD_OK);
    assert_int_equal(password_verify(phc, big, PASSWORD_MAX_LEN, &small, NULL), AUTHD_OK);
    /* An over-long presented password is refused, not truncated. */
    assert_int_equal(password_verify(phc, big, sizeof(big), &small, NULL),
                     AUTHD_ERR_INVALID_CREDENTIALS);
    free(phc);

    struct password_params bad = small;
    bad.m_cost_kib = 4;
    assert_int_equal(password_hash(&bad, "password", 8, &phc), AUTHD_ERR_INVALID_ARGUMENT);
    bad = small;
    bad.t_cost = 0;
    assert_int_equal(password_hash(&bad, "password", 8, &phc), AUTHD_ERR_INVALID_ARGUMENT);
    bad = small;
    bad.parallelism = 17;
    assert_int_equal(password_hash(&bad, "password", 8, &phc), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(password_hash(&small, "password", 8, NULL), AUTHD_ERR_INVALID_ARGUMENT);

    /* A password may be empty as far as hashing goes (the policy is the caller's check). */
    assert_int_equal(password_hash(&small, "", 0, &phc), AUTHD_OK);
    assert_int_equal(password_verify(phc, "", 0, &small, NULL), AUTHD_OK);
    free(phc);
}

/* Work areas: growing, shrinking back, and the uncached path for areas above the cache cap. */
static void
test_work_area_sizes(void **state)
{
    (void)state;
    const uint32_t sizes[] = {64, 1024, 64, 70000, 256};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        struct password_params p = {.t_cost = 1, .m_cost_kib = sizes[i], .parallelism = 1};
        char *phc = NULL;
        assert_int_equal(password_hash(&p, "grow-and-shrink", 15, &phc), AUTHD_OK);
        assert_int_equal(argon2id_verify(phc, "grow-and-shrink", 15), ARGON2_OK);
        assert_int_equal(password_verify(phc, "grow-and-shrink", 15, &p, NULL), AUTHD_OK);
        free(phc);
    }
}

static void *
thread_main(void *arg)
{
    int *ok = arg;
    *ok = 1;
    for (int i = 0; i < 4; i++) {
        char *phc = NULL;
        char pw[32];
        snprintf(pw, sizeof(pw), "thread-password-%d", i);
        if (password_hash(&small, pw, strlen(pw), &phc) != AUTHD_OK ||
            password_verify(phc, pw, strlen(pw), &small, NULL) != AUTHD_OK ||
            password_verify(phc, "nope-nope", 9, &small, NULL) != AUTHD_ERR_INVALID_CREDENTIALS)
            *ok = 0;
        free(phc);
    }
    return NULL;
}

/* Threads hash concurrently, each in a slot of the pool with its own work area. */
static void
test_threads(void **state)
{
    (void)state;
    pthread_t th[4];
    int ok[4] = {0};
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, thread_main, &ok[i]), 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(ok[i], 1);
    }
}

/* Hashes and verifies with a small cost; *ok stays 1 when every answer is right. */
static void *
pool_thread(void *arg)
{
    int *ok = arg;
    for (int i = 0; i < 3; i++) {
        char *phc = NULL;
        if (password_hash(&small, "pool-password", 13, &phc) != AUTHD_OK ||
            password_verify(phc, "pool-password", 13, &small, NULL) != AUTHD_OK)
            *ok = 0;
        free(phc);
        password_burn(&small, "pool-password", 13);
    }
    return NULL;
}

/* Eight threads hashing at once never run more Argon2 computations than the pool's size. */
static void
test_pool_bounds_concurrency(void **state)
{
    (void)state;
    struct password_pool_stats st;
    pthread_t th[8];
    int ok[8];

    assert_int_equal(password_pool_init(2), AUTHD_OK);
    password_pool_stats(&st);
    assert_int_equal(st.threads, 2);
    assert_int_equal(st.running_max, 0);
    uint64_t before = st.hashes;
    for (int i = 0; i < 8; i++) {
        ok[i] = 1;
        assert_int_equal(pthread_create(&th[i], NULL, pool_thread, &ok[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(ok[i], 1);
    }
    password_pool_stats(&st);
    assert_int_equal(st.hashes - before, 8 * 3 * 3);
    assert_int_equal(st.running, 0);
    assert_true(st.running_max >= 1 && st.running_max <= 2);
    /* One slot: strictly one at a time. */
    assert_int_equal(password_pool_init(1), AUTHD_OK);
    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&th[i], NULL, pool_thread, &ok[i]), 0);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(ok[i], 1);
    }
    password_pool_stats(&st);
    assert_int_equal(st.running_max, 1);
    /* 0: one per core. */
    assert_int_equal(password_pool_init(0), AUTHD_OK);
    password_pool_stats(&st);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    assert_int_equal(st.threads, cores < 1                      ? 1
                                 : cores > PASSWORD_THREADS_MAX ? PASSWORD_THREADS_MAX
                                                                : cores);
}

static void
test_burn(void **state)
{
    (void)state;
    /* Nothing observable but that it runs to completion on every kind of input. */
    password_burn(&small, "whatever-password", 17);
    password_burn(NULL, "whatever-password", 17);
    password_burn(&small, NULL, 0);
    password_burn(&small, "x", PASSWORD_MAX_LEN + 1);
}

static void
test_policy(void **state)
{
    (void)state;
    assert_int_equal(password_policy_check("1234567", 7), AUTHD_ERR_WEAK_PASSWORD);
    assert_int_equal(password_policy_check("12345678", 8), AUTHD_OK);
    assert_int_equal(password_policy_check("", 0), AUTHD_ERR_WEAK_PASSWORD);
    assert_int_equal(password_policy_check(NULL, 0), AUTHD_ERR_WEAK_PASSWORD);
    /* Code points, not bytes: 7 two-byte letters are 14 bytes but 7 characters. */
    const char *e7 = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9";
    const char *e8 = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9";
    assert_int_equal(password_policy_check(e7, strlen(e7)), AUTHD_ERR_WEAK_PASSWORD);
    assert_int_equal(password_policy_check(e8, strlen(e8)), AUTHD_OK);
    /* 7 four-byte emoji (28 bytes) are 7 characters; 8 are enough. */
    char emoji[64] = "";
    for (int i = 0; i < 7; i++)
        strcat(emoji, "\xf0\x9f\x94\x91");
    assert_int_equal(password_policy_check(emoji, strlen(emoji)), AUTHD_ERR_WEAK_PASSWORD);
    strcat(emoji, "\xf0\x9f\x94\x91");
    assert_int_equal(password_policy_check(emoji, strlen(emoji)), AUTHD_OK);
    /* Size limit in bytes. */
    char big[PASSWORD_MAX_LEN + 1];
    memset(big, 'a', sizeof(big));
    assert_int_equal(password_policy_check(big, PASSWORD_MAX_LEN), AUTHD_OK);
    assert_int_equal(password_policy_check(big, PASSWORD_MAX_LEN + 1), AUTHD_ERR_TOO_LARGE);
    /* An embedded NUL inside len is refused (C strings would silently cut it there). */
    assert_int_equal(password_policy_check("abcd\0efghij", 11), AUTHD_ERR_WEAK_PASSWORD);
    assert_int_equal(password_policy_check("abcdefghij\0", 11), AUTHD_ERR_WEAK_PASSWORD);
}

/*
 * A hash whose caller's deadline comes before a free slot is given up without computing:
 * AUTHD_ERR_DEADLINE, counted as expired, no hash started. The only slot is held by the test
 * (password_pool_hold) for the whole wait, so the outcome does not depend on the clock's pace:
 * the deadline must pass while the slot is busy. A deadline already past is refused even with a
 * free slot (the caller gave up); a later deadline, or none, hashes as before.
 */
static void
test_pool_wait_deadline(void **state)
{
    (void)state;
    struct password_pool_stats st0, st1;
    char *phc = NULL;
    int rehash = 1;

    assert_int_equal(password_pool_init(1), AUTHD_OK);
    assert_int_equal(password_hash(&small, "deadline-pw", 11, &phc), AUTHD_OK);
    password_pool_stats(&st0);

    /* Already past: nothing computed, even though the slot is free. */
    assert_int_equal(password_verify_by(phc, "deadline-pw", 11, &small, &rehash, 1),
                     AUTHD_ERR_DEADLINE);
    assert_int_equal(rehash, 0);
    assert_int_equal(password_burn_by(&small, "deadline-pw", 11, 1), AUTHD_ERR_DEADLINE);

    /* The only slot busy: the hashes wait, and give up when their deadline passes. */
    struct password_hold *h = password_pool_hold();
    assert_non_null(h);
    assert_int_equal(
        password_verify_by(phc, "deadline-pw", 11, &small, NULL, metrics_now_ns() + 20000000u),
        AUTHD_ERR_DEADLINE);
    assert_int_equal(password_burn_by(&small, "deadline-pw", 11, metrics_now_ns() + 1000000u),
                     AUTHD_ERR_DEADLINE);
    password_pool_unhold(h);

    password_pool_stats(&st1);
    assert_int_equal(st1.expired - st0.expired, 4);
    assert_int_equal(st1.hashes, st0.hashes); /* none of the four was computed */
    assert_int_equal(st1.running, 0);

    /* A free slot and a deadline still ahead, or none: judged as before. */
    assert_int_equal(
        password_verify_by(phc, "deadline-pw", 11, &small, NULL, metrics_now_ns() + 3600000000000u),
        AUTHD_OK);
    assert_int_equal(password_verify_by(phc, "deadline-px", 11, &small, NULL, 0),
                     AUTHD_ERR_INVALID_CREDENTIALS);
    assert_int_equal(password_burn_by(&small, "deadline-pw", 11, 0), AUTHD_OK);
    password_pool_stats(&st1);
    assert_int_equal(st1.hashes - st0.hashes, 3);
    assert_int_equal(st1.expired - st0.expired, 4);
    free(phc);
    assert_int_equal(password_pool_init(0), AUTHD_OK);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_params),
        cmocka_unit_test(test_round_trip_defaults),
        cmocka_unit_test(test_wrong_password),
        cmocka_unit_test(test_needs_rehash),
        cmocka_unit_test(test_interop_ours_to_libargon2),
        cmocka_unit_test(test_interop_libargon2_to_ours),
        cmocka_unit_test(test_sodium_computes_p1),
        cmocka_unit_test(test_interop_libsodium_to_ours),
        cmocka_unit_test(test_parallelism_above_one),
        cmocka_unit_test(test_one_slot_mixed),
        cmocka_unit_test(test_known_answer),
        cmocka_unit_test(test_malformed_phc),
        cmocka_unit_test(test_noncanonical_spellings),
        cmocka_unit_test(test_truncated_phc),
        cmocka_unit_test(test_hash_limits),
        cmocka_unit_test(test_work_area_sizes),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_pool_bounds_concurrency),
        cmocka_unit_test(test_pool_wait_deadline),
        cmocka_unit_test(test_burn),
        cmocka_unit_test(test_policy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
