/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `authctl user import FILE`: the bulk loader's client (Users.Import, authd/import.h). Reads
 * JSON Lines (one user per line), sends them in calls of --batch users, each written by authd
 * in one transaction, and stops at the first refused call, saying which line it was about and
 * how many users were imported before it. Holds one batch at a time, so its memory does not
 * grow with the file.
 */
#include "ctl/ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "authd/v1/users.pb-c.h"
#include "common/err.h"
#include "common/secret.h"

#define IMPORT_LINE_MAX 4096
#define IMPORT_BATCH_DEFAULT 1000
#define IMPORT_BATCH_MAX 1000
#define IMPORT_PROGRESS_EVERY 1000000

struct import_args {
    int64_t batch;
    const char *tokens_out;
    const char *load_id;
    int quiet;
    const char *output;
};

/* One call's users, with the input line of each for error reports. */
struct import_batch {
    Authd__V1__ImportUser *users;
    Authd__V1__ImportUser **ptrs;
    unsigned long *line;
    size_t n;
};

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
batch_clear(struct import_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        Authd__V1__ImportUser *u = &b->users[i];
        char **s[] = {&u->email, &u->password_hash, &u->id};
        for (size_t k = 0; k < sizeof(s) / sizeof(s[0]); k++) {
            if (*s[k] != protobuf_c_empty_string)
                secret_strfree(*s[k]);
            *s[k] = (char *)protobuf_c_empty_string;
        }
    }
    b->n = 0;
}

/* A string member of o, or "" when absent; -1 when present and not a string. */
static int
json_text(json_t *o, const char *key, char **out)
{
    json_t *v = json_object_get(o, key);
    *out = (char *)protobuf_c_empty_string;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return -1;
    *out = strdup(json_string_value(v));
    return *out != NULL ? 0 : -1;
}

static int
json_flag(json_t *o, const char *key, protobuf_c_boolean *out)
{
    json_t *v = json_object_get(o, key);
    *out = 0;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return -1;
    *out = json_is_true(v);
    return 0;
}

/* Parses one input line into u. 0, or -1 with why in err (64 bytes). */
static int
parse_line(const char *text, Authd__V1__ImportUser *u, char *err, size_t errlen)
{
    static const char *const known[] = {"email",          "password_hash", "id",       "inactive",
                                        "email_verified", "session",       "auth_time"};
    json_error_t je;
    json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    int r = -1;

    authd__v1__import_user__init(u);
    if (o == NULL || !json_is_object(o)) {
        snprintf(err, errlen, "not a JSON object");
        goto out;
    }
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        size_t k = 0;
        while (k < sizeof(known) / sizeof(known[0]) && strcmp(known[k], key) != 0)
            k++;
        if (k == sizeof(known) / sizeof(known[0])) {
            snprintf(err, errlen,
                     "unknown field (known: email, password_hash, id, inactive, "
                     "email_verified, session, auth_time)");
            goto out;
        }
    }
    if (json_text(o, "email", &u->email) != 0 || json_text(o, "password_hash", &u->password_hash) ||
        json_text(o, "id", &u->id) != 0) {
        snprintf(err, errlen, "email, password_hash and id must be strings");
        goto out;
    }
    if (json_flag(o, "inactive", &u->inactive) != 0 ||
        json_flag(o, "email_verified", &u->email_verified) != 0 ||
        json_flag(o, "session", &u->session) != 0) {
        snprintf(err, errlen, "inactive, email_verified and session must be true or false");
        goto out;
    }
    if (u->email[0] == '\0') {
        snprintf(err, errlen, "email is missing");
        goto out;
    }
    json_t *at = json_object_get(o, "auth_time");
    if (at != NULL && !json_is_null(at)) {
        if (!json_is_integer(at) || json_integer_value(at) < 0) {
            snprintf(err, errlen, "auth_time must be Unix seconds (an integer, 0 or more)");
            goto out;
        }
        u->auth_time = json_integer_value(at);
    }
    if (u->session && u->inactive) {
        snprintf(err, errlen, "session and inactive together: an inactive user gets no session");
        goto out;
    }
    r = 0;
out:
    json_decref(o);
    return r;
}

/* Writes the call's answers to the tokens file: "<email> <id> <token>" per user with one. */
static int
write_tokens(FILE *f, const struct import_batch *b, const Authd__V1__ImportUsersResponse *r)
{
    for (size_t i = 0; i < r->n_users && i < b->n; i++) {
        const Authd__V1__ImportedUser *o = r->users[i];
        if (o->session_token[0] == '\0')
            continue;
        if (fprintf(f, "%s %s %s\n", b->users[i].email, o->id, o->session_token) < 0)
            return -1;
    }
    return 0;
}

/* Sends one call; on a refusal reports the input line it was about. */
static int
send_batch(struct ctl *ctl, struct import_batch *b, const char *load_id, int last, FILE *tokens,
           unsigned long long done)
{
    Authd__V1__ImportUsersRequest req = AUTHD__V1__IMPORT_USERS_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    struct rpc_status st;

    req.users = b->ptrs;
    req.n_users = b->n;
    req.load_id = (char *)load_id;
    req.last = last;
    int r = rpc_call(ctl->client, "/authd.v1.Users/Import", &req.base,
                     &authd__v1__import_users_response__descriptor, &resp, ctl->timeout_ms, &st);
    if (r != AUTHD_OK) {
        size_t k = 0;
        unsigned long line = b->line[0];
        if (sscanf(st.message, "users[%zu]", &k) == 1 && k < b->n)
            line = b->line[k];
        fprintf(stderr, "authctl: line %lu (%llu users imported before this call of %zu):\n", line,
                done, b->n);
        return ctl_rpc_failed("import", r, &st);
    }
    int rc = AUTHCTL_OK;
    if (tokens != NULL &&
        write_tokens(tokens, b, (const Authd__V1__ImportUsersResponse *)resp) != 0) {
        fprintf(stderr, "authctl: cannot write the tokens file: %s\n", strerror(errno));
        rc = AUTHCTL_USAGE;
    }
    rpc_msg_free(resp);
    return rc;
}

/*
 * Reads the next line that is not blank into line (IMPORT_LINE_MAX + 2 bytes), counting every
 * line read in *lineno (blank ones too: the file's own numbering). 1 with a line, 0 at the end
 * of the input, -1 (reported) for a line too long or a read error.
 */
static int
next_line(FILE *in, char *line, unsigned long *lineno)
{
    for (;;) {
        if (fgets(line, IMPORT_LINE_MAX + 2, in) == NULL) {
            if (ferror(in)) {
                fprintf(stderr, "authctl: after line %lu: cannot read the input: %s\n", *lineno,
                        strerror(errno));
                return -1;
            }
            return 0;
        }
        ++*lineno;
        size_t len = strlen(line);
        if (len > IMPORT_LINE_MAX) {
            fprintf(stderr, "authctl: line %lu: longer than %d bytes\n", *lineno, IMPORT_LINE_MAX);
            return -1;
        }
        if (strspn(line, " \t\r\n") != len)
            return 1;
    }
}

/*
 * A regular file is read whole once before anything is sent, so that a bad line anywhere in
 * it refuses the import without a partial load; then read again from its start. Standard input
 * from a pipe cannot be read twice: its lines are checked batch by batch as they come.
 */
static int
prevalidate(FILE *in, char *line)
{
    struct stat st;
    if (fstat(fileno(in), &st) != 0 || !S_ISREG(st.st_mode))
        return AUTHCTL_OK;
    unsigned long lineno = 0;
    int have, rc = AUTHCTL_OK;
    while (rc == AUTHCTL_OK && (have = next_line(in, line, &lineno)) != 0) {
        Authd__V1__ImportUser u;
        struct import_batch one = {.users = &u, .n = 1};
        char err[128];
        if (have < 0) {
            rc = AUTHCTL_BAD_MANIFEST;
        } else if (parse_line(line, &u, err, sizeof(err)) != 0) {
            fprintf(stderr, "authctl: line %lu: %s (nothing imported)\n", lineno, err);
            rc = AUTHCTL_BAD_MANIFEST;
        }
        if (have > 0)
            batch_clear(&one);
    }
    if (rc == AUTHCTL_OK && fseek(in, 0, SEEK_SET) != 0) {
        fprintf(stderr, "authctl: cannot read the input again: %s\n", strerror(errno));
        rc = AUTHCTL_BAD_MANIFEST;
    }
    return rc;
}

static int
run_import(struct ctl *ctl, FILE *in, const struct import_args *a, FILE *tokens)
{
    struct import_batch b = {0};
    size_t cap = (size_t)(a->batch > 0 ? a->batch : IMPORT_BATCH_DEFAULT);
    char *line = malloc(IMPORT_LINE_MAX + 2);
    char load_id[40];
    unsigned long lineno = 0;
    unsigned long long done = 0, next_report = IMPORT_PROGRESS_EVERY;
    double t0 = now_s();
    int rc = AUTHCTL_OK, have = 0;

    b.users = calloc(cap, sizeof(*b.users));
    b.ptrs = calloc(cap, sizeof(*b.ptrs));
    b.line = calloc(cap, sizeof(*b.line));
    if (line == NULL || b.users == NULL || b.ptrs == NULL || b.line == NULL) {
        fprintf(stderr, "authctl: out of memory\n");
        rc = AUTHCTL_USAGE;
        goto out;
    }
    for (size_t i = 0; i < cap; i++) {
        authd__v1__import_user__init(&b.users[i]);
        b.ptrs[i] = &b.users[i];
    }
    if (a->load_id != NULL) {
        snprintf(load_id, sizeof(load_id), "%s", a->load_id);
    } else {
        uint8_t rnd[12];
        if (secret_random(rnd, sizeof(rnd)) != AUTHD_OK) {
            rc = AUTHCTL_USAGE;
            goto out;
        }
        secret_b64url_encode(rnd, sizeof(rnd), load_id);
    }
    if ((rc = prevalidate(in, line)) != AUTHCTL_OK)
        goto out;
    /* One line read ahead (blank ones skipped): the call that takes the input's last user says
     * it is the last, however many blank lines follow it. */
    have = next_line(in, line, &lineno);
    while (have > 0 && rc == AUTHCTL_OK) {
        while (have > 0 && b.n < cap) {
            char err[128];
            if (parse_line(line, &b.users[b.n], err, sizeof(err)) != 0) {
                b.n++; /* so that batch_clear frees what was parsed */
                fprintf(stderr, "authctl: line %lu: %s\n", lineno, err);
                rc = AUTHCTL_BAD_MANIFEST;
                break;
            }
            b.line[b.n++] = lineno;
            have = next_line(in, line, &lineno);
        }
        if (rc != AUTHCTL_OK)
            break;
        if (have < 0) {
            rc = AUTHCTL_BAD_MANIFEST;
            break;
        }
        rc = send_batch(ctl, &b, load_id, have == 0, tokens, done);
        if (rc == AUTHCTL_OK)
            done += b.n;
        batch_clear(&b);
        if (!a->quiet && done >= next_report) {
            fprintf(stderr, "authctl: %llu users imported (%.0f/s)\n", done, done / (now_s() - t0));
            next_report += IMPORT_PROGRESS_EVERY;
        }
    }
    if (have < 0)
        rc = AUTHCTL_BAD_MANIFEST;
    double secs = now_s() - t0;
    if (rc == AUTHCTL_OK) {
        if (ctl->json)
            rc = ctl_print_json(json_pack("{s:s, s:I, s:f, s:f}", "load_id", load_id, "users",
                                          (json_int_t)done, "seconds", secs, "users_per_s",
                                          secs > 0 ? done / secs : 0.0));
        else
            printf("imported %llu users in %.1f s (%.0f users/s), load %s\n", done, secs,
                   secs > 0 ? done / secs : 0.0, load_id);
    } else if (done > 0) {
        fprintf(stderr, "authctl: %llu users were imported before the failure (load %s)\n", done,
                load_id);
    }
out:
    batch_clear(&b);
    free(b.users);
    free(b.ptrs);
    free(b.line);
    if (line != NULL)
        secret_freezero(line, IMPORT_LINE_MAX + 2);
    return rc;
}

int
ctl_user_import(struct ctl *ctl, int argc, char **argv)
{
#define F(member) OPTS_FIELD(struct import_args, member)
    static const struct opts_spec table[] = {
        {"batch", 0, NULL, OPTS_INT, "N", 1, IMPORT_BATCH_MAX, NULL, "1000",
         "users per call (each call is one transaction: all or nothing)", F(batch)},
        {"tokens-out", 0, NULL, OPTS_STRING, "FILE", 0, 0, NULL, NULL,
         "write \"<email> <id> <session token>\" for each user imported with \"session\": true\n"
         "to FILE (made 0600; must not exist: the tokens are bearer secrets)",
         F(tokens_out)},
        {"load-id", 0, NULL, OPTS_STRING, "ID", 0, 0, NULL, NULL,
         "the load's name in authd's audit (default: random)", F(load_id)},
        {"quiet", 'q', NULL, OPTS_FLAG, NULL, 0, 0, NULL, NULL, "no progress lines", F(quiet)},
        CTL_OUTPUT_ROW(struct import_args),
    };
#undef F
    static const struct opts_program program = {
        .name = "authctl user import",
        .synopsis =
            "usage: authctl user import FILE|- [--batch N] [--tokens-out FILE] [--load-id ID]\n"
            "Bulk-loads users from JSON Lines, one object per line:\n"
            "  {\"email\": \"a@example.com\", \"password_hash\": \"$argon2id$v=19$m=19456,t=2,"
            "p=1$...$...\",\n"
            "   \"id\": \"...\", \"email_verified\": true, \"inactive\": false, \"session\": "
            "true,\n"
            "   \"auth_time\": 1700000000}\n"
            "Only email is required. password_hash is a precomputed Argon2id PHC string (as\n"
            "other identity providers export them); without it the user has no password.\n"
            "auth_time: when the user last signed in at the source (Unix seconds; default 0,\n"
            "unknown); an imported session never counts as a recent sign-in (max_age).\n"
            "A regular file is checked whole before the first call. Each call of --batch\n"
            "users is one transaction; a taken e-mail or id, or a bad hash, refuses that\n"
            "call and stops the import, naming the line.\n",
        .specs = table,
        .n_specs = sizeof(table) / sizeof(table[0]),
    };
    struct import_args a = {0};
    char *rest[CTL_REST_MAX];
    const char *path = NULL;
    FILE *in = NULL, *tokens = NULL;

    int rc = AUTHCTL_OK;
    if (argc > 1 && strcmp(argv[1], "-") == 0) {
        /* Standard input: ctl_take_word takes no word that begins with '-'. */
        if (argc > CTL_REST_MAX)
            return ctl_usage_error("'user import': too many arguments");
        path = "-";
        rest[0] = argv[0];
        for (int i = 2; i < argc; i++)
            rest[i - 1] = argv[i];
        rest[argc - 1] = NULL;
        argc--;
        argv = rest;
    } else {
        rc = ctl_take_word(&argc, &argv, rest, "user import", &path);
    }
    if (rc != AUTHCTL_OK)
        return rc;
    rc = ctl_parse_sub(ctl, &program, argc, argv, &a, &a.output);
    if (rc != AUTHCTL_OK)
        return rc;
    if (path == NULL)
        return ctl_usage_error("'user import' needs the file to read (- for standard input)");
    in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (in == NULL) {
        fprintf(stderr, "authctl: cannot open %s: %s\n", path, strerror(errno));
        return AUTHCTL_BAD_MANIFEST;
    }
    if (a.tokens_out != NULL) {
        int fd = open(a.tokens_out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        tokens = fd >= 0 ? fdopen(fd, "w") : NULL;
        if (tokens == NULL) {
            fprintf(stderr, "authctl: cannot create %s: %s\n", a.tokens_out, strerror(errno));
            if (fd >= 0)
                close(fd);
            if (in != stdin)
                fclose(in);
            return AUTHCTL_USAGE;
        }
    }
    rc = run_import(ctl, in, &a, tokens);
    if (tokens != NULL && fclose(tokens) != 0 && rc == AUTHCTL_OK) {
        fprintf(stderr, "authctl: cannot write %s: %s\n", a.tokens_out, strerror(errno));
        rc = AUTHCTL_USAGE;
    }
    if (in != stdin)
        fclose(in);
    return rc;
}
