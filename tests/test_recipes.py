"""The README's recipes, step by step as root and then as the user who runs the image, server or job."""

from __future__ import annotations

import grp
import pwd
import re
import stat
import subprocess
from pathlib import Path

from tests.support.harness import (
    INSTALLER_GID0,
    REPO,
    Sandbox,
    User,
    group_gid,
    network_env,
    not_shared,
    snapshot,
)
from tests.support.wheels import make_wheel, tool_install_args

RECIPE = REPO / "recipes" / "image-install.sh"


def test_image_recipe_runs_again_upgrades_and_fronts_uv_and_uvx(
    box1: Sandbox, uvshare_wheel: Path, newer_uvshare_wheel: Path
) -> None:
    """recipes/image-install.sh with nothing but uv, run twice (the second run finds its own launcher first on PATH
    and changes nothing), then again with a newer uvshare (which it installs); then members use `uv` and `uvx`."""
    box = box1
    box.config.unlink()
    home, link_dir = box.root / "uvshare-home", box.root / "usr-local-bin"
    profile = box.root / "profile.d" / "uvshare.sh"
    settings = box.recipe_env(
        home,
        link_dir,
        UVSHARE_PYTHON="3.12",
        UVSHARE_PROFILE=str(profile),
        PATH=f"{link_dir}:{box.uv.parent}:/usr/sbin:/usr/bin:/sbin:/bin",  # as in an image: the launcher first
        **network_env(),  # the recipe installs uvshare's dependencies from the package index
    )
    first = box.ok("root", "sh", RECIPE, uvshare_wheel, env=settings)
    assert first.stdout.rstrip().endswith("healthy"), str(first)
    assert f"'{box.uv}'" in box.config.read_text(), box.config.read_text()
    # uvshare's own Python and code: nobody but root can change them (uv makes its empty .lock files 0666 itself)
    writable = [p for p in home.rglob("*") if not p.is_symlink() and p.name != ".lock" and p.stat().st_mode & 0o022]
    assert not writable, writable[:5]

    def state() -> tuple[object, ...]:
        files = [box.config, profile, link_dir / "uv", link_dir / "uvx"]
        return tuple((f.read_bytes(), f.stat().st_mtime_ns, f.stat().st_ino) for f in files), snapshot(box.shared)

    before = state()
    second = box.ok("root", "sh", RECIPE, uvshare_wheel, env=settings)
    assert second.stdout.rstrip().endswith("healthy"), str(second)
    assert state() == before, "a second run changed what was already right"

    third = box.ok("root", "sh", RECIPE, newer_uvshare_wheel, env=settings)
    assert third.stdout.rstrip().endswith("healthy"), str(third)
    path = {"PATH": f"{link_dir}:{box.uv.parent}:/usr/bin:/bin"}
    assert box.ok("alice", "uv", "share", "--version", env=path).stdout == "uvshare 99.0.0\n"
    assert f"'{box.uv}'" in box.config.read_text()

    real = subprocess.run([box.uv, "--version"], capture_output=True, text=True, check=True).stdout
    box.ok("root", "uv", "python", "install", "3.10", env=path)  # baked into the image
    for user in ("root", "alice"):
        assert box.ok(user, "uv", "--version", env=path).stdout == real
    box.ok("alice", "uv", "python", "install", "3.11", env=path)
    again = box.ok("bob", "uv", "python", "install", "3.10", env=path)
    assert "Python 3.10.13 is already installed" in again.stderr
    wheels = box.root / "wheels"
    make_wheel(wheels, "hello-a", "1.0")
    wheels.chmod(0o755)
    uvx = box.ok(
        "bob", "uvx", "--python", "3.11", "--no-index", "--find-links", wheels, "--from", "hello-a", "hello-a", env=path
    )
    assert uvx.stdout == "hello-a 1.0\n"
    assert box.run("alice", "uv", "share", "doctor", env=path).returncode == 0
    doctor = box.ok("root", "uv", "share", "doctor", env=path)
    assert "✓ uvshare:" in doctor.stdout and "only root can change them" in doctor.stdout
    login = box.ok("alice", "sh", "-c", f'. "{profile}" && echo "$PATH"', env=path).stdout
    assert str(box.shared / "tool-bin") in login and str(box.shared / "bin") in login
    assert not box.not_shared()


def test_openshift_arbitrary_uid_in_group_0(box1: Sandbox) -> None:
    """`group = 0`, and a uid with no passwd entry whose gid is 0, as OpenShift runs images."""
    box = box1
    box.write_config(group=0, install_user=INSTALLER_GID0)
    made = box.ok("root", "uvshare", "share", "setup")  # creates the install-user, in gid 0
    assert f"created the account {INSTALLER_GID0}" in made.stdout, str(made)
    box.ok("root", "uvshare", "python", "install", "3.10")
    anybody = User("1000770000", 1000770000, 0, in_passwd=False)
    box.ok(anybody, "uvshare", "python", "install", "3.11")
    again = box.ok(anybody, "uvshare", "python", "install", "3.10")
    assert "already installed" in again.stderr
    ran = box.ok(anybody, "uvshare", "run", "--no-project", "--python", "3.10", "python", "-c", "print('ok')")
    assert ran.stdout == "ok\n"
    doctor = box.run(anybody, "uvshare", "share", "doctor")
    assert "Traceback" not in doctor.stderr + doctor.stdout
    assert "uid 1000770000 is in group 'root' in this session" in doctor.stdout  # gid 0, by its name
    # the account setup made is in a group of its own, not group 0: root's runs gave it gid 0, and what it installed
    # counts as the group's (it is the install-user setup made for gid 0)
    account = pwd.getpwnam(INSTALLER_GID0)
    assert account.pw_gid != 0 and INSTALLER_GID0 not in grp.getgrgid(0).gr_mem
    roots = box.run("root", "uvshare", "share", "doctor")
    assert roots.returncode == 0 and "not a member" not in roots.stdout, str(roots)


def test_ci_runner_read_only_pythons(box1: Sandbox) -> None:
    """Pythons baked into a runner image, mounted read-only: jobs 'install' them without writing a thing."""
    box = box1
    box.ok("root", "uvshare", "python", "install", "3.11", "3.12")
    before = snapshot(box.shared)
    shared = str(box.shared)
    subprocess.run(["mount", "--bind", shared, shared], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", shared], check=True)
        for user in ("alice", "dave"):
            result = box.ok(user, "uvshare", "python", "install", "3.11", "3.12")
            assert result.stderr.count("is already installed") == 2, str(result)
    finally:
        subprocess.run(["umount", shared], check=True)
    assert snapshot(box.shared) == before


def test_hpc_group_project_dir(box1: Sandbox) -> None:
    """A group project dir: setgid dirs, the config in /etc (here UVSHARE_CONFIG), doctor names the filesystem."""
    box = box1
    box.ok("root", "uvshare", "share", "setup")
    for name in ("python", "tools", "cache"):
        st = (box.shared / name).stat()
        assert st.st_gid == group_gid() and st.st_mode & stat.S_ISGID
    doctor = box.ok("carol", "uvshare", "share", "doctor")
    assert re.search(r"python-install-dir: on \S+ \(.* at .*\)", doctor.stdout), doctor.stdout


def test_jupyterhub_shared_cache_and_tools_own_venvs(box1: Sandbox) -> None:
    """A shared server: one cache and one set of tools for all, each user's own venv in their home."""
    box = box1
    wheels = box.root / "wheels"
    make_wheel(wheels, "hello-a", "1.0")
    wheels.chmod(0o755)
    box.ok("root", *tool_install_args(wheels, "hello-a"))
    for user in ("alice", "bob"):
        venv = box.venv_with(user, wheels, "hello-a")
        assert box.ok(user, venv / "bin" / "hello-a").stdout == "hello-a 1.0\n"
        assert box.ok(user, box.shared / "tool-bin" / "hello-a", umask=0o002).stdout == "hello-a 1.0\n"
        assert venv.stat().st_uid == box.users[user].uid
    wrong = not_shared(box.shared / "cache", group_gid())
    assert not wrong, wrong[:5]
