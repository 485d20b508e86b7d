"""The Postman collection (postman/), run by Newman against a live server.

The collection's own tests assert fields, types, the cursor protocol (paging
until data is empty, the empty page echoing the cursor) and error bodies;
this test starts a server with data to page through, points the local
environment at it with --env-var (the way a user points it anywhere), and
fails on any failed assertion or request error."""

import json
import os
import subprocess

from harness import Server, add_user, create_app, run_cli
from oas import ROOT

NEWMAN = os.path.join(ROOT, "node_modules", ".bin", "newman")
COLLECTION = os.path.join(ROOT, "postman", "closeloop.postman_collection.json")
ENVIRONMENTS = os.path.join(ROOT, "postman", "environments")
PER_PAGE = 7
CASES = 40
NEWMAN_TIMEOUT = 120


def test_collection_passes_against_a_live_server(binary, tmp_path):
    assert os.access(NEWMAN, os.X_OK), f"{NEWMAN} is missing: run `npm ci` (make contract does)"
    db = tmp_path / "closeloop.db"
    client_id, secret = create_app(binary, db, "read,write", "postman")
    add_user(binary, db, "johndoe", "john.doe@example.com")
    p = run_cli(binary, "seed", "--cases", str(CASES), "--seed", "8", db=db)
    assert p.returncode == 0, p.stderr
    server = Server(binary)
    server.start(db)
    report = tmp_path / "newman.json"
    base = f"http://127.0.0.1:{server.port}"
    try:
        run = subprocess.run(
            [NEWMAN, "run", COLLECTION,
             "-e", os.path.join(ENVIRONMENTS, "local.postman_environment.json"),
             "--env-var", f"authUrl={base}", "--env-var", f"apiUrl={base}",
             "--env-var", f"clientId={client_id}", "--env-var", f"clientSecret={secret}",
             "--env-var", f"perPage={PER_PAGE}", "--env-var", "assignee=john.doe@example.com",
             "--reporters", "cli,json", "--reporter-json-export", str(report),
             "--color", "off", "--disable-unicode", "--timeout-request", "10000"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=NEWMAN_TIMEOUT,
            env={**os.environ, "NO_UPDATE_NOTIFIER": "1"})
    finally:
        code = server.stop()
    output = run.stdout[-20000:] + run.stderr[-5000:]
    assert run.returncode == 0, f"newman failed (exit {run.returncode}):\n{output}"
    assert code == 0, server.stderr()[-3000:]

    stats = json.loads(report.read_text())["run"]["stats"]
    names = [e["item"]["name"] for e in json.loads(report.read_text())["run"]["executions"]]
    assert stats["assertions"]["failed"] == 0 and stats["requests"]["failed"] == 0, output
    assert stats["assertions"]["total"] >= 80, f"too few assertions ran: {stats}\n{output}"
    # The cursor loop really looped: every case, PER_PAGE a page, then the empty page.
    pages = names.count("First page") + names.count("Next page")
    assert pages >= CASES // PER_PAGE + 1, (pages, names)
    for write in ("Set status: progress, with a note", "Assign (or unassign)", "Add a comment",
                  "Set status: closed", "The change is in the feed after the stored cursor"):
        assert write in names, f"{write!r} did not run:\n{output}"
