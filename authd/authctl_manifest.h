/* SPDX-License-Identifier: Apache-2.0 */
/*
 * authctl's `apply` command (validate a whole manifest, then create or update each resource
 * over RPC, one output line per resource) and the few helpers authctl's commands share: exit
 * codes and the report of a failed call. The manifest parsing itself is authd/manifest.h.
 */
#ifndef AUTHD_AUTHCTL_MANIFEST_H
#define AUTHD_AUTHCTL_MANIFEST_H

#include <stdio.h>

#include "proto/rpc.h"

/* authctl's exit codes. */
enum authctl_exit {
    AUTHCTL_OK = 0,
    AUTHCTL_REFUSED = 1,      /* authd answered with an error */
    AUTHCTL_USAGE = 2,        /* bad command line or input */
    AUTHCTL_UNREACHABLE = 3,  /* authd cannot be reached or did not answer in time */
    AUTHCTL_BAD_MANIFEST = 4, /* the manifest cannot be read, parsed or validated */
};

/*
 * Reports a failed rpc_call() on stderr as "authctl: [what: ]<reason>: <message>" (st may be
 * NULL; control characters from the server are replaced) and returns the exit code for err:
 * AUTHCTL_UNREACHABLE for AUTHD_ERR_UNAVAILABLE/AUTHD_ERR_DEADLINE, else AUTHCTL_REFUSED.
 */
int authctl_rpc_failed(const char *what, int err, const struct rpc_status *st);

/* Writes s to f with control characters replaced by '?' (server text on a terminal). */
void authctl_print_safe(FILE *f, const char *s);

/*
 * `authctl apply -f path` ("-" is standard input): reads and validates the whole manifest
 * first (nothing is applied when any resource is wrong), then applies the resources in order
 * through c, printing "AuthConfig/app configured", "User/alice created|updated|unchanged",
 * "Client/web configured".
 * Stops at the first failure. Returns an enum authctl_exit.
 */
int authctl_apply(struct rpc_client *c, const char *path, int timeout_ms);

#endif
