/* SPDX-License-Identifier: Apache-2.0 */
/* `authctl config get`: the AuthConfig as a manifest (YAML), or JSON with -o json. */
#include "ctl/ctl.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "common/err.h"
#include "ctl/manifest.h"

struct config_args {
    const char *output;
};

int
ctl_cmd_config(struct ctl *ctl, int argc, char **argv)
{
    static const struct opts_spec table[] = {CTL_OUTPUT_ROW(struct config_args)};
    static const struct opts_program program = {
        .name = "authctl config",
        .synopsis = "usage: authctl config get\n",
        .specs = table,
        .n_specs = 1,
    };
    Authd__V1__GetAuthConfigRequest req = AUTHD__V1__GET_AUTH_CONFIG_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    struct config_args a = {0};

    if (ctl_wants_help(argc, argv))
        return ctl_parse_sub(ctl, &program, 2, ctl_help_argv(), &a, &a.output);
    if (argc < 1 || strcmp(argv[0], "get") != 0)
        return ctl_usage_error("the config command is 'config get'");
    int rc = ctl_parse_sub(ctl, &program, argc, argv, &a, &a.output);
    if (rc != AUTHCTL_OK)
        return rc;
    rc = ctl_call(ctl, NULL, "/authd.v1.Admin/GetAuthConfig", &req.base,
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
