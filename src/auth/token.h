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

#endif
