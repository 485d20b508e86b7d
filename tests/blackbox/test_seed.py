"""`closeloop seed --cases N [--users U] [--days D] [--seed S]` (SPEC §4):
realistic demo data through the same write path, checked through the sync
feed and, for the history, through query_db on the database."""

import re
from datetime import timedelta

import pytest

from harness import (add_user, assert_case_shape, db_exists, db_time, deploy, last_terminal_line,
                     new_db, parse_time, query_db, run_cli, run_on_a_terminal, utcnow)

EXIT_USAGE = 2
CASES = 3000
DAYS = 200


def seed(binary, db, *args):
    p = run_cli(binary, "seed", *args, db=db, timeout=60)
    assert p.returncode == 0, f"seed {args}: exit {p.returncode}: {p.stderr}"
    return p


def count_cases(db):
    return query_db(db, "SELECT count(*) FROM cases")[0][0]


@pytest.fixture(scope="module")
def seeded(binary, tmp_path_factory, module_servers):
    db = new_db(tmp_path_factory.mktemp("seed"))
    before = utcnow()
    seed(binary, db, "--cases", str(CASES), "--users", "20", "--days", str(DAYS), "--seed", "11")
    d = deploy(binary, db, module_servers())
    pages, _ = d.api.full_pass(d.token, per_page=1000)
    feed = [c for p in pages for c in p["data"]]
    return d, feed, before


def status_codes(db, feed):
    """How case_events.status encodes a status, learnt from each case's
    last event (which must carry the case's current status)."""
    last = dict(query_db(db, "SELECT case_id, status FROM case_events WHERE id IN "
                             "(SELECT max(id) FROM case_events GROUP BY case_id)"))
    code = {}
    for c in feed:
        assert c["id"] in last, f"case {c['id']} has no history"
        code.setdefault(c["status"], last[c["id"]])
        assert code[c["status"]] == last[c["id"]], (
            f"case {c['id']}: last event status {last[c['id']]!r}, feed {c['status']!r}, map {code}")
    assert len(set(code.values())) == len(code), code
    return code


def events_by_case(db):
    out = {}
    for case_id, status, happened_at, recorded_at in query_db(
            db, "SELECT case_id, status, happened_at, recorded_at FROM case_events ORDER BY id"):
        out.setdefault(case_id, []).append((status, db_time(happened_at), db_time(recorded_at)))
    return out


# ---- counts ---------------------------------------------------------------------------


def test_exactly_n_cases(seeded):
    d, feed, _ = seeded
    assert len(feed) == CASES
    assert len({c["id"] for c in feed}) == CASES
    numbers = sorted(c["number_customergauge"] for c in feed)
    assert numbers == list(range(numbers[0], numbers[0] + CASES)), "numbers are consecutive"
    assert count_cases(d.db) == CASES


def test_every_case_has_the_shape(seeded):
    _, feed, _ = seeded
    for c in feed:
        assert_case_shape(c)


# ---- realism ----------------------------------------------------------------------------


def test_statuses_are_mixed(seeded):
    _, feed, _ = seeded
    by = {s: sum(1 for c in feed if c["status"] == s) for s in ("open", "progress", "closed")}
    for s, k in by.items():
        assert k >= CASES // 20, f"too few {s}: {by}"


def test_some_cases_were_reopened(seeded):
    d, feed, _ = seeded
    code = status_codes(d.db, feed)
    assert set(code) == {"open", "progress", "closed"}
    events = events_by_case(d.db)
    reopened = [c for c in feed if c["status"] == "open"
                and any(st == code["closed"] for st, _, _ in events[c["id"]])]
    assert len(reopened) >= CASES // 100, f"only {len(reopened)} reopened cases"


def test_most_cases_are_assigned(seeded):
    d, feed, _ = seeded
    assigned = [c for c in feed if c["assignee"] is not None]
    assert len(assigned) > CASES // 2
    users = {uid: (name, email) for uid, name, email in query_db(d.db, "SELECT id, username, email FROM users")}
    assert 1 < len(users) <= 20
    used = set()
    for c in assigned:
        a = c["assignee"]
        assert users[a["id"]] == (a["username"], a["email"]), a
        used.add(a["id"])
    assert len(used) > 1


def test_timers_vary(seeded):
    _, feed, _ = seeded
    values = [c[t] for c in feed for t in ("time_to_follow_up", "time_to_close") if c[t] is not None]
    assert min(values) == 0
    assert max(values) > 100
    assert len(set(values)) > 50


def test_timers_match_the_status(seeded):
    _, feed, _ = seeded
    for c in feed:
        fu, close = c["time_to_follow_up"], c["time_to_close"]
        if c["status"] == "open":
            assert fu is None and close is None, c
        elif c["status"] == "progress":
            assert fu is not None and close is None, c
        else:
            assert fu is not None and close is not None and close >= fu, c


def test_times(seeded):
    _, feed, before = seeded
    now = utcnow() + timedelta(seconds=5)
    oldest = before - timedelta(days=DAYS + 1)
    for c in feed:
        created, updated = parse_time(c["created_at"]), parse_time(c["updated_at"])
        assert oldest <= created <= updated <= now, c


def test_updated_at_follows_the_feed_order(seeded):
    _, feed, _ = seeded
    ups = [c["updated_at"] for c in feed]
    bad = [(a, b) for a, b in zip(ups, ups[1:]) if b < a]
    assert not bad, f"updated_at goes back along the feed {len(bad)} times, e.g. {bad[:3]}"


def test_history_explains_each_case(seeded):
    """Replaying each case's history with the timer rules of SPEC §2 gives
    the timers the feed shows; the first action is the creation and the
    last one the last change."""
    d, feed, _ = seeded
    code = status_codes(d.db, feed)
    name = {v: k for k, v in code.items()}
    events = events_by_case(d.db)
    for c in feed:
        evs = events[c["id"]]
        assert evs[0][1] == int(parse_time(c["created_at"]).timestamp()), (c, evs[0])
        assert max(rec for _, _, rec in evs) == int(parse_time(c["updated_at"]).timestamp()), (c, evs)
        opened = fu = close = None
        prev = None
        for st, happened, _ in evs:
            st = name[st]
            if prev is None:
                opened = happened
            assert happened >= opened, ("an action before the opening", c, evs)
            if st != prev:
                hrs = (happened - opened) // 3600
                if st == "open" and prev is not None:
                    opened, fu, close = happened, None, None
                elif st == "progress":
                    fu = hrs if fu is None else fu
                    close = None
                elif st == "closed":
                    fu = hrs if fu is None else fu
                    close = hrs
            prev = st
        assert name[evs[-1][0]] == c["status"]
        assert (fu, close) == (c["time_to_follow_up"], c["time_to_close"]), (c, evs)


# ---- more runs ---------------------------------------------------------------------------


def test_second_run_continues(binary, db):
    seed(binary, db, "--cases", "2000", "--seed", "1")
    users = query_db(db, "SELECT id, username, email FROM users ORDER BY id")
    seed(binary, db, "--cases", "2000", "--seed", "2")
    assert count_cases(db) == 4000
    numbers = [n for (n,) in query_db(db, "SELECT number FROM cases ORDER BY number")]
    assert numbers == list(range(1, 4001))
    again = query_db(db, "SELECT id, username, email FROM users ORDER BY id")
    assert again[:len(users)] == users
    assert len({u for _, u, _ in again}) == len(again)
    assert len({e.lower() for _, _, e in again}) == len(again)
    assert len(again) == len(users), "a second run with the same --users adds no users"
    p = run_cli(binary, "users", "list", db=db)
    assert p.returncode == 0


def test_seed_while_serving_continues_after_the_highest_number(binary, db, servers):
    d = deploy(binary, db, servers())
    d.api.set_status(d.token, 50000, "open")
    _, cur = d.api.full_pass(d.token)
    seed(binary, db, "--cases", "100", "--seed", "3")
    pages, _ = d.api.full_pass(d.token, cursor=cur, per_page=7)
    new = [c for p in pages for c in p["data"]]
    assert sorted(c["number_customergauge"] for c in new) == list(range(50001, 50101))
    assert len(d.api.all_cases(d.token)) == 101


def test_existing_users_are_used(binary, db):
    add_user(binary, db, "alice", "alice@example.com")
    seed(binary, db, "--cases", "300", "--users", "3", "--seed", "5")
    users = query_db(db, "SELECT username, email FROM users")
    assert ("alice", "alice@example.com") in users
    assert len({u for u, _ in users}) == len(users)


def test_same_seed_same_data(binary, tmp_path):
    def facts(db):
        return query_db(db, "SELECT c.number, c.status, u.username, c.time_to_follow_up, "
                            "c.time_to_close FROM cases c LEFT JOIN users u ON u.id = c.assignee_id "
                            "ORDER BY c.number")
    a, b = new_db(tmp_path, "a"), new_db(tmp_path, "b")
    seed(binary, a, "--cases", "500", "--seed", "9")
    seed(binary, b, "--cases", "500", "--seed", "9")
    assert facts(a) == facts(b)


# ---- usage ----------------------------------------------------------------------------


@pytest.mark.parametrize("args", [
    [],
    ["--cases"],
    ["--cases", "-1"],
    ["--cases", "abc"],
    ["--cases", "1.5"],
    ["--cases", "10", "--users", "x"],
    ["--cases", "10", "--users", "-2"],
    ["--cases", "10", "--days", "0"],
    ["--cases", "10", "--days", "-3"],
    ["--cases", "10", "--days", "x"],
    ["--cases", "10", "--seed", "x"],
    ["--cases", "10", "--bogus"],
    ["--cases", "10", "extra"],
], ids=lambda a: " ".join(a) or "none")
def test_bad_options(binary, db, args):
    p = run_cli(binary, "seed", *args, db=db)
    assert p.returncode == EXIT_USAGE, (p.returncode, p.stderr)
    assert p.stderr.strip()
    assert not db_exists(db) or count_cases(db) == 0


def test_progress_line_on_a_terminal(binary, db):
    """On a terminal, seed shows how far it is, ending with the total; off
    one (every other test here), it prints nothing."""
    code, stdout, text = run_on_a_terminal([binary, "seed", "--cases", 2000, "--db", db])
    assert code == 0, text
    assert re.fullmatch(r"closeloop: seeded 2000/2000 cases \(\d+ cases/s\)",
                        last_terminal_line(text)), text
    assert count_cases(db) == 2000
