/* SPDX-License-Identifier: Apache-2.0 */
/* The key-space table and storage key construction; see keys.h. */
#include "authd/keys.h"

#include <stdarg.h>
#include <string.h>

#include "storage/records.pb-c.h"

#define REC(name) (&authd__storage__##name##__descriptor)

const struct key_prefix key_space[] = {
    /* Accounts live until deleted: a user by Users.Delete, its e-mail index with it. */
    {KEY_USER, REC(user_record), KEY_KEEP, NULL},
    {KEY_EMAIL, NULL, KEY_WITH_RECORD, KEY_USER},
    /* Sessions expire; a user's session index goes with each session. */
    {KEY_SESSION, REC(session_record), KEY_SWEEP_SESSION, NULL},
    {KEY_USESS, NULL, KEY_WITH_RECORD, KEY_SESSION},
    /* E-mailed one-time tokens: unused ones only bound the store's size once expired. */
    {KEY_SIGNUP, REC(one_time_record), KEY_SWEEP_EXPIRES, NULL},
    {KEY_RESET, REC(one_time_record), KEY_SWEEP_EXPIRES, NULL},
    {KEY_CONFIG, REC(config_record), KEY_KEEP, NULL},
    /* Counters forget their failures after the window; a stale one is the same as none. */
    {KEY_THROTTLE, REC(throttle_record), KEY_SWEEP_COUNTER, NULL},
    {KEY_SERIAL, NULL, KEY_KEEP, NULL}, /* row locks only: never written */
    /* Retired signing keys are dropped by signkeys.c once no token they signed can be valid. */
    {KEY_SIGKEY, REC(signing_key), KEY_KEEP, NULL},
    /* Clients, and the tombstones that keep a re-created client from reviving old tokens. */
    {KEY_CLIENT, REC(client_record), KEY_KEEP, NULL},
    {KEY_CLIENT_DELETED, NULL, KEY_KEEP, NULL}, /* decimal text: the deletion time */
    /* OAuth grants: every one carries its expiry. */
    {KEY_AUTHCODE, REC(auth_code_record), KEY_SWEEP_EXPIRES, NULL},
    {KEY_REFRESH, REC(refresh_token_record), KEY_SWEEP_REFRESH, NULL},
    {KEY_RFAM, NULL, KEY_WITH_RECORD, KEY_REFRESH},
    {KEY_RFAMILY, REC(refresh_family_record), KEY_SWEEP_FAMILY, NULL},
    /* A user's offline families: ending all the user's sessions revokes them (rfamily.h). */
    {KEY_UOFF, NULL, KEY_WITH_RECORD, KEY_RFAMILY},
    {KEY_ATOK, REC(access_token_record), KEY_SWEEP_EXPIRES, NULL},
    {KEY_REVOKED, REC(revoked_token_record), KEY_SWEEP_EXPIRES, NULL},
    {KEY_CONSENT, REC(consent_record), KEY_SWEEP_EXPIRES, NULL},
    /* Remembered browsers expire; ending a user's sessions or second factor forgets them. */
    {KEY_DEVICE, REC(device_record), KEY_SWEEP_FAMILY, NULL},
    {KEY_UDEV, NULL, KEY_WITH_RECORD, KEY_DEVICE},
    /* WebAuthn ceremonies die at their expiry; the credential-id index lives as long as the
     * credential in its user's record, which deletes it wherever a credential leaves. */
    {KEY_WACHAL, REC(web_authn_challenge_record), KEY_SWEEP_EXPIRES, NULL},
    {KEY_WACRED, NULL, KEY_KEEP, NULL},
};

const size_t key_space_len = sizeof(key_space) / sizeof(key_space[0]);

int
key_sweep_expiring(enum key_sweep s)
{
    return s != KEY_KEEP && s != KEY_WITH_RECORD;
}

size_t
key_make(char out[KEY_MAX], const char *prefix, ...)
{
    size_t n = strlen(prefix);
    if (n >= KEY_MAX)
        return 0;
    memcpy(out, prefix, n);
    va_list ap;
    va_start(ap, prefix);
    const char *part;
    int first = 1;
    while ((part = va_arg(ap, const char *)) != NULL) {
        size_t pl = strlen(part);
        /* A part may never contain '/', or one user's keys could alias another's. */
        if (pl == 0 || memchr(part, '/', pl) != NULL || n + pl + 1 >= KEY_MAX) {
            va_end(ap);
            return 0;
        }
        if (!first)
            out[n++] = '/';
        memcpy(out + n, part, pl);
        n += pl;
        first = 0;
    }
    va_end(ap);
    out[n] = '\0';
    return n;
}
