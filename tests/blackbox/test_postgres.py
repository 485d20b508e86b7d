"""PostgreSQL backend: several stateless server nodes on one database.

Only on PostgreSQL (CLOSELOOP_TEST_PG, as `make blackbox-pg` sets it); the
rest of the suite runs on both backends already, durability after kill -9 of
a server included (test_durability.py, test_faults.py).

- A token issued by one node is accepted by every other; `apps revoke` and
  `apps rotate` make it fail (401) on all nodes within the 5 s of the contract.
- A sync pass that alternates its pages between nodes is complete.
- The cursor guarantee of SPEC §2 with writers spread over three nodes of two
  worker threads each, and the pass alternating between them: the scenario
  of test_concurrency.py, reused as it is.
- The database server stopping (fast, or immediately as in a crash) under a
  running closeloop: bounded 503s with JSON bodies, /healthz unavailable, no
  crash; once it is back, service resumes by itself and every acknowledged
  write is there. These use a cluster of their own (scripts/pg-cluster.sh).
"""

import http.client
import json
import os
import socket
import subprocess
import tempfile
import threading
import time

import pytest

import backend
from harness import (SYNC, UNAUTHENTICATED, create_app, deploy, form, next_number, poll,
                     run_cli)
import test_concurrency as concurrency

seeded_db = concurrency.seeded_db  # the fixture: its users and 1000 seeded cases

pytestmark = pytest.mark.skipif(
    not backend.PG, reason="PostgreSQL only: set CLOSELOOP_TEST_PG to the admin URL of a cluster "
                           "(scripts/pg-cluster.sh start DIR prints one; make blackbox-pg does it all)")

NODES = 3
THREADS = 2  # worker threads of each node
REVOKE_WITHIN = 5  # seconds, the contract (docs/design.md: "Tokens")
SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts",
                      "pg-cluster.sh")
SERVICE_UNAVAILABLE = {"message": "Service Unavailable."}
HEALTH_UNAVAILABLE = {"status": "unavailable"}
OUTAGE_REPLY_WITHIN = 5  # seconds for any answer while the database is down
RESUME_WITHIN = 30  # seconds for service to come back once the database is up


def start_nodes(servers, db, n=NODES, threads=THREADS):
    nodes = [servers() for _ in range(n)]
    for s in nodes:
        s.start(db, threads=threads)
    return nodes


def token_body(cid, secret):
    return form([("grant_type", "client_credentials"), ("client_id", cid),
                 ("client_secret", secret)])


def assert_unauthenticated(r):
    assert r.status == 401, r
    assert r.json() == UNAUTHENTICATED
    assert (r.header("WWW-Authenticate") or "").startswith("Bearer"), r.headers


# ---- tokens across nodes -------------------------------------------------------------


def test_a_token_of_any_node_works_on_every_node(binary, db, servers):
    cid, sec = create_app(binary, db)
    nodes = start_nodes(servers, db)
    for issuer in nodes:
        tok = issuer.api.token(cid, sec)
        for node in nodes:
            assert node.api.get(SYNC + "?per_page=1", tok).status == 200, (issuer.port, node.port)
            # And writes: what one node committed, every node serves.
            n = next_number()
            made = node.api.set_status(tok, n, "progress")
            for other in nodes:
                assert made in other.api.all_cases(tok), (node.port, other.port, made)


@pytest.mark.parametrize("how", ["revoke", "rotate"])
def test_revoke_and_rotate_reach_every_node_within_5_s(binary, db, servers, how):
    cid, sec = create_app(binary, db)
    other = create_app(binary, db)
    nodes = start_nodes(servers, db)
    tokens = [node.api.token(cid, sec) for node in nodes]  # one issued by each node
    other_token = nodes[0].api.token(*other)
    for tok in tokens:
        for node in nodes:
            assert node.api.get(SYNC + "?per_page=1", tok).status == 200

    argv = ["apps", how, cid] + (["--json"] if how == "rotate" else [])
    p = run_cli(binary, *argv, db=db)
    done = time.monotonic()
    assert p.returncode == 0, p.stderr

    def every_node_rejects():
        return all(node.api.get(SYNC + "?per_page=1", tok).status == 401
                   for node in nodes for tok in tokens)
    assert poll(every_node_rejects, REVOKE_WITHIN, 0.1), \
        f"after apps {how}, a node still accepted an old token {REVOKE_WITHIN} s later"
    # Once the 5 s have passed, every worker of every node rejects them, always.
    time.sleep(max(0.0, done + REVOKE_WITHIN - time.monotonic()))
    for node in nodes:
        for tok in tokens:
            for _ in range(8):  # fresh connections, spread over the node's workers
                assert_unauthenticated(node.api.get(SYNC + "?per_page=1", tok))
            assert_unauthenticated(node.api.put_status(tok, next_number(), "open"))
        # Another app is unaffected.
        assert node.api.get(SYNC + "?per_page=1", other_token).status == 200

    if how == "rotate":
        new_secret = json.loads(p.stdout)["client_secret"]
        for node in nodes:
            # The old secret is refused at once, the new one works, everywhere.
            r = node.api.token_request(token_body(cid, sec))
            assert r.status == 401 and r.json()["error"] == "invalid_client", r
            tok = node.api.token(cid, new_secret)
            for other_node in nodes:
                assert other_node.api.get(SYNC + "?per_page=1", tok).status == 200
    else:
        for node in nodes:
            r = node.api.token_request(token_body(cid, sec))
            assert r.status == 401 and r.json()["error"] == "invalid_client", r


# ---- sync passes across nodes ------------------------------------------------------------


def test_a_pass_alternating_between_nodes_is_complete(binary, db, servers):
    cid, sec = create_app(binary, db)
    nodes = start_nodes(servers, db)
    tok = nodes[0].api.token(cid, sec)
    latest = {}
    for i in range(240):  # 160 cases, 80 of them changed twice, through every node
        n = 1 + i % 160
        node = nodes[i % NODES]
        c = node.api.set_status(tok, n, ["open", "progress", "closed"][(i * 7) % 3], note=f"w{i}")
        latest[c["id"]] = c
    for per_page in (1, 7, 100):
        state, cur, pages = {}, 0, 0
        while True:
            node = nodes[pages % NODES]
            body = node.api.page(tok, ("per_page", per_page), ("cursor", cur))
            pages += 1
            if not body["data"]:
                assert body["cursor"]["next"] == cur, body
                break
            assert body["cursor"]["next"] > cur, body
            for c in body["data"]:
                state[c["id"]] = c
            cur = body["cursor"]["next"]
            assert pages < 1000, "the pass does not end"
        assert state == latest, f"per_page={per_page}: the pass is not the set of latest states"
        # Every node answers the end of the pass the same way.
        for node in nodes:
            body = node.api.page(tok, ("per_page", per_page), ("cursor", cur))
            assert body == {"data": [], "cursor": {"next": cur}}, (node.port, body)
    # A change after the pass, through any node, is the next page on every node.
    c = nodes[1].api.set_status(tok, 7, "open", note="after")
    for node in nodes:
        assert node.api.page(tok, ("cursor", cur))["data"] == [c]


def test_cursor_guarantee_with_writers_on_three_nodes(binary, seeded_db, servers):
    """test_concurrency.py's scenario: three writer threads, each sending every
    write to a random node, while the pass alternates between the nodes."""
    cid, sec = create_app(binary, seeded_db)
    nodes = start_nodes(servers, seeded_db)
    token = nodes[0].api.token(cid, sec)
    stats = concurrency.run(nodes[0].api, [n.api for n in nodes], token)
    print(f"{NODES} nodes, {concurrency.SEEDED} seeded cases:", stats)


# ---- the database server goes away and comes back ---------------------------------------------


class Cluster:
    """A PostgreSQL cluster of the test's own, through scripts/pg-cluster.sh."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="closeloop-pg-")
        self.admin = None

    def _run(self, *args):
        p = subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, f"pg-cluster.sh {' '.join(args)}: exit {p.returncode}: {p.stderr}"
        return p.stdout.strip()

    def start(self):
        url = self._run("start", self.dir)
        assert self.admin in (None, url), (self.admin, url)  # same port after a restart
        self.admin = url
        return url

    def halt(self, mode="fast"):
        self._run("halt", self.dir, mode)

    def remove(self):
        self._run("stop", self.dir)


@pytest.fixture
def own_cluster():
    c = Cluster()
    try:
        c.start()
        yield c
    finally:
        c.remove()


@pytest.fixture
def outage(binary, own_cluster, servers):
    """A server (two workers) on a database of its own cluster, with a token.
    The cluster outlives the servers (set up first, so torn down last)."""
    _, url = backend.create_pg_database(own_cluster.admin, "outage")
    d = deploy(binary, url, servers(), threads=THREADS)
    return own_cluster, d


def timed(fn):
    started = time.monotonic()
    r = fn()
    return r, time.monotonic() - started


def recovered(api, tok):
    """Every worker serves again: fresh connections (which the kernel spreads
    over the workers) all succeed. A worker reconnects at its own pace."""
    return (all(api.get("/healthz").status == 200 for _ in range(8))
            and all(api.sync(tok, "per_page=1").status == 200 for _ in range(8)))


def assert_api_unavailable(r):
    assert r.status == 503, r
    assert r.json() == SERVICE_UNAVAILABLE
    assert r.header("Retry-After"), r.headers


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_database_down_gives_503_and_service_resumes(outage, mode):
    cluster, d = outage
    api, tok = d.api, d.token
    acked = {}  # number -> status of its last acknowledged write
    for i in range(60):
        n = 1 + i % 40
        st = ["open", "progress", "closed"][(i * 5) % 3]
        acked[n] = api.set_status(tok, n, st, note=f"before {i}")["status"]

    # A writer all along, each write to a new number: acknowledged ones must
    # survive, none may hang, and the only refusal is a 503.
    stop = threading.Event()
    during, errors, answers = {}, [], []

    def writer():
        n = 100000
        while not stop.is_set():
            n += 1
            try:
                r, took = timed(lambda: api.put_status(tok, n, "open", note=f"during {n}"))
            except (OSError, http.client.HTTPException) as e:
                errors.append(f"write {n}: {e!r}")
                return
            answers.append(r.status)
            if r.status in (200, 201):
                during[n] = r.json()["data"]["id"]
            elif r.status == 503:
                try:
                    assert_api_unavailable(r)
                except AssertionError as e:
                    errors.append(f"write {n}: {e}")
                time.sleep(0.05)
            else:
                errors.append(f"write {n}: {r}")
            if took > OUTAGE_REPLY_WITHIN:
                errors.append(f"write {n} took {took:.1f} s")
            time.sleep(0.01)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    try:
        assert poll(lambda: len(during) >= 20, 20), f"the writer got no acknowledgements: {answers[-5:]}"
        cluster.halt(mode)
        assert poll(lambda: 503 in answers, 10), "writes did not start failing with the database down"

        # Every kind of request answers promptly: a 503 with a JSON body.
        for _ in range(6):
            r, took = timed(lambda: api.put_status(tok, next_number(), "closed"))
            assert_api_unavailable(r)
            assert took < OUTAGE_REPLY_WITHIN, took
            r, took = timed(lambda: api.sync(tok, "per_page=10"))
            assert_api_unavailable(r)
            assert took < OUTAGE_REPLY_WITHIN, took
            r, took = timed(lambda: api.token_request(token_body(d.client_id, d.secret)))
            assert r.status == 503, r
            assert r.json()["error"] == "temporarily_unavailable", r
            assert r.header("Retry-After") == "1", r.headers
            assert r.header("Cache-Control") == "no-store", r.headers
            assert took < OUTAGE_REPLY_WITHIN, took
        # Fresh connections, spread over the workers: each one says so.
        for _ in range(12):
            r, took = timed(lambda: api.get("/healthz"))
            assert r.status == 503, r
            assert r.json() == HEALTH_UNAVAILABLE
            assert r.header("Retry-After") == "1", r.headers
            assert took < OUTAGE_REPLY_WITHIN, took
        assert d.server.running(), f"the server died: {d.server.stderr()[-2000:]}"
        time.sleep(1)  # an outage of some length: the workers keep trying
        assert d.server.running(), f"the server died: {d.server.stderr()[-2000:]}"
    finally:
        cluster.start()

    # Back by itself: every worker serves again.
    assert poll(lambda: recovered(api, tok), RESUME_WITHIN, 0.2), \
        f"the server did not recover once the database was back: {d.server.stderr()[-2000:]}"
    resumed = len(during)
    assert poll(lambda: len(during) >= resumed + 20, RESUME_WITHIN), \
        f"writes did not resume: {answers[-5:]}"
    stop.set()
    t.join(timeout=20)
    assert not t.is_alive(), "the writer hung"
    assert not errors, errors[:5]
    for _ in range(8):
        assert api.sync(tok, "per_page=1").status == 200
    n = next_number()
    assert api.set_status(tok, n, "progress")["status"] == "progress"
    acked[n] = "progress"
    assert api.get(SYNC, api.token(d.client_id, d.secret)).status == 200  # tokens too

    # Every acknowledged write is there, before, during and after the outage.
    cases = {c["number_customergauge"]: c for c in api.all_cases(tok)}
    assert {k: cases[k]["status"] for k in acked if k in cases} == acked, "acknowledged writes lost"
    lost = {k: v for k, v in during.items() if k not in cases or cases[k]["id"] != v}
    assert not lost, f"{len(lost)} acknowledged writes lost across the restart, e.g. {list(lost)[:5]}"
    assert d.server.running()


def test_server_on_a_cluster_that_restarts_twice(outage):
    """Two outages in a row: recovery is not a one-off."""
    cluster, d = outage
    api, tok = d.api, d.token
    for k in range(2):
        before = api.set_status(tok, 10 + k, "open")
        cluster.halt()
        r = api.put_status(tok, 20 + k, "open")
        assert_api_unavailable(r)
        cluster.start()
        assert poll(lambda: recovered(api, tok), RESUME_WITHIN, 0.2), f"no recovery after outage {k + 1}"
        # The writer's connection reconnects at its own pace too (at most
        # every PG_RECONNECT_MS): a refused write is not kept, so retrying
        # creates the case once.
        assert poll(lambda: api.put_status(tok, 30 + k, "open").status == 201, RESUME_WITHIN, 0.2), \
            f"writes did not resume after outage {k + 1}"
        cases = api.all_cases(tok)
        assert before in cases
        assert 20 + k not in {c["number_customergauge"] for c in cases}, "a refused write was kept"


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_a_restart_in_a_quiet_period_costs_no_request_an_error(outage, mode):
    """docs/design.md: a connection found dead at the start of a read or at
    the BEGIN of a write is replaced and the statement sent again, so a
    database restart while no request is running costs no request an error."""
    cluster, d = outage
    api, tok = d.api, d.token
    for n in range(1, 9):  # every worker has used its connection
        api.set_status(tok, n, "open")
        assert api.sync(tok, "per_page=1").status == 200
    cluster.halt(mode)
    cluster.start()
    answers = []
    for n in range(1, 9):  # fresh connections, spread over the workers
        answers.append(("sync", api.sync(tok, "per_page=1").status))
        answers.append(("status", api.put_status(tok, n, "closed").status))
        answers.append(("healthz", api.get("/healthz").status))
    assert all(status in (200, 201) for _, status in answers), (answers, d.server.stderr()[-2000:])
    assert {c["number_customergauge"]: c["status"] for c in api.all_cases(tok)} == \
        {n: "closed" for n in range(1, 9)}


def test_unreachable_at_start_is_exit_5_with_one_line(binary):
    """A node whose database does not answer when it starts refuses to start
    (exit 5, one line, the URL's password never shown) instead of serving
    nothing but 503s; a supervisor (the systemd unit's Restart=) retries.
    Commands behave alike."""
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgres://closeloop:hunter2@127.0.0.1:{port}/closeloop"
    for argv in (["serve", "--listen", "127.0.0.1:0"], ["apps", "list"], ["users", "list"]):
        p = subprocess.run([binary, *argv, "--db", url], capture_output=True, text=True,
                           timeout=30)
        assert p.returncode == 5, (argv, p.returncode, p.stderr)
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and "PostgreSQL" in lines[0], (argv, p.stderr)
        assert "hunter2" not in p.stderr + p.stdout
