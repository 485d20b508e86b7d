/* The API as an http_app: the process-wide state (configuration, token key)
 * and each worker thread's own database connection and app cache. */
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "common/log.h"
#include "common/timeutil.h"

cl_err api_app_init(struct api_app *app, const struct api_config *cfg, char *msg)
{
    struct store *s = NULL;

    memset(app, 0, sizeof *app);
    app->cfg = *cfg;

    /* The key lives in the database so that every server process on it signs
     * and verifies alike; one connection is enough to fetch it. */
    cl_err err = store_open(cfg->db_url, &s, msg);
    if (err)
        return err;
    err = store_token_key(s, app->token_key, msg);
    store_close(&s);
    if (err)
        return err;

    const char *labels[METRICS_MAX_ROUTES];
    size_t nlabels = api_route_labels(labels, METRICS_MAX_ROUTES);
    app->metrics = metrics_new(labels, nlabels);
    if (!app->metrics) {
        err = cl_errf(msg, CL_ENOMEM, "out of memory");
        goto fail;
    }
    if (cfg->rate_limit.count) {
        uint32_t burst = cfg->rate_burst ? cfg->rate_burst : cfg->rate_limit.count;
        app->limiter = ratelimit_new(&cfg->rate_limit, burst);
        if (!app->limiter) {
            err = cl_errf(msg, CL_EINVAL, "invalid rate limit, or out of memory");
            goto fail;
        }
    }
    err = writer_start(cfg->db_url, app->metrics, &app->writer, msg);
    if (err)
        goto fail;
    return CL_OK;

fail:
    api_app_fini(app);
    return err;
}

void api_app_fini(struct api_app *app)
{
    if (!app)
        return;
    /* The writer counts into the metrics: it goes first. */
    writer_stop(&app->writer);
    metrics_free(&app->metrics);
    ratelimit_free(&app->limiter);
    memset(app->token_key, 0, sizeof app->token_key);
}

void *api_thread_init(void *app, unsigned thread_index)
{
    char msg[CL_ERRMSG_MAX] = "";
    struct api_thread *t = calloc(1, sizeof *t);

    if (!t) {
        log_error("worker %u: out of memory", thread_index);
        return NULL;
    }
    t->app = app;

    /* A store connection is not thread-safe: each worker opens its own. */
    cl_err err = store_open(t->app->cfg.db_url, &t->store, msg);
    if (err) {
        log_error("worker %u: cannot open the database: %s: %s", thread_index, cl_strerror(err),
                  msg);
        free(t);
        return NULL;
    }
    t->apps = app_cache_new(t->store);
    /* Shards live in the registry, which outlives every thread: the thread
     * that serves /metrics may read this one while this thread stops. */
    t->metrics = metrics_shard_new(t->app->metrics, thread_index);
    if (!t->apps || !t->metrics) {
        app_cache_free(&t->apps);
        log_error("worker %u: out of memory", thread_index);
        store_close(&t->store);
        free(t);
        return NULL;
    }
    return t;
}

void api_handle(void *thread_ctx, const struct http_request *req, struct http_response *res)
{
    struct api_thread *t = thread_ctx;
    int64_t start = time_mono_ns();

    api_route(t, req, res);
    /* A deferred write is answered, and counted, by the writer. */
    if (res->deferred)
        return;

    /* A body that outgrew its cap or memory must not go out truncated. */
    if (buf_failed(res->body))
        api_store_error(res, res->body->err, "response body");
    metrics_observe(t->metrics, res->route, res->status, time_mono_ns() - start);
}

void api_thread_fini(void *thread_ctx)
{
    struct api_thread *t = thread_ctx;

    if (!t)
        return;
    /* The cache borrows the connection, so it goes first. */
    app_cache_free(&t->apps);
    store_close(&t->store);
    free(t);
}
