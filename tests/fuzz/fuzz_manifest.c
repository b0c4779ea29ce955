/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: YAML manifest to resources (ctl/manifest.h manifest_parse). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "ctl/manifest.h"
#include "common/secret.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0'; /* as manifest_read() hands it over */
    char err[256];
    struct manifest *m = (struct manifest *)1;
    err[0] = 'x';
    int rc = manifest_parse(text, size, &m, err, sizeof(err));
    if (rc == AUTHD_OK) {
        if (m == NULL || m->n == 0)
            abort();
        for (size_t i = 0; i < m->n; i++) {
            const struct manifest_resource *r = &m->items[i];
            if (r->name == NULL || r->name[0] == '\0')
                abort();
            json_t *j = NULL;
            switch (r->kind) {
            case MANIFEST_AUTH_CONFIG:
                if (!r->auth_config)
                    abort();
                j = manifest_auth_config_to_json(r->auth_config);
                break;
            case MANIFEST_USER:
                if (!r->user)
                    abort();
                break;
            case MANIFEST_CLIENT:
                if (!r->client)
                    abort();
                j = manifest_client_to_json(r->client);
                break;
            default:
                abort();
            }
            json_decref(j);
        }
        manifest_free(m);
    } else {
        if (memchr(err, '\0', sizeof(err)) == NULL)
            abort(); /* the message is NUL-terminated */
    }
    secret_freezero(text, size + 1);
    return 0;
}
