/* json_str, which writes every string a response carries (notes, usernames,
 * error messages quoting input), on arbitrary bytes. The output must be
 * valid JSON that jansson reads back as the input with each byte of an
 * ill-formed UTF-8 sequence replaced by U+FFFD; it must honour the buffer's
 * cap exactly. The first bytes also exercise json_int and json_time. */
#include <inttypes.h>
#include <jansson.h>
#include <string.h>

#include "common/json.h"
#include "common/timeutil.h"
#include "fuzz_util.h"

#define OUT_LIMIT (1u << 20)

static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */

/* The input as the JSON string must hold it: ill-formed UTF-8 repaired,
 * one U+FFFD for every byte that starts no well-formed sequence. */
static char *repaired(const char *s, size_t n, size_t *len)
{
    char *out = malloc(3 * n + 1);
    size_t o = 0;
    FUZZ_CHECK(out);
    for (size_t i = 0; i < n;) {
        size_t seq = fuzz_utf8_seq((const unsigned char *)s + i, n - i);
        if (seq) {
            memcpy(out + o, s + i, seq);
            o += seq;
            i += seq;
        } else {
            memcpy(out + o, replacement, 3);
            o += 3;
            i++;
        }
    }
    *len = o;
    return out;
}

static void check_str(const char *s, size_t n, size_t small_limit)
{
    struct buf b;
    buf_init(&b, OUT_LIMIT);
    json_str(&b, s, n);
    FUZZ_CHECK(!buf_failed(&b) && b.len >= n + 2);
    FUZZ_CHECK(b.data[0] == '"' && b.data[b.len - 1] == '"');
    for (size_t i = 0; i < b.len; i++)
        FUZZ_CHECK((unsigned char)b.data[i] >= 0x20);
    FUZZ_CHECK(fuzz_utf8_valid(b.data, b.len));

    json_error_t jerr;
    json_t *j = json_loadb(b.data, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!j) {
        fprintf(stderr, "jansson: %s\n", jerr.text);
        FUZZ_CHECK(!"json_str wrote invalid JSON");
    }
    size_t want_len;
    char *want = repaired(s, n, &want_len);
    FUZZ_CHECK(json_is_string(j) && json_string_length(j) == want_len);
    FUZZ_CHECK(memcmp(json_string_value(j), want, want_len) == 0);
    /* Text needing neither escapes nor repair is copied as it is. */
    bool plain =
        want_len == n && memcmp(want, s, n) == 0 && !memchr(s, '"', n) && !memchr(s, '\\', n);
    for (size_t i = 0; plain && i < n; i++)
        plain = (unsigned char)s[i] >= 0x20;
    FUZZ_CHECK(!plain || (b.len == n + 2 && memcmp(b.data + 1, s, n) == 0));
    free(want);
    json_decref(j);

    /* Under a cap: either all of it, the same, or a sticky CL_ELIMIT. */
    struct buf c;
    buf_init(&c, small_limit);
    json_str(&c, s, n);
    if (b.len <= small_limit)
        FUZZ_CHECK(!buf_failed(&c) && c.len == b.len && memcmp(c.data, b.data, b.len) == 0);
    else
        FUZZ_CHECK(c.err == CL_ELIMIT && c.len <= small_limit);
    buf_free(&c);
    buf_free(&b);
}

static void check_numbers(const uint8_t *data)
{
    int64_t v;
    memcpy(&v, data, sizeof v);
    struct buf b;
    buf_init(&b, OUT_LIMIT);
    char want[32];
    json_int(&b, v);
    snprintf(want, sizeof want, "%" PRId64, v);
    FUZZ_CHECK(!buf_failed(&b) && strcmp(b.data, want) == 0);

    buf_reset(&b);
    json_int_or_null(&b, v);
    FUZZ_CHECK(strcmp(b.data, v < 0 ? "null" : want) == 0);

    buf_reset(&b);
    json_time(&b, v);
    char t[TIME_FORMAT_LEN + 1];
    time_format(v, t);
    FUZZ_CHECK(b.len == TIME_FORMAT_LEN + 2 && b.data[0] == '"' && b.data[b.len - 1] == '"' &&
               memcmp(b.data + 1, t, TIME_FORMAT_LEN) == 0);
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The cap for the second write comes from the input's length, so that
     * the fuzzer reaches both sides of it. */
    check_str((const char *)data, size, size + (size % 7) * size / 2);
    if (size >= sizeof(int64_t))
        check_numbers(data);
    return 0;
}
