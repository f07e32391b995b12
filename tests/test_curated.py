"""Curated trees (`kind = "curated"`): root installs (as the install-user), everyone runs, members add their own
beside it — and no member can change what another runs. Real uv (each version), real users, a real group."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.support.harness import GROUP, INSTALLER, Sandbox, group_gid, snapshot
from tests.support.wheels import make_wheel, tool_install_args

PRINT_BASE = "import sys; print(sys.base_prefix)"


def open_to_others(tree: Path, owners: tuple[int, ...]) -> list[str]:
    """Entries below TREE (and TREE) that someone but OWNERS could change: another owner, group or other write, a
    setgid dir, a default ACL. Links aside (never followed)."""
    bad = []
    for dirpath, dirnames, filenames in os.walk(tree):
        if dirpath == str(tree / "cache"):  # the install-user's: closed to everybody else, so only its top counts
            dirnames.clear()
            if stat.S_IMODE(os.lstat(dirpath).st_mode) != 0o700:
                bad.append(f"{dirpath} (not 0700)")
        names = [] if dirpath == str(tree / "cache") else [*dirnames, *filenames]
        for path in (dirpath, *(os.path.join(dirpath, n) for n in names)):
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                continue
            setgid_dir = stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISGID
            default_acl = stat.S_ISDIR(st.st_mode) and "system.posix_acl_default" in os.listxattr(path)
            if st.st_uid not in owners or st.st_mode & 0o022 or setgid_dir or default_acl:
                bad.append(f"{path} ({st.st_uid}:{st.st_gid} {stat.S_IMODE(st.st_mode):04o})")
    return sorted(bad)


def kind_line(box: Sandbox) -> list[str]:
    """The config's `kind` lines."""
    return [line for line in box.config.read_text().splitlines() if line.startswith("kind")]


def installer_uid() -> int:
    import pwd

    return pwd.getpwnam(INSTALLER).pw_uid


def curated_tree(box: Sandbox) -> Path:
    """`share init --curated`, then root installs Python 3.12 and the tool hello-a (1.0); the wheels dir."""
    box.ok("root", *box.init_args("--curated", "--force"))
    assert kind_line(box) == ["kind = 'curated'"]
    wheels = box.root / "wheels"
    make_wheel(wheels, "hello-a", "1.0")
    wheels.chmod(0o755)
    box.ok("root", "uvshare", "python", "install", "3.12", umask=0o022)
    box.ok("root", *tool_install_args(wheels, "hello-a"), umask=0o022)
    return wheels


def python_dir(box: Sandbox, version: str) -> Path:
    (found,) = [p for p in (box.shared / "python").glob(f"cpython-{version}.*") if not p.is_symlink()]
    return found


def test_curated_tree_admins_install_users_run(box: Sandbox) -> None:
    """The issue's story: nothing in the tree is writable by members; their attempts to change it fail (EACCES) and
    another member's venv on the curated Python is unaffected; "already installed" writes nothing; a version the tree
    lacks lands in the member's home; root and an outsider run the curated Python; doctor is healthy after it all."""
    wheels = curated_tree(box)
    installed = python_dir(box, "3.12")
    assert open_to_others(box.shared, (0, installer_uid())) == []
    assert (box.shared / "tool-bin" / "hello-a").exists()

    # bob's venv on the curated Python, before alice tries anything
    venv = box.home(box.users["bob"]) / "v"
    box.ok("bob", "uvshare", "venv", "--python", "3.12", venv)
    assert box.ok("bob", venv / "bin" / "python", "-c", PRINT_BASE).stdout.strip() == str(installed)

    # alice cannot change the curated Python or tool: the kernel says no
    lib = installed / "lib" / "python3.12"
    for target in (lib / "sitecustomize.py", lib / "os.py", box.shared / "tools" / "hello-a" / "pyvenv.cfg"):
        attempt = box.run("alice", "sh", "-c", f"echo 'raise SystemExit(\"owned\")' >> {target}")
        assert attempt.returncode != 0 and "Permission denied" in attempt.stderr, str(attempt)
    attempt = box.run("alice", "rm", "-rf", installed)
    assert attempt.returncode != 0 and "Permission denied" in attempt.stderr, str(attempt)
    refused = box.run("alice", "uvshare", "python", "uninstall", "3.12")
    assert refused.returncode == 2, str(refused)
    assert "curated tree's" in refused.stderr and "only root changes it" in refused.stderr, str(refused)
    refused = box.run("alice", "uvshare", "tool", "uninstall", "hello-a")
    assert refused.returncode == 2 and "curated tree's" in refused.stderr, str(refused)
    assert installed.is_dir() and (box.shared / "tools" / "hello-a").is_dir()
    assert not (lib / "sitecustomize.py").exists()
    ran = box.ok("bob", venv / "bin" / "python", "-c", "import os, sys; print(sys.base_prefix)")
    assert ran.stdout.strip() == str(installed), str(ran)

    # "already installed", and nothing written anywhere in the tree
    before = snapshot(box.shared)
    again = box.ok("alice", "uvshare", "python", "install", "3.12", umask=0o002)
    assert "is already installed at" in again.stderr and str(box.shared / "python") in again.stderr, str(again)
    assert snapshot(box.shared) == before

    # a version the tree lacks: alice's own, in her home, with one line saying so; both are found by uv
    own = box.ok("alice", "uvshare", "python", "install", "3.11")
    home = box.home(box.users["alice"])
    assert "uvshare: Python 3.11 is not in the curated tree" in own.stderr and str(home) in own.stderr, str(own)
    assert list((home / ".local" / "share" / "uv" / "python").glob("cpython-3.11.*"))
    assert snapshot(box.shared) == before
    for version, where in (("3.11", home), ("3.12", installed)):
        ran = box.ok("alice", "uvshare", "run", "--no-project", "--python", version, "python", "-c", PRINT_BASE)
        assert ran.stdout.strip().startswith(str(where)), (version, str(ran))
    found = box.ok("alice", "uvshare", "python", "find", "3.12").stdout.strip()
    assert found.startswith(str(installed)), found
    # her own uninstall touches only hers
    box.ok("alice", "uvshare", "python", "uninstall", "3.11")
    assert snapshot(box.shared) == before

    # the curated tool runs by its command, for a member and an outsider; a member's own tool goes to their home
    for user in ("carol", "dave"):
        assert box.ok(user, box.shared / "tool-bin" / "hello-a").stdout.strip() == "hello-a 1.0"
    make_wheel(wheels, "hello-b", "1.0")
    box.ok("carol", *tool_install_args(wheels, "hello-b"))
    assert (box.home(box.users["carol"]) / ".local" / "share" / "uv" / "tools" / "hello-b").is_dir()

    # root's own uv run (not a command on the tree) uses the curated Python; so does an outsider's
    for user in ("root", "dave"):
        ran = box.ok(user, "uvshare", "run", "--no-project", "--python", "3.12", "python", "-c", PRINT_BASE)
        assert ran.stdout.strip() == str(installed), (user, str(ran))
    assert snapshot(box.shared) == before, "a run wrote to the curated tree"

    doctor = box.run("root", "uvshare", "share", "doctor")
    assert doctor.returncode == 0 and "healthy" in doctor.stdout, str(doctor)


def test_root_in_a_curated_tree_is_not_fenced(box1: Sandbox) -> None:
    """Root's own uv may work in a curated tree's dirs and finds its Pythons (nobody else can write them); with the
    tree left group-writable (a shared tree relabelled by hand) root's uv keeps away from its Pythons, saying why. (With
    a team project dir, which root's uv is kept out of, and so checks the venvs it picks up.)"""
    box = box1
    box.ok("root", *box.init_args("--curated", "--force", "--project-dir", str(box.root / "proj")))
    box.ok("root", "uvshare", "python", "install", "3.12", umask=0o022)
    installed = python_dir(box, "3.12")
    ran = box.ok("root", "uvshare", "python", "find", "3.12", cwd=box.shared / "python")
    assert ran.stdout.strip().startswith(str(box.shared / "python")), str(ran)
    ran = box.ok("root", "uvshare", "run", "--no-project", "-p", "3.12", "python", "-c", PRINT_BASE)
    assert ran.stdout.strip() == str(installed), str(ran)
    # root's project venv on the curated Python, used from the project dir (uv picks up its .venv)
    app = box.root / "app"
    app.mkdir()
    box.ok("root", "uvshare", "venv", "--python", "3.12", app / ".venv", cwd=app)
    ran = box.ok("root", "uvshare", "run", "--no-project", "python", "-c", PRINT_BASE, cwd=app)
    assert ran.stdout.strip() == str(installed), str(ran)

    # a member could write the install: root's own uv does not use it
    os.chown(installed, installer_uid(), group_gid())
    installed.chmod(0o2775)
    ran = box.run("root", "uvshare", "run", "--no-project", "-p", "3.12", "python", "-c", PRINT_BASE)
    assert "does not use the curated Pythons" in ran.stderr and "share repair" in ran.stderr, str(ran)
    assert ran.stdout.strip() != str(installed), str(ran)
    doctor = box.run("root", "uvshare", "share", "doctor")
    assert doctor.returncode == 1 and str(installed) in doctor.stdout, str(doctor)
    box.ok("root", "uvshare", "share", "repair")
    assert open_to_others(box.shared, (0, installer_uid())) == []
    box.ok("root", "uvshare", "share", "doctor")


def test_share_kind_switches_a_shared_tree_and_back(box1: Sandbox) -> None:
    """`share kind curated` turns a shared tree that members installed into the install-user's alone (saying what
    changes), members then cannot change it and still use it; `share kind shared` gives it back to the group."""
    box = box1
    box.ok("root", *box.init_args("--force"))
    box.ok("alice", "uvshare", "python", "install", "3.12")  # a member's install: hers, group-writable
    installed = python_dir(box, "3.12")
    assert installed.stat().st_uid == box.users["alice"].uid

    dry = box.ok("root", "uvshare", "share", "kind", "curated", "--dry-run")
    assert "no longer install into the tree" in dry.stdout and "nothing was written" in dry.stdout, str(dry)
    assert not kind_line(box)
    switched = box.ok("root", "uvshare", "share", "kind", "curated")
    assert "no longer install into the tree" in switched.stdout, str(switched)
    assert kind_line(box) == ['kind = "curated"']
    assert open_to_others(box.shared, (0, installer_uid())) == [], str(switched)
    attempt = box.run("alice", "sh", "-c", f"echo x >> {installed}/lib/python3.12/sitecustomize.py")
    assert attempt.returncode != 0 and "Permission denied" in attempt.stderr, str(attempt)
    ran = box.ok("bob", "uvshare", "run", "--no-project", "-p", "3.12", "python", "-c", PRINT_BASE)
    assert ran.stdout.strip() == str(installed), str(ran)
    box.ok("root", "uvshare", "share", "doctor")

    back = box.ok("root", "uvshare", "share", "kind", "shared")
    assert "install into the tree again" in back.stdout, str(back)
    assert not kind_line(box)
    assert box.not_shared() == [], str(back)
    box.ok("bob", "uvshare", "python", "install", "3.11")
    box.ok("root", "uvshare", "share", "doctor")


def test_kind_key_checked_and_shown(box1: Sandbox) -> None:
    """A kind uvshare does not know is one error line naming the file and key; `share config` shows the kind and that
    a curated tree's dirs go to root's commands on it only."""
    box = box1
    box.write_config(kind="open")
    bad = box.run("alice", "uvshare", "python", "list")
    assert bad.returncode == 2 and f"{box.config}: key 'kind' must be \"shared\"" in bad.stderr, str(bad)
    assert "Traceback" not in bad.stderr
    box.write_config(kind="curated")
    shown = box.ok("root", "uvshare", "share", "config")
    assert '"curated"' in shown.stdout and "a curated tree; everyone else gets its Pythons" in shown.stdout, str(shown)
    box.write_config()
    shown = box.ok("root", "uvshare", "share", "config")
    assert '"shared"' in shown.stdout and "# default" in shown.stdout, str(shown)


def test_doctor_refuses_an_install_user_shared_with_a_shared_tree(box1: Sandbox) -> None:
    """A curated tree's install-user that also runs a shared tree's commands runs what members put there: doctor
    names the other config and the fix."""
    box = box1
    box.ok("root", *box.init_args("--curated", "--force"))
    trees = box.root / "trees"
    trees.mkdir(mode=0o755)
    other = trees / "other.toml"
    other.write_text(f'group = "{GROUP}"\ninstall-user = "{INSTALLER}"\npython-install-dir = "{box.root / "other"}"\n')
    other.chmod(0o644)
    doctor = box.run("root", "uvshare", "share", "doctor", env={"UVSHARE_TREES_DIR": str(trees)})
    assert doctor.returncode == 1, str(doctor)
    assert f"also runs root's commands on the shared tree of {other}" in doctor.stdout, str(doctor)
    other.write_text(other.read_text() + 'kind = "curated"\n')
    box.ok("root", "uvshare", "share", "doctor", env={"UVSHARE_TREES_DIR": str(trees)})


def test_repair_removes_a_stopped_uvs_leftovers_in_a_curated_tree(box1: Sandbox) -> None:
    """A stopped uv of root's (run as the install-user) left a temporary dir in the curated cache: `repair --leftovers`
    removes it under uv's lock (as the install-user, whose tree it is), and the rest of the repair still runs."""
    box = box1
    curated_tree(box)
    left = box.shared / "cache" / ".tmpK1LLed"
    (left / "sub").mkdir(parents=True)
    (left / "sub" / "f").write_text("")
    for path in (left, left / "sub", left / "sub" / "f"):
        os.chown(path, installer_uid(), -1)
    removed = box.ok("root", "uvshare", "share", "repair", "--leftovers", "--timeout", "5")
    assert "removed 3 entries a stopped uv left" in removed.stdout, str(removed)
    assert not left.exists()
