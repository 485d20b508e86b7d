#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "common/timeutil.h"

static enum log_level current = LOG_INFO;

void log_set_level(enum log_level level)
{
    current = level;
}

enum log_level log_get_level(void)
{
    return current;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    if (level < current || level >= LOG_OFF)
        return;
    char when[TIME_FORMAT_LEN + 1];
    time_format(time_now(), when);
    /* Build the whole line first so concurrent threads never interleave. */
    char line[1024];
    int n = snprintf(line, sizeof line, "%s %s ", when, names[level]);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line)
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", line);
}
