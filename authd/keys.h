/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The storage key space. Every record authd keeps is under one of these prefixes:
 *   user/<id>                 UserRecord
 *   email/<normalised email>  user id (unique index, written in the same transaction)
 *   session/<session id>      SessionRecord
 *   usess/<user id>/<sid>     empty (index of a user's sessions)
 *   signup/<token id>         OneTimeRecord (e-mail confirmation)
 *   reset/<token id>          OneTimeRecord (password reset)
 *   config/authconfig         ConfigRecord
 * Keys are built into a caller's fixed buffer; components are bounded (ids, normalised e-mails).
 */
#ifndef AUTHD_KEYS_H
#define AUTHD_KEYS_H

#include <stddef.h>

#define KEY_MAX 512

#define KEY_USER "user/"
#define KEY_EMAIL "email/"
#define KEY_SESSION "session/"
#define KEY_USESS "usess/"
#define KEY_SIGNUP "signup/"
#define KEY_RESET "reset/"
#define KEY_CONFIG "config/authconfig"

/*
 * Writes prefix followed by the parts (NULL-terminated list, joined by '/') into out
 * (KEY_MAX bytes). Returns the key length, or 0 when it would not fit or a part holds '/'
 * or a NUL-free empty string where one is not allowed.
 */
size_t key_make(char out[KEY_MAX], const char *prefix, ...) __attribute__((sentinel));

#endif
