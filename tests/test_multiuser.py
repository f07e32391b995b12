"""Shared dirs used by root, several members and an outsider, through uvshare and the real uv."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.support.harness import GROUP, Sandbox, group_gid, not_shared
from tests.support.wheels import make_wheel, tool_install_args


def test_third_user_installs_another_version(box: Sandbox) -> None:
    box.ok("root", "uvshare", "python", "install", "3.10")
    box.ok("alice", "uvshare", "python", "install", "3.11")
    box.ok("carol", "uvshare", "python", "install", "3.12")
    for version in ("3.10", "3.11", "3.12"):
        found = box.ok("bob", "uvshare", "python", "find", version).stdout.strip()
        assert found.startswith(str(box.shared / "python")), found


def test_member_uninstalls_another_members_install(box: Sandbox) -> None:
    box.ok("root", "uvshare", "share", "setup")  # the image build made the shared tree
    box.ok("alice", "uvshare", "python", "install", "3.12")
    installs = [p for p in (box.shared / "python").iterdir() if p.name.startswith("cpython-3.12.")]
    assert installs
    box.ok("bob", "uvshare", "python", "uninstall", "3.12")
    assert not any(p.exists() for p in installs)
    assert box.run("bob", "uvshare", "python", "find", "--python-preference", "only-managed", "3.12").returncode


def test_root_installed_version_is_skipped_for_everybody(box: Sandbox) -> None:
    box.ok("root", "uvshare", "python", "install", "3.11")
    for user in ("alice", "dave"):
        result = box.ok(user, "uvshare", "python", "install", "3.11")
        assert "uvshare: Python 3.11.7 is already installed at" in result.stderr, str(result)
        assert "nothing to do" in result.stderr
    quiet = box.ok("alice", "uvshare", "-q", "python", "install", "3.11")
    assert quiet.stderr == ""


def test_reinstall_flag_goes_to_uv(box: Sandbox) -> None:
    box.ok("root", "uvshare", "python", "install", "3.11")
    before = next((box.shared / "python").glob("cpython-3.11.*")).stat().st_ino
    result = box.ok("alice", "uvshare", "python", "install", "--reinstall", "3.11")
    assert "already installed" not in result.stderr
    assert next((box.shared / "python").glob("cpython-3.11.*")).stat().st_ino != before


def test_concurrent_installs_by_three_principals(box: Sandbox) -> None:
    """root, alice and bob install different versions at once: all succeed, `.temp` is empty afterwards."""
    box.ok("root", "uvshare", "share", "setup")  # the tree exists before the race, as in an image
    procs = []
    for user, version in (("root", "3.10"), ("alice", "3.11"), ("bob", "3.12")):
        who = box.users[user]
        cmd = ["uvshare", "python", "install", version]
        if not who.is_root:
            cmd = ["setpriv", f"--reuid={who.uid}", f"--regid={who.gid}", "--init-groups", "--", *cmd]
        procs.append(
            subprocess.Popen(
                cmd, env=box.env(who), cwd=box.home(who), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"{proc.args}\n{out}{err}"
    assert list((box.shared / "python" / ".temp").iterdir()) == []
    for version in ("3.10", "3.11", "3.12"):
        box.ok("carol", "uvshare", "python", "find", version)


def make_wheels(box: Sandbox) -> Path:
    """A find-links dir with two tools, `hello-a` 1.0 and `hello-b` 1.0."""
    dest = box.root / "wheels"
    make_wheel(dest, "hello-a", "1.0")
    make_wheel(dest, "hello-b", "1.0")
    dest.chmod(0o755)
    return dest


@pytest.fixture
def wheels(box: Sandbox) -> Path:
    """make_wheels for the `box` sandbox."""
    return make_wheels(box)


def tool_install(box: Sandbox, user: str, spec: str, wheels: Path) -> None:
    """`uvshare tool install SPEC` from the local wheels, on Debian's Python."""
    box.ok(user, *tool_install_args(wheels, spec))


def test_tools_shared_between_root_and_members(tool_box: Sandbox) -> None:
    box = tool_box
    wheels = make_wheels(box)
    tool_bin = box.shared / "tool-bin"
    tool_install(box, "root", "hello-a==1.0", wheels)
    tool_install(box, "alice", "hello-b", wheels)
    assert box.ok("carol", tool_bin / "hello-b").stdout.strip() == "hello-b 1.0"

    make_wheel(wheels, "hello-a", "2.0", "hello-a, version 2.0")  # not 1.0's size: see Known limits
    tool_install(box, "bob", "hello-a==2.0", wheels)  # a third member upgrades root's tool
    assert box.ok("carol", tool_bin / "hello-a").stdout.strip() == "hello-a, version 2.0"
    listed = box.ok("carol", "uvshare", "tool", "list").stdout
    assert "hello-a v2.0" in listed and "hello-b v1.0" in listed


def test_shared_cache_used_by_root_then_member(box: Sandbox, wheels: Path) -> None:
    box.ok("root", "uvshare", "share", "setup")  # (root's venv gets none of the tree, and does not make it)
    for user in ("root", "alice"):
        venv = box.venv_with(user, wheels, "hello-a")
        assert box.ok(user, venv / "bin" / "hello-a").stdout.strip() == "hello-a 1.0"
    wrong = not_shared(box.shared / "cache", group_gid())
    assert not wrong, wrong[:5]
    box.ok("bob", "uvshare", "cache", "dir")


def test_read_only_mount(box: Sandbox) -> None:
    """A baked-in Python on a read-only mount: a member and an outsider both 'install' it with exit 0."""
    box.ok("root", "uvshare", "python", "install", "3.11")
    shared = str(box.shared)
    subprocess.run(["mount", "--bind", shared, shared], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", shared], check=True)
        for user in ("alice", "dave", "root"):
            result = box.ok(user, "uvshare", "python", "install", "3.11")
            assert "already installed" in result.stderr, str(result)
            assert "warning" not in result.stderr, str(result)
    finally:
        subprocess.run(["umount", shared], check=True)


def test_outsider_uses_shared_pythons_but_cannot_change_them(box: Sandbox) -> None:
    box.ok("root", "uvshare", "python", "install", "3.10")
    refused = box.run("dave", "uvshare", "python", "install", "3.12")
    assert refused.returncode == 2, str(refused)
    line = refused.stderr.strip()
    assert "\n" not in line and line.startswith("uvshare: error: "), str(refused)
    assert f"group '{GROUP}'" in line and "usermod -aG" in line and str(box.shared / "python") in line
    assert not list((box.shared / "python").glob("cpython-3.12*"))

    ran = box.ok(
        "dave",
        "uvshare",
        "run",
        "--no-project",
        "--python",
        "3.10",
        "python",
        "-c",
        "import sys; print(sys.version_info[:2])",
    )
    assert ran.stdout.strip() == "(3, 10)", str(ran)
    # the shared cache is not forced on an outsider: uv keeps a cache of its own in their home
    assert box.ok("dave", "uvshare", "cache", "dir").stdout.strip().startswith(str(box.home(box.users["dave"])))
    tool = box.run("dave", "uvshare", "tool", "install", "anything")
    assert tool.returncode == 2 and str(box.shared / "tools") in tool.stderr, str(tool)


def test_member_warned_when_root_left_temp_unusable(box1: Sandbox) -> None:
    """Without a repair a member is told exactly what is wrong and how to fix it, and uv still runs."""
    box = box1
    box.ok("root", "uvshare", "share", "setup")
    temp = box.shared / "python" / ".temp"
    os.chown(temp, 0, 0)
    temp.chmod(0o755)
    result = box.run("alice", "uvshare", "--version")
    assert result.returncode == 0 and result.stdout.startswith("uv ")
    warnings = [line for line in result.stderr.splitlines() if line.startswith("uvshare: warning:")]
    assert len(warnings) == 1, str(result)
    assert str(temp) in warnings[0] and "owner root" in warnings[0] and "mode 0755" in warnings[0]
    assert "uvshare share repair" in warnings[0]
    box.ok("root", "uvshare", "cache", "dir")  # root's next command on the tree fixes it
    st = temp.stat()
    assert st.st_gid == group_gid() and stat.S_IMODE(st.st_mode) == 0o2775
    assert "warning" not in box.ok("alice", "uvshare", "--version").stderr
