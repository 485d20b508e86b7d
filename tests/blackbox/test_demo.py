"""`closeloop serve --demo` (SPEC §4): on an empty database it creates an
app and demo cases and prints the credentials and copy-paste curl commands."""

import json
import os
import re
import shutil
import subprocess

import pytest

from harness import SYNC, assert_case_shape, new_db, parse_time, poll

ID_RE = re.compile(r"client_id\s+(\S+)")
SECRET_RE = re.compile(r"client_secret\s+(\S+)")


@pytest.fixture(scope="module")
def demo(binary, tmp_path_factory, module_servers):
    srv = module_servers()
    srv.start(new_db(tmp_path_factory.mktemp("demo")), demo=True, timeout=120)
    out = poll(lambda: (lambda s: s if ID_RE.search(s) and SECRET_RE.search(s) else None)(
        srv.stdout()), 10)
    assert out, f"no credentials on stdout: {srv.stdout()!r}"
    return srv, ID_RE.search(out).group(1), SECRET_RE.search(out).group(1)


def test_prints_credentials_and_curl(demo):
    srv, cid, secret = demo
    out = srv.stdout()
    assert "curl" in out
    assert f"127.0.0.1:{srv.port}" in out, "the curl commands must point at this server"
    assert "/oauth2/token" in out and SYNC in out


def test_seed_flow_with_demo_credentials(demo):
    """The seed's two calls: a token, then ?per_page=25."""
    srv, cid, secret = demo
    tok = srv.api.token(cid, secret)
    r = srv.api.get(SYNC + "?per_page=25", tok)
    assert r.status == 200, r
    body = r.json()
    assert len(body["data"]) == 25
    assert body["cursor"]["next"] > 0


def test_demo_app_can_write(demo):
    srv, cid, secret = demo
    tok = srv.api.token(cid, secret)
    assert srv.api.put_status(tok, 987654321, "open").status in (200, 201)


def test_demo_data_is_consistent(demo):
    """A few thousand cases, each obeying the timer rules."""
    srv, cid, secret = demo
    cases = srv.api.all_cases(srv.api.token(cid, secret))
    assert len(cases) >= 1000
    assert len({c["id"] for c in cases}) == len(cases)
    assert len({c["number_customergauge"] for c in cases}) == len(cases)
    assert {c["status"] for c in cases} == {"open", "progress", "closed"}
    for c in cases:
        assert_case_shape(c)
        assert parse_time(c["created_at"]) <= parse_time(c["updated_at"]), c
        if c["status"] == "open":
            assert c["time_to_follow_up"] is None and c["time_to_close"] is None, c
        elif c["status"] == "progress":
            assert c["time_to_follow_up"] is not None and c["time_to_close"] is None, c
        else:
            assert c["time_to_follow_up"] is not None and c["time_to_close"] is not None, c
            assert c["time_to_follow_up"] <= c["time_to_close"], c


def printed_commands(out):
    """The curl commands in the demo's output, backslash continuations joined."""
    cmds, cur = [], None
    for line in out.splitlines():
        text = line.strip()
        if cur is None and text.startswith("curl "):
            cur = ""
        if cur is not None:
            cur += text[:-1] + " " if text.endswith("\\") else text
            if not text.endswith("\\"):
                cmds.append(cur)
                cur = None
    return cmds


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_printed_curl_commands_work_as_pasted(demo):
    """Copy-paste: the token command as printed, then every other command
    with the access token in $TOKEN."""
    srv, cid, secret = demo
    cmds = printed_commands(srv.stdout())
    token_cmds = [c for c in cmds if "/oauth2/token" in c]
    assert len(token_cmds) == 1, cmds
    run = lambda cmd, env=None: subprocess.run(  # noqa: E731
        ["sh", "-c", cmd.replace("curl ", "curl -s --max-time 10 ", 1)], capture_output=True,
        text=True, timeout=20, env={**os.environ, **(env or {})})
    p = run(token_cmds[0])
    assert p.returncode == 0, p.stderr
    tok = json.loads(p.stdout)["access_token"]
    for cmd in cmds:
        if cmd is token_cmds[0]:
            continue
        p = run(cmd, {"TOKEN": tok})
        assert p.returncode == 0, (cmd, p.stderr)
        body = json.loads(p.stdout)
        assert "data" in body, (cmd, body)
        if SYNC in cmd and "per_page=25" in cmd:
            assert len(body["data"]) == 25
