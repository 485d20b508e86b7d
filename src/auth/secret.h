/* Connected App credentials: random client ids and secrets from the OS
 * CSPRNG, stored only as SHA-256 hashes and compared in constant time. A
 * plain hash suffices because a secret carries 256 random bits: there is no
 * dictionary to attack, so a slow password hash would only cost CPU. */
#ifndef CL_AUTH_SECRET_H
#define CL_AUTH_SECRET_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "store/store.h"

#define SECRET_BYTES   32  /* 256 bits of entropy */
#define SECRET_LEN     43  /* base64url, unpadded, of SECRET_BYTES */
#define SECRET_MAX_LEN 512 /* longer presented secrets are rejected */

/* Fills buf with n bytes from getrandom(2). CL_EIO when the OS fails. */
cl_err secret_random(void *buf, size_t n);

/* A new client id: CLIENT_ID_LEN lower-case hex characters and a NUL. */
cl_err secret_new_client_id(char out[CLIENT_ID_LEN + 1]);

/* A new secret (SECRET_LEN characters and a NUL) and its hash. */
cl_err secret_new(char out[SECRET_LEN + 1], unsigned char hash[SECRET_HASH_LEN]);

/* SHA-256 of the secret as presented. */
void secret_hash(const char *secret, size_t len, unsigned char hash[SECRET_HASH_LEN]);

/* Whether the presented secret hashes to the stored hash; constant time. */
bool secret_matches(const char *secret, size_t len, const unsigned char hash[SECRET_HASH_LEN]);

/* Scopes: "read", "write" or "read,write" (also "write,read" and
 * space-separated as in RFC 6749) into SCOPE_* bits; false when invalid. */
bool scope_parse(const char *s, size_t n, unsigned *out);

/* "read", "write" or "read write" (RFC 6749 separates scopes by spaces);
 * "" when scopes has neither bit. */
const char *scope_name(unsigned scopes);

/* ---- base64 (RFC 4648) ---------------------------------------------------
 * The URL-safe alphabet without padding encodes secrets and tokens; the
 * standard alphabet with padding is what HTTP Basic credentials use. */

/* Characters secret_base64_encode writes for n bytes, without the NUL. */
size_t secret_base64_len(size_t n, bool url);

/* Encodes in[0..n) into out, which must hold secret_base64_len(n, url) + 1
 * bytes; writes a NUL and returns the length. */
size_t secret_base64_encode(const unsigned char *in, size_t n, bool url, char *out);

/* Decodes in[0..n) into out (cap bytes) and sets *out_len. Strict: only the
 * chosen alphabet, no whitespace, and the unused bits of the last character
 * must be zero, so that every byte string has exactly one encoding. With
 * url, padding is rejected; without, it is optional but must be correct.
 * False on any invalid input or when the result would not fit in cap. */
bool secret_base64_decode(const char *in, size_t n, bool url, unsigned char *out, size_t cap,
                          size_t *out_len);

#endif
