#include "common/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t limit)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->limit = limit;
    b->err = CL_OK;
}

void buf_free(struct buf *b)
{
    if (!b)
        return;
    free(b->data);
    buf_init(b, b->limit);
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    b->err = CL_OK;
    if (b->data)
        b->data[0] = '\0';
}

cl_err buf_reserve(struct buf *b, size_t extra)
{
    if (b->err)
        return b->err;
    if (extra > b->limit - b->len) {
        b->err = CL_ELIMIT;
        return b->err;
    }
    size_t need = b->len + extra + 1; /* room for the terminating NUL */
    if (need <= b->cap)
        return CL_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->err = CL_ENOMEM;
        return b->err;
    }
    b->data = p;
    b->cap = cap;
    return CL_OK;
}

void buf_append(struct buf *b, const void *p, size_t n)
{
    if (buf_reserve(b, n))
        return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void buf_puts(struct buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

void buf_putc(struct buf *b, char c)
{
    buf_append(b, &c, 1);
}

void buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    if (n < 0 || buf_reserve(b, (size_t)n)) {
        if (n < 0)
            b->err = CL_EINVAL;
        va_end(again);
        return;
    }
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, again);
    va_end(again);
    b->len += (size_t)n;
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(b, fmt, ap);
    va_end(ap);
}
