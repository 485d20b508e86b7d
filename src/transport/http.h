/* The HTTP exchange as the API layer sees it. The transport fills a
 * http_request from the wire and sends the http_response back; handlers never
 * see the HTTP library. Everything a request points to is owned by the
 * transport and valid only while the handler runs. */
#ifndef CL_TRANSPORT_HTTP_H
#define CL_TRANSPORT_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define HTTP_MAX_RESPONSE_HEADERS 8

struct http_str {
    const char *p; /* not NUL-terminated; NULL when absent */
    size_t n;
};

struct http_request {
    struct http_str method;        /* "GET", "PUT", ... */
    struct http_str path;          /* the raw path, without the query */
    struct http_str query;         /* the raw bytes after '?', or {NULL, 0} */
    struct http_str content_type;  /* the Content-Type header, or {NULL, 0} */
    struct http_str authorization; /* the Authorization header, or {NULL, 0} */
    struct http_str body;          /* the whole request body (already size-capped) */
    int64_t received_ms;           /* monotonic time the request arrived */
};

struct http_header_out {
    const char *name; /* static string */
    char value[128];  /* copied by the transport before sending */
};

struct http_response {
    int status;
    const char *content_type; /* static string, e.g. "application/json" */
    struct http_header_out headers[HTTP_MAX_RESPONSE_HEADERS];
    size_t nheaders;
    struct buf *body; /* per-thread buffer lent by the transport, reset for each request */
    /* For the access log only; never sent. */
    const char *route; /* static label of the route that served it; NULL: none */
    char app[48];      /* who the request authenticated as (a client_id); "" if nobody */
};

/* Adds a response header; silently ignores more than HTTP_MAX_RESPONSE_HEADERS
 * (a programming error caught by the tests). The value is copied, truncated
 * to the 127 bytes that http_header_out.value holds; NULL means "". */
void http_response_header(struct http_response *res, const char *name, const char *value);

/* How the transport calls the application. All three run on a worker thread.
 *
 * thread_init is called once per worker thread before it serves anything and
 * returns that thread's context (its database connection, caches) or NULL on
 * failure, which stops the server. handle is called for every request with
 * that context and must fill res synchronously. thread_fini releases the
 * context after the thread has finished its last request. */
struct http_app {
    void *(*thread_init)(void *app, unsigned thread_index);
    void (*handle)(void *thread_ctx, const struct http_request *req, struct http_response *res);
    void (*thread_fini)(void *thread_ctx);
    void *app; /* passed to thread_init */
};

#endif
