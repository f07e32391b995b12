"""uv's own locks: take one the way uv does (flock on the dir's `.lock`), and say who holds it."""

from __future__ import annotations

import fcntl
import os
import stat
import time

from uvshare import prepare
from uvshare.errors import UvshareError


def holders(st: os.stat_result) -> list[str]:
    """`pid 1234 (uv)` for each process holding a flock on the file ST describes, from /proc/locks."""
    found: list[str] = []
    dev = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        with open("/proc/locks") as f:
            lines = f.read().splitlines()
    except OSError:
        return found
    for line in lines:
        fields = line.split()
        if "->" in fields:  # a waiter, not a holder
            continue
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == dev:
            pid = fields[4]
            try:
                with open(f"/proc/{pid}/comm") as f:
                    name = f.read().strip()
            except OSError:
                name = "?"
            found.append(f"pid {pid} ({name})")
    return found


def lock_exclusive(dir_fd: int, path: str, timeout: float) -> int:
    """Hold uv's lock on the dir DIR_FD (its `.lock`) exclusively; return the lock's fd (closing it releases it).

    Waits up to TIMEOUT seconds; then UvshareError naming the processes that hold it.
    """
    lock_path = f"{path}/.lock"
    try:
        fd = os.open(".lock", prepare.O_NODE, dir_fd=dir_fd)
    except OSError as e:
        raise UvshareError(f"cannot open {lock_path}: {e.strerror}; run 'uvshare share setup' first") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise UvshareError(f"{lock_path} is not a regular file; remove it and run 'uvshare share setup'")
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                who = ", ".join(holders(st)) or "unknown processes"
                os.close(fd)
                raise UvshareError(
                    f"timed out after {timeout:g} s waiting for uv's lock {lock_path}, held by {who}; let them "
                    "finish (or stop them) and run it again, or give a longer --timeout"
                ) from None
            time.sleep(0.1)
