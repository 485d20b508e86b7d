/* The `closeloop` command line: one file per command, sharing these helpers. */
#ifndef CL_CLI_CLI_H
#define CL_CLI_CLI_H

/* Exit codes, SPEC §4. */
enum cli_exit {
    EXIT_OK = 0,
    EXIT_FAILURE_ = 1, /* unexpected internal failure */
    EXIT_USAGE = 2,
    EXIT_AUTH = 3,
    EXIT_NETWORK = 4,
    EXIT_STORAGE = 5,
};

#define CLI_DEFAULT_DB "./closeloop.db"

/* Each command gets argv with argv[0] = the command's name and returns an
 * exit code. */
int cmd_serve(int argc, char **argv);
int cmd_apps(int argc, char **argv);
int cmd_users(int argc, char **argv);
int cmd_seed(int argc, char **argv);
int cmd_sync(int argc, char **argv);

/* The database URL: the --db value when given, else $CLOSELOOP_DB, else
 * CLI_DEFAULT_DB. The result is borrowed (from argv, environ or static). */
const char *cli_db_url(const char *flag_value);

/* Prints "closeloop: <message>" as one line on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parses a decimal integer in [min, max] (the whole string). */
int cli_parse_long(const char *s, long min, long max, long *out);

#endif
