"""The story uvshare exists for: an image built as root, then used by group members — with plain uv it breaks."""

from __future__ import annotations

import os
import stat

from tests.support.harness import GROUP, Sandbox, group_gid, snapshot


def test_plain_uv_fails_for_the_second_user(box: Sandbox) -> None:
    """Reproduction: a setgid group dir, root installs with umask 022, then a member's installs fail."""
    box.shared.mkdir(parents=True)
    os.chown(box.shared, -1, group_gid())
    box.shared.chmod(0o2775)
    env = box.plain_uv_env()
    box.ok("root", "uv", "python", "install", "3.10", env=env, umask=0o022)

    new_version = box.run("alice", "uv", "python", "install", "3.11", env=env, umask=0o002)
    assert new_version.returncode != 0, str(new_version)
    assert "Permission denied" in new_version.stderr, str(new_version)
    reinstall = box.run("alice", "uv", "python", "install", "3.10", env=env, umask=0o002)
    assert reinstall.returncode != 0, str(reinstall)


def test_story_root_builds_members_use(box: Sandbox) -> None:
    """The story through uvshare: root installs 3.10, a member installs 3.11 and re-installs 3.10 writing nothing."""
    python_dir = box.shared / "python"
    box.ok("root", "uvshare", "python", "install", "3.10", umask=0o022)
    assert (python_dir / ".temp").is_dir()

    box.ok("alice", "uvshare", "python", "install", "3.11", umask=0o022)
    found = box.ok("alice", "uvshare", "python", "find", "3.11").stdout.strip()
    assert found.startswith(str(python_dir)), found

    before = snapshot(box.shared)
    again = box.ok("alice", "uvshare", "python", "install", "3.10", umask=0o022)
    assert "uvshare: Python 3.10." in again.stderr and "is already installed at" in again.stderr, str(again)
    assert snapshot(box.shared) == before, "re-installing an installed version wrote to the shared tree"

    # the member's interpreter works for another member
    box.ok("bob", found, "-c", "import ssl, sqlite3")


def test_everything_root_creates_is_group_owned_and_group_writable(box: Sandbox) -> None:
    """Root's first call creates the shared tree; all of it (and what uv writes) is the group's."""
    box.ok("root", "uvshare", "python", "install", "3.12", umask=0o022)
    gid = group_gid()
    for key in ("python", "bin", "python-cache", "tools", "tool-bin", "cache"):
        st = (box.shared / key).stat()
        assert st.st_gid == gid, key
        # the cache is closed to outsiders: they could hold uv's lock files in it and block members
        want = 0o2770 if key == "cache" else 0o2775
        assert stat.S_IMODE(st.st_mode) == want, (key, oct(st.st_mode))
    for lock in ("python/.lock", "tools/.lock", "cache/.lock"):
        st = (box.shared / lock).lstat()
        assert stat.S_ISREG(st.st_mode) and st.st_gid == gid and st.st_mode & 0o060 == 0o060, (lock, oct(st.st_mode))
    bad = []
    for dirpath, dirnames, filenames in os.walk(box.shared / "python"):
        for name in (*dirnames, *filenames):
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                continue
            if st.st_gid != gid or not st.st_mode & 0o020:
                bad.append(f"{path} {st.st_gid} {oct(st.st_mode)}")
    assert not bad, f"{len(bad)} entries not group-owned/writable, e.g. {bad[:5]} (group {GROUP})"
