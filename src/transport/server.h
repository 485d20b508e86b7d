/* The HTTP server: one event loop per worker thread, each with its own
 * SO_REUSEPORT listener, all HTTP library calls confined to server.c. */
#ifndef CL_TRANSPORT_SERVER_H
#define CL_TRANSPORT_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "transport/http.h"

/* Named limits. A request that exceeds one gets a clear 4xx and is never
 * passed to the application. */
#define HTTP_MAX_HEADER_BYTES           16384     /* request line plus all headers: 431 */
#define HTTP_MAX_HEADER_COUNT           64        /* 431 */
#define HTTP_MAX_BODY_BYTES             65536     /* 413 */
#define HTTP_MAX_RESPONSE_BYTES         (8 << 20) /* cap of the per-thread response buffer */
#define HTTP_DEFAULT_REQUEST_TIMEOUT_MS 10000     /* whole request must arrive within */
#define HTTP_DEFAULT_IDLE_TIMEOUT_MS    30000     /* keep-alive connection idle limit */
#define HTTP_DEFAULT_MAX_CONNECTIONS    4096      /* per process; beyond: 503 and close */
#define HTTP_DEFAULT_SHUTDOWN_GRACE_MS  5000      /* in-flight work allowed after SIGTERM */

/* Timeouts: the whole request (headers and body) must arrive within
 * request_timeout_ms of the connection starting to wait for it, else the
 * connection is closed without a response. h2o has no separate HTTP/1 idle
 * timer: the same deadline bounds the wait for the next keep-alive request,
 * and idle_timeout_ms applies to HTTP/2 connections only. */
struct server_config {
    const char *host;            /* listen address, e.g. "127.0.0.1" */
    unsigned port;               /* 0 picks a free port (tests); on_ready gets it */
    unsigned threads;            /* worker threads; 0 = number of cores */
    unsigned max_connections;    /* 0 = HTTP_DEFAULT_MAX_CONNECTIONS */
    unsigned request_timeout_ms; /* 0 = default; see above */
    unsigned idle_timeout_ms;    /* 0 = default; see above */
    unsigned shutdown_grace_ms;  /* 0 = default */
    int access_log; /* non-zero: one line per request on stderr (never the query's secrets:
                       tokens travel in headers, which are never logged) */
    void (*on_ready)(unsigned bound_port, void *arg); /* after listening, before serving */
    void *on_ready_arg;
};

/* Serves app until SIGINT or SIGTERM, then stops accepting, lets in-flight
 * requests finish (up to shutdown_grace_ms), closes idle keep-alive
 * connections, calls thread_fini on every thread and returns CL_OK.
 *
 * SIGINT and SIGTERM are blocked in the calling thread (and so in every
 * thread it starts) and taken with sigtimedwait; SIGPIPE is ignored process
 * wide. A caller that runs other threads should block SIGINT and SIGTERM in
 * them too, or a signal may be delivered there instead.
 *
 * on_ready is called once, from the calling thread, after every listener is
 * bound and every thread_init has succeeded, and before any request is
 * served. Returns CL_EIO with msg when it cannot listen ("cannot listen on
 * 127.0.0.1:8080: Address already in use") or a thread_init returns NULL (the
 * threads that did initialise are finalised first), CL_EINVAL for a missing
 * callback or a port above 65535. The configuration is only read, and must
 * stay valid until server_run returns. */
cl_err server_run(const struct server_config *cfg, const struct http_app *app, char *msg);

#endif
