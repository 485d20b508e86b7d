/* What the API's files share: the per-thread context, the response helpers
 * and the handlers. Not used outside src/api. */
#ifndef CL_API_INTERNAL_H
#define CL_API_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api.h"
#include "auth/app_cache.h"
#include "auth/token.h"
#include "common/form.h"
#include "transport/http.h"
#include "transport/server.h"

#define API_MAX_FIELD_ERRORS 8
#define API_FIELD_MAX        64
#define API_MESSAGE_MAX      160
/* Decoded form data never exceeds its encoded size, see form_parse. */
#define API_ARENA_BYTES      (HTTP_MAX_BODY_BYTES + 2 * FORM_MAX_PARAMS)

/* One per worker thread. */
struct api_thread {
    const struct api_app *app;
    struct store *store;
    struct app_cache *apps;
    struct metrics_shard *metrics; /* this thread's counters (owned by app->metrics) */
    char arena[API_ARENA_BYTES];   /* scratch for form decoding */
    struct form form;              /* scratch for the parsed query or body */
    struct token_memo tokens;      /* the bearer tokens this thread verified */
};

/* Parses a non-empty run of ASCII decimal digits (no sign, no spaces, no
 * decimal point) into *out. False for anything else or a value above
 * INT64_MAX. Parameters and body fields share this one strict reading. */
static inline bool api_parse_digits(const char *s, size_t n, int64_t *out)
{
    int64_t v = 0;

    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        int d = s[i] - '0';
        if (v > (INT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* ---- responses (respond.c) ------------------------------------------- */

/* {"message":"..."} with status; sets Content-Type: application/json. */
void api_message(struct http_response *res, int status, const char *message);

/* 404 {"message":"Not Found."} */
void api_not_found(struct http_response *res);

/* 503 or 500 for a store error, without internals; logs the detail. */
void api_store_error(struct http_response *res, cl_err err, const char *detail);

/* Validation errors, collected then answered as one 422:
 * {"message":"<first>[ (and N more errors)]","errors":{"<field>":["<msg>"],...}} */
struct api_invalid {
    size_t n;
    struct {
        char field[API_FIELD_MAX];
        char message[API_MESSAGE_MAX];
    } e[API_MAX_FIELD_ERRORS];
};
void api_invalid_add(struct api_invalid *v, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void api_invalid_respond(struct http_response *res, const struct api_invalid *v);

/* Appends one case as the API shows it everywhere (the sync feed and the
 * write endpoints): compact JSON, fields in the order of SPEC §1. */
void api_case_json(struct buf *b, const struct case_record *c);

/* ---- authentication (authn.c) ---------------------------------------- */

/* Checks the Bearer token of req, that it grants scope, and the app's rate
 * limit. Returns true when the request may proceed, with res->app set to
 * the app's client_id; otherwise res holds the 401 (with WWW-Authenticate:
 * Bearer), 403 or 429, or a 503 when the app cache cannot reload. */
bool api_authorize(struct api_thread *t, const struct http_request *req, struct http_response *res,
                   unsigned scope);

/* ---- rate limiting (throttle.c) --------------------------------------- */

/* Takes one request from app_id's rate limit (see ratelimit.h). True when
 * the request may proceed, or no limit is configured; otherwise res holds
 * 429 {"message":"Too Many Attempts."} with Retry-After (whole seconds, at
 * least 1) and the refusal is counted in the metrics. */
bool api_throttle(struct api_thread *t, int64_t app_id, struct http_response *res);

/* ---- the writer (writer.c) ------------------------------------------- */

struct case_action;

/* Actions that wait for the writer, and that one transaction takes. */
#define WRITER_QUEUE_MAX 4096
#define WRITER_BATCH_MAX 256

/* Opens the writer's own connection to db_url and starts its thread, which
 * counts into its own shard of metrics (NULL: none). Returns CL_OK with *w
 * set, or the store's error (msg) with *w NULL. */
cl_err writer_start(const char *db_url, struct metrics *metrics, struct writer **w, char *msg);

/* Answers every action still queued, stops the thread, closes its
 * connection, frees *w and sets it to NULL. NULL-safe. Call it after the
 * last writer_submit. */
void writer_stop(struct writer **w);

/* Queues a validated action (copied: a may go once this returns) for the
 * writer and defers res (http_defer); the writer applies it in its next
 * transaction and answers as case_body_answer does. Any worker thread.
 * Returns CL_OK, or leaves res untouched and returns CL_EBUSY when
 * WRITER_QUEUE_MAX actions are waiting already (or the writer stops), or
 * CL_ENOMEM. */
cl_err writer_submit(struct writer *w, const struct case_action *a, struct http_response *res);

/* ---- routing (router.c) ---------------------------------------------- */

/* Dispatches req to its handler after the route's scope check; answers 404
 * for an unknown path and 405 (with Allow) for a known path's other methods. */
void api_route(struct api_thread *t, const struct http_request *req, struct http_response *res);

/* Fills labels with the distinct path templates of the route table, the
 * labels api_route puts in http_response.route (static strings), and
 * returns how many, at most cap. */
size_t api_route_labels(const char **labels, size_t cap);

/* ---- handlers: one file each ----------------------------------------- */

typedef void api_handler_fn(struct api_thread *t, const struct http_request *req,
                            struct http_response *res);

api_handler_fn h_token;    /* POST /oauth2/token             (h_token.c) */
api_handler_fn h_sync;     /* GET  /v7/rest/sync/close-loop  (h_sync.c) */
api_handler_fn h_status;   /* PUT  /v7/rest/close-loop/status (h_status.c) */
api_handler_fn h_assignee; /* PUT  /v7/rest/close-loop/assignee (h_assignee.c) */
api_handler_fn h_comment;  /* PUT  /v7/rest/close-loop/comment (h_comment.c) */
api_handler_fn h_health;   /* GET  /healthz                    (h_health.c) */
api_handler_fn h_metrics;  /* GET  /metrics                    (h_metrics.c) */
api_handler_fn h_openapi;  /* GET  /openapi.yaml                (h_openapi.c) */

#endif
