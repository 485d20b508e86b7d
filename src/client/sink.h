/* Where synced cases go: JSONL or CSV to a file or stdout (with an optional
 * state file holding the cursor), or SQLite (cases and cursor in one
 * database). Every sink applies a page and records its cursor so that a
 * crash at any moment loses nothing and re-applies at most the page it was
 * in the middle of; SQLite and file outputs re-apply nothing at all. */
#ifndef CL_CLIENT_SINK_H
#define CL_CLIENT_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "closeloop/client.h"
#include "common/err.h"

#define SINK_STATE_MAX 4096 /* bytes of a state file we are willing to read */

enum sink_format { SINK_JSONL, SINK_CSV, SINK_SQLITE };

struct sink_config {
    enum sink_format format;
    const char *path;       /* output file or SQLite database; NULL = stdout */
    const char *state_path; /* JSONL/CSV only: the cursor file; NULL = none */
    const char *source;     /* identifies the API the cursor belongs to */
    const char *since;      /* the date window, NULL when open-ended */
    const char *until;
};

struct sink;

/* Opens the output, creating tables or files as needed, and reads the stored
 * cursor. Output files with a state file are appended to (after cutting off
 * any tail written after the last recorded page); without one they are
 * truncated. On success *out owns a new sink. Errors: CL_EINVAL when the
 * stored state belongs to another source or window, CL_EIO / CL_ESTORE /
 * CL_ENOMEM otherwise; msg says which. */
cl_err sink_open(const struct sink_config *cfg, struct sink **out, char *msg);

/* The cursor stored by an earlier run, if there is one. */
bool sink_stored_cursor(const struct sink *s, int64_t *cursor);

/* Applies a page and records next_cursor, in that order (SQLite: in one
 * transaction). JSONL/CSV: returns CL_OK only when both are durable enough
 * to survive the process being killed. SQLite: the transaction may go on
 * to hold the next pages too, for up to SQLITE_BATCH_ROWS rows or
 * SQLITE_BATCH_MS; a kill loses that batch, rows and cursor together, and
 * sink_finish or sink_free commits it. */
cl_err sink_write_page(struct sink *s, const cl_case *cases, size_t n, int64_t next_cursor,
                       char *msg);

/* Records the cursor of a completed pass if it was never recorded (a first
 * run that found nothing), then flushes. */
cl_err sink_finish(struct sink *s, int64_t cursor, char *msg);

/* Closes the sink. Sets *s to NULL; NULL is a no-op. */
void sink_free(struct sink **s);

#endif
