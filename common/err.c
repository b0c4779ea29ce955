/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Texts and wire reasons for enum authd_err. The reason strings are part of the RPC contract:
 * never rename one, only add.
 */
#include <stddef.h>
#include <string.h>

#include "common/err.h"

struct err_info {
    int err;
    const char *reason;
    const char *text;
};

static const struct err_info err_table[] = {
    {AUTHD_OK, "ok", "success"},
    {AUTHD_ERR_INTERNAL, "internal", "internal error"},
    {AUTHD_ERR_NOMEM, "out_of_memory", "out of memory"},
    {AUTHD_ERR_INVALID_ARGUMENT, "invalid_request", "invalid request"},
    {AUTHD_ERR_NOT_FOUND, "not_found", "not found"},
    {AUTHD_ERR_ALREADY_EXISTS, "already_exists", "already exists"},
    {AUTHD_ERR_INVALID_CREDENTIALS, "invalid_credentials", "invalid e-mail or password"},
    {AUTHD_ERR_UNAUTHENTICATED, "unauthenticated", "not signed in or session expired"},
    {AUTHD_ERR_PERMISSION_DENIED, "permission_denied", "permission denied"},
    {AUTHD_ERR_INACTIVE, "inactive_user", "the account is deactivated"},
    {AUTHD_ERR_INVALID_TOKEN, "invalid_token", "the link is invalid, used or expired"},
    {AUTHD_ERR_CONFLICT, "conflict", "concurrent update; try again"},
    {AUTHD_ERR_WEAK_PASSWORD, "weak_password", "the password does not meet the policy"},
    {AUTHD_ERR_INVALID_EMAIL, "invalid_email", "not a valid e-mail address"},
    {AUTHD_ERR_TOO_LARGE, "too_large", "input too large"},
    {AUTHD_ERR_UNAVAILABLE, "unavailable", "service unavailable"},
    {AUTHD_ERR_DEADLINE, "deadline_exceeded", "deadline exceeded"},
    {AUTHD_ERR_LOCKED, "locked", "too many attempts; try again later"},
    {AUTHD_ERR_STORAGE, "storage_error", "storage error"},
    {AUTHD_ERR_UNIMPLEMENTED, "unimplemented", "not implemented"},
    {AUTHD_ERR_ALREADY_ENABLED, "already_enabled", "two-factor authentication is already enabled"},
    {AUTHD_ERR_NOT_REQUESTED, "not_requested", "two-factor enrolment was not started"},
    {AUTHD_ERR_WRONG_CODE, "wrong_token", "wrong or already used code"},
    {AUTHD_ERR_NOT_ENABLED, "not_enabled", "two-factor authentication is not enabled"},
    {AUTHD_ERR_SECOND_FACTOR_REQUIRED, "second_factor_required",
     "a code from the authenticator app or a recovery code is required"},
    {AUTHD_ERR_UNAUTHORIZED_CLIENT, "unauthorized_client", "the client may not use this grant"},
    {AUTHD_ERR_UNSUPPORTED_GRANT_TYPE, "unsupported_grant_type", "unsupported grant type"},
    {AUTHD_ERR_FAILED_PRECONDITION, "failed_precondition", "not possible in the current state"},
    {AUTHD_ERR_KEY_REFUSED, "key_refused", "the passkey or security key was refused"},
};

static const struct err_info *
err_lookup(int err)
{
    for (size_t i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++)
        if (err_table[i].err == err)
            return &err_table[i];
    return &err_table[1]; /* internal */
}

const char *
authd_strerror(int err)
{
    return err_lookup(err)->text;
}

const char *
authd_err_reason(int err)
{
    return err_lookup(err)->reason;
}

int
authd_err_from_reason(const char *s, size_t len)
{
    if (s == NULL)
        return AUTHD_ERR_INTERNAL;
    for (size_t i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++) {
        const char *r = err_table[i].reason;
        if (strlen(r) == len && memcmp(r, s, len) == 0)
            return err_table[i].err;
    }
    return AUTHD_ERR_INTERNAL;
}
