/* SPDX-License-Identifier: Apache-2.0 */
/* `authctl config get`: the AuthConfig as a manifest (YAML), or JSON with -o json. */
#include "ctl/ctl.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "common/err.h"
#include "ctl/manifest.h"

int
ctl_cmd_config(struct ctl *ctl, int argc, char **argv)
{
    static const struct option lo[] = {{"output", required_argument, NULL, 'o'},
                                       {NULL, 0, NULL, 0}};
    Authd__V1__GetAuthConfigRequest req = AUTHD__V1__GET_AUTH_CONFIG_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    int c;

    if (argc < 1 || strcmp(argv[0], "get") != 0)
        return ctl_usage_error("the config command is 'config get'");
    optind = 0;
    while ((c = ctl_next_opt(argc, argv, "+o:", lo)) != -1) {
        if (c != 'o' || ctl_parse_output(ctl, optarg) != 0)
            return ctl_usage_error("'config get' takes only -o text|json");
    }
    if (ctl_no_extra_args(argc, argv) != AUTHCTL_OK)
        return AUTHCTL_USAGE;
    int rc = ctl_call(ctl, NULL, "/authd.v1.Admin/GetAuthConfig", &req.base,
                      &authd__v1__auth_config__descriptor, &resp);
    if (rc != AUTHCTL_OK)
        return rc;
    json_t *j = manifest_auth_config_to_json((const Authd__V1__AuthConfig *)resp);
    rpc_msg_free(resp);
    if (ctl->json || j == NULL)
        return ctl_print_json(j);
    rc = manifest_print_yaml(stdout, j, 0) == 0 ? AUTHCTL_OK : AUTHCTL_REFUSED;
    json_decref(j);
    return rc;
}
