"""The case lifecycle beyond /status: PUT /v7/rest/close-loop/assignee and
/comment (SPEC §3), timers across all three write endpoints (SPEC §2
"Timers") and the stored history (table case_events, read with query_db)."""

import time
from datetime import timedelta

import pytest

from harness import (ASSIGNEE, CASE_KEYS, COMMENT, UNAUTHENTICATED, UNAUTHORIZED, add_user,
                     assert_case_shape, db_time, deploy, fmt_time, new_db, next_number, parse_time,
                     query_db, utcnow)

USERS = [("alice", "alice@example.com"), ("bob", "bob@example.org"), ("carol", "carol@example.net")]


def hours(h, m=0):
    return timedelta(hours=h, minutes=m)


@pytest.fixture(scope="module")
def lc(binary, tmp_path_factory, module_servers):
    """A server whose database knows the users alice, bob and carol."""
    db = new_db(tmp_path_factory.mktemp("lifecycle"))
    for username, email in USERS:
        add_user(binary, db, username, email)
    return deploy(binary, db, module_servers())


def feed_after(d, cursor):
    """Every case the feed shows after cursor (one full pass)."""
    pages, _ = d.api.full_pass(d.token, cursor=cursor)
    return [c for p in pages for c in p["data"]]


def cursor_now(d):
    return d.api.full_pass(d.token)[1]


def in_feed(d, number):
    return [c for c in d.api.all_cases(d.token) if c["number_customergauge"] == number]


def assert_one_invalid(r, field):
    assert r.status == 422, r
    body = r.json()
    assert list(body) == ["message", "errors"], body
    assert list(body["errors"]) == [field], body
    msgs = body["errors"][field]
    assert isinstance(msgs, list) and len(msgs) == 1 and isinstance(msgs[0], str) and msgs[0], body
    assert body["message"] == msgs[0], body
    return msgs[0]


# ---- creating a case -----------------------------------------------------------------


@pytest.mark.parametrize("how", ["assign", "unassigned", "comment"])
def test_first_action_creates_an_open_case(lc, how):
    n = next_number()
    cur = cursor_now(lc)
    if how == "assign":
        r = lc.api.put_assignee(lc.token, n, "alice")
    elif how == "unassigned":
        r = lc.api.put_assignee(lc.token, n, None)
    else:
        r = lc.api.put_comment(lc.token, n, "first contact")
    assert r.status == 201, r
    body = r.json()
    assert list(body) == ["data"]
    case = body["data"]
    assert list(case) == CASE_KEYS
    assert_case_shape(case)
    assert case["number_customergauge"] == n
    assert case["status"] == "open"
    assert (case["time_to_follow_up"], case["time_to_close"]) == (None, None)
    assert case["created_at"] == case["updated_at"]
    if how == "assign":
        assert case["assignee"]["username"] == "alice"
        assert case["assignee"]["email"] == "alice@example.com"
    else:
        assert case["assignee"] is None
    # The case is in the feed, after the cursor of before, in that state.
    assert feed_after(lc, cur) == [case]
    # The next action on it is a 200 on the same case.
    r = lc.api.put_comment(lc.token, n, "second")
    assert r.status == 200, r
    assert r.json()["data"]["id"] == case["id"]


def test_created_at_is_the_action_time(lc):
    when = utcnow() - hours(30)
    a = lc.api.assign(lc.token, next_number(), "bob", happened_at=when)
    c = lc.api.comment(lc.token, next_number(), "back-dated", happened_at=when)
    for case in (a, c):
        assert case["created_at"] == fmt_time(when)
        assert parse_time(case["updated_at"]) >= utcnow() - timedelta(minutes=2)


def test_number_as_string(lc):
    n = next_number()
    r = lc.api.put(ASSIGNEE, {"number_customergauge": str(n), "assignee": "bob"}, lc.token)
    assert r.status == 201, r
    assert r.json()["data"]["number_customergauge"] == n
    r = lc.api.put(COMMENT, {"number_customergauge": str(n), "note": "hello"}, lc.token)
    assert r.status == 200, r
    assert r.json()["data"]["number_customergauge"] == n


# ---- assignments -------------------------------------------------------------------


def test_assign_reassign_unassign(lc):
    n = next_number()
    first = lc.api.assign(lc.token, n, "alice")
    cur = cursor_now(lc)
    second = lc.api.assign(lc.token, n, "bob")
    assert second["id"] == first["id"]
    assert second["assignee"]["username"] == "bob"
    assert second["status"] == "open" and second["created_at"] == first["created_at"]
    assert feed_after(lc, cur) == [second]
    cur = cursor_now(lc)
    r = lc.api.put_assignee(lc.token, n, None)
    assert r.status == 200, r
    third = r.json()["data"]
    assert third["assignee"] is None
    assert feed_after(lc, cur) == [third]
    # Unassigning an unassigned case changes nothing.
    cur = cursor_now(lc)
    r = lc.api.put_assignee(lc.token, n, None)
    assert r.status == 200, r
    assert r.json()["data"] == third
    assert feed_after(lc, cur) == []


def test_assign_by_email(lc):
    n = next_number()
    case = lc.api.assign(lc.token, n, "carol@example.net")
    assert case["assignee"]["username"] == "carol"
    assert case["assignee"]["email"] == "carol@example.net"
    by_name = lc.api.assign(lc.token, next_number(), "carol")
    assert by_name["assignee"] == case["assignee"]


def test_assign_by_email_ignores_case(lc):
    case = lc.api.assign(lc.token, next_number(), "Alice@Example.COM")
    assert case["assignee"]["username"] == "alice"
    assert case["assignee"]["email"] == "alice@example.com"


@pytest.mark.parametrize("again", ["bob", "bob@example.org"])
def test_same_assignee_changes_nothing(lc, again):
    n = next_number()
    case = lc.api.assign(lc.token, n, "bob")
    cur = cursor_now(lc)
    r = lc.api.put_assignee(lc.token, n, again)
    assert r.status == 200, r
    assert r.json()["data"] == case
    assert feed_after(lc, cur) == [], "a no-op assignment must not move the case in the feed"


def test_assignment_keeps_status_and_timers(lc):
    n = next_number()
    t0 = utcnow() - timedelta(days=3)
    lc.api.set_status(lc.token, n, "open", happened_at=t0)
    lc.api.set_status(lc.token, n, "progress", happened_at=t0 + hours(5))
    before = lc.api.set_status(lc.token, n, "closed", happened_at=t0 + hours(9))
    after = lc.api.assign(lc.token, n, "alice", happened_at=t0 + hours(20))
    for k in ("id", "status", "time_to_follow_up", "time_to_close", "created_at"):
        assert after[k] == before[k], k
    assert after["status"] == "closed" and (after["time_to_follow_up"], after["time_to_close"]) == (5, 9)


def test_unknown_assignee(lc):
    n = next_number()
    r = lc.api.put_assignee(lc.token, n, "nobody")
    msg = assert_one_invalid(r, "assignee")
    assert r.json() == {"message": "The selected assignee nobody does not exist.",
                        "errors": {"assignee": ["The selected assignee nobody does not exist."]}}
    assert "nobody" in msg
    assert in_feed(lc, n) == [], "a refused assignment must not create the case"
    r = lc.api.put_assignee(lc.token, n, "nobody@example.com")
    assert "nobody@example.com" in assert_one_invalid(r, "assignee")
    # On an existing case the assignee stays.
    case = lc.api.assign(lc.token, n, "alice")
    cur = cursor_now(lc)
    assert_one_invalid(lc.api.put_assignee(lc.token, n, "mallory"), "assignee")
    assert in_feed(lc, n) == [case]
    assert feed_after(lc, cur) == []


# ---- comments ------------------------------------------------------------------------


def test_every_comment_bumps(lc):
    n = next_number()
    case = lc.api.comment(lc.token, n, "same words")
    for _ in range(3):
        cur = cursor_now(lc)
        r = lc.api.put_comment(lc.token, n, "same words")
        assert r.status == 200, r
        again = r.json()["data"]
        assert again["id"] == case["id"] and again["status"] == "open"
        after = lc.api.page(lc.token, ("cursor", cur))
        assert after["data"] == [again]
        assert after["cursor"]["next"] > cur


def test_comment_keeps_status_assignee_and_timers(lc):
    n = next_number()
    t0 = utcnow() - timedelta(days=2)
    lc.api.set_status(lc.token, n, "open", happened_at=t0)
    lc.api.assign(lc.token, n, "carol", happened_at=t0 + hours(1))
    before = lc.api.set_status(lc.token, n, "progress", happened_at=t0 + hours(7))
    after = lc.api.comment(lc.token, n, "called back", happened_at=t0 + hours(8))
    for k in ("id", "status", "assignee", "time_to_follow_up", "time_to_close", "created_at"):
        assert after[k] == before[k], k


def test_changes_move_updated_at(lc):
    """A real change sets updated_at to the server time of the change."""
    a, b = next_number(), next_number()
    ca = lc.api.set_status(lc.token, a, "open")
    cb = lc.api.set_status(lc.token, b, "open")
    time.sleep(1.1)
    ca2 = lc.api.assign(lc.token, a, "alice")
    cb2 = lc.api.comment(lc.token, b, "later")
    assert ca2["updated_at"] > ca["updated_at"]
    assert cb2["updated_at"] > cb["updated_at"]
    assert ca2["created_at"] == ca["created_at"] and cb2["created_at"] == cb["created_at"]
    # A no-op leaves updated_at alone.
    time.sleep(1.1)
    assert lc.api.assign(lc.token, a, "alice") == ca2


# ---- validation, authentication, methods -----------------------------------------------


def _bad(path, body, field):
    shown = body.get(field, "missing")
    return pytest.param(path, body, field, id=f"{path.rsplit('/', 1)[1]}-{field}={str(shown)[:20]}")


N = "NUM"  # replaced by a fresh number
INVALID = [
    _bad(ASSIGNEE, {"assignee": "alice"}, "number_customergauge"),
    _bad(ASSIGNEE, {"number_customergauge": 0, "assignee": "alice"}, "number_customergauge"),
    _bad(ASSIGNEE, {"number_customergauge": -3, "assignee": "alice"}, "number_customergauge"),
    _bad(ASSIGNEE, {"number_customergauge": "abc", "assignee": "alice"}, "number_customergauge"),
    _bad(ASSIGNEE, {"number_customergauge": 1.5, "assignee": "alice"}, "number_customergauge"),
    _bad(ASSIGNEE, {"number_customergauge": None, "assignee": "alice"}, "number_customergauge"),
    _bad(ASSIGNEE, {"number_customergauge": 2**53, "assignee": "alice"}, "number_customergauge"),
    _bad(ASSIGNEE, {"number_customergauge": N}, "assignee"),
    _bad(ASSIGNEE, {"number_customergauge": N, "assignee": 5}, "assignee"),
    _bad(ASSIGNEE, {"number_customergauge": N, "assignee": ["alice"]}, "assignee"),
    _bad(ASSIGNEE, {"number_customergauge": N, "assignee": {"username": "alice"}}, "assignee"),
    _bad(ASSIGNEE, {"number_customergauge": N, "assignee": True}, "assignee"),
    _bad(ASSIGNEE, {"number_customergauge": N, "assignee": "alice", "happened_at": "2022-01-01"},
         "happened_at"),
    _bad(ASSIGNEE, {"number_customergauge": N, "assignee": "alice",
                    "happened_at": "2022-02-30 10:00:00"}, "happened_at"),
    _bad(ASSIGNEE, {"number_customergauge": N, "assignee": "alice", "happened_at": 1656000000},
         "happened_at"),
    _bad(COMMENT, {"note": "x"}, "number_customergauge"),
    _bad(COMMENT, {"number_customergauge": 0, "note": "x"}, "number_customergauge"),
    _bad(COMMENT, {"number_customergauge": "1.5", "note": "x"}, "number_customergauge"),
    _bad(COMMENT, {"number_customergauge": True, "note": "x"}, "number_customergauge"),
    _bad(COMMENT, {"number_customergauge": N}, "note"),
    _bad(COMMENT, {"number_customergauge": N, "note": None}, "note"),
    _bad(COMMENT, {"number_customergauge": N, "note": ""}, "note"),
    _bad(COMMENT, {"number_customergauge": N, "note": 5}, "note"),
    _bad(COMMENT, {"number_customergauge": N, "note": ["x"]}, "note"),
    _bad(COMMENT, {"number_customergauge": N, "note": "x" * 5001}, "note"),
    _bad(COMMENT, {"number_customergauge": N, "note": "é" * 2500 + "x"}, "note"),
    _bad(COMMENT, {"number_customergauge": N, "note": "x", "happened_at": "yesterday"},
         "happened_at"),
    _bad(COMMENT, {"number_customergauge": N, "note": "x", "happened_at": "2022-01-01T10:00:00"},
         "happened_at"),
    _bad(COMMENT, {"number_customergauge": N, "note": "x", "happened_at": "2022-01-01 25:00:00"},
         "happened_at"),
]


@pytest.mark.parametrize("path, body, field", INVALID)
def test_invalid_body(lc, path, body, field):
    n = next_number()
    body = {k: (n if v == N else v) for k, v in body.items()}
    assert_one_invalid(lc.api.put(path, body, lc.token), field)
    assert in_feed(lc, n) == [], "a 422 must not create the case"


@pytest.mark.parametrize("path", [ASSIGNEE, COMMENT])
def test_happened_at_in_the_future(lc, path):
    n = next_number()
    when = utcnow() + timedelta(seconds=120)
    r = (lc.api.put_assignee(lc.token, n, "alice", happened_at=when) if path == ASSIGNEE
         else lc.api.put_comment(lc.token, n, "x", happened_at=when))
    assert_one_invalid(r, "happened_at")
    assert in_feed(lc, n) == []


@pytest.mark.parametrize("path", [ASSIGNEE, COMMENT])
def test_happened_at_before_the_opening(lc, path):
    n = next_number()
    t0 = utcnow() - timedelta(days=1)
    case = lc.api.set_status(lc.token, n, "open", happened_at=t0)
    early = t0 - hours(1)
    r = (lc.api.put_assignee(lc.token, n, "alice", happened_at=early) if path == ASSIGNEE
         else lc.api.put_comment(lc.token, n, "x", happened_at=early))
    assert_one_invalid(r, "happened_at")
    assert in_feed(lc, n) == [case]


def test_several_invalid_fields(lc):
    r = lc.api.put(ASSIGNEE, {"number_customergauge": 0, "assignee": 7}, lc.token)
    assert r.status == 422, r
    assert set(r.json()["errors"]) == {"number_customergauge", "assignee"}, r
    r = lc.api.put(COMMENT, {"number_customergauge": "x", "note": "", "happened_at": "soon"},
                   lc.token)
    assert r.status == 422, r
    assert set(r.json()["errors"]) == {"number_customergauge", "note", "happened_at"}, r


@pytest.mark.parametrize("path, body", [(ASSIGNEE, {"assignee": "alice"}), (COMMENT, {"note": "x"})])
def test_read_only_token_cannot_write(lc, path, body):
    tok = lc.token_for("read")
    n = next_number()
    r = lc.api.put(path, dict(body, number_customergauge=n), tok)
    assert r.status == 403, r
    assert r.json() == UNAUTHORIZED
    # Scope comes before validation.
    r = lc.api.put(path, {"number_customergauge": 0}, tok)
    assert r.status == 403, r
    assert in_feed(lc, n) == []


@pytest.mark.parametrize("path, body", [(ASSIGNEE, {"assignee": "alice"}), (COMMENT, {"note": "x"})])
def test_write_only_token_can_write(lc, path, body):
    tok = lc.token_for("write")
    r = lc.api.put(path, dict(body, number_customergauge=next_number()), tok)
    assert r.status == 201, r


@pytest.mark.parametrize("path", [ASSIGNEE, COMMENT])
@pytest.mark.parametrize("token", [None, "garbage"])
def test_unauthenticated(lc, path, token):
    n = next_number()
    r = lc.api.put(path, {"number_customergauge": n, "note": "x", "assignee": "alice"}, token)
    assert r.status == 401, r
    assert r.json() == UNAUTHENTICATED
    assert (r.header("WWW-Authenticate") or "").startswith("Bearer")
    assert in_feed(lc, n) == []


@pytest.mark.parametrize("path", [ASSIGNEE, COMMENT])
def test_malformed_json(lc, path):
    r = lc.api.put(path, '{"number_customergauge": 1, "note": "x"', lc.token)
    assert r.status == 400, r
    assert "message" in r.json()


@pytest.mark.parametrize("path", [ASSIGNEE, COMMENT])
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_other_methods(lc, path, method):
    r = lc.api.request(method, path, headers={"Authorization": f"Bearer {lc.token}"})
    assert r.status == 405, r
    assert r.header("Allow") == "PUT", r.headers


@pytest.mark.parametrize("path", [ASSIGNEE, COMMENT])
def test_unsupported_content_type(lc, path):
    r = lc.api.put(path, '{"number_customergauge": 1, "note": "x"}', lc.token, "text/plain")
    assert r.status == 415, r


# ---- timers across all three endpoints -------------------------------------------------

# (endpoint, argument, offset from T0, expected status, follow-up, close).
# T0 lies five days back; every action is back-dated.
TIMELINE = [
    ("comment", "complaint received", hours(0), "open", None, None),
    ("assignee", "alice", hours(1), "open", None, None),
    ("status", "progress", hours(25), "progress", 25, None),
    ("comment", "called the customer", hours(30), "progress", 25, None),
    ("assignee", "bob@example.org", hours(31), "progress", 25, None),
    ("status", "closed", hours(49, 59), "closed", 25, 49),
    ("comment", "customer happy", hours(50), "closed", 25, 49),
    ("status", "open", hours(50, 5), "open", None, None),
    ("assignee", None, hours(50, 10), "open", None, None),
    ("comment", "customer unhappy again", hours(51), "open", None, None),
    ("status", "progress", hours(53, 4), "progress", 2, None),
    ("assignee", "carol", hours(54), "progress", 2, None),
    ("status", "closed", hours(160, 6), "closed", 2, 110),
    ("comment", "closed for good", hours(161), "closed", 2, 110),
]


def act(d, n, endpoint, arg, when):
    if endpoint == "status":
        return d.api.put_status(d.token, n, arg, happened_at=when)
    if endpoint == "assignee":
        return d.api.put_assignee(d.token, n, arg, happened_at=when)
    return d.api.put_comment(d.token, n, arg, happened_at=when)


def test_timers_across_endpoints(lc):
    n = next_number()
    t0 = utcnow() - timedelta(days=7)
    seen = []
    for i, (endpoint, arg, offset, status, follow_up, close) in enumerate(TIMELINE):
        r = act(lc, n, endpoint, arg, t0 + offset)
        assert r.status == (201 if i == 0 else 200), (i, r)
        case = r.json()["data"]
        assert case["status"] == status, (i, case)
        assert (case["time_to_follow_up"], case["time_to_close"]) == (follow_up, close), (i, case)
        assert case["created_at"] == fmt_time(t0), (i, case)
        seen.append(case)
    assert seen[-1]["assignee"]["username"] == "carol"
    assert in_feed(lc, n) == [seen[-1]]
    # Nothing before the last opening (50h05) is accepted any more, from any endpoint.
    for endpoint, arg in (("comment", "late"), ("assignee", "alice"), ("status", "progress")):
        r = act(lc, n, endpoint, arg, t0 + hours(50))
        assert_one_invalid(r, "happened_at")
    assert in_feed(lc, n) == [seen[-1]]


# ---- history ------------------------------------------------------------------------


def events_of(db, case_id):
    return query_db(db, "SELECT kind, status, note, assignee_id, happened_at, recorded_at "
                        "FROM case_events WHERE case_id = ? ORDER BY id", (case_id,))


def test_history_records_every_action(lc):
    n = next_number()
    t0 = utcnow() - timedelta(days=3)
    steps = [
        ("status", "open", None, t0),
        ("assignee", "alice", None, t0 + hours(1)),
        ("comment", "first call", None, t0 + hours(2)),
        ("status", "progress", "on it", t0 + hours(3)),
        ("assignee", "bob", None, t0 + hours(4)),
        ("status", "closed", None, t0 + hours(5)),
        ("status", "open", None, t0 + hours(6)),
        ("assignee", None, None, t0 + hours(7)),
        ("comment", "second call", None, t0 + hours(8)),
        ("status", "closed", None, None),  # no happened_at: the action time is now
    ]
    started = utcnow()
    case = None
    for endpoint, arg, note, when in steps:
        if endpoint == "status":
            case = lc.api.set_status(lc.token, n, arg, note=note, happened_at=when)
        elif endpoint == "assignee":
            case = lc.api.assign(lc.token, n, arg, happened_at=when)
        else:
            case = lc.api.comment(lc.token, n, arg, happened_at=when)
    finished = utcnow() + timedelta(seconds=1)
    rows = events_of(lc.db, case["id"])
    assert len(rows) == len(steps), rows
    kinds = {}
    statuses = {}
    user_ids = {}
    current = None
    for (endpoint, arg, note, when), row in zip(steps, rows):
        kind, status, stored_note, assignee_id, happened_at, recorded_at = row
        kinds.setdefault(endpoint, kind)
        assert kinds[endpoint] == kind, (endpoint, row)
        if endpoint == "status":
            current = arg
        statuses.setdefault(current, status)
        assert statuses[current] == status, ("the event's status is the case's", row)
        if endpoint == "comment":
            assert stored_note == arg, row
        elif note is not None:
            assert stored_note == note, row
        if endpoint == "assignee":
            if arg is None:
                assert assignee_id is None, row
            else:
                user_ids.setdefault(arg, assignee_id)
                assert assignee_id is not None and user_ids[arg] == assignee_id, row
        rec = db_time(recorded_at)
        assert started.timestamp() - 1 <= rec <= finished.timestamp(), ("server time", row)
        if when is not None:
            assert db_time(happened_at) == int(when.timestamp()), ("action time", row)
        else:
            assert abs(db_time(happened_at) - rec) <= 1, row
    assert len(set(kinds.values())) == 3, f"three kinds of action: {kinds}"
    assert len(set(statuses.values())) == 3, statuses
    assert user_ids["alice"] != user_ids["bob"]


def test_refused_actions_leave_no_history(lc):
    n = next_number()
    case = lc.api.assign(lc.token, n, "carol")
    before = events_of(lc.db, case["id"])
    assert len(before) == 1
    assert_one_invalid(lc.api.put_assignee(lc.token, n, "nobody"), "assignee")
    assert_one_invalid(lc.api.put_comment(lc.token, n, ""), "note")
    assert events_of(lc.db, case["id"]) == before
