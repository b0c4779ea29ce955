/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the application/x-www-form-urlencoded parser (edge/form.h). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "edge/form.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* form_parse takes (bytes, len): pass an exact-size copy so ASan sees any over-read. */
    char *in = malloc(size ? size : 1);
    if (!in)
        return 0;
    if (size)
        memcpy(in, data, size);
    struct form *f = (struct form *)1;
    int rc = form_parse(size ? in : NULL, size, &f);
    if (rc != AUTHD_OK) {
        if (f != NULL)
            abort(); /* *out is NULL on failure */
        if (size <= FORM_MAX_INPUT && rc == AUTHD_ERR_TOO_LARGE)
            abort();
        free(in);
        return 0;
    }
    if (f == NULL || f->n > FORM_MAX_FIELDS)
        abort();
    if (size > FORM_MAX_INPUT)
        abort();
    for (size_t i = 0; i < f->n; i++) {
        const char *k = f->fields[i].key, *v = f->fields[i].value;
        if (!k || !v)
            abort();
        /* Decoding never grows: each key and value is at most the input's size. */
        if (strlen(k) > size || strlen(v) > size)
            abort();
        /* form_get returns the first field with that key. */
        const char *got = form_get(f, k);
        size_t first = 0;
        while (strcmp(f->fields[first].key, k) != 0)
            first++;
        if (got != f->fields[first].value)
            abort();
        if (form_count(f, k) == 0)
            abort();
    }
    form_free(f);
    free(in);
    return 0;
}
