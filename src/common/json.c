/* The JSON writer. json_str dominates the cost of a sync page, so it copies
 * runs of bytes that need no escaping (ASCII and valid UTF-8) with one append
 * each and only slows down for the bytes that need attention. */
#include "common/json.h"

#include <string.h>

#include "common/timeutil.h"

#define INT64_DEC_MAX 20 /* strlen("-9223372036854775808") */

/* Classes of a byte in a string. */
enum {
    C_SAFE = 0,   /* copied as is */
    C_ESCAPE = 1, /* '"', '\\' or a control character */
    C_HIGH = 2,   /* 0x80 and above: part of a UTF-8 sequence, or invalid */
};

/* Designated initialisers (with GNU ranges) give the table its exceptions;
 * all other entries are zero, which is C_SAFE. */
static const unsigned char byte_class[256] = {
    [0x00 ... 0x1f] = C_ESCAPE,
    ['"'] = C_ESCAPE,
    ['\\'] = C_ESCAPE,
    [0x80 ... 0xff] = C_HIGH,
};

/* The two-character escapes JSON defines; 0 means "use \u00XX". */
static const char short_escape[128] = {
    ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n',  ['\r'] = 'r',
    ['\t'] = 't', ['"'] = '"',  ['\\'] = '\\',
};

static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */

static bool is_cont(unsigned char c)
{
    return (c & 0xc0) == 0x80;
}

/* Returns the length of the valid UTF-8 sequence at p (lead byte >= 0x80),
 * or 0 when it is invalid: a stray continuation byte, an overlong form, a
 * surrogate, a code point above U+10FFFF or a sequence cut short. The ranges
 * of the second byte follow the Unicode standard's table of well-formed
 * sequences. */
static size_t utf8_seq_len(const unsigned char *p, size_t avail)
{
    unsigned char c = p[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0; /* below is overlong */
        else if (c == 0xed)
            hi = 0x9f; /* above is a surrogate */
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90; /* below is overlong */
        else if (c == 0xf4)
            hi = 0x8f; /* above is past U+10FFFF */
    } else {
        return 0;
    }
    if (avail < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++) {
        if (!is_cont(p[i]))
            return 0;
    }
    return len;
}

static void put_escape(struct buf *b, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    char e[6] = {'\\', short_escape[c], 0, 0, 0, 0};
    if (e[1]) {
        buf_append(b, e, 2);
        return;
    }
    memcpy(e + 1, "u00", 3);
    e[4] = hex[c >> 4];
    e[5] = hex[c & 0xf];
    buf_append(b, e, sizeof e);
}

void json_str(struct buf *b, const char *s, size_t n)
{
    /* Every input byte yields at least one output byte, so a string that
     * does not fit unescaped fails here, and most strings need no more. */
    if (n > SIZE_MAX - 2 || buf_reserve(b, n + 2))
        return;
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    buf_putc(b, '"');
    while (p < end) {
        const unsigned char *run = p;
        for (;;) {
            while (p < end && byte_class[*p] == C_SAFE)
                p++;
            if (p == end || byte_class[*p] != C_HIGH)
                break;
            size_t len = utf8_seq_len(p, (size_t)(end - p));
            if (len == 0)
                break;
            p += len;
        }
        if (p > run)
            buf_append(b, run, (size_t)(p - run));
        if (p == end)
            break;
        if (byte_class[*p] == C_ESCAPE)
            put_escape(b, *p);
        else
            buf_append(b, replacement, sizeof replacement - 1);
        p++;
    }
    buf_putc(b, '"');
}

/* NULL is written as null, so that optional strings need no special case. */
void json_cstr(struct buf *b, const char *s)
{
    if (!s) {
        buf_append(b, "null", 4);
        return;
    }
    json_str(b, s, strlen(s));
}

void json_int(struct buf *b, int64_t v)
{
    char tmp[INT64_DEC_MAX];
    char *p = tmp + sizeof tmp;
    /* Negating in unsigned arithmetic keeps INT64_MIN defined. */
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    buf_append(b, p, (size_t)(tmp + sizeof tmp - p));
}

void json_int_or_null(struct buf *b, int64_t v)
{
    if (v < 0)
        buf_append(b, "null", 4);
    else
        json_int(b, v);
}

void json_time(struct buf *b, int64_t epoch)
{
    char out[TIME_FORMAT_LEN + 2];
    out[0] = '"';
    time_format(epoch, out + 1);
    out[TIME_FORMAT_LEN + 1] = '"';
    buf_append(b, out, sizeof out);
}
