/* PUT /v7/rest/close-loop/assignee: assign a case to a user (by username or
 * email), or unassign it with "assignee": null (SPEC §3). An assignment
 * creates the case, status open, when the survey response has none: 201
 * then, 200 otherwise. An unknown user is a 422 naming it. */
#include "api/case_body.h"

void h_assignee(struct api_thread *t, const struct http_request *req, struct http_response *res)
{
    case_body_handle(t, req, ACTION_ASSIGN, res);
}
