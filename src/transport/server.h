/* The HTTP server: one event loop per worker thread, each with its own
 * SO_REUSEPORT listener, all HTTP library calls confined to server.c. */
#ifndef CL_TRANSPORT_SERVER_H
#define CL_TRANSPORT_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "common/accesslog.h"
#include "common/err.h"
#include "transport/http.h"

/* Named limits. A request that exceeds one gets a clear 4xx and is never
 * passed to the application. */
#define HTTP_MAX_HEADER_BYTES           16384     /* request line plus all headers: 431 */
#define HTTP_MAX_HEADER_COUNT           64        /* 431 */
#define HTTP_MAX_BODY_BYTES             65536     /* 413 */
#define HTTP_MAX_RESPONSE_BYTES         (8 << 20) /* cap of the per-thread response buffer */
#define HTTP_DEFAULT_REQUEST_TIMEOUT_MS 10000     /* whole request must arrive within */
#define HTTP_DEFAULT_IDLE_TIMEOUT_MS    30000     /* HTTP/2 idle limit; HTTP/1: see below */
#define HTTP_DEFAULT_MAX_CONNECTIONS    4096      /* per process; beyond: 503 and close */
#define HTTP_DEFAULT_SHUTDOWN_GRACE_MS  5000      /* in-flight work allowed after SIGTERM */

/* Timeouts: the whole request (headers and body) must arrive within
 * request_timeout_ms of the connection starting to wait for it, else the
 * connection is closed without a response. h2o has no separate HTTP/1 idle
 * timer: the same deadline bounds the wait for the next keep-alive request.
 * Over TLS the handshake has the same limit, and an HTTP/2 connection must
 * complete a request within it of its start or of its previous request
 * (enforced by the server, as h2o 2.2 does not); idle_timeout_ms is h2o's own
 * HTTP/2 idle timer, which therefore matters only when it is shorter. */
struct server_config {
    const char *host;            /* listen address, e.g. "127.0.0.1" */
    unsigned port;               /* 0 picks a free port (tests); on_ready gets it */
    unsigned threads;            /* worker threads; 0 = number of cores */
    unsigned max_connections;    /* 0 = HTTP_DEFAULT_MAX_CONNECTIONS; see server_run */
    unsigned request_timeout_ms; /* 0 = default; see above */
    unsigned idle_timeout_ms;    /* 0 = default; see above */
    unsigned shutdown_grace_ms;  /* 0 = default */
    int access_log; /* non-zero: one line per request on stderr (never the query's secrets:
                       tokens travel in headers, which are never logged) */
    /* Where and how access_log writes (see common/accesslog.h); NULL: text on stderr. */
    const struct accesslog *access_log_to;
    /* HTTPS: both set, or neither (plain HTTP). PEM files, read once at start-up: the
     * certificate chain (leaf first) and its private key. Over TLS, clients may use HTTP/2
     * (ALPN "h2") or HTTP/1.1; TLS 1.2 is the oldest version accepted. */
    const char *tls_cert;
    const char *tls_key;
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
 * callback, a port above 65535 or unusable TLS files (as server_tls_check).
 * The configuration is only read, and must stay valid until server_run
 * returns.
 *
 * Descriptors: the process's soft RLIMIT_NOFILE is raised to its hard limit,
 * and the connection cap is lowered (with a warning in the log) to what that
 * limit leaves after a reserve for the process's own files, so that clients
 * beyond the cap get the 503 instead of waiting unaccepted. */
cl_err server_run(const struct server_config *cfg, const struct http_app *app, char *msg);

/* Loads cfg's TLS certificate and key the way server_run will, and frees
 * them again, so that a command can refuse bad files before it opens
 * anything else. Returns CL_OK when cfg has no TLS files or they are usable;
 * CL_EINVAL with msg when only one of the two is given, a file cannot be
 * read or parsed, or the key does not match the certificate. */
cl_err server_tls_check(const struct server_config *cfg, char *msg);

#endif
