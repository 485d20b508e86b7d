/* The client handle: one libcurl easy handle, the OAuth2 token, and the
 * retry loop every request goes through. */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "client/internal.h"
#include "common/timeutil.h"

#define DEFAULT_USER_AGENT   "closeloop/" CL_CLIENT_VERSION
#define DEFAULT_CONNECT_MS   10000
#define DEFAULT_REQUEST_MS   60000
#define DEFAULT_RETRY_BASE   250
#define DEFAULT_RETRY_MAX    30000
#define DEFAULT_DEADLINE_MS  300000
#define MIN_ATTEMPT_MS       1000 /* even a last attempt gets this long */
#define DEFAULT_EXPIRES_IN   3600 /* RFC 6749 makes expires_in optional */
#define TOKEN_RENEW_EARLY_S  60   /* renew this long before expiry ... */
#define TOKEN_RENEW_FRACTION 10   /* ... or 1/10 of a short lifetime */
#define SERVER_MSG_MAX       160  /* bytes of a server's message we quote */

const char *cl_code_str(cl_code code)
{
    switch (code) {
    case CLC_OK:
        return "ok";
    case CLC_BAD_ARGUMENT:
        return "invalid argument";
    case CLC_OUT_OF_MEMORY:
        return "out of memory";
    case CLC_AUTH:
        return "authentication failed";
    case CLC_FORBIDDEN:
        return "not authorized";
    case CLC_REJECTED:
        return "request rejected by the server";
    case CLC_NETWORK:
        return "server unreachable";
    case CLC_SERVER:
        return "server unavailable";
    case CLC_PROTOCOL:
        return "unexpected response";
    }
    return "unknown error";
}

void cl_options_init(cl_options *o)
{
    memset(o, 0, sizeof *o);
    o->connect_timeout_ms = DEFAULT_CONNECT_MS;
    o->request_timeout_ms = DEFAULT_REQUEST_MS;
    o->retry_base_ms = DEFAULT_RETRY_BASE;
    o->retry_max_ms = DEFAULT_RETRY_MAX;
    o->deadline_ms = DEFAULT_DEADLINE_MS;
}

cl_code client_fail(cl_client *c, cl_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
    va_end(ap);
    return code;
}

const char *cl_client_errmsg(const cl_client *c)
{
    return c ? c->errmsg : "";
}

/* Adds to a counter of c->stats (see stats_mu). */
static void count(cl_client *c, uint64_t *counter, uint64_t n)
{
    pthread_mutex_lock(&c->stats_mu);
    *counter += n;
    pthread_mutex_unlock(&c->stats_mu);
}

void cl_client_stats(const cl_client *c, cl_stats *out)
{
    pthread_mutex_t *mu = (pthread_mutex_t *)&c->stats_mu;
    pthread_mutex_lock(mu);
    *out = c->stats;
    pthread_mutex_unlock(mu);
}

static void wipe_free(char *s)
{
    if (!s)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

void cl_client_free(cl_client **pc)
{
    if (!pc || !*pc)
        return;
    cl_client *c = *pc;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    curl_slist_free_all(c->token_headers);
    /* The API header list holds the token: wipe it before it goes. */
    for (struct curl_slist *h = c->api_headers; h; h = h->next)
        explicit_bzero(h->data, strlen(h->data));
    curl_slist_free_all(c->api_headers);
    free(c->token_url);
    free(c->sync_url);
    free(c->client_id);
    wipe_free(c->client_secret);
    free(c->user_agent);
    buf_free(&c->body);
    pthread_mutex_destroy(&c->stats_mu);
    explicit_bzero(c, sizeof *c);
    free(c);
    *pc = NULL;
}

static size_t on_body(char *p, size_t size, size_t n, void *userdata)
{
    cl_client *c = userdata;
    size_t len = size * n;
    buf_append(&c->body, p, len);
    if (buf_failed(&c->body)) {
        c->body_too_large = c->body.err == CL_ELIMIT;
        return 0; /* makes libcurl stop with CURLE_WRITE_ERROR */
    }
    return len;
}

/* A base URL without its trailing slashes, as a new string. */
static char *join_url(const char *base, const char *path)
{
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    char *s = malloc(n + strlen(path) + 1);
    if (s) {
        memcpy(s, base, n);
        strcpy(s + n, path);
    }
    return s;
}

static cl_code set_endpoints(cl_client *c, const cl_options *o)
{
    if (o->base_url && *o->base_url) {
        if (strncmp(o->base_url, "http://", 7) != 0 && strncmp(o->base_url, "https://", 8) != 0)
            return client_fail(c, CLC_BAD_ARGUMENT, "base URL must start with http:// or https://");
        c->token_url = join_url(o->base_url, "/oauth2/token");
        c->sync_url = join_url(o->base_url, "/v7/rest/sync/close-loop");
    } else if (o->region && (strcmp(o->region, "eu") == 0 || strcmp(o->region, "us") == 0 ||
                             strcmp(o->region, "au") == 0)) {
        char url[128];
        snprintf(url, sizeof url, "https://auth.%s.customergauge.com/oauth2/token", o->region);
        c->token_url = strdup(url);
        snprintf(url, sizeof url, "https://api.%s.customergauge.com/v7/rest/sync/close-loop",
                 o->region);
        c->sync_url = strdup(url);
    } else {
        return client_fail(c, CLC_BAD_ARGUMENT, "a base URL or a region (eu, us, au) is required");
    }
    if (!c->token_url || !c->sync_url)
        return CLC_OUT_OF_MEMORY;
    return CLC_OK;
}

static cl_code setup_curl(cl_client *c)
{
    c->curl = curl_easy_init();
    if (!c->curl)
        return CLC_OUT_OF_MEMORY;
    CURL *h = c->curl;
    CURLcode rc = CURLE_OK;
    /* HTTP(S) only, never redirected: a redirect could carry the bearer
     * token to another host. */
    rc |= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    rc |= curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    rc |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    rc |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    /* "" offers every encoding this libcurl can decode (gzip, br, zstd). */
    rc |= curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    rc |= curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    /* A page of 1,000 cases is about 230 KB: read it in a few calls rather
     * than in fifteen of libcurl's default 16 KB. */
    rc |= curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 256L * 1024);
    /* No SIGALRM-based DNS timeouts: the library must be safe in threads. */
    rc |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    rc |= curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
    rc |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    rc |= curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    if (rc != CURLE_OK)
        return client_fail(c, CLC_BAD_ARGUMENT, "libcurl lacks a required feature");
    c->token_headers = curl_slist_append(NULL, "Accept: application/json");
    if (!c->token_headers)
        return CLC_OUT_OF_MEMORY;
    struct curl_slist *t =
        curl_slist_append(c->token_headers, "Content-Type: application/x-www-form-urlencoded");
    if (!t)
        return CLC_OUT_OF_MEMORY;
    return CLC_OK;
}

cl_code cl_client_new(const cl_options *o, cl_client **out)
{
    *out = NULL;
    if (!o)
        return CLC_BAD_ARGUMENT;
    cl_client *c = calloc(1, sizeof *c);
    if (!c)
        return CLC_OUT_OF_MEMORY;
    pthread_mutex_init(&c->stats_mu, NULL);
    cl_code rc = set_endpoints(c, o);
    if (rc)
        goto out;
    if (!o->client_id || !*o->client_id || !o->client_secret || !*o->client_secret) {
        rc = CLC_BAD_ARGUMENT;
        goto out;
    }
    if (o->connect_timeout_ms <= 0 || o->request_timeout_ms <= 0 || o->deadline_ms < 0 ||
        o->retry_base_ms <= 0 || o->retry_max_ms < o->retry_base_ms) {
        rc = CLC_BAD_ARGUMENT;
        goto out;
    }
    c->client_id = strdup(o->client_id);
    c->client_secret = strdup(o->client_secret);
    c->user_agent = strdup(o->user_agent ? o->user_agent : DEFAULT_USER_AGENT);
    if (!c->client_id || !c->client_secret || !c->user_agent) {
        rc = CLC_OUT_OF_MEMORY;
        goto out;
    }
    c->connect_timeout_ms = o->connect_timeout_ms;
    c->request_timeout_ms = o->request_timeout_ms;
    c->policy.base_ms = o->retry_base_ms;
    c->policy.max_ms = o->retry_max_ms;
    c->policy.deadline_ms = o->deadline_ms;
    c->seed = (uint64_t)time_mono_ms() * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
    buf_init(&c->body, CL_RESPONSE_MAX);
    rc = setup_curl(c);
    /* The given CAs replace the system's bundle and directory, so that a
     * private CA is the only trust anchor. libcurl copies the path. */
    if (!rc && o->ca_file && *o->ca_file &&
        (curl_easy_setopt(c->curl, CURLOPT_CAINFO, o->ca_file) != CURLE_OK ||
         curl_easy_setopt(c->curl, CURLOPT_CAPATH, NULL) != CURLE_OK))
        rc = CLC_BAD_ARGUMENT;
out:
    if (rc) {
        cl_client_free(&c);
        return rc;
    }
    *out = c;
    return CLC_OK;
}

/* The outcome of one HTTP attempt. */
struct attempt {
    CURLcode cc;
    long status;
    int64_t retry_after_ms; /* -1 when the response had no Retry-After */
    char curl_msg[CURL_ERROR_SIZE];
};

/* Transport failures worth another attempt: the network or the server may
 * recover. Certificate failures, bad URLs and oversized bodies will not. */
static bool transient_transport(CURLcode cc)
{
    switch (cc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return true;
    default:
        return false;
    }
}

static bool transient_status(long status)
{
    return status == 429 || (status >= 500 && status <= 599);
}

/* Performs one request: a GET of url, or a POST of form when form != NULL.
 * The attempt is limited to the time left before the retry deadline. */
static cl_code perform(cl_client *c, const char *url, const char *form, struct curl_slist *hdrs,
                       const struct retry *r, struct attempt *a)
{
    CURL *h = c->curl;
    int64_t limit = retry_remaining(r, time_mono_ms());
    if (limit < MIN_ATTEMPT_MS)
        limit = MIN_ATTEMPT_MS;
    if (limit > c->request_timeout_ms)
        limit = c->request_timeout_ms;
    long connect_ms = c->connect_timeout_ms < limit ? c->connect_timeout_ms : (long)limit;

    buf_reset(&c->body);
    c->body_too_large = false;
    a->curl_msg[0] = '\0';
    a->status = 0;
    a->retry_after_ms = -1;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, a->curl_msg);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)limit);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    if (form) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, form);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(form));
    } else {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
    count(c, &c->stats.requests, 1);
    a->cc = curl_easy_perform(h);
    /* The form holds the secret: do not leave libcurl pointing at it. */
    if (form)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    count(c, &c->stats.bytes, c->body.len);
    if (c->body_too_large)
        return client_fail(c, CLC_PROTOCOL, "response larger than %d bytes", CL_RESPONSE_MAX);
    if (a->cc == CURLE_WRITE_ERROR)
        return CLC_OUT_OF_MEMORY;
    if (a->cc != CURLE_OK) {
        if (!a->curl_msg[0])
            snprintf(a->curl_msg, sizeof a->curl_msg, "%s", curl_easy_strerror(a->cc));
        return CLC_OK;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a->status);
    curl_off_t after = 0;
    /* libcurl parses both forms of Retry-After (seconds, HTTP date). */
    if (curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &after) == CURLE_OK && after > 0)
        a->retry_after_ms = after > INT32_MAX ? INT64_MAX / 2 : (int64_t)after * 1000;
    return CLC_OK;
}

/* Copies the message a JSON error body carries ("message", or RFC 6749's
 * "error_description" / "error") into out, printable ASCII only, so a hostile
 * server cannot write control sequences to the user's terminal. */
static void server_message(const struct buf *body, char *out, size_t size)
{
    snprintf(out, size, "no message");
    json_t *root = json_loadb(body->data ? body->data : "", body->len, 0, NULL);
    if (!root)
        return;
    const char *keys[] = {"message", "error_description", "error"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *m = json_string_value(json_object_get(root, keys[i]));
        if (m && *m) {
            size_t n = 0;
            for (; *m && n + 1 < size && n < SERVER_MSG_MAX; m++)
                out[n++] = (*m >= 0x20 && *m < 0x7f) ? *m : '?';
            out[n] = '\0';
            break;
        }
    }
    json_decref(root);
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

/* Waits before the next attempt after a transient failure, or gives up with
 * CLC_NETWORK / CLC_SERVER once the deadline allows no more. */
static cl_code backoff(cl_client *c, struct retry *r, const struct attempt *a, const char *what)
{
    int64_t wait = retry_next(r, time_mono_ms(), a->retry_after_ms);
    if (wait >= 0) {
        count(c, &c->stats.retries, 1);
        sleep_ms(wait);
        return CLC_OK;
    }
    double secs = (double)(time_mono_ms() - r->start_ms) / 1000.0;
    if (a->cc != CURLE_OK)
        return client_fail(c, CLC_NETWORK, "%s: gave up after %u attempts in %.1f s: %s", what,
                           r->attempts, secs, a->curl_msg);
    char msg[SERVER_MSG_MAX + 1];
    server_message(&c->body, msg, sizeof msg);
    return client_fail(c, CLC_SERVER, "%s: gave up after %u attempts in %.1f s: HTTP %ld (%s)",
                       what, r->attempts, secs, a->status, msg);
}

/* The form body of a client-credentials grant, or NULL when out of memory.
 * The caller wipes and frees it: it holds the secret. */
static char *token_form(cl_client *c)
{
    char *id = curl_easy_escape(c->curl, c->client_id, 0);
    char *secret = curl_easy_escape(c->curl, c->client_secret, 0);
    char *form = NULL;
    if (id && secret) {
        size_t n = strlen(id) + strlen(secret) + 64;
        form = malloc(n);
        if (form)
            snprintf(form, n, "grant_type=client_credentials&client_id=%s&client_secret=%s", id,
                     secret);
    }
    curl_free(id);
    if (secret) {
        explicit_bzero(secret, strlen(secret));
        curl_free(secret);
    }
    return form;
}

/* Takes the token out of a 200 response and builds the API headers. */
static cl_code accept_token(cl_client *c)
{
    json_t *root = json_loadb(c->body.data ? c->body.data : "", c->body.len, 0, NULL);
    const char *tok = json_string_value(json_object_get(root, "access_token"));
    const char *type = json_string_value(json_object_get(root, "token_type"));
    json_t *exp = json_object_get(root, "expires_in");
    cl_code rc = CLC_OK;
    size_t n = tok ? strlen(tok) : 0;
    if (n == 0 || n > CL_TOKEN_MAX) {
        rc = client_fail(c, CLC_PROTOCOL, "token endpoint: no usable access_token in the response");
        goto out;
    }
    /* The token goes into a header: only visible ASCII may pass. */
    for (size_t i = 0; i < n; i++)
        if (tok[i] <= 0x20 || tok[i] >= 0x7f) {
            rc = client_fail(c, CLC_PROTOCOL, "token endpoint: access_token has invalid bytes");
            goto out;
        }
    if (type && strcasecmp(type, "bearer") != 0) {
        rc = client_fail(c, CLC_PROTOCOL, "token endpoint: unsupported token_type");
        goto out;
    }
    json_int_t ttl = DEFAULT_EXPIRES_IN;
    if (json_is_integer(exp) && json_integer_value(exp) > 0)
        ttl = json_integer_value(exp);
    if (ttl > 7 * 24 * 3600)
        ttl = 7 * 24 * 3600;
    int64_t early = ttl / TOKEN_RENEW_FRACTION;
    if (early > TOKEN_RENEW_EARLY_S)
        early = TOKEN_RENEW_EARLY_S;
    char header[sizeof "Authorization: Bearer " + CL_TOKEN_MAX];
    snprintf(header, sizeof header, "Authorization: Bearer %s", tok);
    struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");
    struct curl_slist *h2 = h ? curl_slist_append(h, header) : NULL;
    explicit_bzero(header, sizeof header);
    if (!h2) {
        curl_slist_free_all(h);
        rc = CLC_OUT_OF_MEMORY;
        goto out;
    }
    for (struct curl_slist *old = c->api_headers; old; old = old->next)
        explicit_bzero(old->data, strlen(old->data));
    curl_slist_free_all(c->api_headers);
    c->api_headers = h;
    c->have_token = true;
    c->token_refresh_ms = time_mono_ms() + (ttl - early) * 1000;
out:
    json_decref(root);
    /* The body held the token; clear it now that it is in the header. */
    if (c->body.data)
        explicit_bzero(c->body.data, c->body.len);
    return rc;
}

/* Fetches a new token, retrying within r's deadline. */
static cl_code fetch_token(cl_client *c, struct retry *r)
{
    c->have_token = false;
    char *form = token_form(c);
    if (!form)
        return CLC_OUT_OF_MEMORY;
    cl_code rc;
    struct attempt a;
    for (;;) {
        count(c, &c->stats.token_requests, 1);
        rc = perform(c, c->token_url, form, c->token_headers, r, &a);
        if (rc)
            break;
        if (a.cc == CURLE_OK && a.status == 200) {
            rc = accept_token(c);
            break;
        }
        if ((a.cc != CURLE_OK && transient_transport(a.cc)) ||
            (a.cc == CURLE_OK && transient_status(a.status))) {
            rc = backoff(c, r, &a, "token endpoint");
            if (rc)
                break;
            continue;
        }
        if (a.cc != CURLE_OK) {
            rc = client_fail(c, CLC_NETWORK, "token endpoint: %s", a.curl_msg);
            break;
        }
        char msg[SERVER_MSG_MAX + 1];
        server_message(&c->body, msg, sizeof msg);
        /* RFC 6749 §5.2: bad credentials are a 400 or 401 (invalid_client,
         * invalid_grant, unauthorized_client). */
        if (a.status == 400 || a.status == 401 || a.status == 403)
            rc = client_fail(c, CLC_AUTH,
                             "the token endpoint rejected the client credentials "
                             "(HTTP %ld: %s)",
                             a.status, msg);
        else
            rc = client_fail(c, CLC_REJECTED, "token endpoint: HTTP %ld: %s", a.status, msg);
        break;
    }
    explicit_bzero(form, strlen(form));
    free(form);
    return rc;
}

cl_code client_get(cl_client *c, const char *url)
{
    struct retry r;
    retry_start(&r, &c->policy, time_mono_ms(), c->seed++);
    bool renewed_after_401 = false;
    struct attempt a;
    for (;;) {
        cl_code rc;
        if (!c->have_token || time_mono_ms() >= c->token_refresh_ms) {
            rc = fetch_token(c, &r);
            if (rc)
                return rc;
        }
        rc = perform(c, url, NULL, c->api_headers, &r, &a);
        if (rc)
            return rc;
        if (a.cc == CURLE_OK && a.status == 200)
            return CLC_OK;
        if (a.cc == CURLE_OK && a.status == 401) {
            /* The token may have been revoked or expired early: renew it
             * once. A fresh token refused again is not going to work. */
            if (renewed_after_401)
                return client_fail(c, CLC_AUTH,
                                   "the server refused a freshly issued token (HTTP "
                                   "401); check the app's region and whether it was revoked");
            renewed_after_401 = true;
            c->have_token = false;
            continue;
        }
        if ((a.cc != CURLE_OK && transient_transport(a.cc)) ||
            (a.cc == CURLE_OK && transient_status(a.status))) {
            rc = backoff(c, &r, &a, "sync endpoint");
            if (rc)
                return rc;
            continue;
        }
        if (a.cc != CURLE_OK)
            return client_fail(c, CLC_NETWORK, "sync endpoint: %s", a.curl_msg);
        char msg[SERVER_MSG_MAX + 1];
        server_message(&c->body, msg, sizeof msg);
        if (a.status == 403)
            return client_fail(c, CLC_FORBIDDEN,
                               "sync endpoint: HTTP 403: %s (the app needs the "
                               "read scope)",
                               msg);
        return client_fail(c, CLC_REJECTED, "sync endpoint: HTTP %ld: %s", a.status, msg);
    }
}
