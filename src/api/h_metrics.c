/* GET /metrics: every counter of the process in the Prometheus text format,
 * summed over the worker threads (see metrics.h). */
#include "api/internal.h"

void h_metrics(struct api_thread *t, const struct http_request *req, struct http_response *res)
{
    (void)req;

    buf_reset(res->body);
    res->status = 200;
    res->content_type = METRICS_CONTENT_TYPE;
    http_response_header(res, "Cache-Control", "no-store");
    if (t->app->metrics)
        metrics_render(t->app->metrics, res->body);
}
