/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Caller roles: the callers file (certificate identities -> roles, YAML read by
 * common/yamlread.h, then checked strictly), bearer tokens, the decision, and the RPC adapter's
 * authorize hook that applies it to every call with the roles of the method's own row (the
 * tables at the bottom of authd/svc_*.c). See callers.h for the rules and docs/ARCHITECTURE.md
 * for who holds what.
 */
#include "authd/callers.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "authd/audit.h"
#include "authd/authd.h"
#include "common/err.h"
#include "common/yamlread.h"
#include "authd/oauth.h"
#include "proto/rpc.h"
#include "storage/store.h"

static const struct {
    const char *name;
    unsigned role;
    const char *scope;
} role_names[] = {
    {"edge", ROLE_EDGE, CALLERS_SCOPE_EDGE},
    {"admin", ROLE_ADMIN, CALLERS_SCOPE_ADMIN},
    {"service", ROLE_SERVICE, CALLERS_SCOPE_SERVICE},
};
#define N_ROLES (sizeof(role_names) / sizeof(role_names[0]))

#define PEER_IDS_MAX 16 /* certificate identities looked at */

struct entry {
    char *identity;
    unsigned roles;
    size_t line; /* where the callers file listed it (1-based), for duplicate messages */
};

struct callers {
    struct authd *a;
    unsigned anonymous;
    struct entry *e;
    size_t n;
};

/* ---- role names ------------------------------------------------------------------------------ */

unsigned
callers_role_parse(const char *s)
{
    for (size_t i = 0; s != NULL && i < N_ROLES; i++)
        if (strcmp(s, role_names[i].name) == 0)
            return role_names[i].role;
    return 0;
}

int
callers_roles_parse(const char *list, unsigned *out)
{
    char name[16];
    *out = 0;
    if (list == NULL)
        return AUTHD_OK;
    while (*list == ' ')
        list++;
    if (*list == '\0' || strcmp(list, "none") == 0)
        return AUTHD_OK;
    unsigned roles = 0;
    for (const char *p = list;;) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e != '\0' && *e != ',')
            e++;
        size_t len = (size_t)(e - p);
        while (len > 0 && p[len - 1] == ' ')
            len--;
        if (len == 0 || len >= sizeof(name))
            return AUTHD_ERR_INVALID_ARGUMENT;
        memcpy(name, p, len);
        name[len] = '\0';
        unsigned r = callers_role_parse(name);
        if (r == 0)
            return AUTHD_ERR_INVALID_ARGUMENT;
        roles |= r;
        if (*e == '\0')
            break;
        p = e + 1;
    }
    *out = roles;
    return AUTHD_OK;
}

const char *
callers_roles_text(unsigned roles, char *out, size_t cap)
{
    size_t used = 0;
    if (cap == 0)
        return out;
    out[0] = '\0';
    for (size_t i = 0; i < N_ROLES; i++) {
        if (!(roles & role_names[i].role))
            continue;
        int w = snprintf(out + used, cap - used, "%s%s", used > 0 ? "," : "", role_names[i].name);
        if (w < 0 || (size_t)w >= cap - used)
            break;
        used += (size_t)w;
    }
    if (used == 0)
        snprintf(out, cap, "%s", "none");
    return out;
}

unsigned
callers_scope_roles(const struct oauth_scopes *scopes)
{
    unsigned roles = 0;
    for (size_t i = 0; scopes != NULL && i < N_ROLES; i++)
        if (oauth_scopes_has(scopes, role_names[i].scope))
            roles |= role_names[i].role;
    return roles;
}

/* ---- the map ------------------------------------------------------------------------------ */

int
callers_new(struct authd *a, unsigned anonymous_roles, struct callers **out)
{
    *out = calloc(1, sizeof(**out));
    if (*out == NULL)
        return AUTHD_ERR_NOMEM;
    (*out)->a = a;
    (*out)->anonymous = anonymous_roles & ROLE_ALL;
    return AUTHD_OK;
}

static void
entries_free(struct entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(e[i].identity);
    free(e);
}

void
callers_free(struct callers *c)
{
    if (c == NULL)
        return;
    entries_free(c->e, c->n);
    free(c);
}

size_t
callers_count(const struct callers *c)
{
    return c->n;
}

unsigned
callers_anonymous_roles(const struct callers *c)
{
    return c->anonymous;
}

static int
entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->identity, ((const struct entry *)b)->identity);
}

/* The loaded entry for identity (c->e is kept sorted: every call looks identities up). */
static const struct entry *
loaded_find(const struct callers *c, const char *identity)
{
    struct entry key = {.identity = (char *)identity};
    return c->n > 0 ? bsearch(&key, c->e, c->n, sizeof(*c->e), entry_cmp) : NULL;
}

unsigned
callers_identity_roles(const struct callers *c, const char *identity)
{
    const struct entry *e = identity != NULL ? loaded_find(c, identity) : NULL;
    return e != NULL ? e->roles : 0;
}

/* ---- the callers file ---------------------------------------------------------------------- */

/* One parse: the tree's line table, where errors go, and the entries read so far. */
struct cparse {
    const char *name;
    char *err;
    size_t errlen;
    const struct yamlread_lines *lines;
    const struct callers *c; /* entries already loaded (duplicates across files) */
    struct entry *e;
    size_t n, cap;
};

/* Every scalar stays a string (a role or identity is never a number); every node then has a
 * line. A node takes at least one byte, so the node bound never refuses a file of allowed size. */
static const struct yamlread_opts callers_yaml = {
    .max_bytes = CALLERS_MAX_BYTES,
    .max_depth = 32,
    .max_nodes = CALLERS_MAX_BYTES,
    .scalars_as_string = 1,
};

static int perr(struct cparse *p, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "<name>:<line>: <message>" into p->err; returns AUTHD_ERR_INVALID_ARGUMENT. */
static int
perr(struct cparse *p, size_t line, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (p->err != NULL && p->errlen > 0)
        snprintf(p->err, p->errlen, "%s:%zu: %s", p->name, line, msg);
    return AUTHD_ERR_INVALID_ARGUMENT;
}

/* s for an error message: printable ASCII (others become '?'), cut at cap - 1 bytes. */
static const char *
shown(const char *s, char *out, size_t cap)
{
    size_t i = 0;
    for (; s[i] != '\0' && i + 1 < cap; i++)
        out[i] =
            (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f && s[i] != '"' ? s[i] : '?';
    out[i] = '\0';
    return out;
}

/* Where node starts (1-based); every node of a tree read with callers_yaml has a line. */
static size_t
line_of(const struct cparse *p, const json_t *node)
{
    size_t line = yamlread_line(p->lines, node);
    return line > 0 ? line : 1;
}

static size_t
key_line(const struct cparse *p, const json_t *obj, const char *key)
{
    size_t line = yamlread_key_line(p->lines, obj, key);
    return line > 0 ? line : line_of(p, obj);
}

/* The reader's refusal, worded as the callers file's other errors. */
static int
read_failed(struct cparse *p, int r, const struct yamlread_error *e)
{
    char q[80];

    if (r == AUTHD_ERR_NOMEM)
        return r;
    if (e->problem == YAMLREAD_DUPLICATE_KEY)
        return perr(p, e->line, "%s is given twice", shown(e->key, q, sizeof(q)));
    if (e->problem == YAMLREAD_ALIAS)
        return perr(p, e->line, "aliases are not allowed");
    perr(p, e->line > 0 ? e->line : 1, "%s", e->message);
    return r;
}

/* 1 when s is a usable identity: printable ASCII without spaces (URIs, DNS names, e-mails, IP
 * addresses and common names of this kind), at most CALLERS_IDENTITY_MAX bytes. */
static int
identity_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CALLERS_IDENTITY_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return 0;
    return 1;
}

/*
 * The typed identity (as rpc_ctx_peer_identities() gives them) an entry of the callers file
 * names, malloc'd: "uri:..." and a value containing "://" (a URI SAN, "uri:" added), "dns:...",
 * "email:...", "ip:..." and "cn:..." as written. NULL when it has no type (or on NOMEM: the
 * caller tells the two apart).
 */
static char *
identity_typed(const char *v)
{
    static const char *const typed[] = {"uri:", "dns:", "email:", "ip:", "cn:"};
    size_t n = strlen(v);
    if (strncmp(v, "uri:", 4) == 0)
        return n > 4 ? strdup(v) : NULL;
    if (strstr(v, "://") != NULL) {
        char *out = malloc(n + 5);
        if (out != NULL) {
            memcpy(out, "uri:", 4);
            memcpy(out + 4, v, n + 1);
        }
        return out;
    }
    for (size_t i = 0; i < sizeof(typed) / sizeof(typed[0]); i++) {
        size_t pl = strlen(typed[i]);
        if (strncmp(v, typed[i], pl) == 0)
            return n > pl ? strdup(v) : NULL;
    }
    return NULL;
}

/* roles: [edge, admin] — v is the value of the key roles. */
static int
parse_roles(struct cparse *p, const json_t *v, unsigned *roles)
{
    const json_t *item;
    size_t i;

    *roles = 0;
    if (!json_is_array(v))
        return perr(p, line_of(p, v), "roles must be a list, e.g. [edge]");
    json_array_foreach(v, i, item)
    {
        if (!json_is_string(item))
            return perr(p, line_of(p, item), "a role must be a name (edge, admin or service)");
        unsigned role = callers_role_parse(json_string_value(item));
        if (role == 0) {
            char q[80];
            return perr(p, line_of(p, item), "unknown role \"%s\" (edge, admin or service)",
                        shown(json_string_value(item), q, sizeof(q)));
        }
        *roles |= role;
    }
    if (*roles == 0)
        return perr(p, line_of(p, v), "roles is empty");
    return AUTHD_OK;
}

/* Adds identity (typed); written is the entry as the file wrote it, for messages. */
static int
entry_add(struct cparse *p, const char *identity, const char *written, unsigned roles, size_t line)
{
    char q[160];
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->e[i].identity, identity) == 0)
            return perr(p, line, "identity \"%s\" is listed twice (first on line %zu)",
                        shown(written, q, sizeof(q)), p->e[i].line);
    if (loaded_find(p->c, identity) != NULL)
        return perr(p, line, "identity \"%s\" is already listed by an earlier callers file",
                    shown(written, q, sizeof(q)));
    if (p->c->n + p->n >= CALLERS_MAX_ENTRIES)
        return perr(p, line, "more than %d identities", CALLERS_MAX_ENTRIES);
    if (p->n == p->cap) {
        size_t cap = p->cap == 0 ? 8 : p->cap * 2;
        struct entry *e = realloc(p->e, cap * sizeof(*e));
        if (e == NULL)
            return AUTHD_ERR_NOMEM;
        p->e = e;
        p->cap = cap;
    }
    char *copy = strdup(identity);
    if (copy == NULL)
        return AUTHD_ERR_NOMEM;
    p->e[p->n++] = (struct entry){copy, roles, line};
    return AUTHD_OK;
}

/* One `- identity: ...  roles: [...]` item (a mapping). */
static int
parse_entry(struct cparse *p, const json_t *obj)
{
    const char *key;
    const json_t *v;
    char *identity = NULL, *written = NULL;
    size_t id_line = line_of(p, obj);
    unsigned roles = 0;
    int r = AUTHD_OK;

    json_object_foreach((json_t *)obj, key, v)
    {
        if (strcmp(key, "roles") == 0) {
            if ((r = parse_roles(p, v, &roles)) != AUTHD_OK)
                goto out;
            continue;
        }
        if (strcmp(key, "identity") != 0) {
            char q[80];
            r = perr(p, key_line(p, obj, key), "unknown key \"%s\" (identity, roles)",
                     shown(key, q, sizeof(q)));
            goto out;
        }
        id_line = line_of(p, v);
        const char *s = json_string_value(v);
        if (s == NULL || !identity_ok(s)) {
            r = perr(p, id_line,
                     "identity must be a certificate name (a URI such as "
                     "spiffe://authd.dev/edge, dns:NAME, email:ADDRESS, ip:ADDRESS or "
                     "cn:NAME) without spaces");
            goto out;
        }
        identity = identity_typed(s);
        written = strdup(s);
        if (identity == NULL && written != NULL) {
            char q[80];
            r = perr(p, id_line,
                     "identity \"%s\" has no type: write a URI (spiffe://...) or dns:NAME, "
                     "email:ADDRESS, ip:ADDRESS, cn:NAME",
                     shown(s, q, sizeof(q)));
            goto out;
        }
        if (identity == NULL || written == NULL) {
            r = AUTHD_ERR_NOMEM;
            goto out;
        }
    }
    if (identity == NULL)
        r = perr(p, line_of(p, obj), "an entry without an identity");
    else if (roles == 0)
        r = perr(p, line_of(p, obj), "an entry without roles");
    else
        r = entry_add(p, identity, written, roles, id_line);
out:
    free(identity);
    free(written);
    return r;
}

/* The document: a mapping whose one key is `callers`, a list of entries. */
static int
parse_top(struct cparse *p, const json_t *doc)
{
    const char *key;
    const json_t *list, *item;
    size_t i;
    int r;

    if (json_is_string(doc) && json_string_length(doc) == 0)
        return perr(p, line_of(p, doc), "the file is empty (expected a 'callers' list)");
    if (!json_is_object(doc))
        return perr(p, line_of(p, doc), "expected a mapping with the key 'callers'");
    json_object_foreach((json_t *)doc, key, list)
    {
        if (strcmp(key, "callers") != 0) {
            char q[80];
            return perr(p, key_line(p, doc, key), "unknown key \"%s\" (callers)",
                        shown(key, q, sizeof(q)));
        }
        if (!json_is_array(list))
            return perr(p, key_line(p, doc, key), "callers must be a list of {identity, roles}");
        json_array_foreach(list, i, item)
        {
            if (!json_is_object(item))
                return perr(p, line_of(p, item), "each caller must be a mapping {identity, roles}");
            if ((r = parse_entry(p, item)) != AUTHD_OK)
                return r;
        }
    }
    if (json_object_get(doc, "callers") == NULL)
        return perr(p, line_of(p, doc), "no 'callers' list");
    return AUTHD_OK;
}

/* The stream: exactly one document, a mapping. */
static int
parse_stream(struct cparse *p, const char *text, size_t len)
{
    struct yamlread_lines *lines = NULL;
    struct yamlread_error e;
    json_t *docs = NULL;

    int r = yamlread_to_json(text, len, &callers_yaml, &docs, &lines, &e);
    if (r != AUTHD_OK)
        return read_failed(p, r, &e);
    p->lines = lines;
    if (json_array_size(docs) == 0)
        r = perr(p, 1, "the file is empty (expected a 'callers' list)");
    else if ((r = parse_top(p, json_array_get(docs, 0))) == AUTHD_OK && json_array_size(docs) > 1)
        r = perr(p, line_of(p, json_array_get(docs, 1)), "only one YAML document is allowed");
    p->lines = NULL;
    yamlread_lines_free(lines);
    json_decref(docs);
    return r;
}

int
callers_load(struct callers *c, const char *name, const char *text, size_t len, char *err,
             size_t errlen)
{
    struct cparse p;
    memset(&p, 0, sizeof(p));
    p.name = name != NULL ? name : "callers";
    p.err = err;
    p.errlen = errlen;
    p.c = c;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (len > CALLERS_MAX_BYTES) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s: larger than %d bytes", p.name, CALLERS_MAX_BYTES);
        return AUTHD_ERR_TOO_LARGE;
    }
    int r = parse_stream(&p, text, len);
    if (r == AUTHD_OK && p.n > 0) {
        struct entry *all = realloc(c->e, (c->n + p.n) * sizeof(*all));
        if (all == NULL) {
            r = AUTHD_ERR_NOMEM;
        } else {
            memcpy(all + c->n, p.e, p.n * sizeof(*all));
            c->e = all;
            c->n += p.n;
            qsort(c->e, c->n, sizeof(*c->e), entry_cmp);
            free(p.e);
            return AUTHD_OK;
        }
    }
    if (r == AUTHD_ERR_NOMEM && err != NULL && errlen > 0)
        snprintf(err, errlen, "%s: out of memory", p.name);
    entries_free(p.e, p.n);
    return r;
}

int
callers_load_file(struct callers *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    char *text = NULL;
    size_t len = 0;
    int r = AUTHD_ERR_NOT_FOUND;

    if (f != NULL && (text = malloc(CALLERS_MAX_BYTES + 1)) == NULL)
        r = AUTHD_ERR_NOMEM;
    if (text != NULL) {
        /* One byte more than allowed, so that callers_load() sees an oversized file. */
        len = fread(text, 1, CALLERS_MAX_BYTES + 1, f);
        if (!ferror(f))
            r = callers_load(c, path, text, len, err, errlen);
    }
    if (r == AUTHD_ERR_NOT_FOUND && err != NULL && errlen > 0)
        snprintf(err, errlen, "%s: cannot read the file", path);
    if (f != NULL)
        fclose(f);
    free(text);
    return r;
}

/* ---- the decision ---------------------------------------------------------------------------- */

/* How an identity is named in logs: a URI as itself (its scheme says what it is), the other
 * types with their prefix ("dns:...", "cn:..."). */
static const char *
display_name(const char *id)
{
    return strncmp(id, "uri:", 4) == 0 ? id + 4 : id;
}

unsigned
callers_held_roles(const struct callers *c, const char *const *ids, size_t n_ids,
                   const char *token_who, unsigned token_roles)
{
    unsigned held = 0;
    int mapped = 0;
    for (size_t i = 0; i < n_ids; i++) {
        unsigned r = callers_identity_roles(c, ids[i]);
        held |= r;
        mapped |= r != 0;
    }
    if (token_who != NULL)
        held |= token_roles;
    if (!mapped && token_who == NULL)
        held = c->anonymous;
    return held;
}

int
callers_decide(const struct callers *c, unsigned need, const char *const *ids, size_t n_ids,
               const char *token_who, unsigned token_roles, const char **who)
{
    unsigned held = callers_held_roles(c, ids, n_ids, token_who, token_roles);
    const char *first = NULL, *granted = NULL;

    for (size_t i = 0; i < n_ids; i++) {
        unsigned r = callers_identity_roles(c, ids[i]);
        if (r == 0)
            continue;
        if (first == NULL)
            first = display_name(ids[i]);
        if (granted == NULL && (r & need))
            granted = display_name(ids[i]);
    }
    if (token_who != NULL && granted == NULL && (token_roles & need))
        granted = token_who;
    /* A caller with neither a mapped identity nor a token is still named by its certificate's
     * first identity when it has one: who it was matters most when it is refused. */
    *who = granted != NULL     ? granted
           : first != NULL     ? first
           : token_who != NULL ? token_who
           : n_ids > 0         ? display_name(ids[0])
                               : "anonymous";
    if ((need & ROLE_OPEN) || (held & need))
        return AUTHD_OK;
    return AUTHD_ERR_PERMISSION_DENIED;
}

/* ---- the hook ------------------------------------------------------------------------------- */

/* The token of "Bearer <token>" (RFC 6750 §2.1: the scheme is case-insensitive), or NULL. */
static const char *
bearer_token(const char *h)
{
    if (strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    for (const char *p = h; *p != '\0'; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return NULL;
    return h[0] != '\0' ? h : NULL;
}

/* "Users/Create" from "authd.v1.Users" and "Create", in the call's arena. */
static const char *
short_name(struct rpc_ctx *ctx, const char *service, const char *method)
{
    const char *dot = strrchr(service, '.');
    return rpc_ctx_printf(ctx, "%s/%s", dot != NULL ? dot + 1 : service, method);
}

static int
refuse(struct rpc_ctx *ctx, int err, const char *outcome, const char *client, const char *service,
       const char *method)
{
    char msg[200];
    if (err == AUTHD_ERR_UNAUTHENTICATED)
        snprintf(msg, sizeof(msg), "the bearer token is not a valid client access token (%s/%s)",
                 service, method);
    else
        snprintf(msg, sizeof(msg), "the caller may not call %s/%s", service, method);
    rpc_ctx_set_message(ctx, msg);
    const char *reason = short_name(ctx, service, method);
    struct audit ev = {
        .action = AUDIT_PERMISSION_DENIED, .outcome = outcome, .client = client, .reason = reason};
    audit_emit(ctx, &ev);
    return err;
}

int
callers_authorize(void *arg, struct rpc_ctx *ctx, const char *service, const struct rpc_method *m)
{
    const struct callers *c = arg;
    const char *method = m->name;
    /* The row's roles; a row without any is refused to everyone (held & 0 is never set). */
    unsigned need = m->roles;
    const char *ids[PEER_IDS_MAX];
    const char *token_who = NULL, *who = NULL;
    unsigned token_roles = 0;
    char cid[256] = "";

    rpc_ctx_set_grants(ctx, 0); /* nothing until decided */
    size_t n_ids = rpc_ctx_peer_identities(ctx, ids, PEER_IDS_MAX);
    const char *h = (need & ROLE_OPEN) ? NULL : rpc_ctx_metadata(ctx, "authorization");
    /* A bearer token is checked against the store (its revocation row, its client, the signing
     * keys): round trips on a shared database, which a trial (rpc.h: RPC_TRY_INLINE) must not
     * make on the completion-queue thread. authd turns trials off on such a store
     * (rpc_server_opts.no_trials); this keeps the hook right on any server. */
    if (h != NULL && rpc_ctx_trying(ctx) && c->a != NULL && !store_local(c->a->store))
        return rpc_ctx_defer(ctx);
    if (h != NULL) {
        struct oauth_scopes *scopes = rpc_ctx_alloc(ctx, sizeof(*scopes));
        const char *tok = bearer_token(h);
        if (scopes == NULL)
            return AUTHD_ERR_NOMEM;
        int r = tok != NULL && c->a != NULL
                    ? oauth_check_client_token(ctx, c->a, tok, cid, sizeof(cid), scopes)
                    : AUTHD_ERR_INVALID_TOKEN;
        if (r == AUTHD_ERR_INVALID_TOKEN) {
            /* Name the caller by its certificate if it has one; the token names nobody. */
            callers_decide(c, need, ids, n_ids, NULL, 0, &who);
            rpc_ctx_set_caller(ctx, who);
            return refuse(ctx, AUTHD_ERR_UNAUTHENTICATED, AUDIT_FAILURE, NULL, service, method);
        }
        if (r != AUTHD_OK)
            return r;
        token_roles = callers_scope_roles(scopes);
        token_who = rpc_ctx_printf(ctx, "client:%s", cid);
        if (token_who == NULL)
            return AUTHD_ERR_NOMEM;
    }
    int r = callers_decide(c, need, ids, n_ids, token_who, token_roles, &who);
    rpc_ctx_set_caller(ctx, who);
    rpc_ctx_set_grants(ctx, callers_held_roles(c, ids, n_ids, token_who, token_roles));
    if (r != AUTHD_OK)
        return refuse(ctx, r, AUDIT_DENIED, token_who != NULL ? cid : NULL, service, method);
    return AUTHD_OK;
}
