/* SPDX-License-Identifier: Apache-2.0 */
/* Storage key construction; see keys.h for the key space. */
#include <stdarg.h>
#include <string.h>

#include "authd/keys.h"

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
