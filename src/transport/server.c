/* The HTTP server on libh2o's own event loop.
 *
 * Each worker thread owns an h2o_evloop_t, an h2o_context_t and a listening
 * socket bound with SO_REUSEPORT, so the kernel spreads new connections over
 * the threads and no lock is taken on the request path. All threads share one
 * read-only h2o_globalconf_t with a single catch-all handler that turns the
 * h2o request into a struct http_request and calls the application.
 *
 * Errors that h2o produces by itself (a body over its entity limit, broken
 * chunked encoding, an unknown Expect) are rewritten into the API's JSON error shape
 * by an output filter on the host's fallback path, which is where h2o binds
 * the requests it rejects before dispatching them. */
#include "transport/server.h"

/* The Debian package builds h2o on its own event loop (evloop), not libuv;
 * its pkg-config file does not say so, and the struct layouts depend on it. */
#define H2O_USE_LIBUV 0

#include <errno.h>
#include <h2o.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timeutil.h"

#define MAX_THREADS      256
#define ACCEPT_BATCH     64  /* accepts per wake-up, so one thread cannot starve its loop */
#define LOOP_WAIT_MS     100 /* how often a worker looks at the stop flag */
#define FORCE_CLOSE_MS   1000
#define DEFERRED_WAIT_MS 30000 /* at shutdown, for the application's deferred answers */
#define SIGNAL_POLL_MS   200
#define STALL_SWEEP_MS   250 /* how often HTTP/2 connections are checked for a stalled request */

/* Descriptors the process needs besides its connections: stdio, the main
 * thread's database, and per worker its listener, epoll, h2o's message queue
 * and a SQLite connection with its -wal and -shm files. */
#define FD_RESERVE_BASE       32
#define FD_RESERVE_PER_THREAD 8

/* OpenSSL 1.1 has no decoder library; its PEM errors say the same. */
#ifndef ERR_LIB_OSSL_DECODER
#define ERR_LIB_OSSL_DECODER ERR_LIB_PEM
#endif

/* TLS 1.2 cipher suites: ECDHE key exchange and AEAD only, the ones HTTP/2
 * allows (RFC 7540 §9.2.2). TLS 1.3 has only such suites; OpenSSL's default
 * list for it stays. */
#define TLS12_CIPHERS                                                                              \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                                   \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                                   \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

struct server;

/* One worker thread. Everything in it is touched only by that thread, except
 * the fields written before the thread starts. */
struct worker {
    struct server *srv;
    unsigned index;
    int listen_fd; /* handed to the thread; -1 once h2o owns it */
    pthread_t tid;
    bool started;
    h2o_evloop_t *loop;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_socket_t *listener;
    int64_t accept_paused_at; /* out of descriptors: accepting again LOOP_WAIT_MS later */
    void *app_ctx;
    struct buf body;      /* the response buffer lent to the application */
    h2o_linklist_t conns; /* struct conn, every open accepted socket */
    size_t nconns;
    /* Completed deferred requests arrive here from other threads (see
     * http_deferred_complete); ndeferred counts those not yet back. */
    h2o_multithread_receiver_t completions;
    size_t ndeferred;
    int64_t swept_at; /* when stalled HTTP/2 connections were last looked for */
};

/* An accepted socket. h2o owns the HTTP state; this only tracks the socket so
 * that the connection cap can count closes and shutdown can find idle
 * keep-alive connections, which h2o's HTTP/1 code does not close by itself. */
struct conn {
    h2o_linklist_t link;
    struct worker *w;
    h2o_socket_t *sock;
    h2o_timeout_entry_t linger; /* rejected connections: time left to drain */
    int64_t waiting_since;      /* accepted, or last HTTP/2 request: see close_stalled */
    bool rejected;
    bool shut; /* shutdown(2) already called during drain */
};

struct error_filter {
    h2o_filter_t super;
    struct server *srv;
};

struct json_error_ostream {
    h2o_ostream_t super;
    h2o_iovec_t body;
    bool sent;
};

struct server {
    const struct server_config *cfg;
    const struct http_app *app;
    unsigned nthreads;
    unsigned max_connections;
    unsigned shutdown_grace_ms;
    unsigned request_timeout_ms;
    unsigned port;
    h2o_globalconf_t globalconf;
    SSL_CTX *ssl_ctx;        /* NULL: plain HTTP; else HTTPS with ALPN h2 and http/1.1 */
    SSL_CTX *reject_ssl_ctx; /* the same without ALPN, for answering over the cap */
    struct worker *workers;
    atomic_uint open_conns;
    atomic_int stopping;
    atomic_int loop_failed; /* a worker's event loop broke: stop and report */

    /* Start-up handshake: workers report their thread_init result, then wait
     * until the calling thread says go (or abort). */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned reported;
    unsigned init_failed;
    int go; /* 0 waiting, 1 serve, -1 abort */
};

/* A canned answer for connections over the cap: written straight to the
 * socket, because such a connection never reaches h2o. */
static const char REJECT_RESPONSE[] = "HTTP/1.1 503 Service Unavailable\r\n"
                                      "Content-Type: application/json\r\n"
                                      "Content-Length: 34\r\n"
                                      "Retry-After: 1\r\n"
                                      "Connection: close\r\n"
                                      "\r\n"
                                      "{\"message\":\"Service Unavailable.\"}";

#define JSON_MESSAGE(text) "{\"message\":\"" text "\"}"

/* Reason phrases, and the JSON body for the errors the transport writes
 * itself (the messages are Laravel's, as the real API writes them). */
static const struct status_text {
    int status;
    const char *reason;
    const char *body; /* NULL: not an error the transport writes */
} status_texts[] = {
    {200, "OK", NULL},
    {201, "Created", NULL},
    {202, "Accepted", NULL},
    {204, "No Content", NULL},
    {304, "Not Modified", NULL},
    {400, "Bad Request", JSON_MESSAGE("Bad Request.")},
    {401, "Unauthorized", NULL},
    {403, "Forbidden", NULL},
    {404, "Not Found", JSON_MESSAGE("Not Found.")},
    {405, "Method Not Allowed", JSON_MESSAGE("Method Not Allowed.")},
    {408, "Request Timeout", NULL},
    {409, "Conflict", NULL},
    {413, "Request Entity Too Large", JSON_MESSAGE("Request Entity Too Large.")},
    {415, "Unsupported Media Type", NULL},
    {417, "Expectation Failed", JSON_MESSAGE("Expectation Failed.")},
    {422, "Unprocessable Entity", NULL},
    {429, "Too Many Requests", NULL},
    {431, "Request Header Fields Too Large", JSON_MESSAGE("Request Header Fields Too Large.")},
    {500, "Internal Server Error", JSON_MESSAGE("Server Error.")},
    {501, "Not Implemented", NULL},
    {503, "Service Unavailable", JSON_MESSAGE("Service Unavailable.")},
};

static const struct status_text *status_text(int status)
{
    for (size_t i = 0; i < sizeof status_texts / sizeof status_texts[0]; i++)
        if (status_texts[i].status == status)
            return &status_texts[i];
    return NULL;
}

static const char *reason_phrase(int status)
{
    const struct status_text *t = status_text(status);
    if (t)
        return t->reason;
    return status < 300 ? "OK" : status < 500 ? "Error" : "Server Error";
}

/* The JSON body for an error status; statuses without their own message get
 * the generic one of their class. */
static h2o_iovec_t error_body(int status)
{
    const struct status_text *t = status_text(status);
    const char *body = t && t->body    ? t->body
                       : status >= 500 ? JSON_MESSAGE("Server Error.")
                                       : JSON_MESSAGE("Bad Request.");
    return h2o_iovec_init(body, strlen(body));
}

static struct worker *worker_of(h2o_req_t *req)
{
    return H2O_STRUCT_FROM_MEMBER(struct worker, ctx, req->conn->ctx);
}

/* The peer's numeric address, or "" when the connection cannot tell. */
static void peer_address(h2o_req_t *req, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    out[0] = '\0';
    if (!req->conn->callbacks->get_peername)
        return;
    socklen_t len = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    if (len == 0 ||
        getnameinfo((struct sockaddr *)&ss, len, out, (socklen_t)cap, NULL, 0, NI_NUMERICHOST) != 0)
        out[0] = '\0';
}

/* One access log line (see common/accesslog.h, which cuts the target short,
 * neutralises control bytes and redacts credential-like query values). res
 * is the application's response, for its route and app; NULL for the
 * answers the transport gives by itself. */
static void access_log_entry(struct server *srv, h2o_req_t *req, int status, size_t bytes,
                             int64_t duration_ns, const struct http_response *res)
{
    static const struct accesslog stderr_text = {STDERR_FILENO, LOG_FORMAT_TEXT, false};
    if (!srv->cfg->access_log)
        return;
    char remote[NI_MAXHOST];
    peer_address(req, remote, sizeof remote);
    struct access_entry e = {
        .method = req->method.base,
        .method_len = req->method.len,
        .target = req->path.base,
        .target_len = req->path.len,
        .status = status,
        .bytes = bytes,
        .duration_ns = duration_ns,
        .route = res ? res->route : NULL,
        .app = res ? res->app : NULL,
        .remote = remote,
    };
    accesslog_write(srv->cfg->access_log_to ? srv->cfg->access_log_to : &stderr_text, &e);
}

static void access_log(struct server *srv, h2o_req_t *req, int status, size_t bytes,
                       int64_t duration_ms)
{
    access_log_entry(srv, req, status, bytes, duration_ms * 1000000, NULL);
}

static void send_json_error(h2o_req_t *req, int status)
{
    h2o_iovec_t body = error_body(status);
    req->res.status = status;
    req->res.reason = reason_phrase(status);
    req->res.content_length = body.len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, "Content-Type",
                   H2O_STRLIT("application/json"));
    h2o_send_inline(req, body.base, body.len);
}

/* Whether the request line and headers pass the named limits. h2o has
 * already parsed them (up to its own, larger H2O_MAX_REQLEN and
 * H2O_MAX_HEADERS), so this measures what it kept: it moves Host into
 * authority and keeps Content-Length and Transfer-Encoding out of the list,
 * which is why those are added back here. */
static bool headers_within_limits(h2o_req_t *req)
{
    size_t count = req->headers.size + 1 + (req->entity.base != NULL);
    if (count > HTTP_MAX_HEADER_COUNT)
        return false;
    size_t bytes = req->input.method.len + 1 + req->input.path.len + sizeof(" HTTP/1.1\r\n") - 1;
    bytes += sizeof("Host: \r\n") - 1 + req->input.authority.len;
    for (size_t i = 0; i < req->headers.size; i++)
        bytes += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
    return bytes + 2 <= HTTP_MAX_HEADER_BYTES;
}

static struct http_str header_value(h2o_req_t *req, const h2o_token_t *token)
{
    ssize_t i = h2o_find_header(&req->headers, token, -1);
    if (i < 0)
        return (struct http_str){NULL, 0};
    return (struct http_str){req->headers.entries[i].value.base, req->headers.entries[i].value.len};
}

static void send_app_response(h2o_req_t *req, const struct http_response *res)
{
    req->res.status = res->status;
    req->res.reason = reason_phrase(res->status);
    if (res->content_type)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, "Content-Type",
                       res->content_type, strlen(res->content_type));
    for (size_t i = 0; i < res->nheaders && i < HTTP_MAX_RESPONSE_HEADERS; i++) {
        const struct http_header_out *h = &res->headers[i];
        if (!h->name)
            continue;
        /* HTTP/2 needs lower-case names; HTTP/1 still shows the name as the
         * application spelled it (orig_name). The value lives on the
         * caller's stack, so it is copied into the request's pool. */
        size_t nlen = strlen(h->name);
        h2o_iovec_t name = h2o_strdup(&req->pool, h->name, nlen);
        h2o_strtolower(name.base, name.len);
        h2o_iovec_t value = h2o_strdup(&req->pool, h->value, strlen(h->value));
        h2o_add_header_by_str(&req->pool, &req->res.headers, name.base, name.len, 1, h->name,
                              value.base, value.len);
    }
    req->res.content_length = res->body->len;
    h2o_send_inline(req, res->body->data ? res->body->data : "", res->body->len);
}

/* What on_req lends a handler through http_response.transport. */
struct req_handle {
    h2o_req_t *req;
    struct worker *w;
    int64_t start_ns;
};

/* A deferred request lives apart from the h2o request, in memory of its
 * own, because the request may go first: a client that closes its
 * connection disposes of the request's pool, and with it of the pool's
 * defer_ref, whose dispose callback then tells the http_deferred. Both run
 * on the request's worker thread, as does everything here but
 * http_deferred_complete, which only fills res and body and posts msg. */
struct defer_ref {
    struct http_deferred *d;
};

struct http_deferred {
    h2o_multithread_message_t msg; /* the completion's trip to the worker */
    h2o_req_t *req;                /* NULL once the request is gone */
    struct defer_ref *ref;         /* in req's pool, NULL once the request is gone */
    struct worker *w;
    int64_t start_ns;
    struct http_response res; /* the completion's copy; res.body is &body */
    struct buf body;
};

static void defer_ref_dispose(void *p)
{
    struct defer_ref *ref = p;
    if (ref->d) {
        ref->d->req = NULL;
        ref->d->ref = NULL;
    }
}

struct http_deferred *http_defer(struct http_response *res)
{
    struct req_handle *h = res->transport;
    struct http_deferred *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    struct defer_ref *ref = h2o_mem_alloc_shared(&h->req->pool, sizeof *ref, defer_ref_dispose);
    ref->d = d;
    d->req = h->req;
    d->ref = ref;
    d->w = h->w;
    d->start_ns = h->start_ns;
    h->w->ndeferred++;
    res->deferred = true;
    return d;
}

int64_t http_deferred_started_ns(const struct http_deferred *d)
{
    return d->start_ns;
}

void http_deferred_complete(struct http_deferred *d, const struct http_response *res)
{
    d->res = *res;
    d->res.deferred = false;
    d->res.transport = NULL;
    d->res.body = &d->body;
    buf_init(&d->body, HTTP_MAX_RESPONSE_BYTES);
    /* A failed body stays failed, so that the worker answers 500. */
    if (buf_failed(res->body))
        d->body.err = res->body->err;
    else
        buf_append(&d->body, res->body->data, res->body->len);
    h2o_multithread_send_message(&d->w->completions, &d->msg);
}

static void send_and_log(struct worker *w, h2o_req_t *req, const struct http_response *res,
                         int64_t start_ns);

/* The worker's side of http_deferred_complete: sends each response whose
 * client still waits, and frees them all. */
static void on_completions(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    struct worker *w = H2O_STRUCT_FROM_MEMBER(struct worker, completions, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        struct http_deferred *d =
            H2O_STRUCT_FROM_MEMBER(struct http_deferred, msg.link, messages->next);
        h2o_linklist_unlink(&d->msg.link);
        if (d->req) {
            /* Sending may finish the request and dispose of its pool at
             * once: the reference must no longer point here by then. */
            d->ref->d = NULL;
            send_and_log(w, d->req, &d->res, d->start_ns);
        }
        buf_free(&d->body);
        free(d);
        w->ndeferred--;
    }
}

/* A whole HTTP/2 request has arrived: its connection's request deadline
 * starts again (see close_stalled). HTTP/1 has h2o's own. */
static void note_http2_request(h2o_req_t *req, int64_t now)
{
    if (req->version < 0x200 || !req->conn->callbacks->get_socket)
        return;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    struct conn *c = sock ? sock->on_close.data : NULL;
    if (c)
        c->waiting_since = now;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    struct worker *w = worker_of(req);
    struct server *srv = w->srv;
    int64_t now = time_mono_ms();
    note_http2_request(req, now);
    int64_t start_ns = time_mono_ns(); /* for the access log's sub-millisecond durations */

    if (!headers_within_limits(req)) {
        send_json_error(req, 431);
        access_log(srv, req, 431, error_body(431).len, 0);
        return 0;
    }
    /* h2o stops at max_request_entity_size, which is one byte above the
     * limit (see configure); this catches the bodies in between. */
    if (req->entity.len > HTTP_MAX_BODY_BYTES) {
        send_json_error(req, 413);
        access_log(srv, req, 413, error_body(413).len, 0);
        return 0;
    }

    struct http_request hreq = {
        .method = {req->method.base, req->method.len},
        .content_type = header_value(req, H2O_TOKEN_CONTENT_TYPE),
        .authorization = header_value(req, H2O_TOKEN_AUTHORIZATION),
        .body = {req->entity.base ? req->entity.base : "", req->entity.len},
        .received_ms = now,
    };
    if (req->query_at != SIZE_MAX) {
        hreq.path = (struct http_str){req->path.base, req->query_at};
        hreq.query = (struct http_str){req->path.base + req->query_at + 1,
                                       req->path.len - req->query_at - 1};
    } else {
        hreq.path = (struct http_str){req->path.base, req->path.len};
    }

    /* A request whose headers arrived before the shutdown was still promised
     * keep-alive; its connection is to close after this response. */
    if (w->ctx.shutdown_requested)
        req->http1_is_persistent = 0;

    buf_reset(&w->body);
    struct req_handle handle = {.req = req, .w = w, .start_ns = start_ns};
    struct http_response res = {.body = &w->body, .transport = &handle};
    srv->app->handle(w->app_ctx, &hreq, &res);
    if (!res.deferred)
        send_and_log(w, req, &res, start_ns);
    return 0;
}

/* Sends the application's response (a 500 instead when it is not one) and
 * writes its access log line. */
static void send_and_log(struct worker *w, h2o_req_t *req, const struct http_response *res,
                         int64_t start_ns)
{
    int status = res->status;
    size_t bytes;
    if (status < 200 || status > 599 || buf_failed(res->body)) {
        if (buf_failed(res->body))
            log_error("response body failed: %s", cl_strerror(res->body->err));
        status = 500;
        send_json_error(req, status);
        bytes = error_body(status).len;
    } else {
        send_app_response(req, res);
        bytes = res->body->len;
    }
    access_log_entry(w->srv, req, status, bytes, time_mono_ns() - start_ns, res);
}

static void json_error_do_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs,
                               size_t bufcnt, h2o_send_state_t state)
{
    (void)bufs;
    (void)bufcnt;
    struct json_error_ostream *o = (struct json_error_ostream *)self;
    bool head = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
    if (o->sent || head) {
        h2o_ostream_send_next(self, req, NULL, 0, state);
        return;
    }
    o->sent = true;
    h2o_ostream_send_next(self, req, &o->body, 1, state);
}

/* Runs for every response bound to the fallback path, i.e. the ones h2o
 * generates itself. An error's text/plain body becomes the JSON shape every
 * other error of the API has; the status and reason phrase stay h2o's. */
static void on_error_setup_ostream(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    struct error_filter *f = (struct error_filter *)self;
    if (req->res.status >= 400) {
        h2o_iovec_t body = error_body(req->res.status);
        memset(&req->res.headers, 0, sizeof req->res.headers);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, "Content-Type",
                       H2O_STRLIT("application/json"));
        req->res.content_length = body.len;
        struct json_error_ostream *o =
            (struct json_error_ostream *)h2o_add_ostream(req, sizeof *o, slot);
        o->super.do_send = json_error_do_send;
        o->body = body;
        o->sent = false;
        slot = &o->super.next;
        access_log(f->srv, req, req->res.status, body.len, 0);
    }
    h2o_setup_next_ostream(req, slot);
}

static void on_conn_close(void *data)
{
    struct conn *c = data;
    if (h2o_timeout_is_linked(&c->linger))
        h2o_timeout_unlink(&c->linger);
    h2o_linklist_unlink(&c->link);
    c->w->nconns--;
    if (!c->rejected)
        atomic_fetch_sub(&c->w->srv->open_conns, 1);
    free(c);
}

static void on_linger_timeout(h2o_timeout_entry_t *entry)
{
    struct conn *c = H2O_STRUCT_FROM_MEMBER(struct conn, linger, entry);
    h2o_socket_close(c->sock);
}

static void on_reject_read(h2o_socket_t *sock, const char *err)
{
    if (err) {
        h2o_socket_close(sock);
        return;
    }
    h2o_buffer_consume(&sock->input, sock->input->size);
}

/* The 503 is out; half-close and read what the client still sends for a
 * moment. Closing with unread input would make the kernel answer with a
 * reset, and the client could lose the 503 it has not read yet. */
static void on_reject_written(h2o_socket_t *sock, const char *err)
{
    struct conn *c = sock->on_close.data;
    if (err) {
        h2o_socket_close(sock);
        return;
    }
    shutdown(h2o_socket_get_fd(sock), SHUT_WR);
    h2o_socket_read_start(sock, on_reject_read);
    c->linger.cb = on_linger_timeout;
    h2o_timeout_link(c->w->loop, &c->w->ctx.one_sec_timeout, &c->linger);
}

static void send_reject(struct conn *c)
{
    h2o_iovec_t msg = h2o_iovec_init(REJECT_RESPONSE, sizeof REJECT_RESPONSE - 1);
    h2o_socket_write(c->sock, &msg, 1, on_reject_written);
}

static void on_reject_handshake(h2o_socket_t *sock, const char *err)
{
    struct conn *c = sock->on_close.data;
    if (err) {
        h2o_socket_close(sock);
        return;
    }
    h2o_timeout_unlink(&c->linger);
    send_reject(c);
}

/* A rejected connection stops counting against the cap at once: it only
 * lingers for a second, and counting it would turn a burst of rejects into
 * more rejects after the served connections have gone.
 *
 * Over TLS the client can read the 503 only after a handshake. That
 * handshake offers no ALPN, so the client speaks HTTP/1.1 and the canned
 * response fits; it gets the same time limit as any other handshake. */
static void reject(struct conn *c)
{
    struct server *srv = c->w->srv;
    c->rejected = true;
    atomic_fetch_sub(&srv->open_conns, 1);
    if (srv->reject_ssl_ctx) {
        c->linger.cb = on_linger_timeout;
        h2o_timeout_link(c->w->loop, &c->w->ctx.handshake_timeout, &c->linger);
        h2o_socket_ssl_handshake(c->sock, srv->reject_ssl_ctx, NULL, on_reject_handshake);
        return;
    }
    send_reject(c);
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    struct worker *w = listener->data;
    struct server *srv = w->srv;
    if (err)
        return;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        errno = 0;
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (!sock) {
            /* The listener is level-triggered: without a pause, running out
             * of descriptors would spin this thread at full speed. */
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                log_warn("accept: %s; pausing the listener", strerror(errno));
                h2o_socket_read_stop(listener);
                w->accept_paused_at = time_mono_ms();
            }
            return;
        }
        int one = 1;
        setsockopt(h2o_socket_get_fd(sock), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = calloc(1, sizeof *c);
        if (!c) {
            h2o_socket_close(sock);
            continue;
        }
        c->w = w;
        c->sock = sock;
        c->waiting_since = time_mono_ms();
        h2o_linklist_insert(&w->conns, &c->link);
        w->nconns++;
        sock->on_close.cb = on_conn_close;
        sock->on_close.data = c;
        unsigned open = atomic_fetch_add(&srv->open_conns, 1) + 1;
        if (open > srv->max_connections)
            reject(c);
        else
            h2o_accept(&w->accept_ctx, sock);
    }
}

/* Shuts down the connections that wait for a next request. h2o's HTTP/1
 * code leaves keep-alive connections open on a shutdown request until their
 * timeout; a shutdown(2) makes its next read see the end of the stream, and
 * it closes the connection through its own path. A connection with bytes
 * buffered or arriving, or with a response being written, is left to finish
 * (its response then says Connection: close). */
static void close_idle(struct worker *w, bool all)
{
    for (h2o_linklist_t *n = w->conns.next; n != &w->conns; n = n->next) {
        struct conn *c = H2O_STRUCT_FROM_MEMBER(struct conn, link, n);
        if (c->shut || (c->rejected && !all))
            continue;
        int fd = h2o_socket_get_fd(c->sock);
        if (!all) {
            int pending = 0;
            if (h2o_socket_is_writing(c->sock) || c->sock->input->size != 0)
                continue;
            if (ioctl(fd, FIONREAD, &pending) == 0 && pending > 0)
                continue;
        }
        shutdown(fd, SHUT_RDWR);
        c->shut = true;
    }
}

/* Closes the HTTP/2 connections that have not completed a request within
 * the request timeout of their start or of their previous request. h2o 2.2
 * applies no request deadline to HTTP/2, and its idle timer restarts with
 * every frame, so without this a client sending a body a byte at a time
 * would hold its connection forever; an idle one is closed the same way, as
 * h2o closes an idle HTTP/1 connection. A connection with a response being
 * written is left alone. shutdown(2) lets h2o close it through its own path. */
static void close_stalled(struct worker *w, int64_t now)
{
    for (h2o_linklist_t *n = w->conns.next; n != &w->conns; n = n->next) {
        struct conn *c = H2O_STRUCT_FROM_MEMBER(struct conn, link, n);
        if (c->shut || c->rejected || !c->sock->ssl ||
            now - c->waiting_since < (int64_t)w->srv->request_timeout_ms)
            continue;
        h2o_iovec_t proto = h2o_socket_ssl_get_selected_protocol(c->sock);
        if (proto.len < 2 || memcmp(proto.base, "h2", 2) != 0 || h2o_socket_is_writing(c->sock))
            continue;
        shutdown(h2o_socket_get_fd(c->sock), SHUT_RDWR);
        c->shut = true;
    }
}

/* Runs the loop while connections are open or deferred requests are out,
 * for at most ms. */
static void run_for(struct worker *w, unsigned ms, bool sweep_idle)
{
    int64_t deadline = time_mono_ms() + ms;
    while ((w->nconns || w->ndeferred) && time_mono_ms() < deadline) {
        if (sweep_idle)
            close_idle(w, false);
        h2o_evloop_run(w->loop, 10);
    }
}

static void drain(struct worker *w)
{
    struct server *srv = w->srv;
    if (w->listener) {
        h2o_socket_read_stop(w->listener);
        h2o_socket_close(w->listener);
        w->listener = NULL;
    }
    h2o_context_request_shutdown(&w->ctx);
    run_for(w, srv->shutdown_grace_ms, true);
    if (w->nconns) {
        log_warn("thread %u: closing %zu connections after the grace period", w->index, w->nconns);
        close_idle(w, true);
        run_for(w, FORCE_CLOSE_MS, false);
    }
    /* The application completes every request it deferred (http.h), even
     * when its client has gone: its completion must find this loop. */
    if (w->ndeferred)
        run_for(w, DEFERRED_WAIT_MS, false);
    /* One more turn frees the sockets closed above. */
    h2o_evloop_run(w->loop, 0);
    /* h2o_context_request_shutdown arms a one-second timer that resends
     * HTTP/2 GOAWAY frames, even when no HTTP/2 connection exists; with
     * every connection gone it has nothing left to do, and disposing a
     * context with an armed timer aborts. */
    if (h2o_timeout_is_linked(&w->ctx.http2._graceful_shutdown_timeout))
        h2o_timeout_unlink(&w->ctx.http2._graceful_shutdown_timeout);
}

static bool wait_for_go(struct worker *w)
{
    struct server *srv = w->srv;
    pthread_mutex_lock(&srv->lock);
    srv->reported++;
    if (!w->app_ctx)
        srv->init_failed++;
    pthread_cond_broadcast(&srv->cond);
    while (srv->go == 0)
        pthread_cond_wait(&srv->cond, &srv->lock);
    bool go = srv->go > 0;
    pthread_mutex_unlock(&srv->lock);
    return go;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct server *srv = w->srv;

    w->loop = h2o_evloop_create();
    h2o_context_init(&w->ctx, w->loop, &srv->globalconf);
    w->accept_ctx.ctx = &w->ctx;
    w->accept_ctx.hosts = srv->globalconf.hosts;
    /* With a context, h2o_accept does the TLS handshake (bounded by the
     * handshake timeout) and picks HTTP/2 or HTTP/1.1 by ALPN. */
    w->accept_ctx.ssl_ctx = srv->ssl_ctx;
    h2o_linklist_init_anchor(&w->conns);
    h2o_multithread_register_receiver(w->ctx.queue, &w->completions, on_completions);
    buf_init(&w->body, HTTP_MAX_RESPONSE_BYTES);
    w->listener = h2o_evloop_socket_create(w->loop, w->listen_fd, H2O_SOCKET_FLAG_DONT_READ);
    w->listen_fd = -1;
    w->listener->data = w;

    w->app_ctx = srv->app->thread_init(srv->app->app, w->index);
    if (wait_for_go(w)) {
        h2o_socket_read_start(w->listener, on_accept);
        while (!atomic_load(&srv->stopping)) {
            if (h2o_evloop_run(w->loop, LOOP_WAIT_MS) != 0 && errno != EINTR) {
                log_error("thread %u: event loop failed: %s", w->index, strerror(errno));
                atomic_store(&srv->loop_failed, 1);
                atomic_store(&srv->stopping, 1);
                break;
            }
            if (w->accept_paused_at && time_mono_ms() - w->accept_paused_at >= LOOP_WAIT_MS) {
                w->accept_paused_at = 0;
                h2o_socket_read_start(w->listener, on_accept);
            }
            int64_t now = time_mono_ms();
            if (srv->ssl_ctx && now - w->swept_at >= STALL_SWEEP_MS) {
                w->swept_at = now;
                close_stalled(w, now);
            }
        }
    }
    drain(w);

    /* A completion still to come would land in the context's queue: an
     * application that broke its promise costs this thread's memory, not
     * a crash. */
    bool disposable = w->ndeferred == 0;
    if (disposable) {
        h2o_multithread_unregister_receiver(w->ctx.queue, &w->completions);
        h2o_context_dispose(&w->ctx);
        /* The evloop frees closed sockets (here: the context's message
         * queue) on its next turn; h2o_evloop_destroy does not. */
        h2o_evloop_run(w->loop, 0);
    } else {
        log_error("thread %u: %zu deferred requests never completed", w->index, w->ndeferred);
    }
    if (w->app_ctx)
        srv->app->thread_fini(w->app_ctx);
    buf_free(&w->body);
    /* A connection still open here is one the kernel would not let go;
     * leaking the loop is safer than freeing memory it points to. */
    if (disposable && w->nconns == 0)
        h2o_evloop_destroy(w->loop);
    return NULL;
}

static cl_err listen_error(char *msg, const char *host, unsigned port, int err)
{
    return cl_errf(msg, CL_EIO, "cannot listen on %s:%u: %s", host, port, strerror(err));
}

/* Binds one listening socket to host:port with SO_REUSEPORT (reuse != 0) and
 * returns it in *fd. On failure returns CL_EIO with msg and leaves no socket
 * open. */
static cl_err open_listener(const char *host, unsigned port, bool reuse, int *fd,
                            unsigned *bound_port, char *msg)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char service[16];
    snprintf(service, sizeof service, "%u", port);
    int rc = getaddrinfo(host, service, &hints, &ai);
    if (rc != 0)
        return cl_errf(msg, CL_EIO, "cannot listen on %s:%u: %s", host, port, gai_strerror(rc));

    int s = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (s < 0) {
        int e = errno;
        freeaddrinfo(ai);
        return listen_error(msg, host, port, e);
    }
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuse)
        setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    /* Accepted sockets inherit TCP_NODELAY from the listener on Linux; the
     * accept path sets it again for other kernels. */
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (bind(s, ai->ai_addr, ai->ai_addrlen) != 0 || (reuse && listen(s, SOMAXCONN) != 0)) {
        int e = errno;
        close(s);
        freeaddrinfo(ai);
        return listen_error(msg, host, port, e);
    }
    freeaddrinfo(ai);
    if (bound_port) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        if (getsockname(s, (struct sockaddr *)&ss, &len) != 0) {
            int e = errno;
            close(s);
            return listen_error(msg, host, port, e);
        }
        *bound_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                     : ((struct sockaddr_in *)&ss)->sin_port);
    }
    *fd = s;
    return CL_OK;
}

/* Opens one SO_REUSEPORT listener per worker. A plain bind comes first:
 * SO_REUSEPORT would let this process silently share a port that another
 * server of the same user already listens on, instead of failing. */
static cl_err open_listeners(struct server *srv, const char *host, char *msg)
{
    unsigned port = srv->cfg->port;
    if (port > 65535)
        return cl_errf(msg, CL_EINVAL, "invalid port %u", port);
    if (port != 0) {
        int probe;
        cl_err err = open_listener(host, port, false, &probe, NULL, msg);
        if (err)
            return err;
        close(probe);
    }
    for (unsigned i = 0; i < srv->nthreads; i++) {
        cl_err err =
            open_listener(host, port, true, &srv->workers[i].listen_fd, i == 0 ? &port : NULL, msg);
        if (err)
            return err;
    }
    srv->port = port;
    return CL_OK;
}

/* Formats the thread's OpenSSL error into msg as "<what>: <reason>" and
 * clears the error queue. The first error is the cause; the later ones only
 * say which layer passed it on ("PEM lib"). */
static cl_err tls_error(char *msg, const char *what)
{
    unsigned long e = ERR_peek_error();
    const char *reason = e ? ERR_reason_error_string(e) : NULL;
    if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
        reason = "no PEM data in the file";
    cl_err err = cl_errf(msg, CL_EINVAL, "%s: %s", what, reason ? reason : "unknown TLS error");
    ERR_clear_error();
    return err;
}

static cl_err tls_readable(const char *what, const char *path, char *msg)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return cl_errf(msg, CL_EINVAL, "cannot read %s %s: %s", what, path, strerror(errno));
    fclose(f);
    return CL_OK;
}

/* Creates the TLS context of cfg's certificate and key in *out (NULL when
 * cfg has none), owned by the caller (SSL_CTX_free). TLS 1.2 or newer,
 * forward-secret AEAD suites only, no compression (CRIME), no client-started
 * renegotiation. With alpn, clients may choose h2 or http/1.1; without, the
 * handshake settles no protocol and clients speak HTTP/1.1. On failure
 * returns CL_EINVAL (CL_ENOMEM) with msg and *out stays NULL. */
static cl_err tls_context_new(const struct server_config *cfg, bool alpn, SSL_CTX **out, char *msg)
{
    *out = NULL;
    if (!cfg->tls_cert != !cfg->tls_key)
        return cl_errf(msg, CL_EINVAL, "TLS needs both a certificate and its private key");
    if (!cfg->tls_cert)
        return CL_OK;
    cl_err err = tls_readable("TLS certificate", cfg->tls_cert, msg);
    if (!err)
        err = tls_readable("TLS key", cfg->tls_key, msg);
    if (err)
        return err;

    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        return cl_errf(msg, CL_ENOMEM, "cannot create a TLS context");
    char what[CL_ERRMSG_MAX];
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1) {
        err = tls_error(msg, "cannot configure TLS");
        goto out;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1) {
        snprintf(what, sizeof what, "cannot use TLS certificate %s", cfg->tls_cert);
        err = tls_error(msg, what);
        goto out;
    }
    /* Loading a key checks it against a certificate of the same type; the
     * final check also catches a key of another type (RSA beside EC). */
    int loaded = SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM);
    unsigned long first = ERR_peek_error(), last = ERR_peek_last_error();
    if (loaded != 1 && ERR_GET_LIB(last) == ERR_LIB_X509 &&
        ERR_GET_REASON(last) == X509_R_KEY_VALUES_MISMATCH)
        loaded = -1;
    if (loaded == 1 && SSL_CTX_check_private_key(ctx) != 1)
        loaded = -1;
    if (loaded == -1) {
        ERR_clear_error();
        err = cl_errf(msg, CL_EINVAL, "TLS key %s does not match the certificate in %s",
                      cfg->tls_key, cfg->tls_cert);
        goto out;
    }
    if (loaded != 1) {
        if (ERR_GET_LIB(first) == ERR_LIB_PEM || ERR_GET_LIB(first) == ERR_LIB_OSSL_DECODER) {
            /* OpenSSL 3 calls a file without a key "unsupported". */
            ERR_clear_error();
            err = cl_errf(msg, CL_EINVAL, "cannot use TLS key %s: no PEM private key in the file",
                          cfg->tls_key);
        } else {
            snprintf(what, sizeof what, "cannot use TLS key %s", cfg->tls_key);
            err = tls_error(msg, what);
        }
        goto out;
    }
    if (alpn)
        h2o_ssl_register_alpn_protocols(ctx, h2o_alpn_protocols);
out:
    if (err)
        SSL_CTX_free(ctx);
    else
        *out = ctx;
    return err;
}

cl_err server_tls_check(const struct server_config *cfg, char *msg)
{
    SSL_CTX *ctx = NULL;
    cl_err err = tls_context_new(cfg, false, &ctx, msg);
    SSL_CTX_free(ctx);
    return err;
}

/* Raises the soft limit on open descriptors to the hard one (distributions
 * often start processes at 1024), and returns the connection cap that fits
 * under it: with a cap above the limit, connections beyond the limit would
 * wait unanswered in the kernel's accept queue instead of getting a 503. */
static unsigned fit_descriptor_limit(unsigned nthreads, unsigned max_connections)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return max_connections;
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit want = {rl.rlim_max, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &want) == 0)
            rl.rlim_cur = rl.rlim_max;
    }
    if (rl.rlim_cur == RLIM_INFINITY)
        return max_connections;
    rlim_t reserve = FD_RESERVE_BASE + (rlim_t)FD_RESERVE_PER_THREAD * nthreads;
    rlim_t room = rl.rlim_cur > reserve + 1 ? rl.rlim_cur - reserve : 1;
    if (room >= max_connections)
        return max_connections;
    log_warn("the descriptor limit is %llu: serving at most %llu connections, not %u",
             (unsigned long long)rl.rlim_cur, (unsigned long long)room, max_connections);
    return (unsigned)room;
}

static void configure(struct server *srv)
{
    const struct server_config *cfg = srv->cfg;
    h2o_globalconf_t *gc = &srv->globalconf;
    h2o_config_init(gc);
    gc->server_name = h2o_iovec_init(H2O_STRLIT(""));
    /* h2o rejects a Content-Length above this, and a chunked body reaching
     * it, with its own 413 (made JSON by the error filter) and closes the
     * connection. One byte of slack makes both encodings stop exactly at
     * HTTP_MAX_BODY_BYTES: on_req rejects the one body in between. */
    gc->max_request_entity_size = HTTP_MAX_BODY_BYTES + 1;
    /* In h2o 2.2 req_timeout is a deadline, not an inactivity timer: it is
     * armed when a connection starts waiting for a request and disarmed once
     * the request (headers and body) has arrived. It also bounds the idle
     * time between keep-alive requests, so HTTP/1 connections idle for at
     * most request_timeout_ms; idle_timeout_ms applies to HTTP/2 only. On
     * expiry h2o closes the connection without a response. */
    gc->http1.req_timeout =
        cfg->request_timeout_ms ? cfg->request_timeout_ms : HTTP_DEFAULT_REQUEST_TIMEOUT_MS;
    /* A client that dawdles through the TLS handshake gets no more time than
     * one that dawdles through its request. */
    gc->handshake_timeout = gc->http1.req_timeout;
    /* Cleartext HTTP/2 (Upgrade: h2c and prior knowledge) is off: clients
     * do not use it in practice, and h2o 2.2 answers an oversized body there
     * with REFUSED_STREAM, which clients retry, instead of a 413. HTTP/2
     * returns with TLS and ALPN. */
    gc->http1.upgrade_to_http2 = 0;
    gc->http2.idle_timeout =
        cfg->idle_timeout_ms ? cfg->idle_timeout_ms : HTTP_DEFAULT_IDLE_TIMEOUT_MS;
    /* No h2o-side deadline for HTTP/2 shutdown: its timer would still be
     * armed when the context is disposed. drain() enforces the grace period
     * for every connection instead. */
    gc->http2.graceful_shutdown_timeout = 0;

    h2o_hostconf_t *host =
        h2o_config_register_host(gc, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(path, sizeof *handler);
    handler->on_req = on_req;
    struct error_filter *filter =
        (struct error_filter *)h2o_create_filter(&host->fallback_path, sizeof *filter);
    filter->super.on_setup_ostream = on_error_setup_ostream;
    filter->srv = srv;
}

/* Waits for SIGINT or SIGTERM (blocked in every thread, so sigtimedwait
 * takes them here), or for a worker to ask for a stop. */
static void wait_for_signal(struct server *srv, const sigset_t *set)
{
    struct timespec ts = {0, SIGNAL_POLL_MS * 1000000L};
    while (!atomic_load(&srv->stopping)) {
        int sig = sigtimedwait(set, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM) {
            log_info("received %s, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
            return;
        }
    }
}

static void release_workers(struct server *srv, int go)
{
    pthread_mutex_lock(&srv->lock);
    srv->go = go;
    pthread_cond_broadcast(&srv->cond);
    pthread_mutex_unlock(&srv->lock);
}

static unsigned default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (unsigned)n;
}

cl_err server_run(const struct server_config *cfg, const struct http_app *app, char *msg)
{
    if (!cfg || !app || !app->thread_init || !app->handle || !app->thread_fini)
        return cl_errf(msg, CL_EINVAL, "server_run: missing configuration or callbacks");

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    /* Workers inherit this mask, so the signals reach only sigtimedwait. A
     * peer that goes away mid-write must not kill the process. */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct server *srv = calloc(1, sizeof *srv);
    if (!srv)
        return cl_errf(msg, CL_ENOMEM, "out of memory");
    srv->cfg = cfg;
    srv->app = app;
    srv->nthreads = cfg->threads ? (cfg->threads > MAX_THREADS ? MAX_THREADS : cfg->threads)
                                 : default_threads();
    srv->max_connections = fit_descriptor_limit(
        srv->nthreads, cfg->max_connections ? cfg->max_connections : HTTP_DEFAULT_MAX_CONNECTIONS);
    srv->shutdown_grace_ms =
        cfg->shutdown_grace_ms ? cfg->shutdown_grace_ms : HTTP_DEFAULT_SHUTDOWN_GRACE_MS;
    srv->request_timeout_ms =
        cfg->request_timeout_ms ? cfg->request_timeout_ms : HTTP_DEFAULT_REQUEST_TIMEOUT_MS;
    atomic_init(&srv->open_conns, 0);
    atomic_init(&srv->stopping, 0);
    atomic_init(&srv->loop_failed, 0);
    pthread_mutex_init(&srv->lock, NULL);
    pthread_cond_init(&srv->cond, NULL);

    cl_err err = tls_context_new(cfg, true, &srv->ssl_ctx, msg);
    if (!err)
        err = tls_context_new(cfg, false, &srv->reject_ssl_ctx, msg);
    if (err)
        goto out;
    const char *host = cfg->host && cfg->host[0] ? cfg->host : "0.0.0.0";
    srv->workers = calloc(srv->nthreads, sizeof *srv->workers);
    if (!srv->workers) {
        err = cl_errf(msg, CL_ENOMEM, "out of memory");
        goto out;
    }
    for (unsigned i = 0; i < srv->nthreads; i++) {
        srv->workers[i].srv = srv;
        srv->workers[i].index = i;
        srv->workers[i].listen_fd = -1;
    }
    err = open_listeners(srv, host, msg);
    if (err)
        goto out;

    configure(srv);
    unsigned started = 0;
    for (unsigned i = 0; i < srv->nthreads; i++) {
        int rc = pthread_create(&srv->workers[i].tid, NULL, worker_main, &srv->workers[i]);
        if (rc != 0) {
            err = cl_errf(msg, CL_EIO, "cannot start worker thread: %s", strerror(rc));
            break;
        }
        srv->workers[i].started = true;
        started++;
    }

    pthread_mutex_lock(&srv->lock);
    while (srv->reported < started)
        pthread_cond_wait(&srv->cond, &srv->lock);
    unsigned failed = srv->init_failed;
    pthread_mutex_unlock(&srv->lock);
    if (!err && failed)
        err = cl_errf(msg, CL_EIO, "%u of %u worker threads failed to initialise", failed,
                      srv->nthreads);

    if (err) {
        atomic_store(&srv->stopping, 1);
        release_workers(srv, -1);
    } else {
        log_info("listening on %s:%u with %u threads", host, srv->port, srv->nthreads);
        if (cfg->on_ready)
            cfg->on_ready(srv->port, cfg->on_ready_arg);
        release_workers(srv, 1);
        wait_for_signal(srv, &set);
        atomic_store(&srv->stopping, 1);
    }
    for (unsigned i = 0; i < srv->nthreads; i++)
        if (srv->workers[i].started)
            pthread_join(srv->workers[i].tid, NULL);
    h2o_config_dispose(&srv->globalconf);
    if (!err && atomic_load(&srv->loop_failed))
        err = cl_errf(msg, CL_EIO, "the event loop of a worker thread failed");

out:
    if (srv->workers) {
        for (unsigned i = 0; i < srv->nthreads; i++)
            if (srv->workers[i].listen_fd >= 0)
                close(srv->workers[i].listen_fd);
    }
    free(srv->workers);
    SSL_CTX_free(srv->ssl_ctx);
    SSL_CTX_free(srv->reject_ssl_ctx);
    pthread_cond_destroy(&srv->cond);
    pthread_mutex_destroy(&srv->lock);
    free(srv);
    return err;
}
