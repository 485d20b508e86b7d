/* The access log: one line per request, as text or as one JSON object, on
 * stderr or appended to a file.
 *
 * A line holds the method, the path with its query, the status, the body
 * size, the duration, the route, the authenticated app's client_id and the
 * peer address. Never headers or bodies, so never a token, a client secret
 * or a note; and the values of query parameters whose names look like
 * credentials (access_token, client_secret, ...) are replaced by
 * "[REDACTED]", in case a client puts them where they do not belong. */
#ifndef CL_COMMON_ACCESSLOG_H
#define CL_COMMON_ACCESSLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/log.h"

#define ACCESSLOG_TARGET_MAX 200  /* bytes of path and query kept; longer ends in "..." */
#define ACCESSLOG_METHOD_MAX 15   /* bytes of the method kept */
#define ACCESSLOG_LINE_MAX   2048 /* one line, escaped; a line cannot reach it */

/* Where lines go. Read-only once serving starts, shared by every thread. */
struct accesslog {
    int fd; /* STDERR_FILENO, or a file opened with O_APPEND */
    enum log_format format;
    bool owns_fd;
};

/* One request as the log shows it. Strings are borrowed for the call. */
struct access_entry {
    const char *method; /* as received; not NUL-terminated */
    size_t method_len;
    const char *target; /* path and query as received; not NUL-terminated */
    size_t target_len;
    int status;
    size_t bytes;        /* response body bytes */
    int64_t duration_ns; /* from the request's arrival to its response */
    const char *route;   /* the route's path template; NULL: none (unrouted) */
    const char *app;     /* client_id of the authenticated app; NULL or "": none */
    const char *remote;  /* the peer's address; NULL: unknown */
};

/* Prepares l to write lines in format to path, opened for appending (and
 * created with mode 0640), or to stderr when path is NULL. CL_EIO with msg
 * when the file cannot be opened. */
cl_err accesslog_open(struct accesslog *l, const char *path, enum log_format format, char *msg);

/* Closes the file accesslog_open opened, if any. NULL-safe. */
void accesslog_close(struct accesslog *l);

/* Formats e as one line ending in '\n' into out (cap bytes) and returns its
 * length, or 0 when it does not fit. wall_ns is the time to show (CLOCK_REALTIME
 * nanoseconds); tests pass a fixed one. */
size_t accesslog_format(enum log_format format, const struct access_entry *e, int64_t wall_ns,
                        char *out, size_t cap);

/* Writes e as one line with a single write(2), so that lines of concurrent
 * threads never interleave (O_APPEND files, and pipes for lines under
 * PIPE_BUF). A failed write is dropped: logging must not stop serving. */
void accesslog_write(const struct accesslog *l, const struct access_entry *e);

#endif
