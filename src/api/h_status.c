/* PUT /v7/rest/close-loop/status: set a case's status, optionally with a
 * note and a back-dated action time (SPEC §1, §3). Creates the case when the
 * survey response has none: 201 then, 200 otherwise. */
#include "api/case_body.h"

void h_status(struct api_thread *t, const struct http_request *req, struct http_response *res)
{
    case_body_handle(t, req, ACTION_STATUS, res);
}
