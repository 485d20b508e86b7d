"""Fixtures of the sync-client suite; the helpers live in client_harness.py.
The server's databases are SQLite files, or PostgreSQL databases when
CLOSELOOP_TEST_PG is set: see ../blackbox/backend.py."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "blackbox"))

import backend  # noqa: E402 (../blackbox, the one place that knows the backend)
from backend import _databases_of_the_session, _databases_of_the_test  # noqa: E402,F401
from client_harness import Deployment  # noqa: E402
from faultproxy import FaultProxy  # noqa: E402


@pytest.fixture(scope="session")
def binary():
    path = os.environ.get("CLOSELOOP_BIN")
    if not path:
        pytest.fail("CLOSELOOP_BIN is not set: CLOSELOOP_BIN=/abs/path/to/closeloop "
                    "python3 -m pytest tests/blackbox_client")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"CLOSELOOP_BIN={path!r} is not an executable file (build it first)")
    return os.path.abspath(path)


@pytest.fixture
def deploy(binary, tmp_path):
    """A factory: deploy(cases=N, server_args=(...)) starts a server on a new
    temporary database with N seeded cases. Every server is stopped after
    the test, and must exit cleanly."""
    made = []

    def make(cases=0, server_args=()):
        d = Deployment(binary, backend.new_db(tmp_path, f"server{len(made)}"), server_args, cases)
        made.append(d)
        return d

    yield make
    bad = [(code, "".join(d.server.lines)[-3000:]) for d in made
           for code in [d.server.stop()] if code != 0]
    assert not bad, f"server did not exit cleanly: {bad}"


@pytest.fixture
def proxy():
    """A factory of fault-injecting proxies in front of a deployment."""
    made = []

    def make(deployment):
        p = FaultProxy(deployment.server.port)
        made.append(p)
        return p

    yield make
    for p in made:
        p.stop()
