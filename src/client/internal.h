/* Internals shared by the files of libcloseloop: the client handle and the
 * authenticated GET that the paging code is built on. */
#ifndef CL_CLIENT_INTERNAL_H
#define CL_CLIENT_INTERNAL_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "client/retry.h"
#include "closeloop/client.h"
#include "common/buf.h"

struct cl_client {
    CURL *curl; /* one handle for everything, so connections are reused */
    struct curl_slist *token_headers;
    struct curl_slist *api_headers; /* carries "Authorization: Bearer <token>" */
    char *token_url;
    char *sync_url;
    char *client_id;
    char *client_secret; /* wiped before it is freed */
    char *user_agent;
    long connect_timeout_ms;
    long request_timeout_ms;
    struct retry_policy policy;
    bool have_token;
    int64_t token_refresh_ms; /* monotonic time after which the token is renewed */
    struct buf body;          /* the last response body, at most CL_RESPONSE_MAX */
    bool body_too_large;
    uint64_t seed; /* jitter for the next retry schedule */
    /* A pass may fetch its next page on a thread of its own (page.c) while
     * the caller reads the counters: they change under this lock. */
    pthread_mutex_t stats_mu;
    cl_stats stats;
    char errmsg[CL_ERRMSG_LEN];
};

/* GETs url (the sync endpoint plus a query) with a valid token: fetches or
 * renews the token as needed, renews it once on a 401, and retries transient
 * failures within the deadline. On CLC_OK the 200 body is in c->body (owned
 * by c, valid until the next request); on failure c->errmsg says why. */
cl_code client_get(cl_client *c, const char *url);

/* Formats c->errmsg and returns code, so failures read
 * `return client_fail(c, CLC_PROTOCOL, "...")`. */
cl_code client_fail(cl_client *c, cl_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
