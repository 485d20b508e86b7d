"""Bearer tokens on the API (SPEC §2 "Errors"): 401 {"message":"Unauthenticated."}
with WWW-Authenticate: Bearer for every kind of bad token, the body never
saying which; 403 for a valid token without the scope."""

import json
import time

import pytest

from harness import (STATUS, SYNC, UNAUTHENTICATED, UNAUTHORIZED, basic, create_app, form,
                     new_db, next_number, poll, run_cli)

REVOKE_WITHIN = 6  # seconds: the contract says 5, one more for slow machines


def forge(token):
    """The token with one signed character changed."""
    i = max(k for k in range(len(token) - 4) if token[k].isalnum())
    return token[:i] + ("B" if token[i] == "A" else "A") + token[i + 1:]


def assert_unauthenticated(r):
    assert r.status == 401, r
    assert r.json() == UNAUTHENTICATED
    assert (r.header("WWW-Authenticate") or "").startswith("Bearer"), r.headers


def authorization_variants(shared):
    """Authorization header values that must all be a 401 (None = absent)."""
    tok = shared.token
    return {
        "missing": None,
        "garbage": "Bearer garbage",
        "empty-bearer": "Bearer ",
        "bare-scheme": "Bearer",
        "no-scheme": tok,
        "basic-scheme": basic(shared.client_id, shared.secret),
        "other-scheme": f"Token {tok}",
        "forged": f"Bearer {forge(tok)}",
        "appended": f"Bearer {tok}x",
        "truncated": f"Bearer {tok[:-1]}",
        "overlong": f"Bearer {tok}{'A' * 300}",
        "secret-as-token": f"Bearer {shared.secret}",
        "two-tokens": f"Bearer {tok} {tok}",
    }


VARIANTS = ["missing", "garbage", "empty-bearer", "bare-scheme", "no-scheme", "basic-scheme",
            "other-scheme", "forged", "appended", "truncated", "overlong", "secret-as-token",
            "two-tokens"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_sync_rejects(shared, variant):
    value = authorization_variants(shared)[variant]
    headers = {} if value is None else {"Authorization": value}
    assert_unauthenticated(shared.api.get(SYNC + "?per_page=1", headers=headers))


@pytest.mark.parametrize("variant", VARIANTS)
def test_status_rejects(shared, variant):
    value = authorization_variants(shared)[variant]
    headers = {"Content-Type": "application/json"}
    if value is not None:
        headers["Authorization"] = value
    body = json.dumps({"number_customergauge": next_number(), "status": "open"})
    assert_unauthenticated(shared.api.request("PUT", STATUS, body, headers))


def test_authentication_comes_before_validation(shared):
    """An unauthenticated request learns nothing about its parameters."""
    assert_unauthenticated(shared.api.sync(None, "per_page=0"))
    assert_unauthenticated(shared.api.put(STATUS, "{not json", None))
    assert_unauthenticated(shared.api.put(STATUS, {"status": "done"}, None))


def test_valid_token_in_either_header_case(shared):
    """Header names are case-insensitive (RFC 9110)."""
    r = shared.api.get(SYNC, headers={"authorization": f"Bearer {shared.token}"})
    assert r.status == 200, r


# ---- 403 --------------------------------------------------------------------


def test_read_only_token_cannot_write(shared):
    tok = shared.token_for("read")
    r = shared.api.put_status(tok, next_number(), "open")
    assert r.status == 403, r
    assert r.json() == UNAUTHORIZED
    assert shared.api.get(SYNC, tok).status == 200


def test_write_only_token_cannot_read(shared):
    tok = shared.token_for("write")
    r = shared.api.get(SYNC, tok)
    assert r.status == 403, r
    assert r.json() == UNAUTHORIZED
    assert shared.api.put_status(tok, next_number(), "open").status == 201


def test_forbidden_comes_before_validation(shared):
    tok = shared.token_for("read")
    r = shared.api.put(STATUS, {"status": "done"}, tok)
    assert r.status == 403, r


# ---- tokens that stop working -------------------------------------------------


def test_expired_token(servers, db, binary):
    cid, sec = create_app(binary, db)
    srv = servers()
    srv.start(db, token_ttl=2)
    r = srv.api.token_request(form([("grant_type", "client_credentials"), ("client_id", cid),
                                    ("client_secret", sec)]))
    assert r.status == 200, r
    assert r.json()["expires_in"] == 2
    tok = r.json()["access_token"]
    issued = time.monotonic()
    assert srv.api.get(SYNC, tok).status == 200
    r = poll(lambda: (lambda x: x if x.status != 200 else None)(srv.api.get(SYNC, tok)), 6, 0.1)
    assert r is not None, "token still accepted 6 s after issue with --token-ttl 2"
    assert time.monotonic() - issued >= 1, "token expired long before its lifetime"
    assert_unauthenticated(r)
    # A new token works again.
    assert srv.api.get(SYNC, srv.api.token(cid, sec)).status == 200


def wait_rejected(api, tok, timeout=REVOKE_WITHIN):
    """Polls until tok gets a non-200; returns that response (None if never)."""
    def check():
        r = api.get(SYNC, tok)
        return r if r.status != 200 else None
    return poll(check, timeout, 0.1)


def test_revoked_app_tokens_die(shared):
    cid, sec = shared.app("read,write")
    tok = shared.api.token(cid, sec)
    assert shared.api.get(SYNC, tok).status == 200
    p = shared.cli("apps", "revoke", cid)
    revoked_at = time.monotonic()
    assert p.returncode == 0, p.stderr
    r = wait_rejected(shared.api, tok)
    assert r is not None, f"revoked app's token still accepted after {REVOKE_WITHIN} s"
    assert_unauthenticated(r)
    # Once the contract's 5 s have passed, every worker rejects it, always.
    # (Before that, a request may still reach a worker with an older view.)
    time.sleep(max(0.0, revoked_at + 5 - time.monotonic()))
    for _ in range(20):
        assert_unauthenticated(shared.api.get(SYNC, tok))
    assert_unauthenticated(shared.api.put_status(tok, next_number(), "open"))
    # Other apps are unaffected.
    assert shared.api.get(SYNC, shared.token).status == 200


def test_rotated_secret(shared):
    cid, old_secret = shared.app("read,write")
    old_token = shared.api.token(cid, old_secret)
    p = shared.cli("apps", "rotate", cid, "--json")
    assert p.returncode == 0, p.stderr
    obj = json.loads(p.stdout)
    assert list(obj) == ["client_id", "client_secret"] and obj["client_id"] == cid, obj
    new_secret = obj["client_secret"]
    assert new_secret != old_secret
    # The new secret works at once, and so does its token.
    new_token = shared.api.token(cid, new_secret)
    assert shared.api.get(SYNC, new_token).status == 200
    # The old token dies within the revocation delay; the old secret at once.
    r = wait_rejected(shared.api, old_token)
    assert r is not None, f"pre-rotation token still accepted after {REVOKE_WITHIN} s"
    assert_unauthenticated(r)
    r = shared.api.token_request(form([("grant_type", "client_credentials"), ("client_id", cid),
                                       ("client_secret", old_secret)]))
    assert r.status == 401 and r.json()["error"] == "invalid_client", r
    assert shared.api.get(SYNC, new_token).status == 200


def test_other_region_token(servers, db, binary):
    """Two servers on one database, one per region: a token is only good in
    the region that issued it."""
    cid, sec = create_app(binary, db)
    eu, us = servers(), servers()
    eu.start(db, region="eu")
    us.start(db, region="us")
    eu_tok, us_tok = eu.api.token(cid, sec), us.api.token(cid, sec)
    assert eu.api.get(SYNC, eu_tok).status == 200
    assert us.api.get(SYNC, us_tok).status == 200
    assert_unauthenticated(eu.api.get(SYNC, us_tok))
    assert_unauthenticated(us.api.get(SYNC, eu_tok))
    assert_unauthenticated(us.api.put_status(eu_tok, next_number(), "open"))


def test_token_from_another_database(servers, tmp_path, binary):
    """Each database signs with its own key: a token is no good elsewhere."""
    a_db, b_db = new_db(tmp_path, "a"), new_db(tmp_path, "b")
    a_app, b_app = create_app(binary, a_db), create_app(binary, b_db)
    a, b = servers(), servers()
    a.start(a_db)
    b.start(b_db)
    assert_unauthenticated(b.api.get(SYNC, a.api.token(*a_app)))
    assert b.api.get(SYNC, b.api.token(*b_app)).status == 200


def test_all_401_bodies_are_identical(servers, db, binary):
    """Whatever is wrong with the token, the client learns nothing more."""
    cid, sec = create_app(binary, db)
    rid, rsec = create_app(binary, db)
    eu, us = servers(), servers()
    eu.start(db, region="eu", token_ttl=1)
    us.start(db, region="us")
    expiring = eu.api.token(cid, sec)
    revoked = eu.api.token(rid, rsec)
    p = run_cli(binary, "apps", "revoke", rid, db=db)
    assert p.returncode == 0, p.stderr
    other_region = us.api.token(cid, sec)
    bodies = {}
    for name, auth in {"missing": None, "garbage": "Bearer x", "basic": basic(cid, sec),
                       "forged": f"Bearer {forge(other_region)}",
                       "other-region": f"Bearer {other_region}"}.items():
        r = eu.api.get(SYNC, headers={} if auth is None else {"Authorization": auth})
        bodies[name] = (r.status, r.header("Content-Type"), r.body)
    for name, tok in (("revoked", revoked), ("expired", expiring)):
        r = wait_rejected(eu.api, tok)
        assert r is not None, f"{name} token still accepted"
        bodies[name] = (r.status, r.header("Content-Type"), r.body)
    assert len(set(bodies.values())) == 1, bodies
    assert bodies["missing"][0] == 401
