"""Root is never a member's puppet, and outsiders can neither block nor own anything: the attack review, as tests.

Root is the victim; a group member (or, with `group = 0`, an arbitrary uid in gid 0) and an outsider are the
attackers. Each test is named for the promise it checks and mounts the attack for real, with the real uv; attacks
that need a member to hard-link a file that is not theirs turn fs.protected_hardlinks off for the test only.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.harness import Sandbox, User, fingerprint, group_gid, with_system_read_only
from tests.support.wheels import tool_install_args, wheels_dir

ANYBODY = User("1000770000", 1000770000, 0, in_passwd=False)  # an arbitrary uid in gid 0, as OpenShift runs


def secret_tree(box: Sandbox) -> tuple[Path, Path]:
    """A root-only dir (members may pass through it) with a root-only file in it: what an attacker wants."""
    private = box.root / "private"
    private.mkdir(mode=0o711)
    secret = private / "secret"
    secret.write_text("root only\n")
    secret.chmod(0o600)
    return private, secret


def marker_dir(box: Sandbox) -> Path:
    """A dir every test user can write markers in."""
    marks = box.root / "marks"
    marks.mkdir(exist_ok=True)
    marks.chmod(0o777)
    return marks


def spy(path: Path, marks: Path) -> None:
    """Write at PATH a program that records who ran it (the attacker's payload)."""
    path.write_text(f"#!/bin/sh\nid -u >> {marks}/ran-by\nexit 0\n")
    path.chmod(0o775)


def ran_as_root(marks: Path) -> bool:
    ran = marks / "ran-by"
    return ran.exists() and "0" in ran.read_text().split()


def no_traceback(*results: object) -> None:
    for result in results:
        assert "Traceback" not in str(result), str(result)


# 1 ---------------------------------------------------------------------------------------------------------------


def test_root_never_runs_a_members_interpreter(box: Sandbox) -> None:
    """A member replaces a shared interpreter with their own program; root's `python install` for a full key or a
    range must not run it (uv's own install runs nothing; `uv python find` would)."""
    box.ok("root", "uvshare", "python", "install", "3.11")
    install = next((box.shared / "python").glob("cpython-3.11.*-linux-*"))
    marks = marker_dir(box)
    box.ok("alice", "sh", "-c", f'rm "{install}/bin/python3.11"')
    spy(install / "bin" / "python3.11", marks)
    for request in (install.name, ">=3.11,<3.12", "3.11"):
        result = box.run("root", "uvshare", "python", "install", request)
        no_traceback(result)
        assert not ran_as_root(marks), f"root ran the member's interpreter for {request!r}: {result}"


# 2 ---------------------------------------------------------------------------------------------------------------


def test_outsiders_cannot_open_any_lock_file(box: Sandbox) -> None:
    """Every lock file in the tree — uvshare's, and uv's own per-entry ones in the cache (0666 since uv 0.13) — is
    out of an outsider's reach: one that could open it could hold it and hang every member."""
    wheels = wheels_dir(box.root / "wheels", ("hello-a", "1.0"))
    box.ok("root", "uvshare", "python", "install", "3.11")
    box.venv_with("alice", wheels, "hello-a")  # per-entry locks in the cache
    locks = [p for p in box.shared.rglob("*.lock") if p.is_file()]
    assert len(locks) >= 3, locks  # .lock in python, tools, cache; uv 0.13 adds per-entry ones in the cache
    probe = (
        "import os, sys\n"
        "for p in sys.argv[1:]:\n"
        "    try:\n"
        "        os.close(os.open(p, os.O_RDONLY)); print(p)\n"
        "    except OSError:\n"
        "        pass\n"
    )
    opened = box.run("dave", "/usr/bin/python3", "-c", probe, *locks)
    assert opened.stdout == "", f"an outsider can open (and so hold) these locks:\n{opened.stdout}"
    # and an outsider who tries to hold the cache's lock blocks nobody
    holder = box.run("dave", "flock", "-n", "-x", box.shared / "cache" / ".lock", "true")
    assert holder.returncode != 0
    # members still use everything; outsiders still use the shared Pythons read-only
    box.ok("bob", "uvshare", "run", "--no-project", "--python", "3.11", "python", "-c", "print(1)", timeout=60)
    box.ok("dave", "uvshare", "run", "--no-project", "--python", "3.11", "python", "-c", "print(1)", timeout=60)


# 3 ---------------------------------------------------------------------------------------------------------------

# Run as the member: wait until repair opens WATCHED (a big dir, walked before DEST), then move the hard link LINK
# into DEST, so that a walk that counts sightings sees it twice.
WATCHER = r"""
import ctypes, os, struct, sys
watched, link, dest = sys.argv[1:]
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(0)
IN_OPEN = 0x20
if libc.inotify_add_watch(fd, watched.encode(), IN_OPEN) < 0:
    sys.exit("inotify_add_watch failed")
print("ready", flush=True)
os.read(fd, 4096)
os.rename(link, dest)
print("moved", flush=True)
"""


def test_repair_never_counts_one_hard_link_twice(box1: Sandbox, no_protected_hardlinks: None) -> None:
    """A member hard-links a file only root may write (world-readable, like /etc/hosts: its readers are not the point,
    its writers are) into the tree, and (a) nests one config dir in another, so the link is walked twice, or (b)
    renames the link from a dir repair has walked into one it has not, while it walks. Either way one link is seen
    twice, never all of them: the file stays root's, not the group's to write."""
    box = box1
    box.write_config(python_cache_dir=str(box.shared / "cache" / "python-downloads"))
    box.ok("root", "uvshare", "share", "setup")
    _, secret = secret_tree(box)
    secret.chmod(0o644)
    before = fingerprint(secret)
    nested = box.shared / "cache" / "python-downloads" / "evil"
    box.ok("alice", "ln", secret, nested)
    no_traceback(box.run("root", "uvshare", "share", "repair"))
    assert fingerprint(secret) == before, "repair handed a root-only file to the group (nested dirs)"

    # (b) the rename race, made deterministic by inotify on a big dir that is walked in between
    early, late = box.shared / "tools" / "early", box.shared / "cache" / "zz-late"
    big = box.shared / "cache" / "yy-big"
    box.ok("alice", "sh", "-c", f'mkdir -p "{early}" "{late}" "{big}" && cd "{big}" && seq 1 4000 | xargs touch')
    box.ok("alice", "ln", secret, early / "evil")
    watcher = box.popen("alice", "/usr/bin/python3", "-c", WATCHER, big, early / "evil", late / "evil")
    assert watcher.stdout is not None and watcher.stdout.readline().strip() == "ready"
    time.sleep(1.1)  # so that a walk that trusted "old enough" ctimes alone would trust this link
    repaired = box.run("root", "uvshare", "share", "repair")
    no_traceback(repaired)
    assert watcher.stdout.readline().strip() == "moved", "repair never opened the big dir"
    watcher.wait(timeout=30)
    assert fingerprint(secret) == before, "repair handed a root-only file to the group (rename race)"
    assert "hard links" in repaired.stdout


# 4 ---------------------------------------------------------------------------------------------------------------


def test_root_follows_no_symlink_a_member_hard_linked_into_a_sticky_dir(
    box1: Sandbox, no_protected_hardlinks: None
) -> None:
    """A root-owned symlink (to a 0700 dir holding a key), hard-linked by a member into a world-writable sticky dir
    where the shared tree is configured: root's calls and repair must not follow it."""
    box = box1
    shared = sticky_config(box)
    keys = box.root / "keys"
    keys.mkdir(mode=0o700)
    (keys / "key").write_text("private\n")
    (keys / "key").chmod(0o600)
    admin_link = box.root / "admin-link"  # root's own symlink, in a dir only root writes
    admin_link.symlink_to(keys)
    link = "import os, sys; os.link(sys.argv[1], sys.argv[2], follow_symlinks=False)"
    box.ok("alice", "/usr/bin/python3", "-c", link, admin_link, shared)
    assert shared.lstat().st_uid == 0 and shared.is_symlink()
    before = (fingerprint(keys), fingerprint(keys / "key"))
    for command in (("uvshare", "cache", "dir"), ("uvshare", "share", "setup"), ("uvshare", "share", "repair")):
        result = box.run("root", *command)
        no_traceback(result)
        assert result.returncode == 2 and "symlink" in result.stderr, str(result)
        assert (fingerprint(keys), fingerprint(keys / "key")) == before, command


# 5 ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("group", ["named", "gid 0"])
def test_root_never_changes_a_file_a_member_hard_linked_at_a_fixed_name(
    box1: Sandbox, no_protected_hardlinks: None, group: str
) -> None:
    """A member replaces tools/.lock and cache/.gitignore with hard links to group-owned 0640 files outside the
    tree; root's next call replaces the names and leaves the files alone (with `group = 0` as well, where every
    root:root file is group-owned)."""
    box = box1
    attacker: User | str = "alice"
    gid = group_gid()
    if group == "gid 0":
        box.write_config(group=0)
        attacker, gid = ANYBODY, 0
    box.run("root", "uvshare", "share", "setup")
    victims = []
    for name in ("lock-victim", "tag-victim"):
        victim = box.root / name
        victim.write_text("root's\n")
        os.chown(victim, 0, gid)
        victim.chmod(0o640)
        victims.append(victim)
    box.ok(attacker, "sh", "-c", f'rm -f "{box.shared}/tools/.lock" && ln "{victims[0]}" "{box.shared}/tools/.lock"')
    box.ok(attacker, "sh", "-c", f'ln "{victims[1]}" "{box.shared}/cache/.gitignore"')
    before = [fingerprint(v) for v in victims]
    result = box.run("root", "uvshare", "share", "setup")
    assert [fingerprint(v) for v in victims] == before, result
    assert (box.shared / "tools" / ".lock").stat().st_ino != victims[0].stat().st_ino
    assert not (box.shared / "cache" / ".gitignore").exists() or (
        (box.shared / "cache" / ".gitignore").stat().st_ino != victims[1].stat().st_ino
    )
    assert "removed" in result.stdout + result.stderr


# 6 ---------------------------------------------------------------------------------------------------------------


def test_roots_own_installs_share_no_inode_with_member_writable_files(box1: Sandbox) -> None:
    """Root's venv and `pip install` through uvshare: nothing of it is a hard link to a file in the shared cache (or
    anywhere a member can write), so a member editing the cache cannot change root's installed code."""
    box = box1
    box.ok("root", "uvshare", "share", "setup")
    wheels = wheels_dir(box.root / "wheels", ("hello-a", "1.0"))
    box.venv_with("alice", wheels, "hello-a")  # the shared cache holds hello-a now
    venv = box.venv_with("root", wheels, "hello-a", venv=box.root / "root-venv")
    cache_inodes = {p.stat().st_ino for p in (box.shared / "cache").rglob("*") if p.is_file() and not p.is_symlink()}
    linked = [p for p in venv.rglob("*") if p.is_file() and not p.is_symlink() and p.stat().st_ino in cache_inodes]
    assert not linked, linked[:5]
    multi = [p for p in venv.rglob("*.py") if not p.is_symlink() and p.stat().st_nlink > 1]
    assert not multi, multi[:5]
    for cached in (box.shared / "cache").rglob("hello_a.py"):
        box.run("alice", "sh", "-c", f'echo "raise SystemExit(\'pwned\')" >> "{cached}"')
    assert box.ok("root", venv / "bin" / "hello-a").stdout == "hello-a 1.0\n"


# 7 ---------------------------------------------------------------------------------------------------------------


def test_root_never_runs_a_uv_a_member_planted(box1: Sandbox) -> None:
    """A member puts a `uv` in the shared tool bin dir, which root's PATH lists first; and a member-owned config
    (named by UVSHARE_CONFIG) sets uv to their own program. Root's calls and doctor run neither."""
    box = box1
    box.ok("root", "uvshare", "share", "setup")
    marks = marker_dir(box)
    planted = box.shared / "tool-bin" / "uv"
    box.ok(
        "alice", "sh", "-c", f'printf "#!/bin/sh\\nid -u >> {marks}/ran-by\\n" > "{planted}" && chmod 775 "{planted}"'
    )
    real = subprocess.run([box.uv, "--version"], capture_output=True, text=True, check=True).stdout
    path = {"PATH": f"{box.shared / 'tool-bin'}:{box.bin_dir}:{box.uv.parent}:/usr/bin:/bin"}
    assert box.ok("root", "uvshare", "--version", env=path).stdout == real
    doctor = box.run("root", "uvshare", "share", "doctor", env=path)
    no_traceback(doctor)
    assert not ran_as_root(marks)
    assert f"✓ uv: {box.uv}" in doctor.stdout and "PATH" in doctor.stdout

    config = box.home(box.users["alice"]) / "config.toml"
    box.ok(
        "alice",
        "sh",
        "-c",
        f'printf \'group = "{box.config.read_text().split(chr(34))[1]}"\\nuv = "{planted}"\\n\' > {config}',
    )
    for command in (("uvshare", "--version"), ("uvshare", "share", "doctor")):
        result = box.run("root", *command, env={"UVSHARE_CONFIG": str(config)})
        no_traceback(result)
        assert result.returncode == 2 and "root will not read" in result.stderr + result.stdout, str(result)
    assert not ran_as_root(marks)


# 8 ---------------------------------------------------------------------------------------------------------------


def sticky_config(box: Sandbox) -> Path:
    """The shared dirs configured below a world-writable sticky dir (as /tmp, /var/tmp, /dev/shm are)."""
    sticky = box.root / "tmp"
    sticky.mkdir()
    sticky.chmod(0o1777)
    shared = sticky / "uv"
    box.write_config(
        **{
            k: str(shared / v)
            for k, v in {
                "python_install_dir": "python",
                "python_bin_dir": "bin",
                "tool_dir": "tools",
                "tool_bin_dir": "tool-bin",
                "cache_dir": "cache",
                "python_cache_dir": "python-cache",
            }.items()
        }
    )
    return shared


def test_an_outsider_cannot_squat_a_shared_dir(box1: Sandbox) -> None:
    """An outsider creates the shared tree's dir first: doctor says so, setup takes it back (it is empty), and the
    outsider can no longer chmod or swap it."""
    box = box1
    shared = sticky_config(box)
    box.ok("dave", "mkdir", "-m", "0777", shared)
    sick = box.run("root", "uvshare", "share", "doctor")
    assert sick.returncode == 1 and "not a member" in sick.stdout, sick.stdout
    member = box.run("alice", "uvshare", "--version")
    assert member.returncode == 2 and "owned by" in member.stderr, str(member)
    setup = box.ok("root", "uvshare", "share", "setup")
    assert "took back" in setup.stdout, setup.stdout
    assert shared.stat().st_uid == 0 and not shared.stat().st_mode & 0o002
    assert box.run("dave", "chmod", "0777", shared).returncode != 0
    assert box.run("dave", "mv", shared, f"{shared}.old").returncode != 0
    healthy = box.run("root", "uvshare", "share", "doctor")
    assert "not a member" not in healthy.stdout, healthy.stdout
    box.ok("alice", "uvshare", "--version")


def test_setup_refuses_a_squatted_dir_that_is_not_empty(box1: Sandbox) -> None:
    box = box1
    shared = sticky_config(box)
    box.ok("dave", "sh", "-c", f'mkdir -m 0777 "{shared}" && mkdir -m 0777 "{shared}/python" && touch "{shared}/x"')
    setup = box.run("root", "uvshare", "share", "setup")
    assert setup.returncode == 2, str(setup)
    assert setup.stderr.startswith("uvshare: error: ") and "owned by" in setup.stderr and "rm -r" in setup.stderr
    assert shared.stat().st_uid == box.users["dave"].uid  # nothing was done to it


# 9 ---------------------------------------------------------------------------------------------------------------


def test_nothing_a_member_makes_crashes_doctor_or_repair(box1: Sandbox) -> None:
    """300 nested dirs, a name that is not UTF-8, a shared dir replaced by a file: one line each, the rest repaired,
    never a traceback (also under LANG=en_US.UTF-8, and with --json)."""
    box = box1
    box.ok("root", "uvshare", "share", "setup")
    deep = "/".join(["d"] * 300)
    box.ok("alice", "sh", "-c", f'cd "{box.shared}/cache" && mkdir -p {deep}')
    box.ok(
        "alice",
        "/usr/bin/python3",
        "-c",
        "import os, sys; p = os.fsencode(sys.argv[1]) + b'/caf\\xe9-\\xff'; open(p, 'w'); os.chmod(p, 0o600)",
        box.shared / "cache",
    )
    box.ok("alice", "sh", "-c", f'umask 022 && touch "{box.shared}/tools/mine"')
    env = {"LANG": "en_US.UTF-8"}
    repair = box.run("root", "uvshare", "share", "repair", env=env)
    no_traceback(repair)
    assert repair.returncode == 1 and "deeper than" in repair.stdout, str(repair)
    assert (box.shared / "tools" / "mine").stat().st_mode & 0o020, "repair gave up on the rest"
    assert (box.shared / "tools" / "mine").stat().st_mode & 0o020
    doctor = box.run("root", "uvshare", "share", "doctor", env=env)
    as_json = box.run("root", "uvshare", "share", "doctor", "--json", env=env)
    no_traceback(doctor, as_json)
    assert "deeper than" in doctor.stdout
    json.loads(as_json.stdout)
    box.ok(
        "alice",
        "/usr/bin/python3",
        "-c",
        "import os, sys; os.chmod(os.fsencode(sys.argv[1]) + b'/caf\\xe9-\\xff', 0o600)",
        box.shared / "cache",
    )
    named = box.run("root", "uvshare", "share", "doctor", env=env)
    assert "caf\\xe9-\\xff" in named.stdout, named.stdout
    subprocess.run(["rm", "-rf", str(box.shared / "tools")], check=True)
    (box.shared / "tools").write_text("not a dir\n")
    for command in (("share", "repair"), ("share", "doctor"), ("share", "setup"), ("cache", "dir")):
        result = box.run("root", "uvshare", *command, env=env)
        no_traceback(result)
        assert result.returncode in (0, 1, 2) and "tools" in result.stdout + result.stderr, str(result)


# 10 --------------------------------------------------------------------------------------------------------------


def test_names_reach_roots_terminal_escaped(box1: Sandbox) -> None:
    """A `.lock` symlink whose target holds CR, ESC[2K, colour codes and an OSC title, and names with newlines that
    would print fake ✓ lines: every name root sees is escaped."""
    box = box1
    box.ok("root", "uvshare", "share", "setup")
    evil = "\r\x1b[2K\x1b[32m✓ all fine\x1b]0;pwned\x07"
    target = box.root / f"x{evil}"
    box.ok(
        "alice",
        "/usr/bin/python3",
        "-c",
        "import os, sys; os.remove(sys.argv[2]); os.symlink(sys.argv[1], sys.argv[2])",
        target,
        box.shared / "python" / ".lock",
    )
    box.ok(
        "alice",
        "/usr/bin/python3",
        "-c",
        "import sys; open(sys.argv[1], 'w')",
        box.shared / "cache" / "a\n✓ cache-dir: all fine",
    )
    box.ok("alice", "chmod", "0600", box.shared / "cache" / "a\n✓ cache-dir: all fine")
    outputs = [box.run("root", "uvshare", "cache", "dir")]
    for command in (("doctor",), ("doctor", "--json"), ("repair", "--dry-run", "--verbose"), ("repair",)):
        outputs.append(box.run("root", "uvshare", "share", *command, env={"TERM": "xterm"}))
    for result in outputs:
        text = result.stdout + result.stderr
        assert "\x1b]" not in text and "\r" not in text and "\x07" not in text and "\x1b[2K" not in text, str(result)
        assert not any(line.startswith("✓ cache-dir: all fine") for line in text.splitlines()), str(result)
    assert "\\x1b" in outputs[0].stderr, outputs[0].stderr


# 11 --------------------------------------------------------------------------------------------------------------


def test_launcher_over_a_fifo_does_not_hang(box1: Sandbox) -> None:
    fifo = box1.root / "bin-fifo"
    fifo.parent.mkdir(exist_ok=True)
    os.mkfifo(fifo)
    result = box1.run("root", "uvshare", "share", "launcher", fifo, timeout=20)
    assert result.returncode == 2 and "is not a uvshare launcher" in result.stderr, str(result)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


# 12 --------------------------------------------------------------------------------------------------------------


def test_a_planted_install_never_makes_root_skip(box1: Sandbox) -> None:
    """A member makes `python/cpython-3.13.0-…/bin/python3.13` (any program) and a dangling `bin/python3.13`: root's
    `python install 3.13` is not answered "already installed"; uv's own install decides, and nothing planted runs."""
    box = box1
    box.ok("root", "uvshare", "share", "setup")
    marks = marker_dir(box)
    fake = box.shared / "python" / "cpython-3.13.0-linux-x86_64-gnu" / "bin"
    box.ok("alice", "mkdir", "-p", fake)
    box.ok(
        "alice",
        "sh",
        "-c",
        f'printf "#!/bin/sh\\nid -u >> {marks}/ran-by\\n" > "{fake}/python3.13" && '
        f'chmod 775 "{fake}/python3.13" && ln -s /nonexistent "{box.shared}/bin/python3.13"',
    )
    result = box.run("root", "uvshare", "python", "install", "3.13")
    no_traceback(result)
    assert "uvshare: Python 3.13.0 is already installed" not in result.stderr, str(result)
    assert not ran_as_root(marks)
    # the same with lib/python3.13 and a link that resolves: still not what uv's own install needs (_sysconfigdata_)
    box.ok(
        "alice",
        "sh",
        "-c",
        f'mkdir -p "{fake.parent}/lib/python3.13" && rm -f "{box.shared}/bin/python3.13" && '
        f'ln -s "{fake}/python3.13" "{box.shared}/bin/python3.13"',
    )
    result = box.run("root", "uvshare", "python", "install", "3.13")
    assert "is already installed" not in result.stderr, str(result)
    assert not ran_as_root(marks)


# found by an independent review -----------------------------------------------------------------------------------


def test_root_never_hands_the_group_a_hard_link_whose_original_was_replaced(
    box1: Sandbox, no_protected_hardlinks: None
) -> None:
    """A member hard-links a root-only file into the tree (and over a file uv writes); then root replaces the original
    by a rename, as passwd, useradd and editors do, so the member's link is the only one left. Neither root's calls
    nor repair may give the group (or anyone) read on it."""
    box = box1
    box.ok("root", "uvshare", "share", "setup")
    _, secret = secret_tree(box)
    box.ok("alice", "ln", secret, box.shared / "tools" / "evil")
    box.ok(
        "alice", "sh", "-c", f'rm -f "{box.shared}/python/.gitignore" && ln "{secret}" "{box.shared}/python/.gitignore"'
    )
    fresh = secret.with_name("secret.new")  # the rename that leaves the member's links the only ones
    fresh.write_text("root only, new\n")
    fresh.chmod(0o600)
    fresh.rename(secret)
    for command in (("uvshare", "--version"), ("uvshare", "share", "setup"), ("uvshare", "share", "repair")):
        no_traceback(box.run("root", *command))
    for planted in (box.shared / "tools" / "evil", box.shared / "python" / ".gitignore"):
        if planted.exists():
            st = planted.stat()
            assert not st.st_mode & 0o044, f"{planted}: {oct(st.st_mode)}"
        assert box.run("alice", "cat", planted).returncode != 0, planted
    doctor = box.run("root", "uvshare", "share", "doctor")
    assert "never widens who may read" in doctor.stdout, doctor.stdout


def test_root_reads_no_config_that_could_hang_or_flood_it(box1: Sandbox) -> None:
    """Root's HOME in a member's home (`sudo -E`): the member's config is a FIFO, or a link to /dev/urandom. Root
    reads neither (nor even opens them), and stops at once with one line; a member's own FIFO config does not hang
    them either."""
    box = box1
    home = box.home(box.users["alice"])
    conf = home / ".config" / "uvshare"
    box.ok("alice", "mkdir", "-p", conf)
    env = {"HOME": str(home), "UVSHARE_CONFIG": "", "XDG_CONFIG_HOME": "", "XDG_CONFIG_DIRS": str(box.root / "none")}
    for plant in ("mkfifo {f}", "ln -s /dev/urandom {f}"):
        box.ok("alice", "sh", "-c", f"rm -f {conf}/config.toml && " + plant.format(f=conf / "config.toml"))
        result = box.run("root", "uvshare", "--version", env=env, timeout=20)
        assert result.returncode == 2 and "root will not read" in result.stderr, str(result)
        mine = box.run("alice", "uvshare", "--version", env=env, timeout=20)
        assert mine.returncode == 2 and "not a regular file" in mine.stderr, str(mine)


def test_root_walks_dot_dot_for_real_on_the_way_to_uv(box1: Sandbox) -> None:
    """UVSHARE_UV through a member's symlink and `..`: read as text it names the real uv; walked, it is the member's
    program. Root never runs it."""
    box = box1
    box.ok("root", "uvshare", "share", "setup")
    marks = marker_dir(box)
    link = box.shared / "tool-bin" / "evil"
    ups = len(link.parts) - 1  # `..` enough to reach / from the link, read as text
    home = box.home(box.users["alice"])
    deep = home / "w" / "/".join(["a"] * ups)
    fake = home / "w" / str(box.uv).lstrip("/")
    box.ok("alice", "mkdir", "-p", deep, fake.parent)
    box.ok("alice", "sh", "-c", f'printf "#!/bin/sh\\nid -u >> {marks}/ran-by\\n" > "{fake}" && chmod 755 "{fake}"')
    box.ok("alice", "chmod", "-R", "a+rx", home)
    box.ok("alice", "ln", "-s", deep, link)
    sneaky = str(link) + "/.." * ups + str(box.uv)
    result = box.run("root", "uvshare", "--version", env={"UVSHARE_UV": sneaky})
    no_traceback(result)
    assert not ran_as_root(marks), str(result)
    assert result.returncode == 2 and "root will not run" in result.stderr, str(result)


def test_setup_clears_an_outsiders_symlink_or_file_in_a_sticky_dir(box1: Sandbox) -> None:
    """Before setup, an outsider plants a symlink (or a file) where the shared tree goes, in a sticky dir: members are
    told who did it, doctor reports it without crashing, and root's setup removes it and builds the tree."""
    box = box1
    shared = sticky_config(box)
    for plant in (f"ln -s /nowhere {shared}", f"touch {shared}"):
        box.ok("dave", "sh", "-c", plant)
        member = box.run("alice", "uvshare", "--version")
        no_traceback(member)
        if "ln -s" in plant:
            assert member.returncode == 2 and box.users["dave"].name in member.stderr, str(member)
        doctor = box.run("alice", "uvshare", "share", "doctor")
        no_traceback(doctor)
        assert doctor.returncode == 1 and str(shared) in doctor.stdout, str(doctor)
        setup = box.run("root", "uvshare", "share", "setup")
        no_traceback(setup)
        assert setup.returncode == 0 and "an outsider, put there" in setup.stdout, str(setup)
        assert shared.is_dir() and not shared.is_symlink() and shared.stat().st_uid == 0
        box.ok("alice", "uvshare", "--version")
        subprocess.run(["rm", "-rf", str(shared)], check=True)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('group = "{group}"\ncache-dir = "/tmp/a\\u0000b"\n', "control characters"),
        ("group = 99999999999999999999\n", "gid from 0 to"),
        ("group = '4294967296'\n", "gid from 0 to"),
    ],
)
def test_config_values_never_crash(box1: Sandbox, text: str, needle: str) -> None:
    box1.write_config(text.replace("{group}", box1.config.read_text().split('"')[1]))
    for user in ("root", "alice"):
        for command in (("--version",), ("share", "doctor"), ("share", "config")):
            result = box1.run(user, "uvshare", *command)
            no_traceback(result)
            assert result.returncode == 2 and needle in result.stderr + result.stdout, str(result)
    init = box1.run(
        "root",
        "uvshare",
        "share",
        "init",
        "--group",
        "99999999999999999999",
        "--prefix",
        "/x",
        "--config",
        str(box1.root / "init.toml"),
    )
    assert init.returncode == 2 and "gid from 0 to" in init.stderr, str(init)


# found by a second review -----------------------------------------------------------------------------------------


def test_a_taken_back_dir_keeps_none_of_the_outsiders_acls(box1: Sandbox) -> None:
    """An outsider makes the dir where the tree goes and gives themselves rwx in its access and default ACLs; setup
    takes it back: none of their entries may survive into the tree, and members must be able to write."""
    box = box1
    shared = sticky_config(box)
    dave = box.users["dave"].name
    box.ok(
        "dave",
        "sh",
        "-c",
        f'mkdir "{shared}" && setfacl -m u:{dave}:rwx "{shared}" && setfacl -d -m u:{dave}:rwx "{shared}"',
    )
    setup = box.ok("root", "uvshare", "share", "setup")
    assert "took back" in setup.stdout, setup.stdout
    for path in (shared, shared / "tools", shared / "tools" / ".lock", shared / "cache"):
        assert (
            f"user:{dave}:"
            not in subprocess.run(["getfacl", "-p", str(path)], capture_output=True, text=True, check=True).stdout
        ), path
    assert box.run("dave", "touch", shared / "tools" / "owned-by-outsider").returncode != 0
    assert box.run("dave", "flock", "-n", shared / "tools" / ".lock", "true").returncode != 0
    box.ok("alice", "touch", shared / "tools" / "mine")
    assert box.ok("root", "uvshare", "share", "doctor").stdout.rstrip().endswith("healthy")


def test_an_inherited_acl_never_shuts_the_group_out(box1: Sandbox) -> None:
    """The prefix already carries someone's default ACL (group::r-x, and a named entry that makes a mask): init says
    healthy only if members can really write — and they can."""
    box = box1
    box.config.unlink()
    box.shared.mkdir(parents=True)
    subprocess.run(["setfacl", "-d", "-m", "u:daemon:rx", str(box.shared)], check=True)
    init = box.run("root", *box.init_args(prefix=str(box.shared), config=str(box.config)))
    assert init.stdout.rstrip().endswith("healthy"), str(init)
    wheels = wheels_dir(box.root / "wheels", ("hello-a", "1.0"))
    box.ok("alice", *tool_install_args(wheels, "hello-a"), umask=0o022)
    box.ok("bob", "uvshare", "tool", "uninstall", "hello-a")
    # an existing dir whose access ACL keeps the group out (mask rwx, group::r-x) is found and fixed
    tools = box.shared / "tools"
    subprocess.run(["setfacl", "-m", "g::r-x,m::rwx", str(tools)], check=True)
    sick = box.run("alice", "uvshare", "share", "doctor")
    assert "keeps the group from writing" in sick.stdout, sick.stdout
    box.ok("root", "uvshare", "share", "setup")
    box.ok("alice", "touch", tools / "mine")


def test_root_writes_nothing_through_a_planted_link(box1: Sandbox) -> None:
    """init's --config and share launcher as root: a symlink an outsider or member planted on the way (or at the
    target) is never written through; a FIFO or device there is never opened as a file."""
    box = box1
    sticky = box.root / "pub"
    sticky.mkdir()
    sticky.chmod(0o1777)
    rootonly = box.root / "rootonly"
    rootonly.mkdir(mode=0o700)
    (rootonly / "uv").write_text("precious\n")
    (rootonly / "uv").chmod(0o600)
    box.ok("dave", "ln", "-s", rootonly, sticky / "demo")
    init = box.run(
        "root",
        *box.init_args(prefix=str(sticky / "demo" / "tree"), config=str(sticky / "demo" / "config.toml")),
    )
    assert init.returncode == 2, str(init)
    assert sorted(p.name for p in rootonly.iterdir()) == ["uv"]
    box.ok("root", "uvshare", "share", "setup")
    tool_bin = box.shared / "tool-bin"
    box.member_writable_prefix()  # an older tree, or a group's project dir: members can rename a shared dir
    box.ok("alice", "sh", "-c", f'mv "{tool_bin}" "{tool_bin}.old" && ln -s "{rootonly}" "{tool_bin}"')
    forced = box.run("root", "uvshare", "share", "launcher", "--force", tool_bin / "uv")
    assert forced.returncode == 2, str(forced)
    assert (rootonly / "uv").read_text() == "precious\n"
    box.ok(
        "alice", "sh", "-c", f'rm "{tool_bin}" && mv "{tool_bin}.old" "{tool_bin}" && ln -s /dev/ptmx "{tool_bin}/uv"'
    )
    refused = box.run("root", "uvshare", "share", "launcher", tool_bin / "uv")
    assert refused.returncode == 2 and "root will not write" in refused.stderr, str(refused)
    assert (tool_bin / "uv").is_symlink()
    mine = box.root / "mine"
    mine.mkdir(mode=0o755)
    (mine / "uv").symlink_to("/dev/ptmx")
    over = box.run("root", "uvshare", "share", "launcher", mine / "uv", timeout=20)
    assert over.returncode == 2 and "is not a uvshare launcher" in over.stderr, str(over)


def test_repair_never_crosses_a_mount_point(box1: Sandbox) -> None:
    """A bind mount of an outside dir (same filesystem, same st_dev) and a tmpfs inside the tree: repair enters
    neither and changes neither's root."""
    box = box1
    box.ok("root", "uvshare", "share", "setup")
    outside = box.root / "outside"
    outside.mkdir(mode=0o755)
    (outside / "file").write_text("root's\n")
    (outside / "file").chmod(0o644)
    bind, tmpfs = box.shared / "tools" / "bindmnt", box.shared / "tools" / "tmpfsmnt"
    bind.mkdir()
    tmpfs.mkdir()
    subprocess.run(["mount", "--bind", str(outside), str(bind)], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", str(tmpfs)], check=True)
    try:
        before = (fingerprint(outside / "file"), outside.stat().st_mode, tmpfs.stat().st_mode, tmpfs.stat().st_gid)
        repaired = box.run("root", "uvshare", "share", "repair")
        no_traceback(repaired)
        after = (fingerprint(outside / "file"), outside.stat().st_mode, tmpfs.stat().st_mode, tmpfs.stat().st_gid)
        assert after == before, repaired.stdout
        assert "a mount point" in repaired.stdout, repaired.stdout
    finally:
        subprocess.run(["umount", str(bind)], check=False)
        subprocess.run(["umount", str(tmpfs)], check=False)


def test_a_system_dir_is_never_a_shared_dir(box1: Sandbox) -> None:
    box = box1
    before = (os.stat("/").st_mode, os.stat("/").st_gid, os.stat("/usr/bin").st_mode)
    box.write_config(python_bin_dir="/usr/local/bin")
    # in a namespace where / is read-only: code that failed to refuse would chmod the real dirs otherwise
    result = box.run("root", *with_system_read_only("uvshare", "--version"))
    assert result.returncode == 2 and "a system dir" in result.stderr, str(result)
    init = box.run("root", *with_system_read_only(*box.init_args(prefix="/", config=str(box.root / "init.toml"))))
    assert init.returncode == 2 and "a system dir" in init.stderr, str(init)
    empty = box.run("root", *box.init_args(prefix="/x", config=""))
    assert empty.returncode == 2 and "--config needs" in empty.stderr, str(empty)
    assert (os.stat("/").st_mode, os.stat("/").st_gid, os.stat("/usr/bin").st_mode) == before


def test_a_members_acl_never_lets_an_outsider_write_for_long(box1: Sandbox) -> None:
    """A member gives an outsider rwx on a dir of theirs in the tool dir, through named entries in its access and
    default ACLs, and the outsider makes a file there: doctor names both, repair takes the outsider's write away and
    the file from them (its owner could always write or chmod it), and nothing stays theirs."""
    box = box1
    box.ok("root", "uvshare", "share", "setup")
    mine = box.shared / "tools" / "mine"
    dave = box.users["dave"].name
    box.ok(
        "alice",
        "sh",
        "-c",
        f'mkdir "{mine}" && setfacl -m u:{dave}:rwx "{mine}" && setfacl -d -m u:{dave}:rwx "{mine}"',
    )
    box.ok("dave", "touch", mine / "before")  # the member's choice, for now
    sick = box.run("root", "uvshare", "share", "doctor")
    assert sick.returncode == 1 and "lets someone outside the group write" in sick.stdout, sick.stdout
    no_traceback(box.run("root", "uvshare", "share", "repair"))
    assert box.run("dave", "touch", mine / "after").returncode != 0
    assert box.run("dave", "sh", "-c", f'echo x >> "{mine}/before"').returncode != 0  # no longer theirs
    assert (mine / "before").stat().st_uid == 0
    assert box.ok("root", "uvshare", "share", "doctor").stdout.rstrip().endswith("healthy")


# variants ----------------------------------------------------------------------------------------------------------


def test_root_removes_a_symlink_planted_at_a_file_uv_writes(box1: Sandbox) -> None:
    """uv (as root) rewrites `.gitignore` in the tool and install dirs: a member's symlink there to a root file would
    have root's uv overwrite that file. Root's call removes the name first."""
    box = box1
    box.ok("root", "uvshare", "share", "setup")
    victim = box.root / "root-file"
    victim.write_text("keep\n")
    victim.chmod(0o644)
    box.ok("alice", "ln", "-sf", victim, box.shared / "tools" / ".gitignore")
    result = box.ok("root", "uvshare", "cache", "dir")
    assert "removed" in result.stderr and not (box.shared / "tools" / ".gitignore").is_symlink()
    wheels = wheels_dir(box.root / "wheels", ("hello-a", "1.0"))
    box.ok("root", *tool_install_args(wheels, "hello-a"))
    assert victim.read_text() == "keep\n"


def test_an_outsider_cannot_block_repair_or_members_through_the_cache(box1: Sandbox) -> None:
    """The cache is closed to outsiders: they cannot even list it, so no lock in it is theirs to hold."""
    box = box1
    box.ok("root", "uvshare", "share", "setup")
    listed = box.run("dave", "ls", box.shared / "cache")
    assert listed.returncode != 0
    assert box.run("dave", "/usr/bin/python3", "-c", f"open({str(box.shared / 'cache' / '.lock')!r})").returncode != 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
