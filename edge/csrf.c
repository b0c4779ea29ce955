/* SPDX-License-Identifier: Apache-2.0 */
/* Double-submit CSRF tokens; see csrf.h for the scheme. */
#include "edge/csrf.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "common/secret.h"

int
csrf_token_new(char out[CSRF_TOKEN_LEN + 1])
{
    uint8_t raw[CSRF_TOKEN_BYTES];
    int r = secret_random(raw, sizeof(raw));
    if (r == AUTHD_OK)
        secret_b64url_encode(raw, sizeof(raw), out);
    else
        out[0] = '\0';
    secret_wipe(raw, sizeof(raw));
    return r;
}

int
csrf_token_valid(const char *tok)
{
    if (tok == NULL)
        return 0;
    size_t i;
    for (i = 0; tok[i] != '\0'; i++) {
        char c = tok[i];
        if (i >= CSRF_TOKEN_LEN)
            return 0;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return 0;
    }
    return i == CSRF_TOKEN_LEN;
}

int
csrf_check(const char *cookie, const char *field)
{
    if (!csrf_token_valid(cookie) || !csrf_token_valid(field))
        return 0;
    return secret_streq(cookie, field);
}

int
csrf_origin_ok(const char *origin, const char *expected)
{
    if (origin == NULL)
        return 1;
    if (expected == NULL || expected[0] == '\0')
        return 0;
    return strcasecmp(origin, expected) == 0;
}
