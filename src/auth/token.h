/* Access tokens: self-contained, HMAC-SHA256 signed with the database's
 * token key, so any server process on the same database verifies them
 * without a database round trip. Revocation and rotation are enforced by the
 * app cache (app_cache.h), which checks the app's generation. */
#ifndef CL_AUTH_TOKEN_H
#define CL_AUTH_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/region.h"
#include "store/store.h"

#define TOKEN_DEFAULT_TTL 3600 /* seconds */
#define TOKEN_MAX_LEN     256  /* bytes of a serialized token; longer is invalid */

struct token_claims {
    int64_t app_id;
    int64_t generation; /* the app's generation at issue */
    unsigned scopes;    /* SCOPE_* bits granted */
    enum region region; /* the issuing server's region */
    int64_t expires_at; /* epoch second */
};

/* Serializes and signs claims into out (NUL-terminated, at most
 * TOKEN_MAX_LEN + 1 bytes including the NUL). */
cl_err token_sign(const unsigned char key[TOKEN_KEY_LEN], const struct token_claims *c,
                  char out[TOKEN_MAX_LEN + 1]);

/* Checks format, signature (in constant time), expiry against now and the
 * region. Returns CL_OK and the claims, or CL_EAUTH for every kind of
 * failure alike. */
cl_err token_verify(const unsigned char key[TOKEN_KEY_LEN], const char *tok, size_t len,
                    int64_t now, enum region region, struct token_claims *out);

/* The tokens a thread has verified lately, with their claims. A client
 * sends the same token with every request, and its HMAC was about a tenth
 * of the CPU time of a small sync page; a remembered token costs one
 * constant-time comparison instead. Zero it before first use (calloc);
 * one thread's, not shared. */
#define TOKEN_MEMO_SLOTS 16 /* a power of two */

struct token_memo {
    struct {
        size_t len; /* 0: empty */
        char tok[TOKEN_MAX_LEN];
        struct token_claims claims;
    } slot[TOKEN_MEMO_SLOTS];
};

/* token_verify, answered from memo when tok is a token that passed it
 * before (and has not expired since); a token that passes now is
 * remembered. key and region must be the same on every call with memo. */
cl_err token_verify_memo(struct token_memo *memo, const unsigned char key[TOKEN_KEY_LEN],
                         const char *tok, size_t len, int64_t now, enum region region,
                         struct token_claims *out);

#endif
