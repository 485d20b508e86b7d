/* Bearer authentication (RFC 6750) for the API's routes. Every way a token
 * can fail gives the same 401, so a caller learns nothing about which check
 * it failed. */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "api/internal.h"
#include "auth/token.h"
#include "common/timeutil.h"

#define BEARER_PREFIX     "Bearer "
#define BEARER_PREFIX_LEN (sizeof BEARER_PREFIX - 1)

/* Finds the token in an Authorization value of the form "Bearer <token>":
 * the scheme in any case (RFC 9110 §11.1), exactly one space, a non-empty
 * token. */
static bool bearer_token(const struct http_str *h, const char **tok, size_t *len)
{
    if (!h->p || h->n <= BEARER_PREFIX_LEN)
        return false;
    if (strncasecmp(h->p, BEARER_PREFIX, BEARER_PREFIX_LEN) != 0)
        return false;
    *tok = h->p + BEARER_PREFIX_LEN;
    *len = h->n - BEARER_PREFIX_LEN;
    return true;
}

static void unauthenticated(struct http_response *res)
{
    api_message(res, 401, "Unauthenticated.");
    http_response_header(res, "WWW-Authenticate", "Bearer realm=\"closeloop\"");
}

bool api_authorize(struct api_thread *t, const struct http_request *req, struct http_response *res,
                   unsigned scope)
{
    const char *tok;
    size_t len;
    struct token_claims claims;

    if (!bearer_token(&req->authorization, &tok, &len) ||
        token_verify_memo(&t->tokens, t->app->token_key, tok, len, time_now(), t->app->cfg.region,
                          &claims)) {
        unauthenticated(res);
        return false;
    }

    /* Revocation and rotation: the token is only as good as its app. */
    cl_err err = app_cache_check(t->apps, &claims, time_mono_ms());
    if (err == CL_EAUTH) {
        unauthenticated(res);
        return false;
    }
    if (err) {
        api_store_error(res, err, "reloading connected apps");
        return false;
    }

    /* Who the request is, for the access log: a client_id is no secret. */
    const char *client_id = app_cache_client_id(t->apps, claims.app_id);
    if (client_id) {
        size_t n = strnlen(client_id, sizeof res->app - 1);
        memcpy(res->app, client_id, n);
        res->app[n] = '\0';
    }

    if ((claims.scopes & scope) != scope) {
        api_message(res, 403, "This action is unauthorized.");
        return false;
    }
    return api_throttle(t, claims.app_id, res);
}
