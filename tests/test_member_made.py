"""What members make in the shared tree never stops, hangs or slows down a uv call, and root runs only what root owns.

Every call prepares the shared dirs; whatever a member put there (a FUSE mount of their own, a FIFO, thousands of
entries) is at most a warning, and the work does not grow with it. Root's own commands off the tree get none of the
tree, so they do not look at it at all. System programs root runs (useradd, …) come from the system dirs, never from
root's PATH; and doctor names a root `uv` that reads PYTHON* variables.
"""

from __future__ import annotations

import ast
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.harness import PREFIX, REPO, Result, Sandbox, group_gid, public_dir
from tests.test_login_shells import Etc

# Debian gives everyone /dev/fuse (0666: unprivileged FUSE through the setuid fusermount); this machine's container
# keeps it root's. The test's own mount namespace gets Debian's: a node of its own, bound over /dev/fuse there.
DEBIAN_FUSE = (
    'mount -t tmpfs tmpfs "$1" && mknod -m 666 "$1/fuse" c 10 229 && mount --bind "$1/fuse" /dev/fuse '
    "&& echo ready && exec sleep 600"
)
# Run as a member instead of uvshare's launcher: how many entries of each dir uvshare read (through os.scandir and
# os.listdir), said just before it execs uv.
COUNTING = """\
import os, sys
read = {}
def where(path):
    return os.readlink(f"/proc/self/fd/{path}") if isinstance(path, int) else os.path.abspath(os.fsdecode(path))
class Counted:
    def __init__(self, entries, place):
        self.entries, self.place = entries, place
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        self.entries.close()
    def close(self):
        self.entries.close()
    def __iter__(self):
        for entry in self.entries:
            read[self.place] = read.get(self.place, 0) + 1
            yield entry
real_scandir, real_listdir = os.scandir, os.listdir
def scandir(path="."):
    return Counted(real_scandir(path), where(path))
def listdir(path="."):
    names = real_listdir(path)
    read[where(path)] = read.get(where(path), 0) + len(names)
    return names
os.scandir, os.listdir = scandir, listdir
def hook(event, args):
    if event == "os.exec":
        sys.stderr.write(f"READ {read!r}\\n")
        sys.stderr.flush()
sys.addaudithook(hook)
from uvshare.shim import main
sys.exit(main(sys.argv[1:]))
"""


@contextmanager
def mount_namespace(box: Sandbox) -> Iterator[subprocess.Popen[str]]:
    """A process of the test's own in a private mount namespace where /dev/fuse is Debian's; killed at the end."""
    dev = box.root / "dev"
    dev.mkdir()
    holder = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", DEBIAN_FUSE, "sh", str(dev)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "ready\n"
        yield holder
    finally:
        holder.kill()
        holder.wait()


def inside(box: Sandbox, holder: subprocess.Popen[str], user: str, *args: str | os.PathLike[str]) -> Result:
    """ARGS as USER, with the test environment, in HOLDER's mount namespace."""
    who = box.users[user]
    cmd = ["nsenter", f"--mount=/proc/{holder.pid}/ns/mnt", "--", *box.as_user(who, [str(a) for a in args])]
    done = subprocess.run(
        cmd, env=box.env(who), capture_output=True, text=True, timeout=120, cwd=box.home(who), check=False
    )
    return Result(done.returncode, done.stdout, done.stderr, cmd)


def test_a_members_fuse_mount_in_the_cache_stops_no_call(box1: Sandbox) -> None:
    """alice mounts bindfs (no allow_other) on a dir of hers in the shared cache, named as uv names its buckets:
    nobody else, root included, may even stat it (EACCES). Root's `uv --version` and bob's ordinary uv command still
    work: root's does not look at the tree, bob's says what it could not look at, in a warning."""
    box = box1
    box.ok("root", "uvshare", "share", "setup")
    real = subprocess.run([box.uv, "--version"], capture_output=True, text=True, check=True).stdout
    mountpoint = box.shared / "cache" / "sdists-v1"  # an older uv's bucket: what every call checks
    box.ok("alice", "mkdir", mountpoint)
    source = box.home(box.users["alice"]) / "src"
    box.ok("alice", "mkdir", source)
    with mount_namespace(box) as holder:
        inside(box, holder, "alice", "bindfs", "--no-allow-other", source, mountpoint)
        try:
            seen = inside(box, holder, "root", "stat", mountpoint)
            assert seen.returncode != 0 and "Permission denied" in seen.stderr, f"no FUSE mount to test: {seen}"
            root = inside(box, holder, "root", "uvshare", "--version")
            assert root.returncode == 0 and root.stdout == real, str(root)
            assert "sdists-v1" not in root.stderr, str(root)  # root's own command does not look at the tree
            venv = box.home(box.users["bob"]) / "venv"
            bob = inside(box, holder, "bob", "uvshare", "venv", "--python", "/usr/bin/python3", venv)
            assert bob.returncode == 0, str(bob)
            assert f"uvshare: warning: cannot look at {mountpoint}: Permission denied" in bob.stderr, str(bob)
            assert "error" not in bob.stderr, str(bob)
        finally:
            inside(box, holder, "alice", "fusermount", "-u", mountpoint)


def test_every_call_does_not_read_what_members_put_in_the_cache(box1: Sandbox) -> None:
    """20,000 dirs a member made in the cache, named like uv's buckets (`sdists-vN`): a member's every call reads a
    bounded number of the cache's entries, not all of them (listing the cache made every `uv --version` take 0.9 s);
    the buckets are then looked up by name, and the real one is still checked."""
    box = box1
    box.ok("root", "uvshare", "share", "setup")
    cache = box.shared / "cache"
    box.ok("alice", "python3", "-c", f"import os\nfor i in range(100, 20100): os.mkdir(f'{cache}/sdists-v{{i}}')")
    box.ok("alice", "mkdir", cache / "sdists-v11")
    box.ok("alice", "sh", "-c", f"touch {cache}/sdists-v11/.gitignore && chmod 644 {cache}/sdists-v11/.gitignore")
    probe = box.root / "counting.py"
    probe.write_text(COUNTING)
    probe.chmod(0o644)
    done = box.ok("bob", box.bin_dir / "python", probe, "--version")
    lines = [line for line in done.stderr.splitlines() if line.startswith("READ ")]
    assert lines, f"the probe saw no exec: {done}"
    read = ast.literal_eval(lines[0].removeprefix("READ "))
    tree = str(box.shared)
    in_tree = sum(n for d, n in read.items() if d == tree or d.startswith(tree + "/"))
    assert in_tree <= 1000, read  # (LISTED_AT_MOST is 256)
    assert f"{cache}/sdists-v11/.gitignore" in done.stderr, str(done)  # alice's, so bob is told


def test_setup_never_runs_a_useradd_from_roots_path(box1: Sandbox) -> None:
    """`share setup` creates a missing install-user with useradd: the one in /usr/sbin, never the first on root's
    PATH, which a member can write when a shared bin dir is on it. The planted one records who ran it and fails.
    (In a mount namespace whose /etc is an overlay: the real useradd's account lands in the test's dir.)"""
    box = box1
    name = f"{PREFIX}-instnew"  # no such account: setup makes it
    box.write_config(install_user=name)
    planted = box.root / "member-bin"  # as a shared bin dir is: members can write it
    planted.mkdir()
    os.chown(planted, box.users["alice"].uid, group_gid())
    planted.chmod(0o2775)
    marker = box.root / "ran-useradd"
    (planted / "useradd").write_text(f"#!/bin/sh\nid -u > {marker}\nexit 1\n")
    os.chown(planted / "useradd", box.users["alice"].uid, group_gid())
    (planted / "useradd").chmod(0o775)
    etc = Etc.below(box.root)
    env = {"PATH": f"{planted}:{box.bin_dir}:{box.uv.parent}:/usr/bin:/bin"}
    setup = box.run("root", *etc.wrap("uvshare", "share", "setup"), env=env)
    assert not marker.exists(), f"root ran the useradd a member planted on its PATH (as uid {marker.read_text()})"
    assert setup.returncode == 0 and f"created the account {name}" in setup.stdout, str(setup)
    assert name in (etc.upper / "passwd").read_text()


def test_doctor_names_a_root_uv_that_reads_python_variables(box1: Sandbox) -> None:
    """Root's `uv` is a console script (pip's, of uvshare): its Python reads PYTHONPATH from root's environment.
    doctor names it and the fix, the -I -S launcher; once that is in place it says nothing of it."""
    box = box1
    box.ok("root", "uvshare", "share", "setup")
    front = public_dir(box.root / "root-bin")
    script = front / "uv"
    script.write_text((box.bin_dir / "uvshare").read_text())  # pip's console script: `#!…/python`, no -I
    script.chmod(0o755)
    env = {"PATH": f"{front}:{box.bin_dir}:{box.uv.parent}:/usr/bin:/bin"}
    doctor = box.run("root", "uvshare", "share", "doctor", env=env)
    assert doctor.returncode == 1, str(doctor)
    line = next((x for x in doctor.stdout.splitlines() if "root's uv:" in x), "")
    assert f"{script} runs on '{box.bin_dir / 'python'}' without -I" in line, doctor.stdout
    assert f"fix: 'uvshare share launcher --force {script}'" in line, doctor.stdout
    box.ok("root", "uvshare", "share", "launcher", "--force", script, env=env)
    again = box.run("root", "uvshare", "share", "doctor", env=env)
    assert "root's uv:" not in again.stdout, again.stdout


def test_image_recipe_never_runs_system_programs_from_roots_path(box1: Sandbox) -> None:
    """recipes/image-install.sh runs getent and groupadd (and its helpers) from the system dirs, never the first on
    root's PATH, which a member can write (the shared bin dirs, as a Dockerfile's ENV PATH puts them). The planted
    ones record who ran them; the recipe is stopped later, at its offline `uv tool install` (no Python for it), before
    it writes anything outside the test's dir."""
    box = box1
    planted = box.root / "member-bin"
    planted.mkdir()
    os.chown(planted, box.users["alice"].uid, group_gid())
    planted.chmod(0o2775)
    marker = box.root / "ran-planted"
    for name in ("getent", "groupadd", "stat", "head", "grep", "readlink"):
        (planted / name).write_text(f"#!/bin/sh\necho {name} $(id -u) >> {marker}\nexit 0\n")
        os.chown(planted / name, box.users["alice"].uid, group_gid())
        (planted / name).chmod(0o775)
    settings = box.recipe_env(
        box.root / "uvshare-home",
        box.root / "usr-local-bin",
        PATH=f"{planted}:{box.uv.parent}:/usr/sbin:/usr/bin:/sbin:/bin",
        UV=str(box.uv),
        UV_OFFLINE="1",
    )
    ran = box.run("root", "sh", REPO / "recipes" / "image-install.sh", box.root / "missing.whl", env=settings)
    assert not marker.exists(), f"root ran programs a member planted on its PATH: {marker.read_text()}"
    assert ran.returncode != 0, str(ran)
    assert "No interpreter found for Python 3.12" in ran.stderr, str(ran)  # stopped at uv, past getent
