#include "client/csv.h"

#include <string.h>

/* Bytes that force quoting (RFC 4180 §2.6): separator, quote, line breaks. */
static const unsigned char needs_quote[256] = {[','] = 1, ['"'] = 1, ['\r'] = 1, ['\n'] = 1};

void csv_field(struct buf *b, const char *s)
{
    if (!s)
        return;
    size_t n = strlen(s);
    size_t i = 0;
    while (i < n && !needs_quote[(unsigned char)s[i]])
        i++;
    if (i == n && n > 0) {
        buf_append(b, s, n);
        return;
    }
    buf_putc(b, '"');
    const char *run = s;
    for (const char *p = s; *p; p++) {
        if (*p == '"') {
            /* Copy up to and including the quote, then double it. */
            buf_append(b, run, (size_t)(p - run + 1));
            buf_putc(b, '"');
            run = p + 1;
        }
    }
    buf_append(b, run, (size_t)(s + n - run));
    buf_putc(b, '"');
}

static void int_field(struct buf *b, int64_t v)
{
    buf_printf(b, "%lld", (long long)v);
}

static void hours_field(struct buf *b, int64_t v)
{
    if (v != CL_HOURS_NULL)
        int_field(b, v);
}

void csv_case(struct buf *b, const cl_case *c)
{
    int_field(b, c->id);
    buf_putc(b, ',');
    int_field(b, c->number_customergauge);
    buf_putc(b, ',');
    csv_field(b, c->status);
    buf_putc(b, ',');
    if (c->assignee)
        int_field(b, c->assignee->id);
    buf_putc(b, ',');
    csv_field(b, c->assignee ? c->assignee->username : NULL);
    buf_putc(b, ',');
    csv_field(b, c->assignee ? c->assignee->email : NULL);
    buf_putc(b, ',');
    hours_field(b, c->time_to_follow_up);
    buf_putc(b, ',');
    hours_field(b, c->time_to_close);
    buf_putc(b, ',');
    csv_field(b, c->created_at);
    buf_putc(b, ',');
    csv_field(b, c->updated_at);
    buf_append(b, "\r\n", 2);
}
