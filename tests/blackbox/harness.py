"""Helpers of the black-box suite: the real `closeloop serve` on a temporary database.

Every test speaks HTTP to a server process started from $CLOSELOOP_BIN on
127.0.0.1 with a port the kernel picked. Nothing here knows the C code; the
only contract is SPEC.md and the command line.

Every wait is bounded: sockets, subprocesses and polls all carry timeouts.
"""

import base64
import http.client
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
from datetime import datetime, timedelta, timezone

import pytest

from backend import db_exists, dump_db, integrity, new_db, query_db  # noqa: F401 (re-exported)

HOST = "127.0.0.1"
HTTP_TIMEOUT = 10  # seconds, every socket
CLI_TIMEOUT = 30  # seconds, every short-lived command
START_TIMEOUT = 20  # seconds until "listening on" (demo data takes longer)
STOP_TIMEOUT = 10  # seconds for a graceful exit

SYNC = "/v7/rest/sync/close-loop"
STATUS = "/v7/rest/close-loop/status"
ASSIGNEE = "/v7/rest/close-loop/assignee"
COMMENT = "/v7/rest/close-loop/comment"
TOKEN = "/oauth2/token"

CASE_KEYS = [
    "id",
    "number_customergauge",
    "status",
    "assignee",
    "time_to_follow_up",
    "time_to_close",
    "created_at",
    "updated_at",
]
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
UNAUTHENTICATED = {"message": "Unauthenticated."}
UNAUTHORIZED = {"message": "This action is unauthorized."}

_numbers = itertools.count(1000)


def next_number():
    """A survey response number no other test in this process uses."""
    return next(_numbers)


# ---- time -----------------------------------------------------------------


def utcnow():
    return datetime.now(timezone.utc).replace(microsecond=0)


def fmt_time(dt):
    return dt.strftime("%Y-%m-%d %H:%M:%S")


def parse_time(s):
    return datetime.strptime(s, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)


def poll(fn, timeout, interval=0.05):
    """Calls fn until it returns a truthy value or timeout seconds pass;
    returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


# ---- HTTP -------------------------------------------------------------------


def _strict_object(pairs):
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), f"duplicate keys in JSON object: {keys}"
    return dict(pairs)  # dicts keep the document's key order


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # http.client.HTTPMessage
        self.body = body

    def header(self, name):
        return self.headers.get(name)

    def json(self):
        ctype = self.headers.get("Content-Type", "")
        assert ctype.split(";")[0].strip() == "application/json", (
            f"Content-Type {ctype!r}, body {self.body[:300]!r}"
        )
        return json.loads(self.body, object_pairs_hook=_strict_object)

    def __repr__(self):
        return f"<HTTP {self.status} {self.body[:500]!r}>"


def read_response(conn_or_sock, method="GET"):
    if isinstance(conn_or_sock, socket.socket):
        r = http.client.HTTPResponse(conn_or_sock, method=method)
        r.begin()
    else:
        r = conn_or_sock.getresponse()
    body = r.read()
    return Resp(r.status, r.headers, body)


def raw_exchange(port, data, method="GET"):
    """Sends bytes as they are and reads one response. Tolerates the server
    closing the connection while we are still sending (e.g. after a 413)."""
    with socket.create_connection((HOST, port), timeout=HTTP_TIMEOUT) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_response(s, method)


def form(pairs):
    """Form-encodes [(name, value)] keeping names and order."""
    return "&".join(
        f"{urllib.parse.quote(k, safe='[]')}={urllib.parse.quote(str(v), safe='')}" for k, v in pairs
    )


def basic(client_id, secret):
    raw = f"{urllib.parse.quote(client_id, safe='')}:{urllib.parse.quote(secret, safe='')}"
    return "Basic " + base64.b64encode(raw.encode()).decode()


class Api:
    """HTTP to one server. Each call opens a fresh connection unless a
    persistent one is requested with keep_alive()."""

    def __init__(self, port):
        self.port = port
        self.base = f"http://{HOST}:{port}"

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection(HOST, self.port, timeout=HTTP_TIMEOUT)
        try:
            if isinstance(body, str):
                body = body.encode()
            conn.request(method, path, body=body, headers=headers or {})
            return read_response(conn, method)
        finally:
            conn.close()

    # -- token -------------------------------------------------------------

    def token_request(self, body, content_type="application/x-www-form-urlencoded", headers=None):
        h = {"Content-Type": content_type} if content_type else {}
        h.update(headers or {})
        return self.request("POST", TOKEN, body, h)

    def token(self, client_id, secret, scope=None):
        pairs = [("grant_type", "client_credentials"), ("client_id", client_id), ("client_secret", secret)]
        if scope is not None:
            pairs.append(("scope", scope))
        r = self.token_request(form(pairs))
        assert r.status == 200, r
        return r.json()["access_token"]

    # -- reads -------------------------------------------------------------

    def get(self, path, token=None, headers=None):
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        return self.request("GET", path, None, h)

    def sync(self, token, query=""):
        """GET the sync endpoint with a raw query string (names as given)."""
        return self.get(SYNC + (f"?{query}" if query else ""), token)

    def page(self, token, *pairs):
        """One 200 page for [(name, value)] parameters, as parsed JSON."""
        r = self.sync(token, form(pairs))
        assert r.status == 200, r
        return r.json()

    def full_pass(self, token, per_page=1000, cursor=None, start=None, end=None, between=None):
        """Pages until an empty page. Returns (pages, final cursor). `between`
        is called with the page index after every non-empty page."""
        pages = []
        cur = cursor
        while True:
            pairs = [("per_page", per_page)]
            if cur is not None:
                pairs.append(("cursor", cur))
            if start is not None:
                pairs.append(("updated_at[start]", start))
            if end is not None:
                pairs.append(("updated_at[end]", end))
            r = self.sync(token, form(pairs))
            assert r.status == 200, r
            body = r.json()
            pages.append(body)
            nxt = body["cursor"]["next"]
            if not body["data"]:
                assert nxt == (cur or 0), f"empty page must echo the cursor {cur}: {body}"
                return pages, nxt
            assert len(body["data"]) <= per_page
            assert len(pages) < 100000, "pass does not end"
            cur = nxt
            if between:
                between(len(pages) - 1)

    def all_cases(self, token):
        pages, _ = self.full_pass(token, per_page=1000)
        return [c for p in pages for c in p["data"]]

    # -- writes ------------------------------------------------------------

    def put(self, path, body, token=None, content_type="application/json", headers=None):
        h = {}
        if content_type is not None:
            h["Content-Type"] = content_type
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        h.update(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        return self.request("PUT", path, body, h)

    def put_status(self, token, number, status, note=None, happened_at=None):
        body = {"number_customergauge": number, "status": status}
        if note is not None:
            body["note"] = note
        if happened_at is not None:
            body["happened_at"] = happened_at if isinstance(happened_at, str) else fmt_time(happened_at)
        return self.put(STATUS, body, token)

    def set_status(self, token, number, status, **kw):
        r = self.put_status(token, number, status, **kw)
        assert r.status in (200, 201), r
        return r.json()["data"]

    def put_assignee(self, token, number, assignee, happened_at=None):
        """PUT /assignee; assignee is a username, an email or None (unassign)."""
        body = {"number_customergauge": number, "assignee": assignee}
        if happened_at is not None:
            body["happened_at"] = happened_at if isinstance(happened_at, str) else fmt_time(happened_at)
        return self.put(ASSIGNEE, body, token)

    def assign(self, token, number, assignee, **kw):
        r = self.put_assignee(token, number, assignee, **kw)
        assert r.status in (200, 201), r
        return r.json()["data"]

    def put_comment(self, token, number, note, happened_at=None):
        body = {"number_customergauge": number, "note": note}
        if happened_at is not None:
            body["happened_at"] = happened_at if isinstance(happened_at, str) else fmt_time(happened_at)
        return self.put(COMMENT, body, token)

    def comment(self, token, number, note, **kw):
        r = self.put_comment(token, number, note, **kw)
        assert r.status in (200, 201), r
        return r.json()["data"]


# ---- the process ------------------------------------------------------------

LISTEN_RE = re.compile(r"listening on https?://127\.0\.0\.1:(\d+)")


class Server:
    """One `closeloop serve` process. Its stdout and stderr are drained by
    threads for its whole life so that the pipes never fill."""

    def __init__(self, binary):
        self.binary = binary
        self.proc = None
        self.port = None
        self.db = None
        self.opts = {}
        self.stdout_lines = []
        self.stderr_lines = []
        self.killed = False

    def start(self, db, region=None, threads=None, token_ttl=None, quiet=True, demo=False,
              listen="127.0.0.1:0", timeout=START_TIMEOUT, extra=()):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.db = str(db)
        self.opts = dict(region=region, threads=threads, token_ttl=token_ttl, quiet=quiet,
                         demo=demo, listen=listen, timeout=timeout, extra=extra)
        argv = [self.binary, "serve", "--listen", listen, "--db", self.db]
        if region:
            argv += ["--region", region]
        if threads:
            argv += ["--threads", str(threads)]
        if token_ttl is not None:
            argv += ["--token-ttl", str(token_ttl)]
        if quiet:
            argv.append("--quiet")
        if demo:
            argv.append("--demo")
        argv += list(extra)
        self.stdout_lines, self.stderr_lines = [], []
        self.killed = False
        self._listening = threading.Event()
        self.port = None
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        threading.Thread(target=self._drain, args=(self.proc.stdout, self.stdout_lines, False),
                         daemon=True).start()
        threading.Thread(target=self._drain, args=(self.proc.stderr, self.stderr_lines, True),
                         daemon=True).start()
        deadline = time.monotonic() + timeout
        while not self._listening.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"server did not start ({argv}): exit {self.proc.returncode}\n"
                            f"stderr: {self.stderr()}\nstdout: {self.stdout()}")
        return self.port

    def _drain(self, pipe, lines, watch):
        for raw in iter(pipe.readline, b""):
            line = raw.decode("utf-8", "replace")
            lines.append(line)
            if watch and self.port is None:
                m = LISTEN_RE.search(line)
                if m:
                    self.port = int(m.group(1))
                    self._listening.set()
        pipe.close()

    def stdout(self):
        return "".join(self.stdout_lines)

    def stderr(self):
        return "".join(self.stderr_lines)

    @property
    def api(self):
        return Api(self.port)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig, timeout=STOP_TIMEOUT):
        """Sends sig and returns the exit code (None if it did not exit in time)."""
        if not self.running():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM and wait; SIGKILL if that takes longer than timeout."""
        code = self.signal(signal.SIGTERM, timeout)
        if code is None:
            self.kill()
        return code

    def kill(self):
        self.killed = True
        if self.running():
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)

    def restart(self, **overrides):
        """Stops (gracefully) and starts again on the same database."""
        self.stop()
        opts = dict(self.opts)
        opts.update(overrides)
        return self.start(self.db, **opts)


def run_cli(binary, *args, db=None, timeout=CLI_TIMEOUT, env=None):
    argv = [binary, *args]
    if db is not None:
        argv += ["--db", str(db)]
    e = dict(os.environ)
    e.pop("CLOSELOOP_DB", None)
    e.update(env or {})
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                          env=e, text=True)


def create_app(binary, db, scope="read,write", name="blackbox"):
    p = run_cli(binary, "apps", "create", name, "--scope", scope, "--json", db=db)
    assert p.returncode == 0, f"apps create: exit {p.returncode}: {p.stderr}"
    obj = json.loads(p.stdout)
    assert list(obj) == ["client_id", "client_secret"], p.stdout
    return obj["client_id"], obj["client_secret"]


class Deployment:
    """A server on its own database with one read,write app and its token."""

    def __init__(self, binary, db, server, client_id, secret):
        self.binary = binary
        self.db = db
        self.server = server
        self.client_id = client_id
        self.secret = secret
        self.token = server.api.token(client_id, secret)

    @property
    def api(self):
        return self.server.api

    def app(self, scope, settle=6):
        """A further app with the given scope: (client_id, secret), created
        while the server runs. Waits (up to settle seconds) until the server
        knows it, so that tests of other things do not depend on how fast a
        new app becomes visible; test_token_issued_while_serving checks that."""
        cid, sec = create_app(self.binary, self.db, scope)
        body = form([("grant_type", "client_credentials"), ("client_id", cid),
                     ("client_secret", sec)])
        poll(lambda: self.api.token_request(body).status == 200, settle, 0.1)
        return cid, sec

    def token_for(self, scope):
        cid, sec = self.app(scope)
        return self.api.token(cid, sec)

    def cli(self, *args):
        return run_cli(self.binary, *args, db=self.db)




def add_user(binary, db, username, email):
    p = run_cli(binary, "users", "add", username, email, db=db)
    assert p.returncode == 0, f"users add {username} {email}: exit {p.returncode}: {p.stderr}"
    return p


def db_time(value):
    """A time column of the database as epoch seconds (stored as an integer
    or as "YYYY-mm-dd HH:MM:SS" text)."""
    if isinstance(value, int):
        return value
    return int(parse_time(str(value)[:19].replace("T", " ")).timestamp())


def deploy(binary, db, server, **opts):
    """Creates a read,write app on db, starts server on it, gets a token."""
    cid, sec = create_app(binary, db, "read,write")
    server.start(db, **opts)
    return Deployment(binary, db, server, cid, sec)


def today_of(case):
    """The server's UTC day of a case's last change, as a date."""
    return parse_time(case["updated_at"]).date()


def assert_case_shape(case):
    assert list(case) == CASE_KEYS, list(case)
    assert type(case["id"]) is int and case["id"] > 0
    assert type(case["number_customergauge"]) is int and case["number_customergauge"] > 0
    assert case["status"] in ("open", "progress", "closed")
    assert case["assignee"] is None or list(case["assignee"]) == ["id", "username", "email"]
    for t in ("time_to_follow_up", "time_to_close"):
        assert case[t] is None or (type(case[t]) is int and case[t] >= 0), case
    for t in ("created_at", "updated_at"):
        assert type(case[t]) is str and TIME_RE.match(case[t]), case
        parse_time(case[t])  # a real time


def days(n):
    return timedelta(days=n)


def run_on_a_terminal(argv, env=None, timeout=60):
    """Runs a command to completion with its stderr on a pseudo-terminal
    (where progress lines are shown) and stdout on a pipe. Returns (exit
    code, stdout bytes, what the terminal received, as text)."""
    import pty
    master, slave = pty.openpty()
    try:
        p = subprocess.run([str(a) for a in argv], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=slave, env=env, timeout=timeout)
        os.close(slave)
        slave = None
        text = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the terminal's other end is closed
                break
            if not chunk:
                break
            text += chunk
    finally:
        if slave is not None:
            os.close(slave)
        os.close(master)
    return p.returncode, p.stdout, text.decode()


def last_terminal_line(text):
    """The line a terminal shows last, after carriage returns redrew it."""
    return text.replace("\r\n", "\n").rstrip("\n").split("\n")[-1].split("\r")[-1].strip()
