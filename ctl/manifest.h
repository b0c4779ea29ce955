/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Resource manifests (what `authctl apply -f` reads): YAML text is turned into a jansson tree by
 * common/yamlread.h (bounded), then each resource is checked strictly (unknown resourceType,
 * unknown field, wrong type are errors naming the field) and mapped to the protobuf-c message
 * its RPC takes. Field names are Aidbox's, so an Aidbox manifest applies unchanged. No network:
 * authctl does the RPCs, this layer is unit-tested on its own.
 */
#ifndef AUTHD_CTL_MANIFEST_H
#define AUTHD_CTL_MANIFEST_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "authd/v1/admin.pb-c.h"
#include "authd/v1/common.pb-c.h"
#include "authd/v1/oauth.pb-c.h"
#include "authd/v1/users.pb-c.h"

#define MANIFEST_MAX_BYTES (1024 * 1024) /* larger input is refused */
#define MANIFEST_MAX_DEPTH 32            /* nested mappings/sequences */
#define MANIFEST_MAX_NODES 10000         /* scalars + mappings + sequences, all documents */

/*
 * Every function that can fail takes err/errlen: on failure a one-line, human-readable message
 * naming the place ("line 3, column 5: ..." or "User/alice: unknown field 'emial'") is written
 * there (always NUL-terminated, cut to errlen). err may be NULL when errlen is 0.
 */

enum manifest_kind { MANIFEST_AUTH_CONFIG = 1, MANIFEST_USER = 2, MANIFEST_CLIENT = 3 };

/* One validated resource, ready for its RPC. */
struct manifest_resource {
    enum manifest_kind kind;
    char
        *name; /* "AuthConfig/app", "User/alice" (User/<email> when there is no id), "Client/web" */
    /* MANIFEST_AUTH_CONFIG: the message for Admin.PutAuthConfig. */
    Authd__V1__AuthConfig *auth_config;
    /* MANIFEST_USER: the message for Users.Create; password is "" when none was given. */
    Authd__V1__CreateUserRequest *user;
    int inactive_set; /* MANIFEST_USER: 1 when the manifest says `inactive` (else leave as is) */
    /* MANIFEST_USER: the manifest's twoFactor for Users.Update (never NULL for a User; id is ""
     * and each of two_factor_enabled, two_factor_transport is NULL when not given). */
    Authd__V1__UpdateUserRequest *user_update;
    /* MANIFEST_CLIENT: the message for ClientAdmin.Put; secret is "" when none was given (the
     * server then keeps the stored one). */
    Authd__V1__Client *client;
};

/* The resources of a manifest, in order. Owned by the caller: manifest_free(). */
struct manifest {
    struct manifest_resource *items;
    size_t n;
};

/*
 * Reads all of f (at most MANIFEST_MAX_BYTES) into *text (malloc'd, NUL-terminated, *len bytes
 * without the NUL). The text may hold passwords: free it with secret_freezero(*text, *len).
 * AUTHD_OK, AUTHD_ERR_TOO_LARGE, AUTHD_ERR_NOMEM or AUTHD_ERR_INTERNAL (read error).
 */
int manifest_read(FILE *f, char **text, size_t *len, char *err, size_t errlen);

/*
 * Converts YAML text (len bytes, a single document or a `---` stream) into *docs: a JSON array
 * with one element per document. Plain scalars true/false (any case of the first letter, or all
 * upper) become booleans, plain decimal integers integers, plain decimals with a point or
 * exponent reals, plain ~/null/empty null; quoted and block scalars, and anything else, strings.
 * Refused (AUTHD_ERR_INVALID_ARGUMENT): invalid YAML, aliases, explicit tags other than !!str,
 * non-scalar or duplicate mapping keys, NUL in a string, integers beyond 64 bits, nesting
 * deeper than MANIFEST_MAX_DEPTH, more than MANIFEST_MAX_NODES nodes. AUTHD_ERR_TOO_LARGE over
 * MANIFEST_MAX_BYTES; AUTHD_ERR_NOMEM. *docs is NULL on failure; json_decref() it.
 */
int manifest_yaml_to_json(const char *text, size_t len, json_t **docs, char *err, size_t errlen);

/*
 * Maps the documents from manifest_yaml_to_json() to resources. Each document is a resource
 * (an object with `resourceType`), a list of resources, or empty (skipped). All resources are
 * checked before anything is returned, so a manifest is applied whole or not at all.
 * AUTHD_OK, AUTHD_ERR_INVALID_ARGUMENT (with the reason in err, also for a manifest without any
 * resource) or AUTHD_ERR_NOMEM. docs is borrowed.
 */
int manifest_from_json(const json_t *docs, struct manifest **out, char *err, size_t errlen);

/* manifest_yaml_to_json() then manifest_from_json(), wiping the intermediate tree's strings. */
int manifest_parse(const char *text, size_t len, struct manifest **out, char *err, size_t errlen);

/*
 * Maps one AuthConfig resource (id, twoFactor.{issuerName, validPastTokensCount,
 * webhook.{endpoint, headers, timeout}}, theme.{styleUrl, title, brand, forgotPasswordUrl},
 * asidCookieMaxAge). null values count as absent. *out is malloc'd: manifest_msg_free().
 */
int manifest_auth_config_from_json(const json_t *res, Authd__V1__AuthConfig **out, char *err,
                                   size_t errlen);

/*
 * Maps one User resource (id, email (required, normalised), password, inactive). *out is
 * malloc'd: manifest_msg_free(). *inactive_set (may be NULL) says whether `inactive` was given.
 */
int manifest_user_from_json(const json_t *res, Authd__V1__CreateUserRequest **out,
                            int *inactive_set, char *err, size_t errlen);

/*
 * Maps one Client resource, strictly, with Aidbox's field names: id (required), secret
 * (write-only, not empty), first_party, grant_types (a list of strings), auth.{implicit,
 * authorization_code, password, client_credentials}.{redirect_uri, secret_required, pkce,
 * token_format, access_token_expiration, refresh_token, refresh_token_expiration}, scope (a list
 * of strings, or one string of space-separated words), active (absent: left unset, which authd
 * reads as active). Values (URIs, grant type names, lifetimes) are authd's to validate. null
 * values count as absent. *out is malloc'd and may hold the secret: manifest_msg_free().
 */
int manifest_client_from_json(const json_t *res, Authd__V1__Client **out, char *err, size_t errlen);

/* Wipes every string field (recursively) and frees a message made by this module. NULL ok. */
void manifest_msg_free(ProtobufCMessage *msg);

/* Wipes and frees m and all its messages. NULL is a no-op. */
void manifest_free(struct manifest *m);

/*
 * The AuthConfig as a resource with Aidbox field names (resourceType first; empty strings,
 * zero numbers and empty sub-objects left out). New reference, or NULL on NOMEM.
 */
json_t *manifest_auth_config_to_json(const Authd__V1__AuthConfig *c);

/*
 * A client as a resource with Aidbox field names (resourceType first; active always given, absent
 * read as true; empty strings, zero numbers, empty lists and absent grants left out), plus the
 * read-only has_secret. Never the secret, even when c carries one. New reference, or NULL.
 */
json_t *manifest_client_to_json(const Authd__V1__Client *c);

/* A user as JSON (id, email, inactive, twoFactor, createdAt/updatedAt as RFC 3339 UTC). */
json_t *manifest_user_to_json(const Authd__V1__User *u);

/*
 * Prints v as block-style YAML (strings and odd keys double-quoted, so any value reads back as
 * itself) to f, starting at indentation indent. Returns 0, or -1 on a write error.
 */
int manifest_print_yaml(FILE *f, const json_t *v, int indent);

#endif
