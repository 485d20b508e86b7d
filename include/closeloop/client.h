/* libcloseloop: a client for CustomerGauge's Close the Loop sync API.
 *
 * It pages through GET /v7/rest/sync/close-loop with the cursor protocol and
 * hands the caller one page (or one case) at a time, so memory stays flat no
 * matter how many cases a sync returns. Underneath is one libcurl handle
 * (connections are kept alive and reused, responses may be compressed, TLS
 * is always verified), one OAuth2 token reused until shortly before it
 * expires, and retries with exponential backoff for transient failures.
 *
 * A typical hourly job:
 *
 *     cl_options o;
 *     cl_options_init(&o);
 *     o.region = "eu";
 *     o.client_id = id;
 *     o.client_secret = secret;
 *     cl_client *c = NULL;
 *     cl_code rc = cl_client_new(&o, &c);
 *     cl_query q = {.cursor = saved_cursor};
 *     cl_sync *s = NULL;
 *     if (!rc)
 *         rc = cl_sync_new(c, &q, &s);
 *     const cl_page *p;
 *     while (!rc && !(rc = cl_sync_next_page(s, &p)) && p) {
 *         apply(p->cases, p->count);       // upsert by id
 *         save_cursor(p->cursor);          // after the apply, atomically
 *     }
 *     if (rc)
 *         fprintf(stderr, "%s: %s\n", cl_code_str(rc), cl_client_errmsg(c));
 *     cl_sync_free(&s);
 *     cl_client_free(&c);
 *
 * Names: every public name starts with cl_ (types, functions) or CLC_ (the
 * codes). closeloop's internals use cl_err / CL_OK / CL_E* / cl_strerror
 * for their own error type; the public codes are deliberately a different
 * type with a different prefix, so that this header never collides with the
 * internal one and a program may include both.
 *
 * Threads: a cl_client and the cl_sync made from it must be used by one
 * thread at a time. Separate clients are independent. Call
 * curl_global_init() once before creating clients from several threads.
 * A pass requests its next page on a thread of its own while the caller
 * works on the current one (see cl_sync_next_page): while a pass is open,
 * use its client only through the pass, cl_client_stats (which any thread
 * may call) and, after a call on the pass failed, cl_client_errmsg; and
 * make one pass at a time per client.
 *
 * Ownership: the caller owns every cl_client and cl_sync it creates and
 * frees them with the *_free functions, which take the address of the
 * handle, set it to NULL, and accept NULL. Strings passed in are copied.
 * Pointers handed out (pages, cases, messages) are borrowed: they stay valid
 * until the next call on the same handle or until it is freed. */
#ifndef CLOSELOOP_CLIENT_H
#define CLOSELOOP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CL_CLIENT_VERSION "0.1.0"

/* Limits. A response larger than CL_RESPONSE_MAX bytes (after decompression)
 * or a token longer than CL_TOKEN_MAX bytes is a CLC_PROTOCOL error. */
#define CL_PER_PAGE_MAX 1000
#define CL_RESPONSE_MAX (16 * 1024 * 1024)
#define CL_TOKEN_MAX    4096
#define CL_ERRMSG_LEN   256 /* cl_client_errmsg() is at most this long, NUL included */

/* The value of an hours field that the API sent as null. */
#define CL_HOURS_NULL (-1)

/* Every fallible function returns one of these; CLC_OK is 0. */
typedef enum cl_code {
    CLC_OK = 0,
    CLC_BAD_ARGUMENT,  /* an option or argument is invalid; nothing was sent */
    CLC_OUT_OF_MEMORY, /* an allocation failed */
    CLC_AUTH,          /* the credentials were rejected, or a fresh token was */
    CLC_FORBIDDEN,     /* authenticated, but the app lacks the read scope */
    CLC_REJECTED,      /* the server refused the request (a 4xx); see the message */
    CLC_NETWORK,       /* the server could not be reached before the deadline */
    CLC_SERVER,        /* the server kept failing (429 or 5xx) until the deadline */
    CLC_PROTOCOL,      /* the response was not what the API documents */
} cl_code;

/* A static, human-readable description of code. Never NULL. */
const char *cl_code_str(cl_code code);

/* How to reach the API. Always start from cl_options_init(), which fills in
 * the defaults below, then set what you need: future versions may add
 * fields, which the init function will set to their defaults. */
typedef struct cl_options {
    /* Where: base_url (one server that serves both /oauth2/token and /v7/...,
     * e.g. "http://127.0.0.1:8080") wins; otherwise region "eu", "us" or "au"
     * selects https://auth.{region}.customergauge.com/oauth2/token and
     * https://api.{region}.customergauge.com/v7/rest/sync/close-loop. */
    const char *base_url;
    const char *region;
    /* The Connected App's credentials. Both required. The client keeps a copy
     * of the secret, sends it only to the token endpoint, and wipes it when
     * freed. */
    const char *client_id;
    const char *client_secret;
    const char *user_agent;  /* default "closeloop/" CL_CLIENT_VERSION */
    long connect_timeout_ms; /* per connection attempt; default 10000 */
    long request_timeout_ms; /* per HTTP request; default 60000 */
    /* Retries: network errors, 429 and 5xx are retried after
     * min(retry_max_ms, retry_base_ms * 2^n) with jitter, never sooner than a
     * Retry-After header asks, until deadline_ms has passed since the first
     * attempt of that request. Defaults 250, 30000 and 300000. */
    long retry_base_ms;
    long retry_max_ms;
    long deadline_ms;
    /* A PEM file of CA certificates to trust instead of the system's (a
     * private CA, a test). NULL = the system's store. Either way the server's
     * certificate and host name are always verified; a failed verification is
     * not retried (CLC_NETWORK at once). */
    const char *ca_file;
} cl_options;

void cl_options_init(cl_options *opts);

typedef struct cl_client cl_client;

/* Creates a client. Nothing is sent until the first page is requested.
 * On success *out owns a new client; on failure *out is NULL and the code
 * says why (CLC_BAD_ARGUMENT, CLC_OUT_OF_MEMORY). */
cl_code cl_client_new(const cl_options *opts, cl_client **out);

/* Frees the client, closing its connections and wiping its secret and
 * token. Sets *client to NULL; NULL and *client == NULL are no-ops. Free the
 * cl_sync handles made from it first. */
void cl_client_free(cl_client **client);

/* One line explaining the last failure on this client (including the
 * server's own message for a rejected request), or "" when none. Borrowed.
 * Never contains the secret or the token. */
const char *cl_client_errmsg(const cl_client *client);

/* Counters since the client was created, for progress and diagnostics. */
typedef struct cl_stats {
    uint64_t requests;       /* HTTP requests sent, tokens included */
    uint64_t token_requests; /* tokens fetched */
    uint64_t retries;        /* requests repeated after a transient failure */
    uint64_t bytes;          /* response body bytes, after decompression */
} cl_stats;

void cl_client_stats(const cl_client *client, cl_stats *out);

/* One case, as the API documents it. Strings are NUL-terminated UTF-8. */
typedef struct cl_assignee {
    int64_t id;
    const char *username; /* NULL when the API sent null */
    const char *email;    /* NULL when the API sent null */
} cl_assignee;

typedef struct cl_case {
    int64_t id;
    int64_t number_customergauge;
    const char *status;          /* "open", "progress" or "closed" */
    const cl_assignee *assignee; /* NULL when unassigned */
    int64_t time_to_follow_up;   /* full hours, or CL_HOURS_NULL */
    int64_t time_to_close;       /* full hours, or CL_HOURS_NULL */
    const char *created_at;      /* "YYYY-mm-dd HH:MM:SS", UTC */
    const char *updated_at;
    /* The whole object as the server sent it, re-serialised compactly in the
     * same key order (fields this version does not know are kept). Not
     * NUL-terminated; json_len bytes. */
    const char *json;
    size_t json_len;
} cl_case;

/* What to sync. Zero-initialise, then set what you need. */
typedef struct cl_query {
    const char *since; /* "YYYY-mm-dd": updated_at[start], inclusive; NULL = none */
    const char *until; /* "YYYY-mm-dd": updated_at[end], inclusive; NULL = none */
    int per_page;      /* 1..CL_PER_PAGE_MAX; 0 = the server's default */
    int64_t cursor;    /* resume after this cursor; 0 = from the beginning */
} cl_query;

/* A page: count cases in cursor order, and the cursor that follows them. */
typedef struct cl_page {
    const cl_case *cases;
    size_t count; /* >= 1 */
    int64_t cursor;
} cl_page;

typedef struct cl_sync cl_sync;

/* Starts a pass over the cases matching q, from q->cursor. Validates the
 * query (dates, per_page) without sending anything; the client must outlive
 * the pass. On success *out owns a new pass; on failure *out is NULL. */
cl_code cl_sync_new(cl_client *client, const cl_query *q, cl_sync **out);

/* Fetches the next page. On CLC_OK, *page is the page (borrowed until the
 * next call on s), or NULL when the server returned an empty page: the pass
 * is complete. On failure *page is NULL; the pass may be retried by calling
 * again, which repeats the failed request. If only part of a page was taken
 * with cl_sync_next_case, this returns the rest of it.
 *
 * Before it returns a page with cases, the pass has already requested the
 * next one (with the cursor the page ends with), so that the server builds
 * it while the caller works on this one. A caller that stops early has
 * cost the server one page; cl_sync_free waits for that request. */
cl_code cl_sync_next_page(cl_sync *s, const cl_page **page);

/* The same pass, one case at a time: *rec is the next case (borrowed until
 * the next call on s), or NULL when the pass is complete. */
cl_code cl_sync_next_case(cl_sync *s, const cl_case **rec);

/* The cursor that covers every case handed out so far: store it after
 * applying those cases, and start the next pass from it. Before the first
 * page it is q->cursor; it moves when the last case of a page is handed
 * out, so partway through a page (cl_sync_next_case) it is still the
 * previous page's, and applying those cases again is harmless. */
int64_t cl_sync_cursor(const cl_sync *s);

/* Frees the pass. Sets *s to NULL; NULL and *s == NULL are no-ops. */
void cl_sync_free(cl_sync **s);

#ifdef __cplusplus
}
#endif

#endif
