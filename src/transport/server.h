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
#define HTTP_MAX_HEADER_BYTES   16384     /* request line plus all headers: 431 */
#define HTTP_MAX_HEADER_COUNT   64        /* 431 */
#define HTTP_MAX_BODY_BYTES     65536     /* 413 */
#define HTTP_MAX_RESPONSE_BYTES (8 << 20) /* cap of the per-thread response buffer */
#define HTTP_DEFAULT_REQUEST_TIMEOUT_MS 10000 /* whole request must arrive within */
#define HTTP_DEFAULT_IDLE_TIMEOUT_MS    30000 /* keep-alive connection idle limit */
#define HTTP_DEFAULT_MAX_CONNECTIONS    4096  /* per process; beyond: 503 and close */
#define HTTP_DEFAULT_SHUTDOWN_GRACE_MS  5000  /* in-flight work allowed after SIGTERM */

struct server_config {
    const char *host;           /* listen address, e.g. "127.0.0.1" */
    unsigned port;              /* 0 picks a free port (tests); see bound_port */
    unsigned threads;           /* worker threads; 0 = number of cores */
    unsigned max_connections;   /* 0 = HTTP_DEFAULT_MAX_CONNECTIONS */
    unsigned request_timeout_ms;
    unsigned idle_timeout_ms;
    unsigned shutdown_grace_ms;
    int access_log; /* non-zero: one line per request on stderr (never the query's secrets:
                       tokens travel in headers, which are never logged) */
    void (*on_ready)(unsigned bound_port, void *arg); /* after listening, before serving */
    void *on_ready_arg;
};

/* Serves app until SIGINT or SIGTERM, then stops accepting, lets in-flight
 * requests finish (up to shutdown_grace_ms), calls thread_fini on every
 * thread and returns CL_OK. Returns an error (with msg) if it cannot listen or
 * a thread_init fails. Blocks SIGINT/SIGTERM/SIGPIPE in the calling thread. */
cl_err server_run(const struct server_config *cfg, const struct http_app *app, char *msg);

#endif
