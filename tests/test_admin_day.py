"""The admin's day: `share init`, re-runnable set-up, PATH, a doctor that tells the truth, a repair for busy
servers, and messages that work when followed. As root and as members, with the real uv."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.harness import GROUP, SYSTEM_PYTHON, Sandbox, snapshot
from tests.support.wheels import tool_install_args, wheels_dir
from tests.test_admin import legacy_tree


def test_init_from_nothing_is_idempotent_and_guards_a_different_config(box1: Sandbox) -> None:
    box = box1
    box.config.unlink()
    first = box.ok("root", *box.init_args())
    assert first.stdout.rstrip().endswith("healthy"), first.stdout
    assert f"wrote {box.config}" in first.stdout
    config = box.ok("alice", "uvshare", "share", "config", "--json")
    data = json.loads(config.stdout)
    assert data["keys"]["python-install-dir"]["value"] == str(box.shared / "python")
    assert data["keys"]["uv"]["value"] == str(box.uv)  # the real uv found on PATH, recorded
    assert not data["umask"]["applied"], data["umask"]

    before = (box.config.stat().st_mtime_ns, snapshot(box.shared))
    again = box.ok("root", *box.init_args())
    assert "already says this" in again.stdout and again.stdout.rstrip().endswith("healthy")
    assert (box.config.stat().st_mtime_ns, snapshot(box.shared)) == before

    other = box.root / "other"
    refused = box.run("root", *box.init_args(prefix=str(other), config=str(box.config)))
    assert refused.returncode == 2, str(refused)
    assert f"python-install-dir: '{box.shared}/python' -> '{other}/python'" in refused.stdout
    assert refused.stderr.startswith("uvshare: error: ") and "--force" in refused.stderr
    assert box.config.stat().st_mtime_ns == before[0] and not other.exists()
    forced = box.ok(
        "root",
        *box.init_args(prefix=str(other), config=str(box.config)),
        "--force",
    )
    assert f"replaced {box.config}" in forced.stdout and (other / "cache").is_dir()


def test_init_never_records_uvshare_as_the_real_uv(box1: Sandbox) -> None:
    """With uvshare's launcher named uv first on PATH, init records the real uv behind it."""
    box = box1
    box.config.unlink()
    front = box.root / "front"
    front.mkdir(mode=0o755)
    box.ok("root", "uvshare", "share", "launcher", front / "uv")
    box.ok("root", *box.init_args(), env={"PATH": f"{front}:{box.bin_dir}:{box.uv.parent}:/usr/bin:/bin"})
    assert f"uv = '{box.uv}'" in box.config.read_text()
    refused = box.run("root", *box.init_args("--uv", str(front / "uv"), "--force"))
    assert refused.returncode == 2 and "is uvshare itself" in refused.stderr, str(refused)


def test_init_finds_the_uv_installed_beside_uvshare_and_fills_in_what_it_left_unset(box1: Sandbox) -> None:
    """`pip install uvshare uv` in one venv puts uv beside uvshare's python: init records that one, ahead of another
    uv on PATH. A first init without it leaves the key unset; once uv is there, init again fills it in, no --force."""
    box = box1
    box.config.unlink()
    venv = box.root / "venv"
    box.ok("root", box.uv, "venv", "--python", SYSTEM_PYTHON, venv)
    # uvshare importable in that venv as pip would install it there: the tests' installed uvshare, through a .pth
    (site,) = (venv / "lib").glob("python3*/site-packages")
    (installed,) = (box.bin_dir.parent / "lib").glob("python3*/site-packages")
    (site / "uvshare.pth").write_text(f"{installed}\n")
    init = [venv / "bin" / "python", "-m", "uvshare", *box.init_args()[1:]]
    first = box.run("root", *init, env={"PATH": "/usr/bin:/bin"})
    assert "! no real uv found" in first.stdout, str(first)
    assert "\nuv = " not in box.config.read_text(), str(first)
    beside = venv / "bin" / "uv"
    shutil.copy2(box.uv, beside)
    again = box.run("root", *init)  # PATH holds the real uv too, elsewhere (box.uv)
    assert again.returncode == 0, str(again)
    assert f"uv = '{beside}'" in box.config.read_text(), str(again)
    assert f"filled in {box.config}: + uv = '{beside}'" in again.stdout, str(again)


def test_profile_puts_the_bin_dirs_on_members_path_not_roots(box1: Sandbox) -> None:
    box = box1
    profile = box.root / "profile.d" / "uvshare.sh"
    wheels = wheels_dir(box.root / "wheels", ("hello-a", "1.0"))
    setup = box.ok("root", "uvshare", "share", "setup", "--profile-file", str(profile))
    assert f'ENV PATH="$PATH:{box.shared / "bin"}:{box.shared / "tool-bin"}"' in setup.stdout
    box.ok("root", *tool_install_args(wheels, "hello-a"))
    member = box.ok("alice", "sh", "-c", f'. "{profile}" && hello-a && echo "$PATH"')
    assert member.stdout.startswith("hello-a 1.0\n") and str(box.shared / "tool-bin") in member.stdout
    twice = box.ok("alice", "sh", "-c", f'. "{profile}" && . "{profile}" && echo "$PATH"').stdout
    assert twice.count(str(box.shared / "tool-bin")) == 1
    root = box.ok("root", "sh", "-c", f'. "{profile}" && echo "$PATH"').stdout
    assert str(box.shared) not in root
    warned = box.run("alice", "uvshare", "share", "doctor")
    assert "not on your PATH" in warned.stdout, warned.stdout
    fine = box.run("alice", "sh", "-c", f'. "{profile}" && uvshare share doctor')
    assert "✓ PATH:" in fine.stdout, fine.stdout
    risky = box.run(
        "root",
        "uvshare",
        "share",
        "doctor",
        env={"PATH": f"{box.shared / 'tool-bin'}:{box.bin_dir}:{box.uv.parent}:/usr/bin:/bin"},
    )
    assert "root's PATH includes" in risky.stdout


def test_doctor_is_healthy_after_ordinary_use(box: Sandbox) -> None:
    """After setup, members install Pythons, tools and packages (uv 0.13 makes 0666 lock files in the cache):
    doctor stays healthy, for root and for members, and names what it checked."""
    box.ok("root", "uvshare", "share", "setup")
    wheels = wheels_dir(box.root / "wheels", ("hello-a", "1.0"))
    box.ok("alice", "uvshare", "python", "install", "3.11", umask=0o022)
    box.ok("bob", *tool_install_args(wheels, "hello-a"), umask=0o022)
    box.venv_with("carol", wheels, "hello-a")
    box.ok("alice", box.shared / "tool-bin" / "hello-a", umask=0o022)
    for user in ("root", "alice"):
        doctor = box.run(user, "uvshare", "share", "doctor")
        assert doctor.returncode == 0, doctor.stdout
        assert "✗" not in doctor.stdout


def test_doctor_names_exactly_what_is_wrong_and_exits_as_documented(box1: Sandbox) -> None:
    box = box1
    box.ok("root", "uvshare", "share", "setup")
    odd = box.shared / "tools" / "odd"
    odd.write_text("")
    os.chown(odd, 0, 0)
    odd.chmod(0o646)
    sick = box.run("alice", "uvshare", "share", "doctor")
    assert sick.returncode == 1
    line = next(line for line in sick.stdout.splitlines() if str(odd) in line)
    assert "not group-owned (group root): 1" in line and "not group-writable: 1" in line and "world-writable: 1" in line
    box.write_config("group = 'no-such-group-at-all'\n")
    bad = box.run("alice", "uvshare", "share", "doctor")
    assert bad.returncode == 2 and "unknown group" in bad.stdout and "share config" not in bad.stdout, str(bad)
    box.write_config(f"group = '{GROUP}'\n")
    empty = box.run("alice", "uvshare", "share", "doctor")
    assert empty.returncode == 1 and "no shared dirs configured" in empty.stdout
    assert "healthy" not in empty.stdout.splitlines()[-1]


def test_doctor_reports_a_read_only_mount(box1: Sandbox) -> None:
    box = box1
    box.ok("root", "uvshare", "share", "setup")
    shared = str(box.shared)
    subprocess.run(["mount", "--bind", shared, shared], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", shared], check=True)
        doctor = box.run("alice", "uvshare", "share", "doctor")
    finally:
        subprocess.run(["umount", shared], check=True)
    assert "mounted read-only" in doctor.stdout, doctor.stdout


def changed_entries(before: dict[str, tuple[int, ...]], after: dict[str, tuple[int, ...]]) -> set[str]:
    return {p for p, v in after.items() if before.get(p, v)[:3] != v[:3]}


def acl_snapshot(tree: Path) -> dict[str, tuple[object, ...]]:
    """Mode, owner, group and default ACL of every entry below TREE."""
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(tree):
        for name in (*dirnames, *filenames):
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            try:
                default = os.getxattr(path, "system.posix_acl_default", follow_symlinks=False)
            except OSError:
                default = b""
            out[path] = (st.st_mode, st.st_uid, st.st_gid, default)
    return out


def test_repair_counts_what_it_changes_and_a_dry_run_counts_the_same(box: Sandbox) -> None:
    legacy_tree(box)
    before = acl_snapshot(box.shared)
    dry = box.ok("root", "uvshare", "share", "repair", "--dry-run")
    assert acl_snapshot(box.shared) == before
    assert len(dry.stdout.splitlines()) < 40, "the dry run lists every path without --verbose"
    real = box.ok("root", "uvshare", "share", "repair")
    changed = {p for p, v in acl_snapshot(box.shared).items() if before.get(p) != v}
    would = int(dry.stdout.splitlines()[-1].split("would fix ")[1].split()[0].replace(",", ""))
    fixed = int(real.stdout.splitlines()[-1].split("fixed ")[1].split()[0].replace(",", ""))
    assert would == fixed == len(changed), (would, fixed, len(changed), dry.stdout, real.stdout)
    verbose = box.ok("root", "uvshare", "share", "repair", "--dry-run", "--verbose")
    assert verbose.stdout.splitlines()[-1].startswith("dry run: would fix 0 entries")


HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_SH if sys.argv[2] == "shared" else fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(float(sys.argv[3]))
"""


def hold(lock: Path, how: str, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(lock), how, str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_repair_waits_with_a_word_and_reports_what_it_did_before_a_timeout(box1: Sandbox) -> None:
    box = box1
    legacy_tree(box)
    holder = hold(box.shared / "tools" / ".lock", "exclusive", 1.5)
    waited = box.ok("root", "uvshare", "share", "repair", "--timeout", "20")
    holder.wait()
    assert f"waiting up to 20 s for uv's lock {box.shared}/tools/.lock, held by pid {holder.pid} (" in waited.stdout
    # `uv cache clean` holds the cache's lock exclusively: repair times out there, after the other dirs
    cleaner = hold(box.shared / "cache" / ".lock", "exclusive", 30)
    try:
        timed_out = box.run("root", "uvshare", "share", "repair", "--timeout", "0.5")
    finally:
        cleaner.kill()
    assert timed_out.returncode == 1, str(timed_out)
    assert f"python-install-dir {box.shared}/python:" in timed_out.stdout
    assert f"tool-dir {box.shared}/tools:" in timed_out.stdout
    left = f"✗ cache-dir {box.shared}/cache: left unrepaired: uv's lock {box.shared}/cache/.lock is held by pid "
    assert f"{left}{cleaner.pid} (python" in timed_out.stdout and timed_out.stderr == "", str(timed_out)


def test_repair_fixes_the_cache_while_uv_commands_run(box1: Sandbox) -> None:
    """Every uv command holds the cache's lock shared for as long as it runs (a `uv run jupyter lab`: days); repair
    takes it shared too, so it goes on beside them."""
    box = box1
    box.ok("root", "uvshare", "share", "setup")
    stray = box.shared / "cache" / "stray"
    stray.write_text("")
    stray.chmod(0o644)
    running = box.popen(
        "alice",
        "uvshare",
        "run",
        "--no-project",
        "--python",
        "/usr/bin/python3",
        "python",
        "-c",
        "import time; print('up', flush=True); time.sleep(20)",
    )
    try:
        assert running.stdout is not None and running.stdout.readline().strip() == "up"
        start = time.monotonic()
        box.ok("root", "uvshare", "share", "repair", "--timeout", "5")
        assert time.monotonic() - start < 10
    finally:
        running.kill()
    assert stray.stat().st_mode & 0o060 == 0o060


def test_repair_shows_progress_on_a_terminal(box1: Sandbox) -> None:
    box = box1
    box.ok("root", "uvshare", "share", "setup")
    big = box.shared / "cache" / "big"
    big.mkdir()
    for i in range(300):
        sub = big / f"d{i:03d}"
        sub.mkdir()
        for j in range(500):
            os.close(os.open(sub / f"f{j}", os.O_CREAT | os.O_WRONLY, 0o644))
    script = ["script", "-qec", "uvshare share repair", "/dev/null"]
    done = subprocess.run(
        script, env=box.env(box.users["root"]), capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout
    assert "entries checked…" in done.stdout, done.stdout[-500:]
    plain = box.ok("root", "uvshare", "share", "repair")
    assert "entries checked" not in plain.stdout + plain.stderr


def test_messages_name_the_program_as_invoked(box1: Sandbox) -> None:
    box = box1
    box.ok("root", "uvshare", "share", "setup")
    alias = box.root / "alias"
    alias.mkdir(mode=0o755)
    (alias / "uv").symlink_to(box.bin_dir / "uvshare")
    temp = box.shared / "python" / ".temp"
    os.chown(temp, 0, 0)
    temp.chmod(0o755)
    warned = box.run("alice", "uv", "--version", env={"PATH": f"{alias}:{box.uv.parent}:/usr/bin:/bin"})
    assert "run 'uv share repair' as root" in warned.stderr and "uvshare share" not in warned.stderr, warned.stderr
    doctor = box.run("alice", "uv", "share", "doctor", env={"PATH": f"{alias}:{box.uv.parent}:/usr/bin:/bin"})
    assert "fix: sudo uv share setup" in doctor.stdout and "uvshare share" not in doctor.stdout, doctor.stdout


def test_the_outsiders_way_out_works_as_written(box1: Sandbox) -> None:
    box = box1
    box.ok("root", "uvshare", "share", "setup")
    wheels = wheels_dir(box.root / "wheels", ("hello-a", "1.0"))
    refused = box.run("dave", *tool_install_args(wheels, "hello-a"))
    assert refused.returncode == 2 and "set UV_TOOL_DIR to a dir of your own" in refused.stderr
    home = box.home(box.users["dave"])
    own = {"UV_TOOL_DIR": str(home / "tools")}
    box.ok("dave", *tool_install_args(wheels, "hello-a"), env=own)
    assert box.ok("dave", home / ".local" / "bin" / "hello-a").stdout == "hello-a 1.0\n"
    refused = box.run("dave", "uvshare", "python", "install", "3.11")
    assert refused.returncode == 2 and "set UV_PYTHON_INSTALL_DIR to a dir of your own" in refused.stderr
    box.ok("dave", "uvshare", "python", "install", "3.11", env={"UV_PYTHON_INSTALL_DIR": str(home / "pythons")})
    assert list((home / "pythons").glob("cpython-3.11*"))


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (("--version",), {"UVSHARE_UV": "/tmp"}, "/tmp is a directory, not the uv binary"),
        (("share", "repair", "--timeout", "-1"), {}, "--timeout takes a number of seconds, 0 or more, not '-1'"),
        (("share", "repair", "--timeout", "abc"), {}, "--timeout takes a number of seconds, 0 or more, not 'abc'"),
    ],
)
def test_clear_errors(box1: Sandbox, args: tuple[str, ...], env: dict[str, str], needle: str) -> None:
    result = box1.run("root", "uvshare", *args, env=env)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and needle in result.stderr, str(result)


def test_quiet_colours_and_a_closed_stdout(box1: Sandbox) -> None:
    box = box1
    box.ok("root", "uvshare", "share", "setup", "--profile-file", str(box.root / "profile.sh"))
    path = {"PATH": f"{box.shared / 'bin'}:{box.shared / 'tool-bin'}:{box.bin_dir}:{box.uv.parent}:/usr/bin:/bin"}
    assert box.ok("alice", "uvshare", "share", "doctor", "-q", env=path).stdout == ""
    assert box.ok("root", "uvshare", "share", "setup", "-q").stdout == ""
    assert box.ok("root", "uvshare", "share", "repair", "--quiet").stdout == ""
    for term, coloured in (("xterm", True), ("dumb", False)):
        env = {**box.env(box.users["root"]), "TERM": term}
        done = subprocess.run(
            ["script", "-qec", "uvshare share doctor", "/dev/null"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert ("\x1b[" in done.stdout) == coloured, (term, done.stdout[:300])
    closed = box.run("root", "sh", "-c", "uvshare share doctor >&-; echo status=$?")
    assert "Traceback" not in closed.stderr and "status=" in closed.stdout, str(closed)
    piped = box.run("root", "sh", "-c", "uvshare share doctor | head -1")
    assert "Traceback" not in piped.stderr, str(piped)
