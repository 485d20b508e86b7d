/* PUT /v7/rest/close-loop/comment: add a close-the-loop comment to a case
 * (SPEC §3). A comment creates the case, status open, when the survey
 * response has none: 201 then, 200 otherwise. Every comment is a change: it
 * moves the case to a new feed position. */
#include "api/case_body.h"

void h_comment(struct api_thread *t, const struct http_request *req, struct http_response *res)
{
    case_body_handle(t, req, ACTION_COMMENT, res);
}
