/* The write endpoints' shared half: reading a case action from a request
 * body (JSON or form-encoded), validating it, applying it through the case
 * service and answering with the case. PUT /status, /assignee and /comment
 * differ only in the action kind, hence in the fields they take:
 *
 *   ACTION_STATUS   number_customergauge, status, note?, happened_at?
 *   ACTION_ASSIGN   number_customergauge, assignee (username, email or null), happened_at?
 *   ACTION_COMMENT  number_customergauge, note, happened_at?
 *
 * As in Laravel, an empty string counts as null, and null as absent. */
#ifndef CL_API_CASE_BODY_H
#define CL_API_CASE_BODY_H

#include <jansson.h>
#include <stdbool.h>

#include "api/internal.h"
#include "cases/case.h"
#include "cases/service.h"

struct case_body {
    struct case_action action;
    /* Owns the strings action.note and action.assignee point to when the body
     * was JSON; otherwise they point into the thread's form arena. */
    json_t *doc;
};

/* Parses and validates req's body as an action of `kind` into out. Returns
 * true when valid; the caller then uses out->action and must call
 * case_body_release. Returns false with the 400/415/422 in res otherwise
 * (nothing to release). */
bool case_body_parse(struct api_thread *t, const struct http_request *req,
                     enum case_action_kind kind, struct case_body *out, struct http_response *res);

/* Releases what case_body_parse holds. NULL-safe and idempotent. */
void case_body_release(struct case_body *b);

/* Answers with the result of a write: 201 (created) or 200 (updated or
 * unchanged) with {"data":<case>}, 422 for a rule violation, or 500/503 for
 * a store error. Any thread. */
void case_body_answer(const struct case_write_result *r, struct http_response *res);

/* The whole of a write endpoint: parse the body as an action of `kind`,
 * apply it and answer, as h_status, h_assignee and h_comment do. A valid
 * action goes to the writer (writer_submit), which answers after the commit
 * that makes it durable; a full queue is a 503 with Retry-After. */
void case_body_handle(struct api_thread *t, const struct http_request *req,
                      enum case_action_kind kind, struct http_response *res);

#endif
