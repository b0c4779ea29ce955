/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Remembered browsers ("Don't ask again on this browser", authd/device.h): `authctl user devices`
 * lists a user's (Users.ListDevices), `authctl user forget-devices` forgets them all and
 * `authctl device revoke --id ID` one (Users.RevokeDevices). Device ids are public handles;
 * their tokens are never shown.
 */
#include "ctl/ctl.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "authd/v1/common.pb-c.h"
#include "authd/v1/users.pb-c.h"
#include "common/err.h"

/* RFC 3339 UTC text of unix seconds t into buf ("-" for 0: never). */
static const char *
time_text(int64_t t, char *buf, size_t cap)
{
    struct tm tm;
    time_t tt = (time_t)t;

    if (t == 0 || gmtime_r(&tt, &tm) == NULL || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return "-";
    return buf;
}

int
ctl_user_devices(struct ctl *ctl, const char *user_id)
{
    Authd__V1__ListUserDevicesRequest req = AUTHD__V1__LIST_USER_DEVICES_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    char c[32], e[32], u[32];

    req.id = (char *)user_id;
    int rc = ctl_call_named(ctl, "user", user_id, "/authd.v1.Users/ListDevices", &req.base,
                            &authd__v1__device_list__descriptor, &resp);
    if (rc != AUTHCTL_OK)
        return rc;
    const Authd__V1__DeviceList *l = (const Authd__V1__DeviceList *)resp;
    if (ctl->json) {
        json_t *all = json_array();
        for (size_t i = 0; all != NULL && i < l->n_devices; i++) {
            const Authd__V1__Device *d = l->devices[i];
            json_t *j =
                json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", d->id, "user_id", d->user_id,
                          "label", d->label, "created_at", time_text(d->created_at, c, sizeof(c)),
                          "expires_at", time_text(d->expires_at, e, sizeof(e)), "last_used_at",
                          time_text(d->last_used_at, u, sizeof(u)));
            if (j == NULL || json_array_append_new(all, j) != 0) {
                json_decref(all);
                all = NULL;
            }
        }
        rpc_msg_free(resp);
        return ctl_print_json(all);
    }
    if (l->n_devices == 0)
        puts("no remembered browsers");
    else
        printf("%-24s  %-20s  %-20s  %-20s  %s\n", "ID", "ADDED", "EXPIRES", "LAST_USED", "LABEL");
    for (size_t i = 0; i < l->n_devices; i++) {
        const Authd__V1__Device *d = l->devices[i];
        ctl_print_padded(d->id, 24);
        printf("  %-20s  %-20s  %-20s  ", time_text(d->created_at, c, sizeof(c)),
               time_text(d->expires_at, e, sizeof(e)), time_text(d->last_used_at, u, sizeof(u)));
        ctl_print_safe(stdout, d->label);
        fputc('\n', stdout);
    }
    rpc_msg_free(resp);
    return AUTHCTL_OK;
}

/* Users.RevokeDevices by the user's id (all of theirs) or by a device id; prints the count. */
static int
revoke(struct ctl *ctl, const char *user_id, const char *device_id)
{
    Authd__V1__RevokeDevicesRequest req = AUTHD__V1__REVOKE_DEVICES_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    req.id = (char *)(user_id != NULL ? user_id : "");
    req.device_id = (char *)(device_id != NULL ? device_id : "");
    int rc = ctl_call_named(ctl, user_id != NULL ? "user" : "device",
                            user_id != NULL ? user_id : device_id, "/authd.v1.Users/RevokeDevices",
                            &req.base, &authd__v1__revoke_devices_response__descriptor, &resp);
    if (rc != AUTHCTL_OK)
        return rc;
    unsigned n = ((const Authd__V1__RevokeDevicesResponse *)resp)->revoked;
    rpc_msg_free(resp);
    if (ctl->json)
        return ctl_print_json(json_pack("{s:s, s:s, s:i}", user_id != NULL ? "user_id" : "id",
                                        user_id != NULL ? user_id : device_id, "kind",
                                        user_id != NULL ? "user" : "device", "revoked", (int)n));
    if (user_id != NULL) {
        fputs("User ", stdout);
        ctl_print_safe(stdout, user_id);
        printf(": %u remembered browser%s forgotten\n", n, n == 1 ? "" : "s");
    } else {
        ctl_print_done("Device", device_id, "revoked");
    }
    return AUTHCTL_OK;
}

int
ctl_user_forget_devices(struct ctl *ctl, const char *user_id)
{
    return revoke(ctl, user_id, NULL);
}

struct device_args {
    const char *id;
    const char *output;
};

#define F(member) OPTS_FIELD(struct device_args, member)
static const struct opts_spec device_table[] = {
    {"id", 0, NULL, OPTS_STRING, "ID", 0, 0, NULL, NULL,
     "the remembered browser's id (as 'user devices' lists it)", F(id)},
    CTL_OUTPUT_ROW(struct device_args),
};
#undef F

int
ctl_cmd_device(struct ctl *ctl, int argc, char **argv)
{
    static const struct opts_program program = {
        .name = "authctl device",
        .synopsis = "usage: authctl device revoke --id ID\n"
                    "Forget one remembered browser: its next login asks for the second factor\n"
                    "again. 'authctl user devices' lists a user's; 'authctl user\n"
                    "forget-devices' forgets them all.\n",
        .specs = device_table,
        .n_specs = sizeof(device_table) / sizeof(device_table[0]),
    };
    struct device_args a;
    int rc;

    memset(&a, 0, sizeof(a));
    if (ctl_wants_help(argc, argv))
        return ctl_parse_sub(ctl, &program, 2, ctl_help_argv(), &a, &a.output);
    if (argc < 1)
        return ctl_usage_error("'device' needs a subcommand (revoke)");
    if ((rc = ctl_parse_sub(ctl, &program, argc, argv, &a, &a.output)) != AUTHCTL_OK)
        return rc;
    if (strcmp(argv[0], "revoke") != 0)
        return ctl_usage_error("unknown command 'device %s'", argv[0]);
    if (a.id == NULL || a.id[0] == '\0')
        return ctl_usage_error("'device revoke' needs --id");
    return revoke(ctl, NULL, a.id);
}
