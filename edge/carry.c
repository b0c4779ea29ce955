/* SPDX-License-Identifier: Apache-2.0 */
/* Carried OAuth parameters; see carry.h. */
#include "edge/carry.h"

#include <string.h>

#include "common/err.h"

const char *const edge_carry_names[EDGE_CARRY_N] = {
    "client_id", "response_type",  "redirect_uri",          "state",      "scope",
    "nonce",     "code_challenge", "code_challenge_method", "auth_after", "acr_values",
};

static int
present(const char *s)
{
    return s != NULL && s[0] != '\0';
}

void
edge_carry_from_form(struct edge_carry *c, const struct form *f)
{
    for (int i = 0; i < EDGE_CARRY_N; i++)
        c->v[i] = form_get(f, edge_carry_names[i]);
}

void
edge_carry_from_client(struct edge_carry *c, const Authd__V1__ClientContext *cc)
{
    memset(c, 0, sizeof(*c));
    if (cc == NULL)
        return;
    c->v[0] = cc->client_id;
    c->v[1] = cc->response_type;
    c->v[2] = cc->redirect_uri;
    c->v[3] = cc->state;
    c->v[4] = cc->scope;
    c->v[5] = cc->nonce;
    c->v[6] = cc->code_challenge;
    c->v[7] = cc->code_challenge_method;
    c->v[8] = cc->auth_after;
    c->v[9] = cc->acr_values;
}

void
edge_carry_to_client(const struct edge_carry *c, Authd__V1__ClientContext *cc)
{
    char *v[EDGE_CARRY_N];
    for (int i = 0; i < EDGE_CARRY_N; i++)
        v[i] = (char *)(c->v[i] != NULL ? c->v[i] : "");
    cc->client_id = v[0];
    cc->response_type = v[1];
    cc->redirect_uri = v[2];
    cc->state = v[3];
    cc->scope = v[4];
    cc->nonce = v[5];
    cc->code_challenge = v[6];
    cc->code_challenge_method = v[7];
    cc->auth_after = v[8];
    cc->acr_values = v[9];
}

int
edge_carry_any(const struct edge_carry *c)
{
    for (int i = 0; i < EDGE_CARRY_N; i++)
        if (present(c->v[i]))
            return 1;
    return 0;
}

void
edge_carry_hidden(const struct edge_carry *c, struct page *p)
{
    for (int i = 0; i < EDGE_CARRY_N; i++)
        page_hidden(p, edge_carry_names[i], c->v[i]);
}

int
edge_carry_url(struct buf *b, const char *path, const struct edge_carry *c)
{
    int r = buf_puts(b, path);
    char sep = '?';
    for (int i = 0; i < EDGE_CARRY_N && r == AUTHD_OK; i++) {
        if (!present(c->v[i]))
            continue;
        r = buf_append(b, &sep, 1);
        if (r == AUTHD_OK)
            r = buf_puts(b, edge_carry_names[i]);
        if (r == AUTHD_OK)
            r = buf_puts(b, "=");
        if (r == AUTHD_OK)
            r = buf_urlenc(b, c->v[i]);
        sep = '&';
    }
    return r;
}

int
edge_carry_next(struct buf *b, const struct edge_carry *c)
{
    if (!present(c->v[0]))
        return buf_puts(b, "/");
    return edge_carry_url(b, "/auth/authorize", c);
}

void
edge_carry_link(struct page *p, const char *path, const struct edge_carry *c, const char *text)
{
    struct buf url;
    buf_init(&url, PAGE_MAX);
    int r = edge_carry_url(&url, path, c);
    if (r == AUTHD_OK)
        page_link(p, url.data, text);
    else if (p->err == AUTHD_OK)
        p->err = r;
    buf_free(&url);
}
