/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A user's sessions: `authctl user sessions` lists them (Sessions.List), `authctl session revoke
 * --id SID` ends one by its public id (Sessions.Revoke with session_id, which authd allows the
 * admin role only). Session ids are no secret (every ID token's sid); tokens are never shown.
 */
#include "ctl/ctl.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "authd/v1/sessions.pb-c.h"
#include "common/err.h"

/* RFC 3339 UTC text of unix seconds t into buf ("-" for 0, unknown). */
static const char *
time_text(int64_t t, char *buf, size_t cap)
{
    struct tm tm;
    time_t tt = (time_t)t;

    if (t == 0 || gmtime_r(&tt, &tm) == NULL || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return "-";
    return buf;
}

/* One session as JSON: its fields under the names of Session in sessions.proto's JSON form. */
static json_t *
session_json(const Authd__V1__Session *s)
{
    char c[32], e[32], at[32];
    json_t *amr = json_array();
    json_t *o;

    for (size_t i = 0; amr != NULL && i < s->n_amr; i++)
        if (json_array_append_new(amr, json_string(s->amr[i])) != 0) {
            json_decref(amr);
            return NULL;
        }
    if (amr == NULL)
        return NULL;
    o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:o}", "id", s->id, "user_id",
                  s->user_id, "created_at", time_text(s->created_at, c, sizeof(c)), "expires_at",
                  time_text(s->expires_at, e, sizeof(e)), "client_ip", s->client_ip, "user_agent",
                  s->user_agent, "authenticated", s->authenticated, "auth_time",
                  time_text(s->auth_time, at, sizeof(at)), "amr", amr);
    return o;
}

int
ctl_user_sessions(struct ctl *ctl, const char *user_id)
{
    Authd__V1__ListSessionsRequest req = AUTHD__V1__LIST_SESSIONS_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    int rc;

    req.user_id = (char *)user_id;
    rc = ctl_call(ctl, NULL, "/authd.v1.Sessions/List", &req.base,
                  &authd__v1__list_sessions_response__descriptor, &resp);
    if (rc != AUTHCTL_OK)
        return rc;
    const Authd__V1__ListSessionsResponse *lr = (const Authd__V1__ListSessionsResponse *)resp;
    if (ctl->json) {
        json_t *all = json_array();
        for (size_t i = 0; all != NULL && i < lr->n_sessions; i++) {
            json_t *j = session_json(lr->sessions[i]);
            if (j == NULL || json_array_append_new(all, j) != 0) {
                json_decref(all);
                all = NULL;
            }
        }
        rpc_msg_free(resp);
        return ctl_print_json(all);
    }
    if (lr->n_sessions == 0)
        puts("no sessions");
    else
        printf("%-24s  %-20s  %-20s  %-9s  %-15s  %s\n", "ID", "CREATED", "EXPIRES", "STATE",
               "CLIENT_IP", "USER_AGENT");
    for (size_t i = 0; i < lr->n_sessions; i++) {
        const Authd__V1__Session *s = lr->sessions[i];
        char c[32], e[32];
        ctl_print_padded(s->id, 24);
        printf("  %-20s  %-20s  %-9s  ", time_text(s->created_at, c, sizeof(c)),
               time_text(s->expires_at, e, sizeof(e)), s->authenticated ? "active" : "pending");
        ctl_print_padded(s->client_ip[0] != '\0' ? s->client_ip : "-", 15);
        fputs("  ", stdout);
        ctl_print_safe(stdout, s->user_agent[0] != '\0' ? s->user_agent : "-");
        fputc('\n', stdout);
    }
    rpc_msg_free(resp);
    return AUTHCTL_OK;
}

struct session_args {
    const char *id;
    const char *output;
};

#define F(member) OPTS_FIELD(struct session_args, member)
static const struct opts_spec session_table[] = {
    {"id", 0, NULL, OPTS_STRING, "SID", 0, 0, NULL, NULL,
     "the session's public id (as 'user sessions' lists it, an ID token's sid)", F(id)},
    CTL_OUTPUT_ROW(struct session_args),
};
#undef F

int
ctl_cmd_session(struct ctl *ctl, int argc, char **argv)
{
    static const struct opts_program program = {
        .name = "authctl session",
        .synopsis = "usage: authctl session revoke --id SID\n"
                    "End one session (and every token issued under it); 'authctl user sessions'\n"
                    "lists a user's sessions.\n",
        .specs = session_table,
        .n_specs = sizeof(session_table) / sizeof(session_table[0]),
    };
    Authd__V1__RevokeSessionRequest req = AUTHD__V1__REVOKE_SESSION_REQUEST__INIT;
    struct session_args a;
    ProtobufCMessage *resp = NULL;
    int rc;

    memset(&a, 0, sizeof(a));
    if (ctl_wants_help(argc, argv))
        return ctl_parse_sub(ctl, &program, 2, ctl_help_argv(), &a, &a.output);
    if (argc < 1)
        return ctl_usage_error("'session' needs a subcommand (revoke)");
    if ((rc = ctl_parse_sub(ctl, &program, argc, argv, &a, &a.output)) != AUTHCTL_OK)
        return rc;
    if (strcmp(argv[0], "revoke") != 0)
        return ctl_usage_error("unknown command 'session %s'", argv[0]);
    if (a.id == NULL || a.id[0] == '\0')
        return ctl_usage_error("'session revoke' needs --id");
    req.session_id = (char *)a.id;
    rc = ctl_call_named(ctl, "session", a.id, "/authd.v1.Sessions/Revoke", &req.base,
                        &authd__v1__empty__descriptor, &resp);
    if (rc != AUTHCTL_OK)
        return rc;
    rpc_msg_free(resp);
    if (ctl->json)
        return ctl_print_json(json_pack("{s:s, s:b}", "id", a.id, "revoked", 1));
    ctl_print_done("Session", a.id, "revoked");
    return AUTHCTL_OK;
}
