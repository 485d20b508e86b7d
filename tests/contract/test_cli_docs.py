"""`closeloop help COMMAND` and --help against the documentation.

The help texts in the binary are the source; docs/cli.md quotes each
command's synopsis verbatim and mentions every option, docs/sync.md every
option of sync, and docs/closeloop.1 is generated from them
(scripts/manpage.py). These tests fail when one drifts from the other."""

import os
import re
import subprocess
import sys

import pytest

from harness import run_cli
from oas import ROOT

CLI_MD = os.path.join(ROOT, "docs", "cli.md")
SYNC_MD = os.path.join(ROOT, "docs", "sync.md")
MAN_PAGE = os.path.join(ROOT, "docs", "closeloop.1")
MANPAGE_PY = os.path.join(ROOT, "scripts", "manpage.py")
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
APPS_SUBCOMMANDS = ["create", "list", "revoke", "rotate"]


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def commands(binary):
    p = run_cli(binary, "--help")
    assert p.returncode == 0, p.stderr
    return re.findall(r"^  (\S+)\s+\S", p.stdout, re.M)


def help_of(binary, *cmd):
    p = run_cli(binary, *cmd, "--help")
    assert p.returncode == 0 and p.stdout and not p.stderr, (cmd, p.returncode, p.stderr)
    return p.stdout


def synopsis(help_text):
    """The usage block: the lines up to the first blank one, without 'usage:'."""
    return " ".join(help_text.split("\n\n")[0].replace("usage:", "", 1).split())


def section(markdown, command):
    """The text under '## `command`' up to the next '## ' heading."""
    m = re.search(r"^## `" + re.escape(command) + r"`\n(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    assert m, f"docs/cli.md has no section '## `{command}`'"
    return m.group(1)


def code_block(text):
    m = re.search(r"^```\n(.*?)^```", text, re.M | re.S)
    assert m, "no code block"
    return " ".join(m.group(1).split())


def test_every_command_has_a_section_and_help_is_the_same_both_ways(binary):
    cmds = commands(binary)
    assert set(cmds) >= {"serve", "apps", "users", "seed", "sync"}, cmds
    documented = re.findall(r"^## `(\w+)`", read(CLI_MD), re.M)
    assert sorted(documented) == sorted(cmds), (documented, cmds)
    for cmd in cmds:
        p = run_cli(binary, "help", cmd)
        assert p.returncode == 0, p.stderr
        assert p.stdout == help_of(binary, cmd), f"'closeloop help {cmd}' differs from '{cmd} --help'"
    assert run_cli(binary, "help", "nonsense").returncode == 2


@pytest.mark.parametrize("cmd", ["serve", "apps", "users", "seed", "sync"])
def test_cli_md_quotes_the_synopsis_and_names_every_option(binary, cmd):
    text = section(read(CLI_MD), cmd)
    helps = [help_of(binary, cmd)]
    if cmd == "apps":
        helps = [help_of(binary, "apps", sub) for sub in APPS_SUBCOMMANDS]
        want = " ".join(synopsis(h) for h in helps)
    else:
        want = synopsis(helps[0])
    assert code_block(text) == want, (
        f"the synopsis of `{cmd}` in docs/cli.md is not the one --help prints:\n"
        f"  docs: {code_block(text)}\n  help: {want}")
    docs = text + (read(SYNC_MD) if cmd == "sync" else "")
    options = {o for h in helps for o in OPTION.findall(h)}
    missing = sorted(o for o in options if o not in docs)
    assert not missing, f"options of `{cmd}` its --help has and its docs do not mention: {missing}"


def test_man_page_is_generated_from_the_help_texts(binary, tmp_path):
    fresh = tmp_path / "closeloop.1"
    p = subprocess.run([sys.executable, MANPAGE_PY, binary, str(fresh)], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert fresh.read_text() == read(MAN_PAGE), (
        "docs/closeloop.1 is out of date: run scripts/manpage.py build/src/cli/closeloop "
        "docs/closeloop.1")
