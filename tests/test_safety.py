"""Root's every-call path inside a tree group members can write: planted links are never followed."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tests.support.harness import Sandbox, fingerprint, group_gid


@pytest.fixture
def secret(box1: Sandbox) -> Path:
    """A root-only file and dir outside the shared tree, as an attacker's target."""
    target = box1.root / "private"
    target.mkdir(mode=0o700)
    (target / "secret").write_text("root only\n")
    (target / "secret").chmod(0o600)
    return target


@pytest.fixture
def prepared(box1: Sandbox) -> Sandbox:
    box1.ok("root", "uvshare", "share", "setup")
    return box1


@pytest.mark.parametrize("name", [".lock", ".temp"])
def test_planted_symlink_is_not_followed(prepared: Sandbox, secret: Path, name: str) -> None:
    box = prepared
    planted = box.shared / "python" / name
    target = secret / "secret" if name == ".lock" else secret
    box.ok("alice", "sh", "-c", f'rm -rf "{planted}" && ln -s "{target}" "{planted}"')
    before = fingerprint(target)
    result = box.run("root", "uvshare", "cache", "dir")
    assert result.returncode == 0, str(result)
    assert fingerprint(target) == before
    assert f"removed {planted}: it was a symlink to {target}" in result.stderr
    st = planted.lstat()
    assert not stat.S_ISLNK(st.st_mode) and st.st_gid == group_gid()


def test_planted_hard_link_is_not_changed(prepared: Sandbox, secret: Path, no_protected_hardlinks: None) -> None:
    box = prepared
    victim = box.root / "victim"  # a root-only file the member cannot read, in a dir they can reach
    victim.write_text("root only\n")
    victim.chmod(0o600)
    lock = box.shared / "python" / ".lock"
    box.ok("alice", "sh", "-c", f'rm -f "{lock}" && ln "{victim}" "{lock}"')
    assert lock.stat().st_nlink == 2
    before = fingerprint(victim)
    box.ok("root", "uvshare", "cache", "dir")
    assert fingerprint(victim) == before
    assert lock.stat().st_ino != victim.stat().st_ino


def test_symlinked_shared_dir_is_refused_for_root(prepared: Sandbox, secret: Path) -> None:
    """A member swaps the configured dir for a link to a root-only dir: root's uvshare stops, changes nothing."""
    box = prepared
    tools = box.shared / "tools"
    box.member_writable_prefix()  # an older tree, or a group's project dir
    box.ok("alice", "sh", "-c", f'mv "{tools}" "{tools}.old" && ln -s "{secret}" "{tools}"')
    before = fingerprint(secret)
    result = box.run("root", "uvshare", "cache", "dir")
    assert result.returncode == 2, str(result)
    assert result.stderr.startswith(f"uvshare: error: {tools}: ") and "symlink" in result.stderr
    assert fingerprint(secret) == before
