/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for authd/oauth.c: PKCE S256 (RFC 7636 Appendix B vector, verifier bounds), exact
 * redirect-URI matching, redirect URLs (query vs fragment, the client's own query kept, values
 * escaped), scope sets, prompt parsing, grant settings and the OAuth error mapping.
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
#include "authd/oauth.h"
#include "common/secret.h"

/* ---- PKCE ------------------------------------------------------------------------------ */

/* RFC 7636 Appendix B (also: printf %s "$v" | openssl dgst -sha256 -binary | base64url). */
static const char rfc_verifier[] = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
static const char rfc_challenge[] = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

static void
test_pkce_rfc7636_vector(void **state)
{
    (void)state;
    char out[OAUTH_PKCE_S256_LEN + 1];
    oauth_pkce_s256(rfc_verifier, out);
    assert_string_equal(out, rfc_challenge);
    assert_int_equal(strlen(out), OAUTH_PKCE_S256_LEN);
    assert_true(oauth_pkce_valid(rfc_verifier));
    assert_true(oauth_pkce_valid(rfc_challenge));
    assert_int_equal(oauth_pkce_check(rfc_verifier, rfc_challenge), 1);
}

static void
test_pkce_mismatch(void **state)
{
    (void)state;
    char v[sizeof(rfc_verifier)];
    memcpy(v, rfc_verifier, sizeof(v));
    v[0] = 'e'; /* one character off */
    assert_int_equal(oauth_pkce_check(v, rfc_challenge), 0);

    char ch[sizeof(rfc_challenge)];
    memcpy(ch, rfc_challenge, sizeof(ch));
    ch[0] = 'e'; /* case differs: base64url is case-sensitive */
    assert_int_equal(oauth_pkce_check(rfc_verifier, ch), 0);
    /* The challenge itself is no verifier of itself ("plain" is not accepted). */
    assert_int_equal(oauth_pkce_check(rfc_challenge, rfc_challenge), 0);
    /* A prefix or an extension of the challenge does not match. */
    assert_int_equal(oauth_pkce_check(rfc_verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c"),
                     0);
    assert_int_equal(oauth_pkce_check(rfc_verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cMA"),
                     0);
    /* Padded base64url or standard base64 of the same digest is a different string. */
    assert_int_equal(oauth_pkce_check(rfc_verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM="),
                     0);
    assert_int_equal(oauth_pkce_check(rfc_verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"),
                     0);
    assert_int_equal(oauth_pkce_check(rfc_verifier, ""), 0);
    assert_int_equal(oauth_pkce_check(rfc_verifier, NULL), 0);
    assert_int_equal(oauth_pkce_check(NULL, rfc_challenge), 0);
}

static void
fill(char *buf, size_t n, char c)
{
    memset(buf, c, n);
    buf[n] = '\0';
}

static void
test_pkce_verifier_bounds(void **state)
{
    (void)state;
    char v[OAUTH_PKCE_MAX + 2];
    fill(v, 42, 'a');
    assert_false(oauth_pkce_valid(v));
    fill(v, 43, 'a');
    assert_true(oauth_pkce_valid(v));
    fill(v, 128, 'Z');
    assert_true(oauth_pkce_valid(v));
    fill(v, 129, 'Z');
    assert_false(oauth_pkce_valid(v));
    assert_false(oauth_pkce_valid(""));
    assert_false(oauth_pkce_valid(NULL));

    /* Every unreserved character is allowed, anything else is not. */
    fill(v, 43, '0');
    v[1] = '-';
    v[2] = '.';
    v[3] = '_';
    v[4] = '~';
    assert_true(oauth_pkce_valid(v));
    const char bad[] = {'+', '/', '=', ' ', '%', '!', '*', '\'', '(', ')', ':', '\t', (char)0xC3};
    for (size_t i = 0; i < sizeof(bad); i++) {
        fill(v, 50, 'a');
        v[20] = bad[i];
        assert_false(oauth_pkce_valid(v));
    }

    /* A too-short verifier never passes, even against its own S256. */
    char ch[OAUTH_PKCE_S256_LEN + 1];
    fill(v, 42, 'a');
    oauth_pkce_s256(v, ch);
    assert_int_equal(oauth_pkce_check(v, ch), 0);
    fill(v, 43, 'a');
    oauth_pkce_s256(v, ch);
    assert_int_equal(oauth_pkce_check(v, ch), 1);
    fill(v, 129, 'a');
    oauth_pkce_s256(v, ch);
    assert_int_equal(oauth_pkce_check(v, ch), 0);
    /* A bad character in an otherwise fine verifier: refused though the hash matches. */
    fill(v, 60, 'a');
    v[10] = '+';
    oauth_pkce_s256(v, ch);
    assert_int_equal(oauth_pkce_check(v, ch), 0);
}

/* ---- redirect URIs ----------------------------------------------------------------------- */

static void
test_redirect_uri_exact(void **state)
{
    (void)state;
    const char *reg = "https://app.example.com/cb";
    assert_int_equal(oauth_redirect_uri_eq(reg, "https://app.example.com/cb"), 1);

    const char *near[] = {
        "https://app.example.com/cb/",         /* trailing slash */
        "https://app.example.com/c",           /* prefix */
        "https://app.example.com/cb2",         /* suffix */
        "https://app.example.com/cb/evil",     /* path extension */
        "https://app.example.com/cb?x=1",      /* added query */
        "https://app.example.com/cb#frag",     /* fragment */
        "https://app.example.com/CB",          /* case in the path */
        "HTTPS://app.example.com/cb",          /* case in the scheme */
        "https://APP.example.com/cb",          /* case in the host */
        "https://app.example.com:443/cb",      /* explicit default port */
        "http://app.example.com/cb",           /* scheme */
        "https://app.example.com.evil.com/cb", /* host suffix */
        "https://app.example.com/cb ",         /* trailing space */
        " https://app.example.com/cb",         /* leading space */
        "https://app.example.com/%63b",        /* percent-encoded equivalent */
        "",
    };
    for (size_t i = 0; i < sizeof(near) / sizeof(near[0]); i++)
        assert_int_equal(oauth_redirect_uri_eq(reg, near[i]), 0);
    assert_int_equal(oauth_redirect_uri_eq(reg, NULL), 0);

    /* Nothing matches an empty, missing or invalid registration, not even itself. */
    assert_int_equal(oauth_redirect_uri_eq("", ""), 0);
    assert_int_equal(oauth_redirect_uri_eq(NULL, "https://app.example.com/cb"), 0);
    assert_int_equal(
        oauth_redirect_uri_eq("https://app.example.com/cb#x", "https://app.example.com/cb#x"), 0);
    assert_int_equal(oauth_redirect_uri_eq("javascript:alert(1)", "javascript:alert(1)"), 0);

    /* A registration with its own query matches only itself. */
    assert_int_equal(oauth_redirect_uri_eq("https://a.example/cb?t=1", "https://a.example/cb?t=1"),
                     1);
    assert_int_equal(oauth_redirect_uri_eq("https://a.example/cb?t=1", "https://a.example/cb"), 0);
    assert_int_equal(
        oauth_redirect_uri_eq("https://a.example/cb?t=1", "https://a.example/cb?t=1&t=2"), 0);
}

static void
test_redirect_uri_valid(void **state)
{
    (void)state;
    assert_true(oauth_redirect_uri_valid("https://app.example.com/cb"));
    assert_true(oauth_redirect_uri_valid("http://127.0.0.1:8080/callback"));
    assert_true(oauth_redirect_uri_valid("com.example.app:/oauth2redirect"));
    assert_true(oauth_redirect_uri_valid("https://a.example/cb?x=1&y=2"));

    assert_false(oauth_redirect_uri_valid(NULL));
    assert_false(oauth_redirect_uri_valid(""));
    assert_false(oauth_redirect_uri_valid("/cb"));               /* relative */
    assert_false(oauth_redirect_uri_valid("//evil.example/cb")); /* scheme-relative */
    assert_false(oauth_redirect_uri_valid("https://a.example/cb#f"));
    assert_false(oauth_redirect_uri_valid("https://a.example/c b"));
    assert_false(oauth_redirect_uri_valid("https://a.example/c\nb"));
    assert_false(oauth_redirect_uri_valid("https://a.example/c\x7f"));
    assert_false(oauth_redirect_uri_valid("https://a.example/\xc3\xa9"));
    assert_false(oauth_redirect_uri_valid("javascript:alert(1)"));
    assert_false(oauth_redirect_uri_valid("JavaScript:alert(1)"));
    assert_false(oauth_redirect_uri_valid("data:text/html,hi"));
    assert_false(oauth_redirect_uri_valid("vbscript:x"));
    assert_false(oauth_redirect_uri_valid("https:"));              /* nothing after the scheme */
    assert_false(oauth_redirect_uri_valid("1https://a.example/")); /* scheme starts with a digit */

    char *long_uri = malloc(OAUTH_URI_MAX + 2);
    assert_non_null(long_uri);
    memcpy(long_uri, "https://a.example/", 18);
    memset(long_uri + 18, 'a', OAUTH_URI_MAX - 18);
    long_uri[OAUTH_URI_MAX] = '\0';
    assert_true(oauth_redirect_uri_valid(long_uri));
    long_uri[OAUTH_URI_MAX] = 'a';
    long_uri[OAUTH_URI_MAX + 1] = '\0';
    assert_false(oauth_redirect_uri_valid(long_uri));
    free(long_uri);
}

static void
expect_url(const char *base, int fragment, const struct oauth_param *p, size_t n, const char *want)
{
    char *out = NULL;
    assert_int_equal(oauth_redirect_build(base, fragment, p, n, &out), AUTHD_OK);
    assert_non_null(out);
    assert_string_equal(out, want);
    secret_strfree(out);
}

static void
test_redirect_build(void **state)
{
    (void)state;
    const struct oauth_param code[] = {{"code", "abc.DEF-_"}, {"state", "xyz"}};
    expect_url("https://c.example/cb", 0, code, 2, "https://c.example/cb?code=abc.DEF-_&state=xyz");
    /* The client's own query is kept; ours follows with '&'. */
    expect_url("https://c.example/cb?tenant=7", 0, code, 2,
               "https://c.example/cb?tenant=7&code=abc.DEF-_&state=xyz");
    expect_url("https://c.example/cb?", 0, code, 2,
               "https://c.example/cb?code=abc.DEF-_&state=xyz");
    expect_url("https://c.example/cb?a=1&", 0, code, 2,
               "https://c.example/cb?a=1&code=abc.DEF-_&state=xyz");

    /* Implicit: the fragment, the client's query untouched. */
    const struct oauth_param tok[] = {{"access_token", "t0k"},
                                      {"token_type", "Bearer"},
                                      {"expires_in", "3600"},
                                      {"scope", "openid profile"},
                                      {"state", "s"}};
    expect_url("https://c.example/cb", 1, tok, 5,
               "https://c.example/cb#access_token=t0k&token_type=Bearer&expires_in=3600"
               "&scope=openid%20profile&state=s");
    expect_url("https://c.example/cb?x=1", 1, tok, 1, "https://c.example/cb?x=1#access_token=t0k");

    /* Errors: every value escaped, so a state cannot add parameters or a fragment. */
    const struct oauth_param err[] = {{"error", "invalid_scope"},
                                      {"error_description", "scope \"x\" not allowed"},
                                      {"state", "a b&code=evil#frag/?+%"}};
    expect_url("https://c.example/cb", 0, err, 3,
               "https://c.example/cb?error=invalid_scope"
               "&error_description=scope%20%22x%22%20not%20allowed"
               "&state=a%20b%26code%3Devil%23frag%2F%3F%2B%25");
    expect_url("https://c.example/cb", 1, err, 3,
               "https://c.example/cb#error=invalid_scope"
               "&error_description=scope%20%22x%22%20not%20allowed"
               "&state=a%20b%26code%3Devil%23frag%2F%3F%2B%25");

    /* Absent and empty values are left out (no "state=" when the client sent none). */
    const struct oauth_param some[] = {{"code", "c"}, {"state", ""}, {"iss", NULL}};
    expect_url("https://c.example/cb", 0, some, 3, "https://c.example/cb?code=c");
    const struct oauth_param first_empty[] = {{"state", ""}, {"code", "c"}};
    expect_url("https://c.example/cb?a=1", 0, first_empty, 2, "https://c.example/cb?a=1&code=c");
    expect_url("https://c.example/cb", 0, NULL, 0, "https://c.example/cb");

    /* Non-ASCII is percent-encoded byte by byte. */
    const struct oauth_param utf8[] = {{"state", "\xc3\xa9"}};
    expect_url("https://c.example/cb", 0, utf8, 1, "https://c.example/cb?state=%C3%A9");
}

static void
test_redirect_build_refuses(void **state)
{
    (void)state;
    const struct oauth_param p[] = {{"code", "c"}};
    char *out = (char *)"sentinel";
    assert_int_equal(oauth_redirect_build("https://c.example/cb#x", 0, p, 1, &out),
                     AUTHD_ERR_INVALID_ARGUMENT);
    assert_null(out);
    out = (char *)"sentinel";
    assert_int_equal(oauth_redirect_build("javascript:alert(1)", 0, p, 1, &out),
                     AUTHD_ERR_INVALID_ARGUMENT);
    assert_null(out);
    assert_int_equal(oauth_redirect_build("", 0, p, 1, &out), AUTHD_ERR_INVALID_ARGUMENT);

    /* Over the cap: refused, never cut. */
    char *big = malloc(8001);
    assert_non_null(big);
    memset(big, ' ', 8000); /* each space becomes %20: 24000 bytes */
    big[8000] = '\0';
    const struct oauth_param large[] = {{"state", big}};
    out = (char *)"sentinel";
    assert_int_equal(oauth_redirect_build("https://c.example/cb", 0, large, 1, &out),
                     AUTHD_ERR_TOO_LARGE);
    assert_null(out);
    free(big);
}

/* ---- scopes ---------------------------------------------------------------------------- */

static void
test_scopes_parse(void **state)
{
    (void)state;
    struct oauth_scopes s;
    assert_int_equal(oauth_scopes_parse("openid profile email", &s), AUTHD_OK);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.item[0], "openid");
    assert_string_equal(s.item[1], "profile");
    assert_string_equal(s.item[2], "email");

    /* Duplicates collapse, first-seen order kept, runs of spaces are one separator. */
    assert_int_equal(oauth_scopes_parse("  b a  b   a c ", &s), AUTHD_OK);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.item[0], "b");
    assert_string_equal(s.item[1], "a");
    assert_string_equal(s.item[2], "c");

    assert_int_equal(oauth_scopes_parse("", &s), AUTHD_OK);
    assert_int_equal(s.n, 0);
    assert_int_equal(oauth_scopes_parse(NULL, &s), AUTHD_OK);
    assert_int_equal(s.n, 0);
    assert_int_equal(oauth_scopes_parse("   ", &s), AUTHD_OK);
    assert_int_equal(s.n, 0);

    /* RFC 6749 §3.3 characters: FHIR-style scopes pass. */
    assert_int_equal(oauth_scopes_parse("patient/*.read user/Observation.write launch:x", &s),
                     AUTHD_OK);
    assert_int_equal(s.n, 3);

    /* '"' and '\' are excluded, as are controls, tabs and non-ASCII; a failure empties s. */
    const char *bad[] = {"openid \"x\"", "a\\b", "a\tb", "a\nb", "caf\xc3\xa9", "a\x7f"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(oauth_scopes_parse("openid", &s), AUTHD_OK);
        assert_int_equal(oauth_scopes_parse(bad[i], &s), AUTHD_ERR_INVALID_ARGUMENT);
        assert_int_equal(s.n, 0);
    }
}

static void
test_scopes_limits(void **state)
{
    (void)state;
    struct oauth_scopes s;
    char tok[OAUTH_SCOPE_TOKEN_MAX + 2];
    fill(tok, OAUTH_SCOPE_TOKEN_MAX, 'x');
    assert_int_equal(oauth_scopes_parse(tok, &s), AUTHD_OK);
    assert_int_equal(s.n, 1);
    fill(tok, OAUTH_SCOPE_TOKEN_MAX + 1, 'x');
    assert_int_equal(oauth_scopes_parse(tok, &s), AUTHD_ERR_INVALID_ARGUMENT);

    /* OAUTH_SCOPE_ITEMS_MAX distinct scopes fit, one more does not. */
    char text[OAUTH_SCOPE_ITEMS_MAX * 5 + 8];
    size_t used = 0;
    for (int i = 0; i < OAUTH_SCOPE_ITEMS_MAX; i++)
        used += (size_t)snprintf(text + used, sizeof(text) - used, "s%d ", i);
    assert_int_equal(oauth_scopes_parse(text, &s), AUTHD_OK);
    assert_int_equal(s.n, OAUTH_SCOPE_ITEMS_MAX);
    snprintf(text + used, sizeof(text) - used, "more");
    assert_int_equal(oauth_scopes_parse(text, &s), AUTHD_ERR_INVALID_ARGUMENT);
    /* ...but a duplicate of one already there still does. */
    snprintf(text + used, sizeof(text) - used, "s0");
    assert_int_equal(oauth_scopes_parse(text, &s), AUTHD_OK);

    assert_int_equal(oauth_scopes_add(&s, NULL), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(oauth_scopes_add(&s, ""), AUTHD_ERR_INVALID_ARGUMENT);
}

static void
test_scopes_subset(void **state)
{
    (void)state;
    struct oauth_scopes allowed, want, empty;
    assert_int_equal(oauth_scopes_parse("openid profile email", &allowed), AUTHD_OK);
    oauth_scopes_clear(&empty);

    assert_int_equal(oauth_scopes_parse("openid", &want), AUTHD_OK);
    assert_true(oauth_scopes_subset(&want, &allowed));
    assert_int_equal(oauth_scopes_parse("email openid profile", &want), AUTHD_OK);
    assert_true(oauth_scopes_subset(&want, &allowed));
    assert_true(oauth_scopes_subset(&empty, &allowed));
    assert_true(oauth_scopes_subset(&empty, &empty));

    const char *not_in[] = {"openid admin", "OpenID", "open", "openidx", "profile email admin"};
    for (size_t i = 0; i < sizeof(not_in) / sizeof(not_in[0]); i++) {
        assert_int_equal(oauth_scopes_parse(not_in[i], &want), AUTHD_OK);
        assert_false(oauth_scopes_subset(&want, &allowed));
    }
    assert_int_equal(oauth_scopes_parse("openid", &want), AUTHD_OK);
    assert_false(oauth_scopes_subset(&want, &empty));

    assert_true(oauth_scopes_has(&allowed, "email"));
    assert_false(oauth_scopes_has(&allowed, "emai"));
    assert_false(oauth_scopes_has(&allowed, "Email"));
    assert_false(oauth_scopes_has(&allowed, NULL));
}

static void
test_scopes_join(void **state)
{
    (void)state;
    struct oauth_scopes s;
    char out[32];
    assert_int_equal(oauth_scopes_parse("openid  profile", &s), AUTHD_OK);
    assert_int_equal(oauth_scopes_join(&s, out, sizeof(out)), AUTHD_OK);
    assert_string_equal(out, "openid profile");
    /* Exactly fits ("openid profile" + NUL = 15 bytes), one less does not. */
    assert_int_equal(oauth_scopes_join(&s, out, 15), AUTHD_OK);
    assert_int_equal(oauth_scopes_join(&s, out, 14), AUTHD_ERR_TOO_LARGE);
    assert_string_equal(out, "");
    oauth_scopes_clear(&s);
    assert_int_equal(oauth_scopes_join(&s, out, sizeof(out)), AUTHD_OK);
    assert_string_equal(out, "");
}

static void
test_client_scopes(void **state)
{
    (void)state;
    Authd__V1__Client c = AUTHD__V1__CLIENT__INIT;
    struct oauth_scopes s;
    assert_int_equal(oauth_client_scopes(&c, &s), AUTHD_OK);
    assert_int_equal(s.n, 3);
    assert_true(oauth_scopes_has(&s, "openid"));
    assert_true(oauth_scopes_has(&s, "profile"));
    assert_true(oauth_scopes_has(&s, "email"));

    char *list[] = {"openid", "api:read"};
    c.scope = list;
    c.n_scope = 2;
    assert_int_equal(oauth_client_scopes(&c, &s), AUTHD_OK);
    assert_int_equal(s.n, 2);
    assert_false(oauth_scopes_has(&s, "email"));
    assert_true(oauth_scopes_has(&s, "api:read"));

    char *broken[] = {"openid", "bad scope"};
    c.scope = broken;
    assert_int_equal(oauth_client_scopes(&c, &s), AUTHD_ERR_INVALID_ARGUMENT);
}

/* ---- prompt, JWT shape, grants, errors ------------------------------------------------- */

static void
test_prompt(void **state)
{
    (void)state;
    unsigned f = 99;
    assert_int_equal(oauth_prompt_parse("", &f), AUTHD_OK);
    assert_int_equal(f, 0);
    assert_int_equal(oauth_prompt_parse("none", &f), AUTHD_OK);
    assert_int_equal(f, OAUTH_PROMPT_NONE);
    assert_int_equal(oauth_prompt_parse("login consent", &f), AUTHD_OK);
    assert_int_equal(f, OAUTH_PROMPT_LOGIN | OAUTH_PROMPT_CONSENT);
    assert_int_equal(oauth_prompt_parse("select_account", &f), AUTHD_OK);
    assert_int_equal(f, OAUTH_PROMPT_SELECT_ACCOUNT);
    assert_int_equal(oauth_prompt_parse("none login", &f), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(oauth_prompt_parse("consent none", &f), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(oauth_prompt_parse("nonex", &f), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(oauth_prompt_parse("Login", &f), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(f, 0);
}

static void
test_is_jwt(void **state)
{
    (void)state;
    assert_true(oauth_is_jwt("eyJh.eyJz.c2ln"));
    assert_true(oauth_is_jwt("a-_.b.c"));
    assert_false(oauth_is_jwt("a.b"));
    assert_false(oauth_is_jwt("a..c"));
    assert_false(oauth_is_jwt(".b.c"));
    assert_false(oauth_is_jwt("a.b."));
    assert_false(oauth_is_jwt("a.b.c.d"));
    assert_false(oauth_is_jwt("a.b.c="));
    assert_false(oauth_is_jwt("a.b.c "));
    assert_false(oauth_is_jwt(""));
    assert_false(oauth_is_jwt(NULL));
    /* An opaque token "<id>.<secret>" is not taken for a JWT. */
    assert_false(
        oauth_is_jwt("AAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"));
}

static void
test_grants(void **state)
{
    (void)state;
    Authd__V1__Client c = AUTHD__V1__CLIENT__INIT;
    char *g1[] = {"code", "password"};
    c.grant_types = g1;
    c.n_grant_types = 2;
    /* Aidbox's "code" grants authorization_code; nothing else is implied. */
    assert_true(oauth_client_has_grant(&c, "authorization_code"));
    assert_true(oauth_client_has_grant(&c, "password"));
    assert_false(oauth_client_has_grant(&c, "implicit"));
    assert_false(oauth_client_has_grant(&c, "client_credentials"));
    assert_false(oauth_client_has_grant(&c, "refresh_token"));
    assert_false(oauth_client_has_grant(&c, "authorization"));
    assert_false(oauth_client_has_grant(&c, NULL));
    char *g2[] = {"authorization_code"};
    c.grant_types = g2;
    c.n_grant_types = 1;
    assert_true(oauth_client_has_grant(&c, "authorization_code"));
    assert_false(oauth_client_has_grant(&c, "password"));
    c.n_grant_types = 0;
    assert_false(oauth_client_has_grant(&c, "authorization_code"));

    /* Settings and their defaults. */
    assert_null(oauth_grant_settings(&c, "password"));
    assert_int_equal(oauth_access_ttl(NULL), OAUTH_ACCESS_TTL_DEFAULT);
    assert_int_equal(oauth_refresh_ttl(NULL), OAUTH_REFRESH_TTL_DEFAULT);
    assert_false(oauth_token_opaque(NULL));
    Authd__V1__ClientAuth auth = AUTHD__V1__CLIENT_AUTH__INIT;
    Authd__V1__GrantSettings code = AUTHD__V1__GRANT_SETTINGS__INIT;
    Authd__V1__GrantSettings impl = AUTHD__V1__GRANT_SETTINGS__INIT;
    auth.authorization_code = &code;
    auth.implicit = &impl;
    c.auth = &auth;
    assert_ptr_equal(oauth_grant_settings(&c, "authorization_code"), &code);
    assert_ptr_equal(oauth_grant_settings(&c, "implicit"), &impl);
    assert_null(oauth_grant_settings(&c, "password"));
    assert_null(oauth_grant_settings(&c, "code"));
    assert_null(oauth_grant_settings(&c, NULL));
    assert_int_equal(oauth_access_ttl(&code), OAUTH_ACCESS_TTL_DEFAULT);
    code.access_token_expiration = 300;
    code.refresh_token_expiration = 86400;
    assert_int_equal(oauth_access_ttl(&code), 300);
    assert_int_equal(oauth_refresh_ttl(&code), 86400);
    code.access_token_expiration = -5;
    assert_int_equal(oauth_access_ttl(&code), OAUTH_ACCESS_TTL_DEFAULT);
    assert_false(oauth_token_opaque(&code));
    code.token_format = "opaque";
    assert_true(oauth_token_opaque(&code));
    code.token_format = "jwt";
    assert_false(oauth_token_opaque(&code));

    /* Active unless said otherwise. */
    assert_true(oauth_client_active(&c));
    Authd__V1__BoolValue off = AUTHD__V1__BOOL_VALUE__INIT;
    c.active = &off;
    assert_false(oauth_client_active(&c));
    off.value = 1;
    assert_true(oauth_client_active(&c));
    assert_false(oauth_client_active(NULL));
}

static void
test_errors(void **state)
{
    (void)state;
    assert_int_equal(oauth_err("invalid_request"), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(oauth_err("invalid_scope"), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(oauth_err("invalid_client"), AUTHD_ERR_INVALID_CREDENTIALS);
    assert_int_equal(oauth_err("invalid_grant"), AUTHD_ERR_INVALID_TOKEN);
    assert_int_equal(oauth_err("unauthorized_client"), AUTHD_ERR_UNAUTHORIZED_CLIENT);
    assert_int_equal(oauth_err("unsupported_grant_type"), AUTHD_ERR_UNSUPPORTED_GRANT_TYPE);
    assert_int_equal(oauth_err("temporarily_unavailable"), AUTHD_ERR_LOCKED);
    assert_int_equal(oauth_err("locked"), AUTHD_ERR_INTERNAL); /* not an RFC 6749 code */
    assert_int_equal(oauth_err("invalid_token"), AUTHD_ERR_UNAUTHENTICATED);
    assert_int_equal(oauth_err("nonsense"), AUTHD_ERR_INTERNAL);
    assert_int_equal(oauth_err(NULL), AUTHD_ERR_INTERNAL);
    assert_int_equal(oauth_fail(NULL, "invalid_grant", "x"), AUTHD_ERR_INVALID_TOKEN);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pkce_rfc7636_vector),
        cmocka_unit_test(test_pkce_mismatch),
        cmocka_unit_test(test_pkce_verifier_bounds),
        cmocka_unit_test(test_redirect_uri_exact),
        cmocka_unit_test(test_redirect_uri_valid),
        cmocka_unit_test(test_redirect_build),
        cmocka_unit_test(test_redirect_build_refuses),
        cmocka_unit_test(test_scopes_parse),
        cmocka_unit_test(test_scopes_limits),
        cmocka_unit_test(test_scopes_subset),
        cmocka_unit_test(test_scopes_join),
        cmocka_unit_test(test_client_scopes),
        cmocka_unit_test(test_prompt),
        cmocka_unit_test(test_is_jwt),
        cmocka_unit_test(test_grants),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
