/* closeloop apps: create, list, revoke and rotate Connected Apps (SPEC §4).
 *
 * A secret exists in clear only between its generation and the moment it is
 * printed: the database keeps its hash, so it is shown exactly once. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/secret.h"
#include "cli/cli.h"
#include "common/buf.h"
#include "common/json.h"
#include "common/timeutil.h"
#include "store/store.h"

#define APPS_MAX_ARGS      2         /* the subcommand and at most one operand */
#define APPS_JSON_LIMIT    (1 << 24) /* cap of the JSON written by `apps list --json` */
#define APPS_ID_ATTEMPTS   3         /* new client ids tried before giving up on collisions */
#define APPS_DEFAULT_SCOPE SCOPE_READ
#define NAME_COLUMN_MIN    4 /* strlen("NAME") */

struct apps_opts {
    const char *db;
    const char *scope;
    bool json;
    bool help;
};

static const char usage_text[] =
    "usage: closeloop apps create NAME [--scope read|write|read,write] [--json] [--db URL]\n"
    "       closeloop apps list [--json] [--db URL]\n"
    "       closeloop apps revoke CLIENT_ID [--db URL]\n"
    "       closeloop apps rotate CLIENT_ID [--json] [--db URL]\n"
    "\n"
    "Manage the Connected Apps whose client credentials obtain access tokens.\n"
    "'closeloop apps <command> --help' describes a command.\n";

static const char create_help[] =
    "usage: closeloop apps create NAME [--scope read|write|read,write] [--json] [--db URL]\n"
    "\n"
    "Creates a Connected App and prints its client id and secret. The secret is\n"
    "shown only this once; the database keeps a hash of it.\n"
    "\n"
    "  --scope S   what its tokens may do: read (default), write or read,write\n"
    "  --json      print only {\"client_id\":...,\"client_secret\":...}\n"
    "  --db URL    the database (default $CLOSELOOP_DB, else " CLI_DEFAULT_DB ")\n";

static const char list_help[] =
    "usage: closeloop apps list [--json] [--db URL]\n"
    "\n"
    "Lists the Connected Apps: client id, name, scopes, status and creation time (UTC).\n"
    "\n"
    "  --json      print a JSON array instead of a table\n"
    "  --db URL    the database (default $CLOSELOOP_DB, else " CLI_DEFAULT_DB ")\n";

static const char revoke_help[] =
    "usage: closeloop apps revoke CLIENT_ID [--db URL]\n"
    "\n"
    "Revokes a Connected App: it can no longer obtain tokens, and the tokens it\n"
    "holds stop working within seconds. Revocation cannot be undone.\n"
    "\n"
    "  --db URL    the database (default $CLOSELOOP_DB, else " CLI_DEFAULT_DB ")\n";

static const char rotate_help[] =
    "usage: closeloop apps rotate CLIENT_ID [--json] [--db URL]\n"
    "\n"
    "Replaces a Connected App's secret and prints the new one, once. The old\n"
    "secret stops working at once, and tokens issued before within seconds.\n"
    "\n"
    "  --json      print only {\"client_id\":...,\"client_secret\":...}\n"
    "  --db URL    the database (default $CLOSELOOP_DB, else " CLI_DEFAULT_DB ")\n";

/* Opens the database, reporting failure as one line. */
static int open_store(const struct apps_opts *o, struct store **s)
{
    char msg[CL_ERRMSG_MAX] = "";
    const char *url = cli_db_url(o->db);
    cl_err err = store_open(url, s, msg);
    if (err) {
        /* The store's message names the database already. */
        char shown[STORE_URL_SHOWN_MAX];
        if (*msg)
            cli_error("%s", msg);
        else
            cli_error("cannot open database %s: %s", store_url_redact(url, shown, sizeof shown),
                      cl_strerror(err));
        return EXIT_STORAGE;
    }
    return EXIT_OK;
}

static int store_failure(cl_err err, const char *msg)
{
    cli_error("database error: %s", msg && *msg ? msg : cl_strerror(err));
    return EXIT_STORAGE;
}

/* Flushes stdout; a full disk or closed pipe is an output failure. */
static int finish_output(void)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error("cannot write to standard output");
        return EXIT_STORAGE;
    }
    return EXIT_OK;
}

/* Prints credentials: the JSON object alone, or a block for a human. */
static int print_credentials(const struct apps_opts *o, const char *verb, const char *name,
                             const char *client_id, const char *secret, unsigned scopes)
{
    if (o->json) {
        struct buf b;
        buf_init(&b, APPS_JSON_LIMIT);
        buf_puts(&b, "{\"client_id\":");
        json_cstr(&b, client_id);
        buf_puts(&b, ",\"client_secret\":");
        json_cstr(&b, secret);
        buf_puts(&b, "}\n");
        if (buf_failed(&b)) {
            buf_free(&b);
            cli_error("out of memory");
            return EXIT_FAILURE_;
        }
        fwrite(b.data, 1, b.len, stdout);
        buf_free(&b);
        return finish_output();
    }
    printf("%s Connected App \"%s\".\n\n", verb, name);
    printf("  client id:      %s\n", client_id);
    printf("  client secret:  %s\n", secret);
    printf("  scopes:         %s\n\n", scope_name(scopes));
    printf("The secret is shown only now and cannot be recovered; store it safely.\n");
    return finish_output();
}

/* An app name: 1..APP_NAME_MAX bytes without control characters. */
static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > APP_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

static int apps_create(const struct apps_opts *o, const char *name)
{
    unsigned scopes = APPS_DEFAULT_SCOPE;
    if (o->scope && !scope_parse(o->scope, strlen(o->scope), &scopes)) {
        cli_error("invalid --scope '%s' (use read, write or read,write)", o->scope);
        return EXIT_USAGE;
    }
    if (!valid_name(name)) {
        cli_error("the app name must be 1 to %d printable bytes", APP_NAME_MAX);
        return EXIT_USAGE;
    }

    struct store *s = NULL;
    int rc = open_store(o, &s);
    if (rc)
        return rc;

    char msg[CL_ERRMSG_MAX] = "";
    char secret[SECRET_LEN + 1];
    struct app_record app;
    memset(&app, 0, sizeof app);
    snprintf(app.name, sizeof app.name, "%s", name);
    app.scopes = scopes;
    app.generation = 1;
    app.created_at = time_now();

    cl_err err = secret_new(secret, app.secret_hash);
    /* 128 random bits make a collision practically impossible, but a retry
     * costs nothing and keeps the failure mode a clean one. */
    for (int i = 0; !err && i < APPS_ID_ATTEMPTS; i++) {
        err = secret_new_client_id(app.client_id);
        if (!err)
            err = store_app_insert(s, &app, msg);
        if (err != CL_EEXIST)
            break;
    }
    store_close(&s);
    if (err == CL_EIO) {
        cli_error("cannot read random bytes from the operating system");
        rc = EXIT_FAILURE_;
    } else if (err) {
        rc = store_failure(err, msg);
    } else {
        rc = print_credentials(o, "Created", app.name, app.client_id, secret, scopes);
        if (rc)
            cli_error("app %s was created, but its secret was not shown: 'closeloop apps rotate "
                      "%s' issues a new one",
                      app.client_id, app.client_id);
    }
    explicit_bzero(secret, sizeof secret);
    return rc;
}

/* The apps collected for listing. */
struct app_list {
    struct app_record *v;
    size_t n, cap;
};

static cl_err collect(void *ud, const struct app_record *a)
{
    struct app_list *l = ud;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        struct app_record *p = realloc(l->v, cap * sizeof *p);
        if (!p)
            return CL_ENOMEM;
        l->v = p;
        l->cap = cap;
    }
    l->v[l->n++] = *a;
    /* The listing never shows the hash; keep it out of this copy too. */
    memset(l->v[l->n - 1].secret_hash, 0, SECRET_HASH_LEN);
    return CL_OK;
}

static const char *status_name(const struct app_record *a)
{
    return a->revoked ? "revoked" : "active";
}

static int print_list_json(const struct app_list *l)
{
    struct buf b;
    buf_init(&b, APPS_JSON_LIMIT);
    buf_putc(&b, '[');
    for (size_t i = 0; i < l->n; i++) {
        const struct app_record *a = &l->v[i];
        if (i)
            buf_putc(&b, ',');
        buf_puts(&b, "{\"client_id\":");
        json_cstr(&b, a->client_id);
        buf_puts(&b, ",\"name\":");
        json_cstr(&b, a->name);
        buf_puts(&b, ",\"scope\":");
        json_cstr(&b, scope_name(a->scopes));
        buf_puts(&b, ",\"status\":");
        json_cstr(&b, status_name(a));
        buf_puts(&b, ",\"created_at\":");
        json_time(&b, a->created_at);
        buf_putc(&b, '}');
    }
    buf_puts(&b, "]\n");
    if (buf_failed(&b)) {
        buf_free(&b);
        cli_error("the app list is too large to print as JSON");
        return EXIT_FAILURE_;
    }
    fwrite(b.data, 1, b.len, stdout);
    buf_free(&b);
    return finish_output();
}

static int print_list_table(const struct app_list *l)
{
    if (l->n == 0) {
        printf("No Connected Apps yet; create one with 'closeloop apps create NAME'.\n");
        return finish_output();
    }
    int name_w = NAME_COLUMN_MIN;
    for (size_t i = 0; i < l->n; i++) {
        int n = (int)strlen(l->v[i].name);
        if (n > name_w)
            name_w = n;
    }
    printf("%-*s  %-*s  %-10s  %-7s  %s\n", CLIENT_ID_LEN, "CLIENT ID", name_w, "NAME", "SCOPES",
           "STATUS", "CREATED (UTC)");
    for (size_t i = 0; i < l->n; i++) {
        const struct app_record *a = &l->v[i];
        char created[TIME_FORMAT_LEN + 1];
        time_format(a->created_at, created);
        printf("%-*s  %-*s  %-10s  %-7s  %s\n", CLIENT_ID_LEN, a->client_id, name_w, a->name,
               scope_name(a->scopes), status_name(a), created);
    }
    return finish_output();
}

static int apps_list(const struct apps_opts *o)
{
    struct store *s = NULL;
    int rc = open_store(o, &s);
    if (rc)
        return rc;

    char msg[CL_ERRMSG_MAX] = "";
    struct app_list l = {0};
    cl_err err = store_app_list(s, collect, &l, msg);
    store_close(&s);
    if (err == CL_ENOMEM) {
        cli_error("out of memory");
        rc = EXIT_FAILURE_;
    } else if (err) {
        rc = store_failure(err, msg);
    } else {
        rc = o->json ? print_list_json(&l) : print_list_table(&l);
    }
    free(l.v);
    return rc;
}

static int no_such_app(const char *client_id)
{
    cli_error("no app with client id %s", client_id);
    return EXIT_USAGE;
}

static int apps_revoke(const struct apps_opts *o, const char *client_id)
{
    struct store *s = NULL;
    int rc = open_store(o, &s);
    if (rc)
        return rc;

    char msg[CL_ERRMSG_MAX] = "";
    cl_err err = store_app_revoke(s, client_id, msg);
    store_close(&s);
    if (err == CL_ENOTFOUND)
        return no_such_app(client_id);
    if (err)
        return store_failure(err, msg);
    printf("Revoked Connected App %s; its tokens stop working within seconds.\n", client_id);
    return finish_output();
}

static int apps_rotate(const struct apps_opts *o, const char *client_id)
{
    struct store *s = NULL;
    int rc = open_store(o, &s);
    if (rc)
        return rc;

    char msg[CL_ERRMSG_MAX] = "";
    char secret[SECRET_LEN + 1];
    unsigned char hash[SECRET_HASH_LEN];
    struct app_record app;
    int64_t generation = 0;

    /* Looked up first to tell an unknown app from a revoked one, which the
     * store reports alike. */
    cl_err err = store_app_get(s, client_id, &app, msg);
    if (err == CL_ENOTFOUND) {
        rc = no_such_app(client_id);
        goto out;
    }
    if (!err && app.revoked) {
        cli_error("app %s is revoked; create a new one instead", client_id);
        rc = EXIT_USAGE;
        goto out;
    }
    if (!err && secret_new(secret, hash) != CL_OK) {
        cli_error("cannot read random bytes from the operating system");
        rc = EXIT_FAILURE_;
        goto out;
    }
    if (!err)
        err = store_app_rotate(s, client_id, hash, &generation, msg);
    if (err == CL_ENOTFOUND) {
        /* Revoked by someone else between the two calls. */
        rc = no_such_app(client_id);
        goto out;
    }
    if (err) {
        rc = store_failure(err, msg);
        goto out;
    }
    store_close(&s);
    rc = print_credentials(o, "Rotated the secret of", app.name, client_id, secret, app.scopes);
    explicit_bzero(secret, sizeof secret);
    return rc;

out:
    store_close(&s);
    return rc;
}

/* Parses options anywhere on the line (GNU getopt permutes), leaving the
 * operands in argv[optind..argc). Returns -1 when parsing may go on, else an
 * exit code. */
static int parse_opts(int argc, char **argv, struct apps_opts *o)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},
        {"scope", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0; /* errors are reported below, as one line */
    optind = 0; /* 0 makes glibc reinitialize, should another command have parsed */
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            o->db = optarg;
            break;
        case 's':
            o->scope = optarg;
            break;
        case 'j':
            o->json = true;
            break;
        case 'h':
            o->help = true;
            break;
        case ':':
            cli_error("option '%s' needs a value", argv[optind - 1]);
            return EXIT_USAGE;
        default:
            cli_error("unknown option '%s' (try 'closeloop apps --help')", argv[optind - 1]);
            return EXIT_USAGE;
        }
    }
    return -1;
}

/* The operand count and options that a subcommand accepts. */
struct subcommand {
    const char *name;
    const char *operand; /* NULL when it takes none */
    bool scope, json;
    const char *help;
};

static const struct subcommand subcommands[] = {
    {"create", "NAME", true, true, create_help},
    {"list", NULL, false, true, list_help},
    {"revoke", "CLIENT_ID", false, false, revoke_help},
    {"rotate", "CLIENT_ID", false, true, rotate_help},
};

int cmd_apps(int argc, char **argv)
{
    struct apps_opts o = {0};
    int rc = parse_opts(argc, argv, &o);
    if (rc >= 0)
        return rc;

    char **args = argv + optind;
    int nargs = argc - optind;
    if (nargs == 0) {
        fputs(usage_text, o.help ? stdout : stderr);
        return o.help ? EXIT_OK : EXIT_USAGE;
    }

    const struct subcommand *sub = NULL;
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        if (strcmp(args[0], subcommands[i].name) == 0)
            sub = &subcommands[i];
    if (!sub) {
        cli_error("unknown apps command '%s' (try 'closeloop apps --help')", args[0]);
        return EXIT_USAGE;
    }
    if (o.help) {
        fputs(sub->help, stdout);
        return EXIT_OK;
    }
    if ((o.scope && !sub->scope) || (o.json && !sub->json)) {
        cli_error("'apps %s' takes no %s option", sub->name,
                  o.scope && !sub->scope ? "--scope" : "--json");
        return EXIT_USAGE;
    }
    int want = sub->operand ? APPS_MAX_ARGS : 1;
    if (nargs != want) {
        if (nargs < want)
            cli_error("'apps %s' needs %s", sub->name, sub->operand);
        else
            cli_error("'apps %s' got an unexpected argument '%s'", sub->name, args[want]);
        return EXIT_USAGE;
    }

    if (strcmp(sub->name, "create") == 0)
        return apps_create(&o, args[1]);
    if (strcmp(sub->name, "list") == 0)
        return apps_list(&o);
    if (strcmp(sub->name, "revoke") == 0)
        return apps_revoke(&o, args[1]);
    return apps_rotate(&o, args[1]);
}
