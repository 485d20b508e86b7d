/* Connected App credentials: id and secret shapes, hashing, scopes, base64. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "auth/secret.h"

static void test_client_id_shape(void **state)
{
    (void)state;
    char a[CLIENT_ID_LEN + 1], b[CLIENT_ID_LEN + 1];
    assert_int_equal(secret_new_client_id(a), CL_OK);
    assert_int_equal(secret_new_client_id(b), CL_OK);
    assert_int_equal(strlen(a), CLIENT_ID_LEN);
    assert_int_equal(strspn(a, "0123456789abcdef"), CLIENT_ID_LEN);
    assert_string_not_equal(a, b);
}

static void test_secret_shape(void **state)
{
    (void)state;
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                   "0123456789-_";
    char a[SECRET_LEN + 1], b[SECRET_LEN + 1];
    unsigned char ha[SECRET_HASH_LEN], hb[SECRET_HASH_LEN];
    assert_int_equal(secret_new(a, ha), CL_OK);
    assert_int_equal(secret_new(b, hb), CL_OK);
    assert_int_equal(strlen(a), SECRET_LEN);
    assert_int_equal(strspn(a, alphabet), SECRET_LEN);
    assert_string_not_equal(a, b);
    assert_memory_not_equal(ha, hb, SECRET_HASH_LEN);

    /* The secret decodes back to SECRET_BYTES random bytes. */
    unsigned char raw[SECRET_BYTES];
    size_t n = 0;
    assert_true(secret_base64_decode(a, SECRET_LEN, true, raw, sizeof raw, &n));
    assert_int_equal(n, SECRET_BYTES);
}

static void test_hash_and_match(void **state)
{
    (void)state;
    char s[SECRET_LEN + 1];
    unsigned char h[SECRET_HASH_LEN], again[SECRET_HASH_LEN];
    assert_int_equal(secret_new(s, h), CL_OK);
    secret_hash(s, strlen(s), again);
    assert_memory_equal(h, again, SECRET_HASH_LEN);
    assert_true(secret_matches(s, strlen(s), h));

    char wrong[SECRET_LEN + 1];
    memcpy(wrong, s, sizeof wrong);
    wrong[0] = wrong[0] == 'A' ? 'B' : 'A';
    assert_false(secret_matches(wrong, strlen(wrong), h));
    assert_false(secret_matches(s, strlen(s) - 1, h));
    assert_false(secret_matches("", 0, h));

    /* SHA-256("abc"), FIPS 180-2 appendix B.1. */
    static const unsigned char abc[SECRET_HASH_LEN] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
        0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
        0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    assert_true(secret_matches("abc", 3, abc));
}

static void test_random_fills(void **state)
{
    (void)state;
    /* More than getrandom's 256-byte atomic size, to cover short reads. */
    unsigned char big[4096];
    memset(big, 0, sizeof big);
    assert_int_equal(secret_random(big, sizeof big), CL_OK);
    size_t zeros = 0;
    for (size_t i = 0; i < sizeof big; i++)
        zeros += big[i] == 0;
    assert_true(zeros < 64); /* about 16 expected */
    assert_int_equal(secret_random(big, 0), CL_OK);
}

static void test_scope_parse(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        bool ok;
        unsigned scopes;
    } cases[] = {
        {"read", true, SCOPE_READ},
        {"write", true, SCOPE_WRITE},
        {"read,write", true, SCOPE_READ | SCOPE_WRITE},
        {"write,read", true, SCOPE_READ | SCOPE_WRITE},
        {"read write", true, SCOPE_READ | SCOPE_WRITE},
        {"write read", true, SCOPE_READ | SCOPE_WRITE},
        {"read,read", true, SCOPE_READ},
        {"", false, 0},
        {" ", false, 0},
        {",", false, 0},
        {"read,", false, 0},
        {",read", false, 0},
        {"read  write", false, 0},
        {"read, write", false, 0},
        {"READ", false, 0},
        {"admin", false, 0},
        {"read,admin", false, 0},
        {"rea", false, 0},
        {"reads", false, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned got = 0xff;
        bool ok = scope_parse(cases[i].in, strlen(cases[i].in), &got);
        if (ok != cases[i].ok)
            fail_msg("scope_parse(\"%s\") returned %d", cases[i].in, ok);
        if (ok && got != cases[i].scopes)
            fail_msg("scope_parse(\"%s\") = %u, want %u", cases[i].in, got, cases[i].scopes);
    }
    /* The length is honoured; the string need not be NUL-terminated. */
    unsigned got = 0;
    assert_true(scope_parse("readXYZ", 4, &got));
    assert_int_equal(got, SCOPE_READ);
}

static void test_scope_name(void **state)
{
    (void)state;
    assert_string_equal(scope_name(SCOPE_READ), "read");
    assert_string_equal(scope_name(SCOPE_WRITE), "write");
    assert_string_equal(scope_name(SCOPE_READ | SCOPE_WRITE), "read write");
    assert_string_equal(scope_name(0), "");
    unsigned back = 0;
    const char *n = scope_name(SCOPE_READ | SCOPE_WRITE);
    assert_true(scope_parse(n, strlen(n), &back));
    assert_int_equal(back, SCOPE_READ | SCOPE_WRITE);
}

static void test_base64_vectors(void **state)
{
    (void)state;
    /* RFC 4648 section 10. */
    static const struct {
        const char *raw, *std, *url;
    } v[] = {
        {"", "", ""},
        {"f", "Zg==", "Zg"},
        {"fo", "Zm8=", "Zm8"},
        {"foo", "Zm9v", "Zm9v"},
        {"foob", "Zm9vYg==", "Zm9vYg"},
        {"fooba", "Zm9vYmE=", "Zm9vYmE"},
        {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char out[16];
        unsigned char back[16];
        size_t n = 0, len = strlen(v[i].raw);
        const unsigned char *raw = (const unsigned char *)v[i].raw;

        assert_int_equal(secret_base64_encode(raw, len, false, out), strlen(v[i].std));
        assert_string_equal(out, v[i].std);
        assert_int_equal(secret_base64_len(len, false), strlen(v[i].std));
        assert_int_equal(secret_base64_encode(raw, len, true, out), strlen(v[i].url));
        assert_string_equal(out, v[i].url);
        assert_int_equal(secret_base64_len(len, true), strlen(v[i].url));

        assert_true(secret_base64_decode(v[i].std, strlen(v[i].std), false, back, sizeof back, &n));
        assert_int_equal(n, len);
        assert_memory_equal(back, v[i].raw, len);
        assert_true(secret_base64_decode(v[i].url, strlen(v[i].url), true, back, sizeof back, &n));
        assert_int_equal(n, len);
        /* Basic credentials without padding are accepted too. */
        assert_true(secret_base64_decode(v[i].url, strlen(v[i].url), false, back, sizeof back, &n));
        assert_int_equal(n, len);
    }
    unsigned char hi[3] = {0xfb, 0xff, 0xbf};
    char out[8];
    secret_base64_encode(hi, 3, false, out);
    assert_string_equal(out, "+/+/");
    secret_base64_encode(hi, 3, true, out);
    assert_string_equal(out, "-_-_");
}

static void test_base64_rejects(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        bool url;
    } bad[] = {
        {"Zg=", false},      /* padding that does not complete a group */
        {"Zg==", true},      /* no padding in base64url */
        {"Zm8==", false},    /* wrong padding length */
        {"Zm9v=", false},    /* padding after a full group */
        {"Z===", false},     /* too much padding */
        {"Z", true},         /* a lone character */
        {"Zh", true},        /* non-zero unused bits */
        {"Zm9", true},       /* non-zero unused bits */
        {"Zm 9v", false},    /* whitespace */
        {"-_-_", false},     /* url alphabet in std */
        {"+/+/", true},      /* std alphabet in url */
        {"Zg==Zg==", false}, /* padding in the middle */
        {"Zm9v\n", false},   /* a trailing newline */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned char out[16];
        size_t n = 0;
        if (secret_base64_decode(bad[i].in, strlen(bad[i].in), bad[i].url, out, sizeof out, &n))
            fail_msg("decoded \"%s\" (url=%d)", bad[i].in, bad[i].url);
    }
    unsigned char small[2];
    size_t n = 0;
    assert_false(secret_base64_decode("Zm9v", 4, false, small, sizeof small, &n));
    assert_true(secret_base64_decode("Zm8", 3, true, small, sizeof small, &n));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_id_shape), cmocka_unit_test(test_secret_shape),
        cmocka_unit_test(test_hash_and_match),  cmocka_unit_test(test_random_fills),
        cmocka_unit_test(test_scope_parse),     cmocka_unit_test(test_scope_name),
        cmocka_unit_test(test_base64_vectors),  cmocka_unit_test(test_base64_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
