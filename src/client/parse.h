/* Parsing a sync page: {"data":[case...],"cursor":{"next":N}}.
 *
 * This is the client's hot path (a million cases is a few hundred MB of
 * JSON), so it is a hand-written, allocation-free parser for this one shape
 * rather than a general DOM: a general library spent 2/3 of the sync's CPU
 * building and freeing hash tables. It is strict JSON (RFC 8259) all the
 * same: anything malformed is an error, unknown keys are validated and
 * skipped, strings are checked for valid UTF-8. */
#ifndef CL_CLIENT_PARSE_H
#define CL_CLIENT_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "closeloop/client.h"
#include "common/err.h"

#define PARSE_MAX_DEPTH 32 /* nesting of skipped values */

struct parsed_page {
    cl_case *cases; /* n cases; owned, grown with realloc, reused across pages */
    cl_assignee *assignees;
    size_t n, cap;
    int64_t next; /* cursor.next */
};

/* Parses body[0..len). Decoded strings go to `strings` and each case's
 * compact JSON to `json`; each must hold len + 1 bytes, and the cases point
 * into them (and nowhere into body). On error: CL_EINVAL (msg says where)
 * or CL_ENOMEM; out->n is 0. */
cl_err page_parse(const char *body, size_t len, char *strings, char *json, struct parsed_page *out,
                  char *msg);

/* Makes room for n cases (and their assignees) in p's arrays, keeping what
 * they hold: CL_OK, or CL_ENOMEM with the arrays as they were. */
cl_err parsed_page_reserve(struct parsed_page *p, size_t n);

/* A guess at cursor.next without parsing the page: the integer after the
 * last "next" key in the body's last PEEK_TAIL bytes, where the cursor
 * object ends the page as the API writes it. true with *next set when one
 * is found. Only a guess: page_parse says what the page holds. */
#define PEEK_TAIL 256
bool page_peek_next(const char *body, size_t len, int64_t *next);

#endif
