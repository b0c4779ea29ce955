/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for edge/page.c and the AuthConfig -> page settings step (edge_config_from_msg):
 * everything from configuration or users is HTML-escaped, in text and in attributes, and
 * unsafe theme URLs never reach a page.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge/authd_client.h"
#include "common/buf.h"
#include "common/err.h"
#include "edge/page.h"

static const char *const hostile = "<script>alert(\"x\" & 'y')</script>";
static const char *const hostile_esc =
    "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;";

/* Decodes the five entities buf_html writes; the result must equal the original. */
static char *
unescape(const char *s)
{
    static const struct {
        const char *ent;
        char c;
    } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&#39;", '\''}};
    char *out = malloc(strlen(s) + 1);
    assert_non_null(out);
    size_t o = 0;
    while (*s) {
        size_t i;
        for (i = 0; i < sizeof(ents) / sizeof(ents[0]); i++) {
            size_t n = strlen(ents[i].ent);
            if (strncmp(s, ents[i].ent, n) == 0) {
                out[o++] = ents[i].c;
                s += n;
                break;
            }
        }
        if (i == sizeof(ents) / sizeof(ents[0]))
            out[o++] = *s++;
    }
    out[o] = '\0';
    return out;
}

static void
test_buf_html_round_trip(void **state)
{
    (void)state;
    const char *samples[] = {hostile,         "",        "plain text",
                             "&amp; already", "\"'<>&&", "caf\xc3\xa9 \xe2\x82\xac"};
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        struct buf b;
        buf_init(&b, 4096);
        assert_int_equal(buf_html(&b, samples[i]), AUTHD_OK);
        const char *esc = b.data != NULL ? b.data : "";
        assert_null(strpbrk(esc, "<>\"'"));
        char *back = unescape(esc);
        assert_string_equal(back, samples[i]);
        free(back);
        buf_free(&b);
    }
}

static void
test_layout_escapes_config(void **state)
{
    (void)state;
    struct edge_config cfg;
    edge_config_default(&cfg);
    snprintf(cfg.title, sizeof(cfg.title), "%s", hostile);
    snprintf(cfg.brand, sizeof(cfg.brand), "%s", hostile);
    snprintf(cfg.style_url, sizeof(cfg.style_url), "https://cdn.example/t.css?a=1&b=\"2\"");

    struct page p;
    page_begin(&p, &cfg, hostile);
    page_error(&p, hostile);
    page_end(&p);
    assert_int_equal(p.err, AUTHD_OK);
    const char *html = p.out.data;

    assert_null(strstr(html, "<script>"));
    char want[512];
    /* each page its own <title>: "{heading} — {title}" (issue 14) */
    snprintf(want, sizeof(want), "<title>%s \xe2\x80\x94 %s</title>", hostile_esc, hostile_esc);
    assert_non_null(strstr(html, want));
    snprintf(want, sizeof(want), "class=\"brand\" href=\"/\">%s</a>", hostile_esc);
    assert_non_null(strstr(html, want));
    snprintf(want, sizeof(want), "<h1>%s</h1>", hostile_esc);
    assert_non_null(strstr(html, want));
    snprintf(want, sizeof(want), "role=\"alert\">%s</div>", hostile_esc);
    assert_non_null(strstr(html, want));
    assert_non_null(strstr(
        html,
        "<link rel=\"stylesheet\" href=\"https://cdn.example/t.css?a=1&amp;b=&quot;2&quot;\">"));
    assert_non_null(strstr(html, "<link rel=\"stylesheet\" href=\"/auth/static/style.css\">"));
    assert_true(strncmp(html, "<!doctype html>", 15) == 0);
    page_free(&p);
}

/* theme.title on the form itself, unless the header already shows it as the brand. */
static void
test_title_on_form(void **state)
{
    (void)state;
    struct edge_config cfg;
    edge_config_default(&cfg);
    snprintf(cfg.title, sizeof(cfg.title), "Acme Login");
    snprintf(cfg.brand, sizeof(cfg.brand), "Acme");
    struct page p;
    page_begin(&p, &cfg, "Sign in");
    page_end(&p);
    assert_int_equal(p.err, AUTHD_OK);
    assert_non_null(strstr(p.out.data, "<title>Sign in \xe2\x80\x94 Acme Login</title>"));
    assert_non_null(strstr(p.out.data,
                           "<main class=\"card\">\n<p class=\"form-title\">Acme Login</p>\n"
                           "<h1>Sign in</h1>"));
    page_free(&p);
    snprintf(cfg.brand, sizeof(cfg.brand), "Acme Login");
    page_begin(&p, &cfg, "Sign in");
    page_end(&p);
    assert_null(strstr(p.out.data, "form-title"));
    page_free(&p);
}

/* A new-password field states authd's rule: minlength, and in words when asked. */
static void
test_new_password_rule(void **state)
{
    (void)state;
    struct edge_config cfg;
    edge_config_default(&cfg);
    struct page p;
    page_begin(&p, &cfg, "Choose a password");
    page_new_password(&p, "Password", "password", 8, 1, 1);
    page_new_password(&p, "Repeat", "password_confirmation", 8, 0, 0);
    page_end(&p);
    assert_int_equal(p.err, AUTHD_OK);
    const char *html = p.out.data;
    assert_non_null(strstr(html,
                           "<input id=\"f-password\" type=\"password\" name=\"password\" "
                           "aria-describedby=\"f-password-rule\" "
                           "autocomplete=\"new-password\" minlength=\"8\" required autofocus>"));
    assert_non_null(strstr(html, "id=\"f-password-rule\">At least 8 characters.</p>"));
    assert_non_null(strstr(html, "name=\"password_confirmation\" autocomplete=\"new-password\" "
                                 "minlength=\"8\" required>"));
    assert_null(strstr(html, "f-password_confirmation-rule"));
    page_free(&p);
    /* In error: both fields are described by the error box (it states the rule), one id each. */
    page_begin(&p, &cfg, "Choose a password");
    page_error(&p, "too short");
    page_invalid(&p, "password password_confirmation");
    page_new_password(&p, "Password", "password", 8, 1, 1);
    page_new_password(&p, "Repeat", "password_confirmation", 8, 0, 0);
    page_end(&p);
    assert_int_equal(p.err, AUTHD_OK);
    assert_non_null(strstr(p.out.data, "name=\"password\" aria-invalid=\"true\" "
                                       "aria-describedby=\"page-error\" autocomplete"));
    assert_non_null(strstr(p.out.data, "name=\"password_confirmation\" aria-invalid=\"true\" "
                                       "aria-describedby=\"page-error\" "));
    page_free(&p);
    /* An authd that did not say its rule: no number is made up. */
    page_begin(&p, &cfg, "Choose a password");
    page_new_password(&p, "Password", "password", 0, 1, 1);
    page_end(&p);
    assert_null(strstr(p.out.data, "minlength"));
    assert_null(strstr(p.out.data, "At least"));
    page_free(&p);
}

static void
test_form_attributes_escaped(void **state)
{
    (void)state;
    struct edge_config cfg;
    edge_config_default(&cfg);
    struct page p;
    page_begin(&p, &cfg, "Sign in");
    page_form_begin(&p, "/auth/x?a=1&b=\"", "csrf\"token");
    page_hidden(&p, "state", "\"><script>x</script>");
    page_hidden(&p, "empty", "");
    page_input(&p, "E-mail <b>", "email", "email", "a\"b@example.com", "username", 1);
    page_submit(&p, "Go & <see>");
    page_form_end(&p);
    page_link(&p, "/auth/signup?state='x'", "Create <account>");
    page_end(&p);
    assert_int_equal(p.err, AUTHD_OK);
    const char *html = p.out.data;

    assert_non_null(strstr(html, "<form method=\"post\" action=\"/auth/x?a=1&amp;b=&quot;\">"));
    assert_non_null(strstr(html, "name=\"csrf\" value=\"csrf&quot;token\""));
    assert_non_null(
        strstr(html, "name=\"state\" value=\"&quot;&gt;&lt;script&gt;x&lt;/script&gt;\""));
    assert_null(strstr(html, "name=\"empty\""));
    assert_non_null(strstr(html, ">E-mail &lt;b&gt;</label>"));
    assert_non_null(strstr(html, "value=\"a&quot;b@example.com\""));
    assert_non_null(strstr(html, ">Go &amp; &lt;see&gt;</button>"));
    assert_non_null(strstr(html, "href=\"/auth/signup?state=&#39;x&#39;\">Create &lt;account&gt;"));
    assert_null(strstr(html, "<script>"));
    page_free(&p);
}

static void
test_code_inputs(void **state)
{
    (void)state;
    struct edge_config cfg;
    edge_config_default(&cfg);
    struct page p;
    page_begin(&p, &cfg, "Two-factor");
    page_code_input(&p, "Code <x>", "token", "numeric", "one-time-code", 10, 1, 1);
    page_code_input(&p, "Recovery", "recovery_code", "text", "off", 64, 0, 0);
    page_text_input(&p, "Transport", "transport", "s\"ms", 32, 1);
    page_link_button(&p, "/app/auth/two-factor/request?a=1&b=2", "Enable <app>");
    page_end(&p);
    assert_int_equal(p.err, AUTHD_OK);
    const char *html = p.out.data;
    assert_non_null(strstr(html, "<label for=\"f-token\">Code &lt;x&gt;</label>\n"
                                 "<input id=\"f-token\" type=\"text\" name=\"token\" "
                                 "inputmode=\"numeric\" autocomplete=\"one-time-code\" "
                                 "maxlength=\"10\" autocapitalize=\"off\" spellcheck=\"false\" "
                                 "required autofocus>\n"));
    assert_non_null(strstr(html, "name=\"recovery_code\" inputmode=\"text\" autocomplete=\"off\" "
                                 "maxlength=\"64\" autocapitalize=\"off\" spellcheck=\"false\">"));
    assert_non_null(strstr(html, "name=\"transport\" value=\"s&quot;ms\" maxlength=\"32\" "
                                 "required>"));
    assert_non_null(strstr(html, "<p><a class=\"button\" href=\"/app/auth/two-factor/request?a=1"
                                 "&amp;b=2\">Enable &lt;app&gt;</a></p>"));
    page_free(&p);
}

/* Fields in error point at the page's first error box; other fields and boxes are unchanged. */
static void
test_invalid_fields(void **state)
{
    (void)state;
    struct edge_config cfg;
    edge_config_default(&cfg);
    struct page p;
    page_begin(&p, &cfg, "Set password");
    page_invalid(&p, "token password_confirmation");
    page_input(&p, "Before", "password", "password_confirmation", NULL, NULL, 0); /* no box yet */
    page_error(&p, "The passwords differ");
    page_error(&p, "A second box");
    page_input(&p, "New", "password", "password", NULL, "new-password", 0);
    page_input(&p, "Again", "password", "password_confirmation", NULL, "new-password", 0);
    page_code_input(&p, "Code", "token", "numeric", "one-time-code", 10, 1, 0);
    page_code_input(&p, "Code too", "tok", "numeric", NULL, 10, 1, 0);
    page_invalid(&p, NULL);
    page_text_input(&p, "Transport", "token", NULL, 32, 0);
    page_submit_as(&p, "Turn off", "danger");
    page_submit_as(&p, "Cancel", "secondary");
    page_link(&p, "/", "Back");
    page_end(&p);
    assert_int_equal(p.err, AUTHD_OK);
    const char *html = p.out.data;
    assert_non_null(strstr(html, "<div class=\"msg error\" id=\"page-error\" role=\"alert\">"
                                 "The passwords differ</div>"));
    assert_non_null(strstr(html, "<div class=\"msg error\" id=\"page-error-2\" role=\"alert\">"
                                 "A second box</div>"));
    const char *first = strstr(html, "id=\"page-error\"");
    assert_null(strstr(first + 1, "id=\"page-error\"")); /* ids stay unique */
    assert_non_null(strstr(html, "name=\"password_confirmation\" aria-invalid=\"true\" required>"));
    assert_non_null(strstr(html, "name=\"password\" autocomplete")); /* "password" not listed */
    assert_null(strstr(html, "name=\"password\" aria-invalid"));
    assert_non_null(strstr(html,
                           "name=\"password_confirmation\" aria-invalid=\"true\" "
                           "aria-describedby=\"page-error-2\" autocomplete=\"new-password\""));
    assert_non_null(strstr(html, "name=\"token\" aria-invalid=\"true\" "
                                 "aria-describedby=\"page-error-2\" inputmode=\"numeric\""));
    assert_non_null(strstr(html, "name=\"tok\" inputmode"));           /* a prefix is not a match */
    assert_non_null(strstr(html, "name=\"token\" maxlength=\"32\">")); /* cleared */
    assert_non_null(strstr(html, "<button type=\"submit\" class=\"danger\">Turn off</button>"));
    assert_non_null(strstr(html, "<button type=\"submit\" class=\"secondary\">Cancel</button>"));
    assert_non_null(strstr(html, "<p class=\"link\"><a href=\"/\">Back</a></p>"));
    page_free(&p);

    /* Listed, but no error box on the page: invalid, described by nothing. */
    page_begin(&p, &cfg, "x");
    page_invalid(&p, "  email ");
    page_input(&p, "E-mail", "email", "email", NULL, NULL, 0);
    page_end(&p);
    assert_non_null(strstr(p.out.data, "name=\"email\" aria-invalid=\"true\" required>"));
    page_free(&p);
}

static void
test_page_limit_is_sticky(void **state)
{
    (void)state;
    struct edge_config cfg;
    edge_config_default(&cfg);
    struct page p;
    page_begin(&p, &cfg, "Big");
    char *big = malloc(PAGE_MAX + 2);
    assert_non_null(big);
    memset(big, 'x', PAGE_MAX + 1);
    big[PAGE_MAX + 1] = '\0';
    page_text(&p, big);
    assert_int_equal(p.err, AUTHD_ERR_TOO_LARGE);
    page_para(&p, "after");
    page_end(&p);
    assert_int_equal(p.err, AUTHD_ERR_TOO_LARGE);
    assert_null(strstr(p.out.data, "after"));
    page_free(&p);
    free(big);
}

static void
test_config_from_msg(void **state)
{
    (void)state;
    Authd__V1__Theme theme = AUTHD__V1__THEME__INIT;
    Authd__V1__AuthConfig msg = AUTHD__V1__AUTH_CONFIG__INIT;
    msg.theme = &theme;
    struct edge_config c;

    edge_config_from_msg(&c, NULL);
    assert_string_equal(c.title, "authd");
    assert_string_equal(c.brand, "authd");
    assert_string_equal(c.style_url, "");

    theme.title = "Acme";
    theme.style_url = "https://CDN.Example.com:8443/theme.css";
    theme.forgot_password_url = "javascript:alert(1)";
    msg.asid_cookie_max_age = 3600;
    edge_config_from_msg(&c, &msg);
    assert_string_equal(c.title, "Acme");
    assert_string_equal(c.brand, "Acme"); /* brand defaults to the title */
    assert_string_equal(c.style_url, "https://CDN.Example.com:8443/theme.css");
    assert_string_equal(c.style_origin, "https://cdn.example.com:8443");
    assert_string_equal(c.forgot_url, "");
    assert_int_equal(c.asid_cookie_max_age, 3600);
    assert_int_equal(c.password_min_length, 0); /* authd did not say: unknown */

    Authd__V1__PasswordPolicy pp = AUTHD__V1__PASSWORD_POLICY__INIT;
    pp.min_length = 12;
    pp.max_bytes = 1024;
    msg.password_policy = &pp;
    edge_config_from_msg(&c, &msg);
    assert_int_equal(c.password_min_length, 12);
    assert_int_equal(c.password_max_bytes, 1024);
    pp.min_length = -1;
    pp.max_bytes = 1 << 30;
    edge_config_from_msg(&c, &msg);
    assert_int_equal(c.password_min_length, 0);
    assert_int_equal(c.password_max_bytes, 0);
    msg.password_policy = NULL;

    theme.brand = "Acme <Login>";
    theme.style_url = "/static/acme.css";
    theme.forgot_password_url = "https://help.example.com/reset";
    msg.asid_cookie_max_age = -5;
    edge_config_from_msg(&c, &msg);
    assert_string_equal(c.brand, "Acme <Login>"); /* escaped when written, not here */
    assert_string_equal(c.style_url, "/static/acme.css");
    assert_string_equal(c.style_origin, "");
    assert_string_equal(c.forgot_url, "https://help.example.com/reset");
    assert_int_equal(c.asid_cookie_max_age, 0);

    /* URLs that could break out of the CSP header or an attribute, or load from elsewhere */
    const char *bad[] = {"//evil.example/x.css",           "data:text/css,x",  "https://a b/x.css",
                         "https://x.example;script-src *", "https://evil\"x/", "https:///nohost",
                         "http://user@host/x.css",         "ftp://h/x.css"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        theme.style_url = (char *)bad[i];
        edge_config_from_msg(&c, &msg);
        assert_string_equal(c.style_url, "");
        assert_string_equal(c.style_origin, "");
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_html_round_trip),
        cmocka_unit_test(test_layout_escapes_config),
        cmocka_unit_test(test_form_attributes_escaped),
        cmocka_unit_test(test_title_on_form),
        cmocka_unit_test(test_new_password_rule),
        cmocka_unit_test(test_code_inputs),
        cmocka_unit_test(test_invalid_fields),
        cmocka_unit_test(test_page_limit_is_sticky),
        cmocka_unit_test(test_config_from_msg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
