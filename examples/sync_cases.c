/* sync_cases: one pass over a Close the Loop feed with libcloseloop.
 *
 * It prints one line per case ("id number_customergauge status") and, once
 * the server has returned an empty page, the cursor to start the next pass
 * from ("cursor N"). Copy it as the skeleton of your own job: replace the
 * printf with your upsert by id, and store the cursor after the cases it
 * covers are applied.
 *
 *     export CLOSELOOP_CLIENT_ID=... CLOSELOOP_CLIENT_SECRET=...
 *     sync_cases http://127.0.0.1:8080 [PER_PAGE]
 *
 * It uses nothing but the public header. Against an installed libcloseloop
 * (a static archive; its pkg-config file names the libraries it needs):
 *
 *     cc sync_cases.c $(pkg-config --cflags --libs closeloop) -o sync_cases
 *
 * Exit status: 0 when the pass completed, 1 when the library reported a
 * failure (the code and the client's message are on stderr), 2 for a usage
 * error. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <closeloop/client.h>

static int usage(void)
{
    fprintf(stderr, "usage: CLOSELOOP_CLIENT_ID=... CLOSELOOP_CLIENT_SECRET=... "
                    "sync_cases BASE_URL [PER_PAGE]\n");
    return 2;
}

/* Parses PER_PAGE as a whole number in 1..CL_PER_PAGE_MAX. */
static int parse_per_page(const char *s, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < 1 || v > CL_PER_PAGE_MAX)
        return -1;
    *out = (int)v;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3)
        return usage();

    /* The secret comes from the environment, never from the command line,
     * where other users could read it in the process list. */
    const char *id = getenv("CLOSELOOP_CLIENT_ID");
    const char *secret = getenv("CLOSELOOP_CLIENT_SECRET");
    if (!id || !*id || !secret || !*secret) {
        fprintf(stderr, "sync_cases: set CLOSELOOP_CLIENT_ID and CLOSELOOP_CLIENT_SECRET\n");
        return 2;
    }

    /* What to sync: every case from the beginning (cursor 0), in pages of
     * PER_PAGE cases, or of the server's default size when it is not given.
     * A real job would set q.cursor to the cursor its last run stored. */
    cl_query q = {0};
    if (argc == 3 && parse_per_page(argv[2], &q.per_page) != 0) {
        fprintf(stderr, "sync_cases: PER_PAGE must be a whole number in 1..%d\n", CL_PER_PAGE_MAX);
        return 2;
    }

    /* Always start from cl_options_init(): it sets the defaults of every
     * field, including fields that later versions of the library add. */
    cl_options o;
    cl_options_init(&o);
    o.base_url = argv[1];
    o.client_id = id;
    o.client_secret = secret;

    /* Nothing is sent yet. A client that could not be made has no message
     * of its own, so the code is all there is to report. */
    cl_client *c = NULL;
    cl_code rc = cl_client_new(&o, &c);
    if (rc != CLC_OK) {
        fprintf(stderr, "sync_cases: %s\n", cl_code_str(rc));
        return 1;
    }

    cl_sync *s = NULL;
    rc = cl_sync_new(c, &q, &s);

    /* One case at a time: the library fetches the next page when the
     * current one is used up, and hands out NULL after the server returned
     * an empty page. Each case is borrowed until the next call on s, so copy
     * whatever must outlive it. */
    const cl_case *k;
    while (rc == CLC_OK && (rc = cl_sync_next_case(s, &k)) == CLC_OK && k != NULL)
        printf("%" PRId64 " %" PRId64 " %s\n", k->id, k->number_customergauge, k->status);

    int status = 0;
    if (rc != CLC_OK) {
        /* The message says what failed, with the server's own words for a
         * rejected request; it never contains the secret or the token. */
        fprintf(stderr, "sync_cases: %s: %s\n", cl_code_str(rc), cl_client_errmsg(c));
        status = 1;
    } else {
        /* The cursor covers every case handed out: the next pass starts
         * from it and returns only what changed since. */
        printf("cursor %" PRId64 "\n", cl_sync_cursor(s));
    }

    /* A pass is freed before the client it was made from. Both functions
     * accept NULL and set the handle to NULL. */
    cl_sync_free(&s);
    cl_client_free(&c);

    /* Output that could not be written is a failure too (a full disk, a
     * closed pipe). */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("sync_cases: stdout");
        status = 1;
    }
    return status;
}
