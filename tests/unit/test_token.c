/* Access tokens: what token_verify accepts is exactly what token_sign made,
 * with the same key, before expiry, in the same region. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "auth/secret.h"
#include "auth/token.h"

#define NOW 1700000000

static const unsigned char key[TOKEN_KEY_LEN] = "0123456789abcdef0123456789abcdef";

static const struct token_claims claims = {
    .app_id = 42,
    .generation = 7,
    .scopes = SCOPE_READ | SCOPE_WRITE,
    .region = REGION_US,
    .expires_at = NOW + 3600,
};

static void sign(char tok[TOKEN_MAX_LEN + 1])
{
    assert_int_equal(token_sign(key, &claims, tok), CL_OK);
}

static cl_err verify(const char *tok, size_t len, int64_t now)
{
    struct token_claims out;
    return token_verify(key, tok, len, now, REGION_US, &out);
}

static void test_round_trip(void **state)
{
    (void)state;
    char tok[TOKEN_MAX_LEN + 1];
    sign(tok);
    assert_true(strlen(tok) <= TOKEN_MAX_LEN);
    assert_memory_equal(tok, "cl1.", 4);

    struct token_claims out;
    memset(&out, 0, sizeof out);
    assert_int_equal(token_verify(key, tok, strlen(tok), NOW, REGION_US, &out), CL_OK);
    assert_int_equal(out.app_id, claims.app_id);
    assert_int_equal(out.generation, claims.generation);
    assert_int_equal(out.scopes, claims.scopes);
    assert_int_equal(out.region, claims.region);
    assert_int_equal(out.expires_at, claims.expires_at);

    /* Token bytes are all URL- and header-safe. */
    assert_int_equal(strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                 "0123456789-_."),
                     strlen(tok));
}

static void test_claim_values_survive(void **state)
{
    (void)state;
    static const struct token_claims cs[] = {
        {1, 1, SCOPE_READ, REGION_EU, 1},
        {INT64_MAX, INT64_MAX, SCOPE_WRITE, REGION_AU, INT64_MAX},
        {9007199254740991LL, 0, SCOPE_READ | SCOPE_WRITE, REGION_US, NOW + 1},
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        char tok[TOKEN_MAX_LEN + 1];
        struct token_claims out;
        assert_int_equal(token_sign(key, &cs[i], tok), CL_OK);
        assert_int_equal(token_verify(key, tok, strlen(tok), 0, cs[i].region, &out), CL_OK);
        assert_memory_equal(&out.app_id, &cs[i].app_id, sizeof out.app_id);
        assert_int_equal(out.generation, cs[i].generation);
        assert_int_equal(out.scopes, cs[i].scopes);
        assert_int_equal(out.expires_at, cs[i].expires_at);
    }
}

static void test_sign_rejects_bad_claims(void **state)
{
    (void)state;
    char tok[TOKEN_MAX_LEN + 1];
    struct token_claims c = claims;
    c.scopes = 0;
    assert_int_equal(token_sign(key, &c, tok), CL_EINVAL);
    c.scopes = 4;
    assert_int_equal(token_sign(key, &c, tok), CL_EINVAL);
    c = claims;
    c.region = (enum region)3;
    assert_int_equal(token_sign(key, &c, tok), CL_EINVAL);
}

static void test_expiry_boundary(void **state)
{
    (void)state;
    char tok[TOKEN_MAX_LEN + 1];
    sign(tok);
    assert_int_equal(verify(tok, strlen(tok), claims.expires_at - 1), CL_OK);
    assert_int_equal(verify(tok, strlen(tok), claims.expires_at), CL_EAUTH);
    assert_int_equal(verify(tok, strlen(tok), claims.expires_at + 1), CL_EAUTH);
}

static void test_other_region(void **state)
{
    (void)state;
    char tok[TOKEN_MAX_LEN + 1];
    struct token_claims out;
    sign(tok);
    assert_int_equal(token_verify(key, tok, strlen(tok), NOW, REGION_EU, &out), CL_EAUTH);
    assert_int_equal(token_verify(key, tok, strlen(tok), NOW, REGION_AU, &out), CL_EAUTH);
}

static void test_different_key(void **state)
{
    (void)state;
    char tok[TOKEN_MAX_LEN + 1];
    struct token_claims out;
    sign(tok);
    unsigned char other[TOKEN_KEY_LEN];
    memcpy(other, key, sizeof other);
    other[TOKEN_KEY_LEN - 1] ^= 1;
    assert_int_equal(token_verify(other, tok, strlen(tok), NOW, REGION_US, &out), CL_EAUTH);
}

static void test_every_byte_flipped(void **state)
{
    (void)state;
    char tok[TOKEN_MAX_LEN + 1];
    sign(tok);
    size_t len = strlen(tok);
    /* Flipping the lowest bit turns most characters into another valid
     * base64url character, so this exercises the signature, not just the
     * alphabet check; other bits cover the rest. */
    for (size_t i = 0; i < len; i++) {
        for (unsigned bit = 0; bit < 8; bit++) {
            char bad[TOKEN_MAX_LEN + 1];
            memcpy(bad, tok, len + 1);
            bad[i] ^= (char)(1u << bit);
            if (verify(bad, len, NOW) != CL_EAUTH)
                fail_msg("accepted with byte %zu bit %u flipped", i, bit);
        }
    }
}

static void test_malformed(void **state)
{
    (void)state;
    char tok[TOKEN_MAX_LEN + 1];
    sign(tok);
    size_t len = strlen(tok);
    char buf[2 * TOKEN_MAX_LEN];

    /* Every truncation, including the empty string. */
    for (size_t n = 0; n < len; n++)
        if (verify(tok, n, NOW) != CL_EAUTH)
            fail_msg("accepted a token truncated to %zu bytes", n);
    assert_int_equal(verify("", 0, NOW), CL_EAUTH);
    assert_int_equal(verify(NULL, 0, NOW), CL_EAUTH);

    /* Extended: by a valid base64url character, by padding, by a dot. */
    static const char *const tails[] = {"A", "=", "==", ".", " ", "\n", ".A"};
    for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
        snprintf(buf, sizeof buf, "%s%s", tok, tails[i]);
        if (verify(buf, strlen(buf), NOW) != CL_EAUTH)
            fail_msg("accepted a token followed by \"%s\"", tails[i]);
    }

    /* Wrong prefix. */
    memcpy(buf, tok, len + 1);
    buf[2] = '2';
    assert_int_equal(verify(buf, len, NOW), CL_EAUTH);
    memcpy(buf, "CL1.", 4);
    assert_int_equal(verify(buf, len, NOW), CL_EAUTH);
    snprintf(buf, sizeof buf, "Bearer %s", tok);
    assert_int_equal(verify(buf, strlen(buf), NOW), CL_EAUTH);

    /* The last MAC character replaced by padding, and padded at the same length. */
    memcpy(buf, tok, len + 1);
    buf[len - 1] = '=';
    assert_int_equal(verify(buf, len, NOW), CL_EAUTH);

    /* The standard alphabet instead of the URL-safe one. */
    memcpy(buf, tok, len + 1);
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '-')
            buf[i] = '+';
        else if (buf[i] == '_')
            buf[i] = '/';
    }
    if (memcmp(buf, tok, len) != 0)
        assert_int_equal(verify(buf, len, NOW), CL_EAUTH);

    /* Swapped payload and MAC; dots moved. */
    const char *dot = strchr(tok + 4, '.');
    snprintf(buf, sizeof buf, "cl1.%s.%.*s", dot + 1, (int)(dot - tok - 4), tok + 4);
    assert_int_equal(verify(buf, strlen(buf), NOW), CL_EAUTH);

    /* Oversized. */
    char big[TOKEN_MAX_LEN + 2];
    memset(big, 'A', sizeof big);
    memcpy(big, tok, len);
    assert_int_equal(verify(big, sizeof big, NOW), CL_EAUTH);

    /* An embedded NUL at the right length. */
    memcpy(buf, tok, len + 1);
    buf[len / 2] = '\0';
    assert_int_equal(verify(buf, len, NOW), CL_EAUTH);
}

static void test_payload_tampering_with_own_mac(void **state)
{
    (void)state;
    /* A token whose claims were changed is not fixed by re-encoding: the MAC
     * covers the encoded payload, so the original MAC no longer matches. */
    char a[TOKEN_MAX_LEN + 1], b[TOKEN_MAX_LEN + 1];
    struct token_claims c = claims;
    sign(a);
    c.expires_at += 1000;
    assert_int_equal(token_sign(key, &c, b), CL_OK);
    const char *dot_a = strrchr(a, '.'), *dot_b = strrchr(b, '.');
    char mixed[2 * TOKEN_MAX_LEN];
    snprintf(mixed, sizeof mixed, "%.*s%s", (int)(dot_b - b), b, dot_a);
    assert_int_equal(verify(mixed, strlen(mixed), NOW), CL_EAUTH);
}

/* A remembered token answers as token_verify would: the same claims, and
 * refused once expired; a token that differs from a remembered one in any
 * bit (same slot or not) is verified afresh and refused. */
static void test_memo_answers_as_verify(void **state)
{
    (void)state;
    static struct token_memo memo; /* zeroed, as calloc gives it */
    char tok[TOKEN_MAX_LEN + 1];
    sign(tok);
    size_t len = strlen(tok);
    for (int round = 0; round < 2; round++) { /* a miss, then a hit */
        struct token_claims out;
        memset(&out, 0, sizeof out);
        assert_int_equal(token_verify_memo(&memo, key, tok, len, NOW, REGION_US, &out), CL_OK);
        assert_int_equal(out.app_id, claims.app_id);
        assert_int_equal(out.generation, claims.generation);
        assert_int_equal(out.scopes, claims.scopes);
        assert_int_equal(out.region, claims.region);
        assert_int_equal(out.expires_at, claims.expires_at);
    }
    assert_int_equal(
        token_verify_memo(&memo, key, tok, len, claims.expires_at - 1, REGION_US, NULL), CL_OK);
    assert_int_equal(token_verify_memo(&memo, key, tok, len, claims.expires_at, REGION_US, NULL),
                     CL_EAUTH);
    for (size_t i = 0; i < len; i++) {
        for (unsigned bit = 0; bit < 8; bit++) {
            char bad[TOKEN_MAX_LEN + 1];
            memcpy(bad, tok, len + 1);
            bad[i] ^= (char)(1u << bit);
            if (token_verify_memo(&memo, key, bad, len, NOW, REGION_US, NULL) != CL_EAUTH)
                fail_msg("memo accepted byte %zu bit %u flipped", i, bit);
        }
    }
    /* A prefix of a remembered token is no token. */
    assert_int_equal(token_verify_memo(&memo, key, tok, len - 1, NOW, REGION_US, NULL), CL_EAUTH);
    assert_int_equal(token_verify_memo(&memo, key, NULL, 0, NOW, REGION_US, NULL), CL_EAUTH);
    /* The original is still remembered, and still good. */
    assert_int_equal(token_verify_memo(&memo, key, tok, len, NOW, REGION_US, NULL), CL_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_claim_values_survive),
        cmocka_unit_test(test_sign_rejects_bad_claims),
        cmocka_unit_test(test_expiry_boundary),
        cmocka_unit_test(test_other_region),
        cmocka_unit_test(test_different_key),
        cmocka_unit_test(test_every_byte_flipped),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_payload_tampering_with_own_mac),
        cmocka_unit_test(test_memo_answers_as_verify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
