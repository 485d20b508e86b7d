/* A per-thread cache of Connected App states, so that verifying a token
 * costs no database round trip, while a revoke or rotate made by any process
 * on the database takes effect within APP_CACHE_TTL_MS. */
#ifndef CL_AUTH_APP_CACHE_H
#define CL_AUTH_APP_CACHE_H

#include <stdint.h>

#include "auth/token.h"
#include "common/err.h"
#include "store/store.h"

#define APP_CACHE_TTL_MS 2000

struct app_cache;

/* Creates an empty cache that reloads from s (borrowed: s must outlive the
 * cache). Returns NULL on allocation failure. */
struct app_cache *app_cache_new(struct store *s);

/* Frees the cache and sets *c to NULL. NULL-safe. */
void app_cache_free(struct app_cache **c);

/* Checks that the token's app exists, is not revoked and still has the
 * generation the token was issued at. Reloads all app states when the
 * snapshot is older than APP_CACHE_TTL_MS at now_ms (monotonic).
 * CL_OK, CL_EAUTH, or a store error when a reload fails. */
cl_err app_cache_check(struct app_cache *c, const struct token_claims *t, int64_t now_ms);

/* The client_id of app app_id in the current snapshot, or NULL when the
 * snapshot does not hold it. The string is the cache's and valid until its
 * next reload (the next app_cache_check): copy it. */
const char *app_cache_client_id(const struct app_cache *c, int64_t app_id);

#endif
