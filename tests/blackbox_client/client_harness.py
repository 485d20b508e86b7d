"""Helpers of the sync-client suite: the real `closeloop serve` on a temporary
database, the write API to change cases, and `closeloop sync` runs.

Only the command line, HTTP and SPEC.md are known here. Every wait is
bounded; every socket is on 127.0.0.1.
"""

import csv
import io
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import urllib.parse
import http.client

HOST = "127.0.0.1"
HTTP_TIMEOUT = 10  # seconds, every socket
CLI_TIMEOUT = 60  # seconds, every command that should finish
START_TIMEOUT = 20  # seconds until "listening on"
STOP_TIMEOUT = 10

SYNC = "/v7/rest/sync/close-loop"
STATUS = "/v7/rest/close-loop/status"
TOKEN = "/oauth2/token"

CSV_COLUMNS = [
    "id", "number_customergauge", "status", "assignee_id", "assignee_username",
    "assignee_email", "time_to_follow_up", "time_to_close", "created_at", "updated_at",
]


def run_cli(binary, *args, env=None, timeout=CLI_TIMEOUT, db=None):
    argv = [binary, *map(str, args)]
    if db is not None:
        argv += ["--db", str(db)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          env=env if env is not None else clean_env())


def clean_env(**extra):
    """The environment without any CLOSELOOP_ variables of the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOSELOOP_")}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def create_app(binary, db, scope="read,write", name="client-suite"):
    p = run_cli(binary, "apps", "create", name, "--scope", scope, "--json", db=db)
    assert p.returncode == 0, f"apps create: exit {p.returncode}: {p.stderr}"
    obj = json.loads(p.stdout)
    return obj["client_id"], obj["client_secret"]


def seed(binary, db, cases):
    p = run_cli(binary, "seed", "--cases", cases, db=db, timeout=120)
    assert p.returncode == 0, f"seed: exit {p.returncode}: {p.stderr}"


class Server:
    """`closeloop serve` on db, on a port the kernel picks. Its stderr is
    drained by a thread so the server never blocks on a full pipe."""

    def __init__(self, binary, db, *extra):
        self.proc = subprocess.Popen(
            [binary, "serve", "--listen", f"{HOST}:0", "--db", str(db), "--quiet", *map(str, extra)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=clean_env())
        self.lines = []
        self.ready = threading.Event()
        self.port = None
        threading.Thread(target=self._drain, daemon=True).start()
        if not self.ready.wait(START_TIMEOUT) or self.port is None:
            self.stop()
            raise AssertionError("server did not start: " + "".join(self.lines)[-2000:])
        self.url = f"http://{HOST}:{self.port}"

    def _drain(self):
        for line in self.proc.stderr:
            self.lines.append(line)
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
            if m and self.port is None:
                self.port = int(m.group(1))
                self.ready.set()
        self.ready.set()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)
        return self.proc.returncode


class Api:
    """A minimal HTTP client of the server, for setting up and checking."""

    def __init__(self, port, client_id, secret):
        self.port = port
        self.client_id = client_id
        self.secret = secret
        self._token = None

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection(HOST, self.port, timeout=HTTP_TIMEOUT)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def token(self):
        if self._token is None:
            body = urllib.parse.urlencode({"grant_type": "client_credentials",
                                           "client_id": self.client_id,
                                           "client_secret": self.secret})
            status, data = self.request("POST", TOKEN, body,
                                        {"Content-Type": "application/x-www-form-urlencoded"})
            assert status == 200, data
            self._token = json.loads(data)["access_token"]
        return self._token

    def set_status(self, number, status):
        code, data = self.request("PUT", STATUS,
                                  json.dumps({"number_customergauge": number, "status": status}),
                                  {"Content-Type": "application/json",
                                   "Authorization": "Bearer " + self.token()})
        assert code in (200, 201), data
        return json.loads(data)["data"]

    def all_cases(self, **window):
        """Every case matching the window, at its latest state, keyed by id,
        by paging with the cursor protocol as the SPEC describes."""
        cases, cursor = {}, None
        while True:
            q = {"per_page": 1000}
            if cursor is not None:
                q["cursor"] = cursor
            if window.get("since"):
                q["updated_at[start]"] = window["since"]
            if window.get("until"):
                q["updated_at[end]"] = window["until"]
            status, data = self.request("GET", SYNC + "?" + urllib.parse.urlencode(q),
                                        headers={"Authorization": "Bearer " + self.token()})
            assert status == 200, data
            page = json.loads(data)
            if not page["data"]:
                return cases
            for c in page["data"]:
                cases[c["id"]] = c
            cursor = page["cursor"]["next"]


class Deployment:
    """A server on its own database, with a read,write app."""

    def __init__(self, binary, db, server_args=(), cases=0):
        self.binary = binary
        self.db = db
        self.client_id, self.secret = create_app(binary, db)
        if cases:
            seed(binary, db, cases)
        self.server = Server(binary, db, *server_args)
        self.url = self.server.url
        self.api = Api(self.server.port, self.client_id, self.secret)

    def env(self, **extra):
        return clean_env(CLOSELOOP_CLIENT_ID=self.client_id,
                         CLOSELOOP_CLIENT_SECRET=self.secret, **extra)

    def sync(self, *args, url=None, env=None, timeout=CLI_TIMEOUT):
        """Runs `closeloop sync --base-url URL args...` to completion."""
        return subprocess.run([self.binary, "sync", "--base-url", url or self.url, *map(str, args)],
                              capture_output=True, text=True, timeout=timeout,
                              env=env if env is not None else self.env())

    def start_sync(self, *args, url=None):
        return subprocess.Popen([self.binary, "sync", "--base-url", url or self.url, *map(str, args)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                env=self.env())


# ---- reading outputs ----------------------------------------------------------


def read_jsonl(path):
    """Every line as an object, in order, keeping the key order as written.
    A torn line fails the test: it is exactly what resume must never leave."""
    out = []
    with open(path, encoding="utf-8", newline="") as f:
        for n, line in enumerate(f, 1):
            assert line.endswith("\n"), f"line {n} is not terminated: {line[:200]!r}"
            out.append(json.loads(line))
    return out


def flatten(case):
    """A case as the CSV and SQLite outputs store it."""
    a = case["assignee"]
    return {
        "id": case["id"],
        "number_customergauge": case["number_customergauge"],
        "status": case["status"],
        "assignee_id": a["id"] if a else None,
        "assignee_username": a["username"] if a else None,
        "assignee_email": a["email"] if a else None,
        "time_to_follow_up": case["time_to_follow_up"],
        "time_to_close": case["time_to_close"],
        "created_at": case["created_at"],
        "updated_at": case["updated_at"],
    }


def read_csv(path):
    """(header, rows) with rows as dicts; empty fields become None and
    integer columns ints, so rows compare equal to flatten(case)."""
    with open(path, encoding="utf-8", newline="") as f:
        text = f.read()
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    rows = []
    for rec in reader:
        row = {}
        for k, v in zip(header, rec):
            if v == "":
                row[k] = None
            elif k in ("id", "number_customergauge", "assignee_id", "time_to_follow_up",
                       "time_to_close"):
                row[k] = int(v)
            else:
                row[k] = v
        rows.append(row)
    return header, rows, text


def read_sqlite(path):
    con = sqlite3.connect(str(path), timeout=10)
    try:
        con.row_factory = sqlite3.Row
        rows = {r["id"]: dict(r) for r in con.execute("SELECT * FROM close_loop_cases")}
        state = [dict(r) for r in con.execute("SELECT * FROM close_loop_sync_state")]
        return rows, state
    finally:
        con.close()


def stored_cursor(path):
    """The cursor in a SQLite output, or None (also while it is being made)."""
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
        try:
            r = con.execute("SELECT max(cursor) FROM close_loop_sync_state").fetchone()
            return r[0]
        finally:
            con.close()
    except sqlite3.Error:
        return None


def free_port():
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def poll(fn, timeout, interval=0.02):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)
