"""Faults (issue #7, part 3): a crash in the middle of a burst of writes, a
full disk, and a database that is or becomes read-only.

The promises: every acknowledged write survives `kill -9`; the database
never needs repair (PRAGMA integrity_check = ok); a full or read-only disk
turns writes into 503 {"message":"Service Unavailable."} with Retry-After,
never a crash or a hang; and service resumes once the disk has room again.

The disk tests mount small filesystems, which needs root (CI runs as root);
they skip with the reason when mounting is not possible. Every mount is
unmounted after its test, whatever happened. They are about the SQLite file
and its filesystem, so they are skipped on PostgreSQL, whose server owns its
disk; test_postgres.py stops the database server under closeloop instead.
"""

import errno
import http.client
import os
import random
import signal
import subprocess
import threading
import time

import pytest

from harness import deploy, integrity, poll, query_db, run_cli

SERVICE_UNAVAILABLE = {"message": "Service Unavailable."}
STATUSES = ["open", "progress", "closed"]


# integrity(db) (harness): PRAGMA integrity_check of the SQLite file, as any
# SQLite client sees it (the WAL, if any, is read as SQLite always does: that
# is no repair); on PostgreSQL, pg_amcheck of every table and index.


def notes_in_db(db):
    return {r[0] for r in query_db(db, "SELECT note FROM case_events WHERE note IS NOT NULL")}


def assert_unavailable(r):
    assert r.status == 503, r
    assert r.json() == SERVICE_UNAVAILABLE
    assert r.header("Retry-After"), r.headers


# ---- kill -9 during a burst of concurrent writes ---------------------------------------


WRITERS = 6
NUMBERS_PER_WRITER = 30


def test_kill_9_during_a_burst_of_concurrent_writes(binary, db, servers):
    d = deploy(binary, db, servers(), threads=2)
    acked = {}  # number -> (status, case id) of its last acknowledged write
    unknown = {}  # number -> status of a write sent but never answered
    notes = set()  # the note of every acknowledged write
    lock = threading.Lock()
    stop = threading.Event()
    counts = [0] * WRITERS

    def writer(k):
        # Each writer owns its numbers, so the order of their writes is known.
        rnd = random.Random(k)
        i = 0
        while not stop.is_set():
            i += 1
            number = 100000 * (k + 1) + rnd.randrange(NUMBERS_PER_WRITER)
            status = rnd.choice(STATUSES)
            note = f"writer {k} write {i}"
            with lock:
                unknown[number] = status
            try:
                r = d.api.put_status(d.token, number, status, note=note)
            except (OSError, http.client.HTTPException):
                return  # the server is gone: this write's fate is unknown
            if r.status not in (200, 201):
                with lock:
                    unknown.pop(number, None)
                if r.status == 503:
                    continue
                raise AssertionError(f"unexpected answer {r}")
            with lock:
                unknown.pop(number, None)
                data = r.json()["data"]
                acked[number] = (data["status"], data["id"])
                notes.add(note)
                counts[k] += 1

    threads = [threading.Thread(target=writer, args=(k,), daemon=True) for k in range(WRITERS)]
    for t in threads:
        t.start()
    # Kill while every writer is busy, after a good number of acknowledgements.
    assert poll(lambda: sum(counts) >= 300 and min(counts) >= 10, 30), counts
    d.server.proc.send_signal(signal.SIGKILL)
    d.server.proc.wait(timeout=10)
    d.server.killed = True
    stop.set()
    for t in threads:
        t.join(timeout=15)
        assert not t.is_alive()

    # No repair is ever needed: the file is consistent as the crash left it.
    assert integrity(db) == ["ok"]
    assert notes <= notes_in_db(db), "an acknowledged write is missing from the history"

    d.server.start(db, threads=2)
    cases = {c["number_customergauge"]: c for c in d.api.all_cases(d.token)}
    for number, (status, case_id) in acked.items():
        c = cases.get(number)
        assert c is not None, f"acknowledged case {number} is gone"
        assert c["id"] == case_id
        # The last acknowledged state, or a later write whose answer the
        # crash swallowed.
        assert c["status"] in {status, unknown.get(number)}, (number, c, status)
    # Writes continue where they stopped; the file stays sound.
    r = d.api.put_status(d.token, 999999, "open")
    assert r.status == 201, r
    d.server.stop()
    assert integrity(db) == ["ok"]


# ---- small filesystems -------------------------------------------------------------------


def run(*argv, timeout=30):
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)


def unmount(path):
    """Unmounts path, waiting for a process that is still letting go of it;
    lazily as a last resort, so that no test leaves a mount behind."""
    for _ in range(50):
        if run("umount", str(path)).returncode == 0:
            return
        if not os.path.ismount(path):
            return
        time.sleep(0.1)
    run("umount", "-l", str(path))


def need_root():
    if os.geteuid() != 0:
        pytest.skip("mounting a test filesystem needs root")


@pytest.fixture
def tmpfs(tmp_path):
    """A 16 MiB tmpfs; yields its path and unmounts it afterwards."""
    need_root()
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    p = run("mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(mnt))
    if p.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {p.stderr.strip()}")
    try:
        yield mnt
    finally:
        unmount(mnt)


def fill(path):
    """Writes a filler file until the filesystem is full; returns its path."""
    filler = path / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 16, 1 << 12, 1 << 9, 1):
            try:
                while os.write(fd, b"\0" * size) > 0:
                    pass
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
    finally:
        os.close(fd)
    return filler


@pytest.mark.sqlite_only("fills the filesystem that holds the database file")
def test_disk_full_gives_503_and_service_resumes(binary, tmpfs, servers):
    db = tmpfs / "closeloop.db"
    srv = servers()
    d = deploy(binary, db, srv, threads=2)
    acked = {}
    for n in range(1, 21):
        acked[n] = d.api.set_status(d.token, n, "open", note="before")["status"]
    filler = fill(tmpfs)

    unavailable = 0
    for i in range(200):
        n = 1000 + i
        r = d.api.put_status(d.token, n, "progress", note="x" * 4900)
        if r.status in (200, 201):
            acked[n] = "progress"
            continue
        assert_unavailable(r)
        unavailable += 1
        if unavailable >= 20:
            break
    assert unavailable >= 20, "a full disk never made a write fail"
    # Reads and tokens need no space; they are served or, at worst, a 503.
    r = d.api.sync(d.token, "per_page=1000")
    assert r.status in (200, 503), r
    if r.status == 200:
        assert {c["number_customergauge"] for c in r.json()["data"]} >= set(range(1, 21))
    r = d.api.token_request(f"grant_type=client_credentials&client_id={d.client_id}"
                            f"&client_secret={d.secret}")
    assert r.status in (200, 503), r
    assert srv.running()

    filler.unlink()
    assert poll(lambda: d.api.put_status(d.token, 5000, "closed").status in (200, 201), 5), \
        "writes did not resume once the disk had room again"
    acked[5000] = "closed"
    for n in range(5001, 5021):
        acked[n] = d.api.set_status(d.token, n, "open", note="after")["status"]

    cases = {c["number_customergauge"]: c["status"] for c in d.api.all_cases(d.token)}
    assert {n: cases.get(n) for n in acked} == acked
    assert srv.stop() == 0, srv.stderr()[-2000:]
    assert integrity(db) == ["ok"]


@pytest.mark.sqlite_only("remounts the filesystem of the database file read-only, with its WAL")
def test_database_read_only_at_start(binary, tmpfs, servers):
    """A database on a read-only filesystem: with no WAL left over, serve
    refuses to start (exit 5, one line); with the WAL of a crash left over,
    it starts, serves reads and answers writes with a 503. Either way, once
    the filesystem is writable again, a restarted server writes."""
    db = tmpfs / "closeloop.db"
    srv = servers()
    d = deploy(binary, db, srv, threads=1)
    first = d.api.set_status(d.token, 1, "closed")
    assert srv.stop() == 0

    assert run("mount", "-o", "remount,ro", str(tmpfs)).returncode == 0
    try:
        p = run_cli(binary, "serve", "--listen", "127.0.0.1:0", db=db, timeout=20)
        assert p.returncode == 5, (p.returncode, p.stderr)
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and "database" in lines[0], p.stderr
    finally:
        assert run("mount", "-o", "remount,rw", str(tmpfs)).returncode == 0

    srv.start(db, threads=1)
    assert d.api.set_status(d.token, 2, "open")["status"] == "open"
    srv.kill()  # leaves the -wal and -shm files behind
    assert run("mount", "-o", "remount,ro", str(tmpfs)).returncode == 0
    try:
        srv.start(db, threads=1)
        token = d.api.token(d.client_id, d.secret)
        assert_unavailable(d.api.put_status(token, 3, "open"))
        assert_unavailable(d.api.put_status(token, 1, "open"))
        cases = {c["number_customergauge"]: c for c in d.api.all_cases(token)}
        assert cases[1] == first and set(cases) == {1, 2}
        assert srv.stop() == 0, srv.stderr()[-2000:]
    finally:
        srv.kill()
        assert run("mount", "-o", "remount,rw", str(tmpfs)).returncode == 0

    srv.start(db, threads=1)
    assert d.api.set_status(d.token, 3, "progress")["status"] == "progress"
    assert srv.stop() == 0
    assert integrity(db) == ["ok"]


@pytest.fixture
def ext4(tmp_path):
    """A small ext4 filesystem on a loop device that goes read-only on its
    first error (errors=remount-ro), which the test triggers through sysfs:
    the way a disk fails under a running server. Yields (mount point,
    sysfs error trigger) and unmounts it afterwards."""
    need_root()
    image = tmp_path / "ext4.img"
    mnt = tmp_path / "ext4"
    mnt.mkdir()
    with open(image, "wb") as f:
        f.truncate(32 << 20)
    p = run("mkfs.ext4", "-q", "-F", str(image))
    if p.returncode != 0:
        pytest.skip(f"cannot make an ext4 filesystem: {p.stderr.strip() or 'mkfs.ext4 missing'}")
    p = run("mount", "-o", "loop,errors=remount-ro", str(image), str(mnt))
    if p.returncode != 0:
        pytest.skip(f"cannot mount a loop device: {p.stderr.strip()}")
    try:
        dev = os.path.basename(run("findmnt", "-no", "SOURCE", str(mnt)).stdout.strip())
        trigger = f"/sys/fs/ext4/{dev}/trigger_fs_error"
        if not os.path.exists(trigger):
            pytest.skip(f"{trigger} is missing: cannot make the filesystem fail")
        yield mnt, image, trigger
    finally:
        unmount(mnt)


@pytest.mark.sqlite_only("makes the filesystem of the database file fail under the server")
def test_filesystem_turning_read_only_under_the_server(binary, ext4, servers):
    mnt, image, trigger = ext4
    db = mnt / "closeloop.db"
    srv = servers()
    d = deploy(binary, db, srv, threads=2)
    acked = {n: d.api.set_status(d.token, n, STATUSES[n % 3])["status"] for n in range(1, 31)}

    try:
        with open(trigger, "w") as f:
            f.write("closeloop fault test\n")
    except OSError as e:
        pytest.skip(f"cannot make the filesystem fail through {trigger}: {e}")
    assert poll(lambda: d.api.put_status(d.token, 100, "open").status == 503, 5)
    for n in (100, 101, 1):
        assert_unavailable(d.api.put_status(d.token, n, "closed"))
    r = d.api.sync(d.token, "per_page=1000")
    assert r.status in (200, 503), r
    assert srv.running()
    assert srv.stop() == 0, srv.stderr()[-2000:]

    # The administrator's way back: unmount, mount again, restart.
    unmount(mnt)
    p = run("mount", "-o", "loop,errors=remount-ro", str(image), str(mnt))
    assert p.returncode == 0, p.stderr
    assert integrity(db) == ["ok"]
    srv.start(db, threads=2)
    cases = {c["number_customergauge"]: c["status"] for c in d.api.all_cases(d.token)}
    assert cases == acked
    assert d.api.set_status(d.token, 100, "open")["status"] == "open"
    assert srv.stop() == 0
    assert integrity(db) == ["ok"]
