"""The shared tree keeps itself shared whoever writes it: default ACLs, uvx, and no uv before the tree is ready.

Real users and the real uv (newest and 0.6.14), the umask stated for every command that matters; each test ends by
walking the whole shared tree, the cache included.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.harness import Sandbox, group_gid, not_shared
from tests.support.wheels import make_sdist, make_wheel, tool_install_args, wheels_dir


def getfacl(path: Path) -> list[str]:
    """The ACL of PATH as `getfacl` (the acl package) shows it: the test's oracle, independent of uvshare."""
    done = subprocess.run(
        ["getfacl", "--absolute-names", "--omit-header", "--skip-base", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    if not done.stdout:  # --skip-base prints nothing for a file whose ACL is its mode
        done = subprocess.run(
            ["getfacl", "--absolute-names", "--omit-header", str(path)], capture_output=True, text=True, check=True
        )
    return done.stdout.split()


def has_shared_default(path: Path) -> bool:
    """Whether getfacl shows PATH's default ACL giving owner and group rwx."""
    acl = getfacl(path)
    return "default:group::rwx" in acl and "default:user::rwx" in acl


def test_setup_gives_every_shared_dir_a_default_acl(box: Sandbox) -> None:
    """Root's first command on the tree makes it: every shared dir and .temp carry the default ACL; the missing parent
    is root's 0755 (members must not be able to rename a shared dir)."""
    box.ok("root", "uvshare", "cache", "dir", umask=0o022)
    for rel in ("python", "python/.temp", "bin", "python-cache", "tools", "tool-bin", "cache"):
        assert has_shared_default(box.shared / rel), (rel, getfacl(box.shared / rel))
    top = box.shared.stat()
    assert (top.st_uid, top.st_gid, stat.S_IMODE(top.st_mode)) == (0, 0, 0o755)
    assert not box.not_shared()


def test_tool_run_directly_then_upgraded_and_uninstalled_by_another_member(box: Sandbox) -> None:
    """Issue 8, case 1: a member runs a shared tool straight from the bin dir with umask 022, twice (Python writes
    __pycache__); another member upgrades it and later uninstalls it, through uvshare."""
    wheels = wheels_dir(box.root / "wheels", ("hello-a", "1.0"))
    box.ok("root", *tool_install_args(wheels, "hello-a"))
    tool = box.shared / "tool-bin" / "hello-a"
    assert box.ok("alice", tool, umask=0o022).stdout == "hello-a 1.0\n"
    assert list((box.shared / "tools" / "hello-a").rglob("__pycache__")), "the direct run wrote no bytecode"
    # another size than 1.0's module: bytecode is checked against the source's mtime (in seconds) and size
    make_wheel(wheels, "hello-a", "2.0", "hello-a, version 2.0")
    box.ok("bob", *tool_install_args(wheels, "hello-a==2.0"), umask=0o022)
    assert box.ok("alice", tool, umask=0o022).stdout == "hello-a, version 2.0\n"
    assert not box.not_shared()
    box.ok("bob", "uvshare", "tool", "uninstall", "hello-a", umask=0o022)
    assert not (box.shared / "tools" / "hello-a").exists()
    assert not box.not_shared()


def test_plain_uv_after_setup_leaves_everything_shared(box: Sandbox) -> None:
    """Issue 8, case 2: after setup, a member uses plain uv (not uvshare) with umask 022 to install a Python and a
    tool; another member uninstalls both through uvshare."""
    box.ok("root", "uvshare", "share", "setup")
    wheels = wheels_dir(box.root / "wheels", ("hello-b", "1.0"))
    plain = box.plain_uv_env()
    box.ok("alice", "uv", "python", "install", "3.12", env=plain, umask=0o022)
    box.ok("alice", *tool_install_args(wheels, "hello-b", command="uv"), env=plain, umask=0o022)
    assert not box.not_shared()
    box.ok("bob", "uvshare", "tool", "uninstall", "hello-b", umask=0o022)
    box.ok("bob", "uvshare", "python", "uninstall", "3.12", umask=0o022)
    assert not list((box.shared / "python").glob("cpython-3.12*"))
    assert not box.not_shared()


@pytest.fixture
def fronted(box: Sandbox) -> tuple[Sandbox, dict[str, str]]:
    """uvshare installed as uv and uvx (links to its console script) ahead of the real uv and uvx on PATH."""
    alias = box.root / "alias"
    alias.mkdir(mode=0o755)
    for name in ("uv", "uvx"):
        (alias / name).symlink_to(box.bin_dir / "uvshare")
    assert (box.uv.parent / "uvx").exists()
    return box, {"PATH": f"{alias}:{box.uv.parent}:/usr/bin:/bin"}


def test_uvx_uses_the_shared_python_and_cache(fronted: tuple[Sandbox, dict[str, str]]) -> None:
    """Issue 8, case 3: a member's `uvx --python 3.10 …` runs with the shared Python (none appears in their home) and
    the shared cache; an outsider's uvx works too, with a cache of their own."""
    box, path = fronted
    wheels = wheels_dir(box.root / "wheels", ("hello-a", "1.0"))
    box.ok("root", "uv", "python", "install", "3.10", env=path)
    run = ("uvx", "--python", "3.10", "--no-index", "--find-links", wheels, "--from", "hello-a", "hello-a")
    assert box.ok("alice", *run, env=path, umask=0o022).stdout == "hello-a 1.0\n"
    home = box.home(box.users["alice"])
    assert not list(home.rglob("python3.10*")), "uvx made a Python of its own in the member's home"
    assert not (home / ".cache" / "uv").exists(), "uvx used a cache of the member's own"
    assert list((box.shared / "cache").glob("archive-v0/*")), "uvx did not use the shared cache"
    assert box.ok("dave", *run, env=path, umask=0o022).stdout == "hello-a 1.0\n"
    assert (box.home(box.users["dave"]) / ".cache" / "uv").is_dir()
    assert not box.not_shared()


def test_uvx_arguments_reach_the_real_uvx(box1: Sandbox) -> None:
    """uvx's arguments are uvx's: no `share`, no skip, no outsider refusal; found beside the real uv."""
    real = box1.root / "real"
    real.mkdir(mode=0o755)
    record = box1.root / "records"
    record.mkdir()
    (record / "log").touch()
    (record / "log").chmod(0o666)  # every test user appends to it
    for name in ("uv", "uvx"):
        (real / name).write_text(
            "#!/usr/bin/python3\nimport json, os, sys\n"
            f"open({str(record / 'log')!r}, 'a').write(json.dumps([os.path.basename(sys.argv[0]), sys.argv[1:], "
            "os.umask(0)]) + '\\n')\n"
        )
        (real / name).chmod(0o755)
    alias = box1.root / "alias"
    alias.mkdir(mode=0o755)
    (alias / "uvx").symlink_to(box1.bin_dir / "uvshare")
    env = {"PATH": f"{alias}:/usr/bin:/bin", "UVSHARE_UV": str(real / "uv")}
    for user in ("root", "alice", "dave"):
        for args in (["share", "doctor"], ["python", "install", "3.10"], ["--from", "x", "tool"]):
            box1.ok(user, "uvx", *args, env=env, umask=0o022)
    calls = [json.loads(line) for line in (record / "log").read_text().splitlines()]
    assert [c[:2] for c in calls] == [
        ["uvx", a] for a in (["share", "doctor"], ["python", "install", "3.10"], ["--from", "x", "tool"])
    ] * 3


def test_first_call_on_a_fresh_tree_runs_no_uv_and_sdists_build_for_everyone(box: Sandbox) -> None:
    """Issue 8, case 4: on a fresh tree root's first call is `python install 3.10` (uv runs only after the tree is
    prepared); then one member builds an sdist through the shared cache, and another member a second one."""
    box.ok("root", "uvshare", "python", "install", "3.10", umask=0o022)
    assert not box.not_shared()
    sdists = box.root / "sdists"
    make_sdist(sdists, "sdist-a", "1.0")
    make_sdist(sdists, "sdist-b", "1.0")
    sdists.chmod(0o755)
    for user, name in (("alice", "sdist-a"), ("bob", "sdist-b")):
        venv = box.venv_with(user, sdists, name, umask=0o022)
        module = name.replace("-", "_")
        said = box.ok(user, venv / "bin" / "python", "-c", f"import {module}; print({module}.hello())")
        assert said.stdout == f"{name} 1.0\n"
    assert list((box.shared / "cache").glob("sdists-v*/*"))
    assert not box.not_shared()


def test_no_uv_runs_before_the_tree_is_ready(box1: Sandbox) -> None:
    """With no install dir yet, `python install` is not asked of uv: the only uv that runs is the install itself,
    after the tree is prepared (a recording uv sees the shared dirs already there)."""
    log = box1.root / "records"
    log.mkdir()
    (log / "log").touch()
    (log / "log").chmod(0o666)  # every test user appends to it
    fake = box1.root / "fake"
    fake.mkdir(mode=0o755)
    (fake / "uv").write_text(
        "#!/usr/bin/python3\nimport json, os, sys\n"
        f"open({str(log / 'log')!r}, 'a').write(json.dumps([sys.argv[1:], "
        f"os.path.isdir({str(box1.shared / 'cache')!r})]) + '\\n')\n"
    )
    (fake / "uv").chmod(0o755)
    env = {"UVSHARE_UV": str(fake / "uv")}
    box1.ok("root", "uvshare", "python", "install", "3.10", env=env)
    calls = [json.loads(line) for line in (log / "log").read_text().splitlines()]
    assert calls == [[["python", "install", "3.10"], True]]
    # a request names cannot answer: root lets uv's own install decide (`find` would run members' interpreters) ...
    box1.ok("root", "uvshare", "python", "install", ">=3.11", env=env)
    # ... a member asks `find` first, after the tree is prepared
    box1.ok("alice", "uvshare", "python", "install", ">=3.11", env=env)
    calls = [json.loads(line) for line in (log / "log").read_text().splitlines()]
    assert [c[0][:2] for c in calls[1:]] == [["python", "install"], ["python", "find"], ["python", "install"]]
    assert all(ready for _, ready in calls)


def test_umask_is_left_alone_where_acls_share_the_tree(box1: Sandbox) -> None:
    """Issue 8, case 5: with the default ACLs in force, a file the user's own program writes outside the shared tree
    under `uvshare run` keeps the user's umask; with acl = false the forced umask applies, as before."""
    box = box1
    code = "import os, sys; open(sys.argv[1], 'w').close(); print(oct(os.stat(sys.argv[1]).st_mode & 0o777))"
    out = box.home(box.users["alice"]) / "out.txt"
    run = ("uvshare", "run", "--no-project", "--python", "/usr/bin/python3", "python", "-c", code, out)
    box.ok("root", "uvshare", "share", "setup")
    assert box.ok("alice", *run, umask=0o022).stdout.strip() == "0o644"
    out.unlink()
    box.write_config(acl=False)
    assert box.ok("alice", *run, umask=0o022).stdout.strip() == "0o664"


@pytest.fixture
def no_acl_fs(box1: Sandbox) -> Iterator[Sandbox]:
    """The shared tree on a FUSE mount that keeps no ACLs (Debian's bindfs --xattr-none), as NFSv3 or FUSE may."""
    src, mnt = box1.root / "fuse-src", box1.root / "fuse"
    src.mkdir(mode=0o755)
    mnt.mkdir(mode=0o755)
    subprocess.run(["bindfs", "--xattr-none", src, mnt], check=True)
    shared = mnt / "uv"
    layout = {"python_install_dir": "python", "python_bin_dir": "bin", "tool_dir": "tools", "tool_bin_dir": "tool-bin"}
    box1.write_config(
        python_cache_dir=None, cache_dir=str(shared / "cache"), **{k: str(shared / v) for k, v in layout.items()}
    )
    try:
        yield box1
    finally:
        subprocess.run(["umount", "-l", mnt], check=False)


def test_without_acls_the_umask_does_it_and_doctor_says_so(no_acl_fs: Sandbox) -> None:
    """Issue 8's fallback: where the filesystem keeps no ACLs uvshare works on the umask alone, and doctor says that
    bypassing uvshare is not covered there."""
    box = no_acl_fs
    shared = box.root / "fuse" / "uv"
    setup = box.ok("root", "uvshare", "share", "setup")
    assert "default ACL" not in setup.stdout, setup.stdout
    wheels = wheels_dir(box.root / "wheels", ("hello-a", "1.0"))
    box.ok("alice", *tool_install_args(wheels, "hello-a"), umask=0o022)
    wrong = [p for p in Path(shared).rglob("*") if not p.is_symlink() and not p.lstat().st_mode & 0o020]
    assert not wrong, wrong[:5]
    doctor = box.run("alice", "uvshare", "share", "doctor")
    assert "keeps no ACLs" in doctor.stdout and "may not be shared" in doctor.stdout, doctor.stdout
    config = box.ok("alice", "uvshare", "share", "config")
    assert "umask on uv calls: 0002" in config.stdout, config.stdout


def test_planted_links_where_acls_are_set_are_never_followed(box1: Sandbox, no_protected_hardlinks: None) -> None:
    """The ACL code is as attack-safe as the rest: a symlink planted at .temp or in the tree, or a hard link to a
    root-only file, never gets an ACL or a mode from root's setup, repair or every call."""
    box = box1
    box.ok("root", "uvshare", "python", "install", "3.11")
    secret_dir = box.root / "private"
    secret_dir.mkdir(mode=0o711)
    secret = secret_dir / "secret"
    secret.write_text("root only\n")
    secret.chmod(0o600)
    py = box.shared / "python"
    box.ok("alice", "sh", "-c", f'rm -rf "{py}/.temp" && ln -s "{secret_dir}" "{py}/.temp"')
    box.ok("alice", "sh", "-c", f'ln -s "{secret_dir}" "{box.shared}/cache/evil" && ln "{secret}" "{py}/evil-hard"')
    before = (getfacl(secret_dir), getfacl(secret), secret_dir.stat().st_mode, secret.stat().st_mode)
    for command in (("uvshare", "--version"), ("uvshare", "share", "setup"), ("uvshare", "share", "repair")):
        result = box.run("root", *command)
        assert result.returncode in (0, 1), str(result)
        assert "Traceback" not in result.stderr
        after = (getfacl(secret_dir), getfacl(secret), secret_dir.stat().st_mode, secret.stat().st_mode)
        assert after == before, command
    assert stat.S_ISDIR((py / ".temp").lstat().st_mode) and has_shared_default(py / ".temp")
    assert os.stat(py / "evil-hard").st_gid != group_gid()


def test_repair_gives_an_old_tree_its_default_acls(box: Sandbox) -> None:
    """A tree plain uv made before uvshare (no ACLs, root's umask 022): after repair every dir in it carries the
    default ACL, the umask is left alone, and a member's plain uv with umask 022 keeps it all shared."""
    from tests.test_admin import legacy_tree

    wheels = legacy_tree(box)
    box.ok("root", "uvshare", "share", "repair")
    missing = [  # every dir of every shared dir (the dir above them is not one: plain uv made it, and it is yours)
        d
        for shared in box.shared.iterdir()
        for d, _, _ in os.walk(shared)
        if not os.path.islink(d) and "default:group::rwx" not in getfacl(Path(d))
    ]
    assert not missing, missing[:5]
    config = json.loads(box.ok("alice", "uvshare", "share", "config", "--json").stdout)
    assert not config["umask"]["applied"], config["umask"]
    make_wheel(wheels, "hello-c", "1.0")
    box.ok("alice", *tool_install_args(wheels, "hello-c", command="uv"), env=box.plain_uv_env(), umask=0o022)
    box.ok("bob", "uvshare", "tool", "uninstall", "hello-c")
    assert not [p for shared in box.shared.iterdir() for p in not_shared(shared, group_gid())]
