"""`share setup / doctor / repair / config` on real trees made by the real uv, as root and as members."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.harness import GROUP, Sandbox, fingerprint, group_gid, snapshot
from tests.support.wheels import make_wheel, tool_install_args
from tests.test_multiuser import make_wheels, tool_install


def legacy_tree(box: Sandbox, *, python: bool = True) -> Path:
    """What plain uv as root (umask 022) leaves in the shared dirs before uvshare arrives: a Python and a tool."""
    env = box.plain_uv_env()
    wheels = make_wheels(box)
    if python:
        box.ok("root", "uv", "python", "install", "3.11", env=env, umask=0o022)
    box.ok("root", *tool_install_args(wheels, "hello-a", command="uv"), env=env, umask=0o022)
    return wheels


def test_legacy_tree_doctor_repair_then_members_work(box: Sandbox) -> None:
    wheels = legacy_tree(box)
    sick = box.run("root", "uvshare", "share", "doctor")
    assert sick.returncode == 1, str(sick)
    for name in ("python", "tools", "cache"):
        assert any(str(box.shared / name) in line and line.startswith("✗") for line in sick.stdout.splitlines()), name
    assert "uvshare share repair" in sick.stdout and "problems found" in sick.stdout

    repaired = box.ok("root", "uvshare", "share", "repair")
    assert " fixed" in repaired.stdout
    healthy = box.run("root", "uvshare", "share", "doctor")
    assert healthy.returncode == 0, str(healthy)
    assert "✗" not in healthy.stdout

    # members can now install, upgrade and uninstall there, root's legacy installs included
    box.ok("alice", "uvshare", "python", "install", "3.12")
    box.ok("bob", "uvshare", "python", "uninstall", "3.11")
    assert not list((box.shared / "python").glob("cpython-3.11.*"))
    make_wheel(wheels, "hello-a", "2.0", "hello-a, version 2.0")  # not 1.0's size: see Known limits
    tool_install(box, "carol", "hello-a==2.0", wheels)
    # another tool stays: uv 0.6 removes the tool dir itself with the last tool, which needs the (legacy, root-only)
    # dir above it
    tool_install(box, "alice", "hello-b", wheels)
    box.ok("bob", "uvshare", "tool", "uninstall", "hello-a")
    assert not (box.shared / "tools" / "hello-a").exists()


def test_bytecode_left_by_a_direct_run_is_repaired(box1: Sandbox) -> None:
    """A member runs a shared tool directly (not through uvshare) with umask 022: Python writes __pycache__ that
    other members cannot remove. doctor names it, repair fixes it, and then another member can uninstall. (Without
    default ACLs: with them, the direct run's bytecode comes out group-writable anyway.)"""
    box = box1
    box.write_config(acl=False)
    box.extra_env["UV_COMPILE_BYTECODE"] = "0"  # installed without bytecode (uvshare compiles it unless told not to)
    wheels = make_wheels(box)
    tool_install(box, "root", "hello-a", wheels)
    assert box.ok("alice", box.shared / "tool-bin" / "hello-a", umask=0o022).stdout.strip() == "hello-a 1.0"
    assert list((box.shared / "tools" / "hello-a").rglob("__pycache__"))
    sick = box.run("root", "uvshare", "share", "doctor")
    assert sick.returncode == 1 and "__pycache__" in sick.stdout, str(sick)
    box.ok("root", "uvshare", "share", "repair")
    box.ok("bob", "uvshare", "tool", "uninstall", "hello-a")


def test_legacy_tools_with_uv_0_4_20(tool_box: Sandbox) -> None:
    """The original report's uv: its tools/.lock comes out 0644 root-only; after a repair members work."""
    box = tool_box
    wheels = legacy_tree(box, python=False)
    lock = box.shared / "tools" / ".lock"
    if lock.exists():
        before = box.run("alice", *tool_install_args(wheels, "hello-b", command="uv"), env=box.plain_uv_env())
        assert before.returncode != 0 or stat.S_IMODE(lock.stat().st_mode) & 0o020, str(before)
    box.ok("root", "uvshare", "share", "repair")
    assert box.run("root", "uvshare", "share", "doctor").returncode == 0
    tool_install(box, "alice", "hello-b", wheels)
    box.ok("bob", "uvshare", "tool", "uninstall", "hello-a")


def test_member_without_repair_succeeds_or_is_told_to_repair(box: Sandbox) -> None:
    legacy_tree(box)
    for args in (("python", "install", "3.12"), ("python", "install", "3.11"), ("tool", "list")):
        result = box.run("alice", "uvshare", *args)
        assert result.returncode == 0 or "uvshare share repair" in result.stderr, str(result)


def test_sticky_dir_flagged_cleared_and_link_replaceable(box: Sandbox) -> None:
    box.ok("root", "uvshare", "python", "install", "3.11")
    python_dir = box.shared / "python"
    python_dir.chmod(python_dir.stat().st_mode | stat.S_ISVTX)
    sick = box.run("alice", "uvshare", "share", "doctor")
    assert sick.returncode == 1 and "sticky" in sick.stdout, str(sick)
    if box.uv.parent.parent.name != "uv-0.6.14":  # uv >= 0.10 re-creates the minor link on every install run
        assert box.run("alice", "uvshare", "python", "install", "--reinstall", "3.11").returncode != 0
    setup = box.ok("root", "uvshare", "share", "setup")
    assert "sticky" in setup.stdout, str(setup)
    assert not python_dir.stat().st_mode & stat.S_ISVTX
    box.ok("alice", "uvshare", "python", "install", "--reinstall", "3.11")
    assert box.ok("root", "uvshare", "share", "setup").stdout.startswith("✓ nothing needed changing")


ATTACKS = {
    "symlink at .lock": 'rm -f "{py}/.lock" && ln -s "{secret}" "{py}/.lock"',
    "symlink at .temp": 'rm -rf "{py}/.temp" && ln -s "{secret_dir}" "{py}/.temp"',
    "symlink in an install": 'ln -s "{secret}" "{install}/lib/evil" && ln -s "{secret_dir}" "{install}/evil-dir"',
    "hard link in an install": 'ln "{secret}" "{install}/lib/evil-hard"',
    "hard link at .lock": 'rm -f "{py}/.lock" && ln "{secret}" "{py}/.lock"',
}
COMMANDS = {
    "setup": ("uvshare", "share", "setup"),
    "repair": ("uvshare", "share", "repair"),
    "doctor": ("uvshare", "share", "doctor"),
    "every call": ("uvshare", "--version"),
}


@pytest.mark.parametrize("attack", ATTACKS)
def test_root_commands_never_act_through_planted_links(box: Sandbox, attack: str, no_protected_hardlinks: None) -> None:
    box.ok("root", "uvshare", "python", "install", "3.11")
    secret_dir = box.root / "private"
    secret_dir.mkdir(mode=0o711)  # members may reach the file by name but not read or list it
    secret = secret_dir / "secret"
    secret.write_text("root only\n")
    secret.chmod(0o600)
    py = box.shared / "python"
    install = next(py.glob("cpython-3.11.*"))
    script = ATTACKS[attack].format(py=py, secret=secret, secret_dir=secret_dir, install=install)
    box.ok("alice", "sh", "-c", script)
    before = (fingerprint(secret), fingerprint(secret_dir))
    for command in COMMANDS.values():
        result = box.run("root", *command)
        assert result.returncode in (0, 1), str(result)
        assert (fingerprint(secret), fingerprint(secret_dir)) == before, f"{command} changed the target"
    assert "Traceback" not in result.stderr


def test_repair_waits_for_uvs_lock_and_changes_nothing_under_it(box: Sandbox) -> None:
    box.ok("root", "uvshare", "python", "install", "3.11")
    py = box.shared / "python"
    stamp = box.root / "released"
    # An install in progress, as uv does it: an exclusive flock on .lock, files appearing while it is held.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"""
import fcntl, os, time
fd = os.open({str(py / ".lock")!r}, os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(1.0)
open({str(py / "in-progress")!r}, "w").close()
os.chmod({str(py / "in-progress")!r}, 0o644)  # an explicit mode: no umask or default ACL helps
time.sleep(1.0)
open({str(stamp)!r}, "w").write(repr(time.time()))
fcntl.flock(fd, fcntl.LOCK_UN)
""",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "locked"
    timed_out = box.run("root", "uvshare", "share", "repair", "--timeout", "0.3")
    assert timed_out.returncode == 1, str(timed_out)
    assert f"{py}/.lock is held by pid {holder.pid} (python" in timed_out.stdout, str(timed_out)
    repaired = box.ok("root", "uvshare", "share", "repair", "--timeout", "30")
    holder.wait(timeout=30)
    released = float(stamp.read_text())
    changed = (py / "in-progress").stat()
    assert changed.st_ctime >= released - 0.01, "repair changed a file while uv's lock was held"
    assert changed.st_gid == group_gid() and changed.st_mode & 0o060 == 0o060, str(repaired)


def test_doctor_membership_needs_new_login(box1: Sandbox) -> None:
    """A user in the group database whose session predates it: doctor says to log in again."""
    box = box1
    box.ok("root", "uvshare", "share", "setup")
    who = box.users["alice"]
    stale = [
        "setpriv",
        f"--reuid={who.uid}",
        f"--regid={who.gid}",
        "--clear-groups",
        "--",
        "uvshare",
        "share",
        "doctor",
    ]
    result = subprocess.run(stale, env=box.env(who), capture_output=True, text=True, cwd=box.home(who), check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"newgrp {GROUP}" in result.stdout and "log in again" in result.stdout
    current = box.run("alice", "uvshare", "share", "doctor")
    assert f"{box.users['alice'].name} is in group '{GROUP}' in this session" in current.stdout
    outsider = box.run("dave", "uvshare", "share", "doctor")
    assert f"usermod -aG {GROUP} {box.users['dave'].name}" in outsider.stdout


def test_doctor_json_matches_text(box1: Sandbox) -> None:
    box = box1
    legacy_tree(box)
    text = box.run("root", "uvshare", "share", "doctor", env={"NO_COLOR": "1"})
    data = json.loads(box.run("root", "uvshare", "share", "doctor", "--json").stdout)
    assert text.returncode == 1 and data["healthy"] is False
    lines = text.stdout.splitlines()[:-1]  # the last line is the summary
    assert len(lines) == len(data["checks"])
    marks = {"ok": "✓", "problem": "✗", "warning": "!", "info": "·"}
    for line, check in zip(lines, data["checks"]):
        assert line.startswith(f"{marks[check['status']]} {check['subject']}: {check['message']}")
        assert not check["fix"] or line.endswith(f"; fix: {check['fix']}")


def test_repair_dry_run_changes_nothing(box: Sandbox) -> None:
    legacy_tree(box)
    before = snapshot(box.shared)
    dry = box.ok("root", "uvshare", "share", "repair", "--dry-run")
    assert "would fix" in dry.stdout and "dry run:" in dry.stdout
    assert snapshot(box.shared) == before


def test_config_shows_sources_and_exports(box1: Sandbox) -> None:
    box = box1
    shown = box.ok("alice", "uvshare", "share", "config", env={"UV_TOOL_DIR": "/elsewhere"})
    assert f"# {box.config}:1" in shown.stdout and "# default" in shown.stdout
    assert "UV_TOOL_DIR=/elsewhere  # environment (wins over tool-dir)" in shown.stdout
    data = json.loads(box.ok("alice", "uvshare", "share", "config", "--json").stdout)
    assert data["keys"]["group"] == {"value": GROUP, "source": f"{box.config}:1"}
    assert data["keys"]["umask"] == {"value": "0002", "source": "default"}
    assert data["exports"]["UV_CACHE_DIR"]["value"] == str(box.shared / "cache")


def test_admin_errors_are_one_line(box1: Sandbox) -> None:
    box = box1
    bad_switch = box.run("alice", "uvshare", "share", "doctor", "--bogus")
    assert bad_switch.returncode == 2 and bad_switch.stdout == ""
    assert bad_switch.stderr == "uvshare: error: Unknown switch --bogus; see 'uvshare share doctor --help'\n"
    box.write_config("umask = '0000'\n")
    bad_config = box.run("root", "uvshare", "share", "setup")
    assert bad_config.returncode == 2 and bad_config.stderr.count("\n") == 1 and "world-writable" in bad_config.stderr
    box.write_config('python-install-dir = "/x"\n')
    no_group = box.run("root", "uvshare", "share", "repair")
    assert no_group.returncode == 2 and "no 'group' key" in no_group.stderr
    unknown = box.run("root", "uvshare", "share", "frobnicate")
    assert unknown.returncode == 2 and unknown.stderr.startswith("uvshare: error: unknown command 'frobnicate'")


def test_doctor_says_once_that_a_copied_tree_lost_its_default_acls(box1: Sandbox) -> None:
    """A tree copied without its ACLs (as tar, rsync or cp do), outside an image: doctor says so in one warning line
    naming every such dir, with repair as the fix (not one 400-character line per dir); after repair it says nothing
    about it."""
    box = box1
    box.ok("root", "uvshare", "share", "setup")
    dirs = ("python", "bin", "python-cache", "tools", "tool-bin", "cache")
    for name in dirs:
        os.removexattr(box.shared / name, "system.posix_acl_default")
    sick = box.ok("root", "uvshare", "share", "doctor")  # a warning: exit 0
    about_acls = [line for line in sick.stdout.splitlines() if "ACL" in line]
    assert len(about_acls) == 1, about_acls
    assert about_acls[0].startswith("! ACLs: ") and about_acls[0].endswith("; fix: uvshare share repair"), about_acls
    assert all(f"{box.shared / name}," in about_acls[0] or f"{box.shared / name} " in about_acls[0] for name in dirs)
    box.ok("root", "uvshare", "share", "repair")
    healthy = box.ok("root", "uvshare", "share", "doctor")
    assert not [line for line in healthy.stdout.splitlines() if "ACL" in line and not line.startswith("✓")], healthy
