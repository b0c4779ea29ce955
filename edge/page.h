/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTML layout every page uses, and small builders for its parts (message boxes, forms,
 * fields, links). Every text and attribute value that is not a literal of ours goes through
 * buf_html(), so configuration (theme) and user input can never become markup. Pages need no
 * JavaScript; styles come from /auth/static/style.css (edge/pages/style.css, embedded at
 * build time) plus the AuthConfig theme.styleUrl when set.
 *
 * Builders never fail on their own: the first buffer error (size limit, NOMEM) is kept in
 * p->err and later calls do nothing, so a flow checks once, when it hands the page over.
 */
#ifndef AUTHD_EDGE_PAGE_H
#define AUTHD_EDGE_PAGE_H

#include <stddef.h>

#include "edge/authd_client.h"
#include "common/buf.h"

#define PAGE_MAX ((size_t)256 * 1024)

struct page {
    struct buf out; /* the HTML; owned; may hold a CSRF token, so it is wiped on free */
    int err;        /* first error of any builder, AUTHD_OK until then */
    /* Fields in error (page_invalid): borrowed, space-separated names; NULL: none. */
    const char *invalid;
    int errors; /* error boxes so far: id="page-error", then "page-error-2"... */
};

/* The built-in stylesheet served at /auth/static/style.css (generated from pages/style.css). */
extern const char edge_style_css[];
extern const size_t edge_style_css_len;
/* The progressive-enhancement script served at /auth/static/pages.js (pages/pages.js). */
extern const char edge_pages_js[];
extern const size_t edge_pages_js_len;

/*
 * Starts a page: doctype, <title> ("{heading} — {cfg->title}"), stylesheets, the header with
 * cfg->brand, cfg->title at the top of the card (class form-title) when it differs from the
 * brand, and an <h1> with heading. cfg is borrowed for this call only.
 */
void page_begin(struct page *p, const struct edge_config *cfg, const char *heading);

/* Closes the document. */
void page_end(struct page *p);

/* Appends trusted markup (a literal of ours), unescaped. */
void page_raw(struct page *p, const char *markup);

/* Appends text, HTML-escaped. */
void page_text(struct page *p, const char *text);

/* A paragraph of escaped text. */
void page_para(struct page *p, const char *text);

/*
 * A visible error box / information box with escaped text. Error boxes get unique ids
 * (page-error, page-error-2...): the fields named by page_invalid point at the latest one.
 */
void page_error(struct page *p, const char *msg);
void page_info(struct page *p, const char *msg);

/*
 * Names the fields the page's error is about (space-separated input names, e.g. "password
 * password_confirmation"): the field builders called after this give those inputs
 * aria-invalid="true" and, once an error box is on the page, aria-describedby naming the
 * latest error box (the one just above the form), so
 * a screen reader says what is wrong when the field is reached. names is borrowed: a literal,
 * or a string that outlives the page's field calls. NULL clears it.
 */
void page_invalid(struct page *p, const char *names);

/*
 * Opens <form method="post" action="{action}"> with the hidden CSRF field (csrf may be NULL for
 * forms that are not POSTed to us: then no field is added).
 */
void page_form_begin(struct page *p, const char *action, const char *csrf);

/* A hidden field; nothing when value is NULL or "". */
void page_hidden(struct page *p, const char *name, const char *value);

/*
 * A labelled input. type is "email", "password", "text"...; value may be NULL; autocomplete is
 * the HTML autocomplete token (e.g. "current-password"); autofocus adds the attribute.
 */
void page_input(struct page *p, const char *label, const char *type, const char *name,
                const char *value, const char *autocomplete, int autofocus);

/*
 * A labelled field for a one-time code: type="text" with inputmode (e.g. "numeric"),
 * autocomplete (e.g. "one-time-code"), maxlength, no spell-check or auto-capitalisation.
 * required adds the attribute (a form with two alternative code fields leaves both optional).
 */
void page_code_input(struct page *p, const char *label, const char *name, const char *inputmode,
                     const char *autocomplete, int maxlength, int required, int autofocus);

/*
 * A labelled new-password field (type="password", autocomplete="new-password", required), with
 * minlength="min_length" when min_length > 0 (authd's rule, AuthConfig.passwordPolicy). With
 * rule (and min_length > 0) the rule is also said in words under the field ("At least N
 * characters."), tied to it by aria-describedby.
 */
void page_new_password(struct page *p, const char *label, const char *name, int min_length,
                       int rule, int autofocus);

/* A free-text field with a maxlength (e.g. a transport name). */
void page_text_input(struct page *p, const char *label, const char *name, const char *value,
                     int maxlength, int required);

/* A link that looks like a button: <p><a class="button" href="{href}">{text}</a></p>. */
void page_link_button(struct page *p, const char *href, const char *text);

/* The submit button. */
void page_submit(struct page *p, const char *label);

/*
 * A submit button of a kind the stylesheet knows (a literal of ours): "secondary" (a way out:
 * Cancel, Deny) or "danger" (it takes something away: turning two-factor off).
 */
void page_submit_as(struct page *p, const char *label, const char *kind);

/* Closes the form. */
void page_form_end(struct page *p);

/* <p class="link"><a href="{href}">{text}</a></p>, both escaped (a 44 px tap target). */
void page_link(struct page *p, const char *href, const char *text);

/* Wipes and frees the page's buffer. */
void page_free(struct page *p);

#endif
