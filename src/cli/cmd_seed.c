/* closeloop seed: realistic data through the same write path as the API. */
#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

#include "cases/seed.h"
#include "cli/cli.h"
#include "common/timeutil.h"
#include "store/store.h"

static const char usage_text[] =
    "usage: closeloop seed --cases N [--users U] [--days D] [--seed S] [--db URL]\n"
    "\n"
    "Creates N realistic cases (open, in progress, closed and reopened; assigned\n"
    "to U users, default 25; with notes) whose actions are spread over the last D\n"
    "days (default 365), applied in time order through the same rules as the\n"
    "HTTP write API. Numbers continue after the highest existing\n"
    "number_customergauge. The same --seed gives the same data.\n";

struct progress_state {
    int64_t started_ms;
};

static void progress(int64_t done, int64_t total, void *arg)
{
    const struct progress_state *ps = arg;
    double secs = (double)(time_mono_ms() - ps->started_ms) / 1000.0;
    fprintf(stderr, "\rcloseloop: seeded %lld/%lld cases (%.0f cases/s)", (long long)done,
            (long long)total, secs > 0 ? (double)done / secs : 0.0);
    if (done == total)
        fputc('\n', stderr);
}

int cmd_seed(int argc, char **argv)
{
    static const struct option longopts[] = {{"cases", required_argument, NULL, 'n'},
                                             {"users", required_argument, NULL, 'u'},
                                             {"days", required_argument, NULL, 'D'},
                                             {"seed", required_argument, NULL, 's'},
                                             {"db", required_argument, NULL, 'd'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    long cases = -1, users = 25, days = 365, rng = 1;
    const char *db_flag = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (cli_parse_long(optarg, 0, SEED_MAX_CASES, &cases)) {
                cli_error("--cases must be a number from 0 to %lld", SEED_MAX_CASES);
                return EXIT_USAGE;
            }
            break;
        case 'u':
            if (cli_parse_long(optarg, 0, SEED_MAX_USERS, &users)) {
                cli_error("--users must be a number from 0 to %d", SEED_MAX_USERS);
                return EXIT_USAGE;
            }
            break;
        case 'D':
            if (cli_parse_long(optarg, 1, SEED_MAX_DAYS, &days)) {
                cli_error("--days must be a number from 1 to %d", SEED_MAX_DAYS);
                return EXIT_USAGE;
            }
            break;
        case 's':
            if (cli_parse_long(optarg, 1, 2147483647L, &rng)) {
                cli_error("--seed must be a positive number");
                return EXIT_USAGE;
            }
            break;
        case 'd':
            db_flag = optarg;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return EXIT_OK;
        default:
            fputs(usage_text, stderr);
            return EXIT_USAGE;
        }
    }
    if (cases < 0 || optind < argc) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }

    char msg[CL_ERRMSG_MAX] = "";
    struct store *s = NULL;
    const char *db = cli_db_url(db_flag);
    if (store_open(db, &s, msg)) {
        char shown[STORE_URL_SHOWN_MAX];
        cli_error("cannot open database %s: %s", store_url_redact(db, shown, sizeof shown), msg);
        return EXIT_STORAGE;
    }
    struct progress_state ps = {.started_ms = time_mono_ms()};
    struct seed_options opts = {.cases = cases,
                                .users = (unsigned)users,
                                .days = (unsigned)days,
                                .rng_seed = (uint64_t)rng,
                                .now = time_now(),
                                .progress = isatty(STDERR_FILENO) ? progress : NULL,
                                .progress_arg = &ps};
    struct seed_stats stats;
    cl_err err = seed_run(s, &opts, &stats, msg);
    store_close(&s);
    if (err) {
        cli_error("seeding stopped after %lld cases: %s", (long long)stats.cases, msg);
        return EXIT_STORAGE;
    }
    double secs = (double)(time_mono_ms() - ps.started_ms) / 1000.0;
    printf("seeded %lld cases (%lld actions) in %.1f s\n", (long long)stats.cases,
           (long long)stats.actions, secs);
    return EXIT_OK;
}
