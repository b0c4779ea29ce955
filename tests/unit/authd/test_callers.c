/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for authd/callers.c and the method rows: every method of every service authd serves
 * has a row with roles (walked from the protobuf-c service descriptors, so a new method without
 * one fails here), key rows, role lists, the callers file (good, unknown role, unknown
 * key, duplicate identity, empty, and other malformed shapes), and the decision.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "authd/authd.h"
#include "authd/callers.h"
#include "common/err.h"
#include "authd/oauth.h"

/* ---- the method rows ------------------------------------------------------------------------ */

/* The roles of a method's row in the tables authd serves (authd_services), 0 without a row. */
static unsigned
method_roles(const char *service, const char *method)
{
    struct authd a;
    struct rpc_service svcs[32];
    memset(&a, 0, sizeof(a));
    size_t n = authd_services(&a, svcs, 32);
    for (size_t i = 0; service != NULL && method != NULL && i < n; i++) {
        if (strcmp(svcs[i].desc->name, service) != 0)
            continue;
        for (size_t m = 0; m < svcs[i].n_methods; m++)
            if (strcmp(svcs[i].methods[m].name, method) == 0)
                return svcs[i].methods[m].roles;
    }
    return 0;
}

/* Walked from the protobuf-c service descriptors, so that a new method without a row, or with a
 * row that names no role (refused to everyone), fails here. */
static void
test_every_served_method_has_roles(void **state)
{
    (void)state;
    struct authd a;
    struct rpc_service svcs[32];
    memset(&a, 0, sizeof(a));
    size_t n = authd_services(&a, svcs, 32);
    assert_true(n >= 9);
    for (size_t i = 0; i < n; i++) {
        const ProtobufCServiceDescriptor *d = svcs[i].desc;
        for (unsigned m = 0; m < d->n_methods; m++) {
            const struct rpc_method *row = NULL;
            for (size_t k = 0; k < svcs[i].n_methods && row == NULL; k++)
                if (strcmp(svcs[i].methods[k].name, d->methods[m].name) == 0)
                    row = &svcs[i].methods[k];
            if (row == NULL)
                fail_msg("%s/%s has no row", d->name, d->methods[m].name);
            if (row->roles == 0)
                fail_msg("%s/%s allows no role", d->name, d->methods[m].name);
            assert_int_equal(row->roles & ~(ROLE_ALL | ROLE_OPEN), 0);
        }
        /* And no row names a method of another descriptor (rpc_server_start refuses that). */
        for (size_t k = 0; k < svcs[i].n_methods; k++)
            if (protobuf_c_service_descriptor_get_method_by_name(d, svcs[i].methods[k].name) ==
                NULL)
                fail_msg("row %s/%s names no method", d->name, svcs[i].methods[k].name);
    }
}

static void
test_key_rows(void **state)
{
    (void)state;
    assert_int_equal(method_roles("authd.v1.TwoFactor", "IssueDeliveryCode"), ROLE_EDGE);
    assert_int_equal(method_roles("authd.v1.Users", "Create"), ROLE_ADMIN);
    assert_int_equal(method_roles("authd.v1.Users", "Get"), ROLE_ADMIN | ROLE_SERVICE);
    assert_int_equal(method_roles("authd.v1.ClientAdmin", "Put"), ROLE_ADMIN);
    assert_int_equal(method_roles("authd.v1.ClientAdmin", "RotateKeys"), ROLE_ADMIN);
    assert_int_equal(method_roles("authd.v1.Admin", "PutAuthConfig"), ROLE_ADMIN);
    assert_int_equal(method_roles("authd.v1.Admin", "GetAuthConfig"), ROLE_EDGE | ROLE_ADMIN);
    assert_int_equal(method_roles("authd.v1.Sessions", "Login"), ROLE_EDGE);
    assert_int_equal(method_roles("authd.v1.Sessions", "Get"), ROLE_EDGE | ROLE_SERVICE);
    assert_int_equal(method_roles("authd.v1.OAuth", "Introspect"), ROLE_EDGE | ROLE_SERVICE);
    assert_int_equal(method_roles("authd.v1.OAuth", "Token"), ROLE_EDGE);
    assert_int_equal(method_roles("authd.v1.OAuth", "Jwks"), ROLE_ALL);
    assert_int_equal(method_roles("grpc.health.v1.Health", "Check"), ROLE_OPEN);
    assert_int_equal(method_roles("grpc.health.v1.Health", "Watch"), ROLE_OPEN);
    /* Unknown: refused to everyone. Names are exact. */
    assert_int_equal(method_roles("authd.v1.Users", "Nope"), 0);
    assert_int_equal(method_roles("authd.v1.users", "Create"), 0);
    assert_int_equal(method_roles("Users", "Create"), 0);
    assert_int_equal(method_roles("grpc.health.v1.Health", "List"), 0);
    assert_int_equal(method_roles(NULL, "Create"), 0);
}

static void
test_roles_lists(void **state)
{
    (void)state;
    unsigned r = 99;
    char text[CALLERS_ROLES_TEXT_MAX];
    assert_int_equal(callers_roles_parse("edge,admin", &r), AUTHD_OK);
    assert_int_equal(r, ROLE_EDGE | ROLE_ADMIN);
    assert_int_equal(callers_roles_parse(" service , edge ", &r), AUTHD_OK);
    assert_int_equal(r, ROLE_SERVICE | ROLE_EDGE);
    assert_int_equal(callers_roles_parse("none", &r), AUTHD_OK);
    assert_int_equal(r, 0);
    assert_int_equal(callers_roles_parse("", &r), AUTHD_OK);
    assert_int_equal(r, 0);
    assert_int_equal(callers_roles_parse("edge,admin,service", &r), AUTHD_OK);
    assert_int_equal(r, ROLE_ALL);
    assert_string_equal(callers_roles_text(r, text, sizeof(text)), "edge,admin,service");
    assert_string_equal(callers_roles_text(0, text, sizeof(text)), "none");
    assert_string_equal(callers_roles_text(ROLE_SERVICE, text, sizeof(text)), "service");
    const char *bad[] = {"root", "edge,,admin", "edge,",     ",edge",
                         "Edge", "none,edge",   "edge admin"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = 99;
        assert_int_equal(callers_roles_parse(bad[i], &r), AUTHD_ERR_INVALID_ARGUMENT);
        assert_int_equal(r, 0);
    }
    assert_int_equal(callers_role_parse("admin"), ROLE_ADMIN);
    assert_int_equal(callers_role_parse("administrator"), 0);
}

static void
test_scope_roles(void **state)
{
    (void)state;
    struct oauth_scopes s;
    assert_int_equal(oauth_scopes_parse("openid authd:service", &s), AUTHD_OK);
    assert_int_equal(callers_scope_roles(&s), ROLE_SERVICE);
    assert_int_equal(oauth_scopes_parse("authd:edge authd:admin", &s), AUTHD_OK);
    assert_int_equal(callers_scope_roles(&s), ROLE_EDGE | ROLE_ADMIN);
    assert_int_equal(oauth_scopes_parse("authd:root authd authd:edgey", &s), AUTHD_OK);
    assert_int_equal(callers_scope_roles(&s), 0);
    assert_int_equal(callers_scope_roles(NULL), 0);
}

/* ---- the callers file ----------------------------------------------------------------------- */

static const char good[] = "# who calls authd\n"
                           "callers:\n"
                           "  - identity: spiffe://authd.dev/edge\n"
                           "    roles: [edge]\n"
                           "  - identity: \"spiffe://authd.dev/ops\"\n"
                           "    roles:\n"
                           "      - admin\n"
                           "      - service\n"
                           "  - {identity: dns:billing.internal, roles: [service]}\n"
                           "  - identity: cn:legacy-batch\n"
                           "    roles: [service]\n";

static struct callers *
loaded(const char *text, char *err, size_t errlen, int *rc)
{
    struct callers *c = NULL;
    assert_int_equal(callers_new(NULL, 0, &c), AUTHD_OK);
    *rc = callers_load(c, "callers.yaml", text, strlen(text), err, errlen);
    return c;
}

static void
test_load_good(void **state)
{
    (void)state;
    char err[256];
    int rc;
    struct callers *c = loaded(good, err, sizeof(err), &rc);
    assert_int_equal(rc, AUTHD_OK);
    assert_string_equal(err, "");
    assert_int_equal(callers_count(c), 4);
    /* Identities are typed: a value with "://" is a URI SAN, the others say their type. */
    assert_int_equal(callers_identity_roles(c, "uri:spiffe://authd.dev/edge"), ROLE_EDGE);
    assert_int_equal(callers_identity_roles(c, "uri:spiffe://authd.dev/ops"),
                     ROLE_ADMIN | ROLE_SERVICE);
    assert_int_equal(callers_identity_roles(c, "dns:billing.internal"), ROLE_SERVICE);
    assert_int_equal(callers_identity_roles(c, "cn:legacy-batch"), ROLE_SERVICE);
    /* The same text as another type never matches. */
    assert_int_equal(callers_identity_roles(c, "spiffe://authd.dev/edge"), 0);
    assert_int_equal(callers_identity_roles(c, "cn:spiffe://authd.dev/edge"), 0);
    assert_int_equal(callers_identity_roles(c, "dns:spiffe://authd.dev/edge"), 0);
    assert_int_equal(callers_identity_roles(c, "email:spiffe://authd.dev/edge"), 0);
    assert_int_equal(callers_identity_roles(c, "uri:billing.internal"), 0);
    assert_int_equal(callers_identity_roles(c, "dns:legacy-batch"), 0);
    assert_int_equal(callers_identity_roles(c, "uri:spiffe://authd.dev/edge/"), 0);
    assert_int_equal(callers_identity_roles(c, "uri:SPIFFE://authd.dev/edge"), 0);
    assert_int_equal(callers_identity_roles(c, NULL), 0);
    assert_int_equal(callers_anonymous_roles(c), 0);
    /* A second file adds to the map, and may not repeat an identity. */
    const char more[] = "callers:\n  - identity: spiffe://authd.dev/x\n    roles: [admin]\n";
    assert_int_equal(callers_load(c, "more.yaml", more, strlen(more), err, sizeof(err)), AUTHD_OK);
    assert_int_equal(callers_count(c), 5);
    const char again[] = "callers:\n  - identity: dns:billing.internal\n    roles: [admin]\n";
    assert_int_equal(callers_load(c, "again.yaml", again, strlen(again), err, sizeof(err)),
                     AUTHD_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "again.yaml:2:"));
    assert_non_null(strstr(err, "already listed by an earlier callers file"));
    assert_int_equal(callers_count(c), 5);
    assert_int_equal(callers_identity_roles(c, "dns:billing.internal"), ROLE_SERVICE);
    /* "uri:" may be written out: the same identity as the bare URI. */
    const char uri[] = "callers:\n  - identity: uri:spiffe://authd.dev/x\n    roles: [edge]\n";
    assert_int_equal(callers_load(c, "uri.yaml", uri, strlen(uri), err, sizeof(err)),
                     AUTHD_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "already listed by an earlier callers file"));
    callers_free(c);
    /* An explicit empty list maps nobody and is fine. */
    c = loaded("callers: []\n", err, sizeof(err), &rc);
    assert_int_equal(rc, AUTHD_OK);
    assert_int_equal(callers_count(c), 0);
    callers_free(c);
    callers_free(NULL);
}

struct bad_case {
    const char *text;
    const char *want; /* in the message, after "callers.yaml:" */
};

static void
test_load_errors(void **state)
{
    (void)state;
    static const struct bad_case cases[] = {
        /* unknown role, on its line */
        {"callers:\n  - identity: dns:a\n    roles: [edge]\n  - identity: dns:b\n    roles: [edge, "
         "root]\n",
         "5: unknown role \"root\""},
        {"callers:\n  - identity: dns:a\n    roles:\n      - superuser\n", "4: unknown role"},
        /* unknown keys */
        {"callers:\n  - identity: dns:a\n    role: [edge]\n", "3: unknown key \"role\""},
        {"caller:\n  - identity: dns:a\n    roles: [edge]\n", "1: unknown key \"caller\""},
        {"callers:\n  - identity: dns:a\n    roles: [edge]\nextra: 1\n", "4: unknown key"},
        /* duplicate identity */
        {"callers:\n  - identity: spiffe://x/edge\n    roles: [edge]\n  - identity: "
         "spiffe://x/edge\n    roles: [admin]\n",
         "4: identity \"spiffe://x/edge\" is listed twice (first on line 2)"},
        /* empty */
        {"", "1: the file is empty"},
        {"# nothing here\n", "the file is empty"},
        {"---\n", "the file is empty"},
        {"{}\n", "no 'callers' list"},
        /* shapes */
        {"callers:\n", "callers must be a list"},
        {"callers: spiffe://x\n", "callers must be a list"},
        {"- identity: dns:a\n  roles: [edge]\n", "expected a mapping"},
        {"callers:\n  - spiffe://x/edge\n", "must be a mapping"},
        {"callers:\n  - identity: dns:a\n", "without roles"},
        {"callers:\n  - roles: [edge]\n", "without an identity"},
        {"callers:\n  - identity: dns:a\n    roles: []\n", "3: roles is empty"},
        {"callers:\n  - identity: dns:a\n    roles: edge\n", "3: roles must be a list"},
        {"callers:\n  - identity: dns:a\n    roles: [[edge]]\n", "a role must be a name"},
        {"callers:\n  - identity: \"\"\n    roles: [edge]\n", "2: identity must be"},
        {"callers:\n  - identity: a b\n    roles: [edge]\n", "identity must be"},
        {"callers:\n  - identity: [a]\n    roles: [edge]\n", "identity must be"},
        {"callers:\n  - identity: dns:a\n    identity: dns:b\n    roles: [edge]\n",
         "3: identity is given twice"},
        {"callers: []\ncallers: []\n", "2: callers is given twice"},
        {"callers:\n  - identity: &x dns:a\n    roles: [edge]\n  - identity: *x\n    roles: "
         "[admin]\n",
         "aliases are not allowed"},
        {"callers: []\n---\ncallers: []\n", "only one YAML document"},
        /* an identity without a type (a bare name could be a DNS name or a common name) */
        {"callers:\n  - identity: billing.internal\n    roles: [edge]\n",
         "2: identity \"billing.internal\" has no type"},
        {"callers:\n  - identity: \"dns:\"\n    roles: [edge]\n",
         "2: identity \"dns:\" has no type"},
        {"callers:\n  - identity: \"uri:\"\n    roles: [edge]\n", "has no type"},
        {"callers:\n  - identity: CN=edge\n    roles: [edge]\n", "has no type"},
        /* the same URI written bare and with "uri:" */
        {"callers:\n  - identity: spiffe://x/e\n    roles: [edge]\n  - identity: "
         "uri:spiffe://x/e\n    roles: [admin]\n",
         "4: identity \"uri:spiffe://x/e\" is listed twice (first on line 2)"},
        {"callers: [\n", "invalid YAML"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256] = "";
        int rc;
        struct callers *c = loaded(cases[i].text, err, sizeof(err), &rc);
        if (rc != AUTHD_ERR_INVALID_ARGUMENT)
            fail_msg("case %zu: rc %d for:\n%s", i, rc, cases[i].text);
        if (strncmp(err, "callers.yaml:", 13) != 0 || strstr(err, cases[i].want) == NULL)
            fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, err, cases[i].want);
        assert_int_equal(callers_count(c), 0);
        callers_free(c);
    }
    /* Too large. */
    char *big = malloc(CALLERS_MAX_BYTES + 2);
    assert_non_null(big);
    memset(big, '#', CALLERS_MAX_BYTES + 1);
    big[CALLERS_MAX_BYTES + 1] = '\0';
    char err[256];
    int rc;
    struct callers *c = loaded(big, err, sizeof(err), &rc);
    assert_int_equal(rc, AUTHD_ERR_TOO_LARGE);
    callers_free(c);
    free(big);
}

static void
test_load_file(void **state)
{
    (void)state;
    struct callers *c = NULL;
    char err[512];
    assert_int_equal(callers_new(NULL, 0, &c), AUTHD_OK);
    assert_int_equal(callers_load_file(c, "/nonexistent/callers.yaml", err, sizeof(err)),
                     AUTHD_ERR_NOT_FOUND);
    assert_non_null(strstr(err, "/nonexistent/callers.yaml"));
    /* The example the repository ships (deploy/callers.yaml) parses and maps the three
     * identities of deploy/dev-certs.sh. */
    char path[4096];
    const char *here = __FILE__;
    const char *cut = strstr(here, "tests/unit/authd/");
    assert_non_null(cut);
    snprintf(path, sizeof(path), "%.*sdeploy/callers.yaml", (int)(cut - here), here);
    if (callers_load_file(c, path, err, sizeof(err)) != AUTHD_OK)
        fail_msg("%s", err);
    assert_int_equal(callers_identity_roles(c, "uri:spiffe://authd.dev/edge"), ROLE_EDGE);
    assert_int_equal(callers_identity_roles(c, "uri:spiffe://authd.dev/authctl"), ROLE_ADMIN);
    assert_int_equal(callers_identity_roles(c, "uri:spiffe://authd.dev/service"), ROLE_SERVICE);
    assert_int_equal(callers_identity_roles(c, "cn:spiffe://authd.dev/authctl"), 0);
    callers_free(c);
}

/* ---- the decision ---------------------------------------------------------------------------- */

#define EDGE_ID "spiffe://authd.dev/edge"
#define OPS_ID "spiffe://authd.dev/ops"

static void
test_decide(void **state)
{
    (void)state;
    char err[256];
    int rc;
    struct callers *c = loaded(good, err, sizeof(err), &rc);
    assert_int_equal(rc, AUTHD_OK);
    const char *who = NULL;
    const char *edge[] = {"uri:" EDGE_ID};
    const char *ops[] = {"dns:ops.internal", "uri:" OPS_ID};
    const char *both[] = {"uri:" EDGE_ID, "uri:" OPS_ID};
    const char *stranger[] = {"uri:spiffe://evil/edge"};
    /* The edge's URI as another type of name: no role. */
    const char *lookalikes[] = {"cn:" EDGE_ID, "dns:" EDGE_ID, "email:" EDGE_ID};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(callers_decide(c, method_roles("authd.v1.Sessions", "Login"),
                                        &lookalikes[i], 1, NULL, 0, &who),
                         AUTHD_ERR_PERMISSION_DENIED);
        assert_string_equal(who, lookalikes[i]);
        assert_int_equal(callers_held_roles(c, &lookalikes[i], 1, NULL, 0), 0);
    }
    assert_int_equal(callers_held_roles(c, both, 2, NULL, 0), ROLE_ALL);
    assert_int_equal(callers_held_roles(c, edge, 1, "client:svc", ROLE_SERVICE),
                     ROLE_EDGE | ROLE_SERVICE);

    /* A mapped identity: its roles, named by the identity. */
    assert_int_equal(
        callers_decide(c, method_roles("authd.v1.Sessions", "Login"), edge, 1, NULL, 0, &who),
        AUTHD_OK);
    assert_string_equal(who, EDGE_ID);
    assert_int_equal(
        callers_decide(c, method_roles("authd.v1.Users", "Create"), edge, 1, NULL, 0, &who),
        AUTHD_ERR_PERMISSION_DENIED);
    assert_string_equal(who, EDGE_ID);
    assert_int_equal(
        callers_decide(c, method_roles("authd.v1.Users", "Create"), ops, 2, NULL, 0, &who),
        AUTHD_OK);
    assert_string_equal(who, OPS_ID);
    assert_int_equal(callers_decide(c, method_roles("authd.v1.TwoFactor", "IssueDeliveryCode"), ops,
                                    2, NULL, 0, &who),
                     AUTHD_ERR_PERMISSION_DENIED);
    /* Several identities: the union, named by the one that grants the role. */
    assert_int_equal(
        callers_decide(c, method_roles("authd.v1.Users", "Delete"), both, 2, NULL, 0, &who),
        AUTHD_OK);
    assert_string_equal(who, OPS_ID);
    assert_int_equal(
        callers_decide(c, method_roles("authd.v1.Signup", "Start"), both, 2, NULL, 0, &who),
        AUTHD_OK);
    assert_string_equal(who, EDGE_ID);
    /* A token adds its roles; it names the caller when it is what grants the role. */
    assert_int_equal(callers_decide(c, method_roles("authd.v1.OAuth", "Introspect"), edge, 1,
                                    "client:svc", ROLE_SERVICE, &who),
                     AUTHD_OK);
    assert_string_equal(who, EDGE_ID);
    assert_int_equal(callers_decide(c, method_roles("authd.v1.Users", "Get"), edge, 1, "client:svc",
                                    ROLE_SERVICE, &who),
                     AUTHD_OK);
    assert_string_equal(who, "client:svc");
    assert_int_equal(callers_decide(c, method_roles("authd.v1.Users", "Get"), NULL, 0, "client:svc",
                                    ROLE_SERVICE, &who),
                     AUTHD_OK);
    assert_string_equal(who, "client:svc");
    assert_int_equal(callers_decide(c, method_roles("authd.v1.Users", "Create"), NULL, 0,
                                    "client:svc", ROLE_SERVICE, &who),
                     AUTHD_ERR_PERMISSION_DENIED);
    assert_string_equal(who, "client:svc");
    /* A token without a role scope holds no role, and is not anonymous either. */
    callers_free(c);
    assert_int_equal(callers_new(NULL, ROLE_ALL, &c), AUTHD_OK);
    assert_int_equal(
        callers_decide(c, method_roles("authd.v1.Users", "Get"), NULL, 0, "client:x", 0, &who),
        AUTHD_ERR_PERMISSION_DENIED);
    /* Anonymous (no identity, or only unmapped ones): the anonymous roles. */
    assert_int_equal(
        callers_decide(c, method_roles("authd.v1.Users", "Create"), NULL, 0, NULL, 0, &who),
        AUTHD_OK);
    assert_string_equal(who, "anonymous");
    assert_int_equal(
        callers_decide(c, method_roles("authd.v1.Users", "Create"), stranger, 1, NULL, 0, &who),
        AUTHD_OK);
    /* An unmapped identity holds the anonymous roles, but is named by its certificate. */
    assert_string_equal(who, "spiffe://evil/edge");
    assert_int_equal(callers_held_roles(c, stranger, 1, NULL, 0), ROLE_ALL);
    /* A method without a row (or a row without roles): refused, whatever the roles held. */
    assert_int_equal(
        callers_decide(c, method_roles("authd.v1.Users", "Nope"), NULL, 0, NULL, 0, &who),
        AUTHD_ERR_PERMISSION_DENIED);
    callers_free(c);
    assert_int_equal(callers_new(NULL, 0, &c), AUTHD_OK);
    assert_int_equal(
        callers_decide(c, method_roles("authd.v1.OAuth", "Jwks"), NULL, 0, NULL, 0, &who),
        AUTHD_ERR_PERMISSION_DENIED);
    assert_string_equal(who, "anonymous");
    assert_int_equal(
        callers_decide(c, method_roles("authd.v1.OAuth", "Jwks"), stranger, 1, NULL, 0, &who),
        AUTHD_ERR_PERMISSION_DENIED);
    assert_string_equal(who, "spiffe://evil/edge");
    /* Health/Check: open to all, even with no role at all. */
    assert_int_equal(
        callers_decide(c, method_roles("grpc.health.v1.Health", "Check"), NULL, 0, NULL, 0, &who),
        AUTHD_OK);
    assert_string_equal(who, "anonymous");
    callers_free(c);
    /* Anonymous roles: only known role bits are kept. */
    assert_int_equal(callers_new(NULL, 0xffu, &c), AUTHD_OK);
    assert_int_equal(callers_anonymous_roles(c), ROLE_ALL);
    callers_free(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_served_method_has_roles),
        cmocka_unit_test(test_key_rows),
        cmocka_unit_test(test_roles_lists),
        cmocka_unit_test(test_scope_roles),
        cmocka_unit_test(test_load_good),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_decide),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
