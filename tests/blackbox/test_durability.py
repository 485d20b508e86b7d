"""Acknowledged writes survive a crash; SIGTERM/SIGINT shut down cleanly
(SPEC §2 "Guarantee"; server.h: graceful shutdown)."""

import http.client
import json
import signal
import socket
import threading
import time

import pytest

from harness import HOST, STATUS, SYNC, deploy, query_db

STATUSES = ["open", "progress", "closed"]


def test_acknowledged_writes_survive_sigkill(binary, db, servers):
    d = deploy(binary, db, servers())
    final = {}
    for i in range(200):
        n = 1 + i % 120  # 80 numbers written twice
        st = STATUSES[(i * 7) % 3]
        r = d.api.put_status(d.token, n, st, note=f"write {i}")
        assert r.status in (200, 201), r
        final[n] = st
    before = d.api.all_cases(d.token)
    old_token = d.token
    d.server.kill()
    d.server.start(db)
    after = d.api.all_cases(d.token)
    assert {c["number_customergauge"]: c["status"] for c in after} == final
    assert after == before
    # The signing key is in the database: tokens survive a restart.
    assert d.api.get(SYNC, old_token).status == 200
    assert d.api.get(SYNC, d.api.token(d.client_id, d.secret)).status == 200


def test_writes_continue_after_restart(binary, db, servers):
    d = deploy(binary, db, servers())
    a = d.api.set_status(d.token, 1, "open")
    _, cur = d.api.full_pass(d.token)
    d.server.kill()
    d.server.start(db)
    b = d.api.set_status(d.token, 2, "open")
    c = d.api.set_status(d.token, 1, "closed")
    assert b["id"] != a["id"] and c["id"] == a["id"]
    page = d.api.page(d.token, ("cursor", cur))
    assert page["data"] == [b, c], "a restart must not reuse or lower cursor positions"
    assert page["cursor"]["next"] > cur


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_graceful_shutdown(binary, db, servers, sig):
    d = deploy(binary, db, servers())
    d.api.set_status(d.token, 1, "open")
    start = time.monotonic()
    code = d.server.signal(sig, timeout=8)
    assert code == 0, f"exit {code} after {sig!r}; stderr: {d.server.stderr()[-2000:]}"
    assert time.monotonic() - start < 6
    with pytest.raises(OSError):
        socket.create_connection((HOST, d.server.port), timeout=2).close()
    # The database is intact and reusable.
    d.server.start(db)
    assert [c["number_customergauge"] for c in d.api.all_cases(d.token)] == [1]


def test_shutdown_with_an_idle_keep_alive_connection(binary, db, servers):
    """An open idle connection does not hold the server past its grace time."""
    d = deploy(binary, db, servers())
    conn = http.client.HTTPConnection(HOST, d.server.port, timeout=10)
    try:
        conn.request("GET", SYNC, headers={"Authorization": f"Bearer {d.token}"})
        conn.getresponse().read()
        code = d.server.signal(signal.SIGTERM, timeout=8)
        assert code == 0, d.server.stderr()[-2000:]
    finally:
        conn.close()


def test_shutdown_while_writing(binary, db, servers):
    """SIGTERM during a stream of writes: every acknowledged write is kept."""
    d = deploy(binary, db, servers(), threads=2)
    acked = {}
    stop = threading.Event()

    def writer():
        n = 0
        while not stop.is_set():
            n += 1
            try:
                r = d.api.put_status(d.token, n, "open")
            except (OSError, http.client.HTTPException):
                return
            if r.status in (200, 201):
                acked[n] = r.json()["data"]["id"]
            elif r.status != 503:
                return

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    deadline = time.monotonic() + 10
    while len(acked) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    code = d.server.signal(signal.SIGTERM, timeout=8)
    stop.set()
    t.join(timeout=15)
    assert code == 0, d.server.stderr()[-2000:]
    d.server.start(db)
    have = {c["number_customergauge"]: c["id"] for c in d.api.all_cases(d.token)}
    assert {n: have.get(n) for n in acked} == acked


# ---- group commit -------------------------------------------------------------

WRITERS = 16
BURST_SECONDS = 1.5


def write_burst(d, base, stop, acked, errors):
    """One writer with a keep-alive connection of its own: a note on a new
    case number each time (so every write changes something), until stop.
    acked[number] = note for every 2xx."""
    def run():
        conn = http.client.HTTPConnection(HOST, d.server.port, timeout=10)
        headers = {"Authorization": f"Bearer {d.token}", "Content-Type": "application/json"}
        i = 0
        try:
            while not stop.is_set():
                n = base + i
                note = f"burst {n}"
                body = json.dumps({"number_customergauge": n, "status": STATUSES[i % 3],
                                   "note": note})
                conn.request("PUT", STATUS, body=body, headers=headers)
                r = conn.getresponse()
                data = r.read()
                if r.status not in (200, 201):
                    errors.append((r.status, data))
                    return
                case = json.loads(data)["data"]
                if case["number_customergauge"] != n:
                    errors.append(("answer for another write", n, case))
                    return
                acked[n] = note
                i += 1
        except (OSError, http.client.HTTPException):
            return  # the server went away mid-request: that write was never acknowledged
        finally:
            conn.close()
    return run


def burst(d, seconds, kill=False):
    stop, acked, errors = threading.Event(), {}, []
    threads = [threading.Thread(target=write_burst(d, 1_000_000 * (w + 1), stop, acked, errors),
                                daemon=True) for w in range(WRITERS)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    if kill:
        d.server.kill()  # SIGKILL while the writers are still writing
    stop.set()
    for t in threads:
        t.join(timeout=15)
    assert not errors, errors[:3]
    return acked


def metric(api, name):
    r = api.get("/metrics")
    assert r.status == 200, r
    for line in r.body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split(" ")[1])
    raise AssertionError(f"{name} not in /metrics")


def test_group_commit_answers_each_write_with_its_own_case(binary, db, servers):
    """Sixteen writers at once: each answer carries its own write's case, the
    metrics count every write once, and a transaction may carry several of
    them (never fewer writes than transactions)."""
    d = deploy(binary, db, servers(), threads=2)
    acked = burst(d, BURST_SECONDS)
    assert len(acked) >= WRITERS
    writes = metric(d.api, "closeloop_writes_total")
    txs = metric(d.api, "closeloop_write_transactions_total")
    assert writes == len(acked)
    assert 1 <= txs <= writes
    have = {c["number_customergauge"] for c in d.api.all_cases(d.token)}
    assert have == set(acked)


def test_acknowledged_concurrent_writes_survive_sigkill(binary, db, servers):
    """kill -9 in the middle of a burst from sixteen writers: every write the
    server acknowledged is there after a restart, its note in the history."""
    d = deploy(binary, db, servers(), threads=2)
    acked = burst(d, BURST_SECONDS, kill=True)
    assert len(acked) >= WRITERS
    d.server.start(db)
    have = {c["number_customergauge"] for c in d.api.all_cases(d.token)}
    missing = set(acked) - have
    assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {sorted(missing)[:5]}"
    notes = {r[0] for r in query_db(db, "SELECT note FROM case_events WHERE note IS NOT NULL")}
    assert set(acked.values()) <= notes
