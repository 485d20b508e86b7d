/* The access log's lines and where they go. See accesslog.h for what a
 * line may and may not contain. */
#include "common/accesslog.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/timeutil.h"

#define REDACTED       "[REDACTED]"
#define ELLIPSIS       "..."
#define PARAM_NAME_MAX 64 /* bytes of a query parameter name examined */
#define NS_PER_SEC     1000000000LL
#define NS_PER_MS      1000000LL
#define NS_PER_US      1000LL
#define LOG_FILE_MODE  0640

cl_err accesslog_open(struct accesslog *l, const char *path, enum log_format format, char *msg)
{
    l->fd = STDERR_FILENO;
    l->format = format;
    l->owns_fd = false;
    if (!path)
        return CL_OK;
    /* O_APPEND makes every write land at the end even when logrotate's
     * copytruncate empties the file, and keeps lines of several threads (or
     * processes) whole. */
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, LOG_FILE_MODE);
    if (fd < 0)
        return cl_errf(msg, CL_EIO, "cannot open log file %s: %s", path, strerror(errno));
    l->fd = fd;
    l->owns_fd = true;
    return CL_OK;
}

void accesslog_close(struct accesslog *l)
{
    if (!l || !l->owns_fd)
        return;
    close(l->fd);
    l->fd = STDERR_FILENO;
    l->owns_fd = false;
}

/* Whether a query parameter with this (raw) name may carry a credential.
 * The name is percent-decoded and lower-cased first, so "Access%5FToken"
 * is caught as well. */
static bool sensitive_name(const char *p, size_t n)
{
    static const char *const words[] = {"token", "secret", "password", "passwd",
                                        "auth",  "key",    "signature"};
    char name[PARAM_NAME_MAX + 1];
    size_t o = 0;
    for (size_t i = 0; i < n && o < PARAM_NAME_MAX; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '%' && i + 2 < n && isxdigit((unsigned char)p[i + 1]) &&
            isxdigit((unsigned char)p[i + 2])) {
            char hex[3] = {p[i + 1], p[i + 2], '\0'};
            c = (unsigned char)strtol(hex, NULL, 16);
            i += 2;
        }
        name[o++] = (char)tolower(c);
    }
    name[o] = '\0';
    if (strcmp(name, "note") == 0)
        return true;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strstr(name, words[i]))
            return true;
    return false;
}

/* A bounded copy: appends while there is room, and remembers when there
 * was not. Control bytes become '?', so that one request stays one line. */
struct clip {
    char *out;
    size_t len, cap;
    bool cut;
};

static void clip_put(struct clip *c, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (c->len >= c->cap) {
            c->cut = true;
            return;
        }
        unsigned char ch = (unsigned char)p[i];
        c->out[c->len++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
}

/* Copies the request target into out (ACCESSLOG_TARGET_MAX + the ellipsis
 * + 1 bytes), replacing the values of sensitive query parameters. The
 * replacement happens before the cut, so no part of such a value is ever
 * copied. Returns the length. */
static size_t clean_target(const char *t, size_t n, char *out)
{
    struct clip c = {out, 0, ACCESSLOG_TARGET_MAX, false};
    const char *q = memchr(t, '?', n);
    size_t path_len = q ? (size_t)(q - t) : n;
    clip_put(&c, t, path_len);
    if (q) {
        clip_put(&c, "?", 1);
        const char *p = q + 1, *end = t + n;
        while (p <= end && !c.cut) {
            const char *amp = memchr(p, '&', (size_t)(end - p));
            const char *stop = amp ? amp : end;
            const char *eq = memchr(p, '=', (size_t)(stop - p));
            if (eq && sensitive_name(p, (size_t)(eq - p))) {
                clip_put(&c, p, (size_t)(eq - p) + 1);
                clip_put(&c, REDACTED, sizeof REDACTED - 1);
            } else {
                clip_put(&c, p, (size_t)(stop - p));
            }
            if (!amp)
                break;
            clip_put(&c, "&", 1);
            p = amp + 1;
        }
    }
    if (c.cut) {
        memcpy(out + c.len, ELLIPSIS, sizeof ELLIPSIS - 1);
        c.len += sizeof ELLIPSIS - 1;
    }
    out[c.len] = '\0';
    return c.len;
}

static size_t clean_method(const char *m, size_t n, char *out)
{
    struct clip c = {out, 0, ACCESSLOG_METHOD_MAX, false};
    clip_put(&c, m, n);
    out[c.len] = '\0';
    return c.len;
}

static void put_opt_str(struct buf *b, const char *s)
{
    if (s && *s)
        json_cstr(b, s);
    else
        buf_puts(b, "null");
}

static void format_line(struct buf *b, enum log_format format, const struct access_entry *e,
                        int64_t wall_ns)
{
    char target[ACCESSLOG_TARGET_MAX + sizeof ELLIPSIS];
    char method[ACCESSLOG_METHOD_MAX + 1];
    clean_target(e->target ? e->target : "", e->target ? e->target_len : 0, target);
    clean_method(e->method ? e->method : "", e->method ? e->method_len : 0, method);
    int64_t dur = e->duration_ns > 0 ? e->duration_ns : 0;

    if (format == LOG_FORMAT_TEXT) {
        /* The shape log_msg gives every diagnostic line, so that a text
         * log reads as one stream. */
        char when[TIME_FORMAT_LEN + 1];
        time_format(wall_ns / NS_PER_SEC, when);
        buf_printf(b, "%s info %s %s %d %zu %lldms\n", when, method[0] ? method : "-",
                   target[0] ? target : "-", e->status, e->bytes, (long long)(dur / NS_PER_MS));
        return;
    }

    char when[LOG_ISO_TIME_LEN + 1];
    log_iso_time(wall_ns, when);
    buf_printf(b, "{\"time\":\"%s\",\"method\":", when);
    json_cstr(b, method);
    buf_puts(b, ",\"path\":");
    json_cstr(b, target);
    buf_printf(b, ",\"status\":%d,\"bytes\":%zu,\"duration_ms\":%lld.%03lld,\"route\":", e->status,
               e->bytes, (long long)(dur / NS_PER_MS), (long long)(dur % NS_PER_MS / NS_PER_US));
    put_opt_str(b, e->route);
    buf_puts(b, ",\"app\":");
    put_opt_str(b, e->app);
    buf_puts(b, ",\"remote\":");
    put_opt_str(b, e->remote);
    buf_puts(b, "}\n");
}

size_t accesslog_format(enum log_format format, const struct access_entry *e, int64_t wall_ns,
                        char *out, size_t cap)
{
    struct buf b;
    buf_init(&b, ACCESSLOG_LINE_MAX);
    format_line(&b, format, e, wall_ns);
    size_t n = 0;
    if (!buf_failed(&b) && b.len < cap) {
        memcpy(out, b.data, b.len + 1);
        n = b.len;
    }
    buf_free(&b);
    return n;
}

void accesslog_write(const struct accesslog *l, const struct access_entry *e)
{
    struct buf b;
    buf_init(&b, ACCESSLOG_LINE_MAX);
    format_line(&b, l->format, e, log_wall_ns());
    if (!buf_failed(&b)) {
        ssize_t w;
        do
            w = write(l->fd, b.data, b.len);
        while (w < 0 && errno == EINTR);
    }
    buf_free(&b);
}
