"""PUT /v7/rest/close-loop/status: creating and changing cases, timers and
body validation (SPEC §1 "Sibling write API", §2 "Timers", §3)."""

from datetime import timedelta

import pytest

from harness import (CASE_KEYS, STATUS, assert_case_shape, fmt_time, form, next_number,
                     parse_time, utcnow)


def hours(h, m=0):
    return timedelta(hours=h, minutes=m)


# ---- create and update --------------------------------------------------------------


def test_create_then_update(shared):
    n = next_number()
    r = shared.api.put_status(shared.token, n, "open")
    assert r.status == 201, r
    body = r.json()
    assert list(body) == ["data"]
    created = body["data"]
    assert list(created) == CASE_KEYS
    assert_case_shape(created)
    assert created["number_customergauge"] == n and created["status"] == "open"
    r = shared.api.put_status(shared.token, n, "progress")
    assert r.status == 200, r
    updated = r.json()["data"]
    assert updated["id"] == created["id"]
    assert updated["status"] == "progress"
    assert updated["created_at"] == created["created_at"]
    assert updated["updated_at"] >= created["updated_at"]


@pytest.mark.parametrize("status", ["open", "progress", "closed"])
def test_create_with_any_status(shared, status):
    r = shared.api.put_status(shared.token, next_number(), status)
    assert r.status == 201, r
    assert r.json()["data"]["status"] == status


def test_number_as_string(shared):
    n = next_number()
    r = shared.api.put(STATUS, {"number_customergauge": str(n), "status": "open"}, shared.token)
    assert r.status == 201, r
    assert r.json()["data"]["number_customergauge"] == n
    r = shared.api.put(STATUS, {"number_customergauge": n, "status": "closed"}, shared.token)
    assert r.status == 200, r


def test_form_encoded_body(shared):
    n = next_number()
    body = form([("number_customergauge", n), ("status", "progress"), ("note", "called back & fixed")])
    r = shared.api.put(STATUS, body, shared.token, "application/x-www-form-urlencoded")
    assert r.status == 201, r
    case = r.json()["data"]
    assert case["number_customergauge"] == n and case["status"] == "progress"


def test_json_with_charset(shared):
    r = shared.api.put(STATUS, {"number_customergauge": next_number(), "status": "open"},
                       shared.token, "application/json; charset=utf-8")
    assert r.status == 201, r


def test_largest_number(shared):
    r = shared.api.put_status(shared.token, 2**53 - 1, "open")
    assert r.status in (200, 201), r
    assert r.json()["data"]["number_customergauge"] == 2**53 - 1


def test_note_limits(shared):
    assert shared.api.put_status(shared.token, next_number(), "open", note="n" * 5000).status == 201
    assert shared.api.put_status(shared.token, next_number(), "open",
                                 note="é" * 2500).status == 201  # 5000 bytes


def test_same_status_without_note_changes_nothing(fresh):
    case = fresh.api.set_status(fresh.token, 5, "progress")
    _, cur = fresh.api.full_pass(fresh.token)
    r = fresh.api.put_status(fresh.token, 5, "progress")
    assert r.status == 200, r
    assert r.json()["data"] == case
    assert fresh.api.page(fresh.token, ("cursor", cur))["data"] == []


def test_same_status_with_note_is_a_change(fresh):
    fresh.api.set_status(fresh.token, 5, "progress")
    _, cur = fresh.api.full_pass(fresh.token)
    r = fresh.api.put_status(fresh.token, 5, "progress", note="customer called")
    assert r.status == 200, r
    again = fresh.api.page(fresh.token, ("cursor", cur))
    assert again["data"] == [r.json()["data"]]
    assert again["cursor"]["next"] > cur


# ---- timers (full hours from the last opening) -------------------------------------

# Each row: a sequence of (status, hours after T0) and the expected
# (time_to_follow_up, time_to_close) after every step. T0 lies 4 days back.
TIMELINES = {
    "seed-flow": [
        ("open", hours(0), None, None),
        ("progress", hours(25), 25, None),
        ("closed", hours(49, 59), 25, 49),
        ("open", hours(50), None, None),
        ("closed", hours(50, 10), 0, 0),
    ],
    "straight-to-closed": [
        ("open", hours(0), None, None),
        ("closed", hours(3, 30), 3, 3),
    ],
    "progress-twice-keeps-first-follow-up": [
        ("open", hours(0), None, None),
        ("progress", hours(1), 1, None),
        ("closed", hours(5), 1, 5),
        ("progress", hours(6), 1, None),
        ("closed", hours(8), 1, 8),
    ],
    # The follow-up time counts from the reopening at 10h: 12h59 gives 2.
    "reopen-restarts-the-clock": [
        ("open", hours(0), None, None),
        ("progress", hours(2), 2, None),
        ("open", hours(10), None, None),
        ("progress", hours(12, 59), 2, None),
        ("closed", hours(40), 2, 30),
    ],
    "just-under-an-hour": [
        ("open", hours(0), None, None),
        ("progress", hours(0, 59), 0, None),
        ("closed", timedelta(hours=1, seconds=-1), 0, 0),
    ],
    "created-in-progress": [
        ("progress", hours(0), 0, None),
        ("closed", hours(7), 0, 7),
    ],
    "created-closed": [
        ("closed", hours(0), 0, 0),
    ],
}


@pytest.mark.parametrize("name", list(TIMELINES))
def test_timers(shared, name):
    n = next_number()
    t0 = utcnow() - timedelta(days=4)
    for i, (status, offset, follow_up, close) in enumerate(TIMELINES[name]):
        r = shared.api.put_status(shared.token, n, status, happened_at=t0 + offset)
        assert r.status == (201 if i == 0 else 200), (i, r)
        case = r.json()["data"]
        assert case["status"] == status
        assert (case["time_to_follow_up"], case["time_to_close"]) == (follow_up, close), (i, case)
        assert case["created_at"] == fmt_time(t0)
    # The feed shows the same state.
    feed = [c for c in shared.api.all_cases(shared.token) if c["number_customergauge"] == n]
    assert feed == [case]


def test_timers_without_happened_at(shared):
    """Without happened_at the action time is now: a case worked on within
    the hour has 0 hours on both timers."""
    n = next_number()
    shared.api.set_status(shared.token, n, "open")
    assert shared.api.set_status(shared.token, n, "progress")["time_to_follow_up"] == 0
    case = shared.api.set_status(shared.token, n, "closed")
    assert (case["time_to_follow_up"], case["time_to_close"]) == (0, 0)


def test_happened_at_within_clock_skew(shared):
    r = shared.api.put_status(shared.token, next_number(), "open",
                              happened_at=utcnow() + timedelta(seconds=20))
    assert r.status == 201, r


# ---- 422 --------------------------------------------------------------------------

def _bad(body, field):
    shown = body.get(field, "missing")
    return pytest.param(body, field, id=f"{field}={str(shown)[:24]}")


INVALID = [
    _bad({"status": "open"}, "number_customergauge"),
    _bad({"number_customergauge": 0, "status": "open"}, "number_customergauge"),
    _bad({"number_customergauge": -5, "status": "open"}, "number_customergauge"),
    _bad({"number_customergauge": "abc", "status": "open"}, "number_customergauge"),
    _bad({"number_customergauge": "", "status": "open"}, "number_customergauge"),
    _bad({"number_customergauge": 1.5, "status": "open"}, "number_customergauge"),
    _bad({"number_customergauge": "1.5", "status": "open"}, "number_customergauge"),
    _bad({"number_customergauge": None, "status": "open"}, "number_customergauge"),
    _bad({"number_customergauge": True, "status": "open"}, "number_customergauge"),
    _bad({"number_customergauge": [1], "status": "open"}, "number_customergauge"),
    _bad({"number_customergauge": 2**53, "status": "open"}, "number_customergauge"),
    _bad({"number_customergauge": 10**30, "status": "open"}, "number_customergauge"),
    _bad({"number_customergauge": 1}, "status"),
    _bad({"number_customergauge": 1, "status": "done"}, "status"),
    _bad({"number_customergauge": 1, "status": "OPEN"}, "status"),
    _bad({"number_customergauge": 1, "status": ""}, "status"),
    _bad({"number_customergauge": 1, "status": None}, "status"),
    _bad({"number_customergauge": 1, "status": 1}, "status"),
    _bad({"number_customergauge": 1, "status": "open", "note": "x" * 5001}, "note"),
    _bad({"number_customergauge": 1, "status": "open", "note": "é" * 2500 + "x"}, "note"),
    _bad({"number_customergauge": 1, "status": "open", "note": 5}, "note"),
    _bad({"number_customergauge": 1, "status": "open", "happened_at": "2022-01-01"}, "happened_at"),
    _bad({"number_customergauge": 1, "status": "open", "happened_at": "2022-01-01T10:00:00"},
         "happened_at"),
    _bad({"number_customergauge": 1, "status": "open", "happened_at": "2022-02-30 10:00:00"},
         "happened_at"),
    _bad({"number_customergauge": 1, "status": "open", "happened_at": "2022-01-01 25:00:00"},
         "happened_at"),
    _bad({"number_customergauge": 1, "status": "open", "happened_at": "yesterday"}, "happened_at"),
    _bad({"number_customergauge": 1, "status": "open", "happened_at": 1656000000}, "happened_at"),
]


def assert_one_invalid(r, field):
    assert r.status == 422, r
    body = r.json()
    assert list(body) == ["message", "errors"], body
    assert list(body["errors"]) == [field], body
    msgs = body["errors"][field]
    assert isinstance(msgs, list) and len(msgs) == 1 and isinstance(msgs[0], str) and msgs[0]
    assert body["message"] == msgs[0], body


@pytest.mark.parametrize("body, field", INVALID)
def test_invalid_body(shared, body, field):
    body = dict(body)
    if type(body.get("number_customergauge")) is int and body["number_customergauge"] == 1:
        body["number_customergauge"] = next_number()  # a fresh case each time
    r = shared.api.put(STATUS, body, shared.token)
    assert_one_invalid(r, field)
    if isinstance(body.get("number_customergauge"), int) and body["number_customergauge"] > 0:
        # Nothing was created.
        assert not [c for c in shared.api.all_cases(shared.token)
                    if c["number_customergauge"] == body["number_customergauge"]]


@pytest.mark.parametrize("body, field", [
    ("status=open", "number_customergauge"),
    ("number_customergauge=abc&status=open", "number_customergauge"),
    ("number_customergauge=NUM&status=done", "status"),
    ("number_customergauge=NUM&number_customergauge=NUM&status=open", "number_customergauge"),
])
def test_invalid_form_body(shared, body, field):
    body = body.replace("NUM", str(next_number()))
    r = shared.api.put(STATUS, body, shared.token, "application/x-www-form-urlencoded")
    assert_one_invalid(r, field)


def test_happened_at_in_the_future(shared):
    r = shared.api.put_status(shared.token, next_number(), "open",
                              happened_at=utcnow() + timedelta(seconds=120))
    assert_one_invalid(r, "happened_at")


def test_happened_at_before_the_opening(shared):
    n = next_number()
    t0 = utcnow() - timedelta(days=2)
    shared.api.set_status(shared.token, n, "open", happened_at=t0)
    r = shared.api.put_status(shared.token, n, "progress", happened_at=t0 - hours(1))
    assert_one_invalid(r, "happened_at")
    # Reopening moves the opening time: earlier actions are now refused.
    shared.api.set_status(shared.token, n, "progress", happened_at=t0 + hours(1))
    shared.api.set_status(shared.token, n, "open", happened_at=t0 + hours(10))
    r = shared.api.put_status(shared.token, n, "closed", happened_at=t0 + hours(5))
    assert_one_invalid(r, "happened_at")
    case = shared.api.set_status(shared.token, n, "closed", happened_at=t0 + hours(11))
    assert case["time_to_close"] == 1


def test_several_invalid_fields(shared):
    r = shared.api.put(STATUS, {"number_customergauge": 0, "status": "done"}, shared.token)
    assert r.status == 422, r
    body = r.json()
    assert set(body["errors"]) == {"number_customergauge", "status"}, body


# ---- other errors -----------------------------------------------------------------


@pytest.mark.parametrize("body", ['{"number_customergauge": 1, "status": "open"',
                                  "not json", '{"status": "open",}', "{'a': 1}",
                                  '{"number_customergauge": 1, "status": "open"} x'])
def test_malformed_json(shared, body):
    r = shared.api.put(STATUS, body, shared.token)
    assert r.status == 400, r
    assert "message" in r.json()


@pytest.mark.parametrize("ctype", ["text/plain", "application/xml", "multipart/form-data; boundary=x",
                                   None])
def test_unsupported_content_type(shared, ctype):
    r = shared.api.put(STATUS, '{"number_customergauge": 1, "status": "open"}', shared.token, ctype)
    assert r.status == 415, r
    assert "message" in r.json()


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE", "PATCH"])
def test_other_methods(shared, method):
    r = shared.api.request(method, STATUS, headers={"Authorization": f"Bearer {shared.token}"})
    assert r.status == 405, r
    assert r.header("Allow") == "PUT", r.headers
    assert "message" in r.json()


def test_created_at_is_the_action_time(shared):
    when = utcnow() - timedelta(hours=30)
    case = shared.api.set_status(shared.token, next_number(), "open", happened_at=when)
    assert case["created_at"] == fmt_time(when)
    assert parse_time(case["updated_at"]) >= utcnow() - timedelta(minutes=2)
