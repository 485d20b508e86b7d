#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/timeutil.h"

#define LINE_MAX_BYTES    1024
#define NS_PER_SEC        1000000000LL
#define NS_PER_MS         1000000LL
#define DATE_SEPARATOR_AT 10 /* the ' ' between date and time in time_format's output */
/* A JSON line holds the message escaped, which may grow it six-fold. */
#define JSON_LINE_MAX     (LINE_MAX_BYTES * 6 + 128)

static enum log_level current = LOG_INFO;
static enum log_format format = LOG_FORMAT_TEXT;

void log_set_level(enum log_level level)
{
    current = level;
}

enum log_level log_get_level(void)
{
    return current;
}

bool log_format_parse(const char *s, enum log_format *out)
{
    if (strcmp(s, "text") == 0)
        *out = LOG_FORMAT_TEXT;
    else if (strcmp(s, "json") == 0)
        *out = LOG_FORMAT_JSON;
    else
        return false;
    return true;
}

void log_set_format(enum log_format f)
{
    format = f;
}

/* Writes {"time","level","message"} as one line with one call, so that
 * concurrent threads never interleave. Falls back to text when memory is
 * short: a diagnostic must not be lost to its own formatting. */
static bool log_json(const char *level, const char *message)
{
    char when[LOG_ISO_TIME_LEN + 1];
    log_iso_time(log_wall_ns(), when);
    struct buf b;
    buf_init(&b, JSON_LINE_MAX);
    buf_puts(&b, "{\"time\":\"");
    buf_puts(&b, when);
    buf_puts(&b, "\",\"level\":\"");
    buf_puts(&b, level);
    buf_puts(&b, "\",\"message\":");
    json_cstr(&b, message);
    buf_puts(&b, "}\n");
    bool ok = !buf_failed(&b);
    if (ok)
        fwrite(b.data, 1, b.len, stderr);
    buf_free(&b);
    return ok;
}

int64_t log_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

void log_iso_time(int64_t wall_ns, char out[LOG_ISO_TIME_LEN + 1])
{
    char day[TIME_FORMAT_LEN + 1];
    time_format(wall_ns / NS_PER_SEC, day);
    day[DATE_SEPARATOR_AT] = 'T';
    unsigned ms = (unsigned)(wall_ns % NS_PER_SEC / NS_PER_MS);
    /* "YYYY-mm-ddTHH:MM:SS" ".mmm" "Z" */
    memcpy(out, day, TIME_FORMAT_LEN);
    out[TIME_FORMAT_LEN] = '.';
    out[TIME_FORMAT_LEN + 1] = (char)('0' + ms / 100);
    out[TIME_FORMAT_LEN + 2] = (char)('0' + ms / 10 % 10);
    out[TIME_FORMAT_LEN + 3] = (char)('0' + ms % 10);
    out[TIME_FORMAT_LEN + 4] = 'Z';
    out[LOG_ISO_TIME_LEN] = '\0';
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    if (level < current || level >= LOG_OFF)
        return;
    va_list ap;
    if (format == LOG_FORMAT_JSON) {
        char message[LINE_MAX_BYTES];
        va_start(ap, fmt);
        vsnprintf(message, sizeof message, fmt, ap);
        va_end(ap);
        if (log_json(names[level], message))
            return;
    }
    char when[TIME_FORMAT_LEN + 1];
    time_format(time_now(), when);
    /* Build the whole line first so concurrent threads never interleave. */
    char line[LINE_MAX_BYTES];
    int n = snprintf(line, sizeof line, "%s %s ", when, names[level]);
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line)
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", line);
}
