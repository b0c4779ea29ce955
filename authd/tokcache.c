/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The verified-token cache (see tokcache.h): TOKCACHE_SHARDS shards, each a mutex over an array
 * of sets of TOKCACHE_WAYS entries. A key picks its shard and its set from its own bytes (a
 * SHA-256, so uniform); a lookup compares at most TOKCACHE_WAYS keys. No allocation under a
 * lock except the copy a hit returns.
 */
#include "authd/tokcache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/secret.h"

#define TOKCACHE_SHARDS 16 /* a power of two; several times the cores of a usual host */
#define TOKCACHE_WAYS 4

struct tokcache_entry {
    uint8_t key[32];
    int64_t exp;
    uint64_t tag;
    uint64_t used; /* the shard's tick at the last hit or put; 0 = empty */
    char *claims;  /* malloc'd; NULL = empty */
    size_t claims_len;
};

/* Aligned so that two shards' mutexes never share a cache line. */
struct tokcache_shard {
    _Alignas(64) pthread_mutex_t mu;
    uint64_t tick;
    struct tokcache_entry *e; /* sets * TOKCACHE_WAYS */
};

struct tokcache {
    size_t sets; /* per shard */
    struct tokcache_shard shard[TOKCACHE_SHARDS];
};

static void
entry_clear(struct tokcache_entry *e)
{
    if (e->claims != NULL)
        secret_freezero(e->claims, e->claims_len + 1);
    secret_wipe(e, sizeof(*e));
}

struct tokcache *
tokcache_new(size_t entries)
{
    if (entries == 0)
        return NULL;
    size_t size = (sizeof(struct tokcache) + 63) / 64 * 64;
    struct tokcache *c = aligned_alloc(64, size);
    if (c == NULL)
        return NULL;
    memset(c, 0, size);
    size_t per = TOKCACHE_SHARDS * TOKCACHE_WAYS;
    c->sets = (entries + per - 1) / per;
    for (size_t i = 0; i < TOKCACHE_SHARDS; i++) {
        struct tokcache_shard *s = &c->shard[i];
        s->e = calloc(c->sets * TOKCACHE_WAYS, sizeof(*s->e));
        if (s->e == NULL || pthread_mutex_init(&s->mu, NULL) != 0) {
            free(s->e);
            s->e = NULL;
            for (size_t j = 0; j < i; j++) {
                pthread_mutex_destroy(&c->shard[j].mu);
                free(c->shard[j].e);
            }
            free(c);
            return NULL;
        }
    }
    return c;
}

void
tokcache_free(struct tokcache *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < TOKCACHE_SHARDS; i++) {
        struct tokcache_shard *s = &c->shard[i];
        for (size_t j = 0; j < c->sets * TOKCACHE_WAYS; j++)
            entry_clear(&s->e[j]);
        free(s->e);
        pthread_mutex_destroy(&s->mu);
    }
    free(c);
}

size_t
tokcache_capacity(const struct tokcache *c)
{
    return c != NULL ? c->sets * TOKCACHE_WAYS * TOKCACHE_SHARDS : 0;
}

void
tokcache_key(const char *token, size_t len, uint8_t key[32])
{
    secret_sha256(token, len, key);
}

/* The shard of key, and in *set the first entry of its set. */
static struct tokcache_shard *
locate(struct tokcache *c, const uint8_t key[32], struct tokcache_entry **set)
{
    struct tokcache_shard *s = &c->shard[key[0] & (TOKCACHE_SHARDS - 1)];
    uint64_t h = 0;
    for (size_t i = 1; i < 9; i++)
        h = (h << 8) | key[i];
    *set = &s->e[(h % c->sets) * TOKCACHE_WAYS];
    return s;
}

int
tokcache_get(struct tokcache *c, const uint8_t key[32], int64_t now, uint64_t *tag, char **claims)
{
    struct tokcache_entry *set;
    int hit = 0;

    *claims = NULL;
    *tag = 0;
    if (c == NULL)
        return 0;
    struct tokcache_shard *s = locate(c, key, &set);
    pthread_mutex_lock(&s->mu);
    for (size_t w = 0; w < TOKCACHE_WAYS; w++) {
        struct tokcache_entry *e = &set[w];
        if (e->claims == NULL || !secret_eq(e->key, key, 32))
            continue;
        /* The token's own end is the entry's: never serve it at or after exp. */
        if (e->exp <= now) {
            entry_clear(e);
            break;
        }
        *claims = malloc(e->claims_len + 1);
        if (*claims != NULL) {
            memcpy(*claims, e->claims, e->claims_len + 1);
            *tag = e->tag;
            e->used = ++s->tick;
            hit = 1;
        }
        break;
    }
    pthread_mutex_unlock(&s->mu);
    return hit;
}

void
tokcache_put(struct tokcache *c, const uint8_t key[32], int64_t exp, int64_t now, uint64_t tag,
             const char *claims)
{
    struct tokcache_entry *set;

    if (c == NULL || claims == NULL || exp <= now)
        return;
    size_t len = strnlen(claims, TOKCACHE_CLAIMS_MAX + 1);
    if (len > TOKCACHE_CLAIMS_MAX)
        return;
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return;
    memcpy(copy, claims, len + 1);
    struct tokcache_shard *s = locate(c, key, &set);
    pthread_mutex_lock(&s->mu);
    /* The same key, else an empty way, else the least recently used one. */
    struct tokcache_entry *victim = NULL;
    for (size_t w = 0; w < TOKCACHE_WAYS; w++) {
        struct tokcache_entry *e = &set[w];
        if (e->claims != NULL && secret_eq(e->key, key, 32)) {
            victim = e;
            break;
        }
        if (victim == NULL ||
            (victim->claims != NULL && (e->claims == NULL || e->used < victim->used)))
            victim = e;
    }
    entry_clear(victim);
    memcpy(victim->key, key, 32);
    victim->exp = exp;
    victim->tag = tag;
    victim->claims = copy;
    victim->claims_len = len;
    victim->used = ++s->tick;
    pthread_mutex_unlock(&s->mu);
}

void
tokcache_drop(struct tokcache *c, const uint8_t key[32])
{
    struct tokcache_entry *set;

    if (c == NULL)
        return;
    struct tokcache_shard *s = locate(c, key, &set);
    pthread_mutex_lock(&s->mu);
    for (size_t w = 0; w < TOKCACHE_WAYS; w++)
        if (set[w].claims != NULL && secret_eq(set[w].key, key, 32))
            entry_clear(&set[w]);
    pthread_mutex_unlock(&s->mu);
}
