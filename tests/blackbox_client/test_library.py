"""libcloseloop as a library: examples/sync_cases.c, built on nothing but the
public header, against the real server; and the installed library (meson
install into a temporary destdir) compiled against with its pkg-config file,
the way a user outside this repository would."""

import glob
import json
import os
import shutil
import subprocess
import urllib.parse

import pytest

from client_harness import CLI_TIMEOUT, SYNC, clean_env

N = 150  # seeded cases: 21 full pages of 7 and one of 3
PER_PAGE = 7

# A program of the kind a user writes first: the header, the defaults, a code.
TINY = r"""
#include <stdio.h>

#include <closeloop/client.h>

int main(void)
{
    cl_options o;
    cl_options_init(&o);
    printf("%s|%s|%ld|%s\n", cl_code_str(CLC_OK), cl_code_str(CLC_AUTH), o.deadline_ms,
           CL_CLIENT_VERSION);
    return 0;
}
"""
TINY_OUT = "ok|authentication failed|300000|0.1.0\n"


@pytest.fixture(scope="module")
def builddir(binary):
    """The build directory CLOSELOOP_BIN (<builddir>/src/cli/closeloop) is in."""
    return os.path.dirname(os.path.dirname(os.path.dirname(binary)))


@pytest.fixture(scope="module")
def example(builddir):
    path = os.path.join(builddir, "examples", "sync_cases")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"{path} is not an executable file (ninja -C {builddir})")
    return path


def run_example(example, *args, env):
    return subprocess.run([example, *map(str, args)], capture_output=True, text=True,
                          timeout=CLI_TIMEOUT, env=env)


def feed(d, cursor=None):
    """Every case after cursor as (id, number, status) in feed order, and the
    final cursor, by paging the HTTP API directly."""
    out = []
    while True:
        q = {"per_page": 1000}
        if cursor is not None:
            q["cursor"] = cursor
        status, data = d.api.request("GET", SYNC + "?" + urllib.parse.urlencode(q),
                                     headers={"Authorization": "Bearer " + d.api.token()})
        assert status == 200, data
        page = json.loads(data)
        if not page["data"]:
            return out, page["cursor"]["next"]
        out += [(c["id"], c["number_customergauge"], c["status"]) for c in page["data"]]
        cursor = page["cursor"]["next"]


# ---- the example program --------------------------------------------------------


def test_example_prints_every_case_once_in_feed_order_and_the_final_cursor(deploy, example):
    d = deploy(cases=N)
    want, final = feed(d)
    assert len(want) == N

    p = run_example(example, d.url, PER_PAGE, env=d.env())
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    lines = p.stdout.splitlines()
    assert lines[-1] == f"cursor {final}"
    got = [tuple(line.split(" ")) for line in lines[:-1]]
    assert got == [(str(i), str(n), s) for i, n, s in want], "every case once, in feed order"
    assert len({i for i, _, _ in got}) == N

    # The cursor is where the next pass starts: nothing is after it yet, ...
    cursor = int(lines[-1].split()[1])
    assert feed(d, cursor) == ([], cursor)
    s = d.sync("--cursor", cursor)
    assert s.returncode == 0, s.stderr
    assert s.stdout == "", "closeloop sync --cursor N finds nothing after the final cursor"
    # ... and a change made after the pass is all that the next pass sees.
    number = want[0][1]
    changed = d.api.set_status(number, "progress" if want[0][2] != "progress" else "closed")
    after, _ = feed(d, cursor)
    assert after == [(changed["id"], number, changed["status"])]


def test_example_fails_with_the_code_and_the_clients_message(deploy, example):
    d = deploy()
    wrong = clean_env(CLOSELOOP_CLIENT_ID=d.client_id, CLOSELOOP_CLIENT_SECRET="not-the-secret")
    p = run_example(example, d.url, env=wrong)
    assert p.returncode == 1
    assert p.stdout == ""
    assert p.stderr.startswith("sync_cases: authentication failed: "), p.stderr
    assert len(p.stderr.splitlines()) == 1 and "not-the-secret" not in p.stderr

    p = run_example(example, d.url, 0, env=d.env())
    assert p.returncode == 2 and "PER_PAGE" in p.stderr
    p = run_example(example, env=d.env())
    assert p.returncode == 2 and p.stderr.startswith("usage:")


# ---- the installed library --------------------------------------------------------


class Installed:
    """`meson install` of the build into a temporary destdir: pkg-config's
    environment, pointed at the installed closeloop.pc with its paths
    rewritten into the destdir, and what cc needs besides pkg-config's flags."""

    def __init__(self, builddir, dest):
        p = subprocess.run(["meson", "install", "-C", builddir, "--destdir", str(dest),
                            "--no-rebuild", "--quiet"],
                           capture_output=True, text=True, timeout=CLI_TIMEOUT)
        assert p.returncode == 0, p.stdout + p.stderr
        pcs = glob.glob(str(dest / "**" / "pkgconfig" / "closeloop.pc"), recursive=True)
        assert len(pcs) == 1, f"closeloop.pc installed as {pcs}"
        headers = glob.glob(str(dest / "**" / "include" / "closeloop" / "client.h"),
                            recursive=True)
        assert len(headers) == 1, f"closeloop/client.h installed as {headers}"
        self.env = dict(os.environ, PKG_CONFIG_PATH=os.path.dirname(pcs[0]),
                        PKG_CONFIG_SYSROOT_DIR=str(dest))
        self.env.pop("PKG_CONFIG_LIBDIR", None)
        # A library built with -Db_sanitize=... (make asan) is instrumented
        # and links only into a program built with the same sanitizers.
        with open(os.path.join(builddir, "meson-info", "intro-buildoptions.json")) as f:
            sanitize = {o["name"]: o["value"] for o in json.load(f)}.get("b_sanitize", "none")
        self.cflags = [] if sanitize == "none" else [f"-fsanitize={sanitize}"]

    def pkg_config(self, *args):
        p = subprocess.run(["pkg-config", *args, "closeloop"], capture_output=True, text=True,
                           timeout=CLI_TIMEOUT, env=self.env)
        assert p.returncode == 0, p.stderr
        return p.stdout.split()

    def compile_and_run(self, tmp_path, flags, source=TINY):
        """Compiles source with cc and flags, and runs it: the run, or the
        failed compilation."""
        src = tmp_path / "tiny.c"
        src.write_text(source)
        exe = tmp_path / "tiny"
        p = subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", *self.cflags,
                            str(src), "-o", str(exe), *flags],
                           capture_output=True, text=True, timeout=CLI_TIMEOUT)
        if p.returncode != 0:
            return p
        return subprocess.run([str(exe)], capture_output=True, text=True, timeout=CLI_TIMEOUT)


@pytest.fixture(scope="module")
def installed(builddir, tmp_path_factory):
    for tool in ("pkg-config", "cc"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    return Installed(builddir, tmp_path_factory.mktemp("destdir"))


def test_installed_pc_lists_everything_a_static_link_needs(installed):
    """libcloseloop is only a static archive, so its .pc must name the
    libraries its objects call: libcurl, jansson, SQLite, pthreads."""
    flags = installed.pkg_config("--cflags", "--libs", "--static")
    for need in ("-lcloseloop", "-lcurl", "-ljansson", "-lsqlite3", "-pthread"):
        assert need in flags, f"pkg-config --static closeloop lacks {need}: {flags}"
    include = [f[2:] for f in flags if f.startswith("-I")]
    assert any(os.path.isfile(os.path.join(i, "closeloop", "client.h")) for i in include), flags
    libdirs = [f[2:] for f in flags if f.startswith("-L")]
    assert any(os.path.isfile(os.path.join(i, "libcloseloop.a")) for i in libdirs), flags


def test_a_program_builds_on_the_installed_library(installed, tmp_path):
    """What docs/sync.md tells users: `pkg-config --cflags --libs closeloop`
    (closeloop.pc requires its libraries publicly, as a static-only library
    must)."""
    p = installed.compile_and_run(tmp_path, installed.pkg_config("--cflags", "--libs"))
    assert p.returncode == 0, p.stderr
    assert p.stdout == TINY_OUT
