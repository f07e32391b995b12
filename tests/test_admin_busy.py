"""doctor and repair on a box in use, with the real uv, as real users: each test one finding of issue 15 (each failed
before the change it came with)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
from pathlib import Path

from tests.support.harness import Sandbox, shared_tmp
from tests.support.wheels import make_wheel, tool_install_args, wheels_dir
from tests.test_admin import legacy_tree
from tests.test_admin_day import acl_snapshot

# uv's temporary entries: the tempfile crate's names, `.tmp` and six letters or digits
TEMPORARY = re.compile(r"\.tmp[A-Za-z0-9]{6}")


def in_flight(tree: Path) -> dict[str, tuple[object, ...]]:
    """Mode, owner, group and default ACL of everything in and below uv's temporary entries in TREE."""
    found: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(tree):
        for name in (*dirnames, *filenames):
            if TEMPORARY.fullmatch(name):
                path = Path(dirpath, name)
                found.update(acl_snapshot(path) if path.is_dir() and not path.is_symlink() else {})
                st = path.lstat()
                found[str(path)] = (st.st_mode, st.st_uid, st.st_gid)
    return found


def test_doctor_is_healthy_during_a_long_uv_run_with_and_repair_leaves_it_alone(box: Sandbox) -> None:
    """A member's `uv run --with …` in a project (a `uv run --with jupyter jupyter lab` runs for days): uv 0.13 keeps
    an ephemeral environment in `cache/builds-v0/.tmpXXXXXX` for as long as it runs, with the project venv's scripts
    copied at their own mode (0755 under umask 022). Neither doctor's finding nor repair's to change."""
    box.ok("root", "uvshare", "share", "setup")
    wheels = wheels_dir(box.root / "wheels", ("hello-a", "1.0"), ("hello-b", "1.0"))
    alice = box.users["alice"]
    # a short path: uv writes a venv's scripts with a plain `#!` line (the one it copies) only under 127 characters
    project = Path(tempfile.mkdtemp(dir=shared_tmp()))
    (project / "pyproject.toml").write_text(
        '[project]\nname = "project"\nversion = "0"\nrequires-python = ">=3.8"\ndependencies = ["hello-b"]\n'
    )
    os.chown(project, alice.uid, alice.gid)
    os.chown(project / "pyproject.toml", alice.uid, alice.gid)
    script = "import sys, time; print('up', sys.prefix, flush=True); time.sleep(120)"
    running = box.popen(
        "alice",
        "sh",
        "-c",
        'umask 022 && cd "$0" && exec "$@"',
        project,
        "uvshare",
        "run",
        "--python",
        "/usr/bin/python3",
        "--no-index",
        "--find-links",
        str(wheels),
        "--with",
        "hello-a",
        "python",
        "-c",
        script,
        start_new_session=True,  # so that the whole run stops at the end: uv and the python it started
    )
    try:
        assert running.stdout is not None
        assert running.stdout.readline().startswith("up "), "the run never started"
        flight = in_flight(box.shared)
        if box.uv.parent.parent.name != "uv-0.6.14":  # 0.6 keeps nothing in flight: its environment is cached
            unshared = [p for p, (mode, *_) in flight.items() if stat.S_ISREG(mode) and not mode & 0o020]
            assert unshared, f"uv kept nothing unshared in flight: this test tests nothing ({flight})"
        for user in ("root", "alice"):
            doctor = box.run(user, "uvshare", "share", "doctor")
            assert doctor.returncode == 0 and "✗" not in doctor.stdout, str(doctor)
        repaired = box.run("root", "uvshare", "share", "repair")
        assert repaired.returncode == 0, str(repaired)
        assert in_flight(box.shared) == flight, "repair changed what uv keeps in flight"
        if flight:
            assert "uv's temporary" in repaired.stdout, repaired.stdout
        assert running.poll() is None, "the run died meanwhile"
    finally:
        os.killpg(running.pid, signal.SIGKILL)
        running.wait()
        shutil.rmtree(project)


def test_a_wheels_own_lock_file_is_an_ordinary_file(box: Sandbox) -> None:
    """setuptools ships `setuptools/_vendor/.lock` (an empty file): it is the wheel's, not one of uv's locks, and
    uv may hard-link it between the cache and a tool env. After members install tools that carry one, copied and
    hard-linked, doctor stays healthy and repair has nothing to do."""
    box.ok("root", "uvshare", "share", "setup")
    wheels = box.root / "wheels"
    for name in ("vend-a", "vend-b"):
        make_wheel(wheels, name, "1.0", extra={f"{name.replace('-', '_')}/_vendor/.lock": b""})
    wheels.chmod(0o755)
    box.ok("alice", *tool_install_args(wheels, "vend-a"))  # link-mode copy, uvshare's default
    box.ok("bob", *tool_install_args(wheels, "vend-b"), env={"UV_LINK_MODE": "hardlink"})
    copied = next((box.shared / "tools" / "vend-a").rglob("_vendor/.lock"))
    linked = next((box.shared / "tools" / "vend-b").rglob("_vendor/.lock"))
    assert copied.stat().st_nlink == 1 and linked.stat().st_nlink == 2, "uv did not hard-link the wheel's file"
    assert box.ok("carol", box.shared / "tool-bin" / "vend-b").stdout == "vend-b 1.0\n"
    for user in ("root", "alice"):
        doctor = box.run(user, "uvshare", "share", "doctor")
        assert doctor.returncode == 0 and "✗" not in doctor.stdout, str(doctor)
        assert ".lock" not in "".join(line for line in doctor.stdout.splitlines() if line.startswith("!")), str(doctor)
    dry = box.ok("root", "uvshare", "share", "repair", "--dry-run")
    assert dry.stdout.splitlines()[-1].startswith("dry run: would fix 0 entries"), dry.stdout


def test_doctor_and_repair_agree_about_hard_links_in_a_tree_taken_over_from_plain_uv(box: Sandbox) -> None:
    """Plain uv as root hard-links the cache's files into the tool env: every link lies in the shared dirs (tools
    and the closed cache), so doctor counts them for repair, as repair then fixes them — never "fix by hand"."""
    legacy_tree(box, python=False)
    cache = {(st.st_dev, st.st_ino) for p in (box.shared / "cache").rglob("*") if (st := p.lstat()).st_nlink > 1}
    tools = [p for p in (box.shared / "tools").rglob("*") if (p.lstat().st_dev, p.lstat().st_ino) in cache]
    assert tools, "plain uv made no hard link between the cache and the tool env: this test tests nothing"
    doctor = box.run("root", "uvshare", "share", "doctor")
    assert doctor.returncode == 1, str(doctor)
    assert "hard link" not in doctor.stdout and "by hand" not in doctor.stdout, doctor.stdout
    checks = json.loads(box.run("root", "uvshare", "share", "doctor", "--json").stdout)["checks"]
    assert not [c for c in checks if c["status"] == "warning" and "repair leaves alone" in c["message"]], checks
    dry = box.ok("root", "uvshare", "share", "repair", "--dry-run")
    assert "left alone" not in dry.stdout and re.search(r"hard links: [1-9]\d* would fix", dry.stdout), dry.stdout
    repaired = box.ok("root", "uvshare", "share", "repair")
    assert "left alone" not in repaired.stdout, repaired.stdout
    healthy = box.run("root", "uvshare", "share", "doctor")
    assert healthy.returncode == 0, str(healthy)
    assert all(p.stat().st_mode & 0o060 == 0o060 for p in tools if not p.is_symlink())


def test_an_outsiders_doctor_checks_what_it_can_and_leaves_the_rest_to_a_member(box1: Sandbox) -> None:
    """The cache is closed to outsiders on purpose (2770): an outsider's doctor says so, and that a member or root
    must check what is inside — never that it is broken, never "remove it"."""
    box = box1
    box.ok("root", "uvshare", "share", "setup")
    wheels = wheels_dir(box.root / "wheels", ("hello-a", "1.0"))
    box.ok("alice", *tool_install_args(wheels, "hello-a"), env={"UV_LINK_MODE": "hardlink"})
    assert box.run("root", "uvshare", "share", "doctor").returncode == 0
    doctor = box.run("dave", "uvshare", "share", "doctor")
    assert doctor.returncode == 0, str(doctor)
    assert "✗" not in doctor.stdout and "remove" not in doctor.stdout and "by hand" not in doctor.stdout, doctor.stdout
    cache = next(line for line in doctor.stdout.splitlines() if f"{box.shared / 'cache'} is closed" in line)
    assert cache.startswith("·") and "a member or root" in cache, cache
    assert "a member or root must check the rest" in doctor.stdout.splitlines()[-1], doctor.stdout


def hold_with_flock(lock: Path) -> subprocess.Popen[str]:
    """flock(1) holding LOCK exclusively in the background, as a long uv install would; started once it holds it."""
    holder = subprocess.Popen(  # -o: flock holds it itself, so that killing its session frees it
        ["flock", "-o", "-x", str(lock), "sh", "-c", "echo locked; exec sleep 120"],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


def test_repair_goes_on_past_a_dir_whose_lock_it_cannot_get(box1: Sandbox) -> None:
    """A long install holds tools/.lock: repair leaves the tool dirs (their own lock and the tool bin dir's) and
    repairs the rest, then names what it left and exits 1."""
    box = box1
    box.ok("root", "uvshare", "share", "setup")
    strays = [box.shared / name / "stray" for name in ("python", "tools", "tool-bin", "cache")]
    for stray in strays:
        stray.write_text("")
        stray.chmod(0o644)
    holder = hold_with_flock(box.shared / "tools" / ".lock")
    try:
        busy = box.run("root", "uvshare", "share", "repair", "--timeout", "0.5")
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
    assert busy.returncode == 1, str(busy)
    assert [stray.stat().st_mode & 0o060 == 0o060 for stray in strays] == [True, False, False, True], str(busy)
    left = [line for line in busy.stdout.splitlines() if line.startswith("✗")]
    assert any(line.startswith("✗ tool-dir") and f"held by pid {holder.pid} (flock" in line for line in left), str(busy)
    assert any(line.startswith("✗ tool-bin-dir") for line in left), str(busy)
    last = busy.stdout.splitlines()[-1]
    assert "tool-dir, tool-bin-dir" in last, str(busy)
    assert busy.stderr == "", str(busy)
    box.ok("root", "uvshare", "share", "repair", "--timeout", "5")
    assert all(stray.stat().st_mode & 0o060 == 0o060 for stray in strays)


def test_repair_into_a_pipe_closed_early_finishes_the_work(box1: Sandbox) -> None:
    """`uvshare share repair --verbose | head -1`: head goes after one line; repair goes on to the end (its
    documented choice), and its exit status says how the repair went."""
    box = box1
    legacy_tree(box)
    piped = box.run("root", "bash", "-c", 'uvshare share repair --verbose | head -1; echo "status=${PIPESTATUS[0]}"')
    assert "Traceback" not in piped.stderr, str(piped)
    assert piped.stdout.splitlines()[-1] == "status=0", str(piped)
    doctor = box.run("root", "uvshare", "share", "doctor")
    assert doctor.returncode == 0, f"repair stopped half-way:\n{doctor}"


# What doctor and repair both say of uv's temporary entries (uvshare.admin.tree.TEMPORARY_WORDS)
TEMPORARY_WORDS = "in use by a running uv (a `uv run --with …`, a build, a download), or left by one that was stopped"


def test_a_killed_uvs_leftovers_are_named_alike_and_removed_only_when_no_uv_holds_the_lock(box1: Sandbox) -> None:
    """A member's `uv run --with …` keeps its ephemeral environment in the cache while it runs; killed (SIGKILL, as
    the OOM killer or a job's time limit does), it leaves it there. doctor and repair call those entries by the same
    words while it runs and after it was killed; `repair --leftovers` leaves a running uv's entries as they are (it
    holds the cache's lock) and removes the killed one's (nobody holds it), as the install-user: an entry only root
    could empty is named and left."""
    box = box1
    box.ok("root", "uvshare", "share", "setup")
    wheels = wheels_dir(box.root / "wheels", ("hello-a", "1.0"))
    script = "import time; print('up', flush=True); time.sleep(120)"
    running = box.popen(
        "alice",
        "sh",
        "-c",
        'umask 022 && exec "$@"',
        "sh",
        "uvshare",
        "run",
        "--no-project",
        "--python",
        "/usr/bin/python3",
        "--no-index",
        "--find-links",
        str(wheels),
        "--with",
        "hello-a",
        "python",
        "-c",
        script,
        start_new_session=True,  # the test's own session: killed whole below, uv and the python it started
    )
    try:
        assert running.stdout is not None
        assert running.stdout.readline() == "up\n", "the run never started"
        flight = in_flight(box.shared)
        assert flight, "uv kept nothing in flight: this test tests nothing"
        doctor = box.run("root", "uvshare", "share", "doctor")
        assert doctor.returncode == 0 and TEMPORARY_WORDS in doctor.stdout, str(doctor)
        kept = box.run("root", "uvshare", "share", "repair", "--leftovers", "--timeout", "1")
        assert kept.returncode == 0 and TEMPORARY_WORDS in kept.stdout, str(kept)
        assert f"left as they are: uv's lock {box.shared}/cache/.lock is held by pid" in kept.stdout, str(kept)
        assert in_flight(box.shared) == flight, "repair --leftovers removed a running uv's entries"
        assert running.poll() is None, "the run died meanwhile"
    finally:
        os.killpg(running.pid, signal.SIGKILL)
        running.wait()
    assert in_flight(box.shared) == flight, "the killed uv left nothing: this test tests nothing"
    doctor = box.run("alice", "uvshare", "share", "doctor")
    assert TEMPORARY_WORDS in doctor.stdout and "repair --leftovers" in doctor.stdout, str(doctor)
    dry = box.ok("root", "uvshare", "share", "repair", "--leftovers", "--dry-run")
    assert in_flight(box.shared) == flight, str(dry)
    removed = box.ok("root", "uvshare", "share", "repair", "--leftovers", "--timeout", "5")
    assert "entries a stopped uv left" in removed.stdout, str(removed)
    assert not in_flight(box.shared), in_flight(box.shared)
    doctor = box.ok("root", "uvshare", "share", "doctor")
    assert "temporary" not in doctor.stdout and "✗" not in doctor.stdout, str(doctor)
    # root's removal runs as the install-user: an entry only root could empty is named and left, not removed by root
    roots = box.shared / "cache" / ".tmpR00T01"
    roots.mkdir()
    (roots / "f").write_text("")
    roots.chmod(0o755)
    refused = box.run("root", "uvshare", "share", "repair", "--leftovers", "--timeout", "5")
    assert refused.returncode == 1, str(refused)
    assert f"cannot remove {roots}: Permission denied" in refused.stdout, str(refused)
    assert (roots / "f").exists()
    box.ok(
        "bob",
        "uvshare",
        "run",
        "--no-project",
        "-p",
        "/usr/bin/python3",
        "--no-index",
        "--find-links",
        wheels,
        "--with",
        "hello-a",
        "python",
        "-c",
        "import hello_a",
    )
