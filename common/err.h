/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one error enum of authd, authctl and the edge. 0 is success, failures are negative.
 * Each error has a stable machine-readable reason string ("invalid_credentials"...) that travels
 * over gRPC in the trailing metadata key AUTHD_ERR_MD_KEY, so the edge can map it back.
 */
#ifndef AUTHD_COMMON_ERR_H
#define AUTHD_COMMON_ERR_H

#define AUTHD_ERR_MD_KEY "authd-error"
/* Next to it, when the handler set them (proto/rpc.h: rpc_ctx_set_oauth_error/_retry_after):
 * the OAuth error code of a refusal ("invalid_grant", RFC 6749 §5.2) and how many seconds a
 * lockout lasts (decimal). */
#define AUTHD_OAUTH_ERROR_MD_KEY "authd-oauth-error"
#define AUTHD_RETRY_AFTER_MD_KEY "authd-retry-after"
/* How authd's status message of an AUTHD_ERR_LOCKED begins when the second factor is locked
 * for too many wrong codes (not a rationing such as "too many codes sent"): the edge words its
 * page from it. */
#define AUTHD_REFUSAL_WRONG_CODES "too many wrong codes"

enum authd_err {
    AUTHD_OK = 0,
    AUTHD_ERR_INTERNAL = -1,            /* a bug or an unexpected library failure */
    AUTHD_ERR_NOMEM = -2,               /* allocation failed */
    AUTHD_ERR_INVALID_ARGUMENT = -3,    /* malformed request */
    AUTHD_ERR_NOT_FOUND = -4,           /* the named thing does not exist */
    AUTHD_ERR_ALREADY_EXISTS = -5,      /* unique key taken (e.g. e-mail) */
    AUTHD_ERR_INVALID_CREDENTIALS = -6, /* wrong e-mail/password pair; never says which */
    AUTHD_ERR_UNAUTHENTICATED = -7,     /* no, unknown or expired session */
    AUTHD_ERR_PERMISSION_DENIED = -8,   /* caller lacks the role */
    AUTHD_ERR_INACTIVE = -9,            /* the account is deactivated */
    AUTHD_ERR_INVALID_TOKEN = -10,      /* unknown, used or expired one-time token */
    AUTHD_ERR_CONFLICT = -11,           /* transaction lost a race; retry */
    AUTHD_ERR_WEAK_PASSWORD = -12,      /* the password policy refuses it */
    AUTHD_ERR_INVALID_EMAIL = -13,      /* not a usable e-mail address */
    AUTHD_ERR_TOO_LARGE = -14,          /* input over a limit */
    AUTHD_ERR_UNAVAILABLE = -15,        /* a dependency (authd, storage, SMTP) cannot be reached */
    AUTHD_ERR_DEADLINE = -16,           /* the call's deadline passed */
    AUTHD_ERR_LOCKED = -17,             /* too many failures; retry later */
    AUTHD_ERR_STORAGE = -18,            /* storage I/O error */
    AUTHD_ERR_UNIMPLEMENTED = -19,      /* no such method */
    AUTHD_ERR_ALREADY_ENABLED = -20,    /* 2FA is already on */
    AUTHD_ERR_NOT_REQUESTED = -21,      /* no 2FA enrolment was begun */
    AUTHD_ERR_WRONG_CODE = -22,         /* wrong, reused or expired second-factor code */
    AUTHD_ERR_NOT_ENABLED = -23,        /* 2FA is off */
    AUTHD_ERR_SECOND_FACTOR_REQUIRED = -24, /* the step needs a TOTP or recovery code */
    AUTHD_ERR_UNAUTHORIZED_CLIENT = -25,    /* OAuth: the client may not use this grant */
    AUTHD_ERR_UNSUPPORTED_GRANT_TYPE = -26, /* OAuth: no such grant type */
    AUTHD_ERR_FAILED_PRECONDITION = -27,    /* not possible in the current state (the message says
                                               why: e.g. passkeys are not configured) */
    AUTHD_ERR_KEY_REFUSED = -28, /* a passkey's or security key's response failed a check (the
                                    message names the check); also an unknown, used or expired
                                    WebAuthn ceremony */
    AUTHD_ERR_MIN_ = -29
};

/* A short human-readable text for err; never NULL, static storage. */
const char *authd_strerror(int err);

/* The stable machine-readable reason for err ("invalid_credentials"); never NULL, static. */
const char *authd_err_reason(int err);

/* The error whose reason is the len bytes at s; AUTHD_ERR_INTERNAL when unknown. */
int authd_err_from_reason(const char *s, size_t len);

#endif
