"""GET /v7/rest/sync/close-loop: response shape, cursor protocol, parameter
validation and date windows (seed; SPEC §1, §2 "Cursor and ordering",
"Dates and times", "Errors")."""

import math
import random
import threading

import pytest

from harness import (CASE_KEYS, SYNC, assert_case_shape, days, deploy, fmt_time, new_db,
                     parse_time, today_of, utcnow)


@pytest.fixture(scope="module")
def thirty(binary, tmp_path_factory, module_servers):
    """A server holding exactly 30 open cases, numbers 1..30, created in order.
    Read-only for the tests that use it."""
    d = deploy(binary, new_db(tmp_path_factory.mktemp("thirty")), module_servers())
    cases = [d.api.set_status(d.token, n, "open") for n in range(1, 31)]
    return d, cases


# ---- shape --------------------------------------------------------------------


def test_response_shape(fresh):
    created = fresh.api.set_status(fresh.token, 42, "open")
    r = fresh.api.sync(fresh.token)
    assert r.status == 200, r
    body = r.json()
    assert list(body) == ["data", "cursor"]
    assert list(body["cursor"]) == ["next"]
    assert type(body["cursor"]["next"]) is int
    assert len(body["data"]) == 1
    case = body["data"][0]
    assert list(case) == CASE_KEYS
    assert_case_shape(case)
    assert case == created
    assert case["number_customergauge"] == 42
    assert case["status"] == "open"
    assert case["assignee"] is None
    assert case["time_to_follow_up"] is None and case["time_to_close"] is None
    assert case["created_at"] == case["updated_at"]
    assert abs((utcnow() - parse_time(case["updated_at"])).total_seconds()) < 120


def test_every_case_has_the_shape(thirty):
    d, cases = thirty
    for case in d.api.all_cases(d.token):
        assert_case_shape(case)


# ---- cursor -------------------------------------------------------------------


@pytest.mark.parametrize("per_page", [1, 7, 30, 1000])
def test_full_pass(thirty, per_page):
    """Each case exactly once, in ascending cursor order, then an empty page
    that echoes the cursor."""
    d, cases = thirty
    pages, final = d.api.full_pass(d.token, per_page=per_page)
    assert len(pages) == math.ceil(30 / per_page) + 1
    seen = [c for p in pages for c in p["data"]]
    assert [c["id"] for c in seen] == [c["id"] for c in cases]
    assert seen == cases
    for p in pages[:-2]:
        assert len(p["data"]) == per_page
    nexts = [p["cursor"]["next"] for p in pages]
    assert nexts[:-1] == sorted(set(nexts[:-1])), f"cursor must strictly increase: {nexts}"
    assert pages[-1] == {"data": [], "cursor": {"next": nexts[-2]}}
    assert final == nexts[-2]


def test_next_is_the_position_of_the_last_case(thirty):
    """With per_page=1, resuming from any page's cursor yields the rest."""
    d, cases = thirty
    pages, _ = d.api.full_pass(d.token, per_page=1)
    for i in (0, 9, 28):
        cur = pages[i]["cursor"]["next"]
        rest = [c for p in d.api.full_pass(d.token, cursor=cur)[0] for c in p["data"]]
        assert rest == cases[i + 1:]


def test_first_page_without_cursor_equals_cursor_zero(thirty):
    d, _ = thirty
    assert d.api.page(d.token, ("per_page", 5)) == d.api.page(d.token, ("per_page", 5),
                                                              ("cursor", 0))


@pytest.mark.parametrize("cursor", [0, 1, 10**9, 2**63 - 1])
def test_empty_page_echoes_the_cursor(fresh, cursor):
    assert fresh.api.page(fresh.token, ("cursor", cursor)) == {"data": [], "cursor": {"next": cursor}}


def test_empty_database_without_cursor(fresh):
    assert fresh.api.page(fresh.token) == {"data": [], "cursor": {"next": 0}}


def test_past_the_end(thirty):
    d, _ = thirty
    _, final = d.api.full_pass(d.token)
    assert d.api.page(d.token, ("cursor", final + 1000)) == {"data": [],
                                                           "cursor": {"next": final + 1000}}


def test_default_per_page_is_100(fresh):
    for n in range(1, 121):
        fresh.api.set_status(fresh.token, n, "open")
    first = fresh.api.page(fresh.token)
    assert len(first["data"]) == 100
    assert [c["number_customergauge"] for c in first["data"]] == list(range(1, 101))
    second = fresh.api.page(fresh.token, ("cursor", first["cursor"]["next"]))
    assert [c["number_customergauge"] for c in second["data"]] == list(range(101, 121))
    assert fresh.api.page(fresh.token, ("cursor", second["cursor"]["next"]))["data"] == []
    assert len(fresh.api.page(fresh.token, ("per_page", 1000))["data"]) == 120


def test_a_change_moves_the_case_to_the_end(fresh):
    cases = [fresh.api.set_status(fresh.token, n, "open") for n in (1, 2, 3)]
    pages, cur = fresh.api.full_pass(fresh.token)
    changed = fresh.api.set_status(fresh.token, 1, "progress")
    assert changed["id"] == cases[0]["id"]
    after = fresh.api.page(fresh.token, ("cursor", cur))
    assert after["data"] == [changed]
    assert after["cursor"]["next"] > cur
    everything = fresh.api.all_cases(fresh.token)
    assert [c["number_customergauge"] for c in everything] == [2, 3, 1]


# ---- writes during a pass -------------------------------------------------------


def upsert(pages, into=None):
    state = {} if into is None else into
    for p in pages:
        for c in p["data"]:
            state[c["id"]] = c
    return state


def test_change_during_a_pass_reappears(fresh):
    for n in range(1, 21):
        fresh.api.set_status(fresh.token, n, "open")
    changed = {}

    def between(i):
        if i == 0:  # after the first page: change a case already seen
            changed.update(fresh.api.set_status(fresh.token, 2, "progress"))

    pages, _ = fresh.api.full_pass(fresh.token, per_page=5, between=between)
    seen = [c for p in pages for c in p["data"]]
    twice = [c for c in seen if c["number_customergauge"] == 2]
    assert len(twice) == 2, seen
    assert twice[0]["status"] == "open"
    assert twice[1] == changed and changed["status"] == "progress"
    assert seen[-1] == changed
    state = upsert(pages)
    assert len(state) == 20
    assert state == upsert(fresh.api.full_pass(fresh.token)[0])


def test_concurrent_writers_nothing_missed(binary, db, servers):
    """Writers on several connections while a client pages: after the
    writers stop and the client reaches an empty page, its upserted copy is
    exactly the server's state."""
    d = deploy(binary, db, servers(), threads=4)
    writers, per_writer, numbers_each = 4, 40, 8
    last = {}
    errors = []
    lock = threading.Lock()

    def write(k):
        rnd = random.Random(k)
        try:
            for _ in range(per_writer):
                n = 10000 * (k + 1) + rnd.randrange(numbers_each)
                st = rnd.choice(["open", "progress", "closed"])
                r = d.api.put_status(d.token, n, st, note=f"w{k}")
                if r.status not in (200, 201):
                    errors.append(r)
                    return
                with lock:
                    last[n] = st
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(k,), daemon=True) for k in range(writers)]
    for t in threads:
        t.start()
    state, cur = {}, 0
    while any(t.is_alive() for t in threads):
        pages, cur = d.api.full_pass(d.token, per_page=3, cursor=cur)
        upsert(pages, state)
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive(), "writer hung"
    assert not errors, errors
    pages, cur = d.api.full_pass(d.token, per_page=3, cursor=cur)
    upsert(pages, state)
    truth = upsert(d.api.full_pass(d.token)[0])
    assert state == truth
    assert {c["number_customergauge"]: c["status"] for c in truth.values()} == last


# ---- parameters: 422 -------------------------------------------------------------

INVALID = [
    ("per_page=0", "per_page"),
    ("per_page=1001", "per_page"),
    ("per_page=abc", "per_page"),
    ("per_page=1.5", "per_page"),
    ("per_page=", "per_page"),
    ("per_page=-1", "per_page"),
    ("per_page=99999999999999999999", "per_page"),
    ("per_page=1&per_page=2", "per_page"),
    ("cursor=-1", "cursor"),
    ("cursor=abc", "cursor"),
    ("cursor=", "cursor"),
    ("cursor=1.5", "cursor"),
    ("cursor=9223372036854775808", "cursor"),
    ("cursor=1&cursor=2", "cursor"),
    ("updated_at[start]=2022-02-30", "updated_at[start]"),
    ("updated_at[start]=2022-13-01", "updated_at[start]"),
    ("updated_at[start]=20220101", "updated_at[start]"),
    ("updated_at[start]=2022-01-01x", "updated_at[start]"),
    ("updated_at[start]=2023-02-29", "updated_at[start]"),
    ("updated_at[start]=2022-04-31", "updated_at[start]"),
    ("updated_at[start]=2022-00-10", "updated_at[start]"),
    ("updated_at[start]=", "updated_at[start]"),
    ("updated_at[end]=2022-02-30", "updated_at[end]"),
    ("updated_at[end]=2022-13-01", "updated_at[end]"),
    ("updated_at[end]=20220101", "updated_at[end]"),
    ("updated_at[end]=2022-01-01x", "updated_at[end]"),
    ("updated_at[start]=2022-01-01&updated_at[start]=2022-01-02", "updated_at[start]"),
    ("updated_at%5Bstart%5D=2022-02-30", "updated_at[start]"),
    ("updated_at%5Bend%5D=2022-13-01", "updated_at[end]"),
    ("per_page=5&updated_at%5Bstart%5D=2022-02-30", "updated_at[start]"),
]


def assert_one_invalid(r, param):
    assert r.status == 422, r
    body = r.json()
    assert list(body) == ["message", "errors"], body
    errors = body["errors"]
    if param is None:
        assert len(errors) == 1 and set(errors) <= {"updated_at[start]", "updated_at[end]"}, body
        param = next(iter(errors))
    assert list(errors) == [param], body
    assert isinstance(errors[param], list) and len(errors[param]) == 1, body
    msg = errors[param][0]
    assert isinstance(msg, str) and msg, body
    assert body["message"] == msg, body


@pytest.mark.parametrize("query, param", INVALID, ids=[q for q, _ in INVALID])
def test_invalid_parameter(shared, query, param):
    assert_one_invalid(shared.api.sync(shared.token, query), param)


def test_start_after_end(shared):
    r = shared.api.sync(shared.token, "updated_at[start]=2022-07-25&updated_at[end]=2022-07-17")
    assert_one_invalid(r, None)


def test_two_invalid_parameters_name_both(shared):
    r = shared.api.sync(shared.token, "per_page=0&cursor=abc")
    assert r.status == 422, r
    body = r.json()
    assert set(body["errors"]) == {"per_page", "cursor"}, body
    assert body["message"].startswith(body["errors"]["per_page"][0]) or \
        body["message"].startswith(body["errors"]["cursor"][0]), body


VALID = [
    "per_page=1",
    "per_page=1000",
    "per_page=25",
    "cursor=0",
    "updated_at[start]=2022-07-17",
    "updated_at[end]=2022-07-25",
    "updated_at[start]=2022-07-17&updated_at[end]=2022-07-25",
    "updated_at[start]=2022-07-17&updated_at[end]=2022-07-17",
    "updated_at[start]=2024-02-29",
    "updated_at%5Bstart%5D=2022-07-17&updated_at%5Bend%5D=2022-07-25",
    "per_page=100&cursor=5&updated_at[start]=2022-07-17&updated_at[end]=2022-07-25",
]


@pytest.mark.parametrize("query", VALID)
def test_valid_parameters(shared, query):
    r = shared.api.sync(shared.token, query)
    assert r.status == 200, r
    assert list(r.json()) == ["data", "cursor"]


def test_422_content_type(shared):
    r = shared.api.sync(shared.token, "per_page=0")
    assert r.status == 422
    assert r.header("Content-Type").split(";")[0] == "application/json"


# ---- date windows -----------------------------------------------------------------


@pytest.fixture(scope="module")
def three_today(binary, tmp_path_factory, module_servers):
    """A server with three cases changed today (server time, UTC)."""
    d = deploy(binary, new_db(tmp_path_factory.mktemp("window")), module_servers())
    cases = [d.api.set_status(d.token, n, "open") for n in (1, 2, 3)]
    days_seen = {today_of(c) for c in cases}
    if len(days_seen) != 1:
        pytest.skip("the cases straddle midnight UTC")
    return d, cases, days_seen.pop()


WINDOWS = [
    # (start offset, end offset) in days from today, or None; included?
    (0, 0, True),
    (-1, -1, False),
    (0, 1, True),
    (-1, 0, True),
    (-1, 1, True),
    (1, 1, False),
    (1, 2, False),
    (0, None, True),
    (-1, None, True),
    (1, None, False),
    (None, 0, True),
    (None, 1, True),
    (None, -1, False),
]


@pytest.mark.parametrize("start, end, included", WINDOWS)
def test_window(three_today, start, end, included):
    d, cases, today = three_today
    pairs = []
    if start is not None:
        pairs.append(("updated_at[start]", (today + days(start)).isoformat()))
    if end is not None:
        pairs.append(("updated_at[end]", (today + days(end)).isoformat()))
    body = d.api.page(d.token, *pairs)
    if included:
        assert body["data"] == cases
        assert body["cursor"]["next"] == d.api.page(d.token)["cursor"]["next"]
    else:
        assert body == {"data": [], "cursor": {"next": 0}}


@pytest.mark.parametrize("start, end, included", [(0, 0, True), (1, None, False),
                                                  (None, -1, False)])
def test_window_with_percent_encoded_names(three_today, start, end, included):
    d, cases, today = three_today
    parts = []
    if start is not None:
        parts.append(f"updated_at%5Bstart%5D={(today + days(start)).isoformat()}")
    if end is not None:
        parts.append(f"updated_at%5Bend%5D={(today + days(end)).isoformat()}")
    r = d.api.sync(d.token, "&".join(parts))
    assert r.status == 200, r
    assert r.json()["data"] == (cases if included else [])


def test_window_pass_with_cursor(three_today):
    d, cases, today = three_today
    pages, _ = d.api.full_pass(d.token, per_page=1, start=today.isoformat(), end=today.isoformat())
    assert [c for p in pages for c in p["data"]] == cases
    assert len(pages) == 4


def test_back_dated_action_counts_as_changed_today(fresh):
    """happened_at sets created_at, not updated_at: a date-window sync of
    today finds a case whose action happened two days ago."""
    when = utcnow() - days(2)
    r = fresh.api.put_status(fresh.token, 7, "open", happened_at=when)
    assert r.status == 201, r
    case = r.json()["data"]
    assert case["created_at"] == fmt_time(when)
    today = today_of(case)
    assert (utcnow().date() - today).days in (0, 1)
    assert today != (when).date()
    got = fresh.api.page(fresh.token, ("updated_at[start]", today.isoformat()),
                         ("updated_at[end]", today.isoformat()))
    assert got["data"] == [case]
    old = when.date().isoformat()
    assert fresh.api.page(fresh.token, ("updated_at[start]", old),
                          ("updated_at[end]", old))["data"] == []


def test_seed_example_request(thirty):
    d, cases = thirty
    r = d.api.get(SYNC + "?per_page=25", d.token)
    assert r.status == 200, r
    assert r.json()["data"] == cases[:25]
    assert r.json()["cursor"]["next"] == d.api.page(d.token, ("per_page", 25))["cursor"]["next"]

