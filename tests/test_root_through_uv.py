"""Root is never a member's puppet through the uv that uvshare hands root to (issue 13): the attack review, as tests.

uvshare's own steps are fd-safe (test_attacks.py); these attacks aim one exec later, at the real uv that root runs
on a tree members can write: a receipt that names a root file, a shared dir swapped for a link while root's uv runs,
a `sitecustomize.py` or `.pth` in a shared Python, a `uv` on root's PATH, a system dir spelt `//usr/local/bin`, and a
cached file one member edits to reach another member's own venv. Each runs as real users against the real uv.
"""

from __future__ import annotations

import os
import pwd
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.harness import (
    GROUP,
    INSTALLER,
    REPO,
    Sandbox,
    group_gid,
    network_env,
    public_dir,
    with_system_read_only,
)
from tests.support.wheels import tool_install_args, wheels_dir

CANARY = "import os\nwith open({marks!r}, 'a') as f:\n    f.write(str(os.getuid()) + '\\n')\n"


def root_only_file(box: Sandbox) -> Path:
    """A file only root can read or change, in a dir only root can write: what an attacker wants root to delete."""
    private = box.root / "private"
    private.mkdir(mode=0o711, exist_ok=True)
    secret = private / "secret"
    secret.write_text("root only\n")
    secret.chmod(0o600)
    return secret


def uids_that_ran(marks: Path) -> set[int]:
    """Who ran the canary (their uids), from its record."""
    return {int(line) for line in marks.read_text().split()} if marks.exists() else set()


def plant_canaries(box: Sandbox, lib: Path, marks: Path) -> None:
    """As a member: a sitecustomize.py in LIB (a shared Python's lib/pythonX.Y) and a .pth in its site-packages,
    each recording the uid of whoever starts that interpreter."""
    code = CANARY.format(marks=str(marks))
    site = lib / "site-packages"
    box.ok("alice", "/usr/bin/python3", "-c", f"open({str(lib / 'sitecustomize.py')!r}, 'w').write({code!r})")
    pth = "import os; open(" + repr(str(marks)) + ", 'a').write(str(os.getuid()) + chr(10))\n"
    box.ok("alice", "/usr/bin/python3", "-c", f"open({str(site / 'zz-canary.pth')!r}, 'w').write({pth!r})")


def marks_file(box: Sandbox) -> Path:
    """A file every test user may append to."""
    marks = box.root / "marks"
    marks.touch()
    marks.chmod(0o666)
    return marks


def edit_receipt(box: Sandbox, tool: str, target: Path) -> None:
    """As a member: make every entrypoint's install-path in TOOL's receipt name TARGET."""
    receipt = box.shared / "tools" / tool / "uv-receipt.toml"
    text = re.sub(r'install-path = "[^"]*"', f'install-path = "{target}"', receipt.read_text())
    assert str(target) in text
    box.ok("alice", "/usr/bin/python3", "-c", f"open({str(receipt)!r}, 'w').write({text!r})")


# 1 ---------------------------------------------------------------------------------------------------------------


def test_a_receipt_cannot_make_root_delete_a_file(box: Sandbox) -> None:
    """A member installs a tool and points its receipt's install-path at a root-only file; root's `tool uninstall`
    and `tool install --force` of it leave that file alone (uv runs as the install-user, who cannot touch it)."""
    wheels = wheels_dir(box.root / "wheels", ("hello-a", "1.0"))
    secret = root_only_file(box)
    box.ok("root", "uvshare", "share", "setup")
    box.ok("alice", *tool_install_args(wheels, "hello-a"))
    edit_receipt(box, "hello-a", secret)
    uninstall = box.run("root", "uvshare", "tool", "uninstall", "hello-a")
    assert "Traceback" not in str(uninstall)
    assert secret.read_text() == "root only\n", str(uninstall)

    box.ok("alice", "rm", "-r", "--", box.shared / "tools" / "hello-a")  # the member's own mess to clean up, as
    box.ok("alice", *tool_install_args(wheels, "hello-a"), "--force")  # uvshare's refusal of the receipt says
    edit_receipt(box, "hello-a", secret)
    forced = box.run("root", *tool_install_args(wheels, "hello-a"), "--force")
    assert "Traceback" not in str(forced)
    assert secret.read_text() == "root only\n", str(forced)
    assert sorted(p.name for p in secret.parent.iterdir()) == ["secret"]


# 2 ---------------------------------------------------------------------------------------------------------------


def test_members_cannot_rename_a_shared_dir_or_one_above(box: Sandbox) -> None:
    """After `share init`, no member can rename any configured dir or any dir above it (they could put a link in
    its place between uvshare's checks and uv's use); the tree still works for them."""
    box.config.unlink()
    box.ok("root", *box.init_args())
    dirs = [box.shared / name for name in ("python", "bin", "tools", "tool-bin", "cache")]
    above = [box.shared, *box.shared.parents]
    for path in [*dirs, *(p for p in above if p != Path("/"))]:
        moved = box.run("alice", "mv", path, f"{path}.moved")
        assert moved.returncode != 0 and path.is_dir() and not Path(f"{path}.moved").exists(), str(moved)
    for path in above:
        st = path.stat()
        writable_by_members = st.st_uid != 0 and (st.st_gid == group_gid() or st.st_mode & 0o002)
        assert not writable_by_members and not (st.st_mode & 0o020 and st.st_gid == group_gid()), path
    wheels = wheels_dir(box.root / "wheels", ("hello-a", "1.0"))
    box.ok("alice", *tool_install_args(wheels, "hello-a"))
    box.ok("bob", "uvshare", "tool", "uninstall", "hello-a")  # uv 0.6 removes the tool dir here: see last_tools
    box.ok("bob", *tool_install_args(wheels, "hello-a"))
    assert not box.not_shared()


def test_setup_closes_an_older_trees_prefix(box1: Sandbox) -> None:
    """A tree whose prefix older uvshare made group-writable: doctor warns that members can rename the shared dirs,
    setup makes the prefix root's alone (it holds nothing else), and then no member can."""
    box = box1
    box.ok("root", "uvshare", "share", "setup")
    box.member_writable_prefix()
    warned = box.ok("root", "uvshare", "share", "doctor")
    assert f"{box.shared}, above" in warned.stdout and "a member can rename" in warned.stdout, warned.stdout
    fixed = box.ok("root", "uvshare", "share", "setup")
    assert f"made {box.shared} writable by root alone" in fixed.stdout, fixed.stdout
    assert box.run("alice", "mv", box.shared / "tools", box.shared / "tools.moved").returncode != 0
    assert "a member can rename" not in box.ok("root", "uvshare", "share", "doctor").stdout
    # a group's project dir that holds more than the shared dirs is theirs: warned about, left alone
    (box.shared / "notes").mkdir()
    box.member_writable_prefix()
    box.ok("root", "uvshare", "share", "setup")
    assert box.shared.stat().st_mode & 0o020


# A member's attack: watch /proc until root's uv (REAL_UV) runs an install — after uvshare's checks, which the exec
# leaves behind — then swap DIR for a symlink to TARGET, and put it back once that uv has exited (or STOP exists).
SWAPPER = r"""
import os, sys, time
path, target, real_uv, stop = sys.argv[1:]
aside = path + ".aside"

def installing():
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    args = f.read().split(b"\0")
            except OSError:
                continue
            if args[0] == real_uv.encode() and b"install" in args:
                return pid
    return None

swapped = 0
while not os.path.exists(stop) and not swapped:
    pid = installing()
    if pid is None:
        time.sleep(0.0002)
        continue
    try:
        os.rename(path, aside)
        os.symlink(target, path)
    except OSError as e:
        print("could not swap:", e, flush=True)
        break
    swapped = 1
    while os.path.exists(f"/proc/{pid}") and not os.path.exists(stop):
        time.sleep(0.001)
    os.unlink(path)
    os.rename(aside, path)
print(swapped)
"""


@pytest.mark.parametrize("shared", ["tool-bin", "bin"])
def test_roots_install_during_a_swap_leaves_nothing_outside(box: Sandbox, shared: str) -> None:
    """On a tree whose prefix members CAN write (an older tree, a group's project dir), a member swaps the shared
    bin dir for a link to a root-only dir the moment root's uv starts installing a tool (or a Python with its
    `python3.X` link), after uvshare's checks: nothing appears in the root-only dir."""
    box.ok("root", "uvshare", "share", "setup")
    box.member_writable_prefix()
    rootonly = box.root / "usr-local-bin"  # stands in for root's /usr/local/bin
    rootonly.mkdir(mode=0o755)
    stop = box.root / "stop-swapping"
    target = box.shared / shared
    swapper = box.popen("alice", "/usr/bin/python3", "-c", SWAPPER, target, rootonly, box.uv, stop)
    try:
        time.sleep(0.3)
        if shared == "tool-bin":
            wheels = wheels_dir(box.root / "wheels", ("hello-a", "1.0"))
            box.run("root", *tool_install_args(wheels, "hello-a"))
        else:
            box.run("root", "uvshare", "python", "install", "3.11")
    finally:
        stop.touch()
        out, _ = swapper.communicate(timeout=60)
    assert out.strip().endswith("1"), f"the member never swapped during root's install: the test proves nothing: {out}"
    assert list(rootonly.iterdir()) == [], "root's uv wrote into the dir a member swapped in"
    assert target.is_dir() and not target.is_symlink()


# 3 ---------------------------------------------------------------------------------------------------------------


@pytest.fixture
def planted(box: Sandbox) -> tuple[Sandbox, Path, Path, dict[str, str]]:
    """A shared Python 3.11 and a shared tool (hello-a), each with a member's sitecustomize.py and .pth canary; root's
    PATH lists the shared bin dirs first (as the README's Dockerfile ENV line gives root too), and a `uvx` links to
    uvshare."""
    wheels = wheels_dir(box.root / "wheels", ("hello-a", "1.0"))
    marks = marks_file(box)
    box.ok("root", "uvshare", "python", "install", "3.11")
    install = next(p for p in (box.shared / "python").glob("cpython-3.11.*-linux-*") if not p.is_symlink())
    box.ok("alice", *tool_install_args(wheels, "hello-a")[:-3], "--python", "3.11", "hello-a")
    plant_canaries(box, install / "lib" / "python3.11", marks)
    plant_canaries(box, box.shared / "tools" / "hello-a" / "lib" / "python3.11", marks)
    assert box.ok("bob", box.shared / "tool-bin" / "hello-a").stdout == "hello-a 1.0\n"
    assert uids_that_ran(marks) == {box.users["bob"].uid}, "the canaries do not work: the test would prove nothing"
    marks.write_text("")
    alias = box.root / "alias"
    alias.mkdir(mode=0o755)
    (alias / "uvx").symlink_to(box.bin_dir / "uvshare")
    (box.root / "bin-by-another-name").symlink_to(box.shared / "bin")  # the shared bin dir, spelt otherwise
    spelt = f"{box.root / 'bin-by-another-name'}:{box.shared}/tool-bin/"
    path = f"{spelt}:{box.shared / 'bin'}:{alias}:{box.bin_dir}:{box.uv.parent}:/usr/bin:/bin"
    return box, wheels, marks, {"PATH": path}


def test_root_runs_no_interpreter_a_member_can_write(planted: tuple[Sandbox, Path, Path, dict[str, str]]) -> None:
    """Root's uvx, `uv tool run`, `uv run`, `uv venv` and `uv python list` on a live tree: none starts a shared
    Python or tool env as root (they run root's own, or uv runs as the install-user)."""
    box, wheels, marks, env = planted
    found = ("--no-index", "--find-links", str(wheels))
    runs = [
        ("uvx", "--python", "3.11", *found, "--from", "hello-a", "hello-a"),
        ("uvx", *found, "hello-a"),
        ("uvshare", "tool", "run", *found, "hello-a"),
        ("uvshare", "run", "--no-project", "--python", "3.11", "python", "-c", "print('ran')"),
        ("uvshare", "run", "--no-project", "python3.11", "-c", "print('ran')"),
        ("uvshare", "venv", "--python", "3.11", str(box.root / "root-venv")),
        ("uvshare", "python", "list"),
        ("uvshare", "python", "find", "3.11"),
    ]
    for args in runs:
        result = box.run("root", *args, env=env)
        assert "Traceback" not in str(result), str(result)
        assert 0 not in uids_that_ran(marks), f"root ran a member's code with {args}:\n{result}"
        if args[0] == "uvx" or args[1:3] == ("tool", "run"):
            assert result.stdout == "hello-a 1.0\n", str(result)  # root's own tool env, not nothing
        if args[1:2] == ("run",):
            assert result.returncode != 0 or result.stdout == "ran\n", str(result)
    assert (box.root / "root-venv" / "pyvenv.cfg").exists()
    assert str(box.shared) not in (box.root / "root-venv" / "pyvenv.cfg").read_text()


def test_an_image_build_says_so_and_uses_the_shared_pythons(box: Sandbox) -> None:
    """UVSHARE_BUILD=1 (a Dockerfile ARG during the build): root's `uv venv` uses the shared Python, offline. Without
    it root's uv does not see the shared Pythons at all. (3.12: this machine's own Python is 3.11.)"""
    box.ok("root", "uvshare", "python", "install", "3.12")
    offline = {"UV_PYTHON_DOWNLOADS": "never"}
    venv = box.root / "app-venv"
    box.ok("root", "uvshare", "venv", "--python", "3.12", venv, env={**offline, "UVSHARE_BUILD": "1"})
    assert str(box.shared / "python") in (venv / "pyvenv.cfg").read_text()
    live = box.run("root", "uvshare", "venv", "--python", "3.12", box.root / "live-venv", env=offline)
    assert live.returncode != 0 and not (box.root / "live-venv" / "pyvenv.cfg").exists(), str(live)


# 4 ---------------------------------------------------------------------------------------------------------------


def test_the_recipe_never_runs_a_uv_a_member_planted(box1: Sandbox, uvshare_wheel: Path) -> None:
    """recipes/image-install.sh on a re-run, no UV=, the shared tool bin dir on PATH ahead of the real uv (the
    README's ENV line gives root that PATH too): a member's `uv` there is skipped, never run."""
    box = box1
    box.ok("root", "uvshare", "share", "setup")
    marks = marks_file(box)
    planted = box.shared / "tool-bin" / "uv"
    box.ok(
        "alice", "sh", "-c", f'printf "#!/bin/sh\\nid -u >> {marks}\\nexit 1\\n" > "{planted}"; chmod 775 "{planted}"'
    )
    settings = box.recipe_env(
        box.root / "uvshare-home",
        box.root / "links",
        UVSHARE_PROFILE="",
        UVSHARE_FORCE="1",
        PATH=f"{box.shared / 'tool-bin'}:{box.uv.parent}:/usr/sbin:/usr/bin:/sbin:/bin",
    )
    result = box.run("root", "sh", REPO / "recipes" / "image-install.sh", uvshare_wheel, env=settings)
    assert 0 not in uids_that_ran(marks), str(result)
    assert f"skipped {planted}" in result.stderr, str(result)
    named = box.run(
        "root", "sh", REPO / "recipes" / "image-install.sh", uvshare_wheel, env={**settings, "UV": str(planted)}
    )
    assert named.returncode == 2 and "root will not run" in named.stderr, str(named)
    assert 0 not in uids_that_ran(marks)


# 5 ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling", ["//usr/local/bin", "//etc", "//", "/usr/local/./bin/", "///usr//local/bin", "link"]
)
def test_no_spelling_of_a_system_dir_is_a_shared_dir(box1: Sandbox, spelling: str) -> None:
    """`//usr/local/bin` (normpath keeps a leading `//`), other spellings, and a link to a system dir are all
    refused, by every call and by repair; the system dir is left as it was."""
    box = box1
    if spelling == "link":
        link = box.root / "looks-harmless"
        link.symlink_to("/usr/local/bin")
        spelling = str(link)
    before = {d: os.stat(d) for d in ("/usr/local/bin", "/etc", "/")}
    box.write_config(python_bin_dir=spelling)
    # each in a namespace where / is read-only: code that failed to refuse would chmod the real /etc otherwise
    for command in (("uvshare", "--version"), ("uvshare", "share", "repair"), ("uvshare", "share", "setup")):
        result = box.run("root", *with_system_read_only(*command))
        assert result.returncode == 2 and "a system dir" in result.stderr, str(result)
    init_args = box.init_args("--python-bin-dir", spelling, config=str(box.root / "init.toml"))
    init = box.run("root", *with_system_read_only(*init_args))
    assert init.returncode == 2 and "a system dir" in init.stderr, str(init)
    for path, st in before.items():
        now = os.stat(path)
        assert (now.st_mode, now.st_uid, now.st_gid) == (st.st_mode, st.st_uid, st.st_gid), path


# 6 ---------------------------------------------------------------------------------------------------------------


def test_a_cached_file_one_member_edits_never_reaches_another_members_venv(box: Sandbox) -> None:
    """Each member's own venv is fed by the shared cache; alice appends to the cached module; bob's venv still runs
    the package as it was, and shares no inode with the cache. (What the cache holds feeds venvs made LATER: the
    cache is shared, see the README's trust model.)"""
    wheels = wheels_dir(box.root / "wheels", ("hello-a", "1.0"))
    box.ok("root", "uvshare", "share", "setup")
    alice_venv = box.venv_with("alice", wheels, "hello-a")
    bob_venv = box.venv_with("bob", wheels, "hello-a")
    cached = [p for p in (box.shared / "cache").rglob("hello_a.py") if not p.is_symlink()]
    assert cached, "the shared cache holds no copy of the module: the test would prove nothing"
    for path in cached:
        box.ok("alice", "sh", "-c", f'echo "raise SystemExit(\'alice was here\')" >> "{path}"')
    assert box.ok("bob", bob_venv / "bin" / "hello-a").stdout == "hello-a 1.0\n"
    assert box.ok("alice", alice_venv / "bin" / "hello-a").stdout == "hello-a 1.0\n"
    inodes = {p.stat().st_ino for p in (box.shared / "cache").rglob("*") if p.is_file() and not p.is_symlink()}
    shared_inodes = [p for p in bob_venv.rglob("*") if p.is_file() and not p.is_symlink() and p.stat().st_ino in inodes]
    assert not shared_inodes, shared_inodes[:5]


# found by reading -------------------------------------------------------------------------------------------------


def test_a_write_hidden_behind_the_acl_mask_never_comes_alive(box1: Sandbox) -> None:
    """A member gives an outsider write on a file through a named ACL entry hidden behind `mask::r--` (mode 0644, so
    nothing looks wrong); repair, which adds group write with a chmod (that sets the mask), must not let it through."""
    box = box1
    box.ok("root", "uvshare", "share", "setup")
    dave = box.users["dave"].name
    mine = box.shared / "tools" / "mine"
    box.ok("alice", "sh", "-c", f'mkdir "{mine}" && chmod 2755 "{mine}" && echo x > "{mine}/f" && chmod 644 "{mine}/f"')
    box.ok("alice", "setfacl", "-m", f"u:{dave}:rw,m::r", mine / "f")
    assert box.run("dave", "sh", "-c", f'echo y >> "{mine}/f"').returncode != 0  # hidden, for now
    box.ok("root", "uvshare", "share", "repair")
    assert box.run("dave", "sh", "-c", f'echo y >> "{mine}/f"').returncode != 0, "repair woke the hidden write"
    assert (mine / "f").read_text() == "x\n"
    assert box.ok("alice", "sh", "-c", f'echo z >> "{mine}/f"')  # the group can write it now


def test_root_makes_no_dir_where_it_will_not_write(box1: Sandbox) -> None:
    """`share setup --profile-file` below a dir a member can write: refused before root makes any dir there."""
    box = box1
    open_dir = box.root / "members-dir"
    open_dir.mkdir()
    os.chown(open_dir, box.users["alice"].uid, group_gid())
    open_dir.chmod(0o2775)
    target = open_dir / "new" / "sub" / "uvshare.sh"
    result = box.run("root", "uvshare", "share", "setup", "--profile-file", target)
    assert "root will not write" in result.stdout + result.stderr, str(result)
    assert list(open_dir.iterdir()) == []


def test_root_with_no_install_user_is_told_how(box1: Sandbox) -> None:
    """An older config without install-user: root's tree commands stop before anything runs, saying what to add;
    `share setup` creates the account the config names."""
    box = box1
    box.write_config(install_user=None)
    refused = box.run("root", "uvshare", "python", "install", "3.11")
    assert refused.returncode == 2, str(refused)
    assert "install-user" in refused.stderr and "share setup" in refused.stderr, str(refused)
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert not list((box.shared / "python").glob("cpython-*"))
    setup = box.run("root", "uvshare", "share", "setup")
    assert setup.returncode == 1 and "no 'install-user'" in setup.stdout, str(setup)
    # a member is not affected
    box.ok("alice", "uvshare", "python", "install", "3.11")
    st = next((box.shared / "python").glob("cpython-3.11*")).stat()
    assert stat.S_ISDIR(st.st_mode)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))


# A member's sitecustomize.py: push a line into the terminal of whoever starts this interpreter (TIOCSTI on the
# controlling terminal, reached through /dev/tty even when uv gives the interpreter no terminal fd at all). Whatever
# reads that terminal next — root's shell, once uv has exited — reads the line as if root had typed it.
INJECTOR = """import fcntl, os, termios
try:
    fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    for ch in b"INJECTED-BY-A-MEMBER\\n":
        fcntl.ioctl(fd, termios.TIOCSTI, bytes([ch]))
except OSError:
    pass
"""


def test_nothing_uv_runs_for_root_can_type_into_roots_terminal(box: Sandbox) -> None:
    """Root's `uv python list` starts the shared interpreters (as the install-user): a member's sitecustomize.py
    there pushes a line into root's terminal. Nothing must arrive: what runs as the install-user has no terminal of
    root's to push into (with dev.tty.legacy_tiocsti on, as on this kernel, it would be typed into root's shell)."""
    import pty

    box.ok("root", "uvshare", "python", "install", "3.11")
    install = next(p for p in (box.shared / "python").glob("cpython-3.11.*-linux-*") if not p.is_symlink())
    site = install / "lib" / "python3.11" / "sitecustomize.py"
    box.ok("alice", "/usr/bin/python3", "-c", f"open({str(site)!r}, 'w').write({INJECTOR!r})")
    script = 'uvshare python list >/dev/null 2>&1; read -t 2 line; echo "after uv: [$line]"'
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover  # the child: root's session on a terminal of its own
        os.chdir(box.root)
        os.execve("/bin/bash", ["bash", "-c", script], box.env(box.users["root"]))
    out = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.waitpid(pid, 0)
    text = out.decode(errors="replace")
    assert "after uv: []" in text and "INJECTED" not in text.split("after uv:")[1], text


# The second attack review: what the install-user's uv starts may be a member's code (a sitecustomize.py in a shared
# Python, started by root's `python find/list` and tool installs). Dropping uv's cached facts about the interpreter
# (the group's cache: members may) makes uv start it again.


def shared_python(box: Sandbox, minor: str = "3.11") -> Path:
    """A shared Python MINOR, installed by root (as the install-user); its lib/pythonX.Y."""
    box.ok("root", "uvshare", "python", "install", minor)
    install = next(p for p in (box.shared / "python").glob(f"cpython-{minor}.*-linux-*") if not p.is_symlink())
    return install / "lib" / f"python{minor}"


def plant(box: Sandbox, lib: Path, code: str) -> None:
    """As a member: CODE as the sitecustomize.py of the shared Python at LIB, and uv's cached interpreter facts gone."""
    box.ok("alice", "/usr/bin/python3", "-c", f"open({str(lib / 'sitecustomize.py')!r}, 'w').write({code!r})")
    box.ok("alice", "sh", "-c", f'rm -rf "{box.shared}"/cache/interpreter-v*')


def test_the_install_user_gets_no_fd_of_roots(box1: Sandbox) -> None:
    """Root runs its command with a root-only file open on fd 7: the member's code the install-user starts finds
    no fd of root's to write through (every fd above 2 is closed, 0-2 are /dev/null and root's relaying pipes)."""
    box = box1
    secret, marks = root_only_file(box), marks_file(box)
    code = (
        "import os\nif os.getuid() != 0:\n"
        f"    open({str(marks)!r}, 'a').write(str(os.getuid()) + '\\n')\n"
        "    for fd in range(3, 256):\n        try:\n            os.write(fd, b'a member was here\\n')\n"
        "        except OSError:\n            pass\n"
    )
    plant(box, shared_python(box), code)
    box.ok("root", "bash", "-c", f'exec 7>>"{secret}"; uvshare python find 3.11')
    assert pwd.getpwnam(INSTALLER).pw_uid in uids_that_ran(marks), "the plant did not run: the test proves nothing"
    assert secret.read_text() == "root only\n"


def test_the_install_user_never_starts_in_a_dir_only_root_can_reach(box1: Sandbox) -> None:
    """Root's current dir is readable by all but lies below one only root may enter: the install-user's uv starts in
    `/`, not there (member code could read what root keeps there)."""
    box = box1
    marks = marks_file(box)
    private = box.root / "root-home"
    private.mkdir(mode=0o700)
    project = private / "project"
    project.mkdir(mode=0o755)
    (project / ".env").write_text("API_KEY=root-only\n")
    (project / ".env").chmod(0o644)
    code = (
        "import os\nif os.getuid() != 0:\n    try:\n        seen = open('.env').read()\n"
        "    except OSError as e:\n        seen = str(e)\n"
        f"    open({str(marks)!r}, 'a').write(os.getcwd() + ' ' + seen + '\\n')\n"
    )
    plant(box, shared_python(box), code)
    box.ok("root", "uvshare", "python", "list", cwd=project)
    seen = marks.read_text()
    assert seen and "root-only" not in seen and str(project) not in seen, seen


def test_a_uv_variable_naming_the_shared_tree_hands_root_nothing_shared(box: Sandbox) -> None:
    """Root's environment names the shared dirs itself (an image's ENV, the old workaround): root's tool uninstall
    still runs as the install-user (a planted receipt deletes nothing of root's), and root's venv does not start a
    shared Python."""
    wheels = wheels_dir(box.root / "wheels", ("hello-a", "1.0"), ("hello-b", "1.0"))
    secret, marks = root_only_file(box), marks_file(box)
    lib = shared_python(box)
    box.ok("alice", *tool_install_args(wheels, "hello-a"))
    box.ok("alice", *tool_install_args(wheels, "hello-b"))  # not the last tool: uv's own failure is what we see
    edit_receipt(box, "hello-a", secret)
    named = {"UV_TOOL_DIR": str(box.shared / "tools"), "UV_PYTHON_INSTALL_DIR": str(box.shared / "python")}
    box.run("root", "uvshare", "tool", "uninstall", "hello-a", env=named)
    assert secret.exists() and secret.read_text() == "root only\n"
    plant(box, lib, f"import os\nopen({str(marks)!r}, 'a').write(str(os.getuid()) + '\\n')\n")
    box.run("root", "uvshare", "venv", "--python", "3.11", box.root / "root-venv", env=named)
    assert 0 not in uids_that_ran(marks)


def test_the_recipe_never_puts_uvshare_on_a_shared_python(box1: Sandbox, uvshare_wheel: Path) -> None:
    """The recipe run again with the shared bin dir on root's PATH (the README's ENV line) and a Python version its
    own home lacks but the tree has: uvshare's own venv is never made on the shared Python."""
    box = box1
    box.ok("root", "uvshare", "share", "setup")
    box.ok("alice", "uvshare", "python", "install", "3.12")  # the machine's own Python is 3.11
    home = box.root / "uvshare-home"
    settings = box.recipe_env(
        home,
        box.root / "links",
        UVSHARE_PROFILE="",
        UVSHARE_FORCE="1",
        UVSHARE_PYTHON="3.12",
        UV_PYTHON_DOWNLOADS="never",  # the shared 3.12 or none: this must fail rather than take it
        PATH=f"/usr/sbin:/usr/bin:/sbin:/bin:{box.uv.parent}:{box.shared / 'bin'}:{box.shared / 'tool-bin'}",
        **network_env(),
    )
    box.run("root", "sh", REPO / "recipes" / "image-install.sh", uvshare_wheel, env=settings)
    made = [p.read_text() for p in home.glob("tools/*/pyvenv.cfg")]
    assert all(str(box.shared) not in text for text in made), made


# How root's command is run: as on a host (root may make a PID namespace for the run), and as in a chroot-isolated
# container build or a Docker build (no CAP_SYS_ADMIN: root is the run's subreaper instead).
HOW = {"namespace": (), "no-sys-admin": ("setpriv", "--bounding-set=-sys_admin", "--")}
DAEMON = (
    "import os\nif os.getuid() != 0 and os.fork() == 0:\n    os.setsid()\n"
    "    open({marks!r}, 'a').write(str(os.getpid()) + '\\n')\n"
    "    null = os.open('/dev/null', os.O_RDWR)\n"  # a daemon: it holds none of uv's pipes, so uv ends
    "    for fd in (0, 1, 2):\n        os.dup2(null, fd)\n"
    "    os.execv('/bin/sleep', ['sleep', '60'])\n"
)
# A fork loop: a new pid every moment (faster than any list of /proc), each generation noting its pid; it gives up
# by itself after 20 s, so that a failing run leaves nothing behind for long.
FORK_LOOP = (
    "import os, time\nif os.getuid() != 0 and os.fork() == 0:\n    os.setsid()\n"
    "    null = os.open('/dev/null', os.O_RDWR)\n"
    "    for fd in (0, 1, 2):\n        os.dup2(null, fd)\n"
    "    end = time.monotonic() + 20\n"
    "    while time.monotonic() < end:\n"
    "        if os.fork():\n            os._exit(0)\n"
    "        open({marks!r}, 'a').write(str(os.getpid()) + '\\n')\n"
    "        time.sleep(0.01)\n"
)


# A chain that changes its pid as fast as it can (each process forks and exits at once: no pid lives long enough to
# be opened by a sweep that lists /proc), noting its pid when it starts and now and then after; it gives up by
# itself after 10 s, so that a failing run leaves nothing behind for long.
HOPPING = (
    "import os, time\nif os.getuid() != 0 and os.fork() == 0:\n    os.setsid()\n"
    "    null = os.open('/dev/null', os.O_RDWR)\n"
    "    for fd in (0, 1, 2):\n        os.dup2(null, fd)\n"
    "    end = time.monotonic() + 10\n"
    "    open({marks!r}, 'a').write(str(os.getpid()) + '\\n')\n"
    "    n = 0\n"
    "    while time.monotonic() < end:\n"
    "        if os.fork():\n            os._exit(0)\n"
    "        n += 1\n"
    "        if n % 200 == 0:\n"
    "            open({marks!r}, 'a').write(str(os.getpid()) + '\\n')\n"
    "    open({marks!r}, 'a').write(str(os.getpid()) + '\\n')\n"
)


def alive_as(pid: int, uid: int) -> bool:
    """Whether PID is a live process (not a zombie) with UID as its real uid."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return int(fields["Uid"].split()[0]) == uid and not fields["State"].strip().startswith("Z")


@pytest.mark.parametrize(
    ("how", "code"),
    [
        *((how, code) for how in HOW for code in (DAEMON, FORK_LOOP)),
        # where root may not make a PID namespace, a chain that outruns every list of /proc may outlive the command
        # (see the README's Known limits): only the kernel's namespace holds against it
        ("namespace", HOPPING),
    ],
    ids=[*(f"{how}-{code}" for how in HOW for code in ("daemon", "fork-loop")), "namespace-pid-hopping"],
)
def test_nothing_the_install_user_starts_outlives_roots_command(box1: Sandbox, how: str, code: str) -> None:
    """A member's code, started by root's `python list` as the install-user, forks a daemon (or a fork loop, or a
    chain that changes its pid as fast as it can) to wait for root's next command (same uid: it could ptrace it, or
    read its environment): it is gone when root's command ends, whether root may make a PID namespace or not."""
    box = box1
    marks = marks_file(box)
    plant(box, shared_python(box), code.format(marks=str(marks)))
    box.ok("root", *HOW[how], "uvshare", "python", "list")
    time.sleep(0.5)
    left = [int(p) for p in marks.read_text().split()]
    assert left, "the plant did not run: the test proves nothing"
    uid = pwd.getpwnam(INSTALLER).pw_uid
    time.sleep(1.0)  # a survivor that changes its pid all the time is seen by what it goes on noting
    growing = len(marks.read_text().split()) > len(left)
    alive = [p for p in marks.read_text().split() if alive_as(int(p), uid)]
    for p in alive:  # what this test's plant started: the test may end it
        os.kill(int(p), 9)
    if growing:
        time.sleep(12)  # a hopping chain cannot be signalled by pid: it gives up by itself after 10 s
    assert not alive and not growing, (alive, growing)


def test_the_runs_first_process_is_out_of_the_install_users_reach(box1: Sandbox) -> None:
    """The run's PID namespace ends when its first process (PID 1 there) exits: that process is root's, so a member's
    code in the run can neither kill it (ending the namespace early, or taking its pid) nor stop it."""
    box = box1
    marks = marks_file(box)
    code = (
        "import os, signal\nif os.getuid() != 0:\n"
        "    for signum in (signal.SIGKILL, signal.SIGSTOP, signal.SIGTERM):\n"
        "        try:\n            os.kill(1, signum)\n            seen = 'sent'\n"
        "        except OSError as e:\n            seen = str(e.errno)\n"
        f"        open({str(marks)!r}, 'a').write(str(os.getpid()) + ' ' + seen + '\\n')\n"
    )
    plant(box, shared_python(box), code)
    box.ok("root", "uvshare", "python", "list")
    seen = marks.read_text().split("\n")
    assert seen[0], "the plant did not run: the test proves nothing"
    assert all(line.split()[1] == "1" for line in seen if line), seen  # EPERM, every time


@pytest.mark.parametrize("how", list(HOW))
def test_roots_command_ends_no_process_it_did_not_start(box1: Sandbox, how: str) -> None:
    """A process of the install-user's uid that is not the run's (a host's service account in a chroot-isolated
    image build, another tree's run): root's tree command leaves it alone."""
    box = box1
    uid = pwd.getpwnam(INSTALLER).pw_uid
    other = subprocess.Popen(["setpriv", f"--reuid={uid}", f"--regid={group_gid()}", "--clear-groups", "sleep", "300"])
    try:
        time.sleep(0.3)
        box.ok("root", *HOW[how], "uvshare", "python", "list")
        assert other.poll() is None, "root's command killed a process that was not its run's"
    finally:
        other.kill()  # the test's own
        other.wait()


def test_two_trees_do_not_wait_for_or_kill_each_other(box1: Sandbox) -> None:
    """Root's command on tree A is held up by a member's code (a sitecustomize.py that sleeps): root's command on
    tree B runs meanwhile, and A's uv is not killed by it (both trees here even share their install-user)."""
    a = box1
    b = Sandbox(public_dir(a.root / "tree-b"), a.bin_dir, a.uv, a.mirror, a.users)
    b.write_config()
    marks = marks_file(a)
    code = (
        "import os, time\nif os.getuid() != 0:\n"
        f"    open({str(marks)!r}, 'a').write('started\\n')\n    time.sleep(15)\n"
    )
    plant(a, shared_python(a), code)
    held = a.popen("root", "uvshare", "python", "list", stderr=subprocess.PIPE)
    try:
        for _ in range(300):
            if marks.read_text() or held.poll() is not None:
                break
            time.sleep(0.1)
        assert marks.read_text(), "the plant did not run: the test proves nothing"
        other = b.run("root", "uvshare", "python", "list", timeout=60)
        assert other.returncode == 0, str(other)
        assert "waiting" not in other.stderr, str(other)
        assert held.poll() is None, "tree B's command waited for tree A's"
        out, err = held.communicate(timeout=120)
        assert held.returncode == 0, (held.returncode, out, err)
    finally:
        if held.poll() is None:
            held.kill()  # the test's own (root's uvshare): its run's namespace goes with it
            held.wait()


def test_a_members_escape_sequence_reaches_no_log_whole(box1: Sandbox) -> None:
    """A member's code in a shared Python fails uv's query of it with a C1 CSI (UTF-8 C2 9B: uv drops ESC sequences
    from what it shows, not this) on its stderr, which uv shows root; root's stderr is a pipe (`| tee log`, read
    later on a terminal), not a terminal: it still arrives shown harmless. (The pipes root relays are root's: the
    member's code cannot reopen them through /proc; a sequence split across uv's writes is the relay's unit test.)"""
    box = box1
    marks = marks_file(box)
    code = (
        "import os, sys\nif os.getuid() != 0:\n"
        f"    open({str(marks)!r}, 'a').write('ran\\n')\n"
        "    os.write(2, b'MEMBER \\xc2\\x9b31m!\\n')\n    os._exit(1)\n"
    )
    lib = shared_python(box)
    plant(box, lib, code)
    done = box.run("root", "uvshare", "python", "find", lib.parent.parent / "bin" / "python3.11")
    assert marks.read_text(), "the plant did not run: the test proves nothing"
    assert "MEMBER" in done.stderr, str(done)
    assert "\x9b" not in done.stderr and "MEMBER \\xc2\\x9b31m!" in done.stderr, str(done)


def test_roots_uninstall_of_the_last_tool_is_whole(box: Sandbox) -> None:
    """Root uninstalls the last shared tool (uv 0.6 then tries to remove the tool dir, in root's prefix): exit 0,
    the lock file back; and a real failure of uv's (a receipt naming a root file) is never turned into success."""
    wheels = wheels_dir(box.root / "wheels", ("hello-a", "1.0"))
    box.ok("root", "uvshare", "share", "setup")
    box.ok("alice", *tool_install_args(wheels, "hello-a"))
    box.ok("root", "uvshare", "tool", "uninstall", "hello-a")
    assert (box.shared / "tools" / ".lock").is_file() and not (box.shared / "tools" / "hello-a").exists()
    secret = root_only_file(box)
    box.ok("alice", *tool_install_args(wheels, "hello-a"))
    edit_receipt(box, "hello-a", secret)
    failed = box.run("root", "uvshare", "tool", "uninstall", "hello-a")
    assert failed.returncode != 0 and "nothing is wrong" not in failed.stderr, str(failed)
    assert secret.read_text() == "root only\n"


def test_two_trees_never_share_an_install_user_by_default(box1: Sandbox) -> None:
    """`share init` without --install-user names the tree's own account: its group's name and `-install`; a second
    tree of the same group (another config in the trees dir names that account already) gets one of its own."""
    box = box1
    trees = public_dir(box.root / "trees")
    settings = {"UVSHARE_TREES_DIR": str(trees)}

    def init(name: str) -> str:
        args = box.init_args("--dry-run", prefix=box.root / name, config=trees / f"{name}.toml")
        at = args.index("--install-user")
        del args[at : at + 2]
        return box.ok("root", *args, env=settings).stdout

    first = init("a")
    assert f"install-user = '{GROUP}-install'" in first, first
    (trees / "a.toml").write_text(
        f"group = '{GROUP}'\ninstall-user = '{GROUP}-install'\npython-install-dir = '{box.root / 'a' / 'python'}'\n"
    )
    second = init("b")
    named = re.search(r"install-user = '([^']*)'", second)
    assert named and named.group(1) != f"{GROUP}-install" and named.group(1).startswith(GROUP), second
    assert len(named.group(1)) <= 32, second


# The run's processes keep one another running: each sends SIGCONT to the others without pause, so when root's
# sweep (kill_descendants, the subreaper path) stops them one after another, one still running wakes those stopped
# before it — and a stopped process is never stopped again by the sweep. A woken one goes on forking children; one
# forked after the sweep's last listing of /proc is never found, never killed, and outlives root's command. Each child
# notes its pid only once its parent is gone (killed by the sweep) and it is still alive: a survivor. The plant ends
# by itself after 15 s (and waits for its children), so a failing run leaves nothing behind for long.
WAKE_EACH_OTHER = (
    "import os\nif os.getuid() != 0 and os.fork() == 0:\n"
    "    import signal, time\n"
    "    os.setsid()\n"
    "    null = os.open('/dev/null', os.O_RDWR)\n"
    "    for fd in (0, 1, 2):\n        os.dup2(null, fd)\n"
    "    group = [os.getpid()]\n"
    "    for _ in range(3):\n"
    "        pid = os.fork()\n"
    "        if pid == 0:\n            break\n"
    "        group.append(pid)\n"
    "    me = os.getpid()\n"
    "    end = time.monotonic() + 15\n"
    "    later = 0.0\n"
    "    while time.monotonic() < end:\n"
    "        for p in group:\n"
    "            try:\n                os.kill(p, signal.SIGCONT)\n"
    "            except OSError:\n                pass\n"
    "        now = time.monotonic()\n"
    "        if now >= later:\n"
    "            later = now + 0.008\n"
    "            if os.fork() == 0:\n"
    "                until = time.monotonic() + 0.2\n"
    "                while time.monotonic() < until:\n"
    "                    time.sleep(0.005)\n"
    "                    if os.getppid() != me:\n"
    "                        open({marks!r}, 'a').write(str(os.getpid()) + '\\n')\n"
    "                        time.sleep(30)\n"
    "                        break\n"
    "                os._exit(0)\n"
    "        try:\n"
    "            while os.waitpid(-1, os.WNOHANG)[0]:\n                pass\n"
    "        except ChildProcessError:\n            pass\n"
    "    try:\n"
    "        while True:\n            os.wait()\n"
    "    except ChildProcessError:\n        pass\n"
    "    os._exit(0)\n"
)


def test_the_subreapers_sweep_is_outrun_by_processes_that_wake_each_other(box1: Sandbox) -> None:
    """The attack review's, for the subreaper path (no CAP_SYS_ADMIN: a chroot-isolated or Docker build): a
    member's code in a shared Python, started by root's `python list` as the install-user, keeps its processes
    running by waking one another (SIGCONT) while they fork: none outlives root's command (a sweep that stopped each
    process once, to kill it later, was outrun)."""
    box = box1
    marks = marks_file(box)
    uid = pwd.getpwnam(INSTALLER).pw_uid
    lib = shared_python(box)
    alive: list[int] = []
    tries = 0
    while not alive and tries < 10:  # a race: the sweep's loop against the run's; won within a few tries
        tries += 1
        plant(box, lib, WAKE_EACH_OTHER.format(marks=str(marks)))
        box.ok("root", *HOW["no-sys-admin"], "uvshare", "python", "list")
        time.sleep(1.0)
        left = [int(p) for p in marks.read_text().split()]
        alive = [p for p in left if alive_as(p, uid)]
    for p in alive:  # what this test's plant started: the test may end it
        os.kill(p, 9)
    assert not alive, f"the install-user's processes {alive} outlived root's command (try {tries})"


def test_the_namespace_path_holds_against_the_same_plant(box1: Sandbox) -> None:
    """Where root may make a PID namespace, the same plant leaves nothing behind either (and the plant works: the
    subreaper path's test passing proves something)."""
    box = box1
    marks = marks_file(box)
    uid = pwd.getpwnam(INSTALLER).pw_uid
    plant(box, shared_python(box), WAKE_EACH_OTHER.format(marks=str(marks)))
    box.ok("root", "uvshare", "python", "list")
    time.sleep(1.0)
    left = [int(p) for p in marks.read_text().split()]
    alive = [p for p in left if alive_as(p, uid)]
    for p in alive:
        os.kill(p, 9)
    assert not alive, alive
