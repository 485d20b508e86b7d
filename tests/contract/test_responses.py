"""Real responses of every endpoint, checked against docs/openapi.yaml.

Each test sends real requests to a running `closeloop serve` and hands every
response to Contract.check, which fails unless the status is documented for
the operation and the Content-Type, the required headers and the body match
what the document says. The last test fails if any response the document
lists was never produced here, except the few no black-box test can provoke
(listed, with the reason, in UNPROVOKABLE).
"""

import json
import os
import socket
import sqlite3
import threading
import time
import urllib.parse

import pytest

from harness import HOST, HTTP_TIMEOUT, Server, basic, create_app, form, read_response

TOKEN = "/oauth2/token"
SYNC = "/v7/rest/sync/close-loop"
STATUS = "/v7/rest/close-loop/status"
ASSIGNEE = "/v7/rest/close-loop/assignee"
COMMENT = "/v7/rest/close-loop/comment"
DOC = "/openapi.yaml"
HEALTH = "/healthz"
METRICS = "/metrics"
WRITES = [STATUS, ASSIGNEE, COMMENT]
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
BIG_HEADER = {"X-Padding": "a" * 17000}  # over the 16 KiB of request line + headers
BODY_LIMIT = 65536

# Responses the document lists that no black-box test can provoke, and why.
UNPROVOKABLE = {
    **{(p, m, 500): "a 500 is a bug; the test would need one" for p, m in [
        (TOKEN, "POST"), (SYNC, "GET"), (STATUS, "PUT"), (ASSIGNEE, "PUT"), (COMMENT, "PUT"),
        (DOC, "GET"), (HEALTH, "GET"), (METRICS, "GET")]},
    (TOKEN, "POST", 503): "reads are never blocked by another SQLite writer (WAL)",
    (SYNC, "GET", 503): "reads are never blocked by another SQLite writer (WAL)",
}

# A known server bug, kept visible: strict, so the test fails once it is fixed
# and the mark must go.
_number = iter(range(5000, 10**6))


def number():
    return next(_number)


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def raw(site_or_port, method, path, headers=(), body=b"", timeout=HTTP_TIMEOUT):
    """One request written by hand (for bodies the server refuses before
    reading them all, and for methods http.client treats specially)."""
    port = site_or_port if isinstance(site_or_port, int) else site_or_port.server.port
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in dict(headers).items()]
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_response(s, method)


def put(site, path, body, token=None, content_type=JSON):
    headers = bearer(token if token is not None else site.token)
    if content_type:
        headers["Content-Type"] = content_type
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    return site.api.request("PUT", path, body, headers)


def valid_body(path, n):
    return {
        STATUS: {"number_customergauge": n, "status": "progress", "note": "Called the customer"},
        ASSIGNEE: {"number_customergauge": n, "assignee": "johndoe"},
        COMMENT: {"number_customergauge": n, "note": "Called the customer back."},
    }[path]


def token_form(client, scope=None):
    pairs = [("grant_type", "client_credentials"), ("client_id", client[0]),
             ("client_secret", client[1])]
    if scope:
        pairs.append(("scope", scope))
    return form(pairs)


def case_keys(contract):
    return contract.schema("Case")["required"]


# ---- POST /oauth2/token -------------------------------------------------------


def test_token_issued_for_form_and_basic_credentials(site, contract):
    r = site.api.token_request(token_form(site.rw))
    body = contract.check(r, TOKEN, "POST", 200)
    assert body["scope"] == "read write" and body["expires_in"] == 3600
    r = site.api.token_request("grant_type=client_credentials", headers={"Authorization": basic(*site.rw)})
    contract.check(r, TOKEN, "POST", 200)
    r = site.api.token_request(token_form(site.rw, "read"))
    assert contract.check(r, TOKEN, "POST", 200)["scope"] == "read"


@pytest.mark.parametrize("body,ctype,headers,error", [
    ("{}", JSON, {}, "invalid_request"),
    ("", FORM, {}, "invalid_request"),
    ("client_id=x&client_secret=y", FORM, {}, "invalid_request"),
    ("grant_type=password&username=a&password=b", FORM, {}, "unsupported_grant_type"),
    ("grant_type=client_credentials&grant_type=client_credentials", FORM, {}, "invalid_request"),
    ("grant_type=client_credentials&x=%zz", FORM, {}, "invalid_request"),
    ("grant_type=client_credentials&" + "&".join(f"p{i}=1" for i in range(40)), FORM, {},
     "invalid_request"),
    ("BOTH", FORM, {}, "invalid_request"),
    ("SCOPE admin", FORM, {}, "invalid_scope"),
    ("READ-APP SCOPE write", FORM, {}, "invalid_scope"),
])
def test_token_400(site, contract, body, ctype, headers, error):
    if body == "BOTH":
        body, headers = token_form(site.rw), {"Authorization": basic(*site.rw)}
    elif body.startswith("SCOPE "):
        body = token_form(site.rw, body.split(" ", 1)[1])
    elif body.startswith("READ-APP SCOPE "):
        body = token_form(site.read, body.rsplit(" ", 1)[1])
    r = site.api.token_request(body, content_type=ctype, headers=headers)
    assert contract.check(r, TOKEN, "POST", 400)["error"] == error


@pytest.mark.parametrize("how", ["wrong secret", "unknown client", "no credentials",
                                 "malformed basic", "revoked app"])
def test_token_401(site, contract, how):
    headers = {}
    body = {
        "wrong secret": lambda: token_form((site.rw[0], site.rw[1][:-1] + "x")),
        "unknown client": lambda: token_form(("0" * 32, site.rw[1])),
        "no credentials": lambda: "grant_type=client_credentials",
        "malformed basic": lambda: "grant_type=client_credentials",
        "revoked app": lambda: token_form(site.revoked),
    }[how]()
    if how == "malformed basic":
        headers = {"Authorization": "Basic !!not-base64!!"}
    r = site.api.token_request(body, headers=headers)
    contract.check(r, TOKEN, "POST", 401)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "HEAD"])
def test_token_405(site, contract, method):
    r = raw(site, method, TOKEN)
    contract.check(r, TOKEN, method, 405)
    assert r.header("Allow") == "POST"


def test_token_413_and_431(site, contract):
    body = token_form(site.rw).encode() + b"&pad=" + b"a" * BODY_LIMIT
    contract.check(raw(site, "POST", TOKEN, {"Content-Type": FORM}, body), TOKEN, "POST", 413)
    r = site.api.token_request(token_form(site.rw), headers=BIG_HEADER)
    contract.check(r, TOKEN, "POST", 431)


# ---- GET /v7/rest/sync/close-loop ---------------------------------------------


def test_sync_pages_until_empty(site, contract):
    """A full pass at per_page=2: every page matches the schema, fields come in
    the documented order, cursor.next is the last position, and the empty page
    that ends the pass echoes the cursor sent."""
    for _ in range(5):
        assert put(site, STATUS, valid_body(STATUS, number())).status == 201
    seen, cursor, pages = {}, None, 0
    while True:
        q = {"per_page": 2, **({"cursor": cursor} if cursor is not None else {})}
        body = contract.check(site.api.sync(site.token, urllib.parse.urlencode(q)), SYNC, "GET", 200)
        pages += 1
        assert pages < 1000
        if not body["data"]:
            assert body["cursor"]["next"] == (cursor or 0)
            break
        assert len(body["data"]) <= 2
        assert body["cursor"]["next"] > (cursor or 0)
        for case in body["data"]:
            assert list(case) == case_keys(contract)
            seen[case["id"]] = case
        cursor = body["cursor"]["next"]
    assert len(seen) >= 5 and pages >= 4


@pytest.mark.parametrize("query", [
    "",
    "per_page=1000",
    "per_page=1&cursor=0",
    "cursor=9223372036854775807",
    "updated_at[start]=2022-07-17",
    "updated_at%5Bstart%5D=2022-07-17&updated_at%5Bend%5D=2099-12-31",
    "updated_at[end]=2022-07-25",
    "unknown=1&per_page=007",
])
def test_sync_200(site, contract, query):
    contract.check(site.api.sync(site.token, query), SYNC, "GET", 200)


@pytest.mark.parametrize("query", ["per_page=%zz", "&".join(f"p{i}=1" for i in range(33))])
def test_sync_400(site, contract, query):
    contract.check(site.api.sync(site.token, query), SYNC, "GET", 400)


@pytest.mark.parametrize("authorization", [
    None, "", "Bearer", "Bearer ", "Bearer not-a-token", "Basic dXNlcjpwYXNz", "Bearer " + "a" * 300,
    "FORGED",
])
def test_sync_401(site, contract, authorization):
    if authorization == "FORGED":
        authorization = "Bearer " + site.token[:-2] + ("AA" if not site.token.endswith("AA") else "BB")
    headers = {} if authorization is None else {"Authorization": authorization}
    r = site.api.get(SYNC, headers=headers)
    assert contract.check(r, SYNC, "GET", 401) == {"message": "Unauthenticated."}


def test_sync_401_expired_and_other_region(site, contract, binary):
    """Tokens of another server on the same database: one that has expired,
    one issued for another region. Both get the same 401."""
    short, other = Server(binary), Server(binary)
    try:
        short.start(site.db, token_ttl=1)
        other.start(site.db, region="us")
        expired = short.api.token(*site.read)
        foreign = other.api.token(*site.read)
    finally:
        short.stop()
        other.stop()
    contract.check(site.api.sync(foreign), SYNC, "GET", 401)
    time.sleep(2.1)
    contract.check(site.api.sync(expired), SYNC, "GET", 401)


def test_sync_403_without_read_scope(site, contract):
    assert contract.check(site.api.sync(site.write_token), SYNC, "GET", 403) == {
        "message": "This action is unauthorized."}


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "HEAD"])
def test_sync_405(site, contract, method):
    r = raw(site, method, SYNC, bearer(site.token))
    contract.check(r, SYNC, method, 405)
    assert r.header("Allow") == "GET"


@pytest.mark.parametrize("query,fields", [
    ("per_page=0", ["per_page"]),
    ("per_page=1001", ["per_page"]),
    ("per_page=abc", ["per_page"]),
    ("per_page=", ["per_page"]),
    ("per_page=-1", ["per_page"]),
    ("per_page=1&per_page=2", ["per_page"]),
    ("cursor=-1", ["cursor"]),
    ("cursor=1.5", ["cursor"]),
    ("cursor=99999999999999999999", ["cursor"]),
    ("updated_at[start]=2022-02-30", ["updated_at[start]"]),
    ("updated_at%5Bend%5D=20220101", ["updated_at[end]"]),
    ("updated_at[start]=2022-03-02&updated_at[end]=2022-03-01", ["updated_at[end]"]),
    ("per_page=0&cursor=-1&updated_at[start]=x&updated_at[end]=y",
     ["per_page", "cursor", "updated_at[start]", "updated_at[end]"]),
])
def test_sync_422(site, contract, query, fields):
    body = contract.check(site.api.sync(site.token, query), SYNC, "GET", 422)
    assert list(body["errors"]) == fields
    assert body["message"].startswith(body["errors"][fields[0]][0])
    if len(fields) > 1:
        assert body["message"].endswith(f"(and {len(fields) - 1} more errors)")


def test_sync_431(site, contract):
    contract.check(site.api.get(SYNC, site.token, headers=BIG_HEADER), SYNC, "GET", 431)


# ---- PUT /v7/rest/close-loop/{status,assignee,comment} ------------------------


@pytest.mark.parametrize("path", WRITES)
def test_write_201_then_200(site, contract, path):
    n = number()
    created = contract.check(put(site, path, valid_body(path, n)), path, "PUT", 201)["data"]
    assert list(created) == case_keys(contract) and created["number_customergauge"] == n
    again = contract.check(put(site, path, valid_body(path, n)), path, "PUT", 200)["data"]
    assert again["id"] == created["id"]


@pytest.mark.parametrize("path", WRITES)
def test_write_form_body_and_number_as_string(site, contract, path):
    n = number()
    body = {k: str(v) for k, v in valid_body(path, n).items()}
    r = put(site, path, urllib.parse.urlencode(body), content_type=FORM)
    contract.check(r, path, "PUT", 201)
    r = put(site, path, {**valid_body(path, n), "number_customergauge": str(n),
                         "happened_at": "", "unknown": [1]})
    contract.check(r, path, "PUT", 200)


def test_unassign_and_noop_are_200(site, contract):
    n = number()
    contract.check(put(site, STATUS, {"number_customergauge": n, "status": "open"}), STATUS, "PUT", 201)
    noop = contract.check(put(site, STATUS, {"number_customergauge": n, "status": "open"}),
                          STATUS, "PUT", 200)["data"]
    r = put(site, ASSIGNEE, {"number_customergauge": n, "assignee": None})
    assert contract.check(r, ASSIGNEE, "PUT", 200)["data"]["assignee"] is None
    r = put(site, ASSIGNEE, {"number_customergauge": n, "assignee": "jane.doe@example.com"})
    assert contract.check(r, ASSIGNEE, "PUT", 200)["data"]["assignee"]["username"] == "janedoe"
    assert noop["status"] == "open"


@pytest.mark.parametrize("path", WRITES)
@pytest.mark.parametrize("body,ctype", [
    ('{"number_customergauge": 1,', JSON),
    ('{"number_customergauge": 1, "number_customergauge": 2}', JSON),
    ("[1, 2]", JSON),
    ('"text"', JSON),
    ("number_customergauge=%zz", FORM),
    ("&".join(f"f{i}=1" for i in range(33)), FORM),
])
def test_write_400(site, contract, path, body, ctype):
    contract.check(put(site, path, body, content_type=ctype), path, "PUT", 400)


@pytest.mark.parametrize("path", WRITES)
def test_write_401_403_405(site, contract, path):
    n = number()
    r = site.api.request("PUT", path, json.dumps(valid_body(path, n)), {"Content-Type": JSON})
    assert contract.check(r, path, "PUT", 401) == {"message": "Unauthenticated."}
    r = put(site, path, valid_body(path, n), token=site.read_token)
    assert contract.check(r, path, "PUT", 403) == {"message": "This action is unauthorized."}
    for method in ("GET", "POST", "DELETE", "HEAD"):
        r = raw(site, method, path, bearer(site.token))
        contract.check(r, path, method, 405)
        assert r.header("Allow") == "PUT"


@pytest.mark.parametrize("path", WRITES)
def test_write_413_415_431(site, contract, path):
    big = json.dumps({"number_customergauge": 1, "note": "a" * BODY_LIMIT}).encode()
    r = raw(site, "PUT", path, {**bearer(site.token), "Content-Type": JSON}, big)
    contract.check(r, path, "PUT", 413)
    contract.check(put(site, path, "x", content_type="text/plain"), path, "PUT", 415)
    contract.check(put(site, path, "x", content_type=None), path, "PUT", 415)
    r = site.api.request("PUT", path, json.dumps(valid_body(path, number())),
                         {**bearer(site.token), "Content-Type": JSON, **BIG_HEADER})
    contract.check(r, path, "PUT", 431)


def _invalid_bodies():
    n = 1
    future = "2099-01-01 00:00:00"
    return [
        (STATUS, "", ["number_customergauge", "status"]),
        (STATUS, {"number_customergauge": 0, "status": "done", "note": 5, "happened_at": "yesterday"},
         ["number_customergauge", "status", "note", "happened_at"]),
        (STATUS, {"number_customergauge": 2**53, "status": "open"}, ["number_customergauge"]),
        (STATUS, {"number_customergauge": 1.5, "status": "open"}, ["number_customergauge"]),
        (STATUS, {"number_customergauge": n, "status": "open", "note": "x" * 5001}, ["note"]),
        (STATUS, {"number_customergauge": n, "status": "open", "happened_at": future}, ["happened_at"]),
        (STATUS, "number_customergauge=1&number_customergauge=2&status=open", ["number_customergauge"]),
        (ASSIGNEE, "", ["number_customergauge", "assignee"]),
        (ASSIGNEE, {"number_customergauge": n}, ["assignee"]),
        (ASSIGNEE, {"number_customergauge": n, "assignee": "nobody"}, ["assignee"]),
        (ASSIGNEE, {"number_customergauge": n, "assignee": 7}, ["assignee"]),
        (COMMENT, "", ["number_customergauge", "note"]),
        (COMMENT, {"number_customergauge": n, "note": ""}, ["note"]),
        (COMMENT, {"number_customergauge": "12a", "note": "x"}, ["number_customergauge"]),
        (COMMENT, {"number_customergauge": n, "note": "x", "happened_at": "2022-13-01 00:00:00"},
         ["happened_at"]),
    ]


@pytest.mark.parametrize("path,body,fields", _invalid_bodies())
def test_write_422(site, contract, path, body, fields):
    ctype = FORM if isinstance(body, str) and body else JSON
    r = put(site, path, body, content_type=ctype)
    got = contract.check(r, path, "PUT", 422)
    assert list(got["errors"]) == fields, got


def test_write_422_before_opening(site, contract):
    n = number()
    put(site, STATUS, {"number_customergauge": n, "status": "open"})
    for path in WRITES:
        body = {**valid_body(path, n), "happened_at": "2020-01-01 00:00:00"}
        got = contract.check(put(site, path, body), path, "PUT", 422)
        assert list(got["errors"]) == ["happened_at"]


def test_write_503_while_the_database_is_locked(site, contract):
    """Another process holds SQLite's write lock longer than the server waits
    (5 s): each write endpoint answers 503 with Retry-After, then recovers."""
    con = sqlite3.connect(str(site.db), isolation_level=None, timeout=10)
    results = {}
    try:
        con.execute("BEGIN EXCLUSIVE")

        # Each worker thread waits out the lock in turn: allow for that.
        def attempt(path):
            body = json.dumps(valid_body(path, number())).encode()
            results[path] = raw(site, "PUT", path, {**bearer(site.token), "Content-Type": JSON},
                                body, timeout=30)

        threads = [threading.Thread(target=attempt, args=(p,)) for p in WRITES]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    finally:
        con.execute("ROLLBACK")
        con.close()
    for path in WRITES:
        contract.check(results[path], path, "PUT", 503)
        assert contract.check(put(site, path, valid_body(path, number())), path, "PUT", 201)


# ---- 429: a server with a rate limit ---------------------------------------------


def test_rate_limited_app_gets_429_everywhere(site, contract, binary):
    """With --rate-limit, an app past its limit gets 429 with Retry-After on
    every endpoint, the token endpoint included (which keeps its no-store)."""
    limited = Server(binary)
    limited.start(site.db, extra=["--rate-limit", "1/h", "--rate-limit-burst", "1"])
    try:
        # Tokens of the main server are good here (same database, same key).
        token, port = site.token, limited.port
        contract.check(limited.api.sync(token), SYNC, "GET", 200)  # the one the burst allows
        contract.check(limited.api.sync(token), SYNC, "GET", 429)
        for path in WRITES:
            body = json.dumps(valid_body(path, number())).encode()
            r = raw(port, "PUT", path, {**bearer(token), "Content-Type": JSON}, body)
            assert contract.check(r, path, "PUT", 429) == {"message": "Too Many Attempts."}
            assert int(r.header("Retry-After")) >= 1
        r = raw(port, "POST", TOKEN, {"Content-Type": FORM}, token_form(site.rw).encode())
        contract.check(r, TOKEN, "POST", 429)
        # Another app has a limit of its own.
        contract.check(limited.api.sync(site.read_token), SYNC, "GET", 200)
    finally:
        assert limited.stop() == 0


# ---- operations: /healthz, /metrics ------------------------------------------------


def test_health_and_metrics(site, contract):
    assert contract.check(site.api.get(HEALTH), HEALTH, "GET", 200) == {"status": "ok"}
    text = contract.check(site.api.get(METRICS), METRICS, "GET", 200)
    assert "# TYPE " in text
    for path in (HEALTH, METRICS):
        contract.check(site.api.get(path, headers=BIG_HEADER), path, "GET", 431)
        for method in ("PUT", "HEAD"):
            r = raw(site, method, path)
            contract.check(r, path, method, 405)
            assert r.header("Allow") == "GET"


def test_health_503_when_the_database_file_is_gone(binary, contract, tmp_path):
    db = tmp_path / "health.db"
    create_app(binary, db, "read", "health")
    server = Server(binary)
    server.start(db)
    try:
        os.rename(db, tmp_path / "moved.db")
        r = server.api.get(HEALTH)
        assert contract.check(r, HEALTH, "GET", 503) == {"status": "unavailable"}
    finally:
        server.stop()


# ---- GET /openapi.yaml and unknown paths --------------------------------------


def test_openapi_document_is_served_as_built(site, contract):
    r = site.api.get(DOC)
    text = contract.check(r, DOC, "GET", 200)
    assert text.encode() == contract.raw, "GET /openapi.yaml differs from docs/openapi.yaml"
    r = site.api.get(DOC, headers=BIG_HEADER)
    contract.check(r, DOC, "GET", 431)
    for method in ("PUT", "POST", "HEAD"):
        r = raw(site, method, DOC)
        contract.check(r, DOC, method, 405)
        assert r.header("Allow") == "GET"


@pytest.mark.parametrize("path", ["/", "/nope", SYNC + "/", "/V7/rest/sync/close-loop",
                                  "/oauth2/token/", "/v7/rest/close-loop", "/openapi.json"])
def test_unknown_paths_404(site, contract, path):
    r = site.api.get(path, site.token)
    assert contract.check_component(r, "NotFound", 404) == {"message": "Not Found."}


def test_every_documented_path_is_served_with_its_method(site, contract):
    """Every documented path is routed (a 405, not a 404, for another
    method), and its Allow header names exactly the documented method."""
    for path, method in contract.operations():
        r = raw(site, "OPTIONS", path)
        assert r.status == 405, r
        assert r.header("Allow") == method, (path, r.header("Allow"))


# ---- must stay last -------------------------------------------------------------


def test_zz_every_documented_response_was_checked(contract):
    documented = set(contract.documented())
    missing = sorted(documented - contract.seen - set(UNPROVOKABLE))
    assert not missing, "documented responses no test produced: " + ", ".join(
        f"{m} {p} {s}" for p, m, s in missing)
    stale = sorted(set(UNPROVOKABLE) - documented)
    assert not stale, f"UNPROVOKABLE lists undocumented responses: {stale}"
