/* A growable byte buffer with a hard size cap and a sticky error.
 *
 * Appends never fail loudly: once an append would pass the cap or an
 * allocation fails, the buffer is marked failed and later appends do nothing.
 * Writers (the JSON writer, the CSV writer) append freely and check
 * buf_failed() once at the end, as one checks ferror() on a stream. */
#ifndef CL_COMMON_BUF_H
#define CL_COMMON_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

struct buf {
    char *data;   /* owned; NUL-terminated when len < cap */
    size_t len;   /* bytes in use */
    size_t cap;   /* bytes allocated */
    size_t limit; /* the hard cap on len */
    cl_err err;   /* CL_OK, or the first failure (CL_ENOMEM, CL_ELIMIT) */
};

/* Prepares an empty buffer that may grow to `limit` bytes. Allocates nothing. */
void buf_init(struct buf *b, size_t limit);

/* Releases the memory and leaves b as after buf_init. NULL-safe. */
void buf_free(struct buf *b);

/* Empties b for reuse, keeping its memory, and clears a sticky error. */
void buf_reset(struct buf *b);

/* Ensures room for `extra` more bytes. Returns CL_OK or the sticky error. */
cl_err buf_reserve(struct buf *b, size_t extra);

void buf_append(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);

static inline bool buf_failed(const struct buf *b)
{
    return b->err != CL_OK;
}

#endif
