#include "transport/http.h"

#include <string.h>

void http_response_header(struct http_response *res, const char *name, const char *value)
{
    if (res->nheaders >= HTTP_MAX_RESPONSE_HEADERS)
        return;
    struct http_header_out *h = &res->headers[res->nheaders++];
    h->name = name;
    /* Truncation keeps the value a valid C string; a value this long would
     * be a programming error, and a cut one is safer than an overflow. */
    size_t n = value ? strnlen(value, sizeof h->value - 1) : 0;
    if (n)
        memcpy(h->value, value, n);
    h->value[n] = '\0';
}
