"""`closeloop sync` against the real server: every output format gets exactly
the server's cases, runs continue from the stored cursor, and a client
killed at any moment resumes without losing or double-applying a page."""

import json
import re
import signal
import sqlite3
import time

from client_harness import (CSV_COLUMNS, SYNC, flatten, poll, read_csv, read_jsonl,
                            read_sqlite, stored_cursor)
from harness import last_terminal_line, run_on_a_terminal  # ../blackbox (conftest.py)

NEW = 50_000_000  # survey response numbers the seed never uses


def latest_by_id(records):
    out = {}
    for r in records:
        out[r["id"]] = r
    return out


def test_full_sync_jsonl_is_the_servers_cases_in_key_order(deploy, tmp_path):
    d = deploy(cases=2500)
    want = d.api.all_cases()
    out = tmp_path / "cases.jsonl"
    p = d.sync("--output", out, "--per-page", 300)
    assert p.returncode == 0, p.stderr
    lines = read_jsonl(out)
    assert len(lines) == len(want) == 2500
    got = latest_by_id(lines)
    assert got == want
    for line in lines[:50]:
        assert list(line) == list(want[line["id"]]), "keys must keep the server's order"


def test_jsonl_to_stdout_by_default(deploy):
    d = deploy(cases=300)
    p = d.sync("--per-page", 1000)
    assert p.returncode == 0, p.stderr
    lines = [json.loads(x) for x in p.stdout.splitlines()]
    assert latest_by_id(lines) == d.api.all_cases()
    assert p.stderr == "", "no progress line when stderr is not a terminal"


def test_full_sync_csv_flattens_the_assignee(deploy, tmp_path):
    d = deploy(cases=1200)
    want = {i: flatten(c) for i, c in d.api.all_cases().items()}
    out = tmp_path / "cases.csv"
    p = d.sync("--format", "csv", "--output", out)
    assert p.returncode == 0, p.stderr
    header, rows, text = read_csv(out)
    assert header == CSV_COLUMNS
    assert text.startswith(",".join(CSV_COLUMNS) + "\r\n"), "RFC 4180 line ends"
    assert {r["id"]: r for r in rows} == want
    assert len(rows) == len(want)
    assert any(r["assignee_id"] is None for r in rows) and any(r["assignee_id"] for r in rows)


def test_full_sync_sqlite_equals_the_server(deploy, tmp_path):
    d = deploy(cases=2000)
    out = tmp_path / "out.db"
    p = d.sync("--output", f"sqlite:{out}", "--per-page", 250)
    assert p.returncode == 0, p.stderr
    rows, state = read_sqlite(out)
    assert rows == {i: flatten(c) for i, c in d.api.all_cases().items()}
    assert len(state) == 1 and state[0]["source"] == d.url
    assert state[0]["cursor"] > 0


def test_sqlite_runs_continue_from_the_stored_cursor(deploy, tmp_path):
    d = deploy(cases=500)
    out = tmp_path / "out.db"
    assert d.sync("--output", f"sqlite:{out}").returncode == 0
    _, [first] = read_sqlite(out)
    # Changes after the first run: updated cases and new ones.
    d.api.set_status(1, "open")
    d.api.set_status(2, "closed")
    for n in range(3):
        d.api.set_status(NEW + n, "progress")
    p = d.sync("--output", f"sqlite:{out}")
    assert p.returncode == 0, p.stderr
    rows, [second] = read_sqlite(out)
    assert second["cursor"] > first["cursor"]
    assert rows == {i: flatten(c) for i, c in d.api.all_cases().items()}
    # Nothing changed: the cursor stays.
    assert d.sync("--output", f"sqlite:{out}").returncode == 0
    assert read_sqlite(out)[1][0]["cursor"] == second["cursor"]


def test_state_file_makes_the_next_run_incremental(deploy, tmp_path):
    d = deploy(cases=400)
    out, state = tmp_path / "log.jsonl", tmp_path / "state.json"
    assert d.sync("--output", out, "--state", state, "--per-page", 100).returncode == 0
    assert len(read_jsonl(out)) == 400
    saved = json.loads(state.read_text())
    assert saved["cursor"] > 0 and saved["source"] == d.url
    changed = [d.api.set_status(NEW + n, "open") for n in range(5)]
    p = d.sync("--output", out, "--state", state, "--per-page", 100)
    assert p.returncode == 0, p.stderr
    lines = read_jsonl(out)
    assert len(lines) == 405, "the second run appends only what changed"
    assert lines[400:] == changed
    assert latest_by_id(lines) == d.api.all_cases()


def test_csv_with_state_writes_the_header_once(deploy, tmp_path):
    d = deploy(cases=50)
    out, state = tmp_path / "log.csv", tmp_path / "state.json"
    assert d.sync("--format", "csv", "--output", out, "--state", state).returncode == 0
    d.api.set_status(NEW, "closed")
    assert d.sync("--format", "csv", "--output", out, "--state", state).returncode == 0
    header, rows, text = read_csv(out)
    assert header == CSV_COLUMNS and text.count("id,number_customergauge") == 1
    assert len(rows) == 51


def test_empty_server_gives_a_header_and_a_cursor(deploy, tmp_path):
    d = deploy(cases=0)
    out, state = tmp_path / "x.csv", tmp_path / "state.json"
    p = d.sync("--format", "csv", "--output", out, "--state", state)
    assert p.returncode == 0, p.stderr
    assert out.read_bytes() == (",".join(CSV_COLUMNS) + "\r\n").encode()
    assert json.loads(state.read_text())["cursor"] == 0


def test_date_window_maps_to_updated_at(deploy, tmp_path):
    d = deploy(cases=1500)
    days = sorted({c["updated_at"][:10] for c in d.api.all_cases().values()})
    since, until = days[len(days) // 3], days[2 * len(days) // 3]
    want = d.api.all_cases(since=since, until=until)
    assert 0 < len(want) < 1500
    out = tmp_path / "w.db"
    p = d.sync("--since", since, "--until", until, "--output", f"sqlite:{out}")
    assert p.returncode == 0, p.stderr
    rows, [state] = read_sqlite(out)
    assert rows == {i: flatten(c) for i, c in want.items()}
    assert (state["since_date"], state["until_date"]) == (since, until)
    # Only --since: everything from that day on.
    p = d.sync("--since", since)
    got = latest_by_id(json.loads(x) for x in p.stdout.splitlines())
    assert got == d.api.all_cases(since=since)


def test_state_of_another_window_is_refused(deploy, tmp_path):
    d = deploy(cases=10)
    out, state = tmp_path / "a.jsonl", tmp_path / "state.json"
    assert d.sync("--output", out, "--state", state).returncode == 0
    p = d.sync("--output", out, "--state", state, "--since", "2020-01-01")
    assert p.returncode == 2
    assert len(p.stderr.strip().splitlines()) == 1 and "state" in p.stderr


def kill_mid_run(d, args, progressed, timeout=30, url=None):
    """Starts a sync, waits until progressed() is true, and kills it -9."""
    proc = d.start_sync(*args, url=url)
    try:
        ok = poll(lambda: progressed() or proc.poll() is not None, timeout, interval=0.005)
        assert ok and proc.poll() is None, "the sync ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stderr.close()


def test_sqlite_resume_after_kill_equals_the_server(deploy, proxy, tmp_path):
    d = deploy(cases=4000)
    out = tmp_path / "out.db"
    total = max(c["id"] for c in d.api.all_cases().values())
    assert total > 0
    args = ("--output", f"sqlite:{out}", "--per-page", 20)
    # The output commits a batch of pages at least every second; a slower
    # server (10 ms a page: 200 pages) makes sure the kill lands mid-pass.
    px = proxy(d)
    px.delay = 0.01
    kill_mid_run(d, args, lambda: (stored_cursor(out) or 0) > 0, url=px.url)
    rows, [state] = read_sqlite(out)
    assert 0 < len(rows) < 4000, "killed in the middle"
    # Every committed page is whole: the rows are exactly a prefix of the pass.
    assert len(rows) % 20 == 0
    # The world moves on while the client is down.
    for n in range(1, 30):
        d.api.set_status(n * 7, "progress" if n % 2 else "closed")
    d.api.set_status(NEW, "open")
    # The cursor belongs to the server it came from: resume through the
    # same address.
    px.delay = 0
    p = d.sync(*args, timeout=120, url=px.url)
    assert p.returncode == 0, p.stderr
    rows, [final] = read_sqlite(out)
    assert rows == {i: flatten(c) for i, c in d.api.all_cases().items()}
    assert final["cursor"] > state["cursor"]


def pages_of(d, per_page):
    """The pass as [(ids of the page, its cursor.next)]."""
    out, cursor = [], 0
    while True:
        status, data = d.api.request(
            "GET", f"{SYNC}?per_page={per_page}&cursor={cursor}",
            headers={"Authorization": "Bearer " + d.api.token()})
        assert status == 200, data
        page = json.loads(data)
        if not page["data"]:
            return out
        cursor = page["cursor"]["next"]
        out.append(([c["id"] for c in page["data"]], cursor))


def test_sqlite_write_failure_mid_pass_is_exit_5_and_keeps_whole_pages(deploy, tmp_path):
    """The database refuses a row half-way through the pass (a CHECK the
    operator added): the sync stops with exit 5 and one line naming the
    failure, and what it kept is whole pages with their cursor, from which
    the next run resumes once the database accepts the rows."""
    d = deploy(cases=300)
    pages = pages_of(d, 10)  # [(ids, cursor.next)] in feed order
    limit = pages[15][0][0]  # the first case of the 16th page is refused
    out = tmp_path / "checked.db"
    con = sqlite3.connect(out)
    con.execute(f"CREATE TABLE close_loop_cases (id INTEGER NOT NULL UNIQUE CHECK (id <> {limit}),"
                " number_customergauge INTEGER, status TEXT, assignee_id INTEGER,"
                " assignee_username TEXT, assignee_email TEXT, time_to_follow_up INTEGER,"
                " time_to_close INTEGER, created_at TEXT, updated_at TEXT)")
    con.commit()
    con.close()
    p = d.sync("--output", f"sqlite:{out}", "--per-page", 10)
    assert p.returncode == 5, (p.returncode, p.stderr)
    assert len(p.stderr.strip().splitlines()) == 1 and "CHECK" in p.stderr, p.stderr
    rows, state = read_sqlite(out)
    # Whole pages only, a prefix of the pass, and the cursor of its last.
    kept = len(rows) // 10
    assert len(rows) % 10 == 0 and kept <= 15
    assert set(rows) == {i for ids, _ in pages[:kept] for i in ids}
    assert [s["cursor"] for s in state] == ([pages[kept - 1][1]] if kept else [])

    con = sqlite3.connect(out)
    con.executescript("ALTER TABLE close_loop_cases RENAME TO old;"
                      "CREATE TABLE close_loop_cases AS SELECT * FROM old; DROP TABLE old;"
                      "CREATE UNIQUE INDEX close_loop_cases_id ON close_loop_cases (id);")
    con.close()
    p = d.sync("--output", f"sqlite:{out}", "--per-page", 10)
    assert p.returncode == 0, p.stderr
    rows, _ = read_sqlite(out)
    assert rows == {i: flatten(c) for i, c in d.api.all_cases().items()}


def test_jsonl_resume_after_kill_has_every_case(deploy, tmp_path):
    d = deploy(cases=20000)
    out, state = tmp_path / "log.jsonl", tmp_path / "state.json"
    per_page = 20
    args = ("--output", out, "--state", state, "--per-page", per_page)
    kill_mid_run(d, args, lambda: state.exists() and state.stat().st_size > 0)
    d.api.set_status(NEW, "open")
    p = d.sync(*args, timeout=120)
    assert p.returncode == 0, p.stderr
    lines = read_jsonl(out)  # no torn line from the killed run
    want = d.api.all_cases()
    assert latest_by_id(lines) == want, "every case, at its latest state"
    # Duplicates may only come from the page the killed run had not finished.
    assert len(lines) - len(want) <= per_page


def test_cursor_flag_starts_after_that_cursor(deploy, tmp_path):
    """--cursor N: the pass holds exactly the cases after N, as the API's
    own pages from N do."""
    d = deploy(cases=60)
    pages = pages_of(d, 10)
    out = tmp_path / "from.jsonl"
    p = d.sync("--cursor", pages[2][1], "--per-page", 10, "--output", out)
    assert p.returncode == 0, p.stderr
    assert [c["id"] for c in read_jsonl(out)] == [i for ids, _ in pages[3:] for i in ids]


def test_progress_line_on_a_terminal(deploy, tmp_path):
    """On a terminal, stderr carries a progress line (records, pages,
    records/s) that ends with the totals; stdout stays clean."""
    d = deploy(cases=250)
    code, stdout, text = run_on_a_terminal(
        [d.binary, "sync", "--base-url", d.url, "--per-page", 50, "--output", tmp_path / "p.jsonl"],
        env=d.env())
    assert code == 0 and stdout == b""
    assert re.fullmatch(r"sync: 250 records, 5 pages, \d+ records/s", last_terminal_line(text)), text


def test_progress_is_quiet_off_a_terminal_and_with_quiet(deploy, tmp_path):
    d = deploy(cases=20)
    p = d.sync("--quiet", "--output", tmp_path / "q.jsonl")
    assert p.returncode == 0 and p.stderr == ""
