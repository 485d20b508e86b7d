"""Fixtures of the black-box suite; the helpers live in harness.py, and the
choice of storage backend (SQLite, or PostgreSQL with CLOSELOOP_TEST_PG) in
backend.py."""

import os

import pytest

import backend
from backend import _databases_of_the_session, _databases_of_the_test  # noqa: F401 (fixtures)
from harness import Server, create_app, deploy

# ---- the backend --------------------------------------------------------------


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "sqlite_only(reason): a test about SQLite database files as such; "
                   "skipped when the suite runs on PostgreSQL (CLOSELOOP_TEST_PG)")


def pytest_report_header(config):
    if backend.PG:
        return f"closeloop storage backend: PostgreSQL ({backend.PG_ADMIN}, a database per test)"
    return "closeloop storage backend: SQLite (set CLOSELOOP_TEST_PG=postgres://... for PostgreSQL)"


def pytest_collection_modifyitems(config, items):
    if not backend.PG:
        return
    for item in items:
        mark = item.get_closest_marker("sqlite_only")
        if mark is not None:
            why = mark.args[0] if mark.args else mark.kwargs.get("reason", "about SQLite files")
            item.add_marker(pytest.mark.skip(reason=f"SQLite only: {why}"))


# ---- fixtures ---------------------------------------------------------------


@pytest.fixture(scope="session")
def binary():
    path = os.environ.get("CLOSELOOP_BIN")
    if not path:
        pytest.fail("CLOSELOOP_BIN is not set: run `make blackbox`, or "
                    "CLOSELOOP_BIN=/abs/path/to/closeloop python3 -m pytest tests/blackbox")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"CLOSELOOP_BIN={path!r} is not an executable file (build it first)")
    return os.path.abspath(path)


class _Servers:
    def __init__(self, binary):
        self.binary = binary
        self.all = []

    def __call__(self):
        s = Server(self.binary)
        self.all.append(s)
        return s

    def close(self):
        """Stops every server still running and fails if one of them did not
        exit cleanly (a crash, a sanitizer report, a hang on SIGTERM)."""
        bad = []
        for s in self.all:
            if s.proc is None or (s.killed and not s.running()):
                continue
            code = s.stop()
            if code != 0:
                bad.append(f"exit {code}; stderr tail:\n{s.stderr()[-3000:]}")
        if bad:
            pytest.fail("server did not exit cleanly on SIGTERM: " + "\n".join(bad))


@pytest.fixture
def servers(binary):
    """A factory of Server objects; every one is stopped after the test."""
    f = _Servers(binary)
    yield f
    f.close()


@pytest.fixture
def db(tmp_path):
    """A new, empty database of the test's own (a path, or a postgres:// URL)."""
    return backend.new_db(tmp_path)


@pytest.fixture
def fresh(binary, db, servers):
    """A server of its own for tests that need to know every case there is."""
    return deploy(binary, db, servers())


@pytest.fixture(scope="module")
def shared(binary, tmp_path_factory):
    """One server per test module; tests use numbers from next_number()."""
    f = _Servers(binary)
    db = backend.new_db(tmp_path_factory.mktemp("shared"))
    yield deploy(binary, db, f())
    f.close()


@pytest.fixture(scope="module")
def module_servers(binary):
    """Like `servers`, for module-scoped deployments."""
    f = _Servers(binary)
    yield f
    f.close()


@pytest.fixture
def app(binary, db):
    """(client_id, client_secret) of a read,write app on `db`."""
    return create_app(binary, db, "read,write")
