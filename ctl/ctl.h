/* SPDX-License-Identifier: Apache-2.0 */
/*
 * authctl's commands (one file each: apply.c, user.c, session.c, client.c, keys.c, config.c,
 * backup.c) and what they share (cli.c): exit codes, the command-line context, usage errors,
 * option and output helpers, the report of a failed call. The Aidbox resource <-> protobuf
 * conversion is ctl/manifest.h. Everything here runs on authctl's one thread and writes to
 * stdout/stderr.
 */
#ifndef AUTHD_CTL_CTL_H
#define AUTHD_CTL_CTL_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "common/opts.h"
#include "proto/rpc.h"

/* authctl's exit codes. */
enum authctl_exit {
    AUTHCTL_OK = 0,
    AUTHCTL_REFUSED = 1,      /* authd answered with an error */
    AUTHCTL_USAGE = 2,        /* bad command line or input */
    AUTHCTL_UNREACHABLE = 3,  /* authd cannot be reached or did not answer in time */
    AUTHCTL_BAD_MANIFEST = 4, /* the manifest cannot be read, parsed or validated */
};

/* The command line's context: the open channel (owned by main), the deadline, the format. */
struct ctl {
    struct rpc_client *client;
    const char *target;
    int timeout_ms;
    int json; /* -o json */
};

/* ---- commands: argv[0] is the subcommand word (for apply: "apply"); each returns an exit code */

int ctl_cmd_apply(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_user(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_client(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_keys(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_config(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_session(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_backup(struct ctl *ctl, int argc, char **argv);

/*
 * `authctl user sessions`: prints the sessions of user_id (borrowed) from Sessions.List, as a
 * table (ids, times, state, address, user agent; never a token) or, under -o json, an array.
 * Returns an enum authctl_exit.
 */
int ctl_user_sessions(struct ctl *ctl, const char *user_id);

/*
 * `authctl user devices` / `user forget-devices` (device.c): the remembered browsers of user_id
 * (borrowed) from Users.ListDevices, as a table or under -o json an array; or all of them
 * forgotten (Users.RevokeDevices). Return an enum authctl_exit.
 */
int ctl_user_devices(struct ctl *ctl, const char *user_id);
int ctl_user_forget_devices(struct ctl *ctl, const char *user_id);
/*
 * `authctl user import FILE|-` (import.c): bulk-loads users from JSON Lines through
 * Users.Import, --batch users per call. argv[0] is "import". Returns an enum authctl_exit.
 */
int ctl_user_import(struct ctl *ctl, int argc, char **argv);
/* `authctl device revoke --id ID` (device.c). */
int ctl_cmd_device(struct ctl *ctl, int argc, char **argv);

/*
 * `authctl apply -f path` ("-" is standard input): reads and validates the whole manifest
 * first (nothing is applied when any resource is wrong), then applies the resources in order
 * through ctl's channel, printing "AuthConfig/app configured", "User/alice
 * created|updated|unchanged", "Client/web configured". Stops at the first failure. Returns an enum
 * authctl_exit.
 */
int ctl_apply(struct ctl *ctl, const char *path);

/* ---- shared helpers (cli.c) --------------------------------------------------------------- */

/* Prints "authctl: <message>" and the --help hint on stderr; returns AUTHCTL_USAGE. */
int ctl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The slots of the argv ctl_take_word() leaves behind: the longest command line it takes. */
#define CTL_REST_MAX 16

/*
 * Takes the word after the subcommand (the operand of `backup DIR`, `keys retire KID`) out of
 * *argc and *argv, so that the options around it are parsed as if it were not there (--help
 * included). argv[1] is the word unless it is empty or begins with '-'; `-- WORD` takes a word
 * that begins with '-' (a base64url kid may). On a word taken, *word points at it (in argv,
 * borrowed) and *argc, *argv are rebuilt in rest (the caller's CTL_REST_MAX slots, argv[0]
 * first, NULL-terminated); otherwise *word is NULL and argv is left as it was. AUTHCTL_OK, or
 * a usage error naming what (e.g. "backup") for a command line longer than rest.
 */
int ctl_take_word(int *argc, char ***argv, char **rest, const char *what, const char **word);

/* -o text|json into ctl->json. 0, or -1 for another word. */
int ctl_parse_output(struct ctl *ctl, const char *s);

/* What ctl_parse_sub() returns when a subcommand printed its --help: authctl then exits 0. */
#define AUTHCTL_HELPED (-1)

/* The -o row of a subcommand's option table; type is its options struct (field output). */
#define CTL_OUTPUT_ROW(type)                                                                       \
    {                                                                                              \
        "output", 'o', NULL, OPTS_CHOICE, "FORMAT", 0, 0, "text|json", NULL, "output format",      \
            OPTS_FIELD(type, output)                                                               \
    }

/*
 * Parses a subcommand's options (argv[0] is the subcommand word) with its table p into out,
 * which the caller zeroed; *output (out's output field) then sets ctl->json when given.
 * AUTHCTL_OK, AUTHCTL_USAGE (reported on stderr) or AUTHCTL_HELPED.
 */
int ctl_parse_sub(struct ctl *ctl, const struct opts_program *p, int argc, char **argv, void *out,
                  const char *const *output);

/* The options of 'client SUB' and 'keys SUB'. */
struct client_args {
    const char *id;
    const char *alg;
    int now; /* keys rotate --now */
    const char *output;
};

/*
 * Parses --id, --alg and -o for 'cmd argv[0]' (cmd: "client" or "keys"); allowed lists the
 * letters SUB takes (i: --id, a: --alg, n: --now), so that nothing is silently ignored. a's strings
 * are borrowed from argv.
 */
int ctl_parse_id_alg(struct ctl *ctl, int argc, char **argv, const char *cmd, const char *allowed,
                     struct client_args *a);

/* Prints j (taken: released here) as indented JSON; NULL reports out of memory. */
int ctl_print_json(json_t *j);

/* "name" padded to 11 columns, then value made safe, then a newline, on stdout. */
void ctl_print_field(const char *name, const char *value);

/* s (control characters replaced), then spaces up to width columns, on stdout. */
void ctl_print_padded(const char *s, size_t width);

/* Writes s to f with control characters replaced by '?' (server text on a terminal). */
void ctl_print_safe(FILE *f, const char *s);

/*
 * Reports a failed rpc_call() on stderr as "authctl: [what: ]<reason>: <message>" (st may be
 * NULL; control characters from the server are replaced) and returns the exit code for err:
 * AUTHCTL_UNREACHABLE for AUTHD_ERR_UNAVAILABLE/AUTHD_ERR_DEADLINE, else AUTHCTL_REFUSED.
 */
int ctl_rpc_failed(const char *what, int err, const struct rpc_status *st);

/*
 * rpc_call() on ctl's channel with ctl's deadline. AUTHCTL_OK with *resp set (free it with
 * rpc_msg_free()), or the exit code from ctl_rpc_failed(what, ...) with *resp NULL.
 */
int ctl_call(struct ctl *ctl, const char *what, const char *method, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp);

/*
 * ctl_call() for a call about one thing the operator named (kind "user", "client", "session";
 * name borrowed, e.g. the e-mail given): a not_found or already_exists answer is reported as
 * "authctl: <kind> <name> not found (not_found)" ("already exists"), other failures as
 * ctl_call() reports them. name NULL: exactly ctl_call(ctl, NULL, ...).
 */
int ctl_call_named(struct ctl *ctl, const char *kind, const char *name, const char *method,
                   const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
                   ProtobufCMessage **resp);

/*
 * 1 when a command group's first word asks for its help (--help, -h, help): the group then parses
 * ctl_help_argv() ({"help", "--help"}, 2 words: static, never written) with its option table,
 * which prints the group's usage and options on stdout and answers AUTHCTL_HELPED.
 */
int ctl_wants_help(int argc, char **argv);
char **ctl_help_argv(void);

/* Prints "<kind>/<id> <verb>" on stdout, id made safe ("User/u1 deleted"). */
void ctl_print_done(const char *kind, const char *id, const char *verb);

#endif
