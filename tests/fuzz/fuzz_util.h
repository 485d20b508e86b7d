/* What the fuzz targets share: a check that aborts with a message (libFuzzer
 * then saves the input as a crash), and reference implementations written
 * independently of the code under test, to compare it against. */
#ifndef CL_FUZZ_UTIL_H
#define CL_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Unlike assert(), active in every build type. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Copies data[0..size) so that it ends right before an inaccessible page:
 * a read past its end faults even in code ASan does not instrument, such as
 * libc's strtod or the system's jansson. The copy is valid until the next
 * call. Inputs larger than max are returned as they are, unguarded. */
static inline const char *fuzz_guarded(const uint8_t *data, size_t size, size_t max)
{
    static char *region;
    static size_t region_len;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (!region) {
        region_len = (max + page - 1) / page * page;
        void *p = mmap(NULL, region_len + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                       -1, 0);
        FUZZ_CHECK(p != MAP_FAILED);
        region = p;
        FUZZ_CHECK(mprotect(region + region_len, page, PROT_NONE) == 0);
    }
    if (size > region_len)
        return (const char *)data;
    char *copy = region + region_len - size;
    memcpy(copy, data, size);
    return copy;
}

/* Decodes the UTF-8 sequence at s[0..n) by its code point, the way the
 * standard defines well-formedness (RFC 3629), rather than by the table of
 * second-byte ranges the writer uses. Returns its length, or 0 when the
 * sequence at s is not well-formed. */
static inline size_t fuzz_utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp, min;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0) {
        len = 2;
        cp = c & 0x1f;
        min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3;
        cp = c & 0x0f;
        min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        len = 4;
        cp = c & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* Whether s[0..n) is well-formed UTF-8. */
static inline bool fuzz_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t len = fuzz_utf8_seq(p + i, n - i);
        if (!len)
            return false;
        i += len;
    }
    return true;
}

/* Whether s is a message fit for any response: printable ASCII only. */
static inline bool fuzz_printable(const char *s)
{
    for (; *s; s++) {
        if (*s < 0x20 || *s > 0x7e)
            return false;
    }
    return true;
}

#endif
