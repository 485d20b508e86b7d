"""The OpenAPI document as a test oracle.

`Contract.check(resp, path, method)` looks up what docs/openapi.yaml says the
operation answers with resp's status, then checks the real response against
it: the status is documented, the Content-Type is one of the documented media
types, every required documented header is there and matches its schema, and
the body validates against the documented JSON Schema (OpenAPI 3.1 schemas are
JSON Schema 2020-12). Every check is recorded, so that a test can ask whether
every documented response was seen for real.

Only the standard library, PyYAML and jsonschema (Debian: python3-yaml,
python3-jsonschema).
"""

import json
import os

import jsonschema
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPEC_PATH = os.path.join(ROOT, "docs", "openapi.yaml")
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def load_spec(path=SPEC_PATH):
    with open(path, "rb") as f:
        return f.read()


def _strict_object(pairs):
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), f"duplicate keys in JSON object: {keys}"
    return dict(pairs)


class Contract:
    def __init__(self, raw):
        self.raw = raw
        self.doc = yaml.safe_load(raw)
        assert self.doc["openapi"].startswith("3.1."), self.doc["openapi"]
        self.seen = set()  # (path, method, status) checked against a real response
        self._validators = {}

    # -- the document ----------------------------------------------------------

    def deref(self, node):
        """Follows a local $ref ("#/components/...") to what it names."""
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            assert ref.startswith("#/"), f"only local references are used: {ref}"
            node = self.doc
            for part in ref[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def operation(self, path, method):
        item = self.doc["paths"].get(path)
        assert item is not None, f"{path} is not in the OpenAPI document"
        op = item.get(method.lower())
        assert op is not None, f"{method} {path} is not in the OpenAPI document"
        return op

    def operations(self):
        """Every (path, METHOD) the document lists."""
        for path, item in self.doc["paths"].items():
            for method in ("get", "put", "post", "delete", "patch", "head", "options"):
                if method in item:
                    yield path, method.upper()

    def documented(self):
        """Every (path, METHOD, status) the document lists."""
        for path, method in self.operations():
            for status in self.operation(path, method)["responses"]:
                yield path, method, int(status)

    def response(self, path, method, status):
        """The documented response object, or for path None a components one."""
        responses = self.operation(path, method)["responses"]
        resp = responses.get(str(status))
        assert resp is not None, (
            f"{method} {path} answered {status}, which the OpenAPI document does not list "
            f"(it lists {sorted(responses)})"
        )
        return self.deref(resp)

    def schema(self, name):
        return self.doc["components"]["schemas"][name]

    # -- validation -------------------------------------------------------------

    def validator(self, schema):
        key = json.dumps(schema, sort_keys=True)
        v = self._validators.get(key)
        if v is None:
            # The document's components ride along, so that "#/components/..."
            # references resolve against the document itself.
            root = dict(schema)
            root["$schema"] = DIALECT
            root["components"] = self.doc["components"]
            jsonschema.Draft202012Validator.check_schema(root)
            v = jsonschema.Draft202012Validator(root, format_checker=jsonschema.FormatChecker())
            self._validators[key] = v
        return v

    def validate(self, instance, schema, what):
        errors = sorted(self.validator(schema).iter_errors(instance), key=lambda e: list(e.path))
        assert not errors, f"{what} does not match its schema:\n" + "\n".join(
            f"  at {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors[:10]
        )

    def check_response(self, resp, documented, what, method):
        """Checks resp (harness.Resp) against a documented response object."""
        for name, header in (documented.get("headers") or {}).items():
            header = self.deref(header)
            value = resp.header(name)
            if header.get("required"):
                assert value is not None, f"{what}: documented header {name} is missing"
            if value is not None:
                self.validate(value, header["schema"], f"{what}: header {name}: {value!r}")

        content = documented.get("content")
        ctype = (resp.header("Content-Type") or "").split(";")[0].strip().lower()
        if not content:
            assert not resp.body, f"{what}: documented without a body, got {resp.body[:200]!r}"
            return None
        assert ctype in content, f"{what}: Content-Type {ctype!r}, documented {sorted(content)}"
        if method == "HEAD":
            assert not resp.body, f"{what}: a HEAD response has no body"
            return None
        schema = content[ctype].get("schema", {})
        if ctype == "application/json":
            body = json.loads(resp.body, object_pairs_hook=_strict_object)
        else:
            body = resp.body.decode("utf-8")
        self.validate(body, schema, f"{what}: body {resp.body[:300]!r}")
        return body

    def check(self, resp, path, method, expect=None):
        """Checks a real response of METHOD path; returns the parsed body.
        With expect, the status must also be that one. A method the path does
        not list (HEAD included) must get the path's documented 405."""
        what = f"{method} {path} -> {resp.status}"
        if expect is not None:
            assert resp.status == expect, f"{what}: expected {expect}: {resp.body[:300]!r}"
        methods = [m for p, m in self.operations() if p == path]
        assert methods, f"{path} is not in the OpenAPI document"
        documented_method = method
        if method not in methods:
            assert resp.status == 405, f"{what}: a method {path} does not list must get its 405"
            documented_method = methods[0]
        documented = self.response(path, documented_method, resp.status)
        self.seen.add((path, documented_method, resp.status))
        return self.check_response(resp, documented, what, method)

    def check_component(self, resp, name, expect):
        """Checks resp against components.responses[name] (for answers no
        operation lists, such as the 404 of an unknown path)."""
        what = f"components/responses/{name} -> {resp.status}"
        assert resp.status == expect, f"{what}: expected {expect}: {resp.body[:300]!r}"
        return self.check_response(resp, self.doc["components"]["responses"][name], what, "GET")
