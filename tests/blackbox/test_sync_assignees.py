"""The assignee of every case in the sync feed is the user the write API
named, however a server's worker reads them: the SQLite backend takes a
page's assignees from a per-connection cache of 256 slots (by user id)
instead of joining users for every row, so these tests use more users than
slots, ids that share a slot, repeated passes over a warm cache, and users
added by another process while the server runs (SPEC §1 case fields)."""

from harness import add_user, deploy

USERS = 300  # more than the cache's 256 slots: ids 1 and 257 share one


def feed_by_number(d, per_page):
    pages, _ = d.api.full_pass(d.token, per_page=per_page)
    return {c["number_customergauge"]: c for p in pages for c in p["data"]}


def test_assignees_across_cache_slots(binary, db, servers):
    for i in range(1, USERS + 1):
        add_user(binary, db, f"user{i}", f"user{i}.mail@example.com")
    # One worker thread: one connection reads every page, so its cache is
    # warm from the second page on.
    d = deploy(binary, db, servers(), threads=1)
    want = {}
    # Cases alternate between users whose ids share a slot, and leave some
    # cases unassigned between them.
    for n in range(1, 121):
        user = 1 + (n * 256 + n // 2) % USERS
        if n % 7 == 0:
            want[n] = d.api.set_status(d.token, n, "open")
        else:
            want[n] = d.api.assign(d.token, n, f"user{user}")
    for per_page in (1, 7, 1000, 7):  # the last pass reads a warm cache
        got = feed_by_number(d, per_page)
        assert set(got) == set(want)
        for n, case in got.items():
            assert case["assignee"] == want[n]["assignee"], (per_page, n)
            assert case == want[n], (per_page, n)


def test_user_added_while_serving(binary, db, servers):
    add_user(binary, db, "first", "first@example.com")
    d = deploy(binary, db, servers(), threads=1)
    a = d.api.assign(d.token, 1, "first")
    assert feed_by_number(d, 10)[1]["assignee"] == a["assignee"]
    # Another process adds a user after the cache has been filled.
    add_user(binary, db, "later", "later@example.com")
    b = d.api.assign(d.token, 2, "later")
    c = d.api.assign(d.token, 1, "later@example.com")  # reassigned, moves to the end
    feed = feed_by_number(d, 1)
    assert feed[2]["assignee"] == b["assignee"]
    assert feed[2]["assignee"]["username"] == "later"
    assert feed[1]["assignee"] == c["assignee"] == b["assignee"]
    # Unassigned again: null, never a stale user.
    e = d.api.assign(d.token, 2, None)
    feed = feed_by_number(d, 1000)
    assert feed[2]["assignee"] is None and e["assignee"] is None
    assert feed[1]["assignee"]["email"] == "later@example.com"
