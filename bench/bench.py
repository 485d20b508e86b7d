#!/usr/bin/python3
"""closeloop against the limit of the machine: `make bench`.

Every scenario runs closeloop and its baseline back to back, several rounds
(ours, baseline, ours, baseline, ...), and reports medians and the ratio
ours/baseline. The baseline is nginx serving, as static files, the very bytes
closeloop answered, fetched by the same load generator (wrk) or the same HTTP
client (curl for a full sync) in the same run. Loopback only; every process
started here is stopped here.

Results: a table on stdout, bench/results/latest.md, bench/results/latest.png.
Standard library only, so that it runs with the system's python3.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import http.client
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
CACHE = BENCH / "cache"
RESULTS = BENCH / "results"
SYNC_PATH = "/v7/rest/sync/close-loop"
MIB = 1024 * 1024

# The targets of issue #6. kind "min": ours/baseline (or the value) must be
# at least the target; "max": at most; "band": within target +- tolerance.
TARGETS = {
    "small": ("min", 0.5),
    "large": ("min", 0.3),
    "flat_deep": ("max", 1.2),
    "flat_window": ("max", 1.2),
    "sync_jsonl": ("max", 3.0),
    "sync_sqlite": ("max", 2.0),
    "growth": ("band", 10.0, 2.0),
    "writes": ("min", 10000.0),
    "server_rss": ("max", 64.0),
    "client_rss": ("max", 32.0),
}


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process {proc.args[0]} exited with {proc.returncode} at start")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


class Procs:
    """The long-running processes this run started, stopped by their pid."""

    def __init__(self):
        self.procs = []

    def start(self, cmd, log_path, env=None, port=None):
        f = open(log_path, "ab")
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env,
                             stdin=subprocess.DEVNULL)
        f.close()
        self.procs.append(p)
        if port:
            try:
                wait_port(port, p)
            except RuntimeError:
                sys.stderr.write(Path(log_path).read_text(errors="replace")[-2000:])
                raise
        return p

    def stop(self, p, sig=signal.SIGTERM, timeout=15.0):
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if p in self.procs:
            self.procs.remove(p)

    def stop_all(self):
        for p in list(self.procs):
            self.stop(p)


def peak_rss_mib(pid):
    """The peak resident set of a running process (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid):
    """User + system CPU time of a process and its children processes (nginx's
    workers), in seconds; the figure that noise from other jobs on the machine
    disturbs least."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(k) for k in kids]
    except OSError:
        pass
    for p in pids:
        try:
            # The command name may hold spaces: fields count from its ')'.
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


def run_timed(cmd, env=None, stdout=subprocess.DEVNULL):
    """Runs cmd to completion; returns (seconds, peak RSS in MiB, exit code)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=stdout, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL)
    # wait4 reports the resources of this child alone.
    _, status, ru = os.wait4(p.pid, 0)
    secs = time.perf_counter() - t0
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} exited with {p.returncode}: {err.strip()[-500:]}")
    return secs, ru.ru_maxrss / 1024, p.returncode


def median(xs):
    return statistics.median(xs) if xs else float("nan")


# ---- the database cache ---------------------------------------------------------------------


def schema_version(binary):
    """The schema version the binary creates (PRAGMA user_version)."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "schema.db"
        subprocess.run([binary, "users", "list", "--db", str(db)], check=True,
                       stdout=subprocess.DEVNULL)
        conn = sqlite3.connect(db)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        conn.close()
        return version


def seeded_db(binary, cases, reseed=False):
    """A database of `cases` seeded cases, cached in bench/cache/ under the
    schema version: a change of the seeder alone keeps the cache (the data
    stays realistic), a new schema makes a new one; --reseed forces it."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"cases-{cases}-v{schema_version(binary)}.db"
    if path.exists() and not reseed:
        return path, 0.0
    for old in CACHE.glob(f"cases-{cases}-*.db*"):
        old.unlink()
    for old in CACHE.glob(f"seeding-{cases}-*.db*"):  # a run that was interrupted
        old.unlink()
    tmp = CACHE / f"seeding-{cases}-{os.getpid()}.db"
    log(f"seeding {cases:,} cases into {path.name} (cached for later runs) ...")
    t0 = time.perf_counter()
    try:
        subprocess.run([binary, "seed", "--cases", str(cases), "--db", str(tmp)], check=True,
                       stdout=subprocess.DEVNULL)
    except BaseException:
        for f in CACHE.glob(tmp.name + "*"):
            f.unlink()
        raise
    secs = time.perf_counter() - t0
    # The seeder's last connection checkpointed the WAL; make the file whole.
    db = sqlite3.connect(tmp)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    for suffix in ("-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    tmp.rename(path)
    log(f"seeded {cases:,} cases in {secs:.0f} s")
    return path, secs


def working_copy(src, dst):
    """The run works on a copy, so the cache never changes under it."""
    shutil.copyfile(src, dst)
    return dst


def create_app(binary, db):
    out = subprocess.run([binary, "apps", "create", "bench", "--scope", "read,write", "--json",
                          "--db", str(db)], check=True, capture_output=True, text=True).stdout
    creds = json.loads(out)
    return creds["client_id"], creds["client_secret"]


# ---- HTTP -----------------------------------------------------------------------------------


class Http:
    """One keep-alive connection, like the load generators use."""

    def __init__(self, port, token=None):
        self.port = port
        self.token = token
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(self, method, path, body=None, headers=None):
        h = dict(headers or {})
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        self.conn.request(method, path, body=body, headers=h)
        r = self.conn.getresponse()
        return r.status, r.read()

    def close(self):
        self.conn.close()


def get_token(port, client_id, secret):
    c = Http(port)
    status, body = c.request(
        "POST", "/oauth2/token",
        body=f"grant_type=client_credentials&client_id={client_id}&client_secret={secret}",
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    c.close()
    if status != 200:
        raise RuntimeError(f"token request failed: {status} {body[:200]!r}")
    return json.loads(body)["access_token"]


def page_path(per_page, cursor=None, extra=""):
    p = f"{SYNC_PATH}?per_page={per_page}"
    if cursor:
        p += f"&cursor={cursor}"
    return p + extra


def fetch_ok(client, path):
    status, body = client.request("GET", path)
    if status != 200:
        raise RuntimeError(f"GET {path}: {status} {body[:200]!r}")
    return body


# ---- load generators ------------------------------------------------------------------------


def wrk(url, script, conns, secs, env_extra, threads=2, server_pid=None):
    env = dict(os.environ, **env_extra)
    cpu0 = cpu_seconds(server_pid) if server_pid else 0.0
    cmd = ["wrk", "-t", str(min(threads, conns)), "-c", str(conns), "-d", f"{secs}s",
           "--timeout", "10s", "-s", str(BENCH / "wrk" / script), url]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=secs + 60)
    for line in out.stdout.splitlines():
        if line.startswith("BENCH "):
            r = json.loads(line[6:])
            r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
            if server_pid and r["requests"]:
                r["cpu_us"] = (cpu_seconds(server_pid) - cpu0) * 1e6 / r["requests"]
            return r
    raise RuntimeError(f"wrk printed no result: {out.stdout[-500:]} {out.stderr[-500:]}")


def check_wrk(r, what):
    if r["status_errors"] or r["socket_errors"]:
        log(f"warning: {what}: {r['status_errors']} non-2xx/3xx answers, "
            f"{r['socket_errors']} socket errors")


# ---- nginx ----------------------------------------------------------------------------------


def start_nginx(procs, tmp, docroot, workers):
    prefix = tmp / "nginx"
    for d in ("tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"):
        (prefix / d).mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = (BENCH / "nginx.conf.in").read_text()
    # As root, nginx's workers would switch to a user that may not exist or
    # may not read the temporary directory; keep them as root instead.
    conf = conf.replace("@USER@", "user root root;" if os.geteuid() == 0 else "")
    for k, v in {"@PREFIX@": str(prefix), "@ROOT@": str(docroot), "@PORT@": str(port),
                 "@WORKERS@": str(workers)}.items():
        conf = conf.replace(k, v)
    (prefix / "nginx.conf").write_text(conf)
    p = procs.start(["nginx", "-p", str(prefix), "-e", str(prefix / "error.log"), "-c",
                     str(prefix / "nginx.conf")], prefix / "stdout.log", port=port)
    return p, port


# ---- the scenarios --------------------------------------------------------------------------


class Bench:
    def __init__(self, args):
        self.a = args
        self.bin = str(Path(args.bin).resolve())
        self.procs = Procs()
        self.rows = {}  # key -> dict of figures
        self.notes = []
        self.tmp = Path(tempfile.mkdtemp(prefix="closeloop-bench-"))
        os.chmod(self.tmp, 0o755)
        self.docroot = self.tmp / "www"
        (self.docroot / "pages").mkdir(parents=True)

    def serve(self, db, tag):
        port = free_port()
        p = self.procs.start([self.bin, "serve", "--listen", f"127.0.0.1:{port}", "--db", str(db),
                              "--quiet", "--threads", str(self.a.threads)],
                             self.tmp / f"serve-{tag}.log", port=port)
        return p, port

    def put_page(self, name, body):
        (self.docroot / "pages" / name).write_bytes(body)

    # -- preparation: the real responses become nginx's files --

    def prepare(self):
        a = self.a
        t0 = time.perf_counter()
        big, secs_big = seeded_db(self.bin, a.cases, a.reseed)
        small, secs_small = seeded_db(self.bin, a.small_cases, a.reseed)
        self.seed_secs = secs_big + secs_small
        log("copying the databases into the run's temporary directory ...")
        self.db = working_copy(big, self.tmp / "big.db")
        self.db_small = working_copy(small, self.tmp / "small.db")
        self.client_id, self.secret = create_app(self.bin, self.db)
        self.client_id_s, self.secret_s = create_app(self.bin, self.db_small)

        self.server, self.port = self.serve(self.db, "big")
        self.token = get_token(self.port, self.client_id, self.secret)
        c = Http(self.port, self.token)

        # Small page: the seed document's example.
        self.small_body = fetch_ok(c, page_path(25))
        self.put_page("25-.json", self.small_body)

        # Every per_page=1000 page, in order, for the large-page load and the
        # full-sync baseline.
        log(f"fetching every per_page=1000 page of {a.cases:,} cases for nginx ...")
        self.sync_urls = []  # paths in the order a sync requests them
        self.large_paths = []  # paths of pages with cases
        self.large_records = 0
        cursor = 0
        deep_cursor = 0
        while True:
            path = page_path(1000, cursor)
            body = fetch_ok(c, path)
            doc = json.loads(body)
            self.put_page(f"1000-{cursor or ''}.json", body)
            self.sync_urls.append(path)
            n = len(doc["data"])
            if n == 0:
                break
            self.large_paths.append(path)
            self.large_records += n
            if n == 1000:
                deep_cursor = cursor
            cursor = doc["cursor"]["next"]
        self.total_cases = self.large_records
        self.sync_bytes = sum(
            (self.docroot / "pages" / f"1000-{p.partition('cursor=')[2]}.json").stat().st_size
            for p in self.sync_urls)
        (self.tmp / "large-paths.txt").write_text("\n".join(self.large_paths) + "\n")

        # The last full per_page=25 page: walk the last 1000 cases.
        cursor = deep_cursor
        last = None
        while True:
            doc = json.loads(fetch_ok(c, page_path(25, cursor)))
            if len(doc["data"]) < 25:
                break
            last = cursor
            cursor = doc["cursor"]["next"]
        self.deep_path = page_path(25, last)

        # A one-day window out of the year: the busiest day in the middle of
        # the data's range of updated_at.
        db = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        lo, hi = db.execute("SELECT min(updated_at), max(updated_at) FROM cases").fetchone()
        mid = (lo + hi) // 2
        day = datetime.datetime.fromtimestamp(mid, datetime.timezone.utc).strftime("%Y-%m-%d")
        in_day = db.execute("SELECT count(*) FROM cases WHERE updated_at >= ? AND "
                            "updated_at < ?", (mid - mid % 86400, mid - mid % 86400 + 86400)
                            ).fetchone()[0]
        db.close()
        self.window_day = day
        self.window_cases = in_day
        self.window_span_days = (hi - lo) / 86400
        self.window_path = page_path(25, None, f"&updated_at[start]={day}&updated_at[end]={day}")
        doc = json.loads(fetch_ok(c, self.window_path))
        if len(doc["data"]) < 25:
            self.notes.append(f"window day {day} has only {len(doc['data'])} cases on its page")
        c.close()

        # The curl baseline of a full sync: one process, one connection.
        self.nginx, self.nport = start_nginx(self.procs, self.tmp, self.docroot, a.threads)
        cfg = [f'url = "http://127.0.0.1:{self.nport}{p}"\noutput = "/dev/null"'
               for p in self.sync_urls]
        (self.tmp / "curl.cfg").write_text("\n".join(cfg) + "\n")

        # nginx must answer the bytes closeloop answered.
        n = Http(self.nport)
        for p in (page_path(25), self.sync_urls[0], self.sync_urls[-1]):
            ours = fetch_ok(Http(self.port, self.token), p)
            if fetch_ok(n, p) != ours:
                raise RuntimeError(f"nginx does not serve the bytes of {p}")
        n.close()
        self.prepare_secs = time.perf_counter() - t0
        log(f"prepared in {self.prepare_secs:.0f} s: {self.total_cases:,} cases, "
            f"{len(self.sync_urls)} pages of per_page=1000, {self.sync_bytes / MIB:.0f} MiB")

    # -- load scenarios --

    def ab(self, name, path, script, conns, secs, env, threads=2):
        """Rounds of wrk against closeloop then nginx; the results of each side."""
        ours, base = [], []
        env = dict(env, BENCH_TOKEN=self.token)
        # One unmeasured second each: connections, caches and page faults
        # are paid before the first round, for both sides alike.
        for port in (self.port, self.nport):
            wrk(f"http://127.0.0.1:{port}{path}", script, conns, 1, env, threads)
        for i in range(self.a.rounds):
            r = wrk(f"http://127.0.0.1:{self.port}{path}", script, conns, secs, env, threads,
                    self.server.pid)
            check_wrk(r, f"{name} closeloop")
            ours.append(r)
            r = wrk(f"http://127.0.0.1:{self.nport}{path}", script, conns, secs, env, threads,
                    self.nginx.pid)
            check_wrk(r, f"{name} nginx")
            base.append(r)
            log(f"{name} round {i + 1}: closeloop {ours[-1]['rps']:,.0f}/s, "
                f"nginx {base[-1]['rps']:,.0f}/s")
        return ours, base

    def small_pages(self):
        # A fresh server, so that its peak RSS is that of this load.
        self.procs.stop(self.server)
        self.server, self.port = self.serve(self.db, "small-pages")
        ours, base = self.ab("small pages", page_path(25), "get.lua", 64, self.a.secs, {})
        rss = peak_rss_mib(self.server.pid)
        o = median([r["rps"] for r in ours])
        b = median([r["rps"] for r in base])
        self.rows["small"] = dict(ours=o, base=b, ratio=o / b,
                                  ours_p50=median([r["p50_us"] for r in ours]),
                                  ours_p99=median([r["p99_us"] for r in ours]),
                                  base_p50=median([r["p50_us"] for r in base]),
                                  base_p99=median([r["p99_us"] for r in base]),
                                  ours_cpu=median([r["cpu_us"] for r in ours]),
                                  base_cpu=median([r["cpu_us"] for r in base]),
                                  bytes=len(self.small_body))
        self.rows["server_rss"] = dict(ours=rss)

    def large_pages(self):
        env = {"BENCH_PATHS": str(self.tmp / "large-paths.txt")}
        ours, base = self.ab("large pages", self.large_paths[0], "get.lua", 16, self.a.secs, env)
        per_page = self.large_records / len(self.large_paths)
        o = median([r["rps"] for r in ours]) * per_page
        b = median([r["rps"] for r in base]) * per_page
        mib = median([r["bytes"] / (r["duration_us"] / 1e6) for r in ours]) / MIB
        self.rows["large"] = dict(ours=o, base=b, ratio=o / b, ours_mibs=mib,
                                  ours_cpu=median([r["cpu_us"] for r in ours]) / per_page,
                                  base_cpu=median([r["cpu_us"] for r in base]) / per_page,
                                  base_mibs=median([r["bytes"] / (r["duration_us"] / 1e6)
                                                    for r in base]) / MIB)

    def flat_cost(self):
        """Latency of one connection: the last page against the first, and a
        one-day window against none; closeloop only, alternating."""
        lat = {"first": [], "deep": [], "window": []}
        paths = {"first": page_path(25), "deep": self.deep_path, "window": self.window_path}
        env = {"BENCH_TOKEN": self.token}
        for k in ("first", "deep", "window"):
            wrk(f"http://127.0.0.1:{self.port}{paths[k]}", "get.lua", 1, 1, env, threads=1)
        for i in range(self.a.rounds):
            for k in ("first", "deep", "window"):
                r = wrk(f"http://127.0.0.1:{self.port}{paths[k]}", "get.lua", 1,
                        self.a.lat_secs, env, threads=1)
                check_wrk(r, f"flat cost {k}")
                # The median: one connection's mean swings with whatever
                # else the machine runs.
                lat[k].append(r["p50_us"])
        m = {k: median(v) for k, v in lat.items()}
        self.rows["flat_deep"] = dict(ours=m["deep"], base=m["first"], ratio=m["deep"] / m["first"])
        self.rows["flat_window"] = dict(ours=m["window"], base=m["first"],
                                        ratio=m["window"] / m["first"])

    def sync_cmd(self, port, output, client_id, secret):
        env = dict(os.environ, CLOSELOOP_CLIENT_ID=client_id, CLOSELOOP_CLIENT_SECRET=secret)
        cmd = [self.bin, "sync", "--base-url", f"http://127.0.0.1:{port}", "--output", output,
               "--format", "jsonl", "--per-page", "1000", "--quiet"]
        return cmd, env

    def full_sync(self):
        jsonl, curl, sq, rss = [], [], [], []
        cmd, env = self.sync_cmd(self.port, "/dev/null", self.client_id, self.secret)
        for i in range(self.a.rounds):
            s, r, _ = run_timed(cmd, env)
            jsonl.append(s)
            rss.append(r)
            s, _, _ = run_timed(["curl", "-s", "--fail", "-H", "Authorization: Bearer x",
                                 "--config", str(self.tmp / "curl.cfg")])
            curl.append(s)
            out = self.tmp / f"mirror-{i}.db"
            scmd, senv = self.sync_cmd(self.port, f"sqlite:{out}", self.client_id, self.secret)
            s, _, _ = run_timed(scmd, senv)
            sq.append(s)
            if i == 0:
                got = sqlite3.connect(out).execute(
                    "SELECT count(*) FROM close_loop_cases").fetchone()[0]
                if got != self.total_cases:
                    raise RuntimeError(f"sync into SQLite holds {got} cases, "
                                       f"not {self.total_cases}")
            for f in self.tmp.glob(f"mirror-{i}.db*"):
                f.unlink()
            log(f"full sync round {i + 1}: jsonl {jsonl[-1]:.2f} s, curl {curl[-1]:.2f} s, "
                f"sqlite {sq[-1]:.2f} s")
        j, c, q = median(jsonl), median(curl), median(sq)
        self.rows["sync_jsonl"] = dict(ours=j, base=c, ratio=j / c)
        self.rows["sync_sqlite"] = dict(ours=q, base=j, ratio=q / j)
        self.rows["client_rss"] = dict(ours=max(rss))

        # Growth: the same sync over the small database. It takes a tenth
        # of a second, in which the start of the process and its token weigh
        # more: three times as many runs keep its median steady.
        self.procs.stop(self.server)
        self.server = None
        small_srv, sport = self.serve(self.db_small, "growth")
        scmd, senv = self.sync_cmd(sport, "/dev/null", self.client_id_s, self.secret_s)
        small = [run_timed(scmd, senv)[0] for _ in range(3 * self.a.rounds)]
        self.procs.stop(small_srv)
        sm = median(small)
        self.rows["growth"] = dict(ours=j, base=sm, ratio=j / sm)
        self.server, self.port = self.serve(self.db, "big-again")

    def tokens(self):
        env = {"BENCH_CLIENT_ID": self.client_id, "BENCH_CLIENT_SECRET": self.secret}
        rs = []
        for i in range(self.a.rounds):
            r = wrk(f"http://127.0.0.1:{self.port}/oauth2/token", "token.lua", 64, self.a.secs,
                    env)
            check_wrk(r, "tokens")
            rs.append(r)
        self.rows["tokens"] = dict(ours=median([r["rps"] for r in rs]),
                                   ours_p50=median([r["p50_us"] for r in rs]),
                                   ours_p99=median([r["p99_us"] for r in rs]))

    def writes(self):
        """16 writers on a copy of the small database; after each round the
        server is killed with SIGKILL, and every acknowledged write must be
        in the database when it comes back."""
        self.procs.stop(self.server)
        self.server = None
        db = working_copy(self.db_small, self.tmp / "writes.db")
        cid, secret = create_app(self.bin, db)
        rates, acks_total, lost, errors = [], 0, 0, 0
        for i in range(self.a.rounds):
            srv, port = self.serve(db, f"writes-{i}")
            token = get_token(port, cid, secret)
            env = {"BENCH_TOKEN": token, "BENCH_NUMBERS": str(self.a.small_cases),
                   "BENCH_RUN": str(i)}
            r = wrk(f"http://127.0.0.1:{port}/", "put.lua", 16, self.a.secs, env)
            srv.send_signal(signal.SIGKILL)
            srv.wait()
            self.procs.procs.remove(srv)
            # Restart on the killed database: the server must come back up.
            srv, port = self.serve(db, f"writes-{i}-restart")
            get_token(port, cid, secret)
            self.procs.stop(srv)
            conn = sqlite3.connect(db)
            held = conn.execute("SELECT count(*) FROM case_events WHERE note LIKE ?",
                                (f"bench-{i}-%",)).fetchone()[0]
            conn.close()
            rates.append(r["acks"] / (r["duration_us"] / 1e6))
            acks_total += r["acks"]
            errors += r["fails"] + r["socket_errors"]
            if held < r["acks"]:
                lost += r["acks"] - held
            log(f"writes round {i + 1}: {rates[-1]:,.0f} acknowledged/s, {r['acks']} acks, "
                f"{held} in the database after kill -9")
        self.rows["writes"] = dict(ours=median(rates), acks=acks_total, lost=lost, errors=errors)

    def run(self):
        try:
            self.prepare()
            steps = [("small pages", self.small_pages), ("large pages", self.large_pages),
                     ("flat cost", self.flat_cost), ("full sync", self.full_sync),
                     ("tokens", self.tokens), ("writes", self.writes)]
            for name, fn in steps:
                if self.a.only and name.split()[0] not in self.a.only:
                    continue
                log(f"--- {name}")
                t0 = time.perf_counter()
                fn()
                log(f"{name}: {time.perf_counter() - t0:.0f} s")
        finally:
            self.procs.stop_all()
            if not self.a.keep:
                shutil.rmtree(self.tmp, ignore_errors=True)
            else:
                log(f"kept {self.tmp}")


# ---- the report -----------------------------------------------------------------------------


def verdict(key, value):
    t = TARGETS.get(key)
    if not t or value != value:  # no target, or NaN
        return "", None
    if t[0] == "min":
        return f"≥ {t[1]:g}", value >= t[1]
    if t[0] == "max":
        return f"≤ {t[1]:g}", value <= t[1]
    return f"{t[1]:g} ± {t[2]:g}", abs(value - t[1]) <= t[2]


def fmt_n(x, unit=""):
    if x != x:
        return "–"
    if x >= 100:
        return f"{x:,.0f}{unit}"
    return f"{x:.2f}{unit}"


def ms(us):
    return f"{us / 1000:.2f} ms"


def report(b, started, elapsed):
    r = b.rows
    lines = []  # (scenario, closeloop, baseline, ratio, target, met, key, measured)

    def add(key, scenario, ours, base, measured):
        target, met = verdict(key, measured)
        lines.append((scenario, ours, base, measured, target, met, key))

    if "small" in r:
        s = r["small"]
        add("small", f"Small pages: GET per_page=25 ({s['bytes']:,} B), keep-alive, 64 conns — "
            "requests/s", fmt_n(s["ours"]), fmt_n(s["base"]), s["ratio"])
        lines.append(("… latency p50 / p99", f"{ms(s['ours_p50'])} / {ms(s['ours_p99'])}",
                      f"{ms(s['base_p50'])} / {ms(s['base_p99'])}", None, "", None, None))
        lines.append(("… server CPU per request (user + system)", f"{s['ours_cpu']:.1f} µs",
                      f"{s['base_cpu']:.1f} µs", None, "", None, None))
    if "large" in r:
        s = r["large"]
        add("large", "Large pages: GET per_page=1000 (random pages), 16 conns — records/s",
            f"{fmt_n(s['ours'])} ({s['ours_mibs']:.0f} MiB/s)",
            f"{fmt_n(s['base'])} ({s['base_mibs']:.0f} MiB/s)", s["ratio"])
        lines.append(("… server CPU per record (user + system)", f"{s['ours_cpu']:.2f} µs",
                      f"{s['base_cpu']:.3f} µs", None, "", None, None))
    if "flat_deep" in r:
        s = r["flat_deep"]
        add("flat_deep", f"Flat cost: last page of {b.total_cases:,} vs first, per_page=25, "
            "1 conn — median latency", ms(s["ours"]), ms(s["base"]) + " (first page)", s["ratio"])
        s = r["flat_window"]
        add("flat_window", f"Flat cost: one-day window ({b.window_day}, {b.window_cases:,} "
            f"cases) of {b.window_span_days:.0f} days vs no window — median latency",
            ms(s["ours"]), ms(s["base"]) + " (no window)", s["ratio"])
    if "sync_jsonl" in r:
        s = r["sync_jsonl"]
        add("sync_jsonl", f"Full sync of {b.total_cases:,} cases, JSONL to /dev/null — seconds "
            f"(baseline: curl, same {len(b.sync_urls)} pages from nginx)",
            f"{s['ours']:.2f} s", f"{s['base']:.2f} s", s["ratio"])
        s = r["sync_sqlite"]
        add("sync_sqlite", "Full sync into SQLite — seconds (baseline: the JSONL sync)",
            f"{s['ours']:.2f} s", f"{s['base']:.2f} s", s["ratio"])
        s = r["growth"]
        add("growth", f"Growth: sync of {b.total_cases:,} vs {b.a.small_cases:,} cases — "
            "time ratio", f"{s['ours']:.2f} s", f"{s['base']:.2f} s", s["ratio"])
    if "tokens" in r:
        s = r["tokens"]
        add("tokens", "Tokens: POST /oauth2/token, 64 conns — requests/s (p50 / p99)",
            f"{fmt_n(s['ours'])} ({ms(s['ours_p50'])} / {ms(s['ours_p99'])})", "–", None)
    if "writes" in r:
        s = r["writes"]
        dur = "all survived" if s["lost"] == 0 else f"{s['lost']} LOST"
        add("writes", f"Writes: PUT status, 16 conns — acknowledged writes/s; kill -9 after "
            f"each round: {s['acks']:,} acks, {dur}", fmt_n(s["ours"]), "–", s["ours"])
        if s["lost"]:
            lines[-1] = lines[-1][:5] + (False, "writes")
    if "server_rss" in r:
        add("server_rss", "Memory: server peak RSS under the small-pages load — MiB",
            f"{r['server_rss']['ours']:.1f} MiB", "–", r["server_rss"]["ours"])
    if "client_rss" in r:
        add("client_rss", f"Memory: client peak RSS, sync of {b.total_cases:,} cases — MiB",
            f"{r['client_rss']['ours']:.1f} MiB", "–", r["client_rss"]["ours"])

    def ratio_cell(line):
        v = line[3]
        if v is None:
            return ""
        return fmt_n(v) if line[6] in ("writes", "server_rss", "client_rss") else f"{v:.2f}"

    out = ["| scenario | closeloop | baseline | ours/baseline | target | |",
           "|---|---|---|---|---|---|"]
    for ln in lines:
        met = "" if ln[5] is None else ("met" if ln[5] else "**missed**")
        value = ratio_cell(ln)
        if ln[6] in ("writes", "server_rss", "client_rss"):
            value = ""  # the figure itself is held against the target
        out.append(f"| {ln[0]} | {ln[1]} | {ln[2]} | {value} | {ln[4]} | {met} |")
    table = "\n".join(out)

    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "src"],
                               capture_output=True, text=True).stdout.strip()
        commit += " (with uncommitted changes in src/)" if dirty else ""
    except OSError:
        commit = "?"
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    nginx_v = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    wrk_v = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    env = (f"{started:%Y-%m-%d %H:%M} UTC · commit {commit} · {os.cpu_count()} cores ({cpu}) · "
           f"Linux {platform.release()} · {nginx_v.replace('nginx version: ', '')} · "
           f"{wrk_v.split(' [')[0]} · SQLite {sqlite3.sqlite_version} (python's)")
    a = b.a
    md = [
        "# closeloop benchmark: `make bench`",
        "",
        f"{env}",
        "",
        f"{a.rounds} rounds per scenario, closeloop and baseline back to back in each round; "
        f"medians. Load runs {a.secs} s (latency probes {a.lat_secs} s) with wrk; "
        f"closeloop `--threads {a.threads}`, nginx `worker_processes {a.threads}`, on the "
        f"same {os.cpu_count()} cores as the load generator. The baseline serves, as static "
        "files, the exact bytes closeloop answered in this run.",
        "",
        table,
        "",
        f"Run time {elapsed:.0f} s (seeding {b.seed_secs:.0f} s, preparing "
        f"{b.prepare_secs - b.seed_secs:.0f} s). The chart: `latest.png`.",
    ]
    if b.notes:
        md += ["", "Notes:"] + [f"- {n}" for n in b.notes]
    md_text = "\n".join(md) + "\n"
    return md_text, lines


def chart(lines, path, tmp):
    """One bar per target: how far the measurement is from it, as the share
    of the target reached (100% = exactly met; more is better)."""
    rows = []
    for scenario, _, _, value, target, met, key in lines:
        if met is None or key not in TARGETS:
            continue
        t = TARGETS[key]
        if t[0] == "min":
            score = value / t[1]
        elif t[0] == "max":
            score = t[1] / value if value > 0 else 9
        else:
            score = max(0.0, 1 - (abs(value - t[1]) - t[2]) / t[1]) if not met else 1.0
        label = {"small": "small pages req/s", "large": "large pages records/s",
                 "flat_deep": "last vs first page", "flat_window": "1-day window vs none",
                 "sync_jsonl": "full sync JSONL vs curl", "sync_sqlite": "sync SQLite vs JSONL",
                 "growth": "growth 100k to 1M", "writes": "durable writes/s",
                 "server_rss": "server peak RSS", "client_rss": "client peak RSS"}[key]
        shown = f"{value:,.0f}" if key == "writes" else (
            f"{value:.1f} MiB" if key.endswith("rss") else f"{value:.2f}")
        rows.append((label, min(score, 3.0) * 100, f"{shown} ({target})", 1 if met else 0))
    dat = tmp / "chart.dat"
    with open(dat, "w") as f:
        for i, (label, score, text, met) in enumerate(rows):
            f.write(f'{i} {score:.1f} "{label}" "{text}" {met}\n')
    subprocess.run(["gnuplot", "-e", f"datafile='{dat}'; outfile='{path}'; n={len(rows)}",
                    str(BENCH / "chart.gp")], check=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bin", default=str(ROOT / "build-bench/src/cli/closeloop"))
    p.add_argument("--cases", type=int, default=1_000_000)
    p.add_argument("--small-cases", type=int, default=100_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--secs", type=int, default=5, help="seconds of each load run")
    p.add_argument("--lat-secs", type=int, default=2, help="seconds of each latency probe")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--only", nargs="*", help="scenarios: small large flat full tokens writes")
    p.add_argument("--out", default=str(RESULTS), help="where latest.md and latest.png go")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument("--reseed", action="store_true", help="seed again, ignoring bench/cache/")
    args = p.parse_args()
    for tool in ("wrk", "nginx", "curl", "gnuplot"):
        if not shutil.which(tool):
            sys.exit(f"bench: {tool} is missing (scripts/install-deps.sh bench installs it)")
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.perf_counter()
    load0 = os.getloadavg()[0]
    b = Bench(args)
    b.run()
    elapsed = time.perf_counter() - t0
    b.notes.append(f"load average (1 min) {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at "
                   f"the end, on {os.cpu_count()} cores: above the cores, other jobs shared the "
                   "machine and the absolute figures (less so the ratios) suffer")
    md, lines = report(b, started, elapsed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.md").write_text(md)
    with tempfile.TemporaryDirectory() as tmp:
        chart(lines, out / "latest.png", Path(tmp))
    print(md)
    log(f"wrote {out / 'latest.md'} and {out / 'latest.png'}")


if __name__ == "__main__":
    main()
