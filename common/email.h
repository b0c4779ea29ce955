/* SPDX-License-Identifier: Apache-2.0 */
/*
 * E-mail address normalisation and validation. The normalised form is the account key: leading
 * and trailing white space trimmed, the whole address lower-cased (as most providers and auth
 * servers treat addresses case-insensitively).
 */
#ifndef AUTHD_COMMON_EMAIL_H
#define AUTHD_COMMON_EMAIL_H

#include <stddef.h>

#define EMAIL_MAX_LEN 254

/*
 * Normalises in into out (cap bytes, at least EMAIL_MAX_LEN + 1). Accepts local@domain with a
 * non-empty local part of at most 64 printable non-space ASCII characters (no "<>()[],;:\\\"",
 * and no leading, trailing or doubled dot), and a domain of dot-separated labels (letters,
 * digits, hyphens; no label starting or ending with a hyphen; at least two labels; at most 63
 * characters each); at most EMAIL_MAX_LEN characters after trimming ASCII white space. Input
 * over 1 KiB is refused unread. AUTHD_OK, AUTHD_ERR_INVALID_EMAIL (also for in NULL; out is then
 * ""), or AUTHD_ERR_INVALID_ARGUMENT when out is NULL or cap too small.
 */
int email_normalize(const char *in, char *out, size_t cap);

#endif
