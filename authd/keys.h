/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The storage key space: every record authd keeps lives under one of the prefixes below, and
 * key_space[] lists them all with their record type and how they expire. The sweeper
 * (sweeper.c) walks that table, and tests/unit/authd/test_sweeper.c checks that no prefix is a
 * prefix of another (their scans would overlap) and that every expiring prefix is swept. These
 * bytes are the on-disk format: changing a prefix orphans every existing data directory.
 * Keys are built into a caller's fixed buffer; components are bounded (ids, normalised e-mails).
 */
#ifndef AUTHD_KEYS_H
#define AUTHD_KEYS_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#define KEY_MAX 512

/* Accounts (users.c, session_store.c, onetime.c). */
#define KEY_USER "user/"       /* user/<id>                UserRecord */
#define KEY_EMAIL "email/"     /* email/<normalised email> the user id (unique index) */
#define KEY_SESSION "session/" /* session/<session id>     SessionRecord */
#define KEY_USESS "usess/"     /* usess/<user id>/<sid>    empty: index of a user's sessions */
#define KEY_SIGNUP "signup/"   /* signup/<token id>        OneTimeRecord (e-mail confirmation) */
#define KEY_RESET "reset/"     /* reset/<token id>         OneTimeRecord (password reset) */
/* Under both, a Start that mails no link writes a decoy no token opens (onetime.h), swept alike. */
/* Configuration (authd.c, svc_admin.c): one key, not a prefix. */
#define KEY_CONFIG "config/authconfig" /* ConfigRecord */
/* Brute-force counters (throttle.c): throttle/<kind>/<subject type>/<subject>. */
#define KEY_THROTTLE "throttle/" /* ThrottleRecord */
/* Serial locks of brute-force judging (guard.c): serial/<kind>/<subject>, only ever locked by a
 * read for update, never written, so nothing is stored under it. */
#define KEY_SERIAL "serial/"
/* Token signing keys (signkeys.c). */
#define KEY_SIGKEY "sigkey/" /* sigkey/<kid>  SigningKey (private part sealed) */
/* OAuth clients (svc_clients.c). */
#define KEY_CLIENT "client/"            /* client/<id>     ClientRecord */
#define KEY_CLIENT_DELETED "clientdel/" /* clientdel/<id>  tombstone: see records.proto */
/* OAuth grants (svc_oauth.c). Every record here carries its own expires_at (unix seconds). */
#define KEY_AUTHCODE "authcode/" /* authcode/<code id>  AuthCodeRecord: single-use, 60 s */
#define KEY_REFRESH "refresh/"   /* refresh/<token id>  RefreshTokenRecord of a rotation family */
#define KEY_RFAM "rfam/"         /* rfam/<family>/<token id>  empty: a family's refresh tokens */
#define KEY_RFAMILY                                                                                \
    "rfamily/"           /* rfamily/<family>  RefreshFamilyRecord; rotation locks it, and          \
                            a family without it is revoked */
#define KEY_UOFF "uoff/" /* uoff/<user id>/<family>  empty: a user's offline refresh families */
#define KEY_ATOK "atok/" /* atok/<token id>  AccessTokenRecord (opaque access tokens) */
#define KEY_REVOKED "revoked/" /* revoked/<jti>  RevokedTokenRecord: revoked JWTs until exp */
#define KEY_CONSENT "consent/" /* consent/<user id>/<client>  ConsentRecord */
/* Remembered browsers (device.c). */
#define KEY_DEVICE "device/" /* device/<id>  DeviceRecord */
#define KEY_UDEV "udev/"     /* udev/<user id>/<id>  empty: a user's remembered browsers */
/* Passkeys and security keys (webauthn_store.c). The credentials themselves live in their
 * user's record (UserRecord.webauthn). */
#define KEY_WACHAL "wachal/" /* wachal/<ceremony id>  WebAuthnChallengeRecord: single use */
#define KEY_WACRED "wacred/" /* wacred/<hex SHA-256 of a credential id>  the user id (unique) */

/* How the sweeper treats a prefix. */
enum key_sweep {
    KEY_KEEP,          /* kept until its owner deletes it (users, clients, keys, config) */
    KEY_WITH_RECORD,   /* an index entry: deleted together with the record it indexes */
    KEY_SWEEP_SESSION, /* SessionRecord past session.expires_at, with its usess/ entry */
    KEY_SWEEP_EXPIRES, /* any record whose int64 expires_at has passed */
    KEY_SWEEP_REFRESH, /* like KEY_SWEEP_EXPIRES, with the token's rfam/ entry */
    KEY_SWEEP_FAMILY,  /* like KEY_SWEEP_EXPIRES, with the <user_id>/<id> entry of the row
                          indexed by it (uoff/ of a refresh family, udev/ of a device) */
    KEY_SWEEP_COUNTER, /* ThrottleRecord neither locked nor inside any policy's window */
};

struct key_prefix {
    const char *prefix;
    const ProtobufCMessageDescriptor *record; /* NULL: the value is not a protobuf record */
    enum key_sweep sweep;
    const char *indexed_by; /* KEY_WITH_RECORD: the prefix whose sweep deletes it, else NULL */
};

/* Every prefix of the key space, once. */
extern const struct key_prefix key_space[];
extern const size_t key_space_len;

/* 1 when s says the sweeper deletes records under the prefix on its own. */
int key_sweep_expiring(enum key_sweep s);

/*
 * Writes prefix followed by the parts (NULL-terminated list, joined by '/') into out
 * (KEY_MAX bytes). Returns the key length, or 0 when it would not fit or a part holds '/'
 * or a NUL-free empty string where one is not allowed.
 */
size_t key_make(char out[KEY_MAX], const char *prefix, ...) __attribute__((sentinel));

#endif
