"""The `closeloop apps` commands and the server's command line (SPEC §4)."""

import json
import re
import subprocess

import pytest

from harness import (SYNC, create_app, db_exists, deploy, dump_db, form, new_db, poll, query_db,
                     run_cli)

EXIT_USAGE = 2


def test_apps_create_json(binary, db):
    p = run_cli(binary, "apps", "create", "crm-sync", "--json", db=db)
    assert p.returncode == 0, p.stderr
    obj = json.loads(p.stdout)  # exactly one JSON document and nothing else
    assert list(obj) == ["client_id", "client_secret"]
    assert re.fullmatch(r"[0-9a-f]{32}", obj["client_id"]), obj
    assert len(obj["client_secret"]) >= 32


def test_apps_create_default_scope_is_read(binary, db, servers):
    p = run_cli(binary, "apps", "create", "reader", "--json", db=db)
    obj = json.loads(p.stdout)
    srv = servers()
    srv.start(db)
    r = srv.api.token_request(form([("grant_type", "client_credentials"),
                                    ("client_id", obj["client_id"]),
                                    ("client_secret", obj["client_secret"])]))
    assert r.status == 200, r
    assert r.json()["scope"] == "read"


def test_every_app_is_different(binary, db):
    a, b = create_app(binary, db), create_app(binary, db)
    assert a[0] != b[0] and a[1] != b[1]


def test_secret_is_never_stored_or_listed(binary, db):
    cid, secret = create_app(binary, db, name="visible-name")
    p = run_cli(binary, "apps", "list", db=db)
    assert p.returncode == 0, p.stderr
    assert cid in p.stdout and "visible-name" in p.stdout
    assert secret not in p.stdout and secret not in p.stderr
    dump = dump_db(db)
    assert cid in dump
    assert secret not in dump


def test_revoke_and_rotate_unknown_app(binary, db):
    create_app(binary, db)
    for cmd in ("revoke", "rotate"):
        p = run_cli(binary, "apps", cmd, "0" * 32, db=db)
        assert p.returncode != 0, (cmd, p.stdout)
        assert p.stderr.strip(), cmd


def test_rotate_revoked_app_fails(binary, db):
    cid, _ = create_app(binary, db)
    assert run_cli(binary, "apps", "revoke", cid, db=db).returncode == 0
    assert run_cli(binary, "apps", "rotate", cid, "--json", db=db).returncode != 0


@pytest.mark.parametrize("argv", [
    ["nonsense"],
    ["apps"],
    ["apps", "create"],
    ["apps", "create", "x", "--scope", "admin"],
    ["apps", "frobnicate"],
    ["serve", "--region", "mars"],
    ["serve", "--listen", "not-an-address"],
    ["serve", "--threads", "abc"],
    ["serve", "--token-ttl", "-1"],
    ["serve", "--no-such-flag"],
])
def test_usage_errors(binary, db, argv):
    p = run_cli(binary, *argv, db=db)
    assert p.returncode == EXIT_USAGE, (p.returncode, p.stderr)
    assert p.stderr.strip(), "a usage error says what is wrong on stderr"


def test_db_from_environment(binary, tmp_path, servers):
    db = new_db(tmp_path, "from-env")
    p = run_cli(binary, "apps", "create", "env", "--json", env={"CLOSELOOP_DB": str(db)})
    assert p.returncode == 0, p.stderr
    assert db_exists(db)
    assert query_db(db, "SELECT client_id FROM apps") == [(json.loads(p.stdout)["client_id"],)]


def test_access_log_never_shows_secrets(binary, db, servers):
    """Without --quiet every request is logged on stderr, but neither the
    client secret (in the body) nor the token (in a header) ever is."""
    cid, secret = create_app(binary, db)
    srv = servers()
    srv.start(db, quiet=False)
    tok = srv.api.token(cid, secret)
    assert srv.api.get(SYNC + "?per_page=3", tok).status == 200
    logged = poll(lambda: "per_page=3" in srv.stderr() and "/oauth2/token" in srv.stderr(), 5)
    assert logged, f"no access log line: {srv.stderr()!r}"
    assert secret not in srv.stderr()
    assert tok not in srv.stderr()


def test_quiet_has_no_access_log(binary, db, servers):
    d = deploy(binary, db, servers(), quiet=True)
    assert d.api.get(SYNC + "?per_page=3", d.token).status == 200
    assert d.api.get("/nope").status == 404
    # Give a log line every chance to appear, then look.
    d.server.stop()
    assert "per_page=3" not in d.server.stderr() and "/nope" not in d.server.stderr()


def test_port_in_use(binary, db, servers):
    first = servers()
    port = first.start(db)
    try:
        p = run_cli(binary, "serve", "--listen", f"127.0.0.1:{port}", "--quiet", db=db, timeout=15)
    except subprocess.TimeoutExpired:
        pytest.fail(f"a second server started on the busy port {port} (SO_REUSEPORT?)")
    assert p.returncode != 0
    assert p.stderr.strip()
