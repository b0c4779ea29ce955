/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the manifest layer behind `authctl apply` (ctl/manifest.c): the bounded
 * YAML -> JSON converter, strict mapping of AuthConfig, User and Client resources to protobuf-c
 * messages, and the reverse mapping and YAML printer used by `authctl config get` and
 * `authctl client get`.
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
#include "ctl/manifest.h"

static char err[256];

static struct manifest *
parse_ok(const char *yaml)
{
    struct manifest *m = NULL;
    int r = manifest_parse(yaml, strlen(yaml), &m, err, sizeof(err));
    if (r != AUTHD_OK)
        print_error("unexpected error %d: %s\n", r, err);
    assert_int_equal(r, AUTHD_OK);
    assert_non_null(m);
    return m;
}

/* Parsing fails with r and an error message containing every one of the given pieces. */
static void
parse_err(const char *yaml, int want, const char *piece1, const char *piece2)
{
    struct manifest *m = (struct manifest *)1;
    err[0] = '\0';
    int r = manifest_parse(yaml, strlen(yaml), &m, err, sizeof(err));
    if (r != want || strstr(err, piece1) == NULL || (piece2 && strstr(err, piece2) == NULL))
        print_error("r=%d err=[%s] want [%s] [%s]\n", r, err, piece1, piece2 ? piece2 : "");
    assert_int_equal(r, want);
    assert_null(m);
    assert_non_null(strstr(err, piece1));
    if (piece2 != NULL)
        assert_non_null(strstr(err, piece2));
}

static json_t *
yaml_ok(const char *yaml)
{
    json_t *docs = NULL;
    int r = manifest_yaml_to_json(yaml, strlen(yaml), &docs, err, sizeof(err));
    if (r != AUTHD_OK)
        print_error("unexpected error %d: %s\n", r, err);
    assert_int_equal(r, AUTHD_OK);
    assert_non_null(docs);
    return docs;
}

static void
yaml_err(const char *yaml, const char *piece)
{
    json_t *docs = (json_t *)1;
    err[0] = '\0';
    int r = manifest_yaml_to_json(yaml, strlen(yaml), &docs, err, sizeof(err));
    if (r == AUTHD_OK || strstr(err, piece) == NULL)
        print_error("r=%d err=[%s] want [%s]\n", r, err, piece);
    assert_int_equal(r, AUTHD_ERR_INVALID_ARGUMENT);
    assert_null(docs);
    assert_non_null(strstr(err, piece));
}

static const char full_auth_config[] = "# an Aidbox AuthConfig, as exported\n"
                                       "resourceType: AuthConfig\n"
                                       "id: app\n"
                                       "twoFactor:\n"
                                       "  issuerName: My Company\n"
                                       "  validPastTokensCount: 2\n"
                                       "  webhook:\n"
                                       "    endpoint: https://hooks.example.com/two-factor\n"
                                       "    headers:\n"
                                       "      Authorization: Bearer s3cr3t\n"
                                       "      X-Trace: \"1\"\n"
                                       "    timeout: 5000\n"
                                       "theme:\n"
                                       "  styleUrl: https://cdn.example.com/auth.css\n"
                                       "  title: Sign in to My Company\n"
                                       "  brand: ACME\n"
                                       "  forgotPasswordUrl: https://example.com/forgot\n"
                                       "asidCookieMaxAge: 86400\n"
                                       "# an extension beyond Aidbox: brute-force lockout\n"
                                       "lockout:\n"
                                       "  password:\n"
                                       "    account:\n"
                                       "      freeFailures: 3\n"
                                       "      firstWait: 60\n"
                                       "    address:\n"
                                       "      window: 7200\n"
                                       "  delivery:\n"
                                       "    account:\n"
                                       "      maxWait: 7200\n"
                                       "      window: 7200\n";

static void
check_full_auth_config(const Authd__V1__AuthConfig *c)
{
    assert_string_equal(c->id, "app");
    assert_non_null(c->two_factor);
    assert_string_equal(c->two_factor->issuer_name, "My Company");
    assert_int_equal(c->two_factor->valid_past_tokens_count, 2);
    assert_non_null(c->two_factor->webhook);
    const Authd__V1__Webhook *w = c->two_factor->webhook;
    assert_string_equal(w->endpoint, "https://hooks.example.com/two-factor");
    assert_int_equal(w->timeout, 5000);
    assert_int_equal(w->n_headers, 2);
    assert_string_equal(w->headers[0]->key, "Authorization");
    assert_string_equal(w->headers[0]->value, "Bearer s3cr3t");
    assert_string_equal(w->headers[1]->key, "X-Trace");
    assert_string_equal(w->headers[1]->value, "1");
    assert_non_null(c->theme);
    assert_string_equal(c->theme->style_url, "https://cdn.example.com/auth.css");
    assert_string_equal(c->theme->title, "Sign in to My Company");
    assert_string_equal(c->theme->brand, "ACME");
    assert_string_equal(c->theme->forgot_password_url, "https://example.com/forgot");
    assert_int_equal(c->asid_cookie_max_age, 86400);
    /* lockout: what was given, the rest left 0 (authd's defaults) */
    const Authd__V1__LockoutConfig *l = c->lockout;
    assert_non_null(l);
    assert_non_null(l->password);
    assert_non_null(l->password->account);
    assert_int_equal(l->password->account->free_failures, 3);
    assert_int_equal(l->password->account->first_wait, 60);
    assert_int_equal(l->password->account->max_wait, 0);
    assert_int_equal(l->password->account->window, 0);
    assert_non_null(l->password->address);
    assert_int_equal(l->password->address->window, 7200);
    assert_int_equal(l->password->address->free_failures, 0);
    assert_null(l->second_factor);
    assert_null(l->mail);
    assert_non_null(l->delivery);
    assert_non_null(l->delivery->account);
    assert_null(l->delivery->address);
    assert_int_equal(l->delivery->account->max_wait, 7200);
    assert_int_equal(l->delivery->account->window, 7200);
}

static void
test_full_auth_config(void **state)
{
    (void)state;
    struct manifest *m = parse_ok(full_auth_config);
    assert_int_equal(m->n, 1);
    assert_int_equal(m->items[0].kind, MANIFEST_AUTH_CONFIG);
    assert_string_equal(m->items[0].name, "AuthConfig/app");
    assert_null(m->items[0].user);
    check_full_auth_config(m->items[0].auth_config);
    /* The message packs (it is a valid protobuf-c message). */
    assert_true(protobuf_c_message_get_packed_size(&m->items[0].auth_config->base) > 0);
    manifest_free(m);
}

static void
test_minimal_auth_config(void **state)
{
    (void)state;
    struct manifest *m = parse_ok("resourceType: AuthConfig\nid: app\ntheme:\n  title: x\n");
    const Authd__V1__AuthConfig *c = m->items[0].auth_config;
    assert_null(c->two_factor);
    assert_non_null(c->theme);
    assert_string_equal(c->theme->title, "x");
    assert_string_equal(c->theme->brand, "");
    assert_int_equal(c->asid_cookie_max_age, 0);
    manifest_free(m);
}

/* twoFactor.transports: a list of names in, the same list out (export), a non-list refused. */
static void
test_auth_config_transports(void **state)
{
    (void)state;
    struct manifest *m =
        parse_ok("resourceType: AuthConfig\nid: app\ntwoFactor:\n  transports: [sms, voice]\n");
    const Authd__V1__AuthConfig *c = m->items[0].auth_config;
    assert_non_null(c->two_factor);
    assert_int_equal(c->two_factor->n_transports, 2);
    assert_string_equal(c->two_factor->transports[0], "sms");
    assert_string_equal(c->two_factor->transports[1], "voice");
    json_t *j = manifest_auth_config_to_json(c);
    json_t *t = json_object_get(json_object_get(j, "twoFactor"), "transports");
    assert_int_equal(json_array_size(t), 2);
    assert_string_equal(json_string_value(json_array_get(t, 1)), "voice");
    json_decref(j);
    manifest_free(m);

    struct manifest *bad = NULL;
    const char *y = "resourceType: AuthConfig\nid: app\ntwoFactor:\n  transports: 7\n";
    assert_int_not_equal(manifest_parse(y, strlen(y), &bad, err, sizeof(err)), AUTHD_OK);
    assert_non_null(strstr(err, "twoFactor.transports"));
    manifest_free(bad);
}

/* webauthn: passkeys (AuthConfig.webauthn), read and printed back; passwordless is absent
 * (= on) unless given. */
static void
test_auth_config_webauthn(void **state)
{
    (void)state;
    struct manifest *m = parse_ok("resourceType: AuthConfig\nid: app\nwebauthn:\n"
                                  "  rpId: example.com\n  rpName: Example\n"
                                  "  origins: [https://login.example.com, https://example.com]\n"
                                  "  passwordless: false\n  userVerification: required\n"
                                  "  timeout: 120\n  reauthSeconds: 900\n");
    const Authd__V1__WebAuthnConfig *w = m->items[0].auth_config->webauthn;
    assert_non_null(w);
    assert_string_equal(w->rp_id, "example.com");
    assert_string_equal(w->rp_name, "Example");
    assert_int_equal(w->n_origins, 2);
    assert_string_equal(w->origins[1], "https://example.com");
    assert_non_null(w->passwordless);
    assert_false(w->passwordless->value);
    assert_string_equal(w->user_verification, "required");
    assert_int_equal(w->timeout, 120);
    assert_int_equal(w->reauth_seconds, 900);
    json_t *j = manifest_auth_config_to_json(m->items[0].auth_config);
    json_t *wj = json_object_get(j, "webauthn");
    assert_string_equal(json_string_value(json_object_get(wj, "rpId")), "example.com");
    assert_true(json_is_false(json_object_get(wj, "passwordless")));
    assert_int_equal(json_integer_value(json_object_get(wj, "reauthSeconds")), 900);
    json_decref(j);
    manifest_free(m);

    m = parse_ok("resourceType: AuthConfig\nid: app\nwebauthn:\n  rpId: localhost\n");
    assert_null(m->items[0].auth_config->webauthn->passwordless);
    manifest_free(m);

    struct manifest *bad = NULL;
    const char *y = "resourceType: AuthConfig\nid: app\nwebauthn:\n  rpID: x\n";
    assert_int_not_equal(manifest_parse(y, strlen(y), &bad, err, sizeof(err)), AUTHD_OK);
    assert_non_null(strstr(err, "webauthn.rpID"));
    manifest_free(bad);
}

static void
test_list_auth_config_and_user(void **state)
{
    (void)state;
    struct manifest *m = parse_ok("- resourceType: AuthConfig\n"
                                  "  id: app\n"
                                  "  asidCookieMaxAge: 3600\n"
                                  "- resourceType: User\n"
                                  "  id: alice\n"
                                  "  email: \" Alice@Example.COM \"\n"
                                  "  password: 'correct horse battery'\n"
                                  "  inactive: true\n"
                                  "- resourceType: User\n"
                                  "  email: bob@example.com\n");
    assert_int_equal(m->n, 3);
    assert_int_equal(m->items[0].kind, MANIFEST_AUTH_CONFIG);
    assert_int_equal(m->items[0].auth_config->asid_cookie_max_age, 3600);

    assert_int_equal(m->items[1].kind, MANIFEST_USER);
    assert_string_equal(m->items[1].name, "User/alice");
    const Authd__V1__CreateUserRequest *u = m->items[1].user;
    assert_string_equal(u->id, "alice");
    assert_string_equal(u->email, "alice@example.com"); /* normalised */
    assert_string_equal(u->password, "correct horse battery");
    assert_true(u->inactive);
    assert_int_equal(m->items[1].inactive_set, 1);

    assert_string_equal(m->items[2].name, "User/bob@example.com");
    u = m->items[2].user;
    assert_string_equal(u->id, "");
    assert_string_equal(u->password, "");
    assert_false(u->inactive);
    assert_int_equal(m->items[2].inactive_set, 0);
    manifest_free(m);
}

/* Aidbox's User.twoFactor: each field becomes a presence field of the Users.Update request,
 * absent ones stay NULL; unknown fields and wrong types are refused with their path. */
static void
test_user_two_factor(void **state)
{
    (void)state;
    struct manifest *m = parse_ok("- resourceType: User\n"
                                  "  email: a@example.com\n"
                                  "  twoFactor: {enabled: false, transport: sms}\n"
                                  "- resourceType: User\n"
                                  "  email: b@example.com\n"
                                  "  twoFactor: {transport: ''}\n"
                                  "- resourceType: User\n"
                                  "  email: c@example.com\n");
    assert_int_equal(m->n, 3);
    const Authd__V1__UpdateUserRequest *t = m->items[0].user_update;
    assert_non_null(t);
    assert_non_null(t->two_factor_enabled);
    assert_false(t->two_factor_enabled->value);
    assert_non_null(t->two_factor_transport);
    assert_string_equal(t->two_factor_transport->value, "sms");
    t = m->items[1].user_update;
    assert_null(t->two_factor_enabled);
    assert_non_null(t->two_factor_transport);
    assert_string_equal(t->two_factor_transport->value, "");
    t = m->items[2].user_update;
    assert_null(t->two_factor_enabled);
    assert_null(t->two_factor_transport);
    manifest_free(m);

    parse_err("- resourceType: User\n  email: a@example.com\n  twoFactor: {secret: x}\n",
              AUTHD_ERR_INVALID_ARGUMENT, "User/a@example.com", "twoFactor.secret");
    parse_err("- resourceType: User\n  email: a@example.com\n  twoFactor: {enabled: 'no'}\n",
              AUTHD_ERR_INVALID_ARGUMENT, "twoFactor.enabled", "true or false");
    parse_err("- resourceType: User\n  email: a@example.com\n  twoFactor: {transport: 5}\n",
              AUTHD_ERR_INVALID_ARGUMENT, "twoFactor.transport", "string");
    parse_err("- resourceType: User\n  email: a@example.com\n  twoFactor: true\n",
              AUTHD_ERR_INVALID_ARGUMENT, "twoFactor", "mapping");
}

static void
test_multi_document(void **state)
{
    (void)state;
    struct manifest *m = parse_ok("---\n"
                                  "resourceType: AuthConfig\n"
                                  "id: app\n"
                                  "---\n"
                                  "- resourceType: User\n"
                                  "  id: u1\n"
                                  "  email: u1@example.com\n"
                                  "- resourceType: User\n"
                                  "  id: u2\n"
                                  "  email: u2@example.com\n"
                                  "  inactive: false\n"
                                  "---\n"
                                  "# an empty document is skipped\n"
                                  "...\n"
                                  "---\n"
                                  "{\"resourceType\": \"User\", \"id\": \"u3\", "
                                  "\"email\": \"u3@example.com\"}\n");
    assert_int_equal(m->n, 4);
    assert_string_equal(m->items[0].name, "AuthConfig/app");
    assert_string_equal(m->items[1].name, "User/u1");
    assert_string_equal(m->items[2].name, "User/u2");
    assert_int_equal(m->items[2].inactive_set, 1);
    assert_false(m->items[2].user->inactive);
    assert_string_equal(m->items[3].name, "User/u3");
    manifest_free(m);
}

static void
test_unknown_resource_type(void **state)
{
    (void)state;
    /* One unknown resource refuses the whole manifest: nothing else is returned. */
    parse_err("- resourceType: AuthConfig\n  id: app\n"
              "- resourceType: Clinet\n  id: web\n  secret: x\n",
              AUTHD_ERR_INVALID_ARGUMENT, "unknown resourceType 'Clinet'", "document 1, item 2");
    parse_err("resourceType: client\nid: web\n", AUTHD_ERR_INVALID_ARGUMENT,
              "unknown resourceType 'client'", "supported: AuthConfig, User, Client");
    parse_err("resourceType: 42\n", AUTHD_ERR_INVALID_ARGUMENT, "resourceType must be a string",
              NULL);
    parse_err("id: app\n", AUTHD_ERR_INVALID_ARGUMENT, "missing resourceType", NULL);
    parse_err("- just a string\n", AUTHD_ERR_INVALID_ARGUMENT, "expected a resource", NULL);
    parse_err("42\n", AUTHD_ERR_INVALID_ARGUMENT, "document 1: expected a resource", NULL);
}

static void
test_unknown_field(void **state)
{
    (void)state;
    parse_err("resourceType: User\nid: alice\nemial: a@example.com\n", AUTHD_ERR_INVALID_ARGUMENT,
              "User/alice: unknown field 'emial'", "known: id, email");
    parse_err("resourceType: AuthConfig\nid: app\ntwoFactor:\n  webhook:\n    endpont: x\n",
              AUTHD_ERR_INVALID_ARGUMENT,
              "AuthConfig/app: unknown field 'twoFactor.webhook.endpont'", NULL);
    parse_err("resourceType: AuthConfig\nid: app\ntheme:\n  colour: red\n",
              AUTHD_ERR_INVALID_ARGUMENT, "unknown field 'theme.colour'", NULL);
    parse_err("resourceType: AuthConfig\nid: app\nasidCookieMaxAgee: 1\n",
              AUTHD_ERR_INVALID_ARGUMENT, "unknown field 'asidCookieMaxAgee'", NULL);
    parse_err("resourceType: AuthConfig\nid: app\nlockout:\n  passwords:\n    account: {}\n",
              AUTHD_ERR_INVALID_ARGUMENT, "unknown field 'lockout.passwords'", NULL);
    parse_err(
        "resourceType: AuthConfig\nid: app\nlockout:\n  mail:\n    acount:\n      window: 9\n",
        AUTHD_ERR_INVALID_ARGUMENT, "unknown field 'lockout.mail.acount'", NULL);
    parse_err("resourceType: AuthConfig\nid: app\nlockout:\n  mail:\n    account:\n"
              "      firstwait: 9\n",
              AUTHD_ERR_INVALID_ARGUMENT, "unknown field 'lockout.mail.account.firstwait'", NULL);
}

static void
test_wrong_types(void **state)
{
    (void)state;
    parse_err("resourceType: AuthConfig\nid: app\nasidCookieMaxAge: \"86400\"\n",
              AUTHD_ERR_INVALID_ARGUMENT, "'asidCookieMaxAge' must be an integer, not a string",
              NULL);
    /* A lockout number given is a positive integer: 0 would silently mean the default. */
    parse_err("resourceType: AuthConfig\nid: app\nlockout:\n  secondFactor:\n    address:\n"
              "      window: 0\n",
              AUTHD_ERR_INVALID_ARGUMENT, "'lockout.secondFactor.address.window' must be between 1",
              NULL);
    parse_err("resourceType: AuthConfig\nid: app\nlockout:\n  password:\n    account:\n"
              "      firstWait: 1m\n",
              AUTHD_ERR_INVALID_ARGUMENT, "'lockout.password.account.firstWait' must be an integer",
              NULL);
    parse_err("resourceType: AuthConfig\nid: app\nlockout: 5\n", AUTHD_ERR_INVALID_ARGUMENT,
              "'lockout'", NULL);
    parse_err("resourceType: AuthConfig\nid: app\ntwoFactor:\n  validPastTokensCount: 1.5\n",
              AUTHD_ERR_INVALID_ARGUMENT, "'twoFactor.validPastTokensCount' must be an integer",
              "decimal");
    parse_err("resourceType: AuthConfig\nid: app\ntwoFactor:\n  validPastTokensCount: -1\n",
              AUTHD_ERR_INVALID_ARGUMENT, "'twoFactor.validPastTokensCount' must be between 0",
              NULL);
    parse_err("resourceType: AuthConfig\nid: app\ntwoFactor:\n  webhook:\n    timeout: 1e3\n",
              AUTHD_ERR_INVALID_ARGUMENT, "'twoFactor.webhook.timeout' must be an integer", NULL);
    parse_err("resourceType: AuthConfig\nid: app\ntwoFactor: on\n", AUTHD_ERR_INVALID_ARGUMENT,
              "'twoFactor' must be a mapping, not a string", NULL);
    parse_err("resourceType: AuthConfig\nid: 7\n", AUTHD_ERR_INVALID_ARGUMENT,
              "'id' must be a string, not an integer", NULL);
    parse_err("resourceType: AuthConfig\nid: app\ntwoFactor:\n  webhook:\n    headers:\n"
              "      X-Num: 5\n",
              AUTHD_ERR_INVALID_ARGUMENT, "'twoFactor.webhook.headers.X-Num' must be a string",
              NULL);
    parse_err("resourceType: AuthConfig\nid: app\ntwoFactor:\n  webhook:\n    headers: [a]\n",
              AUTHD_ERR_INVALID_ARGUMENT, "'twoFactor.webhook.headers' must be a mapping", NULL);
    parse_err("resourceType: User\nid: a\nemail: a@example.com\ninactive: \"true\"\n",
              AUTHD_ERR_INVALID_ARGUMENT, "'inactive' must be true or false, not a string", NULL);
    parse_err("resourceType: User\nid: a\nemail: a@example.com\ninactive: yes\n",
              AUTHD_ERR_INVALID_ARGUMENT, "'inactive' must be true or false", NULL);
    /* 0-prefixed numbers are octal in YAML 1.1: not guessed, reported */
    parse_err("resourceType: AuthConfig\nid: app\nasidCookieMaxAge: 0755\n",
              AUTHD_ERR_INVALID_ARGUMENT, "must be an integer, not a string", NULL);
}

static void
test_user_checks(void **state)
{
    (void)state;
    parse_err("resourceType: User\nid: alice\n", AUTHD_ERR_INVALID_ARGUMENT,
              "User/alice: missing required field 'email'", NULL);
    parse_err("resourceType: User\nid: alice\nemail: not-an-address\n", AUTHD_ERR_INVALID_ARGUMENT,
              "'not-an-address' is not a valid e-mail address", NULL);
    parse_err("resourceType: User\nid: alice\nemail: a@example.com\npassword: ''\n",
              AUTHD_ERR_INVALID_ARGUMENT, "'password' must not be empty", NULL);
    parse_err("resourceType: User\nid: ''\nemail: a@example.com\n", AUTHD_ERR_INVALID_ARGUMENT,
              "'id' must not be empty", NULL);
    parse_err("resourceType: User\nid: a\nemail: a@example.com\npassword: 12345678\n",
              AUTHD_ERR_INVALID_ARGUMENT, "'password' must be a string, not an integer", NULL);
}

static void
test_alias_refused(void **state)
{
    (void)state;
    yaml_err("a: &x 1\nb: *x\n", "aliases (*x) are not supported");
    yaml_err("base: &b {k: v}\nother:\n  <<: *b\n", "alias");
    /* the classic expansion bomb is refused at the first alias */
    yaml_err("a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n", "alias");
    parse_err("- &u\n  resourceType: User\n  email: a@example.com\n- *u\n",
              AUTHD_ERR_INVALID_ARGUMENT, "line 4", "alias");
}

static void
test_depth_and_size_limits(void **state)
{
    (void)state;
    char yaml[256];
    /* 32 nested lists are fine, 33 are not */
    memset(yaml, '[', 32);
    memset(yaml + 32, ']', 32);
    yaml[64] = '\0';
    json_t *docs = yaml_ok(yaml);
    json_decref(docs);
    memset(yaml, '[', 33);
    memset(yaml + 33, ']', 33);
    yaml[66] = '\0';
    yaml_err(yaml, "nesting deeper than 32 levels");

    /* 10,000 nodes at most: a list of 10,000 scalars is 10,001 */
    size_t cap = 10001 * 4 + 16, o = 0;
    char *big = malloc(cap);
    assert_non_null(big);
    for (int i = 0; i < 9999; i++)
        o += (size_t)snprintf(big + o, cap - o, "- 1\n");
    docs = yaml_ok(big);
    json_decref(docs);
    o += (size_t)snprintf(big + o, cap - o, "- 1\n");
    yaml_err(big, "more than 10000 nodes");
    free(big);

    /* over 1 MiB is refused unparsed */
    size_t n = MANIFEST_MAX_BYTES + 1;
    char *huge = malloc(n + 1);
    assert_non_null(huge);
    memset(huge, '#', n);
    huge[n] = '\0';
    struct manifest *m = (struct manifest *)1;
    assert_int_equal(manifest_parse(huge, n, &m, err, sizeof(err)), AUTHD_ERR_TOO_LARGE);
    assert_null(m);
    assert_non_null(strstr(err, "larger than"));
    free(huge);
}

static void
test_invalid_yaml(void **state)
{
    (void)state;
    yaml_err("a: [1, 2\n", "line ");
    yaml_err("a: [1, 2\n", "invalid YAML");
    yaml_err("resourceType: User\n  email: x\n", "invalid YAML");
    yaml_err("a: \"unterminated\n", "invalid YAML");
    yaml_err("a: 1\na: 2\n", "line 2, column 1: duplicate key 'a'");
    yaml_err("? [complex, key]\n: v\n", "mapping keys must be plain strings");
    yaml_err("a: \"x\\0y\"\n", "NUL character");
    yaml_err("a: !!int 5\n", "unsupported tag");
    yaml_err("a: !custom x\n", "unsupported tag");
    yaml_err("a: 99999999999999999999\n", "out of range");
    yaml_err("\t- x\n", "invalid YAML");
    parse_err("", AUTHD_ERR_INVALID_ARGUMENT, "no resources", NULL);
    parse_err("# only a comment\n", AUTHD_ERR_INVALID_ARGUMENT, "no resources", NULL);
    parse_err("[]\n", AUTHD_ERR_INVALID_ARGUMENT, "no resources", NULL);
}

static void
test_scalar_types(void **state)
{
    (void)state;
    json_t *docs = yaml_ok("t: true\nT: True\nf: false\nqt: 'true'\n"
                           "i: 42\nneg: -7\nqi: \"42\"\noct: 007\n"
                           "n1: ~\nn2: null\nn3:\nr: 1.5e3\ns: hello world\n"
                           "lit: |\n  line1\n  line2\nst: !!str 12\n"
                           "flow: {a: 1, b: [x, y]}\n");
    assert_int_equal(json_array_size(docs), 1);
    json_t *d = json_array_get(docs, 0);
    assert_true(json_is_true(json_object_get(d, "t")));
    assert_true(json_is_true(json_object_get(d, "T")));
    assert_true(json_is_false(json_object_get(d, "f")));
    assert_string_equal(json_string_value(json_object_get(d, "qt")), "true");
    assert_int_equal(json_integer_value(json_object_get(d, "i")), 42);
    assert_int_equal(json_integer_value(json_object_get(d, "neg")), -7);
    assert_string_equal(json_string_value(json_object_get(d, "qi")), "42");
    assert_string_equal(json_string_value(json_object_get(d, "oct")), "007");
    assert_true(json_is_null(json_object_get(d, "n1")));
    assert_true(json_is_null(json_object_get(d, "n2")));
    assert_true(json_is_null(json_object_get(d, "n3")));
    assert_true(json_is_real(json_object_get(d, "r")));
    assert_true(json_real_value(json_object_get(d, "r")) == 1500.0);
    assert_string_equal(json_string_value(json_object_get(d, "s")), "hello world");
    assert_string_equal(json_string_value(json_object_get(d, "lit")), "line1\nline2\n");
    assert_string_equal(json_string_value(json_object_get(d, "st")), "12");
    json_t *flow = json_object_get(d, "flow");
    assert_int_equal(json_integer_value(json_object_get(flow, "a")), 1);
    assert_int_equal(json_array_size(json_object_get(flow, "b")), 2);
    json_decref(docs);

    /* Two documents give two array elements; an empty one is null. */
    docs = yaml_ok("a: 1\n---\n---\n- b\n");
    assert_int_equal(json_array_size(docs), 3);
    assert_true(json_is_null(json_array_get(docs, 1)));
    assert_true(json_is_array(json_array_get(docs, 2)));
    json_decref(docs);
}

/* AuthConfig -> JSON -> YAML text -> parse again gives the same message. */
static void
test_round_trip_print(void **state)
{
    (void)state;
    struct manifest *m = parse_ok(full_auth_config);
    json_t *j = manifest_auth_config_to_json(m->items[0].auth_config);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "resourceType")), "AuthConfig");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_object_get(j, "twoFactor"), "webhook"), "timeout")),
                     5000);

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    assert_int_equal(manifest_print_yaml(f, j, 0), 0);
    fclose(f);
    assert_non_null(strstr(text, "resourceType: \"AuthConfig\"\n"));
    assert_non_null(strstr(text, "      X-Trace: \"1\"\n"));
    struct manifest *m2 = parse_ok(text);
    assert_int_equal(m2->n, 1);
    check_full_auth_config(m2->items[0].auth_config);
    free(text);
    json_decref(j);
    manifest_free(m2);
    manifest_free(m);

    /* Awkward strings print as double-quoted JSON and read back unchanged. */
    json_t *o = json_pack("{s:s, s:s, s:s, s:[s, i, b, n], s:{}}", "colon", "a: b # c", "quote",
                          "\"'\\\n\t", "yes", "yes", "list", "x", 1, 1, "empty");
    assert_non_null(o);
    f = open_memstream(&text, &len);
    assert_int_equal(manifest_print_yaml(f, o, 0), 0);
    fclose(f);
    json_t *back = yaml_ok(text);
    assert_true(json_equal(json_array_get(back, 0), o));
    free(text);
    json_decref(back);
    json_decref(o);
}

static void
test_user_to_json(void **state)
{
    (void)state;
    Authd__V1__TwoFactorStatus tf = AUTHD__V1__TWO_FACTOR_STATUS__INIT;
    Authd__V1__User u = AUTHD__V1__USER__INIT;
    u.id = "alice";
    u.email = "alice@example.com";
    u.inactive = 1;
    u.two_factor = &tf;
    tf.enabled = 1;
    u.created_at = 1700000000;
    json_t *j = manifest_user_to_json(&u);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "id")), "alice");
    assert_string_equal(json_string_value(json_object_get(j, "email")), "alice@example.com");
    assert_true(json_is_true(json_object_get(j, "inactive")));
    assert_true(json_is_true(json_object_get(json_object_get(j, "twoFactor"), "enabled")));
    assert_string_equal(json_string_value(json_object_get(j, "createdAt")), "2023-11-14T22:13:20Z");
    assert_null(json_object_get(j, "updatedAt"));
    assert_null(json_object_get(j, "password"));
    json_decref(j);
}

static void
test_read(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    static char src[] = "resourceType: AuthConfig\nid: app\n";
    FILE *f = fmemopen(src, strlen(src), "r");
    assert_non_null(f);
    assert_int_equal(manifest_read(f, &text, &len, err, sizeof(err)), AUTHD_OK);
    fclose(f);
    assert_int_equal(len, strlen(src));
    assert_string_equal(text, src);
    free(text);

    /* exactly the limit is fine, one byte more is not */
    size_t n = MANIFEST_MAX_BYTES + 1;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, '#', n);
    f = fmemopen(big, n - 1, "r");
    assert_int_equal(manifest_read(f, &text, &len, err, sizeof(err)), AUTHD_OK);
    assert_int_equal(len, MANIFEST_MAX_BYTES);
    assert_int_equal(text[len], '\0');
    free(text);
    fclose(f);
    f = fmemopen(big, n, "r");
    assert_int_equal(manifest_read(f, &text, &len, err, sizeof(err)), AUTHD_ERR_TOO_LARGE);
    assert_null(text);
    fclose(f);
    free(big);
}

static void
test_direct_mapping(void **state)
{
    (void)state;
    Authd__V1__CreateUserRequest *u = NULL;
    int set = -1;
    json_t *j = json_pack("{s:s, s:s, s:b}", "resourceType", "User", "email", "X@Example.com",
                          "inactive", 0);
    assert_int_equal(manifest_user_from_json(j, &u, &set, err, sizeof(err)), AUTHD_OK);
    assert_string_equal(u->email, "x@example.com");
    assert_int_equal(set, 1);
    manifest_msg_free(&u->base);
    json_decref(j);

    Authd__V1__AuthConfig *c = NULL;
    j = json_pack("{s:s, s:s, s:i}", "resourceType", "AuthConfig", "id", "app", "bogus", 1);
    assert_int_equal(manifest_auth_config_from_json(j, &c, err, sizeof(err)),
                     AUTHD_ERR_INVALID_ARGUMENT);
    assert_null(c);
    assert_non_null(strstr(err, "AuthConfig/app: unknown field 'bogus'"));
    json_decref(j);
    manifest_msg_free(NULL);
    manifest_free(NULL);
}

/* ---- Client --------------------------------------------------------------------------- */

/* Aidbox's demo manifest, as Aidbox's documentation gives it (deploy/aidbox-demo.yaml). */
static const char aidbox_demo[] = "- resourceType: Client\n"
                                  "  id: web\n"
                                  "  auth:\n"
                                  "    implicit:\n"
                                  "      redirect_uri: http://localhost:8080/callback\n"
                                  "  first_party: true\n"
                                  "  grant_types: [implicit]\n"
                                  "- resourceType: AuthConfig\n"
                                  "  id: app\n"
                                  "  twoFactor:\n"
                                  "    issuerName: My auth\n"
                                  "    validPastTokensCount: 2\n"
                                  "    webhook:\n"
                                  "      endpoint: http://localhost:3000/sms\n"
                                  "      headers: {Authorization: Bearer secret}\n"
                                  "      timeout: 5000\n";

static void
test_aidbox_demo_manifest(void **state)
{
    (void)state;
    struct manifest *m = parse_ok(aidbox_demo);
    assert_int_equal(m->n, 2);

    assert_int_equal(m->items[0].kind, MANIFEST_CLIENT);
    assert_string_equal(m->items[0].name, "Client/web");
    assert_null(m->items[0].auth_config);
    assert_null(m->items[0].user);
    const Authd__V1__Client *c = m->items[0].client;
    assert_non_null(c);
    assert_string_equal(c->id, "web");
    assert_string_equal(c->secret, ""); /* a public client */
    assert_true(c->first_party);
    assert_int_equal(c->n_grant_types, 1);
    assert_string_equal(c->grant_types[0], "implicit");
    assert_int_equal(c->n_scope, 0);
    assert_null(c->active); /* absent: authd reads it as active */
    assert_non_null(c->auth);
    assert_non_null(c->auth->implicit);
    assert_string_equal(c->auth->implicit->redirect_uri, "http://localhost:8080/callback");
    assert_false(c->auth->implicit->pkce);
    assert_null(c->auth->authorization_code);
    assert_null(c->auth->password);
    assert_null(c->auth->client_credentials);
    assert_true(protobuf_c_message_get_packed_size(&c->base) > 0);

    assert_int_equal(m->items[1].kind, MANIFEST_AUTH_CONFIG);
    assert_string_equal(m->items[1].name, "AuthConfig/app");
    const Authd__V1__AuthConfig *ac = m->items[1].auth_config;
    assert_string_equal(ac->two_factor->issuer_name, "My auth");
    assert_int_equal(ac->two_factor->valid_past_tokens_count, 2);
    assert_string_equal(ac->two_factor->webhook->endpoint, "http://localhost:3000/sms");
    assert_int_equal(ac->two_factor->webhook->n_headers, 1);
    assert_string_equal(ac->two_factor->webhook->headers[0]->key, "Authorization");
    assert_string_equal(ac->two_factor->webhook->headers[0]->value, "Bearer secret");
    assert_int_equal(ac->two_factor->webhook->timeout, 5000);
    manifest_free(m);
}

static const char full_client[] =
    "resourceType: Client\n"
    "id: full\n"
    "secret: s3cret-value-1\n"
    "first_party: false\n"
    "grant_types: [authorization_code, implicit, password, client_credentials, refresh_token]\n"
    "scope: [openid, profile, email]\n"
    "active: false\n"
    "post_logout_redirect_uris: [https://app.example/bye, https://app.example/bye?x=1]\n"
    "auth:\n"
    "  implicit:\n"
    "    redirect_uri: https://app.example/implicit\n"
    "    token_format: jwt\n"
    "    access_token_expiration: 60\n"
    "  authorization_code:\n"
    "    redirect_uri: https://app.example/callback\n"
    "    secret_required: true\n"
    "    pkce: true\n"
    "    token_format: jwt\n"
    "    access_token_expiration: 3600\n"
    "    refresh_token: true\n"
    "    refresh_token_expiration: 86400\n"
    "  password:\n"
    "    secret_required: true\n"
    "    token_format: opaque\n"
    "    access_token_expiration: 300\n"
    "    refresh_token: true\n"
    "    refresh_token_expiration: 7200\n"
    "  client_credentials:\n"
    "    redirect_uri: https://app.example/cc\n"
    "    secret_required: true\n"
    "    pkce: false\n"
    "    token_format: opaque\n"
    "    access_token_expiration: 120\n"
    "    refresh_token: false\n"
    "    refresh_token_expiration: 0\n";

static void
check_grant(const Authd__V1__GrantSettings *g, const char *redirect_uri, int secret_required,
            int pkce, const char *token_format, int64_t access_exp, int refresh,
            int64_t refresh_exp)
{
    assert_non_null(g);
    assert_string_equal(g->redirect_uri, redirect_uri);
    assert_int_equal(!!g->secret_required, secret_required);
    assert_int_equal(!!g->pkce, pkce);
    assert_string_equal(g->token_format, token_format);
    assert_int_equal(g->access_token_expiration, access_exp);
    assert_int_equal(!!g->refresh_token, refresh);
    assert_int_equal(g->refresh_token_expiration, refresh_exp);
}

static void
check_full_client(const Authd__V1__Client *c)
{
    static const char *const grants[] = {"authorization_code", "implicit", "password",
                                         "client_credentials", "refresh_token"};
    assert_string_equal(c->id, "full");
    assert_string_equal(c->secret, "s3cret-value-1");
    assert_false(c->first_party);
    assert_int_equal(c->n_grant_types, 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(c->grant_types[i], grants[i]);
    assert_int_equal(c->n_scope, 3);
    assert_string_equal(c->scope[0], "openid");
    assert_string_equal(c->scope[1], "profile");
    assert_string_equal(c->scope[2], "email");
    assert_int_equal(c->n_post_logout_redirect_uris, 2);
    assert_string_equal(c->post_logout_redirect_uris[0], "https://app.example/bye");
    assert_string_equal(c->post_logout_redirect_uris[1], "https://app.example/bye?x=1");
    assert_non_null(c->active);
    assert_false(c->active->value);
    assert_non_null(c->auth);
    check_grant(c->auth->implicit, "https://app.example/implicit", 0, 0, "jwt", 60, 0, 0);
    check_grant(c->auth->authorization_code, "https://app.example/callback", 1, 1, "jwt", 3600, 1,
                86400);
    check_grant(c->auth->password, "", 1, 0, "opaque", 300, 1, 7200);
    check_grant(c->auth->client_credentials, "https://app.example/cc", 1, 0, "opaque", 120, 0, 0);
    assert_false(c->has_secret); /* read-only: never taken from a manifest */
}

static void
test_client_all_fields(void **state)
{
    (void)state;
    struct manifest *m = parse_ok(full_client);
    assert_int_equal(m->n, 1);
    assert_int_equal(m->items[0].kind, MANIFEST_CLIENT);
    assert_string_equal(m->items[0].name, "Client/full");
    check_full_client(m->items[0].client);

    /* The message survives the wire as it is (what ClientAdmin.Put receives). */
    const Authd__V1__Client *c = m->items[0].client;
    size_t n = protobuf_c_message_get_packed_size(&c->base);
    uint8_t *buf = malloc(n);
    assert_non_null(buf);
    assert_int_equal(protobuf_c_message_pack(&c->base, buf), n);
    Authd__V1__Client *back = authd__v1__client__unpack(NULL, n, buf);
    assert_non_null(back);
    check_full_client(back);
    authd__v1__client__free_unpacked(back, NULL);
    free(buf);
    manifest_free(m);

    /* active: true is sent explicitly; null values count as absent. */
    m = parse_ok("resourceType: Client\nid: a\nactive: true\nsecret: ~\nauth:\n  implicit:\n"
                 "scope: null\n");
    c = m->items[0].client;
    assert_non_null(c->active);
    assert_true(c->active->value);
    assert_string_equal(c->secret, "");
    assert_non_null(c->auth);
    assert_null(c->auth->implicit);
    assert_int_equal(c->n_scope, 0);
    manifest_free(m);
}

static void
test_client_scope(void **state)
{
    (void)state;
    /* One string of space-separated words, as OAuth writes scopes. */
    struct manifest *m =
        parse_ok("resourceType: Client\nid: a\nscope: \"openid  profile\\temail \"\n");
    const Authd__V1__Client *c = m->items[0].client;
    assert_int_equal(c->n_scope, 3);
    assert_string_equal(c->scope[0], "openid");
    assert_string_equal(c->scope[1], "profile");
    assert_string_equal(c->scope[2], "email");
    manifest_free(m);

    m = parse_ok("resourceType: Client\nid: a\nscope: openid\n");
    c = m->items[0].client;
    assert_int_equal(c->n_scope, 1);
    assert_string_equal(c->scope[0], "openid");
    manifest_free(m);

    /* A list of strings, block or flow style. */
    m = parse_ok("resourceType: Client\nid: a\nscope:\n  - openid\n  - offline_access\n");
    c = m->items[0].client;
    assert_int_equal(c->n_scope, 2);
    assert_string_equal(c->scope[0], "openid");
    assert_string_equal(c->scope[1], "offline_access");
    manifest_free(m);

    m = parse_ok("resourceType: Client\nid: a\nscope: []\n");
    assert_int_equal(m->items[0].client->n_scope, 0);
    manifest_free(m);
    m = parse_ok("resourceType: Client\nid: a\nscope: '  '\n");
    assert_int_equal(m->items[0].client->n_scope, 0);
    manifest_free(m);
}

static void
test_client_unknown_fields(void **state)
{
    (void)state;
    parse_err("resourceType: Client\nid: web\nauth:\n  authorization_code:\n"
              "    redirect_uri: https://a.example/cb\n    pkce_required: true\n",
              AUTHD_ERR_INVALID_ARGUMENT,
              "Client/web: unknown field 'auth.authorization_code.pkce_required'",
              "known: redirect_uri, secret_required, pkce");
    /* camelCase is not Aidbox's spelling inside auth */
    parse_err("resourceType: Client\nid: web\nauth:\n  authorization_code:\n"
              "    redirectUri: https://a.example/cb\n",
              AUTHD_ERR_INVALID_ARGUMENT, "unknown field 'auth.authorization_code.redirectUri'",
              NULL);
    parse_err("resourceType: Client\nid: web\nauth:\n  password:\n    audience: x\n",
              AUTHD_ERR_INVALID_ARGUMENT, "unknown field 'auth.password.audience'", NULL);
    parse_err("resourceType: Client\nid: web\nauth:\n  device_code: {}\n",
              AUTHD_ERR_INVALID_ARGUMENT, "unknown field 'auth.device_code'",
              "known: implicit, authorization_code, password, client_credentials");
    parse_err("resourceType: Client\nid: web\ngrantTypes: [implicit]\n", AUTHD_ERR_INVALID_ARGUMENT,
              "Client/web: unknown field 'grantTypes'", NULL);
    /* has_secret is read-only: `authctl client get -o json` output is not a manifest */
    parse_err("resourceType: Client\nid: web\nhas_secret: true\n", AUTHD_ERR_INVALID_ARGUMENT,
              "unknown field 'has_secret'", NULL);
}

static void
test_client_wrong_types(void **state)
{
    (void)state;
    parse_err("resourceType: Client\nid: web\ngrant_types: implicit\n", AUTHD_ERR_INVALID_ARGUMENT,
              "'grant_types' must be a list of strings, not a string", NULL);
    parse_err("resourceType: Client\nid: web\ngrant_types: {implicit: true}\n",
              AUTHD_ERR_INVALID_ARGUMENT, "'grant_types' must be a list of strings, not a mapping",
              NULL);
    parse_err("resourceType: Client\nid: web\ngrant_types: [implicit, 7]\n",
              AUTHD_ERR_INVALID_ARGUMENT, "'grant_types[1]' must be a string, not an integer",
              NULL);
    parse_err("resourceType: Client\nid: web\nauth:\n  authorization_code:\n    pkce: \"true\"\n",
              AUTHD_ERR_INVALID_ARGUMENT,
              "'auth.authorization_code.pkce' must be true or false, not a string", NULL);
    parse_err("resourceType: Client\nid: web\nauth:\n  authorization_code:\n    pkce: yes\n",
              AUTHD_ERR_INVALID_ARGUMENT, "'auth.authorization_code.pkce' must be true or false",
              NULL);
    parse_err("resourceType: Client\nid: web\nauth:\n  password:\n    refresh_token: 1\n",
              AUTHD_ERR_INVALID_ARGUMENT,
              "'auth.password.refresh_token' must be true or false, not an integer", NULL);
    parse_err("resourceType: Client\nid: web\nauth:\n  implicit:\n"
              "    access_token_expiration: \"3600\"\n",
              AUTHD_ERR_INVALID_ARGUMENT,
              "'auth.implicit.access_token_expiration' must be an integer, not a string", NULL);
    parse_err("resourceType: Client\nid: web\nauth:\n  client_credentials:\n"
              "    refresh_token_expiration: -1\n",
              AUTHD_ERR_INVALID_ARGUMENT,
              "'auth.client_credentials.refresh_token_expiration' must be between 0", NULL);
    parse_err("resourceType: Client\nid: web\nauth:\n  implicit:\n    redirect_uri: 8080\n",
              AUTHD_ERR_INVALID_ARGUMENT,
              "'auth.implicit.redirect_uri' must be a string, not an integer", NULL);
    parse_err("resourceType: Client\nid: web\nauth:\n  implicit: http://x.example/cb\n",
              AUTHD_ERR_INVALID_ARGUMENT, "'auth.implicit' must be a mapping, not a string", NULL);
    parse_err("resourceType: Client\nid: web\nauth: [implicit]\n", AUTHD_ERR_INVALID_ARGUMENT,
              "'auth' must be a mapping, not a list", NULL);
    parse_err("resourceType: Client\nid: web\nscope: 42\n", AUTHD_ERR_INVALID_ARGUMENT,
              "'scope' must be a list of strings or a string of space-separated words, not an "
              "integer",
              NULL);
    parse_err("resourceType: Client\nid: web\nscope: [openid, {a: b}]\n",
              AUTHD_ERR_INVALID_ARGUMENT, "'scope[1]' must be a string, not a mapping", NULL);
    parse_err("resourceType: Client\nid: web\nactive: \"false\"\n", AUTHD_ERR_INVALID_ARGUMENT,
              "'active' must be true or false, not a string", NULL);
    parse_err("resourceType: Client\nid: web\nfirst_party: 1\n", AUTHD_ERR_INVALID_ARGUMENT,
              "'first_party' must be true or false, not an integer", NULL);
    parse_err("resourceType: Client\nid: web\nsecret: 12345678\n", AUTHD_ERR_INVALID_ARGUMENT,
              "'secret' must be a string, not an integer", NULL);
    /* id is required and not empty; an empty secret is a mistake, not "keep it" */
    parse_err("resourceType: Client\nfirst_party: true\n", AUTHD_ERR_INVALID_ARGUMENT,
              "Client: missing required field 'id'", NULL);
    parse_err("resourceType: Client\nid: ''\n", AUTHD_ERR_INVALID_ARGUMENT,
              "'id' must not be empty", NULL);
    parse_err("resourceType: Client\nid: web\nsecret: ''\n", AUTHD_ERR_INVALID_ARGUMENT,
              "Client/web: field 'secret' must not be empty", NULL);
    /* the error comes before anything is returned, also after valid resources */
    parse_err("- resourceType: Client\n  id: ok\n- resourceType: Client\n  id: bad\n"
              "  grant_types: password\n",
              AUTHD_ERR_INVALID_ARGUMENT, "Client/bad: field 'grant_types'", NULL);
}

static void
test_client_to_json(void **state)
{
    (void)state;
    struct manifest *m = parse_ok(full_client);
    Authd__V1__Client *c = m->items[0].client;

    /* Even a message that carries a secret is printed without it. */
    c->has_secret = 1;
    json_t *j = manifest_client_to_json(c);
    assert_non_null(j);
    char *text = json_dumps(j, JSON_COMPACT);
    assert_non_null(text);
    assert_null(strstr(text, "s3cret-value-1"));
    assert_null(json_object_get(j, "secret"));
    free(text);
    assert_string_equal(json_string_value(json_object_get(j, "resourceType")), "Client");
    assert_true(json_is_true(json_object_get(j, "has_secret")));
    assert_true(json_is_false(json_object_get(j, "active")));
    assert_int_equal(json_array_size(json_object_get(j, "grant_types")), 5);
    assert_int_equal(json_array_size(json_object_get(j, "scope")), 3);
    const json_t *ac = json_object_get(json_object_get(j, "auth"), "authorization_code");
    assert_string_equal(json_string_value(json_object_get(ac, "redirect_uri")),
                        "https://app.example/callback");
    assert_true(json_is_true(json_object_get(ac, "pkce")));
    assert_int_equal(json_integer_value(json_object_get(ac, "refresh_token_expiration")), 86400);

    /* Without has_secret it is a manifest again, and maps to the same client (minus secret). */
    assert_int_equal(json_object_del(j, "has_secret"), 0);
    Authd__V1__Client *back = NULL;
    assert_int_equal(manifest_client_from_json(j, &back, err, sizeof(err)), AUTHD_OK);
    assert_string_equal(back->secret, "");
    back->secret = (char *)protobuf_c_empty_string;
    char *keep = c->secret;
    c->secret = (char *)protobuf_c_empty_string;
    c->has_secret = 0;
    check_grant(back->auth->authorization_code, "https://app.example/callback", 1, 1, "jwt", 3600,
                1, 86400);
    size_t n1 = protobuf_c_message_get_packed_size(&c->base);
    size_t n2 = protobuf_c_message_get_packed_size(&back->base);
    assert_int_equal(n1, n2);
    uint8_t *b1 = malloc(n1), *b2 = malloc(n2);
    assert_non_null(b1);
    assert_non_null(b2);
    protobuf_c_message_pack(&c->base, b1);
    protobuf_c_message_pack(&back->base, b2);
    assert_memory_equal(b1, b2, n1);
    free(b1);
    free(b2);
    c->secret = keep;
    manifest_msg_free(&back->base);
    json_decref(j);
    manifest_free(m);

    /* A bare client: active (absent) reads as true, nothing empty is printed. */
    Authd__V1__Client bare = AUTHD__V1__CLIENT__INIT;
    bare.id = (char *)"bare";
    j = manifest_client_to_json(&bare);
    assert_non_null(j);
    assert_true(json_is_true(json_object_get(j, "active")));
    assert_true(json_is_false(json_object_get(j, "has_secret")));
    assert_null(json_object_get(j, "auth"));
    assert_null(json_object_get(j, "scope"));
    assert_null(json_object_get(j, "grant_types"));
    json_decref(j);

    /* The direct entry point refuses what is not a mapping. */
    j = json_string("Client");
    back = (Authd__V1__Client *)1;
    assert_int_equal(manifest_client_from_json(j, &back, err, sizeof(err)),
                     AUTHD_ERR_INVALID_ARGUMENT);
    assert_null(back);
    json_decref(j);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_auth_config),
        cmocka_unit_test(test_minimal_auth_config),
        cmocka_unit_test(test_auth_config_transports),
        cmocka_unit_test(test_auth_config_webauthn),
        cmocka_unit_test(test_list_auth_config_and_user),
        cmocka_unit_test(test_multi_document),
        cmocka_unit_test(test_user_two_factor),
        cmocka_unit_test(test_unknown_resource_type),
        cmocka_unit_test(test_unknown_field),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_user_checks),
        cmocka_unit_test(test_alias_refused),
        cmocka_unit_test(test_depth_and_size_limits),
        cmocka_unit_test(test_invalid_yaml),
        cmocka_unit_test(test_scalar_types),
        cmocka_unit_test(test_round_trip_print),
        cmocka_unit_test(test_user_to_json),
        cmocka_unit_test(test_read),
        cmocka_unit_test(test_direct_mapping),
        cmocka_unit_test(test_aidbox_demo_manifest),
        cmocka_unit_test(test_client_all_fields),
        cmocka_unit_test(test_client_scope),
        cmocka_unit_test(test_client_unknown_fields),
        cmocka_unit_test(test_client_wrong_types),
        cmocka_unit_test(test_client_to_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
