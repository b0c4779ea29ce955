/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for edge/carry.c: the OAuth parameters carried through signup and login, and the
 * URL the browser is sent to afterwards (only ever one of ours).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/buf.h"
#include "edge/carry.h"
#include "common/err.h"
#include "edge/form.h"

static void
test_next_without_client_is_root(void **state)
{
    (void)state;
    struct form *f = NULL;
    const char *q = "state=abc&redirect_uri=https%3A%2F%2Fevil.example%2F";
    assert_int_equal(form_parse(q, strlen(q), &f), AUTHD_OK);
    struct edge_carry c;
    edge_carry_from_form(&c, f);
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(edge_carry_next(&b, &c), AUTHD_OK);
    assert_string_equal(b.data, "/");
    buf_free(&b);
    form_free(f);
}

static void
test_next_with_client_is_authorize(void **state)
{
    (void)state;
    struct form *f = NULL;
    const char *q = "client_id=app&response_type=code&redirect_uri=https%3A%2F%2Fapp.example%2Fcb"
                    "&state=a+b%26c&scope=openid%20email&other=x&code_challenge=abc-_"
                    "&code_challenge_method=S256&nonce=n&auth_after=1700000000&acr_values=phr";
    assert_int_equal(form_parse(q, strlen(q), &f), AUTHD_OK);
    struct edge_carry c;
    edge_carry_from_form(&c, f);
    assert_true(edge_carry_any(&c));
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(edge_carry_next(&b, &c), AUTHD_OK);
    assert_string_equal(b.data, "/auth/authorize?client_id=app&response_type=code"
                                "&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&state=a%20b%26c"
                                "&scope=openid%20email&nonce=n&code_challenge=abc-_"
                                "&code_challenge_method=S256&auth_after=1700000000&acr_values=phr");
    buf_free(&b);

    /* the same values survive a trip through authd's ClientContext */
    Authd__V1__ClientContext cc = AUTHD__V1__CLIENT_CONTEXT__INIT;
    edge_carry_to_client(&c, &cc);
    assert_string_equal(cc.client_id, "app");
    assert_string_equal(cc.state, "a b&c");
    assert_string_equal(cc.code_challenge_method, "S256");
    assert_string_equal(cc.auth_after, "1700000000");
    assert_string_equal(cc.acr_values, "phr");
    struct edge_carry back;
    edge_carry_from_client(&back, &cc);
    for (int i = 0; i < EDGE_CARRY_N; i++)
        assert_string_equal(back.v[i], c.v[i]);
    form_free(f);
}

static void
test_url_and_hidden(void **state)
{
    (void)state;
    struct edge_carry c;
    memset(&c, 0, sizeof(c));
    assert_false(edge_carry_any(&c));
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(edge_carry_url(&b, "/auth/signup", &c), AUTHD_OK);
    assert_string_equal(b.data, "/auth/signup");
    buf_free(&b);

    c.v[0] = "app";
    c.v[3] = "\"><x>";
    assert_int_equal(edge_carry_url(&b, "/auth/login", &c), AUTHD_OK);
    assert_string_equal(b.data, "/auth/login?client_id=app&state=%22%3E%3Cx%3E");
    buf_free(&b);

    struct edge_config cfg;
    edge_config_default(&cfg);
    struct page p;
    page_begin(&p, &cfg, "t");
    edge_carry_hidden(&c, &p);
    assert_int_equal(p.err, AUTHD_OK);
    assert_non_null(strstr(p.out.data, "name=\"client_id\" value=\"app\""));
    assert_non_null(strstr(p.out.data, "name=\"state\" value=\"&quot;&gt;&lt;x&gt;\""));
    assert_null(strstr(p.out.data, "name=\"scope\""));
    page_free(&p);

    /* an empty ClientContext (never set) carries nothing */
    Authd__V1__ClientContext cc = AUTHD__V1__CLIENT_CONTEXT__INIT;
    edge_carry_from_client(&c, &cc);
    assert_false(edge_carry_any(&c));
    edge_carry_from_client(&c, NULL);
    assert_false(edge_carry_any(&c));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next_without_client_is_root),
        cmocka_unit_test(test_next_with_client_is_authorize),
        cmocka_unit_test(test_url_and_hidden),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
