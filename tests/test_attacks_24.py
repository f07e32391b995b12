"""The attack review of issue 24's changes, as tests: each mounts a member's (or outsider's) attack for real and
fails on the code before its fix. See tests/test_attacks.py for the earlier review."""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.harness import Sandbox

OVERLAY = 'mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1,workdir=$2" /etc && shift 2 && exec "$@"'
DIR_VALUES = {"python_install_dir": "python", "python_bin_dir": "bin", "tool_dir": "tools", "cache_dir": "cache"}


def test_root_curated_install_ignores_a_members_uv_toml(box1: Sandbox) -> None:
    """A member's `uv.toml` in the team project dir (uv reads the nearest one upward from the current dir) names
    where Pythons come from. Root's `uv python install` on a curated tree runs as its install-user, which owns the
    tree members cannot write: from a dir below the project dir it would have installed the member's choice of
    Python into the curated tree that every member (and root's own uv) runs. Root is refused there, as root's
    other commands are; nothing lands in the tree."""
    box = box1
    project = box.root / "proj"
    box.ok("root", *box.init_args("--curated", "--force", "--project-dir", str(project)))
    work = project / "alice-work"
    box.ok("alice", "mkdir", work)
    pythons = work / "pythons.json"  # her copy: she could point each version at a build of her own making
    box.ok("alice", "cp", box.mirror, pythons)
    box.ok("alice", "sh", "-c", f"echo 'python-downloads-json-url = \"{pythons}\"' > {project / 'uv.toml'}")

    # (root names no downloads list of its own: uv's would be used, but for the member's file)
    env: dict[str, str] = {"UV_PYTHON_DOWNLOADS_JSON_URL": None}  # type: ignore[dict-item]  # (None: unset)
    done = box.run("root", "uvshare", "python", "install", "3.12", cwd=work, env=env)
    assert not list(Path(box.shared, "python").glob("cpython-3.12*")), f"a member chose a curated Python: {done}"
    assert done.returncode == 2 and "uvshare: error:" in done.stderr and str(project) in done.stderr, str(done)
    assert "Traceback" not in done.stderr, str(done)
    assert "as a member" not in done.stderr, f"members cannot change a curated tree: wrong advice: {done.stderr}"


def free_gid() -> int:
    """A gid no group has."""
    import grp

    gid = 0x7FFF0000 + os.getpid() % 0xFFFF
    while True:
        try:
            grp.getgrgid(gid)
        except KeyError:
            return gid
        gid += 1


def test_setup_makes_no_group_of_a_members_choosing(box1: Sandbox) -> None:
    """setup makes a config's missing group with the gid of the shared dirs when they are root's (a multi-stage
    image's final stage copies the tree, not /etc/group). A member who can write a dir above the config's dirs (a
    project's own /proj/a) links the tree's place to a root dir of any gid no group has (an unpacked archive's): root
    must not make the group with that gid, which the member chose. (Run with /etc overlaid in a mount namespace of its
    own, so that the code before the fix wrote no real group.)"""
    box = box1
    orphan = box.root / "unpacked"  # a root dir of the machine, of a gid no group has
    (orphan / "python").mkdir(parents=True)
    gid = free_gid()
    os.chown(orphan / "python", 0, gid)
    above = box.root / "proja"  # a dir a member can write, above where the config puts the tree
    above.mkdir()
    os.chown(above, box.users["alice"].uid, box.users["alice"].gid)
    name = f"rv{os.getpid()}"
    tree = above / "uv"
    box.write_config(group=name, **{k: str(tree / Path(v).name) for k, v in DIR_VALUES.items()})
    box.ok("alice", "ln", "-s", orphan, tree)

    etc = box.root / "etc-upper"
    work = box.root / "etc-work"
    etc.mkdir()
    work.mkdir()
    done = box.run(
        "root",
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        OVERLAY,
        "sh",
        etc,
        work,
        "uvshare",
        "share",
        "setup",
    )
    made = (etc / "group").read_text() if (etc / "group").exists() else ""
    assert f"{name}:" not in made, f"root made the group {name} with the gid {gid} a member chose: {done}"
    assert "Traceback" not in done.stderr, str(done)


def test_roots_uv_help_of_no_tree_runs_no_members_pager(box1: Sandbox) -> None:
    """`uv help` is no mere text: on a terminal uv pipes it to a pager it finds on PATH (`less`). On a machine of
    several trees, root's `uv help` is for no tree; with a shared bin dir on root's PATH (a module loaded, an image's
    ENV), a member's `less` there ran as root. Root's uv gets no shared dir on PATH, for help too."""
    from tests.test_many_trees import prefix, two_trees

    box = box1
    _, env = two_trees(box)
    bin_dir = prefix(box, "proja") / "bin"
    ran = box.root / "pager-ran"
    pager = f"#!/bin/sh\nid -u > {ran}\ncat > /dev/null\n"
    box.ok("alice", "sh", "-c", f"printf '%s' '{pager}' > {bin_dir}/less && chmod 0755 {bin_dir}/less")
    roots = box.root / "roots-bin"  # root's own pager, found after the shared dir (a real less would wait for keys)
    roots.mkdir()
    (roots / "less").write_text("#!/bin/sh\ncat > /dev/null\n")
    (roots / "less").chmod(0o755)
    env = {**env, "PATH": f"{bin_dir}:{roots}:{box.env(box.users['root'])['PATH']}"}
    done = box.run(
        "root", "script", "-qec", "uvshare help python", "/dev/null", env=env, timeout=60
    )  # (a terminal: uv pages)
    assert not ran.exists(), f"root ran a member's pager ({ran.read_text().strip()}): {done}"
    assert done.returncode == 0, str(done)
