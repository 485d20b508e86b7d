/* POST /oauth2/token: the client credentials grant (RFC 6749 §4.4) with the
 * error responses of §5.2, as SPEC §2 "Errors" pins them down.
 *
 * The client authenticates either with HTTP Basic (§2.3.1, which the RFC
 * requires servers to support) or with client_id and client_secret in the
 * form body (what CustomerGauge documents); never both. Every way client
 * authentication can fail gives the same 401 invalid_client, and the secret
 * is hashed even for an unknown client, so that neither the body nor the
 * timing tells a caller which client ids exist. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/basic_auth.h"
#include "api/internal.h"
#include "auth/secret.h"
#include "auth/token.h"
#include "common/json.h"
#include "common/log.h"
#include "common/timeutil.h"

#define FORM_MEDIA_TYPE    "application/x-www-form-urlencoded"
#define GRANT_CLIENT_CREDS "client_credentials"
#define PARAM_NAME_SHOWN   64 /* longest parameter name quoted in an error */

#define DESC_BAD_CLIENT "Client authentication failed."

/* Starts a response with the headers every token response carries: tokens
 * must not be cached by the client or anything in between (RFC 6749 §5.1). */
static void begin(struct http_response *res, int status)
{
    buf_reset(res->body);
    res->status = status;
    res->content_type = "application/json";
    http_response_header(res, "Cache-Control", "no-store");
    http_response_header(res, "Pragma", "no-cache");
}

/* {"error":code,"error_description":description} with status. */
static void oauth_error(struct http_response *res, int status, const char *code,
                        const char *description)
{
    begin(res, status);
    if (status == 401)
        http_response_header(res, "WWW-Authenticate", "Basic realm=\"closeloop\"");
    if (status == 503)
        http_response_header(res, "Retry-After", "1");
    buf_puts(res->body, "{\"error\":");
    json_cstr(res->body, code);
    buf_puts(res->body, ",\"error_description\":");
    json_cstr(res->body, description);
    buf_putc(res->body, '}');
}

static void invalid_client(struct http_response *res)
{
    oauth_error(res, 401, "invalid_client", DESC_BAD_CLIENT);
}

static void unavailable(struct http_response *res, cl_err err, const char *detail)
{
    log_error("token endpoint: %s: %s", cl_strerror(err), detail && *detail ? detail : "-");
    oauth_error(res, 503, "temporarily_unavailable",
                "The service is temporarily unavailable; retry shortly.");
}

/* Whether the Content-Type's media type, ignoring parameters and the case
 * of the type (RFC 9110 §8.3.1), is the form encoding. */
static bool is_form(const struct http_str *ct)
{
    if (!ct->p)
        return false;
    const char *semi = memchr(ct->p, ';', ct->n);
    size_t n = semi ? (size_t)(semi - ct->p) : ct->n;
    size_t start = 0;
    while (start < n && (ct->p[start] == ' ' || ct->p[start] == '\t'))
        start++;
    while (n > start && (ct->p[n - 1] == ' ' || ct->p[n - 1] == '\t'))
        n--;
    size_t want = sizeof FORM_MEDIA_TYPE - 1;
    return n - start == want && strncasecmp(ct->p + start, FORM_MEDIA_TYPE, want) == 0;
}

/* Whether a parameter name is safe to quote in error_description, whose
 * characters RFC 6749 §5.2 restricts to printable ASCII without '"' and '\'. */
static bool quotable(const struct form_param *p)
{
    if (p->key_len == 0 || p->key_len > PARAM_NAME_SHOWN)
        return false;
    for (size_t i = 0; i < p->key_len; i++) {
        unsigned char c = (unsigned char)p->key[i];
        if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
            return false;
    }
    return true;
}

/* Answers 400 invalid_request and returns true when any parameter appears
 * more than once (RFC 6749 §3.2). */
static bool reject_repeated(const struct form *f, struct http_response *res)
{
    for (size_t i = 0; i < f->n; i++) {
        const struct form_param *p = &f->params[i];
        for (size_t j = i + 1; j < f->n; j++) {
            const struct form_param *q = &f->params[j];
            if (p->key_len != q->key_len || memcmp(p->key, q->key, p->key_len) != 0)
                continue;
            char desc[API_MESSAGE_MAX];
            if (quotable(p))
                snprintf(desc, sizeof desc, "The %s parameter must not be repeated.", p->key);
            else
                snprintf(desc, sizeof desc, "A parameter must not be repeated.");
            oauth_error(res, 400, "invalid_request", desc);
            return true;
        }
    }
    return false;
}

/* A parameter's value, or NULL when it is absent or empty: RFC 6749 §3.1
 * treats a parameter sent without a value as omitted. */
static const struct form_param *param(const struct form *f, const char *key)
{
    const struct form_param *p = NULL;
    form_find(f, key, &p);
    return p && p->value_len > 0 ? p : NULL;
}

/* Copies a body parameter's value; false when it is too long. */
static bool copy_value(const struct form_param *p, char *dst, size_t cap, size_t *len)
{
    if (p->value_len >= cap)
        return false;
    memcpy(dst, p->value, p->value_len + 1);
    *len = p->value_len;
    return true;
}

/* Looks the client up and checks its secret. Returns CL_OK with the app,
 * CL_EAUTH for every kind of bad credentials, or a store error (with msg). */
static cl_err authenticate(struct store *s, const struct client_creds *c, struct app_record *app,
                           char *msg)
{
    /* Hashed against when the client is unknown, so that an unknown id costs
     * the same SHA-256 as a known one. */
    static const unsigned char no_hash[SECRET_HASH_LEN];

    cl_err err = store_app_get(s, c->id, app, msg);
    if (err == CL_ENOTFOUND) {
        (void)secret_matches(c->secret, c->secret_len, no_hash);
        return CL_EAUTH;
    }
    if (err)
        return err;
    bool matches = secret_matches(c->secret, c->secret_len, app->secret_hash);
    if (!matches || app->revoked)
        return CL_EAUTH;
    return CL_OK;
}

/* Finds the client's credentials in the header or the body. Answers the
 * request itself and returns false when they are missing, doubled or
 * malformed. */
static bool client_creds(const struct http_request *req, const struct form *f,
                         struct client_creds *c, struct http_response *res)
{
    const struct form_param *id = param(f, "client_id");
    const struct form_param *secret = param(f, "client_secret");

    if (basic_auth_is_basic(&req->authorization)) {
        if (id || secret) {
            oauth_error(res, 400, "invalid_request",
                        "Use either HTTP Basic authentication or client_id and client_secret in "
                        "the body, not both.");
            return false;
        }
        if (!basic_auth_decode(&req->authorization, c)) {
            invalid_client(res);
            return false;
        }
        return true;
    }
    if (!id || !secret || !copy_value(id, c->id, sizeof c->id, &c->id_len) ||
        !copy_value(secret, c->secret, sizeof c->secret, &c->secret_len)) {
        invalid_client(res);
        return false;
    }
    return true;
}

/* 200 {"access_token","token_type","expires_in","scope"}. */
static void issue(struct api_thread *t, const struct app_record *app, unsigned scopes,
                  struct http_response *res)
{
    const struct api_config *cfg = &t->app->cfg;
    struct token_claims claims = {
        .app_id = app->id,
        .generation = app->generation,
        .scopes = scopes,
        .region = cfg->region,
        .expires_at = time_now() + cfg->token_ttl,
    };
    char tok[TOKEN_MAX_LEN + 1];
    cl_err err = token_sign(t->app->token_key, &claims, tok);
    if (err) {
        unavailable(res, err, "signing a token");
        return;
    }
    begin(res, 200);
    buf_puts(res->body, "{\"access_token\":");
    json_cstr(res->body, tok);
    buf_puts(res->body, ",\"token_type\":\"Bearer\",\"expires_in\":");
    json_int(res->body, cfg->token_ttl);
    buf_puts(res->body, ",\"scope\":");
    json_cstr(res->body, scope_name(scopes));
    buf_putc(res->body, '}');
    metrics_inc(t->metrics, METRICS_TOKENS_ISSUED);
}

void h_token(struct api_thread *t, const struct http_request *req, struct http_response *res)
{
    char msg[CL_ERRMSG_MAX] = "";
    struct form *f = &t->form;

    if (!is_form(&req->content_type)) {
        oauth_error(res, 400, "invalid_request",
                    "The request body must be application/x-www-form-urlencoded.");
        return;
    }
    cl_err err =
        form_parse(req->body.p ? req->body.p : "", req->body.n, t->arena, sizeof t->arena, f, msg);
    if (err) {
        /* form_parse's messages are printable ASCII and quote no values. */
        oauth_error(res, 400, "invalid_request", msg);
        return;
    }
    if (reject_repeated(f, res))
        return;

    const struct form_param *grant = param(f, "grant_type");
    if (!grant) {
        oauth_error(res, 400, "invalid_request", "The grant_type parameter is required.");
        return;
    }
    if (strcmp(grant->value, GRANT_CLIENT_CREDS) != 0) {
        oauth_error(res, 400, "unsupported_grant_type",
                    "Only the client_credentials grant type is supported.");
        return;
    }

    struct client_creds creds;
    if (!client_creds(req, f, &creds, res))
        return;
    struct app_record app;
    err = authenticate(t->store, &creds, &app, msg);
    if (err == CL_EAUTH) {
        invalid_client(res);
        return;
    }
    if (err) {
        if (err == CL_EBUSY || err == CL_ESTORE)
            metrics_db_error();
        unavailable(res, err, msg);
        return;
    }
    snprintf(res->app, sizeof res->app, "%s", app.client_id);
    /* The app's rate limit covers its token requests too: a client that
     * fetches a token per call must not get around it. */
    if (!api_throttle(t, app.id, res)) {
        http_response_header(res, "Cache-Control", "no-store");
        http_response_header(res, "Pragma", "no-cache");
        return;
    }

    /* Without a scope parameter the token gets all the app's scopes (§3.3). */
    unsigned scopes = app.scopes;
    const struct form_param *scope = param(f, "scope");
    if (scope) {
        unsigned want = 0;
        if (!scope_parse(scope->value, scope->value_len, &want)) {
            oauth_error(res, 400, "invalid_scope",
                        "The scope must be 'read', 'write' or 'read write'.");
            return;
        }
        if ((want & ~app.scopes) != 0) {
            oauth_error(res, 400, "invalid_scope",
                        "The requested scope exceeds the scope granted to the client.");
            return;
        }
        scopes = want;
    }
    issue(t, &app, scopes, res);
}
