/* closeloop: one binary, one command per file in src/cli. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"serve", cmd_serve, "run the Close the Loop API server"},
    {"apps", cmd_apps, "create, list, revoke and rotate Connected Apps"},
#ifdef CL_HAVE_USERS
    {"users", cmd_users, "add and list the users cases are assigned to"},
#endif
#ifdef CL_HAVE_SEED
    {"seed", cmd_seed, "fill the database with realistic cases"},
#endif
#ifdef CL_HAVE_SYNC
    {"sync", cmd_sync, "pull cases from a Close the Loop API into JSONL, CSV or SQLite"},
#endif
};

static void usage(FILE *out)
{
    fprintf(out, "usage: closeloop <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-7s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'closeloop <command> --help' describes a command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        if (argc > 2 && strcmp(name, "help") == 0) {
            /* "closeloop help serve" is "closeloop serve --help". */
            char *help_argv[] = {argv[2], "--help", NULL};
            for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
                if (strcmp(argv[2], commands[i].name) == 0)
                    return commands[i].run(2, help_argv);
            cli_error("unknown command '%s'", argv[2]);
            return EXIT_USAGE;
        }
        usage(stdout);
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(name, commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    cli_error("unknown command '%s' (try 'closeloop --help')", name);
    return EXIT_USAGE;
}
