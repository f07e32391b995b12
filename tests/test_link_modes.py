"""Members' venvs at the filesystem's best safe speed: reflinks where root's probe proved them, copies elsewhere, never
the cache's own inodes; and a member's own venv is not the group's to change, whatever her primary group.

Real users, the real uv, and loop filesystems (ext4, XFS with reflinks, btrfs) the tests make and unmount themselves.
Speed is measured by benchmarks/bench.py, not here.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import stat
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.harness import Sandbox, group_gid
from tests.support.wheels import make_wheel

MKFS = {
    "ext4": ["mkfs.ext4", "-q", "-F"],
    "xfs": ["mkfs.xfs", "-q", "-f", "-m", "reflink=1"],  # xfsprogs
    "btrfs": ["mkfs.btrfs", "-q", "-f"],  # btrfs-progs
}
REFLINKS = {"ext4": False, "xfs": True, "btrfs": True}  # whether a venv's files share the cache's extents
# what members get: btrfs reflinks, but not a member's No_COW file, and uv's clone would hard-link that one
MODES = {"ext4": "copy", "xfs": "clone", "btrfs": "copy"}
FS_IOC_FIEMAP, FIEMAP_FLAG_SYNC, FIEMAP_EXTENT_SHARED = 0xC020660B, 0x1, 0x2000  # linux/fs.h, linux/fiemap.h
BLOB = "bigthing_data/blob.bin"


@contextlib.contextmanager
def loop_fs(kind: str, where: Path) -> Iterator[Path]:
    """A fresh filesystem of KIND on a sparse loop file in WHERE, mounted at WHERE/KIND; unmounted and gone after."""
    image, mount = where / f"{kind}.img", where / kind
    with open(image, "wb") as f:
        f.truncate(400 << 20)  # XFS wants 300 MB at least
    subprocess.run([*MKFS[kind], str(image)], check=True, capture_output=True)
    mount.mkdir()
    subprocess.run(["mount", "-o", "loop", str(image), str(mount)], check=True)
    try:
        mount.chmod(0o755)
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], check=False)
        image.unlink()


def shares_extents(path: Path) -> bool:
    """Whether PATH's first extent is shared with another file (FIEMAP: a reflink)."""
    request = bytearray(struct.pack("=QQIIII", 0, 2**64 - 1, FIEMAP_FLAG_SYNC, 0, 1, 0) + bytes(56))
    with open(path, "rb") as f:
        fcntl.ioctl(f, FS_IOC_FIEMAP, request)
    mapped, flags = struct.unpack_from("=I", request, 20)[0], struct.unpack_from("=I", request, 72)[0]
    return mapped > 0 and bool(flags & FIEMAP_EXTENT_SHARED)


def inodes(tree: Path) -> dict[tuple[int, int], str]:
    """Every regular file below TREE by (st_dev, st_ino)."""
    found = {}
    for top, _, names in os.walk(tree):
        for name in names:
            st = os.lstat(os.path.join(top, name))
            if stat.S_ISREG(st.st_mode):
                found[st.st_dev, st.st_ino] = os.path.join(top, name)
    return found


def big_wheels(box: Sandbox) -> Path:
    """A wheels dir every user can read, with `bigthing`: a module and a 1 MiB data file."""
    wheels = box.root / "wheels"
    make_wheel(wheels, "bigthing", "1.0", extra={BLOB: os.urandom(1 << 20)})
    wheels.chmod(0o755)
    return wheels


@pytest.mark.parametrize("kind", ["xfs", "btrfs", "ext4"])
def test_members_venv_is_reflinked_where_reflinks_work_and_never_shares_the_caches_inodes(
    box: Sandbox, kind: str
) -> None:
    if not shutil.which(MKFS[kind][0]):
        package = "btrfs-progs" if kind == "btrfs" else "xfsprogs"
        pytest.skip(f"{MKFS[kind][0]} is not installed (apt install {package})")
    with loop_fs(kind, box.root) as mount:
        cache = mount / "cache"
        box.write_config(cache_dir=str(cache))
        setup = box.ok("root", "uvshare", "share", "setup")
        mode = MODES[kind]
        assert f"link mode for members: {mode}" in setup.stdout, setup
        shown = box.ok("alice", "uvshare", "share", "config").stdout
        assert f"UV_LINK_MODE={mode}  # root's probe" in shown, shown
        assert "✓ link mode: members get " + mode in box.run("alice", "uvshare", "share", "doctor").stdout

        project = mount / "alice"
        project.mkdir()
        os.chown(project, box.users["alice"].uid, box.users["alice"].gid)
        venv = box.venv_with("alice", big_wheels(box), "bigthing", venv=project / "venv")

        mine, cached = inodes(venv), inodes(cache)
        assert mine.keys().isdisjoint(cached.keys()), f"shared with the cache: {mine.keys() & cached.keys()}"
        (blob,) = venv.glob(f"lib/python3*/site-packages/{BLOB}")
        (source,) = cache.glob(f"archive-v0/*/{BLOB}")
        assert shares_extents(blob) == REFLINKS[kind]  # reflinked where they work; a copy of its own on ext4
        before = blob.read_bytes()
        with open(source, "r+b") as f:  # an in-place write to the cache's file (every member may: group-writable)
            f.write(b"X" * 4096)
            f.flush()
            os.fsync(f.fileno())
        assert blob.read_bytes() == before


def test_a_record_only_root_could_write_counts(tmp_path: Path) -> None:
    from uvshare.config import LINK_STATE_SUFFIX, load, members_link_mode

    cache = tmp_path / "cache"
    cache.mkdir()
    config_file = tmp_path / "config.toml"
    config_file.write_text(f'cache-dir = "{cache}"\n')
    config = load({"UVSHARE_CONFIG": str(config_file)})
    assert config is not None
    assert members_link_mode(config)[0] == "copy"  # nothing recorded: copies
    record = Path(f"{config_file}{LINK_STATE_SUFFIX}")
    record.write_text(f"clone {os.stat(cache).st_dev} {cache}\n")
    record.chmod(0o644)
    assert members_link_mode(config)[0] == "clone"
    record.chmod(0o664)  # others could have written it
    assert members_link_mode(config) == ("copy", f"{record} is not root's alone: ignored")
    record.chmod(0o644)
    os.chown(record, 12345, 12345)  # a member's planted "reflinks work"
    assert members_link_mode(config)[0] == "copy"
    os.chown(record, 0, 0)
    record.write_text(f"clone {os.stat(cache).st_dev + 1} {cache}\n")  # probed on another filesystem
    assert members_link_mode(config)[0] == "copy"
    record.write_text(f"copy - {cache}\n")  # what root records where reflinks fail
    assert members_link_mode(config)[0] == "copy"
    record.write_text(f"clone {os.stat(cache).st_dev} {cache}\n")
    config_file.write_text(f'cache-dir = "{cache}"\nlink-mode = "copy"\n')  # the config's key wins
    config = load({"UVSHARE_CONFIG": str(config_file)})
    assert config is not None
    assert members_link_mode(config)[0] == "copy"


@pytest.mark.parametrize("link_mode", ["copy", None])
def test_a_member_whose_primary_group_is_the_shared_group_keeps_her_venv_to_herself(
    box: Sandbox, link_mode: str | None
) -> None:
    """erin's primary group is the shared group and her home can be entered by all; bob, a member, cannot change a
    file of her venv in place (uv's copies keep the cache's group-write bits)."""
    erin = box.users["erin"]
    assert erin.gid == group_gid()
    box.write_config(link_mode=link_mode)
    box.ok("root", "uvshare", "share", "setup")
    home = box.home(erin)
    home.chmod(0o755)  # others may enter it
    venv = box.venv_with("erin", big_wheels(box), "bigthing", venv=home / "proj" / ".venv", umask=0o022)
    (module,) = venv.glob("lib/python3*/site-packages/bigthing.py")
    before = module.read_bytes()
    attack = box.run("bob", "sh", "-c", 'printf "raise SystemExit(66)\\n" >> "$1"', "sh", module)
    assert attack.returncode != 0, f"bob changed erin's venv: {attack}"
    assert "Permission denied" in attack.stderr
    assert module.read_bytes() == before
    assert box.ok("erin", venv / "bin" / "python", "-c", "import bigthing").returncode == 0
