/* page_parse, the client's hand-written parser of sync pages: the bytes of
 * a server the client does not control. Compared with jansson both ways:
 * whatever page_parse accepts is valid JSON, and each case it returns says
 * what jansson reads there (its compact copy parses to an equal value);
 * whatever jansson reads as a well-typed page, page_parse accepts. */
#include <jansson.h>
#include <string.h>

#include "client/parse.h"
#include "fuzz_util.h"

#define REVERSE_MAX_DEPTH 16         /* well inside PARSE_MAX_DEPTH */
#define MAX_PAGE          (1u << 20) /* far above make fuzz's -max_len */

/* Reused across inputs, as a sync reuses it across pages. */
static struct parsed_page page;

static bool inside(const char *p, const char *start, size_t n)
{
    return p >= start && p < start + n;
}

/* Loads JSON as the parser's contract reads it: integers beyond int64 are
 * valid JSON, merely not integers. NULL when jansson cannot represent it. */
static json_t *load(const char *s, size_t n, size_t flags)
{
    json_error_t err;
    json_t *j = json_loadb(s, n, flags, &err);
    if (!j && json_error_code(&err) == json_error_numeric_overflow)
        j = json_loadb(s, n, flags | JSON_DECODE_INT_AS_REAL, &err);
    return j;
}

/* Whether jansson read doc with integers as reals (see load). */
static size_t int_flags(const char *s, size_t n)
{
    json_error_t err;
    json_t *j = json_loadb(s, n, 0, &err);
    size_t flags = j ? 0 : JSON_DECODE_INT_AS_REAL;
    json_decref(j);
    return flags;
}

static void check_string(const char *got, const json_t *want, const char *arena, size_t n)
{
    if (json_is_string(want)) {
        FUZZ_CHECK(got && inside(got, arena, n) && strcmp(got, json_string_value(want)) == 0);
        FUZZ_CHECK(fuzz_utf8_valid(got, strlen(got)));
    } else if (json_is_null(want)) {
        FUZZ_CHECK(got == NULL);
    }
}

static void check_int(int64_t got, const json_t *want, int64_t if_null)
{
    if (json_is_integer(want))
        FUZZ_CHECK(got == json_integer_value(want));
    else if (json_is_null(want))
        FUZZ_CHECK(got == if_null);
}

/* Checks an accepted page against jansson's reading of the same bytes. */
static void check_accepted(const char *body, size_t size, const char *strings, const char *json)
{
    json_t *doc = load(body, size, 0);
    if (!doc) {
        /* Valid JSON jansson cannot hold: a real beyond double. */
        json_error_t err;
        FUZZ_CHECK(!json_loadb(body, size, JSON_DECODE_INT_AS_REAL, &err));
        FUZZ_CHECK(json_error_code(&err) == json_error_numeric_overflow);
        return;
    }
    const json_t *data = json_object_get(doc, "data");
    FUZZ_CHECK(json_is_object(doc) && json_is_array(data) && json_array_size(data) == page.n);
    /* With a key given twice the two readings may differ (RFC 8259 leaves
     * it open: a null after an integer, say), so fields are compared only
     * when every key is unique. */
    /* The compact copies are read as the whole page was. */
    size_t as_real = int_flags(body, size);
    json_t *unique = load(body, size, JSON_REJECT_DUPLICATES);
    bool compare = unique != NULL;
    json_decref(unique);
    if (compare)
        check_int(page.next, json_object_get(json_object_get(doc, "cursor"), "next"), 0);

    size_t json_used = 0;
    for (size_t i = 0; i < page.n; i++) {
        const cl_case *k = &page.cases[i];
        const json_t *want = json_array_get(data, i);
        FUZZ_CHECK(json_is_object(want));
        FUZZ_CHECK(inside(k->json, json, size + 1) && k->json + k->json_len <= json + size);
        json_used += k->json_len;
        json_t *copy = json_loadb(k->json, k->json_len, as_real, NULL);
        FUZZ_CHECK(copy && json_equal(copy, want));
        json_decref(copy);
        if (!compare)
            continue;

        check_int(k->id, json_object_get(want, "id"), 0);
        check_int(k->number_customergauge, json_object_get(want, "number_customergauge"), 0);
        check_int(k->time_to_follow_up, json_object_get(want, "time_to_follow_up"), CL_HOURS_NULL);
        check_int(k->time_to_close, json_object_get(want, "time_to_close"), CL_HOURS_NULL);
        check_string(k->status, json_object_get(want, "status"), strings, size + 1);
        check_string(k->created_at, json_object_get(want, "created_at"), strings, size + 1);
        check_string(k->updated_at, json_object_get(want, "updated_at"), strings, size + 1);
        const json_t *a = json_object_get(want, "assignee");
        if (json_is_object(a)) {
            FUZZ_CHECK(k->assignee == &page.assignees[i]);
            check_int(k->assignee->id, json_object_get(a, "id"), 0);
            check_string(k->assignee->username, json_object_get(a, "username"), strings, size + 1);
            check_string(k->assignee->email, json_object_get(a, "email"), strings, size + 1);
        } else {
            FUZZ_CHECK(k->assignee == NULL);
        }
    }
    FUZZ_CHECK(json_used <= size);
    json_decref(doc);
}

static size_t depth(const json_t *j)
{
    size_t d = 0;
    if (json_is_object(j)) {
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)j, key, v)
        {
            size_t x = depth(v);
            d = x > d ? x : d;
        }
        return d + 1;
    }
    if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v)
        {
            size_t x = depth(v);
            d = x > d ? x : d;
        }
        return d + 1;
    }
    return 0;
}

static bool int_or_null(const json_t *j)
{
    return !j || json_is_integer(j) || json_is_null(j);
}

static bool str_or_null(const json_t *j)
{
    return !j || json_is_string(j) || json_is_null(j);
}

/* Whether jansson reads a page of the documented shape: the fields the
 * client knows have their documented types, the rest is any JSON. */
static bool well_typed(const json_t *doc)
{
    const json_t *data = json_object_get(doc, "data");
    const json_t *next = json_object_get(json_object_get(doc, "cursor"), "next");
    if (!json_is_object(doc) || !json_is_array(data) || !json_is_integer(next) ||
        depth(doc) > REVERSE_MAX_DEPTH)
        return false;
    size_t i;
    const json_t *k;
    json_array_foreach(data, i, k)
    {
        const json_t *a = json_object_get(k, "assignee");
        if (!json_is_object(k) || !json_is_integer(json_object_get(k, "id")) ||
            !int_or_null(json_object_get(k, "number_customergauge")) ||
            !int_or_null(json_object_get(k, "time_to_follow_up")) ||
            !int_or_null(json_object_get(k, "time_to_close")) ||
            !str_or_null(json_object_get(k, "status")) ||
            !str_or_null(json_object_get(k, "created_at")) ||
            !str_or_null(json_object_get(k, "updated_at")))
            return false;
        if (a && !json_is_null(a) &&
            (!json_is_object(a) || !int_or_null(json_object_get(a, "id")) ||
             !str_or_null(json_object_get(a, "username")) ||
             !str_or_null(json_object_get(a, "email"))))
            return false;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = fuzz_guarded(data, size, MAX_PAGE);
    char *strings = malloc(size + 1), *json = malloc(size + 1);
    char msg[CL_ERRMSG_MAX] = "";
    FUZZ_CHECK(strings && json);

    cl_err err = page_parse(body, size, strings, json, &page, msg);
    if (err == CL_OK) {
        check_accepted(body, size, strings, json);
    } else {
        FUZZ_CHECK(err == CL_EINVAL && page.n == 0);
        FUZZ_CHECK(msg[0] && fuzz_printable(msg));
        /* Duplicate keys are left out: jansson keeps the last of them, the
         * parser rejects a repeated "data" or "cursor". So are NUL bytes:
         * jansson 2.14 skips one right after a number ("1\0,"). */
        json_t *doc =
            memchr(body, '\0', size) ? NULL : json_loadb(body, size, JSON_REJECT_DUPLICATES, NULL);
        if (doc && well_typed(doc)) {
            fprintf(stderr, "page_parse rejected a well-typed page: %s\n", msg);
            FUZZ_CHECK(!"page_parse rejected a page jansson reads");
        }
        json_decref(doc);
    }
    free(strings);
    free(json);
    return 0;
}
