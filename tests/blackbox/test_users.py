"""`closeloop users add USERNAME EMAIL | users list` (SPEC §4) and the
assignee object the feed shows for those users (SPEC §1 case fields)."""

import pytest

from harness import add_user, deploy, next_number, poll, query_db, run_cli

EXIT_USAGE = 2


def users_list(binary, db):
    p = run_cli(binary, "users", "list", db=db)
    assert p.returncode == 0, p.stderr
    return p.stdout


def listed_line(out, username):
    lines = [ln for ln in out.splitlines() if username in ln.split()]
    assert len(lines) == 1, f"{username!r} listed {len(lines)} times:\n{out}"
    return lines[0].split()


def assert_one_line_error(p):
    assert p.returncode == EXIT_USAGE, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].strip(), f"one clear line on stderr: {p.stderr!r}"
    return lines[0]


def test_add_and_list(binary, db):
    people = [("alice", "alice@example.com"), ("bob.smith", "bob.smith@example.org"),
              ("c_3-x", "c3@sub.example.co.uk")]
    for username, email in people:
        add_user(binary, db, username, email)
    out = users_list(binary, db)
    for username, email in people:
        assert email in listed_line(out, username), out


def test_list_of_an_empty_database(binary, db):
    p = run_cli(binary, "users", "list", db=db)
    assert p.returncode == 0, p.stderr


@pytest.mark.parametrize("username, email, what", [
    ("alice", "other@example.com", "username"),
    ("alice2", "alice@example.com", "email"),
    ("alice3", "ALICE@Example.com", "email"),
])
def test_duplicates(binary, db, username, email, what):
    add_user(binary, db, "alice", "alice@example.com")
    before = users_list(binary, db)
    p = run_cli(binary, "users", "add", username, email, db=db)
    line = assert_one_line_error(p)
    assert what in line.lower(), line
    assert users_list(binary, db) == before


@pytest.mark.parametrize("email", ["notanemail", "a@", "@example.com", "a b@example.com",
                                   "a@@example.com", "", "alice@exa mple.com",
                                   "alice@example.com\n"])
def test_invalid_email(binary, db, email):
    p = run_cli(binary, "users", "add", "alice", email, db=db)
    assert_one_line_error(p)
    assert "alice" not in users_list(binary, db)


@pytest.mark.parametrize("username", ["", "bo b", "x" * 65, "a/b", "alice\n", "a@b"])
def test_invalid_username(binary, db, username):
    p = run_cli(binary, "users", "add", username, "ok@example.com", db=db)
    assert_one_line_error(p)
    assert "ok@example.com" not in users_list(binary, db)


@pytest.mark.parametrize("argv", [["users"], ["users", "add"], ["users", "add", "onlyname"],
                                  ["users", "add", "a", "a@example.com", "extra"],
                                  ["users", "frobnicate"], ["users", "list", "extra"]])
def test_usage_errors(binary, db, argv):
    p = run_cli(binary, *argv, db=db)
    assert p.returncode == EXIT_USAGE, (p.returncode, p.stderr)
    assert p.stderr.strip()


def test_assignee_in_the_feed(binary, db, servers):
    add_user(binary, db, "alice", "alice@example.com")
    add_user(binary, db, "bob", "bob@example.org")
    d = deploy(binary, db, servers())
    a = d.api.assign(d.token, 1, "alice")
    b = d.api.assign(d.token, 2, "bob@example.org")
    c = d.api.assign(d.token, 3, "alice@example.com")
    d.api.set_status(d.token, 4, "open")
    feed = {x["number_customergauge"]: x for x in d.api.all_cases(d.token)}
    assert feed[1]["assignee"] == a["assignee"]
    assert list(feed[1]["assignee"]) == ["id", "username", "email"]
    assert feed[1]["assignee"]["username"] == "alice"
    assert feed[1]["assignee"]["email"] == "alice@example.com"
    assert feed[2]["assignee"]["username"] == "bob" and feed[2]["assignee"]["email"] == "bob@example.org"
    assert feed[3]["assignee"] == feed[1]["assignee"]
    assert feed[4]["assignee"] is None
    assert type(a["assignee"]["id"]) is int and a["assignee"]["id"] > 0
    assert a["assignee"]["id"] != b["assignee"]["id"]
    # The id is the user's.
    ids = dict(query_db(db, "SELECT username, id FROM users"))
    assert feed[1]["assignee"]["id"] == ids["alice"] and feed[2]["assignee"]["id"] == ids["bob"]
    assert c == feed[3]


def test_user_added_while_serving_can_be_assigned(binary, db, servers):
    d = deploy(binary, db, servers())
    n = next_number()
    r = d.api.put_assignee(d.token, n, "late")
    assert r.status == 422, r
    add_user(binary, db, "late", "late@example.com")
    ok = poll(lambda: d.api.put_assignee(d.token, n, "late").status == 201, 6, 0.1)
    assert ok, "a user added while the server runs must become assignable"
    case = d.api.all_cases(d.token)[0]
    assert case["assignee"]["username"] == "late" and case["assignee"]["email"] == "late@example.com"
