/* closeloop sync: pull cases from a Close the Loop API into JSONL, CSV or
 * SQLite, resuming from the cursor the previous run stored. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "client/sink.h"
#include "closeloop/client.h"
#include "common/timeutil.h"

#define SECRET_FILE_MAX   4096 /* bytes read from --client-secret-file */
#define SYNC_PER_PAGE     1000 /* fewer round trips than the server's 100 */
#define PROGRESS_EVERY_MS 250
#define MAX_SECONDS       86400L

static void usage(FILE *out)
{
    fprintf(out,
            "usage: closeloop sync [--region eu|us|au | --base-url URL] [options]\n"
            "\n"
            "Pulls the Close the Loop cases that changed since the stored cursor and\n"
            "writes them to stdout or a file; run it again (e.g. hourly) to continue.\n"
            "\n"
            "  --region eu|us|au        sync from CustomerGauge's hosts in that region\n"
            "  --base-url URL           sync from one server serving /oauth2/token and /v7\n"
            "  --client-id ID           the Connected App (default $CLOSELOOP_CLIENT_ID)\n"
            "  --client-secret-file F   read the secret from F (default\n"
            "                           $CLOSELOOP_CLIENT_SECRET)\n"
            "  --since YYYY-mm-dd       only cases updated on or after that day (UTC)\n"
            "  --until YYYY-mm-dd       only cases updated on or before that day (UTC)\n"
            "  --per-page N             cases per request, 1..1000 (default %d)\n"
            "  --cursor N               start after this cursor (overrides a stored one)\n"
            "  --state FILE             keep the cursor of JSONL/CSV output in FILE\n"
            "  --format jsonl|csv       output format (default jsonl)\n"
            "  --output FILE            write to FILE instead of stdout\n"
            "  --output sqlite:PATH     upsert into table close_loop_cases of a SQLite\n"
            "                           database, which also keeps the cursor\n"
            "  --timeout SECONDS        limit for one HTTP request (default 60)\n"
            "  --deadline SECONDS       give up retrying a request after this (default 300)\n"
            "  --ca-file FILE           trust the CA certificates in FILE (PEM) instead of\n"
            "                           the system's; certificates are always verified\n"
            "  --quiet                  no progress line on a terminal\n"
            "\n"
            "Exit status: 0 done, 2 usage, 3 authentication, 4 server or network,\n"
            "5 output or storage.\n",
            SYNC_PER_PAGE);
}

struct sync_args {
    const char *region;
    const char *base_url;
    const char *client_id;
    const char *secret_file;
    const char *since;
    const char *until;
    long per_page;
    long cursor; /* -1 when not given */
    const char *state;
    const char *format;
    const char *output;
    long timeout_s;
    long deadline_s;
    int quiet;
    const char *ca_file;
};

enum {
    O_REGION = 256,
    O_BASE_URL,
    O_CLIENT_ID,
    O_SECRET_FILE,
    O_SINCE,
    O_UNTIL,
    O_PER_PAGE,
    O_CURSOR,
    O_STATE,
    O_FORMAT,
    O_OUTPUT,
    O_TIMEOUT,
    O_DEADLINE,
    O_QUIET,
    O_CA_FILE,
    O_HELP
};

static const struct option long_options[] = {
    {"region", required_argument, NULL, O_REGION},
    {"base-url", required_argument, NULL, O_BASE_URL},
    {"client-id", required_argument, NULL, O_CLIENT_ID},
    {"client-secret-file", required_argument, NULL, O_SECRET_FILE},
    {"since", required_argument, NULL, O_SINCE},
    {"until", required_argument, NULL, O_UNTIL},
    {"per-page", required_argument, NULL, O_PER_PAGE},
    {"cursor", required_argument, NULL, O_CURSOR},
    {"state", required_argument, NULL, O_STATE},
    {"format", required_argument, NULL, O_FORMAT},
    {"output", required_argument, NULL, O_OUTPUT},
    {"timeout", required_argument, NULL, O_TIMEOUT},
    {"deadline", required_argument, NULL, O_DEADLINE},
    {"quiet", no_argument, NULL, O_QUIET},
    {"ca-file", required_argument, NULL, O_CA_FILE},
    {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0},
};

static bool valid_date(const char *s)
{
    int64_t epoch;
    return time_parse_date(s, strlen(s), &epoch);
}

/* Returns -1 to go on, or the exit code. */
static int parse_args(int argc, char **argv, struct sync_args *a)
{
    *a = (struct sync_args){.per_page = SYNC_PER_PAGE,
                            .cursor = -1,
                            .format = "jsonl",
                            .timeout_s = 60,
                            .deadline_s = 300};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":", long_options, NULL)) != -1) {
        const char *v = optarg;
        switch (c) {
        case O_REGION:
            a->region = v;
            break;
        case O_BASE_URL:
            a->base_url = v;
            break;
        case O_CLIENT_ID:
            a->client_id = v;
            break;
        case O_SECRET_FILE:
            a->secret_file = v;
            break;
        case O_SINCE:
            a->since = v;
            break;
        case O_UNTIL:
            a->until = v;
            break;
        case O_STATE:
            a->state = v;
            break;
        case O_FORMAT:
            a->format = v;
            break;
        case O_OUTPUT:
            a->output = v;
            break;
        case O_QUIET:
            a->quiet = 1;
            break;
        case O_CA_FILE:
            a->ca_file = v;
            break;
        case O_PER_PAGE:
            if (cli_parse_long(v, 1, CL_PER_PAGE_MAX, &a->per_page)) {
                cli_error("--per-page must be 1..%d", CL_PER_PAGE_MAX);
                return EXIT_USAGE;
            }
            break;
        case O_CURSOR:
            if (cli_parse_long(v, 0, INT64_MAX, &a->cursor)) {
                cli_error("--cursor must be a non-negative integer");
                return EXIT_USAGE;
            }
            break;
        case O_TIMEOUT:
            if (cli_parse_long(v, 1, MAX_SECONDS, &a->timeout_s)) {
                cli_error("--timeout must be 1..%ld seconds", MAX_SECONDS);
                return EXIT_USAGE;
            }
            break;
        case O_DEADLINE:
            if (cli_parse_long(v, 0, MAX_SECONDS, &a->deadline_s)) {
                cli_error("--deadline must be 0..%ld seconds", MAX_SECONDS);
                return EXIT_USAGE;
            }
            break;
        case O_HELP:
            usage(stdout);
            return EXIT_OK;
        case ':':
            cli_error("%s needs a value", argv[optind - 1]);
            return EXIT_USAGE;
        default:
            cli_error("unknown option '%s' (try 'closeloop sync --help')", argv[optind - 1]);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        cli_error("unexpected argument '%s'", argv[optind]);
        return EXIT_USAGE;
    }
    if (!a->base_url == !a->region) {
        cli_error("give exactly one of --region eu|us|au and --base-url URL");
        return EXIT_USAGE;
    }
    if (a->region && strcmp(a->region, "eu") != 0 && strcmp(a->region, "us") != 0 &&
        strcmp(a->region, "au") != 0) {
        cli_error("--region must be eu, us or au");
        return EXIT_USAGE;
    }
    if ((a->since && !valid_date(a->since)) || (a->until && !valid_date(a->until))) {
        cli_error("--since and --until must be real dates as YYYY-mm-dd");
        return EXIT_USAGE;
    }
    if (a->since && a->until && strcmp(a->since, a->until) > 0) {
        cli_error("--since is after --until");
        return EXIT_USAGE;
    }
    /* A CA file that cannot be read is a mistake in the command, not a
     * network failure worth retrying until the deadline. */
    if (a->ca_file) {
        FILE *f = fopen(a->ca_file, "r");
        if (!f) {
            cli_error("cannot read --ca-file %s: %s", a->ca_file, strerror(errno));
            return EXIT_USAGE;
        }
        fclose(f);
    }
    if (strcmp(a->format, "jsonl") != 0 && strcmp(a->format, "csv") != 0) {
        cli_error("--format must be jsonl or csv");
        return EXIT_USAGE;
    }
    if (!a->client_id)
        a->client_id = getenv("CLOSELOOP_CLIENT_ID");
    if (!a->client_id || !*a->client_id) {
        cli_error("no client id: use --client-id or set CLOSELOOP_CLIENT_ID");
        return EXIT_USAGE;
    }
    return -1;
}

/* The secret from --client-secret-file (first line) or the environment, as a
 * new string the caller wipes and frees; NULL with a message printed. */
static char *read_secret(const char *file)
{
    if (!file) {
        const char *env = getenv("CLOSELOOP_CLIENT_SECRET");
        if (!env || !*env) {
            cli_error("no client secret: set CLOSELOOP_CLIENT_SECRET or use "
                      "--client-secret-file");
            return NULL;
        }
        return strdup(env);
    }
    FILE *f = fopen(file, "r");
    if (!f) {
        cli_error("cannot read --client-secret-file %s", file);
        return NULL;
    }
    char *s = calloc(1, SECRET_FILE_MAX + 1);
    size_t n = s ? fread(s, 1, SECRET_FILE_MAX, f) : 0;
    fclose(f);
    if (!s)
        return NULL;
    s[strcspn(s, "\r\n")] = '\0';
    if (!*s) {
        cli_error("--client-secret-file %s holds no secret", file);
        free(s);
        return NULL;
    }
    (void)n;
    return s;
}

static int exit_for(cl_code rc)
{
    switch (rc) {
    case CLC_OK:
        return EXIT_OK;
    case CLC_BAD_ARGUMENT:
        return EXIT_USAGE;
    case CLC_AUTH:
    case CLC_FORBIDDEN:
        return EXIT_AUTH;
    case CLC_REJECTED:
    case CLC_NETWORK:
    case CLC_SERVER:
    case CLC_PROTOCOL:
        return EXIT_NETWORK;
    case CLC_OUT_OF_MEMORY:
        break;
    }
    return EXIT_FAILURE_;
}

struct progress {
    bool on;
    int64_t start_ms;
    int64_t last_ms;
    uint64_t records;
    uint64_t pages;
};

static void progress_show(struct progress *p, bool final)
{
    if (!p->on)
        return;
    int64_t now = time_mono_ms();
    if (!final && now - p->last_ms < PROGRESS_EVERY_MS)
        return;
    p->last_ms = now;
    double secs = (double)(now - p->start_ms) / 1000.0;
    double rate = secs > 0 ? (double)p->records / secs : 0;
    fprintf(stderr, "\rsync: %llu records, %llu pages, %.0f records/s%s",
            (unsigned long long)p->records, (unsigned long long)p->pages, rate, final ? "\n" : "");
}

/* The identity of the API a stored cursor belongs to. */
static void source_key(const struct sync_args *a, char *out, size_t size)
{
    if (a->base_url) {
        snprintf(out, size, "%s", a->base_url);
        size_t n = strlen(out);
        while (n > 0 && out[n - 1] == '/')
            out[--n] = '\0';
    } else {
        snprintf(out, size, "https://api.%s.customergauge.com", a->region);
    }
}

static int run(const struct sync_args *a, const char *secret)
{
    char source[1024];
    source_key(a, source, sizeof source);
    struct sink_config cfg = {.source = source, .since = a->since, .until = a->until};
    bool sqlite = a->output && strncmp(a->output, "sqlite:", 7) == 0;
    if (sqlite) {
        cfg.format = SINK_SQLITE;
        cfg.path = a->output + 7;
        if (!*cfg.path || a->state) {
            cli_error(!*cfg.path ? "--output sqlite: needs a path"
                                 : "--state is for JSONL/CSV; SQLite keeps its own cursor");
            return EXIT_USAGE;
        }
    } else {
        cfg.format = strcmp(a->format, "csv") == 0 ? SINK_CSV : SINK_JSONL;
        cfg.path = a->output && strcmp(a->output, "-") != 0 ? a->output : NULL;
        cfg.state_path = a->state;
    }

    int code = EXIT_OK;
    struct sink *sink = NULL;
    cl_client *client = NULL;
    cl_sync *sync = NULL;
    char msg[CL_ERRMSG_MAX] = "";
    cl_err err = sink_open(&cfg, &sink, msg);
    if (err) {
        cli_error("%s", msg[0] ? msg : cl_strerror(err));
        return err == CL_EINVAL ? EXIT_USAGE : EXIT_STORAGE;
    }

    cl_options o;
    cl_options_init(&o);
    o.base_url = a->base_url;
    o.region = a->region;
    o.client_id = a->client_id;
    o.client_secret = secret;
    o.request_timeout_ms = a->timeout_s * 1000;
    o.deadline_ms = a->deadline_s * 1000;
    o.ca_file = a->ca_file;
    cl_code rc = cl_client_new(&o, &client);
    if (rc) {
        cli_error("%s", cl_code_str(rc));
        code = exit_for(rc);
        goto out;
    }
    /* An explicit --cursor wins; otherwise continue where the last run
     * stopped; otherwise start from the beginning. */
    int64_t stored = 0;
    cl_query q = {.since = a->since, .until = a->until, .per_page = (int)a->per_page};
    if (a->cursor >= 0)
        q.cursor = a->cursor;
    else if (sink_stored_cursor(sink, &stored))
        q.cursor = stored;
    rc = cl_sync_new(client, &q, &sync);

    struct progress p = {.on = !a->quiet && isatty(STDERR_FILENO), .start_ms = time_mono_ms()};
    const cl_page *page;
    while (!rc && !(rc = cl_sync_next_page(sync, &page)) && page) {
        err = sink_write_page(sink, page->cases, page->count, page->cursor, msg);
        if (err)
            break;
        p.records += page->count;
        p.pages++;
        progress_show(&p, false);
    }
    if (!rc && !err)
        err = sink_finish(sink, cl_sync_cursor(sync), msg);
    progress_show(&p, true);
    if (err) {
        cli_error("%s", msg[0] ? msg : cl_strerror(err));
        code = EXIT_STORAGE;
    } else if (rc) {
        const char *detail = cl_client_errmsg(client);
        cli_error("%s: %s", cl_code_str(rc), detail[0] ? detail : "no detail");
        code = exit_for(rc);
    }
out:
    cl_sync_free(&sync);
    cl_client_free(&client);
    sink_free(&sink);
    return code;
}

int cmd_sync(int argc, char **argv)
{
    struct sync_args a;
    int code = parse_args(argc, argv, &a);
    if (code >= 0)
        return code;
    char *secret = read_secret(a.secret_file);
    if (!secret)
        return EXIT_USAGE;
    /* A closed pipe downstream is an output error (exit 5), not a signal. */
    signal(SIGPIPE, SIG_IGN);
    code = run(&a, secret);
    explicit_bzero(secret, strlen(secret));
    free(secret);
    return code;
}
