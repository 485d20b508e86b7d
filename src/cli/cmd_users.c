/* closeloop users: the people cases are assigned to. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cases/user.h"
#include "cli/cli.h"
#include "common/timeutil.h"
#include "store/store.h"

static const char usage_text[] =
    "usage: closeloop users add USERNAME EMAIL [--db URL]\n"
    "       closeloop users list [--db URL]\n"
    "\n"
    "Users are who cases are assigned to (PUT /v7/rest/close-loop/assignee takes a\n"
    "username or an email). Usernames and emails are unique.\n";

static cl_err print_user(void *ud, const struct user_record *u)
{
    (void)ud;
    printf("%-8lld %-24s %s\n", (long long)u->id, u->username, u->email);
    return CL_OK;
}

static int users_add(struct store *s, const char *username, const char *email)
{
    char msg[CL_ERRMSG_MAX] = "";
    if (!user_username_valid(username, strlen(username), msg)) {
        cli_error("invalid username '%s': %s", username, msg);
        return EXIT_USAGE;
    }
    if (!user_email_valid(email, strlen(email), msg)) {
        cli_error("invalid email '%s': %s", email, msg);
        return EXIT_USAGE;
    }
    struct user_record u = {0};
    memcpy(u.username, username, strlen(username) + 1);
    memcpy(u.email, email, strlen(email) + 1);
    cl_err err = store_user_add(s, &u, msg);
    if (err == CL_EEXIST) {
        cli_error("%s", msg);
        return EXIT_USAGE;
    }
    if (err) {
        cli_error("cannot add the user: %s", msg);
        return EXIT_STORAGE;
    }
    printf("%lld %s %s\n", (long long)u.id, u.username, u.email);
    return EXIT_OK;
}

int cmd_users(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *db_flag = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == 'd') {
            db_flag = optarg;
        } else if (c == 'h') {
            fputs(usage_text, stdout);
            return EXIT_OK;
        } else {
            fputs(usage_text, stderr);
            return EXIT_USAGE;
        }
    }
    int nargs = argc - optind;
    char **args = argv + optind;
    bool add = nargs == 3 && strcmp(args[0], "add") == 0;
    bool list = nargs == 1 && strcmp(args[0], "list") == 0;
    if (!add && !list) {
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
    int rc = EXIT_OK;
    if (add) {
        rc = users_add(s, args[1], args[2]);
    } else if (store_user_list(s, print_user, NULL, msg)) {
        cli_error("cannot list users: %s", msg);
        rc = EXIT_STORAGE;
    }
    store_close(&s);
    return rc;
}
