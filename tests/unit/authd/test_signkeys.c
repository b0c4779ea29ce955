/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for authd/signkeys.c against a real store, a secretbox with a fixed test key and a
 * fake clock: key creation, sign/verify, the JWS header and raw R||S signatures, refusal of
 * tampered, "none", HS256 (alg confusion) and unknown-kid tokens, public-only JWKS checked
 * independently with OpenSSL, rotation and retirement, RS256, persistence, a wrong
 * key-encryption key, and the RFC 7515 A.3 ES256 example through cjose's verification path.
 */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
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
#include <openssl/pem.h>

#include "authd/authd.h"
#include "common/err.h"
#include "common/jwks.h"
#include "authd/records.h"
#include "common/secret.h"
#include "authd/secretbox.h"
#include "authd/signkeys.h"
#include "common/metrics.h"
#include "storage/records.pb-c.h"

#define TTL 3600

static int64_t fake_now = 1700000000;

static int64_t
clock_fake(void)
{
    return fake_now;
}

struct fx {
    char dir[64];
    struct store *st;
    struct secretbox *box;
    struct secretbox *other_box;
    struct authd a;
    struct signkeys *k;
};

static int
setup(void **state)
{
    uint8_t key[SECRETBOX_KEY_BYTES], key2[SECRETBOX_KEY_BYTES];
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    for (size_t i = 0; i < sizeof(key); i++) {
        key[i] = (uint8_t)(i + 1);
        key2[i] = (uint8_t)(0xA0 + i);
    }
    snprintf(f->dir, sizeof(f->dir), "/tmp/authd-signkeys-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    struct store_opts o;
    store_opts_default(&o);
    o.sync = 0;
    assert_int_equal(store_open(f->dir, &o, &f->st, NULL, 0), AUTHD_OK);
    assert_int_equal(secretbox_new(key, &f->box), AUTHD_OK);
    assert_int_equal(secretbox_new(key2, &f->other_box), AUTHD_OK);
    struct authd_settings s;
    authd_settings_default(&s);
    assert_int_equal(authd_init(&f->a, f->st, f->box, &s), AUTHD_OK);
    fake_now = 1700000000;
    f->a.now = clock_fake;
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    signkeys_free(f->k);
    authd_cleanup(&f->a);
    store_close(f->st);
    secretbox_free(f->box);
    secretbox_free(f->other_box);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* ---- helpers ---------------------------------------------------------------------------- */

static int
count_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
    (void)k;
    (void)kl;
    (void)v;
    (void)vl;
    (*(int *)arg)++;
    return 0;
}

static int
count_keys(struct store *st)
{
    int n = 0;
    assert_int_equal(store_scan(st, "sigkey/", 7, NULL, 0, count_cb, &n), AUTHD_OK);
    return n;
}

static Authd__Storage__SigningKey *
get_rec(struct store *st, const char *kid)
{
    char key[256];
    ProtobufCMessage *m = NULL;
    snprintf(key, sizeof(key), "sigkey/%s", kid);
    assert_int_equal(rec_get(st, NULL, 0, key, &authd__storage__signing_key__descriptor, &m),
                     AUTHD_OK);
    return (Authd__Storage__SigningKey *)m;
}

/* Segment i (0..2) of a compact JWS, malloc'd. */
static char *
seg(const char *jws, int i)
{
    size_t at = 0;
    for (int n = 0; n < i; n++) {
        at += strcspn(jws + at, ".");
        assert_int_equal(jws[at], '.');
        at++;
    }
    char *s = strndup(jws + at, strcspn(jws + at, "."));
    assert_non_null(s);
    return s;
}

/* base64url-decodes segment i into out (cap bytes); returns the length. */
static size_t
seg_decode(const char *jws, int i, uint8_t *out, size_t cap)
{
    char *s = seg(jws, i);
    long n = secret_b64url_decode(s, strlen(s), out, cap);
    free(s);
    assert_true(n >= 0);
    return (size_t)n;
}

static json_t *
header_of(const char *jws)
{
    uint8_t buf[1024];
    size_t n = seg_decode(jws, 0, buf, sizeof(buf));
    json_t *h = json_loadb((const char *)buf, n, 0, NULL);
    assert_non_null(h);
    return h;
}

static char *
b64(const void *p, size_t n)
{
    char *s = malloc(secret_b64url_len(n) + 1);
    assert_non_null(s);
    secret_b64url_encode(p, n, s);
    return s;
}

/* "<b64(hdr)>.<b64(payload)>.<sig_b64>" (sig_b64 may be ""), malloc'd. */
static char *
make_jws(const char *hdr, const char *payload, const char *sig_b64)
{
    char *h = b64(hdr, strlen(hdr)), *p = b64(payload, strlen(payload));
    size_t n = strlen(h) + strlen(p) + strlen(sig_b64) + 3;
    char *s = malloc(n);
    assert_non_null(s);
    snprintf(s, n, "%s.%s.%s", h, p, sig_b64);
    free(h);
    free(p);
    return s;
}

/* A token for the HS256 alg-confusion attack: HMAC-SHA256 over the signing input with secret. */
static char *
make_hs256(const char *kid, const char *payload, const void *secret, size_t slen)
{
    char hdr[256];
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"HS256\",\"kid\":\"%s\",\"typ\":\"JWT\"}", kid);
    char *unsigned_jws = make_jws(hdr, payload, "");
    size_t inlen = strlen(unsigned_jws) - 1; /* without the trailing '.' */
    uint8_t mac[32];
    unsigned maclen = 0;
    assert_non_null(
        HMAC(EVP_sha256(), secret, (int)slen, (const uint8_t *)unsigned_jws, inlen, mac, &maclen));
    char *sig = b64(mac, maclen);
    size_t n = strlen(unsigned_jws) + strlen(sig) + 1;
    char *s = malloc(n);
    assert_non_null(s);
    snprintf(s, n, "%s%s", unsigned_jws, sig);
    free(unsigned_jws);
    free(sig);
    return s;
}

static void
assert_refused(struct signkeys *k, const char *jws)
{
    char *claims = (char *)0x1;
    assert_int_equal(signkeys_verify(k, jws, &claims), AUTHD_ERR_INVALID_TOKEN);
    assert_null(claims);
}

static void
assert_verifies(struct signkeys *k, const char *jws, const char *want_claims)
{
    char *claims = NULL;
    assert_int_equal(signkeys_verify(k, jws, &claims), AUTHD_OK);
    assert_non_null(claims);
    if (want_claims != NULL)
        assert_string_equal(claims, want_claims);
    free(claims);
}

static char *
sign(struct signkeys *k, const char *alg, const char *claims)
{
    char *jws = NULL;
    assert_int_equal(signkeys_sign(k, alg, claims, &jws), AUTHD_OK);
    assert_non_null(jws);
    return jws;
}

static char *
kid_of(const char *jws)
{
    json_t *h = header_of(jws);
    const char *kid = json_string_value(json_object_get(h, "kid"));
    assert_non_null(kid);
    char *s = strdup(kid);
    json_decref(h);
    return s;
}

static json_t *
jwks(struct signkeys *k)
{
    char *text = NULL;
    assert_int_equal(signkeys_jwks(k, &text), AUTHD_OK);
    json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    free(text);
    assert_non_null(doc);
    assert_true(json_is_array(json_object_get(doc, "keys")));
    return doc;
}

static size_t
jwks_count(struct signkeys *k)
{
    json_t *doc = jwks(k);
    size_t n = json_array_size(json_object_get(doc, "keys"));
    json_decref(doc);
    return n;
}

/* The JWKS entry for kid (a new reference, or NULL). */
static json_t *
jwks_entry(struct signkeys *k, const char *kid)
{
    json_t *doc = jwks(k), *found = NULL, *e;
    size_t i;
    json_array_foreach(json_object_get(doc, "keys"), i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "kid")), kid) == 0)
            found = json_incref(e);
    }
    json_decref(doc);
    return found;
}

static void
assert_public_only(json_t *e)
{
    static const char *const priv[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};
    for (size_t i = 0; i < sizeof(priv) / sizeof(priv[0]); i++)
        assert_null(json_object_get(e, priv[i]));
    assert_string_equal(json_string_value(json_object_get(e, "use")), "sig");
}

/* The private JWK of kid as stored, opened with the test box (to check nothing of it leaks). */
static json_t *
private_jwk(struct fx *f, const char *kid)
{
    Authd__Storage__SigningKey *m = get_rec(f->st, kid);
    uint8_t *pt = NULL;
    size_t ptlen = 0;
    assert_int_equal(secretbox_open(f->box, m->private_jwk_enc.data, m->private_jwk_enc.len,
                                    (const uint8_t *)kid, strlen(kid), &pt, &ptlen),
                     AUTHD_OK);
    json_t *j = json_loadb((const char *)pt, ptlen, 0, NULL);
    assert_non_null(j);
    secret_freezero(pt, ptlen);
    rpc_msg_free(&m->base);
    return j;
}

static size_t
b64_field(json_t *o, const char *name, uint8_t *out, size_t cap)
{
    const char *s = json_string_value(json_object_get(o, name));
    assert_non_null(s);
    long n = secret_b64url_decode(s, strlen(s), out, cap);
    assert_true(n > 0);
    return (size_t)n;
}

/* An OpenSSL public key built from a JWK's public members only (EC x/y or RSA n/e). */
static EVP_PKEY *
pkey_from_jwk(json_t *e)
{
    uint8_t a[512], b[512], pt[65]; /* the builder keeps pointers until _to_param */
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_PKEY *pkey = NULL;
    BIGNUM *bn1 = NULL, *bn2 = NULL;
    const char *kty = json_string_value(json_object_get(e, "kty"));

    assert_non_null(bld);
    assert_non_null(kty);
    if (strcmp(kty, "EC") == 0) {
        assert_string_equal(json_string_value(json_object_get(e, "crv")), "P-256");
        assert_int_equal(b64_field(e, "x", a, sizeof(a)), 32);
        assert_int_equal(b64_field(e, "y", b, sizeof(b)), 32);
        pt[0] = 0x04; /* uncompressed point */
        memcpy(pt + 1, a, 32);
        memcpy(pt + 33, b, 32);
        assert_int_equal(
            OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0), 1);
        assert_int_equal(
            OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt)), 1);
        pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    } else {
        assert_string_equal(kty, "RSA");
        size_t nlen = b64_field(e, "n", a, sizeof(a));
        size_t elen = b64_field(e, "e", b, sizeof(b));
        bn1 = BN_bin2bn(a, (int)nlen, NULL);
        bn2 = BN_bin2bn(b, (int)elen, NULL);
        assert_int_equal(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn1), 1);
        assert_int_equal(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn2), 1);
        pctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    }
    params = OSSL_PARAM_BLD_to_param(bld);
    assert_non_null(params);
    assert_non_null(pctx);
    assert_int_equal(EVP_PKEY_fromdata_init(pctx), 1);
    assert_int_equal(EVP_PKEY_fromdata(pctx, &pkey, EVP_PKEY_PUBLIC_KEY, params), 1);
    EVP_PKEY_CTX_free(pctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn1);
    BN_free(bn2);
    return pkey;
}

/* Verifies jws with OpenSSL alone from the JWKS entry e. 1 or 0. */
static int
openssl_verify(json_t *e, const char *jws)
{
    uint8_t sig[512];
    uint8_t *der = NULL;
    size_t derlen = 0;
    int ok = 0;

    EVP_PKEY *pkey = pkey_from_jwk(e);
    size_t siglen = seg_decode(jws, 2, sig, sizeof(sig));
    size_t inlen = (size_t)(strrchr(jws, '.') - jws);
    if (EVP_PKEY_is_a(pkey, "EC")) {
        /* JWS carries R || S; OpenSSL wants DER. */
        if (siglen != 64)
            goto out;
        ECDSA_SIG *es = ECDSA_SIG_new();
        assert_non_null(es);
        assert_int_equal(
            ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL)), 1);
        int n = i2d_ECDSA_SIG(es, &der);
        ECDSA_SIG_free(es);
        assert_true(n > 0);
        derlen = (size_t)n;
    } else {
        der = OPENSSL_memdup(sig, siglen);
        derlen = siglen;
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey), 1);
    ok = EVP_DigestVerify(md, der, derlen, (const uint8_t *)jws, inlen) == 1;
    EVP_MD_CTX_free(md);
out:
    EVP_PKEY_free(pkey);
    OPENSSL_free(der);
    return ok;
}

static void
load(struct fx *f)
{
    signkeys_free(f->k);
    f->k = NULL;
    assert_int_equal(signkeys_load(&f->a, TTL, &f->k), AUTHD_OK);
    assert_non_null(f->k);
}

/* Runs load with stderr captured into buf (cap bytes). */
static void
load_capturing(struct fx *f, char *buf, size_t cap)
{
    char path[] = "/tmp/authd-signkeys-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    signkeys_free(f->k);
    f->k = NULL;
    int r = signkeys_load(&f->a, TTL, &f->k);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    ssize_t n = pread(fd, buf, cap - 1, 0);
    close(fd);
    unlink(path);
    buf[n > 0 ? n : 0] = '\0';
    fputs(buf, stderr); /* keep the log visible */
    assert_int_equal(r, AUTHD_OK);
}

static const char claims1[] = "{\"sub\":\"u1\",\"iat\":1700000000,\"exp\":1700003600}";

/* ---- tests ------------------------------------------------------------------------------ */

static void
test_load_creates_es256(void **state)
{
    struct fx *f = *state;
    assert_int_equal(count_keys(f->st), 0);
    load(f);
    assert_int_equal(count_keys(f->st), 1);
    json_t *doc = jwks(f->k);
    json_t *keys = json_object_get(doc, "keys");
    assert_int_equal(json_array_size(keys), 1);
    json_t *e = json_array_get(keys, 0);
    assert_string_equal(json_string_value(json_object_get(e, "kty")), "EC");
    assert_string_equal(json_string_value(json_object_get(e, "crv")), "P-256");
    assert_string_equal(json_string_value(json_object_get(e, "alg")), "ES256");
    const char *kid = json_string_value(json_object_get(e, "kid"));
    assert_int_equal(strlen(kid), 22); /* 16 bytes, base64url */
    assert_public_only(e);

    Authd__Storage__SigningKey *m = get_rec(f->st, kid);
    assert_string_equal(m->kid, kid);
    assert_string_equal(m->alg, "ES256");
    assert_int_equal(m->created_at, fake_now);
    assert_int_equal(m->retired_at, 0);
    assert_true(m->private_jwk_enc.len > SECRETBOX_OVERHEAD);
    /* Sealed, not in clear. */
    assert_null(memmem(m->private_jwk_enc.data, m->private_jwk_enc.len, "\"d\"", 3));
    assert_null(memmem(m->private_jwk_enc.data, m->private_jwk_enc.len, "P-256", 5));
    json_t *pub = json_loads(m->public_jwk, 0, NULL);
    assert_non_null(pub);
    assert_null(json_object_get(pub, "d"));
    json_decref(pub);
    rpc_msg_free(&m->base);

    /* A second load finds it and makes no other. */
    char *kid1 = strdup(kid);
    json_decref(doc);
    load(f);
    assert_int_equal(count_keys(f->st), 1);
    json_t *e2 = jwks_entry(f->k, kid1);
    assert_non_null(e2);
    json_decref(e2);
    free(kid1);

    struct signkeys *none = (struct signkeys *)0x1;
    f->a.box = NULL;
    assert_int_not_equal(signkeys_load(&f->a, TTL, &none), AUTHD_OK);
    assert_null(none);
    f->a.box = f->box;
}

static void
test_sign_verify(void **state)
{
    struct fx *f = *state;
    load(f);
    char *jws = sign(f->k, NULL, claims1);
    assert_verifies(f->k, jws, claims1);

    json_t *h = header_of(jws);
    assert_int_equal(json_object_size(h), 3);
    assert_string_equal(json_string_value(json_object_get(h, "alg")), "ES256");
    assert_string_equal(json_string_value(json_object_get(h, "typ")), "JWT");
    json_t *doc = jwks(f->k);
    assert_string_equal(
        json_string_value(json_object_get(h, "kid")),
        json_string_value(json_object_get(json_array_get(json_object_get(doc, "keys"), 0), "kid")));
    json_decref(doc);
    json_decref(h);

    /* Raw R || S, never DER: 64 bytes every time (about 1 in 128 signatures has a short R or
     * S, which a careless conversion would emit as 63 bytes). */
    for (int i = 0; i < 400; i++) {
        char *t = sign(f->k, "ES256", claims1);
        uint8_t sig[128];
        assert_int_equal(seg_decode(t, 2, sig, sizeof(sig)), 64);
        if (i % 50 == 0)
            assert_verifies(f->k, t, claims1);
        free(t);
    }
    free(jws);

    char *out = (char *)0x1;
    assert_int_equal(signkeys_sign(f->k, NULL, "not json", &out), AUTHD_ERR_INVALID_ARGUMENT);
    assert_null(out);
    assert_int_equal(signkeys_sign(f->k, NULL, "[1,2]", &out), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(signkeys_sign(f->k, "HS256", claims1, &out), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(signkeys_sign(f->k, "none", claims1, &out), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(signkeys_sign(f->k, "RS256", claims1, &out), AUTHD_ERR_NOT_FOUND);
    assert_null(out);
}

/* A token from signkeys_sign_unchecked (the token endpoint's path). */
static char *
sign_unchecked(struct signkeys *k, const char *alg, const char *typ, const char *claims)
{
    char *jws = NULL;
    assert_int_equal(signkeys_sign_unchecked(k, alg, typ, claims, strlen(claims), &jws), AUTHD_OK);
    assert_non_null(jws);
    return jws;
}

/*
 * The signing path written on OpenSSL's EVP (signkeys_sign_unchecked, under signkeys_sign too),
 * checked by code that is not it: for ES256 and RS256, the header is exactly alg, kid and typ,
 * the payload is the caller's bytes unchanged, and every signature verifies with OpenSSL alone
 * from the published JWK (ES256: 512 signatures, each R || S of 64 bytes, so that the short R
 * or S values of about 1 in 128 signatures come up), with cjose as a relying party, and with
 * signkeys_verify; one changed payload byte fails OpenSSL. Bad typ, empty claims and a token
 * longer than signkeys_verify reads are refused.
 */
static void
test_sign_unchecked_verifies_independently(void **state)
{
    struct fx *f = *state;
    static const char claims[] =
        "{\"iss\":\"https://a.example\",\"sub\":\"q\\\"uote\",\"n\":[1,2],\"u\":\"caf\xc3\xa9\"}";
    static const char *const algs[] = {"ES256", "RS256"};
    load(f);
    assert_int_equal(signkeys_ensure(&f->a, f->k, "RS256"), AUTHD_OK);
    for (size_t a = 0; a < 2; a++) {
        int es = a == 0;
        char *t = sign_unchecked(f->k, algs[a], "at+jwt", claims);
        json_t *h = header_of(t);
        assert_int_equal(json_object_size(h), 3);
        assert_string_equal(json_string_value(json_object_get(h, "alg")), algs[a]);
        assert_string_equal(json_string_value(json_object_get(h, "typ")), "at+jwt");
        char *kid = kid_of(t);
        json_decref(h);
        uint8_t payload[256];
        assert_int_equal(seg_decode(t, 1, payload, sizeof(payload)), strlen(claims));
        assert_memory_equal(payload, claims, strlen(claims));
        assert_verifies(f->k, t, claims);

        json_t *e = jwks_entry(f->k, kid);
        assert_non_null(e);
        assert_string_equal(json_string_value(json_object_get(e, "alg")), algs[a]);
        char *etext = json_dumps(e, JSON_COMPACT);
        cjose_err err;
        cjose_jwk_t *pub = cjose_jwk_import(etext, strlen(etext), &err);
        assert_non_null(pub);
        cjose_jws_t *j = cjose_jws_import(t, strlen(t), &err);
        assert_non_null(j);
        assert_true(cjose_jws_verify(j, pub, &err));
        cjose_jws_release(j);
        cjose_jwk_release(pub);
        free(etext);

        /* One payload byte changed: OpenSSL refuses it (the checks above are not vacuous). */
        char other[sizeof(claims)], buf[2048];
        memcpy(other, claims, sizeof(claims));
        other[strlen("{\"iss\":\"https://")] = 'b';
        char *hb = seg(t, 0), *sb = seg(t, 2), *p2 = b64(other, strlen(other));
        snprintf(buf, sizeof(buf), "%s.%s.%s", hb, p2, sb);
        assert_false(openssl_verify(e, buf));
        free(hb);
        free(sb);
        free(p2);
        free(t);

        for (int i = 0; i < (es ? 512 : 8); i++) {
            t = sign_unchecked(f->k, algs[a], "JWT", claims);
            uint8_t sig[512];
            assert_int_equal(seg_decode(t, 2, sig, sizeof(sig)), es ? 64 : 256);
            assert_true(openssl_verify(e, t));
            free(t);
        }
        json_decref(e);
        free(kid);
    }

    char *out = (char *)0x1;
    assert_int_equal(signkeys_sign_unchecked(f->k, "ES256", "", claims, strlen(claims), &out),
                     AUTHD_ERR_INVALID_ARGUMENT);
    assert_null(out);
    assert_int_equal(signkeys_sign_unchecked(f->k, "ES256", "a\"b", claims, strlen(claims), &out),
                     AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(signkeys_sign_unchecked(f->k, "ES256", NULL, claims, strlen(claims), &out),
                     AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(signkeys_sign_unchecked(f->k, "ES256", "JWT", claims, 0, &out),
                     AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(signkeys_sign_unchecked(f->k, "HS256", "JWT", claims, strlen(claims), &out),
                     AUTHD_ERR_INVALID_ARGUMENT);
    size_t big = 12 * 1024; /* 16 KiB of base64url with the header and signature */
    char *huge = malloc(big + 1);
    assert_non_null(huge);
    memset(huge, ' ', big);
    huge[0] = '{';
    huge[big - 1] = '}';
    huge[big] = '\0';
    assert_int_equal(signkeys_sign_unchecked(f->k, "ES256", "JWT", huge, big, &out),
                     AUTHD_ERR_INVALID_ARGUMENT);
    assert_null(out);
    /* Just under the limit it signs, and verifies. */
    size_t fits = 12 * 1024 - 200;
    huge[fits - 1] = '}';
    huge[fits] = '\0';
    char *t = sign_unchecked(f->k, "ES256", "JWT", huge);
    assert_true(strlen(t) <= 16384);
    assert_verifies(f->k, t, huge);
    free(t);
    free(huge);
}

static void
test_tampered_refused(void **state)
{
    struct fx *f = *state;
    load(f);
    char *jws = sign(f->k, NULL, claims1);
    char *h = seg(jws, 0), *p = seg(jws, 1), *s = seg(jws, 2);
    char buf[4096];

    /* Payload: one character in the middle changed; then a different, valid payload. */
    snprintf(buf, sizeof(buf), "%s", jws);
    size_t mid = strlen(h) + 1 + strlen(p) / 2;
    buf[mid] = buf[mid] == 'A' ? 'B' : 'A';
    assert_refused(f->k, buf);
    char *p2 = b64("{\"sub\":\"admin\"}", 15);
    snprintf(buf, sizeof(buf), "%s.%s.%s", h, p2, s);
    assert_refused(f->k, buf);
    free(p2);

    /* Signature: one character changed, truncated, extended, R and S swapped, empty. */
    snprintf(buf, sizeof(buf), "%s", jws);
    mid = strlen(h) + strlen(p) + 2 + strlen(s) / 2;
    buf[mid] = buf[mid] == 'A' ? 'B' : 'A';
    assert_refused(f->k, buf);
    snprintf(buf, sizeof(buf), "%s.%s.%.*s", h, p, (int)strlen(s) - 2, s);
    assert_refused(f->k, buf);
    snprintf(buf, sizeof(buf), "%s.%s.%sAA", h, p, s);
    assert_refused(f->k, buf);
    uint8_t sig[64], swapped[64];
    assert_int_equal(seg_decode(jws, 2, sig, sizeof(sig)), 64);
    memcpy(swapped, sig + 32, 32);
    memcpy(swapped + 32, sig, 32);
    char *sw = b64(swapped, 64);
    snprintf(buf, sizeof(buf), "%s.%s.%s", h, p, sw);
    assert_refused(f->k, buf);
    free(sw);
    snprintf(buf, sizeof(buf), "%s.%s.", h, p);
    assert_refused(f->k, buf);
    /* R || S plus one byte: a verifier that splits the length in half would ignore it. */
    uint8_t longer[65];
    memcpy(longer, sig, 64);
    longer[64] = 0x00;
    char *lg = b64(longer, sizeof(longer));
    snprintf(buf, sizeof(buf), "%s.%s.%s", h, p, lg);
    assert_refused(f->k, buf);
    free(lg);

    /* The same signature in DER form (what OpenSSL emits) is not a JWS signature. */
    ECDSA_SIG *es = ECDSA_SIG_new();
    ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL));
    uint8_t *der = NULL;
    int derlen = i2d_ECDSA_SIG(es, &der);
    ECDSA_SIG_free(es);
    char *ders = b64(der, (size_t)derlen);
    snprintf(buf, sizeof(buf), "%s.%s.%s", h, p, ders);
    assert_refused(f->k, buf);
    free(ders);
    OPENSSL_free(der);

    /* Header: same kid and alg plus one member; a reordered header. */
    json_t *hj = header_of(jws);
    char hdr[512];
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"JWT\",\"x\":1}",
             json_string_value(json_object_get(hj, "kid")));
    char *h2 = b64(hdr, strlen(hdr));
    snprintf(buf, sizeof(buf), "%s.%s.%s", h2, p, s);
    assert_refused(f->k, buf);
    free(h2);
    snprintf(hdr, sizeof(hdr), "{\"typ\":\"JWT\",\"kid\":\"%s\",\"alg\":\"ES256\"}",
             json_string_value(json_object_get(hj, "kid")));
    h2 = b64(hdr, strlen(hdr));
    snprintf(buf, sizeof(buf), "%s.%s.%s", h2, p, s);
    assert_refused(f->k, buf);
    free(h2);
    json_decref(hj);

    /* Malformed shapes. */
    assert_refused(f->k, "");
    assert_refused(f->k, "..");
    assert_refused(f->k, "a.b");
    assert_refused(f->k, NULL);
    snprintf(buf, sizeof(buf), "%s.", jws);
    assert_refused(f->k, buf);
    snprintf(buf, sizeof(buf), "%s.%s", jws, s);
    assert_refused(f->k, buf);
    char *big = malloc(20000);
    memset(big, 'A', 19999);
    big[19999] = '\0';
    memcpy(big, jws, strlen(jws));
    assert_refused(f->k, big);
    free(big);

    /* And the untouched token still verifies (the refusals are not a broken verifier). */
    assert_verifies(f->k, jws, claims1);
    free(h);
    free(p);
    free(s);
    free(jws);
}

static void
test_alg_none_refused(void **state)
{
    struct fx *f = *state;
    load(f);
    char *jws = sign(f->k, NULL, claims1);
    char *kid = kid_of(jws), *s = seg(jws, 2);
    static const char *const algs[] = {"none", "None", "NONE", "nOnE"};
    char hdr[256];
    for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
        snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"JWT\"}", algs[i], kid);
        char *t = make_jws(hdr, claims1, ""); /* header.payload. */
        assert_refused(f->k, t);
        free(t);
        t = make_jws(hdr, claims1, s); /* with a real signature left in */
        assert_refused(f->k, t);
        free(t);
    }
    /* No alg at all, alg not a string, kid not a string. */
    snprintf(hdr, sizeof(hdr), "{\"kid\":\"%s\"}", kid);
    char *t = make_jws(hdr, claims1, s);
    assert_refused(f->k, t);
    free(t);
    snprintf(hdr, sizeof(hdr), "{\"alg\":null,\"kid\":\"%s\"}", kid);
    t = make_jws(hdr, claims1, s);
    assert_refused(f->k, t);
    free(t);
    t = make_jws("{\"alg\":\"ES256\",\"kid\":1}", claims1, s);
    assert_refused(f->k, t);
    free(t);
    free(kid);
    free(s);
    free(jws);
}

static void
test_hs256_confusion_refused(void **state)
{
    struct fx *f = *state;
    load(f);
    char *jws = sign(f->k, NULL, claims1);
    char *kid = kid_of(jws);
    json_t *e = jwks_entry(f->k, kid);
    assert_non_null(e);

    /* Secrets an attacker can know: the JWKS entry, its JSON text, the point, a PEM of it. */
    char *entry = json_dumps(e, JSON_COMPACT);
    char *jwks_text = NULL;
    assert_int_equal(signkeys_jwks(f->k, &jwks_text), AUTHD_OK);
    uint8_t x[32], y[32], pt[65];
    b64_field(e, "x", x, sizeof(x));
    b64_field(e, "y", y, sizeof(y));
    pt[0] = 0x04;
    memcpy(pt + 1, x, 32);
    memcpy(pt + 33, y, 32);
    EVP_PKEY *pk = pkey_from_jwk(e);
    BIO *bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PUBKEY(bio, pk), 1);
    char *pem = NULL;
    long pemlen = BIO_get_mem_data(bio, &pem);

    struct {
        const void *p;
        size_t n;
    } secrets[] = {{entry, strlen(entry)},
                   {jwks_text, strlen(jwks_text)},
                   {pt, sizeof(pt)},
                   {pem, (size_t)pemlen}};
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        char *t = make_hs256(kid, claims1, secrets[i].p, secrets[i].n);
        assert_refused(f->k, t);
        free(t);
    }
    /* An ES256 token relabelled RS256 or ES384 with the same key and signature. */
    char *p = seg(jws, 1), *s = seg(jws, 2);
    static const char *const algs[] = {"RS256", "ES384", "PS256", "EdDSA"};
    for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
        char hdr[256], buf[2048];
        snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"JWT\"}", algs[i], kid);
        char *h = b64(hdr, strlen(hdr));
        snprintf(buf, sizeof(buf), "%s.%s.%s", h, p, s);
        assert_refused(f->k, buf);
        free(h);
    }
    free(p);
    free(s);
    BIO_free(bio);
    EVP_PKEY_free(pk);
    free(entry);
    free(jwks_text);
    json_decref(e);
    free(kid);
    free(jws);
}

/*
 * A token signed with the real private key under another alg of the same key type (ES384 with
 * the P-256 key, PS256 with the RSA key). cjose verifies such a token with that key, so only
 * signkeys' "header alg == key alg" rule refuses it.
 */
static void
assert_alg_substitution_refused(struct fx *f, const char *kid, const char *alg)
{
    json_t *priv = private_jwk(f, kid);
    char *text = json_dumps(priv, JSON_COMPACT);
    cjose_err err;
    cjose_jwk_t *key = cjose_jwk_import(text, strlen(text), &err);
    assert_non_null(key);
    cjose_header_t *hdr = cjose_header_new(&err);
    assert_true(cjose_header_set(hdr, CJOSE_HDR_ALG, alg, &err));
    assert_true(cjose_header_set(hdr, CJOSE_HDR_KID, kid, &err));
    cjose_jws_t *j = cjose_jws_sign(key, hdr, (const uint8_t *)claims1, strlen(claims1), &err);
    assert_non_null(j);
    const char *ser = NULL;
    assert_true(cjose_jws_export(j, &ser, &err));
    char *tok = strdup(ser);
    cjose_jws_release(j);
    /* Control: the signature itself is good for that key. */
    j = cjose_jws_import(tok, strlen(tok), &err);
    assert_non_null(j);
    assert_true(cjose_jws_verify(j, key, &err));
    cjose_jws_release(j);
    assert_refused(f->k, tok);
    free(tok);
    cjose_header_release(hdr);
    cjose_jwk_release(key);
    secret_strfree(text);
    json_decref(priv);
}

static void
test_alg_substitution_refused(void **state)
{
    struct fx *f = *state;
    load(f);
    char *t = sign(f->k, NULL, claims1), *ekid = kid_of(t);
    char rkid[SIGNKEYS_KID_MAX];
    assert_int_equal(signkeys_rotate(&f->a, f->k, "RS256", rkid), AUTHD_OK);
    assert_alg_substitution_refused(f, ekid, "ES384");
    assert_alg_substitution_refused(f, ekid, "ES512");
    assert_alg_substitution_refused(f, rkid, "PS256");
    assert_alg_substitution_refused(f, rkid, "RS512");
    free(ekid);
    free(t);
}

static void
test_unknown_kid_refused(void **state)
{
    struct fx *f = *state;
    load(f);
    char *jws = sign(f->k, NULL, claims1);
    char *p = seg(jws, 1), *s = seg(jws, 2), buf[2048];

    static const char *const hdrs[] = {
        "{\"alg\":\"ES256\",\"kid\":\"AAAAAAAAAAAAAAAAAAAAAA\",\"typ\":\"JWT\"}",
        "{\"alg\":\"ES256\",\"kid\":\"\",\"typ\":\"JWT\"}",
        "{\"alg\":\"ES256\",\"typ\":\"JWT\"}",
    };
    for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
        char *h = b64(hdrs[i], strlen(hdrs[i]));
        snprintf(buf, sizeof(buf), "%s.%s.%s", h, p, s);
        assert_refused(f->k, buf);
        free(h);
    }

    /* A key of another authd (another store) is unknown here, and the other way round. */
    char dir[] = "/tmp/authd-signkeys-other-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct store_opts o;
    store_opts_default(&o);
    o.sync = 0;
    struct store *st2 = NULL;
    assert_int_equal(store_open(dir, &o, &st2, NULL, 0), AUTHD_OK);
    struct authd a2 = f->a;
    a2.store = st2;
    struct signkeys *k2 = NULL;
    assert_int_equal(signkeys_load(&a2, TTL, &k2), AUTHD_OK);
    char *other = sign(k2, NULL, claims1);
    assert_verifies(k2, other, claims1);
    assert_refused(f->k, other);
    assert_refused(k2, jws);
    free(other);
    signkeys_free(k2);
    store_close(st2);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);

    free(p);
    free(s);
    free(jws);
}

static void
test_jwks_public_only_and_openssl(void **state)
{
    struct fx *f = *state;
    load(f);
    char *jws = sign(f->k, NULL, claims1);
    char *kid = kid_of(jws);
    char *text = NULL;
    assert_int_equal(signkeys_jwks(f->k, &text), AUTHD_OK);
    json_t *priv = private_jwk(f, kid);
    const char *d = json_string_value(json_object_get(priv, "d"));
    assert_non_null(d);
    assert_null(strstr(text, d)); /* the private scalar is nowhere in the JWKS */
    assert_null(strstr(text, "\"d\""));
    free(text);

    json_t *e = jwks_entry(f->k, kid);
    assert_non_null(e);
    assert_public_only(e);
    assert_string_equal(json_string_value(json_object_get(e, "x")),
                        json_string_value(json_object_get(priv, "x")));
    json_decref(priv);

    /* Independent check: OpenSSL alone, from the published x and y, accepts the token... */
    assert_true(openssl_verify(e, jws));
    /* ...and refuses it with another payload (so the check above is not vacuous). */
    char *h = seg(jws, 0), *s = seg(jws, 2), *p2 = b64("{}", 2), buf[2048];
    snprintf(buf, sizeof(buf), "%s.%s.%s", h, p2, s);
    assert_false(openssl_verify(e, buf));

    /* cjose importing the JWKS entry as a relying party would verifies it too. */
    char *etext = json_dumps(e, JSON_COMPACT);
    cjose_err err;
    cjose_jwk_t *pub = cjose_jwk_import(etext, strlen(etext), &err);
    assert_non_null(pub);
    cjose_jws_t *j = cjose_jws_import(jws, strlen(jws), &err);
    assert_non_null(j);
    assert_true(cjose_jws_verify(j, pub, &err));
    cjose_jws_release(j);
    cjose_jwk_release(pub);
    free(etext);
    free(h);
    free(s);
    free(p2);
    json_decref(e);
    free(kid);
    free(jws);
}

static void
test_rotation(void **state)
{
    struct fx *f = *state;
    load(f);
    char *t1 = sign(f->k, NULL, claims1);
    char *kid1 = kid_of(t1);
    char kid2[SIGNKEYS_KID_MAX];

    fake_now += 100;
    int64_t retired_at = fake_now;
    assert_int_equal(signkeys_rotate(&f->a, f->k, "ES256", kid2), AUTHD_OK);
    assert_int_equal(strlen(kid2), 22);
    assert_string_not_equal(kid1, kid2);
    char *t2 = sign(f->k, NULL, claims1);
    char *k2 = kid_of(t2);
    assert_string_equal(k2, kid2); /* the new key signs */
    free(k2);
    assert_verifies(f->k, t1, claims1); /* old tokens still verify */
    assert_verifies(f->k, t2, claims1);
    assert_int_equal(jwks_count(f->k), 2);
    assert_int_equal(count_keys(f->st), 2);
    Authd__Storage__SigningKey *m = get_rec(f->st, kid1);
    assert_int_equal(m->retired_at, retired_at);
    rpc_msg_free(&m->base);
    m = get_rec(f->st, kid2);
    assert_int_equal(m->retired_at, 0);
    assert_int_equal(m->created_at, retired_at);
    rpc_msg_free(&m->base);

    /* Published up to max_token_ttl after retirement, across a reload too. */
    fake_now = retired_at + TTL;
    load(f);
    assert_int_equal(jwks_count(f->k), 2);
    json_t *e = jwks_entry(f->k, kid1);
    assert_non_null(e);
    json_decref(e);
    assert_verifies(f->k, t1, claims1);
    char *t3 = sign(f->k, NULL, claims1);
    char *k3 = kid_of(t3);
    assert_string_equal(k3, kid2); /* the reload kept the newer key active */
    free(k3);
    free(t3);

    /* One second later it is gone: from the JWKS and verify right away, from the store on the
     * next load. */
    fake_now = retired_at + TTL + 1;
    assert_int_equal(jwks_count(f->k), 1);
    assert_null(jwks_entry(f->k, kid1));
    assert_refused(f->k, t1);
    assert_int_equal(count_keys(f->st), 2);
    load(f);
    assert_int_equal(count_keys(f->st), 1);
    assert_int_equal(jwks_count(f->k), 1);
    assert_refused(f->k, t1);
    assert_verifies(f->k, t2, claims1);

    /* A rotation also drops keys whose time is up. */
    char kid3[SIGNKEYS_KID_MAX], kid4[SIGNKEYS_KID_MAX];
    fake_now += 10;
    assert_int_equal(signkeys_rotate(&f->a, f->k, NULL, kid3), AUTHD_OK); /* NULL: the access alg */
    assert_int_equal(count_keys(f->st), 2);
    fake_now += TTL + 1;
    assert_int_equal(signkeys_rotate(&f->a, f->k, "ES256", kid4), AUTHD_OK);
    assert_int_equal(count_keys(f->st), 2); /* kid2's record went in the same batch */
    assert_int_equal(jwks_count(f->k), 2);
    assert_null(jwks_entry(f->k, kid2));

    char out[SIGNKEYS_KID_MAX] = "x";
    assert_int_equal(signkeys_rotate(&f->a, f->k, "HS256", out), AUTHD_ERR_INVALID_ARGUMENT);
    assert_string_equal(out, "");
    assert_int_equal(signkeys_rotate(&f->a, f->k, "none", NULL), AUTHD_ERR_INVALID_ARGUMENT);
    free(kid1);
    free(t1);
    free(t2);
}

/* The value of authd_token_cache_lookups_total{result="<result>"} (0 when absent). */
static long long
cache_count(const char *result)
{
    char name[96];
    size_t len = 0;
    char *m = metrics_render(&len);
    assert_non_null(m);
    snprintf(name, sizeof(name), "authd_token_cache_lookups_total{result=\"%s\"} ", result);
    const char *p = strstr(m, name);
    long long v = p != NULL ? strtoll(p + strlen(name), NULL, 10) : 0;
    free(m);
    return v;
}

/*
 * The verified-token cache answers only while a full verification would: a token presented again
 * is a hit (its own claims, never another token's), a changed signature is another token, a key
 * retired past its publication takes its cached tokens with it at once (their exp still far),
 * and so does a key another replica deleted from the store (seen at the next refresh).
 */
static void
test_cache_follows_the_key_set(void **state)
{
    struct fx *f = *state;
    char c1[128], c2[128], kid2[SIGNKEYS_KID_MAX], key[128];
    f->a.refresh_ms = 0; /* every use rereads the stored keys, as after refresh_ms */
    load(f);
    /* exp far beyond the key's publication, so only the key set can end the entries. */
    snprintf(c1, sizeof(c1), "{\"sub\":\"u1\",\"exp\":%lld}", (long long)fake_now + 10 * TTL);
    snprintf(c2, sizeof(c2), "{\"sub\":\"u2\",\"exp\":%lld}", (long long)fake_now + 10 * TTL);
    char *t1 = sign(f->k, NULL, c1);
    char *u1 = sign(f->k, NULL, c2);

    long long hits = cache_count("hit"), stale = cache_count("stale");
    assert_verifies(f->k, t1, c1);
    assert_verifies(f->k, u1, c2);
    assert_int_equal(cache_count("hit"), hits);
    assert_verifies(f->k, t1, c1);
    assert_verifies(f->k, u1, c2);
    assert_int_equal(cache_count("hit"), hits + 2);
    char *bad = strdup(t1);
    size_t n = strlen(bad);
    bad[n - 2] = bad[n - 2] == 'A' ? 'B' : 'A';
    assert_refused(f->k, bad);

    fake_now += 100;
    int64_t retired_at = fake_now;
    assert_int_equal(signkeys_rotate(&f->a, f->k, "ES256", kid2), AUTHD_OK);
    char *t2 = sign(f->k, NULL, c1);
    assert_verifies(f->k, t2, c1);
    assert_verifies(f->k, t1, c1); /* retired, still published: still a hit */
    assert_int_equal(cache_count("hit"), hits + 3);
    fake_now = retired_at + TTL + 1;
    assert_refused(f->k, t1);
    assert_refused(f->k, u1);
    assert_int_equal(cache_count("stale"), stale + 2);
    assert_verifies(f->k, t2, c1);
    assert_int_equal(cache_count("hit"), hits + 4);

    /* kid2's record deleted by another replica: the next use rereads the keys and refuses. */
    snprintf(key, sizeof(key), "sigkey/%s", kid2);
    assert_int_equal(store_delete(f->st, key, strlen(key)), AUTHD_OK);
    assert_refused(f->k, t2);
    free(bad);
    free(t1);
    free(u1);
    free(t2);
}

static void
test_rs256(void **state)
{
    struct fx *f = *state;
    load(f);
    char kid[SIGNKEYS_KID_MAX];
    assert_int_equal(signkeys_rotate(&f->a, f->k, "RS256", kid), AUTHD_OK);
    char *t = sign(f->k, "RS256", claims1);
    assert_verifies(f->k, t, claims1);
    json_t *h = header_of(t);
    assert_string_equal(json_string_value(json_object_get(h, "alg")), "RS256");
    assert_string_equal(json_string_value(json_object_get(h, "kid")), kid);
    assert_string_equal(json_string_value(json_object_get(h, "typ")), "JWT");
    json_decref(h);
    uint8_t sig[512];
    assert_int_equal(seg_decode(t, 2, sig, sizeof(sig)), 256); /* RSA-2048 */

    json_t *e = jwks_entry(f->k, kid);
    assert_non_null(e);
    assert_string_equal(json_string_value(json_object_get(e, "kty")), "RSA");
    assert_string_equal(json_string_value(json_object_get(e, "alg")), "RS256");
    assert_string_equal(json_string_value(json_object_get(e, "e")), "AQAB");
    uint8_t n[512];
    assert_int_equal(b64_field(e, "n", n, sizeof(n)), 256);
    assert_public_only(e);
    assert_true(openssl_verify(e, t));
    json_t *priv = private_jwk(f, kid);
    char *text = NULL;
    assert_int_equal(signkeys_jwks(f->k, &text), AUTHD_OK);
    static const char *const members[] = {"d", "p", "q", "dp", "dq", "qi"};
    for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
        const char *v = json_string_value(json_object_get(priv, members[i]));
        assert_non_null(v);
        assert_null(strstr(text, v));
    }
    free(text);
    json_decref(priv);
    json_decref(e);

    /* ES256 stays the default and both keys are published. */
    char *te = sign(f->k, NULL, claims1);
    h = header_of(te);
    assert_string_equal(json_string_value(json_object_get(h, "alg")), "ES256");
    json_decref(h);
    assert_int_equal(jwks_count(f->k), 2);

    /* The RS256 token relabelled ES256 (and the ES256 one relabelled RS256) is refused. */
    char *p = seg(t, 1), *s = seg(t, 2), hdr[256], buf[4096];
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"JWT\"}", kid);
    char *hb = b64(hdr, strlen(hdr));
    snprintf(buf, sizeof(buf), "%s.%s.%s", hb, p, s);
    assert_refused(f->k, buf);
    free(hb);
    /* And HS256 keyed with the RSA public modulus. */
    char *hs = make_hs256(kid, claims1, n, 256);
    assert_refused(f->k, hs);
    free(hs);
    free(p);
    free(s);
    free(te);
    free(t);
}

/*
 * The access tokens' algorithm is the administrator's last rotation, stored, so a reload (a
 * restart, another replica) keeps it; without one, --token-alg (set.token_alg). A key made by
 * signkeys_ensure chooses nothing. Before: rotation made a key but chose nothing, and access
 * tokens kept --token-alg's algorithm.
 */
static void
test_rotation_chooses_the_access_alg(void **state)
{
    struct fx *f = *state;
    load(f);
    assert_string_equal(signkeys_access_alg(f->k), "ES256");
    /* ensure: an RS256 key appears (one, however often asked), published, not chosen. */
    assert_int_equal(signkeys_ensure(&f->a, f->k, "RS256"), AUTHD_OK);
    assert_int_equal(signkeys_ensure(&f->a, f->k, "RS256"), AUTHD_OK);
    assert_int_equal(signkeys_ensure(&f->a, f->k, "ES256"), AUTHD_OK);
    assert_int_equal(signkeys_ensure(&f->a, f->k, "HS256"), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(count_keys(f->st), 2);
    assert_int_equal(jwks_count(f->k), 2);
    assert_string_equal(signkeys_access_alg(f->k), "ES256");
    free(sign(f->k, "RS256", claims1));

    char kid[SIGNKEYS_KID_MAX], kid2[SIGNKEYS_KID_MAX], kid3[SIGNKEYS_KID_MAX];
    assert_int_equal(signkeys_rotate(&f->a, f->k, "RS256", kid), AUTHD_OK);
    assert_string_equal(signkeys_access_alg(f->k), "RS256");
    load(f);
    assert_string_equal(signkeys_access_alg(f->k), "RS256");
    /* No alg: the algorithm in use, in the same second too. */
    assert_int_equal(signkeys_rotate(&f->a, f->k, NULL, kid2), AUTHD_OK);
    assert_string_equal(signkeys_access_alg(f->k), "RS256");
    char *t = sign(f->k, "RS256", claims1);
    json_t *h = header_of(t);
    assert_string_equal(json_string_value(json_object_get(h, "kid")), kid2);
    json_decref(h);
    free(t);
    /* Another rotation within the same second wins over the one before. */
    assert_int_equal(signkeys_rotate(&f->a, f->k, "ES256", kid3), AUTHD_OK);
    assert_string_equal(signkeys_access_alg(f->k), "ES256");
    load(f);
    assert_string_equal(signkeys_access_alg(f->k), "ES256");

    /* typ as asked (RFC 9068 access tokens). */
    char *jws = NULL;
    assert_int_equal(signkeys_sign_typ(f->k, "ES256", "at+jwt", claims1, &jws), AUTHD_OK);
    h = header_of(jws);
    assert_string_equal(json_string_value(json_object_get(h, "typ")), "at+jwt");
    json_decref(h);
    assert_verifies(f->k, jws, claims1);
    free(jws);
    jws = (char *)0x1;
    assert_int_equal(signkeys_sign_typ(f->k, "ES256", "", claims1, &jws),
                     AUTHD_ERR_INVALID_ARGUMENT);
    assert_null(jws);
}

/* Without a chosen key, the access tokens' algorithm is --token-alg's. */
static void
test_access_alg_defaults_to_the_setting(void **state)
{
    struct fx *f = *state;
    snprintf(f->a.set.token_alg, sizeof(f->a.set.token_alg), "%s", "RS256");
    load(f);
    assert_string_equal(signkeys_access_alg(f->k), "RS256");
    char kid[SIGNKEYS_KID_MAX];
    assert_int_equal(signkeys_rotate(&f->a, f->k, "ES256", kid), AUTHD_OK);
    assert_string_equal(signkeys_access_alg(f->k), "ES256");
    load(f); /* the stored choice wins over the setting */
    assert_string_equal(signkeys_access_alg(f->k), "ES256");
}

static void
test_persistence(void **state)
{
    struct fx *f = *state;
    load(f);
    char rkid[SIGNKEYS_KID_MAX];
    assert_int_equal(signkeys_rotate(&f->a, f->k, "RS256", rkid), AUTHD_OK);
    char *te = sign(f->k, NULL, claims1), *tr = sign(f->k, "RS256", claims1);
    char *ekid = kid_of(te);
    char *before = NULL;
    assert_int_equal(signkeys_jwks(f->k, &before), AUTHD_OK);

    /* A store-side edit of public_jwk does not change what is published: the public half is
     * derived from the sealed private key. */
    Authd__Storage__SigningKey *m = get_rec(f->st, ekid);
    free(m->public_jwk);
    m->public_jwk = strdup("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"evil\",\"y\":\"evil\"}");
    struct store_batch *b = store_batch_new();
    char key[128];
    snprintf(key, sizeof(key), "sigkey/%s", ekid);
    assert_int_equal(rec_batch_put(b, key, &m->base), AUTHD_OK);
    assert_int_equal(store_batch_commit(f->st, b), AUTHD_OK);
    store_batch_free(b);
    rpc_msg_free(&m->base);

    signkeys_free(f->k);
    f->k = NULL;
    fake_now += 60;
    load(f);
    assert_int_equal(count_keys(f->st), 2);
    char *after = NULL;
    assert_int_equal(signkeys_jwks(f->k, &after), AUTHD_OK);
    json_t *jb = json_loads(before, 0, NULL), *ja = json_loads(after, 0, NULL);
    /* Same keys (order of the array aside). */
    assert_int_equal(json_array_size(json_object_get(ja, "keys")), 2);
    json_t *eb;
    size_t i;
    json_array_foreach(json_object_get(jb, "keys"), i, eb)
    {
        json_t *ea = jwks_entry(f->k, json_string_value(json_object_get(eb, "kid")));
        assert_non_null(ea);
        assert_true(json_equal(ea, eb));
        json_decref(ea);
    }
    assert_null(strstr(after, "evil"));
    json_decref(jb);
    json_decref(ja);
    free(before);
    free(after);

    assert_verifies(f->k, te, claims1);
    assert_verifies(f->k, tr, claims1);
    char *te2 = sign(f->k, NULL, claims1), *tr2 = sign(f->k, "RS256", claims1);
    char *k1 = kid_of(te2), *k2 = kid_of(tr2);
    assert_string_equal(k1, ekid);
    assert_string_equal(k2, rkid);
    free(k1);
    free(k2);
    free(te2);
    free(tr2);
    free(ekid);
    free(te);
    free(tr);
}

static void
test_wrong_box(void **state)
{
    struct fx *f = *state;
    load(f);
    char *t1 = sign(f->k, NULL, claims1);
    char *kid1 = kid_of(t1);

    /* Another key-encryption key: the stored key does not open; it is skipped and logged, a
     * fresh ES256 key takes over, and the unreadable record is kept. */
    fake_now += 100;
    f->a.box = f->other_box;
    char log[8192];
    load_capturing(f, log, sizeof(log));
    assert_non_null(strstr(log, "event=signkey_unreadable"));
    assert_non_null(strstr(log, kid1));
    assert_null(jwks_entry(f->k, kid1));
    assert_int_equal(jwks_count(f->k), 1);
    assert_refused(f->k, t1);
    char *t2 = sign(f->k, NULL, claims1);
    char *kid2 = kid_of(t2);
    assert_string_not_equal(kid1, kid2);
    assert_verifies(f->k, t2, claims1);
    assert_int_equal(count_keys(f->st), 2);

    /* A sealed key moved under another kid does not open either (AAD = kid). */
    Authd__Storage__SigningKey *m1 = get_rec(f->st, kid1), *m2 = get_rec(f->st, kid2);
    ProtobufCBinaryData tmp = m1->private_jwk_enc;
    m1->private_jwk_enc = m2->private_jwk_enc;
    m2->private_jwk_enc = tmp;
    struct store_batch *b = store_batch_new();
    char key[128];
    snprintf(key, sizeof(key), "sigkey/%s", kid1);
    assert_int_equal(rec_batch_put(b, key, &m1->base), AUTHD_OK);
    assert_int_equal(store_batch_commit(f->st, b), AUTHD_OK);
    store_batch_free(b);
    fake_now += 100;
    load_capturing(f, log, sizeof(log));
    assert_non_null(strstr(log, "event=signkey_unreadable"));
    assert_null(jwks_entry(f->k, kid1));
    assert_verifies(f->k, t2, claims1);
    /* Put kid1's own sealed key back. */
    b = store_batch_new();
    tmp = m1->private_jwk_enc;
    m1->private_jwk_enc = m2->private_jwk_enc;
    m2->private_jwk_enc = tmp;
    assert_int_equal(rec_batch_put(b, key, &m1->base), AUTHD_OK);
    assert_int_equal(store_batch_commit(f->st, b), AUTHD_OK);
    store_batch_free(b);
    rpc_msg_free(&m1->base);
    rpc_msg_free(&m2->base);

    /* The right key again: kid1 opens and signs; kid2, sealed under the other box, is
     * skipped in turn. */
    f->a.box = f->box;
    fake_now += 100;
    load_capturing(f, log, sizeof(log));
    assert_non_null(strstr(log, "event=signkey_unreadable")); /* kid2 */
    assert_refused(f->k, t2);
    assert_verifies(f->k, t1, claims1);
    char *t3 = sign(f->k, NULL, claims1);
    char *kid3 = kid_of(t3);
    assert_string_equal(kid3, kid1); /* only kid1 opens under this box */
    free(kid3);
    free(t3);

    /* A rotation retires kid1 in the store. */
    fake_now += 100;
    char kid4[SIGNKEYS_KID_MAX];
    assert_int_equal(signkeys_rotate(&f->a, f->k, "ES256", kid4), AUTHD_OK);
    Authd__Storage__SigningKey *m = get_rec(f->st, kid1);
    assert_int_equal(m->retired_at, fake_now);
    rpc_msg_free(&m->base);

    free(kid1);
    free(kid2);
    free(t1);
    free(t2);
}

/* The alg field is not sealed: a record whose alg does not fit its key is not loaded. */
static void
test_alg_field_mismatch_skipped(void **state)
{
    struct fx *f = *state;
    load(f);
    char *t = sign(f->k, NULL, claims1), *kid = kid_of(t);
    Authd__Storage__SigningKey *m = get_rec(f->st, kid);
    free(m->alg);
    m->alg = strdup("RS256");
    struct store_batch *b = store_batch_new();
    char key[128], log[8192];
    snprintf(key, sizeof(key), "sigkey/%s", kid);
    assert_int_equal(rec_batch_put(b, key, &m->base), AUTHD_OK);
    assert_int_equal(store_batch_commit(f->st, b), AUTHD_OK);
    store_batch_free(b);
    rpc_msg_free(&m->base);
    load_capturing(f, log, sizeof(log));
    assert_non_null(strstr(log, "event=signkey_unreadable"));
    assert_null(jwks_entry(f->k, kid));
    assert_refused(f->k, t);
    char *out = (char *)0x1;
    assert_int_equal(signkeys_sign(f->k, "RS256", claims1, &out), AUTHD_ERR_NOT_FOUND);
    assert_int_equal(jwks_count(f->k), 1); /* a fresh ES256 key */
    free(kid);
    free(t);
}

static void
test_duplicate_active_retired_on_load(void **state)
{
    struct fx *f = *state;
    load(f);
    char *t1 = sign(f->k, NULL, claims1);
    char *kid1 = kid_of(t1);
    /* Two active ES256 keys in the store (as after a key that did not open got a successor
     * and opens again): rotate, then clear the old key's retirement in its record. */
    fake_now += 100;
    char kid2[SIGNKEYS_KID_MAX];
    assert_int_equal(signkeys_rotate(&f->a, f->k, "ES256", kid2), AUTHD_OK);
    Authd__Storage__SigningKey *m = get_rec(f->st, kid1);
    assert_int_equal(m->retired_at, fake_now);
    m->retired_at = 0;
    struct store_batch *b = store_batch_new();
    char key[128];
    snprintf(key, sizeof(key), "sigkey/%s", kid1);
    assert_int_equal(rec_batch_put(b, key, &m->base), AUTHD_OK);
    assert_int_equal(store_batch_commit(f->st, b), AUTHD_OK);
    store_batch_free(b);
    rpc_msg_free(&m->base);

    fake_now += 100;
    char log[8192];
    load_capturing(f, log, sizeof(log));
    assert_non_null(strstr(log, "event=signkey_retired"));
    m = get_rec(f->st, kid1);
    assert_int_equal(m->retired_at, fake_now);
    rpc_msg_free(&m->base);
    char *t2 = sign(f->k, NULL, claims1);
    char *k2 = kid_of(t2);
    assert_string_equal(k2, kid2);
    assert_verifies(f->k, t1, claims1);
    free(k2);
    free(t2);
    free(kid1);
    free(t1);
}

/* RFC 7515 Appendix A.3: the ES256 example, verified through cjose (the path signkeys uses). */
/*
 * Text outside unpadded base64url is refused before cjose sees it: Debian's cjose asserts (and
 * aborts the process) on a '=' after 4k+1 characters. Found by tests/fuzz/fuzz_jwt.
 */
static void
test_not_base64url_refused(void **state)
{
    struct fx *f = *state;
    load(f);
    assert_refused(f->k, "y=1e..3");
    assert_refused(f->k, "eyJhbGciOiJFUzI1NiJ9=.e30.AAAA");
    assert_refused(f->k, "eyJh bGciOiJFUzI1NiJ9.e30.AAAA");
    char *jws = sign(f->k, NULL, claims1);
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s=", jws); /* padding on a valid signature */
    assert_refused(f->k, buf);
    assert_verifies(f->k, jws, claims1);
    free(jws);
}

static void
test_rfc7515_a3(void **state)
{
    (void)state;
    static const char jwk[] = "{\"kty\":\"EC\",\"crv\":\"P-256\","
                              "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
                              "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}";
    static const char jws[] = "eyJhbGciOiJFUzI1NiJ9"
                              "."
                              "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"
                              "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
                              "."
                              "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSA"
                              "pmWQxfKTUJqPP3-Kg6NU1Q";
    static const char payload[] =
        "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}";
    cjose_err err;

    cjose_jwk_t *key = cjose_jwk_import(jwk, strlen(jwk), &err);
    assert_non_null(key);
    cjose_jws_t *j = cjose_jws_import(jws, strlen(jws), &err);
    assert_non_null(j);
    assert_string_equal(
        json_string_value(json_object_get((json_t *)cjose_jws_get_protected(j), "alg")), "ES256");
    assert_true(cjose_jws_verify(j, key, &err));
    uint8_t *pt = NULL;
    size_t ptlen = 0;
    assert_true(cjose_jws_get_plaintext(j, &pt, &ptlen, &err));
    assert_int_equal(ptlen, strlen(payload));
    assert_memory_equal(pt, payload, ptlen);
    cjose_jws_release(j);

    /* A one-bit change of the signature fails. */
    char bad[sizeof(jws)];
    memcpy(bad, jws, sizeof(jws));
    bad[sizeof(jws) - 30] = bad[sizeof(jws) - 30] == 'A' ? 'B' : 'A';
    j = cjose_jws_import(bad, strlen(bad), &err);
    assert_non_null(j);
    assert_false(cjose_jws_verify(j, key, &err));
    cjose_jws_release(j);

    /* The same vector through the independent OpenSSL helper, so both checkers agree. */
    json_t *e = json_loads(jwk, 0, NULL);
    assert_true(openssl_verify(e, jws));
    assert_false(openssl_verify(e, bad));
    json_decref(e);
    cjose_jwk_release(key);
}

/* Signing and verifying from threads while the keys rotate. */
struct worker {
    struct signkeys *k;
    int ok;
};

static void *
worker_run(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 300; i++) {
        char *jws = NULL, *claims = NULL;
        if (signkeys_sign(w->k, NULL, claims1, &jws) != AUTHD_OK)
            return NULL;
        if (signkeys_verify(w->k, jws, &claims) != AUTHD_OK || strcmp(claims, claims1) != 0) {
            free(jws);
            free(claims);
            return NULL;
        }
        free(jws);
        free(claims);
        char *doc = NULL;
        if (signkeys_jwks(w->k, &doc) != AUTHD_OK)
            return NULL;
        free(doc);
    }
    w->ok = 1;
    return NULL;
}

static void
test_concurrent_rotation(void **state)
{
    struct fx *f = *state;
    load(f);
    pthread_t th[3];
    struct worker w[3];
    for (int i = 0; i < 3; i++) {
        w[i].k = f->k;
        w[i].ok = 0;
        assert_int_equal(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
    }
    /* The clock stands still, so every key has the same created_at: the active key must
     * follow from the rotations alone. */
    char kids[6][SIGNKEYS_KID_MAX];
    char *t0 = sign(f->k, NULL, claims1), *k0 = kid_of(t0);
    snprintf(kids[0], sizeof(kids[0]), "%s", k0);
    free(k0);
    free(t0);
    for (int i = 1; i < 6; i++)
        assert_int_equal(signkeys_rotate(&f->a, f->k, "ES256", kids[i]), AUTHD_OK);
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        assert_true(w[i].ok);
    }
    assert_int_equal(jwks_count(f->k), 6);
    for (int i = 0; i < 6; i++) {
        Authd__Storage__SigningKey *m = get_rec(f->st, kids[i]);
        assert_int_equal(m->retired_at, i < 5 ? fake_now : 0);
        rpc_msg_free(&m->base);
    }
    char *t = sign(f->k, NULL, claims1), *kid = kid_of(t);
    assert_string_equal(kid, kids[5]);
    free(kid);
    free(t);
    /* In memory too: a reload finds the same single active key. */
    load(f);
    t = sign(f->k, NULL, claims1);
    kid = kid_of(t);
    assert_string_equal(kid, kids[5]);
    free(kid);
    free(t);
}

/* ---- publish before sign ------------------------------------------------------------------ */

#define DELAY 300

/* The kid that signs alg's tokens now on k (a fresh signature's header). */
static char *
signer(struct signkeys *k, const char *alg)
{
    char *t = sign(k, alg, claims1);
    char *kid = kid_of(t);
    free(t);
    return kid;
}

static void
assert_signer(struct signkeys *k, const char *alg, const char *want)
{
    char *kid = signer(k, alg);
    assert_string_equal(kid, want);
    free(kid);
}

static void
assert_published(struct signkeys *k, const char *kid)
{
    json_t *e = jwks_entry(k, kid);
    assert_non_null(e);
    json_decref(e);
}

/* What signkeys_list says of kid (asserts it is there). */
static struct signkeys_info
info_of(struct signkeys *k, const char *kid)
{
    struct signkeys_info *v = NULL, out;
    size_t n = 0;
    assert_int_equal(signkeys_list(k, &v, &n), AUTHD_OK);
    int found = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].kid, kid) == 0) {
            out = v[i];
            found = 1;
        }
    free(v);
    assert_true(found);
    return out;
}

/*
 * A rotated-in key is published at once but signs only after the publication delay; the key
 * before it signs until that very second, then the new one, by the stored times (a reload, as
 * a restart, agrees). Before this, the new key signed at once.
 */
static void
test_publish_before_sign(void **state)
{
    struct fx *f = *state;
    char kid2[SIGNKEYS_KID_MAX];
    int64_t from = 0;
    f->a.set.key_publish_delay = DELAY;
    load(f);
    char *kid1 = signer(f->k, "ES256");
    int64_t t0 = fake_now;
    char *t1 = sign(f->k, NULL, claims1);

    assert_int_equal(signkeys_rotate_at(&f->a, f->k, "ES256", 0, kid2, &from), AUTHD_OK);
    assert_int_equal(from, t0 + DELAY);
    /* In the JWKS at once, both keys. */
    assert_published(f->k, kid2);
    assert_published(f->k, kid1);
    /* Right after the rotation, and one second before its time: the old key signs. */
    assert_signer(f->k, "ES256", kid1);
    assert_signer(f->k, NULL, kid1);
    struct signkeys_info i1 = info_of(f->k, kid1), i2 = info_of(f->k, kid2);
    assert_true(i1.signing);
    assert_false(i2.signing);
    assert_true(i2.published);
    assert_int_equal(i2.active_from, from);
    assert_int_equal(i1.retired_at, from);
    fake_now = from - 1;
    assert_signer(f->k, "ES256", kid1);
    load(f); /* a restart reads the same times */
    assert_signer(f->k, "ES256", kid1);
    /* At its active_from the new key signs; the old one stays published and verifying. */
    fake_now = from;
    assert_signer(f->k, "ES256", kid2);
    assert_verifies(f->k, t1, claims1);
    assert_published(f->k, kid1);
    i1 = info_of(f->k, kid1);
    i2 = info_of(f->k, kid2);
    assert_false(i1.signing);
    assert_true(i2.signing);
    load(f);
    assert_signer(f->k, "ES256", kid2);

    /* Stored: the new key's active_from, the old key's retirement at that same second. */
    Authd__Storage__SigningKey *m = get_rec(f->st, kid2);
    assert_int_equal(m->active_from, from);
    assert_int_equal(m->retired_at, 0);
    rpc_msg_free(&m->base);
    m = get_rec(f->st, kid1);
    assert_int_equal(m->retired_at, from);
    rpc_msg_free(&m->base);
    free(kid1);
    free(t1);
}

/* The first key of an algorithm signs at once: nothing signed with that algorithm can be cached
 * anywhere. So does a rotation asked to be at once (an emergency), which ends the old key's
 * signing now. */
static void
test_first_key_and_at_once_sign_at_once(void **state)
{
    struct fx *f = *state;
    char rs[SIGNKEYS_KID_MAX], es[SIGNKEYS_KID_MAX];
    int64_t from = 0;
    f->a.set.key_publish_delay = DELAY;
    load(f); /* a fresh store: its ES256 key signs at once */
    char *kid1 = signer(f->k, "ES256");
    assert_true(info_of(f->k, kid1).signing);
    /* No RS256 key yet: the rotation's key signs at once. */
    assert_int_equal(signkeys_rotate_at(&f->a, f->k, "RS256", 0, rs, &from), AUTHD_OK);
    assert_int_equal(from, fake_now);
    assert_signer(f->k, "RS256", rs);

    fake_now += 10;
    assert_int_equal(signkeys_rotate_at(&f->a, f->k, "ES256", 1, es, &from), AUTHD_OK);
    assert_int_equal(from, fake_now);
    assert_signer(f->k, "ES256", es);
    /* The old key no longer signs: it can go at once. */
    assert_int_equal(signkeys_retire(f->k, kid1, NULL), AUTHD_OK);
    assert_null(jwks_entry(f->k, kid1));
    free(kid1);
}

/*
 * Which keys are active, for retirement, with a rotation pending: the key that signs until the
 * new one takes over, and the waiting key itself. Neither can be retired (each would leave a
 * moment with no key to sign); once the new key signs, the old one can.
 */
static void
test_retire_with_a_pending_key(void **state)
{
    struct fx *f = *state;
    char kid2[SIGNKEYS_KID_MAX], alg[SIGNKEYS_ALG_TEXT];
    int64_t from = 0;
    f->a.set.key_publish_delay = DELAY;
    load(f);
    char *kid1 = signer(f->k, "ES256");
    assert_int_equal(signkeys_rotate_at(&f->a, f->k, "ES256", 0, kid2, &from), AUTHD_OK);
    assert_int_equal(signkeys_retire(f->k, kid1, alg), AUTHD_ERR_INVALID_ARGUMENT);
    assert_string_equal(alg, "ES256");
    assert_int_equal(signkeys_retire(f->k, kid2, alg), AUTHD_ERR_INVALID_ARGUMENT);
    fake_now = from - 1;
    assert_int_equal(signkeys_retire(f->k, kid1, NULL), AUTHD_ERR_INVALID_ARGUMENT);
    assert_signer(f->k, "ES256", kid1);
    fake_now = from;
    assert_int_equal(signkeys_retire(f->k, kid2, NULL), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(signkeys_retire(f->k, kid1, NULL), AUTHD_OK);
    assert_signer(f->k, "ES256", kid2);
    assert_int_equal(count_keys(f->st), 1);
    free(kid1);
}

/* A second rotation while the first key still waits: the waiting key signs from its own time
 * until the second one's, so every key that ever signs was published a whole delay before. */
static void
test_rotation_during_the_delay(void **state)
{
    struct fx *f = *state;
    char kid2[SIGNKEYS_KID_MAX], kid3[SIGNKEYS_KID_MAX];
    int64_t from2 = 0, from3 = 0;
    f->a.set.key_publish_delay = DELAY;
    load(f);
    char *kid1 = signer(f->k, "ES256");
    assert_int_equal(signkeys_rotate_at(&f->a, f->k, "ES256", 0, kid2, &from2), AUTHD_OK);
    fake_now += 100;
    assert_int_equal(signkeys_rotate_at(&f->a, f->k, "ES256", 0, kid3, &from3), AUTHD_OK);
    assert_int_equal(from3, from2 + 100);
    assert_signer(f->k, "ES256", kid1);
    fake_now = from2;
    assert_signer(f->k, "ES256", kid2);
    fake_now = from3 - 1;
    assert_signer(f->k, "ES256", kid2);
    fake_now = from3;
    assert_signer(f->k, "ES256", kid3);
    assert_int_equal(jwks_count(f->k), 3);
    /* An emergency rotation now ends every waiting key's turn too. */
    char kid4[SIGNKEYS_KID_MAX];
    fake_now = from3 - 50;
    assert_signer(f->k, "ES256", kid2);
    int64_t now4 = 0;
    assert_int_equal(signkeys_rotate_at(&f->a, f->k, "ES256", 1, kid4, &now4), AUTHD_OK);
    assert_signer(f->k, "ES256", kid4);
    fake_now = from3 + 1;
    assert_signer(f->k, "ES256", kid4);
    free(kid1);
}

/*
 * Two replicas on one store (two key sets, each rereading the stored keys on every use): the
 * one that did not rotate publishes the new key at once and signs with the old one until the
 * stored active_from, then with the new one - from the stored times, not a timer of its own.
 */
static void
test_replicas_agree_on_the_signer(void **state)
{
    struct fx *f = *state;
    struct signkeys *b = NULL;
    char kid2[SIGNKEYS_KID_MAX];
    int64_t from = 0;
    f->a.set.key_publish_delay = DELAY;
    f->a.refresh_ms = 0;
    load(f);
    assert_int_equal(signkeys_load(&f->a, TTL, &b), AUTHD_OK);
    char *kid1 = signer(f->k, "ES256");
    assert_signer(b, "ES256", kid1);
    assert_int_equal(signkeys_rotate_at(&f->a, f->k, "ES256", 0, kid2, &from), AUTHD_OK);
    assert_published(b, kid2);
    assert_signer(b, "ES256", kid1);
    assert_signer(f->k, "ES256", kid1);
    fake_now = from;
    assert_signer(b, "ES256", kid2);
    assert_signer(f->k, "ES256", kid2);
    /* b rotates at once: a's next use sees it (the stored retirement of a's key is now). */
    char kid3[SIGNKEYS_KID_MAX];
    fake_now += 5;
    assert_int_equal(signkeys_rotate_at(&f->a, b, "ES256", 1, kid3, NULL), AUTHD_OK);
    assert_signer(f->k, "ES256", kid3);
    signkeys_free(b);
    free(kid1);
}

/* How long the edge may serve a copy: the delay less refresh_ms, two seconds and the max age
 * the edge gives HTTP caches behind it (60 s); none at 0 or when that leaves nothing. */
static void
test_cache_max_ms(void **state)
{
    struct fx *f = *state;
    f->a.refresh_ms = 1000;
    f->a.set.key_publish_delay = 0;
    assert_int_equal(signkeys_cache_max_ms(&f->a), 0);
    f->a.set.key_publish_delay = 2;
    assert_int_equal(signkeys_cache_max_ms(&f->a), 0);
    /* 63 s: refresh 1 s + 2 s + the downstream 60 s leave nothing for the edge's copy. */
    f->a.set.key_publish_delay = 63;
    assert_int_equal(signkeys_cache_max_ms(&f->a), 0);
    f->a.set.key_publish_delay = 64;
    assert_int_equal(signkeys_cache_max_ms(&f->a), 1000);
    f->a.set.key_publish_delay = DELAY;
    assert_int_equal(signkeys_cache_max_ms(&f->a), DELAY * 1000 - 3000 - 60000);
    /* The edge's own copy plus a downstream cache's whole max age stay inside the delay less
     * the refresh and the margins. */
    assert_true(signkeys_cache_max_ms(&f->a) + AUTHD_JWKS_HTTP_MAX_AGE_S * 1000 <=
                DELAY * 1000 - f->a.refresh_ms - 2000);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_load_creates_es256, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sign_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sign_unchecked_verifies_independently, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tampered_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alg_none_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hs256_confusion_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alg_substitution_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_kid_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jwks_public_only_and_openssl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rs256, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_chooses_the_access_alg, setup, teardown),
        cmocka_unit_test_setup_teardown(test_access_alg_defaults_to_the_setting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_box, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alg_field_mismatch_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_active_retired_on_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_base64url_refused, setup, teardown),
        cmocka_unit_test(test_rfc7515_a3),
        cmocka_unit_test_setup_teardown(test_concurrent_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_follows_the_key_set, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publish_before_sign, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_key_and_at_once_sign_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retire_with_a_pending_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_during_the_delay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replicas_agree_on_the_signer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_max_ms, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
