/* The route table: which handler serves which path and method, and which
 * scope its bearer token must grant. Paths match exactly (as sent, no
 * trailing-slash tolerance), so every URL of the API has one spelling. */
#include <string.h>

#include "api/internal.h"

#define TOKEN_PATH "/oauth2/token"
#define ALLOW_MAX  64 /* bytes of an Allow header value; the table has few methods */

struct route {
    const char *path;
    const char *method;
    api_handler_fn *handler;
    unsigned scope; /* SCOPE_* bits the token must grant; 0 = no bearer auth */
};

static const struct route routes[] = {
    /* The token endpoint authenticates by client credentials, not by bearer. */
    {TOKEN_PATH, "POST", h_token, 0},
    {"/v7/rest/sync/close-loop", "GET", h_sync, SCOPE_READ},
    {"/v7/rest/close-loop/status", "PUT", h_status, SCOPE_WRITE},
    {"/v7/rest/close-loop/assignee", "PUT", h_assignee, SCOPE_WRITE},
    {"/v7/rest/close-loop/comment", "PUT", h_comment, SCOPE_WRITE},
    /* Operations: no token, so that probes and scrapers need no secret;
     * docs/operations.md says not to expose them publicly. */
    {"/healthz", "GET", h_health, 0},
    {"/metrics", "GET", h_metrics, 0},
    {"/openapi.yaml", "GET", h_openapi, 0},
};

#define NROUTES (sizeof routes / sizeof routes[0])

static bool str_is(const struct http_str *s, const char *lit)
{
    size_t n = strlen(lit);
    return s->p && s->n == n && memcmp(s->p, lit, n) == 0;
}

/* Answers 405 listing every method the path supports. */
static void method_not_allowed(const struct http_request *req, struct http_response *res)
{
    char allow[ALLOW_MAX] = "";
    size_t len = 0;

    for (size_t i = 0; i < NROUTES; i++) {
        if (!str_is(&req->path, routes[i].path))
            continue;
        size_t m = strlen(routes[i].method);
        if (len + m + 3 > sizeof allow)
            break;
        if (len) {
            memcpy(allow + len, ", ", 2);
            len += 2;
        }
        memcpy(allow + len, routes[i].method, m + 1);
        len += m;
    }
    api_message(res, 405, "Method Not Allowed.");
    http_response_header(res, "Allow", allow);
    /* Every response of the token endpoint is uncacheable (RFC 6749 §5.1). */
    if (str_is(&req->path, TOKEN_PATH)) {
        http_response_header(res, "Cache-Control", "no-store");
        http_response_header(res, "Pragma", "no-cache");
    }
}

void api_route(struct api_thread *t, const struct http_request *req, struct http_response *res)
{
    bool path_known = false;

    for (size_t i = 0; i < NROUTES; i++) {
        const struct route *r = &routes[i];
        if (!str_is(&req->path, r->path))
            continue;
        if (!path_known)
            res->route = r->path;
        path_known = true;
        /* Methods are case-sensitive (RFC 9110 §9.1). */
        if (!str_is(&req->method, r->method))
            continue;
        if (r->scope && !api_authorize(t, req, res, r->scope))
            return;
        r->handler(t, req, res);
        return;
    }
    if (path_known)
        method_not_allowed(req, res);
    else
        api_not_found(res);
}

size_t api_route_labels(const char **labels, size_t cap)
{
    size_t n = 0;

    for (size_t i = 0; i < NROUTES && n < cap; i++) {
        bool seen = false;
        for (size_t j = 0; j < n && !seen; j++)
            seen = strcmp(labels[j], routes[i].path) == 0;
        if (!seen)
            labels[n++] = routes[i].path;
    }
    return n;
}
