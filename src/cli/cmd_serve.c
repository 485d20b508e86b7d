/* closeloop serve: the API server. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "auth/secret.h"
#include "auth/token.h"
#include "cases/seed.h"
#include "cli/cli.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "store/store.h"
#include "transport/server.h"

#define DEFAULT_LISTEN         "127.0.0.1:8080"
#define MAX_THREADS            256
#define MAX_TOKEN_TTL          86400
#define DEMO_APP_NAME          "demo"
#define DEMO_CASES             3000
#define DEMO_USERS             12
#define DEMO_DAYS              60
#define HOST_MAX               255
#define MAX_CONNECTIONS        1000000
#define MIN_REQUEST_TIMEOUT_MS 100
#define MAX_REQUEST_TIMEOUT_MS 3600000

/* getopt values of the long-only options of the hardening flags. */
enum { OPT_TLS_CERT = 1100, OPT_TLS_KEY, OPT_MAX_CONNECTIONS, OPT_REQUEST_TIMEOUT_MS };
/* ... and of the operations flags. */
enum { OPT_RATE_LIMIT = 1200, OPT_RATE_LIMIT_BURST, OPT_LOG_FORMAT, OPT_LOG_FILE };

static const char usage_text[] =
    "usage: closeloop serve [--listen HOST:PORT] [--db URL] [--region eu|us|au]\n"
    "                       [--threads N] [--token-ttl SECONDS] [--quiet] [--demo]\n"
    "                       [--tls-cert FILE --tls-key FILE] [--max-connections N]\n"
    "                       [--request-timeout-ms N]\n"
    "                       [--rate-limit N/s [--rate-limit-burst B]]\n"
    "                       [--log-format text|json] [--log-file PATH]\n"
    "\n"
    "Runs the Close the Loop API: POST /oauth2/token, GET /v7/rest/sync/close-loop\n"
    "and the PUT /v7/rest/close-loop/... write endpoints.\n"
    "\n"
    "  --listen HOST:PORT   address to listen on (default " DEFAULT_LISTEN "; port 0 picks one)\n"
    "  --db URL             an SQLite file (PATH or sqlite:PATH) or a PostgreSQL URL\n"
    "                       (postgres://...); default $CLOSELOOP_DB or " CLI_DEFAULT_DB "\n"
    "  --region R           the region tokens are issued for and accepted from (default eu)\n"
    "  --threads N          worker threads, each with its own event loop (default: cores)\n"
    "  --token-ttl SECONDS  access token lifetime (default 3600)\n"
    "  --quiet              no access log\n"
    "  --demo               on a database without cases, create demo cases; create (or\n"
    "                       rotate) the 'demo' app and print its credentials and curl commands\n"
    "  --tls-cert FILE      serve HTTPS (HTTP/2 or HTTP/1.1) with this PEM certificate chain\n"
    "  --tls-key FILE       ... and this PEM private key; give both or neither\n"
    "  --max-connections N  open connections per process; beyond: 503 (default 4096)\n"
    "  --request-timeout-ms N  a request (or TLS handshake) must arrive within N ms,\n"
    "                       else the connection is closed (default 10000)\n"
    "  --rate-limit N/s     per Connected App, for the whole process: N requests a second\n"
    "                       (or N/m, N/h); beyond: 429 with Retry-After (default: off)\n"
    "  --rate-limit-burst B requests an app may make at once (default: N)\n"
    "  --log-format F       text (default) or json: one JSON object per line, for the\n"
    "                       access log and the server's own messages\n"
    "  --log-file PATH      append the access log to PATH instead of stderr\n"
    "\n"
    "GET /openapi.yaml serves the OpenAPI 3.1 document of the API.\n"
    "GET /healthz (200, or 503 when the database fails) and GET /metrics (Prometheus)\n"
    "need no token: do not expose them publicly (see docs/operations.md).\n";

/* What on_ready prints once the port is known. */
struct ready_info {
    const char *host;
    const char *db;
    enum region region;
    unsigned threads;
    bool demo;
    const char *scheme; /* "http" or "https" */
    char client_id[CLIENT_ID_LEN + 1];
    char secret[SECRET_LEN + 1];
};

static int parse_listen(const char *s, char *host, unsigned *port)
{
    const char *colon = strrchr(s, ':');
    long p;
    if (!colon || colon == s || (size_t)(colon - s) > HOST_MAX ||
        cli_parse_long(colon + 1, 0, 65535, &p))
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    *port = (unsigned)p;
    return 0;
}

/* Finds the app named DEMO_APP_NAME, if any. */
static cl_err find_demo_app(void *ud, const struct app_record *a)
{
    struct app_record *found = ud;
    if (!a->revoked && strcmp(a->name, DEMO_APP_NAME) == 0 && found->id == 0)
        *found = *a;
    return CL_OK;
}

static void seed_progress(int64_t done, int64_t total, void *arg)
{
    (void)arg;
    fprintf(stderr, "\rcloseloop: creating demo cases %lld/%lld", (long long)done,
            (long long)total);
    if (done == total)
        fputc('\n', stderr);
}

/* Prepares the demo: seeds an empty database and gives the demo app a fresh
 * secret (a secret is never stored in clear, so it cannot be shown again). */
static cl_err demo_prepare(const char *db, struct ready_info *info, char *msg)
{
    struct store *s = NULL;
    int64_t count, max_seq;
    cl_err err = store_open(db, &s, msg);
    if (err)
        return err;
    if ((err = store_case_stats(s, &count, &max_seq, msg)))
        goto out;
    if (count == 0) {
        struct seed_options opts = {.cases = DEMO_CASES,
                                    .users = DEMO_USERS,
                                    .days = DEMO_DAYS,
                                    .now = time_now(),
                                    .progress = isatty(STDERR_FILENO) ? seed_progress : NULL};
        struct seed_stats stats;
        if ((err = seed_run(s, &opts, &stats, msg)))
            goto out;
    }

    struct app_record app = {0};
    unsigned char hash[SECRET_HASH_LEN];
    if ((err = store_app_list(s, find_demo_app, &app, msg)))
        goto out;
    if ((err = secret_new(info->secret, hash)))
        goto out;
    if (app.id) {
        int64_t generation;
        memcpy(info->client_id, app.client_id, sizeof info->client_id);
        err = store_app_rotate(s, app.client_id, hash, &generation, msg);
    } else {
        strcpy(app.name, DEMO_APP_NAME);
        app.scopes = SCOPE_READ | SCOPE_WRITE;
        memcpy(app.secret_hash, hash, sizeof hash);
        app.created_at = time_now();
        if (!(err = secret_new_client_id(app.client_id))) {
            memcpy(info->client_id, app.client_id, sizeof info->client_id);
            err = store_app_insert(s, &app, msg);
        }
    }
out:
    store_close(&s);
    return err;
}

static void on_ready(unsigned port, void *arg)
{
    const struct ready_info *info = arg;
    char shown[STORE_URL_SHOWN_MAX];
    fprintf(stderr, "closeloop: listening on %s://%s:%u (region %s, %u threads, database %s)\n",
            info->scheme, info->host, port, region_name(info->region), info->threads,
            store_url_redact(info->db, shown, sizeof shown));
    if (!info->demo)
        return;
    const char *h = info->host;
    printf("\nDemo Connected App (scopes: read, write); the secret is shown only now:\n"
           "  client_id     %s\n"
           "  client_secret %s\n\n",
           info->client_id, info->secret);
    printf("Get a token:\n"
           "  curl -X POST -H \"Content-Type: application/x-www-form-urlencoded\" \\\n"
           "    -d \"grant_type=client_credentials&client_id=%s&client_secret=%s\" \\\n"
           "    %s://%s:%u/oauth2/token\n\n",
           info->client_id, info->secret, info->scheme, h, port);
    printf("Page through the cases (put the access_token in TOKEN):\n"
           "  curl -H \"Authorization: Bearer $TOKEN\" \\\n"
           "    '%s://%s:%u/v7/rest/sync/close-loop?per_page=25'\n\n",
           info->scheme, h, port);
    printf(
        "Change a case:\n"
        "  curl -X PUT -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \\\n"
        "    -d '{\"number_customergauge\":1,\"status\":\"progress\",\"note\":\"Called back\"}' "
        "\\\n"
        "    %s://%s:%u/v7/rest/close-loop/status\n\n",
        info->scheme, h, port);
    fflush(stdout);
}

int cmd_serve(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"db", required_argument, NULL, 'd'},
        {"region", required_argument, NULL, 'r'},
        {"threads", required_argument, NULL, 't'},
        {"token-ttl", required_argument, NULL, 'T'},
        {"quiet", no_argument, NULL, 'q'},
        {"demo", no_argument, NULL, 'D'},
        {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
        {"tls-key", required_argument, NULL, OPT_TLS_KEY},
        {"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
        {"request-timeout-ms", required_argument, NULL, OPT_REQUEST_TIMEOUT_MS},
        {"rate-limit", required_argument, NULL, OPT_RATE_LIMIT},
        {"rate-limit-burst", required_argument, NULL, OPT_RATE_LIMIT_BURST},
        {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
        {"log-file", required_argument, NULL, OPT_LOG_FILE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *listen = DEFAULT_LISTEN, *db_flag = NULL;
    char host[HOST_MAX + 1];
    unsigned port;
    long threads = 0, ttl = TOKEN_DEFAULT_TTL, max_connections = 0, request_timeout_ms = 0;
    const char *tls_cert = NULL, *tls_key = NULL;
    struct ratelimit_rate rate = {0, 0};
    long burst = 0;
    enum log_format log_format = LOG_FORMAT_TEXT;
    const char *log_file = NULL;
    bool quiet = false, demo = false;
    enum region region = REGION_EU;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'l':
            listen = optarg;
            break;
        case 'd':
            db_flag = optarg;
            break;
        case 'r':
            if (!region_parse(optarg, &region)) {
                cli_error("--region must be eu, us or au, not '%s'", optarg);
                return EXIT_USAGE;
            }
            break;
        case 't':
            if (cli_parse_long(optarg, 1, MAX_THREADS, &threads)) {
                cli_error("--threads must be a number from 1 to %d", MAX_THREADS);
                return EXIT_USAGE;
            }
            break;
        case 'T':
            if (cli_parse_long(optarg, 1, MAX_TOKEN_TTL, &ttl)) {
                cli_error("--token-ttl must be a number of seconds from 1 to %d", MAX_TOKEN_TTL);
                return EXIT_USAGE;
            }
            break;
        case 'q':
            quiet = true;
            break;
        case 'D':
            demo = true;
            break;
        case OPT_TLS_CERT:
            tls_cert = optarg;
            break;
        case OPT_TLS_KEY:
            tls_key = optarg;
            break;
        case OPT_MAX_CONNECTIONS:
            if (cli_parse_long(optarg, 1, MAX_CONNECTIONS, &max_connections)) {
                cli_error("--max-connections must be a number from 1 to %d", MAX_CONNECTIONS);
                return EXIT_USAGE;
            }
            break;
        case OPT_REQUEST_TIMEOUT_MS:
            if (cli_parse_long(optarg, MIN_REQUEST_TIMEOUT_MS, MAX_REQUEST_TIMEOUT_MS,
                               &request_timeout_ms)) {
                cli_error("--request-timeout-ms must be a number from %d to %d",
                          MIN_REQUEST_TIMEOUT_MS, MAX_REQUEST_TIMEOUT_MS);
                return EXIT_USAGE;
            }
            break;
        case OPT_RATE_LIMIT:
            if (!ratelimit_parse(optarg, &rate)) {
                cli_error("--rate-limit must be N/s, N/m or N/h with N from 1 to %d, not '%s'",
                          RATELIMIT_MAX_COUNT, optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_RATE_LIMIT_BURST:
            if (cli_parse_long(optarg, 1, RATELIMIT_MAX_BURST, &burst)) {
                cli_error("--rate-limit-burst must be a number from 1 to %d", RATELIMIT_MAX_BURST);
                return EXIT_USAGE;
            }
            break;
        case OPT_LOG_FORMAT:
            if (!log_format_parse(optarg, &log_format)) {
                cli_error("--log-format must be text or json, not '%s'", optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_LOG_FILE:
            log_file = optarg;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return EXIT_OK;
        default:
            fputs(usage_text, stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        cli_error("serve takes no arguments ('%s')", argv[optind]);
        return EXIT_USAGE;
    }
    if (parse_listen(listen, host, &port)) {
        cli_error("--listen must be HOST:PORT, not '%s'", listen);
        return EXIT_USAGE;
    }

    if (burst && !rate.count) {
        cli_error("--rate-limit-burst needs --rate-limit");
        return EXIT_USAGE;
    }
    if (log_file && quiet) {
        cli_error("--log-file and --quiet contradict each other: --quiet turns the access log off");
        return EXIT_USAGE;
    }
    /* Before anything is logged, so that every line has the chosen shape. */
    log_set_format(log_format);

    if (!tls_cert != !tls_key) {
        cli_error("--tls-cert and --tls-key go together: give both or neither");
        return EXIT_USAGE;
    }

    char msg[CL_ERRMSG_MAX] = "";
    struct ready_info info = {.host = host,
                              .db = cli_db_url(db_flag),
                              .region = region,
                              .demo = demo,
                              .scheme = tls_cert ? "https" : "http"};
    struct accesslog alog;
    struct server_config scfg = {.host = host,
                                 .port = port,
                                 .threads = (unsigned)threads,
                                 .max_connections = (unsigned)max_connections,
                                 .request_timeout_ms = (unsigned)request_timeout_ms,
                                 .tls_cert = tls_cert,
                                 .tls_key = tls_key,
                                 .access_log = !quiet,
                                 .access_log_to = &alog,
                                 .on_ready = on_ready,
                                 .on_ready_arg = &info};
    cl_err err;
    /* Bad TLS files are a mistake on the command line: refuse them before
     * the database is created or the demo prepared. */
    if ((err = server_tls_check(&scfg, msg))) {
        cli_error("%s", msg);
        return EXIT_USAGE;
    }
    if (demo && (err = demo_prepare(info.db, &info, msg))) {
        cli_error("cannot prepare the demo in %s: %s", info.db, msg);
        return EXIT_STORAGE;
    }

    if ((err = accesslog_open(&alog, log_file, log_format, msg))) {
        cli_error("%s", msg);
        return EXIT_STORAGE;
    }

    struct api_app app;
    struct api_config acfg = {.db_url = info.db,
                              .region = region,
                              .token_ttl = ttl,
                              .rate_limit = rate,
                              .rate_burst = (uint32_t)burst};
    if ((err = api_app_init(&app, &acfg, msg))) {
        char shown[STORE_URL_SHOWN_MAX];
        cli_error("cannot open database %s: %s", store_url_redact(info.db, shown, sizeof shown),
                  msg);
        accesslog_close(&alog);
        return EXIT_STORAGE;
    }
    struct http_app happ = {.thread_init = api_thread_init,
                            .handle = api_handle,
                            .thread_fini = api_thread_fini,
                            .app = &app};
    info.threads = scfg.threads;
    if (!info.threads) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        info.threads = n > 0 ? (unsigned)n : 1;
    }
    err = server_run(&scfg, &happ, msg);
    api_app_fini(&app);
    accesslog_close(&alog);
    if (err) {
        cli_error("%s", msg);
        return err == CL_EIO ? EXIT_NETWORK : err == CL_EINVAL ? EXIT_USAGE : EXIT_STORAGE;
    }
    log_info("closeloop: stopped");
    return EXIT_OK;
}
