"""The command line of `closeloop sync`: usage errors, where the secret comes
from, output errors, and memory that does not grow with the sync."""

import os
import socket
import subprocess
import threading

import pytest

from client_harness import CLI_TIMEOUT, clean_env, read_jsonl


def run(binary, *args, env=None, cwd=None):
    return subprocess.run([binary, "sync", *map(str, args)], capture_output=True, text=True,
                          timeout=CLI_TIMEOUT, env=env if env is not None else clean_env(), cwd=cwd)


CREDS = {"CLOSELOOP_CLIENT_ID": "id", "CLOSELOOP_CLIENT_SECRET": "s3cr3t"}


def test_help_lists_the_options(binary):
    p = run(binary, "--help")
    assert p.returncode == 0
    for opt in ("--region", "--base-url", "--since", "--until", "--per-page", "--cursor",
                "--state", "--format", "--output", "sqlite:", "--client-secret-file", "--quiet"):
        assert opt in p.stdout


@pytest.mark.parametrize("args", [
    ["--base-url", "http://127.0.0.1:1", "--since", "2022-02-30"],
    ["--base-url", "http://127.0.0.1:1", "--until", "2022-13-01"],
    ["--base-url", "http://127.0.0.1:1", "--since", "2022-05-02", "--until", "2022-05-01"],
    ["--base-url", "http://127.0.0.1:1", "--per-page", "0"],
    ["--base-url", "http://127.0.0.1:1", "--per-page", "1001"],
    ["--base-url", "http://127.0.0.1:1", "--cursor", "-1"],
    ["--base-url", "http://127.0.0.1:1", "--format", "xml"],
    ["--base-url", "http://127.0.0.1:1", "--output", "sqlite:"],
    ["--base-url", "http://127.0.0.1:1", "--output", "sqlite:x.db", "--state", "s.json"],
    ["--region", "mars"],
    ["--region", "eu", "--base-url", "http://127.0.0.1:1"],
    [],
    ["--base-url", "http://127.0.0.1:1", "--bogus"],
    ["--base-url", "http://127.0.0.1:1", "--client-secret", "s3cr3t"],
])
def test_usage_errors_exit_2_with_one_line(binary, args, tmp_path):
    p = run(binary, *args, env=clean_env(**CREDS), cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and p.stderr.startswith("closeloop: ")
    assert not (tmp_path / "x.db").exists()


def test_credentials_are_required_but_never_on_argv(binary):
    p = run(binary, "--base-url", "http://127.0.0.1:1", env=clean_env(CLOSELOOP_CLIENT_ID="id"))
    assert p.returncode == 2 and "CLOSELOOP_CLIENT_SECRET" in p.stderr
    p = run(binary, "--base-url", "http://127.0.0.1:1",
            env=clean_env(CLOSELOOP_CLIENT_SECRET="x"))
    assert p.returncode == 2 and "client id" in p.stderr


def test_secret_file_and_client_id_flag(deploy, tmp_path):
    d = deploy(cases=30)
    secret = tmp_path / "secret"
    secret.write_text(d.secret + "\n")
    p = d.sync("--client-id", d.client_id, "--client-secret-file", secret,
               "--output", tmp_path / "o.jsonl", env=clean_env())
    assert p.returncode == 0, p.stderr
    assert len(read_jsonl(tmp_path / "o.jsonl")) == 30
    p = d.sync("--client-id", d.client_id, "--client-secret-file", tmp_path / "missing",
               env=clean_env())
    assert p.returncode == 2


def test_unwritable_output_is_exit_5(deploy, tmp_path):
    d = deploy(cases=5)
    p = d.sync("--output", tmp_path / "no" / "such" / "dir.jsonl")
    assert p.returncode == 5
    assert len(p.stderr.strip().splitlines()) == 1


def test_a_closed_pipe_is_exit_5(deploy):
    d = deploy(cases=3000)
    proc = subprocess.Popen([d.binary, "sync", "--base-url", d.url, "--per-page", "100"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=d.env())
    proc.stdout.read(10)
    proc.stdout.close()
    assert proc.wait(CLI_TIMEOUT) == 5
    proc.stderr.close()


def max_rss_kib(argv, env):
    """Peak resident memory of one child process, from wait4()."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.returncode == 0, err
    return usage.ru_maxrss


def sanitized(binary):
    with open(binary, "rb") as f:
        return b"__asan_init" in f.read()


def test_memory_does_not_grow_with_the_number_of_cases(binary, deploy, tmp_path):
    if sanitized(binary):
        pytest.skip("AddressSanitizer's quarantine keeps freed memory resident")
    small, large = deploy(cases=1000), deploy(cases=30000)
    rss = {}
    for name, d in (("small", small), ("large", large)):
        rss[name] = max_rss_kib([d.binary, "sync", "--base-url", d.url, "--quiet",
                                 "--output", f"sqlite:{tmp_path / name}.db"], d.env())
    # 30x the cases, the same pages of 1000: at most a little noise.
    assert rss["large"] <= rss["small"] + 4096, rss


@pytest.mark.parametrize("region", ["eu", "us", "au"])
def test_region_names_the_customergauge_hosts(binary, region):
    """--region resolves to https://auth.{region}.customergauge.com: seen,
    without any network, by an HTTPS proxy (the environment's https_proxy,
    which libcurl honours) that records the CONNECT it is asked for and
    refuses it."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    seen = []

    def accept():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            with c:
                seen.append(c.recv(4096).split(b"\r\n")[0].decode())

    threading.Thread(target=accept, daemon=True).start()
    proxy = f"http://127.0.0.1:{srv.getsockname()[1]}"
    try:
        p = run(binary, "--region", region, "--deadline", 1, "--timeout", 1, "--output",
                os.devnull, env=clean_env(https_proxy=proxy, HTTPS_PROXY=proxy, **CREDS))
    finally:
        srv.close()
    assert p.returncode == 4, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert seen and all(line == f"CONNECT auth.{region}.customergauge.com:443 HTTP/1.1"
                        for line in seen), seen
