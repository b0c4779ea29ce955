/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the callers file (authd/callers.h callers_load), YAML read with libyaml's
 * event API. Beyond crashes and leaks it checks the contract: a refused file leaves the map as
 * it was and says why with "<name>:", and loading an accepted, non-empty file a second time is
 * refused (every identity is then already listed) without changing the map.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "authd/callers.h"
#include "common/err.h"

#define NAME "fuzz.yaml"

/* A refusal: one of the documented errors, a NUL-terminated message naming the file. */
static void
check_refusal(int rc, const char *err, size_t errlen)
{
    if (rc != AUTHD_ERR_INVALID_ARGUMENT && rc != AUTHD_ERR_TOO_LARGE && rc != AUTHD_ERR_NOMEM)
        abort();
    if (memchr(err, '\0', errlen) == NULL)
        abort();
    if (strncmp(err, NAME ":", sizeof(NAME)) != 0)
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The text is not NUL-terminated: callers_load() must stay within size bytes. */
    const char *text = (const char *)data;
    struct callers *c = NULL;
    if (callers_new(NULL, ROLE_SERVICE, &c) != AUTHD_OK)
        return 0;
    char err[256];
    memset(err, 'x', sizeof(err));
    int rc = callers_load(c, NAME, text, size, err, sizeof(err));
    size_t n = callers_count(c);
    if (rc == AUTHD_OK) {
        if (err[0] != '\0' || n > CALLERS_MAX_ENTRIES)
            abort();
        /* Nobody may be mapped to no role, and the empty name is never an identity. */
        if (callers_identity_roles(c, "") != 0 || callers_anonymous_roles(c) != ROLE_SERVICE)
            abort();
        if (n > 0) {
            memset(err, 'x', sizeof(err));
            rc = callers_load(c, NAME, text, size, err, sizeof(err));
            if (rc == AUTHD_OK)
                abort();
            check_refusal(rc, err, sizeof(err));
            if (callers_count(c) != n)
                abort();
        }
    } else {
        check_refusal(rc, err, sizeof(err));
        if (n != 0)
            abort();
    }
    callers_free(c);
    return 0;
}
