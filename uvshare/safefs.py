"""File operations that are safe for root inside directories that group members can write.

Every create uses O_EXCL and O_NOFOLLOW, every chown/chmod acts on a file descriptor, and a path is walked one
component at a time with O_NOFOLLOW: a symlink is followed only where nobody but root or the caller could have
planted it. These are the only primitives the every-call path and the admin commands use to change anything.
"""

from __future__ import annotations

import errno
import os
import stat

from uvshare.errors import UnsafePath

O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO planted in place of a file must not hang.
O_NODE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
MAX_HOPS = 256  # path components walked in one lookup, symlink targets included

GROUP_DIR_BITS = stat.S_ISGID | 0o070
GROUP_FILE_BITS = 0o060


class CannotCreate(OSError):
    """A missing directory or file that the caller may not create (no write access, read-only mount)."""


def new_dir_mode(umask: int) -> int:
    """Mode of a directory uvshare creates: setgid, group rwx, the rest from the umask (2775 under 0002)."""
    return GROUP_DIR_BITS | (0o777 & ~umask)


def new_file_mode(umask: int) -> int:
    """Mode of a lock file uvshare creates: group rw, the rest from the umask (0664 under 0002)."""
    return GROUP_FILE_BITS | (0o666 & ~umask)


def dir_problems(st: os.stat_result, gid: int) -> list[str]:
    """What keeps a directory from being shared by group GID: empty when it is right."""
    mode = st.st_mode
    problems = []
    if st.st_gid != gid:
        problems.append("not group-owned")
    if mode & 0o070 != 0o070:
        problems.append("not group-writable")
    if not mode & stat.S_ISGID:
        problems.append("no setgid bit")
    if mode & stat.S_ISVTX:
        problems.append("sticky (uv cannot replace other users' entries)")
    if mode & 0o002:
        problems.append("world-writable")
    return problems


def file_problems(st: os.stat_result, gid: int) -> list[str]:
    """What keeps a regular file from being shared by group GID: empty when it is right."""
    problems = []
    if st.st_gid != gid:
        problems.append("not group-owned")
    if st.st_mode & GROUP_FILE_BITS != GROUP_FILE_BITS:
        problems.append("not group-writable")
    if st.st_mode & 0o002:
        problems.append("world-writable")
    return problems


def fixed_dir_mode(mode: int) -> int:
    """MODE with setgid and group rwx added and sticky and world-write taken off."""
    return (stat.S_IMODE(mode) | GROUP_DIR_BITS) & ~(stat.S_ISVTX | 0o002)


def fixed_file_mode(mode: int) -> int:
    """MODE with group rw added (group x where the owner has x) and world-write taken off."""
    mode = stat.S_IMODE(mode) | GROUP_FILE_BITS
    if mode & 0o100:
        mode |= 0o010
    return mode & ~0o002


def set_group_mode(fd: int, st: os.stat_result, gid: int, mode: int) -> bool:
    """Give the open file FD the group GID and MODE; True when anything changed."""
    changed = st.st_gid != gid or stat.S_IMODE(st.st_mode) != mode
    if st.st_gid != gid:
        os.fchown(fd, -1, gid)  # before fchmod: chown clears the setgid bit
    if changed:
        os.fchmod(fd, mode)
    return changed


def _trusted_link(parent_fd: int, link: os.stat_result) -> bool:
    """Whether a symlink can only have been made by root or the caller, so that following it is safe."""
    owners = (0, os.geteuid())
    if link.st_uid not in owners:
        return False
    parent = os.fstat(parent_fd)
    if parent.st_uid in owners and not parent.st_mode & 0o022:
        return True
    # In a sticky dir nobody but its owner can rename or remove an entry (the way /tmp works).
    return bool(parent.st_mode & stat.S_ISVTX)


def _trusted_link_target(parent_fd: int, name: str, path: str) -> str:
    """The target of the symlink NAME met on the way to PATH; UnsafePath unless only root or we could make it."""
    st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    if not stat.S_ISLNK(st.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, f"{name} in the way of {path} is not a directory")
    if not _trusted_link(parent_fd, st):
        raise UnsafePath(
            f"{path}: '{name}' on the way is a symlink in a directory others can write, so uvshare will not "
            "follow it; replace it with a real directory or configure the real path"
        )
    return os.readlink(name, dir_fd=parent_fd)


def open_dir(  # noqa: PLR0912  # one walk, component by component: split up, the safety logic would scatter
    path: str, create_mode: int | None = None, gid: int | None = None, created: list[str] | None = None
) -> int:
    """Open the directory PATH without following any symlink others could have planted; return its fd.

    With CREATE_MODE, missing directories (the last and its parents) are made with that mode and group GID, and
    PATH is appended to CREATED when any was. Raises UnsafePath for an untrusted symlink, CannotCreate when a missing
    directory cannot be made.
    """
    parts = [p for p in path.split("/") if p not in ("", ".")]
    stack = [os.open("/", O_DIR)]
    hops = 0  # symlinks followed and directories made: bounded, so that a racing attacker cannot loop us forever
    try:
        while parts:
            name = parts.pop(0)
            if name == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                continue
            hops += 1
            if hops > MAX_HOPS:
                raise OSError(errno.ELOOP, f"too many symlinks or vanishing directories on the way to {path}")
            try:
                stack.append(os.open(name, O_DIR, dir_fd=stack[-1]))
                continue
            except FileNotFoundError:
                if create_mode is None:
                    raise
                if make_dir(stack[-1], name, create_mode, gid, path) and created is not None and path not in created:
                    created.append(path)
                parts.insert(0, name)
                continue
            except OSError as e:
                if e.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
            target = _trusted_link_target(stack[-1], name, path)
            if target.startswith("/"):
                while len(stack) > 1:
                    os.close(stack.pop())
            parts[0:0] = [p for p in target.split("/") if p not in ("", ".")]
        return stack.pop()
    finally:
        for fd in stack:
            os.close(fd)


def make_dir(parent_fd: int, name: str, mode: int, gid: int | None, shown: str) -> bool:
    """Make directory NAME in PARENT_FD with MODE and group GID; False when one appeared meanwhile (left alone)."""
    try:
        os.mkdir(name, 0o700, dir_fd=parent_fd)  # 0700 until it has its group and mode
    except FileExistsError:
        return False
    except OSError as e:
        raise CannotCreate(e.errno, f"cannot create {shown}: {e.strerror}") from None
    fd = os.open(name, O_DIR, dir_fd=parent_fd)
    try:
        st = os.fstat(fd)
        if st.st_uid == os.geteuid():  # still the one just made, not a swapped-in directory
            set_group_mode(fd, st, st.st_gid if gid is None else gid, mode)
    finally:
        os.close(fd)
    return True


def make_file(parent_fd: int, name: str, mode: int, gid: int) -> None:
    """Create the empty file NAME in PARENT_FD with MODE and group GID; fails if anything is already there."""
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=parent_fd)
    try:
        set_group_mode(fd, os.fstat(fd), gid, mode)
    finally:
        os.close(fd)


def open_node(parent_fd: int, name: str, expected: os.stat_result) -> int | None:
    """Open NAME without following a symlink; None when it is no longer the file EXPECTED (swapped meanwhile)."""
    try:
        fd = os.open(name, O_NODE, dir_fd=parent_fd)
    except OSError:
        return None
    st = os.fstat(fd)
    if (st.st_dev, st.st_ino) != (expected.st_dev, expected.st_ino):
        os.close(fd)
        return None
    return fd
