/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: verification of the JWT access tokens presented to authd (authd/signkeys.h
 * signkeys_verify, called by the OAuth service for Introspect, UserInfo and Revoke). The input
 * is a compact JWS. The key set is fixed (test-only keys below, loaded through the store like
 * authd's own): an active ES256 key, an active RS256 key and a retired but still published
 * ES256 key. Besides never crashing, verify must never accept a token that was not signed by
 * the published key its header names, checked here independently with OpenSSL alone.
 *
 * The seed corpus (tests/fuzz/corpus/jwt) was written by this program:
 *   AUTHD_FUZZ_JWT_SEEDS=tests/fuzz/corpus/jwt build-fuzz/tests/fuzz/fuzz_jwt
 */
#define _GNU_SOURCE /* nftw depth-first flags */
#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjose/cjose.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>

#include "authd/authd.h"
#include "common/err.h"
#include "authd/records.h"
#include "common/secret.h"
#include "authd/secretbox.h"
#include "authd/signkeys.h"
#include "storage/records.pb-c.h"

#define NOW 1700000000
#define MAX_TTL 3600
#define JWS_MAX 16384 /* signkeys.c SIGNKEYS_JWS_MAX */

/* Test-only keys, generated once for this fuzzer; they protect nothing. */
static const char jwk_es256_active[] =
    "{\"crv\":\"P-256\",\"d\":\"XXEN1csKm87ehbel_YWkCDi5dSwU3dIwfyYhCvY-YLI\",\"kty\":\"EC\",\"x\":"
    "\"sz3_OqQShGlX9xisinuo5OCHUZNcWmX4lSJpU7-QQhg\",\"y\":\"SABexzz3GaZGb2h6E50l9O2UDpgiF"
    "zYXI4JVjfyTjFM\"}";
static const char jwk_rs256_active[] =
    "{\"d\":\"FMVsuSWxBJcMqeAs-El0twqQepbSnP2B4adlvv3l3Ucmo_89c1fOZvaxplTacQROAXBlUss0OT"
    "afAK4jElEn6_l7cTpRA_BoAcxa8LKrsnJCGMRvAC1frZpv6dDHbHVVGZwrCSe4cp2yTz6rvCA_OzP6lh"
    "vbf0IAl7dMjYouvHfqDD_LQYUHdVC74ydK19YNQSFxR-6OoKFv3009k5HplimO5eKETqLrmRL9sXDuIK"
    "mnGjR7Wy07Zg4XsomQFVf_H6aBE54B97KE5tsHauZcNmg15g0_ciCC4iSaYypNfYvxY2psSbelp-zsir"
    "ka-_FnSiWIqTaBGZuPZNAaF2mdPQ\",\"dp\":\"r4A1d7gQfbQ3hmoFQ53B5zVn24Hf5yPLA9EF6yteBue9"
    "5YHSWW-WnV60_z-MP53RTdKz-hZgo2prqri3u9jYXed1antDAGPIYtI0EERqUarDCqk9YH0UXjJvjkuW"
    "ziulcim1lrzh7v-H_x7JR4aaE-vFokbLLXo5dV-_98edOb0\",\"dq\":\"XficJu_ezRFAjtrVIF8QB1NDb"
    "9CssLgBEbjsdBJebnCkbpAATRMpqwumbC4Wn6Im4pIwY_5hrFhZzxGfySXpFQV9N8Q6Xygb4_zvDxnLn"
    "3pGJh83Tbp9aMZJoMpHqSqrjY8o-EqZvW1IjbsYsMvahm6KyB7cYaigLxzIuXmoZGE\",\"e\":\"AQAB\",\""
    "kty\":\"RSA\",\"n\":\"lItAKL2bqAtSGmwCtpqJLvr2hTh53YqAlFnzxB3D6Fuy23ZlWtGgKISAxXByEFgZ"
    "FBBV1KHAuHMikYtwe7O5zaKnOpFtMM8zbd-WlaLnbz16AaAvp8YAzNco3wOm9aJNqEq8DE_-k04BkA4W"
    "goVHLTyzh9ro-u84jj3PDbaaqA1weew3uWQBQ30joWoljK3KXdxkJc7Fx34PHCHazX6jVWQTTqTWtqii"
    "KLaLelrMBaG9-v8E5yf18vbmirZpzSgEWMoX4WQkGSCa_SYbb7fN9pxUjV6r3hkOlE5L05ac7rMmNmE7"
    "oAMygJdOkk4gbasfHsZUC1HPj5tycyzT9zOtBw\",\"p\":\"yuAB_In-YeYIVqG5fmtwW7cP2nmpgZoDqjA"
    "tyahZ4tsqmsVciWMrQOSsjc5mWlY2p1NDrCGbfmbbtbaW7XZMFssVrIoEek89rxzQDD-EaXfaT7C1Ypo"
    "SWPxHNAX7w255Ro4ON3qrllg6TDKTNviFRZwbVj0FA23Wp5DDUao167s\",\"q\":\"u3EWf6BNRMDWrKAZ5"
    "Js2F5ZeJW59DNCULZSmJ8JPawSSmZ9APfxQBWbsLUniz4LjDVj4wVieaIwr8KFuuWvqRM3W9rlE52XgD"
    "ifqpr8SFhyXmJHWllw24MzX-awqiaYHS3GO_Jl6i83uYiPUNeQJ3cmnyfhuNUVj-r2NW1X4oSU\",\"qi\""
    ":\"bnd99y6Y7kOmxmEPevR46EKEw_7PgsgUN00nAIm0aRqM-rrD7RV0iRjyQy9zn_b8uLYvS_C4Bq3e3I"
    "9DZpG8z4uW4Qud31Yna4W97oCIj2bkaGrqYTosiaUaLz8kgYg8Wt8W54_HpkityGvVPpxPZBL3IHsIVc"
    "-NHThJQBcOygw\"}";
static const char jwk_es256_retired[] =
    "{\"crv\":\"P-256\",\"d\":\"hg90hEn-pMEgmMWUXCK3yYuVt_6DFB-ulVR2196M78U\",\"kty\":\"EC\",\"x\":"
    "\"xJosG_vEM9NI6S1sfTV_IMqHS7j3vG-UzwZgMklpfIc\",\"y\":\"Lfx8XfnXULOQ7_Oxwa8TWo_wtIDi6"
    "S2-Kfj6hLUREuo\"}";
static const char jwk_es256_foreign[] =
    "{\"crv\":\"P-256\",\"d\":\"4m_qo-9ld9Ti7prSpAbPtkpKm665Tvp20xQUPQONzHo\",\"kty\":\"EC\",\"x\":"
    "\"34uK7t2oX-WpEZk8Z-Cg_8RL2KQXQobpoI47mDzJLD0\",\"y\":\"ramt5MeEvMgHwNKQRau7iChnhsHHp"
    "pJP_vfpWVKrzD0\"}";

struct fixed_key {
    const char *kid;
    const char *alg;
    const char *jwk;
    int64_t retired_at; /* 0: active; -1: not in the store (a stranger's key) */
    EVP_PKEY *pub;      /* from the published JWKS, for the independent check */
};

static struct fixed_key fixed[] = {
    {"fuzz-es256-active", "ES256", jwk_es256_active, 0, NULL},
    {"fuzz-rs256-active", "RS256", jwk_rs256_active, 0, NULL},
    {"fuzz-es256-retired", "ES256", jwk_es256_retired, NOW - 60, NULL},
    {"fuzz-es256-active", "ES256", jwk_es256_foreign, -1, NULL},
};
#define N_FIXED (sizeof(fixed) / sizeof(fixed[0]))

static struct signkeys *keys;

static int64_t
fixed_now(void)
{
    return NOW;
}

static void
die(const char *what)
{
    fprintf(stderr, "fuzz_jwt: %s\n", what);
    abort();
}

/*
 * base64url as a lenient decoder would read it (trailing bits ignored): the check must not
 * depend on the strictness of the decoder it checks. -1 on a character outside the alphabet.
 */
static long
b64url_lenient(const char *s, size_t len, uint8_t *out, size_t cap)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    if (len % 4 == 1)
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int v;
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= 'a' && c <= 'z')
            v = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            v = c - '0' + 52;
        else if (c == '-')
            v = 62;
        else if (c == '_')
            v = 63;
        else
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n == cap)
                return -1;
            out[n++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return (long)n;
}

/* A public key from a JWKS entry's public members (EC x/y or RSA n/e). */
static EVP_PKEY *
pkey_from_jwk(const json_t *e)
{
    uint8_t a[512], b[512], pt[65];
    const char *kty = json_string_value(json_object_get(e, "kty"));
    const char *sa = json_string_value(json_object_get(e, kty && kty[0] == 'E' ? "x" : "n"));
    const char *sb = json_string_value(json_object_get(e, kty && kty[0] == 'E' ? "y" : "e"));
    if (kty == NULL || sa == NULL || sb == NULL)
        die("JWKS entry without its public members");
    long na = b64url_lenient(sa, strlen(sa), a, sizeof(a));
    long nb = b64url_lenient(sb, strlen(sb), b, sizeof(b));
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    BIGNUM *bn1 = NULL, *bn2 = NULL;
    EVP_PKEY_CTX *pctx;
    if (bld == NULL || na <= 0 || nb <= 0)
        die("JWKS entry undecodable");
    if (strcmp(kty, "EC") == 0) {
        if (na != 32 || nb != 32)
            die("EC key is not P-256");
        pt[0] = 0x04; /* uncompressed point */
        memcpy(pt + 1, a, 32);
        memcpy(pt + 33, b, 32);
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt));
        pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    } else {
        bn1 = BN_bin2bn(a, (int)na, NULL);
        bn2 = BN_bin2bn(b, (int)nb, NULL);
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn1);
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn2);
        pctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    }
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY *pkey = NULL;
    if (params == NULL || pctx == NULL || EVP_PKEY_fromdata_init(pctx) != 1 ||
        EVP_PKEY_fromdata(pctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        die("cannot build a public key from the JWKS");
    EVP_PKEY_CTX_free(pctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn1);
    BN_free(bn2);
    return pkey;
}

/* Whether sig (JWS form: R || S for ES256) verifies over in[0..inlen) with pkey. */
static int
openssl_verify(EVP_PKEY *pkey, int ec, const uint8_t *sig, size_t siglen, const char *in,
               size_t inlen)
{
    uint8_t *der = NULL;
    int derlen = (int)siglen;
    if (ec) {
        if (siglen != 64)
            return 0;
        ECDSA_SIG *es = ECDSA_SIG_new();
        if (es == NULL ||
            !ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL)))
            die("ECDSA_SIG");
        derlen = i2d_ECDSA_SIG(es, &der);
        ECDSA_SIG_free(es);
        if (derlen <= 0)
            die("i2d_ECDSA_SIG");
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey) != 1)
        die("EVP_DigestVerifyInit");
    int ok = EVP_DigestVerify(md, ec ? der : sig, (size_t)derlen, (const uint8_t *)in, inlen) == 1;
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    return ok;
}

/*
 * The invariant for an accepted token: three segments; a header whose kid names a published
 * key and whose alg is that key's; a signature that OpenSSL verifies over "header.payload"
 * with that key; and claims equal to the decoded payload.
 */
static void
check_accepted(const char *jws, size_t len, const char *claims)
{
    const char *d1 = memchr(jws, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - jws)) : NULL;
    if (d1 == NULL || d2 == NULL || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - jws)) != NULL)
        die("accepted a token that is not three segments");
    size_t hl = (size_t)(d1 - jws), pl = (size_t)(d2 - d1 - 1), sl = len - (size_t)(d2 + 1 - jws);
    uint8_t *h = malloc(hl + 1), *p = malloc(pl + 1), *s = malloc(sl + 1);
    if (h == NULL || p == NULL || s == NULL)
        die("nomem");
    long hn = b64url_lenient(jws, hl, h, hl + 1);
    long pn = b64url_lenient(d1 + 1, pl, p, pl + 1);
    long sn = b64url_lenient(d2 + 1, sl, s, sl + 1);
    if (hn < 0 || pn < 0 || sn <= 0)
        die("accepted a token that is not base64url");
    json_t *hdr = json_loadb((const char *)h, (size_t)hn, 0, NULL);
    const char *kid = json_string_value(json_object_get(hdr, "kid"));
    const char *alg = json_string_value(json_object_get(hdr, "alg"));
    if (kid == NULL || alg == NULL)
        die("accepted a token without kid and alg");
    const struct fixed_key *k = NULL;
    for (size_t i = 0; i < N_FIXED; i++)
        if (fixed[i].retired_at >= 0 && strcmp(fixed[i].kid, kid) == 0)
            k = &fixed[i];
    if (k == NULL)
        die("accepted a token whose kid is no published key");
    if (strcmp(alg, k->alg) != 0)
        die("accepted a token whose alg is not its key's");
    if (!openssl_verify(k->pub, strcmp(k->alg, "ES256") == 0, s, (size_t)sn, jws,
                        (size_t)(d2 - jws)))
        die("accepted a token whose signature OpenSSL refuses");
    if (strlen(claims) != (size_t)pn || memcmp(claims, p, (size_t)pn) != 0)
        die("claims are not the signed payload");
    json_decref(hdr);
    free(h);
    free(p);
    free(s);
}

/* ---- set-up ------------------------------------------------------------------------------ */

static int
on_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Stores the fixed keys (sealed like authd's own), loads them with signkeys_load, drops the
 * store: verification needs only the keys in memory. */
static void
load_keys(void)
{
    static const uint8_t kek[SECRETBOX_KEY_BYTES] = {1, 2, 3, 4, 5, 6, 7, 8};
    static struct authd a;
    char dir[] = "/tmp/authd-fuzz-jwt-XXXXXX";
    struct store *st = NULL;
    struct secretbox *box = NULL;
    struct store_opts o;
    struct authd_settings set;

    if (mkdtemp(dir) == NULL)
        die("mkdtemp");
    store_opts_default(&o);
    o.sync = 0;
    if (store_open(dir, &o, &st, NULL, 0) != AUTHD_OK || secretbox_new(kek, &box) != AUTHD_OK)
        die("store/secretbox");
    authd_settings_default(&set);
    if (authd_init(&a, st, box, &set) != AUTHD_OK)
        die("authd_init");
    a.now = fixed_now;
    struct store_batch *b = store_batch_new();
    for (size_t i = 0; i < N_FIXED; i++) {
        if (fixed[i].retired_at < 0)
            continue;
        Authd__Storage__SigningKey m;
        char name[128];
        authd__storage__signing_key__init(&m);
        m.kid = (char *)fixed[i].kid;
        m.alg = (char *)fixed[i].alg;
        m.created_at = NOW - 600;
        m.retired_at = fixed[i].retired_at;
        if (secretbox_seal(box, (const uint8_t *)fixed[i].jwk, strlen(fixed[i].jwk),
                           (const uint8_t *)m.kid, strlen(m.kid), &m.private_jwk_enc.data,
                           &m.private_jwk_enc.len) != AUTHD_OK)
            die("seal");
        snprintf(name, sizeof(name), "sigkey/%s", m.kid);
        if (b == NULL || rec_batch_put(b, name, &m.base) != AUTHD_OK)
            die("batch");
        free(m.private_jwk_enc.data);
    }
    if (store_batch_commit(st, b) != AUTHD_OK)
        die("commit");
    store_batch_free(b);
    if (signkeys_load(&a, MAX_TTL, &keys) != AUTHD_OK)
        die("signkeys_load");
    store_close(st);
    secretbox_free(box);
    a.store = NULL;
    a.box = NULL;
    nftw(dir, on_rm, 8, FTW_DEPTH | FTW_PHYS);

    /* Every stored key is published, none was made up: the JWKS is exactly the fixed set. */
    char *text = NULL;
    if (signkeys_jwks(keys, &text) != AUTHD_OK)
        die("jwks");
    json_t *doc = json_loads(text, 0, NULL);
    free(text);
    json_t *arr = json_object_get(doc, "keys"), *e;
    size_t i, published = 0;
    json_array_foreach(arr, i, e)
    {
        const char *kid = json_string_value(json_object_get(e, "kid"));
        for (size_t j = 0; kid != NULL && j < N_FIXED; j++)
            if (fixed[j].retired_at >= 0 && strcmp(fixed[j].kid, kid) == 0 &&
                fixed[j].pub == NULL) {
                fixed[j].pub = pkey_from_jwk(e);
                published++;
            }
    }
    size_t entries = json_array_size(arr);
    json_decref(doc);
    if (published != N_FIXED - 1 || entries != published)
        die("the JWKS is not the fixed key set");
}

/* ---- seeds ------------------------------------------------------------------------------- */

static char *
b64(const void *p, size_t n)
{
    char *s = malloc(secret_b64url_len(n) + 1);
    if (s == NULL)
        die("nomem");
    secret_b64url_encode(p, n, s);
    return s;
}

/* "<b64(hdr)>.<b64(payload)>.<sig>", malloc'd. */
static char *
join(const char *hdr, const char *payload, const char *sig)
{
    char *h = b64(hdr, strlen(hdr)), *p = b64(payload, strlen(payload));
    size_t n = strlen(h) + strlen(p) + strlen(sig) + 3;
    char *s = malloc(n);
    if (s == NULL)
        die("nomem");
    snprintf(s, n, "%s.%s.%s", h, p, sig);
    free(h);
    free(p);
    return s;
}

/* A JWS signed by cjose with a fixed key directly (any of them, the stranger's included). */
static char *
sign_with(const struct fixed_key *k, const char *claims)
{
    cjose_err err;
    cjose_jwk_t *jwk = cjose_jwk_import(k->jwk, strlen(k->jwk), &err);
    cjose_header_t *hdr = cjose_header_new(&err);
    const char *ser = NULL;
    if (jwk == NULL || hdr == NULL || !cjose_header_set(hdr, CJOSE_HDR_ALG, k->alg, &err) ||
        !cjose_header_set(hdr, CJOSE_HDR_KID, k->kid, &err) ||
        !cjose_header_set(hdr, "typ", "JWT", &err))
        die("cjose header");
    cjose_jws_t *j = cjose_jws_sign(jwk, hdr, (const uint8_t *)claims, strlen(claims), &err);
    if (j == NULL || !cjose_jws_export(j, &ser, &err))
        die("cjose sign");
    char *out = strdup(ser);
    cjose_jws_release(j);
    cjose_header_release(hdr);
    cjose_jwk_release(jwk);
    return out;
}

static void
write_seed(const char *dir, const char *name, char *jws)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL || fwrite(jws, 1, strlen(jws), f) != strlen(jws) || fclose(f) != 0)
        die("cannot write a seed");
    free(jws);
}

/* The seed corpus: tokens verify must accept, and the classic forgeries it must refuse. */
static void
write_seeds(const char *dir)
{
    static const char claims[] =
        "{\"iss\":\"http://127.0.0.1:8080\",\"sub\":\"0b6f7c1e-5d1a-4c57-9d2e-3f1f0c2a9b11\","
        "\"aud\":\"web\",\"exp\":1700003600,\"iat\":1700000000,\"jti\":\"j1\",\"scope\":"
        "\"openid profile\",\"client_id\":\"web\",\"sid\":\"s1\",\"amr\":[\"pwd\"]}";
    char *jws = NULL;
    if (signkeys_sign(keys, "ES256", claims, &jws) != AUTHD_OK)
        die("sign ES256");
    write_seed(dir, "es256_active", jws);
    if (signkeys_sign(keys, "RS256", claims, &jws) != AUTHD_OK)
        die("sign RS256");
    write_seed(dir, "rs256_active", jws);
    write_seed(dir, "es256_retired", sign_with(&fixed[2], claims));
    write_seed(dir, "foreign_key_same_kid", sign_with(&fixed[3], claims));
    write_seed(dir, "alg_none",
               join("{\"alg\":\"none\",\"kid\":\"fuzz-es256-active\"}", claims, "AA"));
    write_seed(dir, "rs256_label_on_es256_key",
               join("{\"alg\":\"RS256\",\"kid\":\"fuzz-es256-active\"}", claims, "AAAA"));
    /* HS256 keyed with the public JWK: the alg-confusion forgery. */
    char *pub = NULL;
    if (signkeys_jwks(keys, &pub) != AUTHD_OK)
        die("jwks");
    char *unsigned_jws = join("{\"alg\":\"HS256\",\"kid\":\"fuzz-es256-active\"}", claims, "");
    uint8_t mac[32];
    unsigned maclen = 0;
    HMAC(EVP_sha256(), pub, (int)strlen(pub), (const uint8_t *)unsigned_jws,
         strlen(unsigned_jws) - 1, mac, &maclen);
    char *sig = b64(mac, maclen);
    size_t n = strlen(unsigned_jws) + strlen(sig) + 1;
    char *hs = malloc(n);
    if (hs == NULL)
        die("nomem");
    snprintf(hs, n, "%s%s", unsigned_jws, sig);
    write_seed(dir, "hs256_confusion", hs);
    free(sig);
    free(unsigned_jws);
    free(pub);
    write_seed(dir, "unknown_kid",
               join("{\"alg\":\"ES256\",\"kid\":\"nobody\",\"typ\":\"JWT\"}", "{}",
                    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                    "AAAAAAAAAAAAAA"));
    write_seed(dir, "two_segments", join("{\"alg\":\"ES256\"}", "{}", "x.y"));
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    load_keys();
    /* The harness itself: a token signed now must verify, the stranger's must not. */
    char *jws = NULL, *claims = NULL;
    if (signkeys_sign(keys, "ES256", "{\"a\":1}", &jws) != AUTHD_OK ||
        signkeys_verify(keys, jws, &claims) != AUTHD_OK)
        die("a fresh token does not verify");
    check_accepted(jws, strlen(jws), claims);
    free(jws);
    free(claims);
    jws = sign_with(&fixed[3], "{\"a\":1}");
    claims = NULL;
    if (signkeys_verify(keys, jws, &claims) != AUTHD_ERR_INVALID_TOKEN || claims != NULL)
        die("the stranger's token verifies");
    free(jws);
    const char *seeds = getenv("AUTHD_FUZZ_JWT_SEEDS");
    if (seeds != NULL && seeds[0] != '\0') {
        write_seeds(seeds);
        exit(0);
    }
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 1);
    if (in == NULL)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    char *claims = (char *)1;
    int rc = signkeys_verify(keys, in, &claims);
    if (rc == AUTHD_OK) {
        if (claims == NULL)
            abort();
        /* verify reads the text up to its NUL, as the RPC hands it a C string. */
        check_accepted(in, strlen(in), claims);
        free(claims);
    } else if (claims != NULL || (rc != AUTHD_ERR_INVALID_TOKEN && rc != AUTHD_ERR_NOMEM)) {
        abort();
    }
    free(in);
    return 0;
}
