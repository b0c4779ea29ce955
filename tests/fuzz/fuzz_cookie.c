/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the Cookie header parser (edge/cookie.h). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "edge/cookie.h"
#include "common/err.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *hdr = malloc(size + 1);
    if (!hdr)
        return 0;
    memcpy(hdr, data, size);
    hdr[size] = '\0';
    size_t slen = strlen(hdr); /* the header the parser sees ends at the first NUL */
    struct cookie_jar *j = (struct cookie_jar *)1;
    int rc = cookie_parse(hdr, &j);
    if (rc != AUTHD_OK) {
        if (j != NULL)
            abort();
        if (rc == AUTHD_ERR_TOO_LARGE && slen <= COOKIE_MAX_HEADER)
            abort();
        free(hdr);
        return 0;
    }
    if (j == NULL || j->n > COOKIE_MAX)
        abort();
    for (size_t i = 0; i < j->n; i++) {
        const char *name = j->c[i].name, *value = j->c[i].value;
        if (!name || !value || name[0] == '\0')
            abort();
        if (strlen(name) > slen || strlen(value) > slen)
            abort();
        const char *got = cookie_get(j, name);
        if (got == NULL)
            abort();
    }
    cookie_jar_free(j);
    free(hdr);
    return 0;
}
