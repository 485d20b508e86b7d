/* Connected App credentials and the base64 codec they are written in. */
#include "auth/secret.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

cl_err secret_random(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        /* getrandom may return fewer bytes than asked (above 256 bytes, or
         * when a signal arrives), so keep asking until n are filled. */
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return CL_EIO;
        }
        p += got;
        n -= (size_t)got;
    }
    return CL_OK;
}

cl_err secret_new_client_id(char out[CLIENT_ID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[CLIENT_ID_LEN / 2];
    cl_err err = secret_random(raw, sizeof raw);
    if (err)
        return err;
    for (size_t i = 0; i < sizeof raw; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 0x0f];
    }
    out[CLIENT_ID_LEN] = '\0';
    return CL_OK;
}

cl_err secret_new(char out[SECRET_LEN + 1], unsigned char hash[SECRET_HASH_LEN])
{
    unsigned char raw[SECRET_BYTES];
    cl_err err = secret_random(raw, sizeof raw);
    if (err)
        return err;
    secret_base64_encode(raw, sizeof raw, true, out);
    OPENSSL_cleanse(raw, sizeof raw);
    secret_hash(out, SECRET_LEN, hash);
    return CL_OK;
}

void secret_hash(const char *secret, size_t len, unsigned char hash[SECRET_HASH_LEN])
{
    SHA256((const unsigned char *)secret, len, hash);
}

bool secret_matches(const char *secret, size_t len, const unsigned char hash[SECRET_HASH_LEN])
{
    unsigned char presented[SECRET_HASH_LEN];
    secret_hash(secret, len, presented);
    /* Comparing hashes rather than secrets already hides the secret's
     * length; the constant-time compare hides how many bytes matched. */
    return CRYPTO_memcmp(presented, hash, SECRET_HASH_LEN) == 0;
}

/* Matches one scope token; returns its bit or 0 when unknown. */
static unsigned scope_bit(const char *s, size_t n)
{
    if (n == 4 && memcmp(s, "read", 4) == 0)
        return SCOPE_READ;
    if (n == 5 && memcmp(s, "write", 5) == 0)
        return SCOPE_WRITE;
    return 0;
}

bool scope_parse(const char *s, size_t n, unsigned *out)
{
    unsigned scopes = 0;
    size_t start = 0;
    /* Tokens are separated by exactly one ',' or ' '; an empty token (a
     * leading, trailing or doubled separator) makes the whole string invalid. */
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != ',' && s[i] != ' ')
            continue;
        unsigned bit = scope_bit(s + start, i - start);
        if (!bit)
            return false;
        scopes |= bit;
        start = i + 1;
    }
    *out = scopes;
    return true;
}

const char *scope_name(unsigned scopes)
{
    switch (scopes & (SCOPE_READ | SCOPE_WRITE)) {
    case SCOPE_READ:
        return "read";
    case SCOPE_WRITE:
        return "write";
    case SCOPE_READ | SCOPE_WRITE:
        return "read write";
    default:
        return "";
    }
}

size_t secret_base64_len(size_t n, bool url)
{
    if (!url)
        return (n + 2) / 3 * 4;
    return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

size_t secret_base64_encode(const unsigned char *in, size_t n, bool url, char *out)
{
    const char *alpha = url ? b64_url : b64_std;
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned long v = (unsigned long)in[i] << 16 | (unsigned long)in[i + 1] << 8 | in[i + 2];
        out[o++] = alpha[v >> 18 & 63];
        out[o++] = alpha[v >> 12 & 63];
        out[o++] = alpha[v >> 6 & 63];
        out[o++] = alpha[v & 63];
    }
    size_t rest = n - i;
    if (rest > 0) {
        unsigned long v = (unsigned long)in[i] << 16;
        if (rest == 2)
            v |= (unsigned long)in[i + 1] << 8;
        out[o++] = alpha[v >> 18 & 63];
        out[o++] = alpha[v >> 12 & 63];
        if (rest == 2)
            out[o++] = alpha[v >> 6 & 63];
        if (!url) {
            if (rest == 1)
                out[o++] = '=';
            out[o++] = '=';
        }
    }
    out[o] = '\0';
    return o;
}

/* The 6-bit value of c in the chosen alphabet, or -1. */
static int b64_value(unsigned char c, bool url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

bool secret_base64_decode(const char *in, size_t n, bool url, unsigned char *out, size_t cap,
                          size_t *out_len)
{
    if (!url && n > 0 && n % 4 == 0) {
        /* Padding, when present, completes the last group of four. */
        size_t pad = 0;
        while (pad < 2 && in[n - 1 - pad] == '=')
            pad++;
        n -= pad;
        if (pad > 0 && (4 - n % 4) % 4 != pad)
            return false;
    }
    if (n % 4 == 1)
        return false;
    size_t need = n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1);
    if (need > cap)
        return false;

    size_t o = 0;
    unsigned long acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value((unsigned char)in[i], url);
        if (v < 0)
            return false;
        acc = (acc << 6 | (unsigned long)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    /* Left-over bits must be zero: otherwise several strings would decode to
     * the same bytes, and a token could be altered without changing its MAC. */
    if (bits > 0 && (acc & ((1ul << bits) - 1)) != 0)
        return false;
    *out_len = o;
    return true;
}
