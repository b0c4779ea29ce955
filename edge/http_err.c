/* SPDX-License-Identifier: Apache-2.0 */
/*
 * enum authd_err -> HTTP status and message. Input errors reuse authd_strerror()'s text with a
 * capital letter; credential errors never say which half was wrong (authd returns the same
 * error for an unknown e-mail and a wrong password).
 */
#include "http_err.h"

#include <stdio.h>
#include <string.h>

#include "err.h"

/* Copies text into out->message with its first letter upper-cased. */
static void
set_message(struct edge_http_err *out, const char *text)
{
    snprintf(out->message, sizeof(out->message), "%s", text);
    if (out->message[0] >= 'a' && out->message[0] <= 'z')
        out->message[0] = (char)(out->message[0] - 'a' + 'A');
}

void
edge_http_err_map(int err, struct edge_http_err *out)
{
    memset(out, 0, sizeof(*out));
    switch (err) {
    case AUTHD_OK:
        out->status = 200;
        break;
    case AUTHD_ERR_INVALID_CREDENTIALS:
        out->status = 401;
        set_message(out, "Invalid e-mail or password");
        break;
    case AUTHD_ERR_INACTIVE:
        /* authd answers INACTIVE only after a correct password, so this reveals nothing. */
        out->status = 403;
        set_message(out, "This account is deactivated");
        break;
    case AUTHD_ERR_UNAUTHENTICATED:
        out->status = 401;
        out->login_redirect = 1;
        set_message(out, "Please sign in");
        break;
    case AUTHD_ERR_INVALID_TOKEN:
        out->status = 400;
        set_message(out, "This link is invalid, already used or expired");
        break;
    case AUTHD_ERR_WEAK_PASSWORD:
    case AUTHD_ERR_INVALID_EMAIL:
    case AUTHD_ERR_INVALID_ARGUMENT:
    case AUTHD_ERR_TOO_LARGE:
        /* TOO_LARGE from authd is an input over a limit (e.g. a 2 KiB password): the user's
         * to fix, so a 400 with the reason rather than "something went wrong". */
        out->status = 400;
        set_message(out, authd_strerror(err));
        break;
    case AUTHD_ERR_LOCKED:
        out->status = 429;
        set_message(out, authd_strerror(err));
        break;
    case AUTHD_ERR_UNAVAILABLE:
    case AUTHD_ERR_DEADLINE:
        out->status = 503;
        out->unexpected = 1;
        set_message(out, "Service temporarily unavailable");
        break;
    case AUTHD_ERR_ALREADY_EXISTS:
        out->status = 409;
        set_message(out, "An account with this e-mail already exists");
        break;
    default:
        out->status = 500;
        out->unexpected = 1;
        set_message(out, "Something went wrong");
        break;
    }
}
