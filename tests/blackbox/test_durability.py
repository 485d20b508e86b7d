"""Acknowledged writes survive a crash; SIGTERM/SIGINT shut down cleanly
(SPEC §2 "Guarantee"; server.h: graceful shutdown)."""

import http.client
import signal
import socket
import threading
import time

import pytest

from harness import HOST, SYNC, deploy

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
