#!/usr/bin/python3
"""The same pages from both storage backends: `make bench-pg`.

Loads the cases of make bench's cached seed database (1,000,000 by default)
into a throwaway PostgreSQL cluster (scripts/pg-cluster.sh), so that both
backends hold the very same rows, then serves each with `closeloop serve`
and measures, back to back, several rounds, medians:

- page latency on one connection: the first page, the last page and a
  one-day window, at per_page=25 and per_page=1000;
- requests/s of per_page=25 pages on 16 connections;
- a full `closeloop sync` of every case, JSONL to /dev/null;
- acknowledged writes/s: PUT /status from 16 connections (last, as it
  changes the data).

The feed's seq values are copied as they are, so both backends answer the
same cursors with the same cases. Only the tables a page reads (users,
cases) and the feed counters are copied: case history is not read by the
sync feed. Loopback only; everything started here is stopped here.

Results: a table on stdout and bench/results/postgres.md.
Standard library only (and psql, from postgresql-client).
"""

import argparse
import csv
import datetime
import io
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as B  # noqa: E402  (the helpers of make bench)

CLUSTER = B.ROOT / "scripts" / "pg-cluster.sh"
COPIED = {
    "users": "id, username, email, created_at",
    "cases": "id, number, status, assignee_id, opened_at, time_to_follow_up, time_to_close,"
             " created_at, updated_at, seq",
}


def psql(url, sql, stdin=None):
    return subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
                          input=stdin, check=True, capture_output=True).stdout


def db_url(admin_url, name):
    return admin_url.rsplit("/", 1)[0] + "/" + name


def copy_into_pg(src, url):
    """Copies users and cases from the SQLite file src into the (migrated,
    empty) PostgreSQL database at url, with their ids and seqs. The cached
    file is opened immutable: read as it is, with no -wal or -shm file made
    beside it."""
    lite = sqlite3.connect(f"file:{src}?mode=ro&immutable=1", uri=True)
    for table, cols in COPIED.items():
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        for row in lite.execute(f"SELECT {cols} FROM {table} ORDER BY id"):
            w.writerow(["" if v is None else v for v in row])
        psql(url, f"COPY {table} ({cols}) FROM STDIN WITH (FORMAT csv)",
             stdin=buf.getvalue().encode())
        psql(url, f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                  f" (SELECT max(id) FROM {table}))")
    last_seq, last_updated = lite.execute(
        "SELECT last_seq, last_updated_at FROM feed WHERE id = 1").fetchone()
    lite.close()
    psql(url, f"UPDATE feed SET last_seq = {last_seq}, last_updated_at = {last_updated}")
    psql(url, "VACUUM ANALYZE")  # alone: VACUUM cannot run inside a transaction


def probe_points(src):
    """The cursors and the window the scenarios use, read from the data."""
    lite = sqlite3.connect(f"file:{src}?mode=ro&immutable=1", uri=True)

    def cursor_before_last(n):
        row = lite.execute("SELECT seq FROM cases ORDER BY seq DESC LIMIT 1 OFFSET ?",
                           (n,)).fetchone()
        return row[0]

    lo, hi = lite.execute("SELECT min(updated_at), max(updated_at) FROM cases").fetchone()
    mid = (lo + hi) // 2
    day_start = mid - mid % 86400
    day = datetime.datetime.fromtimestamp(day_start, datetime.timezone.utc).strftime("%Y-%m-%d")
    in_day = lite.execute("SELECT count(*) FROM cases WHERE updated_at >= ? AND updated_at < ?",
                          (day_start, day_start + 86400)).fetchone()[0]
    total = lite.execute("SELECT count(*) FROM cases").fetchone()[0]
    points = {
        "total": total,
        "day": day,
        "day_cases": in_day,
        "deep25": cursor_before_last(25),
        "deep1000": cursor_before_last(1000),
    }
    lite.close()
    return points


class Run:
    def __init__(self, args):
        self.a = args
        self.bin = str(Path(args.bin).resolve())
        self.procs = B.Procs()
        self.tmp = Path(tempfile.mkdtemp(prefix="closeloop-bench-pg-"))
        os.chmod(self.tmp, 0o755)
        self.cluster = self.tmp / "pg"
        self.results = {}  # (backend, scenario) -> figure

    def serve(self, db, tag):
        port = B.free_port()
        p = self.procs.start([self.bin, "serve", "--listen", f"127.0.0.1:{port}", "--db", str(db),
                              "--quiet", "--threads", str(self.a.threads)],
                             self.tmp / f"serve-{tag}.log", port=port)
        return p, port

    def prepare(self):
        src, _ = B.seeded_db(self.bin, self.a.cases)
        self.points = probe_points(src)
        admin = subprocess.run([str(CLUSTER), "start", str(self.cluster)], check=True,
                               capture_output=True, text=True).stdout.strip()
        self.cluster_started = True
        psql(admin, "CREATE DATABASE bench ENCODING 'UTF8' TEMPLATE template0")
        self.pg_url = db_url(admin, "bench")
        # The first command on the database creates its schema.
        subprocess.run([self.bin, "users", "list", "--db", self.pg_url], check=True,
                       stdout=subprocess.DEVNULL)
        B.log(f"copying {self.points['total']:,} cases into PostgreSQL ...")
        t0 = time.perf_counter()
        copy_into_pg(src, self.pg_url)
        B.log(f"copied in {time.perf_counter() - t0:.0f} s")
        self.sqlite_db = B.working_copy(src, self.tmp / "big.db")

        self.backends = {}
        for name, db in (("sqlite", self.sqlite_db), ("postgres", self.pg_url)):
            cid, sec = B.create_app(self.bin, db)
            proc, port = self.serve(db, name)
            token = B.get_token(port, cid, sec)
            self.backends[name] = dict(proc=proc, port=port, cid=cid, secret=sec, token=token)
            # Both must answer the same bytes for the same page.
            self.backends[name]["first"] = B.fetch_ok(B.Http(port, token), B.page_path(25))
        if self.backends["sqlite"]["first"] != self.backends["postgres"]["first"]:
            raise RuntimeError("the first page differs between the backends")

    def paths(self):
        p = self.points
        window = f"&updated_at%5Bstart%5D={p['day']}&updated_at%5Bend%5D={p['day']}"
        return {
            "first 25": B.page_path(25),
            "last 25": B.page_path(25, p["deep25"]),
            "window 25": B.page_path(25) + window,
            "first 1000": B.page_path(1000),
            "last 1000": B.page_path(1000, p["deep1000"]),
            "window 1000": B.page_path(1000) + window,
        }

    def latency(self):
        paths = self.paths()
        lat = {}
        for i in range(self.a.rounds):
            for name, b in self.backends.items():
                env = {"BENCH_TOKEN": b["token"]}
                for k, path in paths.items():
                    r = B.wrk(f"http://127.0.0.1:{b['port']}{path}", "get.lua", 1,
                              self.a.lat_secs, env, threads=1)
                    B.check_wrk(r, f"{name} {k}")
                    lat.setdefault((name, k), []).append(r["p50_us"])
            B.log(f"latency round {i + 1} done")
        for key, v in lat.items():
            self.results[key] = B.median(v)

    def throughput(self):
        path = self.paths()["first 25"]
        rps = {}
        for _ in range(self.a.rounds):
            for name, b in self.backends.items():
                r = B.wrk(f"http://127.0.0.1:{b['port']}{path}", "get.lua", 16, self.a.secs,
                          {"BENCH_TOKEN": b["token"]})
                B.check_wrk(r, f"{name} throughput")
                rps.setdefault(name, []).append(r["requests"] / (r["duration_us"] / 1e6))
        for name, v in rps.items():
            self.results[(name, "rps 25")] = B.median(v)

    def full_sync(self):
        secs = {}
        for _ in range(self.a.rounds):
            for name, b in self.backends.items():
                env = dict(os.environ, CLOSELOOP_CLIENT_ID=b["cid"],
                           CLOSELOOP_CLIENT_SECRET=b["secret"])
                cmd = [self.bin, "sync", "--base-url", f"http://127.0.0.1:{b['port']}",
                       "--output", "/dev/null", "--format", "jsonl", "--per-page", "1000",
                       "--quiet"]
                s, _, _ = B.run_timed(cmd, env)
                secs.setdefault(name, []).append(s)
        for name, v in secs.items():
            self.results[(name, "sync")] = B.median(v)

    def writes(self):
        acks = {}
        for i in range(self.a.rounds):
            for name, b in self.backends.items():
                env = {"BENCH_TOKEN": b["token"], "BENCH_NUMBERS": str(self.points["total"]),
                       "BENCH_RUN": str(i)}
                r = B.wrk(f"http://127.0.0.1:{b['port']}/", "put.lua", 16, self.a.secs, env)
                B.check_wrk(r, f"{name} writes")
                acks.setdefault(name, []).append(r["acks"] / (r["duration_us"] / 1e6))
        for name, v in acks.items():
            self.results[(name, "writes")] = B.median(v)

    def run(self):
        self.cluster_started = False
        try:
            self.prepare()
            for name, fn in (("latency", self.latency), ("throughput", self.throughput),
                             ("full sync", self.full_sync), ("writes", self.writes)):
                B.log(f"--- {name}")
                fn()
        finally:
            self.procs.stop_all()
            if self.cluster_started:
                subprocess.run([str(CLUSTER), "stop", str(self.cluster)], check=False)
            shutil.rmtree(self.tmp, ignore_errors=True)


def report(r, started, elapsed):
    p = r.points
    res = r.results
    lines = [
        "# closeloop on SQLite and on PostgreSQL: `make bench-pg`",
        "",
        f"{started} · {os.cpu_count()} cores · Linux {platform.release()} · "
        f"{subprocess.run(['psql', '--version'], capture_output=True, text=True).stdout.strip()}",
        "",
        f"The same {p['total']:,} cases (make bench's seed) on both backends, each served by "
        f"`closeloop serve --threads {r.a.threads}` on this machine, the database server too; "
        f"{r.a.rounds} rounds, medians. Latency: wrk, one connection, {r.a.lat_secs} s per "
        "probe, p50.",
        "",
        "| scenario | SQLite | PostgreSQL | PostgreSQL/SQLite |",
        "|---|---|---|---|",
    ]
    names = {
        "first 25": "First page, per_page=25",
        "last 25": f"Last page of {p['total']:,}, per_page=25",
        "window 25": f"One-day window ({p['day']}, {p['day_cases']:,} cases), per_page=25",
        "first 1000": "First page, per_page=1000",
        "last 1000": f"Last page of {p['total']:,}, per_page=1000",
        "window 1000": "One-day window, per_page=1000",
    }
    for k, label in names.items():
        s, g = res[("sqlite", k)], res[("postgres", k)]
        lines.append(f"| {label} — p50 latency | {B.ms(s)} | {B.ms(g)} | {g / s:.2f} |")
    for name in ("sqlite", "postgres"):
        first, deep = res[(name, "first 25")], res[(name, "last 25")]
        window = res[(name, "window 25")]
        lines.append(f"| … {name}: last/first {deep / first:.2f}, window/none "
                     f"{window / first:.2f} (flat-cost ratios, target ≤ 1.2) | | | |")
    s, g = res[("sqlite", "rps 25")], res[("postgres", "rps 25")]
    lines.append(f"| per_page=25, 16 conns — requests/s | {B.fmt_n(s)} | {B.fmt_n(g)} | "
                 f"{g / s:.2f} |")
    s, g = res[("sqlite", "sync")], res[("postgres", "sync")]
    lines.append(f"| Full sync of {p['total']:,} cases, JSONL to /dev/null — seconds | "
                 f"{s:.2f} s | {g:.2f} s | {g / s:.2f} |")
    s, g = res[("sqlite", "writes")], res[("postgres", "writes")]
    lines.append(f"| PUT status, 16 conns — acknowledged writes/s | {B.fmt_n(s)} | {B.fmt_n(g)} | "
                 f"{g / s:.2f} |")
    lines += ["", f"Run time {elapsed:.0f} s.", ""]
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bin", default=str(B.ROOT / "build-bench/src/cli/closeloop"))
    p.add_argument("--cases", type=int, default=1_000_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--secs", type=int, default=3, help="seconds of each throughput run")
    p.add_argument("--lat-secs", type=int, default=2, help="seconds of each latency probe")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--out", default=str(B.RESULTS / "postgres.md"))
    args = p.parse_args()
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    t0 = time.perf_counter()
    run = Run(args)
    run.run()
    text = report(run, started, time.perf_counter() - t0)
    print(text)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
