/* case_body_parse, which reads the body of every PUT to the write endpoints,
 * on arbitrary bytes. The first byte picks the Content-Type (or says that it
 * is the input's first line), the second the action kind; the rest is the
 * body. An accepted action must satisfy every rule case_body.h documents; a
 * rejected one must leave a well-formed 400, 415 or 422 and nothing to
 * release. Parsing never touches the store, so the thread context has none. */
#include <jansson.h>
#include <string.h>

#include "api/case_body.h"
#include "common/timeutil.h"
#include "fuzz_util.h"

#define RESPONSE_LIMIT (1u << 20)

static const char *const content_types[] = {
    "application/json",
    "application/x-www-form-urlencoded",
    " Application/JSON ; charset=utf-8",
    "application/x-www-form-urlencoded; charset=UTF-8",
    "text/plain",
    NULL, /* no Content-Type header */
};
#define N_FIXED_TYPES  (sizeof content_types / sizeof content_types[0])
#define N_TYPE_CHOICES (N_FIXED_TYPES + 2) /* the rest: the type is the first line */

enum media { MEDIA_JSON, MEDIA_FORM, MEDIA_OTHER };

static struct api_thread *thread;

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* The reference reading of a Content-Type: the media type before any ';',
 * without surrounding blanks, in any case. */
static enum media ref_media(const struct http_str *ct)
{
    if (!ct->p)
        return MEDIA_OTHER;
    size_t start = 0, end = 0;
    while (end < ct->n && ct->p[end] != ';')
        end++;
    while (start < end && is_blank(ct->p[start]))
        start++;
    while (end > start && is_blank(ct->p[end - 1]))
        end--;
    char type[64];
    size_t n = end - start;
    if (n >= sizeof type)
        return MEDIA_OTHER;
    for (size_t i = 0; i < n; i++) {
        char c = ct->p[start + i];
        type[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    type[n] = '\0';
    if (strlen(type) != n)
        return MEDIA_OTHER;
    if (strcmp(type, "application/json") == 0)
        return MEDIA_JSON;
    if (strcmp(type, "application/x-www-form-urlencoded") == 0)
        return MEDIA_FORM;
    return MEDIA_OTHER;
}

static bool inside(const char *p, const char *start, size_t n)
{
    return p >= start && p < start + n;
}

/* An error response: JSON with a message, and for 422 the fields' errors. */
static void check_rejection(const struct http_response *res)
{
    FUZZ_CHECK(res->status == 400 || res->status == 415 || res->status == 422);
    FUZZ_CHECK(res->content_type && strcmp(res->content_type, "application/json") == 0);
    FUZZ_CHECK(!buf_failed(res->body));
    json_error_t jerr;
    json_t *j = json_loadb(res->body->data, res->body->len, 0, &jerr);
    FUZZ_CHECK(j && json_is_string(json_object_get(j, "message")));
    json_t *errors = json_object_get(j, "errors");
    FUZZ_CHECK((res->status == 422) == (errors != NULL));
    if (errors) {
        const char *field;
        json_t *msgs;
        FUZZ_CHECK(json_is_object(errors) && json_object_size(errors) > 0);
        json_object_foreach(errors, field, msgs)
        {
            FUZZ_CHECK(json_is_array(msgs) && json_array_size(msgs) > 0);
            FUZZ_CHECK(json_is_string(json_array_get(msgs, 0)));
        }
    }
    json_decref(j);
}

static void check_action(const struct case_body *body, enum case_action_kind kind, bool json)
{
    const struct case_action *a = &body->action;
    FUZZ_CHECK(a->kind == kind && (body->doc != NULL) == json);
    FUZZ_CHECK(a->number >= 1 && a->number <= CASE_NUMBER_MAX);
    if (kind == ACTION_STATUS)
        FUZZ_CHECK(a->status == CASE_OPEN || a->status == CASE_PROGRESS ||
                   a->status == CASE_CLOSED);
    if (kind == ACTION_COMMENT)
        FUZZ_CHECK(a->note != NULL);
    if (kind == ACTION_ASSIGN)
        FUZZ_CHECK(a->note == NULL);
    else
        FUZZ_CHECK(a->assignee == NULL);
    if (a->note) {
        FUZZ_CHECK(a->note_len > 0 && a->note_len <= CASE_NOTE_MAX);
        FUZZ_CHECK(strlen(a->note) == a->note_len && fuzz_utf8_valid(a->note, a->note_len));
        FUZZ_CHECK(json || inside(a->note, thread->arena, sizeof thread->arena));
    }
    if (a->assignee) {
        size_t n = strlen(a->assignee);
        FUZZ_CHECK(n > 0 && n <= USER_EMAIL_MAX && fuzz_utf8_valid(a->assignee, n));
        FUZZ_CHECK(json || inside(a->assignee, thread->arena, sizeof thread->arena));
    }
    if (a->has_happened_at) {
        char text[TIME_FORMAT_LEN + 1];
        int64_t back;
        time_format(a->happened_at, text);
        FUZZ_CHECK(time_parse_datetime(text, TIME_FORMAT_LEN, &back) && back == a->happened_at);
    }
    if (json) {
        /* A JSON integer is taken as it is. */
        const json_t *num = json_object_get(body->doc, "number_customergauge");
        FUZZ_CHECK(json_is_integer(num) ? json_integer_value(num) == a->number
                                        : json_is_string(num));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    if (!thread) {
        /* Large (the form arena), so on the heap, and reused like a
         * worker's: stale arena bytes from the last input stay behind. */
        thread = calloc(1, sizeof *thread);
        FUZZ_CHECK(thread);
    }
    size_t choice = data[0] % N_TYPE_CHOICES;
    enum case_action_kind kind = (enum case_action_kind)(data[1] % 3);
    /* jansson is not instrumented: a guard page catches its reads past the end. */
    const char *p = fuzz_guarded(data + 2, size - 2, HTTP_MAX_BODY_BYTES + 1024);
    const char *end = p + size - 2;

    struct http_request req = {0};
    if (choice < N_FIXED_TYPES) {
        const char *ct = content_types[choice];
        req.content_type = (struct http_str){ct, ct ? strlen(ct) : 0};
    } else {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        req.content_type = (struct http_str){p, nl ? (size_t)(nl - p) : (size_t)(end - p)};
        p = nl ? nl + 1 : end;
    }
    /* The transport lends the handler the whole body, never NULL when empty. */
    req.body = (struct http_str){p, (size_t)(end - p)};
    if (req.body.n > HTTP_MAX_BODY_BYTES)
        return 0;

    struct buf out;
    buf_init(&out, RESPONSE_LIMIT);
    struct http_response res = {.body = &out};
    struct case_body body;
    memset(&body, 0xa5, sizeof body); /* case_body_parse must set all it promises */

    /* An empty body is a body without fields, whatever its type. */
    enum media media = req.body.n > 0 ? ref_media(&req.content_type) : MEDIA_FORM;
    if (case_body_parse(thread, &req, kind, &body, &res)) {
        FUZZ_CHECK(media != MEDIA_OTHER);
        FUZZ_CHECK(res.status == 0 && out.len == 0);
        check_action(&body, kind, media == MEDIA_JSON);
        case_body_release(&body);
        case_body_release(&body);
        FUZZ_CHECK(body.doc == NULL);
    } else {
        FUZZ_CHECK(body.doc == NULL);
        FUZZ_CHECK((res.status == 415) == (media == MEDIA_OTHER));
        check_rejection(&res);
    }
    buf_free(&out);
    return 0;
}
