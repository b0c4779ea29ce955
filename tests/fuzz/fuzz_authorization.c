/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the Authorization header as the edge reads it. The input is
 * "<header>\0<body client_id>\0<body client_secret>" (missing parts are absent): the Bearer
 * token (edge/request.h edge_req_bearer) and the choice between Basic and body client
 * credentials (edge/oauth_util.h edge_oauth_client_auth, which parses Basic).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "edge/oauth_util.h"
#include "edge/request.h"
#include "common/secret.h"

/* The next NUL-separated part of [*p, end), or NULL when there is none. */
static const char *
part(const char **p, const char *end)
{
    if (*p >= end)
        return NULL;
    const char *s = *p;
    *p += strlen(s) + 1;
    return s;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 1);
    if (!in)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    const char *p = in, *end = in + size;
    const char *hdr = part(&p, end);
    const char *body_id = part(&p, end);
    const char *body_secret = part(&p, end);

    /* Bearer: a suffix of the header after "Bearer " and spaces, never empty. */
    struct edge_req r;
    memset(&r, 0, sizeof(r));
    r.authorization = hdr;
    const char *bearer = edge_req_bearer(&r);
    if (bearer != NULL) {
        size_t hl = strlen(hdr);
        if (hl < 8 || strncasecmp(hdr, "Bearer ", 7) != 0)
            abort();
        if (bearer < hdr + 7 || bearer >= hdr + hl || bearer[0] == ' ' || bearer[0] == '\0')
            abort();
        for (const char *q = hdr + 7; q < bearer; q++)
            if (*q != ' ')
                abort(); /* only spaces were skipped */
    } else if (hdr != NULL && strncasecmp(hdr, "Bearer ", 7) == 0) {
        if (hdr[7 + strspn(hdr + 7, " ")] != '\0')
            abort(); /* a non-empty token was dropped */
    }

    struct edge_oauth_basic basic;
    struct edge_oauth_client cl;
    memset(&basic, 0xa5, sizeof(basic));
    memset(&cl, 0xa5, sizeof(cl));
    int rc = edge_oauth_client_auth(hdr, body_id, body_secret, &basic, &cl);
    if (cl.id == NULL || cl.secret == NULL || cl.basic != basic.present)
        abort();
    if (bearer != NULL && basic.present)
        abort(); /* one header, one scheme */
    switch (rc) {
    case AUTHD_OK:
        if (basic.present) {
            if (cl.id != basic.id || cl.secret != basic.secret || basic.id[0] == '\0')
                abort();
            if (body_secret != NULL && body_secret[0] != '\0')
                abort(); /* two authentication methods */
            if (body_id != NULL && body_id[0] != '\0' && strcmp(body_id, basic.id) != 0)
                abort();
        } else {
            if (strcmp(cl.id, body_id != NULL ? body_id : "") != 0 ||
                strcmp(cl.secret, body_secret != NULL ? body_secret : "") != 0)
                abort();
        }
        break;
    case AUTHD_ERR_INVALID_CREDENTIALS: /* a malformed Basic header */
        if (!basic.present || basic.id[0] != '\0' || basic.secret[0] != '\0')
            abort();
        break;
    case AUTHD_ERR_INVALID_ARGUMENT: /* Basic and body credentials together */
        if (!basic.present)
            abort();
        break;
    default:
        abort();
    }
    secret_wipe(&basic, sizeof(basic));
    free(in);
    return 0;
}
