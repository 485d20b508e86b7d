/* The per-app rate limit as the API applies it: one limiter for the whole
 * process (shared by every worker thread, so that a client's limit does not
 * multiply by the thread count), keyed by the Connected App, consulted once
 * a request has authenticated: by bearer token on the API routes, by client
 * credentials on the token endpoint. */
#include <stdio.h>

#include "api/internal.h"
#include "common/timeutil.h"

#define NS_PER_SEC 1000000000LL

bool api_throttle(struct api_thread *t, int64_t app_id, struct http_response *res)
{
    struct ratelimit *rl = t->app->limiter;
    int64_t wait_ns;

    if (!rl || ratelimit_take(rl, app_id, time_mono_ns(), &wait_ns))
        return true;
    /* Retry-After is in whole seconds (RFC 9110 §10.2.3): round up, so a
     * client that waits as told finds a token. */
    long long secs = (wait_ns + NS_PER_SEC - 1) / NS_PER_SEC;
    char value[24];
    snprintf(value, sizeof value, "%lld", secs < 1 ? 1 : secs);
    api_message(res, 429, "Too Many Attempts.");
    http_response_header(res, "Retry-After", value);
    metrics_inc(t->metrics, METRICS_RATE_LIMITED);
    return false;
}
