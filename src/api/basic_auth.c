/* Decoding HTTP Basic client credentials (see basic_auth.h). */
#include "api/basic_auth.h"

#include <string.h>
#include <strings.h>

#define BASIC_SCHEME      "Basic"
#define BASIC_SCHEME_LEN  (sizeof BASIC_SCHEME - 1)
#define PCT_ESCAPE_LEN    3 /* "%XX" */
/* Basic credentials are "id:secret" with both form-urlencoded, so each
 * byte may have grown to a three-byte escape. */
#define BASIC_MAX_DECODED (PCT_ESCAPE_LEN * (CLIENT_ID_MAX + SECRET_MAX_LEN) + 1)

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Form-urldecodes s[0..n) into dst (cap bytes including the NUL), as
 * RFC 6749 §2.3.1 prescribes for Basic credentials. False on a bad escape,
 * a NUL byte, or when the result does not fit. */
static bool url_decode(const char *s, size_t n, char *dst, size_t cap, size_t *out_len)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (n - i < PCT_ESCAPE_LEN)
                return false;
            int hi = hex_value((unsigned char)s[i + 1]), lo = hex_value((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0)
                return false;
            c = (unsigned char)(hi << 4 | lo);
            i += PCT_ESCAPE_LEN - 1;
        }
        if (c == '\0' || o + 1 >= cap)
            return false;
        dst[o++] = (char)c;
    }
    dst[o] = '\0';
    *out_len = o;
    return true;
}

bool basic_auth_is_basic(const struct http_str *h)
{
    return h->p && h->n > BASIC_SCHEME_LEN &&
           strncasecmp(h->p, BASIC_SCHEME, BASIC_SCHEME_LEN) == 0 && h->p[BASIC_SCHEME_LEN] == ' ';
}

bool basic_auth_decode(const struct http_str *h, struct client_creds *c)
{
    const char *p = h->p + BASIC_SCHEME_LEN;
    size_t n = h->n - BASIC_SCHEME_LEN;
    while (n > 0 && *p == ' ') {
        p++;
        n--;
    }
    unsigned char raw[BASIC_MAX_DECODED];
    size_t raw_len = 0;
    if (!secret_base64_decode(p, n, false, raw, sizeof raw, &raw_len))
        return false;
    const char *plain = (const char *)raw;
    /* Encoded ids contain no ':', so the first one separates the parts. */
    const char *colon = memchr(plain, ':', raw_len);
    if (!colon)
        return false;
    size_t id_raw = (size_t)(colon - plain);
    return url_decode(plain, id_raw, c->id, sizeof c->id, &c->id_len) &&
           url_decode(colon + 1, raw_len - id_raw - 1, c->secret, sizeof c->secret,
                      &c->secret_len) &&
           c->id_len > 0 && c->secret_len > 0;
}
