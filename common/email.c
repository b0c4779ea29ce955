/* SPDX-License-Identifier: Apache-2.0 */
/*
 * E-mail address normalisation and validation for account keys. Deliberately narrower than
 * RFC 5322 (no quoted local parts, comments or address literals): what every mail provider
 * hands out and every form accepts, and nothing that could confuse a header or a log line.
 */
#include "common/email.h"

#include <string.h>

#include "common/err.h"

#define EMAIL_INPUT_MAX 1024 /* longer input is refused before trimming */
#define EMAIL_LOCAL_MAX 64
#define EMAIL_LABEL_MAX 63

static int
is_ascii_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static unsigned char
ascii_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

/* Printable non-space ASCII except the characters that delimit or quote in mail headers. */
static int
local_char_ok(unsigned char c)
{
    return c > 0x20 && c < 0x7F && strchr("<>()[],;:\\\"@", c) == NULL;
}

static int
local_ok(const char *s, size_t len)
{
    if (len == 0 || len > EMAIL_LOCAL_MAX)
        return 0;
    /* Dots separate atoms (RFC 5322 dot-atom): none leading, trailing or doubled. */
    if (s[0] == '.' || s[len - 1] == '.')
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (!local_char_ok((unsigned char)s[i]))
            return 0;
        if (s[i] == '.' && i + 1 < len && s[i + 1] == '.')
            return 0;
    }
    return 1;
}

/* s is already lower-cased. */
static int
domain_ok(const char *s, size_t len)
{
    size_t labels = 0, start = 0;

    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != '.') {
            char c = s[i];
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
                return 0;
            continue;
        }
        size_t n = i - start;
        if (n == 0 || n > EMAIL_LABEL_MAX || s[start] == '-' || s[i - 1] == '-')
            return 0;
        labels++;
        start = i + 1;
    }
    return labels >= 2;
}

int
email_normalize(const char *in, char *out, size_t cap)
{
    if (out != NULL && cap > 0)
        out[0] = '\0';
    if (out == NULL || cap < EMAIL_MAX_LEN + 1)
        return AUTHD_ERR_INVALID_ARGUMENT;
    if (in == NULL)
        return AUTHD_ERR_INVALID_EMAIL;

    size_t len = strnlen(in, EMAIL_INPUT_MAX + 1);
    if (len > EMAIL_INPUT_MAX)
        return AUTHD_ERR_INVALID_EMAIL;
    while (len > 0 && is_ascii_space((unsigned char)in[0])) {
        in++;
        len--;
    }
    while (len > 0 && is_ascii_space((unsigned char)in[len - 1]))
        len--;
    if (len == 0 || len > EMAIL_MAX_LEN)
        return AUTHD_ERR_INVALID_EMAIL;

    for (size_t i = 0; i < len; i++)
        out[i] = (char)ascii_lower((unsigned char)in[i]);
    out[len] = '\0';

    const char *at = memchr(out, '@', len);
    if (at == NULL || memchr(at + 1, '@', len - (size_t)(at - out) - 1) != NULL)
        goto bad;
    size_t local_len = (size_t)(at - out);
    if (!local_ok(out, local_len) || !domain_ok(at + 1, len - local_len - 1))
        goto bad;
    return AUTHD_OK;
bad:
    out[0] = '\0';
    return AUTHD_ERR_INVALID_EMAIL;
}
