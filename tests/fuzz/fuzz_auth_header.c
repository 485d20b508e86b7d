/* The Authorization header, both ways the server reads it, on arbitrary
 * bytes:
 *
 * - Bearer: api_authorize as every API route calls it, against an in-memory
 *   SQLite store with two apps (one live at generation 1, one revoked), so
 *   that a token signed with the fixed key reaches the app cache and the
 *   scope check. Whatever it accepts must be a token token_sign would write,
 *   byte for byte, for the live app.
 * - Basic: basic_auth_decode as the token endpoint calls it, compared with a
 *   reference decoder.
 * - The base64 codec under both, in both alphabets, compared with a
 *   reference: it accepts exactly the canonical encodings. */
#include <jansson.h>
#include <string.h>
#include <strings.h>

#include "api/basic_auth.h"
#include "api/internal.h"
#include "auth/token.h"
#include "common/timeutil.h"
#include "fuzz_util.h"

#define LIVE_APP_ID     1
#define LIVE_GENERATION 1
#define MAX_HEADER      8192

static const unsigned char token_key[TOKEN_KEY_LEN] = "closeloop-fuzz-token-key-32bytes";

static struct api_app app;
static struct api_thread *thread;

/* ---- setup --------------------------------------------------------------- */

static void add_app(struct store *s, const char *client_id, bool revoked)
{
    char msg[CL_ERRMSG_MAX] = "";
    struct app_record a = {.scopes = SCOPE_READ | SCOPE_WRITE, .generation = LIVE_GENERATION};
    snprintf(a.client_id, sizeof a.client_id, "%s", client_id);
    snprintf(a.name, sizeof a.name, "fuzz %s", client_id);
    secret_hash("secret", 6, a.secret_hash);
    FUZZ_CHECK(store_app_insert(s, &a, msg) == CL_OK);
    if (revoked)
        FUZZ_CHECK(store_app_revoke(s, client_id, msg) == CL_OK);
}

static void setup(void)
{
    char msg[CL_ERRMSG_MAX] = "";
    struct store *s;
    if (store_open(":memory:", &s, msg) != CL_OK) {
        fprintf(stderr, "fuzz_auth_header: %s\n", msg);
        abort();
    }
    add_app(s, "00000000000000000000000000000001", false);
    add_app(s, "00000000000000000000000000000002", true);
    app.cfg = (struct api_config){.db_url = ":memory:", .region = REGION_EU, .token_ttl = 3600};
    memcpy(app.token_key, token_key, TOKEN_KEY_LEN);
    thread = calloc(1, sizeof *thread);
    FUZZ_CHECK(thread);
    thread->app = &app;
    thread->store = s;
    thread->apps = app_cache_new(s);
    FUZZ_CHECK(thread->apps);
}

/* ---- base64 -------------------------------------------------------------- */

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Encodes bit by bit; padded in the standard alphabet. Returns the length. */
static size_t ref_b64_encode(const unsigned char *in, size_t n, bool url, char *out)
{
    const char *alpha = url ? b64_url : b64_std;
    size_t o = 0, bits = 8 * n;
    for (size_t bit = 0; bit < bits; bit += 6) {
        unsigned v = 0;
        for (size_t k = bit; k < bit + 6; k++) {
            unsigned b = k < bits ? (in[k / 8] >> (7 - k % 8)) & 1 : 0;
            v = v << 1 | b;
        }
        out[o++] = alpha[v];
    }
    while (!url && o % 4)
        out[o++] = '=';
    return o;
}

/* Decodes by re-encoding: takes the bits of every character, then accepts
 * only when encoding the bytes gives the input back. Returns false when the
 * input is not the one canonical encoding (padded or, in the standard
 * alphabet, also unpadded) of any byte string. */
static bool ref_b64_decode(const char *in, size_t n, bool url, unsigned char *out, size_t *len)
{
    const char *alpha = url ? b64_url : b64_std;
    size_t core = n;
    while (!url && core > 0 && n - core < 2 && in[core - 1] == '=')
        core--;
    size_t o = 0, bits = 0;
    unsigned acc = 0;
    for (size_t i = 0; i < core; i++) {
        const char *at = in[i] ? strchr(alpha, in[i]) : NULL;
        if (!at)
            return false;
        acc = acc << 6 | (unsigned)(at - alpha);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    char *again = malloc(4 * (o / 3 + 1) + 1);
    FUZZ_CHECK(again);
    size_t m = ref_b64_encode(out, o, url, again);
    size_t unpadded = m;
    while (unpadded > 0 && again[unpadded - 1] == '=')
        unpadded--;
    bool ok = (m == n && memcmp(again, in, n) == 0) ||
              (!url && unpadded == n && memcmp(again, in, n) == 0);
    free(again);
    *len = o;
    return ok;
}

static void check_base64(const char *s, size_t n, bool url)
{
    unsigned char *got = malloc(n + 1), *want = malloc(n + 1);
    size_t got_len = 0, want_len = 0;
    FUZZ_CHECK(got && want);
    bool ok = secret_base64_decode(s, n, url, got, n, &got_len);
    FUZZ_CHECK(ok == ref_b64_decode(s, n, url, want, &want_len));
    if (ok) {
        FUZZ_CHECK(got_len == want_len && memcmp(got, want, got_len) == 0);
        /* The output never exceeds what the caller said fits. */
        if (got_len > 0)
            FUZZ_CHECK(!secret_base64_decode(s, n, url, got, got_len - 1, &got_len));
    }
    free(got);
    free(want);
}

/* ---- Basic --------------------------------------------------------------- */

static bool ref_url_decode(const char *s, size_t n, char *out, size_t max, size_t *len)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned c = (unsigned char)s[i];
        if (c == '%') {
            unsigned v;
            char hex[3] = {0};
            if (n - i < 3 || !strchr("0123456789abcdefABCDEF", s[i + 1]) || !s[i + 1] ||
                !strchr("0123456789abcdefABCDEF", s[i + 2]) || !s[i + 2])
                return false;
            memcpy(hex, s + i + 1, 2);
            sscanf(hex, "%x", &v);
            c = v;
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (c == 0 || o == max)
            return false;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    *len = o;
    return true;
}

static void check_basic(const char *s, size_t n)
{
    struct http_str h = {s, n};
    bool is_basic = n > 5 && strncasecmp(s, "Basic ", 6) == 0;
    FUZZ_CHECK(basic_auth_is_basic(&h) == is_basic);
    if (!is_basic)
        return;

    struct client_creds got;
    bool ok = basic_auth_decode(&h, &got);

    size_t skip = 5;
    while (skip < n && s[skip] == ' ')
        skip++;
    unsigned char *raw = malloc(n);
    size_t raw_len;
    char id[CLIENT_ID_MAX + 1], secret[SECRET_MAX_LEN + 1];
    size_t id_len = 0, secret_len = 0;
    FUZZ_CHECK(raw);
    bool want = ref_b64_decode(s + skip, n - skip, false, raw, &raw_len);
    const unsigned char *colon = want ? memchr(raw, ':', raw_len) : NULL;
    want = colon &&
           ref_url_decode((const char *)raw, (size_t)(colon - raw), id, CLIENT_ID_MAX, &id_len) &&
           ref_url_decode((const char *)colon + 1, raw_len - (size_t)(colon - raw) - 1, secret,
                          SECRET_MAX_LEN, &secret_len) &&
           id_len > 0 && secret_len > 0;
    free(raw);

    FUZZ_CHECK(ok == want);
    if (ok) {
        FUZZ_CHECK(got.id_len == id_len && strcmp(got.id, id) == 0);
        FUZZ_CHECK(got.secret_len == secret_len && strcmp(got.secret, secret) == 0);
    }
}

/* ---- Bearer -------------------------------------------------------------- */

static void check_bearer(const char *s, size_t n, unsigned scope)
{
    struct http_request req = {.authorization = {s, n}};
    struct buf body;
    buf_init(&body, 4096);
    struct http_response res = {.body = &body};

    bool ok = api_authorize(thread, &req, &res, scope);

    bool is_bearer = n > 7 && strncasecmp(s, "Bearer ", 7) == 0;
    struct token_claims c;
    bool valid = is_bearer &&
                 token_verify(token_key, s + 7, n - 7, time_now(), REGION_EU, &c) == CL_OK &&
                 c.app_id == LIVE_APP_ID && c.generation == LIVE_GENERATION;
    if (ok) {
        FUZZ_CHECK(valid && (c.scopes & scope) == scope && res.status == 0 && body.len == 0);
        /* Accepted means canonical: the very bytes token_sign writes. */
        char tok[TOKEN_MAX_LEN + 1];
        FUZZ_CHECK(token_sign(token_key, &c, tok) == CL_OK);
        FUZZ_CHECK(strlen(tok) == n - 7 && memcmp(tok, s + 7, n - 7) == 0);
    } else {
        FUZZ_CHECK(res.status == (valid ? 403 : 401));
        FUZZ_CHECK(res.status == 403 ||
                   (res.nheaders == 1 && strcmp(res.headers[0].name, "WWW-Authenticate") == 0 &&
                    strncmp(res.headers[0].value, "Bearer ", 7) == 0));
        json_t *j = json_loadb(body.data, body.len, 0, NULL);
        FUZZ_CHECK(j && json_is_string(json_object_get(j, "message")));
        json_decref(j);
    }
    buf_free(&body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_HEADER)
        return 0;
    if (!thread)
        setup();
    const char *s = fuzz_guarded(data, size, MAX_HEADER);
    check_bearer(s, size, SCOPE_READ);
    check_bearer(s, size, SCOPE_WRITE);
    check_basic(s, size);
    check_base64(s, size, false);
    check_base64(s, size, true);
    return 0;
}
