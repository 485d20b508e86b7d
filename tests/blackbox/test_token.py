"""POST /oauth2/token: the client credentials grant (seed, SPEC §1 and §2
"Errors", RFC 6749 §2.3.1, §4.4 and §5.2)."""

import json
import shutil
import subprocess

import pytest

from harness import SYNC, STATUS, TOKEN, HTTP_TIMEOUT, UNAUTHORIZED, basic, form

TOKEN_KEYS = ["access_token", "token_type", "expires_in", "scope"]


def assert_no_store(r):
    assert r.header("Cache-Control") == "no-store", r.headers
    assert r.header("Pragma") == "no-cache", r.headers


def assert_token_error(r, status, error):
    assert r.status == status, r
    assert_no_store(r)
    body = r.json()
    assert body["error"] == error, body
    assert set(body) <= {"error", "error_description", "error_uri"}, body
    assert isinstance(body.get("error_description", ""), str)
    if status == 401:
        assert (r.header("WWW-Authenticate") or "").startswith("Basic"), r.headers


def assert_token_ok(r, scope="read write"):
    assert r.status == 200, r
    assert_no_store(r)
    body = r.json()
    assert list(body) == TOKEN_KEYS, body
    assert isinstance(body["access_token"], str) and body["access_token"], body
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == scope
    return body["access_token"]


# ---- success ----------------------------------------------------------------


def test_seed_request_form_body(shared):
    """The seed's call: form-encoded grant_type, client_id, client_secret."""
    body = f"grant_type=client_credentials&client_id={shared.client_id}&client_secret={shared.secret}"
    r = shared.api.token_request(body, "application/x-www-form-urlencoded")
    tok = assert_token_ok(r)
    assert shared.api.sync(tok, "per_page=1").status == 200


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_seed_curl_command_verbatim(shared):
    """The seed's curl command, only the host swapped."""
    out = subprocess.run(
        ["curl", "-s", "--max-time", str(HTTP_TIMEOUT), "-X", "POST", "-H",
         "Content-Type: application/x-www-form-urlencoded", "-d",
         f"grant_type=client_credentials&client_id={shared.client_id}"
         f"&client_secret={shared.secret}",
         f"{shared.api.base}/oauth2/token"],
        capture_output=True, text=True, timeout=HTTP_TIMEOUT + 5)
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert list(body) == TOKEN_KEYS and body["token_type"] == "Bearer", body
    assert shared.api.sync(body["access_token"], "per_page=1").status == 200


def test_form_content_type_with_charset(shared):
    body = form([("grant_type", "client_credentials"), ("client_id", shared.client_id),
                 ("client_secret", shared.secret)])
    r = shared.api.token_request(body, "application/x-www-form-urlencoded; charset=UTF-8")
    assert_token_ok(r)


def test_http_basic_credentials(shared):
    r = shared.api.token_request("grant_type=client_credentials",
                                 headers={"Authorization": basic(shared.client_id, shared.secret)})
    tok = assert_token_ok(r)
    assert shared.api.sync(tok, "per_page=1").status == 200


def test_every_token_is_new(shared):
    a = shared.api.token(shared.client_id, shared.secret)
    b = shared.api.token(shared.client_id, shared.secret)
    assert shared.api.sync(a).status == 200
    assert shared.api.sync(b).status == 200


@pytest.mark.parametrize("app_scope, requested, granted", [
    ("read", None, "read"),
    ("write", None, "write"),
    ("read,write", None, "read write"),
    ("read,write", "read", "read"),
    ("read,write", "write", "write"),
    ("read,write", "read write", "read write"),
])
def test_granted_scope(shared, app_scope, requested, granted):
    cid, sec = shared.app(app_scope)
    pairs = [("grant_type", "client_credentials"), ("client_id", cid), ("client_secret", sec)]
    if requested is not None:
        pairs.append(("scope", requested))
    assert_token_ok(shared.api.token_request(form(pairs)), scope=granted)


def test_narrowed_scope_is_enforced(shared):
    """A read,write app that asks for `read` gets a token that cannot write."""
    tok = shared.api.token(shared.client_id, shared.secret, scope="read")
    r = shared.api.put_status(tok, 1, "open")
    assert r.status == 403, r
    assert r.json() == UNAUTHORIZED


# ---- errors (RFC 6749 §5.2) -------------------------------------------------

def creds(shared, body):
    """Fills in the CID and SECRET placeholders of a table row."""
    return body.replace("CID", shared.client_id).replace("SECRET", shared.secret)


@pytest.mark.parametrize("body, status, error", [
    pytest.param("client_id=CID&client_secret=SECRET", 400, "invalid_request", id="no-grant_type"),
    pytest.param("grant_type=&client_id=CID&client_secret=SECRET", 400, "invalid_request",
                 id="empty-grant_type"),
    pytest.param("grant_type=password&client_id=CID&client_secret=SECRET", 400,
                 "unsupported_grant_type", id="password-grant"),
    pytest.param("grant_type=authorization_code&client_id=CID&client_secret=SECRET", 400,
                 "unsupported_grant_type", id="authorization_code-grant"),
    pytest.param("grant_type=client_credentials&client_id=CID&client_secret=SECRETx", 401,
                 "invalid_client", id="wrong-secret"),
    pytest.param("grant_type=client_credentials&client_id=CID&client_secret=", 401,
                 "invalid_client", id="empty-secret"),
    pytest.param("grant_type=client_credentials&client_id=CID", 401, "invalid_client",
                 id="no-secret"),
    pytest.param("grant_type=client_credentials&client_id=0123456789abcdef0123456789abcdef"
                 "&client_secret=SECRET", 401, "invalid_client", id="unknown-client"),
    pytest.param("grant_type=client_credentials", 401, "invalid_client", id="no-credentials"),
    pytest.param("grant_type=client_credentials&client_id=CID&client_secret=" + "x" * 600, 401,
                 "invalid_client", id="overlong-secret"),
    pytest.param("grant_type=client_credentials&grant_type=client_credentials&client_id=CID"
                 "&client_secret=SECRET", 400, "invalid_request", id="repeated-grant_type"),
    pytest.param("grant_type=client_credentials&client_id=CID&client_id=CID&client_secret=SECRET",
                 400, "invalid_request", id="repeated-client_id"),
])
def test_form_errors(shared, body, status, error):
    assert_token_error(shared.api.token_request(creds(shared, body)), status, error)


def test_basic_and_body_credentials_together(shared):
    r = shared.api.token_request(
        form([("grant_type", "client_credentials"), ("client_id", shared.client_id),
              ("client_secret", shared.secret)]),
        headers={"Authorization": basic(shared.client_id, shared.secret)})
    assert_token_error(r, 400, "invalid_request")


def test_basic_wrong_secret(shared):
    r = shared.api.token_request("grant_type=client_credentials",
                                 headers={"Authorization": basic(shared.client_id, "nope")})
    assert_token_error(r, 401, "invalid_client")


def test_basic_garbage(shared):
    r = shared.api.token_request("grant_type=client_credentials",
                                 headers={"Authorization": "Basic !!!not-base64!!!"})
    assert_token_error(r, 401, "invalid_client")


def test_json_body_is_invalid_request(shared):
    body = json.dumps({"grant_type": "client_credentials", "client_id": shared.client_id,
                       "client_secret": shared.secret})
    assert_token_error(shared.api.token_request(body, "application/json"), 400, "invalid_request")


def test_scope_beyond_the_app(shared):
    cid, sec = shared.app("read")
    r = shared.api.token_request(form([("grant_type", "client_credentials"), ("client_id", cid),
                                       ("client_secret", sec), ("scope", "write")]))
    assert_token_error(r, 400, "invalid_scope")


def test_unknown_scope(shared):
    r = shared.api.token_request(form([("grant_type", "client_credentials"),
                                       ("client_id", shared.client_id),
                                       ("client_secret", shared.secret), ("scope", "admin")]))
    assert_token_error(r, 400, "invalid_scope")


def test_revoked_app(shared):
    cid, sec = shared.app("read,write")
    shared.api.token(cid, sec)
    p = shared.cli("apps", "revoke", cid)
    assert p.returncode == 0, p.stderr
    r = shared.api.token_request(form([("grant_type", "client_credentials"), ("client_id", cid),
                                       ("client_secret", sec)]))
    assert_token_error(r, 401, "invalid_client")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods(shared, method):
    r = shared.api.request(method, TOKEN)
    assert r.status == 405, r
    assert r.header("Allow") == "POST", r.headers
    assert_no_store(r)


def test_token_issued_while_serving(shared):
    """An app created by `apps create` while the server runs works at once."""
    cid, sec = shared.app("read,write")
    tok = shared.api.token(cid, sec)
    assert shared.api.get(SYNC, tok).status == 200
    assert shared.api.put(STATUS, {"number_customergauge": 3, "status": "open"}, tok).status \
        in (200, 201)
