/* HTTP Basic client authentication (RFC 6749 §2.3.1) as the token endpoint
 * reads it: "Basic base64(urlencode(id) ':' urlencode(secret))". Split out
 * of h_token.c so that the decoder, which reads untrusted header bytes, can
 * be tested and fuzzed on its own. */
#ifndef CL_API_BASIC_AUTH_H
#define CL_API_BASIC_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/secret.h"
#include "store/store.h"
#include "transport/http.h"

#define CLIENT_ID_MAX (CLIENT_ID_LEN * 2) /* longer presented ids are rejected */

/* A client's credentials as presented, NUL-terminated. */
struct client_creds {
    char id[CLIENT_ID_MAX + 1];
    size_t id_len;
    char secret[SECRET_MAX_LEN + 1];
    size_t secret_len;
};

/* Whether the Authorization header h uses the Basic scheme (any case),
 * followed by a space. */
bool basic_auth_is_basic(const struct http_str *h);

/* Decodes the credentials of a header for which basic_auth_is_basic holds
 * into c. False when the header is malformed, or either part is empty, too
 * long or decodes to a NUL byte; c is then unspecified. Allocates nothing. */
bool basic_auth_decode(const struct http_str *h, struct client_creds *c);

#endif
