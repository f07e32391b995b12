"""uv's own locks: take one the way uv does (flock on the dir's `.lock`), and say who holds it."""

from __future__ import annotations

import fcntl
import os
import stat
import time
from collections.abc import Callable

from uvshare.errors import UvshareError, admin
from uvshare.safefs import O_NODE

CMDLINE_MAX = 60  # characters of a holder's command line shown


def command_of(pid: str) -> str:
    """`uv run jupyter lab` for PID (its command line, shortened), or its name, or `?`."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            words = [os.path.basename(w) if i == 0 else w for i, w in enumerate(f.read().split(b"\0")) if w]
        line = b" ".join(words).decode("utf-8", "surrogateescape")
    except OSError:
        line = ""
    if not line:
        try:
            with open(f"/proc/{pid}/comm") as f:
                line = f.read().strip()
        except OSError:
            return "?"
    return line if len(line) <= CMDLINE_MAX else line[: CMDLINE_MAX - 1] + "…"


def holders(st: os.stat_result) -> list[str]:
    """`pid 1234 (uv run …)` for each process holding a flock on the file ST describes, from /proc/locks."""
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
            found.append(f"pid {fields[4]} ({command_of(fields[4])})")
    return list(dict.fromkeys(found))


class LockBusy(UvshareError):
    """uv's lock LOCK_PATH was still held by WHO after waiting SECONDS."""

    def __init__(self, lock_path: str, who: str, seconds: float) -> None:
        self.lock_path, self.who, self.seconds = lock_path, who, seconds
        super().__init__(self.reason())

    def reason(self) -> str:
        """`uv's lock /opt/uv/tools/.lock is held by pid 1234 (uv tool install ruff) (waited 60 s)`."""
        waited = f" (waited {self.seconds:g} s)" if self.seconds else ""
        return f"uv's lock {self.lock_path} is held by {self.who}{waited}"


def take_lock(
    dir_fd: int, path: str, timeout: float, *, shared: bool = False, waiting: Callable[[str], None] | None = None
) -> int:
    """Hold uv's lock on the dir DIR_FD (its `.lock`); return the lock's fd (closing it releases it).

    SHARED takes it the way every uv command takes the cache's (so ordinary commands go on); otherwise exclusively,
    as uv's installs do. When it is held, WAITING gets one line naming the holders; after TIMEOUT seconds (at once
    for 0), LockBusy naming them.
    """
    lock_path = f"{path}/.lock"
    try:
        fd = os.open(".lock", O_NODE, dir_fd=dir_fd)
    except OSError as e:
        raise UvshareError(f"cannot open {lock_path}: {e.strerror}; run '{admin('setup')}' first") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise UvshareError(f"{lock_path} is not a regular file; remove it and run '{admin('setup')}'")
    deadline = time.monotonic() + timeout
    said = False
    while True:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            who = ", ".join(holders(st)) or "unknown processes"
            if time.monotonic() >= deadline:
                os.close(fd)
                raise LockBusy(lock_path, who, timeout) from None
            if not said and waiting is not None:
                waiting(f"waiting up to {timeout:g} s for uv's lock {lock_path}, held by {who}")
                said = True
            time.sleep(0.1)
