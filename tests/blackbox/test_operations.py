"""Operations: GET /healthz, GET /metrics, the per-app rate limit (server and
sync client together) and the access log in text and JSON (docs/operations.md).

Every test starts its own server, because counters, buckets and logs are
per process.
"""

import json
import math
import os
import re
import shutil
import subprocess
import time
from datetime import datetime, timezone

import pytest

from harness import (COMMENT, STATUS, SYNC, TOKEN, create_app, deploy, form, new_db,
                     next_number, poll, run_cli)

METRICS = "/metrics"
HEALTHZ = "/healthz"
TOO_MANY = {"message": "Too Many Attempts."}
EXIT_USAGE = 2
EXIT_STORAGE = 5

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
ISO_MS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
TEXT_LINE_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} info (\S+) (\S+) (\d{3}) (\d+) (\d+)ms$")
ACCESS_KEYS = ["time", "method", "path", "status", "bytes", "duration_ms", "route", "app", "remote"]


# ---- helpers ------------------------------------------------------------------


def scrape(api):
    """GET /metrics, checked against the text format 0.0.4, as
    {(name, ((label, value), ...)): value}."""
    r = api.get(METRICS)
    assert r.status == 200, r
    ctype = r.header("Content-Type")
    assert ctype.startswith("text/plain") and "version=0.0.4" in ctype, ctype
    text = r.body.decode()
    assert text.endswith("\n")
    samples, typed = {}, {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "histogram", "gauge"), line
            assert name not in typed, f"TYPE twice: {line}"
            typed[name] = kind
            continue
        m = SAMPLE_RE.match(line)
        assert m, f"not a sample line: {line!r}"
        name, labels, value = m.group(1), m.group(3) or "", m.group(4)
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in typed else name
        assert family in typed, f"sample before its TYPE: {line!r}"
        pairs = tuple(LABEL_RE.findall(labels))
        assert ",".join(f'{k}="{v}"' for k, v in pairs) == labels, line
        key = (name, pairs)
        assert key not in samples, f"duplicate series {line!r}"
        samples[key] = float(value)
    return samples


def val(samples, name, **labels):
    """A sample's value; 0 when the series does not exist (yet)."""
    return samples.get((name, tuple(labels.items())), 0.0)


def requests_total(samples, route, status):
    return val(samples, "closeloop_http_requests_total", route=route, status=str(status))


def start(servers, binary, db, *extra, **opts):
    """A read,write app, a server with extra flags, and its token."""
    opts.setdefault("quiet", True)
    return deploy(binary, db, servers(), extra=extra, **opts)


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return [line for line in f.read().splitlines() if line]


def access_entries(lines):
    """The JSON access log entries among log lines (diagnostics have 'level')."""
    out = []
    for line in lines:
        obj = json.loads(line)
        if "level" not in obj:
            out.append(obj)
    return out


# ---- /healthz -----------------------------------------------------------------


def test_healthz_ok_without_a_token(binary, db, servers):
    d = start(servers, binary, db)
    r = d.api.get(HEALTHZ)
    assert r.status == 200, r
    assert r.json() == {"status": "ok"}
    assert r.header("Cache-Control") == "no-store"
    # A token is accepted and changes nothing.
    assert d.api.get(HEALTHZ, d.token).json() == {"status": "ok"}


@pytest.mark.sqlite_only("deletes or replaces the database file under the server")
@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_healthz_503_when_the_database_file_goes(binary, tmp_path, servers, how):
    """A database file deleted or replaced under the running server would
    swallow every later write (SQLite keeps writing the unlinked inode):
    every worker's health check must say so, and count it."""
    db = tmp_path / "closeloop.db"
    d = start(servers, binary, db, threads=3)
    assert d.api.get(HEALTHZ).status == 200
    before = val(scrape(d.api), "closeloop_db_errors_total")
    if how == "deleted":
        for suffix in ("", "-wal", "-shm"):
            p = tmp_path / f"closeloop.db{suffix}"
            if p.exists():
                p.unlink()
    else:
        other = tmp_path / "other.db"
        create_app(binary, other)  # a valid, different closeloop database
        os.replace(other, db)
    # Fresh connections spread over the worker threads: all must fail.
    for _ in range(12):
        r = d.api.get(HEALTHZ)
        assert r.status == 503, r
        assert r.json() == {"status": "unavailable"}
        assert r.header("Retry-After") == "1"
    assert val(scrape(d.api), "closeloop_db_errors_total") >= before + 12
    assert "health check failed" in d.server.stderr()


def test_healthz_ok_again_after_restart(binary, db, servers):
    d = start(servers, binary, db)
    d.server.restart()
    assert d.api.get(HEALTHZ).json() == {"status": "ok"}


# ---- /metrics -------------------------------------------------------------------


def test_metrics_count_requests_by_route_and_status(binary, db, servers):
    """Counts move by exactly the requests made, summed over the worker
    threads (each request uses a new connection, which the kernel spreads
    over the threads' listeners)."""
    d = start(servers, binary, db, threads=4)
    before = scrape(d.api)
    plan = [
        (lambda: d.api.sync(d.token, "per_page=1"), SYNC, 200, 7),
        (lambda: d.api.sync(None, "per_page=1"), SYNC, 401, 3),
        (lambda: d.api.sync(d.token, "per_page=0"), SYNC, 422, 2),
        (lambda: d.api.request("POST", SYNC), SYNC, 405, 2),
        (lambda: d.api.get("/no/such/path"), "other", 404, 5),
        (lambda: d.api.put_status(d.token, next_number(), "open"), STATUS, 201, 3),
        (lambda: d.api.get(HEALTHZ), HEALTHZ, 200, 2),
    ]
    for call, _, status, times in plan:
        for _ in range(times):
            assert call().status == status
    after = scrape(d.api)
    for _, route, status, times in plan:
        delta = requests_total(after, route, status) - requests_total(before, route, status)
        assert delta == times, (route, status, delta)
    # The scrape before this one is counted too, under its own route.
    assert requests_total(after, METRICS, 200) - requests_total(before, METRICS, 200) == 1
    # Nothing else moved.
    for (name, labels), value in after.items():
        if name != "closeloop_http_requests_total":
            continue
        lbl = dict(labels)
        if (lbl["route"], int(lbl["status"])) in {(r, s) for _, r, s, _ in plan} | {(METRICS, 200)}:
            continue
        assert value == before.get((name, labels), 0), (labels, value)


def test_latency_histogram_is_consistent(binary, db, servers):
    d = start(servers, binary, db, threads=2)
    for _ in range(20):
        assert d.api.sync(d.token, "per_page=5").status == 200
    s = scrape(d.api)
    for route in (SYNC, TOKEN):
        buckets = sorted(
            ((float("inf") if dict(lbl)["le"] == "+Inf" else float(dict(lbl)["le"]), v)
             for (name, lbl), v in s.items()
             if name == "closeloop_http_request_duration_seconds_bucket"
             and dict(lbl)["route"] == route))
        assert len(buckets) >= 10 and buckets[-1][0] == math.inf, buckets
        counts = [v for _, v in buckets]
        assert counts == sorted(counts), f"buckets of {route} not cumulative: {buckets}"
        total = val(s, "closeloop_http_request_duration_seconds_count", route=route)
        assert counts[-1] == total
        assert total == sum(v for (name, lbl), v in s.items()
                            if name == "closeloop_http_requests_total"
                            and dict(lbl)["route"] == route)
        assert 0 < val(s, "closeloop_http_request_duration_seconds_sum", route=route) < total * 10
    assert val(s, "closeloop_http_request_duration_seconds_count", route=SYNC) == 20


def test_tokens_issued_counts_only_tokens(binary, db, servers):
    d = start(servers, binary, db, threads=2)
    before = val(scrape(d.api), "closeloop_tokens_issued_total")
    for _ in range(4):
        d.api.token(d.client_id, d.secret)
    bad = form([("grant_type", "client_credentials"), ("client_id", d.client_id),
                ("client_secret", "wrong")])
    assert d.api.token_request(bad).status == 401
    assert d.api.token_request("grant_type=password").status == 400
    assert val(scrape(d.api), "closeloop_tokens_issued_total") == before + 4


def test_metrics_and_healthz_are_get_only(binary, db, servers):
    d = start(servers, binary, db)
    for path in (METRICS, HEALTHZ):
        r = d.api.request("POST", path)
        assert r.status == 405 and r.header("Allow") == "GET", r


# ---- rate limiting ----------------------------------------------------------------


def test_rate_limit_429_with_retry_after(binary, db, servers):
    """A burst of 5 at 1/s: the requests beyond it get 429 with the exact
    body and a Retry-After that, waited out, lets the next one through; each
    refusal is counted."""
    d = start(servers, binary, db, "--rate-limit", "1/s", "--rate-limit-burst", "5", threads=2)
    t0 = time.monotonic()
    ok = 0
    while True:
        r = d.api.sync(d.token, "per_page=1")
        if r.status == 429:
            break
        assert r.status == 200, r
        ok += 1
        assert ok < 100, "never limited"
    # deploy's token request took one of the 5; a slow machine may have
    # earned a token a second since.
    assert 4 <= ok <= 4 + math.ceil(time.monotonic() - t0), ok
    refused = [r] + [d.api.sync(d.token, "per_page=1") for _ in range(3)]
    refused = [x for x in refused if x.status == 429]
    for x in refused:
        assert x.json() == TOO_MANY
        assert x.body == b'{"message":"Too Many Attempts."}'
        assert x.header("Retry-After") == "1", x.header("Retry-After")
    s = scrape(d.api)
    assert val(s, "closeloop_rate_limited_total") == len(refused)
    assert requests_total(s, SYNC, 429) == len(refused)
    time.sleep(int(refused[-1].header("Retry-After")))
    assert d.api.sync(d.token, "per_page=1").status == 200


def test_rate_limit_is_per_app_and_per_process_not_per_thread(binary, db, servers):
    """Burst 6 at a rate too slow to refill during the test: however the
    kernel spreads 30 connections over 4 threads, exactly 6 requests of one
    app pass (one was the token request); another app has its own bucket."""
    d = start(servers, binary, db, "--rate-limit", "1/h", "--rate-limit-burst", "6", threads=4)
    ok = sum(d.api.sync(d.token, "per_page=1").status == 200 for _ in range(30))
    assert ok == 5
    cid, sec = create_app(binary, db, "read")
    body = form([("grant_type", "client_credentials"), ("client_id", cid), ("client_secret", sec)])
    r = d.api.token_request(body)
    assert r.status == 200, r
    other = r.json()["access_token"]
    assert sum(d.api.sync(other, "per_page=1").status == 200 for _ in range(10)) == 5


def test_rate_limit_covers_the_token_endpoint(binary, db, servers):
    d = start(servers, binary, db, "--rate-limit", "1/h", "--rate-limit-burst", "2")
    assert d.api.sync(d.token, "per_page=1").status == 200  # the second and last
    body = form([("grant_type", "client_credentials"), ("client_id", d.client_id),
                 ("client_secret", d.secret)])
    r = d.api.token_request(body)
    assert r.status == 429, r
    assert r.json() == TOO_MANY
    assert int(r.header("Retry-After")) >= 3000  # a token an hour: most of an hour away
    assert r.header("Cache-Control") == "no-store" and r.header("Pragma") == "no-cache"
    # Bad credentials are not the app's: still a plain 401, not a 429.
    bad = form([("grant_type", "client_credentials"), ("client_id", d.client_id),
                ("client_secret", "nope")])
    assert d.api.token_request(bad).status == 401
    # Unauthenticated API calls are refused as such, never throttled.
    assert d.api.sync("cl1.forged.token", "per_page=1").status == 401
    assert val(scrape(d.api), "closeloop_tokens_issued_total") == 1


def test_no_rate_limit_by_default(binary, db, servers):
    d = start(servers, binary, db)
    assert all(d.api.sync(d.token, "per_page=1").status == 200 for _ in range(60))
    assert val(scrape(d.api), "closeloop_rate_limited_total") == 0


@pytest.mark.parametrize("args", [
    ["--rate-limit", "5"],
    ["--rate-limit", "0/s"],
    ["--rate-limit", "5/d"],
    ["--rate-limit", "five/s"],
    ["--rate-limit-burst", "3"],
    ["--rate-limit", "5/s", "--rate-limit-burst", "0"],
    ["--log-format", "xml"],
    ["--log-file", "/tmp/x.log", "--quiet"],
])
def test_operations_flags_are_checked(binary, db, args):
    p = run_cli(binary, "serve", "--listen", "127.0.0.1:0", *args, db=db, timeout=10)
    assert p.returncode == EXIT_USAGE, (args, p.returncode, p.stderr)
    assert p.stderr.strip(), args


def test_unwritable_log_file_is_a_storage_error(binary, db, tmp_path):
    p = run_cli(binary, "serve", "--listen", "127.0.0.1:0", "--log-file",
                str(tmp_path / "no" / "such" / "dir.log"), db=db, timeout=10)
    assert p.returncode == EXIT_STORAGE, (p.returncode, p.stderr)
    assert "log file" in p.stderr


def test_sync_client_honours_retry_after(binary, tmp_path, servers):
    """Both ends together: `closeloop sync` against a server limited to 5/s
    with a burst of 2 completes with every case, takes at least as long as
    the limit allows, and after each 429 waits the Retry-After it was given
    (the client's own backoff starts at 250 ms, well under it)."""
    db = new_db(tmp_path, "server")
    cases = 40
    p = run_cli(binary, "seed", "--cases", str(cases), db=db, timeout=120)
    assert p.returncode == 0, p.stderr
    cid, sec = create_app(binary, db, "read")
    log = tmp_path / "access.log"
    srv = servers()
    srv.start(db, threads=2, quiet=False,
              extra=["--rate-limit", "5/s", "--rate-limit-burst", "2",
                     "--log-format", "json", "--log-file", str(log)])
    out = tmp_path / "cases.jsonl"
    t0 = time.monotonic()
    p = run_cli(binary, "sync", "--base-url", f"http://127.0.0.1:{srv.port}", "--per-page", "4",
                "--output", str(out), "--quiet", timeout=120,
                env={"CLOSELOOP_CLIENT_ID": cid, "CLOSELOOP_CLIENT_SECRET": sec})
    elapsed = time.monotonic() - t0
    assert p.returncode == 0, (p.returncode, p.stderr)
    ids = {json.loads(line)["id"] for line in read_lines(out)}
    assert len(ids) == cases

    # 1 token + 10 full pages + the empty page = 12 requests that passed;
    # a bucket of 2 refilled at 5/s passes 12 no sooner than (12 - 2) / 5 s.
    # A line is written just after its response: the last may trail the exit.
    def logged():
        return [e for e in access_entries(read_lines(log)) if e["app"] == cid]
    poll(lambda: sum(e["status"] == 200 for e in logged()) >= 12, 5)
    entries = logged()
    passed = [e for e in entries if e["status"] == 200]
    limited = [e for e in entries if e["status"] == 429]
    assert len(passed) == 12, [(e["path"], e["status"]) for e in entries]
    assert elapsed >= (12 - 2) / 5, elapsed
    assert limited, "the limit never bit: the test proves nothing"
    assert val(scrape(srv.api), "closeloop_rate_limited_total") == len(limited)

    # After every 429 (Retry-After: 1) the next attempt came a second later.
    def at(e):
        return datetime.strptime(e["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    entries.sort(key=at)
    for prev, nxt in zip(entries, entries[1:]):
        if prev["status"] == 429:
            gap = (at(nxt) - at(prev)).total_seconds()
            assert gap >= 0.95, f"retried {gap:.3f} s after a 429 with Retry-After: 1"


# ---- the access log ---------------------------------------------------------------


def test_json_access_log_fields_and_no_secrets(binary, db, servers, tmp_path):
    log = tmp_path / "access.log"
    d = start(servers, binary, db, "--log-format", "json", "--log-file", str(log), quiet=False)
    note = "NOTE-BODY-never-logged-7f3a"
    n = next_number()
    assert d.api.put_status(d.token, n, "progress", note=note).status == 201
    assert d.api.put_comment(d.token, n, note + "-comment").status == 200
    assert d.api.sync(d.token, "per_page=2").status == 200
    # Credentials where they do not belong are redacted from the line.
    assert d.api.get(SYNC + "?per_page=1&access_token=" + d.token).status == 401
    assert d.api.get(TOKEN + "?client_secret=" + d.secret).status == 405
    assert d.api.get("/nope?x=1").status == 404
    d.server.stop()

    lines = read_lines(log)
    text = "\n".join(lines)
    for secret in (d.secret, d.token, note, d.token[-20:], d.secret[-12:]):
        assert secret not in text, secret
    assert d.secret not in d.server.stderr() and d.token not in d.server.stderr()
    entries = [json.loads(line) for line in lines]  # every line is JSON
    assert all(list(e) == ACCESS_KEYS for e in entries), entries[0]
    # deploy's token request, then the six requests above.
    assert len(entries) == 7, entries
    for e in entries:
        assert ISO_MS_RE.match(e["time"]), e
        assert type(e["status"]) is int and type(e["bytes"]) is int and e["bytes"] > 0
        assert isinstance(e["duration_ms"], (int, float)) and e["duration_ms"] >= 0
        assert e["remote"] == "127.0.0.1"
    # In request order (lines of different threads may trail one another).
    order = [(TOKEN, "POST"), (STATUS, "PUT"), (COMMENT, "PUT"), (SYNC + "?per_page=2", "GET"),
             (SYNC + "?per_page=1&access_token=[REDACTED]", "GET"),
             (TOKEN + "?client_secret=[REDACTED]", "GET"), ("/nope?x=1", "GET")]
    entries.sort(key=lambda e: order.index((e["path"], e["method"])))
    token, put, comment, page, leaked_token, leaked_secret, missing = entries
    assert (token["method"], token["path"], token["status"]) == ("POST", TOKEN, 200)
    assert token["route"] == TOKEN and token["app"] == d.client_id
    assert (put["method"], put["path"], put["status"], put["route"]) == ("PUT", STATUS, 201, STATUS)
    assert put["app"] == d.client_id
    assert comment["route"] == COMMENT
    assert page["path"] == SYNC + "?per_page=2" and page["app"] == d.client_id
    assert leaked_token["path"] == SYNC + "?per_page=1&access_token=[REDACTED]"
    assert leaked_token["status"] == 401 and leaked_token["app"] is None
    assert leaked_secret["path"] == TOKEN + "?client_secret=[REDACTED]"
    assert (missing["route"], missing["app"], missing["status"]) == (None, None, 404)
    assert missing["path"] == "/nope?x=1"


def test_json_format_on_stderr_covers_diagnostics(binary, db, servers):
    d = start(servers, binary, db, "--log-format", "json", quiet=False)
    assert d.api.get(HEALTHZ).status == 200
    d.server.stop()
    lines = [line for line in d.server.stderr().splitlines() if line]
    # The server's last line; a sanitizer build may report after it.
    last = [i for i, line in enumerate(lines) if '"closeloop: stopped"' in line]
    assert last, lines
    # The one human line that announces the port stays plain (tools wait for it).
    lines = [line for line in lines[:last[0] + 1]
             if not line.startswith("closeloop: listening on")]
    objs = [json.loads(line) for line in lines]
    levels = [o for o in objs if "level" in o]
    access = [o for o in objs if "level" not in o]
    assert any("shutting down" in o["message"] for o in levels), levels
    assert all(ISO_MS_RE.match(o["time"]) for o in objs)
    assert sorted(o["path"] for o in access) == sorted([TOKEN, HEALTHZ])


def test_text_access_log_still_works(binary, db, servers, tmp_path):
    log = tmp_path / "text.log"
    d = start(servers, binary, db, "--log-file", str(log), quiet=False)
    assert d.api.sync(d.token, "per_page=3").status == 200
    assert d.api.get("/nope").status == 404
    d.server.stop()
    lines = read_lines(log)
    parsed = [TEXT_LINE_RE.match(line) for line in lines]
    assert all(parsed), lines
    # Each line is written once its response is out, so lines of requests
    # served by different threads may trail one another.
    assert sorted((m.group(1), m.group(2), m.group(3)) for m in parsed) == sorted([
        ("POST", TOKEN, "200"), ("GET", SYNC + "?per_page=3", "200"), ("GET", "/nope", "404")])
    assert d.token not in "\n".join(lines) and d.secret not in "\n".join(lines)
    # The file took the access log; stderr kept only the diagnostics.
    assert SYNC not in d.server.stderr()


def test_log_file_is_appended_across_restarts(binary, db, servers, tmp_path):
    log = tmp_path / "access.log"
    log.write_text('{"earlier":"line"}\n')
    d = start(servers, binary, db, "--log-format", "json", "--log-file", str(log), quiet=False)
    d.server.restart()
    assert d.api.get(HEALTHZ).status == 200
    d.server.stop()
    lines = read_lines(log)
    assert lines[0] == '{"earlier":"line"}'
    assert sorted(json.loads(line)["path"] for line in lines[1:]) == sorted([TOKEN, HEALTHZ])


# ---- the systemd unit ------------------------------------------------------------------

UNIT = os.path.join(os.path.dirname(__file__), "..", "..", "deploy", "closeloop.service")


def unit_exec_start():
    with open(UNIT, encoding="utf-8") as f:
        lines = [line.strip() for line in f if line.startswith("ExecStart=")]
    assert len(lines) == 1, lines
    return lines[0][len("ExecStart="):].split()


def test_systemd_unit_command_line_serves(binary, tmp_path, servers):
    """The unit's ExecStart, with the test's port and database, starts a
    server that answers /healthz and logs JSON."""
    argv = unit_exec_start()
    assert argv[0] == "/usr/local/bin/closeloop" and argv[1] == "serve"
    args, extra = argv[2:], []
    assert "--listen" in args and "--db" in args
    while args:  # the harness gives --listen and --db itself
        if args[0] in ("--listen", "--db"):
            args = args[2:]
        else:
            extra.append(args.pop(0))
    srv = servers()
    srv.start(new_db(tmp_path, "unit"), quiet=False, extra=extra)
    assert srv.api.get(HEALTHZ).json() == {"status": "ok"}
    assert poll(lambda: any(line.startswith('{"time"') and '"/healthz"' in line
                            for line in srv.stderr_lines), 5)


def test_systemd_unit_verifies(binary, tmp_path):
    tool = shutil.which("systemd-analyze")
    if not tool:
        pytest.skip("systemd-analyze is not installed")
    with open(UNIT, encoding="utf-8") as f:
        text = f.read().replace("/usr/local/bin/closeloop", binary)
    unit = tmp_path / "closeloop.service"
    unit.write_text(text)
    p = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "closeloop.service" not in p.stderr, p.stderr  # no warning about our unit
