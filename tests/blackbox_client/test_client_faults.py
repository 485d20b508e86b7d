"""How `closeloop sync` behaves when things go wrong: tokens that expire,
credentials that are wrong, servers that are busy, failing or gone.

The retry tests put faultproxy.FaultProxy, a tiny fault-injecting proxy,
between the client and the real server: it answers chosen requests with a
429 (and Retry-After), a 503 or a 401 itself, and records what it saw.
"""

import json
import time

from client_harness import SYNC, TOKEN, clean_env, flatten, free_port, read_jsonl, read_sqlite

GET_SYNC = ("GET", SYNC)
POST_TOKEN = ("POST", TOKEN)


def one_line(stderr):
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one clear line, got {stderr!r}"
    assert lines[0].startswith("closeloop: ")
    return lines[0]


def test_compressed_pages_are_accepted_and_decoded(deploy, proxy, tmp_path):
    """The client asks for compressed bodies (Accept-Encoding) and decodes
    them: a sync through a proxy that gzips every page it may is the same
    as the server's cases."""
    d = deploy(cases=120)
    px = proxy(d)
    px.gzip = True
    out = tmp_path / "gz.db"
    p = d.sync("--per-page", 25, "--output", f"sqlite:{out}", url=px.url)
    assert p.returncode == 0, p.stderr
    pages = px.requests(*GET_SYNC)
    assert len(pages) == 6  # 5 pages and the empty one
    assert all("gzip" in e.accept_encoding for e in pages), [e.accept_encoding for e in pages]
    assert all(e.gzipped for e in pages)
    rows, _ = read_sqlite(out)
    assert rows == {i: flatten(c) for i, c in d.api.all_cases().items()}


def test_a_misleading_page_end_costs_no_case(deploy, proxy, tmp_path):
    """The client requests the next page before it parses this one, with the
    cursor read off the page's end. A page laid out otherwise (the cursor
    first, a case's unknown key "next" last) misleads that guess: the page
    itself is then believed, and the sync is exact all the same."""
    def reorder(body):
        page = json.loads(body)
        if "data" not in page:
            return body  # the token
        if page["data"]:
            page["data"][-1]["next"] = 2 ** 40  # past any cursor of this server
        return json.dumps({"cursor": page["cursor"], "data": page["data"]}).encode()

    d = deploy(cases=95)
    px = proxy(d)
    px.transform = reorder
    out = tmp_path / "misled.jsonl"
    p = d.sync("--per-page", 10, "--output", out, url=px.url)
    assert p.returncode == 0, p.stderr
    want = d.api.all_cases()
    got = [c for c in read_jsonl(out)]
    assert [c["id"] for c in got] == [c["id"] for c in want.values()]
    # Every guess was wrong: one extra request a page, at cursor 2**40.
    guesses = [e for e in px.events if e.method == "GET" and e.path == SYNC]
    assert len(guesses) >= 2 * 10


def test_one_token_and_one_connection_for_a_whole_sync(deploy, proxy, tmp_path):
    d = deploy(cases=1000)
    px = proxy(d)
    p = d.sync("--per-page", 50, "--output", tmp_path / "a.jsonl", url=px.url)
    assert p.returncode == 0, p.stderr
    assert len(px.requests(*POST_TOKEN)) == 1, "the token is reused for every page"
    assert len(px.requests(*GET_SYNC)) == 21  # 20 pages and the empty one
    assert len(px.connections()) == 1, "one kept-alive connection"


def test_token_expiry_mid_sync_is_one_refresh(deploy, proxy, tmp_path):
    # Tokens live 2 s; the proxy slows each page so the sync takes ~3.5 s.
    d = deploy(cases=1200, server_args=("--token-ttl", 2))
    px = proxy(d)
    px.delay = 0.15
    out = tmp_path / "t.db"
    started = time.monotonic()
    p = d.sync("--per-page", 50, "--output", f"sqlite:{out}", url=px.url)
    took = time.monotonic() - started
    assert p.returncode == 0, p.stderr
    assert took > 2.5
    tokens = len(px.requests(*POST_TOKEN))
    refused = [e for e in px.requests(*GET_SYNC) if e.status == 401]
    # One token per lifetime: renewed (before or upon expiry), never looped.
    assert 2 <= tokens <= int(took / 2) + 2, (tokens, took)
    assert len(refused) <= tokens - 1
    rows, _ = read_sqlite(out)
    assert rows == {i: flatten(c) for i, c in d.api.all_cases().items()}


def test_a_401_mid_sync_renews_the_token_once(deploy, proxy, tmp_path):
    d = deploy(cases=300)
    px = proxy(d)
    px.plan[GET_SYNC] = {3: 401}  # e.g. a token revoked behind the client's back
    out = tmp_path / "r.db"
    p = d.sync("--per-page", 50, "--output", f"sqlite:{out}", url=px.url)
    assert p.returncode == 0, p.stderr
    assert len(px.requests(*POST_TOKEN)) == 2
    rows, _ = read_sqlite(out)
    assert rows == {i: flatten(c) for i, c in d.api.all_cases().items()}


def test_a_second_401_is_an_authentication_error(deploy, proxy):
    d = deploy(cases=10)
    px = proxy(d)
    px.always[GET_SYNC] = 401
    p = d.sync(url=px.url)
    assert p.returncode == 3
    one_line(p.stderr)
    assert len(px.requests(*POST_TOKEN)) == 2, "refresh once, then stop"
    assert len(px.requests(*GET_SYNC)) == 2


def test_wrong_secret_exits_3_with_one_clear_line(deploy, proxy):
    d = deploy(cases=10)
    px = proxy(d)
    wrong = "not-the-secret-" + d.secret[:4]
    p = d.sync(url=px.url, env=clean_env(CLOSELOOP_CLIENT_ID=d.client_id,
                                         CLOSELOOP_CLIENT_SECRET=wrong))
    assert p.returncode == 3
    line = one_line(p.stderr)
    assert "authentication" in line or "credentials" in line
    assert wrong not in p.stderr and p.stdout == ""
    assert len(px.requests(*POST_TOKEN)) == 1, "bad credentials are not retried"


def test_429_and_503_are_retried_honouring_retry_after(deploy, proxy, tmp_path):
    d = deploy(cases=500)
    px = proxy(d)
    px.plan[POST_TOKEN] = {1: 503}
    px.plan[GET_SYNC] = {2: 429, 4: 503, 5: 503, 7: 500}
    px.retry_after = "1"
    out = tmp_path / "f.db"
    p = d.sync("--per-page", 100, "--output", f"sqlite:{out}", "--deadline", 30, url=px.url)
    assert p.returncode == 0, p.stderr
    rows, _ = read_sqlite(out)
    assert rows == {i: flatten(c) for i, c in d.api.all_cases().items()}
    events = px.events
    for i, e in enumerate(events[:-1]):
        if e.status in (429, 503) and e.injected:
            gap = events[i + 1].t - e.t
            assert gap >= 0.95, f"Retry-After: 1 not honoured after {e} ({gap:.3f} s)"
    assert len(px.requests(*POST_TOKEN)) == 2, "a retried token request is not a refresh"


def test_retries_without_retry_after_back_off_quickly(deploy, proxy, tmp_path):
    d = deploy(cases=100)
    px = proxy(d)
    px.retry_after = None
    px.plan[GET_SYNC] = {1: 503, 2: 503, 3: 503}
    started = time.monotonic()
    p = d.sync("--output", tmp_path / "x.jsonl", url=px.url)
    assert p.returncode == 0, p.stderr
    assert time.monotonic() - started < 10
    gaps = [b.t - a.t for a, b in zip(px.requests(*GET_SYNC), px.requests(*GET_SYNC)[1:4])]
    assert gaps[0] < gaps[2], "exponential backoff"


def test_a_server_that_keeps_failing_is_exit_4_after_the_deadline(deploy, proxy):
    d = deploy(cases=10)
    px = proxy(d)
    px.retry_after = None
    px.always[GET_SYNC] = 503
    started = time.monotonic()
    p = d.sync("--deadline", 3, url=px.url, timeout=30)
    took = time.monotonic() - started
    assert p.returncode == 4
    assert 2.5 <= took < 8, took
    line = one_line(p.stderr)
    assert "503" in line


def test_other_4xx_fail_at_once_with_the_servers_message(deploy, proxy):
    d = deploy(cases=10)
    px = proxy(d)
    px.always[GET_SYNC] = 422
    p = d.sync(url=px.url)
    assert p.returncode == 4
    assert "The per page must be between 1 and 1000." in one_line(p.stderr)
    assert len(px.requests(*GET_SYNC)) == 1, "not retried"


def test_unreachable_server_is_exit_4_after_the_deadline(binary):
    url = f"http://127.0.0.1:{free_port()}"
    env = clean_env(CLOSELOOP_CLIENT_ID="id", CLOSELOOP_CLIENT_SECRET="secret")
    import subprocess
    started = time.monotonic()
    p = subprocess.run([binary, "sync", "--base-url", url, "--deadline", "2"], capture_output=True,
                       text=True, timeout=30, env=env)
    took = time.monotonic() - started
    assert p.returncode == 4
    assert 1.9 <= took < 6, took
    line = one_line(p.stderr)
    assert "gave up" in line


def test_a_missing_read_scope_is_exit_3(deploy, binary):
    d = deploy(cases=5)
    from client_harness import create_app
    cid, sec = create_app(binary, d.db, "write", name="writer")
    p = d.sync(env=clean_env(CLOSELOOP_CLIENT_ID=cid, CLOSELOOP_CLIENT_SECRET=sec))
    assert p.returncode == 3
    one_line(p.stderr)
