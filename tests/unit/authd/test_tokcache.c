/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for authd/tokcache.c: a hit returns the entry's own tag and claims, an entry dies
 * at its exp, two tokens never share an entry, the size stays bounded, oversized claims and
 * already expired tokens are not kept, drop forgets, and many threads putting and getting
 * overlapping keys never see another key's claims.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd/tokcache.h"
#include "common/secret.h"

#define NOW 1700000000

/* The key and claims of token number i. */
static void
token_i(unsigned i, uint8_t key[32], char *claims, size_t cap)
{
    char tok[64];
    snprintf(tok, sizeof(tok), "header.payload-%u.signature", i);
    tokcache_key(tok, strlen(tok), key);
    snprintf(claims, cap, "{\"jti\":\"%u\"}", i);
}

static void
test_hit_miss_and_exp(void **state)
{
    (void)state;
    struct tokcache *c = tokcache_new(64);
    uint8_t k1[32], k2[32];
    char c1[64], c2[64], *got = NULL;
    uint64_t tag = 0;
    assert_non_null(c);
    token_i(1, k1, c1, sizeof(c1));
    token_i(2, k2, c2, sizeof(c2));

    assert_false(tokcache_get(c, k1, NOW, &tag, &got));
    assert_null(got);
    tokcache_put(c, k1, NOW + 10, NOW, 7, c1);
    tokcache_put(c, k2, NOW + 20, NOW, 8, c2);
    assert_true(tokcache_get(c, k1, NOW, &tag, &got));
    assert_int_equal(tag, 7);
    assert_string_equal(got, c1);
    secret_strfree(got);
    assert_true(tokcache_get(c, k2, NOW + 9, &tag, &got));
    assert_int_equal(tag, 8);
    assert_string_equal(got, c2);
    secret_strfree(got);
    /* Its last second still, its exp no more (and the entry is gone after). */
    assert_true(tokcache_get(c, k1, NOW + 9, &tag, &got));
    secret_strfree(got);
    assert_false(tokcache_get(c, k1, NOW + 10, &tag, &got));
    assert_null(got);
    assert_false(tokcache_get(c, k1, NOW, &tag, &got));
    /* The other token is untouched. */
    assert_true(tokcache_get(c, k2, NOW + 19, &tag, &got));
    secret_strfree(got);

    /* A token one character away is another key. */
    uint8_t k3[32];
    tokcache_key("header.payload-1.signaturf", strlen("header.payload-1.signaturf"), k3);
    assert_false(tokcache_get(c, k3, NOW, &tag, &got));

    /* Nothing kept for a token already expired, oversized claims, or a dropped key. */
    tokcache_put(c, k3, NOW, NOW, 1, c1);
    assert_false(tokcache_get(c, k3, NOW - 1, &tag, &got));
    char *big = malloc(TOKCACHE_CLAIMS_MAX + 2);
    assert_non_null(big);
    memset(big, 'x', TOKCACHE_CLAIMS_MAX + 1);
    big[TOKCACHE_CLAIMS_MAX + 1] = '\0';
    tokcache_put(c, k3, NOW + 10, NOW, 1, big);
    assert_false(tokcache_get(c, k3, NOW, &tag, &got));
    big[TOKCACHE_CLAIMS_MAX] = '\0'; /* exactly the limit is kept */
    tokcache_put(c, k3, NOW + 10, NOW, 1, big);
    assert_true(tokcache_get(c, k3, NOW, &tag, &got));
    assert_int_equal(strlen(got), TOKCACHE_CLAIMS_MAX);
    secret_strfree(got);
    free(big);
    tokcache_drop(c, k3);
    assert_false(tokcache_get(c, k3, NOW, &tag, &got));

    /* A put for the same key replaces. */
    tokcache_put(c, k2, NOW + 30, NOW, 9, c1);
    assert_true(tokcache_get(c, k2, NOW + 25, &tag, &got));
    assert_int_equal(tag, 9);
    assert_string_equal(got, c1);
    secret_strfree(got);
    tokcache_free(c);

    assert_null(tokcache_new(0));
    assert_false(tokcache_get(NULL, k1, NOW, &tag, &got));
    tokcache_put(NULL, k1, NOW + 1, NOW, 1, c1);
    tokcache_free(NULL);
}

/* Far more tokens than room: at most the capacity answers, each with its own claims, and the
 * most recent ones are there (least recently used evicted). */
static void
test_bounded(void **state)
{
    (void)state;
    struct tokcache *c = tokcache_new(100);
    size_t cap = tokcache_capacity(c);
    assert_true(cap >= 100 && cap < 200);
    uint8_t k[32];
    char claims[64], *got = NULL;
    uint64_t tag;
    const unsigned total = 5000;
    for (unsigned i = 0; i < total; i++) {
        token_i(i, k, claims, sizeof(claims));
        tokcache_put(c, k, NOW + 100, NOW, i, claims);
    }
    size_t hits = 0;
    for (unsigned i = 0; i < total; i++) {
        token_i(i, k, claims, sizeof(claims));
        if (tokcache_get(c, k, NOW, &tag, &got)) {
            hits++;
            assert_int_equal(tag, i);
            assert_string_equal(got, claims);
            secret_strfree(got);
        }
    }
    assert_true(hits <= cap);
    assert_true(hits >= cap / 2); /* sets fill unevenly, but most room is used */
    tokcache_free(c);
}

struct worker {
    struct tokcache *c;
    unsigned seed;
    unsigned wrong, hits;
};

static void *
work(void *arg)
{
    struct worker *w = arg;
    uint8_t k[32];
    char claims[64], *got = NULL;
    uint64_t tag;
    for (unsigned n = 0; n < 20000; n++) {
        w->seed = w->seed * 1103515245u + 12345u;
        unsigned i = (w->seed >> 8) % 600; /* more keys than room: evictions race lookups */
        token_i(i, k, claims, sizeof(claims));
        if (tokcache_get(w->c, k, NOW, &tag, &got)) {
            w->hits++;
            if (tag != i || strcmp(got, claims) != 0)
                w->wrong++;
            secret_strfree(got);
        } else {
            tokcache_put(w->c, k, NOW + 100, NOW, i, claims);
        }
    }
    return NULL;
}

static void
test_threads_never_confuse(void **state)
{
    (void)state;
    struct tokcache *c = tokcache_new(256);
    struct worker w[8];
    pthread_t t[8];
    for (unsigned i = 0; i < 8; i++) {
        w[i] = (struct worker){.c = c, .seed = i + 1};
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    unsigned hits = 0;
    for (unsigned i = 0; i < 8; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(w[i].wrong, 0);
        hits += w[i].hits;
    }
    assert_true(hits > 0);
    tokcache_free(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_miss_and_exp),
        cmocka_unit_test(test_bounded),
        cmocka_unit_test(test_threads_never_confuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
