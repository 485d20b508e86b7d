/* Response helpers shared by the handlers: the JSON error bodies of SPEC §2
 * and the one JSON encoding of a case, used by the sync feed and the write
 * endpoints alike so that both always agree. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api/internal.h"
#include "common/json.h"
#include "common/log.h"

#define JSON_TYPE          "application/json"
/* Room for " (and N more errors)" with N of up to 20 digits. */
#define SUMMARY_SUFFIX_MAX 48

void api_message(struct http_response *res, int status, const char *message)
{
    /* A handler may have started streaming a body before it failed. */
    buf_reset(res->body);
    res->status = status;
    res->content_type = JSON_TYPE;
    buf_puts(res->body, "{\"message\":");
    json_cstr(res->body, message);
    buf_putc(res->body, '}');
}

void api_not_found(struct http_response *res)
{
    api_message(res, 404, "Not Found.");
}

void api_store_error(struct http_response *res, cl_err err, const char *detail)
{
    log_error("request failed: %s: %s", cl_strerror(err), detail && *detail ? detail : "-");
    /* Only the store returns these two; a body over its cap is no db error. */
    if (err == CL_EBUSY || err == CL_ESTORE)
        metrics_db_error();
    if (err == CL_EBUSY) {
        api_message(res, 503, "Service Unavailable.");
        http_response_header(res, "Retry-After", "1");
        return;
    }
    api_message(res, 500, "Server Error.");
}

void api_invalid_add(struct api_invalid *v, const char *field, const char *fmt, ...)
{
    /* Every endpoint has fewer fields than slots; dropping beyond the cap
     * keeps the response well-formed should that ever change. */
    if (v->n >= API_MAX_FIELD_ERRORS)
        return;
    snprintf(v->e[v->n].field, sizeof v->e[v->n].field, "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->e[v->n].message, sizeof v->e[v->n].message, fmt, ap);
    va_end(ap);
    v->n++;
}

/* Whether the field of error i already appeared in an earlier error, whose
 * array then holds all of its messages. */
static bool field_seen_before(const struct api_invalid *v, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (strcmp(v->e[j].field, v->e[i].field) == 0)
            return true;
    return false;
}

void api_invalid_respond(struct http_response *res, const struct api_invalid *v)
{
    struct buf *b = res->body;

    buf_reset(b);
    res->status = 422;
    res->content_type = JSON_TYPE;
    if (v->n == 0) {
        /* Callers only respond with errors collected; stay valid regardless. */
        buf_puts(b, "{\"message\":\"The given data was invalid.\",\"errors\":{}}");
        return;
    }

    /* The summary reads as Laravel's: "<first> (and N more error(s))". */
    char summary[API_MESSAGE_MAX + SUMMARY_SUFFIX_MAX];
    size_t more = v->n - 1;
    if (more == 0)
        snprintf(summary, sizeof summary, "%s", v->e[0].message);
    else
        snprintf(summary, sizeof summary, "%s (and %zu more error%s)", v->e[0].message, more,
                 more == 1 ? "" : "s");
    buf_puts(b, "{\"message\":");
    json_cstr(b, summary);
    buf_puts(b, ",\"errors\":{");

    /* Fields in the order first added; a field's messages share one array. */
    bool first_field = true;
    for (size_t i = 0; i < v->n; i++) {
        if (field_seen_before(v, i))
            continue;
        if (!first_field)
            buf_putc(b, ',');
        first_field = false;
        json_cstr(b, v->e[i].field);
        buf_puts(b, ":[");
        bool first_msg = true;
        for (size_t j = i; j < v->n; j++) {
            if (strcmp(v->e[j].field, v->e[i].field) != 0)
                continue;
            if (!first_msg)
                buf_putc(b, ',');
            first_msg = false;
            json_cstr(b, v->e[j].message);
        }
        buf_putc(b, ']');
    }
    buf_puts(b, "}}");
}

/* The appending form of api_case_json: the fallback when the bound of the
 * direct form does not fit under the buffer's cap (but the case might). */
static void case_json_append(struct buf *b, const struct case_record *c)
{
    buf_puts(b, "{\"id\":");
    json_int(b, c->id);
    buf_puts(b, ",\"number_customergauge\":");
    json_int(b, c->number);
    buf_puts(b, ",\"status\":");
    json_cstr(b, case_status_name(c->status));
    buf_puts(b, ",\"assignee\":");
    if (c->has_assignee) {
        buf_puts(b, "{\"id\":");
        json_int(b, c->assignee.id);
        buf_puts(b, ",\"username\":");
        json_cstr(b, c->assignee.username);
        buf_puts(b, ",\"email\":");
        json_cstr(b, c->assignee.email);
        buf_putc(b, '}');
    } else {
        buf_puts(b, "null");
    }
    buf_puts(b, ",\"time_to_follow_up\":");
    json_int_or_null(b, c->time_to_follow_up);
    buf_puts(b, ",\"time_to_close\":");
    json_int_or_null(b, c->time_to_close);
    buf_puts(b, ",\"created_at\":");
    json_time(b, c->created_at);
    buf_puts(b, ",\"updated_at\":");
    json_time(b, c->updated_at);
    buf_putc(b, '}');
}

/* The fixed text of a case: its keys, punctuation and the null assignee,
 * with room to spare (about 190 bytes today). */
#define CASE_JSON_FIXED 256

void api_case_json(struct buf *b, const struct case_record *c)
{
    /* Every case of a sync page comes through here: one bounds check and
     * direct writes instead of an append per token. Same bytes as
     * case_json_append (tests/unit/test_json.c holds them equal). */
    const char *status = case_status_name(c->status);
    size_t slen = status ? strlen(status) : 0;
    size_t ulen = c->has_assignee ? strlen(c->assignee.username) : 0;
    size_t elen = c->has_assignee ? strlen(c->assignee.email) : 0;
    size_t max = CASE_JSON_FIXED + 4 * JSON_INT_MAX + 2 * JSON_TIME_MAX + JSON_STR_MAX(slen) +
                 JSON_STR_MAX(ulen) + JSON_STR_MAX(elen);
    char *o = json_begin(b, max);
    if (!o || !status) {
        case_json_append(b, c);
        return;
    }
    o = JSON_PUT_LIT(o, "{\"id\":");
    o = json_put_int(o, c->id);
    o = JSON_PUT_LIT(o, ",\"number_customergauge\":");
    o = json_put_int(o, c->number);
    o = JSON_PUT_LIT(o, ",\"status\":");
    o = json_put_str(o, status, slen);
    if (c->has_assignee) {
        o = JSON_PUT_LIT(o, ",\"assignee\":{\"id\":");
        o = json_put_int(o, c->assignee.id);
        o = JSON_PUT_LIT(o, ",\"username\":");
        o = json_put_str(o, c->assignee.username, ulen);
        o = JSON_PUT_LIT(o, ",\"email\":");
        o = json_put_str(o, c->assignee.email, elen);
        o = JSON_PUT_LIT(o, "}");
    } else {
        o = JSON_PUT_LIT(o, ",\"assignee\":null");
    }
    o = JSON_PUT_LIT(o, ",\"time_to_follow_up\":");
    o = json_put_int_or_null(o, c->time_to_follow_up);
    o = JSON_PUT_LIT(o, ",\"time_to_close\":");
    o = json_put_int_or_null(o, c->time_to_close);
    o = JSON_PUT_LIT(o, ",\"created_at\":");
    o = json_put_time(o, c->created_at);
    o = JSON_PUT_LIT(o, ",\"updated_at\":");
    o = json_put_time(o, c->updated_at);
    o = JSON_PUT_LIT(o, "}");
    json_end(b, o);
}
