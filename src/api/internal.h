/* What the API's files share: the per-thread context, the response helpers
 * and the handlers. Not used outside src/api. */
#ifndef CL_API_INTERNAL_H
#define CL_API_INTERNAL_H

#include <stdbool.h>

#include "api/api.h"
#include "auth/app_cache.h"
#include "common/form.h"
#include "transport/http.h"
#include "transport/server.h"

#define API_MAX_FIELD_ERRORS 8
#define API_FIELD_MAX        64
#define API_MESSAGE_MAX      160
/* Decoded form data never exceeds its encoded size, see form_parse. */
#define API_ARENA_BYTES      (HTTP_MAX_BODY_BYTES + 2 * FORM_MAX_PARAMS)

/* One per worker thread. */
struct api_thread {
    const struct api_app *app;
    struct store *store;
    struct app_cache *apps;
    char arena[API_ARENA_BYTES]; /* scratch for form decoding */
    struct form form;            /* scratch for the parsed query or body */
};

/* ---- responses (respond.c) ------------------------------------------- */

/* {"message":"..."} with status; sets Content-Type: application/json. */
void api_message(struct http_response *res, int status, const char *message);

/* 404 {"message":"Not Found."} */
void api_not_found(struct http_response *res);

/* 503 or 500 for a store error, without internals; logs the detail. */
void api_store_error(struct http_response *res, cl_err err, const char *detail);

/* Validation errors, collected then answered as one 422:
 * {"message":"<first>[ (and N more errors)]","errors":{"<field>":["<msg>"],...}} */
struct api_invalid {
    size_t n;
    struct {
        char field[API_FIELD_MAX];
        char message[API_MESSAGE_MAX];
    } e[API_MAX_FIELD_ERRORS];
};
void api_invalid_add(struct api_invalid *v, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void api_invalid_respond(struct http_response *res, const struct api_invalid *v);

/* ---- authentication (authn.c) ---------------------------------------- */

/* Checks the Bearer token of req and that it grants scope. Returns true when
 * the request may proceed; otherwise res holds the 401 (with
 * WWW-Authenticate: Bearer) or 403, or a 503 when the app cache cannot reload. */
bool api_authorize(struct api_thread *t, const struct http_request *req,
                   struct http_response *res, unsigned scope);

/* ---- handlers: one file each ----------------------------------------- */

typedef void api_handler_fn(struct api_thread *t, const struct http_request *req,
                            struct http_response *res);

api_handler_fn h_token;  /* POST /oauth2/token             (h_token.c) */
api_handler_fn h_sync;   /* GET  /v7/rest/sync/close-loop  (h_sync.c) */
api_handler_fn h_status; /* PUT  /v7/rest/close-loop/status (h_status.c) */

#endif
