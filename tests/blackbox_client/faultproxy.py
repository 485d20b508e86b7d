"""A tiny fault-injecting HTTP proxy for the client's retry and token tests.

It sits between `closeloop sync` and the real `closeloop serve`, forwards
every request, and, as a test's plan says, answers some of them itself with
a 429 (with Retry-After), a 503, a 401 or any other status instead of
forwarding them. It records every request (method, path, status returned,
time, which TCP connection) so tests can check the client's behaviour:
how many tokens it fetched, how long it waited, whether it reused its
connection, what it asked for in Accept-Encoding. With gzip set, it
compresses the upstream's answers for clients that accept gzip, as the real
CustomerGauge hosts behind their CDN may. Threaded, standard library only,
127.0.0.1 only.
"""

import gzip
import http.client
import http.server
import itertools
import json
import threading
import time

HOST = "127.0.0.1"
UPSTREAM_TIMEOUT = 10
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authenticate", "proxy-authorization", "content-length"}

FAULT_BODIES = {
    401: {"message": "Unauthenticated."},
    422: {"message": "The per page must be between 1 and 1000.",
          "errors": {"per_page": ["The per page must be between 1 and 1000."]}},
    429: {"message": "Too Many Attempts."},
    500: {"message": "Server Error"},
    503: {"message": "Service Unavailable"},
}


class Event:
    def __init__(self, method, path, status, injected, conn, t, accept_encoding="",
                 gzipped=False):
        self.method, self.path, self.status = method, path, status
        self.injected, self.conn, self.t = injected, conn, t
        self.accept_encoding, self.gzipped = accept_encoding, gzipped

    def __repr__(self):
        return f"<{self.method} {self.path} -> {self.status}{' (injected)' if self.injected else ''}>"


class FaultProxy:
    """plan: {(method, path): {n: status}} answers the n-th (1-based) such
    request with status itself; always: {(method, path): status} answers
    every one; delay: seconds added before forwarding each request."""

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.plan = {}
        self.always = {}
        self.retry_after = "1"
        self.delay = 0.0
        self.gzip = False
        self.transform = None  # body -> body, applied to every forwarded 200 (tokens too)
        self.events = []
        self._counts = {}
        self._lock = threading.Lock()
        self._conn_ids = itertools.count(1)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like the real server

            def setup(self):
                super().setup()
                self.conn_id = next(proxy._conn_ids)

            def log_message(self, *args):
                pass

            def do_GET(self):
                proxy._handle(self)

            do_POST = do_PUT = do_GET

        self.httpd = http.server.ThreadingHTTPServer((HOST, 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://{HOST}:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def requests(self, method, path):
        return [e for e in self.events if e.method == method and e.path == path]

    def connections(self):
        return {e.conn for e in self.events}

    def _fault_for(self, key):
        with self._lock:
            n = self._counts[key] = self._counts.get(key, 0) + 1
        if key in self.always:
            return self.always[key]
        return self.plan.get(key, {}).get(n)

    def _handle(self, h):
        path = h.path.split("?", 1)[0]
        key = (h.command, path)
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else None
        status = self._fault_for(key)
        if status is not None:
            data = json.dumps(FAULT_BODIES.get(status, {"message": "Injected."})).encode()
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            if status in (429, 503) and self.retry_after is not None:
                h.send_header("Retry-After", self.retry_after)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
            self._record(h, path, status, True)
            return
        if self.delay:
            time.sleep(self.delay)
        headers = {k: v for k, v in h.headers.items() if k.lower() not in HOP_BY_HOP}
        up = http.client.HTTPConnection(HOST, self.upstream_port, timeout=UPSTREAM_TIMEOUT)
        try:
            up.request(h.command, h.path, body=body, headers=headers)
            r = up.getresponse()
            data = r.read()
            if self.transform and r.status == 200:
                data = self.transform(data)
            gzipped = self.gzip and "gzip" in h.headers.get("Accept-Encoding", "")
            if gzipped:
                data = gzip.compress(data)
            h.send_response(r.status)
            for k, v in r.getheaders():
                if k.lower() not in HOP_BY_HOP:
                    h.send_header(k, v)
            if gzipped:
                h.send_header("Content-Encoding", "gzip")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
            self._record(h, path, r.status, False, gzipped)
        finally:
            up.close()

    def _record(self, h, path, status, injected, gzipped=False):
        with self._lock:
            self.events.append(Event(h.command, path, status, injected, h.conn_id, time.monotonic(),
                                     h.headers.get("Accept-Encoding", ""), gzipped))
