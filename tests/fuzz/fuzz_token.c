/* token_verify, which every API request runs on its Bearer token, on
 * arbitrary bytes with a fixed key: whatever it accepts must be a token
 * token_sign would write, byte for byte. Then sign -> mutate -> verify: the
 * input's first bytes become claims and a mutation; the signed token must
 * verify until it expires, and no other byte string may. */
#include <string.h>

#include "auth/token.h"
#include "fuzz_util.h"

#define NOW           INT64_C(1700000000) /* a fixed clock: runs are reproducible */
#define CLAIM_BYTES   26                  /* app_id, generation, scopes, region, expires_at */
#define MUTATION_SIZE 3                   /* position (2 bytes) and xor mask */

static const unsigned char key[TOKEN_KEY_LEN] = "closeloop-fuzz-token-key-32bytes";
static const unsigned char other_key[TOKEN_KEY_LEN] = "closeloop-fuzz-token-key-32byteX";

static bool token_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

static bool same_claims(const struct token_claims *a, const struct token_claims *b)
{
    return a->app_id == b->app_id && a->generation == b->generation && a->scopes == b->scopes &&
           a->region == b->region && a->expires_at == b->expires_at;
}

static void check_verify(const char *s, size_t n)
{
    int accepted = 0;
    for (int r = REGION_EU; r <= REGION_AU; r++) {
        struct token_claims c;
        if (token_verify(key, s, n, NOW, (enum region)r, &c) != CL_OK)
            continue;
        accepted++;
        FUZZ_CHECK(c.region == (enum region)r && NOW < c.expires_at);
        FUZZ_CHECK(c.scopes != 0 && (c.scopes & ~(SCOPE_READ | SCOPE_WRITE)) == 0);
        char tok[TOKEN_MAX_LEN + 1];
        FUZZ_CHECK(token_sign(key, &c, tok) == CL_OK);
        FUZZ_CHECK(strlen(tok) == n && memcmp(tok, s, n) == 0);
        FUZZ_CHECK(token_verify(other_key, s, n, NOW, (enum region)r, NULL) == CL_EAUTH);
    }
    FUZZ_CHECK(accepted <= 1);
}

static int64_t get_i64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return (int64_t)v;
}

static void check_sign(const uint8_t *d)
{
    struct token_claims c = {
        .app_id = get_i64(d),
        .generation = get_i64(d + 8),
        .scopes = d[16] % 4,
        .region = (enum region)(d[17] % 4),
        .expires_at = get_i64(d + 18),
    };
    char tok[TOKEN_MAX_LEN + 2];
    cl_err err = token_sign(key, &c, tok);
    if (c.scopes == 0 || (unsigned)c.region > REGION_AU) {
        FUZZ_CHECK(err == CL_EINVAL);
        return;
    }
    FUZZ_CHECK(err == CL_OK);
    size_t n = strlen(tok);
    FUZZ_CHECK(n > 0 && n <= TOKEN_MAX_LEN);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(token_char(tok[i]));

    struct token_claims out;
    if (c.expires_at > INT64_MIN) {
        FUZZ_CHECK(token_verify(key, tok, n, c.expires_at - 1, c.region, &out) == CL_OK);
        FUZZ_CHECK(same_claims(&out, &c));
    }
    FUZZ_CHECK(token_verify(key, tok, n, c.expires_at, c.region, &out) == CL_EAUTH);
    int64_t before = c.expires_at > INT64_MIN ? c.expires_at - 1 : INT64_MIN;
    enum region elsewhere = (enum region)((c.region + 1) % 3);
    FUZZ_CHECK(token_verify(key, tok, n, before, elsewhere, &out) == CL_EAUTH);
    FUZZ_CHECK(token_verify(other_key, tok, n, before, c.region, &out) == CL_EAUTH);

    /* Any change at all: a flipped byte, one byte less, one byte more. */
    size_t pos = ((size_t)d[CLAIM_BYTES] << 8 | d[CLAIM_BYTES + 1]) % n;
    unsigned char mask = d[CLAIM_BYTES + 2];
    if (mask) {
        tok[pos] = (char)(tok[pos] ^ mask);
        FUZZ_CHECK(token_verify(key, tok, n, before, c.region, &out) == CL_EAUTH);
        tok[pos] = (char)(tok[pos] ^ mask);
    }
    FUZZ_CHECK(token_verify(key, tok, n - 1, before, c.region, &out) == CL_EAUTH);
    tok[n] = (char)(mask ? mask : 'A');
    FUZZ_CHECK(token_verify(key, tok, n + 1, before, c.region, &out) == CL_EAUTH);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_verify((const char *)data, size);
    if (size >= CLAIM_BYTES + MUTATION_SIZE)
        check_sign(data);
    return 0;
}
