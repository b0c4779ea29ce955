/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTML layout and builders. The markup is deliberately plain: one centred card, labelled
 * fields, a message box; the stylesheet makes it readable on phones.
 */
#include "edge/page.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"

void
page_raw(struct page *p, const char *markup)
{
    if (p->err == AUTHD_OK)
        p->err = buf_puts(&p->out, markup);
}

void
page_text(struct page *p, const char *text)
{
    if (p->err == AUTHD_OK)
        p->err = buf_html(&p->out, text);
}

void
page_begin(struct page *p, const struct edge_config *cfg, const char *heading)
{
    buf_init(&p->out, PAGE_MAX);
    p->err = AUTHD_OK;
    p->invalid = NULL;
    p->errors = 0;
    page_raw(p, "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                "<title>");
    /* The page's own name first, so tabs and history tell the steps apart. */
    page_text(p, heading);
    page_raw(p, " \xe2\x80\x94 "); /* an em dash */
    page_text(p, cfg->title);
    page_raw(p, "</title>\n<link rel=\"stylesheet\" href=\"/auth/static/style.css\">\n");
    if (cfg->style_url[0] != '\0') {
        page_raw(p, "<link rel=\"stylesheet\" href=\"");
        page_text(p, cfg->style_url);
        page_raw(p, "\">\n");
    }
    page_raw(p, "</head>\n<body>\n<header class=\"top\"><a class=\"brand\" href=\"/\">");
    page_text(p, cfg->brand);
    page_raw(p, "</a></header>\n<main class=\"card\">\n");
    /* theme.title, "the title to use on the authentication form" (Aidbox), unless the header
     * already shows the same words as the brand. */
    if (strcmp(cfg->title, cfg->brand) != 0) {
        page_raw(p, "<p class=\"form-title\">");
        page_text(p, cfg->title);
        page_raw(p, "</p>\n");
    }
    page_raw(p, "<h1>");
    page_text(p, heading);
    page_raw(p, "</h1>\n");
}

void
page_end(struct page *p)
{
    page_raw(p, "</main>\n</body>\n</html>\n");
}

/* The id of the n-th error box of a page (n >= 1). */
static void
error_id(struct page *p, int n)
{
    page_raw(p, "page-error");
    if (n > 1 && p->err == AUTHD_OK)
        p->err = buf_printf(&p->out, "-%d", n);
}

void
page_para(struct page *p, const char *text)
{
    page_raw(p, "<p>");
    page_text(p, text);
    page_raw(p, "</p>\n");
}

void
page_error(struct page *p, const char *msg)
{
    /* Ids stay unique: page-error, then page-error-2, -3... (see error_id). */
    page_raw(p, "<div class=\"msg error\" id=\"");
    error_id(p, ++p->errors);
    page_raw(p, "\" role=\"alert\">");
    page_text(p, msg);
    page_raw(p, "</div>\n");
}

void
page_info(struct page *p, const char *msg)
{
    page_raw(p, "<div class=\"msg info\" role=\"status\">");
    page_text(p, msg);
    page_raw(p, "</div>\n");
}

void
page_form_begin(struct page *p, const char *action, const char *csrf)
{
    page_raw(p, "<form method=\"post\" action=\"");
    page_text(p, action);
    page_raw(p, "\">\n");
    if (csrf != NULL)
        page_hidden(p, "csrf", csrf);
}

void
page_hidden(struct page *p, const char *name, const char *value)
{
    if (value == NULL || value[0] == '\0')
        return;
    page_raw(p, "<input type=\"hidden\" name=\"");
    page_text(p, name);
    page_raw(p, "\" value=\"");
    page_text(p, value);
    page_raw(p, "\">\n");
}

void
page_invalid(struct page *p, const char *names)
{
    p->invalid = names;
}

/* Whether name is one of the space-separated names of p->invalid. */
static int
is_invalid(const struct page *p, const char *name)
{
    size_t n = strlen(name);
    for (const char *s = p->invalid; s != NULL && *s != '\0';) {
        while (*s == ' ')
            s++;
        size_t len = strcspn(s, " ");
        if (len == n && len > 0 && strncmp(s, name, n) == 0)
            return 1;
        s += len;
    }
    return 0;
}

/*
 * Appends the label and the opening of an input of the given type (id, type, name); the caller
 * adds attributes and closes the tag. hint (may be NULL) is the id of a hint of the field's own
 * for aria-describedby; a field in error is described by the error box instead (which says
 * what is wrong, rule included), so that one id is named and the box is read first.
 */
static void
input_open_hint(struct page *p, const char *label, const char *type, const char *name,
                const char *hint)
{
    page_raw(p, "<label for=\"f-");
    page_text(p, name);
    page_raw(p, "\">");
    page_text(p, label);
    page_raw(p, "</label>\n<input id=\"f-");
    page_text(p, name);
    page_raw(p, "\" type=\"");
    page_text(p, type);
    page_raw(p, "\" name=\"");
    page_text(p, name);
    page_raw(p, "\"");
    if (is_invalid(p, name)) {
        page_raw(p, " aria-invalid=\"true\"");
        if (p->errors > 0) { /* the error box just above it says what is wrong */
            page_raw(p, " aria-describedby=\"");
            error_id(p, p->errors);
            page_raw(p, "\"");
            return;
        }
    }
    if (hint != NULL) {
        page_raw(p, " aria-describedby=\"");
        page_text(p, hint);
        page_raw(p, "\"");
    }
}

static void
input_open(struct page *p, const char *label, const char *type, const char *name)
{
    input_open_hint(p, label, type, name, NULL);
}

/* Appends attr="value" (value escaped), or nothing when value is NULL. */
static void
attr_str(struct page *p, const char *attr, const char *value)
{
    if (value == NULL)
        return;
    page_raw(p, " ");
    page_raw(p, attr);
    page_raw(p, "=\"");
    page_text(p, value);
    page_raw(p, "\"");
}

/* An empty value is left out, as if none was given. */
static void
attr_value(struct page *p, const char *value)
{
    attr_str(p, "value", value != NULL && value[0] != '\0' ? value : NULL);
}

static void
attr_int(struct page *p, const char *attr, int v)
{
    if (p->err == AUTHD_OK)
        p->err = buf_printf(&p->out, " %s=\"%d\"", attr, v);
}

void
page_input(struct page *p, const char *label, const char *type, const char *name, const char *value,
           const char *autocomplete, int autofocus)
{
    input_open(p, label, type, name);
    attr_value(p, value);
    attr_str(p, "autocomplete", autocomplete);
    page_raw(p, autofocus ? " required autofocus>\n" : " required>\n");
}

void
page_code_input(struct page *p, const char *label, const char *name, const char *inputmode,
                const char *autocomplete, int maxlength, int required, int autofocus)
{
    input_open(p, label, "text", name);
    attr_str(p, "inputmode", inputmode);
    attr_str(p, "autocomplete", autocomplete);
    if (maxlength > 0)
        attr_int(p, "maxlength", maxlength);
    page_raw(p, " autocapitalize=\"off\" spellcheck=\"false\"");
    if (required)
        page_raw(p, " required");
    page_raw(p, autofocus ? " autofocus>\n" : ">\n");
}

void
page_new_password(struct page *p, const char *label, const char *name, int min_length, int rule,
                  int autofocus)
{
    char hint[96];
    int said = rule && min_length > 0 && strlen(name) + 8 < sizeof(hint); /* our own names */
    if (said)
        snprintf(hint, sizeof(hint), "f-%s-rule", name);
    input_open_hint(p, label, "password", name, said ? hint : NULL);
    page_raw(p, " autocomplete=\"new-password\"");
    if (min_length > 0)
        attr_int(p, "minlength", min_length);
    page_raw(p, autofocus ? " required autofocus>\n" : " required>\n");
    if (said) {
        page_raw(p, "<p class=\"hint muted\" id=\"");
        page_text(p, hint);
        page_raw(p, "\">");
        if (p->err == AUTHD_OK)
            p->err = buf_printf(&p->out, "At least %d characters.", min_length);
        page_raw(p, "</p>\n");
    }
}

void
page_text_input(struct page *p, const char *label, const char *name, const char *value,
                int maxlength, int required)
{
    input_open(p, label, "text", name);
    attr_value(p, value);
    if (maxlength > 0)
        attr_int(p, "maxlength", maxlength);
    page_raw(p, required ? " required>\n" : ">\n");
}

void
page_link_button(struct page *p, const char *href, const char *text)
{
    page_raw(p, "<p><a class=\"button\" href=\"");
    page_text(p, href);
    page_raw(p, "\">");
    page_text(p, text);
    page_raw(p, "</a></p>\n");
}

void
page_submit(struct page *p, const char *label)
{
    page_raw(p, "<button type=\"submit\">");
    page_text(p, label);
    page_raw(p, "</button>\n");
}

void
page_submit_as(struct page *p, const char *label, const char *kind)
{
    page_raw(p, "<button type=\"submit\" class=\"");
    page_raw(p, kind);
    page_raw(p, "\">");
    page_text(p, label);
    page_raw(p, "</button>\n");
}

void
page_form_end(struct page *p)
{
    page_raw(p, "</form>\n");
}

void
page_link(struct page *p, const char *href, const char *text)
{
    page_raw(p, "<p class=\"link\"><a href=\"");
    page_text(p, href);
    page_raw(p, "\">");
    page_text(p, text);
    page_raw(p, "</a></p>\n");
}

void
page_free(struct page *p)
{
    buf_free(&p->out);
}
