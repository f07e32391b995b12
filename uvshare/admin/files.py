"""Files the `share` commands write for the admin — the config, the login profiles — whole or not at all; and how
they read and remove them the same way."""

from __future__ import annotations

import contextlib
import os
import stat
import sys

from uvshare.errors import UvshareError
from uvshare.safefs import CannotCreate, DirSpec, kind_of, open_dir, root_may_trust

MAX_TEXT = 1 << 20  # a profile or a shell's startup file is a few lines; anything bigger is not one


def open_target_dir(path: str) -> tuple[int, str]:
    """The open dir PATH is to be written in (made, 0755, where missing) and PATH's name in it.

    Reached without following a symlink others could have planted; as root, only a dir nobody but root can write in
    (a member-writable dir could swap what root writes, or hand it to them).
    """
    directory, _, name = path.rpartition("/")
    if not name or name in (".", ".."):
        raise UvshareError(f"{path} names a directory; give the file's path")
    directory = directory or "/"
    directory = directory if directory.startswith("/") else os.path.join(os.getcwd(), directory)
    check_target(path)  # before making anything: root makes dirs only in a dir nobody but root can write
    try:
        fd = open_dir(directory, DirSpec(0o755, None, None))
    except CannotCreate as e:
        raise UvshareError(f"cannot create {directory}: {e.strerror}") from None
    except OSError as e:
        raise UvshareError(f"cannot write in {directory}: {e.strerror}") from None
    return trusted_dir(fd, path, directory), name


def trusted_dir(fd: int, path: str, directory: str) -> int:
    """FD (the open DIRECTORY, where PATH is to be written or removed), once, as root, nobody but root could have
    made it what it is; closed, and UvshareError, otherwise."""
    if os.geteuid() == 0:
        try:
            refuse_untrusted(path, directory)
        except UvshareError:
            os.close(fd)
            raise
    return fd


def refuse_untrusted(path: str, directory: str) -> None:
    """UvshareError unless nobody but root can write in DIRECTORY, where root is to write PATH (or dirs towards it)."""
    reason = root_may_trust(directory, directory=True)
    if reason is not None:
        raise UvshareError(
            f"root will not write {path}: {reason}; choose a dir only root can write (what root writes there is "
            "what root later reads or runs)"
        )


def check_target(path: str) -> None:
    """UvshareError now, before anything is written, when PATH could not be written later (see open_target_dir):
    as root, the nearest dir of it that exists must be one nobody but root can write."""
    directory, _, name = path.rpartition("/")
    if not name or name in (".", ".."):
        raise UvshareError(f"{path} names a directory; give the file's path")
    existing = directory if directory.startswith("/") else os.path.join(os.getcwd(), directory or ".")
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    if os.geteuid() == 0:
        refuse_untrusted(path, existing)
    elif not os.access(existing, os.W_OK | os.X_OK):
        from uvshare.errors import invoked_as

        raise UvshareError(
            f"cannot write {path}: {existing} is not yours to write in; run it as root ('sudo {invoked_as()} "
            f"{' '.join(sys.argv[1:])}'), or name a file in a dir of yours"
        )


def write_atomically(path: str, text: str, mode: int = 0o644) -> bool:
    """Write TEXT to PATH through a new temporary file and a rename in the same (safely opened) dir: never
    half-written, never through a link at PATH (the rename replaces the name). False when PATH already holds exactly
    TEXT with MODE (nothing is written)."""
    dir_fd, name = open_target_dir(path)
    try:
        if same_content(dir_fd, name, text, mode):
            return False
        tmp = f".{name}.uvshare-{os.getpid()}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
        except OSError as e:
            raise UvshareError(f"cannot write in {os.path.dirname(path) or '.'}: {e.strerror}") from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as f:  # as read_regular read it
                f.write(text)
                f.flush()
                os.fchmod(f.fileno(), mode)  # whatever the umask
                os.fsync(f.fileno())
            os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except OSError as e:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise UvshareError(f"cannot write {path}: {e.strerror}") from None
        return True
    finally:
        os.close(dir_fd)


def read_head(dir_fd: int, name: str, size: int) -> bytes | None:
    """The first SIZE bytes of NAME in DIR_FD if it is a regular file (a link is not followed, a FIFO not waited on)."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        return os.read(fd, size)
    finally:
        os.close(fd)


def same_content(dir_fd: int, name: str, text: str, mode: int) -> bool:
    """Whether NAME in DIR_FD is a regular file with MODE holding exactly TEXT."""
    data = text.encode("utf-8", "surrogateescape")
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return False
    if not stat.S_ISREG(st.st_mode) or stat.S_IMODE(st.st_mode) != mode:
        return False
    return read_head(dir_fd, name, len(data) + 1) == data


def open_existing_dir(path: str) -> tuple[int, str] | None:
    """Like open_target_dir, for reading and removing: the open dir PATH is in and PATH's name, None when the dir is
    missing (nothing is made)."""
    directory, _, name = os.path.abspath(path).rpartition("/")
    directory = directory or "/"
    try:
        fd = open_dir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        raise UvshareError(f"cannot read {directory}: {e.strerror}") from None
    return trusted_dir(fd, path, directory), name


def read_regular(path: str) -> tuple[str, int] | None:
    """The text and mode of the regular file PATH (never through a symlink at PATH), None when there is none."""
    opened = open_existing_dir(path)
    if opened is None:
        return None
    dir_fd, name = opened
    try:
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        if not stat.S_ISREG(st.st_mode):
            raise UvshareError(
                f"{path} is {kind_of(st)}, not a regular file; uvshare changes only a regular file there"
            )
        data = read_head(dir_fd, name, MAX_TEXT + 1)
        if data is None or len(data) > MAX_TEXT:
            raise UvshareError(f"cannot read {path}: not a regular file of at most {MAX_TEXT} bytes")
        return data.decode("utf-8", "surrogateescape"), stat.S_IMODE(st.st_mode)
    finally:
        os.close(dir_fd)


def remove_own_file(path: str, mark: str) -> bool | None:
    """Remove PATH if it is a regular file whose text starts with MARK (one that uvshare wrote): True when removed,
    False when there is none, None when something else is there (left alone)."""
    opened = open_existing_dir(path)
    if opened is None:
        return False
    dir_fd, name = opened
    try:
        head = read_head(dir_fd, name, len(mark.encode()))
        if head is None:
            return None if os.path.lexists(path) else False
        if head != mark.encode():
            return None
        try:
            os.unlink(name, dir_fd=dir_fd)
        except FileNotFoundError:
            return False
        except OSError as e:
            raise UvshareError(f"cannot remove {path}: {e.strerror}") from None
        return True
    finally:
        os.close(dir_fd)
