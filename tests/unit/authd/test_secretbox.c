/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for authd/secretbox.c: AES-256-GCM boxes (round trips, fresh nonces, a published
 * GCM test vector in box form, tamper, associated-data, key and length checks) and the key
 * parser (hex and base64url).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"
#include "authd/secretbox.h"

static const uint8_t aad_user1[] = "user-1";
static const uint8_t aad_user2[] = "user-2";
#define AAD_LEN 6

static struct secretbox *
new_box(uint8_t key[SECRETBOX_KEY_BYTES])
{
    struct secretbox *sb = NULL;

    assert_int_equal(secret_random(key, SECRETBOX_KEY_BYTES), AUTHD_OK);
    assert_int_equal(secretbox_new(key, &sb), AUTHD_OK);
    assert_non_null(sb);
    return sb;
}

static void
fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + i * 131);
}

static void
test_round_trip(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, 20, 1000};
    uint8_t key[SECRETBOX_KEY_BYTES], msg[1000];
    struct secretbox *sb = new_box(key);

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t n = sizes[i];
        uint8_t *box = NULL, *pt = NULL;
        size_t boxlen = 0, ptlen = 99;

        fill(msg, n, (unsigned)i);
        assert_int_equal(secretbox_seal(sb, n ? msg : NULL, n, aad_user1, AAD_LEN, &box, &boxlen),
                         AUTHD_OK);
        assert_non_null(box);
        assert_int_equal(boxlen, n + SECRETBOX_OVERHEAD);
        if (n >= 16) /* the ciphertext is not the plaintext */
            assert_memory_not_equal(box + 12, msg, n);
        assert_int_equal(secretbox_open(sb, box, boxlen, aad_user1, AAD_LEN, &pt, &ptlen),
                         AUTHD_OK);
        assert_non_null(pt);
        assert_int_equal(ptlen, n);
        if (n > 0)
            assert_memory_equal(pt, msg, n);
        secret_freezero(pt, ptlen);
        free(box);
    }

    /* No associated data at all, sealed and opened alike. */
    uint8_t *box = NULL, *pt = NULL;
    size_t boxlen = 0, ptlen = 0;
    assert_int_equal(secretbox_seal(sb, msg, 20, NULL, 0, &box, &boxlen), AUTHD_OK);
    assert_int_equal(secretbox_open(sb, box, boxlen, NULL, 0, &pt, &ptlen), AUTHD_OK);
    assert_int_equal(ptlen, 20);
    assert_memory_equal(pt, msg, 20);
    secret_freezero(pt, ptlen);
    /* ...but not with some */
    assert_int_equal(secretbox_open(sb, box, boxlen, aad_user1, AAD_LEN, &pt, &ptlen),
                     AUTHD_ERR_INTERNAL);
    free(box);
    secretbox_free(sb);
    secretbox_free(NULL);
}

static void
test_fresh_nonce(void **state)
{
    (void)state;
    uint8_t key[SECRETBOX_KEY_BYTES], msg[20];
    struct secretbox *sb = new_box(key);
    uint8_t *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;

    fill(msg, sizeof(msg), 7);
    assert_int_equal(secretbox_seal(sb, msg, sizeof(msg), aad_user1, AAD_LEN, &a, &alen), AUTHD_OK);
    assert_int_equal(secretbox_seal(sb, msg, sizeof(msg), aad_user1, AAD_LEN, &b, &blen), AUTHD_OK);
    assert_int_equal(alen, blen);
    assert_memory_not_equal(a, b, 12);                  /* nonces */
    assert_memory_not_equal(a + 12, b + 12, alen - 12); /* ciphertext and tag */
    free(a);
    free(b);
    secretbox_free(sb);
}

static int
from_hex(const char *s, uint8_t *out)
{
    size_t n = strlen(s) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
    return (int)n;
}

/*
 * The GCM specification's test case 16 (AES-256, 96-bit IV, 60-byte plaintext, 20 bytes of
 * associated data), laid out as a box: the format is plain AES-256-GCM, nothing home-made.
 */
static void
test_known_vector(void **state)
{
    (void)state;
    uint8_t key[32], box[12 + 60 + 16], aad[20], want[60];
    struct secretbox *sb = NULL;
    uint8_t *pt = NULL;
    size_t ptlen = 0;

    from_hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", key);
    from_hex("cafebabefacedbaddecaf888", box);
    from_hex("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
             "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
             box + 12);
    from_hex("76fc6ece0f4e1768cddf8853bb2d551b", box + 72);
    from_hex("feedfacedeadbeeffeedfacedeadbeefabaddad2", aad);
    from_hex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
             "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
             want);

    assert_int_equal(secretbox_new(key, &sb), AUTHD_OK);
    assert_int_equal(secretbox_open(sb, box, sizeof(box), aad, sizeof(aad), &pt, &ptlen), AUTHD_OK);
    assert_int_equal(ptlen, 60);
    assert_memory_equal(pt, want, 60);
    secret_freezero(pt, ptlen);
    secretbox_free(sb);
}

static void
test_tamper(void **state)
{
    (void)state;
    uint8_t key[SECRETBOX_KEY_BYTES], msg[20];
    struct secretbox *sb = new_box(key);
    uint8_t *box = NULL, *pt = NULL;
    size_t boxlen = 0, ptlen = 0;

    fill(msg, sizeof(msg), 3);
    assert_int_equal(secretbox_seal(sb, msg, sizeof(msg), aad_user1, AAD_LEN, &box, &boxlen),
                     AUTHD_OK);
    /* Nonce, ciphertext and tag: every byte, low and high bit. */
    for (size_t i = 0; i < boxlen; i++) {
        for (int bit = 0; bit < 8; bit += 7) {
            box[i] ^= (uint8_t)(1u << bit);
            pt = (uint8_t *)1;
            ptlen = 99;
            assert_int_equal(secretbox_open(sb, box, boxlen, aad_user1, AAD_LEN, &pt, &ptlen),
                             AUTHD_ERR_INTERNAL);
            assert_null(pt);
            assert_int_equal(ptlen, 0);
            box[i] ^= (uint8_t)(1u << bit);
        }
    }
    /* and the untouched box still opens */
    assert_int_equal(secretbox_open(sb, box, boxlen, aad_user1, AAD_LEN, &pt, &ptlen), AUTHD_OK);
    assert_memory_equal(pt, msg, sizeof(msg));
    secret_freezero(pt, ptlen);
    free(box);
    secretbox_free(sb);
}

static void
test_wrong_aad_and_key(void **state)
{
    (void)state;
    uint8_t key[SECRETBOX_KEY_BYTES], key2[SECRETBOX_KEY_BYTES], msg[20];
    struct secretbox *sb = new_box(key), *other = new_box(key2);
    uint8_t *box = NULL, *pt = NULL;
    size_t boxlen = 0, ptlen = 0;

    fill(msg, sizeof(msg), 5);
    assert_int_equal(secretbox_seal(sb, msg, sizeof(msg), aad_user1, AAD_LEN, &box, &boxlen),
                     AUTHD_OK);
    assert_int_equal(secretbox_open(sb, box, boxlen, aad_user2, AAD_LEN, &pt, &ptlen),
                     AUTHD_ERR_INTERNAL);
    assert_null(pt);
    assert_int_equal(secretbox_open(sb, box, boxlen, aad_user1, AAD_LEN - 1, &pt, &ptlen),
                     AUTHD_ERR_INTERNAL);
    assert_int_equal(secretbox_open(sb, box, boxlen, NULL, 0, &pt, &ptlen), AUTHD_ERR_INTERNAL);
    assert_int_equal(secretbox_open(other, box, boxlen, aad_user1, AAD_LEN, &pt, &ptlen),
                     AUTHD_ERR_INTERNAL);
    assert_null(pt);

    /* A key differing in one bit is another key. */
    struct secretbox *near = NULL;
    key[31] ^= 1;
    assert_int_equal(secretbox_new(key, &near), AUTHD_OK);
    assert_int_equal(secretbox_open(near, box, boxlen, aad_user1, AAD_LEN, &pt, &ptlen),
                     AUTHD_ERR_INTERNAL);
    /* The box copied the key: changing the caller's array changed nothing for sb. */
    assert_int_equal(secretbox_open(sb, box, boxlen, aad_user1, AAD_LEN, &pt, &ptlen), AUTHD_OK);
    secret_freezero(pt, ptlen);
    free(box);
    secretbox_free(near);
    secretbox_free(other);
    secretbox_free(sb);
}

static void
test_truncated(void **state)
{
    (void)state;
    uint8_t key[SECRETBOX_KEY_BYTES], msg[20];
    struct secretbox *sb = new_box(key);
    uint8_t *box = NULL, *pt = NULL, *longer = NULL;
    size_t boxlen = 0, ptlen = 0;

    fill(msg, sizeof(msg), 9);
    assert_int_equal(secretbox_seal(sb, msg, sizeof(msg), aad_user1, AAD_LEN, &box, &boxlen),
                     AUTHD_OK);
    for (size_t n = 0; n < boxlen; n++) {
        assert_int_equal(secretbox_open(sb, box, n, aad_user1, AAD_LEN, &pt, &ptlen),
                         AUTHD_ERR_INTERNAL);
        assert_null(pt);
    }
    /* an extra byte at the end moves the tag */
    longer = malloc(boxlen + 1);
    assert_non_null(longer);
    memcpy(longer, box, boxlen);
    longer[boxlen] = 0;
    assert_int_equal(secretbox_open(sb, longer, boxlen + 1, aad_user1, AAD_LEN, &pt, &ptlen),
                     AUTHD_ERR_INTERNAL);
    /* and the nonce cannot be dropped */
    assert_int_equal(secretbox_open(sb, box + 12, boxlen - 12, aad_user1, AAD_LEN, &pt, &ptlen),
                     AUTHD_ERR_INTERNAL);
    assert_int_equal(secretbox_open(sb, NULL, 0, aad_user1, AAD_LEN, &pt, &ptlen),
                     AUTHD_ERR_INTERNAL);
    free(longer);
    free(box);
    secretbox_free(sb);
}

static void
test_parse_key(void **state)
{
    (void)state;
    uint8_t want[SECRETBOX_KEY_BYTES], key[SECRETBOX_KEY_BYTES];
    char hex[2 * SECRETBOX_KEY_BYTES + 1], b64[64], text[160];

    fill(want, sizeof(want), 200);
    secret_hex(want, sizeof(want), hex);
    secret_b64url_encode(want, sizeof(want), b64);
    assert_int_equal(strlen(b64), 43);

    memset(key, 0, sizeof(key));
    assert_int_equal(secretbox_parse_key(hex, key), AUTHD_OK);
    assert_memory_equal(key, want, sizeof(key));

    snprintf(text, sizeof(text), "  %s\n", hex);
    memset(key, 0, sizeof(key));
    assert_int_equal(secretbox_parse_key(text, key), AUTHD_OK);
    assert_memory_equal(key, want, sizeof(key));

    /* upper-case hex */
    for (size_t i = 0; i < sizeof(text) && text[i]; i++)
        if (text[i] >= 'a' && text[i] <= 'f')
            text[i] = (char)(text[i] - 'a' + 'A');
    memset(key, 0, sizeof(key));
    assert_int_equal(secretbox_parse_key(text, key), AUTHD_OK);
    assert_memory_equal(key, want, sizeof(key));

    memset(key, 0, sizeof(key));
    assert_int_equal(secretbox_parse_key(b64, key), AUTHD_OK);
    assert_memory_equal(key, want, sizeof(key));

    snprintf(text, sizeof(text), "\t %s \r\n", b64);
    memset(key, 0, sizeof(key));
    assert_int_equal(secretbox_parse_key(text, key), AUTHD_OK);
    assert_memory_equal(key, want, sizeof(key));
}

static void
test_parse_key_rejects(void **state)
{
    (void)state;
    uint8_t key[SECRETBOX_KEY_BYTES], want[SECRETBOX_KEY_BYTES];
    char hex[2 * SECRETBOX_KEY_BYTES + 1], b64[64], text[160];

    fill(want, sizeof(want), 100);
    secret_hex(want, sizeof(want), hex);
    secret_b64url_encode(want, sizeof(want), b64);

    snprintf(text, sizeof(text), "%.63s", hex); /* 63 hex digits */
    assert_int_equal(secretbox_parse_key(text, key), AUTHD_ERR_INVALID_ARGUMENT);
    snprintf(text, sizeof(text), "%s0", hex); /* 65 */
    assert_int_equal(secretbox_parse_key(text, key), AUTHD_ERR_INVALID_ARGUMENT);
    snprintf(text, sizeof(text), "%s00", hex); /* 66: 33 bytes */
    assert_int_equal(secretbox_parse_key(text, key), AUTHD_ERR_INVALID_ARGUMENT);
    snprintf(text, sizeof(text), "%s", hex);
    text[10] = 'g';
    assert_int_equal(secretbox_parse_key(text, key), AUTHD_ERR_INVALID_ARGUMENT);
    snprintf(text, sizeof(text), "%s", hex);
    text[31] = ' '; /* white space inside is not trimmed */
    assert_int_equal(secretbox_parse_key(text, key), AUTHD_ERR_INVALID_ARGUMENT);

    snprintf(text, sizeof(text), "%.42s", b64); /* 42 base64url */
    assert_int_equal(secretbox_parse_key(text, key), AUTHD_ERR_INVALID_ARGUMENT);
    snprintf(text, sizeof(text), "%sA", b64); /* 44 */
    assert_int_equal(secretbox_parse_key(text, key), AUTHD_ERR_INVALID_ARGUMENT);
    snprintf(text, sizeof(text), "%s=", b64); /* padded */
    assert_int_equal(secretbox_parse_key(text, key), AUTHD_ERR_INVALID_ARGUMENT);
    snprintf(text, sizeof(text), "%s", b64);
    text[5] = '+'; /* standard base64, not url-safe */
    assert_int_equal(secretbox_parse_key(text, key), AUTHD_ERR_INVALID_ARGUMENT);

    assert_int_equal(secretbox_parse_key("", key), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(secretbox_parse_key(" \n\t", key), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(secretbox_parse_key(NULL, key), AUTHD_ERR_INVALID_ARGUMENT);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),        cmocka_unit_test(test_fresh_nonce),
        cmocka_unit_test(test_known_vector),      cmocka_unit_test(test_tamper),
        cmocka_unit_test(test_wrong_aad_and_key), cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_parse_key),         cmocka_unit_test(test_parse_key_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
