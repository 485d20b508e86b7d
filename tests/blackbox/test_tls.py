"""HTTPS: `serve --tls-cert FILE --tls-key FILE` (issue #7, part 5).

A throwaway PKI is made for each run with the `openssl` command: a test CA, a
server certificate for 127.0.0.1 and localhost signed by it, and a second,
unrelated CA. Clients that trust the test CA must get the API over HTTPS
(HTTP/2 when they offer it by ALPN, HTTP/1.1 otherwise); clients that do not
must fail verification; `closeloop sync --ca-file` must mirror the cases and
fail fast without it.
"""

import http.client
import json
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import time
import warnings

import pytest

from harness import (HOST, HTTP_TIMEOUT, STATUS, SYNC, TOKEN, create_app, db_exists, form, new_db,
                     run_cli)

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None,
                                reason="the openssl command is needed to make a test CA")

EXIT_USAGE, EXIT_NETWORK = 2, 4
MAX_BODY = 65536
SERVICE_UNAVAILABLE = {"message": "Service Unavailable."}


# ---- the test PKI -------------------------------------------------------------


def openssl(*args, cwd):
    p = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, f"openssl {' '.join(args)}: {p.stderr}"


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
            "-subj", f"/CN=closeloop {name}", cwd=d)


def make_leaf(d, ca, name, san):
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
    (d / f"{name}.ext").write_text(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n"
                                   "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext",
            cwd=d)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    make_ca(d, "ca")
    make_ca(d, "other-ca")
    make_leaf(d, "ca", "server", "IP:127.0.0.1,DNS:localhost")
    make_leaf(d, "other-ca", "stranger", "IP:127.0.0.1,DNS:localhost")
    openssl("genrsa", "-out", "rsa.key", "2048", cwd=d)
    return d


def tls_args(pki, cert="server.pem", key="server.key"):
    return ("--tls-cert", str(pki / cert), "--tls-key", str(pki / key))


def trusting(pki, alpn=None):
    ctx = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


# ---- HTTPS/1.1 with Python's http.client --------------------------------------


def https(port, ctx, method, path, body=None, headers=None):
    conn = http.client.HTTPSConnection(HOST, port, timeout=HTTP_TIMEOUT, context=ctx)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


def https_token(port, ctx, cid, secret):
    status, _, body = https(port, ctx, "POST", TOKEN,
                            form([("grant_type", "client_credentials"), ("client_id", cid),
                                  ("client_secret", secret)]),
                            {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200, body
    return json.loads(body)["access_token"]


@pytest.fixture(scope="module")
def tls_server(binary, pki, tmp_path_factory, module_servers):
    """One HTTPS server for the module: (server, client_id, secret)."""
    db = new_db(tmp_path_factory.mktemp("tls"))
    cid, secret = create_app(binary, db)
    srv = module_servers()
    srv.start(db, threads=2, extra=tls_args(pki))
    return srv, cid, secret


def test_listening_line_says_https(tls_server):
    srv, _, _ = tls_server
    assert f"listening on https://127.0.0.1:{srv.port}" in srv.stderr()


def test_token_write_and_read_over_https(tls_server, pki):
    srv, cid, secret = tls_server
    ctx = trusting(pki)
    token = https_token(srv.port, ctx, cid, secret)
    auth = {"Authorization": f"Bearer {token}"}
    status, headers, body = https(srv.port, ctx, "PUT", STATUS,
                                  json.dumps({"number_customergauge": 7001, "status": "progress"}),
                                  {**auth, "Content-Type": "application/json"})
    assert status == 201, body
    assert headers["Content-Type"] == "application/json"
    case = json.loads(body)["data"]
    status, _, body = https(srv.port, ctx, "GET", SYNC + "?per_page=1000", headers=auth)
    assert status == 200, body
    assert case in json.loads(body)["data"]


def test_limits_and_errors_over_https_1_1(tls_server, pki):
    srv, _, _ = tls_server
    ctx = trusting(pki)
    status, _, body = https(srv.port, ctx, "GET", "/nope")
    assert (status, json.loads(body)) == (404, {"message": "Not Found."})
    status, _, body = https(srv.port, ctx, "PUT", STATUS, b"x" * (MAX_BODY + 1),
                            {"Content-Type": "application/json"})
    assert status == 413, body
    status, _, body = https(srv.port, ctx, "GET", SYNC, headers={"X-Big": "a" * 17000})
    assert status == 431, body


def alpn_handshake(port, ctx, server_hostname="127.0.0.1"):
    with socket.create_connection((HOST, port), timeout=HTTP_TIMEOUT) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_hostname) as s:
            return s.selected_alpn_protocol(), s.version()


def test_alpn_prefers_http2(tls_server, pki):
    srv, _, _ = tls_server
    proto, version = alpn_handshake(srv.port, trusting(pki, ["h2", "http/1.1"]))
    assert proto == "h2"
    assert version in ("TLSv1.2", "TLSv1.3")
    assert alpn_handshake(srv.port, trusting(pki, ["http/1.1"]))[0] == "http/1.1"
    assert alpn_handshake(srv.port, trusting(pki))[0] is None  # no ALPN: HTTP/1.1
    assert alpn_handshake(srv.port, trusting(pki, ["h2"]), "localhost")[0] == "h2"


def test_old_tls_versions_are_refused(tls_server, pki):
    srv, _, _ = tls_server
    # This client can speak TLS 1.1 (checked against `openssl s_server
    # -tls1_1`); the server must refuse it.
    ctx = trusting(pki)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    with pytest.raises(ssl.SSLError):
        alpn_handshake(srv.port, ctx)


@pytest.mark.parametrize("ctx_kind", ["system-store", "other-ca", "wrong-name"])
def test_a_client_that_does_not_trust_the_ca_fails(tls_server, pki, ctx_kind):
    srv, _, _ = tls_server
    if ctx_kind == "system-store":
        ctx, name = ssl.create_default_context(), "127.0.0.1"
    elif ctx_kind == "other-ca":
        ctx, name = ssl.create_default_context(cafile=str(pki / "other-ca.pem")), "127.0.0.1"
    else:
        ctx, name = trusting(pki), "api.example.com"
    with pytest.raises(ssl.SSLCertVerificationError):
        alpn_handshake(srv.port, ctx, name)
    # The failed handshakes cost the server nothing lasting.
    assert https(srv.port, trusting(pki), "GET", "/nope")[0] == 404


def test_plain_http_on_the_tls_port_is_not_served(tls_server, pki):
    srv, _, _ = tls_server
    with socket.create_connection((HOST, srv.port), timeout=HTTP_TIMEOUT) as s:
        s.sendall(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        try:
            while chunk := s.recv(4096):
                data += chunk
        except ConnectionResetError:
            pass
    assert b"Not Found" not in data and not data.startswith(b"HTTP/1.1 404")
    assert https(srv.port, trusting(pki), "GET", "/nope")[0] == 404


# ---- HTTP/2 with curl ---------------------------------------------------------------


def curl_has_http2():
    if not shutil.which("curl"):
        return False
    p = subprocess.run(["curl", "-V"], capture_output=True, text=True, timeout=10)
    return "HTTP2" in p.stdout.split()


needs_curl_h2 = pytest.mark.skipif(not curl_has_http2(), reason="curl without HTTP/2 support")


def curl(pki, url, *args):
    """(exit code, http_version, status, body) of one curl --http2 request."""
    p = subprocess.run(["curl", "-sS", "--http2", "--cacert", str(pki / "ca.pem"), "--retry", "0",
                        "-o", "-", "-w", "\n%{http_version} %{http_code}", *args, url],
                       capture_output=True, timeout=30)
    out = p.stdout.decode("utf-8", "replace")
    body, _, tail = out.rpartition("\n")
    version, _, code = tail.partition(" ")
    return p.returncode, version, int(code or 0), body


@needs_curl_h2
def test_http2_serves_the_api_like_http1(tls_server, pki):
    srv, cid, secret = tls_server
    base = f"https://127.0.0.1:{srv.port}"
    rc, version, code, body = curl(pki, base + TOKEN, "-d",
                                   form([("grant_type", "client_credentials"), ("client_id", cid),
                                         ("client_secret", secret)]))
    assert (rc, version, code) == (0, "2", 200), body
    token = json.loads(body)["access_token"]
    auth = ["-H", f"Authorization: Bearer {token}"]
    rc, version, code, body = curl(pki, base + STATUS, *auth, "-X", "PUT",
                                   "-H", "Content-Type: application/json",
                                   "-d", json.dumps({"number_customergauge": 7002,
                                                     "status": "closed"}))
    assert (rc, version, code) == (0, "2", 201), body
    rc, version, code, body = curl(pki, base + SYNC + "?per_page=1000", *auth)
    assert (rc, version, code) == (0, "2", 200), body
    assert 7002 in [c["number_customergauge"] for c in json.loads(body)["data"]]
    # The same errors, in the same JSON shape, as over HTTP/1.1.
    assert curl(pki, base + SYNC)[2:] == (401, json.dumps({"message": "Unauthenticated."},
                                                          separators=(",", ":")))
    assert curl(pki, base + "/nope")[1:] == ("2", 404, '{"message":"Not Found."}')
    rc, version, code, body = curl(pki, base + SYNC, "-X", "DELETE")
    assert (version, code) == ("2", 405)
    rc, version, code, body = curl(pki, base + SYNC, "-H", "X-Big: " + "a" * 17000)
    assert (version, code) == ("2", 431), body
    rc, version, code, body = curl(pki, base + SYNC, *[a for i in range(70)
                                                        for a in ("-H", f"X-H{i}: v")])
    assert (version, code) == ("2", 431), body
    # A body one byte over the limit is a 413, as over HTTP/1.1.
    rc, version, code, body = curl(pki, base + STATUS, *auth, "-X", "PUT",
                                   "-H", "Content-Type: application/json",
                                   "--data-binary", "x" * (MAX_BODY + 1))
    assert (version, code, body) == ("2", 413, '{"message":"Request Entity Too Large."}')


@needs_curl_h2
def test_http2_larger_bodies_are_refused_without_reaching_the_api(tls_server, pki, tmp_path):
    """h2o 2.2 stops reading an HTTP/2 body past its limit with a stream
    reset (REFUSED_STREAM), not a 413 (docs/api.md). The request must never
    reach the handler, and the server carries on."""
    srv, cid, secret = tls_server
    base = f"https://127.0.0.1:{srv.port}"
    token = https_token(srv.port, trusting(pki), cid, secret)
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"number_customergauge": 7003, "status": "open",
                               "note": "x" * 70000}))
    rc, version, code, body = curl(pki, base + STATUS, "-H", f"Authorization: Bearer {token}",
                                   "-X", "PUT", "-H", "Content-Type: application/json",
                                   "--data-binary", f"@{big}")
    assert code in (0, 413), (rc, code, body)
    status, _, body = https(srv.port, trusting(pki), "GET", SYNC + "?per_page=1000",
                            headers={"Authorization": f"Bearer {token}"})
    assert status == 200
    assert 7003 not in [c["number_customergauge"] for c in json.loads(body)["data"]]


# ---- the command line ------------------------------------------------------------------


@pytest.mark.parametrize("args, words", [
    (["--tls-cert", "{pki}/server.pem"], "give both or neither"),
    (["--tls-key", "{pki}/server.key"], "give both or neither"),
    (["--tls-cert", "{pki}/missing.pem", "--tls-key", "{pki}/server.key"], "cannot read"),
    (["--tls-cert", "{pki}/server.pem", "--tls-key", "{pki}/missing.key"], "cannot read"),
    (["--tls-cert", "{pki}/server.pem", "--tls-key", "{pki}/stranger.key"], "does not match"),
    (["--tls-cert", "{pki}/server.pem", "--tls-key", "{pki}/rsa.key"], "does not match"),
    (["--tls-cert", "{pki}/server.pem", "--tls-key", "{pki}/server.pem"], "no PEM private key"),
    (["--tls-cert", "{pki}/server.ext", "--tls-key", "{pki}/server.key"], "no PEM data"),
    (["--tls-cert", "{pki}/server.key", "--tls-key", "{pki}/server.key"], "no PEM data"),
    (["--tls-cert", "{pki}/server.pem", "--tls-key", "{pki}/server.ext"], "no PEM private key"),
])
def test_serve_refuses_bad_tls_files(binary, pki, tmp_path, args, words):
    db = new_db(tmp_path, "never")
    argv = ["serve", "--listen", "127.0.0.1:0", *[a.format(pki=pki) for a in args]]
    p = run_cli(binary, *argv, db=db, timeout=20)
    assert p.returncode == EXIT_USAGE, (p.returncode, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("closeloop: "), p.stderr
    assert words in lines[0], lines[0]
    assert not db_exists(db), "bad TLS files are refused before the database is touched"


def test_serve_help_lists_the_tls_flags(binary):
    p = run_cli(binary, "serve", "--help")
    assert p.returncode == 0
    for flag in ("--tls-cert", "--tls-key", "--max-connections", "--request-timeout-ms"):
        assert flag in p.stdout


# ---- closeloop sync over HTTPS ------------------------------------------------------------


def sync_env(cid, secret):
    return {"CLOSELOOP_CLIENT_ID": cid, "CLOSELOOP_CLIENT_SECRET": secret}


def all_cases_https(port, ctx, token):
    cases, cursor = {}, 0
    while True:
        status, _, body = https(port, ctx, "GET", f"{SYNC}?per_page=1000&cursor={cursor}",
                                headers={"Authorization": f"Bearer {token}"})
        assert status == 200, body
        page = json.loads(body)
        if not page["data"]:
            return cases
        cases.update({c["id"]: c for c in page["data"]})
        cursor = page["cursor"]["next"]


def test_sync_over_https_with_the_test_ca(binary, pki, tmp_path, servers):
    db = new_db(tmp_path, "server")
    cid, secret = create_app(binary, db)
    p = run_cli(binary, "seed", "--cases", "600", db=db, timeout=120)
    assert p.returncode == 0, p.stderr
    srv = servers()
    srv.start(db, threads=2, extra=tls_args(pki))
    url = f"https://127.0.0.1:{srv.port}"
    out = tmp_path / "mirror.db"
    p = run_cli(binary, "sync", "--base-url", url, "--ca-file", str(pki / "ca.pem"),
                "--per-page", "100", "--output", f"sqlite:{out}", env=sync_env(cid, secret))
    assert p.returncode == 0, p.stderr
    ctx = trusting(pki)
    expected = all_cases_https(srv.port, ctx, https_token(srv.port, ctx, cid, secret))
    con = sqlite3.connect(str(out))
    try:
        got = dict(con.execute("SELECT id, updated_at FROM close_loop_cases").fetchall())
    finally:
        con.close()
    assert len(expected) == 600
    assert got == {i: c["updated_at"] for i, c in expected.items()}
    # JSONL over the same connection type, byte for byte what the API sent.
    p = run_cli(binary, "sync", "--base-url", url, "--ca-file", str(pki / "ca.pem"),
                "--output", str(tmp_path / "m.jsonl"), env=sync_env(cid, secret))
    assert p.returncode == 0, p.stderr
    lines = (tmp_path / "m.jsonl").read_text().splitlines()
    assert {json.loads(line)["id"] for line in lines} == set(expected)


@pytest.mark.parametrize("ca", [None, "other-ca.pem"], ids=["system-store", "other-ca"])
def test_sync_without_the_ca_fails_fast(binary, pki, tmp_path, tls_server, ca):
    """A certificate that does not verify is not retried until the deadline:
    exit 4 at once, with the reason on one line."""
    srv, cid, secret = tls_server
    args = ["sync", "--base-url", f"https://127.0.0.1:{srv.port}", "--deadline", "60",
            "--output", str(tmp_path / "never.jsonl")]
    if ca:
        args += ["--ca-file", str(pki / ca)]
    started = time.monotonic()
    p = run_cli(binary, *args, env=sync_env(cid, secret))
    assert p.returncode == EXIT_NETWORK, p.stderr
    assert time.monotonic() - started < 5, "a certificate failure must not be retried"
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "certificate" in lines[0].lower(), p.stderr
    assert secret not in p.stderr


def test_sync_with_an_unreadable_ca_file_is_a_usage_error(binary, pki, tmp_path, tls_server):
    srv, cid, secret = tls_server
    p = run_cli(binary, "sync", "--base-url", f"https://127.0.0.1:{srv.port}",
                "--ca-file", str(tmp_path / "missing.pem"), env=sync_env(cid, secret))
    assert p.returncode == EXIT_USAGE, p.stderr
    assert "--ca-file" in p.stderr and len(p.stderr.strip().splitlines()) == 1


# ---- limits over TLS ------------------------------------------------------------------------


def test_connection_cap_over_tls_answers_503(binary, pki, tmp_path, servers):
    """Over the cap a TLS client still completes a handshake and reads a
    plain HTTP/1.1 503 with a JSON body, then the connection closes."""
    db = new_db(tmp_path, "cap")
    create_app(binary, db)
    srv = servers()
    srv.start(db, threads=1, extra=(*tls_args(pki), "--max-connections", "2"))
    ctx = trusting(pki, ["h2", "http/1.1"])
    held = []
    try:
        for _ in range(2):
            s = ctx.wrap_socket(socket.create_connection((HOST, srv.port), timeout=HTTP_TIMEOUT),
                                server_hostname="127.0.0.1")
            held.append(s)
        s = ctx.wrap_socket(socket.create_connection((HOST, srv.port), timeout=5),
                            server_hostname="127.0.0.1")
        held.append(s)
        assert s.selected_alpn_protocol() is None  # so the client speaks HTTP/1.1
        started = time.monotonic()
        r = http.client.HTTPResponse(s)
        r.begin()
        body = r.read()
        assert r.status == 503 and json.loads(body) == SERVICE_UNAVAILABLE
        assert r.getheader("Content-Type") == "application/json"
        assert r.getheader("Connection") == "close"
        assert time.monotonic() - started < 2
    finally:
        for s in held:
            s.close()
    # The held connections are gone; the cap makes room again.
    ok = False
    deadline = time.monotonic() + 5
    while not ok and time.monotonic() < deadline:
        ok = https(srv.port, trusting(pki), "GET", "/nope")[0] == 404
    assert ok


def test_a_silent_tls_client_is_cut_off(binary, pki, tmp_path, servers):
    """A client that connects and never starts the handshake is closed after
    the request timeout, like a client that never sends its request."""
    db = new_db(tmp_path, "slow")
    create_app(binary, db)
    srv = servers()
    srv.start(db, threads=1, extra=(*tls_args(pki), "--request-timeout-ms", "1000"))
    with socket.create_connection((HOST, srv.port), timeout=10) as s:
        started = time.monotonic()
        try:
            assert s.recv(1) == b""
        except ConnectionResetError:
            pass
        took = time.monotonic() - started
    assert 0.8 <= took < 4, took


def test_graceful_shutdown_with_idle_tls_connections(binary, pki, tmp_path, servers):
    """SIGTERM with an idle HTTP/2 connection and an idle kept-alive
    HTTPS/1.1 connection open: the server still exits cleanly and promptly."""
    db = new_db(tmp_path, "stop")
    create_app(binary, db)
    srv = servers()
    srv.start(db, threads=2, extra=tls_args(pki))
    ctx = trusting(pki, ["h2", "http/1.1"])
    h2 = ctx.wrap_socket(socket.create_connection((HOST, srv.port), timeout=10),
                         server_hostname="127.0.0.1")
    h1 = http.client.HTTPSConnection(HOST, srv.port, timeout=10, context=trusting(pki))
    try:
        assert h2.selected_alpn_protocol() == "h2"
        # The client preface and an empty SETTINGS frame: a live HTTP/2
        # connection with no stream open.
        h2.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))
        h1.request("GET", "/nope")
        r = h1.getresponse()
        r.read()
        assert r.status == 404
        started = time.monotonic()
        assert srv.signal(signal.SIGTERM, timeout=8) == 0, srv.stderr()[-2000:]
        assert time.monotonic() - started < 6
    finally:
        h2.close()
        h1.close()


# ---- HTTP/2 request deadline ------------------------------------------------------------------


def h2_frame(kind, flags, stream, payload=b""):
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload


def h2_literal(name, value):
    """An HPACK literal header field without indexing, new name, no Huffman
    coding (RFC 7541 §6.2.2): the simplest encoding a server must accept."""
    n, v = name.encode(), value.encode()
    return b"\x00" + bytes([len(n)]) + n + bytes([len(v)]) + v


H2_DATA, H2_HEADERS, H2_RST, H2_SETTINGS, H2_GOAWAY = 0, 1, 3, 4, 7
END_STREAM, END_HEADERS, ACK = 1, 4, 1


class H2:
    """Just enough of an HTTP/2 client to send requests frame by frame and
    see when a stream ends or the connection closes."""

    def __init__(self, port, pki):
        ctx = trusting(pki, ["h2"])
        self.sock = ctx.wrap_socket(socket.create_connection((HOST, port), timeout=10),
                                    server_hostname="127.0.0.1")
        assert self.sock.selected_alpn_protocol() == "h2"
        self.sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + h2_frame(H2_SETTINGS, 0, 0))
        self.buf = b""

    def headers(self, stream, method, path, extra=(), end_stream=True):
        block = b"".join(h2_literal(k, v) for k, v in [(":method", method), (":scheme", "https"),
                                                        (":path", path),
                                                        (":authority", "127.0.0.1"), *extra])
        self.sock.sendall(h2_frame(H2_HEADERS, END_HEADERS | (END_STREAM if end_stream else 0),
                                   stream, block))

    def frames(self, limit):
        """Yields (kind, flags, stream, payload) for limit seconds; returns
        early when the connection closes, leaving self.closed set."""
        self.closed = False
        deadline = time.monotonic() + limit
        while True:
            while len(self.buf) >= 9 and len(self.buf) >= 9 + int.from_bytes(self.buf[:3], "big"):
                n = int.from_bytes(self.buf[:3], "big")
                kind, flags, stream = self.buf[3], self.buf[4], int.from_bytes(self.buf[5:9], "big")
                payload, self.buf = self.buf[9:9 + n], self.buf[9 + n:]
                if kind == H2_SETTINGS and not flags & ACK:
                    self.sock.sendall(h2_frame(H2_SETTINGS, ACK, 0))
                yield kind, flags, stream & 0x7FFFFFFF, payload
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return
            except (ConnectionResetError, ssl.SSLError):
                chunk = b""
            if not chunk:
                self.closed = True
                return
            self.buf += chunk

    def response_body(self, stream, limit=5):
        body = b""
        for kind, flags, sid, payload in self.frames(limit):
            if sid == stream and kind == H2_DATA:
                body += payload
            if sid == stream and kind in (H2_DATA, H2_HEADERS) and flags & END_STREAM:
                return body
            if kind == H2_RST and sid == stream or kind == H2_GOAWAY:
                return None
        return None

    def close(self):
        self.sock.close()


@pytest.fixture
def deadline_server(binary, pki, tmp_path, servers):
    db = new_db(tmp_path, "h2")
    cid, secret = create_app(binary, db)
    srv = servers()
    srv.start(db, threads=1, extra=(*tls_args(pki), "--request-timeout-ms", "1000"))
    return srv, https_token(srv.port, trusting(pki), cid, secret)


@pytest.mark.parametrize("kind", ["slow-body", "idle"])
def test_http2_connection_without_a_whole_request_is_cut_off(deadline_server, pki, kind):
    """Over HTTP/2, as over HTTP/1.1, a request must arrive whole within the
    request timeout: a client dripping its body a byte at a time, or saying
    nothing at all, loses its connection."""
    srv, token = deadline_server
    h2 = H2(srv.port, pki)
    try:
        started = time.monotonic()
        if kind == "slow-body":
            h2.headers(1, "PUT", STATUS, [("authorization", f"Bearer {token}"),
                                          ("content-type", "application/json"),
                                          ("content-length", "100")], end_stream=False)
        while time.monotonic() - started < 6:
            if kind == "slow-body":
                try:
                    h2.sock.sendall(h2_frame(H2_DATA, 0, 1, b" "))
                except OSError:
                    break
            for _ in h2.frames(0.2):
                pass
            if h2.closed:
                break
        took = time.monotonic() - started
    finally:
        h2.close()
    assert h2.closed, "the connection was never closed"
    assert 0.8 <= took <= 3.5, took


def test_http2_prompt_client_keeps_its_connection(deadline_server, pki):
    """Requests that arrive whole keep the connection alive well past the
    request timeout."""
    srv, _ = deadline_server
    h2 = H2(srv.port, pki)
    try:
        started = time.monotonic()
        for i in range(8):
            stream = 2 * i + 1
            h2.headers(stream, "GET", "/nope")
            assert h2.response_body(stream) == b'{"message":"Not Found."}', i
            time.sleep(0.3)
        assert time.monotonic() - started > 2
        h2.headers(99, "GET", "/nope")
        assert h2.response_body(99) == b'{"message":"Not Found."}'
    finally:
        h2.close()
