/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: e-mail normalisation (common/email.h). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/email.h"
#include "common/err.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 1);
    if (!in)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    char out[EMAIL_MAX_LEN + 1];
    int rc = email_normalize(in, out, sizeof(out));
    if (rc == AUTHD_OK) {
        size_t n = strlen(out);
        if (n == 0 || n > EMAIL_MAX_LEN)
            abort();
        if (strchr(out, '@') == NULL)
            abort();
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)out[i];
            if (c >= 'A' && c <= 'Z')
                abort(); /* lower-cased */
            if (c <= ' ' || c >= 0x7f)
                abort(); /* printable, no spaces (trimmed) */
        }
        /* Normalising is idempotent. */
        char again[EMAIL_MAX_LEN + 1];
        if (email_normalize(out, again, sizeof(again)) != AUTHD_OK)
            abort();
        if (strcmp(out, again) != 0)
            abort();
    } else if (rc != AUTHD_ERR_INVALID_EMAIL) {
        abort();
    }
    free(in);
    return 0;
}
