/* GET /healthz: liveness plus a database check, for load balancers,
 * orchestrators and systemd watchdogs. 200 {"status":"ok"} when this
 * worker's database connection answers, 503 {"status":"unavailable"}
 * otherwise (the detail goes to the server log, not to the caller). */
#include "api/internal.h"
#include "common/log.h"

void h_health(struct api_thread *t, const struct http_request *req, struct http_response *res)
{
    (void)req;
    char msg[CL_ERRMSG_MAX] = "";

    cl_err err = store_ping(t->store, msg);
    buf_reset(res->body);
    res->content_type = "application/json";
    /* A probe must see the state of now, never a cached answer. */
    http_response_header(res, "Cache-Control", "no-store");
    if (err) {
        log_error("health check failed: %s: %s", cl_strerror(err), *msg ? msg : "-");
        metrics_db_error();
        res->status = 503;
        http_response_header(res, "Retry-After", "1");
        buf_puts(res->body, "{\"status\":\"unavailable\"}");
        return;
    }
    res->status = 200;
    buf_puts(res->body, "{\"status\":\"ok\"}");
}
