#include "client/parse.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"

struct jp {
    const char *p;   /* next byte */
    const char *end; /* one past the last byte */
    const char *start;
    char *str; /* where the next decoded string goes */
    char *msg;
    bool saw_ws; /* whitespace between tokens was skipped (see one_case) */
};

static bool fail(struct jp *j, const char *what)
{
    cl_errf(j->msg, CL_EINVAL, "%s at byte %zu", what, (size_t)(j->p - j->start));
    return false;
}

static void ws(struct jp *j)
{
    const char *start = j->p;
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t'))
        j->p++;
    if (j->p != start)
        j->saw_ws = true;
}

/* Consumes c after optional whitespace. */
static bool eat(struct jp *j, char c)
{
    ws(j);
    if (j->p < j->end && *j->p == c) {
        j->p++;
        return true;
    }
    return false;
}

static bool literal(struct jp *j, const char *s, size_t n)
{
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, s, n) != 0)
        return fail(j, "invalid literal");
    j->p += n;
    return true;
}

static int hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    return v;
}

static char *put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xc0 | cp >> 6);
        *o++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xe0 | cp >> 12);
        *o++ = (char)(0x80 | (cp >> 6 & 0x3f));
        *o++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *o++ = (char)(0xf0 | cp >> 18);
        *o++ = (char)(0x80 | (cp >> 12 & 0x3f));
        *o++ = (char)(0x80 | (cp >> 6 & 0x3f));
        *o++ = (char)(0x80 | (cp & 0x3f));
    }
    return o;
}

/* The length of the valid UTF-8 sequence at p (lead byte >= 0x80), or 0. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t n;
    unsigned min;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n)
        return 0;
    unsigned cp = c & (0x7f >> n);
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* Parses a string (j->p at the opening quote) and decodes it, NUL-terminated,
 * into the string arena; *out points at it. A decoded string plus its NUL is
 * never longer than its quoted form, so the arena cannot overflow. */
static bool string(struct jp *j, const char **out)
{
    if (j->p >= j->end || *j->p != '"')
        return fail(j, "expected a string");
    j->p++;
    char *o = j->str;
    *out = o;
    for (;;) {
        /* Copy the run of plain ASCII in one go. */
        const char *run = j->p;
        j->p = json_plain_end(j->p, j->end);
        memcpy(o, run, (size_t)(j->p - run));
        o += j->p - run;
        if (j->p >= j->end)
            return fail(j, "unterminated string");
        unsigned char c = (unsigned char)*j->p;
        if (c == '"') {
            j->p++;
            break;
        }
        if (c < 0x20)
            return fail(j, "control character in a string");
        if (c >= 0x80) {
            size_t n = utf8_len((const unsigned char *)j->p, (const unsigned char *)j->end);
            if (!n)
                return fail(j, "invalid UTF-8 in a string");
            memcpy(o, j->p, n);
            o += n;
            j->p += n;
            continue;
        }
        /* An escape. */
        if (j->end - j->p < 2)
            return fail(j, "unterminated string");
        char e = j->p[1];
        j->p += 2;
        switch (e) {
        case '"':
        case '\\':
        case '/':
            *o++ = e;
            break;
        case 'b':
            *o++ = '\b';
            break;
        case 'f':
            *o++ = '\f';
            break;
        case 'n':
            *o++ = '\n';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'u': {
            int cp = j->end - j->p >= 4 ? hex4(j->p) : -1;
            if (cp < 0)
                return fail(j, "invalid \\u escape");
            j->p += 4;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                int lo =
                    j->end - j->p >= 6 && j->p[0] == '\\' && j->p[1] == 'u' ? hex4(j->p + 2) : -1;
                if (lo < 0xdc00 || lo > 0xdfff)
                    return fail(j, "unpaired surrogate");
                j->p += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                return fail(j, "unpaired surrogate");
            }
            /* The cases' strings are C strings: a NUL cannot be carried. */
            if (cp == 0)
                return fail(j, "\\u0000 in a string");
            o = put_utf8(o, (unsigned)cp);
            break;
        }
        default:
            return fail(j, "invalid escape");
        }
    }
    *o++ = '\0';
    j->str = o;
    return true;
}

/* Parses a number. *is_int tells whether it has no fraction or exponent and
 * fits in int64 (then *v is its value). */
static bool number(struct jp *j, bool *is_int, int64_t *v)
{
    const char *p = j->p;
    bool neg = false;
    if (p < j->end && *p == '-') {
        neg = true;
        p++;
    }
    if (p >= j->end || *p < '0' || *p > '9')
        return fail(j, "invalid number");
    uint64_t acc = 0;
    bool overflow = false;
    if (*p == '0') {
        p++;
    } else {
        while (p < j->end && *p >= '0' && *p <= '9') {
            unsigned d = (unsigned)(*p++ - '0');
            if (acc > (UINT64_MAX - d) / 10)
                overflow = true;
            acc = acc * 10 + d;
        }
    }
    bool frac = false;
    if (p < j->end && *p == '.') {
        frac = true;
        p++;
        if (p >= j->end || *p < '0' || *p > '9')
            return fail(j, "invalid number");
        while (p < j->end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < j->end && (*p == 'e' || *p == 'E')) {
        frac = true;
        p++;
        if (p < j->end && (*p == '+' || *p == '-'))
            p++;
        if (p >= j->end || *p < '0' || *p > '9')
            return fail(j, "invalid number");
        while (p < j->end && *p >= '0' && *p <= '9')
            p++;
    }
    j->p = p;
    uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    *is_int = !frac && !overflow && acc <= lim;
    if (*is_int)
        *v = neg ? (int64_t)(0 - acc) : (int64_t)acc;
    return true;
}

static bool skip_value(struct jp *j, int depth);

static bool skip_container(struct jp *j, char close, int depth)
{
    if (depth >= PARSE_MAX_DEPTH)
        return fail(j, "nesting too deep");
    j->p++;
    if (eat(j, close))
        return true;
    do {
        ws(j);
        if (close == '}') {
            const char *key;
            if (!string(j, &key) || !eat(j, ':'))
                return fail(j, "invalid object");
        }
        if (!skip_value(j, depth + 1))
            return false;
    } while (eat(j, ','));
    if (!eat(j, close))
        return fail(j, close == '}' ? "expected , or }" : "expected , or ]");
    return true;
}

/* Validates and skips any value. Strings are decoded into the arena like
 * all others; the arena has room for every string of the body. */
static bool skip_value(struct jp *j, int depth)
{
    ws(j);
    if (j->p >= j->end)
        return fail(j, "unexpected end");
    const char *s;
    bool is_int;
    int64_t v;
    switch (*j->p) {
    case '"':
        return string(j, &s);
    case '{':
        return skip_container(j, '}', depth);
    case '[':
        return skip_container(j, ']', depth);
    case 't':
        return literal(j, "true", 4);
    case 'f':
        return literal(j, "false", 5);
    case 'n':
        return literal(j, "null", 4);
    default:
        return number(j, &is_int, &v);
    }
}

static bool is_null(struct jp *j)
{
    ws(j);
    if (j->p < j->end && *j->p == 'n') {
        return literal(j, "null", 4);
    }
    return false;
}

/* An integer: a JSON integer, an integral number written with a fraction,
 * or a string of digits (the API documents integers; leniency costs
 * nothing). null leaves *v alone when nullable. */
static bool int_value(struct jp *j, int64_t *v, bool nullable)
{
    ws(j);
    if (nullable && j->p < j->end && *j->p == 'n')
        return literal(j, "null", 4);
    if (j->p < j->end && *j->p == '"') {
        const char *s;
        if (!string(j, &s))
            return false;
        char *end;
        long long x = strtoll(s, &end, 10);
        if (!*s || *end)
            return fail(j, "expected an integer");
        *v = x;
        return true;
    }
    const char *start = j->p;
    bool is_int;
    if (!number(j, &is_int, v))
        return false;
    if (!is_int) {
        /* strtod reads on while the bytes could continue a number, and the
         * body is not NUL-terminated: a byte that cannot must follow within
         * it. A page never ends in a number, so this rejects no valid one. */
        if (j->p == j->end)
            return fail(j, "unexpected end");
        double d = strtod(start, NULL);
        if (!(d >= -9.2e18 && d <= 9.2e18) || d != (double)(int64_t)d)
            return fail(j, "expected an integer");
        *v = (int64_t)d;
    }
    return true;
}

static bool str_value(struct jp *j, const char **out)
{
    *out = NULL;
    if (is_null(j))
        return true;
    ws(j);
    return string(j, out);
}

/* Reads a key (j->p at its opening quote). A key without escapes, as every
 * key of the API is, is used where it lies in the body, without a copy;
 * any other is decoded like a string value. */
static bool key(struct jp *j, const char **out, size_t *len)
{
    if (j->p < j->end && *j->p == '"') {
        const char *k = j->p + 1;
        const char *e = json_plain_end(k, j->end);
        if (e < j->end && *e == '"') {
            *out = k;
            *len = (size_t)(e - k);
            j->p = e + 1;
            return true;
        }
    }
    if (!string(j, out))
        return false;
    *len = strlen(*out);
    return true;
}

static bool key_is(const char *k, size_t len, const char *name, size_t name_len)
{
    return len == name_len && memcmp(k, name, len) == 0;
}

#define KEY_IS(k, len, lit) key_is((k), (len), "" lit, sizeof(lit) - 1)

static bool assignee(struct jp *j, cl_assignee *a, bool *present)
{
    *present = false;
    if (is_null(j))
        return true;
    if (!eat(j, '{'))
        return fail(j, "assignee must be an object or null");
    *present = true;
    memset(a, 0, sizeof *a);
    if (eat(j, '}'))
        return true;
    do {
        const char *name;
        size_t len;
        ws(j);
        if (!key(j, &name, &len) || !eat(j, ':'))
            return fail(j, "invalid assignee");
        bool ok;
        if (KEY_IS(name, len, "id"))
            ok = int_value(j, &a->id, true);
        else if (KEY_IS(name, len, "username"))
            ok = str_value(j, &a->username);
        else if (KEY_IS(name, len, "email"))
            ok = str_value(j, &a->email);
        else
            ok = skip_value(j, 2);
        if (!ok)
            return false;
    } while (eat(j, ','));
    return eat(j, '}') || fail(j, "expected , or } in assignee");
}

/* Copies a validated JSON text without the whitespace between tokens. */
static size_t compact(const char *src, size_t n, char *dst)
{
    size_t o = 0;
    bool in_string = false;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if (in_string) {
            if (c == '\\') {
                dst[o++] = c;
                c = src[++i];
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
            continue;
        } else if (c == '"') {
            in_string = true;
        }
        dst[o++] = c;
    }
    return o;
}

/* The fields of a case. */
enum case_key {
    K_OTHER,
    K_ID,
    K_NUMBER,
    K_STATUS,
    K_ASSIGNEE,
    K_FOLLOW_UP,
    K_CLOSE,
    K_CREATED,
    K_UPDATED,
};

/* Which field a key names: one comparison, picked by the first byte,
 * instead of trying each name in turn (a page has eight keys a case). A
 * key with a NUL in it (from an escape) names no field. */
static enum case_key case_key(const char *k, size_t len)
{
    switch (len ? k[0] : 0) {
    case 'i':
        return KEY_IS(k, len, "id") ? K_ID : K_OTHER;
    case 'n':
        return KEY_IS(k, len, "number_customergauge") ? K_NUMBER : K_OTHER;
    case 's':
        return KEY_IS(k, len, "status") ? K_STATUS : K_OTHER;
    case 'a':
        return KEY_IS(k, len, "assignee") ? K_ASSIGNEE : K_OTHER;
    case 't':
        return KEY_IS(k, len, "time_to_follow_up") ? K_FOLLOW_UP
               : KEY_IS(k, len, "time_to_close")   ? K_CLOSE
                                                   : K_OTHER;
    case 'c':
        return KEY_IS(k, len, "created_at") ? K_CREATED : K_OTHER;
    case 'u':
        return KEY_IS(k, len, "updated_at") ? K_UPDATED : K_OTHER;
    default:
        return K_OTHER;
    }
}

static bool one_case(struct jp *j, cl_case *k, cl_assignee *a, bool *has_assignee, char **json)
{
    ws(j);
    const char *obj = j->p;
    j->saw_ws = false;
    if (!eat(j, '{'))
        return fail(j, "a case must be an object");
    memset(k, 0, sizeof *k);
    k->time_to_follow_up = k->time_to_close = CL_HOURS_NULL;
    *has_assignee = false;
    bool have_id = false;
    if (!eat(j, '}')) {
        do {
            const char *name;
            size_t len;
            ws(j);
            if (!key(j, &name, &len) || !eat(j, ':'))
                return fail(j, "invalid case object");
            bool ok;
            switch (case_key(name, len)) {
            case K_ID:
                ok = (have_id = int_value(j, &k->id, false));
                break;
            case K_NUMBER:
                ok = int_value(j, &k->number_customergauge, true);
                break;
            case K_STATUS:
                ok = str_value(j, &k->status);
                break;
            case K_ASSIGNEE:
                ok = assignee(j, a, has_assignee);
                break;
            case K_FOLLOW_UP:
                ok = int_value(j, &k->time_to_follow_up, true);
                break;
            case K_CLOSE:
                ok = int_value(j, &k->time_to_close, true);
                break;
            case K_CREATED:
                ok = str_value(j, &k->created_at);
                break;
            case K_UPDATED:
                ok = str_value(j, &k->updated_at);
                break;
            default:
                ok = skip_value(j, 1);
                break;
            }
            if (!ok)
                return false;
        } while (eat(j, ','));
        if (!eat(j, '}'))
            return fail(j, "expected , or } in a case");
    }
    if (!have_id)
        return fail(j, "a case without an integer id");
    k->json = *json;
    /* Compact JSON (as closeloop sends it) is copied as it is: with no
     * whitespace between its tokens, compacting would change nothing. */
    if (j->saw_ws) {
        k->json_len = compact(obj, (size_t)(j->p - obj), *json);
    } else {
        k->json_len = (size_t)(j->p - obj);
        memcpy(*json, obj, k->json_len);
    }
    *json += k->json_len;
    return true;
}

cl_err parsed_page_reserve(struct parsed_page *p, size_t n)
{
    if (n <= p->cap)
        return CL_OK;
    size_t cap = p->cap ? p->cap : 128;
    while (cap < n)
        cap *= 2;
    cl_case *c = realloc(p->cases, cap * sizeof *c);
    if (c)
        p->cases = c;
    cl_assignee *a = realloc(p->assignees, cap * sizeof *a);
    if (a)
        p->assignees = a;
    if (!c || !a)
        return CL_ENOMEM;
    p->cap = cap;
    return CL_OK;
}

static bool cursor_object(struct jp *j, int64_t *next, bool *have)
{
    if (!eat(j, '{'))
        return fail(j, "cursor must be an object");
    if (eat(j, '}'))
        return true;
    do {
        const char *key;
        ws(j);
        if (!string(j, &key) || !eat(j, ':'))
            return fail(j, "invalid cursor object");
        if (strcmp(key, "next") == 0) {
            ws(j);
            if (j->p < j->end && *j->p == 'n')
                return fail(j, "cursor.next is null");
            if (!int_value(j, next, false))
                return false;
            *have = true;
        } else if (!skip_value(j, 2)) {
            return false;
        }
    } while (eat(j, ','));
    return eat(j, '}') || fail(j, "expected , or } in cursor");
}

cl_err page_parse(const char *body, size_t len, char *strings, char *json, struct parsed_page *out,
                  char *msg)
{
    struct jp j = {.p = body, .end = body + len, .start = body, .str = strings, .msg = msg};
    out->n = 0;
    bool have_data = false, have_next = false;
    if (!eat(&j, '{'))
        return cl_errf(msg, CL_EINVAL, "the page is not a JSON object");
    if (!eat(&j, '}')) {
        do {
            const char *key;
            ws(&j);
            if (!string(&j, &key) || !eat(&j, ':')) {
                fail(&j, "invalid page object");
                goto bad;
            }
            if (strcmp(key, "data") == 0 && !have_data) {
                have_data = true;
                if (!eat(&j, '[')) {
                    fail(&j, "data must be an array");
                    goto bad;
                }
                if (eat(&j, ']'))
                    continue;
                do {
                    if (out->n == out->cap && parsed_page_reserve(out, out->n + 1)) {
                        out->n = 0;
                        return CL_ENOMEM;
                    }
                    bool has_a;
                    size_t i = out->n;
                    if (!one_case(&j, &out->cases[i], &out->assignees[i], &has_a, &json))
                        goto bad;
                    /* Marks the assignee by index for now: the array may
                     * still move when it grows. */
                    out->cases[i].assignee = has_a ? (const cl_assignee *)(uintptr_t)1 : NULL;
                    out->n++;
                } while (eat(&j, ','));
                if (!eat(&j, ']')) {
                    fail(&j, "expected , or ] in data");
                    goto bad;
                }
            } else if (strcmp(key, "cursor") == 0 && !have_next) {
                if (!cursor_object(&j, &out->next, &have_next))
                    goto bad;
            } else if (strcmp(key, "data") == 0 || strcmp(key, "cursor") == 0) {
                fail(&j, "repeated key");
                goto bad;
            } else if (!skip_value(&j, 1)) {
                goto bad;
            }
        } while (eat(&j, ','));
        if (!eat(&j, '}')) {
            fail(&j, "expected , or } in the page");
            goto bad;
        }
    }
    ws(&j);
    if (j.p != j.end) {
        fail(&j, "trailing bytes after the page");
        goto bad;
    }
    if (!have_data || !have_next) {
        cl_errf(msg, CL_EINVAL, "the page lacks data[] or an integer cursor.next");
        goto bad;
    }
    for (size_t i = 0; i < out->n; i++)
        if (out->cases[i].assignee)
            out->cases[i].assignee = &out->assignees[i];
    return CL_OK;
bad:
    out->n = 0;
    return CL_EINVAL;
}

bool page_peek_next(const char *body, size_t len, int64_t *next)
{
    static const char key[] = "\"next\"";
    size_t klen = sizeof key - 1;
    size_t from = len > PEEK_TAIL ? len - PEEK_TAIL : 0;
    for (size_t at = len; at >= from + klen; at--) {
        const char *k = body + at - klen;
        if (memcmp(k, key, klen) != 0)
            continue;
        struct jp j = {.p = body + at, .end = body + len};
        ws(&j);
        if (j.p >= j.end || *j.p != ':')
            return false;
        j.p++;
        ws(&j);
        int64_t v = 0;
        size_t digits = 0;
        while (j.p < j.end && *j.p >= '0' && *j.p <= '9' && digits < 18) {
            v = v * 10 + (*j.p++ - '0');
            digits++;
        }
        if (digits == 0)
            return false;
        *next = v;
        return true;
    }
    return false;
}
