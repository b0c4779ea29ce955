/* SPDX-License-Identifier: Apache-2.0 */
/*
 * enum authd_err -> HTTP status and message. Input errors reuse authd_strerror()'s text with a
 * capital letter; credential errors never say which half was wrong (authd returns the same
 * error for an unknown e-mail and a wrong password).
 */
#include "edge/http_err.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"

static void
set_api(struct edge_http_err *out, int status, const char *error)
{
    out->api_status = status;
    snprintf(out->api_error, sizeof(out->api_error), "%s", error);
}

/* Copies text into out->message with its first letter upper-cased. */
static void
set_message(struct edge_http_err *out, const char *text)
{
    snprintf(out->message, sizeof(out->message), "%s", text);
    if (out->message[0] >= 'a' && out->message[0] <= 'z')
        out->message[0] = (char)(out->message[0] - 'a' + 'A');
}

/*
 * The OAuth view (RFC 6749 §5.2, RFC 6750 §3.1, RFC 7009/7662): authd names the exact error in
 * its authd-oauth-error trailer; these are the defaults per enum. A refused client is 401, a
 * refused grant or request 400, a lockout 429 temporarily_unavailable (429 as on the pages), an
 * unreachable authd 503, and
 * UNIMPLEMENTED (an authd without the OAuth service: a grant type it does not know is
 * UNSUPPORTED_GRANT_TYPE) 500.
 */
static void
set_oauth(struct edge_http_err *out, int err)
{
    int status = 400;
    const char *error = "invalid_request";
    switch (err) {
    case AUTHD_OK:
        status = 200;
        error = "";
        break;
    case AUTHD_ERR_INVALID_CREDENTIALS:
        status = 401;
        error = "invalid_client";
        break;
    case AUTHD_ERR_UNAUTHENTICATED:
        status = 401;
        error = "invalid_token";
        break;
    case AUTHD_ERR_INVALID_TOKEN:
    case AUTHD_ERR_INACTIVE:
    case AUTHD_ERR_WRONG_CODE:
    case AUTHD_ERR_SECOND_FACTOR_REQUIRED:
    case AUTHD_ERR_KEY_REFUSED:
        error = "invalid_grant";
        break;
    case AUTHD_ERR_PERMISSION_DENIED:
    case AUTHD_ERR_UNAUTHORIZED_CLIENT:
        error = "unauthorized_client";
        break;
    case AUTHD_ERR_UNSUPPORTED_GRANT_TYPE:
        error = "unsupported_grant_type";
        break;
    case AUTHD_ERR_LOCKED:
        /* RFC 6749 has no code of its own for a lockout: the registered "try again later",
         * with the wait in Retry-After (never a custom code a client library cannot know). */
        status = 429;
        error = "temporarily_unavailable";
        break;
    case AUTHD_ERR_INVALID_ARGUMENT:
    case AUTHD_ERR_TOO_LARGE:
    case AUTHD_ERR_WEAK_PASSWORD:
    case AUTHD_ERR_INVALID_EMAIL:
    case AUTHD_ERR_NOT_FOUND:
    case AUTHD_ERR_ALREADY_EXISTS:
    case AUTHD_ERR_ALREADY_ENABLED:
    case AUTHD_ERR_NOT_REQUESTED:
    case AUTHD_ERR_NOT_ENABLED:
    case AUTHD_ERR_FAILED_PRECONDITION:
        break;
    case AUTHD_ERR_UNAVAILABLE:
    case AUTHD_ERR_DEADLINE:
        status = 503;
        error = "temporarily_unavailable";
        break;
    default:
        status = 500;
        error = "server_error";
        break;
    }
    out->oauth_status = status;
    snprintf(out->oauth_error, sizeof(out->oauth_error), "%s", error);
}

void
edge_http_err_map(int err, struct edge_http_err *out)
{
    memset(out, 0, sizeof(*out));
    set_oauth(out, err);
    switch (err) {
    case AUTHD_OK:
        out->status = 200;
        set_api(out, 200, "");
        break;
    case AUTHD_ERR_INVALID_CREDENTIALS:
        out->status = 401;
        set_message(out, "Invalid e-mail or password");
        set_api(out, 401, "invalid_credentials");
        break;
    case AUTHD_ERR_INACTIVE:
        /* authd answers INACTIVE only after a correct password, so this reveals nothing. */
        out->status = 403;
        set_message(out, "This account is deactivated");
        set_api(out, 403, "inactive");
        break;
    case AUTHD_ERR_UNAUTHENTICATED:
        out->status = 401;
        out->login_redirect = 1;
        set_message(out, "Please sign in");
        set_api(out, 401, "unauthorized");
        break;
    case AUTHD_ERR_INVALID_TOKEN:
        out->status = 400;
        set_message(out, "This link is invalid, already used or expired");
        set_api(out, 400, "invalid_request");
        break;
    case AUTHD_ERR_WEAK_PASSWORD:
    case AUTHD_ERR_INVALID_EMAIL:
    case AUTHD_ERR_INVALID_ARGUMENT:
    case AUTHD_ERR_TOO_LARGE:
        /* TOO_LARGE from authd is an input over a limit (e.g. a 2 KiB password): the user's
         * to fix, so a 400 with the reason rather than "something went wrong". */
        out->status = 400;
        set_message(out, authd_strerror(err));
        set_api(out, 400, "invalid_request");
        break;
    case AUTHD_ERR_LOCKED:
        out->status = 429;
        set_message(out, authd_strerror(err));
        set_api(out, 429, "locked");
        break;
    case AUTHD_ERR_WRONG_CODE:
        out->status = 401;
        set_message(out, "Invalid or already used code");
        set_api(out, 422, "wrong_token");
        break;
    case AUTHD_ERR_SECOND_FACTOR_REQUIRED:
        out->status = 401;
        set_message(out, "Enter a current code from your authenticator app or a recovery code");
        set_api(out, 422, "second_factor_required");
        break;
    case AUTHD_ERR_ALREADY_ENABLED:
        out->status = 409;
        set_message(out, "Two-factor authentication is already on");
        set_api(out, 422, "already_enabled");
        break;
    case AUTHD_ERR_NOT_REQUESTED:
        out->status = 400;
        set_message(out, "Two-factor set-up was not started or has expired; start again");
        set_api(out, 422, "not_requested");
        break;
    case AUTHD_ERR_NOT_ENABLED:
        out->status = 400;
        set_message(out, "Two-factor authentication is off");
        set_api(out, 422, "not_enabled");
        break;
    case AUTHD_ERR_UNAVAILABLE:
    case AUTHD_ERR_DEADLINE:
        out->status = 503;
        out->unexpected = 1;
        set_message(out, "Service temporarily unavailable");
        set_api(out, 503, "temporarily_unavailable");
        break;
    case AUTHD_ERR_ALREADY_EXISTS:
        out->status = 409;
        set_message(out, "An account with this e-mail already exists");
        set_api(out, 409, "already_exists");
        break;
    case AUTHD_ERR_KEY_REFUSED:
        /* A passkey's answer failed authd's checks (passkey.c adds authd's reason). */
        out->status = 400;
        set_message(out, "Your passkey or security key was refused");
        set_api(out, 400, "key_refused");
        break;
    case AUTHD_ERR_FAILED_PRECONDITION:
        out->status = 409;
        set_message(out, "This is not possible now");
        set_api(out, 409, "failed_precondition");
        break;
    default:
        out->status = 500;
        out->unexpected = 1;
        set_message(out, "Something went wrong");
        set_api(out, 500, "server_error");
        break;
    }
}

void
edge_http_duration_text(int64_t seconds, char *out, size_t cap)
{
    static const struct {
        int64_t unit;
        const char *name;
    } units[] = {{86400, "day"}, {3600, "hour"}, {60, "minute"}};
    if (seconds < 1)
        seconds = 1;
    int64_t n = seconds;
    const char *name = "second";
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        /* The larger unit once there are two of it, so "90 minutes" stays exact-ish. */
        if (seconds >= 2 * units[i].unit) {
            n = (seconds + units[i].unit - 1) / units[i].unit;
            name = units[i].name;
            break;
        }
    }
    snprintf(out, cap, "%lld %s%s", (long long)n, name, n == 1 ? "" : "s");
}

long
edge_http_retry_after(int err, int64_t seconds)
{
    if (err != AUTHD_ERR_LOCKED || seconds <= 0)
        return 0;
    return seconds > EDGE_RETRY_AFTER_MAX ? EDGE_RETRY_AFTER_MAX : (long)seconds;
}
