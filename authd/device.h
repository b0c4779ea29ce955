/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Remembered browsers ("Don't ask again on this browser for N days"): after a right code at the
 * second step of a login, with twoFactor.rememberBrowserDays > 0 and the user's consent, a device
 * record (keys.h: device/<id> holding a DeviceRecord, indexed by udev/<user id>/<id>) is made and
 * its token "<id>.<secret>" (token.h) handed out once for an HttpOnly cookie; only the secret's
 * SHA-256 is stored. At a later login, after the password was judged right, a token that names a
 * live record of the same user stands in for the second factor (Sessions.Login).
 *
 * Every device of a user is forgotten with the events that end trust in the browser: ending all
 * of the user's sessions (password change or reset, deactivation, deletion, sign out everywhere:
 * account_sessions_end_all calls device_forget_all), and turning 2FA off or resetting it.
 *
 * Ownership: tokens come back in a caller's struct token (wipe with token_wipe); functions taking
 * a txn write through it (AUTHD_ERR_CONFLICT: return it from the step, account_txn_run retries).
 */
#ifndef AUTHD_DEVICE_H
#define AUTHD_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#include "authd/authd.h"
#include "authd/keys.h"
#include "authd/token.h"
#include "authd/v1/common.pb-c.h"

/* The longest label kept (a summary such as "Firefox on Linux"). */
#define DEVICE_LABEL_MAX 64

/*
 * How long a device remembered now lives, in seconds: --remember-ttl when set, else
 * twoFactor.rememberBrowserDays days; 0 when remembering is off.
 */
int64_t device_ttl(struct authd *a);

/*
 * A short, non-identifying summary of a User-Agent header ("Chrome on Android", "Firefox on
 * Linux", "Unknown browser") into out (cap bytes, at least DEVICE_LABEL_MAX).
 */
void device_label(const char *user_agent, char *out, size_t cap);

/*
 * Inside txn: a new device record of user_id living ttl seconds (> 0), labelled from user_agent
 * (borrowed, may be NULL). tok receives the token (wiped again on failure).
 */
int device_remember(struct authd *a, struct store_txn *txn, const char *user_id,
                    const char *user_agent, int64_t ttl, struct token *tok);

/*
 * Inside txn: whether token (borrowed, a secret: never logged; NULL or "" for none) names a live
 * device record of user_id: its secret's hash matches in constant time, it belongs to that user
 * and has not expired, neither by its own expires_at nor by device_ttl() now (created_at +
 * device_ttl(a) > now: lowering rememberBrowserDays, or 0, ends older records). *ok is 1 then, and
 * the record's last use is set to now. A malformed, unknown, expired token or one of another user
 * leaves *ok 0 and the store as it was. AUTHD_OK or a storage error.
 */
int device_check(struct authd *a, struct store_txn *txn, const char *token, const char *user_id,
                 int *ok);

/* Inside txn: forgets every device of user_id; *n (may be NULL) receives how many. */
int device_forget_all(struct store_txn *txn, const char *user_id, size_t *n);

/*
 * Inside txn: forgets the device whose id is device_id, when it belongs to user_id (NULL: to
 * anyone). *owner (may be NULL; KEY_MAX bytes) receives its user's id. AUTHD_OK,
 * AUTHD_ERR_NOT_FOUND (no such device, or another user's), or a storage error.
 */
int device_forget(struct store_txn *txn, const char *device_id, const char *user_id, char *owner);

/* What device_forget_step forgets, and what it found (filled by the step). */
struct device_forget_req {
    const char *user_id;   /* device_id NULL: all of this user's; else the owner it must have
                            * (NULL: anyone's) */
    const char *device_id; /* NULL: all of user_id's */
    char owner[KEY_MAX];   /* out: the device's user (one device only) */
    size_t n;              /* out: how many were forgotten */
};

/*
 * An account_txn_run step (arg: struct device_forget_req, borrowed): device_forget_all or
 * device_forget as the request says; runs again on a conflict (n and owner are reset first).
 */
int device_forget_step(struct authd *a, struct store_txn *txn, void *arg);

/*
 * The live devices of user_id, newest first, into out->devices (allocated in ctx's arena).
 * AUTHD_OK or a storage error.
 */
int device_list(struct authd *a, struct rpc_ctx *ctx, const char *user_id,
                Authd__V1__DeviceList *out);

#endif
