/* The JSON writer. json_str dominates the cost of a sync page, so it copies
 * runs of bytes that need no escaping (ASCII and valid UTF-8) with one append
 * each and only slows down for the bytes that need attention. The json_put_*
 * functions write the same bytes to memory reserved beforehand, so that a
 * case of the sync feed costs one bounds check instead of one per token. */
#include "common/json.h"

#include <string.h>

#include "common/timeutil.h"

#define INT64_DEC_MAX  20 /* strlen("-9223372036854775808") */
/* Strings up to this long take the direct path in json_str; a longer one is
 * appended run by run, so that it never reserves six times its length. */
#define DIRECT_STR_MAX 4096

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

/* Writes the escape of c (a class C_ESCAPE byte) at o; returns its end. */
static char *put_escape_at(char *o, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    o[0] = '\\';
    if (short_escape[c]) {
        o[1] = short_escape[c];
        return o + 2;
    }
    memcpy(o + 1, "u00", 3);
    o[4] = hex[c >> 4];
    o[5] = hex[c & 0xf];
    return o + 6;
}

char *json_begin(struct buf *b, size_t max)
{
    if (b->err || max > b->limit - b->len || buf_reserve(b, max))
        return NULL;
    return b->data + b->len;
}

void json_end(struct buf *b, char *end)
{
    b->len = (size_t)(end - b->data);
    b->data[b->len] = '\0';
}

#define WORD_ONES  0x0101010101010101ULL
#define WORD_HIGHS 0x8080808080808080ULL

/* Whether one of the eight bytes of w is not C_SAFE: below 0x20, '"', '\\'
 * or 0x80 and above. The borrow tricks (a byte below 0x20 or equal to 0)
 * can flag bytes past the first one that matters, never miss one, which is
 * all a yes-or-no answer needs. */
static bool word_needs_care(uint64_t w)
{
    uint64_t quote = w ^ (WORD_ONES * '"');
    uint64_t backslash = w ^ (WORD_ONES * '\\');
    uint64_t t = (w - WORD_ONES * 0x20) | (quote - WORD_ONES) | (backslash - WORD_ONES);
    return ((t & ~w) | w) & WORD_HIGHS;
}

const char *json_plain_end(const char *s, const char *e)
{
    const unsigned char *p = (const unsigned char *)s, *end = (const unsigned char *)e;
    uint64_t w;
    while (end - p >= 8) {
        memcpy(&w, p, sizeof w);
        if (word_needs_care(w))
            break;
        p += 8;
    }
    while (p < end && byte_class[*p] == C_SAFE)
        p++;
    return (const char *)p;
}

/* The same scan as json_str's, writing to memory that has room for the
 * worst case: each input byte becomes at most six output bytes. */
char *json_put_str(char *o, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    *o++ = '"';
    while (p < end) {
        const unsigned char *run = p;
        for (;;) {
            p = (const unsigned char *)json_plain_end((const char *)p, (const char *)end);
            if (p == end || byte_class[*p] != C_HIGH)
                break;
            size_t len = utf8_seq_len(p, (size_t)(end - p));
            if (len == 0)
                break;
            p += len;
        }
        memcpy(o, run, (size_t)(p - run));
        o += p - run;
        if (p == end)
            break;
        if (byte_class[*p] == C_ESCAPE)
            o = put_escape_at(o, *p);
        else
            o = json_put_raw(o, replacement, sizeof replacement - 1);
        p++;
    }
    *o++ = '"';
    return o;
}

/* Two digits at a time: half the divisions of one at a time. */
static const char digit_pairs[] = "00010203040506070809"
                                  "10111213141516171819"
                                  "20212223242526272829"
                                  "30313233343536373839"
                                  "40414243444546474849"
                                  "50515253545556575859"
                                  "60616263646566676869"
                                  "70717273747576777879"
                                  "80818283848586878889"
                                  "90919293949596979899";

char *json_put_int(char *o, int64_t v)
{
    char tmp[INT64_DEC_MAX];
    char *p = tmp + sizeof tmp;
    /* Negating in unsigned arithmetic keeps INT64_MIN defined. */
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    while (u >= 100) {
        unsigned r = (unsigned)(u % 100);
        u /= 100;
        p -= 2;
        memcpy(p, digit_pairs + 2 * r, 2);
    }
    if (u >= 10) {
        p -= 2;
        memcpy(p, digit_pairs + 2 * u, 2);
    } else {
        *--p = (char)('0' + u);
    }
    if (v < 0)
        *--p = '-';
    return json_put_raw(o, p, (size_t)(tmp + sizeof tmp - p));
}

char *json_put_int_or_null(char *o, int64_t v)
{
    if (v < 0)
        return JSON_PUT_LIT(o, "null");
    return json_put_int(o, v);
}

char *json_put_time(char *o, int64_t epoch)
{
    /* time_format's NUL lands where the closing quote goes. */
    o[0] = '"';
    time_format(epoch, o + 1);
    o[TIME_FORMAT_LEN + 1] = '"';
    return o + TIME_FORMAT_LEN + 2;
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
    if (n <= DIRECT_STR_MAX) {
        char *o = json_begin(b, JSON_STR_MAX(n));
        if (o) {
            json_end(b, json_put_str(o, s, n));
            return;
        }
    }
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
    char tmp[JSON_INT_MAX];
    buf_append(b, tmp, (size_t)(json_put_int(tmp, v) - tmp));
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
    char out[JSON_TIME_MAX];
    buf_append(b, out, (size_t)(json_put_time(out, epoch) - out));
}
