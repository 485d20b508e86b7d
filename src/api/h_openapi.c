/* GET /openapi.yaml: the OpenAPI 3.1 description of this API, as
 * docs/openapi.yaml holds it. The file is compiled into the binary
 * (scripts/embed.py, run by src/api/meson.build), so the document served is
 * always the one of the source tree the server was built from. It is public:
 * it describes the API and holds no secrets, so it needs no token. */
#include "api/internal.h"
#include "openapi_doc.h"

void h_openapi(struct api_thread *t, const struct http_request *req, struct http_response *res)
{
    (void)t;
    (void)req;
    buf_reset(res->body);
    buf_append(res->body, openapi_yaml, openapi_yaml_len);
    res->status = 200;
    res->content_type = "application/yaml";
}
