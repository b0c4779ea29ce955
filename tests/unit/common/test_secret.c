/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for common/secret.c: base64url against the RFC 4648 vectors and OpenSSL's base64,
 * the strictness of the decoder (one encoding per byte string), constant-time comparison
 * results, SHA-256 against the FIPS 180-2 vectors, hex, the CSPRNG and the free helpers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/err.h"
#include "common/secret.h"

#define CANARY 0xa5

static const char b64url_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Encodes in[0..n) and checks the result against want, including that exactly len+1 bytes
 * are written. */
static void
check_encode(const void *in, size_t n, const char *want)
{
    char out[64];
    assert_true(strlen(want) + 2 <= sizeof(out));
    memset(out, CANARY, sizeof(out));
    assert_int_equal(secret_b64url_len(n), strlen(want));
    secret_b64url_encode(in, n, out);
    assert_string_equal(out, want);
    assert_int_equal((unsigned char)out[strlen(want) + 1], CANARY);
}

/* Decodes s and checks the result is exactly the n bytes at want. */
static void
check_decode(const char *s, const void *want, size_t n)
{
    uint8_t out[64];
    memset(out, CANARY, sizeof(out));
    assert_int_equal(secret_b64url_decode(s, strlen(s), out, sizeof(out)), (long)n);
    assert_memory_equal(out, want, n);
    assert_int_equal(out[n], CANARY);
}

static void
test_b64url_rfc4648_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *plain;
        const char *enc;
    } v[] = {
        {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
        {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        check_encode(v[i].plain, strlen(v[i].plain), v[i].enc);
        check_decode(v[i].enc, v[i].plain, strlen(v[i].plain));
    }
}

static void
test_b64url_url_alphabet(void **state)
{
    (void)state;
    /* 0xfb 0xff is "+/8=" in standard base64 */
    static const uint8_t dash_underscore[] = {0xfb, 0xff};
    check_encode(dash_underscore, 2, "-_8");
    check_decode("-_8", dash_underscore, 2);

    static const uint8_t all_ones[] = {0xff, 0xff, 0xff};
    check_encode(all_ones, 3, "____");
    check_decode("____", all_ones, 3);

    static const uint8_t dashes[] = {0xfb, 0xef, 0xbe};
    check_encode(dashes, 3, "----");
    check_decode("----", dashes, 3);

    static const uint8_t zeros[] = {0, 0, 0, 0};
    check_encode(zeros, 4, "AAAAAA");
    check_decode("AAAAAA", zeros, 4);

    /* every 6-bit value maps to its own character, in alphabet order */
    for (unsigned v = 0; v < 64; v++) {
        uint8_t in[3] = {(uint8_t)(v << 2), 0, 0};
        char out[5];
        secret_b64url_encode(in, 3, out);
        assert_int_equal(out[0], b64url_chars[v]);
        assert_string_equal(out + 1, "AAA");
        uint8_t back[3];
        assert_int_equal(secret_b64url_decode(out, 4, back, sizeof(back)), 3);
        assert_memory_equal(back, in, 3);
    }
}

static void
test_b64url_decode_rejects_bad_chars(void **state)
{
    (void)state;
    uint8_t out[16];
    static const char *bad[] = {
        "Zm9+",  "Zm9/",   "Zm9v+w",   "Zm9v/w", "Zg==",  "Zm8=", "Zm9vYg==",
        "Zm 9v", "Zm9v\n", "Zm9v\r\n", " Zm9",   "Zm9\t", "Zm.v", "Zm9v*A",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(secret_b64url_decode(bad[i], strlen(bad[i]), out, sizeof(out)), -1);

    /* every byte outside the alphabet is refused, wherever it sits in a group */
    for (unsigned c = 0; c < 256; c++) {
        if (c != 0 && strchr(b64url_chars, (int)c) != NULL)
            continue;
        for (size_t pos = 0; pos < 4; pos++) {
            char s[4] = {'A', 'A', 'A', 'A'};
            s[pos] = (char)c;
            assert_int_equal(secret_b64url_decode(s, 4, out, sizeof(out)), -1);
        }
    }
    /* an embedded NUL counted in len is a bad character, not an end of string */
    assert_int_equal(secret_b64url_decode("Zm9v\0Zm9v", 8, out, sizeof(out)), -1);
}

static void
test_b64url_decode_rejects_bad_length(void **state)
{
    (void)state;
    uint8_t out[16];
    static const char *bad[] = {"Z", "Zm9vY", "Zm9vYmFyZ", "A", "AAAAA"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(secret_b64url_decode(bad[i], strlen(bad[i]), out, sizeof(out)), -1);
    /* the empty text is a valid encoding of nothing, even with no room at all */
    assert_int_equal(secret_b64url_decode("", 0, out, 0), 0);
}

static void
test_b64url_decode_rejects_noncanonical(void **state)
{
    (void)state;
    uint8_t out[16];
    assert_int_equal(secret_b64url_decode("Zh", 2, out, sizeof(out)), -1);
    assert_int_equal(secret_b64url_decode("Zg", 2, out, sizeof(out)), 1);
    assert_int_equal(secret_b64url_decode("Zm9", 3, out, sizeof(out)), -1);
    assert_int_equal(secret_b64url_decode("Zm8", 3, out, sizeof(out)), 2);
    assert_int_equal(secret_b64url_decode("Zm9vYh", 6, out, sizeof(out)), -1);
    assert_int_equal(secret_b64url_decode("-_9", 3, out, sizeof(out)), -1);

    /* a 2-char tail carries 4 spare bits: only the 4 last chars with them clear decode */
    int ok2 = 0, ok3 = 0;
    for (unsigned v = 0; v < 64; v++) {
        char s2[2] = {'Z', b64url_chars[v]};
        long r = secret_b64url_decode(s2, 2, out, sizeof(out));
        assert_int_equal(r, (v & 15) == 0 ? 1 : -1);
        ok2 += r == 1;
        /* a 3-char tail carries 2 spare bits */
        char s3[3] = {'Z', 'm', b64url_chars[v]};
        r = secret_b64url_decode(s3, 3, out, sizeof(out));
        assert_int_equal(r, (v & 3) == 0 ? 2 : -1);
        ok3 += r == 2;
    }
    assert_int_equal(ok2, 4);
    assert_int_equal(ok3, 16);
}

static void
test_b64url_decode_capacity(void **state)
{
    (void)state;
    uint8_t out[8];

    memset(out, CANARY, sizeof(out));
    assert_int_equal(secret_b64url_decode("Zm9v", 4, out, 2), -1);
    assert_int_equal(out[2], CANARY);
    assert_int_equal(secret_b64url_decode("Zm9v", 4, out, 3), 3);
    assert_memory_equal(out, "foo", 3);
    assert_int_equal(out[3], CANARY);

    memset(out, CANARY, sizeof(out));
    assert_int_equal(secret_b64url_decode("Zm9vYmE", 7, out, 4), -1);
    assert_int_equal(out[4], CANARY);
    assert_int_equal(secret_b64url_decode("Zm9vYmE", 7, out, 5), 5);
    assert_memory_equal(out, "fooba", 5);
    assert_int_equal(out[5], CANARY);

    assert_int_equal(secret_b64url_decode("Zg", 2, out, 0), -1);
    assert_int_equal(secret_b64url_decode("Zg", 2, out, 1), 1);
    assert_int_equal(out[0], 'f');
}

/* Standard padded base64 from OpenSSL, turned into unpadded base64url: an independent oracle. */
static void
openssl_b64url(const uint8_t *in, size_t n, char *out)
{
    int len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    assert_true(len >= 0);
    while (len > 0 && out[len - 1] == '=')
        len--;
    out[len] = '\0';
    for (int i = 0; i < len; i++) {
        if (out[i] == '+')
            out[i] = '-';
        else if (out[i] == '/')
            out[i] = '_';
    }
}

static void
test_b64url_round_trip(void **state)
{
    (void)state;
    uint8_t in[100], back[101];
    char enc[140], ref[140];
    for (int round = 0; round < 20; round++) {
        for (size_t n = 0; n <= sizeof(in); n++) {
            assert_int_equal(secret_random(in, n), AUTHD_OK);
            size_t elen = secret_b64url_len(n);
            assert_true(elen + 2 <= sizeof(enc));
            memset(enc, CANARY, sizeof(enc));
            secret_b64url_encode(in, n, enc);
            assert_int_equal(strlen(enc), elen);
            assert_int_equal((unsigned char)enc[elen + 1], CANARY);
            assert_int_equal(strspn(enc, b64url_chars), elen);

            openssl_b64url(in, n, ref);
            assert_string_equal(enc, ref);

            memset(back, CANARY, sizeof(back));
            assert_int_equal(secret_b64url_decode(enc, elen, back, n), (long)n);
            assert_memory_equal(back, in, n);
            assert_int_equal(back[n], CANARY);
            if (n > 0)
                assert_int_equal(secret_b64url_decode(enc, elen, back, n - 1), -1);
        }
    }
}

static void
test_eq(void **state)
{
    (void)state;
    uint8_t a[32], b[32];
    for (size_t i = 0; i < sizeof(a); i++)
        a[i] = (uint8_t)(i * 7 + 1);
    memcpy(b, a, sizeof(b));
    assert_int_equal(secret_eq(a, b, sizeof(a)), 1);
    b[0] ^= 1;
    assert_int_equal(secret_eq(a, b, sizeof(a)), 0);
    b[0] ^= 1;
    b[31] ^= 0x80;
    assert_int_equal(secret_eq(a, b, sizeof(a)), 0);
    /* the differing byte is past n */
    assert_int_equal(secret_eq(a, b, 31), 1);
    assert_int_equal(secret_eq(a, b, 0), 1);
}

static void
test_streq(void **state)
{
    (void)state;
    assert_int_equal(secret_streq("token-abc", "token-abc"), 1);
    assert_int_equal(secret_streq("", ""), 1);
    assert_int_equal(secret_streq("Xoken-abc", "token-abc"), 0);
    assert_int_equal(secret_streq("token-abc", "token-abX"), 0);
    assert_int_equal(secret_streq("token-ab", "token-abc"), 0);
    assert_int_equal(secret_streq("token-abc", "token-ab"), 0);
    assert_int_equal(secret_streq("", "a"), 0);
    assert_int_equal(secret_streq("a", ""), 0);
    assert_int_equal(secret_streq(NULL, "a"), 0);
    assert_int_equal(secret_streq("a", NULL), 0);
    assert_int_equal(secret_streq(NULL, ""), 0);
    assert_int_equal(secret_streq(NULL, NULL), 0);
}

static void
check_sha256(const void *p, size_t n, const char *want_hex)
{
    uint8_t d[32 + 1];
    char hex[65];
    d[32] = CANARY;
    secret_sha256(p, n, d);
    assert_int_equal(d[32], CANARY);
    secret_hex(d, 32, hex);
    assert_string_equal(hex, want_hex);
}

static void
test_sha256_vectors(void **state)
{
    (void)state;
    check_sha256("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    check_sha256("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    check_sha256(two_blocks, strlen(two_blocks),
                 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    char *million = malloc(1000000);
    assert_non_null(million);
    memset(million, 'a', 1000000);
    check_sha256(million, 1000000,
                 "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(million);
}

static void
test_hex(void **state)
{
    (void)state;
    static const uint8_t in[] = {0x00, 0x01, 0x09, 0x0a, 0x0f, 0x10, 0x7f, 0x80, 0xab, 0xff};
    char out[2 * sizeof(in) + 2];
    memset(out, CANARY, sizeof(out));
    secret_hex(in, sizeof(in), out);
    assert_string_equal(out, "0001090a0f107f80abff");
    assert_int_equal((unsigned char)out[2 * sizeof(in) + 1], CANARY);

    memset(out, CANARY, sizeof(out));
    secret_hex(in, 0, out);
    assert_string_equal(out, "");
    assert_int_equal((unsigned char)out[1], CANARY);
}

/* Every byte value: the 22 hex digits decode, nothing else does (high bytes included). */
static void
test_hex_value(void **state)
{
    (void)state;
    const char *digits = "0123456789abcdef";
    const char *upper = "ABCDEF";
    for (int c = 0; c < 256; c++) {
        int want = -1;
        const char *d = c != 0 ? strchr(digits, c) : NULL;
        const char *u = c != 0 ? strchr(upper, c) : NULL;
        if (d != NULL)
            want = (int)(d - digits);
        else if (u != NULL)
            want = 10 + (int)(u - upper);
        assert_int_equal(secret_hex_value((unsigned char)c), want);
    }
    /* Round trip with secret_hex(). */
    static const uint8_t in[] = {0x00, 0x5a, 0xa5, 0xff};
    char hex[2 * sizeof(in) + 1];
    secret_hex(in, sizeof(in), hex);
    for (size_t i = 0; i < sizeof(in); i++)
        assert_int_equal(secret_hex_value((unsigned char)hex[2 * i]) * 16 +
                             secret_hex_value((unsigned char)hex[2 * i + 1]),
                         in[i]);
}

static void
test_random(void **state)
{
    (void)state;
    static const uint8_t zero[32];
    uint8_t a[32 + 1], b[32];
    memset(a, 0, sizeof(a));
    memset(b, 0, sizeof(b));
    a[32] = CANARY;
    assert_int_equal(secret_random(a, 32), AUTHD_OK);
    assert_int_equal(secret_random(b, 32), AUTHD_OK);
    assert_int_equal(a[32], CANARY);
    /* 2^-128 chances each of a false failure; each half is checked so that filling only part of
     * the buffer is caught too */
    for (size_t h = 0; h < 32; h += 16) {
        assert_memory_not_equal(a + h, b + h, 16);
        assert_memory_not_equal(a + h, zero, 16);
        assert_memory_not_equal(b + h, zero, 16);
    }
    assert_int_equal(secret_random(b, 0), AUTHD_OK);
}

static void *
random_thread(void *arg)
{
    return secret_random(arg, 32) == AUTHD_OK ? arg : NULL;
}

/*
 * secret_random asks OpenSSL's per-thread DRBG directly: a request larger than one DRBG call
 * gives (64 KiB) is filled to the end, other threads draw their own bytes, and a forked child
 * does not repeat what its parent draws next (OpenSSL reseeds after fork).
 */
static void
test_random_drbg(void **state)
{
    (void)state;
    static const uint8_t zero[32];
    size_t big = 200 * 1024;
    uint8_t *v = calloc(1, big);
    assert_non_null(v);
    assert_int_equal(secret_random(v, big), AUTHD_OK);
    for (size_t at = 0; at + 32 <= big; at += 16 * 1024)
        assert_memory_not_equal(v + at, zero, 32);
    assert_memory_not_equal(v + big - 32, zero, 32);
    free(v);

    uint8_t t[2][32], mine[32];
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, random_thread, t[i]), 0);
    for (int i = 0; i < 2; i++) {
        void *ret = NULL;
        assert_int_equal(pthread_join(th[i], &ret), 0);
        assert_ptr_equal(ret, t[i]);
    }
    assert_int_equal(secret_random(mine, 32), AUTHD_OK);
    assert_memory_not_equal(t[0], t[1], 32);
    assert_memory_not_equal(t[0], mine, 32);

    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        uint8_t c[32];
        int ok = secret_random(c, 32) == AUTHD_OK && write(fds[1], c, 32) == 32;
        _exit(ok ? 0 : 1);
    }
    uint8_t child[32], parent[32];
    assert_int_equal(secret_random(parent, 32), AUTHD_OK);
    assert_int_equal(read(fds[0], child, 32), 32);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_memory_not_equal(child, parent, 32);
    close(fds[0]);
    close(fds[1]);
}

static void
test_wipe_and_free(void **state)
{
    (void)state;
    uint8_t buf[16];
    memset(buf, 0xee, sizeof(buf));
    secret_wipe(buf, 8);
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(buf[i], 0);
    for (size_t i = 8; i < sizeof(buf); i++)
        assert_int_equal(buf[i], 0xee);
    secret_wipe(NULL, 0);
    secret_wipe(buf, 0);
    assert_int_equal(buf[8], 0xee);

    /* NULL is a no-op for both frees */
    secret_freezero(NULL, 0);
    secret_freezero(NULL, 32);
    secret_strfree(NULL);

    /* real blocks are released (ASan/LeakSanitizer would report otherwise) */
    uint8_t *p = malloc(32);
    assert_non_null(p);
    memset(p, 0x11, 32);
    secret_freezero(p, 32);
    char *s = strdup("hunter2");
    assert_non_null(s);
    secret_strfree(s);
    char *empty = strdup("");
    assert_non_null(empty);
    secret_strfree(empty);
}

/* Standard base64 (PHC strings, HTTP Basic): '+' and '/' instead of '-' and '_'. */
static void
test_b64_standard(void **state)
{
    (void)state;
    const uint8_t in[] = {0xfb, 0xff, 0xbf};
    char out[9]; /* "Zm9vYmFy" below and its NUL */
    uint8_t back[8];
    secret_b64_encode(in, sizeof(in), out);
    assert_string_equal(out, "+/+/");
    assert_int_equal(secret_b64_decode(out, strlen(out), back, sizeof(back)), 3);
    assert_memory_equal(back, in, 3);
    assert_int_equal(secret_b64_decode("-_-_", 4, back, sizeof(back)), -1); /* url alphabet */
    assert_int_equal(secret_b64url_decode("+/+/", 4, back, sizeof(back)), -1);
    secret_b64_encode((const uint8_t *)"foobar", 6, out);
    assert_string_equal(out, "Zm9vYmFy");
    assert_int_equal(secret_b64_decode("Zh", 2, back, sizeof(back)), -1); /* non-canonical */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64_standard),
        cmocka_unit_test(test_b64url_rfc4648_vectors),
        cmocka_unit_test(test_b64url_url_alphabet),
        cmocka_unit_test(test_b64url_decode_rejects_bad_chars),
        cmocka_unit_test(test_b64url_decode_rejects_bad_length),
        cmocka_unit_test(test_b64url_decode_rejects_noncanonical),
        cmocka_unit_test(test_b64url_decode_capacity),
        cmocka_unit_test(test_b64url_round_trip),
        cmocka_unit_test(test_eq),
        cmocka_unit_test(test_streq),
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_hex_value),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_random_drbg),
        cmocka_unit_test(test_wipe_and_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
