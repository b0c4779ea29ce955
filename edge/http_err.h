/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one mapping from enum authd_err (authd's answer, or a local failure) to what the browser
 * sees: an HTTP status and a user-facing message, or "go and sign in", and what an OAuth
 * client sees (status and error code). Every flow goes through it, so one error always looks
 * the same everywhere.
 */
#ifndef AUTHD_EDGE_HTTP_ERR_H
#define AUTHD_EDGE_HTTP_ERR_H

#include <stddef.h>
#include <stdint.h>

struct edge_http_err {
    int status;         /* HTTP status code of a page */
    int login_redirect; /* 1: answer with a redirect to /auth/login instead of a page */
    int unexpected;     /* 1: a failure the operator should see in the log (5xx) */
    char message[128];  /* user-facing text, plain (escape it when writing HTML) */
    /* The same error in the JSON API (Aidbox's /app/auth/two-factor/...): its status and the
     * "error" code; the two-factor refusals are 422 there, as in Aidbox. */
    int api_status;
    char api_error[32]; /* "" for AUTHD_OK */
    /* The same error at the OAuth endpoints (RFC 6749 §5.2, RFC 6750 §3.1): the status and the
     * "error" code used when authd named none in its authd-oauth-error trailer (see
     * oauth_util.h). */
    int oauth_status;
    char oauth_error[32]; /* "" for AUTHD_OK */
};

/* Fills *out for err (AUTHD_OK gives 200 and empty texts). Never fails. */
void edge_http_err_map(int err, struct edge_http_err *out);

#define EDGE_RETRY_AFTER_MAX 86400L /* the longest Retry-After the edge sends, in seconds */

/*
 * How long a lockout lasts, for the Retry-After header of a 429 (RFC 9110 §10.2.3): when err
 * is AUTHD_ERR_LOCKED and seconds (authd's authd-retry-after trailer, struct rpc_status's
 * retry_after) is positive, those seconds, at most EDGE_RETRY_AFTER_MAX. 0 otherwise: no
 * header.
 */
long edge_http_retry_after(int err, int64_t seconds);

/*
 * Says a duration the way a person reads it, into out (cap bytes): "1 second", "45 seconds",
 * "2 minutes" from 120 s, "2 hours" from 120 min, "2 days" from 48 h; a part unit is rounded
 * up, so a wait is never promised shorter than it is. seconds below 1 count as 1.
 */
void edge_http_duration_text(int64_t seconds, char *out, size_t cap);

#endif
