/* The Close the Loop API as an http_app: routing, authentication and the
 * handlers. Built by `closeloop serve`, driven by the transport. */
#ifndef CL_API_API_H
#define CL_API_API_H

#include <stdint.h>

#include "api/metrics.h"
#include "api/ratelimit.h"
#include "common/err.h"
#include "common/region.h"
#include "store/store.h"
#include "transport/http.h"

struct api_config {
    const char *db_url; /* borrowed; every worker opens its own connection */
    enum region region; /* tokens are issued for and accepted from this region only */
    int64_t token_ttl;  /* seconds; TOKEN_DEFAULT_TTL in production */
    /* Per Connected App rate limit, for the whole process: count 0 = off. */
    struct ratelimit_rate rate_limit;
    uint32_t rate_burst; /* 0 = rate_limit.count */
};

struct writer;

/* Process-wide, read-only once serving starts (the metrics, the limiter and
 * the writer are used through their own thread-safe interfaces). */
struct api_app {
    struct api_config cfg;
    unsigned char token_key[TOKEN_KEY_LEN];
    struct metrics *metrics;   /* owned; NULL: not counted */
    struct ratelimit *limiter; /* owned; NULL: no rate limit */
    struct writer *writer;     /* owned; the thread of the write endpoints (writer.c) */
};

/* Fills app from cfg, loads the token key from the database (creating it
 * on first use) and creates the metrics registry and the rate limiter.
 * On failure nothing is left to release; on success api_app_fini releases
 * what app owns. */
cl_err api_app_init(struct api_app *app, const struct api_config *cfg, char *msg);

/* Releases what api_app_init created and wipes the token key, once no
 * thread serves any more. NULL-safe. */
void api_app_fini(struct api_app *app);

/* The http_app callbacks; `app` is a struct api_app *. */
void *api_thread_init(void *app, unsigned thread_index);
void api_handle(void *thread_ctx, const struct http_request *req, struct http_response *res);
void api_thread_fini(void *thread_ctx);

#endif
