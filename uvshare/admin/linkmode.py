"""Which link mode members get: root's probe of the cache's filesystem (does a reflink work there?), recorded once.

A reflink is tried, not guessed from the filesystem's name: XFS without `reflink=1`, or a layer that refuses FICLONE,
say no. btrfs says yes, but not for every file: a member may mark theirs No_COW, and uv's clone then hard-links it;
there members copy (which the kernel still reflinks where it can, through copy_file_range). The probe makes two
unnamed files (O_TMPFILE) in the cache: nothing with a name appears in a dir members can write, and both are gone
when closed. The answer goes where only root writes (see uvshare.config.recorded_link_mode), so that the every-call
path reads a few bytes instead of probing.
"""

from __future__ import annotations

import errno
import fcntl
import os

from uvshare.admin.files import write_atomically
from uvshare.config import Config, link_state_path, members_link_mode

FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)
PROBE_BYTES = 64 << 10  # a few filesystem blocks: the clone is of whole blocks, as uv's are
BTRFS_SUPER_MAGIC = 0x9123683E  # linux/magic.h
STATFS_BYTES = 120  # struct statfs on 64-bit Linux (f_type first)


def filesystem_type(directory: str) -> int | None:
    """The magic number of the filesystem DIRECTORY is on (statfs' f_type), or None where it cannot be had."""
    import ctypes

    buf = ctypes.create_string_buffer(STATFS_BYTES)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.statfs(os.fsencode(directory), buf) != 0:
            return None
    except (OSError, AttributeError):
        return None
    return ctypes.c_long.from_buffer(buf).value & 0xFFFFFFFF


def reflinks_work(directory: str) -> tuple[bool, str]:
    """Whether a reflink (FICLONE) between two files in DIRECTORY works, and what the kernel said — and whether it
    always will, whatever members do: on btrfs a member may mark a dir or file of theirs No_COW (`chattr +C`), which
    makes a reflink of it fail, and uv's clone then falls back to a hard link to their file, silently."""
    if filesystem_type(directory) == BTRFS_SUPER_MAGIC:
        return False, (
            f"{directory} is on btrfs, where a member's No_COW file (chattr +C) cannot be reflinked and uv's clone "
            "would hard-link it"
        )
    try:
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        return False, f"cannot open {directory}: {e.strerror}"
    fds: list[int] = []
    try:
        for _ in range(2):
            fds.append(os.open(".", os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600, dir_fd=dir_fd))
        os.write(fds[0], os.urandom(PROBE_BYTES))
        fcntl.ioctl(fds[1], FICLONE, fds[0])
    except OSError as e:
        name = errno.errorcode.get(e.errno or 0, str(e.errno))
        return False, f"a reflink in {directory} fails: {e.strerror} ({name})"
    finally:
        for fd in (*fds, dir_fd):
            os.close(fd)
    return True, f"a reflink in {directory} works"


def record(config: Config) -> str | None:
    """(Root) Probe the cache's filesystem and record the answer beside the config file that names the cache; the line
    saying what members get now; None when nothing changed, or without a cache-dir."""
    path, cache = link_state_path(config), config.dirs.get("cache-dir")
    if path is None or cache is None or os.geteuid() != 0:
        return None
    works, said = reflinks_work(cache)
    try:
        dev = os.stat(cache).st_dev
    except OSError:
        return None
    # A "no" holds whatever the filesystem's device number (an image's layers each have their own): no st_dev, so
    # that setup run again in the next layer finds nothing to change. A "yes" counts only on the filesystem probed.
    if not write_atomically(path, f"clone {dev} {cache}\n" if works else f"copy - {cache}\n", 0o644):
        return None  # recorded before: nothing changed (`share config` and `share doctor` say it)
    mode, why = members_link_mode(config)
    return f"link mode for members: {mode} ({said}; {why})"
