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

static int
client_get(struct ctl *ctl, const struct client_args *a)
{
    Authd__V1__ClientRequest req = AUTHD__V1__CLIENT_REQUEST__INIT;
    struct rpc_status st;
    ProtobufCMessage *resp = NULL;

    if (a->id == NULL)
        return ctl_usage_error("'client get' needs --id");
    req.id = (char *)a->id;
    int r = rpc_call(ctl->client, "/authd.v1.ClientAdmin/Get", &req.base,
                     &authd__v1__client_response__descriptor, &resp, ctl->timeout_ms, &st);
    if (r != AUTHD_OK)
        return ctl_rpc_failed(NULL, r, &st);
    const Authd__V1__ClientResponse *cr = (const Authd__V1__ClientResponse *)resp;
    int rc = AUTHCTL_REFUSED;
    if (cr->client == NULL)
        fputs("authctl: authd returned no client\n", stderr);
    else
        rc = print_client(ctl, cr->client);
    rpc_msg_free(resp);
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
    struct rpc_status st;
    ProtobufCMessage *resp = NULL;

    int r = rpc_call(ctl->client, "/authd.v1.ClientAdmin/List", &req.base,
                     &authd__v1__list_clients_response__descriptor, &resp, ctl->timeout_ms, &st);
    if (r != AUTHD_OK)
        return ctl_rpc_failed(NULL, r, &st);
    const Authd__V1__ListClientsResponse *lr = (const Authd__V1__ListClientsResponse *)resp;
    int rc = AUTHCTL_OK;
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

static int
client_delete(struct ctl *ctl, const struct client_args *a)
{
    Authd__V1__ClientRequest req = AUTHD__V1__CLIENT_REQUEST__INIT;
    struct rpc_status st;
    ProtobufCMessage *resp = NULL;

    if (a->id == NULL)
        return ctl_usage_error("'client delete' needs --id");
    req.id = (char *)a->id;
    int r = rpc_call(ctl->client, "/authd.v1.ClientAdmin/Delete", &req.base,
                     &authd__v1__empty__descriptor, &resp, ctl->timeout_ms, &st);
    if (r != AUTHD_OK)
        return ctl_rpc_failed(NULL, r, &st);
    rpc_msg_free(resp);
    fputs("Client/", stdout);
    ctl_print_safe(stdout, a->id);
    puts(" deleted");
    return AUTHCTL_OK;
}

int
ctl_cmd_client(struct ctl *ctl, int argc, char **argv)
{
    struct client_args a;
    int rc;

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
    return sub[0] == 'g' ? client_get(ctl, &a) : client_delete(ctl, &a);
}
