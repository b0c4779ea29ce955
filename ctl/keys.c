/* SPDX-License-Identifier: Apache-2.0 */
/* `authctl keys rotate [--alg ES256|RS256] [--now]`: a new token signing key, published at once,
 * becomes the active one for its algorithm after authd's --key-publish-delay (with --now: at
 * once), and that algorithm signs access tokens from then on (without --alg: the one that signs
 * them now). `authctl keys list`: every key authd holds, with its state. `authctl keys retire
 * KID`: a key that no longer signs (and will not) leaves the store (and the JWKS) at once. */
#include "ctl/ctl.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "authd/v1/oauth.pb-c.h"
#include "common/err.h"

/* RFC 3339 UTC text of unix seconds t into buf, or "-" for 0. */
static const char *
time_text(int64_t t, char *buf, size_t cap)
{
    struct tm tm;
    time_t tt = (time_t)t;

    if (t == 0 || gmtime_r(&tt, &tm) == NULL || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return "-";
    return buf;
}

/* A key's state in one word: "active" (it signs now), "pending" (published, signs from its
 * active_from: a rotation's publication delay) or "retired" (it signs no more). */
static const char *
key_state_word(const Authd__V1__SigningKeyInfo *k)
{
    if (k->signing)
        return "active";
    return k->retired_at == 0 || k->retired_at > (int64_t)time(NULL) ? "pending" : "retired";
}

/* A key's state in words: the word, "access tokens" when it signs them, "in JWKS" for a
 * retired key still published. */
static const char *
key_state(const Authd__V1__SigningKeyInfo *k)
{
    const char *w = key_state_word(k);
    if (strcmp(w, "retired") == 0)
        return k->published ? "retired (in JWKS)" : "retired";
    if (strcmp(w, "pending") == 0)
        return "pending (in JWKS)";
    return k->access_tokens ? "active (access tokens)" : "active";
}

static int
keys_list(struct ctl *ctl)
{
    Authd__V1__ListKeysRequest req = AUTHD__V1__LIST_KEYS_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    char c[32], r[32], f[32];

    int rc = ctl_call(ctl, "keys list", "/authd.v1.ClientAdmin/ListKeys", &req.base,
                      &authd__v1__list_keys_response__descriptor, &resp);
    if (rc != AUTHCTL_OK)
        return rc;
    const Authd__V1__ListKeysResponse *lr = (const Authd__V1__ListKeysResponse *)resp;
    if (ctl->json) {
        json_t *all = json_array();
        for (size_t i = 0; all != NULL && i < lr->n_keys; i++) {
            const Authd__V1__SigningKeyInfo *k = lr->keys[i];
            json_t *j = json_pack(
                "{s:s, s:s, s:s, s:s, s:s?, s:s, s:b, s:b}", "kid", k->kid, "alg", k->alg,
                "created", time_text(k->created_at, c, sizeof(c)), "signs_from",
                time_text(k->active_from != 0 ? k->active_from : k->created_at, f, sizeof(f)),
                "retired", k->retired_at != 0 ? time_text(k->retired_at, r, sizeof(r)) : NULL,
                "state", key_state_word(k), "published", k->published, "access_tokens",
                k->access_tokens);
            if (j == NULL || json_array_append_new(all, j) != 0) {
                json_decref(all);
                all = NULL;
            }
        }
        rpc_msg_free(resp);
        return ctl_print_json(all);
    }
    if (lr->n_keys == 0)
        puts("no keys");
    else
        printf("%-24s  %-6s  %-20s  %-20s  %-20s  %s\n", "KID", "ALG", "CREATED", "SIGNS FROM",
               "RETIRED", "STATE");
    for (size_t i = 0; i < lr->n_keys; i++) {
        const Authd__V1__SigningKeyInfo *k = lr->keys[i];
        ctl_print_padded(k->kid, 24);
        fputs("  ", stdout);
        ctl_print_padded(k->alg, 6);
        printf("  %-20s  %-20s  %-20s  %s\n", time_text(k->created_at, c, sizeof(c)),
               time_text(k->active_from != 0 ? k->active_from : k->created_at, f, sizeof(f)),
               time_text(k->retired_at, r, sizeof(r)), key_state(k));
    }
    rpc_msg_free(resp);
    return AUTHCTL_OK;
}

/* `keys retire KID [-o json]`: the kid is the word after "retire". */
static int
keys_retire(struct ctl *ctl, int argc, char **argv)
{
    Authd__V1__RetireKeyRequest req = AUTHD__V1__RETIRE_KEY_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    struct client_args a;
    char *rest[CTL_REST_MAX];
    const char *kid = NULL;

    /* The options after the kid, parsed as if the kid were not there (--help included). A kid
     * is base64url and may begin with '-': `keys retire -- KID` names such a kid. */
    int rc = ctl_take_word(&argc, &argv, rest, "keys retire", &kid);
    if (rc != AUTHCTL_OK)
        return rc;
    if ((rc = ctl_parse_id_alg(ctl, argc, argv, "keys", "", &a)) != AUTHCTL_OK)
        return rc;
    if (kid == NULL)
        return ctl_usage_error("'keys retire' needs the kid of the key (see 'keys list')");
    req.kid = (char *)kid;
    /* authd's message names the key and says why (unknown, or active: rotate first). */
    rc = ctl_call(ctl, NULL, "/authd.v1.ClientAdmin/RetireKey", &req.base,
                  &authd__v1__empty__descriptor, &resp);
    rpc_msg_free(resp);
    if (rc != AUTHCTL_OK)
        return rc;
    if (ctl->json)
        return ctl_print_json(json_pack("{s:s, s:s}", "kid", kid, "state", "retired"));
    fputs("keys/", stdout);
    ctl_print_safe(stdout, kid);
    fputs(" retired\n", stdout);
    return AUTHCTL_OK;
}

int
ctl_cmd_keys(struct ctl *ctl, int argc, char **argv)
{
    Authd__V1__RotateKeysRequest req = AUTHD__V1__ROTATE_KEYS_REQUEST__INIT;
    struct client_args a;
    ProtobufCMessage *resp = NULL;
    int rc;

    if (ctl_wants_help(argc, argv))
        return ctl_parse_id_alg(ctl, 2, ctl_help_argv(), "keys", "", &a);
    if (argc >= 1 && strcmp(argv[0], "retire") == 0)
        return keys_retire(ctl, argc, argv);
    if (argc < 1 || (strcmp(argv[0], "rotate") != 0 && strcmp(argv[0], "list") != 0))
        return ctl_usage_error("the keys commands are 'keys list', 'keys rotate [--alg "
                               "ES256|RS256] [--now]' and 'keys retire KID'");
    if ((rc = ctl_parse_id_alg(ctl, argc, argv, "keys", argv[0][0] == 'r' ? "an" : "", &a)) !=
        AUTHCTL_OK)
        return rc;
    if (strcmp(argv[0], "list") == 0)
        return keys_list(ctl);
    if (a.alg != NULL && strcmp(a.alg, "ES256") != 0 && strcmp(a.alg, "RS256") != 0)
        return ctl_usage_error("--alg takes ES256 or RS256");
    if (a.alg != NULL)
        req.alg = (char *)a.alg;
    req.now = a.now != 0;
    rc = ctl_call(ctl, "keys rotate", "/authd.v1.ClientAdmin/RotateKeys", &req.base,
                  &authd__v1__rotate_keys_response__descriptor, &resp);
    if (rc != AUTHCTL_OK)
        return rc;
    const Authd__V1__RotateKeysResponse *kr = (const Authd__V1__RotateKeysResponse *)resp;
    if (kr->kid == NULL || kr->kid[0] == '\0') {
        rpc_msg_free(resp);
        fputs("authctl: authd returned no kid\n", stderr);
        return AUTHCTL_REFUSED;
    }
    if (ctl->json) {
        char f[32];
        rc = ctl_print_json(json_pack("{s:s, s:s}", "kid", kr->kid, "signs_from",
                                      time_text(kr->active_from, f, sizeof(f))));
    } else {
        /* The kid alone on stdout (scripts read it); when it signs, for the operator. */
        ctl_print_safe(stdout, kr->kid);
        fputc('\n', stdout);
        char f[32];
        if (kr->active_from > (int64_t)time(NULL))
            fprintf(stderr, "authctl: published now; signs from %s (authd's --key-publish-delay)\n",
                    time_text(kr->active_from, f, sizeof(f)));
        rc = AUTHCTL_OK;
    }
    rpc_msg_free(resp);
    return rc;
}
