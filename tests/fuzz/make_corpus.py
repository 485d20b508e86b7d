#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets: tests/fuzz/corpus/<target>/.

The seeds are committed; run this again only to change them. Each seed is a
small, meaningful input: a real request, date, token or page, or an edge case
one of the parsers must get right. Tokens are signed here with the fuzz
targets' fixed key, so that fuzz_token and fuzz_auth_header reach the code
behind the signature check. The pages under corpus/page/real-*.json are
responses of `closeloop serve --demo` and are kept as they are.
"""
import base64
import hashlib
import hmac
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = b"closeloop-fuzz-token-key-32bytes"  # as in fuzz_token.c and fuzz_auth_header.c
FAR = 253402300799  # 9999-12-31 23:59:59
EU, US, AU = 0, 1, 2
READ, WRITE = 1, 2


def token(app_id, generation, scopes, region, expires_at, key=KEY):
    payload = struct.pack(">BqqBBq", 1, app_id, generation, scopes, region, expires_at)
    signed = "cl1." + base64.urlsafe_b64encode(payload).decode().rstrip("=")
    mac = hmac.new(key, signed.encode(), hashlib.sha256).digest()
    return signed + "." + base64.urlsafe_b64encode(mac).decode().rstrip("=")


def basic(client_id, secret, pad=True):
    from urllib.parse import quote_plus
    raw = (quote_plus(client_id) + ":" + quote_plus(secret)).encode()
    enc = base64.b64encode(raw).decode()
    return "Basic " + (enc if pad else enc.rstrip("="))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


CLIENT_ID = "103e4ccb71814132b787b6e198166f74"
SECRET = "pEGrLdc5xNIj7N7dKuRCrFTMXRxsr04njgOGrq-ehfY"

FORMS = {
    "sync-query": "per_page=25",
    "sync-query-full": "per_page=25&cursor=33&updated_at%5Bstart%5D=2020-01-01"
                       "&updated_at%5Bend%5D=2026-12-31+23:59:59",
    "token-body": f"grant_type=client_credentials&client_id={CLIENT_ID}&client_secret={SECRET}"
                  "&scope=read+write",
    "assignee-unassign": "number_customergauge=2&assignee=",
    "status-note": "number_customergauge=1&status=progress&note=Called+back+%E2%80%94+%C3%BCmlaut",
    "empty-pairs": "a=1&&b=2&=x&y=&z&",
    "repeated": "a=1&a=2&A=3",
    "bad-escape": "note=%zz",
    "short-escape": "note=50%4",
    "nul-escape": "note=a%00b",
    "too-many": "&".join(f"p{i}={i}" for i in range(33)),
    "exactly-max": "&".join(f"p{i}" for i in range(32)),
    "equals-in-value": "k==v=w",
    "raw-utf8": "note=\u00fcml\u00e4ut \u2713",
}

DATES = ["2024-02-29", "2023-02-29", "1970-01-01", "9999-12-31", "2022-02-30", "2024-1-01",
         "2024-02-29 23:59:59", "2024-02-29 1:2:3", "9999-12-31 23:59:59", "1970-01-01 00:00:00",
         "2024-02-29 24:00:00", "2024-02-29 1:2:3 ", "2024-02-29  1:02:03", "2024-02-29 001:02:03",
         "1969-12-31 23:59:59", "+024-02-29", "2024-02-29T01:02:03"]

JSON_STRINGS = {
    "ascii": b"Called back",
    "escapes": b'a"b\\c\nd\te\x01\x1f\x7f/',
    "utf8": "Called back \u2014 \u00fcml\u00e4ut \u2713 \U0001F600".encode(),
    "overlong": b"\xc0\x80 \xe0\x80\x80 \xf0\x80\x80\x80",
    "surrogate": b"\xed\xa0\x80\xed\xbf\xbf",
    "beyond-max": b"\xf4\x90\x80\x80",
    "stray": b"\x80\xbf\xfe\xff",
    "truncated": b"ok \xe2\x82",
    "nul": b"a\x00b",
    "boundaries": b"\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf",
}

# case_body: first byte the Content-Type (0 JSON, 1 form, 2 JSON with
# parameters, 3 form with charset, 4 text/plain, 5 none, 6 and 7: the first
# line of the input), second byte the kind (0 status, 1 assignee, 2 comment).
CASE_BODIES = {
    "json-status": (0, 0, '{"number_customergauge":1,"status":"progress","note":"Called back"}'),
    "json-status-str": (0, 0, '{"number_customergauge":"12","status":"closed",'
                              '"happened_at":"2024-02-29 1:2:3"}'),
    "json-assign": (0, 1, '{"number_customergauge":2,"assignee":"johndoe"}'),
    "json-unassign": (0, 1, '{"number_customergauge":2,"assignee":null}'),
    "json-comment": (2, 2, '{"number_customergauge":3,"note":"\u00fcml\u00e4ut \u2713 \\ud83d\\ude00",'
                           '"happened_at":"2024-01-01 00:00:00"}'),
    "json-bignum": (0, 0, '{"number_customergauge":99999999999999999999999,"status":"open"}'),
    "json-types": (0, 0, '{"number_customergauge":1.5,"status":["open"],"note":{}}'),
    "json-dup": (0, 0, '{"number_customergauge":1,"number_customergauge":2,"status":"open"}'),
    "json-array": (0, 2, '[{"number_customergauge":1}]'),
    "json-malformed": (0, 2, '{"number_customergauge":1,'),
    "json-empty-strings": (0, 1, '{"number_customergauge":"","assignee":""}'),
    "form-status": (1, 0, "number_customergauge=1&status=open&note=Called+back"),
    "form-assign": (3, 1, "number_customergauge=2&assignee=john.doe%40example.com"),
    "form-repeated": (1, 2, "number_customergauge=3&note=%E2%9C%93&note=x"),
    "form-bad-utf8": (1, 2, "number_customergauge=3&note=%C0%80"),
    "form-note-too-long": (1, 2, "number_customergauge=4&note=" + "x" * 5001),
    "form-bad-escape": (1, 0, "number_customergauge=1&status=%zz"),
    "text-plain": (4, 0, "number_customergauge=1&status=open"),
    "no-type": (5, 0, '{"number_customergauge":1,"status":"open"}'),
    "empty-body": (0, 0, ""),
    "own-type": (6, 0, 'Application/Json ; charset=utf-8\n{"number_customergauge":7,"status":"open"}'),
    "own-type-form": (7, 1, "application/x-www-form-urlencoded\nnumber_customergauge=7&assignee="),
}

PAGES = {
    "pretty": json.dumps({"data": [{"id": 7, "number_customergauge": 7, "status": "progress",
                                    "assignee": {"id": 3, "username": "mariadoe",
                                                 "email": "maria.doe@example.com"},
                                    "time_to_follow_up": 55, "time_to_close": None,
                                    "created_at": "2026-10-04 22:30:35",
                                    "updated_at": "2026-10-07 05:40:54"}],
                          "cursor": {"next": 7}}, indent=2),
    "escapes": '{"data":[{"id":1,"status":"open","assignee":{"id":null,"username":"\\u00fcml\\u00e4ut'
               ' \\ud83d\\ude00 \\"q\\" \\\\ \\/ \\b\\f\\n\\r\\t","email":null},"created_at":'
               '"2026-10-04 22:30:35"}],"cursor":{"next":1}}',
    "unknown-keys": '{"data":[{"id":2,"extra":{"a":[1,2.5e3,-0,true,false,null,{"b":"c"}]},'
                    '"number_customergauge":2}],"meta":{"x":[[]]},"cursor":{"next":2,"prev":null}}',
    "lenient-ints": '{"data":[{"id":"3","number_customergauge":3.0,"time_to_follow_up":1e2,'
                    '"time_to_close":null}],"cursor":{"next":"3"}}',
    "empty": '{"data":[],"cursor":{"next":0}}',
    "no-cursor": '{"data":[{"id":1}]}',
    "null-next": '{"data":[],"cursor":{"next":null}}',
    "repeated-data": '{"data":[],"data":[],"cursor":{"next":1}}',
    "no-id": '{"data":[{"number_customergauge":1}],"cursor":{"next":1}}',
    "trailing": '{"data":[],"cursor":{"next":1}} x',
    "deep": '{"data":[{"id":1,"x":' + "[" * 40 + "]" * 40 + '}],"cursor":{"next":1}}',
    "big-numbers": '{"data":[{"id":9223372036854775807,"y":18446744073709551616,'
                   '"time_to_close":-9223372036854775808}],"cursor":{"next":1.5}}',
    "bad-utf8": b'{"data":[{"id":1,"status":"\xc0\x80"}],"cursor":{"next":1}}',
    "nul-escape": '{"data":[{"id":1,"status":"a\\u0000b"}],"cursor":{"next":1}}',
    "lone-surrogate": '{"data":[{"id":1,"status":"\\ud800"}],"cursor":{"next":1}}',
    "fraction-at-end": '{"data":[{"id":1.5',
}


def main():
    for name, body in FORMS.items():
        write("form", name, body)
    for i, d in enumerate(DATES):
        write("date", f"date-{i:02d}", d)
    write("date", "epoch-max", struct.pack("<q", FAR) + b"rest")
    write("date", "epoch-neg", struct.pack("<q", -1) + b"-----")
    for name, s in JSON_STRINGS.items():
        write("json_write", name, s)
    for name, (ct, kind, body) in CASE_BODIES.items():
        write("case_body", name, bytes([ct, kind]) + body.encode())

    tokens = {
        "live-rw": token(1, 1, READ | WRITE, EU, FAR),
        "live-read": token(1, 1, READ, EU, FAR),
        "live-write": token(1, 1, WRITE, EU, FAR),
        "revoked-app": token(2, 1, READ | WRITE, EU, FAR),
        "old-generation": token(1, 0, READ | WRITE, EU, FAR),
        "unknown-app": token(3, 1, READ, EU, FAR),
        "expired": token(1, 1, READ, EU, 1000),
        "region-us": token(1, 1, READ, US, FAR),
        "other-key": token(1, 1, READ, EU, FAR, key=b"x" * 32),
    }
    for name, t in tokens.items():
        write("token", name, t)
        write("auth_header", "bearer-" + name, "Bearer " + t)
    write("token", "truncated", tokens["live-rw"][:-1])
    write("token", "padded", tokens["live-rw"] + "=")
    write("auth_header", "bearer-lower", "bearer " + tokens["live-read"])
    write("auth_header", "bearer-two-spaces", "Bearer  " + tokens["live-read"])
    write("auth_header", "bearer-garbage", "Bearer x")
    write("auth_header", "bearer-bare", "Bearer")
    write("auth_header", "basic", basic(CLIENT_ID, SECRET))
    write("auth_header", "basic-unpadded", basic(CLIENT_ID, "s\u00e9cret:+ %", pad=False))
    write("auth_header", "basic-lower-spaces", "basic   " + basic("a", "b")[6:])
    write("auth_header", "basic-garbage", "Basic !!!not-base64!!!")
    write("auth_header", "basic-no-colon", "Basic dXNlcg")
    write("auth_header", "basic-long-id", basic("i" * 65, "s"))
    write("auth_header", "basic-empty-secret", basic(CLIENT_ID, ""))
    write("auth_header", "base64-url", base64.urlsafe_b64encode(b"\xfb\xff\xfe").decode())

    pages = os.path.join(HERE, "corpus", "page")
    os.makedirs(pages, exist_ok=True)
    for name, body in PAGES.items():
        write("page", name + ".json", body)
    print("wrote", sum(len(files) for _, _, files in os.walk(os.path.join(HERE, "corpus"))),
          "seeds", file=sys.stderr)


if __name__ == "__main__":
    main()
