/* Diagnostic logging to stderr: one line per event, UTC timestamp first.
 * Never pass tokens, secrets or note bodies to these functions. */
#ifndef CL_COMMON_LOG_H
#define CL_COMMON_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3, LOG_OFF = 4 };

/* Messages below level are dropped. Default LOG_INFO. Not thread-safe to
 * change while other threads log; set it at start-up. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* How a line looks: text ("2026-01-02 03:04:05 info message") or one JSON
 * object ({"time":"2026-01-02T03:04:05.678Z","level":"info","message":"..."}),
 * for log collectors that parse lines. The access log uses the same choice. */
enum log_format { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON = 1 };

/* Parses "text" or "json"; false for anything else. */
bool log_format_parse(const char *s, enum log_format *out);

/* Default LOG_FORMAT_TEXT. Like the level, set it at start-up. */
void log_set_format(enum log_format format);

#define LOG_ISO_TIME_LEN 24 /* strlen("2026-01-02T03:04:05.678Z") */

/* The wall clock (CLOCK_REALTIME) in nanoseconds. */
int64_t log_wall_ns(void);

/* A wall clock time in nanoseconds as ISO 8601 UTC with milliseconds. */
void log_iso_time(int64_t wall_ns, char out[LOG_ISO_TIME_LEN + 1]);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
