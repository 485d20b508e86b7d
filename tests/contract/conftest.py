"""Fixtures of the contract suite: the real `closeloop serve` (started as the
black-box suite starts it, with its harness) and docs/openapi.yaml as the
oracle its responses are checked against."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "blackbox"))

from harness import Server, add_user, create_app, run_cli  # noqa: E402
from oas import Contract, load_spec  # noqa: E402


@pytest.fixture(scope="session")
def binary():
    path = os.environ.get("CLOSELOOP_BIN")
    if not path:
        pytest.fail("CLOSELOOP_BIN is not set: run `make contract`, or "
                    "CLOSELOOP_BIN=/abs/path/to/closeloop python3 -m pytest tests/contract")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"CLOSELOOP_BIN={path!r} is not an executable file (build it first)")
    return os.path.abspath(path)


@pytest.fixture(scope="session")
def contract():
    return Contract(load_spec())


class Site:
    """One server on its own database, with the apps and users the contract
    needs: credentials of every scope, a revoked app, two users."""

    def __init__(self, binary, db, server):
        self.binary = binary
        self.db = db
        self.server = server
        self.rw = create_app(binary, db, "read,write", "contract rw")
        self.read = create_app(binary, db, "read", "contract read")
        self.write = create_app(binary, db, "write", "contract write")
        self.revoked = create_app(binary, db, "read", "contract revoked")
        p = run_cli(binary, "apps", "revoke", self.revoked[0], db=db)
        assert p.returncode == 0, p.stderr
        add_user(binary, db, "johndoe", "john.doe@example.com")
        add_user(binary, db, "janedoe", "jane.doe@example.com")
        server.start(db)
        self.api = server.api
        self.token = self.api.token(*self.rw)
        self.read_token = self.api.token(*self.read)
        self.write_token = self.api.token(*self.write)


@pytest.fixture(scope="module")
def site(binary, tmp_path_factory):
    server = Server(binary)
    db = tmp_path_factory.mktemp("contract") / "closeloop.db"
    s = Site(binary, db, server)
    yield s
    code = server.stop()
    assert code == 0, f"server did not exit cleanly: {code}\n{server.stderr()[-3000:]}"
