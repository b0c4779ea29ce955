/* SPDX-License-Identifier: Apache-2.0 */
/* `authctl keys rotate [--alg ES256|RS256]`: a new token signing key becomes the active one for
 * its algorithm, and that algorithm signs access tokens from then on (without --alg: the one that
 * signs them now). */
#include "ctl/ctl.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "authd/v1/oauth.pb-c.h"
#include "common/err.h"

int
ctl_cmd_keys(struct ctl *ctl, int argc, char **argv)
{
    Authd__V1__RotateKeysRequest req = AUTHD__V1__ROTATE_KEYS_REQUEST__INIT;
    struct client_args a;
    ProtobufCMessage *resp = NULL;
    int rc;

    if (argc < 1 || strcmp(argv[0], "rotate") != 0)
        return ctl_usage_error("the keys command is 'keys rotate [--alg ES256|RS256]'");
    if ((rc = ctl_parse_id_alg(ctl, argc, argv, "keys", "a", &a)) != AUTHCTL_OK)
        return rc;
    if (a.alg != NULL && strcmp(a.alg, "ES256") != 0 && strcmp(a.alg, "RS256") != 0)
        return ctl_usage_error("--alg takes ES256 or RS256");
    if (a.alg != NULL)
        req.alg = (char *)a.alg;
    rc = ctl_call(ctl, "keys rotate", "/authd.v1.ClientAdmin/RotateKeys", &req.base,
                  &authd__v1__rotate_keys_response__descriptor, &resp);
    if (rc != AUTHCTL_OK)
        return rc;
    const Authd__V1__RotateKeysResponse *kr = (const Authd__V1__RotateKeysResponse *)resp;
    if (kr->kid == NULL || kr->kid[0] == '\0') {
        rpc_msg_free(resp);
        fputs("authctl: authd returned no kid\n", stderr);
        return AUTHCTL_REFUSED;
    }
    if (ctl->json) {
        rc = ctl_print_json(json_pack("{s:s}", "kid", kr->kid));
    } else {
        ctl_print_safe(stdout, kr->kid);
        fputc('\n', stdout);
        rc = AUTHCTL_OK;
    }
    rpc_msg_free(resp);
    return rc;
}
