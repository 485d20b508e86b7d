/* The HTTP exchange as the API layer sees it. The transport fills a
 * http_request from the wire and sends the http_response back; handlers never
 * see the HTTP library. Everything a request points to is owned by the
 * transport and valid only while the handler runs. */
#ifndef CL_TRANSPORT_HTTP_H
#define CL_TRANSPORT_HTTP_H

#include <stdbool.h>
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
    /* The transport's own: set by http_defer, and its handle of the request. */
    bool deferred;
    void *transport;
};

/* Adds a response header; silently ignores more than HTTP_MAX_RESPONSE_HEADERS
 * (a programming error caught by the tests). The value is copied, truncated
 * to the 127 bytes that http_header_out.value holds; NULL means "". */
void http_response_header(struct http_response *res, const char *name, const char *value);

/* A request whose response comes later, from any thread. Instead of
 * filling res, handle may call http_defer(res): the transport then sends
 * nothing when handle returns, and the application answers later with
 * http_deferred_complete. This lets another thread answer requests once it
 * has done their work, e.g. after one commit for the writes of many. The
 * http_request that handle got is gone after handle returns: copy what you
 * need. Returns NULL when out of memory; then answer in res as usual. */
struct http_deferred;
struct http_deferred *http_defer(struct http_response *res);

/* The monotonic time (ns) that d's request reached the application. Any
 * thread. */
int64_t http_deferred_started_ns(const struct http_deferred *d);

/* Answers d's request with res, from any thread, exactly once for every
 * http_defer: the application must complete each deferred request, also
 * when its client may have gone, and before server_run returns. res and
 * its body are copied; the request's worker thread then sends the answer
 * (unless the client has gone), writes its access log line and frees d,
 * which the caller must not use again. */
void http_deferred_complete(struct http_deferred *d, const struct http_response *res);

/* How the transport calls the application. All of them run on a worker
 * thread.
 *
 * thread_init is called once per worker thread before it serves anything and
 * returns that thread's context (its database connection, caches) or NULL on
 * failure, which stops the server. handle is called for every request with
 * that context and fills res, or defers it (http_defer). thread_fini
 * releases the context after the thread has finished its last request and
 * received the last of its deferred answers. */
struct http_app {
    void *(*thread_init)(void *app, unsigned thread_index);
    void (*handle)(void *thread_ctx, const struct http_request *req, struct http_response *res);
    void (*thread_fini)(void *thread_ctx);
    void *app; /* passed to thread_init */
};

#endif
