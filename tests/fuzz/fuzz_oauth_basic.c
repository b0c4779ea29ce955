/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the HTTP Basic client-credentials parser (edge/oauth_util.h). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "edge/oauth_util.h"
#include "common/secret.h"

static void
check_part(const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);
    if (n > max)
        abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
            abort(); /* no control bytes */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 1);
    if (!in)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    struct edge_oauth_basic b;
    memset(&b, 0xa5, sizeof(b));
    int rc = edge_oauth_basic_parse(in, &b);
    if (rc == AUTHD_OK) {
        if (b.present) {
            check_part(b.id, EDGE_OAUTH_CLIENT_ID_MAX);
            check_part(b.secret, EDGE_OAUTH_CLIENT_SECRET_MAX);
            if (b.id[0] == '\0')
                abort(); /* the id may not be empty */
        } else if (b.id[0] != '\0' || b.secret[0] != '\0') {
            abort();
        }
    } else if (rc == AUTHD_ERR_INVALID_ARGUMENT || rc == AUTHD_ERR_TOO_LARGE) {
        if (!b.present || b.id[0] != '\0' || b.secret[0] != '\0')
            abort();
    } else {
        abort();
    }
    secret_wipe(&b, sizeof(b));
    free(in);
    return 0;
}
