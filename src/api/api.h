/* The Close the Loop API as an http_app: routing, authentication and the
 * handlers. Built by `closeloop serve`, driven by the transport. */
#ifndef CL_API_API_H
#define CL_API_API_H

#include <stdint.h>

#include "common/err.h"
#include "common/region.h"
#include "store/store.h"
#include "transport/http.h"

struct api_config {
    const char *db_url; /* borrowed; every worker opens its own connection */
    enum region region; /* tokens are issued for and accepted from this region only */
    int64_t token_ttl;  /* seconds; TOKEN_DEFAULT_TTL in production */
};

/* Process-wide, read-only once serving starts. */
struct api_app {
    struct api_config cfg;
    unsigned char token_key[TOKEN_KEY_LEN];
};

/* Fills app from cfg and loads the token key from the database (creating it
 * on first use). */
cl_err api_app_init(struct api_app *app, const struct api_config *cfg, char *msg);

/* The http_app callbacks; `app` is a struct api_app *. */
void *api_thread_init(void *app, unsigned thread_index);
void api_handle(void *thread_ctx, const struct http_request *req, struct http_response *res);
void api_thread_fini(void *thread_ctx);

#endif
