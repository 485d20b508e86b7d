/* Reading, validating and applying the body of a case write (see
 * case_body.h). JSON and form bodies are read through one small accessor, so
 * that the validation rules, and their messages, exist once for both. */
#include <string.h>
#include <strings.h>

#include "api/case_body.h"

#include "cases/service.h"
#include "common/log.h"
#include "common/json.h"
#include "common/timeutil.h"

#define MEDIA_JSON_NAME "application/json"
#define MEDIA_FORM_NAME "application/x-www-form-urlencoded"

#define F_NUMBER      "number_customergauge"
#define F_STATUS      "status"
#define F_NOTE        "note"
#define F_ASSIGNEE    "assignee"
#define F_HAPPENED_AT "happened_at"

enum media { MEDIA_JSON, MEDIA_FORM, MEDIA_OTHER };

/* Where the fields come from: a JSON object, or a parsed form. */
struct source {
    const json_t *obj;       /* when JSON */
    const struct form *form; /* when form-encoded (or an empty body) */
};

enum value_kind {
    V_ABSENT,   /* the field is not in the body */
    V_NULL,     /* null, or the empty string (Laravel's ConvertEmptyStringsToNull) */
    V_STRING,   /* a non-empty string */
    V_INTEGER,  /* a JSON integer */
    V_OTHER,    /* any other JSON type */
    V_REPEATED, /* a form field given more than once */
};

struct value {
    enum value_kind kind;
    const char *s; /* V_STRING: NUL-terminated, valid while the source is */
    size_t n;
    int64_t i; /* V_INTEGER */
};

/* The media type of a Content-Type value: case-insensitive, parameters
 * such as charset ignored (RFC 9110 §8.3.1). */
static enum media media_type(const struct http_str *ct)
{
    if (!ct->p)
        return MEDIA_OTHER;
    const char *p = ct->p, *end = ct->p + ct->n;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    const char *semi = memchr(p, ';', (size_t)(end - p));
    if (semi)
        end = semi;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t n = (size_t)(end - p);
    if (n == strlen(MEDIA_JSON_NAME) && strncasecmp(p, MEDIA_JSON_NAME, n) == 0)
        return MEDIA_JSON;
    if (n == strlen(MEDIA_FORM_NAME) && strncasecmp(p, MEDIA_FORM_NAME, n) == 0)
        return MEDIA_FORM;
    return MEDIA_OTHER;
}

static struct value get_value(const struct source *src, const char *name)
{
    struct value v = {.kind = V_ABSENT};

    if (src->obj) {
        const json_t *j = json_object_get(src->obj, name);
        if (!j)
            return v;
        if (json_is_null(j)) {
            v.kind = V_NULL;
        } else if (json_is_string(j)) {
            v.s = json_string_value(j);
            v.n = json_string_length(j);
            v.kind = v.n ? V_STRING : V_NULL;
        } else if (json_is_integer(j)) {
            v.kind = V_INTEGER;
            v.i = json_integer_value(j);
        } else {
            v.kind = V_OTHER;
        }
        return v;
    }

    const struct form_param *p;
    size_t count = form_find(src->form, name, &p);
    if (count > 1) {
        v.kind = V_REPEATED;
    } else if (count == 1) {
        v.s = p->value;
        v.n = p->value_len;
        v.kind = v.n ? V_STRING : V_NULL;
    }
    return v;
}

/* Whether s[0..n) is well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF). JSON strings always are; form-encoded
 * ones are whatever the percent escapes decode to. */
static bool utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned char c = s[i];
        size_t len;
        unsigned cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

/* Reads a field, recording a repeated form field as an error. */
static struct value field(const struct source *src, const char *name, struct api_invalid *inv)
{
    struct value v = get_value(src, name);

    if (v.kind == V_REPEATED)
        api_invalid_add(inv, name, "The %s field must not be repeated.", name);
    return v;
}

static void check_number(const struct source *src, struct case_action *a, struct api_invalid *inv)
{
    struct value v = field(src, F_NUMBER, inv);
    int64_t n = 0;
    bool ok;

    switch (v.kind) {
    case V_REPEATED:
        return;
    case V_ABSENT:
    case V_NULL:
        api_invalid_add(inv, F_NUMBER, "The %s field is required.", F_NUMBER);
        return;
    case V_INTEGER:
        n = v.i;
        ok = true;
        break;
    case V_STRING:
        /* Sent as a string or a number alike (SPEC §1). */
        ok = api_parse_digits(v.s, v.n, &n);
        break;
    default:
        ok = false;
        break;
    }
    if (!ok || n < 1 || n > CASE_NUMBER_MAX) {
        api_invalid_add(inv, F_NUMBER, "The %s must be a positive integer.", F_NUMBER);
        return;
    }
    a->number = n;
}

static void check_status(const struct source *src, struct case_action *a, struct api_invalid *inv)
{
    struct value v = field(src, F_STATUS, inv);

    if (v.kind == V_REPEATED)
        return;
    if (v.kind == V_ABSENT || v.kind == V_NULL) {
        api_invalid_add(inv, F_STATUS, "The %s field is required.", F_STATUS);
        return;
    }
    if (v.kind != V_STRING || !case_status_parse(v.s, v.n, &a->status))
        api_invalid_add(inv, F_STATUS,
                        "The selected %s is invalid. Valid values: open, progress, closed.",
                        F_STATUS);
}

static void check_note(const struct source *src, bool required, struct case_action *a,
                       struct api_invalid *inv)
{
    struct value v = field(src, F_NOTE, inv);

    switch (v.kind) {
    case V_REPEATED:
        return;
    case V_ABSENT:
    case V_NULL:
        if (required)
            api_invalid_add(inv, F_NOTE, "The %s field is required.", F_NOTE);
        return;
    case V_STRING:
        break;
    default:
        api_invalid_add(inv, F_NOTE, "The %s must be a string.", F_NOTE);
        return;
    }
    if (v.n > CASE_NOTE_MAX) {
        api_invalid_add(inv, F_NOTE, "The %s may not be greater than %d bytes.", F_NOTE,
                        CASE_NOTE_MAX);
        return;
    }
    if (!utf8_valid((const unsigned char *)v.s, v.n)) {
        api_invalid_add(inv, F_NOTE, "The %s must be valid UTF-8.", F_NOTE);
        return;
    }
    /* Only a form body can carry one (%00; JSON's \u0000 is refused as
     * malformed). PostgreSQL's text cannot hold it, and a note must read
     * back the same on every backend. */
    if (memchr(v.s, '\0', v.n)) {
        api_invalid_add(inv, F_NOTE, "The %s must not contain NUL characters.", F_NOTE);
        return;
    }
    a->note = v.s;
    a->note_len = v.n;
}

/* The assignee must be present; null (or "") unassigns. Whether the user
 * exists is the case service's question, answered inside its transaction. */
static void check_assignee(const struct source *src, struct case_action *a, struct api_invalid *inv)
{
    struct value v = field(src, F_ASSIGNEE, inv);

    switch (v.kind) {
    case V_REPEATED:
        return;
    case V_ABSENT:
        api_invalid_add(inv, F_ASSIGNEE, "The %s field must be present.", F_ASSIGNEE);
        return;
    case V_NULL:
        a->assignee = NULL;
        return;
    case V_STRING:
        break;
    default:
        api_invalid_add(inv, F_ASSIGNEE, "The %s must be a username, an email address or null.",
                        F_ASSIGNEE);
        return;
    }
    /* No username or email is longer; this also bounds the error message. */
    if (v.n > USER_EMAIL_MAX) {
        api_invalid_add(inv, F_ASSIGNEE, "The %s may not be greater than %d bytes.", F_ASSIGNEE,
                        USER_EMAIL_MAX);
        return;
    }
    if (!utf8_valid((const unsigned char *)v.s, v.n)) {
        api_invalid_add(inv, F_ASSIGNEE, "The %s must be valid UTF-8.", F_ASSIGNEE);
        return;
    }
    a->assignee = v.s;
}

static void check_happened_at(const struct source *src, struct case_action *a,
                              struct api_invalid *inv)
{
    struct value v = field(src, F_HAPPENED_AT, inv);

    if (v.kind == V_REPEATED || v.kind == V_ABSENT || v.kind == V_NULL)
        return;
    if (v.kind != V_STRING || !time_parse_datetime(v.s, v.n, &a->happened_at)) {
        api_invalid_add(inv, F_HAPPENED_AT, "The %s must be a date in the format YYYY-mm-dd H:i:s.",
                        F_HAPPENED_AT);
        return;
    }
    a->has_happened_at = true;
}

/* Validates the fields of kind, in the order the API documents them. */
static void validate(const struct source *src, enum case_action_kind kind, struct case_action *a,
                     struct api_invalid *inv)
{
    memset(a, 0, sizeof *a);
    a->kind = kind;
    check_number(src, a, inv);
    switch (kind) {
    case ACTION_STATUS:
        check_status(src, a, inv);
        check_note(src, false, a, inv);
        break;
    case ACTION_ASSIGN:
        check_assignee(src, a, inv);
        break;
    case ACTION_COMMENT:
        check_note(src, true, a, inv);
        break;
    }
    check_happened_at(src, a, inv);
}

void case_body_release(struct case_body *b)
{
    if (!b)
        return;
    json_decref(b->doc);
    b->doc = NULL;
}

bool case_body_parse(struct api_thread *t, const struct http_request *req,
                     enum case_action_kind kind, struct case_body *out, struct http_response *res)
{
    char msg[CL_ERRMSG_MAX] = "";
    struct api_invalid inv = {0};
    struct source src = {.obj = NULL, .form = &t->form};

    out->doc = NULL;
    t->form.n = 0;
    /* An empty body is a request without fields, whatever its type claims:
     * the 422 listing the required fields helps more than a 415. */
    if (req->body.n > 0) {
        switch (media_type(&req->content_type)) {
        case MEDIA_JSON: {
            json_error_t jerr;
            out->doc = json_loadb(req->body.p, req->body.n, JSON_REJECT_DUPLICATES, &jerr);
            /* An integer beyond int64 is valid JSON, merely out of range:
             * read such a body with integers as reals, which no integer
             * field accepts, so the answer is the field's 422. */
            if (!out->doc && json_error_code(&jerr) == json_error_numeric_overflow)
                out->doc = json_loadb(req->body.p, req->body.n,
                                      JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &jerr);
            if (!out->doc) {
                api_message(res, 400, "Malformed JSON body.");
                return false;
            }
            if (!json_is_object(out->doc)) {
                case_body_release(out);
                api_message(res, 400, "The request body must be a JSON object.");
                return false;
            }
            src.obj = out->doc;
            break;
        }
        case MEDIA_FORM:
            if (form_parse(req->body.p, req->body.n, t->arena, sizeof t->arena, &t->form, msg)) {
                api_message(res, 400, "Malformed form body.");
                return false;
            }
            break;
        case MEDIA_OTHER:
            api_message(res, 415,
                        "Unsupported Media Type: use application/json or "
                        "application/x-www-form-urlencoded.");
            return false;
        }
    }

    validate(&src, kind, &out->action, &inv);
    if (inv.n) {
        case_body_release(out);
        api_invalid_respond(res, &inv);
        return false;
    }
    return true;
}

void case_body_answer(const struct case_write_result *r, struct http_response *res)
{
    if (r->err == CL_EINVAL) {
        struct api_invalid inv = {0};
        api_invalid_add(&inv, r->field ? r->field : F_HAPPENED_AT, "%s", r->msg);
        api_invalid_respond(res, &inv);
        return;
    }
    if (r->err) {
        api_store_error(res, r->err, r->msg);
        return;
    }

    buf_reset(res->body);
    buf_puts(res->body, "{\"data\":");
    api_case_json(res->body, &r->c);
    buf_putc(res->body, '}');
    res->status = r->outcome == CASE_CREATED ? 201 : 200;
    res->content_type = "application/json";
}

void case_body_handle(struct api_thread *t, const struct http_request *req,
                      enum case_action_kind kind, struct http_response *res)
{
    struct case_body body;

    if (!case_body_parse(t, req, kind, &body, res))
        return;
    /* The writer applies it with whatever else waits, in one transaction,
     * and answers once that has committed (writer.c). */
    cl_err err = writer_submit(t->app->writer, &body.action, res);
    case_body_release(&body);
    if (err == CL_EBUSY) {
        /* Not a database error: the server has more writes in hand than it
         * lets wait. */
        log_warn("write refused: %d writes wait for the database already", WRITER_QUEUE_MAX);
        api_message(res, 503, "Service Unavailable.");
        http_response_header(res, "Retry-After", "1");
    } else if (err) {
        api_store_error(res, err, "queueing a write");
    }
}
