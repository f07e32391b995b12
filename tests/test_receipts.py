"""Members' own files stay theirs through uv's tool commands (issue 21, item 6): a receipt a member edits cannot make
another member's uv delete that member's own file.

uv's `tool uninstall`, `tool upgrade` and a `tool install` over an installed tool remove every `install-path` of the
tool's receipt, unchecked; in a shared tree every member can write the receipts. Real users, the real uv (newest and
0.6.14), the attack as it would be done.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.harness import Sandbox
from tests.support.wheels import make_wheel, tool_install_args, wheels_dir
from uvshare.receipts import acted_on, in_bin_dir, made_for, tool_bin_dir


def bobs_own_file(box: Sandbox) -> Path:
    """A file of bob's own, in his home (0700), that only he may read or change: what alice wants gone."""
    home = box.home(box.users["bob"])
    notes = home / "notes.txt"
    box.ok("bob", "/usr/bin/python3", "-c", f"import os; os.umask(0o077); open({str(notes)!r}, 'w').write('mine\\n')")
    assert notes.stat().st_mode & 0o777 == 0o600 and notes.stat().st_uid == box.users["bob"].uid
    return notes


def alice_installs_hello_a(box: Sandbox) -> tuple[Path, Path]:
    """A set-up tree where alice installed the shared tool hello-a 1.0, and bob has a file of his own: the wheels dir
    and bob's file."""
    wheels = wheels_dir(box.root / "wheels", ("hello-a", "1.0"))
    notes = bobs_own_file(box)
    box.ok("root", "uvshare", "share", "setup")
    box.ok("alice", *tool_install_args(wheels, "hello-a"))
    return wheels, notes


def receipt_of(box: Sandbox, tool: str) -> Path:
    """TOOL's receipt in the shared tool dir."""
    return box.shared / "tools" / tool / "uv-receipt.toml"


def write_as_alice(box: Sandbox, path: Path, text: str) -> None:
    """As alice, a member: replace PATH's content with TEXT (she may: the tool dir is group-writable)."""
    box.ok("alice", "/usr/bin/python3", "-c", f"open({str(path)!r}, 'w').write({text!r})")


def point_receipt_at(box: Sandbox, tool: str, target: Path) -> None:
    """As alice: make the install-path of TOOL's entry point name TARGET (the one value changed, as TOML)."""
    receipt = receipt_of(box, tool)
    text = receipt.read_text()
    old = f'install-path = "{box.shared / "tool-bin" / tool}"'
    assert old in text, text
    write_as_alice(box, receipt, text.replace(old, f'install-path = "{target}"'))


def refused(result: object, receipt: Path) -> bool:
    """Whether RESULT is uvshare's refusal: exit 2, one error line naming RECEIPT, no traceback."""
    err = result.stderr  # type: ignore[attr-defined]
    return (
        result.returncode == 2  # type: ignore[attr-defined]
        and err.startswith(f"uvshare: error: {receipt} ")
        and err.count("\n") == 1
        and "Traceback" not in err
    )


# The commands whose uv removes what the installed tool's receipt names (read in uv's tool/uninstall.rs, install.rs
# and upgrade.rs, and measured: each deleted bob's file before the check).
ACTIONS = {
    "uninstall": ["uvshare", "tool", "uninstall", "hello-a"],
    "uninstall --all": ["uvshare", "tool", "uninstall", "--all"],
    "install --force": ["--force"],  # (tool_install_args added below)
    "install another version": ["hello-a==2.0"],
    "upgrade": ["uvshare", "tool", "upgrade", "hello-a"],
}


@pytest.mark.parametrize("action", list(ACTIONS))
def test_an_edited_receipt_cannot_make_bob_delete_his_own_file(box: Sandbox, action: str) -> None:
    """Alice points a shared tool's receipt at bob's own 0600 file; bob's ordinary tool command on that tool stops
    with one line naming the receipt, and his file is still there (before the check, uv deleted it)."""
    wheels, notes = alice_installs_hello_a(box)
    make_wheel(wheels, "hello-a", "2.0")  # what an upgrade or another version brings
    point_receipt_at(box, "hello-a", notes)
    args = ACTIONS[action]
    if args[0] != "uvshare":
        args = tool_install_args(wheels, "hello-a") + args if args == ["--force"] else tool_install_args(wheels, *args)
    result = box.run("bob", *args)
    assert notes.exists(), f"bob's own file is gone: {result}"
    assert notes.read_text() == "mine\n"
    assert refused(result, receipt_of(box, "hello-a")), str(result)
    assert f"'{notes}'" in result.stderr and "tool install --force hello-a" in result.stderr
    assert receipt_of(box, "hello-a").exists(), "the tool was changed: uv ran"


def test_the_advice_given_mends_it(box1: Sandbox) -> None:
    """What the error says to do (a member removes the tool's dir, then installs it again with --force) works, and
    deletes nothing but the tool's own; uninstall then works as usual."""
    box = box1
    wheels, notes = alice_installs_hello_a(box)
    point_receipt_at(box, "hello-a", notes)
    assert box.run("bob", "uvshare", "tool", "uninstall", "hello-a").returncode == 2
    box.ok("carol", "rm", "-r", "--", box.shared / "tools" / "hello-a")
    box.ok("carol", *tool_install_args(wheels, "hello-a"), "--force")
    assert box.ok("bob", box.shared / "tool-bin" / "hello-a").stdout == "hello-a 1.0\n"
    box.ok("bob", "uvshare", "tool", "uninstall", "hello-a")
    assert notes.read_text() == "mine\n" and not (box.shared / "tool-bin" / "hello-a").exists()
    assert not box.not_shared()


BROKEN = {
    "not TOML": "[tool\nentrypoints = [",
    "not UTF-8": '[tool]\nrequirements = [{ name = "\xff" }]\n',
    "no [tool] table": "entrypoints = []\n",
    "entry point without install-path": '[tool]\nentrypoints = [{ name = "hello-a" }]\n',
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_receipt_that_does_not_parse_is_refused_clearly(box1: Sandbox, case: str) -> None:
    """A receipt uvshare cannot read as uv writes it stops the command, naming it; nothing is removed."""
    box = box1
    wheels = wheels_dir(box.root / "wheels", ("hello-a", "1.0"))
    box.ok("root", "uvshare", "share", "setup")
    box.ok("alice", *tool_install_args(wheels, "hello-a"))
    receipt = receipt_of(box, "hello-a")
    text = BROKEN[case]
    if case == "not UTF-8":
        box.ok("alice", "/usr/bin/python3", "-c", f"open({str(receipt)!r}, 'wb').write({text.encode('latin-1')!r})")
    else:
        write_as_alice(box, receipt, text)
    result = box.run("bob", "uvshare", "tool", "uninstall", "hello-a")
    assert refused(result, receipt), str(result)
    assert receipt.exists() and (box.shared / "tool-bin" / "hello-a").exists()


def test_a_receipt_reached_through_a_link_is_refused(box1: Sandbox) -> None:
    """Alice replaces a receipt (or a tool's dir) with a symlink to one she keeps elsewhere: uv would follow it;
    uvshare does not read through it, and stops."""
    box = box1
    wheels = wheels_dir(box.root / "wheels", ("hello-a", "1.0"), ("hello-b", "1.0"))
    notes = bobs_own_file(box)
    box.ok("root", "uvshare", "share", "setup")
    box.ok("alice", *tool_install_args(wheels, "hello-a"))
    box.ok("alice", *tool_install_args(wheels, "hello-b"))
    elsewhere = box.home(box.users["alice"]) / "receipt.toml"
    text = receipt_of(box, "hello-a").read_text().replace(str(box.shared / "tool-bin" / "hello-a"), str(notes))
    write_as_alice(box, elsewhere, text)
    box.ok("alice", "chmod", "755", box.home(box.users["alice"]))
    box.ok("alice", "ln", "-sf", elsewhere, receipt_of(box, "hello-a"))
    result = box.run("bob", "uvshare", "tool", "uninstall", "hello-a")
    assert refused(result, receipt_of(box, "hello-a")) and "symlink" in result.stderr, str(result)
    tools = box.shared / "tools"
    box.ok("alice", "mv", tools / "hello-b", box.home(box.users["alice"]) / "hello-b")
    box.ok("alice", "ln", "-s", box.home(box.users["alice"]) / "hello-b", tools / "hello-b")
    result = box.run("bob", "uvshare", "tool", "uninstall", "hello-b")
    assert refused(result, receipt_of(box, "hello-b")) and "symlink" in result.stderr, str(result)
    assert notes.read_text() == "mine\n"


def test_every_tool_dir_counts_for_all(box: Sandbox) -> None:
    """`--all` reads every tool dir as it is named, not normalised: alice's `Hello_A` beside the real `hello-a`
    (uv reads both receipts) cannot slip past the check."""
    _wheels, notes = alice_installs_hello_a(box)
    odd = box.shared / "tools" / "Hello_A"
    box.ok("alice", "mkdir", odd)
    text = receipt_of(box, "hello-a").read_text()
    write_as_alice(box, odd / "uv-receipt.toml", text.replace(str(box.shared / "tool-bin" / "hello-a"), str(notes)))
    result = box.run("bob", "uvshare", "tool", "uninstall", "--all")
    assert notes.exists(), f"bob's own file is gone: {result}"
    assert refused(result, odd / "uv-receipt.toml"), str(result)


def test_without_a_shared_bin_dir_only_uvs_own_links_in_ones_own(box: Sandbox) -> None:
    """A tree without a shared tool bin dir: uv puts each member's entry points in their own ~/.local/bin. Alice's
    receipt naming bob's own script there is refused (it is no link uv made); bob's own tool, installed and
    uninstalled by him, still works."""
    box.write_config(tool_bin_dir=None)
    wheels = wheels_dir(box.root / "wheels", ("hello-a", "1.0"), ("hello-b", "1.0"))
    box.ok("root", "uvshare", "share", "setup")
    bob_bin = box.home(box.users["bob"]) / ".local" / "bin"
    script = bob_bin / "backup"
    box.ok("bob", "mkdir", "-p", bob_bin)
    box.ok("bob", "/usr/bin/python3", "-c", f"open({str(script)!r}, 'w').write('#!/bin/sh\\n')")
    box.ok("bob", *tool_install_args(wheels, "hello-b"))
    assert (bob_bin / "hello-b").is_symlink()
    box.ok("alice", *tool_install_args(wheels, "hello-a"))
    receipt = receipt_of(box, "hello-a")
    text = receipt.read_text()
    mine = str(box.home(box.users["alice"]) / ".local" / "bin" / "hello-a")
    assert mine in text, text
    write_as_alice(box, receipt, text.replace(mine, str(script)))
    result = box.run("bob", "uvshare", "tool", "uninstall", "hello-a")
    assert script.exists(), f"bob's own script is gone: {result}"
    assert refused(result, receipt) and "it is not the link uv makes there" in result.stderr, str(result)
    box.ok("bob", "uvshare", "tool", "uninstall", "hello-b")
    assert not (bob_bin / "hello-b").exists() and script.exists()


def test_roots_command_is_checked_too(box1: Sandbox) -> None:
    """Root's tool command on the tree (run as the install-user) stops at the same receipt, before uv runs."""
    box = box1
    _wheels, notes = alice_installs_hello_a(box)
    point_receipt_at(box, "hello-a", notes)
    result = box.run("root", "uvshare", "tool", "uninstall", "hello-a")
    assert refused(result, receipt_of(box, "hello-a")), str(result)
    assert notes.read_text() == "mine\n"


def test_other_commands_do_not_load_the_check(box1: Sandbox) -> None:
    """The every-call path imports the check only for tool install/uninstall/upgrade on the shared tool dir."""
    box = box1
    box.ok("root", "uvshare", "share", "setup")
    code = (
        "import sys, uvshare.shim as s\n"
        "def fake(*a, **k):\n    print('uvshare.receipts' in sys.modules)\n    sys.exit(0)\n"
        "s.exec_program = fake\n"
        "s.main(sys.argv[1:])\n"
    )
    python = box.bin_dir / "python"
    for args, loaded in (
        (["--version"], False),
        (["tool", "list"], False),
        (["python", "list"], False),
        (["tool", "run", "x"], False),
        (["tool", "uninstall", "nothing-here"], True),
        (["tool", "install", "nothing-here"], True),
        (["tool", "upgrade", "--all"], True),
    ):
        assert box.ok("alice", python, "-c", code, *args).stdout == f"{loaded}\n", args
    out = box.ok("alice", python, "-c", code, "tool", "uninstall", "x", env={"UV_TOOL_DIR": str(box.root)}).stdout
    assert out == "False\n", "a tool dir of the caller's own is theirs: no check"


# Units: what a command acts on, where uv puts entry points, and what counts as an entry of that dir.


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["tool", "uninstall", "ruff", "black"], {"ruff", "black"}),
        (["tool", "uninstall", "--all"], None),
        (["tool", "upgrade", "--all"], None),
        (["--directory", "/x", "tool", "upgrade", "Ruff_Fmt"], {"Ruff_Fmt"}),
        (["--directory", "tool", "tool", "uninstall", "ruff"], {"ruff"}),
        (["--directory", "install", "tool", "install", "ruff"], {"ruff"}),
        (["tool", "install", "ruff==0.5", "--find-links", "/w"], {"ruff"}),
        (["tool", "install", "--find-links=/w", "ruff@latest"], {"ruff"}),
        (["tool", "install", "--with", "./plugin", "ruff[x]"], {"ruff"}),
        (["tool", "install", "./ruff"], None),
        (["tool", "install", "ruff-0.5-py3-none-any.whl"], None),
        (["tool", "install", "git+https://example.org/ruff"], None),
        (["tool", "install", "--from", "/src/ruff", "ruff"], None),
        (["tool", "install", "--from=./ruff", "ruff"], None),
        (["tool", "install", "-e", "./ruff"], None),
        (["tool", "install", "ruff @ https://example.org/ruff.whl"], {"ruff"}),
    ],
)
def test_acted_on(args: list[str], names: set[str] | None) -> None:
    """A name that could be the tool's is checked (a word that is an option's value costs nothing); a package given
    by a path or URL (its name is in its metadata) or `--all` means every tool."""
    got = acted_on(args)
    assert got == names if names is None else (got is not None and names <= got), got


def test_tool_bin_dir_follows_uvs_order() -> None:
    """UV_TOOL_BIN_DIR, XDG_BIN_HOME, XDG_DATA_HOME/../bin, HOME/.local/bin — the install-user's HOME for root."""
    assert tool_bin_dir({"UV_TOOL_BIN_DIR": "/opt/uv//tool-bin/", "XDG_BIN_HOME": "/x"}, None) == "/opt/uv/tool-bin"
    assert tool_bin_dir({"XDG_BIN_HOME": "/x/bin", "HOME": "/h"}, None) == "/x/bin"
    assert tool_bin_dir({"XDG_DATA_HOME": "/x/share", "HOME": "/h"}, None) == "/x/bin"
    assert tool_bin_dir({"HOME": "/h"}, None) == "/h/.local/bin"
    assert tool_bin_dir({"XDG_BIN_HOME": "/x/bin", "HOME": "/root"}, "/var/lib/inst") == "/var/lib/inst/.local/bin"


def test_in_bin_dir(tmp_path: Path) -> None:
    """Exactly an entry of the bin dir: by text (no `..`, `.`, relative path or deeper entry) and by its dir's
    identity (a link on the way to another dir with the same text is not the bin dir)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "other").mkdir()
    ident = (os.stat(bin_dir).st_dev, os.stat(bin_dir).st_ino)
    top = str(bin_dir)
    assert in_bin_dir(f"{top}/ruff", top, ident)
    assert in_bin_dir(f"{top}//ruff", top, ident)
    for bad in (
        f"{top}/../other/ruff",
        f"{top}/./ruff",
        f"{top}/sub/ruff",
        f"{top}",
        "bin/ruff",
        f"{tmp_path}/other/ruff",
        f"{top}/ruff\0",
    ):
        assert not in_bin_dir(bad, top, ident), bad
    # the text is the bin dir's, the dir the kernel finds is another one (the bin dir swapped for a link)
    assert not in_bin_dir(f"{top}/ruff", top, (ident[0], ident[1] + 1))
    assert in_bin_dir(f"{tmp_path}/gone/ruff", f"{tmp_path}/gone", None)


def test_the_readme_documents_the_check() -> None:
    """The new error is in the error reference, and the trust model names the window uvshare cannot close and what
    members can do to each other by design."""
    docs = Path(__file__).resolve().parents[1] / "docs"
    errors = (docs / "reference" / "errors.md").read_text()
    trust = (docs / "trust-model.md").read_text()
    assert "as an entry point, which is not an entry of the tool bin dir" in errors
    assert "install the tool again ('uv tool install --force ruff')" in errors
    assert "uv reads the\n  receipt again itself" in trust or "uv reads the receipt again itself" in trust
    assert "What members can do to each other, by design" in trust and "runs what members can write" in trust


def test_in_bin_dir_as_configured_or_resolved(tmp_path: Path) -> None:
    """A bin dir configured through a link: an entry spelt either way is in it (the same dir, by identity)."""
    (tmp_path / "real" / "bin").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    top = str(tmp_path / "link" / "bin")
    ident = (os.stat(top).st_dev, os.stat(top).st_ino)
    assert in_bin_dir(f"{top}/ruff", top, ident)
    assert in_bin_dir(f"{tmp_path}/real/bin/ruff", top, ident)
    assert not in_bin_dir(f"{tmp_path}/real/ruff", top, ident)


def test_made_for(tmp_path: Path) -> None:
    """In a bin dir of one user's own, only a missing entry or uv's link into the tool's env may be removed."""
    env_dir = tmp_path / "tools" / "ruff"
    (env_dir / "bin").mkdir(parents=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ruff").symlink_to(env_dir / "bin" / "ruff")
    (bin_dir / "rel").symlink_to("../tools/ruff/bin/ruff")
    (bin_dir / "own").write_text("mine\n")
    (bin_dir / "elsewhere").symlink_to(tmp_path / "tools" / "ruff-other" / "bin" / "x")
    (bin_dir / "up").symlink_to(env_dir / ".." / "other" / "x")
    assert made_for(str(bin_dir / "ruff"), str(env_dir))
    assert made_for(str(bin_dir / "rel"), str(env_dir))
    assert made_for(str(bin_dir / "missing"), str(env_dir))
    for name in ("own", "elsewhere", "up"):
        assert not made_for(str(bin_dir / name), str(env_dir)), name


def test_an_image_env_naming_the_shared_tool_dir_skips_the_receipt_check(box1: Sandbox) -> None:
    """The attack review's (members' own files): the receipt check runs only when uvshare itself hands uv the shared
    tool dir. Where the environment already names it — an image's `ENV UV_TOOL_DIR=/opt/uv/tools` and
    `UV_TOOL_BIN_DIR=…` (the workaround the README says uvshare replaces, and drops for root only) — a member's
    command is on the very same shared tool dir, yet uvshare treats the dir as the caller's own and checks nothing:
    alice's edited receipt makes bob's ordinary `uv tool uninstall` delete bob's own 0600 file."""
    box = box1
    _wheels, notes = alice_installs_hello_a(box)
    point_receipt_at(box, "hello-a", notes)
    image_env = {"UV_TOOL_DIR": str(box.shared / "tools"), "UV_TOOL_BIN_DIR": str(box.shared / "tool-bin")}
    # without the variables, the check holds (the promise as tested in test_receipts.py)
    assert box.run("bob", "uvshare", "tool", "uninstall", "hello-a").returncode == 2
    assert notes.exists()
    result = box.run("bob", "uvshare", "tool", "uninstall", "hello-a", env=image_env)
    assert notes.exists(), f"bob's own file is gone: {result}"
