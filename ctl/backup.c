/* SPDX-License-Identifier: Apache-2.0 */
/* `authctl backup DIR`: authd copies its RocksDB store, while it serves, into DIR on authd's
 * host (Admin.Backup). */
#include "ctl/ctl.h"

#include <stdio.h>
#include <string.h>

#include "authd/v1/admin.pb-c.h"
#include "common/err.h"

struct backup_args {
    const char *output;
};

int
ctl_cmd_backup(struct ctl *ctl, int argc, char **argv)
{
    static const struct opts_spec table[] = {
        CTL_OUTPUT_ROW(struct backup_args),
    };
    static const struct opts_program program = {
        .name = "authctl backup",
        .synopsis =
            "usage: authctl backup DIR\n"
            "authd copies its RocksDB store, while it serves, into DIR: an absolute path on\n"
            "authd's host (not this one, unless authd runs here), written by authd's user.\n"
            "DIR must not exist (its parent must) or be empty. Every write authd acknowledged\n"
            "before the backup began is in the copy. Restore: stop authd, then start it with\n"
            "--data-dir DIR (or copy DIR's files into an empty data directory). On PostgreSQL\n"
            "use pg_dump or pg_basebackup instead. A large store may need a longer --timeout.\n",
        .specs = table,
        .n_specs = sizeof(table) / sizeof(table[0]),
    };
    Authd__V1__BackupRequest req = AUTHD__V1__BACKUP_REQUEST__INIT;
    struct backup_args a = {0};
    ProtobufCMessage *resp = NULL;
    char *rest[CTL_REST_MAX];
    const char *dir = NULL;

    /* The directory is the word after "backup"; the options are parsed without it. */
    int rc = ctl_take_word(&argc, &argv, rest, "backup", &dir);
    if (rc != AUTHCTL_OK)
        return rc;
    rc = ctl_parse_sub(ctl, &program, argc, argv, &a, &a.output);
    if (rc != AUTHCTL_OK)
        return rc;
    if (dir == NULL)
        return ctl_usage_error("'backup' needs the directory to write (on authd's host)");
    /* authd resolves nothing against its own working directory: say so here, before the call. */
    if (dir[0] != '/')
        return ctl_usage_error("the backup directory must be an absolute path on authd's host");
    req.dir = (char *)dir;
    rc = ctl_call(ctl, "backup", "/authd.v1.Admin/Backup", &req.base,
                  &authd__v1__backup_response__descriptor, &resp);
    if (rc != AUTHCTL_OK)
        return rc;
    const Authd__V1__BackupResponse *br = (const Authd__V1__BackupResponse *)resp;
    if (ctl->json) {
        rc = ctl_print_json(
            json_pack("{s:s, s:I}", "dir", br->dir, "taken_at", (json_int_t)br->taken_at));
    } else {
        fputs("backup written to ", stdout);
        ctl_print_safe(stdout, br->dir);
        fputs(" (on authd's host)\n", stdout);
        rc = AUTHCTL_OK;
    }
    rpc_msg_free(resp);
    return rc;
}
