/* Access tokens.
 *
 * Format: "cl1." base64url(payload) "." base64url(HMAC-SHA256(key, prefix))
 * where prefix is everything before the second dot and payload is, in
 * network byte order:
 *
 *   version u8 | app_id i64 | generation i64 | scopes u8 | region u8 |
 *   expires_at i64
 *
 * A fixed-size binary payload gives a fixed-length token, so parsing is a
 * length check and two strict decodes: there is no JSON to parse before the
 * signature is known to be good. */
#include "auth/token.h"

#include <stdbool.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth/secret.h"

#define TOKEN_PREFIX      "cl1."
#define TOKEN_PREFIX_LEN  (sizeof TOKEN_PREFIX - 1)
#define TOKEN_VERSION     1
#define TOKEN_PAYLOAD_LEN 27 /* 1 + 8 + 8 + 1 + 1 + 8 */
#define TOKEN_PAYLOAD_B64 36 /* base64url of TOKEN_PAYLOAD_LEN bytes */
#define TOKEN_MAC_LEN     32 /* SHA-256 */
#define TOKEN_MAC_B64     43 /* base64url of TOKEN_MAC_LEN bytes */
#define TOKEN_SIGNED_LEN  (TOKEN_PREFIX_LEN + TOKEN_PAYLOAD_B64)
#define TOKEN_LEN         (TOKEN_SIGNED_LEN + 1 + TOKEN_MAC_B64)

_Static_assert(TOKEN_LEN <= TOKEN_MAX_LEN, "tokens must fit TOKEN_MAX_LEN");

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* HMAC-SHA256 of the signed part of a token. False if OpenSSL fails. */
static bool mac(const unsigned char key[TOKEN_KEY_LEN], const char *signed_part,
                unsigned char out[TOKEN_MAC_LEN])
{
    unsigned int len = 0;
    if (!HMAC(EVP_sha256(), key, TOKEN_KEY_LEN, (const unsigned char *)signed_part,
              TOKEN_SIGNED_LEN, out, &len))
        return false;
    return len == TOKEN_MAC_LEN;
}

cl_err token_sign(const unsigned char key[TOKEN_KEY_LEN], const struct token_claims *c,
                  char out[TOKEN_MAX_LEN + 1])
{
    if (c->scopes == 0 || (c->scopes & ~(SCOPE_READ | SCOPE_WRITE)) != 0 ||
        (unsigned)c->region > REGION_AU)
        return CL_EINVAL;

    unsigned char payload[TOKEN_PAYLOAD_LEN];
    payload[0] = TOKEN_VERSION;
    put_u64(payload + 1, (uint64_t)c->app_id);
    put_u64(payload + 9, (uint64_t)c->generation);
    payload[17] = (unsigned char)c->scopes;
    payload[18] = (unsigned char)c->region;
    put_u64(payload + 19, (uint64_t)c->expires_at);

    memcpy(out, TOKEN_PREFIX, TOKEN_PREFIX_LEN);
    secret_base64_encode(payload, sizeof payload, true, out + TOKEN_PREFIX_LEN);
    out[TOKEN_SIGNED_LEN] = '.';

    unsigned char sig[TOKEN_MAC_LEN];
    if (!mac(key, out, sig))
        return CL_EIO;
    secret_base64_encode(sig, sizeof sig, true, out + TOKEN_SIGNED_LEN + 1);
    return CL_OK;
}

cl_err token_verify(const unsigned char key[TOKEN_KEY_LEN], const char *tok, size_t len,
                    int64_t now, enum region region, struct token_claims *out)
{
    if (!tok || len != TOKEN_LEN || memcmp(tok, TOKEN_PREFIX, TOKEN_PREFIX_LEN) != 0 ||
        tok[TOKEN_SIGNED_LEN] != '.')
        return CL_EAUTH;

    unsigned char presented[TOKEN_MAC_LEN];
    size_t n = 0;
    if (!secret_base64_decode(tok + TOKEN_SIGNED_LEN + 1, TOKEN_MAC_B64, true, presented,
                              sizeof presented, &n) ||
        n != TOKEN_MAC_LEN)
        return CL_EAUTH;

    unsigned char expected[TOKEN_MAC_LEN];
    if (!mac(key, tok, expected))
        return CL_EAUTH;
    if (CRYPTO_memcmp(presented, expected, TOKEN_MAC_LEN) != 0)
        return CL_EAUTH;

    /* The signature is ours from here on, so a bad payload means a bug or a
     * leaked key; reject it all the same. */
    unsigned char payload[TOKEN_PAYLOAD_LEN];
    if (!secret_base64_decode(tok + TOKEN_PREFIX_LEN, TOKEN_PAYLOAD_B64, true, payload,
                              sizeof payload, &n) ||
        n != TOKEN_PAYLOAD_LEN || payload[0] != TOKEN_VERSION)
        return CL_EAUTH;

    struct token_claims c;
    c.app_id = (int64_t)get_u64(payload + 1);
    c.generation = (int64_t)get_u64(payload + 9);
    c.scopes = payload[17];
    c.region = (enum region)payload[18];
    c.expires_at = (int64_t)get_u64(payload + 19);
    if (c.scopes == 0 || (c.scopes & ~(SCOPE_READ | SCOPE_WRITE)) != 0 || payload[18] > REGION_AU)
        return CL_EAUTH;
    if (now >= c.expires_at || c.region != region)
        return CL_EAUTH;
    if (out)
        *out = c;
    return CL_OK;
}

cl_err token_verify_memo(struct token_memo *memo, const unsigned char key[TOKEN_KEY_LEN],
                         const char *tok, size_t len, int64_t now, enum region region,
                         struct token_claims *out)
{
    if (!tok || len != TOKEN_LEN)
        return CL_EAUTH;
    /* A character of the signature picks the slot: it differs between
     * tokens, and choosing by it tells an attacker nothing. */
    size_t i = (unsigned char)tok[len - 2] & (TOKEN_MEMO_SLOTS - 1);
    if (memo->slot[i].len == len && CRYPTO_memcmp(memo->slot[i].tok, tok, len) == 0) {
        /* Equal bytes carry the same valid signature; only time moved on. */
        if (now >= memo->slot[i].claims.expires_at)
            return CL_EAUTH;
        if (out)
            *out = memo->slot[i].claims;
        return CL_OK;
    }
    struct token_claims c;
    cl_err err = token_verify(key, tok, len, now, region, &c);
    if (err)
        return err;
    memcpy(memo->slot[i].tok, tok, len);
    memo->slot[i].len = len;
    memo->slot[i].claims = c;
    if (out)
        *out = c;
    return CL_OK;
}
