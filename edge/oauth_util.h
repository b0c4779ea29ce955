/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pure helpers of the OAuth endpoints (flow_token.c, flow_oauth.c): the HTTP Basic client
 * credentials parser (RFC 6749 §2.3.1), the choice between Basic and body credentials, the
 * RFC 6749 §5.2 error a refusal by authd stands for, and JSON string output. No I/O: everything
 * here is unit-tested (tests/unit/edge/test_oauth_util.c).
 */
#ifndef AUTHD_EDGE_OAUTH_UTIL_H
#define AUTHD_EDGE_OAUTH_UTIL_H

#include <stddef.h>

#include "common/buf.h"

#define EDGE_OAUTH_CLIENT_ID_MAX 255     /* bytes of a decoded client_id */
#define EDGE_OAUTH_CLIENT_SECRET_MAX 511 /* bytes of a decoded client_secret */
#define EDGE_OAUTH_BASIC_MAX 2048        /* base64 characters after "Basic " */
#define EDGE_OAUTH_ERROR_MAX 48          /* an error code plus NUL */
#define EDGE_OAUTH_DESCRIPTION_MAX 256   /* an error_description plus NUL */

/*
 * Client credentials from "Authorization: Basic base64(urlenc(id) ":" urlenc(secret))". The
 * secret is a credential: wipe the struct (secret_wipe) when done with it.
 */
struct edge_oauth_basic {
    int present; /* the request carried a Basic header (well-formed or not) */
    char id[EDGE_OAUTH_CLIENT_ID_MAX + 1];
    char secret[EDGE_OAUTH_CLIENT_SECRET_MAX + 1];
};

/*
 * Parses an Authorization header value (NULL: none). A scheme other than Basic counts as no
 * Basic header. The base64 must be the standard alphabet (padding optional); the id and
 * secret are each application/x-www-form-urlencoded ("%XX" and "+"), as RFC 6749 §2.3.1
 * requires, and are decoded here. The secret may be empty (a public client), the id may not.
 * *out is cleared on entry. Returns AUTHD_OK (out->present says whether a Basic header was
 * there), AUTHD_ERR_INVALID_ARGUMENT when it is malformed (bad base64, no ':', bad escape, a
 * NUL or control byte, empty id) or AUTHD_ERR_TOO_LARGE (longer than EDGE_OAUTH_BASIC_MAX, or
 * a decoded part over its maximum); on failure out->present is 1 and id/secret are empty.
 */
int edge_oauth_basic_parse(const char *authorization, struct edge_oauth_basic *out);

/* The client credentials a request presented; strings borrowed ("" when absent). */
struct edge_oauth_client {
    const char *id;
    const char *secret;
    int basic; /* a Basic header was sent: an invalid_client answer is 401 + WWW-Authenticate */
};

/*
 * Picks the client credentials of a token/introspect/revoke request: HTTP Basic (parsed into
 * *basic, which must outlive *out) or the body's client_id / client_secret (NULL when absent).
 * A body client_id equal to the Basic id is allowed (RFC 6749 §4.1.3 lets clients repeat it).
 * Returns AUTHD_OK; AUTHD_ERR_INVALID_CREDENTIALS for a malformed Basic header
 * (invalid_client); AUTHD_ERR_INVALID_ARGUMENT when both methods are used (a body
 * client_secret, or a different body client_id, next to Basic: invalid_request). out->basic
 * is set whenever a Basic header was present, also on failure.
 */
int edge_oauth_client_auth(const char *authorization, const char *body_id, const char *body_secret,
                           struct edge_oauth_basic *basic, struct edge_oauth_client *out);

/* An OAuth error answer (RFC 6749 §5.2). */
struct edge_oauth_error {
    int status;                                   /* HTTP status */
    char error[EDGE_OAUTH_ERROR_MAX];             /* "invalid_grant"... */
    char description[EDGE_OAUTH_DESCRIPTION_MAX]; /* safe to show the client */
    int unexpected;                               /* 5xx: worth a log line */
};

/*
 * The OAuth error for a failed call to authd: err, the OAuth error code authd named
 * (rpc_status.oauth_error; NULL or "" when none) and its status message (rpc_status.message,
 * the description; may be NULL). The status and the default code come from edge_http_err_map()
 * (the one mapping); authd's code wins over the default (with the message as description;
 * without a code the description is ""), and invalid_client is always 401.
 * Only registered codes are answered (RFC 6749 §5.2 and §4.1.2.1, RFC 6750 §3.1, RFC 7009):
 * a code authd names that is not one of them is replaced by the default, with no description.
 * For 5xx errors (UNIMPLEMENTED among them: an authd without the OAuth service) the message is
 * the transport's or the adapter's, not the OAuth service's: a fixed description is used.
 */
void edge_oauth_error_from(int err, const char *code, const char *message,
                           struct edge_oauth_error *out);

/*
 * Appends s (NULL counts as "") as a JSON string with its quotes: '"' and '\\' escaped,
 * control bytes as \u00XX (\n, \r, \t short), valid UTF-8 kept, every byte of an invalid UTF-8
 * sequence replaced by U+FFFD. AUTHD_OK or the buf_* error.
 */
int edge_oauth_json_str(struct buf *b, const char *s);

/*
 * Appends {"error":"<error>","error_description":"<description>"} (the description left out
 * when NULL or ""), both escaped by edge_oauth_json_str(). AUTHD_OK or the buf_* error.
 */
int edge_oauth_error_json(struct buf *b, const char *error, const char *description);

#endif
