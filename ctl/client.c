/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `authctl client get|list|delete`. A client prints as a manifest that applies back unchanged;
 * its secret never leaves authd (has_secret says whether one is set).
 */
#include "ctl/ctl.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "common/err.h"
#include "ctl/manifest.h"

/* A client as YAML (a manifest that applies back unchanged, keeping the secret), or JSON. */
static int
print_client(const struct ctl *ctl, const Authd__V1__Client *c)
{
    json_t *j = manifest_client_to_json(c);
    if (ctl->json || j == NULL)
        return ctl_print_json(j);
    /* has_secret is read-only, not a manifest field: shown as a comment. */
    printf("# has_secret: %s%s\n", c->has_secret ? "true" : "false",
           c->has_secret ? " (write-only; applying this without a secret keeps it)" : "");
    json_object_del(j, "has_secret");
    int rc = manifest_print_yaml(stdout, j, 0) == 0 ? AUTHCTL_OK : AUTHCTL_REFUSED;
    json_decref(j);
    return rc;
}

/* The grant types of c, comma-separated ("-" for none). */
static void
print_grant_types(const Authd__V1__Client *c)
{
    if (c->n_grant_types == 0)
        fputc('-', stdout);
    for (size_t i = 0; i < c->n_grant_types; i++) {
        if (i > 0)
            fputc(',', stdout);
        ctl_print_safe(stdout, c->grant_types[i]);
    }
}

static int
client_list(struct ctl *ctl)
{
    Authd__V1__ListClientsRequest req = AUTHD__V1__LIST_CLIENTS_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    int rc = ctl_call(ctl, NULL, "/authd.v1.ClientAdmin/List", &req.base,
                      &authd__v1__list_clients_response__descriptor, &resp);
    if (rc != AUTHCTL_OK)
        return rc;
    const Authd__V1__ListClientsResponse *lr = (const Authd__V1__ListClientsResponse *)resp;
    if (ctl->json) {
        json_t *all = json_array();
        for (size_t i = 0; all != NULL && i < lr->n_clients; i++) {
            json_t *j = manifest_client_to_json(lr->clients[i]);
            if (j == NULL || json_array_append_new(all, j) != 0) {
                json_decref(all);
                all = NULL;
            }
        }
        rc = ctl_print_json(all);
    } else if (lr->n_clients == 0) {
        puts("no clients");
    } else {
        printf("%-24s  %-8s  %-11s  %-6s  %s\n", "ID", "STATUS", "FIRST_PARTY", "SECRET",
               "GRANT_TYPES");
        for (size_t i = 0; i < lr->n_clients; i++) {
            const Authd__V1__Client *c = lr->clients[i];
            ctl_print_padded(c->id, 24);
            printf("  %-8s  %-11s  %-6s  ",
                   c->active == NULL || c->active->value ? "active" : "inactive",
                   c->first_party ? "yes" : "no", c->has_secret ? "set" : "none");
            print_grant_types(c);
            fputc('\n', stdout);
        }
    }
    rpc_msg_free(resp);
    return rc;
}

/* 'client get' and 'client delete': both name the client by --id. */
static int
client_by_id(struct ctl *ctl, const char *sub, const struct client_args *a)
{
    Authd__V1__ClientRequest req = AUTHD__V1__CLIENT_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    int del = strcmp(sub, "delete") == 0;

    if (a->id == NULL)
        return ctl_usage_error("'client %s' needs --id", sub);
    req.id = (char *)a->id;
    int rc = ctl_call_named(
        ctl, "client", a->id, del ? "/authd.v1.ClientAdmin/Delete" : "/authd.v1.ClientAdmin/Get",
        &req.base, del ? &authd__v1__empty__descriptor : &authd__v1__client_response__descriptor,
        &resp);
    if (rc != AUTHCTL_OK)
        return rc;
    const Authd__V1__ClientResponse *cr = (const Authd__V1__ClientResponse *)resp;
    if (del) {
        ctl_print_done("Client", a->id, "deleted");
    } else if (cr->client == NULL) {
        fputs("authctl: authd returned no client\n", stderr);
        rc = AUTHCTL_REFUSED;
    } else {
        rc = print_client(ctl, cr->client);
    }
    rpc_msg_free(resp);
    return rc;
}

int
ctl_cmd_client(struct ctl *ctl, int argc, char **argv)
{
    struct client_args a;
    int rc;

    if (ctl_wants_help(argc, argv))
        return ctl_parse_id_alg(ctl, 2, ctl_help_argv(), "client", "", &a);
    if (argc < 1)
        return ctl_usage_error("'client' needs a subcommand (get, list, delete)");
    const char *sub = argv[0];
    int list = strcmp(sub, "list") == 0;
    if (!list && strcmp(sub, "get") != 0 && strcmp(sub, "delete") != 0)
        return ctl_usage_error("unknown command 'client %s'", sub);
    if ((rc = ctl_parse_id_alg(ctl, argc, argv, "client", list ? "" : "i", &a)) != AUTHCTL_OK)
        return rc;
    if (list)
        return client_list(ctl);
    return client_by_id(ctl, sub, &a);
}
