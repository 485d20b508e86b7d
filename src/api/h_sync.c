/* GET /v7/rest/sync/close-loop: one page of the cursor-ordered case feed
 * (SPEC §1-§2). Cases stream from the store straight into the response
 * body, so a page costs no intermediate copies. */
#include <stdint.h>
#include <string.h>

#include "api/internal.h"
#include "common/json.h"
#include "common/timeutil.h"

#define PER_PAGE_DEFAULT 100
#define PER_PAGE_MAX     1000
#define SECONDS_PER_DAY  86400

#define P_PER_PAGE "per_page"
#define P_CURSOR   "cursor"
#define P_START    "updated_at[start]"
#define P_END      "updated_at[end]"

struct sync_params {
    unsigned per_page;
    int64_t cursor;
    int64_t updated_lo; /* inclusive, or INT64_MIN */
    int64_t updated_hi; /* exclusive, or INT64_MAX */
};

/* Finds parameter name, which may appear at most once. Returns it in *p
 * (NULL when absent); false (with the error recorded) when repeated. */
static bool single_param(const struct form *f, const char *name, const struct form_param **p,
                         struct api_invalid *inv)
{
    if (form_find(f, name, p) > 1) {
        api_invalid_add(inv, name, "The %s parameter must not be repeated.", name);
        *p = NULL;
        return false;
    }
    return true;
}

/* Parses an updated_at bound into the epoch second of its midnight. */
static bool date_param(const struct form *f, const char *name, int64_t *day,
                       struct api_invalid *inv)
{
    const struct form_param *p;

    if (!single_param(f, name, &p, inv) || !p)
        return false;
    if (!time_parse_date(p->value, p->value_len, day)) {
        api_invalid_add(inv, name, "The %s must be a date in the format YYYY-mm-dd.", name);
        return false;
    }
    return true;
}

/* Validates every parameter, collecting all errors into inv. */
static void sync_params_parse(const struct form *f, struct sync_params *out,
                              struct api_invalid *inv)
{
    const struct form_param *p;
    int64_t v;

    out->per_page = PER_PAGE_DEFAULT;
    if (single_param(f, P_PER_PAGE, &p, inv) && p) {
        if (api_parse_digits(p->value, p->value_len, &v) && v >= 1 && v <= PER_PAGE_MAX)
            out->per_page = (unsigned)v;
        else
            api_invalid_add(inv, P_PER_PAGE, "The per_page must be an integer between 1 and %d.",
                            PER_PAGE_MAX);
    }

    out->cursor = 0;
    if (single_param(f, P_CURSOR, &p, inv) && p) {
        if (api_parse_digits(p->value, p->value_len, &v))
            out->cursor = v;
        else
            api_invalid_add(inv, P_CURSOR,
                            "The cursor must be a non-negative integer returned by the API.");
    }

    /* Whole days, both inclusive: [start 00:00:00, end + 1 day). */
    int64_t start, end;
    bool has_start = date_param(f, P_START, &start, inv);
    bool has_end = date_param(f, P_END, &end, inv);
    out->updated_lo = has_start ? start : INT64_MIN;
    out->updated_hi = has_end ? end + SECONDS_PER_DAY : INT64_MAX;
    if (has_start && has_end && start > end)
        api_invalid_add(inv, P_END, "The %s must be a date after or equal to %s.", P_END, P_START);
}

struct page_writer {
    struct buf *body;
    size_t count;
    int64_t last_seq;
};

static cl_err write_case(void *ud, const struct case_record *c)
{
    struct page_writer *w = ud;

    if (w->count++)
        buf_putc(w->body, ',');
    api_case_json(w->body, c);
    w->last_seq = c->seq;
    /* Stop reading rows as soon as the response cannot hold them. */
    return w->body->err;
}

void h_sync(struct api_thread *t, const struct http_request *req, struct http_response *res)
{
    char msg[CL_ERRMSG_MAX] = "";
    struct api_invalid inv = {0};
    struct sync_params sp;

    t->form.n = 0;
    if (req->query.p && req->query.n &&
        form_parse(req->query.p, req->query.n, t->arena, sizeof t->arena, &t->form, msg)) {
        api_message(res, 400, "Malformed query string.");
        return;
    }
    sync_params_parse(&t->form, &sp, &inv);
    if (inv.n) {
        api_invalid_respond(res, &inv);
        return;
    }

    struct page_query q = {
        .cursor = sp.cursor,
        .limit = sp.per_page,
        .updated_lo = sp.updated_lo,
        .updated_hi = sp.updated_hi,
    };
    struct page_writer w = {.body = res->body, .count = 0, .last_seq = sp.cursor};

    buf_reset(res->body);
    buf_puts(res->body, "{\"data\":[");
    cl_err err = store_page_fetch(t->store, &q, write_case, &w, msg);
    if (err) {
        /* A full buffer is reported as the response failure it is. */
        api_store_error(res, err, buf_failed(res->body) ? "response body" : msg);
        return;
    }
    /* An empty page keeps the caller's cursor, so cursor.next is never null. */
    buf_puts(res->body, "],\"cursor\":{\"next\":");
    json_int(res->body, w.last_seq);
    buf_puts(res->body, "}}");
    res->status = 200;
    res->content_type = "application/json";
}
