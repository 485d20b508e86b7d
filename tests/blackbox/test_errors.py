"""HTTP-level errors and limits (SPEC §2 "Errors"; STYLE §6 "Everything has a
limit": 16 KiB / 64 request headers -> 431, 64 KiB body -> 413)."""

import http.client
import json

import pytest

from harness import HOST, HTTP_TIMEOUT, STATUS, SYNC, TOKEN, next_number, raw_exchange

NOT_FOUND = {"message": "Not Found."}
MAX_BODY = 65536


# ---- 404 / 405 ----------------------------------------------------------------------

UNKNOWN = ["/", "/v7/rest/sync/close-loops", "/v7/rest/sync", "/v7/rest/sync/close-loop/1",
           "/v7/rest/close-loop/statuses", "/v7/rest/close-loop", "/oauth2/token/x",
           "/oauth2", "/V7/REST/SYNC/CLOSE-LOOP", "/v6/rest/sync/close-loop"]


@pytest.mark.parametrize("path", UNKNOWN)
@pytest.mark.parametrize("authenticated", [True, False], ids=["token", "no-token"])
def test_unknown_path(shared, path, authenticated):
    r = shared.api.get(path, shared.token if authenticated else None)
    assert r.status == 404, r
    assert r.json() == NOT_FOUND


def test_unknown_path_with_query(shared):
    r = shared.api.get("/v7/rest/sync/close-loops?per_page=5", shared.token)
    assert r.status == 404, r
    assert r.json() == NOT_FOUND


@pytest.mark.parametrize("path, method, allowed", [
    (SYNC, "DELETE", {"GET"}),
    (SYNC, "POST", {"GET"}),
    (SYNC, "PUT", {"GET"}),
    (STATUS, "DELETE", {"PUT"}),
    (TOKEN, "DELETE", {"POST"}),
])
def test_method_not_allowed(shared, path, method, allowed):
    r = shared.api.request(method, path, headers={"Authorization": f"Bearer {shared.token}"})
    assert r.status == 405, r
    allow = {m.strip() for m in (r.header("Allow") or "").split(",")}
    assert allowed <= allow <= allowed | {"HEAD"}, r.headers


# ---- body size ----------------------------------------------------------------------


def put_request(token, body, extra=b""):
    return (b"PUT " + STATUS.encode() + b" HTTP/1.1\r\nHost: " + HOST.encode() + b"\r\n"
            b"Authorization: Bearer " + token.encode() + b"\r\n"
            b"Content-Type: application/json\r\n" + extra)


def padded_body(n, size):
    body = json.dumps({"number_customergauge": n, "status": "open"}).encode()
    return body + b" " * (size - len(body))


def test_body_at_the_limit(shared):
    body = padded_body(next_number(), MAX_BODY)
    r = raw_exchange(shared.api.port, put_request(shared.token, body,
                                                  b"Content-Length: %d\r\n\r\n" % len(body)) + body)
    assert r.status == 201, r


def test_body_over_the_limit(shared):
    n = next_number()
    body = padded_body(n, MAX_BODY + 1)
    r = raw_exchange(shared.api.port, put_request(shared.token, body,
                                                  b"Content-Length: %d\r\n\r\n" % len(body)) + body)
    assert r.status == 413, r
    assert not [c for c in shared.api.all_cases(shared.token) if c["number_customergauge"] == n]


def test_body_over_the_limit_announced(shared):
    """A Content-Length beyond the limit is refused without waiting for the body."""
    r = raw_exchange(shared.api.port, put_request(shared.token, b"",
                                                  b"Content-Length: 10000000\r\n\r\n"))
    assert r.status == 413, r


def test_chunked_body_over_the_limit(shared):
    body = padded_body(next_number(), MAX_BODY + 4096)
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 8192]), body[i:i + 8192])
                      for i in range(0, len(body), 8192)) + b"0\r\n\r\n"
    r = raw_exchange(shared.api.port,
                     put_request(shared.token, b"", b"Transfer-Encoding: chunked\r\n\r\n") + chunks)
    assert r.status == 413, r


def test_chunked_body_within_the_limit(shared):
    body = json.dumps({"number_customergauge": next_number(), "status": "open"}).encode()
    chunks = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    r = raw_exchange(shared.api.port,
                     put_request(shared.token, b"", b"Transfer-Encoding: chunked\r\n\r\n") + chunks)
    assert r.status == 201, r


# ---- header limits --------------------------------------------------------------------


def get_request(token, headers=b""):
    return (b"GET " + SYNC.encode() + b"?per_page=1 HTTP/1.1\r\nHost: " + HOST.encode() + b"\r\n"
            b"Authorization: Bearer " + token.encode() + b"\r\n" + headers + b"\r\n")


def test_one_huge_header(shared):
    r = raw_exchange(shared.api.port, get_request(shared.token, b"X-Big: " + b"a" * 20480 + b"\r\n"))
    assert r.status == 431, r


@pytest.mark.parametrize("count, status", [(64, 200), (65, 431)])
def test_header_count_boundary(shared, count, status):
    """64 request headers in all (Host and Authorization included) are fine."""
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(count - 2))
    r = raw_exchange(shared.api.port, get_request(shared.token, many))
    assert r.status == status, r


def test_too_many_headers(shared):
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(70))
    r = raw_exchange(shared.api.port, get_request(shared.token, many))
    assert r.status == 431, r


def test_more_headers_than_the_http_parser_holds(shared):
    """libh2o's parser has room for 100 header lines (H2O_MAX_HEADERS, fixed
    when the library is built); past that it answers 400 itself, before our
    431 check can run. Either way the request is refused cleanly."""
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(120))
    r = raw_exchange(shared.api.port, get_request(shared.token, many))
    assert r.status in (400, 431), r


def test_many_small_headers_over_16k(shared):
    many = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 400) for i in range(50))  # ~21 KiB
    r = raw_exchange(shared.api.port, get_request(shared.token, many))
    assert r.status == 431, r


def test_headers_within_the_limits(shared):
    """60 headers, 12 KiB in all: served normally."""
    many = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 190) for i in range(58))
    r = raw_exchange(shared.api.port, get_request(shared.token, many))
    assert r.status == 200, r


def test_header_value_of_15k(shared):
    r = raw_exchange(shared.api.port, get_request(shared.token, b"X-Big: " + b"a" * 15000 + b"\r\n"))
    assert r.status == 200, r


# ---- connections ----------------------------------------------------------------------


def test_keep_alive(shared):
    """Several requests on one connection, each answered in turn."""
    conn = http.client.HTTPConnection(HOST, shared.api.port, timeout=HTTP_TIMEOUT)
    try:
        for i in range(5):
            conn.request("GET", f"{SYNC}?per_page={i + 1}",
                         headers={"Authorization": f"Bearer {shared.token}"})
            r = conn.getresponse()
            r.read()
            assert r.status == 200
        conn.request("GET", "/nope")
        r = conn.getresponse()
        assert r.status == 404
        assert json.loads(r.read()) == NOT_FOUND
    finally:
        conn.close()


def test_garbage_request_line(shared):
    r = raw_exchange(shared.api.port, b"NOT-HTTP\r\n\r\n")
    assert r.status == 400, r
