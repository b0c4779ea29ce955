/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Token signing keys (see signkeys.h). Each key is a SigningKey record under sigkey/<kid>: the
 * private JWK (cjose JSON) sealed by the secretbox with the kid as associated data, so a sealed
 * key copied under another kid does not open. In memory the keys sit in one array behind a
 * rwlock: sign, verify and jwks read it; only rotation writes it. Rotations are serialised by
 * their own mutex, so key generation and the store write happen outside the rwlock.
 * cjose makes the keys, exports their JWKs and verifies; signing is OpenSSL's EVP directly (the
 * compact JWS written here, the key's signing context made once when the key is opened), so a
 * token costs its signature and little else.
 */
#define _GNU_SOURCE /* pthread_rwlockattr_setkind_np */
#include "authd/signkeys.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjose/cjose.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "authd/authd.h"
#include "common/err.h"
#include "common/jwks.h"
#include "authd/keys.h"
#include "common/log.h"
#include "authd/records.h"
#include "common/secret.h"
#include "authd/secretbox.h"
#include "authd/tokcache.h"
#include "common/metrics.h"
#include "storage/records.pb-c.h"

#define SIGNKEYS_KID_BYTES 16
#define SIGNKEYS_ALG_MAX 8
#define SIGNKEYS_RSA_BITS 2048
/* Longest compact JWS that verify looks at (an RS256 token with ~10 KiB of claims). */
#define SIGNKEYS_JWS_MAX 16384
/* An ES256 signature is R || S, 32 bytes each: 86 base64url characters. */
#define SIGNKEYS_ES256_SIG_B64 86
/* The largest signature signkeys makes or a JWK member it reads (RSA up to 4096 bits). */
#define SIGNKEYS_SIG_MAX 512
/* The longest typ signkeys_sign_typ accepts (RFC 9068's "at+jwt", "JWT", ...). */
#define SIGNKEYS_TYP_MAX 32

struct signkey {
    char kid[SIGNKEYS_KID_MAX];
    char alg[SIGNKEYS_ALG_MAX];
    cjose_jwk_t *jwk;     /* private key; cjose_jwk_release frees it (OpenSSL clears the numbers) */
    EVP_PKEY_CTX *signer; /* the same key as OpenSSL's signing context, EVP_PKEY_sign_init done
                           * (RS256: PKCS #1 v1.5 with SHA-256): every signature signs with a
                           * duplicate of it, never with it, so threads share it read-only */
    char *pub_json;       /* public JWK with kid, alg, use: the JWKS entry; immutable once made */
    int64_t created_at;
    int64_t active_from; /* immutable: when it begins to sign (SigningKey.active_from) */
    int64_t retired_at;  /* when it stops signing (0: not retired; may be ahead of now) */
    int64_t selected_at; /* immutable: SigningKey.selected_at (0: chooses nothing) */
    uint64_t serial;     /* unique per key opened in this process: what a cache entry names */
};

/* Serials of opened keys; never 0, never reused, so a cache entry can only ever name the very
 * key object that verified it (not a later one under the same kid). */
static atomic_uint_fast64_t signkeys_serials;

#define M_TOKCACHE "authd_token_cache_lookups_total"

struct signkeys {
    pthread_rwlock_t lock;       /* guards keys, n, cap and every key's retired_at */
    pthread_mutex_t rotate_lock; /* one rotation at a time; only a rotation writes the array */
    int64_t max_ttl;
    int64_t (*now)(void); /* borrowed from the struct authd given to signkeys_load */
    struct authd *a;      /* borrowed: the store, the key box and refresh_ms of signkeys_load's */
    pthread_mutex_t sync_lock; /* guards synced_ms */
    int64_t synced_ms;         /* monotonic ms of the last reread of the store's keys */
    struct signkey *keys;
    size_t n, cap;
    const char *default_alg; /* access tokens' algorithm while no key is selected (static) */
    struct tokcache *cache;  /* verified tokens (a->set.token_cache of signkeys_load; NULL: none) */
};

/* The private members a public JWK must never carry (EC, RSA, oct). */
static const char *const signkeys_private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};

/* The canonical name of a supported algorithm (NULL or "" = ES256), or NULL. */
static const char *
signkeys_alg_name(const char *alg)
{
    if (alg == NULL || alg[0] == '\0' || strcmp(alg, "ES256") == 0)
        return "ES256";
    if (strcmp(alg, "RS256") == 0)
        return "RS256";
    return NULL;
}

/* Whether c is in the base64url alphabet (no padding). */
static int
signkeys_b64url_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* A kid as authd makes them: 1..SIGNKEYS_KID_MAX-1 base64url characters. */
static int
signkeys_kid_ok(const char *kid)
{
    size_t n = strlen(kid);
    if (n == 0 || n >= SIGNKEYS_KID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!signkeys_b64url_char(kid[i]))
            return 0;
    return 1;
}

static void
signkey_clear(struct signkey *sk)
{
    cjose_jwk_release(sk->jwk);
    EVP_PKEY_CTX_free(sk->signer); /* and its key, once no signature in flight holds it */
    free(sk->pub_json);
    memset(sk, 0, sizeof(*sk));
}

/* Whether sk is still published at now: active, or retired no longer than max_ttl ago. */
static int
signkey_published(const struct signkeys *k, const struct signkey *sk, int64_t now)
{
    return sk->retired_at == 0 || now - sk->retired_at <= k->max_ttl;
}

static int
signkey_expired(const struct signkeys *k, int64_t retired_at, int64_t now)
{
    return retired_at != 0 && now - retired_at > k->max_ttl;
}

/* Whether sk's signing is over at now: its retirement has come (a rotation may set it ahead). */
static int
signkey_done(const struct signkey *sk, int64_t now)
{
    return sk->retired_at != 0 && sk->retired_at <= now;
}

/* Whether x comes after y in the order keys take over: later active_from, then later created_at,
 * then the greater kid (two replicas rotating in the same second), so every replica agrees. */
static int
signkey_later(const struct signkey *x, const struct signkey *y)
{
    if (x->active_from != y->active_from)
        return x->active_from > y->active_from;
    if (x->created_at != y->created_at)
        return x->created_at > y->created_at;
    return strcmp(x->kid, y->kid) > 0;
}

/*
 * The key that signs for alg at now, or NULL when alg has none that is not done. A key signs from
 * its active_from until its retired_at: every replica reads both from the store, so they agree
 * on it without a timer of their own. With several in that window (two replicas that rotated at
 * once; see signkeys_load), the latest to take over. With none in it (only when a replica's clock
 * runs behind the one that rotated), the next to begin, so that alg never stops signing.
 */
static struct signkey *
signkeys_active(struct signkeys *k, const char *alg, int64_t now)
{
    struct signkey *best = NULL, *next = NULL;
    for (size_t i = 0; i < k->n; i++) {
        struct signkey *sk = &k->keys[i];
        if (strcmp(sk->alg, alg) != 0 || signkey_done(sk, now))
            continue;
        if (sk->active_from <= now) {
            if (best == NULL || signkey_later(sk, best))
                best = sk;
        } else if (next == NULL || signkey_later(next, sk)) {
            next = sk;
        }
    }
    return best != NULL ? best : next;
}

/* The key of alg that signs last: not retired (retired_at 0), the current signer or the one
 * waiting for its active_from. One per alg but after concurrent rotations (signkeys_load). */
static struct signkey *
signkeys_latest(struct signkeys *k, const char *alg)
{
    struct signkey *best = NULL;
    for (size_t i = 0; i < k->n; i++) {
        struct signkey *sk = &k->keys[i];
        if (sk->retired_at == 0 && strcmp(sk->alg, alg) == 0 &&
            (best == NULL || signkey_later(sk, best)))
            best = sk;
    }
    return best;
}

/* Whether jwk is the kind of key alg signs with: P-256 for ES256, RSA >= 2048 for RS256. */
static int
signkey_type_ok(const cjose_jwk_t *jwk, const char *alg)
{
    cjose_err err;
    cjose_jwk_kty_t kty = cjose_jwk_get_kty(jwk, &err);
    if (strcmp(alg, "ES256") == 0)
        return kty == CJOSE_JWK_KTY_EC && cjose_jwk_EC_get_curve(jwk, &err) == CJOSE_JWK_EC_P_256;
    if (strcmp(alg, "RS256") == 0)
        return kty == CJOSE_JWK_KTY_RSA && cjose_jwk_get_keysize(jwk, &err) >= SIGNKEYS_RSA_BITS;
    return 0;
}

/*
 * The public JWK of jwk (whose kid is set) with "alg" and "use": "sig", as compact JSON in
 * *out (malloc'd). The public half is always derived from the private key, never read from the
 * record, so a tampered public_jwk field cannot publish a key authd does not hold.
 */
static int
signkey_public_json(const cjose_jwk_t *jwk, const char *alg, char **out)
{
    cjose_err err;
    char *text = NULL;
    json_t *o = NULL;
    int r = AUTHD_ERR_INTERNAL;

    *out = NULL;
    text = cjose_jwk_to_json(jwk, false, &err);
    if (text == NULL)
        goto out;
    o = json_loads(text, 0, NULL);
    if (!json_is_object(o) || !json_is_string(json_object_get(o, "kid")))
        goto out;
    /* cjose leaves these out for priv = false; removing them again costs nothing. */
    for (size_t i = 0; i < sizeof(signkeys_private_members) / sizeof(signkeys_private_members[0]);
         i++)
        json_object_del(o, signkeys_private_members[i]);
    if (json_object_set_new(o, "alg", json_string(alg)) != 0 ||
        json_object_set_new(o, "use", json_string("sig")) != 0) {
        r = AUTHD_ERR_NOMEM;
        goto out;
    }
    *out = json_dumps(o, JSON_COMPACT);
    r = *out != NULL ? AUTHD_OK : AUTHD_ERR_NOMEM;
out:
    json_decref(o);
    free(text);
    return r;
}

/* The base64url member name of the JWK o as a new BIGNUM (secure: a private member; freed with
 * BN_clear_free), or NULL when it is absent, empty or not base64url. The decoded bytes are wiped.
 */
static BIGNUM *
jwk_bn(const json_t *o, const char *name, int secure)
{
    uint8_t raw[SIGNKEYS_SIG_MAX];
    const char *v = json_string_value(json_object_get(o, name));
    if (v == NULL)
        return NULL;
    long n = secret_b64url_decode(v, strlen(v), raw, sizeof(raw));
    BIGNUM *bn = n > 0 ? (secure ? BN_secure_new() : BN_new()) : NULL;
    if (bn != NULL && BN_bin2bn(raw, (int)n, bn) == NULL) {
        BN_clear_free(bn);
        bn = NULL;
    }
    secret_wipe(raw, sizeof(raw));
    return bn;
}

/* Pushes the EC members of o (P-256: x and y, 32 bytes each; d) onto bld, the point written into
 * pt (the caller keeps it: the builder refers to it, as to *d, the private scalar, until
 * OSSL_PARAM_BLD_to_param). 1 or 0. */
static int
signer_ec_params(const json_t *o, OSSL_PARAM_BLD *bld, BIGNUM **d, uint8_t pt[65])
{
    const char *x = json_string_value(json_object_get(o, "x"));
    const char *y = json_string_value(json_object_get(o, "y"));
    pt[0] = 0x04; /* an uncompressed point: 04 || x || y (SEC 1 §2.3.3) */
    if (x == NULL || y == NULL || secret_b64url_decode(x, strlen(x), pt + 1, 32) != 32 ||
        secret_b64url_decode(y, strlen(y), pt + 33, 32) != 32)
        return 0;
    *d = jwk_bn(o, "d", 1);
    return *d != NULL &&
           OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
           OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, 65) &&
           OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, *d);
}

/* The RSA members of a JWK (RFC 7518 §6.3) and OpenSSL's names for them; n, e and d first. */
#define SIGNER_RSA_MEMBERS 8
static const char *const signer_rsa_members[SIGNER_RSA_MEMBERS][2] = {
    {"n", OSSL_PKEY_PARAM_RSA_N},          {"e", OSSL_PKEY_PARAM_RSA_E},
    {"d", OSSL_PKEY_PARAM_RSA_D},          {"p", OSSL_PKEY_PARAM_RSA_FACTOR1},
    {"q", OSSL_PKEY_PARAM_RSA_FACTOR2},    {"dp", OSSL_PKEY_PARAM_RSA_EXPONENT1},
    {"dq", OSSL_PKEY_PARAM_RSA_EXPONENT2}, {"qi", OSSL_PKEY_PARAM_RSA_COEFFICIENT1},
};

/* Pushes the RSA members of o onto bld: n, e and d, and the CRT members when all five are
 * there. bn (SIGNER_RSA_MEMBERS) receives the numbers, which the builder refers to. 1 or 0. */
static int
signer_rsa_params(const json_t *o, OSSL_PARAM_BLD *bld, BIGNUM **bn)
{
    size_t have = 0;
    for (size_t i = 0; i < SIGNER_RSA_MEMBERS; i++)
        if ((bn[i] = jwk_bn(o, signer_rsa_members[i][0], i >= 2)) != NULL)
            have++;
    if (bn[0] == NULL || bn[1] == NULL || bn[2] == NULL)
        return 0;
    size_t use = have == SIGNER_RSA_MEMBERS ? SIGNER_RSA_MEMBERS : 3;
    for (size_t i = 0; i < use; i++)
        if (!OSSL_PARAM_BLD_push_BN(bld, signer_rsa_members[i][1], bn[i]))
            return 0;
    return 1;
}

/*
 * OpenSSL's signing context for the private jwk of alg, in *out (free with EVP_PKEY_CTX_free):
 * the members of cjose's private JWK export made into an EVP_PKEY, which must pass OpenSSL's
 * pairwise check (the public half is the private one's), with EVP_PKEY_sign_init done and, for
 * RS256, PKCS #1 v1.5 padding of a SHA-256 DigestInfo (RFC 7518 §3.3). Made once per key (when
 * it is generated or opened): a signature then costs a duplicate of the context, not a fetch of
 * OpenSSL's algorithms nor cjose's JSON. The exported private JSON is wiped (jansson's copies
 * of its strings are freed unwiped, as when cjose imports the key).
 */
static int
signkey_signer(const cjose_jwk_t *jwk, const char *alg, EVP_PKEY_CTX **out)
{
    cjose_err err;
    BIGNUM *bn[SIGNER_RSA_MEMBERS] = {NULL};
    /* The EC public point: the builder keeps a pointer to it until OSSL_PARAM_BLD_to_param. */
    uint8_t pt[65];
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *kctx = NULL, *ctx = NULL;
    EVP_PKEY *pkey = NULL;
    json_t *o = NULL;
    int es = strcmp(alg, "ES256") == 0;
    int r = AUTHD_ERR_INTERNAL;

    *out = NULL;
    char *text = cjose_jwk_to_json(jwk, true, &err);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (text == NULL || bld == NULL)
        goto out;
    o = json_loads(text, 0, NULL);
    if (!json_is_object(o))
        goto out;
    if (!(es ? signer_ec_params(o, bld, &bn[0], pt) : signer_rsa_params(o, bld, bn)))
        goto out;
    params = OSSL_PARAM_BLD_to_param(bld);
    kctx = EVP_PKEY_CTX_new_from_name(NULL, es ? "EC" : "RSA", NULL);
    if (params == NULL || kctx == NULL || EVP_PKEY_fromdata_init(kctx) != 1 ||
        EVP_PKEY_fromdata(kctx, &pkey, EVP_PKEY_KEYPAIR, params) != 1)
        goto out;
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (ctx == NULL || EVP_PKEY_pairwise_check(ctx) != 1 || EVP_PKEY_sign_init(ctx) != 1)
        goto out;
    if (!es && (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1 ||
                EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) != 1))
        goto out;
    *out = ctx;
    ctx = NULL;
    r = AUTHD_OK;
out:
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_CTX_free(kctx);
    EVP_PKEY_free(pkey); /* the context holds its own reference */
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    for (size_t i = 0; i < SIGNER_RSA_MEMBERS; i++)
        BN_clear_free(bn[i]);
    json_decref(o);
    secret_strfree(text);
    return r;
}

/*
 * Fills sk from a private jwk, which it takes over whatever the result (released on failure).
 * Checks that the key fits alg and sets its kid.
 */
static int
signkey_fill(struct signkey *sk, cjose_jwk_t *jwk, const char *kid, const char *alg,
             int64_t created_at, int64_t retired_at)
{
    cjose_err err;
    int r = AUTHD_ERR_INTERNAL;

    memset(sk, 0, sizeof(*sk));
    sk->jwk = jwk;
    if (strlen(kid) >= sizeof(sk->kid) || strlen(alg) >= sizeof(sk->alg))
        goto out;
    if (!signkey_type_ok(jwk, alg))
        goto out;
    if (!cjose_jwk_set_kid(jwk, kid, strlen(kid), &err))
        goto out;
    r = signkey_public_json(jwk, alg, &sk->pub_json);
    if (r == AUTHD_OK)
        r = signkey_signer(jwk, alg, &sk->signer);
    if (r != AUTHD_OK)
        goto out;
    memcpy(sk->kid, kid, strlen(kid) + 1); /* lengths checked above */
    memcpy(sk->alg, alg, strlen(alg) + 1);
    sk->created_at = created_at;
    sk->active_from = created_at;
    sk->retired_at = retired_at;
    sk->serial = atomic_fetch_add(&signkeys_serials, 1) + 1;
out:
    if (r != AUTHD_OK)
        signkey_clear(sk);
    return r;
}

/*
 * Makes a new key for alg: sk (in memory) and *rec (the record to store, malloc'd; free with
 * rpc_msg_free). The private JWK JSON exists in clear only inside this function.
 */
static int
signkey_generate(struct authd *a, const char *alg, struct signkey *sk,
                 Authd__Storage__SigningKey **rec)
{
    static const uint8_t rsa_e[] = {0x01, 0x00, 0x01};
    uint8_t raw[SIGNKEYS_KID_BYTES];
    char kid[SIGNKEYS_KID_MAX];
    cjose_err err;
    cjose_jwk_t *jwk = NULL;
    char *priv = NULL;
    Authd__Storage__SigningKey *m = NULL;
    int r = AUTHD_ERR_INTERNAL;

    *rec = NULL;
    memset(sk, 0, sizeof(*sk));
    if (a->box == NULL)
        goto out;
    if (secret_random(raw, sizeof(raw)) != AUTHD_OK)
        goto out;
    secret_b64url_encode(raw, sizeof(raw), kid);
    if (strcmp(alg, "ES256") == 0)
        jwk = cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &err);
    else
        jwk = cjose_jwk_create_RSA_random(SIGNKEYS_RSA_BITS, rsa_e, sizeof(rsa_e), &err);
    if (jwk == NULL || !cjose_jwk_set_kid(jwk, kid, strlen(kid), &err))
        goto out;
    priv = cjose_jwk_to_json(jwk, true, &err);
    if (priv == NULL)
        goto out;

    r = AUTHD_ERR_NOMEM;
    m = malloc(sizeof(*m));
    if (m == NULL)
        goto out;
    authd__storage__signing_key__init(m);
    m->kid = strdup(kid);
    m->alg = strdup(alg);
    if (m->kid == NULL || m->alg == NULL)
        goto out;
    m->created_at = a->now();
    r = secretbox_seal(a->box, (const uint8_t *)priv, strlen(priv), (const uint8_t *)kid,
                       strlen(kid), &m->private_jwk_enc.data, &m->private_jwk_enc.len);
    if (r != AUTHD_OK)
        goto out;

    r = signkey_fill(sk, jwk, kid, alg, m->created_at, 0);
    jwk = NULL; /* signkey_fill took it */
    if (r != AUTHD_OK)
        goto out;
    m->public_jwk = strdup(sk->pub_json);
    if (m->public_jwk == NULL) {
        r = AUTHD_ERR_NOMEM;
        goto out;
    }
    *rec = m;
    m = NULL;
out:
    if (r != AUTHD_OK)
        signkey_clear(sk);
    rpc_msg_free(m != NULL ? &m->base : NULL);
    secret_strfree(priv);
    cjose_jwk_release(jwk);
    secret_wipe(raw, sizeof(raw));
    return r;
}

/* Opens a stored key into sk. AUTHD_ERR_INTERNAL for a key that does not open or fit. */
static int
signkey_open(struct authd *a, const Authd__Storage__SigningKey *rec, struct signkey *sk)
{
    cjose_err err;
    uint8_t *pt = NULL;
    size_t ptlen = 0;
    int r = AUTHD_ERR_INTERNAL;

    memset(sk, 0, sizeof(*sk));
    const char *alg = signkeys_alg_name(rec->alg);
    if (alg == NULL || rec->alg[0] == '\0' || !signkeys_kid_ok(rec->kid))
        goto out;
    r = secretbox_open(a->box, rec->private_jwk_enc.data, rec->private_jwk_enc.len,
                       (const uint8_t *)rec->kid, strlen(rec->kid), &pt, &ptlen);
    if (r != AUTHD_OK)
        goto out;
    cjose_jwk_t *jwk = cjose_jwk_import((const char *)pt, ptlen, &err);
    if (jwk == NULL) {
        r = AUTHD_ERR_INTERNAL;
        goto out;
    }
    r = signkey_fill(sk, jwk, rec->kid, alg, rec->created_at, rec->retired_at);
    if (r == AUTHD_OK) {
        sk->selected_at = rec->selected_at;
        /* 0: a key made before publication delays, which signed from its creation. */
        sk->active_from = rec->active_from != 0 ? rec->active_from : rec->created_at;
    }
out:
    secret_freezero(pt, ptlen);
    return r;
}

/* Makes room for one more key. Called with the write lock held (or before k is shared). */
static int
signkeys_reserve(struct signkeys *k)
{
    if (k->n < k->cap)
        return AUTHD_OK;
    size_t cap = k->cap ? k->cap * 2 : 4;
    struct signkey *v = realloc(k->keys, cap * sizeof(*v));
    if (v == NULL)
        return AUTHD_ERR_NOMEM;
    k->keys = v;
    k->cap = cap;
    return AUTHD_OK;
}

/* Records read by the load scan. */
struct signkeys_recs {
    Authd__Storage__SigningKey **v;
    size_t n, cap;
};

static void
signkeys_recs_free(struct signkeys_recs *rs)
{
    for (size_t i = 0; i < rs->n; i++)
        rpc_msg_free(&rs->v[i]->base);
    free(rs->v);
}

static int
on_sigkey_record(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct signkeys_recs *rs = arg;
    size_t plen = strlen(KEY_SIGKEY);
    char q[96], name[KEY_MAX];

    snprintf(name, sizeof(name), "%.*s", (int)(klen < KEY_MAX ? klen : KEY_MAX - 1),
             (const char *)key);
    Authd__Storage__SigningKey *m = authd__storage__signing_key__unpack(NULL, vlen, val);
    /* The kid is bound to its key name: a record copied under another name is refused. */
    if (m == NULL || !signkeys_kid_ok(m->kid) || strlen(m->kid) != klen - plen ||
        memcmp(m->kid, (const char *)key + plen, klen - plen) != 0) {
        log_event(LOG_WARN, "signkey_record_invalid", "key=%s", log_quote(name, q, sizeof(q)));
        rpc_msg_free(m != NULL ? &m->base : NULL);
        return 0;
    }
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 8;
        Authd__Storage__SigningKey **v = realloc(rs->v, cap * sizeof(*v));
        if (v == NULL) {
            rpc_msg_free(&m->base);
            return AUTHD_ERR_NOMEM;
        }
        rs->v = v;
        rs->cap = cap;
    }
    rs->v[rs->n++] = m;
    return 0;
}

static int
signkeys_key_name(char out[KEY_MAX], const char *kid)
{
    return key_make(out, KEY_SIGKEY, kid, NULL) > 0 ? AUTHD_OK : AUTHD_ERR_INTERNAL;
}

/* A new, empty key set with its locks. NULL when out of memory (or a lock cannot be made). */
static struct signkeys *
signkeys_new(int64_t max_token_ttl, int64_t (*now)(void))
{
    struct signkeys *k = calloc(1, sizeof(*k));
    if (k == NULL)
        return NULL;
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    /* Verifies never stop; without this a rotation could wait for a gap forever. */
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    int lr = pthread_rwlock_init(&k->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    if (lr != 0) {
        free(k);
        return NULL;
    }
    if (pthread_mutex_init(&k->rotate_lock, NULL) != 0) {
        pthread_rwlock_destroy(&k->lock);
        free(k);
        return NULL;
    }
    if (pthread_mutex_init(&k->sync_lock, NULL) != 0) {
        pthread_mutex_destroy(&k->rotate_lock);
        pthread_rwlock_destroy(&k->lock);
        free(k);
        return NULL;
    }
    k->max_ttl = max_token_ttl;
    k->now = now;
    k->default_alg = "ES256";
    return k;
}

/*
 * Opens every stored key into k, except the ones whose last token has expired: those go into b
 * as deletes (*dirty set). A key that does not open stays in the store (it may open under the
 * right key-encryption key later) and out of k.
 */
static int
signkeys_open_stored(struct authd *a, struct signkeys *k, const struct signkeys_recs *rs,
                     struct store_batch *b, int64_t now, int *dirty)
{
    char name[KEY_MAX], q[96];
    for (size_t i = 0; i < rs->n; i++) {
        Authd__Storage__SigningKey *m = rs->v[i];
        int r = signkeys_key_name(name, m->kid);
        if (r != AUTHD_OK)
            return r;
        if (signkey_expired(k, m->retired_at, now)) {
            /* Every token it signed has expired: nobody needs its public half any more. */
            if ((r = store_batch_delete(b, name, strlen(name))) != AUTHD_OK)
                return r;
            *dirty = 1;
            log_event(LOG_INFO, "signkey_expired", "kid=%s alg=%s", log_quote(m->kid, q, sizeof(q)),
                      signkeys_alg_name(m->alg) ? signkeys_alg_name(m->alg) : "unknown");
            continue;
        }
        if ((r = signkeys_reserve(k)) != AUTHD_OK)
            return r;
        r = signkey_open(a, m, &k->keys[k->n]);
        if (r == AUTHD_ERR_NOMEM)
            return r;
        if (r != AUTHD_OK) {
            log_event(
                LOG_ERROR, "signkey_unreadable",
                "kid=%s reason=\"does not open with this key-encryption key or is malformed\"",
                log_quote(m->kid, q, sizeof(q)));
            continue;
        }
        k->n++;
    }
    return AUTHD_OK;
}

/*
 * One active key per algorithm. Two can exist when a key that did not open got a successor and
 * opens again now: the newest stays active, the others retire now (their records, updated in
 * rs, go into b; *dirty set).
 */
static int
signkeys_retire_extra(struct signkeys *k, const struct signkeys_recs *rs, struct store_batch *b,
                      int64_t now, int *dirty)
{
    char name[KEY_MAX], q[96];
    for (size_t i = 0; i < rs->n; i++) {
        Authd__Storage__SigningKey *m = rs->v[i];
        struct signkey *cur = NULL;
        for (size_t j = 0; j < k->n; j++)
            if (strcmp(k->keys[j].kid, m->kid) == 0)
                cur = &k->keys[j];
        if (cur == NULL || cur->retired_at != 0 || signkeys_latest(k, cur->alg) == cur)
            continue;
        cur->retired_at = now;
        m->retired_at = now;
        int r = signkeys_key_name(name, m->kid);
        if (r != AUTHD_OK || (r = rec_batch_put(b, name, &m->base)) != AUTHD_OK)
            return r;
        *dirty = 1;
        log_event(LOG_WARN, "signkey_retired", "kid=%s alg=%s reason=\"newer active key\"",
                  log_quote(cur->kid, q, sizeof(q)), cur->alg);
    }
    return AUTHD_OK;
}

/* Without an active ES256 key (a new store), makes one into k and its record into b. */
static int
signkeys_ensure_es256(struct authd *a, struct signkeys *k, struct store_batch *b, int *dirty)
{
    Authd__Storage__SigningKey *fresh = NULL;
    struct signkey sk;
    char name[KEY_MAX], q[96];
    int r = AUTHD_OK;

    memset(&sk, 0, sizeof(sk));
    if (signkeys_active(k, "ES256", a->now()) != NULL)
        return AUTHD_OK;
    if ((r = signkeys_reserve(k)) != AUTHD_OK)
        goto out;
    if ((r = signkey_generate(a, "ES256", &sk, &fresh)) != AUTHD_OK)
        goto out;
    if ((r = signkeys_key_name(name, sk.kid)) != AUTHD_OK ||
        (r = rec_batch_put(b, name, &fresh->base)) != AUTHD_OK)
        goto out;
    k->keys[k->n++] = sk;
    memset(&sk, 0, sizeof(sk));
    *dirty = 1;
    log_event(LOG_INFO, "signkey_created", "kid=%s alg=ES256",
              log_quote(k->keys[k->n - 1].kid, q, sizeof(q)));
out:
    signkey_clear(&sk);
    rpc_msg_free(fresh != NULL ? &fresh->base : NULL);
    return r;
}

int
signkeys_load(struct authd *a, int64_t max_token_ttl, struct signkeys **out)
{
    struct signkeys *k = NULL;
    struct signkeys_recs rs = {0};
    struct store_batch *b = NULL;
    int dirty = 0;
    int r = AUTHD_ERR_INTERNAL;

    *out = NULL;
    if (a == NULL || a->store == NULL || a->now == NULL || max_token_ttl < 0)
        return AUTHD_ERR_INVALID_ARGUMENT;
    if (a->box == NULL) {
        log_event(LOG_ERROR, "signkeys_no_box", "reason=\"no key-encryption key\"");
        return AUTHD_ERR_INTERNAL;
    }

    r = AUTHD_ERR_NOMEM;
    k = signkeys_new(max_token_ttl, a->now);
    b = store_batch_new();
    if (k == NULL || b == NULL)
        goto out;
    r = store_scan(a->store, KEY_SIGKEY, strlen(KEY_SIGKEY), NULL, 0, on_sigkey_record, &rs);
    if (r != AUTHD_OK)
        goto out;
    int64_t now = a->now();
    if ((r = signkeys_open_stored(a, k, &rs, b, now, &dirty)) != AUTHD_OK ||
        (r = signkeys_retire_extra(k, &rs, b, now, &dirty)) != AUTHD_OK ||
        (r = signkeys_ensure_es256(a, k, b, &dirty)) != AUTHD_OK)
        goto out;
    if (dirty && (r = store_batch_commit(a->store, b)) != AUTHD_OK)
        goto out;
    k->a = a;
    k->synced_ms = authd_mono_ms();
    if (a->set.token_cache > 0) {
        r = AUTHD_ERR_NOMEM;
        if ((k->cache = tokcache_new(a->set.token_cache)) == NULL)
            goto out;
        r = AUTHD_OK;
        metrics_describe(M_TOKCACHE, METRICS_COUNTER,
                         "Lookups of a presented JWT in the verified-token cache, by result: hit "
                         "(signature not verified again), miss, or stale (its key retired or "
                         "gone).");
    }
    if (signkeys_alg_name(a->set.token_alg) != NULL)
        k->default_alg = signkeys_alg_name(a->set.token_alg);
    *out = k;
    k = NULL;
out:
    if (r != AUTHD_OK)
        log_event(LOG_ERROR, "signkeys_load_failed", "err=%s", authd_strerror(r));
    store_batch_free(b);
    signkeys_recs_free(&rs);
    signkeys_free(k);
    return r;
}

void
signkeys_free(struct signkeys *k)
{
    if (k == NULL)
        return;
    for (size_t i = 0; i < k->n; i++)
        signkey_clear(&k->keys[i]);
    free(k->keys);
    tokcache_free(k->cache);
    pthread_rwlock_destroy(&k->lock);
    pthread_mutex_destroy(&k->rotate_lock);
    pthread_mutex_destroy(&k->sync_lock);
    free(k);
}

/* ---- agreeing with other replicas ----------------------------------------------------------
 * Another authd on the same store may rotate (a new key, the old one retired) or drop an expired
 * key. Every use of k rereads the stored keys when its copy is older than the authd's refresh_ms
 * (signkeys_refresh), and a token whose kid this replica has never seen makes it read that one
 * record at once (signkeys_fetch), so a token signed by a key another replica just made verifies
 * here at once. Both change the array under rotate_lock, as a rotation does. */

/* The in-memory key with kid, or NULL. Called with rotate_lock or a lock on k->lock held. */
static struct signkey *
signkeys_find(struct signkeys *k, const char *kid)
{
    for (size_t i = 0; i < k->n; i++)
        if (strcmp(k->keys[i].kid, kid) == 0)
            return &k->keys[i];
    return NULL;
}

/* Makes k what the store holds: new keys opened and added, retirements taken over, keys gone
 * from the store (expired and deleted by another replica) dropped. */
static int
signkeys_sync(struct signkeys *k)
{
    struct signkeys_recs rs = {0};
    struct signkey *add = NULL;
    size_t nadd = 0;
    char q[96];

    /* The scan under rotate_lock: a rotation of this replica cannot slip between the scan and
     * the update (its new key would look dropped). */
    pthread_mutex_lock(&k->rotate_lock);
    int r = store_scan(k->a->store, KEY_SIGKEY, strlen(KEY_SIGKEY), NULL, 0, on_sigkey_record, &rs);
    if (r != AUTHD_OK)
        goto out;
    int64_t now = k->now();
    r = AUTHD_ERR_NOMEM;
    add = calloc(rs.n + 1, sizeof(*add));
    if (add == NULL)
        goto out;
    /* Opening is the slow part: before the write lock. Only rotate_lock holders change the
     * array, so reading it here is safe. */
    for (size_t i = 0; i < rs.n; i++) {
        const Authd__Storage__SigningKey *m = rs.v[i];
        if (signkey_expired(k, m->retired_at, now) || signkeys_find(k, m->kid) != NULL)
            continue;
        if (signkey_open(k->a, m, &add[nadd]) == AUTHD_OK)
            nadd++;
        else
            log_event(LOG_ERROR, "signkey_unreadable", "kid=%s", log_quote(m->kid, q, sizeof(q)));
    }
    r = AUTHD_OK;
    pthread_rwlock_wrlock(&k->lock);
    size_t w = 0;
    for (size_t i = 0; i < k->n; i++) {
        const Authd__Storage__SigningKey *m = NULL;
        for (size_t j = 0; j < rs.n && m == NULL; j++)
            if (strcmp(rs.v[j]->kid, k->keys[i].kid) == 0)
                m = rs.v[j];
        /* Gone from the store: dropped. An expired one stays (unpublished) until a rotation or
         * a load deletes its record. */
        if (m == NULL) {
            signkey_clear(&k->keys[i]);
            continue;
        }
        if (m->retired_at != 0)
            k->keys[i].retired_at = m->retired_at;
        k->keys[w++] = k->keys[i];
    }
    k->n = w;
    for (size_t i = 0; i < nadd && r == AUTHD_OK; i++) {
        r = signkeys_reserve(k);
        if (r == AUTHD_OK) {
            k->keys[k->n++] = add[i];
            memset(&add[i], 0, sizeof(add[i]));
        }
    }
    pthread_rwlock_unlock(&k->lock);
out:
    pthread_mutex_unlock(&k->rotate_lock);
    for (size_t i = 0; add != NULL && i < nadd; i++)
        signkey_clear(&add[i]);
    free(add);
    signkeys_recs_free(&rs);
    return r;
}

/* Rereads the store's keys when the copy is older than refresh_ms; one thread rereads while
 * the others go on with the copy. A failure keeps the copy (logged). */
static void
signkeys_refresh(struct signkeys *k)
{
    /* A key set whose authd has no store (the JWT fuzz target's) is fixed in memory. */
    if (k->a == NULL || k->a->store == NULL)
        return;
    int64_t now = authd_mono_ms();
    pthread_mutex_lock(&k->sync_lock);
    int due = k->a->refresh_ms <= 0 || now - k->synced_ms >= k->a->refresh_ms;
    if (due)
        k->synced_ms = now;
    pthread_mutex_unlock(&k->sync_lock);
    if (!due)
        return;
    int r = signkeys_sync(k);
    if (r != AUTHD_OK)
        log_event(LOG_WARN, "signkeys_reload_failed", "err=%s", authd_err_reason(r));
}

/* A kid this replica does not know: reads that one record (a point read, as cheap as any token
 * lookup, so unknown kids cost an attacker as much as they cost us) and adds the key when it is
 * there and still published. */
static void
signkeys_fetch(struct signkeys *k, const char *kid)
{
    Authd__Storage__SigningKey *m = NULL;
    struct signkey sk;
    char name[KEY_MAX];

    memset(&sk, 0, sizeof(sk));
    if (k->a == NULL || k->a->store == NULL || !signkeys_kid_ok(kid) ||
        signkeys_key_name(name, kid) != AUTHD_OK)
        return;
    if (rec_get(k->a->store, NULL, 0, name, &authd__storage__signing_key__descriptor,
                (ProtobufCMessage **)&m) != AUTHD_OK)
        return;
    pthread_mutex_lock(&k->rotate_lock);
    if (strcmp(m->kid, kid) == 0 && !signkey_expired(k, m->retired_at, k->now()) &&
        signkeys_find(k, kid) == NULL && signkey_open(k->a, m, &sk) == AUTHD_OK) {
        pthread_rwlock_wrlock(&k->lock);
        if (signkeys_reserve(k) == AUTHD_OK) {
            k->keys[k->n++] = sk;
            memset(&sk, 0, sizeof(sk));
        }
        pthread_rwlock_unlock(&k->lock);
    }
    pthread_mutex_unlock(&k->rotate_lock);
    signkey_clear(&sk);
    rpc_msg_free(&m->base);
}

/* Whether a rotation whose key takes over at from ends sk's signing then: sk is of alg and
 * would sign (or still be waiting to sign) past from. */
static int
rotate_retires(const struct signkey *sk, const char *alg, int64_t from)
{
    return strcmp(sk->alg, alg) == 0 && (sk->retired_at == 0 || sk->retired_at > from);
}

/*
 * A rotation's stored part, added to b (under rotate_lock, k's array reserved): every key of alg
 * that would sign past from (the new key's active_from) retires at from - the current signer, a
 * key still waiting for its own active_from after an earlier rotation, or several when replicas
 * rotated at once; each is read back from the store so that only retired_at changes - and keys
 * whose retirement has expired are deleted.
 */
static int
rotate_stage(struct authd *a, struct signkeys *k, const char *alg, int64_t now, int64_t from,
             struct store_batch *b)
{
    Authd__Storage__SigningKey *prev = NULL;
    char name[KEY_MAX];
    int r = AUTHD_OK;

    for (size_t i = 0; i < k->n && r == AUTHD_OK; i++) {
        if (!rotate_retires(&k->keys[i], alg, from))
            continue;
        if ((r = signkeys_key_name(name, k->keys[i].kid)) == AUTHD_OK)
            r = rec_get(a->store, NULL, 0, name, &authd__storage__signing_key__descriptor,
                        (ProtobufCMessage **)&prev);
        if (r == AUTHD_OK && (prev->retired_at == 0 || prev->retired_at > from)) {
            prev->retired_at = from;
            r = rec_batch_put(b, name, &prev->base);
        }
        rpc_msg_free(prev != NULL ? &prev->base : NULL);
        prev = NULL;
    }
    for (size_t i = 0; i < k->n && r == AUTHD_OK; i++) {
        if (!signkey_expired(k, k->keys[i].retired_at, now))
            continue;
        if ((r = signkeys_key_name(name, k->keys[i].kid)) == AUTHD_OK)
            r = store_batch_delete(b, name, strlen(name));
    }
    return r;
}

/* A stored rotation's same change in memory, where nothing can fail any more: the keys of alg
 * that would sign past from retire at from, expired ones go, *sk (owned by the array from now
 * on) joins. */
static void
rotate_apply(struct signkeys *k, const char *alg, int64_t now, int64_t from, struct signkey *sk)
{
    pthread_rwlock_wrlock(&k->lock);
    for (size_t i = 0; i < k->n; i++)
        if (rotate_retires(&k->keys[i], alg, from))
            k->keys[i].retired_at = from;
    size_t w = 0;
    for (size_t i = 0; i < k->n; i++) {
        if (signkey_expired(k, k->keys[i].retired_at, now))
            signkey_clear(&k->keys[i]);
        else
            k->keys[w++] = k->keys[i];
    }
    k->n = w;
    k->keys[k->n++] = *sk;
    pthread_rwlock_unlock(&k->lock);
}

int
signkeys_rotate(struct authd *a, struct signkeys *k, const char *alg, char *kid)
{
    return signkeys_rotate_at(a, k, alg, 0, kid, NULL);
}

int
signkeys_rotate_at(struct authd *a, struct signkeys *k, const char *alg, int at_once, char *kid,
                   int64_t *active_from)
{
    struct signkey sk;
    Authd__Storage__SigningKey *fresh = NULL;
    struct store_batch *b = NULL;
    char name[KEY_MAX], q[96], q2[96], old_kid[SIGNKEYS_KID_MAX] = "";
    int rotating = 0;
    int r = AUTHD_ERR_INVALID_ARGUMENT;

    memset(&sk, 0, sizeof(sk));
    if (kid != NULL)
        kid[0] = '\0';
    if (active_from != NULL)
        *active_from = 0;
    /* No algorithm named: the key that signs access tokens now is the one to replace. */
    const char *name_alg =
        alg == NULL || alg[0] == '\0' ? signkeys_access_alg(k) : signkeys_alg_name(alg);
    if (a == NULL || k == NULL || name_alg == NULL)
        goto out;

    /* The slow part (an RSA key takes a while) before any lock. */
    if ((r = signkey_generate(a, name_alg, &sk, &fresh)) != AUTHD_OK)
        goto out;
    r = AUTHD_ERR_NOMEM;
    b = store_batch_new();
    if (b == NULL)
        goto out;

    /* Another replica may have rotated since the last refresh: its key must be retired too. */
    if (k->a != NULL && (r = signkeys_sync(k)) != AUTHD_OK)
        goto out;
    pthread_mutex_lock(&k->rotate_lock);
    rotating = 1;
    /* Only rotations change the array, and this one holds rotate_lock: reading it is safe. */
    int64_t now = a->now();
    sk.created_at = now;
    fresh->created_at = now;
    /* The administrator's choice of algorithm for access tokens: later than every choice this
     * replica knows (retired keys' included), even within the same second, so the last rotation
     * always wins. */
    int64_t sel = now;
    for (size_t i = 0; i < k->n; i++)
        if (k->keys[i].selected_at >= sel)
            sel = k->keys[i].selected_at + 1;
    sk.selected_at = sel;
    fresh->selected_at = sel;
    pthread_rwlock_wrlock(&k->lock);
    r = signkeys_reserve(k);
    pthread_rwlock_unlock(&k->lock);
    if (r != AUTHD_OK)
        goto out;
    /* After the reserve: a pointer into the array is good until the array changes again. */
    struct signkey *old = signkeys_active(k, name_alg, now);
    if (old != NULL)
        snprintf(old_kid, sizeof(old_kid), "%s", old->kid); /* the array moves below */
    /* Publish before sign: the new key is in the JWKS from the commit on, but signs only from
     * `from`, the publication delay later, so that every cache of the key set (the edge's, a
     * resource server's) has refreshed and holds it before the first token it signs; the keys
     * before it sign until then. With no key of alg to sign meanwhile (nothing of alg can be
     * cached), or asked to (an emergency), it signs at once. The stored times decide on every
     * replica (signkeys_active). */
    int64_t delay = a->set.key_publish_delay > 0 ? a->set.key_publish_delay : 0;
    int64_t from = at_once || old == NULL ? now : now + delay;
    sk.active_from = from;
    fresh->active_from = from;
    if ((r = signkeys_key_name(name, sk.kid)) != AUTHD_OK ||
        (r = rec_batch_put(b, name, &fresh->base)) != AUTHD_OK)
        goto out;
    /* Every key of alg that would sign past `from` retires then: the current one, one still
     * waiting after an earlier rotation, or several when replicas rotated at once. */
    if ((r = rotate_stage(a, k, name_alg, now, from, b)) != AUTHD_OK ||
        (r = store_batch_commit(a->store, b)) != AUTHD_OK)
        goto out;
    rotate_apply(k, name_alg, now, from, &sk);
    log_event(LOG_INFO, "signkey_rotated", "kid=%s alg=%s retired=%s signs_in=%lld",
              log_quote(sk.kid, q, sizeof(q)), name_alg,
              old_kid[0] != '\0' ? log_quote(old_kid, q2, sizeof(q2)) : "none",
              (long long)(from - now));
    if (kid != NULL)
        snprintf(kid, SIGNKEYS_KID_MAX, "%s", sk.kid);
    if (active_from != NULL)
        *active_from = from;
    memset(&sk, 0, sizeof(sk)); /* the array owns it now */
    r = AUTHD_OK;
out:
    if (rotating)
        pthread_mutex_unlock(&k->rotate_lock);
    if (r != AUTHD_OK)
        log_event(LOG_ERROR, "signkey_rotate_failed", "alg=%s err=%s",
                  name_alg != NULL ? name_alg : "unknown", authd_strerror(r));
    signkey_clear(&sk);
    rpc_msg_free(fresh != NULL ? &fresh->base : NULL);
    store_batch_free(b);
    return r;
}

int
signkeys_sign(struct signkeys *k, const char *alg, const char *claims_json, char **jws)
{
    return signkeys_sign_typ(k, alg, "JWT", claims_json, jws);
}

int
signkeys_sign_typ(struct signkeys *k, const char *alg, const char *typ, const char *claims_json,
                  char **jws)
{
    if (jws == NULL)
        return AUTHD_ERR_INVALID_ARGUMENT;
    *jws = NULL;
    if (claims_json == NULL)
        return AUTHD_ERR_INVALID_ARGUMENT;
    /* Text from elsewhere: it must be one JSON object (signkeys_sign_unchecked takes it as is). */
    json_t *claims = json_loads(claims_json, JSON_REJECT_DUPLICATES, NULL);
    int object = json_is_object(claims);
    json_decref(claims);
    if (!object)
        return AUTHD_ERR_INVALID_ARGUMENT;
    return signkeys_sign_unchecked(k, alg, typ, claims_json, strlen(claims_json), jws);
}

/* Whether typ can stand in the header as it is: 1..SIGNKEYS_TYP_MAX-1 printable ASCII
 * characters, none that JSON would escape. */
static int
signkeys_typ_ok(const char *typ)
{
    size_t n = strnlen(typ, SIGNKEYS_TYP_MAX);
    if (n == 0 || n == SIGNKEYS_TYP_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (typ[i] <= 0x20 || typ[i] >= 0x7F || typ[i] == '"' || typ[i] == '\\')
            return 0;
    return 1;
}

/*
 * The JWS signature of the digest dg with ctx (a duplicate of a key's signer) in the form JWS
 * carries, into sig (SIGNKEYS_SIG_MAX bytes): ES256 R || S, 32 bytes each, left-padded (RFC 7518
 * §3.4; OpenSSL writes DER), RS256 the PKCS #1 v1.5 signature as it is. Its length, or 0.
 */
static size_t
signkeys_signature(EVP_PKEY_CTX *ctx, int es, const uint8_t dg[32], uint8_t *sig)
{
    uint8_t der[SIGNKEYS_SIG_MAX];
    size_t len = sizeof(der);
    if (EVP_PKEY_sign(ctx, es ? der : sig, &len, dg, 32) != 1 || len == 0 || len > sizeof(der))
        return 0;
    if (!es)
        return len;
    const uint8_t *p = der;
    ECDSA_SIG *rs = d2i_ECDSA_SIG(NULL, &p, (long)len);
    const BIGNUM *r = NULL, *s = NULL;
    if (rs != NULL)
        ECDSA_SIG_get0(rs, &r, &s);
    size_t out = rs != NULL && p == der + len && BN_bn2binpad(r, sig, 32) == 32 &&
                         BN_bn2binpad(s, sig + 32, 32) == 32
                     ? 64
                     : 0;
    ECDSA_SIG_free(rs);
    return out;
}

int
signkeys_sign_unchecked(struct signkeys *k, const char *alg, const char *typ,
                        const char *claims_json, size_t len, char **jws)
{
    char kid[SIGNKEYS_KID_MAX], hdr[SIGNKEYS_KID_MAX + SIGNKEYS_TYP_MAX + 64];
    uint8_t dg[32], sig[SIGNKEYS_SIG_MAX];
    EVP_PKEY_CTX *ctx = NULL;
    char *out = NULL;
    size_t total = 0;
    int r = AUTHD_ERR_INVALID_ARGUMENT;

    if (jws == NULL)
        return r;
    *jws = NULL;
    const char *name_alg = signkeys_alg_name(alg);
    if (k == NULL || name_alg == NULL || claims_json == NULL || len == 0 || typ == NULL ||
        !signkeys_typ_ok(typ))
        return r;
    int es = strcmp(name_alg, "ES256") == 0;
    signkeys_refresh(k);

    /* Under the lock only what a rotation could change under us: which key signs, and a
     * duplicate of its context (holding its own reference to the key, so a rotation that
     * frees the key meanwhile takes nothing from this signature). */
    pthread_rwlock_rdlock(&k->lock);
    struct signkey *sk = signkeys_active(k, name_alg, k->now());
    if (sk != NULL) {
        memcpy(kid, sk->kid, sizeof(kid));
        ctx = EVP_PKEY_CTX_dup(sk->signer);
    }
    pthread_rwlock_unlock(&k->lock);
    if (sk == NULL)
        return AUTHD_ERR_NOT_FOUND;
    r = AUTHD_ERR_NOMEM;
    if (ctx == NULL)
        goto out;

    /* The protected header as cjose wrote it (alg, kid, typ; kid is base64url, typ checked). */
    int hlen = snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"%s\"}",
                        name_alg, kid, typ);
    size_t siglen = es ? 64 : (size_t)EVP_PKEY_get_size(EVP_PKEY_CTX_get0_pkey(ctx));
    r = AUTHD_ERR_INVALID_ARGUMENT;
    if (hlen <= 0 || (size_t)hlen >= sizeof(hdr) || siglen > sizeof(sig) || len > SIGNKEYS_JWS_MAX)
        goto out;
    size_t hb = secret_b64url_len((size_t)hlen), cb = secret_b64url_len(len);
    total = hb + 1 + cb + 1 + secret_b64url_len(siglen);
    /* Longer than signkeys_verify reads: a token nobody here could verify. */
    if (total > SIGNKEYS_JWS_MAX)
        goto out;
    r = AUTHD_ERR_NOMEM;
    if ((out = malloc(total + 1)) == NULL)
        goto out;
    /* RFC 7515 §5.1: the signing input is base64url(header) "." base64url(payload). */
    secret_b64url_encode((const uint8_t *)hdr, (size_t)hlen, out);
    out[hb] = '.';
    secret_b64url_encode((const uint8_t *)claims_json, len, out + hb + 1);
    secret_sha256(out, hb + 1 + cb, dg);
    r = AUTHD_ERR_INTERNAL;
    if (signkeys_signature(ctx, es, dg, sig) != siglen)
        goto out;
    out[hb + 1 + cb] = '.';
    secret_b64url_encode(sig, siglen, out + hb + 1 + cb + 1);
    *jws = out;
    out = NULL;
    r = AUTHD_OK;
out:
    EVP_PKEY_CTX_free(ctx);
    if (out != NULL)
        secret_freezero(out, total + 1);
    return r;
}

/*
 * The cache's answer for the token whose key is ckey: AUTHD_OK with *claims_json (malloc'd) when
 * an entry is there and the key that verified it is still in the set and published, as a full
 * verification would require (signkeys_verify below; a retired key stops verifying when its
 * publication ends, and a key another replica deleted drops out on the next refresh), else
 * AUTHD_ERR_NOT_FOUND (a stale entry is dropped): verify in full.
 */
static int
signkeys_verify_cached(struct signkeys *k, const uint8_t ckey[32], char **claims_json)
{
    uint64_t tag = 0;
    char *claims = NULL;

    if (!tokcache_get(k->cache, ckey, k->now(), &tag, &claims)) {
        metrics_count(M_TOKCACHE, "result=\"miss\"", 1);
        return AUTHD_ERR_NOT_FOUND;
    }
    signkeys_refresh(k);
    pthread_rwlock_rdlock(&k->lock);
    int64_t now = k->now();
    int live = 0;
    for (size_t i = 0; i < k->n && !live; i++)
        live = k->keys[i].serial == tag && signkey_published(k, &k->keys[i], now);
    pthread_rwlock_unlock(&k->lock);
    if (!live) {
        secret_strfree(claims);
        tokcache_drop(k->cache, ckey);
        metrics_count(M_TOKCACHE, "result=\"stale\"", 1);
        return AUTHD_ERR_NOT_FOUND;
    }
    metrics_count(M_TOKCACHE, "result=\"hit\"", 1);
    *claims_json = claims;
    return AUTHD_OK;
}

int
signkeys_verify(struct signkeys *k, const char *jws, char **claims_json)
{
    cjose_err err;
    cjose_jws_t *j = NULL;
    uint8_t *pt = NULL;
    size_t ptlen = 0, len = 0, dots = 0, sig_at = 0;
    int locked = 0;
    int r = AUTHD_ERR_INVALID_TOKEN;

    if (claims_json == NULL)
        return AUTHD_ERR_INVALID_ARGUMENT;
    *claims_json = NULL;
    if (k == NULL || jws == NULL)
        goto out;
    len = strnlen(jws, SIGNKEYS_JWS_MAX + 1);
    if (len > SIGNKEYS_JWS_MAX)
        goto out;
    /*
     * Compact serialization: exactly header.payload.signature in unpadded base64url (RFC 7515
     * §2), the signature not empty. The alphabet is checked here, not left to cjose: Debian's
     * cjose 0.6 asserts, aborting the daemon, on a '=' after 4k+1 characters ("y=1e..3").
     */
    for (size_t i = 0; i < len; i++) {
        if (jws[i] == '.') {
            dots++;
            sig_at = i + 1;
        } else if (!signkeys_b64url_char(jws[i])) {
            goto out;
        }
    }
    if (dots != 2 || sig_at == len)
        goto out;
    uint8_t ckey[32];
    if (k->cache != NULL) {
        tokcache_key(jws, len, ckey);
        r = signkeys_verify_cached(k, ckey, claims_json);
        if (r != AUTHD_ERR_NOT_FOUND)
            return r;
        r = AUTHD_ERR_INVALID_TOKEN;
    }
    j = cjose_jws_import(jws, len, &err);
    if (j == NULL)
        goto out;
    /* The header decides nothing but which published key to try: kid names it, alg must be
     * exactly that key's algorithm, so "none", HS256 with a public key as the secret and any
     * other substitution fail here. Header keys (jwk, jku, x5u) are never used. */
    json_t *hdr = (json_t *)cjose_jws_get_protected(j);
    const char *alg = json_string_value(json_object_get(hdr, "alg"));
    const char *kid = json_string_value(json_object_get(hdr, "kid"));
    if (alg == NULL || kid == NULL)
        goto out;

    signkeys_refresh(k);
    pthread_rwlock_rdlock(&k->lock);
    locked = 1;
    int64_t now = k->now();
    struct signkey *sk = signkeys_find(k, kid);
    if (sk == NULL) {
        /* Perhaps made by another replica since the last refresh: look it up once. */
        pthread_rwlock_unlock(&k->lock);
        signkeys_fetch(k, kid);
        pthread_rwlock_rdlock(&k->lock);
        sk = signkeys_find(k, kid);
    }
    if (sk != NULL && !signkey_published(k, sk, now))
        sk = NULL;
    if (sk == NULL || strcmp(alg, sk->alg) != 0)
        goto out;
    /* Only the fixed-length R || S form (RFC 7518 §3.4); some cjose versions would split a
     * longer signature in half and ignore the rest. */
    if (strcmp(sk->alg, "ES256") == 0 && len - sig_at != SIGNKEYS_ES256_SIG_B64)
        goto out;
    if (!cjose_jws_verify(j, sk->jwk, &err))
        goto out;
    uint64_t serial = sk->serial;
    pthread_rwlock_unlock(&k->lock);
    locked = 0;

    if (!cjose_jws_get_plaintext(j, &pt, &ptlen, &err) || memchr(pt, '\0', ptlen) != NULL)
        goto out;
    r = AUTHD_ERR_NOMEM;
    *claims_json = malloc(ptlen + 1);
    if (*claims_json == NULL)
        goto out;
    memcpy(*claims_json, pt, ptlen);
    (*claims_json)[ptlen] = '\0';
    r = AUTHD_OK;
    if (k->cache != NULL) {
        /* Remembered only until the token's own exp; a payload without one is not kept. */
        json_t *c = json_loads(*claims_json, JSON_REJECT_DUPLICATES, NULL);
        json_t *exp = json_object_get(c, "exp");
        if (json_is_integer(exp))
            tokcache_put(k->cache, ckey, json_integer_value(exp), k->now(), serial, *claims_json);
        json_decref(c);
    }
out:
    if (locked)
        pthread_rwlock_unlock(&k->lock);
    cjose_jws_release(j);
    return r;
}

const char *
signkeys_access_alg(struct signkeys *k)
{
    if (k == NULL)
        return "ES256";
    signkeys_refresh(k);
    pthread_rwlock_rdlock(&k->lock);
    int64_t now = k->now();
    const struct signkey *best = NULL;
    for (size_t i = 0; i < k->n; i++) {
        const struct signkey *sk = &k->keys[i];
        /* Ties cannot come from one replica (rotations number their choices); between two that
         * rotated at once, the greater kid, so every replica picks the same. A choice counts from
         * its rotation on, while its key still waits for its active_from: the active key of
         * that algorithm signs meanwhile, published as long as it is. */
        if (!signkey_done(sk, now) && sk->selected_at > 0 &&
            (best == NULL || sk->selected_at > best->selected_at ||
             (sk->selected_at == best->selected_at && strcmp(sk->kid, best->kid) > 0)))
            best = sk;
    }
    const char *alg = best != NULL ? signkeys_alg_name(best->alg) : NULL;
    if (alg == NULL)
        alg = k->default_alg;
    pthread_rwlock_unlock(&k->lock);
    return alg;
}

static int
info_older(const void *x, const void *y)
{
    const struct signkeys_info *a = x, *b = y;
    if (a->created_at != b->created_at)
        return a->created_at < b->created_at ? -1 : 1;
    return strcmp(a->kid, b->kid);
}

int
signkeys_list(struct signkeys *k, struct signkeys_info **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (k == NULL)
        return AUTHD_OK;
    signkeys_refresh(k);
    int64_t now = k->now();
    pthread_rwlock_rdlock(&k->lock);
    struct signkeys_info *v = k->n > 0 ? calloc(k->n, sizeof(*v)) : NULL;
    if (k->n > 0 && v == NULL) {
        pthread_rwlock_unlock(&k->lock);
        return AUTHD_ERR_NOMEM;
    }
    for (size_t i = 0; i < k->n; i++) {
        const struct signkey *sk = &k->keys[i];
        memcpy(v[i].kid, sk->kid, sizeof(v[i].kid));
        const char *alg = signkeys_alg_name(sk->alg);
        snprintf(v[i].alg, sizeof(v[i].alg), "%s", alg != NULL ? alg : sk->alg);
        v[i].created_at = sk->created_at;
        v[i].active_from = sk->active_from;
        v[i].retired_at = sk->retired_at;
        v[i].signing = signkeys_active(k, sk->alg, now) == sk;
        v[i].published = signkey_published(k, sk, now);
    }
    *n = k->n;
    pthread_rwlock_unlock(&k->lock);
    if (*n > 1)
        qsort(v, *n, sizeof(*v), info_older);
    *out = v;
    return AUTHD_OK;
}

int
signkeys_ensure(struct authd *a, struct signkeys *k, const char *alg)
{
    struct signkey sk;
    Authd__Storage__SigningKey *fresh = NULL;
    struct store_batch *b = NULL;
    char name[KEY_MAX], q[96];
    int rotating = 0;
    int r = AUTHD_ERR_INVALID_ARGUMENT;

    memset(&sk, 0, sizeof(sk));
    const char *name_alg = signkeys_alg_name(alg);
    if (a == NULL || k == NULL || name_alg == NULL)
        return r;
    pthread_rwlock_rdlock(&k->lock);
    int have = signkeys_active(k, name_alg, k->now()) != NULL;
    pthread_rwlock_unlock(&k->lock);
    if (have)
        return AUTHD_OK;

    /* As a rotation: the slow part first, then a reread (another replica may have made one),
     * then the check and the store write under rotate_lock. Two replicas that both make one
     * leave two active keys of alg; both verify, the newest signs, the next load retires the
     * other (signkeys_retire_extra). */
    if ((r = signkey_generate(a, name_alg, &sk, &fresh)) != AUTHD_OK)
        goto out;
    r = AUTHD_ERR_NOMEM;
    if ((b = store_batch_new()) == NULL)
        goto out;
    if (k->a != NULL && (r = signkeys_sync(k)) != AUTHD_OK)
        goto out;
    pthread_mutex_lock(&k->rotate_lock);
    rotating = 1;
    r = AUTHD_OK;
    if (signkeys_active(k, name_alg, a->now()) != NULL)
        goto out; /* made meanwhile: ours is dropped unstored */
    /* Nothing of alg could be cached: it signs at once (active_from 0 = from created_at). */
    sk.created_at = sk.active_from = fresh->created_at = a->now();
    if ((r = signkeys_key_name(name, sk.kid)) != AUTHD_OK ||
        (r = rec_batch_put(b, name, &fresh->base)) != AUTHD_OK)
        goto out;
    pthread_rwlock_wrlock(&k->lock);
    r = signkeys_reserve(k);
    pthread_rwlock_unlock(&k->lock);
    if (r != AUTHD_OK || (r = store_batch_commit(a->store, b)) != AUTHD_OK)
        goto out;
    pthread_rwlock_wrlock(&k->lock);
    k->keys[k->n++] = sk; /* reserved above; only rotate_lock holders change the array */
    pthread_rwlock_unlock(&k->lock);
    log_event(LOG_INFO, "signkey_created", "kid=%s alg=%s", log_quote(sk.kid, q, sizeof(q)),
              name_alg);
    memset(&sk, 0, sizeof(sk)); /* the array owns it now */
out:
    if (rotating)
        pthread_mutex_unlock(&k->rotate_lock);
    if (r != AUTHD_OK)
        log_event(LOG_ERROR, "signkey_create_failed", "alg=%s err=%s", name_alg, authd_strerror(r));
    signkey_clear(&sk);
    rpc_msg_free(fresh != NULL ? &fresh->base : NULL);
    store_batch_free(b);
    return r;
}

int64_t
signkeys_cache_max_ms(const struct authd *a)
{
    if (a == NULL || a->set.key_publish_delay <= 0)
        return 0;
    /* The edge's copy may be AUTHD_JWKS_HTTP_MAX_AGE_S older again in an HTTP cache behind it. */
    int64_t ms = a->set.key_publish_delay * 1000 - (a->refresh_ms > 0 ? a->refresh_ms : 0) - 2000 -
                 (int64_t)AUTHD_JWKS_HTTP_MAX_AGE_S * 1000;
    return ms > 0 ? ms : 0;
}

int
signkeys_jwks(struct signkeys *k, char **json)
{
    static const char head[] = "{\"keys\":[", tail[] = "]}";
    int r = AUTHD_ERR_INVALID_ARGUMENT;

    if (json == NULL)
        return r;
    *json = NULL;
    if (k == NULL)
        return r;
    signkeys_refresh(k);
    /* The entries are immutable strings, so readers can share them without copying JSON. */
    pthread_rwlock_rdlock(&k->lock);
    int64_t now = k->now();
    size_t total = sizeof(head) - 1 + sizeof(tail) - 1 + 1;
    for (size_t i = 0; i < k->n; i++)
        if (signkey_published(k, &k->keys[i], now))
            total += strlen(k->keys[i].pub_json) + 1;
    char *p = malloc(total);
    if (p == NULL) {
        r = AUTHD_ERR_NOMEM;
        goto out;
    }
    size_t n = 0, count = 0;
    memcpy(p, head, sizeof(head) - 1);
    n += sizeof(head) - 1;
    for (size_t i = 0; i < k->n; i++) {
        if (!signkey_published(k, &k->keys[i], now))
            continue;
        if (count++ > 0)
            p[n++] = ',';
        size_t l = strlen(k->keys[i].pub_json);
        memcpy(p + n, k->keys[i].pub_json, l);
        n += l;
    }
    memcpy(p + n, tail, sizeof(tail));
    *json = p;
    r = AUTHD_OK;
out:
    pthread_rwlock_unlock(&k->lock);
    return r;
}

int
signkeys_retire(struct signkeys *k, const char *kid, char *alg)
{
    Authd__Storage__SigningKey *m = NULL;
    char name[KEY_MAX], q[96];
    int r;

    if (alg != NULL)
        alg[0] = '\0';
    if (k == NULL || k->a == NULL || k->a->store == NULL)
        return AUTHD_ERR_UNAVAILABLE;
    /* A kid authd cannot have made names no key. */
    if (kid == NULL || !signkeys_kid_ok(kid) || signkeys_key_name(name, kid) != AUTHD_OK)
        return AUTHD_ERR_NOT_FOUND;
    /* Under rotate_lock, as a rotation: nothing of this replica changes the array meanwhile.
     * The stored record decides: a key retired by another replica's rotation can go at once. */
    pthread_mutex_lock(&k->rotate_lock);
    r = rec_get(k->a->store, NULL, 0, name, &authd__storage__signing_key__descriptor,
                (ProtobufCMessage **)&m);
    if (r == AUTHD_OK && strcmp(m->kid, kid) != 0)
        r = AUTHD_ERR_NOT_FOUND;
    if (r == AUTHD_OK && (m->retired_at == 0 || m->retired_at > k->now())) {
        /* Active: it signs now, or will (a rotated-in key waiting for its active_from, or the
         * key that signs until then). Retiring either would leave the algorithm with no key to
         * sign at some moment. A rotation retires it (and keeps it published a while); an
         * emergency rotation (at once) ends the signing of every such key now. */
        const char *an = signkeys_alg_name(m->alg);
        if (alg != NULL)
            snprintf(alg, SIGNKEYS_ALG_TEXT, "%s", an != NULL ? an : "?");
        r = AUTHD_ERR_INVALID_ARGUMENT;
    }
    if (r == AUTHD_OK)
        r = store_delete(k->a->store, name, strlen(name));
    if (r == AUTHD_OK) {
        pthread_rwlock_wrlock(&k->lock);
        size_t w = 0;
        for (size_t i = 0; i < k->n; i++) {
            if (strcmp(k->keys[i].kid, kid) == 0)
                signkey_clear(&k->keys[i]);
            else
                k->keys[w++] = k->keys[i];
        }
        k->n = w;
        pthread_rwlock_unlock(&k->lock);
        log_event(LOG_INFO, "signkey_retired", "kid=%s alg=%s reason=\"administrator\"",
                  log_quote(kid, q, sizeof(q)),
                  signkeys_alg_name(m->alg) ? signkeys_alg_name(m->alg) : "unknown");
    }
    pthread_mutex_unlock(&k->rotate_lock);
    rpc_msg_free(m != NULL ? &m->base : NULL);
    return r;
}
